#!/usr/bin/python3
"""Attacks on the requests between instances, by trusted instances.

paris is a real Spaceport; zurich and berlin are fakes on loopback, both in
paris's SPACEPORT_TRUSTED_INSTANCES, each publishing its own ed25519 key in
its OCM discovery. Marie registers at paris a space hosted at zurich, so
paris subscribes there (the fake records the clientState paris gave it).
Then:

- berlin, trusted and holding the subscription id and clientState (as a
  leak would give them), signs with its own key a notification for
  zurich's subscription: 404, nothing changes. Only zurich's own signature
  moves a space hosted at zurich (the control: 202, applied);
- berlin signs with its own key but names zurich's keyid: 401;
- a signed request whose URL carries a query the signature does not
  cover: 401, nothing changes (the query is not what was signed).

With OCM's signing profile (tests/integration/ocmpeer.py sign(): one
signature tagged "ocm" over @method and @target-uri):

- zurich's own is applied, also behind an untagged signature that is junk
  (the tagged one is read, not the first);
- one over the https URL of an http instance: 401 (@target-uri has the
  scheme); two signatures tagged ocm: 401;
- geneva publishes no PEM key, only a JWKS (capability http-sig) with a
  draft-05 keyid "<host>#key1": its signature verifies (the answer is
  zurich's subscription's 404, not 401), a tampered one does not;
- zurich rotates its key: the new keyid is accepted (its discovery is
  read again for a keyid it does not know), the retired one is not."""
import base64
import hashlib
import json
import time
import urllib.parse
import uuid

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from harness import TAP, Client, FakeServer, Issuer, Nats, Spaceport
from ocmpeer import sign as ocm_sign

NOTES = '/api/v1/federation/notifications'
DRIVE = 'c0ffee00-0000-4000-8000-000000000001'


class FakeInstance:
    """A trusted instance on loopback: publishes its key, answers a drive
    lookup and a subscription, and remembers the subscription requests."""

    def __init__(self):
        self.key = Ed25519PrivateKey.generate()
        self.subscriptions = []
        self.pem = self.key.public_key().public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
        self.server = FakeServer(self.get, self.post)
        self.url = self.server.url
        self.keyid = self.url + '/ocm#k1'

    @staticmethod
    def json(status, doc):
        return status, json.dumps(doc).encode(), {'Content-Type': 'application/json'}

    def rotate(self):
        """A new key under a new keyid; the old one is no longer published."""
        self.key = Ed25519PrivateKey.generate()
        self.pem = self.key.public_key().public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
        self.keyid = self.url + '/ocm#k2'

    def discovery(self):
        return {'enabled': True, 'apiVersion': '1.2.2', 'endPoint': self.url + '/ocm',
                'publicKey': {'keyId': self.keyid, 'publicKeyPem': self.pem}}

    def get(self, path):
        if path == '/.well-known/ocm':
            return self.json(200, self.discovery())
        if path.startswith('/graph/v1.0/drives/'):
            return self.json(200, {'id': path.rsplit('/', 1)[1], 'name': 'Fake',
                                   'root': {'eTag': '"e0"'}})
        return self.json(404, {})

    def post(self, path, body):
        if path != '/graph/v1.0/subscriptions':
            return self.json(404, {})
        doc = json.loads(body or b'{}')
        self.subscriptions.append(doc)
        return self.json(201, dict(doc, id='sub-%d' % len(self.subscriptions)))

    def close(self):
        self.server.close()


class JwksInstance(FakeInstance):
    """A draft-05 peer: announces http-sig, publishes its key only in
    /.well-known/jwks.json, under the keyid "<host:port>#key1"."""

    def __init__(self):
        super().__init__()
        self.keyid = self.url.split('://', 1)[1] + '#key1'

    def discovery(self):
        return {'enabled': True, 'apiVersion': '1.4.0', 'endPoint': self.url + '/ocm',
                'capabilities': ['http-sig']}

    def get(self, path):
        if path == '/.well-known/jwks.json':
            raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            x = base64.urlsafe_b64encode(raw).decode().rstrip('=')
            return self.json(200, {'keys': [{'kty': 'OKP', 'crv': 'Ed25519', 'kid': self.keyid,
                                             'x': x, 'alg': 'EdDSA', 'use': 'sig'}]})
        return super().get(path)


