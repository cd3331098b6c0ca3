/*
 * shared.c - the shares a user received and made, as oCIS lists them
 * (sharedWithMe, sharedByMe), and the share jail's items: mounting,
 * unmounting and hiding what one received.
 *
 * An item's name, parent, kind, size and eTag are what its storage
 * provider last reported (store/items.h); until it has, the listings show
 * the fallback of sp_item_fallback_name and no file or folder facet
 * (clients then take the item for a file), the drive root excepted: it
 * is a folder with the drive's eTag and time.
 *
 * As oCIS, sharedWithMe shows one driveItem per item, with a permission
 * per share of it the user received; its id is the mountpoint id of the
 * oldest of them, which the share jail's routes take back.
 */
#include "api/internal.h"

#include "store/shares.h"

#include "util/err.h"
#include "util/itemid.h"
#include "util/time.h"

#include <string.h>

/* The item's eTag, size, time and file or folder facet, as far as known. */
static int add_facts(json_t *o, const sp_share *s)
{
    char when[SP_TIME_RFC3339_LEN];
    int rc = 0;
    if (s->item_known) {
        sp_time_format_rfc3339(s->item.mtime_ms, when);
        rc |= json_object_set_new(o, "eTag", json_string(s->item.etag));
        rc |= json_object_set_new(o, "size", json_integer(s->item.size));
        rc |= json_object_set_new(o, "lastModifiedDateTime", json_string(when));
        if (s->item.folder)
            rc |= json_object_set_new(o, "folder", json_object());
        else
            rc |= json_object_set_new(
                o, "file",
                json_pack("{s:s}", "mimeType",
                          s->item.mime_type ? s->item.mime_type : "application/octet-stream"));
    } else if (strcmp(s->item_id, s->drive_id) == 0) {
        sp_time_format_rfc3339(s->drive_mtime_ms, when);
        rc |= json_object_set_new(o, "eTag", json_string(s->drive_etag));
        rc |= json_object_set_new(o, "lastModifiedDateTime", json_string(when));
        rc |= json_object_set_new(o, "folder", json_object());
    }
    return rc ? SP_ERR_NOMEM : 0;
}

/* Where the item is in its drive: driveId, driveType and, as far as
 * known, the parent's id and path ("." for the drive root, as oCIS). New
 * reference. */
static json_t *parent_reference(const sp_share *s)
{
    json_t *ref = json_pack("{s:s, s:s}", "driveId", s->drive_id, "driveType", s->drive_type);
    if (!ref)
        return NULL;
    int rc = 0;
    if (strcmp(s->item_id, s->drive_id) == 0) {
        rc = json_object_set_new(ref, "path", json_string("."));
    } else if (s->item_known && s->item.parent_id) {
        const char *slash = strrchr(s->item.path, '/');
        size_t n = slash && slash != s->item.path ? (size_t)(slash - s->item.path) : 1;
        rc = json_object_set_new(ref, "id", json_string(s->item.parent_id)) |
             json_object_set_new(ref, "path", json_stringn(s->item.path, n));
    }
    if (rc) {
        json_decref(ref);
        return NULL;
    }
    return ref;
}

/* Appends p (stolen) to the permissions array of o. */
static int add_permission(json_t *o, json_t *p)
{
    return p && json_array_append_new(json_object_get(o, "permissions"), p) == 0 ? 0
                                                                                 : SP_ERR_NOMEM;
}

/* The driveItem of sharedWithMe for the item of s, its first (oldest)
 * share; the others add their permissions. New reference. */
static json_t *received_item(const sp_share *s)
{
    char created[SP_TIME_RFC3339_LEN];
    sp_time_format_rfc3339(s->created_at_ms, created);
    json_t *remote = json_pack(
        "{s:s, s:s, s:s, s:o, s:[], s:o, s:{s:o, s:s, s:o}}", "id", s->item_id, "driveId",
        s->drive_id, "name", s->item_name, "parentReference", parent_reference(s), "permissions",
        "createdBy", sp_api__user_json(s->creator_id, s->creator_name), "shared", "sharedBy",
        sp_api__user_json(s->creator_id, s->creator_name), "sharedDateTime", created, "owner",
        sp_api__user_json(s->creator_id, s->creator_name));
    if (!remote || add_facts(remote, s) < 0) {
        json_decref(remote);
        return NULL;
    }
    /* The share jail holds the item: its parent is the jail's root. */
    json_t *item = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:b, s:b, s:o}", "id", s->mount_id,
                             "name", s->item_name, "parentReference", "driveId",
                             SP_SHARES_DRIVE_ID, "driveType", "virtual", "id", SP_SHARES_DRIVE_ID,
                             "@client.synchronize", s->mounted, "@UI.Hidden", s->hidden,
                             "remoteItem", remote);
    if (!item || add_facts(item, s) < 0) {
        json_decref(item);
        return NULL;
    }
    return item;
}

