#!/usr/bin/python3
"""Expiry means gone, item ids stay inside their drive, and personal
drives are the admins' to remove, tried as attacks on the surfaces the
oCIS clients use: sharedWithMe and sharedByMe, the share jail's items
(mount, unmount, hide, get), mountpoints on /me/drives, an item's
permissions, oCIS's change stream with its clientlog payloads, group
grants, and the v1beta1 drive writes. Real program, real JetStream.

- A share with a group that expired counts nowhere for the group's
  members: not in sharedWithMe, on /me/drives (v1.0 and v1beta1), on the
  jail's routes, in the item's permissions or the sharer's sharedByMe; the
  drive's later item changes reach neither their oCIS stream nor the event
  log's recipients; its one share.expired tells them (affecteduserids
  names the member); sharing the item with the group again works (200).
- A direct share that expired answers 404 on every jail route of its
  grantee, who still held its mountpoint id.
- Hostile item ids on the jail's routes (remoteItem.id of a mount, the
  item of PATCH, DELETE and GET) answer 400 and write nothing.
- A group Manager is not the space's last Manager: the last user Manager
  cannot step down or be removed by the group's Manager.
- Bob cannot disable, restore or purge his personal drive through
  v1beta1, nor can a space admin; once an admin purged it there,
  /me/drive gives him a new one.
- A member of a group whose token carries an address without
  email_verified shows no address anywhere (/me, OCS, the group's
  members, the recipient search) and receives nothing sent to it; the
  verified owner, in another case, does."""
import json
import urllib.parse
import uuid

from harness import TAP, Client, Issuer, Nats, Spaceport, sql_json, wait_until
from natsclient import NatsClient
from sse import Stream
from test_expiry import soon
from test_shared_items import db_rows

VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
MANAGER = '312c0871-5ef7-4b3a-85b6-0e4074c64049'
SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'
SPACE_EDITOR = '58c63c02-1d89-4572-916a-870abc5a1b7d'
SHARES = 'a0ca6a90-a365-4782-871e-d44447bbc668$a0ca6a90-a365-4782-871e-d44447bbc668'
OCIS_SSE = '/ocs/v2.php/apps/notifications/api/v1/notifications/sse'
T0 = '2026-11-24T08:00:00Z'


def q(s):
    return urllib.parse.quote(s, safe='')


def recipients(sp, seq):
    return {r[0] for r in db_rows(sp, 'SELECT u.id FROM event_recipients e JOIN users u'
                                      ' ON u.seq = e.user_seq WHERE e.event_seq = ?', (seq,))}


def newest_seq(sp):
    return db_rows(sp, 'SELECT coalesce(max(seq), 0) FROM events')[0][0]


def publish_change(nc, drive, item, name):
    """A storage change of item in drive that describes it (data.items)."""
    ev = {'specversion': '1.0', 'id': str(uuid.uuid4()), 'source': 'urn:test:storage',
          'type': 'spaceport.storage.changed', 'datacontenttype': 'application/json',
          'data': {'driveId': drive, 'itemId': item, 'eTag': uuid.uuid4().hex,
                   'change': 'updated', 'lastModifiedDateTime': T0,
                   'items': [{'id': item, 'parentId': drive, 'name': name, 'path': '/' + name,
                              'type': 'file', 'eTag': 'e', 'lastModifiedDateTime': T0}]}}
    nc.publish('spaceport.storage.changed', ev,
               headers={'Nats-Msg-Id': ev['id'], 'Content-Type': 'application/cloudevents+json'})
    nc.flush()
    return ev['id']


def item_changes_after(sp, seq, drive):
    """item.changed events of drive after seq: [(seq, data)]."""
    return [(s, json.loads(d)) for s, d in db_rows(
        sp, 'SELECT seq, data FROM events WHERE seq > ? AND type = ? AND subject = ?'
        ' ORDER BY seq', (seq, 'spaceport.item.changed', drive))]


