/*
 * test_instance.c - unit tests of src/util/instance: which webDavUrls lie
 * under a trusted instance, and which OCM addresses name one.
 *
 * Table-driven: each row is one loop iteration, so a failure names the
 * row's index and input. The refusals are the point: every URL in
 * dav_invalid would make the registry connect somewhere it must not.
 */
#include "util/err.h"
#include "util/instance.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const trusted[] = {
    "https://cloud.zurich.test",  "http://127.0.0.1:9200", "https://paris.test/sub/path/",
    "https://[2001:db8::1]:8443", "http://localhost:9300",
};

typedef struct dav_case {
    const char *url;
    size_t index;
    const char *drive_id;  /* decoded */
    const char *drive_seg; /* as written */
} dav_case;

static const dav_case dav_valid[] = {
    {"https://cloud.zurich.test/dav/spaces/abc", 0, "abc", "abc"},
    {"https://cloud.zurich.test/dav/spaces/abc/", 0, "abc", "abc"},
    {"https://cloud.zurich.test/dav/spaces/abc/a/rel/path", 0, "abc", "abc"},
    {"HTTPS://Cloud.Zurich.TEST/dav/spaces/abc", 0, "abc", "abc"},
    {"https://cloud.zurich.test:443/dav/spaces/abc", 0, "abc", "abc"},
    {"https://cloud.zurich.test/dav/spaces/st$sp!op", 0, "st$sp!op", "st$sp!op"},
    {"https://cloud.zurich.test/dav/spaces/st%24sp%21op/x", 0, "st$sp!op", "st%24sp%21op"},
    {"https://cloud.zurich.test/dav/spaces/a/..b/c.", 0, "a", "a"},
    {"https://cloud.zurich.test/dav/spaces/a/%20x", 0, "a", "a"},
    {"http://127.0.0.1:9200/dav/spaces/d1", 1, "d1", "d1"},
    {"https://paris.test/sub/path/dav/spaces/d2/f", 2, "d2", "d2"},
    {"https://[2001:DB8::1]:8443/dav/spaces/d3", 3, "d3", "d3"},
    {"http://localhost:9300/dav/spaces/d4", 4, "d4", "d4"},
};

START_TEST(dav_valid_table)
{
    const dav_case *c = &dav_valid[_i];
    sp_instance_dav m;
    const char *why = NULL;
    int rc = sp_instance_match_dav(trusted, COUNT(trusted), c->url, &m, &why);
    ck_assert_msg(rc == 0, "'%s' refused: %s", c->url, why ? why : "?");
    ck_assert_uint_eq(m.index, c->index);
    ck_assert_str_eq(m.drive_id, c->drive_id);
    ck_assert_str_eq(m.drive_seg, c->drive_seg);
}
END_TEST

