/*
 * contacts.c - Open Cloud Mesh invites and contacts, each write with its
 * event (schema/events/invite.json).
 *
 * An invite is found by the SHA-256 of its token only; an unknown, an
 * expired and an accepted token are told apart only as the spec asks
 * (400 for the first two, 409 for the last), and nothing else about the
 * invite leaves this file but its owner.
 */
#include "store/contacts.h"

#include "store/events.h"
#include "store/internal.h"

#include "util/err.h"
#include "util/id.h"
#include "util/time.h"

#include <stdio.h>
#include <string.h>

/* ---- events ---- */

/* Writes event type for owner_seq about subject (an invite or contact
 * id) with data (stolen). */
static int owner_event(sp_conn *w, const char *type, const char *subject, int64_t owner_seq,
                       json_t *data)
{
    if (!data)
        return SP_ERR_NOMEM;
    int rc = sp_store__event_add(w, type, subject, data, &owner_seq, 1, NULL);
    json_decref(data);
    return rc;
}

/* Event data naming a contact (new reference, or NULL). */
static json_t *contact_data(const char *id, const char *address, const sp_contact_new *c)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "contactId", id, "address", address,
                     "userId", c->user_id, "provider", c->provider, "instance", c->instance, "name",
                     c->name, "email", c->email);
}

/* ---- invites ---- */

static const char SQL_INVITE_INSERT[] =
    "INSERT INTO ocm_invites (id, token_hash, owner_seq, description, recipient, created_at,"
    " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)";

int sp_store_invite_create(sp_store *st, const sp_user *owner, const char *token,
                           const char *description, const char *recipient, int64_t expires_at_ms,
                           char id_out[SP_USER_ID_LEN])
{
    char id[SP_ID_LEN], hash[SP_STORE_SECRET_HASH_LEN];
    if (sp_id_uuid7(id) < 0)
        return SP_ERR_IO;
    sp_store__hash_secret(token, hash);
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    int64_t now = sp_time_now_ms();
    int rc = SP_ERR_DB;
    sp_db_stmt *q = sp_store__stmt(w, SQL_INVITE_INSERT);
    if (q) {
        sp_db_bind_text(q, 1, id);
        sp_db_bind_text(q, 2, hash);
        sp_db_bind_int64(q, 3, owner->seq);
        sp_db_bind_text(q, 4, description ? description : "");
        if (recipient)
            sp_db_bind_text(q, 5, recipient);
        sp_db_bind_int64(q, 6, now);
        sp_db_bind_int64(q, 7, expires_at_ms);
        rc = sp_store__step_done(w, q, "insert invite");
    }
    if (rc == 0) {
        char when[SP_TIME_RFC3339_LEN];
        sp_time_format_rfc3339(expires_at_ms, when);
        json_t *d = json_pack("{s:s, s:s, s:s, s:s*}", "inviteId", id, "description",
                              description ? description : "", "expirationDateTime", when,
                              "recipient", recipient);
        rc = owner_event(w, SP_EVENT_INVITE_CREATED, id, owner->seq, d);
    }
    rc = sp_store__finish(st, rc);
    if (rc == 0)
        snprintf(id_out, SP_USER_ID_LEN, "%s", id);
    return rc;
}

static const char SQL_INVITES[] =
    "SELECT i.id, i.description, i.recipient, i.created_at, i.expires_at,"
    " coalesce(i.accepted_at, 0), c.id FROM ocm_invites i"
    " LEFT JOIN ocm_contacts c ON c.seq = i.contact_seq"
    " WHERE i.owner_seq = ? ORDER BY i.created_at DESC, i.seq DESC LIMIT ?";

