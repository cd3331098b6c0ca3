/*
 * claims.c - what a verified token (or a userinfo answer) says, and whether
 * we accept it: iss, exp, nbf, iat, sub and aud, then the identity.
 *
 * The claims are first read into an sp_claims, from either of two sources:
 * a plain payload read by jscan.c without allocating (the common case, and
 * the one that keeps a cache miss near the cost of the RSA operation), or a
 * jansson tree (payloads outside the plain subset, userinfo answers). Both
 * readers fill the same fields with the same meaning, so the rules below
 * exist once. cjose checks no claims at all: all of this is ours.
 */
#include "auth/internal.h"

#include "util/err.h"

#include <openssl/sha.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Length of v up to its first NUL: what strcmp-style comparisons saw when
 * the claims were jansson strings (which may hold a NUL). */
static size_t str_len(const sp_claim_str *v)
{
    const char *nul = memchr(v->s, '\0', v->n);
    return nul ? (size_t)(nul - v->s) : v->n;
}

/* Returns non-zero when v is a string equal to want. */
static int str_is(const sp_claim_str *v, const char *want)
{
    if (!v->s)
        return 0;
    size_t n = str_len(v);
    return n == strlen(want) && memcmp(v->s, want, n) == 0;
}

static unsigned role_bit(const char *s, size_t n)
{
    static const char admin[] = "spaceport-admin";
    static const char space_admin[] = "spaceport-spaceadmin";
    if (n == sizeof admin - 1 && memcmp(s, admin, n) == 0)
        return SP_ROLE_ADMIN;
    if (n == sizeof space_admin - 1 && memcmp(s, space_admin, n) == 0)
        return SP_ROLE_SPACE_ADMIN;
    return 0;
}

/* Roles of a space-separated string. */
static unsigned roles_of_string(const char *s, size_t n)
{
    unsigned roles = 0;
    const char *end = s + n;
    while (s < end) {
        while (s < end && *s == ' ')
            s++;
        const char *word = s;
        while (s < end && *s != ' ')
            s++;
        if (s > word)
            roles |= role_bit(word, (size_t)(s - word));
    }
    return roles;
}

int sp_auth__claim_is(const sp_claim_str *v, const char *want)
{
    return str_is(v, want);
}

/* Reads email_verified from whether it is present, whether it is JSON
 * true, and its text when it is a string: 1 for true or "true" (any case;
 * some providers send a string), 0 when absent, -1 for anything else
 * (false, "false", null, numbers): only an explicit yes verifies. */
static int verified_of(int present, int is_true, const sp_claim_str *v)
{
    if (!present)
        return 0;
    if (is_true || (v->s && v->n == 4 && str_len(v) == 4 && strncasecmp(v->s, "true", 4) == 0))
        return 1;
    return -1;
}

/* --- from a jansson tree --- */

static void str_of_json(const json_t *j, sp_claim_str *v)
{
    v->s = json_string_value(j);
    v->n = v->s ? json_string_length(j) : 0;
}

/* Reads a NumericDate claim: 1 and *v when a finite number, 0 when absent,
 * -1 when present but not a number. */
static int date_of_json(const json_t *claims, const char *name, double *v)
{
    const json_t *j = json_object_get(claims, name);
    if (!j)
        return 0;
    if (!json_is_number(j))
        return -1;
    *v = json_number_value(j);
    return isfinite(*v) ? 1 : -1;
}

static int aud_of_json(const json_t *aud, const char *want)
{
    sp_claim_str v;
    if (json_is_string(aud)) {
        str_of_json(aud, &v);
        return str_is(&v, want);
    }
    size_t i;
    const json_t *e;
    json_array_foreach(aud, i, e)
    {
        str_of_json(e, &v);
        if (str_is(&v, want))
            return 1;
    }
    return 0;
}

/* Copies the next part of a dotted claim name at *p into part (size
 * SP_AUTH_NAME_MAX) and moves *p past it and its dot. Returns 1 when more
 * parts follow, 0 for the last one, -1 for an empty or too long part. */
