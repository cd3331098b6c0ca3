/*
 * lease.h - the background work one replica of an instance does for all of
 * them: publishing the outbox, the federation and webhook senders, the
 * sweeper. Several replicas on one PostgreSQL database share the work by
 * leases: each lease is held by one process at a time, and moves to
 * another within about a second when its holder dies. On SQLite (one
 * process) every lease is always held.
 *
 * Also the cross-replica wake-ups: on PostgreSQL a commit on any replica
 * invalidates the listings this process keeps (sp_store_data_version) and
 * wakes the commit listeners (store/events.h), as a local commit does.
 */
#ifndef SP_STORE_LEASE_H
#define SP_STORE_LEASE_H

#include "store/events.h"
#include "store/store.h"

#include <stdint.h>

struct sp_buf;

typedef enum sp_lease {
    SP_LEASE_RELAY,      /* events/relay.c: the outbox to JetStream */
    SP_LEASE_FEDERATION, /* events/federation.c and keeper.c: requests to other instances */
    SP_LEASE_WEBHOOKS,   /* events/webhooks.c: subscription notifications */
    SP_LEASE_SWEEPER,    /* events/sweeper.c: expiry and retention */
    SP_LEASE_COUNT
} sp_lease;

/* Whether this process holds lease l now: 1 or 0. Safe from any thread;
 * ask before each round of the work it guards. */
int sp_store_lease_held(sp_store *st, sp_lease l);

/* The term of lease l: 0 while not held, else a number that changes each
 * time this process takes the lease. A worker that keeps state in memory
 * (a cursor, a window) compares it with the term that state was read in,
 * and reads it again from the database when they differ: another replica
 * may have moved on meanwhile. */
uint64_t sp_store_lease_term(sp_store *st, sp_lease l);

/* Registers fn(ctx), called (on the lease thread, quickly: wake a thread)
 * each time this process takes lease l. Call before sp_store_shared_start.
 * Returns 0 or SP_ERR_TOO_LARGE. */
int sp_store_on_lease(sp_store *st, sp_lease l, sp_store_commit_fn fn, void *ctx);

/* Starts what replicas share on PostgreSQL: the lease thread (its own
 * connection holding the leases) and the listener thread (its own
 * connection, woken by the other replicas' commits). Call once every
 * listener is registered. Nothing on SQLite. Returns 0 or a negative
 * sp_err. */
int sp_store_shared_start(sp_store *st);

/* Stops both threads: no listener is called from here on. The leases stay
 * held until sp_store_close closes their connection, so that a relay
 * draining at shutdown is still the one that publishes. Calling it again
 * does nothing. */
void sp_store_shared_stop(sp_store *st);

/* Appends spaceport_lease_held{lease="..."} 0|1 for every lease. */
int sp_store_lease_metrics(sp_store *st, struct sp_buf *out);

#endif
