/*
 * test_store_ocm_outbound.c - unit tests of the outbound OCM queue's
 * store side (store/ocm.h): what the event log turns into deliveries.
 *
 * Events are written straight into the log, as the store's writers leave
 * them, so each case is the queue's reading of one situation:
 * - a share with a contact goes to the contact's instance with its OCM
 *   address, a file as "file", with its expiration;
 * - a new role queues one permission change, however many follow, none
 *   for the same role, and an unshare drops it unsent;
 * - a share received over OCM is answered accepted once (an event read
 *   again after a crash queues nothing), declined when its owner removes
 *   it, and not at all when the sender unshared it; the answer carries
 *   the sender's providerId and instance, and nothing is kept of a
 *   secret.
 */
#include "store_fixture.h"

#include "store/events.h"
#include "store/ocm.h"
#include "util/err.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZURICH    "https://zurich.test"
#define DRIVE     "d0000000-0000-4000-8000-000000000001"
#define FILE_ITEM DRIVE "!notes"

static sp_user alice;
static sp_ocm_cursor cursor;
static sp_ocm_delivery *due;

static void root_setup(void)
{
    fixture_root_setup_named("sp-store-ocm-outbound");
}

static void setup(void)
{
    fixture_open();
    fixture_user(&alice, "alice", "alice@sp.test");
    memset(&cursor, 0, sizeof cursor);
    due = calloc(8, sizeof *due);
}

static void teardown(void)
{
    free(due);
    fixture_close();
}

