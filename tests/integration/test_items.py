#!/usr/bin/python3
"""Item ids stay inside their drive, and one slow instance delays only its
own remote spaces.

Hostile item ids: a Manager of one project invites on ids that name another
drive, climb out of it, or carry a path, a query, a fragment, an escape,
control characters or too many bytes. Each is refused with 400 before
anything is written (no share, no event), on every sharing route, and the
valid forms (the root, <driveId>!<opaque>) work with their ids
percent-encoded in the grantee's webDavUrl and webUrl.

The slow instance: two trusted instances, tiny HTTP servers answering a
drive lookup with a valid Drive, one at once, one after 3 seconds. While a
space of the slow one is being looked up, registrations of spaces at the
fast one answer promptly; only a second registration at the slow one is
told 503 (its own bound), and lookups in all are bounded so that slow
instances cannot take every HTTP worker."""
import json
import threading
import time
import urllib.parse
import uuid

from harness import TAP, Client, FakeServer, Issuer, Nats, Spaceport, sql_json, wait_until

VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
DAV = 'https://dav.example.test'
WEB = 'https://spaceport.example.test'
# What a path segment keeps unencoded besides the unreserved characters.
SEGMENT_SAFE = "!$&'()*+,;=:@"
SLOW_SECONDS = 3.0


def db_count(sp, sql, args=()):
    return sp.db_rows(sql, args)[0][0]


def written(sp):
    """Rows that a share would add: shares and events."""
    return (db_count(sp, 'SELECT count(*) FROM shares'),
            db_count(sp, 'SELECT count(*) FROM events'))


def item_path(drive, raw_item):
    """The sharing path of an item whose id is already as it goes on the
    wire (encoded or not, as the attack needs)."""
    return '/graph/v1beta1/drives/%s/items/%s' % (drive, raw_item)


def invite(client, drive, raw_item, grantee):
    return client.call('POST', item_path(drive, raw_item) + '/invite',
                       {'recipients': [{'objectId': grantee}], 'roles': [VIEWER]})


def q(item):
    return urllib.parse.quote(item, safe='')


def error_message(r):
    try:
        return r.json()['error']['code'], r.json()['error']['message']
    except (ValueError, KeyError, TypeError):
        return None, r.body[:200]


def check_hostile_ids(t, sp, alice, bob, bob_id, project, other):
    hostile = [
        ("another drive's id", q(other)),
        ("another drive's item <otherDriveId>!x", q(other + '!x')),
        ('..', '..'),
        ('.', '.'),
        ('<driveId>!..', q(project + '!..')),
        ('<driveId>!. ', q(project + '!.')),
        ('<driveId>!.. written %2e%2e', project + '!%2e%2e'),
        ('<driveId>!%2e%2e (the escape itself)', q(project + '!%2e%2e')),
        ('<driveId>!a%2Fb (an escaped slash, the id itself)', q(project + '!a%2Fb')),
        ('<driveId>!a?b', q(project + '!a?b')),
        ('<driveId>!?', q(project + '!?')),
        ('<driveId>!a#b', q(project + '!a#b')),
        ('<driveId>!a\\b', q(project + '!a\\b')),
        ('a control character (\\x01)', q(project + '!a\x01b')),
        ('a line break (header injection)', q(project + '!a\r\nX-Evil: 1')),
        ('DEL', q(project + '!\x7f')),
        ('invalid UTF-8 (%FF)', project + '!%FF'),
        ('an overlong UTF-8 slash (%C0%AF)', project + '!%C0%AF'),
        ('a 256-byte opaque part', q(project + '!' + 'a' * 256)),
        ('an empty opaque part', q(project + '!')),
        ('the drive id with a suffix', q(project + 'x')),
        ('a made-up id', 'item-1'),
    ]
    before = written(sp)
    for label, raw in hostile:
        r = invite(alice, project, raw, bob_id)
        code, msg = error_message(r)
        t.ok(r.status == 400 and code == 'invalidRequest' and 'itemId' in str(msg),
             'invite on %s: 400 invalidRequest naming the itemId rule' % label,
             (r.status, code, msg))
    t.eq(written(sp), before, 'none of the %d hostile invitations wrote a share or an event'
         % len(hostile))

    # A slash inside the id splits the path before any handler sees it:
    # the route is not found, and still nothing is written.
    r = invite(alice, project, q(project + '!a/b'), bob_id)
    t.ok(r.status in (400, 404) and written(sp) == before,
         '<driveId>!a/b (an encoded slash) finds no route or is refused; nothing written',
         (r.status, r.body[:200]))

    # The same rule on every route that takes an item id, so that an id
    # that could not be shared cannot be read or changed either.
    for method, suffix, body in (('GET', '/permissions', None),
                                 ('PATCH', '/permissions/p1', {'roles': [VIEWER]}),
                                 ('DELETE', '/permissions/p1', None)):
        got = [alice.call(method, item_path(project, raw) + suffix, body).status
               for raw in (q(other + '!x'), q(project + '!..'), q(project + '!a?b'))]
        t.eq(got, [400, 400, 400], '%s .../items/{hostile}%s: 400 each' % (method, suffix))

    # A stranger gets the same 400 on a drive they cannot see: the check
    # reads nothing but the path, so it tells nothing about the drive. And
    # the token comes first: without one, 401.
    r = invite(bob, project, q(other + '!x'), bob_id)
    t.eq(r.status, 400, 'a hostile id on a drive the caller cannot see is 400 as well')
    r = sp.request('POST', item_path(project, q(other + '!x')) + '/invite',
                   {'recipients': [{'objectId': bob_id}], 'roles': [VIEWER]})
    t.eq(r.status, 401, 'a hostile id without a token is 401: nothing is judged before it')


