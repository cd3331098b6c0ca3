/*
 * shares.c - shares of items, their events, expiry, and matching e-mail
 * shares to users when they are first seen.
 *
 * Who an address is: the users whose identity provider verified it
 * (auth keeps only verified addresses, in lower case). A share to an
 * address goes to its one user, waits for the first user who verifies it
 * and is theirs for good once claimed, and is refused while several users
 * (of several providers) verified it: nobody is picked silently. An
 * expired share counts nowhere: once its expiry event is written it only
 * stays for sharedByMe's history, and giving the same access again
 * replaces it.
 */
#include "store/shares.h"

#include "store/events.h"
#include "store/internal.h"
#include "store/items.h"
#include "store/roles.h"

#include "util/err.h"
#include "util/id.h"
#include "util/log.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Columns of every share query, in sp_share order. */
#define SHARE_COLS                                                                                \
    "s.id, s.mount_id, d.id, d.name, d.etag, d.mtime, s.item_id, s.item_name, g.id,"              \
    " g.display_name, s.grantee_email, s.role, coalesce(s.expires_at, 0), c.id,"                  \
    " c.display_name, s.created_at, d.id, i.id, i.parent_id, i.name, i.path, i.folder, i.size,"   \
    " i.etag, i.mtime, i.mime_type, d.drive_type, gr.id, gr.name, ct.id,"                         \
    " coalesce(ct.name, s.grantee_remote), s.grantee_remote"
/* The item columns start here (items.c's order); i.id is NULL while
 * storage has not described the item. */
#define ITEM_COL 16
#define DRIVE_TYPE_COL 26
/* A group's share: the group's id and name. */
#define GROUP_COL 27
/* A contact's share: the contact's id and name, and its OCM address. */
#define CONTACT_COL 29
/* Lists of shares received add the caller's view: mounted, hidden. */
#define STATE_COL 32
#define SHARE_FROM                                                                                \
    " FROM shares s JOIN drives d ON d.seq = s.drive_seq"                                         \
    " LEFT JOIN users g ON g.seq = s.grantee_seq JOIN users c ON c.seq = s.creator_seq"           \
    " LEFT JOIN items i ON i.drive_seq = s.drive_seq AND i.id = s.item_id"                        \
    " LEFT JOIN groups gr ON gr.seq = s.grantee_group_seq"                                        \
    " LEFT JOIN ocm_contacts ct"                                                                  \
    " ON ct.owner_seq = s.creator_seq AND ct.address = s.grantee_remote"
#define UNEXPIRED " (s.expires_at IS NULL OR s.expires_at > ?2)"

/* sharedWithMe and sharedByMe answer at most SP_SHARES_LIST_MAX shares
 * (the LIMIT below): a reply stays bounded whatever one user shared. */
_Static_assert(SP_SHARES_LIST_MAX == 1000, "keep the LIMIT of the share lists in step");

static const char SQL_GET[] = "SELECT " SHARE_COLS SHARE_FROM " WHERE s.id = ?1";
static const char SQL_OF_ITEM[] = "SELECT " SHARE_COLS SHARE_FROM
                                  " WHERE d.id = ?1 AND s.item_id = ?3 AND" UNEXPIRED
                                  " ORDER BY s.created_at, s.id";
/* Ordered by item, oldest share first: sharedWithMe shows one driveItem
 * per item, named by its oldest share. */
static const char SQL_RECEIVED[] =
    "SELECT " SHARE_COLS ", coalesce(st.mounted, 1), coalesce(st.hidden, 0)" SHARE_FROM
    " LEFT JOIN share_states st ON st.share_seq = s.seq AND st.user_seq = ?1"
    " WHERE " SP_SHARE_RECEIVED_BY("?1") " AND d.disabled_at IS NULL AND" UNEXPIRED
    " AND " SP_SHARE_SERVED " ORDER BY d.id, s.item_id, s.created_at, s.id LIMIT 1000";
/* Only on drives the sharer still reaches: once their membership expired
 * (or went) their shares stay their grantees', but the drive's items, as
 * storage renames them, are no longer the sharer's to read. */
#define SHARER_REACHES " AND " SP_BEST_ROLE("?1", "s.drive_seq", "?2") " IS NOT NULL"
static const char SQL_CREATED[] =
    "SELECT " SHARE_COLS SHARE_FROM " WHERE s.creator_seq = ?1 AND" UNEXPIRED SHARER_REACHES
    " ORDER BY s.item_id, s.created_at, s.id LIMIT 1000";

