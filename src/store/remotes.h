/*
 * remotes.h - spaces hosted by other (trusted) instances, registered in a
 * user's registry here: by the user (a webDavUrl) or by the hosting
 * instance announcing a share over Open Cloud Mesh.
 *
 * A remote space is one of its owner's mountpoint drives. Every change
 * writes its event (spaceport.remote.registered, .removed, .changed; the
 * owner is the recipient) in the same transaction. The OCM shared secret
 * is kept only as its SHA-256, so the database never holds a credential
 * another instance could replay.
 */
#ifndef SP_STORE_REMOTES_H
#define SP_STORE_REMOTES_H

#include "store/drives.h"
#include "store/store.h"
#include "store/users.h"

#include <stdint.h>

/* What a new remote space is. Strings are borrowed. */
typedef struct sp_remote_new {
    const char *instance;        /* base URL of the hosting instance */
    const char *web_dav_url;     /* where clients reach it */
    const char *remote_drive_id; /* the drive's id at the hosting instance */
    const char *name;
    const char *etag;         /* the root's eTag when known, else NULL */
    int64_t mtime_ms;         /* when known, else 0 */
    const char *executant;    /* who registered it (user id or OCM address) */
    const char *ocm_share_id; /* OCM providerId; NULL when registered by URL */
    const char *ocm_secret;   /* the share's shared secret (OCM only) */
    const char *permissions;  /* OCM only: "read" or "read,write"; NULL otherwise */
    const char *resource_type; /* OCM only: "file" or "folder"; NULL otherwise */
    /* Its subscription at the hosting instance (registered by URL), or
     * NULL: only the SHA-256 of the clientState is kept. */
    const char *sub_id;
    const char *sub_client_state;
    int64_t sub_expires_at; /* ms */
} sp_remote_new;

/*
 * Registers r for owner, with its spaceport.remote.registered event, and
 * writes the new space's id to id_out.
 *
 * Registered by URL (no ocm_share_id): SP_ERR_CONFLICT when owner has that
 * webDavUrl already.
 * Announced over OCM: a share is (instance, share id), and idempotent,
 * since the sender retries. The same (instance, share id) with the same
 * owner and secret again is success with *existed = 1 and no new event; a
 * space owner registered by URL before (not one of another share) takes
 * the share's id, secret and permissions (*existed = 1). Another share of
 * the same folder is a space of its own: no share takes another's row.
 * The share id of the instance held by another owner or secret is
 * SP_ERR_CONFLICT.
 * *existed may be NULL. Returns 0 or a negative sp_err.
 */
int sp_store_remote_create(sp_store *st, const sp_user *owner, const sp_remote_new *r,
                           char id_out[SP_USER_ID_LEN], int *existed);

/*
 * Finds the remote space id of owner and calls fn once with it as a
 * mountpoint drive (remote_web_dav_url and remote_instance set,
 * shared_drive_id the remote drive id). Returns 0, SP_ERR_NOT_FOUND or
 * another negative sp_err.
 */
int sp_store_remote_get(sp_store *st, const sp_user *owner, const char *id, sp_drive_fn fn,
                        void *ctx);

/* Removes owner's remote space id, writing spaceport.remote.removed; its
 * subscription at the hosting instance, if any, is queued for deletion
 * there (sp_store_remote_subs_due). Returns 0, SP_ERR_NOT_FOUND or another
 * negative sp_err. */
int sp_store_remote_remove(sp_store *st, const sp_user *owner, const char *id);

/* What an OCM notification does to the remote space it names. */
typedef enum sp_remote_ocm_note {
    SP_REMOTE_OCM_UNSHARED,    /* the share was revoked: remove the space */
    SP_REMOTE_OCM_CHANGED,     /* the resource changed: new eTag */
    SP_REMOTE_OCM_PERMISSIONS, /* the share now grants other permissions */
} sp_remote_ocm_note;

/* Which remote space an OCM notification names (strings borrowed): the
 * share of instance with share_id when instance is set (the sender signed
 * as that instance), else the share with share_id whose shared secret is
 * secret (unsigned senders prove themselves with it, as Nextcloud does). */
