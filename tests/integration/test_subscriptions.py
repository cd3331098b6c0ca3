#!/usr/bin/python3
"""Subscriptions in Microsoft Graph's shape, against the real program: the
attacks a webhook API invites, each tried.

- The validation handshake: the receiver gets POST ?validationToken=...
  (text/plain, empty body) and must echo it; a wrong echo, an error, a
  redirect (never followed: a canary behind it sees nothing) or a receiver
  slower than 10 s is a 400 and stores nothing. A slow receiver holds no
  HTTP worker: with every worker's worth of handshakes waiting, other
  requests are answered at once, and one handshake too many at a host is
  503 with Retry-After.
- Outbound URLs: a notificationUrl outside SPACEPORT_WEBHOOK_HOSTS and
  SPACEPORT_TRUSTED_INSTANCES is 400 and a canary listener counts 0
  connections; plain http only to loopback; a listed name that resolves to
  loopback (this machine's host name, when /etc/hosts maps it so) is
  refused when connecting, with 0 connections too.
- Bounds: expirationDateTime in the future and at most 4320 minutes ahead,
  clientState at most 128 characters, changeType values, resource forms,
  bad JSON, an oversized body, 100 subscriptions per user (403 past it).
- Others' things: Bob cannot subscribe to Alice's drive (404, like GET),
  nor GET, PATCH or DELETE her subscription (404); she still has it. A
  viewer of a project may subscribe to it until it is disabled; then only
  its Manager may, as GET drives/{id} answers.
- List, renew (PATCH expirationDateTime only), delete (204), each write
  with its spaceport.subscription.* event in the log (valid against
  schema/events/subscription.json) and on the owner's change stream."""
import json
import os
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jsonschema
import yaml  # python3-yaml

from openapi import Judge
from harness import SOURCE_ROOT, TAP, Canary, Client, Issuer, Nats, Spaceport, wait_until
from sse import Stream

SUBS = '/graph/v1.0/subscriptions'
MINUTE = 60
SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'
# Answers to judge against schema/openapi.yaml at the end: (method, path, response).
ANSWERS = []


def rfc3339(seconds_ahead):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(int(time.time()) + seconds_ahead))


class Receiver:
    """A webhook receiver on loopback. The path picks its behaviour: /echo
    echoes the validation token (text/plain), /echo-nl with a newline,
    /wrong answers another token, /fail answers 500, /slow waits 12 s
    before echoing, /redirect answers 307 to redirect_to. Every request
    is recorded as (path, query, content type, body)."""

    def __init__(self, redirect_to='http://127.0.0.1:1/'):
        self.requests = []
        self.lock = threading.Lock()
        self.redirect_to = redirect_to
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def do_POST(self):
                u = urllib.parse.urlsplit(self.path)
                q = urllib.parse.parse_qs(u.query)
                n = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(n) if n else b''
                with receiver.lock:
                    receiver.requests.append((u.path, q, self.headers.get('Content-Type'), body))
                token = q.get('validationToken', [''])[0]
                status, answer, headers = 200, token.encode(), {'Content-Type': 'text/plain'}
                if u.path.endswith('/echo-nl'):
                    answer += b'\n'
                elif u.path.endswith('/wrong'):
                    answer = b'not-' + answer
                elif u.path.endswith('/fail'):
                    status = 500
                elif u.path.endswith('/slow'):
                    time.sleep(12)
                elif u.path.endswith('/redirect'):
                    status, answer = 307, b''
                    headers['Location'] = receiver.redirect_to + '?validationToken=' + token
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header('Content-Length', str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path, host='127.0.0.1'):
        return 'http://%s:%d%s' % (host, self.port, path)

    def seen(self, path):
        with self.lock:
            return [r for r in self.requests if r[0] == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def loopback_hostname():
    """This machine's host name when it resolves to IPv4 loopback only, else None."""
    name = socket.gethostname()
    if not name or name == 'localhost':
        return None
    try:
        addrs = {a[4][0] for a in socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)}
    except OSError:
        return None
    return name if addrs and all(a.startswith('127.') for a in addrs) else None


