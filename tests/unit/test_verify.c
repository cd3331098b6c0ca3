/*
 * test_verify.c - token signatures and the plain JSON reader of the auth
 * module: compact JWS checked against imported keys (jwt.c over verify.c),
 * signatures made by OpenSSL directly to reach the cases cjose cannot sign
 * (PSS salt lengths, high S, out-of-range r, exact lengths), which JWKs
 * verify.c refuses to import, and jscan.c read side by side with jansson.
 *
 * The keys are made once, before Check forks the tests: the cjose ones by
 * auth_fixtures.c, the OpenSSL ones here.
 */
#include "auth/internal.h"
#include "auth_fixtures.h"

#include "util/base64.h"
#include "util/err.h"

#include <check.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The same kinds of key as auth_fixtures.h, made by OpenSSL, to sign in
 * ways cjose cannot. */
static EVP_PKEY *evp_rsa, *evp_ec, *evp_rsa_small;

static void keys_setup(void)
{
    auth_keys_setup();
    evp_rsa = EVP_RSA_gen(2048);
    evp_ec = EVP_EC_gen("P-256");
    evp_rsa_small = EVP_RSA_gen(1024);
    ck_assert(evp_rsa && evp_ec && evp_rsa_small);
}

static void keys_teardown(void)
{
    EVP_PKEY_free(evp_rsa);
    EVP_PKEY_free(evp_ec);
    EVP_PKEY_free(evp_rsa_small);
    auth_keys_teardown();
}

/* --- signatures --- */

/* Parses the first key of jwks into a key set. */
static sp_auth_keyset *keyset_of(const char *jwks)
{
    sp_auth_keyset *ks = NULL;
    const char *why = NULL;
    ck_assert_int_eq(sp_auth__keyset_parse(jwks, strlen(jwks), &ks, &why), 0);
    return ks;
}

/* Pre-parses tok and verifies its signature with key; on success reads its
 * claims too (audience "sp"). Returns what failed first, or 0. */
static int verify_with(const char *tok, const sp_auth_key *key, sp_claims *c, char *text)
{
    sp_jwt_header hdr;
    const char *why = NULL;
    sp_claims_want want = {.audience = "sp"};
    memset(c, 0, sizeof *c);
    int rc = sp_auth__jwt_preparse(tok, &hdr, &why);
    if (rc == 0)
        rc = sp_auth__jws_verify(tok, &hdr, key, &why);
    if (rc == 0)
        rc = sp_auth__jws_claims(tok, &hdr, &want, text, c, &why);
    ck_assert(rc == 0 || why != NULL);
    return rc;
}

