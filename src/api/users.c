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

static int add_user(const char *id, const char *display_name, const char *email,
                    const char *username, void *ctx)
{
    json_t *u = json_pack("{s:s, s:s, s:s, s:s*}", "id", id, "displayName", display_name,
                          "onPremisesSamAccountName", username, "mail", *email ? email : NULL);
    return u && json_array_append_new(ctx, u) == 0 ? 0 : SP_ERR_NOMEM;
}

/* GET /graph/v1.0/users?$search=term: known users, to pick recipients.
 * Graph clients quote the term ("$search=\"mar\""); quotes are dropped. */
static void search_users(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    const char *raw = sp_http_query(req, "$search");
    char term[SP_USER_NAME_MAX];
    size_t n = 0;
    for (const char *p = raw ? raw : ""; *p && n + 1 < sizeof term; p++) {
        if (*p != '"')
            term[n++] = *p;
    }
    term[n] = '\0';
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)term; *p; p++)
        chars += (*p & 0xc0) != 0x80;
    if (chars < SP_USER_SEARCH_MIN) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "$search needs at least %d characters", SP_USER_SEARCH_MIN);
        return;
    }
    json_t *value = json_array();
    int rc = value ? sp_store_users_search(api->store, term, add_user, value) : SP_ERR_NOMEM;
    if (rc < 0) {
        json_decref(value);
        sp_api__store_error(req, rc);
        return;
    }
    sp_http_reply_json(req, 200, json_pack("{s:o}", "value", value));
}

int sp_api__register_users(sp_router *r, sp_api *api)
{
    int rc = sp_router_add(r, "GET", "/graph/v1.0/me", get_me, api);
    if (rc == 0)
        rc = sp_router_add(r, "GET", "/graph/v1.0/users", search_users, api);
    return rc;
}
