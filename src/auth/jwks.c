/*
 * jwks.c - OpenID discovery documents and JWK Sets, turned into key sets.
 *
 * cjose has no JWKS API and its key import ignores "use" and "alg", so the
 * set is parsed here with jansson and each member is filtered before and
 * after cjose_jwk_import_json: only asymmetric signature keys of a size and
 * curve we accept survive. What survives is described in sp_auth_key so that
 * the verifier can match kty, curve and size against a token's alg without
 * asking cjose again, and is imported once more, into OpenSSL, for the
 * signature checks themselves (verify.c): once per fetch, not per token.
 */
#include "auth/internal.h"

#include "util/err.h"
#include "util/log.h"

#include <cjose/header.h>
#include <stdlib.h>
#include <string.h>

/* Returns the member name as a string, or NULL when absent or not a string. */
static const char *get_str(const json_t *obj, const char *name)
{
    return json_string_value(json_object_get(obj, name));
}

int sp_auth__key_fits(const sp_auth_key *key, int alg)
{
    if (alg < 0 || alg >= SP_ALG_COUNT)
        return 0;
    if (key->alg >= 0 && key->alg != alg)
        return 0;
    switch (alg) {
    case SP_ALG_RS256:
    case SP_ALG_RS384:
    case SP_ALG_RS512:
    case SP_ALG_PS256:
    case SP_ALG_PS384:
    case SP_ALG_PS512:
        return key->kty == CJOSE_JWK_KTY_RSA && key->bits >= SP_AUTH_RSA_MIN_BITS &&
               key->bits <= SP_AUTH_RSA_MAX_BITS;
    case SP_ALG_ES256:
        return key->kty == CJOSE_JWK_KTY_EC && key->crv == CJOSE_JWK_EC_P_256;
    case SP_ALG_ES384:
        return key->kty == CJOSE_JWK_KTY_EC && key->crv == CJOSE_JWK_EC_P_384;
    case SP_ALG_ES512:
        return key->kty == CJOSE_JWK_KTY_EC && key->crv == CJOSE_JWK_EC_P_521;
    default:
        return 0;
    }
}

/* Returns non-zero when the JWK's key_ops (if any) allow verification. */
static int ops_allow_verify(const json_t *jwk)
{
    const json_t *ops = json_object_get(jwk, "key_ops");
    if (!ops)
        return 1;
    if (!json_is_array(ops))
        return 0;
    size_t i;
    const json_t *op;
    json_array_foreach(ops, i, op)
    {
        const char *s = json_string_value(op);
        if (s && strcmp(s, "verify") == 0)
            return 1;
    }
    return 0;
}

/*
 * Fills *key from one JWK object (borrowed). Returns 0 when the key is
 * usable (key->jwk and key->ver new), SP_ERR_INVALID with why when it is
 * dropped, or SP_ERR_NOMEM.
 */
static int key_from_json(json_t *jwk, sp_auth_key *key, const char **why)
{
    memset(key, 0, sizeof *key);
    key->alg = -1;
    if (!json_is_object(jwk)) {
        *why = "not an object";
        return SP_ERR_INVALID;
    }
    const char *kty = get_str(jwk, "kty");
    if (!kty || (strcmp(kty, "RSA") != 0 && strcmp(kty, "EC") != 0)) {
        *why = "kty is not RSA or EC";
        return SP_ERR_INVALID;
    }
    const json_t *use = json_object_get(jwk, "use");
    if (use && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0)) {
        *why = "use is not sig";
        return SP_ERR_INVALID;
    }
    if (!ops_allow_verify(jwk)) {
        *why = "key_ops without verify";
        return SP_ERR_INVALID;
    }
    const json_t *alg = json_object_get(jwk, "alg");
    if (alg) {
        key->alg = sp_auth__alg_parse(json_string_value(alg));
        if (key->alg < 0) {
            *why = "alg not in the allow-list";
            return SP_ERR_INVALID;
        }
    }
    const json_t *kid = json_object_get(jwk, "kid");
    if (kid) {
        const char *k = json_string_value(kid);
        if (!k || strlen(k) >= sizeof key->kid) {
            *why = "kid not a string or too long";
            return SP_ERR_INVALID;
        }
        strcpy(key->kid, k);
        key->has_kid = 1;
    }

    cjose_err err = {0};
    key->jwk = cjose_jwk_import_json((cjose_header_t *)jwk, &err);
    if (!key->jwk) {
        *why = "cjose cannot import it";
        return SP_ERR_INVALID;
    }
    key->kty = cjose_jwk_get_kty(key->jwk, &err);
    if (key->kty == CJOSE_JWK_KTY_RSA && strcmp(kty, "RSA") == 0) {
        key->bits = cjose_jwk_get_keysize(key->jwk, &err);
        if (key->bits < SP_AUTH_RSA_MIN_BITS) {
            *why = "RSA key shorter than 2048 bits";
            goto fail;
        }
        if (key->bits > SP_AUTH_RSA_MAX_BITS) {
            *why = "RSA key longer than the limit";
            goto fail;
        }
    } else if (key->kty == CJOSE_JWK_KTY_EC && strcmp(kty, "EC") == 0) {
        key->crv = cjose_jwk_EC_get_curve(key->jwk, &err);
        key->bits = cjose_jwk_get_keysize(key->jwk, &err);
        if (key->crv != CJOSE_JWK_EC_P_256 && key->crv != CJOSE_JWK_EC_P_384 &&
            key->crv != CJOSE_JWK_EC_P_521) {
            *why = "EC curve not P-256, P-384 or P-521";
            goto fail;
        }
    } else {
        *why = "imported key type differs from kty";
        goto fail;
    }
    /* A key that names its alg must be able to serve it. */
    if (key->alg >= 0 && !sp_auth__key_fits(key, key->alg)) {
        *why = "alg does not fit the key";
        goto fail;
    }
    int rc = sp_auth__verifier_new(jwk, key, &key->ver, why);
    if (rc < 0) {
        cjose_jwk_release(key->jwk);
        key->jwk = NULL;
        return rc;
    }
    return 0;

