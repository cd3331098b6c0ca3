#!/usr/bin/python3
"""The ground floor: health routes, the bus coming and going, configuration
errors, error bodies, migrations, the embedded nats-server, shutdown."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

from harness import BACKEND, TAP, Database, Issuer, Nats, Spaceport, run_spaceport, wait_until


def error_body_ok(resp, status, code=None):
    """The Graph error form: {"error":{"code","message"}} as JSON."""
    if resp.status != status or not resp.headers.get('content-type', '').startswith(
            'application/json'):
        return False
    try:
        err = resp.json()['error']
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(err.get('code'), str) and isinstance(err.get('message'), str) and (
        code is None or err['code'] == code)


def raw_request(port, data, timeout=5.0):
    """Sends raw bytes, returns what comes back before the peer closes."""
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
        s.sendall(data)
        out = b''
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
                if b'\r\n\r\n' in out and b'"error"' in out:
                    break
        except OSError:
            pass
        return out


def check_routes(t, sp):
    r = sp.request('GET', '/healthz')
    t.ok(r.status == 200 and r.json() == {'status': 'ok'}, 'healthz answers 200 ok')
    r = sp.request('GET', '/readyz')
    t.ok(r.status == 200 and r.json() == {'status': 'ready'}, 'readyz answers 200 when ready')
    r = sp.request('HEAD', '/healthz')
    t.eq(r.status, 200, 'HEAD is served like GET')

    r = sp.request('GET', '/no/such/route')
    t.ok(error_body_ok(r, 404, 'itemNotFound'), 'unknown route is 404 in the Graph error form',
         r.body)
    r = sp.request('DELETE', '/healthz')
    t.ok(error_body_ok(r, 405), '405 for a wrong method, JSON body', r.body)
    t.eq(r.headers.get('allow'), 'GET', '405 carries Allow: GET')

    # Announced: refused on the headers alone, before a byte of body.
    out = raw_request(sp.port, b'POST /graph/v1.0/me HTTP/1.1\r\nHost: x\r\n'
                      b'Content-Type: application/json\r\nContent-Length: 1048577\r\n\r\n')
    t.ok(out.startswith(b'HTTP/1.1 413') and b'"requestTooLarge"' in out,
         'announced oversized body is 413 before it is sent', out[:300])
    r = sp.request('POST', '/graph/v1.0/me', body=b'x' * (1024 * 1024),
                   headers={'Content-Type': 'application/json'})
    t.ok(r.status == 405, 'a body of exactly the limit is read and routed (405 here)', r.status)

    # Chunked: the size is not announced; the server counts as it reads.
    chunk = b'x' * 65536
    body = b''.join(b'%x\r\n%s\r\n' % (len(chunk), chunk) for _ in range(17)) + b'0\r\n\r\n'
    out = raw_request(sp.port, b'POST /graph/v1.0/me HTTP/1.1\r\nHost: x\r\n'
                      b'Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n' +
                      body)
    t.ok(out.startswith(b'HTTP/1.1 413') and b'"requestTooLarge"' in out,
         'chunked oversized body is 413', out[:300])

    out = raw_request(sp.port, b'GET /healthz?' + b'a' * 9000 + b' HTTP/1.1\r\nHost: x\r\n\r\n')
    t.ok(out.startswith(b'HTTP/1.1 414') and b'"uriTooLong"' in out,
         'a request target over 8 KiB is 414 in the JSON form', out[:200])
    out = raw_request(sp.port, b'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ' + b'a' * 17000 +
                      b'\r\n\r\n')
    t.ok(out.startswith(b'HTTP/1.1 431') and b'"requestHeaderFieldsTooLarge"' in out,
         'request headers over 16 KiB are 431 in the JSON form', out[:200])

    r = sp.request('GET', '/graph/v1.0/me')
    t.ok(error_body_ok(r, 401), 'graph route without a token is 401 JSON', r.body)
    t.eq(r.headers.get('www-authenticate'), 'Bearer realm="spaceport"',
         '401 without token names the realm')
    r = sp.get('/graph/v1.0/me', token='not-a-valid-token')
    t.eq(r.headers.get('www-authenticate'), 'Bearer error="invalid_token"',
         '401 with a bad token says invalid_token')

    r = sp.request('GET', '/metrics')
    text = r.body.decode()
    t.ok(r.status == 200 and r.headers.get('content-type', '').startswith('text/plain'),
         'metrics answers Prometheus text')
    t.ok('spaceport_bus_connected 1' in text, 'metrics shows the bus connected')
    t.ok('spaceport_http_requests_total{method="GET",route="/healthz",code="200"}' in text,
         'metrics counts requests by route and status', text[:1500])
    t.ok('spaceport_http_request_duration_seconds_bucket{method="GET",route="/healthz",le="+Inf"}'
         in text, 'metrics has a latency histogram')
    t.ok('code="404"' in text and 'route="unmatched"' in text, 'metrics counts unmatched 404s')


def check_bus_outage(t, nats, sp):
    nats.stop(signal.SIGKILL)
    t0 = time.monotonic()
    down = wait_until(lambda: sp.request('GET', '/readyz').status == 503, timeout=5.0)
    t.ok(down, 'readyz turns 503 within 5 s of the bus dying (%.2f s)' % (time.monotonic() - t0))
    r = sp.request('GET', '/readyz')
    t.ok(error_body_ok(r, 503, 'unavailable') and 'bus' in r.json()['error']['message'],
         'readyz 503 names the bus', r.body)
    t.eq(sp.request('GET', '/healthz').status, 200, 'healthz stays 200 while the bus is down')
    r = sp.request('GET', '/metrics')
    t.ok('spaceport_bus_connected 0' in r.body.decode(), 'metrics shows the bus disconnected')
    nats.start()
    t0 = time.monotonic()
    up = wait_until(lambda: sp.request('GET', '/readyz').status == 200, timeout=10.0)
    t.ok(up, 'readyz is 200 again after the bus returns (%.2f s)' % (time.monotonic() - t0))
    streams = [s['name'] for a in nats.jsz().get('account_details', [])
               for s in a.get('stream_detail', [])]
    t.ok('SPACEPORT' in streams, 'stream SPACEPORT exists on the bus', streams)


def check_slowloris(t, sp):
    """A client that stalls in the middle of its headers is dropped."""
    s = socket.create_connection(('127.0.0.1', sp.port), timeout=45)
    s.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ')
    t0 = time.monotonic()
    try:
        data = s.recv(100)
    except OSError:
        data = b''
    took = time.monotonic() - t0
    s.close()
    t.ok(data == b'' and took < 40, 'a stalled request is dropped after %.0f s' % took)
    t.eq(sp.request('GET', '/healthz').status, 200, 'others are served meanwhile')


def open_with_request(port, source):
    """A connection from source with one GET /healthz on it; returns the
    socket and the status code (0 when closed unanswered)."""
    c = socket.socket()
    c.settimeout(10)
    c.bind((source, 0))
    c.connect(('127.0.0.1', port))
    c.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
    data = b''
    try:
        while b'\r\n\r\n' not in data:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    status = int(data.split()[1]) if data.startswith(b'HTTP/1.1 ') else 0
    return c, status, data


def check_connection_limits(t, nats, idp):
    """At most 4,096 connections from one address (beyond: closed), and at
    most the connection limit in all (beyond: 503 and closed); the limit
    fits the open-file limit."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    held = []
    try:
        with Spaceport(nats_url=nats.url, issuers=idp.url) as sp:
            first_refused = None
            for i in range(4200):
                c, status, _ = open_with_request(sp.port, '127.0.0.1')
                held.append(c)
                if status != 200:
                    first_refused = i
                    break
            t.ok(first_refused is not None and 4000 <= first_refused <= 4096,
                 'one address holds at most 4,096 connections; the next is closed unanswered '
                 '(refused at %s)' % first_refused)
            _, status, _ = open_with_request(sp.port, '127.0.0.1')
            t.eq(status, 0, 'and the next one too')
            c, status, _ = open_with_request(sp.port, '127.0.0.2')
            held.append(c)
            t.eq(status, 200, 'another address is served meanwhile')
            for c in held:
                c.close()
            held = []
            t.ok(wait_until(lambda: sp.request('GET', '/healthz').status == 200, 10),
                 'the address is served again once its connections close')

        # The total: the open-file limit lowers it (1,280 descriptors less
        # what the workers and the rest of the service need).
        sp = Spaceport(nats_url=nats.url, issuers=idp.url,
                       wrapper=['prlimit', '--nofile=1280:1280'])
        with sp:
            limit = int(sp.metric('spaceport_http_connection_limit') or -1)
            t.ok(256 <= limit < 1280, 'with 1,280 descriptors the limit is lowered (to %d)' % limit)
            t.ok('serving at most %d connections' % limit in sp.stderr_text(),
                 'and the lowered limit is logged at start')
            statuses = []
            for i in range(limit):
                c, status, _ = open_with_request(sp.port, '127.0.0.%d' % (1 + i % 4))
                held.append(c)
                statuses.append(status)
            t.eq(statuses.count(200), limit, 'that many connections are served')
            refused = [open_with_request(sp.port, '127.0.0.5') for _ in range(5)]
            bodies = [r[2] for r in refused]
            t.ok(all(r[1] == 503 for r in refused),
                 'connections beyond the limit are answered 503', [b[:200] for b in bodies])
            t.ok(all(b'connection: close' in b.lower() and b'too many connections' in b
                     for b in bodies), 'with Connection: close and the reason', bodies[:1])
            held[0].sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
            again = held[0].recv(4096)
            t.ok(again.startswith(b'HTTP/1.1 200'),
                 'a connection within the limit is still served meanwhile', again[:100])
            closed = 0
            for c, _, _ in refused:
                try:
                    closed += c.recv(100) == b''
                except OSError:
                    closed += 1
                c.close()
            t.eq(closed, 5, 'and then closed')
            for c in held[:16]:
                c.close()
            held = held[16:]
            t.ok(wait_until(lambda: sp.request('GET', '/healthz').status == 200, 10),
                 'a connection is served again once others close')
            for c in held:
                c.close()
            held = []
            wait_until(lambda: (sp.metric('spaceport_http_connections') or 0) < 10, 10)
            t.ok((sp.metric('spaceport_http_connections_refused_total') or 0) >= 5,
                 '/metrics counts the refusals')
    finally:
        for c in held:
            c.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def check_logs(t, sp):
    lines = [l for l in sp.stderr_text().splitlines() if l.strip()]
    bad = []
    for line in lines:
        try:
            obj = json.loads(line)
            if not {'time', 'level', 'module', 'msg'} <= set(obj):
                bad.append(line)
        except ValueError:
            bad.append(line)
    t.ok(lines and not bad, 'every stderr line is a JSON log object (%d lines)' % len(lines),
         '\n'.join(bad[:5]))


