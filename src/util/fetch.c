/*
 * fetch.c - libcurl requests under the outbound policy of fetch.h.
 *
 * Each call uses its own easy handle, so calls are independent and
 * thread-safe. Redirects are never followed by libcurl itself: a 3xx comes
 * back here, where its target is checked (same origin, allowed URL) before
 * another request is made.
 */
#include "util/fetch.h"

#include "util/buf.h"
#include "util/base64.h"
#include "util/err.h"
#include "util/httpsig.h"
#include "util/id.h"
#include "util/instance.h"
#include "util/time.h"
#include "util/url.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Connection setup gets a share of the whole timeout: a peer that does not
 * accept within 3 s is down. */
#define FETCH_CONNECT_TIMEOUT_MS 3000L

typedef struct fetch_sink {
    sp_buf *body;
    size_t start; /* body->len before this transfer */
    size_t max;
    int too_large;
    int nomem;
} fetch_sink;

/* Where a transfer may connect: decided by the name in its URL. */
typedef struct fetch_dest {
    int loopback_named; /* the URL names a loopback host */
    int refused;        /* an address was refused */
    int opened;         /* a socket was opened to an allowed one */
} fetch_dest;

/* IPv4 address a (host order) by kind. */
static int v4_loopback(uint32_t a)
{
    return (a >> 24) == 127;
}
/* Never a peer: unspecified (0/8), link-local (169.254/16, cloud metadata
 * services live there), multicast (224/4) and reserved (240/4, the
 * broadcast address). */
static int v4_forbidden(uint32_t a)
{
    return (a >> 24) == 0 || (a >> 16) == 0xa9fe || (a >> 28) >= 0xe;
}

/*
 * Non-zero when a connection to address sa may be opened. A host named as
 * loopback (localhost, 127.0.0.0/8, ::1) is reached only on loopback; any
 * other name never on loopback, link-local, unspecified, multicast or
 * reserved addresses: a name an attacker controls (or a DNS answer that
 * changed after the URL was judged) cannot turn a webhook or a lookup
 * into a request to this machine's own services or the cloud's metadata
 * endpoint. Private ranges stay reachable: instances often federate
 * inside one network.
 */
static int address_allowed(const struct sockaddr *sa, int loopback_named)
{
    if (sa->sa_family == AF_INET) {
        uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
        return loopback_named ? v4_loopback(a) : !v4_loopback(a) && !v4_forbidden(a);
    }
    if (sa->sa_family != AF_INET6)
        return 0;
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6)) {
        uint32_t a;
        memcpy(&a, a6->s6_addr + 12, 4);
        a = ntohl(a);
        return loopback_named ? v4_loopback(a) : !v4_loopback(a) && !v4_forbidden(a);
    }
    if (loopback_named)
        return IN6_IS_ADDR_LOOPBACK(a6);
    return !IN6_IS_ADDR_LOOPBACK(a6) && !IN6_IS_ADDR_UNSPECIFIED(a6) &&
           !IN6_IS_ADDR_LINKLOCAL(a6) && !IN6_IS_ADDR_MULTICAST(a6) && !IN6_IS_ADDR_V4COMPAT(a6);
}

/* libcurl's socket opener: refuses an address address_allowed refuses,
 * so that nothing is sent to it (curl tries the name's next address). */
