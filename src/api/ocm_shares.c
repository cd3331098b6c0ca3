/*
 * ocm_shares.c - POST /ocm/shares: another instance announces a share
 * with one of our users (Open Cloud Mesh 1.2.2, "Share Creation
 * Notification").
 *
 * The body is read in each form current peers send: protocol "multi" with
 * a "webdav" object (the spec's, Reva's, OpenCloud's), "webdav" with a
 * "webdav" object, and Nextcloud's OCM 1.0 form "webdav" with
 * options.sharedSecret and no URI. The WebDAV URI may be relative (then
 * it lies under the WebDAV root the sender's discovery names) or absolute;
 * either way it must end up on the sender's own instance, so accepting a
 * share never points a user's client at a third host. A share whose
 * requirements we do not implement (must-use-mfa, must-exchange-token) is
 * refused, as the spec says a receiver must.
 *
 * A share is identified by its sender instance and providerId: a second
 * share of the same folder is a second remote space, and a redelivery of
 * the same share changes nothing.
 *
 * Who may ask (ocm_auth.c): a trusted instance named by the sender's
 * address, signed by that instance when it signs. What the answer tells:
 * a caller that did not sign gets the same "201 {}" whether the recipient
 * is known, unknown or ambiguous here, so the route cannot be used to find
 * out who has an account or what their name is; only a signed caller
 * learns the recipient's display name, or why the recipient was not found.
 */
#include "api/internal.h"

#include "store/remotes.h"

#include "util/discovery.h"
#include "util/err.h"
#include "util/instance.h"
#include "util/log.h"
#include "util/time.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shared secrets shorter than this are guessable (a UUID has 122 random
 * bits in 36 characters; Nextcloud's tokens are 15 characters of a
 * 62-letter alphabet, 89 bits); longer than the maximum is not a secret
 * but a payload. */
#define SP_OCM_SECRET_MIN 15
#define SP_OCM_SECRET_MAX 256
/* providerId, owner and sender are identifiers, not text. */
#define SP_OCM_ID_MAX      255
#define SP_OCM_ADDRESS_MAX 320
/* Longest share name, in characters, as drive names. */
#define SP_OCM_NAME_CHARS 255
/* Longest WebDAV URI taken: a relative one is a key, an absolute one a
 * URL as drive URLs are. */
#define SP_OCM_URI_MAX 2048

/* OCS permission bits (Nextcloud's legacy protocol.options.permissions
 * and notification.permission): read 1, update 2, create 4, delete 8,
 * share 16. */
#define SP_OCS_PERM_WRITE (2 | 4 | 8)

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

int sp_api__ocm_permissions(json_t *v, const char **out)
{
    *out = "read";
    if (json_is_array(v)) {
        size_t i;
        json_t *p;
        json_array_foreach(v, i, p)
        {
            const char *s = json_string_value(p);
            if (!s ||
                (strcmp(s, "read") != 0 && strcmp(s, "write") != 0 && strcmp(s, "share") != 0))
                return SP_ERR_INVALID;
            if (strcmp(s, "write") == 0)
                *out = "read,write";
        }
        return 0;
    }
    json_int_t mask = -1;
    if (json_is_integer(v)) {
        mask = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "read") == 0)
            return 0;
        if (strcmp(s, "read,write") == 0 || strcmp(s, "write") == 0) {
            *out = "read,write";
            return 0;
        }
        size_t digits = strspn(s, "0123456789");
        if (digits == 0 || digits > 2 || s[digits])
            return SP_ERR_INVALID;
        mask = (json_int_t)atoi(s);
    }
    if (mask < 0 || mask > 31)
        return SP_ERR_INVALID;
    if (mask & SP_OCS_PERM_WRITE)
        *out = "read,write";
    return 0;
}

/* Everything of a share body that is read before any lookup (strings
 * borrowed from the body). */
typedef struct ocm_share {
    const char *share_with, *name, *provider_id, *owner, *sender, *secret;
    const char *uri; /* NULL: the legacy form, the sender's WebDAV root */
    const char *permissions, *resource_type;
    size_t claimed; /* the sender's trusted instance, SIZE_MAX when none */
} ocm_share;

/* Replies 400 naming field with code. Returns SP_ERR_INVALID. */
static int invalid(sp_http_req *req, const char *field, const char *code, const char *why)
{
    sp_api__ocm_error(req, 400, field, code, "%s %s", field, why);
    return SP_ERR_INVALID;
}

/* Replies 501: something the spec lets us not support. */
static int unsupported(sp_http_req *req, const char *what)
{
    sp_api__ocm_error(req, 501, NULL, NULL, "%s", what);
    return SP_ERR_INVALID;
}

