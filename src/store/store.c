/*
 * store.c - opening the database, per-thread connections and migrations
 * (write transactions: txn.c).
 */
#include "store/items.h"
#include "store/internal.h"
#include "store/migrations.h"

#include "util/err.h"
#include "util/itemid.h"
#include "util/log.h"
#include "util/time.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Last resort only: writes are serialized in-process, so the writer never
 * waits on itself; this covers a second process (spaceport migrate while a
 * serve runs) and WAL checkpoints. */
#define SP_STORE_BUSY_TIMEOUT_MS 5000

static int exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        sp_error("store", "%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
    }
    return rc;
}

int sp_store__err(sp_conn *conn, int rc, const char *what)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_FULL:
        sp_error("store", "%s: database or disk is full", what);
        return SP_ERR_FULL;
    case SQLITE_NOMEM:
        return SP_ERR_NOMEM;
    case SQLITE_CONSTRAINT:
        return SP_ERR_CONFLICT;
    default:
        sp_error("store", "%s: %s", what,
                 conn && conn->db ? sqlite3_errmsg(conn->db) : sqlite3_errstr(rc));
        return SP_ERR_DB;
    }
}

int sp_store__exec(sp_conn *conn, const char *sql)
{
    /* Through the statement cache: these run several times per request
     * (SAVEPOINT, RELEASE, COMMIT), and parsing them each time showed. */
    sqlite3_stmt *q = sp_store__stmt(conn, sql);
    if (!q)
        return SP_ERR_DB;
    int rc = sqlite3_step(q);
    sp_store__done(q);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sp_store__err(conn, rc, sql);
}

/* SQL sp_item_of(drive_id, item_id): 1 when item_id is an item of
 * drive_id (util/itemid.h), else 0. Shares stored before that rule may
 * break it; the queries that serve a share to its grantee ask this, so
 * that the one rule decides in SQL, before LIMIT and paging. */
int sp_store__step_done(sp_conn *conn, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    sp_store__done(s);
    return rc == SQLITE_DONE ? 0 : sp_store__err(conn, rc, what);
}

int sp_store__exec_seq(sp_conn *conn, const char *sql, int64_t seq, const char *what)
{
    sqlite3_stmt *s = sp_store__stmt(conn, sql);
    if (!s)
        return SP_ERR_DB;
    sqlite3_bind_int64(s, 1, seq);
    return sp_store__step_done(conn, s, what);
}

int sp_store__bookkeep(sp_store *st, const char *sql, const int64_t *ints, int n, const char *text,
                       const char *what)
{
    sp_conn *w = sp_store__begin_relaxed(st);
    if (!w)
        return SP_ERR_DB;
    st->invisible = 1;
    sqlite3_stmt *s = sp_store__stmt(w, sql);
    if (!s) {
        sp_store__rollback(st);
        return SP_ERR_DB;
    }
    for (int i = 0; i < n; i++)
        sqlite3_bind_int64(s, i + 1, ints[i]);
    if (text)
        sqlite3_bind_text(s, n + 1, text, -1, SQLITE_TRANSIENT);
    return sp_store__finish(st, sp_store__step_done(w, s, what));
}

static void sql_item_of(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *drive_id = (const char *)sqlite3_value_text(argv[0]);
    const char *item_id = (const char *)sqlite3_value_text(argv[1]);
    sqlite3_result_int(ctx, drive_id && item_id && sp_itemid_check(drive_id, item_id, NULL) == 0);
}

