#!/usr/bin/python3
"""Drive deltas end to end (GET /graph/v1.0/me/drives/delta), against the
real program and a real nats-server.

- 500 random operations by several users: project drives created,
  renamed, disabled, restored and purged; members added (some expiring),
  changed and removed; items and drive roots shared and unshared (to users
  and to a group), unmounted and mounted again; storage changes on NATS.
  At checkpoints during the run each user's deltas, applied in order to
  the list their previous deltas built (the first one from an empty list),
  must be exactly their GET /graph/v1.0/me/drives: a delta that forgot a
  removal, a mountpoint, a rename or an eTag fails. One user follows with
  a page size of 2, so that every round goes through nextLinks.
- A user never gets a drive in delta that their listing does not have
  (BOLA): a whole drive is in the listing at that moment.
- token=latest answers no drive and a deltaLink that sees the next change.
- A token older than the event log answers 410 resyncRequired; malformed
  tokens and page tokens 400; $top 0 is 400.
- Timing of a delta call with many changed drives is printed.
"""
import json
import os
import random
import time
import urllib.parse
import uuid

import yaml  # python3-yaml

from harness import TAP, Client, Issuer, Nats, Spaceport, wait_until
from natsclient import NatsClient
from test_contract import SPEC_PATH, Contract

SPACE_EDITOR = '58c63c02-1d89-4572-916a-870abc5a1b7d'
SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'
MANAGER = '312c0871-5ef7-4b3a-85b6-0e4074c64049'
VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
EDITOR = 'fb6c3e19-e378-47e5-b277-9732f9de6e21'
SHARES = 'a0ca6a90-a365-4782-871e-d44447bbc668$a0ca6a90-a365-4782-871e-d44447bbc668'
DELTA = '/graph/v1.0/me/drives/delta'
USERS = ('ann', 'ben', 'cat', 'dan', 'eve')


def path_of(link):
    """The path and query of a link (links carry the public URL)."""
    return link[link.index('/graph/'):]


# Every answer of follow() is checked against schema/openapi.yaml; the
# problems found are kept here.
with open(SPEC_PATH) as _f:
    JUDGE = Contract(yaml.safe_load(_f))
PROBLEMS = []


def follow(client, url, headers=None):
    """Follows nextLinks from url: (items in order, deltaLink, pages, last response)."""
    items, pages = [], 0
    while True:
        r = client.get(url, headers=headers)
        PROBLEMS.extend(JUDGE.check('GET', url, r))
        pages += 1
        if r.status != 200:
            return items, None, pages, r
        doc = r.json()
        items.extend(doc['value'])
        if '@odata.nextLink' in doc:
            url = path_of(doc['@odata.nextLink'])
            continue
        return items, path_of(doc['@odata.deltaLink']), pages, r


def apply(state, items):
    for d in items:
        if '@removed' in d:
            state.pop(d['id'], None)
        else:
            state[d['id']] = d


def listing(client):
    r = client.get('/graph/v1.0/me/drives')
    assert r.status == 200, r.body
    return {d['id']: d for d in r.json()['value']}


def summary(drives):
    return {i: (d.get('name'), d.get('root', {}).get('eTag'), d.get('driveType'))
            for i, d in drives.items()}


def db(sp, sql, args=()):
    return sp.db_rows(sql, args)


def settled(sp):
    """Every expiry set so far has passed and its event is written: the
    listing changes at the expiry, the delta at the sweeper's event, and a
    checkpoint must not fall between the two."""
    return (db(sp, 'SELECT count(*) FROM members WHERE expires_at IS NOT NULL AND'
                   ' expired = 0')[0][0] == 0 and
            db(sp, 'SELECT count(*) FROM shares WHERE expires_at IS NOT NULL AND'
                   ' expired = 0')[0][0] == 0)


def storage_handled(sp):
    """Storage changes the consumer has taken, whatever became of them."""
    n = 0
    for line in sp.request('GET', '/metrics').body.decode().splitlines():
        if line.startswith('spaceport_storage_changes_total{') and 'retried' not in line:
            n += int(float(line.split()[1]))
    return n


def soon(seconds):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(int(time.time()) + seconds + 1))


def storage_change(nc, drive, etag, item=None, name=None):
    data = {'driveId': drive, 'eTag': etag, 'change': 'updated',
            'lastModifiedDateTime': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}
    if item:
        data['itemId'] = item
        data['items'] = [{'id': item, 'parentId': drive, 'name': name, 'path': '/' + name,
                          'type': 'folder', 'eTag': '"%s"' % etag,
                          'lastModifiedDateTime': data['lastModifiedDateTime']}]
    ev = {'specversion': '1.0', 'id': str(uuid.uuid4()), 'source': 'urn:test:storage',
          'type': 'spaceport.storage.changed', 'datacontenttype': 'application/json',
          'data': data}
    nc.publish('spaceport.storage.changed', ev,
               headers={'Nats-Msg-Id': ev['id'], 'Content-Type': 'application/cloudevents+json'})
    nc.flush()


