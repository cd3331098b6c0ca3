/*
 * test_config.c - unit tests of src/config: sp_config_load with a fake
 * environment (a table instead of getenv) and flags.
 *
 * The core is one table of cases: a few variables, whether loading must
 * succeed, and either the resulting field (rendered as text by field_text)
 * or a part of the one-line error, which must start with the variable's
 * name. Every case runs twice: once from the environment, once with the
 * same values given as --flags, which must behave identically.
 *
 * Variables that name files use placeholders: @FILE@ and @FILE2@ are
 * readable temporary files, @MISSING@ a path that does not exist.
 */
#include "config.h"
#include "util/err.h"
#include "util/url.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Every SPACEPORT_* variable of the contract (docs: API.md). */
static const char *const contract_vars[] = {
    "SPACEPORT_HTTP_ADDR",         "SPACEPORT_PUBLIC_URL",       "SPACEPORT_DAV_URL",
    "SPACEPORT_DATA_DIR",          "SPACEPORT_NATS_URL",         "SPACEPORT_NATS_CREDS",
    "SPACEPORT_NATS_USER",         "SPACEPORT_NATS_PASSWORD",    "SPACEPORT_NATS_TLS_CA",
    "SPACEPORT_NATS_TLS_CERT",     "SPACEPORT_NATS_TLS_KEY",     "SPACEPORT_NATS_REPLICAS",
    "SPACEPORT_OIDC_ISSUERS",
    "SPACEPORT_OIDC_AUDIENCE",     "SPACEPORT_USER_CLAIM",       "SPACEPORT_ROLES_CLAIM",
    "SPACEPORT_TRUSTED_INSTANCES", "SPACEPORT_EVENTS_RETENTION", "SPACEPORT_HTTP_TLS_CERT",
    "SPACEPORT_HTTP_TLS_KEY",      "SPACEPORT_SSE_KEEPALIVE",    "SPACEPORT_SSE_COALESCE",
    "SPACEPORT_DOMAIN_ISSUERS",    "SPACEPORT_LOG_LEVEL",
    "SPACEPORT_OIDC_OPAQUE_ISSUERS", "SPACEPORT_OIDC_EMAIL_VERIFIED_ISSUERS",
    "SPACEPORT_ITEMS_MAX",            "SPACEPORT_GROUPS_CLAIM",
    "SPACEPORT_WEBHOOK_HOSTS",     "SPACEPORT_OCM_REQUIRE_SIGNATURES",
    "SPACEPORT_OCM_INVITE_TTL",
};

#define ISSUER "https://idp.example.com"

/* ---- temporary files -------------------------------------------------- */

static char tmp_dir[64];
static char file_a[128], file_b[128], file_missing[128];

static void make_file(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs("-----BEGIN TEST-----\n", f);
    fclose(f);
}

static void files_create(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/sp-test-config-XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        exit(2);
    }
    snprintf(file_a, sizeof file_a, "%s/a.pem", tmp_dir);
    snprintf(file_b, sizeof file_b, "%s/b.pem", tmp_dir);
    snprintf(file_missing, sizeof file_missing, "%s/missing.pem", tmp_dir);
    make_file(file_a);
    make_file(file_b);
}

static void files_remove(void)
{
    unlink(file_a);
    unlink(file_b);
    rmdir(tmp_dir);
}

/* Replaces a whole-value placeholder by its path. */
static const char *subst(const char *v)
{
    if (!v)
        return NULL;
    if (strcmp(v, "@FILE@") == 0)
        return file_a;
    if (strcmp(v, "@FILE2@") == 0)
        return file_b;
    if (strcmp(v, "@MISSING@") == 0)
        return file_missing;
    return v;
}

/* ---- fake environment ------------------------------------------------- */

#define ENV_MAX 32

typedef struct fake_env {
    const char *names[ENV_MAX];
    const char *values[ENV_MAX];
    size_t count;
    /* Every name asked for, to check that each variable is read. */
    const char *asked[64];
    size_t asked_count;
} fake_env;

static void env_set(fake_env *e, const char *name, const char *value)
{
    for (size_t i = 0; i < e->count; i++) {
        if (strcmp(e->names[i], name) == 0) {
            e->values[i] = subst(value);
            return;
        }
    }
    ck_assert_uint_lt(e->count, ENV_MAX);
    e->names[e->count] = name;
    e->values[e->count] = subst(value);
    e->count++;
}

static const char *fake_getenv(const char *name, void *ctx)
{
    fake_env *e = ctx;
    if (e->asked_count < COUNT(e->asked))
        e->asked[e->asked_count++] = name;
    for (size_t i = 0; i < e->count; i++) {
        if (strcmp(e->names[i], name) == 0)
            return e->values[i];
    }
    return NULL;
}

/* An environment with one trusted issuer, the minimum for a valid config. */
static void env_base(fake_env *e)
{
    memset(e, 0, sizeof *e);
    env_set(e, "SPACEPORT_OIDC_ISSUERS", ISSUER);
}

static int load(sp_config *cfg, fake_env *e, int argc, char **argv, unsigned flags, char *err,
                size_t errlen)
{
    err[0] = '\0';
    return sp_config_load(cfg, fake_getenv, e, argc, argv, flags, err, errlen);
}

/* A config left empty after a failure: no strings, no list entries. */
static void assert_empty(const sp_config *c)
{
    ck_assert_ptr_null(c->http_host);
    ck_assert_ptr_null(c->public_url);
    ck_assert_ptr_null(c->dav_url);
    ck_assert_ptr_null(c->data_dir);
    ck_assert_ptr_null(c->user_claim);
    ck_assert_ptr_null(c->roles_claim);
    ck_assert_ptr_null(c->nats_user);
    ck_assert_uint_eq(c->oidc_issuers.count, 0);
    ck_assert_uint_eq(c->nats_urls.count, 0);
    ck_assert_uint_eq(c->trusted_instances.count, 0);
    ck_assert_uint_eq(c->domain_issuer_count, 0);
}

/* ---- rendering a field as text ---------------------------------------- */

static void list_text(const sp_config_list *l, char *out, size_t n)
{
    out[0] = '\0';
    for (size_t i = 0; i < l->count; i++) {
        if (i)
            strncat(out, ",", n - strlen(out) - 1);
        strncat(out, l->items[i], n - strlen(out) - 1);
    }
}

static const char *str_or_null(const char *s)
{
    return s ? s : "(null)";
}

/* The field that var sets, as text: "host port" for the listen address,
 * milliseconds for durations, comma-joined lists, "domain=issuer" pairs. */