static int conn_open(const char *path, sp_conn *c, int writer)
{
    memset(c, 0, sizeof *c);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        sp_error("store", "cannot open %s: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sqlite3_close(c->db);
        c->db = NULL;
        return rc == SQLITE_CANTOPEN ? SP_ERR_IO : SP_ERR_DB;
    }
    sqlite3_busy_timeout(c->db, SP_STORE_BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(c->db, 1);
    /* FULL: a commit that was acknowledged survives a power loss; group
     * commit keeps it fast. */
    /* Readers, one per thread, keep a smaller page cache than SQLite's
     * 2 MiB: there are many of them, and every commit empties their caches
     * anyway (WAL), while the writer's stays warm. */
    const char *pragmas = writer ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                   "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"
                                 : "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"
                                   "PRAGMA cache_size=-512;";
    if (exec(c->db, pragmas) != SQLITE_OK ||
        sqlite3_create_function(c->db, "sp_item_of", 2,
                                SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                                sql_item_of, NULL, NULL) != SQLITE_OK) {
        sqlite3_close(c->db);
        c->db = NULL;
        return SP_ERR_DB;
    }
    return 0;
}

static void conn_close(sp_conn *c)
{
    for (size_t i = 0; i < SP_STMT_CACHE_SIZE; i++)
        sqlite3_finalize(c->cache[i].stmt);
    sqlite3_close(c->db);
    memset(c, 0, sizeof *c);
}

sqlite3_stmt *sp_store__stmt(sp_conn *conn, const char *sql)
{
    uintptr_t h = (uintptr_t)sql;
    h ^= h >> 17;
    h *= 0x9e3779b97f4a7c15ull;
    size_t i = (size_t)(h >> 32) & (SP_STMT_CACHE_SIZE - 1);
    for (size_t n = 0; n < SP_STMT_CACHE_SIZE; n++, i = (i + 1) & (SP_STMT_CACHE_SIZE - 1)) {
        if (conn->cache[i].sql == sql)
            return conn->cache[i].stmt;
        if (conn->cache[i].sql == NULL)
            break;
    }
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v3(conn->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
    if (rc != SQLITE_OK) {
        sp_error("store", "prepare failed: %s: %s", sqlite3_errmsg(conn->db), sql);
        return NULL;
    }
    if (conn->cache[i].sql != NULL) {
        /* Table full: the SQL set outgrew SP_STMT_CACHE_SIZE. Still works,
         * but the statement is replaced each time; say so once per call. */
        sp_warn("store", "statement cache full; raise SP_STMT_CACHE_SIZE");
        sqlite3_finalize(conn->cache[i].stmt);
    }
    conn->cache[i].sql = sql;
    conn->cache[i].stmt = stmt;
    return stmt;
}

void sp_store__done(sqlite3_stmt *stmt)
{
    if (stmt) {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
    }
}

int sp_store__collect_seqs(sp_conn *c, sqlite3_stmt *s, int64_t **out, size_t *count,
                           const char *what)
{
    *out = NULL;
    *count = 0;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*count == cap) {
            cap = cap ? cap * 2 : 16;
            int64_t *p = realloc(*out, cap * sizeof *p);
            if (!p) {
                rc = SQLITE_NOMEM;
                break;
            }
            *out = p;
        }
        (*out)[(*count)++] = sqlite3_column_int64(s, 0);
    }
    sp_store__done(s);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        *count = 0;
        return rc == SQLITE_NOMEM ? SP_ERR_NOMEM : sp_store__err(c, rc, what);
    }
    return 0;
}

static void reader_destroy(void *arg);

int sp_store_open(const char *path, sp_store **out)
{
    sp_store *st = calloc(1, sizeof *st);
    if (!st)
        return SP_ERR_NOMEM;
    int rc = SP_ERR_NOMEM;
    st->path = strdup(path);
    if (!st->path)
        goto fail_path;
    rc = conn_open(path, &st->writer, 1);
    if (rc < 0)
        goto fail_writer;
    rc = SP_ERR_NOMEM;
    if (pthread_key_create(&st->reader_key, reader_destroy) != 0)
        goto fail_key;
    pthread_mutex_init(&st->write_lock, NULL);
    pthread_mutex_init(&st->group_lock, NULL);
    pthread_cond_init(&st->group_cond, NULL);
    pthread_mutex_init(&st->readers_lock, NULL);
    pthread_mutex_init(&st->jobs_lock, NULL);
    pthread_cond_init(&st->jobs_cond, NULL);
    st->jobs_tail = &st->jobs;
    st->items_max = SP_ITEMS_MAX_DEFAULT;
    *out = st;
    return 0;

fail_key:
    conn_close(&st->writer);
fail_writer:
    free(st->path);
fail_path:
    free(st);
    return rc;
}

/* Thread-exit destructor of a reader. The store may still be open; unlink
 * the connection from its list. The list head lives in the store, which
 * the destructor reaches through the connection's back pointer below. */
typedef struct reader_slot {
    sp_conn conn;
    sp_store *st;
} reader_slot;

static void reader_destroy(void *arg)
{
    reader_slot *r = arg;
    sp_store *st = r->st;
    pthread_mutex_lock(&st->readers_lock);
    for (sp_conn **p = &st->readers; *p; p = &(*p)->next) {
        if (*p == &r->conn) {
            *p = r->conn.next;
            break;
        }
    }
    pthread_mutex_unlock(&st->readers_lock);
    conn_close(&r->conn);
    free(r);
}

sp_conn *sp_store__reader(sp_store *st)
{
    reader_slot *r = pthread_getspecific(st->reader_key);
    if (r)
        return &r->conn;
    r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    if (conn_open(st->path, &r->conn, 0) < 0) {
        free(r);
        return NULL;
    }
    r->st = st;
    pthread_setspecific(st->reader_key, r);
    pthread_mutex_lock(&st->readers_lock);
    r->conn.next = st->readers;
    st->readers = &r->conn;
    pthread_mutex_unlock(&st->readers_lock);
    return &r->conn;
}

