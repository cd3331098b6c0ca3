/*
 * jwt.c - from a compact JWS to an identity, in the order RFC 8725 asks.
 *
 * 1. Pre-parse without crypto (sp_auth__jwt_preparse): size, shape, alphabet,
 *    header. cjose's base64url decoder stops silently at the first '=', and
 *    cjose_jws_verify picks the algorithm from the token itself (an HS256
 *    token against an RSA key makes it read the RSA struct as HMAC bytes), so
 *    everything cjose would be lenient about is refused here first.
 * 2. The caller picks keys that fit the alg (sp_auth__key_fits).
 * 3. sp_auth__jws_verify: one cjose_jws per call (verification writes into
 *    it); the payload is parsed only after the signature holds.
 * 4. sp_auth__claims_check and sp_auth__identity_from_claims: cjose checks no
 *    claims at all, so iss, exp, nbf, iat, sub and aud are all ours.
 */
#include "auth/internal.h"

#include "util/err.h"

#include <cjose/jws.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Largest decoded JWS header we read: bounded by the token itself. */
#define JWT_HEADER_MAX (SP_AUTH_TOKEN_MAX * 3 / 4 + 1)
/* RSA signatures are as long as the modulus: 256 bytes (2048 bits) up to
 * SP_AUTH_RSA_MAX_BITS / 8. */
#define JWT_RSA_SIG_MIN (SP_AUTH_RSA_MIN_BITS / 8)
#define JWT_RSA_SIG_MAX (SP_AUTH_RSA_MAX_BITS / 8)

static const char *const alg_names[SP_ALG_COUNT] = {
    [SP_ALG_RS256] = "RS256", [SP_ALG_RS384] = "RS384", [SP_ALG_RS512] = "RS512",
    [SP_ALG_PS256] = "PS256", [SP_ALG_PS384] = "PS384", [SP_ALG_PS512] = "PS512",
    [SP_ALG_ES256] = "ES256", [SP_ALG_ES384] = "ES384", [SP_ALG_ES512] = "ES512",
};

int sp_auth__alg_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < SP_ALG_COUNT; i++)
        if (strcmp(name, alg_names[i]) == 0)
            return i;
    return -1;
}

const char *sp_auth__alg_name(int alg)
{
    return alg >= 0 && alg < SP_ALG_COUNT ? alg_names[alg] : "?";
}

size_t sp_auth__alg_es_sig_len(int alg)
{
    /* RFC 7518 section 3.4: r and s, each as long as the curve order. */
    switch (alg) {
    case SP_ALG_ES256:
        return 64;
    case SP_ALG_ES384:
        return 96;
    case SP_ALG_ES512:
        return 132;
    default:
        return 0;
    }
}

/* base64url alphabet value of each byte, or -1: one table lookup per
 * character on the hot path instead of a chain of comparisons. */
static const signed char b64_table[256] = {
    ['A'] = 0,  ['B'] = 1,  ['C'] = 2,  ['D'] = 3,  ['E'] = 4,  ['F'] = 5,  ['G'] = 6,  ['H'] = 7,
    ['I'] = 8,  ['J'] = 9,  ['K'] = 10, ['L'] = 11, ['M'] = 12, ['N'] = 13, ['O'] = 14, ['P'] = 15,
    ['Q'] = 16, ['R'] = 17, ['S'] = 18, ['T'] = 19, ['U'] = 20, ['V'] = 21, ['W'] = 22, ['X'] = 23,
    ['Y'] = 24, ['Z'] = 25, ['a'] = 26, ['b'] = 27, ['c'] = 28, ['d'] = 29, ['e'] = 30, ['f'] = 31,
    ['g'] = 32, ['h'] = 33, ['i'] = 34, ['j'] = 35, ['k'] = 36, ['l'] = 37, ['m'] = 38, ['n'] = 39,
    ['o'] = 40, ['p'] = 41, ['q'] = 42, ['r'] = 43, ['s'] = 44, ['t'] = 45, ['u'] = 46, ['v'] = 47,
    ['w'] = 48, ['x'] = 49, ['y'] = 50, ['z'] = 51, ['0'] = 52, ['1'] = 53, ['2'] = 54, ['3'] = 55,
    ['4'] = 56, ['5'] = 57, ['6'] = 58, ['7'] = 59, ['8'] = 60, ['9'] = 61, ['-'] = 62, ['_'] = 63,
};

