/*
 * test_store_drives.c - the store's users, drives and members:
 * provisioning on first sight, listing with keyset paging, visibility, the
 * drive lifecycle and space membership.
 *
 * Each test runs on a fresh database in its own temporary directory. What
 * the API does not hand back (event rows and their recipients, NULL
 * columns, updated_at) is read with a second SQLite connection on the same
 * file, as an operator would.
 */
#include "store/roles.h"
#include "store/drives.h"
#include "store/events.h"
#include "store/store.h"
#include "store/users.h"
#include "store_fixture.h"
#include "util/err.h"
#include "util/log.h"

#include <check.h>
#include <ctype.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ISSUER       "https://idp.example.test"
#define OTHER_ISSUER "https://other-idp.example.test"

/* Enough rows for every listing below (the paging tests hold 24 drives). */
#define ROWS_MAX    64
#define MEMBERS_MAX 16
/* Provisioning threads racing for one new user, and how many races. */
#define RACE_THREADS 4
#define RACE_ROUNDS  8

/* ---- fixtures (store_fixture.c: one directory per test case, one
 * directory, store and raw connection per test) ---- */

static void root_setup(void)
{
    fixture_root_setup_named("sp-store-drives");
}

static int64_t event_count(void)
{
    return raw_int("SELECT count(*) FROM events", NULL, NULL, NULL);
}

static int64_t events_of(const char *type, const char *subject)
{
    return raw_int("SELECT count(*) FROM events WHERE type = ?1 AND subject = ?2", type, subject,
                   NULL);
}

/* A field of the newest event of type about subject (path like "$.x"). Returns
 * 1 when present. */
static int event_field(const char *type, const char *subject, const char *path, char *out,
                       size_t len)
{
    return raw_text(out, len,
                    "SELECT json_extract(data, ?3) FROM events WHERE seq ="
                    " (SELECT max(seq) FROM events WHERE type = ?1 AND subject = ?2)",
                    type, subject, path);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Checks that the newest event of type about subject exists and reaches
 * exactly the users ids[0..n). */
static void assert_recipients(const char *type, const char *subject, const char **ids, size_t n)
{
    ck_assert_int_ge(events_of(type, subject), 1);
    const char *sorted[MEMBERS_MAX];
    ck_assert_uint_le(n, MEMBERS_MAX);
    memcpy(sorted, ids, n * sizeof *ids);
    qsort(sorted, n, sizeof *sorted, cmp_str);
    char want[MEMBERS_MAX * SP_USER_ID_LEN] = "";
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(want, ",");
        strcat(want, sorted[i]);
    }
    char got[MEMBERS_MAX * SP_USER_ID_LEN];
    raw_text(got, sizeof got,
             "SELECT coalesce(group_concat(id, ','), '') FROM (SELECT u.id AS id"
             " FROM event_recipients r JOIN users u ON u.seq = r.user_seq"
             " WHERE r.event_seq = (SELECT max(seq) FROM events WHERE type = ?1 AND subject = ?2)"
             " ORDER BY u.id)",
             type, subject, NULL);
    ck_assert_str_eq(got, want);
}

/* ---- users ---- */

static sp_user_claims claims_for(const char *issuer, const char *sub, const char *username,
                                 const char *display_name, const char *email, unsigned roles)
{
    sp_user_claims c = {
        .issuer = issuer,
        .sub = sub,
        .username = username,
        .display_name = display_name,
        .email = email,
        .roles = roles,
    };
    return c;
}

/* Provisions user name (sub and user name name, display name Name,
 * e-mail name@example.test) and checks it is new. */
static void make_user(sp_user *u, const char *name, const char *display_name)
{
    char email[64];
    snprintf(email, sizeof email, "%s@example.test", name);
    sp_user_claims c = claims_for(ISSUER, name, name, display_name, email, 0);
    int created = 0;
    ck_assert_int_eq(sp_store_user_provision(st, &c, u, &created), 0);
    ck_assert_int_eq(created, 1);
}

static void personal_drive_id(const sp_user *u, char out[SP_USER_ID_LEN])
{
    raw_text(out, SP_USER_ID_LEN,
             "SELECT d.id FROM drives d JOIN users u ON u.seq = d.owner_seq"
             " WHERE u.id = ?1 AND d.drive_type = 'personal'",
             u->id, NULL, NULL);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- drive rows as the API hands them out ---- */

typedef struct drive_row {
    int64_t seq;
    char id[SP_USER_ID_LEN];
    char type[16];
    char alias[256];
    char name[128];
    char key[128]; /* name in ASCII lower case */
    char description[128];
    char owner_id[SP_USER_ID_LEN];
    char role[SP_USER_ID_LEN]; /* "" when none */
    int64_t quota_total;
    int64_t mtime_ms;
    int64_t disabled_at_ms;
} drive_row;

typedef struct drive_rows {
    size_t n;
    drive_row row[ROWS_MAX];
} drive_rows;

static void copy_str(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

static int collect_drive(const sp_drive *d, void *ctx)
{
    drive_rows *rows = ctx;
    ck_assert_uint_lt(rows->n, ROWS_MAX);
    drive_row *r = &rows->row[rows->n++];
    r->seq = d->seq;
    copy_str(r->id, sizeof r->id, d->id);
    copy_str(r->type, sizeof r->type, d->type);
    copy_str(r->alias, sizeof r->alias, d->alias);
    copy_str(r->name, sizeof r->name, d->name);
    for (size_t i = 0; i < sizeof r->key; i++) {
        r->key[i] = (char)tolower((unsigned char)r->name[i]);
        if (!r->name[i])
            break;
    }
    copy_str(r->description, sizeof r->description, d->description);
    copy_str(r->owner_id, sizeof r->owner_id, d->owner_id);
    copy_str(r->role, sizeof r->role, d->role);
    r->quota_total = d->quota_total;
    r->mtime_ms = d->mtime_ms;
    r->disabled_at_ms = d->disabled_at_ms;
    return 0;
}

/* Lists in one page everything user reaches (every drive with all). */
static int list_drives(const sp_user *u, int all, const char *type, const char *id,
                       sp_drive_order order, drive_rows *out)
{
    memset(out, 0, sizeof *out);
    sp_drive_query q = {.type = type, .id = id, .order = order, .top = SP_DRIVE_TOP_MAX};
    int more = -1;
    sp_drive_cursor next = {0};
    int rc = sp_store_drives_list(st, u, all, &q, collect_drive, out, &more, &next);
    if (rc == 0)
        ck_assert_int_eq(more, 0);
    return rc;
}

static const drive_row *find_row(const drive_rows *rows, const char *id)
{
    for (size_t i = 0; i < rows->n; i++) {
        if (strcmp(rows->row[i].id, id) == 0)
            return &rows->row[i];
    }
    return NULL;
}

static int get_drive(const sp_user *u, int as_admin, const char *id, drive_row *out)
{
    drive_rows rows = {0};
    int rc = sp_store_drive_get(st, u, as_admin, id, collect_drive, &rows);
    if (rc == 0) {
        ck_assert_uint_eq(rows.n, 1);
        *out = rows.row[0];
    } else {
        ck_assert_uint_eq(rows.n, 0);
    }
    return rc;
}

static int64_t drive_seq_of(const char *id)
{
    return raw_int("SELECT seq FROM drives WHERE id = ?1", id, NULL, NULL);
}

static void create_drive(const sp_user *creator, const char *name, char id[SP_USER_ID_LEN])
{
    ck_assert_int_eq(sp_store_drive_create(st, creator, name, NULL, -1, id), 0);
}

static void set_mtime(const char *id, int64_t mtime)
{
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)mtime);
    raw_exec("UPDATE drives SET mtime = CAST(?2 AS INTEGER) WHERE id = ?1", id, v, NULL);
}

/* The order sp_drive_order promises: the sort key, then the id, both
 * reversed for the descending orders. */
static int cmp_rows(const void *a, const void *b, void *ctx)
{
    const drive_row *x = a, *y = b;
    sp_drive_order order = *(const sp_drive_order *)ctx;
    int c;
    if (order == SP_DRIVE_ORDER_NAME_ASC || order == SP_DRIVE_ORDER_NAME_DESC)
        c = strcmp(x->key, y->key);
    else
        c = (x->mtime_ms > y->mtime_ms) - (x->mtime_ms < y->mtime_ms);
    if (c == 0)
        c = strcmp(x->id, y->id);
    return order == SP_DRIVE_ORDER_NAME_DESC || order == SP_DRIVE_ORDER_MTIME_DESC ? -c : c;
}

static void assert_sorted(const drive_rows *got, sp_drive_order order)
{
    drive_rows *want = malloc(sizeof *want);
    ck_assert_ptr_nonnull(want);
    *want = *got;
    qsort_r(want->row, want->n, sizeof want->row[0], cmp_rows, &order);
    for (size_t i = 0; i < got->n; i++)
        ck_assert_msg(strcmp(got->row[i].id, want->row[i].id) == 0,
                      "order %d: row %zu is %s (%s, %lld), want %s (%s, %lld)", (int)order, i,
                      got->row[i].id, got->row[i].name, (long long)got->row[i].mtime_ms,
                      want->row[i].id, want->row[i].name, (long long)want->row[i].mtime_ms);
    free(want);
}

/* Pages through the listing with top rows a page, following the returned
 * cursor, and checks the rows come exactly as in expect, each once, with
 * more set on every page but the last. */
