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

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/* Messages fetched per pull (applied in one transaction), and how long a
 * pull waits for the first. */
#define SP_CONSUMER_BATCH    64
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

/*
 * Collects the headers of m for the parser: every value of every key, up
 * to SP_INBOUND_HEADERS_MAX + 1 (the parser refuses more than the limit,
 * so one too many is enough for it to tell). The strings stay m's.
 * Returns the count, or SP_ERR_NOMEM, or SP_ERR_INVALID when the library
 * cannot read the header block.
 */
static int collect_headers(natsMsg *m, sp_inbound_header out[SP_INBOUND_HEADERS_MAX + 1])
{
    const char **keys = NULL;
    int nkeys = 0, n = 0;
    natsStatus s = natsMsgHeader_Keys(m, &keys, &nkeys);
    if (s == NATS_NOT_FOUND)
        return 0; /* no headers */
    if (s != NATS_OK)
        return s == NATS_NO_MEMORY ? SP_ERR_NOMEM : SP_ERR_INVALID;
    for (int k = 0; k < nkeys && n <= SP_INBOUND_HEADERS_MAX; k++) {
        const char **values = NULL;
        int nvalues = 0;
        s = natsMsgHeader_Values(m, keys[k], &values, &nvalues);
        if (s != NATS_OK) {
            n = s == NATS_NO_MEMORY ? SP_ERR_NOMEM : SP_ERR_INVALID;
            break;
        }
        for (int v = 0; v < nvalues && n <= SP_INBOUND_HEADERS_MAX; v++)
            out[n++] = (sp_inbound_header){keys[k], values[v]};
        free((void *)values);
    }
    free((void *)keys);
    return n;
}

/* Parses one message (either content mode). Returns as sp_inbound_parse. */
static int parse(natsMsg *m, sp_inbound *in, const char **why)
{
    sp_inbound_header headers[SP_INBOUND_HEADERS_MAX + 1];
    int n = collect_headers(m, headers);
    if (n < 0) {
        *why = n == SP_ERR_NOMEM ? "out of memory" : "unreadable headers";
        return n;
    }
    return sp_inbound_parse_msg(headers, (size_t)n, natsMsg_GetData(m),
                                (size_t)natsMsg_GetDataLength(m), in, why);
}

/* Applies a fetched batch in one transaction (one sync), then settles
 * each message: ack once committed, term when it can never apply, nak
 * with a delay when the database failed or memory ran out (offered again
 * later). */
static void handle(sp_consumer *c, natsMsg **msgs, int n)
{
    sp_inbound in[SP_CONSUMER_BATCH];
    sp_storage_change changes[SP_CONSUMER_BATCH];
    int outcome[SP_CONSUMER_BATCH];
    natsMsg *parsed[SP_CONSUMER_BATCH];
    int count = 0;
    for (int i = 0; i < n; i++) {
        const char *why = NULL;
        int rc = parse(msgs[i], &in[count], &why);
        if (rc == SP_ERR_INVALID) {
            /* jansson 2.14 reports some allocation failures while parsing
             * as syntax errors; a malformed event is malformed twice. */
            rc = parse(msgs[i], &in[count], &why);
        }
        if (rc == SP_ERR_NOMEM) {
            sp_warn("consumer", "storage change not parsed (%s); retrying later", why);
            atomic_fetch_add(&c->retried, 1);
            natsMsg_NakWithDelay(msgs[i], SP_CONSUMER_RETRY_NS, NULL);
            continue;
        }
        if (rc < 0) {
            sp_warn("consumer", "malformed storage change dropped: %s", why);
            atomic_fetch_add(&c->malformed, 1);
            natsMsg_Term(msgs[i], NULL);
            continue;
        }
        changes[count] = in[count].change;
        parsed[count++] = msgs[i];
    }
    int rc = count ? sp_store_storage_changes(c->store, changes, (size_t)count, outcome) : 0;
    int failed[SP_CONSUMER_BATCH] = {0};
    for (int i = 0; i < count; i++) {
        /* A failed batch is applied again one change at a time, so that
         * one change the database refuses does not hold back the rest. */
        failed[i] = rc < 0 && (count == 1 ||
                               sp_store_storage_changes(c->store, &changes[i], 1, &outcome[i]) < 0);
    }
    for (int i = 0; i < count; i++) {
        if (failed[i]) {
            sp_warn("consumer", "storage change %s not applied (%s); retrying later",
                    changes[i].event_id, sp_err_str(rc));
            atomic_fetch_add(&c->retried, 1);
            natsMsg_NakWithDelay(parsed[i], SP_CONSUMER_RETRY_NS, NULL);
        } else if (outcome[i] == SP_CHANGE_UNKNOWN_DRIVE) {
            sp_info("consumer", "storage change %s for unknown drive %s dropped",
                    changes[i].event_id, changes[i].drive_id);
            atomic_fetch_add(&c->unknown, 1);
            natsMsg_Term(parsed[i], NULL);
        } else {
            atomic_fetch_add(outcome[i] == SP_CHANGE_DUPLICATE ? &c->duplicates : &c->applied, 1);
            natsMsg_Ack(parsed[i], NULL);
        }
        sp_inbound_free(&in[i]);
    }
}

/* Fetches what is waiting (up to a batch) without waiting; when nothing
 * is, waits up to SP_CONSUMER_FETCH_MS for the first message, so that a
 * lone change is applied at once and a burst in batches. */
static natsStatus fetch(sp_consumer *c, natsMsgList *list)
{
    jsFetchRequest req;
    jsFetchRequest_Init(&req);
    req.Batch = SP_CONSUMER_BATCH;
    req.NoWait = true;
    req.Expires = (int64_t)SP_CONSUMER_FETCH_MS * 1000000LL;
    natsStatus s = natsSubscription_FetchRequest(list, c->sub, &req);
    if (s != NATS_NOT_FOUND && !(s == NATS_OK && list->Count == 0))
        return s;
    natsMsgList_Destroy(list);
    jsFetchRequest_Init(&req);
    req.Batch = 1;
    req.Expires = (int64_t)SP_CONSUMER_FETCH_MS * 1000000LL;
    return natsSubscription_FetchRequest(list, c->sub, &req);
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
    natsStatus s = js_PullSubscribe(&c->sub, c->js, SP_CONSUMER_SUBJECT, SP_CONSUMER_DURABLE, NULL,
                                    &so, &jerr);
    if (s != NATS_OK) {
        sp_warn("consumer", "cannot subscribe to %s: %s (JetStream error %d)", SP_CONSUMER_SUBJECT,
                natsStatus_GetText(s), (int)jerr);
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
        natsStatus s = fetch(c, &list);
        if (s == NATS_OK) {
            handle(c, list.Msgs, list.Count);
            natsMsgList_Destroy(&list);
        } else if (s == NATS_TIMEOUT || s == NATS_NOT_FOUND) {
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
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = SP_BUS_API_TIMEOUT_MS;
    if (natsConnection_JetStream(&c->js, sp_bus_connection(bus), &jo) != NATS_OK ||
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
