/*
 * relay.h - the outbox relay: publishes the event log to JetStream,
 * at-least-once and in order.
 *
 * One thread reads unpublished rows (oldest first), publishes each as a
 * CloudEvent on subject = its type with Nats-Msg-Id = its id, waits for
 * the stream's acknowledgements and marks the acknowledged rows published
 * in one transaction. A failure (bus down, timeout) leaves rows unmarked;
 * they are sent again later and JetStream drops the duplicates by id.
 * Nothing is published from inside a request.
 */
#ifndef SP_EVENTS_RELAY_H
#define SP_EVENTS_RELAY_H

#include "events/bus.h"
#include "store/store.h"

#include <stdint.h>

struct sp_buf;
typedef struct sp_relay sp_relay;

/* Starts the relay thread. source (the public URL) is copied. Returns 0
 * and a new relay, or SP_ERR_NOMEM. */
int sp_relay_start(sp_store *st, sp_bus *bus, const char *source, sp_relay **out);

/* Wakes the relay: events were committed. Safe from any thread. */
void sp_relay_wake(void *relay);

/* Tries for up to timeout_ms to publish what is left, then stops the
 * thread and frees the relay. */
void sp_relay_stop(sp_relay *r, int64_t timeout_ms);

/* Appends Prometheus metrics: published, failures, backlog, lag. */
int sp_relay_metrics(sp_relay *r, struct sp_buf *out);

#endif
