/*
 * subscriptions.c - change notification subscriptions in Microsoft
 * Graph's shape: POST, GET /graph/v1.0/subscriptions and GET, PATCH
 * (renew), DELETE /graph/v1.0/subscriptions/{id}.
 *
 * A subscription makes this instance POST to a URL its creator chose,
 * for days. So the URL is judged before anything else and without
 * touching the network (util/instance.h: https, and a trusted instance or
 * a host of SPACEPORT_WEBHOOK_HOSTS), the addresses it resolves to are
 * judged when connecting (util/fetch.h), and the receiver must prove that
 * it wants the notifications: it is sent a validation token, which it
 * must echo within 10 s, as Graph asks. The handshake runs on a thread of
 * its own while the request waits suspended (aside.c), bounded per
 * destination and in all, so a slow receiver holds no HTTP worker.
 *
 * Each user holds a bounded number of subscriptions: the sender reads
 * the event log once per subscription, and one user must not be able to
 * make that work unbounded. Delivery itself is not here (the webhook
 * sender reads the subscriptions table).
 */
#include "api/internal.h"

#include "store/subscriptions.h"

#include "util/base64.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/fetch.h"
#include "util/id.h"
#include "util/instance.h"
#include "util/log.h"
#include "util/time.h"
#include "util/url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Subscriptions one user may hold (ended ones count until their lifecycle
 * notification is sent): every one costs the sender a read of the event
 * log per round, and a client needs a few (one per drive it follows, or
 * one for the whole list). Past it: 403. */
#define SP_SUBSCRIPTIONS_PER_USER 100
/* Handshakes in flight at one destination, and at all together: each
 * holds a thread and a connection for up to 10 s. Subscribing is rare;
 * a slow receiver delays only subscriptions to its own host (503 and
 * Retry-After meanwhile). */
#define SP_HANDSHAKES_PER_DESTINATION 4
#define SP_HANDSHAKES_MAX             16
/* Random bytes of a validation token: unguessable, short enough for a
 * query string. */
#define SP_VALIDATION_TOKEN_BYTES 24
#define SP_VALIDATION_TOKEN_LEN   (SP_BASE64URL_LEN(SP_VALIDATION_TOKEN_BYTES) + 1)

/* What a POST asks, read from its body (strings borrowed from it, but
 * resource and drive_id). */
typedef struct sub_request {
    char resource[SP_SUB_RESOURCE_MAX + 1];
    const char *drive_id; /* into resource; NULL for me/drives */
    unsigned change_types;
    const char *notification_url, *lifecycle_url, *client_state;
    int64_t expires_at;
    size_t slot; /* the notificationUrl's destination (util/instance.h) */
} sub_request;

/* A subscription whose handshake runs on a thread of its own while the
 * request waits suspended: lives from the handler until the resumed
 * request is answered. */
typedef struct handshake {
    sp_api *api;
    sp_user user;
    json_t *body; /* owned; q's strings borrow from it */
    sub_request q;
    char token[SP_VALIDATION_TOKEN_LEN];
    /* The trusted instance that signed the request for its user (its
     * base URL, borrowed from the configuration), or NULL. */
    const char *delegate;
    /* ---- the outcome, written by the handshake thread ---- */
    int ok;
    char why[300]; /* when not ok */
} handshake;

/* ---- rendering ---- */

/* The subscription resource as Graph renders it (new reference). */
static json_t *subscription_json(const sp_subscription *s)
{
    char kinds[32], expires[SP_TIME_RFC3339_LEN];
    sp_subscription_change_types_str(s->change_types, kinds, sizeof kinds);
    sp_time_format_rfc3339(s->expires_at, expires);
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:s, s:s, s:b}", "id", s->id, "resource", s->resource,
        "changeType", kinds, "notificationUrl", s->notification_url, "lifecycleNotificationUrl",
        s->lifecycle_url[0] ? json_string(s->lifecycle_url) : json_null(), "expirationDateTime",
        expires, "clientState", s->client_state[0] ? json_string(s->client_state) : json_null(),
        "creatorId", s->owner_id, "latestSupportedTlsVersion", "v1_2", "includeResourceData", 0);
}

