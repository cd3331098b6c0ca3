/*
 * auth.c - the verifier handle: trusted issuers, their keys kept fresh by a
 * background thread, token verification with a cache, opaque tokens through
 * userinfo, readiness and metrics.
 *
 * Threads. Worker threads call sp_auth_verify concurrently. One refresh
 * thread owns all talk to issuers about keys: discovery and JWKS at start,
 * every SP_AUTH_REFRESH_MS, with backoff while an issuer is down, and when a
 * worker meets an unknown kid (at most once per SP_AUTH_KID_REFETCH_MS per
 * issuer, so random kids cannot make us hammer an issuer). The worker that
 * asked waits for that one refetch and tries again; others are refused at
 * once. Key sets are swapped under auth->lock and shared by reference count
 * (sp_auth_keyset), never by cjose's non-atomic retain/release.
 *
 * Keys per issuer. A token's iss, read before its signature is checked,
 * names the one trusted issuer whose keys may verify it; a token naming no
 * trusted issuer is refused before any key is tried. Trying every issuer's
 * keys instead would let one issuer decide about another's users: keys it
 * publishes under their kid (their issuer's own public key, or junk) would
 * be tried first and could crowd out the real one. Nothing else of the
 * payload is used before the signature holds, and iss is checked again
 * with the other claims after it.
 */
#include "auth/internal.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Room for the reason a fetch failed, for /readyz and logs. */
#define ISSUER_ERROR_MAX 160

typedef struct sp_issuer {
    char *url; /* exactly as configured; immutable */
    /* Guarded by auth->lock: */
    char *jwks_uri;           /* from discovery, NULL until it answered */
    char *userinfo;           /* from discovery, NULL when it has none */
    int opaque;               /* may be asked about opaque tokens; immutable */
    int email_trusted;        /* verifies every address it sends; immutable */
    sp_auth_keyset *keys;     /* NULL until the first JWKS arrived */
    int64_t next_fetch_mono;  /* when the refresh thread fetches next */
    int64_t kid_refetch_mono; /* last refetch for an unknown kid, 0 = never */
    int64_t retry_ms;         /* current backoff while failing */
    uint64_t want;            /* refetches asked for by workers (a count) */
    uint64_t done;            /* value of want the last finished fetch served */
    char error[ISSUER_ERROR_MAX];
    /* Metrics: */
    atomic_ulong fetch_ok, fetch_err;
} sp_issuer;

struct sp_auth {
    char *audience; /* NULL: aud not checked */
    char *user_claim;
    char *roles_claim;
    char *groups_claim;
    size_t n_issuers;
    sp_issuer issuers[SP_STRLIST_MAX];
    sp_auth_cache *cache; /* NULL with SP_AUTH_NO_CACHE */

    pthread_mutex_t lock;
    pthread_cond_t wake;    /* the refresh thread waits here (monotonic) */
    pthread_cond_t fetched; /* workers wait here for a refetch (monotonic) */
    pthread_t thread;
    int thread_started;
    atomic_int stop;     /* also cancels a fetch in flight */
    int refetch_waiters; /* workers blocked in refetch_for_unknown_kid */

    atomic_ulong accepted, rejected, unavailable, cache_hits, userinfo_calls;
};

/* --- time helpers --- */

static void abs_mono(int64_t mono_ms, struct timespec *ts)
{
    ts->tv_sec = (time_t)(mono_ms / 1000);
    ts->tv_nsec = (long)(mono_ms % 1000) * 1000000L;
}

/* --- create / destroy --- */

/* Returns non-zero when list holds url exactly. */
static int listed(const sp_strlist *list, const char *url)
{
    for (size_t j = 0; list && j < list->count; j++)
        if (strcmp(list->items[j], url) == 0)
            return 1;
    return 0;
}

