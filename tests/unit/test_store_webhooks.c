/*
 * test_store_webhooks.c - the delivery side of subscriptions
 * (src/store/webhooks.c): a subscription is due only when it has work
 * (its owner's events after the cursor, a gap in the log, a lifecycle
 * note, an expiry); the cursor never moves back; a failure backs off;
 * ending writes subscription.deleted once with its reason; idle cursors
 * catch up with the log but never over a gap, which only a missed note
 * may pass; access follows the owner's membership.
 */
#include "store/drives.h"
#include "store/subscriptions.h"
#include "store/webhooks.h"
#include "store_fixture.h"

#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sp_user alice, bob;
static const int64_t HOUR = 3600 * 1000LL;

static void root_setup(void)
{
    fixture_root_setup_named("sp-store-webhooks");
}

static void setup(void)
{
    fixture_open();
    fixture_user(&alice, "alice", NULL);
    fixture_user(&bob, "bob", NULL);
}

/* A subscription of u to resource, read back as the sender sees it. */
static sp_subscription *make(const sp_user *u, const char *resource)
{
    sp_subscription *s = malloc(sizeof *s);
    ck_assert_ptr_nonnull(s);
    sp_subscription_new n = {.resource = resource,
                             .drive_id = strncmp(resource, "drives/", 7) == 0 ? resource + 7 : NULL,
                             .change_types = SP_SUB_ALL,
                             .notification_url = "https://hooks.example.test/in",
                             .expires_at = sp_time_now_ms() + HOUR};
    ck_assert_int_eq(sp_store_subscription_create(st, u, &n, 100, s), 0);
    return s;
}

static sp_subscription *reread(sp_subscription *s)
{
    ck_assert_int_eq(sp_store_webhook_get(st, s->seq, s), 0);
    return s;
}

/* Whether subscription seq is among the due at now. */
static int is_due(int64_t seq, int64_t now)
{
    enum { MAX = 8 };
    sp_subscription *rows = calloc(MAX, sizeof *rows);
    int count = 0, found = 0;
    ck_assert_int_eq(sp_store_webhooks_due(st, now, rows, MAX, &count), 0);
    for (int i = 0; i < count; i++)
        found |= rows[i].seq == seq;
    free(rows);
    return found;
}

static int64_t newest(void)
{
    return raw_int("SELECT max(seq) FROM events", NULL, NULL, NULL);
}

static char *project(const sp_user *u, const char *name)
{
    static char id[SP_USER_ID_LEN];
    ck_assert_int_eq(sp_store_drive_create(st, u, name, NULL, -1, id), 0);
    return id;
}

START_TEST(due_only_with_the_owners_events)
{
    sp_subscription *a = make(&alice, "me/drives");
    sp_subscription *b = make(&bob, "me/drives");
    int64_t now = sp_time_now_ms();
    ck_assert(!is_due(a->seq, now));
    project(&alice, "Lab"); /* space.created for alice only */
    ck_assert(is_due(a->seq, now));
    ck_assert(!is_due(b->seq, now)); /* bob is told nothing of it */
    free(a);
    free(b);
}
END_TEST

START_TEST(advance_never_moves_back)
{
    sp_subscription *a = make(&alice, "me/drives");
    project(&alice, "One");
    project(&alice, "Two");
    int64_t top = newest(), now = sp_time_now_ms();
    ck_assert_int_eq(sp_store_webhook_advance(st, a->seq, top, now), 0);
    ck_assert_int_eq(reread(a)->cursor, top);
    ck_assert(!is_due(a->seq, now));
    /* A late write of an older position changes nothing. */
    ck_assert_int_eq(sp_store_webhook_advance(st, a->seq, top - 1, now), 0);
    ck_assert_int_eq(reread(a)->cursor, top);
    free(a);
}
END_TEST