static void page_through(const sp_user *u, int all, sp_drive_order order, int top,
                         const drive_rows *expect)
{
    sp_drive_query q = {.order = order, .top = top};
    drive_rows *page = malloc(sizeof *page);
    ck_assert_ptr_nonnull(page);
    size_t seen = 0;
    int pages = 0, more;
    do {
        memset(page, 0, sizeof *page);
        sp_drive_cursor next = {0};
        more = -1;
        ck_assert_int_eq(sp_store_drives_list(st, u, all, &q, collect_drive, page, &more, &next),
                         0);
        pages++;
        ck_assert_msg(more == 0 || more == 1, "more is %d", more);
        ck_assert_uint_le(page->n, (size_t)top);
        if (more) {
            ck_assert_uint_eq(page->n, (size_t)top);
            ck_assert_int_eq(next.set, 1);
        }
        for (size_t i = 0; i < page->n; i++) {
            ck_assert_msg(seen < expect->n, "order %d top %d all %d: extra row %s", (int)order, top,
                          all, page->row[i].id);
            ck_assert_msg(strcmp(page->row[i].id, expect->row[seen].id) == 0,
                          "order %d top %d all %d page %d: row %zu is %s (%s), want %s (%s)",
                          (int)order, top, all, pages, seen, page->row[i].id, page->row[i].name,
                          expect->row[seen].id, expect->row[seen].name);
            seen++;
        }
        q.after = next;
        ck_assert_int_le(pages, (int)expect->n + 1);
    } while (more);
    free(page);
    ck_assert_uint_eq(seen, expect->n);
    ck_assert_int_eq(pages, (int)((expect->n + (size_t)top - 1) / (size_t)top));
}

/* ---- members ---- */

typedef struct member_row {
    char id[SP_USER_ID_LEN];
    char role[SP_USER_ID_LEN];
    char user_id[SP_USER_ID_LEN];
    char user_name[64];
    int64_t expires_at_ms;
} member_row;

typedef struct member_rows {
    size_t n;
    member_row row[MEMBERS_MAX];
} member_rows;

static int collect_member(const sp_member *m, void *ctx)
{
    member_rows *rows = ctx;
    ck_assert_uint_lt(rows->n, MEMBERS_MAX);
    member_row *r = &rows->row[rows->n++];
    copy_str(r->id, sizeof r->id, m->id);
    copy_str(r->role, sizeof r->role, m->role);
    copy_str(r->user_id, sizeof r->user_id, m->user_id);
    copy_str(r->user_name, sizeof r->user_name, m->user_name);
    r->expires_at_ms = m->expires_at_ms;
    return 0;
}

static void list_members(const char *drive_id, member_rows *out)
{
    memset(out, 0, sizeof *out);
    ck_assert_int_eq(sp_store_members_list(st, drive_seq_of(drive_id), collect_member, out), 0);
}

static const member_row *member_of(const member_rows *rows, const sp_user *u)
{
    for (size_t i = 0; i < rows->n; i++) {
        if (strcmp(rows->row[i].user_id, u->id) == 0)
            return &rows->row[i];
    }
    return NULL;
}

/* The permission id of u's membership of drive_id. */
static void perm_of(const char *drive_id, const sp_user *u, char out[SP_USER_ID_LEN])
{
    raw_text(out, SP_USER_ID_LEN,
             "SELECT m.id FROM members m JOIN drives d ON d.seq = m.drive_seq"
             " JOIN users u ON u.seq = m.user_seq WHERE d.id = ?1 AND u.id = ?2",
             drive_id, u->id, NULL);
}

/* ---- provisioning ---- */

START_TEST(test_provision_first_sight)
{
    sp_user_claims c = claims_for(ISSUER, "sub-alice", "alice", "Alice Liddell",
                                  "alice@example.test", SP_USER_ROLE_SPACE_ADMIN);
    sp_user u;
    int created = -1;
    ck_assert_int_eq(sp_store_user_provision(st, &c, &u, &created), 0);
    ck_assert_int_eq(created, 1);
    ck_assert_int_gt(u.seq, 0);
    ck_assert_uint_eq(strlen(u.id), 36);
    ck_assert_str_eq(u.issuer, ISSUER);
    ck_assert_str_eq(u.username, "alice");
    ck_assert_str_eq(u.display_name, "Alice Liddell");
    ck_assert_str_eq(u.email, "alice@example.test");
    ck_assert_uint_eq(u.roles, SP_USER_ROLE_SPACE_ADMIN);

    ck_assert_int_eq(raw_int("SELECT count(*) FROM users", NULL, NULL, NULL), 1);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM users WHERE id = ?1 AND issuer = ?2"
                             " AND sub = 'sub-alice'",
                             u.id, ISSUER, NULL),
                     1);

    /* Its personal drive, named after the user, with the user its Manager. */
    ck_assert_int_eq(raw_int("SELECT count(*) FROM drives", NULL, NULL, NULL), 1);
    char drive_id[SP_USER_ID_LEN];
    personal_drive_id(&u, drive_id);
    drive_row d;
    ck_assert_int_eq(get_drive(&u, 0, drive_id, &d), 0);
    ck_assert_str_eq(d.type, "personal");
    ck_assert_str_eq(d.alias, "personal/alice");
    ck_assert_str_eq(d.name, "Alice Liddell");
    ck_assert_str_eq(d.owner_id, u.id);
    ck_assert_str_eq(d.role, SP_ROLE_MANAGER);
    ck_assert_int_eq(d.disabled_at_ms, 0);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM members", NULL, NULL, NULL), 1);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM members m JOIN users u ON u.seq = m.user_seq"
                             " WHERE u.id = ?1 AND m.role = ?2",
                             u.id, SP_ROLE_MANAGER, NULL),
                     1);

    /* One space.created event, about that drive, for the user only. */
    ck_assert_int_eq(event_count(), 1);
    ck_assert_int_eq(events_of(SP_EVENT_SPACE_CREATED, drive_id), 1);
    const char *who[] = {u.id};
    assert_recipients(SP_EVENT_SPACE_CREATED, drive_id, who, 1);
    char v[128];
    ck_assert_int_eq(event_field(SP_EVENT_SPACE_CREATED, drive_id, "$.executant", v, sizeof v), 1);
    ck_assert_str_eq(v, u.id);
    ck_assert_int_eq(event_field(SP_EVENT_SPACE_CREATED, drive_id, "$.driveType", v, sizeof v), 1);
    ck_assert_str_eq(v, "personal");
}
END_TEST

START_TEST(test_provision_again_writes_nothing)
{
    sp_user_claims c = claims_for(ISSUER, "sub-alice", "alice", "Alice", "alice@example.test", 0);
    sp_user first, again;
    int created = -1;
    ck_assert_int_eq(sp_store_user_provision(st, &c, &first, &created), 0);
    ck_assert_int_eq(created, 1);
    int64_t events = event_count();
    int64_t updated = raw_int("SELECT updated_at FROM users WHERE id = ?1", first.id, NULL, NULL);
    int64_t version = raw_int("PRAGMA data_version", NULL, NULL, NULL);
    sleep_ms(5); /* a write would now store a later updated_at */

    created = -1;
    ck_assert_int_eq(sp_store_user_provision(st, &c, &again, &created), 0);
    ck_assert_int_eq(created, 0);
    ck_assert_int_eq(again.seq, first.seq);
    ck_assert_str_eq(again.id, first.id);
    ck_assert_str_eq(again.display_name, "Alice");
    ck_assert_str_eq(again.email, "alice@example.test");

    ck_assert_int_eq(event_count(), events);
    ck_assert_int_eq(raw_int("SELECT updated_at FROM users WHERE id = ?1", first.id, NULL, NULL),
                     updated);
    ck_assert_int_eq(raw_int("PRAGMA data_version", NULL, NULL, NULL), version);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM users", NULL, NULL, NULL), 1);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM drives", NULL, NULL, NULL), 1);

    /* A NULL e-mail matches a user stored without one: no write either. */
    sp_user_claims n = claims_for(ISSUER, "sub-bob", "bob", "Bob", NULL, 0);
    sp_user bob;
    ck_assert_int_eq(sp_store_user_provision(st, &n, &bob, &created), 0);
    ck_assert_int_eq(created, 1);
    version = raw_int("PRAGMA data_version", NULL, NULL, NULL);
    events = event_count();
    ck_assert_int_eq(sp_store_user_provision(st, &n, &bob, &created), 0);
    ck_assert_int_eq(created, 0);
    ck_assert_int_eq(raw_int("PRAGMA data_version", NULL, NULL, NULL), version);
    ck_assert_int_eq(event_count(), events);
}
END_TEST

/* An admin purged Bob's personal drive: his next sight makes a new one,
 * with its space.created event, once; the sight after that is one read
 * again. */