def raw(port, data):
    """Sends data on a new connection and returns what comes back first."""
    with socket.create_connection(('127.0.0.1', port), timeout=5) as c:
        c.sendall(data)
        try:
            return c.recv(4096)
        except OSError:
            return b''


def call(client, method, path, body=None):
    """client.call, keeping the answer for the contract check."""
    r = client.call(method, path, body)
    ANSWERS.append((method, path, r))
    return r


def subscribe(client, notification_url, resource='me/drives', change='created,updated,deleted',
              expires=3 * 24 * 60 * MINUTE - MINUTE, **extra):
    body = {'changeType': change, 'notificationUrl': notification_url, 'resource': resource,
            'expirationDateTime': rfc3339(expires) if isinstance(expires, int) else expires}
    body.update(extra)
    return call(client, 'POST', SUBS, body)


def count_subs(client):
    r = client.get(SUBS)
    return len(r.json()['value']) if r.status == 200 else -1


def check_handshake(t, rcv, alice, canary):
    before = count_subs(alice)
    r = subscribe(alice, rcv.url('/hs/echo'), clientState='secret-1')
    t.eq(r.status, 201, 'a receiver that echoes the token: 201')
    got = rcv.seen('/hs/echo')
    t.eq(len(got), 1, 'it got one validation request')
    if got:
        _, q, ctype, body = got[0]
        token = q.get('validationToken', [''])[0]
        t.ok(len(token) >= 32, 'with a random validationToken in the query', q)
        t.ok((ctype or '').startswith('text/plain') and body == b'',
             'POSTed as text/plain with an empty body', (ctype, body))
    sub = r.json()
    t.ok(sub.get('id') and sub.get('resource') == 'me/drives' and
         sub.get('changeType') == 'created,updated,deleted' and
         sub.get('notificationUrl') == rcv.url('/hs/echo') and
         sub.get('clientState') == 'secret-1' and sub.get('includeResourceData') is False and
         sub.get('latestSupportedTlsVersion') == 'v1_2' and
         sub.get('creatorId') == alice.me()['id'] and 'lifecycleNotificationUrl' in sub,
         "the answer is Graph's subscription resource", sub)
    t.ok(r.headers.get('location', '').endswith(SUBS + '/' + sub.get('id', '?')),
         'Location names it', r.headers)
    t.eq(subscribe(alice, rcv.url('/hs/echo-nl')).status, 201,
         'an echo with a trailing newline is accepted')
    tokens = [x[1].get('validationToken', [''])[0] for x in rcv.requests]
    t.eq(len(set(tokens)), len(tokens), 'every handshake has its own token')

    for path, why in (('/hs/wrong', 'a wrong echo'), ('/hs/fail', 'a 500')):
        r = subscribe(alice, rcv.url(path))
        t.ok(r.status == 400 and r.json()['error']['code'] == 'invalidRequest' and
             'notificationUrl' in r.json()['error']['message'],
             '%s: 400 invalidRequest naming the notificationUrl' % why, r.body)
    rcv.redirect_to = 'http://127.0.0.1:%d/' % canary.port
    r = subscribe(alice, rcv.url('/hs/redirect'))
    t.eq(r.status, 400, 'a redirect is not followed: 400')
    r = subscribe(alice, rcv.url('/hs/echo'), lifecycleNotificationUrl=rcv.url('/hs/life/wrong'))
    t.ok(r.status == 400 and 'lifecycleNotificationUrl' in r.json()['error']['message'],
         'the lifecycleNotificationUrl is validated too, and must echo', r.body)
    r = subscribe(alice, rcv.url('/hs/echo'), lifecycleNotificationUrl=rcv.url('/hs/life/echo'))
    t.ok(r.status == 201 and r.json()['lifecycleNotificationUrl'] == rcv.url('/hs/life/echo') and
         len(rcv.seen('/hs/life/echo')) == 1, 'both echo: 201, both were asked', r.body)
    t.eq(count_subs(alice), before + 3, 'only the validated subscriptions exist')


