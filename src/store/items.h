/*
 * items.h - what storage providers said about items: name, parent, path,
 * kind, size, eTag and modification time, from the `items` of their
 * spaceport.storage.changed events (schema/events/storage-changed.json).
 *
 * The registry never asks storage about an item: share listings and event
 * data read what was last reported here. Items that have a share are kept
 * for as long as the share; of the others, the most recently reported are
 * kept, up to the store's bound (sp_store_items_limit).
 */
#ifndef SP_STORE_ITEMS_H
#define SP_STORE_ITEMS_H

#include "store/store.h"

#include <stdint.h>

/* Items without a share kept by default (SPACEPORT_ITEMS_MAX): a few
 * hundred bytes each, so tens of MB at most, and enough to name what a
 * busy instance's users share in the hours after it was reported. */
#define SP_ITEMS_MAX_DEFAULT 100000
/* Unshared items kept past the bound between two prunings: pruning reads
 * the whole table, so it runs once a sixteenth of the bound more has come
 * in, not on every storage change (at the default, one in 6,250). */
#define SP_ITEMS_PRUNE_SLACK(max) ((max) / 16)

/* One item as storage described it; strings borrowed (during a callback,
 * or for as long as the description they come from). */
typedef struct sp_item {
    const char *drive_id;
    const char *id;        /* the drive id for its root */
    const char *parent_id; /* NULL for the drive root */
    const char *name;
    const char *path;      /* from the drive root; "/" for the root */
    int folder;            /* 1 folder, 0 file */
    int64_t size;          /* bytes */
    const char *etag;
    int64_t mtime_ms;
    const char *mime_type; /* files, when reported; else NULL */
    int removed;           /* descriptions only: the item is gone (only id is set) */
} sp_item;

typedef int (*sp_item_fn)(const sp_item *item, void *ctx);

/*
 * Calls fn once with item_id of drive_id as last reported. Returns 0, fn's
 * negative result, SP_ERR_NOT_FOUND (never described, removed, or dropped
 * by the bound) or a negative sp_err.
 */
int sp_store_item_get(sp_store *st, const char *drive_id, const char *item_id, sp_item_fn fn,
                      void *ctx);

/*
 * The name a shared item shows while storage has not described it:
 * stored, the name the share was given (the drive's name for its root,
 * or a name the sharer's client sent), unless that is the item id itself,
 * whose opaque part (after "<driveId>!") then stands in. Returns stored
 * or a pointer into item_id.
 */
const char *sp_item_fallback_name(const char *item_id, const char *stored);

/* Sets how many items without a share are kept (at least 0); the oldest
 * reported go first when a change brings more, at the latest once
 * SP_ITEMS_PRUNE_SLACK(max) more have come in. Call before threads
 * start; SP_ITEMS_MAX_DEFAULT until then. */
void sp_store_items_limit(sp_store *st, int64_t max);

#endif
