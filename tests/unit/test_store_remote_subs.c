/*
 * test_store_remote_subs.c - unit tests of the store side of remote spaces'
 * subscriptions at their hosting instance (store/remotes.h,
 * store/remote_subs.c): what a forged or repeated notification cannot do,
 * and the keeper's bookkeeping.
 *
 * - Only the SHA-256 of the clientState is stored; a notification with
 *   another clientState, another instance or another subscription id is
 *   not found and writes nothing.
 * - A notification whose sequenceNumber was applied already (a batch sent
 *   again after a failure) writes no second event, even with another eTag.
 * - Removal queues the subscription's deletion at the hosting instance;
 *   due renewals and deletions come out when due, and outcomes move them
 *   (renewed, gone, failed with back-off, deleted).
 */
#include "store_fixture.h"

#include "store/remotes.h"
#include "util/err.h"
#include "util/time.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZURICH "https://zurich.test"
#define STATE  "s3cr3t-client-state-0123456789abcdef"

static sp_user marie;
static char remote_id[SP_USER_ID_LEN];
static const int64_t HOUR = 3600 * 1000LL;

static void root_setup(void)
{
    fixture_root_setup_named("sp-store-remote-subs");
}

/* Marie's remote space of zurich, subscribed as sub-1, expiring in an hour. */
static void setup(void)
{
    fixture_open();
    fixture_user(&marie, "marie", NULL);
    sp_remote_new r = {.instance = ZURICH,
                       .web_dav_url = ZURICH "/dav/spaces/d1",
                       .remote_drive_id = "d1",
                       .name = "Relativity",
                       .executant = marie.id,
                       .sub_id = "sub-1",
                       .sub_client_state = STATE,
                       .sub_expires_at = sp_time_now_ms() + HOUR};
    ck_assert_int_eq(sp_store_remote_create(st, &marie, &r, remote_id, NULL), 0);
}

static int64_t changed_events(void)
{
    return raw_int("SELECT count(*) FROM events WHERE type = 'spaceport.remote.changed'", NULL,
                   NULL, NULL);
}