static void read_share(sp_db_stmt *q, sp_share *s)
{
#define T(i) (sp_db_column_text(q, i))
    s->id = T(0);
    s->mount_id = T(1);
    s->drive_id = T(2);
    s->drive_name = T(3);
    s->drive_etag = T(4);
    s->drive_mtime_ms = sp_db_column_int64(q, 5);
    s->item_id = T(6);
    s->item_name = T(7);
    s->grantee_id = T(8);
    s->grantee_name = T(9);
    s->grantee_email = T(10);
    s->role = T(11);
    s->expires_at_ms = sp_db_column_int64(q, 12);
    s->creator_id = T(13);
    s->creator_name = T(14);
    s->created_at_ms = sp_db_column_int64(q, 15);
    s->drive_type = T(DRIVE_TYPE_COL);
    s->item_known = !sp_db_column_is_null(q, ITEM_COL + 1);
    if (s->item_known) {
        sp_store__read_item(q, ITEM_COL, &s->item);
        s->item_name = s->item.name;
    } else {
        memset(&s->item, 0, sizeof s->item);
        s->item_name = sp_item_fallback_name(s->item_id, s->item_name);
    }
    s->grantee_group_id = T(GROUP_COL);
    s->grantee_group_name = T(GROUP_COL + 1);
    s->grantee_contact_id = T(CONTACT_COL);
    s->grantee_contact_name = T(CONTACT_COL + 1);
    s->grantee_remote = T(CONTACT_COL + 2);
    s->mounted = 1;
    s->hidden = 0;
    if (sp_db_column_count(q) > STATE_COL + 1) {
        s->mounted = sp_db_column_int64(q, STATE_COL);
        s->hidden = sp_db_column_int64(q, STATE_COL + 1);
    }
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
    sp_db_stmt *q = sp_store__stmt(c, sql);
    if (!q)
        return SP_ERR_DB;
    if (key)
        sp_db_bind_text(q, 1, key);
    else
        sp_db_bind_int64(q, 1, key_seq);
    sp_db_bind_int64(q, 2, sp_time_now_ms());
    if (key2)
        sp_db_bind_text(q, 3, key2);
    int rc, err = 0, n = 0;
    while ((rc = sp_db_step(q)) == SP_DB_ROW) {
        sp_share s;
        read_share(q, &s);
        n++;
        err = fn(&s, ctx);
        if (err < 0)
            break;
    }
    if (err == 0 && rc != SP_DB_ROW && rc != SP_DB_DONE)
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

/* Unexpired shares that are not served (SP_SHARE_SERVED), oldest first;
 * ?1 = 0 takes them all. */
static const char SQL_NOT_SERVED[] = "SELECT " SHARE_COLS SHARE_FROM " WHERE s.seq > ?1 AND"
                                     UNEXPIRED " AND NOT " SP_SHARE_SERVED " ORDER BY s.seq";

static int log_not_served(const sp_share *s, void *arg)
{
    int *n = arg;
    if ((*n)++ < SP_SHARES_NOT_SERVED_LOG_MAX)
        sp_warn("store",
                "share %s of drive %s names item %.300s, which is not an item of that drive:"
                " not served to its grantee; its sharer or a Manager can remove it",
                s->id, s->drive_id, s->item_id);
    return 0;
}

int sp_store_shares_log_not_served(sp_store *st, int *count)
{
    int n = 0;
    int rc = each(st, SQL_NOT_SERVED, NULL, 0, NULL, log_not_served, &n, NULL);
    if (n > SP_SHARES_NOT_SERVED_LOG_MAX)
        sp_warn("store", "%d more shares name items outside their drive and are not served",
                n - SP_SHARES_NOT_SERVED_LOG_MAX);
    if (count)
        *count = n;
    return rc;
}

/* ---- writes ---- */

/* One share row as the writes need it: enough for its event. */
typedef struct share_row {
    int64_t seq, drive_seq, grantee_seq, creator_seq, expires_at; /* expires_at 0 = none */
    int64_t grantee_group_seq;                                   /* 0: not a group's */
    int expired;                                                 /* its expiry event is written */
    char id[SP_ID_LEN], mount_id[SP_ID_LEN], drive_id[SP_ID_LEN], creator_id[SP_ID_LEN],
        drive_name[1024], item_id[1024], item_name[1024], role[64],
        grantee[1024],          /* user id, e-mail address, group id or a contact's OCM address */
        grantee_instance[2100]; /* a contact's share: the instance it goes to; else "" */
} share_row;

#define ROW_SELECT                                                                                \
    "SELECT s.seq, s.drive_seq, s.id, d.id, d.name, s.item_id, s.item_name, s.role,"              \
    " coalesce(s.expires_at, 0), s.expired, s.grantee_seq,"                                      \
    " coalesce(g.id, gr.id, s.grantee_email, s.grantee_remote), s.creator_seq, c.id,"             \
    " s.grantee_group_seq, s.mount_id, coalesce(s.grantee_instance, '')"                          \
    " FROM shares s JOIN drives d ON d.seq = s.drive_seq"                                         \
    " LEFT JOIN users g ON g.seq = s.grantee_seq JOIN users c ON c.seq = s.creator_seq"           \
    " LEFT JOIN groups gr ON gr.seq = s.grantee_group_seq"
static const char SQL_ROW_BY_ID[] = ROW_SELECT " WHERE s.id = ?";
static const char SQL_ROW_BY_SEQ[] = ROW_SELECT " WHERE s.seq = ?";

/* Reads the share with id (text) or seq into *r on the writer. Returns 1,
 * 0 when there is none, or a negative sp_err. */
static int load_row(sp_conn *w, const char *id, int64_t seq, share_row *r)
{
    sp_db_stmt *q = sp_store__stmt(w, id ? SQL_ROW_BY_ID : SQL_ROW_BY_SEQ);
    if (!q)
        return SP_ERR_DB;
    if (id)
        sp_db_bind_text(q, 1, id);
    else
        sp_db_bind_int64(q, 1, seq);
    int step = sp_db_step(q);
    if (step == SP_DB_ROW) {
        r->seq = sp_db_column_int64(q, 0);
        r->drive_seq = sp_db_column_int64(q, 1);
        sp_store__copy_text(q, 2, r->id, sizeof r->id);
        sp_store__copy_text(q, 3, r->drive_id, sizeof r->drive_id);
        sp_store__copy_text(q, 4, r->drive_name, sizeof r->drive_name);
        sp_store__copy_text(q, 5, r->item_id, sizeof r->item_id);
        sp_store__copy_text(q, 6, r->item_name, sizeof r->item_name);
        sp_store__copy_text(q, 7, r->role, sizeof r->role);
        r->expires_at = sp_db_column_int64(q, 8);
        r->expired = sp_db_column_int64(q, 9);
        r->grantee_seq = sp_db_column_int64(q, 10);
        sp_store__copy_text(q, 11, r->grantee, sizeof r->grantee);
        r->creator_seq = sp_db_column_int64(q, 12);
        sp_store__copy_text(q, 13, r->creator_id, sizeof r->creator_id);
        r->grantee_group_seq = sp_db_column_int64(q, 14);
        sp_store__copy_text(q, 15, r->mount_id, sizeof r->mount_id);
        sp_store__copy_text(q, 16, r->grantee_instance, sizeof r->grantee_instance);
    }
    sp_store__done(q);
    if (step == SP_DB_ROW)
        return 1;
    return step == SP_DB_DONE ? 0 : sp_store__err(w, step, "read share");
}

/* Event data naming the share (schema/events/share.json); new reference.
 * grantee_key says what grantee is: granteeUserId, granteeEmail,
 * granteeGroupId or ocmAddress. */
static json_t *share_data(const char *executant, const char *sharer, const char *drive_id,
                          const char *drive_name, const char *item_id, const char *item_name,
                          const char *share_id, const char *grantee, const char *grantee_key,
                          const char *role, int64_t expires_at_ms)
{
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s]}", "shareId", share_id,
                          "executant", executant, "sharer", sharer, "driveId", drive_id,
                          "driveName", drive_name, "itemId", item_id, "resourceName", item_name,
                          grantee_key, grantee, "roles", role);
    if (d && expires_at_ms) {
        char when[SP_TIME_RFC3339_LEN];
        sp_time_format_rfc3339(expires_at_ms, when);
        json_object_set_new(d, "expirationDateTime", json_string(when));
    }
    return d;
}

