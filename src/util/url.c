/* url.c - strict absolute URL parser. */
#include "url.h"

#include "err.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static int default_port(const char *scheme)
{
    if (strcmp(scheme, "http") == 0)
        return 80;
    if (strcmp(scheme, "https") == 0)
        return 443;
    if (strcmp(scheme, "nats") == 0)
        return 4222;
    return 0;
}

int sp_url_host_is_loopback(const char *host)
{
    if (strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0)
        return 1;
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) == 1)
        return (ntohl(a.s_addr) >> 24) == 127;
    return 0;
}

#define FAIL(reason)                                                                              \
    do {                                                                                          \
        if (why)                                                                                  \
            *why = reason;                                                                        \
        return SP_ERR_INVALID;                                                                    \
    } while (0)

int sp_url_parse(const char *s, sp_url *out, const char **why)
{
    memset(out, 0, sizeof *out);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c <= 0x20 || *c >= 0x7f || *c == '\\')
            FAIL("contains a space, control, backslash or non-ASCII character");
    }
    const char *p = s;
    size_t n = 0;
    while (isalpha((unsigned char)p[n]) && n < sizeof out->scheme - 1)
        n++;
    if (n == 0 || strncmp(p + n, "://", 3) != 0)
        FAIL("is not an absolute URL (scheme://host)");
    for (size_t i = 0; i < n; i++)
        out->scheme[i] = (char)tolower((unsigned char)p[i]);
    p += n + 3;

    const char *auth_end = p + strcspn(p, "/?#");
    if (memchr(p, '@', (size_t)(auth_end - p)))
        FAIL("must not contain user-info (user@host)");
    if (strchr(s, '#'))
        FAIL("must not contain a fragment (#)");

    const char *host = p, *host_end, *port = NULL;
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(auth_end - p));
        if (!close)
            FAIL("has an unterminated IPv6 literal");
        host = p + 1;
        host_end = close;
        if (close + 1 < auth_end) {
            if (close[1] != ':')
                FAIL("has garbage after the IPv6 literal");
            port = close + 2;
        }
        size_t hl = (size_t)(host_end - host);
        if (hl == 0 || hl >= SP_URL_HOST_MAX)
            FAIL("has a malformed IPv6 literal");
        for (size_t i = 0; i < hl; i++)
            out->host[i] = (char)tolower((unsigned char)host[i]);
        struct in6_addr a6;
        if (inet_pton(AF_INET6, out->host, &a6) != 1)
            FAIL("has a malformed IPv6 literal");
        out->host_is_ip = 1;
    } else {
        const char *colon = memchr(p, ':', (size_t)(auth_end - p));
        host_end = colon ? colon : auth_end;
        if (colon)
            port = colon + 1;
        size_t hl = (size_t)(host_end - host);
        if (hl == 0)
            FAIL("has an empty host");
        if (hl >= SP_URL_HOST_MAX)
            FAIL("has a host name that is too long");
        for (size_t i = 0; i < hl; i++) {
            char c = host[i];
            if (!isalnum((unsigned char)c) && c != '-' && c != '.')
                FAIL("has a character not allowed in a host name");
            out->host[i] = (char)tolower((unsigned char)c);
        }
        if (out->host[0] == '.' || out->host[0] == '-' || strstr(out->host, ".."))
            FAIL("has a malformed host name");
        struct in_addr a4;
        if (inet_pton(AF_INET, out->host, &a4) == 1) {
            out->host_is_ip = 1;
        } else {
            /* Every label all digits (or hex) would be read as a number by
             * some resolvers ("0x7f000001", "2130706433"): refuse it. */
            const char *last = strrchr(out->host, '.');
            last = last ? last + 1 : out->host;
            int numeric = *last != '\0';
            for (const char *c = last; *c; c++) {
                if (!isxdigit((unsigned char)*c) && *c != 'x')
                    numeric = 0;
            }
            if (numeric && (isdigit((unsigned char)*last)))
                FAIL("has a numeric host that is not a dotted IPv4 address");
        }
    }
    if (port) {
        size_t pl = (size_t)(auth_end - port);
        if (pl == 0 || pl > 5)
            FAIL("has a malformed port");
        long v = 0;
        for (size_t i = 0; i < pl; i++) {
            if (!isdigit((unsigned char)port[i]))
                FAIL("has a malformed port");
            v = v * 10 + (port[i] - '0');
        }
        if (v < 1 || v > 65535)
            FAIL("has a port outside 1-65535");
        out->port = (int)v;
        out->port_explicit = 1;
    } else {
        out->port = default_port(out->scheme);
    }

    p = auth_end;
    const char *q = strchr(p, '?');
    size_t path_len = q ? (size_t)(q - p) : strlen(p);
    if (path_len >= SP_URL_PATH_MAX)
        FAIL("has a path that is too long");
    memcpy(out->path, p, path_len);
    if (q) {
        if (strlen(q + 1) >= SP_URL_PATH_MAX)
            FAIL("has a query that is too long");
        strcpy(out->query, q + 1);
    }
    return 0;
}

int sp_url_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sp_url_encode(sp_buf *b, const char *s, const char *keep)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)s; rc == 0 && *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p) || (*p > 0x20 && *p < 0x7f && strchr(keep, *p)))
            rc = sp_buf_append(b, p, 1);
        else
            rc = sp_buf_printf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
    }
    return rc;
}
