/*
 * verify.c - JWS signatures checked with OpenSSL EVP on keys imported once
 * per JWKS fetch.
 *
 * cjose re-derives its OpenSSL state on every verification; here each JWK
 * becomes one EVP_PKEY when its key set is parsed, and the contexts that
 * OpenSSL 3 makes expensive to set up (EVP_PKEY_CTX with padding, digest,
 * MGF1 and salt length; EVP_MD_CTX with a fetched digest) are prepared once
 * per key and alg and then reused. A verification takes a prepared context
 * from its key's pool and gives it back, so the hot path allocates nothing
 * for RSA (ES needs the DER form of r||s).
 *
 * Thread safety: an EVP_PKEY is only read and is safe to share between
 * threads in OpenSSL 3; an EVP_PKEY_CTX or EVP_MD_CTX is used by one thread
 * at a time, which the pool guarantees. The pool's lock is held only to pop
 * or push a context, never during the crypto.
 *
 * What cjose accepted is kept: RS* is PKCS #1 v1.5 with a signature exactly
 * as long as the modulus; PS* is PSS with MGF1 over the same digest and a
 * salt as long as the digest (RFC 7518 section 3.5; cjose passed -1, which
 * is RSA_PSS_SALTLEN_DIGEST); ES* is r||s, each as long as the curve order,
 * and, like cjose's ECDSA_do_verify, high-S values are not refused.
 */
#include "auth/internal.h"

#include "util/base64.h"
#include "util/err.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Prepared contexts kept per key and alg once returned: the HTTP pool has
 * 2-4 threads, so more than 8 idle ones are never needed again. */
#define VERIFY_POOL_MAX 8
/* Largest JWK integer decoded: an RSA modulus of SP_AUTH_RSA_MAX_BITS (a
 * leading zero byte tolerated). The exponent and EC coordinates are shorter. */
#define JWK_INT_MAX (SP_AUTH_RSA_MAX_BITS / 8 + 1)
/* DER of an ECDSA signature on P-521: two INTEGERs of up to 67 bytes with
 * their headers, in a SEQUENCE with a two-byte length (141 bytes). */
#define ES_DER_MAX 160

/* One prepared verification: contexts for one key and one alg. */
typedef struct vctx {
    struct vctx *next;
    EVP_MD *md;
    EVP_MD_CTX *md_ctx;
    EVP_PKEY_CTX *pkey_ctx;
} vctx;

struct sp_auth_verifier {
    EVP_PKEY *pkey;
    int is_rsa;
    size_t rsa_len;       /* RSA: modulus bytes, the only signature length */
    size_t ec_half;       /* EC: bytes of r and of s */
    pthread_mutex_t lock; /* guards pool and pooled */
    vctx *pool[SP_ALG_COUNT];
    size_t pooled[SP_ALG_COUNT];
};

/* Returns the OpenSSL name of the digest of alg. */
static const char *alg_digest(int alg)
{
    switch (alg) {
    case SP_ALG_RS256:
    case SP_ALG_PS256:
    case SP_ALG_ES256:
        return "SHA256";
    case SP_ALG_RS384:
    case SP_ALG_PS384:
    case SP_ALG_ES384:
        return "SHA384";
    default:
        return "SHA512";
    }
}

static int alg_is_pss(int alg)
{
    return alg == SP_ALG_PS256 || alg == SP_ALG_PS384 || alg == SP_ALG_PS512;
}

/* Decodes the base64url string member name of jwk (trailing '=' tolerated,
 * as cjose's import does) into out (cap bytes). Returns the length, or 0
 * when absent, empty, malformed or too long. */
static size_t jwk_int(const json_t *jwk, const char *name, uint8_t *out, size_t cap)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    if (!s)
        return 0;
    char text[SP_BASE64URL_LEN(JWK_INT_MAX) + 1];
    size_t n = strlen(s);
    while (n && s[n - 1] == '=')
        n--;
    if (n == 0 || n >= sizeof text)
        return 0;
    memcpy(text, s, n);
    text[n] = '\0';
    size_t len = 0;
    if (sp_base64url_decode(text, out, cap, &len) < 0)
        return 0;
    return len;
}

/* Builds an EVP_PKEY of type name ("RSA", "EC") from params. Returns a new
 * key or NULL. */
static EVP_PKEY *pkey_fromdata(const char *name, OSSL_PARAM *params)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL);
    if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

