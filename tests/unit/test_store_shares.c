/*
 * test_store_shares.c - who a share is for (src/store/shares.c): an
 * address goes to its one verified owner or waits for them, is refused
 * while several users verified it, is claimed for good; a claim that meets
 * a grant of the same item merges with it instead of failing the user's
 * every request; an expired share counts nowhere, not even in uniqueness,
 * and its expiry is written once; a share stored with an item outside its
 * drive is never served to its grantee.
 */
#include "store/roles.h"
#include "store/shares.h"
#include "store_fixture.h"

#include "store/drives.h"
#include "store/migrations.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sp_user alice;
static char project[SP_USER_ID_LEN];

static void root_setup(void)
{
    fixture_root_setup_named("sp-store-shares");
}

static void setup(void)
{
    fixture_open();
    fixture_user(&alice, "alice", NULL);
    ck_assert_int_eq(sp_store_drive_create(st, &alice, "Project", NULL, -1, project), 0);
}

/* Shares item of the project with a user id or an address; returns the
 * store's answer and fills *made. */
static int give(const char *item, const char *user_id, const char *email, const char *role,
                int64_t expires_at_ms, sp_share_made *made)
{
    char item_id[128];
    snprintf(item_id, sizeof item_id, "%s!%s", project, item);
    sp_share_grantee g = {.user_id = user_id, .email = email};
    return sp_store_share_create(st, &alice, project, item_id, item, &g, role, expires_at_ms,
                                 made);
}

/* The role of the grant the user with id holds on item, "" for none. */
static const char *held_role(const char *user_id, const char *item)
{
    static char role[64];
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT coalesce((SELECT CASE s.role WHEN '" SP_ROLE_VIEWER "' THEN 1 WHEN '"
             SP_ROLE_EDITOR "' THEN 2 END FROM shares s JOIN users u ON u.seq = s.grantee_seq"
             " WHERE u.id = ?1 AND s.item_id LIKE '%%!%s'), 0)",
             item);
    int64_t r = raw_int(sql, user_id, NULL, NULL);
    snprintf(role, sizeof role, "%s", r == 1 ? "viewer" : r == 2 ? "editor" : "");
    return role;
}

static int64_t events_of(const char *type)
{
    return raw_int("SELECT count(*) FROM events WHERE type = ?1", type, NULL, NULL);
}

/* Time passes: every share's expiry is now behind it. */
static void expire_all(void)
{
    raw_exec("UPDATE shares SET expires_at = 1 WHERE expires_at IS NOT NULL", NULL, NULL, NULL);
}

START_TEST(address_goes_to_its_one_owner)
{
    sp_user bob;
    fixture_user(&bob, "bob", "bob@example.org");
    sp_share_made made;
    ck_assert_int_eq(give("a", NULL, "BOB@Example.ORG", SP_ROLE_VIEWER, 0, &made), 0);
    ck_assert_str_eq(made.grantee_id, bob.id);
    ck_assert_str_eq(held_role(bob.id, "a"), "viewer");
}
END_TEST

START_TEST(address_two_users_verified_is_refused)
{
    sp_user one, two;
    fixture_user(&one, "one", "same@example.org");
    fixture_user(&two, "two", "Same@Example.org");
    int64_t before = events_of("spaceport.share.created");
    sp_share_made made;
    ck_assert_int_eq(give("a", NULL, "same@example.org", SP_ROLE_VIEWER, 0, &made),
                     SP_ERR_CONFLICT);
    ck_assert_int_eq(made.ambiguous, 1);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM shares", NULL, NULL, NULL), 0);
    ck_assert_int_eq(events_of("spaceport.share.created"), before);
    /* An item shared twice with one user is a conflict of another kind. */
    ck_assert_int_eq(give("b", one.id, NULL, SP_ROLE_VIEWER, 0, &made), 0);
    ck_assert_int_eq(give("b", one.id, NULL, SP_ROLE_VIEWER, 0, &made), SP_ERR_CONFLICT);
    ck_assert_int_eq(made.ambiguous, 0);
    sp_user found;
    ck_assert_int_eq(sp_store_user_by_email(st, "SAME@example.org", &found), SP_ERR_CONFLICT);
}
END_TEST

START_TEST(claimed_share_never_moves)
{
    sp_share_made made;
    ck_assert_int_eq(give("a", NULL, "late@example.org", SP_ROLE_VIEWER, 0, &made), 0);
    ck_assert_str_eq(made.grantee_id, "");
    sp_user first, second;
    fixture_user(&first, "first", "Late@Example.org");
    fixture_user(&second, "second", "late@example.org");
    ck_assert_str_eq(held_role(first.id, "a"), "viewer");
    ck_assert_str_eq(held_role(second.id, "a"), "");
    ck_assert_int_eq(raw_int("SELECT count(*) FROM events WHERE type = 'spaceport.share.updated'"
                             " AND json_extract(data, '$.matchedEmail') = 'late@example.org'",
                             NULL, NULL, NULL),
                     1);
}
END_TEST

/* Carol holds the item by id with held; a share with pending waits for her
 * new address; her claims change to it. The grant in force afterwards is
 * the pending one when pending_wins, else the one she held, unchanged. */
static void carol_merge(const char *held, int64_t held_exp, const char *pending,
                        int64_t pending_exp, int pending_wins)
{
    sp_user carol;
    fixture_user(&carol, "carol", "carol@example.org");
    sp_share_made made;
    char ids[2][SP_USER_ID_LEN];
    ck_assert_int_eq(give("x1", carol.id, NULL, held, held_exp, &made), 0);
    snprintf(ids[0], sizeof ids[0], "%s", made.id);
    ck_assert_int_eq(give("x1", NULL, "carol.new@example.org", pending, pending_exp, &made), 0);
    snprintf(ids[1], sizeof ids[1], "%s", made.id);
    sp_user_claims c = {.issuer = FIXTURE_ISSUER,
                        .sub = "carol",
                        .username = "carol",
                        .display_name = "carol",
                        .email = "carol.new@example.org"};
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(sp_store_user_provision(st, &c, &carol, NULL), 0);
    const char *kept = ids[pending_wins], *role = pending_wins ? pending : held;
    char exp[32];
    snprintf(exp, sizeof exp, "%lld", (long long)(pending_wins ? pending_exp : held_exp));
    ck_assert_int_eq(raw_int("SELECT count(*) FROM shares", NULL, NULL, NULL), 1);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM shares s JOIN users u ON u.seq ="
                             " s.grantee_seq WHERE s.id = ?1 AND u.id = ?2 AND s.role = ?3",
                             kept, carol.id, role),
                     1);
    ck_assert_int_eq(raw_int("SELECT coalesce(expires_at, 0) = CAST(?1 AS INTEGER) FROM shares",
                             exp, NULL, NULL),
                     1);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM events WHERE type = 'spaceport.share.deleted'"
                             " AND json_extract(data, '$.shareId') = ?2"
                             " AND json_extract(data, '$.mergedInto') = ?1",
                             kept, ids[!pending_wins], NULL),
                     1);
}

