/*
 * httpsig.c - HTTP Message Signatures (RFC 9421) and Content-Digest
 * (RFC 9530) with OpenSSL (see httpsig.h); the keys are httpsig_keys.c's.
 *
 * The structured-field parsing is the subset the two headers use: a
 * dictionary whose members are an inner list of strings with integer and
 * string parameters (Signature-Input), or a byte sequence (Signature).
 * Anything else is refused rather than guessed at: a verifier that reads
 * more than the signer meant is the classic way signatures are bypassed.
 */
#include "util/httpsig.h"
#include "util/httpsig_internal.h"

#include "util/buf.h"
#include "util/err.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Content-Digest ---- */

int sp_httpsig__b64(const unsigned char *in, size_t n, char *out, size_t outlen)
{
    if ((n + 2) / 3 * 4 + 1 > outlen)
        return SP_ERR_TOO_LARGE;
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    return 0;
}

/* Decodes standard base64 (with padding) of at most max bytes. Returns
 * the length, or -1. */
static long unb64(const char *s, size_t len, unsigned char *out, size_t max)
{
    if (len == 0 || len % 4 != 0 || len / 4 * 3 > max + 2)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '+' || c == '/' || (c == '=' && i >= len - 2);
        if (!ok || (i == len - 2 && c == '=' && s[len - 1] != '='))
            return -1;
    }
    unsigned char tmp[SP_HTTPSIG_HEADER_MAX];
    if (len / 4 * 3 > sizeof tmp)
        return -1;
    int n = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)len);
    if (n < 0)
        return -1;
    n -= (s[len - 1] == '=') + (s[len - 2] == '=');
    if ((size_t)n > max)
        return -1;
    /* Only the canonical encoding: the unused low bits of the last
     * character must be zero, so one value has one spelling. */
    char again[SP_HTTPSIG_HEADER_MAX * 2];
    if (sp_httpsig__b64(tmp, (size_t)n, again, sizeof again) < 0 || strlen(again) != len ||
        memcmp(again, s, len) != 0)
        return -1;
    memcpy(out, tmp, (size_t)n);
    return n;
}

int sp_httpsig_content_digest(const void *body, size_t len, char *out, size_t outlen)
{
    unsigned char md[32];
    char enc[48];
    if (outlen < SP_HTTPSIG_DIGEST_LEN)
        return SP_ERR_TOO_LARGE;
    if (!EVP_Digest(body ? body : "", len, md, NULL, EVP_sha256(), NULL))
        return SP_ERR_NOMEM;
    sp_httpsig__b64(md, sizeof md, enc, sizeof enc);
    snprintf(out, outlen, "sha-256=:%s:", enc);
    return 0;
}

int sp_httpsig_digest_check(const char *header, const void *body, size_t len)
{
    int matched = 0;
    const char *p = header;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *eq = strchr(p, '=');
        if (!eq)
            return SP_ERR_INVALID;
        size_t klen = (size_t)(eq - p);
        const EVP_MD *md = NULL;
        if (klen == 7 && strncmp(p, "sha-256", 7) == 0)
            md = EVP_sha256();
        else if (klen == 7 && strncmp(p, "sha-512", 7) == 0)
            md = EVP_sha512();
        const char *v = eq + 1, *end = strchr(v, ',');
        size_t vlen = end ? (size_t)(end - v) : strlen(v);
        while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
            vlen--;
        if (md) {
            unsigned char want[64], got[64];
            unsigned int n = 0;
            if (vlen < 2 || v[0] != ':' || v[vlen - 1] != ':')
                return SP_ERR_INVALID;
            long wn = unb64(v + 1, vlen - 2, want, sizeof want);
            if (!EVP_Digest(body ? body : "", len, got, &n, md, NULL))
                return SP_ERR_NOMEM;
            if (wn != (long)n || CRYPTO_memcmp(want, got, n) != 0)
                return SP_ERR_INVALID;
            matched = 1;
        }
        p = end;
    }
    return matched ? 0 : SP_ERR_INVALID;
}

/* ---- the signature base ---- */