/* Returns non-zero for the 64 characters of base64url. ('A' maps to 0 like
 * the unset entries, so it is tested apart.) */
static int is_b64url_char(unsigned char c)
{
    return b64_table[c] != 0 || c == 'A';
}

/* RFC 6750 section 2.1 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~"
 * / "+" / "/" ) *"=". */
static int is_b64token(const char *s)
{
    size_t i = 0;
    for (; s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(is_b64url_char(c) || c == '.' || c == '~' || c == '+' || c == '/'))
            break;
    }
    if (i == 0)
        return 0;
    while (s[i] == '=')
        i++;
    return s[i] == '\0';
}

enum sp_auth_token_kind sp_auth__token_kind(const char *token)
{
    size_t len = strnlen(token, SP_AUTH_TOKEN_MAX + 1);
    if (len == 0 || len > SP_AUTH_TOKEN_MAX)
        return SP_TOKEN_INVALID;
    if (memchr(token, '.', len))
        return SP_TOKEN_JWS;
    return is_b64token(token) ? SP_TOKEN_OPAQUE : SP_TOKEN_INVALID;
}

static int b64_value(unsigned char c)
{
    return b64_table[c];
}

/* Decodes n characters of canonical base64url (checked by the caller) into
 * out, which has room for the decoded length. Returns the bytes written. */
static size_t b64_decode(const char *p, size_t n, uint8_t *out)
{
    size_t w = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = acc << 6 | (uint32_t)b64_table[(unsigned char)p[i]];
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[w++] = (uint8_t)(acc >> bits);
        }
    }
    return w;
}

/* Returns the decoded length of a canonical base64url part of n characters
 * (already checked to be of the alphabet), or -1 when n is not a possible
 * length or the unused low bits of the last character are not zero (two
 * spellings of one value). */
static long b64_part_len(const char *p, size_t n)
{
    if (n == 0 || n % 4 == 1)
        return -1;
    int last = b64_value((unsigned char)p[n - 1]);
    if ((n % 4 == 2 && (last & 0x0f)) || (n % 4 == 3 && (last & 0x03)))
        return -1;
    return (long)(n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0));
}

/* Returns non-zero when the typ value is one RFC 7519 / RFC 9068 allow. */
static int typ_allowed(const char *typ)
{
    return strcasecmp(typ, "JWT") == 0 || strcasecmp(typ, "at+jwt") == 0 ||
           strcasecmp(typ, "application/at+jwt") == 0;
}

int sp_auth__jwt_preparse(const char *token, sp_jwt_header *hdr, const char **why)
{
    memset(hdr, 0, sizeof *hdr);
    hdr->alg = -1;
    size_t len = strnlen(token, SP_AUTH_TOKEN_MAX + 1);
    if (len > SP_AUTH_TOKEN_MAX) {
        *why = "token larger than 8 KiB";
        return SP_ERR_UNAUTHORIZED;
    }
    const char *dot[2];
    int dots = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)token[i];
        if (c == '.') {
            if (dots == 2) {
                *why = "not exactly two dots";
                return SP_ERR_UNAUTHORIZED;
            }
            dot[dots++] = token + i;
        } else if (!is_b64url_char(c)) {
            *why = "character outside base64url";
            return SP_ERR_UNAUTHORIZED;
        }
    }
    if (dots != 2) {
        *why = "not exactly two dots";
        return SP_ERR_UNAUTHORIZED;
    }
    size_t hlen = (size_t)(dot[0] - token);
    size_t plen = (size_t)(dot[1] - dot[0] - 1);
    size_t slen = len - (size_t)(dot[1] - token) - 1;
    long hbytes = b64_part_len(token, hlen);
    long pbytes = b64_part_len(dot[0] + 1, plen);
    long sbytes = b64_part_len(dot[1] + 1, slen);
    if (hbytes < 2 || pbytes < 2 || sbytes < 1) {
        *why = "empty or non-canonical base64url part";
        return SP_ERR_UNAUTHORIZED;
    }

    uint8_t dec[JWT_HEADER_MAX];
    size_t dn = b64_decode(token, hlen, dec);
    json_error_t jerr;
    json_t *h = json_loadb((const char *)dec, dn, JSON_REJECT_DUPLICATES, &jerr);
    int rc = SP_ERR_UNAUTHORIZED;
    if (!h || !json_is_object(h)) {
        *why = "header is not a JSON object (or has duplicate members)";
        goto done;
    }
    hdr->alg = sp_auth__alg_parse(json_string_value(json_object_get(h, "alg")));
    if (hdr->alg < 0) {
        *why = "alg missing or not in the allow-list";
        goto done;
    }
    const json_t *typ = json_object_get(h, "typ");
    if (typ && (!json_is_string(typ) || !typ_allowed(json_string_value(typ)))) {
        *why = "typ is not JWT or at+jwt";
        goto done;
    }
    /* crit names extensions we would have to understand (RFC 7515 4.1.11);
     * enc and zip belong to JWE; b64=false (RFC 7797) changes what is
     * signed. None of them is supported, so each refuses the token. */
    if (json_object_get(h, "crit") || json_object_get(h, "enc") || json_object_get(h, "zip") ||
        json_object_get(h, "b64")) {
        *why = "header has crit, enc, zip or b64";
        goto done;
    }
    /* jku, x5u, jwk and x5c would let the token name its own key: ignored,
     * never fetched, never used. */
    const json_t *kid = json_object_get(h, "kid");
    if (kid) {
        const char *k = json_string_value(kid);
        if (!k || strlen(k) >= sizeof hdr->kid) {
            *why = "kid not a string or too long";
            goto done;
        }
        strcpy(hdr->kid, k);
        hdr->has_kid = 1;
    }
    size_t es = sp_auth__alg_es_sig_len(hdr->alg);
    if (es) {
        /* cjose splits any length in two halves and does not object. */
        if ((size_t)sbytes != es) {
            *why = "ES signature of the wrong length";
            goto done;
        }
    } else if (sbytes < JWT_RSA_SIG_MIN || sbytes > JWT_RSA_SIG_MAX) {
        *why = "RSA signature length outside the key sizes we accept";
        goto done;
    }
    rc = 0;
