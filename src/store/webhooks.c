/*
 * webhooks.c - delivery state of subscriptions: what is due, cursors,
 * failures, ends (see webhooks.h).
 *
 * The bookkeeping of a delivery (cursor, attempts, next try) commits
 * without waiting for the disk and changes nothing a listing shows: lost
 * in a power failure, it is redone, and the receiver sees a batch again,
 * which at-least-once delivery allows. Ending a subscription writes an
 * event, so it commits as every other write does.
 */
#include "store/webhooks.h"

#include "store/drives.h"
#include "store/internal.h"

#include "util/err.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FROM_SUBS " FROM subscriptions s JOIN users u ON u.seq = s.owner_seq"
/* SQL, on subscriptions s: its owner has events after its cursor. */
#define SUB_BEHIND                                                                                 \
    "EXISTS (SELECT 1 FROM event_recipients r WHERE r.user_seq = s.owner_seq"                      \
    " AND r.event_seq > s.cursor)"

/* SQL: the log's first retained seq, per dialect. SQLite: AUTOINCREMENT
 * keeps the last one used in sqlite_sequence when every row is gone.
 * PostgreSQL's sequence is no such record (it moves outside transactions,
 * and a rolled-back insert uses a number up): when every row is gone,
 * every event was pruned, which only takes published ones, so the log
 * ended at the relay's cursor. */
#define SP_LITE_FIRST_SEQ                                                                          \
    "coalesce((SELECT min(seq) FROM events),"                                                      \
    " (SELECT seq + 1 FROM sqlite_sequence WHERE name = 'events'), 1)"
#define SP_PG_FIRST_SEQ                                                                            \
    "coalesce((SELECT min(seq) FROM events), (SELECT published_seq + 1 FROM relay_cursor), 1)"
/* The statement of pair X (SP_SQL_BOTH) for st's backend, for calls that
 * pick their connection themselves. */
#define ST_SQL(st, X) ((X)[(st)->pg ? SP_DB_POSTGRES : SP_DB_SQLITE])
/* SQL, on subscriptions s: events after its cursor left the log before
 * it was told of them, in dialect D (SP_SQL_BOTH). */
#define SUB_GAP(D) "s.cursor + 1 < " D##_FIRST_SEQ

#define DUE(D)                                                                                     \
    "SELECT " SP_SUBSCRIPTION_COLS FROM_SUBS " WHERE s.next_attempt_at <= ?1"                      \
    " AND (s.lifecycle_pending IS NOT NULL OR s.ended_at IS NOT NULL OR s.expires_at <= ?1"        \
    " OR " SUB_BEHIND " OR " SUB_GAP(D) ") ORDER BY s.next_attempt_at, s.seq LIMIT ?2"
static const char *const SQL_DUE[2] = SP_SQL_BOTH(DUE);
#define FIRST(D) "SELECT " D##_FIRST_SEQ
static const char *const SQL_FIRST_SEQ[2] = SP_SQL_BOTH(FIRST);
/* SQL: the greater of the cursor and ?2 (CASE: SQLite's scalar max() is
 * PostgreSQL's GREATEST()). */
#define CURSOR_AT_LEAST_2 "CASE WHEN cursor > ?2 THEN cursor ELSE ?2 END"
static const char SQL_ADVANCE[] =
    "UPDATE subscriptions SET cursor = " CURSOR_AT_LEAST_2 ", attempts = 0, next_attempt_at = ?3,"
    " last_error = NULL WHERE seq = ?1";
static const char SQL_FAILED[] =
    "UPDATE subscriptions SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3"
    " WHERE seq = ?1";
static const char SQL_BY_SEQ[] = "SELECT " SP_SUBSCRIPTION_COLS FROM_SUBS " WHERE s.seq = ?";
static const char SQL_DELETE[] = "DELETE FROM subscriptions WHERE seq = ?";
static const char SQL_END[] =
    "UPDATE subscriptions SET ended_at = ?2, lifecycle_pending = '" SP_SUB_LIFECYCLE_REMOVED "',"
    " attempts = 0, next_attempt_at = 0, last_error = NULL WHERE seq = ?1";