static void field_text(const sp_config *c, const char *var, char *out, size_t n)
{
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    const char *v = var + strlen("SPACEPORT_");
    out[0] = '\0';
    if (strcmp(v, "HTTP_ADDR") == 0)
        snprintf(out, n, "%s %d", str_or_null(c->http_host), c->http_port);
    else if (strcmp(v, "PUBLIC_URL") == 0)
        snprintf(out, n, "%s", str_or_null(c->public_url));
    else if (strcmp(v, "DAV_URL") == 0)
        snprintf(out, n, "%s", str_or_null(c->dav_url));
    else if (strcmp(v, "DATA_DIR") == 0)
        snprintf(out, n, "%s", str_or_null(c->data_dir));
    else if (strcmp(v, "DATABASE_URL") == 0)
        snprintf(out, n, "%s", str_or_null(c->database_url));
    else if (strcmp(v, "NATS_URL") == 0)
        list_text(&c->nats_urls, out, n);
    else if (strcmp(v, "NATS_CREDS") == 0)
        snprintf(out, n, "%s", str_or_null(c->nats_creds));
    else if (strcmp(v, "NATS_USER") == 0)
        snprintf(out, n, "%s", str_or_null(c->nats_user));
    else if (strcmp(v, "NATS_PASSWORD") == 0)
        snprintf(out, n, "%s", str_or_null(c->nats_password));
    else if (strcmp(v, "NATS_TLS_CA") == 0)
        snprintf(out, n, "%s", str_or_null(c->nats_tls_ca));
    else if (strcmp(v, "NATS_TLS_CERT") == 0)
        snprintf(out, n, "%s", str_or_null(c->nats_tls_cert));
    else if (strcmp(v, "NATS_TLS_KEY") == 0)
        snprintf(out, n, "%s", str_or_null(c->nats_tls_key));
    else if (strcmp(v, "NATS_REPLICAS") == 0)
        snprintf(out, n, "%d", c->nats_replicas);
    else if (strcmp(v, "OIDC_ISSUERS") == 0)
        list_text(&c->oidc_issuers, out, n);
    else if (strcmp(v, "OIDC_OPAQUE_ISSUERS") == 0)
        list_text(&c->opaque_issuers, out, n);
    else if (strcmp(v, "OIDC_EMAIL_VERIFIED_ISSUERS") == 0)
        list_text(&c->email_verified_issuers, out, n);
    else if (strcmp(v, "OIDC_AUDIENCE") == 0)
        snprintf(out, n, "%s", str_or_null(c->oidc_audience));
    else if (strcmp(v, "USER_CLAIM") == 0)
        snprintf(out, n, "%s", str_or_null(c->user_claim));
    else if (strcmp(v, "ROLES_CLAIM") == 0)
        snprintf(out, n, "%s", str_or_null(c->roles_claim));
    else if (strcmp(v, "GROUPS_CLAIM") == 0)
        snprintf(out, n, "%s", str_or_null(c->groups_claim));
    else if (strcmp(v, "TRUSTED_INSTANCES") == 0)
        list_text(&c->trusted_instances, out, n);
    else if (strcmp(v, "WEBHOOK_HOSTS") == 0)
        list_text(&c->webhook_hosts, out, n);
    else if (strcmp(v, "EVENTS_RETENTION") == 0)
        snprintf(out, n, "%lld", (long long)c->events_retention_ms);
    else if (strcmp(v, "HTTP_TLS_CERT") == 0)
        snprintf(out, n, "%s", str_or_null(c->http_tls_cert));
    else if (strcmp(v, "HTTP_TLS_KEY") == 0)
        snprintf(out, n, "%s", str_or_null(c->http_tls_key));
    else if (strcmp(v, "SSE_KEEPALIVE") == 0)
        snprintf(out, n, "%lld", (long long)c->sse_keepalive_ms);
    else if (strcmp(v, "SSE_COALESCE") == 0)
        snprintf(out, n, "%lld", (long long)c->sse_coalesce_ms);
    else if (strcmp(v, "ITEMS_MAX") == 0)
        snprintf(out, n, "%lld", (long long)c->items_max);
    else if (strcmp(v, "OCM_INVITE_TTL") == 0)
        snprintf(out, n, "%lld", (long long)c->ocm_invite_ttl_ms);
    else if (strcmp(v, "OCM_REQUIRE_SIGNATURES") == 0)
        snprintf(out, n, "%d", c->ocm_require_signatures);
    else if (strcmp(v, "DOMAIN_ISSUERS") == 0) {
        for (size_t i = 0; i < c->domain_issuer_count; i++) {
            size_t len = strlen(out);
            snprintf(out + len, n - len, "%s%s=%s", i ? "," : "", c->domain_issuers[i].domain,
                     c->domain_issuers[i].issuer);
        }
    } else if (strcmp(v, "LOG_LEVEL") == 0)
        snprintf(out, n, "%s", (unsigned)c->log_level < 4 ? levels[c->log_level] : "?");
    else
        ck_abort_msg("field_text: unknown variable %s", var);
}

/* ---- the table -------------------------------------------------------- */

typedef struct cfg_case {
    const char *vars[5][2]; /* name (without SPACEPORT_), value */
    int ok;
    /* ok: the text of the first variable's field (NULL: not checked).
     * failure: a part of the error line. */
    const char *want;
    /* failure: the variable the error line must start with (NULL: the
     * first variable of the case). */
    const char *err_var;
} cfg_case;

#define V1(a, b)                                                                                   \
    {                                                                                              \
        {                                                                                          \
            a, b                                                                                   \
        }                                                                                          \
    }
#define V2(a, b, c, d)                                                                             \
    {                                                                                              \
        {a, b},                                                                                    \
        {                                                                                          \
            c, d                                                                                   \
        }                                                                                          \
    }
#define V3(a, b, c, d, e, f)                                                                       \
    {                                                                                              \
        {a, b}, {c, d},                                                                            \
        {                                                                                          \
            e, f                                                                                   \
        }                                                                                          \
    }

