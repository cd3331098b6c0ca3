/*
 * test_store_ocm_inbound.c - unit tests of the store side of Open Cloud
 * Mesh shares received (store/remotes.h) and of receivers' answers to
 * shares sent (store/ocm_answers.h).
 *
 * - A share is (instance, providerId): a second share of the same folder
 *   is a second remote space, and neither one's notifications reach the
 *   other (the binding takeover this replaces let the second share take
 *   the first one's row). A space its owner registered by URL is still
 *   taken by a share of that URL.
 * - A notification reaches a share by its instance (signed) or by its
 *   secret; another instance, secret or id finds nothing and writes
 *   nothing. Permission changes are stored once.
 * - An answer reaches a sent share by its secret or by the instance that
 *   took it; a decline ends the share and drops its deliveries; a repeated
 *   answer writes nothing.
 */
#include "store_fixture.h"

#include "store/ocm.h"
#include "store/ocm_answers.h"
#include "store/remotes.h"
#include "util/err.h"
#include "util/time.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZURICH "https://zurich.test"
#define BERLIN "https://berlin.test"
#define FOLDER ZURICH "/remote.php/dav/ocm/folder-1"
#define SECRET "a-shared-secret-of-some-length-0123"

static sp_user marie;

static void root_setup(void)
{
    fixture_root_setup_named("sp-store-ocm-inbound");
}

static void setup(void)
{
    fixture_open();
    fixture_user(&marie, "marie", NULL);
}

/* Marie's share id from instance, of FOLDER, with secret. */
static int announce(const char *instance, const char *share_id, const char *secret, char *id)
{
    sp_remote_new r = {.instance = instance,
                       .web_dav_url = FOLDER,
                       .remote_drive_id = share_id,
                       .name = "Photons",
                       .executant = "einstein@zurich.test",
                       .ocm_share_id = share_id,
                       .ocm_secret = secret,
                       .permissions = "read,write",
                       .resource_type = "folder"};
    return sp_store_remote_create(st, &marie, &r, id, NULL);
}

static int64_t count(const char *sql)
{
    return raw_int(sql, NULL, NULL, NULL);
}

START_TEST(second_share_of_a_folder_is_its_own)
{
    char first[SP_USER_ID_LEN], second[SP_USER_ID_LEN], again[SP_USER_ID_LEN];
    ck_assert_int_eq(announce(ZURICH, "p-1", SECRET, first), 0);
    ck_assert_int_eq(announce(ZURICH, "p-2", SECRET "-2", second), 0);
    ck_assert_str_ne(first, second);
    ck_assert_int_eq(count("SELECT count(*) FROM remotes"), 2);
    /* The first again (a redelivery): the same space, no event. */
    int existed = 0;
    sp_remote_new r = {.instance = ZURICH,
                       .web_dav_url = FOLDER,
                       .remote_drive_id = "p-1",
                       .name = "Photons",
                       .ocm_share_id = "p-1",
                       .ocm_secret = SECRET};
    ck_assert_int_eq(sp_store_remote_create(st, &marie, &r, again, &existed), 0);
    ck_assert_int_eq(existed, 1);
    ck_assert_str_eq(again, first);
    ck_assert_int_eq(
        count("SELECT count(*) FROM events WHERE type = 'spaceport.remote.registered'"), 2);
    /* Its id with another secret is refused. */
    ck_assert_int_eq(announce(ZURICH, "p-1", "another-secret-0123456789", again), SP_ERR_CONFLICT);
    /* Each one's unshare removes its own space only. */
    sp_remote_ocm_ref ref = {.share_id = "p-1", .secret = SECRET};
    ck_assert_int_eq(
        sp_store_remote_ocm_notify(st, &ref, SP_REMOTE_OCM_UNSHARED, NULL, 0, NULL, NULL), 0);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM remotes WHERE id = ?1", second, NULL, NULL), 1);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM remotes WHERE id = ?1", first, NULL, NULL), 0);
}
END_TEST

