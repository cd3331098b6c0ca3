/*
 * main.c - wiring: configuration, store, bus, auth, HTTP; signals; orderly
 * shutdown.
 *
 *   spaceport serve [--flag value...]   run the service
 *   spaceport migrate                   apply schema migrations and exit
 *   spaceport version                   print the version
 *   spaceport --help                    usage and configuration
 */
#include "api/api.h"
#include "api/listcache.h"
#include "auth/auth.h"
#include "auth/peers.h"
#include "config.h"
#include "events/bus.h"
#include "events/consumer.h"
#include "events/federation.h"
#include "events/hub.h"
#include "events/keeper.h"
#include "events/relay.h"
#include "events/sweeper.h"
#include "events/webhooks.h"
#include "http/http.h"
#include "store/events.h"
#include "store/items.h"
#include "store/lease.h"
#include "store/shares.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/discovery.h"
#include "util/err.h"
#include "util/httpsig.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/time.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <nats/nats.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

/* Exit codes: 0 clean, 1 runtime failure, 2 bad usage or configuration. */
#define EXIT_RUNTIME 1
#define EXIT_CONFIG  2
/* Requests in flight get this long to finish on SIGTERM. */
#define SP_DRAIN_TIMEOUT_MS 10000
/* A connection silent this long is closed: idle keep-alives, and clients
 * that stall mid-request (slowloris). Change streams sleep suspended, which
 * does not count, and send keep-alives more often than this. */
#define SP_HTTP_IDLE_TIMEOUT_S 30
/* On shutdown the relay gets this long to put the rest on the bus. */
#define SP_RELAY_FLUSH_MS 5000
/* Open connections in all: change streams are long-lived, one per device
 * or tab; 20,000 covers the 10,000-client target with room to spare. It
 * is lowered to fit the open-file limit, less what the rest needs. */
#define SP_HTTP_CONNECTION_LIMIT 20000
/* Descriptors kept for everything but the HTTP server's own (its workers
 * and connections): the database writer and the other threads' readers,
 * the bus, outbound fetches, logs. */
#define SP_FD_RESERVE 128
/* Change streams get this long to end on shutdown. */
#define SP_STREAMS_CLOSE_MS 2000
/* A PEM file larger than this is not a certificate or key. */
#define SP_PEM_MAX (1024 * 1024)

static const char usage[] =
    "usage: spaceport <command> [--flag value ...]\n"
    "\n"
    "commands:\n"
    "  serve      run the registry (HTTP API, event relay, change notifications)\n"
    "  migrate    apply database schema migrations and exit\n"
    "  version    print the version and exit\n"
    "  --help     print this help\n"
    "\n"
    "Configuration comes from environment variables; a flag named after the\n"
    "variable overrides it (SPACEPORT_HTTP_ADDR -> --http-addr):\n"
    "  SPACEPORT_HTTP_ADDR          listen address (127.0.0.1:9200)\n"
    "  SPACEPORT_PUBLIC_URL         external base URL (http://<HTTP_ADDR>)\n"
    "  SPACEPORT_DAV_URL            base of storage WebDAV (PUBLIC_URL)\n"
    "  SPACEPORT_DATA_DIR           database and embedded bus store (./data)\n"
    "  SPACEPORT_DATABASE_URL       postgres://... to use PostgreSQL (unset: SQLite)\n"
    "  SPACEPORT_NATS_URL           external NATS servers; unset: embedded nats-server\n"
    "  SPACEPORT_NATS_CREDS, _USER, _PASSWORD, _TLS_CA, _TLS_CERT, _TLS_KEY\n"
    "  SPACEPORT_OIDC_ISSUERS       trusted issuer URLs (required for serve)\n"
    "  SPACEPORT_OIDC_AUDIENCE      required token audience (unset: not checked)\n"
    "  SPACEPORT_OIDC_OPAQUE_ISSUERS  issuers asked about opaque tokens (the only\n"
    "                               issuer; none when several are trusted)\n"
    "  SPACEPORT_OIDC_EMAIL_VERIFIED_ISSUERS  issuers whose addresses count as\n"
    "                               verified without email_verified (none)\n"
    "  SPACEPORT_USER_CLAIM         user name claim (preferred_username)\n"
    "  SPACEPORT_ROLES_CLAIM        roles claim (roles)\n"
    "  SPACEPORT_TRUSTED_INSTANCES  base URLs of federated instances\n"
    "  SPACEPORT_WEBHOOK_HOSTS      host or host:port list webhooks may notify\n"
    "  SPACEPORT_OCM_REQUIRE_SIGNATURES  refuse unsigned OCM requests of every\n"
    "                               trusted instance (false)\n"
    "  SPACEPORT_OCM_INVITE_TTL     how long an OCM invite can be accepted (24h)\n"
    "  SPACEPORT_EVENTS_RETENTION   event log retention (7d)\n"
    "  SPACEPORT_HTTP_TLS_CERT, _KEY  serve HTTPS with these PEM files\n"
    "  SPACEPORT_SSE_KEEPALIVE      change stream keep-alive interval (15s)\n"
    "  SPACEPORT_SSE_COALESCE       item change coalescing window (1s)\n"
    "  SPACEPORT_ITEMS_MAX          unshared item descriptions kept (100000)\n"
    "  SPACEPORT_DOMAIN_ISSUERS     domain=issuer pairs for WebFinger\n"
    "  SPACEPORT_LOG_LEVEL          debug, info, warn, error (info)\n";

