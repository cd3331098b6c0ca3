#!/usr/bin/python3
"""A disk that fills up: the database lives on a small tmpfs; writes fail
with 507 in the JSON form, nothing acknowledged is lost, reads go on, and
the service recovers when space returns."""
import http.client
import json
import os
import sqlite3
import subprocess
import tempfile

from harness import BACKEND, TAP, Client, Issuer, Nats, Spaceport, wait_until

VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
TMPFS_SIZE = '6m'


def share(conn, token, drive, item, grantee):
    """Shares item (the opaque part of its id) of drive with grantee."""
    conn.request('POST', '/graph/v1beta1/drives/%s/items/%s!%s/invite' % (drive, drive, item),
                 body=json.dumps({'recipients': [{'objectId': grantee}], 'roles': [VIEWER]}),
                 headers={'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json'})
    r = conn.getresponse()
    return r.status, r.read()


def main(t):
    if BACKEND != 'sqlite':
        t.ok(True, '# SKIP the full disk is the one under the SQLite file (DATA_DIR); a '
             'PostgreSQL server\'s disk is not the program\'s to fill')
        return
    mnt = tempfile.mkdtemp(prefix='sp-full-')
    if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=' + TMPFS_SIZE, 'tmpfs', mnt],
                      capture_output=True).returncode != 0:
        t.ok(True, '# SKIP cannot mount a tmpfs here (needs root)')
        return
    try:
        with Nats() as nats, Issuer() as idp:
            sp = Spaceport(nats_url=nats.url, issuers=idp.url, data_dir=mnt,
                           env={'SPACEPORT_LOG_LEVEL': 'warn'})
            with sp:
                bob_t = idp.token('bob-sub', 'bob', 'Bob')
                bob, carol = Client(sp, bob_t), Client(sp, idp.token('carol-sub', 'carol', 'C'))
                carol_id = carol.me()['id']
                drive = [d for d in bob.get('/graph/v1.0/me/drives').json()['value']
                         if d['driveType'] == 'personal'][0]['id']
                # Leave about 300 KiB free.
                st = os.statvfs(mnt)
                free = st.f_bavail * st.f_frsize
                with open(os.path.join(mnt, 'filler'), 'wb') as f:
                    f.write(b'\0' * max(0, free - 300 * 1024))
                conn = http.client.HTTPConnection('127.0.0.1', sp.port, timeout=30)
                acked, refused = [], None
                for i in range(20000):
                    status, body = share(conn, bob_t, drive, 'full-%05d' % i, carol_id)
                    if status == 200:
                        acked.append(json.loads(body)['value'][0]['id'])
                    else:
                        refused = (status, body)
                        break
                t.ok(len(acked) > 0, '%d shares were acknowledged before the disk filled'
                     % len(acked))
                t.ok(refused is not None and refused[0] == 507 and
                     json.loads(refused[1])['error']['code'] == 'insufficientStorage',
                     'a write on a full disk is 507 insufficientStorage', refused)
                status, _ = share(conn, bob_t, drive, 'full-again', carol_id)
                t.ok(status in (507, 500) and status != 200, 'writes keep failing while full')
                r = bob.get('/graph/v1.0/me/drives')
                t.eq(r.status, 200, 'reads go on while the disk is full')
                t.eq(sp.request('GET', '/healthz').status, 200, 'the process is alive')

                os.remove(os.path.join(mnt, 'filler'))
                ok = wait_until(lambda: share(conn, bob_t, drive, 'after-%d' % len(acked),
                                              carol_id)[0] == 200, 10)
                t.ok(ok, 'writes succeed again once space returns')
                conn.close()
                db = sqlite3.connect(os.path.join(mnt, 'spaceport.db'))
                have = {row[0] for row in db.execute('SELECT id FROM shares')}
                events = db.execute("SELECT count(*) FROM events WHERE type = "
                                    "'spaceport.share.created'").fetchone()[0]
                db.close()
                missing = [a for a in acked if a not in have]
                t.ok(not missing, 'every acknowledged share is in the database', missing[:3])
                t.eq(events, len(have), 'and each has its event')
                drained = wait_until(lambda: 'spaceport_events_backlog 0' in
                                     sp.request('GET', '/metrics').body.decode(), 20)
                t.ok(drained, 'the outbox drains to the bus afterwards')
                t.eq(sp.stop(), 0, 'SIGTERM exits 0')
    finally:
        subprocess.run(['umount', '-l', mnt], capture_output=True)
        os.rmdir(mnt)


if __name__ == '__main__':
    TAP().run(main)