static const cfg_case cases[] = {
    /* HTTP_ADDR */
    {V1("HTTP_ADDR", "127.0.0.1:9300"), 1, "127.0.0.1 9300", NULL},
    {V1("HTTP_ADDR", "0.0.0.0:80"), 1, "0.0.0.0 80", NULL},
    {V1("HTTP_ADDR", "localhost:1"), 1, "localhost 1", NULL},
    {V1("HTTP_ADDR", "127.0.0.1:65535"), 1, "127.0.0.1 65535", NULL},
    {V1("HTTP_ADDR", "[::1]:9200"), 1, "::1 9200", NULL},
    {V1("HTTP_ADDR", "[::]:8080"), 1, ":: 8080", NULL},
    {V1("HTTP_ADDR", "[2001:db8::7]:443"), 1, "2001:db8::7 443", NULL},
    {V1("HTTP_ADDR", ""), 1, "127.0.0.1 9200", NULL}, /* empty: the default */
    {V1("HTTP_ADDR", "127.0.0.1"), 0, "host:port", NULL},
    {V1("HTTP_ADDR", ":9200"), 0, "host:port", NULL},
    {V1("HTTP_ADDR", "9200"), 0, "host:port", NULL},
    {V1("HTTP_ADDR", "127.0.0.1:"), 0, "1-65535", NULL},
    {V1("HTTP_ADDR", "127.0.0.1:0"), 0, "1-65535", NULL},
    {V1("HTTP_ADDR", "127.0.0.1:65536"), 0, "1-65535", NULL},
    {V1("HTTP_ADDR", "127.0.0.1:-1"), 0, "1-65535", NULL},
    {V1("HTTP_ADDR", "127.0.0.1:http"), 0, "1-65535", NULL},
    {V1("HTTP_ADDR", "127.0.0.1:80x"), 0, "1-65535", NULL},
    {V1("HTTP_ADDR", "127.0.0.1:99999999999999999999999"), 0, "1-65535", NULL},
    {V1("HTTP_ADDR", "[::1]"), 0, "[ipv6]:port", NULL},
    {V1("HTTP_ADDR", "[]:80"), 0, "[ipv6]:port", NULL},
    {V1("HTTP_ADDR", "[::1:80"), 0, "[ipv6]:port", NULL},
    {V1("HTTP_ADDR", "[::1]x:80"), 0, "[ipv6]:port", NULL},

    /* PUBLIC_URL: http or https, trailing slashes stripped, no query */
    {V1("PUBLIC_URL", "https://spaceport.example.com"), 1, "https://spaceport.example.com", NULL},
    {V1("PUBLIC_URL", "https://spaceport.example.com/"), 1, "https://spaceport.example.com", NULL},
    {V1("PUBLIC_URL", "https://h.example/base//"), 1, "https://h.example/base", NULL},
    {V1("PUBLIC_URL", "http://10.0.0.5:8080/"), 1, "http://10.0.0.5:8080", NULL},
    {V1("PUBLIC_URL", "nats://h.example"), 0, "http or https", NULL},
    {V1("PUBLIC_URL", "https://h.example/?x=1"), 0, "query", NULL},
    {V1("PUBLIC_URL", "https://u@h.example"), 0, "user-info", NULL},
    {V1("PUBLIC_URL", "https://h.example/#top"), 0, "fragment", NULL},
    {V1("PUBLIC_URL", "h.example"), 0, "absolute", NULL},
    {V1("PUBLIC_URL", "https://"), 0, "empty host", NULL},

    /* DAV_URL */
    {V1("DAV_URL", "https://dav.example.com/"), 1, "https://dav.example.com", NULL},
    {V1("DAV_URL", "http://localhost:9980/remote.php"), 1, "http://localhost:9980/remote.php",
     NULL},
    {V1("DAV_URL", "ftp://dav.example.com"), 0, "http or https", NULL},
    {V1("DAV_URL", "https://dav.example.com?q"), 0, "query", NULL},

    /* DATA_DIR */
    {V1("DATA_DIR", "/var/lib/spaceport"), 1, "/var/lib/spaceport", NULL},
    {V1("DATA_DIR", ""), 1, "./data", NULL},

    /* NATS_URL: comma list of nats:// URLs */
    {V1("NATS_URL", "nats://127.0.0.1:4222"), 1, "nats://127.0.0.1:4222", NULL},
    {V1("NATS_URL", "nats://a.example:4222, nats://b.example"), 1,
     "nats://a.example:4222,nats://b.example", NULL},
    {V1("NATS_URL", ""), 1, "", NULL}, /* no default: the embedded server */
    {V1("NATS_URL", "tls://a.example"), 0, "nats://", NULL},
    {V1("NATS_URL", "http://a.example"), 0, "nats://", NULL},
    {V1("NATS_URL", "nats://a.example,,nats://b.example"), 0, "empty entry", NULL},
    {V1("NATS_URL", "nats://a.example,"), 0, "empty entry", NULL},
    {V1("NATS_URL", ",nats://a.example"), 0, "empty entry", NULL},
    {V1("NATS_URL", "nats://a.example, ,nats://b.example"), 0, "empty entry", NULL},
    {V1("NATS_URL", " , "), 0, "empty entry", NULL},
    {V1("NATS_URL", "nats://u:p@a.example"), 0, "user-info", NULL},
    {V1("NATS_URL", "nats://a.example:0"), 0, "port", NULL},

    /* NATS credentials and TLS: files, pairs, and only with NATS_URL */
    {V2("NATS_CREDS", "@FILE@", "NATS_URL", "nats://a.example"), 1, "@FILE@", NULL},
    {V2("NATS_CREDS", "@MISSING@", "NATS_URL", "nats://a.example"), 0, "cannot read file", NULL},
    {V1("NATS_CREDS", "@FILE@"), 0, "external SPACEPORT_NATS_URL", "SPACEPORT_NATS_URL"},
    {V3("NATS_USER", "svc", "NATS_PASSWORD", "s3cret", "NATS_URL", "nats://a.example"), 1, "svc",
     NULL},
    {V2("NATS_USER", "svc", "NATS_URL", "nats://a.example"), 0, "go together",
     "SPACEPORT_NATS_PASSWORD"},
    {V2("NATS_PASSWORD", "s3cret", "NATS_URL", "nats://a.example"), 0, "go together",
     "SPACEPORT_NATS_USER"},
    {V1("NATS_USER", "svc"), 0, "go together", "SPACEPORT_NATS_PASSWORD"},
    {V2("NATS_USER", "svc", "NATS_PASSWORD", "s3cret"), 0, "external SPACEPORT_NATS_URL",
     "SPACEPORT_NATS_URL"},
    {V2("NATS_USER", "", "NATS_URL", "nats://a.example"), 0, "must not be empty", NULL},
    {V3("NATS_PASSWORD", "", "NATS_USER", "svc", "NATS_URL", "nats://a.example"), 0,
     "must not be empty", NULL},
    {{{"NATS_CREDS", "@FILE@"},
      {"NATS_USER", "svc"},
      {"NATS_PASSWORD", "s3cret"},
      {"NATS_URL", "nats://a.example"}},
     0,
     "either",
     NULL},
    {V2("NATS_TLS_CA", "@FILE@", "NATS_URL", "nats://a.example"), 1, "@FILE@", NULL},
    {V1("NATS_TLS_CA", "@FILE@"), 0, "external SPACEPORT_NATS_URL", "SPACEPORT_NATS_URL"},
    {V2("NATS_TLS_CA", "@MISSING@", "NATS_URL", "nats://a.example"), 0, "cannot read file", NULL},
    {V3("NATS_TLS_CERT", "@FILE@", "NATS_TLS_KEY", "@FILE2@", "NATS_URL", "nats://a.example"), 1,
     "@FILE@", NULL},
    {V2("NATS_TLS_CERT", "@FILE@", "NATS_URL", "nats://a.example"), 0, "go together",
     "SPACEPORT_NATS_TLS_KEY"},
    {V2("NATS_TLS_KEY", "@FILE@", "NATS_URL", "nats://a.example"), 0, "go together",
     "SPACEPORT_NATS_TLS_CERT"},
    {V1("NATS_TLS_KEY", "@FILE@"), 0, "go together", "SPACEPORT_NATS_TLS_CERT"},
    {V3("NATS_TLS_CERT", "@FILE@", "NATS_TLS_KEY", "@FILE2@", "NATS_URL", ""), 0,
     "external SPACEPORT_NATS_URL", "SPACEPORT_NATS_URL"},
    {V3("NATS_TLS_CERT", "@MISSING@", "NATS_TLS_KEY", "@FILE2@", "NATS_URL", "nats://a.example"), 0,
     "cannot read file", NULL},
    {V3("NATS_TLS_KEY", "@MISSING@", "NATS_TLS_CERT", "@FILE@", "NATS_URL", "nats://a.example"), 0,
     "cannot read file", NULL},

    /* OIDC_ISSUERS: kept exactly as written (compared with iss) */
    {V1("OIDC_ISSUERS", "https://idp.example.com"), 1, "https://idp.example.com", NULL},
    {V1("OIDC_ISSUERS", "https://idp.example.com/"), 1, "https://idp.example.com/", NULL},
    {V1("OIDC_ISSUERS", "https://a.example/realms/x/ , https://b.example"), 1,
     "https://a.example/realms/x/,https://b.example", NULL},
    {V1("OIDC_ISSUERS", "http://localhost:8080/realms/x"), 1, "http://localhost:8080/realms/x",
     NULL},
    {V1("OIDC_ISSUERS", "http://127.0.0.1:9000/"), 1, "http://127.0.0.1:9000/", NULL},
    {V1("OIDC_ISSUERS", "http://[::1]:9000"), 1, "http://[::1]:9000", NULL},
    {V1("OIDC_ISSUERS", "http://idp.example.com"), 0, "https", NULL},
    {V1("OIDC_ISSUERS", "http://10.0.0.1"), 0, "https", NULL},
    {V1("OIDC_ISSUERS", "http://localhost.example.com"), 0, "https", NULL},
    {V1("OIDC_ISSUERS", "https://ok.example,http://bad.example"), 0, "http://bad.example", NULL},
    {V1("OIDC_ISSUERS", "ftp://idp.example.com"), 0, "http or https", NULL},
    {V1("OIDC_ISSUERS", "https://idp.example.com?realm=x"), 0, "query", NULL},
    {V1("OIDC_ISSUERS", "idp.example.com"), 0, "absolute", NULL},
    {V1("OIDC_ISSUERS", ""), 0, "at least one", NULL},
    {V1("OIDC_ISSUERS", "https://a.example,,https://b.example"), 0, "empty entry", NULL},
    {V1("OIDC_ISSUERS", "https://a.example,"), 0, "empty entry", NULL},

    /* OIDC_AUDIENCE */
    {V1("OIDC_AUDIENCE", "spaceport"), 1, "spaceport", NULL},
    {V1("OIDC_AUDIENCE", ""), 0, "must not be empty", NULL},

    /* USER_CLAIM, ROLES_CLAIM: plain claim names */
    {V1("USER_CLAIM", "email"), 1, "email", NULL},
    {V1("USER_CLAIM", "sub"), 1, "sub", NULL},
    {V1("USER_CLAIM", ""), 1, "preferred_username", NULL},
    {V1("USER_CLAIM", "a.b"), 0, "plain claim name", NULL},
    {V1("USER_CLAIM", "a b"), 0, "plain claim name", NULL},
    {V1("USER_CLAIM", "caf\xc3\xa9"), 0, "plain claim name", NULL},
    {V1("ROLES_CLAIM", "groups"), 1, "groups", NULL},
    {V1("ROLES_CLAIM", ""), 1, "roles", NULL},
    {V1("ROLES_CLAIM", "realm_access.roles"), 0, "plain claim name", NULL},
    {V1("ROLES_CLAIM", "ro\tles"), 0, "plain claim name", NULL},
    /* GROUPS_CLAIM: a plain claim name too */
    {V1("GROUPS_CLAIM", "memberOf"), 1, "memberOf", NULL},
    {V1("GROUPS_CLAIM", ""), 1, "groups", NULL},
    {V1("GROUPS_CLAIM", "a.groups"), 0, "plain claim name", NULL},

    /* WEBHOOK_HOSTS: host or host:port entries, nothing more */
    {V1("WEBHOOK_HOSTS", "hooks.example, 127.0.0.1:8080,[::1]:9"), 1,
     "hooks.example,127.0.0.1:8080,[::1]:9", NULL},
    {V1("WEBHOOK_HOSTS", "https://hooks.example"), 0, "host or host:port", NULL},
    {V1("WEBHOOK_HOSTS", "hooks.example/in"), 0, "host or host:port", NULL},
    {V1("WEBHOOK_HOSTS", "u@hooks.example"), 0, "host or host:port", NULL},
    {V1("WEBHOOK_HOSTS", "hooks.example:0"), 0, "host or host:port", NULL},
    {V1("WEBHOOK_HOSTS", "a.example,,b.example"), 0, "empty entry", NULL},
    /* TRUSTED_INSTANCES: https (or loopback), trailing slashes stripped */
    {V1("TRUSTED_INSTANCES", "https://paris.example/"), 1, "https://paris.example", NULL},
    {V1("TRUSTED_INSTANCES", "https://a.example//, https://b.example/x/"), 1,
     "https://a.example,https://b.example/x", NULL},
    {V1("TRUSTED_INSTANCES", "http://localhost:9201/"), 1, "http://localhost:9201", NULL},
    {V1("TRUSTED_INSTANCES", "http://paris.example"), 0, "https", NULL},
    {V1("TRUSTED_INSTANCES", "https://a.example,,https://b.example"), 0, "empty entry", NULL},
    {V1("TRUSTED_INSTANCES", "https://a.example?x=1"), 0, "query", NULL},
    {V1("TRUSTED_INSTANCES", "https://a@b.example"), 0, "user-info", NULL},

    /* EVENTS_RETENTION: 1 min .. 10 years */
    {V1("EVENTS_RETENTION", ""), 1, "604800000", NULL},
    {V1("EVENTS_RETENTION", "1m"), 1, "60000", NULL},
    {V1("EVENTS_RETENTION", "60s"), 1, "60000", NULL},
    {V1("EVENTS_RETENTION", "30d"), 1, "2592000000", NULL},
    {V1("EVENTS_RETENTION", "3650d"), 1, "315360000000", NULL},
    {V1("EVENTS_RETENTION", "59s"), 0, "between", NULL},
    {V1("EVENTS_RETENTION", "0s"), 0, "between", NULL},
    {V1("EVENTS_RETENTION", "3651d"), 0, "not a duration", NULL},
    {V1("EVENTS_RETENTION", "7"), 0, "not a duration", NULL},
    {V1("EVENTS_RETENTION", "-1d"), 0, "not a duration", NULL},
    {V1("EVENTS_RETENTION", "1w"), 0, "not a duration", NULL},

    /* HTTP_TLS_CERT, HTTP_TLS_KEY: readable files, together */
    {V2("HTTP_TLS_CERT", "@FILE@", "HTTP_TLS_KEY", "@FILE2@"), 1, "@FILE@", NULL},
    {V2("HTTP_TLS_KEY", "@FILE2@", "HTTP_TLS_CERT", "@FILE@"), 1, "@FILE2@", NULL},
    {V1("HTTP_TLS_CERT", "@FILE@"), 0, "go together", "SPACEPORT_HTTP_TLS_KEY"},
    {V1("HTTP_TLS_KEY", "@FILE@"), 0, "go together", "SPACEPORT_HTTP_TLS_CERT"},
    {V2("HTTP_TLS_CERT", "@MISSING@", "HTTP_TLS_KEY", "@FILE2@"), 0, "cannot read file", NULL},
    {V2("HTTP_TLS_KEY", "@MISSING@", "HTTP_TLS_CERT", "@FILE@"), 0, "cannot read file", NULL},
    {V1("HTTP_TLS_CERT", ""), 0, "cannot read file", NULL},

    /* SSE_KEEPALIVE: 1 s .. 5 min */
    {V1("SSE_KEEPALIVE", ""), 1, "15000", NULL},
    {V1("SSE_KEEPALIVE", "1s"), 1, "1000", NULL},
    {V1("SSE_KEEPALIVE", "1000ms"), 1, "1000", NULL},
    {V1("SSE_KEEPALIVE", "5m"), 1, "300000", NULL},
    {V1("SSE_KEEPALIVE", "999ms"), 0, "between", NULL},
    {V1("SSE_KEEPALIVE", "0s"), 0, "between", NULL},
    {V1("SSE_KEEPALIVE", "301s"), 0, "between", NULL},
    {V1("SSE_KEEPALIVE", "15"), 0, "not a duration", NULL},
    {V1("SSE_KEEPALIVE", "1.5s"), 0, "not a duration", NULL},

    /* DATABASE_URL: a postgres:// or postgresql:// URL, not libpq's
     * key=value form (README: Several replicas) */
    {V1("DATABASE_URL", "postgres://sp:pw@db.example:5432/spaceport"), 1,
     "postgres://sp:pw@db.example:5432/spaceport", NULL},
    {V1("DATABASE_URL", "postgresql://db.example/spaceport"), 1,
     "postgresql://db.example/spaceport", NULL},
    {V1("DATABASE_URL", "host=db.example dbname=spaceport"), 0, "must be a postgres://", NULL},
    {V1("DATABASE_URL", "/var/lib/spaceport/spaceport.db"), 0, "must be a postgres://", NULL},
    /* NATS_REPLICAS: 1 .. 5, more than one only with an external cluster */
    {V1("NATS_REPLICAS", ""), 1, "1", NULL},
    {V2("NATS_REPLICAS", "3", "NATS_URL", "nats://a.example,nats://b.example"), 1, "3", NULL},
    {V2("NATS_REPLICAS", "5", "NATS_URL", "nats://a.example"), 1, "5", NULL},
    {V1("NATS_REPLICAS", "3"), 0, "embedded nats-server is one server", NULL},
    {V1("NATS_REPLICAS", "0"), 0, "must be 1 to 5", NULL},
    {V1("NATS_REPLICAS", "6"), 0, "must be 1 to 5", NULL},
    {V1("NATS_REPLICAS", "three"), 0, "must be 1 to 5", NULL},
    {V1("NATS_REPLICAS", "33"), 0, "must be 1 to 5", NULL},

    /* ITEMS_MAX: 0 .. 10 million items, digits only */
    {V1("ITEMS_MAX", ""), 1, "100000", NULL},
    {V1("ITEMS_MAX", "0"), 1, "0", NULL},
    {V1("ITEMS_MAX", "10000000"), 1, "10000000", NULL},
    {V1("ITEMS_MAX", "10000001"), 0, "from 0 to 10000000", NULL},
    {V1("ITEMS_MAX", "-1"), 0, "from 0 to 10000000", NULL},
    {V1("ITEMS_MAX", "1e5"), 0, "from 0 to 10000000", NULL},
    {V1("ITEMS_MAX", "99999999999999999999"), 0, "from 0 to 10000000", NULL},
    /* OCM_REQUIRE_SIGNATURES: a boolean, off by default; anything else
     * stops start-up rather than leaving signatures silently optional */
    {V1("OCM_REQUIRE_SIGNATURES", ""), 1, "0", NULL},
    {V1("OCM_REQUIRE_SIGNATURES", "true"), 1, "1", NULL},
    {V1("OCM_REQUIRE_SIGNATURES", "1"), 1, "1", NULL},
    {V1("OCM_REQUIRE_SIGNATURES", "false"), 1, "0", NULL},
    {V1("OCM_REQUIRE_SIGNATURES", "yes please"), 0, "must be true or false", NULL},

    /* OCM_INVITE_TTL: 1 min .. 366 days, a day by default as Reva's */
    {V1("OCM_INVITE_TTL", ""), 1, "86400000", NULL},
    {V1("OCM_INVITE_TTL", "7d"), 1, "604800000", NULL},
    {V1("OCM_INVITE_TTL", "30s"), 0, "must be between", NULL},
    {V1("OCM_INVITE_TTL", "400d"), 0, "must be between", NULL},
    {V1("OCM_INVITE_TTL", "soon"), 0, "is not a duration", NULL},

    /* SSE_COALESCE: 0 .. 1 min */
    {V1("SSE_COALESCE", ""), 1, "1000", NULL},
    {V1("SSE_COALESCE", "0s"), 1, "0", NULL},
    {V1("SSE_COALESCE", "250ms"), 1, "250", NULL},
    {V1("SSE_COALESCE", "60s"), 1, "60000", NULL},
    {V1("SSE_COALESCE", "61s"), 0, "between", NULL},
    {V1("SSE_COALESCE", "1h"), 0, "between", NULL},
    {V1("SSE_COALESCE", "abc"), 0, "not a duration", NULL},

    /* DOMAIN_ISSUERS: domain=issuer pairs whose issuer is trusted */
    {V1("DOMAIN_ISSUERS", "paris.test=" ISSUER), 1, "paris.test=" ISSUER, NULL},
    {V1("DOMAIN_ISSUERS", "Paris.TEST=" ISSUER), 1, "paris.test=" ISSUER, NULL},
    {V1("DOMAIN_ISSUERS", "a.test=" ISSUER ", b-c.test=" ISSUER), 1,
     "a.test=" ISSUER ",b-c.test=" ISSUER, NULL},
    {V2("DOMAIN_ISSUERS", "a.test=http://localhost:8080", "OIDC_ISSUERS",
        ISSUER ",http://localhost:8080"),
     1, "a.test=http://localhost:8080", NULL},
    {V1("DOMAIN_ISSUERS", "paris.test=https://other.example.com"), 0,
     "not in SPACEPORT_OIDC_ISSUERS", NULL},
    {V1("DOMAIN_ISSUERS", "paris.test=" ISSUER "/"), 0, "not in SPACEPORT_OIDC_ISSUERS", NULL},
    {V1("DOMAIN_ISSUERS", "paris.test"), 0, "domain=issuer", NULL},
    {V1("DOMAIN_ISSUERS", "=" ISSUER), 0, "domain=issuer", NULL},
    {V1("DOMAIN_ISSUERS", "paris.test="), 0, "domain=issuer", NULL},
    {V1("DOMAIN_ISSUERS", "pa ris.test=" ISSUER), 0, "not a domain name", NULL},
    {V1("DOMAIN_ISSUERS", "paris_test=" ISSUER), 0, "not a domain name", NULL},
    {V1("DOMAIN_ISSUERS", "paris.test=http://idp.example.com"), 0, "https", NULL},
    {V1("DOMAIN_ISSUERS", "a.test=" ISSUER ",,b.test=" ISSUER), 0, "empty entry", NULL},
    {V1("DOMAIN_ISSUERS", "a.test=" ISSUER ","), 0, "empty entry", NULL},

    /* OIDC_OPAQUE_ISSUERS, OIDC_EMAIL_VERIFIED_ISSUERS: trusted issuers,
     * exactly as listed in OIDC_ISSUERS (a stranger would be trusted with
     * tokens or addresses no one vouched for), or "none" */
    {V1("OIDC_OPAQUE_ISSUERS", ISSUER), 1, ISSUER, NULL},
    {V1("OIDC_OPAQUE_ISSUERS", "none"), 1, "", NULL},
    {V1("OIDC_OPAQUE_ISSUERS", "https://other.example.com"), 0, "not in SPACEPORT_OIDC_ISSUERS",
     NULL},
    {V1("OIDC_OPAQUE_ISSUERS", ISSUER "/"), 0, "not in SPACEPORT_OIDC_ISSUERS", NULL},
    {V1("OIDC_EMAIL_VERIFIED_ISSUERS", ISSUER), 1, ISSUER, NULL},
    {V1("OIDC_EMAIL_VERIFIED_ISSUERS", "none"), 1, "", NULL},
    {V2("OIDC_EMAIL_VERIFIED_ISSUERS", "http://localhost:8080", "OIDC_ISSUERS",
        ISSUER ",http://localhost:8080"),
     1, "http://localhost:8080", NULL},
    {V1("OIDC_EMAIL_VERIFIED_ISSUERS", "https://other.example.com"), 0,
     "not in SPACEPORT_OIDC_ISSUERS", NULL},
    {V1("OIDC_EMAIL_VERIFIED_ISSUERS", "HTTPS://IDP.EXAMPLE.COM"), 0,
     "not in SPACEPORT_OIDC_ISSUERS", NULL},
    {V1("OIDC_EMAIL_VERIFIED_ISSUERS", ISSUER ","), 0, "empty entry", NULL},

    /* LOG_LEVEL */
    {V1("LOG_LEVEL", "debug"), 1, "debug", NULL},
    {V1("LOG_LEVEL", "info"), 1, "info", NULL},
    {V1("LOG_LEVEL", "warn"), 1, "warn", NULL},
    {V1("LOG_LEVEL", "error"), 1, "error", NULL},
    {V1("LOG_LEVEL", ""), 1, "info", NULL},
    {V1("LOG_LEVEL", "INFO"), 0, "debug, info, warn or error", NULL},
    {V1("LOG_LEVEL", "warning"), 0, "debug, info, warn or error", NULL},
    {V1("LOG_LEVEL", "trace"), 0, "debug, info, warn or error", NULL},
};

