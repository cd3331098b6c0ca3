/*
 * drives.c - project and personal drives: listing with keyset paging,
 * lookup, creation and the lifecycle (update, disable, restore, purge).
 */
#include "store/drives.h"

#include "store/authz.h"

#include "store/events.h"
#include "store/internal.h"
#include "store/remotes.h"
#include "store/roles.h"

#include "util/err.h"
#include "util/slug.h"
#include "util/id.h"
#include "util/log.h"
#include "util/time.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Columns 0..13 of every drive query, in sp_drive order (13 the caller's
 * role); then 14 the name sort key, 15-17 the mountpoint fields, 18-19 the
 * remote space fields. */
#define DRIVE_COLS                                                                                \
    "d.seq AS seq, d.id AS id, d.drive_type AS drive_type, d.alias AS alias, d.name AS name,"     \
    " d.description AS description, o.id AS owner_id, o.display_name AS owner_name,"              \
    " coalesce(d.quota_total, -1) AS quota_total, d.quota_used AS quota_used, d.etag AS etag,"    \
    " d.mtime AS mtime, coalesce(d.disabled_at, 0) AS disabled_at"

/* What a user reaches: drives they are a member of (disabled ones only as
 * Manager; ?4 = 1 shows them to everyone: admins), a mountpoint per share
 * received, and the remote spaces they registered (store/remotes.c). The
 * outer query filters, orders and pages all three; every arm yields a
 * unique id (UUIDs) and a non-NULL sort key and mtime, so the keyset
 * cursor (key, id) orders the union totally. */
#define MEMBER_ARM                                                                                \
    "SELECT " DRIVE_COLS ", m.role AS role, lower(d.name) AS k, NULL AS share_id,"                \
    " NULL AS item_id, NULL AS shared_drive_id, NULL AS remote_url, NULL AS remote_instance"      \
    " FROM (SELECT drive_seq, " SP_ROLE_OF_RANK("max(" SP_ROLE_RANK("role") ")") " AS role"       \
    " FROM reach WHERE user_seq = ?1 AND (expires_at IS NULL OR expires_at > ?6)"               \
    " GROUP BY drive_seq) m"                                                                      \
    " JOIN drives d ON d.seq = m.drive_seq LEFT JOIN users o ON o.seq = d.owner_seq"             \
    " WHERE (d.disabled_at IS NULL OR m.role = '" SP_ROLE_MANAGER "' OR ?4 = 1)"
/* A share received is a drive while its grantee keeps it mounted
 * (store/share_states.c), as in oCIS: an unmounted share is only in
 * sharedWithMe. ?1 is the user. */
#define MOUNTED                                                                                   \
    "NOT EXISTS (SELECT 1 FROM share_states ss WHERE ss.share_seq = s.seq"                        \
    " AND ss.user_seq = ?1 AND ss.mounted = 0)"
/* One mountpoint per item, as oCIS mounts a resource once however many
 * shares of it a user received (their own and their groups'): the oldest
 * mounted share of the item stands for it, the one whose id sharedWithMe
 * gives when all are mounted. Otherwise a desktop client syncs the item
 * twice. ?1 is the user, now the time. */
#define FIRST_MOUNTED(now)                                                                        \
    "NOT EXISTS (SELECT 1 FROM shares s2 WHERE s2.drive_seq = s.drive_seq"                        \
    " AND s2.item_id = s.item_id AND (s2.created_at < s.created_at OR"                            \
    " (s2.created_at = s.created_at AND s2.id < s.id)) AND (s2.grantee_seq = ?1 OR"               \
    " s2.grantee_group_seq IN (SELECT gm.group_seq FROM group_members gm WHERE gm.user_seq = ?1))" \
    " AND (s2.expires_at IS NULL OR s2.expires_at > " now ") AND NOT EXISTS (SELECT 1 FROM"      \
    " share_states ss2 WHERE ss2.share_seq = s2.seq AND ss2.user_seq = ?1 AND ss2.mounted = 0))"
/* A mountpoint's name: the item's as storage last described it, else the
 * fallback sharedWithMe shows (sp_item_fallback_name: the name the share
 * was given unless that is the item id, else the id's opaque part), so
 * that a desktop client names its folder as the web names the share.
 * Only for served shares (SP_SHARE_SERVED), whose item id is the drive's
 * id (a UUID, without '!') or that id, '!' and a non-empty opaque part:
 * the opaque part starts after the drive id and its '!', which both
 * engines find by length (they have no common function for the place of
 * a character). */
