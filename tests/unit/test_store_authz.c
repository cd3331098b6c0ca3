/*
 * test_store_authz.c - src/store/authz.c and the check a write job makes
 * again (sp_store_submit): the rules as a table of cases, and jobs whose
 * handler's check held but whose world changed before the writer ran
 * them (the actor removed, demoted or expired, the drive disabled, the
 * share removed). Such a job must not run: no row, no event, and its
 * done hears SP_ERR_NOT_FOUND or SP_ERR_DENIED as the handler would now.
 * And expired memberships, which count nowhere, and personal drives,
 * which only admins disable, restore or purge.
 *
 * Each test runs on a fresh database in its own temporary directory;
 * what was written is read with a second SQLite connection on the file.
 */
#include "store/authz.h"
#include "store/changes.h"
#include "store/drives.h"
#include "store/events.h"
#include "store/internal.h"
#include "store/roles.h"
#include "store/shares.h"
#include "store/store.h"
#include "store/users.h"
#include "store_fixture.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

#include <check.h>
#include <jansson.h>
#include <limits.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- fixtures: one directory per test case, one store per test ---- */

/* alice created the project (Manager); bob is a Manager, erin a
 * SpaceEditor, vic a SpaceViewer; carol is no member. */
static sp_user alice, bob, carol, erin, vic;
static char project[SP_USER_ID_LEN];

static void make_user(sp_user *u, const char *name)
{
    fixture_user(u, name, NULL);
}

static void add_member(const sp_user *u, const char *role)
{
    char perm[SP_USER_ID_LEN];
    ck_assert_int_eq(sp_store_member_add(st, &alice, project, u->id, role, 0, perm), 0);
}

static void root_setup(void)
{
    fixture_root_setup_named("sp-store-authz");
}

static void setup(void)
{
    fixture_open();
    make_user(&alice, "alice");
    make_user(&bob, "bob");
    make_user(&carol, "carol");
    make_user(&erin, "erin");
    make_user(&vic, "vic");
    ck_assert_int_eq(sp_store_drive_create(st, &alice, "Project", NULL, -1, project), 0);
    add_member(&bob, SP_ROLE_MANAGER);
    add_member(&erin, SP_ROLE_SPACE_EDITOR);
    add_member(&vic, SP_ROLE_SPACE_VIEWER);
}


/* ---- the raw connection ---- */


static int64_t events(void)
{
    return raw_int("SELECT count(*) FROM events", NULL, NULL, NULL);
}

static int64_t shares(void)
{
    return raw_int("SELECT count(*) FROM shares", NULL, NULL, NULL);
}

/* Copies the id sql returns about u (?1 the project, ?2 u's seq) to out. */
static void id_about(const char *sql, const sp_user *u, char out[SP_USER_ID_LEN])
{
    sqlite3_stmt *s = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(raw, sql, -1, &s, NULL), SQLITE_OK);
    sqlite3_bind_text(s, 1, project, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, u->seq);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    snprintf(out, SP_USER_ID_LEN, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
}

/* u's permission id on the project. */
static void perm_of(const sp_user *u, char out[SP_USER_ID_LEN])
{
    id_about("SELECT m.id FROM members m JOIN drives d ON d.seq = m.drive_seq"
             " WHERE d.id = ?1 AND m.user_seq = ?2",
             u, out);
}

/* ---- jobs as the API queues them ---- */

/* What a job does once its check held again. */
typedef enum job_kind { SHARE, CHANGE_SHARE, REMOVE_SHARE, ADD_MEMBER } job_kind;

typedef struct job {
    sp_authz authz; /* the handler's question */
    job_kind kind;
    const char *item_id;
    const char *grantee_id;
    int ran, rc;
    sem_t done;
    sp_share_made made;
} job;

static int job_run(sp_store *s, void *ctx)
{
    job *j = ctx;
    j->ran = 1;
    sp_share_grantee g = {.user_id = j->grantee_id};
    char perm[SP_USER_ID_LEN];
    switch (j->kind) {
    case SHARE:
        return sp_store_share_create(s, j->authz.actor, j->authz.drive_id, j->item_id, j->item_id,
                                     &g, j->authz.grant_role, 0, &j->made);
    case CHANGE_SHARE:
    case REMOVE_SHARE:
        return sp_store_share_change(s, j->authz.actor, j->authz.target_id, j->kind == REMOVE_SHARE,
                                     j->authz.grant_role, 0, 0);
    case ADD_MEMBER:
        return sp_store_member_add(s, j->authz.actor, j->authz.drive_id, j->grantee_id,
                                   SP_ROLE_SPACE_VIEWER, 0, perm);
    }
    return SP_ERR_INVALID;
}

static void job_done(void *ctx, int rc)
{
    job *j = ctx;
    j->rc = rc;
    sem_post(&j->done);
}

/* A job as the handler leaves it: its question asked on the reader, and
 * answered yes. */
static void job_checked(job *j, job_kind kind, sp_authz_act act, const sp_user *actor,
                        const char *item_id, const char *target_id, const char *grant_role,
                        const char *grantee_id)
{
    memset(j, 0, sizeof *j);
    j->authz = (sp_authz){.act = act,
                          .actor = actor,
                          .drive_id = project,
                          .item_id = item_id,
                          .target_id = target_id,
                          .grant_role = grant_role};
    j->kind = kind;
    j->item_id = item_id;
    j->grantee_id = grantee_id;
    sem_init(&j->done, 0, 0);
    ck_assert_int_eq(sp_store_authorize(st, &j->authz), 0);
}

/* Queues j and waits until the writer thread is done with it; returns
 * what done heard. */
static int job_submit(job *j)
{
    ck_assert_int_eq(sp_store_submit(st, &j->authz, job_run, job_done, j), 0);
    sem_wait(&j->done);
    sem_destroy(&j->done);
    return j->rc;
}