/* Non-zero when s is gone for its owner: ended by the sender (access
 * lost), or past its expiration (the sender sweeps it soon). Graph
 * forgets such subscriptions; so does the API. */
static int gone(const sp_subscription *s)
{
    return s->ended_at != 0 || s->expires_at <= sp_time_now_ms();
}

/* ---- reading a POST ---- */

/* Reads "changeType": a comma list of created, updated, deleted. */
static int read_change_types(sp_http_req *req, json_t *body, unsigned *bits)
{
    const char *v = json_string_value(json_object_get(body, "changeType"));
    *bits = 0;
    if (!v) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "changeType (a comma list of created, updated, deleted) is required");
        return SP_ERR_INVALID;
    }
    for (const char *p = v;;) {
        size_t n = strcspn(p, ",");
        unsigned bit = n == 7 && strncmp(p, "created", 7) == 0   ? SP_SUB_CREATED
                       : n == 7 && strncmp(p, "updated", 7) == 0 ? SP_SUB_UPDATED
                       : n == 7 && strncmp(p, "deleted", 7) == 0 ? SP_SUB_DELETED
                                                                 : 0;
        if (!bit) {
            sp_http_reply_error(req, 400, "invalidRequest",
                                "changeType '%.*s' is not one of created, updated, deleted",
                                (int)(n > 64 ? 64 : n), p);
            return SP_ERR_INVALID;
        }
        *bits |= bit;
        if (!p[n])
            return 0;
        p += n + 1;
    }
}

/* Reads "resource": me/drives or drives/{id} (a leading '/' allowed) into
 * q->resource, normalized without it. */
static int read_resource(sp_http_req *req, json_t *body, sub_request *q)
{
    const char *v = json_string_value(json_object_get(body, "resource"));
    if (v && v[0] == '/')
        v++;
    if (v && strcmp(v, "me/drives") == 0) {
        snprintf(q->resource, sizeof q->resource, "%s", v);
        q->drive_id = NULL;
        return 0;
    }
    if (v && strncmp(v, "drives/", 7) == 0 && v[7] && strlen(v) <= SP_SUB_RESOURCE_MAX) {
        const char *id = v + 7;
        int ok = 1;
        for (const unsigned char *c = (const unsigned char *)id; *c && ok; c++)
            ok = *c > 0x20 && *c < 0x7f && !strchr("/?#%\\", *c);
        if (ok) {
            snprintf(q->resource, sizeof q->resource, "%s", v);
            q->drive_id = q->resource + 7;
            return 0;
        }
    }
    sp_http_reply_error(req, 400, "invalidRequest",
                        "resource must be me/drives (your list of drives) or drives/{id}");
    return SP_ERR_INVALID;
}

/* Reads the URL member name (optional unless required) and judges it by
 * the outbound policy; *slot (may be NULL) receives its destination. */
static int read_url(sp_http_req *req, sp_api *api, json_t *body, const char *name, int required,
                    const char **out, size_t *slot)
{
    json_t *v = json_object_get(body, name);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (!required)
            return 0;
        sp_http_reply_error(req, 400, "invalidRequest", "%s is required", name);
        return SP_ERR_INVALID;
    }
    const char *url = json_string_value(v);
    if (!url || strlen(url) > SP_SUB_URL_MAX) {
        sp_http_reply_error(req, 400, "invalidRequest", "%s must be a URL of at most %d bytes",
                            name, SP_SUB_URL_MAX);
        return SP_ERR_INVALID;
    }
    const sp_config *cfg = api->cfg;
    const char *why = NULL;
    if (sp_instance_match_webhook((const char *const *)cfg->trusted_instances.items,
                                  cfg->trusted_instances.count,
                                  (const char *const *)cfg->webhook_hosts.items,
                                  cfg->webhook_hosts.count, url, slot, &why) < 0) {
        sp_http_reply_error(req, 400, "invalidRequest", "%s %s", name, why);
        return SP_ERR_INVALID;
    }
    *out = url;
    return 0;
}

