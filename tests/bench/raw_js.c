/*
 * raw_js.c - the ceiling for the outbox relay in tests/bench/sharing.py:
 * asynchronous JetStream publishes of messages the size of a share
 * CloudEvent, with the headers the relay sets (Nats-Msg-Id, Content-Type),
 * into a file-backed stream configured like the service's, then one wait
 * for every acknowledgement.
 *
 *   raw_js <nats-url> <count> <payload-bytes> [max-pending]
 *
 * Uses its own stream RAWBENCH (subjects rawbench.>), recreated each run.
 * Prints "msgs N", "acked N", "errors N", "seconds S", "msgs_per_s R".
 */
#include <nats/nats.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STREAM "RAWBENCH"

static atomic_long acked, errors;

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void)js;
    (void)closure;
    if (pa && !pae)
        atomic_fetch_add(&acked, 1);
    else
        atomic_fetch_add(&errors, 1);
    natsMsg_Destroy(msg);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what, natsStatus s)
{
    fprintf(stderr, "raw_js: %s: %s\n", what, natsStatus_GetText(s));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: raw_js <nats-url> <count> <payload-bytes> [max-pending]\n");
        return 2;
    }
    long count = atol(argv[2]);
    long size = atol(argv[3]);
    int64_t max_pending = argc > 4 ? atol(argv[4]) : 0;
    if (count <= 0 || size <= 0 || size > 1 << 20) {
        fprintf(stderr, "raw_js: bad count or size\n");
        return 2;
    }
    char *payload = malloc((size_t)size);
    if (!payload)
        return 1;
    memset(payload, 'x', (size_t)size);

    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsStatus s = natsConnection_ConnectTo(&nc, argv[1]);
    if (s != NATS_OK)
        return fail("connect", s);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.AckHandler = on_ack;
    if (max_pending > 0)
        jo.PublishAsync.MaxPending = max_pending;
    if ((s = natsConnection_JetStream(&js, nc, &jo)) != NATS_OK)
        return fail("jetstream", s);

    /* Same stream settings as the service's: file storage, 5 min
     * de-duplication window. */
    js_DeleteStream(js, STREAM, NULL, NULL);
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subjects[] = {"rawbench.>"};
    sc.Name = STREAM;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Duplicates = 300LL * 1000000000LL;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    if ((s = js_AddStream(&si, js, &sc, NULL, &jerr)) != NATS_OK)
        return fail("add stream", s);
    jsStreamInfo_Destroy(si);

    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 5000;
    double start = now_s();
    for (long i = 0; i < count; i++) {
        char id[48];
        snprintf(id, sizeof id, "raw-%lld-%ld", (long long)start, i);
        natsMsg *msg = NULL;
        s = natsMsg_Create(&msg, "rawbench.share.created", NULL, payload, (int)size);
        if (s == NATS_OK)
            s = natsMsgHeader_Set(msg, "Nats-Msg-Id", id);
        if (s == NATS_OK)
            s = natsMsgHeader_Set(msg, "Content-Type", "application/cloudevents+json");
        if (s == NATS_OK)
            s = js_PublishMsgAsync(js, &msg, &po);
        natsMsg_Destroy(msg);
        if (s != NATS_OK)
            return fail("publish", s);
    }
    jsPubOptions_Init(&po);
    po.MaxWait = 120000;
    if ((s = js_PublishAsyncComplete(js, &po)) != NATS_OK)
        return fail("publish complete", s);
    double took = now_s() - start;
    printf("msgs %ld\nacked %ld\nerrors %ld\nseconds %.3f\nmsgs_per_s %.1f\n", count,
           atomic_load(&acked), atomic_load(&errors), took, (double)atomic_load(&acked) / took);
    js_DeleteStream(js, STREAM, NULL, NULL);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    free(payload);
    nats_Close();
    return atomic_load(&errors) ? 1 : 0;
}
