/*
 * internal.h - what the table-family files of the store share. Not for use
 * outside src/store/.
 */
#ifndef SP_STORE_INTERNAL_H
#define SP_STORE_INTERNAL_H

#include "store/events.h"
#include "store/lease.h"
#include "store/roles.h"
#include "store/store.h"
#include "store/subscriptions.h"
#include "store/users.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include "store/db.h"
#include <stddef.h>
#include <stdint.h>

/* Prepared statements cached per connection; the store's SQL is a fixed set
 * of string constants, so a small open-addressed table keyed by the
 * constant's address is enough. Must be a power of two. */
#define SP_STMT_CACHE_SIZE 128

/* PostgreSQL advisory lock keys (as SQL literals): the one writer at a time
 * across replicas (txn.c), and migrations. */
#define SP_STORE_LOCK_WRITE "7310001"
#define SP_STORE_LOCK_MIGRATE "7310002"
/* PostgreSQL: the channel every commit that changes what readers see
 * notifies (listen.c listens on it, on every replica). The payload says
 * whether the commit wrote events (SP_STORE_NOTICE_EVENTS: the commit
 * listeners are woken) or only data (listings are invalidated). */
#define SP_STORE_CHANNEL "spaceport_events"
#define SP_STORE_NOTICE_EVENTS "events"
#define SP_STORE_NOTICE_DATA "data"
/* Listeners of one lease at most (its worker; room for one more). */
#define SP_STORE_LEASE_LISTENERS 2

typedef struct sp_store_shared sp_store_shared;

/*
 * The few fragments of SQL the two engines read differently. A statement
 * that needs one is written once, as a macro of its dialect D (SP_LITE or
 * SP_PG) that names them D##_NOCASE and so on, and SP_SQL_BOTH makes the
 * {SQLite, PostgreSQL} pair that SP_SQL picks from. Everything else is
 * written in the subset both read alike.
 */
#define SP_SQL_BOTH(M) {M(SP_LITE), M(SP_PG)}
/* Text col as compared and ordered without case: SQLite's NOCASE
 * collation, which its indexes of such columns are declared with, and
 * PostgreSQL's lower(), which its indexes are on (schema/pg). Both fold
 * ASCII letters only (the PostgreSQL database is created with C ctype). */
#define SP_LITE_NOCASE(col) col " COLLATE NOCASE"
#define SP_PG_NOCASE(col) "lower(" col ")"
/* col LIKE pat without case, the pattern's wildcards escaped with '\'
 * (sp_store__like_patterns): SQLite's LIKE ignores ASCII case already. */
#define SP_LITE_ILIKE(col, pat) col " LIKE " pat " ESCAPE '\\'"
#define SP_PG_ILIKE(col, pat) "lower(" col ") LIKE lower(" pat ") ESCAPE '\\'"
/* A LIMIT that takes every row, for an OFFSET (SQLite needs a LIMIT
 * before it and reads -1 so; PostgreSQL reads no negative one): the
 * largest 64-bit integer. */
#define SP_SQL_NO_LIMIT "9223372036854775807"
/* The larger of two values: SQLite's max() of several arguments. */
#define SP_LITE_GREATEST "max"
#define SP_PG_GREATEST "GREATEST"

typedef struct sp_group_waiter sp_group_waiter;
typedef struct sp_store_job sp_store_job;

typedef struct sp_conn {
    sp_db *db;
    struct {
        const char *sql;
        sp_db_stmt *stmt;
    } cache[SP_STMT_CACHE_SIZE];
    struct sp_conn *next; /* in the store's list of reader connections */
} sp_conn;

