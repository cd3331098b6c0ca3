/*
 * hub.c - subscriptions by user, woken on commit and by timers.
 */
#include "events/hub.h"

#include "store/events.h"

#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

/* Buckets of the user index; a power of two. 64k buckets keep chains
 * short at 10,000+ streams for a few KiB of pointers... 512 KiB. */
#define SP_HUB_BUCKETS 65536
/* Timer resolution: how often due subscriptions are looked for. */
#define SP_HUB_TICK_MS 20
/* Recipient rows read per wake-up round. */
#define SP_HUB_BATCH 4096

struct sp_hub_sub {
    int64_t user_seq;
    sp_hub_wake_fn wake;
    void *ctx;
    int64_t due_ms;
    sp_hub_sub *bucket_next; /* chain in the user index */
    sp_hub_sub *prev, *next; /* list of all, for timers and closing */
};

struct sp_hub {
    sp_store *store;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int notified;
    atomic_int closing;
    int stopped;
    int64_t last_seq; /* recipients up to here have been woken */
    sp_hub_sub *buckets[SP_HUB_BUCKETS];
    sp_hub_sub *all;
    int64_t count;
};

static size_t bucket_of(int64_t user_seq)
{
    uint64_t h = (uint64_t)user_seq * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 48) & (SP_HUB_BUCKETS - 1);
}

typedef struct wake_round {
    sp_hub *hub;
    int64_t last_user, last_event;
} wake_round;

/* Called per (user, event) with the hub lock held. */
static int wake_user(int64_t user_seq, int64_t event_seq, void *arg)
{
    wake_round *w = arg;
    w->last_event = event_seq;
    if (user_seq == w->last_user)
        return 0; /* consecutive rows of one user: woken already */
    w->last_user = user_seq;
    for (sp_hub_sub *s = w->hub->buckets[bucket_of(user_seq)]; s; s = s->bucket_next) {
        if (s->user_seq == user_seq)
            s->wake(s->ctx);
    }
    return 0;
}

