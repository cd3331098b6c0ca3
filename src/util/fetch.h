/*
 * fetch.h - the one outbound HTTP client: a libcurl request under a strict
 * policy.
 *
 * Every connection Spaceport opens to another service (identity providers,
 * trusted instances) goes through here, so the policy lives in one place:
 * https only (plain http only to loopback hosts), a whole-transfer
 * timeout, a cap on the answer's size, and redirects followed by hand,
 * only for GET and only within the same origin (or not at all). Calls are independent and
 * thread-safe; curl_global_init is done in main.
 */
#ifndef SP_UTIL_FETCH_H
#define SP_UTIL_FETCH_H

#include <stdatomic.h>
#include <stddef.h>

struct sp_buf;
struct sp_httpsig_key;

/* Longest bearer token sent along (the verifier accepts 8 KiB; a little
 * room beyond it costs nothing). */
#define SP_FETCH_BEARER_MAX 16384

/* Webhooks (a validation handshake, a notification): the receiver must
 * answer within 10 s, as Microsoft Graph asks of its receivers; an answer
 * is a token or an acknowledgement, so 64 KiB is plenty. Redirects are
 * never followed for them (redirects_max 0). */
#define SP_FETCH_WEBHOOK_TIMEOUT_MS 10000L
#define SP_FETCH_WEBHOOK_ANSWER_MAX (64 * 1024)

/* One request. Zero-initialise and set what is needed. */
typedef struct sp_fetch_req {
    const char *method;       /* "GET" (also when NULL), "POST", "PATCH" or "DELETE" */
    const char *bearer;       /* sent as "Authorization: Bearer ..."; NULL: none */
    const char *content_type; /* of body; NULL when there is no body */
    const char *body;         /* request body (POST, PATCH), body_len bytes */
    size_t body_len;
    const atomic_int *cancel; /* aborts the transfer once non-zero; may be NULL */
    long timeout_ms;          /* whole transfer, > 0 */
    size_t max_body;          /* largest answer accepted, > 0 */
    int redirects_max;        /* same-origin GET redirects followed; 0: a 3xx is the answer */
    /* Signs the request as this instance (RFC 9421, util/httpsig.h) with
     * the signing profile of OCM (draft-05 section 9), used for every
     * request between instances: Content-Digest of the body, and one
     * signature tagged "ocm" over @method, @target-uri (with the URL's
     * own scheme), and content-digest, content-length and content-type
     * when there is a body; created now, keyid, alg and a random nonce.
     * NULL: unsigned. */
    const struct sp_httpsig_key *signer;
} sp_fetch_req;

/* Returns non-zero when url may be fetched: an absolute https URL, or http
 * to a loopback host (localhost, 127.0.0.0/8, ::1); never user-info or a
 * fragment (sp_url_parse). */
int sp_fetch_url_allowed(const char *url);

/* Returns non-zero when URLs a and b parse and share scheme, host and
 * port (the origin). */
int sp_fetch_same_origin(const char *a, const char *b);

/*
 * Sends req to url (checked with sp_fetch_url_allowed before anything is
 * opened). On return 0, *status holds the final HTTP status and the answer
 * is appended to body (a 3xx that is not followed is returned as such).
 * Returns SP_ERR_INVALID (policy: URL or redirect target not allowed),
 * SP_ERR_TOO_LARGE (answer over max_body), SP_ERR_UNAVAILABLE (network,
 * timeout, cancelled, too many redirects) or SP_ERR_NOMEM, with *why set
 * to a static reason meant for logs.
 */
int sp_fetch(const char *url, const sp_fetch_req *req, long *status, struct sp_buf *body,
             const char **why);

#endif