START_TEST(jws_verify_signatures)
{
    char tok[TOK_MAX], claims[512], text[SP_AUTH_PAYLOAD_MAX];
    sp_auth_keyset *a = keyset_of(jwks_a), *b = keyset_of(jwks_b);
    sp_claims c;
    claims_for(ISS_A, NULL, claims, sizeof claims);

    sign(rsa_a, "{\"alg\":\"RS256\",\"kid\":\"a1\"}", claims, tok);
    ck_assert_int_eq(verify_with(tok, &a->keys[0], &c, text), 0);
    ck_assert_uint_eq(c.sub.n, 5);
    ck_assert_mem_eq(c.sub.s, "alice", 5);
    ck_assert_ptr_null(c.doc); /* plain payload: no jansson tree */
    sp_auth__claims_clear(&c);
    ck_assert_int_eq(verify_with(tok, &b->keys[0], &c, text), SP_ERR_UNAUTHORIZED);

    sign(rsa_a, "{\"alg\":\"PS384\"}", claims, tok);
    ck_assert_int_eq(verify_with(tok, &a->keys[0], &c, text), 0);
    sp_auth__claims_clear(&c);

    sign(ec_a, "{\"alg\":\"ES256\"}", claims, tok);
    ck_assert_int_eq(verify_with(tok, &a->keys[1], &c, text), 0);
    sp_auth__claims_clear(&c);

    /* One flipped bit in the payload. */
    char *dot = strchr(tok, '.');
    dot[5] = dot[5] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(verify_with(tok, &a->keys[1], &c, text), SP_ERR_UNAUTHORIZED);

    /* Signed, but the payload has a duplicate member or is no object. */
    sign(rsa_a, "{\"alg\":\"RS256\"}", "{\"sub\":\"a\",\"sub\":\"b\"}", tok);
    ck_assert_int_eq(verify_with(tok, &a->keys[0], &c, text), SP_ERR_UNAUTHORIZED);
    sign(rsa_a, "{\"alg\":\"RS256\"}", "[1,2]", tok);
    ck_assert_int_eq(verify_with(tok, &a->keys[0], &c, text), SP_ERR_UNAUTHORIZED);
    ck_assert_ptr_null(c.doc);
    /* Not plain (an escape): read by jansson, to the same claims. */
    sign(rsa_a, "{\"alg\":\"RS256\"}", "{\"sub\":\"al\\u0069ce\"}", tok);
    ck_assert_int_eq(verify_with(tok, &a->keys[0], &c, text), 0);
    ck_assert_ptr_nonnull(c.doc);
    ck_assert_uint_eq(c.sub.n, 5);
    ck_assert_mem_eq(c.sub.s, "alice", 5);
    sp_auth__claims_clear(&c);

    /* ES384 and ES512 (P-521: 66-byte halves, 521 bits for both cjose and
     * OpenSSL). */
    static const struct {
        cjose_jwk_ec_curve crv;
        const char *header;
    } curves[] = {{CJOSE_JWK_EC_P_384, "{\"alg\":\"ES384\"}"},
                  {CJOSE_JWK_EC_P_521, "{\"alg\":\"ES512\"}"}};
    for (size_t i = 0; i < sizeof curves / sizeof curves[0]; i++) {
        cjose_err err;
        cjose_jwk_t *k = cjose_jwk_create_EC_random(curves[i].crv, &err);
        ck_assert_ptr_nonnull(k);
        char *jwks = make_jwks(k, "ec", NULL, NULL);
        sp_auth_keyset *ks = keyset_of(jwks);
        ck_assert_uint_eq(ks->count, 1);
        claims_for(ISS_A, "\"aud\":\"sp\"", claims, sizeof claims);
        sign(k, curves[i].header, claims, tok);
        ck_assert_int_eq(verify_with(tok, &ks->keys[0], &c, text), 0);
        ck_assert(c.aud_has);
        sp_auth__claims_clear(&c);
        dot = strrchr(tok, '.');
        dot[3] = dot[3] == 'A' ? 'B' : 'A';
        ck_assert_int_eq(verify_with(tok, &ks->keys[0], &c, text), SP_ERR_UNAUTHORIZED);
        sp_auth__keyset_release(ks);
        free(jwks);
        cjose_jwk_release(k);
    }

    sp_auth__keyset_release(a);
    sp_auth__keyset_release(b);
}
END_TEST

/* --- signatures made by OpenSSL directly (verify.c) --- */

/* Base64url of n bytes into out (a new string). */
static char *b64(const void *p, size_t n)
{
    size_t cap = SP_BASE64URL_LEN(n) + 1;
    char *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(sp_base64url_encode(p, n, out, cap), 0);
    return out;
}

/* JWKS text (new) with the public part of an RSA or P-256 key under kid. */
static char *jwks_of_pkey(EVP_PKEY *pk, const char *kid)
{
    json_t *jwk;
    if (EVP_PKEY_is_a(pk, "RSA")) {
        BIGNUM *n = NULL, *e = NULL;
        ck_assert(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n));
        ck_assert(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e));
        uint8_t nb[1024], eb[16];
        int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
        char *ns = b64(nb, (size_t)nl), *es = b64(eb, (size_t)el);
        jwk = json_pack("{s:s,s:s,s:s,s:s}", "kty", "RSA", "kid", kid, "n", ns, "e", es);
        free(ns);
        free(es);
        BN_free(n);
        BN_free(e);
    } else {
        uint8_t pub[65];
        size_t len = 0;
        ck_assert(
            EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub, &len));
        ck_assert_uint_eq(len, 65);
        char *xs = b64(pub + 1, 32), *ys = b64(pub + 33, 32);
        jwk = json_pack("{s:s,s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-256", "kid", kid, "x", xs,
                        "y", ys);
        free(xs);
        free(ys);
    }
    json_t *root = json_pack("{s:[o]}", "keys", jwk);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

