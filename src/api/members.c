/*
 * members.c - space members through libre-graph's root permissions:
 * invite, list, change role or expiry, remove.
 *
 * Who may: a Manager of the space or an admin; a member may also leave.
 * The rules are store/authz.h's: decided here, and again in the write.
 */
#include "api/internal.h"

#include "api/roles.h"

#include "util/err.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Authenticates and decides act on the route's drive (and permission,
 * when the route has one). Returns 0 or has replied. */
static int prepare(sp_http_req *req, sp_api *api, sp_authz_act act, sp_user *u, sp_authz *a)
{
    *a = (sp_authz){.act = act,
                    .drive_id = sp_http_param(req, "id"),
                    .target_id = sp_http_param(req, "permId")};
    return sp_api__authorize(req, api, u, a);
}

/* Reads the single role of "roles"; it must be a space role. */
static int read_role(sp_http_req *req, json_t *body, const char **role)
{
    const sp_role *r = sp_api__read_role(req, body, SP_ROLE_ON_DRIVE,
                                         "roles must hold one space role id: Manager " SP_ROLE_MANAGER
                                         ", SpaceEditor " SP_ROLE_SPACE_EDITOR
                                         ", SpaceViewer " SP_ROLE_SPACE_VIEWER);
    if (!r)
        return SP_ERR_INVALID;
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
    json_t *p =
        json_pack("{s:s, s:[s], s:o}", "id", m->id, "roles", m->role, "grantedToV2",
                  sp_api__grantee_json(m->user_id, m->user_name, m->group_id, m->group_name));
    if (p && m->expires_at_ms) {
        char when[SP_TIME_RFC3339_LEN];
        sp_time_format_rfc3339(m->expires_at_ms, when);
        json_object_set_new(p, "expirationDateTime", json_string(when));
    }
    return p && json_array_append_new(pf->list, p) == 0 ? 0 : SP_ERR_NOMEM;
}

/* A member invitation on its way through the store's writer thread; the
 * drive is w.authz's, the recipients' object ids are in w.body. */
typedef struct enrolment {
    sp_api_write w;
    const char *role; /* a role id constant */
    int64_t expiry;
    int refused; /* the store refused recipient failed (the job's error) */
    size_t failed, count;
    struct {
        const char *user_id; /* a user's or, with group, a group's id */
        int group;
        char perm[SP_USER_ID_LEN];
    } to[];
} enrolment;

/* On the writer thread: one member per recipient, up to the first the
 * store refuses (those before it stay, as with one request each). */
static int invite_run(sp_store *st, sp_api_write *w)
{
    enrolment *e = (enrolment *)w;
    for (size_t i = 0; i < e->count; i++) {
        int rc = e->to[i].group
                     ? sp_store_member_add_group(st, &w->user, w->authz.drive_id, e->to[i].user_id,
                                                 e->role, e->to[i].perm)
                     : sp_store_member_add(st, &w->user, w->authz.drive_id, e->to[i].user_id,
                                           e->role, e->expiry, e->to[i].perm);
        if (rc < 0) {
            e->refused = 1;
            e->failed = i;
            return rc;
        }
    }
    return 0;
}

/* The new members' permissions, once durable. */
static void invite_answer(sp_http_req *req, sp_api_write *w, int rc)
{
    enrolment *e = (enrolment *)w;
    const char *who = e->refused ? e->to[e->failed].user_id : "";
    const char *kind = e->refused && e->to[e->failed].group ? "group" : "user";
    json_t *value = json_array();
    if (rc == SP_ERR_NOT_FOUND && e->refused)
        sp_http_reply_error(req, 400, "invalidRequest", "no %s %s", kind, who);
    else if (rc == SP_ERR_CONFLICT && e->refused)
        sp_http_reply_error(req, 409, "nameAlreadyExists", "%s is already a member", who);
    else if (rc < 0)
        sp_api__store_error(req, w->api, rc);
    for (size_t i = 0; rc == 0 && i < e->count; i++) {
        perm_find pf = {e->to[i].perm, value};
        rc = sp_store_members_list(w->api->store, w->authz.drive_seq, add_perm, &pf);
        if (rc < 0)
            sp_api__store_error(req, w->api, rc);
    }
    if (rc == 0)
        sp_http_reply_json(req, 200, json_pack("{s:O}", "value", value));
    json_decref(value);
}

