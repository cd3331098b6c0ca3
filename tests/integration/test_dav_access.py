#!/usr/bin/python3
"""The WebDAV server's access check, GET /api/v1/dav-access, attacked the
way a WebDAV client could: every request names a method and a raw URI
(X-Original-Method, X-Original-URI, as nginx's auth_request passes them)
and the check must answer what the caller's role on that space allows,
nothing more.

- Roles: the owner (Manager) reads and writes his personal space; another
  user is refused. On a project space a SpaceViewer reads but cannot PUT,
  MOVE or LOCK; a SpaceEditor writes; COPY needs read on the source and
  write on the Destination's space, so a Viewer space copies into an
  Editor space and not the reverse. A group's role counts as the token
  names the groups: from the first token that names it and no longer
  from one that leaves it out, before Spaceport has seen that token
  anywhere else. An expired membership, a disabled space
  (its Manager too), a purged space, an unknown id are refused; the admin
  and space admin app roles give no access to files.
- Tokens: none, forged, expired: 401 with WWW-Authenticate.
- Paths: dot segments (plain or encoded), an encoded '/', '\\', NUL or
  control characters, a wrong prefix, an id that is not a drive id, an
  item-share mount, an absolute-form target, a Destination on another
  origin: 403, each with the Manager's own token (so only the path is
  wrong). Merged slashes, a query and /remote.php/dav/spaces/ pass.
- Nothing is written: across hundreds of checks the database's
  data_version and its files do not change, no event is stored or
  published, and a user never seen is refused without being created."""
import os
import time
import uuid

from harness import TAP, Client, Issuer, Nats, Spaceport, wait_until

MANAGER = '312c0871-5ef7-4b3a-85b6-0e4074c64049'
SPACE_EDITOR = '58c63c02-1d89-4572-916a-870abc5a1b7d'
SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'
ROUTE = '/api/v1/dav-access'
PUBLIC = 'http://files.example.test'


def check(who, method, uri, destination=None, headers=None):
    """Asks the route as nginx would for a request of who (a Client, or a
    token string, or None for no token). Returns the Response."""
    h = {'X-Original-Method': method, 'X-Original-URI': uri}
    if destination is not None:
        h['Destination'] = destination
    h.update(headers or {})
    if isinstance(who, Client):
        return who.get(ROUTE, headers=h)
    sp, token = who
    if token:
        h['Authorization'] = 'Bearer ' + token
    return sp.request('GET', ROUTE, headers=h)


def personal(c):
    return [d['id'] for d in c.get('/graph/v1.0/me/drives').json()['value']
            if d['driveType'] == 'personal'][0]


def invite(client, drive, recipient, role, expiry=None, group=False):
    r = {'objectId': recipient}
    if group:
        r['@libre.graph.recipient.type'] = 'group'
    body = {'recipients': [r], 'roles': [role]}
    if expiry:
        body['expirationDateTime'] = expiry
    return client.call('POST', '/graph/v1beta1/drives/%s/root/invite' % drive, body)


def soon(seconds):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(int(time.time()) + seconds + 1))


def dav_metrics(sp):
    """{decision: count} of spaceport_dav_access_total."""
    out = {}
    for line in sp.request('GET', '/metrics').body.decode().splitlines():
        if line.startswith('spaceport_dav_access_total{'):
            out[line.split('"')[1]] = float(line.split()[1])
    return out


