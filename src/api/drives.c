/*
 * drives.c - the libre-graph drives API: listing (with $filter, $orderby,
 * $top and keyset paging), one drive, creating project drives, renaming,
 * quota, disable, restore and purge.
 */
#include "api/internal.h"

#include "api/listcache.h"
#include "api/query.h"
#include "api/roles.h"

#include "store/remotes.h"
#include "store/shares.h"

#include "util/buf.h"
#include "util/slug.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"
#include "util/url.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Longest drive name, in characters, as oCIS allows. */
#define SP_DRIVE_NAME_CHARS 255
/* Longest description in bytes; it is a short text shown under the name. */
#define SP_DRIVE_DESCRIPTION_MAX 2048

/* ---- rendering ---- */

static const char *quota_state(int64_t total, int64_t used)
{
    if (total <= 0)
        return "normal";
    double ratio = (double)used / (double)total;
    if (ratio < 0.75)
        return "normal";
    if (ratio < 0.90)
        return "nearing";
    if (ratio < 1.0)
        return "critical";
    return "exceeded";
}

typedef struct perm_ctx {
    json_t *list;
    int beta;
} perm_ctx;

static int add_permission(const sp_member *m, void *arg)
{
    perm_ctx *pc = arg;
    json_t *user = json_pack("{s:s, s:s}", "id", m->user_id, "displayName", m->user_name);
    json_t *p;
    if (pc->beta) {
        p = json_pack("{s:s, s:[s], s:{s:o}}", "id", m->id, "roles", m->role, "grantedToV2",
                      "user", user);
    } else {
        const sp_role *r = sp_role_find(m->role);
        p = json_pack("{s:s, s:[s], s:[{s:o}]}", "id", m->id, "roles",
                      r ? r->legacy_name : "viewer", "grantedToIdentities", "user", user);
    }
    if (p && m->expires_at_ms) {
        char when[SP_TIME_RFC3339_LEN];
        sp_time_format_rfc3339(m->expires_at_ms, when);
        json_object_set_new(p, "expirationDateTime", json_string(when));
    }
    return p && json_array_append_new(pc->list, p) == 0 ? 0 : SP_ERR_NOMEM;
}

/* Writes an eTag as an HTTP entity tag: quoted once, whether or not the
 * storage provider sent it quoted. */
static int quote_etag(sp_buf *b, const char *etag)
{
    size_t n = strlen(etag);
    if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"')
        return sp_buf_puts(b, etag);
    return sp_buf_printf(b, "\"%s\"", etag);
}

int sp_api__id_url(sp_buf *b, const char *base, const char *path, const char *id)
{
    int rc = sp_buf_printf(b, "%s%s", base, path);
    return rc == 0 ? sp_url_encode(b, id, SP_URL_SEGMENT_KEEP) : rc;
}

/* A share received, as the grantee's mountpoint drive: root.remoteItem
 * names the shared drive and item. */
static json_t *mountpoint_json(sp_api *api, const sp_drive *d)
{
    char mtime[SP_TIME_RFC3339_LEN], alias[300] = "mountpoint/";
    sp_time_format_rfc3339(d->mtime_ms, mtime);
    sp_slug(d->name, alias + 11, sizeof alias - 11);
    sp_buf dav = {0}, web = {0}, etag = {0};
    json_t *out = NULL;
    /* The storage's WebDAV resolves a resource id below /dav/spaces/. */
    if (sp_api__id_url(&dav, api->cfg->dav_url, "/dav/spaces/", d->item_id) < 0 ||
        sp_api__id_url(&web, api->cfg->public_url, "/f/", d->item_id) < 0 ||
        quote_etag(&etag, d->etag) < 0)
        goto done;
    json_t *remote = json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:[s]}]}", "id", d->item_id,
                               "driveId", d->shared_drive_id, "name", d->name, "webDavUrl",
                               dav.data, "permissions", "id", d->share_id, "roles", d->role);
    out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:{s:s, s:s}}, s:{s:s, s:s, s:s, s:o}, s:s}",
                    "id", d->id, "driveType", "mountpoint", "driveAlias", alias, "name", d->name,
                    "lastModifiedDateTime", mtime, "owner", "user", "id", d->owner_id,
                    "displayName", d->owner_name, "root", "id", d->id, "eTag", etag.data,
                    "webDavUrl", dav.data, "remoteItem", remote, "webUrl", web.data);
