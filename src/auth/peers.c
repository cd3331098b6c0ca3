/*
 * peers.c - trusted instances' signatures (see peers.h): their key cache
 * and the replay memory.
 *
 * Each trusted instance has its own lock, held while its keys are fetched,
 * so that a burst of requests from an instance whose keys are not cached
 * costs one fetch, and a slow instance delays only its own requests.
 */
#include "auth/peers.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/fetch.h"
#include "util/log.h"
#include "util/time.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Keys kept per instance: the current one and a few being retired. */
#define SP_PEERS_KEYS_MAX 4
/* How long fetched keys are trusted before they are fetched again: a key
 * the peer retired stops being accepted within this. */
#define SP_PEERS_KEYS_TTL_MS (60LL * 60 * 1000)
/* Least time between two fetches of one instance's keys: an unknown keyid
 * (a rotation) fetches again, but a stream of made-up keyids cannot make
 * us fetch more often than this. */
#define SP_PEERS_REFETCH_MIN_MS 5000
/* Whole time one fetch of a discovery document may take: a request waits
 * on it. */
#define SP_PEERS_FETCH_TIMEOUT_MS 3000L
/* Largest discovery document read. */
#define SP_PEERS_FETCH_MAX (64 * 1024)
/* Remembered signatures (replay memory): open addressing over this many
 * slots, each freed when its signature leaves the window. Requests
 * between instances are a few per second; this holds an hour's worth at
 * the window's length, and when it is full requests are refused rather
 * than a replay let through. */
#define SP_PEERS_SEEN_SLOTS 16384
#define SP_PEERS_SEEN_PROBE 64

typedef struct peer {
    pthread_mutex_t lock;
    sp_httpsig_key *keys[SP_PEERS_KEYS_MAX];
    size_t count;
    int64_t fetched_ms; /* 0: never */
} peer;

typedef struct seen {
    uint64_t hash;
    int64_t until_s; /* 0: free */
} seen;

struct sp_peers {
    const sp_config *cfg;
    peer peers[SP_CONFIG_LIST_MAX];
    pthread_mutex_t seen_lock;
    seen *seen;
    atomic_ullong verified, refused, fetches;
};

int sp_peers_create(const sp_config *cfg, sp_peers **out)
{
    sp_peers *p = calloc(1, sizeof *p);
    seen *s = calloc(SP_PEERS_SEEN_SLOTS, sizeof *s);
    if (!p || !s) {
        free(p);
        free(s);
        return SP_ERR_NOMEM;
    }
    p->cfg = cfg;
    p->seen = s;
    pthread_mutex_init(&p->seen_lock, NULL);
    for (size_t i = 0; i < SP_CONFIG_LIST_MAX; i++)
        pthread_mutex_init(&p->peers[i].lock, NULL);
    *out = p;
    return 0;
}

static void peer_clear(peer *pe)
{
    for (size_t i = 0; i < pe->count; i++)
        sp_httpsig_key_free(pe->keys[i]);
    pe->count = 0;
}

void sp_peers_destroy(sp_peers *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < SP_CONFIG_LIST_MAX; i++) {
        peer_clear(&p->peers[i]);
        pthread_mutex_destroy(&p->peers[i].lock);
    }
    pthread_mutex_destroy(&p->seen_lock);
    free(p->seen);
    free(p);
}

void sp_peers_counts(sp_peers *p, unsigned long long *verified, unsigned long long *refused,
                     unsigned long long *fetches)
{
    *verified = atomic_load(&p->verified);
    *refused = atomic_load(&p->refused);
    *fetches = atomic_load(&p->fetches);
}

/* The trusted instance whose base URL, followed by '/', begins keyid
 * (the longest, should one base lie under another). */
static int instance_of(const sp_config *cfg, const char *keyid, size_t *index)
{
    size_t best = 0;
    int found = 0;
    for (size_t i = 0; i < cfg->trusted_instances.count; i++) {
        const char *base = cfg->trusted_instances.items[i];
        size_t n = strlen(base);
        if (strncmp(keyid, base, n) == 0 && keyid[n] == '/' &&
            (!found || n > strlen(cfg->trusted_instances.items[best]))) {
            best = i;
            found = 1;
        }
    }
    *index = best;
    return found ? 0 : SP_ERR_NOT_FOUND;
}

