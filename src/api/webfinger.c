/*
 * webfinger.c - GET /.well-known/webfinger (RFC 7033) for acct: resources.
 *
 * A client that knows only an address (marie@paris.test) asks any
 * instance which identity provider serves that domain
 * (SPACEPORT_DOMAIN_ISSUERS) and, once it holds a token, which registry to
 * use. The answer is public and cacheable by browsers of any origin, so it
 * carries Access-Control-Allow-Origin: * and nothing that depends on the
 * caller beyond the one registry link.
 */
#include "api/internal.h"

#include "util/err.h"

#include <string.h>
#include <strings.h>

#define REL_ISSUER   "http://openid.net/specs/connect/1.0/issuer"
#define REL_REGISTRY "http://webfinger.spaceport/rel/registry"
/* Longest resource accepted: an address is at most 320 bytes (RFC 5321)
 * plus "acct:". */
#define SP_WEBFINGER_RESOURCE_MAX 330
/* How long clients may cache the answer: the domain mapping changes only
 * with the configuration. */
#define SP_WEBFINGER_MAX_AGE "max-age=300"

/* The user part of an acct: URI (RFC 7565): unreserved, sub-delims and
 * percent escapes. */
static int user_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("-._~!$&'()*+,;=%", c) != NULL;
}

/*
 * Splits "acct:user@host" into a lower-case host (hostlen bytes). Returns 0
 * or SP_ERR_INVALID with *why set.
 */
static int parse_acct(const char *resource, char *host, size_t hostlen, const char **why)
{
    if (strlen(resource) > SP_WEBFINGER_RESOURCE_MAX) {
        *why = "resource is too long";
        return SP_ERR_INVALID;
    }
    if (strncasecmp(resource, "acct:", 5) != 0) {
        *why = "resource must be an acct: URI (acct:user@host)";
        return SP_ERR_INVALID;
    }
    const char *user = resource + 5;
    const char *at = strrchr(user, '@');
    if (!at || at == user || !at[1]) {
        *why = "resource must be acct:user@host";
        return SP_ERR_INVALID;
    }
    for (const char *c = user; c < at; c++) {
        if (!user_char(*c)) {
            *why = "resource has a character not allowed in the user part";
            return SP_ERR_INVALID;
        }
    }
    size_t n = strlen(at + 1);
    if (n >= hostlen) {
        *why = "resource has a host that is too long";
        return SP_ERR_INVALID;
    }
    for (size_t i = 0; i < n; i++) {
        char c = at[1 + i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.')) {
            *why = "resource has a malformed host";
            return SP_ERR_INVALID;
        }
        host[i] = (char)(c | ((c >= 'A' && c <= 'Z') ? 0x20 : 0));
    }
    host[n] = '\0';
    if (host[0] == '.' || host[n - 1] == '.' || strstr(host, "..")) {
        *why = "resource has a malformed host";
        return SP_ERR_INVALID;
    }
    return 0;
}

/* Non-zero when the request carries a bearer token this instance accepts.
 * A missing or bad token is not an error here: it only hides a link. */
static int has_valid_token(sp_http_req *req, sp_api *api)
{
    const char *h = sp_http_header(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    const char *token = h + 7;
    while (*token == ' ')
        token++;
    sp_identity id;
    return *token && sp_auth_verify(api->auth, token, &id) == 0;
}

/* Appends {rel, href} to links unless a rel filter excludes it. */
static int add_link(json_t *links, const char *want_rel, const char *rel, const char *href)
{
    if (want_rel && strcmp(want_rel, rel) != 0)
        return 0;
    json_t *l = json_pack("{s:s, s:s}", "rel", rel, "href", href);
    return l && json_array_append_new(links, l) == 0 ? 0 : SP_ERR_NOMEM;
}

static void webfinger(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_http_add_header(req, "Access-Control-Allow-Origin", "*");
    const char *resource = sp_http_query(req, "resource");
    if (!resource || !*resource) {
        sp_http_reply_error(req, 400, "invalidRequest", "the resource parameter is required");
        return;
    }
    char host[SP_WEBFINGER_RESOURCE_MAX];
    const char *why = NULL;
    if (parse_acct(resource, host, sizeof host, &why) < 0) {
        sp_http_reply_error(req, 400, "invalidRequest", "%s", why);
        return;
    }
    const char *issuer = NULL;
    for (size_t i = 0; i < api->cfg->domain_issuer_count && !issuer; i++) {
        if (strcmp(api->cfg->domain_issuers[i].domain, host) == 0)
            issuer = api->cfg->domain_issuers[i].issuer;
    }
    if (!issuer) {
        sp_http_reply_error(req, 404, "itemNotFound", "no identity provider serves %s", host);
        return;
    }
    /* RFC 7033 4.3: rel may be given to ask for some links only. */
    const char *want_rel = sp_http_query(req, "rel");
    json_t *links = json_array();
    int rc = links ? add_link(links, want_rel, REL_ISSUER, issuer) : SP_ERR_NOMEM;
    if (rc == 0 && has_valid_token(req, api))
        rc = add_link(links, want_rel, REL_REGISTRY, api->cfg->public_url);
    json_t *doc = rc == 0 ? json_pack("{s:s, s:O}", "subject", resource, "links", links) : NULL;
    json_decref(links);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) {
        sp_http_reply_error(req, 500, "generalException", "out of memory");
        return;
    }
    /* The answer differs with and without a token: shared caches must not
     * mix them up. */
    sp_http_add_header(req, "Cache-Control", SP_WEBFINGER_MAX_AGE);
    sp_http_add_header(req, "Vary", "Authorization");
    sp_http_reply(req, 200, "application/jrd+json", text, strlen(text));
    free(text);
}

/* CORS preflight: a browser sends one before a GET with Authorization. */
static void webfinger_preflight(sp_http_req *req, void *ctx)
{
    (void)ctx;
    sp_http_add_header(req, "Access-Control-Allow-Origin", "*");
    sp_http_add_header(req, "Access-Control-Allow-Methods", "GET");
    sp_http_add_header(req, "Access-Control-Allow-Headers", "Authorization");
    sp_http_add_header(req, "Access-Control-Max-Age", "86400");
    sp_http_reply(req, 204, NULL, "", 0);
}

int sp_api__register_webfinger(sp_router *r, sp_api *api)
{
    int rc = sp_router_add(r, "GET", "/.well-known/webfinger", webfinger, api);
    if (rc == 0)
        rc = sp_router_add(r, "OPTIONS", "/.well-known/webfinger", webfinger_preflight, api);
    return rc;
}