START_TEST(claim_merges_broader_pending)
{
    carol_merge(SP_ROLE_VIEWER, 0, SP_ROLE_EDITOR, 0, 1);
}
END_TEST

START_TEST(claim_merges_narrower_pending)
{
    carol_merge(SP_ROLE_EDITOR, 0, SP_ROLE_VIEWER, 0, 0);
}
END_TEST

START_TEST(claim_merges_longer_pending)
{
    int64_t soon = sp_time_now_ms() + 3600 * 1000, later = soon + 3600 * 1000;
    carol_merge(SP_ROLE_VIEWER, soon, SP_ROLE_VIEWER, later, 1);
}
END_TEST

START_TEST(claim_keeps_unlimited_grant)
{
    int64_t soon = sp_time_now_ms() + 3600 * 1000;
    carol_merge(SP_ROLE_VIEWER, 0, SP_ROLE_VIEWER, soon, 0);
}
END_TEST

/* Editor for an hour does not replace Viewer for good: the merge would
 * otherwise end the access one sharer gave for good. */
START_TEST(claim_keeps_grant_that_lasts)
{
    int64_t soon = sp_time_now_ms() + 3600 * 1000;
    carol_merge(SP_ROLE_VIEWER, 0, SP_ROLE_EDITOR, soon, 0);
}
END_TEST

START_TEST(claim_of_the_same_grant_keeps_held)
{
    carol_merge(SP_ROLE_EDITOR, 0, SP_ROLE_EDITOR, 0, 0);
}
END_TEST

/* An expired share is gone for its sharer too: neither changed (which
 * would tell its grantee of a share they no longer have and write its
 * expiry again) nor revived by a new expiry. */
