#!/usr/bin/python3
"""OData query options of the drive listings, against the running program,
as oCIS's ListDrives takes them: every form oCIS accepts gives the same
answer as its quoted, canonical form (on /me/drives and /drives, v1.0 and
v1beta1, first page and following pages, fresh and cached), and every form
oCIS refuses gets oCIS's status and error code.

ownCloud Web lists spaces with `$filter=driveType eq personal` (unquoted)
and `$orderby=name asc`; OpenCloud Web's admin adds
`$expand=root($expand=permissions)`. Before this, the first listing of
ownCloud Web was a 400 and the web showed its crash page."""
import urllib.parse

from harness import TAP, Client, Issuer, Nats, Spaceport

ME = ['/graph/v1.0/me/drives', '/graph/v1beta1/me/drives']
ALL = ['/graph/v1.0/drives', '/graph/v1beta1/drives']


def url(path, **opts):
    q = '&'.join('%s=%s' % (k.replace('_', '$', 1) if k.startswith('_') else k,
                            urllib.parse.quote(v, safe='')) for k, v in opts.items())
    return path + ('?' + q if q else '')


def listing(client, path, **opts):
    r = client.get(url(path, **opts))
    return r, ([(d['id'], d['name']) for d in r.json()['value']] if r.status == 200 else None)


def check_same(t, client, paths, canonical, variants, what):
    """Each variant answers exactly what the canonical form answers."""
    for path in paths:
        r0, want = listing(client, path, **canonical)
        if not t.eq(r0.status, 200, '%s %s: canonical form answers 200' % (path, what)):
            t.diag(r0.body[:300])
            continue
        for v in variants:
            r, got = listing(client, path, **v)
            t.ok(r.status == 200 and got == want,
                 '%s %s: %r answers as %r' % (path, what, v, canonical), (r.status, r.body[:300]))


def check_filters(t, alice, bob, ids):
    # ownCloud Web's loadSpaces: unquoted literal, name asc
    check_same(t, bob, ME, {'_filter': "driveType eq 'personal'"},
               [{'_filter': 'driveType eq personal', '_orderby': 'name asc'},
                {'_filter': 'driveType EQ personal'}, {'_filter': '(driveType eq personal)'}],
               'personal drive')
    r, got = listing(bob, ME[0], _filter='driveType eq personal')
    t.ok(r.status == 200 and len(got) == 1 and r.json()['value'][0]['driveType'] == 'personal',
         'driveType eq personal (unquoted) lists the one personal drive', r.body[:300])
    check_same(t, bob, ME, {'_filter': "driveType eq 'project'", '_orderby': 'name'},
               [{'_filter': 'driveType eq project', '_orderby': 'name asc'},
                {'_filter': '  driveType   eq   project ', '_orderby': ' name  ASC '},
                {'_filter': 'driveType Eq(project)', '_orderby': 'name'},
                {'_filter': "((driveType eq 'project'))", '_orderby': 'name'}],
               'projects by name')
    r, got = listing(bob, ME[0], _filter='driveType eq project', _orderby='name asc')
    t.eq([n for _, n in got if n in ids], ['Alpha', 'bravo', 'Charlie', 'delta'],
         'unquoted project filter lists the projects by name, case-insensitively')
    # the admin listing, with OpenCloud Web's admin options
    check_same(t, alice, ALL, {'_filter': "driveType eq 'project'", '_orderby': 'name'},
               [{'_filter': 'driveType eq project', '_orderby': 'name asc',
                 '_expand': 'root($expand=permissions)'}],
               'admin projects')
    # an id: quoted, or unquoted (Spaceport's ids are guids, a godata token)
    one = ids['Charlie']
    check_same(t, bob, ME, {'_filter': "id eq '%s'" % one},
               [{'_filter': 'id eq %s' % one}, {'_filter': "(id eq '%s')" % one},
                {'_filter': "id eq '%s' and driveType eq project" % one}], 'one drive by id')
    r, got = listing(bob, ME[0], _filter='id eq %s' % one)
    t.eq([i for i, _ in got], [one], 'id eq <guid> (unquoted) finds that drive')
    # accepted and not applied, as oCIS: an eq on another field, empty options,
    # $select/$expand, several $orderby keys (oCIS does not sort; Spaceport keeps name asc)
    check_same(t, bob, ME, {},
               [{'_filter': "name eq 'Alpha'"}, {'_filter': ''}, {'_orderby': ''},
                {'_orderby': 'lastModifiedDateTime desc,name'},
                {'_select': '@libre.graph.hasTrashedItems'},
                {'_select': 'id,name', '_expand': 'root($expand=permissions)'}],
               'options oCIS takes and does not apply')
    check_same(t, bob, ME, {'_orderby': 'name desc'}, [{'_orderby': 'name DESC'}], 'name desc')
    check_same(t, bob, ME, {'_orderby': 'lastModifiedDateTime desc'},
               [{'_orderby': 'lastModifiedDateTime  Desc'}], 'lastModifiedDateTime desc')
    # values no drive has: an empty listing, not an error
    for f in ["driveType eq 'other'", 'driveType eq other', 'driveType eq Project',
              'driveType eq project and driveType eq personal', "id eq 'no-such-drive'"]:
        r, got = listing(bob, ME[0], _filter=f)
        t.ok(r.status == 200 and got == [], '%r lists nothing' % f, r.body[:300])


