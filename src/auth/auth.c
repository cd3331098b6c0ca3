/*
 * auth.c - placeholder until the verifier lands: every token is refused.
 */
#include "auth/auth.h"

#include "util/err.h"
#include "util/log.h"

#include <stdlib.h>

struct sp_auth {
    int unused;
};

int sp_auth_create(const sp_config *cfg, sp_auth **out)
{
    (void)cfg;
    *out = calloc(1, sizeof **out);
    return *out ? 0 : SP_ERR_NOMEM;
}

int sp_auth_verify(sp_auth *auth, const char *token, sp_identity *id)
{
    (void)auth;
    (void)token;
    (void)id;
    return SP_ERR_UNAUTHORIZED;
}

int sp_auth_ready(sp_auth *auth, char *why, size_t whylen)
{
    (void)auth;
    (void)why;
    (void)whylen;
    return 0;
}

int sp_auth_metrics(sp_auth *auth, struct sp_buf *out)
{
    (void)auth;
    (void)out;
    return 0;
}

void sp_auth_destroy(sp_auth *auth)
{
    free(auth);
}
