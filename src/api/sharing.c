/*
 * sharing.c - libre-graph sharing: invite on an item, the item's
 * permissions, changing and removing a share (the lists of shares
 * received and made: shared.c).
 *
 * Who may share: a member of the drive whose role has the share right
 * (Manager and SpaceEditor; resharing by grantees is off, as in oCIS), and
 * never a role that allows more than their own. A Manager changes or
 * removes any share of the drive; a SpaceEditor only the shares they made.
 * The rules are store/authz.h's: decided here, and again in the write.
 */
#include "api/internal.h"

#include "api/roles.h"
#include "store/shares.h"

#include "util/err.h"
#include "util/time.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Longest e-mail address (RFC 5321 path limit). */
#define SP_EMAIL_MAX 254

/* Authenticates, checks that the route's item belongs to its drive (or,
 * for a removal, is the share's stored item: sp_api__authorize_removal),
 * and decides act on the drive and item (and permission, when the route
 * has one). Returns 0 or has replied. */
static int prepare(sp_http_req *req, sp_api *api, sp_authz_act act, int removal, sp_user *u,
                   sp_authz *a)
{
    *a = (sp_authz){.act = act,
                    .drive_id = sp_http_param(req, "driveId"),
                    .item_id = sp_http_param(req, "itemId"),
                    .target_id = sp_http_param(req, "permId")};
    return removal ? sp_api__authorize_removal(req, api, u, a)
                   : sp_api__authorize(req, api, u, a);
}

/* The request's sharing role: one in "roles" that applies to items.
 * Returns NULL after replying 400 with hint. */
static const sp_role *read_role(sp_http_req *req, json_t *body, const char *hint)
{
    return sp_api__read_role(req, body, SP_ROLE_ON_ITEM, hint);
}

/* Decides a again now that the body names the role it grants. Returns 0
 * or has replied 403. */
static int may_grant(sp_http_req *req, sp_api *api, sp_authz *a, const sp_role *role)
{
    a->grant_role = role->id;
    int rc = sp_authz_decide(a);
    if (rc < 0)
        sp_api__refuse(req, api, a, rc);
    return rc;
}

json_t *sp_api__user_json(const char *id, const char *name)
{
    return sp_api__grantee_json(id, name, NULL, NULL);
}

json_t *sp_api__share_permission_json(const sp_share *s)
{
    char created[SP_TIME_RFC3339_LEN];
    sp_time_format_rfc3339(s->created_at_ms, created);
    json_t *p = json_pack("{s:s, s:[s], s:s, s:{s:o}}", "id", s->id, "roles", s->role,
                          "createdDateTime", created, "invitation", "invitedBy",
                          sp_api__user_json(s->creator_id, s->creator_name));
    if (!p)
        return NULL;
    if (s->grantee_remote) {
        /* A contact, as oCIS names federated users. */
        json_t *g = sp_api__user_json(
            s->grantee_contact_id ? s->grantee_contact_id : s->grantee_remote,
            s->grantee_contact_name ? s->grantee_contact_name : s->grantee_remote);
        json_object_set_new(json_object_get(g, "user"), "@libre.graph.userType",
                            json_string("Federated"));
        json_object_set_new(p, "grantedToV2", g);
    } else if (s->grantee_id || s->grantee_group_id)
        json_object_set_new(p, "grantedToV2",
                            sp_api__grantee_json(s->grantee_id, s->grantee_name,
                                                 s->grantee_group_id, s->grantee_group_name));
    else
        json_object_set_new(json_object_get(p, "invitation"), "email",
                            json_string(s->grantee_email));
    if (s->expires_at_ms) {
        char when[SP_TIME_RFC3339_LEN];
        sp_time_format_rfc3339(s->expires_at_ms, when);
        json_object_set_new(p, "expirationDateTime", json_string(when));
    }
    return p;
}

static int append_permission(const sp_share *s, void *arg)
{
    json_t *p = sp_api__share_permission_json(s);
    return p && json_array_append_new(arg, p) == 0 ? 0 : SP_ERR_NOMEM;
}

/* Lower-cases an address and checks its shape: one '@', something on each
 * side, a dot in the domain, no blanks or controls. */
static int normalize_email(const char *in, char *out, size_t outlen)
{
    size_t n = strlen(in);
    if (n == 0 || n > SP_EMAIL_MAX || n >= outlen)
        return SP_ERR_INVALID;
    const char *at = strchr(in, '@');
    if (!at || at == in || strchr(at + 1, '@') || !strchr(at + 1, '.') || !at[1] ||
        in[n - 1] == '.')
        return SP_ERR_INVALID;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c && (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == ','))
            return SP_ERR_INVALID;
        out[i] = (char)tolower(c);
    }
    return 0;
}