def check_config_errors(t):
    cases = [
        ({}, 'SPACEPORT_OIDC_ISSUERS'),
        ({'SPACEPORT_OIDC_ISSUERS': 'http://idp.example.com'}, 'SPACEPORT_OIDC_ISSUERS'),
        ({'SPACEPORT_HTTP_ADDR': '127.0.0.1:99999'}, 'SPACEPORT_HTTP_ADDR'),
        ({'SPACEPORT_HTTP_ADDR': 'nonsense'}, 'SPACEPORT_HTTP_ADDR'),
        ({'SPACEPORT_NATS_URL': 'http://127.0.0.1:4222'}, 'SPACEPORT_NATS_URL'),
        ({'SPACEPORT_EVENTS_RETENTION': 'forever'}, 'SPACEPORT_EVENTS_RETENTION'),
        ({'SPACEPORT_SSE_KEEPALIVE': '0s'}, 'SPACEPORT_SSE_KEEPALIVE'),
        ({'SPACEPORT_LOG_LEVEL': 'loud'}, 'SPACEPORT_LOG_LEVEL'),
        ({'SPACEPORT_HTTP_TLS_CERT': '/nonexistent.pem'}, 'SPACEPORT_HTTP_TLS_CERT'),
        ({'SPACEPORT_PUBLIC_URL': 'ftp://x'}, 'SPACEPORT_PUBLIC_URL'),
        ({'SPACEPORT_TRUSTED_INSTANCES': 'https://a.example,,https://b.example'},
         'SPACEPORT_TRUSTED_INSTANCES'),
        ({'SPACEPORT_DOMAIN_ISSUERS': 'paris.test=https://idp.other.test'},
         'SPACEPORT_DOMAIN_ISSUERS'),
    ]
    for env, var in cases:
        full = {'SPACEPORT_OIDC_ISSUERS': 'http://127.0.0.1:1', 'SPACEPORT_DATA_DIR': '/nonexistent'}
        full.update(env)
        if not env:
            del full['SPACEPORT_OIDC_ISSUERS']
        code, out, err = run_spaceport(['serve'], env=full)
        lines = err.strip().splitlines()
        t.ok(code == 2 and len(lines) == 1 and var in lines[0],
             'bad %s stops start-up: exit 2, one line naming it' % var,
             'exit %r, stderr: %r' % (code, err))
    code, out, err = run_spaceport(['serve', '--http-addr', '127.0.0.1:0'],
                                   env={'SPACEPORT_OIDC_ISSUERS': 'http://127.0.0.1:1'})
    t.ok(code == 2 and 'SPACEPORT_HTTP_ADDR' in err, 'a bad flag value names the variable', err)
    code, out, err = run_spaceport(['serve', '--no-such-flag', 'x'],
                                   env={'SPACEPORT_OIDC_ISSUERS': 'http://127.0.0.1:1'})
    t.ok(code == 2 and 'no-such-flag' in err, 'an unknown flag is exit 2', err)
    code, out, err = run_spaceport(['frobnicate'])
    t.ok(code == 2 and 'unknown command' in err, 'an unknown command is exit 2')
    code, out, err = run_spaceport(['version'])
    t.ok(code == 0 and out.startswith('spaceport '), 'version prints the version', out)
    code, out, err = run_spaceport(['--help'])
    t.ok(code == 0 and 'serve' in out and 'SPACEPORT_NATS_URL' in out,
         '--help lists commands and configuration')


