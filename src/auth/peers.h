/*
 * peers.h - authenticating requests from trusted instances
 * (SPACEPORT_TRUSTED_INSTANCES) by their RFC 9421 signatures.
 *
 * A signed request names its key by keyid; ours, and those of every
 * Spaceport, are "<instance base URL>/ocm#<fingerprint>", as the OCM draft
 * writes key ids: the URL says which trusted instance claims to have
 * signed, the fingerprint which of its keys. The instance's public keys
 * are read from its OCM discovery document (<base>/.well-known/ocm:
 * "publicKey" {keyId, publicKeyPem}, and "publicKeys", a list that also
 * holds a key being retired), fetched through util/fetch, cached for a
 * while and fetched again, at most every few seconds, when a keyid is
 * unknown (the peer rotated its key).
 *
 * A request passes only when its signature covers the method, the
 * authority (ours, from SPACEPORT_PUBLIC_URL: a signature meant for
 * another instance does not pass here), the path, the query when there
 * is one (the API refuses a signed request that has a query: it cannot
 * rebuild @query) and the body's Content-Digest when there is a body;
 * was created within the last five minutes (a minute of clock skew ahead); has not
 * expired; and has not been seen before (each accepted signature is
 * remembered for the window, so a captured request cannot be replayed).
 */
#ifndef SP_AUTH_PEERS_H
#define SP_AUTH_PEERS_H

#include "config.h"
#include "util/httpsig.h"

#include <stddef.h>

typedef struct sp_peers sp_peers;

/* How old a signature may be, in seconds, and how far ahead of our clock. */
#define SP_PEERS_WINDOW_S 300
#define SP_PEERS_SKEW_S   60

/* Creates the verifier for cfg's trusted instances (cfg borrowed, must
 * outlive it). Returns 0 and *out (new), or SP_ERR_NOMEM. */
int sp_peers_create(const sp_config *cfg, sp_peers **out);
void sp_peers_destroy(sp_peers *p);

/* A request to authenticate (all borrowed). */
typedef struct sp_peers_req {
    sp_httpsig_msg msg;         /* authority: ours; field: the request's headers */
    const char *sig_input;      /* Signature-Input header, NULL when absent */
    const char *signature;      /* Signature header, NULL when absent */
    const char *content_digest; /* Content-Digest header, NULL when absent */
    const void *body;
    size_t body_len;
} sp_peers_req;

/*
 * Checks that r was signed by a trusted instance, as described above.
 * May fetch that instance's keys (blocking, bounded by a short timeout).
 * Returns 0 and the instance's index in cfg->trusted_instances;
 * SP_ERR_UNAUTHORIZED with *why (static) set when the request is not
 * signed or not validly; SP_ERR_UNAVAILABLE when the instance's keys
 * cannot be fetched; SP_ERR_NOMEM.
 */
int sp_peers_verify(sp_peers *p, const sp_peers_req *r, size_t *index, const char **why);

/* For tests and /metrics: verified requests, refused ones, key fetches. */
void sp_peers_counts(sp_peers *p, unsigned long long *verified, unsigned long long *refused,
                     unsigned long long *fetches);

#endif