static int next_part(const char **p, char part[SP_AUTH_NAME_MAX])
{
    const char *end = strchr(*p, '.');
    size_t n = end ? (size_t)(end - *p) : strlen(*p);
    if (n == 0 || n >= SP_AUTH_NAME_MAX)
        return -1;
    memcpy(part, *p, n);
    part[n] = '\0';
    *p = end ? end + 1 : *p + n;
    return end != NULL;
}

/* Returns the claim called name, or, when absent and name has dots, the
 * value at that path of nested objects ("realm_access.roles"). Borrowed. */
static const json_t *lookup_json(const json_t *claims, const char *name)
{
    const json_t *v = json_object_get(claims, name);
    if (v || !strchr(name, '.'))
        return v;
    char part[SP_AUTH_NAME_MAX];
    const json_t *cur = claims;
    const char *p = name;
    while (cur && json_is_object(cur)) {
        int more = next_part(&p, part);
        if (more < 0)
            return NULL;
        cur = json_object_get(cur, part);
        if (!more)
            return cur;
    }
    return NULL;
}

static unsigned roles_of_json(const json_t *v)
{
    sp_claim_str s;
    unsigned roles = 0;
    if (json_is_string(v)) {
        str_of_json(v, &s);
        return roles_of_string(s.s, str_len(&s));
    }
    size_t i;
    const json_t *r;
    json_array_foreach(v, i, r)
    {
        if (json_is_string(r))
            roles |= role_bit(json_string_value(r), json_string_length(r));
    }
    return roles;
}

static void groups_of_json(const json_t *v, sp_claims *c)
{
    if (!v || json_is_null(v))
        return;
    c->groups_kind = json_is_array(v) ? 1 : -1;
    size_t i;
    const json_t *g;
    json_array_foreach(v, i, g)
    {
        if (!json_is_string(g) || c->group_count == SP_AUTH_GROUPS_MAX) {
            c->groups_kind = -1;
            return;
        }
        str_of_json(g, &c->groups[c->group_count++]);
    }
}

void sp_auth__claims_from_json(const json_t *claims, const sp_claims_want *want, sp_claims *c)
{
    memset(c, 0, sizeof *c);
    str_of_json(json_object_get(claims, "iss"), &c->iss);
    str_of_json(json_object_get(claims, "sub"), &c->sub);
    str_of_json(lookup_json(claims, want->user_claim ? want->user_claim : "preferred_username"),
                &c->user);
    str_of_json(json_object_get(claims, "name"), &c->name);
    str_of_json(json_object_get(claims, "email"), &c->email);
    const json_t *verified = json_object_get(claims, "email_verified");
    sp_claim_str vs;
    str_of_json(verified, &vs);
    c->email_verified = verified_of(verified != NULL, json_is_true(verified), &vs);
    c->roles = roles_of_json(lookup_json(claims, want->roles_claim ? want->roles_claim : "roles"));
    groups_of_json(lookup_json(claims, want->groups_claim ? want->groups_claim : "groups"), c);
    c->aud_has = want->audience ? aud_of_json(json_object_get(claims, "aud"), want->audience) : 1;
    c->exp_kind = date_of_json(claims, "exp", &c->exp);
    c->nbf_kind = date_of_json(claims, "nbf", &c->nbf);
    c->iat_kind = date_of_json(claims, "iat", &c->iat);
}

/* --- from a plain payload (jscan.c) --- */

static void str_of_js(const sp_js_val *j, sp_claim_str *v)
{
    v->s = j && j->type == SP_JS_STRING ? j->s : NULL;
    v->n = v->s ? j->n : 0;
}

static int date_of_js(const sp_js_object *o, const char *name, double *v)
{
    const sp_js_val *j = sp_auth__js_get(o, name);
    if (!j)
        return 0;
    if (j->type != SP_JS_NUMBER)
        return -1;
    *v = j->num; /* an integer of at most 15 digits: finite */
    return 1;
}

