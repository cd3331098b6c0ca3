/*
 * invites.c - Open Cloud Mesh invitations.
 *
 * Users make, list and accept invites, and list and remove the contacts
 * they gave, through the routes oCIS, OpenCloud and Reva serve for their
 * web app ("sciencemesh"): POST /sciencemesh/generate-invite, GET
 * /sciencemesh/list-invite, POST /sciencemesh/accept-invite, GET
 * /sciencemesh/find-accepted-users, DELETE
 * /sciencemesh/delete-accepted-user. Another instance tells this one
 * that one of its users accepted an invite made here with POST
 * /ocm/invite-accepted (the spec's route).
 *
 * Accepting an invite is the one thing here that opens a connection: only
 * to a trusted instance (SPACEPORT_TRUSTED_INSTANCES), decided before
 * anything is opened, signed as this instance, on a thread of its own
 * while the request waits suspended (aside.c), bounded per instance.
 *
 * The token is the invite: whoever holds it may accept it, once, until it
 * expires. It is shown once, to its maker, and kept only as its SHA-256.
 */
#include "api/internal.h"

#include "store/contacts.h"

#include "util/base64.h"
#include "util/buf.h"
#include "util/discovery.h"
#include "util/err.h"
#include "util/fetch.h"
#include "util/id.h"
#include "util/instance.h"
#include "util/log.h"
#include "util/time.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A description is a reminder for its maker, not a document. */
#define SP_INVITE_DESCRIPTION_MAX 1000
/* Tokens made here are UUIDs; other instances' tokens are opaque, but a
 * token longer than this is not one. */
#define SP_INVITE_TOKEN_MAX 256
/* A canonical invite string: base64 of token@provider. */
#define SP_INVITE_STRING_MAX (SP_INVITE_TOKEN_MAX + SP_INSTANCE_AUTHORITY_MAX + 2)
/* Longest e-mail address (RFC 5321 path limit) and display name. */
#define SP_INVITE_EMAIL_MAX 254
#define SP_INVITE_NAME_MAX  255
/* Whole time telling the inviting instance may take: the user is
 * waiting, and a healthy instance answers in milliseconds. */
#define SP_INVITE_FETCH_TIMEOUT_MS 5000L
/* Its answer is three short strings. */
#define SP_INVITE_ANSWER_MAX (64 * 1024)

/* ---- reading fields ---- */

/* A string member of 1..max bytes without control characters (or, with
 * no_space, without blanks), or NULL. */
static const char *field(json_t *body, const char *name, size_t max, int no_space)
{
    json_t *v = json_object_get(body, name);
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) > max || strlen(s) != json_string_length(v))
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || (no_space && *p == ' '))
            return NULL;
    }
    return s;
}

/* The trusted instance whose authority is host (a bare host[:port], or a
 * URL's scheme://host[:port][/]): its index, or SIZE_MAX. */
static size_t instance_of_host(const sp_api *api, const char *host)
{
    char address[SP_INSTANCE_AUTHORITY_MAX + 4];
    if (strncasecmp(host, "https://", 8) == 0)
        host += 8;
    else if (strncasecmp(host, "http://", 7) == 0)
        host += 7;
    size_t n = strcspn(host, "/");
    if (n == 0 || n > SP_INSTANCE_AUTHORITY_MAX || strcspn(host, "@") < n ||
        (host[n] && strcmp(host + n, "/") != 0))
        return SIZE_MAX;
    snprintf(address, sizeof address, "x@%.*s", (int)n, host);
    const sp_config_list *trusted = &api->cfg->trusted_instances;
    size_t index;
    if (sp_instance_by_address((const char *const *)trusted->items, trusted->count, address,
                               &index) < 0)
        return SIZE_MAX;
    return index;
}

/* This instance's authority, as OCM addresses and invite strings name it. */
static void own_authority(const sp_api *api, char out[SP_INSTANCE_AUTHORITY_MAX])
{
    if (sp_instance_authority(api->cfg->public_url, out, SP_INSTANCE_AUTHORITY_MAX) < 0)
        out[0] = '\0';
}

/* The canonical invite string of token: base64 (with padding, as the
 * spec and the web apps write it) of "token@provider". */
