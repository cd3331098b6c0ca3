/*
 * test_store.c - unit tests of src/store/store.c and schema/001_init.sql:
 * opening, migrations (fresh, repeated, newer database, failing), WAL,
 * per-thread reader connections, the constraints the schema promises,
 * group commit, jobs on the writer thread, and storage changes applied in
 * batches.
 *
 * Each test gets its own temporary directory. The database file is also
 * opened directly with sqlite3 to look at what the store wrote.
 */
#include "store/changes.h"
#include "store/events.h"
#include "store/internal.h"
#include "store/migrations.h"
#include "store/store.h"
#include "util/err.h"
#include "util/time.h"

#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>

#include "store/db.h"

/* The SQLite connection under a store connection. */
#define LITE(db) ((sqlite3 *)sp_db_sqlite_handle(db))
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* One directory for the whole run, made before the tests fork and removed
 * with everything in it at the end, so that a failing test (whose forked
 * child skips its teardown) leaves nothing behind. */
static char base_dir[64];
static char db_path[128];
static int db_serial;

static void setup(void)
{
    snprintf(db_path, sizeof db_path, "%s/%ld-%d.db", base_dir, (long)getpid(), db_serial++);
}

static void teardown(void)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < COUNT(suffixes); i++) {
        char p[160];
        snprintf(p, sizeof p, "%s%s", db_path, suffixes[i]);
        unlink(p);
    }
}

static void base_dir_remove(void)
{
    DIR *d = opendir(base_dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char p[400];
            snprintf(p, sizeof p, "%s/%s", base_dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(base_dir);
}

/* ---- helpers on a direct sqlite3 connection --------------------------- */

static sqlite3 *raw_open(void)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(
        sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 2000);
    return db;
}

/* Runs sql, returning SQLite's extended result code. */
static int raw_exec(sqlite3 *db, const char *sql)
{
    sqlite3_extended_result_codes(db, 1);
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* First column of the first row as an integer; -1 without a row. */
static long long raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    long long v = -1;
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* First column of the first row as text into out; "" without a row. */
static void raw_text(sqlite3 *db, const char *sql, char *out, size_t n)
{
    sqlite3_stmt *s = NULL;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    out[0] = '\0';
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
        snprintf(out, n, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
}

/* Every object of the schema and every schema_version row, as one text:
 * two snapshots are equal when nothing changed. Returns a new string. */
static char *snapshot(void)
{
    sqlite3 *db = raw_open();
    sqlite3_stmt *s = NULL;
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    ck_assert_ptr_nonnull(out);
    const char *sql = "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master"
                      " UNION ALL SELECT 'version ' || version || ' ' || name || ' ' ||"
                      " applied_at FROM schema_version ORDER BY 1";
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(s, 0);
        size_t tl = strlen(t);
        ck_assert_uint_lt(len + tl + 2, cap);
        memcpy(out + len, t, tl);
        len += tl;
        out[len++] = '\n';
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
}

static sp_store *open_migrated(void)
{
    sp_store *st = NULL;
    ck_assert_int_eq(sp_store_open(db_path, &st), 0);
    ck_assert_ptr_nonnull(st);
    int applied = -1;
    ck_assert_int_eq(sp_store_migrate(st, &applied), 0);
    ck_assert_int_eq(applied, sp_store_binary_version());
    return st;
}

/* ---- migrations ------------------------------------------------------- */

START_TEST(binary_version_matches_embedded)
{
    ck_assert_int_ge(sp_store_binary_version(), 1);
    ck_assert_int_eq(sp_store_binary_version(), sp_migration_count);
    for (int i = 0; i < sp_migration_count; i++) {
        ck_assert_int_eq(sp_migrations[i].version, i + 1);
        ck_assert_ptr_nonnull(sp_migrations[i].sql);
        ck_assert_uint_gt(strlen(sp_migrations[i].sql), 0);
    }
    ck_assert_str_eq(sp_migrations[0].name, "001_init.sql");
}
END_TEST

START_TEST(migrate_fresh_file)
{
    ck_assert_int_ne(access(db_path, F_OK), 0);
    sp_store *st = NULL;
    ck_assert_int_eq(sp_store_open(db_path, &st), 0);
    ck_assert_int_eq(access(db_path, F_OK), 0); /* created */
    ck_assert_int_eq(sp_store_schema_version(st), 0);

    int64_t before = sp_time_now_ms();
    int applied = -1;
    ck_assert_int_eq(sp_store_migrate(st, &applied), 0);
    int64_t after = sp_time_now_ms();
    ck_assert_int_eq(applied, sp_store_binary_version());
    ck_assert_int_eq(sp_store_schema_version(st), sp_store_binary_version());
    sp_store_close(st);

    /* One schema_version row per migration, with its name and a time. */
    sqlite3 *db = raw_open();
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM schema_version"), sp_migration_count);
    for (int i = 0; i < sp_migration_count; i++) {
        char sql[128], name[64];
        snprintf(sql, sizeof sql, "SELECT name FROM schema_version WHERE version = %d", i + 1);
        raw_text(db, sql, name, sizeof name);
        ck_assert_str_eq(name, sp_migrations[i].name);
        snprintf(sql, sizeof sql, "SELECT applied_at FROM schema_version WHERE version = %d",
                 i + 1);
        long long at = raw_int(db, sql);
        ck_assert_int_ge(at, before);
        ck_assert_int_le(at, after);
    }
    sqlite3_close(db);
}
END_TEST

START_TEST(migrate_twice_is_noop)
{
    sp_store *st = open_migrated();
    char *first = snapshot();
    int applied = -1;
    ck_assert_int_eq(sp_store_migrate(st, &applied), 0);
    ck_assert_int_eq(applied, 0);
    ck_assert_int_eq(sp_store_schema_version(st), sp_store_binary_version());
    /* NULL for applied is allowed. */
    ck_assert_int_eq(sp_store_migrate(st, NULL), 0);
    sp_store_close(st);

    /* And after reopening. */
    ck_assert_int_eq(sp_store_open(db_path, &st), 0);
    ck_assert_int_eq(sp_store_schema_version(st), sp_store_binary_version());
    applied = -1;
    ck_assert_int_eq(sp_store_migrate(st, &applied), 0);
    ck_assert_int_eq(applied, 0);
    sp_store_close(st);

    char *second = snapshot();
    ck_assert_str_eq(first, second);
    free(first);
    free(second);
}
END_TEST

START_TEST(newer_schema_is_refused)
{
    sp_store *st = open_migrated();
    sp_store_close(st);

    /* A newer binary applied one more migration. */
    sqlite3 *db = raw_open();
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO schema_version (version, name, applied_at)"
             " VALUES (%d, '%03d_future.sql', 1)",
             sp_migration_count + 1, sp_migration_count + 1);
    ck_assert_int_eq(raw_exec(db, sql), SQLITE_OK);
    sqlite3_close(db);
    char *before = snapshot();

    ck_assert_int_eq(sp_store_open(db_path, &st), 0);
    ck_assert_int_eq(sp_store_schema_version(st), sp_migration_count + 1);
    int applied = -1;
    ck_assert_int_eq(sp_store_migrate(st, &applied), SP_ERR_NEWER_SCHEMA);
    ck_assert_int_eq(applied, 0);
    sp_store_close(st);

    char *after = snapshot();
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
}
END_TEST

START_TEST(newer_schema_on_bare_database)
{
    /* Only schema_version, at a far newer version: nothing may be created. */
    sqlite3 *db = raw_open();
    ck_assert_int_eq(raw_exec(db, "CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
                                  " name TEXT NOT NULL, applied_at INTEGER NOT NULL);"
                                  "INSERT INTO schema_version VALUES (99, '099_x.sql', 5)"),
                     SQLITE_OK);
    sqlite3_close(db);
    char *before = snapshot();

    sp_store *st = NULL;
    ck_assert_int_eq(sp_store_open(db_path, &st), 0);
    int applied = -1;
    ck_assert_int_eq(sp_store_migrate(st, &applied), SP_ERR_NEWER_SCHEMA);
    ck_assert_int_eq(applied, 0);
    ck_assert_int_eq(sp_store_schema_version(st), 99);
    sp_store_close(st);

    char *after = snapshot();
    ck_assert_str_eq(before, after);
    db = raw_open();
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'users'"), 0);
    sqlite3_close(db);
    free(before);
    free(after);
}
END_TEST

START_TEST(failed_migration_rolls_back)
{
    /* A table in the way makes 001 fail halfway; its transaction must leave
     * neither the tables created before the failure nor a version row. */
    sqlite3 *db = raw_open();
    ck_assert_int_eq(raw_exec(db, "CREATE TABLE members (x INTEGER)"), SQLITE_OK);
    sqlite3_close(db);

    sp_store *st = NULL;
    ck_assert_int_eq(sp_store_open(db_path, &st), 0);
    int applied = -1;
    ck_assert_int_eq(sp_store_migrate(st, &applied), SP_ERR_DB);
    ck_assert_int_eq(applied, 0);
    ck_assert_int_eq(sp_store_schema_version(st), 0);
    sp_store_close(st);

    /* The version table is made in the migration's transaction (replicas
     * on PostgreSQL make it under the migration lock): gone with it. */
    db = raw_open();
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN"
                                 " ('users', 'drives', 'schema_version')"),
                     0);
    sqlite3_close(db);
}
END_TEST

