/*
 * ocm_auth.c - who sent an Open Cloud Mesh request, and the spec's error
 * form that every answer of the OCM routes uses.
 *
 * OCM requests carry no bearer token. A request names the instance it
 * comes from (a share's sender, a notification's share, an invitation's
 * provider); what makes that claim believable is an RFC 9421 signature by
 * a key the instance publishes. Instances that sign (their discovery
 * announces http-sig or publishes keys) must always sign: otherwise anyone
 * could send in their name what they would have signed. Instances that do
 * not sign (Reva, older Nextcloud) are still served, unless the operator
 * requires signatures of everyone (SPACEPORT_OCM_REQUIRE_SIGNATURES).
 */
#include "api/internal.h"

#include "util/discovery.h"
#include "util/err.h"
#include "util/log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Seconds a peer is asked to wait when its discovery cannot be read: the
 * discovery cache fetches again on demand at most every few seconds. */
#define SP_OCM_RETRY_AFTER "5"

void sp_api__ocm_error(sp_http_req *req, int status, const char *name, const char *code,
                       const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    json_t *body = json_pack("{s:s}", "message", message);
    if (body && status == 400)
        json_object_set_new(body, "validationErrors",
                            name && code ? json_pack("[{s:s, s:s}]", "name", name, "message", code)
                                         : json_array());
    if (!body) {
        sp_http_reply(req, 500, "application/json", "{\"message\":\"out of memory\"}", 27);
        return;
    }
    sp_http_reply_json(req, (unsigned)status, body);
}

/* Refuses a request whose signature is missing or does not verify. */
static int unauthenticated(sp_http_req *req, const char *why)
{
    sp_http_add_header(req, "WWW-Authenticate", "Signature");
    sp_api__ocm_error(req, 401, NULL, NULL, "%s", why);
    return SP_ERR_UNAUTHORIZED;
}

static int unavailable(sp_http_req *req, const char *what)
{
    sp_http_add_header(req, "Retry-After", SP_OCM_RETRY_AFTER);
    sp_api__ocm_error(req, 503, NULL, NULL, "%s", what);
    return SP_ERR_UNAVAILABLE;
}

static int signed_caller(sp_http_req *req, sp_api *api, size_t claimed, sp_ocm_caller *out)
{
    size_t index = SIZE_MAX;
    const char *why = NULL;
    int rc = sp_api__peer_check(req, api, &index, &why);
    if (rc == SP_ERR_UNAVAILABLE)
        return unavailable(req, why ? why : "the signer's keys cannot be fetched now");
    if (rc == SP_ERR_NOMEM) {
        sp_api__ocm_error(req, 500, NULL, NULL, "out of memory");
        return rc;
    }
    if (rc < 0)
        return unauthenticated(req, why ? why : "the signature does not verify");
    /* A trusted instance may sign only for itself: its signature on a
     * share another instance sends would let it speak for that one. */
    if (claimed != SIZE_MAX && claimed != index) {
        sp_info("ocm", "refused a request signed by %s for %s",
                api->cfg->trusted_instances.items[index],
                api->cfg->trusted_instances.items[claimed]);
        return unauthenticated(req, "signed by another instance than the one the request names");
    }
    out->instance = index;
    out->is_signed = 1;
    return 0;
}

int sp_api__ocm_caller(sp_http_req *req, sp_api *api, size_t claimed, sp_ocm_caller *out)
{
    out->instance = SIZE_MAX;
    out->is_signed = 0;
    if (sp_api__signed(req))
        return signed_caller(req, api, claimed, out);
    if (api->cfg->ocm_require_signatures) {
        sp_info("ocm", "refused an unsigned request: signatures are required");
        return unauthenticated(req, "this instance requires signed requests");
    }
    if (claimed == SIZE_MAX || claimed >= api->cfg->trusted_instances.count) {
        sp_api__ocm_error(req, 403, NULL, NULL, "the sender's instance is not trusted here");
        return SP_ERR_DENIED;
    }
    const char *instance = api->cfg->trusted_instances.items[claimed];
    sp_peer_doc doc;
    int rc =
        api->discovery ? sp_discovery_get(api->discovery, claimed, 0, &doc) : SP_ERR_UNAVAILABLE;
    if (rc == SP_ERR_UNAVAILABLE) {
        sp_warn("ocm", "cannot read the discovery of %s to decide whether it signs", instance);
        return unavailable(req, "the sender's discovery cannot be read now");
    }
    if (rc == SP_ERR_NOMEM) {
        sp_api__ocm_error(req, 500, NULL, NULL, "out of memory");
        return rc;
    }
    /* A discovery that is not an OCM server's (disabled, or its endPoint
     * off the instance) says that instance sends no OCM requests. */
    if (rc < 0) {
        sp_info("ocm", "refused a request as from %s: its discovery is unusable", instance);
        sp_api__ocm_error(req, 403, NULL, NULL, "the sender's instance does not speak OCM");
        return SP_ERR_DENIED;
    }
    if (doc.signs || doc.requires_signatures) {
        sp_info("ocm", "refused an unsigned request as from %s, which signs its requests",
                instance);
        return unauthenticated(req,
                               "the sender's instance signs its requests: this one is not signed");
    }
    out->instance = claimed;
    return 0;
}

size_t sp_api__ocm_instance(const sp_api *api, const char *base_url)
{
    const sp_config_list *trusted = &api->cfg->trusted_instances;
    for (size_t i = 0; base_url && i < trusted->count; i++) {
        if (strcmp(trusted->items[i], base_url) == 0)
            return i;
    }
    return SIZE_MAX;
}

const char *sp_api__ocm_ident(json_t *v, size_t max)
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

json_t *sp_api__ocm_body(sp_http_req *req)
{
    /* Another instance's request, with no bearer token: its writes have
     * no Initiator-ID, whatever the thread's last request set. */
    sp_store_set_initiator(NULL);
    size_t len = 0;
    const char *text = sp_http_body(req, &len);
    char why[200] = "";
    json_t *body = sp_api__json_parse(text ? text : "", len, why, sizeof why);
    if (!body)
        sp_api__ocm_error(req, 400, NULL, NULL, "%s", why);
    return body;
}
