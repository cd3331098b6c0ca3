#!/usr/bin/python3
"""WebDAV on the registry's origin: real nginx (examples/webdav/serve) in
front of the real program. Every file request is decided by Spaceport's
GET /api/v1/dav-access (auth_request) and served by nginx from
STORAGE/<driveId>/; every other path is Spaceport itself.

Each check is an attack or a client's everyday request: a member writes and
reads through both URL forms; an outsider, a Viewer, a caller without a
token, a disabled space and paths that climb out of a space get nothing
and leave nothing on disk; the page, the API and a change stream work
through the same origin."""
import http.client
import os
import re
import subprocess
import tempfile
import time
import urllib.parse

from harness import TAP, Client, Issuer, Nats, Spaceport, Webdav, wait_until
import sse

SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'
SPACE_EDITOR = '58c63c02-1d89-4572-916a-870abc5a1b7d'
# A change stream through nginx delivers an event within this (the same
# stream straight from Spaceport does in milliseconds; buffering in the
# proxy would hold it until the buffer fills or the stream ends).
STREAM_DELIVERY_S = 2.0
LARGE_PUT_BYTES = 50 * 1024 * 1024


def bearer(token, **more):
    h = {'Authorization': 'Bearer ' + token}
    h.update(more)
    return h


def read(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError:
        return None


def raw(dav, request_line, headers, body=b''):
    """Sends request_line as it is (no client-side normalising) and returns
    (status, body)."""
    conn = http.client.HTTPConnection('127.0.0.1', dav.port, timeout=30)
    try:
        method, target = request_line.split(' ', 1)
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        conn.putheader('Host', '127.0.0.1:%d' % dav.port)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.putheader('Content-Length', str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def invite(client, drive, user_id, role):
    return client.call('POST', '/graph/v1beta1/drives/%s/root/invite' % drive,
                       {'recipients': [{'objectId': user_id}], 'roles': [role]})


def check_owner(t, dav, tok, drive, form):
    """A member who may write uses every method the clients use."""
    base = '%s/%s' % (form, drive)
    tag = form.strip('/')
    r = dav.request('PUT', base + '/hello.txt', b'hello world', bearer(tok))
    t.eq(r.status, 201, '%s: the owner PUTs a file: 201' % tag)
    t.eq(read(dav.path(drive, 'hello.txt')), b'hello world',
         '%s: the bytes are in STORAGE/<driveId>/hello.txt' % tag)
    r = dav.request('GET', base + '/hello.txt', headers=bearer(tok))
    t.ok(r.status == 200 and r.body == b'hello world', '%s: GET returns the bytes' % tag,
         (r.status, r.body[:100]))
    for root in (base + '/', base):
        r = dav.request('PROPFIND', root, headers=bearer(tok, Depth='1'))
        t.ok(r.status == 207 and b'hello.txt' in r.body,
             '%s: PROPFIND Depth 1 on %s lists the file' % (tag, root[len(form):]),
             (r.status, r.body[:300]))
    r = dav.request('MKCOL', base + '/docs', headers=bearer(tok))
    t.ok(r.status == 201 and os.path.isdir(dav.path(drive, 'docs')),
         '%s: MKCOL without a trailing slash makes the folder' % tag, (r.status, r.body[:200]))
    r = dav.request('MKCOL', base + '/docs/sub/', headers=bearer(tok))
    t.ok(r.status == 201 and os.path.isdir(dav.path(drive, 'docs', 'sub')),
         '%s: MKCOL with a trailing slash makes the folder' % tag, r.status)
    # The Destination in the other URL form: both lead to the same files.
    other = '/dav/spaces' if form != '/dav/spaces' else '/remote.php/dav/spaces'
    dest = '%s%s/%s/docs/hello.txt' % (dav.url, other, drive)
    r = dav.request('MOVE', base + '/hello.txt', headers=bearer(tok, Destination=dest))
    t.ok(r.status in (201, 204) and read(dav.path(drive, 'docs', 'hello.txt')) == b'hello world'
         and not os.path.exists(dav.path(drive, 'hello.txt')),
         '%s: MOVE with a Destination in the other URL form moves the file' % tag,
         (r.status, r.body[:200]))
    dest = '%s%s/%s/copy.txt' % (dav.url, form, drive)
    r = dav.request('COPY', base + '/docs/hello.txt', headers=bearer(tok, Destination=dest))
    t.ok(r.status in (201, 204) and read(dav.path(drive, 'copy.txt')) == b'hello world' and
         read(dav.path(drive, 'docs', 'hello.txt')) == b'hello world',
         '%s: COPY copies the file' % tag, r.status)
    r = dav.request('DELETE', base + '/copy.txt', headers=bearer(tok))
    t.ok(r.status == 204 and not os.path.exists(dav.path(drive, 'copy.txt')),
         '%s: DELETE removes the file' % tag, r.status)
    r = dav.request('DELETE', base + '/docs/', headers=bearer(tok))
    t.ok(r.status == 204 and not os.path.exists(dav.path(drive, 'docs')),
         '%s: DELETE of a folder removes it and what it holds' % tag, r.status)
    for method, extra in (('DELETE', {}),
                          ('MOVE', {'Destination': '%s%s/%s/docs/' % (dav.url, form, drive)})):
        r = dav.request(method, base + '/', headers=bearer(tok, **extra))
        t.ok(r.status == 403 and os.path.isdir(dav.path(drive)),
             '%s: %s of the space root itself: 403, the space stays' % (tag, method), r.status)
    dav.request('PUT', base + '/keep.txt', b'keep', bearer(tok))
    dav.request('MKCOL', base + '/folder/', headers=bearer(tok))
    encoded = form.replace('/dav/', '/%64av/')  # the same prefix, a letter encoded
    for source, dest in (('/keep.txt', form + '/' + drive + '/'),
                         ('/folder/', form + '/' + drive + '/'),
                         ('/folder/', form + '/' + drive + '//'),
                         ('/folder/', form + '//' + drive + '/'),
                         ('/folder/', encoded + '/' + drive + '/')):
        r = dav.request('COPY', base + source,
                        headers=bearer(tok, Destination=dav.url + dest, Overwrite='T'))
        t.ok(r.status == 403 and read(dav.path(drive, 'keep.txt')) == b'keep',
             '%s: COPY of %s over the space root (%s): 403, the space stays' % (tag, source, dest),
             r.status)
    dav.request('DELETE', base + '/folder/', headers=bearer(tok))
    os.unlink(dav.path(drive, 'keep.txt'))


def check_into_itself(t, dav, tok, drive):
    """A writer's COPY of a folder into itself: nginx copies the copy again
    at every level until the path is too long (hundreds of copies of every
    file from one request); the same for the space's root."""
    base = '/dav/spaces/%s' % drive
    dav.request('MKCOL', base + '/loop/', headers=bearer(tok))
    dav.request('PUT', base + '/loop/in.txt', b'in', bearer(tok))
    for method, source, dest in (
            ('COPY', '/loop/', base + '/loop/sub/'),
            ('COPY', '/loop/', '/remote.php' + base + '/%6coop/sub/'),
            ('COPY', '/', base + '/rootcopy/'),
            ('COPY', '/loop/', base + '/loop/'),
            ('MOVE', '/loop/', base + '/loop/sub/')):
        r = dav.request(method, base + source,
                        headers=bearer(tok, Destination=dav.url + dest, Overwrite='T'))
        t.ok(r.status == 403 and os.listdir(dav.path(drive, 'loop')) == ['in.txt'] and
             not os.path.exists(dav.path(drive, 'rootcopy')),
             '%s of %s to %s (itself or below it): 403, nothing copied' % (method, source, dest),
             (r.status, os.listdir(dav.path(drive))))
    r = dav.request('COPY', base + '/loop/',
                    headers=bearer(tok, Destination=dav.url + base + '/loop2/'))
    t.ok(r.status == 201 and read(dav.path(drive, 'loop2', 'in.txt')) == b'in',
         'a COPY beside itself (loop/ to loop2/) is still done', r.status)
    for name in ('loop/', 'loop2/'):
        dav.request('DELETE', base + '/' + name, headers=bearer(tok))


def check_rootless(t, dav, einstein, tok):
    """A new space whose directory is not made yet (no storage watcher):
    a PUT or LOCK of its root would make a file where the space's directory
    goes, and every later upload would fail."""
    drive = einstein.call('POST', '/graph/v1.0/drives', {'name': 'Rootless'}).json()['id']
    for method, body, extra in (('PUT', b'x', {}),
                                ('LOCK', LOCK_BODY, {'Content-Type': 'application/xml'})):
        for target in ('/dav/spaces/' + drive, '/remote.php/dav/spaces/%s/' % drive):
            r = dav.request(method, target, body, bearer(tok, **extra))
            t.ok(r.status == 403 and not os.path.exists(dav.path(drive)),
                 '%s of a new space\'s root %s: 403, no file in place of its directory'
                 % (method, target), (r.status, os.path.exists(dav.path(drive))))
    r = dav.request('PUT', '/dav/spaces/%s/first.txt' % drive, b'first', bearer(tok))
    t.ok(r.status == 201 and read(dav.path(drive, 'first.txt')) == b'first',
         'and the first upload into it still makes its directory', r.status)


def check_outsider(t, dav, marie, drive):
    for method in ('GET', 'PROPFIND', 'PUT'):
        r = dav.request(method, '/dav/spaces/%s/secret.txt' % drive, b'x' if method == 'PUT' else None,
                        bearer(marie, Depth='1'))
        t.eq(r.status, 403, 'a user without a role on the space: %s 403' % method)
    t.eq(read(dav.path(drive, 'secret.txt')), b'top secret', "her PUT did not touch the file")
    r = dav.request('PUT', '/dav/spaces/%s/planted.txt' % drive, b'x', bearer(marie))
    t.ok(r.status == 403 and not os.path.exists(dav.path(drive, 'planted.txt')),
         'her PUT of a new file: 403 and no file is made', r.status)


def www_authenticate(dav, path, headers):
    """Every WWW-Authenticate field of a GET's answer (the harness's
    response keeps one value a name)."""
    conn = http.client.HTTPConnection('127.0.0.1', dav.port, timeout=10)
    try:
        conn.request('GET', path, headers=headers)
        return conn.getresponse().msg.get_all('WWW-Authenticate') or []
    finally:
        conn.close()


def check_no_token(t, dav, drive):
    for name, headers in (('no token', {}), ('a forged token', bearer('e30.e30.c2ln'))):
        r = dav.request('GET', '/dav/spaces/%s/secret.txt' % drive, headers=headers)
        t.ok(r.status == 401 and r.headers.get('www-authenticate', '').startswith('Bearer')
             and b'top secret' not in r.body,
             '%s: 401 with WWW-Authenticate: Bearer' % name, (r.status, r.headers))
        challenges = www_authenticate(dav, '/dav/spaces/%s/secret.txt' % drive, headers)
        t.ok(len(challenges) == 1, '%s: the challenge is sent once' % name, challenges)
    r = dav.request('PUT', '/dav/spaces/%s/anon.txt' % drive, b'x')
    t.ok(r.status == 401 and not os.path.exists(dav.path(drive, 'anon.txt')),
         'a PUT without a token: 401 and no file', r.status)
    r = dav.request('PROPFIND', '/dav/spaces/', headers={'Depth': '1'})
    t.ok(r.status == 401 and drive.encode() not in r.body,
         'the storage root lists nothing without a token', r.status)


def check_traversal(t, dav, marie, own, victim):
    """marie may write her own space; no spelling of a path that starts in
    it reaches einstein's file."""
    a, b = own, victim
    attempts = [
        '/dav/spaces/%s/../%s/secret.txt' % (a, b),
        '/dav/spaces/%s/%%2e%%2e/%s/secret.txt' % (a, b),
        '/dav/spaces/%s/%%2E%%2E/%s/secret.txt' % (a, b),
        '/dav/spaces/%s/.%%2e/%s/secret.txt' % (a, b),
        '/dav/spaces/%s/..%%2f%s/secret.txt' % (a, b),
        '/dav/spaces/%s%%2f..%%2f%s/secret.txt' % (a, b),
        '/dav/spaces/%s/..%%5c%s/secret.txt' % (a, b),
        '/dav/spaces/%s/./../%s/secret.txt' % (a, b),
        '/dav/spaces/%s//..//%s/secret.txt' % (a, b),
        '/remote.php/dav/spaces/%s/../../dav/spaces/%s/secret.txt' % (a, b),
        '/remote.php/../dav/spaces/%s/secret.txt' % b,
        '/dav/spaces/%s/%%252e%%252e/%s/secret.txt' % (a, b),
        '/dav/spaces/%s/..%%00/%s/secret.txt' % (a, b),
    ]
    leaked = []
    for target in attempts:
        for line in ('GET ' + target, 'GET http://127.0.0.1:%d%s' % (dav.port, target)):
            status, body = raw(dav, line, bearer(marie))
            if status == 200 or b'top secret' in body:
                leaked.append((line, status, body[:80]))
        status, _ = raw(dav, 'PUT %s' % target, bearer(marie), b'overwritten')
        # (A double-encoded %252e%252e is a folder named %2e%2e in her own
        # space: written there, which is hers to write.)
        if read(dav.path(b, 'secret.txt')) != b'top secret':
            leaked.append(('PUT ' + target, status))
    t.ok(not leaked and read(dav.path(b, 'secret.txt')) == b'top secret',
         '%d spellings of a path out of her space (dot segments, encoded, absolute-form) '
         'neither read nor wrote the other space' % (len(attempts) * 3), leaked)
    dest = '%s/dav/spaces/%s/../%s/stolen.txt' % (dav.url, a, b)
    dav.request('PUT', '/dav/spaces/%s/mine.txt' % a, b'mine', bearer(marie))
    r = dav.request('COPY', '/dav/spaces/%s/mine.txt' % a, headers=bearer(marie, Destination=dest))
    t.ok(r.status == 403 and not os.path.exists(dav.path(b, 'stolen.txt')),
         'a COPY whose Destination climbs into the other space: 403, nothing written', r.status)
    dest = 'http://elsewhere.example/dav/spaces/%s/mine2.txt' % a
    r = dav.request('COPY', '/dav/spaces/%s/mine.txt' % a, headers=bearer(marie, Destination=dest))
    t.ok(r.status == 403 and not os.path.exists(dav.path(a, 'mine2.txt')),
         'a COPY to another origin: 403', r.status)


def check_roles(t, dav, einstein, richard, katherine, project, other):
    """richard is a Viewer of project, katherine its Editor and a Viewer of
    other."""
    r = dav.request('PUT', '/dav/spaces/%s/viewer.txt' % project, b'v', bearer(richard))
    t.ok(r.status == 403 and not os.path.exists(dav.path(project, 'viewer.txt')),
         "a Viewer's PUT: 403 and no file written", r.status)
    r = dav.request('GET', '/dav/spaces/%s/plan.txt' % project, headers=bearer(richard))
    t.ok(r.status == 200 and r.body == b'the plan', "a Viewer's GET: 200 with the bytes", r.status)
    r = dav.request('PROPFIND', '/dav/spaces/%s/' % project, headers=bearer(richard, Depth='1'))
    t.ok(r.status == 207 and b'plan.txt' in r.body, "a Viewer's PROPFIND: 207", r.status)
    r = dav.request('DELETE', '/dav/spaces/%s/plan.txt' % project, headers=bearer(richard))
    t.ok(r.status == 403 and os.path.exists(dav.path(project, 'plan.txt')),
         "a Viewer's DELETE: 403, the file stays", r.status)
    r = dav.request('MKCOL', '/dav/spaces/%s/vdir/' % project, headers=bearer(richard))
    t.ok(r.status == 403 and not os.path.exists(dav.path(project, 'vdir')),
         "a Viewer's MKCOL: 403", r.status)
    r = dav.request('PUT', '/dav/spaces/%s/editor.txt' % project, b'e', bearer(katherine))
    t.ok(r.status == 201 and read(dav.path(project, 'editor.txt')) == b'e',
         "an Editor's PUT: 201, the file written", r.status)
    # A chunked upload (no Content-Length) passes the check the same way.
    conn = http.client.HTTPConnection('127.0.0.1', dav.port, timeout=30)
    conn.request('PUT', '/dav/spaces/%s/chunked.txt' % project, body=iter([b'one ', b'two']),
                 headers=bearer(katherine), encode_chunked=True)
    status = conn.getresponse().status
    conn.close()
    t.ok(status == 201 and read(dav.path(project, 'chunked.txt')) == b'one two',
         "an Editor's chunked PUT (no Content-Length): 201, the file written", status)
    dest = '%s/dav/spaces/%s/editor.txt' % (dav.url, other)
    r = dav.request('MOVE', '/dav/spaces/%s/editor.txt' % project,
                    headers=bearer(katherine, Destination=dest))
    t.ok(r.status == 403 and read(dav.path(project, 'editor.txt')) == b'e' and
         not os.path.exists(dav.path(other, 'editor.txt')),
         'MOVE from a space she edits into one she views: 403, the file is still at its source',
         r.status)
    r = dav.request('COPY', '/dav/spaces/%s/editor.txt' % project,
                    headers=bearer(katherine, Destination=dest))
    t.ok(r.status == 403 and not os.path.exists(dav.path(other, 'editor.txt')),
         'COPY into the space she views: 403', r.status)
    dest = '%s/remote.php/dav/spaces/%s/moved.txt' % (dav.url, project)
    r = dav.request('MOVE', '/dav/spaces/%s/editor.txt' % project,
                    headers=bearer(katherine, Destination=dest))
    t.ok(r.status in (201, 204) and read(dav.path(project, 'moved.txt')) == b'e',
         'an Editor MOVEs within the space: done', r.status)
    r = dav.request('LOCK', '/dav/spaces/%s/moved.txt' % project, LOCK_BODY,
                    bearer(katherine, **{'Content-Type': 'application/xml', 'Timeout': 'Second-60'}))
    token = r.headers.get('lock-token', '')
    t.ok(r.status == 200 and token, 'an Editor LOCKs a file (Office, Finder): 200 with a token',
         (r.status, r.body[:200]))
    r = dav.request('UNLOCK', '/dav/spaces/%s/moved.txt' % project,
                    headers=bearer(katherine, **{'Lock-Token': token}))
    t.eq(r.status, 204, 'and UNLOCKs it')
    r = dav.request('LOCK', '/dav/spaces/%s/plan.txt' % project, LOCK_BODY,
                    bearer(richard, **{'Content-Type': 'application/xml'}))
    t.eq(r.status, 403, 'a Viewer cannot LOCK (a lock would block the writers)')


LOCK_BODY = (b'<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">'
             b'<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>'
             b'</D:lockinfo>')


def check_disabled(t, dav, einstein_c, tok, project):
    r = einstein_c.call('DELETE', '/graph/v1.0/drives/' + project)
    t.eq(r.status, 204, 'the Manager disables the project space')
    for method, body in (('GET', None), ('PUT', b'x'), ('PROPFIND', None)):
        r = dav.request(method, '/dav/spaces/%s/plan.txt' % project, body, bearer(tok, Depth='0'))
        t.eq(r.status, 403, 'a disabled space: %s by its Manager 403' % method)
    t.eq(read(dav.path(project, 'plan.txt')), b'the plan', 'the disabled space kept its file')


def check_origin(t, dav, sp, einstein_c, tok, personal):
    """The page, the API and a change stream through the same origin."""
    r = dav.request('GET', '/')
    t.ok(r.status == 200 and b'<html' in r.body.lower(), 'the page / through nginx: 200 HTML',
         r.status)
    r = dav.request('GET', '/graph/v1.0/me/drives', headers=bearer(tok))
    drives = r.json()['value'] if r.status == 200 else []
    urls = [d['root']['webDavUrl'] for d in drives]
    t.ok(urls and all(u.startswith(dav.url + '/dav/spaces/') for u in urls),
         "/graph/v1.0/me/drives through nginx: every webDavUrl is on nginx's origin", urls)
    mine = [d for d in drives if d['id'] == personal]
    if mine:
        r = dav.request('PROPFIND', urllib.parse.urlsplit(mine[0]['root']['webDavUrl']).path,
                        headers=bearer(tok, Depth='0'))
        t.eq(r.status, 207, 'the webDavUrl the API prints answers PROPFIND')
    stream = sse.Stream(dav.port, tok)
    t.eq(stream.status, 200, 'a change stream opens through nginx')
    time.sleep(0.3)
    while not stream.events.empty():
        stream.events.get_nowait()
    r = dav.request('POST', '/graph/v1.0/drives', {'name': 'Streamed'}, bearer(tok))
    sent = time.monotonic()
    t.eq(r.status, 201, 'a space is created through nginx')
    got = None
    deadline = sent + STREAM_DELIVERY_S
    while time.monotonic() < deadline and got is None:
        try:
            e = stream.events.get(timeout=max(0.01, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - queue.Empty: nothing within the time
            break
        if e.get('event'):
            got = e
    t.ok(got is not None and got['at'] - sent < STREAM_DELIVERY_S,
         'the stream delivers the change within %.0f s through nginx (unbuffered)'
         % STREAM_DELIVERY_S, got)
    stream.close()


def check_large(t, dav, tok, drive):
    data = os.urandom(1024 * 1024) * (LARGE_PUT_BYTES // (1024 * 1024))
    r = dav.request('PUT', '/dav/spaces/%s/large.bin' % drive, data, bearer(tok), timeout=120)
    t.ok(r.status == 201 and os.path.getsize(dav.path(drive, 'large.bin')) == len(data) and
         read(dav.path(drive, 'large.bin')) == data, 'a 50 MB PUT: 201, every byte on disk',
         r.status)
    if r.status == 201:
        os.unlink(dav.path(drive, 'large.bin'))
    else:
        t.diag(dav.log_text())


def rclone(dav, token, drive, *args):
    """rclone (Debian's), as the README mounts a space: the space's WebDAV
    URL and the bearer token, no configuration file. Returns (exit code,
    stdout)."""
    env = dict(os.environ, RCLONE_CONFIG=os.path.join(dav.run_dir, 'rclone.conf'),
               RCLONE_WEBDAV_URL='%s/dav/spaces/%s' % (dav.url, drive),
               RCLONE_WEBDAV_BEARER_TOKEN=token, RCLONE_WEBDAV_VENDOR='other')
    p = subprocess.run(['rclone', '--low-level-retries', '1', '--retries', '1'] + list(args),
                       env=env, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(errors='replace') + p.stderr.decode(errors='replace')


def check_rclone(t, dav, editor, viewer, project):
    """A common WebDAV client works against the origin as the README says."""
    with tempfile.NamedTemporaryFile(suffix='.txt') as f:
        f.write(b'from rclone')
        f.flush()
        rc, out = rclone(dav, editor, project, 'copyto', f.name, ':webdav:rc/sub/notes.txt')
        t.ok(rc == 0 and read(dav.path(project, 'rc', 'sub', 'notes.txt')) == b'from rclone',
             'rclone as an Editor: copyto makes the folders and the file', out[-800:])
        rc, out = rclone(dav, viewer, project, 'lsf', '-R', ':webdav:rc')
        t.ok(rc == 0 and 'sub/notes.txt' in out, 'rclone as a Viewer: lsf -R lists it', out[-800:])
        rc, out = rclone(dav, viewer, project, 'cat', ':webdav:rc/sub/notes.txt')
        t.ok(rc == 0 and out.startswith('from rclone'), 'rclone as a Viewer: cat reads it',
             out[-800:])
        rc, out = rclone(dav, viewer, project, 'copyto', f.name, ':webdav:rc/viewer.txt')
        t.ok(rc != 0 and not os.path.exists(dav.path(project, 'rc', 'viewer.txt')),
             'rclone as a Viewer: copyto fails, no file', out[-800:])
        rc, out = rclone(dav, editor, project, 'purge', ':webdav:rc')
        t.ok(rc == 0 and not os.path.exists(dav.path(project, 'rc')),
             'rclone as an Editor: purge removes the folder', out[-800:])


def dav_decisions(sp):
    out = {}
    for line in sp.request('GET', '/metrics').body.decode().splitlines():
        m = re.match(r'spaceport_dav_access_total\{decision="(\w+)"\} (\S+)', line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def main(t):
    dav = Webdav()
    with Nats() as nats, Issuer() as idp, \
            Spaceport(nats_url=nats.url, issuers=idp.url, env=dav.env()) as sp, \
            dav.in_front_of(sp):
        tok = {
            'einstein': idp.token('einstein-sub', 'einstein', roles=['spaceport-spaceadmin']),
            'marie': idp.token('marie-sub', 'marie'),
            'richard': idp.token('richard-sub', 'richard'),
            'katherine': idp.token('katherine-sub', 'katherine'),
        }
        ids, personal = {}, {}
        for name, token in tok.items():
            r = dav.request('GET', '/graph/v1.0/me/drives', headers=bearer(token))
            if not t.eq(r.status, 200, '%s signs in through nginx' % name):
                t.diag(dav.log_text())
                return
            personal[name] = [d['id'] for d in r.json()['value']
                              if d['driveType'] == 'personal'][0]
            ids[name] = Client(sp, token).me()['id']
        mine = personal['einstein']
        # The first PUT into a space whose directory the storage watcher has
        # not made yet: nginx makes it, named by the drive id.
        t.ok(not os.path.exists(dav.path(mine)), 'the space has no directory yet')
        r = dav.request('PUT', '/dav/spaces/%s/secret.txt' % mine, b'top secret',
                        bearer(tok['einstein']))
        t.ok(r.status == 201 and os.listdir(dav.storage) == [mine],
             "the first PUT makes exactly STORAGE/<driveId>/", (r.status, os.listdir(dav.storage)))
        dav.request('MKCOL', '/dav/spaces/%s/private/' % mine, headers=bearer(tok['einstein']))
        dav.request('PUT', '/dav/spaces/%s/private/deep/f.txt' % mine, b'f',
                    bearer(tok['einstein']))
        modes = {p: oct(os.stat(dav.path(mine, *p)).st_mode & 0o777) for p in
                 [('secret.txt',), ('private',), ('private', 'deep'), ('private', 'deep', 'f.txt')]}
        t.ok(all(int(m, 8) & 0o077 == 0 for m in modes.values()),
             "files and folders nginx makes are its user's alone: another local account "
             "cannot read a space's files past the check", modes)
        dav.request('DELETE', '/dav/spaces/%s/private/' % mine, headers=bearer(tok['einstein']))
        check_owner(t, dav, tok['einstein'], mine, '/dav/spaces')
        check_owner(t, dav, tok['einstein'], mine, '/remote.php/dav/spaces')
        check_into_itself(t, dav, tok['einstein'], mine)
        check_outsider(t, dav, tok['marie'], mine)
        check_no_token(t, dav, mine)
        check_traversal(t, dav, tok['marie'], personal['marie'], mine)

        einstein = Client(sp, tok['einstein'])
        project = einstein.call('POST', '/graph/v1.0/drives', {'name': 'Relativity'}).json()['id']
        other = einstein.call('POST', '/graph/v1.0/drives', {'name': 'Archive'}).json()['id']
        ok = [invite(einstein, project, ids['richard'], SPACE_VIEWER).status,
              invite(einstein, project, ids['katherine'], SPACE_EDITOR).status,
              invite(einstein, other, ids['katherine'], SPACE_VIEWER).status]
        t.eq(ok, [200, 200, 200], 'einstein makes richard a Viewer and katherine an Editor')
        r = dav.request('PUT', '/dav/spaces/%s/plan.txt' % project, b'the plan',
                        bearer(tok['einstein']))
        t.eq(r.status, 201, 'the Manager of a project space PUTs a file')
        check_roles(t, dav, einstein, tok['richard'], tok['katherine'], project, other)
        check_rootless(t, dav, einstein, tok['einstein'])
        check_rclone(t, dav, tok['katherine'], tok['richard'], project)
        check_disabled(t, dav, einstein, tok['einstein'], project)
        check_origin(t, dav, sp, einstein, tok['einstein'], mine)
        check_large(t, dav, tok['einstein'], mine)

        seen = dav_decisions(sp)
        t.ok(seen.get('allowed', 0) > 0 and seen.get('denied', 0) > 0 and
             seen.get('unauthenticated', 0) > 0,
             'spaceport_dav_access_total counts every kind of decision nginx asked for', seen)


if __name__ == '__main__':
    TAP().run(main)
