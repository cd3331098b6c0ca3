/*
 * server.c - libmicrohttpd daemon, request bodies, dispatch, replies and
 * request metrics.
 *
 * Follows PITFALLS.md: responses are queued on the second call of the
 * access handler (or later), never the first, except the 413 for an
 * announced oversized body; the daemon runs an epoll thread pool.
 */
#include "http/http.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Connections from one address: a NAT'd office of devices, each with a
 * change stream and a request or two, stays well below it. Beyond it
 * libmicrohttpd closes the new connection. */
#define SP_HTTP_PER_IP_LIMIT 4096
/* Memory pool of one connection: request line, headers and the reply
 * header must fit (SP_HTTP_URI_MAX + SP_HTTP_HEADERS_MAX plus slack). */
#define SP_HTTP_CONNECTION_MEMORY (40 * 1024)
/* Connections libmicrohttpd accepts beyond the limit, only to answer them
 * 503 and close: a client is told why instead of waiting in the backlog. */
#define SP_HTTP_OVERFLOW 64
/* Worker threads per core, and at most. Sharing requests wait for their
 * group commit suspended, without a thread (store jobs); other writes still
 * wait on their thread, so a few threads per core keep their groups large.
 * More threads cost read latency (scheduling) and a SQLite reader each.
 * Measured on 2 cores, 5,000 invitations/s paced: commit-to-subscriber p99
 * 7-12 ms with 2 per core, 10-14 ms with 4, 12-75 ms with 8; as fast as
 * possible: 9,850, 9,520 and 8,700 shares/s. */
#define SP_HTTP_THREADS_PER_CORE 4
#define SP_HTTP_MAX_THREADS      64
/* Status codes are counted in a dense table indexed by code - 100. */
#define SP_HTTP_STATUS_SLOTS 500

/* Latency histogram bucket bounds in microseconds (Prometheus le=...). */
static const int64_t bucket_us[] = {250,   500,    1000,   2500,   5000,    10000,  25000,
                                    50000, 100000, 250000, 500000, 1000000, 5000000};
#define SP_HTTP_BUCKETS (sizeof bucket_us / sizeof bucket_us[0])

typedef struct route_stats {
    atomic_uint_fast64_t status[SP_HTTP_STATUS_SLOTS];
    atomic_uint_fast64_t buckets[SP_HTTP_BUCKETS + 1]; /* last is +Inf */
    atomic_uint_fast64_t sum_us;
    atomic_uint_fast64_t count;
} route_stats;

struct sp_http_server {
    struct MHD_Daemon *daemon;
    const sp_router *router;
    MHD_socket listen_fd; /* set by quiesce; closed after stop */
    atomic_int in_flight;
    atomic_int closing;           /* stopping: new requests are refused, none is suspended */
    atomic_int suspended;         /* requests waiting for sp_http_resume */
    atomic_int connections;       /* open now */
    atomic_uint_fast64_t refused; /* answered 503 for being over the limit */
    unsigned connection_limit;
    route_stats *stats; /* [0] unmatched, [1 + i] route i */
    size_t stats_count;
};

struct sp_http_req {
    sp_http_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    sp_buf body;
    int too_large;
    int replied;
    sp_http_resume_fn resume; /* suspended: answers once resumed */
    void *resume_ctx;
    int gone; /* the connection closed: replies go nowhere */
    unsigned status;
    sp_route_match match;
    int64_t start_ns;
    void *user;
    char ip[INET6_ADDRSTRLEN];
    size_t header_count;
    struct {
        char *name, *value;
    } headers[SP_HTTP_MAX_HEADERS];
};

/* ---- accessors ---- */

const char *sp_http_method(const sp_http_req *req)
{
    return req->method;
}

const char *sp_http_path(const sp_http_req *req)
{
    return req->path;
}

const char *sp_http_param(const sp_http_req *req, const char *name)
{
    return sp_route_match_param(&req->match, name);
}

const char *sp_http_query(const sp_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* What sp_http_query_all collects while MHD walks the arguments. */
typedef struct query_values {
    const char *name;
    const char **values;
    size_t max, count;
} query_values;

static enum MHD_Result collect_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    query_values *q = cls;
    if (strcmp(key, q->name) == 0) {
        if (q->count < q->max)
            q->values[q->count] = value ? value : "";
        q->count++;
    }
    return MHD_YES;
}

