/*
 * events.c - writing event rows and their recipients inside a write
 * transaction.
 */
#include "store/internal.h"
#include "store/events.h"

#include <stdlib.h>

#include "util/err.h"
#include "util/id.h"
#include "util/time.h"

#include <stddef.h>
#include <string.h>

static const char SQL_EVENT_INSERT[] =
    "INSERT INTO events (id, type, subject, time, data, initiator) VALUES (?, ?, ?, ?, ?, ?)";
static const char SQL_RECIPIENT_INSERT[] =
    "INSERT INTO event_recipients (user_seq, event_seq) VALUES (?, ?) ON CONFLICT DO NOTHING";

int sp_store__event_add(sp_conn *w, const char *type, const char *subject, json_t *data,
                        const int64_t *recipients, size_t recipient_count, int64_t *seq_out)
{
    char id[SP_ID_LEN];
    if (sp_id_uuid7(id) < 0)
        return SP_ERR_IO;
    char *text = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return SP_ERR_NOMEM;
    sp_db_stmt *s = sp_store__stmt(w, SQL_EVENT_INSERT);
    if (!s) {
        free(text);
        return SP_ERR_DB;
    }
    sp_db_bind_text(s, 1, id);
    sp_db_bind_text(s, 2, type);
    sp_db_bind_text(s, 3, subject);
    sp_db_bind_int64(s, 4, sp_time_now_ms());
    sp_db_bind_text(s, 5, text);
    const char *initiator = sp_store__initiator();
    if (initiator)
        sp_db_bind_text(s, 6, initiator);
    else
        sp_db_bind_null(s, 6);
    int rc = sp_db_step(s);
    sp_store__done(s);
    free(text);
    if (rc != SP_DB_DONE)
        return sp_store__err(w, rc, "insert event");
    int64_t seq = sp_db_last_id(w->db);
    /* The writer connection lives inside the store: tell the commit that
     * listeners are to be woken. */
    sp_store *st = (sp_store *)((char *)w - offsetof(sp_store, writer));
    st->events_written = 1;
    s = sp_store__stmt(w, SQL_RECIPIENT_INSERT);
    if (!s)
        return SP_ERR_DB;
    for (size_t i = 0; i < recipient_count; i++) {
        sp_db_bind_int64(s, 1, recipients[i]);
        sp_db_bind_int64(s, 2, seq);
        rc = sp_db_step(s);
        sp_db_reset(s);
        if (rc != SP_DB_DONE) {
            sp_store__done(s);
            return sp_store__err(w, rc, "insert event recipient");
        }
    }
    sp_store__done(s);
    if (seq_out)
        *seq_out = seq;
    return 0;
}

int sp_store_on_commit(sp_store *st, sp_store_commit_fn fn, void *ctx)
{
    if (st->listener_count == SP_STORE_COMMIT_LISTENERS)
        return SP_ERR_TOO_LARGE;
    st->listeners[st->listener_count].fn = fn;
    st->listeners[st->listener_count].ctx = ctx;
    st->listener_count++;
    return 0;
}

#define EVENT_COLS "e.seq, e.id, e.type, e.subject, e.time, e.data, e.initiator"

/* Published: seq <= relay_cursor.published_seq (schema/003_relay_cursor.sql). */
#define UNPUBLISHED(D)                                                                            \
    "SELECT " EVENT_COLS " FROM events e WHERE e.seq > " D##_GREATEST "(?, (SELECT published_seq" \
    " FROM relay_cursor)) ORDER BY e.seq LIMIT ?"
static const char *const SQL_UNPUBLISHED[2] = SP_SQL_BOTH(UNPUBLISHED);
static const char SQL_MARK[] =
    "UPDATE relay_cursor SET published_seq = ?1 WHERE published_seq < ?1";
static const char SQL_SET_CURSOR[] = "UPDATE relay_cursor SET published_seq = ?1";
static const char SQL_CURSOR[] = "SELECT published_seq FROM relay_cursor";
/* Sequence numbers are not reused and unpublished events are never
 * deleted, so the backlog is the distance from the cursor to the newest. */
#define BACKLOG(D)                                                                                \
    "SELECT " D##_GREATEST "(0, (SELECT coalesce(max(seq), 0) FROM events) - published_seq),"     \
    " coalesce((SELECT time FROM events WHERE seq > published_seq ORDER BY seq LIMIT 1), 0)"      \
    " FROM relay_cursor"
static const char *const SQL_BACKLOG[2] = SP_SQL_BOTH(BACKLOG);
static const char SQL_EVENT_GET[] =
    "SELECT " EVENT_COLS ", EXISTS (SELECT 1 FROM event_recipients r WHERE r.event_seq = e.seq"
    " AND r.user_seq = ?) FROM events e WHERE e.id = ?";
static const char SQL_FOR_USER[] =
    "SELECT " EVENT_COLS ", r.affected FROM event_recipients r JOIN events e"
    " ON e.seq = r.event_seq WHERE r.user_seq = ? AND r.event_seq > ? ORDER BY r.event_seq"
    " LIMIT ?";
