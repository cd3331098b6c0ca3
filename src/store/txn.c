/*
 * txn.c - write transactions, committed in groups.
 *
 * Every write goes through the one writer connection. A sync per request
 * would bound writes by the disk, so concurrent requests share one: each
 * request's writes are a SAVEPOINT inside a transaction that stays open
 * while other writers are waiting to join it. The last writer of a group
 * (no one else waiting, or the group full) commits it, with one sync, and
 * wakes the others. sp_store__commit still returns only once the writes
 * are durable, with the group's result: when the group fails (disk full),
 * every request in it fails and none of them was acknowledged. A writer
 * that rolls back also waits for its group: what it read may have been
 * other members' writes, which are only true once committed.
 *
 * A relaxed transaction (bookkeeping whose loss is harmless) that finds no
 * group open commits on its own without a sync; one that finds a group
 * open joins it.
 *
 * Jobs (sp_store_submit) need no waiting thread: the store's writer
 * thread runs all the queued jobs' writes as members of one group, then
 * commits it at once (writers waiting meanwhile start the next group) and
 * tells each job how it ended. A request that writes this way costs its
 * HTTP thread nothing while the group is on its way to the disk, so a
 * group holds as many requests as arrived meanwhile, not as many as there
 * are threads.
 */
#include "store/authz.h"
#include "store/internal.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Requests in one group at most: bounds how long the first one waits. */
#define SP_STORE_GROUP_MAX 64
/* How often a held writer thread (sp_store_hold_jobs) looks at its file:
 * a test's release is seen within this. */
#define SP_STORE_HOLD_POLL_MS 10

/* A writer waiting for its group to end; on its own stack, or in a job. */
struct sp_group_waiter {
    sp_group_waiter *next;
    int done, rc;
};

/* A queued job (sp_store_submit). */
struct sp_store_job {
    sp_store_job *next;
    sp_authz *check; /* decided again before run; NULL: none */
    sp_store_job_fn run;
    sp_store_done_fn done;
    void *ctx;
    int rc;                /* run's result */
    sp_group_waiter group; /* the result of the group run's writes joined */
    /* The Initiator-ID of the thread that queued it ("" none). */
    char initiator[SP_STORE_INITIATOR_MAX + 1];
};

/* The store whose jobs the calling thread (its writer thread) is running:
 * begin and commit then neither take nor release the write lock. */
static _Thread_local sp_store *batch_of;

/* The Initiator-ID of the calling thread's writes ("" none): per thread, as
 * a request's writes run on its HTTP worker or, as a job, on the writer
 * thread, which sets each job's for its run. */
static _Thread_local char initiator_of[SP_STORE_INITIATOR_MAX + 1];

int sp_store_set_initiator(const char *initiator)
{
    initiator_of[0] = '\0';
    if (!initiator)
        return 0;
    size_t n = 0;
    for (; initiator[n]; n++) {
        unsigned char c = (unsigned char)initiator[n];
        if (n == SP_STORE_INITIATOR_MAX || c < 0x21 || c > 0x7e)
            return SP_ERR_INVALID;
    }
    if (n == 0)
        return SP_ERR_INVALID;
    memcpy(initiator_of, initiator, n + 1);
    return 0;
}

const char *sp_store__initiator(void)
{
    return initiator_of[0] ? initiator_of : NULL;
}

/* Records the open group's result, wakes the writers waiting for it and
 * closes it (write lock held). */
static void group_done(sp_store *st, int rc)
{
    if (st->group_relaxed && !st->pg)
        sp_db_exec(st->writer.db, "PRAGMA synchronous=FULL");
    st->group_open = 0;
    st->group_members = 0;
    st->group_relaxed = 0;
    /* Waiters sleep on a lock of their own, so that waking them does not
     * make them queue for the writer behind the next group's writers. */
    pthread_mutex_lock(&st->group_lock);
    for (sp_group_waiter *w = st->group_waiters; w; w = w->next) {
        w->rc = rc;
        w->done = 1;
    }
    st->group_waiters = NULL;
    pthread_cond_broadcast(&st->group_cond);
    pthread_mutex_unlock(&st->group_lock);
}

