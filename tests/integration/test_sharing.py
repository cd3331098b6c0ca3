#!/usr/bin/python3
"""Sharing and events end to end: invite, permissions, mountpoints, shared
with/by me, e-mail shares matched at first sight, expiry, event history, and
the outbox relay to a real JetStream: CloudEvents on the wire, a bus outage
with 1,000 shares, kill -9 and SIGTERM in the middle of a burst, clients
hanging up on their invitations."""
import json
import signal
import threading
import time
import urllib.parse

import catalog
from harness import TAP, Client, Issuer, Nats, Spaceport, wait_until
from natsclient import NatsClient

MANAGER = '312c0871-5ef7-4b3a-85b6-0e4074c64049'
SPACE_EDITOR = '58c63c02-1d89-4572-916a-870abc5a1b7d'
SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'
VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
EDITOR = 'fb6c3e19-e378-47e5-b277-9732f9de6e21'
SHARES_DRIVE = 'a0ca6a90-a365-4782-871e-d44447bbc668$a0ca6a90-a365-4782-871e-d44447bbc668'
DAV = 'https://dav.example.test'


def load_schemas():
    return catalog.data_schemas()


def validate(schemas, ce):
    """Returns None when ce is a valid Spaceport CloudEvent, else the error."""
    return catalog.problem(ce, schemas)


def share(client, drive, item, recipient, role=VIEWER, **extra):
    body = {'recipients': [recipient], 'roles': [role]}
    body.update(extra)
    return client.call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (
        drive, urllib.parse.quote(item, safe='')), body)


def backlog(sp):
    for line in sp.request('GET', '/metrics').body.decode().splitlines():
        if line.startswith('spaceport_events_backlog '):
            return int(line.split()[1])
    return -1


def db_rows(sp, sql, args=()):
    return sp.db_rows(sql, args)


