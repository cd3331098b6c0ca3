/*
 * members.c - space members: who may reach a drive and with which role.
 */
#include "store/drives.h"

#include "store/events.h"
#include "store/internal.h"
#include "store/roles.h"

#include "util/err.h"
#include "util/id.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A membership counts until its expiry passes, whether or not the sweeper
 * has written its member.expired event yet: every query about members
 * compares expires_at with the time. Users' memberships and groups'. */
static const char SQL_MEMBERS[] =
    "SELECT id, role, user_id, user_name, group_id, group_name, expires FROM ("
    "SELECT m.id AS id, m.role AS role, u.id AS user_id, u.display_name AS user_name,"
    " NULL AS group_id, NULL AS group_name, coalesce(m.expires_at, 0) AS expires,"
    " m.created_at AS created FROM members m JOIN users u ON u.seq = m.user_seq"
    " WHERE m.drive_seq = ?1 AND (m.expires_at IS NULL OR m.expires_at > ?2)"
    " UNION ALL SELECT g.id, g.role, NULL, NULL, gr.id, gr.name, coalesce(g.expires_at, 0),"
    " g.created_at FROM drive_groups g JOIN groups gr ON gr.seq = g.group_seq"
    " WHERE g.drive_seq = ?1 AND (g.expires_at IS NULL OR g.expires_at > ?2)) AS m"
    " ORDER BY role = '" SP_ROLE_MANAGER "' DESC, created, id";

int sp_store_members_list(sp_store *st, int64_t drive_seq, sp_member_fn fn, void *ctx)
{
    sp_conn *c = sp_store__reader(st);
    if (!c)
        return SP_ERR_DB;
    sp_db_stmt *s = sp_store__stmt(c, SQL_MEMBERS);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, drive_seq);
    sp_db_bind_int64(s, 2, sp_time_now_ms());
    int rc, err = 0;
    while ((rc = sp_db_step(s)) == SP_DB_ROW) {
        sp_member m = {
            .id = sp_db_column_text(s, 0),
            .role = sp_db_column_text(s, 1),
            .user_id = sp_db_column_text(s, 2),
            .user_name = sp_db_column_text(s, 3),
            .group_id = sp_db_column_text(s, 4),
            .group_name = sp_db_column_text(s, 5),
            .expires_at_ms = sp_db_column_int64(s, 6),
        };
        err = fn(&m, ctx);
        if (err < 0)
            break;
    }
    if (err == 0 && rc != SP_DB_ROW && rc != SP_DB_DONE)
        err = sp_store__err(c, rc, "list members");
    sp_store__done(s);
    return err;
}

static const char SQL_DRIVE_BY_ID[] = "SELECT seq, name FROM drives WHERE id = ?";
static const char SQL_USER_SEQ[] = "SELECT seq, display_name FROM users WHERE id = ?";
static const char SQL_GROUP_SEQ[] = "SELECT seq, name FROM groups WHERE id = ?";
static const char SQL_MEMBER_ADD[] =
    "INSERT INTO members (user_seq, drive_seq, id, role, expires_at, created_at)"
    " VALUES (?, ?, ?, ?, nullif(?, 0), ?)";
static const char SQL_GROUP_ADD[] =
    "INSERT INTO drive_groups (group_seq, drive_seq, id, role, expires_at, created_at)"
    " VALUES (?, ?, ?, ?, nullif(?, 0), ?)";
static const char SQL_GROUP_BY_PERM[] =
    "SELECT g.group_seq, g.role, gr.id FROM drive_groups g JOIN groups gr ON gr.seq = g.group_seq"
    " WHERE g.id = ?1 AND g.drive_seq = ?2 AND (g.expires_at IS NULL OR g.expires_at > ?3)";
static const char SQL_GROUP_ROLE[] = "UPDATE drive_groups SET role = ? WHERE id = ?";
static const char SQL_GROUP_DELETE[] = "DELETE FROM drive_groups WHERE id = ?";
static const char SQL_MEMBER_BY_PERM[] =
    "SELECT m.user_seq, m.role, u.id, coalesce(m.expires_at, 0) FROM members m"
    " JOIN users u ON u.seq = m.user_seq"
    " WHERE m.id = ?1 AND m.drive_seq = ?2 AND (m.expires_at IS NULL OR m.expires_at > ?3)";
