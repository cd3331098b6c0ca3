/*
 * hub.h - who is listening for which user's events.
 *
 * Change streams subscribe with a user and a wake function. When events
 * are committed, the hub reads which users they concern (one query per
 * wake-up, not per stream) and wakes only those users' streams; the
 * streams then read their events from the log themselves. Each
 * subscription also has a timer (keep-alive, coalescing, token expiry).
 * The hub knows no HTTP.
 */
#ifndef SP_EVENTS_HUB_H
#define SP_EVENTS_HUB_H

#include "store/store.h"

#include <stdint.h>

typedef struct sp_hub sp_hub;
typedef struct sp_hub_sub sp_hub_sub;

/* Wakes one subscriber: events is 1 when events for its user were
 * committed, 0 for its timer or the hub closing. Called under the hub's
 * lock, so it must be quick and must not call back into the hub. */
typedef void (*sp_hub_wake_fn)(void *ctx, int events);

/* Starts the hub thread. Returns 0 or SP_ERR_NOMEM. */
int sp_hub_start(sp_store *st, sp_hub **out);

/* The commit listener: events were written. Safe from any thread. */
void sp_hub_notify(void *hub);

/*
 * Subscribes ctx for user_seq, unless the user already has max
 * subscriptions (SP_ERR_TOO_LARGE) or the hub is closing
 * (SP_ERR_UNAVAILABLE). Returns 0 and the subscription in *out.
 */
int sp_hub_subscribe(sp_hub *hub, int64_t user_seq, int max, sp_hub_wake_fn wake, void *ctx,
                     sp_hub_sub **out);

/* Removes a subscription; after it returns, wake is never called for it. */
void sp_hub_unsubscribe(sp_hub *hub, sp_hub_sub *sub);

/* Sets when the subscription's timer fires (wall clock ms; 0 = never);
 * a timer fires once. */
void sp_hub_set_timer(sp_hub *hub, sp_hub_sub *sub, int64_t due_ms);

/* Non-zero once the hub is shutting down: streams should end. */
int sp_hub_closing(sp_hub *hub);

/* Current number of subscriptions. */
int64_t sp_hub_count(sp_hub *hub);

/* Wakes every subscription with closing set, waits up to timeout_ms for
 * them to leave, then stops the thread. Call before stopping HTTP. */
void sp_hub_close(sp_hub *hub, int64_t timeout_ms);

/* Frees the hub; every subscription must be gone. */
void sp_hub_free(sp_hub *hub);

#endif