static const char *env_get(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

/* mkdir -p with mode 0700 for the parts it creates. */
static int make_dirs(const char *path)
{
    char buf[4096];
    if (strlen(path) >= sizeof buf)
        return SP_ERR_INVALID;
    strcpy(buf, path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return SP_ERR_IO;
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return SP_ERR_IO;
    return 0;
}

static int load_config(sp_config *cfg, int argc, char **argv, unsigned flags)
{
    char err[700];
    if (sp_config_load(cfg, env_get, NULL, argc, argv, flags, err, sizeof err) < 0) {
        fprintf(stderr, "spaceport: %s\n", err);
        return -1;
    }
    sp_log_set_level(cfg->log_level);
    return 0;
}

/* /metrics: each module's figures, through the registry the API reads
 * (util/metrics.h); the adapters give each module's function the
 * registry's signature. */
#define SP_METRICS_ADAPTER(name, type, fn)                                                       \
    static int name(void *ctx, sp_buf *out)                                                       \
    {                                                                                             \
        return fn((type *)ctx, out);                                                              \
    }
SP_METRICS_ADAPTER(store_metrics, sp_store, sp_store_metrics)
SP_METRICS_ADAPTER(lease_metrics, sp_store, sp_store_lease_metrics)
SP_METRICS_ADAPTER(auth_metrics, sp_auth, sp_auth_metrics)
SP_METRICS_ADAPTER(relay_metrics, sp_relay, sp_relay_metrics)
SP_METRICS_ADAPTER(consumer_metrics, sp_consumer, sp_consumer_metrics)
SP_METRICS_ADAPTER(federation_metrics, sp_federation, sp_federation_metrics)
SP_METRICS_ADAPTER(webhooks_metrics, sp_webhooks, sp_webhooks_metrics)
SP_METRICS_ADAPTER(keeper_metrics, sp_keeper, sp_keeper_metrics)

/* Registers the modules' metrics (those running: relay, consumer and
 * federation may be NULL; webhooks and keeper report zeros then). */
static int register_metrics(sp_metrics *m, sp_store *store, sp_auth *auth, sp_relay *relay,
                            sp_consumer *consumer, sp_federation *federation,
                            sp_webhooks *webhooks, sp_keeper *keeper)
{
    int rc = sp_metrics_add(m, store_metrics, store);
    if (rc == 0)
        rc = sp_metrics_add(m, lease_metrics, store);
    if (rc == 0)
        rc = sp_metrics_add(m, auth_metrics, auth);
    if (rc == 0 && relay)
        rc = sp_metrics_add(m, relay_metrics, relay);
    if (rc == 0 && consumer)
        rc = sp_metrics_add(m, consumer_metrics, consumer);
    if (rc == 0 && federation)
        rc = sp_metrics_add(m, federation_metrics, federation);
    if (rc == 0)
        rc = sp_metrics_add(m, webhooks_metrics, webhooks);
    if (rc == 0)
        rc = sp_metrics_add(m, keeper_metrics, keeper);
    return rc;
}

static int open_store(const sp_config *cfg, sp_store **out)
{
    if (make_dirs(cfg->data_dir) < 0) {
        sp_error("main", "cannot create data directory %s: %s", cfg->data_dir, strerror(errno));
        return SP_ERR_IO;
    }
    sp_buf path = {0};
    int made = cfg->database_url ? sp_buf_printf(&path, "%s", cfg->database_url)
                                 : sp_buf_printf(&path, "%s/spaceport.db", cfg->data_dir);
    if (made < 0)
        return SP_ERR_NOMEM;
    int rc = sp_store_open(path.data, out);
    sp_buf_free(&path);
    if (rc < 0)
        return rc;
    sp_store_items_limit(*out, cfg->items_max);
    int applied = 0;
    rc = sp_store_migrate(*out, &applied);
    if (rc < 0) {
        sp_store_close(*out);
        *out = NULL;
        return rc;
    }
    sp_info("store", "schema at version %d (%d migrations applied now)", sp_store_binary_version(),
            applied);
    /* Once per start: shares of older versions that are kept but not served. */
    rc = sp_store_shares_log_not_served(*out, NULL);
    if (rc < 0) {
        sp_store_close(*out);
        *out = NULL;
    }
    return rc;
}

/*
 * Loads this instance's signing key, DATA_DIR/instance-key.pem, creating
 * an ed25519 key there on first start, and the key being retired,
 * DATA_DIR/instance-key.previous.pem, when the operator moved the old one
 * there to rotate (README: "Between instances"): it is still published so
 * that peers keep accepting requests signed just before the rotation.
 */
static int load_instance_keys(const sp_config *cfg, sp_httpsig_key **key, sp_httpsig_key **previous)
{
    sp_buf path = {0}, keyid = {0};
    int rc = sp_buf_printf(&keyid, "%s/ocm", cfg->public_url);
    if (rc == 0)
        rc = sp_buf_printf(&path, "%s/instance-key.pem", cfg->data_dir);
    if (rc == 0 && (rc = sp_httpsig_key_load(path.data, 1, keyid.data, key)) < 0)
        sp_error("main",
                 "cannot load or create the instance key %s: %s (it must be an ed25519 "
                 "or RSA private key readable by its owner only)",
                 path.data, sp_err_str(rc));
    sp_buf_reset(&path);
    if (rc == 0)
        rc = sp_buf_printf(&path, "%s/instance-key.previous.pem", cfg->data_dir);
    if (rc == 0) {
        rc = sp_httpsig_key_load(path.data, 0, keyid.data, previous);
        if (rc == SP_ERR_NOT_FOUND)
            rc = 0;
        else if (rc < 0)
            sp_error("main", "cannot load the previous instance key %s: %s", path.data,
                     sp_err_str(rc));
    }
    if (rc == 0)
        sp_info("main", "instance key %s%s%s", sp_httpsig_key_id(*key),
                *previous ? ", still publishing " : "",
                *previous ? sp_httpsig_key_id(*previous) : "");
    sp_buf_free(&path);
    sp_buf_free(&keyid);
    return rc;
}

/*
 * Test hook, deliberately not configuration (not in --help, not in the
 * contract): SPACEPORT_TEST_REMOTE_SUBSCRIPTION_S=<seconds> makes the
 * subscriptions this instance asks hosting instances for last that long
 * instead of three days, so that an integration test sees renewals
 * without waiting two days (tests/integration/test_remote_subscriptions.py).
 * Start-up warns whenever it is set.
 */
static int64_t remote_subscription_lifetime(void)
{
    const char *v = getenv("SPACEPORT_TEST_REMOTE_SUBSCRIPTION_S");
    long s = v ? strtol(v, NULL, 10) : 0;
    if (s <= 0)
        return SP_KEEPER_LIFETIME_MS;
    sp_warn("main",
            "SPACEPORT_TEST_REMOTE_SUBSCRIPTION_S is set: subscriptions at hosting "
            "instances last %ld s (a test hook, not for production)",
            s);
    return (int64_t)s * 1000;
}

/*
 * Test hook, deliberately not configuration (no flag, not in --help, not
 * in the contract): SPACEPORT_TEST_HOLD_WRITER=/absolute/path makes the
 * store's writer thread leave queued writes waiting while that file
 * exists (sp_store_hold_jobs), so that an integration test can change the
 * data between a handler's check and its write's
 * (tests/integration/test_authz.py). An operator cannot trip it by
 * accident: it takes the variable and the file, and start-up warns
 * whenever the variable is set.
 */
static int hold_jobs_for_tests(sp_store *store)
{
    const char *path = getenv("SPACEPORT_TEST_HOLD_WRITER");
    if (!path || !*path)
        return 0;
    if (path[0] != '/') {
        sp_error("main", "SPACEPORT_TEST_HOLD_WRITER: must be an absolute path");
        return SP_ERR_INVALID;
    }
    sp_warn("main", "test hook SPACEPORT_TEST_HOLD_WRITER: queued writes wait while %s exists",
            path);
    return sp_store_hold_jobs(store, path);
}

static int cmd_migrate(int argc, char **argv)
{
    sp_config cfg;
    if (load_config(&cfg, argc, argv, SP_CONFIG_ISSUERS_OPTIONAL) < 0)
        return EXIT_CONFIG;
    sp_store *store = NULL;
    int rc = open_store(&cfg, &store);
    sp_store_close(store);
    sp_config_free(&cfg);
    return rc < 0 ? EXIT_RUNTIME : 0;
}

/* Reads a whole PEM file into a new string. */
static char *read_pem(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    sp_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > SP_PEM_MAX || sp_buf_append(&b, chunk, n) < 0) {
            sp_buf_free(&b);
            fclose(f);
            return NULL;
        }
    }
    fclose(f);
    return sp_buf_steal(&b);
}

