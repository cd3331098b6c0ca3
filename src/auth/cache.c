/*
 * cache.c - verified tokens by SHA-256, so that a repeated request costs a
 * hash and a lookup instead of an RSA verification.
 *
 * A set-associative table: the first bytes of the hash pick a set of
 * CACHE_WAYS entries; a new entry takes an empty or expired way, or else the
 * least recently used one. Size is fixed at creation, so a flood of distinct
 * tokens evicts but never grows memory, and no operation walks more than one
 * set. Sets are guarded by a stripe of mutexes, so workers rarely contend.
 * The table is allocated zeroed in one block; untouched pages cost nothing.
 */
#include "auth/internal.h"

#include "util/err.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Ways per set: 8 keeps eviction close to true LRU while a lookup compares
 * at most 8 hashes. */
#define CACHE_WAYS 8
/* Lock stripes: more than the worker threads (at most a few), so two
 * workers seldom wait on one lock; a power of two for a cheap modulo. */
#define CACHE_LOCKS 64

typedef struct cache_entry {
    uint8_t hash[SP_AUTH_HASH_LEN];
    int64_t expires_ms; /* 0: empty */
    uint64_t used;      /* tick of the last hit or insert, for LRU */
    int negative;       /* the token was refused (opaque tokens only) */
    sp_identity id;
} cache_entry;

struct sp_auth_cache {
    size_t sets;
    cache_entry *entries; /* sets * CACHE_WAYS */
    atomic_uint_fast64_t tick;
    pthread_mutex_t locks[CACHE_LOCKS];
};

int sp_auth__cache_create(size_t capacity, sp_auth_cache **out)
{
    *out = NULL;
    sp_auth_cache *c = calloc(1, sizeof *c);
    if (!c)
        return SP_ERR_NOMEM;
    c->sets = capacity / CACHE_WAYS ? capacity / CACHE_WAYS : 1;
    c->entries = calloc(c->sets * CACHE_WAYS, sizeof c->entries[0]);
    if (!c->entries) {
        free(c);
        return SP_ERR_NOMEM;
    }
    atomic_init(&c->tick, 1);
    for (size_t i = 0; i < CACHE_LOCKS; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    *out = c;
    return 0;
}

void sp_auth__cache_destroy(sp_auth_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < CACHE_LOCKS; i++)
        pthread_mutex_destroy(&c->locks[i]);
    /* Identities are personal data: do not leave them in freed memory. */
    memset(c->entries, 0, c->sets * CACHE_WAYS * sizeof c->entries[0]);
    free(c->entries);
    free(c);
}

void sp_auth__hash_token(const char *token, size_t len, uint8_t hash[SP_AUTH_HASH_LEN])
{
    SHA256((const unsigned char *)token, len, hash);
}

static size_t set_of(const sp_auth_cache *c, const uint8_t hash[SP_AUTH_HASH_LEN])
{
    uint64_t v;
    memcpy(&v, hash, sizeof v);
    return (size_t)(v % c->sets);
}

int sp_auth__cache_get(sp_auth_cache *c, const uint8_t hash[SP_AUTH_HASH_LEN], int64_t now_ms,
                       sp_identity *id)
{
    size_t set = set_of(c, hash);
    cache_entry *e = &c->entries[set * CACHE_WAYS];
    pthread_mutex_t *lock = &c->locks[set % CACHE_LOCKS];
    int found = 0;
    pthread_mutex_lock(lock);
    for (size_t w = 0; w < CACHE_WAYS; w++) {
        if (e[w].expires_ms == 0 || memcmp(e[w].hash, hash, SP_AUTH_HASH_LEN) != 0)
            continue;
        if (e[w].expires_ms <= now_ms) {
            memset(&e[w], 0, sizeof e[w]);
            break;
        }
        e[w].used = atomic_fetch_add_explicit(&c->tick, 1, memory_order_relaxed);
        if (e[w].negative) {
            found = -1;
        } else {
            found = 1;
            if (id)
                *id = e[w].id;
        }
        break;
    }
    pthread_mutex_unlock(lock);
    return found;
}

void sp_auth__cache_put(sp_auth_cache *c, const uint8_t hash[SP_AUTH_HASH_LEN],
                        const sp_identity *id, int64_t expires_ms, int64_t now_ms)
{
    if (expires_ms <= now_ms)
        return;
    size_t set = set_of(c, hash);
    cache_entry *e = &c->entries[set * CACHE_WAYS];
    pthread_mutex_t *lock = &c->locks[set % CACHE_LOCKS];
    pthread_mutex_lock(lock);
    size_t victim = 0;
    for (size_t w = 0; w < CACHE_WAYS; w++) {
        if (e[w].expires_ms != 0 && memcmp(e[w].hash, hash, SP_AUTH_HASH_LEN) == 0) {
            victim = w; /* the same token again: replace in place */
            break;
        }
        if (e[w].expires_ms <= now_ms) {
            victim = w; /* empty or expired: free to take */
            continue;
        }
        if (e[victim].expires_ms > now_ms && e[w].used < e[victim].used)
            victim = w;
    }
    cache_entry *v = &e[victim];
    memcpy(v->hash, hash, SP_AUTH_HASH_LEN);
    v->expires_ms = expires_ms;
    v->used = atomic_fetch_add_explicit(&c->tick, 1, memory_order_relaxed);
    v->negative = id == NULL;
    if (id)
        v->id = *id;
    else
        memset(&v->id, 0, sizeof v->id);
    pthread_mutex_unlock(lock);
}

size_t sp_auth__cache_count(sp_auth_cache *c, int64_t now_ms)
{
    size_t n = 0;
    for (size_t s = 0; s < c->sets; s++) {
        pthread_mutex_t *lock = &c->locks[s % CACHE_LOCKS];
        pthread_mutex_lock(lock);
        for (size_t w = 0; w < CACHE_WAYS; w++)
            n += c->entries[s * CACHE_WAYS + w].expires_ms > now_ms;
        pthread_mutex_unlock(lock);
    }
    return n;
}
