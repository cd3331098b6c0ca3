/*
 * keeper.c - the thread that renews and deletes this instance's
 * subscriptions at hosting instances (see keeper.h).
 *
 * The loop: read what is due (store/remote_subs.c), send each request,
 * record its outcome before the next, sleep until something is due or a
 * commit wakes us. A renewal is a signed PATCH of expirationDateTime; a
 * deletion a signed DELETE. The hosting instance authorizes both by our
 * signature: it recorded this instance as the subscription's delegate
 * when the owner's registration created it.
 *
 * Of several replicas, the one holding the federation lease does this
 * too (store/lease.h): it speaks to other instances as the federation
 * sender does. What is due is read from the database each round.
 */
#include "events/keeper.h"

#include "store/lease.h"
#include "store/remotes.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/fetch.h"
#include "util/log.h"
#include "util/time.h"
#include "util/wake.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Subscriptions handled per round. */
#define SP_KEEPER_BATCH 16
/* Whole time one request may take: a healthy instance answers in
 * milliseconds, and the others wait behind a slow one. */
#define SP_KEEPER_TIMEOUT_MS 5000L
/* Largest answer read (a subscription is a few hundred bytes). */
#define SP_KEEPER_ANSWER_MAX (64 * 1024)
/* Retry back-off, as the OCM queue's: doubling from half a second to ten
 * minutes, so an instance back after a short outage is served at once and
 * a renewal still has most of a day of tries before the expiry. */
#define SP_KEEPER_RETRY_MIN_MS 500
#define SP_KEEPER_RETRY_MAX_MS (10 * 60 * 1000)
/* Idle wait: commits wake the thread; renewals are due by the clock. */
#define SP_KEEPER_IDLE_MS 1000
/* Longest failure reason kept for the operator. */
#define SP_KEEPER_ERR_MAX 300

struct sp_keeper {
    sp_store *store;
    const sp_strlist *trusted;
    const struct sp_httpsig_key *signer;
    int64_t lifetime_ms;
    sp_remote_sub batch[SP_KEEPER_BATCH];
    pthread_t thread;
    sp_wake bell;
    atomic_int stopping;
    atomic_uint_fast64_t renewed, deleted, gone, failed;
};

void sp_keeper_wake(void *arg)
{
    sp_wake_ring(&((sp_keeper *)arg)->bell);
}

static int64_t backoff_ms(int attempts)
{
    int64_t ms = SP_KEEPER_RETRY_MIN_MS;
    for (int i = 0; i < attempts && ms < SP_KEEPER_RETRY_MAX_MS; i++)
        ms *= 2;
    return ms < SP_KEEPER_RETRY_MAX_MS ? ms : SP_KEEPER_RETRY_MAX_MS;
}

/* Non-zero when instance is (still) a trusted instance. */
static int trusted(const sp_keeper *k, const char *instance)
{
    for (size_t i = 0; i < k->trusted->count; i++) {
        if (strcmp(k->trusted->items[i], instance) == 0)
            return 1;
    }
    return 0;
}

/* Sends the renewal or deletion of s; records and counts the outcome. */
static void handle(sp_keeper *k, const sp_remote_sub *s)
{
    int64_t now = sp_time_now_ms(), expires = now + k->lifetime_ms;
    char err[SP_KEEPER_ERR_MAX] = "";
    sp_remote_sub_outcome o = SP_REMOTE_SUB_FAILED;
    if (!trusted(k, s->instance)) {
        /* No longer trusted: we neither sign requests to it nor listen. */
        snprintf(err, sizeof err, "%.200s is no longer a trusted instance", s->instance);
        o = s->unsubscribe ? SP_REMOTE_SUB_DONE : SP_REMOTE_SUB_GONE;
        goto record;
    }
    sp_buf url = {0}, answer = {0};
    char *body = NULL;
    char when[SP_TIME_RFC3339_LEN];
    sp_time_format_rfc3339(expires, when);
    int rc = sp_buf_printf(&url, "%s/graph/v1.0/subscriptions/%s", s->instance, s->sub_id);
    if (rc == 0 && !s->unsubscribe) {
        json_t *doc = json_pack("{s:s}", "expirationDateTime", when);
        body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        rc = body ? 0 : SP_ERR_NOMEM;
    }
    long status = 0;
    const char *why = NULL;
    if (rc == 0) {
        sp_fetch_req r = {.method = s->unsubscribe ? "DELETE" : "PATCH",
                          .content_type = body ? "application/json" : NULL,
                          .body = body,
                          .body_len = body ? strlen(body) : 0,
                          .cancel = &k->stopping,
                          .timeout_ms = SP_KEEPER_TIMEOUT_MS,
                          .max_body = SP_KEEPER_ANSWER_MAX,
                          .redirects_max = 0,
                          .signer = k->signer};
        rc = sp_fetch(url.data, &r, &status, &answer, &why);
    }
    free(body);
    sp_buf_free(&url);
    sp_buf_free(&answer);
    if (atomic_load(&k->stopping))
        return; /* tried again after the next start */
    if (rc < 0)
        snprintf(err, sizeof err, "%s", why ? why : sp_err_str(rc));
    else if (status >= 200 && status < 300)
        o = SP_REMOTE_SUB_DONE;
    else if (status == 404)
        /* It has none (ended there, or deleted before): a deletion is
         * done, a renewal has nothing left to renew. */
        o = s->unsubscribe ? SP_REMOTE_SUB_DONE : SP_REMOTE_SUB_GONE;
    else
        snprintf(err, sizeof err, "answered %ld", status);
record:
    if (o == SP_REMOTE_SUB_FAILED) {
        atomic_fetch_add(&k->failed, 1);
        sp_warn("keeper", "%s of subscription %s at %s failed (try %d): %s",
                s->unsubscribe ? "deletion" : "renewal", s->sub_id, s->instance, s->attempts + 1,
                err);
    } else if (o == SP_REMOTE_SUB_GONE) {
        atomic_fetch_add(&k->gone, 1);
        sp_warn("keeper",
                "subscription %s at %s is gone; its remote space gets no more "
                "notifications",
                s->sub_id, s->instance);
        if (!err[0])
            snprintf(err, sizeof err, "the hosting instance no longer has it");
    } else {
        atomic_fetch_add(s->unsubscribe ? &k->deleted : &k->renewed, 1);
        sp_debug("keeper", "subscription %s at %s %s", s->sub_id, s->instance,
                 s->unsubscribe ? "deleted" : "renewed");
    }
    rc = sp_store_remote_sub_outcome(k->store, s, o, expires, now + backoff_ms(s->attempts),
                                     err[0] ? err : NULL);
    if (rc < 0)
        sp_warn("keeper", "recording the outcome for subscription %s failed: %s", s->sub_id,
                sp_err_str(rc));
}

