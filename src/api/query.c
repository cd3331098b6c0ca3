/*
 * query.c - OData query options of drive listings.
 *
 * Supported, and said so in every 400:
 *   $filter   driveType eq '<type>' | id eq '<id>', optionally joined by "and"
 *   $orderby  name | lastModifiedDateTime, followed by asc or desc
 *   $top      1..1000 (larger values are clamped)
 */
#include "api/query.h"

#include "util/base64.h"
#include "util/err.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FILTER_HELP                                                                               \
    "unsupported $filter; supported: driveType eq 'personal|project|mountpoint|virtual', "        \
    "id eq '<id>', joined by 'and'"
#define ORDER_HELP                                                                                \
    "unsupported $orderby; supported: name or lastModifiedDateTime, optionally asc or desc"

static const char *skip_ws(const char *p)
{
    while (*p == ' ')
        p++;
    return p;
}

/* Parses "<field> eq '<value>'" at *p; advances past it. */
static int parse_clause(const char **pp, sp_drive_filter *f)
{
    const char *p = skip_ws(*pp);
    const char *field = p;
    while (isalpha((unsigned char)*p))
        p++;
    size_t flen = (size_t)(p - field);
    p = skip_ws(p);
    if (strncasecmp(p, "eq", 2) != 0 || p[2] != ' ')
        return SP_ERR_INVALID;
    p = skip_ws(p + 3);
    if (*p != '\'')
        return SP_ERR_INVALID;
    const char *value = ++p;
    const char *end = strchr(value, '\'');
    if (!end)
        return SP_ERR_INVALID;
    size_t vlen = (size_t)(end - value);
    if (flen == 9 && strncmp(field, "driveType", 9) == 0) {
        static const char *const types[] = {"personal", "project", "mountpoint", "virtual"};
        int ok = 0;
        for (size_t i = 0; i < 4; i++)
            ok |= strlen(types[i]) == vlen && strncmp(types[i], value, vlen) == 0;
        if (!ok || f->type[0])
            return SP_ERR_INVALID;
        memcpy(f->type, value, vlen);
        f->type[vlen] = '\0';
    } else if (flen == 2 && strncmp(field, "id", 2) == 0) {
        if (vlen == 0 || vlen >= sizeof f->id || f->id[0])
            return SP_ERR_INVALID;
        memcpy(f->id, value, vlen);
        f->id[vlen] = '\0';
    } else {
        return SP_ERR_INVALID;
    }
    *pp = end + 1;
    return 0;
}

static int parse_filter(const char *filter, sp_drive_filter *f)
{
    const char *p = filter;
    for (;;) {
        if (parse_clause(&p, f) < 0)
            return SP_ERR_INVALID;
        p = skip_ws(p);
        if (!*p)
            return 0;
        if (strncasecmp(p, "and ", 4) != 0)
            return SP_ERR_INVALID;
        p += 4;
    }
}

static int parse_orderby(const char *s, sp_drive_order *order)
{
    const char *p = skip_ws(s);
    int mtime;
    if (strncmp(p, "name", 4) == 0) {
        mtime = 0;
        p += 4;
    } else if (strncmp(p, "lastModifiedDateTime", 20) == 0) {
        mtime = 1;
        p += 20;
    } else {
        return SP_ERR_INVALID;
    }
    int desc = 0;
    if (*p == ' ') {
        p = skip_ws(p);
        if (strcasecmp(p, "desc") == 0 || strncasecmp(p, "desc ", 5) == 0)
            desc = 1, p += 4;
        else if (strcasecmp(p, "asc") == 0 || strncasecmp(p, "asc ", 4) == 0)
            p += 3;
        else if (*p)
            return SP_ERR_INVALID;
        p = skip_ws(p);
    }
    if (*p)
        return SP_ERR_INVALID;
    *order = (sp_drive_order)((mtime ? 2 : 0) + desc);
    return 0;
}

