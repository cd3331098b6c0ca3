#!/usr/bin/python3
"""Three replicas of one instance on one PostgreSQL database and one
nats-server: each lease held by exactly one replica, and taken over within
seconds when its holder is killed with kill -9 (the events committed
meanwhile reach the stream exactly once); a share made through one replica
reaches a change stream held on another (p50 and p99 printed); Last-Event-ID
resumes on another replica; a listing on one replica shows a write made on
another at once; storage change events are applied once per instance, and
a webhook subscription is told of each once.

PostgreSQL whatever the backend of the run: skipped when the run has no
server (SPACEPORT_TEST_PG_URL unset)."""
import http.client
import json
import os
import shutil
import signal
import sys
import threading
import time
import urllib.parse
import uuid

import harness
from harness import TAP, Client, Issuer, Nats, Spaceport, wait_until
from natsclient import NatsClient
from sse import Stream
from test_webhooks import Receiver, etags, subscribe

VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
LEASES = ('relay', 'federation', 'webhooks', 'sweeper')
REPLICAS = 3


def lease_holders(replicas, lease):
    """The replicas (of those running) whose /metrics say they hold lease."""
    return [sp for sp in replicas
            if sp.proc and sp.metric('spaceport_lease_held{lease="%s"}' % lease) == 1]


def start_replicas(nats, idp, db_url, rx):
    """REPLICAS replicas of one instance: one database, one bus, one public
    URL, one instance key (copied from the first replica's data directory,
    where it made it, before the others start)."""
    replicas = [Spaceport(nats_url=nats.url, issuers=idp.url,
                          env={'SPACEPORT_LOG_LEVEL': 'info', 'SPACEPORT_SSE_KEEPALIVE': '1s',
                               'SPACEPORT_DATABASE_URL': db_url,
                               'SPACEPORT_WEBHOOK_HOSTS': '127.0.0.1:%d' % rx.port})
                for _ in range(REPLICAS)]
    for sp in replicas:
        sp.env['SPACEPORT_PUBLIC_URL'] = replicas[0].url
    replicas[0].start()
    for sp in replicas[1:]:
        shutil.copy(os.path.join(replicas[0].data_dir, 'instance-key.pem'), sp.data_dir)
        sp.start()
    return replicas


def share_request(conn, token, drive, item, grantee):
    """POSTs one share on conn; returns (status, share id or None)."""
    conn.request('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (
        drive, urllib.parse.quote(item, safe='')),
        body=json.dumps({'recipients': [{'objectId': grantee}], 'roles': [VIEWER]}),
        headers={'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json'})
    resp = conn.getresponse()
    body = resp.read()
    sid = json.loads(body)['value'][0]['id'] if resp.status == 200 else None
    return resp.status, sid


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def check_leases(t, replicas, what):
    ok = wait_until(lambda: all(len(lease_holders(replicas, le)) == 1 for le in LEASES), 5)
    t.ok(ok, 'each lease is held by exactly one replica (%s)' % what,
         {le: [r.port for r in lease_holders(replicas, le)] for le in LEASES})


def check_cross_stream(t, a, b, tok, ids, project):
    """Shares made through a reach ben's stream on b; returns ann's events
    on a (for the Last-Event-ID check)."""
    s_ben = Stream(b.port, tok['ben'])
    s_ann = Stream(a.port, tok['ann'])
    t.eq((s_ben.status, s_ann.status), (200, 200), 'change streams open on both replicas')
    time.sleep(0.3)  # both streams subscribed
    conn = http.client.HTTPConnection('127.0.0.1', a.port, timeout=30)
    lat, missing, shares = [], [], []
    for i in range(120):
        t0 = time.monotonic()
        status, sid = share_request(conn, tok['ann'], project, '%s!cross-%03d' % (project, i),
                                    ids['ben'])
        if status != 200:
            missing.append((i, status))
            continue
        shares.append(sid)
        got = s_ben.next(5)
        while got and got.get('event') != 'share-created':
            got = s_ben.next(5)
        if not got or got['json'].get('shareId') != sid:
            missing.append((i, got))
            continue
        lat.append((got['at'] - t0) * 1000)
    conn.close()
    t.ok(not missing and len(lat) == 120,
         '120 shares made through replica A each reach the grantee\'s stream on replica B',
         missing[:5])
    if lat:
        t.diag('share through A to a change stream on B: p50 %.1f ms, p99 %.1f ms, max %.1f ms'
               ' (%d shares)' % (percentile(lat, 50), percentile(lat, 99), max(lat), len(lat)))
    seen_a = []
    deadline = time.monotonic() + 10
    while len(seen_a) < len(shares) and time.monotonic() < deadline:
        e = s_ann.next(2)
        if e and e.get('event') == 'share-created':
            seen_a.append(e)
    s_ben.close()
    s_ann.close()
    t.eq([e['json']['shareId'] for e in seen_a], shares,
         'the sharer\'s stream on replica A sees the same shares, in order')
    return seen_a


