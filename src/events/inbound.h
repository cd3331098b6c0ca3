/*
 * inbound.h - parsing storage providers' change events
 * (spaceport.storage.changed, CloudEvents 1.0 structured JSON; contract in
 * schema/events/storage-changed.json).
 */
#ifndef SP_EVENTS_INBOUND_H
#define SP_EVENTS_INBOUND_H

#include "store/changes.h"

#include <jansson.h>
#include <stddef.h>

/* Largest change event accepted; real ones are a few hundred bytes. */
#define SP_INBOUND_MAX (64 * 1024)
/* Longest id, drive id, item id, eTag or executant accepted. */
#define SP_INBOUND_FIELD_MAX 512

/* A parsed change: the strings of change point into json. */
typedef struct sp_inbound {
    json_t *json;
    sp_storage_change change;
} sp_inbound;

/*
 * Parses len bytes of data. Returns 0 and fills *in (release with
 * sp_inbound_free), or SP_ERR_INVALID with a static reason in *why.
 */
int sp_inbound_parse(const char *data, size_t len, sp_inbound *in, const char **why);

void sp_inbound_free(sp_inbound *in);

#endif