#define SHARE_NAME                                                                                \
    "coalesce((SELECT i.name FROM items i WHERE i.drive_seq = s.drive_seq"                        \
    " AND i.id = s.item_id), CASE WHEN s.item_name <> '' AND s.item_name <> s.item_id"            \
    " THEN s.item_name WHEN length(s.item_id) > length(d.id) + 1"                                 \
    " THEN substr(s.item_id, length(d.id) + 2) ELSE s.item_id END)"
#define SHARE_ARM                                                                                 \
    "SELECT s.seq, s.mount_id, 'mountpoint', NULL, " SHARE_NAME ", '', o.id, o.display_name,"     \
    " -1, 0, d.etag, d.mtime, 0, s.role, lower(" SHARE_NAME "), s.id, s.item_id, d.id, NULL, NULL" \
    " FROM shares s JOIN drives d ON d.seq = s.drive_seq JOIN users o ON o.seq = s.creator_seq"   \
    " WHERE " SP_SHARE_RECEIVED_BY("?1") " AND d.disabled_at IS NULL"                             \
    " AND (s.expires_at IS NULL OR s.expires_at > ?6) AND " SP_SHARE_SERVED " AND " MOUNTED       \
    " AND " FIRST_MOUNTED("?6")
#define REMOTE_ARM                                                                                \
    "SELECT r.seq, r.id, 'mountpoint', NULL, r.name, '', NULL, NULL, -1, 0,"                      \
    " coalesce(r.etag, ''), coalesce(r.mtime, r.created_at), 0, NULL, lower(r.name), NULL,"       \
    " r.remote_drive_id, r.remote_drive_id, r.web_dav_url, r.instance"                            \
    " FROM remotes r WHERE r.owner_seq = ?1"
/* Filters on type (?2) and id (?3), each NULL for none. A parameter's
 * typed use comes first: PostgreSQL types a parameter bound NULL by its
 * first use, which "IS NULL" leaves undecided. */
#define SELECT_MEMBER                                                                             \
    "SELECT * FROM (" MEMBER_ARM " UNION ALL " SHARE_ARM " UNION ALL " REMOTE_ARM ") AS d"        \
    " WHERE (d.drive_type = ?2 OR ?2 IS NULL) AND (d.id = ?3 OR ?3 IS NULL)"

#define SELECT_ALL                                                                                \
    "SELECT " DRIVE_COLS ", " SP_BEST_ROLE("?1", "d.seq", "?6") ","                               \
    " lower(d.name) AS k, NULL, NULL, NULL, NULL, NULL"                                           \
    " FROM drives d LEFT JOIN users o ON o.seq = d.owner_seq"                                     \
    " WHERE (d.drive_type = ?2 OR ?2 IS NULL) AND (d.id = ?3 OR ?3 IS NULL) AND ?4 = ?4"

/* Written as a range on the leading key plus a tie-break, not as a row
 * value comparison: SQLite 3.40 seeks an expression index only so. The
 * member listing names its sort key k; the admin listing has the index. */
#define AFTER_NAME_ASC " AND k >= ?7 AND (k > ?7 OR d.id > ?8)"
#define AFTER_NAME_DESC " AND k <= ?7 AND (k < ?7 OR d.id < ?8)"
#define AFTER_MTIME_ASC " AND d.mtime >= ?7 AND (d.mtime > ?7 OR d.id > ?8)"
#define AFTER_MTIME_DESC " AND d.mtime <= ?7 AND (d.mtime < ?7 OR d.id < ?8)"
#define ALL_AFTER_NAME_ASC " AND lower(d.name) >= ?7 AND (lower(d.name) > ?7 OR d.id > ?8)"
#define ALL_AFTER_NAME_DESC " AND lower(d.name) <= ?7 AND (lower(d.name) < ?7 OR d.id < ?8)"
#define ORDER_NAME_ASC " ORDER BY k, d.id LIMIT ?5"
#define ORDER_NAME_DESC " ORDER BY k DESC, d.id DESC LIMIT ?5"
#define ALL_ORDER_NAME_ASC " ORDER BY lower(d.name), d.id LIMIT ?5"
#define ALL_ORDER_NAME_DESC " ORDER BY lower(d.name) DESC, d.id DESC LIMIT ?5"
#define ORDER_MTIME_ASC " ORDER BY d.mtime, d.id LIMIT ?5"
#define ORDER_MTIME_DESC " ORDER BY d.mtime DESC, d.id DESC LIMIT ?5"