static const char SQL_MARK_AFFECTED[] =
    "UPDATE event_recipients SET affected = 1 WHERE event_seq = ?1 AND user_seq IN"
    " (SELECT user_seq FROM group_members WHERE group_seq = ?2) AND user_seq <> ?3";
static const char SQL_RANGE[] = "SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM events";
static const char SQL_PRUNE[] =
    "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE time < ? AND seq <="
    " (SELECT published_seq FROM relay_cursor) ORDER BY seq LIMIT ?)";
static const char SQL_NEWEST[] = "SELECT coalesce(max(seq), 0) FROM events";
static const char SQL_PRUNE_INBOUND[] =
    "DELETE FROM inbound_events WHERE id IN (SELECT id FROM inbound_events"
    " WHERE received_at < ? LIMIT ?)";

/* Rows deleted by one prune call: short enough not to stall writers. */
#define SP_PRUNE_BATCH 2000

static void read_event(sp_db_stmt *s, sp_event *e)
{
    e->seq = sp_db_column_int64(s, 0);
    e->id = sp_db_column_text(s, 1);
    e->type = sp_db_column_text(s, 2);
    e->subject = sp_db_column_text(s, 3);
    e->time_ms = sp_db_column_int64(s, 4);
    e->data = sp_db_column_text(s, 5);
    e->initiator = sp_db_column_text(s, 6); /* NULL when none */
    e->affected = 0;
}

/* Steps a prepared event query, calling fn per row; with_affected: its
 * column 7 is event_recipients.affected. */
static int each_event_ex(sp_conn *c, sp_db_stmt *s, int with_affected, sp_event_fn fn, void *ctx)
{
    int rc, err = 0;
    while ((rc = sp_db_step(s)) == SP_DB_ROW) {
        sp_event e;
        read_event(s, &e);
        if (with_affected)
            e.affected = sp_db_column_int64(s, 7);
        err = fn(&e, ctx);
        if (err < 0)
            break;
    }
    if (err == 0 && rc != SP_DB_ROW && rc != SP_DB_DONE)
        err = sp_store__err(c, rc, "read events");
    sp_store__done(s);
    return err;
}

static int each_event(sp_conn *c, sp_db_stmt *s, sp_event_fn fn, void *ctx)
{
    return each_event_ex(c, s, 0, fn, ctx);
}

int sp_store__event_mark_affected(sp_conn *w, int64_t event_seq, int64_t group_seq,
                                  int64_t except_seq)
{
    sp_db_stmt *s = sp_store__stmt(w, SQL_MARK_AFFECTED);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, event_seq);
    sp_db_bind_int64(s, 2, group_seq);
    sp_db_bind_int64(s, 3, except_seq);
    return sp_store__step_done(w, s, "mark affected recipients");
}

int sp_store_events_unpublished(sp_store *st, int64_t after_seq, int limit, sp_event_fn fn,
                                void *ctx)
{
    sp_conn *c = sp_store__reader(st);
    sp_db_stmt *s = c ? sp_store__stmt(c, SP_SQL(c, SQL_UNPUBLISHED)) : NULL;
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, after_seq);
    sp_db_bind_int64(s, 2, limit);
    return each_event(c, s, fn, ctx);
}

/* Runs one cursor update (sql binds the sequence number as ?1).
 * Publication state is not part of any listing, and a cursor lost to a
 * power failure is reconciled with the stream at the next start. */
static int cursor_update(sp_store *st, const char *sql, int64_t seq)
{
    return sp_store__bookkeep(st, sql, &seq, 1, NULL, "relay cursor");
}

int sp_store_events_mark_published(sp_store *st, int64_t through_seq)
{
    return cursor_update(st, SQL_MARK, through_seq);
}

int sp_store_events_set_published(sp_store *st, int64_t seq)
{
    return cursor_update(st, SQL_SET_CURSOR, seq < 0 ? 0 : seq);
}

int sp_store_events_published(sp_store *st, int64_t *seq)
{
    sp_conn *c = sp_store__reader(st);
    sp_db_stmt *s = c ? sp_store__stmt(c, SQL_CURSOR) : NULL;
    if (!s)
        return SP_ERR_DB;
    int rc = sp_db_step(s);
    int err = 0;
    if (rc == SP_DB_ROW)
        *seq = sp_db_column_int64(s, 0);
    else
        err = sp_store__err(c, rc, "read relay cursor");
    sp_store__done(s);
    return err;
}

int sp_store_events_backlog(sp_store *st, int64_t *count, int64_t *oldest_ms)
{
    sp_conn *c = sp_store__reader(st);
    sp_db_stmt *s = c ? sp_store__stmt(c, SP_SQL(c, SQL_BACKLOG)) : NULL;
    if (!s)
        return SP_ERR_DB;
    int rc = sp_db_step(s);
    if (rc == SP_DB_ROW) {
        *count = sp_db_column_int64(s, 0);
        *oldest_ms = sp_db_column_int64(s, 1);
    }
    sp_store__done(s);
    return rc == SP_DB_ROW ? 0 : sp_store__err(c, rc, "event backlog");
}

