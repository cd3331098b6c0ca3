#!/usr/bin/python3
"""Drives API end to end: personal and project drives, members and roles,
quota, disable/restore/purge, filters, ordering, keyset paging, ETags,
BOLA and role matrices, and an event row for every change."""
import http.client
import json
import urllib.parse

from harness import TAP, Client, Issuer, Nats, Spaceport

MANAGER = '312c0871-5ef7-4b3a-85b6-0e4074c64049'
SPACE_EDITOR = '58c63c02-1d89-4572-916a-870abc5a1b7d'
SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'
VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
ROLE_IDS = {VIEWER, SPACE_VIEWER, 'fb6c3e19-e378-47e5-b277-9732f9de6e21', SPACE_EDITOR,
            '2d00ce52-1fc2-4dbc-8b95-a73b73395f5a', '1c996275-f1c9-4e71-abdf-a42f6495e960',
            MANAGER}
DAV = 'https://dav.example.test'


def events(sp, since=0):
    rows = sp.db_rows('SELECT seq, type, subject, data FROM events WHERE seq > ? ORDER BY seq',
                      (since,))
    out = []
    for seq, typ, subject, data in rows:
        rcpt = [r[0] for r in sp.db_rows(
            'SELECT u.id FROM event_recipients e JOIN users u ON u.seq = e.user_seq '
            'WHERE e.event_seq = ?', (seq,))]
        out.append({'seq': seq, 'type': typ, 'subject': subject, 'data': json.loads(data),
                    'recipients': set(rcpt)})
    return out


def last_seq(sp):
    return sp.db_rows('SELECT coalesce(max(seq), 0) FROM events')[0][0]


def drive_ids(resp):
    return [d['id'] for d in resp.json()['value']]


def check_personal(t, sp, alice, alice_id):
    r = alice.get('/graph/v1.0/me/drives')
    t.eq(r.status, 200, 'me/drives answers 200')
    drives = r.json()['value']
    t.eq(len(drives), 1, 'a new user has exactly one drive')
    d = drives[0]
    t.eq(d['driveType'], 'personal', 'it is the personal drive')
    t.eq(d['driveAlias'], 'personal/alice', 'personal alias is personal/<username>')
    t.eq(d['owner']['user']['id'], alice_id, 'the owner is the user')
    t.eq(d['root']['webDavUrl'], DAV + '/dav/spaces/' + d['id'],
         'root.webDavUrl = DAV_URL/dav/spaces/{id}')
    t.ok(d['webUrl'].endswith('/f/' + d['id']), 'webUrl points at the drive')
    t.eq(d['quota'], {'total': 0, 'used': 0, 'remaining': 0, 'state': 'normal'},
         'an unlimited quota reads total 0, state normal')
    t.ok(d['root']['eTag'].startswith('"') and d['root']['eTag'].endswith('"'),
         'root.eTag is a quoted entity tag')
    perms = d['root']['permissions']
    t.ok(len(perms) == 1 and perms[0]['roles'] == ['manager'] and
         perms[0]['grantedToIdentities'][0]['user']['id'] == alice_id,
         'v1.0 permissions name the owner as manager', perms)
    r = alice.get('/graph/v1beta1/me/drives')
    p = r.json()['value'][0]['root']['permissions'][0]
    t.ok(p['roles'] == [MANAGER] and p['grantedToV2']['user']['id'] == alice_id,
         'v1beta1 permissions use grantedToV2 and role ids', p)
    ev = [e for e in events(sp) if e['type'] == 'spaceport.space.created' and
          e['subject'] == d['id']]
    t.ok(len(ev) == 1 and ev[0]['recipients'] == {alice_id} and
         ev[0]['data']['driveType'] == 'personal', 'first sight wrote space.created for it', ev)
    return d['id']


