/*
 * lease.c - leases on the background work, held as PostgreSQL session
 * advisory locks on one connection per process (see lease.h).
 *
 * A small thread tries, every SP_LEASE_ROUND_MS, to take the leases this
 * process lacks (pg_try_advisory_lock: whoever asks first after the holder
 * is gone gets it), and the same query proves the connection alive. When
 * the connection fails or does not answer in time, every lease is dropped
 * at once: PostgreSQL frees a session's locks when its connection ends,
 * so another replica may hold them already. A replica killed outright
 * loses its connection, the server frees its locks, and another replica
 * takes them at its next round: within about a second.
 *
 * A lease is no fence: a holder whose connection died goes on with the
 * work in hand until its next round notices (within SP_LEASE_ROUND_MS and
 * SP_LEASE_ANSWER_MS), while another may have begun. The work is built for that, as for a crash: the relay's copies
 * carry the event id the stream drops repeats by, and a sender's outcome
 * is recorded before it goes on, so at worst one request is made twice.
 */
#include "store/db_pg_internal.h"
#include "store/shared.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How often the leases this process lacks are tried, and the connection
 * checked: a lease moves within about this after its holder dies. */
#define SP_LEASE_ROUND_MS 500
/* A check unanswered after this drops every lease: the database or the
 * way to it is gone, and the locks may be another replica's by now. */
#define SP_LEASE_ANSWER_MS 2000
/* The advisory lock keys of the leases, SP_LEASE_KEY_BASE + sp_lease:
 * apart from the store's transaction-level keys (internal.h). */
#define SP_LEASE_KEY_BASE 7310010L

static const char *const lease_names[SP_LEASE_COUNT] = {"relay", "federation", "webhooks",
                                                        "sweeper"};

int sp_store_lease_held(sp_store *st, sp_lease l)
{
    return sp_store_lease_term(st, l) != 0;
}

uint64_t sp_store_lease_term(sp_store *st, sp_lease l)
{
    if (!st->pg)
        return 1; /* one process: always held, in one term */
    return atomic_load(&st->lease_term[l]);
}

int sp_store_on_lease(sp_store *st, sp_lease l, sp_store_commit_fn fn, void *ctx)
{
    if (st->lease_listener_count[l] == SP_STORE_LEASE_LISTENERS)
        return SP_ERR_TOO_LARGE;
    int i = st->lease_listener_count[l]++;
    st->lease_listeners[l][i].fn = fn;
    st->lease_listeners[l][i].ctx = ctx;
    return 0;
}

PGconn *sp_store__pg_connect(const char *location, const char *what)
{
    /* The URL's own settings first; ours after it take precedence. */
    const char *const keys[] = {"dbname",
                                "application_name",
                                "connect_timeout",
                                "keepalives_idle",
                                "keepalives_interval",
                                "keepalives_count",
                                NULL};
    const char *const values[] = {location, what, "5", "5", "2", "3", NULL};
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s: ", what);
    int rc;
    return sp_db_pg_connect(location, keys, values, prefix, &rc);
}

void sp_store__shared_wait(sp_store *st, int64_t ms)
{
    sp_wake_wait(&st->shared->bell, ms, &st->shared->stopping);
}

/* Records lease l taken and wakes its worker. */
static void take(sp_store *st, sp_lease l)
{
    /* A lease taken again never has the term it had before. */
    atomic_store(&st->lease_term[l], atomic_fetch_add(&st->lease_terms_drawn, 1) + 1);
    sp_info("lease", "this replica took the %s lease", lease_names[l]);
    for (int i = 0; i < st->lease_listener_count[l]; i++)
        st->lease_listeners[l][i].fn(st->lease_listeners[l][i].ctx);
}

/* The connection is gone: so are the leases it held. */
static void drop_all(sp_store *st, const char *why)
{
    int any = 0;
    for (int l = 0; l < SP_LEASE_COUNT; l++)
        any |= atomic_exchange(&st->lease_term[l], 0) != 0;
    if (any)
        sp_warn("lease", "every lease of this replica is lost: %.*s", (int)strcspn(why, "\n"), why);
}

/* Runs sql on pg, waiting for its answer up to SP_LEASE_ANSWER_MS.
 * Returns the result (PQclear it), or NULL when the connection failed or
 * did not answer in time. */
static PGresult *ask(PGconn *pg, const char *sql)
{
    if (!PQsendQuery(pg, sql))
        return NULL;
    int64_t deadline = sp_time_mono_ms() + SP_LEASE_ANSWER_MS;
    while (PQisBusy(pg)) {
        int64_t left = deadline - sp_time_mono_ms();
        struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0 || !PQconsumeInput(pg))
            return NULL;
    }
    PGresult *res = PQgetResult(pg), *more;
    while ((more = PQgetResult(pg)) != NULL)
        PQclear(more);
    return res;
}