static int aud_of_js(const sp_js_val *aud, const char *want)
{
    sp_claim_str v;
    if (!aud)
        return 0;
    if (aud->type == SP_JS_STRING) {
        str_of_js(aud, &v);
        return str_is(&v, want);
    }
    size_t pos = 0;
    sp_js_val e;
    while (sp_auth__js_next(aud, &pos, &e)) {
        str_of_js(&e, &v);
        if (str_is(&v, want))
            return 1;
    }
    return 0;
}

/* As lookup_json. scratch holds the nested objects looked into. */
static const sp_js_val *lookup_js(const sp_js_object *claims, const char *name,
                                  sp_js_object *scratch)
{
    const sp_js_val *v = sp_auth__js_get(claims, name);
    if (v || !strchr(name, '.'))
        return v;
    char part[SP_AUTH_NAME_MAX];
    const sp_js_object *cur = claims;
    const char *p = name;
    for (;;) {
        int more = next_part(&p, part);
        if (more < 0)
            return NULL;
        v = sp_auth__js_get(cur, part);
        if (!more || !v)
            return v;
        if (!sp_auth__js_members(v, scratch))
            return NULL;
        cur = scratch;
    }
}

static unsigned roles_of_js(const sp_js_val *v)
{
    if (!v)
        return 0;
    if (v->type == SP_JS_STRING)
        return roles_of_string(v->s, v->n);
    unsigned roles = 0;
    size_t pos = 0;
    sp_js_val e;
    while (sp_auth__js_next(v, &pos, &e))
        if (e.type == SP_JS_STRING)
            roles |= role_bit(e.s, e.n);
    return roles;
}

static void groups_of_js(const sp_js_val *v, sp_claims *c)
{
    if (!v || v->type == SP_JS_NULL)
        return;
    c->groups_kind = v->type == SP_JS_ARRAY ? 1 : -1;
    size_t pos = 0;
    sp_js_val e;
    while (c->groups_kind > 0 && sp_auth__js_next(v, &pos, &e)) {
        if (e.type != SP_JS_STRING || c->group_count == SP_AUTH_GROUPS_MAX)
            c->groups_kind = -1;
        else
            str_of_js(&e, &c->groups[c->group_count++]);
    }
}

/* Fills c from a plain object. scratch: room for nested lookups. */
static void claims_from_js(const sp_js_object *o, const sp_claims_want *want, sp_claims *c,
                           sp_js_object *scratch)
{
    str_of_js(sp_auth__js_get(o, "iss"), &c->iss);
    str_of_js(sp_auth__js_get(o, "sub"), &c->sub);
    str_of_js(lookup_js(o, want->user_claim ? want->user_claim : "preferred_username", scratch),
              &c->user);
    str_of_js(sp_auth__js_get(o, "name"), &c->name);
    str_of_js(sp_auth__js_get(o, "email"), &c->email);
    const sp_js_val *verified = sp_auth__js_get(o, "email_verified");
    sp_claim_str vs;
    str_of_js(verified, &vs);
    c->email_verified =
        verified_of(verified != NULL, verified && verified->type == SP_JS_TRUE, &vs);
    c->roles = roles_of_js(lookup_js(o, want->roles_claim ? want->roles_claim : "roles", scratch));
    groups_of_js(lookup_js(o, want->groups_claim ? want->groups_claim : "groups", scratch), c);
    c->aud_has = want->audience ? aud_of_js(sp_auth__js_get(o, "aud"), want->audience) : 1;
    c->exp_kind = date_of_js(o, "exp", &c->exp);
    c->nbf_kind = date_of_js(o, "nbf", &c->nbf);
    c->iat_kind = date_of_js(o, "iat", &c->iat);
}

