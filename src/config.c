/*
 * config.c - configuration from SPACEPORT_* variables and flags.
 *
 * One table lists every variable with its default; each is parsed by a small
 * function that writes the typed field or says what is wrong in one line.
 */
#include "config.h"

#include "util/err.h"
#include "util/instance.h"
#include "util/time.h"
#include "util/url.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Retention shorter than a minute would drop events before a client could
 * reconnect; the contract's default is a week. */
#define SP_RETENTION_MIN_MS (60 * 1000)
/* Keep-alive bounds: below 1 s wastes bandwidth, above 5 min proxies close. */
#define SP_KEEPALIVE_MIN_MS 1000
#define SP_KEEPALIVE_MAX_MS (5 * 60 * 1000)
/* An invite is a token handed out of band: one that lives a minute is
 * useless, one that lives beyond a year is a standing password. */
#define SP_INVITE_TTL_MIN_MS (60 * 1000)
#define SP_INVITE_TTL_MAX_MS ((int64_t)366 * 86400 * 1000)
/* Coalescing longer than a minute would make notifications feel lost. */
#define SP_COALESCE_MAX_MS (60 * 1000)

typedef int (*parse_fn)(sp_config *cfg, const char *value, char *why, size_t whylen);

typedef struct setting {
    const char *name;     /* environment variable */
    const char *fallback; /* default value, NULL when unset by default */
    parse_fn parse;
} setting;

static void say(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

static int dup_into(char **dst, const char *value)
{
    free(*dst);
    *dst = strdup(value);
    return *dst ? 0 : SP_ERR_NOMEM;
}

/* Splits a comma list, trimming blanks around items; empty items are errors. */
static int split_list(sp_config_list *list, const char *value, char *why, size_t whylen)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i]);
    list->count = 0;
    const char *p = value;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && isspace((unsigned char)*p))
            p++, n--;
        while (n && isspace((unsigned char)p[n - 1]))
            n--;
        if (n == 0) {
            say(why, whylen, "empty entry in comma list");
            return SP_ERR_INVALID;
        }
        if (list->count == SP_CONFIG_LIST_MAX) {
            say(why, whylen, "more than %d entries", SP_CONFIG_LIST_MAX);
            return SP_ERR_INVALID;
        }
        char *item = strndup(p, n);
        if (!item)
            return SP_ERR_NOMEM;
        list->items[list->count++] = item;
        if (!end)
            break;
        p = end + 1;
        if (!*p) {
            say(why, whylen, "empty entry in comma list");
            return SP_ERR_INVALID;
        }
    }
    return 0;
}

static void strip_trailing_slash(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        s[--n] = '\0';
}

/* A base URL: http or https, https required unless the host is loopback
 * (when https_only), no query. */
static int check_base_url(const char *value, int https_only, char *why, size_t whylen)
{
    sp_url u;
    const char *reason;
    if (sp_url_parse(value, &u, &reason) < 0) {
        say(why, whylen, "'%s' %s", value, reason);
        return SP_ERR_INVALID;
    }
    if (strcmp(u.scheme, "http") != 0 && strcmp(u.scheme, "https") != 0) {
        say(why, whylen, "'%s' must be an http or https URL", value);
        return SP_ERR_INVALID;
    }
    if (https_only && strcmp(u.scheme, "https") != 0 && !sp_url_host_is_loopback(u.host)) {
        say(why, whylen, "'%s' must use https (http is allowed for loopback hosts only)", value);
        return SP_ERR_INVALID;
    }
    if (u.query[0]) {
        say(why, whylen, "'%s' must not have a query", value);
        return SP_ERR_INVALID;
    }
    return 0;
}

