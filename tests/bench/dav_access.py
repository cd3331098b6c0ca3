#!/usr/bin/python3
"""tests/bench/dav_access.py - what the WebDAV access check costs
(GET /api/v1/dav-access, the route nginx's auth_request asks before every
file request), against GET /healthz of the same program in the same run.

/healthz reads nothing: it is what this program's HTTP layer costs per
request. The check adds the cached token look-up, one indexed read of the
user and one of the drive and role, and the answer's headers. Measured,
each with wrk -t2 -c64 and one token (verified once, then cached):

1. /healthz, no token.
2. GET /graph/v1.0/me as einstein: the cheapest authenticated route (the
   same cached token and user read, no role), for reference.
3. The check allowing einstein a PUT in his personal space (Manager).
4. The check allowing gus, whose token names 32 groups, a PUT in a
   project space he reaches through one of them (SpaceEditor).
5. The check refusing marie (no role) a GET in einstein's space.

Rounds alternate (ROUNDS, default 2) and the best rate of each counts:
on shared cores a single run varies with the neighbours' load by a
quarter either way. Prints req/s, latency and CPU per request of each,
and each check's rate as a share of /healthz's (what it costs over
answering nothing) and of /graph/v1.0/me's, and its CPU time per request
over /graph/v1.0/me's (goal <= 1.5: the role read costs less than half an
authenticated request more). CPU time per request is the figure to trust
on a busy machine: it counts only the program's own work. Exit code 1
when any answer was not the expected one.

Needs the project built, nats-server, wrk and Debian's /usr/bin/python3.
Environment: BUILD (build dir, default build), DURATION (wrk seconds,
default 10), WARMUP (seconds, default 2), ROUNDS (default 2).
"""
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD = os.path.abspath(os.environ.get('BUILD', os.path.join(ROOT, 'build')))
os.environ.setdefault('SPACEPORT_BIN', os.path.join(BUILD, 'spaceport'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from drives import line, wrk, wrk_cpu  # noqa: E402
from harness import Client, Issuer, Nats, Spaceport  # noqa: E402

DURATION = int(os.environ.get('DURATION', '10'))
WARMUP = int(os.environ.get('WARMUP', '2'))
ROUNDS = int(os.environ.get('ROUNDS', '2'))
ROUTE = '/api/v1/dav-access'
SPACE_EDITOR = '58c63c02-1d89-4572-916a-870abc5a1b7d'


def personal(c):
    return [d['id'] for d in c.get('/graph/v1.0/me/drives').json()['value']
            if d['driveType'] == 'personal'][0]


def setup(sp, idp):
    """The users and spaces; returns {label: (headers, expected status)}."""
    einstein = Client(sp, idp.token('einstein'))
    marie = Client(sp, idp.token('marie'))
    groups = ['group-%02d' % i for i in range(32)]
    gus = Client(sp, idp.token('gus', groups=groups))
    olga = Client(sp, idp.token('olga', roles=['spaceport-spaceadmin']))
    marie.me()
    home = personal(einstein)
    project = olga.call('POST', '/graph/v1.0/drives', {'name': 'Bench'}).json()['id']
    group = [g['id'] for g in gus.get('/graph/v1.0/me?$expand=memberOf').json()['memberOf']
             if g['displayName'] == 'group-17'][0]
    r = olga.call('POST', '/graph/v1beta1/drives/%s/root/invite' % project, {
        'recipients': [{'objectId': group, '@libre.graph.recipient.type': 'group'}],
        'roles': [SPACE_EDITOR]})
    if r.status != 200:
        raise RuntimeError('invite: %d %r' % (r.status, r.body[:300]))

    def check(c, method, uri):
        return ['Authorization: Bearer ' + c.token, 'X-Original-Method: ' + method,
                'X-Original-URI: ' + uri]

    return {
        '/graph/v1.0/me (200)': (['Authorization: Bearer ' + einstein.token], 200),
        'check, owner PUT (204)': (check(einstein, 'PUT', '/dav/spaces/%s/a.txt' % home), 204),
        'check, group Editor PUT (204)': (
            check(gus, 'PUT', '/dav/spaces/%s/docs/b.txt' % project), 204),
        'check, no role GET (403)': (check(marie, 'GET', '/dav/spaces/%s/a.txt' % home), 403),
    }


def expect(sp, path, headers, status):
    """One request by hand: the answer wrk will count must be the one
    meant (wrk counts 403 as non-2xx, and a wrong 204 not at all)."""
    h = dict(x.split(': ', 1) for x in headers)
    got = sp.request('GET', path, headers=h).status
    if got != status:
        sys.exit('dav_access.py: expected %d, got %d for %s' % (status, got, h))


def main():
    if not os.access(os.environ['SPACEPORT_BIN'], os.X_OK):
        sys.exit('dav_access.py: %s missing; run ninja -C %s' % (os.environ['SPACEPORT_BIN'],
                                                                 BUILD))
    with Nats() as nats, Issuer() as idp:
        sp = Spaceport(nats_url=nats.url, issuers=idp.url, env={'SPACEPORT_LOG_LEVEL': 'warn'})
        with sp:
            cases = setup(sp, idp)
            runs = [('/healthz', sp.url + '/healthz', [], 200)]
            for label, (headers, status) in cases.items():
                path = '/graph/v1.0/me' if label.startswith('/graph') else ROUTE
                expect(sp, path, headers, status)
                runs.append((label, sp.url + path, headers, status))
            best = {}
            for rnd in range(1, ROUNDS + 1):
                for label, url, headers, status in runs:
                    wrk(url, WARMUP, headers)
                    r = wrk_cpu(sp.proc.pid, url, DURATION, headers)
                    if r['errors'] or (r['non2xx'] != 0) != (status >= 300):
                        sys.exit('dav_access.py: %s: non-2xx %d, %s' % (label, r['non2xx'],
                                                                        r['errors']))
                    print('round %d: %-32s %7.0f req/s' % (rnd, label, r['rps']), flush=True)
                    if label not in best or r['rps'] > best[label]['rps']:
                        best[label] = r
    print('best of %d rounds, wrk -t2 -c64 -d%ds:' % (ROUNDS, DURATION))
    for label, _, _, _ in runs:
        line(label, best[label])
    base, me = best['/healthz']['rps'], best['/graph/v1.0/me (200)']
    for label in cases:
        if label.startswith('check'):
            r = best[label]
            print('%-30s req/s %.2f of /healthz, %.2f of /me; CPU/req %.2f x /me (goal <= 1.5)'
                  % (label, r['rps'] / base, r['rps'] / me['rps'], r['cpu_us'] / me['cpu_us']))


if __name__ == '__main__':
    main()
