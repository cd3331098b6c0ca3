/*
 * remote.c - remote (federated) spaces: POST /graph/v1.0/me/drives with
 * driveType "mountpoint" registers a space hosted by a trusted instance;
 * the space then lists, reads and deletes like any other drive.
 *
 * The webDavUrl a user sends is the only input that makes this instance
 * open a connection somewhere, so it is judged before anything else and
 * without touching the network (util/instance.h): only a URL under an
 * entry of SPACEPORT_TRUSTED_INSTANCES passes. Then the hosting instance
 * is asked for the drive with the caller's own token (it trusts the
 * caller's identity provider, or it answers 401), under a short timeout, a
 * size cap and no redirects.
 *
 * The same thread then subscribes to the space at the hosting instance on
 * the owner's behalf (a Graph subscription, resource drives/<id>, with
 * the owner's token and signed by this instance, which the hosting
 * instance records as its delegate): its change notifications come to
 * POST /api/v1/federation/notifications (federation.c), and the keeper
 * thread (events/keeper.c) renews and finally deletes it, signed, without
 * the user. A registration whose subscription fails still registers (the
 * space then learns of changes only when it is read).
 *
 * The lookup runs on a thread of its own while the request waits
 * suspended, and lookups are bounded per trusted instance: a slow instance
 * keeps neither an HTTP worker nor the registrations of other instances
 * waiting, only its own.
 */
#include "api/internal.h"

#include "store/remotes.h"

#include "util/base64.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/id.h"
#include "util/slug.h"
#include "util/fetch.h"
#include "util/instance.h"
#include "util/log.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Whole time one lookup at the hosting instance may take: the caller is
 * waiting, and a healthy instance answers in milliseconds. */
#define SP_REMOTE_FETCH_TIMEOUT_MS 5000L
/* Largest answer read from the hosting instance: a Drive is a few KiB. */
/* Whole time subscribing may take: the hosting instance first checks
 * that our notification URL answers (the validation handshake). */
#define SP_REMOTE_SUBSCRIBE_TIMEOUT_MS 12000L
#define SP_REMOTE_FETCH_MAX (1024 * 1024)
/* Longest name of a remote space, in characters, as for drives. */
/* Random bytes of the clientState a subscription at the hosting instance
 * is given: 256 bits, 43 characters (Graph allows 128). */
#define SP_REMOTE_STATE_BYTES 32

#define SP_REMOTE_NAME_CHARS 255

/* What the hosting instance said about the drive. */
typedef struct remote_info {
    char name[SP_REMOTE_NAME_CHARS * 4 + 1];
    char etag[256];
    int64_t mtime_ms;
} remote_info;

/* Non-zero when name is 1-255 characters without control characters. */
static int name_ok(const char *name)
{
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return 0;
        chars += (*p & 0xc0) != 0x80;
    }
    return chars > 0 && chars <= SP_REMOTE_NAME_CHARS;
}

/* The bearer token of the request (already verified by the caller). */
static const char *bearer_of(sp_http_req *req)
{
    const char *h = sp_http_header(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return h;
}

/* Reads the Drive the hosting instance answered into *info. Returns 0 or
 * SP_ERR_INVALID with *why set. */
static int parse_remote_drive(const sp_buf *body, const char *drive_id, remote_info *info,
                              const char **why)
{
    json_error_t e;
    json_t *d = json_loadb(body->data ? body->data : "", body->len, JSON_REJECT_DUPLICATES, &e);
    int rc = SP_ERR_INVALID;
    if (!json_is_object(d)) {
        *why = "answered with something that is not a Drive";
        goto done;
    }
    json_t *id = json_object_get(d, "id");
    if (id && (!json_is_string(id) || strcmp(json_string_value(id), drive_id) != 0)) {
        *why = "answered with another drive";
        goto done;
    }
    const char *name = json_string_value(json_object_get(d, "name"));
    snprintf(info->name, sizeof info->name, "%s", name && name_ok(name) ? name : drive_id);
    const char *etag = json_string_value(json_object_get(json_object_get(d, "root"), "eTag"));
    if (etag && strlen(etag) < sizeof info->etag)
        snprintf(info->etag, sizeof info->etag, "%s", etag);
    const char *mtime = json_string_value(json_object_get(d, "lastModifiedDateTime"));
    if (!mtime || sp_time_parse_rfc3339(mtime, &info->mtime_ms) < 0)
        info->mtime_ms = 0;
    rc = 0;
done:
    json_decref(d);
    return rc;
}

/* A registration whose lookup runs on a thread of its own while the
 * request waits suspended: lives from the handler until the resumed
 * request is answered. */
typedef struct lookup {
    sp_api *api;
    sp_user user;
    json_t *body; /* the request body, owned; name and url borrow from it */
    const char *name, *url;
    sp_instance_dav m;
    char *bearer; /* the caller's token, copied: headers end with the handler */
    /* ---- the outcome, written by the lookup thread before it resumes ---- */
    int rc;
    long status;
    const char *why; /* static */
    sp_buf answer;
    /* The subscription at the hosting instance; sub_id "" when none. */
    char sub_id[256];
    char client_state[SP_BASE64URL_LEN(SP_REMOTE_STATE_BYTES) + 1];
    int64_t sub_expires_at;
} lookup;

static void lookup_free(lookup *l)
{
    json_decref(l->body);
    free(l->bearer);
    sp_buf_free(&l->answer);
    free(l);
}

/* The subscription request's body for l (new string, or NULL). */
static char *subscription_body(const lookup *l, const char *expires)
{
    sp_buf url = {0}, resource = {0};
    char *text = NULL;
    if (sp_buf_printf(&url, "%s/api/v1/federation/notifications", l->api->cfg->public_url) == 0 &&
        sp_buf_printf(&resource, "drives/%s", l->m.drive_id) == 0) {
        json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:s}", "changeType", "updated,deleted",
                                "notificationUrl", url.data, "resource", resource.data,
                                "expirationDateTime", expires, "clientState", l->client_state);
        text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
    }
    sp_buf_free(&url);
    sp_buf_free(&resource);
    return text;
}