def check_slow(t, sp, rcv, alice, cpus):
    """Slow receivers: 400 after about 10 s, no worker held meanwhile."""
    results = []

    def slow(host):
        body = {'changeType': 'updated', 'notificationUrl': rcv.url('/slow/slow', host=host),
                'resource': 'me/drives', 'expirationDateTime': rfc3339(3600)}
        start = time.monotonic()
        r = sp.request('POST', SUBS, body, {'Authorization': 'Bearer ' + alice.token},
                       timeout=30)
        results.append((r.status, round(time.monotonic() - start, 2), host))

    # Four handshakes at each of two destinations: as many as the HTTP
    # workers of a 2-core machine (4 per core).
    threads = [threading.Thread(target=slow, args=(h,)) for h in ['127.0.0.1'] * 4 +
               ['localhost'] * 4]
    for th in threads:
        th.start()
    wait_until(lambda: len(rcv.seen('/slow/slow')) >= 8, 5)
    t.eq(len(rcv.seen('/slow/slow')), 8, 'eight slow handshakes are waiting at the receiver')
    r = subscribe(alice, rcv.url('/slow/slow'))
    t.ok(r.status == 503 and r.headers.get('retry-after'),
         'a fifth at the same host: 503 with Retry-After', (r.status, r.body))
    quick = []
    for _ in range(20):
        start = time.monotonic()
        ok = alice.get('/graph/v1.0/me').status == 200
        quick.append((ok, time.monotonic() - start))
    t.ok(all(ok for ok, _ in quick) and max(d for _, d in quick) < 1.0,
         'meanwhile other requests are answered at once (%d workers on %d cores)' %
         (4 * cpus, cpus), quick)
    for th in threads:
        th.join(30)
    t.ok(len(results) == 8 and all(s == 400 and 9.0 <= d <= 14.0 for s, d, _ in results),
         'each slow handshake is refused with 400 after about 10 s', results)


def check_allowlist(t, rcv, alice, canary, hostname):
    before = count_subs(alice)
    for url, why in (('http://127.0.0.1:%d/hook' % canary.port, 'a loopback port not listed'),
                     ('http://localhost:%d/hook' % canary.port, 'localhost, port not listed'),
                     ('https://evil.test/hook', 'a host not listed'),
                     ('https://hooks.example.test.evil.test/h', 'a look-alike name'),
                     ('https://user@hooks.example.test/h', 'user-info'),
                     ('https://hooks.example.test/h#x', 'a fragment'),
                     ('ftp://hooks.example.test/h', 'another scheme')):
        r = subscribe(alice, url)
        t.ok(r.status == 400 and r.json()['error']['code'] == 'invalidRequest',
             'notificationUrl %s: 400' % why, r.body)
    r = subscribe(alice, 'http://hooks.example.test/h')
    t.ok(r.status == 400 and 'https' in r.json()['error']['message'],
         'plain http to a listed host that is not loopback: 400, https required', r.body)
    r = subscribe(alice, rcv.url('/hs/echo'),
                  lifecycleNotificationUrl='http://127.0.0.1:%d/l' % canary.port)
    t.eq(r.status, 400, 'a lifecycleNotificationUrl outside the list: 400')
    if hostname:
        r = subscribe(alice, 'https://%s:%d/hook' % (hostname, canary.port))
        t.ok(r.status == 400 and 'address' in r.json()['error']['message'],
             'a listed name (%s) that resolves to loopback: 400 when connecting' % hostname,
             r.body)
    else:
        t.ok(True, '# SKIP the host name does not resolve to loopback here')
    time.sleep(0.3)
    t.eq(canary.connections, 0, 'the canary listener saw 0 connections')
    t.eq(count_subs(alice), before, 'and nothing was stored')


