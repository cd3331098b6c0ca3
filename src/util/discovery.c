/*
 * discovery.c - the cache of trusted instances' OCM discovery documents
 * (see discovery.h).
 *
 * Each trusted instance has its own lock over its cached document, never
 * held across a fetch, and a second lock held by the one thread fetching
 * it. A burst of requests that need a document not cached costs one fetch
 * (they wait for it); while a cached document is fetched again, the others
 * are answered from the cache at once, so a slow or unreachable instance,
 * or a stream of requests naming made-up keyids, cannot hold every HTTP
 * worker in a wait. A fetch
 * that fails is not repeated for SP_DISCOVERY_REFETCH_MIN_MS: a peer that
 * is down, or a stream of requests naming made-up keyids, cannot make us
 * fetch more often than that. A document that expired and cannot be
 * fetched again is still used (a peer briefly down keeps its endPoint and
 * keys); one that the peer now says is unusable is dropped.
 */
#include "util/discovery.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/fetch.h"
#include "util/instance.h"
#include "util/log.h"
#include "util/time.h"
#include "util/url.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Whole time one fetch may take: requests may wait on it. */
#define DISCOVERY_FETCH_TIMEOUT_MS 3000L
/* Largest document (or JWKS) read: ours is under 2 KiB with two keys. */
#define DISCOVERY_FETCH_MAX (64 * 1024)

typedef struct peer {
    pthread_mutex_t lock;       /* over the fields below; never held across a fetch */
    pthread_mutex_t fetch_lock; /* held by the thread fetching this document */
    int have;                   /* doc holds a usable document */
    int last_rc;                /* result of the last fetch */
    int64_t tried_ms;           /* last fetch attempt; 0: never */
    sp_peer_doc doc;
    sp_discovery_keys keys;
} peer;

struct sp_discovery {
    const char *const *instances;
    size_t count;
    peer *peers;
    atomic_ullong fetches, failures;
};

int sp_discovery_create(const char *const *instances, size_t count, sp_discovery **out)
{
    sp_discovery *d = calloc(1, sizeof *d);
    peer *p = calloc(count ? count : 1, sizeof *p);
    if (!d || !p) {
        free(d);
        free(p);
        return SP_ERR_NOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        pthread_mutex_init(&p[i].lock, NULL);
        pthread_mutex_init(&p[i].fetch_lock, NULL);
    }
    d->instances = instances;
    d->count = count;
    d->peers = p;
    *out = d;
    return 0;
}

void sp_discovery_keys_clear(sp_discovery_keys *keys)
{
    for (size_t i = 0; i < keys->count; i++)
        sp_httpsig_key_free(keys->keys[i]);
    keys->count = 0;
    keys->jwks_uri[0] = '\0';
}

void sp_discovery_destroy(sp_discovery *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->count; i++) {
        sp_discovery_keys_clear(&d->peers[i].keys);
        pthread_mutex_destroy(&d->peers[i].lock);
        pthread_mutex_destroy(&d->peers[i].fetch_lock);
    }
    free(d->peers);
    free(d);
}

void sp_discovery_counts(sp_discovery *d, unsigned long long *fetches, unsigned long long *failures)
{
    *fetches = atomic_load(&d->fetches);
    *failures = atomic_load(&d->failures);
}

/* ---- whose key ---- */

/* How well keyid names base: the length of base when keyid is
 * "<base>/..." or "<base>#...", or of its authority when keyid is
 * "<authority>#..." (draft-05); 0 when it does not. *by_authority tells
 * which. */
static size_t keyid_match(const char *base, const char *keyid, int *by_authority)
{
    size_t n = strlen(base);
    *by_authority = 0;
    if (strncmp(keyid, base, n) == 0 && (keyid[n] == '/' || keyid[n] == '#'))
        return n;
    char authority[SP_INSTANCE_AUTHORITY_MAX];
    if (sp_instance_authority(base, authority, sizeof authority) < 0)
        return 0;
    n = strlen(authority);
    if (strncasecmp(keyid, authority, n) == 0 && keyid[n] == '#') {
        *by_authority = 1;
        return n;
    }
    return 0;
}

static int keyid_names(const char *base, const char *keyid)
{
    int by_authority;
    return keyid && keyid_match(base, keyid, &by_authority) > 0;
}

