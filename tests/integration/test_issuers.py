#!/usr/bin/python3
"""Two trusted identity providers against the real program, one of them
hostile: what one issuer can do to the other's users, and what an issuer's
unverified word is worth.

V is the victim's issuer, H the hostile one, listed FIRST in
SPACEPORT_OIDC_ISSUERS so that anything looked up across issuers in their
order would find H's answer before V's.

1. Shadowing: H publishes V's public key under V's kid, or four junk keys
   under it. V's users must still get in.
2. Crossed tokens: H's key claiming to be V, V's key and kid claiming to be
   H; an unknown kid under H's name refetches H's keys, never V's.
3. Mallory: an address without email_verified (or with false) is nobody's;
   she does not get the share sent to it, the verified owner does. Mixed
   case is stored in lower case. SPACEPORT_OIDC_EMAIL_VERIFIED_ISSUERS
   trusts a named issuer's addresses without the claim.
4. Opaque tokens: with two issuers and no SPACEPORT_OIDC_OPAQUE_ISSUERS,
   neither issuer is asked; naming V, only V is.
"""
import urllib.parse
import uuid

from harness import TAP, Client, Nats, Spaceport
from issuer import TestIssuer

ME = '/graph/v1.0/me'
VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
# Junk keys H publishes under V's kid: as many as a verifier that gathered
# candidates across issuers would try (SP_AUTH_CANDIDATES_MAX), so that all
# of them would be H's.
JUNK_KEYS = 4


def issuers():
    """V (victim) with key v1, H (hostile) with key h1."""
    return TestIssuer(keys=[('v1', 'RSA')]), TestIssuer(keys=[('h1', 'RSA')])


def serve(nats, v, h, env=None):
    """The program trusting H first, then V."""
    return Spaceport(nats_url=nats.url, issuers='%s,%s' % (h.url, v.url), env=env)


def stopped_cleanly(t, sp, what):
    t.eq(sp.stop(), 0, '%s: exit code 0 after SIGTERM' % what)


def v_users_get_in(t, sp, v, what):
    """V's users, by kid and without one."""
    r = sp.get(ME, token=v.mint(key='v1', claims={'sub': 'v-user-' + uuid.uuid4().hex[:6]}))
    t.eq(r.status, 200, '%s: a token of V with kid v1 is accepted' % what)
    r = sp.get(ME, token=v.mint(key='v1', header={'kid': None},
                                claims={'sub': 'v-user-' + uuid.uuid4().hex[:6]}))
    t.eq(r.status, 200, '%s: a token of V without kid is accepted' % what)


def run_shadow_key(t, nats):
    v, h = issuers()
    # H republishes V's public key under V's kid.
    h.extra_jwks = [dict(v.keys['v1'].jwk)]
    with v, h, serve(nats, v, h) as sp:
        v_users_get_in(t, sp, v, "H publishes V's key as v1")
        stopped_cleanly(t, sp, 'shadow key')


def run_junk_keys(t, nats):
    v, h = issuers()
    for i in range(JUNK_KEYS):
        junk = h.add_key('junk%d' % i, 'RSA', publish=False)
        h.extra_jwks.append(dict(junk.jwk, kid='v1'))
    for i in range(JUNK_KEYS):  # and kid-less ones, for kid-less tokens
        junk = h.add_key('bare%d' % i, 'RSA', publish=False)
        h.extra_jwks.append({k: x for k, x in junk.jwk.items() if k != 'kid'})
    with v, h, serve(nats, v, h) as sp:
        v_users_get_in(t, sp, v, 'H publishes %d junk keys as v1' % JUNK_KEYS)
        stopped_cleanly(t, sp, 'junk keys')