START_TEST(test_provision_after_purge)
{
    sp_user_claims c = claims_for(ISSUER, "sub-bob", "bob", "Bob", NULL, 0);
    sp_user bob, admin;
    ck_assert_int_eq(sp_store_user_provision(st, &c, &bob, NULL), 0);
    sp_user_claims ac = claims_for(ISSUER, "sub-root", "root", "Root", NULL, SP_USER_ROLE_ADMIN);
    ck_assert_int_eq(sp_store_user_provision(st, &ac, &admin, NULL), 0);
    char old[SP_USER_ID_LEN], now[SP_USER_ID_LEN];
    personal_drive_id(&bob, old);
    ck_assert_int_eq(sp_store_drive_change(st, &bob, old, SP_DRIVE_DISABLE, NULL), SP_ERR_DENIED);
    ck_assert_int_eq(sp_store_drive_change(st, &admin, old, SP_DRIVE_DISABLE, NULL), 0);
    ck_assert_int_eq(sp_store_drive_change(st, &bob, old, SP_DRIVE_RESTORE, NULL), SP_ERR_DENIED);
    ck_assert_int_eq(sp_store_drive_change(st, &bob, old, SP_DRIVE_PURGE, NULL), SP_ERR_DENIED);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM drives WHERE id = ?1", old, NULL, NULL), 1);
    ck_assert_int_eq(sp_store_drive_change(st, &admin, old, SP_DRIVE_PURGE, NULL), 0);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM drives WHERE id = ?1", old, NULL, NULL), 0);

    int created = -1;
    sp_user again;
    ck_assert_int_eq(sp_store_user_provision(st, &c, &again, &created), 0);
    ck_assert_int_eq(created, 0); /* the same user, a new drive */
    ck_assert_int_eq(again.seq, bob.seq);
    personal_drive_id(&bob, now);
    ck_assert_str_ne(now, old);
    ck_assert_int_eq(events_of(SP_EVENT_SPACE_CREATED, now), 1);
    const char *who[] = {bob.id};
    assert_recipients(SP_EVENT_SPACE_CREATED, now, who, 1);
    drive_row d;
    ck_assert_int_eq(get_drive(&bob, 0, now, &d), 0);
    ck_assert_str_eq(d.role, SP_ROLE_MANAGER);
    ck_assert_str_eq(d.alias, "personal/bob");

    int64_t events = event_count();
    int64_t version = raw_int("PRAGMA data_version", NULL, NULL, NULL);
    ck_assert_int_eq(sp_store_user_provision(st, &c, &again, &created), 0);
    ck_assert_int_eq(raw_int("PRAGMA data_version", NULL, NULL, NULL), version);
    ck_assert_int_eq(event_count(), events);
}
END_TEST

START_TEST(test_provision_updates_changed_claims)
{
    sp_user_claims c = claims_for(ISSUER, "sub-alice", "alice", "Alice", "alice@example.test", 0);
    sp_user u;
    int created = -1;
    ck_assert_int_eq(sp_store_user_provision(st, &c, &u, &created), 0);
    const int64_t seq = u.seq;
    char id[SP_USER_ID_LEN];
    snprintf(id, sizeof id, "%s", u.id);
    char v[SP_USER_EMAIL_MAX];

    /* Display name. */
    int64_t before = raw_int("SELECT updated_at FROM users WHERE id = ?1", id, NULL, NULL);
    sleep_ms(5);
    c.display_name = "Alice Liddell";
    ck_assert_int_eq(sp_store_user_provision(st, &c, &u, &created), 0);
    ck_assert_int_eq(created, 0);
    ck_assert_int_eq(u.seq, seq);
    ck_assert_str_eq(u.display_name, "Alice Liddell");
    raw_text(v, sizeof v, "SELECT display_name FROM users WHERE id = ?1", id, NULL, NULL);
    ck_assert_str_eq(v, "Alice Liddell");
    ck_assert_int_gt(raw_int("SELECT updated_at FROM users WHERE id = ?1", id, NULL, NULL), before);

    /* E-mail. */
    c.email = "a.liddell@example.test";
    ck_assert_int_eq(sp_store_user_provision(st, &c, &u, &created), 0);
    ck_assert_int_eq(created, 0);
    ck_assert_str_eq(u.email, "a.liddell@example.test");
    raw_text(v, sizeof v, "SELECT email FROM users WHERE id = ?1", id, NULL, NULL);
    ck_assert_str_eq(v, "a.liddell@example.test");

    /* Roles. */
    c.roles = SP_USER_ROLE_ADMIN | SP_USER_ROLE_SPACE_ADMIN;
    ck_assert_int_eq(sp_store_user_provision(st, &c, &u, &created), 0);
    ck_assert_int_eq(created, 0);
    ck_assert_uint_eq(u.roles, SP_USER_ROLE_ADMIN | SP_USER_ROLE_SPACE_ADMIN);
    ck_assert_int_eq(raw_int("SELECT roles FROM users WHERE id = ?1", id, NULL, NULL),
                     SP_USER_ROLE_ADMIN | SP_USER_ROLE_SPACE_ADMIN);

    /* User name. */
    c.username = "aliddell";
    ck_assert_int_eq(sp_store_user_provision(st, &c, &u, &created), 0);
    ck_assert_str_eq(u.username, "aliddell");
    raw_text(v, sizeof v, "SELECT username FROM users WHERE id = ?1", id, NULL, NULL);
    ck_assert_str_eq(v, "aliddell");

    /* Still one user with one personal drive, and a lookup agrees. */
    ck_assert_int_eq(raw_int("SELECT count(*) FROM users", NULL, NULL, NULL), 1);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM drives", NULL, NULL, NULL), 1);
    sp_user got;
    ck_assert_int_eq(sp_store_user_get(st, id, &got), 0);
    ck_assert_str_eq(got.display_name, "Alice Liddell");
    ck_assert_str_eq(got.email, "a.liddell@example.test");
    ck_assert_uint_eq(got.roles, SP_USER_ROLE_ADMIN | SP_USER_ROLE_SPACE_ADMIN);
}
END_TEST

START_TEST(test_provision_same_sub_two_issuers)
{
    sp_user_claims a = claims_for(ISSUER, "same-sub", "alice", "Alice", "", 0);
    sp_user_claims b = claims_for(OTHER_ISSUER, "same-sub", "alice", "Alice Elsewhere", "", 0);
    sp_user ua, ub;
    int created = -1;
    ck_assert_int_eq(sp_store_user_provision(st, &a, &ua, &created), 0);
    ck_assert_int_eq(created, 1);
    created = -1;
    ck_assert_int_eq(sp_store_user_provision(st, &b, &ub, &created), 0);
    ck_assert_int_eq(created, 1);
    ck_assert_int_ne(ua.seq, ub.seq);
    ck_assert_str_ne(ua.id, ub.id);
    ck_assert_str_eq(ub.issuer, OTHER_ISSUER);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM users WHERE sub = 'same-sub'", NULL, NULL, NULL),
                     2);
    ck_assert_int_eq(
        raw_int("SELECT count(*) FROM drives WHERE drive_type = 'personal'", NULL, NULL, NULL), 2);

    /* Each issuer keeps finding its own user. */
    sp_user again;
    ck_assert_int_eq(sp_store_user_provision(st, &b, &again, &created), 0);
    ck_assert_int_eq(created, 0);
    ck_assert_str_eq(again.id, ub.id);
    ck_assert_int_eq(sp_store_user_provision(st, &a, &again, &created), 0);
    ck_assert_int_eq(created, 0);
    ck_assert_str_eq(again.id, ua.id);
}
END_TEST

START_TEST(test_provision_empty_email_is_null)
{
    sp_user_claims c = claims_for(ISSUER, "sub-empty", "empty", "Empty", "", 0);
    sp_user u;
    int created = -1;
    ck_assert_int_eq(sp_store_user_provision(st, &c, &u, &created), 0);
    ck_assert_int_eq(created, 1);
    ck_assert_str_eq(u.email, "");
    ck_assert_int_eq(raw_int("SELECT email IS NULL FROM users WHERE id = ?1", u.id, NULL, NULL), 1);

    sp_user_claims n = claims_for(ISSUER, "sub-null", "null", "Null", NULL, 0);
    sp_user un;
    ck_assert_int_eq(sp_store_user_provision(st, &n, &un, &created), 0);
    ck_assert_str_eq(un.email, "");
    ck_assert_int_eq(raw_int("SELECT email IS NULL FROM users WHERE id = ?1", un.id, NULL, NULL),
                     1);

    /* An address that goes away is stored as NULL again. */
    c.email = "empty@example.test";
    ck_assert_int_eq(sp_store_user_provision(st, &c, &u, &created), 0);
    ck_assert_int_eq(raw_int("SELECT email IS NULL FROM users WHERE id = ?1", u.id, NULL, NULL), 0);
    c.email = "";
    ck_assert_int_eq(sp_store_user_provision(st, &c, &u, &created), 0);
    ck_assert_str_eq(u.email, "");
    ck_assert_int_eq(raw_int("SELECT email IS NULL FROM users WHERE id = ?1", u.id, NULL, NULL), 1);
}
END_TEST

START_TEST(test_user_get)
{
    sp_user alice, got;
    make_user(&alice, "alice", "Alice");
    sp_user_claims c = claims_for(ISSUER, "sub-bob", "bob", "Bob", "", SP_USER_ROLE_ADMIN);
    sp_user bob;
    ck_assert_int_eq(sp_store_user_provision(st, &c, &bob, NULL), 0);

    ck_assert_int_eq(sp_store_user_get(st, alice.id, &got), 0);
    ck_assert_int_eq(got.seq, alice.seq);
    ck_assert_str_eq(got.id, alice.id);
    ck_assert_str_eq(got.issuer, ISSUER);
    ck_assert_str_eq(got.username, "alice");
    ck_assert_str_eq(got.display_name, "Alice");
    ck_assert_str_eq(got.email, "alice@example.test");
    ck_assert_uint_eq(got.roles, 0);

    ck_assert_int_eq(sp_store_user_get(st, bob.id, &got), 0);
    ck_assert_int_eq(got.seq, bob.seq);
    ck_assert_str_eq(got.username, "bob");
    ck_assert_str_eq(got.email, "");
    ck_assert_uint_eq(got.roles, SP_USER_ROLE_ADMIN);

    ck_assert_int_eq(sp_store_user_get(st, "00000000-0000-4000-8000-000000000000", &got),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(sp_store_user_get(st, "", &got), SP_ERR_NOT_FOUND);
}
END_TEST

/* ---- creating drives ---- */

START_TEST(test_drive_create_alias_slug)
{
    static const struct {
        const char *name, *alias;
    } cases[] = {
        {"Team Alpha: Q3 report", "project/team-alpha-q3-report"},
        {"!!!", "project/space"},
        {"", "project/space"},
        {"  --Hello--World--  ", "project/hello-world"},
        {"MiXeD 42", "project/mixed-42"},
    };
    sp_user alice;
    make_user(&alice, "alice", "Alice");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char id[SP_USER_ID_LEN];
        create_drive(&alice, cases[i].name, id);
        drive_row d;
        ck_assert_int_eq(get_drive(&alice, 0, id, &d), 0);
        ck_assert_msg(strcmp(d.alias, cases[i].alias) == 0, "\"%s\": alias %s, want %s",
                      cases[i].name, d.alias, cases[i].alias);
        ck_assert_str_eq(d.name, cases[i].name);
    }
}
END_TEST

