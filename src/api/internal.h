/*
 * internal.h - what the route files of the API share. Not for use outside
 * src/api/.
 */
#ifndef SP_API_INTERNAL_H
#define SP_API_INTERNAL_H

#include "api/api.h"
#include "store/users.h"

/* Each route family registers its routes. */
int sp_api__register_wellknown(sp_router *r, sp_api *api);
int sp_api__register_users(sp_router *r, sp_api *api);

/*
 * Authenticates the request's bearer token. On success returns 0 and fills
 * *id. Otherwise it has already replied 401 (with WWW-Authenticate) or 503
 * and returns a negative sp_err; the handler just returns.
 */
int sp_api__authenticate(sp_http_req *req, sp_api *api, sp_identity *id);

/*
 * Authenticates the request and returns its user, provisioned on first
 * sight (with the personal drive). On failure it has already replied
 * (401, 503, or 500/507 when the database fails) and returns a negative
 * sp_err; the handler just returns.
 */
int sp_api__caller(sp_http_req *req, sp_api *api, sp_user *user);

/* Replies for a store error: 507 when full, 500 otherwise, JSON form. */
void sp_api__store_error(sp_http_req *req, int err);

#endif
