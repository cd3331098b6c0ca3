/*
 * shares.c - shares of items, their events, expiry, and matching e-mail
 * shares to users when they are first seen.
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

/* Columns of every share query, in sp_share order. */
#define SHARE_COLS                                                                                \
    "s.id, s.mount_id, d.id, d.name, d.etag, d.mtime, s.item_id, s.item_name, g.id,"              \
    " g.display_name, s.grantee_email, s.role, coalesce(s.expires_at, 0), c.id,"                  \
    " c.display_name, s.created_at"
#define SHARE_FROM                                                                                \
    " FROM shares s JOIN drives d ON d.seq = s.drive_seq"                                         \
    " LEFT JOIN users g ON g.seq = s.grantee_seq JOIN users c ON c.seq = s.creator_seq"
#define UNEXPIRED " (s.expires_at IS NULL OR s.expires_at > ?2)"

/* sharedWithMe and sharedByMe answer at most SP_SHARES_LIST_MAX shares
 * (the LIMIT below): a reply stays bounded whatever one user shared. */
_Static_assert(SP_SHARES_LIST_MAX == 1000, "keep the LIMIT of the share lists in step");

static const char SQL_GET[] = "SELECT " SHARE_COLS SHARE_FROM " WHERE s.id = ?1";
static const char SQL_OF_ITEM[] = "SELECT " SHARE_COLS SHARE_FROM
                                  " WHERE d.id = ?1 AND s.item_id = ?3 AND" UNEXPIRED
                                  " ORDER BY s.created_at, s.id";
static const char SQL_RECEIVED[] = "SELECT " SHARE_COLS SHARE_FROM
                                   " WHERE s.grantee_seq = ?1 AND d.disabled_at IS NULL AND"
                                   UNEXPIRED " ORDER BY s.created_at, s.id LIMIT 1000";
static const char SQL_CREATED[] = "SELECT " SHARE_COLS SHARE_FROM
                                  " WHERE s.creator_seq = ?1 AND" UNEXPIRED
                                  " ORDER BY s.item_id, s.created_at, s.id LIMIT 1000";

static void read_share(sqlite3_stmt *q, sp_share *s)
{
#define T(i) ((const char *)sqlite3_column_text(q, i))
    s->id = T(0);
    s->mount_id = T(1);
    s->drive_id = T(2);
    s->drive_name = T(3);
    s->drive_etag = T(4);
    s->drive_mtime_ms = sqlite3_column_int64(q, 5);
    s->item_id = T(6);
    s->item_name = T(7);
    s->grantee_id = T(8);
    s->grantee_name = T(9);
    s->grantee_email = T(10);
    s->role = T(11);
    s->expires_at_ms = sqlite3_column_int64(q, 12);
    s->creator_id = T(13);
    s->creator_name = T(14);
    s->created_at_ms = sqlite3_column_int64(q, 15);
#undef T
}

/* Runs a share query with ?1 = key (text or int) and ?3 = key2, calling fn
 * for each row. */
static int each(sp_store *st, const char *sql, const char *key, int64_t key_seq,
                const char *key2, sp_share_fn fn, void *ctx, int *found)
{
    sp_conn *c = sp_store__reader(st);
    if (!c)
        return SP_ERR_DB;
    sqlite3_stmt *q = sp_store__stmt(c, sql);
    if (!q)
        return SP_ERR_DB;
    if (key)
        sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(q, 1, key_seq);
    sqlite3_bind_int64(q, 2, sp_time_now_ms());
    if (key2)
        sqlite3_bind_text(q, 3, key2, -1, SQLITE_STATIC);
    int rc, err = 0, n = 0;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        sp_share s;
        read_share(q, &s);
        n++;
        err = fn(&s, ctx);
        if (err < 0)
            break;
    }
    if (err == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        err = sp_store__err(c, rc, "list shares");
    sp_store__done(q);
    if (found)
        *found = n;
    return err;
}

int sp_store_share_get(sp_store *st, const char *id, sp_share_fn fn, void *ctx)
{
    int found = 0;
    int rc = each(st, SQL_GET, id, 0, NULL, fn, ctx, &found);
    return rc < 0 ? rc : found ? 0 : SP_ERR_NOT_FOUND;
}

int sp_store_shares_of_item(sp_store *st, const char *drive_id, const char *item_id,
                            sp_share_fn fn, void *ctx)
{
    return each(st, SQL_OF_ITEM, drive_id, 0, item_id, fn, ctx, NULL);
}