size_t sp_http_query_all(const sp_http_req *req, const char *name, const char **values, size_t max)
{
    query_values q = {name, values, max, 0};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_value, &q);
    return q.count;
}

size_t sp_http_query_count(const sp_http_req *req)
{
    int n = MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, NULL, NULL);
    return n > 0 ? (size_t)n : 0;
}

const char *sp_http_header(const sp_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *sp_http_body(const sp_http_req *req, size_t *len)
{
    if (len)
        *len = req->body.len;
    return req->body.data ? req->body.data : "";
}

const char *sp_http_client_ip(sp_http_req *req)
{
    if (req->ip[0])
        return req->ip;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return "";
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, req->ip, sizeof req->ip);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, req->ip, sizeof req->ip);
    return req->ip;
}

void *sp_http_user_data(const sp_http_req *req)
{
    return req->user;
}

void sp_http_set_user_data(sp_http_req *req, void *data)
{
    req->user = data;
}

/* ---- replies ---- */

int sp_http_add_header(sp_http_req *req, const char *name, const char *value)
{
    if (req->header_count == SP_HTTP_MAX_HEADERS)
        return SP_ERR_TOO_LARGE;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return SP_ERR_NOMEM;
    }
    req->headers[req->header_count].name = n;
    req->headers[req->header_count].value = v;
    req->header_count++;
    return 0;
}

int sp_http_reply(sp_http_req *req, unsigned status, const char *content_type, const void *body,
                  size_t len)
{
    if (req->replied) {
        sp_error("http", "%s %s: handler replied twice", req->method, req->path);
        return SP_ERR_CONFLICT;
    }
    if (req->gone)
        return SP_ERR_IO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return SP_ERR_NOMEM;
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    for (size_t i = 0; i < req->header_count; i++)
        MHD_add_response_header(resp, req->headers[i].name, req->headers[i].value);
    enum MHD_Result ok = MHD_queue_response(req->conn, status, resp);
    MHD_destroy_response(resp);
    if (ok != MHD_YES)
        return SP_ERR_IO;
    req->replied = 1;
    req->status = status;
    return 0;
}

int sp_http_reply_json(sp_http_req *req, unsigned status, json_t *value)
{
    if (!value)
        return sp_http_reply(req, status, NULL, "", 0);
    char *text = json_dumps(value, JSON_COMPACT);
    json_decref(value);
    if (!text)
        return SP_ERR_NOMEM;
    int rc = sp_http_reply(req, status, "application/json", text, strlen(text));
    free(text);
    return rc;
}

int sp_http_reply_error(sp_http_req *req, unsigned status, const char *code, const char *fmt, ...)
{
    sp_buf msg = {0}, body = {0};
    va_list ap;
    va_start(ap, fmt);
    int rc = sp_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    rc |= sp_buf_puts(&body, "{\"error\":{\"code\":\"");
    rc |= sp_buf_json_escape(&body, code);
    rc |= sp_buf_puts(&body, "\",\"message\":\"");
    rc |= sp_buf_json_escape(&body, msg.data ? msg.data : "");
    rc |= sp_buf_puts(&body, "\"}}");
    if (rc == 0)
        rc = sp_http_reply(req, status, "application/json", body.data, body.len);
    sp_buf_free(&msg);
    sp_buf_free(&body);
    return rc;
}

/* ---- answering later ---- */

void sp_http_suspend(sp_http_req *req, sp_http_resume_fn fn, void *ctx)
{
    req->resume = fn;
    req->resume_ctx = ctx;
    atomic_fetch_add(&req->srv->suspended, 1);
    MHD_suspend_connection(req->conn);
}

void sp_http_resume(sp_http_req *req)
{
    /* Counted down after: the daemon stops only when no connection is
     * suspended. req may be gone once resumed; the server is not (its stop
     * waits for this count). */
    sp_http_server *srv = req->srv;
    MHD_resume_connection(req->conn);
    atomic_fetch_sub(&srv->suspended, 1);
}

/* ---- streams ---- */

