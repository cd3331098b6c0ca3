/*
 * groups.c - groups named by tokens, memberships replaced as tokens
 * change, and the look-ups of the groups routes.
 */
#include "store/groups.h"

#include "store/internal.h"

#include "util/err.h"
#include "util/id.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUP_COLS "g.seq, g.id, g.name, g.issuer"

#define SEARCH(D)                                                                                 \
    "SELECT " GROUP_COLS " FROM groups g WHERE g.issuer = ?1 AND " D##_ILIKE("g.name", "?2")      \
    " ORDER BY " D##_NOCASE("g.name") ", g.id LIMIT ?3"
static const char *const SQL_SEARCH[2] = SP_SQL_BOTH(SEARCH);
static const char SQL_GET[] = "SELECT " GROUP_COLS " FROM groups g WHERE g.id = ?1";
#define OF_USER(D)                                                                                \
    "SELECT " GROUP_COLS " FROM group_members m JOIN groups g ON g.seq = m.group_seq"             \
    " WHERE m.user_seq = ?1 ORDER BY " D##_NOCASE("g.name") ", g.id"
static const char *const SQL_OF_USER[2] = SP_SQL_BOTH(OF_USER);
#define MEMBERS(D)                                                                                \
    "SELECT u.id, u.display_name, coalesce(u.email, ''), u.username FROM group_members m"         \
    " JOIN users u ON u.seq = m.user_seq WHERE m.group_seq = ?1"                                  \
    " ORDER BY " D##_NOCASE("u.display_name") ", u.id LIMIT ?2"
static const char *const SQL_MEMBERS[2] = SP_SQL_BOTH(MEMBERS);

static const char SQL_MEMBER_SEQS[] = "SELECT user_seq FROM group_members WHERE group_seq = ?";
static const char SQL_FORGET[] = "DELETE FROM group_members WHERE user_seq = ?";
static const char SQL_KNOW[] =
    "INSERT INTO groups (id, issuer, name, created_at) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT (issuer, name) DO NOTHING";
static const char SQL_SEQ[] = "SELECT seq FROM groups WHERE issuer = ?1 AND name = ?2";
static const char SQL_JOIN[] = "INSERT INTO group_members (group_seq, user_seq) VALUES (?, ?)";
static const char SQL_DIGEST[] = "UPDATE users SET groups_digest = ? WHERE seq = ?";

static void read_group(sp_db_stmt *s, sp_group *g)
{
    g->seq = sp_db_column_int64(s, 0);
    g->id = sp_db_column_text(s, 1);
    g->name = sp_db_column_text(s, 2);
    g->issuer = sp_db_column_text(s, 3);
}

/* Steps s (bound) on c, calling fn for each group. */
static int each_group(sp_conn *c, sp_db_stmt *s, sp_group_fn fn, void *ctx)
{
    int rc, err = 0;
    while ((rc = sp_db_step(s)) == SP_DB_ROW) {
        sp_group g;
        read_group(s, &g);
        if ((err = fn(&g, ctx)) < 0)
            break;
    }
    if (err == 0 && rc != SP_DB_ROW && rc != SP_DB_DONE)
        err = sp_store__err(c, rc, "list groups");
    sp_store__done(s);
    return err;
}

int sp_store_groups_search(sp_store *st, const char *issuer, const char *term, sp_group_fn fn,
                           void *ctx)
{
    char prefix[SP_STORE_LIKE_MAX], contains[SP_STORE_LIKE_MAX];
    sp_store__like_patterns(term, prefix, contains);
    sp_conn *r = sp_store__reader(st);
    sp_db_stmt *s = r ? sp_store__stmt(r, SP_SQL(r, SQL_SEARCH)) : NULL;
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, issuer);
    sp_db_bind_text(s, 2, contains);
    sp_db_bind_int64(s, 3, SP_GROUP_SEARCH_MAX);
    return each_group(r, s, fn, ctx);
}

static int copy_group(const sp_group *g, void *arg)
{
    sp_group_row *out = arg;
    out->seq = g->seq;
    snprintf(out->id, sizeof out->id, "%s", g->id);
    snprintf(out->name, sizeof out->name, "%s", g->name);
    snprintf(out->issuer, sizeof out->issuer, "%s", g->issuer);
    return 1;
}

int sp_store_group_get(sp_store *st, const char *id, sp_group_row *out)
{
    sp_conn *r = sp_store__reader(st);
    sp_db_stmt *s = r ? sp_store__stmt(r, SQL_GET) : NULL;
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, id);
    out->seq = 0;
    int rc = each_group(r, s, copy_group, out);
    return rc < 0 ? rc : out->seq ? 0 : SP_ERR_NOT_FOUND;
}