/* The Managers of a drive other than membership ?3: how many are
 * unexpired, and how many of those never expire. An expired Manager
 * manages nothing; one that expires later manages only until then. */
static const char SQL_OTHER_MANAGERS[] =
    "SELECT count(*), count(*) FILTER (WHERE expires_at IS NULL) FROM members"
    " WHERE drive_seq = ?1 AND role = '" SP_ROLE_MANAGER "' AND id <> ?3"
    " AND (expires_at IS NULL OR expires_at > ?2)";
static const char SQL_MEMBER_ROLE[] = "UPDATE members SET role = ? WHERE id = ?";
/* A new expiry is a new one to announce when it passes. */
static const char SQL_MEMBER_EXPIRY[] =
    "UPDATE members SET expires_at = nullif(?, 0), expired = 0 WHERE id = ?";
static const char SQL_MEMBER_DELETE[] = "DELETE FROM members WHERE id = ?";

/* Finds a row by one text key; copies the seq and a text column. Returns
 * 0, SP_ERR_NOT_FOUND or an error. */
static int lookup(sp_conn *w, const char *sql, const char *key, int64_t *seq, char *text,
                  size_t textlen)
{
    sp_db_stmt *s = sp_store__stmt(w, sql);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, key);
    int rc = sp_db_step(s);
    if (rc == SP_DB_ROW) {
        *seq = sp_db_column_int64(s, 0);
        sp_store__copy_text(s, 1, text, textlen);
    }
    sp_store__done(s);
    if (rc == SP_DB_ROW)
        return 0;
    return rc == SP_DB_DONE ? SP_ERR_NOT_FOUND : sp_store__err(w, rc, sql);
}

/* Whom a member event names: a user (grantee, with extra_user the seq
 * of a removed one) or a group (with extra_group the seq of a removed
 * one). */
typedef struct member_who {
    const char *grantee_id, *group_id;
    int64_t extra_user, extra_group;
    int64_t group_seq; /* with group_id: its members are the affected recipients */
} member_who;

/* Writes a member event with the drive's current members (with their
 * groups' known members) as recipients, plus who lost the membership. */
static int member_event(sp_conn *w, const char *type, const sp_user *actor, const char *drive_id,
                        int64_t drive_seq, const char *drive_name, const member_who *who,
                        const char *role)
{
    int64_t *recipients = NULL;
    size_t count = 0;
    int rc = sp_store__drive_recipients(w, drive_seq, &recipients, &count);
    if (rc == 0 && who->extra_user)
        rc = sp_store__seqs_add(&recipients, &count, who->extra_user);
    if (rc == 0 && who->extra_group)
        rc = sp_store__add_group_members(w, who->extra_group, &recipients, &count);
    json_t *data =
        rc < 0
            ? NULL
            : json_pack("{s:s, s:s, s:s, s:s, s:s*}", "executant", actor->id, "driveId", drive_id,
                        "driveName", drive_name, who->group_id ? "granteeGroupId" : "grantee",
                        who->group_id ? who->group_id : who->grantee_id, "role", role);
    int64_t seq = 0;
    if (rc == 0)
        rc = data ? sp_store__event_add(w, type, drive_id, data, recipients, count, &seq)
                  : SP_ERR_NOMEM;
    if (rc == 0 && who->group_seq)
        rc = sp_store__event_mark_affected(w, seq, who->group_seq, 0);
    json_decref(data);
    free(recipients);
    return rc;
}

/* ---- expiry ---- */

/* An expired membership, as its member.expired event names it. */
typedef struct due_member {
    int64_t user_seq, drive_seq, expires_at;
    int expired; /* its event is written */
    char role[64], user_id[SP_ID_LEN], drive_id[SP_ID_LEN], executant[SP_ID_LEN],
        drive_name[SP_AUTHZ_DRIVE_NAME_MAX];
} due_member;

#define DUE_COLS                                                                                  \
    "SELECT m.user_seq, m.drive_seq, m.expires_at, m.expired, m.role, u.id, d.id, d.name,"        \
    " coalesce(o.id, u.id) FROM members m JOIN users u ON u.seq = m.user_seq"                     \
    " JOIN drives d ON d.seq = m.drive_seq LEFT JOIN users o ON o.seq = d.owner_seq"
/* Memberships expired per sweep at most, so that one sweep never holds
 * the writer long (the next sweep takes the rest). */
