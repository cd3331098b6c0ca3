/*
 * test_auth.c - the pure parts of the auth module around the signature: the
 * pre-parser, alg/key matching, JWKS and discovery parsing, the URL policy,
 * claims checks, the identity, the cache, and the whole verifier over static
 * key sets. Signatures themselves and the plain JSON reader are in
 * test_verify.c.
 *
 * Tokens are made with cjose (auth_fixtures.c: keys generated once, before
 * Check forks the tests) so that every case below is a real signature.
 */
#include "auth/internal.h"
#include "config.h"
#include "auth_fixtures.h"

#include "util/base64.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/time.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A token made of the given header text and payload text and sig_len bytes
 * of signature (not a valid signature; for the pre-parser). */
static void fake(const char *header_json, const char *payload, size_t sig_len, char *out)
{
    uint8_t sig[1100] = {0};
    char h[1024], p[TOK_MAX / 2], s[1500];
    ck_assert(sp_base64url_encode(header_json, strlen(header_json), h, sizeof h) == 0);
    ck_assert(sp_base64url_encode(payload, strlen(payload), p, sizeof p) == 0);
    ck_assert(sp_base64url_encode(sig, sig_len, s, sizeof s) == 0);
    snprintf(out, TOK_MAX, "%s.%s.%s", h, p, s);
}

/* --- algorithms and token shapes --- */