def received(client, item):
    """client's sharedWithMe driveItem of item, or None."""
    r = client.get('/graph/v1beta1/me/drive/sharedWithMe')
    for it in r.json().get('value', []) if r.status == 200 else []:
        if it['remoteItem']['id'] == item:
            return it
    return None


def mountpoints(client, item, beta=False):
    path = '/graph/%s/me/drives' % ('v1beta1' if beta else 'v1.0')
    r = client.get(path)
    return [d['id'] for d in r.json().get('value', [])
            if d.get('driveType') == 'mountpoint' and
            d.get('root', {}).get('remoteItem', {}).get('id') == item]


def share_item(client, drive, item, rcpt, expiry=None, group=False):
    body = {'recipients': [dict(rcpt)], 'roles': [VIEWER]}
    if group:
        body['recipients'][0]['@libre.graph.recipient.type'] = 'group'
    if expiry:
        body['expirationDateTime'] = expiry
    return client.call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (drive, q(item)),
                       body)


def jail_routes(client, mount):
    """The answers of the jail's routes to mount: GET, PATCH (hide), DELETE
    (unmount), and POST root/children for its remote item is separate."""
    path = '/graph/v1beta1/drives/%s/items/%s' % (q(SHARES), q(mount))
    return (client.get(path).status,
            client.call('PATCH', path, {'@UI.Hidden': True}).status,
            client.call('DELETE', path).status)


def ocis_frames(stream, seconds):
    return [e for e in stream.collect(seconds) if e.get('event')]


