/*
 * test_itemid.c - unit tests of what an item id may be and how ids go into
 * URLs: util/itemid (an item belongs to its drive), util/url's encoder and
 * util/utf8's text check that both rely on.
 *
 * The item id rows are the attacks a client tried: another drive's id, a
 * path, a query, a fragment, an escape, a dot segment, controls, broken
 * UTF-8, lengths at and past the limit. Each row is one loop iteration, so
 * a failure names the row's index and input.
 */
#include "util/buf.h"
#include "util/err.h"
#include "util/itemid.h"
#include "util/url.h"
#include "util/utf8.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

#define DRIVE "1284d238-aa92-42ce-bdc4-0b0000009157$4c510ada-c86b-4815-8820-42cdf82c3d51"
#define OTHER "1284d238-aa92-42ce-bdc4-0b0000009157$ffffffff-c86b-4815-8820-42cdf82c3d51"

/* ---- sp_itemid_check ------------------------------------------------ */

static const char *const itemid_valid[] = {
    DRIVE,
    DRIVE "!4c510ada-c86b-4815-8820-42cdf82c3d51",
    DRIVE "!abc",
    DRIVE "!a b",
    DRIVE "!...",
    DRIVE "!.a",
    DRIVE "!a..b",
    DRIVE "!$&'()*+,;=:@!",
    DRIVE "!Gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac \xf0\x9f\x93\x81",
};

START_TEST(itemid_valid_table)
{
    const char *why = "untouched";
    ck_assert_msg(sp_itemid_check(DRIVE, itemid_valid[_i], &why) == 0, "'%s' refused: %s",
                  itemid_valid[_i], why);
}
END_TEST

static const struct {
    const char *item;
    const char *why_part;
} itemid_invalid[] = {
    {OTHER, "drive's id"},
    {OTHER "!x", "drive's id"},
    {"..", "drive's id"},
    {".", "drive's id"},
    {"", "drive's id"},
    {"x1", "drive's id"},
    {DRIVE "x", "drive's id"},
    {DRIVE "/x", "drive's id"},
    {DRIVE "?x", "drive's id"},
    {"!" DRIVE, "drive's id"},
    {DRIVE "!", "empty"},
    {DRIVE "!..", "dot segment"},
    {DRIVE "!.", "dot segment"},
    {DRIVE "!a/b", "'/'"},
    {DRIVE "!../x", "'/'"},
    {DRIVE "!a?b", "'?'"},
    {DRIVE "!?", "'?'"},
    {DRIVE "!a#b", "'#'"},
    {DRIVE "!%2e%2e", "'%'"},
    {DRIVE "!a%2Fb", "'%'"},
    {DRIVE "!a\\b", "'\\'"},
    {DRIVE "!a\x01" "b", "control"},
    {DRIVE "!a\x1f", "control"},
    {DRIVE "!\x7f", "control"},
    {DRIVE "!a\r\nX-Evil: 1", "control"},
    {DRIVE "!\xc2\x85", "control"},
    {DRIVE "!\xff", "UTF-8"},
    {DRIVE "!\xc0\xaf", "UTF-8"},
    {DRIVE "!\xe0\x80\xae", "UTF-8"},
    {DRIVE "!\xed\xa0\x80", "UTF-8"},
    {DRIVE "!\xc3", "UTF-8"},
};

START_TEST(itemid_invalid_table)
{
    const char *why = NULL;
    ck_assert_msg(sp_itemid_check(DRIVE, itemid_invalid[_i].item, &why) == SP_ERR_INVALID,
                  "row %d accepted", _i);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, itemid_invalid[_i].why_part) != NULL,
                  "row %d: reason '%s' lacks '%s'", _i, why, itemid_invalid[_i].why_part);
}
END_TEST

