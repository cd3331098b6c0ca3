/*
 * remote_subs.c - the subscriptions this instance keeps at hosting
 * instances for remote spaces registered by URL: which are due for
 * renewal or deletion, and what came of trying (events/keeper.c does the
 * requests). No event is written: these are this instance's own
 * bookkeeping, invisible to users until a notification arrives.
 */
#include "store/internal.h"
#include "store/remotes.h"

#include "util/err.h"

#include <stdio.h>
#include <string.h>

static const char SQL_DUE_RENEW[] =
    "SELECT seq, instance, sub_id, sub_expires_at, sub_attempts FROM remotes"
    " WHERE sub_id IS NOT NULL AND sub_expires_at < ? AND sub_next_at <= ?"
    " ORDER BY sub_expires_at LIMIT ?";
static const char SQL_DUE_DELETE[] = "SELECT seq, instance, sub_id, 0, attempts FROM"
                                     " remote_unsubscribes WHERE next_at <= ? ORDER BY next_at"
                                     " LIMIT ?";

/* Appends the rows of s to out. */
static int read_due(sp_conn *c, sp_db_stmt *s, int unsubscribe, sp_remote_sub *out, int max,
                    int *n)
{
    int step;
    while (*n < max && (step = sp_db_step(s)) == SP_DB_ROW) {
        sp_remote_sub *r = &out[(*n)++];
        memset(r, 0, sizeof *r);
        r->seq = sp_db_column_int64(s, 0);
        r->unsubscribe = unsubscribe;
        sp_store__copy_text(s, 1, r->instance, sizeof r->instance);
        sp_store__copy_text(s, 2, r->sub_id, sizeof r->sub_id);
        r->expires_at = sp_db_column_int64(s, 3);
        r->attempts = sp_db_column_int64(s, 4);
    }
    sp_store__done(s);
    return *n == max || step == SP_DB_DONE ? 0
                                            : sp_store__err(c, step, "remote subscriptions due");
}

int sp_store_remote_subs_due(sp_store *st, int64_t now, int64_t renew_before_ms, sp_remote_sub *out,
                             int max, int *n)
{
    *n = 0;
    sp_conn *c = sp_store__reader(st);
    if (!c)
        return SP_ERR_DB;
    sp_db_stmt *s = sp_store__stmt(c, SQL_DUE_DELETE);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, now);
    sp_db_bind_int64(s, 2, max);
    int rc = read_due(c, s, 1, out, max, n);
    if (rc < 0 || *n == max)
        return rc;
    if (!(s = sp_store__stmt(c, SQL_DUE_RENEW)))
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, now + renew_before_ms);
    sp_db_bind_int64(s, 2, now);
    sp_db_bind_int64(s, 3, max - *n);
    return read_due(c, s, 0, out, max, n);
}

/* Outcomes by kind: [unsubscribe][outcome]. ?1 is the row's seq; a
 * renewal is matched on its sub_id too (?2), so that a space whose
 * subscription changed meanwhile is left alone. Then, as each outcome
 * needs them, the new expiry, the next try and the error, numbered on
 * from there: every statement names each parameter it is given, as
 * PostgreSQL cannot type one that it does not see. */
static const char *const SQL_OUTCOME[2][3] = {
    {"UPDATE remotes SET sub_expires_at = ?3, sub_next_at = 0, sub_attempts = 0, sub_error = NULL"
     " WHERE seq = ?1 AND sub_id = ?2",
     "UPDATE remotes SET sub_id = NULL, sub_state = NULL, sub_expires_at = NULL, sub_next_at = 0,"
     " sub_attempts = 0, sub_error = ?3 WHERE seq = ?1 AND sub_id = ?2",
     "UPDATE remotes SET sub_next_at = ?3, sub_attempts = sub_attempts + 1, sub_error = ?4"
     " WHERE seq = ?1 AND sub_id = ?2"},
    {"DELETE FROM remote_unsubscribes WHERE seq = ?1",
     "DELETE FROM remote_unsubscribes WHERE seq = ?1",
     "UPDATE remote_unsubscribes SET next_at = ?2, attempts = attempts + 1, last_error = ?3"
     " WHERE seq = ?1"},
};

int sp_store_remote_sub_outcome(sp_store *st, const sp_remote_sub *r, sp_remote_sub_outcome o,
                                int64_t expires_at, int64_t next_at, const char *error)
{
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    sp_db_stmt *s = sp_store__stmt(w, SQL_OUTCOME[r->unsubscribe ? 1 : 0][o]);
    if (!s) {
        sp_store__rollback(st);
        return SP_ERR_DB;
    }
    int i = 1;
    sp_db_bind_int64(s, i++, r->seq);
    if (!r->unsubscribe)
        sp_db_bind_text(s, i++, r->sub_id);
    if (o == SP_REMOTE_SUB_DONE && !r->unsubscribe)
        sp_db_bind_int64(s, i++, expires_at);
    if (o == SP_REMOTE_SUB_FAILED)
        sp_db_bind_int64(s, i++, next_at);
    if (i <= sp_db_bind_count(s))
        sp_db_bind_text(s, i, error); /* the error, where the outcome keeps one */
    int step = sp_db_step(s);
    sp_store__done(s);
    if (step != SP_DB_DONE) {
        int rc = sp_store__err(w, step, "remote subscription outcome");
        sp_store__rollback(st);
        return rc;
    }
    return sp_store__commit(st);
}