static int invite_string(const char *token, const char *provider, char *out, size_t outlen)
{
    char plain[SP_INVITE_STRING_MAX];
    int n = snprintf(plain, sizeof plain, "%s@%s", token, provider);
    if (n < 0 || (size_t)n >= sizeof plain ||
        sp_base64url_encode(plain, (size_t)n, out, outlen) < 0)
        return SP_ERR_INVALID;
    size_t len = strlen(out);
    for (char *p = out; *p; p++)
        *p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
    while (len % 4 && len + 1 < outlen)
        out[len++] = '=';
    out[len] = '\0';
    return len % 4 ? SP_ERR_INVALID : 0;
}

/* Reads a canonical invite string (base64 or base64url of token@provider,
 * padded or not) into token and provider (split at the last '@').
 * Returns 0 or SP_ERR_INVALID. */
static int read_invite_string(const char *s, char *token, char *provider)
{
    char b64[SP_BASE64URL_LEN(SP_INVITE_STRING_MAX) + 4], plain[SP_INVITE_STRING_MAX];
    size_t n = 0, len;
    for (; *s && *s != '=' && n + 1 < sizeof b64; s++)
        b64[n++] = *s == '+' ? '-' : *s == '/' ? '_' : *s;
    b64[n] = '\0';
    while (*s == '=')
        s++;
    if (*s || n == 0 || sp_base64url_decode(b64, plain, sizeof plain - 1, &len) < 0)
        return SP_ERR_INVALID;
    plain[len] = '\0';
    char *at = strrchr(plain, '@');
    if (strlen(plain) != len || !at || at == plain || !at[1] ||
        (size_t)(at - plain) > SP_INVITE_TOKEN_MAX || strlen(at + 1) >= SP_INSTANCE_AUTHORITY_MAX)
        return SP_ERR_INVALID;
    /* Both lengths are checked above. */
    memcpy(token, plain, (size_t)(at - plain));
    token[at - plain] = '\0';
    memcpy(provider, at + 1, strlen(at + 1) + 1);
    return 0;
}

/* ---- the user's routes ---- */

/* Authenticates the caller into *u and reads the body: a JSON object, or
 * an empty one when there is none (the web app sends none when it has
 * nothing to say). *had_body says which. Returns a new reference, or NULL
 * after replying. */
static json_t *caller_body(sp_http_req *req, sp_api *api, sp_user *u, size_t *had_body)
{
    if (sp_api__caller(req, api, u) < 0)
        return NULL;
    sp_http_body(req, had_body);
    json_t *body = *had_body ? sp_api__json_body(req) : json_object();
    if (!body && !*had_body)
        sp_api__store_error(req, api, SP_ERR_NOMEM);
    return body;
}

/* Fills list (a JSON array) with what u has. */
typedef int (*list_fn)(sp_api *api, const sp_user *u, json_t *list);

/* Answers a listing of the caller's own: 200 with the array fill made. */
static void reply_list(sp_http_req *req, sp_api *api, list_fn fill)
{
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    json_t *list = json_array();
    int rc = list ? fill(api, &u, list) : SP_ERR_NOMEM;
    if (rc < 0) {
        json_decref(list);
        sp_api__store_error(req, api, rc);
        return;
    }
    sp_http_reply_json(req, 200, list);
}

