#!/usr/bin/python3
"""Generates a large registry database for the drives benchmark.

    gen_drives.py DB_PATH ISSUER_URL USERS DRIVES MEMBER_OF

Creates DB_PATH with `spaceport migrate`, then inserts USERS users (each
with a personal drive) and project drives up to DRIVES drives in all, each
with a Manager. The measured user (sub "bench-user") is a member of
MEMBER_OF drives. Reuses an existing file made with the same arguments.
"""
import os
import sqlite3
import subprocess
import sys
import time
import uuid

MANAGER = '312c0871-5ef7-4b3a-85b6-0e4074c64049'
SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'


def main():
    db, issuer, users, drives, member_of = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    stamp = '%s %d %d %d' % (issuer, users, drives, member_of)
    marker = db + '.params'
    if os.path.exists(db) and os.path.exists(marker) and open(marker).read() == stamp:
        print('reusing %s' % db)
        return
    for f in (db, db + '-wal', db + '-shm', marker):
        if os.path.exists(f):
            os.remove(f)
    binary = os.environ.get('SPACEPORT_BIN', 'build/spaceport')
    subprocess.run([binary, 'migrate'], check=True, capture_output=True,
                   env={'SPACEPORT_DATA_DIR': os.path.dirname(os.path.abspath(db)),
                        'PATH': os.environ['PATH']})
    if os.path.basename(db) != 'spaceport.db':
        os.rename(os.path.join(os.path.dirname(os.path.abspath(db)), 'spaceport.db'), db)
    t0 = time.time()
    con = sqlite3.connect(db)
    con.execute('PRAGMA synchronous=OFF')
    con.execute('PRAGMA journal_mode=WAL')
    now = int(time.time() * 1000)
    cur = con.cursor()
    cur.execute('BEGIN')
    # users 1..USERS; user 1 is the measured one
    cur.executemany(
        'INSERT INTO users (seq, id, issuer, sub, username, display_name, email, roles,'
        ' created_at, updated_at) VALUES (?,?,?,?,?,?,?,0,?,?)',
        ((i, str(uuid.UUID(int=i, version=4)), issuer, 'bench-user' if i == 1 else 'u%d' % i,
          'user%d' % i, 'User %d' % i, 'user%d@example.org' % i, now, now)
         for i in range(1, users + 1)))
    # personal drives, one per user
    cur.executemany(
        "INSERT INTO drives (seq, id, drive_type, alias, name, owner_seq, etag, mtime, created_at)"
        " VALUES (?,?,'personal',?,?,?,?,?,?)",
        ((i, str(uuid.UUID(int=(1 << 64) + i, version=4)), 'personal/user%d' % i, 'User %d' % i, i,
          'e%d' % i, now - i, now) for i in range(1, users + 1)))
    cur.executemany(
        'INSERT INTO members (user_seq, drive_seq, id, role, created_at) VALUES (?,?,?,?,?)',
        ((i, i, str(uuid.UUID(int=(2 << 64) + i, version=4)), MANAGER, now)
         for i in range(1, users + 1)))
    # project drives, each managed by some user
    first = users + 1
    cur.executemany(
        "INSERT INTO drives (seq, id, drive_type, alias, name, owner_seq, etag, mtime, created_at)"
        " VALUES (?,?,'project',?,?,?,?,?,?)",
        ((s, str(uuid.UUID(int=(3 << 64) + s, version=4)), 'project/space-%d' % s,
          'Space %d' % s, 2 + s % (users - 1), 'e%d' % s, now - s, now)
         for s in range(first, drives + 1)))
    cur.executemany(
        'INSERT INTO members (user_seq, drive_seq, id, role, created_at) VALUES (?,?,?,?,?)',
        ((2 + s % (users - 1), s, str(uuid.UUID(int=(4 << 64) + s, version=4)), MANAGER, now)
         for s in range(first, drives + 1)))
    # the measured user joins MEMBER_OF - 1 project drives spread over the table
    step = max(1, (drives - first) // max(1, member_of - 1))
    cur.executemany(
        'INSERT OR IGNORE INTO members (user_seq, drive_seq, id, role, created_at)'
        ' VALUES (1,?,?,?,?)',
        ((first + k * step, str(uuid.UUID(int=(5 << 64) + k, version=4)), SPACE_VIEWER, now)
         for k in range(member_of - 1)))
    con.commit()
    con.execute('ANALYZE')
    con.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    con.close()
    open(marker, 'w').write(stamp)
    print('generated %s in %.1f s' % (db, time.time() - t0))


if __name__ == '__main__':
    main()
