/*
 * webhooks.c - the webhook sender's workers (see webhooks.h); what each
 * notification says is notices.c.
 *
 * Why a small pool rather than one thread: a receiver may take the whole
 * 10 s timeout to answer, and one thread would make every other
 * subscription wait behind it. With SP_HOOK_WORKERS workers, as many slow
 * receivers are needed to hold everyone up, and each failure pushes its
 * subscription back (back-off), so the others get the workers in between.
 * A subscription is claimed by one worker while it is served (in memory;
 * one process sends), which keeps its batches in order. After each batch
 * a subscription goes to the back of the queue (next_attempt_at = now),
 * so a long backlog takes turns with the rest.
 *
 * Every outcome is recorded before the subscription is served again, so a
 * crash at worst sends one batch twice; notifications carry the event id
 * and sequence number for receivers that want to drop repeats.
 *
 * Of several replicas, the one holding the webhooks lease sends
 * (store/lease.h). Its workers read every subscription's cursor and
 * back-off from the database each turn, so one that takes the lease goes
 * on where the replica before it left off.
 */
#include "events/webhooks.h"

#include "events/notices.h"

#include "store/lease.h"
#include "store/subscriptions.h"
#include "store/webhooks.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/fetch.h"
#include "util/instance.h"
#include "util/log.h"
#include "util/time.h"
#include "util/wake.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Workers: slow receivers it takes to make the others wait (see above). */
#define SP_HOOK_WORKERS 4
/* Due subscriptions a worker reads to find one nobody serves. */
#define SP_HOOK_DUE_MAX 16
/* A receiver answers within this (Graph gives 10 s too) or the batch is
 * tried again. */
#define SP_HOOK_TIMEOUT_MS 10000L
/* Largest answer read: receivers answer 202 with an empty body. */
#define SP_HOOK_ANSWER_MAX (64 * 1024)
/* Retry back-off: doubling from the minimum up to the maximum, so a
 * receiver back after a short outage is served within seconds and one
 * down for days is asked every ten minutes (as federation.c). */
#define SP_HOOK_RETRY_MIN_MS 500
#define SP_HOOK_RETRY_MAX_MS (10 * 60 * 1000)
/* Idle wait: commits wake a worker, this only bounds a missed wake. */
#define SP_HOOK_IDLE_MS 1000
/* Wait after a database error before trying again. */
#define SP_HOOK_ERROR_WAIT_MS 1000
/* How often idle subscriptions' cursors are moved to the newest event:
 * far inside the shortest retention (1 min), so that an owner told of
 * nothing for a while never looks as if events were missed. */
#define SP_HOOK_CATCH_UP_MS 10000
/* How often every drives/{id} subscription's access is checked, and how
 * many per read. Losing access usually writes an event the owner
 * receives, which checks at once; this catches the rest (a group
 * membership that the owner's next token no longer claims). */
#define SP_HOOK_ACCESS_MS   60000
#define SP_HOOK_ACCESS_PAGE 200
/* Longest failure reason kept for the operator. */
#define SP_HOOK_ERR_MAX 300
/* On stop, requests in flight get this long to be answered before they
 * are abandoned: one that is answered is recorded, so that a restart
 * does not send its batch again. */
#define SP_HOOK_STOP_GRACE_MS 2000
/* Turns in a row that found nothing to do before a worker sleeps: a due
 * row read before another worker served it is stale, and worth one more
 * look; more would spin. */
#define SP_HOOK_EMPTY_TURNS 2

/* One worker's own part. */
typedef struct worker {
    struct sp_webhooks *h;
    int index;
    sp_subscription *due; /* SP_HOOK_DUE_MAX rows, some 9 KB each */
} worker;

struct sp_webhooks {
    sp_store *store;
    const sp_strlist *trusted, *hosts;
    const struct sp_httpsig_key *signer;
    pthread_t threads[SP_HOOK_WORKERS];
    worker *workers; /* SP_HOOK_WORKERS */
    int started;
    sp_wake bell;        /* rung on commit, on stop, and for more work */
    atomic_int stopping; /* no new turns */
    atomic_int cancel;   /* requests in flight are abandoned */