static const char SQL_MISSED[] =
    "UPDATE subscriptions SET cursor = " CURSOR_AT_LEAST_2 ","
    " lifecycle_pending = coalesce(lifecycle_pending, '" SP_SUB_LIFECYCLE_MISSED "'),"
    " attempts = 0, next_attempt_at = 0 WHERE seq = ?1";
/* Both only while the note pending is still the one sent (?2): an end
 * recorded meanwhile (the access sweep of another worker) made its
 * subscriptionRemoved pending over a missed note, and is still to send. */
static const char SQL_DELETE_ENDED[] =
    "DELETE FROM subscriptions WHERE seq = ?1 AND ended_at IS NOT NULL"
    " AND coalesce(lifecycle_pending, '') = ?2";
static const char SQL_LIFECYCLE_SENT[] =
    "UPDATE subscriptions SET lifecycle_pending = NULL, attempts = 0, next_attempt_at = 0,"
    " last_error = NULL WHERE seq = ?1 AND coalesce(lifecycle_pending, '') = ?2";
/* Live subscriptions with nothing to send whose cursor is behind ?1 (the
 * newest event): none of the events after the cursor are their owner's,
 * and none left the log (that is for a missed notification to say). */
#define CATCH_UP_WHERE(D)                                                                          \
    " WHERE s.ended_at IS NULL AND s.lifecycle_pending IS NULL AND s.cursor < ?1"                  \
    " AND NOT " SUB_BEHIND " AND NOT " SUB_GAP(D)
#define CATCH_UP_ANY(D) "SELECT 1 FROM subscriptions s" CATCH_UP_WHERE(D) " LIMIT 1"
static const char *const SQL_CATCH_UP_ANY[2] = SP_SQL_BOTH(CATCH_UP_ANY);
#define CATCH_UP(D) "UPDATE subscriptions AS s SET cursor = ?1" CATCH_UP_WHERE(D)
static const char *const SQL_CATCH_UP[2] = SP_SQL_BOTH(CATCH_UP);
static const char SQL_NEWEST[] = "SELECT coalesce(max(seq), 0) FROM events";
static const char SQL_DRIVE_SUBS[] =
    "SELECT " SP_SUBSCRIPTION_COLS FROM_SUBS " WHERE s.seq > ? AND s.ended_at IS NULL"
    " AND s.drive_id IS NOT NULL ORDER BY s.seq LIMIT ?";
#define PENDING(D)                                                                                 \
    "SELECT count(*), coalesce(min(CASE WHEN s.next_attempt_at > ?1 THEN s.next_attempt_at END),"  \
    " 0) FROM subscriptions s WHERE s.lifecycle_pending IS NOT NULL"                               \
    " OR (s.ended_at IS NULL AND (" SUB_BEHIND " OR " SUB_GAP(D) "))"
static const char *const SQL_PENDING[2] = SP_SQL_BOTH(PENDING);

int sp_store_webhooks_due(sp_store *st, int64_t now_ms, sp_subscription *out, int max, int *count)
{
    *count = 0;
    sp_conn *c = sp_store__reader(st);
    sp_db_stmt *s = c ? sp_store__stmt(c, SP_SQL(c, SQL_DUE)) : NULL;
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, now_ms);
    sp_db_bind_int64(s, 2, max);
    int step;
    while (*count < max && (step = sp_db_step(s)) == SP_DB_ROW)
        sp_store__read_subscription(s, &out[(*count)++]);
    int rc = 0;
    if (*count < max && step != SP_DB_DONE)
        rc = sp_store__err(c, step, "due subscriptions");
    sp_store__done(s);
    return rc;
}

/* Reads subscription seq on c. */
static int read_by_seq(sp_conn *c, int64_t seq, sp_subscription *out)
{
    sp_db_stmt *s = c ? sp_store__stmt(c, SQL_BY_SEQ) : NULL;
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, seq);
    return sp_store__one_subscription(c, s, out, "read subscription");
}

int sp_store_webhook_get(sp_store *st, int64_t seq, sp_subscription *out)
{
    return read_by_seq(sp_store__reader(st), seq, out);
}