struct sp_store {
    char *location; /* the SQLite file, or the PostgreSQL URL */
    sp_conn writer; /* used only with write_lock held */
    int pg;         /* the database is PostgreSQL */
    pthread_mutex_t write_lock;
    pthread_key_t reader_key; /* per-thread reader sp_conn */
    pthread_mutex_t readers_lock;
    sp_conn *readers;   /* every reader, for closing */
    int events_written; /* set by sp_store__event_add; read at commit */
    int invisible;      /* the transaction changes nothing a reader lists */
    /* Group commit (txn.c), under write_lock. */
    atomic_int writers_waiting; /* threads about to take write_lock to write */
    int group_open, group_relaxed, group_members, group_events, group_visible;
    uint64_t group_count;           /* transactions begun (for tests) */
    sp_group_waiter *group_waiters; /* writers waiting for the open group */
    pthread_mutex_t group_lock;     /* guards the waiters' results */
    pthread_cond_t group_cond;      /* a group ended */
    /* Jobs for the writer thread (txn.c), under jobs_lock. */
    pthread_mutex_t jobs_lock;
    pthread_cond_t jobs_cond;        /* a job came, or stop */
    sp_store_job *jobs, **jobs_tail; /* queued, oldest first */
    int writer_started, jobs_stop;
    long jobs_queued;
    /* sp_store_hold_jobs's file; set before the writer thread starts. */
    char *hold_path;
    _Atomic uint64_t commits, writes; /* groups committed, and their members */
    pthread_t writer_thread;
    _Atomic uint64_t version; /* bumped by every commit that changes what readers see */
    struct {
        void (*fn)(void *ctx);
        void *ctx;
    } listeners[SP_STORE_COMMIT_LISTENERS];
    int listener_count;
    /* Leases (lease.c): the term each is held in, 0 while not held
     * (PostgreSQL; on SQLite every lease is held), and who to wake when
     * one is taken. */
    _Atomic uint64_t lease_term[SP_LEASE_COUNT];
    _Atomic uint64_t lease_terms_drawn; /* terms are drawn from one count: never reused */
    _Atomic uint64_t versions_unread;   /* listen.c: versions given when none could be read */
    struct {
        void (*fn)(void *ctx);
        void *ctx;
    } lease_listeners[SP_LEASE_COUNT][SP_STORE_LEASE_LISTENERS];
    int lease_listener_count[SP_LEASE_COUNT];
    sp_store_shared *shared; /* lease.c's threads; NULL until started, and on SQLite */
    int64_t items_max;       /* unshared items kept (store/items.h) */
    int64_t items_pruned_at; /* items left by the last pruning (items.c; writer only) */
};

/* The condition, on shares s of drives d, for a share to be served to its
 * grantee (mountpoint, sharedWithMe): its item is an item of its drive
 * (util/itemid.h; sp_item_of is registered on every SQLite connection,
 * and PostgreSQL's migrations define it, both answering 1 or 0). Rows
 * stored before that rule may name another drive's item and would point
 * the grantee there; they stay, for their sharer to see and remove. */
#define SP_SHARE_SERVED "(sp_item_of(d.id, s.item_id) = 1)"

/* SQL: the best unexpired space role user u has on drive d, at time now
 * (SQL expressions), NULL for none: their own membership or one of their
 * groups', Manager over SpaceEditor over SpaceViewer. Written out rather
 * than read from the reach view: SQLite pushes the correlated drive into
 * the view's arms only so, and each arm stays a primary key look-up. The
 * groups' arm walks the drive's group grants (a few) and asks whether u is
 * in each, rather than walking u's groups (dozens, for users of large
 * directories). */
#define SP_BEST_ROLE(u, d, now) SP_BEST_ROLE_IF(u, d, now, "1 = 1")
/* SP_BEST_ROLE counting u's stored group memberships only where SQL
 * condition groups_ok holds (the access check, which provisions nobody,
 * trusts them only while they are the token's). */
#define SP_BEST_ROLE_IF(u, d, now, groups_ok)                                                     \
    "(SELECT role FROM (SELECT m.role AS role FROM members m WHERE m.user_seq = " u              \
    " AND m.drive_seq = " d " AND (m.expires_at IS NULL OR m.expires_at > " now ")"              \
    " UNION ALL SELECT g.role FROM drive_groups g WHERE " groups_ok " AND g.drive_seq = " d       \
    " AND (g.expires_at IS NULL OR g.expires_at > " now ") AND EXISTS (SELECT 1 FROM"            \
    " group_members gm WHERE gm.group_seq = g.group_seq AND gm.user_seq = " u ")) AS r"          \
    " ORDER BY " SP_ROLE_RANK("role") " DESC LIMIT 1)"
/* SQL: the rank of space role col, higher for more. */
#define SP_ROLE_RANK(col)                                                                         \
    "(CASE " col " WHEN '" SP_ROLE_MANAGER "' THEN 3 WHEN '" SP_ROLE_SPACE_EDITOR "' THEN 2"     \
    " ELSE 1 END)"
/* SQL: the space role of rank r (SP_ROLE_RANK's inverse: memberships hold
 * space roles only), for the best of several taken as max(rank). */
#define SP_ROLE_OF_RANK(r)                                                                        \
    "(CASE " r " WHEN 3 THEN '" SP_ROLE_MANAGER "' WHEN 2 THEN '" SP_ROLE_SPACE_EDITOR "'"       \
    " ELSE '" SP_ROLE_SPACE_VIEWER "' END)"
