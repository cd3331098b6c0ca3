/*
 * drives_write.c - the drive writes of libre-graph, on v1.0 and v1beta1
 * alike: creating project drives, renaming, describing, quota, disable
 * (DELETE), restore (PATCH with "Restore: T") and purge (DELETE with
 * "Purge: T"). ownCloud Web writes through v1beta1 and builds its space
 * from the answer, so each version answers the drive in its own form.
 */
#include "api/internal.h"

#include "util/err.h"

#include <string.h>

/* Longest drive name, in characters, as oCIS allows. */
#define SP_DRIVE_NAME_CHARS 255
/* Longest description in bytes; it is a short text shown under the name. */
#define SP_DRIVE_DESCRIPTION_MAX 2048

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
        sp_api__store_error(req, api, rc);
        goto done;
    }
    sp_api__reply_created(req, api, &u, id, sp_api__is_beta(req));
done:
    json_decref(body);
}

/* Header "Restore" / "Purge" set to true as oCIS reads it (Go's
 * strconv.ParseBool): ownCloud Web sends "T" to purge and "true" to
 * restore. */
static int header_true(sp_http_req *req, const char *name)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    const char *v = sp_http_header(req, name);
    for (size_t i = 0; v && i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp(v, yes[i]) == 0)
            return 1;
    }
    return 0;
}

static int capture_disabled(const sp_drive *d, void *arg)
{
    *(int *)arg = d->disabled_at_ms != 0;
    return 0;
}

/* Reads whether drive id is disabled, as u sees it; replies 404 when u
 * does not see it. */
static int load_for_change(sp_http_req *req, sp_api *api, const sp_user *u, const char *id,
                           int *disabled)
{
    *disabled = 0;
    int rc = sp_store_drive_get(api->store, u, sp_api__sees_all_drives(u), id, capture_disabled,
                                disabled);
    if (rc == SP_ERR_NOT_FOUND)
        sp_http_reply_error(req, 404, "itemNotFound", "no drive %s", id);
    else if (rc < 0)
        sp_api__store_error(req, api, rc);
    return rc;
}

/* Whether u may do act to drive id (store/authz.h); answers when not. */
static int may(sp_http_req *req, sp_api *api, const sp_user *u, const char *id, sp_authz_act act)
{
    sp_authz a = {.act = act, .actor = u, .drive_id = id};
    int rc = sp_store_authorize(api->store, &a);
    if (rc < 0)
        sp_api__refuse(req, api, &a, rc);
    return rc;
}

static void reply_change_error(sp_http_req *req, sp_api *api, int rc, const char *conflict)
{
    if (rc == SP_ERR_NOT_FOUND)
        sp_http_reply_error(req, 404, "itemNotFound", "no such drive");
    else if (rc == SP_ERR_DENIED)
        sp_http_reply_error(req, 403, "accessDenied", "your role on the drive changed meanwhile");
    else if (rc == SP_ERR_CONFLICT)
        sp_http_reply_error(req, 409, "conflict", "%s", conflict);
    else
        sp_api__store_error(req, api, rc);
}

static void patch_drive(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    const char *id = sp_http_param(req, "id");
    int disabled;
    if (load_for_change(req, api, &u, id, &disabled) < 0)
        return;

    if (header_true(req, "Restore")) {
        if (may(req, api, &u, id, sp_drive_step_act(SP_DRIVE_RESTORE, NULL)) < 0)
            return;
        int rc = sp_store_drive_change(api->store, &u, id, SP_DRIVE_RESTORE, NULL);
        if (rc < 0)
            reply_change_error(req, api, rc, "the drive is not disabled");
        else
            sp_api__reply_drive(req, api, &u, id, 200, sp_api__is_beta(req));
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
    if (disabled) {
        sp_http_reply_error(req, 409, "conflict", "the drive is disabled; restore it first");
        goto done;
    }
    if (may(req, api, &u, id, sp_drive_step_act(SP_DRIVE_UPDATE, &p)) < 0)
        goto done;
    int rc = sp_store_drive_change(api->store, &u, id, SP_DRIVE_UPDATE, &p);
    if (rc < 0)
        reply_change_error(req, api, rc, "the drive changed meanwhile");
    else
        sp_api__reply_drive(req, api, &u, id, 200, sp_api__is_beta(req));
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
    int disabled;
    if (load_for_change(req, api, &u, id, &disabled) < 0)
        return;
    if (header_true(req, "Purge")) {
        if (may(req, api, &u, id, sp_drive_step_act(SP_DRIVE_PURGE, NULL)) < 0)
            return;
        if (!disabled) {
            sp_http_reply_error(req, 400, "invalidRequest",
                                "only a disabled drive can be purged; disable it first");
            return;
        }
        int rc = sp_store_drive_change(api->store, &u, id, SP_DRIVE_PURGE, NULL);
        if (rc < 0)
            reply_change_error(req, api, rc, "the drive is not disabled");
        else
            sp_http_reply_json(req, 204, NULL);
        return;
    }
    if (may(req, api, &u, id, sp_drive_step_act(SP_DRIVE_DISABLE, NULL)) < 0)
        return;
    if (disabled) {
        sp_http_reply_json(req, 204, NULL); /* already disabled: nothing to do */
        return;
    }
    int rc = sp_store_drive_change(api->store, &u, id, SP_DRIVE_DISABLE, NULL);
    if (rc < 0 && rc != SP_ERR_CONFLICT)
        reply_change_error(req, api, rc, "");
    else
        sp_http_reply_json(req, 204, NULL);
}


int sp_api__register_drive_writes(sp_router *r, sp_api *api)
{
    static const sp_api_route routes[] = {
        {"POST", "/graph/v1.0/drives", create_drive},
        {"POST", "/graph/v1beta1/drives", create_drive},
        {"PATCH", "/graph/v1.0/drives/{id}", patch_drive},
        {"PATCH", "/graph/v1beta1/drives/{id}", patch_drive},
        {"DELETE", "/graph/v1.0/drives/{id}", delete_drive},
        {"DELETE", "/graph/v1beta1/drives/{id}", delete_drive},
    };
    return sp_api__add_routes(r, api, routes, sizeof routes / sizeof routes[0]);
}
