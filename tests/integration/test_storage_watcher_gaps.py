#!/usr/bin/python3
"""examples/storage-watcher when the bus or the watcher itself is away.
A storage change that is never published leaves the page's used bytes and
names wrong for good, so every change is published at least once: one
made while the bus is down once it is back, one made while the watcher is
stopped (or in its settle time when SIGTERM came: the quickstart stops the
watcher before nginx) when it starts again. A new space still gets its
directory after the watcher reconnected (its subscription to
spaceport.space.created is renewed)."""
import os
import shutil
import tempfile
import time

from harness import TAP, Client, Issuer, Nats, Spaceport, wait_until
from test_storage_watcher import Files, Watcher, quota_used, stored_item


def main(t):
    root = tempfile.mkdtemp(prefix='sp-storage-bus-')
    storage, scratch = os.path.join(root, 'storage'), os.path.join(root, 'tmp')
    os.makedirs(storage)
    os.makedirs(scratch)
    store = os.path.join(root, 'nats')
    os.makedirs(store)
    nats = Nats(store=store).start()
    try:
        with Issuer() as idp:
            sp = Spaceport(nats_url=nats.url, issuers=idp.url)
            with sp:
                w = Watcher(storage, nats.url, os.path.join(root, 'watcher.log')).start()
                try:
                    run(t, sp, idp, nats, w, storage, scratch)
                finally:
                    w.stop()
                    for line in w.text().splitlines()[-30:]:
                        t.diag('watcher: ' + line)
    finally:
        nats.stop()
        shutil.rmtree(root, ignore_errors=True)


def run(t, sp, idp, nats, w, storage, scratch):
    einstein = Client(sp, idp.token('einstein-sub', 'einstein'))
    files = Files(storage, scratch)
    drive = einstein.get('/graph/v1.0/me/drive').json()['id']
    t.ok(wait_until(lambda: os.path.isdir(os.path.join(storage, drive)), 5),
         'the watcher makes the new drive\'s directory')
    files.put(drive, 'a.txt', b'12345')
    t.ok(wait_until(lambda: quota_used(einstein, drive) == 5, 5), 'an upload is counted')

    nats.stop()
    files.put(drive, 'b.txt', b'1234567')  # made while the bus is down
    time.sleep(1.5)
    nats.start()
    t.ok(wait_until(lambda: quota_used(einstein, drive) == 12, 20),
         'a change made while the bus was down is published once it is back',
         quota_used(einstein, drive))

    marie = Client(sp, idp.token('marie-sub', 'marie'))
    time.sleep(2)  # the watcher has reconnected by now
    other = marie.get('/graph/v1.0/me/drive').json()['id']
    t.ok(wait_until(lambda: os.path.isdir(os.path.join(storage, other)), 10),
         'after the reconnect a new space still gets its directory')

    # The watcher stopped within its settle time of an upload: that upload,
    # and what changes while it is stopped, are published when it starts.
    files.put(drive, 'c.txt', b'123')
    t.eq(w.stop(), 0, 'SIGTERM right after an upload stops the watcher')
    a_path, b_path = (os.path.join(storage, drive, n) for n in ('a.txt', 'b.txt'))
    a_gone, b_id = (os.getxattr(p, 'user.spaceport.id').decode() for p in (a_path, b_path))
    os.unlink(a_path)
    os.makedirs(os.path.join(storage, drive, 'moved'))
    os.rename(b_path, os.path.join(storage, drive, 'moved', 'b.txt'))
    files.put(other, 'x.txt', b'1234')  # a drive that had no event yet
    shutil.rmtree(os.path.join(storage, other))
    files.put(other, 'y.txt', b'123456')  # and one whose directory nginx makes anew
    w.start()
    t.ok(wait_until(lambda: quota_used(einstein, drive) == 7 + 3, 10),
         'on start it publishes the upload it was stopped in and the delete made while '
         'it was stopped', quota_used(einstein, drive))
    t.ok(wait_until(lambda: (stored_item(sp, b_id) or [None, None])[1] == '/moved/b.txt', 5),
         'and a file moved meanwhile keeps its id at its new path', stored_item(sp, b_id))
    t.ok(wait_until(lambda: quota_used(marie, other) == 6, 5),
         'a drive whose directory was made while it was stopped has its files published',
         quota_used(marie, other))
    t.ok(wait_until(lambda: stored_item(sp, a_gone) is None, 5),
         'and the file deleted meanwhile is gone from Spaceport', stored_item(sp, a_gone))


if __name__ == '__main__':
    TAP().run(main)
