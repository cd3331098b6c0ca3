/*
 * remotes.c - remote (federated) spaces: registration by URL or over OCM,
 * lookup, removal, and the OCM notifications that change them.
 */
#include "store/remotes.h"

#include "store/events.h"
#include "store/internal.h"

#include "util/err.h"
#include "util/id.h"
#include "util/time.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

_Static_assert(SP_STORE_SECRET_HASH_LEN == SHA256_DIGEST_LENGTH * 2 + 1, "hex SHA-256 and its NUL");

void sp_store__hash_secret(const char *secret, char out[SP_STORE_SECRET_HASH_LEN])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)secret, strlen(secret), d);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[SP_STORE_SECRET_HASH_LEN - 1] = '\0';
}

/* The fields every remote event names (schema/events/remote.json). */
typedef struct remote_row {
    int64_t seq, owner_seq;
    char id[SP_ID_LEN];
    char owner_id[SP_ID_LEN];
    char name[1024];
    char remote_drive_id[300];
    char web_dav_url[2100];
    char instance[2100];
    char ocm_share_id[300];
    char etag[300];
    char sub_id[300]; /* its subscription at the hosting instance, "" when none */
    int64_t sub_seq;  /* the newest notification's sequenceNumber applied */
    char permissions[16];  /* OCM: "read" or "read,write"; "" when not known */
    char resource_type[8]; /* OCM: "file" or "folder"; "" when not known */
} remote_row;

/* permissions as stored ("read", "read,write") as a JSON array of the
 * OCM names (new reference). */
static json_t *permissions_json(const char *permissions)
{
    return strcmp(permissions, "read,write") == 0 ? json_pack("[s, s]", "read", "write")
                                                  : json_pack("[s]", "read");
}

/* Event data for row (new reference); executant may be NULL. */
static json_t *remote_data(const remote_row *r, const char *executant)
{
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "driveId", r->id, "driveName", r->name,
                          "driveType", "mountpoint", "remoteDriveId", r->remote_drive_id,
                          "webDavUrl", r->web_dav_url, "instance", r->instance);
    if (d && executant)
        json_object_set_new(d, "executant", json_string(executant));
    if (d && r->ocm_share_id[0])
        json_object_set_new(d, "ocmShareId", json_string(r->ocm_share_id));
    if (d && r->permissions[0])
        json_object_set_new(d, "permissions", permissions_json(r->permissions));
    if (d && r->resource_type[0])
        json_object_set_new(d, "resourceType", json_string(r->resource_type));
    return d;
}

/* Writes an event about row for its owner. */
static int remote_event(sp_conn *w, const char *type, const remote_row *r, json_t *data)
{
    if (!data)
        return SP_ERR_NOMEM;
    int rc = sp_store__event_add(w, type, r->id, data, &r->owner_seq, 1, NULL);
    json_decref(data);
    return rc;
}

static const char SQL_BY_OCM[] = "SELECT seq, id, owner_seq, coalesce(ocm_secret, '') FROM remotes"
                                 " WHERE instance = ? AND ocm_share_id = ?";
/* Only a space registered by URL: another share's space stays that
 * share's. */
static const char SQL_BY_URL[] = "SELECT seq, id FROM remotes WHERE owner_seq = ? AND web_dav_url"
                                 " = ? AND ocm_share_id IS NULL";
static const char SQL_ATTACH[] = "UPDATE remotes SET ocm_share_id = ?, ocm_secret = ?,"
                                 " permissions = ?, resource_type = ? WHERE seq = ?";
static const char SQL_INSERT[] =
    "INSERT INTO remotes (id, owner_seq, instance, web_dav_url, remote_drive_id, name, etag,"
    " mtime, ocm_share_id, ocm_secret, created_at, sub_id, sub_state, sub_expires_at,"
    " permissions, resource_type) VALUES (?, ?, ?, ?, ?, ?, ?, nullif(?, 0), ?, ?, ?, ?, ?, ?,"
    " ?, ?)";

/* For an OCM announcement: finds what is there already. Returns 1 when
 * the announcement is settled (id_out set), 0 to insert, <0 error. */