class World:
    """What the random operations know of: drives, their members, shares."""

    def __init__(self, c, ids):
        self.c, self.ids = c, ids
        self.drives = {}  # id -> {'managers': set(names), 'disabled': bool}
        self.shares = []  # (drive, item, perm id, sharer, grantee name or None)
        self.members = []  # (drive, perm id, name)
        self.remotes = []  # (name, remote space id)
        self.storage = 0  # storage changes published
        self.url = None
        self.counts = {}

    def count(self, op, ok):
        a, b = self.counts.get(op, (0, 0))
        self.counts[op] = (a + (1 if ok else 0), b + 1)


def random_op(rng, w, nc, group_id):
    c, ids = w.c, w.ids
    live = [d for d, s in w.drives.items() if not s['disabled']]
    op = rng.choices(['create', 'rename', 'disable', 'restore', 'purge', 'member', 'unmember',
                      'reroll', 'share', 'unshare', 'unmount', 'mount', 'storage', 'register',
                      'unregister'],
                     [6, 8, 3, 3, 2, 12, 5, 3, 14, 6, 4, 3, 10, 3, 2])[0]
    if op == 'create' or not w.drives:
        who = rng.choice([n for n in USERS if n != 'dan'])
        r = c[who].call('POST', '/graph/v1.0/drives', {'name': 'P%d' % rng.randrange(10 ** 6)})
        if r.status == 201:
            w.drives[r.json()['id']] = {'managers': {who}, 'disabled': False}
        w.count('create', r.status == 201)
        return
    drive = rng.choice(list(w.drives))
    st = w.drives[drive]
    mgr = rng.choice(sorted(st['managers'])) if st['managers'] else rng.choice(USERS)
    if op == 'rename' and live:
        drive = rng.choice(live)
        mgr = rng.choice(sorted(w.drives[drive]['managers']) or list(USERS))
        r = c[mgr].call('PATCH', '/graph/v1.0/drives/' + drive,
                        {'name': 'R%d' % rng.randrange(10 ** 6)})
        w.count(op, r.status == 200)
    elif op == 'disable' and live:
        drive = rng.choice(live)
        mgr = rng.choice(sorted(w.drives[drive]['managers']) or list(USERS))
        r = c[mgr].call('DELETE', '/graph/v1.0/drives/' + drive)
        if r.status == 204:
            w.drives[drive]['disabled'] = True
        w.count(op, r.status == 204)
    elif op in ('restore', 'purge'):
        off = [d for d, s in w.drives.items() if s['disabled']]
        if not off:
            return
        drive = rng.choice(off)
        mgr = rng.choice(sorted(w.drives[drive]['managers']) or list(USERS))
        if op == 'restore':
            r = c[mgr].call('PATCH', '/graph/v1.0/drives/' + drive, {}, {'Restore': 'T'})
            if r.status == 200:
                w.drives[drive]['disabled'] = False
        else:
            r = c[mgr].call('DELETE', '/graph/v1.0/drives/' + drive, None, {'Purge': 'T'})
            if r.status == 204:
                del w.drives[drive]
        w.count(op, r.status in (200, 204))
    elif op == 'member':
        who = rng.choice(USERS)
        role = rng.choice([SPACE_VIEWER, SPACE_EDITOR, MANAGER])
        body = {'recipients': [{'objectId': ids[who]}], 'roles': [role]}
        if rng.random() < 0.5 and role != MANAGER and rng.random() < 0.3:
            body['expirationDateTime'] = soon(rng.randint(1, 4))
        if rng.random() < 0.1:
            body = {'recipients': [{'objectId': group_id,
                                    '@libre.graph.recipient.type': 'group'}],
                    'roles': [SPACE_VIEWER]}
        r = c[mgr].call('POST', '/graph/v1beta1/drives/%s/root/invite' % drive, body)
        if r.status == 200:
            perm = r.json()['value'][0]['id']
            w.members.append((drive, perm, who))
            if role == MANAGER and 'expirationDateTime' not in body and \
                    '@libre.graph.recipient.type' not in body['recipients'][0]:
                st['managers'].add(who)
        w.count(op, r.status == 200)
    elif op in ('unmember', 'reroll'):
        mine = [m for m in w.members if m[0] == drive]
        if not mine:
            return
        m = rng.choice(mine)
        url = '/graph/v1beta1/drives/%s/root/permissions/%s' % (drive, m[1])
        if op == 'unmember':
            r = c[mgr].call('DELETE', url)
            if r.status == 204:
                w.members.remove(m)
                st['managers'].discard(m[2])
        else:
            r = c[mgr].call('PATCH', url, {'roles': [rng.choice([SPACE_VIEWER, SPACE_EDITOR])]})
            if r.status == 200:
                st['managers'].discard(m[2])
        w.count(op, r.status in (200, 204))
    elif op == 'share':
        item = drive if rng.random() < 0.3 else '%s!f%d' % (drive, rng.randrange(6))
        if rng.random() < 0.15:
            recipient, grantee = {'objectId': group_id,
                                  '@libre.graph.recipient.type': 'group'}, None
        else:
            grantee = rng.choice(USERS)
            recipient = {'objectId': ids[grantee]}
        body = {'recipients': [recipient], 'roles': [rng.choice([VIEWER, EDITOR])]}
        if rng.random() < 0.1:
            body['expirationDateTime'] = soon(rng.randint(1, 4))
        r = c[mgr].call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (
            drive, urllib.parse.quote(item, safe='')), body)
        if r.status == 200:
            w.shares.append((drive, item, r.json()['value'][0]['id'], mgr, grantee))
        w.count(op, r.status == 200)
    elif op == 'unshare':
        mine = [s for s in w.shares if s[0] == drive]
        if not mine:
            return
        s = rng.choice(mine)
        r = c[s[3]].call('DELETE', '/graph/v1beta1/drives/%s/items/%s/permissions/%s' % (
            drive, urllib.parse.quote(s[1], safe=''), s[2]))
        if r.status == 204:
            w.shares.remove(s)
        w.count(op, r.status == 204)
    elif op in ('unmount', 'mount'):
        who = rng.choice(USERS)
        base = '/graph/v1beta1/drives/' + urllib.parse.quote(SHARES, safe='')
        if op == 'unmount':
            mps = [d for d in listing(c[who]).values() if d['driveType'] == 'mountpoint' and
                   'remoteItem' in d['root'] and d['root']['remoteItem'].get('driveId')]
            if not mps:
                return
            r = c[who].call('DELETE', base + '/items/' +
                            urllib.parse.quote(rng.choice(mps)['id'], safe=''))
        else:
            got = [s for s in w.shares if s[4] == who]
            if not got:
                return
            r = c[who].call('POST', base + '/root/children',
                            {'remoteItem': {'id': rng.choice(got)[1]}})
        w.count(op, r.status in (201, 204))
    elif op == 'register':
        # A remote space by URL; the instance trusts itself, so it hosts
        # the space it registers.
        who = rng.choice(USERS)
        url = '%s/dav/spaces/%s' % (w.url, drive)
        r = c[who].call('POST', '/graph/v1.0/me/drives',
                        {'driveType': 'mountpoint', 'name': 'Remote %d' % rng.randrange(1000),
                         'root': {'remoteItem': {'webDavUrl': url}}})
        if r.status == 201:
            w.remotes.append((who, r.json()['id']))
        w.count(op, r.status == 201)
    elif op == 'unregister':
        if not w.remotes:
            return
        who, rid = rng.choice(w.remotes)
        r = c[who].call('DELETE', '/graph/v1.0/drives/' + rid)
        if r.status == 204:
            w.remotes.remove((who, rid))
        w.count(op, r.status == 204)
    elif op == 'storage':
        if rng.random() < 0.5:
            n = rng.randrange(6)
            storage_change(nc, drive, 'e%d' % rng.randrange(10 ** 9), '%s!f%d' % (drive, n),
                           'folder-%d-%d' % (n, rng.randrange(100)))
        else:
            storage_change(nc, drive, 'e%d' % rng.randrange(10 ** 9))
        w.storage += 1
        w.count(op, True)


