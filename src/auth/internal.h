/*
 * internal.h - the pieces of the auth module, shared between its files and
 * exposed to the unit suite and the benchmark driver. Not for other modules:
 * they use auth.h only.
 *
 *   fetch.c  libcurl GET under the outbound URL policy
 *   jwks.c   discovery documents and JWK sets → key sets
 *   verify.c signatures with OpenSSL on keys imported once per JWKS
 *   jwt.c    pre-parse, signature, payload of a compact JWS
 *   jscan.c  plain JSON (headers, payloads) read without allocating
 *   claims.c claims read from a payload or userinfo → rules → identity
 *   cache.c  verified tokens by SHA-256, bounded, thread-safe
 *   auth.c   the handle: issuers, background refresh, opaque tokens, metrics
 *
 * Every function here returns 0 or a negative sp_err code; "why" outputs are
 * static strings meant for logs, never for clients.
 */
#ifndef SP_AUTH_INTERNAL_H
#define SP_AUTH_INTERNAL_H

#include "auth/auth.h"

#include <cjose/jwk.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct sp_buf;

/* --- limits (each with the reason for its value) --- */

/* Largest bearer token accepted. Real access tokens are 1-2 KiB; 8 KiB bounds
 * the work an unauthenticated client can make us do before any crypto. */
#define SP_AUTH_TOKEN_MAX 8192
/* Clock skew tolerated on exp, nbf and iat (RFC 9068 leaves it to us; one
 * minute covers NTP-synchronised hosts with room to spare). */
#define SP_AUTH_LEEWAY_S 60
/* Longest kid we look up; issuers use UUIDs or thumbprints (< 100 chars). */
#define SP_AUTH_KID_MAX 256
/* RSA keys below 2048 bits are breakable (NIST SP 800-131A): not used. */
#define SP_AUTH_RSA_MIN_BITS 2048
/* RSA keys above 8192 bits make each verification cost milliseconds; no
 * issuer publishes them, so a JWKS that does is not trusted with them. */
#define SP_AUTH_RSA_MAX_BITS 8192
/* Keys kept per issuer; providers publish 1-4 (current, next, previous). */
#define SP_AUTH_JWKS_KEYS_MAX 32
/* Signature checks one token may cost when it names no kid and several keys
 * fit its alg: bounds the work of a kid-less token. */
#define SP_AUTH_CANDIDATES_MAX 4
/* Largest document fetched from an issuer (discovery, JWKS, userinfo): real
 * ones are a few KiB; 1 MiB keeps a hostile answer from eating memory. */
#define SP_AUTH_FETCH_MAX (1024 * 1024)
/* Whole-transfer timeout of one fetch: a slow issuer must not hold the
 * refresh thread (or a request waiting for userinfo) for long. */
#define SP_AUTH_FETCH_TIMEOUT_MS 5000
/* Same-origin redirects followed (e.g. /jwks → /jwks/); more is a loop. */
#define SP_AUTH_FETCH_REDIRECTS_MAX 3
/* Entries in the verified-token cache: at ~1.7 KiB each, 4096 entries bound
 * it near 7 MiB, enough for every active session of a large instance. */
#define SP_AUTH_CACHE_ENTRIES 4096
/* Longest time a verified JWT stays cached even when its exp is later: one
 * key refresh period, so a key withdrawn from the JWKS stops counting soon. */
#define SP_AUTH_CACHE_TTL_MAX_MS (10 * 60 * 1000)
/* How long a userinfo answer (yes or no) for an opaque token is reused. */
#define SP_AUTH_USERINFO_TTL_MS (60 * 1000)
/* Period of the background key refresh (providers rotate keys with days of
 * overlap; ten minutes picks up a new key well before it is used alone). */
#define SP_AUTH_REFRESH_MS (10 * 60 * 1000)
/* Least time between two refetches triggered by unknown kids, per issuer:
 * a flood of random kids costs the issuer at most one request per 30 s. */
