/*
 * users.c - provisioning users on first sight and keeping their claims
 * current.
 */
#include "store/users.h"

#include "store/events.h"
#include "store/internal.h"
#include "store/roles.h"

#include "util/err.h"
#include "util/id.h"
#include "util/log.h"
#include "util/time.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* With whether the user has a personal drive (the drives_personal index):
 * an admin may have purged it, and the next request makes a new one. */
static const char SQL_USER_BY_SUB[] =
    "SELECT seq, id, issuer, username, display_name, coalesce(email, ''), roles,"
    " EXISTS (SELECT 1 FROM drives d WHERE d.owner_seq = users.seq"
    " AND d.drive_type = 'personal'), groups_digest FROM users WHERE issuer = ? AND sub = ?";
static const char SQL_USER_BY_ID[] =
    "SELECT seq, id, issuer, username, display_name, coalesce(email, ''), roles"
    " FROM users WHERE id = ?";
static const char SQL_USER_INSERT[] =
    "INSERT INTO users (id, issuer, sub, username, display_name, email, roles, created_at,"
    " updated_at) VALUES (?, ?, ?, ?, ?, nullif(lower(?), ''), ?, ?, ?)";
static const char SQL_USER_UPDATE[] =
    "UPDATE users SET username = ?, display_name = ?, email = nullif(lower(?), ''), roles = ?,"
    " updated_at = ? WHERE seq = ?";
static const char SQL_DRIVE_INSERT_PERSONAL[] =
    "INSERT INTO drives (id, drive_type, alias, name, owner_seq, etag, mtime, created_at)"
    " VALUES (?, 'personal', ?, ?, ?, ?, ?, ?)";
static const char SQL_MEMBER_INSERT[] =
    "INSERT INTO members (user_seq, drive_seq, id, role, created_at) VALUES (?, ?, ?, ?, ?)";

void sp_store__copy_text(sp_db_stmt *s, int col, char *dst, size_t dstlen)
{
    const char *t = sp_db_column_text(s, col);
    snprintf(dst, dstlen, "%s", t ? (const char *)t : "");
}

static void read_user(sp_db_stmt *s, sp_user *u)
{
    u->seq = sp_db_column_int64(s, 0);
    sp_store__copy_text(s, 1, u->id, sizeof u->id);
    sp_store__copy_text(s, 2, u->issuer, sizeof u->issuer);
    sp_store__copy_text(s, 3, u->username, sizeof u->username);
    sp_store__copy_text(s, 4, u->display_name, sizeof u->display_name);
    sp_store__copy_text(s, 5, u->email, sizeof u->email);
    u->roles = (unsigned)sp_db_column_int64(s, 6);
}

/* Looks up (issuer, sub) on conn; *has_drive tells whether the user has a
 * personal drive, *same_groups whether the stored group digest is digest.
 * Returns 1 found, 0 not found, <0 error. */
static int find_by_sub(sp_conn *c, const char *issuer, const char *sub, const char *digest,
                       sp_user *out, int *has_drive, int *same_groups)
{
    sp_db_stmt *s = sp_store__stmt(c, SQL_USER_BY_SUB);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, issuer);
    sp_db_bind_text(s, 2, sub);
    int rc = sp_db_step(s);
    int found = rc == SP_DB_ROW;
    if (found) {
        read_user(s, out);
        *has_drive = sp_db_column_int64(s, 7);
        const char *stored = sp_db_column_text(s, 8);
        *same_groups = strcmp(stored ? (const char *)stored : "", digest ? digest : "") == 0;
    }
    sp_store__done(s);
    if (!found && rc != SP_DB_DONE)
        return sp_store__err(c, rc, "find user");
    return found;
}

static int claims_match(const sp_user *u, const sp_user_claims *c)
{
    const char *email = c->email ? c->email : "";
    return strcmp(u->username, c->username) == 0 && strcmp(u->display_name, c->display_name) == 0 &&
           strcasecmp(u->email, email) == 0 && u->roles == c->roles;
}

