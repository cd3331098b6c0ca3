/*
 * wake.h - a worker thread's doorbell: other threads ring it, the worker
 * sleeps until it rings, a stop flag is set, or a timeout passes. A ring
 * while the worker is busy is remembered, so no wake-up is lost.
 */
#ifndef SP_UTIL_WAKE_H
#define SP_UTIL_WAKE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct sp_wake {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int rung;
} sp_wake;

void sp_wake_init(sp_wake *w);
void sp_wake_destroy(sp_wake *w);
/* Rings the bell. Safe from any thread. */
void sp_wake_ring(sp_wake *w);
/* Sleeps up to ms until rung or *stop is set (stop may be NULL); clears
 * the ring. */
void sp_wake_wait(sp_wake *w, int64_t ms, atomic_int *stop);

#endif
