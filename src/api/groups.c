/*
 * groups.c - /graph/v1.0/groups: the groups search that picks recipients,
 * and one group with its members.
 *
 * Groups are what the identity providers' tokens name (store/groups.h);
 * they are read-only here ("groupTypes": ["ReadOnly"], as oCIS marks the
 * groups of a read-only directory). The search offers only groups of the
 * caller's own identity provider, so that a look-alike group of another
 * provider is never picked in place of the one meant; a group of another
 * provider is still reached by its id.
 */
#include "api/internal.h"
#include "api/odata.h"

#include "store/groups.h"

#include "util/err.h"

#include <string.h>

static json_t *group_json(const char *id, const char *name)
{
    return json_pack("{s:s, s:s, s:[s]}", "id", id, "displayName", name, "groupTypes", "ReadOnly");
}

int sp_api__append_group(const sp_group *g, void *ctx)
{
    json_t *j = group_json(g->id, g->name);
    return j && json_array_append_new(ctx, j) == 0 ? 0 : SP_ERR_NOMEM;
}

/* Checks $select and $expand; *members set when $expand names members.
 * Returns 0 or has replied 400. */
static int read_options(sp_http_req *req, int *members)
{
    sp_odata_error qerr;
    const char *expand = sp_http_query(req, "$expand");
    if (sp_odata_check_select(sp_http_query(req, "$select"), &qerr) < 0 ||
        sp_odata_check_expand_plain(expand, &qerr) < 0) {
        sp_http_reply_error(req, (unsigned)qerr.status, qerr.code, "%s", qerr.message);
        return SP_ERR_INVALID;
    }
    *members = sp_odata_names(expand, "members");
    return 0;
}

static int find_groups(sp_api *api, const sp_user *u, const char *term, json_t *value)
{
    return sp_store_groups_search(api->store, u->issuer, term, sp_api__append_group, value);
}

/* GET /graph/v1.0/groups?$search=term[&$orderby=displayName [desc]]. */
static void search_groups(sp_http_req *req, void *ctx)
{
    static const char *const keys[] = {"displayName"};
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    int members;
    if (read_options(req, &members) < 0)
        return;
    /* oCIS refuses $expand on the listing to all but admins; here to all:
     * every group's members in one reply would be unbounded. */
    if (members) {
        sp_http_reply_error(req, 403, "accessDenied",
                            "$expand=members is answered for one group: GET /groups/{id}");
        return;
    }
    sp_api__answer_search(req, api, &u, keys, sizeof keys / sizeof keys[0], find_groups);
}

/* GET /graph/v1.0/groups/{id}[?$expand=members]: its known members are
 * the users whose newest token named it. */
static void get_group(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    int members;
    if (read_options(req, &members) < 0)
        return;
    sp_group_row g;
    const char *id = sp_http_param(req, "id");
    int rc = sp_store_group_get(api->store, id, &g);
    if (rc == SP_ERR_NOT_FOUND) {
        sp_http_reply_error(req, 404, "itemNotFound", "no group %s", id);
        return;
    }
    json_t *j = rc == 0 ? group_json(g.id, g.name) : NULL;
    json_t *list = rc == 0 && members ? json_array() : NULL;
    if (rc == 0 && (!j || (members && !list)))
        rc = SP_ERR_NOMEM;
    if (rc == 0 && members)
        rc = sp_store_group_members(api->store, g.seq, sp_api__append_user, list);
    if (rc == 0 && members && json_object_set(j, "members", list) < 0)
        rc = SP_ERR_NOMEM;
    json_decref(list);
    if (rc < 0) {
        json_decref(j);
        sp_api__store_error(req, api, rc);
        return;
    }
    sp_http_reply_json(req, 200, j);
}

int sp_api__register_groups(sp_router *r, sp_api *api)
{
    static const sp_api_route routes[] = {
        {"GET", "/graph/v1.0/groups", search_groups},
        {"GET", "/graph/v1.0/groups/{id}", get_group},
    };
    return sp_api__add_routes(r, api, routes, sizeof routes / sizeof routes[0]);
}
