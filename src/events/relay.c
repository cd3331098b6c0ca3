/*
 * relay.c - event log to JetStream, at-least-once.
 *
 * A window of up to SP_RELAY_WINDOW events is on the wire at a time: the
 * relay reads the next rows while earlier ones await their
 * acknowledgements, and records the acknowledged prefix of the log as
 * published (one cursor row). Events reach the stream in log order; when
 * a publish fails, it and everything after it are sent again from the
 * cursor after a back-off (the stream drops what it already has), so a
 * failed event may land after later ones that had succeeded.
 *
 * An acknowledgement is not a promise that the stream keeps the message
 * (nats-server syncs to disk about every two minutes). Whenever the bus
 * (re)connects, the relay reads what the end of the stream holds
 * (reconcile.h), moves its cursor back to where the stream is known to be
 * whole, and publishes again, in log order, each event the stream lacks;
 * the events it still holds are skipped, not sent twice.
 *
 * Of several replicas, the one holding the relay lease (store/lease.h)
 * publishes. One that takes the lease reconciles first, as after a
 * reconnect: the replica before it may have published past the cursor it
 * recorded, and the stream, not this process's memory, says what is
 * there. One that loses the lease lets its window finish and stops.
 */
#include "events/relay.h"

#include "events/envelope.h"
#include "events/reconcile.h"
#include "store/events.h"
#include "store/lease.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"
#include "util/wake.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Events on the wire at most: enough to keep the bus busy while the
 * next rows are read. A power of two (ring indices). */
#define SP_RELAY_WINDOW 2048
/* Rows read at a time, once the window has this much room. */
#define SP_RELAY_READ 512
/* How long one publish may wait for its acknowledgement. */
#define SP_RELAY_ACK_WAIT_MS 5000
/* Back-off after a failure, doubling up to the maximum. */
#define SP_RELAY_BACKOFF_MIN_MS 100
#define SP_RELAY_BACKOFF_MAX_MS 5000
/* Back-off ceiling while the bus is connected but the stream cannot be
 * read yet: a JetStream cluster that restarts elects its leaders within
 * seconds, and a check every second finds the stream soon after, where
 * doubling to 5 s could leave it waiting 5 s more. A check is one small
 * request. */
#define SP_RELAY_RECONCILE_BACKOFF_MAX_MS 1000
/* Idle poll: the relay is woken on commit, this only bounds a missed wake. */
#define SP_RELAY_IDLE_MS 1000
/* Lag histogram bounds in milliseconds (commit to acknowledgement). */
static const int64_t lag_bucket_ms[] = {1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000};
#define SP_RELAY_LAG_BUCKETS (sizeof lag_bucket_ms / sizeof lag_bucket_ms[0])

typedef struct pending {
    int64_t seq;
    int64_t time_ms;
    char id[40];
    int state; /* 0 waiting, 1 acknowledged, -1 failed */
} pending;

struct sp_relay {
    sp_store *store;
    sp_bus *bus;
    char *source;
    jsCtx *js; /* own context: it carries our ack handler */
    pthread_t thread;
    sp_wake bell; /* rung on commit, on the acknowledgement the relay waits for, on stop */
    atomic_int stopping;
    int64_t drain_deadline_ms; /* set by stop: keep going until then */

    /* The window: ring[head..tail) are on the wire, oldest first. Filled
     * by the thread, acknowledged by the NATS library's thread. */
    pthread_mutex_t window_lock;
    pending ring[SP_RELAY_WINDOW];
    uint64_t head, tail, ack_hint;
    int64_t last_read; /* seq of the newest row put in the window */
    int failed;        /* a publish in the window failed */

    /* What the stream held at the last (re)connect; relay thread only. */
    sp_held held;
    uint64_t reconciled;    /* bus generation the held set was read on */
    uint64_t term;          /* relay lease term it was read in (store/lease.h) */
    int64_t resend_through; /* the cursor before it: events sent again up to it */
    int64_t resend_counted; /* the newest of those counted in republished */

    atomic_int in_ack; /* on_ack calls running, for stop */
    int sent;          /* anything was handed to the library */
    atomic_uint_fast64_t published, duplicates, failures;
    atomic_uint_fast64_t reconciliations, republished;
    atomic_uint_fast64_t lag_buckets[SP_RELAY_LAG_BUCKETS + 1];
    atomic_uint_fast64_t lag_sum_ms;
};

