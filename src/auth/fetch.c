/*
 * fetch.c - the one way the auth module talks to issuers: a libcurl GET
 * under a strict policy.
 *
 * Issuer documents decide which keys we trust, so the transport is held
 * tight: https only (plain http only to loopback, for tests and sidecars),
 * a whole-transfer timeout, a body cap, and redirects followed by hand only
 * when they stay on the same origin, so a compromised path on the issuer
 * cannot send us elsewhere. Each call uses its own easy handle; calls are
 * independent and thread-safe (curl_global_init is done in main).
 */
#include "auth/internal.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/url.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for "Authorization: Bearer " plus the largest token we accept. */
#define FETCH_AUTH_HEADER_MAX (SP_AUTH_TOKEN_MAX + 32)
/* Connection setup gets a share of the whole timeout: an issuer that does
 * not accept within 3 s is down. */
#define FETCH_CONNECT_TIMEOUT_MS 3000

typedef struct fetch_sink {
    sp_buf *body;
    size_t start; /* body->len before this transfer */
    int too_large;
    int nomem;
} fetch_sink;

int sp_auth__url_allowed(const char *url)
{
    sp_url u;
    const char *why = NULL;
    if (!url || sp_url_parse(url, &u, &why) < 0)
        return 0;
    if (strcmp(u.scheme, "https") == 0)
        return 1;
    return strcmp(u.scheme, "http") == 0 && sp_url_host_is_loopback(u.host);
}

/* Returns non-zero when a and b (both parsed) are the same origin. */
static int same_origin(const char *a, const char *b)
{
    sp_url ua, ub;
    const char *why = NULL;
    if (sp_url_parse(a, &ua, &why) < 0 || sp_url_parse(b, &ub, &why) < 0)
        return 0;
    return strcmp(ua.scheme, ub.scheme) == 0 && strcmp(ua.host, ub.host) == 0 && ua.port == ub.port;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    fetch_sink *s = ctx;
    size_t n = size * nmemb;
    if (s->body->len - s->start + n > SP_AUTH_FETCH_MAX) {
        s->too_large = 1;
        return 0; /* aborts the transfer */
    }
    if (sp_buf_append(s->body, ptr, n) < 0) {
        s->nomem = 1;
        return 0;
    }
    return n;
}

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    const atomic_int *cancel = ctx;
    return cancel && atomic_load(cancel) ? 1 : 0;
}

/* One GET of url without following redirects. On 0, *status is set and,
 * for a redirect, *location is a new string (else NULL). */
static int fetch_once(const char *url, const char *bearer, const atomic_int *cancel, long *status,
                      char **location, sp_buf *body, const char **why)
{
    int rc = SP_ERR_NOMEM;
    struct curl_slist *headers = NULL, *tmp = NULL;
    char *auth_line = NULL;
    fetch_sink sink = {.body = body, .start = body->len};
    *location = NULL;

    CURL *h = curl_easy_init();
    if (!h) {
        *why = "cannot create a transfer";
        goto fail_init;
    }
    tmp = curl_slist_append(headers, "Accept: application/json");
    if (!tmp)
        goto done;
    headers = tmp;
    if (bearer) {
        auth_line = malloc(FETCH_AUTH_HEADER_MAX);
        if (!auth_line)
            goto done;
        snprintf(auth_line, FETCH_AUTH_HEADER_MAX, "Authorization: Bearer %s", bearer);
        tmp = curl_slist_append(headers, auth_line);
        if (!tmp)
            goto done;
        headers = tmp;
    }

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)SP_AUTH_FETCH_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)FETCH_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)SP_AUTH_FETCH_MAX);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "spaceport/" SP_VERSION);
    if (cancel) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)cancel);
    }

    CURLcode cc = curl_easy_perform(h);
    if (sink.nomem) {
        *why = "out of memory reading the answer";
        rc = SP_ERR_NOMEM;
        goto done;
    }
    if (sink.too_large || cc == CURLE_FILESIZE_EXCEEDED) {
        *why = "answer larger than the fetch limit";
        rc = SP_ERR_TOO_LARGE;
        goto done;
    }
    if (cc != CURLE_OK) {
        *why = cc == CURLE_OPERATION_TIMEDOUT    ? "timed out"
               : cc == CURLE_ABORTED_BY_CALLBACK ? "cancelled"
               : cc == CURLE_COULDNT_CONNECT     ? "connection refused"
                                                 : "transfer failed";
        rc = SP_ERR_UNAVAILABLE;
        goto done;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    if (*status >= 300 && *status < 400) {
        char *loc = NULL;
        curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc);
        if (loc) {
            *location = strdup(loc);
            if (!*location) {
                rc = SP_ERR_NOMEM;
                goto done;
            }
        }
    }
    rc = 0;

done:
    curl_easy_cleanup(h);
    if (rc == SP_ERR_NOMEM && !*why)
        *why = "out of memory";
    curl_slist_free_all(headers);
    if (auth_line) {
        memset(auth_line, 0, FETCH_AUTH_HEADER_MAX);
        free(auth_line);
    }
fail_init:
    return rc;
}

int sp_auth__fetch(const char *url, const char *bearer, const atomic_int *cancel, long *status,
                   sp_buf *body, const char **why)
{
    *why = NULL;
    if (!sp_auth__url_allowed(url)) {
        *why = "URL not allowed (https, or http to loopback only)";
        return SP_ERR_INVALID;
    }
    char *current = strdup(url);
    if (!current)
        return SP_ERR_NOMEM;
    int rc = 0;
    for (int hop = 0;; hop++) {
        char *location = NULL;
        size_t before = body->len;
        rc = fetch_once(current, bearer, cancel, status, &location, body, why);
        if (rc < 0 || !location)
            break;
        /* A redirect: drop its body, check where it leads. */
        body->len = before;
        if (body->data)
            body->data[before] = '\0';
        if (hop >= SP_AUTH_FETCH_REDIRECTS_MAX) {
            *why = "too many redirects";
            rc = SP_ERR_UNAVAILABLE;
        } else if (!same_origin(current, location) || !sp_auth__url_allowed(location)) {
            *why = "redirect to another origin";
            rc = SP_ERR_INVALID;
        }
        free(current);
        current = location;
        if (rc < 0)
            break;
    }
    free(current);
    return rc;
}
