#!/usr/bin/python3
"""Open Cloud Mesh invitations between two real instances, zurich and
paris, each with its own nats-server and identity provider, trusting each
other (SPACEPORT_TRUSTED_INSTANCES).

Einstein invites at zurich; Marie accepts at paris, which tells zurich with
a signed POST /ocm/invite-accepted; both gain the other as a contact, with
events, and the token is never stored. Then the attacks: a token reused,
unknown or expired; a provider that is not trusted (refused before any
connection); an unsigned acceptance claiming to come from paris, which
signs; malformed bodies; another user reading or removing Einstein's
invites and contacts, or sharing with his contact. Finally Einstein finds
Marie in the federated user search and shares a space with her: the share
names her as a federated grantee, its event carries her OCM address and
instance, and the OCM queue delivers it to her at paris."""
import base64
import hashlib
import json
import os
import time
import urllib.parse
import uuid

import jsonschema

from harness import SOURCE_ROOT, TAP, Canary, Client, Issuer, Nats, Spaceport, wait_until

VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
GEN, LIST, ACCEPT = ('/sciencemesh/generate-invite', '/sciencemesh/list-invite',
                     '/sciencemesh/accept-invite')
CONTACTS, DELETE = '/sciencemesh/find-accepted-users', '/sciencemesh/delete-accepted-user'
FEDERATED = '/graph/v1.0/users?' + urllib.parse.urlencode(
    {'$search': 'mar', '$filter': "userType eq 'Federated'"})


def schema(name):
    with open(os.path.join(SOURCE_ROOT, 'schema', 'events', name + '.json')) as f:
        return json.load(f)


def events(sp, type_):
    rows = sp.db_rows('SELECT data FROM events WHERE type = ? ORDER BY seq', (type_,))
    return [json.loads(r[0]) for r in rows]


def db(sp, sql, args=()):
    return sp.db_rows(sql, args)


def authority(sp):
    return urllib.parse.urlsplit(sp.url).netloc


def invalid(s, data):
    return [e.message for e in jsonschema.Draft7Validator(s).iter_errors(data)]


def main(t):
    with Nats() as nz, Nats() as np_, Issuer() as idz, Issuer() as idp:
        zurich = Spaceport(nats_url=nz.url, issuers=idz.url, env={'SPACEPORT_LOG_LEVEL': 'info'})
        paris = Spaceport(nats_url=np_.url, issuers=idp.url, env={'SPACEPORT_LOG_LEVEL': 'info'})
        zurich.env['SPACEPORT_TRUSTED_INSTANCES'] = paris.url
        paris.env['SPACEPORT_TRUSTED_INSTANCES'] = zurich.url
        with zurich, paris:
            run(t, zurich, paris, idz, idp)
            t.eq(zurich.stop(), 0, 'zurich exits 0')
            t.eq(paris.stop(), 0, 'paris exits 0')


def run(t, zurich, paris, idz, idp):
    ein = Client(zurich, idz.token('einstein-sub', 'einstein', 'Albert Einstein',
                                   email='einstein@zurich.test', roles=['spaceport-spaceadmin']))
    bohr = Client(zurich, idz.token('bohr-sub', 'bohr', 'Niels Bohr', email='bohr@zurich.test'))
    marie = Client(paris, idp.token('marie-sub', 'marie', 'Marie Curie',
                                    email='marie@paris.test'))
    pierre = Client(paris, idp.token('pierre-sub', 'pierre', 'Pierre Curie'))
    bohr.me()

    token, invite = check_generate(t, zurich, ein, bohr)
    check_accept(t, zurich, paris, ein, bohr, marie, token, invite)
    check_refusals(t, zurich, paris, ein, marie, pierre, token)
    check_search_and_share(t, zurich, paris, ein, bohr, marie)
    check_delete(t, zurich, ein, bohr)