/* On the lookup's thread: subscribes to the drive at its instance for the
 * caller. On success l->sub_id is set; a failure is logged and leaves it
 * empty. */
static void subscribe(lookup *l, const char *instance)
{
    unsigned char raw[SP_REMOTE_STATE_BYTES];
    char expires[SP_TIME_RFC3339_LEN];
    int64_t until = sp_time_now_ms() + l->api->remote_sub_lifetime_ms;
    sp_time_format_rfc3339(until, expires);
    if (sp_id_random(raw, sizeof raw) < 0 ||
        sp_base64url_encode(raw, sizeof raw, l->client_state, sizeof l->client_state) < 0)
        return;
    sp_buf url = {0}, answer = {0};
    char *body = subscription_body(l, expires);
    long status = 0;
    const char *why = NULL;
    int rc = body ? sp_buf_printf(&url, "%s/graph/v1.0/subscriptions", instance) : SP_ERR_NOMEM;
    if (rc == 0) {
        sp_fetch_req fr = {.method = "POST",
                           .bearer = l->bearer,
                           .content_type = "application/json",
                           .body = body,
                           .body_len = strlen(body),
                           .timeout_ms = SP_REMOTE_SUBSCRIBE_TIMEOUT_MS,
                           .max_body = SP_REMOTE_FETCH_MAX,
                           .redirects_max = 0,
                           .signer = l->api->instance_key};
        rc = sp_fetch(url.data, &fr, &status, &answer, &why);
    }
    json_t *doc = rc == 0 && status == 201 ? json_loadb(answer.data ? answer.data : "", answer.len,
                                                        JSON_REJECT_DUPLICATES, NULL)
                                           : NULL;
    const char *id = json_string_value(json_object_get(doc, "id"));
    if (id && strlen(id) < sizeof l->sub_id) {
        snprintf(l->sub_id, sizeof l->sub_id, "%s", id);
        l->sub_expires_at = until;
    } else {
        char reason[64];
        if (rc < 0)
            snprintf(reason, sizeof reason, "%s", why ? why : sp_err_str(rc));
        else
            snprintf(reason, sizeof reason, "answered %ld", status);
        sp_warn("remote",
                "subscribing to drive %s at %s failed (%s): the space registers without "
                "change notifications",
                l->m.drive_id, instance, reason);
    }
    json_decref(doc);
    free(body);
    sp_buf_free(&url);
    sp_buf_free(&answer);
}