static int ocm_existing(sp_conn *w, const sp_user *owner, const sp_remote_new *r,
                        const char *secret_hash, char id_out[SP_USER_ID_LEN])
{
    sp_db_stmt *s = sp_store__stmt(w, SQL_BY_OCM);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, r->instance);
    sp_db_bind_text(s, 2, r->ocm_share_id);
    int step = sp_db_step(s);
    if (step == SP_DB_ROW) {
        int same = sp_db_column_int64(s, 2) == owner->seq &&
                   strcmp(sp_db_column_text(s, 3), secret_hash) == 0;
        sp_store__copy_text(s, 1, id_out, SP_USER_ID_LEN);
        sp_store__done(s);
        return same ? 1 : SP_ERR_CONFLICT;
    }
    sp_store__done(s);
    if (step != SP_DB_DONE)
        return sp_store__err(w, step, "remote by share");

    s = sp_store__stmt(w, SQL_BY_URL);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, owner->seq);
    sp_db_bind_text(s, 2, r->web_dav_url);
    step = sp_db_step(s);
    if (step != SP_DB_ROW) {
        sp_store__done(s);
        return step == SP_DB_DONE ? 0 : sp_store__err(w, step, "remote by url");
    }
    int64_t seq = sp_db_column_int64(s, 0);
    sp_store__copy_text(s, 1, id_out, SP_USER_ID_LEN);
    sp_store__done(s);
    /* The user registered this space by URL: it now belongs to this
     * share. */
    s = sp_store__stmt(w, SQL_ATTACH);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, r->ocm_share_id);
    sp_db_bind_text(s, 2, secret_hash);
    sp_db_bind_text(s, 3, r->permissions);
    sp_db_bind_text(s, 4, r->resource_type);
    sp_db_bind_int64(s, 5, seq);
    step = sp_db_step(s);
    sp_store__done(s);
    return step == SP_DB_DONE ? 1 : sp_store__err(w, step, "attach share to remote");
}

int sp_store_remote_create(sp_store *st, const sp_user *owner, const sp_remote_new *r,
                           char id_out[SP_USER_ID_LEN], int *existed)
{
    if (existed)
        *existed = 0;
    remote_row row = {.owner_seq = owner->seq};
    if (sp_id_uuid(row.id) < 0)
        return SP_ERR_IO;
    char secret_hash[SP_STORE_SECRET_HASH_LEN] = "";
    if (r->ocm_share_id)
        sp_store__hash_secret(r->ocm_secret ? r->ocm_secret : "", secret_hash);

    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    int rc = 0;
    if (r->ocm_share_id) {
        rc = ocm_existing(w, owner, r, secret_hash, id_out);
        if (rc < 0)
            goto fail;
        if (rc == 1) {
            if (existed)
                *existed = 1;
            return sp_store__commit(st);
        }
    }
    sp_db_stmt *s = sp_store__stmt(w, SQL_INSERT);
    if (!s) {
        rc = SP_ERR_DB;
        goto fail;
    }
    sp_db_bind_text(s, 1, row.id);
    sp_db_bind_int64(s, 2, owner->seq);
    sp_db_bind_text(s, 3, r->instance);
    sp_db_bind_text(s, 4, r->web_dav_url);
    sp_db_bind_text(s, 5, r->remote_drive_id);
    sp_db_bind_text(s, 6, r->name);
    if (r->etag)
        sp_db_bind_text(s, 7, r->etag);
    sp_db_bind_int64(s, 8, r->mtime_ms);
    if (r->ocm_share_id) {
        sp_db_bind_text(s, 9, r->ocm_share_id);
        sp_db_bind_text(s, 10, secret_hash);
    }
    sp_db_bind_int64(s, 11, sp_time_now_ms());
    char state_hash[SP_STORE_SECRET_HASH_LEN];
    if (r->sub_id) {
        sp_store__hash_secret(r->sub_client_state ? r->sub_client_state : "", state_hash);
        sp_db_bind_text(s, 12, r->sub_id);
        sp_db_bind_text(s, 13, state_hash);
        sp_db_bind_int64(s, 14, r->sub_expires_at);
    }
    sp_db_bind_text(s, 15, r->permissions);
    sp_db_bind_text(s, 16, r->resource_type);
    int step = sp_db_step(s);
    sp_store__done(s);
    if (step != SP_DB_DONE) {
        rc = sp_store__err(w, step, "insert remote"); /* CONFLICT: registered already */
        goto fail;
    }
    snprintf(row.name, sizeof row.name, "%s", r->name);
    snprintf(row.remote_drive_id, sizeof row.remote_drive_id, "%s", r->remote_drive_id);
    snprintf(row.web_dav_url, sizeof row.web_dav_url, "%s", r->web_dav_url);
    snprintf(row.instance, sizeof row.instance, "%s", r->instance);
    snprintf(row.ocm_share_id, sizeof row.ocm_share_id, "%s",
             r->ocm_share_id ? r->ocm_share_id : "");
    snprintf(row.permissions, sizeof row.permissions, "%s", r->permissions ? r->permissions : "");
    snprintf(row.resource_type, sizeof row.resource_type, "%s",
             r->resource_type ? r->resource_type : "");
    json_t *data = remote_data(&row, r->executant);
    if (data)
        json_object_set_new(data, "origin", json_string(r->ocm_share_id ? "ocm" : "url"));
    rc = remote_event(w, SP_EVENT_REMOTE_REGISTERED, &row, data);
    if (rc < 0)
        goto fail;
    rc = sp_store__commit(st);
    if (rc == 0)
        snprintf(id_out, SP_USER_ID_LEN, "%s", row.id);
    return rc;

fail:
    sp_store__rollback(st);
    return rc;
}

