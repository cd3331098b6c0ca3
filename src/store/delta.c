/*
 * delta.c - the reads of drive deltas that are neither the event log's
 * per-user query (events.c) nor the listing (drives.c).
 */
#include "store/delta.h"

#include "store/internal.h"

#include "util/err.h"

/* The last seq given, pruned or not, and the oldest kept. SQLite's
 * AUTOINCREMENT keeps the last seq in sqlite_sequence, written with the
 * event (schema/001_init.sql). PostgreSQL's sequence also counts the seqs
 * of events not committed yet, which a token must not pass: there it is
 * the newest committed event, or the relay's cursor when pruning took
 * every event (pruning takes published events only, so the cursor is at
 * or past the last one pruned). */
static const char *const SQL_BOUNDS[2] = {
    "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),"
    " (SELECT min(seq) FROM events)",
    "SELECT GREATEST((SELECT coalesce(max(seq), 0) FROM events),"
    " (SELECT published_seq FROM relay_cursor)), (SELECT min(seq) FROM events)",
};
static const char SQL_MOUNTS[] =
    "SELECT s.mount_id FROM shares s JOIN drives d ON d.seq = s.drive_seq"
    " WHERE d.id = ?2 AND " SP_SHARE_RECEIVED_BY("?1") " ORDER BY s.mount_id";

int sp_store_delta_bounds(sp_store *st, int64_t *oldest, int64_t *last)
{
    sp_conn *c = sp_store__reader(st);
    sp_db_stmt *s = c ? sp_store__stmt(c, SP_SQL(c, SQL_BOUNDS)) : NULL;
    if (!s)
        return SP_ERR_DB;
    int rc = sp_db_step(s);
    if (rc == SP_DB_ROW) {
        *last = sp_db_column_int64(s, 0);
        *oldest = sp_db_column_is_null(s, 1) ? *last + 1 : sp_db_column_int64(s, 1);
    }
    sp_store__done(s);
    return rc == SP_DB_ROW ? 0 : sp_store__err(c, rc, "event bounds");
}

int sp_store_mounts_received(sp_store *st, const sp_user *user, const char *drive_id,
                             sp_mount_fn fn, void *ctx)
{
    sp_conn *c = sp_store__reader(st);
    sp_db_stmt *s = c ? sp_store__stmt(c, SQL_MOUNTS) : NULL;
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, user->seq);
    sp_db_bind_text(s, 2, drive_id);
    int rc, err = 0;
    while ((rc = sp_db_step(s)) == SP_DB_ROW) {
        err = fn(sp_db_column_text(s, 0), ctx);
        if (err < 0)
            break;
    }
    if (err == 0 && rc != SP_DB_ROW && rc != SP_DB_DONE)
        err = sp_store__err(c, rc, "mounts received");
    sp_store__done(s);
    return err;
}
