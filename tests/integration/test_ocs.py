#!/usr/bin/python3
"""Signing in with ownCloud or OpenCloud Web, written as the failures it
prevents, against the real program:

- The web merges the capabilities over its own defaults, which offer
  public links and creating users: an instance that does not say "no"
  has its users click buttons the server refuses. Every announced value
  is checked against what the server really does (the search minimum
  against /graph/v1.0/users, projects against POST /graph/v1.0/drives).
- XML and JSON say the same thing; version 1 and 2 envelopes carry their
  own status codes, as oCIS answers them (web-runtime reads data.ocs.data).
- A caller without a token learns nothing about anyone from /cloud/user
  or the settings service; version 1 capabilities stay public, as in oCIS.
- The permissions the web turns into abilities grant exactly what the
  server lets the role do: a plain user is not offered project creation,
  a space admin not the admin's view of every space; a demoted admin loses
  them with the next token.
- Another user's permissions are not disclosed; bad bodies are 400."""
import subprocess
import xml.etree.ElementTree as ET

from harness import BIN, TAP, Client, Issuer, Nats, Spaceport

ADMIN = '71881883-1768-46bd-a24d-a356a2afdf7f'
SPACE_ADMIN = '2aadd357-682c-406b-8874-293091995fdd'
USER = 'd7beeea8-8ff4-406b-8fb6-ab2dd81e6b11'
ADMIN_PERMISSIONS = {
    'Drives.Create.all', 'Drives.List.all', 'Drives.ReadWrite.all',
    'Drives.ReadWriteEnabled.all', 'Drives.DeleteProject.all', 'Drives.DeletePersonal.all',
    'Drives.ReadWriteProjectQuota.all', 'Drives.ReadWritePersonalQuota.all', 'Shares.Write.all'}
# oCIS's Space Admin: every project space, no personal drive.
SPACE_ADMIN_PERMISSIONS = {
    'Drives.Create.all', 'Drives.List.all', 'Drives.ReadWrite.all',
    'Drives.ReadWriteEnabled.all', 'Drives.DeleteProject.all',
    'Drives.ReadWriteProjectQuota.all', 'Shares.Write.all'}


def xml_to_py(elem):
    """An OCS XML element as the JSON it encodes: <element> children make a
    list, other children a dict, text stays text ('' when empty)."""
    children = list(elem)
    if not children:
        return elem.text or ''
    if all(c.tag == 'element' for c in children):
        return [xml_to_py(c) for c in children]
    return {c.tag: xml_to_py(c) for c in children}


def json_as_xml_text(v):
    """A JSON value as reva writes it in XML: booleans 1/0, numbers as text,
    empty arrays and objects as empty elements."""
    if isinstance(v, bool):
        return '1' if v else '0'
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, dict):
        return {k: json_as_xml_text(x) for k, x in v.items() if x is not None} or ''
    if isinstance(v, list):
        return [json_as_xml_text(x) for x in v] or ''
    return v


def ocs(r):
    """The envelope of a JSON OCS answer."""
    return r.json()['ocs']


