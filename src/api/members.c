/*
 * members.c - space members through libre-graph's root permissions:
 * invite, list, change role or expiry, remove.
 */
#include "api/internal.h"

#include "api/roles.h"

#include "util/err.h"
#include "util/time.h"

#include <stdio.h>
#include <string.h>

typedef struct drive_auth {
    int64_t seq;
    char type[16];
    char role[64];
    int disabled;
} drive_auth;

static int capture(const sp_drive *d, void *arg)
{
    drive_auth *a = arg;
    a->seq = d->seq;
    snprintf(a->type, sizeof a->type, "%s", d->type);
    snprintf(a->role, sizeof a->role, "%s", d->role ? d->role : "");
    a->disabled = d->disabled_at_ms != 0;
    return 0;
}

/* Authenticates, finds the drive (404 when not visible) and, when manage
 * is set, requires the Manager role (or admin). Returns 0 or has replied. */
static int prepare(sp_http_req *req, sp_api *api, sp_user *u, drive_auth *a, int manage)
{
    if (sp_api__caller(req, api, u) < 0)
        return SP_ERR_UNAUTHORIZED;
    const char *id = sp_http_param(req, "id");
    memset(a, 0, sizeof *a);
    int rc = sp_store_drive_get(api->store, u, sp_api__is_admin(u), id, capture, a);
    if (rc == SP_ERR_NOT_FOUND) {
        sp_http_reply_error(req, 404, "itemNotFound", "no drive %s", id);
        return rc;
    }
    if (rc < 0) {
        sp_api__store_error(req, rc);
        return rc;
    }
    if (manage && !sp_api__is_admin(u) && !sp_role_can(a->role, SP_CAN_MANAGE)) {
        sp_http_reply_error(req, 403, "accessDenied", "managing members needs the Manager role");
        return SP_ERR_DENIED;
    }
    return 0;
}

/* Reads "expirationDateTime" (absent: *set = 0; null: none). Returns 0 or
 * replies 400. */
static int read_expiry(sp_http_req *req, json_t *body, int *set, int64_t *ms)
{
    json_t *e = json_object_get(body, "expirationDateTime");
    *set = e != NULL;
    *ms = 0;
    if (!e || json_is_null(e))
        return 0;
    if (!json_is_string(e) || sp_time_parse_rfc3339(json_string_value(e), ms) < 0) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "expirationDateTime must be an RFC 3339 date-time");
        return SP_ERR_INVALID;
    }
    if (*ms <= sp_time_now_ms()) {
        sp_http_reply_error(req, 400, "invalidRequest", "expirationDateTime is in the past");
        return SP_ERR_INVALID;
    }
    return 0;
}

/* Reads the single role of "roles"; it must be a space role. */
static int read_role(sp_http_req *req, json_t *body, const char **role)
{
    json_t *roles = json_object_get(body, "roles");
    const sp_role *r = NULL;
    if (json_is_array(roles) && json_array_size(roles) == 1)
        r = sp_role_find(json_string_value(json_array_get(roles, 0)));
    if (!r || !(r->applies & SP_ROLE_ON_DRIVE)) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "roles must hold one space role id: Manager " SP_ROLE_MANAGER
                            ", SpaceEditor " SP_ROLE_SPACE_EDITOR
                            ", SpaceViewer " SP_ROLE_SPACE_VIEWER);
        return SP_ERR_INVALID;
    }
    *role = r->id;
    return 0;
}

typedef struct perm_find {
    const char *id; /* permission id to find, or NULL for all */
    json_t *list;
} perm_find;

static int add_perm(const sp_member *m, void *arg)
{
    perm_find *pf = arg;
    if (pf->id && strcmp(pf->id, m->id) != 0)
        return 0;
    json_t *p = json_pack("{s:s, s:[s], s:{s:{s:s, s:s}}}", "id", m->id, "roles", m->role,
                          "grantedToV2", "user", "id", m->user_id, "displayName", m->user_name);
    if (p && m->expires_at_ms) {
        char when[SP_TIME_RFC3339_LEN];
        sp_time_format_rfc3339(m->expires_at_ms, when);
        json_object_set_new(p, "expirationDateTime", json_string(when));
    }
    return p && json_array_append_new(pf->list, p) == 0 ? 0 : SP_ERR_NOMEM;
}

static void invite(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    drive_auth a;
    if (prepare(req, api, &u, &a, 1) < 0)
        return;
    const char *drive_id = sp_http_param(req, "id");
    if (strcmp(a.type, "project") != 0) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "members can be added to project spaces only");
        return;
    }
    json_t *body = sp_api__json_body(req);
    if (!body)
        return;
    json_t *value = json_array();
    const char *role;
    int set_expiry;
    int64_t expiry;
    json_t *recipients = json_object_get(body, "recipients");
    if (read_role(req, body, &role) < 0 || read_expiry(req, body, &set_expiry, &expiry) < 0)
        goto done;
    if (!json_is_array(recipients) || json_array_size(recipients) == 0) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "recipients must be a non-empty array of {\"objectId\": user id}");
        goto done;
    }
    size_t i;
    json_t *rcpt;
    json_array_foreach(recipients, i, rcpt)
    {
        const char *grantee = json_string_value(json_object_get(rcpt, "objectId"));
        if (!grantee) {
            sp_http_reply_error(req, 400, "invalidRequest", "recipient %zu has no objectId", i);
            goto done;
        }
        char perm[SP_USER_ID_LEN];
        int rc = sp_store_member_add(api->store, &u, drive_id, grantee, role, expiry, perm);
        if (rc == SP_ERR_NOT_FOUND) {
            sp_http_reply_error(req, 400, "invalidRequest", "no user %s", grantee);
            goto done;
        }
        if (rc == SP_ERR_CONFLICT) {
            sp_http_reply_error(req, 409, "nameAlreadyExists", "%s is already a member", grantee);
            goto done;
        }
        if (rc < 0) {
            sp_api__store_error(req, rc);
            goto done;
        }
        perm_find pf = {perm, value};
        rc = sp_store_members_list(api->store, a.seq, add_perm, &pf);
        if (rc < 0) {
            sp_api__store_error(req, rc);
            goto done;
        }
    }
    sp_http_reply_json(req, 200, json_pack("{s:O}", "value", value));
