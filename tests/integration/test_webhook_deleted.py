#!/usr/bin/python3
"""A drive's "deleted" notification means the subscriber lost the drive,
not that somebody else did.

Einstein's project has Marie and Bob as members. Marie subscribes to
drives/<project> (created,updated,deleted), as a registry at another
instance does for her remote space: a "deleted" there removes her remote
space. Einstein removes Bob, and Marie, a member still, hears of it (her
change stream shows member-removed): her notification must say
"updated"; Bob's me/drives subscription hears "deleted". Then Einstein
removes Marie: "deleted", or the subscription
ends with subscriptionRemoved."""
import time

from harness import TAP, Client, Issuer, Nats, Spaceport, wait_until
from test_webhooks import Receiver, subscribe

SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'


def remove_member(admin, drive, user_id):
    perms = admin.get('/graph/v1beta1/drives/%s/root/permissions' % drive).json()['value']
    ids = [p['id'] for p in perms
           if ((p.get('grantedToV2') or {}).get('user') or {}).get('id') == user_id]
    return admin.call('DELETE', '/graph/v1beta1/drives/%s/root/permissions/%s' % (
        drive, ids[0] if ids else 'none')).status


def main(t):
    with Nats() as nats, Issuer() as idp, Receiver() as rx:
        sp = Spaceport(nats_url=nats.url, issuers=idp.url,
                       env={'SPACEPORT_WEBHOOK_HOSTS': '127.0.0.1:%d' % rx.port})
        with sp:
            ein = Client(sp, idp.token('ein-sub', 'einstein', 'Albert Einstein',
                                       roles=['spaceport-spaceadmin']))
            marie = Client(sp, idp.token('marie-sub', 'marie', 'Marie'))
            bob = Client(sp, idp.token('bob-sub', 'bob', 'Bob'))
            marie_id, bob_id = marie.me()['id'], bob.me()['id']
            project = ein.call('POST', '/graph/v1.0/drives', {'name': 'Relativity'}).json()['id']
            r = ein.call('POST', '/graph/v1beta1/drives/%s/root/invite' % project, {
                'recipients': [{'objectId': marie_id}, {'objectId': bob_id}],
                'roles': [SPACE_VIEWER]})
            t.eq(r.status, 200, 'Einstein makes Marie and Bob members of his project')
            r = subscribe(marie, 'drives/' + project, rx.url + '/marie')
            t.eq(r.status, 201, 'Marie subscribes to drives/<project>')
            r = subscribe(bob, 'me/drives', rx.url + '/bob')
            t.eq(r.status, 201, 'Bob subscribes to his list of drives (me/drives)')

            t.eq(remove_member(ein, project, bob_id), 204, 'Einstein removes Bob')
            t.ok(wait_until(lambda: rx.items('/marie'), 10), 'Marie is notified')
            time.sleep(1)
            kinds = [n.get('changeType') for n in rx.items('/marie')]
            t.ok(kinds and 'deleted' not in kinds,
                 'Bob\'s removal is not "deleted" for Marie, who still has the drive', kinds)
            t.eq(marie.get('/graph/v1.0/drives/' + project).status, 200,
                 'Marie still reads the drive')
            t.ok(wait_until(lambda: rx.items('/bob'), 10), 'Bob is notified')
            bobs = [(n.get('changeType'), n.get('resource')) for n in rx.items('/bob')]
            t.ok(('deleted', 'drives/' + project) in bobs,
                 'for Bob, whose list the drive left, it is "deleted"', bobs)

            before = len(rx.items('/marie'))
            t.eq(remove_member(ein, project, marie_id), 204, 'Einstein removes Marie')
            t.ok(wait_until(lambda: len(rx.items('/marie')) > before, 10), 'Marie is notified')
            kinds = [n.get('changeType') or n.get('lifecycleEvent')
                     for n in rx.items('/marie')[before:]]
            t.diag('after her removal: %r' % kinds)
            t.ok('deleted' in kinds or 'subscriptionRemoved' in kinds,
                 'her own removal is "deleted" (or ends the subscription)', kinds)


if __name__ == '__main__':
    TAP().run(main)
