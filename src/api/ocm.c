/*
 * ocm.c - Open Cloud Mesh between instances: discovery
 * (/.well-known/ocm, /ocm-provider), POST /ocm/shares (another instance
 * announces a share with one of our users) and POST /ocm/notifications
 * (it says the share was revoked or its resource changed).
 *
 * These routes carry no bearer token. A share is accepted only when its
 * sender names a trusted instance (SPACEPORT_TRUSTED_INSTANCES), its
 * webdav URI lies under that same instance, and it carries a shared
 * secret; every later notification must present that secret. So the
 * worst an untrusted party can do is fail: it can neither reach our users
 * nor make us connect anywhere, since accepting a share opens no
 * connection.
 */
#include "api/internal.h"

#include "store/remotes.h"

#include "util/err.h"
#include "util/httpsig.h"
#include "util/id.h"
#include "util/instance.h"
#include "util/time.h"

#include <stdio.h>
#include <string.h>

/* The OCM version whose discovery and share fields we speak. */
#define SP_OCM_API_VERSION "1.1.0"
/* Shared secrets shorter than this are guessable (a UUID has 122 random
 * bits in 36 characters); longer than the maximum is not a secret but a
 * payload. */
#define SP_OCM_SECRET_MIN 16
#define SP_OCM_SECRET_MAX 256
/* providerId, owner and sender are identifiers, not text. */
#define SP_OCM_ID_MAX      255
#define SP_OCM_ADDRESS_MAX 320
/* Longest share name, in characters, as drive names. */
#define SP_OCM_NAME_CHARS 255

/* {"keyId", "publicKeyPem"} of k, as the OCM discovery's publicKey. */
static json_t *public_key(const sp_httpsig_key *k)
{
    sp_buf pem = {0};
    json_t *out = NULL;
    if (sp_httpsig_key_public_pem(k, &pem) == 0)
        out = json_pack("{s:s, s:s}", "keyId", sp_httpsig_key_id(k), "publicKeyPem", pem.data);
    sp_buf_free(&pem);
    return out;
}

/* Publishes the instance's keys: publicKey (the OCM field, the key that
 * signs now) and publicKeys (also the key being retired, so that peers
 * that cached it before a rotation find the new one and still accept
 * requests signed just before). */
static void add_public_keys(sp_api *api, json_t *doc)
{
    if (!doc || !api->instance_key)
        return;
    json_t *keys = json_array();
    json_object_set_new(doc, "publicKey", public_key(api->instance_key));
    json_array_append_new(keys, public_key(api->instance_key));
    if (api->instance_key_previous)
        json_array_append_new(keys, public_key(api->instance_key_previous));
    json_object_set_new(doc, "publicKeys", keys);
}

static void discovery(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    char endpoint[2200];
    snprintf(endpoint, sizeof endpoint, "%s/ocm", api->cfg->public_url);
    json_t *doc = json_pack("{s:b, s:s, s:s, s:s, s:[{s:s, s:[s], s:{s:s}}], s:[s]}", "enabled", 1,
                            "apiVersion", SP_OCM_API_VERSION, "endPoint", endpoint, "provider",
                            "Spaceport", "resourceTypes", "name", "folder", "shareTypes", "user",
                            "protocols", "webdav", "/dav/ocm", "capabilities", "notifications");
    add_public_keys(api, doc);
    sp_http_add_header(req, "Access-Control-Allow-Origin", "*");
    sp_http_reply_json(req, 200, doc);
}

/* A printable ASCII string of 1..max bytes, or NULL. */
static const char *ident(json_t *v, size_t max)
{
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) > max)
        return NULL;
    for (const char *c = s; *c; c++) {
        if (*c <= 0x20 || *c >= 0x7f)
            return NULL;
    }
    return s;
}

/* A name of 1..SP_OCM_NAME_CHARS characters without control characters. */
static const char *share_name(json_t *v)
{
    const char *s = json_string_value(v);
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return NULL;
        chars += (*p & 0xc0) != 0x80;
    }
    return chars > 0 && chars <= SP_OCM_NAME_CHARS ? s : NULL;
}

/* The shared secret of a share body: protocol.webdav.sharedSecret (OCM
 * 1.1) or protocol.options.sharedSecret (OCM 1.0). */
static const char *share_secret(json_t *protocol)
{
    json_t *v = json_object_get(json_object_get(protocol, "webdav"), "sharedSecret");
    if (!v)
        v = json_object_get(json_object_get(protocol, "options"), "sharedSecret");
    const char *s = ident(v, SP_OCM_SECRET_MAX);
    return s && strlen(s) >= SP_OCM_SECRET_MIN ? s : NULL;
}