static void generate_invite(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    size_t len;
    json_t *body = caller_body(req, api, &u, &len);
    if (!body)
        return;
    json_t *d = json_object_get(body, "description"), *r = json_object_get(body, "recipient");
    const char *description = d ? field(body, "description", SP_INVITE_DESCRIPTION_MAX, 0) : "";
    const char *recipient = r ? field(body, "recipient", SP_INVITE_EMAIL_MAX, 1) : NULL;
    if (json_is_string(d) && !json_string_length(d))
        description = "";
    if (json_is_string(r) && !json_string_length(r))
        r = NULL;
    if (!description || (r && (!recipient || !strchr(recipient, '@')))) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "description is a text of up to %d bytes and recipient an e-mail "
                            "address",
                            SP_INVITE_DESCRIPTION_MAX);
        goto done;
    }
    char token[SP_ID_LEN], id[SP_USER_ID_LEN], provider[SP_INSTANCE_AUTHORITY_MAX];
    char invite[SP_BASE64URL_LEN(SP_INVITE_STRING_MAX) + 4];
    int64_t expires = sp_time_now_ms() + api->cfg->ocm_invite_ttl_ms;
    own_authority(api, provider);
    int rc = sp_id_uuid(token) < 0 ? SP_ERR_IO
                                   : sp_store_invite_create(api->store, &u, token, description,
                                                            r ? recipient : NULL, expires, id);
    if (rc == 0)
        rc = invite_string(token, provider, invite, sizeof invite);
    if (rc < 0) {
        sp_api__store_error(req, api, rc);
        goto done;
    }
    sp_http_reply_json(req, 200,
                       json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "id", id, "token", token,
                                 "description", description, "expiration",
                                 (json_int_t)(expires / 1000), "invite", invite, "providerDomain",
                                 provider));
done:
    json_decref(body);
}

static int append_invite(const sp_invite *inv, void *arg)
{
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:b}", "id", inv->id, "token", "", "description",
        inv->description, "expiration", (json_int_t)(inv->expires_at_ms / 1000), "created",
        (json_int_t)(inv->created_at_ms / 1000), "accepted", inv->accepted_at_ms != 0);
    if (j && inv->recipient)
        json_object_set_new(j, "recipient", json_string(inv->recipient));
    if (j && inv->contact_id)
        json_object_set_new(j, "contactId", json_string(inv->contact_id));
    return j && json_array_append_new(arg, j) == 0 ? 0 : SP_ERR_NOMEM;
}

static int fill_invites(sp_api *api, const sp_user *u, json_t *list)
{
    return sp_store_invites_list(api->store, u, append_invite, list);
}

/* GET /sciencemesh/list-invite: the caller's invites, newest first. The
 * token was shown once, when made: "token" is empty here. */
static void list_invites(sp_http_req *req, void *ctx)
{
    reply_list(req, ctx, fill_invites);
}

/* A contact as the web app lists accepted users (Reva's remoteUser), with
 * its id and address (new reference, or NULL). */
static json_t *contact_json(const sp_contact *c)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", c->id, "user_id", c->user_id, "idp",
                     c->provider, "display_name", c->name, "mail", c->email, "ocm_address",
                     c->address);
}

static int append_contact(const sp_contact *c, void *arg)
{
    json_t *j = contact_json(c);
    return j && json_array_append_new(arg, j) == 0 ? 0 : SP_ERR_NOMEM;
}

static int fill_contacts(sp_api *api, const sp_user *u, json_t *list)
{
    return sp_store_contacts_list(api->store, u, NULL, append_contact, list);
}

/* GET /sciencemesh/find-accepted-users: the caller's contacts. */
static void find_accepted_users(sp_http_req *req, void *ctx)
{
    reply_list(req, ctx, fill_contacts);
}

/* DELETE /sciencemesh/delete-accepted-user {"user_id", "idp"} (or the
 * same as query parameters): removes the caller's contact user_id@idp. */
static void delete_accepted_user(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    size_t len;
    json_t *body = caller_body(req, api, &u, &len);
    if (!body)
        return;
    const char *user_id = field(body, "user_id", SP_CONTACT_USER_ID_MAX, 1);
    const char *idp = field(body, "idp", SP_CONTACT_PROVIDER_MAX, 1);
    if (!len) {
        user_id = sp_http_query(req, "user_id");
        idp = sp_http_query(req, "idp");
    }
    char address[SP_CONTACT_USER_ID_MAX + SP_CONTACT_PROVIDER_MAX + 2];
    if (!user_id || !idp || !*user_id || !*idp || strlen(user_id) > SP_CONTACT_USER_ID_MAX ||
        strlen(idp) > SP_CONTACT_PROVIDER_MAX) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "user_id and idp (as find-accepted-users lists them) are required");
        goto done;
    }
    snprintf(address, sizeof address, "%s@%s", user_id, idp);
    int rc = sp_store_contact_remove(api->store, &u, address);
    if (rc == SP_ERR_NOT_FOUND)
        sp_http_reply_error(req, 404, "itemNotFound", "you have no contact %s", address);
    else if (rc < 0)
        sp_api__store_error(req, api, rc);
    else
        sp_http_reply_json(req, 200, json_object());
