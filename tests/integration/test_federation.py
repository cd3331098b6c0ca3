#!/usr/bin/python3
"""Federation end to end: two Spaceport instances ("zurich" and "paris") on
loopback, each with its own nats-server and identity provider, trusting
each other's instance and provider.

Several issuers (same sub at two issuers = two users), WebFinger, OCM
discovery, a remote space registered by URL (the lookup at the hosting
instance uses the user's own token), hostile URLs refused without a single
connection (a canary listener counts them), OCM shares and notifications
between the instances (signed with Zurich's own key, as Zurich signs), change
latency across instances, and the outbound
queue: a share to marie@paris.test announced to Paris, storage changes at
Zurich reaching Marie's change stream at Paris, Paris down while Einstein
shares, and revoking the share."""
import json
import os
import socket
import statistics
import threading
import time
import urllib.parse
import uuid

import jsonschema

from harness import (SOURCE_ROOT, TAP, Client, FakeServer, Issuer, Nats, Spaceport, free_port,
                     wait_until)
from natsclient import NatsClient
from ocmpeer import Key, sign
from sse import Stream

SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'
VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
REL_ISSUER = 'http://openid.net/specs/connect/1.0/issuer'
REL_REGISTRY = 'http://webfinger.spaceport/rel/registry'
REL_OC_INSTANCE = 'http://webfinger.owncloud/rel/server-instance'


class Canary:
    """A TCP listener on loopback addresses that counts connections and, if
    anything ever connects, answers with a redirect to target: the host a
    hostile URL names, which must never be contacted."""

    def __init__(self, hosts=('127.0.0.1', '127.0.0.2'), target='http://127.0.0.1:1/'):
        self.port = free_port()
        self.connections = 0
        self.target = target
        self.socks = []
        for h in hosts:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((h, self.port))
            s.listen(16)
            self.socks.append(s)
            threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, s):
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            self.connections += 1
            try:
                c.settimeout(1)
                c.recv(4096)
                c.sendall(('HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n'
                           'Connection: close\r\n\r\n' % self.target).encode())
            except OSError:
                pass
            c.close()

    def close(self):
        for s in self.socks:
            s.close()


class FakeInstance(FakeServer):
    """A trusted 'instance' that misbehaves: redirects to the canary, hangs,
    or answers too much. Counts requests."""

    def __init__(self, canary_url):
        self.requests = []
        self.canary_url = canary_url
        super().__init__(self._answer)

    def _answer(self, path):
        self.requests.append(path)
        if '/redirect' in path:
            return 302, b'', {'Location': self.canary_url + '/graph/v1.0/drives/x'}
        if '/hang' in path:
            time.sleep(8)
            return None
        if '/huge' in path:
            return 200, b'{"name":"' + b'x' * (2 * 1024 * 1024) + b'"}', {
                'Content-Type': 'application/json'}
        return 404, b'', {}


def schemas():
    d = os.path.join(SOURCE_ROOT, 'schema', 'events')
    return {n: json.load(open(os.path.join(d, n + '.json')))
            for n in ('cloudevent', 'remote', 'remote-changed')}


def events(sp, type_prefix):
    rows = sp.db_rows('SELECT type, subject, data FROM events WHERE type LIKE ? ORDER BY seq',
                      (type_prefix + '%',))
    return [(r[0], r[1], json.loads(r[2])) for r in rows]


def schema_errors(s, type_, data):
    name = 'remote-changed' if type_ == 'spaceport.remote.changed' else 'remote'
    return [e.message for e in jsonschema.Draft7Validator(s[name]).iter_errors(data)]


def register(client, url, name=None):
    body = {'driveType': 'mountpoint', 'root': {'remoteItem': {'webDavUrl': url}}}
    if name is not None:
        body['name'] = name
    return client.call('POST', '/graph/v1.0/me/drives', body)


def my_drives(client, query=''):
    return client.get('/graph/v1.0/me/drives' + query).json()['value']


def authority(sp):
    return sp.url.split('://', 1)[1]


def check_issuers(t, paris, idz, idp):
    a = Client(paris, idp.token('same-sub', 'sam', 'Sam Paris', email='sam@paris.test'))
    b = Client(paris, idz.token('same-sub', 'sam', 'Sam Zurich', email='sam@zurich.test'))
    ra, rb = a.get('/graph/v1.0/me'), b.get('/graph/v1.0/me')
    t.ok(ra.status == 200 and rb.status == 200,
         'paris accepts tokens of both trusted issuers', (ra.status, rb.status))
    t.ok(ra.json()['id'] != rb.json()['id'],
         'the same sub at two issuers is two different users', (ra.json(), rb.json()))
    t.ok(a.get('/graph/v1.0/me/drives').json()['value'][0]['id'] !=
         b.get('/graph/v1.0/me/drives').json()['value'][0]['id'],
         'each of them has an own personal drive')


