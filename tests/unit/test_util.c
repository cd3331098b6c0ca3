/*
 * test_util.c - unit tests of src/util: the growable buffer, durations and
 * RFC 3339 timestamps, the strict URL parser and random UUIDs.
 *
 * The parsers are tested from tables of inputs and expected outputs; each
 * row is one loop iteration, so a failure names the row's index and input.
 */
#include "util/buf.h"
#include "util/err.h"
#include "util/id.h"
#include "util/time.h"
#include "util/url.h"

#include <check.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- sp_buf ----------------------------------------------------------- */

START_TEST(buf_append_and_puts)
{
    sp_buf b = {0};
    ck_assert_int_eq(sp_buf_append(&b, "abc", 3), 0);
    ck_assert_int_eq(sp_buf_puts(&b, "def"), 0);
    ck_assert_uint_eq(b.len, 6);
    ck_assert_str_eq(b.data, "abcdef");
    ck_assert_uint_ge(b.cap, b.len + 1);
    /* Embedded NUL bytes are data too. */
    ck_assert_int_eq(sp_buf_append(&b, "x\0y", 3), 0);
    ck_assert_uint_eq(b.len, 9);
    ck_assert_int_eq(memcmp(b.data, "abcdefx\0y", 10), 0);
    sp_buf_free(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.cap, 0);
}
END_TEST

START_TEST(buf_append_empty_terminates)
{
    sp_buf b = {0};
    ck_assert_int_eq(sp_buf_append(&b, "", 0), 0);
    ck_assert_ptr_nonnull(b.data);
    ck_assert_str_eq(b.data, "");
    ck_assert_uint_eq(b.len, 0);
    sp_buf_free(&b);
}
END_TEST

START_TEST(buf_grows_across_many_appends)
{
    sp_buf b = {0};
    for (int i = 0; i < 10000; i++)
        ck_assert_int_eq(sp_buf_append(&b, &"0123456789"[i % 10], 1), 0);
    ck_assert_uint_eq(b.len, 10000);
    ck_assert_uint_eq(strlen(b.data), 10000);
    for (int i = 0; i < 10000; i++)
        ck_assert_int_eq(b.data[i], '0' + i % 10);
    sp_buf_free(&b);
}
END_TEST

START_TEST(buf_printf_growth)
{
    sp_buf b = {0};
    ck_assert_int_eq(sp_buf_printf(&b, "%d-%s", 42, "x"), 0);
    ck_assert_str_eq(b.data, "42-x");
    /* Longer than the first allocation: must grow, keep the prefix and
     * terminate. */
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(sp_buf_printf(&b, "[%s]", big), 0);
    ck_assert_uint_eq(b.len, 4 + 2 + 999);
    ck_assert_uint_eq(strlen(b.data), b.len);
    ck_assert_int_eq(strncmp(b.data, "42-x[zzz", 8), 0);
    ck_assert_int_eq(b.data[b.len - 1], ']');
    ck_assert_uint_gt(b.cap, b.len);
    /* An empty format still yields a terminated buffer. */
    sp_buf e = {0};
    ck_assert_int_eq(sp_buf_printf(&e, "%s", ""), 0);
    ck_assert_ptr_nonnull(e.data);
    ck_assert_str_eq(e.data, "");
    sp_buf_free(&e);
    sp_buf_free(&b);
}
END_TEST

START_TEST(buf_reset_keeps_memory)
{
    sp_buf b = {0};
    sp_buf_puts(&b, "hello");
    size_t cap = b.cap;
    char *data = b.data;
    sp_buf_reset(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_str_eq(b.data, "");
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.cap, cap);
    sp_buf_puts(&b, "again");
    ck_assert_str_eq(b.data, "again");
    sp_buf_free(&b);
    /* Reset of a zeroed buffer is harmless. */
    sp_buf z = {0};
    sp_buf_reset(&z);
    ck_assert_ptr_null(z.data);
}
END_TEST

START_TEST(buf_steal)
{
    sp_buf b = {0};
    sp_buf_puts(&b, "mine");
    char *s = sp_buf_steal(&b);
    ck_assert_str_eq(s, "mine");
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.cap, 0);
    free(s);
    /* Nothing appended: an empty string, not NULL. */
    s = sp_buf_steal(&b);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "");
    free(s);
}
END_TEST