def check_random(t, sp, nc, c, ids, group_id):
    rng = random.Random(int(os.environ.get('DELTA_SEED', '18')))
    w = World(c, ids)
    w.url = sp.url
    state = {n: {} for n in USERS}
    link = {n: DELTA for n in USERS}
    small = {'Prefer': 'odata.maxpagesize=2'}
    pages_small = 0
    ops = 0
    ok_all = True
    bola_ok = True
    for checkpoint in (60, 150, 300, 420, 500):
        while ops < checkpoint:
            random_op(rng, w, nc, group_id)
            ops += 1
        # Storage changes arrive through NATS and expiries through the
        # sweeper: both are done when they are in the log.
        t.ok(wait_until(lambda: settled(sp), 15) and
             wait_until(lambda: storage_handled(sp) >= w.storage, 15),
             'after %d operations every expiry is past and swept, every storage change '
             'taken' % ops)
        for n in USERS:
            items, delta, pages, r = follow(c[n], link[n], small if n == 'ann' else None)
            if n == 'ann':
                pages_small += pages
            if delta is None:
                ok_all = t.ok(False, '%s: delta after %d operations answers 200' % (n, ops),
                              (r.status, r.body[:300])) and ok_all
                continue
            full = listing(c[n])
            for d in items:
                if '@removed' not in d and d['id'] not in full and not wait_until(
                        lambda: d['id'] in listing(c[n]), 0.1):
                    bola_ok = t.ok(False, '%s: delta gave a drive the listing does not have' % n,
                                   d) and bola_ok
            apply(state[n], items)
            link[n] = delta
            full = listing(c[n])
            if set(state[n]) != set(full) or summary(state[n]) != summary(full):
                ok_all = False
                extra = set(state[n]) - set(full)
                missing = set(full) - set(state[n])
                differ = {i for i in set(full) & set(state[n])
                          if summary(state[n])[i] != summary(full)[i]}
                t.ok(False, '%s: deltas reproduce the listing after %d operations' % (n, ops),
                     'extra %r\nmissing %r\ndiffer %r' % (
                         [summary(state[n])[i] for i in extra],
                         [summary(full)[i] for i in missing],
                         [(summary(state[n])[i], summary(full)[i]) for i in differ]))
        t.diag('after %d operations: %s' % (ops, ', '.join(
            '%s %d drives' % (n, len(state[n])) for n in USERS)))
    t.ok(ok_all, 'after 500 random operations by five users, each user\'s deltas (taken at '
         'five points) applied in order reproduce exactly the ids, names and eTags of '
         'GET /me/drives')
    final_same = all(state[n] == listing(c[n]) for n in USERS)
    t.ok(final_same, 'and at the end the whole drives are equal, permissions and all')
    t.ok(bola_ok, 'no delta gave a user a drive their listing did not have')
    t.ok(pages_small > 5 * 2, 'with odata.maxpagesize=2 the rounds went through nextLinks '
         '(%d pages)' % pages_small)
    t.diag('operations that took effect / tried: %s' % json.dumps(
        {k: '%d/%d' % v for k, v in sorted(w.counts.items())}))
    for op in ('create', 'rename', 'disable', 'restore', 'purge', 'member', 'unmember', 'share',
               'unshare', 'unmount', 'storage', 'register', 'unregister'):
        t.ok(w.counts.get(op, (0, 0))[0] > 0, 'the run did %s at least once' % op)
    return w


