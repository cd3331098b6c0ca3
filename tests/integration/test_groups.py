#!/usr/bin/python3
"""Groups from tokens, end to end: memberships recorded from the groups
claim per issuer, the groups routes judged against the libre-graph
document, shares and space memberships given to a group reaching its
members from the first request whose token shows the membership and no
longer once a token leaves it out, group grants' events on the members'
change streams (and not on others'), and the claim shapes that refuse a
token."""
import json
import os
import urllib.parse

import jsonschema
import yaml  # python3-yaml

from harness import BIN, SOURCE_ROOT, TAP, Client, Issuer, Nats, Spaceport, wait_until
from sse import Stream
from test_contract import SPEC_PATH as CONTRACT_PATH
from test_contract import Contract
from test_libregraph import SPEC_PATH, LibreGraph

MANAGER = '312c0871-5ef7-4b3a-85b6-0e4074c64049'
SPACE_EDITOR = '58c63c02-1d89-4572-916a-870abc5a1b7d'
SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'
VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'


def schemas():
    d = os.path.join(SOURCE_ROOT, 'schema', 'events')
    return {n: json.load(open(os.path.join(d, n + '.json'))) for n in ('share', 'member')}


def schema_problem(schema, data):
    """The event data of a change-stream frame (which adds type and time)
    against schema: None or the problem."""
    data = {k: v for k, v in data.items() if k not in ('type', 'time')}
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as e:
        return e.message
    return None


def events_of(stream, seconds, wanted):
    """The change events of type wanted arriving on stream within seconds,
    as (event, data) pairs."""
    out = []
    for e in stream.collect(seconds):
        if e.get('event') in wanted and 'data' in e:
            out.append((e['event'], json.loads(e['data'])))
    return out


def first_event(stream, name, timeout=5.0):
    """The data of the first event called name on stream, or None."""
    found = []

    def seen():
        e = stream.next(0.2)
        if e and e.get('event') == name:
            found.append(json.loads(e['data']))
        return bool(found)
    wait_until(seen, timeout)
    return found[0] if found else None


def add_group(client, project, group, role):
    """Invites group to the space root as role."""
    return client.call('POST', '/graph/v1beta1/drives/%s/root/invite' % project, {
        'recipients': [{'objectId': group, '@libre.graph.recipient.type': 'group'}],
        'roles': [role]})


def judged(t, judge, method, path, r, name, contract=None):
    """r judged by the libre-graph document (judge) and, when given, by our
    own contract (schema/openapi.yaml)."""
    if judge:
        problems = judge.check(method, path, r)
        t.ok(not problems, name + ' (libre-graph document)', problems)
    if contract:
        problems = contract.check(method, path, r)
        t.ok(not problems, name + ' (schema/openapi.yaml)', problems)


def check_claims(t, sp, v):
    """Bad shapes of the groups claim refuse the token, whole; odd but
    valid ones are read as documented."""
    def status(groups):
        return Client(sp, v.token('shape-sub', 'shape', groups=groups)).get(
            '/graph/v1.0/me').status
    t.eq(status('physics'), 401, 'a groups claim that is a string refuses the token')
    t.eq(status({'physics': True}), 401, 'a groups claim that is an object refuses the token')
    t.eq(status(['physics', 7]), 401, 'a group that is not a string refuses the token')
    t.eq(status(['']), 401, 'an empty group name refuses the token')
    t.eq(status(['x' * 256]), 401, 'a group name of 256 bytes refuses the token')
    t.eq(status(['tab\tname']), 401, 'a group name with a control character refuses the token')
    t.eq(status(['g%d' % i for i in range(257)]), 401,
         '257 groups refuse the token (at most 256)')
    many = Client(sp, v.token('shape-sub', 'shape', groups=['g%03d' % i for i in range(256)]))
    r = many.get('/graph/v1.0/me?$expand=memberOf')
    t.ok(r.status == 200 and len(r.json()['memberOf']) == 256,
         '256 groups are read, all of them', r.status)
    dup = Client(sp, v.token('shape-sub', 'shape', groups=['dup', 'dup', 'x' * 255]))
    r = dup.get('/graph/v1.0/me?$expand=memberOf')
    t.ok(r.status == 200 and sorted(g['displayName'] for g in r.json()['memberOf']) ==
         ['dup', 'x' * 255], 'duplicates count once; a name of 255 bytes is kept whole',
         r.body[:200])
    none = Client(sp, v.token('shape-sub', 'shape', groups=None))
    r = none.get('/graph/v1.0/me?$expand=memberOf')
    t.ok(r.status == 200 and r.json()['memberOf'] == [],
         'groups: null is no groups, and replaces the last token\'s', r.body[:200])