def check_resume(t, b, tok, seen_a):
    """Last-Event-ID of an event seen on A's stream, on B: exactly what came
    after it."""
    if len(seen_a) < 60:
        t.ok(False, 'Last-Event-ID on replica B (no events seen on A)')
        return
    mark = seen_a[59]
    want = [e['id'] for e in seen_a[60:]]
    s = Stream(b.port, tok['ann'], last_id=mark['id'])
    got = []
    while True:
        e = s.next(2)
        if not e:
            break
        if e.get('event') == 'share-created':
            got.append(e['id'])
    s.close()
    t.eq(got, want, 'Last-Event-ID of an event seen on replica A resumes on replica B with '
         'exactly the events after it (%d)' % len(want))


def check_listing(t, a, b, tok):
    """A write through a shows in a listing on b at once, though b keeps
    its listings (listcache) while its own data does not change."""
    ann_a, ann_b = Client(a, tok['ann']), Client(b, tok['ann'])
    stale = []
    for i in range(30):
        before = ann_b.get('/graph/v1.0/me/drives').json()['value']
        ann_b.get('/graph/v1.0/me/drives')  # served from the cache now
        name = 'Replicated %02d' % i
        r = ann_a.call('POST', '/graph/v1.0/drives', {'name': name})
        after = ann_b.get('/graph/v1.0/me/drives').json()['value']
        if r.status != 201 or len(after) != len(before) + 1 or \
                name not in [d['name'] for d in after]:
            stale.append((i, r.status, len(before), len(after)))
    t.ok(not stale, 'a drive made through replica A is in the listing on replica B at once '
         '(30 times, cached listing just before)', stale[:5])


def check_storage_changes(t, replicas, nats, project, rx):
    """N storage change events, published once each, applied once in all
    through the one durable consumer the replicas share; and notified once
    to a webhook subscription (one replica sends)."""
    def applied():
        return sum(sp.metric('spaceport_storage_changes_total{outcome="applied"}') or 0
                   for sp in replicas)
    per_before = [sp.metric('spaceport_storage_changes_total{outcome="applied"}') or 0
                  for sp in replicas]
    before = sum(per_before)
    n = 60
    with NatsClient(nats.url) as nc:
        for i in range(n):
            ev = {'specversion': '1.0', 'id': str(uuid.uuid4()), 'source': 'urn:test:storage',
                  'type': 'spaceport.storage.changed', 'datacontenttype': 'application/json',
                  'data': {'driveId': project, 'itemId': 'item-%d' % i, 'eTag': 'etag-%d' % i,
                           'lastModifiedDateTime': time.strftime('%Y-%m-%dT%H:%M:%SZ',
                                                                 time.gmtime()),
                           'change': 'updated'}}
            nc.publish('spaceport.storage.changed', ev,
                       headers={'Nats-Msg-Id': ev['id'],
                                'Content-Type': 'application/cloudevents+json'})
            nc.flush()
            time.sleep(0.02)
        wait_until(lambda: applied() >= before + n, 15)
        time.sleep(1.5)  # a second application would show by now
        info = nc.request('$JS.API.CONSUMER.INFO.SPACEPORT.spaceport-storage-changes').json()
    t.eq(applied() - before, n, '%d storage change events are applied %d times in all' % (n, n))
    per = [(sp.metric('spaceport_storage_changes_total{outcome="applied"}') or 0) - b
           for sp, b in zip(replicas, per_before)]
    t.ok(sum(1 for x in per if x > 0) >= 2,
         'through one durable consumer that several replicas pull from', per)
    t.ok(info.get('config', {}).get('durable_name') == 'spaceport-storage-changes' and
         info.get('num_ack_pending') == 0 and info.get('num_pending') == 0,
         'the shared durable has nothing pending or unacknowledged',
         {k: info.get(k) for k in ('num_ack_pending', 'num_pending', 'num_waiting')})
    want = set('etag-%d' % i for i in range(n))
    wait_until(lambda: want <= set(etags(rx.items('/ann'))), 15)
    time.sleep(1.5)  # a second sender would have sent by now
    sent = [e for e in etags(rx.items('/ann')) if e in want]
    t.ok(sorted(sent) == sorted(want),
         'a webhook subscription is told of each of the %d changes exactly once, though every '
         'replica heard of them' % n,
         {'told': len(sent), 'distinct': len(set(sent)), 'missing': sorted(want - set(sent))[:5]})


