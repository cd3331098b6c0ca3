#!/usr/bin/python3
"""A trusted instance's OCM discovery document speaks for that instance
only: an endPoint or a jwksUri on another origin (here a loopback port of
this machine, as an internal service would be) is never contacted.

- "elsewhere" publishes endPoint http://127.0.0.1:<canary>/ocm: a user's
  accept-invite naming it must not POST there (the invitation, with our
  user's name and e-mail, signed by us), and its document is unusable.
- "keys" signs, but its jwksUri points at the canary: a signed share from
  it must not make us fetch that URL (its keys are looked for on its own
  origin only, where there are none: 401).
- "slow" answers its discovery slowly. A request naming a keyid it does not
  publish makes us read its document again; meanwhile its other requests
  are served from the cached document at once, not held until that fetch
  ends (every HTTP worker could be held so)."""
import threading
import time
import uuid

from harness import TAP, Canary, Client, Issuer, Nats, Spaceport
from ocmpeer import Key, OcmPeer

# How long the slow peer takes to answer its discovery: under the 3 s
# a fetch may take, well over what a request served from the cache takes.
SLOW_S = 2.5


class Pointing(OcmPeer):
    """A signing peer whose discovery sets member to target + path (and
    drops its PEM keys when it points its jwksUri elsewhere)."""

    def __init__(self, member, target, path, domain):
        super().__init__(signs=True, domain=domain)
        self.member, self.value = member, target + path

    def discovery(self):
        doc = super().discovery()
        doc[self.member] = self.value
        if self.member == 'jwksUri':
            del doc['publicKeys']
        return doc


class Slow(OcmPeer):
    def __init__(self):
        super().__init__(signs=True, domain='slow.test')
        self.delay = 0

    def _get(self, path):
        time.sleep(self.delay)
        return super()._get(path)


UNSHARED = {'notificationType': 'SHARE_UNSHARED', 'providerId': 'no-such-share',
            'notification': {}}


def check_slow(t, sp, slow):
    r = slow.send(sp, '/ocm/notifications', UNSHARED)
    t.eq(r.status, 403, 'the slow peer is verified (its discovery read): a share it lacks, 403')
    time.sleep(5.2)  # discovery is read again on an unknown keyid at most every 5 s
    slow.delay = SLOW_S
    other = Key(slow.url + '/ocm#unpublished')
    refetch = threading.Thread(target=lambda: slow.send(sp, '/ocm/notifications', UNSHARED,
                                                        key=other))
    refetch.start()
    time.sleep(0.5)
    start = time.monotonic()
    r = slow.send(sp, '/ocm/notifications', UNSHARED)
    took = time.monotonic() - start
    refetch.join()
    t.eq(r.status, 403, 'its request signed with its published key is served meanwhile')
    t.ok(took < 1.0, 'from the cached document, without waiting for the fetch (%.2f s)' % took)


def share(peer, share_with):
    return {'shareWith': share_with, 'name': 'Photons', 'providerId': str(uuid.uuid4()),
            'owner': peer.address('einstein'), 'sender': peer.address('einstein'),
            'shareType': 'user', 'resourceType': 'folder',
            'protocol': {'name': 'multi', 'webdav': {
                'uri': str(uuid.uuid4()), 'sharedSecret': uuid.uuid4().hex,
                'permissions': ['read']}}}


def run(t):
    canary = Canary()
    target = 'http://127.0.0.1:%d' % canary.port
    elsewhere = Pointing('endPoint', target, '/ocm', 'elsewhere.test')
    keys = Pointing('jwksUri', target, '/jwks.json', 'keys.test')
    slow = Slow()
    try:
        with Nats() as nats, Issuer() as idp:
            env = {'SPACEPORT_LOG_LEVEL': 'info',
                   'SPACEPORT_TRUSTED_INSTANCES': ','.join((elsewhere.url, keys.url, slow.url))}
            sp = Spaceport(nats_url=nats.url, issuers=idp.url, env=env)
            with sp:
                marie = Client(sp, idp.token('marie-sub', 'marie', 'Marie', email='marie@sp.test'))
                marie.me()
                r = marie.call('POST', '/sciencemesh/accept-invite',
                               {'token': str(uuid.uuid4()), 'providerDomain': elsewhere.authority})
                t.ok(r.status >= 400, 'accepting at an instance whose endPoint is elsewhere fails '
                     '(%d)' % r.status)
                r = keys.send(sp, '/ocm/shares', share(keys, 'marie@' + sp.url.split('://')[1]))
                t.eq(r.status, 401, 'a share signed with keys only found elsewhere: 401')
                t.eq(canary.connections, 0,
                     'the host another origin names was never contacted')
                check_slow(t, sp, slow)
                t.eq(sp.stop(), 0, 'spaceport exits 0')
    finally:
        canary.close()
        elsewhere.close()
        keys.close()
        slow.close()


if __name__ == '__main__':
    TAP().run(run)
