/* fuzz_token.c - the token pre-parser and verifier, with a static key set
 * (an RSA and an EC key) and no network. */
#include "auth/internal.h"
#include "config.h"

#include "fuzz_token_jwks.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *fake_env(const char *name, void *ctx)
{
    (void)ctx;
    if (strcmp(name, "SPACEPORT_OIDC_ISSUERS") == 0)
        return "http://127.0.0.1:18999";
    if (strcmp(name, "SPACEPORT_OIDC_AUDIENCE") == 0)
        return "spaceport";
    return NULL;
}

static sp_auth *verifier(void)
{
    static sp_auth *auth;
    static sp_config cfg;
    if (!auth) {
        char err[256];
        const char *sets[1] = {FUZZ_JWKS};
        if (sp_config_load(&cfg, fake_env, NULL, 0, NULL, 0, err, sizeof err) < 0 ||
            sp_auth__create_static(&cfg, sets, 1, SP_AUTH_NO_CACHE, &auth) < 0)
            abort();
    }
    return auth;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *token = malloc(size + 1);
    if (!token)
        return 0;
    memcpy(token, data, size);
    token[size] = '\0';
    sp_identity id;
    int rc = sp_auth_verify(verifier(), token, &id);
    /* No forged token passes: the seeds' signatures no longer match once
     * a byte changes, and nothing else can sign with these keys. */
    if (rc == 0 && (strcmp(id.issuer, "http://127.0.0.1:18999") != 0 || !id.sub[0]))
        abort();
    sp_jwt_header hdr;
    const char *why = NULL;
    (void)sp_auth__jwt_preparse(token, &hdr, &why);
    free(token);
    return 0;
}