def check_create(t, sp, bob, carol, bob_id):
    r = carol.call('POST', '/graph/v1.0/drives', {'name': 'Nope'})
    t.eq(r.status, 403, 'creating a project drive without a role is 403')
    before = last_seq(sp)
    r = bob.call('POST', '/graph/v1.0/drives',
                 {'name': 'Team Alpha, Q3 report', 'description': 'numbers',
                  'quota': {'total': 5000}})
    t.eq(r.status, 201, 'a space admin creates a project drive: 201')
    d = r.json()
    t.eq(d['driveType'], 'project', 'driveType project')
    t.eq(d['driveAlias'], 'project/team-alpha-q3-report', 'alias is project/<slug of name>')
    t.eq(d['description'], 'numbers', 'description kept')
    t.eq(d['quota']['total'], 5000, 'quota total set at creation')
    t.ok(r.headers.get('location', '').endswith('/graph/v1.0/drives/' + d['id']),
         'Location names the new drive')
    perms = d['root']['permissions']
    t.ok(len(perms) == 1 and perms[0]['roles'] == ['manager'] and
         perms[0]['grantedToIdentities'][0]['user']['id'] == bob_id, 'the creator is its Manager')
    ev = events(sp, before)
    t.ok(len(ev) == 1 and ev[0]['type'] == 'spaceport.space.created' and
         ev[0]['data']['executant'] == bob_id and ev[0]['subject'] == d['id'],
         'creation wrote one space.created event naming the executant', ev)

    bad = [
        ({}, 'name missing'),
        ({'name': ''}, 'empty name'),
        ({'name': '   '}, 'white-space name'),
        ({'name': '.'}, 'name "."'),
        ({'name': '..'}, 'name ".."'),
        ({'name': 'a/b'}, 'name with /'),
        ({'name': 'a\\b'}, 'name with backslash'),
        ({'name': 'a:b'}, 'name with :'),
        ({'name': 'a?b'}, 'name with ?'),
        ({'name': 'a*b'}, 'name with *'),
        ({'name': 'a"b'}, 'name with "'),
        ({'name': 'a<b'}, 'name with <'),
        ({'name': 'a>b'}, 'name with >'),
        ({'name': 'a|b'}, 'name with |'),
        ({'name': 'x' * 256}, 'name of 256 characters'),
        ({'name': 5}, 'name not a string'),
        ({'name': 'ok', 'id': 'mine'}, 'id set by the client'),
        ({'name': 'ok', 'driveType': 'personal'}, 'driveType personal'),
        ({'name': 'ok', 'owner': {'user': {'id': 'x'}}}, 'owner set by the client'),
        ({'name': 'ok', 'quota': {'used': 1}}, 'quota.used set by the client'),
        ({'name': 'ok', 'quota': {'total': -1}}, 'negative quota'),
        ({'name': 'ok', 'quota': {'total': 'lots'}}, 'quota not a number'),
    ]
    before = last_seq(sp)
    for body, what in bad:
        r = bob.call('POST', '/graph/v1.0/drives', body)
        t.ok(r.status == 400 and 'error' in r.json(), 'POST drive with %s is 400' % what,
             (r.status, r.body[:200]))
    r = bob.call('POST', '/graph/v1.0/drives', {'name': 'é' * 255})
    t.eq(r.status, 201, 'a name of 255 non-ASCII characters is accepted')
    bob.call('DELETE', '/graph/v1.0/drives/' + r.json()['id'])
    for raw, what in [(b'{"name": "a"', 'truncated JSON'), (b'[1,2]', 'a JSON array'),
                      (b'', 'an empty body'), (b'{"name":"a","name":"b"}', 'duplicate keys'),
                      (b'{"a":' * 40 + b'1' + b'}' * 40, 'nesting 40 deep')]:
        r = bob.call('POST', '/graph/v1.0/drives', raw, {'Content-Type': 'application/json'})
        t.ok(r.status == 400 and r.json()['error']['code'] == 'invalidRequest',
             'POST drive with %s is 400' % what, (r.status, r.body[:200]))
    kinds = {e['type'] for e in events(sp, before)}
    t.ok(kinds <= {'spaceport.space.created', 'spaceport.space.disabled'},
         'refused requests wrote no events', kinds)
    return d['id']


def invite(client, drive, user_id, role):
    return client.call('POST', '/graph/v1beta1/drives/%s/root/invite' % drive,
                       {'recipients': [{'objectId': user_id}], 'roles': [role]})


