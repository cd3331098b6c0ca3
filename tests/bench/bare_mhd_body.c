/*
 * bare_mhd_body.c - the ceiling for tests/bench/drives.py: bare_mhd (an
 * epoll thread pool, response queued on the second call of the access
 * handler so keep-alive holds) answering every request with the contents
 * of a file, so that the body is the size of the response being compared
 * (a /me/drives listing is some kilobytes, bare_mhd's body 150 bytes).
 *
 *   bare_mhd_body <port> <threads> <body-file>
 *
 * Serves 127.0.0.1:<port> with Content-Type application/json until
 * SIGTERM/SIGINT.
 */
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *body;
static size_t body_len;

/* Marker stored in *con_cls after the first call. */
static int seen;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    if (!*con_cls) {
        /* First call: queuing now would cost keep-alive in 0.9.75. */
        *con_cls = &seen;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(body_len, body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static int read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 1 << 16;
    body = malloc(cap);
    while (body) {
        size_t n = fread(body + body_len, 1, cap - body_len, f);
        body_len += n;
        if (n == 0)
            break;
        if (body_len == cap) {
            char *bigger = realloc(body, cap * 2);
            if (!bigger) {
                free(body);
                body = NULL;
                break;
            }
            body = bigger;
            cap *= 2;
        }
    }
    int err = ferror(f);
    fclose(f);
    return body && !err ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bare_mhd_body <port> <threads> <body-file>\n");
        return 2;
    }
    unsigned port = (unsigned)atoi(argv[1]);
    unsigned threads = (unsigned)atoi(argv[2]);
    if (read_file(argv[3]) < 0) {
        fprintf(stderr, "bare_mhd_body: cannot read %s\n", argv[3]);
        return 1;
    }
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL, on_request,
        NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bare_mhd_body: cannot listen on 127.0.0.1:%u\n", port);
        return 1;
    }
    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;
    MHD_stop_daemon(d);
    free(body);
    return 0;
}