class DbWatch:
    """What Spaceport's database looks like from outside. On SQLite: its
    data_version (it changes when any other connection commits) and the
    size and mtime of the database and WAL files. On PostgreSQL, whose
    files and counters are the server's (a read may prune a page and
    write WAL; statistics arrive late): every table's row count and a
    digest of its rows, so that any row written, changed or removed
    shows."""

    def __init__(self, sp):
        self.dir = sp.data_dir
        self.db = sp.db
        self.con = self.db.connect()

    def state(self):
        if self.db.url:
            return self.pg_state()
        files = []
        for name in ('spaceport.db', 'spaceport.db-wal'):
            try:
                st = os.stat(os.path.join(self.dir, name))
                files.append((name, st.st_size, st.st_mtime_ns))
            except FileNotFoundError:
                files.append((name, None, None))
        return (self.con.execute('PRAGMA data_version').fetchone()[0], tuple(files))

    def settle(self, quiet=1.0, timeout=15):
        """Waits until nothing was committed for quiet seconds (the relay
        and sweepers finish what setting up wrote)."""
        last, since = self.state(), time.time()
        end = time.time() + timeout
        while time.time() < end:
            time.sleep(0.1)
            now = self.state()
            if now != last:
                last, since = now, time.time()
            elif time.time() - since >= quiet:
                return True
        return False

    def pg_state(self):
        cur = self.con.cursor()
        out = []
        for table in sorted(self.db.tables()):
            cur.execute('SELECT count(*), md5(coalesce(string_agg(t::text, \'|\' ORDER BY'
                        ' t::text), \'\')) FROM "%s" t' % table)
            out.append((table,) + cur.fetchone())
        return tuple(out)

    def count(self, sql, args=()):
        return self.db.rows(sql, args)[0][0]

    def close(self):
        self.con.close()


def roles(t, sp, c, ids, d):
    """Who may do what, by role."""
    einstein, marie, vic, eddie = c['einstein'], c['marie'], c['vic'], c['eddie']
    home = '/dav/spaces/%s' % d['home']
    for method in ('PUT', 'GET', 'PROPFIND', 'DELETE', 'MKCOL', 'HEAD', 'OPTIONS', 'PROPPATCH',
                   'LOCK', 'UNLOCK'):
        r = check(einstein, method, home + '/notes/relativity.txt')
        t.ok(r.status == 204 and r.headers.get('x-spaceport-role') == 'manager' and
             r.headers.get('x-spaceport-user-id') == ids['einstein'],
             'einstein (Manager) may %s in his personal space, told user and role' % method,
             (r.status, r.headers, r.body))
    for method in ('GET', 'PROPFIND', 'PUT'):
        t.eq(check(marie, method, home + '/notes/relativity.txt').status, 403,
             'marie, no member, may not %s in his space' % method)

    p, q = '/dav/spaces/%s' % d['p'], '/dav/spaces/%s' % d['q']
    for method in ('GET', 'HEAD', 'PROPFIND', 'OPTIONS', 'REPORT'):
        r = check(vic, method, p + '/plan.txt')
        t.ok(r.status == 204 and r.headers.get('x-spaceport-role') == 'viewer',
             'a SpaceViewer may %s' % method, (r.status, r.headers))
    for method in ('PUT', 'DELETE', 'MKCOL', 'PROPPATCH', 'LOCK', 'UNLOCK', 'POST', 'PATCH'):
        t.eq(check(vic, method, p + '/plan.txt').status, 403,
             'a SpaceViewer may not %s' % method)
    t.eq(check(vic, 'MOVE', p + '/plan.txt', sp.url + p + '/plan2.txt').status, 403,
         'a SpaceViewer may not MOVE within the space')
    t.eq(check(vic, 'COPY', p + '/plan.txt', sp.url + p + '/copy.txt').status, 403,
         'nor COPY into it')
    r = check(eddie, 'PUT', p + '/plan.txt')
    t.ok(r.status == 204 and r.headers.get('x-spaceport-role') == 'editor',
         'a SpaceEditor may PUT', (r.status, r.headers))
    t.eq(check(eddie, 'MOVE', p + '/plan.txt', sp.url + p + '/old/plan.txt').status, 204,
         'and MOVE within the space')
    t.eq(check(eddie, 'COPY', q + '/data.csv', sp.url + p + '/data.csv').status, 204,
         'COPY from a space he views (Q) into one he edits (P) is allowed')
    t.eq(check(eddie, 'COPY', p + '/plan.txt', sp.url + q + '/plan.txt').status, 403,
         'COPY from the space he edits into the one he only views is refused')
    t.eq(check(eddie, 'MOVE', q + '/data.csv', sp.url + p + '/data.csv').status, 403,
         'MOVE out of a space he only views is refused (it deletes there)')
    t.eq(check(eddie, 'MOVE', p + '/plan.txt', sp.url + '/dav/spaces/%s/x' % d['home']).status,
         403, "MOVE into a space he has no role on (einstein's) is refused")
    t.eq(check(eddie, 'PUT', home + '/x').status, 403,
         "an Editor elsewhere is nobody in einstein's space")