int sp_discovery_keyid_instance(sp_discovery *d, const char *keyid, size_t *index)
{
    size_t best = 0, best_len = 0, by_authority_count = 0, by_authority_index = 0;
    for (size_t i = 0; i < d->count; i++) {
        int by_authority;
        size_t n = keyid_match(d->instances[i], keyid, &by_authority);
        if (n && by_authority) {
            by_authority_count++;
            by_authority_index = i;
        } else if (n > best_len) {
            best = i;
            best_len = n;
        }
    }
    if (best_len) {
        *index = best;
        return 0;
    }
    /* "host#key" names an instance only when one instance has that host. */
    if (by_authority_count == 1) {
        *index = by_authority_index;
        return 0;
    }
    return SP_ERR_NOT_FOUND;
}

/* ---- parsing ---- */

/* Adds key k (stolen) to keys unless its id is there already or keys is
 * full. */
static void keys_add(sp_discovery_keys *keys, sp_httpsig_key *k)
{
    for (size_t i = 0; i < keys->count; i++) {
        if (strcmp(sp_httpsig_key_id(keys->keys[i]), sp_httpsig_key_id(k)) == 0) {
            sp_httpsig_key_free(k);
            return;
        }
    }
    if (keys->count == SP_DISCOVERY_KEYS_MAX) {
        sp_httpsig_key_free(k);
        return;
    }
    keys->keys[keys->count++] = k;
}

/* Adds one {keyId, publicKeyPem} of base's document to keys, when its
 * keyId names base (an instance speaks only for its own keys). */
static void add_pem_key(sp_discovery_keys *keys, const char *base, json_t *k)
{
    const char *id = json_string_value(json_object_get(k, "keyId"));
    const char *pem = json_string_value(json_object_get(k, "publicKeyPem"));
    if (!id || !pem || !keyid_names(base, id))
        return;
    sp_httpsig_key *key = NULL;
    if (sp_httpsig_key_from_pem(pem, id, &key) == 0)
        keys_add(keys, key);
    else
        sp_warn("discovery", "%s publishes key %s that is not an ed25519 or RSA >= 2048 public key",
                base, id);
}

/* Non-zero when the array arr holds the string s (compared as
 * capabilities are: case-insensitively, a leading '/' ignored). */
static int has_name(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *name = json_string_value(v);
        if (name && name[0] == '/')
            name++;
        if (name && strcasecmp(name, s) == 0)
            return 1;
    }
    return 0;
}

/* Copies s into out (outlen) when it fits; non-zero on success. */
static int copy(char *out, size_t outlen, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (!s || n >= outlen)
        return 0;
    memcpy(out, s, n + 1);
    return 1;
}

/* Sets doc->endpoint and doc->origin from endPoint e of base's document.
 * A document speaks for its own instance only: an endPoint (or jwksUri)
 * off base's origin would make us send that instance's shares (with their
 * secrets), invitations and signed requests, or key fetches, wherever the
 * document says, loopback services of this machine included. */
static int read_endpoint(const char *base, const char *e, sp_peer_doc *doc)
{
    sp_url u;
    const char *why = NULL;
    char authority[SP_INSTANCE_AUTHORITY_MAX];
    if (!e || !sp_fetch_url_allowed(e) || !sp_fetch_same_origin(base, e) ||
        !copy(doc->endpoint, sizeof doc->endpoint, e) || sp_url_parse(e, &u, &why) < 0 ||
        u.query[0] || sp_instance_authority(e, authority, sizeof authority) < 0)
        return SP_ERR_INVALID;
    size_t n = strlen(doc->endpoint);
    while (n > 0 && doc->endpoint[n - 1] == '/')
        doc->endpoint[--n] = '\0';
    int w = snprintf(doc->origin, sizeof doc->origin, "%s://%s", u.scheme, authority);
    return w > 0 && (size_t)w < sizeof doc->origin ? 0 : SP_ERR_INVALID;
}

/* Reads resourceTypes: the webdav path (of "folder", else "file") and
 * whether a webdav-receive accepts relative uris. */