typedef struct sp_remote_ocm_ref {
    const char *instance;
    const char *share_id;
    const char *secret;
} sp_remote_ocm_ref;

/* Writes the base URL of the instance that announced the share ref names
 * to instance (SP_REMOTE_INSTANCE_MAX bytes), on the thread's reader.
 * Returns 0, SP_ERR_NOT_FOUND or another negative sp_err. */
#define SP_REMOTE_INSTANCE_MAX 2100
int sp_store_remote_ocm_instance(sp_store *st, const sp_remote_ocm_ref *ref,
                                 char instance[SP_REMOTE_INSTANCE_MAX]);

/*
 * Applies an OCM notification to the remote space ref names. UNSHARED
 * removes it (remote.removed); CHANGED stores etag (and mtime_ms when
 * non-zero) and writes spaceport.remote.changed, unless etag equals the
 * stored one (a redelivery: *applied = 0, nothing written); PERMISSIONS
 * stores permissions ("read" or "read,write") and writes remote.changed
 * naming them, unless they are the stored ones. *applied may be NULL.
 * Returns 0, SP_ERR_NOT_FOUND (no such share, or the secret does not
 * match) or another negative sp_err.
 */
int sp_store_remote_ocm_notify(sp_store *st, const sp_remote_ocm_ref *ref, sp_remote_ocm_note note,
                               const char *etag, int64_t mtime_ms, const char *permissions,
                               int *applied);

/*
 * Applies a notification of the hosting instance to the remote space
 * whose subscription there is sub_id at instance, when client_state is
 * the one it was given: as sp_store_remote_ocm_notify, with UNSHARED
 * (the drive was deleted there, or the owner lost access) removing the
 * space with reason "accessLost". sequence is the notification's
 * sequenceNumber (the hosting instance's event sequence; 0 when it sends
 * none): one at or below the newest applied is a redelivery of a batch
 * retried after a failure and changes nothing, so that each change
 * arrives once. Returns 0 (*applied 0 for a redelivery), SP_ERR_NOT_FOUND
 * (no such subscription, or another clientState) or another negative
 * sp_err.
 */
int sp_store_remote_sub_notify(sp_store *st, const char *instance, const char *sub_id,
                               const char *client_state, int64_t sequence, sp_remote_ocm_note note,
                               const char *etag, int *applied);

/* Queues the deletion of subscription sub_id at instance (a subscription
 * made for a registration that did not happen). Returns 0 or a negative
 * sp_err. */
int sp_store_remote_unsubscribe(sp_store *st, const char *instance, const char *sub_id);

/* A subscription this instance keeps at a hosting instance: one to renew,
 * or one to delete. */
typedef struct sp_remote_sub {
    int64_t seq;         /* of the remote space, or of the queued deletion */
    int unsubscribe;     /* 1: delete it; 0: renew it */
    char instance[2100]; /* base URL of the hosting instance */
    char sub_id[300];
    int64_t expires_at; /* ms (renewals) */
    int attempts;       /* failed tries so far */
} sp_remote_sub;

/*
 * Reads up to max subscriptions due at now (ms): those to renew (expiring
 * before now + renew_before_ms and not waiting after a failure) and those
 * to delete (not waiting). Sets *n. Returns 0 or a negative sp_err.
 */
int sp_store_remote_subs_due(sp_store *st, int64_t now, int64_t renew_before_ms, sp_remote_sub *out,
                             int max, int *n);

/* Records the outcome for s: done (renewed until expires_at, or deleted
 * there), gone (the instance no longer has it: a renewal forgets it, the
 * space keeps its place without notifications), or failed (tried again at
 * next_at, error kept for the operator). Returns 0 or a negative sp_err. */
typedef enum sp_remote_sub_outcome {
    SP_REMOTE_SUB_DONE,
    SP_REMOTE_SUB_GONE,
    SP_REMOTE_SUB_FAILED
} sp_remote_sub_outcome;
int sp_store_remote_sub_outcome(sp_store *st, const sp_remote_sub *s, sp_remote_sub_outcome o,
                                int64_t expires_at, int64_t next_at, const char *error);

#endif