def check_migrate(t):
    with tempfile.TemporaryDirectory(prefix='sp-mig-') as d:
        env = {'SPACEPORT_DATA_DIR': d}
        code, out, err = run_spaceport(['migrate'], env=env)
        t.ok(code == 0 and 'applied migration 001_init.sql' in err,
             'migrate on a fresh directory applies the schema', err)
        db = Database.of(d)
        tables = db.tables()
        t.ok({'users', 'drives', 'members', 'shares', 'remotes', 'events', 'event_recipients',
              'schema_version'} <= tables, 'the schema has every table', sorted(tables))
        if BACKEND == 'sqlite':
            con = db.connect()
            t.eq(con.execute('PRAGMA journal_mode').fetchone()[0], 'wal',
                 'the database is in WAL mode')
            con.close()
        else:
            t.ok(True, '# SKIP the journal mode is SQLite\'s (PostgreSQL always logs ahead)')
        count = db.rows('SELECT count(*) FROM schema_version')[0][0]
        code, out, err = run_spaceport(['migrate'], env=env)
        again = db.rows('SELECT count(*) FROM schema_version')[0][0]
        t.ok(code == 0 and again == count and 'applied migration' not in err,
             'migrating twice is a no-op', err)
        db.exec("INSERT INTO schema_version VALUES (999, '999_future.sql', 0)")
        code, out, err = run_spaceport(['migrate'], env=env)
        t.ok(code != 0 and 'newer than this binary' in err,
             'a database newer than the binary is refused with a clear message', err)