START_TEST(failure_counts_and_backs_off)
{
    sp_subscription *a = make(&alice, "me/drives");
    project(&alice, "Lab");
    int64_t now = sp_time_now_ms();
    char long_error[600];
    memset(long_error, 'x', sizeof long_error - 1);
    long_error[sizeof long_error - 1] = '\0';
    ck_assert_int_eq(sp_store_webhook_failed(st, a->seq, now + 5000, long_error), 0);
    reread(a);
    ck_assert_int_eq(a->attempts, 1);
    ck_assert_int_eq(a->next_attempt_at, now + 5000);
    ck_assert_uint_eq(strlen(a->last_error), 255); /* cut, not the whole answer */
    ck_assert(!is_due(a->seq, now));
    ck_assert(is_due(a->seq, now + 5000));
    /* Delivered after all: the count starts again. */
    ck_assert_int_eq(sp_store_webhook_advance(st, a->seq, newest(), now), 0);
    ck_assert_int_eq(reread(a)->attempts, 0);
    ck_assert_str_eq(a->last_error, "");
    free(a);
}
END_TEST

/* subscription.deleted events about id with reason. */
static int64_t deleted_events(const char *id, const char *reason)
{
    return raw_int("SELECT count(*) FROM events WHERE type = 'spaceport.subscription.deleted'"
                   " AND subject = ?1 AND json_extract(data, '$.reason') = ?2",
                   id, reason, NULL);
}

START_TEST(access_lost_ends_once_then_lifecycle_deletes)
{
    sp_subscription *a = make(&alice, "me/drives");
    ck_assert_int_eq(sp_store_webhook_end(st, a->seq, SP_WEBHOOK_ACCESS_LOST), 1);
    reread(a);
    ck_assert_int_gt(a->ended_at, 0);
    ck_assert_str_eq(a->lifecycle_pending, SP_SUB_LIFECYCLE_REMOVED);
    ck_assert(is_due(a->seq, sp_time_now_ms())); /* its note is to be sent */
    ck_assert_int_eq(deleted_events(a->id, "accessLost"), 1);
    /* The event is the owner's. */
    ck_assert_int_eq(raw_int("SELECT count(*) FROM event_recipients r JOIN events e"
                             " ON e.seq = r.event_seq JOIN users u ON u.seq = r.user_seq"
                             " WHERE e.subject = ?1 AND e.type = 'spaceport.subscription.deleted'"
                             " AND u.id = ?2",
                             a->id, alice.id, NULL),
                     1);
    /* Ending again (another worker, the sweep) writes nothing more. */
    ck_assert_int_eq(sp_store_webhook_end(st, a->seq, SP_WEBHOOK_ACCESS_LOST), 0);
    ck_assert_int_eq(deleted_events(a->id, "accessLost"), 1);
    ck_assert_int_eq(sp_store_webhook_lifecycle_done(st, a->seq, SP_SUB_LIFECYCLE_REMOVED), 0);
    ck_assert_int_eq(sp_store_webhook_get(st, a->seq, a), SP_ERR_NOT_FOUND);
    free(a);
}
END_TEST

START_TEST(expiry_deletes_with_its_reason)
{
    sp_subscription *a = make(&alice, "me/drives");
    raw_exec("UPDATE subscriptions SET expires_at = 1 WHERE id = ?1", a->id, NULL, NULL);
    ck_assert_int_eq(sp_store_webhook_end(st, a->seq, SP_WEBHOOK_EXPIRED), 1);
    ck_assert_int_eq(deleted_events(a->id, "expired"), 1);
    ck_assert_int_eq(sp_store_webhook_get(st, a->seq, a), SP_ERR_NOT_FOUND);
    free(a);
}
END_TEST

/* The sender read a subscription as expired, and its owner (or delegate)
 * renewed it before the end was written: the renewal stands. */
START_TEST(expiry_after_renewal_keeps_it)
{
    sp_subscription *a = make(&alice, "me/drives");
    ck_assert_int_eq(sp_store_webhook_end(st, a->seq, SP_WEBHOOK_EXPIRED), 0);
    ck_assert_int_eq(deleted_events(a->id, "expired"), 0);
    ck_assert_int_eq(reread(a)->ended_at, 0);
    raw_exec("UPDATE subscriptions SET expires_at = 1 WHERE id = ?1", a->id, NULL, NULL);
    ck_assert_int_eq(sp_store_webhook_end(st, a->seq, SP_WEBHOOK_EXPIRED), 1);
    ck_assert_int_eq(deleted_events(a->id, "expired"), 1);
    free(a);
}
END_TEST

