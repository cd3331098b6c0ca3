/*
 * delta.c - the reads of drive deltas that are neither the event log's
 * per-user query (events.c) nor the listing (drives.c).
 */
#include "store/delta.h"

#include "store/internal.h"

#include "util/err.h"

/* AUTOINCREMENT keeps the last seq given in sqlite_sequence, pruned or
 * not (schema/001_init.sql). */
static const char SQL_BOUNDS[] =
    "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),"
    " (SELECT min(seq) FROM events)";
static const char SQL_MOUNTS[] =
    "SELECT s.mount_id FROM shares s JOIN drives d ON d.seq = s.drive_seq"
    " WHERE d.id = ?2 AND " SP_SHARE_RECEIVED_BY("?1") " ORDER BY s.mount_id";

int sp_store_delta_bounds(sp_store *st, int64_t *oldest, int64_t *last)
{
    sp_conn *c = sp_store__reader(st);
    sqlite3_stmt *s = c ? sp_store__stmt(c, SQL_BOUNDS) : NULL;
    if (!s)
        return SP_ERR_DB;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *last = sqlite3_column_int64(s, 0);
        *oldest = sqlite3_column_type(s, 1) == SQLITE_NULL ? *last + 1 : sqlite3_column_int64(s, 1);
    }
    sp_store__done(s);
    return rc == SQLITE_ROW ? 0 : sp_store__err(c, rc, "event bounds");
}

int sp_store_mounts_received(sp_store *st, const sp_user *user, const char *drive_id,
                             sp_mount_fn fn, void *ctx)
{
    sp_conn *c = sp_store__reader(st);
    sqlite3_stmt *s = c ? sp_store__stmt(c, SQL_MOUNTS) : NULL;
    if (!s)
        return SP_ERR_DB;
    sqlite3_bind_int64(s, 1, user->seq);
    sqlite3_bind_text(s, 2, drive_id, -1, SQLITE_STATIC);
    int rc, err = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        err = fn((const char *)sqlite3_column_text(s, 0), ctx);
        if (err < 0)
            break;
    }
    if (err == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        err = sp_store__err(c, rc, "mounts received");
    sp_store__done(s);
    return err;
}