static void invite(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    sp_authz a;
    if (prepare(req, api, SP_AUTHZ_MANAGE_MEMBERS, &u, &a) < 0)
        return;
    if (strcmp(a.drive_type, "project") != 0) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "members can be added to project spaces only");
        return;
    }
    json_t *body = sp_api__json_body(req);
    if (!body)
        return;
    enrolment *e = NULL;
    const char *role;
    int set_expiry;
    int64_t expiry;
    json_t *recipients = json_object_get(body, "recipients");
    if (read_role(req, body, &role) < 0 || sp_api__read_expiry(req, body, &set_expiry, &expiry) < 0)
        goto fail;
    if (!json_is_array(recipients) || json_array_size(recipients) == 0) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "recipients must be a non-empty array of {\"objectId\": user id}");
        goto fail;
    }
    size_t count = json_array_size(recipients);
    e = calloc(1, sizeof *e + count * sizeof e->to[0]);
    if (!e) {
        sp_api__store_error(req, api, SP_ERR_NOMEM);
        goto fail;
    }
    size_t i;
    json_t *rcpt;
    json_array_foreach(recipients, i, rcpt)
    {
        e->to[i].user_id = json_string_value(json_object_get(rcpt, "objectId"));
        if (!e->to[i].user_id) {
            sp_http_reply_error(req, 400, "invalidRequest", "recipient %zu has no objectId", i);
            goto fail;
        }
        if (sp_api__recipient_type(rcpt, &e->to[i].group) < 0) {
            sp_http_reply_error(req, 400, "invalidRequest",
                                "recipient %zu: @libre.graph.recipient.type is user or group", i);
            goto fail;
        }
        /* A group's membership lasts while its grant does: membership of
         * the group itself is what the identity provider says, today. */
        if (e->to[i].group && set_expiry && expiry) {
            sp_http_reply_error(req, 400, "invalidRequest",
                                "a group's space membership cannot expire");
            goto fail;
        }
    }
    e->w = (sp_api_write){.api = api,
                          .user = u,
                          .authz = a,
                          .body = body,
                          .run = invite_run,
                          .answer = invite_answer};
    e->role = role;
    e->expiry = expiry;
    e->count = count;
    sp_api__write_later(req, &e->w);
    return;
fail:
    free(e);
    json_decref(body);
}

/* The space's members, with the roles a member may hold and the actions
 * the caller's own role grants on the root. */
static void list_permissions(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    sp_authz a;
    if (prepare(req, api, SP_AUTHZ_SEE_MEMBERS, &u, &a) < 0)
        return;
    unsigned select = sp_api__permissions_select(req);
    json_t *value = json_array();
    perm_find pf = {NULL, value};
    int rc = value ? 0 : SP_ERR_NOMEM;
    if (rc == 0 && sp_api__permissions_value_selected(select))
        rc = sp_store_members_list(api->store, a.drive_seq, add_perm, &pf);
    if (rc < 0) {
        json_decref(value);
        sp_api__store_error(req, api, rc);
        return;
    }
    sp_api__reply_permissions(req, select, sp_roles_json(SP_ROLE_ON_DRIVE), a.role, value);
}

/* One member, as the listing shows it, to whoever may list them. */
static void get_permission(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    sp_authz a;
    if (prepare(req, api, SP_AUTHZ_SEE_MEMBERS, &u, &a) < 0)
        return;
    json_t *value = json_array();
    perm_find pf = {a.target_id, value};
    int rc = value ? sp_store_members_list(api->store, a.drive_seq, add_perm, &pf)
                   : SP_ERR_NOMEM;
    if (rc < 0)
        sp_api__store_error(req, api, rc);
    else
        sp_api__reply_permission(req, a.target_id, json_incref(json_array_get(value, 0)));
    json_decref(value);
}

/* A change or removal of a member on its way through the writer thread;
 * the membership is w.authz.target_id. */