static const struct {
    const char *in;
    const char *out;
} json_escape_cases[] = {
    {"plain", "plain"},
    {"say \"hi\"", "say \\\"hi\\\""},
    {"back\\slash", "back\\\\slash"},
    {"line\nfeed", "line\\nfeed"},
    {"cr\rtab\t", "cr\\rtab\\t"},
    {"\x01", "\\u0001"},
    {"\x1f", "\\u001f"},
    {"\b\f", "\\u0008\\u000c"},
    {"a\x7f", "a\x7f"},             /* DEL needs no escape in JSON */
    {"caf\xc3\xa9", "caf\xc3\xa9"}, /* UTF-8 passes through */
    {"</script>", "</script>"},
    {"\"\\\"", "\\\"\\\\\\\""},
};

START_TEST(buf_json_escape)
{
    sp_buf b = {0};
    sp_buf_puts(&b, "<");
    ck_assert_int_eq(sp_buf_json_escape(&b, json_escape_cases[_i].in), 0);
    sp_buf_puts(&b, ">");
    char want[64];
    snprintf(want, sizeof want, "<%s>", json_escape_cases[_i].out);
    ck_assert_msg(strcmp(b.data, want) == 0, "escape of case %d: got '%s', want '%s'", _i, b.data,
                  want);
    sp_buf_free(&b);
}
END_TEST

/* ---- durations -------------------------------------------------------- */

#define TEN_YEARS_MS ((int64_t)3650 * 86400 * 1000)

static const struct {
    const char *in;
    int ok;
    int64_t ms;
} duration_cases[] = {
    {"0ms", 1, 0},
    {"0s", 1, 0},
    {"250ms", 1, 250},
    {"1s", 1, 1000},
    {"15s", 1, 15000},
    {"10m", 1, 600000},
    {"2h", 1, 7200000},
    {"7d", 1, 604800000},
    {"007s", 1, 7000},
    {"3650d", 1, TEN_YEARS_MS},
    {"315360000000ms", 1, TEN_YEARS_MS},
    {"3651d", 0, 0},
    {"315360000001ms", 0, 0},
    {"87600h", 1, TEN_YEARS_MS},
    {"87601h", 0, 0},
    {"9223372036854775807ms", 0, 0},
    {"9223372036854775808ms", 0, 0}, /* strtoll overflow */
    {"99999999999999999999999d", 0, 0},
    {"106751991167300d", 0, 0}, /* v * unit would overflow int64 */
    {"", 0, 0},
    {"s", 0, 0},
    {"15", 0, 0},
    {"-1s", 0, 0},
    {"+1s", 0, 0},
    {" 1s", 0, 0},
    {"1s ", 0, 0},
    {"1 s", 0, 0},
    {"1.5s", 0, 0},
    {"1S", 0, 0},
    {"1sec", 0, 0},
    {"1w", 0, 0},
    {"1y", 0, 0},
    {"1us", 0, 0},
    {"1ms1", 0, 0},
    {"0x10s", 0, 0},
};

START_TEST(duration_table)
{
    int64_t ms = -12345;
    int rc = sp_time_parse_duration(duration_cases[_i].in, &ms);
    if (duration_cases[_i].ok) {
        ck_assert_msg(rc == 0, "'%s' should parse", duration_cases[_i].in);
        ck_assert_msg(ms == duration_cases[_i].ms, "'%s': got %lld, want %lld",
                      duration_cases[_i].in, (long long)ms, (long long)duration_cases[_i].ms);
    } else {
        ck_assert_msg(rc == SP_ERR_INVALID, "'%s' should be rejected (rc %d, ms %lld)",
                      duration_cases[_i].in, rc, (long long)ms);
        ck_assert_msg(ms == -12345, "'%s': output written on failure", duration_cases[_i].in);
    }
}
END_TEST

START_TEST(duration_null)
{
    int64_t ms;
    ck_assert_int_eq(sp_time_parse_duration(NULL, &ms), SP_ERR_INVALID);
}
END_TEST

/* ---- RFC 3339 --------------------------------------------------------- */

/* 2026-11-24T07:30:00Z */
#define T0 ((int64_t)1795505400 * 1000)