START_TEST(state_is_hashed_and_checked)
{
    char stored[128];
    raw_text(stored, sizeof stored, "SELECT sub_state FROM remotes WHERE id = ?1", remote_id, NULL,
             NULL);
    ck_assert_uint_eq(strlen(stored), 64);
    ck_assert_ptr_null(strstr(stored, STATE));
    /* Another clientState, instance or subscription: nothing. */
    int applied = 1;
    ck_assert_int_eq(sp_store_remote_sub_notify(st, ZURICH, "sub-1", "guess", 1,
                                                SP_REMOTE_OCM_CHANGED, "e1", &applied),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(applied, 0);
    ck_assert_int_eq(sp_store_remote_sub_notify(st, "https://evil.test", "sub-1", STATE, 1,
                                                SP_REMOTE_OCM_CHANGED, "e1", NULL),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(sp_store_remote_sub_notify(st, ZURICH, "sub-2", STATE, 1,
                                                SP_REMOTE_OCM_CHANGED, "e1", NULL),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(sp_store_remote_sub_notify(st, ZURICH, "sub-1", STATE, 1,
                                                SP_REMOTE_OCM_UNSHARED, NULL, NULL),
                     0); /* the right one removes */
    ck_assert_int_eq(sp_store_remote_sub_notify(st, ZURICH, "sub-1", "guess", 1,
                                                SP_REMOTE_OCM_UNSHARED, NULL, NULL),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(changed_events(), 0);
    char reason[64];
    raw_text(reason, sizeof reason,
             "SELECT json_extract(data, '$.reason') FROM events WHERE type ="
             " 'spaceport.remote.removed' AND subject = ?1",
             remote_id, NULL, NULL);
    ck_assert_str_eq(reason, "accessLost");
}
END_TEST

START_TEST(redelivery_is_skipped)
{
    int applied = 0;
    ck_assert_int_eq(sp_store_remote_sub_notify(st, ZURICH, "sub-1", STATE, 10,
                                                SP_REMOTE_OCM_CHANGED, "e10", &applied),
                     0);
    ck_assert_int_eq(applied, 1);
    ck_assert_int_eq(sp_store_remote_sub_notify(st, ZURICH, "sub-1", STATE, 11,
                                                SP_REMOTE_OCM_CHANGED, "e11", &applied),
                     0);
    /* The batch again: 10 carries another eTag than the stored one, but was
     * applied already. */
    ck_assert_int_eq(sp_store_remote_sub_notify(st, ZURICH, "sub-1", STATE, 10,
                                                SP_REMOTE_OCM_CHANGED, "e10", &applied),
                     0);
    ck_assert_int_eq(applied, 0);
    ck_assert_int_eq(sp_store_remote_sub_notify(st, ZURICH, "sub-1", STATE, 11,
                                                SP_REMOTE_OCM_CHANGED, "e11", &applied),
                     0);
    ck_assert_int_eq(applied, 0);
    ck_assert_int_eq(changed_events(), 2);
    char etag[64];
    raw_text(etag, sizeof etag, "SELECT etag FROM remotes WHERE id = ?1", remote_id, NULL, NULL);
    ck_assert_str_eq(etag, "e11");
    /* The same eTag under a new number: recorded, no event. */
    ck_assert_int_eq(sp_store_remote_sub_notify(st, ZURICH, "sub-1", STATE, 12,
                                                SP_REMOTE_OCM_CHANGED, "e11", &applied),
                     0);
    ck_assert_int_eq(applied, 0);
    ck_assert_int_eq(raw_int("SELECT sub_seq FROM remotes WHERE id = ?1", remote_id, NULL, NULL),
                     12);
    ck_assert_int_eq(changed_events(), 2);
}
END_TEST

START_TEST(renewals_and_deletions_due)
{
    sp_remote_sub due[4];
    int n = -1;
    int64_t now = sp_time_now_ms();
    /* An hour left: not due while renewal starts with 30 minutes left. */
    ck_assert_int_eq(sp_store_remote_subs_due(st, now, HOUR / 2, due, 4, &n), 0);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(sp_store_remote_subs_due(st, now, 2 * HOUR, due, 4, &n), 0);
    ck_assert_int_eq(n, 1);
    ck_assert(!due[0].unsubscribe);
    ck_assert_str_eq(due[0].sub_id, "sub-1");
    ck_assert_str_eq(due[0].instance, ZURICH);
    /* Failed: waits until next_at. */
    ck_assert_int_eq(sp_store_remote_sub_outcome(st, &due[0], SP_REMOTE_SUB_FAILED, 0, now + 1000,
                                                 "answered 503"),
                     0);
    char error[64] = "";
    raw_text(error, sizeof error, "SELECT sub_error FROM remotes WHERE id = ?1", remote_id, NULL,
             NULL);
    ck_assert_str_eq(error, "answered 503");
    ck_assert_int_eq(sp_store_remote_subs_due(st, now, 2 * HOUR, due, 4, &n), 0);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(sp_store_remote_subs_due(st, now + 1000, 2 * HOUR, due, 4, &n), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(due[0].attempts, 1);
    /* Renewed: a new expiry, no longer due. */
    ck_assert_int_eq(
        sp_store_remote_sub_outcome(st, &due[0], SP_REMOTE_SUB_DONE, now + 3 * HOUR, 0, NULL), 0);
    ck_assert_int_eq(sp_store_remote_subs_due(st, now + 1000, 2 * HOUR, due, 4, &n), 0);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(
        raw_int("SELECT sub_attempts FROM remotes WHERE id = ?1", remote_id, NULL, NULL), 0);
    ck_assert_int_eq(
        raw_int("SELECT sub_expires_at FROM remotes WHERE id = ?1 AND sub_error IS NULL", remote_id,
                NULL, NULL),
        now + 3 * HOUR);
    /* Removing the space queues the deletion at zurich. */
    ck_assert_int_eq(sp_store_remote_remove(st, &marie, remote_id), 0);
    ck_assert_int_eq(sp_store_remote_subs_due(st, now, 0, due, 4, &n), 0);
    ck_assert_int_eq(n, 1);
    ck_assert(due[0].unsubscribe);
    ck_assert_str_eq(due[0].sub_id, "sub-1");
    /* A failed deletion waits until next_at, its error kept. */
    ck_assert_int_eq(sp_store_remote_sub_outcome(st, &due[0], SP_REMOTE_SUB_FAILED, 0, now + 500,
                                                 "answered 502"),
                     0);
    raw_text(error, sizeof error,
             "SELECT attempts || ' ' || last_error FROM remote_unsubscribes WHERE sub_id = ?1",
             "sub-1", NULL, NULL);
    ck_assert_str_eq(error, "1 answered 502");
    ck_assert_int_eq(sp_store_remote_subs_due(st, now, 0, due, 4, &n), 0);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(sp_store_remote_subs_due(st, now + 500, 0, due, 4, &n), 0);
    ck_assert_int_eq(n, 1);
    ck_assert(due[0].unsubscribe);
    ck_assert_int_eq(sp_store_remote_sub_outcome(st, &due[0], SP_REMOTE_SUB_DONE, 0, 0, NULL), 0);
    ck_assert_int_eq(sp_store_remote_subs_due(st, now, 0, due, 4, &n), 0);
    ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(gone_forgets_the_subscription)
{
    sp_remote_sub due[2];
    int n = 0;
    ck_assert_int_eq(sp_store_remote_subs_due(st, sp_time_now_ms(), 2 * HOUR, due, 2, &n), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(sp_store_remote_sub_outcome(st, &due[0], SP_REMOTE_SUB_GONE, 0, 0,
                                                 "the hosting instance no longer has it"),
                     0);
    char error[64] = "";
    raw_text(error, sizeof error, "SELECT sub_error FROM remotes WHERE id = ?1", remote_id, NULL,
             NULL);
    ck_assert_str_eq(error, "the hosting instance no longer has it");
    ck_assert_int_eq(raw_int("SELECT count(*) FROM remotes WHERE id = ?1 AND sub_id IS NULL",
                             remote_id, NULL, NULL),
                     1);
    /* Its notifications are no longer recognised; the space stays. */
    ck_assert_int_eq(sp_store_remote_sub_notify(st, ZURICH, "sub-1", STATE, 1,
                                                SP_REMOTE_OCM_CHANGED, "e1", NULL),
                     SP_ERR_NOT_FOUND);
    /* Removing it now queues nothing. */
    ck_assert_int_eq(sp_store_remote_remove(st, &marie, remote_id), 0);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM remote_unsubscribes", NULL, NULL, NULL), 0);
}
END_TEST

static Suite *remote_subs_suite(void)
{
    Suite *s = suite_create("store_remote_subs");
    TCase *tc = tcase_create("remote_subs");
    tcase_add_unchecked_fixture(tc, root_setup, fixture_root_teardown);
    tcase_add_checked_fixture(tc, setup, fixture_close);
    tcase_add_test(tc, state_is_hashed_and_checked);
    tcase_add_test(tc, redelivery_is_skipped);
    tcase_add_test(tc, renewals_and_deletions_due);
    tcase_add_test(tc, gone_forgets_the_subscription);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_main(remote_subs_suite());
}