START_TEST(registration_by_url_is_taken_by_a_share)
{
    char by_url[SP_USER_ID_LEN], shared[SP_USER_ID_LEN], other[SP_USER_ID_LEN];
    sp_remote_new r = {.instance = ZURICH,
                       .web_dav_url = FOLDER,
                       .remote_drive_id = "d",
                       .name = "By URL",
                       .executant = marie.id};
    ck_assert_int_eq(sp_store_remote_create(st, &marie, &r, by_url, NULL), 0);
    ck_assert_int_eq(sp_store_remote_create(st, &marie, &r, other, NULL), SP_ERR_CONFLICT);
    ck_assert_int_eq(announce(ZURICH, "p-1", SECRET, shared), 0);
    ck_assert_str_eq(shared, by_url);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM remotes WHERE id = ?1 AND permissions ="
                             " 'read,write' AND ocm_share_id = 'p-1'",
                             by_url, NULL, NULL),
                     1);
    /* Another share of it is a space of its own. */
    ck_assert_int_eq(announce(ZURICH, "p-2", SECRET, other), 0);
    ck_assert_str_ne(other, by_url);
}
END_TEST

START_TEST(notifications_find_only_their_share)
{
    char z[SP_USER_ID_LEN], b[SP_USER_ID_LEN];
    ck_assert_int_eq(announce(ZURICH, "p-1", SECRET, z), 0);
    ck_assert_int_eq(announce(BERLIN, "p-1", SECRET "-berlin", b), 0);
    char instance[SP_REMOTE_INSTANCE_MAX];
    sp_remote_ocm_ref by_secret = {.share_id = "p-1", .secret = SECRET "-berlin"};
    ck_assert_int_eq(sp_store_remote_ocm_instance(st, &by_secret, instance), 0);
    ck_assert_str_eq(instance, BERLIN);
    sp_remote_ocm_ref wrong[] = {
        {.share_id = "p-1", .secret = "guess"},
        {.share_id = "p-2", .secret = SECRET},
        {.instance = "https://evil.test", .share_id = "p-1"},
        {.instance = ZURICH, .share_id = "p-2"},
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        int applied = 1;
        ck_assert_int_eq(sp_store_remote_ocm_instance(st, &wrong[i], instance), SP_ERR_NOT_FOUND);
        ck_assert_int_eq(sp_store_remote_ocm_notify(st, &wrong[i], SP_REMOTE_OCM_UNSHARED, NULL, 0,
                                                    NULL, &applied),
                         SP_ERR_NOT_FOUND);
        ck_assert_int_eq(applied, 0);
    }
    ck_assert_int_eq(count("SELECT count(*) FROM remotes"), 2);
    /* Signed by Berlin: Berlin's share only, whatever the secret. */
    sp_remote_ocm_ref signed_ref = {.instance = BERLIN, .share_id = "p-1", .secret = SECRET};
    int applied = 0;
    ck_assert_int_eq(sp_store_remote_ocm_notify(st, &signed_ref, SP_REMOTE_OCM_PERMISSIONS, NULL, 0,
                                                "read", &applied),
                     0);
    ck_assert_int_eq(applied, 1);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM remotes WHERE id = ?1 AND permissions = 'read'",
                             b, NULL, NULL),
                     1);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM remotes WHERE id = ?1 AND permissions ="
                             " 'read,write'",
                             z, NULL, NULL),
                     1);
    /* The same permissions again: nothing written. */
    ck_assert_int_eq(sp_store_remote_ocm_notify(st, &signed_ref, SP_REMOTE_OCM_PERMISSIONS, NULL, 0,
                                                "read", &applied),
                     0);
    ck_assert_int_eq(applied, 0);
    ck_assert_int_eq(count("SELECT count(*) FROM events WHERE type = 'spaceport.remote.changed' AND"
                           " json_extract(data, '$.change') = 'permissions'"),
                     1);
}
END_TEST

