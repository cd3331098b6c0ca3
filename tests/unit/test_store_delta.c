/*
 * test_store_delta.c - what drive deltas read from the store
 * (src/store/delta.c) and the events they rely on: the log's bounds
 * survive pruning (a token past them must not pass for "nothing
 * changed"); the mountpoints a user received on a drive are found in any
 * state, and only theirs; share events name the mountpoint; disabling a
 * drive reaches its grantees, and a purge says share.deleted for each
 * share before the rows go.
 */
#include "store/delta.h"
#include "store/drives.h"
#include "store/events.h"
#include "store/roles.h"
#include "store/shares.h"
#include "store_fixture.h"

#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sp_user alice, bob, carol;
static char project[SP_USER_ID_LEN];

static void root_setup(void)
{
    fixture_root_setup_named("sp-store-delta");
}

static void setup(void)
{
    fixture_open();
    fixture_user(&alice, "alice", NULL);
    fixture_user(&bob, "bob", NULL);
    fixture_user(&carol, "carol", NULL);
    ck_assert_int_eq(sp_store_drive_create(st, &alice, "Project", NULL, -1, project), 0);
}

/* Shares item of the project with user; its mountpoint id into mount. */
static void give(const char *item, const sp_user *user, char mount[SP_USER_ID_LEN])
{
    char item_id[128];
    snprintf(item_id, sizeof item_id, "%s!%s", project, item);
    sp_share_grantee g = {.user_id = user->id};
    sp_share_made made;
    ck_assert_int_eq(
        sp_store_share_create(st, &alice, project, item_id, item, &g, SP_ROLE_VIEWER, 0, &made), 0);
    ck_assert(raw_text(mount, SP_USER_ID_LEN, "SELECT mount_id FROM shares WHERE id = ?1", made.id,
                       NULL, NULL));
}

typedef struct mounts {
    int n;
    char ids[4][SP_USER_ID_LEN];
} mounts;

static int collect(const char *mount_id, void *arg)
{
    mounts *m = arg;
    ck_assert_int_lt(m->n, 4);
    snprintf(m->ids[m->n++], SP_USER_ID_LEN, "%s", mount_id);
    return 0;
}

static int mounts_of(const sp_user *u)
{
    mounts m = {0};
    ck_assert_int_eq(sp_store_mounts_received(st, u, project, collect, &m), 0);
    return m.n;
}

START_TEST(bounds_survive_pruning)
{
    int64_t oldest, last;
    ck_assert_int_eq(sp_store_delta_bounds(st, &oldest, &last), 0);
    int64_t newest = raw_int("SELECT max(seq) FROM events", NULL, NULL, NULL);
    ck_assert_int_eq(last, newest);
    ck_assert_int_eq(oldest, raw_int("SELECT min(seq) FROM events", NULL, NULL, NULL));
    /* Everything published and old enough goes. */
    ck_assert_int_eq(sp_store_events_mark_published(st, newest), 0);
    int deleted = 0;
    ck_assert_int_eq(sp_store_events_prune(st, sp_time_now_ms() + 60000, &deleted), 0);
    ck_assert_int_eq(deleted, (int)newest);
    ck_assert_int_eq(sp_store_delta_bounds(st, &oldest, &last), 0);
    /* The last seq given is still known, and every event up to it is gone:
     * a token below it is past retention, one at it saw everything. */
    ck_assert_int_eq(last, newest);
    ck_assert_int_eq(oldest, newest + 1);
    char id[SP_USER_ID_LEN];
    ck_assert_int_eq(sp_store_drive_create(st, &alice, "Next", NULL, -1, id), 0);
    ck_assert_int_eq(sp_store_delta_bounds(st, &oldest, &last), 0);
    ck_assert_int_eq(last, newest + 1);
    ck_assert_int_eq(oldest, newest + 1);
}
END_TEST

START_TEST(mounts_in_any_state_only_the_grantees)
{
    char m1[SP_USER_ID_LEN], m2[SP_USER_ID_LEN];
    give("a", &bob, m1);
    give("b", &bob, m2);
    ck_assert_int_eq(mounts_of(&bob), 2);
    ck_assert_int_eq(mounts_of(&alice), 0); /* the sharer received nothing */
    ck_assert_int_eq(mounts_of(&carol), 0);
    /* Disabled, the drive's mountpoints leave bob's listing; the delta
     * still finds them to say so. */
    ck_assert_int_eq(sp_store_drive_change(st, &alice, project, SP_DRIVE_DISABLE, NULL), 0);
    ck_assert_int_eq(mounts_of(&bob), 2);
    raw_exec("UPDATE shares SET expires_at = 1", NULL, NULL, NULL);
    ck_assert_int_eq(mounts_of(&bob), 2);
}
END_TEST

