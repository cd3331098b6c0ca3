/*
 * drives.c - the libre-graph drives API: listing (with $filter, $orderby,
 * $top and keyset paging), one drive, the caller's personal drive and the
 * role definitions. Rendering is drives_render.c, writes drives_write.c.
 */
#include "api/internal.h"

#include "api/listcache.h"
#include "api/query.h"
#include "api/roles.h"

#include "store/shares.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/time.h"
#include "util/url.h"

#include <stdio.h>
#include <string.h>

/* ---- listing ---- */

typedef struct list_ctx {
    sp_api *api;
    json_t *value;
    int beta;
} list_ctx;

static int add_drive(const sp_drive *d, void *arg)
{
    list_ctx *lc = arg;
    json_t *j = sp_api__drive_json(lc->api, d, lc->beta);
    return j && json_array_append_new(lc->value, j) == 0 ? 0 : SP_ERR_NOMEM;
}

int sp_api__append_param(sp_buf *b, const char *name, const char *value)
{
    int rc = sp_buf_printf(b, "%c%s=", strchr(b->data ? b->data : "", '?') ? '&' : '?', name);
    return rc == 0 ? sp_url_encode(b, value, "") : rc;
}

/* FNV-1a, 64 bits: a cheap fingerprint of a response for its ETag. */
static uint64_t fingerprint(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Replies with a rendered listing and its ETag, or 304 when the client's
 * If-None-Match already has it. */
static void reply_listing(sp_http_req *req, const char *text, size_t len, const char *etag)
{
    sp_http_add_header(req, "ETag", etag);
    sp_http_add_header(req, "Cache-Control", "private, no-cache");
    const char *inm = sp_http_header(req, "If-None-Match");
    if (inm && (strstr(inm, etag + 2) || strcmp(inm, "*") == 0))
        sp_http_reply(req, 304, NULL, "", 0);
    else
        sp_http_reply(req, 200, "application/json", text, len);
}

/* Stops the listing at the first share: only whether there is one
 * matters. */
static int found_share(const sp_share *sh, void *arg)
{
    (void)sh;
    *(int *)arg = 1;
    return SP_ERR_CONFLICT;
}

int sp_api__shares_drive(sp_api *api, const sp_user *u, json_t *value)
{
    int n = 0;
    int rc = sp_store_shares_received(api->store, u, found_share, &n);
    if (rc < 0 && !(rc == SP_ERR_CONFLICT && n))
        return rc;
    if (n == 0)
        return 0;
    sp_buf dav = {0};
    if (sp_api__id_url(&dav, api->cfg->dav_url, "/dav/spaces/", SP_SHARES_DRIVE_ID) < 0)
        return SP_ERR_NOMEM;
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "id", SP_SHARES_DRIVE_ID,
                          "driveType", "virtual", "driveAlias", "virtual/shares", "name", "Shares",
                          "root", "id", SP_SHARES_DRIVE_ID, "webDavUrl", dav.data);
    sp_buf_free(&dav);
    return d && json_array_append_new(value, d) == 0 ? 0 : SP_ERR_NOMEM;
}

static void list_drives(sp_http_req *req, sp_api *api, int all, int beta)
{
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    if (all && !sp_api__sees_all_drives(&u)) {
        sp_http_reply_error(req, 403, "accessDenied",
                            "listing all drives needs the admin or space admin role");
        return;
    }
    sp_drive_query q;
    sp_drive_filter f;
    sp_odata_error qerr;
    sp_drive_options qopt = {sp_http_query(req, "$filter"), sp_http_query(req, "$orderby"),
                             sp_http_query(req, "$top"),    sp_http_query(req, "$skiptoken"),
                             sp_http_query(req, "$select"), sp_http_query(req, "$expand")};
    if (sp_query_parse_drives(&qopt, &q, &f, &qerr) < 0) {
        sp_http_reply_error(req, (unsigned)qerr.status, qerr.code, "%s", qerr.message);
        return;
    }
    /* A listing rendered since the last change is served as it is: the
     * version is read before rendering, so a change made meanwhile makes
     * the stored copy stale at once. */
    uint64_t version = sp_store_data_version(api->store);
    int64_t now = sp_time_now_ms();
    sp_buf key = {0};
    const char *opt[4] = {sp_http_query(req, "$filter"), sp_http_query(req, "$orderby"),
                          sp_http_query(req, "$top"), sp_http_query(req, "$skiptoken")};
    sp_buf_printf(&key, "%lld|%d|%d|%s|%s|%s|%s|%s", (long long)u.seq, all, beta,
                  sp_http_path(req), opt[0] ? opt[0] : "", opt[1] ? opt[1] : "",
                  opt[2] ? opt[2] : "", opt[3] ? opt[3] : "");
    char *cached = NULL;
    size_t cached_len = 0;
    char etag[SP_LISTCACHE_ETAG_LEN];
    if (key.data && api->listcache &&
        sp_listcache_get(api->listcache, key.data, version, now, &cached, &cached_len, etag)) {
        reply_listing(req, cached, cached_len, etag);
        free(cached);
        sp_buf_free(&key);
        return;
    }
    json_t *value = json_array();
    list_ctx lc = {api, value, beta};
    int more = 0;
    sp_drive_cursor next = {0};
    int rc = value ? 0 : SP_ERR_NOMEM;
    int list_store = !q.type || strcmp(q.type, "virtual") != 0;
    if (rc == 0 && !all && !q.after.set && (!q.type || strcmp(q.type, "virtual") == 0) &&
        (!q.id || strcmp(q.id, SP_SHARES_DRIVE_ID) == 0))
        rc = sp_api__shares_drive(api, &u, value);
    if (rc == 0 && list_store && (!q.id || strcmp(q.id, SP_SHARES_DRIVE_ID) != 0))
        rc = sp_store_drives_list(api->store, &u, all, &q, add_drive, &lc, &more, &next);
    if (rc < 0) {
        json_decref(value);
        sp_buf_free(&key);
        sp_api__store_error(req, api, rc);
        return;
    }
    json_t *doc = json_pack("{s:o}", "value", value);
    if (more && doc) {
        char cursor[SP_QUERY_CURSOR_MAX + 1];
        sp_buf link = {0};
        char top[16];
        snprintf(top, sizeof top, "%d", q.top);
        int lrc = sp_query_cursor_encode(q.order, &next, cursor, sizeof cursor);
        lrc |= sp_buf_printf(&link, "%s%s", api->cfg->public_url, sp_http_path(req));
        lrc |= sp_api__append_param(&link, "$top", top);
        if (sp_http_query(req, "$orderby"))
            lrc |= sp_api__append_param(&link, "$orderby", sp_http_query(req, "$orderby"));
        if (sp_http_query(req, "$filter"))
            lrc |= sp_api__append_param(&link, "$filter", sp_http_query(req, "$filter"));
        lrc |= sp_api__append_param(&link, "$skiptoken", cursor);
        if (lrc == 0)
            json_object_set_new(doc, "@odata.nextLink", json_string(link.data));
        sp_buf_free(&link);
    }
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) {
        sp_buf_free(&key);
        sp_http_reply_error(req, 500, "generalException", "out of memory");
        return;
    }
    size_t len = strlen(text);
    snprintf(etag, sizeof etag, "W/\"%016llx\"", (unsigned long long)fingerprint(text, len));
    if (key.data && api->listcache)
        sp_listcache_put(api->listcache, key.data, version, now, text, len, etag);
    reply_listing(req, text, len, etag);
    free(text);
    sp_buf_free(&key);
}

