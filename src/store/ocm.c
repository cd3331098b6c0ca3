/*
 * ocm.c - sent shares and the outbound delivery queue (see ocm.h).
 *
 * Deriving reads on the thread's reader connection first and takes the
 * writer only when an event concerns another instance, so the queue costs
 * the write path nothing while nobody shares abroad.
 */
#include "store/ocm.h"

#include "store/events.h"
#include "store/internal.h"
#include "store/ocm_internal.h"

#include "util/err.h"
#include "util/id.h"
#include "util/itemid.h"
#include "util/log.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Random bytes of a shared secret: 256 bits, hex-encoded. */
#define SECRET_BYTES 32

static const char SQL_CURSOR[] = "SELECT event_seq FROM ocm_cursor WHERE id = 1";
static const char SQL_SET_CURSOR[] = "UPDATE ocm_cursor SET event_seq = ? WHERE id = 1";
static const char SQL_MAX_EVENT[] = "SELECT coalesce(max(seq), 0) FROM events";
static const char SQL_EVENTS[] =
    "SELECT seq, type, subject, data FROM events WHERE seq > ?1 AND seq <= ?2 AND type IN"
    " ('" SP_EVENT_SHARE_CREATED "', '" SP_EVENT_SHARE_UPDATED "', '" SP_EVENT_SHARE_DELETED
    "', '" SP_EVENT_SHARE_EXPIRED "', '" SP_EVENT_SPACE_DELETED "', '" SP_EVENT_ITEM_CHANGED
    "', '" SP_EVENT_REMOTE_REGISTERED "', '" SP_EVENT_REMOTE_REMOVED "') ORDER BY seq LIMIT ?3";
static const char SQL_SENT_BY_SHARE[] =
    "SELECT seq FROM ocm_sent WHERE share_id = ? AND state IN ('pending', 'shared')";
static const char SQL_SENT_BY_DRIVE[] =
    "SELECT seq FROM ocm_sent WHERE drive_id = ? AND state IN ('pending', 'shared')";

/* What one relevant event asks for. */
enum derived_kind {
    D_SHARE,
    D_UNSHARE_SHARE,
    D_UNSHARE_DRIVE,
    D_CHANGED,
    D_PERMISSION, /* a sent share's role changed */
    D_ACCEPTED,   /* a share from another instance arrived */
    D_DECLINED,   /* and its recipient removed it */
    D_NONE        /* the event concerns nobody abroad */
};

typedef struct derived {
    enum derived_kind kind;
    json_t *data;    /* D_SHARE: the share.created data; D_ACCEPTED, D_DECLINED: the remote's */
    char key[256];   /* the share id (D_UNSHARE_SHARE, D_PERMISSION) or drive id (others) */
    char value[256]; /* D_CHANGED: the eTag; D_PERMISSION: the new role */
} derived;

typedef struct derive_batch {
    derived *items;
    size_t count, cap;
    int shares; /* D_SHARE items so far */
} derive_batch;

static void batch_free(derive_batch *b)
{
    for (size_t i = 0; i < b->count; i++)
        json_decref(b->items[i].data);
    free(b->items);
}

static derived *batch_add(derive_batch *b)
{
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        derived *p = realloc(b->items, cap * sizeof *p);
        if (!p)
            return NULL;
        b->items = p;
        b->cap = cap;
    }
    derived *d = &b->items[b->count++];
    memset(d, 0, sizeof *d);
    return d;
}

/* Collects the seq column of a query keyed by one text into a new array. */
static int collect_seqs(sp_conn *c, const char *sql, const char *key, int64_t **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    sp_db_stmt *s = sp_store__stmt(c, sql);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, key);
    size_t cap = 0;
    int rc;
    while ((rc = sp_db_step(s)) == SP_DB_ROW) {
        if (*count == cap) {
            cap = cap ? cap * 2 : 4;
            int64_t *p = realloc(*out, cap * sizeof *p);
            if (!p) {
                sp_store__done(s);
                free(*out);
                *out = NULL;
                return SP_ERR_NOMEM;
            }
            *out = p;
        }
        (*out)[(*count)++] = sp_db_column_int64(s, 0);
    }
    sp_store__done(s);
    if (rc != SP_DB_DONE) {
        free(*out);
        *out = NULL;
        *count = 0;
        return sp_store__err(c, rc, "sent shares");
    }
    return 0;
}