typedef struct membership_change {
    sp_api_write w;
    int remove, set_expiry;
    const char *role; /* a role id constant; NULL keeps the role */
    int64_t expiry;
    const char *why; /* the store's reason for SP_ERR_DENIED (static text) */
} membership_change;

static int change_run(sp_store *st, sp_api_write *w)
{
    membership_change *c = (membership_change *)w;
    return sp_store_member_change(st, &w->user, w->authz.drive_id, w->authz.target_id, c->remove,
                                  c->role, c->set_expiry, c->expiry, &c->why);
}

/* 204 for a removal; the permission as it is now for a change. */
static void change_answer(sp_http_req *req, sp_api_write *w, int rc)
{
    membership_change *c = (membership_change *)w;
    if (rc == SP_ERR_NOT_FOUND) {
        sp_http_reply_error(req, 404, "itemNotFound", "no permission %s", w->authz.target_id);
    } else if (rc == SP_ERR_INVALID) {
        sp_http_reply_error(req, 400, "invalidRequest", "a group's space membership cannot expire");
    } else if (rc == SP_ERR_DENIED) {
        sp_http_reply_error(req, 409, "conflict", "a space keeps a Manager for good: %s",
                            c->why ? c->why : "add another Manager first");
    } else if (rc < 0) {
        sp_api__store_error(req, w->api, rc);
    } else if (c->remove) {
        sp_http_reply_json(req, 204, NULL);
    } else {
        json_t *value = json_array();
        perm_find pf = {w->authz.target_id, value};
        rc = sp_store_members_list(w->api->store, w->authz.drive_seq, add_perm, &pf);
        if (rc < 0 || json_array_size(value) != 1)
            sp_api__store_error(req, w->api, rc < 0 ? rc : SP_ERR_DB);
        else
            sp_http_reply_json(req, 200, json_incref(json_array_get(value, 0)));
        json_decref(value);
    }
}

/* PATCH changes role and/or expiry; DELETE removes. A member may always
 * remove themselves (leave a space); everything else needs Manager. */
static void change_permission(sp_http_req *req, sp_api *api, int remove)
{
    sp_user u;
    sp_authz a;
    if (prepare(req, api, remove ? SP_AUTHZ_REMOVE_MEMBER : SP_AUTHZ_MANAGE_MEMBERS, &u, &a) < 0)
        return;
    json_t *body = NULL;
    const char *role = NULL;
    int set_expiry = 0;
    int64_t expiry = 0;
    if (!remove) {
        body = sp_api__json_body(req);
        if (!body)
            return;
        if (json_object_get(body, "roles") && read_role(req, body, &role) < 0)
            goto fail;
        if (sp_api__read_expiry(req, body, &set_expiry, &expiry) < 0)
            goto fail;
        if (!role && !set_expiry) {
            sp_http_reply_error(req, 400, "invalidRequest",
                                "nothing to change: send roles or expirationDateTime");
            goto fail;
        }
    }
    membership_change *c = malloc(sizeof *c);
    if (!c) {
        sp_api__store_error(req, api, SP_ERR_NOMEM);
        goto fail;
    }
    *c = (membership_change){.w = {.api = api,
                                   .user = u,
                                   .authz = a,
                                   .body = body,
                                   .run = change_run,
                                   .answer = change_answer},
                             .remove = remove,
                             .role = role,
                             .set_expiry = set_expiry,
                             .expiry = expiry};
    sp_api__write_later(req, &c->w);
    return;
fail:
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
    static const sp_api_route routes[] = {
        {"POST", "/graph/v1beta1/drives/{id}/root/invite", invite},
        {"GET", "/graph/v1beta1/drives/{id}/root/permissions", list_permissions},
        {"GET", "/graph/v1.0/drives/{id}/root/permissions", list_permissions},
        {"GET", "/graph/v1beta1/drives/{id}/root/permissions/{permId}", get_permission},
        {"PATCH", "/graph/v1beta1/drives/{id}/root/permissions/{permId}", patch_permission},
        {"DELETE", "/graph/v1beta1/drives/{id}/root/permissions/{permId}", delete_permission},
    };
    return sp_api__add_routes(r, api, routes, sizeof routes / sizeof routes[0]);
}
