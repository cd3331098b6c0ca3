/*
 * users.c - /graph/v1.0/me and the users search.
 */
#include "api/internal.h"

#include "util/err.h"

static void get_me(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_identity id;
    if (sp_api__authenticate(req, api, &id) < 0)
        return;
    sp_http_reply_json(req, 200,
                       json_pack("{s:s, s:s, s:s*, s:s}", "id", id.sub, "displayName",
                                 id.display_name, "mail", id.email[0] ? id.email : NULL,
                                 "onPremisesSamAccountName", id.username));
}

int sp_api__register_users(sp_router *r, sp_api *api)
{
    return sp_router_add(r, "GET", "/graph/v1.0/me", get_me, api);
}