static void *run(void *arg)
{
    sp_keeper *k = arg;
    while (!atomic_load(&k->stopping)) {
        if (!sp_store_lease_held(k->store, SP_LEASE_FEDERATION)) {
            sp_wake_wait(&k->bell, SP_KEEPER_IDLE_MS, &k->stopping); /* rung when taken */
            continue;
        }
        int n = 0;
        int rc = sp_store_remote_subs_due(k->store, sp_time_now_ms(), k->lifetime_ms / 3, k->batch,
                                          SP_KEEPER_BATCH, &n);
        if (rc < 0)
            sp_warn("keeper", "reading due subscriptions failed: %s", sp_err_str(rc));
        for (int i = 0; i < n && !atomic_load(&k->stopping); i++)
            handle(k, &k->batch[i]);
        if (rc == 0 && n == SP_KEEPER_BATCH)
            continue;
        sp_wake_wait(&k->bell, SP_KEEPER_IDLE_MS, &k->stopping);
    }
    return NULL;
}

int sp_keeper_start(sp_store *st, const sp_strlist *trusted, const struct sp_httpsig_key *signer,
                    int64_t lifetime_ms, sp_keeper **out)
{
    *out = NULL;
    if (!trusted || trusted->count == 0)
        return 0;
    sp_keeper *k = calloc(1, sizeof *k);
    if (!k)
        return SP_ERR_NOMEM;
    *k = (sp_keeper){.store = st, .trusted = trusted, .signer = signer, .lifetime_ms = lifetime_ms};
    sp_wake_init(&k->bell);
    if (pthread_create(&k->thread, NULL, run, k) != 0) {
        sp_wake_destroy(&k->bell);
        free(k);
        return SP_ERR_NOMEM;
    }
    *out = k;
    return 0;
}

void sp_keeper_stop(sp_keeper *k)
{
    if (!k)
        return;
    atomic_store(&k->stopping, 1);
    sp_keeper_wake(k);
    pthread_join(k->thread, NULL);
    sp_wake_destroy(&k->bell);
    free(k);
}

int sp_keeper_metrics(sp_keeper *k, sp_buf *out)
{
    if (!k)
        return 0;
    return sp_buf_printf(
        out,
        "# HELP spaceport_remote_subscription_requests_total Renewals and deletions of this "
        "instance's subscriptions at hosting instances, by outcome.\n"
        "# TYPE spaceport_remote_subscription_requests_total counter\n"
        "spaceport_remote_subscription_requests_total{outcome=\"renewed\"} %llu\n"
        "spaceport_remote_subscription_requests_total{outcome=\"deleted\"} %llu\n"
        "spaceport_remote_subscription_requests_total{outcome=\"gone\"} %llu\n"
        "spaceport_remote_subscription_requests_total{outcome=\"failed\"} %llu\n",
        (unsigned long long)atomic_load(&k->renewed), (unsigned long long)atomic_load(&k->deleted),
        (unsigned long long)atomic_load(&k->gone), (unsigned long long)atomic_load(&k->failed));
}