def ocm_headers(key, url, body, **how):
    """ocmpeer.sign()'s headers, with the Content-Type they sign."""
    return dict(ocm_sign(key, 'POST', url, body, **how), **{'Content-Type': 'application/json'})


class OcmKey:
    """An instance's ed25519 key as ocmpeer.sign() takes it."""

    def __init__(self, inst):
        self.keyid, self.alg, self.private = inst.keyid, 'ed25519', inst.key

    def sign(self, data):
        return self.private.sign(data)


def sign(key, keyid, authority, method, path, body):
    """RFC 9421 headers over @method @authority @path content-digest, as
    Spaceport signs."""
    digest = 'sha-256=:%s:' % base64.b64encode(hashlib.sha256(body).digest()).decode()
    fields = {'@method': method, '@authority': authority, '@path': path,
              'content-digest': digest}
    covered = list(fields)
    params = '(%s);created=%d;nonce="%s";keyid="%s";alg="ed25519"' % (
        ' '.join('"%s"' % c for c in covered), int(time.time()), uuid.uuid4().hex, keyid)
    base = ''.join('"%s": %s\n' % (c, fields[c]) for c in covered)
    base += '"@signature-params": ' + params
    return {'Content-Type': 'application/json', 'Content-Digest': digest,
            'Signature-Input': 'sig1=' + params,
            'Signature': 'sig1=:%s:' % base64.b64encode(key.sign(base.encode())).decode()}


def note(sub_id, state, etag, seq):
    return json.dumps({'value': [{
        'subscriptionId': sub_id, 'clientState': state, 'changeType': 'updated',
        'resource': 'drives/' + DRIVE, 'sequenceNumber': seq,
        'resourceData': {'@odata.type': '#microsoft.graph.drive', 'id': DRIVE,
                         'eTag': etag}}]}).encode()


def main(t):
    zurich, berlin, geneva = FakeInstance(), FakeInstance(), JwksInstance()
    try:
        with Nats() as nats, Issuer() as idp:
            paris = Spaceport(nats_url=nats.url, issuers=idp.url, env={
                'SPACEPORT_TRUSTED_INSTANCES': ','.join(
                    (zurich.url, berlin.url, geneva.url))})
            with paris:
                run(t, paris, zurich, berlin, idp)
                run_ocm_profile(t, paris, zurich, geneva)
    finally:
        zurich.close()
        berlin.close()
        geneva.close()


def run(t, paris, zurich, berlin, idp):
    marie = Client(paris, idp.token('marie-sub', 'marie', 'Marie'))
    r = marie.call('POST', '/graph/v1.0/me/drives', {
        'driveType': 'mountpoint', 'name': 'At Zurich',
        'root': {'remoteItem': {'webDavUrl': zurich.url + '/dav/spaces/' + DRIVE}}})
    t.eq(r.status, 201, 'paris: Marie registers a space hosted at zurich')
    remote_id = r.json().get('id') if r.status == 201 else ''
    t.eq(len(zurich.subscriptions), 1, 'paris subscribed at zurich for her')
    state = zurich.subscriptions[0].get('clientState', '') if zurich.subscriptions else ''
    sub_id = 'sub-1'
    authority = urllib.parse.urlsplit(paris.url).netloc

    def etags():
        return [json.loads(d)['eTag'] for (d,) in paris.db_rows(
            "SELECT data FROM events WHERE type = 'spaceport.remote.changed' AND subject = ?"
            " ORDER BY seq", (remote_id,))]

    # berlin is trusted, and knows zurich's subscription id and clientState.
    body = note(sub_id, state, 'by-berlin', 5)
    r = paris.request('POST', NOTES, body,
                      sign(berlin.key, berlin.keyid, authority, 'POST', NOTES, body))
    t.eq(r.status, 404, "berlin's signed notification for zurich's subscription: 404")
    t.eq(etags(), [], 'and it changed nothing')
    r = paris.request('POST', NOTES, body,
                      sign(berlin.key, zurich.keyid, authority, 'POST', NOTES, body))
    t.eq(r.status, 401, "berlin's key under zurich's keyid: 401")

    # A query the signature does not cover.
    body = note(sub_id, state, 'with-query', 6)
    r = paris.request('POST', NOTES + '?x=1', body,
                      sign(zurich.key, zurich.keyid, authority, 'POST', NOTES, body))
    t.eq(r.status, 401, 'zurich\'s signed notification with a query it did not sign: 401')
    t.eq(etags(), [], 'and it changed nothing')

    # The control: zurich's own signature over the same kind of request.
    body = note(sub_id, state, 'by-zurich', 7)
    r = paris.request('POST', NOTES, body,
                      sign(zurich.key, zurich.keyid, authority, 'POST', NOTES, body))
    t.eq(r.status, 202, "zurich's signed notification for its subscription: 202")
    t.eq(etags(), ['by-zurich'], 'and it is applied')


