/*
 * db_pg.c - db.h on PostgreSQL through libpq: connections, errors and
 * transactions (statements: db_pg_stmt.c).
 *
 * Every connection is one libpq session. A connection found broken (the
 * server restarted, the backend was terminated) is reset once, outside a
 * transaction, and the call retried; statements prepared on the old
 * session are prepared again on their next step (generation). Inside a
 * transaction the call fails instead: the transaction is gone, and the
 * store fails the writers of its group, so nothing acknowledged is lost.
 * Nor does a COMMIT of a failed transaction, which PostgreSQL answers as a
 * success whose tag is ROLLBACK, read as a commit.
 */
#include "store/db_pg_internal.h"
#include "store/db_pg_sql.h"

#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Seconds a connect (or reconnect) waits for the server, unless the
 * location says otherwise. */
#define PG_CONNECT_TIMEOUT_S "10"

/* ---- locations and errors -------------------------------------------- */

/* Copies libpq's message without its trailing newline. */
static void copy_msg(char *dst, size_t len, const char *msg)
{
    snprintf(dst, len, "%s", msg ? msg : "");
    size_t n = strlen(dst);
    while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == ' '))
        dst[--n] = '\0';
}

/* SQLSTATE -> db.h's code. */
static int code_of(const char *state)
{
    if (!state || strlen(state) != 5)
        return SP_DB_ERROR;
    if (strncmp(state, "23", 2) == 0)
        return SP_DB_CONSTRAINT;
    if (strcmp(state, "53100") == 0)
        return SP_DB_FULL;
    if (strcmp(state, "53200") == 0)
        return SP_DB_NOMEM;
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0)
        return SP_DB_BUSY;
    return SP_DB_ERROR;
}

/* Remembers res's error (or the connection's, res NULL) as db's last.
 * Returns its code. */
int sp_db_pg__set_error(pg_db *db, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    db->errcode = code_of(state);
    if (primary && state)
        snprintf(db->errmsg, sizeof db->errmsg, "%s (SQLSTATE %s)", primary, state);
    else
        copy_msg(db->errmsg, sizeof db->errmsg,
                 res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res)
                                                   : PQerrorMessage(db->conn));
    if (!db->errmsg[0])
        snprintf(db->errmsg, sizeof db->errmsg, "PostgreSQL connection error");
    return db->errcode;
}

/* Sets db's last error to a message of our own. Returns SP_DB_ERROR. */
int sp_db_pg__set_error_text(pg_db *db, const char *msg)
{
    db->errcode = SP_DB_ERROR;
    snprintf(db->errmsg, sizeof db->errmsg, "%s", msg);
    return SP_DB_ERROR;
}

/* A COMMIT of a transaction that had failed is answered as a success
 * whose tag is ROLLBACK: nothing was written, and it must not read as
 * written. */
int sp_db_pg__commit_rolled_back(PGresult *res)
{
    return strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
}

/* Rows an INSERT, UPDATE or DELETE changed, from its result; -1 for other
 * commands, which leave sp_db_changes as it was (as SQLite's does). */
int sp_db_pg__changes_of(PGresult *res)
{
    const char *tag = PQcmdStatus(res);
    if (strncmp(tag, "INSERT", 6) != 0 && strncmp(tag, "UPDATE", 6) != 0 &&
        strncmp(tag, "DELETE", 6) != 0)
        return -1;
    return atoi(PQcmdTuples(res));
}

/* ---- connections ----------------------------------------------------- */

/* Server notices (client_min_messages keeps them to warnings) go to the
 * log, not to libpq's default of stderr as is. */
static void on_notice(void *arg, const char *message)
{
    pg_db *db = arg;
    char msg[PG_ERRMSG_MAX];
    copy_msg(msg, sizeof msg, message);
    sp_warn("store", "%s: %s", db->location, msg);
}

/* What every session starts with: warnings only, so that routine notices
 * ("relation already exists, skipping") stay out of the log. */
static int session_setup(pg_db *db)
{
    PGresult *res = PQexec(db->conn, "SET client_min_messages TO warning");
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? SP_DB_OK : sp_db_pg__set_error(db, res);
    PQclear(res);
    return rc;
}

/* Reconnects a broken connection (it cannot be inside a transaction: that
 * died with the session). Returns SP_DB_OK or SP_DB_ERROR (logged). */
static int reconnect(pg_db *db)
{
    PQreset(db->conn);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        sp_db_pg__set_error(db, NULL);
        sp_error("store", "cannot reconnect to %s: %s", db->location, db->errmsg);
        return SP_DB_ERROR;
    }
    db->generation++;
    db->pending_len = 0; /* the statements went with the old session */
    db->ndeferred = 0;   /* and the transaction they were for */
    sp_warn("store", "reconnected to %s", db->location);
    return session_setup(db);
}

