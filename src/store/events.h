/*
 * events.h - the event log as the store sees it: rows written in the same
 * transaction as the change they describe.
 */
#ifndef SP_STORE_EVENTS_H
#define SP_STORE_EVENTS_H

#include "store/catalog.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

/* One row of the log; strings borrowed during the callback. */
typedef struct sp_event {
    int64_t seq;
    const char *id;
    const char *type;
    const char *subject;
    int64_t time_ms;
    const char *data;      /* JSON object text */
    const char *initiator; /* the Initiator-ID of the write's request, or NULL */
    /* sp_store_events_for_user only: 1 when the event is about a group's
     * grant and the user was a known member of the group when it was
     * written (its access changed), 0 when they were only told. */
    int affected;
} sp_event;

typedef int (*sp_event_fn)(const sp_event *e, void *ctx);

/* Called after a commit that wrote events, on the committing thread,
 * outside the writer lock. Must be quick (wake a thread). */
typedef void (*sp_store_commit_fn)(void *ctx);

/* Listeners registered at most this many (relay, hub, federation,
 * webhooks; room for one more). */
#define SP_STORE_COMMIT_LISTENERS 6

/* Registers a listener; call before threads start. Returns 0 or
 * SP_ERR_TOO_LARGE. */
int sp_store_on_commit(sp_store *st, sp_store_commit_fn fn, void *ctx);

/* Calls fn for up to limit unpublished events after after_seq, oldest
 * first. */
int sp_store_events_unpublished(sp_store *st, int64_t after_seq, int limit, sp_event_fn fn,
                                void *ctx);

/* Marks every event up to through_seq published (acknowledged by the
 * bus): publication is a prefix of the log. Never moves back. */
int sp_store_events_mark_published(sp_store *st, int64_t through_seq);

/* Sets the published cursor to seq, backwards too: the relay found that
 * the stream lacks events the cursor says it has. */
int sp_store_events_set_published(sp_store *st, int64_t seq);

/* The published cursor: every event up to *seq is on the bus. */
int sp_store_events_published(sp_store *st, int64_t *seq);

/* Number of events not yet published, and the oldest one's time (0 when
 * none). */
int sp_store_events_backlog(sp_store *st, int64_t *count, int64_t *oldest_ms);

/*
 * Calls fn with event id if user_seq is among its recipients or as_admin.
 * Returns 0 or SP_ERR_NOT_FOUND.
 */
int sp_store_event_get(sp_store *st, const char *id, int64_t user_seq, int as_admin, sp_event_fn fn,
                       void *ctx);

/*
 * Calls fn for up to limit events concerning user_seq with seq > after,
 * oldest first (change notifications). Returns 0 or a negative sp_err.
 */
int sp_store_events_for_user(sp_store *st, int64_t user_seq, int64_t after, int limit,
                             sp_event_fn fn, void *ctx);

/* Receives one (user, event) pair of event_recipients. */
typedef int (*sp_recipient_fn)(int64_t user_seq, int64_t event_seq, void *ctx);

/* Calls fn for at most limit (user, event) pairs after (after_seq,
 * after_user), in event then user order: a keyset, so that an event with
 * more recipients than limit is read over several calls. */
int sp_store_event_recipients_after(sp_store *st, int64_t after_seq, int64_t after_user, int limit,
                                    sp_recipient_fn fn, void *ctx);

/* Oldest and newest event seq still in the log (0, 0 when empty). */
int sp_store_events_range(sp_store *st, int64_t *oldest, int64_t *newest);

/*
 * Deletes published events older than before_ms (retention) and inbound
 * de-duplication records older than before_ms; at most a bounded batch per
 * call so the writer is never held long. *deleted (may be NULL) receives
 * how many events went.
 */
int sp_store_events_prune(sp_store *st, int64_t before_ms, int *deleted);

#endif
