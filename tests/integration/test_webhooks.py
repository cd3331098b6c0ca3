#!/usr/bin/python3
"""Webhook delivery end to end: subscriptions made through the API,
storage changes published on a real JetStream, notifications POSTed by the
real program to receivers on loopback. Every change arrives once and in
order although the receiver is down and then failing for a while, and
across a restart of the program; a subscriber is told only what their own
change stream shows; losing access ends a subscription with a
subscriptionRemoved lifecycle notification, expiry ends it silently;
events that left the log before delivery (the real retention sweeper) are
reported by a missed lifecycle notification."""
import json
import socket
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

from harness import TAP, Client, Issuer, Nats, Spaceport, free_port, wait_until
from natsclient import NatsClient
from test_changes import change_event, publish

SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'
VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
ADMIN = ['spaceport-spaceadmin']


class Receiver:
    """A webhook receiver on loopback. It answers the validation handshake
    (echoes validationToken as text/plain), and records every notification
    POST it answers 202, with the time it came. stop() closes the port
    (connection refused); failing=True answers 500 and records nothing."""

    def __init__(self):
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.lock = threading.Lock()
        self.accepted = []     # (monotonic time, path, body)
        self.validations = []  # paths
        self.failing = False
        self.delay = 0         # seconds a notification waits for its answer
        self.refused = 0
        self.server = None

    def start(self):
        rx = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
                url = urlsplit(self.path)
                token = parse_qs(url.query).get('validationToken')
                if token:
                    with rx.lock:
                        rx.validations.append(url.path)
                    self.answer(200, token[0].encode(), 'text/plain')
                    return
                if rx.delay:
                    time.sleep(rx.delay)
                if rx.failing:
                    with rx.lock:
                        rx.refused += 1
                    self.answer(500, b'', 'text/plain')
                    return
                with rx.lock:
                    rx.accepted.append((time.monotonic(), url.path, json.loads(body)))
                self.answer(202, b'', 'text/plain')

            def answer(self, status, body, ctype):
                self.send_response(status)
                self.send_header('Content-Type', ctype)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(('127.0.0.1', self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def notes(self, path, key='value'):
        """The items of the accepted POSTs to path, with their arrival."""
        with self.lock:
            return [(at, item) for at, p, body in self.accepted if p == path
                    for item in body.get(key, [])]

    def items(self, path):
        return [item for _, item in self.notes(path)]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Canary:
    """A listener that only counts the connections it is offered."""

    def __init__(self):
        self.port = free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', self.port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.connections = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                pass

    def close(self):
        self.stopping = True
        self.thread.join()
        self.sock.close()


def iso_in(seconds):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() + seconds))


def subscribe(client, resource, url, change='created,updated,deleted', lifecycle=None,
              state=None, seconds=3600):
    body = {'changeType': change, 'notificationUrl': url, 'resource': resource,
            'expirationDateTime': iso_in(seconds)}
    if lifecycle:
        body['lifecycleNotificationUrl'] = lifecycle
    if state:
        body['clientState'] = state
    return client.call('POST', '/graph/v1.0/subscriptions', body)


def metric(sp, sample):
    for line in sp.request('GET', '/metrics').body.decode().splitlines():
        if line.startswith(sample + ' '):
            return float(line.split()[1])
    return None


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))] if s else float('nan')


def first_difference(got, want):
    """Where two lists part, for a failure's diagnostics."""
    for n, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return 'at %d: %r, expected %r (%d vs %d items)' % (n, a, b, len(got), len(want))
    return 'lengths %d vs %d' % (len(got), len(want))


def etags(items):
    return [i['resourceData'].get('eTag') for i in items]


