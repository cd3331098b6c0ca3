#!/usr/bin/python3
"""Bearer tokens against the real program.

1. The corpus tests/data/tokens/cases.json: every case is minted by the
   adversarial issuer (issuer.py) and sent to GET /graph/v1.0/me; the status
   must be the expected one, and a 401 must carry
   WWW-Authenticate: Bearer error="invalid_token" and no detail.
2. Identity: user name, display name, e-mail and roles from the claims.
3. Behaviour: key rotation (accepted after one refetch), a flood of random
   kids (JWKS fetches bounded), an issuer down at start (/readyz names it,
   then recovers), a discovery document naming another issuer.
"""
import json
import os
import re
import threading
import time
import uuid

from harness import SOURCE_ROOT, TAP, Nats, Spaceport, wait_until
from issuer import TestIssuer

AUDIENCE = 'spaceport'
CASES = os.path.join(SOURCE_ROOT, 'tests', 'data', 'tokens', 'cases.json')
ME = '/graph/v1.0/me'
INVALID = 'Bearer error="invalid_token"'
REALM = 'Bearer realm="spaceport"'
# Refetches for unknown kids are rate-limited to one per 30 s per issuer;
# a flood may cause at most that one fetch on top of the start-up one.
FLOOD_FETCHES_MAX = 2


def corpus_issuers():
    """Issuer A with usable and unusable keys, issuer B with one key."""
    a = TestIssuer(keys=[('rsa1', 'RSA'), ('rsa2', 'RSA'), ('ec1', 'EC')], audience=AUDIENCE)
    a.add_key('ec384', 'EC', crv='P-384')
    a.add_key('rsa-ps', 'RSA', jwk_extra={'alg': 'PS256', 'use': 'sig'})
    a.add_key('rsa-small', 'RSA', bits=1024)
    a.add_key('oct1', 'oct')
    a.add_key('rsa-enc', 'RSA', jwk_extra={'use': 'enc'})
    a.add_key('rsa-unpublished', 'RSA', publish=False)
    ec = a.keys['ec1'].jwk
    # Members a parser must survive and skip.
    a.extra_jwks = [
        {'kty': 'OKP', 'crv': 'Ed25519', 'kid': 'ed1',
         'x': '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo'},
        {'kty': 'RSA', 'kid': 'no-modulus', 'e': 'AQAB'},
        {'kty': 'EC', 'crv': 'P-256', 'kid': 7, 'x': ec['x'], 'y': ec['y']},
        {'kty': 'EC', 'crv': 'secp256k1', 'kid': 'k1', 'x': ec['x'], 'y': ec['y']},
        {'kty': 'RSA', 'kid': 'rsa1-as-enc-op', 'key_ops': ['encrypt'],
         'n': a.keys['rsa1'].jwk['n'], 'e': 'AQAB'},
        'not an object',
    ]
    b = TestIssuer(keys=[('rsa-b', 'RSA')], audience=AUDIENCE)
    return a, b


