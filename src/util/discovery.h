/*
 * discovery.h - the trusted instances' OCM discovery documents, read and
 * cached in one place.
 *
 * Everything Spaceport says to or believes of another instance over Open
 * Cloud Mesh depends on what that instance's discovery document
 * (<base>/.well-known/ocm, or the older <base>/ocm-provider) announces:
 * where its OCM API is (endPoint, which is often not <base>/ocm: Nextcloud
 * serves it under /index.php/ocm), which body forms it takes (OCM 1.0
 * servers only {"name":"webdav","options":{...}}), which notifications it
 * understands, whether it signs its requests and with which public keys.
 * The outbound queue (events/federation.c), the signature verifier
 * (auth/peers.c) and the inbound handlers ask this cache, so a peer is
 * fetched once an hour, not once per request, and all of them see the
 * same document.
 *
 * Only trusted instances (SPACEPORT_TRUSTED_INSTANCES) have documents
 * here: a document is never fetched for a host a request merely names.
 */
#ifndef SP_UTIL_DISCOVERY_H
#define SP_UTIL_DISCOVERY_H

#include "util/httpsig.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sp_discovery sp_discovery;

#define SP_DISCOVERY_TTL_MS         (60LL * 60 * 1000) /* documents are fetched again after an hour */
#define SP_DISCOVERY_REFETCH_MIN_MS 5000               /* ... or on demand, at most this often */
#define SP_DISCOVERY_URL_MAX        2100

enum {
    SP_PEER_CAP_NOTIFICATIONS = 1,
    SP_PEER_CAP_INVITES = 2,
    SP_PEER_CAP_HTTP_SIG = 4,
    SP_PEER_CAP_WEBDAV_URI = 8,
    SP_PEER_CAP_PROTOCOL_OBJECT = 16,
    SP_PEER_CAP_EXCHANGE_TOKEN = 32
};
enum { SP_PEER_NOTE_RESOURCE_CHANGED = 1, SP_PEER_NOTE_SHARE_CHANGE_PERMISSION = 2 };

/* What a peer's discovery document says, as the rest of Spaceport uses it. */
typedef struct sp_peer_doc {
    int64_t fetched_ms;
    char api_version[32];
    char endpoint[SP_DISCOVERY_URL_MAX]; /* endPoint, absolute, no trailing '/' */
    char origin[SP_DISCOVERY_URL_MAX];   /* scheme://authority of endPoint */
    char webdav[1024]; /* protocols.webdav of resource type "folder" (else "file"); "" when none */
    unsigned
        caps; /* SP_PEER_CAP_* (capabilities compared case-insensitively, a leading '/' ignored) */
    unsigned notes;          /* SP_PEER_NOTE_* from "notificationTypes" */
    int requires_signatures; /* criteria "http-request-signatures" or "must-use-http-sig" */
    int relative_uri; /* takes a relative webdav uri: "webdav-uri" capability or webdav-receive.uri
                         == "relative" */
    int legacy; /* OCM 1.0/1.1 server (apiVersion "1.0-proposal1", "1.0*", "1.1*", or a "version"
                   member as Nextcloud sends): takes only protocol {"name":"webdav","options":{...}}
                 */
    int signs;  /* signs with RFC 9421: HTTP_SIG capability, publicKeys or jwksUri (a
                   lone publicKey is draft-cavage's, which is not read here) */
    size_t key_count;
} sp_peer_doc;

/* instances: the trusted base URLs (borrowed, outlive d). Returns 0 and
 * *out (new), or SP_ERR_NOMEM. */
int sp_discovery_create(const char *const *instances, size_t count, sp_discovery **out);
void sp_discovery_destroy(sp_discovery *d);

/*
 * Copies trusted instance index's document into *out, fetching
 * <base>/.well-known/ocm (then <base>/ocm-provider) when not cached, older
 * than the TTL, or when refresh is set and the last fetch is older than
 * REFETCH_MIN. Blocking, bounded (3 s, 64 KiB, no redirects; util/fetch
 * rules). One fetch at a time per instance. Returns 0; SP_ERR_UNAVAILABLE
 * (cannot fetch and nothing cached); SP_ERR_INVALID (document unusable:
 * not enabled, no endPoint, endPoint not on an allowed URL or not on
 * the instance's own origin);
 * SP_ERR_NOT_FOUND (index out of range).
 */
int sp_discovery_get(sp_discovery *d, size_t index, int refresh, sp_peer_doc *out);

/*
 * A new copy of the key keyid of instance index (keys from publicKeys[],
 * publicKey, and the JWKS at jwksUri or <origin>/.well-known/jwks.json
 * when the document names no PEM keys but announces http-sig). An unknown
 * keyid fetches the document again (rate-limited by REFETCH_MIN). Only
 * keys whose id names the instance (sp_discovery_keyid_instance) are
 * kept. Returns 0, SP_ERR_NOT_FOUND, SP_ERR_UNAVAILABLE, SP_ERR_NOMEM.
 */
int sp_discovery_key(sp_discovery *d, size_t index, const char *keyid, sp_httpsig_key **out);

/*
 * The trusted instance a keyid names: "<base URL>/...#..." or
 * "<base URL>#..." (ours and OCM 1.2's "https://host/ocm#key"), the
 * longest base when one lies under another; or "<authority>#..." (the
 * draft-05 form "host#key") when exactly one trusted instance has that
 * authority. Returns 0 and *index, or SP_ERR_NOT_FOUND.
 */
int sp_discovery_keyid_instance(sp_discovery *d, const char *keyid, size_t *index);

/* ---- parsing, for the cache and for tests ---- */

/* Keys kept per instance: the current one and a few being retired. */
#define SP_DISCOVERY_KEYS_MAX 4

/* The keys a document publishes, or where it says they are. */
typedef struct sp_discovery_keys {
    sp_httpsig_key *keys[SP_DISCOVERY_KEYS_MAX]; /* owned */
    size_t count;
    char jwks_uri[SP_DISCOVERY_URL_MAX]; /* jwksUri, "" when none (or not an allowed URL) */
} sp_discovery_keys;

/*
 * Parses the discovery document text (len bytes) of the instance at base
 * into *doc (fetched_ms left 0) and its PEM keys (publicKeys[],
 * publicKey: those whose keyId names base) into *keys, which the caller
 * clears. Returns 0, or SP_ERR_INVALID (not a JSON object, not enabled,
 * no absolute endPoint on an allowed URL), or SP_ERR_NOMEM.
 */
int sp_discovery_parse(const char *base, const char *text, size_t len, sp_peer_doc *doc,
                       sp_discovery_keys *keys);

/* Adds the keys of a JWKS (RFC 7517 {"keys":[...]}) whose kid names
 * base to *keys (up to SP_DISCOVERY_KEYS_MAX); others, and key types we
 * cannot verify with, are skipped. Returns 0, or SP_ERR_INVALID (not a
 * JWKS). */
int sp_discovery_parse_jwks(const char *base, const char *text, size_t len,
                            sp_discovery_keys *keys);

void sp_discovery_keys_clear(sp_discovery_keys *keys);

/* For /metrics and tests: document fetches made, and those that failed. */
void sp_discovery_counts(sp_discovery *d, unsigned long long *fetches,
                         unsigned long long *failures);

#endif