void sp_relay_wake(void *arg)
{
    sp_wake_ring(&((sp_relay *)arg)->bell);
}

static void wait_for(sp_relay *r, int64_t ms)
{
    sp_wake_wait(&r->bell, ms, &r->stopping);
}

/* Called by the NATS library for each published message, with the
 * acknowledgement or the error. Owns msg. */
static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void)js;
    sp_relay *r = closure;
    atomic_fetch_add(&r->in_ack, 1);
    const char *id = NULL;
    natsMsgHeader_Get(msg, "Nats-Msg-Id", &id);
    int state = pa ? 1 : -1;
    if (pa && pa->Duplicate)
        atomic_fetch_add(&r->duplicates, 1);
    if (pae)
        sp_warn("relay", "publish of event %s failed: %s (JetStream error %d)", id ? id : "?",
                natsStatus_GetText(pae->Err), (int)pae->ErrCode);
    int ring = 0;
    pthread_mutex_lock(&r->window_lock);
    /* Acknowledgements come in publish order: look where the next one is
     * expected first, search the window only when that misses. */
    uint64_t n = r->tail - r->head;
    uint64_t from = r->ack_hint >= r->head && r->ack_hint < r->tail ? r->ack_hint : r->head;
    for (uint64_t k = 0; id && k < n; k++) {
        uint64_t i = r->head + (from - r->head + k) % n;
        pending *p = &r->ring[i % SP_RELAY_WINDOW];
        if (p->state == 0 && strcmp(p->id, id) == 0) {
            p->state = state;
            r->ack_hint = i + 1;
            /* The relay waits for the oldest only (and for failures). */
            ring = i == r->head || state < 0;
            break;
        }
    }
    pthread_mutex_unlock(&r->window_lock);
    natsMsg_Destroy(msg);
    if (ring)
        sp_wake_ring(&r->bell);
    atomic_fetch_sub(&r->in_ack, 1);
}

/* Takes the publishes still awaiting an acknowledgement away from the
 * library, so that none of them calls on_ack later. */
static void drop_pending(sp_relay *r)
{
    natsMsgList left = {0};
    /* The library's list exists only after a first publish (3.4.1 reads
     * it without looking). */
    if (r->sent && js_PublishAsyncGetPendingList(&left, r->js) == NATS_OK)
        natsMsgList_Destroy(&left);
}

/* Publishes one row asynchronously into the window. */
static int publish_one(const sp_event *e, void *arg)
{
    sp_relay *r = arg;
    if (e->seq <= r->held.top && sp_held_has(&r->held, e->seq)) {
        /* The stream has it: acknowledged without sending it twice. */
        pthread_mutex_lock(&r->window_lock);
        pending *p = &r->ring[r->tail % SP_RELAY_WINDOW];
        *p = (pending){.seq = e->seq, .state = 1}; /* no time: not in the lag figures */
        r->tail++;
        r->last_read = e->seq;
        pthread_mutex_unlock(&r->window_lock);
        return 0;
    }
    if (e->seq <= r->resend_through && e->seq > r->resend_counted) {
        /* Counted once, however often a failed publish sends it again. */
        r->resend_counted = e->seq;
        atomic_fetch_add(&r->republished, 1);
    }
    char *text = sp_envelope_text(e, r->source);
    if (!text) {
        sp_error("relay", "event %lld has unreadable data; it will be retried", (long long)e->seq);
        return SP_ERR_INVALID;
    }
    pthread_mutex_lock(&r->window_lock);
    pending *p = &r->ring[r->tail % SP_RELAY_WINDOW];
    p->seq = e->seq;
    p->time_ms = e->time_ms;
    p->state = 0;
    snprintf(p->id, sizeof p->id, "%s", e->id);
    r->tail++;
    r->last_read = e->seq;
    pthread_mutex_unlock(&r->window_lock);

    natsMsg *msg = NULL;
    natsStatus s = natsMsg_Create(&msg, e->type, NULL, text, (int)strlen(text));
    free(text);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, "Nats-Msg-Id", e->id);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, "Content-Type", SP_CLOUDEVENTS_JSON);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = SP_RELAY_ACK_WAIT_MS;
    if (s == NATS_OK)
        s = js_PublishMsgAsync(r->js, &msg, &po);
    if (s == NATS_OK)
        r->sent = 1;
    natsMsg_Destroy(msg); /* no-op when the library took it */
    if (s != NATS_OK) {
        pthread_mutex_lock(&r->window_lock);
        p->state = -1;
        r->failed = 1;
        pthread_mutex_unlock(&r->window_lock);
        return SP_ERR_UNAVAILABLE;
    }
    return 0;
}

