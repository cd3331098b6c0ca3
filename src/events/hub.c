/*
 * hub.c - subscriptions by user, woken on commit and by timers.
 */
#include "events/hub.h"

#include "store/events.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

/* Buckets of the user index; a power of two. 64k buckets keep chains
 * short at 10,000+ streams for a few KiB of pointers... 512 KiB. */
#define SP_HUB_BUCKETS 65536
/* The longest the hub sleeps without looking at the clock; timers are
 * otherwise kept in a heap and the thread sleeps until the earliest. */
#define SP_HUB_IDLE_MS 1000
/* Recipient rows read per wake-up round. */
#define SP_HUB_BATCH 4096

struct sp_hub_sub {
    int64_t user_seq;
    sp_hub_wake_fn wake;
    void *ctx;
    int64_t due_ms;          /* 0: no timer */
    size_t heap_at;          /* index in the timer heap, when due_ms */
    sp_hub_sub *bucket_next; /* chain in the user index */
    sp_hub_sub *prev, *next; /* list of all, for closing */
};

struct sp_hub {
    sp_store *store;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int notified;
    atomic_int closing;
    int stopped;
    int64_t last_seq, last_user; /* recipients up to this pair have been woken */
    sp_hub_sub *buckets[SP_HUB_BUCKETS];
    sp_hub_sub *all;
    int64_t count;
    sp_hub_sub **heap; /* timers: a binary min-heap on due_ms */
    size_t heap_len, heap_cap;
};

static size_t bucket_of(int64_t user_seq)
{
    uint64_t h = (uint64_t)user_seq * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 48) & (SP_HUB_BUCKETS - 1);
}

/* ---- the timer heap (hub lock held) ---- */

static void heap_put(sp_hub *hub, size_t i, sp_hub_sub *s)
{
    hub->heap[i] = s;
    s->heap_at = i;
}

static void heap_up(sp_hub *hub, size_t i)
{
    sp_hub_sub *s = hub->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (hub->heap[parent]->due_ms <= s->due_ms)
            break;
        heap_put(hub, i, hub->heap[parent]);
        i = parent;
    }
    heap_put(hub, i, s);
}

static void heap_down(sp_hub *hub, size_t i)
{
    sp_hub_sub *s = hub->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= hub->heap_len)
            break;
        if (child + 1 < hub->heap_len && hub->heap[child + 1]->due_ms < hub->heap[child]->due_ms)
            child++;
        if (hub->heap[child]->due_ms >= s->due_ms)
            break;
        heap_put(hub, i, hub->heap[child]);
        i = child;
    }
    heap_put(hub, i, s);
}

static void heap_remove(sp_hub *hub, sp_hub_sub *s)
{
    size_t i = s->heap_at;
    s->due_ms = 0;
    sp_hub_sub *last = hub->heap[--hub->heap_len];
    if (last == s)
        return;
    heap_put(hub, i, last);
    heap_up(hub, i);
    heap_down(hub, last->heap_at);
}

/* Sets a timer; the heap has room (sp_hub_subscribe reserved it). */
static void heap_set(sp_hub *hub, sp_hub_sub *s, int64_t due_ms)
{
    if (s->due_ms) {
        if (!due_ms) {
            heap_remove(hub, s);
            return;
        }
        s->due_ms = due_ms;
        heap_up(hub, s->heap_at);
        heap_down(hub, s->heap_at);
    } else if (due_ms) {
        s->due_ms = due_ms;
        heap_put(hub, hub->heap_len++, s);
        heap_up(hub, s->heap_at);
    }
}

/* The users of one round of committed events, read without the lock. */
typedef struct wake_round {
    sp_buf users;                  /* int64_t user seqs */
    size_t rows;                   /* pairs read this round */
    int64_t last_event, last_user; /* the keyset: last pair read */
} wake_round;

