/*
 * sweeper.c - share and membership expiry, and event log retention.
 *
 * Of several replicas, the one holding the sweeper lease sweeps
 * (store/lease.h); each sweep reads what is due from the database.
 */
#include "events/sweeper.h"

#include "store/drives.h"
#include "store/events.h"
#include "store/lease.h"
#include "store/shares.h"

#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

#include <pthread.h>
#include <stdlib.h>

/* Expiry is checked this often: an expired share or membership lingers
 * at most this long in event terms (every read filters by time at once). */
#define SP_SWEEP_EXPIRY_MS 1000
/* Retention is enforced this often. */
#define SP_SWEEP_PRUNE_MS 60000

struct sp_sweeper {
    sp_store *store;
    int64_t retention_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
};

static void *sweeper_main(void *arg)
{
    sp_sweeper *s = arg;
    int64_t next_prune = sp_time_mono_ms() + SP_SWEEP_PRUNE_MS;
    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        pthread_mutex_unlock(&s->lock);
        int expired = 0, held = sp_store_lease_held(s->store, SP_LEASE_SWEEPER);
        if (held && sp_store_shares_expire(s->store, sp_time_now_ms(), &expired) == 0 && expired)
            sp_info("sweeper", "%d shares expired", expired);
        if (held && sp_store_members_expire(s->store, sp_time_now_ms(), &expired) == 0 && expired)
            sp_info("sweeper", "%d memberships expired", expired);
        if (held && sp_time_mono_ms() >= next_prune) {
            int deleted = 0;
            int64_t before = sp_time_now_ms() - s->retention_ms;
            /* Batches until done, so a large backlog drains without
             * holding the writer long at a time. */
            while (sp_store_events_prune(s->store, before, &deleted) == 0 && deleted > 0)
                sp_debug("sweeper", "pruned %d events past retention", deleted);
            next_prune = sp_time_mono_ms() + SP_SWEEP_PRUNE_MS;
        }
        pthread_mutex_lock(&s->lock);
        if (s->stopping)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += SP_SWEEP_EXPIRY_MS / 1000;
        pthread_cond_timedwait(&s->wake, &s->lock, &ts);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int sp_sweeper_start(sp_store *st, int64_t retention_ms, sp_sweeper **out)
{
    sp_sweeper *s = calloc(1, sizeof *s);
    if (!s)
        return SP_ERR_NOMEM;
    s->store = st;
    s->retention_ms = retention_ms;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    if (pthread_create(&s->thread, NULL, sweeper_main, s) != 0) {
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return SP_ERR_NOMEM;
    }
    *out = s;
    return 0;
}

void sp_sweeper_stop(sp_sweeper *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
