/*
 * db.c - db.h's calls, dispatched to the connection's backend
 * (db_sqlite.c, db_pg.c).
 */
#include "store/db_internal.h"

#include <string.h>

#define PG(x) ((x)->kind == SP_DB_POSTGRES)

sp_db_kind sp_db_kind_of(const char *location)
{
    if (strncmp(location, "postgres://", 11) == 0 || strncmp(location, "postgresql://", 13) == 0 ||
        strchr(location, '=') != NULL)
        return SP_DB_POSTGRES;
    return SP_DB_SQLITE;
}

int sp_db_open(const char *location, int writer, sp_db **out)
{
    return sp_db_kind_of(location) == SP_DB_POSTGRES ? sp_db_pg_open(location, writer, out)
                                                     : sp_db_lite_open(location, writer, out);
}

void sp_db_close(sp_db *db)
{
    if (db)
        PG(db) ? sp_db_pg_close(db) : sp_db_lite_close(db);
}

sp_db_kind sp_db_kind_get(const sp_db *db)
{
    return db->kind;
}

int sp_db_exec(sp_db *db, const char *sql)
{
    return PG(db) ? sp_db_pg_exec(db, sql) : sp_db_lite_exec(db, sql);
}

const char *sp_db_errmsg(sp_db *db)
{
    return PG(db) ? sp_db_pg_errmsg(db) : sp_db_lite_errmsg(db);
}

int sp_db_errcode(sp_db *db)
{
    return PG(db) ? sp_db_pg_errcode(db) : sp_db_lite_errcode(db);
}

int sp_db_changes(sp_db *db)
{
    return PG(db) ? sp_db_pg_changes(db) : sp_db_lite_changes(db);
}

int64_t sp_db_last_id(sp_db *db)
{
    return PG(db) ? sp_db_pg_last_id(db) : sp_db_lite_last_id(db);
}

int sp_db_in_txn(sp_db *db)
{
    return PG(db) ? sp_db_pg_in_txn(db) : sp_db_lite_in_txn(db);
}

int sp_db_prepare(sp_db *db, const char *sql, sp_db_stmt **out)
{
    return PG(db) ? sp_db_pg_prepare(db, sql, out) : sp_db_lite_prepare(db, sql, out);
}

void sp_db_finalize(sp_db_stmt *s)
{
    if (s)
        PG(s) ? sp_db_pg_finalize(s) : sp_db_lite_finalize(s);
}

int sp_db_bind_int64(sp_db_stmt *s, int i, int64_t v)
{
    return PG(s) ? sp_db_pg_bind_int64(s, i, v) : sp_db_lite_bind_int64(s, i, v);
}

int sp_db_bind_text(sp_db_stmt *s, int i, const char *v)
{
    return PG(s) ? sp_db_pg_bind_text(s, i, v, 0) : sp_db_lite_bind_text(s, i, v, 0);
}

int sp_db_bind_text_copy(sp_db_stmt *s, int i, const char *v)
{
    return PG(s) ? sp_db_pg_bind_text(s, i, v, 1) : sp_db_lite_bind_text(s, i, v, 1);
}

int sp_db_bind_null(sp_db_stmt *s, int i)
{
    return PG(s) ? sp_db_pg_bind_null(s, i) : sp_db_lite_bind_null(s, i);
}

int sp_db_bind_count(sp_db_stmt *s)
{
    return PG(s) ? sp_db_pg_bind_count(s) : sp_db_lite_bind_count(s);
}

int sp_db_step(sp_db_stmt *s)
{
    return PG(s) ? sp_db_pg_step(s) : sp_db_lite_step(s);
}

void sp_db_reset(sp_db_stmt *s)
{
    if (s)
        PG(s) ? sp_db_pg_reset(s) : sp_db_lite_reset(s);
}

int sp_db_column_count(sp_db_stmt *s)
{
    return PG(s) ? sp_db_pg_column_count(s) : sp_db_lite_column_count(s);
}

int64_t sp_db_column_int64(sp_db_stmt *s, int i)
{
    return PG(s) ? sp_db_pg_column_int64(s, i) : sp_db_lite_column_int64(s, i);
}

const char *sp_db_column_text(sp_db_stmt *s, int i)
{
    return PG(s) ? sp_db_pg_column_text(s, i) : sp_db_lite_column_text(s, i);
}

int sp_db_column_is_null(sp_db_stmt *s, int i)
{
    return PG(s) ? sp_db_pg_column_is_null(s, i) : sp_db_lite_column_is_null(s, i);
}

void *sp_db_sqlite_handle(sp_db *db)
{
    return db && db->kind == SP_DB_SQLITE ? sp_db_lite_handle(db) : NULL;
}
