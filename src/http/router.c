/* router.c - matching method + path against a table of patterns. */
#include "http/router.h"

#include "util/err.h"

#include <stdlib.h>
#include <string.h>

typedef struct route_def {
    const char *method;
    const char *pattern;
    sp_http_handler handler;
    void *ctx;
    size_t segment_count;
    struct {
        const char *text; /* literal, or the placeholder name */
        size_t len;
        int is_param;
    } segments[SP_ROUTER_MAX_SEGMENTS];
} route_def;

struct sp_router {
    route_def routes[SP_ROUTER_MAX_ROUTES];
    size_t count;
};

sp_router *sp_router_new(void)
{
    return calloc(1, sizeof(sp_router));
}

void sp_router_free(sp_router *r)
{
    free(r);
}

int sp_router_add(sp_router *r, const char *method, const char *pattern, sp_http_handler handler,
                  void *ctx)
{
    if (r->count == SP_ROUTER_MAX_ROUTES)
        return SP_ERR_TOO_LARGE;
    if (pattern[0] != '/')
        return SP_ERR_INVALID;
    route_def *rt = &r->routes[r->count];
    memset(rt, 0, sizeof *rt);
    rt->method = method;
    rt->pattern = pattern;
    rt->handler = handler;
    rt->ctx = ctx;
    size_t params = 0;
    const char *p = pattern + 1;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0 || rt->segment_count == SP_ROUTER_MAX_SEGMENTS)
            return SP_ERR_INVALID;
        int is_param = p[0] == '{' && p[len - 1] == '}';
        if (is_param && ++params > SP_ROUTER_MAX_PARAMS)
            return SP_ERR_TOO_LARGE;
        rt->segments[rt->segment_count].text = is_param ? p + 1 : p;
        rt->segments[rt->segment_count].len = is_param ? len - 2 : len;
        rt->segments[rt->segment_count].is_param = is_param;
        rt->segment_count++;
        p += len;
        if (*p == '/')
            p++;
    }
    r->count++;
    return 0;
}

typedef struct span {
    const char *p;
    size_t len;
} span;

/* Splits path into segments; a trailing slash is ignored, empty inner
 * segments ("//") never match. Returns the count or -1 when too deep. */
static int split(const char *path, span *out)
{
    int n = 0;
    const char *p = path;
    if (*p == '/')
        p++;
    while (*p) {
        if (n == SP_ROUTER_MAX_SEGMENTS)
            return -1;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        out[n].p = p;
        out[n].len = len;
        n++;
        p += len;
        if (*p == '/')
            p++;
    }
    return n;
}

static int path_matches(const route_def *rt, const span *seg, int n)
{
    if ((size_t)n != rt->segment_count)
        return 0;
    for (int i = 0; i < n; i++) {
        if (seg[i].len == 0)
            return 0;
        if (rt->segments[i].is_param)
            continue;
        if (seg[i].len != rt->segments[i].len ||
            memcmp(seg[i].p, rt->segments[i].text, seg[i].len) != 0)
            return 0;
    }
    return 1;
}

static int method_matches(const char *route_method, const char *method)
{
    return strcmp(route_method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

/* Whether a ", "-separated list already names method (whole names only:
 * PATCH is not in PROPPATCH). */
static int allow_has(const char *list, const char *method)
{
    size_t n = strlen(method);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, method, n) == 0)
            return 1;
        p += len;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return 0;
}

int sp_router_match(const sp_router *r, const char *method, const char *path, sp_route_match *m)
{
    memset(m, 0, sizeof *m);
    m->route = -1;
    if (path[0] != '/')
        return SP_ERR_NOT_FOUND;
    span seg[SP_ROUTER_MAX_SEGMENTS];
    int n = split(path, seg);
    if (n < 0)
        return SP_ERR_NOT_FOUND;
    int path_found = 0;
    for (size_t i = 0; i < r->count; i++) {
        const route_def *rt = &r->routes[i];
        if (!path_matches(rt, seg, n))
            continue;
        if (!method_matches(rt->method, method)) {
            /* Remember the methods that would have matched, for Allow. */
            if (!allow_has(m->allow, rt->method) &&
                strlen(m->allow) + strlen(rt->method) + 2 < sizeof m->allow) {
                if (m->allow[0])
                    strcat(m->allow, ", ");
                strcat(m->allow, rt->method);
            }
            path_found = 1;
            continue;
        }
        m->route = (int)i;
        m->handler = rt->handler;
        m->ctx = rt->ctx;
        m->allow[0] = '\0';
        for (int s = 0; s < n; s++) {
            if (!rt->segments[s].is_param)
                continue;
            size_t k = m->param_count++;
            m->params[k].name = rt->segments[s].text;
            m->params[k].name_len = rt->segments[s].len;
            m->params[k].value = strndup(seg[s].p, seg[s].len);
            if (!m->params[k].value) {
                sp_route_match_free(m);
                return SP_ERR_NOMEM;
            }
        }
        return 0;
    }
    return path_found ? SP_ERR_CONFLICT : SP_ERR_NOT_FOUND;
}

void sp_route_match_free(sp_route_match *m)
{
    for (size_t i = 0; i < m->param_count; i++)
        free(m->params[i].value);
    m->param_count = 0;
}

const char *sp_route_match_param(const sp_route_match *m, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < m->param_count; i++) {
        if (m->params[i].name_len == len && memcmp(m->params[i].name, name, len) == 0)
            return m->params[i].value;
    }
    return NULL;
}

size_t sp_router_count(const sp_router *r)
{
    return r->count;
}

const char *sp_router_pattern(const sp_router *r, int route)
{
    return r->routes[route].pattern;
}

const char *sp_router_method(const sp_router *r, int route)
{
    return r->routes[route].method;
}
