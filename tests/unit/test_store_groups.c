/*
 * test_store_groups.c - groups from tokens (src/store/groups.c and their
 * use): memberships recorded per issuer and replaced by the newest token,
 * no write while they stay the same, a member's role the best of their own
 * and their groups', shares received through a group and lost with it, a
 * group's Manager not counting as the Manager a space keeps, and group
 * grants' events reaching the group's known members.
 */
#include "store/authz.h"
#include "store/drives.h"
#include "store/events.h"
#include "store/groups.h"
#include "store/roles.h"
#include "store/shares.h"
#include "store_fixture.h"

#include "util/err.h"
#include "util/log.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OTHER_ISSUER "https://other-idp.example.test"

static sp_user alice;
static char project[SP_USER_ID_LEN];

static void root_setup(void)
{
    fixture_root_setup_named("sp-store-groups");
}

static void setup(void)
{
    fixture_open();
    fixture_user(&alice, "alice", NULL);
    ck_assert_int_eq(sp_store_drive_create(st, &alice, "Project", NULL, -1, project), 0);
}

/* Provisions name of issuer with the packed groups (names each ending in
 * a NUL, sorted) and a digest that stands for them ("" for none). */
static void with_groups(sp_user *u, const char *issuer, const char *name, const char *packed,
                        int count, const char *digest)
{
    sp_user_claims c = {.issuer = issuer,
                        .sub = name,
                        .username = name,
                        .display_name = name,
                        .groups = packed,
                        .group_count = count,
                        .groups_digest = digest};
    ck_assert_int_eq(sp_store_user_provision(st, &c, u, NULL), 0);
}

typedef struct names {
    int n;
    char name[8][64], id[8][SP_USER_ID_LEN];
} names;

static int collect(const sp_group *g, void *arg)
{
    names *out = arg;
    ck_assert_int_lt(out->n, 8);
    snprintf(out->name[out->n], sizeof out->name[0], "%s", g->name);
    snprintf(out->id[out->n], sizeof out->id[0], "%s", g->id);
    out->n++;
    return 0;
}

static names groups_of(const sp_user *u)
{
    names out = {0};
    ck_assert_int_eq(sp_store_groups_of_user(st, u->seq, collect, &out), 0);
    return out;
}

/* The id of u's group called name, or "" when u is not in it. */
static const char *group_id(const sp_user *u, const char *name)
{
    static names g;
    g = groups_of(u);
    for (int i = 0; i < g.n; i++)
        if (strcmp(g.name[i], name) == 0)
            return g.id[i];
    return "";
}

/* u's role on the project as authorization reads it, or "". */
static const char *role_of(const sp_user *u)
{
    sp_authz a = {.act = SP_AUTHZ_SEE_MEMBERS, .actor = u, .drive_id = project};
    int rc = sp_store_authorize(st, &a);
    ck_assert(rc == 0 || rc == SP_ERR_NOT_FOUND);
    return a.role ? a.role->id : "";
}

/* Alice shares the project's item "report" with group_id as Viewer. */
static int share_report(const char *group_id, sp_share_made *made)
{
    char item[128];
    snprintf(item, sizeof item, "%s!report", project);
    sp_share_grantee g = {.group_id = group_id};
    return sp_store_share_create(st, &alice, project, item, "report", &g, SP_ROLE_VIEWER, 0, made);
}

START_TEST(memberships_are_per_issuer)
{
    sp_user bob, eve;
    with_groups(&bob, FIXTURE_ISSUER, "bob", "physics\0sailing", 2, "d1");
    with_groups(&eve, OTHER_ISSUER, "eve", "physics", 1, "d2");
    names b = groups_of(&bob);
    ck_assert_int_eq(b.n, 2);
    ck_assert_str_eq(b.name[0], "physics");
    ck_assert_str_eq(b.name[1], "sailing");
    /* The same name from another issuer is another group. */
    ck_assert_str_ne(group_id(&eve, "physics"), "");
    char eve_physics[SP_USER_ID_LEN];
    snprintf(eve_physics, sizeof eve_physics, "%s", group_id(&eve, "physics"));
    ck_assert_str_ne(eve_physics, group_id(&bob, "physics"));
    /* The search offers the caller's issuer's groups only. */
    names found = {0};
    ck_assert_int_eq(sp_store_groups_search(st, FIXTURE_ISSUER, "HYS", collect, &found), 0);
    ck_assert_int_eq(found.n, 1);
    ck_assert_str_eq(found.id[0], group_id(&bob, "physics"));
    /* A wildcard in the term is a character, not a pattern. */
    found.n = 0;
    ck_assert_int_eq(sp_store_groups_search(st, FIXTURE_ISSUER, "%", collect, &found), 0);
    ck_assert_int_eq(found.n, 0);
    sp_group_row row;
    ck_assert_int_eq(sp_store_group_get(st, eve_physics, &row), 0);
    ck_assert_str_eq(row.issuer, OTHER_ISSUER);
    ck_assert_int_eq(sp_store_group_get(st, "no-such-group", &row), SP_ERR_NOT_FOUND);
}
END_TEST