START_TEST(test_drive_create_manager_quota_event)
{
    sp_user alice;
    make_user(&alice, "alice", "Alice");
    int64_t events = event_count();

    char id[SP_USER_ID_LEN] = "";
    ck_assert_int_eq(sp_store_drive_create(st, &alice, "Unlimited", NULL, -1, id), 0);
    ck_assert_uint_eq(strlen(id), 36);
    ck_assert_int_eq(
        raw_int("SELECT quota_total IS NULL FROM drives WHERE id = ?1", id, NULL, NULL), 1);
    drive_row d;
    ck_assert_int_eq(get_drive(&alice, 0, id, &d), 0);
    ck_assert_int_eq(d.quota_total, -1);
    ck_assert_str_eq(d.type, "project");
    ck_assert_str_eq(d.description, "");
    ck_assert_str_eq(d.owner_id, alice.id);
    ck_assert_str_eq(d.role, SP_ROLE_MANAGER);
    ck_assert_int_eq(d.disabled_at_ms, 0);

    /* The creator is its one member, a Manager. */
    member_rows m;
    list_members(id, &m);
    ck_assert_uint_eq(m.n, 1);
    ck_assert_str_eq(m.row[0].user_id, alice.id);
    ck_assert_str_eq(m.row[0].role, SP_ROLE_MANAGER);
    ck_assert_int_eq(m.row[0].expires_at_ms, 0);

    /* Its event names the executant and reaches the creator. */
    ck_assert_int_eq(event_count(), events + 1);
    ck_assert_int_eq(events_of(SP_EVENT_SPACE_CREATED, id), 1);
    const char *who[] = {alice.id};
    assert_recipients(SP_EVENT_SPACE_CREATED, id, who, 1);
    char v[128];
    ck_assert_int_eq(event_field(SP_EVENT_SPACE_CREATED, id, "$.executant", v, sizeof v), 1);
    ck_assert_str_eq(v, alice.id);
    ck_assert_int_eq(event_field(SP_EVENT_SPACE_CREATED, id, "$.driveId", v, sizeof v), 1);
    ck_assert_str_eq(v, id);
    ck_assert_int_eq(event_field(SP_EVENT_SPACE_CREATED, id, "$.driveType", v, sizeof v), 1);
    ck_assert_str_eq(v, "project");

    /* A quota and a description are kept as given. */
    char id2[SP_USER_ID_LEN];
    ck_assert_int_eq(sp_store_drive_create(st, &alice, "Limited", "for the team", 1000000000, id2),
                     0);
    ck_assert_str_ne(id2, id);
    ck_assert_int_eq(get_drive(&alice, 0, id2, &d), 0);
    ck_assert_int_eq(d.quota_total, 1000000000);
    ck_assert_str_eq(d.description, "for the team");
}
END_TEST

/* ---- listing ---- */

START_TEST(test_list_member_drives_and_all)
{
    sp_user alice, bob;
    make_user(&alice, "alice", "Alice");
    make_user(&bob, "bob", "Bob");
    char a1[SP_USER_ID_LEN], a2[SP_USER_ID_LEN], b1[SP_USER_ID_LEN], pa[SP_USER_ID_LEN],
        pb[SP_USER_ID_LEN];
    create_drive(&alice, "Alice One", a1);
    create_drive(&alice, "Alice Two", a2);
    create_drive(&bob, "Bob One", b1);
    personal_drive_id(&alice, pa);
    personal_drive_id(&bob, pb);

    drive_rows *rows = malloc(sizeof *rows);
    ck_assert_ptr_nonnull(rows);
    ck_assert_int_eq(list_drives(&alice, 0, NULL, NULL, SP_DRIVE_ORDER_NAME_ASC, rows), 0);
    ck_assert_uint_eq(rows->n, 3);
    ck_assert_ptr_nonnull(find_row(rows, pa));
    ck_assert_ptr_nonnull(find_row(rows, a1));
    ck_assert_ptr_nonnull(find_row(rows, a2));
    ck_assert_ptr_null(find_row(rows, b1));
    ck_assert_ptr_null(find_row(rows, pb));
    ck_assert_str_eq(find_row(rows, a1)->role, SP_ROLE_MANAGER);

    ck_assert_int_eq(list_drives(&bob, 0, NULL, NULL, SP_DRIVE_ORDER_NAME_ASC, rows), 0);
    ck_assert_uint_eq(rows->n, 2);
    ck_assert_ptr_nonnull(find_row(rows, pb));
    ck_assert_ptr_nonnull(find_row(rows, b1));

    /* Becoming a member makes a drive appear. */
    char perm[SP_USER_ID_LEN];
    ck_assert_int_eq(sp_store_member_add(st, &alice, a1, bob.id, SP_ROLE_SPACE_VIEWER, 0, perm), 0);
    ck_assert_int_eq(list_drives(&bob, 0, NULL, NULL, SP_DRIVE_ORDER_NAME_ASC, rows), 0);
    ck_assert_uint_eq(rows->n, 3);
    ck_assert_ptr_nonnull(find_row(rows, a1));
    ck_assert_str_eq(find_row(rows, a1)->role, SP_ROLE_SPACE_VIEWER);

    /* all lists every drive, with the caller's role where there is one. */
    ck_assert_int_eq(list_drives(&alice, 1, NULL, NULL, SP_DRIVE_ORDER_NAME_ASC, rows), 0);
    ck_assert_uint_eq(rows->n, 5);
    ck_assert_ptr_nonnull(find_row(rows, b1));
    ck_assert_ptr_nonnull(find_row(rows, pb));
    ck_assert_str_eq(find_row(rows, b1)->role, "");
    ck_assert_str_eq(find_row(rows, a2)->role, SP_ROLE_MANAGER);
    free(rows);
}
END_TEST

START_TEST(test_list_filters)
{
    sp_user alice, bob;
    make_user(&alice, "alice", "Alice");
    make_user(&bob, "bob", "Bob");
    char a1[SP_USER_ID_LEN], a2[SP_USER_ID_LEN], b1[SP_USER_ID_LEN], pa[SP_USER_ID_LEN];
    create_drive(&alice, "One", a1);
    create_drive(&alice, "Two", a2);
    create_drive(&bob, "Three", b1);
    personal_drive_id(&alice, pa);

    drive_rows *rows = malloc(sizeof *rows);
    ck_assert_ptr_nonnull(rows);
    ck_assert_int_eq(list_drives(&alice, 0, "project", NULL, SP_DRIVE_ORDER_NAME_ASC, rows), 0);
    ck_assert_uint_eq(rows->n, 2);
    for (size_t i = 0; i < rows->n; i++)
        ck_assert_str_eq(rows->row[i].type, "project");
    ck_assert_int_eq(list_drives(&alice, 0, "personal", NULL, SP_DRIVE_ORDER_NAME_ASC, rows), 0);
    ck_assert_uint_eq(rows->n, 1);
    ck_assert_str_eq(rows->row[0].id, pa);
    ck_assert_int_eq(list_drives(&alice, 0, "mountpoint", NULL, SP_DRIVE_ORDER_NAME_ASC, rows), 0);
    ck_assert_uint_eq(rows->n, 0);

    ck_assert_int_eq(list_drives(&alice, 0, NULL, a2, SP_DRIVE_ORDER_MTIME_DESC, rows), 0);
    ck_assert_uint_eq(rows->n, 1);
    ck_assert_str_eq(rows->row[0].id, a2);
    ck_assert_str_eq(rows->row[0].name, "Two");
    /* Not a member: the id filter finds nothing, unless all. */
    ck_assert_int_eq(list_drives(&alice, 0, NULL, b1, SP_DRIVE_ORDER_NAME_ASC, rows), 0);
    ck_assert_uint_eq(rows->n, 0);
    ck_assert_int_eq(list_drives(&alice, 1, NULL, b1, SP_DRIVE_ORDER_NAME_ASC, rows), 0);
    ck_assert_uint_eq(rows->n, 1);
    ck_assert_str_eq(rows->row[0].id, b1);
    /* Both filters at once. */
    ck_assert_int_eq(list_drives(&alice, 0, "personal", a1, SP_DRIVE_ORDER_NAME_ASC, rows), 0);
    ck_assert_uint_eq(rows->n, 0);
    ck_assert_int_eq(list_drives(&alice, 0, "project", a1, SP_DRIVE_ORDER_NAME_ASC, rows), 0);
    ck_assert_uint_eq(rows->n, 1);
    ck_assert_int_eq(list_drives(&alice, 1, "project", NULL, SP_DRIVE_ORDER_NAME_ASC, rows), 0);
    ck_assert_uint_eq(rows->n, 3);
    ck_assert_int_eq(list_drives(&alice, 1, "personal", NULL, SP_DRIVE_ORDER_NAME_ASC, rows), 0);
    ck_assert_uint_eq(rows->n, 2);
    free(rows);
}
END_TEST