def check_expired_group_share(t, sp, nc, c, ids, tok, physics):
    ann, ben, cat, dan = c['ann'], c['ben'], c['cat'], c['dan']
    project = ann.call('POST', '/graph/v1.0/drives', {'name': 'Observatory'}).json()['id']
    item, plain = project + '!report', project + '!notes'
    # The group's members reach the item only through the share: none is a
    # member of the space.
    expiry = soon(5)
    r = share_item(ann, project, item, {'objectId': physics}, expiry, group=True)
    t.eq(r.status, 200, 'ann shares report with the group physics until %s' % expiry)
    group_share = r.json()['value'][0]['id']
    r = share_item(ann, project, plain, {'objectId': ids['dan']}, expiry)
    t.eq(r.status, 200, 'and notes with dan alone, until the same time')
    s_ben = Stream(sp.port, tok['ben'], path=OCIS_SSE, accept=False)
    s_cat = Stream(sp.port, tok['cat'], path=OCIS_SSE, accept=False)
    t.ok(s_ben.status == 200 and s_cat.status == 200, 'ben and cat open oCIS\'s change stream')

    # --- before the expiry: the group's members have it everywhere
    mine = received(ben, item)
    t.ok(mine is not None, 'ben (physics) finds report in sharedWithMe')
    mount = mine['id'] if mine else ''
    dans = received(dan, plain)
    dan_mount = dans['id'] if dans else ''
    t.ok(mountpoints(ben, item) == [mount] and mountpoints(ben, item, beta=True) == [mount],
         'and its mountpoint on /me/drives, v1.0 and v1beta1')
    t.eq(ben.get('/graph/v1beta1/drives/%s/items/%s' % (q(SHARES), q(mount))).status, 200,
         'the jail answers its item')
    before = newest_seq(sp)
    publish_change(nc, project, item, 'report.odt')
    t.ok(wait_until(lambda: len(item_changes_after(sp, before, project)) == 1, 5),
         'a storage change of report is applied')
    seq = item_changes_after(sp, before, project)[0][0] if item_changes_after(
        sp, before, project) else 0
    t.ok({ids['ben'], ids['cat']} <= recipients(sp, seq),
         'its item.changed goes to the group\'s members while the share lasts')
    got = ocis_frames(s_ben, 1.5)
    t.ok(any(e['event'] == 'postprocessing-finished' and e['json']['itemid'] == item
             for e in got), 'and ben\'s oCIS stream carries it', [e['event'] for e in got])

    # --- the expiry passes
    t.ok(wait_until(lambda: received(ben, item) is None, 10),
         'once the expiry passed, report leaves ben\'s sharedWithMe')
    t.ok(received(cat, item) is None, 'and cat\'s')
    t.ok(wait_until(lambda: received(dan, plain) is None, 5), 'dan\'s direct share is gone too')
    t.eq(mountpoints(ben, item), [], 'no mountpoint on /me/drives v1.0')
    t.eq(mountpoints(ben, item, beta=True), [], 'nor on v1beta1')
    t.eq(ben.get('/graph/v1.0/drives/' + q(mount)).status, 404,
         'the mountpoint drive is 404 by its id')
    t.eq(jail_routes(ben, mount), (404, 404, 404),
         'the jail\'s GET, hide and unmount of the expired group share: 404')
    t.eq(jail_routes(dan, dan_mount), (404, 404, 404),
         'and of dan\'s expired direct share, whose mountpoint id he kept: 404')
    r = ben.call('POST', '/graph/v1beta1/drives/%s/root/children' % q(SHARES),
                 {'name': 'report', 'remoteItem': {'id': item}})
    t.ok(r.status == 404, 'mounting the expired share again: 404', (r.status, r.body[:200]))
    r = ann.get('/graph/v1beta1/drives/%s/items/%s/permissions' % (project, q(item)))
    t.ok(r.status == 200 and not any(p['id'] == group_share for p in r.json()['value']),
         'the item\'s permissions no longer list the group', r.body[:300])
    r = ann.get('/graph/v1beta1/drives/%s/items/%s/permissions/%s' % (project, q(item),
                                                                      group_share))
    t.eq(r.status, 404, 'nor answer it by id')
    by = [i for i in ann.get('/graph/v1beta1/me/drive/sharedByMe').json()['value']
          if i['id'] in (item, plain)]
    t.eq(by, [], 'ann\'s sharedByMe no longer lists either share')
    states = db_rows(sp, 'SELECT s.id, s.item_id, u.id, st.mounted, st.hidden FROM share_states st'
                         ' JOIN shares s ON s.seq = st.share_seq JOIN users u ON u.seq = st.user_seq')
    t.ok(states == [], 'none of those routes wrote a share state', states)

    # --- events: the expiry tells the members once; later changes do not reach them
    t.ok(wait_until(lambda: len(db_rows(
        sp, 'SELECT 1 FROM events WHERE type = ? AND %s = ?' % sql_json('data', 'shareId'),
        ('spaceport.share.expired', group_share))) == 1, 5),
        'the sweeper writes the group share\'s one share.expired')
    exp = db_rows(sp, 'SELECT seq FROM events WHERE type = ? AND %s = ?'
                      % sql_json('data', 'shareId'),
                  ('spaceport.share.expired', group_share))
    t.ok(exp and {ids['ben'], ids['cat']} <= recipients(sp, exp[0][0]),
         'its recipients are the group\'s members (and ann)')
    got = ocis_frames(s_ben, 1.5)
    cat_got = ocis_frames(s_cat, 0.5)
    t.ok(any(e['event'] == 'share-removed' and e['json']['affecteduserids'] == [ids['cat']]
             for e in cat_got), 'cat\'s too, naming cat', cat_got)
    removed = [e for e in got if e['event'] == 'share-removed' and
               e['json']['itemid'] == item]
    t.ok(len(removed) == 1 and removed[0]['json']['affecteduserids'] == [ids['ben']],
         'ben\'s oCIS stream says share-removed once, naming him in affecteduserids',
         [(e['event'], e.get('json')) for e in got])
    before = newest_seq(sp)
    publish_change(nc, project, item, 'report-final.odt')
    t.ok(wait_until(lambda: len(item_changes_after(sp, before, project)) == 1, 5),
         'a later storage change of report is applied')
    later = item_changes_after(sp, before, project)
    rcpt = recipients(sp, later[0][0]) if later else {ids['ben']}
    t.ok(ids['ben'] not in rcpt and ids['cat'] not in rcpt and ids['dan'] not in rcpt,
         'its item.changed has none of the expired grantees among its recipients', rcpt)
    got = ocis_frames(s_ben, 1.5) + ocis_frames(s_cat, 0.5)
    t.eq([(e['event'], e['json'].get('spaceid')) for e in got
          if e['json'].get('spaceid') == project], [],
         'nothing of the drive reaches ben\'s or cat\'s oCIS stream any more')
    eid = db_rows(sp, 'SELECT id FROM events WHERE seq = ?', (later[0][0],)) if later else []
    t.eq(ben.get('/api/v1/events/%s' % (eid[0][0] if eid else 'none')).status, 404,
         'nor does the event history answer it to ben')
    s_ben.close()
    s_cat.close()

    # --- uniqueness: the same access can be given again
    r = share_item(ann, project, item, {'objectId': physics}, group=True)
    t.ok(r.status == 200, 'sharing report with physics again after the expiry: 200, not 409',
         (r.status, r.body[:200]))
    t.ok(received(ben, item) is not None, 'and ben has it again')
    r = share_item(ann, project, plain, {'objectId': ids['dan']})
    t.eq(r.status, 200, 'and notes with dan again: 200')
    return project, item


