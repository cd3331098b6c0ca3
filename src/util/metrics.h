/*
 * metrics.h - the registry /metrics reads: each module that has figures
 * registers a function that appends them in Prometheus text format, so
 * that the API serves them without holding a handle of every module.
 */
#ifndef SP_UTIL_METRICS_H
#define SP_UTIL_METRICS_H

#include <stddef.h>

struct sp_buf;

/* Most sources in one registry. */
#define SP_METRICS_MAX 24

/* Appends ctx's metrics to out. Returns 0 or a negative sp_err. */
typedef int (*sp_metrics_fn)(void *ctx, struct sp_buf *out);

typedef struct sp_metrics {
    struct {
        sp_metrics_fn fn;
        void *ctx;
    } sources[SP_METRICS_MAX];
    size_t count;
} sp_metrics;

/* Adds a source; sources are rendered in the order they were added. Adding
 * happens before serving starts (no lock). Returns 0 or SP_ERR_NOMEM when
 * the registry is full. */
int sp_metrics_add(sp_metrics *m, sp_metrics_fn fn, void *ctx);

/* Appends every source's metrics to out. Returns 0 or the first error. */
int sp_metrics_render(const sp_metrics *m, struct sp_buf *out);

#endif
