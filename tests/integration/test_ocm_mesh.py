#!/usr/bin/python3
"""Two real Spaceports share, notify and invite each other over Open Cloud
Mesh, every request signed.

zurich and paris run on loopback, each with its own nats-server and
identity provider, each trusting the other instance. Einstein is at
zurich, Marie at paris. In order:

- Einstein shares the folder Quantum with marie@paris.test: Marie has it at
  paris as a remote space; a storage change at zurich reaches it
  (RESOURCE_CHANGED, its eTag); making Marie an editor reaches it
  (SHARE_CHANGE_PERMISSION: the remote space is read,write); paris told
  zurich it took the share (SHARE_ACCEPTED: ocm_sent.answer); Einstein
  revokes the share: it is gone at paris (SHARE_UNSHARED).
- Einstein shares Optics; Marie removes it at paris: zurich learns she
  declined (SHARE_DECLINED: ocm_sent.answer 'declined').
- Marie makes an invitation at paris; Einstein accepts it at zurich: each
  has the other as a contact. Einstein shares Photons with that contact:
  it reaches Marie at paris.
- Every request between them was signed and verified: the receiving
  instance's spaceport_signed_requests_total{outcome="verified"} grows
  with each, and no request was refused."""
from harness import TAP, Issuer, Nats, wait_until
from natsclient import NatsClient
from ocmpeer import einstein_and_marie, metric_sum, storage_change, zurich_and_paris

VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
EDITOR = 'fb6c3e19-e378-47e5-b277-9732f9de6e21'
VERIFIED = 'spaceport_signed_requests_total{outcome="verified"}'
REFUSED = 'spaceport_signed_requests_total{outcome="refused"}'
# Deliveries go out within a second; a busy machine gets more.
WAIT_S = 15


class Signed:
    """Counts what an instance verified: grew() is true once it verified
    another signed request since the last call."""

    def __init__(self, sp):
        self.sp = sp
        self.seen = metric_sum(sp, VERIFIED)

    def grew(self):
        grown = wait_until(lambda: metric_sum(self.sp, VERIFIED) > self.seen, 5)
        self.seen = metric_sum(self.sp, VERIFIED)
        return bool(grown)


def remote(client, name):
    found = [d for d in client.get('/graph/v1.0/me/drives').json().get('value', [])
             if d.get('driveType') == 'mountpoint' and d.get('name') == name]
    return found[0] if len(found) == 1 else None


def share(client, drive, recipient, role=VIEWER):
    r = client.call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (drive, drive),
                    {'recipients': [recipient], 'roles': [role]})
    return r.status, (r.json()['value'][0]['id'] if r.status == 200 else '')


def sent(zurich, share_id):
    rows = zurich.db_rows('SELECT state, answer FROM ocm_sent WHERE share_id = ?', (share_id,))
    return rows[0] if rows else None


def check_share_lifecycle(t, zurich, paris, nz, ein, marie, at_paris, at_zurich):
    quantum = ein.call('POST', '/graph/v1.0/drives', {'name': 'Quantum'}).json()['id']
    status, perm = share(ein, quantum, {'email': 'marie@paris.test'})
    t.eq(status, 200, 'zurich: Einstein shares Quantum with marie@paris.test: 200')
    got = wait_until(lambda: remote(marie, 'Quantum'), WAIT_S)
    t.ok(got and got['root'].get('webDavUrl', '').startswith(zurich.url + '/dav/spaces/'),
         'paris: Quantum is a remote space of Marie\'s, at zurich\'s /dav/spaces', got)
    t.ok(at_paris.grew(), 'paris verified the signature of zurich\'s share')
    remote_id = got['id'] if got else ''
    t.ok(wait_until(lambda: (sent(zurich, perm) or ('', ''))[1] == 'accepted', WAIT_S),
         'zurich: paris answered SHARE_ACCEPTED (ocm_sent.answer accepted)', sent(zurich, perm))
    t.ok(at_zurich.grew(), 'zurich verified the signature of paris\'s SHARE_ACCEPTED')

    with NatsClient(nz.url) as nc:
        storage_change(nc, quantum, 'mesh-1')
    t.ok(wait_until(lambda: (remote(marie, 'Quantum') or {}).get('root', {}).get('eTag') ==
                    '"mesh-1"', WAIT_S),
         'a storage change at zurich reaches the remote space at paris (RESOURCE_CHANGED)',
         remote(marie, 'Quantum'))
    t.ok(at_paris.grew(), 'paris verified the signature of RESOURCE_CHANGED')

    r = ein.call('PATCH', '/graph/v1beta1/drives/%s/items/%s/permissions/%s' %
                 (quantum, quantum, perm), {'roles': [EDITOR]})
    t.eq(r.status, 200, 'zurich: Einstein makes Marie an editor: 200')
    perms = lambda: paris.db_rows('SELECT permissions FROM remotes WHERE id = ?', (remote_id,))
    t.ok(wait_until(lambda: perms() == [('read,write',)], WAIT_S),
         'paris: the remote space may now be written (SHARE_CHANGE_PERMISSION)', perms())
    t.ok(at_paris.grew(), 'paris verified the signature of the permission change')

    r = ein.call('DELETE', '/graph/v1beta1/drives/%s/items/%s/permissions/%s' %
                 (quantum, quantum, perm))
    t.eq(r.status, 204, 'zurich: Einstein revokes the share: 204')
    t.ok(remote_id and wait_until(lambda: remote(marie, 'Quantum') is None, WAIT_S),
         'paris: the remote space is gone (SHARE_UNSHARED)')
    t.ok(at_paris.grew(), 'paris verified the signature of SHARE_UNSHARED')

    optics = ein.call('POST', '/graph/v1.0/drives', {'name': 'Optics'}).json()['id']
    status, perm = share(ein, optics, {'email': 'marie@paris.test'})
    got = wait_until(lambda: remote(marie, 'Optics'), WAIT_S)
    t.ok(status == 200 and got, 'Einstein shares Optics: it reaches Marie at paris')
    at_paris.grew()
    r = marie.call('DELETE', '/graph/v1.0/drives/' + (got or {}).get('id', 'none'))
    t.eq(r.status, 204, 'paris: Marie removes the remote space Optics: 204')
    t.ok(wait_until(lambda: (sent(zurich, perm) or ('', ''))[1] == 'declined', WAIT_S),
         'zurich: paris answered SHARE_DECLINED (ocm_sent.answer declined)', sent(zurich, perm))
    t.ok(at_zurich.grew(), 'zurich verified the signature of SHARE_DECLINED')