int sp_store_shares_received(sp_store *st, const sp_user *user, sp_share_fn fn, void *ctx)
{
    return each(st, SQL_RECEIVED, NULL, user->seq, NULL, fn, ctx, NULL);
}

int sp_store_shares_created(sp_store *st, const sp_user *user, sp_share_fn fn, void *ctx)
{
    return each(st, SQL_CREATED, NULL, user->seq, NULL, fn, ctx, NULL);
}

/* ---- writes ---- */

static const char SQL_DRIVE[] = "SELECT seq, name FROM drives WHERE id = ?";
static const char SQL_USER_BY_ID[] = "SELECT seq, id, display_name FROM users WHERE id = ?";
static const char SQL_USER_BY_EMAIL[] = "SELECT seq, id, display_name FROM users WHERE email = ?"
                                        " ORDER BY seq LIMIT 1";
static const char SQL_INSERT[] =
    "INSERT INTO shares (id, mount_id, drive_seq, item_id, item_name, grantee_seq, grantee_email,"
    " role, expires_at, creator_seq, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, nullif(?, 0), ?, ?, ?)";

/* Event data naming the share (schema/events/share.json); new reference.
 * grantee is a user id, or an e-mail address when is_email. */
static json_t *share_data(const char *executant, const char *sharer, const char *drive_id,
                          const char *drive_name, const char *item_id, const char *item_name,
                          const char *share_id, const char *grantee, int is_email,
                          const char *role, int64_t expires_at_ms)
{
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s]}", "shareId", share_id,
                          "executant", executant, "sharer", sharer, "driveId", drive_id,
                          "driveName", drive_name, "itemId", item_id, "resourceName", item_name,
                          is_email ? "granteeEmail" : "granteeUserId", grantee, "roles", role);
    if (d && expires_at_ms) {
        char when[SP_TIME_RFC3339_LEN];
        sp_time_format_rfc3339(expires_at_ms, when);
        json_object_set_new(d, "expirationDateTime", json_string(when));
    }
    return d;
}

int sp_store_share_create(sp_store *st, const sp_user *actor, const char *drive_id,
                          const char *item_id, const char *item_name,
                          const sp_share_grantee *grantee, const char *role,
                          int64_t expires_at_ms, sp_share_made *made)
{
    char share_id[SP_ID_LEN], mount_id[SP_ID_LEN];
    if (sp_id_uuid7(share_id) < 0 || sp_id_uuid7(mount_id) < 0)
        return SP_ERR_IO;
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    int rc = SP_ERR_DB;
    json_t *data = NULL;
    sqlite3_stmt *q = sp_store__stmt(w, SQL_DRIVE);
    if (!q)
        goto fail;
    sqlite3_bind_text(q, 1, drive_id, -1, SQLITE_STATIC);
    int step = sqlite3_step(q);
    int64_t drive_seq = sqlite3_column_int64(q, 0);
    char drive_name[1024];
    sp_store__copy_text(q, 1, drive_name, sizeof drive_name);
    sp_store__done(q);
    if (step != SQLITE_ROW) {
        rc = step == SQLITE_DONE ? SP_ERR_NOT_FOUND : sp_store__err(w, step, "share drive");
        goto fail;
    }

    /* Resolve the grantee: a user id, or an e-mail address that may
     * already belong to a user. */
    int64_t grantee_seq = 0;
    const char *grantee_id = made->grantee_id;
    made->grantee_id[0] = made->grantee_name[0] = '\0';
    q = sp_store__stmt(w, grantee->user_id ? SQL_USER_BY_ID : SQL_USER_BY_EMAIL);
    if (!q)
        goto fail;
    sqlite3_bind_text(q, 1, grantee->user_id ? grantee->user_id : grantee->email, -1,
                      SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) {
        grantee_seq = sqlite3_column_int64(q, 0);
        sp_store__copy_text(q, 1, made->grantee_id, sizeof made->grantee_id);
        sp_store__copy_text(q, 2, made->grantee_name, sizeof made->grantee_name);
    }
    sp_store__done(q);
    if (grantee->user_id && !grantee_seq) {
        rc = SP_ERR_NOT_FOUND;
        goto fail;
    }
    if (grantee_seq == actor->seq) {
        rc = SP_ERR_INVALID;
        goto fail;
    }

    int64_t now = sp_time_now_ms();
    q = sp_store__stmt(w, SQL_INSERT);
    if (!q)
        goto fail;
    sqlite3_bind_text(q, 1, share_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, mount_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, drive_seq);
    sqlite3_bind_text(q, 4, item_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, item_name, -1, SQLITE_STATIC);
    if (grantee_seq)
        sqlite3_bind_int64(q, 6, grantee_seq);
    else
        sqlite3_bind_text(q, 7, grantee->email, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 8, role, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 9, expires_at_ms);
    sqlite3_bind_int64(q, 10, actor->seq);
    sqlite3_bind_int64(q, 11, now);
    sqlite3_bind_int64(q, 12, now);
    step = sqlite3_step(q);
    sp_store__done(q);
    if (step != SQLITE_DONE) {
        rc = sp_store__err(w, step, "insert share"); /* CONFLICT: already shared */
        goto fail;
    }
    data = share_data(actor->id, actor->id, drive_id, drive_name, item_id, item_name, share_id,
                      grantee_seq ? grantee_id : grantee->email, !grantee_seq, role,
                      expires_at_ms);
    int64_t recipients[2] = {actor->seq, grantee_seq};
    rc = data ? sp_store__event_add(w, SP_EVENT_SHARE_CREATED, drive_id, data, recipients,
                                    grantee_seq ? 2 : 1, NULL)
              : SP_ERR_NOMEM;
    if (rc < 0)
        goto fail;
    json_decref(data);
    rc = sp_store__commit(st);
    if (rc == 0) {
        snprintf(made->id, sizeof made->id, "%s", share_id);
        made->created_at_ms = now;
    }
    return rc;
fail:
    json_decref(data);
    sp_store__rollback(st);
    return rc;
}

