#!/usr/bin/python3
"""Open Cloud Mesh as a receiver: what another instance may announce to
Spaceport (POST /ocm/shares, /ocm/notifications), in the forms current
peers send, and what it may not.

The real program trusts four peers on loopback (ocmpeer.OcmPeer):
- signer: announces http-sig and publishes its ed25519 key (it must sign);
- plain: signs nothing (as Reva and released Nextcloud), so it may send
  unsigned requests;
- legacy: an OCM 1.0 server as Nextcloud's discovery describes it
  (apiVersion 1.0-proposal1, a "version" member, WebDAV at
  /public.php/webdav/), unsigned;
- down: nothing listens there, so its discovery cannot be read.
A second Spaceport runs with SPACEPORT_OCM_REQUIRE_SIGNATURES.

Each check is an attack or a regression it prevents: a share taking over
another share's remote space (the binding takeover of issue 19), a share
whose WebDAV URI points off the sender's instance, a requirement silently
ignored, an unsigned request in the name of a peer that signs, an unsigned
caller learning whether an address belongs to a user here, a notification
reaching a share of another instance, a wrong secret told apart from an
unknown share."""
import base64
import hashlib
import json
import os
import time
import uuid

from harness import TAP, Client, Issuer, Nats, Spaceport, free_port, wait_until
from ocmpeer import OcmPeer, Spec, parse_json, sign


class LegacyPeer(OcmPeer):
    """An OCM 1.0 server: Nextcloud's discovery (no endPoint version 1.2
    words, WebDAV for the share token at /public.php/webdav/)."""

    def discovery(self):
        return {'enabled': True, 'apiVersion': '1.0-proposal1', 'version': '1.1.0',
                'endPoint': self.endpoint, 'provider': 'Nextcloud 31',
                'resourceTypes': [{'name': 'file', 'shareTypes': ['user', 'group'],
                                   'protocols': {'webdav': '/public.php/webdav/'}}],
                'capabilities': ['notifications', 'shares'],
                # Released Nextcloud publishes its draft-cavage key so.
                'publicKey': {'keyId': self.url + '/ocm#signature',
                              'publicKeyPem': CAVAGE_PEM}}


CAVAGE_PEM = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data',
                               'httpsig', 'test-key-ed25519.pub.pem')).read()


def cavage(peer, body):
    """The headers of a draft-cavage signature as released Nextcloud sends
    them (Signature without Signature-Input): not RFC 9421, not read."""
    digest = base64.b64encode(hashlib.sha512(body).digest()).decode()
    return {'Date': time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime()),
            'Digest': 'SHA-512=' + digest,
            'Signature': 'keyId="%s/ocm#signature",algorithm="rsa-sha512",headers="(request-'
                         'target) content-length date digest host",signature="%s"' % (
                             peer.url, base64.b64encode(b'x' * 256).decode())}


def secret():
    return uuid.uuid4().hex + uuid.uuid4().hex


def share(peer, share_with, uri=None, protocol=None, **over):
    """A share as the spec's multi form writes it, from peer's user einstein."""
    body = {'shareWith': share_with, 'name': 'Photons', 'description': '',
            'providerId': str(uuid.uuid4()), 'owner': peer.address('einstein'),
            'sender': peer.address('einstein'), 'ownerDisplayName': 'Albert Einstein',
            'senderDisplayName': 'Albert Einstein', 'shareType': 'user',
            'resourceType': 'folder',
            'protocol': protocol or {'name': 'multi', 'webdav': {
                'uri': uri or str(uuid.uuid4()), 'sharedSecret': secret(),
                'permissions': ['read', 'write']}}}
    body.update(over)
    return body


def webdav(body):
    return body['protocol'].get('webdav', {})


def note(kind, provider_id, **n):
    body = {'notificationType': kind, 'resourceType': 'folder', 'providerId': provider_id}
    if n:
        body['notification'] = n
    return body


def remotes(client):
    r = client.get('/graph/v1.0/me/drives')
    return [d for d in (r.json().get('value', []) if r.status == 200 else [])
            if d.get('driveType') == 'mountpoint']