def mountpoint(client, item_id):
    for d in client.get('/graph/v1.0/me/drives').json()['value']:
        if d['driveType'] == 'mountpoint' and d['root']['remoteItem']['id'] == item_id:
            return d
    return None


def check_valid_ids(t, sp, alice, bob, bob_id, project):
    valid = [
        ('the root (the drive id itself)', project),
        ('<driveId>!abc', project + '!abc'),
        ('an oCIS node id', project + '!' + str(uuid.uuid4())),
        ('a 255-byte opaque part', project + '!' + 'b' * 255),
        ('dots that are not a segment', project + '!...'),
        ('a space and non-ASCII text', project + '!Gr\u00fc\u00dfe 2026 \u20ac'),
        ('sub-delimiters', project + "!a$b&c'(d)*+,;=:@e"),
        ('characters a URL must encode', project + '!a"<b>[c]^`{|}'),
    ]
    for label, item in valid:
        before = written(sp)
        r = invite(alice, project, q(item), bob_id)
        if not t.eq(r.status, 200, 'invite on %s: 200' % label):
            t.diag(r.body[:300])
            continue
        shares, events = written(sp)
        t.ok(shares == before[0] + 1 and events > before[1],
             '... one share and its event written', (before, (shares, events)))
        d = mountpoint(bob, item)
        want_dav = DAV + '/dav/spaces/' + urllib.parse.quote(item, safe=SEGMENT_SAFE)
        want_web = WEB + '/f/' + urllib.parse.quote(item, safe=SEGMENT_SAFE)
        t.ok(d is not None and d['root']['webDavUrl'] == want_dav and
             d['root']['remoteItem']['webDavUrl'] == want_dav and d['webUrl'] == want_web,
             "... the grantee's webDavUrl and webUrl carry the id percent-encoded, as one "
             'path segment', (want_dav, d and d['root'], d and d.get('webUrl')))
        if d is not None:
            path = urllib.parse.urlsplit(d['root']['webDavUrl']).path
            t.ok(path.count('/') == 3 and '?' not in d['root']['webDavUrl'] and
                 '#' not in d['root']['webDavUrl'],
                 '... no extra segment, query or fragment in it', path)
        r = alice.get(item_path(project, q(item)) + '/permissions')
        t.ok(r.status == 200 and any(p.get('grantedToV2', {}).get('user', {}).get('id') == bob_id
                                     for p in r.json()['value']),
             '... and its permissions list the share', r.body[:200])


def insert_legacy_shares(sp, project, sharer_id, grantee_id, items):
    """Writes shares as an older version stored them, item ids unchecked,
    into the stopped server's database; returns [(share id, mount id)]."""
    drive_seq = sp.db_rows('SELECT seq FROM drives WHERE id = ?', (project,))[0][0]
    sharer = sp.db_rows('SELECT seq FROM users WHERE id = ?', (sharer_id,))[0][0]
    grantee = sp.db_rows('SELECT seq FROM users WHERE id = ?', (grantee_id,))[0][0]
    now = int(time.time() * 1000)
    made = []
    for item in items:
        share, mount = str(uuid.uuid4()), str(uuid.uuid4())
        sp.db_exec('INSERT INTO shares (id, mount_id, drive_seq, item_id, item_name,'
                   ' grantee_seq, role, creator_seq, created_at, updated_at)'
                   ' VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
                   (share, mount, drive_seq, item, 'legacy ' + item[:8], grantee, VIEWER,
                    sharer, now, now))
        made.append((share, mount))
    return made


