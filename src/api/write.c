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
#include "util/itemid.h"
#include "util/time.h"

#include <stdlib.h>

/* sp_api__authorize; with stored_item, a->item_id may break the form rule
 * when it is exactly the stored item of share a->target_id on a->drive_id. */
static int authorize(sp_http_req *req, sp_api *api, sp_user *u, sp_authz *a, int stored_item)
{
    if (sp_api__caller(req, api, u) < 0)
        return SP_ERR_UNAUTHORIZED;
    /* Before anything is read: an id that could point elsewhere is refused
     * the same way on every drive, so the answer tells nothing of it. */
    const char *why = NULL;
    int foreign = a->item_id && sp_itemid_check(a->drive_id, a->item_id, &why) < 0;
    if (foreign && !stored_item) {
        sp_http_reply_error(req, 400, "invalidRequest", "itemId %s", why);
        return SP_ERR_INVALID;
    }
    a->actor = u;
    int rc = sp_store_authorize(api->store, a);
    /* A removal naming a share stored by an older version, whose item id
     * breaks the rule: only that share's own id on its own drive passes,
     * and only for whom reaches the drive; anyone else gets the 400 of
     * every other route. */
    if (foreign && rc != SP_ERR_DB && (rc == SP_ERR_NOT_FOUND || !a->target_found)) {
        sp_http_reply_error(req, 400, "invalidRequest", "itemId %s", why);
        return SP_ERR_INVALID;
    }
    if (rc < 0)
        sp_api__refuse(req, api, a, rc);
    return rc;
}

int sp_api__authorize(sp_http_req *req, sp_api *api, sp_user *u, sp_authz *a)
{
    return authorize(req, api, u, a, 0);
}

int sp_api__authorize_removal(sp_http_req *req, sp_api *api, sp_user *u, sp_authz *a)
{
    return authorize(req, api, u, a, 1);
}

void sp_api__refuse(sp_http_req *req, sp_api *api, const sp_authz *a, int rc)
{
    if (rc == SP_ERR_NOT_FOUND && a->target_missing)
        sp_http_reply_error(req, 404, "itemNotFound", "no permission %s", a->target_id);
    else if (rc == SP_ERR_NOT_FOUND)
        sp_http_reply_error(req, 404, "itemNotFound", "no drive %s", a->drive_id);
    else if (rc == SP_ERR_DENIED)
        sp_http_reply_error(req, 403, "accessDenied", "%s", a->why ? a->why : "not allowed");
    else
        sp_api__store_error(req, api, rc);
}

const sp_role *sp_api__read_role(sp_http_req *req, json_t *body, unsigned applies,
                                 const char *hint)
{
    json_t *roles = json_object_get(body, "roles");
    const sp_role *r = NULL;
    if (json_is_array(roles) && json_array_size(roles) == 1)
        r = sp_role_find(json_string_value(json_array_get(roles, 0)));
    if (!r || !(r->applies & applies)) {
        sp_http_reply_error(req, 400, "invalidRequest", "%s", hint);
        return NULL;
    }
    return r;
}

int sp_api__read_expiry(sp_http_req *req, json_t *body, int *set, int64_t *ms)
{
    json_t *e = json_object_get(body, "expirationDateTime");
    *set = e != NULL;
    *ms = 0;
    if (!e || json_is_null(e))
        return 0;
    if (!json_is_string(e) || sp_time_parse_rfc3339(json_string_value(e), ms) < 0) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "expirationDateTime must be an RFC 3339 date-time, or null");
        return SP_ERR_INVALID;
    }
    if (*ms <= sp_time_now_ms()) {
        sp_http_reply_error(req, 400, "invalidRequest", "expirationDateTime is in the past");
        return SP_ERR_INVALID;
    }
    return 0;
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
        sp_api__refuse(req, w->api, &w->authz, w->rc); /* refused again, or never queued */
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
