/*
 * envelope.h - events as CloudEvents 1.0 (JSON, structured mode).
 */
#ifndef SP_EVENTS_ENVELOPE_H
#define SP_EVENTS_ENVELOPE_H

#include "store/events.h"

#include <jansson.h>

/* The CloudEvent of a log row, with source = the instance's public URL.
 * Returns a new reference, or NULL when out of memory or the stored data
 * is not a JSON object. */
json_t *sp_envelope_json(const sp_event *e, const char *source);

/* The same, serialized compactly, with the stored data spliced in as it
 * is (it must be a JSON object's text). Returns a new string (free it) or
 * NULL. */
char *sp_envelope_text(const sp_event *e, const char *source);

/* Reads back a CloudEvent this program published (JSON text of len bytes,
 * borrowed): 0 and its log sequence number in *seq when its source is
 * source and its `sequence` is a decimal number; SP_ERR_INVALID for
 * anything else (another publisher's message, damaged text). */
int sp_envelope_ours(const char *text, size_t len, const char *source, int64_t *seq);

/* Content type of the structured mode. */
#define SP_CLOUDEVENTS_JSON "application/cloudevents+json"

#endif
