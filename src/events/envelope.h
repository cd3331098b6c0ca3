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

/* Content type of the structured mode. */
#define SP_CLOUDEVENTS_JSON "application/cloudevents+json"

#endif
