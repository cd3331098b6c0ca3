/*
 * metrics.c - the registry /metrics reads (metrics.h).
 */
#include "util/metrics.h"

#include "util/err.h"

int sp_metrics_add(sp_metrics *m, sp_metrics_fn fn, void *ctx)
{
    if (m->count == SP_METRICS_MAX)
        return SP_ERR_NOMEM;
    m->sources[m->count].fn = fn;
    m->sources[m->count].ctx = ctx;
    m->count++;
    return 0;
}

int sp_metrics_render(const sp_metrics *m, struct sp_buf *out)
{
    for (size_t i = 0; i < m->count; i++) {
        int rc = m->sources[i].fn(m->sources[i].ctx, out);
        if (rc < 0)
            return rc;
    }
    return 0;
}
