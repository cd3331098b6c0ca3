/* fuzz_query.c - $filter, $orderby, $top and $skiptoken of drive listings.
 * The input is split at newlines into the four options. */
#include "api/query.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    const char *opt[4] = {NULL, NULL, NULL, NULL};
    char *p = s;
    for (int i = 0; i < 4 && p; i++) {
        opt[i] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    sp_drive_query q;
    sp_drive_filter f;
    const char *why = NULL;
    if (sp_query_parse_drives(opt[0], opt[1], opt[2], opt[3], &q, &f, &why) == 0) {
        if (q.top < 1 || q.top > SP_DRIVE_TOP_MAX)
            abort();
        if (q.after.set) {
            /* A cursor that parsed encodes back and parses again the same. */
            char enc[SP_QUERY_CURSOR_MAX + 1];
            if (sp_query_cursor_encode(q.order, &q.after, enc, sizeof enc) == 0) {
                sp_drive_query q2;
                sp_drive_filter f2;
                if (sp_query_parse_drives(NULL, NULL, NULL, enc, &q2, &f2, &why) == 0 &&
                    q.order == SP_DRIVE_ORDER_NAME_ASC &&
                    (strcmp(q2.after.id, q.after.id) || strcmp(q2.after.key, q.after.key)))
                    abort();
            }
        }
    } else if (!why) {
        abort();
    }
    free(s);
    return 0;
}