/* SQL, on shares s: the share is user u's (an SQL expression): given to
 * them, or to a group they are in unless they made it (a sharer does not
 * receive their own item, as a share with oneself is refused). */
#define SP_SHARE_RECEIVED_BY(u)                                                                    \
    "(s.grantee_seq = " u " OR (s.grantee_group_seq IN"                                            \
    " (SELECT gm.group_seq FROM group_members gm WHERE gm.user_seq = " u ")"                       \
    " AND s.creator_seq <> " u "))"

/* Stops lease.c's threads and closes the lease connection, freeing the
 * leases for the other replicas (sp_store_close). */
void sp_store__shared_close(sp_store *st);

/* sp_store_data_version on PostgreSQL (listen.c): local (this process's
 * version) combined with what the database's commits are now. */
uint64_t sp_store__pg_data_version(sp_store *st, uint64_t local);

/* The calling thread's reader connection, opened on first use. Returns NULL
 * when it cannot be opened. Borrowed; valid until the thread exits or the
 * store closes. */
sp_conn *sp_store__reader(sp_store *st);

/* Returns a reset prepared statement for sql (a string constant) on conn,
 * or NULL on error (logged). Borrowed; reset it after use with
 * sp_store__done. */
sp_db_stmt *sp_store__stmt(sp_conn *conn, const char *sql);
/* Resets a statement and clears its bindings. */
void sp_store__done(sp_db_stmt *stmt);
/* Whether sql (a string constant, one integer parameter bound to p1)
 * yields a row on the calling thread's reader: 1, 0, or SP_ERR_DB. A
 * periodic sweep asks so before it takes the writer for nothing. */
int sp_store__any_row(sp_store *st, const char *sql, int64_t p1);

/* The connection the calling thread reads on: the writer's while this
 * thread runs the store's jobs (so that a job reads what its writes
 * change), else the thread's reader. NULL when it cannot be opened. */
sp_conn *sp_store__conn(sp_store *st);

/* Takes the writer and starts the caller's writes (a savepoint in the open
 * group transaction, txn.c). On success the caller holds the write lock
 * until sp_store__commit or sp_store__rollback. Returns the writer
 * connection, or NULL (lock not held) on failure. */
sp_conn *sp_store__begin(sp_store *st);
/* As sp_store__begin, for writes whose loss in a power failure is harmless
 * (they are redone): alone, they commit without waiting for the disk. */
sp_conn *sp_store__begin_relaxed(sp_store *st);
/* Releases the writer and returns once the caller's writes are committed
 * with their group: 0, or SP_ERR_FULL or SP_ERR_DB (none of the group's
 * writes committed then). */
int sp_store__commit(sp_store *st);
/* Undoes the caller's writes (only theirs) and releases the writer. */
void sp_store__rollback(sp_store *st);
/* Ends the caller's writes as rc says: commits when rc is not negative
 * (returning the commit's result), else rolls back and returns rc. */
int sp_store__finish(sp_store *st, int rc);
/* Runs the jobs still queued and stops the writer thread; later jobs are
 * refused (sp_store_close; calling it again does nothing more). */
void sp_store__jobs_stop(sp_store *st);

/* Maps an SQLite result code to an sp_err code, logging unexpected ones
 * with what (a short description of the statement). */
int sp_store__err(sp_conn *conn, int rc, const char *what);
/* Runs SQL without results (BEGIN, SAVEPOINT, ...) on conn; returns 0 or
 * the sp_err of its failure. */
int sp_store__exec(sp_conn *conn, const char *sql);
/* Steps s (prepared and bound), a statement without rows, and resets it.
 * Returns 0 or the sp_err of its failure (logged with what). */
int sp_store__step_done(sp_conn *conn, sp_db_stmt *s, const char *what);
/* Runs sql, a statement without rows whose one parameter is seq. */
int sp_store__exec_seq(sp_conn *conn, const char *sql, int64_t seq, const char *what);
/* Runs sql, a statement without rows, as a write of its own that no
 * listing shows and whose loss in a power failure is harmless (it is
 * redone: cursors, delivery bookkeeping): binds ints[0..n-1] as ?1..?n
 * and text (unless NULL, copied) as ?n+1. Returns 0 or a negative sp_err
 * (logged with what). */
int sp_store__bookkeep(sp_store *st, const char *sql, const int64_t *ints, int n,
                       const char *text, const char *what);