def check_webfinger(t, paris, idp, marie_tok):
    def wf(resource, token=None, extra=''):
        q = '' if resource is None else '?resource=' + urllib.parse.quote(resource, safe='')
        return paris.get('/.well-known/webfinger' + q + extra, token=token)

    r = wf('acct:marie@paris.test')
    t.eq(r.status, 200, 'webfinger for acct:marie@paris.test: 200')
    t.ok(r.headers.get('content-type', '').startswith('application/jrd+json') and
         r.headers.get('access-control-allow-origin') == '*',
         'application/jrd+json with Access-Control-Allow-Origin: *', r.headers)
    doc = r.json()
    t.ok(doc.get('subject') == 'acct:marie@paris.test' and
         doc.get('links') == [{'rel': REL_ISSUER, 'href': idp.url}],
         'the subject and the issuer link of paris.test, no registry link without a token', doc)
    doc = wf('acct:marie@paris.test', marie_tok).json()
    t.ok({'rel': REL_REGISTRY, 'href': paris.url} in doc['links'] and
         {'rel': REL_ISSUER, 'href': idp.url} in doc['links'],
         'with a valid token also the registry link to this instance', doc)
    doc = wf('acct:marie@paris.test', 'not.a.token').json()
    t.ok(all(l['rel'] != REL_REGISTRY for l in doc['links']),
         'an invalid token gets no registry link (and no error)', doc)
    doc = wf('acct:marie@paris.test', marie_tok, '&rel=' + urllib.parse.quote(REL_ISSUER)).json()
    t.eq([l['rel'] for l in doc['links']], [REL_ISSUER], 'rel= selects links (RFC 7033 4.3)')
    t.eq(wf('acct:Marie@PARIS.Test').status, 200, 'the host is compared without case')
    doc = wf('acct:marie@paris.test', marie_tok).json()
    t.ok({'rel': REL_OC_INSTANCE, 'href': paris.url, 'titles': {'en': 'Spaceport'}} in
         doc['links'], 'with a valid token the ownCloud server-instance link, with titles', doc)
    doc = wf('acct:marie@paris.test').json()
    t.ok(all(l['rel'] != REL_OC_INSTANCE for l in doc['links']),
         'no server-instance link without a token', doc)
    both = '&rel=' + urllib.parse.quote(REL_ISSUER) + '&rel=' + urllib.parse.quote(
        REL_OC_INSTANCE)
    doc = wf('acct:marie@paris.test', marie_tok, both).json()
    t.eq([l['rel'] for l in doc['links']], [REL_ISSUER, REL_OC_INSTANCE],
         'two rel parameters: the links of both relations, and only those (RFC 7033 4.3)')
    doc = wf('acct:marie@paris.test', marie_tok, '&rel=' + urllib.parse.quote(
        REL_OC_INSTANCE)).json()
    t.eq([l['rel'] for l in doc['links']], [REL_OC_INSTANCE], 'rel=server-instance alone')
    doc = wf('acct:marie@paris.test', marie_tok, '&rel=http%3A%2F%2Fexample.test%2Fnone').json()
    t.eq(doc['links'], [], 'a rel no link has: no links')
    t.eq(wf('acct:marie@paris.test', None, '&rel=x' * 9).status, 400,
         'more than 8 rel parameters: 400')
    # ownCloud clients that know only the server's URL ask for it, without a token.
    for url in (paris.url, paris.url + '/', paris.url.replace('http://', 'HTTP://')):
        r = wf(url)
        t.ok(r.status == 200 and r.json() == {
            'subject': url, 'links': [{'rel': REL_ISSUER, 'href': idp.url}]},
             'resource=%s without a token: the issuer of the instance, nothing else' % url,
             r.body[:300])
    doc = wf(paris.url, marie_tok).json()
    t.ok([l['rel'] for l in doc['links']] == [REL_ISSUER, REL_OC_INSTANCE, REL_REGISTRY],
         'resource=the instance with a token: also the instance links', doc)
    for other in ('https://evil.test', paris.url + '/x', paris.url + '.evil.test',
                  paris.url.replace('http://', 'https://')):
        t.eq(wf(other).status, 404, 'resource=%s is not this instance: 404' % other)
    t.eq(wf('acct:marie@unknown.test').status, 404, 'an unknown domain is 404')
    t.eq(wf('acct:marie@zurich.test').status, 404,
         'a domain mapped only at the other instance is 404 here')
    t.eq(wf(None).status, 400, 'no resource: 400')
    for bad in ('', 'acct:', 'acct:marie', 'acct:@paris.test', 'acct:marie@',
                'mailto:marie@paris.test', 'acct:ma rie@paris.test', 'acct:marie@paris..test',
                'acct:marie@par/is.test', 'acct:' + 'm' * 400 + '@paris.test'):
        r = wf(bad)
        t.ok(r.status == 400 and r.headers.get('access-control-allow-origin') == '*',
             'malformed resource %r: 400 (with CORS)' % bad[:40], (r.status, r.body[:200]))
    r = paris.request('OPTIONS', '/.well-known/webfinger')
    t.ok(r.status == 204 and r.headers.get('access-control-allow-origin') == '*' and
         'Authorization' in r.headers.get('access-control-allow-headers', ''),
         'CORS preflight: 204 allowing the Authorization header', r.headers)