/* Non-zero when the domain of email is served here. */
static int local_address(const char *email, const char *const *local, size_t n)
{
    const char *at = strrchr(email, '@');
    if (!at)
        return 1;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(at + 1, local[i]) == 0)
            return 1;
    }
    return 0;
}

static const char SQL_USER_EMAIL[] = "SELECT coalesce(email, '') FROM users WHERE id = ?";

/* The verified e-mail address of user id ("" when none). */
static int user_email(sp_conn *c, const char *id, char *out, size_t outlen)
{
    sp_db_stmt *s = sp_store__stmt(c, SQL_USER_EMAIL);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, id);
    int rc = sp_db_step(s);
    if (rc == SP_DB_ROW)
        sp_store__copy_text(s, 0, out, outlen);
    sp_store__done(s);
    return rc == SP_DB_ROW || rc == SP_DB_DONE ? 0 : sp_store__err(c, rc, "user email");
}

/* 1 when a sent share (pending or shared) has key, 0 when not, <0 error. */
static int any_sent(sp_conn *c, const char *sql, const char *key)
{
    int64_t *seqs = NULL;
    size_t n = 0;
    int rc = collect_seqs(c, sql, key, &seqs, &n);
    free(seqs);
    return rc < 0 ? rc : n > 0;
}

/* Kinds that concern a share sent from here. */
static int about_sent(enum derived_kind k)
{
    return k != D_SHARE && k != D_ACCEPTED && k != D_DECLINED;
}

/* The kind a share.created asks for (D_SHARE or D_NONE; a negative
 * sp_err); completes data's granteeEmail from the grantee's verified
 * address. */
static int judge_share(sp_conn *r, json_t *data, const char *const *local, size_t local_count)
{
    /* Shared with a contact: its instance is known. */
    if (json_is_string(json_object_get(data, "ocmAddress")) &&
        json_is_string(json_object_get(data, "instance")))
        return D_SHARE;
    /* Shared with an address (or a user known here, such as a guest from
     * another instance's identity provider) of a domain this instance
     * does not serve: its home registry may be elsewhere. */
    char email[SP_OCM_TEXT_MAX] = "";
    const char *pending = json_string_value(json_object_get(data, "granteeEmail"));
    const char *user = json_string_value(json_object_get(data, "granteeUserId"));
    if (pending)
        snprintf(email, sizeof email, "%s", pending);
    else if (user) {
        int rc = user_email(r, user, email, sizeof email);
        if (rc < 0)
            return rc;
    }
    if (!email[0] || local_address(email, local, local_count))
        return D_NONE;
    if (!json_object_get(data, "granteeEmail"))
        json_object_set_new(data, "granteeEmail", json_string(email));
    return D_SHARE;
}

/* The kind a remote.registered or remote.removed asks for: an answer to
 * the sender of a share that came over OCM (or D_NONE). */
static int judge_remote(const char *type, json_t *data, const char **key)
{
    const char *origin = json_string_value(json_object_get(data, "origin"));
    const char *reason = json_string_value(json_object_get(data, "reason"));
    *key = json_string_value(json_object_get(data, "ocmShareId"));
    if (!*key || !json_is_string(json_object_get(data, "instance")))
        return D_NONE;
    if (strcmp(type, SP_EVENT_REMOTE_REGISTERED) == 0)
        return origin && strcmp(origin, "ocm") == 0 ? D_ACCEPTED : D_NONE;
    /* Removed by its owner; not because the sender unshared it. */
    return reason && strcmp(reason, "deleted") == 0 ? D_DECLINED : D_NONE;
}