#define SP_MEMBERS_EXPIRE_BATCH 256
#define SP_STR(x) #x
#define SP_XSTR(x) SP_STR(x)
/* Expired, event not yet written (the members_expiry index). */
static const char SQL_DUE[] = DUE_COLS " WHERE m.expires_at IS NOT NULL AND m.expires_at <= ?1"
                                       " AND m.expired = 0 LIMIT " SP_XSTR(SP_MEMBERS_EXPIRE_BATCH);
/* One user's expired membership of one drive, event written or not. */
static const char SQL_DUE_ONE[] = DUE_COLS " WHERE m.user_seq = ?1 AND m.drive_seq = ?2"
                                           " AND m.expires_at <= ?3";
static const char SQL_MARK_EXPIRED[] =
    "UPDATE members SET expired = 1 WHERE user_seq = ? AND drive_seq = ?";
static const char SQL_EXPIRED_DELETE[] = "DELETE FROM members WHERE user_seq = ? AND drive_seq = ?";
/* Who hears of an expiry: the member and the unexpired Managers, also
 * those who manage through a group (they manage the members as any
 * Manager does, though they do not count as the space's last one). */
static const char SQL_EXPIRY_RECIPIENTS[] =
    "SELECT user_seq FROM reach WHERE drive_seq = ?1 AND role = '" SP_ROLE_MANAGER "'"
    " AND (expires_at IS NULL OR expires_at > ?2) UNION SELECT ?3";

static void read_due(sp_db_stmt *s, due_member *d)
{
    d->user_seq = sp_db_column_int64(s, 0);
    d->drive_seq = sp_db_column_int64(s, 1);
    d->expires_at = sp_db_column_int64(s, 2);
    d->expired = sp_db_column_int64(s, 3);
    sp_store__copy_text(s, 4, d->role, sizeof d->role);
    sp_store__copy_text(s, 5, d->user_id, sizeof d->user_id);
    sp_store__copy_text(s, 6, d->drive_id, sizeof d->drive_id);
    sp_store__copy_text(s, 7, d->drive_name, sizeof d->drive_name);
    sp_store__copy_text(s, 8, d->executant, sizeof d->executant);
}

/* Runs a statement bound to one membership's key. */
static int exec_member_key(sp_conn *w, const char *sql, const due_member *d)
{
    sp_db_stmt *s = sp_store__stmt(w, sql);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, d->user_seq);
    sp_db_bind_int64(s, 2, d->drive_seq);
    int step = sp_db_step(s);
    sp_store__done(s);
    return step == SP_DB_DONE ? 0 : sp_store__err(w, step, sql);
}

/* Marks d expired and writes its one member.expired event. The executant
 * is the drive's owner (its creator, for a project): nobody acted. */
static int expire_one(sp_conn *w, const due_member *d, int64_t now_ms)
{
    int rc = exec_member_key(w, SQL_MARK_EXPIRED, d);
    if (rc < 0)
        return rc;
    sp_db_stmt *s = sp_store__stmt(w, SQL_EXPIRY_RECIPIENTS);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, d->drive_seq);
    sp_db_bind_int64(s, 2, now_ms);
    sp_db_bind_int64(s, 3, d->user_seq);
    int64_t *recipients = NULL;
    size_t count = 0;
    rc = sp_store__collect_seqs(w, s, &recipients, &count, "expiry recipients");
    if (rc < 0)
        return rc;
    char when[SP_TIME_RFC3339_LEN];
    sp_time_format_rfc3339(d->expires_at, when);
    json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "executant", d->executant,
                             "driveId", d->drive_id, "driveName", d->drive_name, "grantee",
                             d->user_id, "role", d->role, "expirationDateTime", when);
    rc = data ? sp_store__event_add(w, SP_EVENT_MEMBER_EXPIRED, d->drive_id, data, recipients,
                                    count, NULL)
              : SP_ERR_NOMEM;
    json_decref(data);
    free(recipients);
    return rc;
}

/* Makes room for a new membership of user_seq in drive_seq: an expired
 * one goes, after its expiry event (unless the sweeper wrote it). An
 * unexpired one stays, and the insertion that follows conflicts. */