def check_discovery(t, paris):
    webdav = {'webdav': '/dav/spaces/'}
    for path in ('/.well-known/ocm', '/ocm-provider'):
        r = paris.get(path)
        d = r.json() if r.status == 200 else {}
        keys = d.get('publicKeys') or [{}]
        t.ok(r.status == 200 and r.headers.get('access-control-allow-origin') == '*' and
             d.get('enabled') is True and d.get('apiVersion') == '1.2.2' and
             d.get('endPoint') == paris.url + '/ocm' and d.get('provider') == 'Spaceport' and
             d.get('resourceTypes') == [
                 {'name': 'file', 'shareTypes': ['user'], 'protocols': webdav},
                 {'name': 'folder', 'shareTypes': ['user'], 'protocols': webdav}] and
             d.get('capabilities') == ['notifications', 'invites', 'http-sig', 'webdav-uri',
                                       'protocol-object'] and
             d.get('criteria') == [] and
             d.get('notificationTypes') == ['SHARE_ACCEPTED', 'SHARE_DECLINED', 'SHARE_UNSHARED',
                                            'SHARE_CHANGE_PERMISSION',
                                            'RESHARE_CHANGE_PERMISSION', 'RESOURCE_CHANGED'] and
             len(keys) == 1 and keys[0].get('keyId', '').startswith(paris.url + '/ocm#') and
             keys[0].get('algorithm') == 'ed25519' and
             d.get('publicKey') == {k: keys[0].get(k) for k in ('keyId', 'publicKeyPem')},
             'OCM discovery at %s: 1.2.2, file and folder, capabilities, keys' % path, d)
    r = paris.get('/.well-known/jwks.json')
    jwks = r.json().get('keys', []) if r.status == 200 else []
    t.ok(len(jwks) == 1 and jwks[0].get('kty') == 'OKP' and jwks[0].get('crv') == 'Ed25519' and
         jwks[0].get('kid') == keys[0].get('keyId') and jwks[0].get('alg') == 'EdDSA',
         'the same key as a JWKS at /.well-known/jwks.json', r.body[:300])


def check_remote_by_url(t, s, zurich, paris, nats_paris, ein_z, marie_z, marie_p, stranger_p):
    """Marie registers, at Paris, a project drive hosted at Zurich."""
    project = ein_z.call('POST', '/graph/v1.0/drives', {'name': 'Relativity'}).json()['id']
    r = ein_z.call('POST', '/graph/v1beta1/drives/%s/root/invite' % project,
                   {'recipients': [{'objectId': marie_z.me()['id']}], 'roles': [SPACE_VIEWER]})
    t.eq(r.status, 200, 'zurich: Einstein makes Marie (a user of the paris issuer) a member')
    url = zurich.url + '/dav/spaces/' + project + '/a/rel/path'
    with NatsClient(nats_paris.url) as nc:
        sub = nc.subscribe('spaceport.remote.>')
        r = register(marie_p, url, 'Relativity at Zurich')
        t.eq(r.status, 201, 'paris: Marie registers the Zurich drive by its webDavUrl: 201')
        d = r.json() if r.status == 201 else {}
        ri = d.get('root', {}).get('remoteItem', {})
        t.ok(d.get('driveType') == 'mountpoint' and d.get('name') == 'Relativity at Zurich' and
             ri == {'id': project, 'driveId': project, 'name': 'Relativity at Zurich',
                    'webDavUrl': url} and d.get('root', {}).get('webDavUrl') == url,
             'the answer is a mountpoint Drive whose root.remoteItem names the Zurich drive', d)
        t.eq(r.headers.get('location'), paris.url + '/graph/v1.0/drives/' + d.get('id', ''),
             'Location names the new drive')
        t.ok(d.get('root', {}).get('eTag', '').startswith('"'),
             'the eTag learned from Zurich is carried (quoted)', d.get('root'))
        msg = sub.get(timeout=5)
        ce = msg.json() if msg else {}
        t.ok(msg is not None and msg.subject == 'spaceport.remote.registered' and
             ce.get('subject') == d.get('id') and ce['data'].get('origin') == 'url' and
             not list(jsonschema.Draft7Validator(s['cloudevent']).iter_errors(ce)) and
             not schema_errors(s, ce['type'], ce['data']),
             'spaceport.remote.registered reaches the paris bus and matches remote.json', ce)
    remote_id = d.get('id')
    drives = my_drives(marie_p)
    t.ok(any(x['id'] == remote_id and x['driveType'] == 'mountpoint' for x in drives),
         'the remote space is in /me/drives', [x['id'] for x in drives])
    r = marie_p.get('/graph/v1.0/drives/' + str(remote_id))
    t.ok(r.status == 200 and r.json()['root']['remoteItem']['webDavUrl'] == url,
         'GET /graph/v1.0/drives/{id} answers the remote space')
    t.eq(stranger_p.get('/graph/v1.0/drives/' + str(remote_id)).status, 404,
         'another user does not see it (404)')
    flt = urllib.parse.quote("driveType eq 'mountpoint'")
    t.eq([x['id'] for x in my_drives(marie_p, '?$filter=' + flt)], [remote_id],
         "$filter=driveType eq 'mountpoint' finds it")
    # Keyset paging across personal drive and remote space, both orders.
    for order in ('name asc', 'name desc', 'lastModifiedDateTime desc'):
        seen, path = [], '/graph/v1.0/me/drives?$top=1&$orderby=' + urllib.parse.quote(order)
        for _ in range(5):
            page = marie_p.get(path).json()
            seen += [x['id'] for x in page['value']]
            nxt = page.get('@odata.nextLink')
            if not nxt:
                break
            path = nxt[len(paris.url):]
        t.ok(sorted(seen) == sorted(x['id'] for x in my_drives(marie_p)) and
             len(seen) == len(set(seen)) == 2,
             'paging $top=1 by %s visits personal drive and remote space once each' % order,
             seen)
    r = register(marie_p, url)
    t.eq(r.status, 409, 'registering the same webDavUrl again: 409')
    personal = ein_z.get('/graph/v1.0/me/drives').json()['value'][0]['id']
    r = register(marie_p, zurich.url + '/dav/spaces/' + personal)
    t.ok(r.status == 400 and 'no drive' in r.json()['error']['message'],
         'a Zurich drive Marie cannot reach: 400 naming the reason', r.body[:300])
    r = register(marie_p, zurich.url + '/dav/spaces/' + str(uuid.uuid4()))
    t.eq(r.status, 400, 'a drive id Zurich does not know: 400')
    return project, remote_id, url