static const char SQL_FOR_CHANGE[] =
    "SELECT s.seq, d.id, d.name, s.item_id, s.item_name, s.role, coalesce(s.expires_at, 0),"
    " s.grantee_seq, coalesce(g.id, s.grantee_email), s.creator_seq, c.id"
    " FROM shares s JOIN drives d ON d.seq = s.drive_seq LEFT JOIN users g ON g.seq ="
    " s.grantee_seq JOIN users c ON c.seq = s.creator_seq WHERE s.id = ?";
static const char SQL_DELETE[] = "DELETE FROM shares WHERE seq = ?";
static const char SQL_UPDATE[] = "UPDATE shares SET role = ?, expires_at = nullif(?, 0),"
                                 " expired = 0, updated_at = ? WHERE seq = ?";

int sp_store_share_change(sp_store *st, const sp_user *actor, const char *id, int remove,
                          const char *role, int set_expiry, int64_t expires_at_ms)
{
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    int rc = SP_ERR_DB;
    json_t *data = NULL;
    sqlite3_stmt *q = sp_store__stmt(w, SQL_FOR_CHANGE);
    if (!q)
        goto fail;
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    int step = sqlite3_step(q);
    if (step != SQLITE_ROW) {
        sp_store__done(q);
        rc = step == SQLITE_DONE ? SP_ERR_NOT_FOUND : sp_store__err(w, step, "find share");
        goto fail;
    }
    int64_t seq = sqlite3_column_int64(q, 0);
    char drive_id[SP_ID_LEN], drive_name[1024], item_id[1024], item_name[1024], old_role[64],
        grantee[400];
    sp_store__copy_text(q, 1, drive_id, sizeof drive_id);
    sp_store__copy_text(q, 2, drive_name, sizeof drive_name);
    sp_store__copy_text(q, 3, item_id, sizeof item_id);
    sp_store__copy_text(q, 4, item_name, sizeof item_name);
    sp_store__copy_text(q, 5, old_role, sizeof old_role);
    int64_t old_expiry = sqlite3_column_int64(q, 6);
    int64_t grantee_seq = sqlite3_column_int64(q, 7);
    sp_store__copy_text(q, 8, grantee, sizeof grantee);
    int64_t creator_seq = sqlite3_column_int64(q, 9);
    char creator_id[SP_ID_LEN];
    sp_store__copy_text(q, 10, creator_id, sizeof creator_id);
    sp_store__done(q);

    const char *new_role = role ? role : old_role;
    int64_t new_expiry = set_expiry ? expires_at_ms : old_expiry;
    q = sp_store__stmt(w, remove ? SQL_DELETE : SQL_UPDATE);
    if (!q)
        goto fail;
    if (remove) {
        sqlite3_bind_int64(q, 1, seq);
    } else {
        sqlite3_bind_text(q, 1, new_role, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, new_expiry);
        sqlite3_bind_int64(q, 3, sp_time_now_ms());
        sqlite3_bind_int64(q, 4, seq);
    }
    step = sqlite3_step(q);
    sp_store__done(q);
    if (step != SQLITE_DONE) {
        rc = sp_store__err(w, step, remove ? "delete share" : "update share");
        goto fail;
    }
    data = share_data(actor->id, creator_id, drive_id, drive_name, item_id, item_name, id, grantee,
                      !grantee_seq, new_role, new_expiry);
    int64_t recipients[3] = {actor->seq, creator_seq, grantee_seq};
    rc = data ? sp_store__event_add(w, remove ? SP_EVENT_SHARE_DELETED : SP_EVENT_SHARE_UPDATED,
                                    drive_id, data, recipients, grantee_seq ? 3 : 2, NULL)
              : SP_ERR_NOMEM;
    if (rc < 0)
        goto fail;
    json_decref(data);
    return sp_store__commit(st);
fail:
    json_decref(data);
    sp_store__rollback(st);
    return rc;
}