static int parse_http_addr(sp_config *cfg, const char *v, char *why, size_t whylen)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v) {
        say(why, whylen, "'%s' must be host:port", v);
        return SP_ERR_INVALID;
    }
    const char *host = v;
    size_t hl = (size_t)(colon - v);
    int v6 = v[0] == '[';
    if (v6) {
        if (colon[-1] != ']' || hl < 3) {
            say(why, whylen, "'%s' must be [ipv6]:port", v);
            return SP_ERR_INVALID;
        }
        host++;
        hl -= 2;
    }
    /* An address or a host name: nothing that could not be bound or would
     * make the derived public URL malformed. */
    for (size_t i = 0; i < hl; i++) {
        char c = host[i];
        int ok = isalnum((unsigned char)c) || c == '.' || c == '-' || (v6 && c == ':');
        if (!ok) {
            say(why, whylen, "'%s' has a malformed host", v);
            return SP_ERR_INVALID;
        }
    }
    long port = 0;
    const char *p = colon + 1;
    size_t digits = strspn(p, "0123456789");
    if (digits == 0 || digits > 5 || p[digits] != '\0' || (port = strtol(p, NULL, 10)) < 1 ||
        port > 65535) {
        say(why, whylen, "'%s': port must be 1-65535", v);
        return SP_ERR_INVALID;
    }
    free(cfg->http_host);
    cfg->http_host = strndup(host, hl);
    if (!cfg->http_host)
        return SP_ERR_NOMEM;
    cfg->http_port = (int)port;
    return 0;
}

static int parse_public_url(sp_config *cfg, const char *v, char *why, size_t whylen)
{
    if (check_base_url(v, 0, why, whylen) < 0)
        return SP_ERR_INVALID;
    if (dup_into(&cfg->public_url, v) < 0)
        return SP_ERR_NOMEM;
    strip_trailing_slash(cfg->public_url);
    return 0;
}

static int parse_dav_url(sp_config *cfg, const char *v, char *why, size_t whylen)
{
    if (check_base_url(v, 0, why, whylen) < 0)
        return SP_ERR_INVALID;
    if (dup_into(&cfg->dav_url, v) < 0)
        return SP_ERR_NOMEM;
    strip_trailing_slash(cfg->dav_url);
    return 0;
}

static int parse_data_dir(sp_config *cfg, const char *v, char *why, size_t whylen)
{
    if (!*v) {
        say(why, whylen, "must not be empty");
        return SP_ERR_INVALID;
    }
    return dup_into(&cfg->data_dir, v);
}

static int parse_database_url(sp_config *cfg, const char *v, char *why, size_t whylen)
{
    /* A URL, not libpq's key=value form: one form is enough to document,
     * and a mistyped value should not be read as a file name. */
    if (strncmp(v, "postgres://", 11) != 0 && strncmp(v, "postgresql://", 13) != 0) {
        say(why, whylen, "must be a postgres:// or postgresql:// URL");
        return SP_ERR_INVALID;
    }
    return dup_into(&cfg->database_url, v);
}

static int parse_nats_url(sp_config *cfg, const char *v, char *why, size_t whylen)
{
    int rc = split_list(&cfg->nats_urls, v, why, whylen);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < cfg->nats_urls.count; i++) {
        sp_url u;
        const char *reason;
        if (sp_url_parse(cfg->nats_urls.items[i], &u, &reason) < 0) {
            say(why, whylen, "'%s' %s", cfg->nats_urls.items[i], reason);
            return SP_ERR_INVALID;
        }
        if (strcmp(u.scheme, "nats") != 0) {
            say(why, whylen, "'%s' must be a nats:// URL (TLS is set with SPACEPORT_NATS_TLS_*)",
                cfg->nats_urls.items[i]);
            return SP_ERR_INVALID;
        }
    }
    return 0;
}

/* A file the process must be able to read. */
static int parse_readable(char **dst, const char *v, char *why, size_t whylen)
{
    if (access(v, R_OK) != 0) {
        say(why, whylen, "cannot read file '%s'", v);
        return SP_ERR_INVALID;
    }
    return dup_into(dst, v);
}

static int parse_nats_creds(sp_config *c, const char *v, char *w, size_t wl)
{
    return parse_readable(&c->nats_creds, v, w, wl);
}
static int parse_nats_tls_ca(sp_config *c, const char *v, char *w, size_t wl)
{
    return parse_readable(&c->nats_tls_ca, v, w, wl);
}
static int parse_nats_tls_cert(sp_config *c, const char *v, char *w, size_t wl)
{
    return parse_readable(&c->nats_tls_cert, v, w, wl);
}
static int parse_nats_tls_key(sp_config *c, const char *v, char *w, size_t wl)
{
    return parse_readable(&c->nats_tls_key, v, w, wl);
}
static int parse_http_tls_cert(sp_config *c, const char *v, char *w, size_t wl)
{
    return parse_readable(&c->http_tls_cert, v, w, wl);
}
static int parse_http_tls_key(sp_config *c, const char *v, char *w, size_t wl)
{
    return parse_readable(&c->http_tls_key, v, w, wl);
}

