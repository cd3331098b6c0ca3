#!/usr/bin/python3
"""Who an e-mail share is for, written as the attacks it prevents, against
the real program with two trusted identity providers:

- Mallory, at the second provider, puts Alice's colleague's address in her
  token without the provider saying it is verified: she receives nothing,
  and the real owner, who signs in later, receives the pending share and
  every later one.
- Once the address is verified at both providers, a share to it is refused
  with 409 naming the problem, and the share already claimed never moves.
- Carol holds a share of an item by id while a second share of it waits for
  the address her token starts carrying: she keeps working (no 500), the two
  grants merge into one, and the merge is in the event log.
- Bob's token says Bob@Example.org: he receives what is sent to
  bob@example.org, before and after he is first seen.
- An expired share does not block giving the same access again, and its
  expiry is written once."""
import time
import urllib.parse

from harness import TAP, Client, Issuer, Nats, Spaceport, sql_json, wait_until
from test_sharing import EDITOR, VIEWER, db_rows, share

VICTIM = 'victim@example.org'


def unverified_token(idp, sub, username, email):
    """A token with an address and no email_verified claim at all."""
    now = int(time.time())
    body = {'iss': idp.url, 'sub': sub, 'iat': now, 'exp': now + 3600,
            'preferred_username': username, 'name': username.title(), 'email': email}
    return idp._jwt.encode(body, idp.key, algorithm='RS256', headers={'kid': idp.kid})


def received(client):
    """(item id, role) of each share in the caller's sharedWithMe."""
    r = client.get('/graph/v1beta1/me/drive/sharedWithMe')
    assert r.status == 200, r.body[:300]
    return sorted((v['remoteItem']['id'], v['remoteItem']['permissions'][0]['roles'][0])
                  for v in r.json()['value'])


def recipients_of(sp, user_id, event_type):
    """How many events of event_type the user with user_id is a recipient of."""
    return db_rows(sp, 'SELECT count(*) FROM event_recipients r JOIN events e ON'
                       ' e.seq = r.event_seq JOIN users u ON u.seq = r.user_seq'
                       ' WHERE u.id = ? AND e.type = ?', (user_id, event_type))[0][0]


def check_mallory(t, sp, idp1, idp2, alice, project):
    item = project + '!budget'
    r = share(alice, project, item, {'email': VICTIM}, EDITOR)
    t.eq(r.status, 200, 'Alice shares with an address nobody has yet: the share waits')
    mallory = Client(sp, unverified_token(idp2, 'mallory-sub', 'mallory', VICTIM))
    me = mallory.me()
    t.ok(not me.get('mail'), 'an address without email_verified is not recorded', me)
    t.eq(received(mallory), [], 'Mallory, with the address unverified, receives nothing')
    forged = Client(sp, idp2.token('mallory2-sub', 'mallory2', email=VICTIM,
                                   email_verified='no'))
    t.eq(received(forged), [], 'email_verified other than true receives nothing either')

    victim = Client(sp, idp1.token('victim-sub', 'victim', email=VICTIM))
    victim_id = victim.me()['id']
    t.eq(received(victim), [(item, EDITOR)], 'the verified owner receives the pending share')
    r = share(alice, project, project + '!later', {'email': VICTIM}, VIEWER)
    t.ok(r.status == 200 and r.json()['value'][0].get('grantedToV2', {}).get('user', {}).get(
        'id') == victim_id, 'a later share to the address goes to its verified owner', r.body[:300])
    t.eq(recipients_of(sp, mallory.me()['id'], 'spaceport.share.created') +
         recipients_of(sp, mallory.me()['id'], 'spaceport.share.updated'), 0,
         'Mallory received no share event')

    # The second provider verifies the address too: now it names two users.
    twin = Client(sp, idp2.token('twin-sub', 'twin', email=VICTIM))
    twin_id = twin.me()['id']
    r = share(alice, project, project + '!third', {'email': VICTIM}, VIEWER)
    t.ok(r.status == 409 and 'several identity providers' in r.json()['error']['message'],
         'a share to an address two providers verified is refused with 409 naming it',
         r.body[:300])
    t.eq(len(received(victim)), 2, 'the claimed shares stay with the first verified owner')
    t.eq(received(twin), [], 'and never move to the second')
    r = share(alice, project, project + '!third', {'objectId': twin_id}, VIEWER)
    t.eq(r.status, 200, 'sharing with one of them by objectId works')