#define SP_AUTH_KID_REFETCH_MS (30 * 1000)
/* Retry delays while an issuer cannot be reached: start fast (it may be
 * starting alongside us), back off to the kid refetch interval. */
#define SP_AUTH_RETRY_MIN_MS 1000
#define SP_AUTH_RETRY_MAX_MS SP_AUTH_KID_REFETCH_MS
/* How long a request whose kid is unknown waits for the refetch it caused:
 * discovery plus JWKS, each bounded by the fetch timeout. */
#define SP_AUTH_REFETCH_WAIT_MS (2 * SP_AUTH_FETCH_TIMEOUT_MS + 500)
/* Workers that may block on such a refetch at one time; others are refused
 * at once. The HTTP pool has 2-4 threads: a kid flood during a slow refetch
 * must not stall all of them. */
#define SP_AUTH_REFETCH_WAITERS_MAX 1

/* --- algorithms --- */

/* The asymmetric allow-list. Anything else (none, HS*, RS1, EdDSA) is
 * refused before a key is looked at. */
enum sp_auth_alg {
    SP_ALG_RS256,
    SP_ALG_RS384,
    SP_ALG_RS512,
    SP_ALG_PS256,
    SP_ALG_PS384,
    SP_ALG_PS512,
    SP_ALG_ES256,
    SP_ALG_ES384,
    SP_ALG_ES512,
    SP_ALG_COUNT
};

/* Returns the sp_auth_alg for an exact (case-sensitive) JWS alg name, or -1
 * when name is not in the allow-list. */
int sp_auth__alg_parse(const char *name);
/* Returns the static JWS name of alg. */
const char *sp_auth__alg_name(int alg);
/* Returns the raw (r||s) signature length in bytes an ES alg requires, or 0
 * for RSA algorithms. */
size_t sp_auth__alg_es_sig_len(int alg);

/* --- keys (jwks.c) --- */

/* A key ready for OpenSSL (verify.c); opaque. */
typedef struct sp_auth_verifier sp_auth_verifier;

/* One usable verification key of an issuer. */
typedef struct sp_auth_key {
    cjose_jwk_t *jwk;       /* owned by the key set */
    sp_auth_verifier *ver;  /* owned by the key set */
    cjose_jwk_kty_t kty;    /* CJOSE_JWK_KTY_RSA or _EC */
    cjose_jwk_ec_curve crv; /* EC only */
    size_t bits;            /* RSA modulus bits; EC curve bits */
    int alg;                /* sp_auth_alg from the JWK's "alg", or -1 */
    int has_kid;
    char kid[SP_AUTH_KID_MAX];
} sp_auth_key;

/*
 * The keys of one issuer at one moment. Immutable once built; shared by
 * reference count so that a refresh can swap sets while verifications still
 * use the old one. cjose's own retain/release is not atomic, so the JWKs are
 * never retained individually: only the set's count moves. Each key's
 * verifier has its own lock for its pool of prepared contexts; the rest of
 * a key never changes.
 */
typedef struct sp_auth_keyset {
    atomic_int refs;
    size_t count;
    size_t dropped; /* keys of the JWKS that were not usable */
    sp_auth_key keys[];
} sp_auth_keyset;

/*
 * Parses a JWK Set (text of len bytes) into a new key set with refs = 1.
 * Drops oct and OKP keys, keys with use other than "sig", key_ops without
 * "verify", an alg outside the allow-list, RSA below SP_AUTH_RSA_MIN_BITS
 * or above SP_AUTH_RSA_MAX_BITS, curves other than P-256/384/521, and keys
 * cjose or OpenSSL cannot import. Every key kept has its verifier. Returns
 * 0, SP_ERR_INVALID (why set) when the text is not a JWK Set, or
 * SP_ERR_NOMEM.
 */
int sp_auth__keyset_parse(const char *text, size_t len, sp_auth_keyset **out, const char **why);
/* Adds a reference (the caller must already hold one, or hold the lock that
 * protects the pointer it read). */
