/*
 * federation.c - the outbound OCM queue's thread (see federation.h).
 *
 * The loop: derive deliveries from new events (store/ocm.c), send the due
 * ones, sleep until the next is due or a commit wakes us. Every outcome is
 * recorded before the next delivery, so a crash at worst repeats one
 * request; receivers are idempotent (a share by providerId, a change by
 * eTag).
 *
 * Of several replicas, the one holding the federation lease sends
 * (store/lease.h). The cursor over the log is kept in memory between
 * saves: one that takes the lease reads it from the database again, as
 * the replica before may have moved it on.
 */
#include "events/federation.h"

#include "store/lease.h"
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
    sp_federation_options opt;
    sp_discovery *discovery;                   /* the peers' endPoints and what they take */
    const sp_httpsig_key *key;                 /* signs every request */
    char authority[SP_INSTANCE_AUTHORITY_MAX]; /* ours, for OCM addresses */
    int dav_at_origin; /* our dav_url is the origin of public_url: relative uris resolve there */
    const char *local[SP_STRLIST_MAX]; /* e-mail domains served here */
    size_t local_count;
    sp_ocm_cursor cursor;
    uint64_t term; /* federation lease term the cursor was read in */
    sp_ocm_delivery batch[SP_FED_BATCH];

    pthread_t thread;
    sp_wake bell;        /* rung on commit and on stop */
    atomic_int stopping; /* also cancels a request in flight */

    atomic_uint_fast64_t delivered, retried, kept_local, refused, skipped;
    atomic_int_fast64_t queued;
};

/* OUT_SKIPPED: a notification the receiver does not take, dropped as done. */
typedef enum outcome { OUT_DELIVERED, OUT_LOCAL, OUT_REFUSED, OUT_RETRY, OUT_SKIPPED } outcome;

void sp_federation_wake(void *arg)
{
    sp_wake_ring(&((sp_federation *)arg)->bell);
}

static void wait_for(sp_federation *f, int64_t ms)
{
    sp_wake_wait(&f->bell, ms, &f->stopping);
}

/* One request to another instance, signed with the instance key;
 * *status on 0. */
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
                      .redirects_max = 0,
                      .signer = f->key};
    int rc = sp_fetch(url, &r, status, &answer, why);
    sp_buf_free(&answer);
    return rc;
}

/* The index of trusted instance base (SIZE_MAX when it is no longer
 * trusted). */
static size_t instance_index(sp_federation *f, const char *base)
{
    const sp_strlist *tl = f->opt.trusted;
    for (size_t i = 0; i < tl->count; i++) {
        if (strcmp(tl->items[i], base) == 0)
            return i;
    }
    return SIZE_MAX;
}

/*
 * Reads trusted instance index's discovery document into doc (cached;
 * fetched again when refresh: a retry, after the endPoint answered 404 or
 * could not be reached, may find that it moved). Returns 0, or < 0 with
 * err set.
 */
static int peer_doc(sp_federation *f, size_t index, int refresh, sp_peer_doc *doc, char *err,
                    size_t errlen)
{
    int rc = sp_discovery_get(f->discovery, index, refresh, doc);
    if (rc < 0)
        snprintf(err, errlen, "%s: cannot read its OCM discovery: %s",
                 f->opt.trusted->items[index], sp_err_str(rc));
    return rc;
}

/* The OCM permissions of role: read, and write when it may write. */
static json_t *permissions_of(const char *role)
{
    /* Viewer and SpaceViewer only read; an unknown role grants nothing more. */
    return sp_role_can(role, SP_CAN_WRITE) ? json_pack("[s, s]", "read", "write")
                                           : json_pack("[s]", "read");
}

/*
 * The protocol object of d's share for the peer doc describes: OCM 1.2's
 * {"name": "multi", "webdav": {...}} (never with options: OpenCloud
 * refuses any); for OCM 1.0/1.1 servers (Nextcloud) the older
 * {"name": "webdav", "options": {...}} that they read, with the webdav
 * object besides. The uri is the item's id, relative to the webdav path
 * of our discovery, when the peer resolves relative uris and our WebDAV
 * is served at the origin of our public URL (where the peer resolves it);
 * otherwise absolute.
 */