/* The value of one component of m, or NULL when m has none. */
static const char *component(const sp_httpsig_msg *m, const char *name, sp_buf *scratch)
{
    if (name[0] != '@')
        return m->field ? m->field(m->ctx, name) : NULL;
    if (strcmp(name, "@method") == 0)
        return m->method;
    if (strcmp(name, "@authority") == 0)
        return m->authority;
    if (strcmp(name, "@path") == 0)
        return m->path;
    sp_buf_reset(scratch);
    int rc = SP_ERR_INVALID;
    if (strcmp(name, "@query") == 0)
        rc = sp_buf_printf(scratch, "?%s", m->query ? m->query : "");
    else if (strcmp(name, "@target-uri") == 0)
        rc = sp_buf_printf(scratch, "%s://%s%s%s%s", m->scheme ? m->scheme : "https", m->authority,
                           m->path, m->query ? "?" : "", m->query ? m->query : "");
    else if (strcmp(name, "@request-target") == 0)
        rc = sp_buf_printf(scratch, "%s%s%s", m->path, m->query ? "?" : "",
                           m->query ? m->query : "");
    return rc == 0 ? scratch->data : NULL;
}

int sp_httpsig_base(const sp_httpsig_msg *m, const char *const *covered, size_t count,
                    const char *params, sp_buf *out)
{
    sp_buf scratch = {0};
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (!m->authority || !m->method || !m->path)
            rc = SP_ERR_INVALID;
        const char *v = rc == 0 ? component(m, covered[i], &scratch) : NULL;
        /* A value with a line break would let one component forge the
         * next line of the base. */
        if (!v || strpbrk(v, "\r\n"))
            rc = SP_ERR_INVALID;
        else
            rc = sp_buf_printf(out, "\"%s\": %s\n", covered[i], v);
    }
    if (rc == 0)
        rc = sp_buf_printf(out, "\"@signature-params\": %s", params);
    sp_buf_free(&scratch);
    return rc;
}

/* The serialized inner list and parameters of a new signature. */
static int serialize_params(const sp_httpsig_key *k, const char *const *covered, size_t count,
                            const sp_httpsig_params *p, sp_buf *out)
{
    int rc = sp_buf_puts(out, "(");
    for (size_t i = 0; i < count && rc == 0; i++)
        rc = sp_buf_printf(out, "%s\"%s\"", i ? " " : "", covered[i]);
    if (rc == 0)
        rc = sp_buf_printf(out, ");created=%lld", (long long)p->created);
    if (rc == 0 && p->nonce)
        rc = sp_buf_printf(out, ";nonce=\"%s\"", p->nonce);
    if (rc == 0)
        rc = sp_buf_printf(out, ";keyid=\"%s\"", k->keyid);
    if (rc == 0 && p->with_alg)
        rc = sp_buf_printf(out, ";alg=\"%s\"", sp_httpsig_key_alg(k));
    if (rc == 0 && p->tag)
        rc = sp_buf_printf(out, ";tag=\"%s\"", p->tag);
    return rc;
}

/* RSA-PSS salt length we sign with: the 64 bytes RFC 9421 section 3.3.1
 * names. */
#define SP_HTTPSIG_PSS_SALT 64

/* Sets the RSA-PSS parameters of RFC 9421 section 3.3.1 on pctx. saltlen:
 * SP_HTTPSIG_PSS_SALT to sign; RSA_PSS_SALTLEN_AUTO to verify, because
 * common signers (the npm http-message-signatures library, Node's default)
 * use the largest salt the key allows, and the salt length adds nothing to
 * what the signature proves. */
static int pss(EVP_PKEY_CTX *pctx, int saltlen)
{
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltlen) > 0 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha512()) > 0;
}

/* Non-zero when s (NULL: absent) can be written as an sf-string without
 * escapes: a parameter value we put in a header as is. */
static int sf_string_ok(const char *s)
{
    for (const char *c = s; c && *c; c++) {
        if (*c == '"' || *c == '\\' || *c < 0x20 || *c > 0x7e)
            return 0;
    }
    return 1;
}