static const char *const expected_tables[] = {
    "schema_version", "users",  "drives",           "members",        "shares",
    "remotes",        "events", "event_recipients", "inbound_events", "relay_cursor",
};

START_TEST(expected_tables_exist)
{
    sp_store *st = open_migrated();
    sp_store_close(st);
    sqlite3 *db = raw_open();
    for (size_t i = 0; i < COUNT(expected_tables); i++) {
        char sql[160];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'",
                 expected_tables[i]);
        ck_assert_msg(raw_int(db, sql) == 1, "table %s missing", expected_tables[i]);
    }
    /* The schema's integrity as SQLite sees it. */
    char ok[64];
    raw_text(db, "PRAGMA integrity_check", ok, sizeof ok);
    ck_assert_str_eq(ok, "ok");
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    sqlite3_close(db);
}
END_TEST

START_TEST(wal_mode_and_foreign_keys)
{
    sp_store *st = NULL;
    ck_assert_int_eq(sp_store_open(db_path, &st), 0);
    /* WAL is a property of the file: a separate connection sees it. */
    sqlite3 *db = raw_open();
    char mode[32];
    raw_text(db, "PRAGMA journal_mode", mode, sizeof mode);
    ck_assert_str_eq(mode, "wal");
    sqlite3_close(db);

    /* Cascades need foreign keys on every store connection. */
    ck_assert_int_eq(raw_int(LITE(st->writer.db), "PRAGMA foreign_keys"), 1);
    sp_conn *r = sp_store__reader(st);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(raw_int(LITE(r->db), "PRAGMA foreign_keys"), 1);
    ck_assert_ptr_ne(LITE(r->db), LITE(st->writer.db));
    sp_store_close(st);
}
END_TEST

START_TEST(open_failure)
{
    sp_store *st = (sp_store *)0x1;
    ck_assert_int_eq(sp_store_open("/nonexistent-sp-dir/sub/spaceport.db", &st), SP_ERR_IO);
    ck_assert_ptr_eq(st, (sp_store *)0x1); /* untouched */
    sp_store_close(NULL);                  /* harmless */
}
END_TEST

/* ---- readers across threads ------------------------------------------- */

#define PING_THREADS     8
#define PINGS_PER_THREAD 200

typedef struct ping_arg {
    sp_store *st;
    pthread_barrier_t *barrier;
    sp_conn *conn; /* the thread's reader */
    sqlite3 *db;
    int failures; /* pings that did not return 0 */
    int switched; /* times the reader changed within the thread */
} ping_arg;

static void *ping_thread(void *p)
{
    ping_arg *a = p;
    for (int i = 0; i < PINGS_PER_THREAD; i++) {
        if (sp_store_ping(a->st) != 0)
            a->failures++;
        sp_conn *c = sp_store__reader(a->st);
        if (i == 0) {
            a->conn = c;
            a->db = c ? LITE(c->db) : NULL;
        } else if (c != a->conn) {
            a->switched++;
        }
    }
    /* Stay alive until every thread has its reader, so that no connection
     * is freed and its address reused before they are compared. */
    pthread_barrier_wait(a->barrier);
    return NULL;
}