/* A share of item by erin with carol, made directly; its id in out. */
static void erin_shares(const char *item, char out[SP_USER_ID_LEN])
{
    sp_share_grantee g = {.user_id = carol.id};
    sp_share_made made;
    ck_assert_int_eq(
        sp_store_share_create(st, &erin, project, item, item, &g, SP_ROLE_VIEWER, 0, &made), 0);
    snprintf(out, SP_USER_ID_LEN, "%s", made.id);
}

/* ---- the rules ---- */

/* Who may do what, read from the database: one row per question. */
START_TEST(test_rules)
{
    char erin_share[SP_USER_ID_LEN], vic_perm[SP_USER_ID_LEN], erin_perm[SP_USER_ID_LEN];
    erin_shares("item", erin_share);
    perm_of(&vic, vic_perm);
    perm_of(&erin, erin_perm);
    sp_user admin = carol;
    admin.roles = SP_USER_ROLE_ADMIN;
    sp_user space_admin = bob;
    space_admin.roles = SP_USER_ROLE_SPACE_ADMIN;
    sp_user outsider = carol; /* a space admin who is no member */
    outsider.roles = SP_USER_ROLE_SPACE_ADMIN;
    const struct {
        sp_authz_act act;
        const sp_user *actor;
        const char *item, *target, *grant;
        int want;
    } cases[] = {
        {SP_AUTHZ_SEE_ITEM, &vic, "item", NULL, NULL, 0},
        {SP_AUTHZ_SEE_ITEM, &carol, "item", NULL, NULL, SP_ERR_NOT_FOUND},
        {SP_AUTHZ_SEE_ITEM, &admin, "item", NULL, NULL, SP_ERR_NOT_FOUND}, /* members only */
        {SP_AUTHZ_SHARE, &alice, "item", NULL, SP_ROLE_EDITOR, 0},
        {SP_AUTHZ_SHARE, &erin, "item", NULL, SP_ROLE_EDITOR, 0},
        {SP_AUTHZ_SHARE, &erin, "item", NULL, NULL, 0},
        {SP_AUTHZ_SHARE, &vic, "item", NULL, NULL, SP_ERR_DENIED},
        {SP_AUTHZ_SHARE, &vic, "item", NULL, SP_ROLE_VIEWER, SP_ERR_DENIED},
        {SP_AUTHZ_SHARE, &carol, "item", NULL, SP_ROLE_VIEWER, SP_ERR_NOT_FOUND},
        {SP_AUTHZ_CHANGE_SHARE, &erin, "item", erin_share, SP_ROLE_EDITOR, 0},
        {SP_AUTHZ_CHANGE_SHARE, &bob, "item", erin_share, NULL, 0},
        {SP_AUTHZ_CHANGE_SHARE, &vic, "item", erin_share, NULL, SP_ERR_DENIED},
        {SP_AUTHZ_CHANGE_SHARE, &bob, "other", erin_share, NULL, SP_ERR_NOT_FOUND},
        {SP_AUTHZ_CHANGE_SHARE, &bob, "item", "no-such-share", NULL, SP_ERR_NOT_FOUND},
        {SP_AUTHZ_SEE_MEMBERS, &vic, NULL, NULL, NULL, 0},
        {SP_AUTHZ_SEE_MEMBERS, &admin, NULL, NULL, NULL, 0},
        {SP_AUTHZ_SEE_MEMBERS, &carol, NULL, NULL, NULL, SP_ERR_NOT_FOUND},
        {SP_AUTHZ_MANAGE_MEMBERS, &bob, NULL, NULL, NULL, 0},
        {SP_AUTHZ_MANAGE_MEMBERS, &admin, NULL, NULL, NULL, 0},
        {SP_AUTHZ_MANAGE_MEMBERS, &erin, NULL, NULL, NULL, SP_ERR_DENIED},
        {SP_AUTHZ_REMOVE_MEMBER, &vic, NULL, vic_perm, NULL, 0}, /* leaving */
        {SP_AUTHZ_REMOVE_MEMBER, &vic, NULL, erin_perm, NULL, SP_ERR_DENIED},
        {SP_AUTHZ_REMOVE_MEMBER, &vic, NULL, "no-such-perm", NULL, SP_ERR_DENIED},
        {SP_AUTHZ_REMOVE_MEMBER, &bob, NULL, erin_perm, NULL, 0},
        {SP_AUTHZ_REMOVE_MEMBER, &bob, NULL, "no-such-perm", NULL, 0}, /* the store's 404 */
        {SP_AUTHZ_MANAGE_DRIVE, &bob, NULL, NULL, NULL, 0},
        {SP_AUTHZ_MANAGE_DRIVE, &admin, NULL, NULL, NULL, 0},
        {SP_AUTHZ_MANAGE_DRIVE, &erin, NULL, NULL, NULL, SP_ERR_DENIED},
        {SP_AUTHZ_MANAGE_DRIVE, &carol, NULL, NULL, NULL, SP_ERR_NOT_FOUND},
        {SP_AUTHZ_DISABLE_DRIVE, &bob, NULL, NULL, NULL, 0},
        {SP_AUTHZ_DISABLE_DRIVE, &vic, NULL, NULL, NULL, SP_ERR_DENIED},
        {SP_AUTHZ_SET_QUOTA, &bob, NULL, NULL, NULL, SP_ERR_DENIED}, /* Manager, no space admin */
        {SP_AUTHZ_SET_QUOTA, &space_admin, NULL, NULL, NULL, 0},
        {SP_AUTHZ_SET_QUOTA, &admin, NULL, NULL, NULL, 0},
        /* A space admin runs any project space, as oCIS's Space Admin:
         * its properties, quota and life cycle, not members or shares. */
        {SP_AUTHZ_MANAGE_DRIVE, &outsider, NULL, NULL, NULL, 0},
        {SP_AUTHZ_SET_QUOTA, &outsider, NULL, NULL, NULL, 0},
        {SP_AUTHZ_DISABLE_DRIVE, &outsider, NULL, NULL, NULL, 0},
        {SP_AUTHZ_SEE_MEMBERS, &outsider, NULL, NULL, NULL, SP_ERR_NOT_FOUND},
        {SP_AUTHZ_MANAGE_MEMBERS, &outsider, NULL, NULL, NULL, SP_ERR_NOT_FOUND},
        {SP_AUTHZ_REMOVE_MEMBER, &outsider, NULL, erin_perm, NULL, SP_ERR_NOT_FOUND},
        {SP_AUTHZ_SEE_ITEM, &outsider, "item", NULL, NULL, SP_ERR_NOT_FOUND},
        {SP_AUTHZ_SHARE, &outsider, "item", NULL, SP_ROLE_VIEWER, SP_ERR_NOT_FOUND},
        {SP_AUTHZ_CHANGE_SHARE, &outsider, "item", erin_share, NULL, SP_ERR_NOT_FOUND},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        sp_authz a = {.act = cases[i].act,
                      .actor = cases[i].actor,
                      .drive_id = project,
                      .item_id = cases[i].item,
                      .target_id = cases[i].target,
                      .grant_role = cases[i].grant};
        int rc = sp_store_authorize(st, &a);
        ck_assert_msg(rc == cases[i].want, "case %zu: got %d, want %d (%s)", i, rc, cases[i].want,
                      a.why ? a.why : "");
        ck_assert_msg(rc == 0 || a.why, "case %zu: a refusal says why", i);
    }
    /* A role that would grant more than the sharer's own. */
    raw_exec("UPDATE members SET role = '" SP_ROLE_SPACE_VIEWER "' WHERE id = ?1", erin_perm, NULL, NULL);
    raw_exec("UPDATE members SET role = '" SP_ROLE_SPACE_EDITOR "' WHERE id = ?1", vic_perm, NULL, NULL);
    sp_authz a = {.act = SP_AUTHZ_SHARE, .actor = &vic, .drive_id = project, .item_id = "item"};
    ck_assert_int_eq(sp_store_authorize(st, &a), 0);
    ck_assert_str_eq(a.role->id, SP_ROLE_SPACE_EDITOR);
    a.grant_role = SP_ROLE_EDITOR;
    ck_assert_int_eq(sp_authz_decide(&a), 0);
    a.grant_role = SP_ROLE_MANAGER; /* a space role allows more than an editor's */
    ck_assert_int_eq(sp_authz_decide(&a), SP_ERR_DENIED);
    ck_assert_str_eq(a.why, "you cannot grant more than you have");
    /* Who can no longer share cannot change their own share either. */
    a = (sp_authz){.act = SP_AUTHZ_CHANGE_SHARE,
                   .actor = &erin,
                   .drive_id = project,
                   .item_id = "item",
                   .target_id = erin_share};
    ck_assert_int_eq(sp_store_authorize(st, &a), SP_ERR_DENIED);
    ck_assert_int_eq(a.target_found, 1);
    ck_assert_int_eq(a.target_own, 1);
}
END_TEST