/* Whether user_seq still reaches drive_seq (an unexpired membership,
 * their own or a group's): into *yes. Returns 0 or a negative sp_err. */
static const char SQL_REACHES[] = "SELECT " SP_BEST_ROLE("?1", "?2", "?3") " IS NOT NULL";

static int reaches(sp_conn *w, int64_t user_seq, int64_t drive_seq, int *yes)
{
    sp_db_stmt *q = sp_store__stmt(w, SQL_REACHES);
    if (!q)
        return SP_ERR_DB;
    sp_db_bind_int64(q, 1, user_seq);
    sp_db_bind_int64(q, 2, drive_seq);
    sp_db_bind_int64(q, 3, sp_time_now_ms());
    int step = sp_db_step(q);
    *yes = step == SP_DB_ROW && sp_db_column_int64(q, 0);
    sp_store__done(q);
    return step == SP_DB_ROW ? 0 : sp_store__err(w, step, "sharer reaches drive");
}

/* Writes event type about r as it is now, acted on by executant (a user
 * id; the sharer when NULL), for the share's grantee (every known member
 * of a grantee group), actor_seq (0: nobody more) and its creator while
 * they still reach the drive: a sharer whose membership expired hears
 * nothing more of it, their shares' news (the item's current name) included.
 * extra (may be NULL, stolen) adds members to the data. */