/* Adds one {keyId, publicKeyPem} of base's discovery to pe, when its keyId
 * lies under base (an instance speaks only for its own keys). */
static void add_key(peer *pe, const char *base, json_t *k)
{
    const char *id = json_string_value(json_object_get(k, "keyId"));
    const char *pem = json_string_value(json_object_get(k, "publicKeyPem"));
    size_t n = strlen(base);
    if (!id || !pem || strncmp(id, base, n) != 0 || id[n] != '/' || pe->count == SP_PEERS_KEYS_MAX)
        return;
    for (size_t i = 0; i < pe->count; i++) {
        if (strcmp(sp_httpsig_key_id(pe->keys[i]), id) == 0)
            return;
    }
    sp_httpsig_key *key = NULL;
    if (sp_httpsig_key_from_pem(pem, id, &key) == 0)
        pe->keys[pe->count++] = key;
    else
        sp_warn("peers", "%s publishes key %s that is not an ed25519 or RSA >= 2048 public key",
                base, id);
}

/* Fetches base's discovery document and replaces pe's keys with what it
 * publishes. Called with pe->lock held. */
static int fetch_keys(sp_peers *p, peer *pe, const char *base)
{
    sp_buf url = {0}, answer = {0};
    long status = 0;
    const char *why = NULL;
    int rc = sp_buf_printf(&url, "%s/.well-known/ocm", base);
    if (rc == 0) {
        sp_fetch_req fr = {.timeout_ms = SP_PEERS_FETCH_TIMEOUT_MS,
                           .max_body = SP_PEERS_FETCH_MAX,
                           .redirects_max = 0};
        rc = sp_fetch(url.data, &fr, &status, &answer, &why);
    }
    atomic_fetch_add(&p->fetches, 1);
    pe->fetched_ms = sp_time_now_ms();
    json_t *doc = NULL;
    if (rc == 0 && status == 200)
        doc = json_loadb(answer.data ? answer.data : "", answer.len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(doc)) {
        sp_warn("peers", "cannot read the keys of %s: %s", base,
                rc < 0 ? (why ? why : sp_err_str(rc)) : "no discovery document");
        json_decref(doc);
        sp_buf_free(&url);
        sp_buf_free(&answer);
        return SP_ERR_UNAVAILABLE;
    }
    peer_clear(pe);
    add_key(pe, base, json_object_get(doc, "publicKey"));
    json_t *keys = json_object_get(doc, "publicKeys");
    for (size_t i = 0; i < json_array_size(keys); i++)
        add_key(pe, base, json_array_get(keys, i));
    json_decref(doc);
    sp_buf_free(&url);
    sp_buf_free(&answer);
    return 0;
}

/* Finds keyid in pe (lock held). */
static const sp_httpsig_key *find_key(const peer *pe, const char *keyid)
{
    for (size_t i = 0; i < pe->count; i++) {
        if (strcmp(sp_httpsig_key_id(pe->keys[i]), keyid) == 0)
            return pe->keys[i];
    }
    return NULL;
}

/* Remembers the signature until until_s; SP_ERR_CONFLICT when it was seen
 * already, SP_ERR_FULL when there is no room. */
static int remember(sp_peers *p, const unsigned char *sig, size_t len, int64_t until_s)
{
    unsigned char md[32];
    if (!EVP_Digest(sig, len, md, NULL, EVP_sha256(), NULL))
        return SP_ERR_NOMEM;
    uint64_t h;
    memcpy(&h, md, sizeof h);
    int64_t now = sp_time_now_ms() / 1000;
    int rc = SP_ERR_FULL;
    pthread_mutex_lock(&p->seen_lock);
    seen *slot = NULL;
    for (size_t i = 0; i < SP_PEERS_SEEN_PROBE; i++) {
        seen *s = &p->seen[(h + i) % SP_PEERS_SEEN_SLOTS];
        int live = s->until_s > now;
        if (live && s->hash == h) {
            rc = SP_ERR_CONFLICT;
            slot = NULL;
            break;
        }
        if (!live && !slot)
            slot = s;
    }
    if (slot) {
        slot->hash = h;
        slot->until_s = until_s;
        rc = 0;
    }
    pthread_mutex_unlock(&p->seen_lock);
    return rc;
}