def check_members(t, sp, bob, carol, dave, project, bob_id, carol_id, dave_id):
    before = last_seq(sp)
    r = invite(bob, project, carol_id, SPACE_VIEWER)
    t.eq(r.status, 200, 'a Manager invites a member: 200')
    perm = r.json()['value'][0]
    t.ok(perm['roles'] == [SPACE_VIEWER] and perm['grantedToV2']['user']['id'] == carol_id,
         'the invite answers the new permission', perm)
    ev = events(sp, before)
    t.ok(len(ev) == 1 and ev[0]['type'] == 'spaceport.space.member.added' and
         ev[0]['recipients'] == {bob_id, carol_id} and ev[0]['data']['grantee'] == carol_id and
         ev[0]['data']['role'] == SPACE_VIEWER,
         'member.added written with members and grantee as recipients', ev)
    t.ok(project in drive_ids(carol.get('/graph/v1.0/me/drives')),
         'the new member sees the drive in me/drives')
    t.eq(invite(bob, project, carol_id, SPACE_VIEWER).status, 409, 'inviting a member twice: 409')
    t.eq(invite(bob, project, 'no-such-user', SPACE_VIEWER).status, 400,
         'inviting an unknown user: 400')
    t.eq(invite(bob, project, dave_id, VIEWER).status, 400,
         'inviting with an item role (Viewer) to a space: 400')
    t.eq(invite(bob, project, dave_id, 'nonsense').status, 400, 'inviting with no known role: 400')
    t.eq(invite(carol, project, dave_id, SPACE_VIEWER).status, 403,
         'a SpaceViewer cannot invite: 403')
    r = carol.get('/graph/v1beta1/drives/%s/root/permissions' % project)
    t.ok(r.status == 200 and len(r.json()['value']) == 2 and
         {p['id'] for p in r.json()['@libre.graph.permissions.roles.allowedValues']} ==
         {MANAGER, SPACE_EDITOR, SPACE_VIEWER},
         'members list permissions with the allowed space roles', r.body[:300])

    # The last Manager stays.
    mine = [p for p in r.json()['value'] if p['grantedToV2']['user']['id'] == bob_id][0]
    r = bob.call('DELETE', '/graph/v1beta1/drives/%s/root/permissions/%s' % (project, mine['id']))
    t.eq(r.status, 409, 'the last Manager cannot be removed')
    r = bob.call('PATCH', '/graph/v1beta1/drives/%s/root/permissions/%s' % (project, mine['id']),
                 {'roles': [SPACE_VIEWER]})
    t.eq(r.status, 409, 'the last Manager cannot be demoted')
    r = bob.call('PATCH', '/graph/v1beta1/drives/%s/root/permissions/%s' % (project, perm['id']),
                 {'roles': [SPACE_EDITOR]})
    t.ok(r.status == 200 and r.json()['roles'] == [SPACE_EDITOR],
         'a Manager changes a member role', r.body[:200])
    r = bob.call('PATCH', '/graph/v1beta1/drives/%s/root/permissions/%s' % (project, perm['id']),
                 {'expirationDateTime': '2999-01-01T00:00:00Z'})
    t.ok(r.status == 200 and r.json()['roles'] == [SPACE_EDITOR] and
         r.json()['expirationDateTime'].startswith('2999-01-01'),
         'changing only the expiry keeps the role', r.body[:200])
    r = bob.call('PATCH', '/graph/v1beta1/drives/%s/root/permissions/%s' % (project, perm['id']),
                 {'expirationDateTime': '2001-01-01T00:00:00Z'})
    t.eq(r.status, 400, 'an expiry in the past: 400')
    r = bob.call('PATCH', '/graph/v1beta1/drives/%s/root/permissions/nope' % project,
                 {'roles': [SPACE_VIEWER]})
    t.eq(r.status, 404, 'an unknown permission: 404')

    # A member can leave; the event reaches the leaver too.
    before = last_seq(sp)
    r = carol.call('DELETE', '/graph/v1beta1/drives/%s/root/permissions/%s' % (project, perm['id']))
    t.eq(r.status, 204, 'a member may leave a space')
    ev = events(sp, before)
    t.ok(len(ev) == 1 and ev[0]['type'] == 'spaceport.space.member.removed' and
         carol_id in ev[0]['recipients'], 'member.removed reaches the removed member', ev)
    r = carol.get('/graph/v1.0/drives/' + project)
    t.eq(r.status, 404, 'after leaving, the drive is 404 for the former member')