/*
 * Looks at one event on the reader and adds what it may ask for to b.
 * Changes and revocations count only for drives and shares sent abroad:
 * those already recorded, or any while this batch holds a new share (it
 * is recorded before them, in order, in the write phase).
 */
static int judge_event(sp_conn *r, const char *type, const char *subject, const char *text,
                       const char *const *local, size_t local_count, derive_batch *b)
{
    json_error_t e;
    json_t *data = json_loads(text, 0, &e);
    if (!data)
        return 0; /* the log holds what we wrote; never stop the queue on one row */
    int rc = 0, kind;
    const char *key = subject, *value = NULL;
    if (strcmp(type, SP_EVENT_SHARE_CREATED) == 0) {
        kind = judge_share(r, data, local, local_count);
    } else if (strcmp(type, SP_EVENT_SHARE_DELETED) == 0 ||
               strcmp(type, SP_EVENT_SHARE_EXPIRED) == 0) {
        kind = D_UNSHARE_SHARE;
        key = json_string_value(json_object_get(data, "shareId"));
    } else if (strcmp(type, SP_EVENT_SHARE_UPDATED) == 0) {
        kind = D_PERMISSION;
        key = json_string_value(json_object_get(data, "shareId"));
        value = json_string_value(json_array_get(json_object_get(data, "roles"), 0));
        if (!value)
            kind = D_NONE;
    } else if (strcmp(type, SP_EVENT_REMOTE_REGISTERED) == 0 ||
               strcmp(type, SP_EVENT_REMOTE_REMOVED) == 0) {
        kind = judge_remote(type, data, &key);
    } else if (strcmp(type, SP_EVENT_ITEM_CHANGED) == 0) {
        kind = D_CHANGED;
        value = json_string_value(json_object_get(data, "eTag"));
    } else {
        kind = D_UNSHARE_DRIVE;
    }
    if (kind < 0 || kind == D_NONE) {
        rc = kind < 0 ? kind : 0;
        goto done;
    }
    if (!key || strlen(key) >= sizeof b->items[0].key)
        goto done;
    if (about_sent(kind) && !b->shares) {
        rc = any_sent(r,
                      kind == D_UNSHARE_SHARE || kind == D_PERMISSION ? SQL_SENT_BY_SHARE
                                                                      : SQL_SENT_BY_DRIVE,
                      key);
        if (rc <= 0)
            goto done;
        rc = 0;
    }
    derived *d = batch_add(b);
    if (!d) {
        rc = SP_ERR_NOMEM;
        goto done;
    }
    d->kind = kind;
    snprintf(d->key, sizeof d->key, "%s", key);
    snprintf(d->value, sizeof d->value, "%s", value ? value : "");
    if (!about_sent(kind))
        d->data = json_incref(data);
    b->shares += kind == D_SHARE;
done:
    json_decref(data);
    return rc;
}

/* ---- the write phase ---- */

/* A share seen before (its event read again after a crash) inserts
 * nothing: DO NOTHING rather than a failed statement, which would end a
 * PostgreSQL transaction. (The WHERE clause also keeps SQLite from reading
 * ON CONFLICT as a join's ON.) */
static const char SQL_SENT_INSERT[] =
    "INSERT INTO ocm_sent (share_id, drive_id, item_id, grantee, name, sharer,"
    " sharer_name, role, secret, created_at, updated_at, share_with, instance, resource_type,"
    " expiration)"
    " SELECT ?1, ?2, ?3, ?4, ?5, u.username, u.display_name, ?6, ?7, ?8, ?8, ?10, ?11, ?12, ?13"
    " FROM users u WHERE u.id = ?9 ON CONFLICT DO NOTHING";
static const char SQL_ITEM_FOLDER[] = "SELECT i.folder FROM items i JOIN drives d ON"
                                      " d.seq = i.drive_seq WHERE d.id = ?1 AND i.id = ?2";
static const char SQL_SENT_STATE[] = "SELECT state FROM ocm_sent WHERE seq = ?";
static const char SQL_UNTRIED_SHARE[] =
    "SELECT 1 FROM ocm_outbox WHERE sent_seq = ? AND kind = 'share' AND attempts = 0";