def urls(client):
    return sorted(d['root'].get('webDavUrl') for d in remotes(client))


def events(sp, type_, since=0):
    return [json.loads(d) for (d,) in sp.db_rows(
        'SELECT data FROM events WHERE type = ? AND seq > ? ORDER BY seq', (type_, since))]


def last_seq(sp):
    return sp.db_rows('SELECT coalesce(max(seq), 0) FROM events')[0][0]


def validation(r):
    d = parse_json(r) or {}
    return [(v.get('name'), v.get('message')) for v in d.get('validationErrors', [])]


def check_forms(t, sp, signer, plain, legacy, marie):
    """Every form peers send, and where each one's space ends up."""
    seq = last_seq(sp)
    b = share(signer, 'marie@sp.test', resourceType='file')
    r = signer.send(sp, '/ocm/shares', b)
    t.ok(r.status == 201 and parse_json(r) == {'recipientDisplayName': 'Marie'},
         'multi with a relative uri, a file, signed: 201 naming the recipient',
         (r.status, r.body[:300]))
    want = signer.url + '/remote/dav/ocm/' + webdav(b)['uri']
    t.ok(want in urls(marie), 'the relative uri lies under the WebDAV root the sender\'s '
         'discovery names, on its endPoint\'s host: %s' % want, urls(marie))
    reg = events(sp, 'spaceport.remote.registered', seq)
    t.ok(reg and reg[-1].get('permissions') == ['read', 'write'] and
         reg[-1].get('resourceType') == 'file' and reg[-1].get('ocmShareId') == b['providerId'],
         'remote.registered carries the share\'s permissions and resource type', reg[-1:])

    abs_uri = signer.url + '/remote/dav/ocm/' + str(uuid.uuid4())
    b = share(signer, 'marie@sp.test', protocol={'name': 'webdav', 'webdav': {
        'uri': abs_uri, 'sharedSecret': secret(), 'permissions': ['read']}})
    t.eq(signer.send(sp, '/ocm/shares', b).status, 201,
         'name webdav with a webdav object and an absolute uri on the sender: 201')
    t.ok(abs_uri in urls(marie), 'the absolute uri is the space\'s URL as sent', urls(marie))

    # Nextcloud's OCM 1.0 body: options.sharedSecret, no uri, sharedBy for the sender.
    b = share(legacy, 'marie@sp.test', resourceType='file', protocol={
        'name': 'webdav', 'options': {
            'sharedSecret': 'abcdefghijklmno',
            'permissions': '{http://open-cloud-mesh.org/ns}share-permissions'}})
    b['sharedBy'] = b.pop('sender')
    raw = json.dumps(b).encode()
    r = sp.request('POST', '/ocm/shares', raw,
                   dict(cavage(legacy, raw), **{'Content-Type': 'application/json'}))
    t.ok(r.status == 201 and parse_json(r) == {},
         'Nextcloud\'s legacy form (options.sharedSecret, sharedBy), signed draft-cavage '
         '(not read: an unsigned request from a peer that does not sign RFC 9421): 201 {}',
         (r.status, r.body[:300]))
    t.ok(legacy.url + '/public.php/webdav/' in urls(marie),
         'without a uri the space is the sender\'s WebDAV root (the secret is its user)',
         urls(marie))

    # OpenCloud writes owner and sender as <uuid>@<issuer URL>@<host>.
    b = share(plain, 'marie@sp.test')
    b['owner'] = b['sender'] = '%s@https://idp.plain.test@%s' % (uuid.uuid4(), plain.authority)
    r = plain.send(sp, '/ocm/shares', b, signed=False)
    t.eq(r.status, 201, 'OpenCloud\'s uuid@https://issuer@host sender: 201 (the host is after '
         'the last @)')
    # Nextcloud may put a scheme before the host.
    b = share(plain, 'marie@sp.test', sender='einstein@http://' + plain.authority)
    t.eq(plain.send(sp, '/ocm/shares', b, signed=False).status, 201,
         'a sender written user@http://host: 201')

    b = share(signer, 'marie@sp.test', expiration=int(time.time()) + 86400)
    t.eq(signer.send(sp, '/ocm/shares', b).status, 201, 'an expiration in the future: 201')

    spec = Spec()
    ex = spec.property_examples('NewShare')
    here = sp.url.split('://', 1)[1]
    for k in ('owner', 'sender'):
        ex[k] = ex[k].rsplit('@', 1)[0] + '@' + signer.authority
    ex['shareWith'] = 'marie@' + here
    ex['providerId'] = str(uuid.uuid4())  # the example's own id may be taken by another test
    ex['protocol'] = spec.protocol_examples()['singleProtocolNew']
    r = signer.send(sp, '/ocm/shares', ex)
    t.eq(r.status, 201, 'the spec\'s example share (1.2.2 NewShare, hosts replaced): 201')


