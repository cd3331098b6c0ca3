#!/usr/bin/python3
"""PostgreSQL's migrations (schema/pg/NNN_*.sql) build the schema SQLite's
(schema/NNN_*.sql) build: the same tables and views, the same columns with
the same types (INTEGER as BIGINT), nullability and defaults, the same
indexes (unique or not, partial with the same condition, COLLATE NOCASE as
lower()), CHECKs and foreign keys. Rows written between migrations come
out the same on both, where SQLite rebuilds a table and PostgreSQL alters
it; both refuse the same bad rows. And PostgreSQL's sp_item_of gives the
answers of util/itemid.c's sp_itemid_check, which SQLite calls: the C is
built here from the source (cc) and asked the same questions, a table of
the known attacks and a seeded run of generated ids.

Needs SPACEPORT_TEST_PG_URL (an admin URL of a PostgreSQL 15 made with
initdb --no-locale); without it the test is skipped."""
import ctypes
import glob
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import urllib.parse
import uuid

from harness import SOURCE_ROOT, TAP

SCHEMA = os.path.join(SOURCE_ROOT, 'schema')
# Made by store.c before the first migration, in both backends.
NOT_MIGRATED = {'schema_version'}
# sqlite3's foreign_key_list names actions as SQL does; pg_constraint by letter.
PG_ACTION = {'a': 'NO ACTION', 'r': 'RESTRICT', 'c': 'CASCADE', 'n': 'SET NULL',
             'd': 'SET DEFAULT'}
# The columns of a foreign key's side (conkey of conrelid or confkey of
# confrelid), in the key's order.
PG_FK_COLS = ('ARRAY(SELECT a.attname FROM unnest(c.%s) WITH ORDINALITY AS k(n, o)'
              ' JOIN pg_attribute a ON a.attrelid = c.%s AND a.attnum = k.n ORDER BY k.o)')
PG_TYPE = {'INTEGER': 'bigint', 'TEXT': 'text', 'BLOB': 'bytea'}

DRIVE = '1284d238-aa92-42ce-bdc4-0b0000009157$4c510ada-c86b-4815-8820-42cdf82c3d51'
OTHER = '1284d238-aa92-42ce-bdc4-0b0000009157$ffffffff-c86b-4815-8820-42cdf82c3d51'

