#!/usr/bin/python3
"""examples/storage-watcher against a real nats-server and the real program.

Files are written as nginx's WebDAV PUT writes them (the body into a
temporary file outside the storage, then renamed over the target), moved,
made and deleted in a temporary storage directory. The watcher must
publish one spaceport.storage.changed per settled change, not one per
inotify event (a burst of uploads would flood every client's change
stream), with items Spaceport accepts (one bad item would drop the whole
event) and a quotaUsed that is right after overwrites, moves and deletes
(the page shows it). Ids must survive an overwrite, a move and a restart:
a share names its item by id, and a share whose id changed under it would
point at nothing. Every event is checked against
schema/events/storage-changed.json, counted in the SPACEPORT stream, and
seen applied by Spaceport (quota.used, the item's name in sharedWithMe)."""
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse

import jsonschema

from harness import SOURCE_ROOT, TAP, Client, Issuer, Nats, Spaceport, wait_until
from natsclient import NatsClient

WATCHER = os.path.join(SOURCE_ROOT, 'examples', 'storage-watcher')
SUBJECT = 'spaceport.storage.changed'
VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
SETTLE_MS = 150
# The promise: a change reaches Spaceport within 1 s.
PROMPT = 1.0
# Folders in one another: as many as a path of PATH_MAX bytes holds.
DEEP = 1500
# The pause between the files of a burst: well within SETTLE_MS.
BURST_GAP = 0.02


class Watcher:
    """The real examples/storage-watcher on a storage directory."""

    def __init__(self, storage, nats_url, log_path):
        self.storage, self.nats_url, self.log_path = storage, nats_url, log_path
        self.proc = None

    def start(self):
        self.log = open(self.log_path, 'ab')
        self.proc = subprocess.Popen(
            ['/usr/bin/python3', WATCHER, '--storage', self.storage, '--nats', self.nats_url,
             '--settle-ms', str(SETTLE_MS)], stdout=self.log, stderr=self.log)
        if not wait_until(lambda: 'watching' in self.text(), 10):
            raise RuntimeError('storage-watcher did not start:\n' + self.text())
        return self

    def stop(self):
        """SIGTERM; returns the exit code (None when it had to be killed)."""
        code = None
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self.log.close()
        return code

    def text(self):
        with open(self.log_path, 'rb') as f:
            return f.read().decode(errors='replace')


