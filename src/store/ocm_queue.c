/*
 * ocm_queue.c - the outbound OCM queue's deliveries (see ocm.h), and this
 * instance's answers to the shares it received over OCM.
 *
 * An answer (SHARE_ACCEPTED, SHARE_DECLINED) is queued against a reply
 * row, the sender's instance and providerId, as the deliveries of a sent
 * share are against its ocm_sent row: the same back-off, order and
 * metrics. No secret is kept for it: the recipient's shared secret stays
 * hashed with its remote space (store/remotes.c), and a Spaceport sender
 * matches the answer by who signed it and the providerId.
 */
#include "store/ocm.h"
#include "store/ocm_internal.h"

#include "util/err.h"
#include "util/time.h"

#include <string.h>

/* The first queued delivery of o's sent share, or of o's reply. */
#define FIRST_OF_O                                                                                 \
    "coalesce((SELECT min(p.seq) FROM ocm_outbox p WHERE p.sent_seq = o.sent_seq),"                \
    " (SELECT min(p.seq) FROM ocm_outbox p WHERE p.reply_seq = o.reply_seq))"

static const char SQL_OUTBOX_INSERT[] =
    "INSERT INTO ocm_outbox (sent_seq, reply_seq, kind, etag, next_at, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?)";
static const char SQL_REPLY_FIND[] =
    "SELECT seq, answer FROM ocm_replies WHERE instance = ?1 AND provider_id = ?2";
static const char SQL_REPLY_INSERT[] =
    "INSERT INTO ocm_replies (instance, provider_id, resource_type, answer, created_at,"
    " updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)";
static const char SQL_REPLY_SET[] =
    "UPDATE ocm_replies SET answer = ?1, resource_type = ?2, updated_at = ?3 WHERE seq = ?4";

int sp_store__ocm_enqueue(sp_conn *w, int64_t sent_seq, int64_t reply_seq, const char *kind,
                          const char *etag)
{
    sp_db_stmt *s = sp_store__stmt(w, SQL_OUTBOX_INSERT);
    if (!s)
        return SP_ERR_DB;
    int64_t now = sp_time_now_ms();
    if (sent_seq)
        sp_db_bind_int64(s, 1, sent_seq);
    else
        sp_db_bind_int64(s, 2, reply_seq);
    sp_db_bind_text(s, 3, kind);
    if (etag)
        sp_db_bind_text(s, 4, etag);
    sp_db_bind_int64(s, 5, now);
    sp_db_bind_int64(s, 6, now);
    return sp_store__step_done(w, s, "enqueue delivery");
}

int sp_store__ocm_reply(sp_conn *w, int accepted, json_t *data)
{
    const char *instance = json_string_value(json_object_get(data, "instance"));
    const char *provider_id = json_string_value(json_object_get(data, "ocmShareId"));
    const char *type = json_string_value(json_object_get(data, "resourceType"));
    const char *answer = accepted ? "accepted" : "declined";
    if (!instance || !provider_id || strlen(provider_id) >= SP_OCM_PROVIDER_ID_MAX)
        return 0;
    if (!type || (strcmp(type, "file") != 0 && strcmp(type, "folder") != 0))
        type = "folder";
    sp_db_stmt *s = sp_store__stmt(w, SQL_REPLY_FIND);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, instance);
    sp_db_bind_text(s, 2, provider_id);
    int64_t seq = 0;
    char was[16] = "";
    int rc = sp_db_step(s);
    if (rc == SP_DB_ROW) {
        seq = sp_db_column_int64(s, 0);
        sp_store__copy_text(s, 1, was, sizeof was);
    }
    sp_store__done(s);
    if (rc != SP_DB_ROW && rc != SP_DB_DONE)
        return sp_store__err(w, rc, "ocm reply");
    /* The same answer again (an event read twice after a crash): said. */
    if (strcmp(was, answer) == 0)
        return 0;
    int64_t now = sp_time_now_ms();
    s = sp_store__stmt(w, seq ? SQL_REPLY_SET : SQL_REPLY_INSERT);
    if (!s)
        return SP_ERR_DB;
    if (seq) {
        sp_db_bind_text(s, 1, answer);
        sp_db_bind_text(s, 2, type);
        sp_db_bind_int64(s, 3, now);
        sp_db_bind_int64(s, 4, seq);
    } else {
        sp_db_bind_text(s, 1, instance);
        sp_db_bind_text(s, 2, provider_id);
        sp_db_bind_text(s, 3, type);
        sp_db_bind_text(s, 4, answer);
        sp_db_bind_int64(s, 5, now);
    }
    rc = sp_store__step_done(w, s, "ocm reply");
    if (rc < 0)
        return rc;
    if (!seq)
        seq = sp_db_last_id(w->db);
    return sp_store__ocm_enqueue(w, 0, seq, answer, NULL);
}

/* Per sent share, and per reply, only the oldest delivery is due: they
 * go out in order. */
