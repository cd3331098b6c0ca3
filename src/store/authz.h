/*
 * authz.h - who may do what to a drive's shares and members, decided on
 * the data the decision is about.
 *
 * A request is authorized twice with the same question: early, by its
 * handler on the thread's reader connection (to answer fast), and again
 * by its write job on the writer connection inside the job's savepoint
 * (sp_store_submit), because the actor may have lost the membership, the
 * drive may have been disabled or the share removed while the write
 * waited for the writer. Both ask sp_authz_decide, so they cannot differ.
 */
#ifndef SP_STORE_AUTHZ_H
#define SP_STORE_AUTHZ_H

#include "store/roles.h"
#include "store/store.h"
#include "store/users.h"

#include <stdint.h>

/* Longest drive name kept with a decision (the item name of a share of
 * the root); longer names are cut. */
#define SP_AUTHZ_DRIVE_NAME_MAX 1024

/* What an actor asks to do. A membership counts until it expires. The
 * sharing acts need one on an enabled drive (admins too: sharing is the
 * members' business); the member and drive acts need one or the admin
 * role, and reach a disabled drive only as its Manager or an admin. Space
 * admins run every project drive as oCIS's Space Admin: rename, quota,
 * disable, restore and purge, member or not; not its members or shares,
 * and no personal drive (403). Anything else finds no drive (404) rather
 * than a refusal (403). */
typedef enum sp_authz_act {
    SP_AUTHZ_SEE_ITEM,       /* list an item's permissions */
    SP_AUTHZ_SHARE,          /* invite on an item: a role that shares, granting no more */
    SP_AUTHZ_CHANGE_SHARE,   /* change or remove share target_id of item_id: its creator
                              * (still sharing) or a Manager, granting no more */
    SP_AUTHZ_SEE_MEMBERS,    /* list the members */
    SP_AUTHZ_MANAGE_MEMBERS, /* add members, change one: a Manager or an admin */
    SP_AUTHZ_REMOVE_MEMBER,  /* remove membership target_id: also the member themself */
    SP_AUTHZ_MANAGE_DRIVE,   /* rename, describe: a Manager, an admin, a space admin (project) */
    SP_AUTHZ_SET_QUOTA,      /* an admin, or a space admin on a project drive (oCIS) */
    SP_AUTHZ_DISABLE_DRIVE,  /* disable, restore, purge: a Manager, an admin or a space admin;
                              * a personal drive: an admin only */
} sp_authz_act;

/* A question, what the last reading found, and the answer. The caller
 * fills the question; sp_store_authorize fills the rest. */
typedef struct sp_authz {
    /* The question; borrowed, valid for as long as the sp_authz is used. */
    sp_authz_act act;
    const sp_user *actor;
    const char *drive_id;
    const char *item_id;    /* CHANGE_SHARE: the share must be of this item */
    const char *target_id;  /* CHANGE_SHARE: share id; REMOVE_MEMBER: permission id */
    const char *grant_role; /* SHARE, CHANGE_SHARE: role id granted; NULL: none (yet) */

    /* What was read (0 / NULL / "" when the drive does not exist). */
    int64_t drive_seq;
    char drive_type[16];
    char drive_name[SP_AUTHZ_DRIVE_NAME_MAX];
    int drive_disabled;
    const sp_role *role; /* the actor's unexpired role on the drive, NULL: none */
    int target_found;    /* CHANGE_SHARE: on drive_id and item_id; REMOVE_MEMBER: of drive_id,
                          * unexpired */
    int target_own;      /* the actor created that share, or holds that membership */

    /* The answer of the last decision: why it refused (static text), and
     * whether a 404 was about target_id rather than the drive. */
    const char *why;
    int target_missing;
} sp_authz;

/*
 * Reads what a's question depends on, on the calling thread's connection:
 * its reader, or the writer's while it runs the job that a belongs to.
 * Then decides (sp_authz_decide). Returns 0, SP_ERR_NOT_FOUND (the drive,
 * or target_id, is not there for the actor), SP_ERR_DENIED (it is, but
 * the actor may not), or SP_ERR_DB.
 */
int sp_store_authorize(sp_store *st, sp_authz *a);

/*
 * Decides a's question on what was last read into it, without reading:
 * a handler asks again once the body says which role is granted. Sets
 * a->why and a->target_missing. Returns 0, SP_ERR_NOT_FOUND or
 * SP_ERR_DENIED.
 */
int sp_authz_decide(sp_authz *a);

/* ---- reading files: the WebDAV server's access check ---- */

/* What a caller's role on a drive is, for serving its files. */
typedef struct sp_file_access {
    char user_id[SP_USER_ID_LEN]; /* the caller's public id */
    int drive_found;              /* the drive exists (not purged) */
    int drive_disabled;           /* it is in the trash */
    const sp_role *role;          /* best unexpired role on it, NULL: none */
} sp_file_access;

/*
 * Reads, on the calling thread's reader, the role the user of who
 * (issuer, sub and the token's groups; borrowed) has on drive drive_id,
 * writing nothing: a user never seen is not provisioned (SP_ERR_NOT_FOUND:
 * they are a member of nothing). The role is the API's: their own
 * membership or a group's, unexpired, the best. The groups are the
 * token's, as provisioning would make them: the stored memberships while
 * their digest is the token's, else the token's names looked up one by
 * one. Returns 0, SP_ERR_NOT_FOUND or SP_ERR_DB.
 */
int sp_store_file_access(sp_store *st, const sp_user_claims *who, const char *drive_id,
                         sp_file_access *out);

#endif
