/*
 * test_davpath.c - unit tests of util/davpath: which space a WebDAV request
 * target names, read as strictly as the WebDAV server maps it to a file.
 *
 * The refused rows are the attacks a WebDAV client can send through the
 * server to the check: steps up, plain or encoded, an encoded '/' that
 * the server would decode into a separator, '\', NUL and controls, the
 * wrong prefix, ids that are not drive ids, item-share mounts. Each row is
 * one loop iteration, so a failure names the row's input.
 */
#include "util/davpath.h"
#include "util/err.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

#define DRIVE "4c510ada-c86b-4815-8820-42cdf82c3d51"

static const char *const valid[] = {
    "/dav/spaces/" DRIVE,
    "/dav/spaces/" DRIVE "/",
    "/dav/spaces/" DRIVE "/a.txt",
    "/remote.php/dav/spaces/" DRIVE "/a.txt",
    "//dav///spaces//" DRIVE "//notes//a.txt",
    "/dav/spaces/" DRIVE "/a.txt?x=../../etc&y=%2F",
    "/dav/spaces/" DRIVE "?",
    "/dav/spaces/" DRIVE "/%C3%A9t%C3%A9%20notes.txt",
    "/dav/spaces/" DRIVE "/r\xc3\xa9sum\xc3\xa9.txt",
    "/dav/spaces/" DRIVE "/..hidden/.../.x/x.",
    "/dav/spaces/" DRIVE "/a%23b%3Fc",
    "/dav/spaces/" DRIVE "/a%25b",
    "/%64av/spaces/" DRIVE "/x",
};

START_TEST(valid_table)
{
    char drive[SP_ID_LEN] = "untouched";
    const char *why = "untouched";
    ck_assert_msg(sp_davpath_drive(valid[_i], drive, &why) == 0, "'%s' refused: %s", valid[_i],
                  why);
    ck_assert_str_eq(drive, DRIVE);
}
END_TEST

static const struct {
    const char *path;
    const char *why_part;
} invalid[] = {
    {"", "absolute"},
    {"dav/spaces/" DRIVE "/x", "absolute"},
    {"?/dav/spaces/" DRIVE, "absolute"},
    {"http://host/dav/spaces/" DRIVE "/x", "absolute"},
    {"/dav/spaces/" DRIVE "/../" DRIVE "/x", "dot segment"},
    {"/dav/spaces/" DRIVE "/a/..", "dot segment"},
    {"/dav/spaces/" DRIVE "/./x", "dot segment"},
    {"/dav/spaces/" DRIVE "/%2e%2e/x", "dot segment"},
    {"/dav/spaces/" DRIVE "/.%2E/x", "dot segment"},
    {"/dav/spaces/" DRIVE "/%2e", "dot segment"},
    {"/dav/spaces/%2e%2e/" DRIVE, "dot segment"},
    {"/dav/../dav/spaces/" DRIVE, "dot segment"},
    {"/dav/spaces/" DRIVE "/a%2Fb", "encoded '/'"},
    {"/dav/spaces/" DRIVE "/a%2fb", "encoded '/'"},
    {"/dav/spaces/" DRIVE "%2F..%2F" DRIVE "/x", "encoded '/'"},
    {"/dav%2Fspaces/" DRIVE, "encoded '/'"},
    {"/dav/spaces/" DRIVE "/a%5Cb", "'\\'"},
    {"/dav/spaces/" DRIVE "/a\\b", "'\\'"},
    {"/dav/spaces/" DRIVE "/a%00b", "control"},
    {"/dav/spaces/" DRIVE "/a%0ab", "control"},
    {"/dav/spaces/" DRIVE "/a%0Db", "control"},
    {"/dav/spaces/" DRIVE "/a%7fb", "control"},
    {"/dav/spaces/" DRIVE "/a\tb", "control"},
    {"/dav/spaces/" DRIVE "/a\x7f", "control"},
    {"/dav/spaces/" DRIVE "/a#b", "fragment"},
    {"/dav/spaces/" DRIVE "/a%zzb", "percent"},
    {"/dav/spaces/" DRIVE "/a%2", "percent"},
    {"/dav/spaces/" DRIVE "/a%", "percent"},
    {"/dav/spaces/" DRIVE "/a%g0", "percent"},
    {"/dav/spaces/" DRIVE "/a%2?x", "percent"},
    {"/", "not under"},
    {"/files/spaces/" DRIVE "/x", "not under"},
    {"/dav/space/" DRIVE "/x", "not under"},
    {"/dav/spacesX/" DRIVE "/x", "not under"},
    {"/DAV/spaces/" DRIVE "/x", "not under"},
    {"/remote.php/dav/" DRIVE "/x", "not under"},
    {"/remote.php/spaces/" DRIVE "/x", "not under"},
    {"/x/dav/spaces/" DRIVE "/x", "not under"},
    {"/dav/spaces", "names no space"},
    {"/dav/spaces/", "names no space"},
    {"/dav/spaces//", "names no space"},
    {"/remote.php/dav/spaces/", "names no space"},
    {"/dav/spaces/?" DRIVE, "names no space"},
    {"/dav/spaces/not-a-uuid/x", "by its id"},
    {"/dav/spaces/4C510ADA-C86B-4815-8820-42CDF82C3D51/x", "by its id"},
    {"/dav/spaces/" DRIVE "0/x", "by its id"},
    {"/dav/spaces/4c510ada-c86b-4815-8820-42cdf82c3d5/x", "by its id"},
    {"/dav/spaces/4c510adac-86b-4815-8820-42cdf82c3d51/x", "by its id"},
    {"/dav/spaces/" DRIVE "$" DRIVE "/x", "by its id"},
    {"/dav/spaces/%34c510ada-c86b-4815-8820-42cdf82c3d51x", "by its id"},
    {"/dav/spaces/" DRIVE "!" DRIVE "/x", "single items"},
    {"/dav/spaces/" DRIVE "%21abc/x", "single items"},
};

