#!/usr/bin/python3
"""Open Cloud Mesh outbound: where Spaceport sends, in which form, signed how.

"zurich" is a real Spaceport. It trusts four fake OCM servers on loopback
(tests/integration/ocmpeer.py's recording peer, each with the discovery
document of one kind of peer, tests/data/ocm-discovery/README.md) and a
second real Spaceport, "paris":

- nextcloud: OCM 1.0 (apiVersion "1.0-proposal1" and a "version"), its API
  at /index.php/ocm: a share must arrive there, in the legacy form
  {"name": "webdav", "options": {"sharedSecret", "permissions"}} with an
  absolute uri, or Nextcloud cannot read it;
- reva: 1.3.0 with webdav-receive "absolute", no notificationTypes: the
  multi form, an absolute uri, no options; never RESOURCE_CHANGED nor
  SHARE_CHANGE_PERMISSION (Spaceport's own), always SHARE_UNSHARED;
- opencloud: 1.2.0 with webdav-uri, listing RESOURCE_CHANGED and
  SHARE_CHANGE_PERMISSION: a relative uri (the item id), both
  notifications, a shared file as resourceType "file";
- moving: its endPoint answers 404 and then moves: Spaceport reads the
  discovery again and delivers at the new endPoint; its discovery is
  down at first: the share waits and is delivered once it answers.

Every request a fake receives is checked against Zurich's public key as
Zurich's discovery publishes it (a small RFC 9421 verifier here: the
signature tagged "ocm", @method, @target-uri, content-digest,
content-length and content-type covered, the digest matching the body).
The discovery cache: many deliveries to one peer cost one fetch.

Between zurich and paris: a share from Zurich arrives at Paris, Paris
answers SHARE_ACCEPTED (recorded at Zurich); Marie removes the space at
Paris, which answers SHARE_DECLINED (recorded at Zurich, the share ends
there); Paris revoking nothing, Zurich's later changes no longer go out."""
import base64
import hashlib
import json
import re
import time

from cryptography.hazmat.primitives.serialization import load_pem_public_key

from harness import TAP, Issuer, Nats, wait_until
from natsclient import NatsClient
from ocmpeer import (ALL_NOTES, OcmPeer, einstein_and_marie, metric_sum, storage_change,
                     zurich_and_paris)

VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
EDITOR = 'fb6c3e19-e378-47e5-b277-9732f9de6e21'
T0 = '2026-11-24T08:00:00Z'


class Peer(OcmPeer):
    """A recording peer whose discovery document is doc(peer) and which
    counts discovery fetches. down: its discovery answers 503."""

    def __init__(self, doc, endpoint, domain):
        self.doc = doc
        self.fetches = 0
        self.down = False
        super().__init__(signs=False, endpoint=endpoint, domain=domain)

    def discovery(self):
        return self.doc(self)

    def _get(self, path):
        if path in ('/.well-known/ocm', '/ocm-provider'):
            self.fetches += 1
            if self.down:
                return self._json(503, {'message': 'down'})
        return super()._get(path)


def nextcloud(p):
    return {'enabled': True, 'apiVersion': '1.0-proposal1', 'version': '1.1.0',
            'endPoint': p.url + '/index.php/ocm', 'provider': 'Nextcloud 31.0.4',
            'resourceTypes': [{'name': 'file', 'shareTypes': ['user', 'group'],
                               'protocols': {'webdav': '/public.php/webdav/'}}],
            'capabilities': ['/notifications', 'shares', 'exchange-token'], 'publicKey': None}


def reva(p):
    proto = {'webdav': '/remote.php/dav/ocm/', 'webdav-receive': {'uri': 'absolute'}}
    return {'enabled': True, 'apiVersion': '1.3.0', 'endPoint': p.url + '/ocm/',
            'provider': 'reva',
            'resourceTypes': [{'name': n, 'shareTypes': ['user'], 'protocols': proto}
                              for n in ('file', 'folder')],
            'capabilities': ['invites', 'protocol-object', 'invite-wayf'],
            'criteria': ['must-invite']}