class Minter:
    """Builds the token a corpus case describes."""

    def __init__(self, a, b):
        self.a, self.b = a, b

    def resolve(self, v, iss):
        if isinstance(v, dict):
            return {k: self.resolve(x, iss) for k, x in v.items()}
        if isinstance(v, list):
            return [self.resolve(x, iss) for x in v]
        if not isinstance(v, str) or not v.startswith('$'):
            return v
        now = int(time.time())
        m = re.fullmatch(r'\$now([+-][0-9.]+)?', v)
        if m:
            delta = m.group(1) or '0'
            return now + (float(delta) if '.' in delta else int(delta))
        if v == '$iss_a':
            return self.a.url
        if v == '$iss_b':
            return self.b.url
        if v == '$ISS':
            return iss.url.upper()
        if v.startswith('$iss'):
            return iss.url + v[4:]
        if v == '$aud':
            return AUDIENCE
        if v.startswith('$pad:'):
            return 'x' * int(v[5:])
        if v.startswith('$jwk:'):
            return dict(self.a.keys[v[5:]].jwk)
        raise ValueError('unknown placeholder ' + v)

    def raw(self, text, iss):
        now = int(time.time())
        for name, value in (('{iss}', iss.url), ('{iss_b}', self.b.url), ('{now}', str(now)),
                            ('{exp}', str(now + 600)), ('{aud}', AUDIENCE)):
            text = text.replace(name, value)
        return text

    def token(self, case):
        special = case.get('special')
        if special == 'jwe':
            return self.a.jwe_shaped()
        if special == 'opaque-valid':
            tok = 'op_' + uuid.uuid4().hex
            self.a.add_opaque(tok, sub='opaque-' + uuid.uuid4().hex[:8], email='o@a.test',
                              email_verified=True)
            return tok
        if special == 'opaque-invalid':
            return 'op_' + uuid.uuid4().hex
        if special == 'raw':
            return self.resolve(case['token'], self.a)
        iss = self.b if case.get('issuer') == 'B' else self.a
        kw = {'key': case.get('key', 'rsa1')}
        for name in ('alg', 'sign_alg', 'sign_key', 'es_der'):
            if name in case:
                kw[name] = case[name]
        if 'header' in case:
            kw['header'] = self.resolve(case['header'], iss)
        if 'claims' in case:
            kw['claims'] = self.resolve(case['claims'], iss)
        if 'header_raw' in case:
            kw['header_raw'] = self.raw(case['header_raw'], iss)
        if 'payload_raw' in case:
            kw['payload_raw'] = self.raw(case['payload_raw'], iss)
        if 'hmac' in case:
            kw['hmac_secret'] = {
                'rsa1-public-pem': lambda: self.a.keys['rsa1'].public_pem(),
                'rsa1-jwk': lambda: json.dumps(self.a.keys['rsa1'].jwk).encode(),
                'oct1': lambda: self.a.keys['oct1'].private,
            }[case['hmac']]()
        kw['tamper'] = case.get('tamper', ())
        return iss.mint(**kw)


def stopped_cleanly(t, sp, what):
    """Stops the program and checks its exit code: under a sanitizer or
    valgrind (--error-exitcode) a memory error shows up here."""
    code = sp.stop()
    t.eq(code, 0, '%s: exit code 0 after SIGTERM' % what)


def error_is_plain(resp):
    """A 401 body in the Graph error form that says nothing specific."""
    try:
        err = resp.json()['error']
    except (ValueError, KeyError, TypeError):
        return False
    return err.get('code') == 'unauthenticated' and 'valid' in err.get('message', '') and \
        not re.search(r'kid|alg|exp|sig|iss|aud', err.get('message', ''))


def metric(sp, name):
    """Sum of a metric's samples whose line starts with name."""
    text = sp.request('GET', '/metrics').body.decode()
    return sum(float(line.rsplit(' ', 1)[1]) for line in text.splitlines()
               if line.startswith(name))