int sp_httpsig_sign(const sp_httpsig_key *k, const sp_httpsig_msg *m, const char *const *covered,
                    size_t count, const sp_httpsig_params *p, sp_buf *input, sp_buf *signature)
{
    if (!k->is_private)
        return SP_ERR_INVALID;
    if (!sf_string_ok(p->nonce) || !sf_string_ok(p->tag))
        return SP_ERR_INVALID;
    sp_buf params = {0}, base = {0};
    unsigned char sig[SP_HTTPSIG_SIG_MAX];
    char enc[SP_HTTPSIG_SIG_MAX * 2];
    size_t siglen = sizeof sig;
    int rc = serialize_params(k, covered, count, p, &params);
    if (rc == 0)
        rc = sp_httpsig_base(m, covered, count, params.data, &base);
    if (rc < 0)
        goto done;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ed = EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_ED25519;
    int ok = ctx && EVP_DigestSignInit(ctx, &pctx, ed ? NULL : EVP_sha512(), NULL, k->pkey) == 1 &&
             (ed || pss(pctx, SP_HTTPSIG_PSS_SALT)) &&
             EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)base.data, base.len) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        rc = SP_ERR_INVALID;
        goto done;
    }
    sp_httpsig__b64(sig, siglen, enc, sizeof enc);
    rc = sp_buf_printf(input, "sig1=%s", params.data);
    if (rc == 0)
        rc = sp_buf_printf(signature, "sig1=:%s:", enc);
done:
    sp_buf_free(&params);
    sp_buf_free(&base);
    return rc;
}

/* ---- parsing ---- */