/* The open group lost its transaction (SQLite rolls back by itself on
 * some errors, such as a full disk): every writer in it fails. */
static void group_lost(sp_store *st)
{
    int full = sp_db_errcode(st->writer.db) == SP_DB_FULL;
    sp_warn("store", "a group of %d writes was rolled back", st->group_members);
    group_done(st, full ? SP_ERR_FULL : SP_ERR_DB);
}

/* Commits the open group (write lock held, released on return), then
 * tells the commit listeners when it wrote events. */
static int group_commit(sp_store *st)
{
    int notify = st->group_events, visible = st->group_visible;
    /* PostgreSQL: the other replicas learn of the commit from the notice
     * sent with it (listen.c): their listings are stale, and their change
     * streams and senders have events to read. */
    const char *notice = !st->pg   ? NULL
                         : notify  ? st->commit_sql[1]
                         : visible ? st->commit_sql[0]
                                   : NULL;
    int rc = notice ? (sp_db_exec(st->writer.db, notice) == SP_DB_OK
                           ? 0
                           : sp_store__err(&st->writer, sp_db_errcode(st->writer.db), "commit"))
                    : sp_store__exec(&st->writer, "COMMIT");
    if (rc < 0) {
        if (rc != SP_ERR_FULL)
            rc = SP_ERR_DB;
        if (!!sp_db_in_txn(st->writer.db))
            sp_db_exec(st->writer.db, "ROLLBACK");
        notify = 0;
    } else {
        if (visible)
            atomic_fetch_add(&st->version, 1);
        atomic_fetch_add_explicit(&st->commits, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&st->writes, (uint64_t)st->group_members, memory_order_relaxed);
    }
    group_done(st, rc);
    pthread_mutex_unlock(&st->write_lock);
    for (int i = 0; notify && i < st->listener_count; i++)
        st->listeners[i].fn(st->listeners[i].ctx);
    return rc;
}

/* After a writer left its savepoint (released or rolled back): commits
 * the group now when no one else is about to join, else waits for the
 * writer that does. Write lock held; released on return. Returns the
 * group's result. */
static int group_settle(sp_store *st)
{
    if (!st->group_open) { /* lost: its writers were told */
        pthread_mutex_unlock(&st->write_lock);
        return SP_ERR_DB;
    }
    if (st->group_members == 0) {
        /* Nothing to keep: a lone writer rolled back. */
        if (!!sp_db_in_txn(st->writer.db))
            sp_db_exec(st->writer.db, "ROLLBACK");
        group_done(st, 0);
        pthread_mutex_unlock(&st->write_lock);
        return 0;
    }
    if (st->group_relaxed || atomic_load(&st->writers_waiting) == 0 ||
        st->group_members >= SP_STORE_GROUP_MAX)
        return group_commit(st);
    sp_group_waiter me = {st->group_waiters, 0, 0};
    st->group_waiters = &me; /* under the write lock, as group_done reads it */
    pthread_mutex_unlock(&st->write_lock);
    pthread_mutex_lock(&st->group_lock);
    while (!me.done)
        pthread_cond_wait(&st->group_cond, &st->group_lock);
    pthread_mutex_unlock(&st->group_lock);
    return me.rc;
}

static void lock_writer(sp_store *st)
{
    atomic_fetch_add(&st->writers_waiting, 1);
    pthread_mutex_lock(&st->write_lock);
    atomic_fetch_sub(&st->writers_waiting, 1);
}

/* Begins the group's transaction. On PostgreSQL every replica's writer
 * takes one advisory lock first, so that writes commit one group at a
 * time across replicas as they do within one: events then commit in the
 * order of their sequence numbers, which readers resume from
 * (Last-Event-ID, the relay's cursor). A relaxed group's commit does not
 * wait for the disk (its writes are redone when lost). */