START_TEST(ping_from_threads)
{
    sp_store *st = open_migrated();
    ck_assert_int_eq(sp_store_ping(st), 0);
    sp_conn *main_conn = sp_store__reader(st);
    ck_assert_ptr_nonnull(main_conn);

    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, PING_THREADS);
    pthread_t threads[PING_THREADS];
    ping_arg args[PING_THREADS];
    for (int i = 0; i < PING_THREADS; i++) {
        args[i] = (ping_arg){.st = st, .barrier = &barrier};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, ping_thread, &args[i]), 0);
    }
    for (int i = 0; i < PING_THREADS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&barrier);

    for (int i = 0; i < PING_THREADS; i++) {
        ck_assert_int_eq(args[i].failures, 0);
        ck_assert_int_eq(args[i].switched, 0);
        ck_assert_ptr_nonnull(args[i].conn);
        ck_assert_ptr_ne(args[i].conn, main_conn);
        ck_assert_ptr_ne(args[i].db, LITE(st->writer.db));
        ck_assert_ptr_ne(args[i].db, LITE(main_conn->db));
        for (int j = 0; j < i; j++) {
            ck_assert_ptr_ne(args[i].conn, args[j].conn);
            ck_assert_ptr_ne(args[i].db, args[j].db);
        }
    }

    /* Exited threads released their readers; the main thread's remains. */
    pthread_mutex_lock(&st->readers_lock);
    int readers = 0;
    for (sp_conn *c = st->readers; c; c = c->next)
        readers++;
    pthread_mutex_unlock(&st->readers_lock);
    ck_assert_int_eq(readers, 1);
    ck_assert_ptr_eq(sp_store__reader(st), main_conn);
    ck_assert_int_eq(sp_store_ping(st), 0);
    sp_store_close(st);
}
END_TEST

START_TEST(readers_see_committed_writes)
{
    sp_store *st = open_migrated();
    sp_conn *r = sp_store__reader(st);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(raw_int(LITE(r->db), "SELECT count(*) FROM inbound_events"), 0);
    sp_conn *w = sp_store__begin(st);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(raw_exec(LITE(w->db), "INSERT INTO inbound_events VALUES ('e1', 1)"), SQLITE_OK);
    /* Not yet committed: the reader does not see it. */
    ck_assert_int_eq(raw_int(LITE(r->db), "SELECT count(*) FROM inbound_events"), 0);
    ck_assert_int_eq(sp_store__commit(st), 0);
    ck_assert_int_eq(raw_int(LITE(r->db), "SELECT count(*) FROM inbound_events"), 1);

    /* A rolled back write is gone. */
    w = sp_store__begin(st);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(raw_exec(LITE(w->db), "INSERT INTO inbound_events VALUES ('e2', 2)"), SQLITE_OK);
    sp_store__rollback(st);
    ck_assert_int_eq(raw_int(LITE(r->db), "SELECT count(*) FROM inbound_events"), 1);
    sp_store_close(st);
}
END_TEST

/* ---- schema constraints ----------------------------------------------- */

/* Rows the constraint tests build on: two users, a personal and a project
 * drive, a member, a share and an event with a recipient. */
static const char SEED[] =
    "INSERT INTO users (seq, id, issuer, sub, username, created_at, updated_at) VALUES"
    " (1, 'u-1', 'https://idp.example.com', 'sub-1', 'alice', 0, 0),"
    " (2, 'u-2', 'https://idp.example.com', 'sub-2', 'bob', 0, 0);"
    "INSERT INTO drives (seq, id, drive_type, alias, name, owner_seq, etag, mtime, created_at)"
    " VALUES (1, 'd-1', 'personal', 'personal/alice', 'Alice', 1, 'e', 0, 0),"
    " (2, 'd-2', 'project', 'project/x', 'X', 1, 'e', 0, 0);"
    "INSERT INTO members (user_seq, drive_seq, id, role, created_at) VALUES"
    " (1, 2, 'm-1', 'manager', 0), (2, 2, 'm-2', 'viewer', 0), (1, 1, 'm-3', 'manager', 0);"
    "INSERT INTO shares (seq, id, mount_id, drive_seq, item_id, grantee_seq, role, creator_seq,"
    " created_at, updated_at) VALUES (1, 's-1', 'mnt-1', 2, 'd-2', 2, 'viewer', 1, 0, 0);"
    "INSERT INTO events (seq, id, type, subject, time, data) VALUES"
    " (1, 'ev-1', 'spaceport.share.created', 'd-2', 0, '{}');"
    "INSERT INTO event_recipients (user_seq, event_seq) VALUES (1, 1), (2, 1);";

static sp_store *seeded_store(sp_conn **w)
{
    sp_store *st = open_migrated();
    *w = sp_store__begin(st);
    ck_assert_ptr_nonnull(*w);
    int rc = raw_exec(LITE((*w)->db), SEED);
    ck_assert_msg(rc == SQLITE_OK, "seed: %s", sqlite3_errmsg(LITE((*w)->db)));
    return st;
}

typedef struct constraint_case {
    const char *what;
    const char *sql;
    int ok; /* 1: must succeed; 0: must fail with SQLITE_CONSTRAINT */
} constraint_case;

