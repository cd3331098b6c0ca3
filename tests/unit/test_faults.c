/*
 * test_faults.c - allocation failure loops over the store, the event
 * envelope and the token verifier.
 *
 * SQLite, jansson and cjose take custom allocators; each test fails the
 * Nth allocation for N = 1, 2, ... until the operation no longer allocates
 * at the failing index. At every N the operation must either succeed or
 * return an error - never crash - and the database must stay consistent
 * (no half-written change: every user has its personal drive and its
 * event, every share its event). Leaks are the sanitizer's and valgrind's
 * to find.
 */
#include "auth/internal.h"
#include "config.h"
#include "events/envelope.h"
#include "events/inbound.h"
#include "store/events.h"
#include "store/roles.h"
#include "store/shares.h"
#include "store/store.h"
#include "store/users.h"
#include "util/err.h"
#include "util/log.h"

#include "../fuzz/fuzz_token_jwks.h"

#include <check.h>
#include <cjose/cjose.h>
#include <cjose/header.h>
#include <cjose/jws.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Allocations counted since arming; the one numbered fail_at fails. */
static long alloc_count;
static long fail_at; /* 0: never */
static long failures;

static int should_fail(void)
{
    alloc_count++;
    if (fail_at && alloc_count == fail_at) {
        failures++;
        return 1;
    }
    return 0;
}

static void arm(long n)
{
    alloc_count = 0;
    fail_at = n;
}

/* jansson and cjose */
static void *j_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n);
}

static void *c_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n);
}

/* SQLite needs the size of an allocation: keep it in a header. */
#define HDR 16
static void *s_malloc(int n)
{
    if (should_fail())
        return NULL;
    char *p = malloc((size_t)n + HDR);
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof n);
    return p + HDR;
}

static void s_free(void *p)
{
    if (p)
        free((char *)p - HDR);
}

static int s_size(void *p)
{
    int n = 0;
    if (p)
        memcpy(&n, (char *)p - HDR, sizeof n);
    return n;
}

static void *s_realloc(void *p, int n)
{
    if (!p)
        return s_malloc(n);
    if (should_fail())
        return NULL;
    char *q = realloc((char *)p - HDR, (size_t)n + HDR);
    if (!q)
        return NULL;
    memcpy(q, &n, sizeof n);
    return q + HDR;
}

static int s_roundup(int n)
{
    return (n + 7) & ~7;
}

static int s_init(void *x)
{
    (void)x;
    return SQLITE_OK;
}

static void s_shutdown(void *x)
{
    (void)x;
}

static void install_allocators(void)
{
    static const sqlite3_mem_methods m = {s_malloc,  s_free, s_realloc,  s_size,
                                          s_roundup, s_init, s_shutdown, NULL};
    sqlite3_shutdown();
    ck_assert_int_eq(sqlite3_config(SQLITE_CONFIG_MALLOC, &m), SQLITE_OK);
    cjose_set_alloc_funcs(j_malloc, c_realloc, free); /* also sets jansson's */
    json_set_alloc_funcs(j_malloc, free);
}

static char dir[64];

static sp_store *fresh_store(void)
{
    snprintf(dir, sizeof dir, "/tmp/sp-faults-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/spaceport.db", dir);
    sp_store *st = NULL;
    arm(0);
    ck_assert_int_eq(sp_store_open(path, &st), 0);
    ck_assert_int_eq(sp_store_migrate(st, NULL), 0);
    return st;
}