def check_generate(t, zurich, ein, bohr):
    r = zurich.request('POST', GEN, {'description': 'x'})
    t.eq(r.status, 401, 'generate-invite without a token: 401')
    for body, what in (({'description': 'x' * 1001}, 'a description over 1000 bytes'),
                       ({'recipient': 'not an address'}, 'a recipient that is no address'),
                       ({'description': 5}, 'a description that is no string')):
        r = ein.call('POST', GEN, body)
        t.eq(r.status, 400, 'generate-invite with %s: 400' % what)
    r = ein.call('POST', GEN, '{"description": ', {'Content-Type': 'application/json'})
    t.eq(r.status, 400, 'generate-invite with a body that is no JSON: 400')

    before = time.time()
    r = ein.call('POST', GEN, {'description': 'for Marie', 'recipient': 'marie@paris.test'})
    t.eq(r.status, 200, 'Einstein makes an invite: 200')
    doc = r.json() if r.status == 200 else {}
    token = doc.get('token', '')
    t.ok(uuid.UUID(token).version == 4 if token else False, 'its token is a random UUID', doc)
    t.ok(abs(doc.get('expiration', 0) - (before + 86400)) < 60,
         'it expires in 24 h (SPACEPORT_OCM_INVITE_TTL default)', doc)
    invite = doc.get('invite', '')
    t.eq(base64.b64decode(invite).decode() if invite else '', '%s@%s' % (token, authority(zurich)),
         'the invite string is base64 of token@zurich, as the spec writes it')
    t.eq(doc.get('providerDomain'), authority(zurich), 'and providerDomain names zurich')
    t.eq(doc.get('description'), 'for Marie', 'the description comes back')

    hashes = db(zurich, 'SELECT token_hash FROM ocm_invites')
    t.eq(hashes, [(hashlib.sha256(token.encode()).hexdigest(),)],
         'zurich keeps the token only as its SHA-256')
    dump = '\n'.join(d for (d,) in db(zurich, 'SELECT data FROM events'))
    t.ok(token not in dump, 'no event carries the token')
    created = events(zurich, 'spaceport.invite.created')
    t.ok(len(created) == 1 and created[0].get('recipient') == 'marie@paris.test' and
         not invalid(schema('invite'), created[0]),
         'spaceport.invite.created written, valid against invite.json', created)

    r = ein.get(LIST)
    lst = r.json() if r.status == 200 else []
    t.ok(r.status == 200 and len(lst) == 1 and lst[0]['token'] == '' and
         lst[0]['description'] == 'for Marie' and lst[0]['accepted'] is False,
         'list-invite: the invite, not accepted, without its token', r.body[:300])
    r = bohr.get(LIST)
    t.ok(r.status == 200 and r.json() == [], 'Bohr lists no invite of Einstein\'s', r.body[:300])
    return token, invite


def check_accept(t, zurich, paris, ein, bohr, marie, token, invite):
    canary = Canary()
    try:
        for domain in ('127.0.0.1:%d' % canary.port, 'http://127.0.0.1:%d/' % canary.port):
            r = marie.call('POST', ACCEPT, {'token': token, 'providerDomain': domain})
            t.eq(r.status, 403, 'accepting at %s, not trusted: 403' % domain)
        time.sleep(0.2)
        t.eq(canary.connections, 0, 'and that host was never contacted')
    finally:
        canary.close()
    r = marie.call('POST', ACCEPT, {'providerDomain': authority(zurich)})
    t.eq(r.status, 400, 'accept-invite without a token: 400')
    r = marie.call('POST', ACCEPT, {'token': 'bm90IGFuIGludml0ZQ'})
    t.eq(r.status, 400, 'an invite string without token@provider: 400')

    # The canonical invite string alone, unpadded base64url as draft-05 writes it.
    r = marie.call('POST', ACCEPT, {'token': invite.rstrip('=').replace('+', '-')
                                    .replace('/', '_')})
    t.eq(r.status, 200, 'Marie accepts at paris with the invite string: 200')
    c = r.json() if r.status == 200 else {}
    t.ok(c.get('user_id') == 'einstein' and c.get('idp') == authority(zurich) and
         c.get('display_name') == 'Albert Einstein' and c.get('mail') == 'einstein@zurich.test',
         'the answer is Einstein as zurich described him', c)

    mine = marie.get(CONTACTS).json()
    t.ok(len(mine) == 1 and mine[0]['ocm_address'] == 'einstein@' + authority(zurich),
         'paris: Einstein is Marie\'s contact', mine)
    his = ein.get(CONTACTS).json()
    t.ok(len(his) == 1 and his[0]['user_id'] == 'marie' and
         his[0]['idp'] == authority(paris) and his[0]['display_name'] == 'Marie Curie' and
         his[0]['mail'] == 'marie@paris.test',
         'zurich: Marie is Einstein\'s contact (userID marie at paris)', his)
    t.eq(bohr.get(CONTACTS).json(), [], 'Bohr sees no contact of Einstein\'s')

    inv = schema('invite')
    ez = events(zurich, 'spaceport.invite.accepted')
    t.ok(len(ez) == 1 and ez[0]['role'] == 'sender' and
         ez[0]['address'] == 'marie@' + authority(paris) and ez[0]['instance'] == paris.url and
         not invalid(inv, ez[0]),
         'zurich: spaceport.invite.accepted for Einstein (role sender), valid', ez)
    ep = events(paris, 'spaceport.invite.accepted')
    t.ok(len(ep) == 1 and ep[0]['role'] == 'receiver' and
         ep[0]['address'] == 'einstein@' + authority(zurich) and not invalid(inv, ep[0]),
         'paris: spaceport.invite.accepted for Marie (role receiver), valid', ep)
    recipients = db(zurich, "SELECT u.username FROM events e JOIN event_recipients r"
                            " ON r.event_seq = e.seq JOIN users u ON u.seq = r.user_seq"
                            " WHERE e.type = 'spaceport.invite.accepted'")
    t.eq(recipients, [('einstein',)], 'zurich\'s acceptance event is for Einstein only')
    lst = ein.get(LIST).json()
    t.ok(lst and lst[0]['accepted'] is True and lst[0].get('contactId') == his[0]['id'],
         'list-invite: accepted, naming the contact it made', lst)