int sp_store_event_get(sp_store *st, const char *id, int64_t user_seq, int as_admin, sp_event_fn fn,
                       void *ctx)
{
    sp_conn *c = sp_store__reader(st);
    sp_db_stmt *s = c ? sp_store__stmt(c, SQL_EVENT_GET) : NULL;
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, user_seq);
    sp_db_bind_text(s, 2, id);
    int rc = sp_db_step(s), err;
    if (rc == SP_DB_ROW && (as_admin || sp_db_column_int64(s, 7))) {
        sp_event e;
        read_event(s, &e);
        err = fn(&e, ctx);
    } else if (rc == SP_DB_ROW || rc == SP_DB_DONE) {
        err = SP_ERR_NOT_FOUND;
    } else {
        err = sp_store__err(c, rc, "get event");
    }
    sp_store__done(s);
    return err;
}

int sp_store_events_for_user(sp_store *st, int64_t user_seq, int64_t after, int limit,
                             sp_event_fn fn, void *ctx)
{
    sp_conn *c = sp_store__reader(st);
    sp_db_stmt *s = c ? sp_store__stmt(c, SQL_FOR_USER) : NULL;
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, user_seq);
    sp_db_bind_int64(s, 2, after);
    sp_db_bind_int64(s, 3, limit);
    return each_event_ex(c, s, 1, fn, ctx);
}

int sp_store_events_range(sp_store *st, int64_t *oldest, int64_t *newest)
{
    sp_conn *c = sp_store__reader(st);
    sp_db_stmt *s = c ? sp_store__stmt(c, SQL_RANGE) : NULL;
    if (!s)
        return SP_ERR_DB;
    int rc = sp_db_step(s);
    if (rc == SP_DB_ROW) {
        *oldest = sp_db_column_int64(s, 0);
        *newest = sp_db_column_int64(s, 1);
    }
    sp_store__done(s);
    return rc == SP_DB_ROW ? 0 : sp_store__err(c, rc, "event range");
}

int sp_store_events_prune(sp_store *st, int64_t before_ms, int *deleted)
{
    if (deleted)
        *deleted = 0;
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    st->invisible = 1;
    sp_db_stmt *s = sp_store__stmt(w, SQL_PRUNE);
    sp_db_stmt *s2 = sp_store__stmt(w, SQL_PRUNE_INBOUND);
    sp_db_stmt *s3 = sp_store__stmt(w, SQL_NEWEST);
    if (!s || !s2 || !s3) {
        sp_store__rollback(st);
        return SP_ERR_DB;
    }
    /* Subscriptions whose owner has nothing to be told of pass the events
     * first: the webhook sender's own catch-up runs every few seconds,
     * and not while this process was stopped, so pruning after a long
     * stop would otherwise make every idle subscription look as if it
     * missed events. */
    int step = sp_db_step(s3);
    int64_t newest = step == SP_DB_ROW ? sp_db_column_int64(s3, 0) : 0;
    sp_store__done(s3);
    int err = step == SP_DB_ROW ? sp_store__webhooks_catch_up(w, newest, NULL)
                                : sp_store__err(w, step, "newest event");
    if (err < 0) {
        sp_store__rollback(st);
        return err;
    }
    sp_db_bind_int64(s, 1, before_ms);
    sp_db_bind_int64(s, 2, SP_PRUNE_BATCH);
    int rc = sp_db_step(s);
    int n = sp_db_changes(w->db);
    sp_store__done(s);
    if (rc == SP_DB_DONE) {
        sp_db_bind_int64(s2, 1, before_ms);
        sp_db_bind_int64(s2, 2, SP_PRUNE_BATCH);
        rc = sp_db_step(s2);
        sp_store__done(s2);
    }
    if (rc != SP_DB_DONE) {
        sp_store__rollback(st);
        return sp_store__err(w, rc, "prune events");
    }
    rc = sp_store__commit(st);
    if (rc == 0 && deleted)
        *deleted = n;
    return rc;
}

static const char SQL_RECIPIENTS_AFTER[] =
    "SELECT user_seq, event_seq FROM event_recipients WHERE (event_seq, user_seq) > (?, ?)"
    " ORDER BY event_seq, user_seq LIMIT ?";

int sp_store_event_recipients_after(sp_store *st, int64_t after_seq, int64_t after_user, int limit,
                                    sp_recipient_fn fn, void *ctx)
{
    sp_conn *c = sp_store__reader(st);
    sp_db_stmt *s = c ? sp_store__stmt(c, SQL_RECIPIENTS_AFTER) : NULL;
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, after_seq);
    sp_db_bind_int64(s, 2, after_user);
    sp_db_bind_int64(s, 3, limit);
    int rc, err = 0;
    while ((rc = sp_db_step(s)) == SP_DB_ROW) {
        err = fn(sp_db_column_int64(s, 0), sp_db_column_int64(s, 1), ctx);
        if (err < 0)
            break;
    }
    if (err == 0 && rc != SP_DB_ROW && rc != SP_DB_DONE)
        err = sp_store__err(c, rc, "event recipients");
    sp_store__done(s);
    return err;
}
