/*
 * sse_clients.c - the load side of tests/bench/sse.sh: many concurrent
 * Server-Sent Events clients of GET /api/v1/changes in one process (one
 * epoll loop, non-blocking sockets), and a publisher of storage change
 * events speaking the raw NATS protocol.
 *
 *   sse_clients --port P --users FILE --nats-port P --server-pid PID
 *               [--streams 10] [--sources 4] [--window 256] [--settle 5]
 *               [--idle 30] [--rate 1000] [--duration 20] [--drain 15]
 *               [--nats-pid PID] [--per-second] [--on-publish CMD]
 *
 * FILE has one "<token> <personal drive id>" a line (sse_setup.py).
 *
 * 1. Reads the server's VmRSS, then opens --streams streams per user with
 *    its token, binding the sockets to 127.0.0.2, 127.0.0.3, ... (--sources
 *    addresses, to stay under the server's per-address limit), at most
 *    --window opening at a time. A stream counts as open at its `retry:`.
 * 2. After --settle seconds reads VmRSS again, then measures the server's
 *    CPU (utime+stime from /proc/PID/stat, and per thread) over --idle
 *    seconds of keep-alives only.
 * 3. Publishes --rate spaceport.storage.changed CloudEvents per second for
 *    --duration seconds (HPUB with Nats-Msg-Id), event k to the drive of
 *    user k mod users, itemId "bench-<k>", eTag the send time in ns since
 *    the epoch (CLOCK_REALTIME). Each stream checks its `id:` sequence
 *    (strictly increasing), each receipt is counted per event (it must
 *    reach exactly the --streams streams of the drive's owner), and the
 *    latency publish -> receipt is recorded; the event's "time" (the row's
 *    insert time, ms) splits it into ingest and fan-out. Waits up to
 *    --drain seconds for stragglers.
 *
 * --on-publish CMD runs CMD (/bin/sh -c, in the background) when
 * publishing starts, e.g. a profiler.
 *
 * --rate 0 stops after step 2 (streams only; no bus needed).
 *
 * Prints "key: value" lines. Exit code 0 when every delivery arrived
 * exactly once and in order, 1 otherwise, 2 on a setup error.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 2048
#define HEAD_MAX_BYTES 4096
#define NATS_ID        ((uint64_t)0xffffffffu)
#define MAX_THREADS    64

enum { ST_IDLE, ST_CONNECTING, ST_HEADERS, ST_BODY, ST_CLOSED };
enum { CS_SIZE, CS_EXT, CS_DATA, CS_CRLF, CS_END };

typedef struct conn {
    int fd;
    int user;
    uint8_t state, cstate, overflow, open;
    uint32_t chunk_left;
    uint32_t len; /* bytes in buf: headers, then the current line */
    char *buf;
    int64_t last_id, cur_id;
    char cur_event[32];
    int64_t cur_k, cur_sent_ns, cur_row_ms;
    int64_t started_ns;
    uint32_t events, comments;
} conn;

typedef struct user {
    char *token, *drive;
} user;

static struct {
    int port, nats_port, streams, sources, window, settle, idle, rate, duration, drain;
    int per_second;
    const char *on_publish;
    pid_t server_pid, nats_pid;
    const char *users_file;
} opt = {.streams = 10,
         .sources = 4,
         .window = 256,
         .settle = 5,
         .idle = 30,
         .rate = 1000,
         .duration = 20,
         .drain = 15};

static user *users;
static int nusers;
static conn *conns;
static int nconns;
static int ep = -1;

/* Counters. */
static int opening, opened, failed_open, closed_early;
static long first_status_fail;
static uint64_t comments_total, other_events, wrong_user, dups, out_of_order, seq_mismatch;
static uint64_t received, unparsed;
static int64_t last_receipt_real;
static char first_other[64];

/* Published events: send time, per-event receipt count and event seq. */
static int64_t published;
static int64_t *sent_ns;
static uint16_t *recv_count;
static int64_t *seq_of;

/* Latencies (ns) of each receipt, and the two parts (ms resolution). */
typedef struct samples {
    int64_t *v;
    size_t n, cap;
} samples;
static samples lat, ingest, fanout, open_lat;
/* Per second of publishing: receipts' latencies by second of sending. */
static samples *per_sec;

static int nats_fd = -1;
static char nats_in[4096];
static size_t nats_in_len;
static char run_id[32];

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "sse_clients: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void add_sample(samples *s, int64_t v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v)
            die("realloc");
    }
    s->v[s->n++] = v;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Percentile p (0..100) of sorted samples, nearest rank. */
