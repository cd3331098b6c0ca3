/*
 * test_fetch.c - unit tests of src/util/fetch: the addresses an outbound
 * request may connect to.
 *
 * Each test listens on a loopback port and counts the connections that
 * arrive there. A URL whose name is not loopback but whose address is
 * (an IPv4-mapped IPv6 literal, 0.0.0.0, the machine's own name in
 * /etc/hosts) must be refused before a connection is opened: the count
 * stays 0. A loopback-named URL to the same port shows that the count
 * would see one.
 */
#include "util/buf.h"
#include "util/err.h"
#include "util/fetch.h"

#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A transfer that connects waits this long (the listener never
 * answers), and name resolution must fit in it too: under valgrind
 * resolving a name alone can take longer than 300 ms. */
#define CONNECT_TIMEOUT_MS 2000L
/* A refusal comes before any connection, so a generous bound costs
 * nothing and keeps a slow resolver from passing for a timeout. */
#define REFUSAL_TIMEOUT_MS 10000L

/* Listens on 127.0.0.1 (any port, or 0.0.0.0 when any); returns the
 * socket and writes the port. */
static int listen_loopback(int any, int *port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(any ? INADDR_ANY : INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(s, 16), 0);
    socklen_t len = sizeof a;
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    fcntl(s, F_SETFL, O_NONBLOCK);
    return s;
}

/* Connections waiting on listener s (accepted and closed). */
static int connections(int s)
{
    int n = 0, c;
    while ((c = accept(s, NULL, NULL)) >= 0) {
        close(c);
        n++;
    }
    return n;
}

/* Fetches url (POST, as a webhook) and returns sp_fetch's result. */
static int fetch(const char *url, long timeout_ms, const char **why)
{
    sp_buf body = {0};
    long status = 0;
    sp_fetch_req r = {.method = "POST",
                      .content_type = "application/json",
                      .body = "{}",
                      .body_len = 2,
                      .timeout_ms = timeout_ms,
                      .max_body = 1024};
    int rc = sp_fetch(url, &r, &status, &body, why);
    sp_buf_free(&body);
    return rc;
}

/* Fetches http://<host>:<port>/hook, port that of a listener on
 * 127.0.0.1: a loopback name connects (then times out: the listener
 * never answers), which shows that the listener counts. */
static void connects_to_listener(const char *host)
{
    int port;
    int s = listen_loopback(0, &port);
    char url[64];
    snprintf(url, sizeof url, "http://%s:%d/hook", host, port);
    const char *why = NULL;
    ck_assert_int_eq(fetch(url, CONNECT_TIMEOUT_MS, &why), SP_ERR_UNAVAILABLE);
    ck_assert_int_ge(connections(s), 1);
    close(s);
}

START_TEST(loopback_name_connects)
{
    connects_to_listener("127.0.0.1");
}
END_TEST

/* Fetches https://<host>:<port>/hook, port that of a listener on
 * loopback (or on every address with any), and checks that it is refused
 * for its address without a connection reaching the listener. */
static void refused_without_connection(const char *host, int any)
{
    int port;
    int s = listen_loopback(any, &port);
    char url[400];
    snprintf(url, sizeof url, "https://%s:%d/hook", host, port);
    const char *why = NULL;
    ck_assert_int_eq(fetch(url, REFUSAL_TIMEOUT_MS, &why), SP_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(why, "address"));
    ck_assert_int_eq(connections(s), 0);
    close(s);
}

START_TEST(mapped_loopback_refused)
{
    /* Not a loopback name, so https passes the URL check; the address
     * is 127.0.0.1 all the same. */
    refused_without_connection("[::ffff:127.0.0.1]", 0);
}
END_TEST

START_TEST(unspecified_refused)
{
    refused_without_connection("0.0.0.0", 1); /* 0.0.0.0 would reach it */
}
END_TEST

START_TEST(link_local_refused)
{
    const char *why = NULL;
    /* The cloud metadata address: refused without trying it (a try would
     * end in a timeout, not in this refusal). */
    ck_assert_int_eq(fetch("https://169.254.169.254/latest/meta-data/", REFUSAL_TIMEOUT_MS, &why), SP_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(why, "address"));
}
END_TEST

/* Non-zero when name resolves to an IPv4 loopback address only. */
static int resolves_to_loopback(const char *name)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(name, NULL, &hints, &res) != 0)
        return 0;
    int all = res != NULL;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        if (a->ai_family != AF_INET ||
            (ntohl(((struct sockaddr_in *)a->ai_addr)->sin_addr.s_addr) >> 24) != 127)
            all = 0;
    }
    freeaddrinfo(res);
    return all;
}

START_TEST(hostname_on_loopback_refused)
{
    char name[256] = "";
    gethostname(name, sizeof name - 1);
    if (!name[0] || strcmp(name, "localhost") == 0 || !resolves_to_loopback(name)) {
        fprintf(stderr, "# skipped: the host name '%s' does not resolve to loopback\n", name);
        return;
    }
    refused_without_connection(name, 0);
}
END_TEST

START_TEST(localhost_connects)
{
    connects_to_listener("localhost");
}
END_TEST

/* A proxy named in the environment would receive the connection instead
 * of the URL's host, and the address check would judge the proxy, not the
 * destination: outbound requests must ignore it and connect directly. */
START_TEST(environment_proxy_ignored)
{
    int port, proxy_port;
    int s = listen_loopback(0, &port);
    int proxy = listen_loopback(0, &proxy_port);
    char env[64], url[64];
    snprintf(env, sizeof env, "http://127.0.0.1:%d", proxy_port);
    setenv("http_proxy", env, 1);
    setenv("https_proxy", env, 1);
    setenv("ALL_PROXY", env, 1);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", port);
    const char *why = NULL;
    ck_assert_int_eq(fetch(url, CONNECT_TIMEOUT_MS, &why), SP_ERR_UNAVAILABLE);
    ck_assert_int_eq(connections(proxy), 0);
    ck_assert_int_ge(connections(s), 1);
    close(proxy);
    close(s);
}
END_TEST

static Suite *fetch_suite(void)
{
    Suite *s = suite_create("fetch");
    TCase *tc = tcase_create("addresses");
    tcase_set_timeout(tc, 60); /* two transfers wait for their timeout */
    tcase_add_test(tc, loopback_name_connects);
    tcase_add_test(tc, mapped_loopback_refused);
    tcase_add_test(tc, unspecified_refused);
    tcase_add_test(tc, link_local_refused);
    tcase_add_test(tc, hostname_on_loopback_refused);
    tcase_add_test(tc, localhost_connects);
    tcase_add_test(tc, environment_proxy_ignored);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    SRunner *sr = srunner_create(fetch_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
