"""Open Cloud Mesh for the integration tests: the spec as a judge, RFC 9421
signatures as a peer makes them, and a recording peer on loopback.

- Spec: tests/data/ocm/spec.yaml (1.2.2, see tests/data/ocm/SOURCE), its
  components.schemas and the answer schemas of its paths, checked with
  python3-jsonschema; and the document's own example bodies.
- sign(): the signing profile instances use (RFC 9421 with an RFC 9530
  Content-Digest, tag "ocm"), with knobs to make it wrong on purpose.
- OcmPeer: another OCM server on loopback that Spaceport trusts. It serves
  a discovery document (with its public key when it signs), answers
  WebFinger for its e-mail domain, records every request it is sent
  (headers and body) and answers as a well-behaved peer does.
"""
import base64
import hashlib
import json
import os
import threading
import time
import urllib.parse
import uuid

import jsonschema
import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness import SOURCE_ROOT, Client, FakeServer, Spaceport

SPEC_PATH = os.path.join(SOURCE_ROOT, 'tests', 'data', 'ocm', 'spec.yaml')
HTTPSIG_DATA = os.path.join(SOURCE_ROOT, 'tests', 'data', 'httpsig')

# What the contract's signing profile covers; content-* only with a body.
COVERED = ('@method', '@target-uri', 'content-digest', 'content-length', 'content-type')
# Every notification type Spaceport's /ocm/notifications understands; a peer
# announcing these gets Spaceport's non-spec ones too.
ALL_NOTES = ['SHARE_ACCEPTED', 'SHARE_DECLINED', 'SHARE_UNSHARED', 'SHARE_CHANGE_PERMISSION',
             'RESHARE_CHANGE_PERMISSION', 'RESOURCE_CHANGED']


class Spec:
    """spec.yaml 1.2.2 as a judge of bodies."""

    def __init__(self, path=SPEC_PATH):
        with open(path, encoding='utf-8') as f:
            self.doc = yaml.safe_load(f)
        self.version = self.doc['info']['version']

    def _errors(self, schema, instance):
        # OpenAPI 3.0 schema objects read as JSON Schema draft 4; the whole
        # components section rides along so that local $refs resolve.
        root = dict(schema, components=self.doc['components'])
        v = jsonschema.Draft4Validator(root)
        return ['%s: %s' % ('/'.join(str(p) for p in e.path) or '(top)', e.message)
                for e in sorted(v.iter_errors(instance), key=lambda e: list(e.path))]

    def errors(self, name, instance):
        """Why instance is not a components.schemas[name] ([] when it is)."""
        return self._errors({'$ref': '#/components/schemas/%s' % name}, instance)

    def answer_errors(self, path, status, body):
        """Why body (bytes) is not what spec.yaml allows POST <endPoint>path
        to answer with status ([] when it is). A status the path does not
        list is an error; one listed without a content schema allows an
        empty body or a JSON object."""
        responses = self.doc['paths'][path]['post']['responses']
        answer = responses.get(str(status))
        if answer is None:
            return ['spec.yaml %s lists no %d answer (it lists %s)' %
                    (path, status, ', '.join(sorted(responses)))]
        try:
            doc = json.loads(body) if body else None
        except ValueError as e:
            return ['not JSON: %s: %r' % (e, body[:200])]
        schema = answer.get('content', {}).get('application/json', {}).get('schema')
        if schema is None:
            return [] if doc is None or isinstance(doc, dict) else ['not a JSON object: %r' % doc]
        if doc is None:
            return ['an empty body where spec.yaml names a schema']
        return self._errors(schema, doc)

    def property_examples(self, name):
        """The object made of the example of every property of
        components.schemas[name] (how the spec illustrates NewShare and
        AcceptedInvite)."""
        props = self.doc['components']['schemas'][name]['properties']
        return {k: p['example'] for k, p in props.items() if 'example' in p}

    def protocol_examples(self):
        """NewShare.protocol's examples, by name."""
        return self.doc['components']['schemas']['NewShare']['properties']['protocol']['example']

    def notification_examples(self):
        """NewNotification's examples, by name."""
        return self.doc['components']['schemas']['NewNotification']['example']


def content_digest(body):
    return 'sha-256=:%s:' % base64.b64encode(hashlib.sha256(body).digest()).decode()