static const constraint_case constraint_cases[] = {
    {"duplicate (issuer, sub) user",
     "INSERT INTO users (id, issuer, sub, username, created_at, updated_at)"
     " VALUES ('u-9', 'https://idp.example.com', 'sub-1', 'mallory', 0, 0)",
     0},
    {"same sub at another issuer",
     "INSERT INTO users (id, issuer, sub, username, created_at, updated_at)"
     " VALUES ('u-9', 'https://other.example.com', 'sub-1', 'alice2', 0, 0)",
     1},
    {"issuer differing only by a trailing slash is another issuer",
     "INSERT INTO users (id, issuer, sub, username, created_at, updated_at)"
     " VALUES ('u-9', 'https://idp.example.com/', 'sub-1', 'alice3', 0, 0)",
     1},
    {"duplicate user id",
     "INSERT INTO users (id, issuer, sub, username, created_at, updated_at)"
     " VALUES ('u-1', 'https://idp.example.com', 'sub-9', 'x', 0, 0)",
     0},
    {"user without sub",
     "INSERT INTO users (id, issuer, username, created_at, updated_at)"
     " VALUES ('u-9', 'https://idp.example.com', 'x', 0, 0)",
     0},
    {"drive type mountpoint is not stored",
     "INSERT INTO drives (id, drive_type, alias, name, etag, mtime, created_at)"
     " VALUES ('d-9', 'mountpoint', 'm', 'M', 'e', 0, 0)",
     0},
    {"second personal drive of one owner",
     "INSERT INTO drives (id, drive_type, alias, name, owner_seq, etag, mtime, created_at)"
     " VALUES ('d-9', 'personal', 'personal/alice2', 'A', 1, 'e', 0, 0)",
     0},
    {"second project drive of one creator",
     "INSERT INTO drives (id, drive_type, alias, name, owner_seq, etag, mtime, created_at)"
     " VALUES ('d-9', 'project', 'project/y', 'Y', 1, 'e', 0, 0)",
     1},
    {"drive of an unknown owner",
     "INSERT INTO drives (id, drive_type, alias, name, owner_seq, etag, mtime, created_at)"
     " VALUES ('d-9', 'project', 'project/y', 'Y', 42, 'e', 0, 0)",
     0},
    {"duplicate drive id",
     "INSERT INTO drives (id, drive_type, alias, name, etag, mtime, created_at)"
     " VALUES ('d-1', 'project', 'project/z', 'Z', 'e', 0, 0)",
     0},
    {"member of an unknown user",
     "INSERT INTO members (user_seq, drive_seq, id, role, created_at)"
     " VALUES (42, 2, 'm-9', 'viewer', 0)",
     0},
    {"member of an unknown drive",
     "INSERT INTO members (user_seq, drive_seq, id, role, created_at)"
     " VALUES (2, 42, 'm-9', 'viewer', 0)",
     0},
    {"same user twice in a drive",
     "INSERT INTO members (user_seq, drive_seq, id, role, created_at)"
     " VALUES (2, 2, 'm-9', 'editor', 0)",
     0},
    {"share with no grantee",
     "INSERT INTO shares (id, mount_id, drive_seq, item_id, role, creator_seq, created_at,"
     " updated_at) VALUES ('s-9', 'mnt-9', 2, 'i', 'viewer', 1, 0, 0)",
     0},
    {"share with an e-mail grantee",
     "INSERT INTO shares (id, mount_id, drive_seq, item_id, grantee_email, role, creator_seq,"
     " created_at, updated_at) VALUES ('s-9', 'mnt-9', 2, 'i', 'c@example.com', 'viewer', 1, 0,"
     " 0)",
     1},
    {"share with a federated grantee",
     "INSERT INTO shares (id, mount_id, drive_seq, item_id, grantee_remote, role, creator_seq,"
     " created_at, updated_at) VALUES ('s-9', 'mnt-9', 2, 'i', 'c@paris.test', 'viewer', 1, 0,"
     " 0)",
     1},
    {"same item shared twice with one user",
     "INSERT INTO shares (id, mount_id, drive_seq, item_id, grantee_seq, role, creator_seq,"
     " created_at, updated_at) VALUES ('s-9', 'mnt-9', 2, 'd-2', 2, 'editor', 1, 0, 0)",
     0},
    {"share with a reused mount id",
     "INSERT INTO shares (id, mount_id, drive_seq, item_id, grantee_seq, role, creator_seq,"
     " created_at, updated_at) VALUES ('s-9', 'mnt-1', 2, 'other', 2, 'editor', 1, 0, 0)",
     0},
    {"share of an unknown drive",
     "INSERT INTO shares (id, mount_id, drive_seq, item_id, grantee_seq, role, creator_seq,"
     " created_at, updated_at) VALUES ('s-9', 'mnt-9', 42, 'i', 2, 'viewer', 1, 0, 0)",
     0},
    {"duplicate event id",
     "INSERT INTO events (id, type, subject, time, data) VALUES ('ev-1', 't', 'd-2', 0, '{}')", 0},
    {"recipient of an unknown event",
     "INSERT INTO event_recipients (user_seq, event_seq) VALUES (1, 42)", 0},
    {"inbound event applied twice",
     "INSERT INTO inbound_events VALUES ('in-1', 0); INSERT INTO inbound_events VALUES ('in-1', 1)",
     0},
    {"remote registered twice by one owner",
     "INSERT INTO remotes (id, owner_seq, instance, web_dav_url, remote_drive_id, name,"
     " created_at) VALUES ('r-1', 1, 'https://paris.test', 'https://paris.test/dav/x', 'x', 'X',"
     " 0); INSERT INTO remotes (id, owner_seq, instance, web_dav_url, remote_drive_id, name,"
     " created_at) VALUES ('r-2', 1, 'https://paris.test', 'https://paris.test/dav/x', 'x', 'X',"
     " 0)",
     0},
};

START_TEST(constraint_table)
{
    const constraint_case *c = &constraint_cases[_i];
    sp_conn *w;
    sp_store *st = seeded_store(&w);
    int rc = raw_exec(LITE(w->db), c->sql);
    if (c->ok)
        ck_assert_msg(rc == SQLITE_OK, "%s: %s", c->what, sqlite3_errmsg(LITE(w->db)));
    else
        ck_assert_msg((rc & 0xff) == SQLITE_CONSTRAINT, "%s: rc %d (%s), want a constraint error",
                      c->what, rc, sqlite3_errstr(rc));
    sp_store__rollback(st);
    sp_store_close(st);
}
END_TEST

START_TEST(delete_drive_cascades)
{
    sp_conn *w;
    sp_store *st = seeded_store(&w);
    ck_assert_int_eq(raw_int(LITE(w->db), "SELECT count(*) FROM members WHERE drive_seq = 2"), 2);
    ck_assert_int_eq(raw_int(LITE(w->db), "SELECT count(*) FROM shares WHERE drive_seq = 2"), 1);
    ck_assert_int_eq(raw_exec(LITE(w->db), "DELETE FROM drives WHERE seq = 2"), SQLITE_OK);
    ck_assert_int_eq(raw_int(LITE(w->db), "SELECT count(*) FROM members WHERE drive_seq = 2"), 0);
    ck_assert_int_eq(raw_int(LITE(w->db), "SELECT count(*) FROM shares WHERE drive_seq = 2"), 0);
    /* Other drives keep their members; users stay. */
    ck_assert_int_eq(raw_int(LITE(w->db), "SELECT count(*) FROM members WHERE drive_seq = 1"), 1);
    ck_assert_int_eq(raw_int(LITE(w->db), "SELECT count(*) FROM users"), 2);
    ck_assert_int_eq(sp_store__commit(st), 0);
    sp_store_close(st);
}
END_TEST

START_TEST(delete_user_with_drive_is_refused)
{
    sp_conn *w;
    sp_store *st = seeded_store(&w);
    int rc = raw_exec(LITE(w->db), "DELETE FROM users WHERE seq = 1");
    ck_assert_int_eq(rc & 0xff, SQLITE_CONSTRAINT);
    ck_assert_int_eq(raw_int(LITE(w->db), "SELECT count(*) FROM users"), 2);
    sp_store__rollback(st);
    sp_store_close(st);
}
END_TEST

START_TEST(delete_event_cascades_recipients)
{
    sp_conn *w;
    sp_store *st = seeded_store(&w);
    ck_assert_int_eq(raw_int(LITE(w->db), "SELECT count(*) FROM event_recipients"), 2);
    ck_assert_int_eq(raw_exec(LITE(w->db), "DELETE FROM events WHERE seq = 1"), SQLITE_OK);
    ck_assert_int_eq(raw_int(LITE(w->db), "SELECT count(*) FROM event_recipients"), 0);
    sp_store__rollback(st);
    sp_store_close(st);
}
END_TEST

