/*
 * dav.c - GET /api/v1/dav-access: may the bearer of this token make this
 * WebDAV request?
 *
 * The WebDAV server in front of the spaces' files (nginx auth_request)
 * asks before every request, naming it in X-Original-Method and
 * X-Original-URI (and Destination for COPY and MOVE). The answer is the
 * caller's role on the drive the path names, as the API decides it: 204
 * with the user and role when allowed, 401 for no valid token, 403 for
 * everything else. The server then serves the path itself, so the path is
 * read as strictly as the server maps it to a file: one percent-decoding,
 * repeated '/' merged, and anything whose meaning a server or a file
 * system could read differently (dot segments, an encoded '/', '\', NUL,
 * control characters) is refused rather than normalised.
 *
 * It runs on every file request, so it must cost little and change
 * nothing: the token comes from the verifier's cache, the user is read
 * (never provisioned: an unknown user has no role), the role is one
 * indexed read, and no transaction, event or row is made.
 */
#include "api/internal.h"

#include "util/err.h"
#include "util/id.h"
#include "util/url.h"

#include <string.h>

/* Longest X-Original-URI and Destination read: the HTTP layer's own
 * request target limit, which nginx's default request-line buffers
 * (8 KiB) match; a longer one cannot name a real request. */
#define SP_DAV_URI_MAX SP_HTTP_URI_MAX

/* What a method needs on the drive of its path and of its Destination. */
typedef enum dav_need { NEED_NONE, NEED_READ, NEED_WRITE } dav_need;

/* The methods the storage serves. Anything else is refused: a method
 * nobody classified must not pass as a read. */
static const struct dav_method {
    const char *name;
    dav_need source, destination;
} dav_methods[] = {
    {"GET", NEED_READ, NEED_NONE},        {"HEAD", NEED_READ, NEED_NONE},
    {"OPTIONS", NEED_READ, NEED_NONE},    {"PROPFIND", NEED_READ, NEED_NONE},
    {"REPORT", NEED_READ, NEED_NONE},     {"PUT", NEED_WRITE, NEED_NONE},
    {"DELETE", NEED_WRITE, NEED_NONE},    {"MKCOL", NEED_WRITE, NEED_NONE},
    {"PROPPATCH", NEED_WRITE, NEED_NONE}, {"LOCK", NEED_WRITE, NEED_NONE},
    {"UNLOCK", NEED_WRITE, NEED_NONE},    {"POST", NEED_WRITE, NEED_NONE},
    {"PATCH", NEED_WRITE, NEED_NONE},     {"COPY", NEED_READ, NEED_WRITE},
    {"MOVE", NEED_WRITE, NEED_WRITE},
};

/* The path prefixes the storage serves spaces under, as segments: oCIS's
 * and OpenCloud's clients build either from the server's origin. */
static const char *const dav_prefixes[][3] = {
    {"dav", "spaces", NULL},
    {"remote.php", "dav", "spaces"},
};

/* Non-zero when s is a drive id as the registry makes them: a UUID in
 * lower case (util/id.h). */
static int is_drive_id(const char *s)
{
    for (size_t i = 0; i < SP_ID_LEN - 1; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23
                ? c != '-'
                : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return s[SP_ID_LEN - 1] == '\0';
}

/*
 * Reads the drive id out of path, an origin-form request target (a query
 * is ignored), into drive_id. The path is percent-decoded once into
 * segments; the first ones must be one of dav_prefixes, the next the
 * drive id. Returns 0, or SP_ERR_INVALID with *why (static text).
 */
static int dav_drive(const char *path, char drive_id[SP_ID_LEN], const char **why)
{
    size_t len = strcspn(path, "?");
    if (len == 0 || path[0] != '/') {
        *why = "the path is not an absolute path";
        return SP_ERR_INVALID;
    }
    if (len >= SP_DAV_URI_MAX) {
        *why = "the path is too long";
        return SP_ERR_INVALID;
    }
    /* The decoded segments, each ending in a NUL; empty ones (from "//")
     * are merged away as the server merges them. */
    char decoded[SP_DAV_URI_MAX];
    const char *segment[4] = {0};
    size_t count = 0, out = 0, start = 0;
    for (size_t i = 1; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char)path[i] : '/';
        if (c == '/') {
            if (out == start)
                continue;
            decoded[out] = '\0';
            const char *seg = decoded + start;
            if (strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0) {
                *why = "the path has a dot segment";
                return SP_ERR_INVALID;
            }
            if (count < sizeof segment / sizeof segment[0])
                segment[count] = seg;
            count++;
            start = ++out;
            continue;
        }
        if (c == '%') {
            int hi = i + 2 < len ? sp_url_hex(path[i + 1]) : -1;
            int lo = hi >= 0 ? sp_url_hex(path[i + 2]) : -1;
            if (lo < 0) {
                *why = "the path has a malformed percent-encoding";
                return SP_ERR_INVALID;
            }
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
            if (c == '/') {
                *why = "the path has an encoded '/'";
                return SP_ERR_INVALID;
            }
        }
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '#') {
            *why = "the path has a control character, '\\' or '#'";
            return SP_ERR_INVALID;
        }
        decoded[out++] = (char)c;
    }
    for (size_t p = 0; p < sizeof dav_prefixes / sizeof dav_prefixes[0]; p++) {
        size_t n = 0;
        while (n < 3 && dav_prefixes[p][n] && n < count &&
               strcmp(segment[n], dav_prefixes[p][n]) == 0)
            n++;
        if (n < 3 && dav_prefixes[p][n])
            continue;
        if (n >= count) {
            *why = "the path names no space";
            return SP_ERR_INVALID;
        }
        if (!is_drive_id(segment[n])) {
            *why = strchr(segment[n], '!') ? "shares of single items are not served over WebDAV"
                                           : "the path does not name a space by its id";
            return SP_ERR_INVALID;
        }
        memcpy(drive_id, segment[n], SP_ID_LEN);
        return 0;
    }
    *why = "the path is not under /dav/spaces/ or /remote.php/dav/spaces/";
    return SP_ERR_INVALID;
}

