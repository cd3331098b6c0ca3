/*
 * store.c - opening the database, per-thread connections and migrations
 * (write transactions: txn.c).
 */
#include "store/items.h"
#include "store/internal.h"
#include "store/migrations.h"

#include "util/err.h"
#include "util/id.h"
#include "util/itemid.h"
#include "util/log.h"
#include "util/time.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sp_store__err(sp_conn *conn, int rc, const char *what)
{
    switch (rc & 0xff) {
    case SP_DB_OK:
    case SP_DB_DONE:
    case SP_DB_ROW:
        return 0;
    case SP_DB_FULL:
        sp_error("store", "%s: database or disk is full", what);
        return SP_ERR_FULL;
    case SP_DB_NOMEM:
        return SP_ERR_NOMEM;
    case SP_DB_CONSTRAINT:
        return SP_ERR_CONFLICT;
    default:
        sp_error("store", "%s: %s", what, conn && conn->db ? sp_db_errmsg(conn->db) : "error");
        return SP_ERR_DB;
    }
}

int sp_store__exec(sp_conn *conn, const char *sql)
{
    /* Through the statement cache: these run several times per request
     * (SAVEPOINT, RELEASE, COMMIT), and parsing them each time showed. */
    sp_db_stmt *q = sp_store__stmt(conn, sql);
    if (!q)
        return SP_ERR_DB;
    int rc = sp_db_step(q);
    sp_store__done(q);
    return rc == SP_DB_DONE || rc == SP_DB_ROW ? 0 : sp_store__err(conn, rc, sql);
}

int sp_store__step_done(sp_conn *conn, sp_db_stmt *s, const char *what)
{
    int rc = sp_db_step(s);
    sp_store__done(s);
    return rc == SP_DB_DONE ? 0 : sp_store__err(conn, rc, what);
}

int sp_store__exec_seq(sp_conn *conn, const char *sql, int64_t seq, const char *what)
{
    sp_db_stmt *s = sp_store__stmt(conn, sql);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, seq);
    return sp_store__step_done(conn, s, what);
}

int sp_store__bookkeep(sp_store *st, const char *sql, const int64_t *ints, int n, const char *text,
                       const char *what)
{
    sp_conn *w = sp_store__begin_relaxed(st);
    if (!w)
        return SP_ERR_DB;
    st->invisible = 1;
    sp_db_stmt *s = sp_store__stmt(w, sql);
    if (!s) {
        sp_store__rollback(st);
        return SP_ERR_DB;
    }
    for (int i = 0; i < n; i++)
        sp_db_bind_int64(s, i + 1, ints[i]);
    if (text)
        sp_db_bind_text_copy(s, n + 1, text);
    return sp_store__finish(st, sp_store__step_done(w, s, what));
}

static int conn_open(const char *location, sp_conn *c, int writer)
{
    memset(c, 0, sizeof *c);
    int rc = sp_db_open(location, writer, &c->db);
    if (rc == SP_DB_OK)
        return 0;
    return rc == SP_DB_CANTOPEN ? SP_ERR_IO : rc == SP_DB_NOMEM ? SP_ERR_NOMEM : SP_ERR_DB;
}

static void conn_close(sp_conn *c)
{
    for (size_t i = 0; i < SP_STMT_CACHE_SIZE; i++)
        sp_db_finalize(c->cache[i].stmt);
    sp_db_close(c->db);
    memset(c, 0, sizeof *c);
}

sp_db_stmt *sp_store__stmt(sp_conn *conn, const char *sql)
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
    sp_db_stmt *stmt = NULL;
    if (sp_db_prepare(conn->db, sql, &stmt) != SP_DB_OK)
        return NULL; /* logged */
    if (conn->cache[i].sql != NULL) {
        /* Table full: the SQL set outgrew SP_STMT_CACHE_SIZE. Still works,
         * but the statement is replaced each time; say so once per call. */
        sp_warn("store", "statement cache full; raise SP_STMT_CACHE_SIZE");
        sp_db_finalize(conn->cache[i].stmt);
    }
    conn->cache[i].sql = sql;
    conn->cache[i].stmt = stmt;
    return stmt;
}

void sp_store__done(sp_db_stmt *stmt)
{
    if (stmt)
        sp_db_reset(stmt);
}