/* One round: tries the leases this process lacks (or only checks the
 * connection when it holds them all). Returns 0, or -1 when the
 * connection is to be dropped. */
static int round_once(sp_store *st, PGconn *pg)
{
    char sql[64 + SP_LEASE_COUNT * 48] = "SELECT 1";
    size_t len = strlen(sql);
    int tried[SP_LEASE_COUNT], n = 0;
    for (int l = 0; l < SP_LEASE_COUNT; l++) {
        if (atomic_load(&st->lease_term[l]) != 0)
            continue;
        len += (size_t)snprintf(sql + len, sizeof sql - len, ", pg_try_advisory_lock(%ld)",
                                SP_LEASE_KEY_BASE + l);
        tried[n++] = l;
    }
    PGresult *res = ask(pg, sql);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        PQclear(res);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(PQgetvalue(res, 0, i + 1), "t") == 0)
            take(st, (sp_lease)tried[i]);
    }
    PQclear(res);
    return 0;
}

static void *lease_main(void *arg)
{
    sp_store *st = arg;
    sp_store_shared *sh = st->shared;
    int64_t backoff = SP_SHARED_RECONNECT_MIN_MS;
    while (!atomic_load(&sh->stopping)) {
        if (!sh->lease_pg) {
            sh->lease_pg = sp_store__pg_connect(st->location, "spaceport-lease");
            if (!sh->lease_pg) {
                sp_store__shared_wait(st, backoff);
                backoff = backoff * 2 > SP_SHARED_RECONNECT_MAX_MS ? SP_SHARED_RECONNECT_MAX_MS
                                                                   : backoff * 2;
                continue;
            }
            backoff = SP_SHARED_RECONNECT_MIN_MS;
        }
        if (round_once(st, sh->lease_pg) < 0) {
            drop_all(st, PQstatus(sh->lease_pg) == CONNECTION_OK ? "the database did not answer"
                                                                 : PQerrorMessage(sh->lease_pg));
            PQfinish(sh->lease_pg);
            sh->lease_pg = NULL;
            continue; /* connects again at once, then backs off */
        }
        sp_store__shared_wait(st, SP_LEASE_ROUND_MS);
    }
    return NULL;
}

int sp_store_shared_start(sp_store *st)
{
    if (!st->pg || st->shared)
        return 0;
    sp_store_shared *sh = calloc(1, sizeof *sh);
    if (!sh)
        return SP_ERR_NOMEM;
    sp_wake_init(&sh->bell);
    st->shared = sh;
    if (pthread_create(&sh->lease_thread, NULL, lease_main, st) != 0)
        goto fail;
    sh->lease_started = 1;
    pthread_setname_np(sh->lease_thread, "store-lease");
    if (pthread_create(&sh->listen_thread, NULL, sp_store__listen_main, st) != 0)
        goto fail;
    sh->listen_started = 1;
    pthread_setname_np(sh->listen_thread, "store-listen");
    return 0;
fail:
    sp_store_shared_stop(st);
    return SP_ERR_NOMEM;
}

void sp_store_shared_stop(sp_store *st)
{
    sp_store_shared *sh = st->shared;
    if (!sh)
        return;
    atomic_store(&sh->stopping, 1);
    sp_wake_ring(&sh->bell);
    if (sh->lease_started)
        pthread_join(sh->lease_thread, NULL);
    if (sh->listen_started)
        pthread_join(sh->listen_thread, NULL);
    sh->lease_started = sh->listen_started = 0;
}

void sp_store__shared_close(sp_store *st)
{
    sp_store_shared *sh = st->shared;
    if (!sh)
        return;
    sp_store_shared_stop(st);
    /* Ends the session: PostgreSQL frees the leases for the others. */
    if (sh->lease_pg)
        PQfinish(sh->lease_pg);
    for (int l = 0; l < SP_LEASE_COUNT; l++)
        atomic_store(&st->lease_term[l], 0);
    sp_wake_destroy(&sh->bell);
    free(sh);
    st->shared = NULL;
}

int sp_store_lease_metrics(sp_store *st, sp_buf *out)
{
    int rc = sp_buf_printf(out, "# HELP spaceport_lease_held 1 while this replica does the work "
                                "of the lease for the instance.\n"
                                "# TYPE spaceport_lease_held gauge\n");
    for (int l = 0; rc == 0 && l < SP_LEASE_COUNT; l++)
        rc = sp_buf_printf(out, "spaceport_lease_held{lease=\"%s\"} %d\n", lease_names[l],
                           sp_store_lease_held(st, (sp_lease)l));
    return rc;
}