static const struct {
    const char *in;
    int ok;
    int64_t ms;
} rfc3339_cases[] = {
    {"2026-11-24T07:30:00Z", 1, T0},
    {"2026-11-24t07:30:00z", 1, T0},
    {"2026-11-24 07:30:00Z", 1, T0},
    {"2026-11-24T07:30:00.123Z", 1, T0 + 123},
    {"2026-11-24T07:30:00.5Z", 1, T0 + 500},
    {"2026-11-24T07:30:00.05Z", 1, T0 + 50},
    {"2026-11-24T07:30:00.123456789Z", 1, T0 + 123}, /* truncated to ms */
    {"2026-11-24T07:30:00.9999Z", 1, T0 + 999},
    {"2026-11-24T08:30:00+01:00", 1, T0},
    {"2026-11-24T02:00:00-05:30", 1, T0},
    {"2026-11-24T07:30:00+00:00", 1, T0},
    {"2026-11-24T07:30:00-00:00", 1, T0},
    {"2026-11-25T01:30:00.250+18:00", 1, T0 + 250},
    {"1970-01-01T00:00:00Z", 1, 0},
    {"1969-12-31T23:59:59.999Z", 1, -1},
    {"2000-02-29T00:00:00Z", 1, (int64_t)951782400 * 1000},
    {"9999-12-31T23:59:59.999Z", 1, (int64_t)253402300799 * 1000 + 999},
    {"", 0, 0},
    {"2026-11-24", 0, 0},
    {"2026-11-24T07:30:00", 0, 0}, /* no offset */
    {"2026-11-24T07:30Z", 0, 0},   /* no seconds */
    {"2026-11-24X07:30:00Z", 0, 0},
    {"2026-11-24T07:30:00.Z", 0, 0}, /* empty fraction */
    {"2026-11-24T07:30:00+0100", 0, 0},
    {"2026-11-24T07:30:00+01", 0, 0},
    {"2026-11-24T07:30:00+24:00", 0, 0},
    {"2026-11-24T07:30:00+01:60", 0, 0},
    {"2026-11-24T07:30:00ZZ", 0, 0},
    {"2026-11-24T07:30:00Z ", 0, 0},
    {" 2026-11-24T07:30:00Z", 0, 0},
    {"2026-00-24T07:30:00Z", 0, 0},
    {"2026-13-24T07:30:00Z", 0, 0},
    {"2026-11-00T07:30:00Z", 0, 0},
    {"2026-11-32T07:30:00Z", 0, 0},
    {"2026-11-24T24:00:00Z", 0, 0},
    {"2026-11-24T07:60:00Z", 0, 0},
    {"2026-11-24T07:30:61Z", 0, 0},
    {"26-11-24T07:30:00Z", 0, 0},
    {"2026-1-24T07:30:00Z", 0, 0},
    {"2026/11/24T07:30:00Z", 0, 0},
    {"2026-11-24T7:30:00Z", 0, 0},
    {"+2026-11-24T07:30:00Z", 0, 0},
    {"2026-11-24T07:30:00.-1Z", 0, 0},
};

START_TEST(rfc3339_parse_table)
{
    int64_t ms = -777;
    int rc = sp_time_parse_rfc3339(rfc3339_cases[_i].in, &ms);
    if (rfc3339_cases[_i].ok) {
        ck_assert_msg(rc == 0, "'%s' should parse", rfc3339_cases[_i].in);
        ck_assert_msg(ms == rfc3339_cases[_i].ms, "'%s': got %lld, want %lld", rfc3339_cases[_i].in,
                      (long long)ms, (long long)rfc3339_cases[_i].ms);
    } else {
        ck_assert_msg(rc == SP_ERR_INVALID, "'%s' should be rejected (got %lld)",
                      rfc3339_cases[_i].in, (long long)ms);
    }
}
END_TEST

/*
 * Days that do not exist in their month (RFC 3339 section 5.7: date-mday
 * depends on month and year).
 * KNOWN BUG (src/util/time.c, sp_time_parse_rfc3339): the day is only checked
 * against 1..31, and timegm() silently normalizes, so "2026-02-30" parses as
 * 2026-03-02 instead of being rejected. Fix: check day against the month's
 * length (February 29 only in leap years).
 */
