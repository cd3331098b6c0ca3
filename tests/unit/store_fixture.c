/*
 * store_fixture.c - see store_fixture.h.
 */
#include "store_fixture.h"

#include "util/err.h"

#include <check.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

sp_store *st;
sqlite3 *raw;

static char root_dir[PATH_MAX];
static char test_dir[PATH_MAX];

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
    nftw(root_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void fixture_open(void)
{
    char db_path[PATH_MAX];
    int n = snprintf(test_dir, sizeof test_dir, "%s/t-XXXXXX", root_dir);
    ck_assert(n > 0 && (size_t)n < sizeof test_dir);
    ck_assert_ptr_nonnull(mkdtemp(test_dir));
    n = snprintf(db_path, sizeof db_path, "%s/spaceport.db", test_dir);
    ck_assert(n > 0 && (size_t)n < sizeof db_path);
    ck_assert_int_eq(sp_store_open(db_path, &st), 0);
    ck_assert_int_eq(sp_store_migrate(st, NULL), 0);
    ck_assert_int_eq(sqlite3_open_v2(db_path, &raw, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(raw, 5000);
}

void fixture_close(void)
{
    sqlite3_close(raw);
    raw = NULL;
    sp_store_close(st);
    st = NULL;
    nftw(test_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
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

int64_t raw_int(const char *sql, const char *p1)
{
    sqlite3_stmt *s = NULL;
    ck_assert_msg(sqlite3_prepare_v2(raw, sql, -1, &s, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(raw));
    if (p1)
        sqlite3_bind_text(s, 1, p1, -1, SQLITE_TRANSIENT);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

void raw_exec(const char *sql, const char *p1)
{
    sqlite3_stmt *s = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(raw, sql, -1, &s, NULL), SQLITE_OK);
    if (p1)
        sqlite3_bind_text(s, 1, p1, -1, SQLITE_TRANSIENT);
    ck_assert_msg(sqlite3_step(s) == SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(raw));
    sqlite3_finalize(s);
}
