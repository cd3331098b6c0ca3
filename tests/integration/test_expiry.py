#!/usr/bin/python3
"""Expiry means gone, and personal drives are the admins' to remove: the
attacks of issue 15 against space memberships and personal drives, each
tried against the real program with a real JetStream.

- An expired member keeps an open change stream: it must not carry the
  space's later renames, descriptions or item changes, and the event
  history must not answer them to the expired member.
- A space with Managers Bob (unexpired) and Erin (expired): Bob must not
  step down or leave, which would orphan the space.
- A space keeps a Manager for good: its only Manager must not give
  herself an expiry a minute ahead, and Bob must not step down, leave or
  take an expiry while the other Manager, Erin, counts only until
  tomorrow. With two Managers for good, one may.
- Inviting an expired member again works (no 409), and gives access back.
- Each expired membership is one spaceport.space.member.expired event, in
  the log and on the bus, valid against schema/events.
- Bob cannot disable, restore or purge his own personal drive; once an
  admin purged it, his next request gets a new one, with space.created."""
import json
import os
import time
import uuid

import jsonschema

from harness import SOURCE_ROOT, TAP, Client, Issuer, Nats, Spaceport, wait_until
from natsclient import NatsClient
from sse import Stream

MANAGER = '312c0871-5ef7-4b3a-85b6-0e4074c64049'
SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'
EXPIRED = 'spaceport.space.member.expired'


def db_all(sp, sql, args=()):
    return sp.db_rows(sql, args)


def expired_events(sp, drive=None):
    """The member.expired events in the log: (id, subject, data, recipient user ids)."""
    out = []
    for seq, eid, subject, data in db_all(
            sp, 'SELECT seq, id, subject, data FROM events WHERE type = ? ORDER BY seq',
            (EXPIRED,)):
        if drive and subject != drive:
            continue
        rcpt = {r[0] for r in db_all(
            sp, 'SELECT u.id FROM event_recipients e JOIN users u ON u.seq = e.user_seq'
            ' WHERE e.event_seq = ?', (seq,))}
        out.append((eid, subject, json.loads(data), rcpt))
    return out


def soon(seconds):
    """An RFC 3339 time at least seconds from now (whole seconds)."""
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(int(time.time()) + seconds + 1))


def invite(client, drive, user_id, role, expiry=None):
    body = {'recipients': [{'objectId': user_id}], 'roles': [role]}
    if expiry:
        body['expirationDateTime'] = expiry
    return client.call('POST', '/graph/v1beta1/drives/%s/root/invite' % drive, body)


def perms(client, drive):
    r = client.get('/graph/v1beta1/drives/%s/root/permissions' % drive)
    return r.json().get('value', []) if r.status == 200 else []


def perm_of(client, drive, user_id):
    for p in perms(client, drive):
        if p['grantedToV2']['user']['id'] == user_id:
            return p['id']
    return None


def storage_change(nc, drive, etag):
    ev = {'specversion': '1.0', 'id': str(uuid.uuid4()), 'source': 'urn:test:storage',
          'type': 'spaceport.storage.changed', 'datacontenttype': 'application/json',
          'data': {'driveId': drive, 'itemId': 'x1', 'eTag': etag, 'change': 'updated',
                   'lastModifiedDateTime': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}}
    nc.publish('spaceport.storage.changed', ev,
               headers={'Nats-Msg-Id': ev['id'], 'Content-Type': 'application/cloudevents+json'})
    nc.flush()


