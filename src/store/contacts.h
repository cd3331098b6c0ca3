/*
 * contacts.h - Open Cloud Mesh invitations and the contacts they make.
 *
 * A user invites someone at another instance by handing them a token out
 * of band; when that person accepts it at their instance, that instance
 * tells this one (POST /ocm/invite-accepted) and both users gain each
 * other as a contact: a remote user they may share with. Tokens are kept
 * only as their SHA-256.
 */
#ifndef SP_STORE_CONTACTS_H
#define SP_STORE_CONTACTS_H

#include "store/store.h"
#include "store/users.h"

#include <stdint.h>

/* Longest remote userID kept: OCM's userID is opaque; oCIS sends
 * "<uuid>@<issuer URL>", so room for a URL. */
#define SP_CONTACT_USER_ID_MAX 512
/* Longest provider host (util/instance.h's authority). */
#define SP_CONTACT_PROVIDER_MAX 272
/* Most contacts a listing or a search answers: a user's address book,
 * not a directory. */
#define SP_CONTACTS_LIST_MAX 500
/* Most invites a listing answers, the newest first. */
#define SP_INVITES_LIST_MAX 500

/* An invite as its owner sees it (never its token); strings borrowed
 * during the callback. */
typedef struct sp_invite {
    const char *id;
    const char *description;
    const char *recipient; /* NULL when none was named */
    int64_t created_at_ms, expires_at_ms;
    int64_t accepted_at_ms; /* 0 while not accepted */
    const char *contact_id; /* who accepted it, while that contact exists; else NULL */
} sp_invite;

typedef int (*sp_invite_fn)(const sp_invite *inv, void *ctx);

/* A contact; strings borrowed during the callback. */
typedef struct sp_contact {
    const char *id;
    const char *user_id;  /* their userID at their instance */
    const char *provider; /* their instance's host */
    const char *instance; /* that instance's trusted base URL */
    const char *address;  /* user_id@provider */
    const char *name, *email;
    int64_t created_at_ms;
} sp_contact;

typedef int (*sp_contact_fn)(const sp_contact *c, void *ctx);

/* Who a new contact is (all borrowed; email may be ""). */
typedef struct sp_contact_new {
    const char *user_id, *provider, *instance, *name, *email;
} sp_contact_new;

/*
 * Stores an invite of owner with token (kept as its SHA-256 only), valid
 * until expires_at_ms, and writes spaceport.invite.created for owner.
 * recipient may be NULL. id_out receives the invite's id. Returns 0 or a
 * negative sp_err.
 */
int sp_store_invite_create(sp_store *st, const sp_user *owner, const char *token,
                           const char *description, const char *recipient, int64_t expires_at_ms,
                           char id_out[SP_USER_ID_LEN]);

/* Lists owner's invites, newest first (at most SP_INVITES_LIST_MAX). */
int sp_store_invites_list(sp_store *st, const sp_user *owner, sp_invite_fn fn, void *ctx);

/*
 * The inviter's side of an acceptance: the invite with token, unexpired
 * and not accepted, is accepted by c (at now_ms). Stores c as a contact
 * of the invite's owner (refreshing it when the owner has that address
 * already) and writes spaceport.invite.accepted for the owner, in one
 * transaction. inviter_id receives the owner's user id. Returns 0,
 * SP_ERR_NOT_FOUND (no such token, or it expired), SP_ERR_CONFLICT
 * (accepted already) or another negative sp_err.
 */
int sp_store_invite_accept(sp_store *st, const char *token, int64_t now_ms, const sp_contact_new *c,
                           char inviter_id[SP_USER_ID_LEN]);

/*
 * The invitee's side: stores c, the inviter whose invite owner accepted,
 * as a contact of owner (refreshing an existing one) and writes
 * spaceport.invite.accepted for owner. id_out receives the contact's id.
 * Returns 0 or a negative sp_err.
 */
int sp_store_contact_add(sp_store *st, const sp_user *owner, const sp_contact_new *c,
                         char id_out[SP_USER_ID_LEN]);

/* Lists owner's contacts by name (at most SP_CONTACTS_LIST_MAX); with a
 * term (not NULL), only those whose name, address or e-mail contains it
 * (ASCII case ignored), at most SP_USER_SEARCH_MAX as a user search. */
int sp_store_contacts_list(sp_store *st, const sp_user *owner, const char *term, sp_contact_fn fn,
                           void *ctx);

/*
 * Removes owner's contact with address (user_id@provider, as listed) and
 * writes spaceport.contact.removed for owner. Shares made with it stay
 * (they name the address). Returns 0, SP_ERR_NOT_FOUND (owner has no such
 * contact) or another negative sp_err.
 */
int sp_store_contact_remove(sp_store *st, const sp_user *owner, const char *address);

#endif