def check_remote_delete(t, s, paris, marie_p, remote_id):
    r = marie_p.call('DELETE', '/graph/v1.0/drives/' + remote_id)
    t.eq(r.status, 204, 'DELETE /graph/v1.0/drives/{id} removes the remote space: 204')
    t.ok(all(x['id'] != remote_id for x in my_drives(marie_p)), 'it is gone from /me/drives')
    t.eq(marie_p.get('/graph/v1.0/drives/' + remote_id).status, 404, 'and GET is 404')
    ev = [e for e in events(paris, 'spaceport.remote.removed') if e[1] == remote_id]
    t.ok(len(ev) == 1 and ev[0][2]['reason'] == 'deleted' and
         not schema_errors(s, ev[0][0], ev[0][2]),
         'spaceport.remote.removed was written (reason deleted, remote.json)', ev)


def check_hostile(t, zurich, paris, marie_p, project, canary, fake):
    zport = zurich.port
    hostile = [
        'http://127.0.0.2:%d/dav/spaces/%s' % (canary.port, project),
        'http://127.0.0.2/dav/spaces/' + project,
        'https://trusted.example@127.0.0.1:%d/dav/spaces/%s' % (canary.port, project),
        'http://127.0.0.1:%d@127.0.0.1:%d/dav/spaces/%s' % (zport, canary.port, project),
        'https://0x7f000001:%d/dav/spaces/%s' % (canary.port, project),
        'http://2130706433:%d/dav/spaces/%s' % (canary.port, project),
        'file:///etc/passwd',
        'https://evil.example/dav/spaces/' + project,
        # an untrusted loopback host:port; it would answer with a redirect
        'http://127.0.0.1:%d/dav/spaces/%s' % (canary.port, project),
        'http://localhost:%d/dav/spaces/%s' % (canary.port, project),
        # the trusted instance's host with another port, or another name for it
        'http://localhost:%d/dav/spaces/%s' % (zport, project),
        'https://127.0.0.1:%d/dav/spaces/%s' % (zport, project),
        # trusted instance, but not a space URL, or escaping it
        zurich.url + '/graph/v1.0/drives/' + project,
        zurich.url + '/dav/spaces/',
        zurich.url + '/dav/spaces/%s/../../../graph' % project,
        zurich.url + '/dav/spaces/%s/a/%%2e%%2e/b' % project,
        zurich.url + '/dav/spaces/%s/a%%2fb' % project,
        zurich.url + '/dav/spaces/%s//x' % project,
        zurich.url + '/dav/spaces/..',
        zurich.url + '/dav/spaces/%s?x=1' % project,
        zurich.url + '/dav/spaces/%s#frag' % project,
        zurich.url + '.evil.example/dav/spaces/' + project,
        'http://[::1]:%d/dav/spaces/%s' % (canary.port, project),
        'ftp://127.0.0.1:%d/dav/spaces/%s' % (canary.port, project),
        'javascript:alert(1)',
        ' ' + zurich.url + '/dav/spaces/' + project,
    ]
    before = canary.connections
    time.sleep(0.3)  # Zurich counts a request when its reply is done: let the last one land
    zurich_requests = zurich_count(zurich)
    statuses = []
    for url in hostile:
        r = register(marie_p, url)
        statuses.append((url, r.status))
        t.ok(r.status == 400 and r.json()['error']['message'].startswith(
            'root.remoteItem.webDavUrl'), 'hostile URL %s: 400' % url, r.body[:300])
    for body in ({'driveType': 'mountpoint'},
                 {'driveType': 'mountpoint', 'root': {'remoteItem': {'webDavUrl': 7}}},
                 {'driveType': 'project', 'root': {'remoteItem': {
                     'webDavUrl': zurich.url + '/dav/spaces/' + project}}},
                 {'driveType': 'mountpoint', 'name': 'a\x01b', 'root': {'remoteItem': {
                     'webDavUrl': zurich.url + '/dav/spaces/' + project}}}):
        t.eq(marie_p.call('POST', '/graph/v1.0/me/drives', body).status, 400,
             'malformed registration %s: 400' % json.dumps(body)[:70])
    time.sleep(0.5)
    t.eq(canary.connections - before, 0,
         'the canary listener on 127.0.0.1 and 127.0.0.2 saw ZERO connections')
    t.eq(zurich_count(zurich) - zurich_requests, 0,
         'and Zurich itself was not asked for any of them')
    # A trusted instance that redirects: the redirect is not followed.
    n = len(fake.requests)
    r = register(marie_p, fake.url + '/dav/spaces/redirect')
    t.ok(r.status == 502 and 'redirect' in r.json()['error']['message'],
         'a trusted instance answering a redirect: 502, not followed', r.body[:300])
    t.ok(len(fake.requests) == n + 1 and canary.connections == before,
         'one request to the trusted instance, none to where it redirects')
    t0 = time.monotonic()
    r = register(marie_p, fake.url + '/dav/spaces/hang')
    took = time.monotonic() - t0
    t.ok(r.status == 502 and 4.5 <= took <= 7.5,
         'a trusted instance that hangs: 502 after the 5 s timeout (%.1f s)' % took, r.body[:200])
    r = register(marie_p, fake.url + '/dav/spaces/huge')
    t.ok(r.status == 502 and 'larger' in r.json()['error']['message'],
         'a trusted instance answering 2 MiB: 502 (1 MiB cap)', r.body[:200])
    t.eq(canary.connections - before, 0, 'the canary still saw zero connections')


