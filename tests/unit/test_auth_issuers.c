/*
 * test_auth_issuers.c - what one trusted issuer may and may not decide, in
 * the whole verifier over static key sets: a token's keys come only from
 * the issuer its iss names (another issuer publishing under the same kid
 * changes nothing), an address counts only when its issuer vouched for it,
 * and opaque tokens go only to the issuers configured for them.
 *
 * Each case is written as the attack it stops. Tokens are real signatures
 * (auth_fixtures.c).
 */
#include "auth/internal.h"
#include "config.h"
#include "auth_fixtures.h"

#include "util/err.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Issuers A (listed first) and B; names borrowed from the fixtures. */
static sp_config two_issuers(void)
{
    sp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.oidc_issuers.items[0] = (char *)ISS_A;
    cfg.oidc_issuers.items[1] = (char *)ISS_B;
    cfg.oidc_issuers.count = 2;
    return cfg;
}

/* A JWKS text of n keys, keys[i] under kids[i] (NULL: no kid). New string. */
static char *jwks_of(cjose_jwk_t *const *keys, const char *const *kids, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, public_jwk(keys[i], kids[i]));
    json_t *root = json_pack("{s:o}", "keys", arr);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* Verifies a token signed by key under header, with claims_for(iss, extra). */
static int verify_signed(sp_auth *auth, cjose_jwk_t *key, const char *header, const char *iss,
                         const char *extra, sp_identity *id)
{
    char tok[TOK_MAX], claims[1024];
    claims_for(iss, extra, claims, sizeof claims);
    sign(key, header, claims, tok);
    return sp_auth_verify(auth, tok, id);
}

/* B's users, when A (listed first) publishes the JWKS a_jwks (freed
 * here): B's own key must verify B's tokens, by kid and without one. */
static void b_users_pass(char *a_jwks, const char *what)
{
    sp_config cfg = two_issuers();
    const char *sets[2] = {a_jwks, jwks_b};
    sp_auth *auth = NULL;
    sp_auth_options opt = sp_config_auth_options(&cfg);
    ck_assert_int_eq(sp_auth__create_static(&opt, sets, 2, SP_AUTH_NO_CACHE, &auth), 0);
    sp_identity id;
    ck_assert_msg(verify_signed(auth, rsa_b, "{\"alg\":\"RS256\",\"kid\":\"b1\"}", ISS_B, NULL,
                                &id) == 0,
                  "%s: B's token with kid b1 refused", what);
    ck_assert_str_eq(id.issuer, ISS_B);
    ck_assert_msg(verify_signed(auth, rsa_b, "{\"alg\":\"RS256\"}", ISS_B, NULL, &id) == 0,
                  "%s: B's kid-less token refused", what);
    ck_assert_str_eq(id.issuer, ISS_B);
    sp_auth_destroy(auth);
    free(a_jwks);
}

/* A publishes B's public key under B's kid: B's users must not be locked
 * out (a verifier that tried every issuer's keys found A's copy first, took
 * the token for A's and refused it for its iss). */
START_TEST(issuer_publishing_anothers_key)
{
    b_users_pass(make_jwks(rsa_a, "a1", rsa_b, "b1"), "A publishes B's key as b1");
}
END_TEST

/* A publishes four junk keys under B's kid, and four without a kid: with
 * candidates gathered across issuers (at most SP_AUTH_CANDIDATES_MAX), A's
 * junk filled every place and B's real key was never tried. */
START_TEST(issuer_publishing_junk_under_anothers_kid)
{
    cjose_jwk_t *junk[8] = {rsa_a, rsa_a, rsa_a, rsa_a, rsa_a, rsa_a, rsa_a, rsa_a};
    const char *kids[8] = {"b1", "b1", "b1", "b1", NULL, NULL, NULL, NULL};
    b_users_pass(jwks_of(junk, kids, 8), "A publishes junk as b1");
}
END_TEST

/* A token is judged by the keys of the issuer it names, and only a trusted
 * issuer may be named. */
