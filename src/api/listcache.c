/* listcache.c - a direct-mapped cache of rendered listings. */
#include "api/listcache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
    char *key;
    uint64_t version;
    int64_t stored_ms;
    char *body;
    size_t len;
    char etag[SP_LISTCACHE_ETAG_LEN];
} slot;

struct sp_listcache {
    pthread_mutex_t lock;
    slot slots[SP_LISTCACHE_SLOTS];
};

static size_t slot_of(const char *key)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return (size_t)(h % SP_LISTCACHE_SLOTS);
}

sp_listcache *sp_listcache_new(void)
{
    sp_listcache *c = calloc(1, sizeof *c);
    if (c)
        pthread_mutex_init(&c->lock, NULL);
    return c;
}

void sp_listcache_free(sp_listcache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < SP_LISTCACHE_SLOTS; i++) {
        free(c->slots[i].key);
        free(c->slots[i].body);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

int sp_listcache_get(sp_listcache *c, const char *key, uint64_t version, int64_t now_ms,
                     char **body, size_t *len, char etag[SP_LISTCACHE_ETAG_LEN])
{
    int hit = 0;
    pthread_mutex_lock(&c->lock);
    slot *s = &c->slots[slot_of(key)];
    if (s->key && s->version == version && now_ms - s->stored_ms < SP_LISTCACHE_TTL_MS &&
        strcmp(s->key, key) == 0) {
        *body = malloc(s->len + 1);
        if (*body) {
            memcpy(*body, s->body, s->len + 1);
            *len = s->len;
            memcpy(etag, s->etag, SP_LISTCACHE_ETAG_LEN);
            hit = 1;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

void sp_listcache_put(sp_listcache *c, const char *key, uint64_t version, int64_t now_ms,
                      const char *body, size_t len, const char *etag)
{
    if (len > SP_LISTCACHE_BODY_MAX)
        return;
    char *k = strdup(key), *b = malloc(len + 1);
    if (!k || !b) {
        free(k);
        free(b);
        return;
    }
    memcpy(b, body, len);
    b[len] = '\0';
    pthread_mutex_lock(&c->lock);
    slot *s = &c->slots[slot_of(key)];
    free(s->key);
    free(s->body);
    s->key = k;
    s->body = b;
    s->len = len;
    s->version = version;
    s->stored_ms = now_ms;
    snprintf(s->etag, sizeof s->etag, "%s", etag);
    pthread_mutex_unlock(&c->lock);
}
