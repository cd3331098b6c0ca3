/*
 * httpsig_keys.c - the keys of HTTP Message Signatures (see httpsig.h):
 * the instance's own, made and kept in a file, and peers' public keys read
 * from PEM or from a JSON Web Key, and written as either.
 */
#include "util/httpsig.h"
#include "util/httpsig_internal.h"

#include "util/base64.h"
#include "util/buf.h"
#include "util/err.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

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

/* Accepts ed25519 keys and RSA keys of at least SP_HTTPSIG_RSA_MIN_BITS. */
static int key_type_ok(EVP_PKEY *k)
{
    int id = EVP_PKEY_get_base_id(k);
    return id == EVP_PKEY_ED25519 ||
           (id == EVP_PKEY_RSA && EVP_PKEY_get_bits(k) >= SP_HTTPSIG_RSA_MIN_BITS);
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
    sp_httpsig__b64(md, sizeof md, enc, sizeof enc);
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
    return EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_ED25519 ? "ed25519" : "rsa-pss-sha512";
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
