/*
 * groups.h - groups as identity providers name them in tokens, and who is
 * in them.
 *
 * A group is (issuer, name): the same name from another issuer is another
 * group, as a user is (issuer, sub). Memberships are what the user's
 * newest token said (SPACEPORT_GROUPS_CLAIM), recorded at provisioning
 * (store/users.h); a group is known once a token named it.
 */
#ifndef SP_STORE_GROUPS_H
#define SP_STORE_GROUPS_H

#include "store/store.h"
#include "store/users.h"

#include <stdint.h>

/* Longest group name stored, with its NUL (auth/auth.h refuses longer). */
#define SP_GROUP_NAME_MAX 256

/* A group; strings borrowed during the callback that receives it. */
typedef struct sp_group {
    int64_t seq;
    const char *id; /* public id (UUID) */
    const char *name;
    const char *issuer;
} sp_group;

typedef int (*sp_group_fn)(const sp_group *g, void *ctx);

/* A group copied out of the store. */
typedef struct sp_group_row {
    int64_t seq;
    char id[SP_USER_ID_LEN];
    char name[SP_GROUP_NAME_MAX];
    char issuer[SP_USER_ISSUER_MAX];
} sp_group_row;

/* Most groups one search returns, as for users. */
#define SP_GROUP_SEARCH_MAX 50
/* Most members GET /groups/{id}?$expand=members lists: a reply stays
 * bounded whatever the directory holds. */
#define SP_GROUP_MEMBERS_MAX 1000

/*
 * Finds up to SP_GROUP_SEARCH_MAX groups of issuer whose name contains
 * term (case-insensitive), ordered by name. Only the caller's issuer:
 * a look-alike group of another identity provider is never offered in
 * its place. Returns 0 or a negative sp_err (or fn's).
 */
int sp_store_groups_search(sp_store *st, const char *issuer, const char *term, sp_group_fn fn,
                           void *ctx);

/* Looks a group up by its public id. Returns 0 or SP_ERR_NOT_FOUND. */
int sp_store_group_get(sp_store *st, const char *id, sp_group_row *out);

/* Calls fn for each group user_seq is in, ordered by name. */
int sp_store_groups_of_user(sp_store *st, int64_t user_seq, sp_group_fn fn, void *ctx);

/* Calls fn (sp_user_fn) for the known members of group_seq, up to
 * SP_GROUP_MEMBERS_MAX, ordered by display name. */
int sp_store_group_members(sp_store *st, int64_t group_seq, sp_user_fn fn, void *ctx);

#endif
