/*
 * bus.h - the connection to NATS JetStream.
 *
 * With no SPACEPORT_NATS_URL the bus starts its own nats-server as a child
 * (loopback, random free port, JetStream store in DATA_DIR/nats) and stops
 * it on close; otherwise it connects to the given servers and reconnects
 * forever. Either way it makes sure the SPACEPORT stream exists whenever a
 * connection is (re)established.
 */
#ifndef SP_EVENTS_BUS_H
#define SP_EVENTS_BUS_H

#include "util/strlist.h"

#include <nats/nats.h>

/* The stream that carries every event, on subjects "spaceport.>". */
#define SP_BUS_STREAM "SPACEPORT"
#define SP_BUS_SUBJECTS "spaceport.>"
/* De-duplication window for Nats-Msg-Id: longer than the relay's longest
 * retry gap, so a re-sent event is recognised. */
#define SP_BUS_DUPLICATE_WINDOW_S 300
/* Timeout of one JetStream API call (stream info/add/update, consumer
 * info): every jsCtx on the bus sets it as its Wait. A cluster that is
 * still electing its leaders does not answer at all, so a long wait only
 * delays the next try after it has elected them. */
#define SP_BUS_API_TIMEOUT_MS 1000

typedef struct sp_bus sp_bus;

/* Where the bus is and how to sign in (SPACEPORT_NATS_*). */
typedef struct sp_bus_options {
    const sp_strlist *urls; /* NULL or empty: run the embedded nats-server */
    const char *data_dir;   /* the embedded server's store goes under it */
    const char *creds, *user, *password;
    const char *tls_ca, *tls_cert, *tls_key;
    int replicas; /* copies of the stream the cluster keeps (0: 1) */
} sp_bus_options;

/*
 * Opens the bus as opt says (borrowed during the call). The embedded server
 * must come up within a few seconds or this fails with SP_ERR_UNAVAILABLE;
 * an external server that is down does not fail: the bus keeps trying and
 * sp_bus_connected reports it. Returns 0 and a new bus in *out, or
 * SP_ERR_IO (nats-server missing or not starting), SP_ERR_NOMEM.
 */
int sp_bus_open(const sp_bus_options *opt, sp_bus **out);

/* Non-zero while connected and the stream is known to exist. */
int sp_bus_connected(sp_bus *bus);
/* Why the bus is not ready, for /readyz (static text). */
const char *sp_bus_status(sp_bus *bus);

/* Counts the connections on which the stream was verified: it changes on
 * every (re)connect, so that a reader of the stream knows to look again at
 * what it holds (a server that came back may have lost data). */
uint64_t sp_bus_generation(sp_bus *bus);

/* The connection and JetStream context, borrowed, for the relay and the
 * consumer. NULL until connected at least once. */
natsConnection *sp_bus_connection(sp_bus *bus);
jsCtx *sp_bus_jetstream(sp_bus *bus);

/* Port of the embedded server, or 0 when external. */
int sp_bus_embedded_port(sp_bus *bus);

/* Closes the connection (flushing what is buffered) and stops the embedded
 * server. */
void sp_bus_close(sp_bus *bus);

#endif