static int replace_expired(sp_conn *w, int64_t user_seq, int64_t drive_seq, int64_t now_ms)
{
    sp_db_stmt *s = sp_store__stmt(w, SQL_DUE_ONE);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, user_seq);
    sp_db_bind_int64(s, 2, drive_seq);
    sp_db_bind_int64(s, 3, now_ms);
    due_member d;
    int step = sp_db_step(s);
    if (step == SP_DB_ROW)
        read_due(s, &d);
    sp_store__done(s);
    if (step != SP_DB_ROW)
        return step == SP_DB_DONE ? 0 : sp_store__err(w, step, "expired member");
    int rc = d.expired ? 0 : expire_one(w, &d, now_ms);
    return rc < 0 ? rc : exec_member_key(w, SQL_EXPIRED_DELETE, &d);
}

int sp_store_members_expire(sp_store *st, int64_t now_ms, int *count)
{
    if (count)
        *count = 0;
    int due = sp_store__any_row(st, SQL_DUE, now_ms);
    if (due <= 0)
        return due;
    due_member *list = calloc(SP_MEMBERS_EXPIRE_BATCH, sizeof *list);
    if (!list)
        return SP_ERR_NOMEM;
    sp_conn *w = sp_store__begin(st);
    if (!w) {
        free(list);
        return SP_ERR_DB;
    }
    int rc = 0, n = 0, step = SP_DB_DONE;
    sp_db_stmt *s = sp_store__stmt(w, SQL_DUE);
    if (s) {
        sp_db_bind_int64(s, 1, now_ms);
        /* Collected first: the marks would change the rows under the
         * query. */
        while (n < SP_MEMBERS_EXPIRE_BATCH && (step = sp_db_step(s)) == SP_DB_ROW)
            read_due(s, &list[n++]);
        if (n < SP_MEMBERS_EXPIRE_BATCH && step != SP_DB_DONE)
            rc = sp_store__err(w, step, "due members");
        sp_store__done(s);
    } else {
        rc = SP_ERR_DB;
    }
    for (int i = 0; rc == 0 && i < n; i++)
        rc = expire_one(w, &list[i], now_ms);
    free(list);
    rc = sp_store__finish(st, rc);
    if (rc == 0 && count)
        *count = n;
    return rc;
}

/* Adds grantee_id (a user), or group_id (a group), to drive_id. */
static int add_member(sp_store *st, const sp_user *actor, const char *drive_id,
                      const char *grantee_id, const char *group_id, const char *role,
                      int64_t expires_at_ms, char perm_out[SP_USER_ID_LEN])
{
    char perm_id[SP_ID_LEN];
    if (sp_id_uuid(perm_id) < 0)
        return SP_ERR_IO;
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    int64_t drive_seq, grantee_seq;
    char drive_name[1024], grantee_name[256];
    int rc = lookup(w, SQL_DRIVE_BY_ID, drive_id, &drive_seq, drive_name, sizeof drive_name);
    if (rc == 0)
        rc = lookup(w, group_id ? SQL_GROUP_SEQ : SQL_USER_SEQ, group_id ? group_id : grantee_id,
                    &grantee_seq, grantee_name, sizeof grantee_name);
    /* A group's membership has no expiry, so none to replace. */
    if (rc == 0 && !group_id)
        rc = replace_expired(w, grantee_seq, drive_seq, sp_time_now_ms());
    if (rc < 0)
        goto fail;
    sp_db_stmt *s = sp_store__stmt(w, group_id ? SQL_GROUP_ADD : SQL_MEMBER_ADD);
    if (!s) {
        rc = SP_ERR_DB;
        goto fail;
    }
    sp_db_bind_int64(s, 1, grantee_seq);
    sp_db_bind_int64(s, 2, drive_seq);
    sp_db_bind_text(s, 3, perm_id);
    sp_db_bind_text(s, 4, role);
    sp_db_bind_int64(s, 5, expires_at_ms);
    sp_db_bind_int64(s, 6, sp_time_now_ms());
    int step = sp_db_step(s);
    sp_store__done(s);
    if (step != SP_DB_DONE) {
        rc = sp_store__err(w, step, "add member"); /* CONFLICT when already a member */
        goto fail;
    }
    member_who who = {
        .grantee_id = grantee_id, .group_id = group_id, .group_seq = group_id ? grantee_seq : 0};
    rc = member_event(w, SP_EVENT_MEMBER_ADDED, actor, drive_id, drive_seq, drive_name, &who, role);
    if (rc < 0)
        goto fail;
    rc = sp_store__commit(st);
    if (rc == 0)
        snprintf(perm_out, SP_USER_ID_LEN, "%s", perm_id);
    return rc;
fail:
    sp_store__rollback(st);
    return rc;
}