struct sp_http_stream {
    struct MHD_Connection *conn;
    pthread_mutex_t lock;
    int suspended;    /* the connection sleeps; only wake resumes it */
    int wake_pending; /* woken while producing: produce again */
    sp_http_stream_fn fn;
    sp_http_stream_free_fn free_fn;
    void *ctx;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    sp_http_stream *s = cls;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        s->wake_pending = 0;
        pthread_mutex_unlock(&s->lock);
        ssize_t n = s->fn(s->ctx, buf, max);
        if (n > 0)
            return n;
        if (n < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(&s->lock);
        if (s->wake_pending) {
            /* Woken while producing: there may be something now. */
            pthread_mutex_unlock(&s->lock);
            continue;
        }
        /* Nothing to send: sleep without a thread until woken; returning
         * 0 without suspending would spin. */
        s->suspended = 1;
        MHD_suspend_connection(s->conn);
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
}

static void stream_free(void *cls)
{
    sp_http_stream *s = cls;
    s->free_fn(s->ctx);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void sp_http_stream_wake(sp_http_stream *s)
{
    pthread_mutex_lock(&s->lock);
    if (s->suspended) {
        s->suspended = 0;
        MHD_resume_connection(s->conn);
    } else {
        s->wake_pending = 1;
    }
    pthread_mutex_unlock(&s->lock);
}

/* Bytes a stream produces at a time: a few events per write. Small,
 * because every held stream's connection keeps a block this size. */
#define SP_HTTP_STREAM_BLOCK 2048

int sp_http_reply_stream(sp_http_req *req, const char *content_type, sp_http_stream_fn fn,
                         sp_http_stream_free_fn free_fn, void *ctx, sp_http_stream **out)
{
    if (req->gone) {
        free_fn(ctx);
        return SP_ERR_IO;
    }
    sp_http_stream *s = calloc(1, sizeof *s);
    if (!s) {
        free_fn(ctx);
        return SP_ERR_NOMEM;
    }
    s->conn = req->conn;
    s->fn = fn;
    s->free_fn = free_fn;
    s->ctx = ctx;
    pthread_mutex_init(&s->lock, NULL);
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, SP_HTTP_STREAM_BLOCK, stream_read, s, stream_free);
    if (!resp) {
        stream_free(s);
        return SP_ERR_NOMEM;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    for (size_t i = 0; i < req->header_count; i++)
        MHD_add_response_header(resp, req->headers[i].name, req->headers[i].value);
    enum MHD_Result ok = MHD_queue_response(req->conn, 200, resp);
    MHD_destroy_response(resp); /* freed with the connection; stream_free then runs */
    if (ok != MHD_YES)
        return SP_ERR_IO; /* already freed through stream_free */
    *out = s;
    req->replied = 1;
    req->status = 200;
    return 0;
}

/* ---- dispatch ---- */

static void dispatch(sp_http_req *req)
{
    const sp_router *router = req->srv->router;
    int rc = sp_router_match(router, req->method, req->path, &req->match);
    if (rc == SP_ERR_NOT_FOUND) {
        sp_http_reply_error(req, 404, "itemNotFound", "no route for %s", req->path);
        return;
    }
    if (rc == SP_ERR_CONFLICT) {
        sp_http_add_header(req, "Allow", req->match.allow);
        sp_http_reply_error(req, 405, "methodNotAllowed", "%s is not allowed here; allowed: %s",
                            req->method, req->match.allow);
        return;
    }
    if (rc < 0) {
        sp_http_reply_error(req, 500, "generalException", "out of memory");
        return;
    }
    req->match.handler(req, req->match.ctx);
    if (!req->replied && !req->resume) {
        sp_error("http", "%s %s: handler gave no reply", req->method, req->path);
        sp_http_reply_error(req, 500, "generalException", "internal error");
    }
}

typedef struct size_count {
    size_t bytes;
} size_count;

static enum MHD_Result count_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    size_count *c = cls;
    c->bytes += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF, "=" and "&" */
    return MHD_YES;
}

/* Checks the request line and headers against our limits before any
 * routing. Returns 0, or the status to refuse with. */
static unsigned check_limits(sp_http_req *req)
{
    size_count uri = {strlen(req->path)}, headers = {0};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, count_value, &uri);
    if (uri.bytes > SP_HTTP_URI_MAX)
        return 414;
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_value, &headers);
    if (headers.bytes > SP_HTTP_HEADERS_MAX)
        return 431;
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    sp_http_server *srv = cls;
    sp_http_req *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        req->srv = srv;
        req->conn = conn;
        req->method = method;
        req->path = url;
        req->start_ns = sp_time_mono_ns();
        req->match.route = -1;
        atomic_fetch_add(&srv->in_flight, 1);
        *con_cls = req;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        unsigned refuse = check_limits(req);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        if (ci && ci->socket_context == srv) { /* over the limit (on_connection) */
            req->too_large = 1;
            atomic_fetch_add(&srv->refused, 1);
            sp_http_add_header(req, "Connection", "close");
            sp_http_add_header(req, "Retry-After", "5");
            sp_http_reply_error(req, 503, "unavailable",
                                "too many connections (%u); try again later",
                                srv->connection_limit);
        } else if (refuse == 414) {
            req->too_large = 1;
            sp_http_reply_error(req, 414, "uriTooLong", "the request target exceeds %d bytes",
                                SP_HTTP_URI_MAX);
        } else if (refuse == 431) {
            req->too_large = 1;
            sp_http_reply_error(req, 431, "requestHeaderFieldsTooLarge",
                                "the request headers exceed %d bytes", SP_HTTP_HEADERS_MAX);
        } else if (atomic_load(&srv->closing)) {
            /* A request on a kept-alive connection after the drain began:
             * the drain waits only for requests counted before, so none
             * may start (or be suspended) now. */
            req->too_large = 1;
            sp_http_add_header(req, "Connection", "close");
            sp_http_reply_error(req, 503, "unavailable", "the server is shutting down");
        } else if (cl && strtoull(cl, NULL, 10) > SP_HTTP_BODY_MAX) {
            /* Refuse before reading a byte of it; MHD closes afterwards. */
            req->too_large = 1;
            sp_http_reply_error(req, 413, "requestTooLarge", "request body exceeds %d bytes",
                                SP_HTTP_BODY_MAX);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!req->too_large && req->body.len + *upload_data_size > SP_HTTP_BODY_MAX) {
            req->too_large = 1;
            sp_buf_free(&req->body);
        }
        if (!req->too_large && sp_buf_append(&req->body, upload_data, *upload_data_size) < 0)
            req->too_large = 1; /* out of memory: answered below as 413/500 */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->replied)
        return MHD_YES;
    if (req->resume) { /* resumed: answer now */
        sp_http_resume_fn fn = req->resume;
        req->resume = NULL;
        fn(req, req->resume_ctx);
        if (!req->replied) {
            sp_error("http", "%s %s: resumed without a reply", req->method, req->path);
            sp_http_reply_error(req, 500, "generalException", "internal error");
        }
        return MHD_YES;
    }
    if (req->too_large)
        sp_http_reply_error(req, 413, "requestTooLarge", "request body exceeds %d bytes",
                            SP_HTTP_BODY_MAX);
    else
        dispatch(req);
    return MHD_YES;
}