static int row_event(sp_conn *w, const share_row *r, const char *type, const char *executant,
                     int64_t actor_seq, json_t *extra)
{
    json_t *data = share_data(executant ? executant : r->creator_id, r->creator_id, r->drive_id,
                              r->drive_name, r->item_id, r->item_name, r->id, r->grantee,
                              r->grantee_seq           ? "granteeUserId"
                              : r->grantee_group_seq   ? "granteeGroupId"
                              : r->grantee_instance[0] ? "ocmAddress"
                                                       : "granteeEmail",
                              r->role, r->expires_at);
    /* A contact's share: where the OCM queue delivers it. */
    if (data && r->grantee_instance[0])
        json_object_set_new(data, "instance", json_string(r->grantee_instance));
    if (data && extra)
        json_object_update(data, extra);
    /* The grantee's mountpoint: a share's end names the drive id that
     * leaves their listing (the row is gone by then). */
    if (data && r->mount_id[0])
        json_object_set_new(data, "mountId", json_string(r->mount_id));
    json_decref(extra);
    if (!data)
        return SP_ERR_NOMEM;
    /* What storage says of the item, its current name first. */
    int rc = sp_store__item_fields(w, r->drive_id, r->item_id, data, 1);
    if (rc < 0) {
        json_decref(data);
        return rc;
    }
    int64_t *recipients = NULL, seq = 0;
    size_t n = 0;
    int told = r->creator_seq == actor_seq;
    if (!told)
        rc = reaches(w, r->creator_seq, r->drive_seq, &told);
    if (rc == 0 && told)
        rc = sp_store__seqs_add(&recipients, &n, r->creator_seq);
    if (rc == 0 && r->grantee_seq)
        rc = sp_store__seqs_add(&recipients, &n, r->grantee_seq);
    if (rc == 0 && actor_seq)
        rc = sp_store__seqs_add(&recipients, &n, actor_seq);
    if (rc == 0 && r->grantee_group_seq)
        rc = sp_store__add_group_members(w, r->grantee_group_seq, &recipients, &n);
    if (rc == 0)
        rc = sp_store__event_add(w, type, r->drive_id, data, recipients, n, &seq);
    /* A group's share changes the access of the group's members only,
     * not its sharer's (who receives nothing of it: internal.h). */
    if (rc == 0 && r->grantee_group_seq)
        rc = sp_store__event_mark_affected(w, seq, r->grantee_group_seq, r->creator_seq);
    json_decref(data);
    free(recipients);
    return rc;
}

static const char SQL_MARK_EXPIRED[] = "UPDATE shares SET expired = 1 WHERE seq = ?";
static const char SQL_DELETE[] = "DELETE FROM shares WHERE seq = ?";

/* Writes the share.expired event of r, once: a share whose expiry is
 * written already is left alone. The executant of an expiry is the
 * share's creator: nobody acted. */
static int write_expiry(sp_conn *w, share_row *r)
{
    if (r->expired)
        return 0;
    int rc = sp_store__exec_seq(w, SQL_MARK_EXPIRED, r->seq, "mark share expired");
    if (rc == 0)
        rc = row_event(w, r, SP_EVENT_SHARE_EXPIRED, NULL, 0, NULL);
    if (rc == 0)
        r->expired = 1;
    return rc;
}

/* Removes a share that expired by now_ms, after writing its expiry if
 * the sweeper has not yet: an expired share counts nowhere, not even in
 * the uniqueness of (item, grantee), so the same access can be given
 * again. */
static int retire_expired(sp_conn *w, share_row *r)
{
    int rc = write_expiry(w, r);
    return rc < 0 ? rc : sp_store__exec_seq(w, SQL_DELETE, r->seq, "remove expired share");
}

static int is_expired(const share_row *r, int64_t now_ms)
{
    return r->expires_at && r->expires_at <= now_ms;
}

/* The share of item_id in drive_seq held by grantee_seq (or, with
 * grantee_seq 0, by group ?5, pending for email, or given to the OCM
 * address remote): what the unique indexes allow once. */
