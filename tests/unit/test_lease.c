/*
 * test_lease.c - unit tests of store/lease.h: leases and the other
 * replicas' commits. Two stores opened on one PostgreSQL database stand
 * for two replicas (each has its own connections, so PostgreSQL tells
 * their sessions apart as it would two processes). SPACEPORT_TEST_PG_URL
 * names an admin URL of a server; the suite makes a database of its own
 * there and drops it at the end. Without it only the SQLite case runs.
 */
#include "store/internal.h"
#include "store/lease.h"
#include "store/shared.h"
#include "store/store.h"
#include "util/err.h"
#include "util/time.h"

#include "pg_fixture.h"

#include <check.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long a test waits for something a background thread does: the lease
 * thread's round is 500 ms, and a take-over takes one or two rounds. */
#define WAIT_MS 3000

static char db_url[512];

/* SQL: a pg_locks row is of the test database (the server may be serving
 * other tests' databases at the same time). */
#define THIS_DATABASE "database = (SELECT oid FROM pg_database WHERE datname = current_database())"

/* Runs sql on a connection of its own to url; returns the first value of
 * its first row as an integer (0 when none). */
static long admin_query(const char *url, const char *sql)
{
    PGconn *pg = PQconnectdb(url);
    ck_assert_msg(PQstatus(pg) == CONNECTION_OK, "%s", PQerrorMessage(pg));
    PGresult *res = PQexec(pg, sql);
    ExecStatusType status = PQresultStatus(res);
    ck_assert_msg(status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK, "%s: %s", sql,
                  PQerrorMessage(pg));
    long v = status == PGRES_TUPLES_OK && PQntuples(res) > 0 ? atol(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    PQfinish(pg);
    return v;
}

/* A counter a listener bumps. */
typedef struct counter {
    atomic_int n;
} counter;

static void count(void *arg)
{
    atomic_fetch_add(&((counter *)arg)->n, 1);
}

/* One replica: a store on the test database with a commit listener and a
 * listener on each lease. */
typedef struct replica {
    sp_store *st;
    counter commits;
    counter taken[SP_LEASE_COUNT];
} replica;

static void replica_open(replica *r)
{
    memset(r, 0, sizeof *r);
    ck_assert_int_eq(sp_store_open(db_url, &r->st), 0);
    ck_assert_int_eq(sp_store_migrate(r->st, NULL), 0);
    ck_assert_int_eq(sp_store_on_commit(r->st, count, &r->commits), 0);
    for (int l = 0; l < SP_LEASE_COUNT; l++)
        ck_assert_int_eq(sp_store_on_lease(r->st, (sp_lease)l, count, &r->taken[l]), 0);
    ck_assert_int_eq(sp_store_shared_start(r->st), 0);
}

/* How many leases r holds. */
static int held(replica *r)
{
    int n = 0;
    for (int l = 0; l < SP_LEASE_COUNT; l++)
        n += sp_store_lease_held(r->st, (sp_lease)l);
    return n;
}

/* Waits up to WAIT_MS for r to hold want leases; returns whether it did. */
static int wait_held(replica *r, int want)
{
    int64_t deadline = sp_time_mono_ms() + WAIT_MS;
    while (held(r) != want && sp_time_mono_ms() < deadline)
        usleep(10000);
    return held(r) == want;
}

/* A write through r's writer, as a request's: it wrote events or not, and
 * changes what readers see or not. */
static void write_on(replica *r, int events, int visible)
{
    sp_conn *w = sp_store__begin(r->st);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(sp_store__exec(w, "UPDATE relay_cursor SET published_seq = published_seq"), 0);
    r->st->events_written = events;
    r->st->invisible = !visible;
    ck_assert_int_eq(sp_store__commit(r->st), 0);
}

/* Waits up to WAIT_MS for *v to reach want. */
static int wait_count(atomic_int *v, int want)
{
    int64_t deadline = sp_time_mono_ms() + WAIT_MS;
    while (atomic_load(v) < want && sp_time_mono_ms() < deadline)
        usleep(10000);
    return atomic_load(v) >= want;
}

START_TEST(one_replica_holds_every_lease_and_hands_them_over_when_it_closes)
{
    replica a, b;
    replica_open(&a);
    ck_assert_msg(wait_held(&a, SP_LEASE_COUNT), "the first replica took %d leases", held(&a));
    for (int l = 0; l < SP_LEASE_COUNT; l++) {
        ck_assert_uint_ne(sp_store_lease_term(a.st, (sp_lease)l), 0);
        ck_assert_int_eq(atomic_load(&a.taken[l].n), 1);
    }
    replica_open(&b);
    usleep(1500 * 1000); /* three of its rounds */
    ck_assert_int_eq(held(&b), 0);
    ck_assert_int_eq(held(&a), SP_LEASE_COUNT);

    int64_t closed = sp_time_mono_ms();
    sp_store_close(a.st);
    ck_assert_msg(wait_held(&b, SP_LEASE_COUNT), "the second replica took %d leases", held(&b));
    ck_assert_int_le(sp_time_mono_ms() - closed, 1500);
    for (int l = 0; l < SP_LEASE_COUNT; l++)
        ck_assert_int_eq(atomic_load(&b.taken[l].n), 1); /* each worker woken once */
    sp_store_close(b.st);
}
END_TEST

START_TEST(a_lost_lease_connection_drops_every_lease_and_another_takes_them)
{
    replica a, b;
    replica_open(&a);
    ck_assert(wait_held(&a, SP_LEASE_COUNT));
    uint64_t before = sp_store_lease_term(a.st, SP_LEASE_RELAY);
    replica_open(&b);
    /* What a dead process leaves: its session ends, PostgreSQL frees its
     * locks. The holder's lease connection is ended from outside. */
    ck_assert_int_eq(admin_query(db_url,
                                 "SELECT count(pg_terminate_backend(pid)) FROM pg_locks"
                                 " WHERE locktype = 'advisory' AND granted AND " THIS_DATABASE
                                 " GROUP BY pid LIMIT 1"),
                     SP_LEASE_COUNT);
    /* a notices at its next round and drops them all; whoever asks first
     * then takes each (a too, once it has connected again). */
    int64_t deadline = sp_time_mono_ms() + WAIT_MS;
    while (sp_store_lease_term(a.st, SP_LEASE_RELAY) == before && sp_time_mono_ms() < deadline)
        usleep(10000);
    ck_assert_uint_ne(sp_store_lease_term(a.st, SP_LEASE_RELAY), before);
    deadline = sp_time_mono_ms() + WAIT_MS;
    while (held(&a) + held(&b) != SP_LEASE_COUNT && sp_time_mono_ms() < deadline)
        usleep(10000);
    for (int l = 0; l < SP_LEASE_COUNT; l++)
        ck_assert_int_eq(
            sp_store_lease_held(a.st, (sp_lease)l) + sp_store_lease_held(b.st, (sp_lease)l), 1);
    /* And PostgreSQL agrees: one session holds each lease's lock. */
    ck_assert_int_eq(admin_query(db_url,
                                 "SELECT count(*) FROM pg_locks"
                                 " WHERE locktype = 'advisory' AND granted AND " THIS_DATABASE),
                     SP_LEASE_COUNT);
    sp_store_close(a.st);
    sp_store_close(b.st);
}
END_TEST

/* The store's own count of commits it knows of (its own and those it was
 * told of), without the database's part of the data version. */
static uint64_t local_version(replica *r)
{
    return atomic_load(&r->st->version);
}

/* Waits up to WAIT_MS for r's local version to pass v. */
static int wait_local(replica *r, uint64_t v)
{
    int64_t deadline = sp_time_mono_ms() + WAIT_MS;
    while (local_version(r) == v && sp_time_mono_ms() < deadline)
        usleep(10000);
    return local_version(r) != v;
}

START_TEST(another_replicas_notice_moves_the_version_and_wakes_the_listeners)
{
    replica a, b;
    replica_open(&a);
    replica_open(&b);
    /* Both listening: each wakes its listeners once on connecting (a
     * connect may take long on a busy machine: waited for, not slept). */
    ck_assert(wait_count(&a.commits.n, 1) && wait_count(&b.commits.n, 1));
    int a_commits = atomic_load(&a.commits.n), b_commits = atomic_load(&b.commits.n);
    uint64_t b_version = local_version(&b);

    write_on(&a, 1, 1); /* events */
    ck_assert(wait_count(&b.commits.n, b_commits + 1));
    ck_assert(wait_local(&b, b_version));
    usleep(300 * 1000);
    /* a's own notice does not wake its listeners a second time. */
    ck_assert_int_eq(atomic_load(&a.commits.n), a_commits + 1);

    /* Data without events: b's listings are stale, nothing to read in the
     * log. */
    b_commits = atomic_load(&b.commits.n);
    b_version = local_version(&b);
    write_on(&a, 0, 1);
    ck_assert(wait_local(&b, b_version));
    usleep(300 * 1000);
    ck_assert_int_eq(atomic_load(&b.commits.n), b_commits);

    /* Bookkeeping nobody lists: no notice at all. */
    b_version = local_version(&b);
    write_on(&a, 0, 0);
    usleep(500 * 1000);
    ck_assert_uint_eq(local_version(&b), b_version);
    ck_assert_int_eq(atomic_load(&b.commits.n), b_commits);

    sp_store_close(a.st);
    sp_store_close(b.st);
}
END_TEST

/* The backend process id of r's writer session. */
static long writer_backend(replica *r)
{
    sp_conn *w = sp_store__begin(r->st);
    ck_assert_ptr_nonnull(w);
    sp_db_stmt *s = sp_store__stmt(w, "SELECT pg_backend_pid()");
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(sp_db_step(s), SP_DB_ROW);
    long pid = (long)sp_db_column_int64(s, 0);
    sp_store__done(s);
    r->st->invisible = 1;
    ck_assert_int_eq(sp_store__commit(r->st), 0);
    return pid;
}

START_TEST(own_commits_are_told_apart_after_the_writer_reconnects)
{
    replica a;
    replica_open(&a);
    usleep(300 * 1000); /* listening */
    /* The writer's session is replaced: its backend process id changes,
     * and the old one is free for the next session anyone opens, such as
     * another replica's writer, whose commits a listener that skipped
     * notices by process id would then take for its own and not hear. */
    long pid = writer_backend(&a);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%ld)::int", pid);
    ck_assert_int_eq(admin_query(db_url, sql), 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %ld", pid);
    for (int i = 0; i < 200 && admin_query(db_url, sql) > 0; i++)
        usleep(10000);
    int commits = atomic_load(&a.commits.n);
    write_on(&a, 1, 1); /* on the new session */
    ck_assert_int_ne(writer_backend(&a), pid);
    usleep(500 * 1000);
    /* Its notice is still known as its own: the listeners woke once. */
    ck_assert_int_eq(atomic_load(&a.commits.n), commits + 1);
    sp_store_close(a.st);
}
END_TEST

START_TEST(another_replicas_commit_changes_the_data_version_before_its_notice)
{
    replica a, b;
    replica_open(&a);
    replica_open(&b);
    sp_store_shared_stop(b.st); /* b hears no notice from here on */
    uint64_t v = sp_store_data_version(b.st);
    usleep(200 * 1000);
    ck_assert_uint_eq(sp_store_data_version(b.st), v); /* nothing committed: listings stay */
    write_on(&a, 0, 1);
    ck_assert_uint_ne(sp_store_data_version(b.st), v); /* at once */
    v = sp_store_data_version(b.st);
    ck_assert_uint_eq(sp_store_data_version(b.st), v);
    sp_store_close(a.st);
    sp_store_close(b.st);
}
END_TEST

START_TEST(a_listener_that_reconnects_acts_as_if_notified)
{
    replica a;
    replica_open(&a);
    ck_assert(wait_count(&a.commits.n, 1)); /* listening: woken once on connecting */
    int commits = atomic_load(&a.commits.n);
    uint64_t version = local_version(&a);
    /* Notices sent while it was away are lost: on reconnecting it wakes
     * everything to read the database again. */
    ck_assert_int_eq(admin_query(db_url, "SELECT count(pg_terminate_backend(pid))"
                                         " FROM pg_stat_activity"
                                         " WHERE application_name = 'spaceport-listen'"
                                         " AND datname = current_database()"),
                     1);
    ck_assert(wait_count(&a.commits.n, commits + 1));
    ck_assert(wait_local(&a, version));
    sp_store_close(a.st);
}
END_TEST

START_TEST(on_sqlite_every_lease_is_held)
{
    char dir[] = "/tmp/sp-lease-XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/spaceport.db", dir);
    sp_store *st = NULL;
    ck_assert_int_eq(sp_store_open(path, &st), 0);
    ck_assert_int_eq(sp_store_migrate(st, NULL), 0);
    ck_assert_int_eq(sp_store_shared_start(st), 0); /* nothing to start */
    for (int l = 0; l < SP_LEASE_COUNT; l++) {
        ck_assert_int_eq(sp_store_lease_held(st, (sp_lease)l), 1);
        ck_assert_uint_eq(sp_store_lease_term(st, (sp_lease)l), 1);
    }
    sp_store_close(st);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* Replicas started at once on a new database: each opens its store, then
 * all migrate together. */
#define STARTERS 4

typedef struct starter {
    pthread_barrier_t *together;
    const char *url;
    int rc;
} starter;

static void *start_one(void *arg)
{
    starter *s = arg;
    sp_store *st = NULL;
    s->rc = sp_store_open(s->url, &st);
    pthread_barrier_wait(s->together);
    if (s->rc == 0)
        s->rc = sp_store_migrate(st, NULL);
    sp_store_close(st);
    return NULL;
}

START_TEST(replicas_starting_together_migrate_a_new_database_in_turn)
{
    char name[80], url[512], sql[128];
    snprintf(name, sizeof name, "sp_unit_lease_%ld_new", (long)getpid());
    url_with_database(pg_fixture_admin_url(), name, url, sizeof url);
    /* Several rounds: the sessions must meet on the catalog to show it. */
    for (int round = 0; round < 5; round++) {
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
        admin_query(pg_fixture_admin_url(), sql); /* what a failed run left */
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
        admin_query(pg_fixture_admin_url(), sql);
        pthread_barrier_t together;
        pthread_barrier_init(&together, NULL, STARTERS);
        starter s[STARTERS];
        pthread_t t[STARTERS];
        for (int i = 0; i < STARTERS; i++) {
            s[i] = (starter){.together = &together, .url = url};
            ck_assert_int_eq(pthread_create(&t[i], NULL, start_one, &s[i]), 0);
        }
        for (int i = 0; i < STARTERS; i++)
            pthread_join(t[i], NULL);
        pthread_barrier_destroy(&together);
        for (int i = 0; i < STARTERS; i++)
            ck_assert_msg(s[i].rc == 0, "round %d: replica %d failed to migrate: %d", round, i,
                          s[i].rc);
        ck_assert_int_eq(admin_query(url, "SELECT count(*) FROM schema_version"),
                         sp_store_binary_version());
        snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", name);
        admin_query(pg_fixture_admin_url(), sql);
    }
}
END_TEST

START_TEST(a_database_not_of_c_collation_is_refused)
{
    char name[80], url[512], sql[256];
    snprintf(name, sizeof name, "sp_unit_lease_%ld_utf8", (long)getpid());
    url_with_database(pg_fixture_admin_url(), name, url, sizeof url);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", name);
    admin_query(pg_fixture_admin_url(), sql);
    snprintf(sql, sizeof sql,
             "CREATE DATABASE %s TEMPLATE template0 LC_COLLATE 'C.utf8' LC_CTYPE 'C.utf8'", name);
    admin_query(pg_fixture_admin_url(), sql);
    sp_store *st = NULL;
    ck_assert_int_eq(sp_store_open(url, &st), 0);
    ck_assert_int_eq(sp_store_migrate(st, NULL), SP_ERR_INVALID);
    sp_store_close(st);
    snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", name);
    admin_query(pg_fixture_admin_url(), sql);
}
END_TEST

/* The replicas' own connections (lease, listener) fail to connect as the
 * store's do: the location's password is nowhere in the log, neither in
 * the location shown nor in libpq's complaint, which may quote it. */
START_TEST(a_lease_connection_that_fails_logs_no_password)
{
    static const char *const locations[] = {
        "postgres://spuser:s3cretpw@127.0.0.1:1/x",
        "postgres://spuser:s3cret%pw@127.0.0.1:1/x",
        "postgres://spuser:s3cretpw@[127.0.0.1/x",
    };
    for (size_t i = 0; i < sizeof locations / sizeof locations[0]; i++) {
        char path[] = "/tmp/test_lease_XXXXXX";
        int fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        unlink(path);
        fflush(stderr);
        int saved = dup(2);
        dup2(fd, 2);
        PGconn *pg = sp_store__pg_connect(locations[i], "spaceport-lease");
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
        ck_assert_ptr_null(pg);
        char log[4096] = "";
        ck_assert_int_ge(pread(fd, log, sizeof log - 1, 0), 1);
        close(fd);
        ck_assert_msg(strstr(log, "spaceport-lease: cannot connect") != NULL, "%s", log);
        ck_assert_msg(strstr(log, "s3cret") == NULL, "%s", log);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lease");
    TCase *tc = tcase_create("sqlite");
    tcase_add_test(tc, on_sqlite_every_lease_is_held);
    tcase_add_test(tc, a_lease_connection_that_fails_logs_no_password);
    suite_add_tcase(s, tc);

    int pg = pg_fixture_create("lease", db_url, sizeof db_url);
    if (pg < 0)
        return EXIT_FAILURE;
    if (pg) {
        tc = tcase_create("postgres");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, one_replica_holds_every_lease_and_hands_them_over_when_it_closes);
        tcase_add_test(tc, a_lost_lease_connection_drops_every_lease_and_another_takes_them);
        tcase_add_test(tc, another_replicas_notice_moves_the_version_and_wakes_the_listeners);
        tcase_add_test(tc, own_commits_are_told_apart_after_the_writer_reconnects);
        tcase_add_test(tc, another_replicas_commit_changes_the_data_version_before_its_notice);
        tcase_add_test(tc, a_listener_that_reconnects_acts_as_if_notified);
        tcase_add_test(tc, replicas_starting_together_migrate_a_new_database_in_turn);
        tcase_add_test(tc, a_database_not_of_c_collation_is_refused);
        suite_add_tcase(s, tc);
    } else {
        printf("# SPACEPORT_TEST_PG_URL is not set: the PostgreSQL cases are skipped\n");
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    pg_fixture_drop();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