/* Signs input ("header.payload") with pk under SHA-256: PSS with salt
 * length salt when salt is not 0, else PKCS #1 v1.5 for RSA and ECDSA (as
 * r||s, 64 bytes) for EC. Returns the signature length written into sig. */
static size_t sign_raw(EVP_PKEY *pk, const char *input, int salt, uint8_t *sig)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    ck_assert_int_eq(EVP_DigestSignInit_ex(md, &pctx, "SHA256", NULL, NULL, pk, NULL), 1);
    if (salt) {
        ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 0);
        ck_assert_int_gt(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt), 0);
    }
    uint8_t der[600];
    size_t len = sizeof der;
    ck_assert_int_eq(EVP_DigestSign(md, der, &len, (const uint8_t *)input, strlen(input)), 1);
    EVP_MD_CTX_free(md);
    if (EVP_PKEY_is_a(pk, "RSA")) {
        memcpy(sig, der, len);
        return len;
    }
    const uint8_t *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
    ck_assert_ptr_nonnull(es);
    ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32), 32);
    ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32), 32);
    ECDSA_SIG_free(es);
    return 64;
}

/* A token: header_json and payload signed by sign_raw (sig replaced by
 * alter when not NULL, which may change the signature in place). */
static void make_token(EVP_PKEY *pk, const char *header_json, const char *payload, int salt,
                       void (*alter)(uint8_t *sig, size_t *len), char *out)
{
    char *h = b64(header_json, strlen(header_json)), *pl = b64(payload, strlen(payload));
    char input[2048];
    snprintf(input, sizeof input, "%s.%s", h, pl);
    uint8_t sig[600];
    size_t n = sign_raw(pk, input, salt, sig);
    if (alter)
        alter(sig, &n);
    char *sg = b64(sig, n);
    snprintf(out, TOK_MAX, "%s.%s", input, sg);
    free(h);
    free(pl);
    free(sg);
}

/* s := n - s: the other valid ECDSA signature of the same message. */
static void high_s(uint8_t *sig, size_t *len)
{
    (void)len;
    BIGNUM *order = NULL, *s = BN_bin2bn(sig + 32, 32, NULL);
    ck_assert(
        BN_hex2bn(&order, "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551") > 0);
    ck_assert(BN_sub(s, order, s));
    ck_assert_int_eq(BN_bn2binpad(s, sig + 32, 32), 32);
    BN_free(order);
    BN_free(s);
}

static void zero_rs(uint8_t *sig, size_t *len)
{
    memset(sig, 0, *len);
}

/* r := the group order (out of range; the same value mod n as 0). */
static void r_is_order(uint8_t *sig, size_t *len)
{
    (void)len;
    BIGNUM *order = NULL;
    ck_assert(
        BN_hex2bn(&order, "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551") > 0);
    ck_assert_int_eq(BN_bn2binpad(order, sig, 32), 32);
    BN_free(order);
}