int sp_store_member_add(sp_store *st, const sp_user *actor, const char *drive_id,
                        const char *grantee_id, const char *role, int64_t expires_at_ms,
                        char perm_out[SP_USER_ID_LEN])
{
    return add_member(st, actor, drive_id, grantee_id, NULL, role, expires_at_ms, perm_out);
}

int sp_store_member_add_group(sp_store *st, const sp_user *actor, const char *drive_id,
                              const char *group_id, const char *role, char perm_out[SP_USER_ID_LEN])
{
    return add_member(st, actor, drive_id, NULL, group_id, role, 0, perm_out);
}

/* Whether membership perm_id of drive_seq may go from (old_role,
 * old_expiry) to (new_role, new_expiry), new_role NULL for a removal,
 * expiries 0 for none. A space keeps a Manager for good: a change that
 * leaves no Manager without an expiry, where there was one, is refused,
 * because a Manager who expires later orphans the space then, when
 * nobody is asked. Where no Manager is permanent (memberships from
 * before the rule), the last unexpired Manager still stays. Returns 0,
 * SP_ERR_DENIED (*why, when why is not NULL, says why: static text) or
 * an error. */
static int keeps_manager(sp_conn *w, int64_t drive_seq, const char *perm_id, const char *old_role,
                         int64_t old_expiry, const char *new_role, int64_t new_expiry,
                         const char **why)
{
    int was = strcmp(old_role, SP_ROLE_MANAGER) == 0;
    int stays = new_role && strcmp(new_role, SP_ROLE_MANAGER) == 0;
    int was_permanent = was && old_expiry == 0, stays_permanent = stays && new_expiry == 0;
    if (!(was && !stays) && !(was_permanent && !stays_permanent))
        return 0;
    sp_db_stmt *s = sp_store__stmt(w, SQL_OTHER_MANAGERS);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, drive_seq);
    sp_db_bind_int64(s, 2, sp_time_now_ms());
    sp_db_bind_text(s, 3, perm_id);
    int step = sp_db_step(s);
    int64_t others = 0, others_permanent = 0;
    if (step == SP_DB_ROW) {
        others = sp_db_column_int64(s, 0);
        others_permanent = sp_db_column_int64(s, 1);
    }
    sp_store__done(s);
    if (step != SP_DB_ROW)
        return sp_store__err(w, step, "count managers");
    const char *refused = NULL;
    if (was && !stays && others == 0)
        refused = "this would leave it no Manager; add another Manager first";
    else if (was_permanent && !stays_permanent && others_permanent == 0)
        refused = "this would leave it no Manager without an expiration date, and so none once "
                  "that date passes; add another Manager without expirationDateTime first";
    if (!refused)
        return 0;
    if (why)
        *why = refused;
    return SP_ERR_DENIED;
}

/* Runs sql, a statement without rows on (text, text) parameters. */
static int exec_text2(sp_conn *w, const char *sql, const char *a, const char *b, const char *what)
{
    sp_db_stmt *s = sp_store__stmt(w, sql);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, a);
    if (b)
        sp_db_bind_text(s, 2, b);
    return sp_store__step_done(w, s, what);
}

/* Changes or removes the group membership perm_id of drive_seq, as
 * sp_store_member_change. Returns 0, 1 when perm_id is no unexpired
 * group membership of the drive, or a negative sp_err. */
