/*
 * test_router.c - unit tests of src/http/router: pattern registration,
 * literal and {param} matching, HEAD as GET, 405 with Allow, 404, path
 * edge cases (trailing slash, empty segments, depth) and the table limits.
 *
 * Handlers are never called; a match is identified by its ctx, which points
 * at a distinct static int per route.
 */
#include "http/router.h"
#include "util/err.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void handler_a(struct sp_http_req *req, void *ctx)
{
    (void)req;
    (void)ctx;
}

static void handler_b(struct sp_http_req *req, void *ctx)
{
    (void)req;
    (void)ctx;
}

/* The route table of the tests, close to the contract's shape. */
static const struct {
    const char *method;
    const char *pattern;
} routes[] = {
    {"GET", "/"},
    {"GET", "/graph/v1.0/me/drives"},
    {"GET", "/graph/v1.0/drives"},
    {"POST", "/graph/v1.0/drives"},
    {"GET", "/graph/v1.0/drives/{id}"},
    {"PATCH", "/graph/v1.0/drives/{id}"},
    {"DELETE", "/graph/v1.0/drives/{id}"},
    {"GET", "/graph/v1beta1/drives/{driveId}/items/{itemId}/permissions"},
    {"PATCH", "/graph/v1beta1/drives/{driveId}/items/{itemId}/permissions/{permId}"},
    {"DELETE", "/graph/v1beta1/drives/{driveId}/items/{itemId}/permissions/{permId}"},
    {"GET", "/api/v1/events/special"}, /* literal before the param route below */
    {"GET", "/api/v1/events/{id}"},
    {"POST", "/api/v1/events/{id}"},
    {"PUT", "/api/v1/events/special"},
};

static int route_ctx[COUNT(routes)];

static sp_router *router;

static void setup(void)
{
    router = sp_router_new();
    ck_assert_ptr_nonnull(router);
    for (size_t i = 0; i < COUNT(routes); i++) {
        ck_assert_int_eq(sp_router_add(router, routes[i].method, routes[i].pattern,
                                       i % 2 ? handler_b : handler_a, &route_ctx[i]),
                         0);
    }
}

static void teardown(void)
{
    sp_router_free(router);
    router = NULL;
}

/* Index of a route in the table above. */
static int route_index(const char *method, const char *pattern)
{
    for (size_t i = 0; i < COUNT(routes); i++) {
        if (strcmp(routes[i].method, method) == 0 && strcmp(routes[i].pattern, pattern) == 0)
            return (int)i;
    }
    ck_abort_msg("no route %s %s in the test table", method, pattern);
    return -1;
}

/* ---- matching table --------------------------------------------------- */

typedef struct match_case {
    const char *method;
    const char *path;
    int rc;                   /* 0, SP_ERR_NOT_FOUND or SP_ERR_CONFLICT */
    const char *route_method; /* rc 0: the route that must match */
    const char *route_pattern;
    const char *params[3][2]; /* rc 0: expected name=value pairs */
    const char *allow;        /* rc SP_ERR_CONFLICT: exact Allow value */
} match_case;