static int is_key_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || c == '*' ||
           (!first && ((c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'));
}

/* Reads an sf-key at *s into out. */
static int read_key(const char **s, char *out, size_t outlen)
{
    size_t n = 0;
    const char *p = *s;
    if (!is_key_char(*p, 1))
        return -1;
    while (is_key_char(*p, n == 0)) {
        if (n + 1 >= outlen)
            return -1;
        out[n++] = *p++;
    }
    out[n] = '\0';
    *s = p;
    return 0;
}

/* Reads an sf-string at *s (printable ASCII, \" and \\ escapes) into out. */
static int read_string(const char **s, char *out, size_t outlen)
{
    const char *p = *s;
    size_t n = 0;
    if (*p++ != '"')
        return -1;
    for (;; p++) {
        char c = *p;
        if (c == '\\') {
            c = *++p;
            if (c != '"' && c != '\\')
                return -1;
        } else if (c == '"') {
            break;
        } else if (c < 0x20 || c > 0x7e) {
            return -1;
        }
        if (n + 1 >= outlen)
            return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    *s = p + 1;
    return 0;
}

/* Reads an sf-integer (at most 15 digits, as RFC 8941 bounds it). */
static int read_int(const char **s, int64_t *v)
{
    const char *p = *s;
    int neg = *p == '-';
    p += neg;
    int64_t x = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 15) {
        x = x * 10 + (*p++ - '0');
        digits++;
    }
    if (!digits || (*p >= '0' && *p <= '9'))
        return -1;
    *v = neg ? -x : x;
    *s = p;
    return 0;
}

/* Reads the parameters of a signature (";name=value"...) into p. */
static int read_params(const char **s, sp_httpsig_parsed *p)
{
    const char *c = *s;
    while (*c == ';') {
        c++;
        char name[32];
        if (read_key(&c, name, sizeof name) < 0 || *c++ != '=')
            return -1;
        int rc;
        if (strcmp(name, "created") == 0)
            rc = read_int(&c, &p->created);
        else if (strcmp(name, "expires") == 0)
            rc = read_int(&c, &p->expires);
        else if (strcmp(name, "keyid") == 0)
            rc = read_string(&c, p->keyid, sizeof p->keyid);
        else if (strcmp(name, "alg") == 0)
            rc = read_string(&c, p->alg, sizeof p->alg);
        else if (strcmp(name, "nonce") == 0)
            rc = read_string(&c, p->nonce, sizeof p->nonce);
        else if (strcmp(name, "tag") == 0)
            rc = read_string(&c, p->tag, sizeof p->tag);
        else
            rc = -1; /* a parameter we do not know could change the meaning */
        if (rc < 0)
            return -1;
    }
    *s = c;
    return 0;
}

/* Reads one member "label=(components...);params" of a Signature-Input
 * value at *cp into p (label, components, parameters). */
static int parse_member(const char **cp, sp_httpsig_parsed *p, const char **why)
{
    const char *c = *cp;
    while (*c == ' ')
        c++;
    *why = "Signature-Input is not a signature's inner list";
    if (read_key(&c, p->label, sizeof p->label) < 0 || *c++ != '=')
        return SP_ERR_INVALID;
    const char *start = c;
    if (*c++ != '(')
        return SP_ERR_INVALID;
    while (*c != ')') {
        if (p->count == SP_HTTPSIG_COMPONENTS_MAX) {
            *why = "too many covered components";
            return SP_ERR_INVALID;
        }
        if (read_string(&c, p->components[p->count], SP_HTTPSIG_COMPONENT_MAX) < 0)
            return SP_ERR_INVALID;
        /* A component parameter (";sf", ";req"...) asks for a value we do
         * not build. */
        if (*c == ';') {
            *why = "component parameters are not supported";
            return SP_ERR_INVALID;
        }
        for (size_t i = 0; i < p->count; i++) {
            if (strcmp(p->components[i], p->components[p->count]) == 0) {
                *why = "a component is covered twice";
                return SP_ERR_INVALID;
            }
        }
        p->count++;
        if (*c == ' ')
            c++;
        else if (*c != ')')
            return SP_ERR_INVALID;
    }
    c++;
    if (read_params(&c, p) < 0)
        return SP_ERR_INVALID;
    memcpy(p->params, start, (size_t)(c - start));
    p->params[c - start] = '\0';
    if (!p->keyid[0]) {
        *why = "the signature names no keyid";
        return SP_ERR_INVALID;
    }
    *cp = c;
    return 0;
}

/* Reads the member of p->label in a Signature value into p->sig. */
static int read_signature(const char *signature, sp_httpsig_parsed *p, const char **why)
{
    size_t llen = strlen(p->label);
    *why = "Signature has no byte sequence for the label of Signature-Input";
    for (const char *s = signature; s && *s;) {
        while (*s == ' ' || *s == ',')
            s++;
        const char *end = strchr(s, ',');
        if (strncmp(s, p->label, llen) == 0 && s[llen] == '=' && s[llen + 1] == ':') {
            const char *v = s + llen + 2, *close = strchr(v, ':');
            if (!close || (end && close > end))
                return SP_ERR_INVALID;
            long n = unb64(v, (size_t)(close - v), p->sig, sizeof p->sig);
            if (n <= 0)
                return SP_ERR_INVALID;
            p->sig_len = (size_t)n;
            return 0;
        }
        s = end;
    }
    return SP_ERR_INVALID;
}

static int check_lengths(const char *input, const char *signature, sp_httpsig_parsed *p,
                         const char **why)
{
    memset(p, 0, sizeof *p);
    p->created = p->expires = -1;
    if (!input || !signature) {
        *why = "Signature-Input and Signature are required";
        return SP_ERR_INVALID;
    }
    if (strlen(input) >= SP_HTTPSIG_HEADER_MAX || strlen(signature) >= SP_HTTPSIG_HEADER_MAX) {
        *why = "signature headers too long";
        return SP_ERR_INVALID;
    }
    return 0;
}

int sp_httpsig_parse(const char *input, const char *signature, sp_httpsig_parsed *p,
                     const char **why)
{
    if (check_lengths(input, signature, p, why) < 0)
        return SP_ERR_INVALID;
    const char *c = input;
    if (parse_member(&c, p, why) < 0)
        return SP_ERR_INVALID;
    return read_signature(signature, p, why);
}

/* The end of the dictionary member starting at s: the next ',' outside
 * strings and inner lists, or the end of the value. */
static const char *member_end(const char *s)
{
    int quoted = 0, depth = 0;
    for (; *s; s++) {
        if (quoted && *s == '\\' && s[1])
            s++;
        else if (*s == '"')
            quoted = !quoted;
        else if (!quoted && *s == '(')
            depth++;
        else if (!quoted && *s == ')')
            depth--;
        else if (!quoted && depth == 0 && *s == ',')
            break;
    }
    return s;
}

/* Non-zero when the member [s, end) has the parameter tag="tag" after
 * its inner list (outside strings). */
static int member_has_tag(const char *s, const char *end, const char *tag)
{
    const char *close = NULL;
    int quoted = 0;
    for (const char *c = s; c < end; c++) {
        if (quoted && *c == '\\' && c + 1 < end)
            c++;
        else if (*c == '"')
            quoted = !quoted;
        else if (!quoted && *c == ')' && !close)
            close = c;
        else if (!quoted && close && *c == ';' && strncmp(c, ";tag=\"", 6) == 0) {
            size_t n = strlen(tag);
            return (size_t)(end - c) > 6 + n && strncmp(c + 6, tag, n) == 0 && c[6 + n] == '"';
        }
    }
    return 0;
}

int sp_httpsig_parse_tagged(const char *input, const char *signature, const char *tag,
                            sp_httpsig_parsed *p, const char **why)
{
    if (check_lengths(input, signature, p, why) < 0)
        return SP_ERR_INVALID;
    const char *chosen = NULL, *first = NULL;
    for (const char *s = input; *s;) {
        while (*s == ' ' || *s == ',')
            s++;
        if (!*s)
            break;
        const char *end = member_end(s);
        if (!first)
            first = s;
        if (member_has_tag(s, end, tag)) {
            if (chosen) {
                *why = "more than one signature carries the tag";
                return SP_ERR_INVALID;
            }
            chosen = s;
        }
        s = end;
    }
    const char *c = chosen ? chosen : first;
    if (!c) {
        *why = "Signature-Input is empty";
        return SP_ERR_INVALID;
    }
    if (parse_member(&c, p, why) < 0)
        return SP_ERR_INVALID;
    if (*c && *c != ',' && *c != ' ') {
        *why = "Signature-Input is not a signature's inner list";
        return SP_ERR_INVALID;
    }
    if (chosen && strcmp(p->tag, tag) != 0) {
        *why = "the signature's tag is not the expected one";
        return SP_ERR_INVALID;
    }
    return read_signature(signature, p, why);
}

int sp_httpsig_covers(const sp_httpsig_parsed *p, const char *name)
{
    for (size_t i = 0; i < p->count; i++) {
        if (strcmp(p->components[i], name) == 0)
            return 1;
    }
    return 0;
}

int sp_httpsig_verify(const sp_httpsig_parsed *p, const sp_httpsig_msg *m, const sp_httpsig_key *k,
                      const char **why)
{
    if (p->alg[0] && strcmp(p->alg, sp_httpsig_key_alg(k)) != 0) {
        *why = "the signature's alg is not its key's";
        return SP_ERR_INVALID;
    }
    /* One signature, one spelling: an RSA signature with its leading
     * zero bytes stripped still verifies in OpenSSL, and would pass the
     * replay memory (which remembers signatures by their bytes) as new. */
    int ed = EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_ED25519;
    if (p->sig_len != (ed ? 64u : (size_t)EVP_PKEY_get_size(k->pkey))) {
        *why = "the signature is not of its key's length";
        return SP_ERR_INVALID;
    }
    const char *covered[SP_HTTPSIG_COMPONENTS_MAX];
    for (size_t i = 0; i < p->count; i++)
        covered[i] = p->components[i];
    sp_buf base = {0};
    int rc = sp_httpsig_base(m, covered, p->count, p->params, &base);
    if (rc < 0) {
        sp_buf_free(&base);
        *why = "a covered component is missing from the request";
        return rc == SP_ERR_NOMEM ? rc : SP_ERR_INVALID;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok =
        ctx && EVP_DigestVerifyInit(ctx, &pctx, ed ? NULL : EVP_sha512(), NULL, k->pkey) == 1 &&
        (ed || pss(pctx, RSA_PSS_SALTLEN_AUTO)) &&
        EVP_DigestVerify(ctx, p->sig, p->sig_len, (const unsigned char *)base.data, base.len) == 1;
    EVP_MD_CTX_free(ctx);
    sp_buf_free(&base);
    if (!ok) {
        *why = "the signature does not match";
        return SP_ERR_INVALID;
    }
    return 0;
}
