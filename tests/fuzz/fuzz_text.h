/* fuzz_text.h - the fuzzer's input as the C string the code under test
 * reads: a copy with a NUL after it (the input itself is not terminated). */
#ifndef SP_FUZZ_TEXT_H
#define SP_FUZZ_TEXT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Returns a malloc'd NUL-terminated copy of data, or NULL. */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s) {
        memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

#endif