def check_refusals(t, sp, signer, plain, marie):
    """Shares that must not be taken, each with the spec's status and a
    validation error naming the field."""
    before = urls(marie)
    here = 'marie@sp.test'
    cases = [
        ('a uri on another trusted instance than the sender\'s',
         share(signer, here, uri=plain.url + '/remote/dav/ocm/x'), 400,
         ('protocol.webdav.uri', 'INVALID')),
        ('a relative uri climbing out of the WebDAV root',
         share(signer, here, uri='x/../../../graph/v1.0/me'), 400,
         ('protocol.webdav.uri', 'INVALID')),
        ('a relative uri starting at the host\'s root', share(signer, here, uri='/etc'), 400,
         ('protocol.webdav.uri', 'INVALID')),
        ('an absolute uri on an untrusted host',
         share(signer, here, uri='https://evil.example/dav/x'), 400,
         ('protocol.webdav.uri', 'INVALID')),
        ('requirements must-use-mfa', share(signer, here, protocol={'name': 'multi', 'webdav': {
            'uri': 'x', 'sharedSecret': secret(), 'permissions': ['read'],
            'requirements': ['must-use-mfa']}}), 400,
         ('protocol.webdav.requirements', 'NOT_SUPPORTED')),
        ('requirements must-exchange-token',
         share(signer, here, protocol={'name': 'multi', 'webdav': {
             'uri': 'x', 'sharedSecret': secret(), 'permissions': ['read'],
             'requirements': ['must-exchange-token']}}), 400,
         ('protocol.webdav.requirements', 'NOT_SUPPORTED')),
        ('a permission OCM does not define',
         share(signer, here, protocol={'name': 'multi', 'webdav': {
             'uri': 'x', 'sharedSecret': secret(), 'permissions': ['read', 'delete']}}), 400,
         ('protocol.webdav.permissions', 'INVALID')),
        ('no shared secret', share(signer, here, protocol={'name': 'multi', 'webdav': {
            'uri': 'x', 'permissions': ['read']}}), 400,
         ('protocol.webdav.sharedSecret', 'REQUIRED')),
        ('an expiration in the past', share(signer, here, expiration=int(time.time()) - 60), 400,
         ('expiration', 'INVALID')),
        # times 1000 it overflowed int64 into a time in the future
        ('an expiration far in the past', share(signer, here, expiration=-9300000000000000),
         400, ('expiration', 'INVALID')),
        ('no providerId', share(signer, here, providerId=''), 400, ('providerId', 'REQUIRED')),
        ('shareType group', share(signer, here, shareType='group'), 501, None),
        ('shareType federation', share(signer, here, shareType='federation'), 501, None),
        ('resourceType calendar', share(signer, here, resourceType='calendar'), 501, None),
        ('only a webapp protocol', share(signer, here, protocol={'name': 'multi', 'webapp': {
            'uri': 'x', 'sharedSecret': secret(), 'viewMode': 'read'}}), 501, None),
        ('protocol ssh', share(signer, here, protocol={'name': 'ssh', 'ssh': {'uri': 'x'}}),
         501, None),
    ]
    for what, b, status, field in cases:
        r = signer.send(sp, '/ocm/shares', b)
        d = parse_json(r) or {}
        t.ok(r.status == status and isinstance(d.get('message'), str) and 'error' not in d and
             (field is None or field in validation(r)),
             'refused, %s: %d with the spec\'s error form%s' %
             (what, status, ' naming %s %s' % field if field else ''), (r.status, r.body[:300]))
    b = share(signer, here, protocol={'name': 'multi', 'webdav': {
        'uri': 'empty-requirements', 'sharedSecret': secret(), 'permissions': ['read'],
        'requirements': []}})
    t.eq(signer.send(sp, '/ocm/shares', b).status, 201, 'an empty requirements list: 201')
    r = signer.send(sp, '/ocm/shares', b'{"shareWith":')
    t.ok(r.status == 400 and 'message' in (parse_json(r) or {}),
         'malformed JSON: 400 with a message', r.body[:200])
    t.eq(urls(marie), sorted(before + [signer.url + '/remote/dav/ocm/empty-requirements']),
         'none of the refused shares made a remote space')