def check_hostile_jail_ids(t, sp, c, project, item):
    ben = c['ben']
    mine = received(ben, item)
    if not t.ok(mine is not None, 'ben holds report (shared with his group again)'):
        return
    mount = mine['id']
    other = c['ann'].call('POST', '/graph/v1.0/drives', {'name': 'Elsewhere'}).json()['id']
    states = db_rows(sp, 'SELECT count(*) FROM share_states')[0][0]
    events = newest_seq(sp)
    hostile = ['..', '.', '../x', '!x', project + '!..', project + '!.', project + '!a/b',
               project + '!../' + project, project + '!%2e%2e', project + '!a%2Fb',
               project + '!a?b', project + '!a#b', project + '!a\\b', project + '!a\x01b',
               project + '!', project + '!' + 'a' * 256, '../' + project + '!x',
               'x?y!z', 'x#y!z', '%2e%2e!x', 'a' * 256]
    for bad in hostile:
        r = ben.call('POST', '/graph/v1beta1/drives/%s/root/children' % q(SHARES),
                     {'name': 'x', 'remoteItem': {'id': bad}})
        t.ok(r.status == 400, 'mount remoteItem.id %r: 400' % bad[:60], (r.status, r.body[:200]))
    jail_bad = ['..', SHARES + '!..', SHARES + '!.', SHARES + '!' + '%2e%2e',
                SHARES + '!a?b', SHARES + '!a#b', SHARES + '!a\\b', SHARES + '!a\x01',
                SHARES + '!', '%2e%2e', 'a?b', 'a#b', 'a%2Fb', 'a\x7f', 'a' * 256]
    for bad in jail_bad:
        path = '/graph/v1beta1/drives/%s/items/%s' % (q(SHARES), q(bad))
        got = (ben.get(path).status, ben.call('PATCH', path, {'@UI.Hidden': True}).status,
               ben.call('DELETE', path).status)
        t.eq(got, (400, 400, 400), 'GET, PATCH and DELETE of jail item %r: 400' % bad[:60])
    # The one permission of an item (a route of the web's sharing panel).
    got = [c['ann'].get('/graph/v1beta1/drives/%s/items/%s/permissions/p1' % (
        project, q(raw))).status
        for raw in (other, other + '!x', project + '!..', project + '!a?b', project + '!a#b',
                    project + '!', '..')]
    t.eq(got, [400] * 7, 'GET .../items/{hostile}/permissions/{id}: 400 each')
    t.eq(db_rows(sp, 'SELECT count(*) FROM share_states')[0][0], states,
         'no hostile id wrote a share state')
    t.eq(newest_seq(sp), events, 'nor any event')
    # The ids the clients send still work, in both forms.
    path = '/graph/v1beta1/drives/%s/items/%s' % (q(SHARES), q(mount))
    t.eq(ben.get(path).status, 200, 'the mountpoint id sharedWithMe gives: 200')
    t.eq(ben.call('PATCH', '/graph/v1beta1/drives/%s/items/%s' % (
        q(SHARES), q(SHARES + '!' + mount)), {'@UI.Hidden': True}).status, 200,
        'and oCIS\'s form <jail>!<id> hides it')
    t.eq(ben.call('DELETE', path).status, 204, 'unmount: 204')
    r = ben.call('POST', '/graph/v1beta1/drives/%s/root/children' % q(SHARES),
                 {'name': 'report', 'remoteItem': {'id': item}})
    t.ok(r.status == 201, 'mount by the item\'s own id: 201', (r.status, r.body[:200]))