START_TEST(idle_cursor_catches_up)
{
    sp_subscription *a = make(&alice, "me/drives");
    project(&bob, "Bob's"); /* not alice's: her cursor may pass it */
    int moved = 0;
    ck_assert_int_eq(sp_store_webhooks_catch_up(st, &moved), 0);
    ck_assert_int_eq(moved, 1);
    ck_assert_int_eq(reread(a)->cursor, newest());
    ck_assert_int_eq(sp_store_webhooks_catch_up(st, &moved), 0);
    ck_assert_int_eq(moved, 0);
    /* One with an event of its owner waiting is not passed over. */
    project(&alice, "Lab");
    project(&bob, "More");
    ck_assert_int_eq(sp_store_webhooks_catch_up(st, &moved), 0);
    ck_assert_int_eq(moved, 0);
    ck_assert_int_lt(reread(a)->cursor, newest());
    free(a);
}
END_TEST

/* Deletes the events up to seq upto (all when NULL) as the retention
 * sweep does: the raw connection does not cascade, so their recipients
 * go too. */
static void prune(const char *upto)
{
    raw_exec("DELETE FROM event_recipients WHERE ?1 IS NULL OR event_seq <= ?1", upto, NULL, NULL);
    raw_exec("DELETE FROM events WHERE ?1 IS NULL OR seq <= ?1", upto, NULL, NULL);
}

/* The pruner passes idle cursors over the events it deletes first (the
 * sender's catch-up may not have run: a long stop): no gap, no missed
 * note for a subscription that had nothing to be told. One whose owner's
 * events are waiting keeps its cursor and its gap. */
START_TEST(prune_passes_idle_cursors_first)
{
    sp_subscription *a = make(&alice, "me/drives");
    sp_subscription *b = make(&bob, "me/drives");
    project(&bob, "Bob's"); /* bob's, not alice's */
    int64_t last = newest();
    ck_assert_int_eq(sp_store_events_mark_published(st, last), 0);
    int deleted = 0;
    ck_assert_int_eq(sp_store_events_prune(st, sp_time_now_ms() + HOUR, &deleted), 0);
    ck_assert_int_gt(deleted, 0);
    ck_assert_int_eq(reread(a)->cursor, last);
    ck_assert(!is_due(a->seq, sp_time_now_ms()));
    ck_assert_int_lt(reread(b)->cursor, last);
    ck_assert(is_due(b->seq, sp_time_now_ms())); /* for its missed note */
    free(a);
    free(b);
}
END_TEST

START_TEST(gap_is_due_and_only_missed_passes_it)
{
    sp_subscription *a = make(&alice, "me/drives");
    project(&alice, "Lab");
    project(&bob, "Later");
    /* Retention took the events after alice's cursor, hers among them. */
    char upto[32];
    snprintf(upto, sizeof upto, "%lld", (long long)newest() - 1);
    prune(upto);
    int64_t first = 0;
    ck_assert_int_eq(sp_store_webhooks_first_seq(st, &first), 0);
    ck_assert_int_eq(first, newest());
    ck_assert(is_due(a->seq, sp_time_now_ms()));
    int moved = 0;
    ck_assert_int_eq(sp_store_webhooks_catch_up(st, &moved), 0);
    ck_assert_int_eq(moved, 0); /* the gap is for a missed note to tell */
    ck_assert_int_eq(sp_store_webhook_missed(st, a->seq, first - 1), 0);
    reread(a);
    ck_assert_int_eq(a->cursor, first - 1);
    ck_assert_str_eq(a->lifecycle_pending, SP_SUB_LIFECYCLE_MISSED);
    ck_assert_int_eq(sp_store_webhook_lifecycle_done(st, a->seq, SP_SUB_LIFECYCLE_MISSED), 0);
    reread(a); /* a missed note does not end it */
    ck_assert_str_eq(a->lifecycle_pending, "");
    ck_assert_int_eq(a->ended_at, 0);
    /* An empty log still knows where it stands. */
    int64_t last = newest();
    prune(NULL);
    ck_assert_int_eq(sp_store_webhooks_first_seq(st, &first), 0);
    ck_assert_int_eq(first, last + 1);
    free(a);
}
END_TEST

