/*
 * federation.c - the outbound OCM queue's thread (see federation.h).
 *
 * The loop: derive deliveries from new events (store/ocm.c), send the due
 * ones, sleep until the next is due or a commit wakes us. Every outcome is
 * recorded before the next delivery, so a crash at worst repeats one
 * request; receivers are idempotent (a share by providerId, a change by
 * eTag).
 */
#include "events/federation.h"

#include "store/ocm.h"
#include "store/roles.h"

#include "util/buf.h"
#include "util/discovery.h"
#include "util/err.h"
#include "util/fetch.h"
#include "util/instance.h"
#include "util/itemid.h"
#include "util/log.h"
#include "util/time.h"
#include "util/url.h"
#include "util/wake.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deliveries read per round. */
#define SP_FED_BATCH 16
/* Whole time one request to another instance may take: a healthy one
 * answers in milliseconds, and the queue waits behind a slow one. */
#define SP_FED_TIMEOUT_MS 5000L
/* Largest answer read from another instance (WebFinger, OCM replies are
 * small). */
#define SP_FED_ANSWER_MAX (64 * 1024)
/* Retry back-off: doubling from the minimum up to the maximum, so an
 * instance back after a short outage is served within seconds and one
 * down for days is asked every ten minutes. */
#define SP_FED_RETRY_MIN_MS 500
#define SP_FED_RETRY_MAX_MS (10 * 60 * 1000)
/* Tries before a delivery is given up: about a week at the maximum
 * back-off, the event log's default retention. */
#define SP_FED_ATTEMPTS_MAX 1000
/* Idle wait: commits wake the thread, this only bounds a missed wake. */
#define SP_FED_IDLE_MS 1000
/* Wait after a database error before trying again. */
#define SP_FED_ERROR_WAIT_MS 1000

struct sp_federation {
    sp_store *store;
    const sp_config *cfg;
    sp_discovery *discovery;                   /* the peers' endPoints and what they take */
    const sp_httpsig_key *key;                 /* signs every request */
    char authority[SP_INSTANCE_AUTHORITY_MAX]; /* ours, for OCM addresses */
    const char *local[SP_CONFIG_LIST_MAX];     /* e-mail domains served here */
    size_t local_count;
    sp_ocm_cursor cursor;
    sp_ocm_delivery batch[SP_FED_BATCH];

    pthread_t thread;
    sp_wake bell;        /* rung on commit and on stop */
    atomic_int stopping; /* also cancels a request in flight */

    atomic_uint_fast64_t delivered, retried, kept_local, refused;
    atomic_int_fast64_t queued;
};

typedef enum outcome { OUT_DELIVERED, OUT_LOCAL, OUT_REFUSED, OUT_RETRY } outcome;

void sp_federation_wake(void *arg)
{
    sp_wake_ring(&((sp_federation *)arg)->bell);
}

static void wait_for(sp_federation *f, int64_t ms)
{
    sp_wake_wait(&f->bell, ms, &f->stopping);
}

/* One request to another instance; *status and the answer on 0. */
static int call(sp_federation *f, const char *url, const char *body, long *status, const char **why)
{
    sp_buf answer = {0};
    sp_fetch_req r = {.method = body ? "POST" : "GET",
                      .content_type = body ? "application/json" : NULL,
                      .body = body,
                      .body_len = body ? strlen(body) : 0,
                      .cancel = &f->stopping,
                      .timeout_ms = SP_FED_TIMEOUT_MS,
                      .max_body = SP_FED_ANSWER_MAX,
                      .redirects_max = 0};
    int rc = sp_fetch(url, &r, status, &answer, why);
    sp_buf_free(&answer);
    return rc;
}