static int begin_group(sp_store *st, int relaxed)
{
    if (!st->pg)
        return sp_store__exec(&st->writer, "BEGIN IMMEDIATE");
    const char *sql = relaxed ? "BEGIN; SET LOCAL synchronous_commit TO off;"
                                " SELECT pg_advisory_xact_lock(" SP_STORE_LOCK_WRITE ")"
                              : "BEGIN; SELECT pg_advisory_xact_lock(" SP_STORE_LOCK_WRITE ")";
    if (sp_db_exec(st->writer.db, sql) == SP_DB_OK)
        return 0;
    if (sp_db_in_txn(st->writer.db))
        sp_db_exec(st->writer.db, "ROLLBACK");
    return SP_ERR_DB;
}

/* Makes sure a group transaction is open (write lock held). Returns 0 or
 * SP_ERR_DB. */
static int open_group(sp_store *st, int relaxed)
{
    if (st->group_open && !sp_db_in_txn(st->writer.db))
        group_lost(st); /* its transaction is gone: do not write outside one */
    if (st->group_open)
        return 0;
    if (relaxed && !st->pg)
        sp_db_exec(st->writer.db, "PRAGMA synchronous=NORMAL");
    if (begin_group(st, relaxed) < 0) {
        if (relaxed && !st->pg)
            sp_db_exec(st->writer.db, "PRAGMA synchronous=FULL");
        sp_warn("store", "cannot begin a write transaction");
        return SP_ERR_DB;
    }
    st->group_open = 1;
    st->group_relaxed = relaxed;
    st->group_events = 0;
    st->group_visible = 0;
    st->group_count++;
    return 0;
}

static sp_conn *begin(sp_store *st, int relaxed)
{
    int batch = batch_of == st;
    if (!batch)
        lock_writer(st);
    if (open_group(st, relaxed && !batch) < 0) {
        if (!batch)
            pthread_mutex_unlock(&st->write_lock);
        return NULL;
    }
    if (sp_store__exec(&st->writer, "SAVEPOINT member") < 0) {
        if (!sp_db_in_txn(st->writer.db))
            group_lost(st);
        if (!batch)
            group_settle(st);
        return NULL;
    }
    st->events_written = 0;
    st->invisible = 0;
    return &st->writer;
}

sp_conn *sp_store__conn(sp_store *st)
{
    return batch_of == st ? &st->writer : sp_store__reader(st);
}

sp_conn *sp_store__begin(sp_store *st)
{
    return begin(st, 0);
}

sp_conn *sp_store__begin_relaxed(sp_store *st)
{
    return begin(st, 1);
}

/* Undoes the caller's savepoint; the group is lost when SQLite rolled
 * back the whole transaction on an error. */
static void undo(sp_store *st)
{
    if (!!sp_db_in_txn(st->writer.db)) {
        sp_db_exec(st->writer.db, "ROLLBACK TO member");
        sp_db_exec(st->writer.db, "RELEASE member");
    }
    if (!sp_db_in_txn(st->writer.db) && st->group_open)
        group_lost(st);
}

int sp_store__commit(sp_store *st)
{
    int rc = !sp_db_in_txn(st->writer.db) ? SP_ERR_DB
                                                   : sp_store__exec(&st->writer, "RELEASE member");
    int batch = batch_of == st;
    if (rc < 0) {
        undo(st);
        if (!batch)
            group_settle(st);
        return rc == SP_ERR_FULL ? rc : SP_ERR_DB;
    }
    st->group_events |= st->events_written;
    st->group_visible |= !st->invisible;
    st->group_members++;
    return batch ? 0 : group_settle(st); /* a job learns its group's result later */
}

void sp_store__rollback(sp_store *st)
{
    undo(st);
    if (batch_of != st)
        group_settle(st);
}

