"""A receiver that answers our share (SHARE_ACCEPTED, SHARE_DECLINED)
before its 201 to the share reaches us: the answer is kept, matched by the
share's secret or signed by the receiver, and takes effect once the share
is recorded as delivered. An answer signed by another trusted instance
while the share is in flight neither redirects the share nor ends it."""
import json

from harness import TAP, Client, Issuer, Nats, Spaceport, wait_until
from ocmpeer import OcmPeer

VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'


class EagerPeer(OcmPeer):
    """A peer that, on a share, first sends the answers self.answers(doc)
    gives ([(notification dict, signed, peer)]), then answers 201."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.sp = None
        self.answers = lambda doc: []
        self.statuses = []

    def _post(self, path, body, headers):
        if path == self.endpoint_path + '/shares' and self.sp:
            doc = json.loads(body)
            for note, signed, by in self.answers(doc):
                self.statuses.append(by.send(self.sp, '/ocm/notifications', note,
                                             signed=signed).status)
        return super()._post(path, body, headers)


def note(kind, doc, secret=None):
    n = {'notificationType': kind, 'resourceType': doc.get('resourceType', 'folder'),
         'providerId': doc.get('providerId'), 'notification': {}}
    if secret:
        n['notification']['sharedSecret'] = secret
    return n


def secret_of(doc):
    proto = doc.get('protocol', {})
    return (proto.get('webdav', {}).get('sharedSecret') or
            proto.get('options', {}).get('sharedSecret'))


def run(t):
    peer = EagerPeer()
    other = OcmPeer(domain='other.test')
    try:
        with Nats() as nats, Issuer() as idp:
            sp = Spaceport(nats_url=nats.url, issuers=idp.url, env={
                'SPACEPORT_TRUSTED_INSTANCES': ','.join((peer.url, other.url)),
                'SPACEPORT_DOMAIN_ISSUERS': 'sp.test=' + idp.url})
            with sp:
                peer.sp = sp
                alice = Client(sp, idp.token('alice-sub', 'alice', 'Alice', email='alice@sp.test',
                                             roles=['spaceport-spaceadmin']))
                alice.me()

                def share(name, grantee):
                    drive = alice.call('POST', '/graph/v1.0/drives', {'name': name}).json()['id']
                    r = alice.call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' %
                                   (drive, drive),
                                   {'recipients': [{'email': grantee}], 'roles': [VIEWER]})
                    t.eq(r.status, 200, 'alice shares %s with %s' % (name, grantee))
                    return r.json()['value'][0]['id'] if r.status == 200 else ''

                def sent(pid):
                    rows = sp.db_rows('SELECT state, instance, answer FROM ocm_sent'
                                      ' WHERE share_id = ?', (pid,))
                    return rows[0] if rows else None

                # Signed by the receiver, before its 201.
                peer.answers = lambda doc: [(note('SHARE_ACCEPTED', doc), True, peer)]
                pid = share('Signed', 'bob@peer.test')
                t.ok(wait_until(lambda: sent(pid) == ('shared', peer.url, 'accepted'), 10),
                     'a SHARE_ACCEPTED signed by the receiver before its 201 is kept',
                     sent(pid))
                t.eq(peer.statuses[-1:], [201], 'and answered 201')

                # Matched by the secret (unsigned, as Nextcloud sends it).
                peer.answers = lambda doc: [(note('SHARE_ACCEPTED', doc, secret_of(doc)),
                                             False, peer)]
                pid = share('Secret', 'carl@peer.test')
                t.ok(wait_until(lambda: sent(pid) == ('shared', peer.url, 'accepted'), 10),
                     'a SHARE_ACCEPTED with the share\'s secret before the 201 is kept', sent(pid))
                t.eq(peer.statuses[-1:], [201], 'and answered 201')

                # Attack: another trusted instance declines the share in
                # flight; then the receiver declines it itself.
                peer.answers = lambda doc: [(note('SHARE_DECLINED', doc), True, other)]
                pid = share('Foreign', 'dora@peer.test')
                t.ok(wait_until(lambda: sent(pid) == ('shared', peer.url, None), 10),
                     'a decline signed by another instance while the share is delivered '
                     'neither ends it nor names where it went', sent(pid))
                peer.answers = lambda doc: [(note('SHARE_DECLINED', doc), True, peer)]
                pid = share('Declined', 'emil@peer.test')
                t.ok(wait_until(lambda: sent(pid) == ('refused', peer.url, 'declined'), 10),
                     'the receiver\'s own decline before its 201 ends the share', sent(pid))
                t.eq(sp.stop(), 0, 'spaceport exits 0')
    finally:
        peer.close()
        other.close()


if __name__ == '__main__':
    TAP().run(run)
