/*
 * test_store_items.c - what storage said of items (src/store/items.c) and
 * each user's view of the shares they received (share_states.c): a
 * description reaches share lists and event data; a shared item that was
 * never described shows its fallback and is filled in once it is; a
 * removal forgets it; the bound drops the oldest unshared items and never
 * a shared one; mounting, unmounting and hiding act on every share of one
 * item the user received, are theirs alone, and write one event each.
 */
#include "store/changes.h"
#include "store/drives.h"
#include "store/events.h"
#include "store/items.h"
#include "store/roles.h"
#include "store/shares.h"
#include "store_fixture.h"

#include "util/err.h"
#include "util/log.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sp_user alice, bob, carol;
static char project[SP_USER_ID_LEN];
static char item_f[128], item_dir[128];
static int change_no;

static void root_setup(void)
{
    fixture_root_setup_named("sp-store-items");
}

static void setup(void)
{
    fixture_open();
    fixture_user(&alice, "alice", NULL);
    fixture_user(&bob, "bob", NULL);
    fixture_user(&carol, "carol", NULL);
    ck_assert_int_eq(sp_store_drive_create(st, &alice, "Project", NULL, -1, project), 0);
    snprintf(item_f, sizeof item_f, "%s!f", project);
    snprintf(item_dir, sizeof item_dir, "%s!dir", project);
}

/* Applies one storage change of the project about item with the n item
 * descriptions; returns its outcome. */
static int report(const char *item, const sp_item *items, size_t n)
{
    char id[32];
    snprintf(id, sizeof id, "change-%d", ++change_no);
    sp_storage_change c = {.event_id = id,
                           .drive_id = project,
                           .item_id = item,
                           .etag = "drive-etag",
                           .mtime_ms = 1000,
                           .change = "updated",
                           .items = items,
                           .item_count = n};
    int outcome = -1;
    ck_assert_int_eq(sp_store_storage_changes(st, &c, 1, &outcome), 0);
    return outcome;
}

/* The description of a file (or folder) of the project under dir. */
static sp_item file_item(const char *id, const char *name, const char *etag)
{
    static char path[8][300];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 300, "/dir/%s", name);
    return (sp_item){.drive_id = project,
                     .id = id,
                     .parent_id = item_dir,
                     .name = name,
                     .path = p,
                     .folder = 0,
                     .size = 42,
                     .etag = etag,
                     .mtime_ms = 2000,
                     .mime_type = "text/plain"};
}

static int share_with(const sp_user *grantee, const char *item, const char *given_name)
{
    sp_share_grantee g = {.user_id = grantee->id};
    sp_share_made made;
    return sp_store_share_create(st, &alice, project, item, given_name, &g, SP_ROLE_VIEWER, 0,
                                 &made);
}

/* What bob's list of shares received says of its first share. */
typedef struct seen {
    int count, known, mounted, hidden, folder;
    int64_t size;
    char name[256], parent[256], etag[64];
} seen;

static int keep(const sp_share *s, void *arg)
{
    seen *v = arg;
    if (v->count++)
        return 0;
    v->known = s->item_known;
    v->mounted = s->mounted;
    v->hidden = s->hidden;
    snprintf(v->name, sizeof v->name, "%s", s->item_name);
    snprintf(v->parent, sizeof v->parent, "%s", s->item_known && s->item.parent_id
                                                     ? s->item.parent_id : "");
    snprintf(v->etag, sizeof v->etag, "%s", s->item_known ? s->item.etag : "");
    v->folder = s->item.folder;
    v->size = s->item.size;
    return 0;
}

static seen received(const sp_user *u)
{
    seen v = {0};
    ck_assert_int_eq(sp_store_shares_received(st, u, keep, &v), 0);
    return v;
}

static int64_t count(const char *sql, const char *p1)
{
    return raw_int(sql, p1, NULL, NULL);
}

