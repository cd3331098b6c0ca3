/* wake.c - a worker thread's doorbell. */
#include "util/wake.h"

#include <time.h>

void sp_wake_init(sp_wake *w)
{
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->rung = 0;
}

void sp_wake_destroy(sp_wake *w)
{
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
}

void sp_wake_ring(sp_wake *w)
{
    pthread_mutex_lock(&w->lock);
    w->rung = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void sp_wake_wait(sp_wake *w, int64_t ms, atomic_int *stop)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&w->lock);
    while (!w->rung && !(stop && atomic_load(stop))) {
        if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) != 0)
            break;
    }
    w->rung = 0;
    pthread_mutex_unlock(&w->lock);
}