def check_role_matrix(t, sp, bob, users, project):
    """Each space role against each action."""
    expected = {
        #           get  rename quota invite perms  disable
        SPACE_VIEWER: (200, 403, 403, 403, 200, 403),
        SPACE_EDITOR: (200, 403, 403, 403, 200, 403),
        MANAGER: (200, 200, 403, 200, 200, None),
    }
    names = ('GET drive', 'rename', 'set quota', 'invite', 'list permissions', 'disable')
    for role, (client, uid, other_id) in zip(expected, users):
        r = invite(bob, project, uid, role)
        pid = r.json()['value'][0]['id']
        got = (
            client.get('/graph/v1.0/drives/' + project).status,
            client.call('PATCH', '/graph/v1.0/drives/' + project, {'name': 'Renamed'}).status,
            client.call('PATCH', '/graph/v1.0/drives/' + project, {'quota': {'total': 7}}).status,
            invite(client, project, other_id, SPACE_VIEWER).status,
            client.get('/graph/v1beta1/drives/%s/root/permissions' % project).status,
        )
        for name, g, want in zip(names, got, expected[role]):
            t.eq(g, want, 'role matrix: %s may%s %s' % (
                {SPACE_VIEWER: 'SpaceViewer', SPACE_EDITOR: 'SpaceEditor',
                 MANAGER: 'Manager'}[role], '' if want == 200 else ' not', name))
        # clean up: remove the other user if invited, and this one
        perms = bob.get('/graph/v1beta1/drives/%s/root/permissions' % project).json()['value']
        for p in perms:
            if p['grantedToV2']['user']['id'] in (uid, other_id):
                bob.call('DELETE', '/graph/v1beta1/drives/%s/root/permissions/%s' %
                         (project, p['id']))
    bob.call('PATCH', '/graph/v1.0/drives/' + project, {'name': 'Team Alpha, Q3 report'})


def check_bola(t, sp, dave, bob, project, alice_personal):
    """Another user tries every route on drives that are not theirs."""
    before = last_seq(sp)
    snapshot = bob.get('/graph/v1.0/drives/' + project).json()
    for drive in (project, alice_personal):
        attempts = [
            ('GET', '/graph/v1.0/drives/%s' % drive, None, {}),
            ('GET', '/graph/v1beta1/drives/%s' % drive, None, {}),
            ('PATCH', '/graph/v1.0/drives/%s' % drive, {'name': 'pwned'}, {}),
            ('PATCH', '/graph/v1.0/drives/%s' % drive, {}, {'Restore': 'T'}),
            ('DELETE', '/graph/v1.0/drives/%s' % drive, None, {}),
            ('DELETE', '/graph/v1.0/drives/%s' % drive, None, {'Purge': 'T'}),
            ('POST', '/graph/v1beta1/drives/%s/root/invite' % drive,
             {'recipients': [{'objectId': 'x'}], 'roles': [MANAGER]}, {}),
            ('GET', '/graph/v1beta1/drives/%s/root/permissions' % drive, None, {}),
            ('GET', '/graph/v1.0/drives/%s/root/permissions' % drive, None, {}),
            ('PATCH', '/graph/v1beta1/drives/%s/root/permissions/x' % drive,
             {'roles': [MANAGER]}, {}),
            ('DELETE', '/graph/v1beta1/drives/%s/root/permissions/x' % drive, None, {}),
        ]
        for method, path, body, hdrs in attempts:
            r = dave.call(method, path, body, hdrs)
            t.eq(r.status, 404, 'BOLA: %s %s by a stranger is 404' % (method, path.replace(
                drive, '{%s}' % ('project' if drive == project else 'personal'))))
        t.ok(drive not in drive_ids(dave.get('/graph/v1.0/me/drives')),
             'BOLA: the stranger does not list it')
    t.eq(last_seq(sp), before, 'BOLA: no event was written')
    t.eq(bob.get('/graph/v1.0/drives/' + project).json(), snapshot,
         'BOLA: the drive is unchanged')