def groups(t, sp, idp, c, ids, d):
    """A group's role counts as the token names it, before Spaceport has seen
    that token anywhere else (the check provisions nothing)."""
    p = '/dav/spaces/%s/lab.txt' % d['p']
    r = check(c['gus'], 'PUT', p)
    t.ok(r.status == 204 and r.headers.get('x-spaceport-role') == 'editor',
         'gus, in group physics (SpaceEditor on P), may PUT', (r.status, r.headers))
    left = Client(sp, idp.token('gus', groups=[]))
    t.eq(check(left, 'GET', p).status, 403,
         'a token of gus that no longer names physics is refused at once, though Spaceport '
         'still holds his physics membership from his last API request')
    t.eq(check(Client(sp, idp.token('gus', groups=['chemistry'])), 'GET', p).status, 403,
         'nor does a token naming another group instead')
    more = Client(sp, idp.token('gus', groups=['chemistry', 'physics']))
    t.eq(check(more, 'PUT', p).status, 204,
         'a token naming physics among new groups still passes')
    joined = Client(sp, idp.token('marie', groups=['physics']))
    r = check(joined, 'PUT', p)
    t.ok(r.status == 204 and r.headers.get('x-spaceport-role') == 'editor',
         'marie, provisioned without groups, passes with her first token naming physics',
         (r.status, r.body))
    t.eq(check(c['marie'], 'GET', p).status, 403, 'and not with her token without it')
    t.eq(check(c['gus'], 'PUT', p).status, 204, 'his token naming physics still passes')
    t.eq(sp.db_rows("SELECT count(*) FROM group_members gm JOIN users u ON u.seq = gm.user_seq"
                    " WHERE u.sub = 'marie'")[0][0], 0,
         "and none of it changed the stored group memberships (marie's are still none)")


def lifecycle(t, sp, c, ids, d):
    """Expired, disabled and purged spaces, unknown ids, app roles."""
    einstein = c['einstein']
    t.eq(check(c['eve'], 'GET', '/dav/spaces/%s/x' % d['p']).status, 403,
         "eve's membership of P expired: refused")
    r = einstein.call('DELETE', '/graph/v1.0/drives/' + d['disabled'])
    t.eq(r.status, 204, 'einstein disables project D')
    for method in ('GET', 'PUT'):
        t.eq(check(einstein, method, '/dav/spaces/%s/x' % d['disabled']).status, 403,
             'a disabled space refuses even its Manager: %s' % method)
    r = einstein.call('DELETE', '/graph/v1.0/drives/' + d['purged'])
    r2 = einstein.call('DELETE', '/graph/v1.0/drives/' + d['purged'], headers={'Purge': 'T'})
    t.ok(r.status == 204 and r2.status == 204, 'einstein disables and purges project X',
         (r.status, r2.status))
    t.eq(check(einstein, 'GET', '/dav/spaces/%s/x' % d['purged']).status, 403,
         'a purged space: refused')
    t.eq(check(einstein, 'GET', '/dav/spaces/%s/' % uuid.uuid4()).status, 403,
         'an unknown space id: refused')
    for who in ('alice', 'sam'):
        for drive in ('home', 'p'):
            t.eq(check(c[who], 'GET', '/dav/spaces/%s/' % d[drive]).status, 403,
                 '%s (app role %s, no member) may not read %s' % (
                     who, 'admin' if who == 'alice' else 'space admin', drive))


def tokens(t, sp, idp, d):
    """401 for a missing, forged or expired token."""
    uri = '/dav/spaces/%s/x' % d['home']
    r = check((sp, None), 'GET', uri)
    t.ok(r.status == 401 and r.headers.get('www-authenticate', '').startswith('Bearer'),
         'no token: 401 with a Bearer challenge', (r.status, r.headers))
    forger = Issuer()  # another key, same kid, claiming the real issuer
    forger.url = idp.url
    forged = forger.token('einstein')
    forger.server.server_close()
    r = check((sp, forged), 'GET', uri)
    t.ok(r.status == 401 and 'invalid_token' in r.headers.get('www-authenticate', ''),
         'a forged token (signed with another key): 401 invalid_token', (r.status, r.headers))
    r = check((sp, idp.token('einstein', lifetime=-120)), 'GET', uri)
    t.ok(r.status == 401 and 'invalid_token' in r.headers.get('www-authenticate', ''),
         'an expired token: 401 invalid_token', (r.status, r.headers))
    r = check((sp, 'not.a.token'), 'GET', uri)
    t.eq(r.status, 401, 'garbage: 401')


