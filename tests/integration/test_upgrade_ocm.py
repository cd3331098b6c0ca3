"""Upgrade: a database of the version before Open Cloud Mesh 1.2.2
(migrations 001..010) holding remote spaces, shares sent over OCM, their
queued deliveries and shares, opened by this version (migrations 011..013).
Nothing is lost, and the rebuilt tables keep their constraints and
indexes."""
import glob
import os
import sqlite3
import tempfile

from harness import BACKEND, SOURCE_ROOT, TAP, run_spaceport

PREVIOUS = 10  # the schema version before 011_ocm_inbound.sql


def previous_database(path):
    """Builds the previous version's database at path, with data."""
    files = sorted(glob.glob(os.path.join(SOURCE_ROOT, 'schema', '0*.sql')))[:PREVIOUS]
    con = sqlite3.connect(path)
    con.execute('PRAGMA journal_mode=WAL')
    con.execute('PRAGMA foreign_keys=ON')
    con.execute('CREATE TABLE schema_version (version INTEGER PRIMARY KEY,'
                ' name TEXT NOT NULL, applied_at INTEGER NOT NULL)')
    for i, f in enumerate(files, 1):
        con.executescript(open(f).read())
        con.execute('INSERT INTO schema_version VALUES (?, ?, 0)', (i, os.path.basename(f)))
    con.executescript("""
        INSERT INTO users (seq, id, issuer, sub, username, email, created_at, updated_at)
            VALUES (1, 'u-einstein', 'https://idp.test', 'e', 'einstein', 'einstein@zurich.test', 1, 1),
                   (2, 'u-marie', 'https://idp.test', 'm', 'marie', 'marie@zurich.test', 1, 1);
        INSERT INTO drives (seq, id, drive_type, alias, name, owner_seq, etag, mtime, created_at)
            VALUES (1, 'd-einstein', 'personal', 'personal/einstein', 'Einstein', 1, 'e1', 1, 1);
        -- a space registered by URL, one announced over OCM with its
        -- subscription, and a second OCM share of another folder
        INSERT INTO remotes (seq, id, owner_seq, instance, web_dav_url, remote_drive_id, name,
                             etag, mtime, ocm_share_id, ocm_secret, created_at, sub_id,
                             sub_state, sub_expires_at, sub_attempts, sub_seq)
            VALUES (1, 'r-url', 2, 'https://berlin.test', 'https://berlin.test/dav/spaces/a',
                    'a', 'By URL', 'x1', 5, NULL, NULL, 10, NULL, NULL, NULL, 0, 0),
                   (2, 'r-ocm', 2, 'https://berlin.test', 'https://berlin.test/dav/spaces/b',
                    'b', 'Over OCM', 'x2', 6, 'p-1', 's3cret', 11, 'sub-1', 'h', 99, 2, 7);
        INSERT INTO ocm_sent (seq, share_id, drive_id, item_id, grantee, name, sharer,
                              sharer_name, role, instance, secret, state, created_at, updated_at)
            VALUES (1, 'sh-1', 'd-einstein', 'i-1', 'marie@berlin.test', 'Papers', 'einstein',
                    'Albert Einstein', 'viewer', 'https://berlin.test', 'sec-1', 'shared', 1, 2),
                   (2, 'sh-2', 'd-einstein', 'i-2', 'ada@berlin.test', 'Notes', 'einstein',
                    'Albert Einstein', 'editor', NULL, 'sec-2', 'pending', 3, 3);
        INSERT INTO ocm_outbox (seq, sent_seq, kind, etag, attempts, next_at, last_error, created_at)
            VALUES (1, 1, 'changed', 'e2', 1, 50, 'timeout', 4),
                   (2, 1, 'unshared', NULL, 0, 0, NULL, 5),
                   (3, 2, 'share', NULL, 3, 60, '503', 6);
        INSERT INTO shares (seq, id, mount_id, drive_seq, item_id, item_name, grantee_seq,
                            grantee_email, grantee_remote, role, creator_seq, created_at, updated_at)
            VALUES (1, 'sh-local', 'm-1', 1, 'i-3', 'Drafts', 2, NULL, NULL, 'viewer', 1, 1, 1),
                   (2, 'sh-1', 'm-2', 1, 'i-1', 'Papers', NULL, 'marie@berlin.test', NULL,
                    'viewer', 1, 1, 1),
                   (3, 'sh-remote', 'm-3', 1, 'i-4', 'Data', NULL, NULL, 'ada@berlin.test',
                    'viewer', 1, 1, 1);
    """)
    con.commit()
    con.close()