static int collect_user(int64_t user_seq, int64_t event_seq, void *arg)
{
    wake_round *w = arg;
    size_t n = w->users.len / sizeof user_seq;
    /* Consecutive rows of one user are woken once. */
    if ((n == 0 || ((const int64_t *)w->users.data)[n - 1] != user_seq) &&
        sp_buf_append(&w->users, &user_seq, sizeof user_seq) < 0)
        return SP_ERR_NOMEM; /* the keyset stays before this pair */
    w->rows++;
    w->last_event = event_seq;
    w->last_user = user_seq;
    return 0;
}

/* Wakes the subscriptions of the users (hub lock held). */
static void wake_users(sp_hub *hub, const wake_round *w)
{
    const int64_t *users = (const int64_t *)w->users.data;
    for (size_t i = 0; i < w->users.len / sizeof *users; i++) {
        for (sp_hub_sub *s = hub->buckets[bucket_of(users[i])]; s; s = s->bucket_next) {
            if (s->user_seq == users[i])
                s->wake(s->ctx, 1);
        }
    }
}

static void *hub_main(void *arg)
{
    sp_hub *hub = arg;
    pthread_mutex_lock(&hub->lock);
    while (!atomic_load(&hub->closing)) {
        if (hub->notified) {
            hub->notified = 0;
            /* Recipients are read without the lock (streams set their
             * timers meanwhile) and woken with it, so that no subscription
             * is freed while it is being woken. The query is an index
             * range read of the rows since the last round. */
            wake_round w = {0};
            int64_t after = hub->last_seq, after_user = hub->last_user;
            int rc = 0;
            pthread_mutex_unlock(&hub->lock);
            for (;;) {
                w.rows = 0;
                sp_buf_reset(&w.users);
                rc = sp_store_event_recipients_after(hub->store, after, after_user, SP_HUB_BATCH,
                                                     collect_user, &w);
                if (w.rows > 0) {
                    pthread_mutex_lock(&hub->lock);
                    wake_users(hub, &w);
                    pthread_mutex_unlock(&hub->lock);
                    after = w.last_event;
                    after_user = w.last_user;
                }
                if (rc < 0 || w.rows == 0)
                    break;
            }
            sp_buf_free(&w.users);
            pthread_mutex_lock(&hub->lock);
            /* The keyset, so that a round cut short (database error) goes
             * on where it stopped; tried again shortly. */
            hub->last_seq = after;
            hub->last_user = after_user;
            if (rc < 0) {
                hub->notified = 1;
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += 1;
                pthread_cond_timedwait(&hub->cond, &hub->lock, &ts);
            }
        }
        int64_t now = sp_time_now_ms();
        while (hub->heap_len > 0 && hub->heap[0]->due_ms <= now) {
            sp_hub_sub *s = hub->heap[0];
            heap_remove(hub, s);
            s->wake(s->ctx, 0);
        }
        if (hub->notified)
            continue;
        int64_t until = now + SP_HUB_IDLE_MS;
        if (hub->heap_len > 0 && hub->heap[0]->due_ms < until)
            until = hub->heap[0]->due_ms;
        struct timespec ts = {(time_t)(until / 1000), (long)(until % 1000) * 1000000L};
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
    hub->last_user = INT64_MAX; /* every recipient of last_seq is past */
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
    if (hub->heap_cap <= (size_t)hub->count) {
        size_t cap = hub->heap_cap ? hub->heap_cap * 2 : 1024;
        sp_hub_sub **heap = realloc(hub->heap, cap * sizeof *heap);
        if (!heap) {
            pthread_mutex_unlock(&hub->lock);
            free(sub);
            return SP_ERR_NOMEM;
        }
        hub->heap = heap;
        hub->heap_cap = cap;
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
    if (sub->due_ms)
        heap_remove(hub, sub);
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
    heap_set(hub, sub, due_ms);
    /* Earlier than the hub planned to wake: tell it. */
    if (sub->due_ms && sub->heap_at == 0)
        pthread_cond_signal(&hub->cond);
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
        s->wake(s->ctx, 0);
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
            s->wake(s->ctx, 0);
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
    free(hub->heap);
    free(hub);
}