/* A share sent to instance, delivered, with one delivery still queued. */
static void sent(const char *share_id, const char *instance)
{
    raw_exec("INSERT INTO ocm_sent (share_id, drive_id, item_id, grantee, name, sharer,"
             " sharer_name, role, instance, secret, state, created_at, updated_at) VALUES (?1,"
             " 'd', 'i', 'bob@peer.test', 'n', 'alice', 'Alice', 'viewer', ?2, ?3, 'shared', 1,"
             " 1)",
             share_id, instance, SECRET);
    raw_exec("INSERT INTO ocm_outbox (sent_seq, kind, next_at, created_at) SELECT seq,"
             " 'changed', 1, 1 FROM ocm_sent WHERE share_id = ?1",
             share_id, NULL, NULL);
}

START_TEST(answers_reach_the_sent_share)
{
    sent("s-1", ZURICH);
    sent("s-2", BERLIN);
    char instance[SP_OCM_ANSWER_INSTANCE_MAX];
    sp_ocm_sent_ref by_secret = {.share_id = "s-1", .secret = SECRET};
    ck_assert_int_eq(sp_store_ocm_sent_instance(st, &by_secret, instance), 0);
    ck_assert_str_eq(instance, ZURICH);
    sp_ocm_sent_ref wrong[] = {
        {.share_id = "s-1", .secret = "guess"},
        {.share_id = "s-1", .instance = BERLIN},
        {.share_id = "s-3", .secret = SECRET},
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++)
        ck_assert_int_eq(sp_store_ocm_answer(st, &wrong[i], SP_OCM_ANSWER_DECLINED, NULL),
                         SP_ERR_NOT_FOUND);
    ck_assert_int_eq(count("SELECT count(*) FROM ocm_sent WHERE answer IS NOT NULL"), 0);

    int applied = 0;
    sp_ocm_sent_ref zurich = {.share_id = "s-1", .instance = ZURICH};
    ck_assert_int_eq(sp_store_ocm_answer(st, &zurich, SP_OCM_ANSWER_ACCEPTED, &applied), 0);
    ck_assert_int_eq(applied, 1);
    ck_assert_int_eq(sp_store_ocm_answer(st, &zurich, SP_OCM_ANSWER_ACCEPTED, &applied), 0);
    ck_assert_int_eq(applied, 0);
    ck_assert_int_eq(count("SELECT count(*) FROM ocm_sent WHERE share_id = 's-1' AND answer ="
                           " 'accepted' AND state = 'shared' AND answered_at IS NOT NULL"),
                     1);

    sp_ocm_sent_ref berlin = {.share_id = "s-2", .secret = SECRET};
    ck_assert_int_eq(sp_store_ocm_answer(st, &berlin, SP_OCM_ANSWER_DECLINED, &applied), 0);
    ck_assert_int_eq(applied, 1);
    ck_assert_int_eq(count("SELECT count(*) FROM ocm_sent WHERE share_id = 's-2' AND answer ="
                           " 'declined' AND state = 'refused'"),
                     1);
    ck_assert_int_eq(count("SELECT count(*) FROM ocm_outbox o JOIN ocm_sent s ON s.seq ="
                           " o.sent_seq WHERE s.share_id = 's-2'"),
                     0);
    ck_assert_int_eq(count("SELECT count(*) FROM ocm_outbox"), 1); /* s-1's stays */
    ck_assert_int_eq(sp_store_ocm_answer(st, &berlin, SP_OCM_ANSWER_DECLINED, &applied), 0);
    ck_assert_int_eq(applied, 0);
    ck_assert_int_eq(sp_store_ocm_answer(st, &berlin, SP_OCM_ANSWER_ACCEPTED, NULL),
                     SP_ERR_NOT_FOUND);
}
END_TEST

/* A share being delivered to the instance it will name (NULL: found by
 * WebFinger, not recorded yet), its share delivery and one change queued.
 * Returns the share delivery as the federation thread holds it. */