def all_drive_pages(client, top):
    """Every drive of the caller's listing, following @odata.nextLink."""
    seen, path = [], '/graph/v1.0/me/drives?$top=%d' % top
    for _ in range(100):
        doc = client.get(path).json()
        seen.append(doc['value'])
        link = doc.get('@odata.nextLink')
        if not link:
            break
        parts = urllib.parse.urlsplit(link)
        path = parts.path + '?' + parts.query
    return seen


MANAGER = '312c0871-5ef7-4b3a-85b6-0e4074c64049'
SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'


def check_legacy_shares(t, sp, alice, bob, bob_id, c, project, other):
    """Shares stored before the item id rule, naming another drive's item
    or no item at all: kept, never served to the grantee, removable by
    their sharer or a Manager, and by nobody else."""
    alice_id = alice.me()['id']
    carol, dave, erin = c['carol'], c['dave'], c['erin']
    for who, role in ((dave, SPACE_VIEWER), (erin, MANAGER)):
        r = alice.call('POST', '/graph/v1beta1/drives/%s/root/invite' % project,
                       {'recipients': [{'objectId': who.me()['id']}], 'roles': [role]})
        t.ok(r.status == 200, 'a member joins the project', r.body[:200])
    carol.me()
    hostile = [('a made-up id', 'item-1'), ("another drive's id", other),
               ("another drive's item <otherDriveId>!x", other + '!x')]
    control = project + '!legacy-ok'
    t.eq(sp.stop(), 0, 'spaceport stops for the upgrade')
    made = insert_legacy_shares(sp, project, alice_id, bob_id,
                                [item for _, item in hostile] + [control])
    legacy, (ok_share, ok_mount) = made[:-1], made[-1]
    sp.start()

    log = sp.stderr_text()
    for (label, item), (share, _) in zip(hostile, legacy):
        lines = [line for line in log.splitlines() if share in line]
        t.ok(len(lines) == 1 and '"level":"warn"' in lines[0] and 'not served' in lines[0],
             'start-up warns once about the share on %s' % label, lines)
    t.ok(ok_share not in log, 'and says nothing of the stored share of a valid item')

    # The stored share of a valid item is served: the rows are read, and
    # only the rule hides the others.
    drives = bob.get('/graph/v1.0/me/drives')
    text = drives.body.decode()
    mounts = {d['id']: d for d in drives.json()['value'] if d['driveType'] == 'mountpoint'}
    t.ok(ok_mount in mounts and mounts[ok_mount]['root']['remoteItem']['id'] == control,
         'the grantee sees the stored share of <driveId>!legacy-ok as a mountpoint')
    for (label, item), (share, mount) in zip(hostile, legacy):
        t.ok(mount not in mounts and share not in text,
             'the grantee has no mountpoint for the stored share on %s' % label)
        t.eq(bob.get('/graph/v1.0/drives/' + mount).status, 404,
             '... and GET of its mountpoint id is 404')
    t.ok(other not in text and 'item-1' not in text,
         "no drive of the grantee's listing names the other drive or item-1 (no webDavUrl "
         'points there)')
    beta = bob.get('/graph/v1beta1/me/drives').body.decode()
    t.ok(other not in beta and 'item-1' not in beta and ok_mount in beta,
         'nor does the v1beta1 listing')
    # The first page also carries the virtual Shares drive.
    pages = [[d['id'] for d in page if d['driveType'] != 'virtual']
             for page in all_drive_pages(bob, 1)]
    t.ok(all(len(page) == 1 for page in pages) and
         sorted(sum(pages, [])) == sorted(d['id'] for d in drives.json()['value']
                                          if d['driveType'] != 'virtual'),
         'paged by $top=1, every page is full and the pages add up to the listing',
         [len(page) for page in pages])

    swm = bob.get('/graph/v1beta1/me/drive/sharedWithMe')
    got = [i['remoteItem']['id'] for i in swm.json()['value']]
    t.ok(control in got and not any(item in got for _, item in hostile) and
         other not in swm.body.decode(),
         'sharedWithMe lists the valid stored share and none of the others', got)

    sbm = alice.get('/graph/v1beta1/me/drive/sharedByMe').json()['value']
    listed = {p['id'] for i in sbm for p in i['permissions']}
    t.ok(all(share in listed for share, _ in legacy),
         'the sharer still finds each of them in sharedByMe')

    def path(item, share):
        return item_path(project, q(item)) + '/permissions/' + share

    for (label, item), (share, _) in zip(hostile, legacy):
        for who, client in (('a stranger', carol), ('the grantee', bob)):
            r = client.call('DELETE', path(item, share))
            t.eq(r.status, 400, '%s removing the share on %s: 400, as for any such id'
                 % (who, label))
        r = dave.call('DELETE', path(item, share))
        t.eq(r.status, 403, 'a SpaceViewer of the drive removing it: 403')
        r = alice.call('PATCH', path(item, share), {'roles': [VIEWER]})
        t.eq(r.status, 400, 'changing it rather than removing it: 400')
        r = alice.call('DELETE', path(item, ok_share))
        t.eq(r.status, 400, 'its item id with the id of another share: 400')
    t.eq(db_count(sp, 'SELECT count(*) FROM shares WHERE id IN (?, ?, ?)',
                  tuple(share for share, _ in legacy)), 3, 'all three are still stored')

    for (label, item), (share, _) in zip(hostile, legacy):
        before = db_count(sp, "SELECT count(*) FROM events WHERE type = 'spaceport.share.deleted'"
                          " AND %s = ?" % sql_json('data', 'shareId'), (share,))
        # The last one by another Manager, who did not share it.
        by, client = ('the sharer', alice) if item != hostile[-1][1] else ('a Manager', erin)
        r = client.call('DELETE', path(item, share))
        t.eq(r.status, 204, '%s removes the stored share on %s: 204' % (by, label))
        t.ok(db_count(sp, 'SELECT count(*) FROM shares WHERE id = ?', (share,)) == 0 and
             db_count(sp, "SELECT count(*) FROM events WHERE type = 'spaceport.share.deleted'"
                      " AND %s = ? AND %s = ?" % (sql_json('data', 'shareId'),
                                                  sql_json('data', 'itemId')),
                      (share, item)) == before + 1,
             '... the row is gone and share.deleted names it')
    r = alice.call('DELETE', path(control, ok_share))
    t.eq(r.status, 204, 'and the valid stored share is removed as any other')