static int parse_nonempty(char **dst, const char *v, char *why, size_t whylen)
{
    if (!*v) {
        say(why, whylen, "must not be empty");
        return SP_ERR_INVALID;
    }
    return dup_into(dst, v);
}

static int parse_nats_user(sp_config *c, const char *v, char *w, size_t wl)
{
    return parse_nonempty(&c->nats_user, v, w, wl);
}
static int parse_nats_password(sp_config *c, const char *v, char *w, size_t wl)
{
    return parse_nonempty(&c->nats_password, v, w, wl);
}
static int parse_audience(sp_config *c, const char *v, char *w, size_t wl)
{
    return parse_nonempty(&c->oidc_audience, v, w, wl);
}

/* A JSON claim name: printable, no dots or spaces (nested claims are not
 * supported, so a dot would silently never match). */
static int parse_claim(char **dst, const char *v, char *why, size_t whylen)
{
    if (!*v || strlen(v) > 128) {
        say(why, whylen, "must be a claim name of 1-128 characters");
        return SP_ERR_INVALID;
    }
    for (const char *c = v; *c; c++) {
        if (!isgraph((unsigned char)*c) || *c == '.') {
            say(why, whylen, "'%s' is not a plain claim name", v);
            return SP_ERR_INVALID;
        }
    }
    return dup_into(dst, v);
}

static int parse_user_claim(sp_config *c, const char *v, char *w, size_t wl)
{
    return parse_claim(&c->user_claim, v, w, wl);
}
static int parse_roles_claim(sp_config *c, const char *v, char *w, size_t wl)
{
    return parse_claim(&c->roles_claim, v, w, wl);
}
static int parse_groups_claim(sp_config *c, const char *v, char *w, size_t wl)
{
    return parse_claim(&c->groups_claim, v, w, wl);
}

static int parse_issuers(sp_config *cfg, const char *v, char *why, size_t whylen)
{
    int rc = split_list(&cfg->oidc_issuers, v, why, whylen);
    if (rc < 0)
        return rc;
    if (cfg->oidc_issuers.count == 0) {
        say(why, whylen, "at least one issuer URL is required");
        return SP_ERR_INVALID;
    }
    for (size_t i = 0; i < cfg->oidc_issuers.count; i++) {
        /* The issuer string is compared exactly with the token's iss, so it
         * is kept as written (no slash stripping). */
        if (check_base_url(cfg->oidc_issuers.items[i], 1, why, whylen) < 0)
            return SP_ERR_INVALID;
    }
    return 0;
}

static int parse_opaque_issuers(sp_config *cfg, const char *v, char *why, size_t whylen)
{
    cfg->opaque_issuers_set = 1;
    if (strcmp(v, "none") == 0)
        return 0;
    return split_list(&cfg->opaque_issuers, v, why, whylen);
}

static int parse_email_verified_issuers(sp_config *cfg, const char *v, char *why, size_t whylen)
{
    if (strcmp(v, "none") == 0)
        return 0;
    return split_list(&cfg->email_verified_issuers, v, why, whylen);
}

static int parse_trusted(sp_config *cfg, const char *v, char *why, size_t whylen)
{
    int rc = split_list(&cfg->trusted_instances, v, why, whylen);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < cfg->trusted_instances.count; i++) {
        if (check_base_url(cfg->trusted_instances.items[i], 1, why, whylen) < 0)
            return SP_ERR_INVALID;
        strip_trailing_slash(cfg->trusted_instances.items[i]);
    }
    return 0;
}

/* Hosts webhooks may notify besides the trusted instances: "host" or
 * "host:port" each (util/instance.h). */
static int parse_webhook_hosts(sp_config *cfg, const char *v, char *why, size_t whylen)
{
    int rc = split_list(&cfg->webhook_hosts, v, why, whylen);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < cfg->webhook_hosts.count; i++) {
        char host[SP_INSTANCE_AUTHORITY_MAX];
        int port;
        if (sp_instance_host_entry(cfg->webhook_hosts.items[i], host, &port) < 0) {
            say(why, whylen, "'%s' is not a host or host:port", cfg->webhook_hosts.items[i]);
            return SP_ERR_INVALID;
        }
    }
    return 0;
}

