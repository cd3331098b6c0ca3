/*
 * drives.h - storage spaces and their members.
 *
 * Listing and lookup hand rows to a callback with borrowed strings, so a
 * listing of a thousand drives never copies them into an array. Every
 * change writes its event row and recipients in the same transaction.
 */
#ifndef SP_STORE_DRIVES_H
#define SP_STORE_DRIVES_H

#include "store/authz.h"
#include "store/store.h"
#include "store/users.h"

#include <stddef.h>
#include <stdint.h>

/* A drive as handlers see it. Strings are borrowed and valid only during
 * the callback that receives it; NULL where not applicable. */
typedef struct sp_drive {
    int64_t seq;
    const char *id;
    const char *type; /* "personal", "project", "mountpoint" */
    const char *alias;
    const char *name;
    const char *description;
    const char *owner_id; /* personal: owner; project: creator */
    const char *owner_name;
    int64_t quota_total; /* bytes; -1 = unlimited */
    int64_t quota_used;
    const char *etag;
    int64_t mtime_ms;
    int64_t disabled_at_ms; /* 0 = enabled */
    const char *role;       /* the caller's role id on it, NULL when none */
    /* Mountpoints (shares received) only: */
    const char *share_id;       /* the permission that grants it */
    const char *item_id;        /* the shared item (the drive id for a root) */
    const char *shared_drive_id; /* the drive that holds the item */
    /* Remote spaces (hosted by another instance; store/remotes.h) only,
     * with shared_drive_id and item_id the drive's id there: */
    const char *remote_web_dav_url;
    const char *remote_instance; /* base URL of the hosting instance */
} sp_drive;

/* Receives one drive; returns 0 to go on, negative to stop (that value is
 * returned by the listing function). */
typedef int (*sp_drive_fn)(const sp_drive *d, void *ctx);

/* Sort orders of listings; keyset paging follows the same order. */
typedef enum sp_drive_order {
    SP_DRIVE_ORDER_NAME_ASC = 0,
    SP_DRIVE_ORDER_NAME_DESC,
    SP_DRIVE_ORDER_MTIME_ASC,
    SP_DRIVE_ORDER_MTIME_DESC,
} sp_drive_order;

/* Where a page starts: after the row with this sort key and id. */
typedef struct sp_drive_cursor {
    int set;
    char key[1024]; /* lower(name) or the mtime in decimal */
    char id[SP_USER_ID_LEN];
} sp_drive_cursor;

typedef struct sp_drive_query {
    const char *type;   /* filter driveType, or NULL */
    const char *id;     /* filter id, or NULL */
    sp_drive_order order;
    int top;            /* page size, 1..SP_DRIVE_TOP_MAX */
    sp_drive_cursor after;
} sp_drive_query;

/* Largest page; also the default ($top beyond it is clamped). */
#define SP_DRIVE_TOP_MAX 1000

/*
 * Lists the drives user may reach (member of, one mountpoint per unexpired
 * share received on an enabled drive, and the remote spaces user
 * registered), in q's order, at most q->top
 * of them, calling fn for each. When all is non-zero lists every drive
 * (admins). *more (may be NULL) is set when another page follows; then
 * *next holds the cursor of the last row sent. Disabled drives are listed
 * only to their Managers and to admins. Returns 0 or a negative sp_err.
 */
int sp_store_drives_list(sp_store *st, const sp_user *user, int all, const sp_drive_query *q,
                         sp_drive_fn fn, void *ctx, int *more, sp_drive_cursor *next);

/*
 * Finds drive id as user sees it and calls fn once. Visible: user is a
 * member, or as_admin. Returns 0, SP_ERR_NOT_FOUND (also when not
 * visible), or another negative sp_err.
 */
int sp_store_drive_get(sp_store *st, const sp_user *user, int as_admin, const char *id,
                       sp_drive_fn fn, void *ctx);

/*
 * Finds drive id as user reaches it, whatever its kind: a drive they are a
 * member of (any with as_admin, as sp_store_drive_get), a share's
 * mountpoint they received, or a remote space they registered; calls fn
 * once. Returns 0, SP_ERR_NOT_FOUND or another negative sp_err.
 */
int sp_store_drive_find(sp_store *st, const sp_user *user, int as_admin, const char *id,
                        sp_drive_fn fn, void *ctx);

/* Finds the mountpoint id (a share user received) and calls fn once.
 * Returns 0 or SP_ERR_NOT_FOUND. */
int sp_store_mountpoint_get(sp_store *st, const sp_user *user, const char *id, sp_drive_fn fn,
                            void *ctx);

/*
 * Creates a project drive named name (description may be NULL; quota_total
 * -1 for unlimited) with creator as its Manager, and its space.created
 * event. The new id is written to id_out. Returns 0 or a negative sp_err.
 */