START_TEST(event_seq_never_reused)
{
    sp_conn *w;
    sp_store *st = seeded_store(&w);
    ck_assert_int_eq(raw_exec(LITE(w->db), "INSERT INTO events (id, type, subject, time, data)"
                                     " VALUES ('ev-2', 't', 'd-2', 0, '{}')"),
                     SQLITE_OK);
    long long seq2 = sqlite3_last_insert_rowid(LITE(w->db));
    ck_assert_int_eq(seq2, 2);
    ck_assert_int_eq(raw_exec(LITE(w->db), "DELETE FROM events WHERE seq = 2"), SQLITE_OK);
    ck_assert_int_eq(raw_exec(LITE(w->db), "INSERT INTO events (id, type, subject, time, data)"
                                     " VALUES ('ev-3', 't', 'd-2', 0, '{}')"),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_last_insert_rowid(LITE(w->db)), 3); /* not 2 again */
    ck_assert_int_eq(raw_int(LITE(w->db), "SELECT published_seq FROM relay_cursor"), 0);
    sp_store__rollback(st);
    sp_store_close(st);
}
END_TEST

/* A batch of storage changes in one transaction: each applied once, an
 * unknown drive undoing only itself, a repeated event id (even within the
 * batch) changing nothing twice. */
START_TEST(storage_changes_batch)
{
    sp_conn *w;
    sp_store *st = seeded_store(&w);
    ck_assert_int_eq(sp_store__commit(st), 0);
    sp_storage_change ch[] = {
        {.event_id = "in-a",
         .drive_id = "d-2",
         .etag = "e-a",
         .mtime_ms = 1000,
         .change = "updated"},
        {.event_id = "in-b",
         .drive_id = "no-such",
         .etag = "e-b",
         .mtime_ms = 1,
         .change = "updated"},
        {.event_id = "in-a", .drive_id = "d-2", .etag = "e-a2", .mtime_ms = 1, .change = "updated"},
        {.event_id = "in-c",
         .drive_id = "d-2",
         .etag = "e-c",
         .mtime_ms = 2000,
         .has_quota_used = 1,
         .quota_used = 77,
         .change = "created",
         .item_id = "i-1"},
        {.event_id = "in-d",
         .drive_id = "d-1",
         .etag = "e-d",
         .mtime_ms = 3000,
         .change = "deleted"},
    };
    int outcome[COUNT(ch)];
    ck_assert_int_eq(sp_store_storage_changes(st, ch, COUNT(ch), outcome), 0);
    ck_assert_int_eq(outcome[0], SP_CHANGE_APPLIED);
    ck_assert_int_eq(outcome[1], SP_CHANGE_UNKNOWN_DRIVE);
    ck_assert_int_eq(outcome[2], SP_CHANGE_DUPLICATE);
    ck_assert_int_eq(outcome[3], SP_CHANGE_APPLIED);
    ck_assert_int_eq(outcome[4], SP_CHANGE_APPLIED);

    sqlite3 *db = raw_open();
    ck_assert_int_eq(
        raw_int(db, "SELECT count(*) FROM events WHERE type = 'spaceport.item.changed'"), 3);
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM inbound_events"), 3);
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM inbound_events WHERE id = 'in-b'"), 0);
    char etag[32];
    raw_text(db, "SELECT etag FROM drives WHERE id = 'd-2'", etag, sizeof etag);
    ck_assert_str_eq(etag, "e-c");
    ck_assert_int_eq(raw_int(db, "SELECT quota_used FROM drives WHERE id = 'd-2'"), 77);
    /* d-2's members (1, 2) and its share's grantee (2), each once. */
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM event_recipients r JOIN events e"
                                 " ON e.seq = r.event_seq WHERE e.data LIKE '%in-c%'"),
                     2);
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM event_recipients r JOIN events e"
                                 " ON e.seq = r.event_seq WHERE e.data LIKE '%in-d%'"),
                     1);

    /* Redelivered in a later batch: nothing changes. */
    ck_assert_int_eq(sp_store_storage_changes(st, ch, 1, outcome), 0);
    ck_assert_int_eq(outcome[0], SP_CHANGE_DUPLICATE);
    ck_assert_int_eq(
        raw_int(db, "SELECT count(*) FROM events WHERE type = 'spaceport.item.changed'"), 3);
    sqlite3_close(db);
    sp_store_close(st);
}
END_TEST

/* ---- group commit ------------------------------------------------------ */

#define GROUP_THREADS 8
#define GROUP_WRITES  100

typedef struct group_arg {
    sp_store *st;
    int id;
    int failures;
    const char *table; /* "t" when NULL */
} group_arg;

/* Writes GROUP_WRITES rows, rolling every fifth back. */
static void *group_writer(void *p)
{
    group_arg *a = p;
    for (int i = 0; i < GROUP_WRITES; i++) {
        sp_conn *w = sp_store__begin(a->st);
        if (!w) {
            a->failures++;
            continue;
        }
        char sql[96];
        snprintf(sql, sizeof sql, "INSERT INTO %s (thread, n) VALUES (%d, %d)",
                 a->table ? a->table : "t", a->id, i);
        if (raw_exec(LITE(w->db), sql) != SQLITE_OK) {
            a->failures++;
            sp_store__rollback(a->st);
        } else if (i % 5 == 4) {
            sp_store__rollback(a->st);
        } else if (sp_store__commit(a->st) != 0) {
            a->failures++;
        }
    }
    return NULL;
}

/* Concurrent writers: every committed write is there, no rolled-back one
 * is, whatever groups they were committed in. */
START_TEST(group_commit_concurrent)
{
    sp_store *st = open_migrated();
    sp_conn *w = sp_store__begin(st);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(raw_exec(LITE(w->db), "CREATE TABLE t (thread INTEGER, n INTEGER)"), SQLITE_OK);
    ck_assert_int_eq(sp_store__commit(st), 0);
    uint64_t groups_before = st->group_count;
    pthread_t th[GROUP_THREADS];
    group_arg args[GROUP_THREADS];
    for (int i = 0; i < GROUP_THREADS; i++) {
        args[i] = (group_arg){st, i, 0, NULL};
        ck_assert_int_eq(pthread_create(&th[i], NULL, group_writer, &args[i]), 0);
    }
    for (int i = 0; i < GROUP_THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].failures, 0);
    }
    sqlite3 *db = raw_open();
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM t"), GROUP_THREADS * GROUP_WRITES * 4 / 5);
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM t WHERE n % 5 = 4"), 0);
    sqlite3_close(db);
    /* Never more transactions than writes. */
    ck_assert_uint_le(st->group_count - groups_before, GROUP_THREADS * GROUP_WRITES);
    sp_store_close(st);
}
END_TEST

