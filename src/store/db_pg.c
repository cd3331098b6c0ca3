/*
 * db_pg.c - db.h on PostgreSQL through libpq.
 *
 * The store speaks SQLite's prepared-statement model; this file gives it
 * that model over PostgreSQL's extended protocol. A statement is a
 * server-side prepared statement of its connection, named "sp<n>" with n
 * unique per connection. ?NNN and ? are renumbered $NNN when prepared.
 *
 * Parameter types: SQLite has none, PostgreSQL must know each one when it
 * prepares. A statement with parameters is therefore prepared at its first
 * step, typed from that first binding (an integer bigint, text text, NULL
 * left for the server to infer); where the server cannot settle a type so
 * (a parameter compared with itself as NULL and as text, an integer given
 * to a function taking int4) the prepare is tried again with other choices
 * (prepare_typed). Values travel as text; their types stay those of the
 * first execution, so a parameter keeps its kind (an integer, or text) from
 * one binding to the next, as the store's do. NULL fits any.
 *
 * Results are text; a row is read from the PGresult of the whole query,
 * which the first step fetches: one round trip per execution.
 *
 * A connection found broken (the server restarted, the backend was
 * terminated) is reset once, outside a transaction, and the call retried;
 * statements prepared on the old session are prepared again on their next
 * step (generation). Inside a transaction the call fails instead: the
 * transaction is gone, and the store fails the writers of its group, so
 * nothing acknowledged is lost.
 */
#include "store/db_internal.h"
#include "store/db_pg_sql.h"

#include "util/log.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An error message kept for sp_db_errmsg: PostgreSQL's primary message
 * and SQLSTATE; longer ones are cut, the code still tells what happened. */
#define PG_ERRMSG_MAX 512
/* A location as logged, password replaced. */
#define PG_LOCATION_LOG_MAX 256
/* Seconds a connect (or reconnect) waits for the server, unless the
 * location says otherwise. */
#define PG_CONNECT_TIMEOUT_S "10"
/* Parameters first bound NULL whose types (text or bigint) are tried in
 * every combination (prepare_typed); past these, the rest take the last
 * one's. Two to the power of it bounds the prepares tried. */
#define PG_NULL_TYPINGS_MAX 4

/* pg_type OIDs (server/catalog/pg_type_d.h is not in libpq-dev). */
#define PG_OID_UNKNOWN 0
#define PG_OID_BOOL    16
#define PG_OID_INT8    20
#define PG_OID_TEXT    25
#define PG_OID_FLOAT4  700
#define PG_OID_FLOAT8  701

typedef struct pg_db {
    sp_db base;
    PGconn *conn;
    /* Bumped at every reconnect: statements prepared on an older
     * generation are prepared again. Starts at 1, so 0 means never. */
    unsigned generation;
    unsigned next_name; /* the next statement's name number */
    int changes;
    int errcode;
    char errmsg[PG_ERRMSG_MAX];
    char location[PG_LOCATION_LOG_MAX]; /* redacted: for logs only */
    /* DEALLOCATEs of finalized statements not yet sent ("" none). */
    char *pending;
    size_t pending_len, pending_cap;
} pg_db;

enum { BOUND_NONE = 0, BOUND_INT, BOUND_TEXT, BOUND_NULL };

typedef struct pg_param {
    int kind;     /* BOUND_* */
    char num[24]; /* an integer's text */
    char *copy;   /* sp_db_bind_text_copy's buffer, reused */
    size_t copy_cap;
} pg_param;

typedef struct pg_stmt {
    sp_db_stmt base;
    pg_db *db;
    char *sql; /* renumbered $NNN */
    char name[16];
    unsigned generation; /* of the session it is prepared on; 0 none */
    int is_commit;       /* COMMIT or END: see commit_rolled_back */
    int nparams;
    pg_param *params;
    const char **values; /* what PQexecPrepared sends, NULL for NULL */
    Oid *types;
    PGresult *res; /* the current execution's rows; NULL before the first step */
    int row, nrows;
} pg_stmt;

#define DB(x) ((pg_db *)(x))
#define ST(x) ((pg_stmt *)(x))

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
static int set_error(pg_db *db, const PGresult *res)
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
static int set_error_text(pg_db *db, const char *msg)
{
    db->errcode = SP_DB_ERROR;
    snprintf(db->errmsg, sizeof db->errmsg, "%s", msg);
    return SP_DB_ERROR;
}