START_TEST(test_list_orders)
{
    /* Names that sort differently with and without case, three that tie;
     * mtimes with ties. Alice's personal drive is "Alice" (key "alice"). */
    static const struct {
        const char *name;
        int64_t mtime;
    } spec[] = {
        {"banana", 3000}, {"Apple", 1000}, {"apple", 2000}, {"APPLE", 1000}, {"Cherry", 2000},
    };
    sp_user alice;
    make_user(&alice, "alice", "Alice");
    char pa[SP_USER_ID_LEN];
    personal_drive_id(&alice, pa);
    set_mtime(pa, 3000);
    for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++) {
        char id[SP_USER_ID_LEN];
        create_drive(&alice, spec[i].name, id);
        set_mtime(id, spec[i].mtime);
    }

    drive_rows *rows = malloc(sizeof *rows);
    ck_assert_ptr_nonnull(rows);
    for (int all = 0; all <= 1; all++) {
        ck_assert_int_eq(list_drives(&alice, all, NULL, NULL, SP_DRIVE_ORDER_NAME_ASC, rows), 0);
        ck_assert_uint_eq(rows->n, 6);
        static const char *const keys_asc[] = {"alice", "apple",  "apple",
                                               "apple", "banana", "cherry"};
        for (size_t i = 0; i < rows->n; i++)
            ck_assert_str_eq(rows->row[i].key, keys_asc[i]);
        assert_sorted(rows, SP_DRIVE_ORDER_NAME_ASC);

        ck_assert_int_eq(list_drives(&alice, all, NULL, NULL, SP_DRIVE_ORDER_NAME_DESC, rows), 0);
        ck_assert_uint_eq(rows->n, 6);
        for (size_t i = 0; i < rows->n; i++)
            ck_assert_str_eq(rows->row[i].key, keys_asc[5 - i]);
        assert_sorted(rows, SP_DRIVE_ORDER_NAME_DESC);

        static const int64_t mtimes_asc[] = {1000, 1000, 2000, 2000, 3000, 3000};
        ck_assert_int_eq(list_drives(&alice, all, NULL, NULL, SP_DRIVE_ORDER_MTIME_ASC, rows), 0);
        ck_assert_uint_eq(rows->n, 6);
        for (size_t i = 0; i < rows->n; i++)
            ck_assert_int_eq(rows->row[i].mtime_ms, mtimes_asc[i]);
        assert_sorted(rows, SP_DRIVE_ORDER_MTIME_ASC);

        ck_assert_int_eq(list_drives(&alice, all, NULL, NULL, SP_DRIVE_ORDER_MTIME_DESC, rows), 0);
        ck_assert_uint_eq(rows->n, 6);
        for (size_t i = 0; i < rows->n; i++)
            ck_assert_int_eq(rows->row[i].mtime_ms, mtimes_asc[5 - i]);
        assert_sorted(rows, SP_DRIVE_ORDER_MTIME_DESC);
    }
    free(rows);
}
END_TEST

START_TEST(test_list_keyset_paging)
{
    /* Alice: her personal drive and 19 projects (20); Bob: 1 + 3 more, so
     * that the member listing and the full one differ. Names and mtimes
     * repeat, so that the id tie-break decides at page edges. */
    static const char *const names[] = {"Ops", "ops", "Dev", "QA", "dev", "Zeta", "alpha"};
    sp_user alice, bob;
    make_user(&alice, "alice", "Alice");
    make_user(&bob, "bob", "Bob");
    char id[SP_USER_ID_LEN];
    personal_drive_id(&alice, id);
    set_mtime(id, 5002);
    for (int i = 0; i < 19; i++) {
        create_drive(&alice, names[i % 7], id);
        set_mtime(id, 5000 + i % 4);
    }
    personal_drive_id(&bob, id);
    set_mtime(id, 5001);
    for (int i = 0; i < 3; i++) {
        create_drive(&bob, names[i], id);
        set_mtime(id, 5000 + i);
    }

    static const sp_drive_order orders[] = {SP_DRIVE_ORDER_NAME_ASC, SP_DRIVE_ORDER_NAME_DESC,
                                            SP_DRIVE_ORDER_MTIME_ASC, SP_DRIVE_ORDER_MTIME_DESC};
    static const int tops[] = {3, 4, 1, 7};
    drive_rows *full = malloc(sizeof *full);
    ck_assert_ptr_nonnull(full);
    for (int all = 0; all <= 1; all++) {
        for (size_t o = 0; o < 4; o++) {
            ck_assert_int_eq(list_drives(&alice, all, NULL, NULL, orders[o], full), 0);
            ck_assert_uint_eq(full->n, all ? 24 : 20);
            assert_sorted(full, orders[o]);
            for (size_t t = 0; t < sizeof tops / sizeof tops[0]; t++)
                page_through(&alice, all, orders[o], tops[t], full);
        }
    }
    free(full);
}
END_TEST

START_TEST(test_list_disabled_drives)
{
    sp_user alice, bob;
    make_user(&alice, "alice", "Alice");
    make_user(&bob, "bob", "Bob");
    char id[SP_USER_ID_LEN], perm[SP_USER_ID_LEN];
    create_drive(&alice, "Archive", id);
    ck_assert_int_eq(sp_store_member_add(st, &alice, id, bob.id, SP_ROLE_SPACE_VIEWER, 0, perm), 0);

    drive_rows *rows = malloc(sizeof *rows);
    ck_assert_ptr_nonnull(rows);
    ck_assert_int_eq(list_drives(&bob, 0, NULL, NULL, SP_DRIVE_ORDER_NAME_ASC, rows), 0);
    ck_assert_ptr_nonnull(find_row(rows, id));

    ck_assert_int_eq(sp_store_drive_change(st, &alice, id, SP_DRIVE_DISABLE, NULL), 0);

    /* The Manager still sees it, marked disabled. */
    ck_assert_int_eq(list_drives(&alice, 0, NULL, NULL, SP_DRIVE_ORDER_NAME_ASC, rows), 0);
    const drive_row *r = find_row(rows, id);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_gt(r->disabled_at_ms, 0);
    ck_assert_uint_eq(rows->n, 2);
    /* The viewer no longer does, in any order or with a filter. */
    for (int o = SP_DRIVE_ORDER_NAME_ASC; o <= SP_DRIVE_ORDER_MTIME_DESC; o++) {
        ck_assert_int_eq(list_drives(&bob, 0, NULL, NULL, (sp_drive_order)o, rows), 0);
        ck_assert_ptr_null(find_row(rows, id));
        ck_assert_uint_eq(rows->n, 1);
    }
    ck_assert_int_eq(list_drives(&bob, 0, "project", id, SP_DRIVE_ORDER_NAME_ASC, rows), 0);
    ck_assert_uint_eq(rows->n, 0);
    /* The full listing shows it to anyone who may call it. */
    ck_assert_int_eq(list_drives(&bob, 1, NULL, NULL, SP_DRIVE_ORDER_NAME_ASC, rows), 0);
    r = find_row(rows, id);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_gt(r->disabled_at_ms, 0);

    /* Restored: the viewer sees it again. */
    ck_assert_int_eq(sp_store_drive_change(st, &alice, id, SP_DRIVE_RESTORE, NULL), 0);
    ck_assert_int_eq(list_drives(&bob, 0, NULL, NULL, SP_DRIVE_ORDER_NAME_ASC, rows), 0);
    r = find_row(rows, id);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->disabled_at_ms, 0);
    free(rows);
}
END_TEST

/* ---- lookup ---- */