def check_binding(t, sp, signer, plain, marie):
    """Two shares of the same folder are two remote spaces; neither takes
    the other's, and each one's SHARE_UNSHARED still works."""
    folder = 'same-folder-' + uuid.uuid4().hex
    first = share(signer, 'marie@sp.test', uri=folder)
    second = share(signer, 'marie@sp.test', uri=folder)
    t.eq(signer.send(sp, '/ocm/shares', first).status, 201, 'the first share of a folder: 201')
    t.eq(signer.send(sp, '/ocm/shares', second).status, 201,
         'a second share of the same folder, another providerId: 201')
    url = signer.url + '/remote/dav/ocm/' + folder
    t.eq(urls(marie).count(url), 2, 'two remote spaces, one per share')
    r = signer.send(sp, '/ocm/shares', first)
    t.eq(r.status, 201, 'the first share again (a redelivery): 201')
    t.eq(urls(marie).count(url), 2, 'and still two')
    again = dict(first, protocol={'name': 'multi', 'webdav': dict(webdav(first),
                                                                 sharedSecret=secret())})
    r = signer.send(sp, '/ocm/shares', again)
    t.ok(r.status == 400 and ('providerId', 'INVALID') in validation(r),
         'the first share\'s providerId with another secret, signed: 400 providerId INVALID',
         (r.status, r.body[:300]))
    r = signer.send(sp, '/ocm/notifications', note('SHARE_UNSHARED', first['providerId']))
    t.eq(r.status, 201, 'the first share\'s SHARE_UNSHARED: 201 (it was not taken over)')
    t.eq(urls(marie).count(url), 1, 'one remote space left')
    r = signer.send(sp, '/ocm/notifications', note('SHARE_UNSHARED', second['providerId']))
    t.eq(r.status, 201, 'the second share\'s SHARE_UNSHARED: 201')
    t.eq(urls(marie).count(url), 0, 'none left')


def check_no_oracle(t, sp, signer, plain, marie):
    """Unsigned callers learn nothing about the users here; signed ones
    learn what the spec says they may."""
    seen = {}
    before = len(urls(marie))
    for who in ('marie@sp.test', 'nobody@sp.test', 'twin@sp.test',
                'marie@' + sp.url.split('://', 1)[1], 'nobody@' + sp.url.split('://', 1)[1]):
        r = plain.send(sp, '/ocm/shares', share(plain, who), signed=False)
        seen[who] = (r.status, r.body, r.headers.get('content-type'))
    t.ok(len(set(seen.values())) == 1 and list(seen.values())[0][:2] == (201, b'{}'),
         'unsigned: a known, an unknown and an ambiguous recipient get the same 201 {}', seen)
    t.eq(len(urls(marie)), before + 2, 'only the two addresses of Marie made remote spaces')
    rows = sp.db_rows("SELECT count(*) FROM remotes r JOIN users u ON u.seq = r.owner_seq"
                      " WHERE u.username = 'twin'")
    t.eq(rows, [(0,)], 'and the ambiguous one made nothing for either twin')
    r = signer.send(sp, '/ocm/shares', share(signer, 'nobody@sp.test'))
    t.ok(r.status == 400 and ('shareWith', 'NOT_FOUND') in validation(r),
         'signed, an unknown recipient: 400 shareWith NOT_FOUND', (r.status, r.body[:300]))
    r = signer.send(sp, '/ocm/shares', share(signer, 'twin@sp.test'))
    t.ok(r.status == 400 and ('shareWith', 'AMBIGUOUS') in validation(r),
         'signed, an address of two users: 400 shareWith AMBIGUOUS', (r.status, r.body[:300]))
    # Someone naming the signing peer's host as sender, without its key.
    r = plain.send(sp, '/ocm/shares', share(signer, 'marie@sp.test'), signed=False)
    t.ok(r.status == 401 and 'recipientDisplayName' not in r.body.decode(),
         'unsigned in the name of a peer that signs: 401, no name', (r.status, r.body[:300]))
    t.ok(r.headers.get('www-authenticate', '').startswith('Signature'),
         'the 401 asks for a signature', r.headers)


