/*
 * httpsig.h - HTTP Message Signatures (RFC 9421) and Content-Digest
 * (RFC 9530): how one instance proves to another that a request is its
 * own.
 *
 * This is the standard the OCM draft adopts for requests between servers
 * ("httpsig [RFC9421]", public keys published in the discovery document),
 * so the same code serves subscriptions between registries and the OCM
 * requests. Instances sign with ed25519 (RFC 9421 section 3.3.6): keys of
 * 32 bytes, signatures of 64, deterministic (the RFC's own test vector
 * reproduces bit for bit) and no parameters to get wrong (RSA-PSS has a
 * salt length, a mask function and a key size). Signatures by peers that
 * use RSA keys are verified as rsa-pss-sha512, the other algorithm of the
 * RFC that the draft's implementations use; rsa-v1_5 and HMAC are refused.
 *
 * Only the wire format and the cryptography live here: which components a
 * signature must cover, how old it may be, and whose key it is are the
 * verifier's policy (auth/peers.h). Nothing here opens a connection.
 */
#ifndef SP_UTIL_HTTPSIG_H
#define SP_UTIL_HTTPSIG_H

#include <stddef.h>
#include <stdint.h>

struct sp_buf;

/* A Content-Digest value "sha-256=:<base64>:" fits in this. */
#define SP_HTTPSIG_DIGEST_LEN 64
/* Components one signature may cover: ours cover six, the RFC's examples
 * at most nine; more is a signature built to make verification costly. */
#define SP_HTTPSIG_COMPONENTS_MAX 16
/* Longest component name ("content-digest", "@target-uri"). */
#define SP_HTTPSIG_COMPONENT_MAX 64
/* Longest keyid: ours are the instance's URL and a fingerprint. */
#define SP_HTTPSIG_KEYID_MAX 512
/* The tag of the signatures of requests between instances: OCM's
 * (draft-05 section 9), which a verifier selects by it. */
#define SP_HTTPSIG_TAG_OCM "ocm"
/* Longest signature: 512 bytes is an RSA-4096 signature. */
#define SP_HTTPSIG_SIG_MAX 512
/* Longest nonce and label: random tokens, not payloads. */
#define SP_HTTPSIG_NONCE_MAX 128
#define SP_HTTPSIG_LABEL_MAX 64
/* Longest Signature-Input / Signature header value read. */
#define SP_HTTPSIG_HEADER_MAX 4096

/* ---- Content-Digest (RFC 9530) ---- */

/* Writes "sha-256=:<base64 of SHA-256(body)>:" into out. Returns 0, or
 * SP_ERR_TOO_LARGE when outlen is below SP_HTTPSIG_DIGEST_LEN. */
int sp_httpsig_content_digest(const void *body, size_t len, char *out, size_t outlen);

/* Checks a Content-Digest header value against body: every sha-256 and
 * sha-512 member must match, and at least one must be there (other
 * algorithms are ignored, as RFC 9530 allows). Returns 0 or
 * SP_ERR_INVALID. */
int sp_httpsig_digest_check(const char *header, const void *body, size_t len);

/* ---- keys ---- */

/* A signing key (private) or a verification key (public), with its keyid. */
typedef struct sp_httpsig_key sp_httpsig_key;

/*
 * Loads the private key in PEM file path; when create is set and the file
 * does not exist, creates an ed25519 key there first (mode 0600, written
 * to a temporary file and renamed, so a crash leaves no half key). The
 * keyid is keyid_base + "#" + the key's fingerprint (base64url SHA-256 of
 * its public key's DER), so a rotated key has a new id under the same
 * instance. Returns 0 and *out (new), SP_ERR_NOT_FOUND (no file and not
 * create), SP_ERR_INVALID (not an ed25519 or RSA >= 2048 private key,
 * or a key file others may read) or SP_ERR_IO.
 */
int sp_httpsig_key_load(const char *path, int create, const char *keyid_base, sp_httpsig_key **out);

/* Reads a public key (SubjectPublicKeyInfo) or a private key (PKCS #8)
 * from PEM text, with the given keyid. Returns 0 and *out (new), or
 * SP_ERR_INVALID (not ed25519 or RSA >= 2048). */
int sp_httpsig_key_from_pem(const char *pem, const char *keyid, sp_httpsig_key **out);

/* The keyid (borrowed, lives as long as k). */
const char *sp_httpsig_key_id(const sp_httpsig_key *k);

/* Appends the public key as PEM text to out. Returns 0 or SP_ERR_NOMEM. */
int sp_httpsig_key_public_pem(const sp_httpsig_key *k, struct sp_buf *out);

/* A new handle on k's key (the key material is shared, reference
 * counted) with the same keyid. Returns 0 and *out, or SP_ERR_NOMEM. */
int sp_httpsig_key_dup(const sp_httpsig_key *k, sp_httpsig_key **out);

/* The members of a JSON Web Key (RFC 7517) that name a public key (all
 * borrowed; NULL when absent). */
typedef struct sp_httpsig_jwk {
    const char *kty; /* "OKP" or "RSA" */
    const char *crv; /* OKP: "Ed25519" */
    const char *x;   /* OKP: the public key, base64url */
    const char *n;   /* RSA: modulus, base64url */
    const char *e;   /* RSA: exponent, base64url */
    const char *kid;
    const char *alg; /* when given: "EdDSA"/"ed25519" for OKP, "PS512"/"rsa-pss-sha512" for RSA */
    const char *use; /* when given: "sig" */
} sp_httpsig_jwk;