static const match_case match_cases[] = {
    /* literals */
    {"GET", "/", 0, "GET", "/", {{0}}, NULL},
    {"GET", "/graph/v1.0/me/drives", 0, "GET", "/graph/v1.0/me/drives", {{0}}, NULL},
    {"GET", "/graph/v1.0/drives", 0, "GET", "/graph/v1.0/drives", {{0}}, NULL},
    {"POST", "/graph/v1.0/drives", 0, "POST", "/graph/v1.0/drives", {{0}}, NULL},
    /* one param */
    {"GET", "/graph/v1.0/drives/abc", 0, "GET", "/graph/v1.0/drives/{id}", {{"id", "abc"}}, NULL},
    {"PATCH",
     "/graph/v1.0/drives/x-1",
     0,
     "PATCH",
     "/graph/v1.0/drives/{id}",
     {{"id", "x-1"}},
     NULL},
    {"DELETE", "/graph/v1.0/drives/d", 0, "DELETE", "/graph/v1.0/drives/{id}", {{"id", "d"}}, NULL},
    /* several params, in order */
    {"GET",
     "/graph/v1beta1/drives/D1/items/I2/permissions",
     0,
     "GET",
     "/graph/v1beta1/drives/{driveId}/items/{itemId}/permissions",
     {{"driveId", "D1"}, {"itemId", "I2"}},
     NULL},
    {"PATCH",
     "/graph/v1beta1/drives/D1/items/I2/permissions/P3",
     0,
     "PATCH",
     "/graph/v1beta1/drives/{driveId}/items/{itemId}/permissions/{permId}",
     {{"driveId", "D1"}, {"itemId", "I2"}, {"permId", "P3"}},
     NULL},
    /* values are returned as given (the caller decoded them already) */
    {"GET", "/graph/v1.0/drives/a b", 0, "GET", "/graph/v1.0/drives/{id}", {{"id", "a b"}}, NULL},
    {"GET",
     "/graph/v1.0/drives/a%2Fb",
     0,
     "GET",
     "/graph/v1.0/drives/{id}",
     {{"id", "a%2Fb"}},
     NULL},
    {"GET",
     "/graph/v1.0/drives/u@host:1$!;=+,",
     0,
     "GET",
     "/graph/v1.0/drives/{id}",
     {{"id", "u@host:1$!;=+,"}},
     NULL},
    {"GET",
     "/graph/v1.0/drives/caf\xc3\xa9",
     0,
     "GET",
     "/graph/v1.0/drives/{id}",
     {{"id", "caf\xc3\xa9"}},
     NULL},
    {"GET", "/graph/v1.0/drives/{id}", 0, "GET", "/graph/v1.0/drives/{id}", {{"id", "{id}"}}, NULL},
    {"GET", "/graph/v1.0/drives/..", 0, "GET", "/graph/v1.0/drives/{id}", {{"id", ".."}}, NULL},
    /* HEAD is served by GET routes */
    {"HEAD", "/graph/v1.0/drives", 0, "GET", "/graph/v1.0/drives", {{0}}, NULL},
    {"HEAD", "/graph/v1.0/drives/q", 0, "GET", "/graph/v1.0/drives/{id}", {{"id", "q"}}, NULL},
    {"HEAD", "/", 0, "GET", "/", {{0}}, NULL},
    /* trailing slash is ignored */
    {"GET", "/graph/v1.0/drives/", 0, "GET", "/graph/v1.0/drives", {{0}}, NULL},
    {"GET", "/graph/v1.0/drives/abc/", 0, "GET", "/graph/v1.0/drives/{id}", {{"id", "abc"}}, NULL},
    /* precedence: first added wins; the literal was added before {id} */
    {"GET", "/api/v1/events/special", 0, "GET", "/api/v1/events/special", {{0}}, NULL},
    {"GET", "/api/v1/events/specia", 0, "GET", "/api/v1/events/{id}", {{"id", "specia"}}, NULL},
    {"GET", "/api/v1/events/specialx", 0, "GET", "/api/v1/events/{id}", {{"id", "specialx"}}, NULL},
    /* a later route of another method still matches after a mismatch */
    {"POST", "/api/v1/events/special", 0, "POST", "/api/v1/events/{id}", {{"id", "special"}}, NULL},
    {"PUT", "/api/v1/events/special", 0, "PUT", "/api/v1/events/special", {{0}}, NULL},

    /* 405 with every method of the path, in registration order */
    {"PUT", "/graph/v1.0/drives", SP_ERR_CONFLICT, NULL, NULL, {{0}}, "GET, POST"},
    {"DELETE", "/graph/v1.0/drives", SP_ERR_CONFLICT, NULL, NULL, {{0}}, "GET, POST"},
    {"POST", "/graph/v1.0/drives/abc", SP_ERR_CONFLICT, NULL, NULL, {{0}}, "GET, PATCH, DELETE"},
    {"HEAD",
     "/graph/v1beta1/drives/a/items/b/permissions/c",
     SP_ERR_CONFLICT,
     NULL,
     NULL,
     {{0}},
     "PATCH, DELETE"},
    {"POST", "/graph/v1.0/me/drives", SP_ERR_CONFLICT, NULL, NULL, {{0}}, "GET"},
    {"DELETE", "/api/v1/events/x", SP_ERR_CONFLICT, NULL, NULL, {{0}}, "GET, POST"},
    {"DELETE", "/api/v1/events/special", SP_ERR_CONFLICT, NULL, NULL, {{0}}, "GET, POST, PUT"},
    {"get", "/graph/v1.0/drives", SP_ERR_CONFLICT, NULL, NULL, {{0}}, "GET, POST"},
    {"POST", "/", SP_ERR_CONFLICT, NULL, NULL, {{0}}, "GET"},

    /* 404 */
    {"GET", "/nope", SP_ERR_NOT_FOUND, NULL, NULL, {{0}}, NULL},
    {"GET", "/graph", SP_ERR_NOT_FOUND, NULL, NULL, {{0}}, NULL},
    {"GET", "/graph/v1.0/drives/a/b", SP_ERR_NOT_FOUND, NULL, NULL, {{0}}, NULL},
    {"GET", "/graph/v1.0/Drives", SP_ERR_NOT_FOUND, NULL, NULL, {{0}}, NULL},
    {"GET", "/graph/v1.0/drive", SP_ERR_NOT_FOUND, NULL, NULL, {{0}}, NULL},
    {"GET", "/graph/v1.0/drivesx", SP_ERR_NOT_FOUND, NULL, NULL, {{0}}, NULL},
    {"GET", "graph/v1.0/drives", SP_ERR_NOT_FOUND, NULL, NULL, {{0}}, NULL},
    {"GET", "", SP_ERR_NOT_FOUND, NULL, NULL, {{0}}, NULL},
    {"GET", "/graph/v1beta1/drives/D/items/I", SP_ERR_NOT_FOUND, NULL, NULL, {{0}}, NULL},
    /* empty segments never match, not even a {param} */
    {"GET", "/graph/v1.0/drives//", SP_ERR_NOT_FOUND, NULL, NULL, {{0}}, NULL},
    {"GET", "/graph/v1.0//drives", SP_ERR_NOT_FOUND, NULL, NULL, {{0}}, NULL},
    {"GET", "//graph/v1.0/drives", SP_ERR_NOT_FOUND, NULL, NULL, {{0}}, NULL},
    {"GET",
     "/graph/v1beta1/drives//items/I/permissions",
     SP_ERR_NOT_FOUND,
     NULL,
     NULL,
     {{0}},
     NULL},
    {"PATCH",
     "/graph/v1beta1/drives/D/items/I/permissions//",
     SP_ERR_NOT_FOUND,
     NULL,
     NULL,
     {{0}},
     NULL},
    {"GET", "//", SP_ERR_NOT_FOUND, NULL, NULL, {{0}}, NULL},
    {"GET", "/graph/v1.0/drives/x//", SP_ERR_NOT_FOUND, NULL, NULL, {{0}}, NULL},
};

