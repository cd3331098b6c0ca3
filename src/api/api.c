/* api.c - route registration and bearer authentication. */
#include "api/internal.h"

#include "util/err.h"
#include "util/log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int sp_api_register(sp_router *r, sp_api *api)
{
    int rc = sp_api__register_wellknown(r, api);
    if (rc == 0)
        rc = sp_api__register_users(r, api);
    if (rc == 0)
        rc = sp_api__register_groups(r, api);
    if (rc == 0)
        rc = sp_api__register_drives(r, api);
    if (rc == 0)
        rc = sp_api__register_members(r, api);
    if (rc == 0)
        rc = sp_api__register_sharing(r, api);
    if (rc == 0)
        rc = sp_api__register_shared(r, api);
    if (rc == 0)
        rc = sp_api__register_events(r, api);
    if (rc == 0)
        rc = sp_api__register_changes(r, api);
    if (rc == 0)
        rc = sp_api__register_webfinger(r, api);
    if (rc == 0)
        rc = sp_api__register_remote(r, api);
    if (rc == 0)
        rc = sp_api__register_ocm(r, api);
    if (rc == 0)
        rc = sp_api__register_invites(r, api);
    if (rc == 0)
        rc = sp_api__register_federation(r, api);
    if (rc == 0)
        rc = sp_api__register_web(r, api);
    if (rc == 0)
        rc = sp_api__register_ocs(r, api);
    if (rc == 0)
        rc = sp_api__register_settings(r, api);
    if (rc == 0)
        rc = sp_api__register_subscriptions(r, api);
    if (rc == 0)
        rc = sp_api__register_dav(r, api);
    return rc;
}

int sp_api__add_routes(sp_router *r, sp_api *api, const sp_api_route *table, size_t count)
{
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++)
        rc = sp_router_add(r, table[i].method, table[i].pattern, table[i].handler, api);
    return rc;
}

int sp_api__authenticate(sp_http_req *req, sp_api *api, sp_identity *id)
{
    return sp_api__authenticate_ex(req, api, 0, id);
}

int sp_api__verify_token(sp_http_req *req, sp_api *api, int allow_query, sp_identity *id,
                         int *had_token)
{
    /* A worker thread serves one request after another: what the last one
     * set must not reach this one's writes (provisioning among them). */
    sp_store_set_initiator(NULL);
    const char *h = sp_http_header(req, "Authorization");
    const char *token = NULL;
    if (h && strncasecmp(h, "Bearer ", 7) == 0 && h[7]) {
        token = h + 7;
        while (*token == ' ')
            token++;
    } else if (!h && allow_query) {
        token = sp_http_query(req, "access_token");
    }
    *had_token = token && *token;
    if (!*had_token)
        return SP_ERR_UNAUTHORIZED;
    int rc = sp_auth_verify(api->auth, token, id);
    if (rc < 0 && rc != SP_ERR_UNAVAILABLE)
        rc = SP_ERR_UNAUTHORIZED;
    return rc;
}

void sp_api__challenge(sp_http_req *req, int had_token)
{
    sp_http_add_header(req, "WWW-Authenticate",
                       had_token ? "Bearer error=\"invalid_token\"" : "Bearer realm=\"spaceport\"");
}

int sp_api__authenticate_ex(sp_http_req *req, sp_api *api, int allow_query, sp_identity *id)
{
    int had_token;
    int rc = sp_api__verify_token(req, api, allow_query, id, &had_token);
    if (rc == SP_ERR_UNAVAILABLE) {
        sp_http_reply_error(req, 503, "unavailable", "the identity provider cannot be reached");
    } else if (rc < 0) {
        sp_api__challenge(req, had_token);
        sp_http_reply_error(req, 401, "unauthenticated",
                            had_token ? "the access token is not valid"
                                      : "a bearer token is required");
    }
    return rc;
}

void sp_api__store_error(sp_http_req *req, sp_api *api, int err)
{
    /* A failed statement does not say whether the database went away
     * (PostgreSQL down, restarting, refusing connections): asking it
     * again, only on this error path, does. Then the answer is the API's
     * unavailable, which a client or balancer retries, as /readyz says. */
    if (err == SP_ERR_FULL)
        sp_http_reply_error(req, 507, "insufficientStorage", "the registry's storage is full");
    else if (err == SP_ERR_DB && sp_store_ping(api->store) < 0)
        sp_http_reply_error(req, 503, "unavailable", "the database cannot be reached");
    else
        sp_http_reply_error(req, 500, "generalException", "internal error");
}