int sp_store__finish(sp_store *st, int rc)
{
    if (rc >= 0)
        return sp_store__commit(st);
    sp_store__rollback(st);
    return rc;
}

/* ---- jobs: writes without a waiting thread ---- */

/*
 * Runs one job. A job with a check runs in a savepoint of its own: the
 * check reads the writer connection there, inside the group transaction
 * the writes then join, so no other writer can change what it decided on
 * before they are made. A refused job rolls back to it, leaving nothing.
 * Writes made before a later one failed stay, as they would have with
 * one request each.
 */
static int run_job(sp_store *st, sp_store_job *j)
{
    if (!j->check)
        return j->run(st, j->ctx);
    int rc = sp_store__exec(&st->writer, "SAVEPOINT job");
    if (rc < 0) {
        if (!sp_db_in_txn(st->writer.db))
            group_lost(st);
        return rc == SP_ERR_FULL ? rc : SP_ERR_DB;
    }
    rc = sp_store_authorize(st, j->check);
    int refused = rc < 0;
    if (!refused)
        rc = j->run(st, j->ctx);
    /* Gone when a write lost the group: then there is nothing to end. */
    if (!!sp_db_in_txn(st->writer.db)) {
        if (refused)
            sp_db_exec(st->writer.db, "ROLLBACK TO job");
        sp_store__exec(&st->writer, "RELEASE job"); /* cached: it runs for every job */
    }
    return rc;
}

/* Runs a list of jobs as members of the open group (or new ones, should a
 * group be lost on the way), commits, and tells each job its result. */
static void run_jobs(sp_store *st, sp_store_job *jobs)
{
    lock_writer(st);
    batch_of = st;
    int cannot_begin = 0;
    for (sp_store_job *j = jobs; j; j = j->next) {
        /* A transaction that cannot begin (another process holds the
         * database past the busy timeout) fails the rest of the batch at
         * once, not after one more timeout per job. */
        if (cannot_begin || (cannot_begin = open_group(st, 0) < 0)) {
            j->rc = SP_ERR_DB;
            j->group.done = 1;
            continue;
        }
        /* Told with the group's other waiters, whichever thread ends it. */
        j->group.next = st->group_waiters;
        st->group_waiters = &j->group;
        sp_store_set_initiator(j->initiator); /* valid: copied from a valid one */
        j->rc = run_job(st, j);
    }
    sp_store_set_initiator(NULL);
    batch_of = NULL;
    /* Commits now, even with other writers waiting: leaving the commit to
     * one of them would make every job here wait until that thread is
     * scheduled again, which on busy cores can take a hundred milliseconds
     * and more. They start the next group instead. */
    if (st->group_open && st->group_members > 0)
        group_commit(st);
    else if (st->group_open)
        group_settle(st); /* nothing written: rolls back */
    else
        pthread_mutex_unlock(&st->write_lock);
    /* Every job's group has ended now: the last one just did, and earlier
     * ones only end by being lost, which tells their waiters at once. */
    while (jobs) {
        sp_store_job *next = jobs->next;
        jobs->done(jobs->ctx, jobs->rc < 0 ? jobs->rc : jobs->group.rc);
        free(jobs);
        jobs = next;
    }
}

/* The test hook of sp_store_hold_jobs: waits while its file exists,
 * unless the store is closing (jobs_lock held; released while asleep). */
static void hold(sp_store *st)
{
    const struct timespec poll = {0, SP_STORE_HOLD_POLL_MS * 1000000L};
    while (st->hold_path && !st->jobs_stop && access(st->hold_path, F_OK) == 0) {
        pthread_mutex_unlock(&st->jobs_lock);
        nanosleep(&poll, NULL);
        pthread_mutex_lock(&st->jobs_lock);
    }
}