static const char SQL_SAME_GRANT[] =
    "SELECT seq FROM shares WHERE drive_seq = ?1 AND item_id = ?2 AND"
    " ((?3 > 0 AND grantee_seq = ?3) OR (?5 > 0 AND grantee_group_seq = ?5)"
    " OR (?3 = 0 AND ?5 = 0 AND grantee_seq IS NULL AND grantee_email = ?4)"
    " OR (grantee_remote = ?6 AND ?6 IS NOT NULL))";

/* Finds the grant of the same item to the same grantee into *r. Returns
 * 1, 0 or a negative sp_err. */
static int same_grant(sp_conn *w, int64_t drive_seq, const char *item_id, int64_t grantee_seq,
                      int64_t group_seq, const char *email, const char *remote, share_row *r)
{
    sp_db_stmt *q = sp_store__stmt(w, SQL_SAME_GRANT);
    if (!q)
        return SP_ERR_DB;
    sp_db_bind_int64(q, 1, drive_seq);
    sp_db_bind_text(q, 2, item_id);
    sp_db_bind_int64(q, 3, grantee_seq);
    if (email)
        sp_db_bind_text(q, 4, email);
    sp_db_bind_int64(q, 5, group_seq);
    if (remote)
        sp_db_bind_text(q, 6, remote);
    int step = sp_db_step(q);
    int64_t seq = step == SP_DB_ROW ? sp_db_column_int64(q, 0) : 0;
    sp_store__done(q);
    if (step != SP_DB_ROW)
        return step == SP_DB_DONE ? 0 : sp_store__err(w, step, "same grant");
    return load_row(w, NULL, seq, r);
}

static const char SQL_DRIVE[] = "SELECT seq, name FROM drives WHERE id = ?";
static const char SQL_USER_BY_ID[] = "SELECT seq, id, display_name FROM users WHERE id = ?";
/* Two rows are enough to know an address is not one user's. */
static const char SQL_USER_BY_EMAIL[] =
    "SELECT seq, id, display_name FROM users WHERE email = lower(?) ORDER BY seq LIMIT 2";
static const char SQL_GROUP_BY_ID[] = "SELECT seq, id, name FROM groups WHERE id = ?";
static const char SQL_INSERT[] =
    "INSERT INTO shares (id, mount_id, drive_seq, item_id, item_name, grantee_seq, grantee_email,"
    " role, expires_at, creator_seq, created_at, updated_at, grantee_group_seq, grantee_remote,"
    " grantee_instance) VALUES (?, ?, ?, ?, ?, ?, lower(?), ?, nullif(?, 0), ?, ?, ?, ?, ?, ?)";
/* Resolves grantee on the writer into *seq (0 for an address nobody has
 * yet; a group's seq for a group) and made's id and name. Returns 0,
 * SP_ERR_NOT_FOUND (no such user or group id) or SP_ERR_CONFLICT with
 * made->ambiguous (an address that users of several identity providers
 * verified: no one of them is picked). */
static int resolve_grantee(sp_conn *w, const sp_share_grantee *grantee, int64_t *seq,
                           sp_share_made *made)
{
    *seq = 0;
    const char *key = grantee->group_id  ? grantee->group_id
                      : grantee->user_id ? grantee->user_id
                                         : grantee->email;
    sp_db_stmt *q = sp_store__stmt(w, grantee->group_id  ? SQL_GROUP_BY_ID
                                        : grantee->user_id ? SQL_USER_BY_ID
                                                           : SQL_USER_BY_EMAIL);
    if (!q)
        return SP_ERR_DB;
    sp_db_bind_text(q, 1, key);
    int step = sp_db_step(q);
    if (step == SP_DB_ROW) {
        *seq = sp_db_column_int64(q, 0);
        sp_store__copy_text(q, 1, made->grantee_id, sizeof made->grantee_id);
        sp_store__copy_text(q, 2, made->grantee_name, sizeof made->grantee_name);
        step = sp_db_step(q);
        made->ambiguous = step == SP_DB_ROW;
    }
    sp_store__done(q);
    if (step != SP_DB_ROW && step != SP_DB_DONE)
        return sp_store__err(w, step, "share grantee");
    if (made->ambiguous)
        return SP_ERR_CONFLICT;
    return (grantee->user_id || grantee->group_id) && !*seq ? SP_ERR_NOT_FOUND : 0;
}