done:
    sp_buf_free(&dav);
    sp_buf_free(&web);
    sp_buf_free(&etag);
    return out;
}

json_t *sp_api__drive_json(sp_api *api, const sp_drive *d, int beta)
{
    if (d->remote_web_dav_url)
        return sp_api__remote_json(api, d);
    if (strcmp(d->type, "mountpoint") == 0)
        return mountpoint_json(api, d);
    char mtime[SP_TIME_RFC3339_LEN];
    sp_time_format_rfc3339(d->mtime_ms, mtime);
    sp_buf dav = {0}, web = {0}, etag = {0};
    json_t *perms = json_array();
    json_t *out = NULL;
    if (sp_api__id_url(&dav, api->cfg->dav_url, "/dav/spaces/", d->id) < 0 ||
        sp_api__id_url(&web, api->cfg->public_url, "/f/", d->id) < 0 ||
        quote_etag(&etag, d->etag) < 0 || !perms)
        goto done;
    perm_ctx pc = {perms, beta};
    if (sp_store_members_list(api->store, d->seq, add_permission, &pc) < 0)
        goto done;

    int64_t total = d->quota_total < 0 ? 0 : d->quota_total;
    int64_t remaining = total > d->quota_used ? total - d->quota_used : 0;
    json_t *root = json_pack("{s:s, s:s, s:s, s:O}", "id", d->id, "eTag", etag.data, "webDavUrl",
                             dav.data, "permissions", perms);
    if (root && d->disabled_at_ms)
        json_object_set_new(root, "deleted", json_pack("{s:s}", "state", "trashed"));
    out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:I, s:I, s:I, s:s}, s:o, s:s}", "id",
                    d->id, "driveType", d->type, "driveAlias", d->alias, "name", d->name,
                    "description", d->description ? d->description : "",
                    "lastModifiedDateTime", mtime, "quota", "total", (json_int_t)total, "used",
                    (json_int_t)d->quota_used, "remaining", (json_int_t)remaining, "state",
                    quota_state(total, d->quota_used), "root", root, "webUrl", web.data);
    if (out && d->owner_id)
        json_object_set_new(out, "owner",
                            json_pack("{s:{s:s, s:s}}", "user", "id", d->owner_id, "displayName",
                                      d->owner_name ? d->owner_name : ""));
done:
    json_decref(perms);
    sp_buf_free(&dav);
    sp_buf_free(&web);
    sp_buf_free(&etag);
    return out;
}

typedef struct one_drive {
    sp_api *api;
    json_t *json;
    int beta;
    /* What authorization needs to know of the drive. */
    char type[16];
    char role[64];
    int disabled;
} one_drive;

static int capture_drive(const sp_drive *d, void *arg)
{
    one_drive *o = arg;
    snprintf(o->type, sizeof o->type, "%s", d->type);
    snprintf(o->role, sizeof o->role, "%s", d->role ? d->role : "");
    o->disabled = d->disabled_at_ms != 0;
    if (o->api) {
        o->json = sp_api__drive_json(o->api, d, o->beta);
        if (!o->json)
            return SP_ERR_NOMEM;
    }
    return 0;
}

void sp_api__reply_drive(sp_http_req *req, sp_api *api, const sp_user *u, const char *id,
                         unsigned status, int beta)
{
    one_drive o = {.api = api, .beta = beta};
    int rc = sp_store_drive_get(api->store, u, sp_api__is_admin(u), id, capture_drive, &o);
    if (rc == SP_ERR_NOT_FOUND)
        rc = sp_store_mountpoint_get(api->store, u, id, capture_drive, &o);
    if (rc == SP_ERR_NOT_FOUND)
        rc = sp_store_remote_get(api->store, u, id, capture_drive, &o);
    if (rc == SP_ERR_NOT_FOUND) {
        sp_http_reply_error(req, 404, "itemNotFound", "no drive %s", id);
        return;
    }
    if (rc < 0) {
        json_decref(o.json);
        sp_api__store_error(req, rc);
        return;
    }
    sp_http_reply_json(req, status, o.json);
}