def main(t):
    ev = schemas()
    with open(SPEC_PATH, encoding='utf-8') as f:
        judge = LibreGraph(yaml.safe_load(f))
    with open(CONTRACT_PATH, encoding='utf-8') as f:
        ours = Contract(yaml.safe_load(f))
    with Nats() as nats, Issuer() as v, Issuer() as h:
        sp = Spaceport(nats_url=nats.url, issuers='%s,%s' % (v.url, h.url),
                       env={'SPACEPORT_SSE_KEEPALIVE': '1s', 'SPACEPORT_LOG_LEVEL': 'info'})
        with sp:
            groups = {'ann': [], 'ben': ['physics'], 'cat': ['sailing', 'physics'], 'dan': []}
            # ann creates the project (a space admin); the others hold no role
            # that would reach it without a membership.
            tok = {n: v.token(n + '-sub', n, roles=['spaceport-spaceadmin'] if n == 'ann' else [],
                              groups=g) for n, g in groups.items()}
            tok['eve'] = h.token('eve-sub', 'eve', groups=['physics'])
            c = {n: Client(sp, tk) for n, tk in tok.items()}
            ids = {n: c[n].me()['id'] for n in c}

            # --- memberships recorded from the claim, per issuer
            r = c['cat'].get('/graph/v1.0/me?$expand=memberOf')
            judged(t, judge, 'GET', '/graph/v1.0/me', r, 'me?$expand=memberOf', ours)
            mine = r.json()['memberOf']
            t.eq([g['displayName'] for g in mine], ['physics', 'sailing'],
                 'memberOf lists the token\'s groups, ordered by name')
            t.ok(all(g['groupTypes'] == ['ReadOnly'] and len(g['id']) == 36 for g in mine),
                 'each group has an id (UUID) and is ReadOnly', mine)
            physics = mine[0]['id']
            ben_groups = c['ben'].get('/graph/v1.0/me?$expand=memberOf').json()['memberOf']
            t.eq([g['id'] for g in ben_groups], [physics],
                 'two users of one issuer naming one group are in the same group')
            eve_groups = c['eve'].get('/graph/v1.0/me?$expand=memberOf').json()['memberOf']
            t.ok(len(eve_groups) == 1 and eve_groups[0]['displayName'] == 'physics' and
                 eve_groups[0]['id'] != physics,
                 'the same name from another issuer is another group', eve_groups)
            t.eq(c['dan'].get('/graph/v1.0/me?$expand=memberOf').json()['memberOf'], [],
                 'a token without groups: memberOf is empty')

            # --- the groups routes
            r = c['ben'].get('/graph/v1.0/groups?$search=%22phys%22&$orderby=displayName')
            judged(t, judge, 'GET', '/graph/v1.0/groups', r, 'recipient search over groups', ours)
            t.eq([g['id'] for g in r.json().get('value', [])], [physics],
                 'the search as the web sends it finds the caller\'s issuer\'s group only')
            r = c['eve'].get('/graph/v1.0/groups?$search=%22phys%22')
            t.eq([g['id'] for g in r.json()['value']], [eve_groups[0]['id']],
                 'a user of the other issuer finds their own look-alike, not ours')
            r = c['ben'].get('/graph/v1.0/groups?$search=%22ILIN%22&$orderby=displayName%20desc')
            t.eq([g['displayName'] for g in r.json()['value']], ['sailing'],
                 'the search matches inside the name, without regard to case')
            t.eq(c['ben'].get('/graph/v1.0/groups?$search=%22ph%22').status, 400,
                 'a search term of two characters is 400, as for users')
            t.eq(c['ben'].get('/graph/v1.0/groups?$search=phys&$orderby=id').status, 400,
                 'an $orderby other than displayName is 400')
            t.eq(c['ben'].get('/graph/v1.0/groups?$search=phys&$expand=members').status, 403,
                 '$expand=members on the listing is refused')
            t.eq(Client(sp, 'x.y.z').get('/graph/v1.0/groups?$search=phys').status, 401,
                 'the groups search needs a token')
            r = c['dan'].get('/graph/v1.0/groups/%s?$expand=members' % physics)
            judged(t, judge, 'GET', '/graph/v1.0/groups/%s' % physics, r,
                   'a group with $expand=members', ours)
            t.eq(sorted(m['id'] for m in r.json().get('members', [])),
                 sorted([ids['ben'], ids['cat']]), 'its members are the users whose token named it')
            r = c['dan'].get('/graph/v1.0/groups/%s' % physics)
            t.ok(r.status == 200 and 'members' not in r.json() and
                 r.json()['displayName'] == 'physics', 'without $expand: no members', r.body)
            r = c['dan'].get('/graph/v1.0/groups/00000000-0000-0000-0000-000000000000')
            judged(t, judge, 'GET', '/graph/v1.0/groups/00000000-0000-0000-0000-000000000000',
                   r, 'an unknown group', ours)
            t.eq(r.status, 404, 'an unknown group is 404')

            # --- a space given to a group
            project = c['ann'].call('POST', '/graph/v1.0/drives', {'name': 'Lab'}).json()['id']
            s_ben, s_dan = Stream(sp.port, tok['ben']), Stream(sp.port, tok['dan'])
            t.ok(s_ben.status == 200 and s_dan.status == 200, 'change streams open')
            t.eq(c['ben'].get('/graph/v1.0/drives/' + project).status, 404,
                 'before the grant ben does not reach the space')
            r = add_group(c['ann'], project, physics, SPACE_EDITOR)
            t.eq(r.status, 200, 'a Manager adds a group to the space')
            judged(t, None, 'POST', '/graph/v1beta1/drives/%s/root/invite' % project, r,
                   'the group membership', ours)
            perm = r.json()['value'][0]
            t.eq(perm.get('grantedToV2'), {'group': {'id': physics, 'displayName': 'physics'}},
                 'the permission is grantedToV2.group')
            added = first_event(s_ben, 'space-member-added')
            t.ok(added is not None and added.get('granteeGroupId') == physics and
                 'grantee' not in added, 'the group member hears space-member-added naming the group',
                 added)
            t.ok(added is not None and schema_problem(ev['member'], added) is None,
                 'the event data match member.json', added and schema_problem(ev['member'], added))
            t.eq(events_of(s_dan, 1.5, ('space-member-added',)), [],
                 'a user outside the group hears nothing of it')
            r = c['ben'].get('/graph/v1.0/drives/' + project)
            t.eq(r.status, 200, 'a group member reaches the space')
            listed = [d['id'] for d in c['ben'].get('/graph/v1.0/me/drives').json()['value']]
            t.ok(project in listed, 'the space is in the member\'s me/drives', listed)
            r = c['ben'].get('/graph/v1beta1/drives/%s/root/permissions' % project)
            judged(t, None, 'GET', '/graph/v1beta1/drives/%s/root/permissions' % project, r,
                   'root permissions with a group', ours)
            for path in ('/graph/v1.0/drives/%s' % project, '/graph/v1beta1/drives/%s' % project):
                judged(t, None, 'GET', path, c['ben'].get(path), 'a drive whose root.permissions '
                       'name a group', ours)
            t.ok(r.status == 200 and any(p.get('grantedToV2', {}).get('group', {}).get('id') ==
                                         physics for p in r.json()['value']),
                 'the root permissions list the group', r.body[:400])
            t.eq(c['eve'].get('/graph/v1.0/drives/' + project).status, 404,
                 'the look-alike group of the other issuer reaches nothing')
            r = add_group(c['ann'], project, physics, SPACE_VIEWER)
            t.eq(r.status, 409, 'adding the group twice is 409')
            r = c['ann'].call('POST', '/graph/v1beta1/drives/%s/root/invite' % project, {
                'recipients': [{'objectId': physics, '@libre.graph.recipient.type': 'team'}],
                'roles': [SPACE_VIEWER]})
            t.eq(r.status, 400, 'an unknown recipient type is 400')
            r = c['ann'].call('POST', '/graph/v1beta1/drives/%s/root/invite' % project, {
                'recipients': [{'objectId': ids['dan'], '@libre.graph.recipient.type': 'group'}],
                'roles': [SPACE_VIEWER]})
            t.eq(r.status, 400, 'a user id sent as a group is no group: 400')

            # a member's best role: the group's SpaceEditor lets ben share
            item = project + '!notes'
            r = c['ben'].call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (
                project, urllib.parse.quote(item, safe='')),
                {'recipients': [{'objectId': ids['dan']}], 'roles': [VIEWER]})
            t.eq(r.status, 200, 'the group\'s SpaceEditor role lets its member share')

            # the last Manager: a group's Manager role does not count
            r = c['ann'].get('/graph/v1beta1/drives/%s/root/permissions' % project).json()
            own = [p['id'] for p in r['value'] if p.get('grantedToV2', {}).get('user', {}).get(
                'id') == ids['ann']][0]
            r = c['ann'].call('PATCH', '/graph/v1beta1/drives/%s/root/permissions/%s' % (
                project, perm['id']), {'roles': [MANAGER]})
            t.ok(r.status == 200 and r.json()['roles'] == [MANAGER] and
                 r.json()['grantedToV2']['group']['id'] == physics,
                 'the group\'s role changes to Manager', r.body[:300])
            upd = first_event(s_ben, 'space-updated')
            t.ok(upd is not None and upd.get('granteeGroupId') == physics and
                 upd.get('role') == MANAGER, 'its members hear the member update (space-updated)', upd)
            r = c['ann'].call('PATCH', '/graph/v1beta1/drives/%s/root/permissions/%s' % (
                project, own), {'roles': [SPACE_VIEWER]})
            t.eq(r.status, 409, 'the last user Manager stays: a group Manager does not count')
            r = c['ann'].call('PATCH', '/graph/v1beta1/drives/%s/root/permissions/%s' % (
                project, perm['id']), {'expirationDateTime': '2099-01-01T00:00:00Z'})
            t.eq(r.status, 400, 'a group\'s space membership cannot expire')
            t.eq(c['ben'].call('DELETE', '/graph/v1beta1/drives/%s/root/permissions/%s' % (
                project, perm['id'])).status, 204,
                'a group Manager (ben) removes the group\'s membership')
            removed = first_event(s_ben, 'space-member-removed')
            t.ok(removed is not None and removed.get('granteeGroupId') == physics,
                 'its members hear space-member-removed, though they lost the space', removed)
            t.eq(c['ben'].get('/graph/v1.0/drives/' + project).status, 404,
                 'after the removal the member no longer reaches the space')
            r = add_group(c['ann'], project, physics, SPACE_VIEWER)
            t.eq(r.status, 200, 'the group is added again, as SpaceViewer')

            # --- an item shared with a group
            s_cat = Stream(sp.port, tok['cat'])
            item = project + '!report'
            r = c['ann'].call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (
                project, urllib.parse.quote(item, safe='')), {
                'recipients': [{'objectId': physics, '@libre.graph.recipient.type': 'group'}],
                'roles': [VIEWER], '@libre.graph.item.name': 'report.odt'})
            t.eq(r.status, 200, 'an item is shared with a group')
            judged(t, None, 'POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (
                project, urllib.parse.quote(item, safe='')), r, 'the group share', ours)
            share_perm = r.json()['value'][0]
            t.eq(share_perm.get('grantedToV2'),
                 {'group': {'id': physics, 'displayName': 'physics'}},
                 'the share permission is grantedToV2.group')
            created = first_event(s_cat, 'share-created')
            t.ok(created is not None and created.get('granteeGroupId') == physics and
                 schema_problem(ev['share'], created) is None,
                 'a group member hears share-created naming the group (share.json)',
                 created and schema_problem(ev['share'], created))
            t.eq([d for _, d in events_of(s_dan, 1.5, ('share-created',)) if d['itemId'] == item],
                 [], 'a user outside the group does not hear of the share')
            r = c['ann'].get('/graph/v1beta1/drives/%s/items/%s/permissions' % (
                project, urllib.parse.quote(item, safe='')))
            t.ok(any(p.get('grantedToV2', {}).get('group', {}).get('id') == physics
                     for p in r.json().get('value', [])),
                 'the item\'s permissions list the group', r.body[:400])
            r = c['cat'].get('/graph/v1beta1/me/drive/sharedWithMe')
            judged(t, judge, 'GET', '/graph/v1beta1/me/drive/sharedWithMe', r,
                   'sharedWithMe with a group share', ours)
            recv = r.json()['value']
            r = c['ann'].get('/graph/v1beta1/me/drive/sharedByMe')
            judged(t, judge, 'GET', '/graph/v1beta1/me/drive/sharedByMe', r,
                   'sharedByMe with a group share', ours)
            t.ok(any(i['remoteItem']['id'] == item for i in recv),
                 'sharedWithMe lists what the member\'s group received', recv)
            t.eq([i for i in c['eve'].get('/graph/v1beta1/me/drive/sharedWithMe').json()['value']
                  if i['remoteItem']['id'] == item], [],
                 'not for the other issuer\'s look-alike group')

            # --- membership follows the newest token
            ben_none = Client(sp, v.token('ben-sub', 'ben'))
            t.eq(ben_none.get('/graph/v1.0/drives/' + project).status, 404,
                 'the first request whose token leaves the group out no longer reaches the space')
            recv = ben_none.get('/graph/v1beta1/me/drive/sharedWithMe').json()['value']
            t.ok(not any(i['remoteItem']['id'] == item for i in recv),
                 'nor the item shared with the group', recv)
            t.eq(c['ben'].get('/graph/v1.0/drives/' + project).status, 200,
                 'the first request whose token shows the group again reaches it again')
            t.ok(any(i['remoteItem']['id'] == item for i in
                     c['ben'].get('/graph/v1beta1/me/drive/sharedWithMe').json()['value']),
                 'and the item again')
            # --- the same item shared with ben himself too: one item, one mountpoint
            r = c['ann'].call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (
                project, urllib.parse.quote(item, safe='')), {
                'recipients': [{'objectId': c['ben'].me()['id']}], 'roles': [VIEWER]})
            t.eq(r.status, 200, 'the item is shared with ben directly as well')
            recv = [i for i in c['ben'].get('/graph/v1beta1/me/drive/sharedWithMe').json()['value']
                    if i['remoteItem']['id'] == item]
            t.ok(len(recv) == 1 and len(recv[0]['remoteItem']['permissions']) == 2,
                 'sharedWithMe: one driveItem with both permissions', recv)
            mps = [d for d in c['ben'].get('/graph/v1.0/me/drives?$filter=' + urllib.parse.quote(
                'driveType eq mountpoint')).json()['value'] if d['root']['remoteItem']['id'] == item]
            t.ok(len(mps) == 1 and recv and mps[0]['id'] == recv[0]['id'],
                 'and one mountpoint drive, the id sharedWithMe gives (as oCIS mounts a '
                 'resource once; a desktop client would sync it twice)',
                 [(d['id'], d['name']) for d in mps])
            dan_in = Client(sp, v.token('dan-sub', 'dan', groups=['physics']))
            t.eq(dan_in.get('/graph/v1.0/drives/' + project).status, 200,
                 'a user whose token newly names the group reaches the space at once')
            c['dan'].get('/graph/v1.0/me')  # dan's next token leaves it again

            r = c['ann'].call('DELETE', '/graph/v1beta1/drives/%s/items/%s/permissions/%s' % (
                project, urllib.parse.quote(item, safe=''), share_perm['id']))
            t.eq(r.status, 204, 'the group share is removed')
            gone = first_event(s_cat, 'share-removed')
            t.ok(gone is not None and gone.get('granteeGroupId') == physics,
                 'its members hear of the removal', gone)
            for s in (s_ben, s_dan, s_cat):
                s.close()

            check_claims(t, sp, v)

        check_memberof_error(t, v)