/* Inserts the personal drive of user (seq, id), named after the claims,
 * its Manager membership and the space.created event: at first sight, and
 * on the first request after an admin purged the drive. */
static int create_personal_drive(sp_conn *w, int64_t user_seq, const char *user_id,
                                 const sp_user_claims *c)
{
    int64_t now = sp_time_now_ms();
    char drive_id[SP_ID_LEN], perm_id[SP_ID_LEN], etag[SP_ID_LEN];
    if (sp_id_uuid(drive_id) < 0 || sp_id_uuid(perm_id) < 0 || sp_id_uuid(etag) < 0)
        return SP_ERR_IO;
    char alias[SP_USER_NAME_MAX + 16];
    snprintf(alias, sizeof alias, "personal/%s", c->username);
    sp_db_stmt *s = sp_store__stmt(w, SQL_DRIVE_INSERT_PERSONAL);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, drive_id);
    sp_db_bind_text(s, 2, alias);
    sp_db_bind_text(s, 3, c->display_name);
    sp_db_bind_int64(s, 4, user_seq);
    sp_db_bind_text(s, 5, etag);
    sp_db_bind_int64(s, 6, now);
    sp_db_bind_int64(s, 7, now);
    int rc = sp_store__step_done(w, s, "insert personal drive");
    if (rc < 0)
        return rc;
    int64_t drive_seq = sp_db_last_id(w->db);

    s = sp_store__stmt(w, SQL_MEMBER_INSERT);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, user_seq);
    sp_db_bind_int64(s, 2, drive_seq);
    sp_db_bind_text(s, 3, perm_id);
    sp_db_bind_text(s, 4, SP_ROLE_MANAGER);
    sp_db_bind_int64(s, 5, now);
    rc = sp_store__step_done(w, s, "insert personal membership");
    if (rc < 0)
        return rc;

    json_t *data = json_pack("{s:s, s:s, s:s, s:s}", "executant", user_id, "driveId", drive_id,
                             "driveName", c->display_name, "driveType", "personal");
    if (!data)
        return SP_ERR_NOMEM;
    rc = sp_store__event_add(w, SP_EVENT_SPACE_CREATED, drive_id, data, &user_seq, 1, NULL);
    json_decref(data);
    return rc;
}

/* Inserts the user and its personal drive (create_personal_drive). */
static int create_user(sp_conn *w, const sp_user_claims *c, sp_user *out)
{
    int64_t now = sp_time_now_ms();
    char user_id[SP_ID_LEN];
    if (sp_id_uuid(user_id) < 0)
        return SP_ERR_IO;
    const char *email = c->email ? c->email : "";

    sp_db_stmt *s = sp_store__stmt(w, SQL_USER_INSERT);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, user_id);
    sp_db_bind_text(s, 2, c->issuer);
    sp_db_bind_text(s, 3, c->sub);
    sp_db_bind_text(s, 4, c->username);
    sp_db_bind_text(s, 5, c->display_name);
    sp_db_bind_text(s, 6, email);
    sp_db_bind_int64(s, 7, (int)c->roles);
    sp_db_bind_int64(s, 8, now);
    sp_db_bind_int64(s, 9, now);
    int rc = sp_store__step_done(w, s, "insert user");
    if (rc < 0)
        return rc;
    int64_t user_seq = sp_db_last_id(w->db);
    rc = create_personal_drive(w, user_seq, user_id, c);
    if (rc < 0)
        return rc;
    rc = sp_store__shares_match_email(w, user_seq, user_id, email);
    if (rc < 0)
        return rc;

    memset(out, 0, sizeof *out);
    out->seq = user_seq;
    snprintf(out->id, sizeof out->id, "%s", user_id);
    snprintf(out->issuer, sizeof out->issuer, "%s", c->issuer);
    snprintf(out->username, sizeof out->username, "%s", c->username);
    snprintf(out->display_name, sizeof out->display_name, "%s", c->display_name);
    snprintf(out->email, sizeof out->email, "%s", email);
    out->roles = c->roles;
    return 0;
}