static const char SQL_LAST_KIND[] =
    "SELECT seq, kind FROM ocm_outbox WHERE sent_seq = ? ORDER BY seq DESC LIMIT 1";
static const char SQL_DROP_ALL[] = "DELETE FROM ocm_outbox WHERE sent_seq = ?";
static const char SQL_DROP_CHANGED[] =
    "DELETE FROM ocm_outbox WHERE sent_seq = ? AND kind IN ('changed', 'permission')";
static const char SQL_SENT_ROLE[] = "SELECT state, role FROM ocm_sent WHERE seq = ?";
static const char SQL_SET_ROLE[] = "UPDATE ocm_sent SET role = ?, updated_at = ? WHERE seq = ?";
static const char SQL_SET_STATE[] =
    "UPDATE ocm_sent SET state = ?, instance = coalesce(?, instance), updated_at = ?"
    " WHERE seq = ?";
static const char SQL_SET_ETAG[] = "UPDATE ocm_outbox SET etag = ? WHERE seq = ?";

static int enqueue(sp_conn *w, int64_t sent_seq, const char *kind, const char *etag)
{
    return sp_store__ocm_enqueue(w, sent_seq, 0, kind, etag);
}

static int set_state(sp_conn *w, int64_t sent_seq, const char *state, const char *instance)
{
    sp_db_stmt *s = sp_store__stmt(w, SQL_SET_STATE);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, state);
    if (instance)
        sp_db_bind_text(s, 2, instance);
    sp_db_bind_int64(s, 3, sp_time_now_ms());
    sp_db_bind_int64(s, 4, sent_seq);
    return sp_store__step_done(w, s, "sent share state");
}

/* 1 when a one-int-parameter query has a row, 0 when not, <0 error. */
static int exists(sp_conn *w, const char *sql, int64_t seq)
{
    sp_db_stmt *s = sp_store__stmt(w, sql);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, seq);
    int rc = sp_db_step(s);
    sp_store__done(s);
    return rc == SP_DB_ROW ? 1 : rc == SP_DB_DONE ? 0 : sp_store__err(w, rc, "ocm lookup");
}

/* The last queued delivery of a sent share: its seq and kind ("" when
 * none). */
static int last_queued(sp_conn *w, int64_t sent_seq, int64_t *seq, char kind[16])
{
    sp_db_stmt *s = sp_store__stmt(w, SQL_LAST_KIND);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, sent_seq);
    int rc = sp_db_step(s);
    *seq = 0;
    kind[0] = '\0';
    if (rc == SP_DB_ROW) {
        *seq = sp_db_column_int64(s, 0);
        sp_store__copy_text(s, 1, kind, 16);
    }
    sp_store__done(s);
    return rc == SP_DB_ROW || rc == SP_DB_DONE ? 0 : sp_store__err(w, rc, "last delivery");
}

/* "file" or "folder": the item as storage last described it; the drive
 * root, and an item never described, are folders (what every share was
 * before files could be shared). */
static int resource_type(sp_conn *w, const char *drive_id, const char *item_id, const char **out)
{
    *out = "folder";
    if (strcmp(drive_id, item_id) == 0)
        return 0;
    sp_db_stmt *s = sp_store__stmt(w, SQL_ITEM_FOLDER);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, drive_id);
    sp_db_bind_text(s, 2, item_id);
    int rc = sp_db_step(s);
    if (rc == SP_DB_ROW && sp_db_column_int64(s, 0) == 0)
        *out = "file";
    sp_store__done(s);
    return rc == SP_DB_ROW || rc == SP_DB_DONE ? 0 : sp_store__err(w, rc, "item kind");
}

