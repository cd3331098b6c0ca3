/*
 * httpsig.c - HTTP Message Signatures (RFC 9421) and Content-Digest
 * (RFC 9530) with OpenSSL (see httpsig.h).
 *
 * The structured-field parsing is the subset the two headers use: a
 * dictionary whose members are an inner list of strings with integer and
 * string parameters (Signature-Input), or a byte sequence (Signature).
 * Anything else is refused rather than guessed at: a verifier that reads
 * more than the signer meant is the classic way signatures are bypassed.
 */
#include "util/httpsig.h"

#include "util/base64.h"
#include "util/buf.h"
#include "util/err.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Smallest RSA modulus accepted from a peer, in bits (NIST's floor). */
#define SP_HTTPSIG_RSA_MIN_BITS 2048
/* Largest key file read: a PEM RSA-8192 key is about 6.5 KiB. */
#define SP_HTTPSIG_KEY_FILE_MAX (16 * 1024)
/* Largest decoded JWK member (an RSA modulus): 1 KiB is RSA-8192. */
#define SP_HTTPSIG_JWK_MEMBER_MAX 1024

struct sp_httpsig_key {
    EVP_PKEY *pkey;
    int is_private;
    char keyid[SP_HTTPSIG_KEYID_MAX];
};

/* ---- Content-Digest ---- */

/* Standard base64 with padding, as structured fields' byte sequences. */
static int b64(const unsigned char *in, size_t n, char *out, size_t outlen)
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
    if (b64(tmp, (size_t)n, again, sizeof again) < 0 || strlen(again) != len ||
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
    b64(md, sizeof md, enc, sizeof enc);
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

/* ---- keys ---- */

/* Accepts ed25519 keys and RSA keys of at least SP_HTTPSIG_RSA_MIN_BITS. */
static int key_type_ok(EVP_PKEY *k)
{
    int id = EVP_PKEY_get_base_id(k);
    return id == EVP_PKEY_ED25519 ||
           (id == EVP_PKEY_RSA && EVP_PKEY_get_bits(k) >= SP_HTTPSIG_RSA_MIN_BITS);
}

static const char *key_alg(const sp_httpsig_key *k)
{
    return EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_ED25519 ? "ed25519" : "rsa-pss-sha512";
}

/* keyid_base "#" base64url(SHA-256(DER SubjectPublicKeyInfo)). */
static int make_keyid(sp_httpsig_key *k, const char *keyid_base)
{
    unsigned char *der = NULL, md[32];
    int n = i2d_PUBKEY(k->pkey, &der);
    if (n <= 0)
        return SP_ERR_INVALID;
    int ok = EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(), NULL);
    OPENSSL_free(der);
    if (!ok)
        return SP_ERR_NOMEM;
    char enc[48];
    b64(md, sizeof md, enc, sizeof enc);
    /* base64url without padding, as keys' fingerprints are written. */
    for (char *c = enc; *c; c++)
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    enc[43] = '\0';
    int w = snprintf(k->keyid, sizeof k->keyid, "%s#%s", keyid_base, enc);
    return w > 0 && (size_t)w < sizeof k->keyid ? 0 : SP_ERR_TOO_LARGE;
}

/* Makes *out (new) of pk (stolen), when it is a key we accept. */
static int wrap(EVP_PKEY *pk, int is_private, sp_httpsig_key **out)
{
    if (!pk || !key_type_ok(pk)) {
        EVP_PKEY_free(pk);
        return SP_ERR_INVALID;
    }
    sp_httpsig_key *k = calloc(1, sizeof *k);
    if (!k) {
        EVP_PKEY_free(pk);
        return SP_ERR_NOMEM;
    }
    k->pkey = pk;
    k->is_private = is_private;
    *out = k;
    return 0;
}

/* Writes a new ed25519 key to path through a temporary file. */
static int create_key(const char *path)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return SP_ERR_TOO_LARGE;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!k)
        return SP_ERR_NOMEM;
    int rc = SP_ERR_IO;
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        goto done;
    }
    int ok = PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1;
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (ok && rename(tmp, path) == 0)
        rc = 0;
    else
        unlink(tmp);
done:
    EVP_PKEY_free(k);
    return rc;
}