static void read_resource_types(json_t *types, sp_peer_doc *doc)
{
    size_t i;
    json_t *t;
    int from_folder = 0;
    json_array_foreach(types, i, t)
    {
        const char *name = json_string_value(json_object_get(t, "name"));
        json_t *protocols = json_object_get(t, "protocols");
        const char *webdav = json_string_value(json_object_get(protocols, "webdav"));
        int folder = name && strcmp(name, "folder") == 0;
        if (webdav && (folder || (!from_folder && name && strcmp(name, "file") == 0)) &&
            copy(doc->webdav, sizeof doc->webdav, webdav))
            from_folder = folder;
        json_t *receive = json_object_get(protocols, "webdav-receive");
        const char *uri = json_string_value(json_object_get(receive, "uri"));
        if (uri && strcmp(uri, "relative") == 0)
            doc->relative_uri = 1;
    }
}

/* OCM 1.0 and 1.1 servers take only {"name":"webdav","options":{...}}. */
static int legacy_version(const char *v)
{
    return v && (strncmp(v, "1.0", 3) == 0 || strncmp(v, "1.1", 3) == 0);
}

int sp_discovery_parse(const char *base, const char *text, size_t len, sp_peer_doc *doc,
                       sp_discovery_keys *keys)
{
    memset(doc, 0, sizeof *doc);
    json_t *root = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, NULL);
    int rc = SP_ERR_INVALID;
    if (!json_is_object(root))
        goto done;
    json_t *enabled = json_object_get(root, "enabled");
    if (enabled && !json_is_true(enabled))
        goto done;
    if (read_endpoint(base, json_string_value(json_object_get(root, "endPoint")), doc) < 0)
        goto done;
    const char *version = json_string_value(json_object_get(root, "apiVersion"));
    copy(doc->api_version, sizeof doc->api_version, version);
    doc->legacy = legacy_version(version) || json_object_get(root, "version") != NULL;
    read_resource_types(json_object_get(root, "resourceTypes"), doc);

    static const struct {
        const char *name;
        unsigned bit;
    } caps[] = {{"notifications", SP_PEER_CAP_NOTIFICATIONS},
                {"invites", SP_PEER_CAP_INVITES},
                {"http-sig", SP_PEER_CAP_HTTP_SIG},
                {"webdav-uri", SP_PEER_CAP_WEBDAV_URI},
                {"protocol-object", SP_PEER_CAP_PROTOCOL_OBJECT},
                {"exchange-token", SP_PEER_CAP_EXCHANGE_TOKEN}};
    json_t *capabilities = json_object_get(root, "capabilities");
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        if (has_name(capabilities, caps[i].name))
            doc->caps |= caps[i].bit;
    }
    if (doc->caps & SP_PEER_CAP_WEBDAV_URI)
        doc->relative_uri = 1;
    json_t *notes = json_object_get(root, "notificationTypes");
    if (has_name(notes, "RESOURCE_CHANGED"))
        doc->notes |= SP_PEER_NOTE_RESOURCE_CHANGED;
    if (has_name(notes, "SHARE_CHANGE_PERMISSION"))
        doc->notes |= SP_PEER_NOTE_SHARE_CHANGE_PERMISSION;
    json_t *criteria = json_object_get(root, "criteria");
    doc->requires_signatures =
        has_name(criteria, "http-request-signatures") || has_name(criteria, "must-use-http-sig");

    json_t *pk = json_object_get(root, "publicKey"), *pks = json_object_get(root, "publicKeys");
    const char *jwks = json_string_value(json_object_get(root, "jwksUri"));
    add_pem_key(keys, base, pk);
    size_t i;
    json_t *k;
    json_array_foreach(pks, i, k) add_pem_key(keys, base, k);
    if (jwks && sp_fetch_url_allowed(jwks) && sp_fetch_same_origin(base, jwks))
        copy(keys->jwks_uri, sizeof keys->jwks_uri, jwks);
    /* A lone publicKey is draft-cavage's key (released Nextcloud signs
     * with it, not with RFC 9421): its holder's requests carry no
     * signature this instance reads, so they are judged as unsigned ones
     * rather than refused. The key is still kept for a Spaceport of
     * version 018, which publishes publicKeys too. */
    doc->signs = (doc->caps & SP_PEER_CAP_HTTP_SIG) || json_array_size(pks) > 0 || jwks != NULL;
    doc->key_count = keys->count;
    rc = 0;
done:
    json_decref(root);
    return rc;
}