def check_invitation(t, zurich, paris, ein, marie, at_paris):
    r = marie.call('POST', '/sciencemesh/generate-invite', {'description': 'for Einstein'})
    token = (r.json() or {}).get('token') if r.status in (200, 201) else None
    t.ok(token, 'paris: Marie makes an invitation', (r.status, r.body[:300]))
    r = ein.call('POST', '/sciencemesh/accept-invite',
                 {'token': token or '', 'providerDomain': paris.url.split('://', 1)[1]})
    t.ok(r.status in (200, 201), 'zurich: Einstein accepts it', (r.status, r.body[:300]))
    t.ok(at_paris.grew(), 'paris verified the signature of zurich\'s /invite-accepted')

    def contacts(client):
        r = client.get('/sciencemesh/find-accepted-users')
        return r.json() if r.status == 200 else []

    mine = contacts(ein)
    t.ok(len(mine) == 1 and mine[0].get('mail') == 'marie@paris.test',
         'zurich: Marie is Einstein\'s contact', mine)
    theirs = contacts(marie)
    t.ok(len(theirs) == 1 and theirs[0].get('mail') == 'einstein@zurich.test',
         'paris: Einstein is Marie\'s contact', theirs)
    rows = paris.db_rows("SELECT count(*) FROM events WHERE type = 'spaceport.invite.accepted'")
    t.ok(rows[0][0] >= 1, 'paris: the acceptance wrote spaceport.invite.accepted', rows)

    photons = ein.call('POST', '/graph/v1.0/drives', {'name': 'Photons'}).json()['id']
    contact = mine[0].get('id', '') if mine else ''
    status, _ = share(ein, photons, {'objectId': contact, '@libre.graph.recipient.type': 'user'})
    t.eq(status, 200, 'zurich: Einstein shares Photons with his contact Marie: 200')
    t.ok(wait_until(lambda: remote(marie, 'Photons'), WAIT_S),
         'paris: Photons is a remote space of Marie\'s')
    t.ok(at_paris.grew(), 'paris verified the signature of the contact share')


def run(t):
    with Nats() as nz, Nats() as np_, Issuer() as idz, Issuer() as idp:
        zurich, paris = zurich_and_paris(nz, np_, idz, idp)
        with zurich, paris:
            ein, marie = einstein_and_marie(zurich, paris, idz, idp)
            at_paris, at_zurich = Signed(paris), Signed(zurich)
            check_share_lifecycle(t, zurich, paris, nz, ein, marie, at_paris, at_zurich)
            check_invitation(t, zurich, paris, ein, marie, at_paris)
            for name, sp in (('zurich', zurich), ('paris', paris)):
                t.eq(metric_sum(sp, REFUSED), 0.0,
                     '%s refused no signed request of the other' % name)
            t.eq(zurich.stop(), 0, 'zurich exits 0')
            t.eq(paris.stop(), 0, 'paris exits 0')


if __name__ == '__main__':
    TAP().run(run)
