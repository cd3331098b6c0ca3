/*
 * db_pg_sql.c - the text work of the PostgreSQL backend (db_pg.c), which
 * needs no server: renumbering SQLite's parameters, telling a COMMIT, and
 * taking the password out of a location before it is logged.
 */
#include "store/db_pg_sql.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* PostgreSQL's own limit on a statement's parameters (a 16-bit count in
 * the Bind message). */
#define PG_PARAMS_MAX 65535
/* The longest $tag$ of a dollar-quoted string copied as one. */
#define PG_DOLLAR_TAG_MAX 64

/* The most passwords a location is searched for: a URL's userinfo and its
 * query, or keywords, give one each; more would be a mistake of the
 * operator, and those past the limit are still cut by the keyword rule. */
#define PG_SECRETS_MAX 8

typedef struct {
    const char *at;
    size_t len;
} secret_span;

/* Finds the passwords in location: the one of a URL's userinfo, and each
 * value of a password= query parameter or keyword (without its quotes).
 * Returns how many it put into spans (at most max). */
static int find_secrets(const char *location, secret_span *spans, int max)
{
    int n = 0;
    const char *scheme = strstr(location, "://");
    if (scheme) {
        /* user:password@ before the first '@'; the password runs to the
         * last '@', as one typed without percent-encoding may hold '@',
         * '/', '?' or '#' (libpq then reads part of it as a host or port,
         * and may quote that part: a second span). */
        const char *auth = scheme + 3;
        const char *first_at = strchr(auth, '@'), *last_at = strrchr(auth, '@');
        const char *colon = first_at ? memchr(auth, ':', (size_t)(first_at - auth)) : NULL;
        if (colon && n < max)
            spans[n++] = (secret_span){colon + 1, (size_t)(last_at - colon - 1)};
        size_t head = colon ? strcspn(colon + 1, "/?#@") : 0;
        if (colon && head > 0 && head < (size_t)(last_at - colon - 1) && n < max)
            spans[n++] = (secret_span){colon + 1, head};
    }
    for (const char *p = location; *p && n < max; p++) {
        /* password=... as a URL query parameter or a keyword (which may
         * have spaces around its '='), and sslpassword=..., the client
         * key's passphrase */
        size_t kw = strncasecmp(p, "sslpassword", 11) == 0 ? 11
                    : strncasecmp(p, "password", 8) == 0   ? 8
                                                           : 0;
        if (kw == 0 ||
            !(p == location || p[-1] == '?' || p[-1] == '&' || isspace((unsigned char)p[-1])))
            continue;
        const char *v = p + kw;
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v != '=')
            continue;
        for (v++; *v == ' ' || *v == '\t'; v++)
            ;
        const char *e;
        if (*v == '\'') { /* a quoted keyword value */
            for (e = ++v; *e && *e != '\''; e++)
                if (*e == '\\' && e[1])
                    e++;
        } else {
            e = v + strcspn(v, "& \t\n");
        }
        spans[n++] = (secret_span){v, (size_t)(e - v)};
        p = e > p ? e - 1 : p;
    }
    return n;
}

/* Copies text into out with one of location's passwords replaced by "***"
 * wherever it appears (where it stands, when text is location itself);
 * out is always terminated, cut when too long. */
static void redact_with(const char *location, const char *text, char *out, size_t outlen)
{
    secret_span spans[PG_SECRETS_MAX];
    int n = find_secrets(location, spans, PG_SECRETS_MAX);
    size_t o = 0;
    for (const char *p = text; *p && o + 1 < outlen;) {
        int hit = -1;
        for (int i = 0; i < n && hit < 0; i++)
            if (spans[i].len > 0 &&
                (text == location ? p == spans[i].at : strncmp(p, spans[i].at, spans[i].len) == 0))
                hit = i;
        if (hit < 0) {
            out[o++] = *p++;
            continue;
        }
        for (const char *r = "***"; *r && o + 1 < outlen; r++)
            out[o++] = *r;
        p += spans[hit].len;
    }
    out[o] = '\0';
}

void sp_db_pg_redact(const char *location, char *out, size_t outlen)
{
    redact_with(location, location, out, outlen);
}

void sp_db_pg_redact_message(const char *location, const char *message, char *out, size_t outlen)
{
    redact_with(location, message, out, outlen);
}