done:
    json_decref(body);
}

/* ---- accepting an invite made at another instance ---- */

/* An acceptance whose call runs on a thread of its own while the request
 * waits suspended: lives from the handler until the resumed request is
 * answered. */
typedef struct acceptance {
    sp_api *api;
    sp_user user;
    size_t index; /* the inviting instance */
    char provider[SP_INSTANCE_AUTHORITY_MAX];
    char *body; /* the AcceptedInvite sent, owned */
    /* ---- the outcome, written by the thread before it resumes ---- */
    int rc;
    long status;
    const char *why; /* static */
    sp_buf answer;
} acceptance;

static void acceptance_free(acceptance *a)
{
    free(a->body);
    sp_buf_free(&a->answer);
    free(a);
}

/* Where the inviting instance takes acceptances: <the endPoint its
 * discovery names>/invite-accepted (Nextcloud's is not <base>/ocm).
 * Returns 0, or SP_ERR_UNAVAILABLE / SP_ERR_INVALID with *why set when
 * its discovery cannot be read or is unusable. */
static int invite_accepted_url(sp_api *api, size_t index, sp_buf *url, const char **why)
{
    sp_peer_doc *doc = malloc(sizeof *doc);
    int rc = !api->discovery ? SP_ERR_UNAVAILABLE
             : doc           ? sp_discovery_get(api->discovery, index, 0, doc)
                             : SP_ERR_NOMEM;
    if (rc == 0)
        rc = sp_buf_printf(url, "%s/invite-accepted", doc->endpoint);
    else if (rc != SP_ERR_NOMEM)
        *why = "its OCM discovery could not be read";
    free(doc);
    return rc;
}

/* On its own thread (sp_api__aside): tells the inviting instance. */
static void acceptance_run(void *arg)
{
    acceptance *a = arg;
    sp_buf url = {0};
    a->rc = invite_accepted_url(a->api, a->index, &url, &a->why);
    if (a->rc == 0) {
        sp_fetch_req fr = {.method = "POST",
                           .content_type = "application/json",
                           .body = a->body,
                           .body_len = strlen(a->body),
                           .timeout_ms = SP_INVITE_FETCH_TIMEOUT_MS,
                           .max_body = SP_INVITE_ANSWER_MAX,
                           .redirects_max = 0,
                           .signer = a->api->instance_key};
        a->rc = sp_fetch(url.data, &fr, &a->status, &a->answer, &a->why);
    }
    if (a->rc < 0 && a->rc != SP_ERR_NOMEM)
        sp_warn("ocm", "telling %s of an accepted invite failed: %s",
                url.data ? url.data : a->provider, a->why ? a->why : sp_err_str(a->rc));
    sp_buf_free(&url);
    sp_api__instance_slot_give(a->api, a->index);
}

/* When no thread could ask: answered as a call that could not be made. */
static void acceptance_unstarted(void *arg)
{
    acceptance *a = arg;
    a->rc = SP_ERR_UNAVAILABLE;
    a->why = "no thread to ask it with";
    sp_api__instance_slot_give(a->api, a->index);
}

/* Answers the resumed acceptance: stores the inviter as a contact when
 * their instance said 200 with who they are. */