int sp_discovery_parse_jwks(const char *base, const char *text, size_t len, sp_discovery_keys *keys)
{
    json_t *root = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, NULL);
    json_t *list = json_object_get(root, "keys");
    if (!json_is_array(list)) {
        json_decref(root);
        return SP_ERR_INVALID;
    }
    size_t i;
    json_t *k;
    json_array_foreach(list, i, k)
    {
#define MEMBER(name) json_string_value(json_object_get(k, name))
        sp_httpsig_jwk j = {.kty = MEMBER("kty"),
                            .crv = MEMBER("crv"),
                            .x = MEMBER("x"),
                            .n = MEMBER("n"),
                            .e = MEMBER("e"),
                            .kid = MEMBER("kid"),
                            .alg = MEMBER("alg"),
                            .use = MEMBER("use")};
#undef MEMBER
        sp_httpsig_key *key = NULL;
        if (!keyid_names(base, j.kid))
            continue;
        if (sp_httpsig_key_from_jwk(&j, NULL, &key) == 0)
            keys_add(keys, key);
        else
            sp_warn("discovery", "%s publishes key %s of a kind we cannot verify with (%s)", base,
                    j.kid, j.kty ? j.kty : "no kty");
    }
    json_decref(root);
    return 0;
}

/* ---- fetching ---- */

/* GETs url into answer; 0 only for a 200. */
static int get(sp_discovery *d, const char *url, sp_buf *answer, const char **why)
{
    long status = 0;
    sp_fetch_req fr = {.timeout_ms = DISCOVERY_FETCH_TIMEOUT_MS,
                       .max_body = DISCOVERY_FETCH_MAX,
                       .redirects_max = 0};
    atomic_fetch_add(&d->fetches, 1);
    sp_buf_reset(answer);
    int rc = sp_fetch(url, &fr, &status, answer, why);
    if (rc == 0 && status != 200) {
        *why = "not answered with 200";
        rc = SP_ERR_UNAVAILABLE;
    }
    if (rc < 0)
        atomic_fetch_add(&d->failures, 1);
    return rc;
}

/* Fetches instance i's document (and its JWKS when it names no PEM keys
 * but says it signs) into pe. Called with pe->fetch_lock held and
 * pe->lock not: takes pe->lock only to write the result. */
static int fetch(sp_discovery *d, size_t i, peer *pe)
{
    const char *base = d->instances[i];
    static const char *const paths[] = {"/.well-known/ocm", "/ocm-provider"};
    sp_buf url = {0}, answer = {0};
    sp_peer_doc *doc = malloc(sizeof *doc);
    sp_discovery_keys keys = {0};
    const char *why = NULL;
    int rc = doc ? SP_ERR_UNAVAILABLE : SP_ERR_NOMEM;
    for (size_t p = 0; doc && p < 2 && rc < 0 && rc != SP_ERR_NOMEM; p++) {
        sp_buf_reset(&url);
        if (sp_buf_printf(&url, "%s%s", base, paths[p]) < 0) {
            rc = SP_ERR_NOMEM;
            break;
        }
        rc = get(d, url.data, &answer, &why);
        if (rc == 0) {
            sp_discovery_keys_clear(&keys);
            rc = sp_discovery_parse(base, answer.data, answer.len, doc, &keys);
            if (rc == SP_ERR_INVALID)
                why = "the document is not usable (not enabled, or no allowed endPoint)";
        }
    }
    if (rc == 0 && keys.count == 0 && (keys.jwks_uri[0] || (doc->caps & SP_PEER_CAP_HTTP_SIG))) {
        sp_buf_reset(&url);
        const char *jwks_why = NULL;
        if (keys.jwks_uri[0])
            sp_buf_puts(&url, keys.jwks_uri);
        else
            sp_buf_printf(&url, "%s/.well-known/jwks.json", doc->origin);
        if (!url.data || get(d, url.data, &answer, &jwks_why) < 0 ||
            sp_discovery_parse_jwks(base, answer.data, answer.len, &keys) < 0)
            sp_warn("discovery", "cannot read the keys of %s at %s: %s", base,
                    url.data ? url.data : "?", jwks_why ? jwks_why : "not a JWKS");
        doc->key_count = keys.count;
    }
    pthread_mutex_lock(&pe->lock);
    pe->tried_ms = sp_time_now_ms();
    pe->last_rc = rc;
    if (rc == 0) {
        doc->fetched_ms = pe->tried_ms;
        pe->doc = *doc;
        pe->have = 1;
        sp_discovery_keys_clear(&pe->keys);
        pe->keys = keys;
        sp_debug("discovery", "%s: endPoint %s, apiVersion %s, %zu key(s)", base, doc->endpoint,
                 doc->api_version, doc->key_count);
    } else {
        sp_discovery_keys_clear(&keys);
        /* A peer that now says its document is unusable is no longer
         * used; one that is only unreachable keeps its last document. */
        if (rc == SP_ERR_INVALID)
            pe->have = 0;
    }
    pthread_mutex_unlock(&pe->lock);
    if (rc < 0) {
        sp_warn("discovery", "cannot read the OCM discovery document of %s: %s", base,
                why ? why : sp_err_str(rc));
    }
    free(doc);
    sp_buf_free(&url);
    sp_buf_free(&answer);
    return rc;
}

