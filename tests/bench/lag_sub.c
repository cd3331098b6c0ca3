/*
 * lag_sub.c - the subscriber of tests/bench/sharing.py's lag run: takes
 * the CloudEvents on a subject and, for those whose data.itemId starts
 * with a prefix, the time from the event's `time` (set in the share's
 * transaction) to their arrival here. In C so that a subscriber keeping up
 * with thousands of events a second does not take the CPU the service is
 * measured with.
 *
 *   lag_sub <nats-url> <subject> <item-prefix>
 *
 * Prints "ready" once subscribed; on SIGINT or SIGTERM prints "events N",
 * "p50_ms X", "p99_ms X", "max_ms X" and exits.
 */
#include <nats/nats.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double *lags;
static size_t count, cap;
static char needle[256];
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* "2026-11-24T12:00:00.123Z" -> ms since the epoch. */
static double parse_time_ms(const char *s)
{
    struct tm tm = {0};
    int ms = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double)timegm(&tm) * 1000.0 + ms;
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    (void)closure;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
    const char *d = natsMsg_GetData(msg);
    const char *t = d ? strstr(d, "\"time\":\"") : NULL;
    if (t && strstr(d, needle)) {
        double when = parse_time_ms(t + 8);
        if (when > 0) {
            if (count == cap) {
                cap = cap ? cap * 2 : 65536;
                lags = realloc(lags, cap * sizeof *lags);
                if (!lags)
                    abort();
            }
            lags[count++] = now - when;
        }
    }
    natsMsg_Destroy(msg);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: lag_sub <nats-url> <subject> <item-prefix>\n");
        return 2;
    }
    snprintf(needle, sizeof needle, "\"itemId\":\"%s", argv[3]);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    if (natsConnection_ConnectTo(&nc, argv[1]) != NATS_OK ||
        natsConnection_Subscribe(&sub, nc, argv[2], on_msg, NULL) != NATS_OK ||
        natsSubscription_SetPendingLimits(sub, -1, -1) != NATS_OK ||
        natsConnection_Flush(nc) != NATS_OK) {
        fprintf(stderr, "lag_sub: cannot subscribe to %s at %s\n", argv[2], argv[1]);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    while (!stop)
        nats_Sleep(20);
    natsSubscription_Unsubscribe(sub);
    nats_Sleep(100); /* let a callback in progress finish */
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    qsort(lags, count, sizeof *lags, cmp);
    printf("events %zu\n", count);
    if (count) {
        printf("p50_ms %.3f\np99_ms %.3f\nmax_ms %.3f\n", lags[count / 2],
               lags[(size_t)((double)(count - 1) * 0.99)], lags[count - 1]);
    }
    free(lags);
    return 0;
}
