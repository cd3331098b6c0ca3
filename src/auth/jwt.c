/*
 * jwt.c - from a compact JWS to verified claims, in the order RFC 8725 asks.
 *
 * 1. Pre-parse without crypto (sp_auth__jwt_preparse): size, shape, alphabet,
 *    header. Everything a lenient decoder would accept (padding, '+', '/',
 *    non-canonical last characters) is refused here, and the alg must be in
 *    the allow-list before any key is looked at.
 * 2. sp_auth__jws_claims: the payload is decoded and read into an sp_claims
 *    (claims.c), once. Before the signature holds only its iss is looked
 *    at, to name the one trusted issuer whose keys may verify the token:
 *    keys chosen by kid across all issuers would let one issuer's JWKS
 *    shadow another's (auth.c). A valid token is read once either way; a
 *    forged one now costs the reading of its payload too, bounded by the
 *    8 KiB token limit and small beside the signature check it may get.
 * 3. The caller picks that issuer's keys that fit the alg
 *    (sp_auth__key_fits).
 * 4. sp_auth__jws_verify: the signature over header.payload, with OpenSSL
 *    on the key's prepared contexts (verify.c). Only when it holds do the
 *    rules of claims.c judge the rest of the claims.
 *
 * Headers and payloads are read with jscan.c when plain (no allocation) and
 * with jansson otherwise; both refuse duplicate members.
 */
#include "auth/internal.h"

#include "util/err.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Largest decoded JWS header we read: bounded by the token itself. */
#define JWT_HEADER_MAX (SP_AUTH_TOKEN_MAX * 3 / 4 + 1)
/* RSA signatures are as long as the modulus: 256 bytes (2048 bits) up to
 * SP_AUTH_RSA_MAX_BITS / 8. The longest is also the longest of any alg. */
#define JWT_RSA_SIG_MIN (SP_AUTH_RSA_MIN_BITS / 8)
#define JWT_RSA_SIG_MAX (SP_AUTH_RSA_MAX_BITS / 8)

static const char *const alg_names[SP_ALG_COUNT] = {
    [SP_ALG_RS256] = "RS256", [SP_ALG_RS384] = "RS384", [SP_ALG_RS512] = "RS512",
    [SP_ALG_PS256] = "PS256", [SP_ALG_PS384] = "PS384", [SP_ALG_PS512] = "PS512",
    [SP_ALG_ES256] = "ES256", [SP_ALG_ES384] = "ES384", [SP_ALG_ES512] = "ES512",
};

/* Length of every name in alg_names. */
#define ALG_NAME_LEN 5

/* As sp_auth__alg_parse, for n bytes at name. */
static int alg_parse_n(const char *name, size_t n)
{
    if (!name || n != ALG_NAME_LEN)
        return -1;
    for (int i = 0; i < SP_ALG_COUNT; i++)
        if (memcmp(name, alg_names[i], ALG_NAME_LEN) == 0)
            return i;
    return -1;
}

