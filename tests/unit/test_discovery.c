/*
 * test_discovery.c - unit tests of src/util/discovery (parsing peers'
 * OCM discovery documents, whose keys they publish, which instance a
 * keyid names) and of the JWK conversions of src/util/httpsig.
 *
 * The documents are the three kinds of peer Spaceport meets and its own
 * (tests/data/ocm-discovery/README.md). The attacks: a document naming
 * a key of another host (it would let that host sign as this one), an
 * endPoint we may not connect to, a JWK meant for another algorithm.
 */
#include "util/buf.h"
#include "util/discovery.h"
#include "util/err.h"
#include "util/httpsig.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOCS SP_SOURCE_ROOT "/tests/data/ocm-discovery/"
#define KEYS SP_SOURCE_ROOT "/tests/data/httpsig/"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    static char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return strdup(buf);
}

/* Parses DOCS name as the document of base. */
static int parse(const char *name, const char *base, sp_peer_doc *doc, sp_discovery_keys *keys)
{
    char path[512];
    size_t len = 0;
    snprintf(path, sizeof path, "%s%s", DOCS, name);
    char *text = slurp(path, &len);
    int rc = sp_discovery_parse(base, text, len, doc, keys);
    free(text);
    return rc;
}

START_TEST(nextcloud)
{
    sp_peer_doc doc;
    sp_discovery_keys keys = {0};
    ck_assert_int_eq(parse("nextcloud-31.json", "http://127.0.0.1:9301", &doc, &keys), 0);
    /* Its OCM API is not at <base>/ocm. */
    ck_assert_str_eq(doc.endpoint, "http://127.0.0.1:9301/index.php/ocm");
    ck_assert_str_eq(doc.origin, "http://127.0.0.1:9301");
    ck_assert_str_eq(doc.webdav, "/public.php/webdav/");
    ck_assert_int_eq(doc.legacy, 1);
    /* "/notifications": the leading '/' of OCM 1.2's examples. */
    ck_assert_uint_eq(doc.caps, SP_PEER_CAP_NOTIFICATIONS | SP_PEER_CAP_EXCHANGE_TOKEN);
    ck_assert_int_eq(doc.relative_uri, 0);
    /* Its publicKey is draft-cavage's: it does not sign with RFC 9421, so
     * its unsigned requests are not refused for want of a signature. */
    ck_assert_int_eq(doc.signs, 0);
    ck_assert_int_eq(doc.requires_signatures, 0);
    ck_assert_uint_eq(keys.count, 1);
    ck_assert_str_eq(sp_httpsig_key_id(keys.keys[0]), "http://127.0.0.1:9301/ocm#signature");
    ck_assert_str_eq(sp_httpsig_key_alg(keys.keys[0]), "rsa-pss-sha512");
    sp_discovery_keys_clear(&keys);
}
END_TEST

START_TEST(reva)
{
    sp_peer_doc doc;
    sp_discovery_keys keys = {0};
    ck_assert_int_eq(parse("reva-1.3.0.json", "http://127.0.0.1:9302", &doc, &keys), 0);
    ck_assert_str_eq(doc.endpoint, "http://127.0.0.1:9302/ocm"); /* trailing '/' dropped */
    ck_assert_str_eq(doc.api_version, "1.3.0");
    ck_assert_int_eq(doc.legacy, 0);
    ck_assert_uint_eq(doc.caps, SP_PEER_CAP_INVITES | SP_PEER_CAP_PROTOCOL_OBJECT);
    ck_assert_str_eq(doc.webdav, "/remote.php/dav/ocm/");
    /* webdav-receive says absolute: a relative uri would not resolve. */
    ck_assert_int_eq(doc.relative_uri, 0);
    ck_assert_int_eq(doc.signs, 0);
    ck_assert_int_eq(doc.requires_signatures, 0);
    ck_assert_uint_eq(doc.notes, 0);
    ck_assert_uint_eq(keys.count, 0);
}
END_TEST

