/*
 * changes.h - storage providers' change events applied to drives.
 */
#ifndef SP_STORE_CHANGES_H
#define SP_STORE_CHANGES_H

#include "store/items.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

/* One change reported by a storage provider (schema/events/storage-changed.json). */
typedef struct sp_storage_change {
    const char *event_id; /* the provider's CloudEvent id: applied at most once */
    const char *drive_id;
    const char *item_id; /* NULL when the change is about the drive itself */
    const char *etag;    /* the drive root's new eTag */
    int64_t mtime_ms;    /* lastModifiedDateTime */
    int has_quota_used;
    int64_t quota_used;    /* bytes, when reported */
    const char *change;    /* created | updated | deleted | moved */
    const char *executant; /* who changed it, when known */
    const sp_item *items;  /* items of the drive described (or removed) with it */
    size_t item_count;
} sp_storage_change;

/* What became of one change. */
enum {
    SP_CHANGE_APPLIED,
    SP_CHANGE_DUPLICATE,     /* its event_id was applied before: nothing changed */
    SP_CHANGE_UNKNOWN_DRIVE, /* no such drive: nothing changed */
};

/*
 * Applies n changes in one transaction (one sync for all). Each change
 * sets its drive's eTag, mtime and used quota and writes a
 * spaceport.item.changed event for the drive's members and the grantees
 * of its shares, together with the record that its event_id was applied,
 * and records its item descriptions (store/items.h).
 * outcome[i] says what became of changes[i]. Returns 0 when the
 * transaction committed, or a negative sp_err when none of it did (retry
 * them all later).
 */
int sp_store_storage_changes(sp_store *st, const sp_storage_change *changes, size_t n,
                             int *outcome);

#endif