static int derive_share(sp_conn *w, json_t *data)
{
    const char *share_id = json_string_value(json_object_get(data, "shareId"));
    const char *drive_id = json_string_value(json_object_get(data, "driveId"));
    const char *item_id = json_string_value(json_object_get(data, "itemId"));
    /* A contact: its OCM address, at the instance it was accepted from. */
    const char *address = json_string_value(json_object_get(data, "ocmAddress"));
    const char *instance = json_string_value(json_object_get(data, "instance"));
    const char *email =
        address ? address : json_string_value(json_object_get(data, "granteeEmail"));
    const char *expires = json_string_value(json_object_get(data, "expirationDateTime"));
    const char *sharer = json_string_value(json_object_get(data, "sharer"));
    const char *name = json_string_value(json_object_get(data, "resourceName"));
    const char *role = json_string_value(json_array_get(json_object_get(data, "roles"), 0));
    if (!name || !*name)
        name = json_string_value(json_object_get(data, "driveName"));
    if (!share_id || !drive_id || !item_id || !email || !sharer || !name || !role)
        return 0;
    /* A share stored by an older version may name another drive's item:
     * it is not served, here nor to local grantees (SP_SHARE_SERVED). */
    if (sp_itemid_check(drive_id, item_id, NULL) < 0 || (address && !instance))
        return 0;
    const char *type = NULL;
    int64_t expires_ms = 0;
    int rc = resource_type(w, drive_id, item_id, &type);
    if (rc < 0)
        return rc;
    if (expires && sp_time_parse_rfc3339(expires, &expires_ms) < 0)
        expires_ms = 0;
    unsigned char raw[SECRET_BYTES];
    char secret[SECRET_BYTES * 2 + 1];
    if (sp_id_random(raw, sizeof raw) < 0)
        return SP_ERR_IO;
    for (int i = 0; i < SECRET_BYTES; i++)
        snprintf(secret + 2 * i, 3, "%02x", raw[i]);
    sp_db_stmt *s = sp_store__stmt(w, SQL_SENT_INSERT);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, share_id);
    sp_db_bind_text(s, 2, drive_id);
    sp_db_bind_text(s, 3, item_id);
    sp_db_bind_text(s, 4, email);
    sp_db_bind_text(s, 5, name);
    sp_db_bind_text(s, 6, role);
    sp_db_bind_text_copy(s, 7, secret);
    sp_db_bind_int64(s, 8, sp_time_now_ms());
    sp_db_bind_text(s, 9, sharer);
    if (address) {
        sp_db_bind_text(s, 10, address);
        sp_db_bind_text(s, 11, instance);
    }
    sp_db_bind_text(s, 12, type);
    if (expires_ms > 0)
        sp_db_bind_int64(s, 13, expires_ms / 1000);
    rc = sp_store__step_done(w, s, "insert sent share");
    if (rc < 0 || sp_db_changes(w->db) == 0)
        return rc; /* seen before (a re-read after a crash) */
    return enqueue(w, sp_db_last_id(w->db), "share", NULL);
}

static int derive_unshare(sp_conn *w, int64_t sent_seq)
{
    char state[16] = "";
    sp_db_stmt *s = sp_store__stmt(w, SQL_SENT_STATE);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, sent_seq);
    int step = sp_db_step(s);
    if (step == SP_DB_ROW)
        sp_store__copy_text(s, 0, state, sizeof state);
    sp_store__done(s);
    /* A failed read ends the batch (on PostgreSQL it ends the
     * transaction too): it is not "no such share". */
    if (step != SP_DB_ROW && step != SP_DB_DONE)
        return sp_store__err(w, step, "sent share state");
    if (strcmp(state, "pending") != 0 && strcmp(state, "shared") != 0)
        return 0;
    /* Never offered anywhere yet: nobody needs to hear of it. */
    int untried = strcmp(state, "pending") == 0 ? exists(w, SQL_UNTRIED_SHARE, sent_seq) : 0;
    if (untried < 0)
        return untried;
    if (untried) {
        int rc = sp_store__exec_seq(w, SQL_DROP_ALL, sent_seq, "drop deliveries");
        return rc < 0 ? rc : set_state(w, sent_seq, "unshared", NULL);
    }
    int64_t last;
    char kind[16];
    int rc = last_queued(w, sent_seq, &last, kind);
    if (rc < 0 || strcmp(kind, "unshared") == 0)
        return rc;
    /* Changes not sent yet do not matter any more. */
    rc = sp_store__exec_seq(w, SQL_DROP_CHANGED, sent_seq, "drop changes");
    return rc < 0 ? rc : enqueue(w, sent_seq, "unshared", NULL);
}

