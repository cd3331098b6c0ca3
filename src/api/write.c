/*
 * write.c - who may write, and writes made on the store's writer thread.
 *
 * A sharing or member request is authorized twice with one question (an
 * sp_authz): by its handler, on the thread's reader, to answer at once;
 * and by its write, on the writer connection inside the job's savepoint,
 * because the request may wait in the writer's queue while a Manager
 * removes the caller or disables the drive. When the second answer
 * differs, the request is refused as its handler would refuse it now,
 * and nothing is written.
 */
#include "api/internal.h"

#include "util/err.h"

#include <stdlib.h>

int sp_api__authorize(sp_http_req *req, sp_api *api, sp_user *u, sp_authz *a)
{
    if (sp_api__caller(req, api, u) < 0)
        return SP_ERR_UNAUTHORIZED;
    a->actor = u;
    int rc = sp_store_authorize(api->store, a);
    if (rc < 0)
        sp_api__refuse(req, a, rc);
    return rc;
}

void sp_api__refuse(sp_http_req *req, const sp_authz *a, int rc)
{
    if (rc == SP_ERR_NOT_FOUND && a->target_missing)
        sp_http_reply_error(req, 404, "itemNotFound", "no permission %s", a->target_id);
    else if (rc == SP_ERR_NOT_FOUND)
        sp_http_reply_error(req, 404, "itemNotFound", "no drive %s", a->drive_id);
    else if (rc == SP_ERR_DENIED)
        sp_http_reply_error(req, 403, "accessDenied", "%s", a->why ? a->why : "not allowed");
    else
        sp_api__store_error(req, rc);
}

/* On the writer thread, once the store decided w->authz again and it
 * held. */
static int write_run(sp_store *st, void *arg)
{
    sp_api_write *w = arg;
    w->ran = 1;
    return w->run(st, w);
}

/* On the writer thread (or the handler's, when the job was never
 * queued): wakes the request. */
static void write_done(void *arg, int rc)
{
    sp_api_write *w = arg;
    w->rc = rc;
    sp_http_resume(w->req);
}

/* On an HTTP worker thread: answers, then frees the context. */
static void write_answer(sp_http_req *req, void *arg)
{
    sp_api_write *w = arg;
    if (w->rc < 0 && !w->ran)
        sp_api__refuse(req, &w->authz, w->rc); /* refused again, or never queued */
    else
        w->answer(req, w, w->rc);
    json_decref(w->body);
    free(w);
}

void sp_api__write_later(sp_http_req *req, sp_api_write *w)
{
    w->req = req;
    w->authz.actor = &w->user; /* the handler's was on its stack */
    w->rc = 0;
    w->ran = 0;
    /* Suspended first: the writer thread may resume it at once. */
    sp_http_suspend(req, write_answer, w);
    int rc = sp_store_submit(w->api->store, &w->authz, write_run, write_done, w);
    if (rc < 0)
        write_done(w, rc);
}
