/*
 * webhooks.h - the webhook sender: change notifications to the
 * notificationUrl of each subscription (Microsoft Graph's shape), read
 * from the event log after the subscription's durable cursor.
 *
 * A few worker threads, woken on commit like the relay, take the due
 * subscriptions one at a time each (a subscription is served by one
 * worker at a time, so its notifications stay in order), POST up to 100
 * notifications as {"value":[...]}, and move the cursor only once the
 * receiver answered 2xx: at least once, in order, nothing lost while a
 * receiver is down (retried with back-off). Subscriptions whose owner can
 * no longer read the resource end with a subscriptionRemoved lifecycle
 * notification; expired ones are deleted; events that fell out of
 * retention before delivery are reported by a missed lifecycle
 * notification. A request never waits for any of this.
 */
#ifndef SP_EVENTS_WEBHOOKS_H
#define SP_EVENTS_WEBHOOKS_H

#include "store/store.h"
#include "util/strlist.h"

struct sp_buf;
struct sp_httpsig_key;
typedef struct sp_webhooks sp_webhooks;

/* Starts the workers. st, trusted (the trusted instances), hosts (the
 * webhook hosts allowed besides them) and signer are borrowed and must
 * outlive the handle; signer (may be NULL) signs the notifications of
 * subscriptions a trusted instance made (their delegate), so that it
 * knows they come from here (RFC 9421). Returns 0 and a new handle in
 * *out, or SP_ERR_NOMEM. */
int sp_webhooks_start(sp_store *st, const sp_strlist *trusted, const sp_strlist *hosts,
                      const struct sp_httpsig_key *signer, sp_webhooks **out);

/* The commit listener: events were written. Safe from any thread. */
void sp_webhooks_wake(void *webhooks);

/* Stops the workers and frees the handle. Requests in flight get a
 * moment to be answered (and recorded), then are cancelled and sent again
 * after the next start. NULL is fine. */
void sp_webhooks_stop(sp_webhooks *h);

/* Appends Prometheus metrics: deliveries by outcome, notifications and
 * lifecycle notifications sent, subscriptions ended, the queue. NULL
 * appends nothing. Returns 0 or SP_ERR_NOMEM. */
int sp_webhooks_metrics(sp_webhooks *h, struct sp_buf *out);

#endif