int sp_store__collect_seqs(sp_conn *c, sp_db_stmt *s, int64_t **out, size_t *count,
                           const char *what)
{
    *out = NULL;
    *count = 0;
    size_t cap = 0;
    int rc;
    while ((rc = sp_db_step(s)) == SP_DB_ROW) {
        if (*count == cap) {
            cap = cap ? cap * 2 : 16;
            int64_t *p = realloc(*out, cap * sizeof *p);
            if (!p) {
                rc = SP_DB_NOMEM;
                break;
            }
            *out = p;
        }
        (*out)[(*count)++] = sp_db_column_int64(s, 0);
    }
    sp_store__done(s);
    if (rc != SP_DB_DONE) {
        free(*out);
        *out = NULL;
        *count = 0;
        return rc == SP_DB_NOMEM ? SP_ERR_NOMEM : sp_store__err(c, rc, what);
    }
    return 0;
}

static void reader_destroy(void *arg);

/* PostgreSQL: draws the store's notice token and writes its commits with
 * their notices (internal.h; listen.c reads them). Returns 0 or
 * SP_ERR_IO. */
static int notice_setup(sp_store *st)
{
    unsigned char raw[SP_STORE_TOKEN_HEX / 2];
    if (sp_id_random(raw, sizeof raw) < 0)
        return SP_ERR_IO;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(st->notice_token + 2 * i, 3, "%02x", raw[i]);
    static const char *const kinds[2] = {SP_STORE_NOTICE_DATA, SP_STORE_NOTICE_EVENTS};
    for (int k = 0; k < 2; k++)
        snprintf(st->commit_sql[k], sizeof st->commit_sql[k],
                 "NOTIFY " SP_STORE_CHANNEL ", '%s %s'; COMMIT", kinds[k], st->notice_token);
    return 0;
}

int sp_store_open(const char *location, sp_store **out)
{
    sp_store *st = calloc(1, sizeof *st);
    if (!st)
        return SP_ERR_NOMEM;
    int rc = SP_ERR_NOMEM;
    st->location = strdup(location);
    if (!st->location)
        goto fail_path;
    rc = conn_open(location, &st->writer, 1);
    if (rc < 0)
        goto fail_writer;
    st->pg = sp_db_kind_get(st->writer.db) == SP_DB_POSTGRES;
    if (st->pg && (rc = notice_setup(st)) < 0)
        goto fail_key;
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
    free(st->location);
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
    if (conn_open(st->location, &r->conn, 0) < 0) {
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
    sp_db_stmt *s = r ? sp_store__stmt(r, sql) : NULL;
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, p1);
    int rc = sp_db_step(s);
    sp_store__done(s);
    if (rc == SP_DB_ROW || rc == SP_DB_DONE)
        return rc == SP_DB_ROW;
    return sp_store__err(r, rc, sql);
}

static const char SQL_VERSION_TABLE[] =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/* Reads the highest migration recorded, on db; 0 for a new database. */
static int read_version(sp_db *db)
{
    sp_db_stmt *s = NULL;
    if (sp_db_prepare(db, "SELECT coalesce(max(version), 0) FROM schema_version", &s) != SP_DB_OK)
        return 0; /* no table yet: a new database */
    int v = SP_ERR_DB;
    if (sp_db_step(s) == SP_DB_ROW)
        v = (int)sp_db_column_int64(s, 0);
    sp_db_finalize(s);
    return v;
}