static int parse_duration_in(int64_t *dst, const char *v, int64_t min, int64_t max, char *why,
                             size_t whylen)
{
    int64_t ms;
    if (sp_time_parse_duration(v, &ms) < 0) {
        say(why, whylen, "'%s' is not a duration (e.g. 500ms, 15s, 10m, 2h, 7d)", v);
        return SP_ERR_INVALID;
    }
    if (ms < min || ms > max) {
        say(why, whylen, "'%s' must be between %lldms and %lldms", v, (long long)min,
            (long long)max);
        return SP_ERR_INVALID;
    }
    *dst = ms;
    return 0;
}

static int parse_retention(sp_config *c, const char *v, char *w, size_t wl)
{
    return parse_duration_in(&c->events_retention_ms, v, SP_RETENTION_MIN_MS,
                             (int64_t)3650 * 86400 * 1000, w, wl);
}
static int parse_invite_ttl(sp_config *c, const char *v, char *w, size_t wl)
{
    return parse_duration_in(&c->ocm_invite_ttl_ms, v, SP_INVITE_TTL_MIN_MS, SP_INVITE_TTL_MAX_MS,
                             w, wl);
}
static int parse_keepalive(sp_config *c, const char *v, char *w, size_t wl)
{
    return parse_duration_in(&c->sse_keepalive_ms, v, SP_KEEPALIVE_MIN_MS, SP_KEEPALIVE_MAX_MS, w,
                             wl);
}
static int parse_coalesce(sp_config *c, const char *v, char *w, size_t wl)
{
    return parse_duration_in(&c->sse_coalesce_ms, v, 0, SP_COALESCE_MAX_MS, w, wl);
}

/* Most items without a share one may ask to keep: ten million rows of a
 * few hundred bytes is a few GB, past what a registry should hold. */
#define SP_ITEMS_MAX_MAX 10000000

static int parse_items_max(sp_config *cfg, const char *v, char *why, size_t whylen)
{
    size_t digits = strspn(v, "0123456789");
    long long n = digits && digits <= 8 && v[digits] == '\0' ? strtoll(v, NULL, 10) : -1;
    if (n < 0 || n > SP_ITEMS_MAX_MAX) {
        say(why, whylen, "'%s' must be a number of items from 0 to %d", v, SP_ITEMS_MAX_MAX);
        return SP_ERR_INVALID;
    }
    cfg->items_max = n;
    return 0;
}

static int parse_domain_issuers(sp_config *cfg, const char *v, char *why, size_t whylen)
{
    sp_config_list pairs = {0};
    int rc = split_list(&pairs, v, why, whylen);
    for (size_t i = 0; rc == 0 && i < pairs.count; i++) {
        char *eq = strchr(pairs.items[i], '=');
        if (!eq || eq == pairs.items[i] || !eq[1]) {
            say(why, whylen, "'%s' must be domain=issuer", pairs.items[i]);
            rc = SP_ERR_INVALID;
            break;
        }
        *eq = '\0';
        for (char *c = pairs.items[i]; *c; c++) {
            if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.') {
                say(why, whylen, "'%s' is not a domain name", pairs.items[i]);
                rc = SP_ERR_INVALID;
                break;
            }
            *c = (char)tolower((unsigned char)*c);
        }
        if (rc == 0 && check_base_url(eq + 1, 1, why, whylen) < 0)
            rc = SP_ERR_INVALID;
        if (rc < 0)
            break;
        sp_config_domain_issuer *d = &cfg->domain_issuers[cfg->domain_issuer_count];
        d->domain = strdup(pairs.items[i]);
        d->issuer = strdup(eq + 1);
        cfg->domain_issuer_count++;
        if (!d->domain || !d->issuer)
            rc = SP_ERR_NOMEM;
    }
    for (size_t i = 0; i < pairs.count; i++)
        free(pairs.items[i]);
    return rc;
}

static int parse_ocm_require_signatures(sp_config *cfg, const char *v, char *why, size_t whylen)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
        cfg->ocm_require_signatures = 1;
    } else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
        cfg->ocm_require_signatures = 0;
    } else {
        say(why, whylen, "'%s' must be true or false", v);
        return SP_ERR_INVALID;
    }
    return 0;
}

/* JetStream keeps at most 5 replicas of a stream. */
#define SP_NATS_REPLICAS_MAX 5

static int parse_nats_replicas(sp_config *cfg, const char *v, char *why, size_t whylen)
{
    if (v[0] < '1' || v[0] > '0' + SP_NATS_REPLICAS_MAX || v[1] != '\0') {
        say(why, whylen, "'%s' must be 1 to %d", v, SP_NATS_REPLICAS_MAX);
        return SP_ERR_INVALID;
    }
    cfg->nats_replicas = v[0] - '0';
    return 0;
}