# (drive_id, item_id, expected sp_item_of): tests/unit/test_itemid.c's
# rows (its broken UTF-8 rows cannot be PostgreSQL text at all), then
# what an SQL version could get wrong that C cannot: a drive id read as a
# LIKE or regex pattern, lengths counted in characters instead of bytes,
# NULLs, case, the controls just outside U+0080-U+009F.
ITEM_OF = [
    (DRIVE, DRIVE, 1),
    (DRIVE, DRIVE + '!4c510ada-c86b-4815-8820-42cdf82c3d51', 1),
    (DRIVE, DRIVE + '!abc', 1),
    (DRIVE, DRIVE + '!a b', 1),
    (DRIVE, DRIVE + '!...', 1),
    (DRIVE, DRIVE + '!.a', 1),
    (DRIVE, DRIVE + '!a..b', 1),
    (DRIVE, DRIVE + "!$&'()*+,;=:@!", 1),
    (DRIVE, DRIVE + '!Grüße € \U0001f4c1', 1),
    (DRIVE, OTHER, 0),
    (DRIVE, OTHER + '!x', 0),
    (DRIVE, '..', 0),
    (DRIVE, '.', 0),
    (DRIVE, '', 0),
    (DRIVE, 'x1', 0),
    (DRIVE, DRIVE + 'x', 0),
    (DRIVE, DRIVE + '/x', 0),
    (DRIVE, DRIVE + '?x', 0),
    (DRIVE, '!' + DRIVE, 0),
    (DRIVE, DRIVE + '!', 0),
    (DRIVE, DRIVE + '!..', 0),
    (DRIVE, DRIVE + '!.', 0),
    (DRIVE, DRIVE + '!a/b', 0),
    (DRIVE, DRIVE + '!../x', 0),
    (DRIVE, DRIVE + '!a?b', 0),
    (DRIVE, DRIVE + '!?', 0),
    (DRIVE, DRIVE + '!a#b', 0),
    (DRIVE, DRIVE + '!%2e%2e', 0),
    (DRIVE, DRIVE + '!a%2Fb', 0),
    (DRIVE, DRIVE + '!a\\b', 0),
    (DRIVE, DRIVE + '!a\x01b', 0),
    (DRIVE, DRIVE + '!a\x1f', 0),
    (DRIVE, DRIVE + '!\x7f', 0),
    (DRIVE, DRIVE + '!a\r\nX-Evil: 1', 0),
    (DRIVE, DRIVE + '!\x85', 0),
    (DRIVE, DRIVE + '!' + 'a' * 255, 1),
    (DRIVE, DRIVE + '!' + 'a' * 256, 0),
    (DRIVE, DRIVE + '!' + 'ü' * 127 + 'a', 1),   # 255 bytes, 128 characters
    (DRIVE, DRIVE + '!' + 'ü' * 128, 0),         # 256 bytes
    (DRIVE, DRIVE + '!' + '€' * 85, 1),          # 255 bytes
    (DRIVE, DRIVE + '!' + '\U0001f4c1' * 64, 0),  # 256 bytes, 64 characters
    ('d1', 'd10!x', 0),
    ('d1', 'd1!0', 1),
    ('', '!x', 0),
    ('', '', 1),
    ('d1', 'D1!x', 0),
    ('d1', 'd1!X', 1),
    ('d1', None, 0),
    (None, 'd1', 0),
    (None, None, 0),
    ('d%', 'dx!x', 0),
    ('d%', 'd%!x', 1),
    ('d_', 'dx!x', 0),
    ('d.*', 'dabc!x', 0),
    ('d$', 'd$!x', 1),
    ('d!e', 'd!e!f', 1),
    ('d!e', 'd!f', 0),
    ('d1', 'd1!!', 1),
    ('d1', 'd1!a\tb', 0),
    ('d1', 'd1!\x9f', 0),
    ('d1', 'd1!\xa0', 1),
    ('d1', 'd1!\x80', 0),
    ('d1', 'd1!\u2028', 1),  # a line separator, but no C0/C1 control
    ('d1', 'd1! ', 1),
    ('d1', 'd1!*', 1),
    ('d1', 'd1![', 1),
    ('ü', 'ü!x', 1),
    ('ü', 'u!x', 0),
]

