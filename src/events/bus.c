/*
 * bus.c - NATS connection, embedded nats-server child and stream set-up.
 */
#include "events/bus.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long the embedded server may take to accept connections. */
#define SP_BUS_START_TIMEOUT_MS 10000
/* How long it gets to exit on SIGTERM before SIGKILL. */
#define SP_BUS_STOP_TIMEOUT_MS 5000
/* Pause between reconnect attempts to an external server. */
#define SP_BUS_RECONNECT_WAIT_MS 500
/* How long close waits for the library's closed callback. */
#define SP_BUS_CLOSE_WAIT_S 5
/* Pause before the keeper tries to verify the stream again. */
#define SP_BUS_KEEPER_RETRY_MS 250

struct sp_bus {
    pid_t child;          /* embedded nats-server, or 0 */
    int embedded_port;
    int replicas; /* of the stream */
    natsOptions *opts;
    natsConnection *conn;
    jsCtx *js;
    atomic_int stream_ok; /* stream verified on the current connection */
    atomic_uint_fast64_t generation; /* connections whose stream was verified */
    atomic_int closing;
    pthread_t keeper;     /* ensures the stream after each (re)connect */
    int keeper_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int reconnected;      /* guarded by lock */
    int closed;           /* the library's last callback ran; guarded by lock */
};

/* Finds a free loopback TCP port by binding port 0. The port is released
 * before nats-server binds it; a lost race makes the start fail and retry. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static void stop_child(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    int64_t deadline = sp_time_mono_ms() + SP_BUS_STOP_TIMEOUT_MS;
    while (sp_time_mono_ms() < deadline) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return;
        usleep(20 * 1000);
    }
    sp_warn("bus", "nats-server did not stop in time; killing it");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* Starts nats-server on a free loopback port with its store in dir. */
static int start_embedded(const char *data_dir, pid_t *pid_out, int *port_out)
{
    sp_buf store = {0};
    if (sp_buf_printf(&store, "%s/nats", data_dir) < 0)
        return SP_ERR_NOMEM;
    if (mkdir(store.data, 0700) != 0 && errno != EEXIST) {
        sp_error("bus", "cannot create %s: %s", store.data, strerror(errno));
        sp_buf_free(&store);
        return SP_ERR_IO;
    }
    sp_buf log_path = {0};
    if (sp_buf_printf(&log_path, "%s/server.log", store.data) < 0) {
        sp_buf_free(&store);
        return SP_ERR_NOMEM;
    }
    int log_fd = open(log_path.data, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int rc = SP_ERR_IO;
    for (int attempt = 0; attempt < 3; attempt++) {
        int port = free_port();
        if (port < 0)
            break;
        char port_s[16];
        snprintf(port_s, sizeof port_s, "%d", port);
        /* A pipe with close-on-exec tells us whether exec succeeded. */
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) != 0)
            break;
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) {
            close(pfd[0]);
            close(pfd[1]);
            break;
        }
        if (pid == 0) {
            /* The bus must not outlive us, even after a SIGKILL. */
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != parent)
                _exit(127);
            /* Its own log format would break our one-JSON-object-a-line
             * stderr: it goes to a file in its store directory. */
            int devnull = open("/dev/null", O_RDWR);
            if (devnull >= 0)
                dup2(devnull, STDIN_FILENO);
            if (log_fd >= 0) {
                dup2(log_fd, STDOUT_FILENO);
                dup2(log_fd, STDERR_FILENO);
            }
            execlp("nats-server", "nats-server", "-a", "127.0.0.1", "-p", port_s, "-js", "-sd",
                   store.data, (char *)NULL);
            int e = errno;
            ssize_t ignored = write(pfd[1], &e, sizeof e);
            (void)ignored;
            _exit(127);
        }
        close(pfd[1]);
        int child_errno = 0;
        ssize_t n = read(pfd[0], &child_errno, sizeof child_errno);
        close(pfd[0]);
        if (n == (ssize_t)sizeof child_errno) {
            waitpid(pid, NULL, 0);
            sp_error("bus",
                     "cannot run nats-server (%s); install the nats-server package or set "
                     "SPACEPORT_NATS_URL",
                     strerror(child_errno));
            rc = SP_ERR_IO;
            break;
        }
        int64_t deadline = sp_time_mono_ms() + SP_BUS_START_TIMEOUT_MS;
        int up = 0, exited = 0;
        while (sp_time_mono_ms() < deadline) {
            if (port_accepts(port)) {
                up = 1;
                break;
            }
            if (waitpid(pid, NULL, WNOHANG) == pid) {
                exited = 1;
                break;
            }
            usleep(20 * 1000);
        }
        if (up) {
            *pid_out = pid;
            *port_out = port;
            sp_info("bus", "embedded nats-server pid %d on 127.0.0.1:%d, store %s, log %s",
                    (int)pid, port, store.data, log_path.data);
            rc = 0;
            break;
        }
        if (!exited)
            stop_child(pid);
        sp_warn("bus", "embedded nats-server did not start on port %d (attempt %d)", port,
                attempt + 1);
        rc = SP_ERR_UNAVAILABLE;
    }
    if (log_fd >= 0)
        close(log_fd);
    sp_buf_free(&log_path);
    sp_buf_free(&store);
    return rc;
}

