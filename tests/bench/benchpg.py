"""PostgreSQL for the benchmarks (sharing.py and drives.py with
--backend postgres or both): the server SPACEPORT_TEST_PG_URL names (an
admin URL, as tests/run sets it), or else a private one that
tests/lib/pg starts in a temporary directory and stops at the end.

    with PgServer() as pg:
        url = pg.database('sp_bench_sharing')   # a new, empty database
        ...
"""
import os
import subprocess
import sys
import tempfile
import shutil
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PG_SCRIPT = os.path.join(ROOT, 'tests', 'lib', 'pg')

BACKENDS = ('sqlite', 'postgres')


def backends(choice):
    """The backends a --backend choice (sqlite, postgres, both) runs, SQLite
    first: the PostgreSQL figures are given as ratios to it."""
    return list(BACKENDS) if choice == 'both' else [choice]


def database_url(admin, name):
    """admin (a postgres:// URL) with its database replaced by name."""
    u = urllib.parse.urlsplit(admin)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, '/' + name, u.query, u.fragment))


class PgServer:
    def __init__(self):
        self.admin = os.environ.get('SPACEPORT_TEST_PG_URL')
        self.dir = None

    def __enter__(self):
        if self.admin:
            return self
        if not os.access(PG_SCRIPT, os.X_OK):
            sys.exit('benchpg: set SPACEPORT_TEST_PG_URL (an admin URL of a PostgreSQL 15 '
                     'made with initdb --no-locale) or provide %s' % PG_SCRIPT)
        self.dir = tempfile.mkdtemp(prefix='sp-bench-pg-')
        out = subprocess.run([PG_SCRIPT, 'start', self.dir], capture_output=True, text=True)
        if out.returncode:
            shutil.rmtree(self.dir, ignore_errors=True)
            sys.exit('benchpg: tests/lib/pg start failed:\n' + out.stderr)
        self.admin = out.stdout.strip().splitlines()[-1]
        return self

    def execute(self, sql, url=None):
        import psycopg2  # python3-psycopg2
        con = psycopg2.connect(url or self.admin)
        con.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
        try:
            with con.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else None
        finally:
            con.close()

    def exists(self, name):
        return bool(self.execute("SELECT 1 FROM pg_database WHERE datname = '%s'" % name))

    def database(self, name, keep=False):
        """The URL of database name: made anew (dropped first if it was
        there), unless keep and it exists. C collation, as the store
        expects: text orders bytewise, as in SQLite."""
        if keep and self.exists(name):
            return database_url(self.admin, name)
        self.execute('DROP DATABASE IF EXISTS %s WITH (FORCE)' % name)
        self.execute("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'" % name)
        return database_url(self.admin, name)

    def __exit__(self, *exc):
        if self.dir:
            subprocess.run([PG_SCRIPT, 'stop', self.dir], capture_output=True)
            shutil.rmtree(self.dir, ignore_errors=True)