def check_stream(t, sp, nc, c, ids, tok):
    """(a) The expired member's change stream and history; (c) invited again."""
    bob, carol, dave = c['bob'], c['carol'], c['dave']
    r = bob.call('POST', '/graph/v1.0/drives', {'name': 'Lighthouse'})
    project = r.json()['id']
    t.eq(invite(bob, project, ids['carol'], SPACE_VIEWER).status, 200, 'Carol joins for good')
    expiry = soon(4)
    r = invite(bob, project, ids['dave'], SPACE_VIEWER, expiry)
    t.eq(r.status, 200, 'Dave joins until %s' % expiry)
    s_carol = Stream(sp.port, tok['carol'])
    s_dave = Stream(sp.port, tok['dave'])
    t.ok(s_carol.status == 200 and s_dave.status == 200, 'both open the change stream')
    s_carol.collect(0.5)
    s_dave.collect(0.5)
    t.eq(dave.get('/graph/v1.0/drives/' + project).status, 200, 'Dave reaches the space')

    wait_until(lambda: dave.get('/graph/v1.0/drives/' + project).status == 404, 8)
    t.eq(dave.get('/graph/v1.0/drives/' + project).status, 404,
         'once the expiry passed, the space is 404 for Dave')
    t.ok(project not in [d['id'] for d in dave.get('/graph/v1.0/me/drives').json()['value']],
         'and no longer listed to him')
    t.ok(perm_of(bob, project, ids['dave']) is None,
         'the expired membership is not among the permissions', perms(bob, project))
    t.ok(wait_until(lambda: len(expired_events(sp, project)) == 1, 5),
         'the sweeper writes his member.expired event')
    got = [e for e in s_dave.collect(2) if e.get('event')]
    t.ok([e['event'] for e in got] == ['space-member-removed'] and
         got[0]['json'].get('type') == EXPIRED and got[0]['json'].get('grantee') == ids['dave'],
         'his stream says space-member-removed (member.expired), once', got)

    before = db_all(sp, 'SELECT coalesce(max(seq), 0) FROM events')[0][0]
    t.eq(bob.call('PATCH', '/graph/v1.0/drives/' + project,
                  {'name': 'Secret Plans', 'description': 'codename orca'}).status, 200,
         'the Manager renames and describes the space')
    storage_change(nc, project, 'etag-after-expiry')
    got = [e for e in s_carol.collect(3) if e.get('event')]
    t.ok(any(e['event'] == 'space-updated' and e['json'].get('driveName') == 'Secret Plans'
             for e in got), 'the unexpired member Carol is told the new name',
         [e.get('event') for e in got])
    t.ok(any(e['event'] == 'item-changed' and e['json'].get('eTag') == 'etag-after-expiry'
             for e in got), 'and the item change')
    leaked = [e for e in s_dave.collect(1.5) if e.get('event')]
    t.eq(leaked, [], "Dave's open stream carries neither the new name and description nor the "
         'item change')
    s_late = Stream(sp.port, tok['dave'], last_id=before)
    replay = [e for e in s_late.collect(1.5) if e.get('event')]
    t.eq(replay, [], 'replaying from before the rename (Last-Event-ID) gives him nothing either')
    s_late.close()
    rows = db_all(sp, 'SELECT id, type FROM events WHERE seq > ? AND subject = ?',
                  (before, project))
    t.ok(len(rows) == 2 and {r[1] for r in rows} ==
         {'spaceport.space.updated', 'spaceport.item.changed'}, 'two events were written', rows)
    t.ok(all(dave.get('/api/v1/events/' + r[0]).status == 404 for r in rows) and
         all(carol.get('/api/v1/events/' + r[0]).status == 200 for r in rows),
         'the event history answers them to Carol, and 404 to Dave')
    s_carol.close()
    s_dave.close()

    # (c) the expired membership does not block a new one
    r = invite(bob, project, ids['dave'], SPACE_VIEWER)
    t.eq(r.status, 200, 'inviting Dave again after his expiry is 200, not 409')
    new_perm = perm_of(bob, project, ids['dave'])
    t.ok(new_perm and [p['grantedToV2']['user']['id'] for p in perms(bob, project)].count(
        ids['dave']) == 1 and 'expirationDateTime' not in
         [p for p in perms(bob, project) if p['id'] == new_perm][0],
         'he is listed once, with the new membership (no expiry)')
    t.eq(dave.get('/graph/v1.0/drives/' + project).status, 200, 'and reaches the space again')
    t.eq(invite(bob, project, ids['dave'], SPACE_VIEWER).status, 409,
         'an unexpired membership still conflicts')
    time.sleep(1.5)  # a sweep or more
    t.eq(len(expired_events(sp, project)), 1,
         'the old membership expired once: one member.expired event, also after re-inviting')
    return project