/* The OCM share body of d (new string, or NULL). */
static char *share_body(sp_federation *f, const sp_ocm_delivery *d)
{
    char *text = NULL;
    sp_buf address = {0}, uri = {0};
    /* Viewer and SpaceViewer only read; an unknown role grants nothing more. */
    int read_only = !sp_role_can(d->role, SP_CAN_WRITE);
    if (sp_buf_printf(&address, "%s@%s", d->sharer, f->authority) < 0 ||
        sp_buf_printf(&uri, "%s/dav/spaces/", f->cfg->dav_url) < 0 ||
        sp_url_encode(&uri, d->item_id, SP_URL_SEGMENT_KEEP) < 0)
        goto done;
    json_t *perms = read_only ? json_pack("[s]", "read") : json_pack("[s, s]", "read", "write");
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s,"
        " s:{s:s, s:{s:s}, s:{s:s, s:o*, s:s}}}",
        "shareWith", d->grantee, "name", d->name, "description", "", "providerId", d->share_id,
        "owner", address.data, "ownerDisplayName", d->sharer_name, "sender", address.data,
        "senderDisplayName", d->sharer_name, "shareType", "user", "resourceType", "folder",
        "protocol", "name", "webdav", "options", "sharedSecret", d->secret, "webdav",
        "sharedSecret", d->secret, "permissions", perms, "uri", uri.data);
    if (doc)
        text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
done:
    sp_buf_free(&address);
    sp_buf_free(&uri);
    return text;
}

/*
 * Offers the share to the trusted instances whose WebFinger knows the
 * grantee's domain, in configured order, until one accepts. Nobody
 * knowing it (every WebFinger 404) keeps the share local; a network error
 * or "no such user yet" (400) is tried again later.
 */
static outcome announce(sp_federation *f, const sp_ocm_delivery *d, const char **instance,
                        char *err, size_t errlen)
{
    const sp_config_list *tl = &f->cfg->trusted_instances;
    /* Queued by an older version for a share whose item is not an item of
     * its drive: its URI would point the remote grantee elsewhere. */
    if (sp_itemid_check(d->drive_id, d->item_id, NULL) < 0) {
        snprintf(err, errlen, "item %.300s is not an item of drive %s", d->item_id, d->drive_id);
        return OUT_REFUSED;
    }
    char *body = share_body(f, d);
    if (!body) {
        snprintf(err, errlen, "out of memory");
        return OUT_RETRY;
    }
    int transient = 0;
    outcome out = OUT_LOCAL;
    snprintf(err, errlen, "no trusted instance serves %.320s", d->grantee);
    for (size_t i = 0; i < tl->count && !atomic_load(&f->stopping); i++) {
        const char *inst = tl->items[i];
        sp_buf url = {0};
        long status = 0;
        const char *why = NULL;
        int rc = sp_buf_printf(&url, "%s/.well-known/webfinger?resource=acct%%3A", inst);
        if (rc == 0)
            rc = sp_url_encode(&url, d->grantee, "");
        if (rc == 0)
            rc = call(f, url.data, NULL, &status, &why);
        sp_buf_free(&url);
        if (rc == 0 && status == 404)
            continue; /* that instance does not serve the domain */
        if (rc < 0 || status != 200) {
            transient = 1;
            snprintf(err, errlen, "%s: webfinger %s", inst,
                     rc < 0 ? (why ? why : sp_err_str(rc)) : "answered unexpectedly");
            continue;
        }
        rc = sp_buf_printf(&url, "%s/ocm/shares", inst);
        if (rc == 0)
            rc = call(f, url.data, body, &status, &why);
        sp_buf_free(&url);
        if (rc == 0 && (status == 200 || status == 201)) {
            *instance = inst;
            out = OUT_DELIVERED;
            break;
        }
        /* 400: the user is not known there (yet); 5xx and the network
         * pass. Any other answer is that instance's final no. */
        if (rc < 0 || status == 400 || status == 429 || status >= 500)
            transient = 1;
        snprintf(err, errlen, "%s: POST /ocm/shares %s%ld", inst,
                 rc < 0 ? (why ? why : sp_err_str(rc)) : "answered ", rc < 0 ? 0L : status);
    }
    free(body);
    if (out != OUT_DELIVERED && (transient || atomic_load(&f->stopping)))
        out = OUT_RETRY;
    return out;
}

/* Sends RESOURCE_CHANGED or SHARE_UNSHARED to the instance that holds the
 * share. */