/* Whether sql begins with the keyword w (any case). */
static int word(const char *sql, const char *w)
{
    size_t n = strlen(w);
    return strncasecmp(sql, w, n) == 0 && !isalnum((unsigned char)sql[n]) && sql[n] != '_';
}

int sp_db_pg_first_word(const char *sql, const char *w)
{
    while (isspace((unsigned char)*sql))
        sql++;
    return word(sql, w);
}

int sp_db_pg_commits(const char *sql)
{
    while (isspace((unsigned char)*sql))
        sql++;
    if (word(sql, "COMMIT") || word(sql, "END"))
        return 1;
    for (const char *p = strchr(sql, ';'); p; p = strchr(p + 1, ';')) {
        const char *q = p + 1;
        while (isspace((unsigned char)*q))
            q++;
        if (word(q, "COMMIT"))
            return 1;
    }
    return 0;
}

char *sp_db_pg_renumber(const char *sql, int *count)
{
    size_t len = strlen(sql);
    /* Each ? (one byte) grows at most to '$' and five digits. */
    char *out = malloc(len * 6 + 1);
    if (!out)
        return NULL;
    char *o = out;
    int max = 0;
    const char *p = sql;
    while (*p) {
        if (*p == '\'' || *p == '"') {
            /* Doubled quotes inside read as leaving and entering again. */
            char q = *p;
            const char *end = strchr(p + 1, q);
            size_t n = end ? (size_t)(end - p) + 1 : strlen(p);
            memcpy(o, p, n);
            o += n;
            p += n;
        } else if (p[0] == '-' && p[1] == '-') {
            size_t n = strcspn(p, "\n");
            memcpy(o, p, n);
            o += n;
            p += n;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            size_t n = end ? (size_t)(end - p) + 2 : strlen(p);
            memcpy(o, p, n);
            o += n;
            p += n;
        } else if (*p == '$' && (p == sql || !(isalnum((unsigned char)p[-1]) || p[-1] == '_'))) {
            if (isdigit((unsigned char)p[1])) { /* already $NNN */
                char *end;
                long v = strtol(p + 1, &end, 10);
                if (v < 1 || v > PG_PARAMS_MAX)
                    goto fail;
                if (v > max)
                    max = (int)v;
                memcpy(o, p, (size_t)(end - p));
                o += end - p;
                p = end;
                continue;
            }
            /* $tag$ ... $tag$ */
            size_t t = 1;
            while (isalnum((unsigned char)p[t]) || p[t] == '_')
                t++;
            if (p[t] != '$') {
                *o++ = *p++;
                continue;
            }
            char tag[PG_DOLLAR_TAG_MAX];
            if (t + 1 >= sizeof tag)
                goto fail;
            memcpy(tag, p, t + 1);
            tag[t + 1] = '\0';
            const char *end = strstr(p + t + 1, tag);
            size_t n = end ? (size_t)(end - p) + t + 1 : strlen(p);
            memcpy(o, p, n);
            o += n;
            p += n;
        } else if (*p == '?') {
            long v;
            if (isdigit((unsigned char)p[1])) {
                char *end;
                v = strtol(p + 1, &end, 10);
                p = end;
            } else {
                v = max + 1;
                p++;
            }
            if (v < 1 || v > PG_PARAMS_MAX)
                goto fail;
            if (v > max)
                max = (int)v;
            o += sprintf(o, "$%ld", v);
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    *count = max;
    return out;
fail:
    free(out);
    return NULL;
}

void sp_db_pg_elide_quoted(char *msg)
{
    char *o = msg;
    for (const char *p = msg; *p;) {
        if (*p != '"') {
            *o++ = *p++;
            continue;
        }
        const char *end = strchr(p + 1, '"');
        if (!end) /* cut short: the rest may be the secret too */
            end = p + strlen(p) - 1;
        /* "..." is five bytes: never longer than what it replaces, as a
         * quoted piece is at least two; a short one is cut to fit. */
        size_t n = (size_t)(end - p) + 1;
        memcpy(o, "\"...\"", n < 5 ? n : 5);
        o += n < 5 ? n : 5;
        p = end + 1;
    }
    *o = '\0';
}
