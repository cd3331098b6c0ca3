/*
 * users.h - users known to the registry, keyed by (issuer, sub).
 */
#ifndef SP_STORE_USERS_H
#define SP_STORE_USERS_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

/* Field sizes match what the verifier accepts; see auth/auth.h. */
#define SP_USER_ID_LEN 37
#define SP_USER_NAME_MAX 256
#define SP_USER_EMAIL_MAX 320
#define SP_USER_ISSUER_MAX 512

/* User role bits as stored (same values as the roles claim mapping). */
#define SP_USER_ROLE_ADMIN 1u
#define SP_USER_ROLE_SPACE_ADMIN 2u

/* What a verified token says about its user; input to provisioning. */
typedef struct sp_user_claims {
    const char *issuer;
    const char *sub;
    const char *username;
    const char *display_name;
    const char *email; /* "" or NULL when none is verified */
    unsigned roles;
    /* The token's groups: group_count names, each ending in a NUL, sorted
     * without duplicates (auth/auth.h); their digest, "" or NULL for none. */
    const char *groups;
    int group_count;
    const char *groups_digest;
} sp_user_claims;

typedef struct sp_user {
    int64_t seq; /* internal key */
    char id[SP_USER_ID_LEN];
    char issuer[SP_USER_ISSUER_MAX];
    char username[SP_USER_NAME_MAX];
    char display_name[SP_USER_NAME_MAX];
    char email[SP_USER_EMAIL_MAX]; /* "" when none */
    unsigned roles;
} sp_user;

/*
 * Returns the user for claims, creating it on first sight together with its
 * personal drive (the user its Manager) and the space.created event, in one
 * transaction; updates the stored name, e-mail and roles when the claims
 * changed, and replaces the user's group memberships with the claims'
 * groups when their digest differs from the stored one: what a group was
 * given is the user's from this request on, and no longer once a token
 * leaves the group out. Costs one indexed read when nothing changed. *created (may be
 * NULL) is set to 1 when the user was new. Returns 0, SP_ERR_FULL, SP_ERR_DB.
 */
int sp_store_user_provision(sp_store *st, const sp_user_claims *claims, sp_user *out,
                            int *created);

/* Looks a user up by its public id. Returns 0 or SP_ERR_NOT_FOUND. */
int sp_store_user_get(sp_store *st, const char *id, sp_user *out);

/*
 * Finds the user whose verified e-mail address is email (any case).
 * Returns 0, SP_ERR_NOT_FOUND, SP_ERR_CONFLICT when users of several
 * identity providers verified it (none is picked), or another negative
 * sp_err.
 */
int sp_store_user_by_email(sp_store *st, const char *email, sp_user *out);

/*
 * Finds the user named username (SPACEPORT_USER_CLAIM, compared without
 * regard to ASCII case). Returns 0, SP_ERR_NOT_FOUND, SP_ERR_CONFLICT when
 * users of several issuers have that name, or another negative sp_err.
 */
int sp_store_user_by_username(sp_store *st, const char *username, sp_user *out);

/* Most users one search returns. */
#define SP_USER_SEARCH_MAX 50

/* Receives one user of a search; strings borrowed during the call. */
typedef int (*sp_user_fn)(const char *id, const char *display_name, const char *email,
                          const char *username, void *ctx);

/*
 * Finds up to SP_USER_SEARCH_MAX users whose user name or e-mail starts
 * with term, or whose display name contains it (case-insensitive),
 * ordered by display name. Returns 0 or a negative sp_err.
 */
int sp_store_users_search(sp_store *st, const char *term, sp_user_fn fn, void *ctx);

#endif
