/*
 * router.h - method + path pattern to handler.
 *
 * Patterns are absolute paths whose segments are literals or {name}
 * placeholders matching one non-empty segment:
 *
 *     sp_router_add(r, "GET", "/graph/v1.0/drives/{id}", get_drive, ctx);
 *
 * The router knows nothing of HTTP connections; it is pure and thread-safe
 * for matching once routes are added (adding happens before the server
 * starts).
 */
#ifndef SP_HTTP_ROUTER_H
#define SP_HTTP_ROUTER_H

#include <stddef.h>

/* Routes in one table; the contract has about forty. */
#define SP_ROUTER_MAX_ROUTES 160
/* Placeholders in one pattern. */
#define SP_ROUTER_MAX_PARAMS 6
/* Segments in a path we try to match; deeper paths are 404. */
#define SP_ROUTER_MAX_SEGMENTS 16

struct sp_http_req;
typedef void (*sp_http_handler)(struct sp_http_req *req, void *ctx);

typedef struct sp_router sp_router;

typedef struct sp_route_match {
    int route;         /* route index, or -1 when nothing matched */
    sp_http_handler handler;
    void *ctx;
    size_t param_count;
    struct {
        const char *name; /* borrowed from the pattern; not NUL-terminated */
        size_t name_len;
        char *value;      /* owned by the match; see sp_route_match_free */
    } params[SP_ROUTER_MAX_PARAMS];
    char allow[64];    /* when the path matched but not the method: "GET, PATCH" */
} sp_route_match;

/* Creates an empty router. Returns NULL on allocation failure. */
sp_router *sp_router_new(void);
void sp_router_free(sp_router *r);

/* Adds a route. method is "GET", "POST", ...; pattern and ctx are borrowed
 * and must outlive the router. Returns 0 or SP_ERR_INVALID / SP_ERR_TOO_LARGE. */
int sp_router_add(sp_router *r, const char *method, const char *pattern, sp_http_handler handler,
                  void *ctx);

/*
 * Matches method and path (already percent-decoded, without query).
 * Returns 0 with m->route >= 0 on a match (HEAD matches GET routes);
 * SP_ERR_NOT_FOUND when no pattern matches the path; SP_ERR_CONFLICT when a
 * pattern matches but not the method (m->allow lists those that do).
 * Release with sp_route_match_free in every case.
 */
int sp_router_match(const sp_router *r, const char *method, const char *path, sp_route_match *m);
void sp_route_match_free(sp_route_match *m);
/* Value of placeholder name in a match (borrowed), or NULL. */
const char *sp_route_match_param(const sp_route_match *m, const char *name);

/* Number of routes, and the pattern/method of one (borrowed), for metrics. */
size_t sp_router_count(const sp_router *r);
const char *sp_router_pattern(const sp_router *r, int route);
const char *sp_router_method(const sp_router *r, int route);

#endif