static int derive_changed(sp_conn *w, int64_t sent_seq, const char *etag)
{
    int64_t last;
    char kind[16];
    int rc = last_queued(w, sent_seq, &last, kind);
    if (rc < 0 || strcmp(kind, "unshared") == 0)
        return rc;
    if (strcmp(kind, "changed") == 0) {
        /* One pending change per share: the newest eTag is what counts,
         * and an outage leaves one delivery, not one per change. */
        sp_db_stmt *s = sp_store__stmt(w, SQL_SET_ETAG);
        if (!s)
            return SP_ERR_DB;
        sp_db_bind_text(s, 1, etag);
        sp_db_bind_int64(s, 2, last);
        return sp_store__step_done(w, s, "coalesce change");
    }
    return enqueue(w, sent_seq, "changed", etag);
}

/* A sent share's role changed: the receiver hears of it (the
 * notification reads the role when it is sent, so one queued permission
 * change stands for any number). */
static int derive_permission(sp_conn *w, int64_t sent_seq, const char *role)
{
    char state[16] = "", old[64] = "";
    sp_db_stmt *s = sp_store__stmt(w, SQL_SENT_ROLE);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, sent_seq);
    int step = sp_db_step(s);
    if (step == SP_DB_ROW) {
        sp_store__copy_text(s, 0, state, sizeof state);
        sp_store__copy_text(s, 1, old, sizeof old);
    }
    sp_store__done(s);
    if (step != SP_DB_ROW && step != SP_DB_DONE)
        return sp_store__err(w, step, "sent share role");
    if ((strcmp(state, "pending") != 0 && strcmp(state, "shared") != 0) || strcmp(old, role) == 0)
        return 0;
    s = sp_store__stmt(w, SQL_SET_ROLE);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, role);
    sp_db_bind_int64(s, 2, sp_time_now_ms());
    sp_db_bind_int64(s, 3, sent_seq);
    int rc = sp_store__step_done(w, s, "sent share role");
    /* Not offered yet: the share itself carries the new role. */
    int untried =
        rc == 0 && strcmp(state, "pending") == 0 ? exists(w, SQL_UNTRIED_SHARE, sent_seq) : 0;
    if (rc < 0 || untried != 0)
        return untried < 0 ? untried : rc;
    int64_t last;
    char kind[16];
    rc = last_queued(w, sent_seq, &last, kind);
    if (rc < 0 || strcmp(kind, "unshared") == 0 || strcmp(kind, "permission") == 0)
        return rc;
    return enqueue(w, sent_seq, "permission", NULL);
}

static int save_cursor(sp_conn *w, int64_t seq)
{
    sp_db_stmt *s = sp_store__stmt(w, SQL_SET_CURSOR);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, seq);
    return sp_store__step_done(w, s, "save ocm cursor");
}

/* Reads one int64 of a parameterless query on c. */
static int read_int(sp_conn *c, const char *sql, int64_t *out)
{
    sp_db_stmt *s = sp_store__stmt(c, sql);
    if (!s)
        return SP_ERR_DB;
    int rc = sp_db_step(s);
    if (rc == SP_DB_ROW)
        *out = sp_db_column_int64(s, 0);
    sp_store__done(s);
    return rc == SP_DB_ROW ? 0 : sp_store__err(c, rc, sql);
}

