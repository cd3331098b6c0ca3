/*
 * ocs.c - the two OCS routes ownCloud and OpenCloud Web read at sign-in:
 * GET /ocs/v1.php/cloud/capabilities (and v2) and /ocs/v1.php/cloud/user
 * (and v2).
 *
 * Both answer in the OCS envelope {"ocs":{"meta":{...},"data":{...}}} as
 * oCIS's ocs service does: JSON when ?format=json, XML otherwise. Version 1
 * says "statuscode":100 and HTTP 200 whatever happened; version 2 says 200
 * and maps its status codes onto HTTP ones. The capabilities tell the web
 * what to offer: each one announced is something this instance serves, and
 * the web's own defaults that would offer what it does not serve (public
 * links, creating users) are answered false, since the web merges what it
 * gets over them.
 */
#include "api/internal.h"

#include "util/buf.h"
#include "util/err.h"

#include <stdio.h>
#include <string.h>

/* OCS status codes (reva's response package): 100 is success in version
 * 1, which version 2 reports as 200; 997 is a missing or bad token. */
#define OCS_OK           100
#define OCS_UNAUTHORIZED 997

/* Seconds between the web's polls of the server: oCIS's value. */
#define SP_OCS_POLL_INTERVAL 60

/* The version of the spaces capability: oCIS's, whose drive API we serve. */
#define SP_OCS_SPACES_VERSION "1.0.0"

/* Whether this instance streams changes at oCIS's SSE path: it does
 * (changes.c), and the web clients open it only when this says so. */
#define SP_OCS_SUPPORT_SSE 1

/* ---- the envelope ---- */

/* Appends s with the five XML special characters escaped, and the
 * control characters XML 1.0 forbids (all below 0x20 but tab, LF and CR;
 * a display name from a token may carry them) as U+FFFD. */
static int xml_escape(sp_buf *b, const char *s)
{
    static const char special[] = "<>&\"'";
    static const char *const entity[] = {"&lt;", "&gt;", "&amp;", "&quot;", "&apos;"};
    int rc = 0;
    for (const char *p = s; *p && rc == 0; p++) {
        const char *e = strchr(special, *p);
        if (e)
            rc = sp_buf_puts(b, entity[e - special]);
        else if ((unsigned char)*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
            rc = sp_buf_puts(b, "\xef\xbf\xbd");
        else
            rc = sp_buf_append(b, p, 1);
    }
    return rc;
}

/*
 * Appends v as the content of an XML element, the way reva encodes OCS
 * data: an object's members become elements named by their keys, an
 * array's items <element> elements, booleans 1 and 0; null members are
 * left out. Keys are ours, all valid XML names.
 */
static int xml_value(sp_buf *b, json_t *v)
{
    const char *key;
    json_t *item;
    size_t i;
    int rc = 0;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        json_object_foreach(v, key, item)
        {
            if (json_is_null(item))
                continue;
            rc = sp_buf_printf(b, "<%s>", key);
            if (rc == 0)
                rc = xml_value(b, item);
            if (rc == 0)
                rc = sp_buf_printf(b, "</%s>", key);
            if (rc < 0)
                return rc;
        }
        return 0;
    case JSON_ARRAY:
        json_array_foreach(v, i, item)
        {
            rc = sp_buf_puts(b, "<element>");
            if (rc == 0)
                rc = xml_value(b, item);
            if (rc == 0)
                rc = sp_buf_puts(b, "</element>");
            if (rc < 0)
                return rc;
        }
        return 0;
    case JSON_STRING:
        return xml_escape(b, json_string_value(v));
    case JSON_INTEGER:
        return sp_buf_printf(b, "%lld", (long long)json_integer_value(v));
    case JSON_REAL:
        return sp_buf_printf(b, "%.17g", json_real_value(v));
    case JSON_TRUE:
        return sp_buf_puts(b, "1");
    case JSON_FALSE:
        return sp_buf_puts(b, "0");
    case JSON_NULL:
        return 0;
    }
    return 0;
}

