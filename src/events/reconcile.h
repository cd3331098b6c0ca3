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
 * providers publish on the same subjects), until it has seen our events
 * far enough below both the newest one it found and the relay's cursor:
 * after a failed publish the relay sends a window of events again, so the
 * stream's order may differ from the log's by up to a window.
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
 * asked to hold them again: floor = cursor.
 */
int sp_held_read(jsCtx *js, const char *stream, const char *source, int64_t cursor,
                 int64_t window, sp_held *out);

/* 1 when seq is held: at or below the floor, or found in the stream. */
int sp_held_has(const sp_held *h, int64_t seq);

/* Frees the set's memory; the struct may be read again (it holds nothing). */
void sp_held_free(sp_held *h);

#endif