def check_lifecycle(t, sp, alice, bob, carol, project, carol_id, bob_id):
    invite(bob, project, carol_id, SPACE_VIEWER)
    r = bob.call('PATCH', '/graph/v1.0/drives/' + project,
                 {'name': 'Alpha', 'description': 'renamed'})
    t.ok(r.status == 200 and r.json()['name'] == 'Alpha' and r.json()['description'] == 'renamed',
         'a Manager renames and describes', r.body[:200])
    ev = events(sp, last_seq(sp) - 1)
    t.ok(ev and ev[-1]['type'] == 'spaceport.space.updated' and
         ev[-1]['recipients'] == {bob_id, carol_id}, 'space.updated reaches all members', ev)
    r = bob.call('PATCH', '/graph/v1.0/drives/' + project, {'quota': {'total': 1000}})
    q = r.json().get('quota', {})
    t.ok(r.status == 200 and q == {'total': 1000, 'used': 0, 'remaining': 1000,
                                   'state': 'normal'},
         'a space admin who manages the drive sets its quota', r.body[:300])
    r = alice.call('PATCH', '/graph/v1.0/drives/' + project, {'quota': {'total': 2000}})
    t.ok(r.status == 200 and r.json()['quota']['total'] == 2000, 'an admin sets any quota')
    for body, what in [({'id': 'x'}, 'id'), ({'driveType': 'personal'}, 'driveType'),
                       ({'owner': {}}, 'owner'), ({'quota': {'used': 5}}, 'quota.used'),
                       ({}, 'nothing')]:
        r = bob.call('PATCH', '/graph/v1.0/drives/' + project, body)
        t.eq(r.status, 400, 'PATCH with %s is 400' % what)

    r = bob.call('DELETE', '/graph/v1.0/drives/' + project, headers={'Purge': 'T'})
    t.eq(r.status, 400, 'purging an enabled drive is 400')
    t.eq(carol.call('DELETE', '/graph/v1.0/drives/' + project).status, 403,
         'a SpaceViewer cannot disable')
    before = last_seq(sp)
    t.eq(bob.call('DELETE', '/graph/v1.0/drives/' + project).status, 204, 'a Manager disables')
    ev = events(sp, before)
    t.ok(len(ev) == 1 and ev[0]['type'] == 'spaceport.space.disabled', 'space.disabled written')
    d = bob.get('/graph/v1.0/drives/' + project)
    t.ok(d.status == 200 and d.json()['root'].get('deleted') == {'state': 'trashed'},
         'a disabled drive shows root.deleted.state trashed to its Manager')
    t.eq(carol.get('/graph/v1.0/drives/' + project).status, 404,
         'a disabled drive is 404 for a viewer')
    t.ok(project not in drive_ids(carol.get('/graph/v1.0/me/drives')),
         'a disabled drive is not listed to a viewer')
    t.eq(bob.call('PATCH', '/graph/v1.0/drives/' + project, {'name': 'X'}).status, 409,
         'renaming a disabled drive is 409')
    r = bob.call('PATCH', '/graph/v1.0/drives/' + project, b'', {'Restore': 'T'})
    t.ok(r.status == 200 and 'deleted' not in r.json()['root'], 'Restore: T re-enables',
         r.body[:200])
    t.eq(carol.get('/graph/v1.0/drives/' + project).status, 200, 'the viewer sees it again')
    t.eq(bob.call('PATCH', '/graph/v1.0/drives/' + project, b'', {'Restore': 'T'}).status, 409,
         'restoring an enabled drive is 409')
    bob.call('DELETE', '/graph/v1.0/drives/' + project)
    before = last_seq(sp)
    t.eq(bob.call('DELETE', '/graph/v1.0/drives/' + project, headers={'Purge': 'T'}).status, 204,
         'a Manager purges a disabled drive')
    ev = events(sp, before)
    t.ok(len(ev) == 1 and ev[0]['type'] == 'spaceport.space.deleted' and
         ev[0]['recipients'] == {bob_id, carol_id}, 'space.deleted reaches former members', ev)
    t.eq(bob.get('/graph/v1.0/drives/' + project).status, 404, 'a purged drive is gone')
    t.eq(alice.get('/graph/v1.0/drives/' + project).status, 404, 'gone for admins too')

    personal = [d for d in carol.get('/graph/v1.0/me/drives').json()['value']
                if d['driveType'] == 'personal'][0]['id']
    t.eq(carol.call('DELETE', '/graph/v1.0/drives/' + personal).status, 403,
         'a user cannot disable their own personal drive')


