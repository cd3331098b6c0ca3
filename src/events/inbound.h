/*
 * inbound.h - parsing storage providers' change events
 * (spaceport.storage.changed, CloudEvents 1.0; contract in
 * schema/events/storage-changed.json).
 *
 * Both content modes of the CloudEvents NATS protocol binding are read:
 * structured (the whole event as JSON in the payload, Content-Type
 * application/cloudevents+json) and binary (attributes in `ce-` headers,
 * datacontenttype in Content-Type, the payload is the data). A binary
 * event is turned into the structured event it stands for and then checked
 * by the same rules, so neither mode is more lenient than the other.
 *
 * Pure functions: no NATS here (events/consumer.c reads the messages).
 */
#ifndef SP_EVENTS_INBOUND_H
#define SP_EVENTS_INBOUND_H

#include "store/changes.h"

#include <jansson.h>
#include <stddef.h>

/* Largest change event accepted (payload, plus header names and values in
 * binary mode); real ones are a few hundred bytes. */
#define SP_INBOUND_MAX (64 * 1024)
/* Longest id, source, drive id, item id, eTag or executant accepted. */
#define SP_INBOUND_FIELD_MAX 512
/* Most items one event describes: a storage provider reports what one
 * change touched (a folder and its parent, a move's source and target),
 * and a listing's worth fits in SP_INBOUND_MAX anyway. */
#define SP_INBOUND_ITEMS_MAX 256
/* Longest item name (a file-system name), and path from the drive root. */
#define SP_INBOUND_NAME_MAX 255
#define SP_INBOUND_PATH_MAX 4096
/* Most header values on one message: a binary event has about eight, plus
 * a few of the bus's own (Nats-Msg-Id) and tracing. */
#define SP_INBOUND_HEADERS_MAX 64
/* Longest attribute name in a `ce-` header. CloudEvents names SHOULD NOT
 * exceed 20 characters; extensions of other producers get some room. */
#define SP_INBOUND_ATTR_NAME_MAX 64

/* A parsed change: the strings of change point into json; change.items
 * is items. */
typedef struct sp_inbound {
    json_t *json;
    sp_storage_change change;
    sp_item *items; /* new */
} sp_inbound;

/* One header of a message: a name with several values appears once per
 * value. Both strings are borrowed (NUL-terminated, as NATS clients hand
 * them out). */
typedef struct sp_inbound_header {
    const char *name;
    const char *value;
} sp_inbound_header;

/*
 * Parses len bytes of data as a structured-mode event (the whole
 * CloudEvent as JSON). data is borrowed. Returns 0 and fills *in (release
 * with sp_inbound_free), SP_ERR_INVALID with a static reason in *why, or
 * SP_ERR_NOMEM (try again later; *why is set too).
 */
int sp_inbound_parse(const char *data, size_t len, sp_inbound *in, const char **why);

/*
 * Parses a NATS message: n headers (headers may be NULL when n is 0) and
 * len bytes of payload, all borrowed; nothing in *in points into them.
 * The mode follows the binding: structured when Content-Type is
 * application/cloudevents (any suffix, case-insensitive; only +json is
 * supported), else binary when any `ce-` header is present, else
 * structured (a message without CloudEvents headers, as before NATS had
 * headers). Header names are case-insensitive; binary-mode values are
 * unquoted and percent-decoded as the binding says. Returns as
 * sp_inbound_parse.
 */
int sp_inbound_parse_msg(const sp_inbound_header *headers, size_t n, const char *data, size_t len,
                         sp_inbound *in, const char **why);

/* Releases what a successful parse filled in; *in is zeroed. */
void sp_inbound_free(sp_inbound *in);

#endif