def opencloud(p):
    return {'enabled': True, 'apiVersion': '1.2.0', 'endPoint': p.url + '/ocm',
            'provider': 'reva',
            'resourceTypes': [{'name': 'file', 'shareTypes': ['user'],
                               'protocols': {'webdav': '/dav/ocm/'}}],
            'capabilities': ['invites', 'webdav-uri', 'protocol-object', 'invite-wayf'],
            'notificationTypes': ['SHARE_UNSHARED', 'RESOURCE_CHANGED',
                                  'SHARE_CHANGE_PERMISSION']}


def moving(p):
    return {'enabled': True, 'apiVersion': '1.2.2', 'endPoint': p.url + p.current,
            'resourceTypes': [{'name': 'folder', 'shareTypes': ['user'],
                               'protocols': {'webdav': '/dav/'}}],
            'capabilities': ['notifications', 'protocol-object'], 'notificationTypes': ALL_NOTES}


class Verifier:
    """RFC 9421 as a receiver checks Spaceport's signatures: the key is
    the one Spaceport's discovery publishes under the keyid signed."""

    REQUIRED = ('@method', '@target-uri')
    WITH_BODY = ('content-digest', 'content-length', 'content-type')

    def __init__(self, sp):
        doc = sp.get('/.well-known/ocm').json()
        self.keys = {k['keyId']: load_pem_public_key(k['publicKeyPem'].encode())
                     for k in doc.get('publicKeys', [])}

    def problems(self, method, url, headers, body):
        """Why the request is not validly signed ([] when it is)."""
        members = re.findall(r'([a-z*][a-z0-9_.*-]*)=(\([^)]*\)[^,]*)',
                             headers.get('signature-input', ''))
        tagged = [(l, v) for l, v in members if ';tag="ocm"' in v]
        if len(tagged) != 1:
            return ['%d signatures tagged ocm in %r' % (len(tagged),
                                                        headers.get('signature-input'))]
        label, value = tagged[0]
        covered = re.findall(r'"([^"]+)"', value[:value.index(')')])
        params = dict(re.findall(r';([a-z]+)=("[^"]*"|\d+)', value[value.index(')'):]))
        need = self.REQUIRED + (self.WITH_BODY if body else ())
        out = ['%s not covered' % c for c in need if c not in covered]
        created = int(params.get('created', '0'))
        if abs(time.time() - created) > 60:
            out.append('created %d is not now' % created)
        digest = 'sha-256=:%s:' % base64.b64encode(hashlib.sha256(body).digest()).decode()
        if body and headers.get('content-digest') != digest:
            out.append('Content-Digest does not match the body')
        keyid = params.get('keyid', '""')[1:-1]
        if keyid not in self.keys:
            return out + ['keyid %r is not a published key' % keyid]
        values = {'@method': method, '@target-uri': url}
        lines = []
        for c in covered:
            v = values.get(c, headers.get(c))
            if v is None:
                return out + ['%s is not in the request' % c]
            lines.append('"%s": %s\n' % (c, v))
        base = ''.join(lines) + '"@signature-params": ' + value
        sig = re.search(label + r'=:([^:]+):', headers.get('signature', ''))
        try:
            self.keys[keyid].verify(base64.b64decode(sig.group(1)), base.encode())
        except Exception as e:  # InvalidSignature, or no signature
            out.append('signature does not verify: %r' % e)
        return out


def all_signed(t, verifier, peers):
    bad, count = [], 0
    for p in peers:
        for path, headers, body in list(p.received):
            count += 1
            why = verifier.problems('POST', p.url + path, headers, body)
            if why:
                bad.append((p.url + path, why))
    t.ok(count > 0 and not bad, 'every request the peers received (%d) was signed by zurich\'s '
         'published key over the OCM profile, tagged ocm' % count, bad[:5])


def invite(client, drive, item, email, role=VIEWER):
    return client.call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (drive, item),
                       {'recipients': [{'email': email}], 'roles': [role]})


def new_drive(client, name):
    return client.call('POST', '/graph/v1.0/drives', {'name': name}).json()['id']


def sent_row(sp, share_id):
    rows = sp.db_rows('SELECT state, instance, answer FROM ocm_sent WHERE share_id = ?',
                      (share_id,))
    return rows[0] if rows else None