static int parse_log_level(sp_config *cfg, const char *v, char *why, size_t whylen)
{
    if (sp_log_level_parse(v, &cfg->log_level) < 0) {
        say(why, whylen, "'%s' must be debug, info, warn or error", v);
        return SP_ERR_INVALID;
    }
    return 0;
}

/* Order matters only for the fallbacks computed afterwards. */
static const setting settings[] = {
    {"SPACEPORT_HTTP_ADDR", "127.0.0.1:9200", parse_http_addr},
    {"SPACEPORT_PUBLIC_URL", NULL, parse_public_url},
    {"SPACEPORT_DAV_URL", NULL, parse_dav_url},
    {"SPACEPORT_DATA_DIR", "./data", parse_data_dir},
    {"SPACEPORT_DATABASE_URL", NULL, parse_database_url},
    {"SPACEPORT_NATS_URL", NULL, parse_nats_url},
    {"SPACEPORT_NATS_CREDS", NULL, parse_nats_creds},
    {"SPACEPORT_NATS_USER", NULL, parse_nats_user},
    {"SPACEPORT_NATS_PASSWORD", NULL, parse_nats_password},
    {"SPACEPORT_NATS_TLS_CA", NULL, parse_nats_tls_ca},
    {"SPACEPORT_NATS_TLS_CERT", NULL, parse_nats_tls_cert},
    {"SPACEPORT_NATS_TLS_KEY", NULL, parse_nats_tls_key},
    {"SPACEPORT_NATS_REPLICAS", "1", parse_nats_replicas},
    {"SPACEPORT_OIDC_ISSUERS", NULL, parse_issuers},
    {"SPACEPORT_OIDC_AUDIENCE", NULL, parse_audience},
    {"SPACEPORT_OIDC_OPAQUE_ISSUERS", NULL, parse_opaque_issuers},
    {"SPACEPORT_OIDC_EMAIL_VERIFIED_ISSUERS", NULL, parse_email_verified_issuers},
    {"SPACEPORT_USER_CLAIM", "preferred_username", parse_user_claim},
    {"SPACEPORT_ROLES_CLAIM", "roles", parse_roles_claim},
    {"SPACEPORT_GROUPS_CLAIM", "groups", parse_groups_claim},
    {"SPACEPORT_TRUSTED_INSTANCES", NULL, parse_trusted},
    {"SPACEPORT_WEBHOOK_HOSTS", NULL, parse_webhook_hosts},
    {"SPACEPORT_OCM_REQUIRE_SIGNATURES", "false", parse_ocm_require_signatures},
    {"SPACEPORT_OCM_INVITE_TTL", "24h", parse_invite_ttl},
    {"SPACEPORT_EVENTS_RETENTION", "7d", parse_retention},
    {"SPACEPORT_HTTP_TLS_CERT", NULL, parse_http_tls_cert},
    {"SPACEPORT_HTTP_TLS_KEY", NULL, parse_http_tls_key},
    {"SPACEPORT_SSE_KEEPALIVE", "15s", parse_keepalive},
    {"SPACEPORT_SSE_COALESCE", "1s", parse_coalesce},
    {"SPACEPORT_ITEMS_MAX", "100000", parse_items_max},
    {"SPACEPORT_DOMAIN_ISSUERS", NULL, parse_domain_issuers},
    {"SPACEPORT_LOG_LEVEL", "info", parse_log_level},
};
#define SETTING_COUNT (sizeof settings / sizeof settings[0])

/* "SPACEPORT_HTTP_ADDR" -> "http-addr" */
static void flag_name(const char *var, char *out, size_t outlen)
{
    const char *p = var + strlen("SPACEPORT_");
    size_t i = 0;
    for (; *p && i + 1 < outlen; p++, i++)
        out[i] = *p == '_' ? '-' : (char)tolower((unsigned char)*p);
    out[i] = '\0';
}

/* Finds the flag value for var in argv (the last one wins); returns NULL
 * when absent. */
static const char *flag_value(const char *var, int argc, char **argv)
{
    char name[64];
    flag_name(var, name, sizeof name);
    size_t nl = strlen(name);
    const char *found = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, name, nl) != 0)
            continue;
        if (a[2 + nl] == '=')
            found = a + 3 + nl;
        else if (a[2 + nl] == '\0' && i + 1 < argc)
            found = argv[++i];
    }
    return found;
}