int sp_auth__claims_scan(const char *text, size_t len, const sp_claims_want *want, sp_claims *c)
{
    sp_js_object top, scratch;
    memset(c, 0, sizeof *c);
    if (!sp_auth__js_object(text, len, &top))
        return 0;
    claims_from_js(&top, want, c, &scratch);
    return 1;
}

int sp_auth__claims_parse(const char *text, size_t len, const sp_claims_want *want, sp_claims *c,
                          const char **why)
{
    if (sp_auth__claims_scan(text, len, want, c))
        return 0;
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc || !json_is_object(doc)) {
        json_decref(doc);
        *why = "payload is not a JSON object (or has duplicate members)";
        return SP_ERR_UNAUTHORIZED;
    }
    sp_auth__claims_from_json(doc, want, c);
    c->doc = doc;
    return 0;
}

void sp_auth__claims_clear(sp_claims *c)
{
    json_decref(c->doc);
    c->doc = NULL;
}

/* --- the rules --- */

int sp_auth__claims_accept(const sp_claims *c, const char *issuer, const char *audience,
                           double now_s, const char **why)
{
    if (!str_is(&c->iss, issuer)) {
        *why = "iss differs from the issuer whose key verified the token";
        return SP_ERR_UNAUTHORIZED;
    }
    if (c->exp_kind == 0) {
        *why = "exp missing";
        return SP_ERR_UNAUTHORIZED;
    }
    if (c->exp_kind < 0) {
        *why = "exp not a number";
        return SP_ERR_UNAUTHORIZED;
    }
    if (now_s > c->exp + SP_AUTH_LEEWAY_S) {
        *why = "expired";
        return SP_ERR_UNAUTHORIZED;
    }
    if (c->nbf_kind < 0 || (c->nbf_kind > 0 && c->nbf > now_s + SP_AUTH_LEEWAY_S)) {
        *why = c->nbf_kind < 0 ? "nbf not a number" : "not valid yet (nbf)";
        return SP_ERR_UNAUTHORIZED;
    }
    if (c->iat_kind < 0 || (c->iat_kind > 0 && c->iat > now_s + SP_AUTH_LEEWAY_S)) {
        *why = c->iat_kind < 0 ? "iat not a number" : "issued in the future (iat)";
        return SP_ERR_UNAUTHORIZED;
    }
    if (!c->sub.s || str_len(&c->sub) == 0) {
        *why = "sub missing or empty";
        return SP_ERR_UNAUTHORIZED;
    }
    if (audience && !c->aud_has) {
        *why = "aud does not contain the configured audience";
        return SP_ERR_UNAUTHORIZED;
    }
    return 0;
}

/* Copies a string claim into dst (cap bytes). Returns 1 when copied, 0 when
 * absent, empty or not a string, -1 when too long or containing NUL. */
static int copy_claim(const sp_claim_str *v, char *dst, size_t cap)
{
    if (!v->s || v->n == 0)
        return 0;
    if (v->n >= cap || str_len(v) != v->n)
        return -1;
    memcpy(dst, v->s, v->n);
    dst[v->n] = '\0';
    return 1;
}