static const char *const rfc3339_impossible_days[] = {
    "2026-02-30T00:00:00Z", "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
    "2026-11-31T00:00:00Z", "1900-02-29T00:00:00Z",
};

START_TEST(rfc3339_rejects_impossible_days)
{
    int64_t ms = 0;
    int rc = sp_time_parse_rfc3339(rfc3339_impossible_days[_i], &ms);
    char back[SP_TIME_RFC3339_LEN] = "";
    if (rc == 0)
        sp_time_format_rfc3339(ms, back);
    ck_assert_msg(rc == SP_ERR_INVALID, "'%s' should be rejected, parsed as %s",
                  rfc3339_impossible_days[_i], back);
}
END_TEST

START_TEST(rfc3339_accepts_real_leap_days)
{
    int64_t ms = 0;
    ck_assert_int_eq(sp_time_parse_rfc3339("2024-02-29T12:00:00Z", &ms), 0);
    char back[SP_TIME_RFC3339_LEN];
    sp_time_format_rfc3339(ms, back);
    ck_assert_str_eq(back, "2024-02-29T12:00:00.000Z");
    ck_assert_int_eq(sp_time_parse_rfc3339("2026-12-31T23:59:59Z", &ms), 0);
    sp_time_format_rfc3339(ms, back);
    ck_assert_str_eq(back, "2026-12-31T23:59:59.000Z");
}
END_TEST

static const struct {
    int64_t ms;
    const char *text;
} format_cases[] = {
    {0, "1970-01-01T00:00:00.000Z"},
    {1, "1970-01-01T00:00:00.001Z"},
    {-1, "1969-12-31T23:59:59.999Z"},
    {-1000, "1969-12-31T23:59:59.000Z"},
    {T0, "2026-11-24T07:30:00.000Z"},
    {T0 + 123, "2026-11-24T07:30:00.123Z"},
    {(int64_t)951782400 * 1000 + 7, "2000-02-29T00:00:00.007Z"},
    {(int64_t)253402300799 * 1000 + 999, "9999-12-31T23:59:59.999Z"},
};

START_TEST(rfc3339_format_table)
{
    char out[SP_TIME_RFC3339_LEN];
    memset(out, 'X', sizeof out);
    sp_time_format_rfc3339(format_cases[_i].ms, out);
    ck_assert_str_eq(out, format_cases[_i].text);
    ck_assert_uint_eq(strlen(out), SP_TIME_RFC3339_LEN - 1);
}
END_TEST

START_TEST(rfc3339_round_trip)
{
    /* Every millisecond value formats to text that parses back to itself,
     * across a spread of dates (leap days, month ends, before 1970). */
    int64_t ms = -86400000LL * 366 * 3; /* 1967 */
    const int64_t step = 86400000LL * 7 + 3600000LL * 5 + 60000LL * 7 + 1000LL * 13 + 17;
    int n = 0;
    for (; ms < (int64_t)253402300799 * 1000; ms += step * 97, n++) {
        char text[SP_TIME_RFC3339_LEN];
        sp_time_format_rfc3339(ms, text);
        int64_t back = 0;
        ck_assert_msg(sp_time_parse_rfc3339(text, &back) == 0, "'%s' does not parse", text);
        ck_assert_msg(back == ms, "%lld -> '%s' -> %lld", (long long)ms, text, (long long)back);
    }
    ck_assert_int_gt(n, 1000);
}
END_TEST

START_TEST(time_clocks)
{
    int64_t now = sp_time_now_ms();
    ck_assert(now > T0 - (int64_t)3650 * 86400 * 1000); /* after 2016 */
    int64_t a = sp_time_mono_ns();
    int64_t b = sp_time_mono_ns();
    ck_assert(b >= a);
    ck_assert(sp_time_mono_ms() >= a / 1000000);
}
END_TEST

/* ---- URLs ------------------------------------------------------------- */

typedef struct url_case {
    const char *in;
    const char *scheme; /* NULL: must be rejected */
    const char *host;
    int port;
    int port_explicit;
    int host_is_ip;
    const char *path;
    const char *query;
} url_case;