/* Returns non-zero when url is one of the trusted issuers, exactly as
 * written there (it is compared with tokens' iss the same way). */
static int issuer_known(const sp_config *cfg, const char *url)
{
    for (size_t j = 0; j < cfg->oidc_issuers.count; j++)
        if (strcmp(url, cfg->oidc_issuers.items[j]) == 0)
            return 1;
    return 0;
}

/* Returns 0 when every item of list (the value of variable var) is a
 * trusted issuer; otherwise SP_ERR_INVALID with err naming the first
 * stranger. */
static int check_issuers_known(const sp_config *cfg, const sp_config_list *list, const char *var,
                               char *err, size_t errlen)
{
    for (size_t i = 0; i < list->count; i++) {
        if (!issuer_known(cfg, list->items[i])) {
            snprintf(err, errlen, "%s: '%s' is not in SPACEPORT_OIDC_ISSUERS", var,
                     list->items[i]);
            return SP_ERR_INVALID;
        }
    }
    return 0;
}

static int check_flags(int argc, char **argv, char *err, size_t errlen)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int known = 0;
        for (size_t s = 0; s < SETTING_COUNT && !known; s++) {
            char name[64];
            flag_name(settings[s].name, name, sizeof name);
            size_t nl = strlen(name);
            if (strncmp(a, "--", 2) == 0 && strncmp(a + 2, name, nl) == 0) {
                if (a[2 + nl] == '=')
                    known = 1;
                else if (a[2 + nl] == '\0' && i + 1 < argc)
                    known = 2;
            }
        }
        if (!known) {
            snprintf(err, errlen, "unknown or incomplete argument '%s' (see --help)", a);
            return SP_ERR_INVALID;
        }
        if (known == 2)
            i++;
    }
    return 0;
}