int sp_store_drive_create(sp_store *st, const sp_user *creator, const char *name,
                          const char *description, int64_t quota_total,
                          char id_out[SP_USER_ID_LEN]);

/* Which fields a drive update sets. */
typedef struct sp_drive_patch {
    const char *name;        /* NULL: unchanged */
    const char *description; /* NULL: unchanged */
    int set_quota;
    int64_t quota_total;     /* -1 unlimited */
} sp_drive_patch;

/* The lifecycle steps of a drive. */
typedef enum sp_drive_step {
    SP_DRIVE_UPDATE,  /* apply the patch: space.updated */
    SP_DRIVE_DISABLE, /* space.disabled; must be enabled */
    SP_DRIVE_RESTORE, /* space.restored; must be disabled */
    SP_DRIVE_PURGE,   /* space.deleted, rows removed; must be disabled */
} sp_drive_step;

/* What step (with patch, for an update) asks of the actor's role. */
sp_authz_act sp_drive_step_act(sp_drive_step step, const sp_drive_patch *patch);

/*
 * Applies step to drive id on behalf of actor, writing its event with the
 * drive's members as recipients. The actor's right to it
 * (sp_drive_step_act) is decided inside the transaction, so a role lost
 * since the handler's check writes nothing. Returns 0, SP_ERR_NOT_FOUND,
 * SP_ERR_DENIED, SP_ERR_CONFLICT (wrong state for the step, or an update
 * of a drive disabled meanwhile) or another negative sp_err.
 */
int sp_store_drive_change(sp_store *st, const sp_user *actor, const char *id, sp_drive_step step,
                          const sp_drive_patch *patch);

/* A space member, as handlers see it (borrowed strings, as sp_drive). */
typedef struct sp_member {
    const char *id; /* permission id */
    const char *role;
    const char *user_id; /* NULL for a group's membership */
    const char *user_name;
    const char *group_id; /* set for a group's membership */
    const char *group_name;
    int64_t expires_at_ms; /* 0 = none */
} sp_member;

typedef int (*sp_member_fn)(const sp_member *m, void *ctx);

/* Lists the unexpired members of drive seq, users and groups, Managers
 * first. */
int sp_store_members_list(sp_store *st, int64_t drive_seq, sp_member_fn fn, void *ctx);

/*
 * Adds grantee (a user id) to drive id with role, writing member.added.
 * An expired membership of the grantee is replaced (its member.expired
 * event written first, when the sweeper has not yet). Returns 0 and the
 * permission id in perm_out; SP_ERR_NOT_FOUND when the grantee does not
 * exist; SP_ERR_CONFLICT when already an unexpired member.
 */
int sp_store_member_add(sp_store *st, const sp_user *actor, const char *drive_id,
                        const char *grantee_id, const char *role, int64_t expires_at_ms,
                        char perm_out[SP_USER_ID_LEN]);

/*
 * As sp_store_member_add for group group_id (store/groups.h), without an
 * expiry: every known member of the group reaches the drive with role
 * (or their own, if better), and hears of it (member.added names
 * granteeGroupId). A group's Manager role does not count as the Manager
 * a space keeps: the group is what tokens say, and may be empty
 * tomorrow. Returns 0, SP_ERR_NOT_FOUND (no such drive or group) or
 * SP_ERR_CONFLICT (the group is a member already).
 */
int sp_store_member_add_group(sp_store *st, const sp_user *actor, const char *drive_id,
                              const char *group_id, const char *role,
                              char perm_out[SP_USER_ID_LEN]);

/*
 * Removes (remove non-zero) or changes the unexpired membership perm_id
 * of drive id: role (NULL keeps it) and, with set_expiry, the expiration
 * (0 = none). A space keeps a Manager for good: removing, demoting or
 * giving an expiry to its last Manager without one is SP_ERR_DENIED, as
 * is removing or demoting its last unexpired Manager when none is
 * without one; *why (why may be NULL) then says which (static text).
 * Writes member.removed or member.updated. perm_id may be a group's
 * membership: its role changes or it goes (an expiry for it is
 * SP_ERR_INVALID), and its events reach the group's known members.
 * Returns 0, SP_ERR_NOT_FOUND (also for an expired membership),
 * SP_ERR_DENIED, SP_ERR_INVALID or another negative sp_err.
 */
int sp_store_member_change(sp_store *st, const sp_user *actor, const char *drive_id,
                           const char *perm_id, int remove, const char *role, int set_expiry,
                           int64_t expires_at_ms, const char **why);

/*
 * Marks memberships whose expiry passed by now_ms as expired, writing one
 * spaceport.space.member.expired event each, to the member and the
 * drive's unexpired Managers. *count (may be NULL) receives how many.
 * Returns 0 or a negative sp_err.
 */
int sp_store_members_expire(sp_store *st, int64_t now_ms, int *count);

#endif