    pthread_mutex_t lock;               /* guards what follows */
    int64_t claimed[SP_HOOK_WORKERS];   /* seq each worker serves, 0: none */
    int64_t next_catch_up, next_access; /* monotonic ms */
    int maintaining;

    atomic_uint_fast64_t delivered, failed, notifications, removed_sent, missed_sent, expired,
        access_lost;
    atomic_int_fast64_t queued;
};

void sp_webhooks_wake(void *arg)
{
    sp_wake_ring(&((sp_webhooks *)arg)->bell);
}

static void wait_for(sp_webhooks *h, int64_t ms)
{
    sp_wake_wait(&h->bell, ms, &h->stopping);
}

static int64_t backoff_ms(int attempts)
{
    int64_t ms = SP_HOOK_RETRY_MIN_MS;
    for (int i = 0; i < attempts && ms < SP_HOOK_RETRY_MAX_MS; i++)
        ms *= 2;
    return ms < SP_HOOK_RETRY_MAX_MS ? ms : SP_HOOK_RETRY_MAX_MS;
}

/* ---- sending ---- */

/*
 * POSTs body to url for sub (signed when a trusted instance made sub).
 * Returns 1 when the receiver accepted it (2xx within the timeout), 0 when
 * not (err says why), -1 when the request was abandoned on stop (not the
 * receiver's failure).
 */
static int post(sp_webhooks *h, const sp_subscription *sub, const char *url, const char *body,
                char *err, size_t errlen)
{
    /* Checked again at each delivery: the operator may have taken the
     * host off the lists since the subscription was made. */
    const char *why = NULL;
    const sp_strlist *ti = h->trusted, *wh = h->hosts;
    if (sp_instance_match_webhook((const char *const *)ti->items, ti->count,
                                  (const char *const *)wh->items, wh->count, url, NULL, &why) < 0) {
        snprintf(err, errlen, "notification URL not allowed: %s", why);
        return 0;
    }
    sp_fetch_req r = {.method = "POST",
                      .content_type = "application/json",
                      .body = body,
                      .body_len = strlen(body),
                      .cancel = &h->cancel,
                      .timeout_ms = SP_HOOK_TIMEOUT_MS,
                      .max_body = SP_HOOK_ANSWER_MAX,
                      .redirects_max = 0,
                      /* Instance to instance: the delegate that made the
                       * subscription verifies that we sent it. */
                      .signer = sub->delegate[0] ? h->signer : NULL};
    sp_buf answer = {0};
    long status = 0;
    int rc = sp_fetch(url, &r, &status, &answer, &why);
    sp_buf_free(&answer);
    if (rc == 0 && status >= 200 && status < 300)
        return 1;
    if (atomic_load(&h->cancel))
        return -1;
    if (rc < 0)
        snprintf(err, errlen, "%s", why ? why : sp_err_str(rc));
    else
        snprintf(err, errlen, "answered %ld", status);
    return 0;
}

/* Records a failed try of sub (its attempts so far in sub). */
static int failed(sp_webhooks *h, const sp_subscription *sub, const char *err)
{
    atomic_fetch_add(&h->failed, 1);
    sp_debug("webhooks", "delivery to subscription %s failed (try %d): %s", sub->id,
             sub->attempts + 1, err);
    return sp_store_webhook_failed(h->store, sub->seq, sp_time_now_ms() + backoff_ms(sub->attempts),
                                   err);
}

/*
 * POSTs doc (stolen) to url for sub and counts the outcome, recording a
 * failure. Returns 1 when the receiver accepted it, 0 when not (or when
 * the request was abandoned on stop), or a negative sp_err.
 */
static int deliver(sp_webhooks *h, const sp_subscription *sub, const char *url, json_t *doc)
{
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!body)
        return SP_ERR_NOMEM;
    char err[SP_HOOK_ERR_MAX] = "";
    int sent = post(h, sub, url, body, err, sizeof err);
    free(body);
    if (sent > 0) {
        atomic_fetch_add(&h->delivered, 1);
        return 1;
    }
    int rc = sent == 0 ? failed(h, sub, err) : 0;
    return rc < 0 ? rc : 0;
}