/* Whether item o (a driveItem, or its remoteItem) is the item of s. */
static int same_item(json_t *o, const char *item_key, const sp_share *s)
{
    json_t *ref = json_object_get(o, "parentReference");
    const char *id = json_string_value(json_object_get(o, item_key));
    const char *drive = json_string_value(json_object_get(ref, "driveId"));
    return id && drive && strcmp(id, s->item_id) == 0 && strcmp(drive, s->drive_id) == 0;
}

/* Adds a share received to the list (the store lists them by item,
 * oldest first): a new driveItem, or a permission of the last one. The
 * item is synchronized when any of its shares is mounted and hidden when
 * any is hidden, as oCIS. */
static int append_received(const sp_share *s, void *arg)
{
    json_t *value = arg;
    json_t *last = json_array_get(value, json_array_size(value) - 1);
    if (!last || !same_item(json_object_get(last, "remoteItem"), "id", s)) {
        last = received_item(s);
        if (!last || json_array_append_new(value, last) < 0)
            return SP_ERR_NOMEM;
    }
    if (s->mounted)
        json_object_set_new(last, "@client.synchronize", json_true());
    if (s->hidden)
        json_object_set_new(last, "@UI.Hidden", json_true());
    return add_permission(json_object_get(last, "remoteItem"), sp_api__share_permission_json(s));
}

/* The caller's sharedWithMe list into *value (new). */
static int list_received(sp_api *api, const sp_user *u, json_t **value)
{
    *value = json_array();
    int rc = *value ? sp_store_shares_received(api->store, u, append_received, *value)
                    : SP_ERR_NOMEM;
    if (rc < 0) {
        json_decref(*value);
        *value = NULL;
    }
    return rc;
}

static void shared_with_me(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    json_t *value;
    int rc = list_received(api, &u, &value);
    if (rc < 0)
        sp_api__store_error(req, api, rc);
    else
        sp_http_reply_json(req, 200, json_pack("{s:o}", "value", value));
}

/* Shares made by the caller, one driveItem per item with its permissions
 * (the store lists them ordered by item). */
static int append_created(const sp_share *s, void *arg)
{
    json_t *value = arg;
    json_t *last = json_array_get(value, json_array_size(value) - 1);
    if (!last || !same_item(last, "id", s)) {
        last = json_pack("{s:s, s:s, s:o, s:[]}", "id", s->item_id, "name", s->item_name,
                         "parentReference", parent_reference(s), "permissions");
        if (!last || add_facts(last, s) < 0) {
            json_decref(last);
            return SP_ERR_NOMEM;
        }
        if (json_array_append_new(value, last) < 0) /* it took last, and freed it */
            return SP_ERR_NOMEM;
    }
    return add_permission(last, sp_api__share_permission_json(s));
}

static void shared_by_me(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    json_t *value = json_array();
    int rc = value ? sp_store_shares_created(api->store, &u, append_created, value)
                   : SP_ERR_NOMEM;
    if (rc < 0) {
        json_decref(value);
        sp_api__store_error(req, api, rc);
        return;
    }
    sp_http_reply_json(req, 200, json_pack("{s:o}", "value", value));
}

/* ---- the share jail's items ---- */

/* Authenticates and checks that the route's drive is the share jail
 * (400 otherwise, as oCIS). Returns 0 or has replied. */
static int jail(sp_http_req *req, sp_api *api, sp_user *u)
{
    if (sp_api__caller(req, api, u) < 0)
        return SP_ERR_UNAUTHORIZED;
    if (strcmp(sp_http_param(req, "driveId"), SP_SHARES_DRIVE_ID) != 0) {
        sp_http_reply_error(req, 400, "invalidRequest", "id does not belong to a share jail");
        return SP_ERR_INVALID;
    }
    return 0;
}

/* jail, then the request's JSON body (new reference), or NULL when it has
 * replied. */
static json_t *jail_body(sp_http_req *req, sp_api *api, sp_user *u)
{
    return jail(req, api, u) < 0 ? NULL : sp_api__json_body(req);
}

/* The mountpoint id a share jail item id names: the id sharedWithMe
 * lists, also in oCIS's form "<jail drive id>!<id>". Either is an item id
 * of the jail, under the one rule (util/itemid.h): anything else answers
 * 400 before anything is read. Returns the id, or NULL when it has
 * replied. */
static const char *jail_item(sp_http_req *req)
{
    const char *id = sp_http_param(req, "itemId");
    size_t n = strlen(SP_SHARES_DRIVE_ID);
    const char *mount = strncmp(id, SP_SHARES_DRIVE_ID "!", n + 1) == 0 ? id + n + 1 : id;
    const char *why = NULL;
    if (sp_itemid_check_opaque(mount, &why) < 0) {
        sp_http_reply_error(req, 400, "invalidRequest", "itemId %s", why);
        return NULL;
    }
    return mount;
}

/* Replies status with the caller's driveItem of item_id, as
 * sharedWithMe lists it. */