def rows(con, sql):
    return [tuple(r) for r in con.execute(sql)]


def refuses(t, con, table, cases):
    """Each (what, sql) of cases is refused by table's constraints."""
    for what, sql in cases:
        try:
            con.execute(sql)
            t.ok(False, '%s refuses %s' % (table, what))
        except sqlite3.IntegrityError:
            t.ok(True, '%s refuses %s' % (table, what))
    con.rollback()


def main(t):
    if BACKEND != 'sqlite':
        t.ok(True, '# SKIP the previous version ran on SQLite only: no PostgreSQL database of '
             'it exists to upgrade')
        return
    with tempfile.TemporaryDirectory(prefix='sp-upgrade-') as d:
        db = os.path.join(d, 'spaceport.db')
        previous_database(db)
        before = sqlite3.connect(db)
        remotes_before = rows(before, 'SELECT seq, id, owner_seq, instance, web_dav_url,'
                              ' remote_drive_id, name, etag, mtime, ocm_share_id, ocm_secret,'
                              ' created_at, sub_id, sub_state, sub_expires_at, sub_next_at,'
                              ' sub_attempts, sub_error, sub_seq FROM remotes ORDER BY seq')
        sent_before = rows(before, 'SELECT * FROM ocm_sent ORDER BY seq')
        outbox_before = rows(before, 'SELECT * FROM ocm_outbox ORDER BY seq')
        shares_before = rows(before, 'SELECT * FROM shares ORDER BY seq')
        before.close()

        code, out, err = run_spaceport(['migrate'], env={'SPACEPORT_DATA_DIR': d})
        t.ok(code == 0 and '011_ocm_inbound.sql' in err and '013_ocm_invites.sql' in err,
             'migrate upgrades a database of the previous version', err)
        con = sqlite3.connect(db)
        con.execute('PRAGMA foreign_keys=ON')  # outside any transaction, as the store does
        t.eq(con.execute('SELECT max(version) FROM schema_version').fetchone()[0], 13,
             'the schema is at version 13')
        t.eq(rows(con, 'PRAGMA integrity_check'), [('ok',)], 'the database is intact')
        t.eq(rows(con, 'PRAGMA foreign_key_check'), [], 'no foreign key is broken')

        # remotes: rebuilt, every row and column kept
        t.eq(rows(con, 'SELECT seq, id, owner_seq, instance, web_dav_url, remote_drive_id, name,'
                  ' etag, mtime, ocm_share_id, ocm_secret, created_at, sub_id, sub_state,'
                  ' sub_expires_at, sub_next_at, sub_attempts, sub_error, sub_seq FROM remotes'
                  ' ORDER BY seq'), remotes_before, 'every remote space is kept as it was')
        t.eq(rows(con, 'SELECT seq, permissions, resource_type FROM remotes ORDER BY seq'),
             [(1, None, None), (2, None, 'folder')],
             'an OCM share announced before is a folder whose permissions its host decides')
        idx = {r[1]: r[2] for r in con.execute("PRAGMA index_list('remotes')")}
        t.ok({'remotes_url', 'remotes_remote_drive', 'remotes_ocm', 'remotes_ocm_share',
              'remotes_sub', 'remotes_sub_due'} <= set(idx),
             'the rebuilt remotes table has its indexes', sorted(idx))
        t.ok(idx.get('remotes_url') and idx.get('remotes_ocm') and idx.get('remotes_sub'),
             'remotes_url, remotes_ocm and remotes_sub are unique', idx)
        # a second share of the same folder from the same instance fits now
        con.execute("INSERT INTO remotes (id, owner_seq, instance, web_dav_url, remote_drive_id,"
                    " name, ocm_share_id, created_at) VALUES ('r-ocm2', 2, 'https://berlin.test',"
                    " 'https://berlin.test/dav/spaces/b', 'b', 'Again', 'p-2', 12)")
        refuses(t, con, 'remotes', [
            ('a second registration of a URL',
             "INSERT INTO remotes (id, owner_seq, instance, web_dav_url, remote_drive_id, name,"
             " created_at) VALUES ('r-dup', 2, 'https://berlin.test',"
             " 'https://berlin.test/dav/spaces/a', 'a', 'Dup', 13)"),
            ('a providerId twice from one instance',
             "INSERT INTO remotes (id, owner_seq, instance, web_dav_url, remote_drive_id, name,"
             " ocm_share_id, created_at) VALUES ('r-dup', 2, 'https://berlin.test',"
             " 'https://berlin.test/dav/spaces/c', 'c', 'Dup', 'p-1', 13)"),
            ('a remote space of no user',
             "INSERT INTO remotes (id, owner_seq, instance, web_dav_url, remote_drive_id, name,"
             " created_at) VALUES ('r-none', 99, 'https://berlin.test',"
             " 'https://berlin.test/dav/spaces/z', 'z', 'None', 13)"),
            ('permissions outside read and read,write',
             "UPDATE remotes SET permissions = 'write' WHERE seq = 2"),
        ])

        # ocm_sent: every share kept, the new columns empty
        t.eq(rows(con, 'SELECT seq, share_id, drive_id, item_id, grantee, name, sharer,'
                  ' sharer_name, role, instance, secret, state, created_at, updated_at'
                  ' FROM ocm_sent ORDER BY seq'), sent_before, 'every sent share is kept')
        t.eq(rows(con, 'SELECT answer, answered_at, answered_by, share_with, resource_type,'
                  ' expiration FROM ocm_sent WHERE seq = 1'), [(None,) * 6],
             'a share sent before has no answer, address, type or expiry yet')
        # ocm_outbox: rebuilt, every delivery kept in order, still a child
        # of its share
        t.eq(rows(con, 'SELECT seq, sent_seq, kind, etag, attempts, next_at, last_error,'
                  ' created_at FROM ocm_outbox ORDER BY seq'), outbox_before,
             'every queued delivery is kept, in order, with its retries')
        t.eq(rows(con, 'SELECT count(*) FROM ocm_outbox WHERE reply_seq IS NOT NULL'), [(0,)],
             'the deliveries kept belong to sent shares')
        idx = {r[1] for r in con.execute("PRAGMA index_list('ocm_outbox')")}
        t.ok({'ocm_outbox_sent', 'ocm_outbox_reply', 'ocm_outbox_due'} <= idx,
             'the rebuilt ocm_outbox has its indexes', sorted(idx))
        fks = {(r[2], r[3], r[6]) for r in con.execute("PRAGMA foreign_key_list('ocm_outbox')")}
        t.ok(('ocm_sent', 'sent_seq', 'CASCADE') in fks and
             ('ocm_replies', 'reply_seq', 'CASCADE') in fks,
             'a delivery goes with its sent share or reply', fks)
        refuses(t, con, 'ocm_outbox', [
            ('a delivery of no share and no reply',
             "INSERT INTO ocm_outbox (kind, next_at, created_at) VALUES ('share', 0, 0)"),
            ('an answer on a sent share',
             "INSERT INTO ocm_outbox (sent_seq, kind, next_at, created_at)"
             " VALUES (1, 'accepted', 0, 0)"),
            ('an unknown kind',
             "INSERT INTO ocm_outbox (sent_seq, kind, next_at, created_at)"
             " VALUES (1, 'bogus', 0, 0)"),
        ])
        con.execute('DELETE FROM ocm_sent WHERE seq = 2')
        t.eq(rows(con, 'SELECT seq FROM ocm_outbox ORDER BY seq'), [(1,), (2,)],
             'removing a sent share still removes its deliveries')
        con.rollback()

        # shares: kept, none of them a contact's
        t.eq(rows(con, 'SELECT seq, id, mount_id, drive_seq, item_id, item_name, grantee_seq,'
                  ' grantee_email, grantee_remote, role, expires_at, expired, creator_seq,'
                  ' secret, created_at, updated_at, grantee_group_seq FROM shares ORDER BY seq'),
             shares_before, 'every share is kept')
        t.eq(rows(con, 'SELECT count(*) FROM shares WHERE grantee_instance IS NOT NULL'), [(0,)],
             'no share made before is taken for a contact\'s')
        con.close()

        # a second migrate finds nothing to do
        code, out, err = run_spaceport(['migrate'], env={'SPACEPORT_DATA_DIR': d})
        t.ok(code == 0 and 'applied migration' not in err, 'the upgraded database is current', err)


if __name__ == '__main__':
    TAP().run(main)