int sp_store_share_create(sp_store *st, const sp_user *actor, const char *drive_id,
                          const char *item_id, const char *item_name,
                          const sp_share_grantee *grantee, const char *role,
                          int64_t expires_at_ms, sp_share_made *made)
{
    char share_id[SP_ID_LEN], mount_id[SP_ID_LEN];
    if (sp_id_uuid7(share_id) < 0 || sp_id_uuid7(mount_id) < 0)
        return SP_ERR_IO;
    made->grantee_id[0] = made->grantee_name[0] = '\0';
    made->ambiguous = made->group = made->federated = 0;
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    int rc = SP_ERR_DB;
    sp_db_stmt *q = sp_store__stmt(w, SQL_DRIVE);
    if (!q)
        goto fail;
    sp_db_bind_text(q, 1, drive_id);
    int step = sp_db_step(q);
    share_row r = {.drive_seq = step == SP_DB_ROW ? sp_db_column_int64(q, 0) : 0,
                   .creator_seq = actor->seq};
    if (step == SP_DB_ROW)
        sp_store__copy_text(q, 1, r.drive_name, sizeof r.drive_name);
    sp_store__done(q);
    if (step != SP_DB_ROW) {
        rc = step == SP_DB_DONE ? SP_ERR_NOT_FOUND : sp_store__err(w, step, "share drive");
        goto fail;
    }
    rc = resolve_grantee(w, grantee, &r.grantee_seq, made);
    /* No user by that id: perhaps one of the sharer's contacts. */
    if (rc == SP_ERR_NOT_FOUND && grantee->user_id) {
        rc = sp_store__share_contact(w, actor->seq, grantee->user_id, r.grantee, sizeof r.grantee,
                                     r.grantee_instance, sizeof r.grantee_instance,
                                     made->grantee_id, made->grantee_name);
        made->federated = rc == 0;
    }
    if (rc < 0)
        goto fail;
    if (grantee->group_id) {
        r.grantee_group_seq = r.grantee_seq;
        r.grantee_seq = 0;
        made->group = 1;
    } else if (r.grantee_seq == actor->seq) {
        rc = SP_ERR_INVALID;
        goto fail;
    }

    int64_t now = sp_time_now_ms();
    share_row old;
    const char *email = r.grantee_seq || r.grantee_group_seq ? NULL : grantee->email;
    const char *remote = made->federated ? r.grantee : NULL;
    rc = same_grant(w, r.drive_seq, item_id, r.grantee_seq, r.grantee_group_seq, email, remote,
                    &old);
    if (rc > 0)
        rc = is_expired(&old, now) ? retire_expired(w, &old) : SP_ERR_CONFLICT;
    if (rc < 0)
        goto fail; /* CONFLICT: the item is shared with that grantee already */

    q = sp_store__stmt(w, SQL_INSERT);
    if (!q) {
        rc = SP_ERR_DB;
        goto fail;
    }
    sp_db_bind_text(q, 1, share_id);
    sp_db_bind_text(q, 2, mount_id);
    sp_db_bind_int64(q, 3, r.drive_seq);
    sp_db_bind_text(q, 4, item_id);
    sp_db_bind_text(q, 5, item_name);
    if (r.grantee_seq)
        sp_db_bind_int64(q, 6, r.grantee_seq);
    else if (r.grantee_group_seq)
        sp_db_bind_int64(q, 13, r.grantee_group_seq);
    else if (remote)
        sp_db_bind_text(q, 14, remote);
    else
        sp_db_bind_text(q, 7, grantee->email);
    if (remote)
        sp_db_bind_text(q, 15, r.grantee_instance);
    sp_db_bind_text(q, 8, role);
    sp_db_bind_int64(q, 9, expires_at_ms);
    sp_db_bind_int64(q, 10, actor->seq);
    sp_db_bind_int64(q, 11, now);
    sp_db_bind_int64(q, 12, now);
    if ((rc = sp_store__step_done(w, q, "insert share")) < 0)
        goto fail;
    snprintf(r.id, sizeof r.id, "%s", share_id);
    snprintf(r.mount_id, sizeof r.mount_id, "%s", mount_id);
    snprintf(r.drive_id, sizeof r.drive_id, "%s", drive_id);
    snprintf(r.creator_id, sizeof r.creator_id, "%s", actor->id);
    snprintf(r.item_id, sizeof r.item_id, "%s", item_id);
    snprintf(r.item_name, sizeof r.item_name, "%s", item_name);
    snprintf(r.role, sizeof r.role, "%s", role);
    if (!remote)
        snprintf(r.grantee, sizeof r.grantee, "%s",
                 r.grantee_seq || r.grantee_group_seq ? made->grantee_id : grantee->email);
    r.expires_at = expires_at_ms;
    if ((rc = row_event(w, &r, SP_EVENT_SHARE_CREATED, actor->id, 0, NULL)) < 0)
        goto fail;
    rc = sp_store__commit(st);
    if (rc == 0) {
        snprintf(made->id, sizeof made->id, "%s", share_id);
        made->created_at_ms = now;
    }
    return rc;
fail:
    sp_store__rollback(st);
    return rc;
}

