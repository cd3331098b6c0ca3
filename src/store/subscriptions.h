/*
 * subscriptions.h - change notification subscriptions (Microsoft Graph's
 * /subscriptions): who asked to be told about which resource, where, until
 * when, and how far delivery has come.
 *
 * This file is the API's side: create, read, renew, delete. Every write
 * writes its event (spaceport.subscription.created, .updated, .deleted;
 * the subject is the subscription id, the owner the recipient) in the same
 * transaction, and checks ownership inside that transaction: by owner, or,
 * for a subscription a trusted instance made for its user, by (delegate,
 * id). Delivery (cursors, failures, ending one) is store/webhooks.h.
 */
#ifndef SP_STORE_SUBSCRIPTIONS_H
#define SP_STORE_SUBSCRIPTIONS_H

#include "store/store.h"
#include "store/users.h"

#include <stddef.h>
#include <stdint.h>

/* changeType bits, as stored. */
#define SP_SUB_CREATED 1u
#define SP_SUB_UPDATED 2u
#define SP_SUB_DELETED 4u
#define SP_SUB_ALL     (SP_SUB_CREATED | SP_SUB_UPDATED | SP_SUB_DELETED)

/* Longest notificationUrl or lifecycleNotificationUrl kept, in bytes: a
 * receiver's address, not a place for data; what every HTTP stack takes. */
#define SP_SUB_URL_MAX 2048
/* clientState at most 128 characters, as Graph allows; up to 4 bytes each
 * in UTF-8. */
#define SP_SUB_CLIENT_STATE_CHARS 128
#define SP_SUB_CLIENT_STATE_MAX   (SP_SUB_CLIENT_STATE_CHARS * 4)
/* "drives/" and a drive id (ids here are uuids; room for longer ones). */
#define SP_SUB_RESOURCE_MAX 300
/* A subscription lives at most 3 days (4320 minutes), then must be
 * renewed: one that nobody renews stops costing the sender soon. */
#define SP_SUB_LIFETIME_MAX_MS (3LL * 24 * 60 * 60 * 1000)
/* lifecycle_pending values. */
#define SP_SUB_LIFECYCLE_REMOVED "subscriptionRemoved"
#define SP_SUB_LIFECYCLE_MISSED  "missed"

/* One row, every column. Strings are "" where the column is NULL. */
typedef struct sp_subscription {
    int64_t seq;
    char id[SP_USER_ID_LEN];
    int64_t owner_seq;
    char owner_id[SP_USER_ID_LEN]; /* the owner's public user id (Graph's creatorId) */
    char resource[SP_SUB_RESOURCE_MAX + 1];
    char drive_id[SP_SUB_RESOURCE_MAX + 1]; /* "" for me/drives */
    unsigned change_types;                  /* SP_SUB_* bits */
    char notification_url[SP_SUB_URL_MAX + 1];
    char lifecycle_url[SP_SUB_URL_MAX + 1];
    char client_state[SP_SUB_CLIENT_STATE_MAX + 1];
    char delegate[SP_SUB_URL_MAX + 1]; /* "" when made by its owner */
    int64_t expires_at, created_at;    /* ms */
    int64_t cursor;                    /* every event with seq <= cursor is done */
    int attempts;
    int64_t next_attempt_at; /* ms, 0: due now */
    char last_error[256];
    int64_t ended_at;           /* 0: not ended */
    char lifecycle_pending[24]; /* SP_SUB_LIFECYCLE_* or "" */
} sp_subscription;

/* What a new subscription is. Strings are borrowed; optional ones NULL. */
typedef struct sp_subscription_new {
    const char *resource;         /* "me/drives" or "drives/<id>", normalized */
    const char *drive_id;         /* drives/<id>: the id; me/drives: NULL */
    unsigned change_types;        /* SP_SUB_* bits, at least one */
    const char *notification_url; /* checked by the caller (api/webhook_url) */
    const char *lifecycle_url;    /* NULL when none */
    const char *client_state;     /* NULL when none */
    const char *delegate;         /* NULL unless a trusted instance signed the request */
    int64_t expires_at;           /* ms */
} sp_subscription_new;

/* Who may read or change a subscription: its owner (owner_seq) or, when
 * delegate is not NULL, the trusted instance that made it (then owner_seq
 * is not asked). */
typedef struct sp_subscription_who {
    int64_t owner_seq;
    const char *delegate;
} sp_subscription_who;

/*
 * Creates a subscription of owner, with its subscription.created event,
 * and fills *out (may be NULL) with the new row. Its cursor starts at the
 * newest event, so that it is told only of what happens after it exists.
 * Refused with SP_ERR_TOO_LARGE when owner has max subscriptions already
 * (ended ones whose lifecycle note is pending count: they still cost the
 * sender). Returns 0 or a negative sp_err.
 */
int sp_store_subscription_create(sp_store *st, const sp_user *owner, const sp_subscription_new *n,
                                 int max, sp_subscription *out);

/* Reads subscription id as who may see it into *out. Returns 0,
 * SP_ERR_NOT_FOUND (also someone else's) or another negative sp_err. */
int sp_store_subscription_get(sp_store *st, const sp_subscription_who *who, const char *id,
                              sp_subscription *out);

/* Receives one subscription (borrowed for the call); returns 0 to go on,
 * negative to stop (that value is returned by the listing). */
typedef int (*sp_subscription_fn)(const sp_subscription *s, void *ctx);

/* Calls fn for each subscription of owner_seq, oldest first. Returns 0 or
 * a negative sp_err. */
int sp_store_subscription_list(sp_store *st, int64_t owner_seq, sp_subscription_fn fn, void *ctx);

/*
 * Renews subscription id of who: a new expires_at (ms), with its
 * subscription.updated event; *out (may be NULL) receives the row. An
 * ended or expired subscription cannot be renewed (SP_ERR_NOT_FOUND, as
 * Graph forgets it). Returns 0, SP_ERR_NOT_FOUND or another negative
 * sp_err.
 */
int sp_store_subscription_renew(sp_store *st, const sp_subscription_who *who, const char *id,
                                int64_t expires_at, sp_subscription *out);

/* Deletes subscription id of who, writing subscription.deleted with
 * reason "deleted". Returns 0, SP_ERR_NOT_FOUND or another negative
 * sp_err. */
int sp_store_subscription_delete(sp_store *st, const sp_subscription_who *who, const char *id);

/* Number of subscriptions owner_seq holds, ended ones too (the limit of
 * sp_store_subscription_create counts them so). */
int sp_store_subscriptions_of(sp_store *st, int64_t owner_seq, int64_t *count);

/* Number of subscriptions not ended (for /metrics). */
int sp_store_subscriptions_count(sp_store *st, int64_t *count);

/* Writes "created,updated,deleted" (those of bits, in that order) into
 * out (at least 24 bytes). */
void sp_subscription_change_types_str(unsigned bits, char *out, size_t outlen);

#endif
