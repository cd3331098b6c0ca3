/*
 * test_web.c - unit tests of the web page's embedded files (src/api/web.c
 * and the table web/embed.py generates): names found and refused, content
 * types by extension, If-None-Match matching, and the table itself (every
 * file the page loads is embedded, with a well-formed strong ETag).
 */
#include "api/web.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
    const char *name;
    const char *type;
} type_cases[] = {
    {"index.html", "text/html; charset=utf-8"},
    {"app.js", "text/javascript; charset=utf-8"},
    {"style.css", "text/css; charset=utf-8"},
    {"icon.svg", "image/svg+xml"},
    {"shot.PNG", "image/png"},
    {"config.json", "application/json"},
    {"README", "application/octet-stream"},
    {"archive.tar.gz", "application/octet-stream"},
    {"", "application/octet-stream"},
    {NULL, "application/octet-stream"},
};

START_TEST(content_type_table)
{
    ck_assert_str_eq(sp_web_content_type(type_cases[_i].name), type_cases[_i].type);
}
END_TEST

static const struct {
    const char *header;
    int matches;
} etag_cases[] = {
    {NULL, 0},
    {"", 0},
    {"\"abc\"", 1},
    {"W/\"abc\"", 1},
    {"*", 1},
    {" \"abc\" ", 1},
    {"\"x\", \"abc\"", 1},
    {"\"x\",W/\"abc\"", 1},
    {"\"abcd\"", 0},
    {"\"ab\"", 0},
    {"abc", 0},
    {"\"x\", \"y\"", 0},
    {",,,", 0},
    {"W/", 0},
};

START_TEST(etag_table)
{
    ck_assert_int_eq(sp_web_etag_matches(etag_cases[_i].header, "\"abc\""), etag_cases[_i].matches);
}
END_TEST

START_TEST(find_names)
{
    const sp_web_file *index = sp_web_find("index.html");
    ck_assert_ptr_nonnull(index);
    ck_assert_str_eq(index->name, "index.html");
    ck_assert_ptr_null(sp_web_find(NULL));
    ck_assert_ptr_null(sp_web_find(""));
    ck_assert_ptr_null(sp_web_find("missing.js"));
    ck_assert_ptr_null(sp_web_find("../index.html"));
    ck_assert_ptr_null(sp_web_find("web/index.html"));
    ck_assert_ptr_null(sp_web_find(".index.html"));
    ck_assert_ptr_null(sp_web_find("embed.py"));
    ck_assert_ptr_null(sp_web_find("meson.build"));
}
END_TEST

/* Every file of the table: a plain name, a quoted 20-hex-digit ETag, a
 * length that matches its data, and no two ETags alike. */
START_TEST(table_well_formed)
{
    ck_assert_uint_gt(sp_web_file_count, 0);
    for (size_t i = 0; i < sp_web_file_count; i++) {
        const sp_web_file *f = &sp_web_files[i];
        ck_assert_ptr_eq(sp_web_find(f->name), f);
        ck_assert_uint_eq(strlen(f->etag), 22);
        ck_assert_int_eq(f->etag[0], '"');
        ck_assert_int_eq(f->etag[21], '"');
        ck_assert_uint_eq(strspn(f->etag + 1, "0123456789abcdef"), 20);
        ck_assert_uint_gt(f->len, 0);
        ck_assert_ptr_nonnull(f->data);
        ck_assert_uint_eq(f->data[f->len], '\0');
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(sp_web_files[j].etag, f->etag);
    }
}
END_TEST

/* What index.html loads is embedded: the stylesheet, the icon, the main
 * module and the modules it imports. */
START_TEST(page_files_present)
{
    static const char *const loaded[] = {"style.css", "icon.svg", "app.js",
                                         "auth.js",   "api.js",   "feed.js"};
    const sp_web_file *index = sp_web_find("index.html");
    ck_assert_ptr_nonnull(index);
    for (size_t i = 0; i < COUNT(loaded); i++) {
        ck_assert_msg(sp_web_find(loaded[i]) != NULL, "%s is not embedded", loaded[i]);
    }
    ck_assert_ptr_nonnull(strstr((const char *)index->data, "src=\"web/app.js\""));
    ck_assert_ptr_nonnull(strstr((const char *)index->data, "href=\"web/style.css\""));
}
END_TEST

static Suite *web_suite(void)
{
    Suite *s = suite_create("web");
    TCase *tc = tcase_create("web");
    tcase_add_loop_test(tc, content_type_table, 0, (int)COUNT(type_cases));
    tcase_add_loop_test(tc, etag_table, 0, (int)COUNT(etag_cases));
    tcase_add_test(tc, find_names);
    tcase_add_test(tc, table_well_formed);
    tcase_add_test(tc, page_files_present);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(web_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