/* The data of the newest event of type, into out. */
static void last_data(const char *type, char *out, size_t len)
{
    ck_assert(raw_text(out, len, "SELECT data FROM events WHERE type = ?1 ORDER BY seq DESC"
                                 " LIMIT 1", type, NULL, NULL));
}

START_TEST(fallback_then_described_then_removed)
{
    /* Shared before storage said anything: the opaque part of the id
     * stands in for the name the client did not give. */
    ck_assert_int_eq(share_with(&bob, item_f, item_f), 0);
    seen v = received(&bob);
    ck_assert_int_eq(v.count, 1);
    ck_assert_int_eq(v.known, 0);
    ck_assert_str_eq(v.name, "f");
    char data[4096];
    last_data(SP_EVENT_SHARE_CREATED, data, sizeof data);
    ck_assert_ptr_null(strstr(data, "parentItemId"));

    /* Storage describes it: the list and the next events show it. */
    sp_item it = file_item(item_f, "report.txt", "etag-1");
    ck_assert_int_eq(report(item_f, &it, 1), SP_CHANGE_APPLIED);
    v = received(&bob);
    ck_assert_int_eq(v.known, 1);
    ck_assert_str_eq(v.name, "report.txt");
    ck_assert_str_eq(v.parent, item_dir);
    ck_assert_str_eq(v.etag, "etag-1");
    ck_assert_int_eq(v.size, 42);
    ck_assert_int_eq(v.folder, 0);
    last_data(SP_EVENT_ITEM_CHANGED, data, sizeof data);
    ck_assert_ptr_nonnull(strstr(data, "\"parentItemId\":\""));
    ck_assert_ptr_nonnull(strstr(data, "\"itemETag\":\"etag-1\""));

    /* Renamed: the share's events name it as it is now. */
    it = file_item(item_f, "final.txt", "etag-2");
    ck_assert_int_eq(report(item_f, &it, 1), SP_CHANGE_APPLIED);
    ck_assert_str_eq(received(&bob).name, "final.txt");
    ck_assert_int_eq(share_with(&carol, item_f, ""), 0);
    last_data(SP_EVENT_SHARE_CREATED, data, sizeof data);
    ck_assert_ptr_nonnull(strstr(data, "\"resourceName\":\"final.txt\""));
    ck_assert_ptr_nonnull(strstr(data, "\"itemETag\":\"etag-2\""));

    /* Removed: forgotten, and the share shows the fallback again. */
    sp_item gone = {.drive_id = project, .id = item_f, .removed = 1};
    ck_assert_int_eq(report(item_f, &gone, 1), SP_CHANGE_APPLIED);
    ck_assert_int_eq(count("SELECT count(*) FROM items WHERE id = ?1", item_f), 0);
    v = received(&bob);
    ck_assert_int_eq(v.known, 0);
    ck_assert_str_eq(v.name, "f");
}
END_TEST

static int found_item(const sp_item *it, void *arg)
{
    snprintf(arg, 64, "%s", it->name);
    return 0;
}

START_TEST(root_falls_back_to_drive_name)
{
    ck_assert_int_eq(share_with(&bob, project, "Project"), 0);
    seen v = received(&bob);
    ck_assert_str_eq(v.name, "Project");
    sp_item root = {.drive_id = project, .id = project, .name = "Renamed root", .path = "/",
                    .folder = 1, .etag = "r", .mtime_ms = 5};
    ck_assert_int_eq(report(NULL, &root, 1), SP_CHANGE_APPLIED);
    char name[64] = "";
    ck_assert_int_eq(sp_store_item_get(st, project, project, found_item, name), 0);
    ck_assert_str_eq(name, "Renamed root");
    v = received(&bob);
    ck_assert_str_eq(v.name, "Renamed root");
    ck_assert_int_eq(v.folder, 1);
    ck_assert_str_eq(v.parent, "");
}
END_TEST

/* Items of a drive nobody knows are not kept: the change is refused
 * whole. */