def paths(t, sp, c, d):
    """Every malformed target is 403 with the Manager's own token."""
    einstein = c['einstein']
    home = d['home']
    bad = [
        ('/dav/spaces/%s/../%s/x' % (home, d['p']), 'a dot-dot segment'),
        ('/dav/spaces/%s/a/..' % home, 'a trailing dot-dot segment'),
        ('/dav/spaces/%s/%%2e%%2e/x' % home, 'an encoded dot-dot (%2e%2e)'),
        ('/dav/spaces/%s/.%%2E/x' % home, 'a half-encoded dot-dot'),
        ('/dav/spaces/%s/./x' % home, 'a dot segment'),
        ('/dav/spaces/%s/a%%2Fb' % home, 'an encoded slash (%2F)'),
        ('/dav/spaces/%s%%2F..%%2F%s/x' % (home, d['p']), 'an encoded slash hiding a dot-dot'),
        ('/dav/spaces/%s/a%%5Cb' % home, 'an encoded backslash (%5C)'),
        ('/dav/spaces/%s/a\\b' % home, 'a raw backslash'),
        ('/dav/spaces/%s/a%%00b' % home, 'an encoded NUL (%00)'),
        ('/dav/spaces/%s/a%%0ab' % home, 'an encoded line feed'),
        ('/dav/spaces/%s/a%%7fb' % home, 'an encoded DEL'),
        ('/dav/spaces/%s/a%%zzb' % home, 'a malformed percent-encoding'),
        ('/dav/spaces/%s/a%%2' % home, 'a truncated percent-encoding'),
        ('/files/spaces/%s/x' % home, 'a wrong prefix'),
        ('/dav/space/%s/x' % home, 'a near-miss prefix'),
        ('/dav/spacesX/%s/x' % home, 'a prefix with a suffix'),
        ('/DAV/spaces/%s/x' % home, 'a prefix in another case'),
        ('/remote.php/dav/%s/x' % home, 'remote.php without spaces'),
        ('/dav/spaces/', 'no space id'),
        ('/dav/spaces', 'the bare prefix'),
        ('/dav/spaces/not-a-uuid/x', 'an id that is not a drive id'),
        ('/dav/spaces/%s/x' % home.upper(), 'a drive id in upper case'),
        ('/dav/spaces/%s0/x' % home, 'a drive id with a character more'),
        ('/dav/spaces/%s!%s/x' % (home, uuid.uuid4()), 'an item-share mount'),
        ('/dav/spaces/%s/x' % ('%2e%2e'), 'a dot-dot as the id'),
        ('dav/spaces/%s/x' % home, 'a relative target'),
        ('http://127.0.0.1/dav/spaces/%s/x' % home, 'an absolute-form target'),
        ('/dav/spaces/%s/a#b' % home, 'a fragment'),
        ('/dav/spaces/%s/' % home + 'a' * 9000, 'a target longer than any request line'),
    ]
    for uri, what in bad:
        r = check(einstein, 'GET', uri)
        t.ok(r.status == 403, 'refused (403): %s' % what, (uri[:120], r.status, r.body[:200]))
    good = [
        ('/dav//spaces///%s//notes//a.txt' % home, 'repeated slashes are merged'),
        ('/dav/spaces/%s/a.txt?x=../../etc&y=%%2F' % home, 'the query is ignored'),
        ('/dav/spaces/%s' % home, 'the space root without a slash'),
        ('/dav/spaces/%s/%%C3%%A9t%%C3%%A9%%20notes.txt' % home, 'encoded UTF-8 and spaces'),
        ('/dav/spaces/%s/..hidden/...' % home, 'names that only start with dots'),
        ('/remote.php/dav/spaces/%s/a.txt' % home, '/remote.php/dav/spaces/ as /dav/spaces/'),
    ]
    for uri, what in good:
        r = check(einstein, 'PUT', uri)
        t.ok(r.status == 204, 'allowed (204): %s' % what, (uri, r.status, r.body[:200]))
    t.eq(check(c['marie'], 'GET', '/remote.php/dav/spaces/%s/a.txt' % home).status, 403,
         '/remote.php/dav/spaces/ refuses marie as /dav/spaces/ does')
    for method in ('FOO', 'TRACE', 'CONNECT', 'get', 'SEARCH', ''):
        t.eq(check(einstein, method, '/dav/spaces/%s/a.txt' % home).status, 403,
             'method %r is not served: 403' % method)
    r = einstein.get(ROUTE, headers={'X-Original-URI': '/dav/spaces/%s/' % home})
    t.eq(r.status, 400, 'no X-Original-Method: 400 (a misconfigured proxy)')
    r = einstein.get(ROUTE, headers={'X-Original-Method': 'GET'})
    t.eq(r.status, 400, 'no X-Original-URI: 400')