void sp_auth__keyset_retain(sp_auth_keyset *ks);
/* Drops a reference; the last one frees the set, its JWKs and verifiers
 * (with their EVP_PKEYs). NULL is ok. */
void sp_auth__keyset_release(sp_auth_keyset *ks);

/*
 * Parses an OpenID discovery document. Its "issuer" must equal issuer
 * exactly. *jwks_uri (required) and *userinfo (NULL when absent or not
 * allowed by the URL policy) are new strings. Returns 0, SP_ERR_INVALID
 * (why set) or SP_ERR_NOMEM.
 */
int sp_auth__discovery_parse(const char *text, size_t len, const char *issuer, char **jwks_uri,
                             char **userinfo, const char **why);

/* --- signatures (verify.c) --- */

/*
 * Imports the public key of jwk (borrowed JSON; RSA n/e or EC x/y) for
 * key (kty, crv and bits already read by cjose, and checked) into a new
 * verifier. Returns 0, SP_ERR_INVALID (why set) when OpenSSL cannot import
 * it or sees another size than cjose, or SP_ERR_NOMEM.
 */
int sp_auth__verifier_new(const json_t *jwk, const sp_auth_key *key, sp_auth_verifier **out,
                          const char **why);
/* Frees v, its prepared contexts and its EVP_PKEY. NULL is ok. */
void sp_auth__verifier_free(sp_auth_verifier *v);
/*
 * Verifies sig (sig_len bytes as in the JWS: RSA as long as the modulus,
 * ES raw r||s) over input (input_len bytes, "header.payload") with v's key
 * under alg (which the caller checked fits the key). Thread-safe.
 * Returns 0, SP_ERR_UNAUTHORIZED (why set) or SP_ERR_NOMEM.
 */
int sp_auth__sig_verify(sp_auth_verifier *v, int alg, const char *input, size_t input_len,
                        const uint8_t *sig, size_t sig_len, const char **why);

/* --- plain JSON (jscan.c) --- */

/* Nesting read by jscan: a JWT has claims one or two levels deep
 * (realm_access.roles); deeper documents go to jansson. */
#define SP_JS_DEPTH_MAX 8
/* Members per object read by jscan; larger objects go to jansson. Real
 * payloads have 10-30 claims. */
#define SP_JS_MEMBERS_MAX 48

enum sp_js_type {
    SP_JS_STRING = 1,
    SP_JS_NUMBER,
    SP_JS_TRUE,
    SP_JS_FALSE,
    SP_JS_NULL,
    SP_JS_ARRAY,
    SP_JS_OBJECT
};

/* A value in the text (borrowed). STRING: s/n are the characters between
 * the quotes (no escapes in plain JSON). NUMBER: num. Others: s/n span the
 * value in the text. */
typedef struct sp_js_val {
    const char *s;
    size_t n;
    double num;
    int type;
} sp_js_val;

typedef struct sp_js_member {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    sp_js_val v;
} sp_js_member;

typedef struct sp_js_object {
    size_t count;
    sp_js_member m[SP_JS_MEMBERS_MAX];
} sp_js_object;

/*
 * Reads text (len bytes) as one plain JSON object (see jscan.c for the
 * subset), recording its members in *obj (pointing into text). Returns 1,
 * or 0 when the text is not plain: the caller asks jansson, whose verdict
 * (including "duplicate member") stands.
 */
int sp_auth__js_object(const char *text, size_t len, sp_js_object *obj);
/* Returns the member called name (borrowed), or NULL. Inline: the names
 * asked for are literals, so their length is known when compiling, and the
 * first character rules out most members before any memcmp. */