/* On its own thread (sp_api__aside): asks the hosting instance. */
static void lookup_run(void *arg)
{
    lookup *l = arg;
    const char *instance = l->api->cfg->trusted_instances.items[l->m.index];
    sp_buf url = {0};
    l->rc = sp_buf_printf(&url, "%s/graph/v1.0/drives/%s", instance, l->m.drive_seg);
    if (l->rc == 0) {
        sp_fetch_req fr = {.bearer = l->bearer,
                           .timeout_ms = SP_REMOTE_FETCH_TIMEOUT_MS,
                           .max_body = SP_REMOTE_FETCH_MAX,
                           .redirects_max = 0};
        l->rc = sp_fetch(url.data, &fr, &l->status, &l->answer, &l->why);
    }
    if (l->rc == 0 && l->status == 200 && l->api->instance_key)
        subscribe(l, instance);
    if (l->rc < 0 && l->rc != SP_ERR_NOMEM)
        sp_warn("remote", "looking up %s failed: %s", url.data ? url.data : instance,
                l->why ? l->why : sp_err_str(l->rc));
    sp_buf_free(&url);
    sp_api__instance_slot_give(l->api, l->m.index);
}

/* When no thread could ask: answered as a lookup that could not be made. */
static void lookup_unstarted(void *arg)
{
    lookup *l = arg;
    l->rc = SP_ERR_UNAVAILABLE;
    l->why = "no thread to ask it with";
    sp_api__instance_slot_give(l->api, l->m.index);
}

/*
 * Reads what the hosting instance answered into *info. Returns 0, or has
 * replied (400 when the remote says the drive is not there for this
 * caller, 502 when it could not be asked or answered nonsense) and
 * returns a negative sp_err.
 */
static int lookup_outcome(sp_http_req *req, const lookup *l, const char *instance,
                          remote_info *info)
{
    const sp_instance_dav *m = &l->m;
    const char *why = l->why;
    long status = l->status;
    memset(info, 0, sizeof *info);
    if (l->rc == SP_ERR_NOMEM) {
        sp_http_reply_error(req, 500, "generalException", "out of memory");
        return SP_ERR_NOMEM;
    }
    if (l->rc < 0) {
        sp_http_reply_error(req, 502, "badGateway", "the instance %s cannot be asked: %s", instance,
                            why ? why : sp_err_str(l->rc));
        return l->rc;
    }
    if (status == 404) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "the instance %s has no drive %s that you can reach", instance,
                            m->drive_id);
        return SP_ERR_NOT_FOUND;
    }
    if (status == 401 || status == 403) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "the instance %s does not accept your token for drive %s (does it "
                            "trust your identity provider?)",
                            instance, m->drive_id);
        return SP_ERR_DENIED;
    }
    if (status != 200) {
        sp_http_reply_error(req, 502, "badGateway", "the instance %s answered %ld%s", instance,
                            status,
                            status >= 300 && status < 400 ? " (redirects are not followed)" : "");
        return SP_ERR_UNAVAILABLE;
    }
    if (parse_remote_drive(&l->answer, m->drive_id, info, &why) < 0) {
        sp_http_reply_error(req, 502, "badGateway", "the instance %s %s", instance, why);
        return SP_ERR_UNAVAILABLE;
    }
    return 0;
}

/* On an HTTP worker, once the lookup is done: registers the space and
 * answers 201, or answers why not; then frees l. */
static void lookup_answer(sp_http_req *req, void *arg)
{
    lookup *l = arg;
    sp_api *api = l->api;
    const char *instance = api->cfg->trusted_instances.items[l->m.index];
    remote_info info;
    if (lookup_outcome(req, l, instance, &info) < 0)
        goto done;
    sp_remote_new r = {.instance = instance,
                       .web_dav_url = l->url,
                       .remote_drive_id = l->m.drive_id,
                       .name = l->name ? l->name : info.name,
                       .etag = info.etag[0] ? info.etag : NULL,
                       .mtime_ms = info.mtime_ms,
                       .executant = l->user.id,
                       .sub_id = l->sub_id[0] ? l->sub_id : NULL,
                       .sub_client_state = l->client_state,
                       .sub_expires_at = l->sub_expires_at};
    char id[SP_USER_ID_LEN];
    int rc = sp_store_remote_create(api->store, &l->user, &r, id, NULL);
    /* Not registered: the subscription made for it must go again. */
    if (rc < 0 && l->sub_id[0] && sp_store_remote_unsubscribe(api->store, instance, l->sub_id) < 0)
        sp_warn("remote", "subscription %s at %s is left behind", l->sub_id, instance);
    if (rc == SP_ERR_CONFLICT) {
        sp_http_reply_error(req, 409, "nameAlreadyExists", "you registered this webDavUrl already");
        goto done;
    }
    if (rc < 0) {
        sp_api__store_error(req, api, rc);
        goto done;
    }
    sp_api__reply_created(req, api, &l->user, id, 0);
done:
    lookup_free(l);
}

/* Reads the registration body: driveType "mountpoint", an optional name and
 * root.remoteItem.webDavUrl. Returns 0 or replies 400. Strings point into
 * body. */