def check_group_manager(t, sp, c, ids, physics):
    ann, ben = c['ann'], c['ben']
    project = ann.call('POST', '/graph/v1.0/drives', {'name': 'Harbour'}).json()['id']
    r = ann.call('POST', '/graph/v1beta1/drives/%s/root/invite' % project, {
        'recipients': [{'objectId': physics, '@libre.graph.recipient.type': 'group'}],
        'roles': [MANAGER]})
    t.eq(r.status, 200, 'the group physics becomes a Manager of Harbour')
    perms = ann.get('/graph/v1beta1/drives/%s/root/permissions' % project).json()['value']
    own = [p['id'] for p in perms if p['grantedToV2'].get('user', {}).get('id') == ids['ann']]
    if not t.ok(len(own) == 1, 'ann holds one user membership'):
        return
    path = '/graph/v1beta1/drives/%s/root/permissions/%s' % (project, own[0])
    r = ann.call('PATCH', path, {'roles': [SPACE_VIEWER]})
    t.ok(r.status == 409, 'ann, the last user Manager, cannot step down beside a group Manager',
         (r.status, r.body[:200]))
    r = ben.call('DELETE', path)
    t.ok(r.status == 409, 'nor can the group\'s Manager (ben) remove her', (r.status, r.body[:200]))
    r = ann.call('PATCH', path, {'expirationDateTime': soon(60)})
    t.ok(r.status == 409, 'nor can she give herself an expiry', (r.status, r.body[:200]))
    # A group Manager manages the members: an expiry is news to them as to
    # a user Manager.
    r = ben.call('POST', '/graph/v1beta1/drives/%s/root/invite' % project, {
        'recipients': [{'objectId': ids['dan']}], 'roles': [SPACE_VIEWER],
        'expirationDateTime': soon(3)})
    t.ok(r.status == 200, 'the group\'s Manager (ben) invites dan until soon',
         (r.status, r.body[:200]))
    found = lambda: db_rows(sp, 'SELECT seq FROM events WHERE type = ? AND subject = ?',
                            ('spaceport.space.member.expired', project))
    t.ok(wait_until(lambda: len(found()) == 1, 10), 'dan\'s membership expires, with one event')
    rcpt = recipients(sp, found()[0][0]) if found() else set()
    t.eq(rcpt, {ids['dan'], ids['ann'], ids['ben'], ids['cat']},
         'its recipients: dan, the user Manager and the group Manager\'s members')