/* [all][order][with cursor]: separate statements so that a cursor is an
 * index range seek, never a scan from the start. The cursor's parameters
 * come last (?7 the key, ?8 the id), so that the statements without them
 * number theirs without a gap (PostgreSQL types every number up to the
 * highest, and an unused one has no type). */
static const char *const SQL_LIST[2][4][2] = {
    {
        {SELECT_MEMBER ORDER_NAME_ASC, SELECT_MEMBER AFTER_NAME_ASC ORDER_NAME_ASC},
        {SELECT_MEMBER ORDER_NAME_DESC, SELECT_MEMBER AFTER_NAME_DESC ORDER_NAME_DESC},
        {SELECT_MEMBER ORDER_MTIME_ASC, SELECT_MEMBER AFTER_MTIME_ASC ORDER_MTIME_ASC},
        {SELECT_MEMBER ORDER_MTIME_DESC, SELECT_MEMBER AFTER_MTIME_DESC ORDER_MTIME_DESC},
    },
    {
        {SELECT_ALL ALL_ORDER_NAME_ASC, SELECT_ALL ALL_AFTER_NAME_ASC ALL_ORDER_NAME_ASC},
        {SELECT_ALL ALL_ORDER_NAME_DESC, SELECT_ALL ALL_AFTER_NAME_DESC ALL_ORDER_NAME_DESC},
        {SELECT_ALL ORDER_MTIME_ASC, SELECT_ALL AFTER_MTIME_ASC ORDER_MTIME_ASC},
        {SELECT_ALL ORDER_MTIME_DESC, SELECT_ALL AFTER_MTIME_DESC ORDER_MTIME_DESC},
    },
};

static const char SQL_GET[] =
    "SELECT " DRIVE_COLS ", " SP_BEST_ROLE("?1", "d.seq", "?3")
    " FROM drives d LEFT JOIN users o ON o.seq = d.owner_seq WHERE d.id = ?2";

static const char *col_text(sp_db_stmt *s, int col)
{
    return sp_db_column_text(s, col);
}

static void read_drive(sp_db_stmt *s, sp_drive *d)
{
    memset(d, 0, sizeof *d);
    d->seq = sp_db_column_int64(s, 0);
    d->id = col_text(s, 1);
    d->type = col_text(s, 2);
    d->alias = col_text(s, 3);
    d->name = col_text(s, 4);
    d->description = col_text(s, 5);
    d->owner_id = col_text(s, 6);
    d->owner_name = col_text(s, 7);
    d->quota_total = sp_db_column_int64(s, 8);
    d->quota_used = sp_db_column_int64(s, 9);
    d->etag = col_text(s, 10);
    d->mtime_ms = sp_db_column_int64(s, 11);
    d->disabled_at_ms = sp_db_column_int64(s, 12);
    d->role = col_text(s, 13);
}

