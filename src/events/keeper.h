/*
 * keeper.h - keeps the subscriptions this instance holds at hosting
 * instances for remote spaces registered by URL: renews each well before
 * it expires and deletes those whose space is gone here, with requests
 * signed by this instance (RFC 9421), so that no user has to be present.
 * Failures are retried with back-off; nothing here runs inside a request.
 */
#ifndef SP_EVENTS_KEEPER_H
#define SP_EVENTS_KEEPER_H

#include "util/strlist.h"
#include "store/store.h"

#include <stdint.h>

struct sp_buf;
struct sp_httpsig_key;
typedef struct sp_keeper sp_keeper;

/* What a subscription at a hosting instance is asked for: Graph's maximum
 * (3 days) less a margin for the two clocks. Renewed when a third of it is
 * left (a day). */
#define SP_KEEPER_LIFETIME_MS (3LL * 24 * 60 * 60 * 1000 - 10 * 60 * 1000)

/*
 * Starts the thread (none without trusted instances: *out stays NULL).
 * st, trusted (the trusted instances) and signer are borrowed and must
 * outlive the handle; lifetime_ms
 * is what each renewal asks for (SP_KEEPER_LIFETIME_MS but in tests).
 * Returns 0 or SP_ERR_NOMEM.
 */
int sp_keeper_start(sp_store *st, const sp_strlist *trusted, const struct sp_httpsig_key *signer,
                    int64_t lifetime_ms, sp_keeper **out);

/* The commit listener: a registration may have been removed. */
void sp_keeper_wake(void *keeper);

/* Stops the thread (a request in flight is cancelled) and frees k. NULL
 * is fine. */
void sp_keeper_stop(sp_keeper *k);

/* Appends Prometheus metrics: renewals and deletions by outcome. NULL
 * appends nothing. Returns 0 or SP_ERR_NOMEM. */
int sp_keeper_metrics(sp_keeper *k, struct sp_buf *out);

#endif