static void record_lag(sp_relay *r, int64_t lag_ms)
{
    if (lag_ms < 0)
        lag_ms = 0;
    size_t b = 0;
    while (b < SP_RELAY_LAG_BUCKETS && lag_ms > lag_bucket_ms[b])
        b++;
    atomic_fetch_add_explicit(&r->lag_buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->lag_sum_ms, (uint_fast64_t)lag_ms, memory_order_relaxed);
}

/* Takes the acknowledged prefix off the window and records it published.
 * Returns how many, or a negative sp_err when a publish failed (the
 * window is then emptied and read again from the cursor). */
static void restart_window(sp_relay *r);

static int settle(sp_relay *r)
{
    int64_t now = sp_time_now_ms(), through = 0;
    int n = 0, failed;
    pthread_mutex_lock(&r->window_lock);
    for (; r->head < r->tail && r->ring[r->head % SP_RELAY_WINDOW].state == 1; r->head++, n++) {
        const pending *p = &r->ring[r->head % SP_RELAY_WINDOW];
        through = p->seq;
        if (p->time_ms)
            record_lag(r, now - p->time_ms);
    }
    failed = r->failed || (r->head < r->tail && r->ring[r->head % SP_RELAY_WINDOW].state < 0);
    pthread_mutex_unlock(&r->window_lock);
    if (n) {
        int rc = sp_store_events_mark_published(r->store, through);
        if (rc < 0)
            failed = 1; /* sent again later; the stream drops duplicates */
        else
            atomic_fetch_add(&r->published, (uint_fast64_t)n);
    }
    if (!failed)
        return n;
    restart_window(r);
    atomic_fetch_add(&r->failures, 1);
    return SP_ERR_UNAVAILABLE;
}

/* Lets what is on the wire finish (acknowledged or timed out) and empties
 * the window, so that the next read starts over from the cursor. */
static void restart_window(sp_relay *r)
{
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = SP_RELAY_ACK_WAIT_MS + 1000;
    if (js_PublishAsyncComplete(r->js, &po) != NATS_OK)
        drop_pending(r); /* a late answer must not match the copies sent next */
    pthread_mutex_lock(&r->window_lock);
    r->head = r->tail = r->ack_hint = 0;
    r->last_read = 0;
    r->failed = 0;
    pthread_mutex_unlock(&r->window_lock);
}

/* Reads what the stream holds after a (re)connect and sets the cursor
 * where the stream is known to be whole. Returns 0 or a negative sp_err
 * (tried again after a back-off; nothing is published before). */
static int reconcile(sp_relay *r, uint64_t term)
{
    uint64_t generation = sp_bus_generation(r->bus); /* a reconnect from here on reads again */
    restart_window(r);
    int64_t cursor = 0;
    int rc = sp_store_events_published(r->store, &cursor);
    if (rc < 0)
        return rc;
    sp_held held;
    int64_t started = sp_time_mono_ms();
    if ((rc = sp_held_read(r->js, SP_BUS_STREAM, r->source, cursor, SP_RELAY_WINDOW, &held)) < 0)
        return rc;
    if (held.floor != cursor && (rc = sp_store_events_set_published(r->store, held.floor)) < 0) {
        sp_held_free(&held);
        return rc;
    }
    sp_held_free(&r->held);
    r->held = held;
    r->resend_through = cursor;
    r->resend_counted = held.floor;
    r->reconciled = generation;
    r->term = term;
    atomic_fetch_add(&r->reconciliations, 1);
    if (held.top < cursor)
        sp_warn("relay",
                "stream %s lacks events acknowledged before: it holds the log through %lld, the "
                "relay had published through %lld; publishing the missing ones again",
                SP_BUS_STREAM, (long long)held.top, (long long)cursor);
    sp_info("relay", "stream %s checked: %zu messages read in %lld ms, log whole through %lld",
            SP_BUS_STREAM, held.scanned, (long long)(sp_time_mono_ms() - started),
            (long long)held.floor);
    return 0;
}