/* Drops the server statements of finalized ones (sp_db_pg_finalize), when
 * outside a transaction: in one, a DEALLOCATE that failed would fail it. */
static void drop_pending(pg_db *db)
{
    if (db->pending_len == 0 || PQtransactionStatus(db->conn) != PQTRANS_IDLE)
        return;
    PQclear(PQexec(db->conn, db->pending));
    db->pending_len = 0;
}

/* Records whether db's session is in a transaction now (after a call).
 * A command still in flight (as a pipeline cut short leaves it) tells
 * nothing: what was last seen stands. */
void sp_db_pg__note_txn(pg_db *db)
{
    if (PQstatus(db->conn) != CONNECTION_OK)
        return;
    PGTransactionStatusType s = PQtransactionStatus(db->conn);
    if (s == PQTRANS_IDLE)
        db->txn_seen = 0;
    else if (s == PQTRANS_INTRANS || s == PQTRANS_INERROR)
        db->txn_seen = 1;
}

/* Whether db's connection can take a call: up, and out of pipeline mode.
 * A pipeline cut short by the server (a restart under load) can leave
 * results unread, and then libpq refuses every later call without reading
 * the socket that would show it broken, so that the connection would fail
 * for good: it is made again like a broken one. */
static int usable(pg_db *db)
{
    return PQstatus(db->conn) == CONNECTION_OK && PQpipelineStatus(db->conn) == PQ_PIPELINE_OFF;
}

/* Makes sure db's connection is up before a call, and drops what
 * finalized statements left on the server. A session that broke inside a
 * transaction is replaced all the same, but the caller's transaction went
 * with it: until the caller begins another or rolls back (resets), every
 * call fails. Else the new session would run the caller's next writes
 * outside any transaction, each committed on its own, and answer its
 * COMMIT as done (with a warning only), though what the transaction held
 * is gone. */
int sp_db_pg__ensure(pg_db *db, int resets)
{
    sp_db_pg__note_txn(db);
    if (usable(db))
        drop_pending(db); /* first: it may find the connection broken */
    if (!usable(db)) {
        int lost = db->txn_seen;
        int rc = reconnect(db);
        if (rc != SP_DB_OK)
            return rc;
        db->txn_seen = 0;
        if (lost && !db->txn_lost) {
            sp_warn("store", "%s: the connection broke inside a transaction, which is lost",
                    db->location);
            db->txn_lost = 1;
        }
    }
    if (db->txn_lost && !resets)
        return sp_db_pg__set_error_text(db, "the transaction was lost with its connection");
    db->txn_lost = 0;
    return SP_DB_OK;
}

/* ---- held-back savepoints ---------------------------------------------
 *
 * The store brackets every write with SAVEPOINT and RELEASE (txn.c), each
 * a round trip of its own, on the one writer connection every replica's
 * writes wait for. Inside a transaction that has not failed neither can
 * fail (short of the connection, which then fails what follows too), and
 * their result tells nothing: a connection holds them back and sends them
 * with its next statement, in the same round trip (a pipeline, or the
 * same query string). Should one fail all the same, the statement it went
 * with fails with its error, before running.
 */

/* Holds s back when it may be (a savepoint statement of this session, in
 * a transaction that has not failed). Returns whether it did. */
int sp_db_pg__defer(pg_stmt *s)
{
    pg_db *db = s->db;
    if (!s->deferrable || s->generation != db->generation || db->ndeferred == PG_DEFERRED_MAX ||
        PQstatus(db->conn) != CONNECTION_OK || PQtransactionStatus(db->conn) != PQTRANS_INTRANS)
        return 0;
    db->deferred[db->ndeferred++] = s;
    s->deferred = 1;
    return 1;
}

/* The held-back statements' SQL, then sql, as one query string (new,
 * caller frees; NULL without memory). Clears the held-back list. */
static char *deferred_before(pg_db *db, const char *sql)
{
    size_t len = strlen(sql) + 1;
    for (int i = 0; i < db->ndeferred; i++)
        len += strlen(db->deferred[i]->sql) + 2;
    char *out = malloc(len), *o = out;
    if (!out)
        return NULL;
    for (int i = 0; i < db->ndeferred; i++)
        o += sprintf(o, "%s; ", db->deferred[i]->sql);
    strcpy(o, sql);
    db->ndeferred = 0;
    return out;
}

/* Sends the held-back statements now, before a call that cannot take them
 * along. Returns SP_DB_OK or an error code. */