static json_t *protocol_for(sp_federation *f, const sp_ocm_delivery *d, const sp_peer_doc *doc)
{
    sp_buf uri = {0};
    json_t *proto = NULL;
    int relative = doc->relative_uri && !doc->legacy && f->dav_at_origin;
    if ((!relative && sp_buf_printf(&uri, "%s/dav/spaces/", f->opt.dav_url) < 0) ||
        sp_url_encode(&uri, d->item_id, SP_URL_SEGMENT_KEEP) < 0)
        goto done;
    json_t *webdav = json_pack("{s:s, s:s, s:o}", "uri", uri.data, "sharedSecret", d->secret,
                               "permissions", permissions_of(d->role));
    if (doc->legacy)
        proto = json_pack("{s:s, s:{s:s, s:s}, s:o*}", "name", "webdav", "options", "sharedSecret",
                          d->secret, "permissions",
                          "{http://open-cloud-mesh.org/ns}share-permissions", "webdav", webdav);
    else
        proto = json_pack("{s:s, s:o*}", "name", "multi", "webdav", webdav);
done:
    sp_buf_free(&uri);
    return proto;
}

/* The OCM share body of d for the peer doc describes (new string, or NULL). */
static char *share_body(sp_federation *f, const sp_ocm_delivery *d, const sp_peer_doc *doc)
{
    char *text = NULL;
    sp_buf address = {0};
    if (sp_buf_printf(&address, "%s@%s", d->sharer, f->authority) < 0)
        goto done;
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o*}",
                             "shareWith", d->share_with[0] ? d->share_with : d->grantee, "name",
                             d->name, "description", "", "providerId", d->share_id, "owner",
                             address.data, "ownerDisplayName", d->sharer_name, "sender",
                             address.data, "senderDisplayName", d->sharer_name, "shareType", "user",
                             "resourceType", d->resource_type, "protocol", protocol_for(f, d, doc));
    if (body && d->expiration > 0)
        json_object_set_new(body, "expiration", json_integer(d->expiration));
    if (body && json_object_get(body, "protocol"))
        text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
done:
    sp_buf_free(&address);
    return text;
}

/* POSTs body (stolen; NULL: it could not be made) to <endPoint>/<what>
 * of trusted instance index. Returns 0 with *status, or < 0 with err set
 * (memory or network). */
static int post_ocm(sp_federation *f, size_t index, const char *what, const sp_peer_doc *doc,
                    char *body, long *status, char *err, size_t errlen)
{
    sp_buf url = {0};
    const char *why = NULL;
    if (!body) {
        snprintf(err, errlen, "out of memory");
        return SP_ERR_NOMEM;
    }
    int rc = sp_buf_printf(&url, "%s/%s", doc->endpoint, what);
    if (rc == 0)
        rc = call(f, url.data, body, status, &why);
    if (rc < 0)
        snprintf(err, errlen, "%s: POST %.300s: %s", f->opt.trusted->items[index],
                 url.data ? url.data : what, why ? why : sp_err_str(rc));
    else if (*status < 200 || *status >= 300)
        snprintf(err, errlen, "%s: POST %.300s answered %ld",
                 f->opt.trusted->items[index], url.data, *status);
    sp_buf_free(&url);
    free(body);
    return rc;
}

/* Offers d's share at trusted instance index. */
static outcome offer(sp_federation *f, const sp_ocm_delivery *d, size_t index, char *err,
                     size_t errlen)
{
    sp_peer_doc doc;
    if (peer_doc(f, index, d->attempts > 0, &doc, err, errlen) < 0)
        return OUT_RETRY;
    long status = 0;
    int rc = post_ocm(f, index, "shares", &doc, share_body(f, d, &doc), &status, err, errlen);
    if (rc == 0 && (status == 200 || status == 201))
        return OUT_DELIVERED;
    /* 400: the user is not known there (yet); 404 and 405: the endPoint
     * moved (discovery is read again); 5xx and the network pass. Any other
     * answer is that instance's final no. */
    if (rc < 0 || status == 400 || status == 404 || status == 405 || status == 429 || status >= 500)
        return OUT_RETRY;
    return OUT_REFUSED;
}