static void record(sp_http_server *srv, int route, unsigned status, int64_t ns)
{
    route_stats *s = &srv->stats[route + 1];
    if (status >= 100 && status < 100 + SP_HTTP_STATUS_SLOTS)
        atomic_fetch_add_explicit(&s->status[status - 100], 1, memory_order_relaxed);
    int64_t us = ns / 1000;
    size_t b = 0;
    while (b < SP_HTTP_BUCKETS && us > bucket_us[b])
        b++;
    atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_us, (uint_fast64_t)us, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    sp_http_server *srv = cls;
    sp_http_req *req = *con_cls;
    if (!req)
        return;
    if (req->resume) {
        /* Resumed, but the client had left: its answer has nowhere to
         * go, yet what the request holds must still be let go. */
        sp_http_resume_fn fn = req->resume;
        req->resume = NULL;
        req->gone = 1;
        fn(req, req->resume_ctx);
    }
    record(srv, req->match.route, req->replied ? req->status : 499,
           sp_time_mono_ns() - req->start_ns);
    sp_route_match_free(&req->match);
    sp_buf_free(&req->body);
    for (size_t i = 0; i < req->header_count; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->in_flight, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    sp_buf b = {0};
    if (sp_buf_vprintf(&b, fmt, ap) == 0) {
        while (b.len && b.data[b.len - 1] == '\n')
            b.data[--b.len] = '\0';
        sp_warn("http", "%s", b.data);
    }
    sp_buf_free(&b);
}

/* The worker pool for a requested size (0: SP_HTTP_THREADS_PER_CORE). */
static unsigned pool_size(unsigned requested)
{
    unsigned threads = requested;
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n < 1 ? SP_HTTP_THREADS_PER_CORE : (unsigned)n * SP_HTTP_THREADS_PER_CORE;
    }
    return threads > SP_HTTP_MAX_THREADS ? SP_HTTP_MAX_THREADS : threads;
}