/*
 * Makes a verification key of j, with keyid (NULL: j->kid). Only what
 * we verify with: OKP Ed25519 and RSA >= 2048 bits; an alg or use that
 * says the key is meant for something else (RS256, "enc") is refused
 * rather than used for rsa-pss-sha512. Returns 0 and *out (new),
 * SP_ERR_INVALID or SP_ERR_NOMEM.
 */
int sp_httpsig_key_from_jwk(const sp_httpsig_jwk *j, const char *keyid, sp_httpsig_key **out);

/* Appends k's public key as one JWK object (kty, crv/x or n/e, kid = the
 * keyid, alg "EdDSA" or "PS512", use "sig") to out. Returns 0 or
 * SP_ERR_NOMEM. */
int sp_httpsig_key_jwk(const sp_httpsig_key *k, struct sp_buf *out);

/* The signature algorithm of k as RFC 9421 names it: "ed25519" or
 * "rsa-pss-sha512" (static). */
const char *sp_httpsig_key_alg(const sp_httpsig_key *k);

void sp_httpsig_key_free(sp_httpsig_key *k);

/* ---- signing and verifying ---- */

/* A field of the message by lower-case name; NULL when absent. */
typedef const char *(*sp_httpsig_field_fn)(void *ctx, const char *name);

/* The message as signature components see it (all borrowed). */
typedef struct sp_httpsig_msg {
    const char *scheme;    /* of @target-uri: "https" (also when NULL) or "http" */
    const char *method;    /* "POST" */
    const char *authority; /* "cloud.zurich.test", "127.0.0.1:9200": lower case, no default port */
    const char *path;      /* "/api/v1/federation/notifications" */
    const char *query;     /* after '?', NULL when none (@query is then "?") */
    sp_httpsig_field_fn field;
    void *ctx;
} sp_httpsig_msg;

/* What the signer adds besides the covered components. */
typedef struct sp_httpsig_params {
    int64_t created;   /* seconds since the epoch */
    const char *nonce; /* NULL: none */
    int with_alg;      /* adds alg="ed25519" (or "rsa-pss-sha512") */
    const char *tag;   /* tag="..." (the application's profile, "ocm"); NULL: none */
} sp_httpsig_params;

/*
 * Signs m with k over the components named in covered (count names:
 * derived ones "@method", "@authority", "@path", "@query",
 * "@target-uri"... and lower-case field names), under label "sig1".
 * Appends the Signature-Input value to input and the Signature value to
 * signature. Returns 0; SP_ERR_INVALID when a covered field is absent, a
 * name unknown, or k has no private half; SP_ERR_NOMEM.
 */
int sp_httpsig_sign(const sp_httpsig_key *k, const sp_httpsig_msg *m, const char *const *covered,
                    size_t count, const sp_httpsig_params *p, struct sp_buf *input,
                    struct sp_buf *signature);

/* A signature as its headers state it. */
typedef struct sp_httpsig_parsed {
    char label[SP_HTTPSIG_LABEL_MAX];
    char components[SP_HTTPSIG_COMPONENTS_MAX][SP_HTTPSIG_COMPONENT_MAX];
    size_t count;
    char keyid[SP_HTTPSIG_KEYID_MAX];
    char alg[32];                       /* "" when not given */
    char nonce[SP_HTTPSIG_NONCE_MAX];   /* "" when not given */
    char tag[SP_HTTPSIG_NONCE_MAX];     /* "" when not given */
    int64_t created, expires;           /* -1 when not given */
    char params[SP_HTTPSIG_HEADER_MAX]; /* the inner list with its parameters, as received */
    unsigned char sig[SP_HTTPSIG_SIG_MAX];
    size_t sig_len;
} sp_httpsig_parsed;

/*
 * Reads the first signature of a Signature-Input header value and the
 * member of the same label of a Signature header value. Component names
 * must be plain (no ;sf, ;key, ;req parameters: we never sign with them).
 * Returns 0 and fills *p, or SP_ERR_INVALID with *why (static) set.
 */
int sp_httpsig_parse(const char *input, const char *signature, sp_httpsig_parsed *p,
                     const char **why);

/*
 * Like sp_httpsig_parse, but reads the signature whose tag parameter is
 * tag: exactly one member may carry it (two are refused: which one the
 * signer meant is not ours to guess), and when none does, the first
 * member is read (signers that predate tags). The other members are
 * skipped unread. Returns 0, or SP_ERR_INVALID with *why (static) set.
 */
int sp_httpsig_parse_tagged(const char *input, const char *signature, const char *tag,
                            sp_httpsig_parsed *p, const char **why);

/* Returns non-zero when p covers component name. */
int sp_httpsig_covers(const sp_httpsig_parsed *p, const char *name);

/*
 * Rebuilds the signature base of p from m and checks p's signature with
 * k. An alg parameter must name k's algorithm. Returns 0, or
 * SP_ERR_INVALID with *why (static) set: a covered field is absent, the
 * alg does not fit the key, or the signature does not match.
 */
int sp_httpsig_verify(const sp_httpsig_parsed *p, const sp_httpsig_msg *m, const sp_httpsig_key *k,
                      const char **why);

/* Appends the signature base of components covered (count) and the
 * serialized parameters params (the inner list) to out, as RFC 9421
 * section 2.5 builds it. For tests and logs; sign and verify use it.
 * Returns 0, SP_ERR_INVALID (a field absent, a name unknown) or
 * SP_ERR_NOMEM. */
int sp_httpsig_base(const sp_httpsig_msg *m, const char *const *covered, size_t count,
                    const char *params, struct sp_buf *out);

#endif
