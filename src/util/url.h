/*
 * url.h - a strict parser for absolute http(s) and nats URLs.
 *
 * Strict on purpose: it is the gate in front of every outbound connection
 * (issuers, trusted instances, the bus). It rejects user-info, fragments,
 * control characters, spaces and backslashes rather than guessing what a
 * lenient parser elsewhere would make of them.
 */
#ifndef SP_UTIL_URL_H
#define SP_UTIL_URL_H

#include "util/buf.h"

/* Host names are at most 253 characters (RFC 1035) plus brackets for IPv6. */
#define SP_URL_HOST_MAX 256
/* Longest path and query we accept in a configured or registered URL. */
#define SP_URL_PATH_MAX 2048

typedef struct sp_url {
    char scheme[16];              /* lower case: "http", "https", "nats" */
    char host[SP_URL_HOST_MAX];   /* lower case; IPv6 without brackets */
    int port;                     /* explicit, or the scheme's default */
    int port_explicit;            /* non-zero when the URL named a port */
    int host_is_ip;               /* IPv4 dotted quad or IPv6 literal */
    char path[SP_URL_PATH_MAX];   /* "" or starting with '/' */
    char query[SP_URL_PATH_MAX];  /* without '?'; "" when absent */
} sp_url;

/*
 * Parses s into *out. Returns 0, or SP_ERR_INVALID with a short reason in
 * *why (static string) when the URL is not absolute, has user-info, a
 * fragment, an empty or malformed host, a bad port or forbidden characters.
 */
int sp_url_parse(const char *s, sp_url *out, const char **why);

/* Returns non-zero for localhost, 127.0.0.0/8 and ::1. */
int sp_url_host_is_loopback(const char *host);

/* What a path segment may hold unencoded besides the unreserved
 * characters (RFC 3986 pchar: sub-delims, ':' and '@'): ids such as
 * "storage$space!node" stay readable. */
#define SP_URL_SEGMENT_KEEP "!$&'()*+,;=:@"

/*
 * Appends s to b percent-encoded: unreserved characters (ALPHA DIGIT - . _
 * ~) and the printable ASCII characters in keep stay, every other byte
 * becomes %XX (upper-case hex). keep "" encodes a query value;
 * SP_URL_SEGMENT_KEEP a path segment. Returns 0 or SP_ERR_NOMEM.
 */
int sp_url_encode(sp_buf *b, const char *s, const char *keep);

/* The value of the hexadecimal digit c (either case), or -1: for
 * percent-decoding. */
int sp_url_hex(char c);

#endif
