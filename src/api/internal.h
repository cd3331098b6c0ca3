/*
 * internal.h - what the route files of the API share. Not for use outside
 * src/api/.
 */
#ifndef SP_API_INTERNAL_H
#define SP_API_INTERNAL_H

#include "api/api.h"
#include "store/authz.h"
#include "store/drives.h"
#include "store/events.h"
#include "store/users.h"
#include "util/buf.h"

/* A route of a family's table. */
typedef struct sp_api_route {
    const char *method, *pattern;
    sp_http_handler handler;
} sp_api_route;

/* Adds the count routes of table (static, borrowed) to r, each with api as
 * its context. Returns 0 or the router's error. */
int sp_api__add_routes(sp_router *r, sp_api *api, const sp_api_route *table, size_t count);

/* Each route family registers its routes. */
int sp_api__register_wellknown(sp_router *r, sp_api *api);
int sp_api__register_users(sp_router *r, sp_api *api);

/*
 * Authenticates the request's bearer token. On success returns 0 and fills
 * *id. Otherwise it has already replied 401 (with WWW-Authenticate) or 503
 * and returns a negative sp_err; the handler just returns.
 */
int sp_api__authenticate(sp_http_req *req, sp_api *api, sp_identity *id);
/* The same, accepting ?access_token= when allow_query is set. */
int sp_api__authenticate_ex(sp_http_req *req, sp_api *api, int allow_query, sp_identity *id);
/* Verifies the request's bearer token without replying, for routes that
 * answer failures their own way. Returns 0 and fills *id;
 * SP_ERR_UNAUTHORIZED when there is no token (*had_token 0) or it is not
 * valid (*had_token 1); SP_ERR_UNAVAILABLE when the provider cannot be
 * asked. */
int sp_api__verify_token(sp_http_req *req, sp_api *api, int allow_query, sp_identity *id,
                         int *had_token);

/* Adds the WWW-Authenticate challenge of a refused token: the realm when
 * there was none, invalid_token when there was one. */
void sp_api__challenge(sp_http_req *req, int had_token);

/* The user of a verified identity, provisioned on first sight (with the
 * personal drive), without replying. Returns 0 or the store's error. */
int sp_api__provision(sp_api *api, const sp_identity *id, sp_user *user);

/*
 * Authenticates the request and returns its user, provisioned on first
 * sight (with the personal drive). On failure it has already replied
 * (401, 503, or 500/507 when the database fails) and returns a negative
 * sp_err; the handler just returns.
 */
int sp_api__caller(sp_http_req *req, sp_api *api, sp_user *user);

/* As sp_api__caller, also returning the identity (token expiry); with
 * allow_query the token may come as the access_token query parameter
 * (browsers' EventSource cannot set headers). */
int sp_api__caller_ex(sp_http_req *req, sp_api *api, int allow_query, sp_identity *id,
                      sp_user *user);

/* ---- who may: the handler's check (write.c) ---- */

/*
 * Authenticates the request into *u and decides a (its question filled
 * in by the caller; its actor is set to u) on the thread's reader. An
 * a->item_id must be an item of a->drive_id (util/itemid.h), checked
 * before anything is read. Returns 0, or has replied (401/503, 400 for
 * the item id, 404, 403, 500) and returns a negative sp_err; the handler
 * just returns.
 */
int sp_api__authorize(sp_http_req *req, sp_api *api, sp_user *u, sp_authz *a);

/*
 * As sp_api__authorize, for removing share a->target_id (SP_AUTHZ_CHANGE_SHARE):
 * a->item_id may also break the form rule when it is exactly the stored
 * item of that share on a->drive_id, so that shares stored by older
 * versions (never served to their grantees) can still be removed. Any
 * other id that breaks the rule is 400, also when the actor does not
 * reach the drive.
 */
int sp_api__authorize_removal(sp_http_req *req, sp_api *api, sp_user *u, sp_authz *a);

/* Replies for a's refusal rc: 404 naming the drive or the permission,
 * 403 with a->why, or a store error for anything else. */
void sp_api__refuse(sp_http_req *req, sp_api *api, const sp_authz *a, int rc);

/* ---- what a sharing or member request's body asks (write.c) ---- */

/* The single role of "roles", which must be one of those that apply to
 * applies (SP_ROLE_ON_DRIVE, SP_ROLE_ON_ITEM). Returns it (static), or NULL
 * after replying 400 with hint. */
const sp_role *sp_api__read_role(sp_http_req *req, json_t *body, unsigned applies,
                                 const char *hint);