START_TEST(match_table)
{
    const match_case *c = &match_cases[_i];
    sp_route_match m;
    memset(&m, 0x5a, sizeof m);
    int rc = sp_router_match(router, c->method, c->path, &m);
    ck_assert_msg(rc == c->rc, "%s '%s': rc %d, want %d", c->method, c->path, rc, c->rc);
    if (c->rc == 0) {
        int want = route_index(c->route_method, c->route_pattern);
        ck_assert_msg(m.route == want, "%s '%s': route %d (%s %s), want %d", c->method, c->path,
                      m.route, m.route >= 0 ? sp_router_method(router, m.route) : "-",
                      m.route >= 0 ? sp_router_pattern(router, m.route) : "-", want);
        ck_assert_ptr_eq(m.ctx, &route_ctx[want]);
        ck_assert_ptr_eq((void *)m.handler, (void *)(want % 2 ? handler_b : handler_a));
        ck_assert_str_eq(m.allow, "");
        size_t n = 0;
        while (n < 3 && c->params[n][0])
            n++;
        ck_assert_uint_eq(m.param_count, n);
        for (size_t i = 0; i < n; i++) {
            const char *v = sp_route_match_param(&m, c->params[i][0]);
            ck_assert_msg(v != NULL, "no param %s", c->params[i][0]);
            ck_assert_str_eq(v, c->params[i][1]);
            ck_assert_uint_eq(m.params[i].name_len, strlen(c->params[i][0]));
            ck_assert_int_eq(memcmp(m.params[i].name, c->params[i][0], m.params[i].name_len), 0);
        }
    } else {
        ck_assert_int_eq(m.route, -1);
        ck_assert_ptr_null((void *)m.handler);
        ck_assert_uint_eq(m.param_count, 0);
        ck_assert_str_eq(m.allow, c->allow ? c->allow : "");
    }
    sp_route_match_free(&m);
    ck_assert_uint_eq(m.param_count, 0);
}
END_TEST