/* The migrations this database's backend takes. */
static const sp_migration *migrations_of(const sp_db *db, int *count)
{
    if (sp_db_kind_get(db) == SP_DB_POSTGRES) {
        *count = sp_pg_migration_count;
        return sp_pg_migrations;
    }
    *count = sp_migration_count;
    return sp_migrations;
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

/* Begins a migration's transaction. On PostgreSQL, replicas starting
 * together take turns: each migration waits for the advisory lock, then
 * reads the version again, so each runs once. */
static int migration_begin(sp_db *db)
{
    if (sp_db_kind_get(db) != SP_DB_POSTGRES)
        return sp_db_exec(db, "BEGIN IMMEDIATE") == SP_DB_OK ? 0 : SP_ERR_DB;
    return sp_db_exec(db, "BEGIN; SELECT pg_advisory_xact_lock(" SP_STORE_LOCK_MIGRATE ")") ==
                   SP_DB_OK
               ? 0
               : SP_ERR_DB;
}

/* Records migration m as applied, in the open transaction. */
static int migration_record(sp_db *db, const sp_migration *m)
{
    sp_db_stmt *s = NULL;
    if (sp_db_prepare(db, "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                      &s) != SP_DB_OK)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, m->version);
    sp_db_bind_text(s, 2, m->name);
    sp_db_bind_int64(s, 3, sp_time_now_ms());
    int rc = sp_db_step(s);
    sp_db_finalize(s);
    return rc == SP_DB_DONE ? 0 : rc == SP_DB_FULL ? SP_ERR_FULL : SP_ERR_DB;
}

/* On PostgreSQL: 0 when the database collates and classifies text as C
 * (bytewise, ASCII-only case), as SQLite does and the store's orderings,
 * cursors and case-insensitive matches expect; otherwise SP_ERR_INVALID,
 * said in one line, or SP_ERR_DB. */
static int check_collation(sp_db *db)
{
    static const char sql[] = "SELECT datcollate, datctype FROM pg_database"
                              " WHERE datname = current_database()";
    sp_db_stmt *s = NULL;
    if (sp_db_kind_get(db) != SP_DB_POSTGRES)
        return 0;
    if (sp_db_prepare(db, sql, &s) != SP_DB_OK)
        return SP_ERR_DB;
    int rc = sp_db_step(s) == SP_DB_ROW ? 0 : SP_ERR_DB;
    const char *collate = rc == 0 ? sp_db_column_text(s, 0) : NULL;
    const char *ctype = rc == 0 ? sp_db_column_text(s, 1) : NULL;
    if (rc == 0 && !((strcmp(collate, "C") == 0 || strcmp(collate, "POSIX") == 0) &&
                     (strcmp(ctype, "C") == 0 || strcmp(ctype, "POSIX") == 0))) {
        sp_error("store",
                 "the database has collation %s and ctype %s; it must be C "
                 "(createdb -T template0 --locale=C), as the store orders and matches text so",
                 collate, ctype);
        rc = SP_ERR_INVALID;
    }
    sp_db_finalize(s);
    return rc;
}

int sp_store_migrate(sp_store *st, int *applied)
{
    int done = 0, err = 0, count = 0;
    if (applied)
        *applied = 0;
    pthread_mutex_lock(&st->write_lock);
    sp_db *db = st->writer.db;
    const sp_migration *list = migrations_of(db, &count);
    if ((err = check_collation(db)) < 0)
        goto out;
    for (;;) {
        /* Each migration and its schema_version row commit together, so a
         * crash leaves either both or neither. The version table is made
         * under the lock too: PostgreSQL's CREATE TABLE IF NOT EXISTS run
         * by two sessions at once on a new database fails in one of them
         * (a duplicate key of its catalog). */
        if (migration_begin(db) < 0 || sp_db_exec(db, SQL_VERSION_TABLE) != SP_DB_OK) {
            sp_db_exec(db, "ROLLBACK");
            err = SP_ERR_DB;
            goto out;
        }
        int current = read_version(db);
        if (current < 0 || current > count) {
            sp_db_exec(db, "ROLLBACK");
            if (current > count) {
                sp_error("store",
                         "the database has schema version %d, newer than this binary's %d; "
                         "run a newer spaceport",
                         current, count);
                err = SP_ERR_NEWER_SCHEMA;
            } else {
                err = current;
            }
            goto out;
        }
        if (current == count) {
            sp_db_exec(db, "ROLLBACK");
            break;
        }
        const sp_migration *m = &list[current];
        if (sp_db_exec(db, m->sql) != SP_DB_OK) {
            sp_db_exec(db, "ROLLBACK");
            sp_error("store", "migration %s failed", m->name);
            err = SP_ERR_DB;
            goto out;
        }
        int rc = migration_record(db, m);
        if (rc < 0 || sp_db_exec(db, "COMMIT") != SP_DB_OK) {
            sp_db_exec(db, "ROLLBACK");
            err = rc < 0 ? rc : SP_ERR_DB;
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
    sp_db_stmt *s = sp_store__stmt(c, sql);
    if (!s)
        return SP_ERR_DB;
    int rc = sp_db_step(s);
    sp_store__done(s);
    return rc == SP_DB_ROW ? 0 : SP_ERR_DB;
}

void sp_store_close(sp_store *st)
{
    if (!st)
        return;
    sp_store__jobs_stop(st);
    sp_store__shared_close(st);
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
    free(st->location);
    free(st);
}

uint64_t sp_store_data_version(sp_store *st)
{
    uint64_t v = atomic_load(&st->version);
    return st->pg ? sp_store__pg_data_version(st, v) : v;
}