static int64_t pct(const samples *s, double p)
{
    if (!s->n)
        return 0;
    size_t i = (size_t)(p / 100.0 * (double)s->n + 0.999999);
    if (i < 1)
        i = 1;
    if (i > s->n)
        i = s->n;
    return s->v[i - 1];
}

static void sort_samples(samples *s)
{
    qsort(s->v, s->n, sizeof *s->v, cmp_i64);
}

/* ---- /proc ---- */

static long rss_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    size_t flen = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            v = strtol(line + flen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* utime + stime in clock ticks of a /proc/.../stat file, -1 if gone. */
static long long cpu_ticks_path(const char *path)
{
    char text[1024];
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *p = strrchr(text, ')');
    if (!p)
        return -1;
    /* After ")": state(3) ppid ... utime is field 14, stime 15. */
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

static long long cpu_ticks(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    return cpu_ticks_path(path);
}

typedef struct thread_cpu {
    int n;
    int tid[MAX_THREADS];
    long long ticks[MAX_THREADS];
} thread_cpu;

static void threads_snapshot(pid_t pid, thread_cpu *t)
{
    char dir[64], path[384];
    snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
    t->n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && t->n < MAX_THREADS) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s/stat", dir, e->d_name);
        t->tid[t->n] = atoi(e->d_name);
        t->ticks[t->n] = cpu_ticks_path(path);
        t->n++;
    }
    closedir(d);
}

/* Prints the threads' CPU between two snapshots, busiest first. */
static void threads_report(const char *label, const thread_cpu *a, const thread_cpu *b,
                           double seconds)
{
    int tid[MAX_THREADS];
    long long d[MAX_THREADS];
    int n = 0;
    for (int i = 0; i < b->n; i++) {
        long long before = 0;
        for (int j = 0; j < a->n; j++)
            if (a->tid[j] == b->tid[i])
                before = a->ticks[j];
        tid[n] = b->tid[i];
        d[n++] = b->ticks[i] - before;
    }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (d[j] > d[i]) {
                long long td = d[i];
                d[i] = d[j];
                d[j] = td;
                int tt = tid[i];
                tid[i] = tid[j];
                tid[j] = tt;
            }
    long hz = sysconf(_SC_CLK_TCK);
    printf("%s:", label);
    for (int i = 0; i < n && i < 8; i++)
        if (d[i] > 0)
            printf(" tid %d %.1f%%", tid[i], 100.0 * (double)d[i] / (double)hz / seconds);
    printf("\n");
}

/* Busy and total jiffies of the whole machine (/proc/stat "cpu" line). */
static void machine_ticks(long long *busy, long long *total)
{
    unsigned long long v[8] = {0};
    *busy = *total = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return;
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
               &v[5], &v[6], &v[7]) == 8) {
        for (int i = 0; i < 8; i++)
            *total += (long long)v[i];
        *busy = *total - (long long)(v[3] + v[4]); /* minus idle and iowait */
    }
    fclose(f);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- users ---- */

static void load_users(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die(path);
    char *line = NULL;
    size_t cap = 0;
    int ucap = 0;
    while (getline(&line, &cap, f) > 0) {
        char *tok = strtok(line, " \t\r\n"), *drive = strtok(NULL, " \t\r\n");
        if (!tok || !drive)
            continue;
        if (nusers == ucap) {
            ucap = ucap ? ucap * 2 : 1024;
            users = realloc(users, (size_t)ucap * sizeof *users);
            if (!users)
                die("realloc");
        }
        users[nusers].token = strdup(tok);
        users[nusers].drive = strdup(drive);
        nusers++;
    }
    free(line);
    fclose(f);
    if (!nusers) {
        fprintf(stderr, "sse_clients: no users in %s\n", path);
        exit(2);
    }
}

/* ---- SSE streams ---- */

static void conn_close(conn *c, int early)
{
    if (c->state == ST_CLOSED)
        return;
    if (c->open)
        opened--;
    else
        opening--;
    if (early)
        closed_early++;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->state = ST_CLOSED;
    free(c->buf);
    c->buf = NULL;
}

static void conn_start(int i)
{
    conn *c = &conns[i];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(i % opt.sources));
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0)
        die("bind source address");
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    dst.sin_addr.s_addr = htonl(0x7f000001u);
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS)
        die("connect");
    c->fd = fd;
    c->state = ST_CONNECTING;
    c->started_ns = mono_ns();
    c->last_id = 0;
    c->cur_id = -1;
    c->cur_k = -1;
    c->buf = malloc(HEAD_MAX_BYTES > LINE_MAX_BYTES ? HEAD_MAX_BYTES : LINE_MAX_BYTES);
    if (!c->buf)
        die("malloc");
    c->len = 0;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = (uint64_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        die("epoll_ctl");
    opening++;
}