/* Columns of a remote row, in read_row order. */
#define ROW_COLS                                                                                   \
    "r.seq, r.id, r.owner_seq, u.id, r.name, r.remote_drive_id, r.web_dav_url, r.instance,"        \
    " coalesce(r.ocm_share_id, ''), coalesce(r.etag, ''), coalesce(r.mtime, r.created_at),"        \
    " coalesce(r.sub_id, ''), r.sub_seq, coalesce(r.permissions, ''),"                             \
    " coalesce(r.resource_type, '')"

static const char SQL_GET[] = "SELECT " ROW_COLS " FROM remotes r JOIN users u ON u.seq ="
                              " r.owner_seq WHERE r.id = ? AND r.owner_seq = ?";
static const char SQL_BY_SECRET[] = "SELECT " ROW_COLS " FROM remotes r JOIN users u ON u.seq ="
                                    " r.owner_seq WHERE r.ocm_share_id = ? AND r.ocm_secret = ?"
                                    " LIMIT 1";
static const char SQL_BY_SHARE[] = "SELECT " ROW_COLS " FROM remotes r JOIN users u ON u.seq ="
                                   " r.owner_seq WHERE r.instance = ? AND r.ocm_share_id = ?";
static const char SQL_BY_SUB[] = "SELECT " ROW_COLS " FROM remotes r JOIN users u ON u.seq ="
                                 " r.owner_seq WHERE r.instance = ? AND r.sub_id = ?"
                                 " AND r.sub_state = ?";
static const char SQL_DELETE[] = "DELETE FROM remotes WHERE seq = ?";
/* Queued once: a second request for the same subscription inserts
 * nothing (rather than failing, which would end a PostgreSQL
 * transaction). */
static const char SQL_UNSUBSCRIBE[] = "INSERT INTO remote_unsubscribes (instance, sub_id)"
                                      " VALUES (?, ?) ON CONFLICT DO NOTHING";
static const char SQL_SET_ETAG[] = "UPDATE remotes SET etag = ?, mtime = ? WHERE seq = ?";
static const char SQL_SET_SUB_SEQ[] = "UPDATE remotes SET sub_seq = ? WHERE seq = ?";
static const char SQL_SET_PERMISSIONS[] = "UPDATE remotes SET permissions = ? WHERE seq = ?";

