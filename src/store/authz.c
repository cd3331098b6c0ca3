/*
 * authz.c - reading what an authorization depends on, and deciding it.
 */
#include "store/authz.h"

#include "store/internal.h"

#include "util/err.h"
#include "util/time.h"

#include <string.h>

/* The drive and the actor's best unexpired role on it, their own or their
 * groups'. */
static const char SQL_STANDING[] =
    "SELECT d.seq, d.drive_type, d.name, d.disabled_at IS NOT NULL, "
    SP_BEST_ROLE("?1", "d.seq", "?3") " FROM drives d WHERE d.id = ?2";
/* An unexpired share of the drive's item, and whether the actor made it:
 * an expired one is gone for everyone, its sharer included. */
static const char SQL_SHARE[] = "SELECT s.creator_seq = ?1 FROM shares s"
                                " WHERE s.id = ?2 AND s.drive_seq = ?3 AND s.item_id = ?4"
                                " AND (s.expires_at IS NULL OR s.expires_at > ?5)";
/* An unexpired membership of the drive, and whether it is the actor's:
 * an expired one is gone for everyone. A group's is nobody's own: leaving
 * it is leaving the group, at the identity provider. */
static const char SQL_MEMBER[] =
    "SELECT CASE WHEN user_seq = ?1 THEN 1 ELSE 0 END FROM members"
    " WHERE id = ?2 AND drive_seq = ?3 AND (expires_at IS NULL OR expires_at > ?4)"
    " UNION ALL SELECT 0 FROM drive_groups WHERE id = ?2 AND drive_seq = ?3"
    " AND (expires_at IS NULL OR expires_at > ?4)";

/* Reads the drive's row and the actor's role into a. */
static int read_standing(sp_conn *c, sp_authz *a)
{
    sp_db_stmt *s = sp_store__stmt(c, SQL_STANDING);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, a->actor->seq);
    sp_db_bind_text(s, 2, a->drive_id);
    sp_db_bind_int64(s, 3, sp_time_now_ms());
    int rc = sp_db_step(s);
    if (rc == SP_DB_ROW) {
        a->drive_seq = sp_db_column_int64(s, 0);
        sp_store__copy_text(s, 1, a->drive_type, sizeof a->drive_type);
        sp_store__copy_text(s, 2, a->drive_name, sizeof a->drive_name);
        a->drive_disabled = sp_db_column_int64(s, 3);
        a->role = sp_role_find(sp_db_column_text(s, 4));
    }
    sp_store__done(s);
    return rc == SP_DB_ROW || rc == SP_DB_DONE ? 0 : sp_store__err(c, rc, "authorize: drive");
}

/* Reads whether the share or membership the question is about is there,
 * and the actor's. */
static int read_target(sp_conn *c, sp_authz *a)
{
    int share = a->act == SP_AUTHZ_CHANGE_SHARE;
    sp_db_stmt *s = sp_store__stmt(c, share ? SQL_SHARE : SQL_MEMBER);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, a->actor->seq);
    sp_db_bind_text(s, 2, a->target_id);
    sp_db_bind_int64(s, 3, a->drive_seq);
    if (share)
        sp_db_bind_text(s, 4, a->item_id);
    sp_db_bind_int64(s, share ? 5 : 4, sp_time_now_ms());
    int rc = sp_db_step(s);
    if (rc == SP_DB_ROW) {
        a->target_found = 1;
        a->target_own = sp_db_column_int64(s, 0);
    }
    sp_store__done(s);
    return rc == SP_DB_ROW || rc == SP_DB_DONE ? 0 : sp_store__err(c, rc, "authorize: target");
}

int sp_store_authorize(sp_store *st, sp_authz *a)
{
    sp_conn *c = sp_store__conn(st);
    return c ? sp_store__authorize(c, a) : SP_ERR_DB;
}

int sp_store__authorize(sp_conn *c, sp_authz *a)
{
    a->drive_seq = 0;
    a->drive_type[0] = a->drive_name[0] = '\0';
    a->drive_disabled = 0;
    a->role = NULL;
    a->target_found = a->target_own = 0;
    int rc = read_standing(c, a);
    if (rc == 0 && a->drive_seq && a->target_id &&
        (a->act == SP_AUTHZ_CHANGE_SHARE || a->act == SP_AUTHZ_REMOVE_MEMBER))
        rc = read_target(c, a);
    return rc < 0 ? rc : sp_authz_decide(a);
}

