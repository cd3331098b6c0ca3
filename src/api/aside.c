/*
 * aside.c - outbound work a request waits for, done on a thread of its
 * own while the request waits suspended, and bounded per destination.
 *
 * Looking up a remote space (remote.c) and the validation handshake of a
 * new subscription (subscriptions.c) both wait for another server, up to
 * a timeout of seconds. An HTTP worker must not wait with them: a few
 * slow peers would stop the whole API. So the request is suspended (it
 * costs no thread), a detached thread does the work and resumes it, and
 * the number of such threads is bounded per destination and in all.
 */
#include "api/internal.h"

#include "util/err.h"

#include <pthread.h>
#include <stdlib.h>

int sp_api__slot_take(atomic_int *mine, int per_max, atomic_int *all, int all_max)
{
    if (atomic_fetch_add(mine, 1) >= per_max) {
        atomic_fetch_sub(mine, 1);
        return 1;
    }
    if (atomic_fetch_add(all, 1) >= all_max) {
        atomic_fetch_sub(all, 1);
        atomic_fetch_sub(mine, 1);
        return 2;
    }
    return 0;
}

void sp_api__slot_give(atomic_int *mine, atomic_int *all)
{
    atomic_fetch_sub(all, 1);
    atomic_fetch_sub(mine, 1);
}

int sp_api__instance_slot_take(sp_http_req *req, sp_api *api, size_t index)
{
    int full = sp_api__slot_take(&api->remote_lookups_at[index], SP_API_INSTANCE_CALLS_PER_INSTANCE,
                                 &api->remote_lookups, SP_API_INSTANCE_CALLS_MAX);
    if (!full)
        return 0;
    sp_http_add_header(req, "Retry-After", "1");
    if (full == 1)
        sp_http_reply_error(req, 503, "serviceNotAvailable",
                            "other requests to the instance %s are under way; try again",
                            api->cfg->trusted_instances.items[index]);
    else
        sp_http_reply_error(req, 503, "serviceNotAvailable",
                            "too many requests to other instances are under way; try again");
    return SP_ERR_UNAVAILABLE;
}

void sp_api__instance_slot_give(sp_api *api, size_t index)
{
    sp_api__slot_give(&api->remote_lookups_at[index], &api->remote_lookups);
}

/* What the thread needs: the work, and whom to wake after it. */
typedef struct aside {
    sp_http_req *req;
    sp_api_aside_fn work;
    void *arg;
} aside;

/* On its own thread: does the work, then wakes the request. Touches
 * nothing of the request's context after the resume (the answer frees
 * it). */
static void *aside_run(void *p)
{
    aside a = *(aside *)p;
    free(p);
    a.work(a.arg);
    sp_http_resume(a.req);
    return NULL;
}

void sp_api__aside(sp_http_req *req, sp_api_aside_fn work, sp_api_aside_fn unstarted,
                   sp_http_resume_fn answer, void *arg)
{
    sp_http_suspend(req, answer, arg);
    aside *a = malloc(sizeof *a);
    int started = 0;
    if (a) {
        *a = (aside){.req = req, .work = work, .arg = arg};
        pthread_attr_t attr;
        pthread_t thread;
        if (pthread_attr_init(&attr) == 0) {
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            started = pthread_create(&thread, &attr, aside_run, a) == 0;
            pthread_attr_destroy(&attr);
        }
        if (!started)
            free(a);
    }
    if (!started) {
        unstarted(arg);
        sp_http_resume(req);
    }
}
