#!/usr/bin/python3
"""Generates a large registry database for the drives benchmark.

    gen_drives.py DB USERS_ISSUER_URL USERS DRIVES MEMBER_OF

DB is a SQLite file path, or a postgres:// URL of a new, empty database
(with C collation). Migrates it with `spaceport migrate`, then inserts
USERS users (each with a personal drive) and project drives up to DRIVES
drives in all, each with a Manager. The measured user (sub "bench-user")
is a member of MEMBER_OF drives. Reuses a SQLite file made with the same
arguments (a file next to it records them).
"""
import os
import subprocess
import sys
import tempfile
import time
import uuid

MANAGER = '312c0871-5ef7-4b3a-85b6-0e4074c64049'
SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'
# Rows per COPY on PostgreSQL: bounds the text held in memory at once.
COPY_CHUNK = 100000


def tables(issuer, users, drives, member_of, now):
    """(table, columns, rows) in the order they are inserted: the same rows
    for both engines."""
    first = users + 1
    # the measured user joins MEMBER_OF - 1 project drives spread over the
    # table; their managers are users 2.., never the measured user
    step = max(1, (drives - first) // max(1, member_of - 1))
    return [
        # users 1..USERS; user 1 is the measured one
        ('users', ('seq', 'id', 'issuer', 'sub', 'username', 'display_name', 'email', 'roles',
                   'created_at', 'updated_at'),
         ((i, str(uuid.UUID(int=i, version=4)), issuer, 'bench-user' if i == 1 else 'u%d' % i,
           'user%d' % i, 'User %d' % i, 'user%d@example.org' % i, 0, now, now)
          for i in range(1, users + 1))),
        # personal drives, one per user
        ('drives', ('seq', 'id', 'drive_type', 'alias', 'name', 'owner_seq', 'etag', 'mtime',
                    'created_at'),
         ((i, str(uuid.UUID(int=(1 << 64) + i, version=4)), 'personal', 'personal/user%d' % i,
           'User %d' % i, i, 'e%d' % i, now - i, now) for i in range(1, users + 1))),
        ('members', ('user_seq', 'drive_seq', 'id', 'role', 'created_at'),
         ((i, i, str(uuid.UUID(int=(2 << 64) + i, version=4)), MANAGER, now)
          for i in range(1, users + 1))),
        # project drives, each managed by some user
        ('drives', ('seq', 'id', 'drive_type', 'alias', 'name', 'owner_seq', 'etag', 'mtime',
                    'created_at'),
         ((s, str(uuid.UUID(int=(3 << 64) + s, version=4)), 'project', 'project/space-%d' % s,
           'Space %d' % s, 2 + s % (users - 1), 'e%d' % s, now - s, now)
          for s in range(first, drives + 1))),
        ('members', ('user_seq', 'drive_seq', 'id', 'role', 'created_at'),
         ((2 + s % (users - 1), s, str(uuid.UUID(int=(4 << 64) + s, version=4)), MANAGER, now)
          for s in range(first, drives + 1))),
        ('members', ('user_seq', 'drive_seq', 'id', 'role', 'created_at'),
         ((1, first + k * step, str(uuid.UUID(int=(5 << 64) + k, version=4)), SPACE_VIEWER, now)
          for k in range(member_of - 1))),
    ]


def migrate(env):
    binary = os.environ.get('SPACEPORT_BIN', 'build/spaceport')
    env = dict(env, PATH=os.environ['PATH'])
    subprocess.run([binary, 'migrate'], check=True, capture_output=True, env=env)


def sqlite_fill(db, stamp, rows):
    import sqlite3
    marker = db + '.params'
    if os.path.exists(db) and os.path.exists(marker) and open(marker).read() == stamp:
        return False
    for f in (db, db + '-wal', db + '-shm', marker):
        if os.path.exists(f):
            os.remove(f)
    migrate({'SPACEPORT_DATA_DIR': os.path.dirname(os.path.abspath(db))})
    if os.path.basename(db) != 'spaceport.db':
        os.rename(os.path.join(os.path.dirname(os.path.abspath(db)), 'spaceport.db'), db)
    con = sqlite3.connect(db)
    con.execute('PRAGMA synchronous=OFF')
    con.execute('PRAGMA journal_mode=WAL')
    cur = con.cursor()
    cur.execute('BEGIN')
    for table, columns, values in rows:
        cur.executemany('INSERT INTO %s (%s) VALUES (%s)' % (
            table, ', '.join(columns), ', '.join('?' * len(columns))), values)
    con.commit()
    con.execute('ANALYZE')
    con.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    con.close()
    open(marker, 'w').write(stamp)
    return True


def copy_text(rows):
    """COPY's text format of rows (no value here needs escaping but \\N)."""
    return ''.join('\t'.join('\\N' if v is None else str(v) for v in r) + '\n' for r in rows)


def pg_fill(url, rows):
    import io
    import itertools
    import psycopg2  # python3-psycopg2
    with tempfile.TemporaryDirectory(prefix='sp-gen-') as data:
        migrate({'SPACEPORT_DATA_DIR': data, 'SPACEPORT_DATABASE_URL': url})
    con = psycopg2.connect(url)
    cur = con.cursor()
    for table, columns, values in rows:
        values = iter(values)
        while True:
            chunk = list(itertools.islice(values, COPY_CHUNK))
            if not chunk:
                break
            cur.copy_expert('COPY %s (%s) FROM STDIN' % (table, ', '.join(columns)),
                            io.StringIO(copy_text(chunk)))
    # Rows were given their keys: the tables' own sequences (if the schema
    # draws keys from one) must go on after them.
    for table in ('users', 'drives'):
        cur.execute("SELECT setval(pg_get_serial_sequence('%s', 'seq'), max(seq)) FROM %s" % (
            table, table))
    con.commit()
    con.autocommit = True
    cur.execute('VACUUM ANALYZE')
    con.close()
    return True


def main():
    db, issuer, users, drives, member_of = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    stamp = '%s %d %d %d' % (issuer, users, drives, member_of)
    t0 = time.time()
    rows = tables(issuer, users, drives, member_of, int(time.time() * 1000))
    if db.startswith(('postgres://', 'postgresql://')):
        made = pg_fill(db, rows)
    else:
        made = sqlite_fill(db, stamp, rows)
    print('generated %s in %.1f s' % (db, time.time() - t0) if made else 'reusing %s' % db)


if __name__ == '__main__':
    main()
