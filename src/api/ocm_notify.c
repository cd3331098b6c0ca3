/*
 * ocm_notify.c - POST /ocm/notifications: another instance tells us
 * something about a share between us (Open Cloud Mesh 1.2.2).
 *
 * As the recipient of a share (a remote space here): SHARE_UNSHARED (the
 * space goes), RESOURCE_CHANGED (a Spaceport extension carrying the new
 * eTag), SHARE_CHANGE_PERMISSION (Reva) and RESHARE_CHANGE_PERMISSION
 * (Nextcloud): the share grants other permissions now. As the provider of
 * a share we sent: SHARE_ACCEPTED and SHARE_DECLINED. Other types are not
 * supported (501).
 *
 * A notification names its share by providerId, the id the share's
 * provider gave it. Which share that is depends on who asks: a request
 * signed by a trusted instance reaches only the shares between us and that
 * instance; an unsigned one must carry the share's shared secret
 * (notification.sharedSecret, as Nextcloud sends it), and is then served
 * only when the instance of that share does not sign its requests
 * (ocm_auth.c), or when the share is still being delivered (the receiver
 * answered before its 201 reached us: only the receiver has the secret).
 * An unknown share and a wrong secret get the same 403
 * RESOURCE_NOT_FOUND, so the answer tells nothing about which shares
 * exist.
 */
#include "api/internal.h"

#include "store/ocm_answers.h"
#include "store/remotes.h"

#include "util/err.h"
#include "util/id.h"
#include "util/log.h"
#include "util/time.h"

#include <stdint.h>
#include <string.h>

/* Identifiers and secrets, not payloads (as for shares). */
#define SP_OCM_NOTE_ID_MAX     255
#define SP_OCM_NOTE_SECRET_MAX 256

/* What a notification type does. */
typedef enum note_kind {
    NOTE_UNSHARED,    /* to a remote space here */
    NOTE_CHANGED,     /* to a remote space here */
    NOTE_PERMISSIONS, /* to a remote space here */
    NOTE_ACCEPTED,    /* to a share sent from here */
    NOTE_DECLINED,    /* to a share sent from here */
    NOTE_UNSUPPORTED
} note_kind;

static note_kind kind_of(const char *type)
{
    static const struct {
        const char *type;
        note_kind kind;
    } kinds[] = {
        {"SHARE_UNSHARED", NOTE_UNSHARED},
        {"RESOURCE_CHANGED", NOTE_CHANGED},
        {"SHARE_CHANGE_PERMISSION", NOTE_PERMISSIONS},
        {"RESHARE_CHANGE_PERMISSION", NOTE_PERMISSIONS},
        {"SHARE_ACCEPTED", NOTE_ACCEPTED},
        {"SHARE_DECLINED", NOTE_DECLINED},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(type, kinds[i].type) == 0)
            return kinds[i].kind;
    }
    return NOTE_UNSUPPORTED;
}

static int sent_side(note_kind k)
{
    return k == NOTE_ACCEPTED || k == NOTE_DECLINED;
}

/* A notification as read (strings borrowed from the body). */
typedef struct ocm_note {
    note_kind kind;
    const char *type, *provider_id, *secret;
    const char *etag;        /* CHANGED; NULL: none sent */
    int64_t mtime_ms;        /* CHANGED; 0: none sent */
    const char *permissions; /* PERMISSIONS: "read" or "read,write" */
} ocm_note;

static void not_found(sp_http_req *req)
{
    sp_api__ocm_error(req, 403, NULL, NULL, "RESOURCE_NOT_FOUND");
}

/* Reads the body. Returns 0, or replies 400 or 501 and returns
 * SP_ERR_INVALID. */
static int read_note(sp_http_req *req, json_t *body, ocm_note *n)
{
    memset(n, 0, sizeof *n);
    json_t *note = json_object_get(body, "notification");
    n->type = json_string_value(json_object_get(body, "notificationType"));
    n->provider_id = sp_api__ocm_ident(json_object_get(body, "providerId"), SP_OCM_NOTE_ID_MAX);
    n->secret = sp_api__ocm_ident(json_object_get(note, "sharedSecret"), SP_OCM_NOTE_SECRET_MAX);
    const char *field = !n->type ? "notificationType" : !n->provider_id ? "providerId" : NULL;
    if (field) {
        sp_api__ocm_error(req, 400, field, "REQUIRED", "%s is required", field);
        return SP_ERR_INVALID;
    }
    if (note && !json_is_object(note)) {
        sp_api__ocm_error(req, 400, "notification", "INVALID", "notification must be an object");
        return SP_ERR_INVALID;
    }
    n->kind = kind_of(n->type);
    if (n->kind == NOTE_UNSUPPORTED) {
        sp_api__ocm_error(req, 501, NULL, NULL, "notificationType %s is not supported", n->type);
        return SP_ERR_INVALID;
    }
    if (n->kind == NOTE_CHANGED) {
        json_t *etag = json_object_get(note, "eTag");
        const char *mtime = json_string_value(json_object_get(note, "lastModifiedDateTime"));
        n->etag = sp_api__ocm_ident(etag, SP_OCM_NOTE_ID_MAX);
        if ((etag && !n->etag) || (mtime && sp_time_parse_rfc3339(mtime, &n->mtime_ms) < 0)) {
            sp_api__ocm_error(req, 400,
                              etag && !n->etag ? "notification.eTag"
                                               : "notification.lastModifiedDateTime",
                              "INVALID",
                              "notification.eTag must be a short token and "
                              "notification.lastModifiedDateTime an RFC 3339 time");
            return SP_ERR_INVALID;
        }
    }
    if (n->kind == NOTE_PERMISSIONS) {
        /* Reva sends a list, Nextcloud an OCS bit mask. */
        json_t *p = json_object_get(note, "permissions");
        if (!p)
            p = json_object_get(note, "permission");
        if (!p || sp_api__ocm_permissions(p, &n->permissions) < 0) {
            sp_api__ocm_error(req, 400, "notification.permissions", p ? "INVALID" : "REQUIRED",
                              "notification.permissions (a list of read, write and share, or "
                              "an OCS permission mask) is required");
            return SP_ERR_INVALID;
        }
    }
    return 0;
}