void sp_api__reply_created(sp_http_req *req, sp_api *api, const sp_user *u, const char *id)
{
    sp_buf loc = {0};
    if (sp_api__id_url(&loc, api->cfg->public_url, "/graph/v1.0/drives/", id) == 0)
        sp_http_add_header(req, "Location", loc.data);
    sp_buf_free(&loc);
    sp_api__reply_drive(req, api, u, id, 201, 0);
}

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

/* Appends name=value to a query string, percent-encoding value. */
static int append_param(sp_buf *b, const char *name, const char *value)
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

/* The virtual "Shares" drive (oCIS's share jail), listed to users who
 * received a share: clients show shares received under it. */
static int add_shares_drive(sp_api *api, const sp_user *u, json_t *value)
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
    if (all && !sp_api__is_admin(&u)) {
        sp_http_reply_error(req, 403, "accessDenied", "listing all drives needs the admin role");
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
        rc = add_shares_drive(api, &u, value);
    if (rc == 0 && list_store && (!q.id || strcmp(q.id, SP_SHARES_DRIVE_ID) != 0))
        rc = sp_store_drives_list(api->store, &u, all, &q, add_drive, &lc, &more, &next);
    if (rc < 0) {
        json_decref(value);
        sp_buf_free(&key);
        sp_api__store_error(req, rc);
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
        lrc |= append_param(&link, "$top", top);
        if (sp_http_query(req, "$orderby"))
            lrc |= append_param(&link, "$orderby", sp_http_query(req, "$orderby"));
        if (sp_http_query(req, "$filter"))
            lrc |= append_param(&link, "$filter", sp_http_query(req, "$filter"));
        lrc |= append_param(&link, "$skiptoken", cursor);
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

static void get_drive(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    int beta = strncmp(sp_http_path(req), "/graph/v1beta1/", 15) == 0;
    sp_api__reply_drive(req, api, &u, sp_http_param(req, "id"), 200, beta);
}

/* ---- validation ---- */

/* Name rules of oCIS: 1-255 characters, none of / \ : ? * " > < |, not "."
 * or "..", not only white space. Returns NULL when valid, else why. */
static const char *name_problem(const char *name)
{
    size_t chars = 0;
    int blank = 1;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if ((*p & 0xc0) != 0x80)
            chars++;
        if (strchr("/\\:?*\"><|", *p))
            return "the name must not contain / \\ : ? * \" > < |";
        if (*p < 0x20 || *p == 0x7f)
            return "the name must not contain control characters";
        if (*p != ' ' && *p != '\t')
            blank = 0;
    }
    if (chars == 0 || chars > SP_DRIVE_NAME_CHARS)
        return "the name must have 1 to 255 characters";
    if (blank)
        return "the name must not be only white space";
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return "the name must not be . or ..";
    return NULL;
}

/* Rejects fields that a client may not set. Returns 0 or replies 400. */
static int reject_readonly(sp_http_req *req, json_t *body, int allow_drive_type)
{
    static const char *const readonly[] = {"id", "owner", "root", "driveAlias",
                                           "lastModifiedDateTime", "webUrl"};
    for (size_t i = 0; i < sizeof readonly / sizeof readonly[0]; i++) {
        if (json_object_get(body, readonly[i])) {
            sp_http_reply_error(req, 400, "invalidRequest", "%s cannot be set", readonly[i]);
            return SP_ERR_INVALID;
        }
    }
    json_t *t = json_object_get(body, "driveType");
    if (t && (!allow_drive_type || !json_is_string(t) ||
              strcmp(json_string_value(t), "project") != 0)) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            allow_drive_type ? "driveType must be project"
                                             : "driveType cannot be changed");
        return SP_ERR_INVALID;
    }
    json_t *quota = json_object_get(body, "quota");
    if (quota) {
        const char *key;
        json_t *v;
        if (!json_is_object(quota)) {
            sp_http_reply_error(req, 400, "invalidRequest", "quota must be an object");
            return SP_ERR_INVALID;
        }
        json_object_foreach(quota, key, v)
        {
            if (strcmp(key, "total") != 0) {
                sp_http_reply_error(req, 400, "invalidRequest",
                                    "quota.%s cannot be set; only quota.total", key);
                return SP_ERR_INVALID;
            }
        }
    }
    return 0;
}