int sp_auth__alg_parse(const char *name)
{
    return name ? alg_parse_n(name, strlen(name)) : -1;
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

/* The base64url alphabet with each character's value, for the tables. */
/* clang-format off */
#define B64_ALPHABET(X)                                                                \
    X('A', 0) X('B', 1) X('C', 2) X('D', 3) X('E', 4) X('F', 5) X('G', 6) X('H', 7)    \
    X('I', 8) X('J', 9) X('K', 10) X('L', 11) X('M', 12) X('N', 13) X('O', 14)         \
    X('P', 15) X('Q', 16) X('R', 17) X('S', 18) X('T', 19) X('U', 20) X('V', 21)       \
    X('W', 22) X('X', 23) X('Y', 24) X('Z', 25) X('a', 26) X('b', 27) X('c', 28)       \
    X('d', 29) X('e', 30) X('f', 31) X('g', 32) X('h', 33) X('i', 34) X('j', 35)       \
    X('k', 36) X('l', 37) X('m', 38) X('n', 39) X('o', 40) X('p', 41) X('q', 42)       \
    X('r', 43) X('s', 44) X('t', 45) X('u', 46) X('v', 47) X('w', 48) X('x', 49)       \
    X('y', 50) X('z', 51) X('0', 52) X('1', 53) X('2', 54) X('3', 55) X('4', 56)       \
    X('5', 57) X('6', 58) X('7', 59) X('8', 60) X('9', 61) X('-', 62) X('_', 63)
/* clang-format on */

/* For each byte: B64_OK | its base64url value, or 0 outside the alphabet.
 * One table lookup per character on the hot path; AND-ing the entries of a
 * part tells whether every character was of the alphabet. */
#define B64_OK          0x40
#define B64_VALUE(c)    (b64_table[(unsigned char)(c)] & 0x3f)
#define B64_ENTRY(c, v) [c] = B64_OK | (v),
static const uint8_t b64_table[256] = {B64_ALPHABET(B64_ENTRY)};

/* Returns non-zero for the 64 characters of base64url. */
static int is_b64url_char(unsigned char c)
{
    return b64_table[c] != 0;
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

/* What the character at position k of a group of four contributes to the
 * group's three bytes, placed as they lie in memory on a little-endian
 * machine (byte 0 lowest): the decoder ORs four lookups and stores once. */
#define B64_D0(c, v) [c] = (uint32_t)(v) << 2,
#define B64_D1(c, v) [c] = (uint32_t)(v) >> 4 | ((uint32_t)(v)&0xf) << 12,
#define B64_D2(c, v) [c] = ((uint32_t)(v) >> 2) << 8 | ((uint32_t)(v)&3) << 22,
#define B64_D3(c, v) [c] = (uint32_t)(v) << 16,
static const uint32_t b64_d0[256] = {B64_ALPHABET(B64_D0)};
static const uint32_t b64_d1[256] = {B64_ALPHABET(B64_D1)};
static const uint32_t b64_d2[256] = {B64_ALPHABET(B64_D2)};
static const uint32_t b64_d3[256] = {B64_ALPHABET(B64_D3)};

/* Bytes the decoder may write past the decoded length (its four-byte
 * stores): output buffers have this much room more. */
#define B64_DECODE_SLACK 4

/*
 * Decodes n characters of canonical base64url (checked by the caller) into
 * out, which has room for the decoded length plus B64_DECODE_SLACK. Returns
 * the bytes written. Four characters make three bytes with four table
 * lookups and one store.
 */
static size_t b64_decode(const char *restrict p, size_t n, uint8_t *restrict out)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t w = 0, i = 0;
    for (; i + 4 <= n; i += 4, w += 3) {
        uint32_t v = b64_d0[u[i]] | b64_d1[u[i + 1]] | b64_d2[u[i + 2]] | b64_d3[u[i + 3]];
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(out + w, &v, 4); /* the fourth byte is the next group's */
#else
        out[w] = (uint8_t)v;
        out[w + 1] = (uint8_t)(v >> 8);
        out[w + 2] = (uint8_t)(v >> 16);
#endif
    }
    if (n - i >= 2) {
        uint32_t v = b64_d0[u[i]] | b64_d1[u[i + 1]];
        if (n - i == 3)
            v |= b64_d2[u[i + 2]];
        out[w++] = (uint8_t)v;
        if (n - i == 3)
            out[w++] = (uint8_t)(v >> 8);
    }
    return w;
}

/* Returns non-zero when the n characters at p are all of base64url. With
 * SSE2 (every x86-64), sixteen characters are range-checked at a time: a
 * token is checked in a few dozen steps instead of one per character. */
static int b64_valid(const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t i = 0;
#ifdef __SSE2__
    /* Signed compares: bytes >= 0x80 are negative and fail every range. */
    const __m128i a1 = _mm_set1_epi8('A' - 1), z1 = _mm_set1_epi8('Z' + 1);
    const __m128i la1 = _mm_set1_epi8('a' - 1), lz1 = _mm_set1_epi8('z' + 1);
    const __m128i d1 = _mm_set1_epi8('0' - 1), d9 = _mm_set1_epi8('9' + 1);
    const __m128i dash = _mm_set1_epi8('-'), under = _mm_set1_epi8('_');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(u + i));
        __m128i ok = _mm_and_si128(_mm_cmpgt_epi8(v, a1), _mm_cmplt_epi8(v, z1));
        ok = _mm_or_si128(ok, _mm_and_si128(_mm_cmpgt_epi8(v, la1), _mm_cmplt_epi8(v, lz1)));
        ok = _mm_or_si128(ok, _mm_and_si128(_mm_cmpgt_epi8(v, d1), _mm_cmplt_epi8(v, d9)));
        ok = _mm_or_si128(ok, _mm_cmpeq_epi8(v, dash));
        ok = _mm_or_si128(ok, _mm_cmpeq_epi8(v, under));
        if (_mm_movemask_epi8(ok) != 0xffff)
            return 0;
    }
