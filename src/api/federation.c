/*
 * federation.c - requests between instances: who sent a signed request
 * (RFC 9421, auth/peers.h), and POST /api/v1/federation/notifications,
 * where hosting instances notify this registry of changes to the remote
 * spaces its users registered by URL (Graph change notifications of the
 * subscription the registration made there).
 *
 * The route is not a user API (no bearer token, not under /graph): only
 * a request signed by a trusted instance is read, and a notification
 * changes a remote space only when it names that instance's subscription
 * for it and carries the clientState the subscription was given. The
 * validation handshake (?validationToken=) is answered to anyone, as
 * Graph's receivers do: it echoes a token and changes nothing.
 */
#include "api/internal.h"

#include "auth/peers.h"
#include "store/remotes.h"

#include "util/err.h"
#include "util/instance.h"
#include "util/log.h"
#include "util/url.h"

#include <stdio.h>
#include <string.h>

/* Longest validationToken echoed: Graph's are a few hundred characters. */
#define SP_FED_TOKEN_MAX 1024
/* Notifications per request read: senders batch up to 100 (Graph too). */
#define SP_FED_NOTES_MAX 100
/* clientState, subscription id and eTag: identifiers, not payloads. */
#define SP_FED_FIELD_MAX 512

static const char *header_of(void *ctx, const char *name)
{
    return sp_http_header(ctx, name);
}

/* An RFC 9421 signature always comes with its Signature-Input; a
 * Signature header alone is draft-cavage's (released Nextcloud), which
 * this instance does not read: such a request is an unsigned one. */
int sp_api__signed(sp_http_req *req)
{
    return sp_http_header(req, "Signature-Input") != NULL;
}

int sp_api__peer_check(sp_http_req *req, sp_api *api, size_t *index, const char **why)
{
    char authority[SP_INSTANCE_AUTHORITY_MAX];
    sp_url pub;
    sp_buf path = {0};
    *why = NULL;
    if (!api->peers ||
        sp_instance_authority(api->cfg->public_url, authority, sizeof authority) < 0 ||
        sp_url_parse(api->cfg->public_url, &pub, why) < 0) {
        *why = "this instance trusts no other";
        return SP_ERR_UNAUTHORIZED;
    }
    /* The query is not verified (the HTTP layer keeps no raw copy of it
     * to rebuild @query from): a signed request must have none, or an
     * unsigned one could ride along with a signature. None of the
     * signed routes takes one; the validation handshake is unsigned. */
    if (sp_http_query_count(req) > 0) {
        *why = "a signed request must carry no query";
        return SP_ERR_UNAUTHORIZED;
    }
    /* The path the sender signed is the one under our public URL. */
    if (sp_buf_printf(&path, "%s%s", pub.path, sp_http_path(req)) < 0) {
        *why = "out of memory";
        return SP_ERR_NOMEM;
    }
    size_t len = 0;
    const char *body = sp_http_body(req, &len);
    sp_peers_req r = {.msg = {.scheme = pub.scheme,
                              .method = sp_http_method(req),
                              .authority = authority,
                              .path = path.data,
                              .field = header_of,
                              .ctx = req},
                      .sig_input = sp_http_header(req, "Signature-Input"),
                      .signature = sp_http_header(req, "Signature"),
                      .content_digest = sp_http_header(req, "Content-Digest"),
                      .body = body,
                      .body_len = len};
    int rc = sp_peers_verify(api->peers, &r, index, why);
    sp_buf_free(&path);
    if (rc == SP_ERR_UNAUTHORIZED)
        sp_info("federation", "refused a request signed as from another instance: %s",
                *why ? *why : "not signed");
    return rc;
}

int sp_api__peer(sp_http_req *req, sp_api *api, size_t *index)
{
    const char *why = NULL;
    int rc = sp_api__peer_check(req, api, index, &why);
    if (rc == 0)
        return 0;
    if (rc == SP_ERR_UNAVAILABLE) {
        sp_http_add_header(req, "Retry-After", "5");
        sp_http_reply_error(req, 503, "serviceNotAvailable", "%s", why);
    } else if (rc == SP_ERR_NOMEM) {
        sp_http_reply_error(req, 500, "generalException", "out of memory");
    } else {
        sp_http_add_header(req, "WWW-Authenticate", "Signature");
        sp_http_reply_error(req, 401, "unauthenticated", "%s", why ? why : "not signed");
    }
    return rc;
}

/* A string member of at most SP_FED_FIELD_MAX bytes, or NULL. */
static const char *field(json_t *o, const char *name)
{
    const char *s = json_string_value(json_object_get(o, name));
    return s && *s && strlen(s) <= SP_FED_FIELD_MAX ? s : NULL;
}