fail:
    cjose_jwk_release(key->jwk);
    key->jwk = NULL;
    return SP_ERR_INVALID;
}

int sp_auth__keyset_parse(const char *text, size_t len, sp_auth_keyset **out, const char **why)
{
    *out = NULL;
    *why = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        *why = "JWKS is not JSON";
        return SP_ERR_INVALID;
    }
    int rc = SP_ERR_INVALID;
    json_t *keys = json_object_get(root, "keys");
    if (!json_is_object(root) || !json_is_array(keys)) {
        *why = "JWKS has no keys array";
        goto done;
    }
    size_t n = json_array_size(keys);
    size_t cap = n < SP_AUTH_JWKS_KEYS_MAX ? n : SP_AUTH_JWKS_KEYS_MAX;
    sp_auth_keyset *ks = calloc(1, sizeof *ks + cap * sizeof ks->keys[0]);
    if (!ks) {
        rc = SP_ERR_NOMEM;
        *why = "out of memory";
        goto done;
    }
    atomic_init(&ks->refs, 1);
    ks->dropped = n - cap;
    for (size_t i = 0; i < cap; i++) {
        const char *kwhy = NULL;
        sp_auth_key *key = &ks->keys[ks->count];
        int krc = key_from_json(json_array_get(keys, i), key, &kwhy);
        if (krc == SP_ERR_NOMEM) {
            sp_auth__keyset_release(ks);
            rc = SP_ERR_NOMEM;
            *why = "out of memory";
            goto done;
        }
        if (krc < 0) {
            sp_debug("auth", "JWKS key %zu skipped: %s", i, kwhy);
            ks->dropped++;
            continue;
        }
        ks->count++;
    }
    *out = ks;
    rc = 0;
done:
    json_decref(root);
    return rc;
}

void sp_auth__keyset_retain(sp_auth_keyset *ks)
{
    atomic_fetch_add_explicit(&ks->refs, 1, memory_order_relaxed);
}

void sp_auth__keyset_release(sp_auth_keyset *ks)
{
    if (!ks || atomic_fetch_sub_explicit(&ks->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < ks->count; i++) {
        sp_auth__verifier_free(ks->keys[i].ver);
        cjose_jwk_release(ks->keys[i].jwk);
    }
    free(ks);
}

int sp_auth__discovery_parse(const char *text, size_t len, const char *issuer, char **jwks_uri,
                             char **userinfo, const char **why)
{
    *jwks_uri = NULL;
    *userinfo = NULL;
    *why = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        *why = "discovery document is not a JSON object";
        json_decref(root);
        return SP_ERR_INVALID;
    }
    int rc = SP_ERR_INVALID;
    const char *iss = get_str(root, "issuer");
    if (!iss || strcmp(iss, issuer) != 0) {
        /* OpenID Connect Discovery 1.0, section 4.3: exact match. */
        *why = "discovery issuer differs from the configured issuer";
        goto done;
    }
    const char *j = get_str(root, "jwks_uri");
    if (!j || !sp_auth__url_allowed(j)) {
        *why = "jwks_uri missing or not allowed";
        goto done;
    }
    const char *u = get_str(root, "userinfo_endpoint");
    if (u && !sp_auth__url_allowed(u)) {
        sp_warn("auth",
                "issuer %s: userinfo_endpoint %s not allowed; opaque tokens are not "
                "checked there",
                issuer, u);
        u = NULL;
    }
    rc = SP_ERR_NOMEM;
    *jwks_uri = strdup(j);
    if (!*jwks_uri)
        goto done;
    if (u && !(*userinfo = strdup(u))) {
        free(*jwks_uri);
        *jwks_uri = NULL;
        goto done;
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}