class FakeInstance(FakeServer):
    """A trusted instance that answers GET /graph/v1.0/drives/<id> with a
    valid Drive after delay seconds; records when each lookup began."""

    def __init__(self, delay):
        self.started = []
        self.delay = delay
        super().__init__(self._answer)

    def _answer(self, path):
        self.started.append(time.monotonic())
        prefix = '/graph/v1.0/drives/'
        if not path.startswith(prefix):
            return 404, b'', {}
        drive = urllib.parse.unquote(path[len(prefix):])
        time.sleep(self.delay)
        return 200, json.dumps({'id': drive, 'name': 'Remote ' + drive[:8],
                                'driveType': 'project',
                                'lastModifiedDateTime': '2026-01-02T03:04:05Z',
                                'root': {'id': drive, 'eTag': '"e-%s"' % drive[:8]}}).encode(), {
            'Content-Type': 'application/json'}


def register(client, instance):
    """Registers a new space of instance; returns (response, seconds)."""
    url = instance.url + '/dav/spaces/' + str(uuid.uuid4())
    t0 = time.monotonic()
    r = client.call('POST', '/graph/v1.0/me/drives',
                    {'driveType': 'mountpoint', 'root': {'remoteItem': {'webDavUrl': url}}})
    return r, time.monotonic() - t0


def in_background(fn, *args):
    box = {}
    th = threading.Thread(target=lambda: box.update(r=fn(*args)), daemon=True)
    th.start()
    return th, box


# src/api/remote.c: lookups in flight at one instance, and at all together.
PER_INSTANCE = 2
IN_ALL = 16