/*
 * Decides who sends n and which instance its share belongs to: the signer
 * when signed; else the instance of the share found by providerId and
 * secret, which must be allowed to send unsigned. Returns 0 and *instance
 * (the base URL, static in the config), or replies (401, 403, 503) and
 * returns a negative sp_err.
 */
static int find_sender(sp_http_req *req, sp_api *api, const ocm_note *n, const char **instance)
{
    sp_ocm_caller caller;
    /* Signed, or unsigned where signatures are required: the check
     * answers without looking at any share. */
    if (sp_api__signed(req) || api->cfg->ocm_require_signatures) {
        if (sp_api__ocm_caller(req, api, SIZE_MAX, &caller) < 0)
            return SP_ERR_UNAUTHORIZED;
        *instance = api->cfg->trusted_instances.items[caller.instance];
        return 0;
    }
    /* Neither signed nor carrying the share's secret: nothing says who
     * sends it, whatever share it names. */
    if (!n->secret) {
        sp_http_add_header(req, "WWW-Authenticate", "Signature");
        sp_api__ocm_error(req, 401, NULL, NULL,
                          "not signed, and no notification.sharedSecret names the share");
        return SP_ERR_UNAUTHORIZED;
    }
    char found[SP_REMOTE_INSTANCE_MAX];
    int rc;
    if (sent_side(n->kind)) {
        sp_ocm_sent_ref ref = {.share_id = n->provider_id, .secret = n->secret};
        rc = sp_store_ocm_sent_instance(api->store, &ref, found);
    } else {
        sp_remote_ocm_ref ref = {.share_id = n->provider_id, .secret = n->secret};
        rc = sp_store_remote_ocm_instance(api->store, &ref, found);
    }
    /* A share we are still delivering (the receiver answered before its
     * 201 was recorded): only the receiver has the secret, and its answer
     * waits for the delivery's outcome (store/ocm_answers.h). */
    if (rc == 0 && !found[0]) {
        *instance = NULL;
        return 0;
    }
    size_t index = rc == 0 ? sp_api__ocm_instance(api, found) : SIZE_MAX;
    if (rc == SP_ERR_NOT_FOUND || (rc == 0 && index == SIZE_MAX)) {
        not_found(req);
        return SP_ERR_NOT_FOUND;
    }
    if (rc < 0) {
        sp_api__ocm_error(req, 500, NULL, NULL, "the store failed");
        return rc;
    }
    if (sp_api__ocm_caller(req, api, index, &caller) < 0)
        return SP_ERR_UNAUTHORIZED;
    *instance = NULL; /* unsigned: the secret names the share */
    return 0;
}

/* Applies n, sent by instance (NULL: unsigned, the secret names the
 * share). Returns 0, SP_ERR_NOT_FOUND or a store error. */
static int apply(sp_api *api, const ocm_note *n, const char *instance)
{
    if (sent_side(n->kind)) {
        sp_ocm_sent_ref ref = {.share_id = n->provider_id,
                               .secret = instance ? NULL : n->secret,
                               .instance = instance};
        return sp_store_ocm_answer(
            api->store, &ref,
            n->kind == NOTE_DECLINED ? SP_OCM_ANSWER_DECLINED : SP_OCM_ANSWER_ACCEPTED, NULL);
    }
    sp_remote_ocm_ref ref = {
        .instance = instance, .share_id = n->provider_id, .secret = instance ? NULL : n->secret};
    sp_remote_ocm_note what = n->kind == NOTE_UNSHARED  ? SP_REMOTE_OCM_UNSHARED
                              : n->kind == NOTE_CHANGED ? SP_REMOTE_OCM_CHANGED
                                                        : SP_REMOTE_OCM_PERMISSIONS;
    /* Without an eTag a change is still a change: a fresh one makes the
     * owner's clients look. */
    char fresh[SP_USER_ID_LEN];
    const char *etag = n->etag;
    if (what == SP_REMOTE_OCM_CHANGED && !etag) {
        if (sp_id_uuid(fresh) < 0)
            return SP_ERR_IO;
        etag = fresh;
    }
    return sp_store_remote_ocm_notify(api->store, &ref, what, etag, n->mtime_ms, n->permissions,
                                      NULL);
}

static void notification(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    json_t *body = sp_api__ocm_body(req);
    if (!body)
        return;
    ocm_note n;
    const char *instance = NULL;
    if (read_note(req, body, &n) < 0 || find_sender(req, api, &n, &instance) < 0)
        goto done;
    int rc = apply(api, &n, instance);
    if (rc == SP_ERR_NOT_FOUND) {
        sp_info("ocm", "a %s notification named no share of its sender", n.type);
        not_found(req);
    } else if (rc < 0) {
        sp_api__ocm_error(req, rc == SP_ERR_FULL ? 507 : 500, NULL, NULL, "the store failed");
    } else {
        sp_http_reply_json(req, 201, json_object());
    }
done:
    json_decref(body);
}

int sp_api__register_ocm_notifications(sp_router *r, sp_api *api)
{
    return sp_router_add(r, "POST", "/ocm/notifications", notification, api);
}