static int refuse(sp_authz *a, int rc, const char *why)
{
    a->why = why;
    return rc;
}

int sp_authz_decide(sp_authz *a)
{
    unsigned can = a->role ? a->role->can : 0;
    int sharing =
        a->act == SP_AUTHZ_SEE_ITEM || a->act == SP_AUTHZ_SHARE || a->act == SP_AUTHZ_CHANGE_SHARE;
    a->why = NULL;
    a->target_missing = 0;
    if (!a->drive_seq)
        return refuse(a, SP_ERR_NOT_FOUND, "no such drive");
    /* Space admins run every project space as oCIS's Space Admin role
     * does (Drives.ReadWrite, Drives.ReadWriteEnabled, Drives.DeleteProject
     * and Drives.ReadWriteProjectQuota, all): its properties, quota and
     * life cycle, not its members or shares. Admins run every drive. */
    int runs_drives = (a->actor->roles & SP_USER_ROLE_SPACE_ADMIN) &&
                      (a->act == SP_AUTHZ_MANAGE_DRIVE || a->act == SP_AUTHZ_SET_QUOTA ||
                       a->act == SP_AUTHZ_DISABLE_DRIVE);
    /* Who runs this drive as an admin does, for this act. */
    int admin = (a->actor->roles & SP_USER_ROLE_ADMIN) != 0 ||
                (runs_drives && strcmp(a->drive_type, "project") == 0);
    if (sharing ? !a->role || a->drive_disabled
                : !admin && !runs_drives &&
                      (!a->role || (a->drive_disabled && !(can & SP_CAN_MANAGE))))
        return refuse(a, SP_ERR_NOT_FOUND, "the drive is not reachable");
    /* Granting: never a role that allows more than the actor's own. */
    int beyond = a->grant_role && !sp_role_within(a->grant_role, a->role ? a->role->id : NULL);
    switch (a->act) {
    case SP_AUTHZ_SEE_ITEM:
    case SP_AUTHZ_SEE_MEMBERS:
        return 0;
    case SP_AUTHZ_SHARE:
        if (!(can & SP_CAN_SHARE))
            return refuse(a, SP_ERR_DENIED, "your role on this drive cannot share");
        if (beyond)
            return refuse(a, SP_ERR_DENIED, "you cannot grant more than you have");
        return 0;
    case SP_AUTHZ_CHANGE_SHARE:
        if (!a->target_found) {
            a->target_missing = 1;
            return refuse(a, SP_ERR_NOT_FOUND, "no such permission");
        }
        if (!(a->target_own && (can & SP_CAN_SHARE)) && !(can & SP_CAN_MANAGE))
            return refuse(a, SP_ERR_DENIED,
                          "only the Manager or the one who shared can change a share");
        if (beyond)
            return refuse(a, SP_ERR_DENIED, "you cannot grant more than you have");
        return 0;
    case SP_AUTHZ_MANAGE_MEMBERS:
        if (!admin && !(can & SP_CAN_MANAGE))
            return refuse(a, SP_ERR_DENIED, "managing members needs the Manager role");
        return 0;
    case SP_AUTHZ_REMOVE_MEMBER:
        /* Leaving a space needs no role; a missing permission is the
         * store's 404 for a Manager, a refusal for anyone else. */
        if (!admin && !(can & SP_CAN_MANAGE) && !(a->target_found && a->target_own))
            return refuse(a, SP_ERR_DENIED, "managing members needs the Manager role");
        return 0;
    case SP_AUTHZ_MANAGE_DRIVE:
        if (!admin && !(can & SP_CAN_MANAGE))
            return refuse(a, SP_ERR_DENIED, "changing the drive needs the Manager role");
        return 0;
    case SP_AUTHZ_SET_QUOTA:
        /* Quota is the admins' business, and space admins' on project
         * spaces, as in oCIS; a Manager alone may not raise it. */
        if (!admin)
            return refuse(a, SP_ERR_DENIED,
                          "setting a quota needs the admin role, or the space admin role on a "
                          "project space");
        return 0;
    case SP_AUTHZ_DISABLE_DRIVE:
        /* A personal drive belongs to its user's account: only admins
         * disable, restore or purge it (oCIS). Its owner is its Manager,
         * and would otherwise undo an admin's disabling or purge it. */
        if (!admin && strcmp(a->drive_type, "personal") == 0)
            return refuse(a, SP_ERR_DENIED,
                          "only an admin can disable, restore or delete a personal drive");
        if (!admin && !(can & SP_CAN_MANAGE))
            return refuse(a, SP_ERR_DENIED,
                          "disabling, restoring or deleting needs the Manager role");
        return 0;
    }
    return refuse(a, SP_ERR_DENIED, "unknown request");
}

