/*
 * changes.c - the user's events as Server-Sent Events, resumable with
 * Last-Event-ID: GET /api/v1/changes with Spaceport's names and data, and
 * GET /ocs/v2.php/apps/notifications/api/v1/notifications/sse with oCIS's
 * names and clientlog payloads (clientlog.c), for oCIS's web clients.
 *
 * Every notification is a row of the event log, so a stream is a cursor
 * over the user's events: `id:` is the event's sequence number, and a
 * client that reconnects with Last-Event-ID gets exactly what it missed.
 * A stream costs no thread while idle: it sleeps until the hub wakes it
 * (new events for its user, or its timer: keep-alive, coalescing window,
 * token expiry). Both paths are the same cursor over the log; they differ
 * only in their dialect: how an event is written, and whether item
 * changes are coalesced. The event catalog (store/catalog.h) names each
 * type on each path.
 */
#include "api/internal.h"

#include "api/query.h"

#include "events/hub.h"
#include "store/events.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Streams one user may hold at once (429 beyond): a few devices with a
 * few tabs each, not a flood. */
#define SP_CHANGES_PER_USER 64
/* Events read from the log per wake-up. */
#define SP_CHANGES_BATCH 256
/* Reconnect hint for EventSource clients, in milliseconds. */
#define SP_CHANGES_RETRY_MS 3000

typedef struct sse_dialect sse_dialect;

typedef struct change_stream {
    sp_api *api;
    const sse_dialect *dialect;
    sp_hub_sub *sub;
    _Atomic(sp_http_stream *) stream; /* set once the reply is queued */
    atomic_int pending;               /* the hub saw events for the user */
    int64_t user_seq;
    char user_id[SP_USER_ID_LEN]; /* whose stream: named by group grants' payloads */
    int64_t cursor;           /* last event seq delivered */
    int64_t token_expires_ms; /* the stream ends then */
    int64_t next_keepalive_ms;
    int64_t hold_until_ms; /* coalescing window after an item change */
    int resync;            /* the client's Last-Event-ID is past retention */
    int started, ended;
    sp_buf out;
    size_t out_off;
} change_stream;

/* Writes one frame of /api/v1/changes: id, the catalog's name, data (the
 * stored data plus type and time; JSON has no raw newlines, so one data
 * line). A type the catalog does not know (written by a newer version)
 * goes out as "changed". */
static int changes_frame(sp_buf *out, const sp_event *e, const char *user_id)
{
    (void)user_id;
    const sp_event_kind *k = sp_event_kind_find(e->type);
    char when[SP_TIME_RFC3339_LEN];
    sp_time_format_rfc3339(e->time_ms, when);
    size_t len = strlen(e->data);
    /* data is a JSON object: splice type and time in front of its keys. */
    int rc = sp_buf_printf(out, "id: %lld\nevent: %s\ndata: {\"type\":\"%s\",\"time\":\"%s\"",
                           (long long)e->seq, k ? k->changes_name : "changed", e->type, when);
    if (len > 2)
        rc |= sp_buf_puts(out, ",") | sp_buf_append(out, e->data + 1, len - 1);
    else
        rc |= sp_buf_puts(out, "}");
    rc |= sp_buf_puts(out, "\n\n");
    return rc;
}

/* What a path sends. */
struct sse_dialect {
    /* Writes e's frame to out, or nothing when the path does not send
     * it (the cursor passes it all the same). user_id is the stream's
     * user. Returns 0 or SP_ERR_NOMEM. */
    int (*frame)(sp_buf *out, const sp_event *e, const char *user_id);
    /* Merges item changes of one drive within the coalescing window: the
     * names of /api/v1/changes say only that the drive changed, while
     * oCIS's name each item, and its clients expect one event per item. */
    int coalesce;
    /* The token may come as the access_token query parameter (browsers'
     * EventSource cannot set headers; oCIS's clients send a header). */
    int allow_query;
};

static const sse_dialect changes_dialect = {changes_frame, 1, 1};
static const sse_dialect ocis_dialect = {sp_api__clientlog_frame, 0, 0};

/* A batch of events, for coalescing before it is written. */
typedef struct batch {
    int count;
    struct {
        int64_t seq, time_ms;
        char *id, *type, *subject, *data, *initiator;
        int affected;
    } e[SP_CHANGES_BATCH];
} batch;

static int collect(const sp_event *e, void *arg)
{
    batch *b = arg;
    int i = b->count;
    b->e[i].seq = e->seq;
    b->e[i].time_ms = e->time_ms;
    b->e[i].id = strdup(e->id);
    b->e[i].type = strdup(e->type);
    b->e[i].subject = strdup(e->subject);
    b->e[i].data = strdup(e->data);
    b->e[i].initiator = e->initiator ? strdup(e->initiator) : NULL;
    b->e[i].affected = e->affected;
    b->count++;
    if (!b->e[i].id || !b->e[i].type || !b->e[i].subject || !b->e[i].data ||
        (e->initiator && !b->e[i].initiator))
        return SP_ERR_NOMEM;
    return 0;
}