def check_nextcloud(t, ein, nc_peer):
    drive = new_drive(ein, 'For Nextcloud')
    r = invite(ein, drive, drive, 'ada@nc.test')
    t.eq(r.status, 200, 'einstein shares a folder with ada@nc.test: 200')
    hit = nc_peer.wait('/shares', timeout=10)
    doc = hit[2] if hit else {}
    proto = doc.get('protocol', {})
    t.ok(hit is not None, 'the share arrives at the endPoint nextcloud\'s discovery names '
         '(/index.php/ocm/shares), not at /ocm/shares', [p for p, _, _ in nc_peer.received])
    t.ok(proto.get('name') == 'webdav' and proto.get('options', {}).get('sharedSecret') and
         proto['options'].get('permissions') ==
         '{http://open-cloud-mesh.org/ns}share-permissions',
         'to an OCM 1.0 server: protocol {"name": "webdav", "options": {sharedSecret, '
         'permissions}}', proto)
    uri = proto.get('webdav', {}).get('uri', '')
    t.ok(uri.startswith('http://') and uri.endswith('/dav/spaces/' + drive) and
         proto['webdav'].get('sharedSecret') == proto['options'].get('sharedSecret'),
         'with the webdav object besides: an absolute uri and the same secret', proto)
    t.ok(doc.get('resourceType') == 'folder' and doc.get('owner', '').startswith('einstein@') and
         doc.get('sender') == doc.get('owner') and doc.get('senderDisplayName'),
         'a drive root is a folder; owner and sender are einstein@<zurich>', doc)


def check_reva(t, zurich, ein, nats, reva_peer):
    drive = new_drive(ein, 'For Reva')
    r = invite(ein, drive, drive, 'rosalind@reva.test')
    share_id = r.json()['value'][0]['id'] if r.status == 200 else ''
    t.eq(r.status, 200, 'einstein shares a folder with rosalind@reva.test: 200')
    hit = reva_peer.wait('/shares', timeout=10)
    doc = hit[2] if hit else {}
    proto = doc.get('protocol', {})
    t.ok(hit is not None and proto.get('name') == 'multi' and 'options' not in proto and
         proto.get('webdav', {}).get('uri', '').startswith('http://') and
         proto['webdav'].get('permissions') == ['read'],
         'to reva (1.3.0, webdav-receive absolute): {"name": "multi", "webdav": {absolute uri, '
         'permissions [read]}}, no options', proto)
    t.ok(wait_until(lambda: (sent_row(zurich, share_id) or ('',))[0] == 'shared', 5),
         'zurich: the share is recorded as taken by reva')
    after = len(reva_peer.received)
    with NatsClient(nats.url) as nc:
        storage_change(nc, drive, 'reva-1')
    r = ein.call('PATCH', '/graph/v1beta1/drives/%s/items/%s/permissions/%s' %
                 (drive, drive, share_id), {'roles': [EDITOR]})
    t.eq(r.status, 200, 'einstein makes rosalind an editor: 200')
    t.ok(wait_until(lambda: metric_sum(zurich, 'spaceport_ocm_deliveries_total{outcome="skipped"}')
                    >= 2, 5), 'zurich counts the change and the new role, which reva does not '
         'take, as skipped deliveries')
    r = ein.call('DELETE', '/graph/v1beta1/drives/%s/items/%s/permissions/%s' %
                 (drive, drive, share_id))
    t.eq(r.status, 204, 'einstein revokes the share: 204')
    hit = reva_peer.wait('/notifications', lambda d: d and
                         d.get('notificationType') == 'SHARE_UNSHARED', 10, after)
    note = hit[2] if hit else {}
    t.ok(note.get('providerId') == share_id and note.get('resourceType') == 'folder' and
         note.get('notification', {}).get('sharedSecret') ==
         (proto.get('webdav') or {}).get('sharedSecret'),
         'SHARE_UNSHARED reaches reva with the providerId and the share\'s secret', note)
    kinds = [json.loads(b).get('notificationType') for p, _, b in reva_peer.received[after:]
             if p.endswith('/notifications')]
    t.eq(kinds, ['SHARE_UNSHARED'], 'reva, which lists no notificationTypes, gets neither '
         'RESOURCE_CHANGED nor SHARE_CHANGE_PERMISSION: only the spec\'s SHARE_UNSHARED')
    return share_id