START_TEST(newest_token_replaces_memberships)
{
    sp_user bob;
    with_groups(&bob, FIXTURE_ISSUER, "bob", "physics\0sailing", 2, "d1");
    uint64_t before = sp_store_data_version(st);
    /* The same groups again: no write at all. */
    with_groups(&bob, FIXTURE_ISSUER, "bob", "physics\0sailing", 2, "d1");
    ck_assert_uint_eq(sp_store_data_version(st), before);
    with_groups(&bob, FIXTURE_ISSUER, "bob", "radium", 1, "d3");
    ck_assert_uint_ne(sp_store_data_version(st), before);
    names b = groups_of(&bob);
    ck_assert_int_eq(b.n, 1);
    ck_assert_str_eq(b.name[0], "radium");
    with_groups(&bob, FIXTURE_ISSUER, "bob", NULL, 0, NULL);
    ck_assert_int_eq(groups_of(&bob).n, 0);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM group_members", NULL, NULL, NULL), 0);
    /* The groups stay known (their grants keep their ids). */
    ck_assert_int_eq(raw_int("SELECT count(*) FROM groups", NULL, NULL, NULL), 3);
}
END_TEST

START_TEST(role_is_the_best_of_own_and_groups)
{
    sp_user bob;
    with_groups(&bob, FIXTURE_ISSUER, "bob", "physics", 1, "d1");
    char physics[SP_USER_ID_LEN], perm[SP_USER_ID_LEN], own[SP_USER_ID_LEN];
    snprintf(physics, sizeof physics, "%s", group_id(&bob, "physics"));
    ck_assert_str_eq(role_of(&bob), "");
    ck_assert_int_eq(sp_store_member_add(st, &alice, project, bob.id, SP_ROLE_SPACE_VIEWER, 0, own),
                     0);
    ck_assert_int_eq(
        sp_store_member_add_group(st, &alice, project, physics, SP_ROLE_SPACE_EDITOR, perm), 0);
    ck_assert_int_eq(
        sp_store_member_add_group(st, &alice, project, physics, SP_ROLE_SPACE_VIEWER, perm),
        SP_ERR_CONFLICT);
    ck_assert_str_eq(role_of(&bob), SP_ROLE_SPACE_EDITOR);
    ck_assert_int_eq(
        sp_store_member_change(st, &alice, project, perm, 0, SP_ROLE_MANAGER, 0, 0, NULL), 0);
    ck_assert_str_eq(role_of(&bob), SP_ROLE_MANAGER);
    ck_assert_int_eq(sp_store_member_change(st, &alice, project, perm, 0, NULL, 1, 1, NULL),
                     SP_ERR_INVALID);
    /* The next token without the group: back to bob's own role. */
    with_groups(&bob, FIXTURE_ISSUER, "bob", NULL, 0, NULL);
    ck_assert_str_eq(role_of(&bob), SP_ROLE_SPACE_VIEWER);
    /* A group Manager is not the Manager the space keeps. */
    const char *why = NULL;
    char alice_perm[SP_USER_ID_LEN];
    ck_assert_int_eq(raw_text(alice_perm, sizeof alice_perm,
                              "SELECT m.id FROM members m JOIN users u ON u.seq = m.user_seq"
                              " JOIN drives d ON d.seq = m.drive_seq WHERE u.id = ?1 AND d.id = ?2",
                              alice.id, project, NULL),
                     1);
    ck_assert_int_eq(sp_store_member_change(st, &alice, project, alice_perm, 0,
                                            SP_ROLE_SPACE_VIEWER, 0, 0, &why),
                     SP_ERR_DENIED);
    ck_assert_ptr_nonnull(why);
}
END_TEST