START_TEST(param_lookup)
{
    sp_route_match m;
    ck_assert_int_eq(
        sp_router_match(router, "GET", "/graph/v1beta1/drives/D/items/I/permissions", &m), 0);
    ck_assert_str_eq(sp_route_match_param(&m, "driveId"), "D");
    ck_assert_str_eq(sp_route_match_param(&m, "itemId"), "I");
    /* Exact names only: no prefixes, no case folding, no braces. */
    ck_assert_ptr_null(sp_route_match_param(&m, "drive"));
    ck_assert_ptr_null(sp_route_match_param(&m, "driveIdx"));
    ck_assert_ptr_null(sp_route_match_param(&m, "driveid"));
    ck_assert_ptr_null(sp_route_match_param(&m, "{driveId}"));
    ck_assert_ptr_null(sp_route_match_param(&m, ""));
    /* Values are owned by the match, not pointers into the path. */
    ck_assert_ptr_nonnull(m.params[0].value);
    sp_route_match_free(&m);
    ck_assert_ptr_null(sp_route_match_param(&m, "driveId"));
}
END_TEST

START_TEST(param_value_is_copy)
{
    char path[] = "/graph/v1.0/drives/abc";
    sp_route_match m;
    ck_assert_int_eq(sp_router_match(router, "GET", path, &m), 0);
    path[19] = 'X';
    ck_assert_str_eq(sp_route_match_param(&m, "id"), "abc");
    sp_route_match_free(&m);
}
END_TEST

START_TEST(long_param_value)
{
    /* A long segment is copied whole (the router has no value limit of its
     * own; the HTTP layer bounds the URI). */
    size_t n = 3000;
    char *path = malloc(n + 32);
    ck_assert_ptr_nonnull(path);
    strcpy(path, "/graph/v1.0/drives/");
    size_t off = strlen(path);
    memset(path + off, 'v', n);
    path[off + n] = '\0';
    sp_route_match m;
    ck_assert_int_eq(sp_router_match(router, "GET", path, &m), 0);
    ck_assert_uint_eq(strlen(sp_route_match_param(&m, "id")), n);
    sp_route_match_free(&m);
    free(path);
}
END_TEST

START_TEST(free_after_failed_match)
{
    sp_route_match m;
    ck_assert_int_eq(sp_router_match(router, "GET", "/nope", &m), SP_ERR_NOT_FOUND);
    sp_route_match_free(&m);
    ck_assert_int_eq(sp_router_match(router, "PUT", "/graph/v1.0/drives", &m), SP_ERR_CONFLICT);
    sp_route_match_free(&m);
    ck_assert_uint_eq(m.param_count, 0);
}
END_TEST

START_TEST(accessors)
{
    ck_assert_uint_eq(sp_router_count(router), COUNT(routes));
    for (size_t i = 0; i < COUNT(routes); i++) {
        ck_assert_str_eq(sp_router_method(router, (int)i), routes[i].method);
        ck_assert_str_eq(sp_router_pattern(router, (int)i), routes[i].pattern);
    }
    /* Borrowed, not copied. */
    ck_assert_ptr_eq(sp_router_pattern(router, 0), routes[0].pattern);
}
END_TEST