def check_bounds(t, sp, rcv, alice, my_drive):
    url = rcv.url('/hs/echo')
    cases = [
        ({'expires': -MINUTE}, 'expirationDateTime in the past'),
        ({'expires': 3 * 24 * 60 * MINUTE + 5 * MINUTE}, 'expirationDateTime past 4320 minutes'),
        ({'expires': 'tomorrow'}, 'expirationDateTime not RFC 3339'),
        ({'expires': None}, 'no expirationDateTime'),
        ({'clientState': 'x' * 129}, 'clientState of 129 characters'),
        ({'clientState': 7}, 'clientState not a string'),
        ({'change': ''}, 'changeType empty'),
        ({'change': 'created,bogus'}, 'changeType with an unknown value'),
        ({'change': 'created,'}, 'changeType with an empty value'),
        ({'change': None}, 'no changeType'),
        ({'resource': 'drives/'}, 'resource drives/ without an id'),
        ({'resource': 'users/x'}, 'resource users/x'),
        ({'resource': 'drives/a/b'}, 'resource drives/a/b'),
        ({'resource': 'me/drive/root'}, 'resource me/drive/root'),
        ({'includeResourceData': True}, 'includeResourceData true'),
    ]
    for args, why in cases:
        body = {'changeType': args.get('change', 'updated'), 'notificationUrl': url,
                'resource': args.get('resource', 'me/drives')}
        e = args.get('expires', 24 * 60 * MINUTE)
        if e is not None:
            body['expirationDateTime'] = rfc3339(e) if isinstance(e, int) else e
        if body['changeType'] is None:
            del body['changeType']
        for k in ('clientState', 'includeResourceData'):
            if k in args:
                body[k] = args[k]
        r = alice.call('POST', SUBS, body)
        t.ok(r.status == 400 and r.json()['error']['code'] == 'invalidRequest',
             '%s: 400' % why, (r.status, r.body))
    r = subscribe(alice, url, clientState='é' * 128, change='updated')
    t.ok(r.status == 201 and r.json()['clientState'] == 'é' * 128 and
         r.json()['changeType'] == 'updated',
         'clientState of 128 (two-byte) characters and one changeType: 201', r.body)
    for res, want in (('/me/drives', 'me/drives'), ('drives/' + my_drive, 'drives/' + my_drive),
                      ('/drives/' + my_drive, 'drives/' + my_drive)):
        r = subscribe(alice, url, resource=res, change='deleted,created')
        t.ok(r.status == 201 and r.json()['resource'] == want and
             r.json()['changeType'] == 'created,deleted',
             'resource %s: 201 as %s' % (res, want), r.body)
    r = alice.call('POST', SUBS, '{"changeType": "updated",', {'Content-Type': 'application/json'})
    t.eq(r.status, 400, 'bad JSON: 400')
    r = alice.call('POST', SUBS, '{"changeType": "updated", "changeType": "created"}',
                   {'Content-Type': 'application/json'})
    t.eq(r.status, 400, 'duplicate members: 400')
    out = raw(sp.port, ('POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n'
                        'Content-Type: application/json\r\nContent-Length: 2097152\r\n\r\n' %
                        (SUBS, alice.token)).encode())
    t.ok(out.startswith(b'HTTP/1.1 413'), 'a body announced as 2 MiB: 413', out[:200])
    r = sp.request('POST', SUBS, {'changeType': 'updated'})
    t.eq(r.status, 401, 'no token: 401')
    t.eq(sp.request('GET', SUBS).status, 401, 'listing without a token: 401')