static outcome notify(sp_federation *f, const sp_ocm_delivery *d, char *err, size_t errlen)
{
    int unshare = strcmp(d->kind, "unshared") == 0;
    if (!d->instance[0]) {
        snprintf(err, errlen, "the share was never accepted anywhere");
        return unshare ? OUT_DELIVERED : OUT_REFUSED;
    }
    json_t *note = json_pack("{s:s}", "sharedSecret", d->secret);
    if (note && !unshare && d->etag[0])
        json_object_set_new(note, "eTag", json_string(d->etag));
    json_t *doc = json_pack("{s:s, s:s, s:s, s:o*}", "notificationType",
                            unshare ? "SHARE_UNSHARED" : "RESOURCE_CHANGED", "resourceType",
                            "folder", "providerId", d->share_id, "notification", note);
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    sp_buf url = {0};
    long status = 0;
    const char *why = NULL;
    int rc = body ? sp_buf_printf(&url, "%s/ocm/notifications", d->instance) : SP_ERR_NOMEM;
    if (rc == 0)
        rc = call(f, url.data, body, &status, &why);
    sp_buf_free(&url);
    free(body);
    if (rc == 0 && status >= 200 && status < 300)
        return OUT_DELIVERED;
    snprintf(err, errlen, "%.300s: POST /ocm/notifications %s%ld", d->instance,
             rc < 0 ? (why ? why : sp_err_str(rc)) : "answered ", rc < 0 ? 0L : status);
    if (rc < 0 || status == 429 || status >= 500)
        return OUT_RETRY;
    /* The receiver does not know the share (its user removed it): an
     * unshare is done, changes are no longer wanted. */
    return unshare ? OUT_DELIVERED : OUT_REFUSED;
}

static int64_t backoff_ms(int attempts)
{
    int64_t ms = SP_FED_RETRY_MIN_MS;
    for (int i = 0; i < attempts && ms < SP_FED_RETRY_MAX_MS; i++)
        ms *= 2;
    return ms < SP_FED_RETRY_MAX_MS ? ms : SP_FED_RETRY_MAX_MS;
}

static void deliver(sp_federation *f, const sp_ocm_delivery *d)
{
    char err[512] = "";
    const char *instance = NULL;
    outcome out = strcmp(d->kind, "share") == 0 ? announce(f, d, &instance, err, sizeof err)
                                                : notify(f, d, err, sizeof err);
    if (out == OUT_RETRY && d->attempts + 1 >= SP_FED_ATTEMPTS_MAX) {
        sp_warn("federation", "giving up %s of share %s after %d tries: %s", d->kind, d->share_id,
                d->attempts + 1, err);
        out = strcmp(d->kind, "share") == 0 ? OUT_LOCAL : OUT_REFUSED;
    }
    int rc;
    switch (out) {
    case OUT_DELIVERED:
        sp_info("federation", "%s of share %s delivered to %s", d->kind, d->share_id,
                instance ? instance : d->instance);
        rc = sp_store_ocm_finish(f->store, d, SP_OCM_DELIVERED, instance);
        atomic_fetch_add(&f->delivered, 1);
        break;
    case OUT_LOCAL:
        sp_info("federation", "share %s stays local: %s", d->share_id, err);
        rc = sp_store_ocm_finish(f->store, d, SP_OCM_LOCAL, NULL);
        atomic_fetch_add(&f->kept_local, 1);
        break;
    case OUT_REFUSED:
        sp_info("federation", "%s of share %s refused: %s", d->kind, d->share_id, err);
        rc = sp_store_ocm_finish(f->store, d, SP_OCM_REFUSED, NULL);
        atomic_fetch_add(&f->refused, 1);
        break;
    default:
        sp_debug("federation", "%s of share %s failed (try %d): %s", d->kind, d->share_id,
                 d->attempts + 1, err);
        rc = sp_store_ocm_retry(f->store, d->seq, sp_time_now_ms() + backoff_ms(d->attempts), err);
        atomic_fetch_add(&f->retried, 1);
        break;
    }
    if (rc < 0)
        sp_warn("federation", "cannot record the outcome of a delivery: %s", sp_err_str(rc));
}