/* One recipient of an invitation, and what the store made of it. */
typedef struct invitee {
    sp_share_grantee grantee;
    char email[SP_EMAIL_MAX + 1];
    sp_share_made made;
} invitee;

/* An invitation on its way through the store's writer thread: lives from
 * the handler until the resumed request is answered. The route's drive
 * and item are w.authz's; the recipients' object ids are in w.body. */
typedef struct invitation {
    sp_api_write w;
    char item_name[SP_AUTHZ_DRIVE_NAME_MAX + 1];
    const sp_role *role;
    int64_t expiry;
    int refused; /* the store refused recipient failed (the job's error) */
    size_t failed;
    size_t count;
    invitee to[];
} invitation;

/* On the writer thread: one share per recipient, in order, up to the
 * first the store refuses (those before it stay, as they would with one
 * request each). */
static int invite_run(sp_store *st, sp_api_write *w)
{
    invitation *inv = (invitation *)w;
    for (size_t i = 0; i < inv->count; i++) {
        int rc = sp_store_share_create(st, &w->user, w->authz.drive_id, w->authz.item_id,
                                       inv->item_name, &inv->to[i].grantee, inv->role->id,
                                       inv->expiry, &inv->to[i].made);
        if (rc < 0) {
            inv->refused = 1;
            inv->failed = i;
            return rc;
        }
    }
    return 0;
}

/* Answers the resumed invitation: the new permissions once durable. */
static void invite_answer(sp_http_req *req, sp_api_write *w, int rc)
{
    invitation *inv = (invitation *)w;
    if (rc < 0 && inv->refused) {
        const invitee *t = &inv->to[inv->failed];
        const char *who = t->grantee.group_id  ? t->grantee.group_id
                          : t->grantee.user_id ? t->grantee.user_id
                                               : t->email;
        if (rc == SP_ERR_NOT_FOUND)
            sp_http_reply_error(req, 400, "invalidRequest", "no %s %s",
                                t->grantee.group_id ? "group" : "user", who);
        else if (rc == SP_ERR_INVALID)
            sp_http_reply_error(req, 400, "invalidRequest", "you cannot share with yourself");
        else if (rc == SP_ERR_CONFLICT && t->made.ambiguous)
            sp_http_reply_error(req, 409, "conflict",
                                "%s is the verified address of users of several identity "
                                "providers; share with one of them by objectId",
                                who);
        else if (rc == SP_ERR_CONFLICT)
            sp_http_reply_error(req, 409, "nameAlreadyExists", "the item is already shared with %s",
                                who);
        else
            sp_api__store_error(req, w->api, rc);
        return;
    }
    if (rc < 0) {
        sp_api__store_error(req, w->api, rc);
        return;
    }
    json_t *value = json_array();
    for (size_t i = 0; value && i < inv->count; i++) {
        const invitee *t = &inv->to[i];
        int named = t->made.grantee_id[0] != '\0';
        int contact = t->made.federated;
        sp_share s = {.id = t->made.id,
                      .grantee_id = named && !t->made.group && !contact ? t->made.grantee_id : NULL,
                      .grantee_remote = contact ? t->made.grantee_id : NULL,
                      .grantee_contact_id = contact ? t->made.grantee_id : NULL,
                      .grantee_contact_name = contact ? t->made.grantee_name : NULL,
                      .grantee_name = t->made.grantee_name,
                      .grantee_group_id = t->made.group ? t->made.grantee_id : NULL,
                      .grantee_group_name = t->made.grantee_name,
                      .grantee_email = t->grantee.email,
                      .role = inv->role->id,
                      .expires_at_ms = inv->expiry,
                      .creator_id = w->user.id,
                      .creator_name = w->user.display_name,
                      .created_at_ms = t->made.created_at_ms};
        if (append_permission(&s, value) < 0) {
            json_decref(value);
            value = NULL;
        }
    }
    if (value)
        sp_http_reply_json(req, 200, json_pack("{s:o}", "value", value));
    else
        sp_api__store_error(req, w->api, SP_ERR_NOMEM);
}