int sp_config_load(sp_config *cfg, sp_config_getenv env, void *env_ctx, int argc, char **argv,
                   unsigned flags, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    int rc = check_flags(argc, argv, err, errlen);
    if (rc < 0)
        return rc;

    for (size_t i = 0; i < SETTING_COUNT; i++) {
        const setting *s = &settings[i];
        const char *v = flag_value(s->name, argc, argv);
        if (!v)
            v = env(s->name, env_ctx);
        if (v && !*v && s->fallback)
            v = NULL; /* an empty variable means "use the default" */
        if (!v)
            v = s->fallback;
        if (!v)
            continue;
        if (strlen(v) > SP_CONFIG_VALUE_MAX) {
            snprintf(err, errlen, "%s: value longer than %d bytes", s->name, SP_CONFIG_VALUE_MAX);
            rc = SP_ERR_INVALID;
            goto fail;
        }
        char why[512] = "";
        rc = s->parse(cfg, v, why, sizeof why);
        if (rc == SP_ERR_NOMEM) {
            snprintf(err, errlen, "%s: out of memory", s->name);
            goto fail;
        }
        if (rc < 0) {
            snprintf(err, errlen, "%s: %s", s->name, why);
            goto fail;
        }
    }

    if (cfg->oidc_issuers.count == 0 && !(flags & SP_CONFIG_ISSUERS_OPTIONAL)) {
        snprintf(err, errlen, "SPACEPORT_OIDC_ISSUERS: required (comma list of issuer URLs)");
        rc = SP_ERR_INVALID;
        goto fail;
    }
    if (!cfg->nats_user != !cfg->nats_password) {
        snprintf(err, errlen, "%s: SPACEPORT_NATS_USER and SPACEPORT_NATS_PASSWORD go together",
                 cfg->nats_user ? "SPACEPORT_NATS_PASSWORD" : "SPACEPORT_NATS_USER");
        rc = SP_ERR_INVALID;
        goto fail;
    }
    if (cfg->nats_creds && cfg->nats_user) {
        snprintf(err, errlen,
                 "SPACEPORT_NATS_CREDS: use either a credentials file or user and password");
        rc = SP_ERR_INVALID;
        goto fail;
    }
    if (!cfg->nats_tls_cert != !cfg->nats_tls_key) {
        snprintf(err, errlen, "%s: SPACEPORT_NATS_TLS_CERT and SPACEPORT_NATS_TLS_KEY go together",
                 cfg->nats_tls_cert ? "SPACEPORT_NATS_TLS_KEY" : "SPACEPORT_NATS_TLS_CERT");
        rc = SP_ERR_INVALID;
        goto fail;
    }
    if (!cfg->http_tls_cert != !cfg->http_tls_key) {
        snprintf(err, errlen, "%s: SPACEPORT_HTTP_TLS_CERT and SPACEPORT_HTTP_TLS_KEY go together",
                 cfg->http_tls_cert ? "SPACEPORT_HTTP_TLS_KEY" : "SPACEPORT_HTTP_TLS_CERT");
        rc = SP_ERR_INVALID;
        goto fail;
    }
    if (cfg->nats_urls.count == 0 &&
        (cfg->nats_creds || cfg->nats_user || cfg->nats_tls_ca || cfg->nats_tls_cert)) {
        snprintf(err, errlen,
                 "SPACEPORT_NATS_URL: bus credentials and TLS need an external SPACEPORT_NATS_URL");
        rc = SP_ERR_INVALID;
        goto fail;
    }
    if (cfg->nats_urls.count == 0 && cfg->nats_replicas > 1) {
        snprintf(err, errlen, "SPACEPORT_NATS_REPLICAS: the embedded nats-server is one server; "
                              "replicas need an external cluster in SPACEPORT_NATS_URL");
        rc = SP_ERR_INVALID;
        goto fail;
    }
    if ((rc = check_issuers_known(cfg, &cfg->opaque_issuers, "SPACEPORT_OIDC_OPAQUE_ISSUERS",
                                  err, errlen)) < 0 ||
        (rc = check_issuers_known(cfg, &cfg->email_verified_issuers,
                                  "SPACEPORT_OIDC_EMAIL_VERIFIED_ISSUERS", err, errlen)) < 0)
        goto fail;
    for (size_t i = 0; i < cfg->domain_issuer_count; i++) {
        if (!issuer_known(cfg, cfg->domain_issuers[i].issuer)) {
            snprintf(err, errlen, "SPACEPORT_DOMAIN_ISSUERS: '%s' is not in SPACEPORT_OIDC_ISSUERS",
                     cfg->domain_issuers[i].issuer);
            rc = SP_ERR_INVALID;
            goto fail;
        }
    }

    if (!cfg->public_url) {
        char url[300];
        int v6 = strchr(cfg->http_host, ':') != NULL;
        snprintf(url, sizeof url, "%s://%s%s%s:%d", cfg->http_tls_cert ? "https" : "http",
                 v6 ? "[" : "", cfg->http_host, v6 ? "]" : "", cfg->http_port);
        if (dup_into(&cfg->public_url, url) < 0)
            goto nomem;
    }
    if (!cfg->dav_url && dup_into(&cfg->dav_url, cfg->public_url) < 0)
        goto nomem;
    return 0;

nomem:
    snprintf(err, errlen, "out of memory");
    rc = SP_ERR_NOMEM;
fail:
    sp_config_free(cfg);
    return rc;
}

static void free_list(sp_config_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i]);
    l->count = 0;
}

void sp_config_free(sp_config *cfg)
{
    free(cfg->http_host);
    free(cfg->public_url);
    free(cfg->dav_url);
    free(cfg->data_dir);
    free_list(&cfg->nats_urls);
    free(cfg->nats_creds);
    free(cfg->nats_user);
    free(cfg->nats_password);
    free(cfg->database_url);
    free(cfg->nats_tls_ca);
    free(cfg->nats_tls_cert);
    free(cfg->nats_tls_key);
    free_list(&cfg->oidc_issuers);
    free_list(&cfg->opaque_issuers);
    free_list(&cfg->email_verified_issuers);
    free(cfg->oidc_audience);
    free(cfg->user_claim);
    free(cfg->roles_claim);
    free(cfg->groups_claim);
    free_list(&cfg->trusted_instances);
    free_list(&cfg->webhook_hosts);
    free(cfg->http_tls_cert);
    free(cfg->http_tls_key);
    for (size_t i = 0; i < cfg->domain_issuer_count; i++) {
        free(cfg->domain_issuers[i].domain);
        free(cfg->domain_issuers[i].issuer);
    }
    memset(cfg, 0, sizeof *cfg);
}

int sp_config_is_loopback_host(const char *host)
{
    return sp_url_host_is_loopback(host);
}