# Rows written after migration CARRY_AFTER, before the rest: what the
# data statements of later migrations (003's cursor, 011's resource_type)
# and SQLite's table rebuilds (006 shares, 011 remotes, 012 ocm_outbox)
# must carry over. No seq is given: both number from 1 in insertion order.
CARRY_AFTER = 2
CARRY_ROWS = [
    "INSERT INTO users (id, issuer, sub, username, created_at, updated_at) "
    "VALUES ('u1', 'https://idp', 's1', 'alice', 1, 2)",
    "INSERT INTO users (id, issuer, sub, username, display_name, email, roles, created_at, "
    "updated_at) VALUES ('u2', 'https://idp', 's2', 'bob', 'Bob', 'bob@example.org', 1, 3, 4)",
    "INSERT INTO drives (id, drive_type, alias, name, owner_seq, etag, mtime, created_at) "
    "VALUES ('d1', 'personal', 'personal/alice', 'Alice', 1, 'e1', 5, 6)",
    "INSERT INTO drives (id, drive_type, alias, name, quota_total, etag, mtime, disabled_at, "
    "created_at) VALUES ('d2', 'project', 'project/x', 'X', 1000, 'e2', 7, 8, 9)",
    "INSERT INTO members (user_seq, drive_seq, id, role, expires_at, created_at) "
    "VALUES (2, 2, 'm1', 'viewer', 99, 10)",
    "INSERT INTO shares (id, mount_id, drive_seq, item_id, grantee_seq, role, creator_seq, "
    "created_at, updated_at) VALUES ('s1', 'mt1', 1, 'd1!a', 2, 'viewer', 1, 11, 12)",
    "INSERT INTO shares (id, mount_id, drive_seq, item_id, item_name, grantee_email, role, "
    "expires_at, expired, creator_seq, secret, created_at, updated_at) VALUES ('s2', 'mt2', 1, "
    "'d1', 'root', 'x@example.org', 'editor', 50, 1, 1, 'sec', 13, 14)",
    "INSERT INTO remotes (id, owner_seq, instance, web_dav_url, remote_drive_id, name, "
    "created_at) VALUES ('r1', 1, 'https://b', 'https://b/dav/1', 'rd1', 'R1', 15)",
    "INSERT INTO remotes (id, owner_seq, instance, web_dav_url, remote_drive_id, name, etag, "
    "mtime, ocm_share_id, ocm_secret, created_at) VALUES ('r2', 1, 'https://b', "
    "'https://b/dav/2', 'rd2', 'R2', 'e', 16, 'p1', 'sec', 17)",
    "INSERT INTO events (id, type, subject, time, data, published) "
    "VALUES ('ev1', 't', 'd1', 18, '{}', 1)",
    "INSERT INTO events (id, type, subject, time, data, published) "
    "VALUES ('ev2', 't', 'd1', 19, '{\"a\":1}', 1)",
    "INSERT INTO events (id, type, subject, time, data, published) "
    "VALUES ('ev3', 't', 'd2', 20, '{}', 0)",
    "INSERT INTO events (id, type, subject, time, data) VALUES ('ev4', 't', 'd2', 21, '{}')",
    "INSERT INTO event_recipients (user_seq, event_seq) VALUES (1, 3)",
    "INSERT INTO inbound_events (id, received_at) VALUES ('in1', 22)",
    "INSERT INTO ocm_sent (share_id, drive_id, item_id, grantee, name, sharer, sharer_name, "
    "role, secret, created_at, updated_at) VALUES ('s2', 'd1', 'd1', 'x@example.org', 'root', "
    "'alice', 'Alice', 'editor', 'sec', 23, 24)",
    "INSERT INTO ocm_outbox (sent_seq, kind, next_at, created_at) VALUES (1, 'share', 25, 26)",
    "INSERT INTO ocm_outbox (sent_seq, kind, etag, attempts, next_at, last_error, created_at) "
    "VALUES (1, 'changed', 'e3', 2, 27, 'down', 28)",
]