/* Sends sub's pending lifecycle notification to its lifecycle URL (the
 * notification URL when it has none). */
static int send_lifecycle(sp_webhooks *h, const sp_subscription *sub)
{
    char expires[SP_TIME_RFC3339_LEN];
    sp_time_format_rfc3339(sub->expires_at, expires);
    json_t *note = json_pack("{s:s, s:s, s:s, s:s, s:s}", "lifecycleEvent", sub->lifecycle_pending,
                             "subscriptionId", sub->id, "subscriptionExpirationDateTime", expires,
                             "resource", sub->resource, "tenantId", "");
    if (note && sub->client_state[0])
        json_object_set_new(note, "clientState", json_string(sub->client_state));
    const char *url = sub->lifecycle_url[0] ? sub->lifecycle_url : sub->notification_url;
    int rc = deliver(h, sub, url, note ? json_pack("{s:[o]}", "value", note) : NULL);
    if (rc <= 0)
        return rc;
    if (strcmp(sub->lifecycle_pending, SP_SUB_LIFECYCLE_MISSED) == 0)
        atomic_fetch_add(&h->missed_sent, 1);
    else
        atomic_fetch_add(&h->removed_sent, 1);
    sp_info("webhooks", "%s lifecycle notification of subscription %s sent",
            sub->lifecycle_pending, sub->id);
    return sp_store_webhook_lifecycle_done(h->store, sub->seq, sub->lifecycle_pending);
}

/* Reads sub's next batch after its cursor and sends it; a batch of only
 * skipped events moves the cursor without a request. Returns 0, 1 when
 * there was nothing to read, or a negative sp_err. */
static int send_batch(sp_webhooks *h, const sp_subscription *sub, const char *watched)
{
    sp_notices n;
    int rc = sp_notices_read(h->store, sub, watched, &n);
    if (rc != 0)
        return rc;
    int sent = 1; /* only skipped events: passed without a request */
    if (n.count > 0) {
        sent = deliver(h, sub, sub->notification_url, json_pack("{s:O}", "value", n.value));
        rc = sent < 0 ? sent : 0;
    }
    json_decref(n.value);
    if (rc != 0 || !sent)
        return rc; /* not delivered: the same batch is tried again later */
    if (n.count > 0) {
        atomic_fetch_add(&h->notifications, (uint_fast64_t)n.count);
        sp_debug("webhooks", "%d notifications through event %lld delivered to subscription %s",
                 n.count, (long long)n.through, sub->id);
    }
    return sp_store_webhook_advance(h->store, sub->seq, n.through, sp_time_now_ms());
}

/* Ends sub and counts it. */
static int end(sp_webhooks *h, const sp_subscription *sub, sp_webhook_end why)
{
    int rc = sp_store_webhook_end(h->store, sub->seq, why);
    if (rc <= 0)
        return rc; /* counted and told only when this call ended it */
    atomic_fetch_add(why == SP_WEBHOOK_EXPIRED ? &h->expired : &h->access_lost, 1);
    sp_info("webhooks", "subscription %s of %s ended: %s", sub->id, sub->resource,
            why == SP_WEBHOOK_EXPIRED ? "expired" : "its owner can no longer read it");
    return 0;
}

/*
 * One turn of sub: its lifecycle notification when one is pending (before
 * anything else, so that missed comes before what follows it), else its
 * end when it expired or its owner lost access, else a missed note when
 * events after its cursor are gone, else its next batch. A turn that
 * leaves more to do rings the bell, so that a worker comes back to it.
 * Returns 0, 1 when there was nothing to do, or a negative sp_err.
 */
