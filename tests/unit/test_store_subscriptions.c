/*
 * test_store_subscriptions.c - change notification subscriptions
 * (src/store/subscriptions.c): each write writes its event in the same
 * transaction, ownership is checked inside the write (someone else's id is
 * not found, and stays as it was), a trusted instance reaches only the
 * subscriptions it made, the per-owner limit holds inside the write, the
 * cursor starts at the newest event, and ended or expired subscriptions
 * cannot be renewed.
 */
#include "store/drives.h"
#include "store/subscriptions.h"
#include "store_fixture.h"

#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sp_user alice, bob;
static const int64_t DAY = 24 * 3600 * 1000LL;

static void root_setup(void)
{
    fixture_root_setup_named("sp-store-subs");
}

static void setup(void)
{
    fixture_open();
    fixture_user(&alice, "alice", NULL);
    fixture_user(&bob, "bob", NULL);
}

static int64_t count(const char *sql, const char *p1)
{
    return raw_int(sql, p1, NULL, NULL);
}

/* Creates a subscription of u to resource (optionally by delegate). */
static int make(const sp_user *u, const char *resource, const char *delegate, int max,
                sp_subscription *out)
{
    sp_subscription_new n = {.resource = resource,
                             .drive_id = strncmp(resource, "drives/", 7) == 0 ? resource + 7 : NULL,
                             .change_types = SP_SUB_CREATED | SP_SUB_DELETED,
                             .notification_url = "https://hooks.example.test/in",
                             .client_state = "state-1",
                             .delegate = delegate,
                             .expires_at = sp_time_now_ms() + DAY};
    return sp_store_subscription_create(st, u, &n, max, out);
}

static int collect(const sp_subscription *s, void *ctx)
{
    char *ids = ctx;
    strcat(ids, s->id);
    strcat(ids, ";");
    return 0;
}

START_TEST(create_writes_row_and_event)
{
    sp_subscription *s = malloc(sizeof *s);
    int64_t newest_before = count("SELECT max(seq) FROM events", NULL);
    ck_assert_int_eq(make(&alice, "me/drives", NULL, 100, s), 0);
    ck_assert_str_eq(s->owner_id, alice.id);
    ck_assert_str_eq(s->resource, "me/drives");
    ck_assert_str_eq(s->drive_id, "");
    ck_assert_uint_eq(s->change_types, SP_SUB_CREATED | SP_SUB_DELETED);
    ck_assert_str_eq(s->client_state, "state-1");
    ck_assert_str_eq(s->lifecycle_url, "");
    ck_assert_str_eq(s->delegate, "");
    /* The cursor is the created event: nothing before it is sent. */
    int64_t created_seq = count("SELECT seq FROM events WHERE type ="
                                " 'spaceport.subscription.created' AND subject = ?1",
                                s->id);
    ck_assert_int_gt(created_seq, newest_before);
    ck_assert_int_eq(s->cursor, created_seq);
    ck_assert_int_eq(count("SELECT cursor FROM subscriptions WHERE id = ?1", s->id), created_seq);
    ck_assert_int_eq(count("SELECT count(*) FROM event_recipients r JOIN events e ON e.seq ="
                           " r.event_seq WHERE e.subject = ?1",
                           s->id),
                     1);
    char data[512];
    raw_text(data, sizeof data, "SELECT data FROM events WHERE subject = ?1", s->id, NULL, NULL);
    ck_assert_ptr_nonnull(strstr(data, "\"changeType\":\"created,deleted\""));
    ck_assert_ptr_null(strstr(data, "delegate"));
    sp_subscription *got = malloc(sizeof *got);
    sp_subscription_who who = {.owner_seq = alice.seq};
    ck_assert_int_eq(sp_store_subscription_get(st, &who, s->id, got), 0);
    ck_assert_str_eq(got->id, s->id);
    ck_assert_str_eq(got->owner_id, alice.id);
    ck_assert_str_eq(got->notification_url, "https://hooks.example.test/in");
    ck_assert_str_eq(got->client_state, "state-1");
    ck_assert_int_eq(got->expires_at, s->expires_at);
    ck_assert_int_eq(got->cursor, s->cursor);
    ck_assert_int_eq(got->ended_at, 0);
    ck_assert_str_eq(got->lifecycle_pending, "");
    free(got);
    free(s);
}
END_TEST