/* Reads protocol: its form, secret, URI, permissions and requirements. */
static int read_protocol(sp_http_req *req, json_t *protocol, ocm_share *s)
{
    if (!json_is_object(protocol))
        return invalid(req, "protocol", "REQUIRED", "(an object) is required");
    const char *name = json_string_value(json_object_get(protocol, "name"));
    json_t *webdav = json_object_get(protocol, "webdav");
    json_t *options = json_object_get(protocol, "options");
    /* "multi" names its protocols by their keys; a named protocol other
     * than webdav is one we cannot use. Peers with the protocol-object
     * capability may leave the name out. */
    if (name && strcmp(name, "multi") != 0 && strcmp(name, "webdav") != 0)
        return unsupported(req, "only the webdav protocol is supported");
    if (!webdav && (!name || strcmp(name, "webdav") != 0 || !json_is_object(options)))
        return unsupported(req, "the share offers no webdav access");
    if (webdav && !json_is_object(webdav))
        return invalid(req, "protocol.webdav", "INVALID", "must be an object");
    json_t *secret = json_object_get(webdav, "sharedSecret");
    if (!secret)
        secret = json_object_get(options, "sharedSecret");
    s->secret = sp_api__ocm_ident(secret, SP_OCM_SECRET_MAX);
    if (!s->secret || strlen(s->secret) < SP_OCM_SECRET_MIN)
        return invalid(req, "protocol.webdav.sharedSecret", secret ? "INVALID" : "REQUIRED",
                       "(15 to 256 printable characters) is required");
    json_t *req_v = json_object_get(webdav, "requirements");
    if (req_v && !json_is_array(req_v))
        return invalid(req, "protocol.webdav.requirements", "INVALID", "must be an array");
    if (json_array_size(req_v) > 0) {
        sp_info("ocm", "refused a share with requirements this instance does not implement");
        return invalid(req, "protocol.webdav.requirements", "NOT_SUPPORTED",
                       "names requirements this instance does not implement");
    }
    json_t *perm = webdav ? json_object_get(webdav, "permissions") : NULL;
    s->permissions = "read";
    if (perm && sp_api__ocm_permissions(perm, &s->permissions) < 0)
        return invalid(req, "protocol.webdav.permissions", "INVALID",
                       "must be a list of read, write and share");
    /* OCM 1.0's options.permissions has no defined form ("some
     * permissions scheme" in the spec's example): what we cannot read
     * grants reading only. */
    if (!perm &&
        sp_api__ocm_permissions(json_object_get(options, "permissions"), &s->permissions) < 0)
        s->permissions = "read";
    if (!webdav) {
        s->uri = NULL; /* OCM 1.0: the sender's WebDAV root, the secret its user */
        return 0;
    }
    json_t *uri = json_object_get(webdav, "uri");
    s->uri = json_string_value(uri);
    if (!s->uri || !*s->uri || strlen(s->uri) > SP_OCM_URI_MAX)
        return invalid(req, "protocol.webdav.uri", uri ? "INVALID" : "REQUIRED",
                       "(a key or a URL) is required");
    return 0;
}

/* Validates a share body. Returns 0, or replies 400 (malformed) or 501
 * (a share type, resource type or protocol not supported) and returns a
 * negative sp_err. */
