/*
 * settings.c - the three calls of oCIS's settings service the web makes at
 * sign-in: POST /api/v0/settings/roles-list, assignments-list and
 * permissions-list.
 *
 * The web turns the permission names ("Drives.Create.all") into the
 * abilities that show or hide whole features: creating project spaces,
 * the admin's view of every space, quotas. So a role here grants only what
 * Spaceport itself lets that role do (store/authz.c, create_drive in
 * drives.c); what a member may do within one space comes from the space's
 * own permissions, not from here. Roles come from the roles claim
 * (SPACEPORT_ROLES_CLAIM), so they are read, never assigned, here.
 *
 * Bodies are protobuf JSON, as the settings service speaks it: either the
 * proto field name (account_uuid, which the web sends) or its camelCase
 * form in requests, camelCase and enum names in answers, and 201 for a
 * successful call, as its generated HTTP handlers answer.
 */
#include "api/internal.h"

#include "util/err.h"

#include <stdio.h>
#include <string.h>

/* A permission as oCIS's settings service defines it. */
typedef struct settings_permission {
    const char *id;
    const char *name; /* answered as "<name>.all" by permissions-list */
    const char *display_name;
    const char *description;
    const char *resource; /* Resource.type */
    const char *operation;
} settings_permission;

/* The permissions Spaceport honours for some role, with oCIS's ids and
 * texts (services/settings/pkg/store/defaults). Index = bit in a role's
 * grants. */
enum {
    P_DRIVES_CREATE,
    P_DRIVES_LIST,
    P_DRIVES_READ_WRITE,
    P_DRIVES_ENABLED,
    P_DRIVES_DELETE_PROJECT,
    P_DRIVES_DELETE_PERSONAL,
    P_DRIVES_PROJECT_QUOTA,
    P_DRIVES_PERSONAL_QUOTA,
    P_SHARES_WRITE,
    P_COUNT
};

static const settings_permission PERMISSIONS[P_COUNT] = {
    [P_DRIVES_CREATE] = {"79e13b30-3e22-11eb-bc51-0b9f0bad9a58", "Drives.Create", "Create Space",
                         "This permission allows creating new spaces.", "TYPE_SYSTEM",
                         "OPERATION_READWRITE"},
    [P_DRIVES_LIST] = {"016f6ddd-9501-4a0a-8ebe-64a20ee8ec82", "Drives.List", "List All Spaces",
                       "This permission allows listing all spaces.", "TYPE_SYSTEM",
                       "OPERATION_READ"},
    [P_DRIVES_READ_WRITE] = {"b44b4054-31a2-42b8-bb71-968b15cfbd4f", "Drives.ReadWrite",
                             "Manage space properties",
                             "This permission allows managing space properties such as name "
                             "and description.",
                             "TYPE_SYSTEM", "OPERATION_READWRITE"},
    [P_DRIVES_ENABLED] = {"cf3faa8c-50d9-4f84-9650-ff9faf21aa9d", "Drives.ReadWriteEnabled",
                          "Space ability", "This permission allows enabling and disabling spaces.",
                          "TYPE_SYSTEM", "OPERATION_READWRITE"},
    [P_DRIVES_DELETE_PROJECT] = {"fb60b004-c1fa-4f09-bf87-55ce7d46ac61", "Drives.DeleteProject",
                                 "Delete AllSpaces", "This permission allows deleting all spaces.",
                                 "TYPE_SYSTEM", "OPERATION_DELETE"},
    [P_DRIVES_DELETE_PERSONAL] = {"5de9fe0a-4bc5-4a47-b758-28f370caf169", "Drives.DeletePersonal",
                                  "Delete All Home Spaces",
                                  "This permission allows deleting home spaces.", "TYPE_SYSTEM",
                                  "OPERATION_DELETE"},
    [P_DRIVES_PROJECT_QUOTA] = {"977f0ae6-0da2-4856-93f3-22e0a8482489",
                                "Drives.ReadWriteProjectQuota", "Set Project Space Quota",
                                "This permission allows managing project space quotas.",
                                "TYPE_SYSTEM", "OPERATION_READWRITE"},
    [P_DRIVES_PERSONAL_QUOTA] = {"4e6f9709-f9e7-44f1-95d4-b762d27b7896",
                                 "Drives.ReadWritePersonalQuota", "Set Personal Space Quota",
                                 "This permission allows managing personal space quotas.",
                                 "TYPE_SYSTEM", "OPERATION_READWRITE"},
    [P_SHARES_WRITE] = {"069c08b1-e31f-4799-9ed6-194b310e7244", "Shares.Write", "Write share",
                        "This permission allows creating shares.", "TYPE_SHARE", "OPERATION_WRITE"},
};

#define GRANT(p) (1u << (p))