static void *run(void *arg)
{
    sp_federation *f = arg;
    while (!atomic_load(&f->stopping)) {
        int more = 0;
        int rc = sp_store_ocm_derive(f->store, f->local, f->local_count, 0, &f->cursor, &more);
        if (rc < 0) {
            sp_warn("federation", "reading the event log failed: %s", sp_err_str(rc));
            wait_for(f, SP_FED_ERROR_WAIT_MS);
            continue;
        }
        if (more)
            continue;
        int count = 0;
        rc = sp_store_ocm_due(f->store, sp_time_now_ms(), f->batch, SP_FED_BATCH, &count);
        for (int i = 0; rc == 0 && i < count && !atomic_load(&f->stopping); i++)
            deliver(f, &f->batch[i]);
        if (rc == 0 && count == SP_FED_BATCH)
            continue;
        int64_t next = 0, queued = 0;
        if (rc == 0)
            rc = sp_store_ocm_pending(f->store, &next, &queued);
        atomic_store(&f->queued, queued);
        int64_t wait = rc < 0 ? SP_FED_ERROR_WAIT_MS : SP_FED_IDLE_MS;
        int64_t now = sp_time_now_ms();
        if (rc == 0 && next > 0 && next - now < wait)
            wait = next - now;
        if (wait > 0)
            wait_for(f, wait);
    }
    /* Keep what was read, so a restart does not read it again. */
    int more = 0;
    sp_store_ocm_derive(f->store, f->local, f->local_count, 1, &f->cursor, &more);
    return NULL;
}

int sp_federation_start(sp_store *st, const sp_config *cfg, sp_discovery *discovery,
                        const sp_httpsig_key *key, sp_federation **out)
{
    *out = NULL;
    if (cfg->trusted_instances.count == 0)
        return 0;
    sp_federation *f = calloc(1, sizeof *f);
    if (!f)
        return SP_ERR_NOMEM;
    f->store = st;
    f->cfg = cfg;
    f->discovery = discovery;
    f->key = key;
    if (sp_instance_authority(cfg->public_url, f->authority, sizeof f->authority) < 0) {
        free(f);
        return SP_ERR_INVALID;
    }
    for (size_t i = 0; i < cfg->domain_issuer_count && i < SP_CONFIG_LIST_MAX; i++)
        f->local[f->local_count++] = cfg->domain_issuers[i].domain;
    sp_wake_init(&f->bell);
    if (pthread_create(&f->thread, NULL, run, f) != 0) {
        sp_wake_destroy(&f->bell);
        free(f);
        return SP_ERR_NOMEM;
    }
    *out = f;
    return 0;
}

void sp_federation_stop(sp_federation *f)
{
    if (!f)
        return;
    atomic_store(&f->stopping, 1);
    sp_federation_wake(f);
    pthread_join(f->thread, NULL);
    sp_wake_destroy(&f->bell);
    free(f);
}

int sp_federation_metrics(sp_federation *f, sp_buf *out)
{
    if (!f)
        return 0;
    return sp_buf_printf(
        out,
        "# HELP spaceport_ocm_deliveries_total Deliveries to other instances (OCM shares and "
        "notifications) by outcome.\n"
        "# TYPE spaceport_ocm_deliveries_total counter\n"
        "spaceport_ocm_deliveries_total{outcome=\"delivered\"} %llu\n"
        "spaceport_ocm_deliveries_total{outcome=\"retried\"} %llu\n"
        "spaceport_ocm_deliveries_total{outcome=\"local\"} %llu\n"
        "spaceport_ocm_deliveries_total{outcome=\"refused\"} %llu\n"
        "# HELP spaceport_ocm_queue Deliveries to other instances waiting.\n"
        "# TYPE spaceport_ocm_queue gauge\n"
        "spaceport_ocm_queue %lld\n",
        (unsigned long long)atomic_load(&f->delivered),
        (unsigned long long)atomic_load(&f->retried),
        (unsigned long long)atomic_load(&f->kept_local),
        (unsigned long long)atomic_load(&f->refused), (long long)atomic_load(&f->queued));
}