#endif
    unsigned all = B64_OK;
    for (; i < n; i++)
        all &= b64_table[u[i]];
    return all != 0;
}

/* Returns the decoded length of a canonical base64url part of n characters
 * (already checked to be of the alphabet), or -1 when n is not a possible
 * length or the unused low bits of the last character are not zero (two
 * spellings of one value). */
static long b64_part_len(const char *p, size_t n)
{
    if (n == 0 || n % 4 == 1)
        return -1;
    int last = B64_VALUE(p[n - 1]);
    if ((n % 4 == 2 && (last & 0x0f)) || (n % 4 == 3 && (last & 0x03)))
        return -1;
    return (long)(n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0));
}

/* Returns non-zero when the typ value (n bytes) is one RFC 7519 / RFC 9068
 * allow. */
static int typ_allowed(const char *typ, size_t n)
{
    static const char *const allowed[] = {"JWT", "at+jwt", "application/at+jwt"};
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (strlen(allowed[i]) == n && strncasecmp(typ, allowed[i], n) == 0)
            return 1;
    return 0;
}

/* The header members the pre-parser judges, from either reader. A string
 * member that is absent or not a string has s NULL; *_present tells which. */
typedef struct header_fields {
    sp_claim_str alg, typ, kid;
    int typ_present, kid_present;
    int forbidden; /* crit, enc, zip or b64 present */
} header_fields;

static void header_from_js(const sp_js_object *h, header_fields *f)
{
    static const char *const forbidden[] = {"crit", "enc", "zip", "b64"};
    const sp_js_val *v[3] = {sp_auth__js_get(h, "alg"), sp_auth__js_get(h, "typ"),
                             sp_auth__js_get(h, "kid")};
    sp_claim_str *out[3] = {&f->alg, &f->typ, &f->kid};
    for (int i = 0; i < 3; i++) {
        out[i]->s = v[i] && v[i]->type == SP_JS_STRING ? v[i]->s : NULL;
        out[i]->n = out[i]->s ? v[i]->n : 0;
    }
    f->typ_present = v[1] != NULL;
    f->kid_present = v[2] != NULL;
    f->forbidden = 0;
    for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++)
        f->forbidden |= sp_auth__js_get(h, forbidden[i]) != NULL;
}

static void header_from_json(const json_t *h, header_fields *f)
{
    const json_t *v[3] = {json_object_get(h, "alg"), json_object_get(h, "typ"),
                          json_object_get(h, "kid")};
    sp_claim_str *out[3] = {&f->alg, &f->typ, &f->kid};
    for (int i = 0; i < 3; i++) {
        out[i]->s = json_string_value(v[i]);
        out[i]->n = out[i]->s ? strlen(out[i]->s) : 0;
    }
    f->typ_present = v[1] != NULL;
    f->kid_present = v[2] != NULL;
    f->forbidden = json_object_get(h, "crit") || json_object_get(h, "enc") ||
                   json_object_get(h, "zip") || json_object_get(h, "b64");
}