def destinations(t, sp, c, d):
    """COPY and MOVE need a Destination on this origin, under the prefixes."""
    einstein = c['einstein']
    src = '/dav/spaces/%s/a.txt' % d['home']
    dst = '/dav/spaces/%s/b.txt' % d['home']
    t.eq(check(einstein, 'MOVE', src, sp.url + dst).status, 204,
         'MOVE to the request\'s own Host: 204')
    t.eq(check(einstein, 'COPY', src, PUBLIC + dst).status, 204,
         'COPY to the public URL\'s origin (the proxy\'s, which nginx need not pass as Host): 204')
    t.eq(check(einstein, 'COPY', src, PUBLIC + '/remote.php' + dst).status, 204,
         'a Destination under /remote.php/dav/spaces/: 204')
    bad = [
        (None, 'no Destination'),
        ('', 'an empty Destination'),
        (dst, 'a Destination that is a path, not a URL'),
        ('http://evil.example.test' + dst, 'a Destination on another host'),
        (sp.url.replace('127.0.0.1', 'localhost') + dst, 'another name of this host'),
        ('http://127.0.0.1:1' + dst, 'another port'),
        ('https://files.example.test' + dst, 'the public host with another scheme'),
        ('ftp://files.example.test' + dst, 'a non-http scheme'),
        (PUBLIC + '/dav/spaces/%s/../%s/x' % (d['home'], d['p']), 'a dot-dot in the Destination'),
        (PUBLIC + '/dav/spaces/%s/a%%2Fb' % d['home'], 'an encoded slash in the Destination'),
        (PUBLIC + '/files/%s/b.txt' % d['home'], 'a Destination outside the prefixes'),
        ('http://user@files.example.test' + dst, 'a Destination with user-info'),
        (PUBLIC + '/dav/spaces/%s/b.txt' % uuid.uuid4(), 'a Destination in an unknown space'),
    ]
    for dest, what in bad:
        for method in ('COPY', 'MOVE'):
            r = check(einstein, method, src, dest)
            t.ok(r.status == 403, '%s refused (403): %s' % (method, what),
                 (dest, r.status, r.body[:200]))


def no_writes(t, sp, nats, c, d):
    """Hundreds of checks, allowed and refused, commit nothing and publish nothing."""
    watch = DbWatch(sp)
    try:
        t.ok(watch.settle(), 'the database is quiet before the checks')
        before = watch.state()
        events = watch.count('SELECT count(*) FROM events')
        users = watch.count('SELECT count(*) FROM users')
        js_before = nats.jsz().get('messages')
        m_before = dav_metrics(sp)
        newton = Client(sp, c['idp'].token('newton'))
        statuses = {}
        for i in range(60):
            for who, method, uri in (
                    ('einstein', 'PUT', '/dav/spaces/%s/f%d' % (d['home'], i)),
                    ('vic', 'PUT', '/dav/spaces/%s/f%d' % (d['p'], i)),
                    ('vic', 'GET', '/dav/spaces/%s/f%d' % (d['p'], i)),
                    ('gus', 'PUT', '/dav/spaces/%s/f%d' % (d['p'], i)),
                    ('marie', 'GET', '/dav/spaces/%s/' % d['home'])):
                s = check(c[who], method, uri).status
                statuses[s] = statuses.get(s, 0) + 1
            s = check(newton, 'GET', '/dav/spaces/%s/' % d['home']).status
            statuses[s] = statuses.get(s, 0) + 1
        t.eq(statuses, {204: 180, 403: 180}, '360 checks: 180 allowed, 180 refused')
        time.sleep(0.5)
        t.eq(watch.state(), before, ('data_version and the database files are unchanged: '
                                     if sp.database_url is None else
                                     'every table\'s rows are unchanged: ') +
             'nothing was committed')
        t.eq(watch.count('SELECT count(*) FROM events'), events, 'no event was stored')
        t.eq(watch.count('SELECT count(*) FROM users'), users, 'no user was created')
        t.eq(watch.count("SELECT count(*) FROM users WHERE sub = 'newton'"), 0,
             'newton, never seen before, was refused and not provisioned')
        t.eq(nats.jsz().get('messages'), js_before, 'nothing was published on the bus')
        m = dav_metrics(sp)
        t.ok(m.get('allowed', 0) - m_before.get('allowed', 0) == 180 and
             m.get('denied', 0) - m_before.get('denied', 0) == 180,
             'spaceport_dav_access_total counted 180 allowed and 180 denied', (m_before, m))
    finally:
        watch.close()