START_TEST(share_events_name_the_mountpoint)
{
    char m1[SP_USER_ID_LEN], got[SP_USER_ID_LEN];
    give("a", &bob, m1);
    ck_assert(raw_text(got, sizeof got,
                       "SELECT json_extract(data, '$.mountId') FROM events WHERE type = ?1",
                       SP_EVENT_SHARE_CREATED, NULL, NULL));
    ck_assert_str_eq(got, m1);
}
END_TEST

START_TEST(lifecycle_reaches_grantees_and_purge_removes_shares)
{
    char m1[SP_USER_ID_LEN], m2[SP_USER_ID_LEN];
    give("a", &bob, m1);
    give("b", &carol, m2);
    ck_assert_int_eq(sp_store_drive_change(st, &alice, project, SP_DRIVE_DISABLE, NULL), 0);
    const char *told =
        "SELECT count(*) FROM events e JOIN event_recipients r ON r.event_seq = e.seq"
        " JOIN users u ON u.seq = r.user_seq WHERE e.type = ?1 AND u.id = ?2";
    ck_assert_int_eq(raw_int(told, SP_EVENT_SPACE_DISABLED, bob.id, NULL), 1);
    ck_assert_int_eq(raw_int(told, SP_EVENT_SPACE_DISABLED, carol.id, NULL), 1);
    /* A rename is the members' business only. */
    ck_assert_int_eq(sp_store_drive_change(st, &alice, project, SP_DRIVE_RESTORE, NULL), 0);
    sp_drive_patch p = {.name = "Renamed"};
    ck_assert_int_eq(sp_store_drive_change(st, &alice, project, SP_DRIVE_UPDATE, &p), 0);
    ck_assert_int_eq(raw_int(told, SP_EVENT_SPACE_UPDATED, bob.id, NULL), 0);
    ck_assert_int_eq(sp_store_drive_change(st, &alice, project, SP_DRIVE_DISABLE, NULL), 0);
    ck_assert_int_eq(sp_store_drive_change(st, &alice, project, SP_DRIVE_PURGE, NULL), 0);
    ck_assert_int_eq(raw_int(told, SP_EVENT_SPACE_DELETED, bob.id, NULL), 1);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM shares", NULL, NULL, NULL), 0);
    /* Each grantee is told their share went, naming their mountpoint. */
    const char *removed =
        "SELECT count(*) FROM events e JOIN event_recipients r ON r.event_seq = e.seq"
        " JOIN users u ON u.seq = r.user_seq WHERE e.type = '" SP_EVENT_SHARE_DELETED "'"
        " AND u.id = ?1 AND json_extract(e.data, '$.mountId') = ?2"
        " AND json_extract(e.data, '$.executant') = ?3";
    ck_assert_int_eq(raw_int(removed, bob.id, m1, alice.id), 1);
    ck_assert_int_eq(raw_int(removed, carol.id, m2, alice.id), 1);
    ck_assert_int_eq(mounts_of(&bob), 0);
}
END_TEST

START_TEST(purge_skips_expired_shares)
{
    char m1[SP_USER_ID_LEN];
    give("a", &bob, m1);
    raw_exec("UPDATE shares SET expires_at = 1", NULL, NULL, NULL);
    int n = 0;
    ck_assert_int_eq(sp_store_shares_expire(st, sp_time_now_ms(), &n), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(sp_store_drive_change(st, &alice, project, SP_DRIVE_DISABLE, NULL), 0);
    ck_assert_int_eq(sp_store_drive_change(st, &alice, project, SP_DRIVE_PURGE, NULL), 0);
    /* Its expiry said goodbye already. */
    ck_assert_int_eq(
        raw_int("SELECT count(*) FROM events WHERE type = ?1", SP_EVENT_SHARE_DELETED, NULL, NULL),
        0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_delta");
    TCase *tc = tcase_create("delta");
    tcase_add_unchecked_fixture(tc, root_setup, fixture_root_teardown);
    tcase_add_checked_fixture(tc, setup, fixture_close);
    tcase_add_test(tc, bounds_survive_pruning);
    tcase_add_test(tc, mounts_in_any_state_only_the_grantees);
    tcase_add_test(tc, share_events_name_the_mountpoint);
    tcase_add_test(tc, lifecycle_reaches_grantees_and_purge_removes_shares);
    tcase_add_test(tc, purge_skips_expired_shares);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_main(suite());
}
