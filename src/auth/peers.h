/*
 * peers.h - authenticating requests from trusted instances
 * (SPACEPORT_TRUSTED_INSTANCES) by their RFC 9421 signatures.
 *
 * A signed request names its key by keyid; ours, and those of every
 * Spaceport, are "<instance base URL>/ocm#<fingerprint>", as OCM 1.2
 * writes key ids: the URL says which trusted instance claims to have
 * signed, the fingerprint which of its keys. Draft-05 peers write
 * "<host>#<key>", which names the trusted instance of that host. The
 * instance's public keys are those its OCM discovery document publishes
 * (util/discovery.h: "publicKeys", "publicKey", or a JWKS), cached and
 * fetched again, at most every few seconds, when a keyid is unknown (the
 * peer rotated its key).
 *
 * Of the signatures a request carries, the one tagged "ocm" is checked
 * (exactly one may be; without any tag, the first). It passes only when
 * it covers the method; the target URI, or the authority and the path
 * (the form Spaceports of the subscriptions era sign), both ours, from
 * SPACEPORT_PUBLIC_URL (a signature meant for another instance does not
 * pass here); the query when there is one (the API refuses a signed
 * request that has a query: it cannot rebuild it); and the body's
 * Content-Digest when there is a body, which must match it. It must have
 * been created within the last five minutes (a minute of clock skew
 * ahead), not have expired, and not have been seen before (each accepted
 * signature is remembered for the window, so a captured request cannot be
 * replayed).
 */
#ifndef SP_AUTH_PEERS_H
#define SP_AUTH_PEERS_H

#include "util/discovery.h"
#include "util/httpsig.h"

#include <stddef.h>

typedef struct sp_peers sp_peers;

/* How old a signature may be, in seconds, and how far ahead of our clock. */
#define SP_PEERS_WINDOW_S 300
#define SP_PEERS_SKEW_S   60

/* Creates the verifier of the instances discovery knows (borrowed, must
 * outlive it). Returns 0 and *out (new), or SP_ERR_NOMEM. */
int sp_peers_create(sp_discovery *discovery, sp_peers **out);
void sp_peers_destroy(sp_peers *p);

/* A request to authenticate (all borrowed). */
typedef struct sp_peers_req {
    sp_httpsig_msg msg;         /* scheme and authority: ours; field: the request's headers */
    const char *sig_input;      /* Signature-Input header, NULL when absent */
    const char *signature;      /* Signature header, NULL when absent */
    const char *content_digest; /* Content-Digest header, NULL when absent */
    const void *body;
    size_t body_len;
} sp_peers_req;

/*
 * Checks that r was signed by a trusted instance, as described above.
 * May fetch that instance's keys (blocking, bounded by a short timeout).
 * Returns 0 and the instance's index in cfg->trusted_instances;
 * SP_ERR_UNAUTHORIZED with *why (static) set when the request is not
 * signed or not validly; SP_ERR_UNAVAILABLE when the instance's keys
 * cannot be fetched; SP_ERR_NOMEM.
 */
int sp_peers_verify(sp_peers *p, const sp_peers_req *r, size_t *index, const char **why);

/* For tests and /metrics: verified requests, refused ones, discovery
 * fetches (keys come with the documents). */
void sp_peers_counts(sp_peers *p, unsigned long long *verified, unsigned long long *refused,
                     unsigned long long *fetches);

#endif