START_TEST(group_grant_events_reach_members)
{
    sp_user bob, carol, dan;
    with_groups(&bob, FIXTURE_ISSUER, "bob", "physics", 1, "d1");
    with_groups(&carol, FIXTURE_ISSUER, "carol", "physics", 1, "d1");
    fixture_user(&dan, "dan", NULL);
    char physics[SP_USER_ID_LEN], perm[SP_USER_ID_LEN];
    snprintf(physics, sizeof physics, "%s", group_id(&bob, "physics"));
    ck_assert_int_eq(
        sp_store_member_add_group(st, &alice, project, physics, SP_ROLE_SPACE_VIEWER, perm), 0);
    static const char heard[] =
        "SELECT count(*) FROM event_recipients r JOIN events e ON e.seq = r.event_seq"
        " JOIN users u ON u.seq = r.user_seq WHERE e.type = ?1 AND u.id = ?2";
    ck_assert_int_eq(raw_int(heard, "spaceport.space.member.added", bob.id, NULL), 1);
    ck_assert_int_eq(raw_int(heard, "spaceport.space.member.added", carol.id, NULL), 1);
    ck_assert_int_eq(raw_int(heard, "spaceport.space.member.added", dan.id, NULL), 0);
    /* The removal reaches those who lost the space. */
    ck_assert_int_eq(sp_store_member_change(st, &alice, project, perm, 1, NULL, 0, 0, NULL), 0);
    ck_assert_int_eq(raw_int(heard, "spaceport.space.member.removed", carol.id, NULL), 1);
    ck_assert_str_eq(role_of(&carol), "");

    /* A share with the group: received by its members, heard by them. */
    sp_share_made made;
    ck_assert_int_eq(share_report(physics, &made), 0);
    ck_assert(made.group);
    ck_assert_str_eq(made.grantee_id, physics);
    ck_assert_int_eq(share_report(physics, &made), SP_ERR_CONFLICT);
    ck_assert_int_eq(raw_int(heard, "spaceport.share.created", carol.id, NULL), 1);
    ck_assert_int_eq(raw_int(heard, "spaceport.share.created", dan.id, NULL), 0);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM events WHERE type = ?1"
                             " AND json_extract(data, '$.granteeGroupId') = ?2",
                             "spaceport.share.created", physics, NULL),
                     1);
}
END_TEST

static int count_share(const sp_share *s, void *arg)
{
    (void)s;
    ++*(int *)arg;
    return 0;
}

/* The types of u's events about group grants, each with whether it
 * marks u affected ("type=1"), joined by spaces into out. */
typedef struct affected_list {
    char text[1024];
} affected_list;

static int note_affected(const sp_event *e, void *arg)
{
    affected_list *l = arg;
    if (!strstr(e->data, "granteeGroupId"))
        return 0;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof l->text - n, "%s%s=%d", n ? " " : "", e->type + 10, e->affected);
    return 0;
}

static const char *affected_of(const sp_user *u)
{
    static affected_list l;
    l.text[0] = '\0';
    ck_assert_int_eq(sp_store_events_for_user(st, u->seq, 0, 100, note_affected, &l), 0);
    return l.text;
}

/* A group grant's events reach the drive's members and the sharer too,
 * who are only told: only the group's members are affected (oCIS's
 * stream names them in affecteduserids, and ownCloud Web drops the space
 * or share of a user it names). A Manager who removes a group from the
 * space, not being in it, was named too, and lost the space from view. */
