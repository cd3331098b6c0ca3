/*
 * envelope.h - events as CloudEvents 1.0 (JSON, structured mode).
 */
#ifndef SP_EVENTS_ENVELOPE_H
#define SP_EVENTS_ENVELOPE_H

#include "store/events.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Digits of the `sequence` extension attribute. The CloudEvents sequence
 * extension orders events by comparing the strings, so the log sequence is
 * zero-padded to a fixed width: 19 digits hold every non-negative int64_t
 * (INT64_MAX, 9223372036854775807, has 19), and log sequence numbers are
 * positive int64s, so "0000000000000000009" < "0000000000000000010" as
 * strings and as events. (20 digits would only be needed for uint64.)
 */
#define SP_ENVELOPE_SEQUENCE_DIGITS 19

/* The CloudEvent of a log row, with source = the instance's public URL,
 * and the extension attribute initiatorid when the row has an initiator.
 * Returns a new reference, or NULL when out of memory or the stored data
 * is not a JSON object. */
json_t *sp_envelope_json(const sp_event *e, const char *source);

/* The same, serialized compactly, with the stored data spliced in as it
 * is (it must be a JSON object's text). Returns a new string (free it) or
 * NULL. */
char *sp_envelope_text(const sp_event *e, const char *source);

/*
 * The sequence of a published CloudEvent: parses len bytes of its JSON text
 * (structured mode) and stores the `sequence` attribute's value in *seq.
 * With source non-NULL the event's `source` must be it: the relay reads
 * back its own events among other publishers' messages. Strict: the
 * attribute must be a string of ASCII digits (leading zeros are fine:
 * events published before the padding have none) whose value fits int64_t.
 * data and source are borrowed. Returns 0, SP_ERR_INVALID (not a JSON
 * object, another source, no sequence, not digits, too large) or
 * SP_ERR_NOMEM; *seq is untouched on failure.
 */
int sp_envelope_sequence(const char *data, size_t len, const char *source, int64_t *seq);

/* Content type of the structured mode. */
#define SP_CLOUDEVENTS_JSON "application/cloudevents+json"

#endif