def check_signatures(t, sp, strict, signer, plain, down, marie):
    """A signature proves the sender; a peer that signs must; an operator
    may require it of every peer."""
    b = share(signer, 'marie@sp.test')
    tampered = json.dumps(dict(b, shareWith='twin@sp.test')).encode()
    headers = {'Content-Type': 'application/json'}
    headers.update(sign(signer.key, 'POST', sp.url + '/ocm/shares', json.dumps(b).encode()))
    r = sp.request('POST', '/ocm/shares', tampered, headers)
    t.eq(r.status, 401, 'a signed share whose body was changed on the way: 401')
    b = share(plain, 'marie@sp.test')
    r = signer.send(sp, '/ocm/shares', b)
    t.eq(r.status, 401, 'signed by one trusted peer for a sender at another: 401')
    b = share(signer, 'marie@sp.test', sender='mallory@evil.example')
    r = signer.send(sp, '/ocm/shares', b)
    t.eq(r.status, 403, 'signed, but the sender is on no trusted instance: 403')
    r = plain.send(sp, '/ocm/shares', share(plain, 'marie@sp.test', sender='x@' + down,
                                            owner='x@' + down), signed=False)
    t.ok(r.status == 503 and r.headers.get('retry-after', '').isdigit() and
         'message' in (parse_json(r) or {}),
         'unsigned from a peer whose discovery cannot be read: 503 with Retry-After',
         (r.status, r.headers, r.body[:200]))

    d = parse_json(strict.get('/.well-known/ocm')) or {}
    t.eq(d.get('criteria'), ['http-request-signatures'],
         'SPACEPORT_OCM_REQUIRE_SIGNATURES: discovery lists the criterion')
    t.eq((parse_json(sp.get('/.well-known/ocm')) or {}).get('criteria'), [],
         'without it, no criteria')
    r = plain.send(strict, '/ocm/shares', share(plain, 'marie@sp.test'), signed=False)
    t.eq(r.status, 401, 'SPACEPORT_OCM_REQUIRE_SIGNATURES: an unsigned share of a peer that does '
         'not sign: 401')
    r = plain.send(strict, '/ocm/notifications', note('SHARE_UNSHARED', 'x', sharedSecret='y' * 20),
                   signed=False)
    t.eq(r.status, 401, 'and an unsigned notification: 401')
    r = signer.send(strict, '/ocm/shares', share(signer, 'marie@sp.test'))
    t.eq(r.status, 201, 'a signed share there: 201')