int sp_store_drives_list(sp_store *st, const sp_user *user, int all, const sp_drive_query *q,
                         sp_drive_fn fn, void *ctx, int *more, sp_drive_cursor *next)
{
    if (more)
        *more = 0;
    sp_conn *c = sp_store__reader(st);
    if (!c)
        return SP_ERR_DB;
    int order = (int)q->order;
    if (order < 0 || order > 3)
        return SP_ERR_INVALID;
    sp_db_stmt *s = sp_store__stmt(c, SQL_LIST[all ? 1 : 0][order][q->after.set ? 1 : 0]);
    if (!s)
        return SP_ERR_DB;
    int mtime_order = q->order == SP_DRIVE_ORDER_MTIME_ASC || q->order == SP_DRIVE_ORDER_MTIME_DESC;
    sp_db_bind_int64(s, 1, user->seq);
    if (q->type)
        sp_db_bind_text(s, 2, q->type);
    if (q->id)
        sp_db_bind_text(s, 3, q->id);
    sp_db_bind_int64(s, 4, all ? 1 : 0);
    int top = q->top < 1 ? 1 : q->top > SP_DRIVE_TOP_MAX ? SP_DRIVE_TOP_MAX : q->top;
    sp_db_bind_int64(s, 5, top + 1); /* one more tells whether a next page exists */
    sp_db_bind_int64(s, 6, sp_time_now_ms());
    if (q->after.set) {
        if (mtime_order)
            sp_db_bind_int64(s, 7, strtoll(q->after.key, NULL, 10));
        else
            sp_db_bind_text(s, 7, q->after.key);
        sp_db_bind_text(s, 8, q->after.id);
    }

    int rc, sent = 0, err = 0;
    while ((rc = sp_db_step(s)) == SP_DB_ROW) {
        if (sent == top) {
            if (more)
                *more = 1;
            break;
        }
        sp_drive d;
        read_drive(s, &d);
        d.role = col_text(s, 13);
        d.share_id = col_text(s, 15);
        d.item_id = col_text(s, 16);
        d.shared_drive_id = col_text(s, 17);
        d.remote_web_dav_url = col_text(s, 18);
        d.remote_instance = col_text(s, 19);
        if (next) {
            next->set = 1;
            if (mtime_order)
                snprintf(next->key, sizeof next->key, "%lld", (long long)d.mtime_ms);
            else
                snprintf(next->key, sizeof next->key, "%s", col_text(s, 14));
            snprintf(next->id, sizeof next->id, "%s", d.id);
        }
        err = fn(&d, ctx);
        sent++;
        if (err < 0)
            break;
    }
    if (err == 0 && rc != SP_DB_ROW && rc != SP_DB_DONE)
        err = sp_store__err(c, rc, "list drives");
    sp_store__done(s);
    return err;
}

int sp_store_drive_get(sp_store *st, const sp_user *user, int as_admin, const char *id,
                       sp_drive_fn fn, void *ctx)
{
    sp_conn *c = sp_store__reader(st);
    if (!c)
        return SP_ERR_DB;
    sp_db_stmt *s = sp_store__stmt(c, SQL_GET);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, user->seq);
    sp_db_bind_text(s, 2, id);
    sp_db_bind_int64(s, 3, sp_time_now_ms());
    int rc = sp_db_step(s), err;
    if (rc == SP_DB_ROW) {
        sp_drive d;
        read_drive(s, &d);
        int manager = d.role && strcmp(d.role, SP_ROLE_MANAGER) == 0;
        if (!as_admin && (!d.role || (d.disabled_at_ms && !manager)))
            err = SP_ERR_NOT_FOUND;
        else
            err = fn(&d, ctx);
    } else {
        err = rc == SP_DB_DONE ? SP_ERR_NOT_FOUND : sp_store__err(c, rc, "get drive");
    }
    sp_store__done(s);
    return err;
}

int sp_store_drive_find(sp_store *st, const sp_user *user, int as_admin, const char *id,
                        sp_drive_fn fn, void *ctx)
{
    int rc = sp_store_drive_get(st, user, as_admin, id, fn, ctx);
    if (rc == SP_ERR_NOT_FOUND)
        rc = sp_store_mountpoint_get(st, user, id, fn, ctx);
    if (rc == SP_ERR_NOT_FOUND)
        rc = sp_store_remote_get(st, user, id, fn, ctx);
    return rc;
}

static const char SQL_MOUNTPOINT[] =
    "SELECT s.seq, s.mount_id, 'mountpoint', NULL, " SHARE_NAME ", '', o.id, o.display_name,"
    " -1, 0, d.etag, d.mtime, 0, s.role, NULL, s.id, s.item_id, d.id"
    " FROM shares s JOIN drives d ON d.seq = s.drive_seq JOIN users o ON o.seq = s.creator_seq"
    " WHERE s.mount_id = ?2 AND " SP_SHARE_RECEIVED_BY("?1") " AND d.disabled_at IS NULL"
    " AND (s.expires_at IS NULL OR s.expires_at > ?3) AND " SP_SHARE_SERVED " AND " MOUNTED;