START_TEST(test_get_visibility)
{
    sp_user alice, bob, carol;
    make_user(&alice, "alice", "Alice");
    make_user(&bob, "bob", "Bob");
    make_user(&carol, "carol", "Carol");
    char id[SP_USER_ID_LEN], perm[SP_USER_ID_LEN];
    create_drive(&alice, "Secret", id);
    ck_assert_int_eq(sp_store_member_add(st, &alice, id, bob.id, SP_ROLE_SPACE_VIEWER, 0, perm), 0);

    drive_row d;
    ck_assert_int_eq(get_drive(&alice, 0, id, &d), 0);
    ck_assert_str_eq(d.id, id);
    ck_assert_str_eq(d.role, SP_ROLE_MANAGER);
    ck_assert_int_eq(get_drive(&bob, 0, id, &d), 0);
    ck_assert_str_eq(d.role, SP_ROLE_SPACE_VIEWER);
    ck_assert_int_eq(get_drive(&carol, 0, id, &d), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(get_drive(&carol, 1, id, &d), 0);
    ck_assert_str_eq(d.id, id);
    ck_assert_str_eq(d.role, "");
    ck_assert_int_eq(get_drive(&alice, 0, "00000000-0000-4000-8000-000000000000", &d),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(get_drive(&alice, 1, "00000000-0000-4000-8000-000000000000", &d),
                     SP_ERR_NOT_FOUND);

    ck_assert_int_eq(sp_store_drive_change(st, &alice, id, SP_DRIVE_DISABLE, NULL), 0);
    ck_assert_int_eq(get_drive(&bob, 0, id, &d), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(get_drive(&carol, 0, id, &d), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(get_drive(&alice, 0, id, &d), 0);
    ck_assert_int_gt(d.disabled_at_ms, 0);
    ck_assert_int_eq(get_drive(&bob, 1, id, &d), 0);
    ck_assert_int_gt(d.disabled_at_ms, 0);
}
END_TEST

/* ---- the lifecycle ---- */

START_TEST(test_change_update)
{
    sp_user alice, bob, carol;
    make_user(&alice, "alice", "Alice");
    make_user(&bob, "bob", "Bob");
    make_user(&carol, "carol", "Carol");
    char id[SP_USER_ID_LEN], perm[SP_USER_ID_LEN];
    create_drive(&alice, "Old Name", id);
    ck_assert_int_eq(sp_store_member_add(st, &alice, id, bob.id, SP_ROLE_SPACE_EDITOR, 0, perm), 0);
    int64_t events = event_count();

    sp_drive_patch p = {
        .name = "New Name", .description = "what it holds", .set_quota = 1, .quota_total = 5000};
    /* Decided inside the write: an Editor may not, and nothing is written. */
    ck_assert_int_eq(sp_store_drive_change(st, &bob, id, SP_DRIVE_UPDATE, &p), SP_ERR_DENIED);
    ck_assert_int_eq(sp_store_drive_change(st, &bob, id, SP_DRIVE_DISABLE, NULL), SP_ERR_DENIED);
    ck_assert_int_eq(sp_store_drive_change(st, &carol, id, SP_DRIVE_UPDATE, &p),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(event_count(), events);
    /* The quota needs more than the Manager role. */
    ck_assert_int_eq(sp_store_drive_change(st, &alice, id, SP_DRIVE_UPDATE, &p), SP_ERR_DENIED);
    ck_assert_int_eq(event_count(), events);
    bob.roles = SP_USER_ROLE_ADMIN;
    alice.roles = SP_USER_ROLE_SPACE_ADMIN;
    ck_assert_int_eq(sp_store_drive_change(st, &bob, id, SP_DRIVE_UPDATE, &p), 0);
    ck_assert_int_eq(event_count(), events + 1);
    ck_assert_int_eq(events_of(SP_EVENT_SPACE_UPDATED, id), 1);
    const char *who[] = {alice.id, bob.id};
    assert_recipients(SP_EVENT_SPACE_UPDATED, id, who, 2);
    char v[128];
    ck_assert_int_eq(event_field(SP_EVENT_SPACE_UPDATED, id, "$.oldName", v, sizeof v), 1);
    ck_assert_str_eq(v, "Old Name");
    ck_assert_int_eq(event_field(SP_EVENT_SPACE_UPDATED, id, "$.driveName", v, sizeof v), 1);
    ck_assert_str_eq(v, "New Name");
    ck_assert_int_eq(event_field(SP_EVENT_SPACE_UPDATED, id, "$.executant", v, sizeof v), 1);
    ck_assert_str_eq(v, bob.id);

    drive_row d;
    ck_assert_int_eq(get_drive(&alice, 0, id, &d), 0);
    ck_assert_str_eq(d.name, "New Name");
    ck_assert_str_eq(d.description, "what it holds");
    ck_assert_int_eq(d.quota_total, 5000);

    /* Only the quota, back to unlimited: the name stays, no oldName. */
    sp_drive_patch q = {.set_quota = 1, .quota_total = -1};
    ck_assert_int_eq(sp_store_drive_change(st, &alice, id, SP_DRIVE_UPDATE, &q), 0);
    ck_assert_int_eq(events_of(SP_EVENT_SPACE_UPDATED, id), 2);
    ck_assert_int_eq(event_field(SP_EVENT_SPACE_UPDATED, id, "$.oldName", v, sizeof v), 0);
    ck_assert_int_eq(
        raw_int("SELECT quota_total IS NULL FROM drives WHERE id = ?1", id, NULL, NULL), 1);
    ck_assert_int_eq(get_drive(&alice, 0, id, &d), 0);
    ck_assert_int_eq(d.quota_total, -1);
    ck_assert_str_eq(d.name, "New Name");
    ck_assert_str_eq(d.description, "what it holds");
}
END_TEST

START_TEST(test_change_lifecycle_conflicts)
{
    sp_user alice;
    make_user(&alice, "alice", "Alice");
    char id[SP_USER_ID_LEN];
    create_drive(&alice, "Cycle", id);
    const char *who[] = {alice.id};
    int64_t events = event_count();

    /* Refused on an enabled drive, writing nothing. */
    ck_assert_int_eq(sp_store_drive_change(st, &alice, id, SP_DRIVE_RESTORE, NULL),
                     SP_ERR_CONFLICT);
    ck_assert_int_eq(event_count(), events);
    ck_assert_int_eq(sp_store_drive_change(st, &alice, id, SP_DRIVE_PURGE, NULL), SP_ERR_CONFLICT);
    ck_assert_int_eq(event_count(), events);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM drives WHERE id = ?1", id, NULL, NULL), 1);

    ck_assert_int_eq(sp_store_drive_change(st, &alice, id, SP_DRIVE_DISABLE, NULL), 0);
    ck_assert_int_eq(event_count(), events + 1);
    assert_recipients(SP_EVENT_SPACE_DISABLED, id, who, 1);
    ck_assert_int_gt(
        raw_int("SELECT coalesce(disabled_at, 0) FROM drives WHERE id = ?1", id, NULL, NULL), 0);

    ck_assert_int_eq(sp_store_drive_change(st, &alice, id, SP_DRIVE_DISABLE, NULL),
                     SP_ERR_CONFLICT);
    ck_assert_int_eq(event_count(), events + 1);
    ck_assert_int_eq(events_of(SP_EVENT_SPACE_DISABLED, id), 1);

    ck_assert_int_eq(sp_store_drive_change(st, &alice, id, SP_DRIVE_RESTORE, NULL), 0);
    ck_assert_int_eq(event_count(), events + 2);
    assert_recipients(SP_EVENT_SPACE_RESTORED, id, who, 1);
    ck_assert_int_eq(
        raw_int("SELECT disabled_at IS NULL FROM drives WHERE id = ?1", id, NULL, NULL), 1);
    ck_assert_int_eq(sp_store_drive_change(st, &alice, id, SP_DRIVE_RESTORE, NULL),
                     SP_ERR_CONFLICT);
    ck_assert_int_eq(event_count(), events + 2);

    /* Unknown drive: every step is NOT_FOUND and writes nothing. */
    static const char unknown[] = "00000000-0000-4000-8000-000000000000";
    sp_drive_patch p = {.name = "x"};
    ck_assert_int_eq(sp_store_drive_change(st, &alice, unknown, SP_DRIVE_UPDATE, &p),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(sp_store_drive_change(st, &alice, unknown, SP_DRIVE_DISABLE, NULL),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(sp_store_drive_change(st, &alice, unknown, SP_DRIVE_RESTORE, NULL),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(sp_store_drive_change(st, &alice, unknown, SP_DRIVE_PURGE, NULL),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(event_count(), events + 2);

    /* The store still takes writes after the refusals (locks released). */
    char id2[SP_USER_ID_LEN];
    create_drive(&alice, "After", id2);
    ck_assert_int_eq(event_count(), events + 3);
}
END_TEST

START_TEST(test_change_purge)
{
    sp_user alice, bob;
    make_user(&alice, "alice", "Alice");
    make_user(&bob, "bob", "Bob");
    char id[SP_USER_ID_LEN], keep[SP_USER_ID_LEN], perm[SP_USER_ID_LEN];
    create_drive(&alice, "Doomed", id);
    create_drive(&alice, "Kept", keep);
    ck_assert_int_eq(sp_store_member_add(st, &alice, id, bob.id, SP_ROLE_SPACE_VIEWER, 0, perm), 0);
    ck_assert_int_eq(sp_store_member_add(st, &alice, keep, bob.id, SP_ROLE_SPACE_VIEWER, 0, perm),
                     0);
    char seq[32];
    snprintf(seq, sizeof seq, "%lld", (long long)drive_seq_of(id));
    ck_assert_int_eq(raw_int("SELECT count(*) FROM members WHERE drive_seq = CAST(?1 AS INTEGER)",
                             seq, NULL, NULL),
                     2);

    ck_assert_int_eq(sp_store_drive_change(st, &alice, id, SP_DRIVE_DISABLE, NULL), 0);
    int64_t events = event_count();
    ck_assert_int_eq(sp_store_drive_change(st, &alice, id, SP_DRIVE_PURGE, NULL), 0);
    ck_assert_int_eq(event_count(), events + 1);

    ck_assert_int_eq(raw_int("SELECT count(*) FROM drives WHERE id = ?1", id, NULL, NULL), 0);
    ck_assert_int_eq(raw_int("SELECT count(*) FROM members WHERE drive_seq = CAST(?1 AS INTEGER)",
                             seq, NULL, NULL),
                     0);
    const char *who[] = {alice.id, bob.id};
    assert_recipients(SP_EVENT_SPACE_DELETED, id, who, 2);
    char v[128];
    ck_assert_int_eq(event_field(SP_EVENT_SPACE_DELETED, id, "$.driveName", v, sizeof v), 1);
    ck_assert_str_eq(v, "Doomed");

    drive_row d;
    ck_assert_int_eq(get_drive(&alice, 1, id, &d), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(sp_store_drive_change(st, &alice, id, SP_DRIVE_PURGE, NULL), SP_ERR_NOT_FOUND);
    ck_assert_int_eq(event_count(), events + 1);

    /* The other drive and its members are untouched. */
    ck_assert_int_eq(get_drive(&bob, 0, keep, &d), 0);
    member_rows m;
    list_members(keep, &m);
    ck_assert_uint_eq(m.n, 2);
}
END_TEST

/* ---- members ---- */

START_TEST(test_member_add)
{
    sp_user alice, bob, carol;
    make_user(&alice, "alice", "Alice");
    make_user(&bob, "bob", "Bob");
    make_user(&carol, "carol", "Carol");
    char id[SP_USER_ID_LEN], perm[SP_USER_ID_LEN] = "";
    create_drive(&alice, "Team", id);
    int64_t events = event_count();

    ck_assert_int_eq(sp_store_member_add(st, &alice, id, bob.id, SP_ROLE_SPACE_VIEWER, 0, perm), 0);
    ck_assert_uint_eq(strlen(perm), 36);
    ck_assert_int_eq(event_count(), events + 1);
    const char *two[] = {alice.id, bob.id};
    assert_recipients(SP_EVENT_MEMBER_ADDED, id, two, 2);
    char v[128];
    ck_assert_int_eq(event_field(SP_EVENT_MEMBER_ADDED, id, "$.grantee", v, sizeof v), 1);
    ck_assert_str_eq(v, bob.id);
    ck_assert_int_eq(event_field(SP_EVENT_MEMBER_ADDED, id, "$.role", v, sizeof v), 1);
    ck_assert_str_eq(v, SP_ROLE_SPACE_VIEWER);
    ck_assert_int_eq(event_field(SP_EVENT_MEMBER_ADDED, id, "$.executant", v, sizeof v), 1);
    ck_assert_str_eq(v, alice.id);

    /* With an expiry; the next event reaches all three. */
    char perm2[SP_USER_ID_LEN];
    ck_assert_int_eq(
        sp_store_member_add(st, &alice, id, carol.id, SP_ROLE_SPACE_EDITOR, 4102444800000, perm2),
        0);
    ck_assert_str_ne(perm2, perm);
    const char *three[] = {alice.id, bob.id, carol.id};
    assert_recipients(SP_EVENT_MEMBER_ADDED, id, three, 3);
    member_rows m;
    list_members(id, &m);
    ck_assert_uint_eq(m.n, 3);
    ck_assert_ptr_nonnull(member_of(&m, &carol));
    ck_assert_int_eq(member_of(&m, &carol)->expires_at_ms, 4102444800000);
    ck_assert_str_eq(member_of(&m, &carol)->id, perm2);
    ck_assert_str_eq(member_of(&m, &bob)->id, perm);
    ck_assert_int_eq(member_of(&m, &bob)->expires_at_ms, 0);
    events = event_count();

    /* Refusals write nothing. */
    char perm3[SP_USER_ID_LEN];
    ck_assert_int_eq(sp_store_member_add(st, &alice, id, bob.id, SP_ROLE_SPACE_EDITOR, 0, perm3),
                     SP_ERR_CONFLICT);
    ck_assert_int_eq(sp_store_member_add(st, &alice, id, "00000000-0000-4000-8000-000000000000",
                                         SP_ROLE_SPACE_VIEWER, 0, perm3),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(sp_store_member_add(st, &alice, "00000000-0000-4000-8000-000000000000", bob.id,
                                         SP_ROLE_SPACE_VIEWER, 0, perm3),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(event_count(), events);
    list_members(id, &m);
    ck_assert_uint_eq(m.n, 3);
    ck_assert_str_eq(member_of(&m, &bob)->role, SP_ROLE_SPACE_VIEWER);
}
END_TEST

START_TEST(test_members_list_managers_first)
{
    sp_user alice, bob, carol, dave;
    make_user(&alice, "alice", "Alice");
    make_user(&bob, "bob", "Bob");
    make_user(&carol, "carol", "Carol");
    make_user(&dave, "dave", "Dave");
    char id[SP_USER_ID_LEN], perm[SP_USER_ID_LEN];
    create_drive(&alice, "Team", id);
    ck_assert_int_eq(sp_store_member_add(st, &alice, id, bob.id, SP_ROLE_SPACE_VIEWER, 0, perm), 0);
    ck_assert_int_eq(sp_store_member_add(st, &alice, id, carol.id, SP_ROLE_SPACE_EDITOR, 0, perm),
                     0);
    ck_assert_int_eq(sp_store_member_add(st, &alice, id, dave.id, SP_ROLE_MANAGER, 0, perm), 0);

    member_rows m;
    list_members(id, &m);
    ck_assert_uint_eq(m.n, 4);
    ck_assert_str_eq(m.row[0].role, SP_ROLE_MANAGER);
    ck_assert_str_eq(m.row[1].role, SP_ROLE_MANAGER);
    ck_assert_str_ne(m.row[2].role, SP_ROLE_MANAGER);
    ck_assert_str_ne(m.row[3].role, SP_ROLE_MANAGER);
    ck_assert_ptr_nonnull(member_of(&m, &alice));
    ck_assert_ptr_nonnull(member_of(&m, &dave));
    ck_assert(member_of(&m, &alice) < &m.row[2]);
    ck_assert(member_of(&m, &dave) < &m.row[2]);
    ck_assert_str_eq(member_of(&m, &carol)->user_name, "Carol");
    ck_assert_str_eq(member_of(&m, &carol)->role, SP_ROLE_SPACE_EDITOR);

    /* Another drive's members are not mixed in. */
    char other[SP_USER_ID_LEN];
    create_drive(&bob, "Bob's", other);
    list_members(other, &m);
    ck_assert_uint_eq(m.n, 1);
    ck_assert_str_eq(m.row[0].user_id, bob.id);
}
END_TEST

START_TEST(test_member_change_role_and_expiry)
{
    sp_user alice, bob;
    make_user(&alice, "alice", "Alice");
    make_user(&bob, "bob", "Bob");
    char id[SP_USER_ID_LEN], perm[SP_USER_ID_LEN];
    create_drive(&alice, "Team", id);
    ck_assert_int_eq(sp_store_member_add(st, &alice, id, bob.id, SP_ROLE_SPACE_VIEWER, 0, perm), 0);
    int64_t events = event_count();
    const char *two[] = {alice.id, bob.id};
    member_rows m;
    char v[128];

    /* Role. */
    ck_assert_int_eq(
        sp_store_member_change(st, &alice, id, perm, 0, SP_ROLE_SPACE_EDITOR, 0, 0, NULL), 0);
    list_members(id, &m);
    ck_assert_str_eq(member_of(&m, &bob)->role, SP_ROLE_SPACE_EDITOR);
    ck_assert_int_eq(member_of(&m, &bob)->expires_at_ms, 0);
    ck_assert_int_eq(event_count(), events + 1);
    assert_recipients(SP_EVENT_MEMBER_UPDATED, id, two, 2);
    ck_assert_int_eq(event_field(SP_EVENT_MEMBER_UPDATED, id, "$.role", v, sizeof v), 1);
    ck_assert_str_eq(v, SP_ROLE_SPACE_EDITOR);
    ck_assert_int_eq(event_field(SP_EVENT_MEMBER_UPDATED, id, "$.grantee", v, sizeof v), 1);
    ck_assert_str_eq(v, bob.id);

    /* Expiry only: the role is kept. */
    ck_assert_int_eq(sp_store_member_change(st, &alice, id, perm, 0, NULL, 1, 4102444800000, NULL),
                     0);
    list_members(id, &m);
    ck_assert_str_eq(member_of(&m, &bob)->role, SP_ROLE_SPACE_EDITOR);
    ck_assert_int_eq(member_of(&m, &bob)->expires_at_ms, 4102444800000);
    ck_assert_int_eq(event_count(), events + 2);
    ck_assert_int_eq(event_field(SP_EVENT_MEMBER_UPDATED, id, "$.role", v, sizeof v), 1);
    ck_assert_str_eq(v, SP_ROLE_SPACE_EDITOR);

    /* A role change without set_expiry keeps the expiry. */
    ck_assert_int_eq(
        sp_store_member_change(st, &alice, id, perm, 0, SP_ROLE_SPACE_VIEWER, 0, 0, NULL), 0);
    list_members(id, &m);
    ck_assert_str_eq(member_of(&m, &bob)->role, SP_ROLE_SPACE_VIEWER);
    ck_assert_int_eq(member_of(&m, &bob)->expires_at_ms, 4102444800000);

    /* Expiry cleared. */
    ck_assert_int_eq(sp_store_member_change(st, &alice, id, perm, 0, NULL, 1, 0, NULL), 0);
    list_members(id, &m);
    ck_assert_int_eq(member_of(&m, &bob)->expires_at_ms, 0);
    ck_assert_int_eq(
        raw_int("SELECT expires_at IS NULL FROM members WHERE id = ?1", perm, NULL, NULL), 1);
    events = event_count();

    /* Unknown permission, or one of another drive: NOT_FOUND, no event. */
    char other[SP_USER_ID_LEN], other_perm[SP_USER_ID_LEN];
    create_drive(&bob, "Bob's", other);
    perm_of(other, &bob, other_perm);
    events = event_count();
    ck_assert_int_eq(sp_store_member_change(st, &alice, id, "00000000-0000-4000-8000-000000000000",
                                            0, SP_ROLE_SPACE_EDITOR, 0, 0, NULL),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(
        sp_store_member_change(st, &alice, id, other_perm, 0, SP_ROLE_SPACE_VIEWER, 0, 0, NULL),
        SP_ERR_NOT_FOUND);
    ck_assert_int_eq(sp_store_member_change(st, &alice, "00000000-0000-4000-8000-000000000000",
                                            perm, 0, SP_ROLE_SPACE_EDITOR, 0, 0, NULL),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(event_count(), events);
    list_members(other, &m);
    ck_assert_str_eq(m.row[0].role, SP_ROLE_MANAGER);
}
END_TEST

START_TEST(test_member_remove)
{
    sp_user alice, bob, carol;
    make_user(&alice, "alice", "Alice");
    make_user(&bob, "bob", "Bob");
    make_user(&carol, "carol", "Carol");
    char id[SP_USER_ID_LEN], perm[SP_USER_ID_LEN], perm_c[SP_USER_ID_LEN];
    create_drive(&alice, "Team", id);
    ck_assert_int_eq(sp_store_member_add(st, &alice, id, bob.id, SP_ROLE_SPACE_VIEWER, 0, perm), 0);
    ck_assert_int_eq(sp_store_member_add(st, &alice, id, carol.id, SP_ROLE_SPACE_EDITOR, 0, perm_c),
                     0);
    int64_t events = event_count();

    ck_assert_int_eq(sp_store_member_change(st, &alice, id, perm, 1, NULL, 0, 0, NULL), 0);
    ck_assert_int_eq(event_count(), events + 1);
    /* The removed user hears of it, as do those who remain. */
    const char *who[] = {alice.id, bob.id, carol.id};
    assert_recipients(SP_EVENT_MEMBER_REMOVED, id, who, 3);
    char v[128];
    ck_assert_int_eq(event_field(SP_EVENT_MEMBER_REMOVED, id, "$.grantee", v, sizeof v), 1);
    ck_assert_str_eq(v, bob.id);

    member_rows m;
    list_members(id, &m);
    ck_assert_uint_eq(m.n, 2);
    ck_assert_ptr_null(member_of(&m, &bob));
    drive_row d;
    ck_assert_int_eq(get_drive(&bob, 0, id, &d), SP_ERR_NOT_FOUND);

    /* Gone: removing again is NOT_FOUND and writes nothing. */
    ck_assert_int_eq(sp_store_member_change(st, &alice, id, perm, 1, NULL, 0, 0, NULL),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(event_count(), events + 1);
    /* And bob can be added back. */
    ck_assert_int_eq(sp_store_member_add(st, &alice, id, bob.id, SP_ROLE_SPACE_VIEWER, 0, perm), 0);
}
END_TEST

START_TEST(test_member_last_manager)
{
    sp_user alice, dave;
    make_user(&alice, "alice", "Alice");
    make_user(&dave, "dave", "Dave");
    char id[SP_USER_ID_LEN], pa[SP_USER_ID_LEN], pd[SP_USER_ID_LEN];
    create_drive(&alice, "Team", id);
    perm_of(id, &alice, pa);
    int64_t events = event_count();

    ck_assert_int_eq(
        sp_store_member_change(st, &alice, id, pa, 0, SP_ROLE_SPACE_VIEWER, 0, 0, NULL),
        SP_ERR_DENIED);
    ck_assert_int_eq(sp_store_member_change(st, &alice, id, pa, 1, NULL, 0, 0, NULL),
                     SP_ERR_DENIED);
    ck_assert_int_eq(event_count(), events);
    member_rows m;
    list_members(id, &m);
    ck_assert_uint_eq(m.n, 1);
    ck_assert_str_eq(m.row[0].role, SP_ROLE_MANAGER);
    /* Staying Manager (expiry only, or the same role) is no demotion. */
    ck_assert_int_eq(sp_store_member_change(st, &alice, id, pa, 0, SP_ROLE_MANAGER, 0, 0, NULL), 0);
    ck_assert_int_eq(sp_store_member_change(st, &alice, id, pa, 0, NULL, 1, 0, NULL), 0);

    /* With a second Manager, the first may step down. */
    ck_assert_int_eq(sp_store_member_add(st, &alice, id, dave.id, SP_ROLE_MANAGER, 0, pd), 0);
    ck_assert_int_eq(
        sp_store_member_change(st, &alice, id, pa, 0, SP_ROLE_SPACE_VIEWER, 0, 0, NULL), 0);
    list_members(id, &m);
    ck_assert_str_eq(member_of(&m, &alice)->role, SP_ROLE_SPACE_VIEWER);
    ck_assert_str_eq(m.row[0].user_id, dave.id);
    /* Now dave is the last one. */
    events = event_count();
    ck_assert_int_eq(sp_store_member_change(st, &dave, id, pd, 1, NULL, 0, 0, NULL), SP_ERR_DENIED);
    ck_assert_int_eq(sp_store_member_change(st, &dave, id, pd, 0, SP_ROLE_SPACE_EDITOR, 0, 0, NULL),
                     SP_ERR_DENIED);
    ck_assert_int_eq(event_count(), events);
    /* Back to two Managers: one may be removed. */
    ck_assert_int_eq(sp_store_member_change(st, &dave, id, pa, 0, SP_ROLE_MANAGER, 0, 0, NULL), 0);
    ck_assert_int_eq(sp_store_member_change(st, &alice, id, pd, 1, NULL, 0, 0, NULL), 0);
    list_members(id, &m);
    ck_assert_uint_eq(m.n, 1);
    ck_assert_str_eq(m.row[0].user_id, alice.id);
    ck_assert_str_eq(m.row[0].role, SP_ROLE_MANAGER);
}
END_TEST

/* ---- concurrency ---- */

typedef struct race_arg {
    pthread_barrier_t *barrier;
    const sp_user_claims *claims;
    sp_user user;
    int created;
    int rc;
} race_arg;

static void *race_provision(void *p)
{
    race_arg *a = p;
    pthread_barrier_wait(a->barrier);
    a->rc = sp_store_user_provision(st, a->claims, &a->user, &a->created);
    return NULL;
}

START_TEST(test_concurrent_provision)
{
    for (int round = 0; round < RACE_ROUNDS; round++) {
        char sub[32], name[32];
        snprintf(sub, sizeof sub, "racer-%d", round);
        snprintf(name, sizeof name, "racer%d", round);
        sp_user_claims c = claims_for(ISSUER, sub, name, name, "", 0);
        pthread_barrier_t barrier;
        ck_assert_int_eq(pthread_barrier_init(&barrier, NULL, RACE_THREADS), 0);
        race_arg args[RACE_THREADS];
        pthread_t threads[RACE_THREADS];
        for (int i = 0; i < RACE_THREADS; i++) {
            memset(&args[i], 0, sizeof args[i]);
            args[i].barrier = &barrier;
            args[i].claims = &c;
            args[i].created = -1;
            args[i].rc = 1;
            ck_assert_int_eq(pthread_create(&threads[i], NULL, race_provision, &args[i]), 0);
        }
        for (int i = 0; i < RACE_THREADS; i++)
            pthread_join(threads[i], NULL);
        pthread_barrier_destroy(&barrier);

        int created = 0;
        for (int i = 0; i < RACE_THREADS; i++) {
            ck_assert_int_eq(args[i].rc, 0);
            ck_assert_str_eq(args[i].user.id, args[0].user.id);
            ck_assert_int_eq(args[i].user.seq, args[0].user.seq);
            created += args[i].created;
        }
        ck_assert_int_eq(created, 1);
        ck_assert_int_eq(raw_int("SELECT count(*) FROM users WHERE sub = ?1", sub, NULL, NULL), 1);
        ck_assert_int_eq(raw_int("SELECT count(*) FROM drives d JOIN users u ON u.seq ="
                                 " d.owner_seq WHERE u.sub = ?1 AND d.drive_type = 'personal'",
                                 sub, NULL, NULL),
                         1);
        ck_assert_int_eq(raw_int("SELECT count(*) FROM members m JOIN users u ON u.seq ="
                                 " m.user_seq WHERE u.sub = ?1",
                                 sub, NULL, NULL),
                         1);
    }
    ck_assert_int_eq(raw_int("SELECT count(*) FROM users", NULL, NULL, NULL), RACE_ROUNDS);
    ck_assert_int_eq(event_count(), RACE_ROUNDS);
}
END_TEST

/* ---- the suite ---- */

static TCase *tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_unchecked_fixture(tc, root_setup, fixture_root_teardown);
    tcase_add_checked_fixture(tc, fixture_open, fixture_close);
    return tc;
}

static Suite *store_drives_suite(void)
{
    Suite *s = suite_create("store_drives");

    TCase *tc = tcase("users");
    tcase_add_test(tc, test_provision_first_sight);
    tcase_add_test(tc, test_provision_again_writes_nothing);
    tcase_add_test(tc, test_provision_after_purge);
    tcase_add_test(tc, test_provision_updates_changed_claims);
    tcase_add_test(tc, test_provision_same_sub_two_issuers);
    tcase_add_test(tc, test_provision_empty_email_is_null);
    tcase_add_test(tc, test_user_get);
    suite_add_tcase(s, tc);

    tc = tcase("create");
    tcase_add_test(tc, test_drive_create_alias_slug);
    tcase_add_test(tc, test_drive_create_manager_quota_event);
    suite_add_tcase(s, tc);

    tc = tcase("list");
    tcase_add_test(tc, test_list_member_drives_and_all);
    tcase_add_test(tc, test_list_filters);
    tcase_add_test(tc, test_list_orders);
    tcase_add_test(tc, test_list_keyset_paging);
    tcase_add_test(tc, test_list_disabled_drives);
    tcase_add_test(tc, test_get_visibility);
    suite_add_tcase(s, tc);

    tc = tcase("lifecycle");
    tcase_add_test(tc, test_change_update);
    tcase_add_test(tc, test_change_lifecycle_conflicts);
    tcase_add_test(tc, test_change_purge);
    suite_add_tcase(s, tc);

    tc = tcase("members");
    tcase_add_test(tc, test_member_add);
    tcase_add_test(tc, test_members_list_managers_first);
    tcase_add_test(tc, test_member_change_role_and_expiry);
    tcase_add_test(tc, test_member_remove);
    tcase_add_test(tc, test_member_last_manager);
    suite_add_tcase(s, tc);

    tc = tcase("concurrency");
    tcase_add_test(tc, test_concurrent_provision);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    json_object_seed(0);
    return fixture_main(store_drives_suite());
}