START_TEST(unknown_drive_keeps_nothing)
{
    sp_item it = file_item("nodrive!x", "x", "e");
    it.drive_id = "nodrive";
    sp_storage_change c = {.event_id = "nd",
                           .drive_id = "nodrive",
                           .etag = "e",
                           .mtime_ms = 1,
                           .change = "updated",
                           .items = &it,
                           .item_count = 1};
    int outcome;
    ck_assert_int_eq(sp_store_storage_changes(st, &c, 1, &outcome), 0);
    ck_assert_int_eq(outcome, SP_CHANGE_UNKNOWN_DRIVE);
    ck_assert_int_eq(count("SELECT count(*) FROM items", NULL), 0);
}
END_TEST

/* With room for two unshared items, the oldest reported go first; a
 * shared item stays whatever the bound, and reporting an item again
 * makes it the newest. */
START_TEST(bound_keeps_shared_and_newest)
{
    sp_store_items_limit(st, 2);
    ck_assert_int_eq(share_with(&bob, item_f, ""), 0);
    sp_item shared = file_item(item_f, "shared.txt", "s");
    ck_assert_int_eq(report(item_f, &shared, 1), SP_CHANGE_APPLIED);
    char ids[5][128];
    for (int i = 0; i < 5; i++) {
        snprintf(ids[i], sizeof ids[i], "%s!n%d", project, i);
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        sp_item it = file_item(ids[i], name, "e");
        ck_assert_int_eq(report(ids[i], &it, 1), SP_CHANGE_APPLIED);
        if (i == 2) {
            /* n0 is reported again: newer than n1 and n2 now. */
            sp_item again = file_item(ids[0], "n0", "e2");
            ck_assert_int_eq(report(ids[0], &again, 1), SP_CHANGE_APPLIED);
        }
    }
    /* Reported last: n4, n3; then n0 (again), n2, n1. */
    ck_assert_int_eq(count("SELECT count(*) FROM items", NULL), 3);
    ck_assert_int_eq(count("SELECT count(*) FROM items WHERE id = ?1", item_f), 1);
    ck_assert_int_eq(count("SELECT count(*) FROM items WHERE id = ?1", ids[4]), 1);
    ck_assert_int_eq(count("SELECT count(*) FROM items WHERE id = ?1", ids[3]), 1);
    ck_assert_str_eq(received(&bob).name, "shared.txt");

    /* A bound of zero keeps only what is shared. */
    sp_store_items_limit(st, 0);
    sp_item one_more = file_item(ids[1], "n1", "e");
    ck_assert_int_eq(report(ids[1], &one_more, 1), SP_CHANGE_APPLIED);
    ck_assert_int_eq(count("SELECT count(*) FROM items", NULL), 1);
    ck_assert_int_eq(count("SELECT count(*) FROM items WHERE id = ?1", item_f), 1);
}
END_TEST

/* Pruning reads every item, so it runs once the table has grown by a
 * sixteenth of the bound past what the last pruning left, not on every
 * report: with shares on more items than that, a table at the bound
 * was read whole by every storage change, under the write lock. */
START_TEST(bound_prunes_in_steps)
{
    sp_store_items_limit(st, 32); /* a slack of 2 */
    char ids[48][128];
    for (int i = 0; i < 5; i++) {
        snprintf(ids[i], sizeof ids[i], "%s!s%d", project, i);
        ck_assert_int_eq(share_with(&bob, ids[i], ""), 0);
        sp_item it = file_item(ids[i], "s", "e");
        ck_assert_int_eq(report(ids[i], &it, 1), SP_CHANGE_APPLIED);
    }
    int64_t most = 0, deferred = 0;
    for (int i = 5; i < 48; i++) {
        snprintf(ids[i], sizeof ids[i], "%s!n%d", project, i);
        sp_item it = file_item(ids[i], "n", "e");
        ck_assert_int_eq(report(ids[i], &it, 1), SP_CHANGE_APPLIED);
        int64_t n = count("SELECT count(*) FROM items", NULL);
        most = n > most ? n : most;
        deferred += n > 32 + 5;
    }
    ck_assert_int_le(most, 32 + 5 + 2);
    ck_assert_int_gt(deferred, 0);
    /* Every shared item stays, and the newest unshared one. */
    ck_assert_int_eq(count("SELECT count(*) FROM items WHERE name = 's'", NULL), 5);
    ck_assert_int_eq(count("SELECT count(*) FROM items WHERE id = ?1", ids[47]), 1);
}
END_TEST

