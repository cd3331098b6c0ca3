#!/usr/bin/python3
"""A real identity provider: the demo IdP (oidc-provider, examples/idp)
issues JWT access tokens through the authorization code + PKCE flow, done
over HTTP as a browser would, and Spaceport accepts them: users, names,
mail and roles come from its claims; a tampered token is refused."""
from harness import TAP, Nats, Spaceport
from oidc import Idp, LoginFailed, jwt_parts

AUDIENCE = 'spaceport'


def tamper_signature(token):
    """The token with one character of its signature changed."""
    head, payload, sig = token.split('.')
    i = len(sig) // 2
    sig = sig[:i] + ('A' if sig[i] != 'A' else 'B') + sig[i + 1:]
    return '.'.join((head, payload, sig))


def bearer(token):
    return {'Authorization': 'Bearer ' + token}


def main(t):
    with Idp(audience=AUDIENCE) as idp:
        t.diag('identity provider answered discovery after %.2f s' % idp.startup_seconds)
        t.eq(idp.discovery.get('issuer'), idp.issuer, 'discovery names the issuer')
        t.ok('S256' in idp.discovery.get('code_challenge_methods_supported', []),
             'the provider offers PKCE S256')

        # Tokens first: the provider works whatever the registry does.
        tokens = idp.login('einstein', 'einstein')
        einstein = tokens['access_token']
        header, claims = jwt_parts(einstein)
        t.eq(header.get('alg'), 'RS256', 'the access token is an RS256 JWS')
        t.ok(header.get('kid'), 'its header names the key (kid)')
        aud = claims.get('aud')
        t.ok(AUDIENCE in (aud if isinstance(aud, list) else [aud]),
             'the access token\'s aud contains "spaceport"', 'aud: %r' % (aud,))
        t.eq(claims.get('iss'), idp.issuer, 'iss is the issuer')
        t.eq((claims.get('preferred_username'), claims.get('name'), claims.get('email'),
              claims.get('email_verified'), claims.get('roles')),
             ('einstein', 'Albert Einstein', 'einstein@example.org', True, ['spaceport-admin']),
             'the access token carries user name, name, verified email and roles')
        t.eq(claims.get('groups'), ['physics-lovers', 'sailing-lovers'],
             'the access token carries the demo groups (oCIS demo style)')
        t.eq(jwt_parts(tokens.get('id_token', 'x.e30.x'))[1].get('groups'),
             ['physics-lovers', 'sailing-lovers'], 'so does the ID token')
        t.ok(tokens.get('refresh_token'), 'the public client gets a refresh token')

        wrong = None
        try:
            idp.token('einstein', 'not-his-password')
        except LoginFailed as e:
            wrong = e
        t.ok(wrong is not None, 'a wrong password yields no token')
        t.ok(wrong is not None and 'Wrong user name or password' in wrong.page,
             'the login page shows the error', wrong and wrong.page[-1500:])

        marie = idp.token('marie', 'marie')
        richard = idp.token('richard', 'richard')

        with Nats() as nats, Spaceport(nats_url=nats.url, issuers=idp.issuer,
                                       env={'SPACEPORT_OIDC_AUDIENCE': AUDIENCE}) as sp:
            r = sp.get('/graph/v1.0/me', token=einstein)
            t.eq(r.status, 200, 'a real token for einstein: /graph/v1.0/me answers 200',
                 ) or t.diag('body: %r\nspaceport log:\n%s'
                             % (r.body[:500], sp.stderr_text()[-3000:]))
            me = r.json() if r.status == 200 else {}
            t.eq(me.get('displayName'), 'Albert Einstein', 'displayName from the name claim')
            t.eq(me.get('onPremisesSamAccountName'), 'einstein',
                 'onPremisesSamAccountName from preferred_username')
            t.eq(me.get('mail'), 'einstein@example.org', 'mail from the verified email claim')
            t.ok(me.get('id'), 'the user has an id')

            r2 = sp.get('/graph/v1.0/me', token=einstein)
            t.ok(r2.status == 200 and r2.json().get('id') == me.get('id'),
                 'the id is stable across calls', r2.body[:300])

            r3 = sp.get('/graph/v1.0/me', token=marie)
            other = r3.json() if r3.status == 200 else {}
            t.eq(r3.status, 200, 'a real token for marie is accepted')
            t.ok(other.get('id') and other.get('id') != me.get('id'),
                 'marie has a different id', '%r vs %r' % (other.get('id'), me.get('id')))
            t.eq(other.get('displayName'), 'Marie Curie', 'marie\'s displayName')

            r = idp.refresh(tokens['refresh_token'])[1]
            r4 = sp.get('/graph/v1.0/me', token=r.get('access_token', ''))
            t.ok(r4.status == 200 and r4.json().get('id') == me.get('id'),
                 'a refreshed access token is the same user', r4.body[:300])

            bad = sp.get('/graph/v1.0/me', token=tamper_signature(einstein))
            t.eq(bad.status, 401, 'one character of the signature changed: 401')
            t.eq(bad.headers.get('www-authenticate'), 'Bearer error="invalid_token"',
                 'with WWW-Authenticate: Bearer error="invalid_token"')

            none = sp.get('/graph/v1.0/me')
            t.eq(none.status, 401, 'no token: 401')

            # Roles from the roles claim.
            t.eq(sp.get('/graph/v1.0/drives', token=einstein).status, 200,
                 'einstein (spaceport-admin) lists all drives')
            t.eq(sp.get('/graph/v1.0/drives', token=richard).status, 403,
                 'richard (no role) may not list all drives')
            made = sp.request('POST', '/graph/v1.0/drives', body={'name': 'Radium'},
                              headers=bearer(marie))
            t.eq(made.status, 201, 'marie (spaceport-spaceadmin) creates a project space')
            denied = sp.request('POST', '/graph/v1.0/drives', body={'name': 'Quarks'},
                                headers=bearer(richard))
            t.eq(denied.status, 403, 'richard (no role) may not create one')

        t.eq(idp.stop(), 0, 'the identity provider stops cleanly on SIGTERM')
        log = idp.log_text()
        t.ok(log.count('login user=') >= 3 and 'login failed user="einstein"' in log,
             'the provider logs one line per login', log[-2000:])


if __name__ == '__main__':
    TAP().run(main)