/*
 * Applies one notification from instance. Returns 0 (applied, or a
 * redelivery or a note with nothing to do), SP_ERR_NOT_FOUND (a change
 * for no subscription of ours with that id and clientState: also one
 * whose registration is not stored yet, so the sender tries again),
 * SP_ERR_INVALID, or a store error.
 */
static int apply(sp_api *api, const char *instance, json_t *n)
{
    const char *sub = field(n, "subscriptionId");
    const char *state = field(n, "clientState");
    const char *lifecycle = field(n, "lifecycleEvent");
    const char *change = field(n, "changeType");
    json_t *seqv = json_object_get(n, "sequenceNumber");
    int64_t seq =
        json_is_integer(seqv) && json_integer_value(seqv) > 0 ? json_integer_value(seqv) : 0;
    if (!sub || !state || (!lifecycle && !change))
        return SP_ERR_INVALID;
    sp_remote_ocm_note note = SP_REMOTE_OCM_CHANGED;
    const char *etag = field(json_object_get(n, "resourceData"), "eTag");
    if (lifecycle) {
        /* subscriptionRemoved: the owner can no longer read the space
         * there. missed and reauthorizationRequired change nothing here:
         * the next change brings the eTag, the keeper renews. */
        if (strcmp(lifecycle, "subscriptionRemoved") != 0) {
            sp_info("federation", "%s: %s lifecycle notification for subscription %s", instance,
                    lifecycle, sub);
            return 0;
        }
        note = SP_REMOTE_OCM_UNSHARED;
    } else if (strcmp(change, "deleted") == 0) {
        note = SP_REMOTE_OCM_UNSHARED;
    } else if (!etag) {
        return 0; /* nothing to store */
    }
    int rc = sp_store_remote_sub_notify(api->store, instance, sub, state, seq, note, etag, NULL);
    /* A removal of what is not (or no longer) here has nothing left to
     * do: the space was removed already (the deleted notification comes
     * before the subscriptionRemoved note), and refusing would have the
     * sender try again forever. */
    return rc == SP_ERR_NOT_FOUND && note == SP_REMOTE_OCM_UNSHARED ? 0 : rc;
}

static void notifications(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    const char *token = sp_http_query(req, "validationToken");
    if (token) {
        size_t n = strlen(token);
        if (n == 0 || n > SP_FED_TOKEN_MAX) {
            sp_http_reply_error(req, 400, "invalidRequest", "validationToken of 1 to %d bytes",
                                SP_FED_TOKEN_MAX);
            return;
        }
        sp_http_reply(req, 200, "text/plain; charset=utf-8", token, n);
        return;
    }
    size_t index = 0;
    if (sp_api__peer(req, api, &index) < 0)
        return;
    const char *instance = api->cfg->trusted_instances.items[index];
    size_t len = 0;
    const char *body = sp_http_body(req, &len);
    char why[200] = "";
    json_t *doc = sp_api__json_parse(body, len, why, sizeof why);
    json_t *value = json_object_get(doc, "value");
    if (!json_is_array(value) || json_array_size(value) > SP_FED_NOTES_MAX) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "a body {\"value\": [...]} of at most %d "
                            "notifications is expected%s%s",
                            SP_FED_NOTES_MAX, why[0] ? ": " : "", why);
        json_decref(doc);
        return;
    }
    /* In order; the first that cannot be applied stops the batch, so the
     * sender sends it again from there (what was applied is recognised by
     * its sequenceNumber and skipped). */
    int rc = 0;
    size_t i;
    json_t *n;
    json_array_foreach(value, i, n)
    {
        if ((rc = apply(api, instance, n)) < 0)
            break;
    }
    json_decref(doc);
    if (rc == SP_ERR_NOT_FOUND)
        sp_http_reply_error(req, 404, "itemNotFound",
                            "notification %zu names no subscription of this instance at %s with "
                            "that clientState",
                            i, instance);
    else if (rc == SP_ERR_INVALID)
        sp_http_reply_error(req, 400, "invalidRequest",
                            "notification %zu needs subscriptionId, clientState and changeType "
                            "or lifecycleEvent",
                            i);
    else if (rc < 0)
        sp_api__store_error(req, api, rc);
    else
        sp_http_reply(req, 202, "text/plain; charset=utf-8", "", 0);
}

int sp_api__register_federation(sp_router *r, sp_api *api)
{
    return sp_router_add(r, "POST", "/api/v1/federation/notifications", notifications, api);
}
