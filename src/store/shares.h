/*
 * shares.h - shares of items with users (or e-mail addresses not yet
 * matched to a user). A share received is the grantee's mountpoint drive.
 */
#ifndef SP_STORE_SHARES_H
#define SP_STORE_SHARES_H

#include "store/items.h"
#include "store/store.h"
#include "store/users.h"

#include <stdint.h>

/* A share as handlers see it; strings borrowed during the callback. */
typedef struct sp_share {
    const char *id;       /* permission id */
    const char *mount_id; /* the grantee's mountpoint drive id */
    const char *drive_id;
    const char *drive_name;
    const char *drive_type; /* personal | project */
    const char *drive_etag;
    int64_t drive_mtime_ms;
    const char *item_id; /* the drive id for its root */
    /* The item's name: storage's when it described the item, else the
     * fallback (sp_item_fallback_name). */
    const char *item_name;
    const char *grantee_id; /* NULL while only an e-mail address, and for a group */
    const char *grantee_name;
    const char *grantee_email;    /* set while pending */
    const char *grantee_group_id; /* set for a share with a group */
    const char *grantee_group_name;
    /* A share with a contact (store/contacts.h): their OCM address, and
     * the contact's id and name while the sharer keeps that contact (else
     * NULL and the address). */
    const char *grantee_remote;
    const char *grantee_contact_id, *grantee_contact_name;
    const char *role;
    int64_t expires_at_ms; /* 0 = none */
    const char *creator_id;
    const char *creator_name;
    int64_t created_at_ms;
    int item_known; /* storage described the item: item holds it */
    sp_item item;
    /* The receiving user's view, in lists of shares received (else 1, 0). */
    int mounted, hidden;
} sp_share;

typedef int (*sp_share_fn)(const sp_share *s, void *ctx);

/* Whom a new share is for: exactly one of the three. */
typedef struct sp_share_grantee {
    const char *user_id;  /* a known user, or a contact of the sharer (store/contacts.h) */
    const char *email;    /* lower-cased address; matched now or at first sight */
    const char *group_id; /* a known group: every member of it, as tokens say */
} sp_share_grantee;

/* What a new share got from the store: with the request, enough to
 * describe it without reading it back. */
typedef struct sp_share_made {
    char id[SP_USER_ID_LEN];         /* permission id */
    char grantee_id[SP_USER_ID_LEN]; /* "" while only an e-mail address; the group's id */
    char grantee_name[SP_USER_NAME_MAX];
    int group; /* the grantee is a group */
    /* The grantee is a contact (grantee_id and _name are the contact's):
     * the share goes to their instance over OCM. */
    int federated;
    int64_t created_at_ms;
    int ambiguous; /* with SP_ERR_CONFLICT: several users verified the address */
} sp_share_made;

/*
 * Shares item_id (named item_name) of drive_id with grantee, writing the
 * share and its spaceport.share.created event (recipients: grantee, or
 * every known member of a grantee group, and actor) in one transaction.
 * A grantee user_id that is no user but a contact of actor shares with
 * that contact: the event's data names its ocmAddress and instance, for
 * the OCM queue (store/ocm.h). An address (compared in
 * lower case) goes to the one user who verified it, or waits for them. An expired share of the item
 * with the same grantee is replaced (its expiry event written first if it was not). Returns 0 and
 * fills *made; SP_ERR_NOT_FOUND (no such drive or grantee user), SP_ERR_INVALID (sharing with
 * oneself), SP_ERR_CONFLICT (the item is already shared with that grantee, or with made->ambiguous:
 * users of several identity providers verified the address).
 */
int sp_store_share_create(sp_store *st, const sp_user *actor, const char *drive_id,
                          const char *item_id, const char *item_name,
                          const sp_share_grantee *grantee, const char *role,
                          int64_t expires_at_ms, sp_share_made *made);

/* Calls fn for the share with id (also an expired one: its row stays for
 * history). Returns 0 or SP_ERR_NOT_FOUND. */