static void drop_store(sp_store *st)
{
    arm(0);
    sp_store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* One integer from the database, read without fault injection. */
static long long count(const char *sql)
{
    long save = fail_at;
    fail_at = 0;
    char path[128];
    snprintf(path, sizeof path, "%s/spaceport.db", dir);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    long long v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    fail_at = save;
    return v;
}

/* Largest N tried: the operations below allocate a few hundred times. */
#define MAX_FAIL_AT 3000

START_TEST(provision_under_allocation_failure)
{
    install_allocators();
    sp_store *st = fresh_store();
    long n, errors = 0, ok = 0;
    for (n = 1; n <= MAX_FAIL_AT; n++) {
        char sub[32], name[32];
        snprintf(sub, sizeof sub, "sub-%ld", n);
        snprintf(name, sizeof name, "user%ld", n);
        sp_user_claims c = {
            .issuer = "http://idp.test", .sub = sub, .username = name, .display_name = name};
        sp_user u;
        arm(n);
        int rc = sp_store_user_provision(st, &c, &u, NULL);
        long used = alloc_count;
        arm(0);
        if (rc == 0)
            ok++;
        else
            errors++;
        /* All or nothing: users, personal drives, memberships and events
         * always match. */
        long long users = count("SELECT count(*) FROM users");
        ck_assert_int_eq(users, count("SELECT count(*) FROM drives WHERE drive_type='personal'"));
        ck_assert_int_eq(users, count("SELECT count(*) FROM members"));
        ck_assert_int_eq(users, count("SELECT count(*) FROM events WHERE type = "
                                      "'spaceport.space.created'"));
        if (used < n)
            break; /* the operation finished before the failing allocation */
    }
    ck_assert_msg(errors > 10, "only %ld failures were injected", errors);
    ck_assert_int_ge(ok, 1);
    fprintf(stderr, "provision: %ld allocation points failed, %ld completed\n", errors, ok);
    /* And the store still works afterwards. */
    sp_user_claims c = {
        .issuer = "http://idp.test", .sub = "after", .username = "after", .display_name = "After"};
    sp_user u;
    ck_assert_int_eq(sp_store_user_provision(st, &c, &u, NULL), 0);
    drop_store(st);
}
END_TEST

START_TEST(share_under_allocation_failure)
{
    install_allocators();
    sp_store *st = fresh_store();
    sp_user a, b;
    sp_user_claims ca = {
        .issuer = "http://idp.test", .sub = "a", .username = "a", .display_name = "A"};
    sp_user_claims cb = {
        .issuer = "http://idp.test", .sub = "b", .username = "b", .display_name = "B"};
    ck_assert_int_eq(sp_store_user_provision(st, &ca, &a, NULL), 0);
    ck_assert_int_eq(sp_store_user_provision(st, &cb, &b, NULL), 0);
    char drive[SP_USER_ID_LEN];
    {
        char path[128];
        snprintf(path, sizeof path, "%s/spaceport.db", dir);
        sqlite3 *db;
        sqlite3_open(path, &db);
        sqlite3_stmt *s;
        sqlite3_prepare_v2(db,
                           "SELECT d.id FROM drives d JOIN users u ON u.seq = d.owner_seq"
                           " WHERE u.sub = 'a'",
                           -1, &s, NULL);
        ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
        snprintf(drive, sizeof drive, "%s", (const char *)sqlite3_column_text(s, 0));
        sqlite3_finalize(s);
        sqlite3_close(db);
    }
    long n, errors = 0;
    for (n = 1; n <= MAX_FAIL_AT; n++) {
        char item[32];
        snprintf(item, sizeof item, "item-%ld", n);
        sp_share_grantee g = {.user_id = b.id};
        sp_share_made made;
        arm(n);
        int rc = sp_store_share_create(st, &a, drive, item, item, &g, SP_ROLE_VIEWER, 0, &made);
        long used = alloc_count;
        arm(0);
        errors += rc < 0;
        ck_assert_int_eq(count("SELECT count(*) FROM shares"),
                         count("SELECT count(*) FROM events WHERE type = "
                               "'spaceport.share.created'"));
        if (used < n)
            break;
    }
    ck_assert_msg(errors > 10, "only %ld failures were injected", errors);
    fprintf(stderr, "share: %ld allocation points failed\n", errors);
    drop_store(st);
}
END_TEST

START_TEST(envelope_under_allocation_failure)
{
    install_allocators();
    sp_event e = {7,
                  "5b1b1a4e-8a0e-4f5e-9d1b-1c2d3e4f5a6b",
                  "spaceport.share.created",
                  "d1",
                  1795000000000,
                  "{\"shareId\":\"s\",\"roles\":[\"r\"],\"nested\":{\"a\":[1,2]}}",
                  "tab-1",
                  0};
    long n, errors = 0;
    for (n = 1; n <= MAX_FAIL_AT; n++) {
        arm(n);
        json_t *j = sp_envelope_json(&e, "https://spaceport.test");
        long used = alloc_count;
        arm(0);
        if (j) {
            ck_assert_str_eq(json_string_value(json_object_get(j, "specversion")), "1.0");
            json_decref(j);
        } else {
            errors++;
        }
        if (used < n)
            break;
    }
    ck_assert_int_gt(errors, 5);
    fprintf(stderr, "envelope: %ld allocation points failed\n", errors);
}
END_TEST

/* A valid change in binary or structured mode must parse or fail with a
 * reason, and the parser's own allocations (the event built from the
 * headers) fail as SP_ERR_NOMEM, which the consumer offers again later.
 * jansson 2.14 reports some allocation failures inside json_loadb as
 * syntax errors (SP_ERR_INVALID here; the consumer parses a malformed
 * event twice to tell). */
static void inbound_loop(const sp_inbound_header *h, size_t n, const char *payload,
                         const char *what, long min_nomem)
{
    install_allocators();
    long at, errors = 0, nomem = 0;
    for (at = 1; at <= MAX_FAIL_AT; at++) {
        sp_inbound in;
        const char *why = NULL;
        arm(at);
        int rc = sp_inbound_parse_msg(h, n, payload, strlen(payload), &in, &why);
        long used = alloc_count;
        arm(0);
        ck_assert_msg(rc == 0 || rc == SP_ERR_NOMEM || rc == SP_ERR_INVALID,
                      "%s, allocation %ld failed: rc %d (%s)", what, at, rc, why ? why : "");
        nomem += rc == SP_ERR_NOMEM;
        if (rc == 0) {
            ck_assert_str_eq(in.change.event_id, "e1");
            sp_inbound_free(&in);
        } else {
            ck_assert_ptr_nonnull(why);
            errors++;
        }
        if (used < at)
            break;
    }
    ck_assert_int_gt(errors, 3);
    ck_assert_int_ge(nomem, min_nomem);
    fprintf(stderr, "inbound %s: %ld allocation points failed, %ld as out of memory\n", what,
            errors, nomem);
}

START_TEST(inbound_under_allocation_failure)
{
    const sp_inbound_header binary[] = {
        {"Nats-Msg-Id", "e1"},
        {"ce-specversion", "1.0"},
        {"ce-id", "e1"},
        {"ce-source", "urn:%C3%A9xample"},
        {"ce-type", "spaceport.storage.changed"},
        {"ce-time", "2026-11-24T08:00:00Z"},
        {"Content-Type", "application/json"},
    };
    inbound_loop(binary, sizeof binary / sizeof binary[0],
                 "{\"driveId\":\"d1\",\"itemId\":\"i1\",\"eTag\":\"x\",\"quotaUsed\":5,"
                 "\"lastModifiedDateTime\":\"2026-11-24T08:00:00Z\",\"change\":\"updated\"}",
                 "binary", 5);
    const sp_inbound_header structured[] = {{"Content-Type", "application/cloudevents+json"}};
    inbound_loop(structured, 1,
                 "{\"specversion\":\"1.0\",\"id\":\"e1\",\"source\":\"urn:x\","
                 "\"type\":\"spaceport.storage.changed\",\"data\":{\"driveId\":\"d1\","
                 "\"eTag\":\"x\",\"lastModifiedDateTime\":\"2026-11-24T08:00:00Z\","
                 "\"change\":\"updated\"}}",
                 "structured", 0);
}
END_TEST

static const char *fake_env(const char *name, void *ctx)
{
    (void)ctx;
    if (strcmp(name, "SPACEPORT_OIDC_ISSUERS") == 0)
        return "http://127.0.0.1:18999";
    return NULL;
}

/* Signs payload with key under an ES256 header (kid "faults-ec"). New
 * string. */
static char *es256_token(cjose_jwk_t *key, const char *payload)
{
    cjose_err err;
    json_t *h = json_pack("{s:s,s:s}", "alg", "ES256", "kid", "faults-ec");
    cjose_jws_t *jws =
        cjose_jws_sign(key, (cjose_header_t *)h, (const uint8_t *)payload, strlen(payload), &err);
    json_decref(h);
    ck_assert_ptr_nonnull(jws);
    const char *ser = NULL;
    ck_assert(cjose_jws_export(jws, &ser, &err));
    char *token = strdup(ser);
    cjose_jws_release(jws);
    return token;
}

/* Fails the allocations of verifying token one by one. Returns how many
 * failed verifications that caused. */
static long verify_fail_loop(sp_auth *auth, const char *token)
{
    sp_identity id;
    long n, errors = 0;
    for (n = 1; n <= MAX_FAIL_AT; n++) {
        arm(n);
        int rc = sp_auth_verify(auth, token, &id);
        long used = alloc_count;
        arm(0);
        ck_assert(rc == 0 || rc == SP_ERR_UNAUTHORIZED || rc == SP_ERR_UNAVAILABLE ||
                  rc == SP_ERR_NOMEM);
        errors += rc != 0;
        if (used < n)
            break;
    }
    ck_assert_int_eq(sp_auth_verify(auth, token, &id), 0); /* and still valid after */
    return errors;
}

START_TEST(verify_under_allocation_failure)
{
    /* A token signed by the fuzz target's RSA key, valid until 2100: its
     * header and payload are plain JSON, read without jansson. */
    FILE *f = fopen(SP_SOURCE_ROOT "/tests/fuzz/corpus/token/seed-0", "r");
    ck_assert_ptr_nonnull(f);
    char token[4096] = "";
    ck_assert_ptr_nonnull(fgets(token, sizeof token, f));
    fclose(f);
    /* And one whose payload is not plain (an escape): jansson reads it. An
     * EC key, which is quick to make, signs it; its JWKS is a second
     * issuer-less set appended to the fuzz keys. */
    cjose_err err;
    cjose_jwk_t *ec = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err);
    ck_assert_ptr_nonnull(ec);
    char *pub = cjose_jwk_to_json(ec, false, &err);
    json_t *jwks = json_loads(FUZZ_JWKS, 0, NULL);
    json_t *jwk = json_loads(pub, 0, NULL);
    ck_assert(jwks && jwk);
    json_object_set_new(jwk, "kid", json_string("faults-ec"));
    json_array_append_new(json_object_get(jwks, "keys"), jwk);
    char *jwks_text = json_dumps(jwks, JSON_COMPACT);
    json_decref(jwks);
    free(pub);
    char *escaped = es256_token(ec, "{\"iss\":\"http://127.0.0.1:18999\",\"sub\":\"fu\\u007az\","
                                    "\"exp\":4102444800,\"name\":\"F\\u00fczz\"}");
    cjose_jwk_release(ec);

    install_allocators();
    /* cjose only imports the keys, once, before the loops (its 0.6.2.1
     * does not survive its own allocator failing in cjose_jws_import, which
     * the verifier no longer calls): its allocations are left alone.
     * jansson's, which parse a payload that is not plain, are failed one
     * by one. */
    cjose_set_alloc_funcs(malloc, realloc, free);
    json_set_alloc_funcs(j_malloc, free); /* after cjose's, which also sets jansson's */
    sp_config cfg;
    char cfgerr[256];
    ck_assert_int_eq(sp_config_load(&cfg, fake_env, NULL, 0, NULL, 0, cfgerr, sizeof cfgerr), 0);
    const char *sets[1] = {jwks_text};
    sp_auth *auth = NULL;
    sp_auth_options opt = sp_config_auth_options(&cfg);
    ck_assert_int_eq(sp_auth__create_static(&opt, sets, 1, SP_AUTH_NO_CACHE, &auth), 0);
    sp_identity id;
    ck_assert_int_eq(sp_auth_verify(auth, token, &id), 0); /* valid without faults */
    ck_assert_int_eq(sp_auth_verify(auth, escaped, &id), 0);
    ck_assert_str_eq(id.sub, "fuzz");

    /* The plain token costs no allocation of jansson's (or cjose's). */
    arm(0);
    ck_assert_int_eq(sp_auth_verify(auth, token, &id), 0);
    ck_assert_int_eq(alloc_count, 0);
    ck_assert_int_eq(verify_fail_loop(auth, token), 0);

    long errors = verify_fail_loop(auth, escaped);
    ck_assert_int_gt(errors, 5);
    fprintf(stderr, "verify: %ld allocation points failed\n", errors);
    sp_auth_destroy(auth);
    sp_config_free(&cfg);
    free(escaped);
    free(jwks_text);
}
END_TEST

static Suite *faults_suite(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("allocation");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, provision_under_allocation_failure);
    tcase_add_test(tc, share_under_allocation_failure);
    tcase_add_test(tc, envelope_under_allocation_failure);
    tcase_add_test(tc, inbound_under_allocation_failure);
    tcase_add_test(tc, verify_under_allocation_failure);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    sp_log_set_level(SP_LOG_ERROR); /* refusals under injected failures are expected */
    SRunner *sr = srunner_create(faults_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