/* Judges the header fields into hdr. Returns 0 or SP_ERR_UNAUTHORIZED. */
static int header_check(const header_fields *f, sp_jwt_header *hdr, const char **why)
{
    hdr->alg = alg_parse_n(f->alg.s, f->alg.n);
    if (hdr->alg < 0) {
        *why = "alg missing or not in the allow-list";
        return SP_ERR_UNAUTHORIZED;
    }
    if (f->typ_present && (!f->typ.s || !typ_allowed(f->typ.s, f->typ.n))) {
        *why = "typ is not JWT or at+jwt";
        return SP_ERR_UNAUTHORIZED;
    }
    /* crit names extensions we would have to understand (RFC 7515 4.1.11);
     * enc and zip belong to JWE; b64=false (RFC 7797) changes what is
     * signed. None of them is supported, so each refuses the token. */
    if (f->forbidden) {
        *why = "header has crit, enc, zip or b64";
        return SP_ERR_UNAUTHORIZED;
    }
    /* jku, x5u, jwk and x5c would let the token name its own key: ignored,
     * never fetched, never used. */
    if (f->kid_present) {
        if (!f->kid.s || f->kid.n >= sizeof hdr->kid) {
            *why = "kid not a string or too long";
            return SP_ERR_UNAUTHORIZED;
        }
        memcpy(hdr->kid, f->kid.s, f->kid.n);
        hdr->kid[f->kid.n] = '\0';
        hdr->has_kid = 1;
    }
    return 0;
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
    /* memchr finds the dots a vector at a time; then one pass checks the
     * alphabet of the three parts. */
    const char *end = token + len;
    const char *dot[2] = {memchr(token, '.', len), NULL};
    if (dot[0])
        dot[1] = memchr(dot[0] + 1, '.', (size_t)(end - dot[0] - 1));
    if (!dot[1] || memchr(dot[1] + 1, '.', (size_t)(end - dot[1] - 1))) {
        *why = "not exactly two dots";
        return SP_ERR_UNAUTHORIZED;
    }
    if (!b64_valid(token, (size_t)(dot[0] - token)) ||
        !b64_valid(dot[0] + 1, (size_t)(dot[1] - dot[0] - 1)) ||
        !b64_valid(dot[1] + 1, (size_t)(end - dot[1] - 1))) {
        *why = "character outside base64url";
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

    hdr->payload_off = hlen + 1;
    hdr->payload_len = plen;
    hdr->sig_off = hlen + 1 + plen + 1;
    hdr->sig_len = slen;

    uint8_t dec[JWT_HEADER_MAX + B64_DECODE_SLACK];
    size_t dn = b64_decode(token, hlen, dec);
    header_fields f;
    sp_js_object obj;
    json_t *h = NULL;
    if (sp_auth__js_object((const char *)dec, dn, &obj)) {
        header_from_js(&obj, &f);
    } else {
        json_error_t jerr;
        h = json_loadb((const char *)dec, dn, JSON_REJECT_DUPLICATES, &jerr);
        if (!h || !json_is_object(h)) {
            json_decref(h);
            *why = "header is not a JSON object (or has duplicate members)";
            return SP_ERR_UNAUTHORIZED;
        }
        header_from_json(h, &f);
    }
    int rc = header_check(&f, hdr, why);
    json_decref(h);
    if (rc < 0)
        return rc;
    size_t es = sp_auth__alg_es_sig_len(hdr->alg);
    if (es) {
        /* OpenSSL would take any DER; the JWS form has one length. */
        if ((size_t)sbytes != es) {
            *why = "ES signature of the wrong length";
            return SP_ERR_UNAUTHORIZED;
        }
    } else if (sbytes < JWT_RSA_SIG_MIN || sbytes > JWT_RSA_SIG_MAX) {
        *why = "RSA signature length outside the key sizes we accept";
        return SP_ERR_UNAUTHORIZED;
    }
    return 0;
}

int sp_auth__jws_verify(const char *token, const sp_jwt_header *hdr, const sp_auth_key *key,
                        const char **why)
{
    uint8_t sig[JWT_RSA_SIG_MAX + B64_DECODE_SLACK];
    /* The pre-parser bounded the decoded length by JWT_RSA_SIG_MAX. */
    size_t n = b64_decode(token + hdr->sig_off, hdr->sig_len, sig);
    return sp_auth__sig_verify(key->ver, hdr->alg, token, hdr->payload_off + hdr->payload_len, sig,
                               n, why);
}

int sp_auth__jws_claims(const char *token, const sp_jwt_header *hdr, const sp_claims_want *want,
                        char *text, sp_claims *c, const char **why)
{
    /* The pre-parser bounded the token, so the payload fits. */
    size_t n = b64_decode(token + hdr->payload_off, hdr->payload_len, (uint8_t *)text);
    return sp_auth__claims_parse(text, n, want, c, why);
}