int sp_store__any_row(sp_store *st, const char *sql, int64_t p1)
{
    sp_conn *r = sp_store__reader(st);
    sqlite3_stmt *s = r ? sp_store__stmt(r, sql) : NULL;
    if (!s)
        return SP_ERR_DB;
    sqlite3_bind_int64(s, 1, p1);
    int rc = sqlite3_step(s);
    sp_store__done(s);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return rc == SQLITE_ROW;
    return sp_store__err(r, rc, sql);
}

static const char SQL_VERSION_TABLE[] =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)";

static int read_version(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM schema_version", -1, &s,
                                NULL);
    if (rc != SQLITE_OK) {
        /* No table yet: a new database. */
        sqlite3_finalize(s);
        return 0;
    }
    int v = SP_ERR_DB;
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

int sp_store_schema_version(sp_store *st)
{
    pthread_mutex_lock(&st->write_lock);
    int v = read_version(st->writer.db);
    pthread_mutex_unlock(&st->write_lock);
    return v;
}

int sp_store_binary_version(void)
{
    return sp_migration_count;
}

int sp_store_migrate(sp_store *st, int *applied)
{
    int done = 0, err = 0;
    if (applied)
        *applied = 0;
    pthread_mutex_lock(&st->write_lock);
    sqlite3 *db = st->writer.db;
    if (exec(db, SQL_VERSION_TABLE) != SQLITE_OK) {
        err = SP_ERR_DB;
        goto out;
    }
    int current = read_version(db);
    if (current < 0) {
        err = current;
        goto out;
    }
    if (current > sp_migration_count) {
        sp_error("store",
                 "database %s has schema version %d, newer than this binary's %d; "
                 "run a newer spaceport",
                 st->path, current, sp_migration_count);
        err = SP_ERR_NEWER_SCHEMA;
        goto out;
    }
    for (int i = current; i < sp_migration_count; i++) {
        const sp_migration *m = &sp_migrations[i];
        /* Each migration and its schema_version row commit together, so a
         * crash leaves either both or neither. */
        if (exec(db, "BEGIN IMMEDIATE") != SQLITE_OK) {
            err = SP_ERR_DB;
            goto out;
        }
        sqlite3_stmt *s = NULL;
        if (exec(db, m->sql) != SQLITE_OK ||
            sqlite3_prepare_v2(db,
                               "INSERT INTO schema_version (version, name, applied_at)"
                               " VALUES (?, ?, ?)",
                               -1, &s, NULL) != SQLITE_OK) {
            sqlite3_finalize(s);
            exec(db, "ROLLBACK");
            sp_error("store", "migration %s failed", m->name);
            err = SP_ERR_DB;
            goto out;
        }
        sqlite3_bind_int(s, 1, m->version);
        sqlite3_bind_text(s, 2, m->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, sp_time_now_ms());
        int rc = sqlite3_step(s);
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE || exec(db, "COMMIT") != SQLITE_OK) {
            exec(db, "ROLLBACK");
            err = rc == SQLITE_FULL ? SP_ERR_FULL : SP_ERR_DB;
            goto out;
        }
        sp_info("store", "applied migration %s", m->name);
        done++;
    }
out:
    pthread_mutex_unlock(&st->write_lock);
    if (applied)
        *applied = done;
    return err;
}

int sp_store_ping(sp_store *st)
{
    static const char sql[] = "SELECT count(*) FROM schema_version";
    sp_conn *c = sp_store__reader(st);
    if (!c)
        return SP_ERR_DB;
    sqlite3_stmt *s = sp_store__stmt(c, sql);
    if (!s)
        return SP_ERR_DB;
    int rc = sqlite3_step(s);
    sp_store__done(s);
    return rc == SQLITE_ROW ? 0 : SP_ERR_DB;
}

void sp_store_close(sp_store *st)
{
    if (!st)
        return;
    sp_store__jobs_stop(st);
    pthread_key_delete(st->reader_key);
    pthread_mutex_lock(&st->readers_lock);
    sp_conn *c = st->readers;
    while (c) {
        sp_conn *next = c->next;
        reader_slot *r = (reader_slot *)c; /* conn is the slot's first member */
        conn_close(&r->conn);
        free(r);
        c = next;
    }
    st->readers = NULL;
    pthread_mutex_unlock(&st->readers_lock);
    conn_close(&st->writer);
    pthread_mutex_destroy(&st->readers_lock);
    pthread_mutex_destroy(&st->write_lock);
    pthread_cond_destroy(&st->group_cond);
    pthread_mutex_destroy(&st->group_lock);
    pthread_cond_destroy(&st->jobs_cond);
    pthread_mutex_destroy(&st->jobs_lock);
    free(st->hold_path);
    free(st->path);
    free(st);
}

uint64_t sp_store_data_version(sp_store *st)
{
    return atomic_load(&st->version);
}