START_TEST(group_grant_events_affect_the_members_only)
{
    sp_user bob;
    with_groups(&bob, FIXTURE_ISSUER, "bob", "physics", 1, "d1");
    char physics[SP_USER_ID_LEN], perm[SP_USER_ID_LEN];
    snprintf(physics, sizeof physics, "%s", group_id(&bob, "physics"));
    ck_assert_int_eq(
        sp_store_member_add_group(st, &alice, project, physics, SP_ROLE_SPACE_VIEWER, perm), 0);
    ck_assert_int_eq(
        sp_store_member_change(st, &alice, project, perm, 0, SP_ROLE_SPACE_EDITOR, 0, 0, NULL), 0);
    ck_assert_int_eq(sp_store_member_change(st, &alice, project, perm, 1, NULL, 0, 0, NULL), 0);
    sp_share_made made;
    ck_assert_int_eq(share_report(physics, &made), 0);
    ck_assert_str_eq(affected_of(&alice), "space.member.added=0 space.member.updated=0"
                                          " space.member.removed=0 share.created=0");
    ck_assert_str_eq(affected_of(&bob), "space.member.added=1 space.member.updated=1"
                                        " space.member.removed=1 share.created=1");
}
END_TEST

START_TEST(shares_received_through_a_group)
{
    sp_user bob, dan;
    with_groups(&bob, FIXTURE_ISSUER, "bob", "physics", 1, "d1");
    fixture_user(&dan, "dan", NULL);
    char physics[SP_USER_ID_LEN];
    snprintf(physics, sizeof physics, "%s", group_id(&bob, "physics"));
    sp_share_made made;
    ck_assert_int_eq(share_report(physics, &made), 0);
    int n = 0;
    ck_assert_int_eq(sp_store_shares_received(st, &bob, count_share, &n), 0);
    ck_assert_int_eq(n, 1);
    n = 0;
    ck_assert_int_eq(sp_store_shares_received(st, &dan, count_share, &n), 0);
    ck_assert_int_eq(n, 0);
    with_groups(&bob, FIXTURE_ISSUER, "bob", NULL, 0, NULL);
    n = 0;
    ck_assert_int_eq(sp_store_shares_received(st, &bob, count_share, &n), 0);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(share_report("no-such-group", &made), SP_ERR_NOT_FOUND);
}
END_TEST

/* A sharer in the group they share with does not receive their own
 * share: it is not in their sharedWithMe, not a mountpoint among their
 * drives, and not theirs to mount or hide, as a share with oneself is
 * refused (and as oCIS lists a group's shares to its members but the
 * sharer). */
START_TEST(sharer_in_the_group_receives_nothing)
{
    sp_user bob;
    with_groups(&alice, FIXTURE_ISSUER, "alice", "physics", 1, "d1");
    with_groups(&bob, FIXTURE_ISSUER, "bob", "physics", 1, "d1");
    char physics[SP_USER_ID_LEN];
    snprintf(physics, sizeof physics, "%s", group_id(&bob, "physics"));
    sp_share_made made;
    ck_assert_int_eq(share_report(physics, &made), 0);
    int n = 0;
    ck_assert_int_eq(sp_store_shares_received(st, &alice, count_share, &n), 0);
    ck_assert_int_eq(n, 0);
    n = 0;
    ck_assert_int_eq(sp_store_shares_received(st, &bob, count_share, &n), 0);
    ck_assert_int_eq(n, 1);
    char item[SP_SHARE_ITEM_ID_MAX], mount[SP_USER_ID_LEN];
    ck_assert(raw_text(mount, sizeof mount, "SELECT mount_id FROM shares WHERE id = ?1", made.id,
                       NULL, NULL));
    ck_assert_int_eq(sp_store_share_state_set(st, &alice, NULL, mount, SP_SHARE_HIDDEN, 1, item),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(sp_store_share_item_of_mount(st, &alice, mount, item), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(sp_store_share_item_of_mount(st, &bob, mount, item), 0);
    /* Told of it as its sharer, not affected as a member. */
    ck_assert_str_eq(affected_of(&alice), "share.created=0");
    ck_assert_str_eq(affected_of(&bob), "share.created=1");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_groups");
    TCase *tc = tcase_create("groups");
    tcase_add_unchecked_fixture(tc, root_setup, fixture_root_teardown);
    tcase_add_checked_fixture(tc, setup, fixture_close);
    tcase_add_test(tc, memberships_are_per_issuer);
    tcase_add_test(tc, sharer_in_the_group_receives_nothing);
    tcase_add_test(tc, group_grant_events_affect_the_members_only);
    tcase_add_test(tc, newest_token_replaces_memberships);
    tcase_add_test(tc, role_is_the_best_of_own_and_groups);
    tcase_add_test(tc, group_grant_events_reach_members);
    tcase_add_test(tc, shares_received_through_a_group);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_main(suite());
}
