/*
 * events.c - event history: GET /api/v1/events/{id} answers the stored
 * CloudEvent to a user it concerns, or to an admin.
 */
#include "api/internal.h"

#include "events/envelope.h"
#include "store/events.h"

#include "util/err.h"

#include <stdlib.h>
#include <string.h>

static int capture(const sp_event *e, void *arg)
{
    sp_api *api = *(sp_api **)arg;
    json_t *j = sp_envelope_json(e, api->cfg->public_url);
    if (!j)
        return SP_ERR_NOMEM;
    ((json_t **)arg)[1] = j;
    return 0;
}

static void get_event(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    const char *id = sp_http_param(req, "id");
    void *slots[2] = {api, NULL};
    int rc = sp_store_event_get(api->store, id, u.seq, sp_api__is_admin(&u), capture, slots);
    if (rc == SP_ERR_NOT_FOUND) {
        sp_http_reply_error(req, 404, "itemNotFound", "no event %s", id);
        return;
    }
    if (rc < 0) {
        sp_api__store_error(req, api, rc);
        return;
    }
    char *text = json_dumps(slots[1], JSON_COMPACT);
    json_decref(slots[1]);
    if (!text) {
        sp_http_reply_error(req, 500, "generalException", "out of memory");
        return;
    }
    sp_http_reply(req, 200, SP_CLOUDEVENTS_JSON, text, strlen(text));
    free(text);
}

int sp_api__register_events(sp_router *r, sp_api *api)
{
    return sp_router_add(r, "GET", "/api/v1/events/{id}", get_event, api);
}