int sp_db_pg__flush_deferred(pg_db *db)
{
    return db->ndeferred > 0 ? sp_db_pg_exec(&db->base, "") : SP_DB_OK;
}

/* Runs the held-back statements and then s, in one pipeline. Returns s's
 * result (new), or NULL with db's error set: a held-back statement failed
 * (s did not run) or the connection did. */
PGresult *sp_db_pg__exec_after_deferred(pg_stmt *s)
{
    pg_db *db = s->db;
    int n = db->ndeferred, failed = 0;
    db->ndeferred = 0;
    if (!PQenterPipelineMode(db->conn)) {
        sp_db_pg__set_error(db, NULL);
        return NULL;
    }
    int sent = 1;
    for (int i = 0; i < n && sent; i++)
        sent = PQsendQueryPrepared(db->conn, db->deferred[i]->name, 0, NULL, NULL, NULL, 0);
    sent = sent && PQsendQueryPrepared(db->conn, s->name, s->nparams, s->values, NULL, NULL, 0);
    sent = sent && PQpipelineSync(db->conn);
    PGresult *out = NULL;
    /* Each query's result ends with a NULL; the sync's result comes last.
     * A broken connection gives NULLs only. */
    for (int done = 0; sent;) {
        PGresult *r = PQgetResult(db->conn);
        if (!r) {
            if (++done > n + 1 || PQstatus(db->conn) != CONNECTION_OK)
                break;
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            break;
        }
        if (done < n && st != PGRES_COMMAND_OK && !failed) {
            sp_db_pg__set_error(db, r);
            failed = 1;
        } else if (done == n && !failed && !out) {
            out = r;
            continue;
        }
        PQclear(r);
    }
    if (!sent || (!out && !failed))
        sp_db_pg__set_error(db, NULL);
    if (!PQexitPipelineMode(db->conn) && !failed) { /* results unread: made again next call */
        sp_db_pg__set_error(db, NULL);
        failed = 1;
    }
    if (failed) {
        PQclear(out);
        return NULL;
    }
    return out;
}

/* After a failed call that began outside a transaction (idle): whether
 * the connection broke and was made again, so that the call is worth one
 * more try. */
int sp_db_pg__recovered(pg_db *db, int idle)
{
    return idle && PQstatus(db->conn) == CONNECTION_BAD && reconnect(db) == SP_DB_OK;
}

PGconn *sp_db_pg_connect(const char *location, const char *const *keys,
                         const char *const *values, const char *what, int *rc)
{
    char shown[PG_LOCATION_LOG_MAX];
    sp_db_pg_redact(location, shown, sizeof shown);
    /* A location libpq cannot read is told apart first: its complaint
     * quotes what it stopped at, which may be the password. */
    char *why = NULL;
    PQconninfoOption *parsed = PQconninfoParse(location, &why);
    if (!parsed) {
        char msg[PG_ERRMSG_MAX];
        copy_msg(msg, sizeof msg, why ? why : "out of memory");
        sp_db_pg_elide_quoted(msg);
        sp_error("store", "%scannot connect to %s: %s", what, shown, msg);
        PQfreemem(why);
        *rc = SP_DB_CANTOPEN;
        return NULL;
    }
    PQconninfoFree(parsed);
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    if (!conn) {
        *rc = SP_DB_NOMEM;
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        char raw[PG_ERRMSG_MAX], msg[PG_ERRMSG_MAX];
        copy_msg(raw, sizeof raw, PQerrorMessage(conn));
        sp_db_pg_redact_message(location, raw, msg, sizeof msg);
        sp_error("store", "%scannot connect to %s: %s", what, shown, msg);
        PQfinish(conn);
        *rc = SP_DB_CANTOPEN;
        return NULL;
    }
    *rc = SP_DB_OK;
    return conn;
}

int sp_db_pg_open(const char *location, int writer, sp_db **out)
{
    (void)writer; /* every session is alike: synchronous_commit stays on */
    *out = NULL;
    pg_db *db = calloc(1, sizeof *db);
    if (!db)
        return SP_DB_NOMEM;
    db->base.kind = SP_DB_POSTGRES;
    db->generation = 1;
    sp_db_pg_redact(location, db->location, sizeof db->location);
    /* Defaults the location may override (later keywords win): a server
     * that does not answer fails a connect within the timeout instead of
     * the system's minutes, which the writer would wait holding the write
     * lock; the name shows the sessions in pg_stat_activity; text is
     * UTF-8, as the store's strings are. */
    static const char *const keys[] = {"connect_timeout", "application_name", "client_encoding",
                                       "dbname", NULL};
    const char *const values[] = {PG_CONNECT_TIMEOUT_S, "spaceport", "UTF8", location, NULL};
    int rc = SP_DB_OK;
    db->conn = sp_db_pg_connect(location, keys, values, "", &rc);
    if (!db->conn) {
        free(db);
        return rc;
    }
    PQsetNoticeProcessor(db->conn, on_notice, db);
    if (session_setup(db) != SP_DB_OK) {
        sp_error("store", "%s: %s", db->location, db->errmsg);
        PQfinish(db->conn);
        free(db);
        return SP_DB_ERROR;
    }
    *out = &db->base;
    return SP_DB_OK;
}