int sp_api__caller(sp_http_req *req, sp_api *api, sp_user *user)
{
    sp_identity id;
    return sp_api__caller_ex(req, api, 0, &id, user);
}

int sp_api__provision(sp_api *api, const sp_identity *id, sp_user *user)
{
    sp_user_claims claims = {.issuer = id->issuer,
                             .sub = id->sub,
                             .username = id->username,
                             .display_name = id->display_name,
                             .email = id->email,
                             .roles = id->roles,
                             .groups = id->groups,
                             .group_count = id->group_count,
                             .groups_digest = id->groups_digest};
    return sp_store_user_provision(api->store, &claims, user, NULL);
}

int sp_api__caller_ex(sp_http_req *req, sp_api *api, int allow_query, sp_identity *idp,
                      sp_user *user)
{
    sp_identity id;
    int rc = sp_api__authenticate_ex(req, api, allow_query, &id);
    if (rc < 0)
        return rc;
    *idp = id;
    rc = sp_api__provision(api, &id, user);
    if (rc < 0) {
        sp_api__store_error(req, api, rc);
        return rc;
    }
    /* The writes the request makes from here on are the client's: they
     * keep its Initiator-ID (an invalid one is ignored: store.h). The
     * provisioning above was nobody's request. */
    sp_store_set_initiator(sp_http_header(req, "Initiator-ID"));
    return 0;
}

int sp_api__is_admin(const sp_user *u)
{
    return (u->roles & SP_USER_ROLE_ADMIN) != 0;
}

int sp_api__sees_all_drives(const sp_user *u)
{
    return (u->roles & (SP_USER_ROLE_ADMIN | SP_USER_ROLE_SPACE_ADMIN)) != 0;
}

/* Returns the nesting depth of v, stopping early past limit; sets *too_big
 * when an array or object has more than SP_API_ARRAY_MAX members. */
static int depth(json_t *v, int limit, int *too_big)
{
    if (limit < 0)
        return 1;
    int max = 0;
    if (json_is_array(v)) {
        if (json_array_size(v) > SP_API_ARRAY_MAX)
            *too_big = 1;
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            int d = depth(item, limit - 1, too_big);
            if (d > max)
                max = d;
        }
        return max + 1;
    }
    if (json_is_object(v)) {
        if (json_object_size(v) > SP_API_ARRAY_MAX)
            *too_big = 1;
        const char *key;
        json_t *item;
        json_object_foreach(v, key, item)
        {
            int d = depth(item, limit - 1, too_big);
            if (d > max)
                max = d;
        }
        return max + 1;
    }
    return 0;
}

json_t *sp_api__json_parse(const char *body, size_t len, char *why, size_t whylen)
{
    if (len == 0) {
        snprintf(why, whylen, "a JSON object body is required");
        return NULL;
    }
    json_error_t e;
    json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
    if (!v) {
        snprintf(why, whylen, "malformed JSON at line %d column %d: %s", e.line, e.column,
                 e.text);
        return NULL;
    }
    int too_big = 0;
    if (!json_is_object(v)) {
        snprintf(why, whylen, "the body must be a JSON object");
    } else if (depth(v, SP_API_JSON_DEPTH_MAX, &too_big) > SP_API_JSON_DEPTH_MAX) {
        snprintf(why, whylen, "the body is nested deeper than %d levels", SP_API_JSON_DEPTH_MAX);
    } else if (too_big) {
        snprintf(why, whylen, "an array or object in the body has more than %d members",
                 SP_API_ARRAY_MAX);
    } else {
        return v;
    }
    json_decref(v);
    return NULL;
}

json_t *sp_api__json_body(sp_http_req *req)
{
    size_t len;
    const char *body = sp_http_body(req, &len);
    char why[300];
    json_t *v = sp_api__json_parse(body, len, why, sizeof why);
    if (!v)
        sp_http_reply_error(req, 400, "invalidRequest", "%s", why);
    return v;
}
