/*
 * consumer.h - applies storage providers' change events from JetStream.
 *
 * A durable pull consumer (explicit ack) on spaceport.storage.changed,
 * reading CloudEvents in structured or binary mode (events/inbound.h):
 * each change is applied to its drive with an item-changed event in one
 * transaction, then acknowledged. A redelivered event changes nothing
 * twice (its id is remembered). Malformed events and unknown drives are
 * logged, counted and terminated, never retried; a database failure is
 * retried later.
 */
#ifndef SP_EVENTS_CONSUMER_H
#define SP_EVENTS_CONSUMER_H

#include "events/bus.h"
#include "store/store.h"

struct sp_buf;
typedef struct sp_consumer sp_consumer;

/* The subject storage providers publish on, and our durable's name. */
#define SP_CONSUMER_SUBJECT "spaceport.storage.changed"
#define SP_CONSUMER_DURABLE "spaceport-storage-changes"

/* Starts the consumer thread. Returns 0 or SP_ERR_NOMEM. */
int sp_consumer_start(sp_store *st, sp_bus *bus, sp_consumer **out);

/* Stops the thread (an event being applied is finished) and frees it. */
void sp_consumer_stop(sp_consumer *c);

/* Appends Prometheus counters: applied, duplicates, malformed, unknown
 * drive, retried. */
int sp_consumer_metrics(sp_consumer *c, struct sp_buf *out);

#endif
