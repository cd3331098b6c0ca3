/* fuzz_token.c - the token pre-parser and verifier, with a static key set
 * (an RSA and an EC key) and no network; and the two payload readers
 * (jscan.c, jansson) on the raw input, which must agree wherever jscan
 * reads it: a forged token never gets its payload read, so the readers are
 * fuzzed directly. */
#include "auth/internal.h"
#include "config.h"

#include "fuzz_token_jwks.h"
#include "fuzz_text.h"

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
        if (sp_config_load(&cfg, fake_env, NULL, 0, NULL, 0, err, sizeof err) < 0)
            abort();
        sp_auth_options opt = sp_config_auth_options(&cfg);
        if (sp_auth__create_static(&opt, sets, 1, SP_AUTH_NO_CACHE, &auth) < 0)
            abort();
    }
    return auth;
}

static int same_str(const sp_claim_str *a, const sp_claim_str *b)
{
    if (!a->s || !b->s)
        return !a->s && !b->s;
    return a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
}

/* Aborts when jscan reads text as plain and jansson refuses it or reads
 * other claims. */
static void readers_agree(const char *text, size_t len)
{
    static const sp_claims_want want = {"spaceport", "u.name", "realm_access.roles", "groups"};
    sp_claims fast, slow;
    if (!sp_auth__claims_scan(text, len, &want, &fast))
        return;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!doc || !json_is_object(doc))
        abort();
    sp_auth__claims_from_json(doc, &want, &slow);
    if (!same_str(&fast.iss, &slow.iss) || !same_str(&fast.sub, &slow.sub) ||
        !same_str(&fast.user, &slow.user) || !same_str(&fast.name, &slow.name) ||
        !same_str(&fast.email, &slow.email) || fast.exp_kind != slow.exp_kind ||
        fast.nbf_kind != slow.nbf_kind || fast.iat_kind != slow.iat_kind ||
        (fast.exp_kind > 0 && fast.exp != slow.exp) || fast.aud_has != slow.aud_has ||
        fast.email_verified != slow.email_verified || fast.roles != slow.roles ||
        fast.groups_kind != slow.groups_kind ||
        (fast.groups_kind > 0 && fast.group_count != slow.group_count))
        abort();
    for (size_t i = 0; fast.groups_kind > 0 && i < fast.group_count; i++)
        if (!same_str(&fast.groups[i], &slow.groups[i]))
            abort();
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *token = fuzz_text(data, size);
    if (!token)
        return 0;
    sp_identity id;
    int rc = sp_auth_verify(verifier(), token, &id);
    /* No forged token passes: the seeds' signatures no longer match once
     * a byte changes, and nothing else can sign with these keys. */
    if (rc == 0 && (strcmp(id.issuer, "http://127.0.0.1:18999") != 0 || !id.sub[0]))
        abort();
    sp_jwt_header hdr;
    const char *why = NULL;
    (void)sp_auth__jwt_preparse(token, &hdr, &why);
    readers_agree(token, size);
    free(token);
    return 0;
}
