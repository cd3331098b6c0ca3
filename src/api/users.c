/*
 * users.c - /graph/v1.0/me and the users search.
 */
#include "api/internal.h"
#include "api/odata.h"
#include "api/query.h"

#include "store/contacts.h"
#include "store/groups.h"

#include "util/err.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void get_me(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    const char *expand = sp_http_query(req, "$expand");
    sp_odata_error qerr;
    if (sp_odata_check_expand_plain(expand, &qerr) < 0) {
        sp_http_reply_error(req, (unsigned)qerr.status, qerr.code, "%s", qerr.message);
        return;
    }
    json_t *me = json_pack("{s:s, s:s, s:s*, s:s}", "id", u.id, "displayName", u.display_name,
                           "mail", u.email[0] ? u.email : NULL, "onPremisesSamAccountName",
                           u.username);
    /* Web clients ask for memberOf on sign-in: the groups the caller's
     * newest token named, as oCIS lists a user's groups. */
    if (me && sp_odata_names(expand, "memberOf")) {
        json_t *groups = json_array();
        int rc = groups ? sp_store_groups_of_user(api->store, u.seq, sp_api__append_group, groups)
                        : SP_ERR_NOMEM;
        /* set_new steals groups even when it fails; a store error does not. */
        if (rc < 0)
            json_decref(groups);
        if (rc < 0 || json_object_set_new(me, "memberOf", groups) < 0) {
            json_decref(me);
            sp_api__store_error(req, api, rc < 0 ? rc : SP_ERR_NOMEM);
            return;
        }
    }
    sp_http_reply_json(req, 200, me);
}

int sp_api__append_user(const char *id, const char *display_name, const char *email,
                        const char *username, void *ctx)
{
    json_t *u = json_pack("{s:s, s:s, s:s, s:s*}", "id", id, "displayName", display_name,
                          "onPremisesSamAccountName", username, "mail", *email ? email : NULL);
    return u && json_array_append_new(ctx, u) == 0 ? 0 : SP_ERR_NOMEM;
}

typedef struct key_order {
    const char *key;
    int desc;
} key_order;

static int compare_by_key(const void *a, const void *b, void *arg)
{
    const key_order *o = arg;
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, o->key));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, o->key));
    int c = strcasecmp(x ? x : "", y ? y : "");
    return o->desc ? -c : c;
}

/* Sorts value's objects by their string member key (ASCII case ignored). */
static int sort_by(json_t *value, const char *key, int desc)
{
    const key_order *o = &(key_order){key, desc};
    size_t n = json_array_size(value);
    json_t **v = n ? malloc(n * sizeof *v) : NULL;
    if (n && !v)
        return SP_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(value, i));
    qsort_r(v, n, sizeof *v, compare_by_key, (void *)o);
    json_array_clear(value);
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        rc |= json_array_append_new(value, v[i]);
    free(v);
    return rc ? SP_ERR_NOMEM : 0;
}

/* The term of $search without its quotes (the web sends "mar"). Returns
 * 0 or has replied 400 when it has fewer than SP_USER_SEARCH_MIN
 * characters. */
static int search_term(sp_http_req *req, char term[SP_USER_NAME_MAX])
{
    const char *raw = sp_http_query(req, "$search");
    size_t n = 0;
    for (const char *p = raw ? raw : ""; *p && n + 1 < SP_USER_NAME_MAX; p++) {
        if (*p != '"')
            term[n++] = *p;
    }
    term[n] = '\0';
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)term; *p; p++)
        chars += (*p & 0xc0) != 0x80;
    if (chars < SP_USER_SEARCH_MIN) {
        sp_http_reply_error(req, 400, "invalidRequest", "$search needs at least %d characters",
                            SP_USER_SEARCH_MIN);
        return SP_ERR_INVALID;
    }
    return 0;
}

void sp_api__answer_search(sp_http_req *req, sp_api *api, const sp_user *u,
                           const char *const *keys, size_t nkeys, sp_api_search_fn search)
{
    const char *key;
    int desc;
    sp_odata_error qerr;
    if (sp_query_parse_order(sp_http_query(req, "$orderby"), keys, nkeys, &key, &desc, &qerr) < 0) {
        sp_http_reply_error(req, (unsigned)qerr.status, qerr.code, "%s", qerr.message);
        return;
    }
    char term[SP_USER_NAME_MAX];
    if (search_term(req, term) < 0)
        return;
    json_t *value = json_array();
    int rc = value ? search(api, u, term, value) : SP_ERR_NOMEM;
    if (rc == 0 && key)
        rc = sort_by(value, key, desc);
    if (rc < 0) {
        json_decref(value);
        sp_api__store_error(req, api, rc);
        return;
    }
    sp_http_reply_json(req, 200, json_pack("{s:o}", "value", value));
}

static int find_users(sp_api *api, const sp_user *u, const char *term, json_t *value)
{
    (void)u;
    return sp_store_users_search(api->store, term, sp_api__append_user, value);
}

/* A contact as libre-graph renders a federated user, as oCIS does: its
 * id is what a share's recipient objectId names. */
static int append_contact(const sp_contact *c, void *ctx)
{
    json_t *u = json_pack("{s:s, s:s, s:s, s:s*, s:s, s:[{s:s, s:s}]}", "id", c->id, "displayName",
                          c->name, "onPremisesSamAccountName", c->address, "mail",
                          *c->email ? c->email : NULL, "userType", "Federated", "identities",
                          "issuer", c->provider, "issuerAssignedId", c->user_id);
    return u && json_array_append_new(ctx, u) == 0 ? 0 : SP_ERR_NOMEM;
}

static int find_contacts(sp_api *api, const sp_user *u, const char *term, json_t *value)
{
    return sp_store_contacts_list(api->store, u, term, append_contact, value);
}

/* Non-zero when $filter asks for federated users (userType eq
 * 'Federated', as the web app asks when sharing with someone at another
 * instance): then the caller's contacts are searched, not the users. */
static int federated_filter(sp_http_req *req)
{
    const char *f = sp_http_query(req, "$filter");
    if (!f)
        return 0;
    while (*f == ' ')
        f++;
    size_t n = strlen(f);
    while (n && f[n - 1] == ' ')
        n--;
    static const char want[] = "userType eq 'Federated'";
    return n == sizeof want - 1 && strncasecmp(f, want, n) == 0;
}

/* GET /graph/v1.0/users?$search=term: known users, to pick recipients;
 * with $filter=userType eq 'Federated', the caller's contacts. */
static void search_users(sp_http_req *req, void *ctx)
{
    static const char *const keys[] = {"displayName", "mail", "onPremisesSamAccountName"};
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    sp_odata_error qerr;
    if (sp_odata_check_select(sp_http_query(req, "$select"), &qerr) < 0 ||
        sp_odata_check_expand_plain(sp_http_query(req, "$expand"), &qerr) < 0) {
        sp_http_reply_error(req, (unsigned)qerr.status, qerr.code, "%s", qerr.message);
        return;
    }
    sp_api__answer_search(req, api, &u, keys, sizeof keys / sizeof keys[0],
                          federated_filter(req) ? find_contacts : find_users);
}

int sp_api__register_users(sp_router *r, sp_api *api)
{
    int rc = sp_router_add(r, "GET", "/graph/v1.0/me", get_me, api);
    if (rc == 0)
        rc = sp_router_add(r, "GET", "/graph/v1.0/users", search_users, api);
    return rc;
}