static curl_socket_t on_open_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *a)
{
    fetch_dest *d = ctx;
    if (purpose != CURLSOCKTYPE_IPCXN || !address_allowed(&a->addr, d->loopback_named)) {
        d->refused = 1;
        return CURL_SOCKET_BAD;
    }
    d->opened = 1;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

int sp_fetch_url_allowed(const char *url)
{
    sp_url u;
    const char *why = NULL;
    if (!url || sp_url_parse(url, &u, &why) < 0)
        return 0;
    if (strcmp(u.scheme, "https") == 0)
        return 1;
    return strcmp(u.scheme, "http") == 0 && sp_url_host_is_loopback(u.host);
}

int sp_fetch_same_origin(const char *a, const char *b)
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
    if (s->body->len - s->start + n > s->max) {
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

/* Appends a header line to *list. Returns 0 or SP_ERR_NOMEM. */
static int add_header(struct curl_slist **list, const char *line)
{
    struct curl_slist *tmp = curl_slist_append(*list, line);
    if (!tmp)
        return SP_ERR_NOMEM;
    *list = tmp;
    return 0;
}

/* One request to url without following redirects. On 0, *status is set
 * and, for a redirect, *location is a new string (else NULL). */
/* Random bytes of a signature's nonce: 128 bits never repeat. */
#define FETCH_NONCE_BYTES 16

/* The fields a signature covers, by name. */
typedef struct sign_fields {
    const char *digest, *content_type, *content_length;
} sign_fields;

static const char *sign_field(void *ctx, const char *name)
{
    const sign_fields *f = ctx;
    if (strcmp(name, "content-digest") == 0)
        return f->digest;
    if (strcmp(name, "content-length") == 0)
        return f->content_length;
    return strcmp(name, "content-type") == 0 ? f->content_type : NULL;
}

/* Adds Content-Digest (with a body), Signature-Input and Signature for
 * req->signer to *headers: the OCM signing profile (fetch.h). */
static int sign_request(const char *url, const sp_url *u, const sp_fetch_req *req, int post,
                        struct curl_slist **headers, const char **why)
{
    char authority[SP_INSTANCE_AUTHORITY_MAX], digest[SP_HTTPSIG_DIGEST_LEN], length[32];
    unsigned char raw[FETCH_NONCE_BYTES];
    char nonce[SP_BASE64URL_LEN(FETCH_NONCE_BYTES) + 1];
    if (sp_instance_authority(url, authority, sizeof authority) < 0 ||
        sp_id_random(raw, sizeof raw) < 0 ||
        sp_base64url_encode(raw, sizeof raw, nonce, sizeof nonce) < 0) {
        *why = "cannot sign the request";
        return SP_ERR_INVALID;
    }
    sign_fields f = {.content_type = req->content_type};
    const char *covered[5] = {"@method", "@target-uri"};
    size_t count = 2;
    if (post) {
        sp_httpsig_content_digest(req->body, req->body_len, digest, sizeof digest);
        snprintf(length, sizeof length, "%zu", req->body_len);
        f.digest = digest;
        f.content_length = length;
        covered[count++] = "content-digest";
        covered[count++] = "content-length";
        if (req->content_type)
            covered[count++] = "content-type";
    }
    sp_httpsig_msg m = {.scheme = u->scheme,
                        .method = req->method ? req->method : "GET",
                        .authority = authority,
                        .path = u->path[0] ? u->path : "/",
                        .query = u->query[0] ? u->query : NULL,
                        .field = sign_field,
                        .ctx = &f};
    sp_httpsig_params p = {.created = sp_time_now_ms() / 1000,
                           .nonce = nonce,
                           .with_alg = 1,
                           .tag = SP_HTTPSIG_TAG_OCM};
    sp_buf input = {0}, sig = {0}, line = {0};
    int rc = sp_httpsig_sign(req->signer, &m, covered, count, &p, &input, &sig);
    const char *names[3] = {"Content-Digest", "Signature-Input", "Signature"};
    const char *values[3] = {post ? digest : NULL, input.data, sig.data};
    for (int i = 0; i < 3 && rc == 0; i++) {
        sp_buf_reset(&line);
        if (values[i] && (sp_buf_printf(&line, "%s: %s", names[i], values[i]) < 0 ||
                          add_header(headers, line.data) < 0))
            rc = SP_ERR_NOMEM;
    }
    if (rc < 0 && !*why)
        *why = "cannot sign the request";
    sp_buf_free(&input);
    sp_buf_free(&sig);
    sp_buf_free(&line);
    return rc;
}

static int fetch_once(const char *url, const sp_fetch_req *req, int post, long *status,
                      char **location, sp_buf *body, const char **why)
{
    int rc = SP_ERR_NOMEM;
    struct curl_slist *headers = NULL;
    sp_buf line = {0};
    fetch_sink sink = {.body = body, .start = body->len, .max = req->max_body};
    fetch_dest dest = {0};
    *location = NULL;
    sp_url u;
    if (sp_url_parse(url, &u, why) < 0)
        return SP_ERR_INVALID;
    dest.loopback_named = sp_url_host_is_loopback(u.host);

    CURL *h = curl_easy_init();
    if (!h) {
        *why = "cannot create a transfer";
        goto fail_init;
    }
    if (add_header(&headers, "Accept: application/json") < 0)
        goto done;
    /* No "Expect: 100-continue" round trip for our small bodies. */
    if (post && add_header(&headers, "Expect:") < 0)
        goto done;
    if (post && req->content_type) {
        if (sp_buf_printf(&line, "Content-Type: %s", req->content_type) < 0 ||
            add_header(&headers, line.data) < 0)
            goto done;
        sp_buf_reset(&line);
    }
    if (req->bearer) {
        if (strlen(req->bearer) > SP_FETCH_BEARER_MAX) {
            *why = "bearer token too long";
            rc = SP_ERR_INVALID;
            goto done;
        }
        if (sp_buf_printf(&line, "Authorization: Bearer %s", req->bearer) < 0 ||
            add_header(&headers, line.data) < 0)
            goto done;
    }

    if (req->signer && (rc = sign_request(url, &u, req, post, &headers, why)) < 0)
        goto done;
    rc = SP_ERR_NOMEM;

    curl_easy_setopt(h, CURLOPT_URL, url);
    if (post) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    /* PATCH sends its body as POST would; DELETE has none. */
    if (req->method && (strcmp(req->method, "PATCH") == 0 || strcmp(req->method, "DELETE") == 0))
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     req->timeout_ms < FETCH_CONNECT_TIMEOUT_MS ? req->timeout_ms
                                                                : FETCH_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "spaceport/" SP_VERSION);
    /* Never through a proxy from the environment (http_proxy,
     * https_proxy, ALL_PROXY): the socket would go to the proxy, so the
     * address check below would judge the proxy's address, not the one
     * the URL's name resolves to, and the proxy would resolve and connect
     * wherever it likes. Outbound requests connect directly. */
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &dest);
    if (req->cancel) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)req->cancel);
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
    if (cc != CURLE_OK && dest.refused && !dest.opened) {
        *why = "the host resolves to an address it may not be reached at (loopback for a "
               "name that is not, link-local, unspecified or multicast)";
        rc = SP_ERR_INVALID;
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
    if (line.data)
        memset(line.data, 0, line.cap); /* it may hold the token */
    sp_buf_free(&line);
fail_init:
    return rc;
}