/* A worker sends a missed note while the access sweep (another worker)
 * ends the subscription: the missed note's completion must not delete it
 * with its subscriptionRemoved unsent. */
START_TEST(end_while_missed_is_sent_keeps_removed)
{
    sp_subscription *a = make(&alice, "me/drives");
    ck_assert_int_eq(sp_store_webhook_missed(st, a->seq, reread(a)->cursor), 0);
    ck_assert_str_eq(reread(a)->lifecycle_pending, SP_SUB_LIFECYCLE_MISSED);
    ck_assert_int_eq(sp_store_webhook_end(st, a->seq, SP_WEBHOOK_ACCESS_LOST), 1);
    ck_assert_int_eq(sp_store_webhook_lifecycle_done(st, a->seq, SP_SUB_LIFECYCLE_MISSED), 0);
    ck_assert_int_eq(sp_store_webhook_get(st, a->seq, a), 0);
    ck_assert_str_eq(a->lifecycle_pending, SP_SUB_LIFECYCLE_REMOVED);
    ck_assert(is_due(a->seq, sp_time_now_ms()));
    ck_assert_int_eq(sp_store_webhook_lifecycle_done(st, a->seq, SP_SUB_LIFECYCLE_REMOVED), 0);
    ck_assert_int_eq(sp_store_webhook_get(st, a->seq, a), SP_ERR_NOT_FOUND);
    free(a);
}
END_TEST

START_TEST(access_follows_membership)
{
    char drive[SP_USER_ID_LEN], resource[SP_USER_ID_LEN + 8];
    snprintf(drive, sizeof drive, "%s", project(&alice, "Lab"));
    snprintf(resource, sizeof resource, "drives/%s", drive);
    sp_subscription *a = make(&alice, resource);
    sp_subscription *b = make(&bob, resource); /* the store does not ask; the API does */
    sp_subscription *m = make(&bob, "me/drives");
    int may = -1;
    ck_assert_int_eq(sp_store_webhook_may_read(st, a, &may, NULL, 0), 0);
    ck_assert_int_eq(may, 1);
    ck_assert_int_eq(sp_store_webhook_may_read(st, b, &may, NULL, 0), 0);
    ck_assert_int_eq(may, 0);
    ck_assert_int_eq(sp_store_webhook_may_read(st, m, &may, NULL, 0), 0);
    ck_assert_int_eq(may, 1);
    free(a);
    free(b);
    free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_webhooks");
    TCase *tc = tcase_create("webhooks");
    tcase_add_unchecked_fixture(tc, root_setup, fixture_root_teardown);
    tcase_add_checked_fixture(tc, setup, fixture_close);
    tcase_add_test(tc, due_only_with_the_owners_events);
    tcase_add_test(tc, advance_never_moves_back);
    tcase_add_test(tc, failure_counts_and_backs_off);
    tcase_add_test(tc, access_lost_ends_once_then_lifecycle_deletes);
    tcase_add_test(tc, expiry_deletes_with_its_reason);
    tcase_add_test(tc, expiry_after_renewal_keeps_it);
    tcase_add_test(tc, idle_cursor_catches_up);
    tcase_add_test(tc, gap_is_due_and_only_missed_passes_it);
    tcase_add_test(tc, prune_passes_idle_cursors_first);
    tcase_add_test(tc, access_follows_membership);
    tcase_add_test(tc, end_while_missed_is_sent_keeps_removed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_main(suite());
}