static void send_request(int i)
{
    conn *c = &conns[i];
    int err = 0;
    socklen_t elen = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err) {
        if (failed_open++ < 3)
            fprintf(stderr, "sse_clients: connect: %s\n", strerror(err));
        conn_close(c, 0);
        return;
    }
    char req[4096];
    int n = snprintf(req, sizeof req,
                     "GET /api/v1/changes HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "Authorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n",
                     opt.port, users[c->user].token);
    if (n <= 0 || (size_t)n >= sizeof req || write(c->fd, req, (size_t)n) != n) {
        failed_open++;
        conn_close(c, 0);
        return;
    }
    c->state = ST_HEADERS;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Parses "...\"key\":\"value\"..." and returns a pointer to value. */
static const char *json_str(const char *s, const char *key)
{
    const char *p = strstr(s, key);
    return p ? p + strlen(key) : NULL;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" -> ms since the epoch, -1 if not that. */
static int64_t parse_time_ms(const char *s)
{
    struct tm tm = {0};
    int ms = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static void on_data_line(conn *c, const char *v)
{
    const char *item = json_str(v, "\"itemId\":\"bench-");
    const char *etag = json_str(v, "\"eTag\":\"");
    const char *when = json_str(v, "\"time\":\"");
    if (item && etag) {
        c->cur_k = strtoll(item, NULL, 10);
        c->cur_sent_ns = strtoll(etag, NULL, 10);
        c->cur_row_ms = when ? parse_time_ms(when) : -1;
    }
}

static void dispatch_event(conn *c, int64_t now_real)
{
    if (c->cur_id < 0 && !c->cur_event[0])
        return;
    if (strcmp(c->cur_event, "item-changed") == 0 && c->cur_k >= 0 && c->cur_k < published) {
        int64_t k = c->cur_k;
        c->events++;
        received++;
        last_receipt_real = now_real;
        if (c->cur_id <= c->last_id) {
            if (c->cur_id == c->last_id)
                dups++;
            else
                out_of_order++;
        } else {
            c->last_id = c->cur_id;
        }
        if (k % nusers != c->user)
            wrong_user++;
        if (recv_count[k] < UINT16_MAX)
            recv_count[k]++;
        if (!seq_of[k])
            seq_of[k] = c->cur_id;
        else if (seq_of[k] != c->cur_id)
            seq_mismatch++;
        int64_t l = now_real - c->cur_sent_ns;
        add_sample(&lat, l);
        if (c->cur_row_ms > 0) {
            add_sample(&ingest, c->cur_row_ms * 1000000 - c->cur_sent_ns);
            add_sample(&fanout, now_real - c->cur_row_ms * 1000000);
        }
        if (per_sec) {
            int64_t sec = (c->cur_sent_ns - sent_ns[0]) / 1000000000;
            if (sec >= 0 && sec < opt.duration)
                add_sample(&per_sec[sec], l);
        }
    } else if (strcmp(c->cur_event, "item-changed") == 0) {
        unparsed++;
    } else {
        if (!other_events++)
            snprintf(first_other, sizeof first_other, "%s", c->cur_event);
    }
    c->cur_id = -1;
    c->cur_k = -1;
    c->cur_event[0] = '\0';
}

static void on_line(conn *c, char *line, uint32_t len, int64_t now_real)
{
    if (len && line[len - 1] == '\r')
        line[--len] = '\0';
    if (len == 0) {
        dispatch_event(c, now_real);
        return;
    }
    if (line[0] == ':') {
        c->comments++;
        comments_total++;
        return;
    }
    char *colon = memchr(line, ':', len);
    const char *value = "";
    if (colon) {
        *colon = '\0';
        value = colon + 1;
        if (*value == ' ')
            value++;
    }
    if (strcmp(line, "id") == 0) {
        c->cur_id = strtoll(value, NULL, 10);
    } else if (strcmp(line, "event") == 0) {
        snprintf(c->cur_event, sizeof c->cur_event, "%s", value);
    } else if (strcmp(line, "data") == 0) {
        on_data_line(c, value);
    } else if (strcmp(line, "retry") == 0 && !c->open) {
        c->open = 1;
        opened++;
        opening--;
        add_sample(&open_lat, mono_ns() - c->started_ns);
    }
}

/* Body bytes (de-chunked) into SSE lines. */
static void sse_bytes(conn *c, const char *p, size_t n, int64_t now_real)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            c->buf[c->len < LINE_MAX_BYTES ? c->len : LINE_MAX_BYTES - 1] = '\0';
            on_line(c, c->buf, c->len < LINE_MAX_BYTES ? c->len : LINE_MAX_BYTES - 1, now_real);
            c->len = 0;
        } else if (c->len < LINE_MAX_BYTES - 1) {
            c->buf[c->len++] = p[i];
        } else {
            c->overflow = 1;
        }
    }
}