static int read_registration(sp_http_req *req, json_t *body, const char **name, const char **url)
{
    const char *type = json_string_value(json_object_get(body, "driveType"));
    if (!type || strcmp(type, "mountpoint") != 0) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "driveType must be \"mountpoint\" (a remote space)");
        return SP_ERR_INVALID;
    }
    json_t *n = json_object_get(body, "name");
    if (n && (!json_is_string(n) || !name_ok(json_string_value(n)))) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "name must be a string of 1 to 255 characters without control "
                            "characters");
        return SP_ERR_INVALID;
    }
    *name = n ? json_string_value(n) : NULL;
    json_t *u =
        json_object_get(json_object_get(json_object_get(body, "root"), "remoteItem"), "webDavUrl");
    if (!json_is_string(u)) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "root.remoteItem.webDavUrl (a string) is required");
        return SP_ERR_INVALID;
    }
    *url = json_string_value(u);
    return 0;
}

static void register_remote(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    json_t *body = sp_api__json_body(req);
    if (!body)
        return;
    const char *name = NULL, *url = NULL, *why = NULL;
    if (read_registration(req, body, &name, &url) < 0)
        goto fail;
    sp_instance_dav m;
    const sp_config_list *trusted = &api->cfg->trusted_instances;
    if (sp_instance_match_dav((const char *const *)trusted->items, trusted->count, url, &m, &why) <
        0) {
        sp_http_reply_error(req, 400, "invalidRequest", "root.remoteItem.webDavUrl %s", why);
        goto fail;
    }
    const char *bearer = bearer_of(req);
    lookup *l = calloc(1, sizeof *l);
    char *token = bearer ? strdup(bearer) : NULL;
    if (!l || (bearer && !token)) {
        free(l);
        free(token);
        sp_http_reply_error(req, 500, "generalException", "out of memory");
        goto fail;
    }
    if (sp_api__instance_slot_take(req, api, m.index) < 0) {
        free(l);
        free(token);
        goto fail;
    }
    *l = (lookup){
        .api = api, .user = u, .body = body, .name = name, .url = url, .m = m, .bearer = token};
    sp_api__aside(req, lookup_run, lookup_unstarted, lookup_answer, l);
    return;
fail:
    json_decref(body);
}

json_t *sp_api__remote_json(sp_api *api, const sp_drive *d)
{
    (void)api;
    char mtime[SP_TIME_RFC3339_LEN], alias[300] = "mountpoint/";
    sp_time_format_rfc3339(d->mtime_ms, mtime);
    sp_slug(d->name, alias + 11, sizeof alias - 11);
    /* An HTTP entity tag: quoted once, whether or not the instance sent
     * it quoted; empty until one is known. */
    sp_buf etag = {0};
    const char *e = d->etag ? d->etag : "";
    size_t n = strlen(e);
    int quoted = n >= 2 && e[0] == '"' && e[n - 1] == '"';
    int rc = n == 0 || quoted ? sp_buf_puts(&etag, e) : sp_buf_printf(&etag, "\"%s\"", e);
    json_t *out = NULL;
    if (rc == 0) {
        json_t *remote =
            json_pack("{s:s, s:s, s:s, s:s}", "id", d->shared_drive_id, "driveId",
                      d->shared_drive_id, "name", d->name, "webDavUrl", d->remote_web_dav_url);
        out =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:o}}", "id", d->id, "driveType",
                      "mountpoint", "driveAlias", alias, "name", d->name, "lastModifiedDateTime",
                      mtime, "root", "id", d->id, "eTag", etag.data ? etag.data : "", "webDavUrl",
                      d->remote_web_dav_url, "remoteItem", remote);
    }
    sp_buf_free(&etag);
    return out;
}

int sp_api__remote_delete(sp_http_req *req, sp_api *api, const sp_user *u, const char *id)
{
    /* Most drive ids are not remote spaces: a read says so without taking
     * the writer. */
    int rc = sp_store_remote_get(api->store, u, id, sp_api__drive_seen, NULL);
    if (rc == SP_ERR_NOT_FOUND)
        return 0;
    if (rc == 0)
        rc = sp_store_remote_remove(api->store, u, id);
    if (rc == SP_ERR_NOT_FOUND)
        return 0;
    if (rc < 0)
        sp_api__store_error(req, api, rc);
    else
        sp_http_reply_json(req, 204, NULL);
    return 1;
}

int sp_api__register_remote(sp_router *r, sp_api *api)
{
    return sp_router_add(r, "POST", "/graph/v1.0/me/drives", register_remote, api);
}