def check_queries(t, alice, bob, carol):
    names = ['delta', 'Alpha', 'charlie', 'Bravo', 'echo']
    ids = {}
    for n in names:
        r = bob.call('POST', '/graph/v1.0/drives', {'name': n})
        ids[n] = r.json()['id']
    r = bob.get('/graph/v1.0/me/drives?$filter=' + urllib.parse.quote("driveType eq 'project'") +
                '&$orderby=name')
    got = [d['name'] for d in r.json()['value'] if d['name'] in names]
    t.eq(got, ['Alpha', 'Bravo', 'charlie', 'delta', 'echo'], '$orderby=name is case-insensitive')
    t.ok(all(d['driveType'] == 'project' for d in r.json()['value']),
         "$filter=driveType eq 'project' lists projects only")
    r = bob.get('/graph/v1.0/me/drives?$orderby=' + urllib.parse.quote('name desc') +
                '&$filter=' + urllib.parse.quote("driveType eq 'project'"))
    got = [d['name'] for d in r.json()['value'] if d['name'] in names]
    t.eq(got, ['echo', 'delta', 'charlie', 'Bravo', 'Alpha'], '$orderby=name desc')
    r = bob.get('/graph/v1.0/me/drives?$orderby=' + urllib.parse.quote('lastModifiedDateTime desc'))
    stamps = [d['lastModifiedDateTime'] for d in r.json()['value']]
    t.eq(stamps, sorted(stamps, reverse=True), '$orderby=lastModifiedDateTime desc')
    r = bob.get('/graph/v1.0/me/drives?$filter=' + urllib.parse.quote("id eq '%s'" % ids['echo']))
    t.eq(drive_ids(r), [ids['echo']], "$filter=id eq '<id>' finds one")
    r = bob.get('/graph/v1.0/me/drives?$filter=' + urllib.parse.quote("driveType eq 'personal'"))
    t.ok(len(r.json()['value']) == 1 and r.json()['value'][0]['driveType'] == 'personal',
         "$filter=driveType eq 'personal'")
    # Refusals as oCIS gives them (test_odata.py has the full table).
    for q, status, what in [("$filter=driveType ne 'project'", 501, 'ne operator'),
                            ("$filter=driveType eq 'project", 400, 'an open quote'),
                            ('$orderby=size', 400, 'order by size'),
                            ('$orderby=name sideways', 400, 'bad direction'),
                            ('$top=0', 400, '$top=0'), ('$top=-3', 400, 'negative $top'),
                            ('$top=abc', 400, '$top text'),
                            ('$skiptoken=garbage', 400, 'a forged cursor')]:
        name, _, value = q.partition('=')
        r = bob.get('/graph/v1.0/me/drives?%s=%s' % (name, urllib.parse.quote(value)))
        t.ok(r.status == status and r.json()['error']['message'],
             'unsupported query (%s) is %d saying why' % (what, status), r.body[:200])
    r = bob.get('/graph/v1.0/me/drives?$filter=' + urllib.parse.quote("driveType eq 'other'"))
    t.ok(r.status == 200 and r.json()['value'] == [], 'an unknown driveType lists nothing',
         r.body[:200])
    r = bob.get('/graph/v1.0/me/drives?$top=5000')
    t.eq(r.status, 200, '$top above 1000 is clamped, not refused')

    # ETag and 304
    r = bob.get('/graph/v1.0/me/drives')
    etag = r.headers.get('etag')
    t.ok(etag and etag.startswith('W/"'), 'list responses carry an ETag', etag)
    r2 = bob.get('/graph/v1.0/me/drives', headers={'If-None-Match': etag})
    t.ok(r2.status == 304 and r2.body == b'', 'If-None-Match with the same ETag is 304, no body')
    bob.call('PATCH', '/graph/v1.0/drives/' + ids['echo'], {'name': 'echo2'})
    r3 = bob.get('/graph/v1.0/me/drives', headers={'If-None-Match': etag})
    t.ok(r3.status == 200 and r3.headers.get('etag') != etag, 'a change gives 200 and a new ETag')

    t.eq(alice.get('/graph/v1.0/drives').status, 200, 'an admin lists all drives')
    t.eq(carol.get('/graph/v1.0/drives').status, 403,
         'a user with neither admin role listing all drives is 403')
    t.eq(bob.get('/graph/v1.0/drives').status, 200,
         'a space admin lists all drives (oCIS: Drives.List.all)')
    r = alice.get('/graph/v1.0/drives/' + ids['delta'])
    t.eq(r.status, 200, 'an admin reads any drive')
    r = alice.get('/graph/v1beta1/roleManagement/permissions/roleDefinitions')
    t.ok(r.status == 200 and {x['id'] for x in r.json()} == ROLE_IDS,
         'roleDefinitions lists the unified roles with their ids', r.body[:300])
    r = alice.get('/graph/v1beta1/roleManagement/permissions/roleDefinitions/' + MANAGER)
    t.ok(r.status == 200 and r.json()['id'] == MANAGER, 'one role definition by id')


