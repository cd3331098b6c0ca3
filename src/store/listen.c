/*
 * listen.c - the other replicas' commits, as this process's own: on
 * PostgreSQL every commit that changes what readers see sends a notice on
 * SP_STORE_CHANNEL (txn.c). This thread listens on a connection of its
 * own and, for each notice of another process, moves the store's data
 * version (the listings this process keeps are stale now) and, when the
 * commit wrote events, calls the commit listeners: the change streams'
 * hub, the relay and the senders read the log again.
 *
 * Notices are not stored: those sent while the connection was down are
 * lost. So after every (re)connect the thread acts as if notified once;
 * everything it wakes reads the database from where it stood, which
 * catches up whatever was missed.
 *
 * A notice arrives a little after the commit, while a client that was
 * answered by the replica that committed may already be asking this one:
 * a listing kept here must not be served in between. So on PostgreSQL the
 * data version also carries the database's snapshot at the moment it is
 * read (the transactions committed and in progress): two equal snapshots
 * mean that nothing committed between them, so a listing rendered after
 * the first is still true at the second; any commit anywhere makes the
 * next one differ. Bookkeeping commits change it too, which only costs a
 * rendering.
 */
#include "store/shared.h"

#include "util/log.h"
#include "util/time.h"

#include <poll.h>
#include <string.h>

/* The longest the thread waits on its socket: how soon it sees a stop. */
#define SP_LISTEN_POLL_MS 250
/* With no traffic for this long the connection is checked with a query:
 * a database gone without closing the socket would otherwise leave the
 * thread waiting for notices that never come. */
#define SP_LISTEN_CHECK_MS 5000

/* The current snapshot, as text ("xmin:xmax:xip,..."). */
static const char SQL_SNAPSHOT[] = "SELECT CAST(pg_current_snapshot() AS TEXT)";

uint64_t sp_store__pg_data_version(sp_store *st, uint64_t local)
{
    sp_conn *r = sp_store__reader(st);
    sp_db_stmt *s = r ? sp_store__stmt(r, SQL_SNAPSHOT) : NULL;
    const char *text = s && sp_db_step(s) == SP_DB_ROW ? sp_db_column_text(s, 0) : NULL;
    uint64_t h = 14695981039346656037ull; /* FNV-1a, 64 bits */
    for (const char *p = text; p && *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    if (!text) /* each one new: nothing kept is served on the strength of it */
        h = ~atomic_fetch_add(&st->versions_unread, 1);
    sp_store__done(s);
    return h ^ (local * 0x9e3779b97f4a7c15ull);
}

/* What the notices read in one go said. */
typedef struct heard {
    int data;   /* another process committed */
    int events; /* ... and wrote events */
} heard;

/* Acts on what was heard: as a local commit does (txn.c). */
static void tell(sp_store *st, heard h)
{
    if (h.data || h.events)
        atomic_fetch_add(&st->version, 1);
    for (int i = 0; h.events && i < st->listener_count; i++)
        st->listeners[i].fn(st->listeners[i].ctx);
}

/* Takes the notices pg has received: "<kind> <token>" (txn.c), those of
 * this store's own commits (its token) skipped, as their listeners ran
 * already. */
static void collect(sp_store *st, PGconn *pg, heard *h)
{
    PGnotify *n;
    while ((n = PQnotifies(pg)) != NULL) {
        size_t kind = strcspn(n->extra, " ");
        int own = n->extra[kind] == ' ' && strcmp(n->extra + kind + 1, st->notice_token) == 0;
        if (!own) {
            h->data = 1;
            h->events |= kind == strlen(SP_STORE_NOTICE_EVENTS) &&
                         strncmp(n->extra, SP_STORE_NOTICE_EVENTS, kind) == 0;
        }
        PQfreemem(n);
    }
}

/* Connects and listens. Returns the connection or NULL. */
static PGconn *subscribe(sp_store *st)
{
    PGconn *pg = sp_store__pg_connect(st->location, "spaceport-listen");
    if (!pg)
        return NULL;
    PGresult *res = PQexec(pg, "LISTEN " SP_STORE_CHANNEL);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) {
        const char *why = PQerrorMessage(pg);
        sp_warn("store", "cannot listen for the other replicas' commits: %.*s",
                (int)strcspn(why, "\n"), why);
    }
    PQclear(res);
    if (!ok) {
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

/* Whether pg still answers (and takes the notices that came with it). */
static int alive(sp_store *st, PGconn *pg, heard *h)
{
    PGresult *res = PQexec(pg, "SELECT 1");
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    collect(st, pg, h);
    return ok;
}

void *sp_store__listen_main(void *arg)
{
    sp_store *st = arg;
    sp_store_shared *sh = st->shared;
    PGconn *pg = NULL;
    int64_t backoff = SP_SHARED_RECONNECT_MIN_MS, quiet_since = 0;
    while (!atomic_load(&sh->stopping)) {
        if (!pg) {
            if (!(pg = subscribe(st))) {
                sp_store__shared_wait(st, backoff);
                backoff = backoff * 2 > SP_SHARED_RECONNECT_MAX_MS ? SP_SHARED_RECONNECT_MAX_MS
                                                                   : backoff * 2;
                continue;
            }
            backoff = SP_SHARED_RECONNECT_MIN_MS;
            quiet_since = sp_time_mono_ms();
            tell(st, (heard){1, 1}); /* whatever came while not listening */
        }
        heard h = {0};
        struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN};
        int ready = poll(&p, 1, SP_LISTEN_POLL_MS);
        int ok = 1;
        if (ready > 0) {
            ok = PQconsumeInput(pg);
            collect(st, pg, &h);
            quiet_since = sp_time_mono_ms();
        } else if (sp_time_mono_ms() - quiet_since >= SP_LISTEN_CHECK_MS) {
            ok = alive(st, pg, &h);
            quiet_since = sp_time_mono_ms();
        }
        tell(st, h);
        if (!ok || PQstatus(pg) != CONNECTION_OK) {
            const char *why = PQerrorMessage(pg);
            sp_warn("store", "lost the connection that hears the other replicas' commits: %.*s",
                    (int)strcspn(why, "\n"), why);
            PQfinish(pg);
            pg = NULL;
        }
    }
    PQfinish(pg);
    return NULL;
}