class Key:
    """A signing key: ed25519 (made here) or rsa-pss-sha512 (the 2048-bit
    test key of tests/data/httpsig)."""

    def __init__(self, keyid, alg='ed25519'):
        self.keyid = keyid
        self.alg = alg
        if alg == 'ed25519':
            self.private = Ed25519PrivateKey.generate()
        else:
            with open(os.path.join(HTTPSIG_DATA, 'test-key-rsa2048.pem'), 'rb') as f:
                self.private = serialization.load_pem_private_key(f.read(), None)
        self.pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, data):
        if self.alg == 'ed25519':
            return self.private.sign(data)
        return self.private.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA512()),
                                                   salt_length=64), hashes.SHA512())

    def published(self):
        return {'keyId': self.keyid, 'publicKeyPem': self.pem, 'algorithm': self.alg}


def sign(key, method, url, body, content_type='application/json', created=None, tag='ocm',
         label='sig1', covered=None, signed_method=None, signed_url=None):
    """The headers that sign a request as the contract's profile does:
    Content-Digest, Signature-Input and Signature. signed_method and
    signed_url sign another method or URL than the request's (a forgery);
    tag=None leaves the tag out; covered replaces the component list."""
    body = body or b''
    values = {'@method': (signed_method or method).upper(), '@target-uri': signed_url or url}
    headers = {}
    if body:
        headers['Content-Digest'] = values['content-digest'] = content_digest(body)
        values['content-length'] = str(len(body))
        values['content-type'] = content_type
    if covered is None:
        covered = [c for c in COVERED if c in values]
    params = '(%s);created=%d;keyid="%s";alg="%s";nonce="%s"' % (
        ' '.join('"%s"' % c for c in covered), int(time.time()) if created is None else created,
        key.keyid, key.alg, uuid.uuid4().hex)
    if tag is not None:
        params += ';tag="%s"' % tag
    base = ''.join('"%s": %s\n' % (c, values[c]) for c in covered)
    base += '"@signature-params": ' + params
    headers['Signature-Input'] = '%s=%s' % (label, params)
    headers['Signature'] = '%s=:%s:' % (label, base64.b64encode(key.sign(base.encode())).decode())
    return headers


