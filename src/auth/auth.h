/*
 * auth.h - bearer tokens to identities.
 *
 * For each trusted issuer the module runs OIDC discovery, keeps the issuer's
 * JWKS (refreshed periodically and on an unknown kid, rate-limited), and
 * verifies JWS access tokens against it with the checks of RFC 8725 and
 * RFC 9068. Opaque tokens are sent to the userinfo endpoint. Verified
 * tokens are cached by hash until they expire. The module knows no SQL:
 * provisioning users from identities is the store's job.
 */
#ifndef SP_AUTH_H
#define SP_AUTH_H

#include "util/strlist.h"

#include <stddef.h>
#include <stdint.h>

/* Lengths of identity fields; longer claims are refused, not truncated. */
#define SP_AUTH_ISSUER_MAX 512
#define SP_AUTH_SUB_MAX 256
#define SP_AUTH_NAME_MAX 256
#define SP_AUTH_EMAIL_MAX 320

/* Groups, from SPACEPORT_GROUPS_CLAIM: an array of group names. A token
 * whose claim is anything else (not an array, more than
 * SP_AUTH_GROUPS_MAX entries, an entry that is not a non-empty string of
 * printable characters shorter than SP_AUTH_GROUP_NAME_MAX bytes, more
 * than SP_AUTH_GROUPS_BYTES of names) is refused rather than read in part:
 * a membership silently dropped or cut would be a different group. */
#define SP_AUTH_GROUPS_MAX        256  /* more than real directories give one user */
#define SP_AUTH_GROUP_NAME_MAX    256  /* bytes with the NUL, as user names */
#define SP_AUTH_GROUPS_BYTES      4096 /* half the largest token's payload: kept per cached token */
#define SP_AUTH_GROUPS_DIGEST_LEN 65

/* Role bits, from SPACEPORT_ROLES_CLAIM. */
#define SP_ROLE_ADMIN 1u       /* "spaceport-admin" */
#define SP_ROLE_SPACE_ADMIN 2u /* "spaceport-spaceadmin" */

/* Who a verified token speaks for. Plain data; copy freely. */
typedef struct sp_identity {
    char issuer[SP_AUTH_ISSUER_MAX]; /* exactly as configured */
    char sub[SP_AUTH_SUB_MAX];
    char username[SP_AUTH_NAME_MAX];     /* SPACEPORT_USER_CLAIM, falls back to sub */
    char display_name[SP_AUTH_NAME_MAX]; /* "name", falls back to username */
    char email[SP_AUTH_EMAIL_MAX];       /* lower case; "" unless verified (see claims.c) */
    unsigned roles;                      /* SP_ROLE_* bits */
    /* The group names, sorted (bytewise) without duplicates, each ending
     * in a NUL, group_count of them. groups_digest: hex SHA-256 of those
     * bytes, "" for no groups. */
    char groups[SP_AUTH_GROUPS_BYTES];
    int group_count;
    char groups_digest[SP_AUTH_GROUPS_DIGEST_LEN];
    int64_t expires_at_ms;               /* token exp (or cache expiry for opaque tokens) */
} sp_identity;

typedef struct sp_auth sp_auth;

/* What the verifier is told (SPACEPORT_OIDC_*, SPACEPORT_*_CLAIM). */
typedef struct sp_auth_options {
    const sp_strlist *issuers; /* the trusted issuers, exact URLs */
    const char *audience;      /* NULL: aud not checked */
    /* The claims naming the user, their roles and groups; NULL: the
     * defaults, preferred_username, roles and groups. */
    const char *user_claim, *roles_claim, *groups_claim;
    /* The issuers that may be asked about opaque tokens; NULL: the only
     * issuer when there is one, none of several. */
    const sp_strlist *opaque_issuers;
    const sp_strlist *email_verified_issuers; /* may be NULL: none */
} sp_auth_options;

/*
 * Creates the verifier for opt's issuers (opt borrowed for the call; what
 * is needed is copied) and starts fetching discovery and keys in the
 * background. An issuer that is down does not fail this call. Returns 0
 * and a new handle, or SP_ERR_NOMEM.
 */
int sp_auth_create(const sp_auth_options *opt, sp_auth **out);

/*
 * Verifies token (the text after "Bearer "). Returns 0 and fills *id, or
 * SP_ERR_UNAUTHORIZED (the reason is logged, never returned to clients),
 * or SP_ERR_UNAVAILABLE when no issuer could be asked about an opaque token.
 * Thread-safe.
 */
int sp_auth_verify(sp_auth *auth, const char *token, sp_identity *id);

/*
 * Returns 0 when every issuer's keys are loaded; otherwise
 * SP_ERR_UNAVAILABLE with "issuer <url> unreachable" in why (whylen bytes).
 */
int sp_auth_ready(sp_auth *auth, char *why, size_t whylen);

/* Appends Prometheus metrics (verifications by result, cache hits, JWKS
 * fetches by issuer). */
struct sp_buf;
int sp_auth_metrics(sp_auth *auth, struct sp_buf *out);

/* Stops background work and frees everything. */
void sp_auth_destroy(sp_auth *auth);

#endif