/* "HTTP_ADDR" -> "SPACEPORT_HTTP_ADDR" */
static void var_name(const char *suffix, char *out, size_t n)
{
    snprintf(out, n, "SPACEPORT_%s", suffix);
}

/* "HTTP_ADDR", "v" -> "--http-addr=v" */
static void flag_arg(const char *suffix, const char *value, char *out, size_t n)
{
    size_t i = 0;
    i += (size_t)snprintf(out, n, "--");
    for (const char *p = suffix; *p && i + 1 < n; p++)
        out[i++] = *p == '_' ? '-' : (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    out[i] = '\0';
    snprintf(out + i, n - i, "=%s", value);
}

static void run_case(const cfg_case *c, int via_flags)
{
    fake_env env;
    env_base(&env);
    char names[5][64];
    char args[5][512];
    char *argv[5];
    int argc = 0;
    for (int i = 0; i < 5 && c->vars[i][0]; i++) {
        var_name(c->vars[i][0], names[i], sizeof names[i]);
        if (via_flags) {
            flag_arg(c->vars[i][0], subst(c->vars[i][1]), args[i], sizeof args[i]);
            /* A flag overrides the environment, the base issuer too. */
            argv[argc++] = args[i];
        } else {
            env_set(&env, names[i], c->vars[i][1]);
        }
    }

    sp_config cfg;
    memset(&cfg, 0x5a, sizeof cfg);
    char err[1024];
    int rc = load(&cfg, &env, argc, argv, 0, err, sizeof err);
    const char *how = via_flags ? "flag" : "env";
    if (c->ok) {
        ck_assert_msg(rc == 0, "%s %s='%s': rejected: %s", how, names[0], c->vars[0][1], err);
        if (c->want) {
            char got[1024];
            field_text(&cfg, names[0], got, sizeof got);
            ck_assert_msg(strcmp(got, subst(c->want)) == 0, "%s %s='%s': got '%s', want '%s'", how,
                          names[0], c->vars[0][1], got, subst(c->want));
        }
        /* Whatever was set, the URLs handed to the rest are URLs. */
        sp_url u;
        const char *why = "";
        ck_assert_msg(sp_url_parse(cfg.public_url, &u, &why) == 0, "public URL '%s' %s",
                      cfg.public_url, why);
        ck_assert_msg(sp_url_parse(cfg.dav_url, &u, &why) == 0, "DAV URL '%s' %s", cfg.dav_url,
                      why);
        sp_config_free(&cfg);
        assert_empty(&cfg);
    } else {
        ck_assert_msg(rc == SP_ERR_INVALID, "%s %s='%s': rc %d, want SP_ERR_INVALID", how, names[0],
                      c->vars[0][1], rc);
        char prefix[80];
        snprintf(prefix, sizeof prefix, "%s: ", c->err_var ? c->err_var : names[0]);
        ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
                      "%s %s='%s': error does not start with '%s': %s", how, names[0],
                      c->vars[0][1], prefix, err);
        ck_assert_msg(strstr(err, c->want) != NULL, "%s %s='%s': error lacks '%s': %s", how,
                      names[0], c->vars[0][1], c->want, err);
        ck_assert_msg(strchr(err, '\n') == NULL, "error is not one line: %s", err);
        assert_empty(&cfg);
    }
}

