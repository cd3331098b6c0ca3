/*
 * notices.h - what a webhook subscription is told: Microsoft Graph's
 * change notifications made of the events after its cursor that it may
 * see. Only events its owner receives (their own change stream's), of
 * drives, shares, items and remote spaces; drives/{id} only those of that
 * drive (a share's mountpoint: of the drive holding the item, its own
 * share's only); each names the drive as the owner knows it (a share
 * received by its mountpoint).
 */
#ifndef SP_EVENTS_NOTICES_H
#define SP_EVENTS_NOTICES_H

#include "store/store.h"
#include "store/subscriptions.h"

#include <jansson.h>
#include <stdint.h>

/* One batch of notifications. */
typedef struct sp_notices {
    json_t *value;   /* the notifications, in event order; the caller's reference */
    int count;       /* in value */
    int64_t through; /* the last event read, notified or skipped */
} sp_notices;

/*
 * Reads sub's next batch (up to 100 notifications, up to 1000 events)
 * after its cursor. watched is the drive a drives/{id} subscription's
 * events are about (sp_store_webhook_may_read). Returns 0 with *out
 * filled (count may be 0: only skipped events, the cursor still moves to
 * through), 1 when there is nothing after the cursor, or a negative
 * sp_err.
 */
int sp_notices_read(sp_store *st, const sp_subscription *sub, const char *watched, sp_notices *out);

#endif