START_TEST(alg_allow_list)
{
    static const char *const good[] = {"RS256", "RS384", "RS512", "PS256", "PS384",
                                       "PS512", "ES256", "ES384", "ES512"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int alg = sp_auth__alg_parse(good[i]);
        ck_assert_int_ge(alg, 0);
        ck_assert_str_eq(sp_auth__alg_name(alg), good[i]);
    }
    static const char *const bad[] = {"none",  "None",  "NONE",   "HS256", "HS512", "RS1",
                                      "rs256", "EdDSA", "ES256K", "",      "RS256 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(sp_auth__alg_parse(bad[i]) < 0, "%s accepted", bad[i]);
    ck_assert_int_lt(sp_auth__alg_parse(NULL), 0);
    ck_assert_uint_eq(sp_auth__alg_es_sig_len(SP_ALG_ES256), 64);
    ck_assert_uint_eq(sp_auth__alg_es_sig_len(SP_ALG_ES384), 96);
    ck_assert_uint_eq(sp_auth__alg_es_sig_len(SP_ALG_ES512), 132);
    ck_assert_uint_eq(sp_auth__alg_es_sig_len(SP_ALG_RS256), 0);
}
END_TEST

START_TEST(token_kinds)
{
    ck_assert_int_eq(sp_auth__token_kind("abc.def.ghi"), SP_TOKEN_JWS);
    ck_assert_int_eq(sp_auth__token_kind("a.b"), SP_TOKEN_JWS);
    ck_assert_int_eq(sp_auth__token_kind("opaque-Token_1~+/=="), SP_TOKEN_OPAQUE);
    ck_assert_int_eq(sp_auth__token_kind(""), SP_TOKEN_INVALID);
    ck_assert_int_eq(sp_auth__token_kind("abc def"), SP_TOKEN_INVALID);
    ck_assert_int_eq(sp_auth__token_kind("abc=def"), SP_TOKEN_INVALID);
    ck_assert_int_eq(sp_auth__token_kind("abc!"), SP_TOKEN_INVALID);
    char *big = malloc(SP_AUTH_TOKEN_MAX + 2);
    memset(big, 'a', SP_AUTH_TOKEN_MAX + 1);
    big[SP_AUTH_TOKEN_MAX + 1] = '\0';
    ck_assert_int_eq(sp_auth__token_kind(big), SP_TOKEN_INVALID);
    big[SP_AUTH_TOKEN_MAX] = '\0';
    ck_assert_int_eq(sp_auth__token_kind(big), SP_TOKEN_OPAQUE);
    free(big);
}
END_TEST

/* Pre-parses tok and returns the result. */
static int pre(const char *tok, sp_jwt_header *hdr)
{
    const char *why = NULL;
    int rc = sp_auth__jwt_preparse(tok, hdr, &why);
    ck_assert(rc == 0 || why != NULL);
    return rc;
}

START_TEST(preparse_accepts)
{
    char tok[TOK_MAX];
    sp_jwt_header hdr;
    fake("{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":\"JWT\"}", "{}", 256, tok);
    ck_assert_int_eq(pre(tok, &hdr), 0);
    ck_assert_int_eq(hdr.alg, SP_ALG_RS256);
    ck_assert(hdr.has_kid);
    ck_assert_str_eq(hdr.kid, "k1");
    fake("{\"alg\":\"ES256\",\"typ\":\"at+jwt\"}", "{}", 64, tok);
    ck_assert_int_eq(pre(tok, &hdr), 0);
    ck_assert(!hdr.has_kid);
    fake("{\"alg\":\"ES512\",\"typ\":\"application/at+jwt\",\"jku\":\"https://evil\"}", "{}", 132,
         tok);
    ck_assert_int_eq(pre(tok, &hdr), 0);
    fake("{\"alg\":\"PS384\"}", "{}", 512, tok);
    ck_assert_int_eq(pre(tok, &hdr), 0);
}
END_TEST

START_TEST(preparse_refuses_headers)
{
    static const struct {
        const char *header;
        size_t sig;
    } bad[] = {
        {"{\"alg\":\"none\"}", 256},
        {"{\"alg\":\"None\"}", 256},
        {"{\"alg\":\"NONE\"}", 256},
        {"{\"alg\":\"HS256\"}", 32},
        {"{\"alg\":\"RS1\"}", 256},
        {"{\"typ\":\"JWT\"}", 256},
        {"{\"alg\":5}", 256},
        {"{\"alg\":\"RS256\",\"typ\":\"JOSE\"}", 256},
        {"{\"alg\":\"RS256\",\"typ\":7}", 256},
        {"{\"alg\":\"RS256\",\"crit\":[\"exp\"]}", 256},
        {"{\"alg\":\"RS256\",\"enc\":\"A256GCM\"}", 256},
        {"{\"alg\":\"RS256\",\"zip\":\"DEF\"}", 256},
        {"{\"alg\":\"RS256\",\"b64\":false}", 256},
        {"{\"alg\":\"RS256\",\"kid\":42}", 256},
        {"{\"alg\":\"RS256\",\"alg\":\"none\"}", 256},
        {"[\"RS256\"]", 256},
        {"RS256", 256},
        {"{\"alg\":\"ES256\"}", 63},
        {"{\"alg\":\"ES256\"}", 65},
        {"{\"alg\":\"ES256\"}", 72}, /* DER-sized */
        {"{\"alg\":\"ES384\"}", 64},
        {"{\"alg\":\"ES512\"}", 128},
        {"{\"alg\":\"RS256\"}", 128},
        {"{\"alg\":\"RS256\"}", 1025},
    };
    char tok[TOK_MAX];
    sp_jwt_header hdr;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fake(bad[i].header, "{}", bad[i].sig, tok);
        ck_assert_msg(pre(tok, &hdr) == SP_ERR_UNAUTHORIZED, "accepted %s sig %zu", bad[i].header,
                      bad[i].sig);
    }
    /* A kid as long as the limit. */
    char header[SP_AUTH_KID_MAX + 64];
    char kid[SP_AUTH_KID_MAX + 1];
    memset(kid, 'k', SP_AUTH_KID_MAX);
    kid[SP_AUTH_KID_MAX] = '\0';
    snprintf(header, sizeof header, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", kid);
    fake(header, "{}", 256, tok);
    ck_assert_int_eq(pre(tok, &hdr), SP_ERR_UNAUTHORIZED);
}
END_TEST

START_TEST(preparse_refuses_shapes)
{
    char good[TOK_MAX], tok[TOK_MAX + 16];
    sp_jwt_header hdr;
    fake("{\"alg\":\"ES256\"}", "{\"sub\":\"x\"}", 64, good);
    ck_assert_int_eq(pre(good, &hdr), 0);
    const char *d1 = strchr(good, '.');
    const char *d2 = strchr(d1 + 1, '.');

    /* One, three and four dots. */
    snprintf(tok, sizeof tok, "%.*s", (int)(d2 - good), good);
    ck_assert_int_eq(pre(tok, &hdr), SP_ERR_UNAUTHORIZED);
    snprintf(tok, sizeof tok, "%s.e30", good);
    ck_assert_int_eq(pre(tok, &hdr), SP_ERR_UNAUTHORIZED);
    snprintf(tok, sizeof tok, "%s.e30.e30", good);
    ck_assert_int_eq(pre(tok, &hdr), SP_ERR_UNAUTHORIZED);
    /* Empty parts. */
    snprintf(tok, sizeof tok, "%.*s.", (int)(d2 - good), good);
    ck_assert_int_eq(pre(tok, &hdr), SP_ERR_UNAUTHORIZED);
    snprintf(tok, sizeof tok, "%.*s.%s", (int)(d1 - good), good, d2);
    ck_assert_int_eq(pre(tok, &hdr), SP_ERR_UNAUTHORIZED);
    /* Characters outside base64url, anywhere. */
    static const char *const intruders[] = {"=", "+", "/", " ", "\t", "%", "\xc3\xa9"};
    for (size_t i = 0; i < sizeof intruders / sizeof intruders[0]; i++) {
        snprintf(tok, sizeof tok, "%.*s%s%s", (int)(d1 - good + 3), good, intruders[i], d1 + 3);
        ck_assert_msg(pre(tok, &hdr) == SP_ERR_UNAUTHORIZED, "accepted '%s'", intruders[i]);
    }
    snprintf(tok, sizeof tok, "%s==", good);
    ck_assert_int_eq(pre(tok, &hdr), SP_ERR_UNAUTHORIZED);
    /* Non-canonical: the last character carries bits that decode to nothing
     * (64 bytes = 86 chars, 4 unused bits in the last one). */
    strcpy(tok, good);
    size_t n = strlen(tok);
    ck_assert_int_eq(tok[n - 1], 'A'); /* zero signature bytes: canonical 'A' */
    tok[n - 1] = 'B';
    ck_assert_int_eq(pre(tok, &hdr), SP_ERR_UNAUTHORIZED);
    /* Oversized. */
    char *big = malloc(TOK_MAX);
    char *payload = malloc(SP_AUTH_TOKEN_MAX);
    snprintf(payload, SP_AUTH_TOKEN_MAX, "{\"f\":\"%0*d\"}", SP_AUTH_TOKEN_MAX * 3 / 4, 0);
    fake("{\"alg\":\"ES256\"}", payload, 64, big);
    ck_assert_uint_gt(strlen(big), SP_AUTH_TOKEN_MAX);
    ck_assert_int_eq(pre(big, &hdr), SP_ERR_UNAUTHORIZED);
    free(big);
    free(payload);
}
END_TEST

/* --- keys --- */

START_TEST(key_fits_alg)
{
    sp_auth_key rsa = {.kty = CJOSE_JWK_KTY_RSA, .bits = 2048, .alg = -1};
    sp_auth_key ec256 = {.kty = CJOSE_JWK_KTY_EC, .crv = CJOSE_JWK_EC_P_256, .alg = -1};
    sp_auth_key ec384 = {.kty = CJOSE_JWK_KTY_EC, .crv = CJOSE_JWK_EC_P_384, .alg = -1};
    sp_auth_key ec521 = {.kty = CJOSE_JWK_KTY_EC, .crv = CJOSE_JWK_EC_P_521, .alg = -1};
    for (int alg = SP_ALG_RS256; alg <= SP_ALG_PS512; alg++) {
        ck_assert(sp_auth__key_fits(&rsa, alg));
        ck_assert(!sp_auth__key_fits(&ec256, alg));
    }
    ck_assert(sp_auth__key_fits(&ec256, SP_ALG_ES256));
    ck_assert(!sp_auth__key_fits(&ec256, SP_ALG_ES384));
    ck_assert(sp_auth__key_fits(&ec384, SP_ALG_ES384));
    ck_assert(!sp_auth__key_fits(&ec384, SP_ALG_ES512));
    ck_assert(sp_auth__key_fits(&ec521, SP_ALG_ES512));
    ck_assert(!sp_auth__key_fits(&rsa, SP_ALG_ES256));
    ck_assert(!sp_auth__key_fits(&rsa, -1));
    ck_assert(!sp_auth__key_fits(&rsa, SP_ALG_COUNT));
    rsa.bits = 1024;
    ck_assert(!sp_auth__key_fits(&rsa, SP_ALG_RS256));
    rsa.bits = 16384;
    ck_assert(!sp_auth__key_fits(&rsa, SP_ALG_RS256));
    rsa.bits = 4096;
    rsa.alg = SP_ALG_PS256; /* the JWK names its alg */
    ck_assert(sp_auth__key_fits(&rsa, SP_ALG_PS256));
    ck_assert(!sp_auth__key_fits(&rsa, SP_ALG_RS256));
}
END_TEST

START_TEST(keyset_filters)
{
    json_t *keys = json_array();
    json_array_append_new(keys, public_jwk(rsa_a, "good-rsa"));
    json_array_append_new(keys, public_jwk(ec_a, "good-ec"));
    json_array_append_new(keys, public_jwk(rsa_small, "small"));
    json_t *enc = public_jwk(rsa_b, "enc");
    json_object_set_new(enc, "use", json_string("enc"));
    json_array_append_new(keys, enc);
    json_t *oaep = public_jwk(rsa_b, "oaep");
    json_object_set_new(oaep, "alg", json_string("RSA-OAEP"));
    json_array_append_new(keys, oaep);
    json_t *ops = public_jwk(rsa_b, "ops");
    json_object_set_new(ops, "key_ops", json_pack("[s]", "encrypt"));
    json_array_append_new(keys, ops);
    json_t *mismatch = public_jwk(ec_a, "ec-says-rs");
    json_object_set_new(mismatch, "alg", json_string("RS256"));
    json_array_append_new(keys, mismatch);
    json_array_append_new(keys, json_pack("{s:s,s:s}", "kty", "oct", "k", "c2VjcmV0"));
    json_array_append_new(keys, json_pack("{s:s,s:s,s:s}", "kty", "OKP", "crv", "Ed25519", "x",
                                          "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"));
    json_array_append_new(keys, json_pack("{s:s,s:s}", "kty", "RSA", "e", "AQAB"));
    json_array_append_new(keys, json_string("not a key"));
    json_t *kidnum = public_jwk(rsa_b, NULL);
    json_object_set_new(kidnum, "kid", json_integer(3));
    json_array_append_new(keys, kidnum);
    json_t *signed_ok = public_jwk(rsa_b, "sig-ops");
    json_object_set_new(signed_ok, "use", json_string("sig"));
    json_object_set_new(signed_ok, "key_ops", json_pack("[s]", "verify"));
    json_object_set_new(signed_ok, "alg", json_string("PS256"));
    json_array_append_new(keys, signed_ok);
    json_t *root = json_pack("{s:o}", "keys", keys);
    char *text = json_dumps(root, 0);
    json_decref(root);

    sp_auth_keyset *ks = NULL;
    const char *why = NULL;
    ck_assert_int_eq(sp_auth__keyset_parse(text, strlen(text), &ks, &why), 0);
    free(text);
    ck_assert_uint_eq(ks->count, 3);
    ck_assert_uint_eq(ks->dropped, 10);
    ck_assert_str_eq(ks->keys[0].kid, "good-rsa");
    ck_assert_int_eq(ks->keys[0].kty, CJOSE_JWK_KTY_RSA);
    ck_assert_uint_eq(ks->keys[0].bits, 2048);
    ck_assert_str_eq(ks->keys[1].kid, "good-ec");
    ck_assert_int_eq(ks->keys[1].crv, CJOSE_JWK_EC_P_256);
    ck_assert_str_eq(ks->keys[2].kid, "sig-ops");
    ck_assert_int_eq(ks->keys[2].alg, SP_ALG_PS256);
    sp_auth__keyset_retain(ks);
    sp_auth__keyset_release(ks);
    sp_auth__keyset_release(ks);

    static const char *const bad[] = {
        "", "[]", "{}", "{\"keys\":{}}", "{\"keys\":[],\"keys\":[]}", "not json"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(sp_auth__keyset_parse(bad[i], strlen(bad[i]), &ks, &why), SP_ERR_INVALID);
        ck_assert_ptr_null(ks);
    }
    ck_assert_int_eq(sp_auth__keyset_parse("{\"keys\":[]}", 11, &ks, &why), 0);
    ck_assert_uint_eq(ks->count, 0);
    sp_auth__keyset_release(ks);
}
END_TEST

START_TEST(discovery_checks)
{
    char *jwks = NULL, *ui = NULL;
    const char *why = NULL;
    const char *ok = "{\"issuer\":\"https://idp.test/realms/x\",\"jwks_uri\":"
                     "\"https://idp.test/certs\",\"userinfo_endpoint\":\"https://idp.test/ui\"}";
    ck_assert_int_eq(
        sp_auth__discovery_parse(ok, strlen(ok), "https://idp.test/realms/x", &jwks, &ui, &why), 0);
    ck_assert_str_eq(jwks, "https://idp.test/certs");
    ck_assert_str_eq(ui, "https://idp.test/ui");
    free(jwks);
    free(ui);
    /* Trailing slash and case are different issuers. */
    ck_assert_int_eq(
        sp_auth__discovery_parse(ok, strlen(ok), "https://idp.test/realms/x/", &jwks, &ui, &why),
        SP_ERR_INVALID);
    ck_assert_int_eq(
        sp_auth__discovery_parse(ok, strlen(ok), "https://IDP.test/realms/x", &jwks, &ui, &why),
        SP_ERR_INVALID);
    ck_assert_ptr_null(jwks);
    static const char *const bad[] = {
        "{\"issuer\":\"https://i\",\"jwks_uri\":\"http://remote.test/certs\"}",
        "{\"issuer\":\"https://i\"}",
        "{\"issuer\":\"https://i\",\"jwks_uri\":7}",
        "{\"issuer\":\"https://i\",\"issuer\":\"https://i\",\"jwks_uri\":\"https://i/c\"}",
        "[]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(
            sp_auth__discovery_parse(bad[i], strlen(bad[i]), "https://i", &jwks, &ui, &why),
            SP_ERR_INVALID);
    /* A userinfo endpoint outside the policy is dropped, not fatal. */
    const char *plain = "{\"issuer\":\"https://i\",\"jwks_uri\":\"http://127.0.0.1:9/c\","
                        "\"userinfo_endpoint\":\"http://remote.test/ui\"}";
    ck_assert_int_eq(sp_auth__discovery_parse(plain, strlen(plain), "https://i", &jwks, &ui, &why),
                     0);
    ck_assert_ptr_null(ui);
    free(jwks);
}
END_TEST

START_TEST(url_policy)
{
    ck_assert(sp_auth__url_allowed("https://idp.test/x"));
    ck_assert(sp_auth__url_allowed("http://127.0.0.1:8080/x"));
    ck_assert(sp_auth__url_allowed("http://localhost/x"));
    ck_assert(sp_auth__url_allowed("http://[::1]:80/x"));
    ck_assert(!sp_auth__url_allowed("http://idp.test/x"));
    ck_assert(!sp_auth__url_allowed("ftp://idp.test/x"));
    ck_assert(!sp_auth__url_allowed("file:///etc/passwd"));
    ck_assert(!sp_auth__url_allowed("https://user:pw@idp.test/"));
    ck_assert(!sp_auth__url_allowed(NULL));
}
END_TEST

/* --- claims --- */

/* Runs the claims check on JSON text at time now. */
static int check_claims(const char *json, const char *aud, double now)
{
    json_t *c = json_loads(json, 0, NULL);
    ck_assert_msg(c != NULL, "bad test JSON %s", json);
    const char *why = NULL;
    int rc = sp_auth__claims_check(c, ISS_A, aud, now, &why);
    json_decref(c);
    return rc;
}

START_TEST(claims_rules)
{
    const double now = 1800000000.0;
    static const struct {
        const char *json;
        const char *aud;
        int ok;
    } cases[] = {
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":1800000600}", NULL, 1},
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":1800000600.5}", NULL, 1},
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":1799999950}", NULL, 1}, /* leeway */
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":1799999930}", NULL, 0},
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\"}", NULL, 0},
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":\"1800000600\"}", NULL, 0},
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":null}", NULL, 0},
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":true}", NULL, 0},
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":1800000600,\"nbf\":1800000050}", NULL, 1},
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":1800000600,\"nbf\":1800000070}", NULL, 0},
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":1800000600,\"nbf\":\"x\"}", NULL, 0},
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":1800000600,\"iat\":1800000050}", NULL, 1},
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":1800000600,\"iat\":1800000300}", NULL, 0},
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":1800000600,\"iat\":[]}", NULL, 0},
        {"{\"iss\":\"" ISS_A "/\",\"sub\":\"s\",\"exp\":1800000600}", NULL, 0},
        {"{\"iss\":\"HTTPS://IDP.A.TEST\",\"sub\":\"s\",\"exp\":1800000600}", NULL, 0},
        {"{\"iss\":\"" ISS_B "\",\"sub\":\"s\",\"exp\":1800000600}", NULL, 0},
        {"{\"sub\":\"s\",\"exp\":1800000600}", NULL, 0},
        {"{\"iss\":\"" ISS_A "\",\"exp\":1800000600}", NULL, 0},
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"\",\"exp\":1800000600}", NULL, 0},
        {"{\"iss\":\"" ISS_A "\",\"sub\":7,\"exp\":1800000600}", NULL, 0},
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":1800000600,\"aud\":\"sp\"}", "sp", 1},
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":1800000600,\"aud\":[\"x\",\"sp\"]}", "sp",
         1},
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":1800000600,\"aud\":[\"x\",\"SP\"]}", "sp",
         0},
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":1800000600,\"aud\":\"other\"}", "sp", 0},
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":1800000600}", "sp", 0},
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":1800000600,\"aud\":{\"sp\":1}}", "sp", 0},
        {"{\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":1800000600,\"aud\":\"other\"}", NULL, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = check_claims(cases[i].json, cases[i].aud, now);
        ck_assert_msg((rc == 0) == cases[i].ok, "case %zu %s: rc %d", i, cases[i].json, rc);
    }
}
END_TEST

