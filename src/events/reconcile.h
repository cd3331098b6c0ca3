/*
 * reconcile.h - what the stream really holds of the event log.
 *
 * A JetStream acknowledgement does not mean the message is on disk:
 * nats-server 2.9 syncs its store about every two minutes, and a cluster
 * can lose acknowledged writes too. A power cut can therefore take the
 * newest messages out of the stream after the relay recorded them as
 * published. Whenever the relay (re)connects it reads the end of the
 * stream and publishes again what the stream lacks; this module does the
 * reading.
 *
 * Our messages carry the log's sequence number in the CloudEvents
 * `sequence` extension and our source. Reading walks the stream back from
 * its last message, skipping other publishers' messages (storage
 * providers publish on the same subjects), until it knows the events held
 * one by one down to a floor below which all are held: after a failed
 * publish the relay sends a window of events again, so the stream's order
 * may differ from the log's by up to a window, and the floor is two
 * windows below the newest event held.
 */
#ifndef SP_EVENTS_RECONCILE_H
#define SP_EVENTS_RECONCILE_H

#include <nats/nats.h>
#include <stddef.h>
#include <stdint.h>

/* What the end of the stream holds of the log. */
typedef struct sp_held {
    int64_t floor; /* events <= floor count as held (or gone for good) */
    int64_t top;   /* the newest event held, or floor when none is above it */
    int64_t *seqs; /* the events held in (floor, top], ascending, each once */
    size_t n;
    size_t scanned; /* stream messages read to find out */
} sp_held;

/*
 * Reads the end of stream through js (borrowed) and fills *out (a new
 * set; free it with sp_held_free). source is ours; cursor is what the log
 * says is published; window is how far the stream's order may differ from
 * the log's. Returns 0, or SP_ERR_UNAVAILABLE when the stream cannot be
 * read (nothing is filled in then).
 *
 * A stream that never held a message (new, or its store lost) holds
 * nothing: floor 0, so the whole retained log is published again. A
 * stream whose messages were all removed by its limits or a purge is not
 * asked to hold them again: floor = cursor. When the walk reaches the
 * stream's first message and that is message 1, floor is 0; when the
 * front was removed by the stream's limits, what lies below the oldest
 * event seen is taken as held.
 */
int sp_held_read(jsCtx *js, const char *stream, const char *source, int64_t cursor,
                 int64_t window, sp_held *out);

/* The stream as sp_held_scan sees it. read gives the text of message seq
 * (borrowed in *text until the next read, its length in *len),
 * SP_ERR_NOT_FOUND for a message deleted from the stream, or another
 * negative sp_err. sp_held_scan reads from the last message backwards. */
typedef struct sp_stream_view {
    uint64_t first, last, msgs; /* the stream's state */
    int (*read)(void *ctx, uint64_t seq, const char **text, size_t *len);
    void *ctx;
} sp_stream_view;

/* sp_held_read's walk over any stream view (the unit tests give one made
 * of strings). Same contract; returns the read function's error. */
int sp_held_scan(const sp_stream_view *v, const char *source, int64_t cursor, int64_t window,
                 sp_held *out);

/* 1 when seq is held: at or below the floor, or found in the stream. */
int sp_held_has(const sp_held *h, int64_t seq);

/* Frees the set's memory; the struct may be read again (it holds nothing). */
void sp_held_free(sp_held *h);

#endif