START_TEST(openssl_signatures)
{
    EVP_PKEY *rsa = evp_rsa, *ec = evp_ec;
    char *jr = jwks_of_pkey(rsa, "r"), *je = jwks_of_pkey(ec, "e");
    sp_auth_keyset *kr = keyset_of(jr), *ke = keyset_of(je);
    ck_assert_uint_eq(kr->count, 1);
    ck_assert_uint_eq(ke->count, 1);
    char tok[TOK_MAX], claims[512], text[SP_AUTH_PAYLOAD_MAX];
    sp_claims c;
    claims_for(ISS_A, NULL, claims, sizeof claims);

    make_token(rsa, "{\"alg\":\"RS256\"}", claims, 0, NULL, tok);
    ck_assert_int_eq(verify_with(tok, &kr->keys[0], &c, text), 0);
    sp_auth__claims_clear(&c);
    /* PS256: salt as long as the digest (RFC 7518 3.5), as cjose required;
     * any other salt length is refused. */
    make_token(rsa, "{\"alg\":\"PS256\"}", claims, 32, NULL, tok);
    ck_assert_int_eq(verify_with(tok, &kr->keys[0], &c, text), 0);
    sp_auth__claims_clear(&c);
    make_token(rsa, "{\"alg\":\"PS256\"}", claims, 20, NULL, tok);
    ck_assert_int_eq(verify_with(tok, &kr->keys[0], &c, text), SP_ERR_UNAUTHORIZED);
    make_token(rsa, "{\"alg\":\"PS256\"}", claims, RSA_PSS_SALTLEN_MAX, NULL, tok);
    ck_assert_int_eq(verify_with(tok, &kr->keys[0], &c, text), SP_ERR_UNAUTHORIZED);
    /* A PKCS #1 v1.5 signature under PS256, and the reverse. */
    make_token(rsa, "{\"alg\":\"PS256\"}", claims, 0, NULL, tok);
    ck_assert_int_eq(verify_with(tok, &kr->keys[0], &c, text), SP_ERR_UNAUTHORIZED);
    make_token(rsa, "{\"alg\":\"RS256\"}", claims, 32, NULL, tok);
    ck_assert_int_eq(verify_with(tok, &kr->keys[0], &c, text), SP_ERR_UNAUTHORIZED);

    /* ES256: r||s converted to DER for OpenSSL. High S verifies, as it did
     * with cjose (ECDSA_do_verify): JWS does not ask for low S. */
    make_token(ec, "{\"alg\":\"ES256\"}", claims, 0, NULL, tok);
    ck_assert_int_eq(verify_with(tok, &ke->keys[0], &c, text), 0);
    sp_auth__claims_clear(&c);
    make_token(ec, "{\"alg\":\"ES256\"}", claims, 0, high_s, tok);
    ck_assert_int_eq(verify_with(tok, &ke->keys[0], &c, text), 0);
    sp_auth__claims_clear(&c);
    make_token(ec, "{\"alg\":\"ES256\"}", claims, 0, zero_rs, tok);
    ck_assert_int_eq(verify_with(tok, &ke->keys[0], &c, text), SP_ERR_UNAUTHORIZED);
    make_token(ec, "{\"alg\":\"ES256\"}", claims, 0, r_is_order, tok);
    ck_assert_int_eq(verify_with(tok, &ke->keys[0], &c, text), SP_ERR_UNAUTHORIZED);

    /* Lengths, below the pre-parser: RSA exactly the modulus (a shorter one
     * would be read as a number with leading zeros by OpenSSL's PSS path),
     * ES exactly 2 x 32 bytes. */
    const char *why = NULL;
    const char *input = "e30.e30";
    uint8_t sig[600];
    size_t n = sign_raw(rsa, input, 32, sig);
    ck_assert_int_eq(sp_auth__sig_verify(kr->keys[0].ver, SP_ALG_PS256, input, 7, sig, n, &why), 0);
    ck_assert_int_eq(
        sp_auth__sig_verify(kr->keys[0].ver, SP_ALG_PS256, input, 7, sig + 1, n - 1, &why),
        SP_ERR_UNAUTHORIZED);
    uint8_t longer[601] = {0};
    memcpy(longer + 1, sig, n);
    ck_assert_int_eq(
        sp_auth__sig_verify(kr->keys[0].ver, SP_ALG_PS256, input, 7, longer, n + 1, &why),
        SP_ERR_UNAUTHORIZED);
    n = sign_raw(ec, input, 0, sig);
    ck_assert_int_eq(sp_auth__sig_verify(ke->keys[0].ver, SP_ALG_ES256, input, 7, sig, n, &why), 0);
    ck_assert_int_eq(sp_auth__sig_verify(ke->keys[0].ver, SP_ALG_ES256, input, 7, sig, 63, &why),
                     SP_ERR_UNAUTHORIZED);
    /* Reused contexts: a failure leaves the next verification unharmed. */
    ck_assert_int_eq(sp_auth__sig_verify(ke->keys[0].ver, SP_ALG_ES256, input, 7, sig, n, &why), 0);

    sp_auth__keyset_release(kr);
    sp_auth__keyset_release(ke);
    free(jr);
    free(je);
}
END_TEST