/* Makes pe's document current as sp_discovery_get describes (force:
 * fetch whenever the rate limit allows). Called with pe->lock held, which
 * it releases while a fetch runs. When another thread is fetching, a
 * cached document is used as it is; only a thread with nothing cached
 * waits for that fetch. Returns 0 when pe->doc is usable. */
static int ensure(sp_discovery *d, size_t i, peer *pe, int refresh, int force)
{
    int64_t now = sp_time_now_ms();
    int may = pe->tried_ms == 0 || now - pe->tried_ms >= SP_DISCOVERY_REFETCH_MIN_MS;
    int stale = !pe->have || now - pe->doc.fetched_ms >= SP_DISCOVERY_TTL_MS;
    /* pe->lock is never held while waiting for fetch_lock (only tried):
     * the fetching thread takes pe->lock to write its result. */
    if (may && (stale || refresh || force)) {
        if (pthread_mutex_trylock(&pe->fetch_lock) == 0) {
            pthread_mutex_unlock(&pe->lock);
            fetch(d, i, pe);
            pthread_mutex_unlock(&pe->fetch_lock);
            pthread_mutex_lock(&pe->lock);
        } else if (!pe->have) {
            pthread_mutex_unlock(&pe->lock);
            pthread_mutex_lock(&pe->fetch_lock);
            pthread_mutex_unlock(&pe->fetch_lock);
            pthread_mutex_lock(&pe->lock);
        }
    }
    if (pe->have)
        return 0;
    return pe->last_rc == SP_ERR_INVALID ? SP_ERR_INVALID
           : pe->last_rc == SP_ERR_NOMEM ? SP_ERR_NOMEM
                                         : SP_ERR_UNAVAILABLE;
}

int sp_discovery_get(sp_discovery *d, size_t index, int refresh, sp_peer_doc *out)
{
    if (index >= d->count)
        return SP_ERR_NOT_FOUND;
    peer *pe = &d->peers[index];
    pthread_mutex_lock(&pe->lock);
    int rc = ensure(d, index, pe, refresh, 0);
    if (rc == 0)
        *out = pe->doc;
    pthread_mutex_unlock(&pe->lock);
    return rc;
}

/* The key keyid among pe's (lock held), or NULL. */
static const sp_httpsig_key *find_key(const peer *pe, const char *keyid)
{
    for (size_t i = 0; i < pe->keys.count; i++) {
        if (strcmp(sp_httpsig_key_id(pe->keys.keys[i]), keyid) == 0)
            return pe->keys.keys[i];
    }
    return NULL;
}

int sp_discovery_key(sp_discovery *d, size_t index, const char *keyid, sp_httpsig_key **out)
{
    *out = NULL;
    if (index >= d->count)
        return SP_ERR_NOT_FOUND;
    peer *pe = &d->peers[index];
    pthread_mutex_lock(&pe->lock);
    int64_t before = pe->tried_ms;
    int rc = ensure(d, index, pe, 0, 0);
    const sp_httpsig_key *k = rc == 0 ? find_key(pe, keyid) : NULL;
    /* An unknown keyid: the peer may have rotated its key since we
     * fetched (unless we just did). */
    if (!k && pe->tried_ms == before) {
        rc = ensure(d, index, pe, 0, 1);
        k = rc == 0 ? find_key(pe, keyid) : NULL;
    }
    if (k)
        rc = sp_httpsig_key_dup(k, out);
    else if (rc == 0 || rc == SP_ERR_INVALID)
        rc = SP_ERR_NOT_FOUND;
    pthread_mutex_unlock(&pe->lock);
    return rc;
}
