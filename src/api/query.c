/*
 * query.c - the query options of drive listings, applied as oCIS's
 * ListDrives applies them.
 *
 * odata.c parses each option as godata does; this file reads the result
 * as oCIS's handler does (services/graph/pkg/service/v0/drives.go):
 * generateCs3Filters takes a $filter whose top operator is `eq` with
 * driveType or id on the left, the right side's value with its quotes
 * trimmed, so 'personal' and personal are the same; an eq on another field
 * is taken and not applied; any other top operator is 501. sortSpaces
 * sorts by name or lastModifiedDateTime when $orderby has exactly one key,
 * is 400 for another key, and leaves several keys unsorted.
 */
#include "api/query.h"

#include "util/base64.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- $filter ---- */

/* An empty option is absent, as godata reads query.Get("$filter") == "". */
static const char *present(const char *s)
{
    return s && *s ? s : NULL;
}

static int is_op(const sp_odata_node *n, const char *op)
{
    return n && n->kind == SP_ODATA_OPERATOR && strcmp(n->name, op) == 0;
}

/* Whether n is `driveType eq <v>` or `id eq <v>`; *is_id tells which. */
static int is_drive_clause(const sp_odata_expr *e, const sp_odata_node *n, int *is_id)
{
    if (!is_op(n, "eq"))
        return 0;
    const sp_odata_node *field = sp_odata_kid(e, n, 0);
    if (field->kind != SP_ODATA_NAME)
        return 0;
    *is_id = field->len == 2 && strncmp(field->text, "id", 2) == 0;
    return *is_id || (field->len == 9 && strncmp(field->text, "driveType", 9) == 0);
}

/* Whether n is drive clauses joined by `and` (Spaceport's addition: oCIS
 * answers 501 to any `and`, though both filters can be applied at once). */
static int all_drive_clauses(const sp_odata_expr *e, const sp_odata_node *n)
{
    int is_id;
    if (is_op(n, "and"))
        return all_drive_clauses(e, sp_odata_kid(e, n, 0)) &&
               all_drive_clauses(e, sp_odata_kid(e, n, 1));
    return is_drive_clause(e, n, &is_id);
}

/* Keeps value v for a field; a value too long to be any drive's, or a
 * second different value for the same field, matches nothing (""). */
static void keep_value(char *dst, size_t cap, int *seen, const char *v, size_t vlen)
{
    if (vlen >= cap || (*seen && strcmp(dst, v) != 0))
        dst[0] = '\0';
    else
        memcpy(dst, v, vlen + 1);
    *seen = 1;
}

static void apply_clauses(const sp_odata_expr *e, const sp_odata_node *n, sp_drive_filter *f,
                          int seen[2])
{
    if (is_op(n, "and")) {
        apply_clauses(e, sp_odata_kid(e, n, 0), f, seen);
        apply_clauses(e, sp_odata_kid(e, n, 1), f, seen);
        return;
    }
    int is_id = 0;
    is_drive_clause(e, n, &is_id);
    char v[SP_ODATA_OPTION_MAX + 1];
    size_t vlen = sp_odata_value(sp_odata_kid(e, n, 1), v);
    if (is_id)
        keep_value(f->id, sizeof f->id, &seen[1], v, vlen);
    else
        keep_value(f->type, sizeof f->type, &seen[0], v, vlen);
}

static int parse_filter(const char *filter, sp_drive_query *q, sp_drive_filter *f,
                        sp_odata_error *err)
{
    sp_odata_expr *e;
    if (sp_odata_parse(filter, 1, &e, err) < 0)
        return SP_ERR_INVALID;
    const sp_odata_node *root = sp_odata_root(e);
    int seen[2] = {0, 0}, rc = 0;
    if (all_drive_clauses(e, root)) {
        apply_clauses(e, root, f, seen);
    } else if (!is_op(root, "eq")) {
        char op[SP_ODATA_OPTION_MAX + 1];
        sp_odata_value(root, op);
        rc = sp_odata_fail(err, 501, "unsupported filter operand: %.100s", op);
    }
    sp_odata_free(e);
    q->type = seen[0] ? f->type : NULL;
    q->id = seen[1] ? f->id : NULL;
    return rc;
}

/* ---- $orderby ---- */

static int parse_orderby(const char *s, sp_drive_order *order, sp_odata_error *err)
{
    char field[SP_ODATA_OPTION_MAX + 1];
    int desc, count;
    if (sp_odata_parse_orderby(s, field, &desc, &count, err) < 0)
        return SP_ERR_INVALID;
    if (count != 1) /* several keys: oCIS leaves the order as it is */
        return 0;
    if (strcmp(field, "name") == 0)
        *order = desc ? SP_DRIVE_ORDER_NAME_DESC : SP_DRIVE_ORDER_NAME_ASC;
    else if (strcmp(field, "lastModifiedDateTime") == 0)
        *order = desc ? SP_DRIVE_ORDER_MTIME_DESC : SP_DRIVE_ORDER_MTIME_ASC;
    else
        return sp_odata_fail(err, 400, "we do not support <%.100s> as a order parameter", field);
    return 0;
}

int sp_query_parse_order(const char *orderby, const char *const *keys, size_t nkeys,
                         const char **key, int *desc, sp_odata_error *err)
{
    char field[SP_ODATA_OPTION_MAX + 1];
    int count;
    *key = NULL;
    *desc = 0;
    if (!present(orderby))
        return 0;
    if (sp_odata_parse_orderby(orderby, field, desc, &count, err) < 0)
        return SP_ERR_INVALID;
    if (count != 1) /* several keys: oCIS's sortUsers leaves the order as it is */
        return 0;
    for (size_t i = 0; i < nkeys; i++)
        if (strcmp(field, keys[i]) == 0)
            *key = keys[i];
    if (!*key)
        return sp_odata_fail(err, 400, "we do not support <%.100s> as a order parameter", field);
    return 0;
}

/* ---- paging ---- */

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

int sp_query_parse_drives(const sp_drive_options *opt, sp_drive_query *q, sp_drive_filter *f,
                          sp_odata_error *err)
{
    memset(q, 0, sizeof *q);
    memset(f, 0, sizeof *f);
    q->order = SP_DRIVE_ORDER_NAME_ASC;
    q->top = SP_DRIVE_TOP_MAX;
    const char *filter = present(opt->filter), *orderby = present(opt->orderby);
    const char *top = present(opt->top), *skiptoken = present(opt->skiptoken);
    if (filter && parse_filter(filter, q, f, err) < 0)
        return SP_ERR_INVALID;
    if (orderby && parse_orderby(orderby, &q->order, err) < 0)
        return SP_ERR_INVALID;
    if (sp_odata_check_select(opt->select, err) < 0 || sp_odata_check_expand(opt->expand, err) < 0)
        return SP_ERR_INVALID;
    if (top) {
        char *end;
        long long v = strtoll(top, &end, 10);
        if (*end || v < 1)
            return sp_odata_fail(err, 400,
                                 "$top must be a positive integer (at most %d are returned)",
                                 SP_DRIVE_TOP_MAX);
        q->top = v > SP_DRIVE_TOP_MAX ? SP_DRIVE_TOP_MAX : (int)v;
    }
    if (skiptoken && cursor_decode(skiptoken, q->order, &q->after) < 0)
        return sp_odata_fail(err, 400,
                             "$skiptoken is not valid for this listing; start again without it");
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