START_TEST(opencloud)
{
    sp_peer_doc doc;
    sp_discovery_keys keys = {0};
    ck_assert_int_eq(parse("opencloud-1.2.0.json", "http://127.0.0.1:9303", &doc, &keys), 0);
    ck_assert_int_eq(doc.legacy, 0);
    ck_assert_int_eq(doc.relative_uri, 1);
    ck_assert_str_eq(doc.webdav, "/dav/ocm/"); /* "file" when there is no "folder" */
    ck_assert_uint_eq(doc.caps,
                      SP_PEER_CAP_INVITES | SP_PEER_CAP_WEBDAV_URI | SP_PEER_CAP_PROTOCOL_OBJECT);
    ck_assert_int_eq(doc.signs, 0);
}
END_TEST

START_TEST(spaceport)
{
    sp_peer_doc doc;
    sp_discovery_keys keys = {0};
    ck_assert_int_eq(parse("spaceport-1.2.2.json", "http://127.0.0.1:9304", &doc, &keys), 0);
    ck_assert_uint_eq(doc.caps, SP_PEER_CAP_NOTIFICATIONS | SP_PEER_CAP_INVITES |
                                    SP_PEER_CAP_HTTP_SIG | SP_PEER_CAP_WEBDAV_URI |
                                    SP_PEER_CAP_PROTOCOL_OBJECT);
    ck_assert_uint_eq(doc.notes,
                      SP_PEER_NOTE_RESOURCE_CHANGED | SP_PEER_NOTE_SHARE_CHANGE_PERMISSION);
    ck_assert_int_eq(doc.requires_signatures, 1);
    ck_assert_int_eq(doc.signs, 1);
    /* The current key (also the deprecated publicKey: once), the
     * previous one; the key of 127.0.0.1:9999 is not this instance's to
     * publish. */
    ck_assert_uint_eq(keys.count, 2);
    ck_assert_uint_eq(doc.key_count, 2);
    ck_assert_str_eq(sp_httpsig_key_id(keys.keys[0]), "http://127.0.0.1:9304/ocm#current");
    ck_assert_str_eq(sp_httpsig_key_id(keys.keys[1]), "http://127.0.0.1:9304/ocm#previous");
    sp_discovery_keys_clear(&keys);
}
END_TEST

/* Documents that must not be used. */
static const char *const unusable[] = {
    "",
    "[]",
    "{\"enabled\":false,\"apiVersion\":\"1.2.2\",\"endPoint\":\"http://127.0.0.1:9/ocm\"}",
    "{\"enabled\":true,\"apiVersion\":\"1.2.2\"}",
    /* plain http to a host that is not loopback: the secret would travel in clear */
    "{\"enabled\":true,\"endPoint\":\"http://cloud.example.org/ocm\"}",
    "{\"enabled\":true,\"endPoint\":\"ftp://127.0.0.1/ocm\"}",
    "{\"enabled\":true,\"endPoint\":\"/ocm\"}",
    "{\"enabled\":true,\"endPoint\":\"https://user@cloud.example.org/ocm\"}",
    "{\"enabled\":true,\"endPoint\":\"https://cloud.example.org/ocm?x=1\"}",
    "{\"enabled\":true,\"endPoint\":\"https://a.test/ocm\",\"endPoint\":\"https://b.test/ocm\"}",
    /* an endPoint off the instance's own origin: another host, loopback,
     * another port or scheme (its shares and our signed requests would go there) */
    "{\"enabled\":true,\"endPoint\":\"https://other.example.org/ocm\"}",
    "{\"enabled\":true,\"endPoint\":\"http://127.0.0.1:8222/ocm\"}",
    "{\"enabled\":true,\"endPoint\":\"https://cloud.example.org:8443/ocm\"}",
    "{\"enabled\":true,\"endPoint\":\"https://cloud.example.org.evil.test/ocm\"}",
};

START_TEST(refuses_unusable)
{
    sp_peer_doc doc;
    sp_discovery_keys keys = {0};
    ck_assert_msg(sp_discovery_parse("https://cloud.example.org", unusable[_i],
                                     strlen(unusable[_i]), &doc, &keys) == SP_ERR_INVALID,
                  "row %d accepted", _i);
    ck_assert_uint_eq(keys.count, 0);
}
END_TEST

/* A jwksUri is fetched only on the instance's own origin: elsewhere (a
 * loopback service, another host) it is ignored. */