START_TEST(invalid_table)
{
    char drive[SP_ID_LEN] = "untouched";
    const char *why = NULL;
    ck_assert_msg(sp_davpath_drive(invalid[_i].path, drive, &why) == SP_ERR_INVALID,
                  "'%s' accepted", invalid[_i].path);
    ck_assert_msg(why && strstr(why, invalid[_i].why_part), "'%s': why '%s' lacks '%s'",
                  invalid[_i].path, why ? why : "(null)", invalid[_i].why_part);
    ck_assert_str_eq(drive, "untouched");
}
END_TEST

/* An encoded id decodes once: "%34..." is "4...", the drive id itself;
 * "%2534..." is "%34...", not a drive id. */
START_TEST(decodes_once)
{
    char drive[SP_ID_LEN];
    const char *why;
    ck_assert_int_eq(
        sp_davpath_drive("/dav/spaces/%34c510ada-c86b-4815-8820-42cdf82c3d51/x", drive, &why), 0);
    ck_assert_str_eq(drive, DRIVE);
    ck_assert_int_eq(
        sp_davpath_drive("/dav/spaces/%2534c510ada-c86b-4815-8820-42cdf82c3d51", drive, &why),
        SP_ERR_INVALID);
    ck_assert_int_eq(sp_davpath_drive("/dav/spaces/" DRIVE "/%252e%252e/x", drive, &why), 0);
}
END_TEST

/* The length limit: a path of SP_DAVPATH_MAX - 1 bytes is read, one byte
 * more is refused; a long query does not count. */