def check_opencloud(t, zurich, ein, nats, oc_peer):
    drive = new_drive(ein, 'For OpenCloud')
    item = drive + '!notes'
    with NatsClient(nats.url) as nc:
        ev = {'specversion': '1.0', 'id': 'oc-items-1', 'source': 'urn:test:storage',
              'type': 'spaceport.storage.changed', 'datacontenttype': 'application/json',
              'data': {'driveId': drive, 'eTag': 'oc-0', 'lastModifiedDateTime': T0,
                       'change': 'updated', 'items': [
                           {'id': item, 'parentId': drive, 'name': 'notes.txt',
                            'path': '/notes.txt', 'type': 'file', 'eTag': 'n1',
                            'lastModifiedDateTime': T0}]}}
        nc.publish('spaceport.storage.changed', ev,
                   headers={'Nats-Msg-Id': ev['id'],
                            'Content-Type': 'application/cloudevents+json'})
        nc.flush()
    time.sleep(0.5)
    r = invite(ein, drive, item, 'grace@oc.test')
    t.eq(r.status, 200, 'einstein shares the file notes.txt with grace@oc.test: 200')
    share_id = r.json()['value'][0]['id'] if r.status == 200 else ''
    hit = oc_peer.wait('/shares', timeout=10)
    doc = hit[2] if hit else {}
    proto = doc.get('protocol', {})
    t.ok(hit is not None and proto.get('name') == 'multi' and 'options' not in proto and
         proto.get('webdav', {}).get('uri') == item,
         'to opencloud (webdav-uri): a relative uri, the item id (its discovery\'s /dav/spaces/ '
         'prefix on zurich\'s origin reaches it)', proto)
    t.eq(doc.get('resourceType'), 'file', 'a file storage described is shared as a "file"')
    t.ok(wait_until(lambda: (sent_row(zurich, share_id) or ('',))[0] == 'shared', 5),
         'zurich: taken by opencloud')
    after = len(oc_peer.received)
    with NatsClient(nats.url) as nc:
        storage_change(nc, drive, 'oc-1')
    hit = oc_peer.wait('/notifications', lambda d: d and
                       d.get('notificationType') == 'RESOURCE_CHANGED', 10, after)
    t.ok(hit and hit[2].get('notification', {}).get('eTag') == 'oc-1' and
         hit[2].get('providerId') == share_id,
         'opencloud, which lists RESOURCE_CHANGED, gets it with the new eTag',
         hit[2] if hit else oc_peer.received[after:])
    r = ein.call('PATCH', '/graph/v1beta1/drives/%s/items/%s/permissions/%s' %
                 (drive, item, share_id), {'roles': [EDITOR]})
    t.eq(r.status, 200, 'einstein makes grace an editor: 200')
    hit = oc_peer.wait('/notifications', lambda d: d and
                       d.get('notificationType') == 'SHARE_CHANGE_PERMISSION', 10, after)
    note = hit[2] if hit else {}
    t.ok(note.get('providerId') == share_id and
         note.get('notification', {}).get('permissions') == ['read', 'write'] and
         note['notification'].get('sharedSecret') == proto['webdav'].get('sharedSecret'),
         'and SHARE_CHANGE_PERMISSION with the new permissions [read, write]', note)


def check_moving(t, zurich, ein, mv):
    mv.down = True
    drive = new_drive(ein, 'Moving')
    r = invite(ein, drive, drive, 'lise@moving.test')
    t.eq(r.status, 200, 'einstein shares with lise@moving.test while its discovery is down: 200')
    t.ok(wait_until(lambda: mv.fetches >= 1, 10), 'zurich asked for the discovery document')
    time.sleep(1.5)
    t.eq([p for p, _, _ in mv.received], [], 'nothing is sent while the discovery cannot be read')
    t.ok(metric_sum(zurich, 'spaceport_ocm_deliveries_total{outcome="retried"}') >= 1,
         'the delivery is retried')
    fetched = mv.fetches
    mv.down = False
    hit = mv.wait('/shares', timeout=30)
    t.ok(hit is not None and mv.fetches > fetched,
         'once the discovery answers, the share goes to the endPoint it names (/old/ocm)')
    # The endPoint moves: the old one answers 404 from now on.
    mv.current = '/new/ocm'
    mv.gone = '/old/ocm'
    fetched = mv.fetches
    r = invite(ein, drive, drive, 'otto@moving.test')
    t.eq(r.status, 200, 'einstein shares with otto@moving.test after the endPoint moved: 200')
    hit = mv.wait_path('/new/ocm/shares', timeout=30)
    t.ok(hit is not None and mv.fetches > fetched,
         'after a 404 from the old endPoint zurich reads the discovery again and delivers at '
         'the new one', (mv.fetches, [p for p, _, _ in mv.received]))


