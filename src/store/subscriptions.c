/*
 * subscriptions.c - change notification subscriptions: create, read,
 * renew, delete, each write with its event.
 */
#include "store/subscriptions.h"

#include "store/events.h"
#include "store/internal.h"

#include "util/err.h"
#include "util/id.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sp_subscription_change_types_str(unsigned bits, char *out, size_t outlen)
{
    static const struct {
        unsigned bit;
        const char *name;
    } kinds[] = {
        {SP_SUB_CREATED, "created"}, {SP_SUB_UPDATED, "updated"}, {SP_SUB_DELETED, "deleted"}};
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (!(bits & kinds[i].bit))
            continue;
        int n = snprintf(out + len, outlen - len, "%s%s", len ? "," : "", kinds[i].name);
        if (n < 0 || (size_t)n >= outlen - len)
            return;
        len += (size_t)n;
    }
}

void sp_store__read_subscription(sp_db_stmt *q, sp_subscription *out)
{
    out->seq = sp_db_column_int64(q, 0);
    sp_store__copy_text(q, 1, out->id, sizeof out->id);
    out->owner_seq = sp_db_column_int64(q, 2);
    sp_store__copy_text(q, 3, out->owner_id, sizeof out->owner_id);
    sp_store__copy_text(q, 4, out->resource, sizeof out->resource);
    sp_store__copy_text(q, 5, out->drive_id, sizeof out->drive_id);
    out->change_types = (unsigned)sp_db_column_int64(q, 6);
    sp_store__copy_text(q, 7, out->notification_url, sizeof out->notification_url);
    sp_store__copy_text(q, 8, out->lifecycle_url, sizeof out->lifecycle_url);
    sp_store__copy_text(q, 9, out->client_state, sizeof out->client_state);
    sp_store__copy_text(q, 10, out->delegate, sizeof out->delegate);
    out->expires_at = sp_db_column_int64(q, 11);
    out->created_at = sp_db_column_int64(q, 12);
    out->cursor = sp_db_column_int64(q, 13);
    out->attempts = sp_db_column_int64(q, 14);
    out->next_attempt_at = sp_db_column_int64(q, 15);
    sp_store__copy_text(q, 16, out->last_error, sizeof out->last_error);
    out->ended_at = sp_db_column_int64(q, 17);
    sp_store__copy_text(q, 18, out->lifecycle_pending, sizeof out->lifecycle_pending);
}

int sp_store__subscription_event(sp_conn *w, const char *type, const sp_subscription *s,
                                 const char *reason, int64_t *seq_out)
{
    char kinds[32], expires[SP_TIME_RFC3339_LEN];
    sp_subscription_change_types_str(s->change_types, kinds, sizeof kinds);
    sp_time_format_rfc3339(s->expires_at, expires);
    json_t *data = json_pack("{s:s, s:s, s:s, s:s}", "subscriptionId", s->id, "resource",
                             s->resource, "changeType", kinds, "expirationDateTime", expires);
    if (!data)
        return SP_ERR_NOMEM;
    if (s->delegate[0])
        json_object_set_new(data, "delegate", json_string(s->delegate));
    if (reason)
        json_object_set_new(data, "reason", json_string(reason));
    int rc = sp_store__event_add(w, type, s->id, data, &s->owner_seq, 1, seq_out);
    json_decref(data);
    return rc;
}

static const char SQL_COUNT_OWNER[] = "SELECT count(*) FROM subscriptions WHERE owner_seq = ?";
static const char SQL_INSERT[] =
    "INSERT INTO subscriptions (id, owner_seq, resource, drive_id, change_types,"
    " notification_url, lifecycle_url, client_state, delegate, expires_at, created_at, cursor)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
static const char SQL_BY_OWNER[] = "SELECT " SP_SUBSCRIPTION_COLS " FROM subscriptions s"
                                   " JOIN users u ON u.seq = s.owner_seq"
                                   " WHERE s.id = ? AND s.owner_seq = ?";
static const char SQL_BY_DELEGATE[] = "SELECT " SP_SUBSCRIPTION_COLS " FROM subscriptions s"
                                      " JOIN users u ON u.seq = s.owner_seq"
                                      " WHERE s.id = ? AND s.delegate = ?";
static const char SQL_LIST[] = "SELECT " SP_SUBSCRIPTION_COLS " FROM subscriptions s"
                               " JOIN users u ON u.seq = s.owner_seq"
                               " WHERE s.owner_seq = ? ORDER BY s.seq";
static const char SQL_RENEW[] = "UPDATE subscriptions SET expires_at = ? WHERE seq = ?";
static const char SQL_DELETE[] = "DELETE FROM subscriptions WHERE seq = ?";
static const char SQL_COUNT_LIVE[] = "SELECT count(*) FROM subscriptions WHERE ended_at IS NULL";