typedef struct joiner_arg {
    sp_store *st;
    int rc;
} joiner_arg;

static void *joiner(void *p)
{
    joiner_arg *a = p;
    sp_conn *w = sp_store__begin(a->st);
    a->rc = w && raw_exec(LITE(w->db), "INSERT INTO t VALUES (2)") == SQLITE_OK ? sp_store__commit(a->st)
                                                                          : SP_ERR_DB;
    return NULL;
}

/* A writer that commits while another waits to write leaves the commit to
 * it: two writes, one transaction; both see it committed. */
START_TEST(group_commit_joins)
{
    sp_store *st = open_migrated();
    sp_conn *w = sp_store__begin(st);
    ck_assert_int_eq(raw_exec(LITE(w->db), "CREATE TABLE t (x INTEGER)"), SQLITE_OK);
    ck_assert_int_eq(sp_store__commit(st), 0);
    uint64_t before = st->group_count;

    w = sp_store__begin(st);
    ck_assert_int_eq(raw_exec(LITE(w->db), "INSERT INTO t VALUES (1)"), SQLITE_OK);
    joiner_arg a = {st, -100};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, joiner, &a), 0);
    while (atomic_load(&st->writers_waiting) == 0)
        usleep(1000); /* the joiner waits for the write lock */
    ck_assert_int_eq(sp_store__commit(st), 0);
    pthread_join(th, NULL);
    ck_assert_int_eq(a.rc, 0);
    ck_assert_int_eq(st->group_count - before, 1);
    sqlite3 *db = raw_open();
    ck_assert_int_eq(raw_int(db, "SELECT count(*) FROM t"), 2);
    sqlite3_close(db);
    sp_store_close(st);
}
END_TEST

/* ---- jobs: writes on the writer thread ------------------------------- */

#define JOBS 300

typedef struct job_log {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    sqlite3 *db; /* a connection of the test's own: sees only what is committed */
    int done, order[JOBS], rc[JOBS], visible[JOBS];
    sem_t entered, gate; /* the gate job says it runs, then waits */
} job_log;

typedef struct job_arg {
    job_log *log;
    int n;
    int mode; /* 0 insert, 1 insert and roll back, 2 insert and lose the group, 3 gate */
} job_arg;

static int job_run(sp_store *st, void *ctx)
{
    job_arg *a = ctx;
    if (a->mode == 3) {
        sem_post(&a->log->entered);
        sem_wait(&a->log->gate);
        return 0;
    }
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    char sql[96];
    snprintf(sql, sizeof sql, "INSERT INTO t (n) VALUES (%d)", a->n);
    if (raw_exec(LITE(w->db), sql) != SQLITE_OK || a->mode == 1) {
        sp_store__rollback(st);
        return SP_ERR_CONFLICT;
    }
    if (a->mode == 2)
        raw_exec(LITE(w->db), "ROLLBACK"); /* the group's transaction is gone */
    return sp_store__commit(st);
}

static void job_done(void *ctx, int rc)
{
    job_arg *a = ctx;
    job_log *l = a->log;
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM t WHERE n = %d", a->n);
    int visible = a->mode == 3 ? 0 : (int)raw_int(l->db, sql);
    pthread_mutex_lock(&l->lock);
    l->order[l->done++] = a->n;
    l->rc[a->n] = rc;
    l->visible[a->n] = visible;
    pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->lock);
}

static void job_log_init(job_log *l)
{
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->cond, NULL);
    sem_init(&l->entered, 0, 0);
    sem_init(&l->gate, 0, 0);
    l->db = raw_open();
}

static void job_log_wait(job_log *l, int n)
{
    pthread_mutex_lock(&l->lock);
    while (l->done < n)
        pthread_cond_wait(&l->cond, &l->lock);
    pthread_mutex_unlock(&l->lock);
}

static void job_log_free(job_log *l)
{
    sqlite3_close(l->db);
    sem_destroy(&l->gate);
    sem_destroy(&l->entered);
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->lock);
}

static sp_store *open_with_table(void)
{
    sp_store *st = open_migrated();
    sp_conn *w = sp_store__begin(st);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(raw_exec(LITE(w->db), "CREATE TABLE t (n INTEGER)"), SQLITE_OK);
    ck_assert_int_eq(sp_store__commit(st), 0);
    return st;
}

/* Jobs from one thread, with writer threads writing alongside: each job
 * is told in the order it came, only once its row is committed (a
 * connection of the test's own sees it then), a job that rolls back is
 * told its error and leaves nothing, and jobs share transactions. */
START_TEST(jobs_commit_in_order)
{
    sp_store *st = open_with_table();
    job_log l;
    job_log_init(&l);
    pthread_t th[4];
    group_arg args[4];
    ck_assert_int_eq(raw_exec(l.db, "CREATE TABLE IF NOT EXISTS t2 (thread INTEGER, n INTEGER)"),
                     SQLITE_OK);
    uint64_t before = st->group_count;
    static job_arg jobs[JOBS];
    for (int i = 0; i < 4; i++) {
        args[i] = (group_arg){st, i, 0, "t2"};
        ck_assert_int_eq(pthread_create(&th[i], NULL, group_writer, &args[i]), 0);
    }
    for (int i = 0; i < JOBS; i++) {
        jobs[i] = (job_arg){&l, i, i % 7 == 3};
        ck_assert_int_eq(sp_store_submit(st, NULL, job_run, job_done, &jobs[i]), 0);
    }
    job_log_wait(&l, JOBS);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].failures, 0);
    }
    for (int i = 0; i < JOBS; i++) {
        ck_assert_int_eq(l.order[i], i);
        ck_assert_int_eq(l.rc[i], i % 7 == 3 ? SP_ERR_CONFLICT : 0);
        ck_assert_int_eq(l.visible[i], i % 7 == 3 ? 0 : 1);
    }
    ck_assert_int_eq(raw_int(l.db, "SELECT count(*) FROM t"), JOBS - (JOBS + 3) / 7);
    ck_assert_int_eq(raw_int(l.db, "SELECT count(*) FROM t2"), 4 * GROUP_WRITES * 4 / 5);
    /* Fewer transactions than writes: jobs were grouped. */
    ck_assert_uint_lt(st->group_count - before, JOBS + 4 * GROUP_WRITES);
    job_log_free(&l);
    sp_store_close(st);
}
END_TEST

/* A group lost on the way (its transaction rolled back under it): the
 * jobs written in it are told it failed and none of their rows exist; a
 * job after it starts a new group and commits. */