static inline const sp_js_val *sp_auth__js_get(const sp_js_object *obj, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < obj->count; i++) {
        const sp_js_member *m = &obj->m[i];
        if (m->name_len == n && n && m->name[0] == name[0] && memcmp(m->name, name, n) == 0)
            return &m->v;
    }
    if (n == 0)
        for (size_t i = 0; i < obj->count; i++)
            if (obj->m[i].name_len == 0)
                return &obj->m[i].v;
    return NULL;
}
/* Steps through the elements of an ARRAY value: start with *pos = 0; each
 * call returns 1 and fills *elem, or 0 at the end (or for a non-array). */
int sp_auth__js_next(const sp_js_val *array, size_t *pos, sp_js_val *elem);
/* Reads the members of an OBJECT value into *obj. Returns 1, or 0 for
 * another type. */
int sp_auth__js_members(const sp_js_val *v, sp_js_object *obj);

/* Returns non-zero when key may verify a signature made with alg: RSA for
 * RS and PS (size within limits), EC on the curve the ES alg names, and the
 * key's own "alg" (when it has one) equal to alg. */
int sp_auth__key_fits(const sp_auth_key *key, int alg);

/* --- tokens (jwt.c) --- */

enum sp_auth_token_kind {
    SP_TOKEN_INVALID = 0, /* refused without asking anyone */
    SP_TOKEN_JWS,         /* contains a dot: must be a compact JWS */
    SP_TOKEN_OPAQUE,      /* no dot, RFC 6750 b64token characters */
};

/* Classifies a token (NUL-terminated). Tokens longer than SP_AUTH_TOKEN_MAX,
 * empty ones, and opaque-looking ones with characters outside RFC 6750's
 * b64token are SP_TOKEN_INVALID. Anything with a dot is SP_TOKEN_JWS and is
 * judged by sp_auth__jwt_preparse alone: a malformed JWT is never sent to a
 * userinfo endpoint. */
enum sp_auth_token_kind sp_auth__token_kind(const char *token);

/* What the pre-parser learned from a JWS: the header, and where the parts
 * are (offsets into the token, lengths in characters). */
typedef struct sp_jwt_header {
    int alg; /* sp_auth_alg */
    int has_kid;
    char kid[SP_AUTH_KID_MAX];
    size_t payload_off, payload_len;
    size_t sig_off, sig_len;
} sp_jwt_header;

/*
 * Checks a compact JWS before any crypto: at most SP_AUTH_TOKEN_MAX bytes,
 * exactly two dots, three non-empty parts of canonical base64url (only
 * A-Z a-z 0-9 - _), a header that is a JSON object without duplicate
 * members, alg in the allow-list, typ absent or JWT / at+jwt /
 * application/at+jwt, kid (if any) a string, no crit, enc, zip or b64, and a
 * signature of the length the alg implies. jku, x5u, jwk and x5c are ignored.
 * Fills *hdr. Returns 0 or SP_ERR_UNAUTHORIZED with why set.
 */
int sp_auth__jwt_preparse(const char *token, sp_jwt_header *hdr, const char **why);

/*
 * Verifies the signature of token (pre-parsed into hdr) with key (borrowed;
 * the caller checked sp_auth__key_fits). Returns 0, SP_ERR_UNAUTHORIZED (why
 * set) or SP_ERR_NOMEM.
 */
int sp_auth__jws_verify(const char *token, const sp_jwt_header *hdr, const sp_auth_key *key,
                        const char **why);

/* --- claims (claims.c) --- */

/* Room for a decoded payload: the token's size bounds it (and the decoder
 * may write up to 4 bytes past what it decodes). */
#define SP_AUTH_PAYLOAD_MAX (SP_AUTH_TOKEN_MAX * 3 / 4 + 4)

/* A string claim (borrowed): s NULL when absent or not a string. A string
 * read by jansson may contain a NUL within its n bytes. */
typedef struct sp_claim_str {
    const char *s;
    size_t n;
} sp_claim_str;

/* What the claims are read for: the configured audience (NULL: not
 * checked) and claim names (NULL: preferred_username, roles). */
typedef struct sp_claims_want {
    const char *audience;
    const char *user_claim;
    const char *roles_claim;
    const char *groups_claim; /* NULL: groups */
} sp_claims_want;