static const url_case url_valid[] = {
    {"https://example.com", "https", "example.com", 443, 0, 0, "", ""},
    {"http://example.com", "http", "example.com", 80, 0, 0, "", ""},
    {"nats://bus.internal", "nats", "bus.internal", 4222, 0, 0, "", ""},
    {"nats://10.0.0.1:4223", "nats", "10.0.0.1", 4223, 1, 1, "", ""},
    {"HTTPS://Example.COM/Path/To?Q=1", "https", "example.com", 443, 0, 0, "/Path/To", "Q=1"},
    {"http://localhost:8080/a/b/", "http", "localhost", 8080, 1, 0, "/a/b/", ""},
    {"https://idp.example.com/realms/x", "https", "idp.example.com", 443, 0, 0, "/realms/x", ""},
    {"https://a.b-c.example:1", "https", "a.b-c.example", 1, 1, 0, "", ""},
    {"https://a.example:65535/", "https", "a.example", 65535, 1, 0, "/", ""},
    {"https://a.example:00443", "https", "a.example", 443, 1, 0, "", ""},
    {"http://127.0.0.1:9200", "http", "127.0.0.1", 9200, 1, 1, "", ""},
    {"https://[::1]:8443/x", "https", "::1", 8443, 1, 1, "/x", ""},
    {"https://[2001:db8::1]", "https", "2001:db8::1", 443, 0, 1, "", ""},
    {"https://[2001:db8::a]/p?q", "https", "2001:db8::a", 443, 0, 1, "/p", "q"},
    {"https://[::ffff:10.0.0.1]:80", "https", "::ffff:10.0.0.1", 80, 1, 1, "", ""},
    {"https://a.example?x=1&y=2", "https", "a.example", 443, 0, 0, "", "x=1&y=2"},
    {"https://a.example/p@q", "https", "a.example", 443, 0, 0, "/p@q", ""}, /* @ in path */
    {"https://a.example/p?u=a@b", "https", "a.example", 443, 0, 0, "/p", "u=a@b"},
    {"https://a.example/%41%2f", "https", "a.example", 443, 0, 0, "/%41%2f", ""},
    {"https://deadbeef.example", "https", "deadbeef.example", 443, 0, 0, "", ""},
    {"https://cafe", "https", "cafe", 443, 0, 0, "", ""},
    {"https://1password.example", "https", "1password.example", 443, 0, 0, "", ""},
    {"ftp://files.example", "ftp", "files.example", 0, 0, 0, "", ""},
};

START_TEST(url_valid_table)
{
    const url_case *c = &url_valid[_i];
    sp_url u;
    const char *why = NULL;
    int rc = sp_url_parse(c->in, &u, &why);
    ck_assert_msg(rc == 0, "'%s' rejected: %s", c->in, why ? why : "?");
    ck_assert_str_eq(u.scheme, c->scheme);
    ck_assert_str_eq(u.host, c->host);
    ck_assert_int_eq(u.port, c->port);
    ck_assert_int_eq(!!u.port_explicit, c->port_explicit);
    ck_assert_int_eq(!!u.host_is_ip, c->host_is_ip);
    ck_assert_str_eq(u.path, c->path);
    ck_assert_str_eq(u.query, c->query);
}
END_TEST

/*
 * url.h promises a lower-case host, IPv6 literals included.
 * KNOWN BUG (src/util/url.c, sp_url_parse): the IPv6 branch copies the
 * literal as written, so "https://[2001:DB8::A]" gives host "2001:DB8::A".
 * Hosts compared as strings (issuers, trusted instances) then differ by
 * case alone. Fix: lower-case the bytes when copying the literal.
 */
START_TEST(url_ipv6_host_lower_case)
{
    sp_url u;
    const char *why = NULL;
    ck_assert_int_eq(sp_url_parse("https://[2001:DB8::A]/p", &u, &why), 0);
    ck_assert_str_eq(u.host, "2001:db8::a");
    ck_assert_int_eq(sp_url_parse("https://[::FFFF:7F00:1]", &u, &why), 0);
    ck_assert_str_eq(u.host, "::ffff:7f00:1");
}
END_TEST