int sp_store_invites_list(sp_store *st, const sp_user *owner, sp_invite_fn fn, void *ctx)
{
    sp_conn *r = sp_store__reader(st);
    sp_db_stmt *q = r ? sp_store__stmt(r, SQL_INVITES) : NULL;
    if (!q)
        return SP_ERR_DB;
    sp_db_bind_int64(q, 1, owner->seq);
    sp_db_bind_int64(q, 2, SP_INVITES_LIST_MAX);
    int rc, err = 0;
    while (err == 0 && (rc = sp_db_step(q)) == SP_DB_ROW) {
        sp_invite inv = {.id = sp_db_column_text(q, 0),
                         .description = sp_db_column_text(q, 1),
                         .recipient = sp_db_column_text(q, 2),
                         .created_at_ms = sp_db_column_int64(q, 3),
                         .expires_at_ms = sp_db_column_int64(q, 4),
                         .accepted_at_ms = sp_db_column_int64(q, 5),
                         .contact_id = sp_db_column_text(q, 6)};
        err = fn(&inv, ctx);
    }
    if (err == 0 && rc != SP_DB_ROW && rc != SP_DB_DONE)
        err = sp_store__err(r, rc, "list invites");
    sp_store__done(q);
    return err;
}

/* ---- contacts ---- */

/* Adds or refreshes a contact: one per owner and address. */
static const char SQL_CONTACT_UPSERT[] =
    "INSERT INTO ocm_contacts (id, owner_seq, user_id, provider, instance, address, name, email,"
    " created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)"
    " ON CONFLICT (owner_seq, address) DO UPDATE SET instance = excluded.instance,"
    " name = excluded.name, email = excluded.email, updated_at = excluded.updated_at"
    " RETURNING seq, id";

/* Stores c for owner_seq on the writer, writes spaceport.invite.accepted
 * (data: the contact, and role: which side of the invite owner was) and
 * returns the contact's seq and id. */
static int contact_store(sp_conn *w, int64_t owner_seq, const sp_contact_new *c, const char *role,
                         int64_t *seq_out, char id_out[SP_ID_LEN])
{
    char fresh[SP_ID_LEN], address[SP_CONTACT_USER_ID_MAX + SP_CONTACT_PROVIDER_MAX + 2];
    if (sp_id_uuid7(fresh) < 0)
        return SP_ERR_IO;
    snprintf(address, sizeof address, "%s@%s", c->user_id, c->provider);
    sp_db_stmt *q = sp_store__stmt(w, SQL_CONTACT_UPSERT);
    if (!q)
        return SP_ERR_DB;
    sp_db_bind_text(q, 1, fresh);
    sp_db_bind_int64(q, 2, owner_seq);
    sp_db_bind_text(q, 3, c->user_id);
    sp_db_bind_text(q, 4, c->provider);
    sp_db_bind_text(q, 5, c->instance);
    sp_db_bind_text(q, 6, address);
    sp_db_bind_text(q, 7, c->name);
    sp_db_bind_text(q, 8, c->email ? c->email : "");
    sp_db_bind_int64(q, 9, sp_time_now_ms());
    int step = sp_db_step(q);
    if (step == SP_DB_ROW) {
        *seq_out = sp_db_column_int64(q, 0);
        sp_store__copy_text(q, 1, id_out, SP_ID_LEN);
        step = sp_db_step(q);
    }
    sp_store__done(q);
    if (step != SP_DB_DONE)
        return sp_store__err(w, step, "store contact");
    json_t *d = contact_data(id_out, address, c);
    if (d)
        json_object_set_new(d, "role", json_string(role));
    return owner_event(w, SP_EVENT_INVITE_ACCEPTED, id_out, owner_seq, d);
}

static const char SQL_INVITE_BY_TOKEN[] =
    "SELECT i.seq, i.expires_at, i.accepted_at IS NOT NULL, u.seq, u.id FROM ocm_invites i"
    " JOIN users u ON u.seq = i.owner_seq WHERE i.token_hash = ?";
static const char SQL_INVITE_ACCEPTED[] =
    "UPDATE ocm_invites SET accepted_at = ?, contact_seq = ? WHERE seq = ?";

