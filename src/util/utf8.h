/*
 * utf8.h - telling text from bytes.
 *
 * Strings that travel on as text (CloudEvents attributes, item ids that
 * end up in URLs and JSON) must be well-formed UTF-8 without control
 * characters: a lenient reader elsewhere would decode an overlong form or
 * a lone surrogate into something this side never checked.
 */
#ifndef SP_UTIL_UTF8_H
#define SP_UTIL_UTF8_H

#include <stddef.h>

/* Returns non-zero when the n bytes at s are UTF-8 (no overlong forms,
 * surrogates or code points past U+10FFFF) with no control characters
 * (U+0000-U+001F, U+007F-U+009F). */
int sp_utf8_text(const unsigned char *s, size_t n);

#endif