def check_slow_instance(t, sp, client, slow, fast, others):
    # Registrations at the slow instance hold its lookups 3 s each, up to
    # its own bound.
    busy = [in_background(register, client, slow) for _ in range(PER_INSTANCE)]
    t.ok(wait_until(lambda: len(slow.started) == PER_INSTANCE, 5),
         'the slow instance is being asked %d times at once' % PER_INSTANCE)

    r, took = register(client, fast)
    t.ok(r.status == 201 and took < 1.0,
         'meanwhile a space at another instance registers promptly: %d in %.2f s' % (
             r.status, took), r.body[:300])
    r2, took2 = register(client, fast)
    t.ok(r2.status == 201 and took2 < 1.0,
         'and another one: %d in %.2f s' % (r2.status, took2), r2.body[:300])
    t0 = time.monotonic()
    r3 = client.get('/graph/v1.0/me/drives')
    t.ok(r3.status == 200 and time.monotonic() - t0 < 1.0,
         'and other requests are answered at once (%.2f s)' % (time.monotonic() - t0))

    r, took = register(client, slow)
    code, msg = error_message(r)
    t.ok(r.status == 503 and r.headers.get('retry-after') == '1' and
         code == 'serviceNotAvailable' and slow.url in str(msg) and took < 1.0,
         'one more space at the busy slow instance: 503 at once, Retry-After, naming it',
         (r.status, r.headers.get('retry-after'), msg, took))
    t.eq(len(slow.started), PER_INSTANCE, 'and the slow instance was not asked again')

    for th, box in busy:
        th.join(15)
    got = [box['r'] for _, box in busy]
    t.ok(all(r.status == 201 and took >= SLOW_SECONDS - 0.2 for r, took in got),
         'the slow registrations themselves complete after %.0f s' % SLOW_SECONDS,
         [(r.status, round(took, 2), r.body[:100]) for r, took in got])
    r, took = register(client, slow)
    t.ok(r.status == 201, 'once they are done, the slow instance takes the next lookup: %d' %
         r.status, r.body[:300])

    # Slow instances together: at most IN_ALL lookups; one more (at an
    # instance of its own) is refused, and everything else still answers.
    per = [others[i // PER_INSTANCE] for i in range(IN_ALL)]
    waiting = [in_background(register, client, inst) for inst in per]
    t.ok(wait_until(lambda: sum(len(o.started) for o in others) == IN_ALL, 10),
         '%d lookups at %d slow instances at once' % (IN_ALL, IN_ALL // PER_INSTANCE))
    r, took = register(client, others[-1])
    code, msg = error_message(r)
    t.ok(r.status == 503 and r.headers.get('retry-after') == '1' and 'too many' in str(msg),
         'one more at yet another slow instance: 503 saying so', (r.status, msg))
    r, took = register(client, fast)
    t.ok(r.status == 503 and took < 1.0,
         'and so is one at the fast instance while all %d are taken' % IN_ALL, r.status)
    t0 = time.monotonic()
    r = client.get('/graph/v1.0/me/drives')
    t.ok(r.status == 200 and time.monotonic() - t0 < 1.0,
         'requests that need no lookup are answered at once (%.2f s)' % (time.monotonic() - t0))
    for th, box in waiting:
        th.join(15)
    t.eq([box['r'][0].status for _, box in waiting], [201] * IN_ALL,
         'the %d slow registrations complete' % IN_ALL)
    r, took = register(client, fast)
    t.ok(r.status == 201 and took < 1.0, 'and the fast instance is served at once again')


def main(t):
    slow, fast = FakeInstance(SLOW_SECONDS), FakeInstance(0)
    others = [FakeInstance(SLOW_SECONDS) for _ in range(IN_ALL // PER_INSTANCE + 1)]
    trusted = [slow, fast] + others
    try:
        with Nats() as nats, Issuer() as idp:
            sp = Spaceport(nats_url=nats.url, issuers=idp.url,
                           env={'SPACEPORT_DAV_URL': DAV, 'SPACEPORT_PUBLIC_URL': WEB,
                                'SPACEPORT_LOG_LEVEL': 'info',
                                'SPACEPORT_TRUSTED_INSTANCES': ','.join(i.url for i in trusted)})
            with sp:
                alice = Client(sp, idp.token('alice-sub', 'alice', 'Alice',
                                             roles=['spaceport-spaceadmin']))
                bob = Client(sp, idp.token('bob-sub', 'bob', 'Bob'))
                bob_id = bob.me()['id']
                alice.me()
                project = alice.call('POST', '/graph/v1.0/drives', {'name': 'Items'}).json()['id']
                other = alice.call('POST', '/graph/v1.0/drives', {'name': 'Other'}).json()['id']
                check_hostile_ids(t, sp, alice, bob, bob_id, project, other)
                check_valid_ids(t, sp, alice, bob, bob_id, project)
                users = {n: Client(sp, idp.token(n + '-sub', n, n.title()))
                         for n in ('carol', 'dave', 'erin')}
                check_legacy_shares(t, sp, alice, bob, bob_id, users, project, other)
                check_slow_instance(t, sp, bob, slow, fast, others)
                t.eq(sp.stop(), 0, 'spaceport exits 0')
    finally:
        for inst in trusted:
            inst.close()


if __name__ == '__main__':
    TAP().run(main)