static void read_row(sp_db_stmt *s, remote_row *r, int64_t *mtime)
{
    r->seq = sp_db_column_int64(s, 0);
    sp_store__copy_text(s, 1, r->id, sizeof r->id);
    r->owner_seq = sp_db_column_int64(s, 2);
    sp_store__copy_text(s, 3, r->owner_id, sizeof r->owner_id);
    sp_store__copy_text(s, 4, r->name, sizeof r->name);
    sp_store__copy_text(s, 5, r->remote_drive_id, sizeof r->remote_drive_id);
    sp_store__copy_text(s, 6, r->web_dav_url, sizeof r->web_dav_url);
    sp_store__copy_text(s, 7, r->instance, sizeof r->instance);
    sp_store__copy_text(s, 8, r->ocm_share_id, sizeof r->ocm_share_id);
    sp_store__copy_text(s, 9, r->etag, sizeof r->etag);
    *mtime = sp_db_column_int64(s, 10);
    sp_store__copy_text(s, 11, r->sub_id, sizeof r->sub_id);
    r->sub_seq = sp_db_column_int64(s, 12);
    sp_store__copy_text(s, 13, r->permissions, sizeof r->permissions);
    sp_store__copy_text(s, 14, r->resource_type, sizeof r->resource_type);
}

/* Runs a one-row lookup (?1, ?2 bound as text, or ?2 as int when key2 is
 * NULL; ?3 as text when key3 is set) on conn. Returns 0 with *row filled,
 * SP_ERR_NOT_FOUND, or error. */
static int find_row(sp_conn *c, const char *sql, const char *key1, const char *key2,
                    int64_t key2_int, const char *key3, remote_row *row, int64_t *mtime)
{
    sp_db_stmt *s = sp_store__stmt(c, sql);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, key1);
    if (key2)
        sp_db_bind_text(s, 2, key2);
    else
        sp_db_bind_int64(s, 2, key2_int);
    if (key3)
        sp_db_bind_text(s, 3, key3);
    int step = sp_db_step(s);
    if (step == SP_DB_ROW)
        read_row(s, row, mtime);
    sp_store__done(s);
    if (step == SP_DB_ROW)
        return 0;
    return step == SP_DB_DONE ? SP_ERR_NOT_FOUND : sp_store__err(c, step, "find remote");
}

int sp_store_remote_get(sp_store *st, const sp_user *owner, const char *id, sp_drive_fn fn,
                        void *ctx)
{
    sp_conn *c = sp_store__reader(st);
    if (!c)
        return SP_ERR_DB;
    remote_row row;
    int64_t mtime = 0;
    int rc = find_row(c, SQL_GET, id, NULL, owner->seq, NULL, &row, &mtime);
    if (rc < 0)
        return rc;
    sp_drive d = {.seq = row.seq,
                  .id = row.id,
                  .type = "mountpoint",
                  .name = row.name,
                  .description = "",
                  .quota_total = -1,
                  .etag = row.etag,
                  .mtime_ms = mtime,
                  .shared_drive_id = row.remote_drive_id,
                  .item_id = row.remote_drive_id,
                  .remote_web_dav_url = row.web_dav_url,
                  .remote_instance = row.instance};
    return fn(&d, ctx);
}

/* Queues the deletion of subscription sub_id at instance (keeper.c sends
 * it). */
static int unsubscribe_later(sp_conn *w, const char *instance, const char *sub_id)
{
    sp_db_stmt *s = sp_store__stmt(w, SQL_UNSUBSCRIBE);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, instance);
    sp_db_bind_text(s, 2, sub_id);
    int step = sp_db_step(s);
    sp_store__done(s);
    return step == SP_DB_DONE ? 0 : sp_store__err(w, step, "queue unsubscribe");
}

/* Deletes row and writes remote.removed with reason; its subscription at
 * the hosting instance, if any, is queued for deletion there. */
static int remove_row(sp_conn *w, const remote_row *row, const char *executant, const char *reason)
{
    if (row->sub_id[0]) {
        int rc = unsubscribe_later(w, row->instance, row->sub_id);
        if (rc < 0)
            return rc;
    }
    sp_db_stmt *s = sp_store__stmt(w, SQL_DELETE);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, row->seq);
    int step = sp_db_step(s);
    sp_store__done(s);
    if (step != SP_DB_DONE)
        return sp_store__err(w, step, "delete remote");
    json_t *data = remote_data(row, executant);
    if (data)
        json_object_set_new(data, "reason", json_string(reason));
    return remote_event(w, SP_EVENT_REMOTE_REMOVED, row, data);
}