def check_capabilities(t, sp, bob):
    for v, code in (('v1', 100), ('v2', 200)):
        r = bob.get('/ocs/%s.php/cloud/capabilities?format=json' % v)
        t.ok(r.status == 200 and r.headers.get('content-type') == 'application/json; charset=utf-8'
             and r.headers.get('ocs-api-version') == v[1:],
             '%s capabilities: 200 JSON with Ocs-Api-Version %s' % (v, v[1:]),
             (r.status, r.headers))
        meta = ocs(r)['meta']
        t.ok(meta == {'status': 'ok', 'statuscode': code, 'message': 'OK'},
             '%s meta says ok with statuscode %d' % (v, code), meta)
    data = ocs(bob.get('/ocs/v2.php/cloud/capabilities?format=json'))['data']
    caps = data['capabilities']
    version = sp_version()
    t.ok(caps['core']['status']['product'] == 'Spaceport' and
         caps['core']['status']['productversion'] == version and
         data['version']['string'] == version and data['version']['product'] == 'Spaceport',
         'core.status and version name Spaceport and the version the program prints', data)
    t.ok(caps['core']['support-sse'] is True,
         'support-sse is true: the web opens oCIS\'s SSE path (test_ocs_sse)', caps['core'])
    t.ok(caps['spaces']['enabled'] is True and caps['spaces']['projects'] is True and
         caps['spaces']['max_quota'] == 0, 'spaces and projects on, no maximum quota',
         caps['spaces'])
    sharing = caps['files_sharing']
    t.ok(sharing['api_enabled'] is True and sharing['public']['enabled'] is False and
         sharing['group_sharing'] is True,
         'sharing API and group sharing on; public links said to be off (the web defaults '
         'them on)', sharing)
    t.ok(sharing['federation'] == {'incoming': True, 'outgoing': True},
         'OCM federation in and out announced', sharing.get('federation'))
    users = caps['graph']['users']
    t.ok(users['create_disabled'] is True and users['delete_disabled'] is True and
         {'user.displayName', 'user.mail', 'user.onPremisesSamAccountName'} <=
         set(users['read_only_attributes']),
         'users come from the identity provider: creating, deleting, editing them is off', users)
    n = sharing['search_min_length']
    short = bob.get('/graph/v1.0/users?$search=' + 'b' * (n - 1))
    enough = bob.get('/graph/v1.0/users?$search=' + 'b' * n)
    t.ok(short.status == 400 and enough.status == 200,
         'search_min_length (%d) is what /graph/v1.0/users enforces' % n,
         (short.status, enough.status))

    # XML: the same document, in reva's encoding.
    for v, path in (('v1', '/ocs/v1.php/cloud/capabilities'),
                    ('v2', '/ocs/v2.php/cloud/capabilities?format=xml')):
        r = bob.get(path)
        t.ok(r.status == 200 and r.headers.get('content-type') == 'text/xml; charset=utf-8' and
             r.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<ocs>'),
             '%s without format=json is text/xml with the XML declaration' % v, r.body[:80])
        root = ET.fromstring(r.body)
        want = ocs(bob.get('/ocs/%s.php/cloud/capabilities?format=json' % v))
        t.ok(root.tag == 'ocs' and xml_to_py(root) == json_as_xml_text(want),
             '%s XML says exactly what the JSON says' % v, (xml_to_py(root), want))

    # Version 1 is public as in oCIS (public link pages read it); version 2
    # asks for a token, as oCIS's proxy does.
    for token in (None, 'not.a.token'):
        r = sp.get('/ocs/v1.php/cloud/capabilities?format=json', token=token)
        t.ok(r.status == 200 and ocs(r)['meta']['statuscode'] == 100 and
             ocs(r)['data']['capabilities'] == caps,
             'v1 capabilities with %s: 200, the same document' % ('no token' if token is None
                                                                 else 'a bad token'), r.body[:200])
        r = sp.get('/ocs/v2.php/cloud/capabilities?format=json', token=token)
        t.ok(r.status == 401 and 'www-authenticate' in r.headers and
             ocs(r)['meta'] == {'status': 'error', 'statuscode': 997, 'message': 'Unauthorised'}
             and 'data' not in ocs(r),
             'v2 capabilities with %s: 401, OCS 997, no data' % ('no token' if token is None
                                                                else 'a bad token'), r.body[:200])


def sp_version():
    """The version `spaceport version` prints."""
    out = subprocess.run([BIN, 'version'], capture_output=True, text=True).stdout
    return out.split()[-1]


