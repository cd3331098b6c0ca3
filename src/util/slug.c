/* slug.c - names as URL-safe aliases. */
#include "util/slug.h"

void sp_slug(const char *name, char *out, size_t outlen)
{
    size_t n = 0;
    int dash = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p && n + 2 < outlen; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z')) {
            if (dash && n > 0)
                out[n++] = '-';
            out[n++] = (char)(*p | 0x20);
            dash = 0;
        } else {
            dash = 1;
        }
    }
    if (outlen)
        out[n < outlen ? n : outlen - 1] = '\0';
}
