/*
 * db_pg_internal.h - what the PostgreSQL backend's two files share:
 * db_pg.c (connections, errors, held-back savepoints) and db_pg_stmt.c
 * (statements). Only they, their unit test and the replicas' own
 * connections (lease.c, listen.c: sp_db_pg_connect) include it.
 */
#ifndef SP_STORE_DB_PG_INTERNAL_H
#define SP_STORE_DB_PG_INTERNAL_H

#include "store/db_internal.h"

#include <libpq-fe.h>

/* An error message kept for sp_db_errmsg: PostgreSQL's primary message
 * and SQLSTATE; longer ones are cut, the code still tells what happened. */
#define PG_ERRMSG_MAX 512
/* A location as logged, password replaced. */
#define PG_LOCATION_LOG_MAX 256

/* Savepoint statements a connection holds back at most (defer): a
 * writer's RELEASE and the next one's SAVEPOINT are two. */
#define PG_DEFERRED_MAX 8

typedef struct pg_stmt pg_stmt;

typedef struct pg_db {
    sp_db base;
    PGconn *conn;
    /* Bumped at every reconnect: statements prepared on an older
     * generation are prepared again. Starts at 1, so 0 means never. */
    unsigned generation;
    unsigned next_name; /* the next statement's name number */
    /* Whether the session was last seen inside a transaction, and whether
     * it broke so and was replaced: the caller's transaction is gone, and
     * until it begins another (or rolls back) every statement fails rather
     * than run outside one, or a COMMIT read as done (sp_db_pg__ensure). */
    int txn_seen;
    int txn_lost;
    int changes;
    int errcode;
    char errmsg[PG_ERRMSG_MAX];
    char location[PG_LOCATION_LOG_MAX]; /* redacted: for logs only */
    /* DEALLOCATEs of finalized statements not yet sent ("" none). */
    char *pending;
    size_t pending_len, pending_cap;
    /* SAVEPOINTs and RELEASEs stepped but not sent yet, in order (defer). */
    pg_stmt *deferred[PG_DEFERRED_MAX];
    int ndeferred;
} pg_db;

enum { BOUND_NONE = 0, BOUND_INT, BOUND_TEXT, BOUND_NULL };

typedef struct pg_param {
    int kind;     /* BOUND_* */
    char num[24]; /* an integer's text */
    char *copy;   /* sp_db_bind_text_copy's buffer, reused */
    size_t copy_cap;
} pg_param;

struct pg_stmt {
    sp_db_stmt base;
    pg_db *db;
    char *sql; /* renumbered $NNN */
    char name[16];
    unsigned generation; /* of the session it is prepared on; 0 none */
    int is_commit;       /* COMMIT or END: see commit_rolled_back */
    int deferrable;      /* a SAVEPOINT or RELEASE (defer) */
    int deferred;        /* stepped, and held back: reads as done */
    int nparams;
    pg_param *params;
    const char **values; /* what PQexecPrepared sends, NULL for NULL */
    Oid *types;
    PGresult *res; /* the current execution's rows; NULL before the first step */
    int row, nrows;
};

#define DB(x) ((pg_db *)(x))
#define ST(x) ((pg_stmt *)(x))

/* ---- db_pg.c's, for db_pg_stmt.c ---- */

/* Connects with keys/values (PQconnectdbParams, expanding the location
 * given as "dbname" among them), logging a failure with what (a prefix,
 * "" none) and no password: the location is shown redacted, and libpq's
 * complaint about it with its quoted pieces and the passwords taken out.
 * Returns the connection, or NULL and *rc (SP_DB_CANTOPEN, SP_DB_NOMEM). */
PGconn *sp_db_pg_connect(const char *location, const char *const *keys,
                         const char *const *values, const char *what, int *rc);

/* Remembers res's error (or the connection's, res NULL) as db's last.
 * Returns its code. */
int sp_db_pg__set_error(pg_db *db, const PGresult *res);
/* Sets db's last error to a message of our own. Returns SP_DB_ERROR. */
int sp_db_pg__set_error_text(pg_db *db, const char *msg);
/* Whether res is a COMMIT's of a failed transaction (tag ROLLBACK). */
int sp_db_pg__commit_rolled_back(PGresult *res);
/* Rows an INSERT, UPDATE or DELETE changed, from its result; -1 for other
 * commands. */
int sp_db_pg__changes_of(PGresult *res);
/* Makes sure db's connection is up before a call (reconnecting a broken
 * one). resets: the call begins or rolls back a transaction, which it may
 * after one was lost with its session. Returns SP_DB_OK or an error
 * code. */
int sp_db_pg__ensure(pg_db *db, int resets);
/* Records whether db's session is in a transaction now (after a call). */
void sp_db_pg__note_txn(pg_db *db);
/* After a failed call that began outside a transaction (idle): whether
 * the connection broke and was made again, worth one more try. */
int sp_db_pg__recovered(pg_db *db, int idle);
/* Holds the savepoint statement s back when it may be. Returns whether it
 * did. */
int sp_db_pg__defer(pg_stmt *s);
/* Sends the held-back statements now. Returns SP_DB_OK or an error code. */
int sp_db_pg__flush_deferred(pg_db *db);
/* Runs the held-back statements and then s, in one pipeline. Returns s's
 * result (new), or NULL with db's error set. */
PGresult *sp_db_pg__exec_after_deferred(pg_stmt *s);

#endif