def accepted_body(zurich, paris, token, **kw):
    body = {'recipientProvider': authority(paris), 'token': token, 'userID': 'mallory',
            'email': 'mallory@paris.test', 'name': 'Mallory'}
    body.update(kw)
    return {k: v for k, v in body.items() if v is not None}


def check_refusals(t, zurich, paris, ein, marie, pierre, token):
    r = pierre.call('POST', ACCEPT, {'token': token, 'providerDomain': authority(zurich)})
    t.eq(r.status, 409, 'the same token accepted again (by Pierre): 409')
    r = marie.call('POST', ACCEPT, {'token': str(uuid.uuid4()),
                                    'providerDomain': authority(zurich)})
    t.eq(r.status, 400, 'an unknown token: zurich says 400, paris answers 400')

    fresh = ein.call('POST', GEN, {}).json()['token']
    db(zurich, 'UPDATE ocm_invites SET expires_at = 1 WHERE token_hash = ?',
       (hashlib.sha256(fresh.encode()).hexdigest(),))
    r = pierre.call('POST', ACCEPT, {'token': fresh, 'providerDomain': authority(zurich)})
    t.eq(r.status, 400, 'an expired token: 400')
    t.eq(len(ein.get(CONTACTS).json()), 1, 'none of these made a contact at zurich')

    # Straight to zurich's OCM route, unsigned, as anyone could.
    open_ = ein.call('POST', GEN, {}).json()['token']
    path = '/ocm/invite-accepted'
    r = zurich.request('POST', path, accepted_body(zurich, paris, open_))
    t.ok(r.status == 401 and 'message' in r.json(),
         'an unsigned acceptance claiming paris (whose discovery says it signs): 401, '
         'in the spec\'s error form', r.body[:300])
    r = zurich.request('POST', path, accepted_body(zurich, paris, open_,
                                                   recipientProvider='evil.example'))
    t.ok(r.status == 403 and 'message' in r.json(),
         'an acceptance from a provider that is not trusted: 403', r.body[:300])
    r = zurich.request('POST', path, '{"token": ', {'Content-Type': 'application/json'})
    t.ok(r.status == 400 and 'message' in r.json(), 'a body that is no JSON: 400', r.body[:300])
    r = zurich.request('POST', path, accepted_body(zurich, paris, None))
    t.ok(r.status == 400 and r.json().get('validationErrors') ==
         [{'name': 'token', 'message': 'REQUIRED'}],
         'no token: 400 naming token REQUIRED', r.body[:300])
    r = zurich.request('POST', path, accepted_body(zurich, paris, open_, userID=['x']))
    t.ok(r.status == 400 and r.json().get('validationErrors') ==
         [{'name': 'userID', 'message': 'INVALID'}],
         'a userID that is no string: 400 naming userID INVALID', r.body[:300])
    t.eq(len(ein.get(CONTACTS).json()), 1, 'and no contact came of them')
    t.eq(db(zurich, 'SELECT count(*) FROM ocm_invites WHERE accepted_at IS NOT NULL'), [(1,)],
         'only the one invite Marie accepted is accepted')


