/*
 * fetch.c - the one way the auth module talks to issuers: sp_fetch (see
 * util/fetch.h) under the auth module's limits.
 *
 * Issuer documents decide which keys we trust, so the transport is held
 * tight: https only (plain http only to loopback, for tests and sidecars),
 * a whole-transfer timeout, a body cap, and redirects followed only when
 * they stay on the same origin, so a compromised path on the issuer cannot
 * send us elsewhere.
 */
#include "auth/internal.h"

#include "util/fetch.h"

int sp_auth__url_allowed(const char *url)
{
    return sp_fetch_url_allowed(url);
}

int sp_auth__fetch(const char *url, const char *bearer, const atomic_int *cancel, long *status,
                   struct sp_buf *body, const char **why)
{
    sp_fetch_req req = {.bearer = bearer,
                        .cancel = cancel,
                        .timeout_ms = SP_AUTH_FETCH_TIMEOUT_MS,
                        .max_body = SP_AUTH_FETCH_MAX,
                        .redirects_max = SP_AUTH_FETCH_REDIRECTS_MAX};
    return sp_fetch(url, &req, status, body, why);
}