def run_corpus(t, nats):
    with open(CASES) as f:
        cases = json.load(f)['cases']
    t.ok(len(cases) >= 30, 'corpus has at least 30 cases (%d)' % len(cases))
    a, b = corpus_issuers()
    # The corpus's opaque tokens are A's: with two issuers, none is asked
    # about opaque tokens unless named (test_issuers.py shows the default).
    with a, b, Spaceport(nats_url=nats.url, issuers='%s,%s' % (a.url, b.url),
                         env={'SPACEPORT_OIDC_AUDIENCE': AUDIENCE,
                              'SPACEPORT_OIDC_OPAQUE_ISSUERS': a.url}) as sp:
        minter = Minter(a, b)
        as_expected = 0
        for case in cases:
            token = minter.token(case)
            r = sp.get(ME, token=token)
            want = case['expect']
            ok = r.status == want
            diag = 'status %s, want %s; body %r' % (r.status, want, r.body[:200])
            if ok and want == 401:
                ok = r.headers.get('www-authenticate') == INVALID and error_is_plain(r)
                diag = 'WWW-Authenticate %r, body %r' % (r.headers.get('www-authenticate'),
                                                         r.body[:200])
            if ok and want == 200:
                me = r.json()
                ok = bool(me.get('id')) and bool(me.get('onPremisesSamAccountName'))
                diag = 'body %r' % r.body[:200]
            as_expected += ok
            t.ok(ok, 'corpus: %s -> %d' % (case['name'], want), diag)
        t.diag('corpus: %d cases, %d as expected' % (len(cases), as_expected))

        r = sp.request('GET', ME)
        t.ok(r.status == 401 and r.headers.get('www-authenticate') == REALM,
             'no token -> 401 Bearer realm="spaceport"', r.headers)
        r = sp.request('GET', ME, headers={'Authorization': 'Basic YWxpY2U6c2VjcmV0'})
        t.ok(r.status == 401 and r.headers.get('www-authenticate') == REALM,
             'Basic credentials -> 401 Bearer realm="spaceport"', r.headers)
        t.eq(a.other_requests + b.other_requests, [],
             'jku/x5u/jwk headers never made us fetch anything else')

        # The cache: a repeated token is answered without verifying again.
        tok = a.mint(claims={'sub': 'cache-user'})
        before = metric(sp, 'spaceport_auth_cache_hits_total')
        r1, r2 = sp.get(ME, token=tok), sp.get(ME, token=tok)
        after = metric(sp, 'spaceport_auth_cache_hits_total')
        t.ok(r1.status == 200 and r2.status == 200 and after >= before + 1,
             'repeated token answered from the cache (hits %s -> %s)' % (before, after))
        t.ok(metric(sp, 'spaceport_auth_key_fetches_total{issuer="%s",result="ok"}' % a.url)
             >= 1, 'metrics count key fetches for issuer A')
        t.ok(metric(sp, 'spaceport_auth_verifications_total{result="rejected"}') >= 1,
             'metrics count rejected verifications')

        # A cached refusal of an opaque token: userinfo is asked once.
        bad = 'op_' + uuid.uuid4().hex
        n0 = a.userinfo_fetches
        s1, s2 = sp.get(ME, token=bad).status, sp.get(ME, token=bad).status
        t.ok(s1 == 401 and s2 == 401 and a.userinfo_fetches == n0 + 1,
             'an opaque token refused by userinfo is not sent twice within 60 s',
             'userinfo fetches %d -> %d' % (n0, a.userinfo_fetches))

        check_identity(t, sp, a)
        stopped_cleanly(t, sp, 'corpus')


def check_identity(t, sp, a):
    tok = a.mint(claims={'sub': 'u-1001', 'preferred_username': 'carol', 'name': 'Carol C',
                         'email': 'carol@a.test', 'email_verified': True,
                         'roles': ['spaceport-admin', 'other']})
    me = sp.get(ME, token=tok).json()
    t.ok(me.get('onPremisesSamAccountName') == 'carol' and me.get('displayName') == 'Carol C'
         and me.get('mail') == 'carol@a.test', 'identity from the claims', me)
    tok = a.mint(claims={'sub': 'u-1002', 'preferred_username': None, 'name': None,
                         'email': 'dave@a.test', 'email_verified': False})
    me = sp.get(ME, token=tok).json()
    t.ok(me.get('onPremisesSamAccountName') == 'u-1002' and me.get('displayName') == 'u-1002'
         and me.get('mail') is None,
         'user name falls back to sub, display name to user name, unverified mail dropped', me)
    tok = a.mint(claims={'sub': 'u-1003', 'preferred_username': 'x' * 300})
    t.eq(sp.get(ME, token=tok).status, 401, 'a user name claim longer than the limit is refused')