static const char *const url_invalid[] = {
    "",
    "example.com",
    "/path/only",
    "//example.com",
    "https:/example.com",
    "https:example.com",
    "mailto:a@example.com",
    "://example.com",
    "h2://example.com",
    "averyveryverylongscheme://example.com",
    "https://a@b",
    "https://user:pass@example.com/",
    "https://@example.com",
    "https://example.com@evil.example",
    "https://example.com/#frag",
    "https://example.com#",
    "https://example.com/p?q#f",
    "https://exa mple.com",
    "https://example.com/a b",
    " https://example.com",
    "https://example.com ",
    "https://example.com/\t",
    "https://example.com\\@evil.example",
    "https://example.com/a\\b",
    "https://ex\xc3\xa4mple.com",
    "https://example.com/\x7f",
    "http://0x7f000001",
    "http://0X7F000001",
    "http://2130706433",
    "http://017700000001",
    "http://127.1",
    "http://1.2.3.4.5",
    "http://a.0xff",
    "http://1.2.3.256",
    "https://",
    "https:///path",
    "https://:443",
    "https://?q",
    "https://.example.com",
    "https://-example.com",
    "https://a..example.com",
    "https://a_b.example.com",
    "https://a%2eexample.com",
    "https://example.com:0",
    "https://example.com:65536",
    "https://example.com:99999",
    "https://example.com:123456",
    "https://example.com:00000",
    "https://example.com:",
    "https://example.com:/",
    "https://example.com:http",
    "https://example.com:8o",
    "https://example.com:-1",
    "https://example.com:+80",
    "https://example.com:80:90",
    "https://[::1",
    "https://[::1]x",
    "https://[::1]:",
    "https://[::1]:0",
    "https://[::1]:65536",
    "https://[]",
    "https://[zz::1]",
    "https://[127.0.0.1]",
    "https://[fe80::1%25eth0]",
    "https://::1/",
};

START_TEST(url_invalid_table)
{
    sp_url u;
    const char *why = NULL;
    int rc = sp_url_parse(url_invalid[_i], &u, &why);
    ck_assert_msg(rc == SP_ERR_INVALID, "'%s' accepted (host '%s')", url_invalid[_i], u.host);
    ck_assert_ptr_nonnull(why);
    ck_assert_uint_gt(strlen(why), 0);
}
END_TEST

static const struct {
    const char *in;
    const char *why_part;
} url_reasons[] = {
    {"https://a@b", "user-info"}, {"https://example.com/#x", "fragment"},
    {"https://a b", "space"},     {"example.com", "absolute"},
    {"https://", "empty host"},   {"http://2130706433", "numeric host"},
    {"https://a:0", "port"},      {"https://[::1", "IPv6"},
};

START_TEST(url_reason_table)
{
    sp_url u;
    const char *why = NULL;
    ck_assert_int_eq(sp_url_parse(url_reasons[_i].in, &u, &why), SP_ERR_INVALID);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, url_reasons[_i].why_part) != NULL, "'%s': reason '%s' lacks '%s'",
                  url_reasons[_i].in, why, url_reasons[_i].why_part);
}
END_TEST

START_TEST(url_why_may_be_null)
{
    sp_url u;
    ck_assert_int_eq(sp_url_parse("https://a@b", &u, NULL), SP_ERR_INVALID);
    ck_assert_int_eq(sp_url_parse("https://ok.example", &u, NULL), 0);
}
END_TEST

START_TEST(url_limits)
{
    /* Host: 255 characters fit (SP_URL_HOST_MAX - 1), 256 do not. */
    char s[SP_URL_PATH_MAX + 64];
    sp_url u;
    const char *why;
    strcpy(s, "https://");
    memset(s + 8, 'a', SP_URL_HOST_MAX - 1);
    s[8 + SP_URL_HOST_MAX - 1] = '\0';
    ck_assert_int_eq(sp_url_parse(s, &u, &why), 0);
    ck_assert_uint_eq(strlen(u.host), SP_URL_HOST_MAX - 1);
    memset(s + 8, 'a', SP_URL_HOST_MAX);
    s[8 + SP_URL_HOST_MAX] = '\0';
    ck_assert_int_eq(sp_url_parse(s, &u, &why), SP_ERR_INVALID);

    /* Path: SP_URL_PATH_MAX - 1 characters fit, SP_URL_PATH_MAX do not. */
    strcpy(s, "https://h/");
    memset(s + 10, 'p', SP_URL_PATH_MAX - 2);
    s[10 + SP_URL_PATH_MAX - 2] = '\0';
    ck_assert_int_eq(sp_url_parse(s, &u, &why), 0);
    ck_assert_uint_eq(strlen(u.path), SP_URL_PATH_MAX - 1);
    strcat(s, "p");
    ck_assert_int_eq(sp_url_parse(s, &u, &why), SP_ERR_INVALID);

    /* Query likewise. */
    strcpy(s, "https://h?");
    memset(s + 10, 'q', SP_URL_PATH_MAX - 1);
    s[10 + SP_URL_PATH_MAX - 1] = '\0';
    ck_assert_int_eq(sp_url_parse(s, &u, &why), 0);
    ck_assert_uint_eq(strlen(u.query), SP_URL_PATH_MAX - 1);
    strcat(s, "q");
    ck_assert_int_eq(sp_url_parse(s, &u, &why), SP_ERR_INVALID);
}
END_TEST