class OcmPeer:
    """A trusted OCM server on loopback. signs: it announces http-sig and
    publishes its keys (then Spaceport refuses its unsigned requests).
    endpoint: the path of its OCM API (not /ocm, so that a sender that does
    not read discovery misses it). domain: the e-mail domain its WebFinger
    answers for. api_version: what its discovery claims ("1.1.0": an OCM
    1.1 server, which takes only the legacy protocol form)."""

    def __init__(self, signs=True, endpoint='/remote/ocm', domain='peer.test', notes=ALL_NOTES,
                 rsa=False, api_version='1.2.2'):
        self.signs = signs
        self.api_version = api_version
        self.endpoint_path = endpoint
        self.domain = domain
        self.notes = list(notes)
        self.received = []  # (path, headers, body bytes)
        self.cond = threading.Condition()
        self.invite_answer = {'userID': 'richard', 'email': 'richard@' + domain,
                              'name': 'Richard Feynman'}
        self.server = FakeServer(self._get, self._post, post_headers=True)
        self.url = self.server.url
        self.authority = self.url.split('://', 1)[1]
        self.endpoint = self.url + endpoint
        self.key = Key(self.url + '/ocm#key1')
        self.rsa = Key(self.url + '/ocm#rsa1', 'rsa-pss-sha512') if rsa else None

    def discovery(self):
        doc = {'enabled': True, 'apiVersion': self.api_version, 'endPoint': self.endpoint,
               'provider': 'Test peer',
               'resourceTypes': [{'name': n, 'shareTypes': ['user'],
                                  'protocols': {'webdav': '/remote/dav/ocm/'}}
                                 for n in ('file', 'folder')],
               'capabilities': ['notifications', 'invites', 'webdav-uri', 'protocol-object'],
               'criteria': [], 'notificationTypes': self.notes}
        if self.signs:
            doc['capabilities'].append('http-sig')
            doc['publicKeys'] = [self.key.published()] + ([self.rsa.published()] if self.rsa else [])
        return doc

    @staticmethod
    def _json(status, doc):
        return status, json.dumps(doc).encode(), {'Content-Type': 'application/json'}

    def _get(self, path):
        if path in ('/.well-known/ocm', '/ocm-provider'):
            return self._json(200, self.discovery())
        if path.startswith('/.well-known/webfinger?'):
            query = urllib.parse.parse_qs(path.split('?', 1)[1])
            who = (query.get('resource') or [''])[0]
            if who.startswith('acct:') and who.endswith('@' + self.domain):
                return self._json(200, {'subject': who, 'links': []})
            return self._json(404, {})
        return self._json(404, {'message': 'NOT_FOUND'})

    def _post(self, path, body, headers):
        with self.cond:
            self.received.append((path, headers, body))
            self.cond.notify_all()
        tail = path[len(self.endpoint_path):] if path.startswith(self.endpoint_path) else None
        if tail == '/shares':
            return self._json(201, {'recipientDisplayName': 'Someone at the peer'})
        if tail == '/notifications':
            return self._json(201, {})
        if tail == '/invite-accepted':
            return self._json(200, self.invite_answer)
        return self._json(404, {'message': 'NOT_FOUND'})

    def wait(self, route, match=lambda doc: True, timeout=10.0, after=0):
        """The first request to <endPoint>route from index after on whose
        JSON body match is true: (headers, body bytes, doc), or None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for path, headers, body in self.received[after:]:
                    if path != self.endpoint_path + route:
                        continue
                    try:
                        doc = json.loads(body)
                    except ValueError:
                        doc = None
                    if match(doc):
                        return headers, body, doc
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def address(self, user):
        """An OCM address of a user here."""
        return '%s@%s' % (user, self.authority)

    def send(self, sp, path, doc, signed=True, key=None, **how):
        """POSTs doc (a dict, or raw bytes) to sp's path as this peer: signed
        with its key (or key) unless signed is false; how goes to sign()."""
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        headers = {'Content-Type': 'application/json'}
        if signed:
            headers.update(sign(key or self.key, 'POST', sp.url + path, body, **how))
        return sp.request('POST', path, body, headers)

    def close(self):
        self.server.close()


def metric_sum(sp, prefix):
    """The sum of the /metrics samples whose line starts with prefix (a name
    with its labels), 0 when none."""
    total = 0.0
    for line in sp.request('GET', '/metrics').body.decode().splitlines():
        if line.startswith(prefix):
            total += float(line.rsplit(' ', 1)[1])
    return total


def storage_change(nc, drive, etag, item='item-1'):
    """Publishes a storage provider's change of drive (a CloudEvent on
    spaceport.storage.changed) with the NatsClient nc."""
    ev = {'specversion': '1.0', 'id': str(uuid.uuid4()), 'source': 'urn:test:storage',
          'type': 'spaceport.storage.changed', 'datacontenttype': 'application/json',
          'data': {'driveId': drive, 'itemId': item, 'eTag': etag,
                   'lastModifiedDateTime': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                   'change': 'updated'}}
    nc.publish('spaceport.storage.changed', ev,
               headers={'Nats-Msg-Id': ev['id'], 'Content-Type': 'application/cloudevents+json'})
    nc.flush()


def parse_json(r):
    try:
        return json.loads(r.body) if r.body else None
    except ValueError:
        return None



def zurich_and_paris(nz, np_, idz, idp, both_issuers=False, more_trusted=()):
    """Two instances that trust each other (not started): zurich serves
    zurich.test with idz, paris paris.test with idp, each on its own bus.
    both_issuers: each also accepts the other's provider. more_trusted:
    further base URLs zurich trusts (fake peers)."""
    zi, pi = idz.url, idp.url
    if both_issuers:
        zi, pi = '%s,%s' % (idz.url, idp.url), '%s,%s' % (idp.url, idz.url)
    zurich = Spaceport(nats_url=nz.url, issuers=zi, env={'SPACEPORT_LOG_LEVEL': 'info'})
    paris = Spaceport(nats_url=np_.url, issuers=pi, env={'SPACEPORT_LOG_LEVEL': 'info'})
    zurich.env.update({'SPACEPORT_TRUSTED_INSTANCES': ','.join(list(more_trusted) + [paris.url]),
                       'SPACEPORT_DOMAIN_ISSUERS': 'zurich.test=' + idz.url})
    paris.env.update({'SPACEPORT_TRUSTED_INSTANCES': zurich.url,
                      'SPACEPORT_DOMAIN_ISSUERS': 'paris.test=' + idp.url})
    return zurich, paris


def einstein_and_marie(zurich, paris, idz, idp):
    """Einstein (a space admin) at the started zurich and Marie at paris,
    each provisioned."""
    ein = Client(zurich, idz.token('einstein-sub', 'einstein', 'Albert Einstein',
                                   email='einstein@zurich.test', roles=['spaceport-spaceadmin']))
    marie = Client(paris, idp.token('marie-sub', 'marie', 'Marie Curie',
                                    email='marie@paris.test'))
    ein.me()
    marie.me()
    return ein, marie