def check_user(t, sp, idp, bob):
    for v, code in (('v1', 100), ('v2', 200)):
        r = bob.get('/ocs/%s.php/cloud/user?format=json' % v)
        t.ok(r.status == 200 and ocs(r)['meta']['statuscode'] == code and ocs(r)['data'] == {
            'id': 'bob', 'display-name': 'Bob Builder', 'email': 'bob@example.test',
            'user-type': 'primary', 'language': 'en'},
             '%s cloud/user is the caller: user name, display name, verified e-mail' % v,
             r.body[:300])
        r = bob.get('/ocs/%s.php/cloud/user' % v)
        root = ET.fromstring(r.body)
        t.ok(root.findtext('meta/statuscode') == str(code) and root.findtext('data/id') == 'bob'
             and root.findtext('data/display-name') == 'Bob Builder',
             '%s cloud/user in XML says the same' % v, r.body[:300])
        odd = Client(sp, idp.token('odd-sub', 'odd', 'Tom & <Jerry> "O\'Neil"'))
        r = odd.get('/ocs/%s.php/cloud/user' % v)
        t.ok(r.status == 200 and
             ET.fromstring(r.body).findtext('data/display-name') == 'Tom & <Jerry> "O\'Neil"',
             '%s: a display name with XML special characters is escaped, not injected' % v,
             r.body[:300])
        ctl = Client(sp, idp.token('ctl-sub', 'ctl', 'Bell\u0007 Tab\tEnd'))
        r = ctl.get('/ocs/%s.php/cloud/user' % v)
        try:
            name = ET.fromstring(r.body).findtext('data/display-name')
        except ET.ParseError as e:
            name = 'not XML: %s' % e
        t.ok(r.status == 200 and name == 'Bell\ufffd Tab\tEnd',
             '%s: a control character XML forbids (from the token) becomes U+FFFD; the answer '
             'stays well-formed XML' % v, r.body[:300])
        for token in (None, 'not.a.token'):
            r = sp.get('/ocs/%s.php/cloud/user?format=json' % v, token=token)
            t.ok(r.status == 401 and ocs(r)['meta']['statuscode'] == 997 and 'data' not in ocs(r)
                 and r.headers.get('ocs-api-version') == v[1:],
                 '%s cloud/user with %s: 401, OCS 997, nobody disclosed' % (
                     v, 'no token' if token is None else 'a bad token'), r.body[:200])


def settings(client, what, body):
    return client.call('POST', '/api/v0/settings/%s-list' % what, body=body)