/* The claims the rules look at, from either reader. */
typedef struct sp_claims {
    sp_claim_str iss, sub, user, name, email;
    int exp_kind, nbf_kind, iat_kind; /* 1 a finite number, 0 absent, -1 other */
    double exp, nbf, iat;
    int aud_has;        /* aud contains the audience (1 when none asked) */
    int email_verified; /* 1 true or "true", 0 absent, -1 anything else */
    unsigned roles;       /* SP_ROLE_* from the roles claim */
    /* The groups claim: groups_kind 0 absent or null, 1 an array of at
     * most SP_AUTH_GROUPS_MAX strings (group_count in groups), -1 any
     * other value. */
    int groups_kind;
    size_t group_count;
    sp_claim_str groups[SP_AUTH_GROUPS_MAX];
    json_t *doc;          /* the jansson tree the strings point into, or NULL */
} sp_claims;

/*
 * Decodes the payload of token (pre-parsed into hdr) into text
 * (SP_AUTH_PAYLOAD_MAX bytes) and reads it into *c (see
 * sp_auth__claims_parse); c points into text until cleared. Before the
 * signature holds, only c->iss may be looked at, and only to choose the
 * issuer whose keys are tried.
 */
int sp_auth__jws_claims(const char *token, const sp_jwt_header *hdr, const sp_claims_want *want,
                        char *text, sp_claims *c, const char **why);
/*
 * Reads text (len bytes) into *c: with jscan when plain, else with jansson
 * (duplicate members rejected). The strings of *c point into text or into
 * c->doc. Returns 0 (release with sp_auth__claims_clear) or
 * SP_ERR_UNAUTHORIZED when the text is not a JSON object.
 */
int sp_auth__claims_parse(const char *text, size_t len, const sp_claims_want *want, sp_claims *c,
                          const char **why);
/* As sp_auth__claims_parse with jscan alone: returns 1 when the text was
 * plain and *c is filled, 0 otherwise (for tests of the two readers). */
int sp_auth__claims_scan(const char *text, size_t len, const sp_claims_want *want, sp_claims *c);
/* Fills *c from a jansson object (borrowed; must outlive c). */
void sp_auth__claims_from_json(const json_t *claims, const sp_claims_want *want, sp_claims *c);
/* Releases what sp_auth__claims_parse kept. */
void sp_auth__claims_clear(sp_claims *c);
/* Returns non-zero when v is a string exactly equal to want (a string
 * with a NUL inside never is). */
int sp_auth__claim_is(const sp_claim_str *v, const char *want);

/*
 * The rules: iss equal to issuer, exp present and numeric and not past
 * now_s + leeway, nbf and iat (when present) numeric and not after now_s +
 * leeway, sub a non-empty string, and aud (string or array) containing the
 * audience when audience is not NULL (c read with the same audience).
 * Returns 0 or SP_ERR_UNAUTHORIZED with why set.
 */
int sp_auth__claims_accept(const sp_claims *c, const char *issuer, const char *audience,
                           double now_s, const char **why);
/*
 * Fills *id from c: issuer copied, sub, username from the user claim
 * (falls back to sub), display name from "name" (falls back to username),
 * email in ASCII lower case when verified (email_verified true, or absent
 * when email_trusted: the issuer is in SPACEPORT_OIDC_EMAIL_VERIFIED_ISSUERS;
 * otherwise ""), roles, and groups (sorted, without duplicates, with their
 * digest; a groups claim of any other shape refuses the token: auth.h).
 * Values longer than the identity fields are refused, not truncated. expires_at_ms is left 0 for
 * the caller. Returns 0 or SP_ERR_UNAUTHORIZED.
 */
int sp_auth__claims_identity(const sp_claims *c, const char *issuer, int email_trusted,
                             sp_identity *id, const char **why);

/* sp_auth__claims_accept on a jansson object (borrowed). */
int sp_auth__claims_check(const json_t *claims, const char *issuer, const char *audience,
                          double now_s, const char **why);