int sp_store_invite_accept(sp_store *st, const char *token, int64_t now_ms, const sp_contact_new *c,
                           char inviter_id[SP_USER_ID_LEN])
{
    char hash[SP_STORE_SECRET_HASH_LEN];
    sp_store__hash_secret(token, hash);
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    int rc = SP_ERR_DB;
    sp_db_stmt *q = sp_store__stmt(w, SQL_INVITE_BY_TOKEN);
    if (!q)
        goto done;
    sp_db_bind_text(q, 1, hash);
    int step = sp_db_step(q);
    int64_t invite_seq = 0, expires = 0, owner_seq = 0;
    int accepted = 0;
    if (step == SP_DB_ROW) { /* no columns to read without a row */
        invite_seq = sp_db_column_int64(q, 0);
        expires = sp_db_column_int64(q, 1);
        accepted = sp_db_column_int64(q, 2) != 0;
        owner_seq = sp_db_column_int64(q, 3);
        sp_store__copy_text(q, 4, inviter_id, SP_USER_ID_LEN);
    }
    sp_store__done(q);
    if (step != SP_DB_ROW) {
        rc = step == SP_DB_DONE ? SP_ERR_NOT_FOUND : sp_store__err(w, step, "find invite");
        goto done;
    }
    /* Accepted is told apart from expired: the accepting side learns its
     * own acceptance went through before (409), not that it came late. */
    if (accepted) {
        rc = SP_ERR_CONFLICT;
        goto done;
    }
    if (expires <= now_ms) {
        rc = SP_ERR_NOT_FOUND;
        goto done;
    }
    int64_t contact_seq;
    char contact_id[SP_ID_LEN];
    rc = contact_store(w, owner_seq, c, "sender", &contact_seq, contact_id);
    if (rc == 0 && (q = sp_store__stmt(w, SQL_INVITE_ACCEPTED)) != NULL) {
        sp_db_bind_int64(q, 1, now_ms);
        sp_db_bind_int64(q, 2, contact_seq);
        sp_db_bind_int64(q, 3, invite_seq);
        rc = sp_store__step_done(w, q, "accept invite");
    } else if (rc == 0) {
        rc = SP_ERR_DB;
    }
done:
    return sp_store__finish(st, rc);
}

int sp_store_contact_add(sp_store *st, const sp_user *owner, const sp_contact_new *c,
                         char id_out[SP_USER_ID_LEN])
{
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    int64_t seq;
    char id[SP_ID_LEN];
    int rc = sp_store__finish(st, contact_store(w, owner->seq, c, "receiver", &seq, id));
    if (rc == 0)
        snprintf(id_out, SP_USER_ID_LEN, "%s", id);
    return rc;
}

#define CONTACT_COLS "id, user_id, provider, instance, address, name, email, created_at"
/* By name in any case, and a term matches in any case: lower(), which in
 * both engines (PostgreSQL in a C-ctype database) folds ASCII only, as
 * SQLite's NOCASE and LIKE do; PostgreSQL's LIKE itself tells case apart.
 * No index serves either order: an owner's contacts are few. */
static const char SQL_CONTACTS[] = "SELECT " CONTACT_COLS " FROM ocm_contacts WHERE owner_seq = ?1"
                                   " ORDER BY lower(name), id LIMIT ?2";
static const char SQL_CONTACTS_LIKE[] =
    "SELECT " CONTACT_COLS " FROM ocm_contacts WHERE owner_seq = ?1"
    " AND (lower(name) LIKE lower(?3) ESCAPE '\\' OR lower(address) LIKE lower(?3) ESCAPE '\\'"
    " OR lower(email) LIKE lower(?3) ESCAPE '\\') ORDER BY lower(name), id LIMIT ?2";