START_TEST(table_env)
{
    run_case(&cases[_i], 0);
}
END_TEST

START_TEST(table_flags)
{
    run_case(&cases[_i], 1);
}
END_TEST

/* ---- defaults and derived values -------------------------------------- */

START_TEST(defaults)
{
    fake_env env;
    env_base(&env);
    sp_config cfg;
    char err[256];
    ck_assert_int_eq(load(&cfg, &env, 0, NULL, 0, err, sizeof err), 0);
    ck_assert_str_eq(cfg.http_host, "127.0.0.1");
    ck_assert_int_eq(cfg.http_port, 9200);
    ck_assert_str_eq(cfg.public_url, "http://127.0.0.1:9200");
    ck_assert_str_eq(cfg.dav_url, cfg.public_url);
    ck_assert_ptr_ne(cfg.dav_url, cfg.public_url); /* owned separately */
    ck_assert_str_eq(cfg.data_dir, "./data");
    ck_assert_uint_eq(cfg.nats_urls.count, 0);
    ck_assert_ptr_null(cfg.nats_creds);
    ck_assert_ptr_null(cfg.nats_user);
    ck_assert_ptr_null(cfg.nats_password);
    ck_assert_ptr_null(cfg.nats_tls_ca);
    ck_assert_ptr_null(cfg.nats_tls_cert);
    ck_assert_ptr_null(cfg.nats_tls_key);
    ck_assert_uint_eq(cfg.oidc_issuers.count, 1);
    ck_assert_str_eq(cfg.oidc_issuers.items[0], ISSUER);
    ck_assert_ptr_null(cfg.oidc_audience);
    ck_assert_str_eq(cfg.user_claim, "preferred_username");
    ck_assert_str_eq(cfg.roles_claim, "roles");
    ck_assert_uint_eq(cfg.trusted_instances.count, 0);
    ck_assert_int_eq(cfg.events_retention_ms, 604800000);
    ck_assert_ptr_null(cfg.http_tls_cert);
    ck_assert_ptr_null(cfg.http_tls_key);
    ck_assert_int_eq(cfg.sse_keepalive_ms, 15000);
    ck_assert_int_eq(cfg.sse_coalesce_ms, 1000);
    ck_assert_uint_eq(cfg.domain_issuer_count, 0);
    ck_assert_int_eq(cfg.log_level, SP_LOG_INFO);
    /* Not set: the verifier decides by the number of issuers. */
    ck_assert_int_eq(cfg.opaque_issuers_set, 0);
    ck_assert_uint_eq(cfg.email_verified_issuers.count, 0);
    sp_config_free(&cfg);
}
END_TEST

