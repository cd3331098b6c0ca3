/*
 * listcache.h - rendered drive listings, reused while nothing changed.
 *
 * A listing is keyed by who asked and what (user, path, query) and stored
 * with the store's data version it was rendered at. It is served again
 * only while that version is current and for at most SP_LISTCACHE_TTL_MS,
 * which bounds what time alone changes (an expiry passing). Thread-safe.
 */
#ifndef SP_API_LISTCACHE_H
#define SP_API_LISTCACHE_H

#include <stddef.h>
#include <stdint.h>

/* Entries kept (direct-mapped by key hash): one per active client view. */
#define SP_LISTCACHE_SLOTS 1024
/* Larger listings are not kept: 1,000 drives render to about 1 MiB. */
#define SP_LISTCACHE_BODY_MAX (256 * 1024)
/* Longest a rendered listing is served without re-rendering. */
#define SP_LISTCACHE_TTL_MS 1000
/* "W/\"" + 16 hex digits + "\"" + NUL */
#define SP_LISTCACHE_ETAG_LEN 24

typedef struct sp_listcache sp_listcache;

/* Returns a new cache or NULL. */
sp_listcache *sp_listcache_new(void);
void sp_listcache_free(sp_listcache *c);

/*
 * Looks key up. On a fresh hit returns 1 with a new copy of the body in
 * *body (free it), its length and ETag; otherwise 0.
 */
int sp_listcache_get(sp_listcache *c, const char *key, uint64_t version, int64_t now_ms,
                     char **body, size_t *len, char etag[SP_LISTCACHE_ETAG_LEN]);

/* Stores a copy of body under key (replacing what the slot held). */
void sp_listcache_put(sp_listcache *c, const char *key, uint64_t version, int64_t now_ms,
                      const char *body, size_t len, const char *etag);

#endif