def check_notifications(t, sp, signer, plain, marie):
    """Every notification type, matched by signer or by secret."""
    s_share = share(signer, 'marie@sp.test')
    p_share = share(plain, 'marie@sp.test')
    t.eq(signer.send(sp, '/ocm/shares', s_share).status, 201, 'a share from the signing peer')
    t.eq(plain.send(sp, '/ocm/shares', p_share, signed=False).status, 201,
         'a share from the peer that does not sign')
    s_pid, p_pid = s_share['providerId'], p_share['providerId']
    p_secret, s_secret = webdav(p_share)['sharedSecret'], webdav(s_share)['sharedSecret']

    seq = last_seq(sp)
    r = signer.send(sp, '/ocm/notifications', note('RESOURCE_CHANGED', s_pid, eTag='e-1'))
    t.eq(r.status, 201, 'RESOURCE_CHANGED signed by the share\'s instance, no secret: 201')
    ch = events(sp, 'spaceport.remote.changed', seq)
    t.ok(len(ch) == 1 and ch[0].get('eTag') == 'e-1' and ch[0].get('change') == 'updated',
         'it wrote remote.changed with the eTag', ch)

    seq = last_seq(sp)
    r = signer.send(sp, '/ocm/notifications', note('SHARE_CHANGE_PERMISSION', s_pid,
                                                   permissions=['read']))
    t.eq(r.status, 201, 'SHARE_CHANGE_PERMISSION (Reva: a permissions list), signed: 201')
    ch = events(sp, 'spaceport.remote.changed', seq)
    t.ok(len(ch) == 1 and ch[0].get('change') == 'permissions' and
         ch[0].get('permissions') == ['read'],
         'remote.changed names the new permissions', ch)
    t.eq(sp.db_rows('SELECT permissions FROM remotes WHERE ocm_share_id = ?', (s_pid,)),
         [('read',)], 'and the space keeps them')
    r = signer.send(sp, '/ocm/notifications', note('SHARE_CHANGE_PERMISSION', s_pid,
                                                   permissions=['read']))
    t.ok(r.status == 201 and len(events(sp, 'spaceport.remote.changed', seq)) == 1,
         'the same permissions again: 201 and no second event', r.status)

    seq = last_seq(sp)
    r = plain.send(sp, '/ocm/notifications', note('RESHARE_CHANGE_PERMISSION', p_pid,
                                                  sharedSecret=p_secret, permission=1),
                   signed=False)
    t.eq(r.status, 201, 'RESHARE_CHANGE_PERMISSION (Nextcloud: an OCS mask, 1 = read), unsigned '
         'with the secret: 201')
    r = plain.send(sp, '/ocm/notifications', note('RESHARE_CHANGE_PERMISSION', p_pid,
                                                  sharedSecret=p_secret, permission='15'),
                   signed=False)
    t.eq(r.status, 201, 'and back to read and write (mask 15, as a string): 201')
    ch = events(sp, 'spaceport.remote.changed', seq)
    t.eq([c.get('permissions') for c in ch], [['read'], ['read', 'write']],
         'each change wrote remote.changed with its permissions')
    r = plain.send(sp, '/ocm/notifications', note('SHARE_CHANGE_PERMISSION', p_pid,
                                                  sharedSecret=p_secret, permissions=['fly']),
                   signed=False)
    t.ok(r.status == 400 and ('notification.permissions', 'INVALID') in validation(r),
         'a permission OCM does not define: 400', (r.status, r.body[:200]))

    # What a caller may not reach.
    wrong = plain.send(sp, '/ocm/notifications', note('RESOURCE_CHANGED', p_pid,
                                                      sharedSecret='w' * 32), signed=False)
    unknown = plain.send(sp, '/ocm/notifications', note('RESOURCE_CHANGED', str(uuid.uuid4()),
                                                        sharedSecret=p_secret), signed=False)
    t.ok(wrong.status == unknown.status == 403 and wrong.body == unknown.body and
         parse_json(wrong) == {'message': 'RESOURCE_NOT_FOUND'},
         'a wrong secret and an unknown share: the same 403 RESOURCE_NOT_FOUND',
         (wrong.status, wrong.body, unknown.status, unknown.body))
    r = signer.send(sp, '/ocm/notifications', note('SHARE_UNSHARED', p_pid,
                                                   sharedSecret=p_secret))
    t.eq(r.status, 403, 'signed by one peer for a share of another, even with its secret: 403')
    r = plain.send(sp, '/ocm/notifications', note('SHARE_UNSHARED', s_pid,
                                                  sharedSecret=s_secret), signed=False)
    t.eq(r.status, 401, 'the secret of a signing peer\'s share, unsigned: 401')
    r = plain.send(sp, '/ocm/notifications', note('SHARE_UNSHARED', p_pid), signed=False)
    t.eq(r.status, 401, 'unsigned and without a secret: 401')
    r = signer.send(sp, '/ocm/notifications', note('REQUEST_RESHARE', s_pid))
    t.ok(r.status == 501 and 'message' in (parse_json(r) or {}),
         'REQUEST_RESHARE, a type not handled: 501', (r.status, r.body[:200]))
    r = signer.send(sp, '/ocm/notifications', {'providerId': s_pid})
    t.ok(r.status == 400 and ('notificationType', 'REQUIRED') in validation(r),
         'no notificationType: 400 naming it', r.body[:200])
    t.eq(len(remotes(marie)) > 0 and
         sp.db_rows('SELECT count(*) FROM remotes WHERE ocm_share_id IN (?, ?)',
                    (s_pid, p_pid)), [(2,)], 'the refused notifications removed nothing')

    # Nextcloud's SHARE_UNSHARED, with its misspelt message member.
    seq = last_seq(sp)
    r = plain.send(sp, '/ocm/notifications', note(
        'SHARE_UNSHARED', p_pid, sharedSecret=p_secret,
        messgage='file is no longer shared with you'), signed=False)
    t.eq(r.status, 201, 'Nextcloud\'s SHARE_UNSHARED (secret, "messgage"): 201')
    gone = events(sp, 'spaceport.remote.removed', seq)
    t.ok(len(gone) == 1 and gone[0].get('reason') == 'unshared' and
         gone[0].get('ocmShareId') == p_pid, 'remote.removed, reason unshared', gone)
    r = plain.send(sp, '/ocm/notifications', note('SHARE_UNSHARED', p_pid,
                                                  sharedSecret=p_secret), signed=False)
    t.eq(r.status, 403, 'a second SHARE_UNSHARED: 403 (nothing left)')
    r = signer.send(sp, '/ocm/notifications', note('SHARE_UNSHARED', s_pid))
    t.eq(r.status, 201, 'SHARE_UNSHARED signed by the share\'s instance: 201')


