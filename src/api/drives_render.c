/*
 * drives_render.c - drives as libre-graph renders them: a drive with its
 * quota and root (root.permissions in the v1.0 or the v1beta1 form), a
 * share received as a mountpoint, and the answers that carry one drive.
 */
#include "api/internal.h"

#include "api/roles.h"

#include "store/remotes.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/slug.h"
#include "util/time.h"
#include "util/url.h"

#include <stdio.h>
#include <string.h>

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
    json_t *who = sp_api__grantee_json(m->user_id, m->user_name, m->group_id, m->group_name);
    json_t *p;
    if (pc->beta) {
        p = json_pack("{s:s, s:[s], s:o}", "id", m->id, "roles", m->role, "grantedToV2", who);
    } else {
        const sp_role *r = sp_role_find(m->role);
        p = json_pack("{s:s, s:[s], s:[o]}", "id", m->id, "roles", r ? r->legacy_name : "viewer",
                      "grantedToIdentities", who);
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

/* The one drive an answer carries, rendered in the route's form. */
typedef struct one_drive {
    sp_api *api;
    json_t *json; /* new reference, NULL until found */
    int beta;
} one_drive;

static int capture_drive(const sp_drive *d, void *arg)
{
    one_drive *o = arg;
    json_decref(o->json);
    o->json = sp_api__drive_json(o->api, d, o->beta);
    return o->json ? 0 : SP_ERR_NOMEM;
}

int sp_api__drive_seen(const sp_drive *d, void *ctx)
{
    (void)d;
    (void)ctx;
    return 0;
}

int sp_api__drive_find(sp_api *api, const sp_user *u, int as_admin, const char *id,
                       sp_drive_fn fn, void *ctx)
{
    return sp_store_drive_find(api->store, u, as_admin, id, fn, ctx);
}

void sp_api__reply_drive(sp_http_req *req, sp_api *api, const sp_user *u, const char *id,
                         unsigned status, int beta)
{
    one_drive o = {.api = api, .beta = beta};
    int rc = sp_api__drive_find(api, u, sp_api__sees_all_drives(u), id, capture_drive, &o);
    if (rc == SP_ERR_NOT_FOUND) {
        sp_http_reply_error(req, 404, "itemNotFound", "no drive %s", id);
        return;
    }
    if (rc < 0) {
        json_decref(o.json);
        sp_api__store_error(req, api, rc);
        return;
    }
    sp_http_reply_json(req, status, o.json);
}

void sp_api__reply_created(sp_http_req *req, sp_api *api, const sp_user *u, const char *id,
                           int beta)
{
    sp_buf loc = {0};
    const char *path = beta ? "/graph/v1beta1/drives/" : "/graph/v1.0/drives/";
    if (sp_api__id_url(&loc, api->cfg->public_url, path, id) == 0)
        sp_http_add_header(req, "Location", loc.data);
    sp_buf_free(&loc);
    sp_api__reply_drive(req, api, u, id, 201, beta);
}