START_TEST(length_limit)
{
    size_t n = SP_DAVPATH_MAX + 100;
    char *p = malloc(n + 1);
    ck_assert_ptr_nonnull(p);
    const char *head = "/dav/spaces/" DRIVE "/";
    size_t hl = strlen(head);
    memcpy(p, head, hl);
    memset(p + hl, 'a', n - hl);
    char drive[SP_ID_LEN];
    const char *why;
    p[SP_DAVPATH_MAX - 1] = '\0';
    ck_assert_int_eq(sp_davpath_drive(p, drive, &why), 0);
    p[SP_DAVPATH_MAX - 1] = 'a';
    p[SP_DAVPATH_MAX] = '\0';
    ck_assert_int_eq(sp_davpath_drive(p, drive, &why), SP_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(why, "too long"));
    p[hl + 1] = '?';
    p[n] = '\0';
    memset(p + SP_DAVPATH_MAX, 'a', n - SP_DAVPATH_MAX);
    ck_assert_int_eq(sp_davpath_drive(p, drive, &why), 0);
    free(p);
}
END_TEST

/* A path of thousands of segments, up to the length limit: the prefix
 * and id are read, the rest only checked. */
START_TEST(deep_paths)
{
    char path[SP_DAVPATH_MAX];
    size_t len = (size_t)snprintf(path, sizeof path, "/dav/spaces/" DRIVE);
    while (len + 2 < sizeof path) {
        path[len++] = '/';
        path[len++] = 'x';
    }
    path[len] = '\0';
    char drive[SP_ID_LEN];
    const char *why;
    ck_assert_int_eq(sp_davpath_drive(path, drive, &why), 0);
    ck_assert_str_eq(drive, DRIVE);
}
END_TEST

/* A COPY or MOVE Destination at or below its source: a folder into
 * itself (which nginx copies again at every level), the space's root
 * anywhere in the space, a file onto itself; in either URL form, encoded
 * or with doubled slashes. A sibling whose name starts alike, another
 * drive, or a refused path is not within. */
static const struct {
    const char *target, *source;
    int within;
} within_rows[] = {
    {"/dav/spaces/" DRIVE "/f/sub/", "/dav/spaces/" DRIVE "/f/", 1},
    {"/dav/spaces/" DRIVE "/f/", "/dav/spaces/" DRIVE "/f/", 1},
    {"/dav/spaces/" DRIVE "/f.txt", "/dav/spaces/" DRIVE "/f.txt", 1},
    {"/dav/spaces/" DRIVE "/sub/", "/dav/spaces/" DRIVE "/", 1},
    {"/dav/spaces/" DRIVE "/sub/", "/dav/spaces/" DRIVE, 1},
    {"/remote.php/dav/spaces/" DRIVE "//f//s/", "/dav/spaces/" DRIVE "/f", 1},
    {"/dav/spaces/" DRIVE "/%66/sub/", "/dav/spaces/" DRIVE "/f/", 1},
    {"/dav/spaces/" DRIVE "/f/sub/", "/dav/spaces/" DRIVE "/%66?x", 1},
    {"/dav/spaces/" DRIVE "/fg/", "/dav/spaces/" DRIVE "/f/", 0},
    {"/dav/spaces/" DRIVE "/f/", "/dav/spaces/" DRIVE "/fg/", 0},
    {"/dav/spaces/" DRIVE "/g/", "/dav/spaces/" DRIVE "/f/", 0},
    {"/dav/spaces/" DRIVE "/f", "/dav/spaces/" DRIVE "/f/sub", 0},
    {"/dav/spaces/8c510ada-c86b-4815-8820-42cdf82c3d51/f/sub/", "/dav/spaces/" DRIVE "/f/", 0},
    {"/dav/spaces/" DRIVE "/f/../f/sub/", "/dav/spaces/" DRIVE "/f/", 0},
};

START_TEST(within_table)
{
    ck_assert_msg(sp_davpath_within(within_rows[_i].target, within_rows[_i].source) ==
                      within_rows[_i].within,
                  "'%s' within '%s' is not %d", within_rows[_i].target, within_rows[_i].source,
                  within_rows[_i].within);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("davpath");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, valid_table, 0, (int)COUNT(valid));
    tcase_add_loop_test(tc, invalid_table, 0, (int)COUNT(invalid));
    tcase_add_test(tc, decodes_once);
    tcase_add_test(tc, length_limit);
    tcase_add_test(tc, deep_paths);
    tcase_add_loop_test(tc, within_table, 0, (int)COUNT(within_rows));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