void sp_db_pg_close(sp_db *d)
{
    PQfinish(DB(d)->conn);
    free(DB(d)->pending);
    free(d);
}

int sp_db_pg_exec(sp_db *d, const char *sql)
{
    pg_db *db = DB(d);
    /* BEGIN or ROLLBACK: what may follow a transaction lost with its
     * session (sp_db_pg__ensure); nothing else may. */
    int resets = sp_db_pg_first_word(sql, "BEGIN") ||
                 (sp_db_pg_first_word(sql, "ROLLBACK") && !strchr(sql, ';') &&
                  !sp_db_pg_first_word(sql + strspn(sql, " \t\n") + 8, "TO"));
    for (int attempt = 0;; attempt++) {
        int rc = sp_db_pg__ensure(db, resets);
        if (rc != SP_DB_OK) {
            sp_error("store", "%s: %s", sql, db->errmsg);
            return rc;
        }
        int idle = PQtransactionStatus(db->conn) == PQTRANS_IDLE;
        int commits = sp_db_pg_commits(sql);
        if (commits && PQtransactionStatus(db->conn) == PQTRANS_INERROR) {
            /* Not sent: the caller rolls back, as after any failed commit. */
            sp_error("store", "%s: the transaction had failed", sql);
            return sp_db_pg__set_error_text(db, "COMMIT of a failed transaction");
        }
        /* Held-back savepoints go first, in the same round trip. */
        char *with = NULL;
        if (db->ndeferred > 0 && !(with = deferred_before(db, sql)))
            return sp_db_pg__set_error_text(db, "out of memory");
        /* Every statement's result is looked at, not only the last one's
         * as PQexec would: a COMMIT amid others must not hide as one. */
        int sent = PQsendQuery(db->conn, with ? with : sql);
        free(with);
        if (!sent) {
            sp_db_pg__set_error(db, NULL);
        } else {
            PGresult *res;
            while ((res = PQgetResult(db->conn)) != NULL) {
                ExecStatusType s = PQresultStatus(res);
                if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_EMPTY_QUERY) {
                    if (rc == SP_DB_OK)
                        rc = sp_db_pg__set_error(db, res);
                } else if (commits && sp_db_pg__commit_rolled_back(res) && rc == SP_DB_OK) {
                    rc = sp_db_pg__set_error_text(db,
                                                  "COMMIT of a failed transaction rolled it back");
                } else if (sp_db_pg__changes_of(res) >= 0) {
                    db->changes = sp_db_pg__changes_of(res);
                }
                PQclear(res);
            }
            if (rc == SP_DB_OK && PQstatus(db->conn) != CONNECTION_OK)
                rc = sp_db_pg__set_error(db, NULL);
            sp_db_pg__note_txn(db);
            if (rc == SP_DB_OK)
                return SP_DB_OK;
        }
        if (rc == SP_DB_OK)
            rc = db->errcode;
        if (attempt == 0 && sp_db_pg__recovered(db, idle))
            continue;
        sp_error("store", "%s: %s", sql, db->errmsg);
        return rc;
    }
}

const char *sp_db_pg_errmsg(sp_db *d)
{
    return DB(d)->errmsg;
}

int sp_db_pg_errcode(sp_db *d)
{
    return DB(d)->errcode;
}

int sp_db_pg_changes(sp_db *d)
{
    return DB(d)->changes;
}

int64_t sp_db_pg_last_id(sp_db *d)
{
    pg_db *db = DB(d);
    if (sp_db_pg__flush_deferred(db) != SP_DB_OK)
        return 0;
    /* lastval(): the value the session's last nextval() drew, which an
     * INSERT into a table with an identity or serial key just did. */
    PGresult *res = PQexec(db->conn, "SELECT lastval()");
    int64_t id = 0;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else
        sp_db_pg__set_error(db, res);
    PQclear(res);
    return id;
}

int sp_db_pg_in_txn(sp_db *d)
{
    PGTransactionStatusType t = PQtransactionStatus(DB(d)->conn);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}