/* Raw body bytes: chunked transfer coding. Returns -1 at the last chunk. */
static int body_bytes(conn *c, const char *p, size_t n, int64_t now_real)
{
    size_t i = 0;
    while (i < n) {
        switch (c->cstate) {
        case CS_SIZE: {
            char ch = p[i++];
            if (isxdigit((unsigned char)ch))
                c->chunk_left =
                    c->chunk_left * 16 +
                    (uint32_t)(isdigit((unsigned char)ch) ? ch - '0' : (tolower(ch) - 'a' + 10));
            else if (ch == ';')
                c->cstate = CS_EXT;
            else if (ch == '\n')
                c->cstate = c->chunk_left ? CS_DATA : CS_END;
            break;
        }
        case CS_EXT:
            if (p[i++] == '\n')
                c->cstate = c->chunk_left ? CS_DATA : CS_END;
            break;
        case CS_DATA: {
            size_t take = n - i < c->chunk_left ? n - i : c->chunk_left;
            sse_bytes(c, p + i, take, now_real);
            i += take;
            c->chunk_left -= (uint32_t)take;
            if (!c->chunk_left)
                c->cstate = CS_CRLF;
            break;
        }
        case CS_CRLF:
            if (p[i++] == '\n') {
                c->cstate = CS_SIZE;
                c->chunk_left = 0;
            }
            break;
        case CS_END:
            return -1;
        }
    }
    return c->cstate == CS_END ? -1 : 0;
}

/* Response head; then the rest of the bytes go to body_bytes. */
static int head_bytes(conn *c, const char *p, size_t n, int64_t now_real)
{
    size_t take = n;
    if (c->len + take > HEAD_MAX_BYTES - 1)
        take = HEAD_MAX_BYTES - 1 - c->len;
    memcpy(c->buf + c->len, p, take);
    c->len += (uint32_t)take;
    c->buf[c->len] = '\0';
    char *end = strstr(c->buf, "\r\n\r\n");
    if (!end)
        return c->len >= HEAD_MAX_BYTES - 1 ? -1 : 0;
    size_t head_len = (size_t)(end + 4 - c->buf);
    int status = 0;
    sscanf(c->buf, "HTTP/1.%*d %d", &status);
    int chunked = 0;
    for (char *q = c->buf; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    chunked = strstr(c->buf, "transfer-encoding: chunked") != NULL;
    if (status != 200 || !chunked) {
        if (failed_open++ < 3)
            fprintf(stderr, "sse_clients: stream refused: status %d%s\n", status,
                    chunked ? "" : " (not chunked)");
        if (!first_status_fail)
            first_status_fail = status;
        return -1;
    }
    /* Bytes of this read after the head (the head may span reads). */
    size_t before = c->len - take; /* bytes held before this read */
    size_t used = head_len - before;
    c->state = ST_BODY;
    c->cstate = CS_SIZE;
    c->chunk_left = 0;
    c->len = 0;
    return body_bytes(c, p + used, n - used, now_real);
}

static void on_readable(int i)
{
    static char rbuf[65536];
    conn *c = &conns[i];
    for (;;) {
        ssize_t n = read(c->fd, rbuf, sizeof rbuf);
        if (n > 0) {
            int64_t now = real_ns();
            int rc = c->state == ST_HEADERS ? head_bytes(c, rbuf, (size_t)n, now)
                                            : body_bytes(c, rbuf, (size_t)n, now);
            if (rc < 0) {
                conn_close(c, c->open);
                return;
            }
            if ((size_t)n < sizeof rbuf)
                return;
        } else if (n == 0) {
            conn_close(c, c->open);
            return;
        } else {
            if (errno != EAGAIN && errno != EINTR)
                conn_close(c, c->open);
            return;
        }
    }
}

/* ---- NATS publisher ---- */

static void nats_write(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(nats_fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct pollfd pf = {.fd = nats_fd, .events = POLLOUT};
                poll(&pf, 1, 100);
                continue;
            }
            die("write to nats-server");
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Handles what the server sent: PING gets PONG, -ERR is shown. */
static void nats_readable(void)
{
    for (;;) {
        ssize_t n = read(nats_fd, nats_in + nats_in_len, sizeof nats_in - 1 - nats_in_len);
        if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                fprintf(stderr, "sse_clients: nats-server closed the connection\n");
                exit(2);
            }
            return;
        }
        nats_in_len += (size_t)n;
        nats_in[nats_in_len] = '\0';
        char *line = nats_in, *nl;
        while ((nl = strstr(line, "\r\n"))) {
            *nl = '\0';
            if (strncmp(line, "PING", 4) == 0)
                nats_write("PONG\r\n", 6);
            else if (strncmp(line, "-ERR", 4) == 0)
                fprintf(stderr, "sse_clients: nats-server: %s\n", line);
            line = nl + 2;
        }
        nats_in_len = (size_t)(nats_in + nats_in_len - line);
        memmove(nats_in, line, nats_in_len);
        if (nats_in_len >= sizeof nats_in - 1)
            nats_in_len = 0; /* a long INFO line: not needed */
    }
}