def check_basics(t, sp, nats, schemas, c, ids, project):
    bob, carol, dave, erin = c['bob'], c['carol'], c['dave'], c['erin']
    with NatsClient(nats.url) as nc:
        sub = nc.subscribe('spaceport.>')
        r = share(bob, project, project, {'objectId': ids['carol']}, VIEWER)
        t.eq(r.status, 200, 'a Manager shares the drive root: 200')
        perm = r.json()['value'][0]
        t.ok(perm['roles'] == [VIEWER] and perm['grantedToV2']['user']['id'] == ids['carol'] and
             perm['invitation']['invitedBy']['user']['id'] == ids['bob'] and perm['id'],
             'the answer is the permission: id, roles, grantedToV2, invitation.invitedBy', perm)
        msg = None
        deadline = time.time() + 5
        while time.time() < deadline:
            m = sub.get(timeout=5)
            if m.subject == 'spaceport.share.created':
                msg = m
                break
        t.ok(msg is not None, 'a subscriber on spaceport.> receives spaceport.share.created')
        ce = msg.json()
        t.eq(msg.headers.get('Content-Type'), 'application/cloudevents+json',
             'structured mode: Content-Type application/cloudevents+json')
        t.eq(msg.headers.get('Nats-Msg-Id'), ce['id'], 'Nats-Msg-Id is the CloudEvent id')
        t.ok(validate(schemas, ce) is None, 'the CloudEvent and its data match the schemas',
             validate(schemas, ce))
        t.ok(ce['subject'] == project and ce['source'] == sp.url and
             ce['data']['shareId'] == perm['id'] and ce['data']['granteeUserId'] == ids['carol']
             and ce['data']['sharer'] == ids['bob'] and ce['data']['roles'] == [VIEWER],
             'the event names drive, share, sharer, grantee and roles', ce)

        r = carol.get('/api/v1/events/' + ce['id'])
        t.ok(r.status == 200 and r.json()['id'] == ce['id'] and
             r.headers.get('content-type') == 'application/cloudevents+json',
             'event history answers the stored CloudEvent to its recipient')
        t.eq(dave.get('/api/v1/events/' + ce['id']).status, 404,
             'event history is 404 for a user it does not concern')
        t.eq(c['alice'].get('/api/v1/events/' + ce['id']).status, 200,
             'event history answers an admin')
        t.eq(carol.get('/api/v1/events/nope').status, 404, 'an unknown event id is 404')

    r = carol.get('/graph/v1.0/me/drives')
    drives = r.json()['value']
    mounts = [d for d in drives if d['driveType'] == 'mountpoint']
    t.eq(len(mounts), 1, 'the grantee sees one mountpoint drive')
    m = mounts[0]
    ri = m['root'].get('remoteItem', {})
    t.ok(ri.get('id') == project and ri.get('driveId') == project and
         ri.get('name') == 'Shared Project' and
         ri.get('webDavUrl') == DAV + '/dav/spaces/' + project,
         'root.remoteItem names the shared drive and item with its webDavUrl', m)
    t.ok(any(d['driveType'] == 'virtual' and d['id'] == SHARES_DRIVE for d in drives),
         'the virtual Shares drive is listed to a user with shares')
    t.ok(not any(d['driveType'] == 'virtual' for d in c['dave'].get(
        '/graph/v1.0/me/drives').json()['value']), 'no Shares drive without shares')
    r = carol.get('/graph/v1.0/drives/' + m['id'])
    t.ok(r.status == 200 and r.json()['driveType'] == 'mountpoint', 'GET the mountpoint by id')
    r = carol.get('/graph/v1.0/me/drives?$filter=' + urllib.parse.quote("driveType eq 'mountpoint'"))
    t.ok([d['id'] for d in r.json()['value']] == [m['id']], "$filter driveType eq 'mountpoint'")

    r = carol.get('/graph/v1beta1/me/drive/sharedWithMe')
    v = r.json()['value']
    t.ok(r.status == 200 and len(v) == 1 and v[0]['remoteItem']['id'] == project and
         v[0]['remoteItem']['shared']['sharedBy']['user']['id'] == ids['bob'],
         'sharedWithMe lists the share with who shared it', v)
    r = bob.get('/graph/v1beta1/me/drive/sharedByMe')
    v = r.json()['value']
    t.ok(r.status == 200 and len(v) == 1 and v[0]['id'] == project and
         v[0]['permissions'][0]['grantedToV2']['user']['id'] == ids['carol'],
         'sharedByMe lists the item with its permissions', v)
    r = bob.get('/graph/v1beta1/drives/%s/items/%s/permissions' % (project, project))
    t.ok(r.status == 200 and len(r.json()['value']) == 1 and
         {x['id'] for x in r.json()['@libre.graph.permissions.roles.allowedValues']} >=
         {VIEWER, EDITOR}, 'item permissions list shares and the roles one may grant', r.body[:300])

    # Rules
    t.eq(share(dave, project, project + '!item-1', {'objectId': ids['carol']}).status, 403,
         'a SpaceViewer cannot share')
    t.eq(share(bob, project, project + '!item-1', {'objectId': ids['bob']}).status, 400,
         'sharing with oneself is 400')
    t.eq(share(bob, project, project + '!item-1', {'email': 'Bob@Example.org'}).status, 400,
         'sharing with one\'s own e-mail is 400')
    t.eq(share(bob, project, project + '!item-1', {'objectId': 'no-such-user'}).status, 400,
         'an unknown recipient id is 400')
    t.eq(share(bob, project, project, {'objectId': ids['carol']}).status, 409,
         'the same item with the same grantee again is 409')
    t.eq(share(bob, project, project + '!item-1', {'objectId': ids['carol']}, MANAGER).status, 400,
         'a space role on an item share is 400')
    t.eq(share(bob, project, project + '!item-1', {'email': 'not an address'}).status, 400,
         'a malformed e-mail is 400')
    t.eq(share(c['frank0'], project, project + '!item-1', {'objectId': ids['carol']}).status, 404,
         'a stranger sharing an item of a drive not visible to them gets 404')
    item = project + '!report-odt'  # oCIS-style resource id: storage$space!opaque
    r = share(erin, project, item, {'objectId': ids['dave']}, EDITOR,
              **{'@libre.graph.item.name': 'report.odt'})
    t.eq(r.status, 200, 'a SpaceEditor shares an item')
    erin_perm = r.json()['value'][0]['id']
    item_path = '/graph/v1beta1/drives/%s/items/%s/permissions/' % (
        project, urllib.parse.quote(item, safe=''))
    mp = [d for d in dave.get('/graph/v1.0/me/drives').json()['value']
          if d['driveType'] == 'mountpoint'][0]
    t.eq(mp['name'], 'report.odt', 'the mountpoint carries the item name given at sharing')
    t.eq(mp['root']['remoteItem']['webDavUrl'], DAV + '/dav/spaces/' + item,
         'an item mountpoint points at the item')

    r = erin.call('PATCH', '/graph/v1beta1/drives/%s/items/%s/permissions/%s' % (
        project, project, perm['id']), {'roles': [EDITOR]})
    t.eq(r.status, 403, "a SpaceEditor cannot change another's share")
    r = erin.call('PATCH', item_path + erin_perm, {'roles': [VIEWER]})
    t.ok(r.status == 200 and r.json()['roles'] == [VIEWER], 'a SpaceEditor changes their own share')
    r = bob.call('PATCH', '/graph/v1beta1/drives/%s/items/%s/permissions/%s' % (
        project, project, perm['id']), {'roles': [EDITOR]})
    t.ok(r.status == 200 and r.json()['roles'] == [EDITOR], 'a Manager changes any share')
    r = bob.call('PATCH', '/graph/v1beta1/drives/%s/items/%s/permissions/%s' % (
        project, project + '!other-item', perm['id']), {'roles': [EDITOR]})
    t.eq(r.status, 404, 'a permission addressed under the wrong item is 404')
    r = bob.call('DELETE', item_path + erin_perm)
    t.eq(r.status, 204, 'a Manager removes a share')
    t.ok(not any(d['driveType'] == 'mountpoint' for d in dave.get(
        '/graph/v1.0/me/drives').json()['value']), 'a removed share is no longer a mountpoint')
    kinds = [row[0] for row in db_rows(sp, "SELECT type FROM events WHERE type LIKE "
                                       "'spaceport.share.%' ORDER BY seq")]
    t.ok(kinds.count('spaceport.share.updated') >= 2 and kinds[-1] == 'spaceport.share.deleted',
         'changes and removals wrote share.updated and share.deleted', kinds)
    r = carol.get('/graph/v1.0/users?$search=' + urllib.parse.quote('"car"'))
    t.ok(r.status == 200 and any(u['id'] == ids['carol'] for u in r.json()['value']),
         'users search finds a known user by the start of the name')
    t.eq(carol.get('/graph/v1.0/users?$search=ca').status, 400, 'a search under 3 characters is 400')


