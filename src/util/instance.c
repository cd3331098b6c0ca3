/* instance.c - trusted-instance matching; see instance.h. */
#include "util/instance.h"

#include "util/err.h"
#include "util/url.h"

#include <stdio.h>
#include <string.h>

#define DAV_SPACES "/dav/spaces/"

#define FAIL(reason)                                                                               \
    do {                                                                                           \
        if (why)                                                                                   \
            *why = reason;                                                                         \
        return SP_ERR_INVALID;                                                                     \
    } while (0)

static int scheme_default_port(const char *scheme)
{
    return strcmp(scheme, "https") == 0 ? 443 : strcmp(scheme, "http") == 0 ? 80 : 0;
}

/* A raw path character of RFC 3986 (pchar, or '/'): unreserved, sub-delims,
 * ':', '@' and '%' (escapes are checked when decoding). */
static int path_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("-._~!$&'()*+,;=:@%/", c) != NULL;
}

/* Percent-decodes the n bytes at s into out (outlen bytes). Refuses a
 * malformed escape, and a decoded '/', '\\', NUL or control or non-ASCII
 * byte. Returns the decoded length, or -1. */
static int decode_segment(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int h = sp_url_hex(s[i + 1]), l = sp_url_hex(s[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = (unsigned char)(h * 16 + l);
            i += 2;
        }
        if (c == '/' || c == '\\' || c < 0x20 || c >= 0x7f)
            return -1;
        if (o + 1 >= outlen)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (int)o;
}

/* Checks the relative path after the drive id: "" or "/seg/seg[/]", no
 * empty, "." or ".." segments, each decodable. */
static int rest_ok(const char *p)
{
    char seg[SP_URL_PATH_MAX];
    while (*p == '/') {
        p++;
        size_t n = strcspn(p, "/");
        if (n == 0)
            return p[0] == '\0'; /* a trailing slash is fine, "//" is not */
        int len = decode_segment(p, n, seg, sizeof seg);
        if (len < 0 || strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0)
            return 0;
        p += n;
    }
    return *p == '\0';
}

/* Parses url and checks what every WebDAV URL of another instance must
 * be: https (http to loopback), no query, only path characters. */
static int parse_dav_url(const char *url, sp_url *u, const char **why)
{
    const char *reason = NULL;
    if (!url || sp_url_parse(url, u, &reason) < 0)
        FAIL(reason ? reason : "is not a URL");
    int https = strcmp(u->scheme, "https") == 0;
    if (!https && !(strcmp(u->scheme, "http") == 0 && sp_url_host_is_loopback(u->host)))
        FAIL("must use https (http only for loopback hosts)");
    if (strchr(url, '?'))
        FAIL("must not have a query");
    for (const char *c = u->path; *c; c++) {
        if (!path_char(*c))
            FAIL("has a character not allowed in a URL path");
    }
    return 0;
}

/* Non-zero when the trusted base URL instance (parsed into *t) has u's
 * scheme, host and port. */
static int same_origin(const char *instance, const sp_url *u, sp_url *t)
{
    const char *reason = NULL;
    return sp_url_parse(instance, t, &reason) == 0 && strcmp(t->scheme, u->scheme) == 0 &&
           strcmp(t->host, u->host) == 0 && t->port == u->port;
}

int sp_instance_match_url(const char *const *instances, size_t count, const char *url,
                          size_t *index, const char **why)
{
    sp_url u, t;
    if (parse_dav_url(url, &u, why) < 0)
        return SP_ERR_INVALID;
    if (!rest_ok(u.path))
        FAIL("has an empty, '.' or '..' path segment or a malformed escape");
    for (size_t i = 0; i < count; i++) {
        if (same_origin(instances[i], &u, &t)) {
            *index = i;
            return 0;
        }
    }
    FAIL("is not on a trusted instance (SPACEPORT_TRUSTED_INSTANCES)");
}

int sp_instance_match_dav(const char *const *instances, size_t count, const char *url,
                          sp_instance_dav *out, const char **why)
{
    memset(out, 0, sizeof *out);
    sp_url u, t;
    if (parse_dav_url(url, &u, why) < 0)
        return SP_ERR_INVALID;

    for (size_t i = 0; i < count; i++) {
        if (!same_origin(instances[i], &u, &t))
            continue;
        size_t bl = strlen(t.path);
        while (bl > 0 && t.path[bl - 1] == '/')
            bl--;
        if (strncmp(u.path, t.path, bl) != 0 ||
            strncmp(u.path + bl, DAV_SPACES, strlen(DAV_SPACES)) != 0)
            continue;
        const char *seg = u.path + bl + strlen(DAV_SPACES);
        size_t n = strcspn(seg, "/");
        if (n == 0)
            FAIL("names no drive after /dav/spaces/");
        if (n >= sizeof out->drive_seg)
            FAIL("has a drive id that is too long");
        int len = decode_segment(seg, n, out->drive_id, sizeof out->drive_id);
        if (len <= 0)
            FAIL("has a malformed drive id");
        if (strcmp(out->drive_id, ".") == 0 || strcmp(out->drive_id, "..") == 0)
            FAIL("has a malformed drive id");
        if (!rest_ok(seg + n))
            FAIL("has an empty, '.' or '..' path segment or a malformed escape");
        memcpy(out->drive_seg, seg, n);
        out->drive_seg[n] = '\0';
        out->index = i;
        return 0;
    }
    FAIL("is not under a trusted instance (SPACEPORT_TRUSTED_INSTANCES) followed by "
         "/dav/spaces/<driveId>");
}

/* Writes the authority of a parsed URL. */
static int authority_of(const sp_url *u, char *out, size_t outlen)
{
    int v6 = strchr(u->host, ':') != NULL;
    int n;
    if (u->port_explicit && u->port != scheme_default_port(u->scheme))
        n = snprintf(out, outlen, "%s%s%s:%d", v6 ? "[" : "", u->host, v6 ? "]" : "", u->port);
    else
        n = snprintf(out, outlen, "%s%s%s", v6 ? "[" : "", u->host, v6 ? "]" : "");
    return n < 0 || (size_t)n >= outlen ? SP_ERR_INVALID : 0;
}

int sp_instance_authority(const char *base_url, char *out, size_t outlen)
{
    sp_url u;
    const char *why = NULL;
    if (sp_url_parse(base_url, &u, &why) < 0)
        return SP_ERR_INVALID;
    return authority_of(&u, out, outlen);
}

/* Parses the host part of an OCM address as it would appear in a URL of
 * base's scheme. Returns 0 or SP_ERR_INVALID. */
static int address_host(const sp_url *base, const char *address, sp_url *out)
{
    const char *at = strrchr(address, '@');
    if (!at || at == address || !at[1] || strlen(at + 1) >= SP_INSTANCE_AUTHORITY_MAX)
        return SP_ERR_INVALID;
    const char *host = at + 1;
    /* Nextcloud may write the host with a scheme ("bob@https://host"):
     * the scheme says nothing more than the trusted base URL does. */
    if (strncmp(host, "https://", 8) == 0)
        host += 8;
    else if (strncmp(host, "http://", 7) == 0)
        host += 7;
    if (strpbrk(host, "/?#@\\"))
        return SP_ERR_INVALID;
    char url[SP_INSTANCE_AUTHORITY_MAX + 32];
    snprintf(url, sizeof url, "%s://%s", base->scheme, host);
    const char *why = NULL;
    return sp_url_parse(url, out, &why) < 0 ? SP_ERR_INVALID : 0;
}

int sp_instance_by_address(const char *const *instances, size_t count, const char *address,
                           size_t *index)
{
    const char *at = address ? strrchr(address, '@') : NULL;
    if (!at || at == address || !at[1])
        return SP_ERR_INVALID;
    int parsed = 0;
    for (size_t i = 0; i < count; i++) {
        sp_url t, a;
        const char *why = NULL;
        if (sp_url_parse(instances[i], &t, &why) < 0 || address_host(&t, address, &a) < 0)
            continue;
        parsed = 1;
        if (strcmp(t.host, a.host) == 0 && t.port == a.port) {
            *index = i;
            return 0;
        }
    }
    return parsed || count == 0 ? SP_ERR_NOT_FOUND : SP_ERR_INVALID;
}

int sp_instance_address_is(const char *base_url, const char *address)
{
    size_t index;
    return address && sp_instance_by_address(&base_url, 1, address, &index) == 0;
}

int sp_instance_host_entry(const char *entry, char *host, int *port)
{
    if (!entry || !entry[0] || strlen(entry) >= SP_INSTANCE_AUTHORITY_MAX ||
        strpbrk(entry, "/?#@\\"))
        return SP_ERR_INVALID;
    char url[SP_INSTANCE_AUTHORITY_MAX + 16];
    snprintf(url, sizeof url, "https://%s", entry);
    sp_url u;
    const char *why = NULL;
    if (sp_url_parse(url, &u, &why) < 0 || u.path[0] || u.query[0] ||
        strlen(u.host) >= SP_INSTANCE_AUTHORITY_MAX)
        return SP_ERR_INVALID;
    snprintf(host, SP_INSTANCE_AUTHORITY_MAX, "%s", u.host);
    *port = u.port_explicit ? u.port : 0;
    return 0;
}

int sp_instance_match_webhook(const char *const *instances, size_t ninstances,
                              const char *const *hosts, size_t nhosts, const char *url,
                              size_t *slot, const char **why)
{
    sp_url u;
    const char *reason = NULL;
    if (!url || sp_url_parse(url, &u, &reason) < 0)
        FAIL(reason ? reason : "is not a URL");
    if (strcmp(u.scheme, "https") != 0 &&
        !(strcmp(u.scheme, "http") == 0 && sp_url_host_is_loopback(u.host)))
        FAIL("must use https (http only for loopback hosts)");
    for (size_t i = 0; i < ninstances; i++) {
        sp_url t;
        if (sp_url_parse(instances[i], &t, &reason) < 0)
            continue;
        if (strcmp(t.scheme, u.scheme) == 0 && strcmp(t.host, u.host) == 0 && t.port == u.port) {
            if (slot)
                *slot = i;
            return 0;
        }
    }
    for (size_t i = 0; i < nhosts; i++) {
        char host[SP_INSTANCE_AUTHORITY_MAX];
        int port;
        if (sp_instance_host_entry(hosts[i], host, &port) < 0)
            continue;
        if (strcmp(host, u.host) == 0 && (port == 0 || port == u.port)) {
            if (slot)
                *slot = ninstances + i;
            return 0;
        }
    }
    FAIL("is not at a host this instance may notify (SPACEPORT_WEBHOOK_HOSTS or "
         "SPACEPORT_TRUSTED_INSTANCES)");
}