static void batch_free(batch *b)
{
    for (int i = 0; i < b->count; i++) {
        free(b->e[i].id);
        free(b->e[i].type);
        free(b->e[i].subject);
        free(b->e[i].data);
        free(b->e[i].initiator);
    }
}

/* Reads the user's next events and writes them, merging item changes of
 * one drive into the latest (it carries the newest eTag). Returns the
 * number of events read, or a negative sp_err. */
static int produce_events(change_stream *cs, int64_t now)
{
    batch *b = calloc(1, sizeof *b);
    if (!b)
        return SP_ERR_NOMEM;
    int rc = sp_store_events_for_user(cs->api->store, cs->user_seq, cs->cursor, SP_CHANGES_BATCH,
                                      collect, b);
    int item_changes = 0;
    for (int i = 0; rc == 0 && i < b->count; i++) {
        int is_item = cs->dialect->coalesce && (strcmp(b->e[i].type, SP_EVENT_ITEM_CHANGED) == 0 ||
                                                strcmp(b->e[i].type, SP_EVENT_REMOTE_CHANGED) == 0);
        if (is_item && cs->api->cfg->sse_coalesce_ms > 0) {
            /* Superseded by a later change of the same drive within the
             * window: that one carries the newer eTag. Changes further
             * apart (a replay of a day's events) all go out. */
            int superseded = 0;
            for (int j = i + 1; j < b->count && !superseded; j++)
                superseded = strcmp(b->e[j].type, b->e[i].type) == 0 &&
                             strcmp(b->e[j].subject, b->e[i].subject) == 0 &&
                             b->e[j].time_ms - b->e[i].time_ms < cs->api->cfg->sse_coalesce_ms;
            if (superseded)
                continue;
        }
        sp_event e = {b->e[i].seq,     b->e[i].id,   b->e[i].type,      b->e[i].subject,
                      b->e[i].time_ms, b->e[i].data, b->e[i].initiator, b->e[i].affected};
        rc = cs->dialect->frame(&cs->out, &e, cs->user_id);
        item_changes += is_item;
    }
    if (rc == 0 && b->count > 0)
        cs->cursor = b->e[b->count - 1].seq;
    if (item_changes && cs->api->cfg->sse_coalesce_ms > 0)
        cs->hold_until_ms = now + cs->api->cfg->sse_coalesce_ms;
    int read = b->count;
    batch_free(b);
    free(b);
    return rc < 0 ? rc : read;
}

static ssize_t copy_out(change_stream *cs, char *buf, size_t max)
{
    size_t left = cs->out.len - cs->out_off;
    size_t n = left < max ? left : max;
    memcpy(buf, cs->out.data + cs->out_off, n);
    cs->out_off += n;
    if (cs->out_off == cs->out.len) {
        sp_buf_reset(&cs->out);
        cs->out_off = 0;
    }
    return (ssize_t)n;
}

/* The stream's producer, on an HTTP worker. */
static ssize_t change_read(void *arg, char *buf, size_t max)
{
    change_stream *cs = arg;
    if (cs->out_off < cs->out.len)
        return copy_out(cs, buf, max);
    if (cs->ended || sp_hub_closing(cs->api->hub))
        return -1;
    int64_t now = sp_time_now_ms();
    if (!cs->started) {
        cs->started = 1;
        sp_buf_printf(&cs->out, "retry: %d\n\n", SP_CHANGES_RETRY_MS);
        if (cs->resync)
            sp_buf_printf(&cs->out,
                          "id: %lld\nevent: resync\ndata: {\"reason\":\"the events "
                          "since your Last-Event-ID are past retention; list your "
                          "drives again\"}\n\n",
                          (long long)cs->cursor);
    }
    if (now >= cs->token_expires_ms) {
        sp_buf_puts(&cs->out, "event: token-expired\ndata: {}\n\n");
        cs->ended = 1;
    } else if (now >= cs->hold_until_ms && atomic_exchange(&cs->pending, 0)) {
        /* The log is read only when the hub saw events for this user:
         * keep-alives and other timers cost no query. */
        int n = produce_events(cs, now);
        if (n < 0)
            cs->ended = 1;
        else if (n == SP_CHANGES_BATCH)
            atomic_store(&cs->pending, 1); /* a full batch: read on */
    }
    if (cs->out.len == 0 && now >= cs->next_keepalive_ms)
        sp_buf_puts(&cs->out, ": keep-alive\n\n");
    if (cs->out.len > 0)
        cs->next_keepalive_ms = now + cs->api->cfg->sse_keepalive_ms;
    /* Sleep until the earliest of keep-alive, token expiry and the end of
     * a coalescing window (new events wake the stream anyway). */
    int64_t due = cs->next_keepalive_ms;
    if (cs->token_expires_ms < due)
        due = cs->token_expires_ms;
    if (cs->hold_until_ms > now && cs->hold_until_ms < due)
        due = cs->hold_until_ms;
    sp_hub_set_timer(cs->api->hub, cs->sub, due);
    if (cs->out.len > 0)
        return copy_out(cs, buf, max);
    return cs->ended ? -1 : 0;
}