int sp_store_mountpoint_get(sp_store *st, const sp_user *user, const char *id, sp_drive_fn fn,
                            void *ctx)
{
    sp_conn *c = sp_store__reader(st);
    if (!c)
        return SP_ERR_DB;
    sp_db_stmt *s = sp_store__stmt(c, SQL_MOUNTPOINT);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, user->seq);
    sp_db_bind_text(s, 2, id);
    sp_db_bind_int64(s, 3, sp_time_now_ms());
    int rc = sp_db_step(s), err;
    if (rc == SP_DB_ROW) {
        sp_drive d;
        read_drive(s, &d);
        d.share_id = col_text(s, 15);
        d.item_id = col_text(s, 16);
        d.shared_drive_id = col_text(s, 17);
        err = fn(&d, ctx);
    } else {
        err = rc == SP_DB_DONE ? SP_ERR_NOT_FOUND : sp_store__err(c, rc, "get mountpoint");
    }
    sp_store__done(s);
    return err;
}

/* ---- writes ---- */

static const char SQL_DRIVE_INSERT[] =
    "INSERT INTO drives (id, drive_type, alias, name, description, owner_seq, quota_total, etag,"
    " mtime, created_at) VALUES (?, 'project', ?, ?, ?, ?, nullif(?, -1), ?, ?, ?)";
static const char SQL_MEMBER_INSERT[] =
    "INSERT INTO members (user_seq, drive_seq, id, role, created_at) VALUES (?, ?, ?, ?, ?)";
static const char SQL_DRIVE_STATE[] =
    "SELECT seq, name, coalesce(disabled_at, 0), drive_type FROM drives WHERE id = ?";
/* Members, and the known members of member groups; an expired member
 * hears nothing more of the drive. */
static const char SQL_RECIPIENTS[] = "SELECT DISTINCT user_seq FROM reach WHERE drive_seq = ?1"
                                     " AND (expires_at IS NULL OR expires_at > ?2)";

/* Everyone who reaches the drive: unexpired members (also through a
 * group), and grantees of its unexpired shares (their mountpoints show
 * it), also the known members of grantee groups. */
static const char SQL_AUDIENCE[] =
    "SELECT user_seq FROM reach WHERE drive_seq = ?1"
    " AND (expires_at IS NULL OR expires_at > ?2)"
    " UNION SELECT grantee_seq FROM shares WHERE drive_seq = ?1 AND grantee_seq IS NOT NULL"
    " AND (expires_at IS NULL OR expires_at > ?2)"
    " UNION SELECT gm.user_seq FROM shares s JOIN group_members gm"
    " ON gm.group_seq = s.grantee_group_seq WHERE s.drive_seq = ?1"
    " AND (s.expires_at IS NULL OR s.expires_at > ?2)";

/* Runs sql (?1 the drive, ?2 now) collecting user seqs into *out. */
static int collect_users(sp_conn *w, const char *sql, int64_t drive_seq, int64_t **out,
                         size_t *count, const char *what)
{
    *out = NULL;
    *count = 0;
    sp_db_stmt *s = sp_store__stmt(w, sql);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, drive_seq);
    sp_db_bind_int64(s, 2, sp_time_now_ms());
    return sp_store__collect_seqs(w, s, out, count, what);
}

int sp_store__drive_recipients(sp_conn *w, int64_t drive_seq, int64_t **out, size_t *count)
{
    return collect_users(w, SQL_RECIPIENTS, drive_seq, out, count, "drive recipients");
}

int sp_store__drive_audience(sp_conn *w, int64_t drive_seq, int64_t **out, size_t *count)
{
    return collect_users(w, SQL_AUDIENCE, drive_seq, out, count, "drive audience");
}