/*
 * Writes an event row of type about subject (a drive id) with data (a JSON
 * object, borrowed) and its recipients (user seqs), inside the caller's
 * write transaction. *seq_out (may be NULL) receives the event's sequence
 * number. Returns 0 or a negative sp_err; the caller rolls back then.
 */
int sp_store__event_add(sp_conn *w, const char *type, const char *subject, json_t *data,
                        const int64_t *recipients, size_t recipient_count, int64_t *seq_out);

/* Marks, among the recipients of event event_seq (written in this
 * transaction), the known members of group_seq but except_seq (0: none)
 * as affected: the event is about that group's grant (sp_event.affected).
 * Returns 0 or a negative sp_err. */
int sp_store__event_mark_affected(sp_conn *w, int64_t event_seq, int64_t group_seq,
                                  int64_t except_seq);

/* The calling thread's Initiator-ID (sp_store_set_initiator; a job's
 * while it runs), or NULL. Borrowed: valid until the thread sets another. */
const char *sp_store__initiator(void);

/* Steps s (prepared and bound) and collects its first column into a new
 * array *out (free it) of *count values; resets s. */
int sp_store__collect_seqs(sp_conn *c, sp_db_stmt *s, int64_t **out, size_t *count,
                           const char *what);

/* Collects the users an event about drive_seq concerns (its members) into
 * a new array *out (free it) of *count user seqs. */
int sp_store__drive_recipients(sp_conn *w, int64_t drive_seq, int64_t **out, size_t *count);
/* As sp_store__drive_recipients, adding the grantees of the drive's
 * unexpired shares (also the known members of grantee groups): everyone
 * whose listing shows the drive or a mountpoint of it. */
int sp_store__drive_audience(sp_conn *w, int64_t drive_seq, int64_t **out, size_t *count);

/* Writes share.deleted (executant the purging user's id) for every share
 * of drive_seq whose expiry event is not written, before the purge removes
 * them, inside the caller's write transaction (store/shares.c). */
int sp_store__shares_drive_purged(sp_conn *w, int64_t drive_seq, const char *executant);

/* Gives the pending e-mail shares for email (any case) to the user,
 * writing a share.updated event for each. A pending share of an item the
 * user holds already merges with that grant (share.deleted "mergedInto"),
 * so claiming never fails; expired ones are dropped. Inside the caller's
 * write transaction. */
int sp_store__shares_match_email(sp_conn *w, int64_t user_seq, const char *user_id,
                                 const char *email);

/* Finds contact id of owner_seq for a share (contacts.c): its OCM address
 * into address, its instance into instance, its id and name into
 * id_out (SP_USER_ID_LEN bytes) and name_out (SP_USER_NAME_MAX bytes).
 * Only the owner's own contacts are theirs to share with. Returns 0,
 * SP_ERR_NOT_FOUND or SP_ERR_DB. */
int sp_store__share_contact(sp_conn *w, int64_t owner_seq, const char *id, char *address,
                            size_t address_len, char *instance, size_t instance_len, char *id_out,
                            char *name_out);

/* Hex SHA-256 of a secret (a shared secret, a clientState, an invite
 * token), as stored instead of the secret: a copy of the database
 * presents none of them (remotes.c). */
#define SP_STORE_SECRET_HASH_LEN 65
void sp_store__hash_secret(const char *secret, char out[SP_STORE_SECRET_HASH_LEN]);

/* Room for a LIKE pattern of a search term of up to SP_USER_NAME_MAX
 * bytes, every byte escaped, with its wildcards. */
#define SP_STORE_LIKE_MAX (SP_USER_NAME_MAX * 2 + 8)
/* Writes the LIKE patterns "term%" into prefix and "%term%" into contains
 * (each SP_STORE_LIKE_MAX bytes), with the term's wildcards escaped by
 * backslashes (ESCAPE '\\'); a longer term is cut. */
void sp_store__like_patterns(const char *term, char *prefix, char *contains);

/* Steps s (bound; columns id, display name, e-mail or '', user name) on
 * c, calling fn for each user, and resets it (store/users.c). Returns 0,
 * fn's error, or the query's (logged with what). */
int sp_store__each_user(sp_conn *c, sp_db_stmt *s, sp_user_fn fn, void *ctx, const char *what);

/* Replaces user_seq's group memberships with c's groups (of c's issuer,
 * made known when new) and stores their digest, inside the caller's
 * write transaction (store/groups.c). */