def check_others(t, rcv, alice, bob, alice_drive, erin):
    url = rcv.url('/hs/echo')
    calls = len(rcv.requests)
    r = subscribe(bob, url, resource='drives/' + alice_drive)
    t.eq(r.status, 404, "Bob subscribing to Alice's drive: 404")
    r = subscribe(bob, url, resource='drives/no-such-drive')
    t.eq(r.status, 404, 'an unknown drive: 404')
    t.eq(len(rcv.requests), calls, 'neither got as far as a handshake')
    r = subscribe(alice, url, resource='drives/' + alice_drive)
    t.eq(r.status, 201, 'Alice subscribes to her drive')
    sid = r.json()['id']
    path = SUBS + '/' + sid
    t.eq(call(bob, 'GET', path).status, 404, "Bob GETs Alice's subscription: 404")
    t.eq(call(bob, 'PATCH', path, {'expirationDateTime': rfc3339(2 * 24 * 3600)}).status, 404,
         'Bob renews it: 404')
    t.eq(call(bob, 'DELETE', path).status, 404, 'Bob deletes it: 404')
    t.ok(sid not in [s['id'] for s in call(bob, 'GET', SUBS).json()['value']],
         "Bob's list does not show it")
    got = call(alice, 'GET', path)
    t.ok(got.status == 200 and got.json()['expirationDateTime'] == r.json()['expirationDateTime'],
         'Alice still has it, unchanged', got.body)

    # A member may subscribe to a project; once it is disabled, only its
    # Manager still reaches it (as GET drives/{id} answers).
    project = erin.call('POST', '/graph/v1.0/drives', {'name': 'Orca'}).json()['id']
    r = erin.call('POST', '/graph/v1beta1/drives/%s/root/invite' % project,
                  {'recipients': [{'objectId': bob.me()['id']}], 'roles': [SPACE_VIEWER]})
    t.eq(r.status, 200, 'Erin makes Bob a viewer of her project')
    t.eq(subscribe(bob, url, resource='drives/' + project).status, 201,
         'Bob subscribes to the project')
    t.eq(erin.call('DELETE', '/graph/v1.0/drives/' + project).status, 204,
         'Erin disables the project')
    t.eq(subscribe(bob, url, resource='drives/' + project).status, 404,
         'Bob subscribing to the disabled project: 404')
    t.eq(subscribe(erin, url, resource='drives/' + project).status, 201,
         'its Manager still may')


def check_lifecycle(t, sp, rcv, alice, stream):
    url = rcv.url('/hs/echo')
    r = subscribe(alice, url, expires=24 * 3600, clientState='c1')
    t.eq(r.status, 201, 'Alice subscribes')
    sub = r.json()
    path = SUBS + '/' + sub['id']
    listed = call(alice, 'GET', SUBS)
    t.ok(listed.status == 200 and sub['id'] in [s['id'] for s in listed.json()['value']],
         'her list shows it')
    new = rfc3339(2 * 24 * 3600)
    r = call(alice, 'PATCH', path, {'expirationDateTime': new})
    t.ok(r.status == 200 and r.json()['expirationDateTime'].startswith(new[:19]) and
         r.json()['clientState'] == 'c1', 'PATCH renews it to %s' % new, r.body)
    t.ok(call(alice, 'GET', path).json()['expirationDateTime'].startswith(new[:19]),
         'GET shows the renewal')
    r = call(alice, 'PATCH', path, {'expirationDateTime': rfc3339(4 * 24 * 3600)})
    t.eq(r.status, 400, 'renewing past 4320 minutes: 400')
    r = call(alice, 'PATCH', path, {'notificationUrl': rcv.url('/hs/other/echo')})
    t.eq(r.status, 400, 'PATCH of notificationUrl: 400 (only expirationDateTime changes)')
    r = call(alice, 'PATCH', path, {'expirationDateTime': new, 'clientState': 'c2'})
    t.eq(r.status, 400, 'PATCH of clientState along with a renewal: 400')
    t.eq(call(alice, 'GET', path).json()['clientState'], 'c1', 'clientState unchanged')
    t.eq(call(alice, 'DELETE', path).status, 204, 'DELETE: 204')
    t.eq(call(alice, 'GET', path).status, 404, 'then GET: 404')
    t.eq(call(alice, 'DELETE', path).status, 404, 'DELETE again: 404')
    t.eq(call(alice, 'PATCH', path, {'expirationDateTime': new}).status, 404, 'PATCH: 404')

    rows = sp.db_rows("SELECT type, subject, data FROM events WHERE subject = ? ORDER BY seq",
                  (sub['id'],))
    t.eq([x[0] for x in rows], ['spaceport.subscription.created', 'spaceport.subscription.updated',
                                'spaceport.subscription.deleted'],
         'each write wrote its event, in order')
    with open(os.path.join(SOURCE_ROOT, 'schema', 'events', 'subscription.json')) as f:
        schema = json.load(f)
    bad = []
    for typ, _, data in rows:
        try:
            jsonschema.validate(json.loads(data), schema)
        except jsonschema.ValidationError as e:
            bad.append((typ, e.message))
    t.eq(bad, [], 'the events are valid against schema/events/subscription.json')
    datas = [json.loads(x[2]) for x in rows]
    t.ok(datas and datas[-1].get('reason') == 'deleted' and
         datas[1]['expirationDateTime'].startswith(new[:19]) and
         all(d['subscriptionId'] == sub['id'] and d['resource'] == 'me/drives' for d in datas),
         'they name the subscription, the renewal and the deletion', datas)
    rcpt = sp.db_rows('SELECT u.id FROM events e JOIN event_recipients r ON r.event_seq = e.seq'
                  ' JOIN users u ON u.seq = r.user_seq WHERE e.subject = ?', (sub['id'],))
    t.eq({x[0] for x in rcpt}, {alice.me()['id']}, 'Alice, and only she, is their recipient')
    want = ['subscription-created', 'subscription-updated', 'subscription-deleted']
    seen = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(seen) < 3:
        e = stream.next(timeout=0.5)
        if e and (e.get('json') or {}).get('subscriptionId') == sub['id']:
            seen.append(e.get('event'))
    t.eq(seen, want, 'her change stream carries the three')


