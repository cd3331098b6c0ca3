/*
 * buf.h - a growable byte buffer, always NUL-terminated.
 *
 * Used for request bodies, JSON text and log lines. A zeroed sp_buf is an
 * empty buffer; sp_buf_free releases it and leaves it empty again.
 */
#ifndef SP_UTIL_BUF_H
#define SP_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct sp_buf {
    char *data; /* owned; NULL while nothing was appended */
    size_t len; /* bytes used, not counting the terminating NUL */
    size_t cap; /* bytes allocated */
} sp_buf;

/* Appends len bytes. Returns 0 or SP_ERR_NOMEM (the buffer is unchanged). */
int sp_buf_append(sp_buf *b, const void *data, size_t len);
/* Appends a NUL-terminated string. */
int sp_buf_puts(sp_buf *b, const char *s);
/* Appends printf-formatted text. */
int sp_buf_printf(sp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sp_buf_vprintf(sp_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Appends s as the inside of a JSON string (quotes not included). */
int sp_buf_json_escape(sp_buf *b, const char *s);
/* Empties the buffer but keeps its memory. */
void sp_buf_reset(sp_buf *b);
/* Releases the memory; the buffer is empty and reusable afterwards. */
void sp_buf_free(sp_buf *b);
/* Hands the data to the caller (new; free() it) and empties the buffer.
 * Returns an empty string, not NULL, when nothing was appended (or NULL on
 * allocation failure). */
char *sp_buf_steal(sp_buf *b);

#endif