done:
    json_decref(h);
    return rc;
}

int sp_auth__jws_verify(const char *token, const sp_auth_key *key, json_t **claims,
                        const char **why)
{
    *claims = NULL;
    cjose_err err = {0};
    cjose_jws_t *jws = cjose_jws_import(token, strlen(token), &err);
    if (!jws) {
        *why = err.code == CJOSE_ERR_NO_MEMORY ? "out of memory" : "cjose cannot import the JWS";
        return err.code == CJOSE_ERR_NO_MEMORY ? SP_ERR_NOMEM : SP_ERR_UNAUTHORIZED;
    }
    int rc = SP_ERR_UNAUTHORIZED;
    if (!cjose_jws_verify(jws, key->jwk, &err)) {
        *why = "bad signature";
        goto done;
    }
    uint8_t *plain = NULL; /* borrowed from jws */
    size_t plain_len = 0;
    if (!cjose_jws_get_plaintext(jws, &plain, &plain_len, &err)) {
        *why = "no payload";
        goto done;
    }
    json_error_t jerr;
    json_t *c = json_loadb((const char *)plain, plain_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!c || !json_is_object(c)) {
        json_decref(c);
        *why = "payload is not a JSON object (or has duplicate members)";
        goto done;
    }
    *claims = c;
    rc = 0;
done:
    cjose_jws_release(jws);
    return rc;
}

/* Reads a NumericDate claim. Returns 1 and sets *v when present and a finite
 * number, 0 when absent, -1 when present but not a number. */
static int numeric_date(const json_t *claims, const char *name, double *v)
{
    const json_t *j = json_object_get(claims, name);
    if (!j)
        return 0;
    if (!json_is_number(j))
        return -1;
    *v = json_number_value(j);
    return isfinite(*v) ? 1 : -1;
}

static int aud_contains(const json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    if (!json_is_array(aud))
        return 0;
    size_t i;
    const json_t *v;
    json_array_foreach(aud, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
            return 1;
    }
    return 0;
}

