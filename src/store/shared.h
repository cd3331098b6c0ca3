/*
 * shared.h - what lease.c and listen.c share: the threads replicas of one
 * instance run against their PostgreSQL database, each on a connection of
 * its own. Not for use outside src/store/.
 */
#ifndef SP_STORE_SHARED_H
#define SP_STORE_SHARED_H

#include "store/internal.h"

#include "util/wake.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>

/* Reconnect back-off of both threads: doubling from the minimum up to the
 * maximum, so a database back after a restart is found within a second
 * and one down for long is not hammered. */
#define SP_SHARED_RECONNECT_MIN_MS 100
#define SP_SHARED_RECONNECT_MAX_MS 5000

struct sp_store_shared {
    pthread_t lease_thread, listen_thread;
    int lease_started, listen_started;
    atomic_int stopping;
    sp_wake bell;     /* rung on stop */
    PGconn *lease_pg; /* the lease thread's; closed by sp_store__shared_close */
};

/* Opens a connection to the database at location (a PostgreSQL URL) for
 * one of the threads, named what (application_name, logs), with TCP
 * keep-alives so that a database gone without a word is noticed within
 * seconds. Returns a new connection, or NULL (logged). */
PGconn *sp_store__pg_connect(const char *location, const char *what);

/* Sleeps up to ms, cut short by stop. */
void sp_store__shared_wait(sp_store *st, int64_t ms);

/* The listener thread's body (listen.c); arg is the store. Returns once
 * the shared threads stop. */
void *sp_store__listen_main(void *arg);

#endif