def nats_children(pid):
    try:
        out = subprocess.run(['pgrep', '-P', str(pid), '-x', 'nats-server'],
                             capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]
    except OSError:
        return []


def check_embedded(t, idp):
    sp = Spaceport(issuers=idp.url)  # no SPACEPORT_NATS_URL: the embedded default
    with sp:
        t.eq(sp.request('GET', '/readyz').status, 200, 'embedded bus: readyz 200')
        kids = nats_children(sp.proc.pid)
        t.eq(len(kids), 1, 'embedded bus: one nats-server runs as a child')
        t.ok(os.path.isdir(os.path.join(sp.data_dir, 'nats', 'jetstream')),
             'embedded bus keeps its store in DATA_DIR/nats')
        code = sp.stop(signal.SIGTERM)
        t.eq(code, 0, 'SIGTERM exits 0')
        gone = wait_until(lambda: all(not os.path.exists('/proc/%d' % k) or
                                      open('/proc/%d/stat' % k).read().split()[2] == 'Z'
                                      for k in kids), timeout=5.0)
        t.ok(gone, 'no nats-server is left after SIGTERM')
        t.ok('"stopped"' in sp.stderr_text(), 'shutdown is logged')


def check_sigint(t, nats, idp):
    sp = Spaceport(nats_url=nats.url, issuers=idp.url)
    with sp:
        code = sp.stop(signal.SIGINT)
        t.eq(code, 0, 'SIGINT exits 0')


def main(t):
    check_config_errors(t)
    check_migrate(t)
    with Nats() as nats, Issuer() as idp:
        sp = Spaceport(nats_url=nats.url, issuers=idp.url)
        with sp:
            check_routes(t, sp)
            check_bus_outage(t, nats, sp)
            check_slowloris(t, sp)
            code = sp.stop(signal.SIGTERM)
            t.eq(code, 0, 'SIGTERM with an external bus exits 0')
            check_logs(t, sp)
        check_sigint(t, nats, idp)
        check_embedded(t, idp)
        check_connection_limits(t, nats, idp)


if __name__ == '__main__':
    TAP().run(main)
