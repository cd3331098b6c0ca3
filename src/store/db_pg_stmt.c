/*
 * db_pg_stmt.c - db.h's statements on PostgreSQL (connections: db_pg.c).
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
 * which the first step fetches: one round trip per execution, and the
 * store may run other statements on the connection while it reads rows.
 */
#include "store/db_pg_internal.h"
#include "store/db_pg_sql.h"

#include "util/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
 * two more round trips, once per statement and session. Returns SP_DB_OK
 * or an error code (logged). */
static int prepare_typed(pg_stmt *s)
{
    pg_db *db = s->db;
    if (sp_db_pg__flush_deferred(db) != SP_DB_OK)
        return db->errcode;
    int guarded = PQtransactionStatus(db->conn) == PQTRANS_INTRANS;
    if (guarded) {
        PGresult *r = PQexec(db->conn, "SAVEPOINT sp_db_prepare");
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            sp_db_pg__set_error(db, r);
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
        rc = sp_db_pg__set_error(db, r);
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
        return sp_db_pg__set_error_text(db, "bad parameter number");
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
    s->deferrable = s->nparams == 0 &&
                    (sp_db_pg_first_word(sql, "SAVEPOINT") || sp_db_pg_first_word(sql, "RELEASE"));
    /* Without parameters there is nothing to learn from a binding:
     * prepared now, so that a statement the server refuses fails here, as
     * on SQLite (the store reads a missing table so). */
    if (s->nparams == 0) {
        int rc = sp_db_pg__ensure(db);
        int idle = PQtransactionStatus(db->conn) == PQTRANS_IDLE;
        if (rc == SP_DB_OK && (rc = prepare_typed(s)) != SP_DB_OK && sp_db_pg__recovered(db, idle))
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
    for (int i = 0; i < db->ndeferred; i++)
        if (db->deferred[i] == s) {
            sp_db_pg__flush_deferred(db); /* its turn is now */
            break;
        }
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
        return sp_db_pg__set_error_text(s->db, "parameter number out of range");
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
        return sp_db_pg__set_error_text(s->db, "parameter number out of range");
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
        return sp_db_pg__set_error_text(s->db, "parameter number out of range");
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
        int rc = sp_db_pg__ensure(db);
        if (rc != SP_DB_OK)
            return rc;
        int idle = PQtransactionStatus(db->conn) == PQTRANS_IDLE;
        if (s->generation != db->generation && (rc = prepare_typed(s)) != SP_DB_OK) {
            if (attempt == 0 && sp_db_pg__recovered(db, idle))
                continue;
            return rc;
        }
        PGresult *res;
        if (db->ndeferred > 0) {
            if (!(res = sp_db_pg__exec_after_deferred(s)))
                return db->errcode; /* in a transaction: not retried */
        } else {
            res = PQexecPrepared(db->conn, s->name, s->nparams, s->values, NULL, NULL, 0);
        }
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK || st == PGRES_EMPTY_QUERY) {
            if (s->is_commit && sp_db_pg__commit_rolled_back(res)) {
                PQclear(res);
                return sp_db_pg__set_error_text(db,
                                                "COMMIT of a failed transaction rolled it back");
            }
            int n = sp_db_pg__changes_of(res);
            if (n >= 0)
                db->changes = n;
            s->res = res;
            s->nrows = PQntuples(res);
            s->row = -1;
            return SP_DB_OK;
        }
        rc = sp_db_pg__set_error(db, res);
        PQclear(res);
        if (attempt == 0 && sp_db_pg__recovered(db, idle))
            continue;
        return rc;
    }
}

int sp_db_pg_step(sp_db_stmt *st)
{
    pg_stmt *s = ST(st);
    if (s->deferred || (!s->res && sp_db_pg__defer(s)))
        return SP_DB_DONE;
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
    s->deferred = 0;
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