/* Identity from JSON text with the default claim names. */
static int identity_of(const char *json, const char *user_claim, const char *roles_claim,
                       sp_identity *id)
{
    json_t *c = json_loads(json, JSON_ALLOW_NUL, NULL);
    ck_assert_ptr_nonnull(c);
    const char *why = NULL;
    sp_claims_want want = {.user_claim = user_claim, .roles_claim = roles_claim};
    int rc = sp_auth__identity_from_claims(c, ISS_A, 0, &want, id, &why);
    json_decref(c);
    return rc;
}

/* The groups claim (auth.h): taken whole, sorted and without
 * duplicates, with a digest that does not depend on the token's order;
 * any other shape refuses the token. */
START_TEST(identity_groups)
{
    sp_identity a, b;
    ck_assert_int_eq(identity_of("{\"sub\":\"s\",\"groups\":[\"sailing\",\"physics\",\"sailing\"]}",
                                 NULL, NULL, &a),
                     0);
    ck_assert_int_eq(a.group_count, 2);
    ck_assert_str_eq(a.groups, "physics");
    ck_assert_str_eq(a.groups + strlen("physics") + 1, "sailing");
    ck_assert_uint_eq(strlen(a.groups_digest), 64);
    ck_assert_int_eq(
        identity_of("{\"sub\":\"s\",\"groups\":[\"physics\",\"sailing\"]}", NULL, NULL, &b), 0);
    ck_assert_str_eq(a.groups_digest, b.groups_digest);
    ck_assert_int_eq(identity_of("{\"sub\":\"s\",\"groups\":[\"physics\"]}", NULL, NULL, &b), 0);
    ck_assert_str_ne(a.groups_digest, b.groups_digest);
    /* None, null and []: no groups, no digest. */
    ck_assert_int_eq(identity_of("{\"sub\":\"s\"}", NULL, NULL, &b), 0);
    ck_assert_int_eq(b.group_count, 0);
    ck_assert_str_eq(b.groups_digest, "");
    ck_assert_int_eq(identity_of("{\"sub\":\"s\",\"groups\":null}", NULL, NULL, &b), 0);
    ck_assert_str_eq(b.groups_digest, "");
    ck_assert_int_eq(identity_of("{\"sub\":\"s\",\"groups\":[]}", NULL, NULL, &b), 0);
    ck_assert_str_eq(b.groups_digest, "");
    /* Shapes that refuse the token. */
    static const char *const bad[] = {
        "{\"sub\":\"s\",\"groups\":\"physics\"}",     "{\"sub\":\"s\",\"groups\":{\"a\":1}}",
        "{\"sub\":\"s\",\"groups\":[\"a\",2]}",       "{\"sub\":\"s\",\"groups\":[\"\"]}",
        "{\"sub\":\"s\",\"groups\":[\"a\\u0000b\"]}", "{\"sub\":\"s\",\"groups\":[\"a\\nb\"]}",
        "{\"sub\":\"s\",\"groups\":[null]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(identity_of(bad[i], NULL, NULL, &b) == SP_ERR_UNAUTHORIZED, "%s", bad[i]);
    /* Bounds: 256 names of 255 bytes would pass each check alone; the
     * 4 KiB of names in all refuses them, as do 257 names or one of 256
     * bytes. */
    char *doc = malloc(256 * 260 + 64);
    ck_assert_ptr_nonnull(doc);
    for (int count = 256; count <= 257; count++) {
        strcpy(doc, "{\"sub\":\"s\",\"groups\":[");
        for (int i = 0; i < count; i++)
            sprintf(doc + strlen(doc), "%s\"g%d\"", i ? "," : "", i);
        strcat(doc, "]}");
        ck_assert_int_eq(identity_of(doc, NULL, NULL, &b), count == 256 ? 0 : SP_ERR_UNAUTHORIZED);
    }
    ck_assert_int_eq(b.group_count, 0);
    char name[300];
    for (int len = 255; len <= 256; len++) {
        memset(name, 'x', (size_t)len);
        name[len] = '\0';
        sprintf(doc, "{\"sub\":\"s\",\"groups\":[\"%s\"]}", name);
        ck_assert_int_eq(identity_of(doc, NULL, NULL, &b), len == 255 ? 0 : SP_ERR_UNAUTHORIZED);
    }
    /* 20 names of 253 bytes: each fine, 5 KiB together too much. */
    memset(name, 'x', 250);
    name[250] = '\0';
    strcpy(doc, "{\"sub\":\"s\",\"groups\":[");
    for (int i = 0; i < 20; i++)
        sprintf(doc + strlen(doc), "%s\"%03d%s\"", i ? "," : "", i, name);
    strcat(doc, "]}");
    ck_assert_int_eq(identity_of(doc, NULL, NULL, &b), SP_ERR_UNAUTHORIZED);
    free(doc);
}
END_TEST

START_TEST(identity_mapping)
{
    sp_identity id;
    ck_assert_int_eq(identity_of("{\"sub\":\"s1\",\"preferred_username\":\"alice\",\"name\":"
                                 "\"Alice A\",\"email\":\"a@x\",\"email_verified\":true,"
                                 "\"roles\":[\"spaceport-admin\",\"x\",5]}",
                                 NULL, NULL, &id),
                     0);
    ck_assert_str_eq(id.issuer, ISS_A);
    ck_assert_str_eq(id.sub, "s1");
    ck_assert_str_eq(id.username, "alice");
    ck_assert_str_eq(id.display_name, "Alice A");
    ck_assert_str_eq(id.email, "a@x");
    ck_assert_uint_eq(id.roles, SP_ROLE_ADMIN);

    ck_assert_int_eq(identity_of("{\"sub\":\"s2\",\"email\":\"b@x\",\"email_verified\":false,"
                                 "\"roles\":\"a spaceport-spaceadmin  spaceport-admin\"}",
                                 NULL, NULL, &id),
                     0);
    ck_assert_str_eq(id.username, "s2");
    ck_assert_str_eq(id.display_name, "s2");
    ck_assert_str_eq(id.email, "");
    ck_assert_uint_eq(id.roles, SP_ROLE_ADMIN | SP_ROLE_SPACE_ADMIN);

    /* An address without email_verified is not taken (the issuer is not
     * trusted to verify addresses silently); "false" as a string neither. */
    ck_assert_int_eq(identity_of("{\"sub\":\"s3\",\"email\":\"c@x\"}", NULL, NULL, &id), 0);
    ck_assert_str_eq(id.email, "");
    ck_assert_int_eq(identity_of("{\"sub\":\"s3\",\"email\":\"c@x\",\"email_verified\":\"false\"}",
                                 NULL, NULL, &id),
                     0);
    ck_assert_str_eq(id.email, "");

    /* Configured claim names, dotted paths. */
    ck_assert_int_eq(identity_of("{\"sub\":\"s4\",\"upn\":\"dave\",\"realm_access\":{\"roles\":"
                                 "[\"spaceport-spaceadmin\"]}}",
                                 "upn", "realm_access.roles", &id),
                     0);
    ck_assert_str_eq(id.username, "dave");
    ck_assert_uint_eq(id.roles, SP_ROLE_SPACE_ADMIN);
    ck_assert_int_eq(identity_of("{\"sub\":\"s5\",\"a.b\":\"spaceport-admin\"}", NULL, "a.b", &id),
                     0);
    ck_assert_uint_eq(id.roles, SP_ROLE_ADMIN);
    /* Roles are exact strings. */
    ck_assert_int_eq(identity_of("{\"sub\":\"s6\",\"roles\":[\"Spaceport-Admin\","
                                 "\"spaceport-admins\"]}",
                                 NULL, NULL, &id),
                     0);
    ck_assert_uint_eq(id.roles, 0);

    /* Refused, not truncated. */
    char json[1024];
    snprintf(json, sizeof json, "{\"sub\":\"s\",\"name\":\"%0*d\"}", SP_AUTH_NAME_MAX, 0);
    ck_assert_int_eq(identity_of(json, NULL, NULL, &id), SP_ERR_UNAUTHORIZED);
    snprintf(json, sizeof json, "{\"sub\":\"%0*d\"}", SP_AUTH_SUB_MAX, 0);
    ck_assert_int_eq(identity_of(json, NULL, NULL, &id), SP_ERR_UNAUTHORIZED);
    ck_assert_int_eq(identity_of("{\"sub\":\"a\\u0000b\"}", NULL, NULL, &id), SP_ERR_UNAUTHORIZED);
    ck_assert_int_eq(identity_of("{\"name\":\"x\"}", NULL, NULL, &id), SP_ERR_UNAUTHORIZED);
}
END_TEST

/* --- cache --- */

static void hash_of(const char *s, uint8_t h[SP_AUTH_HASH_LEN])
{
    sp_auth__hash_token(s, strlen(s), h);
}

START_TEST(cache_basics)
{
    sp_auth_cache *c = NULL;
    ck_assert_int_eq(sp_auth__cache_create(64, &c), 0);
    uint8_t h1[SP_AUTH_HASH_LEN], h2[SP_AUTH_HASH_LEN];
    hash_of("token-1", h1);
    hash_of("token-2", h2);
    sp_identity id = {.roles = 3}, got;
    strcpy(id.sub, "alice");
    ck_assert_int_eq(sp_auth__cache_get(c, h1, 1000, &got), 0);
    sp_auth__cache_put(c, h1, &id, 5000, 1000);
    ck_assert_int_eq(sp_auth__cache_get(c, h1, 1000, &got), 1);
    ck_assert_str_eq(got.sub, "alice");
    ck_assert_uint_eq(got.roles, 3);
    ck_assert_int_eq(sp_auth__cache_get(c, h2, 1000, &got), 0);
    /* Expiry. */
    ck_assert_int_eq(sp_auth__cache_get(c, h1, 5000, &got), 0);
    ck_assert_int_eq(sp_auth__cache_get(c, h1, 1000, &got), 0); /* dropped for good */
    /* Already expired: not stored. */
    sp_auth__cache_put(c, h1, &id, 900, 1000);
    ck_assert_int_eq(sp_auth__cache_get(c, h1, 800, &got), 0);
    /* Negative entries. */
    sp_auth__cache_put(c, h2, NULL, 5000, 1000);
    ck_assert_int_eq(sp_auth__cache_get(c, h2, 2000, &got), -1);
    /* The same token again replaces its entry. */
    sp_auth__cache_put(c, h2, &id, 6000, 1000);
    sp_auth__cache_put(c, h2, &id, 7000, 1000);
    ck_assert_int_eq(sp_auth__cache_get(c, h2, 6500, &got), 1);
    ck_assert_uint_eq(sp_auth__cache_count(c, 1000), 1);
    sp_auth__cache_destroy(c);
}
END_TEST

START_TEST(cache_bounded_lru)
{
    enum { CAP = 64, N = 1000 };
    sp_auth_cache *c = NULL;
    ck_assert_int_eq(sp_auth__cache_create(CAP, &c), 0);
    sp_identity id = {0};
    uint8_t keep[SP_AUTH_HASH_LEN];
    hash_of("keep-me", keep);
    sp_auth__cache_put(c, keep, &id, 1000000, 1);
    char name[32];
    uint8_t h[SP_AUTH_HASH_LEN];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "tok-%d", i);
        hash_of(name, h);
        sp_auth__cache_put(c, h, &id, 1000000, 1);
        /* A hot entry survives the flood. */
        ck_assert_int_eq(sp_auth__cache_get(c, keep, 2, NULL), 1);
    }
    ck_assert_uint_le(sp_auth__cache_count(c, 2), CAP);
    ck_assert_uint_ge(sp_auth__cache_count(c, 2), CAP / 2);
    sp_auth__cache_destroy(c);
    sp_auth__cache_destroy(NULL);
}
END_TEST

