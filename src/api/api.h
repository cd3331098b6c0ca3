/*
 * api.h - the REST API: every route of the contract, registered on a
 * router. Handlers are thin: parse, authorize, one store call, reply.
 */
#ifndef SP_API_H
#define SP_API_H

#include "auth/auth.h"
#include "config.h"
#include "events/bus.h"
#include "events/hub.h"
#include "http/http.h"
#include "store/store.h"

#include <stdatomic.h>

/* What the handlers need; all borrowed, owned by main. */
typedef struct sp_api {
    const sp_config *cfg;
    sp_store *store;
    sp_bus *bus;
    sp_auth *auth;
    sp_hub *hub;                    /* change streams; may be NULL */
    struct sp_listcache *listcache; /* rendered listings; may be NULL */
    /* The other modules' metrics, which /metrics serves after the API's
     * own (util/metrics.h); may be NULL. */
    const struct sp_metrics *metrics;
    /* This instance's signing key and the one being retired (NULL when
     * none): both published in the OCM discovery (util/httpsig.h). */
    const struct sp_httpsig_key *instance_key, *instance_key_previous;
    struct sp_peers *peers;         /* trusted instances' signatures (auth/peers.h) */
    struct sp_discovery *discovery; /* trusted instances' OCM discovery (util/discovery.h) */
    int64_t remote_sub_lifetime_ms; /* asked of hosting instances (events/keeper.h) */
    int64_t started_ms;             /* wall clock at start, for /metrics */
    /* Lookups at other instances in flight (remote.c): in all, and at each
     * trusted instance (by its index in cfg->trusted_instances). */
    atomic_int remote_lookups;
    atomic_int remote_lookups_at[SP_CONFIG_LIST_MAX];
    /* Validation handshakes of new subscriptions in flight
     * (subscriptions.c): in all, and at each destination (its index among
     * the trusted instances, then the webhook hosts). */
    atomic_int handshakes;
    atomic_int handshakes_at[2 * SP_CONFIG_LIST_MAX];
    /* WebDAV access checks answered (dav.c), by SP_API_DAV_* decision. */
    atomic_ullong dav_access[3];
} sp_api;

/* Adds every route to r; api must outlive r. Returns 0 or a negative
 * sp_err when the table is full. */
int sp_api_register(sp_router *r, sp_api *api);

#endif