def check_personal_v1beta1(t, sp, c, ids):
    alice, bob = c['alice'], c['bob']
    r = bob.get('/graph/v1.0/me/drive')
    if not t.eq(r.status, 200, 'bob has his personal drive at /me/drive'):
        return
    drive = r.json()['id']
    path = '/graph/v1beta1/drives/' + q(drive)
    t.ok(c['ann'].call('DELETE', path).status in (403, 404),
         'a space admin (ann) cannot disable it through v1beta1')
    t.ok(c['ann'].call('DELETE', path, headers={'Purge': 'T'}).status in (403, 404),
         'nor purge it')
    t.eq(bob.call('DELETE', path).status, 403, 'bob cannot disable it through v1beta1')
    t.eq(bob.call('DELETE', path, headers={'Purge': 'T'}).status, 403,
         'nor purge it (Purge: T)')
    t.eq(alice.call('DELETE', path).status, 204, 'the admin disables it through v1beta1')
    t.eq(bob.call('PATCH', path, headers={'Restore': 'true'}).status, 403,
         'bob cannot restore it through v1beta1')
    t.eq(bob.call('DELETE', path, headers={'Purge': 'T'}).status, 403,
         'nor purge it once disabled')
    t.eq(alice.get('/graph/v1beta1/drives/' + q(drive)).status, 200, 'it is still there')
    before = newest_seq(sp)
    t.eq(alice.call('DELETE', path, headers={'Purge': 'T'}).status, 204,
         'the admin purges it through v1beta1')
    r = bob.get('/graph/v1.0/me/drive')
    t.ok(r.status == 200 and r.json()['id'] != drive and r.json()['driveType'] == 'personal',
         'bob\'s next /me/drive is a new personal drive', r.body[:200])
    created = db_rows(sp, 'SELECT subject FROM events WHERE seq > ? AND type = ?',
                      (before, 'spaceport.space.created'))
    t.ok(r.status == 200 and [s for (s,) in created] == [r.json()['id']],
         'with its one space.created', created)


def check_expired_sharer(t, sp, nc, c, ids):
    """Erin shared an item while an editor of the space; once her membership
    expired she reads nothing more of the drive through her shares: not in
    sharedByMe (the item's later name), not in the events of the share."""
    ann, erin, dan = c['ann'], c['erin'], c['dan']
    project = ann.call('POST', '/graph/v1.0/drives', {'name': 'Atelier'}).json()['id']
    item = project + '!sketch'
    r = ann.call('POST', '/graph/v1beta1/drives/%s/root/invite' % project, {
        'recipients': [{'objectId': ids['erin']}], 'roles': [SPACE_EDITOR],
        'expirationDateTime': soon(4)})
    t.ok(r.status == 200, 'erin edits Atelier until soon', (r.status, r.body[:200]))
    r = share_item(erin, project, item, {'objectId': ids['dan']})
    t.ok(r.status == 200, 'erin shares sketch with dan', (r.status, r.body[:200]))
    share = r.json()['value'][0]['id'] if r.status == 200 else ''
    t.ok(any(i['id'] == item for i in erin.get('/graph/v1beta1/me/drive/sharedByMe')
             .json()['value']), 'her sharedByMe lists it while she is a member')
    t.ok(wait_until(lambda: erin.get('/graph/v1.0/drives/' + project).status == 404, 10),
         'her membership expires: the space is 404 for her')
    # The sweeper writes member.expired a moment after reads stop counting
    # the membership; wait for it, so that no later check's "nothing was
    # written" window catches it.
    t.ok(wait_until(lambda: db_rows(
        sp, 'SELECT count(*) FROM events WHERE type = ? AND subject = ?',
        ('spaceport.space.member.expired', project))[0][0] == 1, 10),
        'the sweeper writes her one member.expired')
    before = newest_seq(sp)
    publish_change(nc, project, item, 'sketch-final.png')
    t.ok(wait_until(lambda: len(item_changes_after(sp, before, project)) == 1, 5),
         'storage renames the item after her expiry')
    mine = [i for i in erin.get('/graph/v1beta1/me/drive/sharedByMe').json()['value']
            if i['id'] == item]
    t.eq(mine, [], 'erin\'s sharedByMe no longer lists the share of a drive she left '
                   '(nor the item\'s new name)')
    r = ann.call('PATCH', '/graph/v1beta1/drives/%s/items/%s/permissions/%s' % (
        project, q(item), share), {'expirationDateTime': soon(3600)})
    t.ok(r.status == 200, 'the Manager changes erin\'s share', (r.status, r.body[:200]))
    updated = db_rows(sp, 'SELECT seq FROM events WHERE seq > ? AND type = ?',
                      (before, 'spaceport.share.updated'))
    rcpt = recipients(sp, updated[-1][0]) if updated else set()
    t.eq(rcpt, {ids['ann'], ids['dan']},
         'its share.updated (with the item\'s new name) goes to the Manager and dan, not erin')
    t.ok(received(dan, item) is not None, 'dan keeps the share erin made')


