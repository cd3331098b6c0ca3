/*
 * changes.c - applying storage providers' change events, exactly once per
 * event id.
 */
#include "store/changes.h"

#include "store/events.h"
#include "store/internal.h"

#include "util/err.h"
#include "util/time.h"

#include <stdlib.h>

static const char SQL_SEEN[] =
    "INSERT INTO inbound_events (id, received_at) VALUES (?, ?) ON CONFLICT DO NOTHING";
static const char SQL_DRIVE[] = "SELECT seq FROM drives WHERE id = ?";
static const char SQL_APPLY[] =
    "UPDATE drives SET etag = ?, mtime = ?,"
    " quota_used = CASE WHEN ? <> 0 THEN ? ELSE quota_used END WHERE seq = ?";
/* Applies one change in the open transaction: 1 when event_id was applied
 * before (nothing changes), 0 when applied, or a negative sp_err. */
static int apply(sp_store *st, sp_conn *w, const sp_storage_change *c)
{
    int64_t *recipients = NULL;
    size_t count = 0;
    json_t *data = NULL;
    int rc = SP_ERR_DB;

    sp_db_stmt *s = sp_store__stmt(w, SQL_SEEN);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, c->event_id);
    sp_db_bind_int64(s, 2, sp_time_now_ms());
    int step = sp_db_step(s);
    sp_store__done(s);
    if (step != SP_DB_DONE)
        return sp_store__err(w, step, "record inbound event");
    if (sp_db_changes(w->db) == 0)
        return 1; /* seen before: a redelivery */

    s = sp_store__stmt(w, SQL_DRIVE);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, c->drive_id);
    step = sp_db_step(s);
    int64_t drive_seq = step == SP_DB_ROW ? sp_db_column_int64(s, 0) : 0;
    sp_store__done(s);
    if (!drive_seq)
        return step == SP_DB_DONE ? SP_ERR_NOT_FOUND : sp_store__err(w, step, "change drive");

    s = sp_store__stmt(w, SQL_APPLY);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, c->etag);
    sp_db_bind_int64(s, 2, c->mtime_ms);
    sp_db_bind_int64(s, 3, c->has_quota_used);
    sp_db_bind_int64(s, 4, c->quota_used);
    sp_db_bind_int64(s, 5, drive_seq);
    step = sp_db_step(s);
    sp_store__done(s);
    if (step != SP_DB_DONE)
        return sp_store__err(w, step, "apply change");
    rc = sp_store__items_apply(w, st, drive_seq, c->items, c->item_count);
    if (rc < 0)
        return rc;

    rc = sp_store__drive_audience(w, drive_seq, &recipients, &count);
    if (rc < 0)
        return rc;
    char when[SP_TIME_RFC3339_LEN];
    sp_time_format_rfc3339(c->mtime_ms, when);
    data =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "driveId", c->drive_id, "eTag", c->etag,
                  "lastModifiedDateTime", when, "change", c->change, "sourceEventId", c->event_id);
    if (!data) {
        free(recipients);
        return SP_ERR_NOMEM;
    }
    if (c->item_id) {
        json_object_set_new(data, "itemId", json_string(c->item_id));
        /* As this change (or an earlier one) described it. */
        rc = sp_store__item_fields(w, c->drive_id, c->item_id, data, 0);
        if (rc < 0) {
            json_decref(data);
            free(recipients);
            return rc;
        }
    }
    if (c->executant)
        json_object_set_new(data, "executant", json_string(c->executant));
    if (c->has_quota_used)
        json_object_set_new(data, "quotaUsed", json_integer(c->quota_used));
    rc = sp_store__event_add(w, SP_EVENT_ITEM_CHANGED, c->drive_id, data, recipients, count, NULL);
    json_decref(data);
    free(recipients);
    return rc < 0 ? rc : 0;
}

int sp_store_storage_changes(sp_store *st, const sp_storage_change *changes, size_t n, int *outcome)
{
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    for (size_t i = 0; i < n; i++) {
        /* A savepoint per change: an unknown drive undoes only its own. */
        int rc = sp_store__exec(w, "SAVEPOINT change");
        if (rc == 0)
            rc = apply(st, w, &changes[i]);
        if (rc == SP_ERR_NOT_FOUND)
            rc = sp_store__exec(w, "ROLLBACK TO change") < 0 ? SP_ERR_DB : SP_ERR_NOT_FOUND;
        if (rc < 0 && rc != SP_ERR_NOT_FOUND) {
            sp_store__rollback(st);
            return rc;
        }
        if (sp_store__exec(w, "RELEASE change") < 0) {
            sp_store__rollback(st);
            return SP_ERR_DB;
        }
        outcome[i] = rc == 1   ? SP_CHANGE_DUPLICATE
                     : rc == 0 ? SP_CHANGE_APPLIED
                               : SP_CHANGE_UNKNOWN_DRIVE;
    }
    return sp_store__commit(st);
}