/*
 * Offers the share: to a contact's instance directly; to an e-mail
 * address, at the trusted instances whose WebFinger knows the grantee's
 * domain, in configured order, until one accepts. Nobody knowing it
 * (every WebFinger 404) keeps the share local; a network error or "no
 * such user yet" (400) is tried again later.
 */
static outcome announce(sp_federation *f, const sp_ocm_delivery *d, const char **instance,
                        char *err, size_t errlen)
{
    const sp_strlist *tl = f->opt.trusted;
    /* Queued by an older version for a share whose item is not an item of
     * its drive: its URI would point the remote grantee elsewhere. */
    if (sp_itemid_check(d->drive_id, d->item_id, NULL) < 0) {
        snprintf(err, errlen, "item %.300s is not an item of drive %s", d->item_id, d->drive_id);
        return OUT_REFUSED;
    }
    if (d->share_with[0]) {
        size_t i = instance_index(f, d->instance);
        if (i == SIZE_MAX) {
            snprintf(err, errlen, "%.300s is no longer a trusted instance", d->instance);
            return OUT_REFUSED;
        }
        *instance = tl->items[i];
        return offer(f, d, i, err, errlen);
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
        outcome o = offer(f, d, i, err, errlen);
        if (o == OUT_DELIVERED) {
            *instance = inst;
            out = OUT_DELIVERED;
            break;
        }
        transient |= o == OUT_RETRY;
    }
    if (out != OUT_DELIVERED && (transient || atomic_load(&f->stopping)))
        out = OUT_RETRY;
    return out;
}

/* The notification of a delivery of kind (new reference), or NULL when
 * the peer doc describes does not take it: RESOURCE_CHANGED and
 * SHARE_CHANGE_PERMISSION are Spaceport's, sent to peers that list them
 * in notificationTypes; the spec's SHARE_* go to every peer. */
static json_t *notification_for(const sp_ocm_delivery *d, const sp_peer_doc *doc, int *skip)
{
    const char *type, *message = NULL;
    json_t *note;
    *skip = 0;
    if (strcmp(d->kind, "changed") == 0) {
        *skip = !(doc->notes & SP_PEER_NOTE_RESOURCE_CHANGED);
        type = "RESOURCE_CHANGED";
        note = json_pack("{s:s}", "sharedSecret", d->secret);
        if (note && d->etag[0])
            json_object_set_new(note, "eTag", json_string(d->etag));
    } else if (strcmp(d->kind, "permission") == 0) {
        *skip = !(doc->notes & SP_PEER_NOTE_SHARE_CHANGE_PERMISSION);
        type = "SHARE_CHANGE_PERMISSION";
        note = json_pack("{s:s, s:o}", "sharedSecret", d->secret, "permissions",
                         permissions_of(d->role));
    } else if (strcmp(d->kind, "unshared") == 0) {
        type = "SHARE_UNSHARED";
        message = "file is no longer shared with you";
        note = json_pack("{s:s}", "sharedSecret", d->secret);
    } else {
        /* As the recipient: no secret (it is kept hashed only); the
         * sender knows us by our signature. */
        int accepted = strcmp(d->kind, "accepted") == 0;
        type = accepted ? "SHARE_ACCEPTED" : "SHARE_DECLINED";
        message = accepted ? "Recipient accepted the share" : "Recipient declined the share";
        note = json_object();
    }
    if (note && message)
        json_object_set_new(note, "message", json_string(message));
    if (*skip) {
        json_decref(note);
        return NULL;
    }
    return json_pack("{s:s, s:s, s:s, s:o*}", "notificationType", type, "resourceType",
                     d->resource_type, "providerId", d->share_id, "notification", note);
}

/* Sends d's notification to the instance that holds the share (or, for
 * an answer, that sent it). */