def run_rotation(t, nats):
    with TestIssuer(keys=[('k1', 'RSA')]) as iss, \
            Spaceport(nats_url=nats.url, issuers=iss.url) as sp:
        t.eq(sp.get(ME, token=iss.mint(key='k1')).status, 200, 'rotation: old key accepted')
        fetches = iss.jwks_fetches
        iss.add_key('k2', 'EC')
        r = sp.get(ME, token=iss.mint(key='k2'))
        t.eq(r.status, 200, 'rotation: key published after start accepted on first use')
        t.eq(iss.jwks_fetches, fetches + 1, 'rotation: after exactly one refetch')
        iss.withdraw('k1')
        t.eq(sp.get(ME, token=iss.mint(key='k2', claims={'sub': 'bob'})).status, 200,
             'rotation: new key keeps working')
        stopped_cleanly(t, sp, 'rotation')


def run_kid_flood(t, nats):
    with TestIssuer(keys=[('k1', 'RSA')]) as iss, \
            Spaceport(nats_url=nats.url, issuers=iss.url) as sp:
        iss.add_key('attacker', 'RSA', publish=False)
        statuses = set()
        for _ in range(100):
            tok = iss.mint(key='attacker', header={'kid': uuid.uuid4().hex})
            statuses.add(sp.get(ME, token=tok).status)
        t.eq(statuses, {401}, 'kid flood: 100 random kids refused')
        t.ok(iss.jwks_fetches <= FLOOD_FETCHES_MAX,
             'kid flood: JWKS fetched %d times (at most %d)' % (iss.jwks_fetches,
                                                                FLOOD_FETCHES_MAX))
        t.eq(sp.get(ME, token=iss.mint(key='k1')).status, 200,
             'kid flood: a valid token still passes')
        stopped_cleanly(t, sp, 'kid flood')


def run_issuer_down(t, nats):
    iss = TestIssuer(keys=[('k1', 'RSA')])  # not started
    sp = Spaceport(nats_url=nats.url, issuers=iss.url)
    try:
        sp.start(wait_ready=False)
        # /readyz reports the bus first while its stream is being set up.
        named = 'issuer %s unreachable' % iss.url
        r = wait_until(lambda: (lambda r: r if named in r.body.decode() else None)(
            sp.request('GET', '/readyz')), timeout=15)
        t.ok(r and r.status == 503, 'issuer down at start: /readyz 503 names it',
             r and r.body)
        t.eq(sp.get(ME, token=iss.mint(key='k1')).status, 401,
             'issuer down: its tokens are refused')
        t.eq(sp.request('GET', '/healthz').status, 200, 'issuer down: the service is up')
        iss.start()
        ready = wait_until(lambda: sp.request('GET', '/readyz').status == 200, timeout=40)
        t.ok(ready, 'issuer up: /readyz 200')
        t.eq(sp.get(ME, token=iss.mint(key='k1')).status, 200, 'issuer up: token accepted')
        stopped_cleanly(t, sp, 'issuer down at start')
    finally:
        sp.__exit__(None, None, None)
        iss.stop()


def run_wrong_discovery(t, nats):
    with TestIssuer(keys=[('k1', 'RSA')]) as iss:
        iss.discovery_issuer = iss.url + '/'
        sp = Spaceport(nats_url=nats.url, issuers=iss.url)
        try:
            sp.start(wait_ready=False)
            time.sleep(0.5)
            r = sp.request('GET', '/readyz')
            t.ok(r.status == 503 and iss.jwks_fetches == 0,
                 'discovery naming another issuer: keys not fetched, not ready', r.body)
            t.eq(sp.get(ME, token=iss.mint(key='k1')).status, 401,
                 'discovery naming another issuer: tokens refused')
            stopped_cleanly(t, sp, 'wrong discovery')
        finally:
            sp.__exit__(None, None, None)