static void nats_connect(void)
{
    nats_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (nats_fd < 0)
        die("socket");
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.nats_port)};
    dst.sin_addr.s_addr = htonl(0x7f000001u);
    if (connect(nats_fd, (struct sockaddr *)&dst, sizeof dst) < 0)
        die("connect to nats-server");
    int one = 1;
    setsockopt(nats_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const char *hello = "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,"
                        "\"name\":\"sse-bench\"}\r\nPING\r\n";
    nats_write(hello, strlen(hello));
    /* Wait for the PONG (after INFO). */
    char in[8192];
    size_t len = 0;
    int64_t deadline = mono_ns() + 5000000000LL;
    while (mono_ns() < deadline) {
        struct pollfd pf = {.fd = nats_fd, .events = POLLIN};
        if (poll(&pf, 1, 100) <= 0)
            continue;
        ssize_t n = read(nats_fd, in + len, sizeof in - 1 - len);
        if (n <= 0)
            die("read from nats-server");
        len += (size_t)n;
        in[len] = '\0';
        if (strstr(in, "-ERR")) {
            fprintf(stderr, "sse_clients: nats-server refused: %s\n", in);
            exit(2);
        }
        if (strstr(in, "PONG\r\n"))
            break;
        if (len >= sizeof in - 1)
            len = 0;
    }
    fcntl(nats_fd, F_SETFL, fcntl(nats_fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = NATS_ID};
    epoll_ctl(ep, EPOLL_CTL_ADD, nats_fd, &ev);
}

static void rfc3339(int64_t ns, char out[32])
{
    time_t s = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char secs[24];
    strftime(secs, sizeof secs, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%.19s.%03uZ", secs, (unsigned)(ns / 1000000 % 1000));
}

static void publish_one(int64_t k)
{
    char id[64], hdr[256], body[1024], when[32], msg[2048];
    int64_t now = real_ns();
    rfc3339(now, when);
    snprintf(id, sizeof id, "sse-bench-%s-%lld", run_id, (long long)k);
    int hl = snprintf(hdr, sizeof hdr,
                      "NATS/1.0\r\nNats-Msg-Id: %s\r\nContent-Type: "
                      "application/cloudevents+json\r\n\r\n",
                      id);
    int bl =
        snprintf(body, sizeof body,
                 "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"urn:spaceport:bench:sse\","
                 "\"type\":\"spaceport.storage.changed\",\"time\":\"%s\","
                 "\"datacontenttype\":\"application/json\",\"data\":{\"driveId\":\"%s\","
                 "\"itemId\":\"bench-%lld\",\"eTag\":\"%lld\",\"lastModifiedDateTime\":\"%s\","
                 "\"change\":\"updated\"}}",
                 id, when, users[k % nusers].drive, (long long)k, (long long)now, when);
    int ml = snprintf(msg, sizeof msg, "HPUB spaceport.storage.changed %d %d\r\n%s%s\r\n", hl,
                      hl + bl, hdr, body);
    if (hl <= 0 || bl <= 0 || ml <= 0 || (size_t)ml >= sizeof msg) {
        fprintf(stderr, "sse_clients: message too long\n");
        exit(2);
    }
    sent_ns[k] = now;
    published = k + 1;
    nats_write(msg, (size_t)ml);
}

/* ---- the loop ---- */

static void poll_once(int timeout_ms)
{
    static struct epoll_event evs[1024];
    int n = epoll_wait(ep, evs, 1024, timeout_ms);
    for (int e = 0; e < n; e++) {
        uint64_t id = evs[e].data.u64;
        if (id == NATS_ID) {
            nats_readable();
            continue;
        }
        conn *c = &conns[id];
        if (c->state == ST_CONNECTING)
            send_request((int)id);
        else if (c->state == ST_HEADERS || c->state == ST_BODY)
            on_readable((int)id);
    }
}

static void run_for(int64_t ns)
{
    int64_t end = mono_ns() + ns;
    for (int64_t now = mono_ns(); now < end; now = mono_ns())
        poll_once((int)((end - now) / 1000000 + 1));
}

static void usage(void)
{
    fprintf(stderr, "usage: sse_clients --port P --users FILE [--nats-port P] --server-pid PID "
                    "[--streams N] [--sources N] [--window N] [--settle S] [--idle S] "
                    "[--rate R] [--duration S] [--drain S] [--nats-pid PID] [--per-second] "
                    "[--on-publish CMD]\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    static const struct option longs[] = {
        {"port", required_argument, 0, 'p'},       {"users", required_argument, 0, 'u'},
        {"nats-port", required_argument, 0, 'n'},  {"server-pid", required_argument, 0, 's'},
        {"streams", required_argument, 0, 'k'},    {"sources", required_argument, 0, 'a'},
        {"window", required_argument, 0, 'w'},     {"settle", required_argument, 0, 'e'},
        {"idle", required_argument, 0, 'i'},       {"rate", required_argument, 0, 'r'},
        {"duration", required_argument, 0, 'd'},   {"drain", required_argument, 0, 'D'},
        {"nats-pid", required_argument, 0, 'N'},   {"per-second", no_argument, 0, 'S'},
        {"on-publish", required_argument, 0, 'O'}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 'p':
            opt.port = atoi(optarg);
            break;
        case 'u':
            opt.users_file = optarg;
            break;
        case 'n':
            opt.nats_port = atoi(optarg);
            break;
        case 's':
            opt.server_pid = (pid_t)atoi(optarg);
            break;
        case 'k':
            opt.streams = atoi(optarg);
            break;
        case 'a':
            opt.sources = atoi(optarg);
            break;
        case 'w':
            opt.window = atoi(optarg);
            break;
        case 'e':
            opt.settle = atoi(optarg);
            break;
        case 'i':
            opt.idle = atoi(optarg);
            break;
        case 'r':
            opt.rate = atoi(optarg);
            break;
        case 'd':
            opt.duration = atoi(optarg);
            break;
        case 'D':
            opt.drain = atoi(optarg);
            break;
        case 'N':
            opt.nats_pid = (pid_t)atoi(optarg);
            break;
        case 'S':
            opt.per_second = 1;
            break;
        case 'O':
            opt.on_publish = optarg;
            break;
        default:
            usage();
        }
    }
    if (!opt.port || !opt.users_file || (opt.rate > 0 && !opt.nats_port) || !opt.server_pid ||
        opt.streams < 1 || opt.sources < 1 || opt.sources > 250 || opt.window < 1 || opt.rate < 0 ||
        opt.duration < 1 || opt.idle < 1)
        usage();
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    load_users(opt.users_file);
    nconns = nusers * opt.streams;
    snprintf(run_id, sizeof run_id, "%d-%lld", (int)getpid(), (long long)(real_ns() / 1000000));

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)nconns + 64) {
        fprintf(stderr, "sse_clients: RLIMIT_NOFILE %llu is too low for %d streams\n",
                (unsigned long long)rl.rlim_cur, nconns);
        return 2;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    conns = calloc((size_t)nconns, sizeof *conns);
    if (!conns)
        die("calloc");
    for (int i = 0; i < nconns; i++) {
        conns[i].fd = -1;
        conns[i].user = i % nusers; /* a user's streams come from several addresses */
    }

    long hz = sysconf(_SC_CLK_TCK);
    printf("users: %d\nstreams per user: %d\nstreams: %d\nsource addresses: 127.0.0.2-%d\n", nusers,
           opt.streams, nconns, 1 + opt.sources);
    long rss_before = rss_kib(opt.server_pid, "VmRSS");
    printf("server RSS before streams: %ld KiB\n", rss_before);

    /* 1. Open every stream, --window at a time. */
    int64_t t0 = mono_ns();
    int next = 0;
    while ((next < nconns || opening > 0) && mono_ns() - t0 < 300000000000LL) {
        while (next < nconns && opening < opt.window)
            conn_start(next++);
        poll_once(10);
    }
    double open_s = (double)(mono_ns() - t0) / 1e9;
    sort_samples(&open_lat);
    printf("streams open: %d of %d in %.1f s (failed %d%s)\n", opened, nconns, open_s, failed_open,
           first_status_fail ? ", see stderr" : "");
    printf("stream open time: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
           (double)pct(&open_lat, 50) / 1e6, (double)pct(&open_lat, 99) / 1e6,
           (double)pct(&open_lat, 100) / 1e6);
    if (opened < nconns)
        fprintf(stderr, "sse_clients: not every stream opened; continuing with %d\n", opened);

    /* 2. Memory and idle CPU. */
    run_for((int64_t)opt.settle * 1000000000);
    long rss_open = rss_kib(opt.server_pid, "VmRSS");
    printf("server RSS with %d idle streams: %ld KiB\n", opened, rss_open);
    if (opened > 0)
        printf("server RSS per stream: %.1f KiB\n", (double)(rss_open - rss_before) / opened);
    uint64_t comments_before = comments_total;
    long long c0 = cpu_ticks(opt.server_pid);
    thread_cpu th0, th1;
    threads_snapshot(opt.server_pid, &th0);
    double self0 = self_cpu_s();
    long long mb0, mt0, mb1, mt1;
    machine_ticks(&mb0, &mt0);
    int64_t i0 = mono_ns();
    run_for((int64_t)opt.idle * 1000000000);
    double idle_s = (double)(mono_ns() - i0) / 1e9;
    long long c1 = cpu_ticks(opt.server_pid);
    threads_snapshot(opt.server_pid, &th1);
    machine_ticks(&mb1, &mt1);
    printf("server CPU idle with keep-alives: %.2f%% of one core (%.0f ms CPU over %.1f s)\n",
           100.0 * (double)(c1 - c0) / (double)hz / idle_s, 1000.0 * (double)(c1 - c0) / (double)hz,
           idle_s);
    threads_report("server CPU idle by thread", &th0, &th1, idle_s);
    printf("keep-alive comments received while idle: %llu (%.0f/s)\n",
           (unsigned long long)(comments_total - comments_before),
           (double)(comments_total - comments_before) / idle_s);
    printf("client CPU idle: %.2f%% of one core\n", 100.0 * (self_cpu_s() - self0) / idle_s);
    printf("machine CPU busy while idle (all processes): %.1f%% of %ld cores\n",
           mt1 > mt0 ? 100.0 * (double)(mb1 - mb0) / (double)(mt1 - mt0) : 0.0,
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("streams still open after idle: %d (closed early: %d)\n", opened, closed_early);
    printf("server RSS after idle: %ld KiB\n", rss_kib(opt.server_pid, "VmRSS"));
    if (opt.rate == 0) {
        /* Streams only (a baseline server has no bus). */
        int held = opened == nconns && closed_early == 0;
        for (int i = 0; i < nconns; i++)
            conn_close(&conns[i], 0);
        printf("result: %s\n", held ? "every stream held" : "FAILED");
        return held ? 0 : 1;
    }

    /* 3. Storage change events. */
    int64_t total = (int64_t)opt.rate * opt.duration;
    sent_ns = calloc((size_t)total, sizeof *sent_ns);
    recv_count = calloc((size_t)total, sizeof *recv_count);
    seq_of = calloc((size_t)total, sizeof *seq_of);
    if (opt.per_second)
        per_sec = calloc((size_t)opt.duration, sizeof *per_sec);
    if (!sent_ns || !recv_count || !seq_of || (opt.per_second && !per_sec))
        die("calloc");
    nats_connect();
    if (opt.on_publish && fork() == 0) {
        /* E.g. a profiler attached for the publishing phase. */
        execl("/bin/sh", "sh", "-c", opt.on_publish, (char *)NULL);
        _exit(127);
    }
    long long p0 = cpu_ticks(opt.server_pid), n0 = opt.nats_pid ? cpu_ticks(opt.nats_pid) : 0;
    threads_snapshot(opt.server_pid, &th0);
    self0 = self_cpu_s();
    machine_ticks(&mb0, &mt0);
    int64_t start = mono_ns();
    int64_t k = 0;
    while (k < total) {
        int64_t now = mono_ns();
        int64_t due = (now - start) * opt.rate / 1000000000 + 1;
        if (due > total)
            due = total;
        while (k < due)
            publish_one(k++);
        poll_once(1);
    }
    double pub_s = (double)(mono_ns() - start) / 1e9;
    /* Stragglers: until everything arrived or nothing moved for --drain s. */
    int64_t expected = total * opt.streams;
    int64_t last_move = mono_ns();
    uint64_t last_received = received;
    while ((int64_t)received < expected &&
           mono_ns() - last_move < (int64_t)opt.drain * 1000000000) {
        poll_once(50);
        if (received != last_received) {
            last_received = received;
            last_move = mono_ns();
        }
    }
    double all_s = (double)(mono_ns() - start) / 1e9;
    double last_s = (double)(last_receipt_real - sent_ns[0]) / 1e9;
    long long p1 = cpu_ticks(opt.server_pid), n1 = opt.nats_pid ? cpu_ticks(opt.nats_pid) : 0;
    threads_snapshot(opt.server_pid, &th1);
    double self1 = self_cpu_s();
    machine_ticks(&mb1, &mt1);

    int64_t unique = 0, lost = 0, extra = 0, lost_events = 0;
    for (int64_t j = 0; j < total; j++) {
        int got = recv_count[j];
        unique += got < opt.streams ? got : opt.streams;
        if (got < opt.streams) {
            lost += opt.streams - got;
            lost_events++;
        } else {
            extra += got - opt.streams;
        }
    }
    sort_samples(&lat);
    sort_samples(&ingest);
    sort_samples(&fanout);
    printf("events published: %lld in %.1f s (%.0f/s)\n", (long long)published, pub_s,
           (double)published / pub_s);
    printf("deliveries expected: %lld\n", (long long)expected);
    printf("last receipt %.2f s after the first publish (%.0f events/s end to end)\n", last_s,
           (double)published / last_s);
    printf("deliveries received: %llu (unique %lld, missing %lld in %lld events, extra %lld)\n",
           (unsigned long long)received, (long long)unique, (long long)lost, (long long)lost_events,
           (long long)extra);
    printf("duplicates (same id again): %llu\n", (unsigned long long)dups);
    printf("out of order (id decreased): %llu\n", (unsigned long long)out_of_order);
    printf("wrong recipient: %llu, id differing between a user's streams: %llu, other events: "
           "%llu%s%s\n",
           (unsigned long long)wrong_user, (unsigned long long)seq_mismatch,
           (unsigned long long)other_events, other_events ? " first " : "", first_other);
    printf("latency publish->client: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, "
           "max %.2f ms\n",
           (double)pct(&lat, 50) / 1e6, (double)pct(&lat, 90) / 1e6, (double)pct(&lat, 99) / 1e6,
           (double)pct(&lat, 99.9) / 1e6, (double)pct(&lat, 100) / 1e6);
    printf("  publish->event row (ms clock): p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
           (double)pct(&ingest, 50) / 1e6, (double)pct(&ingest, 99) / 1e6,
           (double)pct(&ingest, 100) / 1e6);
    printf("  event row->client (ms clock): p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
           (double)pct(&fanout, 50) / 1e6, (double)pct(&fanout, 99) / 1e6,
           (double)pct(&fanout, 100) / 1e6);
    if (per_sec) {
        for (int s = 0; s < opt.duration; s++) {
            sort_samples(&per_sec[s]);
            printf("  second %2d: %6zu receipts, p50 %7.2f ms, p99 %7.2f ms, max %7.2f ms\n", s,
                   per_sec[s].n, (double)pct(&per_sec[s], 50) / 1e6,
                   (double)pct(&per_sec[s], 99) / 1e6, (double)pct(&per_sec[s], 100) / 1e6);
        }
    }
    printf("server CPU while publishing: %.1f%% of one core (over %.1f s)\n",
           100.0 * (double)(p1 - p0) / (double)hz / all_s, all_s);
    threads_report("server CPU publishing by thread", &th0, &th1, all_s);
    if (opt.nats_pid)
        printf("nats-server CPU while publishing: %.1f%% of one core\n",
               100.0 * (double)(n1 - n0) / (double)hz / all_s);
    printf("client CPU while publishing: %.1f%% of one core\n", 100.0 * (self1 - self0) / all_s);
    printf("machine CPU busy while publishing (all processes): %.1f%% of %ld cores\n",
           mt1 > mt0 ? 100.0 * (double)(mb1 - mb0) / (double)(mt1 - mt0) : 0.0,
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("server RSS after publishing: %ld KiB (peak %ld KiB)\n",
           rss_kib(opt.server_pid, "VmRSS"), rss_kib(opt.server_pid, "VmHWM"));
    printf("streams still open: %d (closed early: %d)\n", opened, closed_early);

    int ok = opened == nconns && closed_early == 0 && received == (uint64_t)expected &&
             unique == expected && !dups && !out_of_order && !wrong_user && !extra;
    for (int i = 0; i < nconns; i++)
        conn_close(&conns[i], 0);
    close(nats_fd);
    printf("result: %s\n", ok ? "every delivery exactly once, in order" : "FAILED");
    return ok ? 0 : 1;
}