START_TEST(jwks_uri_own_origin)
{
    static const char *const docs[] = {
        "{\"enabled\":true,\"endPoint\":\"https://cloud.example.org/ocm\","
        "\"jwksUri\":\"http://127.0.0.1:8222/varz\"}",
        "{\"enabled\":true,\"endPoint\":\"https://cloud.example.org/ocm\","
        "\"jwksUri\":\"https://keys.example.net/jwks.json\"}",
        "{\"enabled\":true,\"endPoint\":\"https://cloud.example.org/ocm\","
        "\"jwksUri\":\"https://cloud.example.org/.well-known/jwks.json\"}",
    };
    for (size_t i = 0; i < 3; i++) {
        sp_peer_doc doc;
        sp_discovery_keys keys = {0};
        ck_assert_int_eq(
            sp_discovery_parse("https://cloud.example.org", docs[i], strlen(docs[i]), &doc, &keys),
            0);
        ck_assert_str_eq(keys.jwks_uri,
                         i < 2 ? "" : "https://cloud.example.org/.well-known/jwks.json");
        sp_discovery_keys_clear(&keys);
    }
}
END_TEST

START_TEST(keyid_instance)
{
    const char *const bases[] = {"https://cloud.example.org", "https://cloud.example.org/sub",
                                 "http://127.0.0.1:9200"};
    sp_discovery *d = NULL;
    size_t i = 99;
    ck_assert_int_eq(sp_discovery_create(bases, 3, &d), 0);
    ck_assert_int_eq(sp_discovery_keyid_instance(d, "https://cloud.example.org/ocm#k", &i), 0);
    ck_assert_uint_eq(i, 0);
    /* The longest base wins. */
    ck_assert_int_eq(sp_discovery_keyid_instance(d, "https://cloud.example.org/sub/ocm#k", &i), 0);
    ck_assert_uint_eq(i, 1);
    ck_assert_int_eq(sp_discovery_keyid_instance(d, "http://127.0.0.1:9200#k", &i), 0);
    ck_assert_uint_eq(i, 2);
    /* draft-05 "host#key". */
    ck_assert_int_eq(sp_discovery_keyid_instance(d, "127.0.0.1:9200#key1", &i), 0);
    ck_assert_uint_eq(i, 2);
    /* Two instances on cloud.example.org: the host alone names neither. */
    ck_assert_int_eq(sp_discovery_keyid_instance(d, "cloud.example.org#key1", &i),
                     SP_ERR_NOT_FOUND);
    /* Prefixes that are not the base followed by a separator. */
    ck_assert_int_eq(sp_discovery_keyid_instance(d, "http://127.0.0.1:92001/ocm#k", &i),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(sp_discovery_keyid_instance(d, "https://cloud.example.org.evil/ocm#k", &i),
                     SP_ERR_NOT_FOUND);
    ck_assert_int_eq(sp_discovery_keyid_instance(d, "127.0.0.1:9200", &i), SP_ERR_NOT_FOUND);
    sp_discovery_destroy(d);
}
END_TEST

/* A JWK object's members as sp_httpsig_jwk (borrowed from o). */
static sp_httpsig_jwk jwk_of(json_t *o)
{
#define M(n) json_string_value(json_object_get(o, n))
    return (sp_httpsig_jwk){.kty = M("kty"),
                            .crv = M("crv"),
                            .x = M("x"),
                            .n = M("n"),
                            .e = M("e"),
                            .kid = M("kid"),
                            .alg = M("alg"),
                            .use = M("use")};
#undef M
}

/* Signs a message with priv, and verifies it with pub. */
static int sign_verify(const sp_httpsig_key *priv, const sp_httpsig_key *pub)
{
    const char *covered[] = {"@method", "@target-uri"};
    sp_httpsig_msg m = {
        .scheme = "http", .method = "POST", .authority = "127.0.0.1:9200", .path = "/ocm/shares"};
    sp_httpsig_params p = {.created = 1700000000, .with_alg = 1, .tag = "ocm"};
    sp_buf input = {0}, sig = {0};
    ck_assert_int_eq(sp_httpsig_sign(priv, &m, covered, 2, &p, &input, &sig), 0);
    sp_httpsig_parsed parsed;
    const char *why = NULL;
    ck_assert_int_eq(sp_httpsig_parse_tagged(input.data, sig.data, "ocm", &parsed, &why), 0);
    ck_assert_str_eq(parsed.tag, "ocm");
    int rc = sp_httpsig_verify(&parsed, &m, pub, &why);
    sp_buf_free(&input);
    sp_buf_free(&sig);
    return rc;
}

/* Our key as a JWK, read back, verifies our signatures; as does RSA. */
static void jwk_roundtrip(const char *pem_file, const char *kty, const char *alg)
{
    char *pem = slurp(pem_file, NULL);
    sp_httpsig_key *priv = NULL, *pub = NULL, *dup = NULL;
    ck_assert_int_eq(sp_httpsig_key_from_pem(pem, "http://127.0.0.1:9200/ocm#k1", &priv), 0);
    sp_buf text = {0};
    ck_assert_int_eq(sp_httpsig_key_jwk(priv, &text), 0);
    json_t *o = json_loads(text.data, 0, NULL);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(json_string_value(json_object_get(o, "kty")), kty);
    ck_assert_str_eq(json_string_value(json_object_get(o, "alg")), alg);
    ck_assert_str_eq(json_string_value(json_object_get(o, "kid")), "http://127.0.0.1:9200/ocm#k1");
    ck_assert_ptr_null(json_object_get(o, "d")); /* the private half never leaves */
    sp_httpsig_jwk j = jwk_of(o);
    ck_assert_int_eq(sp_httpsig_key_from_jwk(&j, NULL, &pub), 0);
    ck_assert_str_eq(sp_httpsig_key_id(pub), "http://127.0.0.1:9200/ocm#k1");
    ck_assert_int_eq(sign_verify(priv, pub), 0);
    /* A public key cannot sign. */
    sp_buf a = {0}, b = {0};
    sp_httpsig_msg m = {.method = "GET", .authority = "x", .path = "/"};
    const char *c[] = {"@method"};
    sp_httpsig_params p = {.created = 1};
    ck_assert_int_eq(sp_httpsig_sign(pub, &m, c, 1, &p, &a, &b), SP_ERR_INVALID);
    /* A copy outlives the original. */
    ck_assert_int_eq(sp_httpsig_key_dup(pub, &dup), 0);
    sp_httpsig_key_free(pub);
    ck_assert_int_eq(sign_verify(priv, dup), 0);
    ck_assert_str_eq(sp_httpsig_key_id(dup), "http://127.0.0.1:9200/ocm#k1");
    sp_httpsig_key_free(dup);
    sp_httpsig_key_free(priv);
    json_decref(o);
    sp_buf_free(&text);
    free(pem);
}

START_TEST(jwk_ed25519)
{
    jwk_roundtrip(KEYS "test-key-ed25519.pem", "OKP", "EdDSA");
}
END_TEST

START_TEST(jwk_rsa)
{
    jwk_roundtrip(KEYS "test-key-rsa2048.pem", "RSA", "PS512");
}
END_TEST

/* JWKs that are not keys we verify with. x: 32 zero bytes. */
#define X32 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
static const sp_httpsig_jwk bad_jwks[] = {
    {.kty = "OKP", .crv = "X25519", .x = X32, .kid = "k"},     /* key agreement */
    {.kty = "OKP", .crv = "Ed25519", .x = "AAAA", .kid = "k"}, /* too short */
    {.kty = "OKP", .crv = "Ed25519", .x = X32, .kid = "k", .alg = "ES256"},
    {.kty = "OKP", .crv = "Ed25519", .x = X32, .kid = "k", .use = "enc"},
    {.kty = "OKP", .crv = "Ed25519", .x = X32},                    /* no kid */
    {.kty = "OKP", .crv = "Ed25519", .x = "A!AA" X32, .kid = "k"}, /* not base64url */
    {.kty = "EC", .crv = "P-256", .x = X32, .kid = "k"},           /* not verified here */
    {.kty = "oct", .kid = "k"},                                    /* HMAC */
    {.kty = "RSA", .n = "AQAB", .e = "AQAB", .kid = "k"},          /* 17 bits */
    {.crv = "Ed25519", .x = X32, .kid = "k"},                      /* no kty */
};

START_TEST(jwk_refused)
{
    sp_httpsig_key *k = NULL;
    ck_assert_msg(sp_httpsig_key_from_jwk(&bad_jwks[_i], NULL, &k) == SP_ERR_INVALID,
                  "row %d accepted", _i);
    ck_assert_ptr_null(k);
}
END_TEST

/* An RSA JWK with rsa-v1_5 as its alg is not used for rsa-pss. */
START_TEST(jwk_rsa_wrong_alg)
{
    char *pem = slurp(KEYS "test-key-rsa2048.pem", NULL);
    sp_httpsig_key *priv = NULL, *pub = NULL;
    ck_assert_int_eq(sp_httpsig_key_from_pem(pem, "k", &priv), 0);
    sp_buf text = {0};
    ck_assert_int_eq(sp_httpsig_key_jwk(priv, &text), 0);
    json_t *o = json_loads(text.data, 0, NULL);
    sp_httpsig_jwk j = jwk_of(o);
    j.alg = "RS256";
    ck_assert_int_eq(sp_httpsig_key_from_jwk(&j, NULL, &pub), SP_ERR_INVALID);
    j.alg = NULL; /* alg is optional in a JWK */
    ck_assert_int_eq(sp_httpsig_key_from_jwk(&j, "other-id", &pub), 0);
    ck_assert_str_eq(sp_httpsig_key_id(pub), "other-id");
    sp_httpsig_key_free(pub);
    sp_httpsig_key_free(priv);
    json_decref(o);
    sp_buf_free(&text);
    free(pem);
}
END_TEST

/* A JWKS keeps only the keys whose kid names the instance. */
START_TEST(jwks_kid_scope)
{
    char *pem = slurp(KEYS "test-key-ed25519.pem", NULL);
    sp_httpsig_key *priv = NULL;
    ck_assert_int_eq(sp_httpsig_key_from_pem(pem, "127.0.0.1:9200#key1", &priv), 0);
    sp_buf jwk = {0}, set = {0};
    ck_assert_int_eq(sp_httpsig_key_jwk(priv, &jwk), 0);
    /* The same key under another host's kid, and a kind we skip. */
    char *other = strdup(jwk.data);
    char *at = strstr(other, "127.0.0.1:9200#key1");
    memcpy(at, "127.0.0.1:9201", 14);
    sp_buf_printf(&set, "{\"keys\":[%s,%s,{\"kty\":\"EC\",\"kid\":\"127.0.0.1:9200#ec\"}]}",
                  jwk.data, other);
    sp_discovery_keys keys = {0};
    ck_assert_int_eq(sp_discovery_parse_jwks("http://127.0.0.1:9200", set.data, set.len, &keys), 0);
    ck_assert_uint_eq(keys.count, 1);
    ck_assert_str_eq(sp_httpsig_key_id(keys.keys[0]), "127.0.0.1:9200#key1");
    ck_assert_int_eq(sign_verify(priv, keys.keys[0]), 0);
    ck_assert_int_eq(sp_discovery_parse_jwks("http://127.0.0.1:9200", "{}", 2, &keys),
                     SP_ERR_INVALID);
    sp_discovery_keys_clear(&keys);
    sp_httpsig_key_free(priv);
    sp_buf_free(&jwk);
    sp_buf_free(&set);
    free(other);
    free(pem);
}
END_TEST

static Suite *discovery_suite(void)
{
    Suite *s = suite_create("discovery");
    TCase *tc = tcase_create("documents");
    tcase_add_test(tc, nextcloud);
    tcase_add_test(tc, reva);
    tcase_add_test(tc, opencloud);
    tcase_add_test(tc, spaceport);
    tcase_add_loop_test(tc, refuses_unusable, 0, (int)(sizeof unusable / sizeof unusable[0]));
    tcase_add_test(tc, keyid_instance);
    tcase_add_test(tc, jwks_uri_own_origin);
    suite_add_tcase(s, tc);
    tc = tcase_create("jwk");
    tcase_add_test(tc, jwk_ed25519);
    tcase_add_test(tc, jwk_rsa);
    tcase_add_loop_test(tc, jwk_refused, 0, (int)(sizeof bad_jwks / sizeof bad_jwks[0]));
    tcase_add_test(tc, jwk_rsa_wrong_alg);
    tcase_add_test(tc, jwks_kid_scope);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(discovery_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