/* Binds text, or NULL for NULL or "". */
static void bind_opt(sp_db_stmt *s, int col, const char *v)
{
    if (v && v[0])
        sp_db_bind_text(s, col, v);
    else
        sp_db_bind_null(s, col);
}

/* The one-integer answer of sql (its parameter bound to p1 unless p1 < 0). */
static int count_of(sp_conn *c, const char *sql, int64_t p1, int64_t *out)
{
    sp_db_stmt *s = sp_store__stmt(c, sql);
    if (!s)
        return SP_ERR_DB;
    if (p1 >= 0)
        sp_db_bind_int64(s, 1, p1);
    int step = sp_db_step(s);
    if (step == SP_DB_ROW)
        *out = sp_db_column_int64(s, 0);
    sp_store__done(s);
    return step == SP_DB_ROW ? 0 : sp_store__err(c, step, "count subscriptions");
}

/* Reads subscription id as who may see it, on c. */
static int find(sp_conn *c, const sp_subscription_who *who, const char *id, sp_subscription *out)
{
    sp_db_stmt *s = sp_store__stmt(c, who->delegate ? SQL_BY_DELEGATE : SQL_BY_OWNER);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, id);
    if (who->delegate)
        sp_db_bind_text(s, 2, who->delegate);
    else
        sp_db_bind_int64(s, 2, who->owner_seq);
    return sp_store__one_subscription(c, s, out, "find subscription");
}

/* Copies src (NULL: "") into dst of dstlen bytes. */
static void copy_opt(char *dst, size_t dstlen, const char *src)
{
    snprintf(dst, dstlen, "%s", src ? src : "");
}

/* Inserts row (its id, owner and request fields set) with its cursor at
 * cursor; sets row->seq. */
static int insert_row(sp_conn *w, sp_subscription *row)
{
    sp_db_stmt *s = sp_store__stmt(w, SQL_INSERT);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, row->id);
    sp_db_bind_int64(s, 2, row->owner_seq);
    sp_db_bind_text(s, 3, row->resource);
    bind_opt(s, 4, row->drive_id);
    sp_db_bind_int64(s, 5, (int)row->change_types);
    sp_db_bind_text(s, 6, row->notification_url);
    bind_opt(s, 7, row->lifecycle_url);
    bind_opt(s, 8, row->client_state);
    bind_opt(s, 9, row->delegate);
    sp_db_bind_int64(s, 10, row->expires_at);
    sp_db_bind_int64(s, 11, row->created_at);
    sp_db_bind_int64(s, 12, row->cursor);
    int rc = sp_store__step_done(w, s, "insert subscription");
    if (rc == 0)
        row->seq = sp_db_last_id(w->db);
    return rc;
}

int sp_store_subscription_create(sp_store *st, const sp_user *owner, const sp_subscription_new *n,
                                 int max, sp_subscription *out)
{
    /* A row is some 9 KB of fixed fields: not for the stack of a worker. */
    sp_subscription *row = calloc(1, sizeof *row);
    if (!row)
        return SP_ERR_NOMEM;
    int rc = SP_ERR_IO;
    if (sp_id_uuid(row->id) < 0)
        goto done;
    row->owner_seq = owner->seq;
    copy_opt(row->owner_id, sizeof row->owner_id, owner->id);
    copy_opt(row->resource, sizeof row->resource, n->resource);
    copy_opt(row->drive_id, sizeof row->drive_id, n->drive_id);
    row->change_types = n->change_types;
    copy_opt(row->notification_url, sizeof row->notification_url, n->notification_url);
    copy_opt(row->lifecycle_url, sizeof row->lifecycle_url, n->lifecycle_url);
    copy_opt(row->client_state, sizeof row->client_state, n->client_state);
    copy_opt(row->delegate, sizeof row->delegate, n->delegate);
    row->expires_at = n->expires_at;
    row->created_at = sp_time_now_ms();

    sp_conn *w = sp_store__begin(st);
    if (!w) {
        rc = SP_ERR_DB;
        goto done;
    }
    int64_t have = 0;
    rc = count_of(w, SQL_COUNT_OWNER, owner->seq, &have);
    if (rc == 0 && have >= max)
        rc = SP_ERR_TOO_LARGE;
    /* The created event is the newest event when it is written: the
     * cursor starts there, so the subscription is told of what follows,
     * not of itself or of the past. */
    if (rc == 0)
        rc =
            sp_store__subscription_event(w, SP_EVENT_SUBSCRIPTION_CREATED, row, NULL, &row->cursor);
    if (rc == 0)
        rc = insert_row(w, row);
    rc = sp_store__finish(st, rc);
done:
    if (rc == 0 && out)
        *out = *row;
    free(row);
    return rc;
}