/* Returns a new RSA public key from the JWK's n and e, or NULL. */
static EVP_PKEY *rsa_from_jwk(const json_t *jwk)
{
    uint8_t nb[JWK_INT_MAX], eb[JWK_INT_MAX];
    size_t nlen = jwk_int(jwk, "n", nb, sizeof nb);
    size_t elen = jwk_int(jwk, "e", eb, sizeof eb);
    if (!nlen || !elen)
        return NULL;
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = NULL;
    BIGNUM *n = BN_bin2bn(nb, (int)nlen, NULL);
    BIGNUM *e = BN_bin2bn(eb, (int)elen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (!n || !e || !bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
        !(params = OSSL_PARAM_BLD_to_param(bld)))
        goto done;
    pkey = pkey_fromdata("RSA", params);
done:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(e);
    BN_free(n);
    return pkey;
}

/* Returns a new EC public key from the JWK's x and y on curve crv (whose
 * coordinates are half bytes long), or NULL. OpenSSL refuses a point that
 * is not on the curve. */
static EVP_PKEY *ec_from_jwk(const json_t *jwk, cjose_jwk_ec_curve crv, size_t half)
{
    const char *group = crv == CJOSE_JWK_EC_P_256   ? "prime256v1"
                        : crv == CJOSE_JWK_EC_P_384 ? "secp384r1"
                                                    : "secp521r1";
    uint8_t x[JWK_INT_MAX], y[JWK_INT_MAX];
    size_t xlen = jwk_int(jwk, "x", x, sizeof x);
    size_t ylen = jwk_int(jwk, "y", y, sizeof y);
    if (!xlen || !ylen || xlen > half || ylen > half)
        return NULL;
    /* Uncompressed point: 04 || x || y, each coordinate left-padded (cjose
     * read them as numbers, so a short one was accepted). */
    uint8_t pub[1 + 2 * 66] = {0x04};
    memset(pub + 1, 0, 2 * half);
    memcpy(pub + 1 + half - xlen, x, xlen);
    memcpy(pub + 1 + 2 * half - ylen, y, ylen);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * half),
        OSSL_PARAM_construct_end(),
    };
    return pkey_fromdata("EC", params);
}

int sp_auth__verifier_new(const json_t *jwk, const sp_auth_key *key, sp_auth_verifier **out,
                          const char **why)
{
    *out = NULL;
    sp_auth_verifier *v = calloc(1, sizeof *v);
    if (!v) {
        *why = "out of memory";
        return SP_ERR_NOMEM;
    }
    if (key->kty == CJOSE_JWK_KTY_RSA) {
        v->is_rsa = 1;
        v->pkey = rsa_from_jwk(jwk);
    } else {
        v->ec_half = key->crv == CJOSE_JWK_EC_P_256 ? 32 : key->crv == CJOSE_JWK_EC_P_384 ? 48 : 66;
        v->pkey = ec_from_jwk(jwk, key->crv, v->ec_half);
    }
    /* cjose and OpenSSL must agree on what the key is: the size checks
     * were made on cjose's reading. */
    if (!v->pkey || (size_t)EVP_PKEY_get_bits(v->pkey) != key->bits) {
        ERR_clear_error();
        EVP_PKEY_free(v->pkey);
        free(v);
        *why = "OpenSSL cannot import it";
        return SP_ERR_INVALID;
    }
    if (v->is_rsa)
        v->rsa_len = (size_t)EVP_PKEY_get_size(v->pkey);
    pthread_mutex_init(&v->lock, NULL);
    *out = v;
    return 0;
}

static void vctx_free(vctx *c)
{
    if (!c)
        return;
    EVP_PKEY_CTX_free(c->pkey_ctx);
    EVP_MD_CTX_free(c->md_ctx);
    EVP_MD_free(c->md);
    free(c);
}

void sp_auth__verifier_free(sp_auth_verifier *v)
{
    if (!v)
        return;
    for (int alg = 0; alg < SP_ALG_COUNT; alg++) {
        while (v->pool[alg]) {
            vctx *c = v->pool[alg];
            v->pool[alg] = c->next;
            vctx_free(c);
        }
    }
    pthread_mutex_destroy(&v->lock);
    EVP_PKEY_free(v->pkey);
    free(v);
}

