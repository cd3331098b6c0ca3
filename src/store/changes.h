/*
 * changes.h - storage providers' change events applied to drives.
 */
#ifndef SP_STORE_CHANGES_H
#define SP_STORE_CHANGES_H

#include "store/store.h"

#include <stdint.h>

/* One change reported by a storage provider (schema/events/storage-changed.json). */
typedef struct sp_storage_change {
    const char *event_id; /* the provider's CloudEvent id: applied at most once */
    const char *drive_id;
    const char *item_id;   /* NULL when the change is about the drive itself */
    const char *etag;      /* the drive root's new eTag */
    int64_t mtime_ms;      /* lastModifiedDateTime */
    int has_quota_used;
    int64_t quota_used;    /* bytes, when reported */
    const char *change;    /* created | updated | deleted | moved */
    const char *executant; /* who changed it, when known */
} sp_storage_change;

/*
 * Applies a change: the drive's eTag, mtime and used quota, and a
 * spaceport.item.changed event for its members and the grantees of its
 * shares, in one transaction with the record that event_id was applied.
 * *duplicate (may be NULL) is set when event_id was applied before (then
 * nothing changes). Returns 0, SP_ERR_NOT_FOUND (no such drive), or
 * another negative sp_err (retry later).
 */
int sp_store_storage_change(sp_store *st, const sp_storage_change *c, int *duplicate);

#endif