START_TEST(expired_share_cannot_change)
{
    sp_user dave;
    fixture_user(&dave, "dave", NULL);
    sp_share_made made;
    ck_assert_int_eq(give("a", dave.id, NULL, SP_ROLE_VIEWER, sp_time_now_ms() + 60000, &made),
                     0);
    expire_all();
    int swept = 0;
    ck_assert_int_eq(sp_store_shares_expire(st, sp_time_now_ms(), &swept), 0);
    ck_assert_int_eq(swept, 1);
    int64_t events_before = raw_int("SELECT count(*) FROM events", NULL, NULL, NULL);
    ck_assert_int_eq(sp_store_share_change(st, &alice, made.id, 0, SP_ROLE_EDITOR, 0, 0),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(
        sp_store_share_change(st, &alice, made.id, 0, NULL, 1, sp_time_now_ms() + 60000),
        SP_ERR_NOT_FOUND);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM events", NULL, NULL, NULL), events_before);
    ck_assert_int_eq(sp_store_shares_expire(st, sp_time_now_ms(), &swept), 0);
    ck_assert_int_eq(events_of("spaceport.share.expired"), 1);
    ck_assert_str_eq(held_role(dave.id, "a"), "viewer");
    ck_assert_int_eq(raw_int("SELECT expired FROM shares", NULL, NULL, NULL), 1);
}
END_TEST

START_TEST(expired_share_is_replaced)
{
    sp_user dave;
    fixture_user(&dave, "dave", NULL);
    sp_share_made made;
    ck_assert_int_eq(give("a", dave.id, NULL, SP_ROLE_VIEWER, sp_time_now_ms() + 60000, &made),
                     0);
    ck_assert_int_eq(give("a", dave.id, NULL, SP_ROLE_VIEWER, 0, &made), SP_ERR_CONFLICT);
    expire_all();
    /* Not swept yet: the replacement writes the expiry first, once. */
    ck_assert_int_eq(give("a", dave.id, NULL, SP_ROLE_EDITOR, 0, &made), 0);
    ck_assert_int_eq(events_of("spaceport.share.expired"), 1);
    int swept = -1;
    ck_assert_int_eq(sp_store_shares_expire(st, sp_time_now_ms(), &swept), 0);
    ck_assert_int_eq(swept, 0);
    ck_assert_int_eq(events_of("spaceport.share.expired"), 1);
    ck_assert_str_eq(held_role(dave.id, "a"), "editor");
}
END_TEST

START_TEST(expired_pending_gives_nothing)
{
    sp_share_made made;
    ck_assert_int_eq(
        give("a", NULL, "gone@example.org", SP_ROLE_VIEWER, sp_time_now_ms() + 60000, &made), 0);
    int swept = 0;
    expire_all();
    ck_assert_int_eq(sp_store_shares_expire(st, sp_time_now_ms(), &swept), 0);
    ck_assert_int_eq(swept, 1);
    sp_user gone;
    fixture_user(&gone, "gone", "gone@example.org");
    ck_assert_str_eq(held_role(gone.id, "a"), "");
    ck_assert_int_eq(raw_int("SELECT count(*) FROM shares", NULL, NULL, NULL), 0);
    ck_assert_int_eq(events_of("spaceport.share.expired"), 1);
}
END_TEST

static int count_share(const sp_share *s, void *arg)
{
    (void)s;
    (*(int *)arg)++;
    return 0;
}

static int count_drive(const sp_drive *d, void *arg)
{
    (void)d;
    (*(int *)arg)++;
    return 0;
}

/* Shares an older version stored with items outside their drive (made-up
 * ids, another drive's): kept and listed to their sharer, never served to
 * the grantee, a full page of drives still full; start-up counts them. */
START_TEST(stored_outside_drive_not_served)
{
    sp_user bob;
    fixture_user(&bob, "bob", NULL);
    char other[SP_USER_ID_LEN];
    ck_assert_int_eq(sp_store_drive_create(st, &alice, "Other", NULL, -1, other), 0);
    int legacy = SP_SHARES_NOT_SERVED_LOG_MAX + 5;
    for (int i = 0; i < legacy; i++) {
        char n[16], item[160];
        snprintf(n, sizeof n, "%d", i);
        /* Another drive's id, a dot segment (one each: a grantee holds an
         * item once), made-up ids and another drive's items. */
        if (i == 1)
            snprintf(item, sizeof item, "%s", other);
        else if (i == 3)
            snprintf(item, sizeof item, "%s!..", project);
        else if (i % 2 == 0)
            snprintf(item, sizeof item, "item-%s", n);
        else
            snprintf(item, sizeof item, "%s!%s", other, n);
        char sql[1024];
        snprintf(sql, sizeof sql,
                 "INSERT INTO shares (id, mount_id, drive_seq, item_id, grantee_seq, role,"
                 " creator_seq, created_at, updated_at) SELECT 'legacy-' || ?1, 'mount-' || ?1,"
                 " d.seq, ?2, g.seq, '%s', c.seq, 1, 1 FROM drives d, users g, users c"
                 " WHERE d.id = ?3 AND g.id = '%s' AND c.id = '%s'",
                 SP_ROLE_VIEWER, bob.id, alice.id);
        raw_exec(sql, n, item, project);
    }
    ck_assert_int_eq(raw_int("SELECT count(*) FROM shares", NULL, NULL, NULL), legacy);
    sp_share_made made;
    ck_assert_int_eq(give("ok", bob.id, NULL, SP_ROLE_VIEWER, 0, &made), 0);

    int received = 0, created = 0, not_served = -1;
    ck_assert_int_eq(sp_store_shares_received(st, &bob, count_share, &received), 0);
    ck_assert_int_eq(received, 1);
    ck_assert_int_eq(sp_store_shares_created(st, &alice, count_share, &created), 0);
    ck_assert_int_eq(created, legacy + 1);
    ck_assert_int_eq(sp_store_shares_log_not_served(st, &not_served), 0);
    ck_assert_int_eq(not_served, legacy);

    /* A page of one mountpoint: the served one, and no next page. */
    sp_drive_query q = {.type = "mountpoint", .order = SP_DRIVE_ORDER_NAME_ASC, .top = 1};
    int drives = 0, more = -1;
    ck_assert_int_eq(sp_store_drives_list(st, &bob, 0, &q, count_drive, &drives, &more, NULL), 0);
    ck_assert_int_eq(drives, 1);
    ck_assert_int_eq(more, 0);
    ck_assert_int_eq(sp_store_mountpoint_get(st, &bob, "mount-1", count_drive, &drives),
                     SP_ERR_NOT_FOUND);
    char mount[SP_USER_ID_LEN];
    ck_assert(raw_text(mount, sizeof mount, "SELECT mount_id FROM shares WHERE id = ?1", made.id,
                       NULL, NULL));
    ck_assert_int_eq(sp_store_mountpoint_get(st, &bob, mount, count_drive, &drives), 0);
}
END_TEST

/* The upgrade to verified addresses: an address stored under the old rule
 * (unverified, any case) is forgotten; the user's next request stores the
 * verified one and claims what waits for it. */
START_TEST(upgrade_forgets_old_addresses)
{
    const sp_migration *m = NULL;
    for (int i = 0; i < sp_migration_count; i++)
        if (strcmp(sp_migrations[i].name, "005_verified_addresses.sql") == 0)
            m = &sp_migrations[i];
    ck_assert_ptr_nonnull(m);
    sp_user mallory, bob;
    fixture_user(&mallory, "mallory", NULL);
    fixture_user(&bob, "bob", NULL);
    /* As the old version stored them: unverified, and in the token's case. */
    raw_exec("UPDATE users SET email = ?1 WHERE id = ?2", "victim@example.org", mallory.id, NULL);
    raw_exec("UPDATE users SET email = ?1 WHERE id = ?2", "Bob@Example.org", bob.id, NULL);
    ck_assert_int_eq(sqlite3_exec(raw, m->sql, NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM users WHERE email IS NOT NULL", NULL, NULL,
                             NULL),
                     0);
    sp_share_made made;
    ck_assert_int_eq(give("a", NULL, "victim@example.org", SP_ROLE_VIEWER, 0, &made), 0);
    ck_assert_str_eq(made.grantee_id, ""); /* waits: Mallory is no longer its owner */
    ck_assert_int_eq(give("b", NULL, "bob@example.org", SP_ROLE_VIEWER, 0, &made), 0);
    sp_user_claims c = {.issuer = FIXTURE_ISSUER,
                        .sub = "bob",
                        .username = "bob",
                        .display_name = "bob",
                        .email = "bob@example.org"};
    ck_assert_int_eq(sp_store_user_provision(st, &c, &bob, NULL), 0);
    ck_assert_str_eq(held_role(bob.id, "b"), "viewer");
    ck_assert_str_eq(held_role(mallory.id, "a"), "");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_shares");
    TCase *tc = tcase_create("who");
    tcase_add_unchecked_fixture(tc, root_setup, fixture_root_teardown);
    tcase_add_checked_fixture(tc, setup, fixture_close);
    tcase_add_test(tc, address_goes_to_its_one_owner);
    tcase_add_test(tc, address_two_users_verified_is_refused);
    tcase_add_test(tc, claimed_share_never_moves);
    tcase_add_test(tc, claim_merges_broader_pending);
    tcase_add_test(tc, claim_merges_narrower_pending);
    tcase_add_test(tc, claim_merges_longer_pending);
    tcase_add_test(tc, claim_keeps_unlimited_grant);
    tcase_add_test(tc, claim_keeps_grant_that_lasts);
    tcase_add_test(tc, claim_of_the_same_grant_keeps_held);
    tcase_add_test(tc, expired_share_cannot_change);
    tcase_add_test(tc, upgrade_forgets_old_addresses);
    tcase_add_test(tc, expired_share_is_replaced);
    tcase_add_test(tc, expired_pending_gives_nothing);
    tcase_add_test(tc, stored_outside_drive_not_served);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_main(suite());
}