def start_missed_case(rx):
    """A second instance with the shortest retention (1 min): its
    subscriber's receiver goes down, five changes are made, and the real
    sweeper prunes them before the receiver is back. Started first, as it
    takes two minutes; finished by finish_missed_case."""
    nats = Nats().start()
    idp = Issuer().start()
    sp = Spaceport(nats_url=nats.url, issuers=idp.url,
                   env={'SPACEPORT_EVENTS_RETENTION': '1m', 'SPACEPORT_LOG_LEVEL': 'info',
                        'SPACEPORT_WEBHOOK_HOSTS': '127.0.0.1:%d' % rx.port}).start()
    nc = NatsClient(nats.url)
    dan = Client(sp, idp.token('dan-sub', 'dan', 'Dan'))
    drive = dan.get('/graph/v1.0/me/drive').json()['id']
    r = subscribe(dan, 'drives/' + drive, rx.url + '/dan', state='dan-state')
    case = {'nats': nats, 'idp': idp, 'sp': sp, 'drive': drive, 'created': r.status,
            'sub': r.json().get('id') if r.status == 201 else None}
    publish(nc, change_event(drive, 'before-outage'))
    wait_until(lambda: 'before-outage' in etags(rx.items('/dan')), 10)
    case['before'] = etags(rx.items('/dan'))
    rx.stop()
    for i in range(5):
        publish(nc, change_event(drive, 'pruned-%d' % i, item='p%d' % i))

    def newest_item_change():
        return sp.db_rows("SELECT max(seq) FROM events WHERE type = 'spaceport.item.changed'"
                          " AND data LIKE '%pruned-4%'")[0][0]
    wait_until(lambda: newest_item_change() is not None, 10)
    case['last_pruned_seq'] = newest_item_change()
    case['nc'] = nc

    def pruned():
        return sp.db_rows('SELECT count(*) FROM events WHERE seq <= ?',
                          (case['last_pruned_seq'],))[0][0] == 0

    def back_after_prune():
        # The receiver comes back as soon as the sweeper pruned (whatever
        # the main part is doing then): the sender's next try, within its
        # back-off, finds the gap.
        case['pruned'] = wait_until(pruned, 200, 0.5)
        case['back_at'] = time.monotonic()
        rx.start()
    case['watcher'] = threading.Thread(target=back_after_prune, daemon=True)
    case['watcher'].start()
    return case


def sub_state(case):
    """The sender's record of the missed case's subscription, for a
    failure's diagnostics."""
    row = case['sp'].db_rows('SELECT cursor, attempts, next_attempt_at, last_error,'
                             ' lifecycle_pending FROM subscriptions')
    return 'now %d ms, receiver back %.0f s ago: %r' % (
        time.time() * 1000, time.monotonic() - case.get('back_at', 0), row)


def finish_missed_case(t, case, rx):
    sp = case['sp']
    case['nc'].close()
    nc = None
    try:
        t.eq(case['created'], 201, 'missed case: a subscription at the instance with 1 min '
             'retention')
        t.eq(case['before'], ['before-outage'], 'missed case: a change before the outage arrives')
        case['watcher'].join()
        t.ok(case['pruned'],
             'missed case: the sweeper prunes the undelivered changes (retention 1 min)')
        # A new connection: the test's reader gives up on one idle for 10 s.
        nc = NatsClient(case['nats'].url)
        publish(nc, change_event(case['drive'], 'after-prune'))
        # The receiver was down until the prune, one to three minutes: the
        # back-off doubles, so the next try comes at most as long after it
        # is back as it was down (a failure just before its return waits
        # the whole last interval).
        t.ok(wait_until(lambda: 'after-prune' in etags(
            [i for i in rx.items('/dan') if 'resourceData' in i]), 260, 0.5),
            'missed case: delivery resumes once the receiver is back', sub_state(case))
        items = rx.items('/dan')
        kinds = [i.get('lifecycleEvent') or i['resourceData'].get('eTag') for i in items]
        t.ok('missed' in kinds and kinds.index('missed') < kinds.index('after-prune'),
             'a missed lifecycle notification comes before the changes after the gap', kinds)
        note = [i for i in items if i.get('lifecycleEvent') == 'missed']
        t.ok(note and note[0]['subscriptionId'] == case['sub'] and
             note[0].get('clientState') == 'dan-state' and
             note[0]['resource'] == 'drives/' + case['drive'],
             'it names the subscription, its clientState and resource', note)
        t.eq([k for k in kinds if str(k).startswith('pruned-')], [],
             'the pruned changes are not invented')
        t.eq(metric(sp, 'spaceport_webhook_lifecycle_total{event="missed"}'), 1.0,
             '/metrics counts the missed notification')
    finally:
        if nc:
            nc.close()
        t.eq(sp.stop(), 0, 'missed case: spaceport exits cleanly')
        case['idp'].stop()
        case['nats'].stop()


def main(t):
    with Receiver() as rx, Receiver() as life, Receiver() as rx_missed:
        case = start_missed_case(rx_missed)
        try:
            run_main(t, rx, life)
        except Exception:  # noqa: BLE001 - reported, and the other case still ends
            t.ok(False, 'the main part raised', traceback.format_exc())
        finish_missed_case(t, case, rx_missed)