class Files:
    """Writes into a drive's directory as nginx does."""

    def __init__(self, storage, scratch):
        self.storage, self.scratch, self.n = storage, scratch, 0

    def put(self, drive, rel, data):
        """A WebDAV PUT: the body in a temporary file, renamed over the
        target (a new inode each time), parents made as needed."""
        self.n += 1
        tmp = os.path.join(self.scratch, '%010d' % self.n)
        with open(tmp, 'wb') as f:
            f.write(data)
        target = os.path.join(self.storage, drive, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(tmp, target)
        return target


class Events:
    """The storage changes the watcher publishes, as a core subscriber sees
    them the moment they are stored, and as the stream holds them."""

    def __init__(self, nc, schema):
        self.nc, self.schema = nc, schema
        self.q = nc.subscribe(SUBJECT)

    def next(self, timeout=PROMPT):
        """The next event and the seconds it took, or (None, timeout)."""
        start = time.monotonic()
        try:
            m = self.q.get(timeout=timeout)
        except queue.Empty:
            return None, timeout
        return m.json(), time.monotonic() - start

    def quiet(self, seconds=3 * SETTLE_MS / 1000.0):
        """The events that came within seconds (none, when nothing changed)."""
        out = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            try:
                out.append(self.q.get(timeout=left).json())
            except queue.Empty:
                return out

    def settled(self, timeout=PROMPT):
        """Every event of one settled change: the first within timeout, then
        any that follow before quiet."""
        first, took = self.next(timeout)
        return ([first] + self.quiet() if first else []), took

    def in_stream(self):
        return [json.loads(d) for _, subject, _, d in self.nc.stream_messages()
                if subject == SUBJECT]

    def problems(self, event):
        return [e.message for e in jsonschema.Draft7Validator(self.schema).iter_errors(event)]


def quota_used(client, drive):
    r = client.get('/graph/v1.0/drives/' + drive)
    return r.json().get('quota', {}).get('used') if r.status == 200 else None


def stored_item(sp, item_id):
    rows = sp.db_rows('SELECT name, path, folder, size, mime_type, parent_id FROM items'
                      ' WHERE id = ?', (item_id,))
    return rows[0] if rows else None


def items_by_name(events):
    out = {}
    for e in events:
        for it in e['data'].get('items', []):
            out[it.get('name', it['id'])] = it
    return out


def check_first_upload(t, ctx):
    sp, ev, files, einstein, drive = ctx['sp'], ctx['ev'], ctx['files'], ctx['einstein'], \
        ctx['drive']
    before = len(ev.in_stream())
    path = files.put(drive, 'hello.txt', b'hello world\n')
    got, took = ev.settled()
    t.diag('first upload published after %.0f ms' % (took * 1000))
    t.ok(len(got) == 1 and took < PROMPT,
         'an upload is one storage change, published within 1 s', got)
    t.eq(len(ev.in_stream()) - before, 1, 'and the SPACEPORT stream holds exactly one more')
    if not got:
        return None
    e = got[0]
    t.eq(ev.problems(e), [], 'it matches schema/events/storage-changed.json')
    d = e['data']
    item = (d.get('items') or [{}])[0]
    t.ok(d['driveId'] == drive and d['change'] == 'created' and
         d.get('itemId') == item.get('id') and d.get('quotaUsed') == 12,
         'it names the drive, the created item and the bytes used', d)
    t.ok(item.get('id', '').startswith(drive + '!') and item.get('name') == 'hello.txt' and
         item.get('path') == '/hello.txt' and item.get('parentId') == drive and
         item.get('type') == 'file' and item.get('size') == 12 and
         item.get('mimeType') == 'text/plain',
         'the item: name, path, the drive root as parent, size, media type', item)
    t.eq(os.getxattr(path, 'user.spaceport.id').decode(), item.get('id'),
         'the id is kept in the file\'s user.spaceport.id')
    t.ok(wait_until(lambda: quota_used(einstein, drive) == 12, PROMPT),
         'Spaceport applied it: the drive\'s quota.used is 12', quota_used(einstein, drive))
    t.eq(stored_item(sp, item.get('id')), ('hello.txt', '/hello.txt', 0, 12, 'text/plain', drive),
         'Spaceport keeps the item as described (what share listings show)')
    return item['id']


def check_burst(t, ctx):
    ev, files, drive = ctx['ev'], ctx['files'], ctx['drive']
    sizes = {}
    for i in range(20):
        # Spread over 400 ms, each within the settling time of the one
        # before: a watcher that does not wait for the change to settle
        # publishes many events.
        data = b'x' * (100 + i)
        files.put(drive, 'burst-%02d.bin' % i, data)
        sizes['burst-%02d.bin' % i] = len(data)
        time.sleep(BURST_GAP)
    got, _ = ev.settled()
    names = items_by_name(got)
    t.ok(1 <= len(got) <= 2, 'twenty uploads at once are one event (or two), not twenty',
         '%d events' % len(got))
    t.eq(sorted(names), sorted(sizes), 'and they carry all twenty items')
    t.ok(all(names[n]['size'] == s for n, s in sizes.items()), 'each with its size', names)
    want = 12 + sum(sizes.values())
    t.eq(got[-1]['data'].get('quotaUsed') if got else None, want,
         'quotaUsed counts every file of the drive')
    t.eq([ev.problems(e) for e in got], [[]] * len(got), 'every event matches the schema')
    ctx['used'] = want
    ctx['burst'] = {n: it['id'] for n, it in names.items()}


def check_overwrite_move(t, ctx, hello):
    ev, files, drive, einstein = ctx['ev'], ctx['files'], ctx['drive'], ctx['einstein']
    files.put(drive, 'hello.txt', b'hello again, world\n')  # 19 bytes, a new inode
    got, _ = ev.settled()
    d = got[0]['data'] if len(got) == 1 else {}
    ctx['used'] += 19 - 12
    t.ok(d.get('change') == 'updated' and d.get('itemId') == hello and
         d['items'][0].get('size') == 19 and d.get('quotaUsed') == ctx['used'],
         'an upload over a file keeps its id: updated, new size, quotaUsed moved by the '
         'difference', got)
    # nginx's PUT when its temporary files are on another file system: the
    # body is copied next to the target under a temporary name, then
    # renamed over it. The temporary name is never an item of its own.
    target = os.path.join(files.storage, drive, 'hello.txt')
    with open(target + '.0000000042', 'wb') as f:
        f.write(b'hello, copied across\n')  # 21 bytes
    os.rename(target + '.0000000042', target)
    got, _ = ev.settled()
    d = got[0]['data'] if len(got) == 1 else {}
    ctx['used'] += 21 - 19
    t.ok(d.get('change') == 'updated' and d.get('itemId') == hello and
         [it.get('name') for it in d['items']] == ['hello.txt'] and
         d['items'][0].get('size') == 21 and d.get('quotaUsed') == ctx['used'],
         'an upload copied in under a temporary name and renamed over the file is an update '
         'of the file, with its id', got)
    os.rename(os.path.join(files.storage, drive, 'hello.txt'),
              os.path.join(files.storage, drive, 'greeting.txt'))
    got, _ = ev.settled()
    d = got[0]['data'] if len(got) == 1 else {}
    item = (d.get('items') or [{}])[0]
    t.ok(d.get('change') == 'moved' and d.get('itemId') == hello and
         item.get('name') == 'greeting.txt' and item.get('path') == '/greeting.txt' and
         d.get('quotaUsed') == ctx['used'],
         'a rename is moved, with the same id and the new name and path', got)
    t.ok(wait_until(lambda: (stored_item(ctx['sp'], hello) or ('',))[0] == 'greeting.txt',
                    PROMPT), 'Spaceport has the new name', stored_item(ctx['sp'], hello))
    t.ok(wait_until(lambda: quota_used(einstein, drive) == ctx['used'], PROMPT),
         'and the new bytes used', quota_used(einstein, drive))


def check_folder(t, ctx):
    ev, files, drive = ctx['ev'], ctx['files'], ctx['drive']
    # create_full_put_path: the folder is made and the file renamed into it
    # before the watcher can have watched the folder.
    files.put(drive, 'docs/2026/report.pdf', b'%PDF-1.4\n' + b'0' * 91)
    got, _ = ev.settled()
    names = items_by_name(got)
    docs, year, pdf = names.get('docs', {}), names.get('2026', {}), names.get('report.pdf', {})
    t.ok(docs.get('type') == 'folder' and docs.get('parentId') == drive and
         'size' not in docs and 'mimeType' not in docs and
         year.get('parentId') == docs.get('id') and year.get('path') == '/docs/2026',
         'a new folder (and one inside it) is described, under its parent', got)
    t.ok(pdf.get('parentId') == year.get('id') and pdf.get('path') == '/docs/2026/report.pdf'
         and pdf.get('size') == 100 and pdf.get('mimeType') == 'application/pdf',
         'a file that landed before its folder was watched is found, under the folder', pdf)
    ctx['used'] += 100
    t.eq(got[-1]['data'].get('quotaUsed') if got else None, ctx['used'],
         'quotaUsed counts it')
    # The folder is watched now: a second file is its own event.
    files.put(drive, 'docs/2026/notes.md', b'# notes\n')
    got, _ = ev.settled()
    ctx['used'] += 8
    t.ok(len(got) == 1 and got[0]['data']['items'][0]['parentId'] == year.get('id') and
         got[0]['data'].get('quotaUsed') == ctx['used'],
         'the new folder is watched: a later file in it is published', got)
    ctx['docs'] = docs.get('id')
    # A folder moved (WebDAV MOVE is a rename): everything under it keeps
    # its id and gets its new path.
    before = {it['name']: it['id'] for it in (docs, year, pdf, got[0]['data']['items'][0])}
    os.rename(os.path.join(files.storage, drive, 'docs'),
              os.path.join(files.storage, drive, 'archive'))
    got, _ = ev.settled()
    after = {it.get('path'): it.get('id') for e in got for it in e['data'].get('items', [])}
    t.eq(after, {'/archive': before['docs'], '/archive/2026': before['2026'],
                 '/archive/2026/report.pdf': before['report.pdf'],
                 '/archive/2026/notes.md': before['notes.md']},
         'a moved folder: it and everything under it keep their ids, with their new paths')
    t.eq(got[-1]['data'].get('quotaUsed') if got else None, ctx['used'],
         'and the bytes used do not change')


def check_delete(t, ctx):
    ev, files, drive = ctx['ev'], ctx['files'], ctx['drive']
    gone = ctx['burst']['burst-00.bin']
    os.unlink(os.path.join(files.storage, drive, 'burst-00.bin'))
    got, _ = ev.settled()
    ctx['used'] -= 100
    d = got[0]['data'] if len(got) == 1 else {}
    t.ok(d.get('change') == 'deleted' and d.get('itemId') == gone and
         d.get('items') == [{'id': gone, 'removed': True}] and d.get('quotaUsed') == ctx['used'],
         'a delete is one removed item, and quotaUsed goes down', got)
    # A folder with what is in it: every item under it is removed.
    shutil.rmtree(os.path.join(files.storage, drive, 'archive'))
    got, _ = ev.settled()
    removed = [it for e in got for it in e['data'].get('items', []) if it.get('removed')]
    ctx['used'] -= 108
    t.ok(len(removed) == 4 and ctx['docs'] in {it['id'] for it in removed} and
         got[-1]['data'].get('quotaUsed') == ctx['used'],
         'a deleted folder removes it and the three items under it', got)
    t.ok(wait_until(lambda: quota_used(ctx['einstein'], drive) == ctx['used'], PROMPT),
         'Spaceport shows the bytes used after the deletes', quota_used(ctx['einstein'], drive))


def check_bad_name(t, ctx):
    ev, files, drive = ctx['ev'], ctx['files'], ctx['drive']
    files.put(drive, 'fine.txt', b'1234')
    files.put(drive, 'bad\x01name.txt', b'12345')
    got, _ = ev.settled()
    names = items_by_name(got)
    ctx['used'] += 9
    t.ok(list(names) == ['fine.txt'] and got[-1]['data'].get('quotaUsed') == ctx['used'],
         'a name Spaceport refuses (a control character) is left out, not the whole change; '
         'its bytes still count', got)
    fine = ctx['fine'] = names.get('fine.txt', {}).get('id')
    t.ok(wait_until(lambda: stored_item(ctx['sp'], fine) is not None, PROMPT),
         'and Spaceport applied the rest', fine)
    files.put(drive, 'only\x02bad.txt', b'123')
    got, _ = ev.settled()
    ctx['used'] += 3
    t.ok(len(got) == 1 and 'items' not in got[0]['data'] and
         got[0]['data'].get('quotaUsed') == ctx['used'] and not ev.problems(got[0]),
         'when only such a file changed, the event still tells the bytes used', got)


def check_many(t, ctx):
    ev, files, drive = ctx['ev'], ctx['files'], ctx['drive']
    for i in range(300):
        files.put(drive, 'many/%03d' % i, b'm')
    got, _ = ev.settled(3 * PROMPT)
    counts = [len(e['data']['items']) for e in got]
    ctx['used'] += 300
    t.ok(sum(counts) == 301 and max(counts) <= 256 and
         all(e['data'].get('quotaUsed') == ctx['used'] for e in got),
         'a change of 301 items goes out in parts of at most 256 (Spaceport\'s limit), each '
         'with the drive\'s bytes used', counts)
    t.eq([ev.problems(e) for e in got], [[]] * len(got), 'every part matches the schema')


def check_new_space(t, ctx):
    r = ctx['einstein'].call('POST', '/graph/v1.0/drives', {'name': 'Lab'})
    t.eq(r.status, 201, 'a project space is created through the API')
    lab = r.json().get('id', '')
    top = os.path.join(ctx['files'].storage, lab)
    start = time.monotonic()
    made = wait_until(lambda: os.path.isdir(top), PROMPT, 0.01)
    t.ok(made, 'its directory exists within 1 s (%.0f ms), so its WebDAV root does' %
         ((time.monotonic() - start) * 1000))
    t.eq(oct(os.stat(top).st_mode & 0o777) if made else None, '0o700',
         "mode 0700: the files are the server's alone, not every local account's")
    t.eq(ev_quiet(ctx), [], 'an empty new space publishes nothing')
    ctx['files'].put(lab, 'plan.txt', b'plan')
    got, _ = ctx['ev'].settled()
    t.ok(len(got) == 1 and got[0]['data']['driveId'] == lab and
         got[0]['data'].get('quotaUsed') == 4,
         'the new space is watched: its first upload is published', got)
    # From one space into another: gone from the first; in the second a
    # new item, with an id of that drive (Spaceport refuses another's).
    fine = ctx['fine']
    os.rename(os.path.join(ctx['files'].storage, ctx['drive'], 'fine.txt'),
              os.path.join(top, 'fine.txt'))
    got = ctx['ev'].settled()[0]
    got += ctx['ev'].quiet()
    by_drive = {e['data']['driveId']: e['data'] for e in got}
    ctx['used'] -= 4
    mine, theirs = by_drive.get(ctx['drive'], {}), by_drive.get(lab, {})
    t.ok(len(got) == 2 and mine.get('items') == [{'id': fine, 'removed': True}] and
         mine.get('quotaUsed') == ctx['used'],
         'a file moved to another space is removed from the first', got)
    t.ok(theirs.get('change') == 'created' and theirs.get('quotaUsed') == 8 and
         theirs['items'][0]['id'].startswith(lab + '!') and theirs['items'][0]['name'] ==
         'fine.txt', 'and created in the other, with an id of that space', got)


def ev_quiet(ctx):
    return ctx['ev'].quiet()


def check_restart(t, ctx, hello):
    ev, files, drive, w = ctx['ev'], ctx['files'], ctx['drive'], ctx['watcher']
    t.eq(w.stop(), 0, 'SIGTERM stops the watcher (exit 0)')
    before = len(ev.in_stream())
    w.start()
    t.eq(ev.quiet(1.0), [], 'restarted, it publishes nothing for files already there')
    t.eq(len(ev.in_stream()), before, 'and the stream holds nothing new')
    files.put(drive, 'greeting.txt', b'hello after a restart\n')  # 22 bytes, a new inode
    got, _ = ev.settled()
    ctx['used'] += 22 - 21
    d = got[0]['data'] if len(got) == 1 else {}
    t.ok(d.get('itemId') == hello and d.get('change') == 'updated' and
         d.get('quotaUsed') == ctx['used'],
         'an upload after the restart keeps the id it had (read back from the xattr), and '
         'the bytes used were counted again from the files', got)


def check_overflow(t, ctx):
    """The kernel's queue overflows while the watcher is stopped: the changes
    after the overflow are lost from inotify, and a rescan must find them
    (and only them)."""
    ev, files, drive, w = ctx['ev'], ctx['files'], ctx['drive'], ctx['watcher']
    with open('/proc/sys/fs/inotify/max_queued_events') as f:
        limit = int(f.read())
    a, b = (os.path.join(files.storage, drive, n) for n in ('burst-01.bin', 'burst-02.bin'))
    times = {p: (os.stat(p).st_atime_ns, os.stat(p).st_mtime_ns) for p in (a, b)}
    gone = ctx['burst']['burst-03.bin']
    w.proc.send_signal(signal.SIGSTOP)
    try:
        for _ in range(limit // 2 + 100):
            # Alternating, so that the kernel does not merge them; the
            # times are the files' own, so nothing changes.
            os.utime(a, ns=times[a])
            os.utime(b, ns=times[b])
        files.put(drive, 'after-overflow.txt', b'found by the rescan\n')  # 20 bytes
        os.unlink(os.path.join(files.storage, drive, 'burst-03.bin'))  # 103 bytes
    finally:
        w.proc.send_signal(signal.SIGCONT)
    got, _ = ev.settled(3 * PROMPT)
    ctx['used'] += 20 - 103
    items = [it for e in got for it in e['data'].get('items', [])]
    t.ok('dropped events' in w.text(), 'the watcher saw the queue overflow')
    t.ok(sorted(it.get('name', it['id']) for it in items) == sorted(['after-overflow.txt', gone])
         and {'id': gone, 'removed': True} in items and
         got[-1]['data'].get('quotaUsed') == ctx['used'],
         'its rescan publishes what changed meanwhile, and nothing that did not', got)


def check_share(t, ctx, hello):
    einstein, marie, drive = ctx['einstein'], ctx['marie'], ctx['drive']
    r = einstein.call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (
        drive, urllib.parse.quote(hello, safe='')),
        {'recipients': [{'objectId': marie.me()['id']}], 'roles': [VIEWER]})
    t.eq(r.status, 200, 'einstein shares the watched file with marie by its id')
    mine = [it for it in marie.get('/graph/v1beta1/me/drive/sharedWithMe').json()
            .get('value', []) if it.get('remoteItem', {}).get('id') == hello]
    t.ok(len(mine) == 1 and mine[0].get('name') == 'greeting.txt' and
         mine[0]['remoteItem'].get('size') == 22,
         'marie\'s sharedWithMe shows its real name and size, as the watcher described it', mine)


def main(t):
    with open(os.path.join(SOURCE_ROOT, 'schema/events/storage-changed.json')) as f:
        schema = json.load(f)
    root = tempfile.mkdtemp(prefix='sp-storage-')
    storage, scratch = os.path.join(root, 'storage'), os.path.join(root, 'tmp')
    os.makedirs(storage)
    os.makedirs(scratch)
    try:
        with Nats() as nats, Issuer() as idp:
            sp = Spaceport(nats_url=nats.url, issuers=idp.url, env={'SPACEPORT_LOG_LEVEL': 'info'})
            with sp, NatsClient(nats.url) as nc:
                w = Watcher(storage, nats.url, os.path.join(root, 'watcher.log')).start()
                try:
                    run(t, sp, nc, idp, w, storage, scratch, schema)
                finally:
                    w.stop()
                    for line in w.text().splitlines()[-60:]:
                        t.diag('watcher: ' + line)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def check_deep(t, ctx):
    """A writer nests folders as deep as a path may be long (one PUT through
    nginx makes them all at once): past Python's recursion limit. The
    watcher of every space must keep running, and start again over them."""
    ev, files, drive, w = ctx['ev'], ctx['files'], ctx['drive'], ctx['watcher']
    p = os.path.join(files.storage, drive, 'deep')
    os.mkdir(p)
    for _ in range(DEEP):
        p = os.path.join(p, 'd')
        os.mkdir(p)
    ev.settled(3 * PROMPT)
    time.sleep(0.5)
    t.ok(w.proc.poll() is None, 'the watcher survives %d nested folders made at once' % DEEP,
         w.text()[-300:])
    w.stop()
    w.start()
    time.sleep(1.0)
    alive = w.proc.poll() is None
    files.put(drive, 'after-deep.txt', b'after\n')
    # The restart publishes the folders it finds changed first; on a busy
    # machine (the program applying those 1500 items beside it) the upload's
    # event can follow them by seconds: it must come, not come at once.
    seen, deadline = False, time.monotonic() + 10 * PROMPT
    while alive and not seen and time.monotonic() < deadline:
        got, _ = ev.settled(max(0.1, deadline - time.monotonic()))
        if not got:
            break
        seen = any(it.get('name') == 'after-deep.txt'
                   for e in got for it in e['data'].get('items', []))
    t.ok(alive and seen, 'restarted over them, it runs and publishes the next upload',
         w.text()[-300:])
    # (shutil.rmtree recurses too.)
    subprocess.run(['rm', '-rf', os.path.join(files.storage, drive, 'deep')], check=False)


def run(t, sp, nc, idp, w, storage, scratch, schema):
    einstein = Client(sp, idp.token('einstein-sub', 'einstein', roles=['spaceport-spaceadmin']))
    marie = Client(sp, idp.token('marie-sub', 'marie'))
    ev = Events(nc, schema)
    start = time.monotonic()
    drive = einstein.get('/graph/v1.0/me/drive').json()['id']  # provisioned now
    t.ok(wait_until(lambda: os.path.isdir(os.path.join(storage, drive)), PROMPT, 0.01),
         'einstein\'s first sign-in makes his personal drive, and the watcher its directory '
         '(%.0f ms)' % ((time.monotonic() - start) * 1000))
    ctx = {'sp': sp, 'ev': ev, 'files': Files(storage, scratch), 'einstein': einstein,
           'marie': marie, 'drive': drive, 'watcher': w}
    hello = check_first_upload(t, ctx)
    if not hello:
        return
    check_burst(t, ctx)
    check_overwrite_move(t, ctx, hello)
    check_folder(t, ctx)
    check_delete(t, ctx)
    check_bad_name(t, ctx)
    check_many(t, ctx)
    check_new_space(t, ctx)
    check_restart(t, ctx, hello)
    check_overflow(t, ctx)
    check_share(t, ctx, hello)
    check_deep(t, ctx)


if __name__ == '__main__':
    TAP().run(main)