def run_crossed_tokens(t, nats):
    v, h = issuers()
    with v, h, serve(nats, v, h) as sp:
        # First, while both issuers' refetch budgets (one per 30 s) are unspent.
        v_fetches, h_fetches = v.jwks_fetches, h.jwks_fetches
        h.add_key('h-unknown', 'RSA', publish=False)
        t.eq(sp.get(ME, token=h.mint(key='h-unknown')).status, 401,
             'a token of H with a kid H does not publish is refused')
        t.ok(v.jwks_fetches == v_fetches and h.jwks_fetches == h_fetches + 1,
             "an unknown kid under H's name refetches H's keys, never V's",
             'V %d -> %d, H %d -> %d' % (v_fetches, v.jwks_fetches, h_fetches, h.jwks_fetches))
        t.eq(sp.get(ME, token=h.mint(key='h1', claims={'iss': v.url})).status, 401,
             "a token signed with H's key claiming iss V is refused")
        t.eq(sp.get(ME, token=h.mint(key='h1', header={'kid': None},
                                      claims={'iss': v.url})).status, 401,
             "the same without kid is refused")
        t.eq(sp.get(ME, token=v.mint(key='v1', claims={'iss': h.url})).status, 401,
             "a token signed with V's key under V's kid claiming iss H is refused")
        t.eq(sp.get(ME, token=v.mint(key='v1', claims={'iss': 'http://127.0.0.1:1'})).status,
             401, 'a token naming an issuer no one trusts is refused')
        t.eq(sp.get(ME, token=h.mint(key='h1')).status, 200, "H's own users still get in")
        v_users_get_in(t, sp, v, 'after the crossed tokens')
        stopped_cleanly(t, sp, 'crossed tokens')


def mail_of(sp, iss, key, sub, **claims):
    """The mail /me shows for a token of iss with the given claims."""
    body = {'sub': sub, 'preferred_username': sub}
    body.update(claims)
    r = sp.get(ME, token=iss.mint(key=key, claims=body))
    return r.json().get('mail') if r.status == 200 else 'HTTP %d' % r.status


def share(client, drive, item, recipient):
    return client.call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (
        drive, urllib.parse.quote(item, safe='')), {'recipients': [recipient], 'roles': [VIEWER]})


def mountpoints(client):
    r = client.get('/graph/v1.0/me/drives')
    return [d for d in r.json().get('value', []) if d.get('driveType') == 'mountpoint'] \
        if r.status == 200 else None