static void *relay_main(void *arg)
{
    sp_relay *r = arg;
    int64_t backoff = SP_RELAY_BACKOFF_MIN_MS;
    for (;;) {
        pthread_mutex_lock(&r->window_lock);
        uint64_t on_wire = r->tail - r->head;
        int64_t after = r->last_read;
        pthread_mutex_unlock(&r->window_lock);
        uint64_t term = sp_store_lease_term(r->store, SP_LEASE_RELAY);
        if (atomic_load(&r->stopping) &&
            (sp_time_mono_ms() >= r->drain_deadline_ms || !sp_bus_connected(r->bus) || !term))
            break;
        if (!term) {
            /* Another replica publishes. What this one has on the wire
             * finishes (the stream drops what the other sends again). */
            if (on_wire)
                restart_window(r);
            r->term = 0;
            wait_for(r, SP_RELAY_IDLE_MS); /* rung when the lease is taken */
            continue;
        }
        if (sp_bus_connected(r->bus) &&
            (sp_bus_generation(r->bus) != r->reconciled || term != r->term)) {
            if (reconcile(r, term) < 0) {
                if (atomic_load(&r->stopping))
                    break;
                wait_for(r, backoff);
                backoff = backoff * 2 > SP_RELAY_RECONCILE_BACKOFF_MAX_MS
                              ? SP_RELAY_RECONCILE_BACKOFF_MAX_MS
                              : backoff * 2;
            }
            continue;
        }
        int read = 0;
        if (sp_bus_connected(r->bus) && SP_RELAY_WINDOW - on_wire >= SP_RELAY_READ) {
            uint64_t before = on_wire;
            int rc = sp_store_events_unpublished(r->store, after, SP_RELAY_READ, publish_one, r);
            pthread_mutex_lock(&r->window_lock);
            read = (int)(r->tail - r->head - before);
            on_wire = r->tail - r->head;
            if (rc < 0 && rc != SP_ERR_UNAVAILABLE)
                r->failed = 1; /* unreadable row or database: back off */
            pthread_mutex_unlock(&r->window_lock);
        }
        int n = settle(r);
        if (n < 0) {
            if (atomic_load(&r->stopping))
                break;
            wait_for(r, backoff);
            backoff = backoff * 2 > SP_RELAY_BACKOFF_MAX_MS ? SP_RELAY_BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        if (n > 0)
            backoff = SP_RELAY_BACKOFF_MIN_MS;
        if (read == 0 && n == 0) {
            if (on_wire == 0 && atomic_load(&r->stopping))
                break; /* drained */
            if (on_wire) {
                /* Waiting for the oldest acknowledgement: on_ack rings.
                 * Not cut short by stopping, which only sets how long. */
                int64_t ms = SP_RELAY_ACK_WAIT_MS;
                if (atomic_load(&r->stopping))
                    ms = r->drain_deadline_ms - sp_time_mono_ms();
                sp_wake_wait(&r->bell, ms > 0 ? ms : 1, NULL);
            } else {
                wait_for(r, sp_bus_connected(r->bus) ? SP_RELAY_IDLE_MS : 200);
            }
        }
    }
    return NULL;
}

int sp_relay_start(sp_store *st, sp_bus *bus, const char *source, sp_relay **out)
{
    sp_relay *r = calloc(1, sizeof *r);
    if (!r)
        return SP_ERR_NOMEM;
    r->store = st;
    r->bus = bus;
    r->source = strdup(source);
    sp_wake_init(&r->bell);
    pthread_mutex_init(&r->window_lock, NULL);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = SP_BUS_API_TIMEOUT_MS;
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = r;
    jo.PublishAsync.MaxPending = SP_RELAY_WINDOW;
    if (!r->source || natsConnection_JetStream(&r->js, sp_bus_connection(bus), &jo) != NATS_OK ||
        pthread_create(&r->thread, NULL, relay_main, r) != 0) {
        jsCtx_Destroy(r->js);
        free(r->source);
        free(r);
        return SP_ERR_NOMEM;
    }
    *out = r;
    return 0;
}

void sp_relay_stop(sp_relay *r, int64_t timeout_ms)
{
    if (!r)
        return;
    r->drain_deadline_ms = sp_time_mono_ms() + timeout_ms;
    atomic_store(&r->stopping, 1);
    sp_relay_wake(r);
    pthread_join(r->thread, NULL);
    drop_pending(r);
    while (atomic_load(&r->in_ack) > 0)
        sp_wake_wait(&r->bell, 1, NULL);
    int64_t left = 0, oldest = 0;
    if (sp_store_lease_held(r->store, SP_LEASE_RELAY) &&
        sp_store_events_backlog(r->store, &left, &oldest) == 0 && left > 0)
        sp_warn("relay", "%lld events not yet on the bus; they are sent at the next start",
                (long long)left);
    sp_held_free(&r->held);
    jsCtx_Destroy(r->js);
    pthread_mutex_destroy(&r->window_lock);
    sp_wake_destroy(&r->bell);
    free(r->source);
    free(r);
}

int sp_relay_metrics(sp_relay *r, sp_buf *out)
{
    int64_t backlog = 0, oldest = 0;
    sp_store_events_backlog(r->store, &backlog, &oldest);
    int rc = sp_buf_printf(
        out,
        "# HELP spaceport_events_published_total Events acknowledged by the bus.\n"
        "# TYPE spaceport_events_published_total counter\n"
        "spaceport_events_published_total %llu\n"
        "# HELP spaceport_events_duplicates_total Publishes the stream recognised as duplicates.\n"
        "# TYPE spaceport_events_duplicates_total counter\n"
        "spaceport_events_duplicates_total %llu\n"
        "# HELP spaceport_relay_failures_total Relay rounds that did not complete.\n"
        "# TYPE spaceport_relay_failures_total counter\n"
        "spaceport_relay_failures_total %llu\n"
        "# HELP spaceport_relay_reconciliations_total Times the relay checked what the stream "
        "holds (each bus connection).\n"
        "# TYPE spaceport_relay_reconciliations_total counter\n"
        "spaceport_relay_reconciliations_total %llu\n"
        "# HELP spaceport_events_republished_total Events published again because the stream "
        "had lost them after acknowledging.\n"
        "# TYPE spaceport_events_republished_total counter\n"
        "spaceport_events_republished_total %llu\n"
        "# HELP spaceport_events_backlog Events in the log not yet on the bus.\n"
        "# TYPE spaceport_events_backlog gauge\n"
        "spaceport_events_backlog %lld\n"
        "# HELP spaceport_events_backlog_age_seconds Age of the oldest unpublished event.\n"
        "# TYPE spaceport_events_backlog_age_seconds gauge\n"
        "spaceport_events_backlog_age_seconds %.3f\n"
        "# HELP spaceport_relay_lag_seconds Time from commit to bus acknowledgement.\n"
        "# TYPE spaceport_relay_lag_seconds histogram\n",
        (unsigned long long)atomic_load(&r->published),
        (unsigned long long)atomic_load(&r->duplicates),
        (unsigned long long)atomic_load(&r->failures),
        (unsigned long long)atomic_load(&r->reconciliations),
        (unsigned long long)atomic_load(&r->republished), (long long)backlog,
        oldest ? (double)(sp_time_now_ms() - oldest) / 1000.0 : 0.0);
    uint_fast64_t cumulative = 0;
    for (size_t b = 0; b <= SP_RELAY_LAG_BUCKETS; b++) {
        cumulative += atomic_load(&r->lag_buckets[b]);
        if (b < SP_RELAY_LAG_BUCKETS)
            rc |= sp_buf_printf(out, "spaceport_relay_lag_seconds_bucket{le=\"%g\"} %llu\n",
                                (double)lag_bucket_ms[b] / 1000.0, (unsigned long long)cumulative);
        else
            rc |= sp_buf_printf(out, "spaceport_relay_lag_seconds_bucket{le=\"+Inf\"} %llu\n",
                                (unsigned long long)cumulative);
    }
    rc |=
        sp_buf_printf(out,
                      "spaceport_relay_lag_seconds_sum %.3f\nspaceport_relay_lag_seconds_count "
                      "%llu\n",
                      (double)atomic_load(&r->lag_sum_ms) / 1000.0, (unsigned long long)cumulative);
    return rc ? SP_ERR_NOMEM : 0;
}