/* Whether the stream as it is has the config Spaceport gives it. */
static int stream_as_configured(const jsStreamConfig *have, const jsStreamConfig *want)
{
    return have && have->SubjectsLen == 1 && have->Subjects && have->Subjects[0] &&
           strcmp(have->Subjects[0], want->Subjects[0]) == 0 && have->Storage == want->Storage &&
           have->Replicas == want->Replicas && have->Duplicates == want->Duplicates;
}

/* Makes sure the stream exists as configured: reads it first (answered by
 * the stream's leader, the cheap and usual case after a reconnect), creates
 * it when it is missing and updates it when its config differs. */
static int ensure_stream(sp_bus *bus)
{
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subjects[] = {SP_BUS_SUBJECTS};
    sc.Name = SP_BUS_STREAM;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Replicas = bus->replicas;
    sc.Duplicates = (int64_t)SP_BUS_DUPLICATE_WINDOW_S * 1000000000LL;

    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, bus->js, SP_BUS_STREAM, NULL, &jerr);
    if (s == NATS_OK && stream_as_configured(si->Config, &sc)) {
        jsStreamInfo_Destroy(si);
        return 0;
    }
    if (si) {
        jsStreamInfo_Destroy(si);
        si = NULL;
        s = js_UpdateStream(&si, bus->js, &sc, NULL, &jerr);
    } else if (jerr == JSStreamNotFoundErr) {
        s = js_AddStream(&si, bus->js, &sc, NULL, &jerr);
        if (s != NATS_OK && jerr == JSStreamNameExistErr)
            s = js_UpdateStream(&si, bus->js, &sc, NULL, &jerr);
    }
    if (si)
        jsStreamInfo_Destroy(si);
    if (s != NATS_OK) {
        sp_warn("bus", "stream %s not ready: %s (JetStream error %d)", SP_BUS_STREAM,
                natsStatus_GetText(s), (int)jerr);
        return SP_ERR_UNAVAILABLE;
    }
    return 0;
}

/* Keeper thread: after each (re)connect make sure the stream exists. The
 * NATS callbacks must not block, so they only wake this thread. */