def check_latest(t, c, ids):
    r = c['ben'].get(DELTA + '?token=latest')
    doc = r.json() if r.status == 200 else {}
    t.ok(r.status == 200 and doc.get('value') == [] and '@odata.deltaLink' in doc and
         '@odata.nextLink' not in doc, 'token=latest: no drives, only a deltaLink', doc)
    link = path_of(doc['@odata.deltaLink'])
    items, _, _, _ = follow(c['ben'], link)
    t.eq(items, [], 'its deltaLink answers nothing while nothing changed')
    r = c['ben'].call('POST', '/graph/v1.0/drives', {'name': 'Latest'})
    d = r.json()['id']
    items, _, _, _ = follow(c['ben'], link)
    t.ok([x['id'] for x in items] == [d] and items[0]['name'] == 'Latest' and
         items[0]['driveType'] == 'project',
         'and sees the next change: the new drive, whole', items)
    r = c['ann'].get(DELTA + '?token=latest')
    items, _, _, _ = follow(c['ann'], path_of(r.json()['@odata.deltaLink']))
    c['ben'].call('PATCH', '/graph/v1.0/drives/' + d, {'name': 'Secret name'})
    items2, _, _, _ = follow(c['ann'], path_of(r.json()['@odata.deltaLink']))
    t.ok(not any(x['id'] == d for x in items + items2),
         'a drive of ben\'s is never in ann\'s delta, not even as removed (BOLA)', items2)
    return d