static int read_share(sp_http_req *req, sp_api *api, json_t *body, ocm_share *s)
{
    const sp_config_list *trusted = &api->cfg->trusted_instances;
    memset(s, 0, sizeof *s);
    s->claimed = SIZE_MAX;
    const char *share_type = json_string_value(json_object_get(body, "shareType"));
    s->resource_type = json_string_value(json_object_get(body, "resourceType"));
    s->share_with = sp_api__ocm_ident(json_object_get(body, "shareWith"), SP_OCM_ADDRESS_MAX);
    s->name = share_name(json_object_get(body, "name"));
    s->provider_id = sp_api__ocm_ident(json_object_get(body, "providerId"), SP_OCM_ID_MAX);
    s->owner = sp_api__ocm_ident(json_object_get(body, "owner"), SP_OCM_ADDRESS_MAX);
    json_t *sender = json_object_get(body, "sender");
    /* Nextcloud before 30 names the sender sharedBy only. */
    s->sender =
        sp_api__ocm_ident(sender ? sender : json_object_get(body, "sharedBy"), SP_OCM_ADDRESS_MAX);
    json_t *expiration = json_object_get(body, "expiration");
    if (!s->share_with)
        return invalid(req, "shareWith", "REQUIRED", "(user@host) is required");
    if (!s->name)
        return invalid(req, "name", "REQUIRED", "(1 to 255 characters) is required");
    if (!s->provider_id)
        return invalid(req, "providerId", "REQUIRED", "is required");
    if (!s->owner || !strchr(s->owner, '@'))
        return invalid(req, "owner", "REQUIRED", "(user@host) is required");
    if (!s->sender || !strchr(s->sender, '@'))
        return invalid(req, "sender", "REQUIRED", "(user@host) is required");
    if (!share_type)
        return invalid(req, "shareType", "REQUIRED", "is required");
    if (!s->resource_type)
        return invalid(req, "resourceType", "REQUIRED", "is required");
    /* Compared in seconds: a peer's integer times 1000 may overflow. */
    if (expiration &&
        (!json_is_integer(expiration) || json_integer_value(expiration) <= sp_time_now_ms() / 1000))
        return invalid(req, "expiration", "INVALID",
                       "must be a time in the future, in seconds since the epoch");
    if (strcmp(share_type, "user") != 0)
        return unsupported(req, "only shares with a user are supported");
    if (strcmp(s->resource_type, "file") != 0 && strcmp(s->resource_type, "folder") != 0)
        return unsupported(req, "only files and folders are supported");
    int rc = read_protocol(req, json_object_get(body, "protocol"), s);
    if (rc < 0)
        return rc;
    size_t index;
    if (sp_instance_by_address((const char *const *)trusted->items, trusted->count, s->sender,
                               &index) == 0)
        s->claimed = index;
    return 0;
}

/* A relative URI: a key or a path below the sender's WebDAV root, never
 * one that climbs out of it or names another authority. */
static int relative_ok(const char *uri)
{
    if (strstr(uri, "://") || strpbrk(uri, "?#\\") || uri[0] == '/')
        return 0;
    for (const unsigned char *c = (const unsigned char *)uri; *c; c++) {
        if (*c <= 0x20 || *c >= 0x7f)
            return 0;
    }
    return 1;
}

/*
 * Writes the absolute WebDAV URL of s to url: the URI as sent when it is
 * absolute; else the sender's discovery origin, its WebDAV root, and the
 * relative URI, joined with one '/' each. The result must lie on the
 * sender's instance. Returns 0, or replies (400, 503) and returns a
 * negative sp_err.
 */
static int resolve_uri(sp_http_req *req, sp_api *api, const ocm_share *s, sp_buf *url)
{
    const sp_config_list *trusted = &api->cfg->trusted_instances;
    int rc = 0;
    if (s->uri && strstr(s->uri, "://")) {
        rc = sp_buf_puts(url, s->uri);
    } else {
        if (s->uri && !relative_ok(s->uri))
            return invalid(req, "protocol.webdav.uri", "INVALID",
                           "must be a URL or a relative path without '.', '..', query or "
                           "fragment");
        sp_peer_doc doc;
        int got = api->discovery ? sp_discovery_get(api->discovery, s->claimed, 0, &doc)
                                 : SP_ERR_UNAVAILABLE;
        if (got == SP_ERR_UNAVAILABLE) {
            sp_http_add_header(req, "Retry-After", "5");
            sp_api__ocm_error(req, 503, NULL, NULL,
                              "the sender's discovery cannot be read to resolve the share's URI");
            return got;
        }
        if (got < 0 || !doc.webdav[0])
            return invalid(req, "protocol.webdav.uri", "INVALID",
                           "is relative, and the sender's discovery names no WebDAV root");
        const char *root = doc.webdav;
        /* The root is a path on the endPoint's host (OCM 1.2.2: "the
         * prefix exposed by the discovery"), or a URL of its own. */
        if (!strstr(root, "://"))
            rc = sp_buf_printf(url, "%s%s%s", doc.origin, root[0] == '/' ? "" : "/", root);
        else
            rc = sp_buf_puts(url, root);
        if (rc == 0 && s->uri) {
            while (url->len > 0 && url->data[url->len - 1] == '/')
                url->data[--url->len] = '\0';
            rc = sp_buf_printf(url, "/%s", s->uri);
        }
    }
    if (rc < 0) {
        sp_api__ocm_error(req, 500, NULL, NULL, "out of memory");
        return rc;
    }
    size_t index;
    const char *why = NULL;
    if (sp_instance_match_url((const char *const *)trusted->items, trusted->count, url->data,
                              &index, &why) < 0)
        return invalid(req, "protocol.webdav.uri", "INVALID", why);
    if (index != s->claimed)
        return invalid(req, "protocol.webdav.uri", "INVALID", "is not on the sender's instance");
    return 0;
}

