/*
 * users.c - /graph/v1.0/me and the users search.
 */
#include "api/internal.h"

#include "util/err.h"

static void get_me(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    sp_http_reply_json(req, 200,
                       json_pack("{s:s, s:s, s:s*, s:s}", "id", u.id, "displayName",
                                 u.display_name, "mail", u.email[0] ? u.email : NULL,
                                 "onPremisesSamAccountName", u.username));
}

int sp_api__register_users(sp_router *r, sp_api *api)
{
    return sp_router_add(r, "GET", "/graph/v1.0/me", get_me, api);
}