/* Many SSE clients need many descriptors: raise the soft limit to the hard
 * one. */
/* Raises the open-file limit to the hard limit; returns how many
 * connections fit under it. */
static unsigned raise_nofile(void)
{
    unsigned reserve = SP_FD_RESERVE + sp_http_descriptors(0);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return SP_HTTP_CONNECTION_LIMIT;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur >= (rlim_t)SP_HTTP_CONNECTION_LIMIT + reserve)
        return SP_HTTP_CONNECTION_LIMIT;
    unsigned fit = rl.rlim_cur > 2 * (rlim_t)reserve ? (unsigned)(rl.rlim_cur - reserve)
                                                     : (unsigned)(rl.rlim_cur / 2);
    /* Below the 10,000-stream design point it is worth a warning. */
    sp_log(fit < SP_HTTP_CONNECTION_LIMIT / 2 ? SP_LOG_WARN : SP_LOG_INFO, "main",
           "open-file limit %llu: serving at most %u connections (`ulimit -n %u` for %d)",
           (unsigned long long)rl.rlim_cur, fit, SP_HTTP_CONNECTION_LIMIT + reserve,
           SP_HTTP_CONNECTION_LIMIT);
    return fit;
}

static int cmd_serve(int argc, char **argv)
{
    int64_t start_ms = sp_time_mono_ms();
    sp_config cfg;
    if (load_config(&cfg, argc, argv, 0) < 0)
        return EXIT_CONFIG;

    /* Signals are taken by sigwait in this thread only; every thread
     * started from here on inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    unsigned connection_limit = raise_nofile();
    json_object_seed(0);

    int exit_code = EXIT_RUNTIME;
    char *tls_cert = NULL, *tls_key = NULL;
    sp_store *store = NULL;
    sp_bus *bus = NULL;
    sp_auth *auth = NULL;
    sp_httpsig_key *instance_key = NULL, *instance_key_previous = NULL;
    sp_discovery *discovery = NULL;
    sp_peers *peers = NULL;
    sp_relay *relay = NULL;
    sp_sweeper *sweeper = NULL;
    sp_hub *hub = NULL;
    sp_consumer *consumer = NULL;
    sp_federation *federation = NULL;
    sp_webhooks *webhooks = NULL;
    sp_keeper *keeper = NULL;
    int64_t remote_sub_lifetime_ms = remote_subscription_lifetime();
    sp_router *router = NULL;
    sp_listcache *listcache = NULL;
    sp_http_server *server = NULL;
    sp_metrics metrics = {0};

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        goto fail_curl;
    if (nats_Open(-1) != NATS_OK)
        goto fail_nats;
    if (open_store(&cfg, &store) < 0)
        goto fail_store;
    sp_bus_options bus_opt = sp_config_bus_options(&cfg);
    if (hold_jobs_for_tests(store) < 0 || sp_bus_open(&bus_opt, &bus) < 0)
        goto fail_bus;
    sp_auth_options auth_opt = sp_config_auth_options(&cfg);
    if (sp_auth_create(&auth_opt, &auth) < 0)
        goto fail_auth;
    if (load_instance_keys(&cfg, &instance_key, &instance_key_previous) < 0 ||
        sp_discovery_create((const char *const *)cfg.trusted_instances.items,
                            cfg.trusted_instances.count, &discovery) < 0 ||
        sp_peers_create(discovery, &peers) < 0)
        goto fail_relay;
    if (sp_relay_start(store, bus, cfg.public_url, &relay) < 0 ||
        sp_store_on_commit(store, sp_relay_wake, relay) < 0)
        goto fail_relay;
    if (sp_sweeper_start(store, cfg.events_retention_ms, &sweeper) < 0)
        goto fail_sweeper;
    if (sp_hub_start(store, &hub) < 0 || sp_store_on_commit(store, sp_hub_notify, hub) < 0)
        goto fail_hub;
    if (sp_consumer_start(store, bus, &consumer) < 0)
        goto fail_consumer;
    const char *local_domains[SP_CONFIG_LIST_MAX];
    sp_federation_options fed_opt = sp_config_federation_options(&cfg, local_domains);
    if (sp_federation_start(store, &fed_opt, discovery, instance_key, &federation) < 0 ||
        (federation && sp_store_on_commit(store, sp_federation_wake, federation) < 0))
        goto fail_federation;
    if (sp_webhooks_start(store, &cfg.trusted_instances, &cfg.webhook_hosts, instance_key,
                          &webhooks) < 0 ||
        sp_store_on_commit(store, sp_webhooks_wake, webhooks) < 0)
        goto fail_webhooks;
    if (sp_keeper_start(store, &cfg.trusted_instances, instance_key, remote_sub_lifetime_ms,
                        &keeper) < 0 ||
        (keeper && sp_store_on_commit(store, sp_keeper_wake, keeper) < 0))
        goto fail_keeper;
    /* Of several replicas on one PostgreSQL database, the holder of each
     * lease does its work; a worker waiting for its lease is woken when
     * this replica takes it. */
    if (sp_store_on_lease(store, SP_LEASE_RELAY, sp_relay_wake, relay) < 0 ||
        (federation &&
         sp_store_on_lease(store, SP_LEASE_FEDERATION, sp_federation_wake, federation) < 0) ||
        (keeper && sp_store_on_lease(store, SP_LEASE_FEDERATION, sp_keeper_wake, keeper) < 0) ||
        sp_store_on_lease(store, SP_LEASE_WEBHOOKS, sp_webhooks_wake, webhooks) < 0 ||
        sp_store_shared_start(store) < 0)
        goto fail_shared;

    if (register_metrics(&metrics, store, auth, relay, consumer, federation, webhooks, keeper) < 0)
        goto fail_shared;

    sp_api api = {.cfg = &cfg,
                  .store = store,
                  .bus = bus,
                  .auth = auth,
                  .hub = hub,
                  .instance_key = instance_key,
                  .instance_key_previous = instance_key_previous,
                  .peers = peers,
                  .discovery = discovery,
                  .metrics = &metrics,
                  .remote_sub_lifetime_ms = remote_sub_lifetime_ms,
                  .started_ms = sp_time_now_ms()};
    listcache = sp_listcache_new();
    api.listcache = listcache; /* without it every listing is rendered */
    router = sp_router_new();
    if (!router || sp_api_register(router, &api) < 0)
        goto fail_router;

    if (cfg.http_tls_cert) {
        tls_cert = read_pem(cfg.http_tls_cert);
        tls_key = read_pem(cfg.http_tls_key);
        if (!tls_cert || !tls_key) {
            sp_error("main", "cannot read SPACEPORT_HTTP_TLS_CERT or SPACEPORT_HTTP_TLS_KEY");
            goto fail_router;
        }
    }
    sp_http_options hopt = {.host = cfg.http_host,
                            .port = cfg.http_port,
                            .tls_cert_pem = tls_cert,
                            .tls_key_pem = tls_key,
                            .connection_timeout_s = SP_HTTP_IDLE_TIMEOUT_S,
                            .connection_limit = connection_limit};
    if (sp_http_start(&hopt, router, &server) < 0)
        goto fail_router;
    sp_info("main", "spaceport %s serving %s on %s:%d (started in %lld ms)", SP_VERSION,
            cfg.public_url, cfg.http_host, cfg.http_port,
            (long long)(sp_time_mono_ms() - start_ms));

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;
    sp_info("main", "%s received; draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    sp_http_quiesce(server);
    sp_hub_close(hub, SP_STREAMS_CLOSE_MS);
    sp_http_stop(server, SP_DRAIN_TIMEOUT_MS);
    server = NULL;
    exit_code = 0;

fail_router:
    sp_hub_close(hub, SP_STREAMS_CLOSE_MS);
    sp_http_stop(server, 0);
    sp_router_free(router);
    sp_listcache_free(listcache);
fail_shared:
    /* No wake-ups from here on; the leases stay held until the store
     * closes, so that the relay below drains as their holder. */
    sp_store_shared_stop(store);
fail_keeper:
    sp_keeper_stop(keeper);
fail_webhooks:
    sp_webhooks_stop(webhooks);
fail_federation:
    sp_federation_stop(federation);
    sp_consumer_stop(consumer);
fail_consumer:
    sp_hub_free(hub);
fail_hub:
    sp_sweeper_stop(sweeper);
fail_sweeper:
    sp_relay_stop(relay, SP_RELAY_FLUSH_MS);
fail_relay:
    sp_peers_destroy(peers);
    sp_discovery_destroy(discovery);
    sp_httpsig_key_free(instance_key_previous);
    sp_httpsig_key_free(instance_key);
    sp_auth_destroy(auth);
fail_auth:
    sp_bus_close(bus);
fail_bus:
    sp_store_close(store);
fail_store:
    /* With TLS in use, the NATS library's cleanup releases OpenSSL state
     * that OpenSSL's own exit handler then frees again (a crash at exit
     * with OpenSSL 3). The process is ending: leave that memory to it. */
    if (!cfg.nats_tls_ca && !cfg.nats_tls_cert)
        nats_Close();
fail_nats:
    curl_global_cleanup();
fail_curl:
    free(tls_cert);
    free(tls_key);
    sp_config_free(&cfg);
    if (exit_code == 0)
        sp_info("main", "stopped");
    return exit_code;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return EXIT_CONFIG;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 2, argv + 2);
    if (strcmp(cmd, "migrate") == 0)
        return cmd_migrate(argc - 2, argv + 2);
    if (strcmp(cmd, "version") == 0) {
        printf("spaceport %s\n", SP_VERSION);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    fprintf(stderr, "spaceport: unknown command '%s'\n\n%s", cmd, usage);
    return EXIT_CONFIG;
}