int sp_fetch(const char *url, const sp_fetch_req *req, long *status, sp_buf *body, const char **why)
{
    *why = NULL;
    if (!sp_fetch_url_allowed(url)) {
        *why = "URL not allowed (https, or http to loopback only)";
        return SP_ERR_INVALID;
    }
    /* post: the request has a body (POST, PATCH); neither it nor DELETE
     * is ever redirected. */
    int post =
        req->method && (strcmp(req->method, "POST") == 0 || strcmp(req->method, "PATCH") == 0);
    int del = req->method && strcmp(req->method, "DELETE") == 0;
    if (!post && !del && req->method && strcmp(req->method, "GET") != 0) {
        *why = "method not supported";
        return SP_ERR_INVALID;
    }
    char *current = strdup(url);
    if (!current)
        return SP_ERR_NOMEM;
    int rc = 0;
    for (int hop = 0;; hop++) {
        char *location = NULL;
        size_t before = body->len;
        rc = fetch_once(current, req, post, status, &location, body, why);
        if (rc < 0 || !location)
            break;
        if (post || del || req->redirects_max <= 0) {
            free(location); /* the 3xx is the answer */
            break;
        }
        /* A redirect: drop its body, check where it leads. */
        body->len = before;
        if (body->data)
            body->data[before] = '\0';
        if (hop >= req->redirects_max) {
            *why = "too many redirects";
            rc = SP_ERR_UNAVAILABLE;
        } else if (!sp_fetch_same_origin(current, location) || !sp_fetch_url_allowed(location)) {
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