/* Whether the plan of sql (on the raw connection) scans table shares
 * whole rather than searching an index of it. */
static int scans_shares(const char *sql)
{
    char eqp[512];
    snprintf(eqp, sizeof eqp, "EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *q;
    ck_assert_int_eq(sqlite3_prepare_v2(raw, eqp, -1, &q, NULL), SQLITE_OK);
    int scans = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(q, 3);
        if (detail && (strcmp(detail, "SCAN s") == 0 || strcmp(detail, "SCAN shares") == 0))
            scans = 1;
    }
    sqlite3_finalize(q);
    return scans;
}

/* The bound's pruning asks, for every item it may drop, whether a share
 * has it (items.c's SQL_PRUNE, copied here), and mounting or hiding finds
 * a user's shares by item id (share_states.c): with no index of shares by
 * item, each of those questions read every share, so that one storage
 * change past the bound cost items x shares steps under the write lock. */
START_TEST(shares_of_an_item_are_searched_not_scanned)
{
    ck_assert(!scans_shares(
        "DELETE FROM items WHERE seq IN (SELECT i.seq FROM items i WHERE NOT EXISTS"
        " (SELECT 1 FROM shares s WHERE s.drive_seq = i.drive_seq AND s.item_id = i.id)"
        " ORDER BY i.seq DESC LIMIT -1 OFFSET 5)"));
    ck_assert(!scans_shares("SELECT s.seq FROM shares s WHERE s.item_id = 'x'"));
}
END_TEST

/* The drives user lists: how many mountpoints. */
static int count_mountpoint(const sp_drive *d, void *arg)
{
    if (strcmp(d->type, "mountpoint") == 0)
        ++*(int *)arg;
    return 0;
}

static int mountpoints(const sp_user *u)
{
    sp_drive_query q = {.order = SP_DRIVE_ORDER_NAME_ASC, .top = 100};
    int n = 0;
    ck_assert_int_eq(sp_store_drives_list(st, u, 0, &q, count_mountpoint, &n, NULL, NULL), 0);
    return n;
}

static int64_t events_for(const char *type, const sp_user *u)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM events e JOIN event_recipients r ON r.event_seq = e.seq"
             " WHERE e.type = ?1 AND r.user_seq = %lld",
             (long long)u->seq);
    return raw_int(sql, type, NULL, NULL);
}

