/*
 * auth_fixtures.c - the keys and token helpers shared by the auth suites;
 * see auth_fixtures.h.
 */
#include "auth_fixtures.h"

#include "util/time.h"

#include <check.h>
#include <cjose/header.h>
#include <cjose/jws.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cjose_jwk_t *rsa_a, *rsa_b, *ec_a, *rsa_small;
char *jwks_a, *jwks_b;

/* Public JWK JSON of key with kid added, as a new jansson object. */
json_t *public_jwk(cjose_jwk_t *key, const char *kid)
{
    cjose_err err;
    char *text = cjose_jwk_to_json(key, false, &err);
    ck_assert_ptr_nonnull(text);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    ck_assert_ptr_nonnull(j);
    if (kid)
        json_object_set_new(j, "kid", json_string(kid));
    return j;
}

/* Builds a JWKS text from (k1, kid1) and, when k2 is set, (k2, kid2). New string. */
char *make_jwks(cjose_jwk_t *k1, const char *kid1, cjose_jwk_t *k2, const char *kid2)
{
    json_t *keys = json_array();
    json_array_append_new(keys, public_jwk(k1, kid1));
    if (k2)
        json_array_append_new(keys, public_jwk(k2, kid2));
    json_t *root = json_pack("{s:o}", "keys", keys);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

void auth_keys_setup(void)
{
    cjose_err err;
    static const uint8_t e[] = {1, 0, 1};
    rsa_a = cjose_jwk_create_RSA_random(2048, e, sizeof e, &err);
    rsa_b = cjose_jwk_create_RSA_random(2048, e, sizeof e, &err);
    rsa_small = cjose_jwk_create_RSA_random(1024, e, sizeof e, &err);
    ec_a = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err);
    ck_assert(rsa_a && rsa_b && rsa_small && ec_a);
    jwks_a = make_jwks(rsa_a, "a1", ec_a, "a-ec");
    jwks_b = make_jwks(rsa_b, "b1", NULL, NULL);
}

void auth_keys_teardown(void)
{
    cjose_jwk_release(rsa_a);
    cjose_jwk_release(rsa_b);
    cjose_jwk_release(rsa_small);
    cjose_jwk_release(ec_a);
    free(jwks_a);
    free(jwks_b);
}

/* Signs payload (JSON text) with key under a header made of header_json.
 * Writes the compact JWS into out. */
void sign(cjose_jwk_t *key, const char *header_json, const char *payload, char *out)
{
    cjose_err err;
    json_t *h = json_loads(header_json, 0, NULL);
    ck_assert_ptr_nonnull(h);
    cjose_jws_t *jws =
        cjose_jws_sign(key, (cjose_header_t *)h, (const uint8_t *)payload, strlen(payload), &err);
    ck_assert_msg(jws != NULL, "cjose_jws_sign: %s", err.message);
    const char *ser = NULL;
    ck_assert(cjose_jws_export(jws, &ser, &err));
    ck_assert_uint_lt(strlen(ser), TOK_MAX);
    strcpy(out, ser);
    cjose_jws_release(jws);
    json_decref(h);
}

/* Claims valid now for issuer iss. */
void claims_for(const char *iss, const char *extra, char *out, size_t outlen)
{
    long long now = (long long)(sp_time_now_ms() / 1000);
    snprintf(out, outlen, "{\"iss\":\"%s\",\"sub\":\"alice\",\"iat\":%lld,\"exp\":%lld%s%s}", iss,
             now, now + 600, extra && *extra ? "," : "", extra ? extra : "");
}
