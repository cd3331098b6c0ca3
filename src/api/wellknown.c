/*
 * wellknown.c - operations routes: /healthz, /readyz, /metrics.
 */
#include "api/internal.h"
#include "auth/peers.h"

#include "util/buf.h"
#include "util/metrics.h"
#include "util/err.h"
#include "util/time.h"

#include <string.h>

static void healthz(sp_http_req *req, void *ctx)
{
    (void)ctx;
    sp_http_add_header(req, "Cache-Control", "no-store");
    sp_http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

/* 200 only when every part the service needs answers; otherwise 503 naming
 * the first part that does not. */
static void readyz(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_http_add_header(req, "Cache-Control", "no-store");
    if (sp_store_ping(api->store) < 0) {
        sp_http_reply_error(req, 503, "unavailable", "database not answering");
        return;
    }
    if (!sp_bus_connected(api->bus)) {
        sp_http_reply_error(req, 503, "unavailable", "%s", sp_bus_status(api->bus));
        return;
    }
    char why[600];
    if (sp_auth_ready(api->auth, why, sizeof why) < 0) {
        sp_http_reply_error(req, 503, "unavailable", "%s", why);
        return;
    }
    sp_http_reply_json(req, 200, json_pack("{s:s}", "status", "ready"));
}

static void metrics(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_buf out = {0};
    int rc = sp_buf_printf(&out,
                           "# HELP spaceport_bus_connected 1 when connected to NATS with the "
                           "stream ready.\n# TYPE spaceport_bus_connected gauge\n"
                           "spaceport_bus_connected %d\n"
                           "# HELP spaceport_start_time_seconds Start time of the process.\n"
                           "# TYPE spaceport_start_time_seconds gauge\n"
                           "spaceport_start_time_seconds %.3f\n",
                           sp_bus_connected(api->bus) ? 1 : 0, (double)api->started_ms / 1000.0);
    if (rc == 0)
        rc = sp_http_metrics(sp_http_server_of(req), &out);
    if (rc == 0 && api->metrics)
        rc = sp_metrics_render(api->metrics, &out);
    if (rc == 0)
        rc = sp_api__dav_metrics(api, &out);
    if (rc == 0 && api->peers) {
        unsigned long long verified, refused, fetches;
        sp_peers_counts(api->peers, &verified, &refused, &fetches);
        rc = sp_buf_printf(
            &out,
            "# HELP spaceport_signed_requests_total Requests claiming to come from a trusted "
            "instance (RFC 9421 signatures), by outcome.\n"
            "# TYPE spaceport_signed_requests_total counter\n"
            "spaceport_signed_requests_total{outcome=\"verified\"} %llu\n"
            "spaceport_signed_requests_total{outcome=\"refused\"} %llu\n"
            "# HELP spaceport_peer_key_fetches_total Fetches of trusted instances' OCM discovery "
            "documents and JWKS, which carry their public keys.\n"
            "# TYPE spaceport_peer_key_fetches_total counter\n"
            "spaceport_peer_key_fetches_total %llu\n",
            verified, refused, fetches);
    }
    if (rc == 0 && api->hub)
        rc = sp_buf_printf(&out,
                           "# HELP spaceport_change_streams Open change notification streams.\n"
                           "# TYPE spaceport_change_streams gauge\n"
                           "spaceport_change_streams %lld\n",
                           (long long)sp_hub_count(api->hub));
    if (rc < 0)
        sp_http_reply_error(req, 500, "generalException", "out of memory");
    else
        sp_http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
    sp_buf_free(&out);
}

int sp_api__register_wellknown(sp_router *r, sp_api *api)
{
    int rc = sp_router_add(r, "GET", "/healthz", healthz, api);
    if (rc == 0)
        rc = sp_router_add(r, "GET", "/readyz", readyz, api);
    if (rc == 0)
        rc = sp_router_add(r, "GET", "/metrics", metrics, api);
    return rc;
}