def run_addresses(t, nats):
    v, h = issuers()
    with v, h, serve(nats, v, h) as sp:
        t.eq(mail_of(sp, h, 'h1', 'm-absent', email='victim@example.org'), None,
             'an address without email_verified is not shown as mail')
        t.eq(mail_of(sp, h, 'h1', 'm-false', email='victim@example.org', email_verified=False),
             None, 'an address with email_verified false is not shown as mail')
        t.eq(mail_of(sp, h, 'h1', 'm-string', email='victim@example.org',
                     email_verified='false'), None, 'nor with email_verified "false"')
        t.eq(mail_of(sp, v, 'v1', 'bob-mixed', email='Bob@Example.ORG', email_verified=True),
             'bob@example.org', 'a verified mixed-case address is stored in lower case')
        t.eq(mail_of(sp, v, 'v1', 'v-string', email='s@example.org', email_verified='true'),
             's@example.org', 'email_verified "true" counts as verified')

        # Mallory of H puts Alice's address in her token, without
        # email_verified; a share to that address must not reach her. (An
        # address no earlier check used: the oldest holder of an address
        # must be Mallory for the attack to be real.)
        owner = Client(sp, v.mint(key='v1', claims={
            'sub': 'owner', 'preferred_username': 'owner', 'name': 'Owner',
            'roles': ['spaceport-spaceadmin']}))
        t.eq(owner.get(ME).status, 200, 'the space owner signs in')
        project = owner.call('POST', '/graph/v1.0/drives', {'name': 'Project X'}).json()['id']
        mallory = Client(sp, h.mint(key='h1', claims={
            'sub': 'mallory', 'preferred_username': 'mallory', 'name': 'Mallory',
            'email': 'alice@example.org'}))
        t.eq(mallory.get(ME).status, 200, "Mallory signs in with Alice's address, unverified")
        r = share(owner, project, project + '!plans', {'email': 'alice@example.org'})
        t.ok(r.status == 200 and 'grantedToV2' not in r.json()['value'][0],
             'the owner shares an item with alice@example.org: pending, no one holds it',
             r.body[:300])
        t.eq(mountpoints(mallory), [], 'Mallory does not receive the share')
        alice = Client(sp, v.mint(key='v1', claims={
            'sub': 'alice', 'preferred_username': 'alice', 'name': 'Alice',
            'email': 'Alice@Example.org', 'email_verified': True}))
        t.eq(alice.get(ME).json().get('mail'), 'alice@example.org',
             'Alice signs in later, her address verified (mixed case in her token)')
        mounts = mountpoints(alice)
        t.ok(mounts is not None and len(mounts) == 1 and
             mounts[0]['root']['remoteItem']['id'] == project + '!plans',
             'Alice receives the share', mounts)
        t.eq(mountpoints(mallory), [], 'Mallory still has nothing')
        stopped_cleanly(t, sp, 'addresses')

    # An issuer trusted to verify every address it sends.
    v, h = issuers()
    with v, h, serve(nats, v, h, env={'SPACEPORT_OIDC_EMAIL_VERIFIED_ISSUERS': v.url}) as sp:
        t.eq(mail_of(sp, v, 'v1', 'trusted', email='Trusted@V.test'), 'trusted@v.test',
             'SPACEPORT_OIDC_EMAIL_VERIFIED_ISSUERS: its address counts without the claim')
        t.eq(mail_of(sp, v, 'v1', 'trusted-no', email='no@v.test', email_verified=False), None,
             'SPACEPORT_OIDC_EMAIL_VERIFIED_ISSUERS: an explicit false still counts')
        t.eq(mail_of(sp, h, 'h1', 'untrusted', email='victim@example.org'), None,
             'SPACEPORT_OIDC_EMAIL_VERIFIED_ISSUERS: the issuer not named gains nothing')
        stopped_cleanly(t, sp, 'verified issuers')


def run_opaque(t, nats):
    v, h = issuers()
    v.add_opaque('opaque-of-v', sub='ov')
    h.add_opaque('opaque-of-h', sub='oh')
    with v, h:
        with serve(nats, v, h) as sp:
            t.eq(sp.get(ME, token='opaque-of-v').status, 401,
                 'two issuers, default: an opaque token is refused')
            t.eq(sp.get(ME, token='opaque-of-h').status, 401,
                 "two issuers, default: H's opaque token too")
            t.eq((v.userinfo_fetches, h.userinfo_fetches), (0, 0),
                 'two issuers, default: no userinfo request reaches either issuer')
            stopped_cleanly(t, sp, 'opaque default')
        with serve(nats, v, h, env={'SPACEPORT_OIDC_OPAQUE_ISSUERS': v.url}) as sp:
            t.eq(sp.get(ME, token='opaque-of-v').status, 200,
                 'SPACEPORT_OIDC_OPAQUE_ISSUERS=V: a token of V is checked at V')
            t.eq(sp.get(ME, token='opaque-of-h').status, 401,
                 "SPACEPORT_OIDC_OPAQUE_ISSUERS=V: H's token is refused")
            t.ok(v.userinfo_fetches == 2 and h.userinfo_fetches == 0,
                 'SPACEPORT_OIDC_OPAQUE_ISSUERS=V: only V is asked',
                 'V %d, H %d' % (v.userinfo_fetches, h.userinfo_fetches))
            stopped_cleanly(t, sp, 'opaque named')


def main(t):
    with Nats() as nats:
        run_shadow_key(t, nats)
        run_junk_keys(t, nats)
        run_crossed_tokens(t, nats)
        run_addresses(t, nats)
        run_opaque(t, nats)


if __name__ == '__main__':
    TAP().run(main)