START_TEST(itemid_opaque_length)
{
    /* 255 bytes of opaque id pass, 256 do not; multi-byte characters
     * count in bytes. */
    size_t n = strlen(DRIVE) + 1;
    char id[sizeof DRIVE + 1 + 300];
    memcpy(id, DRIVE "!", n);
    memset(id + n, 'a', SP_ITEMID_OPAQUE_MAX);
    id[n + SP_ITEMID_OPAQUE_MAX] = '\0';
    ck_assert_int_eq(sp_itemid_check(DRIVE, id, NULL), 0);
    id[n + SP_ITEMID_OPAQUE_MAX] = 'a';
    id[n + SP_ITEMID_OPAQUE_MAX + 1] = '\0';
    const char *why = NULL;
    ck_assert_int_eq(sp_itemid_check(DRIVE, id, &why), SP_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(why, "255"));
    /* 127 two-byte characters and one byte: 255 bytes; one more: 257. */
    for (size_t i = 0; i < 127; i++)
        memcpy(id + n + 2 * i, "\xc3\xbc", 2);
    strcpy(id + n + 254, "a");
    ck_assert_int_eq(sp_itemid_check(DRIVE, id, NULL), 0);
    strcpy(id + n + 254, "\xc3\xbc" "a");
    ck_assert_int_eq(sp_itemid_check(DRIVE, id, NULL), SP_ERR_INVALID);
}
END_TEST

START_TEST(itemid_drive_is_not_a_prefix_pattern)
{
    /* The drive part is compared whole: a drive whose id is a prefix of
     * another's does not own the other's items, and an empty drive id owns
     * nothing but itself. */
    ck_assert_int_eq(sp_itemid_check("d1", "d10!x", NULL), SP_ERR_INVALID);
    ck_assert_int_eq(sp_itemid_check("d1", "d1!0", NULL), 0);
    ck_assert_int_eq(sp_itemid_check("", "!x", NULL), SP_ERR_INVALID);
    ck_assert_int_eq(sp_itemid_check("d1", "D1!x", NULL), SP_ERR_INVALID);
}
END_TEST

/* ---- sp_url_encode -------------------------------------------------- */

static const struct {
    const char *in;
    const char *keep;
    const char *out;
} encode_cases[] = {
    {"abcXYZ019-._~", "", "abcXYZ019-._~"},
    {"a b", "", "a%20b"},
    {"a/b?c#d%e", "", "a%2Fb%3Fc%23d%25e"},
    {"..", SP_URL_SEGMENT_KEEP, ".."},
    {"s$p!n", "", "s%24p%21n"},
    {"s$p!n", SP_URL_SEGMENT_KEEP, "s$p!n"},
    {"!$&'()*+,;=:@", SP_URL_SEGMENT_KEEP, "!$&'()*+,;=:@"},
    {"/?#[]%\\\"<>^`{|} ", SP_URL_SEGMENT_KEEP,
     "%2F%3F%23%5B%5D%25%5C%22%3C%3E%5E%60%7B%7C%7D%20"},
    {"\x01\x7f\r\n", SP_URL_SEGMENT_KEEP, "%01%7F%0D%0A"},
    {"\xc3\xbc\xf0\x9f\x93\x81", SP_URL_SEGMENT_KEEP, "%C3%BC%F0%9F%93%81"},
    {"", "", ""},
};

START_TEST(url_encode_table)
{
    sp_buf b = {0};
    ck_assert_int_eq(sp_buf_puts(&b, "p/"), 0);
    ck_assert_int_eq(sp_url_encode(&b, encode_cases[_i].in, encode_cases[_i].keep), 0);
    ck_assert_str_eq(b.data + 2, encode_cases[_i].out);
    sp_buf_free(&b);
}
END_TEST

START_TEST(url_encode_keeps_no_space_or_control_even_if_asked)
{
    /* keep names printable characters only: a space or control in it is
     * still encoded, so a careless keep cannot split a request line. */
    sp_buf b = {0};
    ck_assert_int_eq(sp_url_encode(&b, "a b\tc", " \t"), 0);
    ck_assert_str_eq(b.data, "a%20b%09c");
    sp_buf_free(&b);
}
END_TEST