START_TEST(mount_unmount_hide_are_the_users_own)
{
    ck_assert_int_eq(share_with(&bob, item_f, ""), 0);
    ck_assert_int_eq(share_with(&carol, item_f, ""), 0);
    char mount[64];
    ck_assert(raw_text(mount, sizeof mount,
                       "SELECT s.mount_id FROM shares s JOIN users u ON u.seq = s.grantee_seq"
                       " WHERE u.id = ?1", bob.id, NULL, NULL));
    seen v = received(&bob);
    ck_assert_int_eq(v.mounted, 1);
    ck_assert_int_eq(v.hidden, 0);
    ck_assert_int_eq(mountpoints(&bob), 1);
    ck_assert_int_eq(count("SELECT count(*) FROM share_states", NULL), 0);

    char item[SP_SHARE_ITEM_ID_MAX];
    /* Mounted from the start: mounting again is a conflict. */
    ck_assert_int_eq(sp_store_share_state_set(st, &bob, item_f, NULL, SP_SHARE_MOUNTED, 1, item),
                     SP_ERR_CONFLICT);
    ck_assert_int_eq(sp_store_share_state_set(st, &bob, NULL, mount, SP_SHARE_MOUNTED, 0, item),
                     0);
    ck_assert_str_eq(item, item_f);
    ck_assert_int_eq(received(&bob).mounted, 0);
    ck_assert_int_eq(mountpoints(&bob), 0);
    ck_assert_int_eq(events_for(SP_EVENT_SHARE_UNMOUNTED, &bob), 1);
    /* carol's view did not change, and she heard nothing. */
    ck_assert_int_eq(received(&carol).mounted, 1);
    ck_assert_int_eq(mountpoints(&carol), 1);
    ck_assert_int_eq(events_for(SP_EVENT_SHARE_UNMOUNTED, &carol), 0);
    ck_assert_int_eq(events_for(SP_EVENT_SHARE_UNMOUNTED, &alice), 0);
    ck_assert_int_eq(sp_store_share_state_set(st, &bob, NULL, mount, SP_SHARE_MOUNTED, 0, item),
                     SP_ERR_CONFLICT);

    /* Hidden twice: one event, no error. */
    ck_assert_int_eq(sp_store_share_state_set(st, &bob, NULL, mount, SP_SHARE_HIDDEN, 1, item), 0);
    ck_assert_int_eq(sp_store_share_state_set(st, &bob, NULL, mount, SP_SHARE_HIDDEN, 1, item), 0);
    ck_assert_int_eq(events_for(SP_EVENT_SHARE_HIDDEN, &bob), 1);
    ck_assert_int_eq(received(&bob).hidden, 1);
    ck_assert_int_eq(received(&carol).hidden, 0);

    /* Mounted again through the item id, still hidden. */
    ck_assert_int_eq(sp_store_share_state_set(st, &bob, item_f, NULL, SP_SHARE_MOUNTED, 1, item),
                     0);
    v = received(&bob);
    ck_assert_int_eq(v.mounted, 1);
    ck_assert_int_eq(v.hidden, 1);
    ck_assert_int_eq(mountpoints(&bob), 1);
    char data[2048];
    last_data(SP_EVENT_SHARE_MOUNTED, data, sizeof data);
    ck_assert_ptr_nonnull(strstr(data, "\"mounted\":true"));
    ck_assert_ptr_nonnull(strstr(data, "\"hidden\":true"));

    /* Someone who received nothing of it: not found, nothing written. */
    int64_t before = count("SELECT count(*) FROM events", NULL);
    ck_assert_int_eq(sp_store_share_state_set(st, &alice, NULL, mount, SP_SHARE_HIDDEN, 1, item),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(sp_store_share_state_set(st, &alice, item_f, NULL, SP_SHARE_MOUNTED, 1, item),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(count("SELECT count(*) FROM events", NULL), before);

    /* A removed share takes its state along. */
    char share_id[64];
    ck_assert(raw_text(share_id, sizeof share_id, "SELECT id FROM shares WHERE mount_id = ?1",
                       mount, NULL, NULL));
    ck_assert_int_eq(sp_store_share_change(st, &alice, share_id, 1, NULL, 0, 0), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM share_states", NULL), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_items");
    TCase *tc = tcase_create("items");
    tcase_add_unchecked_fixture(tc, root_setup, fixture_root_teardown);
    tcase_add_checked_fixture(tc, setup, fixture_close);
    tcase_add_test(tc, fallback_then_described_then_removed);
    tcase_add_test(tc, root_falls_back_to_drive_name);
    tcase_add_test(tc, unknown_drive_keeps_nothing);
    tcase_add_test(tc, bound_keeps_shared_and_newest);
    tcase_add_test(tc, shares_of_an_item_are_searched_not_scanned);
    tcase_add_test(tc, bound_prunes_in_steps);
    tcase_add_test(tc, mount_unmount_hide_are_the_users_own);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_main(suite());
}