/* Where found_drive copies the id the drive's events are about. */
typedef struct watched_out {
    char *id;
    size_t len;
} watched_out;

static int found_drive(const sp_drive *d, void *ctx)
{
    watched_out *w = ctx;
    /* A share's mountpoint: events are about the drive that holds the
     * shared item. A remote space (and any other drive): its own id. */
    const char *id = d->shared_drive_id && !d->remote_instance ? d->shared_drive_id : d->id;
    if (w->id)
        snprintf(w->id, w->len, "%s", id);
    return 0;
}

int sp_store_webhook_may_read(sp_store *st, const sp_subscription *s, int *may, char *watched,
                              size_t watched_len)
{
    *may = 1;
    if (watched && watched_len)
        snprintf(watched, watched_len, "%s", s->drive_id);
    if (!s->drive_id[0])
        return 0; /* me/drives: one's own list */
    /* The drive look-ups ask only for the user's key. */
    sp_user owner = {.seq = s->owner_seq};
    watched_out w = {watched_len ? watched : NULL, watched_len};
    int rc = sp_store_drive_find(st, &owner, 0, s->drive_id, found_drive, &w);
    if (rc == SP_ERR_NOT_FOUND) {
        *may = 0;
        return 0;
    }
    return rc;
}

/* The one integer of sql (no parameters) on the reader. */
static int read_int(sp_store *st, const char *sql, int64_t *out, const char *what)
{
    sp_conn *c = sp_store__reader(st);
    sp_db_stmt *s = c ? sp_store__stmt(c, sql) : NULL;
    if (!s)
        return SP_ERR_DB;
    int step = sp_db_step(s);
    if (step == SP_DB_ROW)
        *out = sp_db_column_int64(s, 0);
    sp_store__done(s);
    return step == SP_DB_ROW ? 0 : sp_store__err(c, step, what);
}

int sp_store_webhooks_first_seq(sp_store *st, int64_t *seq)
{
    return read_int(st, ST_SQL(st, SQL_FIRST_SEQ), seq, "first event seq");
}

int sp_store_webhook_advance(sp_store *st, int64_t seq, int64_t through, int64_t now_ms)
{
    int64_t p[] = {seq, through, now_ms};
    return sp_store__bookkeep(st, SQL_ADVANCE, p, 3, NULL, "advance subscription");
}

/* Longest last_error kept: a line for the operator, not the answer. */
#define SP_WEBHOOK_ERROR_MAX 255

int sp_store_webhook_failed(sp_store *st, int64_t seq, int64_t next_ms, const char *error)
{
    char cut[SP_WEBHOOK_ERROR_MAX + 1];
    snprintf(cut, sizeof cut, "%s", error ? error : "");
    int64_t p[] = {seq, next_ms};
    return sp_store__bookkeep(st, SQL_FAILED, p, 2, cut, "record delivery failure");
}

int sp_store_webhook_missed(sp_store *st, int64_t seq, int64_t cursor)
{
    int64_t p[] = {seq, cursor};
    return sp_store__bookkeep(st, SQL_MISSED, p, 2, NULL, "record missed events");
}

int sp_store_webhook_end(sp_store *st, int64_t seq, sp_webhook_end why)
{
    sp_subscription *row = malloc(sizeof *row); /* some 9 KB */
    if (!row)
        return SP_ERR_NOMEM;
    sp_conn *w = sp_store__begin(st);
    if (!w) {
        free(row);
        return SP_ERR_DB;
    }
    int nothing = 0;
    int rc = read_by_seq(w, seq, row);
    /* Deleted or ended meanwhile, or (an expiry) renewed since the
     * sender read it: nothing to do. */
    if (rc == SP_ERR_NOT_FOUND ||
        (rc == 0 &&
         (row->ended_at || (why == SP_WEBHOOK_EXPIRED && row->expires_at > sp_time_now_ms())))) {
        rc = 0;
        nothing = 1;
        goto done;
    }
    if (rc < 0)
        goto done;
    sp_db_stmt *s;
    if (why == SP_WEBHOOK_EXPIRED) {
        rc = sp_store__exec_seq(w, SQL_DELETE, seq, "delete expired subscription");
    } else {
        s = sp_store__stmt(w, SQL_END);
        if (!s) {
            rc = SP_ERR_DB;
            goto done;
        }
        sp_db_bind_int64(s, 1, seq);
        sp_db_bind_int64(s, 2, sp_time_now_ms());
        rc = sp_store__step_done(w, s, "end subscription");
    }
    if (rc == 0)
        rc = sp_store__subscription_event(w, SP_EVENT_SUBSCRIPTION_DELETED, row,
                                          why == SP_WEBHOOK_EXPIRED ? "expired" : "accessLost",
                                          NULL);
done:
    free(row);
    int ended = rc == 0 && !nothing;
    rc = sp_store__finish(st, rc);
    return rc < 0 ? rc : ended;
}

