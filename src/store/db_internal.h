/*
 * db_internal.h - what db.c's dispatch and the two backends share (only
 * db.c, db_sqlite.c and db_pg.c include it).
 */
#ifndef SP_STORE_DB_INTERNAL_H
#define SP_STORE_DB_INTERNAL_H

#include "store/db.h"

/* Every connection and statement starts with its backend, which db.c reads
 * to dispatch. */
struct sp_db {
    sp_db_kind kind;
};
struct sp_db_stmt {
    sp_db_kind kind;
};

#define SP_DB_BACKEND_DECLARE(p)                                                                  \
    int p##_open(const char *location, int writer, sp_db **out);                                  \
    void p##_close(sp_db *db);                                                                    \
    int p##_exec(sp_db *db, const char *sql);                                                     \
    const char *p##_errmsg(sp_db *db);                                                            \
    int p##_errcode(sp_db *db);                                                                   \
    int p##_changes(sp_db *db);                                                                   \
    int64_t p##_last_id(sp_db *db);                                                               \
    int p##_in_txn(sp_db *db);                                                                    \
    int p##_prepare(sp_db *db, const char *sql, sp_db_stmt **out);                                \
    void p##_finalize(sp_db_stmt *s);                                                             \
    int p##_bind_int64(sp_db_stmt *s, int i, int64_t v);                                          \
    int p##_bind_text(sp_db_stmt *s, int i, const char *v, int copy);                             \
    int p##_bind_null(sp_db_stmt *s, int i);                                                      \
    int p##_bind_count(sp_db_stmt *s);                                                            \
    int p##_step(sp_db_stmt *s);                                                                  \
    void p##_reset(sp_db_stmt *s);                                                                \
    int p##_column_count(sp_db_stmt *s);                                                          \
    int64_t p##_column_int64(sp_db_stmt *s, int i);                                               \
    const char *p##_column_text(sp_db_stmt *s, int i);                                            \
    int p##_column_is_null(sp_db_stmt *s, int i);

SP_DB_BACKEND_DECLARE(sp_db_lite)
void *sp_db_lite_handle(sp_db *db);
SP_DB_BACKEND_DECLARE(sp_db_pg)

#endif