static void *writer_main(void *arg)
{
    sp_store *st = arg;
    pthread_mutex_lock(&st->jobs_lock);
    for (;;) {
        while (!st->jobs && !st->jobs_stop)
            pthread_cond_wait(&st->jobs_cond, &st->jobs_lock);
        if (!st->jobs)
            break; /* stopping, and every job has run */
        hold(st);
        /* The oldest SP_STORE_GROUP_MAX jobs, in the order they came. */
        sp_store_job *batch = st->jobs, **cut = &st->jobs;
        int n = 0;
        for (; *cut && n < SP_STORE_GROUP_MAX; n++)
            cut = &(*cut)->next;
        st->jobs = *cut;
        if (!st->jobs)
            st->jobs_tail = &st->jobs;
        *cut = NULL;
        st->jobs_queued -= n;
        pthread_mutex_unlock(&st->jobs_lock);
        run_jobs(st, batch);
        pthread_mutex_lock(&st->jobs_lock);
    }
    pthread_mutex_unlock(&st->jobs_lock);
    return NULL;
}

int sp_store_submit(sp_store *st, sp_authz *check, sp_store_job_fn run, sp_store_done_fn done,
                    void *ctx)
{
    sp_store_job *j = calloc(1, sizeof *j);
    if (!j)
        return SP_ERR_NOMEM;
    j->check = check;
    j->run = run;
    j->done = done;
    j->ctx = ctx;
    memcpy(j->initiator, initiator_of, sizeof j->initiator);
    pthread_mutex_lock(&st->jobs_lock);
    if (st->jobs_stop) { /* closing: no one would run it */
        pthread_mutex_unlock(&st->jobs_lock);
        free(j);
        return SP_ERR_DB;
    }
    if (!st->writer_started) {
        if (pthread_create(&st->writer_thread, NULL, writer_main, st) != 0) {
            pthread_mutex_unlock(&st->jobs_lock);
            free(j);
            return SP_ERR_NOMEM;
        }
        pthread_setname_np(st->writer_thread, "store-writer");
        st->writer_started = 1;
    }
    int idle = st->jobs == NULL;
    *st->jobs_tail = j;
    st->jobs_tail = &j->next;
    st->jobs_queued++;
    if (idle)
        pthread_cond_signal(&st->jobs_cond);
    pthread_mutex_unlock(&st->jobs_lock);
    return 0;
}

int sp_store_hold_jobs(sp_store *st, const char *path)
{
    char *copy = NULL;
    if (path && !(copy = strdup(path)))
        return SP_ERR_NOMEM;
    free(st->hold_path);
    st->hold_path = copy;
    return 0;
}

void sp_store__jobs_stop(sp_store *st)
{
    pthread_mutex_lock(&st->jobs_lock);
    int started = st->writer_started;
    st->writer_started = 0; /* joined once; submit refuses from now on */
    st->jobs_stop = 1;
    pthread_cond_signal(&st->jobs_cond);
    pthread_mutex_unlock(&st->jobs_lock);
    if (started)
        pthread_join(st->writer_thread, NULL);
}

int sp_store_metrics(sp_store *st, sp_buf *out)
{
    pthread_mutex_lock(&st->jobs_lock);
    long long queued = st->jobs_queued;
    pthread_mutex_unlock(&st->jobs_lock);
    return sp_buf_printf(
        out,
        "# HELP spaceport_store_commits_total Write transactions committed (groups).\n"
        "# TYPE spaceport_store_commits_total counter\n"
        "spaceport_store_commits_total %llu\n"
        "# HELP spaceport_store_writes_total Writes committed (requests' savepoints); divided "
        "by commits, the mean group size.\n"
        "# TYPE spaceport_store_writes_total counter\n"
        "spaceport_store_writes_total %llu\n"
        "# HELP spaceport_store_jobs_queued Writes waiting for the writer thread.\n"
        "# TYPE spaceport_store_jobs_queued gauge\n"
        "spaceport_store_jobs_queued %lld\n",
        (unsigned long long)atomic_load(&st->commits), (unsigned long long)atomic_load(&st->writes),
        queued);
}
