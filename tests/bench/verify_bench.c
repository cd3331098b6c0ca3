/*
 * verify_bench.c - how many tokens per second the verifier checks on a
 * cache miss, on one thread, to compare with `openssl speed rsa2048`
 * (verify/s, also one thread) in tests/bench/auth.sh.
 *
 * An RSA 2048 key is generated, its JWKS given to a verifier built with
 * sp_auth__create_static(SP_AUTH_NO_CACHE), and one RS256 token is verified
 * in a loop: every iteration is the full path (pre-parse, key choice,
 * signature, payload, claims, identity). A second loop with the cache on
 * shows what a repeated token costs.
 *
 * Rates are divided by the CPU time of this thread, as `openssl speed`
 * divides by its CPU user time (unless given -elapsed): on a machine shared
 * with other work, wall-clock time would count the time other processes
 * held the core against us and not against openssl. The wall-clock rate of
 * the miss loop is printed too.
 *
 *   verify_bench [seconds]   prints "miss_per_s N", "miss_per_s_wall N"
 *                            and "hit_per_s N"
 */
#include "auth/internal.h"
#include "config.h"

#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

#include <cjose/header.h>
#include <cjose/jws.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ISSUER "https://idp.bench.test"
/* Default measuring time per loop: long enough to smooth out frequency
 * scaling, as openssl speed's -seconds 3 in auth.sh. */
#define BENCH_DEFAULT_SECONDS 3
/* Iterations between two clock reads; the clock is cheap, not free. */
#define BENCH_BATCH 256

/* Returns a new JWKS text with key's public part under kid "bench". */
static char *jwks_of(cjose_jwk_t *key)
{
    cjose_err err;
    char *pub = cjose_jwk_to_json(key, false, &err);
    json_t *jwk = pub ? json_loads(pub, 0, NULL) : NULL;
    free(pub);
    if (!jwk)
        return NULL;
    json_object_set_new(jwk, "kid", json_string("bench"));
    json_t *root = json_pack("{s:[o]}", "keys", jwk);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

/* Returns a new RS256 token for sub, valid for an hour. */
static char *token_of(cjose_jwk_t *key)
{
    cjose_err err;
    long long now = (long long)(sp_time_now_ms() / 1000);
    char payload[512];
    snprintf(payload, sizeof payload,
             "{\"iss\":\"%s\",\"sub\":\"3f1c2a9e-bench\",\"aud\":\"spaceport\",\"iat\":%lld,"
             "\"exp\":%lld,\"preferred_username\":\"bench\",\"name\":\"Bench User\","
             "\"email\":\"bench@idp.bench.test\",\"email_verified\":true,\"roles\":[\"user\"]}",
             ISSUER, now, now + 3600);
    json_t *hdr = json_pack("{s:s,s:s,s:s}", "alg", "RS256", "kid", "bench", "typ", "at+jwt");
    cjose_jws_t *jws =
        cjose_jws_sign(key, (cjose_header_t *)hdr, (const uint8_t *)payload, strlen(payload), &err);
    json_decref(hdr);
    const char *ser = NULL;
    char *out = jws && cjose_jws_export(jws, &ser, &err) ? strdup(ser) : NULL;
    cjose_jws_release(jws);
    return out;
}

/* CPU time of the calling thread in nanoseconds. */
static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Verifies token in a loop for seconds of CPU time; returns verifications
 * per CPU second (and per wall-clock second in *wall), or -1 when one of
 * them failed. */
static double run(sp_auth *auth, const char *token, int seconds, double *wall)
{
    sp_identity id;
    int64_t start = thread_cpu_ns(), wall_start = sp_time_mono_ns();
    int64_t end = start + (int64_t)seconds * 1000000000LL;
    long n = 0;
    int64_t now;
    do {
        for (int i = 0; i < BENCH_BATCH; i++)
            if (sp_auth_verify(auth, token, &id) < 0)
                return -1;
        n += BENCH_BATCH;
        now = thread_cpu_ns();
    } while (now < end);
    *wall = (double)n * 1e9 / (double)(sp_time_mono_ns() - wall_start);
    return (double)n * 1e9 / (double)(now - start);
}

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : BENCH_DEFAULT_SECONDS;
    if (seconds <= 0)
        seconds = BENCH_DEFAULT_SECONDS;
    sp_log_set_level(SP_LOG_WARN);
    json_object_seed(0);

    int code = EXIT_FAILURE;
    cjose_err err;
    static const uint8_t e[] = {1, 0, 1};
    char *jwks = NULL, *token = NULL;
    sp_auth *miss = NULL, *hit = NULL;
    cjose_jwk_t *key = cjose_jwk_create_RSA_random(2048, e, sizeof e, &err);
    if (!key)
        goto done;
    jwks = jwks_of(key);
    token = token_of(key);
    if (!jwks || !token)
        goto done;

    char *issuers[1] = {(char *)ISSUER};
    sp_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.oidc_issuers.items[0] = issuers[0];
    cfg.oidc_issuers.count = 1;
    cfg.oidc_audience = (char *)"spaceport";
    const char *sets[1] = {jwks};
    sp_auth_options opt = sp_config_auth_options(&cfg);
    if (sp_auth__create_static(&opt, sets, 1, SP_AUTH_NO_CACHE, &miss) < 0 ||
        sp_auth__create_static(&opt, sets, 1, 0, &hit) < 0)
        goto done;

    double mw = 0, hw = 0;
    double m = run(miss, token, seconds, &mw);
    double h = run(hit, token, 1, &hw);
    if (m < 0 || h < 0) {
        fprintf(stderr, "verify_bench: the token did not verify\n");
        goto done;
    }
    printf("miss_per_s %.0f\nmiss_per_s_wall %.0f\nhit_per_s %.0f\n", m, mw, h);
    code = EXIT_SUCCESS;
done:
    sp_auth_destroy(miss);
    sp_auth_destroy(hit);
    free(jwks);
    free(token);
    cjose_jwk_release(key);
    return code;
}