static outcome notify(sp_federation *f, const sp_ocm_delivery *d, char *err, size_t errlen)
{
    int unshare = strcmp(d->kind, "unshared") == 0;
    if (!d->instance[0]) {
        snprintf(err, errlen, "the share was never accepted anywhere");
        return unshare ? OUT_DELIVERED : OUT_REFUSED;
    }
    size_t index = instance_index(f, d->instance);
    if (index == SIZE_MAX) {
        snprintf(err, errlen, "%.300s is no longer a trusted instance", d->instance);
        return OUT_REFUSED;
    }
    sp_peer_doc doc;
    if (peer_doc(f, index, d->attempts > 0, &doc, err, errlen) < 0)
        return OUT_RETRY;
    int skip = 0;
    json_t *note = notification_for(d, &doc, &skip);
    if (skip) {
        snprintf(err, errlen, "%.300s does not take %s notifications", d->instance, d->kind);
        return OUT_SKIPPED;
    }
    char *body = note ? json_dumps(note, JSON_COMPACT) : NULL;
    json_decref(note);
    long status = 0;
    int rc = post_ocm(f, index, "notifications", &doc, body, &status, err, errlen);
    if (rc == 0 && status >= 200 && status < 300)
        return OUT_DELIVERED;
    if (rc < 0 || status == 404 || status == 405 || status == 429 || status >= 500)
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
    case OUT_SKIPPED:
        sp_debug("federation", "%s of share %s not sent: %s", d->kind, d->share_id, err);
        rc = sp_store_ocm_finish(f->store, d, SP_OCM_DELIVERED, NULL);
        atomic_fetch_add(&f->skipped, 1);
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
        uint64_t term = sp_store_lease_term(f->store, SP_LEASE_FEDERATION);
        if (!term) {
            wait_for(f, SP_FED_IDLE_MS); /* rung when the lease is taken */
            continue;
        }
        if (term != f->term) {
            f->cursor.loaded = 0;
            f->term = term;
        }
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
    /* Keep what was read, so a restart does not read it again; only
     * while the cursor is ours, lest it move another replica's back. */
    int more = 0;
    if (f->term && sp_store_lease_term(f->store, SP_LEASE_FEDERATION) == f->term)
        sp_store_ocm_derive(f->store, f->local, f->local_count, 1, &f->cursor, &more);
    return NULL;
}

int sp_federation_start(sp_store *st, const sp_federation_options *opt, sp_discovery *discovery,
                        const sp_httpsig_key *key, sp_federation **out)
{
    *out = NULL;
    if (!opt->trusted || opt->trusted->count == 0)
        return 0;
    sp_federation *f = calloc(1, sizeof *f);
    if (!f)
        return SP_ERR_NOMEM;
    f->store = st;
    f->opt = *opt;
    f->discovery = discovery;
    f->key = key;
    sp_url pub;
    const char *why = NULL;
    char origin[SP_INSTANCE_AUTHORITY_MAX + 32];
    if (sp_instance_authority(opt->public_url, f->authority, sizeof f->authority) < 0 ||
        sp_url_parse(opt->public_url, &pub, &why) < 0) {
        free(f);
        return SP_ERR_INVALID;
    }
    snprintf(origin, sizeof origin, "%s://%s", pub.scheme, f->authority);
    f->dav_at_origin = strcmp(opt->dav_url, origin) == 0;
    for (size_t i = 0; i < opt->local_domain_count && i < SP_STRLIST_MAX; i++)
        f->local[f->local_count++] = opt->local_domains[i];
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
        "notifications) by outcome (skipped: a notification the receiver does not take).\n"
        "# TYPE spaceport_ocm_deliveries_total counter\n"
        "spaceport_ocm_deliveries_total{outcome=\"delivered\"} %llu\n"
        "spaceport_ocm_deliveries_total{outcome=\"retried\"} %llu\n"
        "spaceport_ocm_deliveries_total{outcome=\"local\"} %llu\n"
        "spaceport_ocm_deliveries_total{outcome=\"refused\"} %llu\n"
        "spaceport_ocm_deliveries_total{outcome=\"skipped\"} %llu\n"
        "# HELP spaceport_ocm_queue Deliveries to other instances waiting.\n"
        "# TYPE spaceport_ocm_queue gauge\n"
        "spaceport_ocm_queue %lld\n",
        (unsigned long long)atomic_load(&f->delivered),
        (unsigned long long)atomic_load(&f->retried),
        (unsigned long long)atomic_load(&f->kept_local),
        (unsigned long long)atomic_load(&f->refused), (unsigned long long)atomic_load(&f->skipped),
        (long long)atomic_load(&f->queued));
}
