/*
 * sse_bare.c - the baseline for tests/bench/sse.sh: a bare libmicrohttpd
 * Server-Sent Events holder configured like spaceport's server (epoll
 * thread pool, suspend/resume, the same connection memory and stream
 * block size), answering every GET with a stream that sends its `retry:`
 * line and then sleeps suspended. No authentication, no database, no hub:
 * what a held stream costs libmicrohttpd alone.
 *
 *   sse_bare <port> <connection-memory-bytes> <stream-block-bytes> [threads]
 *
 * Runs until SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef struct stream {
    struct MHD_Connection *conn;
    int sent;
} stream;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream *s = cls;
    if (!s->sent) {
        static const char hello[] = "retry: 3000\n\n";
        size_t n = sizeof hello - 1 < max ? sizeof hello - 1 : max;
        memcpy(buf, hello, n);
        s->sent = 1;
        return (ssize_t)n;
    }
    MHD_suspend_connection(s->conn); /* nothing more: sleep without a thread */
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    static int first_call;
    if (!*con_cls) {
        *con_cls = &first_call; /* reply on the second call (PITFALLS.md) */
        return MHD_YES;
    }
    *upload_data_size = 0;
    stream *s = calloc(1, sizeof *s);
    if (!s)
        return MHD_NO;
    s->conn = conn;
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, (size_t)(intptr_t)cls, stream_read, s, free);
    if (!resp) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    enum MHD_Result ok = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: sse_bare <port> <connection-memory-bytes> <stream-block-bytes> "
                        "[threads]\n");
        return 2;
    }
    unsigned port = (unsigned)atoi(argv[1]);
    size_t memory = (size_t)atol(argv[2]);
    size_t block = (size_t)atol(argv[3]);
    unsigned threads = argc > 4 ? (unsigned)atoi(argv[4]) : 2;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME,
                         (uint16_t)port, NULL, NULL, on_request, (void *)(intptr_t)block,
                         MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_THREAD_POOL_SIZE, threads,
                         MHD_OPTION_CONNECTION_LIMIT, 20000u, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                         4096u, MHD_OPTION_CONNECTION_MEMORY_LIMIT, memory, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "sse_bare: cannot listen on port %u\n", port);
        return 1;
    }
    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;
    /* Streams are suspended and libmicrohttpd must not be stopped with
     * suspended connections: the process just ends. */
    _exit(0);
}