def zurich_count(zurich):
    """Requests Zurich served to the drive-by-id route (its metrics)."""
    text = zurich.request('GET', '/metrics').body.decode()
    n = 0
    for line in text.splitlines():
        if line.startswith('spaceport_http_requests_total') and '/graph/v1.0/drives/{id}' in line:
            n += float(line.split()[-1])
    return n


def ocm_share(zurich, who, share_with, provider_id=None, secret=None, uri=None, **over):
    body = {
        'shareWith': share_with, 'name': 'Photons', 'description': '',
        'providerId': provider_id or str(uuid.uuid4()),
        'owner': 'einstein@' + authority(zurich), 'sender': who + '@' + authority(zurich),
        'ownerDisplayName': 'Albert Einstein', 'senderDisplayName': 'Albert Einstein',
        'shareType': 'user', 'resourceType': 'folder',
        'protocol': {'name': 'webdav', 'options': {},
                     'webdav': {'sharedSecret': secret or uuid.uuid4().hex + uuid.uuid4().hex,
                                'permissions': ['read'],
                                'uri': uri or zurich.url + '/dav/spaces/' + str(uuid.uuid4())}}}
    body.update(over)
    return body


def zurich_key(zurich):
    """Zurich's own signing key (DATA_DIR/instance-key.pem) under the keyId
    its discovery publishes: Python signs what Zurich would."""
    from cryptography.hazmat.primitives import serialization
    key = Key(zurich.get('/.well-known/ocm').json()['publicKeys'][0]['keyId'])
    with open(os.path.join(zurich.data_dir, 'instance-key.pem'), 'rb') as f:
        key.private = serialization.load_pem_private_key(f.read(), None)
    return key