START_TEST(openssl_key_import)
{
    /* A 1024-bit RSA key, an EC point off the curve, and an RSA JWK whose
     * modulus does not decode are dropped; the good key stays. */
    EVP_PKEY *small = evp_rsa_small, *ec = evp_ec;
    char *js = jwks_of_pkey(small, "small"), *je = jwks_of_pkey(ec, "e");
    sp_auth_keyset *ks = keyset_of(js);
    ck_assert_uint_eq(ks->count, 0);
    ck_assert_uint_eq(ks->dropped, 1);
    sp_auth__keyset_release(ks);

    json_t *root = json_loads(je, 0, NULL);
    json_t *jwk = json_array_get(json_object_get(root, "keys"), 0);
    json_t *bad = json_deep_copy(jwk);
    const char *x = json_string_value(json_object_get(jwk, "x"));
    char flipped[64];
    snprintf(flipped, sizeof flipped, "%s", x);
    flipped[5] = flipped[5] == 'A' ? 'B' : 'A';
    json_object_set_new(bad, "x", json_string(flipped));
    json_object_set_new(bad, "kid", json_string("off-curve"));
    json_array_append_new(json_object_get(root, "keys"), bad);
    char *text = json_dumps(root, JSON_COMPACT);
    ks = keyset_of(text);
    ck_assert_uint_eq(ks->count, 1);
    ck_assert_str_eq(ks->keys[0].kid, "e");
    ck_assert_ptr_nonnull(ks->keys[0].ver);
    sp_auth__keyset_release(ks);
    free(text);
    json_decref(root);
    free(js);
    free(je);
}
END_TEST

/* --- plain JSON (jscan.c) against jansson --- */

/* Reads text with both readers and checks they agree wherever jscan takes
 * it; returns 1 when jscan took it. */
static int readers_agree(const char *text, const sp_claims_want *want)
{
    sp_claims fast, slow;
    int plain = sp_auth__claims_scan(text, strlen(text), want, &fast);
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    if (!plain) {
        json_decref(doc);
        return 0;
    }
    ck_assert_msg(doc && json_is_object(doc), "jscan took what jansson refuses: %s", text);
    sp_auth__claims_from_json(doc, want, &slow);
    const sp_claim_str *f[] = {&fast.iss, &fast.sub, &fast.user, &fast.name, &fast.email};
    const sp_claim_str *g[] = {&slow.iss, &slow.sub, &slow.user, &slow.name, &slow.email};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        ck_assert_msg((f[i]->s == NULL) == (g[i]->s == NULL), "field %zu of %s", i, text);
        ck_assert_uint_eq(f[i]->n, g[i]->n);
        if (f[i]->s)
            ck_assert_mem_eq(f[i]->s, g[i]->s, f[i]->n);
    }
    ck_assert_int_eq(fast.exp_kind, slow.exp_kind);
    ck_assert_int_eq(fast.nbf_kind, slow.nbf_kind);
    ck_assert_int_eq(fast.iat_kind, slow.iat_kind);
    if (fast.exp_kind > 0)
        ck_assert_double_eq(fast.exp, slow.exp);
    ck_assert_int_eq(fast.aud_has, slow.aud_has);
    ck_assert_int_eq(fast.email_verified, slow.email_verified);
    ck_assert_uint_eq(fast.roles, slow.roles);
    ck_assert_int_eq(fast.groups_kind, slow.groups_kind);
    ck_assert_uint_eq(fast.group_count, slow.group_count);
    for (size_t i = 0; fast.groups_kind > 0 && i < fast.group_count; i++) {
        ck_assert_uint_eq(fast.groups[i].n, slow.groups[i].n);
        ck_assert_mem_eq(fast.groups[i].s, slow.groups[i].s, fast.groups[i].n);
    }
    json_decref(doc);
    return 1;
}