def check_last_manager(t, sp, c, ids):
    """(b) An expired Manager does not keep the space managed."""
    bob, erin = c['bob'], c['erin']
    r = bob.call('POST', '/graph/v1.0/drives', {'name': 'Orphanage'})
    project = r.json()['id']
    t.eq(invite(bob, project, ids['erin'], MANAGER, soon(4)).status, 200,
         'Erin becomes Manager until soon')
    bob_perm = perm_of(bob, project, ids['bob'])
    wait_until(lambda: erin.get('/graph/v1.0/drives/' + project).status == 404, 8)
    t.eq(erin.get('/graph/v1.0/drives/' + project).status, 404, "Erin's Manager role expired")
    r = bob.call('PATCH', '/graph/v1beta1/drives/%s/root/permissions/%s' % (project, bob_perm),
                 {'roles': [SPACE_VIEWER]})
    t.eq(r.status, 409, 'the last unexpired Manager cannot demote herself (expired Erin does '
         'not count)')
    r = bob.call('DELETE', '/graph/v1beta1/drives/%s/root/permissions/%s' % (project, bob_perm))
    t.eq(r.status, 409, 'nor leave the space')
    p = [p for p in perms(bob, project) if p['id'] == bob_perm]
    t.ok(p and p[0]['roles'] == [MANAGER], 'Bob is still its Manager', p)
    t.ok(wait_until(lambda: len(expired_events(sp, project)) == 1, 5),
         "Erin's expiry is one member.expired event")
    r = bob.call('PATCH', '/graph/v1.0/drives/' + project, {'name': 'Still managed'})
    t.eq(r.status, 200, 'the space is still managed')
    return project


def check_manager_for_good(t, sp, c, ids):
    """(f) A space keeps a Manager for good: an expiry cannot take away
    its last Manager without one, now or tomorrow."""
    alice, bob, carol, erin = c['alice'], c['bob'], c['carol'], c['erin']
    tomorrow = soon(86400)

    def patch(who, project, perm, body):
        return who.call('PATCH', '/graph/v1beta1/drives/%s/root/permissions/%s' % (project, perm),
                        body)

    def remove(who, project, perm):
        return who.call('DELETE', '/graph/v1beta1/drives/%s/root/permissions/%s' %
                        (project, perm))

    def refused(r, why='no Manager without an expiration date'):
        try:
            msg = r.json()['error']['message']
        except (ValueError, KeyError, TypeError):
            msg = ''
        return r.status == 409 and why in msg

    def permanent_manager(who, project, perm):
        p = [p for p in perms(who, project) if p['id'] == perm]
        return bool(p) and p[0]['roles'] == [MANAGER] and 'expirationDateTime' not in p[0]

    # Scenario 1: the only Manager gives herself an expiry a minute ahead.
    r = bob.call('POST', '/graph/v1.0/drives', {'name': 'Timebomb'})
    project = r.json()['id']
    bob_perm = perm_of(bob, project, ids['bob'])
    r = patch(bob, project, bob_perm, {'expirationDateTime': soon(60)})
    t.ok(refused(r), 'the only Manager cannot give herself an expiry a minute ahead (409, '
         'saying why)', (r.status, r.body[:300]))
    r = patch(bob, project, bob_perm, {'roles': [MANAGER], 'expirationDateTime': tomorrow})
    t.ok(refused(r), 'nor with her Manager role restated beside it', r.status)
    r = patch(alice, project, bob_perm, {'expirationDateTime': soon(60)})
    t.ok(refused(r), 'nor can an admin give her one', (r.status, r.body[:300]))
    t.ok(permanent_manager(bob, project, bob_perm), 'Bob is still Manager, without an expiry')

    # Scenario 2: Managers Bob (for good) and Erin (until tomorrow).
    t.eq(invite(bob, project, ids['erin'], MANAGER, tomorrow).status, 200,
         'Erin becomes Manager until tomorrow')
    erin_perm = perm_of(bob, project, ids['erin'])
    r = patch(bob, project, bob_perm, {'roles': [SPACE_VIEWER]})
    t.ok(refused(r), 'Bob cannot demote himself: Erin counts only until tomorrow',
         (r.status, r.body[:300]))
    r = remove(bob, project, bob_perm)
    t.ok(refused(r), 'nor leave the space', r.status)
    r = patch(bob, project, bob_perm, {'expirationDateTime': tomorrow})
    t.ok(refused(r), 'nor give himself an expiry', r.status)
    r = remove(alice, project, bob_perm)
    t.ok(refused(r), 'nor can an admin remove him', r.status)
    t.ok(permanent_manager(bob, project, bob_perm), 'Bob is still Manager, without an expiry')
    r = patch(erin, project, erin_perm, {'roles': [SPACE_VIEWER]})
    t.eq(r.status, 200, 'Erin, who expires anyway, may step down')
    t.eq(remove(erin, project, erin_perm).status, 204, 'and leave')

    # Two Managers for good: either may take an expiry or leave, while the
    # other stays for good.
    t.eq(invite(bob, project, ids['carol'], MANAGER).status, 200, 'Carol becomes Manager for good')
    carol_perm = perm_of(bob, project, ids['carol'])
    r = patch(bob, project, bob_perm, {'expirationDateTime': tomorrow})
    t.ok(r.status == 200 and r.json().get('expirationDateTime'),
         'with Carol Manager for good, Bob may give himself an expiry', (r.status, r.body[:300]))
    r = patch(carol, project, carol_perm, {'expirationDateTime': tomorrow})
    t.ok(refused(r), 'then Carol is the last Manager for good, and may not', r.status)
    t.eq(remove(bob, project, bob_perm).status, 204, 'Bob may leave')
    r = remove(carol, project, carol_perm)
    t.ok(refused(r, 'no Manager;'), 'Carol, the last Manager, may not', (r.status, r.body[:300]))
    t.ok(permanent_manager(carol, project, carol_perm), 'Carol is Manager, without an expiry')
    t.eq(carol.call('PATCH', '/graph/v1.0/drives/' + project, {'name': 'Defused'}).status, 200,
         'the space is managed')
    t.eq(db_all(sp, 'SELECT count(*) FROM events WHERE subject = ? AND type = ?',
                (project, EXPIRED)), [(0,)], 'and no membership of it expired')