static int serve(sp_webhooks *h, const sp_subscription *sub)
{
    int64_t now = sp_time_now_ms();
    if (sub->lifecycle_pending[0]) {
        /* Past its expiry there is nobody to tell any more (Graph
         * forgets an expired subscription). */
        if (sub->expires_at > now)
            return send_lifecycle(h, sub);
        return sub->ended_at
                   ? sp_store_webhook_lifecycle_done(h->store, sub->seq, sub->lifecycle_pending)
                   : end(h, sub, SP_WEBHOOK_EXPIRED);
    }
    if (sub->ended_at)
        return sp_store_webhook_lifecycle_done(h->store, sub->seq, "");
    if (sub->expires_at <= now)
        return end(h, sub, SP_WEBHOOK_EXPIRED);
    int may = 0;
    char watched[sizeof sub->drive_id];
    int rc = sp_store_webhook_may_read(h->store, sub, &may, watched, sizeof watched);
    if (rc == 0 && !may) {
        rc = end(h, sub, SP_WEBHOOK_ACCESS_LOST);
        sp_webhooks_wake(h); /* its subscriptionRemoved goes out next */
        return rc;
    }
    int64_t first = 0;
    if (rc == 0)
        rc = sp_store_webhooks_first_seq(h->store, &first);
    if (rc == 0 && first > sub->cursor + 1) {
        sp_info("webhooks", "subscription %s: events %lld to %lld left the log undelivered",
                sub->id, (long long)sub->cursor + 1, (long long)first - 1);
        rc = sp_store_webhook_missed(h->store, sub->seq, first - 1);
        sp_webhooks_wake(h);
        return rc;
    }
    return rc < 0 ? rc : send_batch(h, sub, watched);
}

/* ---- upkeep ---- */

typedef struct access_page {
    sp_webhooks *h;
    int64_t last;
    int seen;
    int64_t lost[SP_HOOK_ACCESS_PAGE];
    int lost_count;
} access_page;

static int check_access(const sp_subscription *s, void *ctx)
{
    access_page *p = ctx;
    p->last = s->seq;
    p->seen++;
    int may = 1;
    int rc = sp_store_webhook_may_read(p->h->store, s, &may, NULL, 0);
    if (rc == 0 && !may)
        p->lost[p->lost_count++] = s->seq;
    return rc;
}

/* Ends the drives/{id} subscriptions whose owner can no longer read the
 * drive. The lost ones are ended after each page is read, not while the
 * read is open. */
static void sweep_access(sp_webhooks *h)
{
    access_page p = {.h = h};
    do {
        p.seen = p.lost_count = 0;
        if (sp_store_webhooks_drive_subs(h->store, p.last, SP_HOOK_ACCESS_PAGE, check_access, &p) <
            0)
            return;
        for (int i = 0; i < p.lost_count; i++) {
            if (sp_store_webhook_end(h->store, p.lost[i], SP_WEBHOOK_ACCESS_LOST) > 0)
                atomic_fetch_add(&h->access_lost, 1);
        }
        if (p.lost_count)
            sp_webhooks_wake(h);
    } while (p.seen == SP_HOOK_ACCESS_PAGE && !atomic_load(&h->stopping));
}

/* The periodic work, done by whichever worker finds it due. */
static void maintain(sp_webhooks *h)
{
    int64_t now = sp_time_mono_ms();
    int catch_up = 0, access = 0;
    pthread_mutex_lock(&h->lock);
    if (!h->maintaining) {
        catch_up = now >= h->next_catch_up;
        access = now >= h->next_access;
        if (catch_up)
            h->next_catch_up = now + SP_HOOK_CATCH_UP_MS;
        if (access)
            h->next_access = now + SP_HOOK_ACCESS_MS;
        h->maintaining = catch_up || access;
    }
    pthread_mutex_unlock(&h->lock);
    if (!catch_up && !access)
        return;
    int moved = 0;
    if (catch_up && sp_store_webhooks_catch_up(h->store, &moved) == 0 && moved)
        sp_debug("webhooks", "%d idle subscriptions caught up with the log", moved);
    if (access)
        sweep_access(h);
    pthread_mutex_lock(&h->lock);
    h->maintaining = 0;
    pthread_mutex_unlock(&h->lock);
}

/* Claims the first of the n due rows that no worker serves; returns its
 * index or -1. *others: whether more are left for other workers. */