START_TEST(others_are_not_found_and_untouched)
{
    sp_subscription *s = malloc(sizeof *s), *got = malloc(sizeof *got);
    ck_assert_int_eq(make(&alice, "me/drives", NULL, 100, s), 0);
    int64_t events = count("SELECT count(*) FROM events", NULL);
    sp_subscription_who as_bob = {.owner_seq = bob.seq};
    ck_assert_int_eq(sp_store_subscription_get(st, &as_bob, s->id, got), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(sp_store_subscription_renew(st, &as_bob, s->id, s->expires_at + 1000, got),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(sp_store_subscription_delete(st, &as_bob, s->id), SP_ERR_NOT_FOUND);
    /* A delegate reaches only what it made: Alice's own is not its. */
    sp_subscription_who as_instance = {.delegate = "https://paris.test"};
    ck_assert_int_eq(sp_store_subscription_delete(st, &as_instance, s->id), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(count("SELECT count(*) FROM events", NULL), events);
    ck_assert_int_eq(count("SELECT expires_at FROM subscriptions WHERE id = ?1", s->id),
                     s->expires_at);
    char ids[256] = "";
    ck_assert_int_eq(sp_store_subscription_list(st, bob.seq, collect, ids), 0);
    ck_assert_str_eq(ids, "");
    free(s);
    free(got);
}
END_TEST

START_TEST(delegate_path)
{
    sp_subscription *s = malloc(sizeof *s), *got = malloc(sizeof *got);
    ck_assert_int_eq(make(&alice, "me/drives", "https://paris.test", 100, s), 0);
    sp_subscription_who paris = {.delegate = "https://paris.test"};
    sp_subscription_who rome = {.delegate = "https://rome.test"};
    ck_assert_int_eq(sp_store_subscription_get(st, &rome, s->id, got), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(sp_store_subscription_get(st, &paris, s->id, got), 0);
    ck_assert_str_eq(got->delegate, "https://paris.test");
    ck_assert_int_eq(sp_store_subscription_renew(st, &paris, s->id, s->expires_at + 5, got), 0);
    ck_assert_int_eq(got->expires_at, s->expires_at + 5);
    char data[512];
    raw_text(data, sizeof data,
             "SELECT data FROM events WHERE subject = ?1 AND type = 'spaceport.subscription."
             "updated'",
             s->id, NULL, NULL);
    ck_assert_ptr_nonnull(strstr(data, "\"delegate\":\"https://paris.test\""));
    ck_assert_int_eq(sp_store_subscription_delete(st, &paris, s->id), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM subscriptions", NULL), 0);
    free(s);
    free(got);
}
END_TEST

START_TEST(renew_delete_events_in_order)
{
    sp_subscription *s = malloc(sizeof *s), *got = malloc(sizeof *got);
    ck_assert_int_eq(make(&alice, "drives/some-drive", NULL, 100, s), 0);
    ck_assert_str_eq(s->drive_id, "some-drive");
    sp_subscription_who who = {.owner_seq = alice.seq};
    int64_t later = s->expires_at + DAY;
    ck_assert_int_eq(sp_store_subscription_renew(st, &who, s->id, later, got), 0);
    ck_assert_int_eq(got->expires_at, later);
    ck_assert_int_eq(count("SELECT expires_at FROM subscriptions WHERE id = ?1", s->id), later);
    ck_assert_int_eq(sp_store_subscription_delete(st, &who, s->id), 0);
    ck_assert_int_eq(sp_store_subscription_delete(st, &who, s->id), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(count("SELECT count(*) FROM subscriptions WHERE id = ?1", s->id), 0);
    char types[256];
    raw_text(types, sizeof types,
             "SELECT group_concat(type, ' ') FROM (SELECT type FROM events WHERE subject = ?1"
             " ORDER BY seq)",
             s->id, NULL, NULL);
    ck_assert_str_eq(types, "spaceport.subscription.created spaceport.subscription.updated "
                            "spaceport.subscription.deleted");
    char data[512];
    raw_text(data, sizeof data,
             "SELECT data FROM events WHERE subject = ?1 AND type = 'spaceport.subscription."
             "deleted'",
             s->id, NULL, NULL);
    ck_assert_ptr_nonnull(strstr(data, "\"reason\":\"deleted\""));
    free(s);
    free(got);
}
END_TEST

START_TEST(ended_or_expired_is_not_renewed)
{
    sp_subscription *s = malloc(sizeof *s), *got = malloc(sizeof *got);
    sp_subscription_who who = {.owner_seq = alice.seq};
    ck_assert_int_eq(make(&alice, "me/drives", NULL, 100, s), 0);
    raw_exec("UPDATE subscriptions SET ended_at = 1, lifecycle_pending = 'subscriptionRemoved'"
             " WHERE id = ?1",
             s->id, NULL, NULL);
    ck_assert_int_eq(sp_store_subscription_renew(st, &who, s->id, s->expires_at + 1, got),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(make(&alice, "me/drives", NULL, 100, s), 0);
    raw_exec("UPDATE subscriptions SET expires_at = 1 WHERE id = ?1", s->id, NULL, NULL);
    ck_assert_int_eq(sp_store_subscription_renew(st, &who, s->id, sp_time_now_ms() + DAY, got),
                     SP_ERR_NOT_FOUND);
    /* The owner may still delete them. */
    ck_assert_int_eq(sp_store_subscription_delete(st, &who, s->id), 0);
    free(s);
    free(got);
}
END_TEST

START_TEST(limit_holds_per_owner)
{
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(make(&alice, "me/drives", NULL, 3, NULL), 0);
    int64_t events = count("SELECT count(*) FROM events", NULL);
    ck_assert_int_eq(make(&alice, "me/drives", NULL, 3, NULL), SP_ERR_TOO_LARGE);
    ck_assert_int_eq(count("SELECT count(*) FROM events", NULL), events);
    ck_assert_int_eq(make(&bob, "me/drives", NULL, 3, NULL), 0);
    int64_t n = 0;
    ck_assert_int_eq(sp_store_subscriptions_of(st, alice.seq, &n), 0);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(sp_store_subscriptions_count(st, &n), 0);
    ck_assert_int_eq(n, 4);
    char ids[512] = "";
    ck_assert_int_eq(sp_store_subscription_list(st, alice.seq, collect, ids), 0);
    int listed = 0;
    for (const char *p = ids; (p = strchr(p, ';')); p++)
        listed++;
    ck_assert_int_eq(listed, 3);
}
END_TEST

START_TEST(change_types_text)
{
    char out[32];
    sp_subscription_change_types_str(SP_SUB_ALL, out, sizeof out);
    ck_assert_str_eq(out, "created,updated,deleted");
    sp_subscription_change_types_str(SP_SUB_DELETED | SP_SUB_UPDATED, out, sizeof out);
    ck_assert_str_eq(out, "updated,deleted");
    sp_subscription_change_types_str(0, out, sizeof out);
    ck_assert_str_eq(out, "");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_subscriptions");
    TCase *tc = tcase_create("subscriptions");
    tcase_add_unchecked_fixture(tc, root_setup, fixture_root_teardown);
    tcase_add_checked_fixture(tc, setup, fixture_close);
    tcase_add_test(tc, create_writes_row_and_event);
    tcase_add_test(tc, others_are_not_found_and_untouched);
    tcase_add_test(tc, delegate_path);
    tcase_add_test(tc, renew_delete_events_in_order);
    tcase_add_test(tc, ended_or_expired_is_not_renewed);
    tcase_add_test(tc, limit_holds_per_owner);
    tcase_add_test(tc, change_types_text);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_main(suite());
}