START_TEST(iss_chooses_the_keys)
{
    sp_config cfg = two_issuers();
    const char *sets[2] = {jwks_a, jwks_b};
    sp_auth *auth = NULL;
    sp_identity id;
    sp_auth_options opt = sp_config_auth_options(&cfg);
    ck_assert_int_eq(sp_auth__create_static(&opt, sets, 2, SP_AUTH_NO_CACHE, &auth), 0);
    const char *a1 = "{\"alg\":\"RS256\",\"kid\":\"a1\"}";
    ck_assert_int_eq(verify_signed(auth, rsa_a, a1, ISS_A, NULL, &id), 0);
    /* Signed by A's key, claiming B: a1 is no key of B's. */
    ck_assert_int_eq(verify_signed(auth, rsa_a, a1, ISS_B, NULL, &id), SP_ERR_UNAUTHORIZED);
    ck_assert_int_eq(verify_signed(auth, rsa_a, "{\"alg\":\"RS256\"}", ISS_B, NULL, &id),
                     SP_ERR_UNAUTHORIZED);
    /* Claiming A with B's key under B's kid: that kid exists only at B. */
    ck_assert_int_eq(verify_signed(auth, rsa_b, "{\"alg\":\"RS256\",\"kid\":\"b1\"}", ISS_A, NULL,
                                   &id),
                     SP_ERR_UNAUTHORIZED);
    /* An issuer no one trusts, or a trusted one spelled differently. */
    ck_assert_int_eq(verify_signed(auth, rsa_a, a1, "https://idp.c.test", NULL, &id),
                     SP_ERR_UNAUTHORIZED);
    ck_assert_int_eq(verify_signed(auth, rsa_a, a1, ISS_A "/", NULL, &id), SP_ERR_UNAUTHORIZED);
    ck_assert_int_eq(verify_signed(auth, rsa_a, a1, "HTTPS://IDP.A.TEST", NULL, &id),
                     SP_ERR_UNAUTHORIZED);
    /* No iss, or one that is not a string, through either JSON reader. */
    char tok[TOK_MAX];
    const char *payloads[] = {
        "{\"sub\":\"alice\",\"exp\":4000000000}",
        "{\"iss\":7,\"sub\":\"alice\",\"exp\":4000000000}",
        "{\"iss\":[\"" ISS_A "\"],\"sub\":\"alice\",\"exp\":4000000000}",
        "{\"iss\":\"https://idp.a.tes\\u0074\",\"sub\":\"alice\",\"exp\":4000000000}",
    };
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        sign(rsa_a, a1, payloads[i], tok);
        ck_assert_int_eq(sp_auth_verify(auth, tok, &id), i == 3 ? 0 : SP_ERR_UNAUTHORIZED);
    }
    sp_auth_destroy(auth);
}
END_TEST

/* --- addresses --- */

/* One token and the address the identity must carry ("" for none). */
typedef struct email_case {
    const char *iss;
    const char *claims; /* members added to claims_for */
    const char *want;
} email_case;

/* B is in SPACEPORT_OIDC_EMAIL_VERIFIED_ISSUERS; A is not. */
static const email_case email_cases[] = {
    /* Mallory: an address with no email_verified, or anything but yes. */
    {ISS_A, "\"email\":\"victim@example.org\"", ""},
    {ISS_A, "\"email\":\"victim@example.org\",\"email_verified\":null", ""},
    {ISS_A, "\"email\":\"victim@example.org\",\"email_verified\":false", ""},
    {ISS_A, "\"email\":\"victim@example.org\",\"email_verified\":\"false\"", ""},
    {ISS_A, "\"email\":\"victim@example.org\",\"email_verified\":\"yes\"", ""},
    {ISS_A, "\"email\":\"victim@example.org\",\"email_verified\":1", ""},
    {ISS_A, "\"email\":\"victim@example.org\",\"email_verified\":[true]", ""},
    /* The owner: verified, in any case, stored in lower case. */
    {ISS_A, "\"email\":\"alice@example.org\",\"email_verified\":true", "alice@example.org"},
    {ISS_A, "\"email\":\"alice@example.org\",\"email_verified\":\"true\"", "alice@example.org"},
    {ISS_A, "\"email\":\"alice@example.org\",\"email_verified\":\"TRUE\"", "alice@example.org"},
    {ISS_A, "\"email\":\"Bob@Example.ORG\",\"email_verified\":true", "bob@example.org"},
    /* Verified, but no address. */
    {ISS_A, "\"email_verified\":true", ""},
    /* An issuer trusted to verify every address: no claim is enough, an
     * explicit no still counts. */
    {ISS_B, "\"email\":\"Carol@B.test\"", "carol@b.test"},
    {ISS_B, "\"email\":\"carol@b.test\",\"email_verified\":true", "carol@b.test"},
    {ISS_B, "\"email\":\"carol@b.test\",\"email_verified\":false", ""},
    {ISS_B, "\"email\":\"carol@b.test\",\"email_verified\":\"False\"", ""},
    {ISS_B, "\"email\":\"carol@b.test\",\"email_verified\":null", ""},
};

