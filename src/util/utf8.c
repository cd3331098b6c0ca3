/* utf8.c - well-formed UTF-8 text without control characters. */
#include "util/utf8.h"

#include <stdint.h>

int sp_utf8_text(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        uint32_t cp;
        size_t len;
        if (c < 0x80) {
            cp = c;
            len = 1;
        } else if (c >= 0xc2 && c <= 0xdf) {
            cp = c & 0x1f;
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            cp = c & 0x0f;
            len = 3;
        } else if (c >= 0xf0 && c <= 0xf4) {
            cp = c & 0x07;
            len = 4;
        } else {
            return 0; /* a continuation byte, 0xc0/0xc1 (overlong), past U+10FFFF */
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return 0;
        i += len;
    }
    return 1;
}
