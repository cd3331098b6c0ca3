/* itemid.c - item ids that belong to their drive. */
#include "util/itemid.h"

#include "util/err.h"
#include "util/utf8.h"

#include <string.h>

#define FAIL(reason)                                                                              \
    do {                                                                                          \
        if (why)                                                                                  \
            *why = reason;                                                                        \
        return SP_ERR_INVALID;                                                                    \
    } while (0)

int sp_itemid_check(const char *drive_id, const char *item_id, const char **why)
{
    size_t n = strlen(drive_id);
    if (strcmp(item_id, drive_id) == 0)
        return 0;
    if (n == 0 || strncmp(item_id, drive_id, n) != 0 || item_id[n] != '!')
        FAIL("must be the drive's id or <driveId>!<opaque id> of the same drive");
    const char *opaque = item_id + n + 1;
    size_t len = strlen(opaque);
    if (len == 0)
        FAIL("has an empty opaque id after '!'");
    if (len > SP_ITEMID_OPAQUE_MAX)
        FAIL("has an opaque id longer than 255 bytes");
    /* A storage or client that joins the id into a path or URL must not
     * find a separator, an escape, a query or a fragment in it (a
     * backslash is a separator to some), nor a step up. */
    if (strpbrk(opaque, "/?#%\\"))
        FAIL("has an opaque id with '/', '?', '#', '%' or '\\'");
    if (strcmp(opaque, ".") == 0 || strcmp(opaque, "..") == 0)
        FAIL("has a dot segment as its opaque id");
    if (!sp_utf8_text((const unsigned char *)opaque, len))
        FAIL("has an opaque id that is not UTF-8 text without control characters");
    return 0;
}
