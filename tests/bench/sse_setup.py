#!/usr/bin/python3
"""tests/bench/sse_setup.py - the identity side of tests/bench/sse.sh.

    sse_setup.py issuer USERS LIFETIME_S DIR
        Runs the test issuer (tests/integration/harness.py Issuer) on a
        random loopback port, mints one RS256 token per user (sub
        "sse-bench-<i>", valid LIFETIME_S seconds), writes DIR/issuer.url
        and DIR/tokens (one token a line), then serves discovery and JWKS
        until SIGTERM.

    sse_setup.py provision BASE_URL DIR
        Provisions every user of DIR/tokens with one GET /graph/v1.0/me
        (first sight creates the user and the personal drive), reads the
        personal drive's id from GET /graph/v1.0/me/drives and writes
        DIR/users: "<token> <driveId>" a line, in token order.
"""
import concurrent.futures
import http.client
import json
import os
import signal
import sys
import threading
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                                'integration'))


def issuer(users, lifetime, out_dir):
    from harness import Issuer
    idp = Issuer().start()
    tokens = [idp.token('sse-bench-%d' % i, 'ssebench%d' % i, 'SSE Bench %d' % i,
                        lifetime=lifetime) for i in range(users)]
    with open(os.path.join(out_dir, 'tokens.tmp'), 'w') as f:
        f.write('\n'.join(tokens) + '\n')
    os.rename(os.path.join(out_dir, 'tokens.tmp'), os.path.join(out_dir, 'tokens'))
    with open(os.path.join(out_dir, 'issuer.url.tmp'), 'w') as f:
        f.write(idp.url + '\n')
    os.rename(os.path.join(out_dir, 'issuer.url.tmp'), os.path.join(out_dir, 'issuer.url'))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    done.wait()
    idp.stop()


def provision(base, out_dir):
    u = urllib.parse.urlsplit(base)
    tokens = open(os.path.join(out_dir, 'tokens')).read().split()
    local = threading.local()

    def get(path, token):
        for attempt in range(3):
            conn = getattr(local, 'conn', None)
            if conn is None:
                conn = local.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            try:
                conn.request('GET', path, headers={'Authorization': 'Bearer ' + token})
                r = conn.getresponse()
                body = r.read()
                if r.status != 200:
                    raise RuntimeError('GET %s: %d %s' % (path, r.status, body[:200]))
                return json.loads(body)
            except (OSError, http.client.HTTPException):
                conn.close()
                local.conn = None
                if attempt == 2:
                    raise
        return None

    def one(token):
        get('/graph/v1.0/me', token)
        drives = get('/graph/v1.0/me/drives', token)['value']
        personal = [d['id'] for d in drives if d.get('driveType') == 'personal']
        if len(personal) != 1:
            raise RuntimeError('expected one personal drive, got %r' % drives)
        return personal[0]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        drives = list(pool.map(one, tokens))
    with open(os.path.join(out_dir, 'users'), 'w') as f:
        for token, drive in zip(tokens, drives):
            f.write('%s %s\n' % (token, drive))


def main():
    if len(sys.argv) == 5 and sys.argv[1] == 'issuer':
        issuer(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 4 and sys.argv[1] == 'provision':
        provision(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main()