static const struct {
    const char *host;
    int loopback;
} loopback_cases[] = {
    {"localhost", 1},
    {"127.0.0.1", 1},
    {"127.255.255.254", 1},
    {"127.0.0.0", 1},
    {"::1", 1},
    {"128.0.0.1", 0},
    {"126.255.255.255", 0},
    {"0.0.0.0", 0},
    {"10.0.0.1", 0},
    {"::", 0},
    {"localhost.", 0},
    {"localhost.evil", 0},
    {"127.0.0.1.nip.io", 0},
    {"evil-localhost", 0},
    {"", 0},
    {"2130706433", 0},
    {"example.com", 0},
};

START_TEST(url_loopback_table)
{
    ck_assert_msg(!!sp_url_host_is_loopback(loopback_cases[_i].host) == loopback_cases[_i].loopback,
                  "loopback('%s') should be %d", loopback_cases[_i].host,
                  loopback_cases[_i].loopback);
}
END_TEST

START_TEST(url_loopback_after_parse)
{
    /* The parser lower-cases and unbrackets, so its host feeds the check. */
    sp_url u;
    ck_assert_int_eq(sp_url_parse("http://LOCALHOST:1", &u, NULL), 0);
    ck_assert(sp_url_host_is_loopback(u.host));
    ck_assert_int_eq(sp_url_parse("http://[::1]:1", &u, NULL), 0);
    ck_assert(sp_url_host_is_loopback(u.host));
    ck_assert_int_eq(sp_url_parse("http://127.9.9.9", &u, NULL), 0);
    ck_assert(sp_url_host_is_loopback(u.host));
    ck_assert_int_eq(sp_url_parse("http://localhost.example", &u, NULL), 0);
    ck_assert(!sp_url_host_is_loopback(u.host));
}
END_TEST

/* ---- ids -------------------------------------------------------------- */

static void check_uuid_format(const char *id, char version)
{
    ck_assert_uint_eq(strlen(id), SP_ID_LEN - 1);
    for (int i = 0; i < SP_ID_LEN - 1; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            ck_assert_msg(id[i] == '-', "'%s': no dash at %d", id, i);
        } else {
            ck_assert_msg(isxdigit((unsigned char)id[i]) && !isupper((unsigned char)id[i]),
                          "'%s': not lower-case hex at %d", id, i);
        }
    }
    ck_assert_msg(id[14] == version, "'%s': version nibble is not %c", id, version);
    ck_assert_msg(strchr("89ab", id[19]) != NULL, "'%s': variant is not RFC 4122", id);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

START_TEST(id_uuid_format_and_uniqueness)
{
    enum { N = 1000 };
    static char ids[N][SP_ID_LEN];
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(sp_id_uuid(ids[i]), 0);
        check_uuid_format(ids[i], '4');
    }
    qsort(ids, N, SP_ID_LEN, cmp_str);
    for (int i = 1; i < N; i++)
        ck_assert_msg(strcmp(ids[i - 1], ids[i]) != 0, "duplicate id %s", ids[i]);
}
END_TEST

/* v7: the first 48 bits are the time in milliseconds, so ids made later
 * sort later (a millisecond apart); within a millisecond they differ. */
