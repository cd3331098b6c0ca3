/*
 * test_store_contacts.c - Open Cloud Mesh invites and contacts
 * (src/store/contacts.c): the token is stored only as its SHA-256, an
 * invite is accepted once and not after it expired, each write writes its
 * event in the same transaction for its owner only, a contact is one per
 * owner and address, owners see and remove only their own contacts, and a
 * share names only the sharer's own contact.
 */
#include "store/contacts.h"
#include "store/drives.h"
#include "store/shares.h"
#include "store_fixture.h"

#include "util/err.h"
#include "util/time.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

static sp_user alice, bob;
static const int64_t HOUR = 3600 * 1000LL;
static const sp_contact_new MARIE = {.user_id = "marie",
                                     .provider = "paris.test",
                                     .instance = "https://paris.test",
                                     .name = "Marie Curie",
                                     .email = "marie@paris.test"};

static void root_setup(void)
{
    fixture_root_setup_named("sp-store-contacts");
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

/* Events of type for user u (by user name). */
static int64_t events_for(const char *type, const char *user)
{
    return raw_int("SELECT count(*) FROM events e JOIN event_recipients r ON r.event_seq = e.seq"
                   " JOIN users u ON u.seq = r.user_seq WHERE e.type = ?1 AND u.username = ?2",
                   type, user, NULL);
}

static int collect_contact(const sp_contact *c, void *ctx)
{
    strcat(ctx, c->address);
    strcat(ctx, ";");
    return 0;
}

START_TEST(token_kept_only_hashed)
{
    char id[SP_USER_ID_LEN];
    ck_assert_int_eq(sp_store_invite_create(st, &alice, "the-secret-token", "for Marie",
                                            "marie@paris.test", sp_time_now_ms() + HOUR, id),
                     0);
    ck_assert_int_eq(count("SELECT count(*) FROM ocm_invites WHERE instr(token_hash || id ||"
                           " description || coalesce(recipient, ''), ?1) > 0",
                           "the-secret-token"),
                     0);
    ck_assert_int_eq(count("SELECT length(token_hash) FROM ocm_invites WHERE id = ?1", id), 64);
    ck_assert_int_eq(
        count("SELECT count(*) FROM events WHERE instr(data, ?1) > 0", "the-secret-token"), 0);
    ck_assert_int_eq(events_for("spaceport.invite.created", "alice"), 1);
    ck_assert_int_eq(events_for("spaceport.invite.created", "bob"), 0);
    /* The stored hash is the token's: it is accepted by it. */
    char inviter[SP_USER_ID_LEN];
    ck_assert_int_eq(
        sp_store_invite_accept(st, "the-secret-token", sp_time_now_ms(), &MARIE, inviter), 0);
}
END_TEST

START_TEST(accepted_once_and_not_after_expiry)
{
    char id[SP_USER_ID_LEN], inviter[SP_USER_ID_LEN];
    int64_t now = sp_time_now_ms();
    ck_assert_int_eq(sp_store_invite_create(st, &alice, "tok-1", "", NULL, now + HOUR, id), 0);
    ck_assert_int_eq(sp_store_invite_accept(st, "no-such-token", now, &MARIE, inviter),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(sp_store_invite_accept(st, "tok-1", now, &MARIE, inviter), 0);
    ck_assert_str_eq(inviter, alice.id);
    ck_assert_int_eq(sp_store_invite_accept(st, "tok-1", now, &MARIE, inviter), SP_ERR_CONFLICT);
    ck_assert_int_eq(events_for("spaceport.invite.accepted", "alice"), 1);
    ck_assert_int_eq(events_for("spaceport.invite.accepted", "bob"), 0);

    ck_assert_int_eq(sp_store_invite_create(st, &bob, "tok-2", "", NULL, now + HOUR, id), 0);
    ck_assert_int_eq(sp_store_invite_accept(st, "tok-2", now + HOUR, &MARIE, inviter),
                     SP_ERR_NOT_FOUND);
    /* The refused acceptance wrote nothing. */
    ck_assert_int_eq(count("SELECT count(*) FROM ocm_contacts WHERE owner_seq ="
                           " (SELECT seq FROM users WHERE username = ?1)",
                           "bob"),
                     0);
    ck_assert_int_eq(events_for("spaceport.invite.accepted", "bob"), 0);
}
END_TEST

START_TEST(one_contact_per_owner_and_address)
{
    char id1[SP_USER_ID_LEN], id2[SP_USER_ID_LEN], inviter[SP_USER_ID_LEN];
    int64_t now = sp_time_now_ms();
    ck_assert_int_eq(sp_store_contact_add(st, &alice, &MARIE, id1), 0);
    sp_contact_new renamed = MARIE;
    renamed.name = "Marie Skłodowska-Curie";
    ck_assert_int_eq(sp_store_invite_create(st, &alice, "tok-3", "", NULL, now + HOUR, id2), 0);
    ck_assert_int_eq(sp_store_invite_accept(st, "tok-3", now, &renamed, inviter), 0);
    ck_assert_int_eq(
        count("SELECT count(*) FROM ocm_contacts WHERE address = ?1", "marie@paris.test"), 1);
    char name[64];
    raw_text(name, sizeof name, "SELECT name FROM ocm_contacts WHERE id = ?1", id1, NULL, NULL);
    ck_assert_str_eq(name, "Marie Skłodowska-Curie");
    ck_assert_int_eq(sp_store_contact_add(st, &bob, &MARIE, id2), 0);
    ck_assert_str_ne(id1, id2);
    ck_assert_int_eq(
        count("SELECT count(*) FROM ocm_contacts WHERE address = ?1", "marie@paris.test"), 2);
}
END_TEST

START_TEST(owners_see_and_remove_only_their_own)
{
    char id[SP_USER_ID_LEN], seen[256] = "";
    ck_assert_int_eq(sp_store_contact_add(st, &alice, &MARIE, id), 0);
    ck_assert_int_eq(sp_store_contacts_list(st, &bob, NULL, collect_contact, seen), 0);
    ck_assert_str_eq(seen, "");
    ck_assert_int_eq(sp_store_contacts_list(st, &alice, "curie", collect_contact, seen), 0);
    ck_assert_str_eq(seen, "marie@paris.test;");
    seen[0] = '\0';
    ck_assert_int_eq(sp_store_contacts_list(st, &alice, "einstein", collect_contact, seen), 0);
    ck_assert_str_eq(seen, "");
    ck_assert_int_eq(sp_store_contact_remove(st, &bob, "marie@paris.test"), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(count("SELECT count(*) FROM ocm_contacts WHERE id = ?1", id), 1);
    ck_assert_int_eq(events_for("spaceport.contact.removed", "bob"), 0);
    ck_assert_int_eq(sp_store_contact_remove(st, &alice, "marie@paris.test"), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM ocm_contacts WHERE id = ?1", id), 0);
    ck_assert_int_eq(events_for("spaceport.contact.removed", "alice"), 1);
}
END_TEST

START_TEST(a_share_names_only_the_sharers_contact)
{
    char contact[SP_USER_ID_LEN];
    ck_assert_int_eq(sp_store_contact_add(st, &alice, &MARIE, contact), 0);
    char drive[SP_USER_ID_LEN];
    ck_assert_int_eq(sp_store_drive_create(st, &bob, "Radium", NULL, -1, drive), 0);
    sp_share_grantee g = {.user_id = contact};
    sp_share_made made;
    /* Bob manages the drive but Marie is not his contact. */
    ck_assert_int_eq(sp_store_share_create(st, &bob, drive, drive, "Radium", &g,
                                           "b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5", 0, &made),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(sp_store_contact_add(st, &bob, &MARIE, contact), 0);
    ck_assert_int_eq(sp_store_share_create(st, &bob, drive, drive, "Radium", &g,
                                           "b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5", 0, &made),
                     0);
    ck_assert(made.federated);
    ck_assert_str_eq(made.grantee_name, "Marie Curie");
    ck_assert_int_eq(count("SELECT count(*) FROM events WHERE type = 'spaceport.share.created'"
                           " AND json_extract(data, '$.ocmAddress') = ?1"
                           " AND json_extract(data, '$.instance') = 'https://paris.test'",
                           "marie@paris.test"),
                     1);
    ck_assert_int_eq(sp_store_share_create(st, &bob, drive, drive, "Radium", &g,
                                           "b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5", 0, &made),
                     SP_ERR_CONFLICT);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_contacts");
    TCase *tc = tcase_create("contacts");
    tcase_add_unchecked_fixture(tc, root_setup, fixture_root_teardown);
    tcase_add_checked_fixture(tc, setup, fixture_close);
    tcase_add_test(tc, token_kept_only_hashed);
    tcase_add_test(tc, accepted_once_and_not_after_expiry);
    tcase_add_test(tc, one_contact_per_owner_and_address);
    tcase_add_test(tc, owners_see_and_remove_only_their_own);
    tcase_add_test(tc, a_share_names_only_the_sharers_contact);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_main(suite());
}