def run_fetch_policy(t, nats):
    """Redirects are followed only within the issuer's origin; a JWKS over
    the 1 MiB fetch limit is refused."""
    with TestIssuer(keys=[('k1', 'RSA')]) as same, TestIssuer(keys=[('k1', 'RSA')]) as cross, \
            TestIssuer(keys=[('k1', 'RSA')]) as other, TestIssuer(keys=[('k1', 'RSA')]) as big:
        same.jwks_path = '/old-jwks'
        same.redirects['/old-jwks'] = same.url + '/jwks'
        cross.jwks_path = '/old-jwks'
        cross.redirects['/old-jwks'] = other.url + '/jwks'
        big.jwks_padding = 1024 * 1024
        sp = Spaceport(nats_url=nats.url, issuers='%s,%s,%s' % (same.url, cross.url, big.url))
        try:
            sp.start(wait_ready=False)
            wait_until(lambda: same.jwks_fetches and cross.other_requests and big.jwks_fetches)
            time.sleep(0.3)
            t.eq(sp.get(ME, token=same.mint(key='k1')).status, 200,
                 'same-origin redirect to the JWKS is followed')
            t.ok(cross.jwks_fetches == 0 and other.jwks_fetches == 0 and
                 sp.get(ME, token=cross.mint(key='k1')).status == 401,
                 'redirect to another origin is not followed')
            t.eq(sp.get(ME, token=big.mint(key='k1')).status, 401,
                 'JWKS larger than 1 MiB is refused')
            r = wait_until(lambda: (lambda r: r if cross.url in r.body.decode() else None)(
                sp.request('GET', '/readyz')), timeout=15)
            t.ok(r and r.status == 503, '/readyz names an issuer whose keys are missing',
                 r and r.body)
            stopped_cleanly(t, sp, 'fetch policy')
        finally:
            sp.__exit__(None, None, None)


def run_concurrent(t, nats):
    """Many distinct tokens at once from several threads: every one a cache
    miss, verified concurrently against the shared key set."""
    with TestIssuer(keys=[('k1', 'RSA'), ('k2', 'EC')]) as iss, \
            Spaceport(nats_url=nats.url, issuers=iss.url) as sp:
        tokens = [iss.mint(key='k1' if i % 2 else 'k2', claims={'sub': 'user-%d' % (i % 10)})
                  for i in range(200)]
        statuses = []
        lock = threading.Lock()

        def worker(chunk):
            for tok in chunk:
                status = sp.get(ME, token=tok).status
                with lock:
                    statuses.append(status)

        threads = [threading.Thread(target=worker, args=(tokens[i::8],)) for i in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        t.ok(len(statuses) == 200 and set(statuses) == {200},
             '200 distinct tokens from 8 threads all accepted',
             sorted(set(statuses)))
        stopped_cleanly(t, sp, 'concurrent')


def run_opaque_issuers(t, nats):
    """SPACEPORT_OIDC_OPAQUE_ISSUERS: only the named issuers' userinfo
    endpoints see opaque tokens."""
    with TestIssuer(keys=[('k1', 'RSA')]) as a, TestIssuer(keys=[('k2', 'RSA')]) as b:
        a.add_opaque('opaque-for-a', sub='oa')
        b.add_opaque('opaque-for-b', sub='ob')
        with Spaceport(nats_url=nats.url, issuers='%s,%s' % (a.url, b.url),
                       env={'SPACEPORT_OIDC_OPAQUE_ISSUERS': a.url}) as sp:
            t.eq(sp.get(ME, token='opaque-for-a').status, 200,
                 'opaque issuers: a token of the named issuer is checked at its userinfo')
            t.eq(sp.get(ME, token='opaque-for-b').status, 401,
                 'opaque issuers: the other issuer is never asked')
            t.eq(b.userinfo_fetches, 0,
                 'opaque issuers: the other issuer saw no userinfo request')
        with Spaceport(nats_url=nats.url, issuers=a.url,
                       env={'SPACEPORT_OIDC_OPAQUE_ISSUERS': 'none'}) as sp:
            t.eq(sp.get(ME, token='opaque-for-a').status, 401,
                 'opaque issuers: "none" turns opaque tokens off')


def main(t):
    with Nats() as nats:
        run_opaque_issuers(t, nats)
        run_corpus(t, nats)
        run_rotation(t, nats)
        run_kid_flood(t, nats)
        run_issuer_down(t, nats)
        run_wrong_discovery(t, nats)
        run_fetch_policy(t, nats)
        run_concurrent(t, nats)


if __name__ == '__main__':
    TAP().run(main)