static int claim(worker *w, int n, int *others)
{
    sp_webhooks *h = w->h;
    int pick = -1;
    *others = 0;
    pthread_mutex_lock(&h->lock);
    for (int i = 0; i < n; i++) {
        int busy = 0;
        for (int j = 0; j < SP_HOOK_WORKERS && !busy; j++)
            busy = h->claimed[j] == w->due[i].seq;
        if (busy)
            continue;
        if (pick < 0)
            pick = i;
        else
            *others = 1;
    }
    if (pick >= 0)
        h->claimed[w->index] = w->due[pick].seq;
    pthread_mutex_unlock(&h->lock);
    return pick;
}

static void release(worker *w)
{
    pthread_mutex_lock(&w->h->lock);
    w->h->claimed[w->index] = 0;
    pthread_mutex_unlock(&w->h->lock);
}

static void *run(void *arg)
{
    worker *w = arg;
    sp_webhooks *h = w->h;
    int empty = 0;
    while (!atomic_load(&h->stopping)) {
        if (!sp_store_lease_held(h->store, SP_LEASE_WEBHOOKS)) {
            wait_for(h, SP_HOOK_IDLE_MS); /* rung when the lease is taken */
            continue;
        }
        maintain(h);
        int count = 0, others = 0;
        int rc = sp_store_webhooks_due(h->store, sp_time_now_ms(), w->due, SP_HOOK_DUE_MAX, &count);
        int pick = rc == 0 ? claim(w, count, &others) : -1;
        if (pick >= 0) {
            if (others)
                sp_webhooks_wake(h); /* another worker takes the next one */
            /* Read again now that it is ours: another worker may have
             * served it since the due rows were read. */
            sp_subscription *sub = &w->due[pick];
            rc = sp_store_webhook_get(h->store, sub->seq, sub);
            /* Served and pushed back (a failure's back-off) by the worker
             * that released it before this one claimed: not due now. */
            if (rc == 0 && sub->next_attempt_at > sp_time_now_ms())
                rc = 1;
            if (rc == 0)
                rc = serve(h, sub);
            release(w);
            if (rc == SP_ERR_NOT_FOUND)
                rc = 1; /* deleted meanwhile */
            empty = rc > 0 ? empty + 1 : 0;
            if (rc == 0 || (rc > 0 && empty < SP_HOOK_EMPTY_TURNS))
                continue;
            rc = rc > 0 ? 0 : rc; /* nothing to do: sleep as when idle */
        }
        if (rc < 0) {
            sp_warn("webhooks", "delivery bookkeeping failed: %s", sp_err_str(rc));
            wait_for(h, SP_HOOK_ERROR_WAIT_MS);
            continue;
        }
        /* Nothing this worker can take: sleep until the next retry is due
         * or a commit rings. */
        int64_t behind = 0, next = 0, now = sp_time_now_ms();
        int64_t wait = SP_HOOK_IDLE_MS;
        if (sp_store_webhooks_pending(h->store, now, &behind, &next) == 0) {
            atomic_store(&h->queued, behind);
            if (next > 0 && next - now < wait)
                wait = next - now;
        }
        if (wait > 0)
            wait_for(h, wait);
    }
    return NULL;
}

int sp_webhooks_start(sp_store *st, const sp_strlist *trusted, const sp_strlist *hosts,
                      const struct sp_httpsig_key *signer, sp_webhooks **out)
{
    *out = NULL;
    sp_webhooks *h = calloc(1, sizeof *h);
    worker *ws = calloc(SP_HOOK_WORKERS, sizeof *ws);
    if (!h || !ws)
        goto fail;
    h->store = st;
    h->trusted = trusted;
    h->hosts = hosts;
    h->signer = signer;
    sp_wake_init(&h->bell);
    pthread_mutex_init(&h->lock, NULL);
    int64_t now = sp_time_mono_ms();
    h->next_catch_up = now + SP_HOOK_CATCH_UP_MS;
    h->next_access = now + SP_HOOK_ACCESS_MS;
    for (int i = 0; i < SP_HOOK_WORKERS; i++) {
        ws[i].h = h;
        ws[i].index = i;
        ws[i].due = calloc(SP_HOOK_DUE_MAX, sizeof *ws[i].due);
        if (!ws[i].due)
            goto fail_threads;
    }
    for (; h->started < SP_HOOK_WORKERS; h->started++) {
        if (pthread_create(&h->threads[h->started], NULL, run, &ws[h->started]) != 0)
            goto fail_threads;
    }
    h->workers = ws;
    *out = h;
    return 0;

fail_threads:
    h->workers = ws;
    sp_webhooks_stop(h);
    return SP_ERR_NOMEM;
fail:
    free(ws);
    free(h);
    return SP_ERR_NOMEM;
}