def check_memberof_error(t, v):
    """me?$expand=memberOf when the store cannot list the groups: 500, and
    the list begun for it is freed (valgrind: nothing definitely lost; in
    the ASan build, whose program valgrind cannot run, LeakSanitizer makes
    the exit fail instead)."""
    with open(BIN, 'rb') as f:
        asan = b'__asan_init' in f.read()
    vg = [] if asan else ['valgrind', '--quiet', '--leak-check=full',
                          '--errors-for-leak-kinds=definite', '--show-leak-kinds=definite',
                          '--error-exitcode=99']
    sp = Spaceport(issuers=v.url, wrapper=vg)
    with sp:
        c = Client(sp, v.token('lee-sub', 'lee'))
        t.eq(c.get('/graph/v1.0/me').status, 200, 'under valgrind: lee is provisioned')
        sp.db_exec('ALTER TABLE group_members RENAME TO group_members_gone')
        r = c.get('/graph/v1.0/me?$expand=memberOf')
        t.ok(r.status == 500, 'memberOf when the store fails: 500', (r.status, r.body[:200]))
        code = sp.stop()
        t.ok(code == 0, 'and %s finds nothing definitely lost' % ('LeakSanitizer' if asan else 'valgrind'),
             (code, sp.stderr_text()[-1500:] if code else ''))


if __name__ == '__main__':
    TAP().run(main)