static void invite(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    sp_authz a;
    if (prepare(req, api, SP_AUTHZ_SHARE, 0, &u, &a) < 0)
        return;
    json_t *body = sp_api__json_body(req);
    if (!body)
        return;
    invitation *inv = NULL;
    const sp_role *role = read_role(req, body,
                                    "roles must hold one sharing role id: Viewer " SP_ROLE_VIEWER
                                    ", Editor " SP_ROLE_EDITOR ", FileEditor " SP_ROLE_FILE_EDITOR
                                    ", EditorLite " SP_ROLE_EDITOR_LITE);
    if (!role || may_grant(req, api, &a, role) < 0)
        goto fail;
    int set_expiry;
    int64_t expiry;
    if (sp_api__read_expiry(req, body, &set_expiry, &expiry) < 0)
        goto fail;
    json_t *recipients = json_object_get(body, "recipients");
    if (!json_is_array(recipients) || json_array_size(recipients) == 0) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "recipients must be a non-empty array of {\"objectId\"} or "
                            "{\"email\"}");
        goto fail;
    }
    size_t count = json_array_size(recipients);
    inv = calloc(1, sizeof *inv + count * sizeof inv->to[0]);
    if (!inv) {
        sp_api__store_error(req, api, SP_ERR_NOMEM);
        goto fail;
    }
    /* The item's name is not the registry's to know; a client may name it
     * (libre.graph extension), the root is named after the drive. */
    const char *item_name = json_string_value(json_object_get(body, "@libre.graph.item.name"));
    if (!item_name || !*item_name || strlen(item_name) >= sizeof inv->item_name)
        item_name = strcmp(a.item_id, a.drive_id) == 0 ? a.drive_name : a.item_id;
    snprintf(inv->item_name, sizeof inv->item_name, "%s", item_name);
    size_t i;
    json_t *rcpt;
    json_array_foreach(recipients, i, rcpt)
    {
        invitee *t = &inv->to[i];
        const char *object_id = json_string_value(json_object_get(rcpt, "objectId"));
        const char *addr = json_string_value(json_object_get(rcpt, "email"));
        int group;
        if (sp_api__recipient_type(rcpt, &group) < 0 || (group && !object_id)) {
            sp_http_reply_error(req, 400, "invalidRequest",
                                "recipient %zu: @libre.graph.recipient.type is user or group, "
                                "and a group is named by objectId",
                                i);
            goto fail;
        }
        if (object_id && !addr && group) {
            t->grantee.group_id = object_id;
        } else if (object_id && !addr) {
            t->grantee.user_id = object_id;
        } else if (addr && !object_id && normalize_email(addr, t->email, sizeof t->email) == 0) {
            t->grantee.email = t->email;
        } else {
            sp_http_reply_error(req, 400, "invalidRequest",
                                "recipient %zu needs either an objectId or a valid email", i);
            goto fail;
        }
        if (t->grantee.user_id && strcmp(t->grantee.user_id, u.id) == 0) {
            sp_http_reply_error(req, 400, "invalidRequest", "you cannot share with yourself");
            goto fail;
        }
    }
    inv->w = (sp_api_write){.api = api,
                            .user = u,
                            .authz = a,
                            .body = body,
                            .run = invite_run,
                            .answer = invite_answer};
    inv->role = role;
    inv->expiry = expiry;
    inv->count = count;
    /* The reply waits for the shares to be durable, without a thread. */
    sp_api__write_later(req, &inv->w);
    return;
fail:
    free(inv);
    json_decref(body);
}

/* Item roles the caller could grant, for allowedValues. */
static json_t *grantable_roles(const sp_role *own)
{
    const char *own_id = own ? own->id : NULL;
    json_t *all = sp_roles_json(SP_ROLE_ON_ITEM), *out = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(all, i, r)
    {
        if (sp_role_can(own_id, SP_CAN_SHARE) &&
            sp_role_within(json_string_value(json_object_get(r, "id")), own_id))
            json_array_append(out, r);
    }
    json_decref(all);
    return out;
}

/* The item's shares, with the roles the caller may grant on it and the
 * actions their role on the drive grants there. */
static void list_permissions(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    sp_authz a;
    if (prepare(req, api, SP_AUTHZ_SEE_ITEM, 0, &u, &a) < 0)
        return;
    unsigned select = sp_api__permissions_select(req);
    json_t *value = json_array();
    int rc = value ? 0 : SP_ERR_NOMEM;
    if (rc == 0 && sp_api__permissions_value_selected(select))
        rc = sp_store_shares_of_item(api->store, a.drive_id, a.item_id, append_permission, value);
    if (rc < 0) {
        json_decref(value);
        sp_api__store_error(req, api, rc);
        return;
    }
    sp_api__reply_permissions(req, select, grantable_roles(a.role), a.role, value);
}

/* Looks for one share of the item among its shares. */
typedef struct share_find {
    const char *id;
    json_t *found; /* new reference, NULL until found */
} share_find;

static int find_permission(const sp_share *s, void *arg)
{
    share_find *sf = arg;
    if (sf->found || strcmp(s->id, sf->id) != 0)
        return 0;
    sf->found = sp_api__share_permission_json(s);
    return sf->found ? 0 : SP_ERR_NOMEM;
}

/* One share of the item, as its listing shows it, to whoever may list
 * them. */