static int update_user(sp_conn *w, const sp_user_claims *c, sp_user *u)
{
    sp_db_stmt *s = sp_store__stmt(w, SQL_USER_UPDATE);
    if (!s)
        return SP_ERR_DB;
    const char *email = c->email ? c->email : "";
    sp_db_bind_text(s, 1, c->username);
    sp_db_bind_text(s, 2, c->display_name);
    sp_db_bind_text(s, 3, email);
    sp_db_bind_int64(s, 4, (int)c->roles);
    sp_db_bind_int64(s, 5, sp_time_now_ms());
    sp_db_bind_int64(s, 6, u->seq);
    int rc = sp_store__step_done(w, s, "update user");
    if (rc == 0 && strcasecmp(u->email, email) != 0)
        rc = sp_store__shares_match_email(w, u->seq, u->id, email);
    if (rc < 0)
        return rc;
    snprintf(u->username, sizeof u->username, "%s", c->username);
    snprintf(u->display_name, sizeof u->display_name, "%s", c->display_name);
    snprintf(u->email, sizeof u->email, "%s", email);
    u->roles = c->roles;
    return 0;
}

int sp_store_user_provision(sp_store *st, const sp_user_claims *claims, sp_user *out,
                            int *created)
{
    if (created)
        *created = 0;
    /* The common case: known user with a personal drive, same claims; one
     * read, no write. */
    sp_conn *r = sp_store__reader(st);
    if (!r)
        return SP_ERR_DB;
    int has_drive = 0, same_groups = 0;
    int found = find_by_sub(r, claims->issuer, claims->sub, claims->groups_digest, out, &has_drive,
                            &same_groups);
    if (found < 0)
        return found;
    if (found && has_drive && same_groups && claims_match(out, claims))
        return 0;

    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    /* Look again under the writer: another request may have created it. */
    found = find_by_sub(w, claims->issuer, claims->sub, claims->groups_digest, out, &has_drive,
                        &same_groups);
    int rc = found < 0 ? found : 0;
    if (rc == 0 && !found) {
        rc = create_user(w, claims, out);
        if (rc == 0 && created)
            *created = 1;
    } else if (rc == 0 && !claims_match(out, claims)) {
        rc = update_user(w, claims, out);
    }
    if (rc == 0 && (!found || !same_groups))
        rc = sp_store__groups_replace(w, out->seq, claims);
    if (rc == 0 && found && !has_drive) {
        rc = create_personal_drive(w, out->seq, out->id, claims);
        if (rc == 0)
            sp_info("store", "new personal drive for %s: the last one was purged", out->id);
    }
    if (rc < 0) {
        sp_store__rollback(st);
        return rc;
    }
    rc = sp_store__commit(st);
    if (rc == 0 && created && *created)
        sp_info("store", "new user %s (%s) from %s", out->id, out->username, out->issuer);
    return rc;
}

int sp_store_user_get(sp_store *st, const char *id, sp_user *out)
{
    sp_conn *r = sp_store__reader(st);
    if (!r)
        return SP_ERR_DB;
    sp_db_stmt *s = sp_store__stmt(r, SQL_USER_BY_ID);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, id);
    int rc = sp_db_step(s);
    if (rc == SP_DB_ROW)
        read_user(s, out);
    sp_store__done(s);
    if (rc == SP_DB_ROW)
        return 0;
    return rc == SP_DB_DONE ? SP_ERR_NOT_FOUND : sp_store__err(r, rc, "get user");
}

/* Addresses are stored in lower case: the same statement on both. */
static const char SQL_USER_BY_EMAIL_ONE[] =
    "SELECT seq, id, issuer, username, display_name, coalesce(email, ''), roles"
    " FROM users WHERE email = lower(?) ORDER BY seq LIMIT 2";
static const char *const SQL_USER_BY_EMAIL[2] = {SQL_USER_BY_EMAIL_ONE, SQL_USER_BY_EMAIL_ONE};
#define USER_BY_USERNAME(D)                                                                       \
    "SELECT seq, id, issuer, username, display_name, coalesce(email, ''), roles FROM users"      \
    " WHERE " D##_NOCASE("username") " = " D##_NOCASE("?") " ORDER BY seq LIMIT 2"