START_TEST(reads_every_contract_variable)
{
    fake_env env;
    env_base(&env);
    sp_config cfg;
    char err[256];
    ck_assert_int_eq(load(&cfg, &env, 0, NULL, 0, err, sizeof err), 0);
    for (size_t v = 0; v < COUNT(contract_vars); v++) {
        int asked = 0;
        for (size_t i = 0; i < env.asked_count; i++)
            asked |= strcmp(env.asked[i], contract_vars[v]) == 0;
        ck_assert_msg(asked, "%s is never read", contract_vars[v]);
    }
    sp_config_free(&cfg);
}
END_TEST

static const struct {
    const char *vars[3][2];
    const char *public_url;
    const char *dav_url;
} derived_cases[] = {
    {{{"SPACEPORT_HTTP_ADDR", "0.0.0.0:8080"}}, "http://0.0.0.0:8080", "http://0.0.0.0:8080"},
    {{{"SPACEPORT_HTTP_ADDR", "[::1]:9200"}}, "http://[::1]:9200", "http://[::1]:9200"},
    {{{"SPACEPORT_HTTP_ADDR", "localhost:9201"}}, "http://localhost:9201", "http://localhost:9201"},
    {{{"SPACEPORT_HTTP_TLS_CERT", "@FILE@"}, {"SPACEPORT_HTTP_TLS_KEY", "@FILE2@"}},
     "https://127.0.0.1:9200",
     "https://127.0.0.1:9200"},
    {{{"SPACEPORT_PUBLIC_URL", "https://sp.example/"}}, "https://sp.example", "https://sp.example"},
    {{{"SPACEPORT_PUBLIC_URL", "https://sp.example/x/"},
      {"SPACEPORT_DAV_URL", "https://dav.example/"}},
     "https://sp.example/x",
     "https://dav.example"},
    {{{"SPACEPORT_DAV_URL", "https://dav.example"}},
     "http://127.0.0.1:9200",
     "https://dav.example"},
};