static int copy_options(sp_auth *a, const sp_auth_options *opt)
{
    if (opt->audience && !(a->audience = strdup(opt->audience)))
        return SP_ERR_NOMEM;
    a->user_claim = strdup(opt->user_claim ? opt->user_claim : "preferred_username");
    a->roles_claim = strdup(opt->roles_claim ? opt->roles_claim : "roles");
    a->groups_claim = strdup(opt->groups_claim ? opt->groups_claim : "groups");
    if (!a->user_claim || !a->roles_claim || !a->groups_claim)
        return SP_ERR_NOMEM;
    size_t n = opt->issuers ? opt->issuers->count : 0;
    for (size_t i = 0; i < n && i < SP_STRLIST_MAX; i++) {
        sp_issuer *is = &a->issuers[i];
        if (!(is->url = strdup(opt->issuers->items[i])))
            return SP_ERR_NOMEM;
        snprintf(is->error, sizeof is->error, "not fetched yet");
        is->retry_ms = SP_AUTH_RETRY_MIN_MS;
        /* Opaque tokens reveal nothing of their issuer: only the issuers
         * the operator names see them. Unnamed, the only issuer does; of
         * several, none, since sending a token to each would show every
         * issuer the tokens meant for the others. */
        is->opaque = opt->opaque_issuers ? listed(opt->opaque_issuers, is->url) : n == 1;
        is->email_trusted = listed(opt->email_verified_issuers, is->url);
        a->n_issuers++;
    }
    return 0;
}

/* Returns a new, zeroed handle with its locks, or NULL. */
static sp_auth *auth_alloc(void)
{
    sp_auth *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->wake, &attr);
    pthread_cond_init(&a->fetched, &attr);
    pthread_condattr_destroy(&attr);
    return a;
}