class MovingPeer(Peer):
    """Its endPoint is current; POSTs under gone answer 404."""

    def __init__(self):
        self.current = '/old/ocm'
        self.gone = None
        super().__init__(moving, '/old/ocm', 'moving.test')

    def _post(self, path, body, headers):
        if self.gone and path.startswith(self.gone + '/'):
            with self.cond:
                self.received.append((path, headers, body))
                self.cond.notify_all()
            return self._json(404, {'message': 'NOT_FOUND'})
        self.endpoint_path = self.current
        return super()._post(path, body, headers)

    def wait_path(self, path, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p == path for p, _, _ in self.received):
                return path
            time.sleep(0.1)
        return None


def check_cache(t, ein, reva_peer):
    before = reva_peer.fetches
    received = len(reva_peer.received)
    drive = new_drive(ein, 'Many')
    codes = [invite(ein, drive, drive, 'user%d@reva.test' % i).status for i in range(5)]
    t.eq(codes, [200] * 5, 'einstein shares a folder with five reva users: 200 each')
    t.ok(wait_until(lambda: len(reva_peer.received) >= received + 5, 10),
         'five more shares reach reva')
    t.eq(reva_peer.fetches - before, 0, 'and reva\'s discovery document, cached, was not '
         'fetched again for them (%d fetches in all)' % reva_peer.fetches)


def check_two_instances(t, zurich, paris, ein, marie_p):
    drive = new_drive(ein, 'To Paris')
    r = invite(ein, drive, drive, 'marie@paris.test')
    t.eq(r.status, 200, 'einstein shares a folder with marie@paris.test: 200')
    share_id = r.json()['value'][0]['id'] if r.status == 200 else ''
    t.ok(wait_until(lambda: sent_row(zurich, share_id) == ('shared', paris.url, 'accepted'), 15),
         'paris took the share and answered SHARE_ACCEPTED, signed: zurich recorded it',
         sent_row(zurich, share_id))
    spaces = [d for d in marie_p.get('/graph/v1.0/me/drives').json().get('value', [])
              if d.get('name') == 'To Paris']
    t.eq(len(spaces), 1, 'marie has the space at paris')
    r = marie_p.call('DELETE', '/graph/v1.0/drives/' + spaces[0]['id']) if spaces else None
    t.ok(r is not None and r.status == 204, 'marie removes it at paris: 204')
    t.ok(wait_until(lambda: sent_row(zurich, share_id) == ('refused', paris.url, 'declined'), 15),
         'paris answered SHARE_DECLINED: zurich recorded the decline and ended the share',
         sent_row(zurich, share_id))
    replies = paris.db_rows('SELECT instance, provider_id, answer FROM ocm_replies')
    t.ok((zurich.url, share_id, 'declined') in replies,
         'paris keeps only the sender, the providerId and its answer (no secret)', replies)


def run(t):
    nc_peer = Peer(nextcloud, '/index.php/ocm', 'nc.test')
    reva_peer = Peer(reva, '/ocm', 'reva.test')
    oc_peer = Peer(opencloud, '/ocm', 'oc.test')
    mv = MovingPeer()
    peers = (nc_peer, reva_peer, oc_peer, mv)
    try:
        with Nats() as nz, Nats() as np_, Issuer() as idz, Issuer() as idp:
            zurich, paris = zurich_and_paris(nz, np_, idz, idp, both_issuers=True,
                                             more_trusted=[p.url for p in peers])
            with zurich, paris:
                ein, marie_p = einstein_and_marie(zurich, paris, idz, idp)
                check_nextcloud(t, ein, nc_peer)
                check_reva(t, zurich, ein, nz, reva_peer)
                check_opencloud(t, zurich, ein, nz, oc_peer)
                check_cache(t, ein, reva_peer)
                check_moving(t, zurich, ein, mv)
                all_signed(t, Verifier(zurich), peers)
                check_two_instances(t, zurich, paris, ein, marie_p)
                t.eq(zurich.stop(), 0, 'zurich exits 0')
                t.eq(paris.stop(), 0, 'paris exits 0')
    finally:
        for p in peers:
            p.close()


if __name__ == '__main__':
    TAP().run(run)
