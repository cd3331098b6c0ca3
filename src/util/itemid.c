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

/* The rule of an opaque part of len bytes (also a drive id's, where no
 * drive names it: sp_itemid_check_any). */
static int check_opaque(const char *opaque, size_t len, const char **why)
{
    if (len == 0)
        FAIL("has an empty opaque id after '!'");
    if (len > SP_ITEMID_OPAQUE_MAX)
        FAIL("has an opaque id longer than 255 bytes");
    /* A storage or client that joins the id into a path or URL must not
     * find a separator, an escape, a query or a fragment in it (a
     * backslash is a separator to some), nor a step up. */
    for (size_t i = 0; i < len; i++)
        if (strchr("/?#%\\", opaque[i]))
            FAIL("has an opaque id with '/', '?', '#', '%' or '\\'");
    if ((len == 1 && opaque[0] == '.') || (len == 2 && opaque[0] == '.' && opaque[1] == '.'))
        FAIL("has a dot segment as its opaque id");
    if (!sp_utf8_text((const unsigned char *)opaque, len))
        FAIL("has an opaque id that is not UTF-8 text without control characters");
    return 0;
}

int sp_itemid_check(const char *drive_id, const char *item_id, const char **why)
{
    size_t n = strlen(drive_id);
    if (strcmp(item_id, drive_id) == 0)
        return 0;
    if (n == 0 || strncmp(item_id, drive_id, n) != 0 || item_id[n] != '!')
        FAIL("must be the drive's id or <driveId>!<opaque id> of the same drive");
    const char *opaque = item_id + n + 1;
    return check_opaque(opaque, strlen(opaque), why);
}

int sp_itemid_check_opaque(const char *opaque, const char **why)
{
    return check_opaque(opaque, strlen(opaque), why);
}

int sp_itemid_check_any(const char *item_id, const char **why)
{
    const char *bang = strchr(item_id, '!');
    size_t n = bang ? (size_t)(bang - item_id) : strlen(item_id);
    if (n == 0 || check_opaque(item_id, n, NULL) < 0)
        FAIL("must be <driveId>!<opaque id> or a drive's id, and a drive id has no '/', '?', "
             "'#', '%', '\\', control characters or dot segments");
    return bang ? check_opaque(bang + 1, strlen(bang + 1), why) : 0;
}