def check_events(t, sp, nats, c, ids, projects):
    """(d) One member.expired event per expired membership, valid, in the
    log and on the bus, to the member and the unexpired Managers."""
    d = os.path.join(SOURCE_ROOT, 'schema', 'events')
    envelope = json.load(open(os.path.join(d, 'cloudevent.json')))
    member = json.load(open(os.path.join(d, 'member.json')))
    stream_project, manager_project = projects
    time.sleep(2.5)  # more sweeps: none may write another
    evs = expired_events(sp)
    t.eq(sorted((e[1], e[2]['grantee']) for e in evs),
         sorted([(stream_project, ids['dave']), (manager_project, ids['erin'])]),
         'exactly one member.expired per expired membership in the log')
    want = {stream_project: {ids['dave'], ids['bob']}, manager_project: {ids['erin'], ids['bob']}}
    t.ok(all(e[3] == want[e[1]] for e in evs),
         'each reaches the member and the unexpired Managers only', [(e[1], e[3]) for e in evs])
    for eid, subject, data, _ in evs:
        grantee = c['dave'] if data['grantee'] == ids['dave'] else c['erin']
        r = grantee.get('/api/v1/events/' + eid)
        problem = None
        try:
            ce = r.json()
            jsonschema.validate(ce, envelope)
            jsonschema.validate(ce['data'], member)
        except (ValueError, KeyError, jsonschema.ValidationError) as e:
            problem = str(e)[:300]
        t.ok(r.status == 200 and problem is None and ce['type'] == EXPIRED and
             ce['subject'] == subject and ce['data']['role'] in (SPACE_VIEWER, MANAGER) and
             ce['data'].get('expirationDateTime'),
             'the expired member reads it in the history; it matches cloudevent.json and '
             'member.json', problem or r.body[:300])
    with NatsClient(nats.url) as nc:
        ok = wait_until(lambda: sum(1 for m in nc.stream_messages() if m[1] == EXPIRED) == 2, 10)
        on_bus = [json.loads(m[3]) for m in nc.stream_messages() if m[1] == EXPIRED]
    t.ok(ok and sorted(e['id'] for e in on_bus) == sorted(e[0] for e in evs),
         'the bus carries the same two member.expired events, once each',
         [e['id'] for e in on_bus])