int sp_store_drive_create(sp_store *st, const sp_user *creator, const char *name,
                          const char *description, int64_t quota_total,
                          char id_out[SP_USER_ID_LEN])
{
    char drive_id[SP_ID_LEN], perm_id[SP_ID_LEN], etag[SP_ID_LEN];
    if (sp_id_uuid(drive_id) < 0 || sp_id_uuid(perm_id) < 0 || sp_id_uuid(etag) < 0)
        return SP_ERR_IO;
    char alias[600] = "project/";
    sp_slug(name, alias + 8, sizeof alias - 8);
    if (!alias[8]) /* a name of punctuation only */
        snprintf(alias + 8, sizeof alias - 8, "space");
    int64_t now = sp_time_now_ms();

    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    int rc = SP_ERR_DB;
    sp_db_stmt *s = sp_store__stmt(w, SQL_DRIVE_INSERT);
    if (!s)
        goto fail;
    sp_db_bind_text(s, 1, drive_id);
    sp_db_bind_text(s, 2, alias);
    sp_db_bind_text(s, 3, name);
    sp_db_bind_text(s, 4, description ? description : "");
    sp_db_bind_int64(s, 5, creator->seq);
    sp_db_bind_int64(s, 6, quota_total);
    sp_db_bind_text(s, 7, etag);
    sp_db_bind_int64(s, 8, now);
    sp_db_bind_int64(s, 9, now);
    int step = sp_db_step(s);
    sp_store__done(s);
    if (step != SP_DB_DONE) {
        rc = sp_store__err(w, step, "insert project drive");
        goto fail;
    }
    int64_t drive_seq = sp_db_last_id(w->db);

    s = sp_store__stmt(w, SQL_MEMBER_INSERT);
    if (!s)
        goto fail;
    sp_db_bind_int64(s, 1, creator->seq);
    sp_db_bind_int64(s, 2, drive_seq);
    sp_db_bind_text(s, 3, perm_id);
    sp_db_bind_text(s, 4, SP_ROLE_MANAGER);
    sp_db_bind_int64(s, 5, now);
    step = sp_db_step(s);
    sp_store__done(s);
    if (step != SP_DB_DONE) {
        rc = sp_store__err(w, step, "insert creator membership");
        goto fail;
    }

    json_t *data = json_pack("{s:s, s:s, s:s, s:s}", "executant", creator->id, "driveId",
                             drive_id, "driveName", name, "driveType", "project");
    rc = data ? sp_store__event_add(w, SP_EVENT_SPACE_CREATED, drive_id, data, &creator->seq, 1,
                                    NULL)
              : SP_ERR_NOMEM;
    json_decref(data);
    if (rc < 0)
        goto fail;
    rc = sp_store__commit(st);
    if (rc == 0)
        snprintf(id_out, SP_USER_ID_LEN, "%s", drive_id);
    return rc;

fail:
    sp_store__rollback(st);
    return rc;
}

static const char SQL_UPDATE_NAME[] = "UPDATE drives SET name = ? WHERE seq = ?";
static const char SQL_UPDATE_DESCRIPTION[] = "UPDATE drives SET description = ? WHERE seq = ?";
static const char SQL_UPDATE_QUOTA[] =
    "UPDATE drives SET quota_total = nullif(?, -1) WHERE seq = ?";
static const char SQL_DISABLE[] = "UPDATE drives SET disabled_at = ? WHERE seq = ?";
static const char SQL_RESTORE[] = "UPDATE drives SET disabled_at = NULL WHERE seq = ?";
static const char SQL_PURGE[] = "DELETE FROM drives WHERE seq = ?";

static int exec_text_seq(sp_conn *w, const char *sql, const char *text, int64_t seq)
{
    sp_db_stmt *s = sp_store__stmt(w, sql);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, text);
    sp_db_bind_int64(s, 2, seq);
    return sp_store__step_done(w, s, sql);
}

static int exec_int_seq(sp_conn *w, const char *sql, int64_t v, int64_t seq)
{
    sp_db_stmt *s = sp_store__stmt(w, sql);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, v);
    sp_db_bind_int64(s, 2, seq);
    return sp_store__step_done(w, s, sql);
}

sp_authz_act sp_drive_step_act(sp_drive_step step, const sp_drive_patch *patch)
{
    if (step != SP_DRIVE_UPDATE)
        return SP_AUTHZ_DISABLE_DRIVE;
    if (step == SP_DRIVE_UPDATE && patch && patch->set_quota)
        return SP_AUTHZ_SET_QUOTA;
    return SP_AUTHZ_MANAGE_DRIVE;
}

