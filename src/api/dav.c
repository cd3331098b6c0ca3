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
 * read as strictly as the server maps it to a file (util/davpath.h).
 *
 * It runs on every file request, so it must cost little and change
 * nothing: the token comes from the verifier's cache, the user is read
 * (never provisioned: an unknown user has no role), the role is one
 * indexed read, and no transaction, event or row is made.
 */
#include "api/internal.h"

#include "util/davpath.h"
#include "util/err.h"
#include "util/fetch.h"
#include "util/id.h"
#include "util/url.h"

#include <string.h>

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

/*
 * Reads the drive id of a COPY or MOVE's Destination: an absolute URL on
 * this origin (the request's Host, the public URL or the WebDAV URL),
 * whose path is read as the request's (util/davpath.h), and that is
 * neither source (the request's path) nor below it: the server would
 * copy a folder into itself at every level until the path grows too long
 * (a disk filled by one request), or overwrite the source with itself.
 * Returns 0 or SP_ERR_INVALID with *why.
 */
static int dav_destination(sp_http_req *req, const sp_api *api, const char *source,
                           char drive_id[SP_ID_LEN], const char **why)
{
    const char *dest = sp_http_header(req, "Destination");
    if (!dest || !*dest) {
        *why = "COPY and MOVE need a Destination";
        return SP_ERR_INVALID;
    }
    sp_url u;
    if (strlen(dest) >= SP_DAVPATH_MAX || sp_url_parse(dest, &u, NULL) < 0 ||
        (strcmp(u.scheme, "http") != 0 && strcmp(u.scheme, "https") != 0)) {
        *why = "the Destination is not an absolute http(s) URL";
        return SP_ERR_INVALID;
    }
    if (!same_authority(sp_http_header(req, "Host"), &u) &&
        !sp_fetch_same_origin(api->cfg->public_url, dest) &&
        !sp_fetch_same_origin(api->cfg->dav_url, dest)) {
        *why = "the Destination is on another origin";
        return SP_ERR_INVALID;
    }
    if (sp_davpath_drive(u.path, drive_id, why) < 0)
        return SP_ERR_INVALID;
    if (sp_davpath_within(u.path, source)) {
        *why = "the Destination is the source or below it";
        return SP_ERR_INVALID;
    }
    return 0;
}

/* The role the caller of id has on drive (NULL: nothing): content is
 * the members' business, so an admin's app role gives nothing here (it
 * reaches the drive through the API, never its files), and a disabled
 * drive is in the trash, for its Manager too. Returns 0, SP_ERR_NOT_FOUND
 * for a user never seen, or the store's error. */
static int dav_role(sp_api *api, const sp_identity *id, const char *drive, sp_file_access *fa,
                    const sp_role **role)
{
    sp_user_claims who = {.issuer = id->issuer,
                          .sub = id->sub,
                          .groups = id->groups,
                          .group_count = id->group_count,
                          .groups_digest = id->groups_digest};
    int rc = sp_store_file_access(api->store, &who, drive, fa);
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
    if (sp_davpath_drive(uri, source, &why) < 0 ||
        (m->destination != NEED_NONE && dav_destination(req, api, uri, destination, &why) < 0)) {
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
        sp_api__store_error(req, api, rc);
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