/* Reads "expirationDateTime": absent (*set 0), null (*set 1, *ms 0: none)
 * or an RFC 3339 date-time in the future. Returns 0 or replies 400. */
int sp_api__read_expiry(sp_http_req *req, json_t *body, int *set, int64_t *ms);

/* ---- writes made later, on the store's writer thread (write.c) ---- */

typedef struct sp_api_write sp_api_write;

/* Makes the request's writes, on the writer thread: calls of the store's
 * write functions only. Returns 0 or the first error. */
typedef int (*sp_api_write_fn)(sp_store *st, sp_api_write *w);
/* Answers the request once its writes are durable (rc 0) or failed (run's
 * error or the commit's). Runs on an HTTP worker thread, also when the
 * client has left (replies then go nowhere). Releases nothing: w is freed
 * after it returns. */
typedef void (*sp_api_answer_fn)(sp_http_req *req, sp_api_write *w, int rc);

/*
 * A request whose writes wait for the writer thread. The request's own
 * context embeds it as its first member and is one allocation; the
 * handler fills the fields above the line, typically with a compound
 * literal, and hands it to sp_api__write_later.
 */
struct sp_api_write {
    sp_api *api;
    sp_user user;   /* the caller */
    sp_authz authz; /* the handler's check, decided again inside the write */
    json_t *body;   /* the body, whose strings the context borrows; owned */
    sp_api_write_fn run;
    sp_api_answer_fn answer;
    /* ---- set by sp_api__write_later and the writer thread ---- */
    sp_http_req *req;
    int rc;  /* how the writes ended */
    int ran; /* run was called: the check held again */
};

/*
 * Makes w's writes without holding the request's thread: suspends the
 * request and queues w on the store's writer thread, which decides
 * w->authz again (its actor now w->user) inside the job's savepoint and
 * only then runs w->run, in a group with the other writes queued
 * meanwhile. Once they are durable, or failed, the request resumes and is
 * answered: with w->answer, or as the handler would have refused when the
 * check no longer holds (nothing was written then). Steals w (the whole
 * context, freed with free() after the answer) and w->body. The handler
 * returns right after this call.
 */
void sp_api__write_later(sp_http_req *req, sp_api_write *w);

/* ---- outbound work the request waits for (aside.c) ---- */

/*
 * Takes a slot of outbound work bounded per destination and in all: *mine
 * (that destination's count) below per_max, *all below all_max. Returns
 * 0 (taken: give it back with sp_api__slot_give), 1 when the
 * destination's slots are taken, 2 when all are (nothing taken then).
 */
int sp_api__slot_take(atomic_int *mine, int per_max, atomic_int *all, int all_max);
/* Gives back a slot sp_api__slot_take took. */
void sp_api__slot_give(atomic_int *mine, atomic_int *all);

/* Calls in flight at one trusted instance (remote space lookups, invite
 * acceptances: remote.c, invites.c). A call holds no HTTP worker (the
 * request waits suspended while a thread of its own asks), but a thread
 * and a connection for as long as the instance takes, up to the timeout.
 * Registrations are rare and a healthy instance answers in milliseconds,
 * so two at a time cost its users little; a slow or stuck instance holds
 * two threads and delays only registrations of its own spaces (told 503
 * and Retry-After meanwhile). */
#define SP_API_INSTANCE_CALLS_PER_INSTANCE 2
/* Calls in flight at all instances together: bounds the threads and
 * connections that slow instances (up to SP_CONFIG_LIST_MAX of them) can
 * make this process hold, well above what people registering spaces
 * need at once. */
#define SP_API_INSTANCE_CALLS_MAX 16

/* Takes a slot of a call at trusted instance index (one of its own, and
 * one of all). Returns 0, or replies 503 with Retry-After (naming which
 * bound was reached) and returns SP_ERR_UNAVAILABLE. */
int sp_api__instance_slot_take(sp_http_req *req, sp_api *api, size_t index);
/* Gives back the slots sp_api__instance_slot_take took. */
void sp_api__instance_slot_give(sp_api *api, size_t index);

/* Work done for a suspended request, on a thread of its own. */
typedef void (*sp_api_aside_fn)(void *arg);

/*
 * Runs work(arg) for req without holding the request's thread: suspends
 * req and runs work on a detached thread of its own, then resumes req,
 * and answer(req, arg) answers it on an HTTP worker (and frees arg).
 * When no thread can be started, unstarted(arg) runs instead, on the
 * calling thread, and the request resumes all the same. The HTTP
 * server's stop waits for the resume, so work must end within a bound
 * (a fetch timeout). The handler returns right after this call.
 */