def run_main(t, rx, life):
    canary = Canary()
    hosts = '127.0.0.1:%d,127.0.0.1:%d' % (rx.port, life.port)
    with Nats() as nats, Issuer() as idp:
        sp = Spaceport(nats_url=nats.url, issuers=idp.url,
                       env={'SPACEPORT_WEBHOOK_HOSTS': hosts, 'SPACEPORT_LOG_LEVEL': 'info'})
        with sp, NatsClient(nats.url) as nc:
            c = {n: Client(sp, idp.token(n + '-sub', n, n.title(), roles=ADMIN))
                 for n in ('ann', 'bob', 'carl', 'dana')}
            ids = {n: c[n].me()['id'] for n in c}
            project = c['ann'].call('POST', '/graph/v1.0/drives', {'name': 'Lab'}).json()['id']
            r = c['ann'].call('POST', '/graph/v1beta1/drives/%s/root/invite' % project,
                              {'recipients': [{'objectId': ids['carl']}],
                               'roles': [SPACE_VIEWER]})
            t.eq(r.status, 200, 'Carl is a member of the project')

            # --- the allowlist: a URL outside it is never contacted
            r = subscribe(c['ann'], 'drives/' + project,
                          'http://127.0.0.1:%d/hook' % canary.port)
            t.eq(r.status, 400, 'a notificationUrl outside SPACEPORT_WEBHOOK_HOSTS answers 400')
            time.sleep(0.5)
            t.eq(canary.connections, 0, 'and a canary listener there sees 0 connections')
            canary.close()

            # --- handshake and first notifications
            r = subscribe(c['ann'], 'drives/' + project, rx.url + '/ann', state='ann-state')
            t.eq(r.status, 201, 'Ann subscribes to her project')
            ann_sub = r.json().get('id')
            t.ok('/ann' in rx.validations, 'the receiver got the validation handshake')
            r = subscribe(c['bob'], 'me/drives', rx.url + '/bob')
            t.eq(r.status, 201, 'Bob subscribes to his list of drives')

            # --- latency: 100 changes, paced, from publication to receipt
            sent = {}
            for i in range(100):
                tag = 'lat-%d' % i
                sent[tag] = time.monotonic()
                publish(nc, change_event(project, tag, item='l%d' % i))
                time.sleep(0.01)
            t.ok(wait_until(lambda: len(rx.items('/ann')) >= 100, 30),
                 '100 paced changes reach the receiver')
            lat = [(at - sent[i['resourceData']['eTag']]) * 1000 for at, i in rx.notes('/ann')
                   if i['resourceData'].get('eTag') in sent]
            t.eq(len(lat), 100, 'each of them once')
            t.diag('storage change to webhook receipt: p50 %.1f ms, p99 %.1f ms (n=%d)' %
                   (percentile(lat, 50), percentile(lat, 99), len(lat)))
            first = rx.items('/ann')[0]
            t.ok(first['subscriptionId'] == ann_sub and first['clientState'] == 'ann-state' and
                 first['changeType'] == 'updated' and first['resource'] == 'drives/' + project
                 and first['tenantId'] == '' and 'subscriptionExpirationDateTime' in first,
                 'a notification in Graph\'s shape: subscriptionId, clientState, changeType, '
                 'resource, subscriptionExpirationDateTime, tenantId', first)
            rd = first['resourceData']
            t.ok(rd == {'@odata.type': '#microsoft.graph.drive',
                        '@odata.id': 'drives/' + project, 'id': project, 'eTag': 'lat-0'},
                 'resourceData: @odata.type, @odata.id, id and the drive\'s eTag', rd)

            # --- 1,000 changes; the receiver is down, then failing, then back
            tags = ['bulk-%d' % i for i in range(1000)]
            pub = threading.Thread(target=lambda: [
                publish(nc, change_event(project, tag, item='b%d' % (n % 50)))
                for n, tag in enumerate(tags)])
            pub.start()
            wait_until(lambda: len(rx.items('/ann')) >= 400, 60)
            rx.stop()
            down_at = len(rx.items('/ann'))
            time.sleep(3)
            rx.failing = True
            rx.start()
            wait_until(lambda: rx.refused >= 2, 20)
            rx.failing = False
            pub.join()
            t.ok(down_at < 1100, 'the receiver went away in the middle (%d of 1100 in)' % down_at)
            t.ok(rx.refused >= 2, 'then answered 500 for a while (%d batches refused)' %
                 rx.refused)
            t.ok(wait_until(lambda: len(rx.items('/ann')) >= 1100, 90),
                 'all 1,000 changes arrive once it is back')
            items = rx.items('/ann')
            got = etags(items)
            t.eq(len(got), len(set(got)), 'none twice (%d received)' % len(got))
            t.ok(got[100:] == tags, 'none lost, in the order they were made',
                 first_difference(got[100:], tags))
            seqs = [i['sequenceNumber'] for i in items]
            t.ok(all(a < b for a, b in zip(seqs, seqs[1:])),
                 'sequence numbers increase strictly')
            t.ok(metric(sp, 'spaceport_webhook_deliveries_total{outcome="failed"}') > 0 and
                 metric(sp, 'spaceport_webhook_notifications_total') >= 1100,
                 '/metrics counts failed deliveries and notifications sent')
            t.ok(wait_until(lambda: metric(sp, 'spaceport_webhook_queue') == 0, 5),
                 'and the queue is empty again')

            # --- me/drives: only what Bob's own stream shows
            t.eq(rx.items('/bob'), [], 'Bob (not a member) was told nothing of Ann\'s 1,100 '
                 'changes')
            r = c['ann'].call('POST', '/graph/v1beta1/drives/%s/root/invite' % project,
                              {'recipients': [{'objectId': ids['bob']}],
                               'roles': [SPACE_VIEWER]})
            publish(nc, change_event(project, 'bob-sees'))
            t.ok(wait_until(lambda: len(rx.items('/bob')) >= 2, 10),
                 'once invited, Bob is told')
            bob = rx.items('/bob')
            t.ok(bob[0]['changeType'] == 'created' and bob[0]['resourceData']['id'] == project
                 and bob[1]['changeType'] == 'updated' and
                 bob[1]['resourceData']['eTag'] == 'bob-sees',
                 'the drive appears in his list (created), then changes (updated)', bob)
            t.ok('clientState' not in bob[0], 'no clientState when none was given')

            # --- a share received: notifications name the grantee's own drive
            r = subscribe(c['dana'], 'me/drives', rx.url + '/dana')
            t.eq(r.status, 201, 'Dana (no member of the project) subscribes to her list')
            item = project + '!doc'
            r = c['ann'].call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (
                project, quote(item, safe='')),
                {'recipients': [{'objectId': ids['dana']}], 'roles': [VIEWER]})
            t.eq(r.status, 200, 'Ann shares an item of the project with Dana')
            mounts = [d['id'] for d in c['dana'].get('/graph/v1.0/me/drives').json()['value']
                      if d.get('driveType') == 'mountpoint']
            t.eq(len(mounts), 1, 'Dana\'s list has the mountpoint')
            mount = mounts[0] if mounts else ''
            r = subscribe(c['dana'], 'drives/' + mount, rx.url + '/dana-mount')
            t.eq(r.status, 201, 'Dana subscribes to the mountpoint itself')
            publish(nc, change_event(project, 'dana-sees', item='doc'))
            t.ok(wait_until(lambda: 'dana-sees' in etags(rx.items('/dana')) and
                            'dana-sees' in etags(rx.items('/dana-mount')), 10),
                 'a change of the shared drive reaches both of her subscriptions')
            dana = rx.items('/dana')
            t.ok(dana and all(n['resource'] == 'drives/' + mount and
                              n['resourceData']['id'] == mount for n in dana) and
                 dana[0]['changeType'] == 'created',
                 'me/drives names her mountpoint (created, then updated), never the project '
                 'she cannot read', [(n['changeType'], n['resource']) for n in dana])
            dana_mount = rx.items('/dana-mount')
            t.ok(dana_mount and all(n['resource'] == 'drives/' + mount for n in dana_mount),
                 'the mountpoint\'s subscription is told of the shared drive\'s change, as '
                 'drives/<mountpoint>', [n['resource'] for n in dana_mount])
            t.eq(c['dana'].get('/graph/v1.0/drives/' + mount).status, 200,
                 'and the resource named is one she can GET')

            # --- losing access ends the subscription with a lifecycle note
            r = subscribe(c['carl'], 'drives/' + project, rx.url + '/carl',
                          lifecycle=life.url + '/carl-life', state='carl-state')
            t.eq(r.status, 201, 'Carl subscribes with a lifecycleNotificationUrl')
            carl_sub = r.json().get('id')
            t.ok('/carl-life' in life.validations, 'the lifecycle URL is validated too')
            publish(nc, change_event(project, 'carl-sees'))
            t.ok(wait_until(lambda: 'carl-sees' in etags(rx.items('/carl')), 10),
                 'Carl is told while he is a member')
            perms = c['ann'].get('/graph/v1beta1/drives/%s/root/permissions' % project).json()
            carl_perm = [p['id'] for p in perms['value']
                         if p.get('grantedToV2', {}).get('user', {}).get('id') == ids['carl']]
            r = c['ann'].call('DELETE', '/graph/v1beta1/drives/%s/root/permissions/%s' %
                              (project, carl_perm[0]))
            t.eq(r.status, 204, 'Ann removes Carl from the project')
            t.ok(wait_until(lambda: life.items('/carl-life'), 10),
                 'a lifecycle notification reaches the lifecycle URL')
            note = life.items('/carl-life')
            t.ok(len(note) == 1 and note[0]['lifecycleEvent'] == 'subscriptionRemoved' and
                 note[0]['subscriptionId'] == carl_sub and
                 note[0]['clientState'] == 'carl-state' and
                 note[0]['resource'] == 'drives/' + project,
                 'subscriptionRemoved with its subscription, clientState and resource', note)
            before = len(rx.items('/carl'))
            for i in range(3):
                publish(nc, change_event(project, 'after-carl-%d' % i))
            wait_until(lambda: 'after-carl-2' in etags(rx.items('/ann')), 10)
            time.sleep(1)
            t.eq(len(rx.items('/carl')), before, 'nothing more is delivered to Carl')
            t.eq(c['carl'].get('/graph/v1.0/subscriptions/' + carl_sub).status, 404,
                 'the subscription is gone')
            t.eq(metric(sp, 'spaceport_webhook_subscriptions_ended_total{reason="accessLost"}'),
                 1.0, '/metrics counts it')

            # --- expiry ends a subscription silently
            r = subscribe(c['ann'], 'drives/' + project, rx.url + '/short',
                          lifecycle=life.url + '/short-life', seconds=4)
            t.eq(r.status, 201, 'a subscription that expires in 4 s')
            short = r.json().get('id')
            publish(nc, change_event(project, 'short-sees'))
            t.ok(wait_until(lambda: 'short-sees' in etags(rx.items('/short')), 10),
                 'it is told before it expires')
            wait_until(lambda: c['ann'].get('/graph/v1.0/subscriptions/' + short).status == 404,
                       10)
            publish(nc, change_event(project, 'after-expiry'))
            wait_until(lambda: 'after-expiry' in etags(rx.items('/ann')), 10)
            time.sleep(1)
            t.eq(etags(rx.items('/short')), ['short-sees'], 'nothing after it expired')
            t.eq(life.items('/short-life'), [], 'and no lifecycle notification (Graph deletes '
                 'expired subscriptions silently)')
            t.eq(metric(sp, 'spaceport_webhook_subscriptions_ended_total{reason="expired"}'),
                 1.0, '/metrics counts it as expired')

            # --- a restart in the middle loses nothing (the cursor is durable)
            before = len(rx.items('/ann'))
            tags = ['restart-%d' % i for i in range(300)]
            for tag in tags[:200]:
                publish(nc, change_event(project, tag))
            wait_until(lambda: len(rx.items('/ann')) >= before + 50, 20)
            t.eq(sp.stop(), 0, 'spaceport stops in the middle of the stream')
            for tag in tags[200:]:
                publish(nc, change_event(project, tag))
            sp.start()
            t.ok(wait_until(lambda: set(tags) <= set(etags(rx.items('/ann'))), 60),
                 'after the restart every change arrives')
            got = [e for e in etags(rx.items('/ann')) if e in set(tags)]
            first_seen = list(dict.fromkeys(got))
            t.ok(first_seen == tags, 'in order', first_difference(first_seen, tags))
            t.diag('%d repeated across the restart (at least once allows it)' %
                   (len(got) - len(first_seen)))
            t.eq(c['ann'].get('/graph/v1.0/subscriptions/' + ann_sub).status, 200,
                 'Ann\'s subscription lives on')
            t.eq(sp.stop(), 0, 'spaceport exits cleanly (sanitizers find nothing in a build '
                 'with them)')


if __name__ == '__main__':
    TAP().run(main)
