/*
 * relay.c - event log to JetStream, at-least-once.
 *
 * The loop: take up to SP_RELAY_BATCH unpublished rows, publish them
 * asynchronously (pipelined), wait for every acknowledgement, mark the
 * acknowledged prefix published in one transaction. Marking only the
 * prefix up to the first failure keeps the order of first delivery; what
 * follows a failure is sent again and de-duplicated by the stream.
 */
#include "events/relay.h"

#include "events/envelope.h"
#include "store/events.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"
#include "util/wake.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Rows per round: large enough to pipeline, small enough that one
 * transaction marks them quickly. */
#define SP_RELAY_BATCH 512
/* How long one publish may wait for its acknowledgement. */
#define SP_RELAY_ACK_WAIT_MS 5000
/* Back-off after a failed round, doubling up to the maximum. */
#define SP_RELAY_BACKOFF_MIN_MS 100
#define SP_RELAY_BACKOFF_MAX_MS 5000
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
    sp_wake bell; /* rung on commit and on stop */
    atomic_int stopping;
    int64_t drain_deadline_ms; /* set by stop: keep going until then */

    /* The round in flight, filled by the thread and the ack handler. */
    pthread_mutex_t round_lock;
    pending batch[SP_RELAY_BATCH];
    size_t batch_count;
    size_t ack_hint; /* where the next acknowledgement is expected */

    atomic_uint_fast64_t published, duplicates, failures;
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
    const char *id = NULL;
    natsMsgHeader_Get(msg, "Nats-Msg-Id", &id);
    int state = pa ? 1 : -1;
    if (pa && pa->Duplicate)
        atomic_fetch_add(&r->duplicates, 1);
    if (pae)
        sp_warn("relay", "publish of event %s failed: %s (JetStream error %d)", id ? id : "?",
                natsStatus_GetText(pae->Err), (int)pae->ErrCode);
    pthread_mutex_lock(&r->round_lock);
    /* Acknowledgements come in publish order: look where the next one is
     * expected first, search only when that misses. */
    size_t n = r->batch_count, hint = r->ack_hint < n ? r->ack_hint : 0;
    for (size_t k = 0; id && k < n; k++) {
        size_t i = (hint + k) % n;
        if (strcmp(r->batch[i].id, id) == 0) {
            r->batch[i].state = state;
            r->ack_hint = i + 1;
            break;
        }
    }
    pthread_mutex_unlock(&r->round_lock);
    natsMsg_Destroy(msg);
}

typedef struct round {
    sp_relay *r;
    int failed;
} round;

/* Publishes one row asynchronously. */
static int publish_one(const sp_event *e, void *arg)
{
    round *rd = arg;
    sp_relay *r = rd->r;
    if (rd->failed)
        return 0;
    char *text = sp_envelope_text(e, r->source);
    if (!text) {
        sp_error("relay", "event %lld has unreadable data; it will be retried",
                 (long long)e->seq);
        rd->failed = 1;
        return 0;
    }
    pthread_mutex_lock(&r->round_lock);
    pending *p = &r->batch[r->batch_count++];
    p->seq = e->seq;
    p->time_ms = e->time_ms;
    p->state = 0;
    snprintf(p->id, sizeof p->id, "%s", e->id);
    pthread_mutex_unlock(&r->round_lock);

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
    natsMsg_Destroy(msg); /* no-op when the library took it */
    if (s != NATS_OK) {
        pthread_mutex_lock(&r->round_lock);
        p->state = -1;
        pthread_mutex_unlock(&r->round_lock);
        rd->failed = 1;
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

/* One round. Returns the number of rows published, 0 when idle, or a
 * negative value after a failure. */
static int run_round(sp_relay *r)
{
    pthread_mutex_lock(&r->round_lock);
    r->batch_count = 0;
    r->ack_hint = 0;
    pthread_mutex_unlock(&r->round_lock);
    round rd = {r, 0};
    int rc = sp_store_events_unpublished(r->store, 0, SP_RELAY_BATCH, publish_one, &rd);
    if (rc < 0)
        return rc;
    if (r->batch_count == 0)
        return 0;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = SP_RELAY_ACK_WAIT_MS + 1000;
    natsStatus s = js_PublishAsyncComplete(r->js, &po);
    if (s != NATS_OK)
        rd.failed = 1;

    /* The acknowledged prefix is marked; everything after the first gap is
     * sent again next round. */
    int64_t seqs[SP_RELAY_BATCH];
    size_t n = 0;
    int64_t now = sp_time_now_ms();
    pthread_mutex_lock(&r->round_lock);
    for (; n < r->batch_count && r->batch[n].state == 1; n++) {
        seqs[n] = r->batch[n].seq;
        record_lag(r, now - r->batch[n].time_ms);
    }
    if (n < r->batch_count)
        rd.failed = 1;
    r->batch_count = 0;
    pthread_mutex_unlock(&r->round_lock);
    if (n) {
        rc = sp_store_events_mark_published(r->store, seqs, n);
        if (rc < 0)
            return rc; /* republished later; the stream drops duplicates */
        atomic_fetch_add(&r->published, n);
    }
    if (rd.failed) {
        atomic_fetch_add(&r->failures, 1);
        return -1;
    }
    return (int)n;
}

static void *relay_main(void *arg)
{
    sp_relay *r = arg;
    int64_t backoff = SP_RELAY_BACKOFF_MIN_MS;
    for (;;) {
        if (atomic_load(&r->stopping) && sp_time_mono_ms() >= r->drain_deadline_ms)
            break;
        if (!sp_bus_connected(r->bus)) {
            if (atomic_load(&r->stopping))
                break;
            wait_for(r, 200);
            continue;
        }
        int n = run_round(r);
        if (n < 0) {
            if (atomic_load(&r->stopping))
                break;
            wait_for(r, backoff);
            backoff = backoff * 2 > SP_RELAY_BACKOFF_MAX_MS ? SP_RELAY_BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        backoff = SP_RELAY_BACKOFF_MIN_MS;
        if (n == 0) {
            if (atomic_load(&r->stopping))
                break; /* drained */
            wait_for(r, SP_RELAY_IDLE_MS);
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
    pthread_mutex_init(&r->round_lock, NULL);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = r;
    jo.PublishAsync.MaxPending = SP_RELAY_BATCH;
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
    int64_t left = 0, oldest = 0;
    if (sp_store_events_backlog(r->store, &left, &oldest) == 0 && left > 0)
        sp_warn("relay", "%lld events not yet on the bus; they are sent at the next start",
                (long long)left);
    jsCtx_Destroy(r->js);
    pthread_mutex_destroy(&r->round_lock);
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
        (unsigned long long)atomic_load(&r->failures), (long long)backlog,
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
    rc |= sp_buf_printf(out,
                        "spaceport_relay_lag_seconds_sum %.3f\nspaceport_relay_lag_seconds_count "
                        "%llu\n",
                        (double)atomic_load(&r->lag_sum_ms) / 1000.0,
                        (unsigned long long)cumulative);
    return rc ? SP_ERR_NOMEM : 0;
}