START_TEST(jobs_lost_group)
{
    sp_store *st = open_with_table();
    job_log l;
    job_log_init(&l);
    static job_arg jobs[4];
    jobs[0] = (job_arg){&l, 0, 3}; /* holds the writer thread while 1-3 queue */
    jobs[1] = (job_arg){&l, 1, 0};
    jobs[2] = (job_arg){&l, 2, 2};
    jobs[3] = (job_arg){&l, 3, 0};
    ck_assert_int_eq(sp_store_submit(st, NULL, job_run, job_done, &jobs[0]), 0);
    sem_wait(&l.entered);
    for (int i = 1; i < 4; i++)
        ck_assert_int_eq(sp_store_submit(st, NULL, job_run, job_done, &jobs[i]), 0);
    sem_post(&l.gate);
    job_log_wait(&l, 4);
    ck_assert_int_eq(l.rc[0], 0); /* alone in its group */
    ck_assert_int_eq(l.rc[1], SP_ERR_DB);
    ck_assert_int_eq(l.rc[2], SP_ERR_DB);
    ck_assert_int_eq(l.rc[3], 0);
    ck_assert_int_eq(l.visible[1] + l.visible[2], 0);
    ck_assert_int_eq(l.visible[3], 1);
    ck_assert_int_eq(raw_int(l.db, "SELECT count(*) FROM t"), 1);
    job_log_free(&l);
    sp_store_close(st);
}
END_TEST

/* Closing the store runs what is queued first: every job is told, and
 * every row is there when the file is opened again; a job submitted
 * while closing is refused (it would never be told). */
START_TEST(jobs_run_before_close)
{
    sp_store *st = open_with_table();
    job_log l;
    job_log_init(&l);
    static job_arg jobs[JOBS];
    for (int i = 0; i < JOBS; i++) {
        jobs[i] = (job_arg){&l, i, 0};
        ck_assert_int_eq(sp_store_submit(st, NULL, job_run, job_done, &jobs[i]), 0);
    }
    sp_store__jobs_stop(st); /* what close does first */
    ck_assert_int_eq(l.done, JOBS);
    job_arg late = {&l, JOBS, 0};
    ck_assert_int_eq(sp_store_submit(st, NULL, job_run, job_done, &late), SP_ERR_DB);
    sp_store_close(st);
    for (int i = 0; i < JOBS; i++)
        ck_assert_int_eq(l.rc[i], 0);
    ck_assert_int_eq(raw_int(l.db, "SELECT count(*) FROM t"), JOBS);
    job_log_free(&l);
}
END_TEST

/* Adds one event in a write of its own; returns its seq. */
static int64_t add_event(sp_store *st)
{
    sp_conn *w = sp_store__begin(st);
    ck_assert_ptr_nonnull(w);
    json_t *data = json_pack("{s:s}", "driveId", "d1");
    int64_t seq = 0;
    ck_assert_int_eq(sp_store__event_add(w, SP_EVENT_SPACE_UPDATED, "d1", data, NULL, 0, &seq), 0);
    json_decref(data);
    ck_assert_int_eq(sp_store__commit(st), 0);
    return seq;
}

typedef struct initiator_job {
    sem_t done;
    int rc;
} initiator_job;

static int initiator_job_run(sp_store *st, void *ctx)
{
    (void)ctx;
    add_event(st);
    return 0;
}

static void initiator_job_done(void *ctx, int rc)
{
    initiator_job *j = ctx;
    j->rc = rc;
    sem_post(&j->done);
}

static int read_initiator(const sp_event *e, void *arg)
{
    char *out = arg;
    snprintf(out, SP_STORE_INITIATOR_MAX + 1, "%s", e->initiator ? e->initiator : "(none)");
    return 0;
}

/* The Initiator-ID: only 1 to 64 bytes of visible ASCII are taken (a bad
 * value clears what was set, rather than leave an earlier request's); a
 * thread's writes keep it; a job keeps what its submitter had when it
 * queued it, whatever the submitter sets afterwards, and the writer
 * thread keeps nothing of one job for the next. */
START_TEST(initiator_of_writes)
{
    static const char *const refused[] = {"", " ", "tab one", "tab\x7f", "tab\xc3\xa9", "\t"};
    char max[SP_STORE_INITIATOR_MAX + 2];
    memset(max, 'a', sizeof max - 1);
    max[sizeof max - 1] = '\0'; /* 65 bytes */
    ck_assert_int_eq(sp_store_set_initiator(max), SP_ERR_INVALID);
    ck_assert_ptr_null(sp_store__initiator());
    max[SP_STORE_INITIATOR_MAX] = '\0'; /* 64 */
    ck_assert_int_eq(sp_store_set_initiator(max), 0);
    ck_assert_str_eq(sp_store__initiator(), max);
    for (size_t i = 0; i < COUNT(refused); i++) {
        ck_assert_int_eq(sp_store_set_initiator("tab-0"), 0);
        ck_assert_int_eq(sp_store_set_initiator(refused[i]), SP_ERR_INVALID);
        ck_assert_msg(sp_store__initiator() == NULL, "refused[%zu] cleared it", i);
    }
    ck_assert_int_eq(sp_store_set_initiator("!~"), 0); /* 0x21 and 0x7e */
    ck_assert_int_eq(sp_store_set_initiator(NULL), 0);
    ck_assert_ptr_null(sp_store__initiator());

    sp_store *st = open_migrated();
    sp_store_set_initiator("tab-sync");
    add_event(st);
    initiator_job j[2];
    for (int i = 0; i < 2; i++) {
        sem_init(&j[i].done, 0, 0);
        sp_store_set_initiator(i == 0 ? "tab-job" : NULL);
        ck_assert_int_eq(sp_store_submit(st, NULL, initiator_job_run, initiator_job_done, &j[i]),
                         0);
        sp_store_set_initiator("set-after-queuing");
        sem_wait(&j[i].done);
        ck_assert_int_eq(j[i].rc, 0);
        sem_destroy(&j[i].done);
    }
    sp_store_set_initiator(NULL);
    sqlite3 *db = raw_open();
    char got[3][SP_STORE_INITIATOR_MAX + 1];
    for (int i = 0; i < 3; i++) {
        char sql[96], id[64];
        snprintf(sql, sizeof sql, "SELECT id FROM events WHERE seq = %d", i + 1);
        raw_text(db, sql, id, sizeof id);
        ck_assert_int_eq(sp_store_event_get(st, id, 0, 1, read_initiator, got[i]), 0);
    }
    ck_assert_str_eq(got[0], "tab-sync");
    ck_assert_str_eq(got[1], "tab-job");
    ck_assert_str_eq(got[2], "(none)");
    sqlite3_close(db);
    sp_store_close(st);
}
END_TEST

