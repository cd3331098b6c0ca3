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

#include <string.h>

static const char SQL_EVENT_INSERT[] =
    "INSERT INTO events (id, type, subject, time, data) VALUES (?, ?, ?, ?, ?)";
static const char SQL_RECIPIENT_INSERT[] =
    "INSERT OR IGNORE INTO event_recipients (user_seq, event_seq) VALUES (?, ?)";

int sp_store__event_add(sp_conn *w, const char *type, const char *subject, json_t *data,
                        const int64_t *recipients, size_t recipient_count, int64_t *seq_out)
{
    char id[SP_ID_LEN];
    if (sp_id_uuid(id) < 0)
        return SP_ERR_IO;
    char *text = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return SP_ERR_NOMEM;
    sqlite3_stmt *s = sp_store__stmt(w, SQL_EVENT_INSERT);
    if (!s) {
        free(text);
        return SP_ERR_DB;
    }
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, subject, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, sp_time_now_ms());
    sqlite3_bind_text(s, 5, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sp_store__done(s);
    free(text);
    if (rc != SQLITE_DONE)
        return sp_store__err(w, rc, "insert event");
    int64_t seq = sqlite3_last_insert_rowid(w->db);
    s = sp_store__stmt(w, SQL_RECIPIENT_INSERT);
    if (!s)
        return SP_ERR_DB;
    for (size_t i = 0; i < recipient_count; i++) {
        sqlite3_bind_int64(s, 1, recipients[i]);
        sqlite3_bind_int64(s, 2, seq);
        rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE) {
            sp_store__done(s);
            return sp_store__err(w, rc, "insert event recipient");
        }
    }
    sp_store__done(s);
    if (seq_out)
        *seq_out = seq;
    return 0;
}