/* --- the whole verifier over static keys --- */

static sp_config two_issuers(char **items, const char *audience)
{
    sp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    items[0] = (char *)ISS_A;
    items[1] = (char *)ISS_B;
    cfg.oidc_issuers.items[0] = items[0];
    cfg.oidc_issuers.items[1] = items[1];
    cfg.oidc_issuers.count = 2;
    cfg.oidc_audience = (char *)audience;
    return cfg;
}

START_TEST(verifier_end_to_end)
{
    char *items[2];
    sp_config cfg = two_issuers(items, "spaceport");
    const char *sets[2] = {jwks_a, jwks_b};
    sp_auth *auth = NULL;
    sp_auth_options opt = sp_config_auth_options(&cfg);
    ck_assert_int_eq(sp_auth__create_static(&opt, sets, 2, 0, &auth), 0);
    ck_assert_int_eq(sp_auth_ready(auth, NULL, 0), 0);

    char tok[TOK_MAX], claims[512];
    sp_identity id;
    claims_for(ISS_A, "\"aud\":\"spaceport\",\"preferred_username\":\"al\"", claims, sizeof claims);
    sign(rsa_a, "{\"alg\":\"RS256\",\"kid\":\"a1\"}", claims, tok);
    ck_assert_int_eq(sp_auth_verify(auth, tok, &id), 0);
    ck_assert_str_eq(id.issuer, ISS_A);
    ck_assert_str_eq(id.username, "al");
    /* expires_at_ms is the token's exp (claims_for: now + 600 s). */
    ck_assert_int_gt(id.expires_at_ms, sp_time_now_ms() + 590 * 1000);
    ck_assert_int_le(id.expires_at_ms, sp_time_now_ms() + 600 * 1000);
    ck_assert_int_eq(sp_auth_verify(auth, tok, &id), 0); /* cached */

    /* No kid: every fitting key of the issuer iss names is a candidate. */
    sign(rsa_a, "{\"alg\":\"PS256\"}", claims, tok);
    ck_assert_int_eq(sp_auth_verify(auth, tok, &id), 0);
    sign(ec_a, "{\"alg\":\"ES256\"}", claims, tok);
    ck_assert_int_eq(sp_auth_verify(auth, tok, &id), 0);

    /* Signed by B's key, claiming A: refused. By B, claiming B: accepted. */
    sign(rsa_b, "{\"alg\":\"RS256\",\"kid\":\"b1\"}", claims, tok);
    ck_assert_int_eq(sp_auth_verify(auth, tok, &id), SP_ERR_UNAUTHORIZED);
    claims_for(ISS_B, "\"aud\":\"spaceport\"", claims, sizeof claims);
    sign(rsa_b, "{\"alg\":\"RS256\"}", claims, tok);
    ck_assert_int_eq(sp_auth_verify(auth, tok, &id), 0);
    ck_assert_str_eq(id.issuer, ISS_B);
    /* By A's key, claiming B. */
    sign(rsa_a, "{\"alg\":\"RS256\",\"kid\":\"a1\"}", claims, tok);
    ck_assert_int_eq(sp_auth_verify(auth, tok, &id), SP_ERR_UNAUTHORIZED);

    /* Unknown kid (no refresh thread: refused at once), kid of another kty. */
    sign(rsa_a, "{\"alg\":\"RS256\",\"kid\":\"zzz\"}", claims, tok);
    ck_assert_int_eq(sp_auth_verify(auth, tok, &id), SP_ERR_UNAUTHORIZED);
    sign(ec_a, "{\"alg\":\"ES256\",\"kid\":\"a1\"}", claims, tok);
    ck_assert_int_eq(sp_auth_verify(auth, tok, &id), SP_ERR_UNAUTHORIZED);
    /* A 1024-bit key is never a candidate. */
    claims_for(ISS_A, "\"aud\":\"spaceport\"", claims, sizeof claims);
    sign(rsa_small, "{\"alg\":\"RS256\"}", claims, tok);
    ck_assert_int_eq(sp_auth_verify(auth, tok, &id), SP_ERR_UNAUTHORIZED);
    /* Audience missing. */
    claims_for(ISS_A, NULL, claims, sizeof claims);
    sign(rsa_a, "{\"alg\":\"RS256\",\"kid\":\"a1\"}", claims, tok);
    ck_assert_int_eq(sp_auth_verify(auth, tok, &id), SP_ERR_UNAUTHORIZED);
    /* Opaque, two issuers and SPACEPORT_OIDC_OPAQUE_ISSUERS unset: no
     * issuer may be asked (test_auth_issuers.c has the other settings). */
    ck_assert_int_eq(sp_auth_verify(auth, "opaque", &id), SP_ERR_UNAUTHORIZED);
    ck_assert_int_eq(sp_auth_verify(auth, "", &id), SP_ERR_UNAUTHORIZED);

    sp_buf m = {0};
    ck_assert_int_eq(sp_auth_metrics(auth, &m), 0);
    ck_assert_ptr_nonnull(
        strstr(m.data, "spaceport_auth_verifications_total{result=\"accepted\"} 5"));
    ck_assert_ptr_nonnull(strstr(m.data, "spaceport_auth_cache_hits_total 1"));
    ck_assert_ptr_nonnull(
        strstr(m.data, "spaceport_auth_key_fetches_total{issuer=\"" ISS_A "\",result=\"ok\"} 0"));
    ck_assert_ptr_nonnull(strstr(m.data, "spaceport_auth_issuer_keys{issuer=\"" ISS_B "\"} 1"));
    sp_buf_free(&m);
    sp_auth_destroy(auth);
}
END_TEST