int sp_store_subscription_get(sp_store *st, const sp_subscription_who *who, const char *id,
                              sp_subscription *out)
{
    sp_conn *c = sp_store__conn(st);
    if (!c)
        return SP_ERR_DB;
    return find(c, who, id, out);
}

int sp_store__one_subscription(sp_conn *c, sp_db_stmt *s, sp_subscription *out, const char *what)
{
    int step = sp_db_step(s);
    if (step == SP_DB_ROW)
        sp_store__read_subscription(s, out);
    sp_store__done(s);
    if (step == SP_DB_ROW)
        return 0;
    return step == SP_DB_DONE ? SP_ERR_NOT_FOUND : sp_store__err(c, step, what);
}

int sp_store__each_subscription(sp_conn *c, sp_db_stmt *s, sp_subscription_fn fn, void *ctx,
                                const char *what)
{
    sp_subscription *row = malloc(sizeof *row);
    if (!row) {
        sp_store__done(s);
        return SP_ERR_NOMEM;
    }
    int rc = 0, step;
    while ((step = sp_db_step(s)) == SP_DB_ROW) {
        sp_store__read_subscription(s, row);
        rc = fn(row, ctx);
        if (rc < 0)
            break;
    }
    if (rc == 0 && step != SP_DB_DONE)
        rc = sp_store__err(c, step, what);
    sp_store__done(s);
    free(row);
    return rc;
}

int sp_store_subscription_list(sp_store *st, int64_t owner_seq, sp_subscription_fn fn, void *ctx)
{
    sp_conn *c = sp_store__conn(st);
    sp_db_stmt *s = c ? sp_store__stmt(c, SQL_LIST) : NULL;
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, owner_seq);
    return sp_store__each_subscription(c, s, fn, ctx, "list subscriptions");
}

/* Renews subscription id of who to expires_at, or deletes it when
 * expires_at is 0, with its event, in one write (ownership checked inside
 * it). *out (may be NULL) receives the row as it is now. */
static int change(sp_store *st, const sp_subscription_who *who, const char *id, int64_t expires_at,
                  sp_subscription *out)
{
    sp_subscription *row = malloc(sizeof *row);
    if (!row)
        return SP_ERR_NOMEM;
    sp_conn *w = sp_store__begin(st);
    if (!w) {
        free(row);
        return SP_ERR_DB;
    }
    int rc = find(w, who, id, row);
    if (rc == 0 && !expires_at) {
        rc = sp_store__exec_seq(w, SQL_DELETE, row->seq, "delete subscription");
        if (rc == 0)
            rc = sp_store__subscription_event(w, SP_EVENT_SUBSCRIPTION_DELETED, row, "deleted",
                                              NULL);
    } else if (rc == 0) {
        /* Graph forgets an ended or expired subscription: not renewed. */
        if (row->ended_at || row->expires_at <= sp_time_now_ms())
            rc = SP_ERR_NOT_FOUND;
        sp_db_stmt *s = rc == 0 ? sp_store__stmt(w, SQL_RENEW) : NULL;
        if (rc == 0 && !s)
            rc = SP_ERR_DB;
        if (rc == 0) {
            sp_db_bind_int64(s, 1, expires_at);
            sp_db_bind_int64(s, 2, row->seq);
            rc = sp_store__step_done(w, s, "renew subscription");
        }
        row->expires_at = expires_at;
        if (rc == 0)
            rc = sp_store__subscription_event(w, SP_EVENT_SUBSCRIPTION_UPDATED, row, NULL, NULL);
    }
    rc = sp_store__finish(st, rc);
    if (rc == 0 && out)
        *out = *row;
    free(row);
    return rc;
}

int sp_store_subscription_renew(sp_store *st, const sp_subscription_who *who, const char *id,
                                int64_t expires_at, sp_subscription *out)
{
    if (expires_at <= 0)
        return SP_ERR_INVALID;
    return change(st, who, id, expires_at, out);
}

int sp_store_subscription_delete(sp_store *st, const sp_subscription_who *who, const char *id)
{
    return change(st, who, id, 0, NULL);
}

int sp_store_subscriptions_of(sp_store *st, int64_t owner_seq, int64_t *count)
{
    sp_conn *c = sp_store__conn(st);
    if (!c)
        return SP_ERR_DB;
    return count_of(c, SQL_COUNT_OWNER, owner_seq, count);
}

int sp_store_subscriptions_count(sp_store *st, int64_t *count)
{
    sp_conn *c = sp_store__conn(st);
    if (!c)
        return SP_ERR_DB;
    return count_of(c, SQL_COUNT_LIVE, -1, count);
}
