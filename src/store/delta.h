/*
 * delta.h - what drive deltas read besides the event log and the listing:
 * the log's bounds as tokens need them, and the mountpoints a user holds
 * (or held) on a drive.
 */
#ifndef SP_STORE_DELTA_H
#define SP_STORE_DELTA_H

#include "store/store.h"
#include "store/users.h"

#include <stdint.h>

/*
 * The event log's bounds for tokens: *oldest the oldest seq it still
 * holds, *last the last seq ever given (sequence numbers are not reused,
 * so this survives pruning; 0 before the first event). When the log is
 * empty *oldest is *last + 1: every event up to *last is gone. Returns 0
 * or a negative sp_err.
 */
int sp_store_delta_bounds(sp_store *st, int64_t *oldest, int64_t *last);

/* Receives one mountpoint id (borrowed during the call); returns 0 to go
 * on, negative to stop. */
typedef int (*sp_mount_fn)(const char *mount_id, void *ctx);

/*
 * Calls fn with the mountpoint id of every share of drive drive_id that
 * user received (also through a group), whatever its state: expired,
 * unmounted, or on a disabled drive, so that a delta can name the
 * mountpoints such a change took from the listing. Returns 0, fn's
 * error, or another negative sp_err.
 */
int sp_store_mounts_received(sp_store *st, const sp_user *user, const char *drive_id,
                             sp_mount_fn fn, void *ctx);

#endif