/* Runs sql (?1 seq, ?2 sent) on w. */
static int exec_sent(sp_conn *w, const char *sql, int64_t seq, const char *sent, const char *what)
{
    sp_db_stmt *s = sp_store__stmt(w, sql);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, seq);
    sp_db_bind_text(s, 2, sent);
    return sp_store__step_done(w, s, what);
}

int sp_store_webhook_lifecycle_done(sp_store *st, int64_t seq, const char *sent)
{
    sp_conn *w = sp_store__begin_relaxed(st);
    if (!w)
        return SP_ERR_DB;
    st->invisible = 1;
    int rc = exec_sent(w, SQL_DELETE_ENDED, seq, sent, "delete ended subscription");
    if (rc == 0)
        rc = exec_sent(w, SQL_LIFECYCLE_SENT, seq, sent, "lifecycle notification sent");
    return sp_store__finish(st, rc);
}

int sp_store__webhooks_catch_up(sp_conn *w, int64_t newest, int *moved)
{
    int rc = sp_store__exec_seq(w, SP_SQL(w, SQL_CATCH_UP), newest, "catch up subscriptions");
    if (moved)
        *moved = rc == 0 ? sp_db_changes(w->db) : 0;
    return rc;
}

int sp_store_webhooks_catch_up(sp_store *st, int *moved)
{
    if (moved)
        *moved = 0;
    int64_t newest = 0;
    int rc = read_int(st, SQL_NEWEST, &newest, "newest event");
    if (rc < 0)
        return rc;
    /* Most rounds find nothing to move: ask the reader before taking the
     * writer. A newest read a moment ago is still right: the cursor only
     * passes events that are not the owner's, checked in the write. */
    rc = sp_store__any_row(st, ST_SQL(st, SQL_CATCH_UP_ANY), newest);
    if (rc <= 0)
        return rc;
    sp_conn *w = sp_store__begin_relaxed(st);
    if (!w)
        return SP_ERR_DB;
    st->invisible = 1;
    int n = 0;
    rc = sp_store__finish(st, sp_store__webhooks_catch_up(w, newest, &n));
    if (rc == 0 && moved)
        *moved = n;
    return rc;
}

int sp_store_webhooks_drive_subs(sp_store *st, int64_t after, int limit, sp_subscription_fn fn,
                                 void *ctx)
{
    sp_conn *c = sp_store__reader(st);
    sp_db_stmt *s = c ? sp_store__stmt(c, SQL_DRIVE_SUBS) : NULL;
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, after);
    sp_db_bind_int64(s, 2, limit);
    return sp_store__each_subscription(c, s, fn, ctx, "drive subscriptions");
}

int sp_store_webhooks_pending(sp_store *st, int64_t now_ms, int64_t *behind, int64_t *next_ms)
{
    sp_conn *c = sp_store__reader(st);
    sp_db_stmt *s = c ? sp_store__stmt(c, SP_SQL(c, SQL_PENDING)) : NULL;
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, now_ms);
    int step = sp_db_step(s);
    if (step == SP_DB_ROW) {
        *behind = sp_db_column_int64(s, 0);
        *next_ms = sp_db_column_int64(s, 1);
    }
    sp_store__done(s);
    return step == SP_DB_ROW ? 0 : sp_store__err(c, step, "pending subscriptions");
}