static void acceptance_answer(sp_http_req *req, void *arg)
{
    acceptance *a = arg;
    const char *instance = a->api->cfg->trusted_instances.items[a->index];
    json_t *doc = NULL;
    if (a->rc < 0) {
        sp_http_reply_error(req, 502, "badGateway", "the instance %s could not be reached",
                            instance);
        goto done;
    }
    if (a->status == 400 || a->status == 404) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "%s does not know this invite, or it expired", a->provider);
        goto done;
    }
    if (a->status == 409) {
        sp_http_reply_error(req, 409, "conflict", "this invite was accepted already");
        goto done;
    }
    if (a->status == 401 || a->status == 403) {
        sp_http_reply_error(req, 502, "badGateway", "%s refused this instance (%ld)", a->provider,
                            a->status);
        goto done;
    }
    char why[200];
    doc = a->status == 200 ? sp_api__json_parse(a->answer.data ? a->answer.data : "", a->answer.len,
                                                why, sizeof why)
                           : NULL;
    sp_contact_new c = {.user_id = field(doc, "userID", SP_CONTACT_USER_ID_MAX, 1),
                        .provider = a->provider,
                        .instance = instance,
                        .name = field(doc, "name", SP_INVITE_NAME_MAX, 0),
                        .email = field(doc, "email", SP_INVITE_EMAIL_MAX, 1)};
    if (!c.user_id) {
        sp_http_reply_error(req, 502, "badGateway",
                            "%s answered %ld without the inviting user's userID", a->provider,
                            a->status);
        goto done;
    }
    if (!c.name)
        c.name = c.user_id;
    if (!c.email)
        c.email = "";
    char id[SP_USER_ID_LEN];
    int rc = sp_store_contact_add(a->api->store, &a->user, &c, id);
    if (rc < 0) {
        sp_api__store_error(req, a->api, rc);
        goto done;
    }
    char address[SP_CONTACT_USER_ID_MAX + SP_CONTACT_PROVIDER_MAX + 2];
    snprintf(address, sizeof address, "%s@%s", c.user_id, c.provider);
    sp_contact made = {.id = id,
                       .user_id = c.user_id,
                       .provider = c.provider,
                       .instance = instance,
                       .address = address,
                       .name = c.name,
                       .email = c.email};
    sp_http_reply_json(req, 200, contact_json(&made));
done:
    json_decref(doc);
    acceptance_free(a);
}

/* POST /sciencemesh/accept-invite {"token", "providerDomain"}: the caller
 * accepts an invite made at providerDomain; token may also be the
 * canonical invite string (base64 of token@provider), without
 * providerDomain. */
static void accept_invite(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    json_t *body = sp_api__json_body(req);
    if (!body)
        return;
    acceptance *a = NULL;
    char token[SP_INVITE_TOKEN_MAX + 1], provider[SP_INSTANCE_AUTHORITY_MAX];
    const char *t = field(body, "token", SP_BASE64URL_LEN(SP_INVITE_STRING_MAX) + 3, 1);
    const char *p = field(body, "providerDomain", SP_INSTANCE_AUTHORITY_MAX + 9, 1);
    if (t && p && strlen(t) <= SP_INVITE_TOKEN_MAX) {
        snprintf(token, sizeof token, "%s", t);
        snprintf(provider, sizeof provider, "%s", p);
    } else if (!t || (p && strlen(t) > SP_INVITE_TOKEN_MAX) ||
               read_invite_string(t, token, provider) < 0) {
        sp_http_reply_error(req, 400, "invalidRequest",
                            "token and providerDomain are required (or token as the invite "
                            "string, base64 of token@provider)");
        goto fail;
    }
    size_t index = instance_of_host(api, provider);
    if (index == SIZE_MAX) {
        sp_http_reply_error(req, 403, "accessDenied",
                            "%s is not a trusted instance here (SPACEPORT_TRUSTED_INSTANCES)",
                            provider);
        goto fail;
    }
    char own[SP_INSTANCE_AUTHORITY_MAX];
    own_authority(api, own);
    /* Nextcloud's receivers bind either userID or userId: both go. */
    json_t *accepted = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "recipientProvider", own,
                                 "token", token, "userID", u.username, "userId", u.username,
                                 "email", u.email, "name", u.display_name);
    a = calloc(1, sizeof *a);
    if (a)
        a->body = accepted ? json_dumps(accepted, JSON_COMPACT) : NULL;
    json_decref(accepted);
    if (!a || !a->body) {
        sp_api__store_error(req, api, SP_ERR_NOMEM);
        goto fail;
    }
    if (sp_api__instance_slot_take(req, api, index) < 0)
        goto fail;
    a->api = api;
    a->user = u;
    a->index = index;
    /* The contact's provider is the instance's own authority, as the
     * addresses of its users are written, whatever form was typed. */
    if (sp_instance_authority(api->cfg->trusted_instances.items[index], a->provider,
                              sizeof a->provider) < 0)
        snprintf(a->provider, sizeof a->provider, "%s", provider);
    json_decref(body);
    sp_api__aside(req, acceptance_run, acceptance_unstarted, acceptance_answer, a);
    return;