START_TEST(plain_json_reader)
{
    static const struct {
        const char *text;
        int plain;
    } cases[] = {
        {"{}", 1},
        {" {\"iss\":\"" ISS_A "\",\"sub\":\"s\",\"exp\":1800000600} \n", 1},
        {"{\"sub\":\"s\",\"exp\":-5,\"nbf\":0,\"iat\":\"x\",\"aud\":[\"a\",\"sp\"]}", 1},
        {"{\"sub\":\"s\",\"aud\":\"sp\",\"email\":\"e@x\",\"email_verified\":\"FALSE\"}", 1},
        {"{\"sub\":\"s\",\"email_verified\":false,\"roles\":\"spaceport-admin x\"}", 1},
        {"{\"sub\":\"s\",\"email\":\"e@x\",\"email_verified\":true}", 1},
        {"{\"sub\":\"s\",\"email_verified\":\"True\"}", 1},
        {"{\"sub\":\"s\",\"email_verified\":null}", 1},
        {"{\"sub\":\"s\",\"email_verified\":1}", 1},
        {"{\"sub\":\"s\",\"u\":{\"v\":\"dave\"},\"r\":{\"a\":{\"b\":[\"spaceport-admin\"]}}}", 1},
        {"{\"sub\":\"s\",\"u.v\":\"direct\",\"u\":{\"v\":\"nested\"}}", 1},
        {"{\"sub\":\"s\",\"aud\":{\"sp\":1},\"roles\":[1,null,true,[],{}]}", 1},
        {"{\"exp\":123456789012345}", 1},
        {"{\"sub\":\"s\",\"groups\":[\"b\",\"a\",\"b\"]}", 1},
        {"{\"sub\":\"s\",\"groups\":\"a b\"}", 1},
        {"{\"sub\":\"s\",\"groups\":[\"a\",1]}", 1},
        {"{\"sub\":\"s\",\"groups\":null,\"g\":{\"h\":[\"x\"]}}", 1},
        {"{\"sub\":\"s\",\"groups\":{}}", 1},
        /* Not plain: jansson decides. */
        {"{\"exp\":1234567890123456}", 0},
        {"{\"exp\":1800000600.5}", 0},
        {"{\"exp\":18e8}", 0},
        {"{\"exp\":01}", 0},
        {"{\"exp\":-}", 0},
        {"{\"sub\":\"a\\u0062\"}", 0},
        {"{\"sub\":\"caf\xc3\xa9\"}", 0},
        {"{\"sub\":\"a\tb\"}", 0},
        {"{\"sub\":\"a\",\"sub\":\"b\"}", 0},
        {"{\"o\":{\"k\":1,\"k\":2}}", 0},
        {"{\"a\":[[[[[[[[1]]]]]]]]}", 0},
        {"{\"a\":1,}", 0},
        {"{\"a\":1} x", 0},
        {"{\"a\":tru}", 0},
        {"[1]", 0},
        {"", 0},
        {"{\"a\" 1}", 0},
    };
    sp_claims_want wants[] = {
        {.audience = "sp"},
        {.audience = NULL, .user_claim = "u.v", .roles_claim = "r.a.b", .groups_claim = "g.h"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (size_t w = 0; w < sizeof wants / sizeof wants[0]; w++)
            ck_assert_msg(readers_agree(cases[i].text, &wants[w]) == cases[i].plain, "case %zu: %s",
                          i, cases[i].text);

    /* More members than jscan records: jansson reads them. */
    char big[4096] = "{";
    for (int i = 0; i <= SP_JS_MEMBERS_MAX; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%s\"m%d\":%d", i ? "," : "", i, i);
    strcat(big, "}");
    ck_assert_int_eq(readers_agree(big, &wants[0]), 0);
    sp_claims c;
    const char *why = NULL;
    ck_assert_int_eq(sp_auth__claims_parse(big, strlen(big), &wants[0], &c, &why), 0);
    ck_assert_ptr_nonnull(c.doc);
    sp_auth__claims_clear(&c);
}
END_TEST

static Suite *verify_suite(void)
{
    Suite *s = suite_create("verify");
    TCase *tc = tcase_create("pure");
    tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
    tcase_add_test(tc, jws_verify_signatures);
    tcase_add_test(tc, openssl_signatures);
    tcase_add_test(tc, openssl_key_import);
    tcase_add_test(tc, plain_json_reader);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    json_object_seed(0);
    SRunner *sr = srunner_create(verify_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
