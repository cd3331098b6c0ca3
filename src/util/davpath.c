/* davpath.c - the space a WebDAV request target names. */
#include "util/davpath.h"

#include "util/err.h"
#include "util/url.h"

#include <string.h>

/* The path prefixes the storage serves spaces under, as segments: oCIS's
 * and OpenCloud's clients build either from the server's origin. */
static const char *const dav_prefixes[][3] = {
    {"dav", "spaces", NULL},
    {"remote.php", "dav", "spaces"},
};

/* Non-zero when s is a drive id as the registry makes them: a UUID in
 * lower case (util/id.h). */
static int is_drive_id(const char *s)
{
    for (size_t i = 0; i < SP_ID_LEN - 1; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23
                ? c != '-'
                : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return s[SP_ID_LEN - 1] == '\0';
}

/* The path is decoded into segments, each ending in a NUL, in decoded;
 * the first ones must be one of dav_prefixes, the next the drive id,
 * copied to drive_id. *rest and *end are the offsets in decoded of the
 * segments below the drive (the file's path) and of their end. */
static int dav_parse(const char *path, char decoded[SP_DAVPATH_MAX], char drive_id[SP_ID_LEN],
                     size_t *rest, size_t *end, const char **why)
{
    size_t len = strcspn(path, "?");
    if (len == 0 || path[0] != '/') {
        *why = "the path is not an absolute path";
        return SP_ERR_INVALID;
    }
    if (len >= SP_DAVPATH_MAX) {
        *why = "the path is too long";
        return SP_ERR_INVALID;
    }
    /* The decoded segments, each ending in a NUL; empty ones (from "//")
     * are merged away as the server merges them. */
    const char *segment[5] = {0};
    size_t count = 0, out = 0, start = 0;
    for (size_t i = 1; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char)path[i] : '/';
        if (c == '/') {
            if (out == start)
                continue;
            decoded[out] = '\0';
            const char *seg = decoded + start;
            if (strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0) {
                *why = "the path has a dot segment";
                return SP_ERR_INVALID;
            }
            if (count < sizeof segment / sizeof segment[0])
                segment[count] = seg;
            count++;
            start = ++out;
            continue;
        }
        if (c == '#') {
            *why = "the path has a fragment";
            return SP_ERR_INVALID;
        }
        if (c == '%') {
            int hi = i + 2 < len ? sp_url_hex(path[i + 1]) : -1;
            int lo = hi >= 0 ? sp_url_hex(path[i + 2]) : -1;
            if (lo < 0) {
                *why = "the path has a malformed percent-encoding";
                return SP_ERR_INVALID;
            }
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
            if (c == '/') {
                *why = "the path has an encoded '/'";
                return SP_ERR_INVALID;
            }
        }
        if (c < 0x20 || c == 0x7f || c == '\\') {
            *why = "the path has a control character or '\\'";
            return SP_ERR_INVALID;
        }
        decoded[out++] = (char)c;
    }
    for (size_t p = 0; p < sizeof dav_prefixes / sizeof dav_prefixes[0]; p++) {
        size_t n = 0;
        while (n < 3 && dav_prefixes[p][n] && n < count &&
               strcmp(segment[n], dav_prefixes[p][n]) == 0)
            n++;
        if (n < 3 && dav_prefixes[p][n])
            continue;
        if (n >= count) {
            *why = "the path names no space";
            return SP_ERR_INVALID;
        }
        if (!is_drive_id(segment[n])) {
            *why = strchr(segment[n], '!') ? "shares of single items are not served over WebDAV"
                                           : "the path does not name a space by its id";
            return SP_ERR_INVALID;
        }
        memcpy(drive_id, segment[n], SP_ID_LEN);
        *rest = n + 1 < count ? (size_t)(segment[n + 1] - decoded) : out;
        *end = out;
        return 0;
    }
    *why = "the path is not under /dav/spaces/ or /remote.php/dav/spaces/";
    return SP_ERR_INVALID;
}

int sp_davpath_drive(const char *path, char drive_id[SP_ID_LEN], const char **why)
{
    char decoded[SP_DAVPATH_MAX];
    size_t rest, end;
    return dav_parse(path, decoded, drive_id, &rest, &end, why);
}

int sp_davpath_within(const char *target, const char *source)
{
    char t[SP_DAVPATH_MAX], s[SP_DAVPATH_MAX], t_drive[SP_ID_LEN], s_drive[SP_ID_LEN];
    size_t t_rest, t_end, s_rest, s_end;
    const char *why;
    if (dav_parse(target, t, t_drive, &t_rest, &t_end, &why) < 0 ||
        dav_parse(source, s, s_drive, &s_rest, &s_end, &why) < 0 || strcmp(t_drive, s_drive) != 0)
        return 0;
    /* Segments end in a NUL each: a prefix of whole segments. */
    size_t s_len = s_end - s_rest;
    return s_len <= t_end - t_rest && memcmp(t + t_rest, s + s_rest, s_len) == 0;
}
