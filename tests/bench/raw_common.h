/*
 * raw_common.h - what the raw engine benchmarks (raw_sqlite.c, raw_pg.c)
 * share: the ids and clocks of their transactions.
 */
#ifndef SP_BENCH_RAW_COMMON_H
#define SP_BENCH_RAW_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A random UUID-shaped id, as the service makes for shares and events. */
static void uuid(char out[37])
{
    uint64_t a = rng(), b = rng();
    snprintf(out, 37, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
             (unsigned)(0x8000 | ((b >> 48) & 0x3fff)),
             (unsigned long long)(b & 0xffffffffffffull));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What both take on the command line: prog <target> <seconds>
 * [event-data-bytes [pairs-per-tx]]; data is the event data, a JSON
 * object of data_len bytes ({"p":"xxxx..."}). */
typedef struct raw_args {
    double seconds;
    size_t data_len;
    long per_tx;
    char *data; /* free it */
} raw_args;

/* Reads argv into a (target is what argv[1] names, for the usage line)
 * and seeds the ids. Returns 0, or the exit status (said). */
static int raw_args_read(const char *prog, const char *target, int argc, char **argv,
                         raw_args *a)
{
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: %s <%s> <seconds> [event-data-bytes [pairs-per-tx]]\n", prog,
                target);
        return 2;
    }
    a->seconds = atof(argv[2]);
    a->data_len = argc > 3 ? (size_t)atol(argv[3]) : 400;
    a->per_tx = argc > 4 ? atol(argv[4]) : 1;
    if (a->seconds <= 0 || a->data_len < 2 || a->data_len > 1 << 20 || a->per_tx < 1 ||
        a->per_tx > 100000) {
        fprintf(stderr, "%s: bad seconds or size\n", prog);
        return 2;
    }
    rng_state ^= (uint64_t)wall_ms();
    a->data = malloc(a->data_len + 1);
    if (!a->data)
        return 1;
    memset(a->data, 'x', a->data_len);
    if (a->data_len >= 8) {
        memcpy(a->data, "{\"p\":\"", 6);
        memcpy(a->data + a->data_len - 2, "\"}", 2);
    }
    a->data[a->data_len] = 0;
    return 0;
}

#endif