/* A COMMIT of a transaction that had failed is answered as a success
 * whose tag is ROLLBACK: nothing was written, and it must not read as
 * written. */
static int commit_rolled_back(PGresult *res)
{
    return strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
}

/* Rows an INSERT, UPDATE or DELETE changed, from its result; -1 for other
 * commands, which leave sp_db_changes as it was (as SQLite's does). */
static int changes_of(PGresult *res)
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
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? SP_DB_OK : set_error(db, res);
    PQclear(res);
    return rc;
}

/* Reconnects a broken connection (it cannot be inside a transaction: that
 * died with the session). Returns SP_DB_OK or SP_DB_ERROR (logged). */
static int reconnect(pg_db *db)
{
    PQreset(db->conn);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        set_error(db, NULL);
        sp_error("store", "cannot reconnect to %s: %s", db->location, db->errmsg);
        return SP_DB_ERROR;
    }
    db->generation++;
    db->pending_len = 0; /* the statements went with the old session */
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

/* Makes sure db's connection is up before a call, and drops what
 * finalized statements left on the server. */
static int ensure(pg_db *db)
{
    if (PQstatus(db->conn) == CONNECTION_OK)
        drop_pending(db); /* first: it may find the connection broken */
    return PQstatus(db->conn) == CONNECTION_OK ? SP_DB_OK : reconnect(db);
}

/* After a failed call that began outside a transaction (idle): whether
 * the connection broke and was made again, so that the call is worth one
 * more try. */
