/* db_pg.c - db.h on PostgreSQL through libpq (not yet: every call fails). */
#include "store/db_internal.h"
#include "util/log.h"
#include <stddef.h>

int sp_db_pg_open(const char *location, int writer, sp_db **out)
{
    (void)location;
    (void)writer;
    (void)out;
    *out = NULL;
    sp_error("store", "PostgreSQL is not built in");
    return SP_DB_ERROR;
}

void sp_db_pg_close(sp_db *db)
{
    (void)db;
}

int sp_db_pg_exec(sp_db *db, const char *sql)
{
    (void)db;
    (void)sql;
    return SP_DB_ERROR;
}

const char *sp_db_pg_errmsg(sp_db *db)
{
    (void)db;
    return "";
}

int sp_db_pg_errcode(sp_db *db)
{
    (void)db;
    return SP_DB_ERROR;
}

int sp_db_pg_changes(sp_db *db)
{
    (void)db;
    return SP_DB_ERROR;
}

int64_t sp_db_pg_last_id(sp_db *db)
{
    (void)db;
    return 0;
}

int sp_db_pg_in_txn(sp_db *db)
{
    (void)db;
    return SP_DB_ERROR;
}

int sp_db_pg_prepare(sp_db *db, const char *sql, sp_db_stmt **out)
{
    (void)db;
    (void)sql;
    (void)out;
    *out = NULL;
    return SP_DB_ERROR;
}

void sp_db_pg_finalize(sp_db_stmt *s)
{
    (void)s;
}

int sp_db_pg_bind_int64(sp_db_stmt *s, int i, int64_t v)
{
    (void)s;
    (void)i;
    (void)v;
    return SP_DB_ERROR;
}

int sp_db_pg_bind_text(sp_db_stmt *s, int i, const char *v, int copy)
{
    (void)s;
    (void)i;
    (void)v;
    (void)copy;
    return SP_DB_ERROR;
}

int sp_db_pg_bind_null(sp_db_stmt *s, int i)
{
    (void)s;
    (void)i;
    return SP_DB_ERROR;
}

int sp_db_pg_bind_count(sp_db_stmt *s)
{
    (void)s;
    return SP_DB_ERROR;
}

int sp_db_pg_step(sp_db_stmt *s)
{
    (void)s;
    return SP_DB_ERROR;
}

void sp_db_pg_reset(sp_db_stmt *s)
{
    (void)s;
}

int sp_db_pg_column_count(sp_db_stmt *s)
{
    (void)s;
    return SP_DB_ERROR;
}

int64_t sp_db_pg_column_int64(sp_db_stmt *s, int i)
{
    (void)s;
    (void)i;
    return 0;
}

const char *sp_db_pg_column_text(sp_db_stmt *s, int i)
{
    (void)s;
    (void)i;
    return NULL;
}

int sp_db_pg_column_is_null(sp_db_stmt *s, int i)
{
    (void)s;
    (void)i;
    return SP_DB_ERROR;
}