def check_refusals(t, bob):
    cases = [
        # generateCs3Filters applies eq only: anything else at the top is 501
        ({'_filter': 'driveType ne project'}, 501, 'notSupported',
         'unsupported filter operand: ne'),
        ({'_filter': 'driveType eq project or driveType eq personal'}, 501, 'notSupported',
         'unsupported filter operand: or'),
        ({'_filter': "driveType eq project and name eq 'x'"}, 501, 'notSupported',
         'unsupported filter operand: and'),
        ({'_filter': "contains(name,'a')"}, 501, 'notSupported',
         'unsupported filter operand: contains'),
        ({'_filter': "not(driveType eq 'project')"}, 501, 'notSupported',
         'unsupported filter operand: not'),
        # godata cannot parse these: 400
        ({'_filter': 'driveType'}, 400, 'invalidRequest', 'boolean'),
        ({'_filter': "driveType eq 'project"}, 400, 'invalidRequest', 'invalid'),
        ({'_filter': 'driveType eq project extra'}, 400, 'invalidRequest',
         'invalid token sequence'),
        ({'_filter': 'id eq abc$def'}, 400, 'invalidRequest', "Token '$def' is invalid"),
        ({'_filter': '(driveType eq project'}, 400, 'invalidRequest', 'Mismatched parenthesis'),
        # sortSpaces sorts by name or lastModifiedDateTime only
        ({'_orderby': 'size'}, 400, 'invalidRequest',
         'we do not support <size> as a order parameter'),
        ({'_orderby': 'Name'}, 400, 'invalidRequest', 'we do not support <Name>'),
        ({'_orderby': 'name,'}, 400, 'invalidRequest', 'Extra comma in $orderby.'),
        ({'_orderby': 'name sideways'}, 400, 'invalidRequest', 'Invalid $orderby query option'),
        ({'_expand': 'root('}, 400, 'invalidRequest', 'Mismatched parentheses'),
        ({'_expand': 'root($foo=1)'}, 400, 'invalidRequest', "Unsupported item '$foo'"),
        ({'_select': 'id,,name'}, 400, 'invalidRequest', 'Extra comma in $select.'),
    ]
    for path in ME:
        for opts, status, code, message in cases:
            r = bob.get(url(path, **opts))
            err = r.json().get('error', {}) if r.body[:1] == b'{' else {}
            t.ok(r.status == status and err.get('code') == code and
                 message in err.get('message', ''),
                 '%s %r is %d %s' % (path, opts, status, code), (r.status, r.body[:300]))


def page_ids(client, sp, path, **opts):
    seen, link = [], url(path, **opts)
    for _ in range(50):
        r = client.get(link)
        if r.status != 200:
            return None, r
        doc = r.json()
        seen += [d['id'] for d in doc['value']]
        link = doc.get('@odata.nextLink')
        if not link:
            return seen, r
        link = link[len(sp.url):]
    return None, r


def check_paging_and_cache(t, sp, bob, ids):
    want, _ = page_ids(bob, sp, ME[0], _filter="driveType eq 'project'", _orderby='name desc')
    for opts in [{'_filter': 'driveType eq project', '_orderby': 'name DESC', '_top': '2'},
                 {'_filter': "driveType eq 'project'", '_orderby': 'name desc', '_top': '1'}]:
        got, r = page_ids(bob, sp, ME[0], **opts)
        t.ok(want and got == want, 'pages of %r, following @odata.nextLink, give the listing'
             % opts, (got, want, r.status, r.body[:200]))
    # a cached answer of one form is not served stale for another after a change
    unquoted = url(ME[0], _filter='driveType eq project')
    quoted = url(ME[0], _filter="driveType eq 'project'")
    first = bob.get(unquoted)
    again = bob.get(unquoted, headers={'If-None-Match': first.headers.get('etag')})
    t.eq(again.status, 304, 'the unquoted listing is cached (304 on its ETag)')
    r = bob.call('PATCH', '/graph/v1.0/drives/' + ids['delta'], {'name': 'delta2'})
    t.eq(r.status, 200, 'rename a project')
    for u, what in [(unquoted, 'unquoted'), (quoted, 'quoted')]:
        names = [d['name'] for d in bob.get(u).json()['value']]
        t.ok('delta2' in names and 'delta' not in names,
             'after a rename the %s listing shows the new name' % what, names)
    t.eq([d['id'] for d in bob.get(unquoted).json()['value']],
         [d['id'] for d in bob.get(quoted).json()['value']],
         'quoted and unquoted forms answer the same after the change')