/*
 * Finds the local user a share is for: "username@<this instance's host>",
 * or else a verified e-mail address. Returns 0, SP_ERR_NOT_FOUND,
 * SP_ERR_CONFLICT (several users) or another negative sp_err; replies
 * nothing.
 */
static int find_recipient(sp_api *api, const char *share_with, sp_user *u)
{
    char key[SP_OCM_ADDRESS_MAX + 1];
    snprintf(key, sizeof key, "%s", share_with);
    if (sp_instance_address_is(api->cfg->public_url, share_with)) {
        *strrchr(key, '@') = '\0';
        return sp_store_user_by_username(api->store, key, u);
    }
    return sp_store_user_by_email(api->store, key, u); /* compared in lower case */
}

/* Why a share is not taken. */
enum not_taken_why { NO_RECIPIENT, AMBIGUOUS_RECIPIENT, ID_TAKEN };

/* Answers a share that is not taken: a signed caller learns why, an
 * unsigned one the same 201 {} a taken share gets. */
static void not_taken(sp_http_req *req, const sp_ocm_caller *c, const ocm_share *s,
                      enum not_taken_why why)
{
    if (!c->is_signed) {
        sp_info("ocm", "dropped a share from %s: %s", s->sender,
                why == NO_RECIPIENT          ? "no such recipient here"
                : why == AMBIGUOUS_RECIPIENT ? "the recipient names several users here"
                                             : "its providerId belongs to another share");
        sp_http_reply_json(req, 201, json_object());
    } else if (why == NO_RECIPIENT) {
        invalid(req, "shareWith", "NOT_FOUND", "names no user here");
    } else if (why == AMBIGUOUS_RECIPIENT) {
        invalid(req, "shareWith", "AMBIGUOUS", "names users of several identity providers here");
    } else {
        invalid(req, "providerId", "INVALID", "is already shared with another user or secret");
    }
}

static void create_share(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    json_t *body = sp_api__ocm_body(req);
    if (!body)
        return;
    ocm_share s;
    sp_ocm_caller caller;
    sp_buf url = {0};
    if (read_share(req, api, body, &s) < 0)
        goto done;
    /* A sender address on no trusted instance is refused even when some
     * trusted instance signed: it may speak only for its own users. */
    if (s.claimed == SIZE_MAX && sp_api__signed(req)) {
        sp_api__ocm_error(req, 403, NULL, NULL, "the sender's instance is not trusted here");
        goto done;
    }
    if (sp_api__ocm_caller(req, api, s.claimed, &caller) < 0 || resolve_uri(req, api, &s, &url) < 0)
        goto done;
    sp_user u;
    int rc = find_recipient(api, s.share_with, &u);
    if (rc == SP_ERR_NOT_FOUND || rc == SP_ERR_CONFLICT) {
        not_taken(req, &caller, &s, rc == SP_ERR_NOT_FOUND ? NO_RECIPIENT : AMBIGUOUS_RECIPIENT);
        goto done;
    }
    if (rc < 0) {
        sp_api__ocm_error(req, rc == SP_ERR_FULL ? 507 : 500, NULL, NULL, "the store failed");
        goto done;
    }
    sp_instance_dav dav;
    const char *why = NULL;
    const sp_config_list *trusted = &api->cfg->trusted_instances;
    /* A Spaceport's item URL names the drive; other servers' URLs name
     * the share, whose id is the providerId. */
    int spaceport = sp_instance_match_dav((const char *const *)trusted->items, trusted->count,
                                          url.data, &dav, &why) == 0;
    sp_remote_new r = {.instance = trusted->items[s.claimed],
                       .web_dav_url = url.data,
                       .remote_drive_id = spaceport ? dav.drive_id : s.provider_id,
                       .name = s.name,
                       .executant = s.sender,
                       .ocm_share_id = s.provider_id,
                       .ocm_secret = s.secret,
                       .permissions = s.permissions,
                       .resource_type = s.resource_type};
    char id[SP_USER_ID_LEN];
    rc = sp_store_remote_create(api->store, &u, &r, id, NULL);
    if (rc == SP_ERR_CONFLICT)
        not_taken(req, &caller, &s, ID_TAKEN);
    else if (rc < 0)
        sp_api__ocm_error(req, rc == SP_ERR_FULL ? 507 : 500, NULL, NULL, "the store failed");
    else if (caller.is_signed)
        sp_http_reply_json(req, 201, json_pack("{s:s}", "recipientDisplayName", u.display_name));
    else
        sp_http_reply_json(req, 201, json_object());
done:
    sp_buf_free(&url);
    json_decref(body);
}

int sp_api__register_ocm_shares(sp_router *r, sp_api *api)
{
    return sp_router_add(r, "POST", "/ocm/shares", create_share, api);
}