/* Reads "expirationDateTime": in the future, at most 3 days ahead. */
static int read_expiration(sp_http_req *req, json_t *body, int64_t *ms)
{
    const char *v = json_string_value(json_object_get(body, "expirationDateTime"));
    if (!v || sp_time_parse_rfc3339(v, ms) < 0) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "expirationDateTime (an RFC 3339 date-time) is required");
        return SP_ERR_INVALID;
    }
    int64_t now = sp_time_now_ms();
    if (*ms <= now || *ms > now + SP_SUB_LIFETIME_MAX_MS) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "expirationDateTime must be in the future and at most %lld minutes "
                            "from now",
                            (long long)(SP_SUB_LIFETIME_MAX_MS / 60000));
        return SP_ERR_INVALID;
    }
    return 0;
}

/* Reads "clientState": absent, null or at most 128 characters. */
static int read_client_state(sp_http_req *req, json_t *body, const char **out)
{
    json_t *v = json_object_get(body, "clientState");
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    const char *s = json_string_value(v);
    size_t chars = 0;
    for (const unsigned char *c = (const unsigned char *)s; s && *c; c++)
        chars += (*c & 0xc0) != 0x80;
    if (!s || chars > SP_SUB_CLIENT_STATE_CHARS || strlen(s) != json_string_length(v)) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "clientState must be a string of at most %d characters",
                            SP_SUB_CLIENT_STATE_CHARS);
        return SP_ERR_INVALID;
    }
    *out = s[0] ? s : NULL;
    return 0;
}

/* Reads a POST body into *q. Returns 0 or replies 400. */
static int read_request(sp_http_req *req, sp_api *api, json_t *body, sub_request *q)
{
    memset(q, 0, sizeof *q);
    if (json_is_true(json_object_get(body, "includeResourceData"))) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "includeResourceData is not supported: notifications name what "
                            "changed, and the client reads it");
        return SP_ERR_INVALID;
    }
    if (read_change_types(req, body, &q->change_types) < 0 ||
        read_url(req, api, body, "notificationUrl", 1, &q->notification_url, &q->slot) < 0 ||
        read_url(req, api, body, "lifecycleNotificationUrl", 0, &q->lifecycle_url, NULL) < 0 ||
        read_resource(req, body, q) < 0 || read_expiration(req, body, &q->expires_at) < 0 ||
        read_client_state(req, body, &q->client_state) < 0)
        return SP_ERR_INVALID;
    return 0;
}

/* ---- the validation handshake ---- */

/*
 * POSTs the validation token to url (?validationToken=..., or
 * &validationToken=... after a query of its own) and checks that the
 * answer is 200 with the token as its body (a trailing newline
 * tolerated). Returns 1 when it is, else 0 with h->why naming name and
 * what went wrong.
 */
static int validate(handshake *h, const char *name, const char *url)
{
    sp_buf target = {0}, answer = {0};
    int ok = 0;
    if (sp_buf_printf(&target, "%s%cvalidationToken=", url, strchr(url, '?') ? '&' : '?') < 0 ||
        sp_url_encode(&target, h->token, "") < 0) {
        snprintf(h->why, sizeof h->why, "out of memory");
        goto done;
    }
    sp_fetch_req r = {.method = "POST",
                      .content_type = "text/plain",
                      .body = "",
                      .body_len = 0,
                      .timeout_ms = SP_FETCH_WEBHOOK_TIMEOUT_MS,
                      .max_body = SP_FETCH_WEBHOOK_ANSWER_MAX,
                      .redirects_max = 0};
    long status = 0;
    const char *why = NULL;
    int rc = sp_fetch(target.data, &r, &status, &answer, &why);
    if (rc < 0) {
        snprintf(h->why, sizeof h->why, "the validation request to %s failed: %s", name,
                 why ? why : sp_err_str(rc));
        goto done;
    }
    if (status != 200) {
        snprintf(h->why, sizeof h->why, "%s answered the validation request with %ld, not 200%s",
                 name, status,
                 status >= 300 && status < 400 ? " (redirects are not followed)" : "");
        goto done;
    }
    size_t n = answer.len, tl = strlen(h->token);
    if (n > 0 && answer.data[n - 1] == '\n')
        n--;
    if (n > 0 && answer.data[n - 1] == '\r')
        n--;
    if (n != tl || memcmp(answer.data, h->token, tl) != 0) {
        snprintf(h->why, sizeof h->why, "%s did not answer with the validationToken as its body",
                 name);
        goto done;
    }
    ok = 1;
done:
    sp_buf_free(&target);
    sp_buf_free(&answer);
    return ok;
}