int sp_store_contacts_list(sp_store *st, const sp_user *owner, const char *term, sp_contact_fn fn,
                           void *ctx)
{
    char prefix[SP_STORE_LIKE_MAX], contains[SP_STORE_LIKE_MAX];
    if (term)
        sp_store__like_patterns(term, prefix, contains);
    sp_conn *r = sp_store__reader(st);
    sp_db_stmt *q = r ? sp_store__stmt(r, term ? SQL_CONTACTS_LIKE : SQL_CONTACTS) : NULL;
    if (!q)
        return SP_ERR_DB;
    sp_db_bind_int64(q, 1, owner->seq);
    sp_db_bind_int64(q, 2, term ? SP_USER_SEARCH_MAX : SP_CONTACTS_LIST_MAX);
    if (term)
        sp_db_bind_text(q, 3, contains);
    int rc, err = 0;
    while (err == 0 && (rc = sp_db_step(q)) == SP_DB_ROW) {
#define T(i) (sp_db_column_text(q, i))
        sp_contact c = {.id = T(0),
                        .user_id = T(1),
                        .provider = T(2),
                        .instance = T(3),
                        .address = T(4),
                        .name = T(5),
                        .email = T(6),
                        .created_at_ms = sp_db_column_int64(q, 7)};
#undef T
        err = fn(&c, ctx);
    }
    if (err == 0 && rc != SP_DB_ROW && rc != SP_DB_DONE)
        err = sp_store__err(r, rc, "list contacts");
    sp_store__done(q);
    return err;
}

static const char SQL_CONTACT_BY_ID[] =
    "SELECT id, name, address, instance FROM ocm_contacts WHERE id = ? AND owner_seq = ?";

int sp_store__share_contact(sp_conn *w, int64_t owner_seq, const char *id, char *address,
                            size_t address_len, char *instance, size_t instance_len, char *id_out,
                            char *name_out)
{
    sp_db_stmt *q = sp_store__stmt(w, SQL_CONTACT_BY_ID);
    if (!q)
        return SP_ERR_DB;
    sp_db_bind_text(q, 1, id);
    sp_db_bind_int64(q, 2, owner_seq);
    int step = sp_db_step(q);
    if (step == SP_DB_ROW) {
        sp_store__copy_text(q, 0, id_out, SP_USER_ID_LEN);
        sp_store__copy_text(q, 1, name_out, SP_USER_NAME_MAX);
        sp_store__copy_text(q, 2, address, address_len);
        sp_store__copy_text(q, 3, instance, instance_len);
    }
    sp_store__done(q);
    if (step != SP_DB_ROW)
        return step == SP_DB_DONE ? SP_ERR_NOT_FOUND : sp_store__err(w, step, "share contact");
    return 0;
}

static const char SQL_CONTACT_DELETE[] =
    "DELETE FROM ocm_contacts WHERE owner_seq = ? AND address = ?"
    " RETURNING id, user_id, provider, instance, address, name, email";

int sp_store_contact_remove(sp_store *st, const sp_user *owner, const char *address)
{
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    int rc = SP_ERR_DB;
    sp_db_stmt *q = sp_store__stmt(w, SQL_CONTACT_DELETE);
    if (q) {
        sp_db_bind_int64(q, 1, owner->seq);
        sp_db_bind_text(q, 2, address);
        int step = sp_db_step(q);
        json_t *d = NULL;
        char id[SP_ID_LEN] = "";
        if (step == SP_DB_ROW) {
#define T(i) (sp_db_column_text(q, i))
            sp_contact_new c = {T(1), T(2), T(3), T(5), T(6)};
            sp_store__copy_text(q, 0, id, sizeof id);
            d = contact_data(id, T(4), &c);
#undef T
            step = d ? sp_db_step(q) : SP_DB_NOMEM;
        }
        sp_store__done(q);
        if (step == SP_DB_DONE && !id[0])
            rc = SP_ERR_NOT_FOUND;
        else if (step != SP_DB_DONE)
            rc = sp_store__err(w, step, "remove contact");
        else
            rc = owner_event(w, SP_EVENT_CONTACT_REMOVED, id, owner->seq, json_incref(d));
        json_decref(d);
    }
    return sp_store__finish(st, rc);
}