/* The OCS API version of the request's path: 2 for /ocs/v2.php, else 1. */
static int ocs_version(sp_http_req *req)
{
    return strncmp(sp_http_path(req), "/ocs/v2.php/", 12) == 0 ? 2 : 1;
}

/* The HTTP status of an OCS status code in version 2 (reva's mapping);
 * version 1 is always 200. */
static unsigned v2_http_status(int code)
{
    switch (code) {
    case OCS_OK:
        return 200;
    case OCS_UNAUTHORIZED:
        return 401;
    case 998:
        return 404;
    case 996:
    case 999:
        return 500;
    case 104:
        return 403;
    }
    if (code >= 200 && code < 600)
        return (unsigned)code;
    return code > 100 && code < 200 ? 400 : 200;
}

/*
 * Replies with the OCS envelope around data (stolen; NULL for none), its
 * meta saying code and message, in JSON or XML as the request asks.
 * http_status 0 takes the status from the version's mapping; anything
 * else overrides it.
 */
static void reply_ocs(sp_http_req *req, int code, const char *message, json_t *data,
                      unsigned http_status)
{
    int v2 = ocs_version(req) == 2;
    unsigned status = v2 ? v2_http_status(code) : 200;
    if (http_status)
        status = http_status;
    int meta_code = v2 && code == OCS_OK ? 200 : code;
    json_t *ocs =
        json_pack("{s:{s:s, s:i, s:s}}", "meta", "status", code == OCS_OK ? "ok" : "error",
                  "statuscode", meta_code, "message", message);
    if (ocs && data)
        json_object_set(ocs, "data", data);
    json_decref(data);
    sp_http_add_header(req, "Ocs-Api-Version", v2 ? "2" : "1");
    const char *format = sp_http_query(req, "format");
    sp_buf out = {0};
    int rc = ocs ? 0 : SP_ERR_NOMEM;
    const char *type;
    if (format && strcmp(format, "json") == 0) {
        type = "application/json; charset=utf-8";
        char *text = ocs ? json_dumps(ocs, JSON_COMPACT) : NULL;
        rc = text ? sp_buf_printf(&out, "{\"ocs\":%s}", text) : SP_ERR_NOMEM;
        free(text);
    } else {
        type = "text/xml; charset=utf-8";
        if (rc == 0)
            rc = sp_buf_puts(&out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ocs>");
        if (rc == 0)
            rc = xml_value(&out, ocs);
        if (rc == 0)
            rc = sp_buf_puts(&out, "</ocs>");
    }
    json_decref(ocs);
    if (rc < 0)
        sp_http_reply_error(req, 500, "generalException", "out of memory");
    else
        sp_http_reply(req, status, type, out.data, out.len);
    sp_buf_free(&out);
}

/*
 * Authenticates the caller for an OCS route. On failure replies 401 in
 * the envelope (OCS 997) with WWW-Authenticate, as oCIS's proxy refuses
 * before its ocs service is reached, or 503, and returns a negative
 * sp_err.
 */
static int ocs_caller(sp_http_req *req, sp_api *api, sp_user *u)
{
    sp_identity id;
    int had_token;
    int rc = sp_api__verify_token(req, api, 0, &id, &had_token);
    if (rc == SP_ERR_UNAVAILABLE) {
        reply_ocs(req, 996, "the identity provider cannot be reached", NULL, 503);
        return rc;
    }
    if (rc < 0) {
        sp_api__challenge(req, had_token);
        reply_ocs(req, OCS_UNAUTHORIZED, "Unauthorised", NULL, 401);
        return rc;
    }
    rc = sp_api__provision(api, &id, u);
    if (rc < 0)
        reply_ocs(req, 996, "Server Error", NULL, rc == SP_ERR_FULL ? 507 : 500);
    return rc;
}

/* ---- capabilities ---- */

/* The capabilities of this instance (new reference). */
static json_t *capabilities(void)
{
    unsigned major = 0, minor = 0, micro = 0;
    sscanf(SP_VERSION, "%u.%u.%u", &major, &minor, &micro);
    json_t *caps = json_pack(
        "{s:{s:i, s:s, s:{s:b, s:b, s:b, s:s, s:s, s:s, s:s, s:s, s:s}, s:b, s:b},"
        " s:{s:b, s:b, s:i, s:s, s:b},"
        " s:{s:b, s:{s:[sssssss], s:b, s:b, s:b}},"
        " s:{s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:i, s:{s:b, s:b}, s:{s:b}, s:{s:b}},"
        " s:{s:[], s:b, s:b, s:b, s:b, s:b}}",
        "core", "pollinterval", SP_OCS_POLL_INTERVAL, "webdav-root", "remote.php/webdav", "status",
        "installed", 1, "maintenance", 0, "needsDbUpgrade", 0, "version", SP_VERSION,
        "versionstring", SP_VERSION, "edition", "", "productname", "Spaceport", "product",
        "Spaceport", "productversion", SP_VERSION, "support-sse", SP_OCS_SUPPORT_SSE,
        "support-url-signing", 0,
        /* spaces: personal and project drives; no configured maximum quota */
        "spaces", "enabled", 1, "projects", 1, "max_quota", 0, "version", SP_OCS_SPACES_VERSION,
        "share_jail", 1,
        /* graph: users come from the identity provider, read-only here */
        "graph", "personal-data-export", 0, "users", "read_only_attributes",
        "user.onPremisesSamAccountName", "user.displayName", "user.mail", "user.passwordProfile",
        "user.accountEnabled", "user.appRoleAssignments", "user.memberOf", "create_disabled", 1,
        "delete_disabled", 1, "change_password_self_disabled", 1,
        /* files_sharing: the graph sharing API with users, groups (from
         * tokens) and OCM peers; no public links yet */
        "files_sharing", "api_enabled", 1, "sharing_roles", 1, "group_sharing", 1, "allow_custom",
        0, "can_rename", 0, "deny_access", 0, "resharing", 0, "search_min_length",
        SP_USER_SEARCH_MIN, "federation", "incoming", 1, "outgoing", 1, "public", "enabled", 0,
        "user", "send_mail", 0,
        /* files: the storage serves content; none of the registry's business */
        "files", "app_providers", "favorites", 0, "tags", 0, "privateLinks", 0,
        "permanent_deletion", 0, "undelete", 0);
    return caps ? json_pack("{s:o, s:{s:s, s:s, s:i, s:i, s:i, s:s, s:s}}", "capabilities", caps,
                            "version", "product", "Spaceport", "edition", "", "major", major,
                            "minor", minor, "micro", micro, "string", SP_VERSION, "productversion",
                            SP_VERSION)
                : NULL;
}

/*
 * The capabilities are the same for everyone. Version 1 is public, as oCIS
 * lets it through without a token (public link pages read it); version 2
 * needs a valid token, as oCIS's proxy asks for one there.
 */
static void get_capabilities(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (ocs_version(req) == 2 && ocs_caller(req, api, &u) < 0)
        return;
    json_t *data = capabilities();
    if (!data) {
        reply_ocs(req, 996, "Server Error", NULL, 500);
        return;
    }
    reply_ocs(req, OCS_OK, "OK", data, 0);
}

/* ---- the caller ---- */

/* Who the caller is, as oCIS's ocs service says it: id is the user name,
 * user-type "primary" (guests do not exist here), language oCIS's default
 * since no preference is kept. */
static void get_user(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (ocs_caller(req, api, &u) < 0)
        return;
    json_t *data =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", u.username, "display-name", u.display_name,
                  "email", u.email, "user-type", "primary", "language", "en");
    if (!data) {
        reply_ocs(req, 996, "Server Error", NULL, 500);
        return;
    }
    reply_ocs(req, OCS_OK, "OK", data, 0);
}

int sp_api__register_ocs(sp_router *r, sp_api *api)
{
    static const sp_api_route routes[] = {
        {"GET", "/ocs/v1.php/cloud/capabilities", get_capabilities},
        {"GET", "/ocs/v2.php/cloud/capabilities", get_capabilities},
        {"GET", "/ocs/v1.php/cloud/user", get_user},
        {"GET", "/ocs/v2.php/cloud/user", get_user},
    };
    return sp_api__add_routes(r, api, routes, sizeof routes / sizeof routes[0]);
}