/* Returns new contexts that verify alg signatures with v's key, or NULL. */
static vctx *vctx_new(const sp_auth_verifier *v, int alg)
{
    vctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->md = EVP_MD_fetch(NULL, alg_digest(alg), NULL);
    c->md_ctx = EVP_MD_CTX_new();
    c->pkey_ctx = EVP_PKEY_CTX_new_from_pkey(NULL, v->pkey, NULL);
    if (!c->md || !c->md_ctx || !c->pkey_ctx || EVP_PKEY_verify_init(c->pkey_ctx) <= 0)
        goto fail;
    if (v->is_rsa) {
        int pss = alg_is_pss(alg);
        if (EVP_PKEY_CTX_set_rsa_padding(c->pkey_ctx,
                                         pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) <= 0)
            goto fail;
        if (pss && (EVP_PKEY_CTX_set_rsa_mgf1_md(c->pkey_ctx, c->md) <= 0 ||
                    EVP_PKEY_CTX_set_rsa_pss_saltlen(c->pkey_ctx, RSA_PSS_SALTLEN_DIGEST) <= 0))
            goto fail;
    }
    /* Also makes ECDSA check that what it verifies is a digest of this size. */
    if (EVP_PKEY_CTX_set_signature_md(c->pkey_ctx, c->md) <= 0)
        goto fail;
    return c;
fail:
    ERR_clear_error();
    vctx_free(c);
    return NULL;
}

/* Takes a prepared context for alg from the pool, or makes one. */
static vctx *pool_take(sp_auth_verifier *v, int alg)
{
    pthread_mutex_lock(&v->lock);
    vctx *c = v->pool[alg];
    if (c) {
        v->pool[alg] = c->next;
        v->pooled[alg]--;
    }
    pthread_mutex_unlock(&v->lock);
    return c ? c : vctx_new(v, alg);
}

/* Gives c back to the pool, or frees it when the pool is full. */
static void pool_give(sp_auth_verifier *v, int alg, vctx *c)
{
    pthread_mutex_lock(&v->lock);
    if (v->pooled[alg] < VERIFY_POOL_MAX) {
        c->next = v->pool[alg];
        v->pool[alg] = c;
        v->pooled[alg]++;
        c = NULL;
    }
    pthread_mutex_unlock(&v->lock);
    vctx_free(c);
}

/* Writes the DER form of the raw r||s signature (2 * half bytes) into der
 * (ES_DER_MAX bytes). Returns its length, or 0 when out of memory. */
static size_t es_der(const uint8_t *sig, size_t half, uint8_t *der)
{
    size_t len = 0;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)half, NULL);
    BIGNUM *s = BN_bin2bn(sig + half, (int)half, NULL);
    if (!es || !r || !s) {
        BN_free(r);
        BN_free(s);
        goto done;
    }
    ECDSA_SIG_set0(es, r, s); /* steals r and s */
    int n = i2d_ECDSA_SIG(es, NULL);
    if (n > 0 && n <= ES_DER_MAX) {
        uint8_t *p = der;
        len = (size_t)i2d_ECDSA_SIG(es, &p);
    }
done:
    ECDSA_SIG_free(es);
    return len;
}

int sp_auth__sig_verify(sp_auth_verifier *v, int alg, const char *input, size_t input_len,
                        const uint8_t *sig, size_t sig_len, const char **why)
{
    uint8_t der[ES_DER_MAX];
    if (v->is_rsa) {
        /* OpenSSL's PSS path would take a shorter signature as a number
         * with leading zeros; cjose did not, and neither do we. */
        if (sig_len != v->rsa_len) {
            *why = "RSA signature not as long as the modulus";
            return SP_ERR_UNAUTHORIZED;
        }
    } else {
        if (sig_len != 2 * v->ec_half) {
            *why = "ES signature of the wrong length";
            return SP_ERR_UNAUTHORIZED;
        }
        sig_len = es_der(sig, v->ec_half, der);
        if (!sig_len) {
            *why = "out of memory";
            return SP_ERR_NOMEM;
        }
        sig = der;
    }
    vctx *c = pool_take(v, alg);
    if (!c) {
        *why = "out of memory";
        return SP_ERR_NOMEM;
    }
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    int ok = EVP_DigestInit_ex2(c->md_ctx, c->md, NULL) == 1 &&
             EVP_DigestUpdate(c->md_ctx, input, input_len) == 1 &&
             EVP_DigestFinal_ex(c->md_ctx, digest, &digest_len) == 1 &&
             EVP_PKEY_verify(c->pkey_ctx, sig, sig_len, digest, digest_len) == 1;
    pool_give(v, alg, c);
    if (!ok) {
        /* A bad signature leaves entries in this thread's error queue. */
        ERR_clear_error();
        *why = "bad signature";
        return SP_ERR_UNAUTHORIZED;
    }
    return 0;
}