static const char *const SQL_USER_BY_USERNAME[2] = SP_SQL_BOTH(USER_BY_USERNAME);

/* Runs a user lookup by one text key; with unique set, a second row is
 * SP_ERR_CONFLICT. */
static int user_by_key(sp_store *st, const char *const sql[2], const char *key, int unique,
                       sp_user *out)
{
    sp_conn *r = sp_store__reader(st);
    sp_db_stmt *s = r ? sp_store__stmt(r, SP_SQL(r, sql)) : NULL;
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, key);
    int rc = sp_db_step(s);
    if (rc == SP_DB_ROW) {
        read_user(s, out);
        if (unique && (rc = sp_db_step(s)) == SP_DB_ROW) {
            sp_store__done(s);
            return SP_ERR_CONFLICT;
        }
        sp_store__done(s);
        return rc == SP_DB_ROW || rc == SP_DB_DONE ? 0 : sp_store__err(r, rc, "user by key");
    }
    sp_store__done(s);
    return rc == SP_DB_DONE ? SP_ERR_NOT_FOUND : sp_store__err(r, rc, "user by key");
}

int sp_store_user_by_email(sp_store *st, const char *email, sp_user *out)
{
    return user_by_key(st, SQL_USER_BY_EMAIL, email, 1, out);
}

int sp_store_user_by_username(sp_store *st, const char *username, sp_user *out)
{
    return user_by_key(st, SQL_USER_BY_USERNAME, username, 1, out);
}

#define SEARCH(D)                                                                                 \
    "SELECT id, display_name, coalesce(email, ''), username FROM users"                           \
    " WHERE " D##_ILIKE("username", "?1") " OR " D##_ILIKE("email", "?1")                        \
    " OR " D##_ILIKE("display_name", "?2") " ORDER BY " D##_NOCASE("display_name") ", id LIMIT ?3"
static const char *const SQL_SEARCH[2] = SP_SQL_BOTH(SEARCH);

void sp_store__like_patterns(const char *term, char *prefix, char *contains)
{
    size_t n = 0;
    for (const char *p = term; *p && n + 4 < SP_USER_NAME_MAX * 2; p++) {
        if (*p == '%' || *p == '_' || *p == '\\')
            prefix[n++] = '\\';
        prefix[n++] = *p;
    }
    prefix[n] = '\0';
    snprintf(contains, SP_STORE_LIKE_MAX, "%%%s%%", prefix);
    prefix[n++] = '%';
    prefix[n] = '\0';
}

int sp_store_users_search(sp_store *st, const char *term, sp_user_fn fn, void *ctx)
{
    char prefix[SP_STORE_LIKE_MAX], contains[SP_STORE_LIKE_MAX];
    sp_store__like_patterns(term, prefix, contains);

    sp_conn *r = sp_store__reader(st);
    if (!r)
        return SP_ERR_DB;
    sp_db_stmt *s = sp_store__stmt(r, SP_SQL(r, SQL_SEARCH));
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, prefix);
    sp_db_bind_text(s, 2, contains);
    sp_db_bind_int64(s, 3, SP_USER_SEARCH_MAX);
    return sp_store__each_user(r, s, fn, ctx, "search users");
}

int sp_store__each_user(sp_conn *c, sp_db_stmt *s, sp_user_fn fn, void *ctx, const char *what)
{
    int rc, err = 0;
    while ((rc = sp_db_step(s)) == SP_DB_ROW) {
        err = fn(sp_db_column_text(s, 0), sp_db_column_text(s, 1),
                 sp_db_column_text(s, 2), sp_db_column_text(s, 3),
                 ctx);
        if (err < 0)
            break;
    }
    if (err == 0 && rc != SP_DB_ROW && rc != SP_DB_DONE)
        err = sp_store__err(c, rc, what);
    sp_store__done(s);
    return err;
}