START_TEST(url_encode_every_valid_item_id_is_one_segment)
{
    /* Whatever a valid item id holds, its encoded form has no '/', '?' or
     * '#' and no dot segment: it stays one path segment of the URL. */
    for (size_t i = 0; i < COUNT(itemid_valid); i++) {
        sp_buf b = {0};
        ck_assert_int_eq(sp_url_encode(&b, itemid_valid[i], SP_URL_SEGMENT_KEEP), 0);
        ck_assert_msg(!strpbrk(b.data, "/?# \\"), "'%s' encodes to '%s'", itemid_valid[i],
                      b.data);
        ck_assert_str_ne(b.data, ".");
        ck_assert_str_ne(b.data, "..");
        sp_buf_free(&b);
    }
}
END_TEST

/* ---- sp_utf8_text --------------------------------------------------- */

static const struct {
    const char *s;
    int ok;
} utf8_cases[] = {
    {"", 1},
    {"plain", 1},
    {"\xc3\xbc", 1},
    {"\xe2\x82\xac", 1},
    {"\xf0\x9f\x93\x81", 1},
    {"\xf4\x8f\xbf\xbf", 1}, /* U+10FFFF */
    {"\xc2\xa0", 1},         /* U+00A0, the first after C1 */
    {"\x1f", 0},
    {"\x7f", 0},
    {"\xc2\x80", 0}, /* C1 controls */
    {"\xc2\x9f", 0},
    {"\xc0\x80", 0}, /* overlong NUL */
    {"\xc1\xbf", 0},
    {"\xe0\x9f\xbf", 0}, /* overlong three-byte form */
    {"\xf0\x8f\xbf\xbf", 0},
    {"\xed\xa0\x80", 0}, /* surrogate */
    {"\xf4\x90\x80\x80", 0}, /* past U+10FFFF */
    {"\xf5\x80\x80\x80", 0},
    {"\x80", 0},
    {"\xe2\x82", 0}, /* cut short */
    {"\xe2\x28\xa1", 0},
};

START_TEST(utf8_table)
{
    const char *s = utf8_cases[_i].s;
    ck_assert_msg(!sp_utf8_text((const unsigned char *)s, strlen(s)) == !utf8_cases[_i].ok,
                  "row %d", _i);
}
END_TEST

START_TEST(utf8_counts_bytes_not_strings)
{
    /* n bounds the check: a NUL inside the bytes is a control character. */
    ck_assert(!sp_utf8_text((const unsigned char *)"a\0b", 3));
    ck_assert(sp_utf8_text((const unsigned char *)"a\0b", 1));
}
END_TEST

/* ---- sp_itemid_check_any and sp_itemid_check_opaque ---------------- */

/* Ids a share jail is asked to mount (remoteItem.id, no drive beside it):
 * an item of some drive, or a drive's root. */
static const char *const any_valid[] = {
    DRIVE, DRIVE "!abc", OTHER "!x", "d1", "d1!x", "d1!a!b", DRIVE "!$&'()*+,;=:@!",
};

static const char *const any_invalid[] = {
    "",
    "!x",
    ".",
    "..",
    "..!x",
    ".!x",
    "../x!y",
    "a/b!c",
    "a?b",
    "a#b",
    "a%2Fb",
    "%2e%2e!x",
    "a\\b!c",
    "a\x01!x",
    "\xff!x",
    DRIVE "!",
    DRIVE "!..",
    DRIVE "!.",
    DRIVE "!a/b",
    DRIVE "!a?b",
    DRIVE "!a#b",
    DRIVE "!%2e%2e",
    DRIVE "!a\\b",
    DRIVE "!a\r\nX: 1",
    "d1!../x",
};

START_TEST(itemid_any_valid_table)
{
    const char *why = "untouched";
    ck_assert_msg(sp_itemid_check_any(any_valid[_i], &why) == 0, "'%s' refused: %s", any_valid[_i],
                  why);
}
END_TEST