def check_settings(t, sp, idp, admin, spaceadmin, bob):
    ids = {n: c.me()['id'] for n, c in (('admin', admin), ('spaceadmin', spaceadmin),
                                         ('bob', bob))}
    r = settings(bob, 'roles', {})
    bundles = r.json().get('bundles', []) if r.status == 201 else []
    t.ok(r.status == 201 and {b['id'] for b in bundles} == {ADMIN, SPACE_ADMIN, USER} and
         all(b['type'] == 'TYPE_ROLE' for b in bundles),
         'roles-list: 201 with the three roles under oCIS\'s ids', r.body[:300])
    by_id = {b['id']: b for b in bundles}
    t.ok({s['name'] + '.all' for s in by_id.get(ADMIN, {}).get('settings', [])} ==
         ADMIN_PERMISSIONS and
         all(s['permissionValue']['constraint'] == 'CONSTRAINT_ALL'
             for b in bundles for s in b['settings']),
         'the admin bundle lists the permissions permissions-list gives an admin',
         by_id.get(ADMIN))
    r = settings(bob, 'roles', {'bundle_ids': [SPACE_ADMIN]})
    t.ok(r.status == 201 and [b['id'] for b in r.json()['bundles']] == [SPACE_ADMIN],
         'bundle_ids selects roles', r.body[:200])

    expect = {'admin': (ADMIN, ADMIN_PERMISSIONS),
              'spaceadmin': (SPACE_ADMIN, SPACE_ADMIN_PERMISSIONS),
              'bob': (USER, {'Shares.Write.all'})}
    clients = {'admin': admin, 'spaceadmin': spaceadmin, 'bob': bob}
    granted = {}  # what the server says each one may do
    for name, (role, perms) in expect.items():
        c = clients[name]
        r = settings(c, 'assignments', {'account_uuid': ids[name]})
        t.ok(r.status == 201 and [(a['accountUuid'], a['roleId']) for a in
                                  r.json()['assignments']] == [(ids[name], role)],
             '%s: assignments-list names the role of the roles claim' % name, r.body[:300])
        r = settings(c, 'assignments', {'accountUuid': 'me'})
        t.ok(r.status == 201 and r.json()['assignments'][0]['roleId'] == role,
             '%s: accountUuid (camelCase) "me" is the caller' % name, r.body[:300])
        r = settings(c, 'permissions', {'account_uuid': ids[name]})
        granted[name] = set(r.json().get('permissions', [])) if r.status == 201 else set()
        t.ok(r.status == 201 and set(r.json()['permissions']) == perms and
             len(r.json()['permissions']) == len(perms),
             '%s: permissions-list is %s' % (name, sorted(perms)), r.body[:400])

    # What the answered permissions promise, the server does; what they
    # withhold, it refuses.
    created = {}
    for name, c in clients.items():
        r = c.call('POST', '/graph/v1.0/drives', body={'name': 'by ' + name})
        may = 'Drives.Create.all' in granted[name]
        t.ok(r.status == (201 if may else 403),
             '%s: Drives.Create %s, creating a project is %s' % (
                 name, 'granted' if may else 'withheld', 201 if may else 403), r.body[:200])
        if r.status == 201:
            created[name] = r.json()['id']
        r = c.get('/graph/v1.0/drives')
        may = 'Drives.List.all' in granted[name]
        t.ok(r.status == (200 if may else 403),
             '%s: Drives.List %s, listing every drive is %s' % (
                 name, 'granted' if may else 'withheld', 200 if may else 403), r.body[:200])
    # The space admin runs a project she is no member of, and no personal
    # drive: what Drives.*Project* promise, and what they do not.
    r = spaceadmin.call('PATCH', '/graph/v1.0/drives/' + created['admin'],
                        body={'name': 'renamed by the space admin', 'quota': {'total': 7000}})
    t.ok(r.status == 200 and r.json()['quota']['total'] == 7000,
         'spaceadmin: Drives.ReadWrite and Drives.ReadWriteProjectQuota, and a project she is no '
         'member of is renamed and its quota set', r.body[:200])
    personal = bob.get('/graph/v1.0/me/drive').json()['id']
    r = spaceadmin.get('/graph/v1.0/drives')
    t.ok(r.status == 200 and personal in [d['id'] for d in r.json()['value']] and
         spaceadmin.get('/graph/v1.0/drives/' + personal).status == 200,
         'spaceadmin: Drives.List.all, and every drive is listed and readable, personal drives '
         'included (as in oCIS)', r.body[:200])
    r = spaceadmin.call('PATCH', '/graph/v1.0/drives/' + personal, body={'quota': {'total': 7000}})
    t.ok(r.status == 403, 'spaceadmin: no Drives.ReadWritePersonalQuota, and the quota of a '
         'personal drive is refused', r.body[:200])
    r = spaceadmin.call('DELETE', '/graph/v1.0/drives/' + personal)
    t.ok(r.status == 403, 'spaceadmin: no Drives.DeletePersonal, and disabling a personal drive is '
         'refused', r.body[:200])
    r = spaceadmin.call('DELETE', '/graph/v1.0/drives/' + created['admin'])
    t.ok(r.status == 204, 'spaceadmin: Drives.ReadWriteEnabled, and a project she is no member of '
         'is disabled', r.body[:200])
    r = spaceadmin.call('PATCH', '/graph/v1.0/drives/' + created['admin'], headers={'Restore': 'T'})
    t.ok(r.status == 200, 'and restored', r.body[:200])
    r = admin.call('PATCH', '/graph/v1.0/drives/' + created['spaceadmin'],
                   body={'quota': {'total': 5000}})
    t.ok(r.status == 200, 'admin: Drives.ReadWriteProjectQuota, and the quota of a project it '
         'does not manage is set', r.body[:200])
    r = admin.call('DELETE', '/graph/v1.0/drives/' + created['spaceadmin'])
    t.ok(r.status == 204, 'admin: Drives.ReadWriteEnabled, and a project it is no member of is '
         'disabled', r.body[:200])

    # Not disclosed: another user's permissions or role.
    r = settings(bob, 'permissions', {'account_uuid': ids['admin']})
    t.ok(r.status == 404 and 'permissions' not in r.json(),
         'a user asking for another account\'s permissions: 404', r.body[:200])
    r = settings(bob, 'assignments', {'account_uuid': ids['admin']})
    t.ok(r.status == 404 and 'assignments' not in r.json(),
         'a user asking for another account\'s role: 404', r.body[:200])
    r = settings(admin, 'assignments', {'account_uuid': ids['bob']})
    t.ok(r.status == 201 and r.json()['assignments'][0]['roleId'] == USER,
         'an admin may read another user\'s role', r.body[:200])
    r = settings(admin, 'assignments', {'account_uuid': 'no-such-user'})
    t.eq(r.status, 404, 'an admin asking for an unknown user: 404')
    r = settings(bob, 'permissions', {})
    t.eq(r.status, 404, 'permissions-list without account_uuid is not the caller: 404')

    # A demoted admin: the next token carries no role, nor do the answers.
    demoted = Client(sp, idp.token('admin-sub', 'admin', 'Ada Admin'))
    r = settings(demoted, 'permissions', {'account_uuid': ids['admin']})
    t.ok(r.status == 201 and set(r.json()['permissions']) == {'Shares.Write.all'},
         'the same user without the admin role loses the admin permissions at once',
         r.body[:300])
    r = settings(demoted, 'assignments', {'account_uuid': 'me'})
    t.ok(r.status == 201 and r.json()['assignments'][0]['roleId'] == USER,
         'and is assigned the user role', r.body[:300])

    # Bad bodies and no token.
    bad = [('assignments', b'{"account_uuid": '), ('assignments', b'[]'),
           ('assignments', b''), ('assignments', b'{"account_uuid": 5}'),
           ('assignments', b'{"account_uuid": "me", "accountUuid": "me"}'),
           ('assignments', b'{}'), ('assignments', b'{"account_uuid": "me", "role": "admin"}'),
           ('permissions', b'{"account_uuid": ["x"]}'), ('roles', b'{"bundle_ids": "x"}'),
           ('roles', b'{"bundle_ids": [], "bundle_ids": []}')]
    for what, body in bad:
        r = bob.call('POST', '/api/v0/settings/%s-list' % what, body=body,
                     headers={'Content-Type': 'application/json'})
        t.ok(r.status == 400 and r.json()['error']['code'] == 'invalidRequest',
             '%s-list with %r: 400' % (what, body[:40]), r.body[:200])
    for what in ('roles', 'assignments', 'permissions'):
        for token in (None, 'not.a.token'):
            hdrs = {'Authorization': 'Bearer ' + token} if token else {}
            r = sp.request('POST', '/api/v0/settings/%s-list' % what,
                           body={'account_uuid': ids['bob']}, headers=hdrs)
            t.ok(r.status == 401 and 'www-authenticate' in r.headers and
                 b'Shares' not in r.body and b'bundles' not in r.body,
                 '%s-list with %s: 401, nothing listed' % (
                     what, 'no token' if token is None else 'a bad token'), r.body[:200])


def main(t):
    with Issuer() as idp, Nats() as nats, Spaceport(nats_url=nats.url, issuers=idp.url) as sp:
        admin = Client(sp, idp.token('admin-sub', 'admin', 'Ada Admin',
                                     roles=['spaceport-admin']))
        spaceadmin = Client(sp, idp.token('sa-sub', 'spaceadmin', 'Sam Spaceadmin',
                                          roles=['spaceport-spaceadmin']))
        bob = Client(sp, idp.token('bob-sub', 'bob', 'Bob Builder', email='bob@example.test'))
        check_capabilities(t, sp, bob)
        check_user(t, sp, idp, bob)
        check_settings(t, sp, idp, admin, spaceadmin, bob)
        t.eq(sp.stop(), 0, 'spaceport exits 0')


if __name__ == '__main__':
    TAP().run(main)
