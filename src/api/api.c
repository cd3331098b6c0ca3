/* api.c - route registration and bearer authentication. */
#include "api/internal.h"

#include "util/err.h"
#include "util/log.h"

#include <string.h>
#include <strings.h>

int sp_api_register(sp_router *r, sp_api *api)
{
    int rc = sp_api__register_wellknown(r, api);
    if (rc == 0)
        rc = sp_api__register_users(r, api);
    return rc;
}

int sp_api__authenticate(sp_http_req *req, sp_api *api, sp_identity *id)
{
    const char *h = sp_http_header(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !h[7]) {
        sp_http_add_header(req, "WWW-Authenticate", "Bearer realm=\"spaceport\"");
        sp_http_reply_error(req, 401, "unauthenticated", "a bearer token is required");
        return SP_ERR_UNAUTHORIZED;
    }
    const char *token = h + 7;
    while (*token == ' ')
        token++;
    int rc = sp_auth_verify(api->auth, token, id);
    if (rc == SP_ERR_UNAVAILABLE) {
        sp_http_reply_error(req, 503, "unavailable", "the identity provider cannot be reached");
        return rc;
    }
    if (rc < 0) {
        sp_http_add_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        sp_http_reply_error(req, 401, "unauthenticated", "the access token is not valid");
        return SP_ERR_UNAUTHORIZED;
    }
    return 0;
}

void sp_api__store_error(sp_http_req *req, int err)
{
    if (err == SP_ERR_FULL)
        sp_http_reply_error(req, 507, "insufficientStorage", "the registry's storage is full");
    else
        sp_http_reply_error(req, 500, "generalException", "internal error");
}

int sp_api__caller(sp_http_req *req, sp_api *api, sp_user *user)
{
    sp_identity id;
    int rc = sp_api__authenticate(req, api, &id);
    if (rc < 0)
        return rc;
    sp_user_claims claims = {.issuer = id.issuer,
                             .sub = id.sub,
                             .username = id.username,
                             .display_name = id.display_name,
                             .email = id.email,
                             .roles = id.roles};
    rc = sp_store_user_provision(api->store, &claims, user, NULL);
    if (rc < 0) {
        sp_api__store_error(req, rc);
        return rc;
    }
    return 0;
}
