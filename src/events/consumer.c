/*
 * consumer.c - the inbound consumer of storage change events.
 */
#include "events/consumer.h"

#include "events/inbound.h"
#include "store/changes.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/* Messages fetched per pull, and how long a pull waits for them. */
#define SP_CONSUMER_BATCH 64
#define SP_CONSUMER_FETCH_MS 500
/* The server redelivers an unacknowledged message after this long. */
#define SP_CONSUMER_ACK_WAIT_S 30
/* A change that failed on our side (database) is offered again after
 * this delay. */
#define SP_CONSUMER_RETRY_NS (2LL * 1000000000LL)

struct sp_consumer {
    sp_store *store;
    sp_bus *bus;
    jsCtx *js;
    natsSubscription *sub;
    pthread_t thread;
    atomic_int stopping;
    atomic_uint_fast64_t applied, duplicates, malformed, unknown, retried;
};

static void handle(sp_consumer *c, natsMsg *msg)
{
    sp_inbound in;
    const char *why = NULL;
    if (sp_inbound_parse(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &in, &why) <
        0) {
        sp_warn("consumer", "malformed storage change dropped: %s", why);
        atomic_fetch_add(&c->malformed, 1);
        natsMsg_Term(msg, NULL);
        return;
    }
    int duplicate = 0;
    int rc = sp_store_storage_change(c->store, &in.change, &duplicate);
    if (rc == SP_ERR_NOT_FOUND) {
        sp_info("consumer", "storage change %s for unknown drive %s dropped", in.change.event_id,
                in.change.drive_id);
        atomic_fetch_add(&c->unknown, 1);
        natsMsg_Term(msg, NULL);
    } else if (rc < 0) {
        sp_warn("consumer", "storage change %s not applied (%s); retrying later",
                in.change.event_id, sp_err_str(rc));
        atomic_fetch_add(&c->retried, 1);
        natsMsg_NakWithDelay(msg, SP_CONSUMER_RETRY_NS, NULL);
    } else {
        atomic_fetch_add(duplicate ? &c->duplicates : &c->applied, 1);
        natsMsg_Ack(msg, NULL);
    }
    sp_inbound_free(&in);
}

static int subscribe(sp_consumer *c)
{
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = SP_BUS_STREAM;
    so.Config.Durable = SP_CONSUMER_DURABLE;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.AckWait = (int64_t)SP_CONSUMER_ACK_WAIT_S * 1000000000LL;
    so.Config.DeliverPolicy = js_DeliverAll;
    jsErrCode jerr = 0;
    natsStatus s = js_PullSubscribe(&c->sub, c->js, SP_CONSUMER_SUBJECT, SP_CONSUMER_DURABLE,
                                    NULL, &so, &jerr);
    if (s != NATS_OK) {
        sp_warn("consumer", "cannot subscribe to %s: %s (JetStream error %d)",
                SP_CONSUMER_SUBJECT, natsStatus_GetText(s), (int)jerr);
        c->sub = NULL;
        return SP_ERR_UNAVAILABLE;
    }
    sp_info("consumer", "consuming %s as %s", SP_CONSUMER_SUBJECT, SP_CONSUMER_DURABLE);
    return 0;
}

static void *consumer_main(void *arg)
{
    sp_consumer *c = arg;
    while (!atomic_load(&c->stopping)) {
        if (!c->sub) {
            if (!sp_bus_connected(c->bus) || subscribe(c) < 0) {
                usleep(200 * 1000);
                continue;
            }
        }
        natsMsgList list = {0};
        jsErrCode jerr = 0;
        natsStatus s =
            natsSubscription_Fetch(&list, c->sub, SP_CONSUMER_BATCH, SP_CONSUMER_FETCH_MS, &jerr);
        if (s == NATS_OK) {
            for (int i = 0; i < list.Count; i++)
                handle(c, list.Msgs[i]);
            natsMsgList_Destroy(&list);
        } else if (s == NATS_TIMEOUT) {
            continue; /* nothing to do */
        } else {
            natsMsgList_Destroy(&list);
            if (!sp_bus_connected(c->bus) || s == NATS_INVALID_SUBSCRIPTION ||
                s == NATS_CONNECTION_CLOSED) {
                /* Re-subscribe once the bus is back (the durable keeps our
                 * place). */
                natsSubscription_Destroy(c->sub);
                c->sub = NULL;
            }
            usleep(200 * 1000);
        }
    }
    return NULL;
}

int sp_consumer_start(sp_store *st, sp_bus *bus, sp_consumer **out)
{
    sp_consumer *c = calloc(1, sizeof *c);
    if (!c)
        return SP_ERR_NOMEM;
    c->store = st;
    c->bus = bus;
    if (natsConnection_JetStream(&c->js, sp_bus_connection(bus), NULL) != NATS_OK ||
        pthread_create(&c->thread, NULL, consumer_main, c) != 0) {
        jsCtx_Destroy(c->js);
        free(c);
        return SP_ERR_NOMEM;
    }
    *out = c;
    return 0;
}

void sp_consumer_stop(sp_consumer *c)
{
    if (!c)
        return;
    atomic_store(&c->stopping, 1);
    pthread_join(c->thread, NULL);
    /* Destroy, not unsubscribe: unsubscribing would delete the durable
     * consumer the library created, and with it our place in the stream. */
    natsSubscription_Destroy(c->sub);
    jsCtx_Destroy(c->js);
    free(c);
}

int sp_consumer_metrics(sp_consumer *c, sp_buf *out)
{
    return sp_buf_printf(
        out,
        "# HELP spaceport_storage_changes_total Storage change events by outcome.\n"
        "# TYPE spaceport_storage_changes_total counter\n"
        "spaceport_storage_changes_total{outcome=\"applied\"} %llu\n"
        "spaceport_storage_changes_total{outcome=\"duplicate\"} %llu\n"
        "spaceport_storage_changes_total{outcome=\"malformed\"} %llu\n"
        "spaceport_storage_changes_total{outcome=\"unknown_drive\"} %llu\n"
        "spaceport_storage_changes_total{outcome=\"retried\"} %llu\n",
        (unsigned long long)atomic_load(&c->applied),
        (unsigned long long)atomic_load(&c->duplicates),
        (unsigned long long)atomic_load(&c->malformed),
        (unsigned long long)atomic_load(&c->unknown), (unsigned long long)atomic_load(&c->retried));
}