static void *keeper_main(void *arg)
{
    sp_bus *bus = arg;
    pthread_mutex_lock(&bus->lock);
    while (!atomic_load(&bus->closing)) {
        if (!atomic_load(&bus->stream_ok) && bus->conn &&
            natsConnection_Status(bus->conn) == NATS_CONN_STATUS_CONNECTED) {
            pthread_mutex_unlock(&bus->lock);
            int ok = ensure_stream(bus) == 0;
            pthread_mutex_lock(&bus->lock);
            if (ok) {
                atomic_fetch_add(&bus->generation, 1);
                atomic_store(&bus->stream_ok, 1);
                sp_info("bus", "stream %s ready", SP_BUS_STREAM);
            }
        }
        bus->reconnected = 0;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = atomic_load(&bus->stream_ok) ? 1000000000LL
                                                 : SP_BUS_KEEPER_RETRY_MS * 1000000LL;
        ts.tv_nsec += ns;
        ts.tv_sec += ts.tv_nsec / 1000000000LL;
        ts.tv_nsec %= 1000000000LL;
        while (!bus->reconnected && !atomic_load(&bus->closing)) {
            if (pthread_cond_timedwait(&bus->wake, &bus->lock, &ts) == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock(&bus->lock);
    return NULL;
}

static void wake_keeper(sp_bus *bus)
{
    pthread_mutex_lock(&bus->lock);
    bus->reconnected = 1;
    pthread_cond_signal(&bus->wake);
    pthread_mutex_unlock(&bus->lock);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    sp_bus *bus = closure;
    atomic_store(&bus->stream_ok, 0);
    if (!atomic_load(&bus->closing))
        sp_warn("bus", "disconnected from NATS");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    sp_bus *bus = closure;
    sp_info("bus", "reconnected to NATS");
    wake_keeper(bus);
}

/* The library's last callback on a connection: after it, no callback
 * touches the bus, which may then be freed. */
static void on_closed(natsConnection *nc, void *closure)
{
    (void)nc;
    sp_bus *bus = closure;
    pthread_mutex_lock(&bus->lock);
    bus->closed = 1;
    pthread_cond_broadcast(&bus->wake);
    pthread_mutex_unlock(&bus->lock);
}

static int build_options(sp_bus *bus, const sp_bus_options *opt, const char *embedded_url, int retry)
{
    natsOptions_Destroy(bus->opts);
    bus->opts = NULL;
    natsStatus s = natsOptions_Create(&bus->opts);
    if (s != NATS_OK)
        return SP_ERR_NOMEM;
    const char *urls[SP_STRLIST_MAX];
    int n = 0;
    if (embedded_url)
        urls[n++] = embedded_url;
    for (size_t i = 0; opt->urls && i < opt->urls->count; i++)
        urls[n++] = opt->urls->items[i];
    s = natsOptions_SetServers(bus->opts, urls, n);
    if (s == NATS_OK)
        s = natsOptions_SetName(bus->opts, "spaceport");
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(bus->opts, -1); /* forever */
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(bus->opts, SP_BUS_RECONNECT_WAIT_MS);
    if (s == NATS_OK && retry)
        s = natsOptions_SetRetryOnFailedConnect(bus->opts, true, on_reconnected, bus);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(bus->opts, on_disconnected, bus);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(bus->opts, on_reconnected, bus);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(bus->opts, on_closed, bus);
    if (s == NATS_OK && opt->user)
        s = natsOptions_SetUserInfo(bus->opts, opt->user, opt->password);
    if (s == NATS_OK && opt->creds)
        s = natsOptions_SetUserCredentialsFromFiles(bus->opts, opt->creds, NULL);
    if (s == NATS_OK && (opt->tls_ca || opt->tls_cert)) {
        s = natsOptions_SetSecure(bus->opts, true);
        if (s == NATS_OK && opt->tls_ca)
            s = natsOptions_LoadCATrustedCertificates(bus->opts, opt->tls_ca);
        if (s == NATS_OK && opt->tls_cert)
            s = natsOptions_LoadCertificatesChain(bus->opts, opt->tls_cert,
                                                  opt->tls_key);
    }
    if (s != NATS_OK) {
        sp_error("bus", "bad bus options: %s", natsStatus_GetText(s));
        return SP_ERR_INVALID;
    }
    return 0;
}

int sp_bus_open(const sp_bus_options *opt, sp_bus **out)
{
    sp_bus *bus = calloc(1, sizeof *bus);
    if (!bus)
        return SP_ERR_NOMEM;
    pthread_mutex_init(&bus->lock, NULL);
    pthread_cond_init(&bus->wake, NULL);
    bus->replicas = opt->replicas > 0 ? opt->replicas : 1;
    int rc;
    char url[64] = "";
    if (!opt->urls || opt->urls->count == 0) {
        rc = start_embedded(opt->data_dir, &bus->child, &bus->embedded_port);
        if (rc < 0)
            goto fail;
        snprintf(url, sizeof url, "nats://127.0.0.1:%d", bus->embedded_port);
    }
    /* A first attempt without retries tells why it fails (refused, TLS
     * handshake, authorization); then the connection is retried in the
     * background while the service runs and /readyz says the bus is down. */
    rc = build_options(bus, opt, url[0] ? url : NULL, 0);
    if (rc < 0)
        goto fail;
    natsStatus s = natsConnection_Connect(&bus->conn, bus->opts);
    if (s != NATS_OK) {
        const char *text = nats_GetLastError(NULL);
        sp_warn("bus", "cannot connect to NATS: %s (%s); retrying in the background",
                natsStatus_GetText(s), text && *text ? text : "no detail");
        natsConnection_Destroy(bus->conn);
        bus->conn = NULL;
        bus->closed = 0;
        rc = build_options(bus, opt, url[0] ? url : NULL, 1);
        if (rc < 0)
            goto fail;
        s = natsConnection_Connect(&bus->conn, bus->opts);
    }
    if (s == NATS_NOT_YET_CONNECTED) {
        /* retrying in the background */
    } else if (s != NATS_OK) {
        sp_error("bus", "cannot connect to NATS: %s", natsStatus_GetText(s));
        rc = SP_ERR_UNAVAILABLE;
        goto fail;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = SP_BUS_API_TIMEOUT_MS;
    s = natsConnection_JetStream(&bus->js, bus->conn, &jo);
    if (s != NATS_OK) {
        rc = SP_ERR_NOMEM;
        goto fail;
    }
    if (pthread_create(&bus->keeper, NULL, keeper_main, bus) != 0) {
        rc = SP_ERR_NOMEM;
        goto fail;
    }
    bus->keeper_started = 1;
    wake_keeper(bus);
    *out = bus;
    return 0;

fail:
    sp_bus_close(bus);
    return rc;
}

int sp_bus_connected(sp_bus *bus)
{
    return bus && bus->conn && natsConnection_Status(bus->conn) == NATS_CONN_STATUS_CONNECTED &&
           atomic_load(&bus->stream_ok);
}

const char *sp_bus_status(sp_bus *bus)
{
    if (!bus || !bus->conn)
        return "bus not connected";
    if (natsConnection_Status(bus->conn) != NATS_CONN_STATUS_CONNECTED)
        return "bus not connected";
    if (!atomic_load(&bus->stream_ok))
        return "bus stream not ready";
    return "ok";
}

uint64_t sp_bus_generation(sp_bus *bus)
{
    return (uint64_t)atomic_load(&bus->generation);
}

natsConnection *sp_bus_connection(sp_bus *bus)
{
    return bus->conn;
}

jsCtx *sp_bus_jetstream(sp_bus *bus)
{
    return bus->js;
}

int sp_bus_embedded_port(sp_bus *bus)
{
    return bus->embedded_port;
}

void sp_bus_close(sp_bus *bus)
{
    if (!bus)
        return;
    atomic_store(&bus->closing, 1);
    if (bus->keeper_started) {
        wake_keeper(bus);
        pthread_join(bus->keeper, NULL);
    }
    if (bus->conn) {
        if (natsConnection_Status(bus->conn) == NATS_CONN_STATUS_CONNECTED)
            natsConnection_FlushTimeout(bus->conn, 1000);
        natsConnection_Close(bus->conn);
        /* Callbacks run on the library's thread and may still be queued
         * (a disconnect during close): wait for the closed callback, the
         * last one, before the bus they point to is freed. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += SP_BUS_CLOSE_WAIT_S;
        pthread_mutex_lock(&bus->lock);
        while (!bus->closed) {
            if (pthread_cond_timedwait(&bus->wake, &bus->lock, &ts) == ETIMEDOUT) {
                sp_warn("bus", "NATS connection did not report closing in time");
                break;
            }
        }
        pthread_mutex_unlock(&bus->lock);
    }
    jsCtx_Destroy(bus->js);
    natsConnection_Destroy(bus->conn);
    natsOptions_Destroy(bus->opts);
    stop_child(bus->child);
    pthread_cond_destroy(&bus->wake);
    pthread_mutex_destroy(&bus->lock);
    free(bus);
}