def check_tokens(t, sp, c):
    ann = c['ann']
    for bad in ('abc', '-1', '1.5', '99999999999999999999', 'p', 'p!!', 'pQUJD', '%00'):
        r = ann.get(DELTA + '?token=' + urllib.parse.quote(bad))
        t.ok(r.status == 400 and r.json()['error']['code'] == 'invalidRequest',
             'token=%r: 400 invalidRequest' % bad, (r.status, r.body[:200]))
    t.eq(ann.get(DELTA + '?$top=0').status, 400, '$top=0: 400')
    t.eq(sp.request('GET', DELTA).status, 401, 'no bearer token: 401')
    newest = db(sp, 'SELECT max(seq) FROM events')[0][0]
    r = ann.get(DELTA + '?token=%d' % (newest + 1000))
    t.ok(r.status == 410 and r.json()['error']['code'] == 'resyncRequired',
         'a token this log never gave (a restored database): 410 resyncRequired', r.body[:200])

    # Past retention: the events after the token are pruned.
    old = ann.get(DELTA + '?token=latest').json()['@odata.deltaLink']
    items, mid, _, _ = follow(ann, DELTA, {'Prefer': 'odata.maxpagesize=1'})
    ann.call('POST', '/graph/v1.0/drives', {'name': 'After the old token'})
    page = ann.get(DELTA + '?$top=1').json().get('@odata.nextLink')
    cut = db(sp, 'SELECT max(seq) FROM events')[0][0]
    # As the pruner does, only what the relay published goes: the relay's
    # cursor is then what tells PostgreSQL's store the last seq given.
    t.ok(wait_until(lambda: db(sp, 'SELECT published_seq FROM relay_cursor')[0][0] >= cut, 10),
         'the events to prune are published')
    sp.db_exec('DELETE FROM events WHERE seq <= ?', (cut,))
    r = ann.get(path_of(old))
    t.ok(r.status == 410 and r.json()['error']['code'] == 'resyncRequired' and
         r.headers.get('location', '').endswith(DELTA),
         'a token older than the event log keeps: 410 resyncRequired, Location: the delta '
         'without a token', (r.status, r.headers.get('location'), r.body[:300]))
    r = ann.get(path_of(page))
    t.eq(r.status, 200, 'a listing page whose round is the newest seq still answers')
    items, delta, _, r = follow(ann, DELTA)
    t.ok(delta is not None and any(x.get('name') == 'After the old token' for x in items),
         'starting again without a token lists everything and gives a fresh deltaLink')
    t.eq(follow(ann, delta)[0], [], 'whose delta is empty')


def check_timing(t, sp, c):
    """Many changed drives in one delta call."""
    eve = c['eve']
    start = eve.get(DELTA + '?token=latest').json()['@odata.deltaLink']
    n = 300
    made = [eve.call('POST', '/graph/v1.0/drives', {'name': 'T%03d' % i}).json()['id']
            for i in range(n)]
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        items, _, pages, _ = follow(eve, path_of(start) + '&$top=1000')
        times.append(time.perf_counter() - t0)
    t.ok(set(made) <= {x['id'] for x in items}, 'a delta with %d changed drives names them all' % n)
    times.sort()
    t.diag('delta with %d changed drives (%d events): median %.1f ms, best %.1f ms' % (
        n, n, times[2] * 1000, times[0] * 1000))
    t0 = time.perf_counter()
    follow(eve, DELTA + '?$top=1000')
    t.diag('full delta listing of %d drives: %.1f ms' % (len(items), (time.perf_counter() - t0)
                                                          * 1000))


def main(t):
    with Nats() as nats, Issuer() as idp:
        sp = Spaceport(nats_url=nats.url, issuers=idp.url,
                       env={'SPACEPORT_LOG_LEVEL': 'info'})
        sp.env['SPACEPORT_TRUSTED_INSTANCES'] = sp.url
        with sp, NatsClient(nats.url) as nc:
            c, ids = {}, {}
            for n in USERS:
                # Creating a project drive takes the space admin role;
                # dan has none.
                tok = idp.token(n + '-sub', n, n.title(), groups=['crew'],
                                roles=['spaceport-spaceadmin'] if n != 'dan' else ())
                c[n] = Client(sp, tok)
                r = c[n].get('/graph/v1.0/me')
                if not t.eq(r.status, 200, '%s is provisioned' % n):
                    t.diag(sp.stderr_text()[-3000:])
                    return
                ids[n] = r.json()['id']
            group_id = db(sp, 'SELECT id FROM groups WHERE name = ?', ('crew',))[0][0]
            check_random(t, sp, nc, c, ids, group_id)
            check_latest(t, c, ids)
            check_timing(t, sp, c)
            check_tokens(t, sp, c)
            t.eq(PROBLEMS[:5], [], 'every delta answer matches schema/openapi.yaml')


if __name__ == '__main__':
    TAP().run(main)