/*
 * Finds the local user a share is for: "username@<this instance's host>",
 * or else a verified e-mail address. Returns 0, or replies (400 unknown or
 * ambiguous user, 500) and returns a negative sp_err.
 */
static int find_recipient(sp_http_req *req, sp_api *api, const char *share_with, sp_user *u)
{
    char key[SP_OCM_ADDRESS_MAX + 1];
    snprintf(key, sizeof key, "%s", share_with);
    int rc;
    if (sp_instance_address_is(api->cfg->public_url, share_with)) {
        *strrchr(key, '@') = '\0';
        rc = sp_store_user_by_username(api->store, key, u);
    } else {
        rc = sp_store_user_by_email(api->store, key, u); /* compared in lower case */
    }
    if (rc == SP_ERR_NOT_FOUND)
        sp_http_reply_error(req, 400, "invalidRequest", "shareWith: no user %s here", share_with);
    else if (rc == SP_ERR_CONFLICT)
        sp_http_reply_error(req, 400, "invalidRequest",
                            "shareWith: %s names users of several identity providers here",
                            share_with);
    else if (rc < 0)
        sp_api__store_error(req, rc);
    return rc;
}

/* Everything of a share body that is checked before any lookup. */
typedef struct ocm_share {
    const char *share_with, *name, *provider_id, *owner, *sender, *secret, *uri;
    size_t instance; /* index of the sender's trusted instance */
    sp_instance_dav dav;
} ocm_share;

/* Validates a share body. Returns 0, or replies 400 (malformed) or 403
 * (sender not trusted) and returns a negative sp_err. */
static int read_share(sp_http_req *req, sp_api *api, json_t *body, ocm_share *s)
{
    const sp_config_list *trusted = &api->cfg->trusted_instances;
    const char *problem = NULL;
    json_t *protocol = json_object_get(body, "protocol");
    const char *share_type = json_string_value(json_object_get(body, "shareType"));
    const char *resource_type = json_string_value(json_object_get(body, "resourceType"));
    const char *protocol_name = json_string_value(json_object_get(protocol, "name"));
    memset(s, 0, sizeof *s);
    s->share_with = ident(json_object_get(body, "shareWith"), SP_OCM_ADDRESS_MAX);
    s->name = share_name(json_object_get(body, "name"));
    s->provider_id = ident(json_object_get(body, "providerId"), SP_OCM_ID_MAX);
    s->owner = ident(json_object_get(body, "owner"), SP_OCM_ADDRESS_MAX);
    s->sender = ident(json_object_get(body, "sender"), SP_OCM_ADDRESS_MAX);
    s->secret = share_secret(protocol);
    s->uri = json_string_value(json_object_get(json_object_get(protocol, "webdav"), "uri"));
    if (!s->share_with)
        problem = "shareWith (user@host or an e-mail address) is required";
    else if (!s->name)
        problem = "name (1 to 255 characters) is required";
    else if (!s->provider_id)
        problem = "providerId is required";
    else if (!s->owner || !strchr(s->owner, '@'))
        problem = "owner (user@host) is required";
    else if (!s->sender || !strchr(s->sender, '@'))
        problem = "sender (user@host) is required";
    else if (!share_type || strcmp(share_type, "user") != 0)
        problem = "shareType must be \"user\"";
    else if (!resource_type || strcmp(resource_type, "folder") != 0)
        problem = "resourceType must be \"folder\"";
    else if (protocol_name && strcmp(protocol_name, "webdav") != 0)
        problem = "protocol.name must be \"webdav\"";
    if (problem) {
        sp_http_reply_error(req, 400, "invalidRequest", "%s", problem);
        return SP_ERR_INVALID;
    }
    if (sp_instance_by_address((const char *const *)trusted->items, trusted->count, s->sender,
                               &s->instance) < 0) {
        sp_http_reply_error(req, 403, "accessDenied", "the sender's instance is not trusted here");
        return SP_ERR_DENIED;
    }
    if (!s->secret) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "protocol.webdav.sharedSecret (%d to %d characters) is required",
                            SP_OCM_SECRET_MIN, SP_OCM_SECRET_MAX);
        return SP_ERR_INVALID;
    }
    const char *why = NULL;
    if (!s->uri)
        why = "is required";
    else if (sp_instance_match_dav((const char *const *)trusted->items, trusted->count, s->uri,
                                   &s->dav, &why) == 0 &&
             !sp_instance_address_is(trusted->items[s->dav.index], s->sender))
        why = "is not on the sender's instance";
    if (why) {
        sp_http_reply_error(req, 400, "invalidRequest", "protocol.webdav.uri %s", why);
        return SP_ERR_INVALID;
    }
    return 0;
}

