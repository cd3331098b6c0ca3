/* reconcile.c - what the stream really holds of the event log. */
#include "events/reconcile.h"

#include "events/bus.h"
#include "events/envelope.h"
#include "util/err.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

/* Stream messages read at most in one reconciliation: a window of our
 * events with other publishers' messages between them, bounded so that a
 * stream full of foreign traffic cannot hold the relay for long (each read
 * is one request to the server, ~0.1 ms here). */
#define SP_HELD_MAX_READS 32768

/* Stream messages read at a time (a chunk): two windows of our events
 * and the messages between them are usually one chunk. */
#define SP_HELD_CHUNK 4608
/* How long one message of a chunk may take to arrive. */
#define SP_HELD_WAIT_MS 5000

static int cmp_seq(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Appends seq; returns 0 or SP_ERR_NOMEM. */
static int push(sp_held *h, size_t *cap, int64_t seq)
{
    if (h->n == *cap) {
        size_t want = *cap ? *cap * 2 : 256;
        int64_t *grown = realloc(h->seqs, want * sizeof *grown);
        if (!grown)
            return SP_ERR_NOMEM;
        h->seqs = grown;
        *cap = want;
    }
    h->seqs[h->n++] = seq;
    return 0;
}

/* Sorts, drops what is at or below the floor and duplicates (an event sent
 * again after a failure may be in the stream twice, outside the
 * de-duplication window). */
static void settle_set(sp_held *h)
{
    if (h->n)
        qsort(h->seqs, h->n, sizeof *h->seqs, cmp_seq);
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++)
        if (h->seqs[i] > h->floor && (k == 0 || h->seqs[k - 1] != h->seqs[i]))
            h->seqs[k++] = h->seqs[i];
    h->n = k;
    h->top = k ? h->seqs[k - 1] : h->floor;
}

int sp_held_scan(const sp_stream_view *v, const char *source, int64_t cursor, int64_t window,
                 sp_held *out)
{
    memset(out, 0, sizeof *out);
    sp_held h = {0};
    if (v->msgs == 0) {
        /* Never held anything: all of the log is missing. Emptied by its
         * limits or a purge: the operator removed it, do not bring it back. */
        h.floor = h.top = v->last == 0 ? 0 : cursor;
        *out = h;
        return 0;
    }

    /* The relay sends each window in log order and starts over from its
     * cursor after a failure, so an event e of the stream was sent when
     * every event up to e - window was acknowledged, that is already in the
     * stream before it. Hence: find an event e at least a window below the
     * newest; every event up to e - window is held (the floor). Then read
     * on until an event at or below the floor, so that the events above
     * it are known one by one (in log order that is one more window). */
    size_t cap = 0;
    int64_t top = 0, lowest = 0;
    int floor_known = 0, stopped = 0, rc = 0;
    for (uint64_t seq = v->last; seq >= v->first && seq > 0; seq--) {
        if (h.scanned == SP_HELD_MAX_READS)
            break;
        h.scanned++;
        const char *text = NULL;
        size_t len = 0;
        rc = v->read(v->ctx, seq, &text, &len);
        if (rc == SP_ERR_NOT_FOUND) {
            rc = 0;
            continue; /* deleted from the middle of the stream */
        }
        if (rc < 0)
            break;
        int64_t ev = 0;
        int ours = sp_envelope_sequence(text, len, source, &ev) == 0;
        if (!ours)
            continue;
        if ((rc = push(&h, &cap, ev)) < 0)
            break;
        top = ev > top ? ev : top;
        lowest = lowest == 0 || ev < lowest ? ev : lowest;
        if (floor_known && ev <= h.floor) {
            stopped = 1;
            break;
        }
        if (!floor_known && ev <= top - window) {
            h.floor = ev - window > 0 ? ev - window : 0;
            floor_known = 1;
        }
    }
    if (rc < 0) {
        sp_held_free(&h);
        return rc;
    }
    if (!stopped) {
        if (v->first <= 1 && h.scanned < SP_HELD_MAX_READS)
            h.floor = 0; /* the whole stream was read */
        else
            /* Read as far as allowed, or the stream's front was removed by
             * its limits: what is below the oldest event seen is taken as
             * held (none seen: trust the cursor). */
            h.floor = lowest ? lowest : cursor;
    }
    settle_set(&h);
    *out = h;
    return 0;
}

/* The stream read in chunks: an ordered consumer delivers a chunk of
 * messages at the server's pace, where one request per message costs
 * ~0.2 ms here (JSON and base64 around each). The walk goes backwards, so
 * each chunk ends where the previous one began. */
typedef struct js_stream {
    jsCtx *js;
    const char *name;
    uint64_t first;          /* the stream's first message */
    uint64_t lo, hi;         /* the chunk held: messages lo..hi, when texts */
    char **texts;            /* [seq - lo]: a copy of the data, NULL when deleted */
    size_t *lens;
} js_stream;