def check_carol(t, sp, idp1, alice, project):
    carol_tok = idp1.token('carol-sub', 'carol', email='carol@example.org')
    carol = Client(sp, carol_tok)
    carol_id = carol.me()['id']
    for item, held, pending, want in (('x1', VIEWER, EDITOR, EDITOR),
                                      ('x2', EDITOR, VIEWER, EDITOR)):
        item = project + '!' + item
        t.eq(share(alice, project, item, {'objectId': carol_id}, held).status, 200,
             'Carol holds %s by id' % item)
        t.eq(share(alice, project, item, {'email': 'carol.new@example.org'}, pending).status, 200,
             'a second share of %s waits for carol.new@example.org' % item)
    carol = Client(sp, idp1.token('carol-sub', 'carol', email='carol.new@example.org'))
    statuses = {carol.get('/graph/v1.0/me').status for _ in range(3)}
    t.eq(statuses, {200}, 'her token now carries the new address: every request still works')
    t.eq(received(carol), [(project + '!x1', EDITOR), (project + '!x2', EDITOR)],
         'one grant per item, the one that allows more')
    merged = db_rows(sp, "SELECT count(*) FROM events WHERE type = 'spaceport.share.deleted'"
                         " AND %s IS NOT NULL" % sql_json('data', 'mergedInto'))[0][0]
    t.eq(merged, 2, 'each merged pending share has its share.deleted naming the kept grant')
    pending = db_rows(sp, "SELECT count(*) FROM shares WHERE grantee_email ="
                          " 'carol.new@example.org'")[0][0]
    t.eq(pending, 0, 'nothing is left pending for the address')


def check_case(t, sp, idp1, alice, project):
    r = share(alice, project, project + '!early', {'email': 'bob@example.org'}, VIEWER)
    t.eq(r.status, 200, 'a share to bob@example.org before Bob is seen')
    bob = Client(sp, idp1.token('bob-sub', 'bob', email='Bob@Example.org'))
    t.eq(bob.me().get('mail'), 'bob@example.org', 'his address is kept in lower case')
    r = share(alice, project, project + '!late', {'email': 'BOB@example.ORG'}, VIEWER)
    t.eq(r.status, 200, 'a share to BOB@example.ORG after he is seen')
    t.eq([i for i, _ in received(bob)], [project + '!early', project + '!late'],
         'Bob (Bob@Example.org in his token) receives both')


def check_expired_again(t, sp, idp1, alice, project):
    dave = Client(sp, idp1.token('dave-sub', 'dave'))
    dave_id = dave.me()['id']
    item = project + '!brief'
    soon = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() + 2))
    r = share(alice, project, item, {'objectId': dave_id}, VIEWER, expirationDateTime=soon)
    t.eq(r.status, 200, 'a share that expires in two seconds')
    perm = '/graph/v1beta1/drives/%s/items/%s/permissions/%s' % (
        project, urllib.parse.quote(item, safe=''), r.json()['value'][0]['id'])
    wait_until(lambda: received(dave) == [], 6)
    later = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() + 3600))
    t.eq(alice.call('PATCH', perm, {'expirationDateTime': later}).status, 404,
         'an expired share cannot be revived by a new expiry (404)')
    t.eq(alice.call('PATCH', perm, {'roles': [EDITOR]}).status, 404,
         'nor changed (404)')
    t.eq(received(dave), [], 'Dave still holds nothing')
    r = share(alice, project, item, {'objectId': dave_id}, EDITOR)
    t.eq(r.status, 200, 'once expired, the same access can be given again (no 409)')
    t.eq(received(dave), [(item, EDITOR)], 'and Dave holds the new grant')
    time.sleep(1.5)  # a sweep, if one were still due, would come now
    n = db_rows(sp, "SELECT count(*) FROM events WHERE type = 'spaceport.share.expired' AND"
                    " %s = ?" % sql_json('data', 'itemId'), (item,))[0][0]
    t.eq(n, 1, 'the expired share has exactly one share.expired event')
    soon = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() + 2))
    t.eq(share(alice, project, project + '!brief-mail', {'email': 'late@example.org'}, VIEWER,
               expirationDateTime=soon).status, 200, 'a pending e-mail share that expires soon')
    time.sleep(2.5)
    late = Client(sp, idp1.token('late-sub', 'late', email='late@example.org'))
    t.eq(late.get('/graph/v1.0/me').status, 200, 'its owner signs in after it expired')
    t.eq(received(late), [], 'an expired pending share gives nothing')
    n = db_rows(sp, "SELECT count(*) FROM events WHERE type = 'spaceport.share.expired' AND"
                    " %s = ?" % sql_json('data', 'itemId'), (project + '!brief-mail',))[0][0]
    t.eq(n, 1, 'and its expiry is written once')


def main(t):
    with Nats() as nats, Issuer() as idp1, Issuer() as idp2:
        sp = Spaceport(nats_url=nats.url, issuers='%s,%s' % (idp1.url, idp2.url),
                       env={'SPACEPORT_LOG_LEVEL': 'info'})
        with sp:
            alice = Client(sp, idp1.token('alice-sub', 'alice', roles=['spaceport-spaceadmin']))
            r = alice.call('POST', '/graph/v1.0/drives', {'name': 'Budget'})
            if not t.eq(r.status, 201, 'Alice creates a project'):
                t.diag(sp.stderr_text()[-2000:])
                return
            project = r.json()['id']
            check_mallory(t, sp, idp1, idp2, alice, project)
            check_carol(t, sp, idp1, alice, project)
            check_case(t, sp, idp1, alice, project)
            check_expired_again(t, sp, idp1, alice, project)


if __name__ == '__main__':
    TAP().run(main)