static void change_wake(void *arg, int events)
{
    change_stream *cs = arg;
    if (events)
        atomic_store(&cs->pending, 1);
    sp_http_stream *s = atomic_load(&cs->stream);
    if (s)
        sp_http_stream_wake(s);
}

static void change_free(void *arg)
{
    change_stream *cs = arg;
    sp_hub_unsubscribe(cs->api->hub, cs->sub);
    sp_buf_free(&cs->out);
    free(cs);
}

/* Opens a stream of the caller's events in dialect d. */
static void open_stream(sp_http_req *req, sp_api *api, const sse_dialect *d)
{
    sp_identity id;
    sp_user u;
    if (sp_api__caller_ex(req, api, d->allow_query, &id, &u) < 0)
        return;
    if (!api->hub) {
        sp_http_reply_error(req, 503, "unavailable", "change notifications are not running");
        return;
    }
    int64_t oldest = 0, newest = 0;
    if (sp_store_events_range(api->store, &oldest, &newest) < 0) {
        sp_api__store_error(req, api, SP_ERR_DB);
        return;
    }
    change_stream *cs = calloc(1, sizeof *cs);
    if (!cs) {
        sp_http_reply_error(req, 500, "generalException", "out of memory");
        return;
    }
    cs->api = api;
    cs->dialect = d;
    cs->user_seq = u.seq;
    memcpy(cs->user_id, u.id, sizeof cs->user_id);
    cs->token_expires_ms = id.expires_at_ms;
    cs->cursor = newest;
    atomic_init(&cs->pending, 1); /* replay, or events since `newest` */
    const char *last = sp_http_header(req, "Last-Event-ID");
    if (!last)
        last = sp_http_query(req, "lastEventId");
    if (last) {
        int64_t v;
        if (sp_query_parse_event_id(last, &v) < 0) {
            free(cs);
            sp_http_reply_error(req, 400, "invalidRequest",
                                "Last-Event-ID must be an event id from this stream");
            return;
        }
        /* Older than what the log keeps: the client missed events that are
         * gone, so it must resync; otherwise replay from there. */
        if (oldest > 0 && v + 1 < oldest)
            cs->resync = 1;
        else if (v < newest)
            cs->cursor = v;
    }
    int rc = sp_hub_subscribe(api->hub, u.seq, SP_CHANGES_PER_USER, change_wake, cs, &cs->sub);
    if (rc == SP_ERR_TOO_LARGE) {
        free(cs);
        sp_http_reply_error(req, 429, "tooManyRequests", "at most %d change streams per user",
                            SP_CHANGES_PER_USER);
        return;
    }
    if (rc < 0) {
        free(cs);
        sp_http_reply_error(req, 503, "unavailable", "the service is shutting down");
        return;
    }
    sp_http_add_header(req, "Cache-Control", "no-cache");
    sp_http_add_header(req, "X-Accel-Buffering", "no");
    sp_http_stream *stream = NULL;
    if (sp_http_reply_stream(req, "text/event-stream", change_read, change_free, cs, &stream) < 0)
        return; /* cs was freed (and unsubscribed) by change_free */
    atomic_store(&cs->stream, stream);
    sp_hub_set_timer(api->hub, cs->sub, sp_time_now_ms());
}

static void changes(sp_http_req *req, void *ctx)
{
    open_stream(req, ctx, &changes_dialect);
}

/* oCIS's path (its sse service), where the clients of ownCloud Web and
 * OpenCloud Web look when the capabilities say support-sse. */
static void ocis_changes(sp_http_req *req, void *ctx)
{
    open_stream(req, ctx, &ocis_dialect);
}

int sp_api__register_changes(sp_router *r, sp_api *api)
{
    static const sp_api_route routes[] = {
        {"GET", "/api/v1/changes", changes},
        {"GET", "/ocs/v2.php/apps/notifications/api/v1/notifications/sse", ocis_changes},
    };
    return sp_api__add_routes(r, api, routes, sizeof routes / sizeof routes[0]);
}
