/*
 * ocm.h - the outbound side of Open Cloud Mesh: shares made here with
 * e-mail addresses that another instance may serve ("sent" shares), and
 * the queue of deliveries to those instances.
 *
 * The queue is driven by the event log: sp_store_ocm_derive reads the
 * events after a stored cursor and turns share.created (with an e-mail
 * address, or a user known here whose verified address it is, of a domain
 * this instance does not serve; or with a contact's OCM address and
 * instance), share.updated (a new role), share.deleted/expired,
 * space.deleted and item.changed into deliveries, in one transaction with
 * the cursor's move. As the recipient of shares from other instances it
 * turns remote.registered (a share that arrived over OCM) into
 * SHARE_ACCEPTED and remote.removed by the owner into SHARE_DECLINED for
 * the sender. A request never waits for another instance and never
 * fails because one is down: the share is committed with its event, and
 * the delivery follows. Only the federation thread (events/federation.c)
 * calls these functions.
 */
#ifndef SP_STORE_OCM_H
#define SP_STORE_OCM_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

/* Events read per derive call: one short write transaction. */
#define SP_OCM_DERIVE_BATCH 256
/* Field sizes of a delivery (ids are UUIDs; item ids and names are
 * bounded by the API's limits). */
#define SP_OCM_TEXT_MAX 1024
#define SP_OCM_URL_MAX  2100
/* Longest providerId: ours are UUIDs; a sender's are what it chose
 * (Nextcloud's numbers, Reva's UUIDs), bounded by the inbound API. */
#define SP_OCM_PROVIDER_ID_MAX 256

/* One delivery, copied out of the database (no borrowed strings: the
 * caller talks to another instance meanwhile). */
typedef struct sp_ocm_delivery {
    int64_t seq;
    int64_t sent_seq;
    int64_t reply_seq; /* a reply (accepted, declined); 0 for a sent share's delivery */
    int attempts;      /* failed tries so far */
    char kind[16];     /* "share", "changed", "unshared", "permission"; "accepted", "declined" */
    char etag[256];    /* kind changed: the new eTag */
    char share_id[SP_OCM_PROVIDER_ID_MAX]; /* the OCM providerId (a reply: the sender's) */
    char drive_id[64];
    char item_id[SP_OCM_TEXT_MAX];
    char grantee[SP_OCM_TEXT_MAX];    /* e-mail address */
    char share_with[SP_OCM_TEXT_MAX]; /* a contact's OCM address; "" for an e-mail grantee */
    /* "" until an instance accepted the share; a contact's instance from
     * the start; a reply's: the sender */
    char instance[SP_OCM_URL_MAX];
    char secret[80];
    char name[SP_OCM_TEXT_MAX];        /* the shared item's name */
    char sharer[SP_OCM_TEXT_MAX];      /* user name of who shared it */
    char sharer_name[SP_OCM_TEXT_MAX]; /* and their display name */
    char role[64];
    char resource_type[8]; /* "file" or "folder" */
    int64_t expiration;    /* seconds since the epoch; 0: none */
    int64_t created_at_ms; /* when the share was made */
} sp_ocm_delivery;

/* Events the cursor may run ahead of its stored value: reading events
 * that concern nobody abroad costs no write, and after a crash at most
 * this many are read again (deriving is idempotent). */
#define SP_OCM_CURSOR_LAG 1000

/* Where the queue is in the event log; the caller keeps it between calls.
 * Zero-initialise: the first derive loads it. */
typedef struct sp_ocm_cursor {
    int loaded;
    int64_t seq;   /* last event looked at */
    int64_t saved; /* last value written to ocm_cursor */
} sp_ocm_cursor;

/*
 * Turns the events after the cursor (at most SP_OCM_DERIVE_BATCH of those
 * that may concern another instance) into deliveries, in one transaction
 * that also stores the cursor; events that concern nobody abroad only
 * move the cursor in memory (stored once SP_OCM_CURSOR_LAG behind, or
 * with save_all). E-mail addresses of a domain in local_domains (served
 * here) are never federated. *more is set when further events wait.
 * Returns 0 or a negative sp_err (the cursor is unchanged then).
 */
int sp_store_ocm_derive(sp_store *st, const char *const *local_domains, size_t local_count,
                        int save_all, sp_ocm_cursor *cursor, int *more);

/*
 * Copies up to max deliveries due at now_ms into out: for each share only
 * its oldest pending delivery, oldest first. *count receives how many.
 */
int sp_store_ocm_due(sp_store *st, int64_t now_ms, sp_ocm_delivery *out, int max, int *count);

/* Outcomes of one delivery. */
typedef enum sp_ocm_outcome {
    SP_OCM_DELIVERED, /* accepted; for a share, by instance */
    SP_OCM_LOCAL,     /* no trusted instance serves the address: the share stays local */
    SP_OCM_REFUSED,   /* the receiver refused for good: stop telling it */
} sp_ocm_outcome;

/*
 * Records the outcome of d: DELIVERED removes the delivery (a share
 * becomes "shared" with instance; an unshare "unshared"); LOCAL and
 * REFUSED also drop every pending delivery of the share (or reply). Returns 0 or a
 * negative sp_err.
 */
int sp_store_ocm_finish(sp_store *st, const sp_ocm_delivery *d, sp_ocm_outcome outcome,
                        const char *instance);

/* Records a failed try of delivery seq; it is due again at next_at_ms. */
int sp_store_ocm_retry(sp_store *st, int64_t seq, int64_t next_at_ms, const char *error);

/* When the next delivery is due (0 when none), and how many are queued. */
int sp_store_ocm_pending(sp_store *st, int64_t *next_due_ms, int64_t *count);

#endif