/* Reads name/description/quota.total into the patch. Returns 0 or replies
 * 400. Strings point into body. */
static int read_fields(sp_http_req *req, json_t *body, sp_drive_patch *p)
{
    memset(p, 0, sizeof *p);
    json_t *name = json_object_get(body, "name");
    if (name) {
        const char *why = json_is_string(name) ? name_problem(json_string_value(name))
                                               : "name must be a string";
        if (why) {
            sp_http_reply_error(req, 400, "invalidRequest", "%s", why);
            return SP_ERR_INVALID;
        }
        p->name = json_string_value(name);
    }
    json_t *desc = json_object_get(body, "description");
    if (desc) {
        if (!json_is_string(desc) || strlen(json_string_value(desc)) > SP_DRIVE_DESCRIPTION_MAX) {
            sp_http_reply_error(req, 400, "invalidRequest",
                                "description must be a string of at most %d bytes",
                                SP_DRIVE_DESCRIPTION_MAX);
            return SP_ERR_INVALID;
        }
        p->description = json_string_value(desc);
    }
    json_t *total = json_object_get(json_object_get(body, "quota"), "total");
    if (total) {
        if (!json_is_integer(total) || json_integer_value(total) < 0) {
            sp_http_reply_error(req, 400, "invalidRequest",
                                "quota.total must be a non-negative integer (0 = unlimited)");
            return SP_ERR_INVALID;
        }
        p->set_quota = 1;
        p->quota_total = json_integer_value(total) == 0 ? -1 : json_integer_value(total);
    }
    return 0;
}

/* ---- changes ---- */

static void create_drive(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    if (!(u.roles & (SP_USER_ROLE_ADMIN | SP_USER_ROLE_SPACE_ADMIN))) {
        sp_http_reply_error(req, 403, "accessDenied",
                            "creating project spaces needs the space admin or admin role");
        return;
    }
    json_t *body = sp_api__json_body(req);
    if (!body)
        return;
    sp_drive_patch p;
    if (reject_readonly(req, body, 1) < 0 || read_fields(req, body, &p) < 0)
        goto done;
    if (!p.name) {
        sp_http_reply_error(req, 400, "invalidRequest", "name is required");
        goto done;
    }
    char id[SP_USER_ID_LEN];
    int rc = sp_store_drive_create(api->store, &u, p.name, p.description,
                                   p.set_quota ? p.quota_total : -1, id);
    if (rc < 0) {
        sp_api__store_error(req, rc);
        goto done;
    }
    sp_api__reply_created(req, api, &u, id);
done:
    json_decref(body);
}

/* Header "Restore: T" / "Purge: T" (oCIS sends exactly T). */
static int header_true(sp_http_req *req, const char *name)
{
    const char *v = sp_http_header(req, name);
    return v && (strcasecmp(v, "T") == 0 || strcasecmp(v, "true") == 0);
}

/* Looks up what authorization needs; replies 404 when not visible. */
static int load_for_change(sp_http_req *req, sp_api *api, const sp_user *u, const char *id,
                           one_drive *o)
{
    memset(o, 0, sizeof *o);
    int rc = sp_store_drive_get(api->store, u, sp_api__is_admin(u), id, capture_drive, o);
    if (rc == SP_ERR_NOT_FOUND)
        sp_http_reply_error(req, 404, "itemNotFound", "no drive %s", id);
    else if (rc < 0)
        sp_api__store_error(req, rc);
    return rc;
}

/* Whether u may do act to drive id (store/authz.h); answers when not. */
static int may(sp_http_req *req, sp_api *api, const sp_user *u, const char *id, sp_authz_act act)
{
    sp_authz a = {.act = act, .actor = u, .drive_id = id};
    int rc = sp_store_authorize(api->store, &a);
    if (rc < 0)
        sp_api__refuse(req, &a, rc);
    return rc;
}

static void reply_change_error(sp_http_req *req, int rc, const char *conflict)
{
    if (rc == SP_ERR_NOT_FOUND)
        sp_http_reply_error(req, 404, "itemNotFound", "no such drive");
    else if (rc == SP_ERR_DENIED)
        sp_http_reply_error(req, 403, "accessDenied", "your role on the drive changed meanwhile");
    else if (rc == SP_ERR_CONFLICT)
        sp_http_reply_error(req, 409, "conflict", "%s", conflict);
    else
        sp_api__store_error(req, rc);
}