static void get_permission(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    sp_authz a;
    if (prepare(req, api, SP_AUTHZ_SEE_ITEM, 0, &u, &a) < 0)
        return;
    share_find sf = {a.target_id, NULL};
    int rc = sp_store_shares_of_item(api->store, a.drive_id, a.item_id, find_permission, &sf);
    if (rc < 0) {
        json_decref(sf.found);
        sp_api__store_error(req, api, rc);
        return;
    }
    sp_api__reply_permission(req, a.target_id, sf.found);
}

/* Keeps the permission form of a share (new reference in *arg). */
static int capture_share(const sp_share *s, void *arg)
{
    json_t **json = arg;
    json_decref(*json);
    *json = sp_api__share_permission_json(s);
    return *json ? 0 : SP_ERR_NOMEM;
}

/* A change or removal of a share on its way through the writer thread;
 * the share is w.authz.target_id. */
typedef struct share_change {
    sp_api_write w;
    int remove, set_expiry;
    const char *role; /* a role id constant; NULL keeps the role */
    int64_t expiry;
} share_change;

static int change_run(sp_store *st, sp_api_write *w)
{
    share_change *c = (share_change *)w;
    return sp_store_share_change(st, &w->user, w->authz.target_id, c->remove, c->role,
                                 c->set_expiry, c->expiry);
}

/* 204 for a removal; the permission as it is now for a change. */
static void change_answer(sp_http_req *req, sp_api_write *w, int rc)
{
    share_change *c = (share_change *)w;
    json_t *json = NULL;
    if (rc == SP_ERR_NOT_FOUND)
        sp_http_reply_error(req, 404, "itemNotFound", "no permission %s", w->authz.target_id);
    else if (rc < 0)
        sp_api__store_error(req, w->api, rc);
    else if (c->remove)
        sp_http_reply_json(req, 204, NULL);
    else if ((rc = sp_store_share_get(w->api->store, w->authz.target_id, capture_share, &json)) < 0)
        sp_api__store_error(req, w->api, rc);
    else
        sp_http_reply_json(req, 200, json_incref(json));
    json_decref(json);
}

static void change_share(sp_http_req *req, sp_api *api, int remove)
{
    sp_user u;
    sp_authz a;
    if (prepare(req, api, SP_AUTHZ_CHANGE_SHARE, remove, &u, &a) < 0)
        return;
    json_t *body = NULL;
    const char *role = NULL;
    int set_expiry = 0;
    int64_t expiry = 0;
    if (!remove) {
        body = sp_api__json_body(req);
        if (!body)
            return;
        if (json_object_get(body, "roles")) {
            const sp_role *r = read_role(req, body, "roles must hold one sharing role id");
            if (!r || may_grant(req, api, &a, r) < 0)
                goto fail;
            role = r->id;
        }
        if (sp_api__read_expiry(req, body, &set_expiry, &expiry) < 0)
            goto fail;
        if (!role && !set_expiry) {
            sp_http_reply_error(req, 400, "invalidRequest",
                                "nothing to change: send roles or expirationDateTime");
            goto fail;
        }
    }
    share_change *c = malloc(sizeof *c);
    if (!c) {
        sp_api__store_error(req, api, SP_ERR_NOMEM);
        goto fail;
    }
    *c = (share_change){.w = {.api = api,
                              .user = u,
                              .authz = a,
                              .body = body,
                              .run = change_run,
                              .answer = change_answer},
                        .remove = remove,
                        .set_expiry = set_expiry,
                        .role = role,
                        .expiry = expiry};
    sp_api__write_later(req, &c->w);
    return;
fail:
    json_decref(body);
}

static void patch_share(sp_http_req *req, void *ctx)
{
    change_share(req, ctx, 0);
}

static void delete_share(sp_http_req *req, void *ctx)
{
    change_share(req, ctx, 1);
}

int sp_api__register_sharing(sp_router *r, sp_api *api)
{
    static const sp_api_route routes[] = {
        {"POST", "/graph/v1beta1/drives/{driveId}/items/{itemId}/invite", invite},
        {"GET", "/graph/v1beta1/drives/{driveId}/items/{itemId}/permissions", list_permissions},
        {"GET", "/graph/v1beta1/drives/{driveId}/items/{itemId}/permissions/{permId}",
         get_permission},
        {"PATCH", "/graph/v1beta1/drives/{driveId}/items/{itemId}/permissions/{permId}",
         patch_share},
        {"DELETE", "/graph/v1beta1/drives/{driveId}/items/{itemId}/permissions/{permId}",
         delete_share},
    };
    return sp_api__add_routes(r, api, routes, sizeof routes / sizeof routes[0]);
}