void sp_api__aside(sp_http_req *req, sp_api_aside_fn work, sp_api_aside_fn unstarted,
                   sp_http_resume_fn answer, void *arg);

/* ---- oCIS's change stream (clientlog.c) ---- */

/* Writes event e as one Server-Sent Events frame of oCIS's path, on the
 * stream of user user_id: id, the catalog's oCIS name, clientlog's
 * payload. Writes nothing for a type not sent there. Returns 0 or
 * SP_ERR_NOMEM. */
int sp_api__clientlog_frame(sp_buf *out, const sp_event *e, const char *user_id);

/* ---- the permission listings' answers (permissions.c) ---- */

/* Which members of a permission listing's answer the request's $select
 * names (the roles and actions annotations, value); all when it names
 * none of them, as oCIS. */
unsigned sp_api__permissions_select(sp_http_req *req);
/* Non-zero when that selection includes the permissions themselves. */
int sp_api__permissions_value_selected(unsigned select);

/*
 * Replies 200 with a permission listing: the selected ones of roles (the
 * role definitions the caller may grant there), the actions that own (the
 * caller's role there, NULL: none) grants, and value. Steals roles and
 * value (either may be NULL when not selected).
 */
void sp_api__reply_permissions(sp_http_req *req, unsigned select, json_t *roles,
                               const sp_role *own, json_t *value);

/* Replies 200 with permission found (stolen), or 404 as oCIS when it is
 * NULL: no permission id on that resource. */
void sp_api__reply_permission(sp_http_req *req, const char *id, json_t *found);

/* Whom a permission is granted to, as libre-graph's identitySet: {"user":
 * {id, displayName}}, or {"group": {...}} when group_id is set. New
 * reference (NULL when out of memory). */
json_t *sp_api__grantee_json(const char *user_id, const char *user_name, const char *group_id,
                             const char *group_name);
/* Reads recipient's "@libre.graph.recipient.type": *group 1 for "group",
 * 0 for "user" or none. Returns 0, or SP_ERR_INVALID for another value. */
int sp_api__recipient_type(const json_t *recipient, int *group);

/* oCIS's share jail: the virtual drive that holds shares received. */
#define SP_SHARES_DRIVE_ID                                                                        \
    "a0ca6a90-a365-4782-871e-d44447bbc668$a0ca6a90-a365-4782-871e-d44447bbc668"

struct sp_share;
/* {"user": {"id", "displayName"}}, an identity set (new reference;
 * sharing.c). */
json_t *sp_api__user_json(const char *id, const char *name);
/* A share as a libre-graph permission (new reference; sharing.c). */
json_t *sp_api__share_permission_json(const struct sp_share *s);

/* Route families. */
int sp_api__register_drives(sp_router *r, sp_api *api);
int sp_api__register_members(sp_router *r, sp_api *api);
int sp_api__register_sharing(sp_router *r, sp_api *api);
int sp_api__register_shared(sp_router *r, sp_api *api);
int sp_api__register_events(sp_router *r, sp_api *api);
int sp_api__register_changes(sp_router *r, sp_api *api);
int sp_api__register_webfinger(sp_router *r, sp_api *api);
int sp_api__register_remote(sp_router *r, sp_api *api);
int sp_api__register_ocm(sp_router *r, sp_api *api);
int sp_api__register_invites(sp_router *r, sp_api *api);
int sp_api__register_federation(sp_router *r, sp_api *api);

/* ---- requests between instances (federation.c) ---- */

/* Non-zero when the request carries an RFC 9421 signature (it claims to
 * come from another instance rather than from a user). */
int sp_api__signed(sp_http_req *req);
/* Verifies that a trusted instance signed the request (auth/peers.h):
 * returns 0 and the instance's index in cfg->trusted_instances, or has
 * replied (401 with WWW-Authenticate: Signature, 503 when its keys cannot
 * be fetched) and returns a negative sp_err. */
int sp_api__peer(sp_http_req *req, sp_api *api, size_t *index);
/* The same check without replying: returns 0 and *index;
 * SP_ERR_UNAUTHORIZED, SP_ERR_UNAVAILABLE (keys cannot be fetched) or
 * SP_ERR_NOMEM with *why (static) set. Routes with an answer form of
 * their own (OCM) reply themselves. */
int sp_api__peer_check(sp_http_req *req, sp_api *api, size_t *index, const char **why);

/* ---- Open Cloud Mesh: who sent a request, and the spec's error form (ocm_auth.c) ---- */

