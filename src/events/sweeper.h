/*
 * sweeper.h - time-driven upkeep of the registry: shares that expire, and
 * the event log's retention.
 */
#ifndef SP_EVENTS_SWEEPER_H
#define SP_EVENTS_SWEEPER_H

#include "store/store.h"

#include <stdint.h>

typedef struct sp_sweeper sp_sweeper;

/* Starts the thread: every second it expires due shares (each expiry is
 * an event), every minute it prunes published events older than
 * retention_ms. Returns 0 or SP_ERR_NOMEM. */
int sp_sweeper_start(sp_store *st, int64_t retention_ms, sp_sweeper **out);

/* Stops the thread and frees it. */
void sp_sweeper_stop(sp_sweeper *s);

#endif