def check_email_and_expiry(t, sp, idp, c, ids, project):
    bob = c['bob']
    r = share(bob, project, project + '!plans', {'email': 'Frank@Example.org'}, VIEWER)
    t.ok(r.status == 200 and r.json()['value'][0]['invitation'].get('email') ==
         'frank@example.org' and 'grantedToV2' not in r.json()['value'][0],
         'a share to an unknown e-mail is pending, named by the address', r.body[:300])
    frank = Client(sp, idp.token('frank-sub', 'frank', 'Frank F', email='frank@example.org'))
    t.eq(frank.get('/graph/v1.0/me').status, 200, 'the e-mail owner logs in for the first time')
    mounts = [d for d in frank.get('/graph/v1.0/me/drives').json()['value']
              if d['driveType'] == 'mountpoint']
    t.ok(len(mounts) == 1 and mounts[0]['root']['remoteItem']['id'] == project + '!plans',
         'the pending share is theirs at first sight', mounts)
    matched = db_rows(sp, "SELECT data FROM events WHERE type = 'spaceport.share.updated'"
                          " AND data LIKE '%matchedEmail%'")
    t.eq(len(matched), 1, 'the match wrote one share.updated event')

    expires = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() + 3))
    r = share(bob, project, project + '!short-lived', {'objectId': ids['dave']}, VIEWER,
              expirationDateTime=expires)
    t.eq(r.status, 200, 'a share with an expiry')
    dave = c['dave']
    t.ok(any(d['driveType'] == 'mountpoint' for d in dave.get('/graph/v1.0/me/drives').json()[
        'value']), 'visible before it expires')
    time.sleep(4.5)
    t.ok(not any(d['driveType'] == 'mountpoint' for d in dave.get(
        '/graph/v1.0/me/drives').json()['value']), 'an expired share disappears from listings')
    time.sleep(2)
    n = db_rows(sp, "SELECT count(*) FROM events WHERE type = 'spaceport.share.expired'")[0][0]
    t.eq(n, 1, 'its expiry wrote spaceport.share.expired exactly once')
    t.eq(share(bob, project, project + '!past', {'objectId': ids['dave']}, VIEWER,
               expirationDateTime='2001-01-01T00:00:00Z').status, 400,
         'an expiry in the past is 400')


