/*
 * peers.c - trusted instances' signatures (see peers.h): the signing
 * profile's checks and the replay memory. The keys come from the peers'
 * discovery documents, cached in util/discovery.
 */
#include "auth/peers.h"

#include "util/err.h"
#include "util/time.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Remembered signatures (replay memory): open addressing over this many
 * slots, each freed when its signature leaves the window. Requests
 * between instances are a few per second; this holds an hour's worth at
 * the window's length, and when it is full requests are refused rather
 * than a replay let through. */
#define SP_PEERS_SEEN_SLOTS 16384
#define SP_PEERS_SEEN_PROBE 64

typedef struct seen {
    uint64_t hash;
    int64_t until_s; /* 0: free */
} seen;

struct sp_peers {
    sp_discovery *discovery;
    pthread_mutex_t seen_lock;
    seen *seen;
    atomic_ullong verified, refused;
};

int sp_peers_create(sp_discovery *discovery, sp_peers **out)
{
    sp_peers *p = calloc(1, sizeof *p);
    seen *s = calloc(SP_PEERS_SEEN_SLOTS, sizeof *s);
    if (!p || !s) {
        free(p);
        free(s);
        return SP_ERR_NOMEM;
    }
    p->discovery = discovery;
    p->seen = s;
    pthread_mutex_init(&p->seen_lock, NULL);
    *out = p;
    return 0;
}

void sp_peers_destroy(sp_peers *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->seen_lock);
    free(p->seen);
    free(p);
}

void sp_peers_counts(sp_peers *p, unsigned long long *verified, unsigned long long *refused,
                     unsigned long long *fetches)
{
    *verified = atomic_load(&p->verified);
    *refused = atomic_load(&p->refused);
    unsigned long long failures = 0;
    sp_discovery_counts(p->discovery, fetches, &failures);
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

/* The policy checks that need no key: the signing profile of OCM
 * (peers.h). */
static int check_policy(const sp_peers_req *r, const sp_httpsig_parsed *s, const char **why)
{
    int64_t now = sp_time_now_ms() / 1000;
    int target = sp_httpsig_covers(s, "@target-uri");
    if (!sp_httpsig_covers(s, "@method") ||
        (!target && (!sp_httpsig_covers(s, "@authority") || !sp_httpsig_covers(s, "@path")))) {
        *why = "the signature must cover @method, and @target-uri or @authority and @path";
        return SP_ERR_UNAUTHORIZED;
    }
    if (r->msg.query && !target && !sp_httpsig_covers(s, "@query")) {
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

/* Verifies s with the key it names, from instance index's published
 * keys (util/discovery.h: cached, fetched again on an unknown keyid). */
static int verify_with_key(sp_peers *p, size_t index, const sp_peers_req *r,
                           const sp_httpsig_parsed *s, const char **why)
{
    sp_httpsig_key *k = NULL;
    int rc = sp_discovery_key(p->discovery, index, s->keyid, &k);
    if (rc == SP_ERR_NOT_FOUND) {
        *why = "the keyid is not among the keys the instance publishes";
        rc = SP_ERR_UNAUTHORIZED;
    } else if (rc < 0) {
        *why = "the instance's keys cannot be fetched";
    } else if (sp_httpsig_verify(s, &r->msg, k, why) < 0) {
        rc = SP_ERR_UNAUTHORIZED;
    }
    sp_httpsig_key_free(k);
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
    if (sp_httpsig_parse_tagged(r->sig_input, r->signature, SP_HTTPSIG_TAG_OCM, s, why) < 0)
        goto done;
    if (sp_discovery_keyid_instance(p->discovery, s->keyid, index) < 0) {
        *why = "the keyid names no trusted instance";
        goto done;
    }
    if ((rc = check_policy(r, s, why)) < 0)
        goto done;
    if ((rc = verify_with_key(p, *index, r, s, why)) < 0)
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