static void create_share(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    /* Another instance's request, with no bearer token: its writes have
     * no Initiator-ID, whatever the thread's last request set. */
    sp_store_set_initiator(NULL);
    json_t *body = sp_api__json_body(req);
    if (!body)
        return;
    ocm_share s;
    sp_user u;
    if (read_share(req, api, body, &s) < 0 || find_recipient(req, api, s.share_with, &u) < 0)
        goto done;
    const sp_config_list *trusted = &api->cfg->trusted_instances;
    sp_remote_new r = {.instance = trusted->items[s.dav.index],
                       .web_dav_url = s.uri,
                       .remote_drive_id = s.dav.drive_id,
                       .name = s.name,
                       .executant = s.sender,
                       .ocm_share_id = s.provider_id,
                       .ocm_secret = s.secret};
    char id[SP_USER_ID_LEN];
    int rc = sp_store_remote_create(api->store, &u, &r, id, NULL);
    if (rc == SP_ERR_CONFLICT) {
        sp_http_reply_error(req, 409, "conflict",
                            "providerId %s is already shared with another user or secret",
                            s.provider_id);
        goto done;
    }
    if (rc < 0) {
        sp_api__store_error(req, rc);
        goto done;
    }
    sp_http_reply_json(req, 201, json_pack("{s:s}", "recipientDisplayName", u.display_name));
done:
    json_decref(body);
}

static void notification(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    /* Another instance's request, with no bearer token: its writes have
     * no Initiator-ID, whatever the thread's last request set. */
    sp_store_set_initiator(NULL);
    json_t *body = sp_api__json_body(req);
    if (!body)
        return;
    const char *type = json_string_value(json_object_get(body, "notificationType"));
    const char *provider_id = ident(json_object_get(body, "providerId"), SP_OCM_ID_MAX);
    json_t *note = json_object_get(body, "notification");
    const char *secret = ident(json_object_get(note, "sharedSecret"), SP_OCM_SECRET_MAX);
    json_t *etag_v = json_object_get(note, "eTag");
    const char *etag = ident(etag_v, SP_OCM_ID_MAX);
    const char *mtime_s = json_string_value(json_object_get(note, "lastModifiedDateTime"));
    int64_t mtime = 0;
    sp_remote_ocm_note what;
    if (!type || !provider_id || !secret) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "notificationType, providerId and notification.sharedSecret are "
                            "required");
        goto done;
    }
    if (strcmp(type, "SHARE_UNSHARED") == 0) {
        what = SP_REMOTE_OCM_UNSHARED;
    } else if (strcmp(type, "RESOURCE_CHANGED") == 0) {
        what = SP_REMOTE_OCM_CHANGED;
    } else {
        sp_http_reply_error(req, 501, "notSupported", "notificationType %s is not supported", type);
        goto done;
    }
    if ((etag_v && !etag) || (mtime_s && sp_time_parse_rfc3339(mtime_s, &mtime) < 0)) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "notification.eTag must be a short token and "
                            "notification.lastModifiedDateTime an RFC 3339 time");
        goto done;
    }
    /* Without an eTag a change is still a change: a fresh one makes the
     * owner's clients look. */
    char fresh[SP_USER_ID_LEN];
    if (what == SP_REMOTE_OCM_CHANGED && !etag) {
        if (sp_id_uuid(fresh) < 0) {
            sp_api__store_error(req, SP_ERR_IO);
            goto done;
        }
        etag = fresh;
    }
    sp_remote_ocm_ref ref = {.share_id = provider_id, .secret = secret};
    int rc = sp_store_remote_ocm_notify(api->store, &ref, what, etag, mtime, NULL, NULL);
    if (rc == SP_ERR_NOT_FOUND)
        sp_http_reply_error(req, 403, "accessDenied", "no share %s with that secret", provider_id);
    else if (rc < 0)
        sp_api__store_error(req, rc);
    else
        sp_http_reply_json(req, 201, json_object());
done:
    json_decref(body);
}

int sp_api__register_ocm(sp_router *r, sp_api *api)
{
    int rc = sp_router_add(r, "GET", "/.well-known/ocm", discovery, api);
    if (rc == 0)
        rc = sp_router_add(r, "GET", "/ocm-provider", discovery, api);
    if (rc == 0)
        rc = sp_router_add(r, "POST", "/ocm/shares", create_share, api);
    if (rc == 0)
        rc = sp_router_add(r, "POST", "/ocm/notifications", notification, api);
    return rc;
}
