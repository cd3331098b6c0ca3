/* buf.c - growable byte buffer. */
#include "buf.h"

#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* First allocation; small enough for log lines, doubled as needed. */
#define SP_BUF_MIN_CAP 128

static int reserve(sp_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : SP_BUF_MIN_CAP;
    while (cap < b->len + extra + 1) {
        if (cap > ((size_t)-1) / 2)
            return SP_ERR_NOMEM;
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p)
        return SP_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int sp_buf_append(sp_buf *b, const void *data, size_t len)
{
    if (reserve(b, len) < 0)
        return SP_ERR_NOMEM;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int sp_buf_puts(sp_buf *b, const char *s)
{
    return sp_buf_append(b, s, strlen(s));
}

int sp_buf_vprintf(sp_buf *b, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return SP_ERR_INVALID;
    if (reserve(b, (size_t)n) < 0)
        return SP_ERR_NOMEM;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int sp_buf_printf(sp_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sp_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int sp_buf_json_escape(sp_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[7];
        size_t n = 0;
        switch (*p) {
        case '"': esc[0] = '\\', esc[1] = '"', n = 2; break;
        case '\\': esc[0] = '\\', esc[1] = '\\', n = 2; break;
        case '\n': esc[0] = '\\', esc[1] = 'n', n = 2; break;
        case '\r': esc[0] = '\\', esc[1] = 'r', n = 2; break;
        case '\t': esc[0] = '\\', esc[1] = 't', n = 2; break;
        default:
            if (*p < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[*p >> 4];
                esc[5] = hex[*p & 15];
                n = 6;
            } else {
                esc[0] = (char)*p;
                n = 1;
            }
        }
        if (sp_buf_append(b, esc, n) < 0)
            return SP_ERR_NOMEM;
    }
    return 0;
}

void sp_buf_reset(sp_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void sp_buf_free(sp_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *sp_buf_steal(sp_buf *b)
{
    char *p = b->data ? b->data : strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