START_TEST(derived_urls)
{
    fake_env env;
    env_base(&env);
    for (int i = 0; i < 3 && derived_cases[_i].vars[i][0]; i++)
        env_set(&env, derived_cases[_i].vars[i][0], derived_cases[_i].vars[i][1]);
    sp_config cfg;
    char err[256];
    ck_assert_msg(load(&cfg, &env, 0, NULL, 0, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(cfg.public_url, derived_cases[_i].public_url);
    ck_assert_str_eq(cfg.dav_url, derived_cases[_i].dav_url);
    sp_config_free(&cfg);
}
END_TEST

/* ---- flags ------------------------------------------------------------ */

START_TEST(flag_overrides_env_separate_value)
{
    fake_env env;
    env_base(&env);
    env_set(&env, "SPACEPORT_HTTP_ADDR", "127.0.0.1:9301");
    char *argv[] = {"--http-addr", "127.0.0.1:9300"};
    sp_config cfg;
    char err[256];
    ck_assert_int_eq(load(&cfg, &env, 2, argv, 0, err, sizeof err), 0);
    ck_assert_str_eq(cfg.http_host, "127.0.0.1");
    ck_assert_int_eq(cfg.http_port, 9300);
    ck_assert_str_eq(cfg.public_url, "http://127.0.0.1:9300");
    sp_config_free(&cfg);
}
END_TEST

START_TEST(flag_overrides_env_equals)
{
    fake_env env;
    env_base(&env);
    env_set(&env, "SPACEPORT_HTTP_ADDR", "127.0.0.1:9301");
    env_set(&env, "SPACEPORT_LOG_LEVEL", "error");
    char *argv[] = {"--http-addr=127.0.0.1:9300", "--log-level=debug"};
    sp_config cfg;
    char err[256];
    ck_assert_int_eq(load(&cfg, &env, 2, argv, 0, err, sizeof err), 0);
    ck_assert_int_eq(cfg.http_port, 9300);
    ck_assert_int_eq(cfg.log_level, SP_LOG_DEBUG);
    sp_config_free(&cfg);
}
END_TEST

START_TEST(flag_last_wins)
{
    fake_env env;
    env_base(&env);
    char *argv[] = {"--http-addr=127.0.0.1:1",
                    "--data-dir",
                    "/a",
                    "--http-addr",
                    "127.0.0.1:2",
                    "--data-dir=/b"};
    sp_config cfg;
    char err[256];
    ck_assert_int_eq(load(&cfg, &env, 6, argv, 0, err, sizeof err), 0);
    ck_assert_int_eq(cfg.http_port, 2);
    ck_assert_str_eq(cfg.data_dir, "/b");
    sp_config_free(&cfg);
}
END_TEST

START_TEST(flag_invalid_value_names_variable)
{
    fake_env env;
    env_base(&env);
    env_set(&env, "SPACEPORT_SSE_KEEPALIVE", "20s"); /* valid, but overridden */
    char *argv[] = {"--sse-keepalive", "0s"};
    sp_config cfg;
    char err[256];
    ck_assert_int_eq(load(&cfg, &env, 2, argv, 0, err, sizeof err), SP_ERR_INVALID);
    ck_assert_msg(strncmp(err, "SPACEPORT_SSE_KEEPALIVE: ", 25) == 0, "%s", err);
}
END_TEST

START_TEST(flag_empty_value_means_default)
{
    fake_env env;
    env_base(&env);
    env_set(&env, "SPACEPORT_LOG_LEVEL", "debug");
    char *argv[] = {"--log-level="};
    sp_config cfg;
    char err[256];
    ck_assert_int_eq(load(&cfg, &env, 1, argv, 0, err, sizeof err), 0);
    ck_assert_int_eq(cfg.log_level, SP_LOG_INFO);
    sp_config_free(&cfg);
}
END_TEST

START_TEST(flag_issuers_without_env)
{
    fake_env env;
    memset(&env, 0, sizeof env);
    char *argv[] = {"--oidc-issuers", "https://a.example, https://b.example/"};
    sp_config cfg;
    char err[256];
    ck_assert_msg(load(&cfg, &env, 2, argv, 0, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(cfg.oidc_issuers.count, 2);
    ck_assert_str_eq(cfg.oidc_issuers.items[1], "https://b.example/");
    sp_config_free(&cfg);
}
END_TEST

static const struct {
    const char *argv[3];
    const char *bad; /* the argument the error must quote */
} bad_flags[] = {
    {{"--nope"}, "--nope"},
    {{"--nope=1"}, "--nope=1"},
    {{"--http-addr"}, "--http-addr"}, /* missing value */
    {{"--http-addrx=127.0.0.1:1"}, "--http-addrx=127.0.0.1:1"},
    {{"--http_addr=127.0.0.1:1"}, "--http_addr=127.0.0.1:1"},
    {{"--HTTP-ADDR=127.0.0.1:1"}, "--HTTP-ADDR=127.0.0.1:1"},
    {{"--spaceport-http-addr=127.0.0.1:1"}, "--spaceport-http-addr=127.0.0.1:1"},
    {{"-http-addr=127.0.0.1:1"}, "-http-addr=127.0.0.1:1"},
    {{"http-addr=127.0.0.1:1"}, "http-addr=127.0.0.1:1"},
    {{"serve"}, "serve"},
    {{"--"}, "--"},
    {{""}, ""},
    {{"--log-level=debug", "extra"}, "extra"},
    {{"--log-level", "debug", "--bogus"}, "--bogus"},
    {{"--bogus", "--log-level=debug"}, "--bogus"},
};

START_TEST(unknown_flag_fails)
{
    fake_env env;
    env_base(&env);
    char *argv[3];
    int argc = 0;
    while (argc < 3 && bad_flags[_i].argv[argc]) {
        argv[argc] = (char *)bad_flags[_i].argv[argc];
        argc++;
    }
    sp_config cfg;
    memset(&cfg, 0x5a, sizeof cfg);
    char err[256];
    ck_assert_int_eq(load(&cfg, &env, argc, argv, 0, err, sizeof err), SP_ERR_INVALID);
    ck_assert_msg(strstr(err, "argument") != NULL, "%s", err);
    char quoted[128];
    snprintf(quoted, sizeof quoted, "'%s'", bad_flags[_i].bad);
    ck_assert_msg(strstr(err, quoted) != NULL, "error does not quote %s: %s", quoted, err);
    assert_empty(&cfg);
}
END_TEST

/*
 * Listen addresses that are not host:port. The error belongs at start-up,
 * naming SPACEPORT_HTTP_ADDR, not later from getaddrinfo.
 * KNOWN BUG (src/config.c, parse_http_addr): the host part is not checked
 * at all and the port goes through strtol, which takes a sign and leading
 * blanks. "no host:80" is accepted and yields the public URL
 * "http://no host:80", which is not a URL; "127.0.0.1:+80" and
 * "127.0.0.1: 80" are accepted as port 80. Fix: require digits only for
 * the port, and an IPv4/IPv6 literal or host-name characters for the host.
 */
static const char *const bad_http_addrs[] = {
    "127.0.0.1:+80", "127.0.0.1: 80", "no host:80", "evil/x:80", "a]:80", "127.0.0.1:80 ",
};

START_TEST(http_addr_strict)
{
    fake_env env;
    env_base(&env);
    env_set(&env, "SPACEPORT_HTTP_ADDR", bad_http_addrs[_i]);
    sp_config cfg;
    char err[256];
    int rc = load(&cfg, &env, 0, NULL, 0, err, sizeof err);
    if (rc == 0) {
        char got[300];
        snprintf(got, sizeof got, "host '%s' port %d public URL '%s'", cfg.http_host, cfg.http_port,
                 cfg.public_url);
        sp_config_free(&cfg);
        ck_abort_msg("'%s' accepted: %s", bad_http_addrs[_i], got);
    }
    ck_assert_int_eq(rc, SP_ERR_INVALID);
    ck_assert_msg(strncmp(err, "SPACEPORT_HTTP_ADDR: ", 21) == 0, "%s", err);
}
END_TEST

/* ---- issuers, limits, failure hygiene --------------------------------- */

START_TEST(issuers_required)
{
    fake_env env;
    memset(&env, 0, sizeof env);
    sp_config cfg;
    char err[256];
    ck_assert_int_eq(load(&cfg, &env, 0, NULL, 0, err, sizeof err), SP_ERR_INVALID);
    ck_assert_msg(strncmp(err, "SPACEPORT_OIDC_ISSUERS: ", 24) == 0, "%s", err);
    ck_assert_ptr_nonnull(strstr(err, "required"));
    assert_empty(&cfg);
}
END_TEST

START_TEST(issuers_optional_flag)
{
    fake_env env;
    memset(&env, 0, sizeof env);
    sp_config cfg;
    char err[256];
    ck_assert_msg(load(&cfg, &env, 0, NULL, SP_CONFIG_ISSUERS_OPTIONAL, err, sizeof err) == 0, "%s",
                  err);
    ck_assert_uint_eq(cfg.oidc_issuers.count, 0);
    ck_assert_str_eq(cfg.public_url, "http://127.0.0.1:9200");
    sp_config_free(&cfg);

    /* Optional does not mean unchecked. */
    env_set(&env, "SPACEPORT_OIDC_ISSUERS", "http://idp.example.com");
    ck_assert_int_eq(load(&cfg, &env, 0, NULL, SP_CONFIG_ISSUERS_OPTIONAL, err, sizeof err),
                     SP_ERR_INVALID);
    ck_assert_msg(strncmp(err, "SPACEPORT_OIDC_ISSUERS: ", 24) == 0, "%s", err);
}
END_TEST

START_TEST(value_length_limit)
{
    static char value[SP_CONFIG_VALUE_MAX + 2];
    memset(value, 'd', SP_CONFIG_VALUE_MAX);
    value[0] = '/';
    value[SP_CONFIG_VALUE_MAX] = '\0';
    fake_env env;
    env_base(&env);
    env_set(&env, "SPACEPORT_DATA_DIR", value);
    sp_config cfg;
    char err[256];
    ck_assert_int_eq(load(&cfg, &env, 0, NULL, 0, err, sizeof err), 0);
    ck_assert_uint_eq(strlen(cfg.data_dir), SP_CONFIG_VALUE_MAX);
    sp_config_free(&cfg);

    value[SP_CONFIG_VALUE_MAX] = 'd';
    value[SP_CONFIG_VALUE_MAX + 1] = '\0';
    ck_assert_int_eq(load(&cfg, &env, 0, NULL, 0, err, sizeof err), SP_ERR_INVALID);
    ck_assert_msg(strncmp(err, "SPACEPORT_DATA_DIR: ", 20) == 0, "%s", err);
    ck_assert_ptr_nonnull(strstr(err, "longer than"));
}
END_TEST

START_TEST(list_entry_limit)
{
    char value[SP_CONFIG_LIST_MAX * 40 + 64] = "";
    for (int i = 0; i < SP_CONFIG_LIST_MAX; i++) {
        char one[40];
        snprintf(one, sizeof one, "%shttps://i%d.example", i ? "," : "", i);
        strcat(value, one);
    }
    fake_env env;
    env_base(&env);
    env_set(&env, "SPACEPORT_TRUSTED_INSTANCES", value);
    sp_config cfg;
    char err[256];
    ck_assert_msg(load(&cfg, &env, 0, NULL, 0, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(cfg.trusted_instances.count, SP_CONFIG_LIST_MAX);
    ck_assert_str_eq(cfg.trusted_instances.items[SP_CONFIG_LIST_MAX - 1], "https://i31.example");
    sp_config_free(&cfg);

    strcat(value, ",https://one-too-many.example");
    ck_assert_int_eq(load(&cfg, &env, 0, NULL, 0, err, sizeof err), SP_ERR_INVALID);
    ck_assert_msg(strncmp(err, "SPACEPORT_TRUSTED_INSTANCES: ", 29) == 0, "%s", err);
    ck_assert_ptr_nonnull(strstr(err, "more than 32"));
    assert_empty(&cfg);
}
END_TEST

START_TEST(claim_length_limit)
{
    char claim[130];
    memset(claim, 'c', 128);
    claim[128] = '\0';
    fake_env env;
    env_base(&env);
    env_set(&env, "SPACEPORT_USER_CLAIM", claim);
    sp_config cfg;
    char err[256];
    ck_assert_int_eq(load(&cfg, &env, 0, NULL, 0, err, sizeof err), 0);
    ck_assert_uint_eq(strlen(cfg.user_claim), 128);
    sp_config_free(&cfg);
    claim[128] = 'c';
    claim[129] = '\0';
    ck_assert_int_eq(load(&cfg, &env, 0, NULL, 0, err, sizeof err), SP_ERR_INVALID);
    ck_assert_msg(strncmp(err, "SPACEPORT_USER_CLAIM: ", 22) == 0, "%s", err);
}
END_TEST

START_TEST(small_error_buffer)
{
    fake_env env;
    env_base(&env);
    env_set(&env, "SPACEPORT_HTTP_ADDR", "nonsense");
    sp_config cfg;
    char err[24];
    memset(err, 'X', sizeof err);
    ck_assert_int_eq(sp_config_load(&cfg, fake_getenv, &env, 0, NULL, 0, err, 16), SP_ERR_INVALID);
    ck_assert_uint_eq(strlen(err), 15); /* truncated, terminated */
    ck_assert_int_eq(err[16], 'X');     /* nothing written past errlen */
    ck_assert_int_eq(strncmp(err, "SPACEPORT_HTTP_", 15), 0);
}
END_TEST

START_TEST(free_is_idempotent)
{
    sp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    sp_config_free(&cfg); /* zeroed: safe */
    fake_env env;
    env_base(&env);
    env_set(&env, "SPACEPORT_DOMAIN_ISSUERS", "a.test=" ISSUER);
    env_set(&env, "SPACEPORT_TRUSTED_INSTANCES", "https://x.example");
    char err[256];
    ck_assert_int_eq(load(&cfg, &env, 0, NULL, 0, err, sizeof err), 0);
    sp_config_free(&cfg);
    assert_empty(&cfg);
    sp_config_free(&cfg); /* again: still safe */
}
END_TEST

START_TEST(full_config)
{
    /* Everything set at once, as a production deployment would. */
    fake_env env;
    env_base(&env);
    env_set(&env, "SPACEPORT_HTTP_ADDR", "[::]:443");
    env_set(&env, "SPACEPORT_PUBLIC_URL", "https://sp.example/");
    env_set(&env, "SPACEPORT_DAV_URL", "https://files.example/");
    env_set(&env, "SPACEPORT_DATA_DIR", "/srv/sp");
    env_set(&env, "SPACEPORT_NATS_URL", "nats://n1.example,nats://n2.example:4223");
    env_set(&env, "SPACEPORT_NATS_CREDS", "@FILE@");
    env_set(&env, "SPACEPORT_NATS_TLS_CA", "@FILE@");
    env_set(&env, "SPACEPORT_NATS_TLS_CERT", "@FILE@");
    env_set(&env, "SPACEPORT_NATS_TLS_KEY", "@FILE2@");
    env_set(&env, "SPACEPORT_OIDC_ISSUERS", ISSUER ",https://idp.paris.test/");
    env_set(&env, "SPACEPORT_OIDC_AUDIENCE", "spaceport");
    env_set(&env, "SPACEPORT_TRUSTED_INSTANCES", "https://paris.test/");
    env_set(&env, "SPACEPORT_EVENTS_RETENTION", "30d");
    env_set(&env, "SPACEPORT_HTTP_TLS_CERT", "@FILE@");
    env_set(&env, "SPACEPORT_HTTP_TLS_KEY", "@FILE2@");
    env_set(&env, "SPACEPORT_SSE_KEEPALIVE", "30s");
    env_set(&env, "SPACEPORT_SSE_COALESCE", "500ms");
    env_set(&env, "SPACEPORT_DOMAIN_ISSUERS", "paris.test=https://idp.paris.test/");
    env_set(&env, "SPACEPORT_LOG_LEVEL", "warn");
    sp_config cfg;
    char err[512];
    ck_assert_msg(load(&cfg, &env, 0, NULL, 0, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(cfg.http_host, "::");
    ck_assert_int_eq(cfg.http_port, 443);
    ck_assert_str_eq(cfg.public_url, "https://sp.example");
    ck_assert_str_eq(cfg.dav_url, "https://files.example");
    ck_assert_uint_eq(cfg.nats_urls.count, 2);
    ck_assert_str_eq(cfg.nats_creds, file_a);
    ck_assert_str_eq(cfg.nats_tls_key, file_b);
    ck_assert_uint_eq(cfg.oidc_issuers.count, 2);
    ck_assert_str_eq(cfg.oidc_issuers.items[1], "https://idp.paris.test/");
    ck_assert_str_eq(cfg.oidc_audience, "spaceport");
    ck_assert_str_eq(cfg.trusted_instances.items[0], "https://paris.test");
    ck_assert_int_eq(cfg.events_retention_ms, 30LL * 86400 * 1000);
    ck_assert_str_eq(cfg.http_tls_cert, file_a);
    ck_assert_int_eq(cfg.sse_keepalive_ms, 30000);
    ck_assert_int_eq(cfg.sse_coalesce_ms, 500);
    ck_assert_uint_eq(cfg.domain_issuer_count, 1);
    ck_assert_str_eq(cfg.domain_issuers[0].domain, "paris.test");
    ck_assert_str_eq(cfg.domain_issuers[0].issuer, "https://idp.paris.test/");
    ck_assert_int_eq(cfg.log_level, SP_LOG_WARN);
    sp_config_free(&cfg);
}
END_TEST

static const struct {
    const char *host;
    int loopback;
} loopback_cases[] = {
    {"localhost", 1}, {"127.0.0.1", 1}, {"127.1.2.3", 1},   {"::1", 1},
    {"[::1]", 0},     {"0.0.0.0", 0},   {"10.0.0.1", 0},    {"example.com", 0},
    {"::", 0},        {"", 0},          {"localhost.x", 0},
};

START_TEST(is_loopback_host)
{
    ck_assert_msg(!!sp_config_is_loopback_host(loopback_cases[_i].host) ==
                      loopback_cases[_i].loopback,
                  "'%s'", loopback_cases[_i].host);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");

    TCase *tc = tcase_create("table");
    tcase_add_loop_test(tc, table_env, 0, (int)COUNT(cases));
    tcase_add_loop_test(tc, table_flags, 0, (int)COUNT(cases));
    suite_add_tcase(s, tc);

    tc = tcase_create("defaults");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, reads_every_contract_variable);
    tcase_add_loop_test(tc, derived_urls, 0, (int)COUNT(derived_cases));
    tcase_add_test(tc, full_config);
    suite_add_tcase(s, tc);

    tc = tcase_create("flags");
    tcase_add_test(tc, flag_overrides_env_separate_value);
    tcase_add_test(tc, flag_overrides_env_equals);
    tcase_add_test(tc, flag_last_wins);
    tcase_add_test(tc, flag_invalid_value_names_variable);
    tcase_add_test(tc, flag_empty_value_means_default);
    tcase_add_test(tc, flag_issuers_without_env);
    tcase_add_loop_test(tc, unknown_flag_fails, 0, (int)COUNT(bad_flags));
    suite_add_tcase(s, tc);

    tc = tcase_create("rules");
    tcase_add_loop_test(tc, http_addr_strict, 0, (int)COUNT(bad_http_addrs));
    tcase_add_test(tc, issuers_required);
    tcase_add_test(tc, issuers_optional_flag);
    tcase_add_test(tc, value_length_limit);
    tcase_add_test(tc, list_entry_limit);
    tcase_add_test(tc, claim_length_limit);
    tcase_add_test(tc, small_error_buffer);
    tcase_add_test(tc, free_is_idempotent);
    tcase_add_loop_test(tc, is_loopback_host, 0, (int)COUNT(loopback_cases));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    files_create();
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    files_remove();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