static int count_event(const sp_event *e, void *arg)
{
    int64_t *last = arg;
    *last = e->seq;
    return 0;
}

/* A database of version 2 whose events carry published flags becomes a
 * relay cursor at the first unpublished event; the cursor then only moves
 * forward, and retention deletes only what is published. */
START_TEST(relay_cursor)
{
    sqlite3 *db = raw_open();
    ck_assert_int_eq(raw_exec(db, "CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
                                  " name TEXT NOT NULL, applied_at INTEGER NOT NULL)"),
                     SQLITE_OK);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(raw_exec(db, sp_migrations[i].sql), SQLITE_OK);
        char sql[128];
        snprintf(sql, sizeof sql, "INSERT INTO schema_version VALUES (%d, '%s', 0)",
                 sp_migrations[i].version, sp_migrations[i].name);
        ck_assert_int_eq(raw_exec(db, sql), SQLITE_OK);
    }
    ck_assert_int_eq(raw_exec(db,
                              "INSERT INTO events (seq, id, type, subject, time, data,"
                              " published) VALUES (1, 'a', 't', 'd', 10, '{}', 1),"
                              " (2, 'b', 't', 'd', 20, '{}', 1), (3, 'c', 't', 'd', 30, '{}', 0),"
                              " (4, 'd', 't', 'd', 40, '{}', 0)"),
                     SQLITE_OK);
    sqlite3_close(db);

    sp_store *st = NULL;
    ck_assert_int_eq(sp_store_open(db_path, &st), 0);
    int applied = 0;
    ck_assert_int_eq(sp_store_migrate(st, &applied), 0);
    ck_assert_int_eq(applied, sp_migration_count - 2);
    int64_t backlog = -1, oldest = -1, last = 0;
    ck_assert_int_eq(sp_store_events_backlog(st, &backlog, &oldest), 0);
    ck_assert_int_eq(backlog, 2);
    ck_assert_int_eq(oldest, 30);
    ck_assert_int_eq(sp_store_events_unpublished(st, 0, 10, count_event, &last), 0);
    ck_assert_int_eq(last, 4);

    ck_assert_int_eq(sp_store_events_mark_published(st, 3), 0);
    ck_assert_int_eq(sp_store_events_mark_published(st, 2), 0); /* never back */
    ck_assert_int_eq(sp_store_events_backlog(st, &backlog, &oldest), 0);
    ck_assert_int_eq(backlog, 1);
    ck_assert_int_eq(oldest, 40);
    last = 0;
    ck_assert_int_eq(sp_store_events_unpublished(st, 0, 10, count_event, &last), 0);
    ck_assert_int_eq(last, 4);

    int deleted = 0;
    ck_assert_int_eq(sp_store_events_prune(st, 1000, &deleted), 0);
    ck_assert_int_eq(deleted, 3);
    int64_t lo = 0, hi = 0;
    ck_assert_int_eq(sp_store_events_range(st, &lo, &hi), 0);
    ck_assert_int_eq(lo, 4);
    ck_assert_int_eq(hi, 4);
    ck_assert_int_eq(sp_store_events_mark_published(st, 4), 0);
    ck_assert_int_eq(sp_store_events_prune(st, 1000, &deleted), 0);
    ck_assert_int_eq(sp_store_events_backlog(st, &backlog, &oldest), 0);
    ck_assert_int_eq(backlog, 0);
    ck_assert_int_eq(oldest, 0);
    sp_store_close(st);
}
END_TEST

START_TEST(error_mapping)
{
    ck_assert_int_eq(sp_store__err(NULL, SQLITE_OK, "t"), 0);
    ck_assert_int_eq(sp_store__err(NULL, SQLITE_DONE, "t"), 0);
    ck_assert_int_eq(sp_store__err(NULL, SQLITE_ROW, "t"), 0);
    ck_assert_int_eq(sp_store__err(NULL, SQLITE_CONSTRAINT_UNIQUE, "t"), SP_ERR_CONFLICT);
    ck_assert_int_eq(sp_store__err(NULL, SQLITE_CONSTRAINT_FOREIGNKEY, "t"), SP_ERR_CONFLICT);
    ck_assert_int_eq(sp_store__err(NULL, SQLITE_FULL, "t"), SP_ERR_FULL);
    ck_assert_int_eq(sp_store__err(NULL, SQLITE_NOMEM, "t"), SP_ERR_NOMEM);
    ck_assert_int_eq(sp_store__err(NULL, SQLITE_CORRUPT, "t"), SP_ERR_DB);
    ck_assert_int_eq(sp_store__err(NULL, SQLITE_BUSY, "t"), SP_ERR_DB);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");

    TCase *tc = tcase_create("migrations");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, binary_version_matches_embedded);
    tcase_add_test(tc, migrate_fresh_file);
    tcase_add_test(tc, migrate_twice_is_noop);
    tcase_add_test(tc, newer_schema_is_refused);
    tcase_add_test(tc, newer_schema_on_bare_database);
    tcase_add_test(tc, failed_migration_rolls_back);
    tcase_add_test(tc, expected_tables_exist);
    tcase_add_test(tc, wal_mode_and_foreign_keys);
    tcase_add_test(tc, open_failure);
    suite_add_tcase(s, tc);

    tc = tcase_create("connections");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, ping_from_threads);
    tcase_add_test(tc, readers_see_committed_writes);
    suite_add_tcase(s, tc);

    tc = tcase_create("group commit");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, group_commit_concurrent);
    tcase_add_test(tc, group_commit_joins);
    tcase_add_test(tc, jobs_commit_in_order);
    tcase_add_test(tc, jobs_lost_group);
    tcase_add_test(tc, jobs_run_before_close);
    tcase_add_test(tc, initiator_of_writes);
    suite_add_tcase(s, tc);

    tc = tcase_create("schema");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, constraint_table, 0, (int)COUNT(constraint_cases));
    tcase_add_test(tc, delete_drive_cascades);
    tcase_add_test(tc, delete_user_with_drive_is_refused);
    tcase_add_test(tc, delete_event_cascades_recipients);
    tcase_add_test(tc, event_seq_never_reused);
    tcase_add_test(tc, storage_changes_batch);
    tcase_add_test(tc, relay_cursor);
    tcase_add_test(tc, error_mapping);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    snprintf(base_dir, sizeof base_dir, "/tmp/sp-test-store-XXXXXX");
    if (!mkdtemp(base_dir)) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    SRunner *sr = srunner_create(store_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    base_dir_remove();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