int sp_store_ocm_derive(sp_store *st, const char *const *local_domains, size_t local_count,
                        int save_all, sp_ocm_cursor *cursor, int *more)
{
    *more = 0;
    sp_conn *r = sp_store__reader(st);
    if (!r)
        return SP_ERR_DB;
    if (!cursor->loaded) {
        int rc = read_int(r, SQL_CURSOR, &cursor->seq);
        if (rc < 0)
            return rc;
        cursor->saved = cursor->seq;
        cursor->loaded = 1;
    }
    int64_t max = 0;
    int rc = read_int(r, SQL_MAX_EVENT, &max);
    if (rc < 0)
        return rc;
    derive_batch b = {0};
    int64_t next = max; /* past every event up to max, unless the batch fills */
    sp_db_stmt *s = sp_store__stmt(r, SQL_EVENTS);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, cursor->seq);
    sp_db_bind_int64(s, 2, max);
    sp_db_bind_int64(s, 3, SP_OCM_DERIVE_BATCH);
    int step, rows = 0;
    /* Judge after reading: the lookups use the same reader connection. */
    typedef struct ev {
        int64_t seq;
        char *type, *subject, *data;
    } ev;
    ev *evs = calloc(SP_OCM_DERIVE_BATCH, sizeof *evs);
    if (!evs) {
        sp_store__done(s);
        return SP_ERR_NOMEM;
    }
    while ((step = sp_db_step(s)) == SP_DB_ROW) {
        ev *e = &evs[rows++];
        e->seq = sp_db_column_int64(s, 0);
        e->type = strdup(sp_db_column_text(s, 1));
        e->subject = strdup(sp_db_column_text(s, 2));
        e->data = strdup(sp_db_column_text(s, 3));
        if (!e->type || !e->subject || !e->data) {
            step = SP_DB_NOMEM;
            break;
        }
    }
    sp_store__done(s);
    if (step != SP_DB_DONE) {
        rc = step == SP_DB_NOMEM ? SP_ERR_NOMEM : sp_store__err(r, step, "ocm events");
        goto done;
    }
    if (rows == SP_OCM_DERIVE_BATCH) {
        next = evs[rows - 1].seq;
        *more = 1;
    }
    for (int i = 0; rc == 0 && i < rows; i++)
        rc = judge_event(r, evs[i].type, evs[i].subject, evs[i].data, local_domains, local_count,
                         &b);
    if (rc < 0)
        goto done;

    if (b.count == 0 && !(save_all && next != cursor->saved) &&
        next - cursor->saved < SP_OCM_CURSOR_LAG) {
        cursor->seq = next; /* nothing abroad: no write */
        goto done;
    }
    sp_conn *w = sp_store__begin(st);
    if (!w) {
        rc = SP_ERR_DB;
        goto done;
    }
    for (size_t i = 0; rc == 0 && i < b.count; i++) {
        derived *d = &b.items[i];
        if (d->kind == D_SHARE) {
            rc = derive_share(w, d->data);
            continue;
        }
        if (!about_sent(d->kind)) {
            rc = sp_store__ocm_reply(w, d->kind == D_ACCEPTED, d->data);
            continue;
        }
        int64_t *sent = NULL;
        size_t n = 0;
        int by_share = d->kind == D_UNSHARE_SHARE || d->kind == D_PERMISSION;
        rc = collect_seqs(w, by_share ? SQL_SENT_BY_SHARE : SQL_SENT_BY_DRIVE, d->key, &sent, &n);
        for (size_t j = 0; rc == 0 && j < n; j++)
            rc = d->kind == D_CHANGED      ? derive_changed(w, sent[j], d->value)
                 : d->kind == D_PERMISSION ? derive_permission(w, sent[j], d->value)
                                           : derive_unshare(w, sent[j]);
        free(sent);
    }
    if (rc == 0)
        rc = save_cursor(w, next);
    if (rc < 0) {
        sp_store__rollback(st);
        goto done;
    }
    rc = sp_store__commit(st);
    if (rc == 0) {
        cursor->seq = next;
        cursor->saved = next;
    }
done:
    for (int i = 0; i < rows; i++) {
        free(evs[i].type);
        free(evs[i].subject);
        free(evs[i].data);
    }
    free(evs);
    batch_free(&b);
    return rc;
}