/*
 * sp_auth__claims_identity on a jansson object (borrowed; a userinfo
 * answer): the claim names of want (borrowed; its audience unused; a
 * dotted name such as "realm_access.roles" is also looked up as a path).
 */
int sp_auth__identity_from_claims(const json_t *claims, const char *issuer, int email_trusted,
                                  const sp_claims_want *want, sp_identity *id, const char **why);

/* --- cache (cache.c) --- */

/* SHA-256 of a token: the cache key. */
#define SP_AUTH_HASH_LEN 32

typedef struct sp_auth_cache sp_auth_cache;

/* Creates a cache of at most capacity entries (rounded down to a multiple of
 * its associativity, at least one set). Returns 0 and a new cache, or
 * SP_ERR_NOMEM. */
int sp_auth__cache_create(size_t capacity, sp_auth_cache **out);
/* Frees the cache. NULL is ok. */
void sp_auth__cache_destroy(sp_auth_cache *c);
/* Hashes token into hash. */
void sp_auth__hash_token(const char *token, size_t len, uint8_t hash[SP_AUTH_HASH_LEN]);
/*
 * Looks hash up. Returns 1 and copies the identity into *id (when not NULL)
 * for a live positive entry, -1 for a live negative entry ("this token was
 * refused"), 0 when absent or expired (now_ms is the wall clock). Thread-safe.
 */
int sp_auth__cache_get(sp_auth_cache *c, const uint8_t hash[SP_AUTH_HASH_LEN], int64_t now_ms,
                       sp_identity *id);
/*
 * Stores a positive (id not NULL, copied) or negative (id NULL) entry until
 * expires_ms, evicting an expired entry, or else the least recently used one,
 * of the same set. Thread-safe.
 */
void sp_auth__cache_put(sp_auth_cache *c, const uint8_t hash[SP_AUTH_HASH_LEN],
                        const sp_identity *id, int64_t expires_ms, int64_t now_ms);
/* Returns the number of live entries (for tests and metrics). */
size_t sp_auth__cache_count(sp_auth_cache *c, int64_t now_ms);

/* --- outbound requests (fetch.c) --- */

/* Returns non-zero when url may be fetched: an absolute https URL, or http
 * to a loopback host (localhost, 127.0.0.0/8, ::1). */
int sp_auth__url_allowed(const char *url);

/*
 * GETs url (checked with sp_auth__url_allowed) with a SP_AUTH_FETCH_TIMEOUT_MS
 * timeout, a SP_AUTH_FETCH_MAX body cap, and redirects followed only within
 * the same origin. bearer, when not NULL, is sent as "Authorization: Bearer".
 * cancel, when not NULL, aborts the transfer as soon as it becomes non-zero.
 * On return 0, *status holds the final HTTP status and body the answer
 * (appended). Returns SP_ERR_INVALID (policy), SP_ERR_TOO_LARGE,
 * SP_ERR_UNAVAILABLE (network, timeout, cancelled) or SP_ERR_NOMEM, with why
 * set.
 */
int sp_auth__fetch(const char *url, const char *bearer, const atomic_int *cancel, long *status,
                   struct sp_buf *body, const char **why);

/* --- the handle (auth.c) --- */

/* Flags of sp_auth__create_static. */
#define SP_AUTH_NO_CACHE 1u /* every verification does the full work */

/*
 * For tests and benchmarks: a verifier whose issuers (opt's, in order) use
 * the given JWK Set texts (jwks[i] for issuer i; NULL = unreachable) instead
 * of fetched ones, with no background thread and no userinfo endpoint.
 * Returns 0 and a new handle, SP_ERR_INVALID (a JWKS did not parse) or
 * SP_ERR_NOMEM.
 */
int sp_auth__create_static(const sp_auth_options *opt, const char *const *jwks, size_t n, unsigned flags,
                           sp_auth **out);

#endif