def main(t):
    with Nats() as nats, Issuer() as idp:
        sp = Spaceport(nats_url=nats.url, issuers=idp.url,
                       env={'SPACEPORT_PUBLIC_URL': PUBLIC, 'SPACEPORT_LOG_LEVEL': 'info'})
        with sp:
            c = {'idp': idp}
            for name in ('einstein', 'marie', 'vic', 'eddie', 'eve'):
                c[name] = Client(sp, idp.token(name))
            c['gus'] = Client(sp, idp.token('gus', groups=['physics']))
            c['alice'] = Client(sp, idp.token('alice', roles=['spaceport-admin']))
            c['sam'] = Client(sp, idp.token('sam', roles=['spaceport-spaceadmin']))
            ids = {}
            for name in ('einstein', 'marie', 'vic', 'eddie', 'eve', 'gus', 'alice', 'sam'):
                ids[name] = c[name].me()['id']
            physics = c['gus'].get('/graph/v1.0/me?$expand=memberOf').json()['memberOf'][0]['id']
            d = {'home': personal(c['einstein'])}
            # Olga, a space admin, makes the projects and hands them to
            # einstein as their Manager.
            olga = Client(sp, idp.token('olga', roles=['spaceport-spaceadmin']))
            setup = []
            for key, name in (('p', 'Project P'), ('q', 'Project Q'), ('disabled', 'D'),
                              ('purged', 'X')):
                r = olga.call('POST', '/graph/v1.0/drives', {'name': name})
                d[key] = r.json()['id']
                setup.append(invite(olga, d[key], ids['einstein'], MANAGER))
            setup += [invite(c['einstein'], d['p'], ids['vic'], SPACE_VIEWER),
                     invite(c['einstein'], d['p'], ids['eddie'], SPACE_EDITOR),
                     invite(c['einstein'], d['q'], ids['eddie'], SPACE_VIEWER),
                     invite(c['einstein'], d['p'], physics, SPACE_EDITOR, group=True),
                     invite(c['einstein'], d['p'], ids['eve'], SPACE_EDITOR, soon(2))]
            t.ok(all(r.status == 200 for r in setup), 'members invited',
                 [(r.status, r.body[:200]) for r in setup])
            t.eq(check(c['eve'], 'PUT', '/dav/spaces/%s/x' % d['p']).status, 204,
                 'eve, an Editor until her expiry, may PUT before it')
            roles(t, sp, c, ids, d)
            groups(t, sp, idp, c, ids, d)
            tokens(t, sp, idp, d)
            paths(t, sp, c, d)
            destinations(t, sp, c, d)
            wait_until(lambda: check(c['eve'], 'PUT', '/dav/spaces/%s/x' % d['p']).status == 403,
                       8)
            # The sweeper writes her member.expired event: let it, so the
            # checks below run against a database nothing else writes.
            t.ok(wait_until(lambda: sp.db_rows(
                "SELECT count(*) FROM events WHERE type = 'spaceport.space.member.expired'")[0][0]
                == 1, 8), "eve's membership expired and the sweeper recorded it")
            no_writes(t, sp, nats, c, d)
            lifecycle(t, sp, c, ids, d)


if __name__ == '__main__':
    TAP().run(main)