done:
    json_decref(value);
    json_decref(body);
}

static void list_permissions(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    drive_auth a;
    if (prepare(req, api, &u, &a, 0) < 0)
        return;
    json_t *value = json_array();
    perm_find pf = {NULL, value};
    int rc = sp_store_members_list(api->store, a.seq, add_perm, &pf);
    if (rc < 0) {
        json_decref(value);
        sp_api__store_error(req, rc);
        return;
    }
    sp_http_reply_json(req, 200,
                       json_pack("{s:o, s:o}", "@libre.graph.permissions.roles.allowedValues",
                                 sp_roles_json(SP_ROLE_ON_DRIVE), "value", value));
}

typedef struct member_of {
    const char *perm_id;
    char user_id[SP_USER_ID_LEN];
} member_of;

static int find_member(const sp_member *m, void *arg)
{
    member_of *mo = arg;
    if (strcmp(m->id, mo->perm_id) == 0)
        snprintf(mo->user_id, sizeof mo->user_id, "%s", m->user_id);
    return 0;
}

/* PATCH changes role and/or expiry; DELETE removes. A member may always
 * remove themselves (leave a space); everything else needs Manager. */
static void change_permission(sp_http_req *req, sp_api *api, int remove)
{
    sp_user u;
    drive_auth a;
    if (prepare(req, api, &u, &a, 0) < 0)
        return;
    const char *drive_id = sp_http_param(req, "id");
    const char *perm_id = sp_http_param(req, "permId");
    int manage = sp_api__is_admin(&u) || sp_role_can(a.role, SP_CAN_MANAGE);
    json_t *body = NULL;
    const char *role = NULL;
    int set_expiry = 0;
    int64_t expiry = 0;
    if (!remove) {
        body = sp_api__json_body(req);
        if (!body)
            return;
        if (json_object_get(body, "roles") && read_role(req, body, &role) < 0)
            goto done;
        if (read_expiry(req, body, &set_expiry, &expiry) < 0)
            goto done;
        if (!role && !set_expiry) {
            sp_http_reply_error(req, 400, "invalidRequest",
                                "nothing to change: send roles or expirationDateTime");
            goto done;
        }
    }
    if (!manage) {
        member_of mo = {perm_id, ""};
        int rc = sp_store_members_list(api->store, a.seq, find_member, &mo);
        if (rc < 0) {
            sp_api__store_error(req, rc);
            goto done;
        }
        if (!remove || strcmp(mo.user_id, u.id) != 0) {
            sp_http_reply_error(req, 403, "accessDenied",
                                "managing members needs the Manager role");
            goto done;
        }
    }
    int rc = sp_store_member_change(api->store, &u, drive_id, perm_id, remove, role, set_expiry,
                                    expiry);
    if (rc == SP_ERR_NOT_FOUND) {
        sp_http_reply_error(req, 404, "itemNotFound", "no permission %s", perm_id);
    } else if (rc == SP_ERR_DENIED) {
        sp_http_reply_error(req, 409, "conflict",
                            "a space keeps at least one Manager; add another Manager first");
    } else if (rc < 0) {
        sp_api__store_error(req, rc);
    } else if (remove) {
        sp_http_reply_json(req, 204, NULL);
    } else {
        json_t *value = json_array();
        perm_find pf = {perm_id, value};
        rc = sp_store_members_list(api->store, a.seq, add_perm, &pf);
        if (rc < 0 || json_array_size(value) != 1)
            sp_api__store_error(req, rc < 0 ? rc : SP_ERR_DB);
        else
            sp_http_reply_json(req, 200, json_incref(json_array_get(value, 0)));
        json_decref(value);
    }
done:
    json_decref(body);
}

static void patch_permission(sp_http_req *req, void *ctx)
{
    change_permission(req, ctx, 0);
}

static void delete_permission(sp_http_req *req, void *ctx)
{
    change_permission(req, ctx, 1);
}

int sp_api__register_members(sp_router *r, sp_api *api)
{
    static const struct {
        const char *method, *pattern;
        sp_http_handler handler;
    } routes[] = {
        {"POST", "/graph/v1beta1/drives/{id}/root/invite", invite},
        {"GET", "/graph/v1beta1/drives/{id}/root/permissions", list_permissions},
        {"GET", "/graph/v1.0/drives/{id}/root/permissions", list_permissions},
        {"PATCH", "/graph/v1beta1/drives/{id}/root/permissions/{permId}", patch_permission},
        {"DELETE", "/graph/v1beta1/drives/{id}/root/permissions/{permId}", delete_permission},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = sp_router_add(r, routes[i].method, routes[i].pattern, routes[i].handler, api);
        if (rc < 0)
            return rc;
    }
    return 0;
}