static void patch_drive(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    const char *id = sp_http_param(req, "id");
    one_drive o;
    if (load_for_change(req, api, &u, id, &o) < 0)
        return;

    if (header_true(req, "Restore")) {
        if (may(req, api, &u, id, sp_drive_step_act(SP_DRIVE_RESTORE, NULL)) < 0)
            return;
        int rc = sp_store_drive_change(api->store, &u, id, SP_DRIVE_RESTORE, NULL);
        if (rc < 0)
            reply_change_error(req, rc, "the drive is not disabled");
        else
            sp_api__reply_drive(req, api, &u, id, 200, 0);
        return;
    }

    json_t *body = sp_api__json_body(req);
    if (!body)
        return;
    sp_drive_patch p;
    if (reject_readonly(req, body, 0) < 0 || read_fields(req, body, &p) < 0)
        goto done;
    if (!p.name && !p.description && !p.set_quota) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "nothing to change: send name, description or quota.total");
        goto done;
    }
    if (o.disabled) {
        sp_http_reply_error(req, 409, "conflict", "the drive is disabled; restore it first");
        goto done;
    }
    if (may(req, api, &u, id, sp_drive_step_act(SP_DRIVE_UPDATE, &p)) < 0)
        goto done;
    int rc = sp_store_drive_change(api->store, &u, id, SP_DRIVE_UPDATE, &p);
    if (rc < 0)
        reply_change_error(req, rc, "the drive changed meanwhile");
    else
        sp_api__reply_drive(req, api, &u, id, 200, 0);
done:
    json_decref(body);
}

static void delete_drive(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    const char *id = sp_http_param(req, "id");
    if (sp_api__remote_delete(req, api, &u, id))
        return; /* it was a remote space of the caller: removed */
    one_drive o;
    if (load_for_change(req, api, &u, id, &o) < 0)
        return;
    if (header_true(req, "Purge")) {
        if (may(req, api, &u, id, sp_drive_step_act(SP_DRIVE_PURGE, NULL)) < 0)
            return;
        if (!o.disabled) {
            sp_http_reply_error(req, 400, "invalidRequest",
                                "only a disabled drive can be purged; disable it first");
            return;
        }
        int rc = sp_store_drive_change(api->store, &u, id, SP_DRIVE_PURGE, NULL);
        if (rc < 0)
            reply_change_error(req, rc, "the drive is not disabled");
        else
            sp_http_reply_json(req, 204, NULL);
        return;
    }
    if (may(req, api, &u, id, sp_drive_step_act(SP_DRIVE_DISABLE, NULL)) < 0)
        return;
    if (o.disabled) {
        sp_http_reply_json(req, 204, NULL); /* already disabled: nothing to do */
        return;
    }
    int rc = sp_store_drive_change(api->store, &u, id, SP_DRIVE_DISABLE, NULL);
    if (rc < 0 && rc != SP_ERR_CONFLICT)
        reply_change_error(req, rc, "");
    else
        sp_http_reply_json(req, 204, NULL);
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
    static const struct {
        const char *method, *pattern;
        sp_http_handler handler;
    } routes[] = {
        {"GET", "/graph/v1.0/me/drives", list_me_v1},
        {"GET", "/graph/v1beta1/me/drives", list_me_beta},
        {"GET", "/graph/v1.0/drives", list_all_v1},
        {"GET", "/graph/v1beta1/drives", list_all_beta},
        {"POST", "/graph/v1.0/drives", create_drive},
        {"GET", "/graph/v1.0/drives/{id}", get_drive},
        {"GET", "/graph/v1beta1/drives/{id}", get_drive},
        {"PATCH", "/graph/v1.0/drives/{id}", patch_drive},
        {"DELETE", "/graph/v1.0/drives/{id}", delete_drive},
        {"GET", "/graph/v1beta1/roleManagement/permissions/roleDefinitions", role_definitions},
        {"GET", "/graph/v1beta1/roleManagement/permissions/roleDefinitions/{roleId}",
         role_definitions},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = sp_router_add(r, routes[i].method, routes[i].pattern, routes[i].handler, api);
        if (rc < 0)
            return rc;
    }
    return 0;
}