/* The policy checks that need no key. */
static int check_policy(const sp_peers_req *r, const sp_httpsig_parsed *s, const char **why)
{
    int64_t now = sp_time_now_ms() / 1000;
    if (!sp_httpsig_covers(s, "@method") || !sp_httpsig_covers(s, "@authority") ||
        !sp_httpsig_covers(s, "@path")) {
        *why = "the signature must cover @method, @authority and @path";
        return SP_ERR_UNAUTHORIZED;
    }
    if (r->msg.query && !sp_httpsig_covers(s, "@query")) {
        *why = "the signature must cover @query";
        return SP_ERR_UNAUTHORIZED;
    }
    if (r->body_len > 0 || r->content_digest) {
        if (!sp_httpsig_covers(s, "content-digest") || !r->content_digest) {
            *why = "a request with a body must sign its Content-Digest";
            return SP_ERR_UNAUTHORIZED;
        }
        if (sp_httpsig_digest_check(r->content_digest, r->body, r->body_len) < 0) {
            *why = "Content-Digest does not match the body";
            return SP_ERR_UNAUTHORIZED;
        }
    }
    if (s->created < 0 || s->created < now - SP_PEERS_WINDOW_S ||
        s->created > now + SP_PEERS_SKEW_S) {
        *why = "the signature's created time is missing or outside the accepted window";
        return SP_ERR_UNAUTHORIZED;
    }
    if (s->expires >= 0 && s->expires <= now) {
        *why = "the signature has expired";
        return SP_ERR_UNAUTHORIZED;
    }
    return 0;
}

/* Finds keyid of instance index, fetching its keys when they are not
 * cached, too old, or (not too often) when keyid is unknown. Verifies s
 * with it. */
static int verify_with_keys(sp_peers *p, size_t index, const sp_peers_req *r,
                            const sp_httpsig_parsed *s, const char **why)
{
    peer *pe = &p->peers[index];
    const char *base = p->cfg->trusted_instances.items[index];
    int rc = 0;
    pthread_mutex_lock(&pe->lock);
    int64_t now = sp_time_now_ms();
    const sp_httpsig_key *k =
        now - pe->fetched_ms < SP_PEERS_KEYS_TTL_MS ? find_key(pe, s->keyid) : NULL;
    if (!k && (pe->fetched_ms == 0 || now - pe->fetched_ms >= SP_PEERS_KEYS_TTL_MS ||
               now - pe->fetched_ms >= SP_PEERS_REFETCH_MIN_MS)) {
        rc = fetch_keys(p, pe, base);
        k = rc == 0 ? find_key(pe, s->keyid) : NULL;
    }
    if (rc == 0 && !k) {
        *why = "the keyid is not among the keys the instance publishes";
        rc = SP_ERR_UNAUTHORIZED;
    } else if (rc < 0) {
        *why = "the instance's keys cannot be fetched";
    } else if (sp_httpsig_verify(s, &r->msg, k, why) < 0) {
        rc = SP_ERR_UNAUTHORIZED;
    }
    pthread_mutex_unlock(&pe->lock);
    return rc;
}

int sp_peers_verify(sp_peers *p, const sp_peers_req *r, size_t *index, const char **why)
{
    sp_httpsig_parsed *s = malloc(sizeof *s);
    if (!s)
        return SP_ERR_NOMEM;
    int rc = SP_ERR_UNAUTHORIZED;
    if (!r->sig_input || !r->signature) {
        *why = "the request is not signed (Signature-Input and Signature)";
        goto done;
    }
    if (sp_httpsig_parse(r->sig_input, r->signature, s, why) < 0)
        goto done;
    if (instance_of(p->cfg, s->keyid, index) < 0) {
        *why = "the keyid names no trusted instance";
        goto done;
    }
    if ((rc = check_policy(r, s, why)) < 0)
        goto done;
    if ((rc = verify_with_keys(p, *index, r, s, why)) < 0)
        goto done;
    rc = remember(p, s->sig, s->sig_len, s->created + SP_PEERS_WINDOW_S + 1);
    if (rc == SP_ERR_CONFLICT || rc == SP_ERR_FULL) {
        *why = rc == SP_ERR_CONFLICT ? "the signature was used before (a replay)"
                                     : "too many signed requests to remember; try again";
        rc = SP_ERR_UNAUTHORIZED;
    }
done:
    atomic_fetch_add(rc == 0 ? &p->verified : &p->refused, 1);
    free(s);
    return rc;
}