static int change_group(sp_conn *w, const sp_user *actor, const char *drive_id, int64_t drive_seq,
                        const char *drive_name, const char *perm_id, int remove, const char *role,
                        int set_expiry)
{
    sp_db_stmt *s = sp_store__stmt(w, SQL_GROUP_BY_PERM);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, perm_id);
    sp_db_bind_int64(s, 2, drive_seq);
    sp_db_bind_int64(s, 3, sp_time_now_ms());
    int step = sp_db_step(s);
    member_who who = {.extra_group = step == SP_DB_ROW ? sp_db_column_int64(s, 0) : 0};
    char old_role[64] = "", group_id[SP_ID_LEN] = "";
    if (step == SP_DB_ROW) {
        sp_store__copy_text(s, 1, old_role, sizeof old_role);
        sp_store__copy_text(s, 2, group_id, sizeof group_id);
    }
    sp_store__done(s);
    if (step != SP_DB_ROW)
        return step == SP_DB_DONE ? 1 : sp_store__err(w, step, "find group member");
    if (!remove && set_expiry)
        return SP_ERR_INVALID; /* groups' memberships do not expire */
    who.group_id = group_id;
    who.group_seq = who.extra_group;
    int rc = remove ? exec_text2(w, SQL_GROUP_DELETE, perm_id, NULL, "remove group member")
                    : exec_text2(w, SQL_GROUP_ROLE, role ? role : old_role, perm_id,
                                 "update group member");
    if (!remove)
        who.extra_group = 0; /* they still are members */
    return rc < 0 ? rc
                  : member_event(w, remove ? SP_EVENT_MEMBER_REMOVED : SP_EVENT_MEMBER_UPDATED,
                                 actor, drive_id, drive_seq, drive_name, &who,
                                 remove || !role ? old_role : role);
}

int sp_store_member_change(sp_store *st, const sp_user *actor, const char *drive_id,
                           const char *perm_id, int remove, const char *role, int set_expiry,
                           int64_t expires_at_ms, const char **why)
{
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    int64_t drive_seq;
    char drive_name[1024];
    int rc = lookup(w, SQL_DRIVE_BY_ID, drive_id, &drive_seq, drive_name, sizeof drive_name);
    if (rc < 0)
        goto fail;

    sp_db_stmt *s = sp_store__stmt(w, SQL_MEMBER_BY_PERM);
    if (!s) {
        rc = SP_ERR_DB;
        goto fail;
    }
    sp_db_bind_text(s, 1, perm_id);
    sp_db_bind_int64(s, 2, drive_seq);
    sp_db_bind_int64(s, 3, sp_time_now_ms());
    int step = sp_db_step(s);
    if (step == SP_DB_DONE) {
        sp_store__done(s);
        rc = change_group(w, actor, drive_id, drive_seq, drive_name, perm_id, remove, role,
                          set_expiry);
        if (rc > 0)
            rc = SP_ERR_NOT_FOUND;
        goto out;
    }
    if (step != SP_DB_ROW) {
        sp_store__done(s);
        rc = sp_store__err(w, step, "find member");
        goto fail;
    }
    int64_t user_seq = sp_db_column_int64(s, 0);
    char old_role[64], grantee_id[SP_ID_LEN];
    sp_store__copy_text(s, 1, old_role, sizeof old_role);
    sp_store__copy_text(s, 2, grantee_id, sizeof grantee_id);
    int64_t old_expiry = sp_db_column_int64(s, 3);
    sp_store__done(s);
    if (!remove && !role)
        role = old_role;
    rc = keeps_manager(w, drive_seq, perm_id, old_role, old_expiry, remove ? NULL : role,
                       set_expiry ? expires_at_ms : old_expiry, why);
    if (rc < 0)
        goto fail;

    member_who who = {.grantee_id = grantee_id};
    if (remove) {
        rc = exec_text2(w, SQL_MEMBER_DELETE, perm_id, NULL, "remove member");
        who.extra_user = user_seq;
        if (rc == 0)
            rc = member_event(w, SP_EVENT_MEMBER_REMOVED, actor, drive_id, drive_seq, drive_name,
                              &who, old_role);
    } else {
        rc = exec_text2(w, SQL_MEMBER_ROLE, role, perm_id, "update member");
        if (rc == 0 && set_expiry) {
            s = sp_store__stmt(w, SQL_MEMBER_EXPIRY);
            if (!s) {
                rc = SP_ERR_DB;
                goto fail;
            }
            sp_db_bind_int64(s, 1, expires_at_ms);
            sp_db_bind_text(s, 2, perm_id);
            rc = sp_store__step_done(w, s, "update member expiry");
        }
        if (rc == 0)
            rc = member_event(w, SP_EVENT_MEMBER_UPDATED, actor, drive_id, drive_seq, drive_name,
                              &who, role);
    }
out:
    if (rc < 0)
        goto fail;
    return sp_store__commit(st);
fail:
    sp_store__rollback(st);
    return rc;
}
