/*
 * web.c - the web page routes: GET / (index.html), GET /web/{file} and
 * GET /config.json.
 *
 * The files are embedded in the binary (web/embed.py). Every answer carries
 * an ETag and Cache-Control: no-cache, so a browser revalidates each time
 * and gets a 304 while the binary is the same: the file names carry no
 * version, so nothing may be cached without asking. The Content-Security-
 * Policy allows scripts, styles and connections only from this origin,
 * plus connections to the identity provider (discovery and the token
 * endpoint are called from the page).
 */
#include "api/internal.h"
#include "api/web.h"

#include "util/buf.h"
#include "util/err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Headers common to every answer here; the page is not meant to be framed,
 * and the authorization code in its URL must not leak through Referer. */
#define WEB_CACHE_CONTROL   "no-cache"
#define WEB_REFERRER_POLICY "no-referrer"
/* A generated body's ETag: 16 hex digits of a 64-bit hash in quotes. */
#define WEB_ETAG_SIZE (2 + 16 + 1)

static const struct {
    const char *ext;
    const char *type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
};

const char *sp_web_content_type(const char *name)
{
    const char *dot = name ? strrchr(name, '.') : NULL;
    if (dot) {
        for (size_t i = 0; i < sizeof content_types / sizeof content_types[0]; i++) {
            if (strcasecmp(dot, content_types[i].ext) == 0)
                return content_types[i].type;
        }
    }
    return "application/octet-stream";
}

const sp_web_file *sp_web_find(const char *name)
{
    if (!name || !*name || name[0] == '.' || strchr(name, '/'))
        return NULL;
    for (size_t i = 0; i < sp_web_file_count; i++) {
        if (strcmp(sp_web_files[i].name, name) == 0)
            return &sp_web_files[i];
    }
    return NULL;
}

int sp_web_etag_matches(const char *if_none_match, const char *etag)
{
    if (!if_none_match || !etag)
        return 0;
    size_t want = strlen(etag);
    const char *p = if_none_match;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 1 && p[0] == '*')
            return 1;
        /* If-None-Match uses the weak comparison (RFC 9110 13.1.2). */
        const char *tag = p;
        size_t tag_len = len;
        if (tag_len > 2 && tag[0] == 'W' && tag[1] == '/') {
            tag += 2;
            tag_len -= 2;
        }
        if (tag_len == want && memcmp(tag, etag, want) == 0)
            return 1;
        p += len;
    }
    return 0;
}

/* Appends the origin (scheme://host[:port]) of url to out. Returns 0, or
 * SP_ERR_INVALID when url is not http(s) or its authority holds characters
 * that have no business in a CSP source expression. */
static int append_origin(sp_buf *out, const char *url)
{
    const char *p;
    if (strncasecmp(url, "https://", 8) == 0)
        p = url + 8;
    else if (strncasecmp(url, "http://", 7) == 0)
        p = url + 7;
    else
        return SP_ERR_INVALID;
    size_t len = strcspn(p, "/?#");
    if (len == 0)
        return SP_ERR_INVALID;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        int fine = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
        if (!fine)
            return SP_ERR_INVALID;
    }
    return sp_buf_append(out, url, (size_t)(p - url) + len);
}

/* Adds the headers every answer of this file carries. Returns 0 or a
 * negative sp_err (out of memory, or too many headers). */
static int add_web_headers(sp_http_req *req, const sp_api *api, const char *etag)
{
    sp_buf csp = {0};
    int rc = sp_buf_puts(&csp, "default-src 'self'; connect-src 'self'");
    if (rc == 0 && api->cfg->oidc_issuers.count > 0) {
        sp_buf origin = {0};
        if (append_origin(&origin, api->cfg->oidc_issuers.items[0]) == 0)
            rc = sp_buf_printf(&csp, " %s", origin.data);
        sp_buf_free(&origin);
    }
    if (rc == 0)
        rc = sp_buf_puts(&csp, "; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "base-uri 'self'; form-action 'self'; frame-ancestors 'none'");
    if (rc == 0)
        rc = sp_http_add_header(req, "Cache-Control", WEB_CACHE_CONTROL);
    if (rc == 0)
        rc = sp_http_add_header(req, "ETag", etag);
    if (rc == 0)
        rc = sp_http_add_header(req, "Content-Security-Policy", csp.data);
    if (rc == 0)
        rc = sp_http_add_header(req, "Referrer-Policy", WEB_REFERRER_POLICY);
    sp_buf_free(&csp);
    return rc;
}

/* Answers with body, or 304 when the client holds this version. body is
 * borrowed (copied into the reply). */
static void reply_versioned(sp_http_req *req, const sp_api *api, const char *content_type,
                            const char *etag, const void *body, size_t len)
{
    if (add_web_headers(req, api, etag) < 0) {
        sp_http_reply_error(req, 500, "generalException", "out of memory");
        return;
    }
    if (sp_web_etag_matches(sp_http_header(req, "If-None-Match"), etag))
        sp_http_reply(req, 304, NULL, "", 0);
    else
        sp_http_reply(req, 200, content_type, body, len);
}

static void serve_file(sp_http_req *req, const sp_api *api, const char *name)
{
    const sp_web_file *f = sp_web_find(name);
    if (!f) {
        sp_http_reply_error(req, 404, "itemNotFound", "no such file");
        return;
    }
    reply_versioned(req, api, sp_web_content_type(f->name), f->etag, f->data, f->len);
}

static void get_index(sp_http_req *req, void *ctx)
{
    serve_file(req, ctx, "index.html");
}

static void get_web_file(sp_http_req *req, void *ctx)
{
    serve_file(req, ctx, sp_http_param(req, "file"));
}

/* FNV-1a, 64 bits: a validator for a small generated body, not a secret. */
static uint64_t fnv1a64(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* What the page needs to sign in: the first trusted issuer, the client id
 * and the audience (null when not configured). */
static void get_config(sp_http_req *req, void *ctx)
{
    const sp_api *api = ctx;
    const sp_config *cfg = api->cfg;
    const char *issuer = cfg->oidc_issuers.count > 0 ? cfg->oidc_issuers.items[0] : NULL;
    json_t *doc =
        json_pack("{s:s?, s:s, s:s?, s:s?}", "issuer", issuer, "clientId", SP_WEB_CLIENT_ID,
                  "audience", cfg->oidc_audience, "rolesClaim", cfg->roles_claim);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) {
        sp_http_reply_error(req, 500, "generalException", "out of memory");
        return;
    }
    size_t len = strlen(text);
    char etag[WEB_ETAG_SIZE];
    snprintf(etag, sizeof etag, "\"%016llx\"", (unsigned long long)fnv1a64(text, len));
    reply_versioned(req, api, "application/json", etag, text, len);
    free(text);
}

int sp_api__register_web(sp_router *r, sp_api *api)
{
    int rc = sp_router_add(r, "GET", "/", get_index, api);
    if (rc == 0)
        rc = sp_router_add(r, "GET", "/web/{file}", get_web_file, api);
    if (rc == 0)
        rc = sp_router_add(r, "GET", "/config.json", get_config, api);
    return rc;
}