def check_bus_outage(t, sp, nats, c, ids, project, schemas):
    bob = c['bob']
    wait_until(lambda: backlog(sp) == 0, 10)
    with NatsClient(nats.url) as nc:
        before = nc.stream_info()['state']['messages']
    nats.stop()
    commits, writes = sp.metric('spaceport_store_commits_total'), sp.metric(
        'spaceport_store_writes_total')
    t0 = time.time()
    statuses = []
    import http.client
    conn = http.client.HTTPConnection('127.0.0.1', sp.port, timeout=30)
    for i in range(1000):
        conn.request('POST', '/graph/v1beta1/drives/%s/items/%s!outage-%04d/invite' % (
                         project, project, i),
                     body=json.dumps({'recipients': [{'objectId': ids['carol']}],
                                      'roles': [VIEWER]}),
                     headers={'Authorization': 'Bearer ' + bob.token,
                              'Content-Type': 'application/json'})
        resp = conn.getresponse()
        resp.read()
        statuses.append(resp.status)
    conn.close()
    took = time.time() - t0
    t.ok(statuses.count(200) == 1000, '1,000 shares while the bus is down: all 200 (%.1f s)' % took,
         {s: statuses.count(s) for s in set(statuses)})
    t.ok(backlog(sp) >= 1000, 'metrics show the outbox growing while the bus is down')
    commits = sp.metric('spaceport_store_commits_total') - commits
    writes = sp.metric('spaceport_store_writes_total') - writes
    t.ok(writes >= 1000 and 0 < commits <= writes,
         'metrics count the writes committed and their groups (%d writes, %d commits)' % (
             writes, commits))
    t.eq(sp.metric('spaceport_store_jobs_queued'), 0, 'no write is queued once all are answered')
    nats.start()
    drained = wait_until(lambda: backlog(sp) == 0, 30)
    t.ok(drained, 'the outbox drains after the bus returns')
    with NatsClient(nats.url) as nc:
        msgs = nc.stream_messages()
    ids_seen = [h.get('Nats-Msg-Id') for _, _, h, _ in msgs]
    t.eq(len(ids_seen), len(set(ids_seen)), 'no event is twice in the stream')
    outage = [json.loads(d) for _, subj, _, d in msgs if subj == 'spaceport.share.created']
    outage = [e for e in outage if e['data']['itemId'].startswith(project + '!outage-')]
    t.eq(len(outage), 1000, 'the stream holds exactly the 1,000 share events')
    t.eq(len(msgs), before + 1000, 'and nothing else was added')
    seqs = [int(e['sequence']) for e in outage]
    t.ok(seqs == sorted(seqs), 'they were published in log order')
    texts = [e['sequence'] for e in outage]
    t.ok(all(len(s) == 19 for s in texts) and texts == sorted(texts),
         'their sequence attributes are 19 digits, in log order as strings too', texts[:3])
    bad = [validate(schemas, json.loads(d)) for _, _, _, d in msgs]
    bad = [b for b in bad if b]
    t.ok(not bad, 'every event in the stream matches the schemas (%d events)' % len(msgs), bad[:5])


def burst(sp, c, ids, project, prefix, seconds, sig):
    """Shares from 4 connections until sig stops the service after seconds;
    returns {item: share id} of the shares answered 200."""
    results = {}
    stop = threading.Event()

    def worker(n):
        import http.client
        conn = http.client.HTTPConnection('127.0.0.1', sp.port, timeout=10)
        i = 0
        while not stop.is_set():
            item = '%s!%s-%d-%05d' % (project, prefix, n, i)
            i += 1
            try:
                conn.request('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (project, item),
                             body=json.dumps({'recipients': [{'objectId': ids['carol']}],
                                              'roles': [VIEWER]}),
                             headers={'Authorization': 'Bearer ' + c['bob'].token,
                                      'Content-Type': 'application/json'})
                resp = conn.getresponse()
                body = resp.read()
                if resp.status == 200:
                    results[item] = json.loads(body)['value'][0]['id']
            except (OSError, http.client.HTTPException):
                return

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for th in threads:
        th.start()
    time.sleep(seconds)
    sp.proc.send_signal(sig)
    code = sp.proc.wait()
    stop.set()
    for th in threads:
        th.join()
    return results, code


def check_kill9(t, sp_args, nats, idp, c, ids, project):
    sp = sp_args
    results, _ = burst(sp, c, ids, project, 'burst', 1.5, signal.SIGKILL)
    t.ok(len(results) > 20, 'kill -9 in a burst: %d shares had been acknowledged' % len(results))
    sp.proc = None
    sp._err.close()
    sp.start()
    drained = wait_until(lambda: backlog(sp) == 0, 30)
    t.ok(drained, 'after restart the outbox drains')
    present = {row[0] for row in db_rows(
        sp, "SELECT id FROM shares WHERE item_id LIKE '%!burst-%'")}
    missing = [i for i, sid in results.items() if sid not in present]
    t.ok(not missing, 'every acknowledged share exists after kill -9', missing[:5])
    with NatsClient(nats.url) as nc:
        msgs = nc.stream_messages()
    ids_seen = [h.get('Nats-Msg-Id') for _, _, h, _ in msgs]
    per_share = {}
    for _, subj, _, d in msgs:
        if subj == 'spaceport.share.created':
            e = json.loads(d)
            per_share[e['data']['shareId']] = per_share.get(e['data']['shareId'], 0) + 1
    t.eq(len(ids_seen), len(set(ids_seen)), 'after kill -9 no event id is twice in the stream')
    wrong = [sid for sid in results.values() if per_share.get(sid) != 1]
    t.ok(not wrong, 'every acknowledged share has exactly one share.created in the stream',
         wrong[:5])
    rows = db_rows(sp, "SELECT count(*) FROM events WHERE type='spaceport.share.created'"
                       " AND data LIKE '%burst-%'")[0][0]
    t.eq(rows, len(present), 'and exactly one event row per share in the log')


