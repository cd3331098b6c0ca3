/*
 * store_fixture.c - see store_fixture.h.
 */
#include "store_fixture.h"

#include "util/err.h"
#include "util/log.h"

#include <check.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

sp_store *st;
sqlite3 *raw;

static char root_dir[PATH_MAX];
char test_dir[PATH_MAX];
char db_path[PATH_MAX];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void fixture_root_setup_named(const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(root_dir, sizeof root_dir, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
    ck_assert_ptr_nonnull(mkdtemp(root_dir));
}

void fixture_root_teardown(void)
{
    if (root_dir[0])
        nftw(root_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    root_dir[0] = '\0';
}

void fixture_open(void)
{
    int n = snprintf(test_dir, sizeof test_dir, "%s/t-XXXXXX", root_dir);
    ck_assert(n > 0 && (size_t)n < sizeof test_dir);
    ck_assert_ptr_nonnull(mkdtemp(test_dir));
    n = snprintf(db_path, sizeof db_path, "%s/spaceport.db", test_dir);
    ck_assert(n > 0 && (size_t)n < sizeof db_path);
    ck_assert_int_eq(sp_store_open(db_path, &st), 0);
    int applied = -1;
    ck_assert_int_eq(sp_store_migrate(st, &applied), 0);
    ck_assert_int_gt(applied, 0);
    ck_assert_int_eq(sqlite3_open_v2(db_path, &raw, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(raw, 5000);
}

void fixture_close(void)
{
    sqlite3_close(raw);
    raw = NULL;
    sp_store_close(st);
    st = NULL;
    if (test_dir[0])
        nftw(test_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    test_dir[0] = '\0';
}

void fixture_user(sp_user *u, const char *name, const char *email)
{
    sp_user_claims c = {.issuer = FIXTURE_ISSUER,
                        .sub = name,
                        .username = name,
                        .display_name = name,
                        .email = email};
    ck_assert_int_eq(sp_store_user_provision(st, &c, u, NULL), 0);
}

/* Prepares sql on raw, binding up to three text parameters (?1..?3;
 * NULL leaves one unbound). The caller finalizes it. */
static sqlite3_stmt *raw_prepare(const char *sql, const char *p1, const char *p2, const char *p3)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(raw, sql, -1, &s, NULL);
    ck_assert_msg(rc == SQLITE_OK, "prepare %s: %s", sql, sqlite3_errmsg(raw));
    const char *p[3] = {p1, p2, p3};
    for (int i = 0; i < 3; i++) {
        if (p[i])
            sqlite3_bind_text(s, i + 1, p[i], -1, SQLITE_TRANSIENT);
    }
    return s;
}

int64_t raw_int(const char *sql, const char *p1, const char *p2, const char *p3)
{
    sqlite3_stmt *s = raw_prepare(sql, p1, p2, p3);
    int rc = sqlite3_step(s);
    ck_assert_msg(rc == SQLITE_ROW, "%s: no row (%d)", sql, rc);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

int raw_text(char *out, size_t len, const char *sql, const char *p1, const char *p2,
             const char *p3)
{
    sqlite3_stmt *s = raw_prepare(sql, p1, p2, p3);
    int rc = sqlite3_step(s);
    ck_assert_msg(rc == SQLITE_ROW, "%s: no row (%d)", sql, rc);
    const unsigned char *t = sqlite3_column_text(s, 0);
    snprintf(out, len, "%s", t ? (const char *)t : "");
    sqlite3_finalize(s);
    return t != NULL;
}

void raw_exec(const char *sql, const char *p1, const char *p2, const char *p3)
{
    sqlite3_stmt *s = raw_prepare(sql, p1, p2, p3);
    int rc = sqlite3_step(s);
    ck_assert_msg(rc == SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(raw));
    sqlite3_finalize(s);
}

int fixture_main(Suite *s)
{
    sp_log_set_level(SP_LOG_WARN);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
