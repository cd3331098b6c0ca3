/*
 * webhooks.h - the delivery side of subscriptions (store/subscriptions.h
 * is the API's side): which subscriptions have something to send, the
 * events one may see after its cursor, and recording what became of a
 * delivery.
 *
 * Each subscription is a cursor over the event log: every event with
 * seq <= cursor is delivered or skipped. A subscription sees only events
 * its owner is a recipient of (so it never tells more than the owner's
 * own change stream), and the cursor moves only once the receiver
 * accepted a batch, so delivery is at least once and in order. A
 * subscription ends when it expires (deleted, as Microsoft Graph does,
 * without a lifecycle notification) or when its owner can no longer read
 * its resource (a subscriptionRemoved lifecycle notification is sent
 * first); each end writes spaceport.subscription.deleted with its reason.
 */
#ifndef SP_STORE_WEBHOOKS_H
#define SP_STORE_WEBHOOKS_H

#include "store/events.h"
#include "store/store.h"
#include "store/subscriptions.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Fills out (max rows, *count of them) with the subscriptions due at
 * now_ms (next_attempt_at <= now_ms) that have work: a lifecycle
 * notification to send, an expiry to act on, or events of their owner
 * after their cursor. Least recently served first, so that a
 * subscription with a long backlog takes turns with the others. Returns
 * 0 or a negative sp_err.
 */
int sp_store_webhooks_due(sp_store *st, int64_t now_ms, sp_subscription *out, int max, int *count);

/* Reads subscription seq into *out: its state now (a due row read before
 * another worker served it is stale). Returns 0, SP_ERR_NOT_FOUND (deleted
 * meanwhile) or another negative sp_err. */
int sp_store_webhook_get(sp_store *st, int64_t seq, sp_subscription *out);

/*
 * Sets *may to 1 when s's owner may still read its resource: me/drives
 * always; drives/{id} as GET /graph/v1.0/drives/{id} answers them (an
 * unexpired membership, their own or a group's, on an enabled drive or as
 * its Manager; a share they received and mounted; a remote space they
 * registered), without the administrators' view of every drive: events
 * reach members only. watched (may be NULL; watched_len bytes) receives
 * the id the events s is told of are about: the drive that holds the
 * shared item for a share's mountpoint (its events name that drive, not
 * the mountpoint), else s's drive id ("" for me/drives). Returns 0 or a
 * negative sp_err.
 */
int sp_store_webhook_may_read(sp_store *st, const sp_subscription *s, int *may, char *watched,
                              size_t watched_len);

/* The first sequence number still in the event log: the oldest event's,
 * or the next one's when the log is empty. Events before it are gone
 * (retention). Returns 0 or a negative sp_err. */
int sp_store_webhooks_first_seq(sp_store *st, int64_t *seq);

/*
 * Subscription seq's batch was accepted (or its events skipped): moves the
 * cursor forward to through (never back), clears the failure count and
 * makes it due again at now_ms, behind those waiting longer. Returns 0 or
 * a negative sp_err.
 */
int sp_store_webhook_advance(sp_store *st, int64_t seq, int64_t through, int64_t now_ms);

/* A delivery to subscription seq failed with error (copied, cut to fit):
 * one more attempt counted, next try at next_ms. */
int sp_store_webhook_failed(sp_store *st, int64_t seq, int64_t next_ms, const char *error);

/* Why a subscription ends. */
typedef enum sp_webhook_end {
    SP_WEBHOOK_EXPIRED,     /* expirationDateTime passed: deleted, no lifecycle note */
    SP_WEBHOOK_ACCESS_LOST, /* ended, subscriptionRemoved to send, then deleted */
} sp_webhook_end;

/*
 * Ends subscription seq (if it is not ended already, and for an expiry
 * only if it is still expired: a renewal may have come since the caller
 * read it) and writes its
 * spaceport.subscription.deleted event with reason "expired" or
 * "accessLost", in one transaction. Returns 1 when it ended it, 0 when
 * there was nothing to do (gone, ended already, renewed), or a negative
 * sp_err.
 */
int sp_store_webhook_end(sp_store *st, int64_t seq, sp_webhook_end why);

/* Events after subscription seq's cursor fell out of retention: the
 * cursor moves to cursor (the first retained event - 1) and a missed
 * lifecycle notification becomes pending (unless another is). */
int sp_store_webhook_missed(sp_store *st, int64_t seq, int64_t cursor);

/* Subscription seq's pending lifecycle notification sent (borrowed: its
 * lifecycle_pending as read before sending, "" for none) was sent or
 * given up: an ended subscription is deleted, any other is due again.
 * Nothing changes when another note became pending meanwhile (an end
 * recorded while a missed note was being sent): that one is still to
 * send. */
int sp_store_webhook_lifecycle_done(sp_store *st, int64_t seq, const char *sent);

/*
 * Moves the cursor of every live subscription whose owner has no event
 * after it to the newest event, in one write: a subscription whose owner
 * was told of nothing for longer than the retention would otherwise look
 * as if it had missed events. *moved (may be NULL) receives how many.
 */
int sp_store_webhooks_catch_up(sp_store *st, int *moved);

/* Calls fn for each live drives/{id} subscription with seq > after, at
 * most limit, in seq order (a periodic access check). */
int sp_store_webhooks_drive_subs(sp_store *st, int64_t after, int limit, sp_subscription_fn fn,
                                 void *ctx);

/* *behind: live subscriptions whose owner has events after the cursor,
 * or with a lifecycle notification pending; *next_ms: the earliest
 * next_attempt_at among them later than now_ms (0 when none). */
int sp_store_webhooks_pending(sp_store *st, int64_t now_ms, int64_t *behind, int64_t *next_ms);

#endif