/* ---- outcomes ---- */

static const char SQL_DELETE[] = "DELETE FROM ocm_outbox WHERE seq = ?";
static const char SQL_DROP_REPLY[] = "DELETE FROM ocm_outbox WHERE reply_seq = ?";
/* ?1 the share, ?2 the instance that took it, ?3 now. Only a share still
 * pending becomes shared: one its receiver declined meanwhile stays
 * refused. */
static const char SQL_SHARED[] =
    "UPDATE ocm_sent SET state = 'shared', instance = ?2, updated_at = ?3"
    " WHERE seq = ?1 AND state = 'pending'";
/* An answer that came while the share was being delivered, signed by
 * another instance than the one that took it, was not the receiver's. */
static const char SQL_FOREIGN_ANSWER[] =
    "UPDATE ocm_sent SET answer = NULL, answered_at = NULL, answered_by = NULL"
    " WHERE seq = ?1 AND answered_by IS NOT NULL AND answered_by <> ?2";
/* The receiver declined before its 201 was recorded: the share ends now
 * (?2 now). */
static const char SQL_DECLINED_EARLY[] =
    "UPDATE ocm_sent SET state = 'refused', updated_at = ?2"
    " WHERE seq = ?1 AND state = 'shared' AND answer = 'declined'";

/* Records that d's share was taken by instance, and applies an answer
 * that came before this record (ocm_answers.c). Within a write
 * transaction. */
static int share_delivered(sp_conn *w, int64_t sent_seq, const char *instance)
{
    /* Each statement is given only the parameters it names (0: none):
     * PostgreSQL cannot type a parameter that is bound NULL and appears
     * nowhere in the statement. */
    static const struct {
        const char *sql;
        int instance_at, now_at;
    } steps[] = {{SQL_SHARED, 2, 3}, {SQL_FOREIGN_ANSWER, 2, 0}, {SQL_DECLINED_EARLY, 0, 2}};
    int64_t now = sp_time_now_ms();
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        sp_db_stmt *s = sp_store__stmt(w, steps[i].sql);
        if (!s)
            return SP_ERR_DB;
        sp_db_bind_int64(s, 1, sent_seq);
        if (steps[i].instance_at && instance)
            sp_db_bind_text(s, steps[i].instance_at, instance);
        if (steps[i].now_at)
            sp_db_bind_int64(s, steps[i].now_at, now);
        int rc = sp_store__step_done(w, s, "sent share delivered");
        if (rc < 0)
            return rc;
        if (steps[i].sql == SQL_DECLINED_EARLY && sp_db_changes(w->db) > 0)
            return sp_store__exec_seq(w, SQL_DROP_ALL, sent_seq, "drop deliveries");
    }
    return 0;
}

int sp_store_ocm_finish(sp_store *st, const sp_ocm_delivery *d, sp_ocm_outcome outcome,
                        const char *instance)
{
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    int rc;
    if (outcome == SP_OCM_DELIVERED) {
        rc = sp_store__exec_seq(w, SQL_DELETE, d->seq, "delivered");
        if (rc == 0 && strcmp(d->kind, "share") == 0)
            rc = share_delivered(w, d->sent_seq, instance);
        else if (rc == 0 && strcmp(d->kind, "unshared") == 0)
            rc = set_state(w, d->sent_seq, "unshared", NULL);
    } else if (d->reply_seq) {
        /* The sender no longer knows its share: nothing more to say. */
        rc = sp_store__exec_seq(w, SQL_DROP_REPLY, d->reply_seq, "drop answers");
    } else {
        rc = sp_store__exec_seq(w, SQL_DROP_ALL, d->sent_seq, "drop deliveries");
        if (rc == 0)
            rc = set_state(w, d->sent_seq, outcome == SP_OCM_LOCAL ? "local" : "refused", NULL);
    }
    if (rc < 0) {
        sp_store__rollback(st);
        return rc;
    }
    return sp_store__commit(st);
}