START_TEST(address_only_when_vouched_for)
{
    const email_case *c = &email_cases[_i];
    sp_config cfg = two_issuers();
    cfg.email_verified_issuers.items[0] = (char *)ISS_B;
    cfg.email_verified_issuers.count = 1;
    const char *sets[2] = {jwks_a, jwks_b};
    sp_auth *auth = NULL;
    sp_auth_options opt = sp_config_auth_options(&cfg);
    ck_assert_int_eq(sp_auth__create_static(&opt, sets, 2, SP_AUTH_NO_CACHE, &auth), 0);
    cjose_jwk_t *key = strcmp(c->iss, ISS_A) == 0 ? rsa_a : rsa_b;
    const char *hdr = key == rsa_a ? "{\"alg\":\"RS256\",\"kid\":\"a1\"}"
                                   : "{\"alg\":\"RS256\",\"kid\":\"b1\"}";
    /* Both readers: jscan for the plain payload, jansson when an escape
     * makes it not plain. */
    char extra[512];
    for (int plain = 1; plain >= 0; plain--) {
        snprintf(extra, sizeof extra, "%s%s", c->claims, plain ? "" : ",\"x\":\"\\u0061\"");
        sp_identity id;
        ck_assert_int_eq(verify_signed(auth, key, hdr, c->iss, extra, &id), 0);
        ck_assert_msg(strcmp(id.email, c->want) == 0, "%s {%s}: email '%s', want '%s'",
                      plain ? "jscan" : "jansson", extra, id.email, c->want);
    }
    sp_auth_destroy(auth);

    /* The same claims as a userinfo answer. */
    char json[512];
    snprintf(json, sizeof json, "{\"sub\":\"s\",%s}", c->claims);
    json_t *doc = json_loads(json, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    sp_identity id;
    const char *why = NULL;
    sp_claims_want want = {0};
    ck_assert_int_eq(
        sp_auth__identity_from_claims(doc, c->iss, strcmp(c->iss, ISS_B) == 0, &want, &id, &why),
        0);
    ck_assert_msg(strcmp(id.email, c->want) == 0, "userinfo %s: email '%s', want '%s'", json,
                  id.email, c->want);
    json_decref(doc);
}
END_TEST

/* --- opaque tokens --- */

/*
 * Who is asked about an opaque token. The static verifier knows no
 * userinfo endpoint, so an issuer that may be asked makes the answer
 * SP_ERR_UNAVAILABLE ("no endpoint could be asked"), and a verifier that
 * may ask no one refuses at once with SP_ERR_UNAUTHORIZED.
 */
START_TEST(opaque_tokens_go_only_where_configured)
{
    static const struct {
        size_t issuers;
        int set;         /* SPACEPORT_OIDC_OPAQUE_ISSUERS given */
        const char *one; /* its only entry, or NULL ("none") */
        int want;
    } cases[] = {
        {1, 0, NULL, SP_ERR_UNAVAILABLE},   /* the only issuer, by default */
        {2, 0, NULL, SP_ERR_UNAUTHORIZED},  /* several: none by default */
        {2, 1, ISS_B, SP_ERR_UNAVAILABLE},  /* named */
        {1, 1, NULL, SP_ERR_UNAUTHORIZED},  /* "none" */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sp_config cfg = two_issuers();
        cfg.oidc_issuers.count = cases[i].issuers;
        cfg.opaque_issuers_set = cases[i].set;
        if (cases[i].one) {
            cfg.opaque_issuers.items[0] = (char *)cases[i].one;
            cfg.opaque_issuers.count = 1;
        }
        const char *sets[2] = {jwks_a, jwks_b};
        sp_auth *auth = NULL;
        sp_auth_options opt = sp_config_auth_options(&cfg);
        ck_assert_int_eq(sp_auth__create_static(&opt, sets, 2, SP_AUTH_NO_CACHE, &auth), 0);
        sp_identity id;
        ck_assert_msg(sp_auth_verify(auth, "opaque-token", &id) == cases[i].want, "case %zu", i);
        sp_auth_destroy(auth);
    }
}
END_TEST

static Suite *issuers_suite(void)
{
    Suite *s = suite_create("auth_issuers");
    TCase *tc = tcase_create("pure");
    tcase_add_unchecked_fixture(tc, auth_keys_setup, auth_keys_teardown);
    tcase_add_test(tc, issuer_publishing_anothers_key);
    tcase_add_test(tc, issuer_publishing_junk_under_anothers_kid);
    tcase_add_test(tc, iss_chooses_the_keys);
    tcase_add_loop_test(tc, address_only_when_vouched_for, 0,
                        (int)(sizeof email_cases / sizeof email_cases[0]));
    tcase_add_test(tc, opaque_tokens_go_only_where_configured);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    json_object_seed(0);
    SRunner *sr = srunner_create(issuers_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