START_TEST(itemid_any_invalid_table)
{
    const char *why = NULL;
    ck_assert_msg(sp_itemid_check_any(any_invalid[_i], &why) == SP_ERR_INVALID, "row %d accepted",
                  _i);
    ck_assert_ptr_nonnull(why);
}
END_TEST

START_TEST(itemid_any_agrees_with_check)
{
    /* Where the drive is known, both say the same of its items. */
    for (size_t i = 0; i < COUNT(itemid_valid); i++)
        ck_assert_msg(sp_itemid_check_any(itemid_valid[i], NULL) == 0, "valid row %zu", i);
    for (size_t i = 0; i < COUNT(itemid_invalid); i++) {
        const char *id = itemid_invalid[i].item;
        if (strncmp(id, DRIVE "!", sizeof DRIVE) == 0)
            ck_assert_msg(sp_itemid_check_any(id, NULL) == SP_ERR_INVALID, "invalid row %zu", i);
    }
    /* A root longer than an opaque part may be is no drive's id. */
    char id[SP_ITEMID_OPAQUE_MAX + 2];
    memset(id, 'a', SP_ITEMID_OPAQUE_MAX + 1);
    id[SP_ITEMID_OPAQUE_MAX + 1] = '\0';
    ck_assert_int_eq(sp_itemid_check_any(id, NULL), SP_ERR_INVALID);
    id[SP_ITEMID_OPAQUE_MAX] = '\0';
    ck_assert_int_eq(sp_itemid_check_any(id, NULL), 0);
}
END_TEST

START_TEST(itemid_opaque_alone)
{
    /* A share jail's item: the bare mountpoint id, under the opaque
     * part's rule. */
    ck_assert_int_eq(sp_itemid_check_opaque("0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b", NULL), 0);
    ck_assert_int_eq(sp_itemid_check_opaque("a!b", NULL), 0);
    static const char *const bad[] = {"",    ".",      "..",   "a/b",   "../x", "a?b",
                                      "a#b", "%2e%2e", "a\\b", "a\x7f", "\xc3"};
    for (size_t i = 0; i < COUNT(bad); i++) {
        const char *why = NULL;
        ck_assert_msg(sp_itemid_check_opaque(bad[i], &why) == SP_ERR_INVALID && why,
                      "row %zu accepted", i);
    }
}
END_TEST

static Suite *itemid_suite(void)
{
    Suite *s = suite_create("itemid");

    TCase *tc = tcase_create("check");
    tcase_add_loop_test(tc, itemid_valid_table, 0, (int)COUNT(itemid_valid));
    tcase_add_loop_test(tc, itemid_invalid_table, 0, (int)COUNT(itemid_invalid));
    tcase_add_test(tc, itemid_opaque_length);
    tcase_add_test(tc, itemid_drive_is_not_a_prefix_pattern);
    tcase_add_loop_test(tc, itemid_any_valid_table, 0, (int)COUNT(any_valid));
    tcase_add_loop_test(tc, itemid_any_invalid_table, 0, (int)COUNT(any_invalid));
    tcase_add_test(tc, itemid_any_agrees_with_check);
    tcase_add_test(tc, itemid_opaque_alone);
    suite_add_tcase(s, tc);

    tc = tcase_create("encode");
    tcase_add_loop_test(tc, url_encode_table, 0, (int)COUNT(encode_cases));
    tcase_add_test(tc, url_encode_keeps_no_space_or_control_even_if_asked);
    tcase_add_test(tc, url_encode_every_valid_item_id_is_one_segment);
    suite_add_tcase(s, tc);

    tc = tcase_create("utf8");
    tcase_add_loop_test(tc, utf8_table, 0, (int)COUNT(utf8_cases));
    tcase_add_test(tc, utf8_counts_bytes_not_strings);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(itemid_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
