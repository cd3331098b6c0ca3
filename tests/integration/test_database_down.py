#!/usr/bin/python3
"""A replica whose PostgreSQL database stops answering: requests that need
the database are answered 503 unavailable (the API's answer for a database
that cannot be reached, which clients and balancers retry), not 500, and
/readyz 503; once the database answers again, so does the program, on the
same connections made anew. The database is made to refuse connections
(ALLOW_CONNECTIONS false, its sessions ended) rather than the run's server
stopped, which other tests share.

PostgreSQL whatever the backend of the run: skipped when the run has no
server (SPACEPORT_TEST_PG_URL unset)."""
import sys

import harness
from harness import TAP, Client, Issuer, Nats, Spaceport, wait_until


def admin(sql):
    con = harness._pg_connect(harness.pg_admin_url())
    try:
        con.cursor().execute(sql)
    finally:
        con.close()


def main(t):
    db_url = harness.new_pg_database()
    name = db_url.rpartition('/')[2].partition('?')[0]
    with Nats() as nats, Issuer() as idp:
        sp = Spaceport(nats_url=nats.url, issuers=idp.url,
                       env={'SPACEPORT_DATABASE_URL': db_url})
        sp.start()
        try:
            ann = Client(sp, idp.token('ann-sub', 'ann', 'Ann', roles=['spaceport-spaceadmin']))
            t.eq(ann.call('GET', '/graph/v1.0/me/drives').status, 200, 'drives listed')

            admin('ALTER DATABASE "%s" WITH ALLOW_CONNECTIONS false' % name)
            admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'"
                  % name)
            r = sp.request('GET', '/readyz')
            t.eq(r.status, 503, '/readyz with the database refusing connections')
            for method, path, body in (('GET', '/graph/v1.0/me/drives', None),
                                       ('GET', '/graph/v1.0/me', None),
                                       ('POST', '/graph/v1.0/drives', {'name': 'Down'})):
                r = ann.call(method, path, body)
                code = r.json().get('error', {}).get('code') if r.body else None
                t.ok(r.status == 503 and code == 'unavailable',
                     '%s %s with the database down: 503 unavailable' % (method, path),
                     'got %d %s' % (r.status, r.body[:200]))

            admin('ALTER DATABASE "%s" WITH ALLOW_CONNECTIONS true' % name)
            t.ok(wait_until(lambda: sp.request('GET', '/readyz').status == 200, timeout=30),
                 '/readyz 200 once the database answers again')
            t.eq(ann.call('GET', '/graph/v1.0/me/drives').status, 200,
                 'drives listed again')
            r = ann.call('POST', '/graph/v1.0/drives', {'name': 'Back'})
            t.eq(r.status, 201, 'a drive made again')
        finally:
            admin('ALTER DATABASE "%s" WITH ALLOW_CONNECTIONS true' % name)
            sp.stop()


if __name__ == '__main__':
    if harness.pg_admin_url() is None:
        print('1..0 # SKIP no PostgreSQL for this run (SPACEPORT_TEST_PG_URL unset)')
        sys.exit(0)
    TAP().run(main)