/* A role with oCIS's bundle id and what it grants here. */
typedef struct settings_role {
    const char *id;
    const char *name;
    const char *display_name;
    unsigned grants;
} settings_role;

/*
 * What each role may, as store/authz.c decides it where the write happens.
 * Every user shares (the store asks only for a role on the drive). Space
 * admins, as oCIS's Space Admin, create project spaces, list every drive
 * and run every project space: rename, quota, disable, restore, purge.
 * Admins do that to every drive, personal drives included.
 */
/* role_of picks by position: admin, space admin, user. */
static const settings_role ROLES[] = {
    {"71881883-1768-46bd-a24d-a356a2afdf7f", "admin", "Admin",
     GRANT(P_DRIVES_CREATE) | GRANT(P_DRIVES_LIST) | GRANT(P_DRIVES_READ_WRITE) |
         GRANT(P_DRIVES_ENABLED) | GRANT(P_DRIVES_DELETE_PROJECT) |
         GRANT(P_DRIVES_DELETE_PERSONAL) | GRANT(P_DRIVES_PROJECT_QUOTA) |
         GRANT(P_DRIVES_PERSONAL_QUOTA) | GRANT(P_SHARES_WRITE)},
    {"2aadd357-682c-406b-8874-293091995fdd", "spaceadmin", "Space Admin",
     GRANT(P_DRIVES_CREATE) | GRANT(P_DRIVES_LIST) | GRANT(P_DRIVES_READ_WRITE) |
         GRANT(P_DRIVES_ENABLED) | GRANT(P_DRIVES_DELETE_PROJECT) |
         GRANT(P_DRIVES_PROJECT_QUOTA) | GRANT(P_SHARES_WRITE)},
    {"d7beeea8-8ff4-406b-8fb6-ab2dd81e6b11", "user", "User", GRANT(P_SHARES_WRITE)},
};
#define ROLE_COUNT (sizeof ROLES / sizeof ROLES[0])

/* The one role of a user: the highest its roles claim gives. */
static const settings_role *role_of(const sp_user *u)
{
    if (u->roles & SP_USER_ROLE_ADMIN)
        return &ROLES[0];
    if (u->roles & SP_USER_ROLE_SPACE_ADMIN)
        return &ROLES[1];
    return &ROLES[2];
}

/* Appends item (stolen; NULL when it could not be made) to list. Returns
 * list, or NULL after releasing both when either is missing or the append
 * fails: a NULL list then means out of memory. */
static json_t *append(json_t *list, json_t *item)
{
    if (!list || !item) {
        json_decref(list);
        json_decref(item);
        return NULL;
    }
    if (json_array_append_new(list, item) < 0) {
        json_decref(list);
        return NULL;
    }
    return list;
}

/* Replies 201 {key: list} (list stolen), or 500 when list is NULL. */
static void reply_list(sp_http_req *req, const char *key, json_t *list)
{
    if (!list)
        sp_http_reply_error(req, 500, "generalException", "out of memory");
    else
        sp_http_reply_json(req, 201, json_pack("{s:o}", key, list));
}

/* A role as a settings Bundle (new reference, NULL when out of memory). */
static json_t *bundle_json(const settings_role *r)
{
    json_t *settings = json_array();
    for (unsigned p = 0; settings && p < P_COUNT; p++) {
        if (!(r->grants & GRANT(p)))
            continue;
        const settings_permission *s = &PERMISSIONS[p];
        settings = append(
            settings, json_pack("{s:s, s:s, s:s, s:s, s:{s:s}, s:{s:s, s:s}}", "id", s->id, "name",
                                s->name, "displayName", s->display_name, "description",
                                s->description, "resource", "type", s->resource, "permissionValue",
                                "operation", s->operation, "constraint", "CONSTRAINT_ALL"));
    }
    return settings
               ? json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:o}", "id", r->id, "name", r->name,
                           "type", "TYPE_ROLE", "extension", "ocis-roles", "displayName",
                           r->display_name, "resource", "type", "TYPE_SYSTEM", "settings", settings)
               : NULL;
}

/*
 * Reads the request: authenticates the caller into *u, parses the body and
 * reads its one field, which protobuf JSON lets the web spell as the proto
 * name (snake) or in camelCase, into *field (NULL when absent; borrowed
 * from the body). Any other field, or both spellings, is 400. Returns the
 * body (new reference) or NULL after replying.
 */