/* Appends an event to the log as the writers do. */
static void event(const char *type, const char *subject, const char *data)
{
    static int n;
    char id[32];
    snprintf(id, sizeof id, "ev-%d", ++n);
    sqlite3_stmt *s = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(raw,
                                        "INSERT INTO events (id, type, subject, time, data)"
                                        " VALUES (?1, ?2, ?3, 0, ?4)",
                                        -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, data, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
}

static void derive(void)
{
    int more = 0;
    ck_assert_int_eq(sp_store_ocm_derive(st, NULL, 0, 1, &cursor, &more), 0);
    ck_assert_int_eq(more, 0);
}

/* The deliveries due now. */
static int due_now(void)
{
    int n = 0;
    ck_assert_int_eq(sp_store_ocm_due(st, INT64_MAX / 2, due, 8, &n), 0);
    return n;
}

static int64_t count(const char *sql)
{
    return raw_int(sql, NULL, NULL, NULL);
}

#define VIEWER        "b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5"
#define EMAIL_GRANTEE "\"granteeEmail\":\"bob@elsewhere.test\""

/* A share event of type (share.json's data) of item, shared by alice
 * with role to grantee_json (members), and extra members. */
static void share_event(const char *type, const char *share_id, const char *item, const char *role,
                        const char *grantee_json, const char *extra)
{
    char data[2048];
    snprintf(data, sizeof data,
             "{\"shareId\":\"%s\",\"executant\":\"%s\",\"sharer\":\"%s\",\"driveId\":\"" DRIVE
             "\",\"driveName\":\"Physics\",\"itemId\":\"%s\",\"resourceName\":\"notes\","
             "\"roles\":[\"%s\"],%s%s}",
             share_id, alice.id, alice.id, item, role, grantee_json, extra);
    event(type, DRIVE, data);
}

static void share_created(const char *share_id, const char *item, const char *grantee_json,
                          const char *extra)
{
    share_event(SP_EVENT_SHARE_CREATED, share_id, item, VIEWER, grantee_json, extra);
}

static void share_updated(const char *share_id, const char *role)
{
    share_event(SP_EVENT_SHARE_UPDATED, share_id, DRIVE, role, EMAIL_GRANTEE, "");
}

START_TEST(contact_share_goes_to_its_instance)
{
    /* Storage described the item as a file. */
    raw_exec("INSERT INTO drives (id, drive_type, alias, name, etag, mtime, created_at)"
             " VALUES ('" DRIVE "', 'project', 'project/physics', 'Physics', 'e', 0, 0)",
             NULL, NULL, NULL);
    raw_exec("INSERT INTO items (drive_seq, id, parent_id, name, path, folder, etag, mtime)"
             " SELECT seq, '" FILE_ITEM "', '" DRIVE "', 'notes', '/notes', 0, 'e', 0"
             " FROM drives WHERE id = '" DRIVE "'",
             NULL, NULL, NULL);
    share_created("s-1", FILE_ITEM,
                  "\"ocmAddress\":\"richard@zurich.test\",\"instance\":\"" ZURICH "\"",
                  ",\"expirationDateTime\":\"2030-01-01T00:00:00Z\"");
    derive();
    ck_assert_int_eq(due_now(), 1);
    ck_assert_str_eq(due[0].kind, "share");
    ck_assert_str_eq(due[0].share_with, "richard@zurich.test");
    ck_assert_str_eq(due[0].instance, ZURICH);
    ck_assert_str_eq(due[0].resource_type, "file");
    ck_assert_int_eq(due[0].expiration, 1893456000);
    ck_assert_int_eq(due[0].reply_seq, 0);
    /* A drive root, and an item never described, are folders; an e-mail
     * grantee has no shareWith of its own and no instance yet. */
    share_created("s-2", DRIVE, EMAIL_GRANTEE, "");
    derive();
    ck_assert_int_eq(sp_store_ocm_finish(st, &due[0], SP_OCM_DELIVERED, ZURICH), 0);
    ck_assert_int_eq(due_now(), 1);
    ck_assert_str_eq(due[0].share_id, "s-2");
    ck_assert_str_eq(due[0].resource_type, "folder");
    ck_assert_str_eq(due[0].share_with, "");
    ck_assert_str_eq(due[0].instance, "");
    ck_assert_int_eq(due[0].expiration, 0);
}
END_TEST

START_TEST(permission_changes)
{
    share_created("s-1", DRIVE, EMAIL_GRANTEE, "");
    derive();
    ck_assert_int_eq(due_now(), 1);
    ck_assert_int_eq(sp_store_ocm_finish(st, &due[0], SP_OCM_DELIVERED, ZURICH), 0);
    /* The same role (an update of something else): nothing to tell. */
    share_updated("s-1", VIEWER);
    derive();
    ck_assert_int_eq(due_now(), 0);
    /* Two new roles: one delivery, which reads the newest. */
    share_updated("s-1", "fb6c3e19-e378-47e5-b277-9732f9de6e21");
    share_updated("s-1", "2d00ce52-1fc2-4dbc-8b95-a73b73395f5a");
    derive();
    ck_assert_int_eq(due_now(), 1);
    ck_assert_str_eq(due[0].kind, "permission");
    ck_assert_str_eq(due[0].role, "2d00ce52-1fc2-4dbc-8b95-a73b73395f5a");
    ck_assert_str_eq(due[0].instance, ZURICH);
    /* Revoked before it went out: only the unshare is left. */
    share_event(SP_EVENT_SHARE_DELETED, "s-1", DRIVE, VIEWER, EMAIL_GRANTEE, "");
    derive();
    ck_assert_int_eq(due_now(), 1);
    ck_assert_str_eq(due[0].kind, "unshared");
    ck_assert_int_eq(count("SELECT count(*) FROM ocm_outbox"), 1);
    /* A share not sent abroad: its role changes concern nobody. */
    share_updated("not-sent", "fb6c3e19-e378-47e5-b277-9732f9de6e21");
    derive();
    ck_assert_int_eq(count("SELECT count(*) FROM ocm_outbox"), 1);
}
END_TEST

static void remote(const char *type, const char *provider_id, const char *tail)
{
    char data[1024];
    snprintf(data, sizeof data,
             "{\"driveId\":\"m-%s\",\"driveName\":\"Photons\",\"driveType\":\"mountpoint\","
             "\"remoteDriveId\":\"%s\",\"webDavUrl\":\"" ZURICH
             "/dav/spaces/x\",\"instance\":\"" ZURICH
             "\",\"ocmShareId\":\"%s\",\"resourceType\":\"file\"%s}",
             provider_id, provider_id, provider_id, tail);
    event(type, "m-x", data);
}

START_TEST(answers_as_recipient)
{
    remote(SP_EVENT_REMOTE_REGISTERED, "p-1", ",\"origin\":\"ocm\"");
    /* Registered by URL: nobody to answer. */
    remote(SP_EVENT_REMOTE_REGISTERED, "p-url", ",\"origin\":\"url\"");
    derive();
    ck_assert_int_eq(due_now(), 1);
    ck_assert_str_eq(due[0].kind, "accepted");
    ck_assert_str_eq(due[0].share_id, "p-1");
    ck_assert_str_eq(due[0].instance, ZURICH);
    ck_assert_str_eq(due[0].resource_type, "file");
    ck_assert_int_eq(due[0].sent_seq, 0);
    ck_assert_int_ne(due[0].reply_seq, 0);
    ck_assert_str_eq(due[0].secret, "");
    /* The same event read again after a crash: not answered twice. */
    cursor.loaded = 0;
    raw_exec("UPDATE ocm_cursor SET event_seq = 0", NULL, NULL, NULL);
    derive();
    ck_assert_int_eq(count("SELECT count(*) FROM ocm_outbox"), 1);
    ck_assert_int_eq(sp_store_ocm_finish(st, &due[0], SP_OCM_DELIVERED, NULL), 0);
    /* Removed because the sender unshared it: no answer. */
    remote(SP_EVENT_REMOTE_REMOVED, "p-1", ",\"origin\":\"ocm\",\"reason\":\"unshared\"");
    derive();
    ck_assert_int_eq(due_now(), 0);
    /* Removed by its owner: declined. */
    remote(SP_EVENT_REMOTE_REMOVED, "p-1", ",\"origin\":\"ocm\",\"reason\":\"deleted\"");
    derive();
    ck_assert_int_eq(due_now(), 1);
    ck_assert_str_eq(due[0].kind, "declined");
    ck_assert_str_eq(due[0].share_id, "p-1");
    /* A sender that no longer knows the share: the answer is dropped. */
    ck_assert_int_eq(sp_store_ocm_finish(st, &due[0], SP_OCM_REFUSED, NULL), 0);
    ck_assert_int_eq(due_now(), 0);
    char answer[16];
    raw_text(answer, sizeof answer,
             "SELECT answer FROM ocm_replies WHERE instance = ?1 AND provider_id = ?2", ZURICH,
             "p-1", NULL);
    ck_assert_str_eq(answer, "declined");
}
END_TEST

static Suite *ocm_outbound_suite(void)
{
    Suite *s = suite_create("store_ocm_outbound");
    TCase *tc = tcase_create("ocm_outbound");
    tcase_add_unchecked_fixture(tc, root_setup, fixture_root_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, contact_share_goes_to_its_instance);
    tcase_add_test(tc, permission_changes);
    tcase_add_test(tc, answers_as_recipient);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_main(ocm_outbound_suite());
}
