/*
 * share_states.c - each user's view of the shares they received: mounted
 * (@client.synchronize) and hidden (@UI.Hidden), per share and user, with
 * an event for every change of view.
 *
 * As in oCIS, the shares of one item a user received are one driveItem
 * of sharedWithMe, so they are mounted, unmounted and hidden together.
 */
#include "store/shares.h"

#include "store/events.h"
#include "store/internal.h"

#include "util/err.h"
#include "util/id.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The unexpired, served shares of an item on enabled drives that user ?2
 * received (or a group of theirs), with ?3 the time: what sharedWithMe shows them. */
#define RECEIVED_WHERE                                                                            \
    " " SP_SHARE_RECEIVED_BY("?2") " AND d.disabled_at IS NULL"                                   \
    " AND (s.expires_at IS NULL OR s.expires_at > ?3) AND " SP_SHARE_SERVED

static const char SQL_ITEM_OF_MOUNT[] = "SELECT s.item_id FROM shares s JOIN drives d"
                                        " ON d.seq = s.drive_seq WHERE s.mount_id = ?1 AND"
                                        RECEIVED_WHERE;
static const char SQL_OF_ITEM[] =
    "SELECT s.seq, s.id, d.id, coalesce(st.mounted, 1), coalesce(st.hidden, 0)"
    " FROM shares s JOIN drives d ON d.seq = s.drive_seq"
    " LEFT JOIN share_states st ON st.share_seq = s.seq AND st.user_seq = ?2"
    " WHERE s.item_id = ?1 AND" RECEIVED_WHERE " ORDER BY s.created_at, s.id";
static const char SQL_SET[] =
    "INSERT INTO share_states (share_seq, user_seq, mounted, hidden, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (share_seq, user_seq) DO UPDATE SET"
    " mounted = excluded.mounted, hidden = excluded.hidden, updated_at = excluded.updated_at";

/* One received share of the item, as it is before the change. */
typedef struct received {
    int64_t seq;
    char id[SP_ID_LEN], drive_id[SP_ID_LEN];
    int mounted, hidden;
} received;

/* Prepares sql on c with its parameters: ?1 key (a mount or item id), ?2
 * the user, ?3 the time. NULL when it cannot be prepared. */
static sp_db_stmt *received_stmt(sp_conn *c, const char *sql, const char *key,
                                   const sp_user *user, int64_t now)
{
    sp_db_stmt *q = sp_store__stmt(c, sql);
    if (q) {
        sp_db_bind_text(q, 1, key);
        sp_db_bind_int64(q, 2, user->seq);
        sp_db_bind_int64(q, 3, now);
    }
    return q;
}

/* The item user received through mount_id into item (SP_SHARE_ITEM_ID_MAX
 * bytes), on connection w. Returns 0, SP_ERR_NOT_FOUND or a negative
 * sp_err. */
static int item_of_mount(sp_conn *w, const sp_user *user, const char *mount_id, char *item,
                         int64_t now)
{
    sp_db_stmt *q = received_stmt(w, SQL_ITEM_OF_MOUNT, mount_id, user, now);
    if (!q)
        return SP_ERR_DB;
    int step = sp_db_step(q);
    if (step == SP_DB_ROW)
        sp_store__copy_text(q, 0, item, SP_SHARE_ITEM_ID_MAX);
    sp_store__done(q);
    if (step == SP_DB_ROW)
        return 0;
    return step == SP_DB_DONE ? SP_ERR_NOT_FOUND : sp_store__err(w, step, "share by mount");
}

int sp_store_share_item_of_mount(sp_store *st, const sp_user *user, const char *mount_id,
                                 char *item_out)
{
    sp_conn *c = sp_store__conn(st);
    return c ? item_of_mount(c, user, mount_id, item_out, sp_time_now_ms()) : SP_ERR_DB;
}

/* Reads the user's shares of item into a new array *out (free it) of *n. */
static int shares_of_item(sp_conn *w, const sp_user *user, const char *item, int64_t now,
                          received **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sp_db_stmt *q = received_stmt(w, SQL_OF_ITEM, item, user, now);
    if (!q)
        return SP_ERR_DB;
    int step, rc = 0;
    size_t cap = 0;
    while ((step = sp_db_step(q)) == SP_DB_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            received *grown = realloc(*out, cap * sizeof **out);
            if (!grown) {
                rc = SP_ERR_NOMEM;
                break;
            }
            *out = grown;
        }
        received *r = &(*out)[(*n)++];
        r->seq = sp_db_column_int64(q, 0);
        sp_store__copy_text(q, 1, r->id, sizeof r->id);
        sp_store__copy_text(q, 2, r->drive_id, sizeof r->drive_id);
        r->mounted = sp_db_column_int64(q, 3);
        r->hidden = sp_db_column_int64(q, 4);
    }
    if (rc == 0 && step != SP_DB_DONE)
        rc = sp_store__err(w, step, "received shares of item");
    sp_store__done(q);
    return rc;
}

/* Records r's new view and writes its event. */
static int set_one(sp_conn *w, const sp_user *user, const char *item, const received *r,
                   const char *type, int64_t now)
{
    sp_db_stmt *q = sp_store__stmt(w, SQL_SET);
    if (!q)
        return SP_ERR_DB;
    sp_db_bind_int64(q, 1, r->seq);
    sp_db_bind_int64(q, 2, user->seq);
    sp_db_bind_int64(q, 3, r->mounted);
    sp_db_bind_int64(q, 4, r->hidden);
    sp_db_bind_int64(q, 5, now);
    int rc = sp_store__step_done(w, q, "set share state");
    if (rc < 0)
        return rc;
    json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:b}", "shareId", r->id, "driveId",
                             r->drive_id, "itemId", item, "userId", user->id, "executant",
                             user->id, "mounted", r->mounted, "hidden", r->hidden);
    if (!data)
        return SP_ERR_NOMEM;
    rc = sp_store__item_fields(w, r->drive_id, item, data, 1);
    if (rc == 0)
        rc = sp_store__event_add(w, type, r->drive_id, data, &user->seq, 1, NULL);
    json_decref(data);
    return rc;
}

static const char *event_type(sp_share_state state, int value)
{
    if (state == SP_SHARE_MOUNTED)
        return value ? SP_EVENT_SHARE_MOUNTED : SP_EVENT_SHARE_UNMOUNTED;
    return value ? SP_EVENT_SHARE_HIDDEN : SP_EVENT_SHARE_UNHIDDEN;
}

int sp_store_share_state_set(sp_store *st, const sp_user *user, const char *item_id,
                             const char *mount_id, sp_share_state state, int value,
                             char *item_out)
{
    value = value != 0;
    int64_t now = sp_time_now_ms();
    received *all = NULL;
    size_t n = 0, changed = 0;
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    int rc = 0;
    if (item_id)
        snprintf(item_out, SP_SHARE_ITEM_ID_MAX, "%s", item_id);
    else
        rc = item_of_mount(w, user, mount_id, item_out, now);
    if (rc == 0)
        rc = shares_of_item(w, user, item_out, now, &all, &n);
    if (rc == 0 && n == 0)
        rc = SP_ERR_NOT_FOUND;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int *field = state == SP_SHARE_MOUNTED ? &all[i].mounted : &all[i].hidden;
        if (*field == value)
            continue;
        *field = value;
        changed++;
        rc = set_one(w, user, item_out, &all[i], event_type(state, value), now);
    }
    if (rc == 0 && changed == 0 && state == SP_SHARE_MOUNTED)
        rc = SP_ERR_CONFLICT;
    free(all);
    return sp_store__finish(st, rc);
}