def as_zurich(paris, key, path, body, signed=True):
    """POSTs body to paris as Zurich sends OCM requests: signed."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {'Content-Type': 'application/json'}
    if signed:
        headers.update(sign(key, 'POST', paris.url + path, raw))
    return paris.request('POST', path, raw, headers)


def notify(paris, key, kind, provider_id, secret, signed=True, **note):
    n = {'sharedSecret': secret}
    n.update(note)
    return as_zurich(paris, key, '/ocm/notifications', {
        'notificationType': kind, 'resourceType': 'folder', 'providerId': provider_id,
        'notification': n}, signed)


def check_ocm_incoming(t, s, zurich, paris, marie_p, marie_tok):
    key = zurich_key(zurich)
    stream = Stream(paris.port, marie_tok)
    t.eq(stream.status, 200, "Marie's change stream at Paris is open")
    body = ocm_share(zurich, 'einstein', 'marie@paris.test')
    pid, secret = body['providerId'], body['protocol']['webdav']['sharedSecret']
    r = as_zurich(paris, key, '/ocm/shares', body)
    t.ok(r.status == 201 and r.json() == {'recipientDisplayName': 'Marie'},
         'POST /ocm/shares from Zurich to marie@paris.test: 201 with recipientDisplayName',
         (r.status, r.body[:300]))
    mine = [d for d in my_drives(marie_p)
            if d['root'].get('webDavUrl') == body['protocol']['webdav']['uri']]
    t.ok(len(mine) == 1 and mine[0]['driveType'] == 'mountpoint' and mine[0]['name'] == 'Photons',
         'the share is a remote space in Marie\'s /me/drives', mine)
    remote_id = mine[0]['id'] if mine else ''
    e = stream.next(5)
    t.ok(e and e.get('event') == 'remote-registered' and e['json']['driveId'] == remote_id and
         e['json']['origin'] == 'ocm',
         'remote-registered reaches Marie\'s stream', e)
    r = as_zurich(paris, key, '/ocm/shares', body)
    t.eq(r.status, 201, 'the same share again (a retry): 201')
    t.eq(len([d for d in my_drives(marie_p) if d['root'].get('webDavUrl') ==
              body['protocol']['webdav']['uri']]), 1, 'and still one remote space')
    t.eq(stream.next(1.0), None, 'and no second remote-registered')
    other = ocm_share(zurich, 'einstein', 'marie@paris.test', provider_id=pid,
                      uri=body['protocol']['webdav']['uri'])
    t.eq(as_zurich(paris, key, '/ocm/shares', other).status, 400,
         'the same providerId with another secret: 400')
    r = as_zurich(paris, key, '/ocm/shares', ocm_share(zurich, 'einstein', 'marie@paris.test'),
                  signed=False)
    t.eq(r.status, 401, 'an unsigned share in Zurich\'s name (Zurich signs): 401')
    # shareWith by user@<this instance's host>, secret in protocol.options (OCM 1.0)
    b2 = ocm_share(zurich, 'einstein', 'marie@' + authority(paris))
    b2['protocol']['options'] = {'sharedSecret': b2['protocol']['webdav'].pop('sharedSecret')}
    r = as_zurich(paris, key, '/ocm/shares', b2)
    t.eq(r.status, 201, 'shareWith marie@<paris host>, secret in protocol.options: 201')
    stream.next(3)
    # refusals
    cases = [
        ('unknown user', ocm_share(zurich, 'einstein', 'nobody@paris.test'), 400),
        ('unknown user at this host',
         ocm_share(zurich, 'einstein', 'nobody@' + authority(paris)), 400),
        ('untrusted sender', ocm_share(zurich, 'einstein', 'marie@paris.test',
                                       sender='mallory@evil.example'), 403),
        ('sender on another port of loopback',
         ocm_share(zurich, 'einstein', 'marie@paris.test', sender='x@127.0.0.1:1'), 403),
        ('uri not on the sender\'s instance',
         ocm_share(zurich, 'einstein', 'marie@paris.test',
                   uri='http://127.0.0.2:%d/dav/spaces/x' % zurich.port), 400),
        ('uri under a trusted instance but escaping /dav/spaces',
         ocm_share(zurich, 'einstein', 'marie@paris.test',
                   uri=zurich.url + '/dav/spaces/x/../../graph'), 400),
        ('shareType group', ocm_share(zurich, 'einstein', 'marie@paris.test',
                                      shareType='group'), 501),
        ('resourceType calendar', ocm_share(zurich, 'einstein', 'marie@paris.test',
                                            resourceType='calendar'), 501),
        ('no providerId', ocm_share(zurich, 'einstein', 'marie@paris.test', providerId=''), 400),
    ]
    nosecret = ocm_share(zurich, 'einstein', 'marie@paris.test')
    del nosecret['protocol']['webdav']['sharedSecret']
    cases.append(('no shared secret', nosecret, 400))
    short = ocm_share(zurich, 'einstein', 'marie@paris.test', secret='short')
    cases.append(('a short shared secret', short, 400))
    for name, b, want in cases:
        r = as_zurich(paris, key, '/ocm/shares', b)
        t.eq(r.status, want, 'OCM share refused, %s: %d' % (name, want))
    t.eq(as_zurich(paris, key, '/ocm/shares', '{"shareWith":').status, 400,
         'OCM share with malformed JSON: 400')
    n_remote = len([d for d in my_drives(marie_p) if d['driveType'] == 'mountpoint'])
    t.eq(n_remote, 2, 'none of the refused shares created a remote space')

    # notifications
    t.eq(notify(paris, key, 'RESOURCE_CHANGED', pid, secret, signed=False, eTag='e1').status,
         401, 'RESOURCE_CHANGED unsigned, even with the share\'s secret (Zurich signs): 401')
    t.eq(notify(paris, key, 'RESOURCE_CHANGED', 'nope', secret, eTag='e1').status, 403,
         'RESOURCE_CHANGED for an unknown providerId: 403')
    t.eq(notify(paris, key, 'SHARE_ACCEPTED', pid, secret).status, 403,
         'SHARE_ACCEPTED for a share Paris did not send: 403')
    t.eq(notify(paris, key, 'REQUEST_RESHARE', pid, secret).status, 501,
         'an unsupported notificationType: 501')
    t.eq(notify(paris, key, 'RESOURCE_CHANGED', pid, secret, eTag='e 1').status, 400,
         'a malformed eTag: 400')
    t.eq(stream.next(1.0), None, 'refused notifications reach nobody')
    r = notify(paris, key, 'RESOURCE_CHANGED', pid, secret, eTag='etag-1')
    t.eq(r.status, 201, 'RESOURCE_CHANGED with the share\'s secret: 201')
    e = stream.next(2)
    t.ok(e and e.get('event') == 'item-changed' and e['json']['driveId'] == remote_id and
         e['json']['eTag'] == 'etag-1' and e['json']['type'] == 'spaceport.remote.changed',
         'Marie\'s stream shows item-changed for the remote space with the new eTag', e)
    data = {k: v for k, v in (e or {}).get('json', {}).items() if k not in ('type', 'time')}
    t.ok(not schema_errors(s, 'spaceport.remote.changed', data),
         'its data matches remote-changed.json', schema_errors(s, 'spaceport.remote.changed', data))
    t.eq(marie_p.get('/graph/v1.0/drives/' + remote_id).json()['root']['eTag'], '"etag-1"',
         'the remote space carries the new eTag')
    t.eq(notify(paris, key, 'RESOURCE_CHANGED', pid, secret, eTag='etag-1').status, 201,
         'the same change again (a retry): 201')
    t.eq(stream.next(1.0), None, 'and no second notification')

    # latency over 100 changes, notification POST to event on the stream
    lat = []
    for i in range(100):
        t0 = time.monotonic()
        r = notify(paris, key, 'RESOURCE_CHANGED', pid, secret, eTag='lat-%d' % i)
        e = stream.next(2)
        if r.status != 201 or not e or e['json'].get('eTag') != 'lat-%d' % i:
            break
        lat.append((e['at'] - t0) * 1000)
    t.eq(len(lat), 100, '100 RESOURCE_CHANGED notifications each reach the stream within 2 s')
    if lat:
        q = statistics.quantiles(lat, n=100) if len(lat) > 1 else lat * 99
        t.diag('OCM notification POST -> SSE at Paris over %d changes: median %.1f ms, '
               'p99 %.1f ms, max %.1f ms' % (len(lat), statistics.median(lat), q[98], max(lat)))

    r = notify(paris, key, 'SHARE_UNSHARED', pid, secret)
    t.eq(r.status, 201, 'SHARE_UNSHARED: 201')
    e = stream.next(2)
    t.ok(e and e.get('event') == 'remote-removed' and e['json']['driveId'] == remote_id and
         e['json']['reason'] == 'unshared', 'Marie\'s stream shows remote-removed', e)
    t.ok(all(d['id'] != remote_id for d in my_drives(marie_p)),
         'the remote space is gone from /me/drives')
    t.eq(notify(paris, key, 'SHARE_UNSHARED', pid, secret).status, 403,
         'a second SHARE_UNSHARED: 403 (nothing left to remove)')
    stream.close()


def storage_change(nc, drive, etag):
    ev = {'specversion': '1.0', 'id': str(uuid.uuid4()), 'source': 'urn:test:storage',
          'type': 'spaceport.storage.changed', 'datacontenttype': 'application/json',
          'data': {'driveId': drive, 'itemId': 'item-1', 'eTag': etag,
                   'lastModifiedDateTime': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                   'change': 'updated'}}
    nc.publish('spaceport.storage.changed', ev,
               headers={'Nats-Msg-Id': ev['id'], 'Content-Type': 'application/cloudevents+json'})
    nc.flush()


def invite(client, drive, recipient, role=VIEWER):
    return client.call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (drive, drive),
                       {'recipients': [recipient], 'roles': [role]})


def remote_for(client, url):
    found = [d for d in my_drives(client) if d['root'].get('webDavUrl') == url]
    return found[0] if len(found) == 1 else None


def sent_state(zurich, share_id):
    rows = zurich.db_rows('SELECT state, instance FROM ocm_sent WHERE share_id = ?',
                          (share_id,))
    return rows[0] if rows else None


def check_outgoing(t, s, zurich, paris, nz, ein_z, marie_p, marie_tok, pierre_p):
    """Shares made at Zurich with users whose registry is Paris."""
    stream = Stream(paris.port, marie_tok)
    quantum = ein_z.call('POST', '/graph/v1.0/drives', {'name': 'Quantum'}).json()['id']
    url = zurich.url + '/dav/spaces/' + quantum
    t0 = time.monotonic()
    r = invite(ein_z, quantum, {'email': 'marie@paris.test'})
    t.eq(r.status, 200, 'zurich: Einstein shares Quantum with marie@paris.test: 200')
    share_id = r.json()['value'][0]['id'] if r.status == 200 else ''
    e = stream.next(5)
    took = time.monotonic() - t0
    t.ok(e and e.get('event') == 'remote-registered' and e['json']['webDavUrl'] == url and
         e['json']['origin'] == 'ocm' and e['json']['ocmShareId'] == share_id,
         'Marie\'s stream at Paris: remote-registered for the Zurich webDavUrl (%.0f ms)' %
         (took * 1000), e)
    remote = remote_for(marie_p, url)
    t.ok(remote and remote['name'] == 'Quantum' and
         remote['root']['remoteItem']['driveId'] == quantum,
         'the share is a remote space in Marie\'s /me/drives at Paris', remote)
    t.ok(wait_until(lambda: sent_state(zurich, share_id) == ('shared', paris.url), 5),
         'zurich recorded the share as accepted by Paris', sent_state(zurich, share_id))
    remote_id = remote['id'] if remote else ''

    with NatsClient(nz.url) as nc:
        t0 = time.monotonic()
        storage_change(nc, quantum, 'q-1')
        e = stream.next(5)
        took = (e['at'] - t0) if e else None
        t.ok(e and e.get('event') == 'item-changed' and e['json']['driveId'] == remote_id and
             e['json']['eTag'] == 'q-1' and took < 2.0,
             'a storage change at Zurich reaches Marie\'s stream at Paris within 2 s (%s ms)' %
             ('%.0f' % (took * 1000) if took else '-'), e)
        lat = []
        for i in range(100):
            t0 = time.monotonic()
            storage_change(nc, quantum, 'q-lat-%d' % i)
            e = stream.next(2)
            if not e or e['json'].get('eTag') != 'q-lat-%d' % i:
                break
            lat.append((e['at'] - t0) * 1000)
        t.eq(len(lat), 100, '100 storage changes at Zurich each reach Paris within 2 s')
        if lat:
            q = statistics.quantiles(lat, n=100) if len(lat) > 1 else lat * 99
            t.diag('storage change published at Zurich -> SSE at Paris over %d changes: '
                   'median %.1f ms, p99 %.1f ms, max %.1f ms' % (
                       len(lat), statistics.median(lat), q[98], max(lat)))
            t.ok(q[98] < 2000, 'p99 under 2 s')

    # A user not known at Zurich at all: the e-mail share is pending there.
    r = invite(ein_z, quantum, {'email': 'pierre@paris.test'})
    t.eq(r.status, 200, 'zurich: a share with pierre@paris.test, unknown at Zurich: 200')
    t.ok(wait_until(lambda: remote_for(pierre_p, url), 5),
         'it reaches Pierre at Paris as a remote space')
    # Nobody serves this domain: the share stays a local e-mail share.
    r = invite(ein_z, quantum, {'email': 'nobody@nowhere.test'})
    local_id = r.json()['value'][0]['id'] if r.status == 200 else ''
    t.ok(wait_until(lambda: (sent_state(zurich, local_id) or ('',))[0] == 'local', 5),
         'a share with an address no trusted instance serves stays local',
         sent_state(zurich, local_id))
    r = invite(ein_z, quantum, {'email': 'albert2@zurich.test'})
    t.ok(r.status == 200 and sent_state(zurich, r.json()['value'][0]['id']) is None,
         'a share with an address of a domain Zurich serves is never offered abroad')

    # Paris down while Einstein shares: delivered once it is back.
    stream.close()
    t.eq(paris.stop(), 0, 'paris stops cleanly (exit 0)')
    optics = ein_z.call('POST', '/graph/v1.0/drives', {'name': 'Optics'}).json()['id']
    optics_url = zurich.url + '/dav/spaces/' + optics
    t0 = time.monotonic()
    r = invite(ein_z, optics, {'email': 'marie@paris.test'})
    t.ok(r.status == 200 and time.monotonic() - t0 < 1.0,
         'with Paris down the share at Zurich still succeeds at once: 200')
    optics_share = r.json()['value'][0]['id'] if r.status == 200 else ''
    t.ok(wait_until(lambda: (zurich.metric('spaceport_ocm_queue') or 0) >= 1, 5),
         'the announcement waits in Zurich\'s outbound queue')
    time.sleep(2)
    paris.start()
    t.ok(wait_until(lambda: remote_for(marie_p, optics_url), 30),
         'after Paris is back the share arrives there')
    regs = [e for e in events(paris, 'spaceport.remote.registered')
            if e[2].get('webDavUrl') == optics_url]
    t.eq(len(regs), 1, 'exactly once (one remote.registered event at Paris)')
    t.ok(wait_until(lambda: sent_state(zurich, optics_share) == ('shared', paris.url), 5),
         'zurich: accepted by Paris', sent_state(zurich, optics_share))

    # Revoking the share removes the remote space at Paris.
    stream = Stream(paris.port, marie_tok)
    r = ein_z.call('DELETE', '/graph/v1beta1/drives/%s/items/%s/permissions/%s' % (
        quantum, quantum, share_id))
    t.eq(r.status, 204, 'zurich: Einstein revokes the share with Marie: 204')
    e = stream.next(5)
    t.ok(e and e.get('event') == 'remote-removed' and e['json']['driveId'] == remote_id and
         e['json']['reason'] == 'unshared',
         'Marie\'s stream at Paris: remote-removed (SHARE_UNSHARED)', e)
    t.eq(remote_for(marie_p, url), None, 'the remote space is gone at Paris')
    t.ok(wait_until(lambda: (sent_state(zurich, share_id) or ('',))[0] == 'unshared', 5),
         'zurich: the share is recorded unshared')
    with NatsClient(nz.url) as nc:
        storage_change(nc, quantum, 'after-revoke')
    t.eq([x for x in stream.collect(1.5) if x.get('event') == 'item-changed'], [],
         'changes after the revocation are not sent')
    t.ok(remote_for(pierre_p, url) is not None, 'Pierre\'s share of the same drive remains')
    stream.close()
    for type_, subject, data in events(paris, 'spaceport.remote.'):
        errs = schema_errors(s, type_, data)
        if errs:
            t.ok(False, 'every remote event at Paris matches its schema', (type_, errs))
            break
    else:
        t.ok(True, 'every remote event at Paris matches its schema')
    t.ok((zurich.metric('spaceport_ocm_deliveries_total{outcome="delivered"}') or 0) >= 100,
         'zurich counts its deliveries in /metrics')


def instances(t, run):
    canary = Canary()
    fake = FakeInstance('http://127.0.0.1:%d' % canary.port)
    canary.target = 'http://127.0.0.1:%d/' % canary.port
    with Nats() as nz, Nats() as np_, Issuer() as idz, Issuer() as idp, Issuer() as idx:
        zurich = Spaceport(nats_url=nz.url, issuers='%s,%s' % (idz.url, idp.url),
                           env={'SPACEPORT_LOG_LEVEL': 'info'})
        paris = Spaceport(nats_url=np_.url, issuers='%s,%s,%s' % (idp.url, idz.url, idx.url),
                          env={'SPACEPORT_LOG_LEVEL': 'info',
                               # every change is its own notification: latency is measured
                               'SPACEPORT_SSE_COALESCE': '0ms'})
        zurich.env.update({'SPACEPORT_TRUSTED_INSTANCES': paris.url,
                           'SPACEPORT_DOMAIN_ISSUERS': 'zurich.test=' + idz.url})
        paris.env.update({'SPACEPORT_TRUSTED_INSTANCES': '%s,%s' % (zurich.url, fake.url),
                          'SPACEPORT_DOMAIN_ISSUERS': 'paris.test=' + idp.url})
        try:
            with zurich, paris:
                run(t, zurich, paris, nz, np_, idz, idp, idx, canary, fake)
        finally:
            canary.close()
            fake.close()


def run(t, zurich, paris, nz, np_, idz, idp, idx, canary, fake):
    s = schemas()
    marie_tok = idp.token('marie-sub', 'marie', 'Marie', email='marie@paris.test')
    marie_p = Client(paris, marie_tok)
    marie_z = Client(zurich, marie_tok)
    ein_z = Client(zurich, idz.token('einstein-sub', 'einstein', 'Albert Einstein',
                                     email='einstein@zurich.test', roles=['spaceport-spaceadmin']))
    stranger_p = Client(paris, idp.token('paul-sub', 'paul', 'Paul', email='paul@paris.test'))
    check_issuers(t, paris, idz, idp)
    check_webfinger(t, paris, idp, marie_tok)
    check_discovery(t, paris)
    project, remote_id, url = check_remote_by_url(t, s, zurich, paris, np_, ein_z, marie_z,
                                                  marie_p, stranger_p)
    # A user of an issuer that only Paris trusts: Zurich refuses the token.
    xavier = Client(paris, idx.token('xavier-sub', 'xavier', 'Xavier'))
    r = register(xavier, url)
    t.ok(r.status == 400 and 'does not accept your token' in r.json()['error']['message'],
         'a token Zurich does not trust: 400 saying so', r.body[:300])
    check_hostile(t, zurich, paris, marie_p, project, canary, fake)
    check_remote_delete(t, s, paris, marie_p, remote_id)
    check_ocm_incoming(t, s, zurich, paris, marie_p, marie_tok)
    pierre_p = Client(paris, idp.token('pierre-sub', 'pierre', 'Pierre', email='pierre@paris.test'))
    pierre_p.me()
    check_outgoing(t, s, zurich, paris, nz, ein_z, marie_p, marie_tok, pierre_p)
    t.eq(zurich.stop(), 0, 'zurich exits 0')
    t.eq(paris.stop(), 0, 'paris exits 0')


if __name__ == '__main__':
    TAP().run(lambda t: instances(t, run))
