/*
 * store.h - the registry's SQLite database.
 *
 * One file, DATA_DIR/spaceport.db, in WAL mode. Each thread that reads gets
 * its own connection (opened on first use, NOMUTEX, with cached prepared
 * statements); writes go through one writer connection under a process-wide
 * lock, so the hot path never waits in SQLite's busy handler.
 *
 * The store knows no HTTP and no NATS. Table families live in their own
 * files (users.c, drives.c, ...) behind this one handle.
 */
#ifndef SP_STORE_H
#define SP_STORE_H

#include <stdint.h>

typedef struct sp_store sp_store;

/*
 * Opens (creating if missing) the database at path and its writer
 * connection. Does not migrate. Returns 0 and a new handle in *out, or
 * SP_ERR_DB / SP_ERR_IO / SP_ERR_NOMEM.
 */
int sp_store_open(const char *path, sp_store **out);

/*
 * Applies the embedded migrations that have not run yet, each in its own
 * transaction, recording them in schema_version. *applied (may be NULL)
 * receives how many ran; 0 means the database was current. Returns
 * SP_ERR_NEWER_SCHEMA when the database has a version this binary does not
 * know, and changes nothing then.
 */
int sp_store_migrate(sp_store *st, int *applied);

/* Highest migration recorded in the database (0 for a new file), or a
 * negative sp_err. */
int sp_store_schema_version(sp_store *st);
/* Highest migration this binary carries. */
int sp_store_binary_version(void);

/* Checks that the database answers a query on the calling thread's reader
 * connection. Returns 0 or SP_ERR_DB. */
int sp_store_ping(sp_store *st);

/* A number that changes whenever a commit changed what readers can list
 * (not for bookkeeping such as marking events published). Equal numbers
 * mean equal data, for caches of rendered listings. On PostgreSQL it also
 * answers for the other replicas' commits, at the moment of the call (one
 * small query on the caller's reader; see listen.c). */
uint64_t sp_store_data_version(sp_store *st);

/* ---- writes without a waiting thread ---- */

struct sp_authz;

/* Makes a job's writes: calls of the store's write functions only (each
 * one's result is then 0 once its writes joined the group, not once they
 * are durable). Runs on the store's writer thread. Returns 0 or a negative
 * sp_err. */
typedef int (*sp_store_job_fn)(sp_store *st, void *ctx);
/* Tells a job how it ended, on the writer thread: 0 once its writes are
 * durable, else run's error, or the error that lost a group it wrote in
 * (its writes in that group were not committed). */
typedef void (*sp_store_done_fn)(void *ctx, int rc);

/*
 * Queues a job: the writer thread runs the queued jobs one after another
 * inside one group transaction, commits it, then calls done(ctx, rc) for
 * each. The caller's thread does not wait. Returns 0, or SP_ERR_NOMEM, or
 * SP_ERR_DB once the store is closing (nothing queued; done will not be
 * called).
 *
 * check (may be NULL; borrowed until done) is the authorization the
 * job's writes depend on (store/authz.h). The writer thread decides it
 * again, on the writer connection inside a savepoint of the job's own
 * that its writes then join; when it now refuses, run is not called and
 * done gets its SP_ERR_NOT_FOUND or SP_ERR_DENIED (check->why says why),
 * with nothing written. Its fields are written on the writer thread.
 */
int sp_store_submit(sp_store *st, struct sp_authz *check, sp_store_job_fn run,
                    sp_store_done_fn done, void *ctx);

/* Longest Initiator-ID kept with an event, in bytes: oCIS's web clients
 * send a UUID (36); room for other clients' ids, but no more than a key
 * needs, as it is stored with every event and sent with every payload. */
#define SP_STORE_INITIATOR_MAX 64

/*
 * Sets the Initiator-ID (the client instance that asked for the change,
 * such as one browser tab) of the events the calling thread's writes make
 * from now on: they keep it, and the bus and oCIS's change stream give it
 * back, so that the tab can tell its own changes from others'. Jobs
 * queued by this thread (sp_store_submit) take the value it has when they
 * are queued. initiator is copied; NULL clears it. A value that is empty,
 * longer than SP_STORE_INITIATOR_MAX or has a byte outside visible ASCII
 * (0x21-0x7e) clears it too and returns SP_ERR_INVALID: it would not be
 * an id, and a client cannot put one over on another with it. Returns 0
 * otherwise.
 */
int sp_store_set_initiator(const char *initiator);

/*
 * Test hook, never configuration: while a file exists at path (copied),
 * the writer thread leaves queued jobs waiting (writes that do not go
 * through jobs still run), so that a test can change the data between a
 * handler's check and its job's. Call before the first job; path NULL
 * turns it off. Returns 0 or SP_ERR_NOMEM.
 */
int sp_store_hold_jobs(sp_store *st, const char *path);

struct sp_buf;
/* Appends the store's metrics in Prometheus text format: commits, writes
 * committed, jobs queued. Returns 0 or SP_ERR_NOMEM. */
int sp_store_metrics(sp_store *st, struct sp_buf *out);

/* Runs the queued jobs, then closes every connection. Other threads must
 * have stopped using the store. */
void sp_store_close(sp_store *st);

#endif