/* Non-zero when authority (a Host header, or NULL) names the host and
 * port of u, read with u's scheme. */
static int same_authority(const char *authority, const sp_url *u)
{
    if (!authority || !*authority || strlen(authority) >= SP_URL_HOST_MAX + 8)
        return 0;
    char text[sizeof u->scheme + SP_URL_HOST_MAX + 16];
    snprintf(text, sizeof text, "%s://%s", u->scheme, authority);
    sp_url a;
    return sp_url_parse(text, &a, NULL) == 0 && !a.path[0] && !a.query[0] &&
           strcmp(a.host, u->host) == 0 && a.port == u->port;
}

/* Non-zero when configured URL base names the host and port of u. */
static int same_origin(const char *base, const sp_url *u)
{
    sp_url b;
    return base && sp_url_parse(base, &b, NULL) == 0 && strcmp(b.scheme, u->scheme) == 0 &&
           strcmp(b.host, u->host) == 0 && b.port == u->port;
}

/*
 * Reads the drive id of a COPY or MOVE's Destination: an absolute URL on
 * this origin (the request's Host, the public URL or the WebDAV URL),
 * whose path is read as dav_drive reads the request's. Returns 0 or
 * SP_ERR_INVALID with *why.
 */
static int dav_destination(sp_http_req *req, const sp_api *api, char drive_id[SP_ID_LEN],
                           const char **why)
{
    const char *dest = sp_http_header(req, "Destination");
    if (!dest || !*dest) {
        *why = "COPY and MOVE need a Destination";
        return SP_ERR_INVALID;
    }
    sp_url u;
    if (strlen(dest) >= SP_DAV_URI_MAX || sp_url_parse(dest, &u, NULL) < 0 ||
        (strcmp(u.scheme, "http") != 0 && strcmp(u.scheme, "https") != 0)) {
        *why = "the Destination is not an absolute http(s) URL";
        return SP_ERR_INVALID;
    }
    if (!same_authority(sp_http_header(req, "Host"), &u) &&
        !same_origin(api->cfg->public_url, &u) && !same_origin(api->cfg->dav_url, &u)) {
        *why = "the Destination is on another origin";
        return SP_ERR_INVALID;
    }
    return dav_drive(u.path, drive_id, why);
}

/* The role the caller of id has on drive (NULL: nothing): content is
 * the members' business, so an admin's app role gives nothing here (it
 * reaches the drive through the API, never its files), and a disabled
 * drive is in the trash, for its Manager too. Returns 0, SP_ERR_NOT_FOUND
 * for a user never seen, or the store's error. */
static int dav_role(sp_api *api, const sp_identity *id, const char *drive, sp_file_access *fa,
                    const sp_role **role)
{
    int rc = sp_store_file_access(api->store, id->issuer, id->sub, id->groups_digest, drive, fa);
    *role = rc == 0 && fa->drive_found && !fa->drive_disabled ? fa->role : NULL;
    return rc;
}