int sp_query_cursor_encode(sp_drive_order order, const sp_drive_cursor *next, char *out,
                           size_t outlen)
{
    char raw[sizeof next->key + sizeof next->id + 8];
    int n = snprintf(raw, sizeof raw, "%d\n%s\n%s", (int)order, next->id, next->key);
    if (n < 0 || (size_t)n >= sizeof raw)
        return SP_ERR_TOO_LARGE;
    return sp_base64url_encode(raw, (size_t)n, out, outlen);
}

static int cursor_decode(const char *s, sp_drive_order order, sp_drive_cursor *c)
{
    char raw[SP_QUERY_CURSOR_MAX];
    size_t n;
    if (strlen(s) > SP_QUERY_CURSOR_MAX || sp_base64url_decode(s, raw, sizeof raw - 1, &n) < 0)
        return SP_ERR_INVALID;
    raw[n] = '\0';
    if (memchr(raw, '\0', n))
        return SP_ERR_INVALID;
    char *nl1 = strchr(raw, '\n');
    char *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
    if (!nl1 || !nl2 || nl1 == raw)
        return SP_ERR_INVALID;
    *nl1 = *nl2 = '\0';
    char *end;
    long o = strtol(raw, &end, 10);
    if (*end || o != (long)order) /* a cursor belongs to its order */
        return SP_ERR_INVALID;
    size_t idlen = strlen(nl1 + 1), keylen = strlen(nl2 + 1);
    if (idlen == 0 || idlen >= sizeof c->id || keylen >= sizeof c->key)
        return SP_ERR_INVALID;
    if (order == SP_DRIVE_ORDER_MTIME_ASC || order == SP_DRIVE_ORDER_MTIME_DESC) {
        strtoll(nl2 + 1, &end, 10);
        if (keylen == 0 || *end)
            return SP_ERR_INVALID;
    }
    memcpy(c->id, nl1 + 1, idlen + 1);
    memcpy(c->key, nl2 + 1, keylen + 1);
    c->set = 1;
    return 0;
}

int sp_query_parse_drives(const char *filter, const char *orderby, const char *top,
                          const char *skiptoken, sp_drive_query *q, sp_drive_filter *f,
                          const char **why)
{
    memset(q, 0, sizeof *q);
    memset(f, 0, sizeof *f);
    q->order = SP_DRIVE_ORDER_NAME_ASC;
    q->top = SP_DRIVE_TOP_MAX;
    if (filter) {
        if (strlen(filter) > SP_QUERY_OPTION_MAX || parse_filter(filter, f) < 0) {
            *why = FILTER_HELP;
            return SP_ERR_INVALID;
        }
        q->type = f->type[0] ? f->type : NULL;
        q->id = f->id[0] ? f->id : NULL;
    }
    if (orderby && (strlen(orderby) > SP_QUERY_OPTION_MAX || parse_orderby(orderby, &q->order) < 0)) {
        *why = ORDER_HELP;
        return SP_ERR_INVALID;
    }
    if (top) {
        char *end;
        long long v = strtoll(top, &end, 10);
        if (!*top || *end || v < 1) {
            *why = "$top must be a positive integer (at most 1000 are returned)";
            return SP_ERR_INVALID;
        }
        q->top = v > SP_DRIVE_TOP_MAX ? SP_DRIVE_TOP_MAX : (int)v;
    }
    if (skiptoken && cursor_decode(skiptoken, q->order, &q->after) < 0) {
        *why = "$skiptoken is not valid for this listing; start again without it";
        return SP_ERR_INVALID;
    }
    return 0;
}

int sp_query_parse_event_id(const char *s, int64_t *out)
{
    /* 18 digits cannot overflow int64_t; sequence numbers never get close. */
    if (!s || !*s || strlen(s) > 18)
        return SP_ERR_INVALID;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return SP_ERR_INVALID;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 0;
}