unsigned sp_http_descriptors(unsigned threads)
{
    /* A worker: its epoll and wake-up descriptors, and its SQLite reader
     * (database, WAL and shared-memory files). */
    return pool_size(threads) * 5 + SP_HTTP_OVERFLOW;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)conn;
    sp_http_server *srv = cls;
    if (code != MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_sub(&srv->connections, 1);
        return;
    }
    /* Decided once per connection: the ones beyond the limit are refused,
     * not whichever connection happens to send a request next. */
    if ((unsigned)atomic_fetch_add(&srv->connections, 1) >= srv->connection_limit)
        *socket_ctx = srv;
}

int sp_http_start(const sp_http_options *opt, const sp_router *router, sp_http_server **out)
{
    sp_http_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return SP_ERR_NOMEM;
    srv->router = router;
    srv->connection_limit = opt->connection_limit ? opt->connection_limit : 1000u;
    srv->listen_fd = MHD_INVALID_SOCKET;
    srv->stats_count = sp_router_count(router) + 1;
    srv->stats = calloc(srv->stats_count, sizeof *srv->stats);
    if (!srv->stats) {
        free(srv);
        return SP_ERR_NOMEM;
    }

    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    char port[16];
    snprintf(port, sizeof port, "%d", opt->port);
    int gai = getaddrinfo(strcmp(opt->host, "localhost") == 0 ? "127.0.0.1" : opt->host, port,
                          &hints, &ai);
    if (gai != 0) {
        sp_error("http", "cannot use listen address %s: %s", opt->host, gai_strerror(gai));
        free(srv->stats);
        free(srv);
        return SP_ERR_IO;
    }

    unsigned threads = pool_size(opt->threads);

    unsigned flags =
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (opt->tls_cert_pem)
        flags |= MHD_USE_TLS;

    struct MHD_OptionItem tls_opts[] = {
        {opt->tls_cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0,
         (void *)opt->tls_cert_pem},
        {opt->tls_cert_pem ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0,
         (void *)opt->tls_key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        srv, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)opt->connection_timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, srv->connection_limit + SP_HTTP_OVERFLOW,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)SP_HTTP_PER_IP_LIMIT,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SP_HTTP_CONNECTION_MEMORY, MHD_OPTION_ARRAY,
        tls_opts, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!srv->daemon) {
        sp_error("http", "cannot listen on %s port %d (address in use or not permitted)", opt->host,
                 opt->port);
        free(srv->stats);
        free(srv);
        return SP_ERR_IO;
    }
    *out = srv;
    return 0;
}

void sp_http_quiesce(sp_http_server *srv)
{
    if (srv && srv->listen_fd == MHD_INVALID_SOCKET)
        srv->listen_fd = MHD_quiesce_daemon(srv->daemon);
}

void sp_http_stop(sp_http_server *srv, int64_t timeout_ms)
{
    if (!srv)
        return;
    sp_http_quiesce(srv);
    atomic_store(&srv->closing, 1);
    int64_t deadline = sp_time_mono_ms() + timeout_ms;
    while (atomic_load(&srv->in_flight) > 0 && sp_time_mono_ms() < deadline)
        usleep(10 * 1000);
    if (atomic_load(&srv->in_flight) > 0)
        sp_warn("http", "stopping with %d requests still in flight", atomic_load(&srv->in_flight));
    /* A suspended request is resumed once its writes are durable or
     * failed, which the store always tells; the daemon must not stop
     * before (it cannot free a suspended connection, and the resume would
     * reach freed memory). */
    for (int64_t next = sp_time_mono_ms(); atomic_load(&srv->suspended) > 0; usleep(10 * 1000)) {
        if (sp_time_mono_ms() >= next) {
            sp_warn("http", "waiting for %d requests whose writes are not done yet",
                    atomic_load(&srv->suspended));
            next = sp_time_mono_ms() + 5000;
        }
    }
    MHD_stop_daemon(srv->daemon);
    if (srv->listen_fd != MHD_INVALID_SOCKET)
        close(srv->listen_fd);
    free(srv->stats);
    free(srv);
}