START_TEST(id_uuid7_time_ordered)
{
    enum { N = 1000 };
    static char ids[N][SP_ID_LEN];
    int64_t before = sp_time_now_ms();
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(sp_id_uuid7(ids[i]), 0);
        check_uuid_format(ids[i], '7');
    }
    int64_t after = sp_time_now_ms();
    char hex[13];
    memcpy(hex, ids[0], 8);
    memcpy(hex + 8, ids[0] + 9, 4);
    hex[12] = '\0';
    int64_t ms = (int64_t)strtoll(hex, NULL, 16);
    ck_assert_int_ge(ms, before);
    ck_assert_int_le(ms, after);
    char later[SP_ID_LEN];
    usleep(2000);
    ck_assert_int_eq(sp_id_uuid7(later), 0);
    ck_assert_msg(strcmp(ids[N - 1], later) < 0, "%s is not after %s", later, ids[N - 1]);
    qsort(ids, N, SP_ID_LEN, cmp_str);
    for (int i = 1; i < N; i++)
        ck_assert_msg(strcmp(ids[i - 1], ids[i]) != 0, "duplicate id %s", ids[i]);
}
END_TEST

START_TEST(id_random_fills)
{
    /* 64 random bytes are all zero with probability 2^-512. */
    unsigned char buf[64] = {0}, zero[64] = {0};
    ck_assert_int_eq(sp_id_random(buf, sizeof buf), 0);
    ck_assert(memcmp(buf, zero, sizeof buf) != 0);
    ck_assert_int_eq(sp_id_random(buf, 0), 0);
    /* A large request is filled completely (getrandom may return short). */
    size_t n = 1 << 20;
    unsigned char *big = calloc(1, n);
    ck_assert_ptr_nonnull(big);
    ck_assert_int_eq(sp_id_random(big, n), 0);
    ck_assert(memcmp(big + n - sizeof zero, zero, sizeof zero) != 0);
    free(big);
}
END_TEST

static Suite *util_suite(void)
{
    Suite *s = suite_create("util");

    TCase *tc = tcase_create("buf");
    tcase_add_test(tc, buf_append_and_puts);
    tcase_add_test(tc, buf_append_empty_terminates);
    tcase_add_test(tc, buf_grows_across_many_appends);
    tcase_add_test(tc, buf_printf_growth);
    tcase_add_test(tc, buf_reset_keeps_memory);
    tcase_add_test(tc, buf_steal);
    tcase_add_loop_test(tc, buf_json_escape, 0, (int)COUNT(json_escape_cases));
    suite_add_tcase(s, tc);

    tc = tcase_create("time");
    tcase_add_loop_test(tc, duration_table, 0, (int)COUNT(duration_cases));
    tcase_add_test(tc, duration_null);
    tcase_add_loop_test(tc, rfc3339_parse_table, 0, (int)COUNT(rfc3339_cases));
    tcase_add_loop_test(tc, rfc3339_rejects_impossible_days, 0,
                        (int)COUNT(rfc3339_impossible_days));
    tcase_add_test(tc, rfc3339_accepts_real_leap_days);
    tcase_add_loop_test(tc, rfc3339_format_table, 0, (int)COUNT(format_cases));
    tcase_add_test(tc, rfc3339_round_trip);
    tcase_add_test(tc, time_clocks);
    suite_add_tcase(s, tc);

    tc = tcase_create("url");
    tcase_add_loop_test(tc, url_valid_table, 0, (int)COUNT(url_valid));
    tcase_add_test(tc, url_ipv6_host_lower_case);
    tcase_add_loop_test(tc, url_invalid_table, 0, (int)COUNT(url_invalid));
    tcase_add_loop_test(tc, url_reason_table, 0, (int)COUNT(url_reasons));
    tcase_add_test(tc, url_why_may_be_null);
    tcase_add_test(tc, url_limits);
    tcase_add_loop_test(tc, url_loopback_table, 0, (int)COUNT(loopback_cases));
    tcase_add_test(tc, url_loopback_after_parse);
    suite_add_tcase(s, tc);

    tc = tcase_create("id");
    tcase_add_test(tc, id_uuid_format_and_uniqueness);
    tcase_add_test(tc, id_uuid7_time_ordered);
    tcase_add_test(tc, id_random_fills);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(util_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