def check_users(t, sp, idp, alice):
    """/me and /users read $expand, $select and $orderby as oCIS's GetMe and
    GetUsers: memberOf expanded (an empty list: no groups yet), options
    inside $expand refused, users sorted by one of the three keys."""
    r = alice.get('/graph/v1.0/me')
    t.ok(r.status == 200 and 'memberOf' not in r.json(), '/me without $expand has no memberOf')
    for expand in ['memberOf', 'memberOf,appRoleAssignments', ' memberOf ']:
        r = alice.get(url('/graph/v1.0/me', _expand=expand))
        t.ok(r.status == 200 and r.json().get('memberOf') == [],
             '/me?$expand=%s has memberOf []' % expand, r.body[:300])
    for expand, message in [('memberOf($select=id)', 'options for $expand not supported'),
                            ('memberOf/members', 'multiple segments in $expand not supported'),
                            ('memberOf(', 'Mismatched parentheses')]:
        r = alice.get(url('/graph/v1.0/me', _expand=expand))
        t.ok(r.status == 400 and r.json()['error']['code'] == 'invalidRequest' and
             message in r.json()['error']['message'],
             '/me?$expand=%s is 400 (%s)' % (expand, message), r.body[:300])
    people = [('zed-sub', 'zed', 'Zed Quinn', 'a@x.test'),
              ('amy-sub', 'amy', 'amy Quinn', 'c@x.test'),
              ('mia-sub', 'mia', 'Mia Quinn', 'b@x.test')]
    for sub, user, name, mail in people:
        t.eq(Client(sp, idp.token(sub, user, name, email=mail)).get('/graph/v1.0/me').status,
             200, '%s provisioned' % user)
    search = {'_search': '"Quinn"'}
    for orderby, want in [('displayName', ['amy', 'mia', 'zed']),
                          ('displayName asc', ['amy', 'mia', 'zed']),
                          ('displayName desc', ['zed', 'mia', 'amy']),
                          ('mail', ['zed', 'mia', 'amy']),
                          ('onPremisesSamAccountName DESC', ['zed', 'mia', 'amy'])]:
        r = alice.get(url('/graph/v1.0/users', _orderby=orderby, _select='id,displayName,mail',
                          **search))
        got = [u['onPremisesSamAccountName'] for u in r.json().get('value', [])]
        t.ok(r.status == 200 and got == want, '/users $orderby=%s sorts %s' % (orderby, want),
             (r.status, got, r.body[:200]))
    for opts, message in [({'_orderby': 'size'}, 'we do not support <size> as a order parameter'),
                          ({'_orderby': 'displayName,'}, 'Extra comma in $orderby.'),
                          ({'_select': 'id,,mail'}, 'Extra comma in $select.'),
                          ({'_expand': 'memberOf($top=1)'}, 'options for $expand not supported')]:
        r = alice.get(url('/graph/v1.0/users', **dict(search, **opts)))
        t.ok(r.status == 400 and message in r.json()['error']['message'],
             '/users %r is 400 (%s)' % (opts, message), r.body[:300])


def main(t):
    with Nats() as nats, Issuer() as idp:
        with Spaceport(nats_url=nats.url, issuers=idp.url) as sp:
            alice = Client(sp, idp.token('alice-sub', 'alice', 'Alice A',
                                         roles=['spaceport-admin']))
            bob = Client(sp, idp.token('bob-sub', 'bob', 'Bob B',
                                       roles=['spaceport-spaceadmin']))
            for c in (alice, bob):
                if not t.eq(c.get('/graph/v1.0/me').status, 200, 'user provisioned'):
                    t.diag(sp.stderr_text()[-2000:])
                    return
            ids = {}
            for name in ['delta', 'Alpha', 'Charlie', 'bravo']:
                r = bob.call('POST', '/graph/v1.0/drives', {'name': name})
                t.eq(r.status, 201, 'create project %s' % name)
                ids[name] = r.json()['id']
            check_filters(t, alice, bob, ids)
            check_refusals(t, bob)
            check_paging_and_cache(t, sp, bob, ids)
            check_users(t, sp, idp, alice)


if __name__ == '__main__':
    TAP().run(main)