/* Gives back the handshake's slots. */
static void handshake_end(handshake *h)
{
    sp_api__slot_give(&h->api->handshakes_at[h->q.slot], &h->api->handshakes);
}

/* On its own thread (sp_api__aside): validates notificationUrl, then the
 * lifecycleNotificationUrl, as Graph does. */
static void handshake_run(void *arg)
{
    handshake *h = arg;
    h->ok = validate(h, "notificationUrl", h->q.notification_url) &&
            (!h->q.lifecycle_url || validate(h, "lifecycleNotificationUrl", h->q.lifecycle_url));
    if (!h->ok)
        sp_info("subscriptions", "refused a subscription of %s: %s", h->user.id, h->why);
    handshake_end(h);
}

/* When no thread could validate: refused as unvalidated. */
static void handshake_unstarted(void *arg)
{
    handshake *h = arg;
    h->ok = 0;
    snprintf(h->why, sizeof h->why, "no thread to validate the notificationUrl with");
    handshake_end(h);
}

/* Replies for a store error of a subscription: 404 for none, 403 past
 * the per-user limit. */
static void store_refusal(sp_http_req *req, sp_api *api, int rc)
{
    if (rc == SP_ERR_NOT_FOUND)
        sp_http_reply_error(req, 404, "itemNotFound", "no such subscription");
    else if (rc == SP_ERR_TOO_LARGE)
        sp_http_reply_error(req, 403, "quotaLimitReached",
                            "you have %d subscriptions: delete one first",
                            SP_SUBSCRIPTIONS_PER_USER);
    else
        sp_api__store_error(req, api, rc);
}

/* On an HTTP worker, once the handshake is done: stores the subscription
 * and answers 201, or answers why not; then frees h. */
static void handshake_answer(sp_http_req *req, void *arg)
{
    handshake *h = arg;
    sp_subscription *s = NULL;
    if (!h->ok) {
        sp_http_reply_error(req, 400, "invalidRequest", "%s", h->why);
        goto done;
    }
    s = malloc(sizeof *s);
    if (!s) {
        sp_http_reply_error(req, 500, "generalException", "out of memory");
        goto done;
    }
    sp_subscription_new n = {.resource = h->q.resource,
                             .drive_id = h->q.drive_id,
                             .change_types = h->q.change_types,
                             .notification_url = h->q.notification_url,
                             .lifecycle_url = h->q.lifecycle_url,
                             .client_state = h->q.client_state,
                             .delegate = h->delegate,
                             .expires_at = h->q.expires_at};
    int rc =
        sp_store_subscription_create(h->api->store, &h->user, &n, SP_SUBSCRIPTIONS_PER_USER, s);
    if (rc < 0) {
        store_refusal(req, h->api, rc);
        goto done;
    }
    sp_buf loc = {0};
    if (sp_api__id_url(&loc, h->api->cfg->public_url, "/graph/v1.0/subscriptions/", s->id) == 0)
        sp_http_add_header(req, "Location", loc.data);
    sp_buf_free(&loc);
    sp_http_reply_json(req, 201, subscription_json(s));
done:
    free(s);
    json_decref(h->body);
    free(h);
}