/* OCM's error form (see contract). name/code: one validationErrors entry (400 only), or NULL. */
void sp_api__ocm_error(sp_http_req *req, int status, const char *name, const char *code,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Who sent an OCM request. */
typedef struct sp_ocm_caller {
    size_t instance;
    int is_signed;
} sp_ocm_caller;
/* Decides whether an OCM request that claims to come from trusted instance `claimed` (its index;
 * SIZE_MAX when it names none we trust: 403) may be served. Signed: must verify (sp_api__peer) and
 * be signed by `claimed` (else 401). Unsigned: 401 when api->cfg->ocm_require_signatures or the
 * instance's discovery says it signs; 503 + Retry-After when its discovery cannot be read. Replies
 * (OCM error form) and returns < 0 when refused; returns 0 and *out otherwise. claimed may be
 * SIZE_MAX with a signed request: then the signer is the caller. */
int sp_api__ocm_caller(sp_http_req *req, sp_api *api, size_t claimed, sp_ocm_caller *out);
/* The index of trusted instance base_url (as configured), or SIZE_MAX. */
size_t sp_api__ocm_instance(const sp_api *api, const char *base_url);
/* v when it is a printable ASCII string of 1..max bytes (OCM identifiers:
 * providerId, addresses, secrets), else NULL. Borrowed from v. */
const char *sp_api__ocm_ident(json_t *v, size_t max);
/* The request body as a JSON object (sp_api__json_parse's limits), or NULL
 * after replying 400 in the OCM form. New reference. Also clears the
 * thread's Initiator-ID (sp_store_set_initiator): an OCM request is
 * another instance's, whatever the thread's last request set. */
json_t *sp_api__ocm_body(sp_http_req *req);
/* Reads what an OCM share or notification grants into *out ("read" or
 * "read,write", static): a list of read, write and share (OCM 1.2), an
 * OCS bit mask as a number or a string (read 1, update 2, create 4,
 * delete 8, share 16: Nextcloud), or "read" / "read,write". Returns 0 or
 * SP_ERR_INVALID (ocm_shares.c). */
int sp_api__ocm_permissions(json_t *v, const char **out);
/* The OCM routes besides discovery (ocm_shares.c, ocm_notify.c). */
int sp_api__register_ocm_shares(sp_router *r, sp_api *api);
int sp_api__register_ocm_notifications(sp_router *r, sp_api *api);
int sp_api__register_web(sp_router *r, sp_api *api);
int sp_api__register_ocs(sp_router *r, sp_api *api);
int sp_api__register_settings(sp_router *r, sp_api *api);
int sp_api__register_groups(sp_router *r, sp_api *api);
int sp_api__register_subscriptions(sp_router *r, sp_api *api);

/* ---- the WebDAV server's access check (dav.c) ---- */

/* The decisions counted in api->dav_access. */
#define SP_API_DAV_ALLOWED         0
#define SP_API_DAV_DENIED          1
#define SP_API_DAV_UNAUTHENTICATED 2
/* GET /api/v1/dav-access. */
int sp_api__register_dav(sp_router *r, sp_api *api);
/* Appends spaceport_dav_access_total to out. Returns 0 or SP_ERR_NOMEM. */
int sp_api__dav_metrics(sp_api *api, sp_buf *out);

/* Shortest users search term (/graph/v1.0/users): fewer characters would
 * enumerate the directory. The capabilities announce it. The groups
 * search asks as much. */
#define SP_USER_SEARCH_MIN 3

/* What a recipient search lists: the rows matching term for u, appended
 * to the JSON array value. Returns 0 or a negative sp_err. */
typedef int (*sp_api_search_fn)(sp_api *api, const sp_user *u, const char *term, json_t *value);
/* Answers a recipient search (/users, /groups) with {"value": [...]}: the
 * term of $search without the quotes Graph clients put around it, at
 * least SP_USER_SEARCH_MIN characters (else 400); the rows search
 * appends, sorted by $orderby when it names one of the nkeys keys
 * (case-insensitively, as oCIS's sortUsers and sortGroups; another key is
 * 400). The caller has checked its other options (users.c). */
void sp_api__answer_search(sp_http_req *req, sp_api *api, const sp_user *u,
                           const char *const *keys, size_t nkeys, sp_api_search_fn search);
/* sp_user_fn appending the user as libre-graph renders it to the JSON
 * array ctx. */
int sp_api__append_user(const char *id, const char *display_name, const char *email,
                        const char *username, void *ctx);
/* sp_group_fn appending the group as libre-graph renders it ({id,
 * displayName, groupTypes}) to the JSON array ctx (groups.c). */
struct sp_group;
int sp_api__append_group(const struct sp_group *g, void *ctx);

/* Nesting deeper than this in a request body is refused: the contract's
 * bodies are three levels deep. */
#define SP_API_JSON_DEPTH_MAX 16
/* Members in one array of a request body (recipients, roles). */
#define SP_API_ARRAY_MAX 100

/*
 * Parses the request body as a JSON object (duplicate keys rejected, depth
 * and array sizes limited). Returns a new reference, or NULL after replying
 * 400 with what is wrong.
 */
json_t *sp_api__json_body(sp_http_req *req);
/* The same checks on a buffer: a new reference, or NULL with the reason in
 * why (whylen bytes). */
json_t *sp_api__json_parse(const char *body, size_t len, char *why, size_t whylen);

/* Appends base, path and id percent-encoded as a path segment to b: every
 * id that goes into a URL (webDavUrl, webUrl, Location) goes this way, so
 * an id cannot add a segment, a query or a fragment. Returns 0 or
 * SP_ERR_NOMEM. */
int sp_api__id_url(sp_buf *b, const char *base, const char *path, const char *id);

/* Renders a drive as libre-graph JSON (new reference). beta selects the
 * v1beta1 permission form (grantedToV2, role ids). */
json_t *sp_api__drive_json(sp_api *api, const sp_drive *d, int beta);

/* Renders a remote space (d->remote_web_dav_url set) as a mountpoint
 * Drive whose root.remoteItem names the drive at the hosting instance
 * (new reference; remote.c). */
json_t *sp_api__remote_json(sp_api *api, const sp_drive *d);

/* DELETE of a drive id that may be one of u's remote spaces: removes it
 * and replies 204 (or an error) and returns 1; returns 0 without replying
 * when id is not a remote space of u. */
int sp_api__remote_delete(sp_http_req *req, sp_api *api, const sp_user *u, const char *id);

/* Finds drive id as u reaches it, whatever its kind (a drive u is a
 * member of, or any with as_admin; a share's mountpoint; a remote space
 * of u), and calls fn once. Returns 0, SP_ERR_NOT_FOUND or another
 * negative sp_err. */
int sp_api__drive_find(sp_api *api, const sp_user *u, int as_admin, const char *id,
                       sp_drive_fn fn, void *ctx);
/* sp_drive_fn that keeps nothing: for asking whether a drive is there. */
int sp_api__drive_seen(const sp_drive *d, void *ctx);
/* Replies status with the drive id as the caller sees it (or 404);
 * beta: the v1beta1 form. */
void sp_api__reply_drive(sp_http_req *req, sp_api *api, const sp_user *u, const char *id,
                         unsigned status, int beta);
/* Replies 201 with the new drive id as the caller sees it, and its URL in
 * Location; beta: the v1beta1 form and URL. */
void sp_api__reply_created(sp_http_req *req, sp_api *api, const sp_user *u, const char *id,
                           int beta);

/* Appends the virtual "Shares" drive (oCIS's share jail) to the JSON
 * array value when u received a share: clients show shares received
 * under it (drives.c). Returns 0 or a negative sp_err. */
int sp_api__shares_drive(sp_api *api, const sp_user *u, json_t *value);

/* Appends name=value to the query string of the URL in b ('?' or '&'
 * first), percent-encoding value (drives.c). Returns 0 or SP_ERR_NOMEM. */
int sp_api__append_param(sp_buf *b, const char *name, const char *value);

/* GET /graph/v1.0/me/drives/delta (delta.c). */
int sp_api__register_delta(sp_router *r, sp_api *api);

/* The drive writes (drives_write.c): POST, PATCH and DELETE on v1.0 and
 * v1beta1. */
int sp_api__register_drive_writes(sp_router *r, sp_api *api);

/* Non-zero when the request came through a /graph/v1beta1/ route: its
 * answers carry the v1beta1 permission form. */
int sp_api__is_beta(sp_http_req *req);

/* Non-zero when the user has the admin role. */
int sp_api__is_admin(const sp_user *u);
/* Non-zero when the user sees every drive (listing all, one by id), as
 * oCIS's Drives.List.all: admins and space admins. What they may change
 * is the store's decision (store/authz.h). */
int sp_api__sees_all_drives(const sp_user *u);

/* Replies for a store error (api borrowed): 507 when full, 503 when the
 * database does not answer now, 500 otherwise, JSON form. */
void sp_api__store_error(sp_http_req *req, sp_api *api, int err);

#endif