static void list_me_v1(sp_http_req *req, void *ctx)
{
    list_drives(req, ctx, 0, 0);
}
static void list_me_beta(sp_http_req *req, void *ctx)
{
    list_drives(req, ctx, 0, 1);
}
static void list_all_v1(sp_http_req *req, void *ctx)
{
    list_drives(req, ctx, 1, 0);
}
static void list_all_beta(sp_http_req *req, void *ctx)
{
    list_drives(req, ctx, 1, 1);
}

int sp_api__is_beta(sp_http_req *req)
{
    return strncmp(sp_http_path(req), "/graph/v1beta1/", 15) == 0;
}

static void get_drive(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    sp_api__reply_drive(req, api, &u, sp_http_param(req, "id"), 200, sp_api__is_beta(req));
}

/* Keeps the personal drive that the caller owns (rendered in *arg). */
typedef struct own_drive {
    sp_api *api;
    const sp_user *user;
    json_t *json;
} own_drive;

static int capture_own(const sp_drive *d, void *arg)
{
    own_drive *o = arg;
    if (o->json || !d->owner_id || strcmp(d->owner_id, o->user->id) != 0)
        return 0;
    o->json = sp_api__drive_json(o->api, d, 0);
    return o->json ? 0 : SP_ERR_NOMEM;
}

/* GET /me/drive: the caller's personal drive, in the v1.0 form as oCIS
 * (GetUserDrive); 404 when it was purged. */
static void get_my_drive(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    sp_drive_query q = {.type = "personal", .top = SP_DRIVE_TOP_MAX};
    own_drive o = {api, &u, NULL};
    int rc = sp_store_drives_list(api->store, &u, 0, &q, capture_own, &o, NULL, NULL);
    if (rc < 0) {
        json_decref(o.json);
        sp_api__store_error(req, api, rc);
    } else if (!o.json) {
        sp_http_reply_error(req, 404, "itemNotFound", "drive not found");
    } else {
        sp_http_reply_json(req, 200, o.json);
    }
}

static void role_definitions(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    json_t *roles = sp_roles_json(0);
    const char *id = sp_http_param(req, "roleId");
    if (id) {
        json_t *found = NULL, *r;
        size_t i;
        json_array_foreach(roles, i, r)
        {
            if (strcmp(json_string_value(json_object_get(r, "id")), id) == 0)
                found = json_incref(r);
        }
        json_decref(roles);
        if (!found)
            sp_http_reply_error(req, 404, "itemNotFound", "no role %s", id);
        else
            sp_http_reply_json(req, 200, found);
        return;
    }
    sp_http_reply_json(req, 200, roles);
}

int sp_api__register_drives(sp_router *r, sp_api *api)
{
    static const sp_api_route routes[] = {
        {"GET", "/graph/v1.0/me/drives", list_me_v1},
        {"GET", "/graph/v1beta1/me/drives", list_me_beta},
        {"GET", "/graph/v1.0/drives", list_all_v1},
        {"GET", "/graph/v1beta1/drives", list_all_beta},
        {"GET", "/graph/v1.0/drives/{id}", get_drive},
        {"GET", "/graph/v1beta1/drives/{id}", get_drive},
        {"GET", "/graph/v1.0/me/drive", get_my_drive},
        {"GET", "/graph/v1beta1/roleManagement/permissions/roleDefinitions", role_definitions},
        {"GET", "/graph/v1beta1/roleManagement/permissions/roleDefinitions/{roleId}",
         role_definitions},
    };
    int rc = sp_api__add_routes(r, api, routes, sizeof routes / sizeof routes[0]);
    if (rc == 0)
        rc = sp_api__register_drive_writes(r, api);
    return rc < 0 ? rc : sp_api__register_delta(r, api);
}
