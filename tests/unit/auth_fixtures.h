/*
 * auth_fixtures.h - what the auth suites (test_auth.c, test_verify.c) share:
 * the test issuers, cjose keys and their JWK sets, and the helpers that mint
 * signed tokens and claims from them.
 *
 * The keys are made once by auth_keys_setup, run as a Check unchecked
 * fixture (before Check forks the tests): RSA generation is slow, above all
 * under valgrind. Every case then signs with the same keys; the tests only
 * read them.
 */
#ifndef SP_TEST_AUTH_FIXTURES_H
#define SP_TEST_AUTH_FIXTURES_H

#include "auth/internal.h"

#include <cjose/jwk.h>
#include <jansson.h>
#include <stddef.h>

#define ISS_A "https://idp.a.test"
#define ISS_B "https://idp.b.test"
/* Room for one test token (some exceed the verifier's limit on purpose). */
#define TOK_MAX (3 * SP_AUTH_TOKEN_MAX)

/* Made by auth_keys_setup, released by auth_keys_teardown; borrowed by the
 * tests. rsa_small is 1024 bits (below SP_AUTH_RSA_MIN_BITS). */
extern cjose_jwk_t *rsa_a, *rsa_b, *ec_a, *rsa_small;
/* JWKS texts: jwks_a holds rsa_a ("a1") and ec_a ("a-ec"), jwks_b rsa_b
 * ("b1"). */
extern char *jwks_a, *jwks_b;

/* Makes the keys and JWK sets above; for tcase_add_unchecked_fixture. */
void auth_keys_setup(void);
/* Releases what auth_keys_setup made. */
void auth_keys_teardown(void);

/* Public JWK JSON of key (borrowed) with kid added when not NULL, as a new
 * jansson object. */
json_t *public_jwk(cjose_jwk_t *key, const char *kid);
/* Builds a JWKS text from k1 under kid1 and, when k2 is not NULL, k2 under
 * kid2. New string (free()). */
char *make_jwks(cjose_jwk_t *k1, const char *kid1, cjose_jwk_t *k2, const char *kid2);
/* Signs payload (JSON text) with key under a header made of header_json.
 * Writes the compact JWS into out (TOK_MAX bytes). */
void sign(cjose_jwk_t *key, const char *header_json, const char *payload, char *out);
/* Claims valid now for issuer iss (sub "alice", exp now + 600 s), with the
 * members in extra (JSON text without braces, or NULL) added. */
void claims_for(const char *iss, const char *extra, char *out, size_t outlen);

#endif