/* Non-zero when role allows need. */
static int dav_allows(const sp_role *role, dav_need need)
{
    unsigned can = need == NEED_WRITE ? SP_CAN_WRITE : SP_CAN_READ;
    return need == NEED_NONE || (role && (role->can & can));
}

/* Counts a decision for /metrics. */
static void dav_count(sp_api *api, int decision)
{
    atomic_fetch_add_explicit(&api->dav_access[decision], 1, memory_order_relaxed);
}

static void deny(sp_http_req *req, sp_api *api, const char *why)
{
    dav_count(api, SP_API_DAV_DENIED);
    sp_http_reply_error(req, 403, "accessDenied", "%s", why);
}

static void dav_access(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_http_add_header(req, "Cache-Control", "no-store");
    const char *method = sp_http_header(req, "X-Original-Method");
    const char *uri = sp_http_header(req, "X-Original-URI");
    if (!method || !uri) {
        dav_count(api, SP_API_DAV_DENIED);
        sp_http_reply_error(req, 400, "invalidRequest",
                            "X-Original-Method and X-Original-URI name the request to check");
        return;
    }
    sp_identity id;
    int had_token;
    int rc = sp_api__verify_token(req, api, 0, &id, &had_token);
    if (rc == SP_ERR_UNAVAILABLE) {
        dav_count(api, SP_API_DAV_DENIED);
        sp_http_reply_error(req, 503, "unavailable", "the identity provider cannot be reached");
        return;
    }
    if (rc < 0) {
        dav_count(api, SP_API_DAV_UNAUTHENTICATED);
        sp_api__challenge(req, had_token);
        sp_http_reply_error(req, 401, "unauthenticated",
                            had_token ? "the access token is not valid"
                                      : "a bearer token is required");
        return;
    }
    const struct dav_method *m = NULL;
    for (size_t i = 0; i < sizeof dav_methods / sizeof dav_methods[0] && !m; i++)
        if (strcmp(method, dav_methods[i].name) == 0)
            m = &dav_methods[i];
    if (!m) {
        deny(req, api, "the method is not served");
        return;
    }
    char source[SP_ID_LEN], destination[SP_ID_LEN];
    const char *why;
    if (dav_drive(uri, source, &why) < 0 ||
        (m->destination != NEED_NONE && dav_destination(req, api, destination, &why) < 0)) {
        deny(req, api, why);
        return;
    }
    /* A user the registry has never seen is a member of nothing: asking
     * must not create them (and their personal drive). */
    sp_file_access fa;
    const sp_role *role = NULL, *dest_role = NULL;
    rc = dav_role(api, &id, source, &fa, &role);
    if (rc == 0 && m->destination != NEED_NONE && strcmp(destination, source) != 0) {
        sp_file_access other;
        rc = dav_role(api, &id, destination, &other, &dest_role);
    } else {
        dest_role = role;
    }
    if (rc == SP_ERR_NOT_FOUND) {
        deny(req, api, "you have no role on this space");
        return;
    }
    if (rc < 0) {
        dav_count(api, SP_API_DAV_DENIED);
        sp_api__store_error(req, rc);
        return;
    }
    if (!role || (m->destination != NEED_NONE && !dest_role)) {
        deny(req, api, "you have no role on this space");
        return;
    }
    if (!dav_allows(role, m->source) || !dav_allows(dest_role, m->destination)) {
        deny(req, api, "your role on this space cannot change its files");
        return;
    }
    dav_count(api, SP_API_DAV_ALLOWED);
    sp_http_add_header(req, "X-Spaceport-User-Id", fa.user_id);
    sp_http_add_header(req, "X-Spaceport-Role", role->legacy_name);
    sp_http_reply(req, 204, NULL, "", 0);
}

int sp_api__dav_metrics(sp_api *api, sp_buf *out)
{
    return sp_buf_printf(out,
                         "# HELP spaceport_dav_access_total WebDAV requests checked "
                         "(/api/v1/dav-access), by decision.\n"
                         "# TYPE spaceport_dav_access_total counter\n"
                         "spaceport_dav_access_total{decision=\"allowed\"} %llu\n"
                         "spaceport_dav_access_total{decision=\"denied\"} %llu\n"
                         "spaceport_dav_access_total{decision=\"unauthenticated\"} %llu\n",
                         atomic_load(&api->dav_access[SP_API_DAV_ALLOWED]),
                         atomic_load(&api->dav_access[SP_API_DAV_DENIED]),
                         atomic_load(&api->dav_access[SP_API_DAV_UNAUTHENTICATED]));
}

int sp_api__register_dav(sp_router *r, sp_api *api)
{
    return sp_router_add(r, "GET", "/api/v1/dav-access", dav_access, api);
}