/* The user, the drive and the user's best unexpired role on it, through
 * the stored groups only while they are the token's (?4): one statement
 * in the common case, as this runs before every file request. */
static const char SQL_FILE_ACCESS[] =
    "SELECT u.id, d.seq, d.disabled_at IS NOT NULL, u.groups_digest = ?4, "
    SP_BEST_ROLE_IF("u.seq", "d.seq", "?5", "u.groups_digest = ?4")
    " FROM users u LEFT JOIN drives d ON d.id = ?3 WHERE u.issuer = ?1 AND u.sub = ?2";
/* The unexpired role group (issuer, name) has on a drive. */
static const char SQL_GROUP_ROLE[] =
    "SELECT g.role FROM groups gr JOIN drive_groups g ON g.group_seq = gr.seq"
    " WHERE gr.issuer = ?1 AND gr.name = ?2 AND g.drive_seq = ?3"
    " AND (g.expires_at IS NULL OR g.expires_at > ?4)";

/* Raises *best to the role of each of who's groups on drive drive_seq
 * that ranks higher (space roles rank by weight). */
static int token_groups_role(sp_conn *r, const sp_user_claims *who, int64_t drive_seq, int64_t now,
                             const sp_role **best)
{
    const char *name = who->groups;
    for (int i = 0; name && i < who->group_count; i++, name += strlen(name) + 1) {
        sp_db_stmt *s = sp_store__stmt(r, SQL_GROUP_ROLE);
        if (!s)
            return SP_ERR_DB;
        sp_db_bind_text(s, 1, who->issuer);
        sp_db_bind_text(s, 2, name);
        sp_db_bind_int64(s, 3, drive_seq);
        sp_db_bind_int64(s, 4, now);
        int rc = sp_db_step(s);
        const sp_role *role =
            rc == SP_DB_ROW ? sp_role_find(sp_db_column_text(s, 0)) : NULL;
        sp_store__done(s);
        if (rc != SP_DB_ROW && rc != SP_DB_DONE)
            return sp_store__err(r, rc, "file access: group");
        if (role && (!*best || role->weight > (*best)->weight))
            *best = role;
    }
    return 0;
}

int sp_store_file_access(sp_store *st, const sp_user_claims *who, const char *drive_id,
                         sp_file_access *out)
{
    memset(out, 0, sizeof *out);
    sp_conn *r = sp_store__reader(st);
    sp_db_stmt *s = r ? sp_store__stmt(r, SQL_FILE_ACCESS) : NULL;
    if (!s)
        return SP_ERR_DB;
    int64_t now = sp_time_now_ms();
    sp_db_bind_text(s, 1, who->issuer);
    sp_db_bind_text(s, 2, who->sub);
    sp_db_bind_text(s, 3, drive_id);
    sp_db_bind_text(s, 4, who->groups_digest ? who->groups_digest : "");
    sp_db_bind_int64(s, 5, now);
    int rc = sp_db_step(s);
    int64_t drive_seq = 0;
    int same_groups = 1;
    if (rc == SP_DB_ROW) {
        sp_store__copy_text(s, 0, out->user_id, sizeof out->user_id);
        drive_seq = sp_db_column_int64(s, 1);
        out->drive_found = drive_seq != 0;
        out->drive_disabled = sp_db_column_int64(s, 2);
        same_groups = sp_db_column_int64(s, 3);
        out->role = sp_role_find(sp_db_column_text(s, 4));
    }
    sp_store__done(s);
    if (rc == SP_DB_DONE)
        return SP_ERR_NOT_FOUND;
    if (rc != SP_DB_ROW)
        return sp_store__err(r, rc, "file access");
    /* The token's groups changed since the user was last provisioned: the
     * stored memberships are not theirs any more, the token's are. */
    return drive_seq && !same_groups ? token_groups_role(r, who, drive_seq, now, &out->role) : 0;
}