static json_t *read_request(sp_http_req *req, sp_api *api, sp_user *u, const char *snake,
                            const char *camel, json_t **field)
{
    if (sp_api__caller(req, api, u) < 0)
        return NULL;
    json_t *body = sp_api__json_body(req);
    if (!body)
        return NULL;
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, snake) != 0 && strcmp(key, camel) != 0) {
            sp_http_reply_error(req, 400, "invalidRequest", "unknown field %s", key);
            json_decref(body);
            return NULL;
        }
    }
    json_t *a = json_object_get(body, snake), *b = json_object_get(body, camel);
    if (a && b) {
        sp_http_reply_error(req, 400, "invalidRequest", "send %s or %s, not both", snake, camel);
        json_decref(body);
        return NULL;
    }
    *field = a ? a : b;
    return body;
}

/* As read_request for a body naming an account (account_uuid), set into
 * *account ("" when absent; borrowed from the body); 400 when it is not a
 * string. */
static json_t *read_account_request(sp_http_req *req, sp_api *api, sp_user *u, const char **account)
{
    json_t *a;
    json_t *body = read_request(req, api, u, "account_uuid", "accountUuid", &a);
    if (!body)
        return NULL;
    if (a && !json_is_string(a)) {
        sp_http_reply_error(req, 400, "invalidRequest", "account_uuid must be a string");
        json_decref(body);
        return NULL;
    }
    *account = a ? json_string_value(a) : "";
    return body;
}

/* POST /api/v0/settings/roles-list {"bundle_ids": [...]}: the roles, all
 * of them or those named. */
static void roles_list(sp_http_req *req, void *ctx)
{
    sp_user u;
    json_t *ids;
    json_t *body = read_request(req, ctx, &u, "bundle_ids", "bundleIds", &ids);
    if (!body)
        return;
    json_t *bundles = json_array();
    if (ids && !json_is_array(ids)) {
        sp_http_reply_error(req, 400, "invalidRequest", "bundle_ids must be an array of strings");
        goto done;
    }
    for (size_t i = 0; bundles && i < ROLE_COUNT; i++) {
        int named = !ids || json_array_size(ids) == 0;
        size_t j;
        json_t *id;
        json_array_foreach(ids, j, id)
        {
            named |= json_is_string(id) && strcmp(json_string_value(id), ROLES[i].id) == 0;
        }
        if (named)
            bundles = append(bundles, bundle_json(&ROLES[i]));
    }
    reply_list(req, "bundles", bundles);
    bundles = NULL;
done:
    json_decref(bundles);
    json_decref(body);
}

/* POST /api/v0/settings/assignments-list {"account_uuid": id|"me"}: the
 * role of the caller; an admin may ask about any known user. */
static void assignments_list(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    const char *account;
    json_t *body = read_account_request(req, api, &u, &account);
    if (!body)
        return;
    if (!*account) {
        sp_http_reply_error(req, 400, "invalidRequest", "account_uuid is required");
        goto done;
    }
    sp_user who = u;
    if (strcmp(account, "me") != 0 && strcmp(account, u.id) != 0) {
        int rc =
            sp_api__is_admin(&u) ? sp_store_user_get(api->store, account, &who) : SP_ERR_NOT_FOUND;
        if (rc == SP_ERR_NOT_FOUND) {
            sp_http_reply_error(req, 404, "itemNotFound", "no user %s", account);
            goto done;
        }
        if (rc < 0) {
            sp_api__store_error(req, api, rc);
            goto done;
        }
    }
    /* One assignment per user, so the user's id names it. */
    sp_http_reply_json(req, 201,
                       json_pack("{s:[{s:s, s:s, s:s}]}", "assignments", "id", who.id,
                                 "accountUuid", who.id, "roleId", role_of(&who)->id));
done:
    json_decref(body);
}

/* POST /api/v0/settings/permissions-list {"account_uuid": id}: the
 * caller's permission names; another account is 404, as in oCIS. */
static void permissions_list(sp_http_req *req, void *ctx)
{
    sp_user u;
    const char *account;
    json_t *body = read_account_request(req, ctx, &u, &account);
    if (!body)
        return;
    if (strcmp(account, u.id) != 0) {
        sp_http_reply_error(req, 404, "itemNotFound", "user not found: %s", account);
        goto done;
    }
    const settings_role *r = role_of(&u);
    json_t *names = json_array();
    for (unsigned p = 0; names && p < P_COUNT; p++) {
        if (!(r->grants & GRANT(p)))
            continue;
        char name[64];
        snprintf(name, sizeof name, "%s.all", PERMISSIONS[p].name);
        names = append(names, json_string(name));
    }
    reply_list(req, "permissions", names);
done:
    json_decref(body);
}

int sp_api__register_settings(sp_router *r, sp_api *api)
{
    static const sp_api_route routes[] = {
        {"POST", "/api/v0/settings/roles-list", roles_list},
        {"POST", "/api/v0/settings/assignments-list", assignments_list},
        {"POST", "/api/v0/settings/permissions-list", permissions_list},
    };
    return sp_api__add_routes(r, api, routes, sizeof routes / sizeof routes[0]);
}