START_TEST(verifier_issuer_missing)
{
    char *items[2];
    sp_config cfg = two_issuers(items, NULL);
    const char *sets[2] = {jwks_a, NULL};
    sp_auth *auth = NULL;
    sp_auth_options opt = sp_config_auth_options(&cfg);
    ck_assert_int_eq(sp_auth__create_static(&opt, sets, 2, SP_AUTH_NO_CACHE, &auth), 0);
    char why[128];
    ck_assert_int_eq(sp_auth_ready(auth, why, sizeof why), SP_ERR_UNAVAILABLE);
    ck_assert_str_eq(why, "issuer " ISS_B " unreachable");
    char tok[TOK_MAX], claims[512];
    sp_identity id;
    claims_for(ISS_B, NULL, claims, sizeof claims);
    sign(rsa_b, "{\"alg\":\"RS256\",\"kid\":\"b1\"}", claims, tok);
    ck_assert_int_eq(sp_auth_verify(auth, tok, &id), SP_ERR_UNAUTHORIZED);
    claims_for(ISS_A, NULL, claims, sizeof claims);
    sign(rsa_a, "{\"alg\":\"RS256\",\"kid\":\"a1\"}", claims, tok);
    ck_assert_int_eq(sp_auth_verify(auth, tok, &id), 0);
    sp_auth_destroy(auth);

    const char *broken[2] = {"{", NULL};
    ck_assert_int_eq(sp_auth__create_static(&opt, broken, 2, 0, &auth), SP_ERR_INVALID);
    ck_assert_ptr_null(auth);
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("pure");
    tcase_add_unchecked_fixture(tc, auth_keys_setup, auth_keys_teardown);
    tcase_add_test(tc, alg_allow_list);
    tcase_add_test(tc, token_kinds);
    tcase_add_test(tc, preparse_accepts);
    tcase_add_test(tc, preparse_refuses_headers);
    tcase_add_test(tc, preparse_refuses_shapes);
    tcase_add_test(tc, key_fits_alg);
    tcase_add_test(tc, keyset_filters);
    tcase_add_test(tc, discovery_checks);
    tcase_add_test(tc, url_policy);
    tcase_add_test(tc, claims_rules);
    tcase_add_test(tc, identity_mapping);
    tcase_add_test(tc, identity_groups);
    tcase_add_test(tc, cache_basics);
    tcase_add_test(tc, cache_bounded_lru);
    tcase_add_test(tc, verifier_end_to_end);
    tcase_add_test(tc, verifier_issuer_missing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    json_object_seed(0);
    SRunner *sr = srunner_create(auth_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