static sp_ocm_delivery delivering(const char *share_id, const char *instance)
{
    raw_exec("INSERT INTO ocm_sent (share_id, drive_id, item_id, grantee, name, sharer,"
             " sharer_name, role, instance, secret, state, created_at, updated_at) VALUES (?1,"
             " 'd', 'i', 'bob@peer.test', 'n', 'alice', 'Alice', 'viewer', ?2, ?3, 'pending', 1,"
             " 1)",
             share_id, instance, SECRET);
    raw_exec("INSERT INTO ocm_outbox (sent_seq, kind, next_at, created_at) SELECT seq,"
             " 'share', 1, 1 FROM ocm_sent WHERE share_id = ?1",
             share_id, NULL, NULL);
    raw_exec("INSERT INTO ocm_outbox (sent_seq, kind, next_at, created_at) SELECT seq,"
             " 'changed', 1, 1 FROM ocm_sent WHERE share_id = ?1",
             share_id, NULL, NULL);
    sp_ocm_delivery d;
    memset(&d, 0, sizeof d);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT o.seq FROM ocm_outbox o JOIN ocm_sent s ON s.seq = o.sent_seq WHERE"
             " s.share_id = '%s' AND o.kind = 'share'",
             share_id);
    d.seq = count(sql);
    snprintf(sql, sizeof sql, "SELECT seq FROM ocm_sent WHERE share_id = '%s'", share_id);
    d.sent_seq = count(sql);
    snprintf(d.kind, sizeof d.kind, "share");
    return d;
}

/* The receiver may answer right after its 201 to our share, before we
 * record that it took it: the answer is kept (matched by the secret, or
 * signed by a trusted instance) and takes effect once the delivery is
 * recorded, only if the share went to the signer; it never says where the
 * share goes. A decline that came meanwhile is not undone by the record. */