def page_all(sp, token, path, top, order=None):
    """Follows @odata.nextLink on one keep-alive connection; returns ids."""
    conn = http.client.HTTPConnection('127.0.0.1', sp.port, timeout=30)
    url = path + '?$top=%d' % top
    if order:
        url += '&$orderby=' + urllib.parse.quote(order)
    seen, pages = [], 0
    while url:
        conn.request('GET', url, headers={'Authorization': 'Bearer ' + token})
        r = conn.getresponse()
        doc = json.loads(r.read())
        if r.status != 200:
            raise RuntimeError('page %d: %d %r' % (pages, r.status, doc))
        seen += [d['id'] for d in doc['value']]
        pages += 1
        link = doc.get('@odata.nextLink')
        url = link[len(sp.url):] if link else None
    conn.close()
    return seen, pages


def check_paging(t, sp, carol_token, alice_token):
    conn = http.client.HTTPConnection('127.0.0.1', sp.port, timeout=30)
    created = set()
    for i in range(2500):
        conn.request('POST', '/graph/v1.0/drives', body=json.dumps({'name': 'page %04d' % (i % 700)}),
                     headers={'Authorization': 'Bearer ' + carol_token,
                              'Content-Type': 'application/json'})
        r = conn.getresponse()
        body = json.loads(r.read())
        if r.status == 201:
            created.add(body['id'])
    conn.close()
    t.eq(len(created), 2500, '2,500 project drives created')
    for order in (None, 'name desc', 'lastModifiedDateTime', 'lastModifiedDateTime desc'):
        seen, pages = page_all(sp, carol_token, '/graph/v1.0/me/drives', 97, order)
        mine = [i for i in seen if i in created]
        t.ok(len(seen) == len(set(seen)) and set(mine) == created and pages >= 26,
             'paging me/drives by %s: %d pages, no duplicates, no gaps' % (order or 'name', pages),
             (len(seen), len(set(seen)), len(created - set(mine))))
    seen, pages = page_all(sp, alice_token, '/graph/v1.0/drives', 500)
    t.ok(len(seen) == len(set(seen)) and created <= set(seen),
         'paging all drives as admin: %d pages, no duplicates, no gaps' % pages)


def main(t):
    with Nats() as nats, Issuer() as idp:
        sp = Spaceport(nats_url=nats.url, issuers=idp.url,
                       env={'SPACEPORT_DAV_URL': DAV + '/', 'SPACEPORT_LOG_LEVEL': 'info'})
        with sp:
            alice = Client(sp, idp.token('alice-sub', 'alice', 'Alice A', roles=[
                'spaceport-admin']))
            bob = Client(sp, idp.token('bob-sub', 'bob', 'Bob B', roles=['spaceport-spaceadmin']))
            carol_token = idp.token('carol-sub', 'carol', 'Carol C')
            carol = Client(sp, carol_token)
            dave = Client(sp, idp.token('dave-sub', 'dave', 'Dave D'))
            erin = Client(sp, idp.token('erin-sub', 'erin', 'Erin E'))
            ids = {}
            for name, c in (('alice', alice), ('bob', bob), ('carol', carol), ('dave', dave),
                            ('erin', erin)):
                r = c.get('/graph/v1.0/me')
                if not t.eq(r.status, 200, '%s is provisioned on first sight' % name):
                    t.diag(sp.stderr_text()[-3000:])
                    return
                ids[name] = r.json()['id']
            alice_personal = check_personal(t, sp, alice, ids['alice'])
            project = check_create(t, sp, bob, carol, ids['bob'])
            check_members(t, sp, bob, carol, dave, project, ids['bob'], ids['carol'], ids['dave'])
            check_role_matrix(t, sp, bob, [(carol, ids['carol'], ids['dave']),
                                           (dave, ids['dave'], ids['erin']),
                                           (erin, ids['erin'], ids['carol'])], project)
            check_bola(t, sp, dave, bob, project, alice_personal)
            check_lifecycle(t, sp, alice, bob, carol, project, ids['carol'], ids['bob'])
            check_queries(t, alice, bob, carol)
            carol_admin = idp.token('carol-sub', 'carol', 'Carol C', roles=['spaceport-spaceadmin'])
            check_paging(t, sp, carol_admin, alice.token)


if __name__ == '__main__':
    TAP().run(main)
