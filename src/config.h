/*
 * config.h - typed configuration, read from the environment and flags once at
 * start-up and validated as a whole.
 *
 * Every SPACEPORT_* variable of the contract is parsed here, even where the
 * feature that reads it is elsewhere, so that a typo stops start-up with one
 * line naming the variable instead of surfacing later as odd behaviour.
 * A flag --name-of-variable (SPACEPORT_ stripped, lower case, '-' for '_')
 * overrides the variable: --http-addr 127.0.0.1:9300 or --http-addr=....
 */
#ifndef SP_CONFIG_H
#define SP_CONFIG_H

#include "auth/auth.h"
#include "events/bus.h"
#include "events/federation.h"
#include "util/log.h"
#include "util/strlist.h"

#include <stddef.h>
#include <stdint.h>

/* Longest accepted value of one variable; configuration is short text. */
#define SP_CONFIG_VALUE_MAX 4096
/* Most entries in one comma list (issuers, instances, NATS URLs). */
#define SP_CONFIG_LIST_MAX SP_STRLIST_MAX

/* A comma-separated list, owned by the config. */
typedef sp_strlist sp_config_list;

/* One e-mail domain mapped to the issuer that serves it (WebFinger). */
typedef struct sp_config_domain_issuer {
    char *domain;
    char *issuer;
} sp_config_domain_issuer;

typedef struct sp_config {
    char *http_host; /* "127.0.0.1", "::1", "0.0.0.0" */
    int http_port;
    char *public_url; /* no trailing slash */
    char *dav_url;    /* no trailing slash */
    char *data_dir;
    char *database_url; /* NULL: SQLite, DATA_DIR/spaceport.db; else PostgreSQL */

    sp_config_list nats_urls; /* empty: run the embedded nats-server */
    char *nats_creds, *nats_user, *nats_password;
    char *nats_tls_ca, *nats_tls_cert, *nats_tls_key;
    int nats_replicas; /* copies of the stream the cluster keeps */

    sp_config_list oidc_issuers; /* at least one */
    char *oidc_audience;         /* NULL: aud not checked */
    /* Issuers whose userinfo endpoint may be asked about opaque tokens.
     * When not set: the only issuer when exactly one is trusted, none when
     * several are (an opaque token does not say whose it is, and sending it
     * to every issuer would show each one the others' tokens). "none": none. */
    sp_config_list opaque_issuers;
    int opaque_issuers_set;
    /* Issuers trusted to have verified every address they put in "email",
     * even without an email_verified claim. Default: none. */
    sp_config_list email_verified_issuers;
    char *user_claim;
    char *roles_claim;
    char *groups_claim; /* array of group names (auth/auth.h); default "groups" */

    sp_config_list trusted_instances; /* base URLs, no trailing slash */
    sp_config_list webhook_hosts;     /* "host" or "host:port": webhooks may notify them */
    /* Every inbound OCM request must be signed by a trusted instance
     * (SPACEPORT_OCM_REQUIRE_SIGNATURES); when off, only instances whose
     * discovery says they sign must sign. */
    int ocm_require_signatures;
    /* How long an OCM invite can be accepted (SPACEPORT_OCM_INVITE_TTL). */
    int64_t ocm_invite_ttl_ms;
    int64_t events_retention_ms;
    char *http_tls_cert, *http_tls_key;
    int64_t sse_keepalive_ms;
    int64_t sse_coalesce_ms;
    int64_t items_max; /* items without a share kept (store/items.h) */
    sp_config_domain_issuer domain_issuers[SP_CONFIG_LIST_MAX];
    size_t domain_issuer_count;
    enum sp_log_level log_level;
} sp_config;

/* Function that reads a variable; getenv in production, a table in tests. */
typedef const char *(*sp_config_getenv)(const char *name, void *ctx);

/*
 * Loads the configuration from env (and flags argv[0..argc), which override
 * it). On success fills *cfg (free with sp_config_free) and returns 0. On
 * failure returns SP_ERR_INVALID (or SP_ERR_NOMEM) and writes one line such
 * as "SPACEPORT_HTTP_ADDR: port must be 1-65535" into err (errlen bytes);
 * *cfg is left empty. Unknown flags are errors too.
 */
int sp_config_load(sp_config *cfg, sp_config_getenv env, void *env_ctx, int argc, char **argv,
                   unsigned flags, char *err, size_t errlen);

/* flags of sp_config_load: `spaceport migrate` needs no identity provider. */
#define SP_CONFIG_ISSUERS_OPTIONAL 1u

/* Releases everything the config owns. Safe on a zeroed config. */
void sp_config_free(sp_config *cfg);

/* The modules' own options, read from cfg (which they point into: valid
 * while cfg is; config_options.c). */
sp_auth_options sp_config_auth_options(const sp_config *cfg);
sp_bus_options sp_config_bus_options(const sp_config *cfg);
/* Federation's; domains (filled) holds the e-mail domains served here and
 * must live as long as the options are used. */
sp_federation_options sp_config_federation_options(const sp_config *cfg,
                                                   const char *domains[SP_CONFIG_LIST_MAX]);

/* Returns non-zero when host (without port or brackets) is a loopback name:
 * localhost, 127.0.0.0/8 or ::1. */
int sp_config_is_loopback_host(const char *host);

#endif