def sent_share(sp, instance, state='shared'):
    """A share this instance sent to instance, as the outbound queue leaves
    it once delivered (store/ocm.c), with one change still to deliver."""
    share_id, secret_ = str(uuid.uuid4()), secret()
    now = int(time.time() * 1000)
    # Two commits: the change is due in an hour, nothing reads the row
    # in between.
    sent_seq = sp.db_rows(
        "INSERT INTO ocm_sent (share_id, drive_id, item_id, grantee, name, sharer,"
        " sharer_name, role, instance, secret, state, created_at, updated_at)"
        " VALUES (?, 'd', 'i', 'bob@peer.test', 'Relativity', 'alice', 'Alice',"
        " 'viewer', ?, ?, ?, ?, ?) RETURNING seq",
        (share_id, instance, secret_, state, now, now))[0][0]
    sp.db_exec("INSERT INTO ocm_outbox (sent_seq, kind, next_at, created_at)"
               " VALUES (?, 'changed', ?, ?)", (sent_seq, now + 3600000, now))
    return share_id, secret_


def sent_row(sp, share_id):
    rows = sp.db_rows('SELECT s.state, s.answer, s.answered_at IS NOT NULL,'
                      ' (SELECT count(*) FROM ocm_outbox o WHERE o.sent_seq = s.seq)'
                      ' FROM ocm_sent s WHERE s.share_id = ?', (share_id,))
    return rows[0] if rows else None