static const char SQL_OF_DRIVE[] = "SELECT seq FROM shares WHERE drive_seq = ? AND expired = 0";

int sp_store__shares_drive_purged(sp_conn *w, int64_t drive_seq, const char *executant)
{
    int64_t *seqs = NULL;
    size_t n = 0;
    sp_db_stmt *q = sp_store__stmt(w, SQL_OF_DRIVE);
    if (!q)
        return SP_ERR_DB;
    sp_db_bind_int64(q, 1, drive_seq);
    int rc = sp_store__collect_seqs(w, q, &seqs, &n, "shares of purged drive");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        share_row r;
        rc = load_row(w, NULL, seqs[i], &r);
        if (rc > 0)
            rc = row_event(w, &r, SP_EVENT_SHARE_DELETED, executant, 0, NULL);
    }
    free(seqs);
    return rc < 0 ? rc : 0;
}

static const char SQL_UPDATE[] = "UPDATE shares SET role = ?, expires_at = nullif(?, 0),"
                                 " expired = 0, updated_at = ? WHERE seq = ?";

/* Sets r's role and expiry, in the row and in *r. */
static int set_grant(sp_conn *w, share_row *r, const char *role, int64_t expires_at_ms)
{
    sp_db_stmt *q = sp_store__stmt(w, SQL_UPDATE);
    if (!q)
        return SP_ERR_DB;
    sp_db_bind_text_copy(q, 1, role);
    sp_db_bind_int64(q, 2, expires_at_ms);
    sp_db_bind_int64(q, 3, sp_time_now_ms());
    sp_db_bind_int64(q, 4, r->seq);
    int rc = sp_store__step_done(w, q, "update share");
    if (rc < 0)
        return rc;
    snprintf(r->role, sizeof r->role, "%s", role);
    r->expires_at = expires_at_ms;
    r->expired = 0;
    return 0;
}

int sp_store_share_change(sp_store *st, const sp_user *actor, const char *id, int remove,
                          const char *role, int set_expiry, int64_t expires_at_ms)
{
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    share_row r;
    int rc = load_row(w, id, 0, &r);
    if (rc == 0 || (rc > 0 && is_expired(&r, sp_time_now_ms())))
        rc = SP_ERR_NOT_FOUND; /* an expired share is gone: neither changed nor revived */
    if (rc > 0 && remove)
        rc = sp_store__exec_seq(w, SQL_DELETE, r.seq, "delete share");
    else if (rc > 0)
        rc = set_grant(w, &r, role ? role : r.role, set_expiry ? expires_at_ms : r.expires_at);
    if (rc == 0)
        rc = row_event(w, &r, remove ? SP_EVENT_SHARE_DELETED : SP_EVENT_SHARE_UPDATED, actor->id,
                       actor->seq, NULL);
    if (rc < 0) {
        sp_store__rollback(st);
        return rc;
    }
    return sp_store__commit(st);
}

/* Shares due for their expiry event, a bounded batch per transaction. */
#define SP_SHARES_EXPIRE_BATCH 256
static const char SQL_DUE[] = "SELECT seq FROM shares WHERE expires_at IS NOT NULL AND"
                              " expires_at <= ? AND expired = 0 LIMIT 256";
_Static_assert(SP_SHARES_EXPIRE_BATCH == 256, "keep the LIMIT of SQL_DUE in step");

int sp_store_shares_expire(sp_store *st, int64_t now_ms, int *count)
{
    if (count)
        *count = 0;
    /* Most of the time nothing is due: the reader says so, and the sweep
     * takes the writer only when there is work. */
    int due = sp_store__any_row(st, SQL_DUE, now_ms);
    if (due <= 0)
        return due;
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    sp_db_stmt *q = sp_store__stmt(w, SQL_DUE);
    int64_t *seqs = NULL;
    size_t n = 0;
    int rc = SP_ERR_DB;
    if (q) {
        sp_db_bind_int64(q, 1, now_ms);
        /* Collected first: the marks would otherwise change the rows under
         * the running query. */
        rc = sp_store__collect_seqs(w, q, &seqs, &n, "shares due");
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        share_row row;
        rc = load_row(w, NULL, seqs[i], &row);
        rc = rc > 0 ? write_expiry(w, &row) : rc;
    }
    free(seqs);
    rc = sp_store__finish(st, rc);
    if (rc == 0 && count)
        *count = (int)n;
    return rc;
}

