/*
 * webfinger.c - GET /.well-known/webfinger (RFC 7033).
 *
 * A client that knows only an address (marie@paris.test) asks any
 * instance which identity provider serves that domain
 * (SPACEPORT_DOMAIN_ISSUERS) and, once it holds a token, which registry to
 * use. ownCloud clients that know only the instance's URL ask for that
 * resource instead (resource=https://cloud.paris.test) and get the
 * instance's own provider. The answer is public and cacheable by browsers
 * of any origin, so it carries Access-Control-Allow-Origin: * and nothing
 * that depends on the caller beyond the links to this instance.
 */
#include "api/internal.h"

#include "util/err.h"

#include <string.h>
#include <strings.h>

#define REL_ISSUER   "http://openid.net/specs/connect/1.0/issuer"
#define REL_REGISTRY "http://webfinger.spaceport/rel/registry"
/* The relation ownCloud clients (desktop, mobile, oCIS's web) read to find
 * the instance serving a signed-in user; it carries titles. */
#define REL_OC_INSTANCE "http://webfinger.owncloud/rel/server-instance"
/* The title ownCloud clients show for that link. */
#define SP_WEBFINGER_TITLE "Spaceport"
/* rel parameters honoured in one request: there are three relations, a
 * longer list can only be noise. */
#define SP_WEBFINGER_RELS_MAX 8
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
    sp_identity id;
    int had_token;
    return sp_api__verify_token(req, api, 0, &id, &had_token) == 0;
}

/* The rel parameters of a request (RFC 7033 4.3): none asks for every
 * link, several for each of those named. */
typedef struct wanted_rels {
    const char *rel[SP_WEBFINGER_RELS_MAX];
    size_t count;
} wanted_rels;

static int wanted(const wanted_rels *w, const char *rel)
{
    if (w->count == 0)
        return 1;
    for (size_t i = 0; i < w->count; i++) {
        if (strcmp(w->rel[i], rel) == 0)
            return 1;
    }
    return 0;
}

/* Appends {rel, href[, titles: {"en": title}]} to links unless the rel
 * parameters exclude it. */
static int add_link(json_t *links, const wanted_rels *w, const char *rel, const char *href,
                    const char *title)
{
    if (!wanted(w, rel))
        return 0;
    json_t *l =
        title ? json_pack("{s:s, s:s, s:{s:s}}", "rel", rel, "href", href, "titles", "en", title)
              : json_pack("{s:s, s:s}", "rel", rel, "href", href);
    return l && json_array_append_new(links, l) == 0 ? 0 : SP_ERR_NOMEM;
}

/* Non-zero when resource names this instance: its public URL, the scheme
 * and host compared without case, a trailing slash ignored. */
static int is_this_instance(const char *resource, const char *public_url)
{
    size_t n = strlen(public_url);
    if (strncasecmp(resource, public_url, n) != 0)
        return 0;
    return resource[n] == '\0' || (resource[n] == '/' && resource[n + 1] == '\0');
}

/* Non-zero when resource is an http(s) URL rather than an acct: URI. */
static int is_url(const char *resource)
{
    return strncasecmp(resource, "https://", 8) == 0 || strncasecmp(resource, "http://", 7) == 0;
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
    wanted_rels w = {.count = 0};
    size_t rels = sp_http_query_all(req, "rel", w.rel, SP_WEBFINGER_RELS_MAX);
    if (rels > SP_WEBFINGER_RELS_MAX) {
        sp_http_reply_error(req, 400, "invalidRequest", "more than %d rel parameters",
                            SP_WEBFINGER_RELS_MAX);
        return;
    }
    w.count = rels;
    const char *issuer = NULL;
    if (is_url(resource)) {
        /* The instance itself: its provider is the first one trusted. */
        if (strlen(resource) > SP_WEBFINGER_RESOURCE_MAX ||
            !is_this_instance(resource, api->cfg->public_url)) {
            sp_http_reply_error(req, 404, "itemNotFound", "the resource is not this instance");
            return;
        }
        issuer = api->cfg->oidc_issuers.items[0];
    } else {
        char host[SP_WEBFINGER_RESOURCE_MAX];
        const char *why = NULL;
        if (parse_acct(resource, host, sizeof host, &why) < 0) {
            sp_http_reply_error(req, 400, "invalidRequest", "%s", why);
            return;
        }
        for (size_t i = 0; i < api->cfg->domain_issuer_count && !issuer; i++) {
            if (strcmp(api->cfg->domain_issuers[i].domain, host) == 0)
                issuer = api->cfg->domain_issuers[i].issuer;
        }
        if (!issuer) {
            sp_http_reply_error(req, 404, "itemNotFound", "no identity provider serves %s", host);
            return;
        }
    }
    json_t *links = json_array();
    int rc = links ? add_link(links, &w, REL_ISSUER, issuer, NULL) : SP_ERR_NOMEM;
    if (rc == 0 && has_valid_token(req, api)) {
        const char *self = api->cfg->public_url;
        rc = add_link(links, &w, REL_OC_INSTANCE, self, SP_WEBFINGER_TITLE);
        if (rc == 0)
            rc = add_link(links, &w, REL_REGISTRY, self, NULL);
    }
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