int sp_store_groups_of_user(sp_store *st, int64_t user_seq, sp_group_fn fn, void *ctx)
{
    sp_conn *r = sp_store__reader(st);
    sp_db_stmt *s = r ? sp_store__stmt(r, SP_SQL(r, SQL_OF_USER)) : NULL;
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, user_seq);
    return each_group(r, s, fn, ctx);
}

int sp_store_group_members(sp_store *st, int64_t group_seq, sp_user_fn fn, void *ctx)
{
    sp_conn *r = sp_store__reader(st);
    sp_db_stmt *s = r ? sp_store__stmt(r, SP_SQL(r, SQL_MEMBERS)) : NULL;
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, group_seq);
    sp_db_bind_int64(s, 2, SP_GROUP_MEMBERS_MAX);
    return sp_store__each_user(r, s, fn, ctx, "group members");
}

/* The seq of group (issuer, name), made known now if it is new. */
static int group_seq(sp_conn *w, const char *issuer, const char *name, int64_t *seq)
{
    char id[SP_ID_LEN];
    if (sp_id_uuid(id) < 0)
        return SP_ERR_IO;
    sp_db_stmt *s = sp_store__stmt(w, SQL_KNOW);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, id);
    sp_db_bind_text(s, 2, issuer);
    sp_db_bind_text(s, 3, name);
    sp_db_bind_int64(s, 4, sp_time_now_ms());
    int rc = sp_store__step_done(w, s, "know group");
    if (rc < 0)
        return rc;
    s = sp_store__stmt(w, SQL_SEQ);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, issuer);
    sp_db_bind_text(s, 2, name);
    int step = sp_db_step(s);
    *seq = step == SP_DB_ROW ? sp_db_column_int64(s, 0) : 0;
    sp_store__done(s);
    return step == SP_DB_ROW ? 0 : sp_store__err(w, step, "group seq");
}

int sp_store__groups_replace(sp_conn *w, int64_t user_seq, const sp_user_claims *c)
{
    int rc = sp_store__exec_seq(w, SQL_FORGET, user_seq, "forget group memberships");
    const char *name = c->groups;
    for (int i = 0; rc == 0 && i < c->group_count; i++, name += strlen(name) + 1) {
        int64_t seq;
        rc = group_seq(w, c->issuer, name, &seq);
        sp_db_stmt *s = rc == 0 ? sp_store__stmt(w, SQL_JOIN) : NULL;
        if (rc == 0 && !s)
            rc = SP_ERR_DB;
        if (rc == 0) {
            sp_db_bind_int64(s, 1, seq);
            sp_db_bind_int64(s, 2, user_seq);
            rc = sp_store__step_done(w, s, "join group");
        }
    }
    sp_db_stmt *s = rc == 0 ? sp_store__stmt(w, SQL_DIGEST) : NULL;
    if (rc == 0 && !s)
        rc = SP_ERR_DB;
    if (rc == 0) {
        sp_db_bind_text(s, 1, c->groups_digest ? c->groups_digest : "");
        sp_db_bind_int64(s, 2, user_seq);
        rc = sp_store__step_done(w, s, "groups digest");
    }
    return rc;
}

int sp_store__seqs_add(int64_t **seqs, size_t *count, int64_t seq)
{
    for (size_t i = 0; i < *count; i++)
        if ((*seqs)[i] == seq)
            return 0;
    int64_t *p = realloc(*seqs, (*count + 1) * sizeof *p);
    if (!p)
        return SP_ERR_NOMEM;
    p[(*count)++] = seq;
    *seqs = p;
    return 0;
}

int sp_store__add_group_members(sp_conn *w, int64_t group_seq, int64_t **seqs, size_t *count)
{
    sp_db_stmt *s = sp_store__stmt(w, SQL_MEMBER_SEQS);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, group_seq);
    int64_t *members = NULL;
    size_t n = 0;
    int rc = sp_store__collect_seqs(w, s, &members, &n, "group member seqs");
    if (rc < 0 || n == 0) {
        free(members);
        return rc;
    }
    /* Appended whole, not one by one through sp_store__seqs_add: a group
     * of tens of thousands would cost a quadratic scan inside the writer's
     * transaction. A user already in the list (a member who is also in the
     * group) is harmless: recipients are inserted once (ON CONFLICT DO NOTHING). */
    int64_t *p = realloc(*seqs, (*count + n) * sizeof *p);
    if (!p) {
        free(members);
        return SP_ERR_NOMEM;
    }
    memcpy(p + *count, members, n * sizeof *p);
    *seqs = p;
    *count += n;
    free(members);
    return 0;
}