int sp_store_drive_change(sp_store *st, const sp_user *actor, const char *id, sp_drive_step step,
                          const sp_drive_patch *patch)
{
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    int64_t *recipients = NULL;
    size_t recipient_count = 0;
    json_t *data = NULL;
    /* Asked again here, where the write happens: the actor may have lost
     * the Manager role since the handler asked. */
    sp_authz a = {.act = sp_drive_step_act(step, patch), .actor = actor, .drive_id = id};
    int rc = sp_store__authorize(w, &a);
    if (rc < 0)
        goto fail;
    rc = SP_ERR_DB;

    sp_db_stmt *s = sp_store__stmt(w, SQL_DRIVE_STATE);
    if (!s)
        goto fail;
    sp_db_bind_text(s, 1, id);
    int step_rc = sp_db_step(s);
    if (step_rc != SP_DB_ROW) {
        sp_store__done(s);
        rc = step_rc == SP_DB_DONE ? SP_ERR_NOT_FOUND : sp_store__err(w, step_rc, "drive state");
        goto fail;
    }
    int64_t seq = sp_db_column_int64(s, 0);
    char old_name[1024];
    sp_store__copy_text(s, 1, old_name, sizeof old_name);
    int disabled = sp_db_column_int64(s, 2) != 0;
    char type[16];
    sp_store__copy_text(s, 3, type, sizeof type);
    sp_store__done(s);

    /* Recipients are read before a purge removes the members. Disabling,
     * restoring and purging also take or give back the mountpoints of the
     * drive's shares: their grantees hear of it too, so that their change
     * streams and drive deltas see the mountpoint go or come back. */
    if (step == SP_DRIVE_UPDATE)
        rc = sp_store__drive_recipients(w, seq, &recipients, &recipient_count);
    else
        rc = sp_store__drive_audience(w, seq, &recipients, &recipient_count);
    if (rc < 0)
        goto fail;
    data = json_pack("{s:s, s:s, s:s, s:s}", "executant", actor->id, "driveId", id, "driveName",
                     patch && patch->name ? patch->name : old_name, "driveType", type);
    if (!data) {
        rc = SP_ERR_NOMEM;
        goto fail;
    }
    const char *type_name = NULL;
    switch (step) {
    case SP_DRIVE_UPDATE:
        type_name = SP_EVENT_SPACE_UPDATED;
        rc = disabled ? SP_ERR_CONFLICT : 0; /* disabled since the handler looked */
        if (patch->name && (rc = exec_text_seq(w, SQL_UPDATE_NAME, patch->name, seq)) == 0)
            json_object_set_new(data, "oldName", json_string(old_name));
        if (rc == 0 && patch->description) {
            rc = exec_text_seq(w, SQL_UPDATE_DESCRIPTION, patch->description, seq);
            json_object_set_new(data, "description", json_string(patch->description));
        }
        if (rc == 0 && patch->set_quota) {
            rc = exec_int_seq(w, SQL_UPDATE_QUOTA, patch->quota_total, seq);
            json_object_set_new(data, "quotaTotal", json_integer(patch->quota_total));
        }
        break;
    case SP_DRIVE_DISABLE:
        type_name = SP_EVENT_SPACE_DISABLED;
        rc = disabled ? SP_ERR_CONFLICT : exec_int_seq(w, SQL_DISABLE, sp_time_now_ms(), seq);
        break;
    case SP_DRIVE_RESTORE:
        type_name = SP_EVENT_SPACE_RESTORED;
        rc = !disabled ? SP_ERR_CONFLICT : sp_store__exec_seq(w, SQL_RESTORE, seq, SQL_RESTORE);
        break;
    case SP_DRIVE_PURGE:
        type_name = SP_EVENT_SPACE_DELETED;
        /* The shares go with the drive: each one's share.deleted first,
         * while its row (and its grantee's mountpoint id) is there. */
        rc = !disabled ? SP_ERR_CONFLICT : sp_store__shares_drive_purged(w, seq, actor->id);
        if (rc == 0)
            rc = sp_store__exec_seq(w, SQL_PURGE, seq, SQL_PURGE);
        break;
    }
    if (rc < 0)
        goto fail;
    rc = sp_store__event_add(w, type_name, id, data, recipients, recipient_count, NULL);
    if (rc < 0)
        goto fail;
    json_decref(data);
    free(recipients);
    return sp_store__commit(st);

fail:
    sp_store__rollback(st);
    json_decref(data);
    free(recipients);
    return rc;
}