def check_personal(t, sp, c, ids, tok_bob):
    """(e) Bob's purge: only an admin removes a personal drive; Bob then
    gets a new one."""
    alice, bob = c['alice'], c['bob']

    def personal():
        return [d['id'] for d in bob.get('/graph/v1.0/me/drives').json()['value']
                if d['driveType'] == 'personal']

    old = personal()
    t.eq(len(old), 1, 'Bob has one personal drive')
    old = old[0]
    t.eq(bob.call('DELETE', '/graph/v1.0/drives/' + old).status, 403,
         'Bob cannot disable his own personal drive')
    t.eq(bob.call('DELETE', '/graph/v1.0/drives/' + old, headers={'Purge': 'T'}).status, 403,
         'nor purge it')
    t.eq(alice.call('DELETE', '/graph/v1.0/drives/' + old).status, 204,
         'an admin disables it')
    r = bob.call('DELETE', '/graph/v1.0/drives/' + old, headers={'Purge': 'T'})
    t.eq(r.status, 403, 'Bob cannot purge it once disabled (the attack)')
    t.eq(bob.call('PATCH', '/graph/v1.0/drives/' + old, b'', {'Restore': 'T'}).status, 403,
         "nor undo the admin's disabling")
    t.eq(db_all(sp, 'SELECT count(*) FROM drives WHERE id = ?', (old,))[0][0], 1,
         'the drive is still there, disabled')
    before = db_all(sp, 'SELECT coalesce(max(seq), 0) FROM events')[0][0]
    t.eq(alice.call('DELETE', '/graph/v1.0/drives/' + old, headers={'Purge': 'T'}).status, 204,
         'an admin purges it')
    t.eq(db_all(sp, 'SELECT count(*) FROM events WHERE seq > ? AND type = ?',
                (before, 'spaceport.space.created')), [(0,)],
         'no drive is made before Bob comes back')
    now = personal()
    t.ok(len(now) == 1 and now[0] != old, "Bob's next request gets a new personal drive", now)
    created = db_all(sp, 'SELECT e.subject, e.data, u.id FROM events e'
                         ' JOIN event_recipients r ON r.event_seq = e.seq'
                         ' JOIN users u ON u.seq = r.user_seq WHERE e.seq > ? AND e.type = ?',
                     (before, 'spaceport.space.created'))
    t.ok(len(created) == 1 and created[0][0] == now[0] and
         json.loads(created[0][1]).get('driveType') == 'personal' and
         created[0][2] == ids['bob'], 'with one space.created event, to Bob', created)
    t.eq(bob.get('/graph/v1.0/drives/' + now[0]).status, 200, 'he reaches it')
    t.eq(personal(), now, 'later requests keep that one drive')
    t.eq(len(db_all(sp, 'SELECT 1 FROM events WHERE seq > ? AND type = ?',
                    (before, 'spaceport.space.created'))), 1, 'and make no other')


def main(t):
    with Nats() as nats, Issuer() as idp:
        sp = Spaceport(nats_url=nats.url, issuers=idp.url,
                       env={'SPACEPORT_SSE_KEEPALIVE': '1s', 'SPACEPORT_SSE_COALESCE': '100ms',
                            'SPACEPORT_LOG_LEVEL': 'info'})
        with sp, NatsClient(nats.url) as nc:
            tok = {'alice': idp.token('alice-sub', 'alice', 'Alice', roles=['spaceport-admin']),
                   'bob': idp.token('bob-sub', 'bob', 'Bob', roles=['spaceport-spaceadmin'])}
            for name in ('carol', 'dave', 'erin'):
                tok[name] = idp.token(name + '-sub', name, name.title())
            c = {n: Client(sp, k) for n, k in tok.items()}
            ids = {}
            for n, cl in c.items():
                r = cl.get('/graph/v1.0/me')
                if not t.eq(r.status, 200, '%s is provisioned' % n):
                    t.diag(sp.stderr_text()[-3000:])
                    return
                ids[n] = r.json()['id']
            projects = (check_stream(t, sp, nc, c, ids, tok), check_last_manager(t, sp, c, ids))
            check_events(t, sp, nats, c, ids, projects)
            check_manager_for_good(t, sp, c, ids)
            check_personal(t, sp, c, ids, tok['bob'])


if __name__ == '__main__':
    TAP().run(main)