/* Whether u may subscribe to q's resource now: their own list always; a
 * drive only when they reach it (404 otherwise, as GET drives/{id}).
 * Only drives they reach themselves, not every drive an admin may list:
 * a subscription is told what its owner's change stream shows, and a
 * drive the owner is no member of shows nothing there. */
static int may_subscribe(sp_http_req *req, sp_api *api, const sp_user *u, const sub_request *q)
{
    if (!q->drive_id)
        return 0;
    int rc = sp_api__drive_find(api, u, 0, q->drive_id, sp_api__drive_seen, NULL);
    if (rc == SP_ERR_NOT_FOUND)
        sp_http_reply_error(req, 404, "itemNotFound", "no drive %s", q->drive_id);
    else if (rc < 0)
        sp_api__store_error(req, api, rc);
    return rc;
}

/* The delegate of a new subscription: the trusted instance whose
 * signature the request carries (it registered a remote space for the
 * caller, federation.c), or NULL when unsigned. Returns 0, or has replied
 * 401 for a signature that does not verify. */
static int delegate_of(sp_http_req *req, sp_api *api, const char **delegate)
{
    size_t index;
    *delegate = NULL;
    if (!sp_api__signed(req))
        return 0;
    if (sp_api__peer(req, api, &index) < 0)
        return SP_ERR_UNAUTHORIZED;
    *delegate = api->cfg->trusted_instances.items[index];
    return 0;
}

static void create_subscription(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    const char *delegate = NULL;
    if (sp_api__caller(req, api, &u) < 0 || delegate_of(req, api, &delegate) < 0)
        return;
    json_t *body = sp_api__json_body(req);
    if (!body)
        return;
    handshake *h = calloc(1, sizeof *h);
    if (!h) {
        sp_http_reply_error(req, 500, "generalException", "out of memory");
        goto fail;
    }
    if (read_request(req, api, body, &h->q) < 0 || may_subscribe(req, api, &u, &h->q) < 0)
        goto fail;
    /* Refused before the handshake when the limit is reached already;
     * the store asks again when it writes. */
    int64_t have = 0;
    int rc = sp_store_subscriptions_of(api->store, u.seq, &have);
    if (rc == 0 && have >= SP_SUBSCRIPTIONS_PER_USER)
        rc = SP_ERR_TOO_LARGE;
    if (rc < 0) {
        store_refusal(req, api, rc);
        goto fail;
    }
    unsigned char raw[SP_VALIDATION_TOKEN_BYTES];
    if (sp_id_random(raw, sizeof raw) < 0 ||
        sp_base64url_encode(raw, sizeof raw, h->token, sizeof h->token) < 0) {
        sp_http_reply_error(req, 500, "generalException", "no randomness for the token");
        goto fail;
    }
    int full = sp_api__slot_take(&api->handshakes_at[h->q.slot], SP_HANDSHAKES_PER_DESTINATION,
                                 &api->handshakes, SP_HANDSHAKES_MAX);
    if (full) {
        sp_http_add_header(req, "Retry-After", "1");
        sp_http_reply_error(req, 503, "serviceNotAvailable",
                            full == 1 ? "other subscriptions to that host are being validated; "
                                        "try again"
                                      : "too many subscriptions are being validated; try again");
        goto fail;
    }
    h->api = api;
    h->user = u;
    h->body = body;
    h->delegate = delegate;
    sp_api__aside(req, handshake_run, handshake_unstarted, handshake_answer, h);
    return;
fail:
    free(h);
    json_decref(body);
}

/* ---- reading, renewing, deleting ---- */

/*
 * Who asks about a subscription: its owner, by their bearer token, or,
 * with no token, the trusted instance that made it for its owner, by its
 * signature (it renews and deletes it without the user). Fills *who (and
 * *u, for the owner). Returns 0, or has replied (401, 503, 500) and
 * returns a negative sp_err.
 */