int sp_store_share_get(sp_store *st, const char *id, sp_share_fn fn, void *ctx);

/* Lists the unexpired shares of item_id in drive_id. */
int sp_store_shares_of_item(sp_store *st, const char *drive_id, const char *item_id,
                            sp_share_fn fn, void *ctx);

/* Most shares the two lists below return: the replies of sharedWithMe
 * and sharedByMe stay bounded (the oldest first, by item for sharedByMe). */
#define SP_SHARES_LIST_MAX 1000

/* Lists the unexpired shares user received, themself or through one of
 * their groups, on enabled drives (at most SP_SHARES_LIST_MAX). */
int sp_store_shares_received(sp_store *st, const sp_user *user, sp_share_fn fn, void *ctx);

/* Lists the unexpired shares user created (at most SP_SHARES_LIST_MAX). */
int sp_store_shares_created(sp_store *st, const sp_user *user, sp_share_fn fn, void *ctx);

/* Shares logged one by one by sp_store_shares_log_not_served; beyond
 * that, one line counts the rest, so that start-up stays readable. */
#define SP_SHARES_NOT_SERVED_LOG_MAX 20

/*
 * Logs, at warn level, the unexpired shares stored by older versions whose
 * item is not an item of their drive (util/itemid.h): they are kept, but
 * not served to their grantees (no mountpoint, not in sharedWithMe) until
 * their sharer or a Manager removes them. Meant for start-up, once. *count
 * (may be NULL) receives how many. Returns 0 or a negative sp_err.
 */
int sp_store_shares_log_not_served(sp_store *st, int *count);

/*
 * Removes (remove non-zero) or changes role (NULL keeps it) and, with
 * set_expiry, the expiry (0 = none) of share id; writes share.deleted or
 * share.updated. Returns 0 or SP_ERR_NOT_FOUND (no such share, or it has
 * expired: an expired share is neither changed nor revived).
 */
int sp_store_share_change(sp_store *st, const sp_user *actor, const char *id, int remove,
                          const char *role, int set_expiry, int64_t expires_at_ms);

/* What of a received share's state a user sets. */
typedef enum sp_share_state {
    SP_SHARE_MOUNTED, /* @client.synchronize: the share is in the user's drives */
    SP_SHARE_HIDDEN,  /* @UI.Hidden: the user's clients do not show it */
} sp_share_state;

/* Longest item id a share holds (util/itemid.h: a drive id, '!' and the
 * opaque part). */
#define SP_SHARE_ITEM_ID_MAX 1024

/*
 * Sets state to value (0 or 1) on every unexpired share of one item that
 * user received: the item item_id, or (item_id NULL) the item of the
 * share whose mountpoint id is mount_id. Writes, for each share whose
 * state changes, spaceport.share.mounted, .unmounted, .hidden or
 * .unhidden (schema/events/share-state.json) for user only. item_out
 * (SP_SHARE_ITEM_ID_MAX bytes) receives the item's id. Returns 0,
 * SP_ERR_NOT_FOUND (user received no such share) or SP_ERR_CONFLICT
 * (mounting or unmounting when every share is so already, as oCIS
 * answers; hiding twice is no conflict).
 */
int sp_store_share_state_set(sp_store *st, const sp_user *user, const char *item_id,
                             const char *mount_id, sp_share_state state, int value,
                             char *item_out);

/* The item (into item_out, SP_SHARE_ITEM_ID_MAX bytes) of the unexpired
 * share user received whose mountpoint id is mount_id. Returns 0 or
 * SP_ERR_NOT_FOUND. */
int sp_store_share_item_of_mount(sp_store *st, const sp_user *user, const char *mount_id,
                                 char *item_out);

/*
 * Marks shares whose expiry passed by now as expired, writing one
 * spaceport.share.expired event each. *count (may be NULL) receives how
 * many. Returns 0 or a negative sp_err.
 */
int sp_store_shares_expire(sp_store *st, int64_t now_ms, int *count);

#endif