def check_answers(t, sp, signer, plain):
    """SHARE_ACCEPTED and SHARE_DECLINED of shares this instance sent."""
    s_id, s_secret = sent_share(sp, signer.url)
    p_id, p_secret = sent_share(sp, plain.url)
    r = signer.send(sp, '/ocm/notifications', note('SHARE_ACCEPTED', s_id,
                                                   message='Recipient accepted the share'))
    t.eq(r.status, 201, 'SHARE_ACCEPTED signed by the instance that took the share: 201')
    t.eq(sent_row(sp, s_id), ('shared', 'accepted', 1, 1), 'the sent share is answered accepted')
    t.eq(signer.send(sp, '/ocm/notifications', note('SHARE_ACCEPTED', s_id)).status, 201,
         'the same answer again (a redelivery): 201')
    r = signer.send(sp, '/ocm/notifications', note('SHARE_DECLINED', p_id, sharedSecret=p_secret))
    t.eq(r.status, 403, 'SHARE_DECLINED signed by a peer that did not take that share: 403')
    r = plain.send(sp, '/ocm/notifications', note('SHARE_ACCEPTED', s_id, sharedSecret=s_secret),
                   signed=False)
    t.eq(r.status, 401, 'the right secret unsigned, for a share a signing peer took: 401')
    r = plain.send(sp, '/ocm/notifications', note('SHARE_DECLINED', p_id, sharedSecret='x' * 40),
                   signed=False)
    t.eq(r.status, 403, 'SHARE_DECLINED with a wrong secret: 403')
    t.eq(sent_row(sp, p_id), ('shared', None, 0, 1), 'and nothing changed')
    r = plain.send(sp, '/ocm/notifications', note('SHARE_DECLINED', p_id, sharedSecret=p_secret,
                                                  message='Recipient declined the share'),
                   signed=False)
    t.eq(r.status, 201, 'SHARE_DECLINED as Nextcloud sends it (unsigned, the secret): 201')
    t.eq(sent_row(sp, p_id), ('refused', 'declined', 1, 0),
         'the share ends there: refused, answered declined, its pending delivery dropped')
    r = plain.send(sp, '/ocm/notifications', note('SHARE_DECLINED', p_id, sharedSecret=p_secret),
                   signed=False)
    t.eq(r.status, 201, 'the same decline again: 201')
    r = plain.send(sp, '/ocm/notifications', note('SHARE_ACCEPTED', p_id, sharedSecret=p_secret),
                   signed=False)
    t.eq(r.status, 403, 'accepting a declined share: 403')


def run(t):
    signer, plain, legacy = OcmPeer(), OcmPeer(signs=False, domain='plain.test'), LegacyPeer(
        signs=False, endpoint='/index.php/ocm', domain='legacy.test')
    down = '127.0.0.1:%d' % free_port()  # nothing listens there
    trusted = ','.join((signer.url, plain.url, legacy.url, 'http://' + down))
    try:
        with Nats() as nats, Nats() as nats2, Issuer() as idp, Issuer() as idp2:
            env = {'SPACEPORT_LOG_LEVEL': 'info', 'SPACEPORT_TRUSTED_INSTANCES': trusted,
                   'SPACEPORT_DOMAIN_ISSUERS': 'sp.test=' + idp.url}
            issuers = '%s,%s' % (idp.url, idp2.url)
            sp = Spaceport(nats_url=nats.url, issuers=issuers, env=env)
            strict = Spaceport(nats_url=nats2.url, issuers=issuers,
                               env=dict(env, SPACEPORT_OCM_REQUIRE_SIGNATURES='true'))
            with sp, strict:
                marie = Client(sp, idp.token('marie-sub', 'marie', 'Marie', email='marie@sp.test'))
                for c in (marie, Client(strict, marie.token),
                          Client(sp, idp.token('twin-1', 'twin', email='twin@sp.test')),
                          Client(sp, idp2.token('twin-2', 'twin', email='twin@sp.test'))):
                    c.me()
                check_forms(t, sp, signer, plain, legacy, marie)
                check_refusals(t, sp, signer, plain, marie)
                check_binding(t, sp, signer, plain, marie)
                check_no_oracle(t, sp, signer, plain, marie)
                check_signatures(t, sp, strict, signer, plain, down, marie)
                check_notifications(t, sp, signer, plain, marie)
                check_answers(t, sp, signer, plain)
                t.ok(wait_until(lambda: sp.request('GET', '/readyz').status == 200, 5),
                     'spaceport is still ready')
                t.eq(sp.stop(), 0, 'spaceport exits 0')
                t.eq(strict.stop(), 0, 'the strict one exits 0')
    finally:
        signer.close()
        plain.close()
        legacy.close()


if __name__ == '__main__':
    TAP().run(run)
