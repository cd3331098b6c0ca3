/*
 * internal.h - what the route files of the API share. Not for use outside
 * src/api/.
 */
#ifndef SP_API_INTERNAL_H
#define SP_API_INTERNAL_H

#include "api/api.h"

/* Each route family registers its routes. */
int sp_api__register_wellknown(sp_router *r, sp_api *api);
int sp_api__register_users(sp_router *r, sp_api *api);

/*
 * Authenticates the request's bearer token. On success returns 0 and fills
 * *id. Otherwise it has already replied 401 (with WWW-Authenticate) or 503
 * and returns a negative sp_err; the handler just returns.
 */
int sp_api__authenticate(sp_http_req *req, sp_api *api, sp_identity *id);

#endif