def check_limit(t, rcv, carol):
    url = rcv.url('/hs/echo')
    statuses = [subscribe(carol, url).status for _ in range(100)]
    t.eq(statuses.count(201), 100, 'Carol makes 100 subscriptions')
    r = subscribe(carol, url)
    t.ok(r.status == 403 and r.json()['error']['code'] == 'quotaLimitReached',
         'the 101st: 403 quotaLimitReached', r.body)
    first = carol.get(SUBS).json()['value'][0]['id']
    t.eq(carol.call('DELETE', SUBS + '/' + first).status, 204, 'she deletes one')
    t.eq(subscribe(carol, url).status, 201, 'then she may make another')


def main(t):
    rcv = Receiver()
    canary = Canary()
    hostname = loopback_hostname()
    hosts = ['127.0.0.1:%d' % rcv.port, 'localhost:%d' % rcv.port, 'hooks.example.test']
    if hostname:
        hosts.append('%s:%d' % (hostname, canary.port))
    with Issuer() as idp, Nats() as nats, \
            Spaceport(nats.url, issuers=idp.url,
                      env={'SPACEPORT_WEBHOOK_HOSTS': ','.join(hosts)}) as sp:
        alice = Client(sp, idp.token('alice'))
        bob = Client(sp, idp.token('bob'))
        carol = Client(sp, idp.token('carol'))
        erin = Client(sp, idp.token('erin', roles=['spaceport-spaceadmin']))
        alice_drive = [d for d in alice.get('/graph/v1.0/me/drives').json()['value']
                       if d['driveType'] == 'personal'][0]['id']
        bob.me()
        stream = Stream(sp.port, alice.token)
        t.eq(stream.status, 200, "Alice follows her change stream")
        check_handshake(t, rcv, alice, canary)
        check_allowlist(t, rcv, alice, canary, hostname)
        check_bounds(t, sp, rcv, alice, alice_drive)
        check_others(t, rcv, alice, bob, alice_drive, erin)
        check_lifecycle(t, sp, rcv, alice, stream)
        check_limit(t, rcv, carol)
        check_slow(t, sp, rcv, alice, os.cpu_count() or 1)
        t.eq(canary.connections, 0, 'the canary saw 0 connections in the whole run')
        with open(os.path.join(SOURCE_ROOT, 'schema', 'openapi.yaml')) as f:
            judge = Judge(yaml.safe_load(f))
        problems = ['%s %s %d: %s' % (m, p, r.status, judge.check(m, p, r))
                    for m, p, r in ANSWERS if judge.check(m, p, r)]
        t.ok(len(ANSWERS) > 40 and not problems,
             'the %d answers kept are as schema/openapi.yaml documents them' % len(ANSWERS),
             problems)
    rcv.close()
    canary.close()


if __name__ == '__main__':
    TAP().run(main)