/* ---- e-mail shares meet their user ---- */

static const char SQL_PENDING[] =
    "SELECT seq FROM shares WHERE grantee_seq IS NULL AND grantee_email = lower(?) LIMIT 1";
static const char SQL_CLAIM[] =
    "UPDATE shares SET grantee_seq = ?, grantee_email = NULL, updated_at = ? WHERE seq = ?";

/* Non-zero when grant a lasts at least as long as grant b (0: for good). */
static int outlasts(const share_row *a, const share_row *b)
{
    return !a->expires_at || (b->expires_at && a->expires_at >= b->expires_at);
}

/* Non-zero when the pending share p is to replace held, the grant of the
 * same item its user holds: p gives all that held gives, for at least as
 * long, and more of one or the other. Otherwise held stays as it is. Either
 * way the grant in force is one sharer's grant, unchanged: the merge never
 * gives more, or for longer, than one of them gave, and its sharer can
 * still revoke it. */
static int replaces(const share_row *p, const share_row *held)
{
    if (!sp_role_within(held->role, p->role) || !outlasts(p, held))
        return 0;
    return !sp_role_within(p->role, held->role) || !outlasts(held, p);
}

/* Removes gone, merged into the grant into, with a share.deleted naming it
 * (for gone's sharer and grantee, and user_seq, whose claim merged them). */
static int drop_merged(sp_conn *w, const share_row *gone, const share_row *into,
                       const char *user_id, int64_t user_seq)
{
    int rc = sp_store__exec_seq(w, SQL_DELETE, gone->seq, "merge e-mail share");
    return rc < 0 ? rc
                  : row_event(w, gone, SP_EVENT_SHARE_DELETED, user_id, user_seq,
                              json_pack("{s:s}", "mergedInto", into->id));
}

int sp_store__shares_match_email(sp_conn *w, int64_t user_seq, const char *user_id,
                                 const char *email)
{
    if (!email || !*email)
        return 0;
    int64_t now = sp_time_now_ms();
    /* One pending share at a time: each claim changes the rows the query
     * selects, so the query is not kept running across updates. */
    for (;;) {
        sp_db_stmt *q = sp_store__stmt(w, SQL_PENDING);
        if (!q)
            return SP_ERR_DB;
        sp_db_bind_text(q, 1, email);
        int step = sp_db_step(q);
        int64_t seq = step == SP_DB_ROW ? sp_db_column_int64(q, 0) : 0;
        sp_store__done(q);
        if (step != SP_DB_ROW)
            return step == SP_DB_DONE ? 0 : sp_store__err(w, step, "pending shares");
        share_row p, held;
        int rc = load_row(w, NULL, seq, &p);
        if (rc > 0 && is_expired(&p, now)) {
            rc = retire_expired(w, &p); /* gives nothing; counts nowhere */
            if (rc < 0)
                return rc;
            continue;
        }
        if (rc > 0)
            rc = same_grant(w, p.drive_seq, p.item_id, user_seq, 0, NULL, NULL, &held);
        /* The user may hold this item already (shared by id, or to an
         * address they had before): the claim merges, never fails. */
        if (rc > 0 && is_expired(&held, now)) {
            rc = retire_expired(w, &held);
        } else if (rc > 0 && !replaces(&p, &held)) {
            if ((rc = drop_merged(w, &p, &held, user_id, user_seq)) < 0)
                return rc;
            continue;
        } else if (rc > 0) {
            rc = drop_merged(w, &held, &p, user_id, user_seq); /* then p is claimed */
        }
        if (rc < 0)
            return rc;
        /* Claimed by the first user whose verified address it is, for
         * good: the share is theirs from now on, whoever signs in later
         * with the same address. */
        sp_db_stmt *claim = sp_store__stmt(w, SQL_CLAIM);
        if (!claim)
            return SP_ERR_DB;
        sp_db_bind_int64(claim, 1, user_seq);
        sp_db_bind_int64(claim, 2, sp_time_now_ms());
        sp_db_bind_int64(claim, 3, p.seq);
        if ((rc = sp_store__step_done(w, claim, "claim e-mail share")) < 0)
            return rc;
        json_t *matched = json_pack("{s:s}", "matchedEmail", p.grantee); /* as stored */
        p.grantee_seq = user_seq;
        snprintf(p.grantee, sizeof p.grantee, "%s", user_id);
        rc = row_event(w, &p, SP_EVENT_SHARE_UPDATED, user_id, 0, matched);
        if (rc < 0)
            return rc;
    }
}