static void reply_item(sp_http_req *req, sp_api *api, const sp_user *u, const char *item_id,
                       unsigned status)
{
    json_t *value, *item;
    size_t i;
    int rc = list_received(api, u, &value);
    if (rc < 0) {
        sp_api__store_error(req, api, rc);
        return;
    }
    json_array_foreach(value, i, item)
    {
        json_t *remote = json_object_get(item, "remoteItem");
        if (strcmp(json_string_value(json_object_get(remote, "id")), item_id) == 0) {
            sp_http_reply_json(req, status, json_incref(item));
            json_decref(value);
            return;
        }
    }
    json_decref(value);
    sp_http_reply_error(req, 404, "itemNotFound", "no shares found");
}

/* Sets the state of the caller's shares of one item and replies: 404
 * when they received none, 409 when mounting or unmounting changes
 * nothing (as oCIS). */
static void set_state(sp_http_req *req, sp_api *api, const sp_user *u, const char *item_id,
                      const char *mount_id, sp_share_state state, int value, unsigned status)
{
    char item[SP_SHARE_ITEM_ID_MAX];
    int rc = sp_store_share_state_set(api->store, u, item_id, mount_id, state, value, item);
    if (rc == SP_ERR_NOT_FOUND)
        sp_http_reply_error(req, 404, "itemNotFound", "no shares found");
    else if (rc == SP_ERR_CONFLICT)
        sp_http_reply_error(req, 409, "nameAlreadyExists", "shares already %s",
                            value ? "mounted" : "unmounted");
    else if (rc < 0)
        sp_api__store_error(req, api, rc);
    else if (status == 204)
        sp_http_reply_json(req, 204, NULL);
    else
        reply_item(req, api, u, item, status);
}

/* POST .../drives/{jail}/root/children {"remoteItem": {"id"}}: mounts
 * every share of that item the caller received. The name oCIS takes for
 * the mountpoint is not kept: mountpoints are named after the item. */
static void mount(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    json_t *body = jail_body(req, api, &u);
    if (!body)
        return;
    const char *id = json_string_value(json_object_get(json_object_get(body, "remoteItem"), "id"));
    const char *why = NULL;
    if (!id || !*id)
        sp_http_reply_error(req, 400, "invalidRequest", "invalid id: send remoteItem.id");
    else if (sp_itemid_check_any(id, &why) < 0) /* the rule of every item id */
        sp_http_reply_error(req, 400, "invalidRequest", "remoteItem.id %s", why);
    else
        set_state(req, api, &u, id, NULL, SP_SHARE_MOUNTED, 1, 201);
    json_decref(body);
}

/* DELETE .../drives/{jail}/items/{id}: unmounts. */
static void unmount(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    const char *mount = jail(req, api, &u) == 0 ? jail_item(req) : NULL;
    if (mount)
        set_state(req, api, &u, NULL, mount, SP_SHARE_MOUNTED, 0, 204);
}

/* PATCH .../drives/{jail}/items/{id} {"@UI.Hidden": bool}: hides or
 * shows again. */
static void hide(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    json_t *body = jail_body(req, api, &u);
    if (!body)
        return;
    json_t *hidden = json_object_get(body, "@UI.Hidden");
    const char *mount = NULL;
    if (!json_is_boolean(hidden) || json_object_size(body) != 1)
        sp_http_reply_error(req, 400, "invalidRequest",
                            "invalid request body: send {\"@UI.Hidden\": true or false}");
    else if ((mount = jail_item(req)) != NULL)
        set_state(req, api, &u, NULL, mount, SP_SHARE_HIDDEN, json_is_true(hidden), 200);
    json_decref(body);
}

/* GET .../drives/{jail}/items/{id}: the driveItem as sharedWithMe. */
static void get_item(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    const char *mount = jail(req, api, &u) == 0 ? jail_item(req) : NULL;
    if (!mount)
        return;
    char item[SP_SHARE_ITEM_ID_MAX];
    int rc = sp_store_share_item_of_mount(api->store, &u, mount, item);
    if (rc == SP_ERR_NOT_FOUND)
        sp_http_reply_error(req, 404, "itemNotFound", "no shares found");
    else if (rc < 0)
        sp_api__store_error(req, api, rc);
    else
        reply_item(req, api, &u, item, 200);
}

int sp_api__register_shared(sp_router *r, sp_api *api)
{
    static const sp_api_route routes[] = {
        {"GET", "/graph/v1beta1/me/drive/sharedWithMe", shared_with_me},
        {"GET", "/graph/v1beta1/me/drive/sharedByMe", shared_by_me},
        {"POST", "/graph/v1beta1/drives/{driveId}/root/children", mount},
        {"GET", "/graph/v1beta1/drives/{driveId}/items/{itemId}", get_item},
        {"PATCH", "/graph/v1beta1/drives/{driveId}/items/{itemId}", hide},
        {"DELETE", "/graph/v1beta1/drives/{driveId}/items/{itemId}", unmount},
    };
    return sp_api__add_routes(r, api, routes, sizeof routes / sizeof routes[0]);
}
