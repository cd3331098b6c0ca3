/*
 * db_sqlite.c - db.h on SQLite: one file in WAL mode, each connection
 * NOMUTEX (one thread at a time), extended result codes.
 */
#include "store/db_internal.h"

#include "util/itemid.h"
#include "util/log.h"

#include <sqlite3.h>
#include <stdlib.h>

/* Last resort only: writes are serialized in-process, so the writer never
 * waits on itself; this covers a second process (spaceport migrate while a
 * serve runs) and WAL checkpoints. */
#define SP_DB_LITE_BUSY_TIMEOUT_MS 5000

typedef struct lite_db {
    sp_db base;
    sqlite3 *db;
} lite_db;

typedef struct lite_stmt {
    sp_db_stmt base;
    sqlite3_stmt *stmt;
} lite_stmt;

#define DB(x) (((lite_db *)(x))->db)
#define ST(x) (((lite_stmt *)(x))->stmt)

/* SQL sp_item_of(drive_id, item_id): 1 when item_id is an item of
 * drive_id (util/itemid.h), else 0. The queries that serve a share to its
 * grantee ask this, so that the one rule decides in SQL, before LIMIT and
 * paging. PostgreSQL has the same function, in its migrations. */
static void sql_item_of(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *drive_id = (const char *)sqlite3_value_text(argv[0]);
    const char *item_id = (const char *)sqlite3_value_text(argv[1]);
    sqlite3_result_int(ctx, drive_id && item_id && sp_itemid_check(drive_id, item_id, NULL) == 0);
}

int sp_db_lite_exec(sp_db *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(DB(db), sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        sp_error("store", "%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
    }
    return rc;
}

int sp_db_lite_open(const char *path, int writer, sp_db **out)
{
    *out = NULL;
    lite_db *c = calloc(1, sizeof *c);
    if (!c)
        return SP_DB_NOMEM;
    c->base.kind = SP_DB_SQLITE;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        sp_error("store", "cannot open %s: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sqlite3_close(c->db);
        free(c);
        return rc == SQLITE_CANTOPEN ? SP_DB_CANTOPEN : SP_DB_ERROR;
    }
    sqlite3_busy_timeout(c->db, SP_DB_LITE_BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(c->db, 1);
    /* FULL: a commit that was acknowledged survives a power loss; group
     * commit keeps it fast. Readers, one per thread, keep a smaller page
     * cache than SQLite's 2 MiB: there are many of them, and every commit
     * empties their caches anyway (WAL), while the writer's stays warm. */
    const char *pragmas = writer ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                   "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"
                                 : "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;"
                                   "PRAGMA cache_size=-512;";
    if (sp_db_lite_exec(&c->base, pragmas) != SQLITE_OK ||
        sqlite3_create_function(c->db, "sp_item_of", 2,
                                SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                                sql_item_of, NULL, NULL) != SQLITE_OK) {
        sqlite3_close(c->db);
        free(c);
        return SP_DB_ERROR;
    }
    *out = &c->base;
    return SP_DB_OK;
}

void sp_db_lite_close(sp_db *db)
{
    sqlite3_close(DB(db));
    free(db);
}

const char *sp_db_lite_errmsg(sp_db *db)
{
    return sqlite3_errmsg(DB(db));
}

int sp_db_lite_errcode(sp_db *db)
{
    return sqlite3_extended_errcode(DB(db)) & 0xff;
}

int sp_db_lite_changes(sp_db *db)
{
    return sqlite3_changes(DB(db));
}

int64_t sp_db_lite_last_id(sp_db *db)
{
    return sqlite3_last_insert_rowid(DB(db));
}

int sp_db_lite_in_txn(sp_db *db)
{
    return !sqlite3_get_autocommit(DB(db));
}

int sp_db_lite_prepare(sp_db *db, const char *sql, sp_db_stmt **out)
{
    *out = NULL;
    lite_stmt *s = calloc(1, sizeof *s);
    if (!s)
        return SP_DB_NOMEM;
    s->base.kind = SP_DB_SQLITE;
    int rc = sqlite3_prepare_v3(DB(db), sql, -1, SQLITE_PREPARE_PERSISTENT, &s->stmt, NULL);
    if (rc != SQLITE_OK) {
        sp_error("store", "prepare failed: %s: %s", sqlite3_errmsg(DB(db)), sql);
        sqlite3_finalize(s->stmt);
        free(s);
        return rc;
    }
    *out = &s->base;
    return SP_DB_OK;
}

void sp_db_lite_finalize(sp_db_stmt *s)
{
    sqlite3_finalize(ST(s));
    free(s);
}

int sp_db_lite_bind_int64(sp_db_stmt *s, int i, int64_t v)
{
    return sqlite3_bind_int64(ST(s), i, v);
}

int sp_db_lite_bind_text(sp_db_stmt *s, int i, const char *v, int copy)
{
    return sqlite3_bind_text(ST(s), i, v, -1, copy ? SQLITE_TRANSIENT : SQLITE_STATIC);
}

int sp_db_lite_bind_null(sp_db_stmt *s, int i)
{
    return sqlite3_bind_null(ST(s), i);
}

int sp_db_lite_bind_count(sp_db_stmt *s)
{
    return sqlite3_bind_parameter_count(ST(s));
}

int sp_db_lite_step(sp_db_stmt *s)
{
    int rc = sqlite3_step(ST(s));
    /* Extended codes (SQLITE_CONSTRAINT_UNIQUE, ...) read as their primary
     * code: callers tell errors apart by that only. */
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? rc : rc & 0xff;
}

void sp_db_lite_reset(sp_db_stmt *s)
{
    sqlite3_reset(ST(s));
    sqlite3_clear_bindings(ST(s));
}

int sp_db_lite_column_count(sp_db_stmt *s)
{
    return sqlite3_column_count(ST(s));
}

int64_t sp_db_lite_column_int64(sp_db_stmt *s, int i)
{
    return sqlite3_column_int64(ST(s), i);
}

const char *sp_db_lite_column_text(sp_db_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(ST(s), i);
}

int sp_db_lite_column_is_null(sp_db_stmt *s, int i)
{
    return sqlite3_column_type(ST(s), i) == SQLITE_NULL;
}

void *sp_db_lite_handle(sp_db *db)
{
    return DB(db);
}