def check_takeover(t, replicas, nats, tok, ids, project):
    """kill -9 of the relay's holder during a burst of shares through the
    others: another replica holds the lease within 3 s, and every event,
    committed before or after, is in the stream exactly once."""
    holders = lease_holders(replicas, 'relay')
    if len(holders) != 1:
        t.ok(False, 'one relay holder to kill', [sp.port for sp in holders])
        return
    victim = holders[0]
    others = [sp for sp in replicas if sp is not victim]
    acked, failed = {}, []
    stop = threading.Event()

    def worker(sp, n):
        conn = http.client.HTTPConnection('127.0.0.1', sp.port, timeout=30)
        i = 0
        while not stop.is_set() and i < 400:
            item = '%s!burst-%d-%04d' % (project, n, i)
            i += 1
            try:
                status, sid = share_request(conn, tok['ann'], project, item, ids['ben'])
            except (OSError, http.client.HTTPException) as e:
                failed.append(repr(e))
                conn = http.client.HTTPConnection('127.0.0.1', sp.port, timeout=30)
                continue
            if status == 200:
                acked[item] = sid
            else:
                failed.append(status)

    threads = [threading.Thread(target=worker, args=(sp, n)) for n, sp in enumerate(others)]
    for th in threads:
        th.start()
    wait_until(lambda: len(acked) >= 200, 30)
    victim.proc.kill()  # kill -9
    victim.proc.wait()
    killed_at = time.monotonic()
    took = None
    if wait_until(lambda: len(lease_holders(others, 'relay')) == 1, 3, 0.02):
        took = time.monotonic() - killed_at
    t.ok(took is not None, 'kill -9 of the relay\'s holder: another replica holds the relay '
         'lease within 3 s (%s)' % ('%.2f s' % took if took is not None else 'not taken'))
    for th in threads:
        th.join(120)
    victim.stop(signal.SIGKILL)
    t.ok(len(acked) >= 600 and not failed,
         '%d shares through the surviving replicas, all acknowledged' % len(acked), failed[:5])
    check_leases(t, others, 'after the kill')
    drained = wait_until(lambda: others[0].metric('spaceport_events_backlog') == 0, 30)
    t.ok(drained, 'the outbox drains on the new holder')
    rows = others[0].db_rows("SELECT id, data FROM events WHERE type = 'spaceport.share.created'")
    event_ids = set(r[0] for r in others[0].db_rows('SELECT id FROM events'))
    share_events = {}
    for eid, data in rows:
        share_events.setdefault(json.loads(data).get('shareId'), []).append(eid)
    t.ok(all(len(share_events.get(sid, [])) == 1 for sid in acked.values()),
         'every acknowledged share has exactly one event in the log')
    with NatsClient(nats.url) as nc:
        msgs = nc.stream_messages(timeout=60)
    counts = {}
    for _, _, h, _ in msgs:
        mid = h.get('Nats-Msg-Id')
        counts[mid] = counts.get(mid, 0) + 1
    twice = [m for m, c in counts.items() if c > 1]
    lacking = [e for e in event_ids if counts.get(e, 0) != 1]
    t.ok(not twice, 'no message is twice in the stream (%d messages)' % len(msgs), twice[:5])
    t.ok(not lacking, 'every event of the log (%d, %d of them from before the kill) is in the '
         'stream exactly once' % (len(event_ids), len(event_ids) - len(acked)), lacking[:5])
    burst_ids = set(eid for sid in acked.values() for eid in share_events.get(sid, []))
    t.ok(burst_ids and burst_ids <= set(counts),
         'the %d acknowledged shares\' events are all in the stream' % len(burst_ids))


def main(t):
    db_url = harness.new_pg_database()
    with Nats() as nats, Issuer() as idp, Receiver() as rx:
        replicas = start_replicas(nats, idp, db_url, rx)
        try:
            a, b = replicas[0], replicas[1]
            t.ok(all(sp.request('GET', '/readyz').status == 200 for sp in replicas),
                 '%d replicas on one database and one bus are ready' % REPLICAS)
            check_leases(t, replicas, 'at start')
            tok = {n: idp.token(n + '-sub', n, n.title(), roles=['spaceport-spaceadmin'])
                   for n in ('ann', 'ben')}
            ids = {n: Client(b if n == 'ben' else a, tok[n]).me()['id'] for n in tok}
            r = Client(a, tok['ann']).call('POST', '/graph/v1.0/drives', {'name': 'Replicas'})
            project = r.json()['id']
            r = subscribe(Client(b, tok['ann']), 'drives/' + project, rx.url + '/ann')
            t.eq(r.status, 201, 'a webhook subscription on the drive, made through replica B')
            seen_a = check_cross_stream(t, a, b, tok, ids, project)
            check_resume(t, b, tok, seen_a)
            check_listing(t, a, b, tok)
            check_storage_changes(t, replicas, nats, project, rx)
            check_takeover(t, replicas, nats, tok, ids, project)
        finally:
            for sp in replicas:
                sp.stop()
                shutil.rmtree(sp.data_dir, ignore_errors=True)


if __name__ == '__main__':
    if harness.pg_admin_url() is None:
        print('1..0 # SKIP no PostgreSQL for this run (SPACEPORT_TEST_PG_URL unset)')
        sys.exit(0)
    TAP().run(main)