static int recovered(pg_db *db, int idle)
{
    return idle && PQstatus(db->conn) == CONNECTION_BAD && reconnect(db) == SP_DB_OK;
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
    const char *values[] = {PG_CONNECT_TIMEOUT_S, "spaceport", "UTF8", location, NULL};
    db->conn = PQconnectdbParams(keys, values, 1);
    if (!db->conn) {
        free(db);
        return SP_DB_NOMEM;
    }
    if (PQstatus(db->conn) != CONNECTION_OK) {
        char msg[PG_ERRMSG_MAX];
        copy_msg(msg, sizeof msg, PQerrorMessage(db->conn));
        sp_error("store", "cannot connect to %s: %s", db->location, msg);
        PQfinish(db->conn);
        free(db);
        return SP_DB_CANTOPEN;
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
    for (int attempt = 0;; attempt++) {
        int rc = ensure(db);
        if (rc != SP_DB_OK)
            return rc;
        int idle = PQtransactionStatus(db->conn) == PQTRANS_IDLE;
        int commits = sp_db_pg_commits(sql);
        if (commits && PQtransactionStatus(db->conn) == PQTRANS_INERROR) {
            /* Not sent: the caller rolls back, as after any failed commit. */
            sp_error("store", "%s: the transaction had failed", sql);
            return set_error_text(db, "COMMIT of a failed transaction");
        }
        /* Every statement's result is looked at, not only the last one's
         * as PQexec would: a COMMIT amid others must not hide as one. */
        if (!PQsendQuery(db->conn, sql)) {
            set_error(db, NULL);
        } else {
            PGresult *res;
            while ((res = PQgetResult(db->conn)) != NULL) {
                ExecStatusType s = PQresultStatus(res);
                if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_EMPTY_QUERY) {
                    if (rc == SP_DB_OK)
                        rc = set_error(db, res);
                } else if (commits && commit_rolled_back(res) && rc == SP_DB_OK) {
                    rc = set_error_text(db, "COMMIT of a failed transaction rolled it back");
                } else if (changes_of(res) >= 0) {
                    db->changes = changes_of(res);
                }
                PQclear(res);
            }
            if (rc == SP_DB_OK && PQstatus(db->conn) != CONNECTION_OK)
                rc = set_error(db, NULL);
            if (rc == SP_DB_OK)
                return SP_DB_OK;
        }
        if (rc == SP_DB_OK)
            rc = db->errcode;
        if (attempt == 0 && recovered(db, idle))
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
    /* lastval(): the value the session's last nextval() drew, which an
     * INSERT into a table with an identity or serial key just did. */
    PGresult *res = PQexec(db->conn, "SELECT lastval()");
    int64_t id = 0;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else
        set_error(db, res);
    PQclear(res);
    return id;
}

int sp_db_pg_in_txn(sp_db *d)
{
    PGTransactionStatusType t = PQtransactionStatus(DB(d)->conn);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

/* ---- statements ------------------------------------------------------ */

/* Whether a failed prepare failed on its parameters' types, which another
 * typing may settle: could not determine (42P18), inconsistent (42P08),
 * no such operator or function for them (42883), a column of another type
 * (42804), ambiguous (42725). */
static int type_trouble(const PGresult *res)
{
    const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return s && (strcmp(s, "42P18") == 0 || strcmp(s, "42P08") == 0 || strcmp(s, "42883") == 0 ||
                 strcmp(s, "42804") == 0 || strcmp(s, "42725") == 0);
}

/* How many typings of s's parameters prepare_typed may try: the three
 * fixed ones of typing(), then one per combination of text and bigint for
 * the parameters without a value at the first binding. */
static int typings(const pg_stmt *s)
{
    int nulls = 0;
    for (int i = 0; i < s->nparams; i++)
        nulls += s->params[i].kind == BOUND_NONE || s->params[i].kind == BOUND_NULL;
    if (nulls > PG_NULL_TYPINGS_MAX)
        nulls = PG_NULL_TYPINGS_MAX;
    return s->nparams == 0 ? 1 : 3 + (nulls > 0 ? 1 << nulls : 0);
}

/* Fills s->types for typing t: 0 as bound (an integer bigint, text text,
 * NULL left to the server); 1 all left to the server (a column or a
 * function of another type); 2 integers left to it and the rest text (a
 * function taking int4 next to a NULL); from 3 on, the NULLs typed text or
 * bigint after the bits of t - 3, for a parameter the server cannot type
 * from its uses, as in (?1 IS NULL OR seq > ?1). */
static void typing(pg_stmt *s, int t)
{
    int null_index = 0;
    for (int i = 0; i < s->nparams; i++) {
        int k = s->params[i].kind;
        int null = k == BOUND_NONE || k == BOUND_NULL;
        Oid o = PG_OID_UNKNOWN;
        if (t == 0) {
            o = k == BOUND_INT ? PG_OID_INT8 : k == BOUND_TEXT ? PG_OID_TEXT : PG_OID_UNKNOWN;
        } else if (t == 2) {
            o = k == BOUND_INT ? PG_OID_UNKNOWN : PG_OID_TEXT;
        } else if (t >= 3 && !null) {
            o = k == BOUND_INT ? PG_OID_INT8 : PG_OID_TEXT;
        } else if (t >= 3) {
            int bit = null_index < PG_NULL_TYPINGS_MAX ? null_index : PG_NULL_TYPINGS_MAX - 1;
            o = ((t - 3) >> bit) & 1 ? PG_OID_INT8 : PG_OID_TEXT;
            null_index++;
        }
        s->types[i] = o;
    }
}

/* Prepares s on its connection's current session, trying the typings in
 * turn while the server objects to the parameters' types. Inside a
 * transaction a failed prepare would abort it (on SQLite it leaves the
 * transaction as it was), so the tries run in a savepoint of their own:
 * two more round trips, once per statement and session. Returns SP_DB_OK or an error code (logged).
 */
static int prepare_typed(pg_stmt *s)
{
    pg_db *db = s->db;
    int guarded = PQtransactionStatus(db->conn) == PQTRANS_INTRANS;
    if (guarded) {
        PGresult *r = PQexec(db->conn, "SAVEPOINT sp_db_prepare");
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            set_error(db, r);
        PQclear(r);
        if (!ok)
            return db->errcode;
    }
    int rc = SP_DB_ERROR;
    for (int t = 0, n = typings(s); t < n; t++) {
        typing(s, t);
        PGresult *r = PQprepare(db->conn, s->name, s->sql, s->nparams, s->types);
        if (PQresultStatus(r) == PGRES_COMMAND_OK) {
            PQclear(r);
            rc = SP_DB_OK;
            break;
        }
        rc = set_error(db, r);
        int retry = type_trouble(r);
        PQclear(r);
        if (!retry)
            break;
        if (guarded) {
            r = PQexec(db->conn, "ROLLBACK TO SAVEPOINT sp_db_prepare");
            PQclear(r);
        }
    }
    if (guarded) {
        PGresult *r = PQexec(db->conn, rc == SP_DB_OK ? "RELEASE sp_db_prepare"
                                                      : "ROLLBACK TO SAVEPOINT sp_db_prepare; "
                                                        "RELEASE sp_db_prepare");
        PQclear(r);
    }
    if (rc == SP_DB_OK)
        s->generation = db->generation;
    else
        sp_error("store", "prepare failed: %s: %s", db->errmsg, s->sql);
    return rc;
}

int sp_db_pg_prepare(sp_db *d, const char *sql, sp_db_stmt **out)
{
    pg_db *db = DB(d);
    *out = NULL;
    pg_stmt *s = calloc(1, sizeof *s);
    if (!s)
        return SP_DB_NOMEM;
    s->base.kind = SP_DB_POSTGRES;
    s->db = db;
    s->row = -1;
    s->sql = sp_db_pg_renumber(sql, &s->nparams);
    if (!s->sql) {
        free(s);
        sp_error("store", "prepare failed: bad parameters or no memory: %s", sql);
        return set_error_text(db, "bad parameter number");
    }
    if (s->nparams > 0) {
        s->params = calloc((size_t)s->nparams, sizeof *s->params);
        s->values = calloc((size_t)s->nparams, sizeof *s->values);
        s->types = calloc((size_t)s->nparams, sizeof *s->types);
        if (!s->params || !s->values || !s->types) {
            sp_db_pg_finalize(&s->base);
            return SP_DB_NOMEM;
        }
    }
    snprintf(s->name, sizeof s->name, "sp%u", db->next_name++);
    s->is_commit = sp_db_pg_commits(sql);
    /* Without parameters there is nothing to learn from a binding:
     * prepared now, so that a statement the server refuses fails here, as
     * on SQLite (the store reads a missing table so). */
    if (s->nparams == 0) {
        int rc = ensure(db);
        int idle = PQtransactionStatus(db->conn) == PQTRANS_IDLE;
        if (rc == SP_DB_OK && (rc = prepare_typed(s)) != SP_DB_OK && recovered(db, idle))
            rc = prepare_typed(s);
        if (rc != SP_DB_OK) {
            sp_db_pg_finalize(&s->base);
            return rc;
        }
    }
    *out = &s->base;
    return SP_DB_OK;
}

void sp_db_pg_finalize(sp_db_stmt *st)
{
    pg_stmt *s = ST(st);
    pg_db *db = s->db;
    PQclear(s->res);
    /* The server keeps a prepared statement for the session's life: it is
     * dropped with the next call made outside a transaction (drop_pending),
     * not now, which would cost a round trip per statement when a
     * connection closes with its cache, and could fail a transaction. */
    if (s->generation == db->generation) {
        char sql[32];
        int n = snprintf(sql, sizeof sql, "DEALLOCATE %s;", s->name);
        if (db->pending_len + (size_t)n + 1 > db->pending_cap) {
            size_t cap = db->pending_cap ? db->pending_cap * 2 : 256;
            char *p = realloc(db->pending, cap);
            if (p) {
                db->pending = p;
                db->pending_cap = cap;
            }
        }
        if (db->pending_len + (size_t)n + 1 <= db->pending_cap) { /* else left to the session */
            memcpy(db->pending + db->pending_len, sql, (size_t)n + 1);
            db->pending_len += (size_t)n;
        }
    }
    for (int i = 0; i < s->nparams && s->params; i++)
        free(s->params[i].copy);
    free(s->params);
    free(s->values);
    free(s->types);
    free(s->sql);
    free(s);
}

/* The parameter i (1-based) of s, or NULL when out of range. */
static pg_param *param(pg_stmt *s, int i)
{
    return i >= 1 && i <= s->nparams ? &s->params[i - 1] : NULL;
}

int sp_db_pg_bind_int64(sp_db_stmt *st, int i, int64_t v)
{
    pg_stmt *s = ST(st);
    pg_param *p = param(s, i);
    if (!p)
        return set_error_text(s->db, "parameter number out of range");
    snprintf(p->num, sizeof p->num, "%" PRId64, v);
    p->kind = BOUND_INT;
    s->values[i - 1] = p->num;
    return SP_DB_OK;
}

int sp_db_pg_bind_text(sp_db_stmt *st, int i, const char *v, int copy)
{
    pg_stmt *s = ST(st);
    pg_param *p = param(s, i);
    if (!p)
        return set_error_text(s->db, "parameter number out of range");
    if (!v)
        return sp_db_pg_bind_null(st, i);
    if (copy) {
        size_t n = strlen(v) + 1;
        if (n > p->copy_cap) {
            char *c = realloc(p->copy, n);
            if (!c)
                return SP_DB_NOMEM;
            p->copy = c;
            p->copy_cap = n;
        }
        memcpy(p->copy, v, n);
        v = p->copy;
    }
    p->kind = BOUND_TEXT;
    s->values[i - 1] = v;
    return SP_DB_OK;
}

int sp_db_pg_bind_null(sp_db_stmt *st, int i)
{
    pg_stmt *s = ST(st);
    pg_param *p = param(s, i);
    if (!p)
        return set_error_text(s->db, "parameter number out of range");
    p->kind = BOUND_NULL;
    s->values[i - 1] = NULL;
    return SP_DB_OK;
}

int sp_db_pg_bind_count(sp_db_stmt *st)
{
    return ST(st)->nparams;
}

/* Runs s with its bindings (preparing it first on a new session) and
 * keeps its result. Returns SP_DB_OK or an error code. */
static int run(pg_stmt *s)
{
    pg_db *db = s->db;
    for (int attempt = 0;; attempt++) {
        int rc = ensure(db);
        if (rc != SP_DB_OK)
            return rc;
        int idle = PQtransactionStatus(db->conn) == PQTRANS_IDLE;
        if (s->generation != db->generation && (rc = prepare_typed(s)) != SP_DB_OK) {
            if (attempt == 0 && recovered(db, idle))
                continue;
            return rc;
        }
        PGresult *res = PQexecPrepared(db->conn, s->name, s->nparams, s->values, NULL, NULL, 0);
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK || st == PGRES_EMPTY_QUERY) {
            if (s->is_commit && commit_rolled_back(res)) {
                PQclear(res);
                return set_error_text(db, "COMMIT of a failed transaction rolled it back");
            }
            int n = changes_of(res);
            if (n >= 0)
                db->changes = n;
            s->res = res;
            s->nrows = PQntuples(res);
            s->row = -1;
            return SP_DB_OK;
        }
        rc = set_error(db, res);
        PQclear(res);
        if (attempt == 0 && recovered(db, idle))
            continue;
        return rc;
    }
}

int sp_db_pg_step(sp_db_stmt *st)
{
    pg_stmt *s = ST(st);
    if (!s->res) {
        int rc = run(s);
        if (rc != SP_DB_OK)
            return rc;
    }
    if (s->row < s->nrows)
        s->row++;
    return s->row < s->nrows ? SP_DB_ROW : SP_DB_DONE;
}

void sp_db_pg_reset(sp_db_stmt *st)
{
    pg_stmt *s = ST(st);
    PQclear(s->res);
    s->res = NULL;
    s->row = -1;
    s->nrows = 0;
    for (int i = 0; i < s->nparams; i++) {
        s->params[i].kind = BOUND_NONE;
        s->values[i] = NULL;
    }
}

int sp_db_pg_column_count(sp_db_stmt *st)
{
    pg_stmt *s = ST(st);
    return s->res ? PQnfields(s->res) : 0;
}

/* Whether s stands on a row that has a column i. */
static int on_column(pg_stmt *s, int i)
{
    return s->res && s->row >= 0 && s->row < s->nrows && i >= 0 && i < PQnfields(s->res);
}

int64_t sp_db_pg_column_int64(sp_db_stmt *st, int i)
{
    pg_stmt *s = ST(st);
    if (!on_column(s, i) || PQgetisnull(s->res, s->row, i))
        return 0;
    const char *v = PQgetvalue(s->res, s->row, i);
    switch (PQftype(s->res, i)) {
    case PG_OID_BOOL:
        return v[0] == 't';
    case PG_OID_FLOAT4:
    case PG_OID_FLOAT8: {
        /* Truncated toward zero, as SQLite reads a real as an integer;
         * out of range clamps. */
        double d = strtod(v, NULL);
        return d >= 9223372036854775807.0    ? INT64_MAX
               : d <= -9223372036854775808.0 ? INT64_MIN
                                             : (int64_t)d;
    }
    default:
        /* Integers, and numeric (a sum() of bigints, an avg()): its digits
         * up to the point are the value truncated toward zero. */
        return strtoll(v, NULL, 10);
    }
}

const char *sp_db_pg_column_text(sp_db_stmt *st, int i)
{
    pg_stmt *s = ST(st);
    if (!on_column(s, i) || PQgetisnull(s->res, s->row, i))
        return NULL;
    const char *v = PQgetvalue(s->res, s->row, i);
    /* As SQLite, whose comparisons are integers, would write it. */
    if (PQftype(s->res, i) == PG_OID_BOOL)
        return v[0] == 't' ? "1" : "0";
    return v;
}

int sp_db_pg_column_is_null(sp_db_stmt *st, int i)
{
    pg_stmt *s = ST(st);
    return !on_column(s, i) || PQgetisnull(s->res, s->row, i);
}
