#!/usr/bin/python3
"""A subscription to a share's mountpoint (drives/{mountId}, a drive the
grantee lists and may subscribe to) is told of changes of the shared
drive, under the id the grantee knows: the events name the shared drive,
not the mountpoint, and a sender matching only the event's subject never
notified such a subscription of anything."""
import time

from harness import TAP, Client, Issuer, Nats, Spaceport, wait_until
from natsclient import NatsClient
from test_changes import change_event, publish
from test_webhooks import Receiver, subscribe

VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
ADMIN = ['spaceport-spaceadmin']


def main(t):
    with Receiver() as rx, Nats() as nats, Issuer() as idp:
        sp = Spaceport(nats_url=nats.url, issuers=idp.url,
                       env={'SPACEPORT_WEBHOOK_HOSTS': '127.0.0.1:%d' % rx.port})
        with sp, NatsClient(nats.url) as nc:
            ann = Client(sp, idp.token('ann-m', 'ann', 'Ann', roles=ADMIN))
            bob = Client(sp, idp.token('bob-m', 'bob', 'Bob'))
            bob_id = bob.me()['id']
            project = ann.call('POST', '/graph/v1.0/drives', {'name': 'Lab'}).json()['id']
            r = ann.call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (project, project),
                         {'recipients': [{'objectId': bob_id}], 'roles': [VIEWER]})
            t.eq(r.status, 200, 'Ann shares her project with Bob')
            drives = bob.call('GET', '/graph/v1.0/me/drives').json()['value']
            mounts = [d['id'] for d in drives if d.get('driveType') == 'mountpoint']
            t.eq(len(mounts), 1, 'Bob lists the share as a mountpoint')
            mount = mounts[0] if mounts else 'none'
            r = subscribe(bob, 'drives/' + mount, rx.url + '/bob')
            t.eq(r.status, 201, 'Bob subscribes to the mountpoint (he may read it)')
            publish(nc, change_event(project, 'mount-1'))
            t.ok(wait_until(lambda: rx.items('/bob'), 15),
                 'a change of the shared drive reaches Bob\'s subscription')
            items = rx.items('/bob')
            first = items[0] if items else {}
            rd = first.get('resourceData', {})
            t.ok(first.get('resource') == 'drives/' + mount and rd.get('id') == mount and
                 rd.get('eTag') == 'mount-1',
                 'named by the mountpoint id Bob subscribed to, with the eTag', first)
            time.sleep(1)
            t.eq(len(rx.items('/bob')), 1, 'once')


if __name__ == '__main__':
    TAP().run(main)