/* A disabled drive: no sharing at all; members reach it only as its
 * Manager or as admins. */
START_TEST(test_rules_disabled_drive)
{
    ck_assert_int_eq(sp_store_drive_change(st, &alice, project, SP_DRIVE_DISABLE, NULL), 0);
    sp_user admin = carol;
    admin.roles = SP_USER_ROLE_ADMIN;
    sp_authz a = {.act = SP_AUTHZ_SHARE, .actor = &bob, .drive_id = project, .item_id = "i"};
    ck_assert_int_eq(sp_store_authorize(st, &a), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(a.drive_disabled, 1);
    a.act = SP_AUTHZ_MANAGE_MEMBERS;
    ck_assert_int_eq(sp_authz_decide(&a), 0);
    a.actor = &admin;
    ck_assert_int_eq(sp_store_authorize(st, &a), 0);
    a.actor = &erin;
    a.act = SP_AUTHZ_SEE_MEMBERS;
    ck_assert_int_eq(sp_store_authorize(st, &a), SP_ERR_NOT_FOUND);
    a.drive_id = "no-such-drive";
    a.actor = &admin;
    ck_assert_int_eq(sp_store_authorize(st, &a), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(a.drive_seq, 0);
}
END_TEST

/* ---- jobs whose world changed after the handler's check ---- */

/* The check still holds: the job runs and writes its share and event. */
START_TEST(test_job_check_holds)
{
    job j;
    job_checked(&j, SHARE, SP_AUTHZ_SHARE, &bob, "report", NULL, SP_ROLE_VIEWER, carol.id);
    int64_t before = events();
    ck_assert_int_eq(job_submit(&j), 0);
    ck_assert_int_eq(j.ran, 1);
    ck_assert_int_eq(shares(), 1);
    ck_assert_int_eq(events(), before + 1);
}
END_TEST

/* The Manager is removed before the writer runs their invitation: 404
 * (the drive is no longer theirs to see), no share, no event. */
START_TEST(test_job_actor_removed)
{
    job j;
    job_checked(&j, SHARE, SP_AUTHZ_SHARE, &bob, "report", NULL, SP_ROLE_VIEWER, carol.id);
    char perm[SP_USER_ID_LEN];
    perm_of(&bob, perm);
    ck_assert_int_eq(sp_store_member_change(st, &alice, project, perm, 1, NULL, 0, 0, NULL), 0);
    int64_t before = events();
    ck_assert_int_eq(job_submit(&j), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(j.ran, 0);
    ck_assert_int_eq(j.authz.target_missing, 0);
    ck_assert_int_eq(shares(), 0);
    ck_assert_int_eq(events(), before);
}
END_TEST

/* A drive change asks again inside its transaction: a Manager removed
 * after the handler's check renames nothing, a demoted one disables
 * nothing. */
START_TEST(test_drive_change_actor_removed)
{
    sp_authz a = {.act = SP_AUTHZ_MANAGE_DRIVE, .actor = &bob, .drive_id = project};
    ck_assert_int_eq(sp_store_authorize(st, &a), 0); /* the handler's check */
    char perm[SP_USER_ID_LEN];
    perm_of(&bob, perm);
    ck_assert_int_eq(sp_store_member_change(st, &alice, project, perm, 1, NULL, 0, 0, NULL), 0);
    int64_t before = events();
    sp_drive_patch p = {.name = "Taken"};
    ck_assert_int_eq(sp_store_drive_change(st, &bob, project, SP_DRIVE_UPDATE, &p),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM drives WHERE name = ?1", "Taken", NULL, NULL), 0);
    ck_assert_int_eq(events(), before);

    perm_of(&erin, perm);
    raw_exec("UPDATE members SET role = '" SP_ROLE_MANAGER "' WHERE id = ?1", perm, NULL, NULL);
    a.actor = &erin;
    a.act = SP_AUTHZ_DISABLE_DRIVE;
    ck_assert_int_eq(sp_store_authorize(st, &a), 0);
    raw_exec("UPDATE members SET role = '" SP_ROLE_SPACE_VIEWER "' WHERE id = ?1", perm, NULL, NULL);
    ck_assert_int_eq(sp_store_drive_change(st, &erin, project, SP_DRIVE_DISABLE, NULL),
                     SP_ERR_DENIED);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM drives WHERE id = ?1 AND disabled_at IS NOT NULL",
                             project, NULL, NULL),
                     0);
    ck_assert_int_eq(events(), before);
}
END_TEST

/* The membership expired meanwhile: the same. */
START_TEST(test_job_membership_expired)
{
    job j;
    job_checked(&j, SHARE, SP_AUTHZ_SHARE, &erin, "report", NULL, SP_ROLE_VIEWER, carol.id);
    char perm[SP_USER_ID_LEN];
    perm_of(&erin, perm);
    raw_exec("UPDATE members SET expires_at = 1 WHERE id = ?1", perm, NULL, NULL);
    int64_t before = events();
    ck_assert_int_eq(job_submit(&j), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(j.ran, 0);
    ck_assert_int_eq(shares(), 0);
    ck_assert_int_eq(events(), before);
}
END_TEST

/* Demoted to SpaceViewer meanwhile: 403, nothing written. */
START_TEST(test_job_actor_demoted)
{
    job j;
    job_checked(&j, SHARE, SP_AUTHZ_SHARE, &bob, "report", NULL, SP_ROLE_EDITOR, carol.id);
    char perm[SP_USER_ID_LEN];
    perm_of(&bob, perm);
    ck_assert_int_eq(
        sp_store_member_change(st, &alice, project, perm, 0, SP_ROLE_SPACE_VIEWER, 0, 0, NULL), 0);
    int64_t before = events();
    ck_assert_int_eq(job_submit(&j), SP_ERR_DENIED);
    ck_assert_int_eq(j.ran, 0);
    ck_assert_str_eq(j.authz.why, "your role on this drive cannot share");
    ck_assert_int_eq(shares(), 0);
    ck_assert_int_eq(events(), before);
}
END_TEST

/* The drive is disabled meanwhile: 404, nothing written. */
START_TEST(test_job_drive_disabled)
{
    job j;
    job_checked(&j, SHARE, SP_AUTHZ_SHARE, &alice, "report", NULL, SP_ROLE_VIEWER, carol.id);
    ck_assert_int_eq(sp_store_drive_change(st, &alice, project, SP_DRIVE_DISABLE, NULL), 0);
    int64_t before = events();
    ck_assert_int_eq(job_submit(&j), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(j.ran, 0);
    ck_assert_int_eq(shares(), 0);
    ck_assert_int_eq(events(), before);
}
END_TEST

/* The share is removed before its creator's change, or removal, of it
 * runs: 404 about the permission, and no share event. */
START_TEST(test_job_share_removed)
{
    char id[SP_USER_ID_LEN];
    erin_shares("item", id);
    job change, removal;
    job_checked(&change, CHANGE_SHARE, SP_AUTHZ_CHANGE_SHARE, &erin, "item", id, SP_ROLE_VIEWER,
                NULL);
    job_checked(&removal, REMOVE_SHARE, SP_AUTHZ_CHANGE_SHARE, &erin, "item", id, NULL, NULL);
    ck_assert_int_eq(sp_store_share_change(st, &bob, id, 1, NULL, 0, 0), 0);
    int64_t before = events();
    ck_assert_int_eq(job_submit(&change), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(job_submit(&removal), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(change.ran + removal.ran, 0);
    ck_assert_int_eq(change.authz.target_missing, 1);
    ck_assert_int_eq(removal.authz.target_missing, 1);
    ck_assert_int_eq(events(), before);
}
END_TEST

/* A share of one item cannot be changed through another: the check reads
 * the share's drive and item, not only its id. */
START_TEST(test_job_share_moved_item)
{
    char id[SP_USER_ID_LEN];
    erin_shares("item", id);
    job change;
    job_checked(&change, CHANGE_SHARE, SP_AUTHZ_CHANGE_SHARE, &erin, "item", id, SP_ROLE_VIEWER,
                NULL);
    raw_exec("UPDATE shares SET item_id = 'elsewhere' WHERE id = ?1", id, NULL, NULL);
    int64_t before = events();
    ck_assert_int_eq(job_submit(&change), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(change.ran, 0);
    ck_assert_int_eq(events(), before);
}
END_TEST

/* A Manager removed before their member invitation runs: no member, no
 * event. */
START_TEST(test_job_member_invitation_refused)
{
    job j;
    job_checked(&j, ADD_MEMBER, SP_AUTHZ_MANAGE_MEMBERS, &bob, NULL, NULL, NULL, carol.id);
    char perm[SP_USER_ID_LEN];
    perm_of(&bob, perm);
    ck_assert_int_eq(sp_store_member_change(st, &alice, project, perm, 1, NULL, 0, 0, NULL), 0);
    int64_t before = events();
    int64_t members = raw_int("SELECT count(*) FROM members", NULL, NULL, NULL);
    ck_assert_int_eq(job_submit(&j), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(j.ran, 0);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM members", NULL, NULL, NULL), members);
    ck_assert_int_eq(events(), before);
}
END_TEST

/* A refused job and a good one in one group (held back by the test hook
 * until both are queued): the good one commits, the refused one leaves
 * nothing. */
START_TEST(test_job_refused_beside_another)
{
    char hold[PATH_MAX];
    int n = snprintf(hold, sizeof hold, "%s/hold", test_dir);
    ck_assert(n > 0 && (size_t)n < sizeof hold);
    ck_assert_int_eq(sp_store_hold_jobs(st, hold), 0);
    FILE *f = fopen(hold, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    job refused, good;
    job_checked(&refused, SHARE, SP_AUTHZ_SHARE, &bob, "a", NULL, SP_ROLE_VIEWER, carol.id);
    job_checked(&good, SHARE, SP_AUTHZ_SHARE, &erin, "b", NULL, SP_ROLE_VIEWER, carol.id);
    char perm[SP_USER_ID_LEN];
    perm_of(&bob, perm);
    ck_assert_int_eq(sp_store_member_change(st, &alice, project, perm, 1, NULL, 0, 0, NULL), 0);
    int64_t before = events();
    ck_assert_int_eq(sp_store_submit(st, &refused.authz, job_run, job_done, &refused), 0);
    ck_assert_int_eq(sp_store_submit(st, &good.authz, job_run, job_done, &good), 0);
    uint64_t commits = atomic_load(&st->commits);
    ck_assert_int_eq(remove(hold), 0);
    sem_wait(&refused.done);
    sem_wait(&good.done);
    sem_destroy(&refused.done);
    sem_destroy(&good.done);
    ck_assert_int_eq(refused.rc, SP_ERR_NOT_FOUND);
    ck_assert_int_eq(good.rc, 0);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM shares WHERE item_id = 'a'", NULL, NULL, NULL), 0);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM shares WHERE item_id = 'b'", NULL, NULL, NULL), 1);
    ck_assert_int_eq(events(), before + 1);
    ck_assert_uint_eq(atomic_load(&st->commits), commits + 1); /* one group */
}
END_TEST

/* ---- the suite ---- */

/* ---- expired memberships ---- */

/* Makes u's membership of the project one that expired long ago (the
 * sweeper has not seen it). */
static void expire(const sp_user *u)
{
    char perm[SP_USER_ID_LEN];
    perm_of(u, perm);
    raw_exec("UPDATE members SET expires_at = 1 WHERE id = ?1", perm, NULL, NULL);
}

static int count_member(const sp_member *m, void *ctx)
{
    (void)m;
    (*(int *)ctx)++;
    return 0;
}

/* 1 when user u is a recipient of the newest event of type, else 0. */
static int64_t hears_newest(const char *type, const sp_user *u)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM event_recipients WHERE user_seq = %lld AND event_seq ="
             " (SELECT max(seq) FROM events WHERE type = ?1)",
             (long long)u->seq);
    return raw_int(sql, type, NULL, NULL);
}

/* Vic's membership expired: he is not listed, hears of no rename, no
 * item change and no later member event, and his permission is not there
 * to change. */
START_TEST(test_expired_member_counts_nowhere)
{
    expire(&vic);
    int64_t drive_seq = raw_int("SELECT seq FROM drives WHERE id = ?1", project, NULL, NULL);
    int listed = 0;
    ck_assert_int_eq(sp_store_members_list(st, drive_seq, count_member, &listed), 0);
    ck_assert_int_eq(listed, 3); /* alice, bob, erin */

    sp_drive_patch p = {.name = "Renamed"};
    ck_assert_int_eq(sp_store_drive_change(st, &alice, project, SP_DRIVE_UPDATE, &p), 0);
    ck_assert_int_eq(hears_newest(SP_EVENT_SPACE_UPDATED, &erin), 1);
    ck_assert_int_eq(hears_newest(SP_EVENT_SPACE_UPDATED, &vic), 0);

    sp_storage_change c = {.event_id = "ev-1", .drive_id = project, .etag = "e1",
                           .mtime_ms = 1, .change = "updated"};
    int outcome = -1;
    ck_assert_int_eq(sp_store_storage_changes(st, &c, 1, &outcome), 0);
    ck_assert_int_eq(outcome, SP_CHANGE_APPLIED);
    ck_assert_int_eq(hears_newest(SP_EVENT_ITEM_CHANGED, &erin), 1);
    ck_assert_int_eq(hears_newest(SP_EVENT_ITEM_CHANGED, &vic), 0);

    char perm[SP_USER_ID_LEN];
    ck_assert_int_eq(sp_store_member_add(st, &alice, project, carol.id, SP_ROLE_SPACE_VIEWER, 0,
                                         perm),
                     0);
    ck_assert_int_eq(hears_newest(SP_EVENT_MEMBER_ADDED, &vic), 0);

    perm_of(&vic, perm);
    int64_t before = events();
    ck_assert_int_eq(
        sp_store_member_change(st, &bob, project, perm, 0, SP_ROLE_SPACE_EDITOR, 0, 0, NULL),
        SP_ERR_NOT_FOUND);
    ck_assert_int_eq(sp_store_member_change(st, &bob, project, perm, 1, NULL, 0, 0, NULL),
                     SP_ERR_NOT_FOUND);
    sp_authz a = {.act = SP_AUTHZ_REMOVE_MEMBER, .actor = &vic, .drive_id = project,
                  .target_id = perm};
    ck_assert_int_eq(sp_store_authorize(st, &a), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(events(), before);
}
END_TEST

/* Managers alice (unexpired) and bob (expired): alice is the last one,
 * and may neither step down nor leave; with bob unexpired she may. */
START_TEST(test_expired_manager_not_counted)
{
    expire(&bob);
    char perm[SP_USER_ID_LEN];
    perm_of(&alice, perm);
    int64_t before = events();
    ck_assert_int_eq(
        sp_store_member_change(st, &alice, project, perm, 0, SP_ROLE_SPACE_VIEWER, 0, 0, NULL),
        SP_ERR_DENIED);
    ck_assert_int_eq(sp_store_member_change(st, &alice, project, perm, 1, NULL, 0, 0, NULL),
                     SP_ERR_DENIED);
    ck_assert_int_eq(events(), before);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM members WHERE id = ?1 AND role = '"
                             SP_ROLE_MANAGER "'", perm, NULL, NULL),
                     1);
    raw_exec("UPDATE members SET expires_at = NULL", NULL, NULL, NULL);
    ck_assert_int_eq(
        sp_store_member_change(st, &alice, project, perm, 0, SP_ROLE_SPACE_VIEWER, 0, 0, NULL), 0);
}
END_TEST

/* The Manager rows of the project: how many keep their role without an
 * expiry. */
static int64_t permanent_managers(void)
{
    return raw_int("SELECT count(*) FROM members m JOIN drives d ON d.seq = m.drive_seq"
                   " WHERE d.id = ?1 AND m.role = '" SP_ROLE_MANAGER "' AND m.expires_at IS NULL",
                   project, NULL, NULL);
}

/* Gives u's membership of the project an expiry in ms from now, as a
 * Manager may (or as a space had it before the rule, for the raw one). */
static void expires_in(const sp_user *u, int64_t ms)
{
    char perm[SP_USER_ID_LEN], when[32];
    perm_of(u, perm);
    snprintf(when, sizeof when, "%lld", (long long)(sp_time_now_ms() + ms));
    raw_exec("UPDATE members SET expires_at = CAST(?2 AS INTEGER) WHERE id = ?1", perm, when, NULL);
}

#define MINUTE_MS 60000
#define DAY_MS    86400000

/* Actor sets the expiry of membership perm of the project to in_ms from
 * now (0: none), as a PATCH with expirationDateTime does. */
static int set_expiry(const sp_user *actor, const char *perm, int64_t in_ms, const char **why)
{
    return sp_store_member_change(st, actor, project, perm, 0, NULL, 1,
                                  in_ms ? sp_time_now_ms() + in_ms : 0, why);
}

/* The permission ids of the project's Managers, alice and bob. */
static void manager_perms(char pa[SP_USER_ID_LEN], char pb[SP_USER_ID_LEN])
{
    perm_of(&alice, pa);
    perm_of(&bob, pb);
}

/* rc is the Manager rule's refusal, and *why (read once the call that
 * set it returned) names reason. */
static void assert_refused(int rc, const char **why, const char *reason)
{
    ck_assert_int_eq(rc, SP_ERR_DENIED);
    ck_assert_ptr_nonnull(*why);
    ck_assert_ptr_nonnull(strstr(*why, reason));
    *why = NULL;
}

#define NO_PERMANENT "no Manager without an expiration date"

/* The attack of scenario 1: the only permanent Manager gives herself an
 * expiry a minute ahead, and the space would have no Manager once it
 * passes. Refused with the reason; nothing written. */
START_TEST(test_last_manager_cannot_expire)
{
    char pa[SP_USER_ID_LEN], pb[SP_USER_ID_LEN];
    manager_perms(pa, pb);
    ck_assert_int_eq(sp_store_member_change(st, &alice, project, pb, 1, NULL, 0, 0, NULL), 0);
    int64_t before = events();
    const char *why = NULL;
    assert_refused(set_expiry(&alice, pa, MINUTE_MS, &why), &why, NO_PERMANENT);
    /* Nor with a role change on the side: staying Manager is not enough. */
    ck_assert_int_eq(sp_store_member_change(st, &alice, project, pa, 0, SP_ROLE_MANAGER, 1,
                                            sp_time_now_ms() + DAY_MS, NULL),
                     SP_ERR_DENIED);
    ck_assert_int_eq(events(), before);
    ck_assert_int_eq(permanent_managers(), 1);
    /* Clearing an expiry she does not have is no loss. */
    ck_assert_int_eq(set_expiry(&alice, pa, 0, NULL), 0);
}
END_TEST

/* The attack of scenario 2: Managers alice (for good) and bob (until
 * tomorrow). Alice may not step down, leave or give herself an expiry,
 * since bob counts only until tomorrow; bob, who expires anyway, may
 * step down or leave. */
START_TEST(test_expiring_manager_keeps_nothing)
{
    char pa[SP_USER_ID_LEN], pb[SP_USER_ID_LEN];
    manager_perms(pa, pb);
    ck_assert_int_eq(set_expiry(&alice, pb, DAY_MS, NULL), 0);
    int64_t before = events();
    const char *why = NULL;
    int rc = sp_store_member_change(st, &alice, project, pa, 0, SP_ROLE_SPACE_VIEWER, 0, 0, &why);
    assert_refused(rc, &why, NO_PERMANENT);
    rc = sp_store_member_change(st, &alice, project, pa, 1, NULL, 0, 0, &why);
    assert_refused(rc, &why, NO_PERMANENT);
    assert_refused(set_expiry(&alice, pa, 2 * DAY_MS, &why), &why, NO_PERMANENT);
    ck_assert_int_eq(events(), before);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM members WHERE id = ?1 AND expires_at IS NULL"
                             " AND role = '" SP_ROLE_MANAGER "'",
                             pa, NULL, NULL),
                     1);

    ck_assert_int_eq(
        sp_store_member_change(st, &bob, project, pb, 0, SP_ROLE_SPACE_EDITOR, 0, 0, NULL), 0);
    ck_assert_int_eq(sp_store_member_change(st, &bob, project, pb, 1, NULL, 0, 0, NULL), 0);
    ck_assert_int_eq(permanent_managers(), 1);
}
END_TEST

/* With two permanent Managers, either may give herself an expiry or
 * leave, as long as the other stays for good; then that other one is
 * the last and may not. */
START_TEST(test_two_permanent_managers)
{
    char pa[SP_USER_ID_LEN], pb[SP_USER_ID_LEN];
    manager_perms(pa, pb);
    ck_assert_int_eq(set_expiry(&alice, pa, DAY_MS, NULL), 0);
    ck_assert_int_eq(permanent_managers(), 1);
    const char *why = NULL;
    assert_refused(set_expiry(&bob, pb, DAY_MS, &why), &why, NO_PERMANENT);
    /* Alice stays Manager for good again, and so bob may leave. */
    ck_assert_int_eq(set_expiry(&bob, pa, 0, NULL), 0);
    ck_assert_int_eq(sp_store_member_change(st, &bob, project, pb, 1, NULL, 0, 0, NULL), 0);
    ck_assert_int_eq(permanent_managers(), 1);
    ck_assert_int_eq(sp_store_member_change(st, &alice, project, pa, 1, NULL, 0, 0, NULL),
                     SP_ERR_DENIED);
}
END_TEST

/* Data from before the rule: every Manager expires. The space has no
 * permanent Manager to keep, so expiries may change, but the last
 * unexpired Manager still may neither step down nor leave. */
START_TEST(test_no_permanent_manager_keeps_last)
{
    char pa[SP_USER_ID_LEN], pb[SP_USER_ID_LEN];
    manager_perms(pa, pb);
    expires_in(&alice, DAY_MS);
    expires_in(&bob, DAY_MS);
    ck_assert_int_eq(permanent_managers(), 0);
    ck_assert_int_eq(set_expiry(&alice, pa, 2 * DAY_MS, NULL), 0);
    ck_assert_int_eq(sp_store_member_change(st, &alice, project, pa, 1, NULL, 0, 0, NULL), 0);
    int64_t before = events();
    const char *why = NULL;
    assert_refused(sp_store_member_change(st, &bob, project, pb, 1, NULL, 0, 0, &why), &why,
                   "no Manager;");
    ck_assert_int_eq(
        sp_store_member_change(st, &bob, project, pb, 0, SP_ROLE_SPACE_VIEWER, 0, 0, NULL),
        SP_ERR_DENIED);
    ck_assert_int_eq(events(), before);
    ck_assert_int_eq(set_expiry(&bob, pb, 0, NULL), 0);
    ck_assert_int_eq(permanent_managers(), 1);
}
END_TEST

/* The sweeper writes one member.expired per expired membership, to the
 * member and the unexpired Managers, and none again on the next sweep. */
START_TEST(test_members_expire_once)
{
    expire(&vic);
    expire(&bob);
    int n = -1;
    ck_assert_int_eq(sp_store_members_expire(st, sp_time_now_ms(), &n), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM events WHERE type = ?1", SP_EVENT_MEMBER_EXPIRED, NULL, NULL),
                     2);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM members WHERE expired = 1", NULL, NULL, NULL), 2);
    const char *vic_event = "(SELECT seq FROM events WHERE type = '" SP_EVENT_MEMBER_EXPIRED "'"
                            " AND json_extract(data, '$.grantee') = ?1)";
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT group_concat(u.id) FROM (SELECT u.id FROM event_recipients r JOIN users u"
             " ON u.seq = r.user_seq WHERE r.event_seq = %s ORDER BY u.id) u",
             vic_event);
    sqlite3_stmt *s = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(raw, sql, -1, &s, NULL), SQLITE_OK);
    sqlite3_bind_text(s, 1, vic.id, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    char want[2 * SP_USER_ID_LEN + 2];
    int alice_first = strcmp(alice.id, vic.id) < 0;
    snprintf(want, sizeof want, "%s,%s", alice_first ? alice.id : vic.id,
             alice_first ? vic.id : alice.id);
    ck_assert_str_eq((const char *)sqlite3_column_text(s, 0), want); /* not bob: expired */
    sqlite3_finalize(s);
    snprintf(sql, sizeof sql,
             "SELECT json_extract(data, '$.role') = '" SP_ROLE_SPACE_VIEWER "'"
             " AND json_extract(data, '$.executant') = ?1"
             " AND json_extract(data, '$.expirationDateTime') = '1970-01-01T00:00:00.001Z'"
             " FROM events WHERE seq = (SELECT seq FROM events WHERE type = '"
             SP_EVENT_MEMBER_EXPIRED "' AND json_extract(data, '$.grantee') = '%s')",
             vic.id);
    ck_assert_int_eq(raw_int(sql, alice.id, NULL, NULL), 1);

    int64_t before = events();
    ck_assert_int_eq(sp_store_members_expire(st, sp_time_now_ms(), &n), 0);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(events(), before);
}
END_TEST

/* Inviting an expired member again replaces the membership: the old one's
 * expiry event is written once (by the invitation when the sweeper has not
 * yet), the new membership counts. An unexpired one still conflicts. */
START_TEST(test_member_readd_replaces_expired)
{
    char old[SP_USER_ID_LEN], perm[SP_USER_ID_LEN];
    perm_of(&vic, old);
    expire(&vic);
    ck_assert_int_eq(
        sp_store_member_add(st, &alice, project, vic.id, SP_ROLE_SPACE_EDITOR, 0, perm), 0);
    ck_assert_str_ne(perm, old);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM events WHERE type = ?1", SP_EVENT_MEMBER_EXPIRED, NULL, NULL),
                     1);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM members WHERE id = ?1 AND expires_at IS NULL"
                             " AND expired = 0 AND role = '" SP_ROLE_SPACE_EDITOR "'",
                             perm, NULL, NULL),
                     1);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM members WHERE id = ?1", old, NULL, NULL), 0);
    sp_authz a = {.act = SP_AUTHZ_SHARE, .actor = &vic, .drive_id = project, .item_id = "i"};
    ck_assert_int_eq(sp_store_authorize(st, &a), 0);

    expire(&erin);
    int n = -1;
    ck_assert_int_eq(sp_store_members_expire(st, sp_time_now_ms(), &n), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(
        sp_store_member_add(st, &alice, project, erin.id, SP_ROLE_SPACE_VIEWER, 0, perm), 0);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM events WHERE type = ?1", SP_EVENT_MEMBER_EXPIRED, NULL, NULL),
                     2);
    ck_assert_int_eq(sp_store_members_expire(st, sp_time_now_ms(), &n), 0);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(
        sp_store_member_add(st, &alice, project, erin.id, SP_ROLE_SPACE_VIEWER, 0, perm),
        SP_ERR_CONFLICT);
}
END_TEST