# After every migration: statements both backends must take (True) or
# refuse (False), one at a time.
CONSTRAINTS = [
    ("INSERT INTO shares (id, mount_id, drive_seq, item_id, role, creator_seq, created_at, "
     "updated_at) VALUES ('s3', 'mt3', 1, 'd1', 'viewer', 1, 1, 1)", False),
    ("INSERT INTO groups (id, issuer, name, created_at) VALUES ('g1', 'https://idp', 'G', 1)",
     True),
    ("INSERT INTO shares (id, mount_id, drive_seq, item_id, role, creator_seq, created_at, "
     "updated_at, grantee_group_seq) VALUES ('s3', 'mt3', 1, 'd1', 'viewer', 1, 1, 1, 1)", True),
    ("INSERT INTO shares (id, mount_id, drive_seq, item_id, role, creator_seq, created_at, "
     "updated_at, grantee_group_seq) VALUES ('s4', 'mt4', 1, 'd1', 'viewer', 1, 1, 1, 1)", False),
    ("INSERT INTO shares (id, mount_id, drive_seq, item_id, role, creator_seq, created_at, "
     "updated_at, grantee_group_seq) VALUES ('s4', 'mt4', 1, 'd1', 'viewer', 1, 1, 1, 77)", False),
    ("INSERT INTO drives (id, drive_type, alias, name, etag, mtime, created_at) "
     "VALUES ('d3', 'shared', 'a', 'n', 'e', 1, 1)", False),
    ("INSERT INTO drives (id, drive_type, alias, name, owner_seq, etag, mtime, created_at) "
     "VALUES ('d3', 'personal', 'a', 'n', 1, 'e', 1, 1)", False),
    ("INSERT INTO remotes (id, owner_seq, instance, web_dav_url, remote_drive_id, name, "
     "created_at) VALUES ('r3', 1, 'https://b', 'https://b/dav/1', 'rd1', 'R1', 1)", False),
    ("INSERT INTO remotes (id, owner_seq, instance, web_dav_url, remote_drive_id, name, "
     "ocm_share_id, created_at) VALUES ('r3', 1, 'https://b', 'https://b/dav/2', 'rd2', 'R', "
     "'p2', 1)", True),
    ("INSERT INTO remotes (id, owner_seq, instance, web_dav_url, remote_drive_id, name, "
     "ocm_share_id, created_at) VALUES ('r4', 1, 'https://b', 'https://b/dav/3', 'rd3', 'R', "
     "'p2', 1)", False),
    ("UPDATE remotes SET permissions = 'write' WHERE id = 'r3'", False),
    ("UPDATE remotes SET permissions = 'read,write' WHERE id = 'r3'", True),
    ("INSERT INTO ocm_replies (instance, provider_id, answer, created_at, updated_at) "
     "VALUES ('https://b', 'p1', 'accepted', 1, 1)", True),
    ("INSERT INTO ocm_outbox (reply_seq, kind, next_at, created_at) "
     "VALUES (1, 'accepted', 1, 1)", True),
    ("INSERT INTO ocm_outbox (sent_seq, kind, next_at, created_at) "
     "VALUES (1, 'accepted', 1, 1)", False),
    ("INSERT INTO ocm_outbox (reply_seq, kind, next_at, created_at) "
     "VALUES (1, 'share', 1, 1)", False),
    ("INSERT INTO ocm_outbox (sent_seq, reply_seq, kind, next_at, created_at) "
     "VALUES (1, 1, 'accepted', 1, 1)", False),
    ("INSERT INTO ocm_outbox (kind, next_at, created_at) VALUES ('share', 1, 1)", False),
    ("INSERT INTO ocm_outbox (sent_seq, kind, next_at, created_at) "
     "VALUES (1, 'permission', 1, 1)", True),
    ("INSERT INTO ocm_outbox (sent_seq, kind, next_at, created_at) "
     "VALUES (1, 'bogus', 1, 1)", False),
    ("INSERT INTO relay_cursor (id, published_seq) VALUES (2, 0)", False),
    ("INSERT INTO ocm_contacts (id, owner_seq, user_id, provider, instance, address, name, "
     "created_at, updated_at) VALUES ('c1', 2, 'x', 'b', 'https://b', 'x@b', 'X', 1, 1)", True),
    ("INSERT INTO ocm_invites (id, token_hash, owner_seq, created_at, expires_at, contact_seq) "
     "VALUES ('i1', 'h1', 1, 1, 2, 1)", True),
    ("DELETE FROM ocm_contacts WHERE id = 'c1'", True),
    ("DELETE FROM ocm_sent", True),
    ("DELETE FROM drives WHERE id = 'd1'", True),
    ("DELETE FROM users WHERE id = 'u1'", False),
]
# What the statements above leave, read back from both.
AFTER_CONSTRAINTS = [
    'SELECT id, contact_seq FROM ocm_invites ORDER BY id',
    'SELECT seq, sent_seq, reply_seq, kind FROM ocm_outbox ORDER BY seq',
    'SELECT id FROM shares ORDER BY id',
    'SELECT id, permissions FROM remotes ORDER BY id',
]


def shown(value):
    """value as a check's name shows it: the long drive ids by name, at
    most 60 characters, no '#' (it would start a TAP directive)."""
    text = repr(value).replace(DRIVE, 'DRIVE').replace(OTHER, 'OTHER').replace('#', '<hash>')
    return text if len(text) <= 60 else text[:57] + '...'


def number(path):
    return int(os.path.basename(path).split('_', 1)[0])


def norm_expr(text):
    """An expression as both dialects can be compared: PostgreSQL's
    deparsed casts and '= ANY (ARRAY[...])' back to SQL's IN, then no case,
    parentheses, blanks or identifier quotes."""
    s = text.lower().replace('::text', '').replace('::bigint', '')
    s = re.sub(r'=\s*any\s*\(array\[([^\]]*)\]\)', r' in (\1)', s)
    return re.sub(r'[()\s"]', '', s)


