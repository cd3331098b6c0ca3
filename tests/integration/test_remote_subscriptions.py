#!/usr/bin/python3
"""Remote spaces registered by URL subscribe at their hosting instance, and
instances authenticate each other with RFC 9421 signatures.

Two instances on loopback, "zurich" and "paris", each with its own
nats-server and identity provider, each trusting the other. Marie (a user
of the paris provider, also trusted at zurich) registers at paris a space
hosted at zurich:

- paris subscribes at zurich for her (her token, paris's signature: zurich
  records paris as the delegate), and publishes its key in the OCM
  discovery;
- 100 storage changes at zurich reach Marie's change stream at paris as
  item-changed with the drive's eTag (p50 and p99 printed);
- zurich down 30 s while changes wait on its bus: every change still
  arrives at paris, once;
- paris renews the subscription by itself (a short lifetime via the test
  hook), and deletes it at zurich when Marie removes the registration;
- forged notifications (unsigned, signed with an unknown key, replayed, a
  changed body, too old) are refused 401 and change nothing; an instance
  that is not trusted cannot renew or delete the subscription, nor can
  paris touch a subscription Marie made herself;
- Marie loses access at zurich: her subscription ends with a
  subscriptionRemoved lifecycle notification, the remote space goes
  (reason accessLost), and nothing more is delivered."""
import base64
import hashlib
import json
import os
import statistics
import time
import urllib.parse
import uuid

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from harness import TAP, Client, Issuer, Nats, Spaceport, wait_until
from natsclient import NatsClient
from sse import Stream
from test_federation import storage_change

SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'
NOTES = '/api/v1/federation/notifications'
SUBS = '/graph/v1.0/subscriptions'
# Subscriptions paris asks zurich for last this long (test hook): renewed
# when a third is left, so the first renewal comes after 60 s, after the
# 30 s outage, and the subscription outlives that outage.
LIFETIME_S = 90


def changed_etags(paris, remote_id):
    """eTags of spaceport.remote.changed events of the remote space, in log order."""
    return [json.loads(d)['eTag'] for (d,) in paris.db_rows(
        "SELECT data FROM events WHERE type = 'spaceport.remote.changed' AND subject = ?"
        " ORDER BY seq", (remote_id,))]


def authority(sp):
    return urllib.parse.urlsplit(sp.url).netloc


def signed(key, keyid, method, target, path, body=b'', content_type='application/json',
           created=None, nonce=None):
    """Headers of an RFC 9421 request signature (ed25519) as Spaceport makes
    them: @method @authority @path, content-digest and content-type with a
    body."""
    covered = ['@method', '@authority', '@path']
    fields = {'@method': method, '@authority': target, '@path': path}
    headers = {}
    if body:
        digest = 'sha-256=:%s:' % base64.b64encode(hashlib.sha256(body).digest()).decode()
        headers['Content-Digest'] = digest
        headers['Content-Type'] = content_type
        fields['content-digest'] = digest
        fields['content-type'] = content_type
        covered += ['content-digest', 'content-type']
    params = '(%s);created=%d;nonce="%s";keyid="%s";alg="ed25519"' % (
        ' '.join('"%s"' % c for c in covered), int(time.time()) if created is None else created,
        nonce or uuid.uuid4().hex, keyid)
    base = ''.join('"%s": %s\n' % (c, fields[c]) for c in covered)
    base += '"@signature-params": ' + params
    sig = base64.b64encode(key.sign(base.encode())).decode()
    headers['Signature-Input'] = 'sig1=' + params
    headers['Signature'] = 'sig1=:%s:' % sig
    return headers


def instance_key(sp):
    with open(os.path.join(sp.data_dir, 'instance-key.pem'), 'rb') as f:
        return load_pem_private_key(f.read(), None)


def note_body(sub_id, state, etag, seq, change='updated'):
    return json.dumps({'value': [{
        'subscriptionId': sub_id, 'clientState': state, 'changeType': change,
        'resource': 'drives/x', 'subscriptionExpirationDateTime': '2030-01-01T00:00:00Z',
        'tenantId': '', 'sequenceNumber': seq,
        'resourceData': {'@odata.type': '#microsoft.graph.drive', 'id': 'x', 'eTag': etag}}]},
        separators=(',', ':')).encode()