fail:
    if (a)
        acceptance_free(a);
    json_decref(body);
}

/* ---- POST /ocm/invite-accepted: another instance's user accepted ---- */

static void invite_accepted(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    json_t *body = sp_api__ocm_body(req);
    if (!body)
        return;
    const char *user_id = json_object_get(body, "userID") ? "userID" : "userId";
    const struct {
        const char *name, *value;
    } f[] = {
        {"recipientProvider", field(body, "recipientProvider", SP_INSTANCE_AUTHORITY_MAX + 9, 1)},
        {"token", field(body, "token", SP_INVITE_TOKEN_MAX, 1)},
        {user_id, field(body, user_id, SP_CONTACT_USER_ID_MAX, 1)},
        {"name", field(body, "name", SP_INVITE_NAME_MAX, 0)},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (!f[i].value) {
            sp_api__ocm_error(req, 400, f[i].name,
                              json_object_get(body, f[i].name) ? "INVALID" : "REQUIRED",
                              "%s is required: a short string", f[i].name);
            goto done;
        }
    }
    /* email is required, but a user without one sends it empty. */
    json_t *e = json_object_get(body, "email");
    const char *email = json_string_length(e) ? field(body, "email", SP_INVITE_EMAIL_MAX, 1) : "";
    if (!json_is_string(e) || !email) {
        sp_api__ocm_error(req, 400, "email", e ? "INVALID" : "REQUIRED",
                          "email is required: an e-mail address, or empty");
        goto done;
    }
    sp_ocm_caller caller;
    size_t index = instance_of_host(api, f[0].value);
    if (index == SIZE_MAX) {
        sp_api__ocm_error(req, 403, NULL, NULL, "recipientProvider is not trusted here");
        goto done;
    }
    if (sp_api__ocm_caller(req, api, index, &caller) < 0)
        goto done;
    const char *instance = api->cfg->trusted_instances.items[index];
    char provider[SP_INSTANCE_AUTHORITY_MAX], inviter_id[SP_USER_ID_LEN];
    if (sp_instance_authority(instance, provider, sizeof provider) < 0) {
        sp_api__ocm_error(req, 500, NULL, NULL, "internal error");
        goto done;
    }
    sp_contact_new c = {.user_id = f[2].value,
                        .provider = provider,
                        .instance = instance,
                        .name = f[3].value,
                        .email = email};
    int rc = sp_store_invite_accept(api->store, f[1].value, sp_time_now_ms(), &c, inviter_id);
    sp_user inviter;
    if (rc == 0)
        rc = sp_store_user_get(api->store, inviter_id, &inviter);
    if (rc == SP_ERR_NOT_FOUND)
        sp_api__ocm_error(req, 400, "token", "INVALID", "invalid or non existing token");
    else if (rc == SP_ERR_CONFLICT)
        sp_api__ocm_error(req, 409, NULL, NULL, "invite already accepted");
    else if (rc < 0)
        sp_api__ocm_error(req, rc == SP_ERR_FULL ? 507 : 500, NULL, NULL, "internal error");
    else
        sp_http_reply_json(req, 200,
                           json_pack("{s:s, s:s, s:s}", "userID", inviter.username, "email",
                                     inviter.email, "name", inviter.display_name));
done:
    json_decref(body);
}

int sp_api__register_invites(sp_router *r, sp_api *api)
{
    static const sp_api_route routes[] = {
        {"POST", "/sciencemesh/generate-invite", generate_invite},
        {"GET", "/sciencemesh/list-invite", list_invites},
        {"POST", "/sciencemesh/accept-invite", accept_invite},
        {"GET", "/sciencemesh/find-accepted-users", find_accepted_users},
        {"DELETE", "/sciencemesh/delete-accepted-user", delete_accepted_user},
        {"POST", "/ocm/invite-accepted", invite_accepted},
    };
    return sp_api__add_routes(r, api, routes, sizeof routes / sizeof routes[0]);
}
