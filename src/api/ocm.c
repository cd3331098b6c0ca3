/*
 * ocm.c - Open Cloud Mesh discovery: /.well-known/ocm (and /ocm-provider,
 * which OCM 1.2.2 still names), /.well-known/jwks.json, and the OCM routes'
 * registration (the shares in ocm_shares.c, notifications in
 * ocm_notify.c, who sent a request in ocm_auth.c).
 *
 * The document says what this instance speaks, in the words of the
 * version it announces (apiVersion 1.2.2): file and folder shares with a
 * user over WebDAV, where relative URIs lie under /dav/spaces/ of our
 * host; the capabilities; the criterion http-request-signatures when
 * every request must be signed; the instance's public keys (publicKeys,
 * the deprecated publicKey for Spaceports of the previous version, and
 * the JWKS draft-05 peers look for). notificationTypes is our own
 * member: the notification types /ocm/notifications understands, so that
 * a Spaceport sends its extensions (RESOURCE_CHANGED,
 * SHARE_CHANGE_PERMISSION) only to peers that take them.
 */
#include "api/internal.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/httpsig.h"
#include "util/url.h"

#include <stdio.h>
#include <string.h>

/* The OCM version whose discovery and share fields we speak. */
#define SP_OCM_API_VERSION "1.2.2"
/* Where our items are, under the DAV URL: a relative share URI is an
 * item id below it. */
#define SP_OCM_WEBDAV_PATH "/dav/spaces/"

/* {"keyId", "publicKeyPem"[, "algorithm"]} of k (new reference). */
static json_t *public_key(const sp_httpsig_key *k, int with_alg)
{
    sp_buf pem = {0};
    json_t *out = NULL;
    if (sp_httpsig_key_public_pem(k, &pem) == 0)
        out = json_pack("{s:s, s:s}", "keyId", sp_httpsig_key_id(k), "publicKeyPem", pem.data);
    if (out && with_alg)
        json_object_set_new(out, "algorithm", json_string(sp_httpsig_key_alg(k)));
    sp_buf_free(&pem);
    return out;
}

/* Publishes the instance's keys: publicKeys (OCM 1.2: the key that signs
 * now, and the one being retired, so that peers that cached it before a
 * rotation find the new one and still accept requests signed just
 * before) and publicKey (the deprecated single key, which Spaceports of
 * the previous version read). */
static void add_public_keys(sp_api *api, json_t *doc)
{
    if (!doc || !api->instance_key)
        return;
    json_t *keys = json_array();
    json_object_set_new(doc, "publicKey", public_key(api->instance_key, 0));
    json_array_append_new(keys, public_key(api->instance_key, 1));
    if (api->instance_key_previous)
        json_array_append_new(keys, public_key(api->instance_key_previous, 1));
    json_object_set_new(doc, "publicKeys", keys);
}

/* protocols.webdav: the path of our items on the endPoint's host, or
 * their whole URL when the DAV URL is on another host (relative URIs
 * resolve against the endPoint's origin). */
static int webdav_root(const sp_config *cfg, sp_buf *out)
{
    sp_url pub, dav;
    const char *why = NULL;
    if (sp_url_parse(cfg->public_url, &pub, &why) < 0 || sp_url_parse(cfg->dav_url, &dav, &why) < 0)
        return SP_ERR_INVALID;
    int same = strcmp(pub.scheme, dav.scheme) == 0 && strcmp(pub.host, dav.host) == 0 &&
               pub.port == dav.port;
    return sp_buf_printf(out, "%s%s", same ? dav.path : cfg->dav_url, SP_OCM_WEBDAV_PATH);
}

static json_t *resource_type(const char *name, const char *webdav)
{
    return json_pack("{s:s, s:[s], s:{s:s}}", "name", name, "shareTypes", "user", "protocols",
                     "webdav", webdav);
}

static void discovery(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_buf endpoint = {0}, webdav = {0};
    json_t *doc = NULL;
    if (sp_buf_printf(&endpoint, "%s/ocm", api->cfg->public_url) == 0 &&
        webdav_root(api->cfg, &webdav) == 0)
        doc = json_pack(
            "{s:b, s:s, s:s, s:s, s:[o, o], s:[s, s, s, s, s], s:o, s:[s, s, s, s, s, s]}",
            "enabled", 1, "apiVersion", SP_OCM_API_VERSION, "endPoint", endpoint.data, "provider",
            "Spaceport", "resourceTypes", resource_type("file", webdav.data),
            resource_type("folder", webdav.data), "capabilities", "notifications", "invites",
            "http-sig", "webdav-uri", "protocol-object", "criteria",
            api->cfg->ocm_require_signatures ? json_pack("[s]", "http-request-signatures")
                                             : json_array(),
            "notificationTypes", "SHARE_ACCEPTED", "SHARE_DECLINED", "SHARE_UNSHARED",
            "SHARE_CHANGE_PERMISSION", "RESHARE_CHANGE_PERMISSION", "RESOURCE_CHANGED");
    sp_buf_free(&endpoint);
    sp_buf_free(&webdav);
    if (!doc) {
        sp_api__ocm_error(req, 500, NULL, NULL, "the discovery document cannot be built");
        return;
    }
    add_public_keys(api, doc);
    sp_http_add_header(req, "Access-Control-Allow-Origin", "*");
    sp_http_reply_json(req, 200, doc);
}

/* The instance's public keys as a JWK Set (RFC 7517), where OCM draft-05
 * peers look for them: the key that signs now and the one being retired. */
static void jwks(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    const sp_httpsig_key *keys[] = {api->instance_key, api->instance_key_previous};
    sp_buf out = {0};
    int rc = sp_buf_puts(&out, "{\"keys\":[");
    for (size_t i = 0, n = 0; rc == 0 && i < 2; i++) {
        if (!keys[i])
            continue;
        if (n++ > 0)
            rc = sp_buf_puts(&out, ",");
        if (rc == 0)
            rc = sp_httpsig_key_jwk(keys[i], &out);
    }
    if (rc == 0)
        rc = sp_buf_puts(&out, "]}");
    if (rc < 0) {
        sp_api__ocm_error(req, 500, NULL, NULL, "out of memory");
    } else {
        sp_http_add_header(req, "Access-Control-Allow-Origin", "*");
        sp_http_reply(req, 200, "application/json", out.data, out.len);
    }
    sp_buf_free(&out);
}

int sp_api__register_ocm(sp_router *r, sp_api *api)
{
    int rc = sp_router_add(r, "GET", "/.well-known/ocm", discovery, api);
    if (rc == 0)
        rc = sp_router_add(r, "GET", "/ocm-provider", discovery, api);
    if (rc == 0)
        rc = sp_router_add(r, "GET", "/.well-known/jwks.json", jwks, api);
    if (rc == 0)
        rc = sp_api__register_ocm_shares(r, api);
    if (rc == 0)
        rc = sp_api__register_ocm_notifications(r, api);
    return rc;
}