struct sp_user_claims;
int sp_store__groups_replace(sp_conn *w, int64_t user_seq, const struct sp_user_claims *c);

/* Appends seq to the new array *seqs of *count values unless it holds it
 * already. Returns 0 or SP_ERR_NOMEM (the array stays the caller's). */
int sp_store__seqs_add(int64_t **seqs, size_t *count, int64_t seq);
/* Appends the known members of group_seq to *seqs (the recipients of a
 * group grant's events; a seq may then appear twice, which the recipients'
 * ON CONFLICT DO NOTHING absorbs) (store/groups.c). */
int sp_store__add_group_members(sp_conn *w, int64_t group_seq, int64_t **seqs, size_t *count);

/* sp_store_authorize on connection c: a write asks again inside its own
 * transaction (store/authz.h). */
struct sp_authz;
int sp_store__authorize(sp_conn *c, struct sp_authz *a);

/* Copies a text column into dst (dstlen bytes, truncating); "" for NULL. */
void sp_store__copy_text(sp_db_stmt *s, int col, char *dst, size_t dstlen);

/* ---- items (items.c) ---- */
struct sp_item;
/* Reads the item columns that start at col (items.c's ITEM_COLS order)
 * into *it; strings borrowed from q. */
void sp_store__read_item(sp_db_stmt *q, int col, struct sp_item *it);
/* Records n item descriptions (or removals) of drive_seq, then drops the
 * oldest unshared items beyond the store's bound. In the caller's write
 * transaction. */
int sp_store__items_apply(sp_conn *w, sp_store *st, int64_t drive_seq,
                          const struct sp_item *items, size_t n);
/* Adds what storage said of item_id of drive_id to event data:
 * parentItemId (not for a root), itemETag and, with with_name,
 * resourceName. Nothing when the item is not known. Returns 0 or a
 * negative sp_err. */
int sp_store__item_fields(sp_conn *w, const char *drive_id, const char *item_id, json_t *data,
                          int with_name);

/* ---- subscriptions (subscriptions.c) ---- */
struct sp_subscription;
/* The columns of a subscription row s (joined with its owner u, users u
 * ON u.seq = s.owner_seq), in sp_store__read_subscription's order. */
#define SP_SUBSCRIPTION_COLS                                                                       \
    "s.seq, s.id, s.owner_seq, u.id, s.resource, coalesce(s.drive_id, ''), s.change_types,"       \
    " s.notification_url, coalesce(s.lifecycle_url, ''), coalesce(s.client_state, ''),"           \
    " coalesce(s.delegate, ''), s.expires_at, s.created_at, s.cursor, s.attempts,"                \
    " s.next_attempt_at, coalesce(s.last_error, ''), coalesce(s.ended_at, 0),"                    \
    " coalesce(s.lifecycle_pending, '')"
/* Reads SP_SUBSCRIPTION_COLS from the current row of q into *out. */
void sp_store__read_subscription(sp_db_stmt *q, struct sp_subscription *out);
/* Steps s (bound; SP_SUBSCRIPTION_COLS) on c for one row into *out, and
 * resets it. Returns 0, SP_ERR_NOT_FOUND (no row) or the query's error
 * (logged with what). */
int sp_store__one_subscription(sp_conn *c, sp_db_stmt *s, sp_subscription *out,
                               const char *what);
/* Steps s (bound; SP_SUBSCRIPTION_COLS) on c, calling fn for each row
 * (borrowed for the call), and resets it. Returns 0, fn's error, or the
 * query's (logged with what). */
int sp_store__each_subscription(sp_conn *c, sp_db_stmt *s, sp_subscription_fn fn, void *ctx,
                                const char *what);
/* Writes event type (subscription.created, .updated or .deleted) about
 * s for its owner, with reason (NULL, or for deleted: "deleted", "expired", "accessLost"),
 * inside the caller's write transaction; *seq_out (may be NULL) receives
 * its seq. Returns 0 or a negative sp_err. */
int sp_store__subscription_event(sp_conn *w, const char *type, const struct sp_subscription *s,
                                 const char *reason, int64_t *seq_out);
/* Moves the cursor of every live subscription whose owner has no event
 * after it to newest (at most the newest event's seq), in the caller's
 * write transaction (store/webhooks.c); *moved (may be NULL) receives how
 * many. The event pruner runs it before deleting, so that events nobody
 * was to be told of never look missed. Returns 0 or a negative sp_err. */
int sp_store__webhooks_catch_up(sp_conn *w, int64_t newest, int *moved);

#endif