static void chunk_free(js_stream *st)
{
    for (uint64_t i = 0; st->texts && i <= st->hi - st->lo; i++)
        free(st->texts[i]);
    free(st->texts);
    free(st->lens);
    st->texts = NULL;
    st->lens = NULL;
}

/* Reads messages lo..hi into the chunk. Returns 0 or a negative sp_err. */
static int chunk_fetch(js_stream *st, uint64_t lo, uint64_t hi)
{
    chunk_free(st);
    size_t n = (size_t)(hi - lo + 1);
    st->texts = calloc(n, sizeof *st->texts);
    st->lens = calloc(n, sizeof *st->lens);
    if (!st->texts || !st->lens) {
        st->lo = st->hi = 0;
        chunk_free(st);
        return SP_ERR_NOMEM;
    }
    st->lo = lo;
    st->hi = hi;

    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = st->name;
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = lo;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_SubscribeSync(&sub, st->js, SP_BUS_SUBJECTS, NULL, &so, &jerr);
    int rc = 0;
    while (s == NATS_OK && rc == 0) {
        natsMsg *m = NULL;
        jsMsgMetaData *meta = NULL;
        s = natsSubscription_NextMsg(&m, sub, SP_HELD_WAIT_MS);
        if (s == NATS_TIMEOUT) {
            /* Nothing more to deliver: the rest of the chunk was deleted
             * (or the server stalled; then its events count as missing
             * and are sent again: twice at worst, never lost). */
            s = NATS_OK;
            break;
        }
        if (s == NATS_OK)
            s = natsMsg_GetMetaData(&meta, m);
        if (s != NATS_OK) {
            natsMsg_Destroy(m);
            break;
        }
        uint64_t seq = meta->Sequence.Stream;
        int last = seq >= hi || meta->NumPending == 0;
        jsMsgMetaData_Destroy(meta);
        if (seq >= lo && seq <= hi) {
            size_t len = (size_t)natsMsg_GetDataLength(m);
            char *text = malloc(len + 1);
            if (text) {
                memcpy(text, natsMsg_GetData(m), len);
                text[len] = '\0';
                st->texts[seq - lo] = text;
                st->lens[seq - lo] = len;
            } else {
                rc = SP_ERR_NOMEM;
            }
        }
        natsMsg_Destroy(m);
        if (last)
            break;
    }
    if (sub) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
    }
    if (s != NATS_OK && rc == 0) {
        sp_warn("relay", "cannot read messages %llu-%llu of stream %s: %s (JetStream error %d)",
                (unsigned long long)lo, (unsigned long long)hi, st->name, natsStatus_GetText(s),
                (int)jerr);
        rc = SP_ERR_UNAVAILABLE;
    }
    if (rc < 0) {
        chunk_free(st);
        st->lo = st->hi = 0;
    }
    return rc;
}

static int js_read(void *ctx, uint64_t seq, const char **text, size_t *len)
{
    js_stream *st = ctx;
    if (!st->texts || seq < st->lo || seq > st->hi) {
        uint64_t lo = seq >= st->first + SP_HELD_CHUNK ? seq - SP_HELD_CHUNK + 1 : st->first;
        int rc = chunk_fetch(st, lo, seq);
        if (rc < 0)
            return rc;
    }
    if (!st->texts[seq - st->lo])
        return SP_ERR_NOT_FOUND; /* deleted from the middle of the stream */
    *text = st->texts[seq - st->lo];
    *len = st->lens[seq - st->lo];
    return 0;
}

int sp_held_read(jsCtx *js, const char *stream, const char *source, int64_t cursor,
                 int64_t window, sp_held *out)
{
    memset(out, 0, sizeof *out);
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    if (js_GetStreamInfo(&si, js, stream, NULL, &jerr) != NATS_OK) {
        sp_warn("relay", "cannot read stream %s: JetStream error %d", stream, (int)jerr);
        return SP_ERR_UNAVAILABLE;
    }
    js_stream st = {.js = js, .name = stream, .first = si->State.FirstSeq};
    sp_stream_view v = {si->State.FirstSeq, si->State.LastSeq, si->State.Msgs, js_read, &st};
    jsStreamInfo_Destroy(si);
    int rc = sp_held_scan(&v, source, cursor, window, out);
    chunk_free(&st);
    return rc == SP_ERR_NOMEM ? rc : rc < 0 ? SP_ERR_UNAVAILABLE : 0;
}

int sp_held_has(const sp_held *h, int64_t seq)
{
    if (seq <= h->floor)
        return 1;
    size_t lo = 0, hi = h->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->seqs[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < h->n && h->seqs[lo] == seq;
}

void sp_held_free(sp_held *h)
{
    free(h->seqs);
    h->seqs = NULL;
    h->n = 0;
}