static const char SQL_DUE[] =
    "SELECT o.seq, coalesce(o.sent_seq, 0), coalesce(o.reply_seq, 0), o.attempts, o.kind,"
    " coalesce(o.etag, ''), coalesce(s.share_id, r.provider_id), coalesce(s.drive_id, ''),"
    " coalesce(s.item_id, ''), coalesce(s.grantee, ''), coalesce(s.share_with, ''),"
    " coalesce(s.instance, r.instance, ''), coalesce(s.secret, ''), coalesce(s.name, ''),"
    " coalesce(s.sharer, ''), coalesce(s.sharer_name, ''), coalesce(s.role, ''),"
    " coalesce(s.resource_type, r.resource_type, 'folder'), coalesce(s.expiration, 0),"
    " coalesce(s.created_at, r.created_at)"
    " FROM ocm_outbox o LEFT JOIN ocm_sent s ON s.seq = o.sent_seq"
    " LEFT JOIN ocm_replies r ON r.seq = o.reply_seq"
    " WHERE o.next_at <= ?1 AND o.seq = " FIRST_OF_O " ORDER BY o.seq LIMIT ?2";
static const char SQL_RETRY[] =
    "UPDATE ocm_outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE seq = ?";
static const char SQL_PENDING[] =
    "SELECT (SELECT min(o.next_at) FROM ocm_outbox o WHERE o.seq = " FIRST_OF_O "),"
    " (SELECT count(*) FROM ocm_outbox)";

int sp_store_ocm_due(sp_store *st, int64_t now_ms, sp_ocm_delivery *out, int max, int *count)
{
    *count = 0;
    sp_conn *r = sp_store__reader(st);
    sp_db_stmt *s = r ? sp_store__stmt(r, SQL_DUE) : NULL;
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, now_ms);
    sp_db_bind_int64(s, 2, max);
    int rc;
    while ((rc = sp_db_step(s)) == SP_DB_ROW) {
        sp_ocm_delivery *d = &out[(*count)++];
        d->seq = sp_db_column_int64(s, 0);
        d->sent_seq = sp_db_column_int64(s, 1);
        d->reply_seq = sp_db_column_int64(s, 2);
        d->attempts = sp_db_column_int64(s, 3);
        sp_store__copy_text(s, 4, d->kind, sizeof d->kind);
        sp_store__copy_text(s, 5, d->etag, sizeof d->etag);
        sp_store__copy_text(s, 6, d->share_id, sizeof d->share_id);
        sp_store__copy_text(s, 7, d->drive_id, sizeof d->drive_id);
        sp_store__copy_text(s, 8, d->item_id, sizeof d->item_id);
        sp_store__copy_text(s, 9, d->grantee, sizeof d->grantee);
        sp_store__copy_text(s, 10, d->share_with, sizeof d->share_with);
        sp_store__copy_text(s, 11, d->instance, sizeof d->instance);
        sp_store__copy_text(s, 12, d->secret, sizeof d->secret);
        sp_store__copy_text(s, 13, d->name, sizeof d->name);
        sp_store__copy_text(s, 14, d->sharer, sizeof d->sharer);
        sp_store__copy_text(s, 15, d->sharer_name, sizeof d->sharer_name);
        sp_store__copy_text(s, 16, d->role, sizeof d->role);
        sp_store__copy_text(s, 17, d->resource_type, sizeof d->resource_type);
        d->expiration = sp_db_column_int64(s, 18);
        d->created_at_ms = sp_db_column_int64(s, 19);
    }
    sp_store__done(s);
    return rc == SP_DB_DONE ? 0 : sp_store__err(r, rc, "due deliveries");
}

int sp_store_ocm_retry(sp_store *st, int64_t seq, int64_t next_at_ms, const char *error)
{
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    sp_db_stmt *s = sp_store__stmt(w, SQL_RETRY);
    int rc = SP_ERR_DB;
    if (s) {
        sp_db_bind_int64(s, 1, next_at_ms);
        sp_db_bind_text(s, 2, error);
        sp_db_bind_int64(s, 3, seq);
        rc = sp_store__step_done(w, s, "retry delivery");
    }
    if (rc < 0) {
        sp_store__rollback(st);
        return rc;
    }
    return sp_store__commit(st);
}

int sp_store_ocm_pending(sp_store *st, int64_t *next_due_ms, int64_t *count)
{
    sp_conn *r = sp_store__reader(st);
    sp_db_stmt *s = r ? sp_store__stmt(r, SQL_PENDING) : NULL;
    if (!s)
        return SP_ERR_DB;
    int rc = sp_db_step(s);
    if (rc == SP_DB_ROW) {
        *next_due_ms = sp_db_column_int64(s, 0); /* NULL reads as 0: none */
        *count = sp_db_column_int64(s, 1);
    }
    sp_store__done(s);
    return rc == SP_DB_ROW ? 0 : sp_store__err(r, rc, "pending deliveries");
}