/* A personal drive's lifecycle is the admins': its owner, its Manager,
 * may neither disable, restore nor purge it. */
START_TEST(test_personal_drive_admin_only)
{
    char personal[SP_USER_ID_LEN];
    id_about("SELECT id FROM drives WHERE ?1 IS NOT NULL AND drive_type = 'personal'"
             " AND owner_seq = ?2",
             &bob, personal);
    sp_user admin = carol;
    admin.roles = SP_USER_ROLE_ADMIN;
    ck_assert_int_eq(sp_drive_step_act(SP_DRIVE_PURGE, NULL), SP_AUTHZ_DISABLE_DRIVE);
    ck_assert_int_eq(sp_drive_step_act(SP_DRIVE_RESTORE, NULL), SP_AUTHZ_DISABLE_DRIVE);
    sp_authz a = {.act = SP_AUTHZ_DISABLE_DRIVE, .actor = &bob, .drive_id = personal};
    ck_assert_int_eq(sp_store_authorize(st, &a), SP_ERR_DENIED);
    ck_assert_str_eq(a.role->id, SP_ROLE_MANAGER);
    a.actor = &admin;
    ck_assert_int_eq(sp_store_authorize(st, &a), 0);
    a.actor = &alice; /* a Manager of a project is no admin of bob's drive */
    ck_assert_int_eq(sp_store_authorize(st, &a), SP_ERR_NOT_FOUND);
    sp_user space_admin = alice; /* runs project spaces, not personal drives */
    space_admin.roles = SP_USER_ROLE_SPACE_ADMIN;
    const sp_authz_act acts[] = {SP_AUTHZ_DISABLE_DRIVE, SP_AUTHZ_SET_QUOTA,
                                 SP_AUTHZ_MANAGE_DRIVE};
    for (size_t i = 0; i < COUNT(acts); i++) {
        a = (sp_authz){.act = acts[i], .actor = &space_admin, .drive_id = personal};
        ck_assert_int_eq(sp_store_authorize(st, &a), SP_ERR_DENIED);
    }
    a = (sp_authz){.act = SP_AUTHZ_DISABLE_DRIVE, .actor = &bob, .drive_id = personal};

    ck_assert_int_eq(sp_store_drive_change(st, &space_admin, personal, SP_DRIVE_DISABLE, NULL),
                     SP_ERR_DENIED);
    ck_assert_int_eq(sp_store_drive_change(st, &admin, personal, SP_DRIVE_DISABLE, NULL), 0);
    int64_t before = events();
    ck_assert_int_eq(sp_store_drive_change(st, &bob, personal, SP_DRIVE_RESTORE, NULL),
                     SP_ERR_DENIED);
    ck_assert_int_eq(sp_store_drive_change(st, &bob, personal, SP_DRIVE_PURGE, NULL),
                     SP_ERR_DENIED);
    ck_assert_int_eq(events(), before);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM drives WHERE id = ?1", personal, NULL, NULL), 1);
    ck_assert_int_eq(sp_store_drive_change(st, &admin, personal, SP_DRIVE_PURGE, NULL), 0);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM drives WHERE id = ?1", personal, NULL, NULL), 0);
}
END_TEST

