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

void sp_db_pg_redact(const char *location, char *out, size_t outlen)
{
    size_t o = 0;
    const char *p = location;
    const char *scheme = strstr(location, "://");
    const char *userinfo_end = NULL, *pass = NULL;
    if (scheme) {
        const char *auth = scheme + 3;
        size_t n = strcspn(auth, "/?#");
        const char *at = memrchr(auth, '@', n);
        if (at) {
            const char *colon = memchr(auth, ':', (size_t)(at - auth));
            if (colon) {
                pass = colon + 1;
                userinfo_end = at;
            }
        }
    }
    while (*p && o + 1 < outlen) {
        if (p == pass) {
            for (const char *r = "***"; *r && o + 1 < outlen; r++)
                out[o++] = *r;
            p = userinfo_end;
            continue;
        }
        /* password=... as a URL query parameter or a keyword (which may
         * have spaces around its '=') */
        size_t eq = 8;
        int keyword =
            strncasecmp(p, "password", 8) == 0 &&
            (p == location || p[-1] == '?' || p[-1] == '&' || isspace((unsigned char)p[-1]));
        while (keyword && (p[eq] == ' ' || p[eq] == '\t'))
            eq++;
        if (keyword && p[eq] == '=') {
            for (const char *r = "password=***"; *r && o + 1 < outlen; r++)
                out[o++] = *r;
            p += eq + 1;
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p == '\'') { /* a quoted keyword value */
                for (p++; *p && *p != '\''; p++)
                    if (*p == '\\' && p[1])
                        p++;
                if (*p)
                    p++;
            } else {
                p += strcspn(p, "& \t\n");
            }
            continue;
        }
        out[o++] = *p++;
    }
    out[o] = '\0';
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