static int subscription_who(sp_http_req *req, sp_api *api, sp_user *u, sp_subscription_who *who)
{
    if (!sp_http_header(req, "Authorization") && sp_api__signed(req)) {
        size_t index;
        if (sp_api__peer(req, api, &index) < 0)
            return SP_ERR_UNAUTHORIZED;
        *who = (sp_subscription_who){.delegate = api->cfg->trusted_instances.items[index]};
        return 0;
    }
    if (sp_api__caller(req, api, u) < 0)
        return SP_ERR_UNAUTHORIZED;
    *who = (sp_subscription_who){.owner_seq = u->seq, .delegate = NULL};
    return 0;
}

/* Appends s to the JSON array ctx unless it is gone. */
static int append_subscription(const sp_subscription *s, void *ctx)
{
    if (gone(s))
        return 0;
    json_t *j = subscription_json(s);
    return j && json_array_append_new(ctx, j) == 0 ? 0 : SP_ERR_NOMEM;
}

static void list_subscriptions(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    json_t *value = json_array();
    int rc = value ? sp_store_subscription_list(api->store, u.seq, append_subscription, value)
                   : SP_ERR_NOMEM;
    if (rc < 0) {
        json_decref(value);
        sp_api__store_error(req, api, rc);
        return;
    }
    sp_http_reply_json(req, 200, json_pack("{s:o}", "value", value));
}

static void get_subscription(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    sp_subscription_who who;
    if (subscription_who(req, api, &u, &who) < 0)
        return;
    sp_subscription *s = malloc(sizeof *s);
    int rc =
        s ? sp_store_subscription_get(api->store, &who, sp_http_param(req, "id"), s) : SP_ERR_NOMEM;
    if (rc == 0 && gone(s))
        rc = SP_ERR_NOT_FOUND;
    if (rc < 0)
        store_refusal(req, api, rc);
    else
        sp_http_reply_json(req, 200, subscription_json(s));
    free(s);
}

/* PATCH renews: expirationDateTime is the one member that may change. */
static void renew_subscription(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    sp_subscription_who who;
    if (subscription_who(req, api, &u, &who) < 0)
        return;
    json_t *body = sp_api__json_body(req);
    if (!body)
        return;
    sp_subscription *s = NULL;
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "expirationDateTime") != 0) {
            sp_http_reply_error(req, 400, "invalidRequest",
                                "only expirationDateTime may be changed (renewal); %s may not",
                                strlen(key) > 64 ? "that member" : key);
            goto done;
        }
    }
    int64_t expires_at;
    if (read_expiration(req, body, &expires_at) < 0)
        goto done;
    s = malloc(sizeof *s);
    int rc =
        s ? sp_store_subscription_renew(api->store, &who, sp_http_param(req, "id"), expires_at, s)
          : SP_ERR_NOMEM;
    if (rc < 0)
        store_refusal(req, api, rc);
    else
        sp_http_reply_json(req, 200, subscription_json(s));
done:
    free(s);
    json_decref(body);
}

static void delete_subscription(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    sp_subscription_who who;
    if (subscription_who(req, api, &u, &who) < 0)
        return;
    int rc = sp_store_subscription_delete(api->store, &who, sp_http_param(req, "id"));
    if (rc < 0)
        store_refusal(req, api, rc);
    else
        sp_http_reply_json(req, 204, NULL);
}

int sp_api__register_subscriptions(sp_router *r, sp_api *api)
{
    static const sp_api_route routes[] = {
        {"POST", "/graph/v1.0/subscriptions", create_subscription},
        {"GET", "/graph/v1.0/subscriptions", list_subscriptions},
        {"GET", "/graph/v1.0/subscriptions/{id}", get_subscription},
        {"PATCH", "/graph/v1.0/subscriptions/{id}", renew_subscription},
        {"DELETE", "/graph/v1.0/subscriptions/{id}", delete_subscription},
    };
    return sp_api__add_routes(r, api, routes, sizeof routes / sizeof routes[0]);
}