START_TEST(empty_router)
{
    sp_router *r = sp_router_new();
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(sp_router_count(r), 0);
    sp_route_match m;
    ck_assert_int_eq(sp_router_match(r, "GET", "/", &m), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(m.route, -1);
    sp_route_match_free(&m);
    sp_router_free(r);
    sp_router_free(NULL);
}
END_TEST

/* ---- registration ----------------------------------------------------- */

static const struct {
    const char *pattern;
    int rc;
} add_cases[] = {
    {"/", 0},
    {"/a", 0},
    {"/a/", 0}, /* trailing slash is tolerated */
    {"/{x}", 0},
    {"/a/{b}/c/{d}/e/{f}/g/{h}/i/{j}/k/{l}", 0}, /* 6 params, 12 segments */
    {"/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16", 0},
    {"", SP_ERR_INVALID},
    {"a", SP_ERR_INVALID},
    {"a/b", SP_ERR_INVALID},
    {"//", SP_ERR_INVALID},
    {"/a//b", SP_ERR_INVALID},
    {"//a", SP_ERR_INVALID},
    {"/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17", SP_ERR_INVALID},
    {"/{a}/{b}/{c}/{d}/{e}/{f}/{g}", SP_ERR_TOO_LARGE},
};

START_TEST(add_table)
{
    sp_router *r = sp_router_new();
    ck_assert_ptr_nonnull(r);
    int rc = sp_router_add(r, "GET", add_cases[_i].pattern, handler_a, NULL);
    ck_assert_msg(rc == add_cases[_i].rc, "'%s': rc %d, want %d", add_cases[_i].pattern, rc,
                  add_cases[_i].rc);
    ck_assert_uint_eq(sp_router_count(r), rc == 0 ? 1 : 0);
    sp_router_free(r);
}
END_TEST

START_TEST(table_full)
{
    sp_router *r = sp_router_new();
    ck_assert_ptr_nonnull(r);
    static char patterns[SP_ROUTER_MAX_ROUTES + 1][16];
    for (int i = 0; i < SP_ROUTER_MAX_ROUTES; i++) {
        snprintf(patterns[i], sizeof patterns[i], "/r%d/{id}", i);
        ck_assert_int_eq(sp_router_add(r, "GET", patterns[i], handler_a, &patterns[i]), 0);
    }
    ck_assert_uint_eq(sp_router_count(r), SP_ROUTER_MAX_ROUTES);
    snprintf(patterns[SP_ROUTER_MAX_ROUTES], sizeof patterns[0], "/extra");
    ck_assert_int_eq(sp_router_add(r, "GET", patterns[SP_ROUTER_MAX_ROUTES], handler_a, NULL),
                     SP_ERR_TOO_LARGE);
    ck_assert_uint_eq(sp_router_count(r), SP_ROUTER_MAX_ROUTES);

    /* Every route still matches, the last one included; the extra does not. */
    sp_route_match m;
    ck_assert_int_eq(sp_router_match(r, "GET", "/r0/a", &m), 0);
    ck_assert_int_eq(m.route, 0);
    sp_route_match_free(&m);
    char path[32];
    snprintf(path, sizeof path, "/r%d/z", SP_ROUTER_MAX_ROUTES - 1);
    ck_assert_int_eq(sp_router_match(r, "GET", path, &m), 0);
    ck_assert_int_eq(m.route, SP_ROUTER_MAX_ROUTES - 1);
    ck_assert_ptr_eq(m.ctx, &patterns[SP_ROUTER_MAX_ROUTES - 1]);
    ck_assert_str_eq(sp_route_match_param(&m, "id"), "z");
    sp_route_match_free(&m);
    ck_assert_int_eq(sp_router_match(r, "GET", "/extra", &m), SP_ERR_NOT_FOUND);
    sp_route_match_free(&m);
    sp_router_free(r);
}
END_TEST

START_TEST(failed_add_leaves_table_unchanged)
{
    sp_router *r = sp_router_new();
    ck_assert_int_eq(sp_router_add(r, "GET", "/a/{x}", handler_a, NULL), 0);
    ck_assert_int_eq(sp_router_add(r, "GET", "/a//b", handler_b, NULL), SP_ERR_INVALID);
    ck_assert_int_eq(sp_router_add(r, "GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}", handler_b, NULL),
                     SP_ERR_TOO_LARGE);
    ck_assert_uint_eq(sp_router_count(r), 1);
    ck_assert_str_eq(sp_router_pattern(r, 0), "/a/{x}");
    sp_route_match m;
    ck_assert_int_eq(sp_router_match(r, "GET", "/a/1", &m), 0);
    ck_assert_ptr_eq((void *)m.handler, (void *)handler_a);
    sp_route_match_free(&m);
    sp_router_free(r);
}
END_TEST

/* ---- depth ------------------------------------------------------------ */

START_TEST(segment_limits)
{
    sp_router *r = sp_router_new();
    /* A pattern of exactly SP_ROUTER_MAX_SEGMENTS segments. */
    static const char deep[] = "/s/s/s/s/s/s/s/s/s/s/s/s/s/s/s/{last}";
    ck_assert_int_eq(sp_router_add(r, "GET", deep, handler_a, NULL), 0);
    ck_assert_int_eq(sp_router_add(r, "GET", "/{a}", handler_b, NULL), 0);

    char path[256] = "";
    for (int i = 0; i < SP_ROUTER_MAX_SEGMENTS - 1; i++)
        strcat(path, "/s");
    strcat(path, "/end");
    sp_route_match m;
    ck_assert_int_eq(sp_router_match(r, "GET", path, &m), 0);
    ck_assert_int_eq(m.route, 0);
    ck_assert_str_eq(sp_route_match_param(&m, "last"), "end");
    sp_route_match_free(&m);

    /* With a trailing slash: still 16 segments. */
    strcat(path, "/");
    ck_assert_int_eq(sp_router_match(r, "GET", path, &m), 0);
    sp_route_match_free(&m);

    /* One more segment: too deep, 404 (not a crash, not a partial match). */
    strcat(path, "x");
    ck_assert_int_eq(sp_router_match(r, "GET", path, &m), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(m.route, -1);
    sp_route_match_free(&m);

    /* Far too deep. */
    char huge[4096] = "";
    for (int i = 0; i < 1000; i++)
        strcat(huge, "/x");
    ck_assert_int_eq(sp_router_match(r, "GET", huge, &m), SP_ERR_NOT_FOUND);
    sp_route_match_free(&m);
    /* Many empty segments. */
    memset(huge, '/', 2000);
    huge[2000] = '\0';
    ck_assert_int_eq(sp_router_match(r, "GET", huge, &m), SP_ERR_NOT_FOUND);
    sp_route_match_free(&m);
    sp_router_free(r);
}
END_TEST

START_TEST(allow_does_not_overflow)
{
    /* Many methods on one path: Allow stays within its buffer, terminated. */
    static const char *const methods[] = {
        "GET",   "POST", "PUT",  "PATCH", "DELETE", "OPTIONS", "PROPFIND", "PROPPATCH",
        "MKCOL", "COPY", "MOVE", "LOCK",  "UNLOCK", "REPORT",  "SEARCH",   "TRACE"};
    sp_router *r = sp_router_new();
    for (size_t i = 0; i < COUNT(methods); i++)
        ck_assert_int_eq(sp_router_add(r, methods[i], "/dav/{p}", handler_a, NULL), 0);
    sp_route_match m;
    ck_assert_int_eq(sp_router_match(r, "BREW", "/dav/x", &m), SP_ERR_CONFLICT);
    ck_assert_uint_lt(strlen(m.allow), sizeof m.allow);
    ck_assert_int_eq(strncmp(m.allow, "GET, POST, PUT, PATCH, DELETE", 29), 0);
    sp_route_match_free(&m);
    sp_router_free(r);
}
END_TEST

START_TEST(duplicate_method_listed_once)
{
    sp_router *r = sp_router_new();
    ck_assert_int_eq(sp_router_add(r, "GET", "/x/{a}", handler_a, NULL), 0);
    ck_assert_int_eq(sp_router_add(r, "GET", "/x/lit", handler_a, NULL), 0);
    ck_assert_int_eq(sp_router_add(r, "POST", "/x/lit", handler_a, NULL), 0);
    sp_route_match m;
    ck_assert_int_eq(sp_router_match(r, "PUT", "/x/lit", &m), SP_ERR_CONFLICT);
    ck_assert_str_eq(m.allow, "GET, POST");
    sp_route_match_free(&m);
    sp_router_free(r);
}
END_TEST

/*
 * Allow must list every method of the path, even one whose name is part of
 * another's. KNOWN BUG (src/http/router.c, sp_router_match): a method is
 * skipped when strstr() finds it anywhere in the Allow text, so after
 * "PROPPATCH" the method "PATCH" is never listed (likewise "LOCK" after
 * "UNLOCK"): with routes PROPPATCH /x and PATCH /x, GET /x gives
 * Allow "PROPPATCH" instead of "PROPPATCH, PATCH". Fix: compare whole
 * comma-separated tokens. Latent today (no such method names are routed).
 */
START_TEST(allow_lists_method_contained_in_another)
{
    sp_router *r = sp_router_new();
    ck_assert_int_eq(sp_router_add(r, "PROPPATCH", "/x", handler_a, NULL), 0);
    ck_assert_int_eq(sp_router_add(r, "PATCH", "/x", handler_a, NULL), 0);
    ck_assert_int_eq(sp_router_add(r, "UNLOCK", "/x", handler_a, NULL), 0);
    ck_assert_int_eq(sp_router_add(r, "LOCK", "/x", handler_a, NULL), 0);
    sp_route_match m;
    int rc = sp_router_match(r, "GET", "/x", &m);
    sp_route_match_free(&m);
    sp_router_free(r); /* before asserting: no leak when it fails unforked */
    ck_assert_int_eq(rc, SP_ERR_CONFLICT);
    ck_assert_str_eq(m.allow, "PROPPATCH, PATCH, UNLOCK, LOCK");
}
END_TEST

START_TEST(param_route_added_first_wins)
{
    /* Precedence is registration order, not specificity: a {param} route
     * added before a literal at the same depth shadows the literal. */
    sp_router *r = sp_router_new();
    ck_assert_int_eq(sp_router_add(r, "GET", "/e/{id}", handler_a, NULL), 0);
    ck_assert_int_eq(sp_router_add(r, "GET", "/e/lit", handler_b, NULL), 0);
    sp_route_match m;
    ck_assert_int_eq(sp_router_match(r, "GET", "/e/lit", &m), 0);
    ck_assert_int_eq(m.route, 0);
    ck_assert_str_eq(sp_route_match_param(&m, "id"), "lit");
    sp_route_match_free(&m);
    sp_router_free(r);
}
END_TEST

static Suite *router_suite(void)
{
    Suite *s = suite_create("router");

    TCase *tc = tcase_create("match");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, match_table, 0, (int)COUNT(match_cases));
    tcase_add_test(tc, param_lookup);
    tcase_add_test(tc, param_value_is_copy);
    tcase_add_test(tc, long_param_value);
    tcase_add_test(tc, free_after_failed_match);
    tcase_add_test(tc, accessors);
    suite_add_tcase(s, tc);

    tc = tcase_create("table");
    tcase_add_test(tc, empty_router);
    tcase_add_loop_test(tc, add_table, 0, (int)COUNT(add_cases));
    tcase_add_test(tc, table_full);
    tcase_add_test(tc, failed_add_leaves_table_unchanged);
    tcase_add_test(tc, segment_limits);
    tcase_add_test(tc, allow_does_not_overflow);
    tcase_add_test(tc, duplicate_method_listed_once);
    tcase_add_test(tc, allow_lists_method_contained_in_another);
    tcase_add_test(tc, param_route_added_first_wins);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(router_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