def split_top(text):
    """The comma-separated items of text, commas inside parentheses or
    quotes excepted."""
    items, depth, quote, cur = [], 0, False, ''
    for ch in text:
        if ch == "'":
            quote = not quote
        elif not quote and ch == '(':
            depth += 1
        elif not quote and ch == ')':
            depth -= 1
        if ch == ',' and depth == 0 and not quote:
            items.append(cur)
            cur = ''
        else:
            cur += ch
    return items + [cur]


def paren_after(text, start):
    """The text inside the parentheses that open at or after start."""
    i = text.index('(', start)
    depth = 0
    for j in range(i, len(text)):
        if text[j] == '(':
            depth += 1
        elif text[j] == ')':
            depth -= 1
            if depth == 0:
                return text[i + 1:j]
    raise ValueError('unbalanced: ' + text)


def strip_comments(sql):
    return re.sub(r'--[^\n]*', '', sql)


def sqlite_schema(db):
    """The schema of SQLite database db, in the shape pg_schema gives."""
    out = {'tables': {}, 'views': {}}
    rows = db.execute("SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'view') "
                      "AND name NOT LIKE 'sqlite_%'").fetchall()
    for kind, name, sql in rows:
        if name in NOT_MIGRATED:
            continue
        cols = db.execute('PRAGMA table_info(%s)' % name).fetchall()
        if kind == 'view':
            out['views'][name] = [c[1] for c in cols]
            continue
        pk = [c[1] for c in sorted(cols, key=lambda c: c[5]) if c[5]]
        columns = [(c[1], PG_TYPE.get(c[2].upper(), c[2]),
                    # a PRIMARY KEY column is never NULL: the rowid alias
                    # cannot be, WITHOUT ROWID enforces it
                    bool(c[3] or c[5]),
                    None if c[4] is None else norm_expr(c[4])) for c in cols]
        indexes = set()
        unique = {tuple(sorted(pk))}
        for _, iname, uniq, origin, partial in db.execute('PRAGMA index_list(%s)' % name):
            info = [r for r in db.execute('PRAGMA index_xinfo(%s)' % iname) if r[5]]
            if origin == 'c':
                isql = db.execute('SELECT sql FROM sqlite_master WHERE name = ?',
                                  (iname,)).fetchone()[0]
                keys = []
                for item in split_top(paren_after(isql, isql.upper().index(' ON '))):
                    m = re.match(r'^\s*(\w+)\s+COLLATE\s+NOCASE\s*$', item, re.I)
                    keys.append(norm_expr('lower(%s)' % m.group(1) if m else item))
                where = isql.upper().find(' WHERE ')
                pred = norm_expr(isql[where + 7:]) if where >= 0 else None
                indexes.add((iname, tuple(keys), bool(uniq), pred))
            if uniq:
                keys = [r[2] if r[1] >= 0 else '?' for r in info]
                if not partial:
                    unique.add(tuple(sorted(keys)))
        fks = set()
        by_id = {}
        for fk in db.execute('PRAGMA foreign_key_list(%s)' % name):
            by_id.setdefault(fk[0], []).append(fk)
        for parts in by_id.values():
            parts.sort(key=lambda p: p[1])
            fks.add((tuple(p[3] for p in parts), parts[0][2], tuple(p[4] for p in parts),
                     parts[0][6]))
        body = strip_comments(sql)
        checks = sorted(norm_expr(paren_after(body, m.start()))
                        for m in re.finditer(r'\bCHECK\b', body, re.I))
        out['tables'][name] = {'columns': columns, 'indexes': indexes, 'unique': unique,
                               'fks': fks, 'checks': checks}
    return out