def check_addresses(t, sp, idp, c, physics):
    """Group members, /me, OCS and the recipient search show only verified
    addresses, in lower case; a share to the address reaches its verified
    owner whatever the case, not the group member who only claims it."""
    mallory = Client(sp, idp.token('mallory-sub', 'mallory', groups=['physics'],
                                   email='Vic.Tim@Example.org', email_verified=None))
    vic = Client(sp, idp.token('vic-sub', 'vic', groups=['physics'], email='Vic.Tim@Example.org'))
    r = mallory.get('/graph/v1.0/me')
    t.ok(r.status == 200 and r.json().get('mail') is None,
         'mallory (the address with email_verified null, in physics): no mail on /me', r.body[:200])
    ocs = mallory.get('/ocs/v2.php/cloud/user?format=json').json()['ocs']['data']
    t.ok(not ocs.get('email'), 'nor in OCS cloud/user', ocs)
    vic_id = vic.me()['id']
    members = c['ann'].get('/graph/v1.0/groups/%s?$expand=members' % physics).json()['members']
    mails = {m['id']: m.get('mail') for m in members}
    t.eq(sorted(m for m in mails.values() if m), ['vic.tim@example.org'],
         'the group\'s members show the verified address only, in lower case')
    found = c['ann'].get('/graph/v1.0/users?$search=%22VIC.TIM%22').json()['value']
    t.eq([(u['id'], u.get('mail')) for u in found if u.get('mail')],
         [(vic_id, 'vic.tim@example.org')],
         'the recipient search by address, in another case, finds vic alone')
    project = c['ann'].call('POST', '/graph/v1.0/drives', {'name': 'Letters'}).json()['id']
    item = project + '!letter'
    r = c['ann'].call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (project, q(item)), {
        'recipients': [{'email': 'VIC.TIM@example.ORG'}], 'roles': [VIEWER]})
    t.ok(r.status == 200, 'ann shares a letter with VIC.TIM@example.ORG', (r.status, r.body[:200]))
    t.ok(received(vic, item) is not None, 'vic receives it')
    t.ok(received(mallory, item) is None, 'mallory does not')


def main(t):
    with Nats() as nats, Issuer() as idp:
        sp = Spaceport(nats_url=nats.url, issuers=idp.url,
                       env={'SPACEPORT_SSE_KEEPALIVE': '1s', 'SPACEPORT_LOG_LEVEL': 'info'})
        with sp, NatsClient(nats.url) as nc:
            groups = {'ann': [], 'ben': ['physics'], 'cat': ['physics'], 'dan': [],
                      'alice': [], 'bob': [], 'erin': []}
            roles = {'ann': ['spaceport-spaceadmin'], 'alice': ['spaceport-admin']}
            tok = {n: idp.token(n + '-sub', n, roles=roles.get(n, []), groups=g)
                   for n, g in groups.items()}
            c = {n: Client(sp, tk) for n, tk in tok.items()}
            ids = {}
            for n, cl in c.items():
                r = cl.get('/graph/v1.0/me?$expand=memberOf')
                if not t.eq(r.status, 200, '%s is provisioned' % n):
                    t.diag(sp.stderr_text()[-3000:])
                    return
                ids[n] = r.json()['id']
                if n == 'ben':
                    physics = r.json()['memberOf'][0]['id']
            project, item = check_expired_group_share(t, sp, nc, c, ids, tok, physics)
            check_expired_sharer(t, sp, nc, c, ids)
            check_hostile_jail_ids(t, sp, c, project, item)
            check_group_manager(t, sp, c, ids, physics)
            check_personal_v1beta1(t, sp, c, ids)
            check_addresses(t, sp, idp, c, physics)


if __name__ == '__main__':
    TAP().run(main)