void sp_auth_destroy(sp_auth *a)
{
    if (!a)
        return;
    if (a->thread_started) {
        pthread_mutex_lock(&a->lock);
        atomic_store(&a->stop, 1);
        pthread_cond_broadcast(&a->wake);
        pthread_mutex_unlock(&a->lock);
        pthread_join(a->thread, NULL);
    }
    for (size_t i = 0; i < a->n_issuers; i++) {
        sp_issuer *is = &a->issuers[i];
        free(is->url);
        free(is->jwks_uri);
        free(is->userinfo);
        sp_auth__keyset_release(is->keys);
    }
    sp_auth__cache_destroy(a->cache);
    free(a->audience);
    free(a->user_claim);
    free(a->roles_claim);
    free(a->groups_claim);
    pthread_cond_destroy(&a->wake);
    pthread_cond_destroy(&a->fetched);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

/* --- the refresh thread --- */

/* Builds "<issuer>/.well-known/openid-configuration" (a terminating '/' of
 * the issuer is dropped first, OpenID Discovery section 4.1). New string. */
static char *discovery_url(const char *issuer)
{
    static const char suffix[] = "/.well-known/openid-configuration";
    size_t n = strlen(issuer);
    if (n && issuer[n - 1] == '/')
        n--;
    char *u = malloc(n + sizeof suffix);
    if (u) {
        memcpy(u, issuer, n);
        memcpy(u + n, suffix, sizeof suffix);
    }
    return u;
}

/*
 * Fetches discovery and the JWKS of issuer url (no lock held). On 0,
 * *jwks_uri, *userinfo and *keys are new. On failure writes the reason into
 * error (errlen bytes).
 */
static int fetch_issuer(sp_auth *a, const char *url, char **jwks_uri, char **userinfo,
                        sp_auth_keyset **keys, char *error, size_t errlen)
{
    *jwks_uri = *userinfo = NULL;
    *keys = NULL;
    const char *why = NULL;
    long status = 0;
    sp_buf body = {0};
    int rc = SP_ERR_NOMEM;
    char *disc = discovery_url(url);
    if (!disc)
        goto fail;
    rc = sp_auth__fetch(disc, NULL, &a->stop, &status, &body, &why);
    if (rc == 0 && status != 200) {
        rc = SP_ERR_UNAVAILABLE;
        snprintf(error, errlen, "discovery answered HTTP %ld", status);
        goto fail;
    }
    if (rc < 0) {
        snprintf(error, errlen, "discovery: %s", why ? why : sp_err_str(rc));
        goto fail;
    }
    rc = sp_auth__discovery_parse(body.data, body.len, url, jwks_uri, userinfo, &why);
    if (rc < 0) {
        snprintf(error, errlen, "discovery: %s", why ? why : sp_err_str(rc));
        goto fail;
    }
    sp_buf_reset(&body);
    rc = sp_auth__fetch(*jwks_uri, NULL, &a->stop, &status, &body, &why);
    if (rc == 0 && status != 200) {
        rc = SP_ERR_UNAVAILABLE;
        snprintf(error, errlen, "JWKS answered HTTP %ld", status);
        goto fail;
    }
    if (rc < 0) {
        snprintf(error, errlen, "JWKS: %s", why ? why : sp_err_str(rc));
        goto fail;
    }
    rc = sp_auth__keyset_parse(body.data, body.len, keys, &why);
    if (rc < 0) {
        snprintf(error, errlen, "JWKS: %s", why ? why : sp_err_str(rc));
        goto fail;
    }
    sp_buf_free(&body);
    free(disc);
    return 0;

fail:
    free(*jwks_uri);
    free(*userinfo);
    *jwks_uri = *userinfo = NULL;
    sp_buf_free(&body);
    free(disc);
    return rc;
}

/* Fetches issuer i and installs the result. Called with the lock held;
 * drops it around the network calls. */
static void refresh_issuer(sp_auth *a, size_t i)
{
    sp_issuer *is = &a->issuers[i];
    char error[ISSUER_ERROR_MAX] = "";
    char *jwks_uri = NULL, *userinfo = NULL;
    sp_auth_keyset *keys = NULL;
    uint64_t serving = is->want;
    int was_requested = is->want > is->done;

    pthread_mutex_unlock(&a->lock);
    int rc = fetch_issuer(a, is->url, &jwks_uri, &userinfo, &keys, error, sizeof error);
    pthread_mutex_lock(&a->lock);
    if (atomic_load(&a->stop)) {
        /* Shutting down: the fetch was cancelled or is not needed. */
        free(jwks_uri);
        free(userinfo);
        sp_auth__keyset_release(keys);
        return;
    }

    int64_t now = sp_time_mono_ms();
    sp_auth_keyset *old = NULL;
    if (rc == 0) {
        atomic_fetch_add(&is->fetch_ok, 1);
        int first = is->keys == NULL;
        old = is->keys;
        is->keys = keys;
        free(is->jwks_uri);
        free(is->userinfo);
        is->jwks_uri = jwks_uri;
        is->userinfo = userinfo;
        is->error[0] = '\0';
        is->retry_ms = SP_AUTH_RETRY_MIN_MS;
        is->next_fetch_mono = now + SP_AUTH_REFRESH_MS;
        sp_log(first ? SP_LOG_INFO : SP_LOG_DEBUG, "auth",
               "issuer %s: %zu usable keys (%zu skipped)%s", is->url, keys->count, keys->dropped,
               was_requested ? " after an unknown kid" : "");
    } else {
        atomic_fetch_add(&is->fetch_err, 1);
        snprintf(is->error, sizeof is->error, "%s", error);
        is->next_fetch_mono = now + is->retry_ms;
        sp_log(is->keys ? SP_LOG_WARN : SP_LOG_INFO, "auth",
               "issuer %s unreachable: %s (next try in %lld ms%s)", is->url, error,
               (long long)is->retry_ms, is->keys ? "; keeping the keys we have" : "");
        is->retry_ms =
            is->retry_ms * 2 > SP_AUTH_RETRY_MAX_MS ? SP_AUTH_RETRY_MAX_MS : is->retry_ms * 2;
    }
    /* A request that arrived during this fetch stays pending: the fetch
     * may have started before the key it looks for was published. */
    if (serving > is->done)
        is->done = serving;
    pthread_cond_broadcast(&a->fetched);
    /* The old set may still be in use by a worker; the count decides. */
    sp_auth__keyset_release(old);
}

static void *refresh_main(void *arg)
{
    sp_auth *a = arg;
    pthread_mutex_lock(&a->lock);
    while (!atomic_load(&a->stop)) {
        int64_t now = sp_time_mono_ms();
        int64_t next = now + SP_AUTH_REFRESH_MS;
        int did = 0;
        for (size_t i = 0; i < a->n_issuers && !atomic_load(&a->stop); i++) {
            sp_issuer *is = &a->issuers[i];
            if (is->want > is->done || now >= is->next_fetch_mono) {
                refresh_issuer(a, i);
                did = 1;
            }
        }
        if (did)
            continue; /* the clock moved while fetching: look again */
        for (size_t i = 0; i < a->n_issuers; i++)
            if (a->issuers[i].next_fetch_mono < next)
                next = a->issuers[i].next_fetch_mono;
        struct timespec ts;
        abs_mono(next, &ts);
        int pending = 0;
        for (size_t i = 0; i < a->n_issuers; i++)
            pending |= a->issuers[i].want > a->issuers[i].done;
        if (!pending && !atomic_load(&a->stop))
            pthread_cond_timedwait(&a->wake, &a->lock, &ts);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

int sp_auth_create(const sp_auth_options *opt, sp_auth **out)
{
    *out = NULL;
    sp_auth *a = auth_alloc();
    if (!a)
        return SP_ERR_NOMEM;
    int rc = copy_options(a, opt);
    if (rc == 0)
        rc = sp_auth__cache_create(SP_AUTH_CACHE_ENTRIES, &a->cache);
    if (rc < 0)
        goto fail;
    if (pthread_create(&a->thread, NULL, refresh_main, a) != 0) {
        rc = SP_ERR_NOMEM;
        goto fail;
    }
    a->thread_started = 1;
    *out = a;
    return 0;
fail:
    sp_auth_destroy(a);
    return rc;
}

int sp_auth__create_static(const sp_auth_options *opt, const char *const *jwks, size_t n, unsigned flags,
                           sp_auth **out)
{
    *out = NULL;
    sp_auth *a = auth_alloc();
    if (!a)
        return SP_ERR_NOMEM;
    int rc = copy_options(a, opt);
    if (rc == 0 && !(flags & SP_AUTH_NO_CACHE))
        rc = sp_auth__cache_create(SP_AUTH_CACHE_ENTRIES, &a->cache);
    for (size_t i = 0; rc == 0 && i < a->n_issuers && i < n; i++) {
        const char *why = NULL;
        sp_issuer *is = &a->issuers[i];
        if (!jwks[i])
            continue;
        rc = sp_auth__keyset_parse(jwks[i], strlen(jwks[i]), &is->keys, &why);
        if (rc == 0)
            is->error[0] = '\0';
    }
    if (rc < 0) {
        sp_auth_destroy(a);
        return rc;
    }
    /* No thread: an unknown kid is refused without waiting. */
    for (size_t i = 0; i < a->n_issuers; i++)
        a->issuers[i].kid_refetch_mono = INT64_MAX / 2;
    *out = a;
    return 0;
}

/* --- verification --- */

/* Returns issuer i's current key set with a reference taken, or NULL when
 * none has arrived yet. */
static sp_auth_keyset *issuer_keys(sp_auth *a, size_t i)
{
    pthread_mutex_lock(&a->lock);
    sp_auth_keyset *ks = a->issuers[i].keys;
    if (ks)
        sp_auth__keyset_retain(ks);
    pthread_mutex_unlock(&a->lock);
    return ks;
}

/*
 * Collects the keys of ks (one issuer's set, NULL is ok) that may verify a
 * token with header hdr into cand (at most SP_AUTH_CANDIDATES_MAX): the
 * keys with the token's kid, or, for a kid-less token, every key; either
 * way only those fitting its alg. Sets *kid_known when the kid names a key
 * of ks.
 */
static size_t find_candidates(const sp_auth_keyset *ks, const sp_jwt_header *hdr,
                              const sp_auth_key **cand, int *kid_known)
{
    size_t n = 0;
    *kid_known = 0;
    for (size_t k = 0; ks && k < ks->count; k++) {
        const sp_auth_key *key = &ks->keys[k];
        if (hdr->has_kid) {
            if (!key->has_kid || strcmp(key->kid, hdr->kid) != 0)
                continue;
            *kid_known = 1;
        }
        if (sp_auth__key_fits(key, hdr->alg) && n < SP_AUTH_CANDIDATES_MAX)
            cand[n++] = key;
    }
    return n;
}

/*
 * Asks the refresh thread to refetch issuer i, when its kid-refetch budget
 * allows it, and waits (bounded) for that fetch. Other issuers are never
 * asked: a kid one issuer does not know is no business of the others.
 * Returns non-zero when a refetch happened, so that looking again is worth
 * it.
 */
static int refetch_for_unknown_kid(sp_auth *a, size_t i, const char *kid)
{
    sp_issuer *is = &a->issuers[i];
    uint64_t target;
    pthread_mutex_lock(&a->lock);
    int64_t now = sp_time_mono_ms();
    if (is->want > is->done) {
        target = is->want; /* asked for already: share that fetch */
    } else if (a->thread_started && (is->kid_refetch_mono == 0 ||
                                     now - is->kid_refetch_mono >= SP_AUTH_KID_REFETCH_MS)) {
        is->kid_refetch_mono = now;
        target = ++is->want;
    } else {
        pthread_mutex_unlock(&a->lock);
        sp_debug("auth", "unknown kid %s of %s: refetch budget spent, not asking", kid, is->url);
        return 0;
    }
    pthread_cond_broadcast(&a->wake);
    if (a->refetch_waiters >= SP_AUTH_REFETCH_WAITERS_MAX) {
        pthread_mutex_unlock(&a->lock);
        sp_debug("auth", "unknown kid %s of %s: a refetch is under way; not waiting for it", kid,
                 is->url);
        return 0;
    }
    a->refetch_waiters++;
    sp_info("auth", "unknown kid %s of %s: refetching its keys", kid, is->url);
    struct timespec ts;
    abs_mono(now + SP_AUTH_REFETCH_WAIT_MS, &ts);
    while (is->done < target && !atomic_load(&a->stop))
        if (pthread_cond_timedwait(&a->fetched, &a->lock, &ts) == ETIMEDOUT)
            break;
    a->refetch_waiters--;
    pthread_mutex_unlock(&a->lock);
    return 1;
}

/* Returns the index of the trusted issuer iss names exactly, or -1. */
static long issuer_named(const sp_auth *a, const sp_claim_str *iss)
{
    for (size_t i = 0; i < a->n_issuers; i++)
        if (sp_auth__claim_is(iss, a->issuers[i].url))
            return (long)i;
    return -1;
}

/* Verifies a JWS-shaped token. Returns 0 with *id filled, SP_ERR_UNAUTHORIZED
 * or SP_ERR_NOMEM. */
static int verify_jws(sp_auth *a, const char *token, sp_identity *id)
{
    const char *why = NULL;
    sp_jwt_header hdr;
    if (sp_auth__jwt_preparse(token, &hdr, &why) < 0) {
        sp_info("auth", "token refused: %s", why);
        return SP_ERR_UNAUTHORIZED;
    }
    /* The payload is decoded and read once, here: its iss chooses the keys.
     * The other claims wait until the signature holds. */
    char text[SP_AUTH_PAYLOAD_MAX];
    sp_claims_want want = {a->audience, a->user_claim, a->roles_claim, a->groups_claim};
    sp_claims claims = {0};
    sp_auth_keyset *keys = NULL;
    int rc = sp_auth__jws_claims(token, &hdr, &want, text, &claims, &why);
    if (rc < 0)
        goto done;
    rc = SP_ERR_UNAUTHORIZED;
    long issuer = issuer_named(a, &claims.iss);
    if (issuer < 0) {
        why = "iss missing or not a trusted issuer";
        goto done;
    }
    const sp_auth_key *cand[SP_AUTH_CANDIDATES_MAX];
    int kid_known = 0;
    keys = issuer_keys(a, (size_t)issuer);
    size_t n = find_candidates(keys, &hdr, cand, &kid_known);
    if (hdr.has_kid && !kid_known) {
        sp_auth__keyset_release(keys);
        keys = NULL;
        if (refetch_for_unknown_kid(a, (size_t)issuer, hdr.kid)) {
            keys = issuer_keys(a, (size_t)issuer);
            n = find_candidates(keys, &hdr, cand, &kid_known);
        }
    }
    if (n == 0) {
        /* Also when the issuer is down: its tokens are refused until its
         * keys arrive (the log and /readyz say so). */
        if (!keys)
            why = "the issuer's keys are not loaded";
        else
            why = hdr.has_kid && !kid_known ? "unknown kid" : "no key of the issuer fits the alg";
        goto done;
    }
    for (size_t c = 0; c < n; c++) {
        rc = sp_auth__jws_verify(token, &hdr, cand[c], &why);
        if (rc == 0 || rc == SP_ERR_NOMEM)
            break;
    }
    if (rc < 0)
        goto done;
    /* The signature holds: now, and only now, the claims count. */
    const sp_issuer *is = &a->issuers[issuer];
    int64_t now_ms = sp_time_now_ms();
    rc = sp_auth__claims_accept(&claims, is->url, a->audience, (double)now_ms / 1000.0, &why);
    if (rc == 0)
        rc = sp_auth__claims_identity(&claims, is->url, is->email_trusted, id, &why);
    if (rc == 0) {
        /* exp is finite (checked) and within leeway of now or later; a
         * value beyond any real date is clamped rather than overflowing. */
        double exp_ms = claims.exp * 1000.0;
        id->expires_at_ms = exp_ms > 9e15 ? (int64_t)9e15 : (int64_t)exp_ms;
    }
done:
    sp_auth__claims_clear(&claims);
    sp_auth__keyset_release(keys);
    if (rc < 0)
        sp_info("auth", "token refused (alg %s, kid %s): %s", sp_auth__alg_name(hdr.alg),
                hdr.has_kid ? hdr.kid : "-", why ? why : sp_err_str(rc));
    return rc;
}

/*
 * Checks an opaque token at the userinfo endpoints of the issuers, in
 * configured order; the first that answers 200 with a sub speaks for it.
 * Returns 0, SP_ERR_UNAUTHORIZED (every issuer that answered said no) or
 * SP_ERR_UNAVAILABLE (none could be asked).
 */
static int verify_opaque(sp_auth *a, const char *token, sp_identity *id)
{
    char *endpoints[SP_STRLIST_MAX] = {0};
    int rc = SP_ERR_NOMEM;
    int allowed = 0;
    for (size_t i = 0; i < a->n_issuers; i++)
        allowed += a->issuers[i].opaque;
    if (!allowed) {
        sp_info("auth", "opaque token refused: no issuer may be asked about opaque tokens "
                        "(SPACEPORT_OIDC_OPAQUE_ISSUERS)");
        return SP_ERR_UNAUTHORIZED;
    }
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->n_issuers; i++) {
        if (a->issuers[i].opaque && a->issuers[i].userinfo &&
            !(endpoints[i] = strdup(a->issuers[i].userinfo))) {
            pthread_mutex_unlock(&a->lock);
            goto done;
        }
    }
    pthread_mutex_unlock(&a->lock);

    int refused = 0;
    rc = SP_ERR_UNAVAILABLE;
    for (size_t i = 0; i < a->n_issuers; i++) {
        if (!endpoints[i])
            continue;
        const char *why = NULL;
        long status = 0;
        sp_buf body = {0};
        atomic_fetch_add(&a->userinfo_calls, 1);
        int r = sp_auth__fetch(endpoints[i], token, NULL, &status, &body, &why);
        if (r == SP_ERR_NOMEM) {
            sp_buf_free(&body);
            rc = r;
            goto done;
        }
        if (r < 0 || status >= 500 || (status != 200 && status != 401 && status != 403)) {
            sp_info("auth", "userinfo of %s: %s", a->issuers[i].url,
                    r < 0 ? why : "unexpected HTTP status");
            sp_buf_free(&body);
            continue;
        }
        if (status != 200) {
            refused = 1;
            sp_buf_free(&body);
            continue;
        }
        json_error_t jerr;
        json_t *claims = json_loadb(body.data, body.len, JSON_REJECT_DUPLICATES, &jerr);
        sp_buf_free(&body);
        if (!claims || !json_is_object(claims)) {
            json_decref(claims);
            sp_info("auth", "userinfo of %s is not a JSON object", a->issuers[i].url);
            refused = 1;
            continue;
        }
        sp_claims_want want = {NULL, a->user_claim, a->roles_claim, a->groups_claim};
        r = sp_auth__identity_from_claims(claims, a->issuers[i].url, a->issuers[i].email_trusted,
                                          &want, id, &why);
        json_decref(claims);
        if (r < 0) {
            sp_info("auth", "userinfo of %s unusable: %s", a->issuers[i].url, why);
            refused = 1;
            continue;
        }
        id->expires_at_ms = sp_time_now_ms() + SP_AUTH_USERINFO_TTL_MS;
        rc = 0;
        goto done;
    }
    if (refused) {
        sp_info("auth", "opaque token refused by the userinfo endpoints");
        rc = SP_ERR_UNAUTHORIZED;
    } else {
        sp_info("auth", "opaque token: no userinfo endpoint could be asked");
    }
done:
    for (size_t i = 0; i < a->n_issuers; i++)
        free(endpoints[i]);
    return rc;
}

int sp_auth_verify(sp_auth *a, const char *token, sp_identity *id)
{
    enum sp_auth_token_kind kind = sp_auth__token_kind(token);
    if (kind == SP_TOKEN_INVALID) {
        sp_info("auth", "token refused: empty, larger than 8 KiB or not a bearer token");
        atomic_fetch_add(&a->rejected, 1);
        return SP_ERR_UNAUTHORIZED;
    }
    uint8_t hash[SP_AUTH_HASH_LEN];
    int64_t now_ms = sp_time_now_ms();
    if (a->cache) {
        sp_auth__hash_token(token, strlen(token), hash);
        int hit = sp_auth__cache_get(a->cache, hash, now_ms, id);
        if (hit) {
            atomic_fetch_add(&a->cache_hits, 1);
            atomic_fetch_add(hit > 0 ? &a->accepted : &a->rejected, 1);
            if (hit < 0)
                sp_debug("auth", "opaque token refused (cached answer)");
            return hit > 0 ? 0 : SP_ERR_UNAUTHORIZED;
        }
    }
    int rc = kind == SP_TOKEN_JWS ? verify_jws(a, token, id) : verify_opaque(a, token, id);
    if (rc == 0) {
        atomic_fetch_add(&a->accepted, 1);
        if (a->cache) {
            /* Until exp, but not past one key refresh period. */
            int64_t until = id->expires_at_ms;
            if (until > now_ms + SP_AUTH_CACHE_TTL_MAX_MS)
                until = now_ms + SP_AUTH_CACHE_TTL_MAX_MS;
            sp_auth__cache_put(a->cache, hash, id, until, now_ms);
        }
        return 0;
    }
    if (rc == SP_ERR_UNAVAILABLE || rc == SP_ERR_NOMEM) {
        atomic_fetch_add(&a->unavailable, 1);
        return SP_ERR_UNAVAILABLE;
    }
    atomic_fetch_add(&a->rejected, 1);
    /* Userinfo said no: remember it, so that replaying the token does not
     * make us ask again. A JWS refusal costs no one else anything. */
    if (kind == SP_TOKEN_OPAQUE && a->cache)
        sp_auth__cache_put(a->cache, hash, NULL, now_ms + SP_AUTH_USERINFO_TTL_MS, now_ms);
    return SP_ERR_UNAUTHORIZED;
}

/* --- readiness and metrics --- */

int sp_auth_ready(sp_auth *a, char *why, size_t whylen)
{
    int rc = 0;
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->n_issuers; i++) {
        if (!a->issuers[i].keys) {
            if (why && whylen)
                snprintf(why, whylen, "issuer %s unreachable", a->issuers[i].url);
            rc = SP_ERR_UNAVAILABLE;
            break;
        }
    }
    pthread_mutex_unlock(&a->lock);
    return rc;
}

/* Appends s as a Prometheus label value (\\, \" and \n escaped). */
static int label_escape(sp_buf *out, const char *s)
{
    int rc = 0;
    for (; *s && rc == 0; s++) {
        if (*s == '\\' || *s == '"')
            rc = sp_buf_printf(out, "\\%c", *s);
        else if (*s == '\n')
            rc = sp_buf_puts(out, "\\n");
        else
            rc = sp_buf_append(out, s, 1);
    }
    return rc;
}

int sp_auth_metrics(sp_auth *a, sp_buf *out)
{
    int rc = sp_buf_printf(
        out,
        "# HELP spaceport_auth_verifications_total Bearer token checks by result.\n"
        "# TYPE spaceport_auth_verifications_total counter\n"
        "spaceport_auth_verifications_total{result=\"accepted\"} %lu\n"
        "spaceport_auth_verifications_total{result=\"rejected\"} %lu\n"
        "spaceport_auth_verifications_total{result=\"unavailable\"} %lu\n"
        "# HELP spaceport_auth_cache_hits_total Token checks answered from the cache.\n"
        "# TYPE spaceport_auth_cache_hits_total counter\n"
        "spaceport_auth_cache_hits_total %lu\n"
        "# HELP spaceport_auth_userinfo_requests_total Opaque tokens sent to a userinfo "
        "endpoint.\n"
        "# TYPE spaceport_auth_userinfo_requests_total counter\n"
        "spaceport_auth_userinfo_requests_total %lu\n"
        "# HELP spaceport_auth_key_fetches_total Discovery and JWKS fetches by issuer and "
        "result.\n"
        "# TYPE spaceport_auth_key_fetches_total counter\n",
        atomic_load(&a->accepted), atomic_load(&a->rejected), atomic_load(&a->unavailable),
        atomic_load(&a->cache_hits), atomic_load(&a->userinfo_calls));
    for (size_t i = 0; rc == 0 && i < a->n_issuers; i++) {
        const sp_issuer *is = &a->issuers[i];
        static const char *const results[2] = {"ok", "error"};
        unsigned long counts[2] = {atomic_load(&is->fetch_ok), atomic_load(&is->fetch_err)};
        for (int r = 0; rc == 0 && r < 2; r++) {
            rc = sp_buf_puts(out, "spaceport_auth_key_fetches_total{issuer=\"");
            if (rc == 0)
                rc = label_escape(out, is->url);
            if (rc == 0)
                rc = sp_buf_printf(out, "\",result=\"%s\"} %lu\n", results[r], counts[r]);
        }
    }
    if (rc == 0)
        rc = sp_buf_puts(out, "# HELP spaceport_auth_issuer_keys Usable keys per issuer "
                              "(absent until its JWKS was fetched).\n"
                              "# TYPE spaceport_auth_issuer_keys gauge\n");
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; rc == 0 && i < a->n_issuers; i++) {
        const sp_issuer *is = &a->issuers[i];
        if (!is->keys)
            continue;
        rc = sp_buf_puts(out, "spaceport_auth_issuer_keys{issuer=\"");
        if (rc == 0)
            rc = label_escape(out, is->url);
        if (rc == 0)
            rc = sp_buf_printf(out, "\"} %zu\n", is->keys->count);
    }
    pthread_mutex_unlock(&a->lock);
    return rc;
}