int sp_auth__claims_check(const json_t *claims, const char *issuer, const char *audience,
                          double now_s, const char **why)
{
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    if (!iss || strcmp(iss, issuer) != 0) {
        *why = "iss differs from the issuer whose key verified the token";
        return SP_ERR_UNAUTHORIZED;
    }
    double exp = 0, nbf = 0, iat = 0;
    int r = numeric_date(claims, "exp", &exp);
    if (r == 0) {
        *why = "exp missing";
        return SP_ERR_UNAUTHORIZED;
    }
    if (r < 0) {
        *why = "exp not a number";
        return SP_ERR_UNAUTHORIZED;
    }
    if (now_s > exp + SP_AUTH_LEEWAY_S) {
        *why = "expired";
        return SP_ERR_UNAUTHORIZED;
    }
    r = numeric_date(claims, "nbf", &nbf);
    if (r < 0 || (r > 0 && nbf > now_s + SP_AUTH_LEEWAY_S)) {
        *why = r < 0 ? "nbf not a number" : "not valid yet (nbf)";
        return SP_ERR_UNAUTHORIZED;
    }
    r = numeric_date(claims, "iat", &iat);
    if (r < 0 || (r > 0 && iat > now_s + SP_AUTH_LEEWAY_S)) {
        *why = r < 0 ? "iat not a number" : "issued in the future (iat)";
        return SP_ERR_UNAUTHORIZED;
    }
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    if (!sub || !sub[0]) {
        *why = "sub missing or empty";
        return SP_ERR_UNAUTHORIZED;
    }
    if (audience && !aud_contains(json_object_get(claims, "aud"), audience)) {
        *why = "aud does not contain the configured audience";
        return SP_ERR_UNAUTHORIZED;
    }
    return 0;
}

/* Returns the claim called name, or, when absent and name has dots, the
 * value at that path of nested objects ("realm_access.roles"). Borrowed. */
static const json_t *claim_lookup(const json_t *claims, const char *name)
{
    const json_t *v = json_object_get(claims, name);
    if (v || !strchr(name, '.'))
        return v;
    char part[SP_AUTH_NAME_MAX];
    const json_t *cur = claims;
    const char *p = name;
    while (cur && json_is_object(cur)) {
        const char *end = strchr(p, '.');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0 || n >= sizeof part)
            return NULL;
        memcpy(part, p, n);
        part[n] = '\0';
        cur = json_object_get(cur, part);
        if (!end)
            return cur;
        p = end + 1;
    }
    return NULL;
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

static unsigned roles_from(const json_t *v)
{
    unsigned roles = 0;
    if (json_is_array(v)) {
        size_t i;
        const json_t *r;
        json_array_foreach(v, i, r)
        {
            if (json_is_string(r))
                roles |= role_bit(json_string_value(r), json_string_length(r));
        }
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        while (*s) {
            while (*s == ' ')
                s++;
            const char *end = s;
            while (*end && *end != ' ')
                end++;
            if (end > s)
                roles |= role_bit(s, (size_t)(end - s));
            s = end;
        }
    }
    return roles;
}

/* Copies a string claim into dst (cap bytes). Returns 1 when copied, 0 when
 * absent, empty or not a string, -1 when too long or containing NUL. */
static int copy_claim(const json_t *v, char *dst, size_t cap)
{
    if (!json_is_string(v) || json_string_length(v) == 0)
        return 0;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n >= cap || strlen(s) != n)
        return -1;
    memcpy(dst, s, n + 1);
    return 1;
}

int sp_auth__identity_from_claims(const json_t *claims, const char *issuer, const char *user_claim,
                                  const char *roles_claim, sp_identity *id, const char **why)
{
    memset(id, 0, sizeof *id);
    if (strlen(issuer) >= sizeof id->issuer) {
        *why = "issuer too long";
        return SP_ERR_UNAUTHORIZED;
    }
    strcpy(id->issuer, issuer);
    if (copy_claim(json_object_get(claims, "sub"), id->sub, sizeof id->sub) != 1) {
        *why = "sub missing, empty or too long";
        return SP_ERR_UNAUTHORIZED;
    }
    int r = copy_claim(claim_lookup(claims, user_claim ? user_claim : "preferred_username"),
                       id->username, sizeof id->username);
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
    r = copy_claim(json_object_get(claims, "name"), id->display_name, sizeof id->display_name);
    if (r < 0) {
        *why = "name claim too long";
        return SP_ERR_UNAUTHORIZED;
    }
    if (r == 0)
        strcpy(id->display_name, id->username);
    const json_t *verified = json_object_get(claims, "email_verified");
    int unverified =
        json_is_false(verified) ||
        (json_is_string(verified) && strcasecmp(json_string_value(verified), "false") == 0);
    if (!unverified &&
        copy_claim(json_object_get(claims, "email"), id->email, sizeof id->email) < 0) {
        *why = "email claim too long";
        return SP_ERR_UNAUTHORIZED;
    }
    id->roles = roles_from(claim_lookup(claims, roles_claim ? roles_claim : "roles"));
    return 0;
}
