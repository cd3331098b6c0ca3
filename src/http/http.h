/*
 * http.h - the HTTP server: libmicrohttpd underneath, handlers on top.
 *
 * A handler receives an sp_http_req, reads what it needs through the
 * accessors below, and answers exactly once with one of the sp_http_reply_*
 * functions. A handler that does not answer gets a 500. This layer knows
 * nothing of spaces, users or events.
 */
#ifndef SP_HTTP_H
#define SP_HTTP_H

#include "http/router.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sp_buf;

/* Largest request body accepted (413 beyond); the contract's bodies are a
 * few hundred bytes, and 1 MiB leaves room for batch invitations. */
#define SP_HTTP_BODY_MAX (1024 * 1024)
/* Longest request target (path and query) we route: the contract's URLs
 * are short; anything longer is 414 before routing. */
#define SP_HTTP_URI_MAX 8192
/* Total bytes of request header names and values: 431 beyond. Bearer
 * tokens (8 KiB at most, see auth) fit with room to spare. */
#define SP_HTTP_HEADERS_MAX 16384
/* Extra response headers one handler may add. */
#define SP_HTTP_MAX_HEADERS 8

typedef struct sp_http_req sp_http_req;
typedef struct sp_http_server sp_http_server;

typedef struct sp_http_options {
    const char *host; /* numeric address to bind, e.g. "127.0.0.1", "::" */
    int port;
    unsigned threads;         /* worker pool size; 0 = 4 per core, at most 64 */
    const char *tls_cert_pem; /* PEM text (not a file name), or NULL for plain HTTP */
    const char *tls_key_pem;
    int64_t connection_timeout_s; /* idle connections are closed after this */
    unsigned connection_limit;    /* open connections served in all (more are answered 503
                                     and closed); 0 = 1,000 */
} sp_http_options;

/* --- reading the request (all returned strings are borrowed, valid until
 *     the handler returns) --- */
const char *sp_http_method(const sp_http_req *req);
/* Percent-decoded path without the query. */
const char *sp_http_path(const sp_http_req *req);
/* Placeholder from the route pattern ("id" for {id}), or NULL. */
const char *sp_http_param(const sp_http_req *req, const char *name);
/* Query argument, percent-decoded, or NULL. */
const char *sp_http_query(const sp_http_req *req, const char *name);
/* Every value of a repeated query argument (?rel=a&rel=b), in request
 * order: stores the first max into values (borrowed) and returns how many
 * there are in all, which may be more than max. */
size_t sp_http_query_all(const sp_http_req *req, const char *name, const char **values, size_t max);
/* How many query arguments req has (?a=1&b is 2; none is 0). */
size_t sp_http_query_count(const sp_http_req *req);
/* Request header (case-insensitive name), or NULL. */
const char *sp_http_header(const sp_http_req *req, const char *name);
/* Request body (NUL-terminated; may contain NULs within len) and its length. */
const char *sp_http_body(const sp_http_req *req, size_t *len);
/* Client address as text ("127.0.0.1"); "" when unknown. */
const char *sp_http_client_ip(sp_http_req *req);

/* One pointer of per-request state for the layer above (the caller's
 * identity, for instance). Borrowed; the setter owns what it sets. */
void *sp_http_user_data(const sp_http_req *req);
void sp_http_set_user_data(sp_http_req *req, void *data);

/* --- answering --- */

/* Adds a header to the coming reply. name and value are copied. Returns 0,
 * SP_ERR_TOO_LARGE past SP_HTTP_MAX_HEADERS, or SP_ERR_NOMEM. */
int sp_http_add_header(sp_http_req *req, const char *name, const char *value);

/* Replies with body (copied) and content type. Returns 0 or SP_ERR_NOMEM
 * (the request then ends with a 500 if possible). */
int sp_http_reply(sp_http_req *req, unsigned status, const char *content_type, const void *body,
                  size_t len);
/* Replies with JSON; steals value (may be NULL for an empty body, e.g. 204). */
int sp_http_reply_json(sp_http_req *req, unsigned status, json_t *value);
/* Replies {"error":{"code":code,"message":...}} with the given status. */
int sp_http_reply_error(sp_http_req *req, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* --- answering later --- */

/* Answers a resumed request (with sp_http_reply_*), on an HTTP worker
 * thread; req is valid as in a handler. Also called when the client left
 * meanwhile (the replies then fail with SP_ERR_IO), so that ctx is always
 * released. */
typedef void (*sp_http_resume_fn)(sp_http_req *req, void *ctx);

/*
 * Ends the handler without an answer: the connection waits, costing no
 * thread, until sp_http_resume; then fn(req, ctx) answers it. Call it
 * before handing req to whoever resumes it. Until fn returns, the path,
 * the route's parameters and the body stay valid, and may be read from
 * any thread (nothing else touches them while the request waits).
 */
void sp_http_suspend(sp_http_req *req, sp_http_resume_fn fn, void *ctx);
/* Wakes a suspended request, from any thread, exactly once per
 * sp_http_suspend. */
void sp_http_resume(sp_http_req *req);

/* --- streams (Server-Sent Events) --- */

typedef struct sp_http_stream sp_http_stream;

/* Produces the next part of a stream into buf (max bytes). Returns the
 * bytes written; 0 when there is nothing to send now (the connection then
 * sleeps, costing no thread, until sp_http_stream_wake); -1 to end the
 * reply. Runs on an HTTP worker thread. */
typedef ssize_t (*sp_http_stream_fn)(void *ctx, char *buf, size_t max);
/* Called once when the connection is gone, on an HTTP worker thread;
 * releases ctx. Once it returns nobody may wake the stream again. */
typedef void (*sp_http_stream_free_fn)(void *ctx);

/*
 * Answers 200 with a body produced by fn over time (the headers added with
 * sp_http_add_header go along). ctx is stolen: free_fn releases it, also
 * when this call fails. *out receives the handle to wake the stream with.
 * Returns 0 or SP_ERR_NOMEM.
 */
int sp_http_reply_stream(sp_http_req *req, const char *content_type, sp_http_stream_fn fn,
                         sp_http_stream_free_fn free_fn, void *ctx, sp_http_stream **out);

/* Makes fn run again soon for this stream. Thread-safe; the caller must
 * guarantee the stream is not being freed (see sp_http_stream_free_fn). */
void sp_http_stream_wake(sp_http_stream *s);

/* --- the server --- */

/*
 * Starts listening and serving routes from router (borrowed; must outlive
 * the server). Returns 0 and a new server in *out, or SP_ERR_IO when the
 * address cannot be bound (logged with the reason).
 */
int sp_http_start(const sp_http_options *opt, const sp_router *router, sp_http_server **out);

/* Descriptors a server with that many threads (0: the default) uses
 * besides its connections, for sizing the connection limit. */
unsigned sp_http_descriptors(unsigned threads);

/* Stops accepting new connections; requests in flight go on. */
void sp_http_quiesce(sp_http_server *srv);

/* Waits up to timeout_ms for requests in flight to finish, then stops the
 * server and frees it. */
void sp_http_stop(sp_http_server *srv, int64_t timeout_ms);

/* Appends the server's metrics in Prometheus text format: requests by
 * route and status, latency histogram by route, requests in flight. */
int sp_http_metrics(sp_http_server *srv, struct sp_buf *out);
/* The server a request came to (for its metrics). */
sp_http_server *sp_http_server_of(const sp_http_req *req);

#endif