int sp_store_remote_remove(sp_store *st, const sp_user *owner, const char *id)
{
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    remote_row row;
    int64_t mtime = 0;
    int rc = find_row(w, SQL_GET, id, NULL, owner->seq, NULL, &row, &mtime);
    if (rc == 0)
        rc = remove_row(w, &row, owner->id, "deleted");
    if (rc < 0) {
        sp_store__rollback(st);
        return rc;
    }
    return sp_store__commit(st);
}

/* What a notification does (strings borrowed). */
typedef struct note_args {
    sp_remote_ocm_note note;
    const char *reason;      /* UNSHARED: remote.removed's reason */
    const char *etag;        /* CHANGED */
    int64_t mtime_ms;        /* CHANGED: 0 for now */
    const char *permissions; /* PERMISSIONS: "read" or "read,write" */
} note_args;

/* Runs an update of row by sql (?1 text, ?2 the row's seq). */
static int update_row(sp_conn *w, const char *sql, const char *text, const remote_row *row)
{
    sp_db_stmt *s = sp_store__stmt(w, sql);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, text);
    sp_db_bind_int64(s, 2, row->seq);
    int step = sp_db_step(s);
    sp_store__done(s);
    return step == SP_DB_DONE ? 0 : sp_store__err(w, step, "update remote");
}

/* Stores the share's new permissions and writes remote.changed naming
 * them, unless they are the stored ones (a redelivery). */
static int apply_permissions(sp_conn *w, const remote_row *row, const char *permissions,
                             int *applied)
{
    if (!permissions || strcmp(permissions, row->permissions) == 0)
        return 0;
    int rc = update_row(w, SQL_SET_PERMISSIONS, permissions, row);
    if (rc < 0)
        return rc;
    json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:o}", "driveId", row->id, "remoteDriveId",
                             row->remote_drive_id, "instance", row->instance, "change",
                             "permissions", "permissions", permissions_json(permissions));
    if (data && row->etag[0])
        json_object_set_new(data, "eTag", json_string(row->etag));
    *applied = 1;
    return remote_event(w, SP_EVENT_REMOTE_CHANGED, row, data);
}

/* Applies the note to row (lock held): UNSHARED removes it with reason,
 * CHANGED stores etag and writes remote.changed unless etag is the stored
 * one (*applied stays 0, nothing written), PERMISSIONS likewise. */
static int apply_note(sp_conn *w, const remote_row *row, const note_args *n, int *applied)
{
    if (n->note == SP_REMOTE_OCM_UNSHARED) {
        *applied = 1;
        return remove_row(w, row, NULL, n->reason);
    }
    if (n->note == SP_REMOTE_OCM_PERMISSIONS)
        return apply_permissions(w, row, n->permissions, applied);
    if (!n->etag || strcmp(n->etag, row->etag) == 0)
        return 0; /* a redelivery: nothing changes */
    int64_t mtime = n->mtime_ms ? n->mtime_ms : sp_time_now_ms();
    sp_db_stmt *s = sp_store__stmt(w, SQL_SET_ETAG);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, n->etag);
    sp_db_bind_int64(s, 2, mtime);
    sp_db_bind_int64(s, 3, row->seq);
    int step = sp_db_step(s);
    sp_store__done(s);
    if (step != SP_DB_DONE)
        return sp_store__err(w, step, "remote etag");
    char when[SP_TIME_RFC3339_LEN];
    sp_time_format_rfc3339(mtime, when);
    json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "driveId", row->id, "remoteDriveId",
                             row->remote_drive_id, "instance", row->instance, "eTag", n->etag,
                             "lastModifiedDateTime", when, "change", "updated");
    *applied = 1;
    return remote_event(w, SP_EVENT_REMOTE_CHANGED, row, data);
}

/* Records that the notification numbered sequence was applied to row. */
static int set_sub_seq(sp_conn *w, const remote_row *row, int64_t sequence)
{
    sp_db_stmt *s = sp_store__stmt(w, SQL_SET_SUB_SEQ);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_int64(s, 1, sequence);
    sp_db_bind_int64(s, 2, row->seq);
    int step = sp_db_step(s);
    sp_store__done(s);
    return step == SP_DB_DONE ? 0 : sp_store__err(w, step, "remote sequence");
}