static TCase *tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_unchecked_fixture(tc, root_setup, fixture_root_teardown);
    tcase_add_checked_fixture(tc, setup, fixture_close);
    return tc;
}

static Suite *store_authz_suite(void)
{
    Suite *s = suite_create("store_authz");

    TCase *tc = tcase("rules");
    tcase_add_test(tc, test_rules);
    tcase_add_test(tc, test_rules_disabled_drive);
    suite_add_tcase(s, tc);

    tc = tcase("jobs");
    tcase_add_test(tc, test_job_check_holds);
    tcase_add_test(tc, test_job_actor_removed);
    tcase_add_test(tc, test_job_membership_expired);
    tcase_add_test(tc, test_job_actor_demoted);
    tcase_add_test(tc, test_job_drive_disabled);
    tcase_add_test(tc, test_job_share_removed);
    tcase_add_test(tc, test_job_share_moved_item);
    tcase_add_test(tc, test_job_member_invitation_refused);
    tcase_add_test(tc, test_job_refused_beside_another);
    tcase_add_test(tc, test_drive_change_actor_removed);
    suite_add_tcase(s, tc);

    tc = tcase("expiry");
    tcase_add_test(tc, test_expired_member_counts_nowhere);
    tcase_add_test(tc, test_expired_manager_not_counted);
    tcase_add_test(tc, test_last_manager_cannot_expire);
    tcase_add_test(tc, test_expiring_manager_keeps_nothing);
    tcase_add_test(tc, test_two_permanent_managers);
    tcase_add_test(tc, test_no_permanent_manager_keeps_last);
    tcase_add_test(tc, test_members_expire_once);
    tcase_add_test(tc, test_member_readd_replaces_expired);
    tcase_add_test(tc, test_personal_drive_admin_only);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    json_object_seed(0);
    return fixture_main(store_authz_suite());
}