static const char SQL_DUE[] =
    "SELECT s.seq, s.id, d.id, d.name, s.item_id, s.item_name, s.role, s.expires_at,"
    " s.grantee_seq, coalesce(g.id, s.grantee_email), s.creator_seq, c.id"
    " FROM shares s JOIN drives d ON d.seq = s.drive_seq LEFT JOIN users g ON g.seq ="
    " s.grantee_seq JOIN users c ON c.seq = s.creator_seq"
    " WHERE s.expires_at IS NOT NULL AND s.expires_at <= ? AND s.expired = 0 LIMIT 256";
static const char SQL_MARK_EXPIRED[] = "UPDATE shares SET expired = 1 WHERE seq = ?";

int sp_store_shares_expire(sp_store *st, int64_t now_ms, int *count)
{
    if (count)
        *count = 0;
    /* Most of the time nothing is due: ask the reader first, so the sweep
     * takes the writer only when there is work. */
    sp_conn *r = sp_store__reader(st);
    if (!r)
        return SP_ERR_DB;
    sqlite3_stmt *q = sp_store__stmt(r, SQL_DUE);
    if (!q)
        return SP_ERR_DB;
    sqlite3_bind_int64(q, 1, now_ms);
    int due = sqlite3_step(q) == SQLITE_ROW;
    sp_store__done(q);
    if (!due)
        return 0;

    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    int rc = 0, n = 0;
    q = sp_store__stmt(w, SQL_DUE);
    sqlite3_stmt *mark = sp_store__stmt(w, SQL_MARK_EXPIRED);
    if (!q || !mark) {
        sp_store__rollback(st);
        return SP_ERR_DB;
    }
    sqlite3_bind_int64(q, 1, now_ms);
    /* Collect first: the marks would otherwise change the rows under the
     * running query. */
    typedef struct due_share {
        int64_t seq, grantee_seq, creator_seq, expires_at;
        char id[SP_ID_LEN], drive_id[SP_ID_LEN], creator_id[SP_ID_LEN], drive_name[256],
            item_id[256], item_name[256], role[64], grantee[320];
    } due_share;
    due_share *list = calloc(256, sizeof *list);
    if (!list) {
        sp_store__done(q);
        sp_store__rollback(st);
        return SP_ERR_NOMEM;
    }
    while (n < 256 && sqlite3_step(q) == SQLITE_ROW) {
        due_share *d = &list[n++];
        d->seq = sqlite3_column_int64(q, 0);
        sp_store__copy_text(q, 1, d->id, sizeof d->id);
        sp_store__copy_text(q, 2, d->drive_id, sizeof d->drive_id);
        sp_store__copy_text(q, 3, d->drive_name, sizeof d->drive_name);
        sp_store__copy_text(q, 4, d->item_id, sizeof d->item_id);
        sp_store__copy_text(q, 5, d->item_name, sizeof d->item_name);
        sp_store__copy_text(q, 6, d->role, sizeof d->role);
        d->expires_at = sqlite3_column_int64(q, 7);
        d->grantee_seq = sqlite3_column_int64(q, 8);
        sp_store__copy_text(q, 9, d->grantee, sizeof d->grantee);
        d->creator_seq = sqlite3_column_int64(q, 10);
        sp_store__copy_text(q, 11, d->creator_id, sizeof d->creator_id);
    }
    sp_store__done(q);
    for (int i = 0; rc == 0 && i < n; i++) {
        due_share *d = &list[i];
        sqlite3_bind_int64(mark, 1, d->seq);
        int step = sqlite3_step(mark);
        sp_store__done(mark);
        if (step != SQLITE_DONE) {
            rc = sp_store__err(w, step, "mark share expired");
            break;
        }
        /* The executant of an expiry is the share's creator: nobody acted. */
        json_t *data = share_data(d->creator_id, d->creator_id, d->drive_id, d->drive_name,
                                  d->item_id, d->item_name, d->id, d->grantee, !d->grantee_seq,
                                  d->role, d->expires_at);
        int64_t recipients[2] = {d->creator_seq, d->grantee_seq};
        rc = data ? sp_store__event_add(w, SP_EVENT_SHARE_EXPIRED, d->drive_id, data, recipients,
                                        d->grantee_seq ? 2 : 1, NULL)
                  : SP_ERR_NOMEM;
        json_decref(data);
    }
    free(list);
    if (rc < 0) {
        sp_store__rollback(st);
        return rc;
    }
    rc = sp_store__commit(st);
    if (rc == 0 && count)
        *count = n;
    return rc;
}