def check_keys(t, paris, zurich):
    d = paris.get('/.well-known/ocm').json()
    pk = d.get('publicKey') or {}
    t.ok(pk.get('keyId', '').startswith(paris.url + '/ocm#') and
         pk.get('publicKeyPem', '').startswith('-----BEGIN PUBLIC KEY-----'),
         'paris publishes its public key in the OCM discovery (keyId under its URL)', pk)
    t.ok([k.get('keyId') for k in d.get('publicKeys', [])] == [pk.get('keyId')],
         'publicKeys lists the same one key (nothing being retired)')
    mode = os.stat(os.path.join(paris.data_dir, 'instance-key.pem')).st_mode & 0o777
    t.eq(mode, 0o600, 'the instance key file was created readable by its owner only')


def run(t, zurich, paris, nz, idz, idp):
    marie_tok = idp.token('marie-sub', 'marie', 'Marie', email='marie@paris.test')
    marie_p, marie_z = Client(paris, marie_tok), Client(zurich, marie_tok)
    ein_z = Client(zurich, idz.token('einstein-sub', 'einstein', 'Albert Einstein',
                                     email='einstein@zurich.test', roles=['spaceport-spaceadmin']))
    check_keys(t, paris, zurich)
    marie_id_z = marie_z.me()['id']
    project = ein_z.call('POST', '/graph/v1.0/drives', {'name': 'Relativity'}).json()['id']
    r = ein_z.call('POST', '/graph/v1beta1/drives/%s/root/invite' % project,
                   {'recipients': [{'objectId': marie_id_z}], 'roles': [SPACE_VIEWER]})
    t.eq(r.status, 200, 'zurich: Einstein makes Marie a member of Relativity')

    url = zurich.url + '/dav/spaces/' + project
    r = marie_p.call('POST', '/graph/v1.0/me/drives', {
        'driveType': 'mountpoint', 'name': 'Relativity at Zurich',
        'root': {'remoteItem': {'webDavUrl': url}}})
    t.eq(r.status, 201, 'paris: Marie registers the Zurich drive by URL: 201')
    remote_id = r.json().get('id') if r.status == 201 else ''

    subs = marie_z.get(SUBS).json().get('value', [])
    sub = subs[0] if len(subs) == 1 else {}
    t.ok(sub.get('resource') == 'drives/' + project and
         sub.get('notificationUrl') == paris.url + NOTES and
         sub.get('changeType') == 'updated,deleted',
         'zurich holds one subscription for Marie: drives/<project> -> paris notifications', subs)
    sub_id = sub.get('id', '')
    row = zurich.db_rows('SELECT delegate, client_state FROM subscriptions WHERE id = ?',
                         (sub_id,))
    t.ok(row and row[0][0] == paris.url, 'zurich recorded paris as its delegate', row)
    state = row[0][1] if row else ''
    mine = paris.db_rows('SELECT sub_id, sub_state FROM remotes WHERE id = ?', (remote_id,))
    t.ok(mine and mine[0][0] == sub_id and mine[0][1] == hashlib.sha256(state.encode()).hexdigest()
         and state not in mine[0][1],
         'paris keeps the subscription id and only the SHA-256 of its clientState', mine)

    stream = Stream(paris.port, marie_tok)
    # ---- 100 changes, one at a time, latency from publish at zurich to SSE at paris ----
    lat = []
    with NatsClient(nz.url) as nc:
        for i in range(100):
            t0 = time.monotonic()
            storage_change(nc, project, 'rel-%d' % i)
            e = stream.next(10)
            while e and e.get('event') != 'item-changed':
                e = stream.next(10)
            if not e or e['json'].get('eTag') != 'rel-%d' % i or \
                    e['json'].get('driveId') != remote_id:
                t.diag('change %d: %r' % (i, e))
                break
            lat.append((e['at'] - t0) * 1000)
    t.eq(len(lat), 100, '100 storage changes at zurich reach Marie\'s stream at paris as '
         'item-changed of the remote space with the drive\'s eTag')
    if len(lat) > 1:
        q = statistics.quantiles(lat, n=100)
        t.diag('storage change at zurich -> webhook -> SSE at paris over %d changes: p50 %.1f ms, '
               'p99 %.1f ms, max %.1f ms' % (len(lat), statistics.median(lat), q[98], max(lat)))

    # ---- zurich down 30 s; changes wait on its bus ----
    t.eq(zurich.stop(), 0, 'zurich stops cleanly')
    down = ['down-%d' % i for i in range(20)]
    with NatsClient(nz.url) as nc:
        for etag in down:
            storage_change(nc, project, etag)
    time.sleep(30)
    zurich.start()
    got = []
    deadline = time.monotonic() + 60
    while len(got) < len(down) and time.monotonic() < deadline:
        e = stream.next(max(0.1, deadline - time.monotonic()))
        if e and e.get('event') == 'item-changed':
            got.append(e['json'].get('eTag'))
    t.eq(got, down, 'after zurich is back, the 20 changes made meanwhile reach paris in order')
    extra = [e for e in stream.collect(2) if e.get('event') == 'item-changed']
    etags = changed_etags(paris, remote_id)
    t.ok(not extra and len(etags) == len(set(etags)) == 100 + len(down),
         'each change arrived once (remote.changed events at paris: %d, all distinct)' %
         len(etags), extra[:3])

    # ---- forged notifications ----
    zkey = instance_key(zurich)
    zkeyid = zurich.get('/.well-known/ocm').json()['publicKey']['keyId']
    before = len(changed_etags(paris, remote_id))
    body = note_body(sub_id, state, 'forged-1', 10 ** 9)
    r = paris.request('POST', NOTES, body, {'Content-Type': 'application/json'})
    t.eq(r.status, 401, 'an unsigned notification: 401')
    stranger = Ed25519PrivateKey.generate()
    h = signed(stranger, zurich.url + '/ocm#made-up', 'POST', authority(paris), NOTES, body)
    t.eq(paris.request('POST', NOTES, body, h).status, 401,
         'signed with a key zurich does not publish: 401')
    h = signed(stranger, 'http://127.0.0.1:1/ocm#x', 'POST', authority(paris), NOTES, body)
    t.eq(paris.request('POST', NOTES, body, h).status, 401,
         'signed as an instance paris does not trust: 401')
    h = signed(zkey, zkeyid, 'POST', authority(paris), NOTES, body, created=int(time.time()) - 600)
    t.eq(paris.request('POST', NOTES, body, h).status, 401, 'a signature ten minutes old: 401')
    h = signed(zkey, zkeyid, 'POST', authority(zurich), NOTES, body)
    t.eq(paris.request('POST', NOTES, body, h).status, 401,
         'a signature meant for another authority: 401')
    h = signed(zkey, zkeyid, 'POST', authority(paris), NOTES, body)
    tampered = body.replace(b'forged-1', b'forged-2')
    t.eq(paris.request('POST', NOTES, tampered, h).status, 401,
         'zurich\'s signature over another body (Content-Digest mismatch): 401')
    t.eq(len(changed_etags(paris, remote_id)), before, 'none of them changed anything')
    # The genuine article (zurich's key, read from its data directory) is
    # applied once; the same request again is a replay.
    r = paris.request('POST', NOTES, body, h)
    t.eq(r.status, 202, 'a notification signed with zurich\'s key and the clientState: 202')
    t.eq(changed_etags(paris, remote_id)[-1:], ['forged-1'], 'and it is applied')
    t.eq(paris.request('POST', NOTES, body, h).status, 401, 'the same request replayed: 401')
    body2 = note_body(sub_id, 'not-the-state', 'forged-3', 10 ** 9 + 1)
    h = signed(zkey, zkeyid, 'POST', authority(paris), NOTES, body2)
    t.eq(paris.request('POST', NOTES, body2, h).status, 404,
         'signed by zurich but with another clientState: 404, not applied')
    t.eq(len(changed_etags(paris, remote_id)), before + 1, 'nothing else changed')
    r = paris.request('POST', NOTES + '?validationToken=abc%20def')
    t.ok(r.status == 200 and r.body == b'abc def' and
         r.headers.get('content-type', '').startswith('text/plain'),
         'the validation handshake is echoed as text/plain', r.body)

    # ---- who may renew or delete the subscription at zurich ----
    patch = json.dumps({'expirationDateTime': time.strftime(
        '%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() + 3600))}).encode()
    path = SUBS + '/' + sub_id
    r = zurich.request('PATCH', path, patch, {'Content-Type': 'application/json'})
    t.eq(r.status, 401, 'zurich: an unsigned PATCH without a token: 401')
    h = signed(stranger, 'http://127.0.0.1:1/ocm#x', 'PATCH', authority(zurich), path, patch)
    t.eq(zurich.request('PATCH', path, patch, h).status, 401,
         'zurich: a PATCH signed as an untrusted instance: 401')
    h = signed(stranger, 'http://127.0.0.1:1/ocm#x', 'DELETE', authority(zurich), path)
    t.eq(zurich.request('DELETE', path, None, h).status, 401,
         'zurich: a DELETE signed as an untrusted instance: 401')
    own = marie_z.call('POST', SUBS, {
        'changeType': 'updated', 'notificationUrl': paris.url + NOTES,
        'resource': 'drives/' + project, 'expirationDateTime': time.strftime(
            '%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() + 3600))})
    t.eq(own.status, 201, 'zurich: Marie makes a subscription herself: 201')
    own_path = SUBS + '/' + own.json().get('id', '')
    pkey = instance_key(paris)
    pkeyid = paris.get('/.well-known/ocm').json()['publicKey']['keyId']
    h = signed(pkey, pkeyid, 'DELETE', authority(zurich), own_path)
    t.eq(zurich.request('DELETE', own_path, None, h).status, 404,
         'zurich: paris\'s signature cannot delete a subscription paris did not make: 404')
    t.eq(marie_z.get(own_path).status, 200, 'Marie\'s own subscription is still there')
    marie_z.call('DELETE', own_path)
    t.ok(marie_z.get(path).status == 200, 'paris\'s subscription for Marie is still there')

    # ---- renewal without the user ----
    first = marie_z.get(path).json().get('expirationDateTime', '')
    t.ok(wait_until(lambda: marie_z.get(path).json().get('expirationDateTime', '') > first,
                    LIFETIME_S),
         'paris renews the subscription at zurich by itself before it expires (%s -> %s)' % (
             first, marie_z.get(path).json().get('expirationDateTime')))
    t.ok((paris.metric('spaceport_remote_subscription_requests_total{outcome="renewed"}') or 0)
         >= 1, 'paris counts the renewal in /metrics')

    # ---- removing a registration deletes its subscription at zurich ----
    other = ein_z.call('POST', '/graph/v1.0/drives', {'name': 'Optics'}).json()['id']
    ein_z.call('POST', '/graph/v1beta1/drives/%s/root/invite' % other,
               {'recipients': [{'objectId': marie_id_z}], 'roles': [SPACE_VIEWER]})
    r = marie_p.call('POST', '/graph/v1.0/me/drives', {
        'driveType': 'mountpoint', 'root': {'remoteItem': {
            'webDavUrl': zurich.url + '/dav/spaces/' + other}}})
    other_remote = r.json().get('id', '') if r.status == 201 else ''
    resources = lambda: sorted(s['resource'] for s in marie_z.get(SUBS).json()['value'])
    t.eq(resources(), sorted(['drives/' + project, 'drives/' + other]),
         'a second registration makes a second subscription at zurich')
    t.eq(marie_p.call('DELETE', '/graph/v1.0/drives/' + other_remote).status, 204,
         'paris: Marie removes the second registration')
    t.ok(wait_until(lambda: resources() == ['drives/' + project], 10),
         'paris deletes its subscription at zurich (signed DELETE)', resources())

    # ---- Marie loses access at zurich ----
    perms = ein_z.get('/graph/v1beta1/drives/%s/root/permissions' % project).json()['value']
    perm = [p for p in perms if (p.get('grantedToV2', {}).get('user', {}) or {}).get('id') ==
            marie_id_z]
    r = ein_z.call('DELETE', '/graph/v1beta1/drives/%s/root/permissions/%s' % (
        project, perm[0]['id'] if perm else 'none'))
    t.eq(r.status, 204, 'zurich: Einstein removes Marie from Relativity')
    e = stream.next(15)
    while e and (e.get('event') != 'remote-removed' or e['json'].get('driveId') != remote_id):
        e = stream.next(15)
    t.ok(e and e['json'].get('driveId') == remote_id and e['json'].get('reason') == 'accessLost',
         'Marie\'s stream at paris: remote-removed, reason accessLost', e)
    t.ok(wait_until(lambda: zurich.db_rows('SELECT ended_at IS NOT NULL, lifecycle_pending IS'
                                           ' NULL FROM subscriptions WHERE id = ?', (sub_id,)) in
                    ([(1, 1)], []), 15),
         'zurich ended the subscription and sent its subscriptionRemoved lifecycle notification',
         zurich.db_rows('SELECT ended_at, lifecycle_pending, last_error FROM subscriptions'
                        ' WHERE id = ?', (sub_id,)))
    with NatsClient(nz.url) as nc:
        storage_change(nc, project, 'after-access-lost')
    t.eq([x for x in stream.collect(3) if x.get('event') == 'item-changed'], [],
         'changes after that are not delivered')
    t.ok('after-access-lost' not in [json.loads(d)['eTag'] for (d,) in paris.db_rows(
        "SELECT data FROM events WHERE type = 'spaceport.remote.changed'")],
         'nor written at paris')
    stream.close()
    t.ok((paris.metric('spaceport_signed_requests_total{outcome="refused"}') or 0) >= 6,
         'paris counts refused signed requests in /metrics')
    check_rotation(t, zurich, paris, marie_p, marie_z, other)


def check_rotation(t, zurich, paris, marie_p, marie_z, drive):
    """The documented rotation: stop, move the key to
    instance-key.previous.pem, start. The new key signs, both are
    published, and zurich (holding the old one in its cache) fetches the
    keys again for the unknown keyid and accepts the new signature."""
    old = paris.get('/.well-known/ocm').json()['publicKey']['keyId']
    t.eq(paris.stop(), 0, 'paris stops for the rotation')
    os.rename(os.path.join(paris.data_dir, 'instance-key.pem'),
              os.path.join(paris.data_dir, 'instance-key.previous.pem'))
    paris.start()
    d = paris.get('/.well-known/ocm').json()
    new = d['publicKey']['keyId']
    t.ok(new != old and new.startswith(paris.url + '/ocm#') and
         [k['keyId'] for k in d['publicKeys']] == [new, old],
         'after the rotation a new key signs and the previous one is still published', d)
    fetches = zurich.metric('spaceport_peer_key_fetches_total') or 0
    r = marie_p.call('POST', '/graph/v1.0/me/drives', {
        'driveType': 'mountpoint', 'root': {'remoteItem': {
            'webDavUrl': zurich.url + '/dav/spaces/' + drive}}})
    t.eq(r.status, 201, 'paris: Marie registers a zurich space again after the rotation')
    subs = [x for x in marie_z.get(SUBS).json()['value'] if x['resource'] == 'drives/' + drive]
    row = zurich.db_rows('SELECT delegate FROM subscriptions WHERE id = ?',
             (subs[0]['id'] if subs else '',))
    t.ok(row == [(paris.url,)],
         'zurich verified the new key\'s signature: the subscription has paris as delegate', row)
    t.ok((zurich.metric('spaceport_peer_key_fetches_total') or 0) > fetches,
         'zurich fetched paris\'s keys again for the unknown keyid')


def main(t):
    with Nats() as nz, Nats() as np_, Issuer() as idz, Issuer() as idp:
        zurich = Spaceport(nats_url=nz.url, issuers='%s,%s' % (idz.url, idp.url),
                           env={'SPACEPORT_LOG_LEVEL': 'info'})
        paris = Spaceport(nats_url=np_.url, issuers='%s,%s' % (idp.url, idz.url),
                          env={'SPACEPORT_LOG_LEVEL': 'info', 'SPACEPORT_SSE_COALESCE': '0ms',
                               'SPACEPORT_TEST_REMOTE_SUBSCRIPTION_S': str(LIFETIME_S)})
        zurich.env['SPACEPORT_TRUSTED_INSTANCES'] = paris.url
        paris.env['SPACEPORT_TRUSTED_INSTANCES'] = zurich.url
        with zurich, paris:
            run(t, zurich, paris, nz, idz, idp)


if __name__ == '__main__':
    TAP().run(main)