static int compare_names(const void *a, const void *b)
{
    const sp_claim_str *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* Packs the groups of c into id (sorted, without duplicates) with their
 * digest. Returns 0 or SP_ERR_UNAUTHORIZED with why: the claim is taken
 * whole or the token refused (auth.h). */
static int groups_identity(const sp_claims *c, sp_identity *id, const char **why)
{
    if (c->groups_kind < 0) {
        *why = "groups claim is not an array of at most 256 strings";
        return SP_ERR_UNAUTHORIZED;
    }
    if (c->group_count == 0)
        return 0;
    sp_claim_str sorted[SP_AUTH_GROUPS_MAX];
    for (size_t i = 0; i < c->group_count; i++) {
        const sp_claim_str *g = &c->groups[i];
        if (g->n == 0 || g->n >= SP_AUTH_GROUP_NAME_MAX) {
            *why = "a group name is empty or too long";
            return SP_ERR_UNAUTHORIZED;
        }
        for (size_t k = 0; k < g->n; k++) {
            unsigned char ch = (unsigned char)g->s[k];
            if (ch < 0x20 || ch == 0x7f) {
                *why = "a group name has control characters";
                return SP_ERR_UNAUTHORIZED;
            }
        }
        sorted[i] = *g;
    }
    qsort(sorted, c->group_count, sizeof sorted[0], compare_names);
    size_t used = 0;
    for (size_t i = 0; i < c->group_count; i++) {
        if (i > 0 && compare_names(&sorted[i], &sorted[i - 1]) == 0)
            continue;
        if (used + sorted[i].n + 1 > sizeof id->groups) {
            *why = "the group names are too long together";
            return SP_ERR_UNAUTHORIZED;
        }
        memcpy(id->groups + used, sorted[i].s, sorted[i].n);
        used += sorted[i].n;
        id->groups[used++] = '\0';
        id->group_count++;
    }
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)id->groups, used, md);
    for (size_t i = 0; i < sizeof md; i++)
        snprintf(id->groups_digest + 2 * i, 3, "%02x", md[i]);
    return 0;
}

int sp_auth__claims_identity(const sp_claims *c, const char *issuer, int email_trusted,
                             sp_identity *id, const char **why)
{
    memset(id, 0, sizeof *id);
    if (strlen(issuer) >= sizeof id->issuer) {
        *why = "issuer too long";
        return SP_ERR_UNAUTHORIZED;
    }
    strcpy(id->issuer, issuer);
    if (copy_claim(&c->sub, id->sub, sizeof id->sub) != 1) {
        *why = "sub missing, empty or too long";
        return SP_ERR_UNAUTHORIZED;
    }
    int r = copy_claim(&c->user, id->username, sizeof id->username);
    if (r < 0) {
        *why = "user name claim too long";
        return SP_ERR_UNAUTHORIZED;
    }
    if (r == 0) {
        if (strlen(id->sub) >= sizeof id->username) {
            *why = "sub too long to be a user name";
            return SP_ERR_UNAUTHORIZED;
        }
        strcpy(id->username, id->sub);
    }
    r = copy_claim(&c->name, id->display_name, sizeof id->display_name);
    if (r < 0) {
        *why = "name claim too long";
        return SP_ERR_UNAUTHORIZED;
    }
    if (r == 0)
        strcpy(id->display_name, id->username);
    /* Shares sent to an address go to whoever holds it: an address the
     * issuer has not vouched for would let anyone who can put it in a
     * token collect them. Vouching is email_verified true, or no claim at
     * all from an issuer the operator trusts to verify every address. */
    if (c->email_verified > 0 || (email_trusted && c->email_verified == 0)) {
        r = copy_claim(&c->email, id->email, sizeof id->email);
        if (r < 0) {
            *why = "email claim too long";
            return SP_ERR_UNAUTHORIZED;
        }
        /* Stored and compared in lower case: Bob@Example.org and
         * bob@example.org are one mailbox to every provider we know (the
         * local part is case-sensitive only in theory, RFC 5321 2.4). */
        for (char *p = id->email; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    }
    id->roles = c->roles;
    return groups_identity(c, id, why);
}

int sp_auth__claims_check(const json_t *claims, const char *issuer, const char *audience,
                          double now_s, const char **why)
{
    sp_claims c;
    sp_claims_want want = {.audience = audience};
    sp_auth__claims_from_json(claims, &want, &c);
    return sp_auth__claims_accept(&c, issuer, audience, now_s, why);
}

int sp_auth__identity_from_claims(const json_t *claims, const char *issuer, int email_trusted,
                                  const sp_claims_want *want, sp_identity *id, const char **why)
{
    sp_claims c;
    sp_auth__claims_from_json(claims, want, &c);
    return sp_auth__claims_identity(&c, issuer, email_trusted, id, why);
}