static void *hub_main(void *arg)
{
    sp_hub *hub = arg;
    pthread_mutex_lock(&hub->lock);
    while (!atomic_load(&hub->closing)) {
        if (hub->notified) {
            hub->notified = 0;
            /* Recipients are read under the lock so that no subscription
             * is freed while it is being woken; the query is an index
             * range read of the rows since the last round. */
            for (;;) {
                wake_round w = {hub, -1, hub->last_seq};
                int rc = sp_store_event_recipients_after(hub->store, hub->last_seq, SP_HUB_BATCH,
                                                         wake_user, &w);
                if (rc < 0 || w.last_event == hub->last_seq)
                    break;
                hub->last_seq = w.last_event;
            }
        }
        int64_t now = sp_time_now_ms();
        for (sp_hub_sub *s = hub->all; s; s = s->next) {
            if (s->due_ms && s->due_ms <= now) {
                s->due_ms = 0;
                s->wake(s->ctx);
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += SP_HUB_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (!hub->notified)
            pthread_cond_timedwait(&hub->cond, &hub->lock, &ts);
    }
    pthread_mutex_unlock(&hub->lock);
    return NULL;
}

int sp_hub_start(sp_store *st, sp_hub **out)
{
    sp_hub *hub = calloc(1, sizeof *hub);
    if (!hub)
        return SP_ERR_NOMEM;
    hub->store = st;
    int64_t oldest = 0;
    sp_store_events_range(st, &oldest, &hub->last_seq);
    pthread_mutex_init(&hub->lock, NULL);
    pthread_cond_init(&hub->cond, NULL);
    if (pthread_create(&hub->thread, NULL, hub_main, hub) != 0) {
        pthread_cond_destroy(&hub->cond);
        pthread_mutex_destroy(&hub->lock);
        free(hub);
        return SP_ERR_NOMEM;
    }
    *out = hub;
    return 0;
}

void sp_hub_notify(void *arg)
{
    sp_hub *hub = arg;
    pthread_mutex_lock(&hub->lock);
    hub->notified = 1;
    pthread_cond_signal(&hub->cond);
    pthread_mutex_unlock(&hub->lock);
}

int sp_hub_subscribe(sp_hub *hub, int64_t user_seq, int max, sp_hub_wake_fn wake, void *ctx,
                     sp_hub_sub **out)
{
    sp_hub_sub *sub = calloc(1, sizeof *sub);
    if (!sub)
        return SP_ERR_NOMEM;
    sub->user_seq = user_seq;
    sub->wake = wake;
    sub->ctx = ctx;
    pthread_mutex_lock(&hub->lock);
    if (atomic_load(&hub->closing)) {
        pthread_mutex_unlock(&hub->lock);
        free(sub);
        return SP_ERR_UNAVAILABLE;
    }
    size_t b = bucket_of(user_seq);
    int n = 0;
    for (sp_hub_sub *s = hub->buckets[b]; s; s = s->bucket_next)
        n += s->user_seq == user_seq;
    if (n >= max) {
        pthread_mutex_unlock(&hub->lock);
        free(sub);
        return SP_ERR_TOO_LARGE;
    }
    sub->bucket_next = hub->buckets[b];
    hub->buckets[b] = sub;
    sub->next = hub->all;
    if (hub->all)
        hub->all->prev = sub;
    hub->all = sub;
    hub->count++;
    pthread_mutex_unlock(&hub->lock);
    *out = sub;
    return 0;
}

void sp_hub_unsubscribe(sp_hub *hub, sp_hub_sub *sub)
{
    if (!sub)
        return;
    pthread_mutex_lock(&hub->lock);
    for (sp_hub_sub **p = &hub->buckets[bucket_of(sub->user_seq)]; *p; p = &(*p)->bucket_next) {
        if (*p == sub) {
            *p = sub->bucket_next;
            break;
        }
    }
    if (sub->prev)
        sub->prev->next = sub->next;
    else
        hub->all = sub->next;
    if (sub->next)
        sub->next->prev = sub->prev;
    hub->count--;
    pthread_cond_broadcast(&hub->cond); /* sp_hub_close may be waiting */
    pthread_mutex_unlock(&hub->lock);
    free(sub);
}

void sp_hub_set_timer(sp_hub *hub, sp_hub_sub *sub, int64_t due_ms)
{
    pthread_mutex_lock(&hub->lock);
    sub->due_ms = due_ms;
    pthread_mutex_unlock(&hub->lock);
}

int sp_hub_closing(sp_hub *hub)
{
    return atomic_load(&hub->closing);
}

int64_t sp_hub_count(sp_hub *hub)
{
    pthread_mutex_lock(&hub->lock);
    int64_t n = hub->count;
    pthread_mutex_unlock(&hub->lock);
    return n;
}

void sp_hub_close(sp_hub *hub, int64_t timeout_ms)
{
    if (!hub || hub->stopped)
        return;
    pthread_mutex_lock(&hub->lock);
    atomic_store(&hub->closing, 1);
    pthread_cond_broadcast(&hub->cond);
    pthread_mutex_unlock(&hub->lock);
    pthread_join(hub->thread, NULL);
    hub->stopped = 1;
    /* Every stream is woken to see the hub closing and end its reply;
     * libmicrohttpd must not be stopped with connections suspended. */
    int64_t deadline = sp_time_mono_ms() + timeout_ms;
    pthread_mutex_lock(&hub->lock);
    for (sp_hub_sub *s = hub->all; s; s = s->next)
        s->wake(s->ctx);
    while (hub->count > 0 && sp_time_mono_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&hub->cond, &hub->lock, &ts);
        for (sp_hub_sub *s = hub->all; s; s = s->next)
            s->wake(s->ctx);
    }
    if (hub->count > 0)
        sp_warn("hub", "%lld change streams still open at shutdown", (long long)hub->count);
    pthread_mutex_unlock(&hub->lock);
}

void sp_hub_free(sp_hub *hub)
{
    if (!hub)
        return;
    if (!hub->stopped)
        sp_hub_close(hub, 0);
    pthread_cond_destroy(&hub->cond);
    pthread_mutex_destroy(&hub->lock);
    free(hub);
}
