/* fuzz_query.c - the OData options of drive listings ($filter, $orderby,
 * $top, $skiptoken, $select, $expand) and the expression parser under
 * them. The input is split at newlines into the six options. */
#include "api/query.h"
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
    const char *opt[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    char *p = s;
    for (int i = 0; i < 6 && p; i++) {
        opt[i] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    sp_drive_options o = {opt[0], opt[1], opt[2], opt[3], opt[4], opt[5]};
    sp_drive_query q;
    sp_drive_filter f;
    sp_odata_error err;
    memset(&err, 0, sizeof err);
    if (sp_query_parse_drives(&o, &q, &f, &err) == 0) {
        if (q.top < 1 || q.top > SP_DRIVE_TOP_MAX)
            abort();
        /* filter values point into f and are NUL-terminated there */
        if ((q.type && q.type != f.type) || (q.id && q.id != f.id))
            abort();
        if (q.after.set) {
            /* A cursor that parsed encodes back and parses again the same. */
            char enc[SP_QUERY_CURSOR_MAX + 1];
            if (sp_query_cursor_encode(q.order, &q.after, enc, sizeof enc) == 0) {
                sp_drive_options o2 = {NULL, NULL, NULL, enc, NULL, NULL};
                sp_drive_query q2;
                sp_drive_filter f2;
                if (sp_query_parse_drives(&o2, &q2, &f2, &err) == 0 &&
                    q.order == SP_DRIVE_ORDER_NAME_ASC &&
                    (strcmp(q2.after.id, q.after.id) || strcmp(q2.after.key, q.after.key)))
                    abort();
            }
        }
    } else if (!err.code || !err.message[0] || (err.status != 400 && err.status != 501)) {
        abort(); /* every refusal says why, with oCIS's status */
    }
    /* Each option alone through the expression parser: a tree that parsed
     * has its root and children inside it. */
    for (int i = 0; i < 6; i++) {
        sp_odata_expr *e;
        if (!opt[i] || sp_odata_parse(opt[i], i == 0, &e, &err) < 0)
            continue;
        const sp_odata_node *r = sp_odata_root(e);
        char v[SP_ODATA_OPTION_MAX + 1];
        if (sp_odata_value(r, v) > SP_ODATA_OPTION_MAX)
            abort();
        for (int k = 0; k < 2; k++)
            if (sp_odata_kid(e, r, k) &&
                sp_odata_value(sp_odata_kid(e, r, k), v) > SP_ODATA_OPTION_MAX)
                abort();
        sp_odata_free(e);
        (void)sp_odata_names(opt[i], "memberOf");
    }
    free(s);
    return 0;
}
