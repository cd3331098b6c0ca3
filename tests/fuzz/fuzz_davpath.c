/* fuzz_davpath.c - the WebDAV request target read before every file
 * request (util/davpath): its decoding buffer is on the stack. */
#include "util/davpath.h"
#include "fuzz_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_text(data, size);
    if (!s)
        return 0;
    char drive[SP_ID_LEN];
    const char *why = NULL;
    if (sp_davpath_drive(s, drive, &why) == 0) {
        /* What it accepts names a drive id: 36 characters of a lower-case
         * UUID, and a path without a dot segment. */
        if (strlen(drive) != SP_ID_LEN - 1 || strspn(drive, "0123456789abcdef-") != SP_ID_LEN - 1)
            abort();
        /* A path it accepts is within itself (a COPY onto itself). */
        if (!sp_davpath_within(s, s))
            abort();
        s[strcspn(s, "?")] = '\0'; /* the path alone */
        size_t len = strlen(s);
        if (strstr(s, "/../") || strstr(s, "/./") || (len >= 3 && !strcmp(s + len - 3, "/..")) ||
            (len >= 2 && !strcmp(s + len - 2, "/.")))
            abort();
    } else if (!why) {
        abort(); /* a refusal always says why */
    }
    free(s);
    return 0;
}
