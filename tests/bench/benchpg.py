"""PostgreSQL for the benchmarks (sharing.py and drives.py with
--backend postgres or both): the server SPACEPORT_TEST_PG_URL names (an
admin URL, as tests/run sets it), or else a private one that
tests/lib/pg starts in a temporary directory and stops at the end. The
databases are the test harness's (harness.new_pg_database): new, with C
collation, dropped when the benchmark ends.

    with PgServer() as pg:
        url = pg.database('sp_bench_sharing')
"""
import os
import shutil
import subprocess
import sys
import tempfile

import harness

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PG_SCRIPT = os.path.join(ROOT, 'tests', 'lib', 'pg')


def backends(choice):
    """The backends a --backend choice (sqlite, postgres, both) runs, SQLite
    first: PostgreSQL's figures are given over SQLite's."""
    return ['sqlite', 'postgres'] if choice == 'both' else [choice]


class PgServer:
    def __init__(self):
        self.dir = None

    def __enter__(self):
        if harness.pg_admin_url():
            return self
        self.dir = tempfile.mkdtemp(prefix='sp-bench-pg-')
        out = subprocess.run([PG_SCRIPT, 'start', self.dir], capture_output=True, text=True)
        if out.returncode:
            shutil.rmtree(self.dir, ignore_errors=True)
            sys.exit('benchpg: tests/lib/pg start failed:\n' + out.stderr)
        os.environ['SPACEPORT_TEST_PG_URL'] = out.stdout.strip().splitlines()[-1]
        return self

    def database(self, name):
        """The URL of a new, empty database called name."""
        return harness.new_pg_database(name)

    def __exit__(self, *exc):
        if self.dir:
            # The server and its databases go at once: nothing for the
            # harness to drop at exit.
            del os.environ['SPACEPORT_TEST_PG_URL']
            subprocess.run([PG_SCRIPT, 'stop', self.dir], capture_output=True)
            shutil.rmtree(self.dir, ignore_errors=True)