def check_search_and_share(t, zurich, paris, ein, bohr, marie):
    r = ein.get(FEDERATED)
    found = r.json().get('value', []) if r.status == 200 else []
    t.ok(len(found) == 1 and found[0]['userType'] == 'Federated' and
         found[0]['displayName'] == 'Marie Curie',
         'Einstein finds Marie among federated users ($filter=userType eq \'Federated\')',
         r.body[:400])
    contact_id = found[0]['id'] if found else ''
    r = ein.get('/graph/v1.0/users?$search=mar')
    t.ok(r.status == 200 and all(u.get('userType') != 'Federated' for u in r.json()['value']),
         'without the filter, user search lists no contact (as oCIS)', r.body[:300])
    r = bohr.get(FEDERATED)
    t.ok(r.status == 200 and r.json()['value'] == [], 'Bohr finds no contact of Einstein\'s',
         r.body[:300])

    space = ein.call('POST', '/graph/v1.0/drives', {'name': 'Radioactivity'}).json()['id']
    mine = bohr.call('GET', '/graph/v1.0/me/drives').json()['value']
    personal = [d['id'] for d in mine if d.get('driveType') == 'personal']
    if personal:
        r = bohr.call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (
            personal[0], personal[0]), {'recipients': [{'objectId': contact_id}],
                                        'roles': [VIEWER]})
        t.eq(r.status, 400, 'Bohr cannot share with Einstein\'s contact: 400 (no such user)')
    r = ein.call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (space, space), {
        'recipients': [{'objectId': contact_id, '@libre.graph.recipient.type': 'user'}],
        'roles': [VIEWER]})
    t.eq(r.status, 200, 'Einstein shares Radioactivity with his contact Marie: 200')
    p = r.json()['value'][0] if r.status == 200 else {}
    user = p.get('grantedToV2', {}).get('user', {})
    t.ok(user.get('id') == contact_id and user.get('displayName') == 'Marie Curie' and
         user.get('@libre.graph.userType') == 'Federated',
         'the permission names her as a federated user', p)
    r = ein.get('/graph/v1beta1/drives/%s/items/%s/permissions' % (space, space))
    listed = [x for x in r.json().get('value', []) if x.get('id') == p.get('id')]
    t.ok(listed and listed[0].get('grantedToV2') == p.get('grantedToV2'),
         'and the item\'s permissions list her so', r.body[:400])
    r = ein.call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (space, space), {
        'recipients': [{'objectId': contact_id}], 'roles': [VIEWER]})
    t.eq(r.status, 409, 'sharing the same space with her again: 409')
    created = [e for e in events(zurich, 'spaceport.share.created')
               if e.get('shareId') == p.get('id')]
    t.ok(len(created) == 1 and created[0].get('ocmAddress') ==
         'marie@' + authority(paris) and created[0].get('instance') == paris.url and not invalid(schema('share'), created[0]),
         'its share.created names her OCM address and paris, valid against share.json', created)

    # The OCM queue delivers it to paris, straight to her (no WebFinger).
    def at_paris():
        drives = marie.get('/graph/v1.0/me/drives').json().get('value', [])
        return [d for d in drives if d.get('name') == 'Radioactivity' and
                d.get('driveType') == 'mountpoint']
    t.ok(wait_until(lambda: at_paris(), 10),
         'the share reaches Marie at paris as a remote space', at_paris())
    def sent():
        return db(zurich, 'SELECT share_with, state, instance FROM ocm_sent WHERE share_id = ?',
                  (p.get('id', ''),))
    want = [('marie@' + authority(paris), 'shared', paris.url)]
    t.ok(wait_until(lambda: sent() == want, 10),
         'zurich sent it to marie@paris and recorded paris\'s acceptance', sent())


def check_delete(t, zurich, ein, bohr):
    his = ein.get(CONTACTS).json()
    target = {'user_id': his[0]['user_id'], 'idp': his[0]['idp']} if his else {}
    r = bohr.call('DELETE', DELETE, target)
    t.eq(r.status, 404, 'Bohr removing Einstein\'s contact: 404, as one that does not exist')
    t.eq(len(ein.get(CONTACTS).json()), 1, 'and Einstein still has it')
    r = ein.call('DELETE', DELETE, {'user_id': 'marie'})
    t.eq(r.status, 400, 'removing without idp: 400')
    r = ein.call('DELETE', DELETE, target)
    t.eq(r.status, 200, 'Einstein removes Marie from his contacts: 200')
    t.eq(ein.get(CONTACTS).json(), [], 'she is gone from his list')
    removed = events(zurich, 'spaceport.contact.removed')
    t.ok(len(removed) == 1 and removed[0]['address'] == target['user_id'] + '@' + target['idp']
         and not invalid(schema('invite'), removed[0]),
         'spaceport.contact.removed written, valid', removed)
    r = ein.call('DELETE', DELETE, target)
    t.eq(r.status, 404, 'removing it again: 404')


if __name__ == '__main__':
    TAP().run(main)
