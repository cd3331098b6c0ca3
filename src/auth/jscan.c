/*
 * jscan.c - a reader for the plain subset of JSON that JWT headers and
 * payloads are written in, without allocating.
 *
 * jansson builds a tree with one allocation per value and lexes one
 * character at a time through a callback: on a cache miss, parsing a
 * typical payload cost a third of an RSA-2048 verification. Almost every
 * token is plain: ASCII strings without escapes, integers, literals, small
 * arrays and objects. This reader accepts exactly that and nothing more;
 * for anything else it says "not plain" and the caller hands the text to
 * jansson, which decides. So a text is never judged differently from
 * jansson: what is read here is read as jansson would (a duplicate member,
 * which jansson refuses with JSON_REJECT_DUPLICATES, is "not plain").
 *
 * The plain subset: whitespace (space, tab, CR, LF); strings of the bytes
 * 0x20-0x7e other than '"' and '\'; integers of at most 15 digits without
 * fraction or exponent (exact as doubles, as jansson's integers are);
 * true, false, null; arrays and objects nested at most SP_JS_DEPTH_MAX deep
 * with at most SP_JS_MEMBERS_MAX members per object and no duplicate name.
 */
#include "auth/internal.h"

#include <stdint.h>
#include <string.h>

/* Digits of an integer read here: 15 fit a double exactly (jansson keeps
 * integers as long long and claims read them as doubles). */
#define JS_INT_DIGITS_MAX 15

typedef struct scan {
    const char *p;
    const char *end;
} scan;

static void skip_ws(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* 1 for the bytes a plain string holds as they are: 0x20-0x7e but '"' and
 * '\\'. One lookup per character. */
static const uint8_t plain_char[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, /* 0x70 */
    /* 0x80-0xff: 0 */
};

/* Reads a string at s->p ('"'); its content (between the quotes) goes to
 * *str and *n. Returns 1, or 0 when not plain. */
static int scan_string(scan *s, const char **str, size_t *n)
{
    const char *start = ++s->p;
    const char *p = start;
    while (p < s->end && plain_char[(unsigned char)*p])
        p++;
    if (p >= s->end || *p != '"')
        return 0;
    *str = start;
    *n = (size_t)(p - start);
    s->p = p + 1;
    return 1;
}

/* Reads an integer at s->p. Returns 1 with *v set, or 0 when not plain. */
static int scan_number(scan *s, double *v)
{
    int neg = 0;
    if (*s->p == '-') {
        neg = 1;
        s->p++;
    }
    long long acc = 0;
    int digits = 0;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        if (++digits > JS_INT_DIGITS_MAX)
            return 0;
        acc = acc * 10 + (*s->p - '0');
        s->p++;
    }
    if (digits == 0)
        return 0;
    /* "01" is not JSON; fractions and exponents are left to jansson. */
    if (digits > 1 && s->p[-digits] == '0')
        return 0;
    if (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E'))
        return 0;
    *v = neg ? -(double)acc : (double)acc;
    return 1;
}

static int scan_literal(scan *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return 0;
    s->p += n;
    return 1;
}

static int scan_value(scan *s, int depth, sp_js_val *v);

/* After a member or an element: the closing bracket close (1, consumed),
 * a comma (-1: another item follows, s->p at it), or anything else (0:
 * not plain). */
static int after_item(scan *s, char close)
{
    skip_ws(s);
    if (s->p >= s->end)
        return 0;
    if (*s->p == close) {
        s->p++;
        return 1;
    }
    if (*s->p != ',')
        return 0;
    s->p++;
    skip_ws(s);
    return -1;
}

/* Reads an object at s->p ('{'), recording its members in *o (nested
 * objects too: the names are needed to refuse duplicates). Returns 1, or 0
 * when not plain. */
static int scan_object(scan *s, int depth, sp_js_object *o)
{
    o->count = 0;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 1;
    }
    for (;;) {
        if (s->p >= s->end || *s->p != '"' || o->count == SP_JS_MEMBERS_MAX)
            return 0;
        sp_js_member *m = &o->m[o->count];
        if (!scan_string(s, &m->name, &m->name_len))
            return 0;
        for (size_t i = 0; i < o->count; i++)
            if (o->m[i].name_len == m->name_len &&
                (m->name_len == 0 || (o->m[i].name[0] == m->name[0] &&
                                      memcmp(o->m[i].name, m->name, m->name_len) == 0)))
                return 0;
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return 0;
        s->p++;
        skip_ws(s);
        if (!scan_value(s, depth + 1, &m->v))
            return 0;
        o->count++;
        int next = after_item(s, '}');
        if (next >= 0)
            return next;
    }
}

/* Reads an object inside another value: its members are only needed while
 * it is read (for duplicates), and are looked up later from its span. */
static int scan_nested_object(scan *s, int depth)
{
    sp_js_object members;
    return scan_object(s, depth, &members);
}

/* Reads an array at s->p ('['). Returns 1, or 0 when not plain. */
static int scan_array(scan *s, int depth)
{
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 1;
    }
    for (;;) {
        sp_js_val v;
        if (!scan_value(s, depth + 1, &v))
            return 0;
        int next = after_item(s, ']');
        if (next >= 0)
            return next;
    }
}

/* Reads any value at s->p (no leading whitespace). Returns 1, or 0 when
 * not plain. */
static int scan_value(scan *s, int depth, sp_js_val *v)
{
    if (s->p >= s->end || depth > SP_JS_DEPTH_MAX)
        return 0;
    const char *start = s->p;
    int ok;
    switch (*s->p) {
    case '"':
        v->type = SP_JS_STRING;
        return scan_string(s, &v->s, &v->n);
    case '{':
        v->type = SP_JS_OBJECT;
        ok = scan_nested_object(s, depth);
        break;
    case '[':
        v->type = SP_JS_ARRAY;
        ok = scan_array(s, depth);
        break;
    case 't':
        v->type = SP_JS_TRUE;
        ok = scan_literal(s, "true", 4);
        break;
    case 'f':
        v->type = SP_JS_FALSE;
        ok = scan_literal(s, "false", 5);
        break;
    case 'n':
        v->type = SP_JS_NULL;
        ok = scan_literal(s, "null", 4);
        break;
    default:
        v->type = SP_JS_NUMBER;
        ok = scan_number(s, &v->num);
        break;
    }
    /* Containers and literals: the span, for a later look inside. */
    v->s = start;
    v->n = (size_t)(s->p - start);
    return ok;
}

int sp_auth__js_object(const char *text, size_t len, sp_js_object *obj)
{
    scan s = {text, text + len};
    obj->count = 0;
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{' || !scan_object(&s, 1, obj))
        return 0;
    skip_ws(&s);
    return s.p == s.end;
}

int sp_auth__js_next(const sp_js_val *array, size_t *pos, sp_js_val *elem)
{
    if (array->type != SP_JS_ARRAY)
        return 0;
    /* pos 0 is the opening bracket; later, the separator after the last
     * element read. The array was read whole once, so this cannot fail. */
    scan s = {array->s + (*pos ? *pos : 1), array->s + array->n};
    skip_ws(&s);
    if (s.p < s.end && *s.p == ',') {
        s.p++;
        skip_ws(&s);
    }
    if (s.p >= s.end || *s.p == ']')
        return 0;
    if (!scan_value(&s, 1, elem))
        return 0;
    *pos = (size_t)(s.p - array->s);
    return 1;
}

int sp_auth__js_members(const sp_js_val *v, sp_js_object *obj)
{
    obj->count = 0;
    return v->type == SP_JS_OBJECT && sp_auth__js_object(v->s, v->n, obj);
}