/* ---- e-mail shares meet their user ---- */

static const char SQL_PENDING[] =
    "SELECT s.seq, s.id, d.id, d.name, s.item_id, s.item_name, s.role,"
    " coalesce(s.expires_at, 0), s.creator_seq, c.id FROM shares s JOIN drives d ON d.seq ="
    " s.drive_seq JOIN users c ON c.seq = s.creator_seq"
    " WHERE s.grantee_seq IS NULL AND s.grantee_email = ? LIMIT 1";
static const char SQL_CLAIM[] =
    "UPDATE shares SET grantee_seq = ?, grantee_email = NULL, updated_at = ? WHERE seq = ?";

int sp_store__shares_match_email(sp_conn *w, int64_t user_seq, const char *user_id,
                                 const char *email)
{
    if (!email || !*email)
        return 0;
    sqlite3_stmt *q = sp_store__stmt(w, SQL_PENDING);
    sqlite3_stmt *claim = sp_store__stmt(w, SQL_CLAIM);
    if (!q || !claim)
        return SP_ERR_DB;
    /* One pending share at a time: each claim changes the rows the query
     * selects, so the query is not kept running across updates. */
    for (;;) {
        sqlite3_bind_text(q, 1, email, -1, SQLITE_STATIC);
        int step = sqlite3_step(q);
        if (step != SQLITE_ROW) {
            sp_store__done(q);
            return step == SQLITE_DONE ? 0 : sp_store__err(w, step, "pending shares");
        }
        int64_t seq = sqlite3_column_int64(q, 0);
        char share_id[SP_ID_LEN], drive_id[SP_ID_LEN], drive_name[1024], item_id[1024],
            item_name[1024], role[64];
        sp_store__copy_text(q, 1, share_id, sizeof share_id);
        sp_store__copy_text(q, 2, drive_id, sizeof drive_id);
        sp_store__copy_text(q, 3, drive_name, sizeof drive_name);
        sp_store__copy_text(q, 4, item_id, sizeof item_id);
        sp_store__copy_text(q, 5, item_name, sizeof item_name);
        sp_store__copy_text(q, 6, role, sizeof role);
        int64_t expires = sqlite3_column_int64(q, 7);
        int64_t creator_seq = sqlite3_column_int64(q, 8);
        char creator_id[SP_ID_LEN];
        sp_store__copy_text(q, 9, creator_id, sizeof creator_id);
        sp_store__done(q);

        sqlite3_bind_int64(claim, 1, user_seq);
        sqlite3_bind_int64(claim, 2, sp_time_now_ms());
        sqlite3_bind_int64(claim, 3, seq);
        step = sqlite3_step(claim);
        sp_store__done(claim);
        if (step != SQLITE_DONE)
            return sp_store__err(w, step, "claim e-mail share");
        json_t *data = share_data(user_id, creator_id, drive_id, drive_name, item_id, item_name,
                                  share_id, user_id, 0, role, expires);
        if (!data)
            return SP_ERR_NOMEM;
        json_object_set_new(data, "matchedEmail", json_string(email));
        int64_t recipients[2] = {user_seq, creator_seq};
        int rc = sp_store__event_add(w, SP_EVENT_SHARE_UPDATED, drive_id, data, recipients, 2,
                                     NULL);
        json_decref(data);
        if (rc < 0)
            return rc;
    }
}