sp_http_server *sp_http_server_of(const sp_http_req *req)
{
    return req->srv;
}

int sp_http_metrics(sp_http_server *srv, sp_buf *out)
{
    int rc = sp_buf_puts(out, "# HELP spaceport_http_requests_total HTTP requests by route and "
                              "status code.\n# TYPE spaceport_http_requests_total counter\n");
    for (size_t r = 0; r < srv->stats_count; r++) {
        const char *method = r ? sp_router_method(srv->router, (int)r - 1) : "";
        const char *pattern = r ? sp_router_pattern(srv->router, (int)r - 1) : "unmatched";
        for (int s = 0; s < SP_HTTP_STATUS_SLOTS; s++) {
            uint_fast64_t n = atomic_load_explicit(&srv->stats[r].status[s], memory_order_relaxed);
            if (n)
                rc |= sp_buf_printf(out,
                                    "spaceport_http_requests_total{method=\"%s\",route=\"%s\","
                                    "code=\"%d\"} %llu\n",
                                    method, pattern, s + 100, (unsigned long long)n);
        }
    }
    rc |= sp_buf_puts(out, "# HELP spaceport_http_request_duration_seconds Time from request "
                           "to reply.\n# TYPE spaceport_http_request_duration_seconds "
                           "histogram\n");
    for (size_t r = 0; r < srv->stats_count; r++) {
        route_stats *s = &srv->stats[r];
        uint_fast64_t count = atomic_load_explicit(&s->count, memory_order_relaxed);
        if (!count)
            continue;
        const char *method = r ? sp_router_method(srv->router, (int)r - 1) : "";
        const char *pattern = r ? sp_router_pattern(srv->router, (int)r - 1) : "unmatched";
        uint_fast64_t cumulative = 0;
        for (size_t b = 0; b <= SP_HTTP_BUCKETS; b++) {
            cumulative += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
            char le[32];
            if (b < SP_HTTP_BUCKETS)
                snprintf(le, sizeof le, "%g", (double)bucket_us[b] / 1e6);
            else
                strcpy(le, "+Inf");
            rc |= sp_buf_printf(out,
                                "spaceport_http_request_duration_seconds_bucket{method=\"%s\","
                                "route=\"%s\",le=\"%s\"} %llu\n",
                                method, pattern, le, (unsigned long long)cumulative);
        }
        rc |= sp_buf_printf(
            out,
            "spaceport_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"}"
            " %.6f\nspaceport_http_request_duration_seconds_count{method=\"%s\","
            "route=\"%s\"} %llu\n",
            method, pattern, (double)atomic_load_explicit(&s->sum_us, memory_order_relaxed) / 1e6,
            method, pattern, (unsigned long long)count);
    }
    rc |= sp_buf_printf(
        out,
        "# HELP spaceport_http_requests_in_flight Requests being handled.\n"
        "# TYPE spaceport_http_requests_in_flight gauge\n"
        "spaceport_http_requests_in_flight %d\n"
        "# HELP spaceport_http_connections Open HTTP connections (change streams included).\n"
        "# TYPE spaceport_http_connections gauge\n"
        "spaceport_http_connections %d\n"
        "# HELP spaceport_http_connection_limit Open connections served at most.\n"
        "# TYPE spaceport_http_connection_limit gauge\n"
        "spaceport_http_connection_limit %u\n"
        "# HELP spaceport_http_connections_refused_total Requests answered 503 because the "
        "connection limit was reached.\n"
        "# TYPE spaceport_http_connections_refused_total counter\n"
        "spaceport_http_connections_refused_total %llu\n",
        atomic_load(&srv->in_flight), atomic_load(&srv->connections), srv->connection_limit,
        (unsigned long long)atomic_load(&srv->refused));
    return rc ? SP_ERR_NOMEM : 0;
}