static const char *const dav_invalid[] = {
    "",
    "cloud.zurich.test/dav/spaces/abc",
    "file:///etc/passwd",
    "ftp://cloud.zurich.test/dav/spaces/abc",
    "javascript:alert(1)",
    /* not https, and not loopback */
    "http://cloud.zurich.test/dav/spaces/abc",
    /* user-info, fragments, queries */
    "https://cloud.zurich.test@evil.example/dav/spaces/abc",
    "https://evil.example@cloud.zurich.test/dav/spaces/abc",
    "https://cloud.zurich.test/dav/spaces/abc#x",
    "https://cloud.zurich.test/dav/spaces/abc?x=1",
    "https://cloud.zurich.test/dav/spaces/abc?",
    /* hosts that are not exactly a trusted one */
    "https://evil.example/dav/spaces/abc",
    "https://cloud.zurich.test.evil.example/dav/spaces/abc",
    "https://zurich.test/dav/spaces/abc",
    "https://cloud.zurich.test:8443/dav/spaces/abc",
    "http://127.0.0.2:9200/dav/spaces/abc",
    "http://127.0.0.1:9201/dav/spaces/abc",
    "http://127.0.0.1/dav/spaces/abc",
    "http://localhost:9200/dav/spaces/abc",
    "https://127.0.0.1:9200/dav/spaces/abc",
    "https://0x7f000001/dav/spaces/abc",
    "https://2130706433/dav/spaces/abc",
    "https://[::1]:8443/dav/spaces/abc",
    "http://[::1]:9200/dav/spaces/abc",
    /* trusted host, but not a space URL or escaping it */
    "https://cloud.zurich.test/",
    "https://cloud.zurich.test/dav/spaces",
    "https://cloud.zurich.test/dav/spaces/",
    "https://cloud.zurich.test/dav/spaces//abc",
    "https://cloud.zurich.test/dav/files/abc",
    "https://cloud.zurich.test/graph/v1.0/drives/abc",
    "https://cloud.zurich.test/DAV/spaces/abc",
    "https://cloud.zurich.test/x/dav/spaces/abc",
    "https://cloud.zurich.test/dav/spaces/..",
    "https://cloud.zurich.test/dav/spaces/.",
    "https://cloud.zurich.test/dav/spaces/%2e%2e",
    "https://cloud.zurich.test/dav/spaces/abc/../x",
    "https://cloud.zurich.test/dav/spaces/abc/./x",
    "https://cloud.zurich.test/dav/spaces/abc/%2E%2e/x",
    "https://cloud.zurich.test/dav/spaces/abc//x",
    "https://cloud.zurich.test/dav/spaces/a%2fb",
    "https://cloud.zurich.test/dav/spaces/abc/a%2Fb",
    "https://cloud.zurich.test/dav/spaces/abc/a%00b",
    "https://cloud.zurich.test/dav/spaces/abc/a%5cb",
    "https://cloud.zurich.test/dav/spaces/a%zz",
    "https://cloud.zurich.test/dav/spaces/a%2",
    "https://cloud.zurich.test/dav/spaces/abc/%",
    "https://cloud.zurich.test/dav/spaces/a%ffb",
    "https://cloud.zurich.test/dav/spaces/a<b>",
    "https://cloud.zurich.test/dav/spaces/a\"b",
    "https://cloud.zurich.test/dav/spaces/a{b}",
    "https://cloud.zurich.test/dav/spaces/a|b",
    "https://cloud.zurich.test/dav/spaces/a^b",
    "https://cloud.zurich.test/dav/spaces/a`b",
    "https://cloud.zurich.test/dav/spaces/a b",
    "https://cloud.zurich.test/dav/spaces/a\\b",
    " https://cloud.zurich.test/dav/spaces/abc",
    /* the base path of a trusted instance must be kept */
    "https://paris.test/dav/spaces/abc",
    "https://paris.test/sub/dav/spaces/abc",
    "https://paris.test/sub/pathdav/spaces/abc",
};

START_TEST(dav_invalid_table)
{
    sp_instance_dav m;
    const char *why = NULL;
    int rc = sp_instance_match_dav(trusted, COUNT(trusted), dav_invalid[_i], &m, &why);
    ck_assert_msg(rc == SP_ERR_INVALID, "'%s' accepted", dav_invalid[_i]);
    ck_assert_ptr_nonnull(why);
}
END_TEST