void sp_webhooks_stop(sp_webhooks *h)
{
    if (!h)
        return;
    atomic_store(&h->stopping, 1);
    /* One ring wakes one sleeper: one for each. */
    for (int i = 0; i < h->started; i++)
        sp_webhooks_wake(h);
    for (int64_t end = sp_time_mono_ms() + SP_HOOK_STOP_GRACE_MS; sp_time_mono_ms() < end;) {
        int busy = 0;
        pthread_mutex_lock(&h->lock);
        for (int i = 0; i < SP_HOOK_WORKERS; i++)
            busy |= h->claimed[i] != 0;
        pthread_mutex_unlock(&h->lock);
        if (!busy)
            break;
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    atomic_store(&h->cancel, 1);
    for (int i = 0; i < h->started; i++)
        pthread_join(h->threads[i], NULL);
    for (int i = 0; i < SP_HOOK_WORKERS; i++)
        free(h->workers[i].due);
    free(h->workers);
    pthread_mutex_destroy(&h->lock);
    sp_wake_destroy(&h->bell);
    free(h);
}

int sp_webhooks_metrics(sp_webhooks *h, sp_buf *out)
{
    if (!h)
        return 0;
    /* Read now: the workers refresh it only when one of them goes idle,
     * which a backlog that keeps them all busy never lets happen. */
    int64_t behind = 0, next = 0;
    if (sp_store_webhooks_pending(h->store, sp_time_now_ms(), &behind, &next) == 0)
        atomic_store(&h->queued, behind);
    return sp_buf_printf(
        out,
        "# HELP spaceport_webhook_deliveries_total Requests to subscribers' notification URLs "
        "(batches and lifecycle notifications) by outcome.\n"
        "# TYPE spaceport_webhook_deliveries_total counter\n"
        "spaceport_webhook_deliveries_total{outcome=\"delivered\"} %llu\n"
        "spaceport_webhook_deliveries_total{outcome=\"failed\"} %llu\n"
        "# HELP spaceport_webhook_notifications_total Change notifications accepted by "
        "subscribers.\n"
        "# TYPE spaceport_webhook_notifications_total counter\n"
        "spaceport_webhook_notifications_total %llu\n"
        "# HELP spaceport_webhook_lifecycle_total Lifecycle notifications accepted, by event.\n"
        "# TYPE spaceport_webhook_lifecycle_total counter\n"
        "spaceport_webhook_lifecycle_total{event=\"subscriptionRemoved\"} %llu\n"
        "spaceport_webhook_lifecycle_total{event=\"missed\"} %llu\n"
        "# HELP spaceport_webhook_subscriptions_ended_total Subscriptions ended by the sender, "
        "by reason.\n"
        "# TYPE spaceport_webhook_subscriptions_ended_total counter\n"
        "spaceport_webhook_subscriptions_ended_total{reason=\"expired\"} %llu\n"
        "spaceport_webhook_subscriptions_ended_total{reason=\"accessLost\"} %llu\n"
        "# HELP spaceport_webhook_queue Subscriptions with notifications not yet delivered.\n"
        "# TYPE spaceport_webhook_queue gauge\n"
        "spaceport_webhook_queue %lld\n",
        (unsigned long long)atomic_load(&h->delivered), (unsigned long long)atomic_load(&h->failed),
        (unsigned long long)atomic_load(&h->notifications),
        (unsigned long long)atomic_load(&h->removed_sent),
        (unsigned long long)atomic_load(&h->missed_sent),
        (unsigned long long)atomic_load(&h->expired),
        (unsigned long long)atomic_load(&h->access_lost), (long long)atomic_load(&h->queued));
}