START_TEST(answer_before_the_delivery_is_recorded)
{
    /* By the secret: accepted, then recorded as delivered to Zurich. */
    sp_ocm_delivery d1 = delivering("s-1", NULL);
    char instance[SP_OCM_ANSWER_INSTANCE_MAX] = "x";
    sp_ocm_sent_ref by_secret = {.share_id = "s-1", .secret = SECRET};
    ck_assert_int_eq(sp_store_ocm_sent_instance(st, &by_secret, instance), 0);
    ck_assert_str_eq(instance, "");
    int applied = 0;
    ck_assert_int_eq(sp_store_ocm_answer(st, &by_secret, SP_OCM_ANSWER_ACCEPTED, &applied), 0);
    ck_assert_int_eq(applied, 1);
    ck_assert_int_eq(count("SELECT count(*) FROM ocm_sent WHERE share_id = 's-1' AND answer ="
                           " 'accepted' AND instance IS NULL AND state = 'pending'"),
                     1);
    ck_assert_int_eq(sp_store_ocm_finish(st, &d1, SP_OCM_DELIVERED, ZURICH), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM ocm_sent WHERE share_id = 's-1' AND answer ="
                           " 'accepted' AND instance = '" ZURICH "' AND state = 'shared'"),
                     1);

    /* Signed by Berlin, which the share did not go to: Berlin's decline
     * neither ends the share nor names where it goes, and is dropped
     * when the share is recorded as Zurich's. */
    sp_ocm_delivery d2 = delivering("s-2", NULL);
    sp_ocm_sent_ref berlin = {.share_id = "s-2", .instance = BERLIN};
    ck_assert_int_eq(sp_store_ocm_answer(st, &berlin, SP_OCM_ANSWER_DECLINED, &applied), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM ocm_sent WHERE share_id = 's-2' AND state ="
                           " 'pending' AND instance IS NULL"),
                     1);
    ck_assert_int_eq(count("SELECT count(*) FROM ocm_outbox o JOIN ocm_sent s ON s.seq ="
                           " o.sent_seq WHERE s.share_id = 's-2'"),
                     2);
    ck_assert_int_eq(sp_store_ocm_finish(st, &d2, SP_OCM_DELIVERED, ZURICH), 0);
    ck_assert_int_eq(
        count("SELECT count(*) FROM ocm_sent WHERE share_id = 's-2' AND answer IS"
              " NULL AND answered_by IS NULL AND state = 'shared' AND instance = '" ZURICH "'"),
        1);
    ck_assert_int_eq(count("SELECT count(*) FROM ocm_outbox o JOIN ocm_sent s ON s.seq ="
                           " o.sent_seq WHERE s.share_id = 's-2'"),
                     1);

    /* Signed by Zurich, which took it: the decline ends the share when
     * the delivery is recorded, and its change is not sent. */
    sp_ocm_delivery d3 = delivering("s-3", NULL);
    sp_ocm_sent_ref zurich = {.share_id = "s-3", .instance = ZURICH};
    ck_assert_int_eq(sp_store_ocm_answer(st, &zurich, SP_OCM_ANSWER_DECLINED, &applied), 0);
    ck_assert_int_eq(applied, 1);
    ck_assert_int_eq(sp_store_ocm_answer(st, &zurich, SP_OCM_ANSWER_DECLINED, &applied), 0);
    ck_assert_int_eq(applied, 0);
    ck_assert_int_eq(sp_store_ocm_finish(st, &d3, SP_OCM_DELIVERED, ZURICH), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM ocm_sent WHERE share_id = 's-3' AND answer ="
                           " 'declined' AND state = 'refused' AND instance = '" ZURICH "'"),
                     1);
    ck_assert_int_eq(count("SELECT count(*) FROM ocm_outbox o JOIN ocm_sent s ON s.seq ="
                           " o.sent_seq WHERE s.share_id = 's-3'"),
                     0);

    /* A contact's share (its instance known from the start) declined
     * while delivered: recording the delivery does not revive it. */
    sp_ocm_delivery d4 = delivering("s-4", ZURICH);
    sp_ocm_sent_ref contact = {.share_id = "s-4", .instance = ZURICH};
    ck_assert_int_eq(sp_store_ocm_answer(st, &contact, SP_OCM_ANSWER_DECLINED, &applied), 0);
    ck_assert_int_eq(sp_store_ocm_finish(st, &d4, SP_OCM_DELIVERED, ZURICH), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM ocm_sent WHERE share_id = 's-4' AND state ="
                           " 'refused'"),
                     1);

    /* A share no longer offered (kept local) takes no answer. */
    delivering("s-5", NULL);
    raw_exec("UPDATE ocm_sent SET state = 'local' WHERE share_id = ?1", "s-5", NULL, NULL);
    sp_ocm_sent_ref late = {.share_id = "s-5", .secret = SECRET};
    ck_assert_int_eq(sp_store_ocm_sent_instance(st, &late, instance), SP_ERR_NOT_FOUND);
    late = (sp_ocm_sent_ref){.share_id = "s-5", .instance = ZURICH};
    ck_assert_int_eq(sp_store_ocm_answer(st, &late, SP_OCM_ANSWER_ACCEPTED, NULL),
                     SP_ERR_NOT_FOUND);
}
END_TEST

static Suite *ocm_inbound_suite(void)
{
    Suite *s = suite_create("store_ocm_inbound");
    TCase *tc = tcase_create("ocm_inbound");
    tcase_add_unchecked_fixture(tc, root_setup, fixture_root_teardown);
    tcase_add_checked_fixture(tc, setup, fixture_close);
    tcase_add_test(tc, second_share_of_a_folder_is_its_own);
    tcase_add_test(tc, registration_by_url_is_taken_by_a_share);
    tcase_add_test(tc, notifications_find_only_their_share);
    tcase_add_test(tc, answers_reach_the_sent_share);
    tcase_add_test(tc, answer_before_the_delivery_is_recorded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_main(ocm_inbound_suite());
}