def pg_schema(cur):
    """The schema of the PostgreSQL database cur is connected to."""
    out = {'tables': {}, 'views': {}}
    cur.execute("SELECT c.oid, c.relname, c.relkind FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v')")
    for oid, name, kind in cur.fetchall():
        if name in NOT_MIGRATED:
            continue
        cur.execute("SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
                    "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a "
                    "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
                    "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped "
                    "ORDER BY a.attnum", (oid,))
        cols = cur.fetchall()
        if kind == 'v':
            out['views'][name] = [c[0] for c in cols]
            continue
        columns = [(c[0], c[1], bool(c[2]), None if c[3] is None else norm_expr(c[3]))
                   for c in cols]
        cur.execute("SELECT i.relname, x.indisunique, x.indisprimary, x.indnkeyatts, "
                    "pg_get_expr(x.indpred, x.indrelid), x.indexrelid, "
                    "ARRAY(SELECT a.attname FROM unnest(x.indkey) AS k "
                    "      JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k), "
                    "EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = x.indexrelid) "
                    "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                    "WHERE x.indrelid = %s", (oid,))
        indexes, unique = set(), set()
        for iname, uniq, primary, nkeys, pred, ioid, attnames, constraint in cur.fetchall():
            if not constraint:
                keys = []
                for k in range(1, nkeys + 1):
                    cur.execute('SELECT pg_get_indexdef(%s, %s, true)', (ioid, k))
                    keys.append(norm_expr(cur.fetchone()[0]))
                indexes.add((iname, tuple(keys), bool(uniq),
                             None if pred is None else norm_expr(pred)))
            if uniq and pred is None:
                unique.add(tuple(sorted(attnames if len(attnames) == nkeys else
                                        attnames + ['?'] * (nkeys - len(attnames)))))
        cur.execute("SELECT %s, r.relname, %s, c.confdeltype "
                    "FROM pg_constraint c JOIN pg_class r ON r.oid = c.confrelid "
                    "WHERE c.conrelid = %%s AND c.contype = 'f'"
                    % (PG_FK_COLS % ('conkey', 'conrelid'), PG_FK_COLS % ('confkey', 'confrelid')),
                    (oid,))
        fks = {(tuple(f), ref, tuple(to), PG_ACTION[d]) for f, ref, to, d in cur.fetchall()}
        cur.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = %s AND contype = 'c'", (oid,))
        checks = sorted(norm_expr(re.sub(r'^CHECK\s*', '', r[0])) for r in cur.fetchall())
        out['tables'][name] = {'columns': columns, 'indexes': indexes, 'unique': unique,
                               'fks': fks, 'checks': checks}
    return out


def compare(t, lite, pg):
    t.eq(sorted(pg['tables']), sorted(lite['tables']), 'the same tables')
    t.eq(pg['views'], lite['views'], 'the same views, with the same columns')
    for name in sorted(set(lite['tables']) & set(pg['tables'])):
        a, b = lite['tables'][name], pg['tables'][name]
        t.eq(sorted(b['columns']), sorted(a['columns']),
             '%s: the same columns (type, NOT NULL, default)' % name)
        t.eq(sorted(b['indexes']), sorted(a['indexes']),
             '%s: the same indexes (keys, unique, partial condition)' % name)
        t.eq(sorted(b['unique']), sorted(a['unique']),
             '%s: the same unique column sets (keys and constraints)' % name)
        t.eq(sorted(b['fks']), sorted(a['fks']), '%s: the same foreign keys' % name)
        t.eq(b['checks'], a['checks'], '%s: the same CHECKs' % name)


# Pieces the generated ids are made of: what the rule looks at (the
# separator, the refused characters, dots, controls at both ends of both
# ranges, the first characters past them), what an SQL version could read
# as a pattern, and characters of 2, 3 and 4 bytes.
FUZZ_PIECES = ['d', '1', 'D', '!', '.', '..', '/', '?', '#', '%', '\\', '$', '_', '*', '[',
               ' ', '\t', '\x01', '\x1f', '\x7f', '\x80', '\x85', '\x9f', '\xa0', '\u2028',
               'ü', '€', '\U0001f4c1', 'a' * 60, 'ü' * 40]
FUZZ_DRIVES = ['', 'd', 'd1', 'd!', 'd%', 'd_', '.', 'ü', DRIVE]
# Generated (drive_id, item_id) pairs: enough that every piece meets
# every form (root, prefix, '!' with an opaque part near 255 bytes).
FUZZ_COUNT = 20000


def fuzz_pairs(seed):
    rng = random.Random(seed)
    pairs = []
    for _ in range(FUZZ_COUNT):
        drive = rng.choice(FUZZ_DRIVES + [''.join(rng.choices(FUZZ_PIECES, k=2))])
        rest = ''.join(rng.choices(FUZZ_PIECES, k=rng.randint(0, 4)))
        form = rng.randrange(4)
        if form == 0:
            item = rest
        elif form == 1:
            item = drive + rest
        elif form == 2:
            item = drive + '!' + rest
        else:
            # an opaque part of 250 to 260 bytes: a run of one character
            # of 1, 2 or 3 bytes, then any piece
            tail = rng.choice(FUZZ_PIECES)
            fill = rng.choice(['a', 'ü', '€'])
            size = rng.randint(250, 260) - len(tail.encode())
            body = fill * (size // len(fill.encode()))
            body += 'a' * (size - len(body.encode()))
            item = drive + '!' + body + tail
        pairs.append((drive, item))
    return pairs


def c_rule(tmp):
    """util/itemid.c's sp_itemid_check, the code SQLite's sp_item_of
    calls, built from the source as a library: a function of
    (drive_id, item_id) giving 1 or 0 as sp_item_of does."""
    lib = os.path.join(tmp, 'libitemid.so')
    src = os.path.join(SOURCE_ROOT, 'src')
    subprocess.run([os.environ.get('CC', 'cc'), '-std=c11', '-O1', '-shared', '-fPIC', '-I', src,
                    '-o', lib, os.path.join(src, 'util', 'itemid.c'),
                    os.path.join(src, 'util', 'utf8.c')], check=True)
    check = ctypes.CDLL(lib).sp_itemid_check
    check.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p]
    check.restype = ctypes.c_int

    def rule(drive, item):
        if drive is None or item is None:
            return 0
        return int(check(drive.encode(), item.encode(), None) == 0)
    return rule


def main():
    admin = os.environ.get('SPACEPORT_TEST_PG_URL')
    if not admin:
        print('1..0 # SKIP SPACEPORT_TEST_PG_URL is not set')
        return
    import psycopg2

    t = TAP()
    lite_files = sorted(glob.glob(os.path.join(SCHEMA, '[0-9]*.sql')), key=number)
    pg_files = sorted(glob.glob(os.path.join(SCHEMA, 'pg', '[0-9]*.sql')), key=number)
    name = 'sp_schema_' + uuid.uuid4().hex[:12]
    admin_conn = psycopg2.connect(admin)
    admin_conn.autocommit = True
    admin_conn.cursor().execute('CREATE DATABASE %s' % name)
    tmp = tempfile.mkdtemp(prefix='sp-pg-schema-')
    pg = None

    def body(t):
        nonlocal pg
        t.eq([os.path.basename(p) for p in pg_files], [os.path.basename(p) for p in lite_files],
             'schema/pg has a migration of each number and name schema/ has')
        with open(os.path.join(SCHEMA, 'meson.build'), encoding='utf-8') as f:
            listed = re.search(r'pg_migrations\s*=\s*files\(([^)]*)\)', f.read()).group(1)
        t.eq(re.findall(r"'([^']+)'", listed),
             ['pg/' + os.path.basename(p) for p in pg_files],
             "schema/meson.build's pg_migrations lists them all, in order")

        pg = psycopg2.connect(urllib.parse.urlsplit(admin)._replace(path='/' + name).geturl())
        cur = pg.cursor()
        cur.execute('SHOW lc_collate')
        t.eq(cur.fetchone()[0], 'C', 'the server was made with C collation, as the store needs')
        lite = sqlite3.connect(os.path.join(tmp, 'schema.db'), isolation_level=None)
        lite.execute('PRAGMA foreign_keys=ON')

        # Each migration in its transaction, as the store runs them; rows
        # to carry over written after CARRY_AFTER.
        for lf, pf in zip(lite_files, pg_files):
            with open(lf, encoding='utf-8') as f:
                lite.executescript(f.read())
            with open(pf, encoding='utf-8') as f:
                sql = f.read()
            try:
                cur.execute(sql)
                pg.commit()
            except psycopg2.Error as e:
                pg.rollback()
                t.ok(False, 'PostgreSQL takes %s' % os.path.basename(pf), e)
                return
            if number(lf) == CARRY_AFTER:
                for stmt in CARRY_ROWS:
                    lite.execute(stmt)
                    cur.execute(stmt)
                pg.commit()
        t.ok(True, 'PostgreSQL takes all %d migrations' % len(pg_files))

        compare(t, sqlite_schema(lite), pg_schema(cur))

        for table in ('users', 'drives', 'members', 'shares', 'remotes', 'events',
                      'event_recipients', 'inbound_events', 'ocm_sent', 'ocm_outbox',
                      'ocm_cursor', 'relay_cursor'):
            cols = [r[1] for r in lite.execute('PRAGMA table_info(%s)' % table)]
            q = 'SELECT %s FROM %s ORDER BY 1' % (', '.join(cols), table)
            want = [tuple(r) for r in lite.execute(q)]
            cur.execute(q)
            got = [tuple(r) for r in cur.fetchall()]
            t.ok(want and got == want, '%s: rows written before later migrations are the same '
                 'after them' % table, 'got:  %r\nwant: %r' % (got, want))

        pg.commit()
        pg.autocommit = True
        for stmt, ok in CONSTRAINTS:
            try:
                lite.execute(stmt)
                lite_ok = True
            except sqlite3.Error:
                lite_ok = False
            try:
                cur.execute(stmt)
                pg_ok = True
            except psycopg2.Error:
                pg_ok = False
            t.eq((lite_ok, pg_ok), (ok, ok), '%s: %s' % ('taken' if ok else 'refused', stmt))
        for q in AFTER_CONSTRAINTS:
            want = [tuple(r) for r in lite.execute(q)]
            cur.execute(q)
            t.eq([tuple(r) for r in cur.fetchall()], want, 'the same rows after: ' + q)

        # The store inserts without seq and asks lastval() what it got, as
        # it asks SQLite's last_insert_rowid(): each insert a new seq.
        seqs = []
        for share in ('s9', 's10'):
            cur.execute("INSERT INTO shares (id, mount_id, drive_seq, item_id, grantee_seq, role, "
                        "creator_seq, created_at, updated_at) "
                        "VALUES (%s, %s, 2, %s, 2, 'v', 2, 1, 1) RETURNING seq",
                        (share, 'mt-' + share, 'd2!' + share))
            seqs.append(cur.fetchone()[0])
            cur.execute('SELECT lastval()')
            seqs.append(cur.fetchone()[0])
        t.ok(seqs[0] == seqs[1] and seqs[2] == seqs[3] and seqs[2] > seqs[0],
             "lastval() is each new share's seq, and the second's is past the first's", seqs)

        rule = c_rule(tmp)
        for drive, item, want in ITEM_OF:
            cur.execute('SELECT sp_item_of(%s, %s)', (drive, item))
            t.eq((cur.fetchone()[0], rule(drive, item)), (want, want),
                 'sp_item_of(%s, %s) = %d in PostgreSQL and in C' % (shown(drive), shown(item),
                                                                     want))
        seed = int(os.environ.get('SPACEPORT_TEST_SEED', '21'))
        pairs = fuzz_pairs(seed)
        cur.execute('SELECT sp_item_of(d, i) FROM unnest(%s::text[], %s::text[]) '
                    'WITH ORDINALITY AS u(d, i, n) ORDER BY n',
                    ([d for d, _ in pairs], [i for _, i in pairs]))
        got = [r[0] for r in cur.fetchall()]
        want = [rule(d, i) for d, i in pairs]
        differ = [(shown(d), shown(i), g, w) for (d, i), g, w in zip(pairs, got, want) if g != w]
        t.ok(len(got) == len(pairs) and not differ,
             'sp_item_of agrees with C on %d generated pairs (seed %d; %d items of their drive)'
             % (len(pairs), seed, sum(want)),
             '\n'.join('%s %s: PostgreSQL %d, C %d' % x for x in differ[:10]))
        cur.execute("SELECT count(*) FROM (VALUES (1)) AS v(x) WHERE sp_item_of('d1', 'd1!x') = 1")
        t.eq(cur.fetchone()[0], 1, 'sp_item_of compares with an integer, as in SQLite')
        lite.close()

    try:
        t.run(body)
    finally:
        if pg is not None:
            pg.close()
        admin_conn.cursor().execute('DROP DATABASE IF EXISTS %s' % name)
        admin_conn.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