START_TEST(dav_limits)
{
    sp_instance_dav m;
    const char *why = NULL;
    char url[1024];
    char id[SP_INSTANCE_DRIVE_ID_MAX + 1];
    memset(id, 'a', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    snprintf(url, sizeof url, "https://cloud.zurich.test/dav/spaces/%s", id);
    ck_assert_int_eq(sp_instance_match_dav(trusted, COUNT(trusted), url, &m, &why), SP_ERR_INVALID);
    id[SP_INSTANCE_DRIVE_ID_MAX - 1] = '\0';
    snprintf(url, sizeof url, "https://cloud.zurich.test/dav/spaces/%s", id);
    ck_assert_int_eq(sp_instance_match_dav(trusted, COUNT(trusted), url, &m, &why), 0);
    /* No trusted instances: nothing passes. */
    ck_assert_int_eq(
        sp_instance_match_dav(NULL, 0, "https://cloud.zurich.test/dav/spaces/a", &m, &why),
        SP_ERR_INVALID);
    ck_assert_int_eq(sp_instance_match_dav(trusted, COUNT(trusted), NULL, &m, &why),
                     SP_ERR_INVALID);
}
END_TEST

typedef struct authority_case {
    const char *base, *want; /* want NULL: refused */
} authority_case;

static const authority_case authority_cases[] = {
    {"https://cloud.zurich.test", "cloud.zurich.test"},
    {"https://Cloud.Zurich.Test:443/x", "cloud.zurich.test"},
    {"https://cloud.zurich.test:8443", "cloud.zurich.test:8443"},
    {"http://127.0.0.1:9200", "127.0.0.1:9200"},
    {"http://127.0.0.1:80", "127.0.0.1"},
    {"https://[::1]:8443", "[::1]:8443"},
    {"not a url", NULL},
};

START_TEST(authority_table)
{
    const authority_case *c = &authority_cases[_i];
    char out[SP_INSTANCE_AUTHORITY_MAX];
    int rc = sp_instance_authority(c->base, out, sizeof out);
    if (!c->want) {
        ck_assert_int_eq(rc, SP_ERR_INVALID);
        return;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(out, c->want);
    char small[4];
    ck_assert_int_eq(sp_instance_authority(c->base, small, sizeof small), SP_ERR_INVALID);
}
END_TEST

typedef struct address_case {
    const char *address;
    int rc;
    size_t index;
} address_case;

static const address_case address_cases[] = {
    {"einstein@cloud.zurich.test", 0, 0},
    {"einstein@Cloud.Zurich.Test", 0, 0},
    {"einstein@cloud.zurich.test:443", 0, 0},
    {"a@b@cloud.zurich.test", 0, 0}, /* the host is after the last @ */
    {"x@127.0.0.1:9200", 0, 1},
    {"x@paris.test", 0, 2},
    {"x@[2001:db8::1]:8443", 0, 3},
    {"x@localhost:9300", 0, 4},
    {"x@127.0.0.1:9201", SP_ERR_NOT_FOUND, 0},
    {"x@127.0.0.1", SP_ERR_NOT_FOUND, 0},
    {"x@localhost:9200", SP_ERR_NOT_FOUND, 0},
    {"x@evil.example", SP_ERR_NOT_FOUND, 0},
    {"x@cloud.zurich.test.evil.example", SP_ERR_NOT_FOUND, 0},
    {"x@cloud.zurich.test:8443", SP_ERR_NOT_FOUND, 0},
    {"cloud.zurich.test", SP_ERR_INVALID, 0},
    {"@cloud.zurich.test", SP_ERR_INVALID, 0},
    {"x@", SP_ERR_INVALID, 0},
    {"x@cloud.zurich.test/path", SP_ERR_INVALID, 0},
    {"x@cloud.zurich.test?q", SP_ERR_INVALID, 0},
    {"x@cloud.zurich.test#f", SP_ERR_INVALID, 0},
    {"x@0x7f000001", SP_ERR_INVALID, 0},
    {"x@a b", SP_ERR_INVALID, 0},
    /* Nextcloud may write the host with a scheme; OpenCloud puts the
     * issuer URL in the user part. */
    {"bob@https://cloud.zurich.test", 0, 0},
    {"bob@http://127.0.0.1:9200", 0, 1},
    {"uuid@https://idp.evil.example@cloud.zurich.test", 0, 0},
    {"bob@https://evil.example", SP_ERR_NOT_FOUND, 0},
    {"bob@https://cloud.zurich.test/", SP_ERR_INVALID, 0},
    {"bob@https://", SP_ERR_INVALID, 0},
};

START_TEST(address_table)
{
    const address_case *c = &address_cases[_i];
    size_t index = 99;
    int rc = sp_instance_by_address(trusted, COUNT(trusted), c->address, &index);
    ck_assert_msg(rc == c->rc, "'%s': %d, want %d", c->address, rc, c->rc);
    if (rc == 0) {
        ck_assert_uint_eq(index, c->index);
        ck_assert(sp_instance_address_is(trusted[index], c->address));
    }
}
END_TEST

/* A share's WebDAV URI from a peer that is not a Spaceport: any path on
 * the trusted instance, none that climbs out or leaves it. */
typedef struct url_case {
    const char *url;
    int rc;
    size_t index;
} url_case;

static const url_case url_cases[] = {
    {"https://cloud.zurich.test/remote.php/dav/ocm/abc", 0, 0},
    {"https://cloud.zurich.test/public.php/webdav/", 0, 0},
    {"http://127.0.0.1:9200/remote/dav/ocm/7c08-4226", 0, 1},
    {"https://paris.test/other/path", 0, 2}, /* the host is the instance, not the base path */
    {"https://cloud.zurich.test/a/../../graph", SP_ERR_INVALID, 0},
    {"https://cloud.zurich.test/a/%2e%2e/graph", SP_ERR_INVALID, 0},
    {"https://cloud.zurich.test/a//b", SP_ERR_INVALID, 0},
    {"https://cloud.zurich.test/a%2fb", SP_ERR_INVALID, 0},
    {"https://cloud.zurich.test/a?b=1", SP_ERR_INVALID, 0},
    {"https://cloud.zurich.test/a#f", SP_ERR_INVALID, 0},
    {"https://u:p@cloud.zurich.test/a", SP_ERR_INVALID, 0},
    {"http://cloud.zurich.test/a", SP_ERR_INVALID, 0}, /* another scheme than trusted */
    {"https://cloud.zurich.test:8443/a", SP_ERR_INVALID, 0},
    {"https://evil.example/remote.php/dav/ocm/abc", SP_ERR_INVALID, 0},
    {"http://127.0.0.2:9200/a", SP_ERR_INVALID, 0},
    {"abc", SP_ERR_INVALID, 0},
};

START_TEST(url_table)
{
    const url_case *c = &url_cases[_i];
    size_t index = 99;
    const char *why = NULL;
    int rc = sp_instance_match_url(trusted, COUNT(trusted), c->url, &index, &why);
    ck_assert_msg(rc == c->rc, "'%s': %d (%s), want %d", c->url, rc, why ? why : "", c->rc);
    if (rc == 0)
        ck_assert_uint_eq(index, c->index);
    else
        ck_assert_ptr_nonnull(why);
}
END_TEST

START_TEST(address_is)
{
    ck_assert(sp_instance_address_is("http://127.0.0.1:9200", "marie@127.0.0.1:9200"));
    ck_assert(!sp_instance_address_is("http://127.0.0.1:9200", "marie@127.0.0.1:9201"));
    ck_assert(!sp_instance_address_is("http://127.0.0.1:9200", "marie@paris.test"));
    ck_assert(!sp_instance_address_is("http://127.0.0.1:9200", NULL));
    ck_assert(!sp_instance_address_is("http://127.0.0.1:9200", "marie"));
}
END_TEST

/* SPACEPORT_WEBHOOK_HOSTS for the webhook cases. */
static const char *const hook_hosts[] = {"hooks.example.test", "127.0.0.1:8080", "[::1]",
                                         "Receiver.Example.TEST:8443"};

typedef struct webhook_case {
    const char *url;
    int rc;
    size_t slot; /* trusted instances first, then hook_hosts */
} webhook_case;

static const webhook_case webhook_cases[] = {
    /* A trusted instance: same scheme, host and port, any path. */
    {"https://cloud.zurich.test/api/v1/federation/notifications", 0, 0},
    {"https://cloud.zurich.test:443/x?y=1", 0, 0},
    {"http://127.0.0.1:9200/hook", 0, 1},
    {"https://[2001:db8::1]:8443/h", 0, 3},
    /* A listed host: any port unless the entry names one. */
    {"https://hooks.example.test/h", 0, 5},
    {"https://HOOKS.example.test:9999/h?a=b", 0, 5},
    {"http://127.0.0.1:8080/h", 0, 6},
    {"http://[::1]:1234/h", 0, 7},
    {"https://receiver.example.test:8443/", 0, 8},
    /* Refused: another host, another port, another scheme of an
     * instance, plain http to a non-loopback host, user-info,
     * fragments, look-alike names, other schemes. */
    {"https://evil.test/h", SP_ERR_INVALID, 0},
    {"http://127.0.0.1:8081/h", SP_ERR_INVALID, 0},
    {"https://receiver.example.test/", SP_ERR_INVALID, 0},
    {"http://cloud.zurich.test/h", SP_ERR_INVALID, 0},
    {"http://hooks.example.test/h", SP_ERR_INVALID, 0},
    {"https://cloud.zurich.test:8443/h", SP_ERR_INVALID, 0},
    {"https://user@hooks.example.test/h", SP_ERR_INVALID, 0},
    {"https://hooks.example.test/h#f", SP_ERR_INVALID, 0},
    {"https://hooks.example.test.evil.test/h", SP_ERR_INVALID, 0},
    {"https://evil.test@hooks.example.test/h", SP_ERR_INVALID, 0},
    {"https://hooks.example.test\\@evil.test/h", SP_ERR_INVALID, 0},
    {"ftp://hooks.example.test/h", SP_ERR_INVALID, 0},
    {"//hooks.example.test/h", SP_ERR_INVALID, 0},
    {"https://127.0.0.2:8080/h", SP_ERR_INVALID, 0},
    {"http://2130706433:8080/h", SP_ERR_INVALID, 0},
    {"", SP_ERR_INVALID, 0},
};

START_TEST(webhook_table)
{
    const webhook_case *c = &webhook_cases[_i];
    size_t slot = 99;
    const char *why = NULL;
    int rc = sp_instance_match_webhook(trusted, COUNT(trusted), hook_hosts, COUNT(hook_hosts),
                                       c->url, &slot, &why);
    ck_assert_msg(rc == c->rc, "'%s': %d, want %d", c->url, rc, c->rc);
    if (rc == 0)
        ck_assert_msg(slot == c->slot, "'%s': slot %zu, want %zu", c->url, slot, c->slot);
    else
        ck_assert_ptr_nonnull(why);
}
END_TEST

START_TEST(webhook_no_hosts)
{
    const char *why = NULL;
    /* Nothing configured: nothing may be notified, not even loopback. */
    ck_assert_int_eq(sp_instance_match_webhook(NULL, 0, NULL, 0, "http://127.0.0.1:1/h", NULL,
                                               &why),
                     SP_ERR_INVALID);
}
END_TEST

START_TEST(host_entries)
{
    char host[SP_INSTANCE_AUTHORITY_MAX];
    int port = -1;
    ck_assert_int_eq(sp_instance_host_entry("Hooks.Example.TEST", host, &port), 0);
    ck_assert_str_eq(host, "hooks.example.test");
    ck_assert_int_eq(port, 0);
    ck_assert_int_eq(sp_instance_host_entry("127.0.0.1:8080", host, &port), 0);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_int_eq(port, 8080);
    ck_assert_int_eq(sp_instance_host_entry("[::1]:9", host, &port), 0);
    ck_assert_str_eq(host, "::1");
    ck_assert_int_eq(port, 9);
    static const char *const bad[] = {"",           "https://h",  "h/path", "h?q", "u@h",
                                      "h:0",        "h:99999",    "h#f",    "h:x", "a b",
                                      "h\\x",       "[::1",       ":80"};
    for (size_t i = 0; i < COUNT(bad); i++)
        ck_assert_msg(sp_instance_host_entry(bad[i], host, &port) == SP_ERR_INVALID, "'%s'",
                      bad[i]);
}
END_TEST

static Suite *instance_suite(void)
{
    Suite *s = suite_create("instance");
    TCase *tc = tcase_create("dav");
    tcase_add_loop_test(tc, dav_valid_table, 0, (int)COUNT(dav_valid));
    tcase_add_loop_test(tc, dav_invalid_table, 0, (int)COUNT(dav_invalid));
    tcase_add_test(tc, dav_limits);
    suite_add_tcase(s, tc);
    tc = tcase_create("address");
    tcase_add_loop_test(tc, authority_table, 0, (int)COUNT(authority_cases));
    tcase_add_loop_test(tc, address_table, 0, (int)COUNT(address_cases));
    tcase_add_test(tc, address_is);
    tcase_add_loop_test(tc, url_table, 0, (int)COUNT(url_cases));
    suite_add_tcase(s, tc);
    tc = tcase_create("webhook");
    tcase_add_loop_test(tc, webhook_table, 0, (int)COUNT(webhook_cases));
    tcase_add_test(tc, webhook_no_hosts);
    tcase_add_test(tc, host_entries);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(instance_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