def run_ocm_profile(t, paris, zurich, geneva):
    remote_id = paris.db_rows('SELECT id FROM remotes')[0][0]
    state = zurich.subscriptions[0].get('clientState', '') if zurich.subscriptions else ''
    url = paris.url + NOTES
    seq = [100]

    def etags():
        return [json.loads(d)['eTag'] for (d,) in paris.db_rows(
            "SELECT data FROM events WHERE type = 'spaceport.remote.changed' AND subject = ?"
            " ORDER BY seq", (remote_id,))]

    def post(inst, etag, key=None, **how):
        seq[0] += 1
        body = note('sub-1', state, etag, seq[0])
        return paris.request('POST', NOTES, body, ocm_headers(key or OcmKey(inst), url, body, **how))

    r = post(zurich, 'ocm-1')
    t.eq(r.status, 202, 'zurich signs with the OCM profile (tag ocm, @target-uri): 202')
    t.eq(etags()[-1:], ['ocm-1'], 'and it is applied')

    seq[0] += 1
    body = note('sub-1', state, 'behind-junk', seq[0])
    h = ocm_headers(OcmKey(zurich), url, body, label='sig2')
    h['Signature-Input'] = 'sig1=("@method");keyid="%s";created=1, %s' % (
        zurich.keyid, h['Signature-Input'])
    h['Signature'] = 'sig1=:AAAA:, ' + h['Signature']
    r = paris.request('POST', NOTES, body, h)
    t.eq(r.status, 202, 'behind an untagged junk signature, the one tagged ocm is read: 202')

    r = post(zurich, 'https-url', signed_url='https://' + url.split('://', 1)[1])
    t.eq(r.status, 401, 'a signature over the https URL of this http instance: 401')

    seq[0] += 1
    body = note('sub-1', state, 'two-tagged', seq[0])
    h1 = ocm_headers(OcmKey(zurich), url, body, label='sig1')
    h2 = ocm_headers(OcmKey(zurich), url, body, label='sig2')
    h1['Signature-Input'] += ', ' + h2['Signature-Input']
    h1['Signature'] += ', ' + h2['Signature']
    r = paris.request('POST', NOTES, body, h1)
    t.eq(r.status, 401, 'two signatures tagged ocm (both valid): 401')
    t.ok('two-tagged' not in etags() and 'https-url' not in etags(),
         'and neither refused request changed anything')

    r = post(geneva, 'by-geneva')
    t.eq(r.status, 404, 'geneva (key only in its JWKS, draft-05 keyid host#key1) is verified: '
         'the answer is that zurich\'s subscription is not its (404), not 401')
    r = post(geneva, 'geneva-forged', signed_method='PUT')
    t.eq(r.status, 401, 'a geneva signature over another method: 401')

    old = OcmKey(zurich)
    zurich.rotate()
    time.sleep(5.2)  # discovery is read again on an unknown keyid at most every 5 s
    r = post(zurich, 'rotated')
    t.eq(r.status, 202, 'zurich rotated its key: the new keyid is accepted (discovery read again)')
    r = post(zurich, 'old-key', key=old)
    t.eq(r.status, 401, 'the retired key, no longer published: 401')
    t.eq(etags()[-2:], ['behind-junk', 'rotated'], 'only the accepted ones changed the space')


if __name__ == '__main__':
    TAP().run(main)