/* Finds the row by sql (three text keys) and applies the note to it in
 * one transaction; a sequence (> 0) at or below the row's newest applied
 * one is a redelivery and changes nothing. */
static int notify(sp_store *st, const char *sql, const char *k1, const char *k2, const char *k3,
                  int64_t sequence, const note_args *n, int *applied)
{
    int done = 0;
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    remote_row row;
    int64_t mtime = 0;
    int rc = find_row(w, sql, k1, k2, 0, k3, &row, &mtime);
    int skip = rc == 0 && sequence > 0 && sequence <= row.sub_seq;
    if (rc == 0 && !skip)
        rc = apply_note(w, &row, n, &done);
    int record = rc == 0 && !skip && sequence > 0 && n->note != SP_REMOTE_OCM_UNSHARED;
    if (record)
        rc = set_sub_seq(w, &row, sequence);
    if (rc < 0 || !(done || record)) {
        sp_store__rollback(st);
        return rc;
    }
    rc = sp_store__commit(st);
    if (rc == 0 && applied)
        *applied = done;
    return rc;
}

/* The lookup that ref asks for: sql and its keys (secret_hash filled). */
static const char *ocm_lookup(const sp_remote_ocm_ref *ref, char secret_hash[SP_STORE_SECRET_HASH_LEN],
                              const char **k1, const char **k2)
{
    if (ref->instance) {
        *k1 = ref->instance;
        *k2 = ref->share_id;
        return SQL_BY_SHARE;
    }
    sp_store__hash_secret(ref->secret ? ref->secret : "", secret_hash);
    *k1 = ref->share_id;
    *k2 = secret_hash;
    return SQL_BY_SECRET;
}

int sp_store_remote_ocm_instance(sp_store *st, const sp_remote_ocm_ref *ref,
                                 char instance[SP_REMOTE_INSTANCE_MAX])
{
    sp_conn *c = sp_store__reader(st);
    if (!c)
        return SP_ERR_DB;
    char secret_hash[SP_STORE_SECRET_HASH_LEN];
    const char *k1, *k2;
    const char *sql = ocm_lookup(ref, secret_hash, &k1, &k2);
    remote_row row;
    int64_t mtime = 0;
    int rc = find_row(c, sql, k1, k2, 0, NULL, &row, &mtime);
    if (rc == 0)
        snprintf(instance, SP_REMOTE_INSTANCE_MAX, "%s", row.instance);
    return rc;
}

int sp_store_remote_ocm_notify(sp_store *st, const sp_remote_ocm_ref *ref, sp_remote_ocm_note note,
                               const char *etag, int64_t mtime_ms, const char *permissions,
                               int *applied)
{
    if (applied)
        *applied = 0;
    char secret_hash[SP_STORE_SECRET_HASH_LEN];
    const char *k1, *k2;
    const char *sql = ocm_lookup(ref, secret_hash, &k1, &k2);
    note_args n = {.note = note,
                   .reason = "unshared",
                   .etag = etag,
                   .mtime_ms = mtime_ms,
                   .permissions = permissions};
    return notify(st, sql, k1, k2, NULL, 0, &n, applied);
}

int sp_store_remote_sub_notify(sp_store *st, const char *instance, const char *sub_id,
                               const char *client_state, int64_t sequence, sp_remote_ocm_note note,
                               const char *etag, int *applied)
{
    if (applied)
        *applied = 0;
    char state_hash[SP_STORE_SECRET_HASH_LEN];
    sp_store__hash_secret(client_state, state_hash);
    note_args n = {.note = note, .reason = "accessLost", .etag = etag};
    return notify(st, SQL_BY_SUB, instance, sub_id, state_hash, sequence, &n, applied);
}

int sp_store_remote_unsubscribe(sp_store *st, const char *instance, const char *sub_id)
{
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    int rc = unsubscribe_later(w, instance, sub_id);
    if (rc < 0) {
        sp_store__rollback(st);
        return rc;
    }
    return sp_store__commit(st);
}