def check_stop_and_hangups(t, sp, c, ids, project):
    """Requests wait for their group commit without a thread: a client that
    hangs up meanwhile costs nothing, and SIGTERM answers every request in
    flight before the process exits."""
    import socket
    body = json.dumps({'recipients': [{'objectId': ids['carol']}], 'roles': [VIEWER]}).encode()
    for i in range(50):
        s = socket.create_connection(('127.0.0.1', sp.port))
        s.sendall(('POST /graph/v1beta1/drives/%s/items/%s!hangup-%02d/invite HTTP/1.1\r\n'
                   'Host: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n'
                   'Content-Length: %d\r\n\r\n' % (project, project, i, c['bob'].token, len(body))
                   ).encode() + body)
        s.close()
    r = share(c['bob'], project, project + '!after-hangups', {'objectId': ids['carol']})
    t.eq(r.status, 200, 'after 50 clients hung up on their invitations, the next one is answered')
    time.sleep(0.5)
    shares = db_rows(sp, "SELECT count(*) FROM shares WHERE item_id LIKE '%!hangup-%'")[0][0]
    events = db_rows(sp, "SELECT count(*) FROM events WHERE type='spaceport.share.created'"
                         " AND data LIKE '%hangup-%'")[0][0]
    t.eq(events, shares, 'each share whose client hung up has its one event (%d shares)' % shares)

    results, code = burst(sp, c, ids, project, 'term', 1.0, signal.SIGTERM)
    if not t.eq(code, 0, 'SIGTERM in a burst of %d invitations: the service exits 0' % len(results)):
        t.diag(sp.stderr_text()[-3000:])
    sp.proc = None
    sp._err.close()
    sp.start()
    present = {row[0] for row in db_rows(
        sp, "SELECT id FROM shares WHERE item_id LIKE '%!term-%'")}
    missing = [i for i, sid in results.items() if sid not in present]
    t.ok(results and not missing, 'every share acknowledged before SIGTERM exists', missing[:5])


def main(t):
    schemas = load_schemas()
    with Nats() as nats, Issuer() as idp:
        sp = Spaceport(nats_url=nats.url, issuers=idp.url,
                       env={'SPACEPORT_DAV_URL': DAV, 'SPACEPORT_LOG_LEVEL': 'info'})
        with sp:
            c = {
                'alice': Client(sp, idp.token('alice-sub', 'alice', 'Alice', roles=[
                    'spaceport-admin'])),
                'bob': Client(sp, idp.token('bob-sub', 'bob', 'Bob', email='bob@example.org',
                                            roles=['spaceport-spaceadmin'])),
                'carol': Client(sp, idp.token('carol-sub', 'carol', 'Carol')),
                'dave': Client(sp, idp.token('dave-sub', 'dave', 'Dave')),
                'erin': Client(sp, idp.token('erin-sub', 'erin', 'Erin')),
                'frank0': Client(sp, idp.token('stranger-sub', 'stranger', 'Stranger')),
            }
            ids = {}
            for name, cl in c.items():
                r = cl.get('/graph/v1.0/me')
                if not t.eq(r.status, 200, '%s signs in' % name):
                    t.diag(sp.stderr_text()[-2000:])
                    return
                ids[name] = r.json()['id']
            project = c['bob'].call('POST', '/graph/v1.0/drives', {'name': 'Shared Project'}).json()[
                'id']
            for who, role in (('erin', SPACE_EDITOR), ('dave', SPACE_VIEWER)):
                c['bob'].call('POST', '/graph/v1beta1/drives/%s/root/invite' % project,
                              {'recipients': [{'objectId': ids[who]}], 'roles': [role]})
            check_basics(t, sp, nats, schemas, c, ids, project)
            check_email_and_expiry(t, sp, idp, c, ids, project)
            check_bus_outage(t, sp, nats, c, ids, project, schemas)
            check_kill9(t, sp, nats, idp, c, ids, project)
            check_stop_and_hangups(t, sp, c, ids, project)


if __name__ == '__main__':
    TAP().run(main)