int sp_httpsig_key_load(const char *path, int create, const char *keyid_base, sp_httpsig_key **out)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno != ENOENT)
            return SP_ERR_IO;
        if (!create)
            return SP_ERR_NOT_FOUND;
        int rc = create_key(path);
        if (rc < 0)
            return rc;
        if (stat(path, &st) < 0)
            return SP_ERR_IO;
    }
    /* A private key others may read is no longer this instance's alone. */
    if ((st.st_mode & 077) != 0 || st.st_size > SP_HTTPSIG_KEY_FILE_MAX)
        return SP_ERR_INVALID;
    FILE *f = fopen(path, "re");
    if (!f)
        return SP_ERR_IO;
    EVP_PKEY *pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    int rc = wrap(pk, 1, out);
    if (rc == 0 && (rc = make_keyid(*out, keyid_base)) < 0) {
        sp_httpsig_key_free(*out);
        *out = NULL;
    }
    return rc;
}

int sp_httpsig_key_from_pem(const char *pem, const char *keyid, sp_httpsig_key **out)
{
    *out = NULL;
    if (strlen(keyid) >= SP_HTTPSIG_KEYID_MAX)
        return SP_ERR_INVALID;
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (!bio)
        return SP_ERR_NOMEM;
    int priv = strstr(pem, "PRIVATE KEY-----") != NULL;
    EVP_PKEY *pk = priv ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                        : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    int rc = wrap(pk, priv, out);
    if (rc == 0)
        snprintf((*out)->keyid, sizeof(*out)->keyid, "%s", keyid);
    return rc;
}

const char *sp_httpsig_key_id(const sp_httpsig_key *k)
{
    return k->keyid;
}

int sp_httpsig_key_public_pem(const sp_httpsig_key *k, sp_buf *out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio)
        return SP_ERR_NOMEM;
    char *data = NULL;
    int rc = SP_ERR_NOMEM;
    if (PEM_write_bio_PUBKEY(bio, k->pkey) == 1) {
        long n = BIO_get_mem_data(bio, &data);
        rc = n > 0 ? sp_buf_append(out, data, (size_t)n) : SP_ERR_NOMEM;
    }
    BIO_free(bio);
    return rc;
}

int sp_httpsig_key_dup(const sp_httpsig_key *k, sp_httpsig_key **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out || EVP_PKEY_up_ref(k->pkey) != 1) {
        free(*out);
        *out = NULL;
        return SP_ERR_NOMEM;
    }
    **out = *k;
    return 0;
}

const char *sp_httpsig_key_alg(const sp_httpsig_key *k)
{
    return key_alg(k);
}

/* Decodes a base64url member of a JWK (padding tolerated: some encoders
 * add it) into out; returns the length or -1. */
static long jwk_bytes(const char *s, unsigned char *out, size_t max)
{
    char tmp[SP_BASE64URL_LEN(SP_HTTPSIG_JWK_MEMBER_MAX) + 4];
    size_t n = s ? strlen(s) : 0;
    while (n && s[n - 1] == '=')
        n--;
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    size_t len = 0;
    return sp_base64url_decode(tmp, out, max, &len) == 0 ? (long)len : -1;
}

/* An RSA public key of modulus n and exponent e (big-endian bytes). */
static EVP_PKEY *rsa_public(const unsigned char *n, size_t nlen, const unsigned char *e,
                            size_t elen)
{
    EVP_PKEY *pk = NULL;
    BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (bn && be && bld && ctx && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1 &&
        (params = OSSL_PARAM_BLD_to_param(bld)) != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pk = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return pk;
}

int sp_httpsig_key_from_jwk(const sp_httpsig_jwk *j, const char *keyid, sp_httpsig_key **out)
{
    *out = NULL;
    if (!keyid)
        keyid = j->kid;
    if (!keyid || !*keyid || strlen(keyid) >= SP_HTTPSIG_KEYID_MAX || !j->kty ||
        (j->use && strcmp(j->use, "sig") != 0))
        return SP_ERR_INVALID;
    unsigned char a[SP_HTTPSIG_JWK_MEMBER_MAX], b[16];
    EVP_PKEY *pk = NULL;
    if (strcmp(j->kty, "OKP") == 0) {
        if (!j->crv || strcmp(j->crv, "Ed25519") != 0 ||
            (j->alg && strcmp(j->alg, "EdDSA") != 0 && strcmp(j->alg, "ed25519") != 0) ||
            jwk_bytes(j->x, a, sizeof a) != 32)
            return SP_ERR_INVALID;
        pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, a, 32);
    } else if (strcmp(j->kty, "RSA") == 0) {
        long nlen = jwk_bytes(j->n, a, sizeof a), elen = jwk_bytes(j->e, b, sizeof b);
        if ((j->alg && strcmp(j->alg, "PS512") != 0 && strcmp(j->alg, "rsa-pss-sha512") != 0) ||
            nlen <= 0 || elen <= 0)
            return SP_ERR_INVALID;
        pk = rsa_public(a, (size_t)nlen, b, (size_t)elen);
    } else {
        return SP_ERR_INVALID;
    }
    int rc = wrap(pk, 0, out);
    if (rc == 0)
        snprintf((*out)->keyid, sizeof(*out)->keyid, "%s", keyid);
    return rc;
}

