/*
 * db.h - the store's one interface to its database engine: SQLite (a file,
 * the embedded default) or PostgreSQL (SPACEPORT_DATABASE_URL, through
 * libpq). Not for use outside src/store/.
 *
 * The calls follow SQLite's prepared-statement model, which the store was
 * written against: prepare once per connection, bind, step through rows,
 * reset. Parameters are written ?NNN (or ?) in both dialects; the
 * PostgreSQL backend renumbers them $NNN. SQL that must differ between the
 * engines is kept per backend (SP_SQL below); everything else is written
 * once, in the subset both engines read the same way.
 */
#ifndef SP_STORE_DB_H
#define SP_STORE_DB_H

#include <stddef.h>
#include <stdint.h>

typedef struct sp_db sp_db;           /* one connection */
typedef struct sp_db_stmt sp_db_stmt; /* a prepared statement of one connection */

/* Result codes: SQLite's numbers, so that both backends' results read the
 * same. Errors are positive here; sp_store__err maps them to sp_err. */
enum {
    SP_DB_OK = 0,
    SP_DB_ERROR = 1,
    SP_DB_BUSY = 5,
    SP_DB_NOMEM = 7,
    SP_DB_FULL = 13,
    SP_DB_CANTOPEN = 14,
    SP_DB_CONSTRAINT = 19,
    SP_DB_ROW = 100,
    SP_DB_DONE = 101,
};

typedef enum sp_db_kind { SP_DB_SQLITE = 0, SP_DB_POSTGRES = 1 } sp_db_kind;

/* The backend a location names: PostgreSQL for a postgres:// or
 * postgresql:// URL (or a libpq "key=value" string), else SQLite (a path). */
sp_db_kind sp_db_kind_of(const char *location);

/* Opens a connection to location (sp_db_kind_of). writer: the store's write
 * connection (SQLite: creates the file, WAL, synchronous=FULL). Returns
 * SP_DB_OK and *out, or an error code (*out NULL; logged). */
int sp_db_open(const char *location, int writer, sp_db **out);
void sp_db_close(sp_db *db);
sp_db_kind sp_db_kind_get(const sp_db *db);

/* Runs sql, one or more statements without parameters or rows wanted
 * (migrations, BEGIN, PRAGMA). Returns SP_DB_OK or an error code. */
int sp_db_exec(sp_db *db, const char *sql);
/* The last error's message on db ("" none). Borrowed until the next call. */
const char *sp_db_errmsg(sp_db *db);
/* The code of the last failure on db (SP_DB_FULL, ...). */
int sp_db_errcode(sp_db *db);
/* Rows changed by the last INSERT, UPDATE or DELETE stepped on db. */
int sp_db_changes(sp_db *db);
/* The key the last INSERT on db gave its row (SQLite's rowid; PostgreSQL's
 * lastval() of the table's identity). */
int64_t sp_db_last_id(sp_db *db);
/* Whether db is inside a transaction (SQLite: not in autocommit; PostgreSQL:
 * in one, or in one that failed and awaits ROLLBACK). */
int sp_db_in_txn(sp_db *db);

/* Prepares sql. Returns SP_DB_OK and *out, or an error code (logged). */
int sp_db_prepare(sp_db *db, const char *sql, sp_db_stmt **out);
void sp_db_finalize(sp_db_stmt *s);

/* Binds parameter i (1-based). Text is not copied: it must stay valid until
 * the statement is stepped for the last time or reset; sp_db_bind_text_copy
 * copies. NULL text binds NULL. */
int sp_db_bind_int64(sp_db_stmt *s, int i, int64_t v);
int sp_db_bind_text(sp_db_stmt *s, int i, const char *v);
int sp_db_bind_text_copy(sp_db_stmt *s, int i, const char *v);
int sp_db_bind_null(sp_db_stmt *s, int i);
/* Highest parameter number in the statement. */
int sp_db_bind_count(sp_db_stmt *s);

/* Runs the statement or moves to its next row: SP_DB_ROW, SP_DB_DONE, or an
 * error code. */
int sp_db_step(sp_db_stmt *s);
/* Makes the statement ready to run again and clears its bindings. */
void sp_db_reset(sp_db_stmt *s);

int sp_db_column_count(sp_db_stmt *s);
/* Column i (0-based) of the current row. An integer column reads as its
 * value, a boolean as 0 or 1, NULL as 0; text is NULL for NULL and is valid
 * until the next step or reset. */
int64_t sp_db_column_int64(sp_db_stmt *s, int i);
const char *sp_db_column_text(sp_db_stmt *s, int i);
int sp_db_column_is_null(sp_db_stmt *s, int i);

/* The sqlite3 handle under db, for tests; NULL on PostgreSQL. */
void *sp_db_sqlite_handle(sp_db *db);

/* The SQL of a statement kept per backend: X is an array of two strings,
 * {SQLite, PostgreSQL}, and conn an sp_conn. */
#define SP_SQL(conn, X) ((X)[sp_db_kind_get((conn)->db)])

#endif