/* Appends the JSON string value s (escaped) to out. */
static int json_string(sp_buf *out, const char *s)
{
    int rc = sp_buf_puts(out, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c && rc == 0; c++) {
        if (*c == '"' || *c == '\\')
            rc = sp_buf_printf(out, "\\%c", *c);
        else if (*c < 0x20)
            rc = sp_buf_printf(out, "\\u%04x", *c);
        else
            rc = sp_buf_append(out, c, 1);
    }
    return rc == 0 ? sp_buf_puts(out, "\"") : rc;
}

/* Appends ,"name":"<base64url of the BIGNUM param>" of k. */
static int jwk_bn(sp_buf *out, const EVP_PKEY *pk, const char *param, const char *name)
{
    BIGNUM *bn = NULL;
    unsigned char bytes[SP_HTTPSIG_JWK_MEMBER_MAX];
    char enc[SP_BASE64URL_LEN(SP_HTTPSIG_JWK_MEMBER_MAX) + 1];
    int rc = SP_ERR_NOMEM;
    if (EVP_PKEY_get_bn_param(pk, param, &bn) == 1) {
        int n = BN_bn2bin(bn, bytes);
        if (n > 0 && (size_t)n <= sizeof bytes &&
            sp_base64url_encode(bytes, (size_t)n, enc, sizeof enc) == 0)
            rc = sp_buf_printf(out, ",\"%s\":\"%s\"", name, enc);
    }
    BN_free(bn);
    return rc;
}

int sp_httpsig_key_jwk(const sp_httpsig_key *k, sp_buf *out)
{
    int ed = EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_ED25519;
    int rc = sp_buf_printf(out, "{\"kty\":\"%s\"", ed ? "OKP" : "RSA");
    if (rc == 0 && ed) {
        unsigned char raw[32];
        size_t n = sizeof raw;
        char enc[SP_BASE64URL_LEN(32) + 1];
        rc = EVP_PKEY_get_raw_public_key(k->pkey, raw, &n) == 1 && n == 32 &&
                     sp_base64url_encode(raw, n, enc, sizeof enc) == 0
                 ? sp_buf_printf(out, ",\"crv\":\"Ed25519\",\"x\":\"%s\"", enc)
                 : SP_ERR_NOMEM;
    } else if (rc == 0) {
        rc = jwk_bn(out, k->pkey, OSSL_PKEY_PARAM_RSA_N, "n");
        if (rc == 0)
            rc = jwk_bn(out, k->pkey, OSSL_PKEY_PARAM_RSA_E, "e");
    }
    if (rc == 0)
        rc = sp_buf_puts(out, ",\"kid\":");
    if (rc == 0)
        rc = json_string(out, k->keyid);
    if (rc == 0)
        rc = sp_buf_printf(out, ",\"alg\":\"%s\",\"use\":\"sig\"}", ed ? "EdDSA" : "PS512");
    return rc;
}

void sp_httpsig_key_free(sp_httpsig_key *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
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
        rc = sp_buf_printf(out, ";alg=\"%s\"", key_alg(k));
    if (rc == 0 && p->tag)
        rc = sp_buf_printf(out, ";tag=\"%s\"", p->tag);
    return rc;
}

/* Sets the RSA-PSS parameters RFC 9421 section 3.3.1 names. */
static int pss(EVP_PKEY_CTX *pctx)
{
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 64) > 0 &&
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
             (ed || pss(pctx)) &&
             EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)base.data, base.len) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        rc = SP_ERR_INVALID;
        goto done;
    }
    b64(sig, siglen, enc, sizeof enc);
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
    if (p->alg[0] && strcmp(p->alg, key_alg(k)) != 0) {
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
        (ed || pss(pctx)) &&
        EVP_DigestVerify(ctx, p->sig, p->sig_len, (const unsigned char *)base.data, base.len) == 1;
    EVP_MD_CTX_free(ctx);
    sp_buf_free(&base);
    if (!ok) {
        *why = "the signature does not match";
        return SP_ERR_INVALID;
    }
    return 0;
}
