#!/usr/bin/python3
"""tests/bench/sharing.py - share creation and the outbox relay, against
baselines measured in the same run.

1. raw_sqlite: one writer committing transactions of two inserts (a
   share-like and an event-like row) with the service's pragmas (WAL,
   synchronous=FULL, foreign_keys=ON), on the same file system -> tx/s.
   (And with 16 pairs per transaction, for reference: what group commit
   could reach.)
2. Shares over HTTP: wrk -t2 -c64 with invite.lua (POST
   /graph/v1beta1/drives/{drive}/items/{item}/invite, a new item per
   request, Viewer for a second user) -> shares/s; ratio to 1 (goal >= 0.5).
   With perf available, the fdatasync calls of spaceport are counted.
3. Relay: the bus is stopped, shares pile up in the outbox for OUTAGE
   seconds, the bus is started again; the time from the first
   acknowledged publish (spaceport_events_published_total moves) until
   spaceport_events_backlog is 0 gives events/s.
4. raw_js: as many asynchronous JetStream publishes of the same size (with
   Nats-Msg-Id and Content-Type headers) into a file-backed stream on the
   same nats-server -> msgs/s; ratio 3/4 (goal >= 0.5).
5. Lag: shares paced at LAG_RATE/s (default 5,000) for DURATION seconds
   while a subscriber on spaceport.> (lag_sub.c) compares each CloudEvent's `time`
   (taken in the share's transaction) with its arrival; and the p99 of
   spaceport_relay_lag_seconds (commit to acknowledgement) over the same
   interval, with LAG_CONNECTIONS (default 256) connections. Goal: p99 <
   50 ms at 5,000 shares/s. When that rate is not
   reached, the same is measured again at 80 % of the rate of 2.

With --backend postgres the same runs on PostgreSQL (a new database on the
server SPACEPORT_TEST_PG_URL names, or on a private one, tests/bench/
benchpg.py), against raw_pg (the same two inserts per transaction over
libpq, synchronous_commit on) instead of raw_sqlite; --backend both runs
SQLite, then PostgreSQL, and prints PostgreSQL's figures over SQLite's.

Everything listens on 127.0.0.1 and lives in a temporary directory.
Environment: BUILD (build dir), DURATION (seconds per wrk run, default 10),
OUTAGE (seconds of shares with the bus down, default 10), LAG_RATE,
LAG_CONNECTIONS.
"""
import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD = os.path.abspath(os.environ.get('BUILD', os.path.join(ROOT, 'build')))
os.environ.setdefault('SPACEPORT_BIN', os.path.join(BUILD, 'spaceport'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))

from harness import Issuer, Nats, Spaceport, wait_until  # noqa: E402
from natsclient import NatsClient  # noqa: E402
from benchpg import PgServer, backends  # noqa: E402

DURATION = int(os.environ.get('DURATION', '10'))
OUTAGE = int(os.environ.get('OUTAGE', '10'))
LAG_RATE = int(os.environ.get('LAG_RATE', '5000'))
# A request waits for its group commit, so a paced rate needs more
# requests in flight than the 64 of the throughput run.
LAG_CONNECTIONS = int(os.environ.get('LAG_CONNECTIONS', '256'))
RAW_SQLITE = os.path.join(BUILD, 'tests', 'bench', 'raw_sqlite')
RAW_PG = os.path.join(BUILD, 'tests', 'bench', 'raw_pg')
RAW_JS = os.path.join(BUILD, 'tests', 'bench', 'raw_js')
LAG_SUB = os.path.join(BUILD, 'tests', 'bench', 'lag_sub')
LUA = os.path.join(ROOT, 'tests', 'bench', 'invite.lua')
VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
UNITS = {'us': 1e-3, 'ms': 1.0, 's': 1e3}


def to_ms(text):
    m = re.match(r'([\d.]+)(us|ms|s)$', text)
    return float(m.group(1)) * UNITS[m.group(2)]


def kv_output(out):
    return {k: float(v) for k, v in re.findall(r'^(\w+) ([\d.]+)$', out, re.M)}


def metrics(sp):
    text = sp.request('GET', '/metrics').body.decode()
    m = {}
    for line in text.splitlines():
        if line and not line.startswith('#'):
            name, _, value = line.rpartition(' ')
            try:
                m[name] = float(value)
            except ValueError:
                pass
    return m


def lag_buckets(m):
    out = []
    for name, value in m.items():
        g = re.match(r'spaceport_relay_lag_seconds_bucket\{le="([^"]+)"\}', name)
        if g:
            out.append((float('inf') if g.group(1) == '+Inf' else float(g.group(1)), value))
    return sorted(out)


def histogram_quantile(before, after, q):
    """Upper bound (s) of the bucket holding quantile q of the observations
    between two scrapes, and the count."""
    b = dict(lag_buckets(before))
    buckets = [(le, v - b.get(le, 0)) for le, v in lag_buckets(after)]
    total = buckets[-1][1] if buckets else 0
    for le, cum in buckets:
        if total and cum >= q * total:
            return le, total
    return None, total


def wrk(sp, duration, env, rate=0, connections=64):
    e = dict(os.environ)
    e.update(env)
    e['BENCH_RATE'] = str(rate)
    e['BENCH_THREADS'] = '2'
    out = subprocess.run(['wrk', '-t2', '-c%d' % connections, '-d%ds' % duration, '--latency',
                          '-s', LUA,
                          sp.url + '/'], capture_output=True, text=True, env=e,
                         timeout=duration + 60).stdout
    r = {'raw': out}
    r['rps'] = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
    r['requests'] = int(re.search(r'(\d+) requests in', out).group(1))
    for p in ('50', '99'):
        r['p' + p] = to_ms(re.search(r'^\s+%s%%\s+(\S+)' % p, out, re.M).group(1))
    m = re.search(r'Non-2xx or 3xx responses:\s+(\d+)', out)
    r['non2xx'] = int(m.group(1)) if m else 0
    m = re.search(r'Socket errors:.*', out)
    r['errors'] = m.group(0) if m else ''
    if r['non2xx'] or r['errors']:
        print('wrk: non-2xx %d %s' % (r['non2xx'], r['errors']), flush=True)
    return r


class Recorder:
    """Stands in for natsclient's subscription queue: keeps each message
    with its arrival time (the lag run uses lag_sub instead)."""

    def __init__(self):
        self.items = []

    def put(self, msg):
        self.items.append((time.time(), msg.data))


def subscribe(nc, subject):
    return nc.subscribe(subject, sink=Recorder())


def cpu_seconds(pid):
    """User + system CPU time of pid so far (all threads)."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def count_fdatasync(pid, seconds, backend='sqlite'):
    """Starts perf counting fsync/fdatasync of pid for seconds; returns a
    function giving the counts (None without perf, and on PostgreSQL,
    whose server syncs, not spaceport)."""
    if not shutil.which('perf') or backend != 'sqlite':
        return lambda: None
    p = subprocess.Popen(['perf', 'stat', '-x,', '-e',
                          'syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync', '-p', str(pid),
                          '--', 'sleep', str(seconds)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def result():
        err = p.communicate()[1]
        counts = {}
        for line in err.splitlines():
            f = line.split(',')
            if len(f) > 3 and f[2].startswith('syscalls:') and f[0].isdigit():
                counts[f[2].split('_')[-1]] = int(f[0])
        return counts or None
    return result


def main():
    ap = argparse.ArgumentParser(description='share creation and the relay, against baselines')
    ap.add_argument('--backend', choices=('sqlite', 'postgres', 'both'), default='sqlite')
    chosen = backends(ap.parse_args().backend)
    for f in (os.environ['SPACEPORT_BIN'], RAW_SQLITE, RAW_JS, RAW_PG):
        if not os.access(f, os.X_OK):
            sys.exit('sharing.py: %s missing; run ninja -C %s' % (f, BUILD))
    busy = subprocess.run(['pgrep', '-f', 'meson test'], capture_output=True).stdout.strip()
    results = {}
    with PgServer() if 'postgres' in chosen else contextlib.nullcontext() as pg:
        for backend in chosen:
            print('== %s' % backend, flush=True)
            results[backend] = measure(backend, pg)
    for backend in chosen:
        report(results[backend], busy, backend)
    if len(chosen) == 2:
        compare(results['sqlite'], results['postgres'])


def measure(backend, pg):
    """Runs every part on a new database of backend; returns the figures."""
    work = tempfile.mkdtemp(prefix='sp-bench-sharing-')
    res = {'backend': backend}
    os.makedirs(os.path.join(work, 'nats'))
    env = {'SPACEPORT_LOG_LEVEL': 'warn'}
    if backend == 'postgres':
        env['SPACEPORT_DATABASE_URL'] = pg.database('sp_bench_sharing')
        res['raw_url'] = pg.database('sp_bench_raw')
        res['raw16_url'] = pg.database('sp_bench_raw16')
    try:
        with Nats(store=os.path.join(work, 'nats')) as nats, Issuer() as idp:
            sp = Spaceport(nats_url=nats.url, issuers=idp.url, data_dir=os.path.join(work, 'sp'),
                           env=env)
            os.makedirs(sp.data_dir)
            with sp:
                run(work, nats, idp, sp, res)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return res


def run(work, nats, idp, sp, res):
    alice = idp.token('bench-sharer', 'alice', 'Alice Sharer')
    bob = idp.token('bench-grantee', 'bob', 'Bob Grantee')
    bob_id = sp.get('/graph/v1.0/me', token=bob).json()['id']
    drives = sp.get('/graph/v1.0/me/drives', token=alice).json()['value']
    personal = [d['id'] for d in drives if d['driveType'] == 'personal']
    if personal:
        drive = personal[0]
    else:
        admin = idp.token('bench-sharer', 'alice', 'Alice Sharer', roles=['spaceport-spaceadmin'])
        r = sp.request('POST', '/graph/v1.0/drives', {'name': 'Bench'},
                       {'Authorization': 'Bearer ' + admin})
        drive = r.json()['id']
    env = {'BENCH_TOKEN': alice, 'BENCH_DRIVE': drive, 'BENCH_GRANTEE': bob_id}

    # One share first: checks the route and gives the CloudEvent's size.
    with NatsClient(nats.url) as nc:
        rec = subscribe(nc, 'spaceport.>')
        r = sp.request('POST', '/graph/v1beta1/drives/%s/items/%s!sample-1-1/invite' % (
                           drive, drive),
                       {'recipients': [{'objectId': bob_id}], 'roles': [VIEWER]},
                       {'Authorization': 'Bearer ' + alice})
        if r.status != 200:
            raise RuntimeError('invite: %d %r' % (r.status, r.body[:300]))
        wait_until(lambda: rec.items, 10)
    if not rec.items:
        raise RuntimeError('no CloudEvent on spaceport.> after a share')
    ce = rec.items[-1][1]
    res['ce_bytes'] = len(ce)
    res['data_bytes'] = len(json.dumps(json.loads(ce)['data'], separators=(',', ':')))
    print('share ok; CloudEvent %d bytes, data %d bytes' % (res['ce_bytes'], res['data_bytes']),
          flush=True)

    # 1. the raw engine: SQLite on the same file system as the service's
    # database, or PostgreSQL on the same server.
    if res['backend'] == 'postgres':
        raw, raw16 = [RAW_PG, res['raw_url']], [RAW_PG, res['raw16_url']]
    else:
        raw = [RAW_SQLITE, os.path.join(work, 'raw.db')]
        raw16 = [RAW_SQLITE, os.path.join(work, 'raw16.db')]
    out = subprocess.run(raw + [str(DURATION), str(res['data_bytes'])], capture_output=True,
                         text=True, check=True).stdout
    res['raw_tx'] = kv_output(out)['tx_per_s']
    # For reference: 16 pairs per transaction, what group commit could reach.
    out = subprocess.run(raw16 + [str(DURATION), str(res['data_bytes']), '16'],
                         capture_output=True, text=True, check=True).stdout
    res['raw_group16'] = kv_output(out)['pairs_per_s']
    print('raw %s: %.0f tx/s (16 pairs per tx: %.0f pairs/s)' % (
        res['backend'], res['raw_tx'], res['raw_group16']), flush=True)

    # 2. shares over HTTP, bus up.
    wrk(sp, 2, dict(env, BENCH_PREFIX='warm'))
    wait_until(lambda: metrics(sp).get('spaceport_events_backlog', 1) == 0, 60)
    fsyncs = count_fdatasync(sp.proc.pid, DURATION, res['backend'])
    cpu = cpu_seconds(sp.proc.pid)
    r = wrk(sp, DURATION, dict(env, BENCH_PREFIX='http'))
    r['cpu_us'] = (cpu_seconds(sp.proc.pid) - cpu) * 1e6 / max(1, r['requests'])
    res['http'] = r
    res['fsyncs'] = fsyncs()
    print('http: %.0f shares/s, p50 %.2f ms, p99 %.2f ms' % (r['rps'], r['p50'], r['p99']),
          flush=True)

    # 3. relay drain after an outage.
    wait_until(lambda: metrics(sp).get('spaceport_events_backlog', 1) == 0, 60)
    nats.stop()
    fsyncs = count_fdatasync(sp.proc.pid, OUTAGE, res['backend'])
    r = wrk(sp, OUTAGE, dict(env, BENCH_PREFIX='outage'))
    res['outage_http'] = r
    res['outage_fsyncs'] = fsyncs()
    m = metrics(sp)
    backlog, published = m['spaceport_events_backlog'], m['spaceport_events_published_total']
    nats.start()
    cpu = cpu_seconds(sp.proc.pid)
    t_before = time.monotonic()
    t_first = t_end = None
    deadline = t_before + 300
    while time.monotonic() < deadline:
        now = time.monotonic()
        m = metrics(sp)
        if t_first is None and m['spaceport_events_published_total'] > published:
            t_first = t_before  # the last scrape that saw nothing published
        if m['spaceport_events_backlog'] == 0:
            t_end = now
            break
        if t_first is None:
            t_before = now
        time.sleep(0.005)
    if t_end is None:
        raise RuntimeError('the outbox did not drain')
    res['backlog'] = int(backlog)
    res['relay_cpu_us'] = (cpu_seconds(sp.proc.pid) - cpu) * 1e6 / max(1, backlog)
    res['drain_s'] = t_end - t_first
    res['relay_eps'] = backlog / (t_end - t_first)
    print('relay: %d events drained in %.3f s: %.0f events/s' % (
        backlog, res['drain_s'], res['relay_eps']), flush=True)

    # 4. raw JetStream, same server, same number and size.
    out = subprocess.run([RAW_JS, nats.url, str(int(backlog)), str(res['ce_bytes'])],
                         capture_output=True, text=True, check=True).stdout
    res['raw_js'] = kv_output(out)['msgs_per_s']
    out = subprocess.run([RAW_JS, nats.url, str(int(backlog)), str(res['ce_bytes']), '2048'],
                         capture_output=True, text=True, check=True).stdout
    res['raw_js_window'] = kv_output(out)['msgs_per_s']
    print('raw js: %.0f msgs/s (max pending 2048: %.0f)' % (res['raw_js'], res['raw_js_window']),
          flush=True)

    # 5. lag while sustaining a share rate.
    res['lag'] = []
    rates = [LAG_RATE]
    for i, rate in enumerate(rates):
        wait_until(lambda: metrics(sp).get('spaceport_events_backlog', 1) == 0, 60)
        prefix = 'lag%d' % i
        # Item ids are "<drive>!<prefix>-..." (tests/bench/invite.lua).
        sub = subprocess.Popen([LAG_SUB, nats.url, 'spaceport.>', drive + '!' + prefix],
                               stdout=subprocess.PIPE, text=True)
        sub.stdout.readline()  # ready
        before = metrics(sp)
        r = wrk(sp, DURATION, dict(env, BENCH_PREFIX=prefix), rate=rate,
                connections=LAG_CONNECTIONS)
        wait_until(lambda: metrics(sp).get('spaceport_events_backlog', 1) == 0, 60)
        time.sleep(0.2)
        after = metrics(sp)
        sub.send_signal(signal.SIGINT)
        got = kv_output(sub.communicate(timeout=30)[0])
        hq, hn = histogram_quantile(before, after, 0.99)
        entry = {'target': rate, 'achieved': r['rps'], 'http_p99': r['p99'],
                 'events': int(got.get('events', 0)), 'p50': got.get('p50_ms', float('nan')),
                 'p99': got.get('p99_ms', float('nan')), 'max': got.get('max_ms', float('nan')),
                 'hist_p99_le': hq, 'hist_n': hn}
        res['lag'].append(entry)
        print('lag at %d/s requested: %.0f shares/s achieved, %d events, lag p50 %.1f ms, '
              'p99 %.1f ms, max %.1f ms; histogram p99 <= %s s' % (
                  rate, r['rps'], entry['events'], entry['p50'], entry['p99'], entry['max'], hq),
              flush=True)
        if i == 0 and r['rps'] < 0.95 * rate:
            rates.append(int(0.8 * res['http']['rps']))


RAW_LABEL = {
    'sqlite': 'raw SQLite, 2 inserts/tx, WAL + synchronous=FULL, 1 writer',
    'postgres': 'raw PostgreSQL (libpq, prepared), 2 inserts/tx, synchronous_commit=on, 1 client',
}


def report(res, busy, backend):
    load = ' '.join(open('/proc/loadavg').read().split()[:3])
    print()
    print('%s: %d cores, load %s%s' % (backend, os.cpu_count(), load,
                                       ', other tests were running' if busy else ''))
    http = res['http']
    print('shares over HTTP (wrk -t2 -c64 -d%ds, invite.lua): %.0f shares/s, p50 %.2f ms, '
          'p99 %.2f ms, spaceport CPU %.0f us/share' % (
              DURATION, http['rps'], http['p50'], http['p99'], http['cpu_us']))
    print('%s: %.0f tx/s' % (RAW_LABEL[backend], res['raw_tx']))
    q = http['rps'] / res['raw_tx']
    print('ratio shares/raw tx: %.2f (goal >= 0.5) %s' % (q, 'ok' if q >= 0.5 else 'MISSED'))
    print('the same with 16 share+event pairs per transaction (group commit ceiling): '
          '%.0f pairs/s' % res['raw_group16'])
    if res.get('fsyncs'):
        n = sum(res['fsyncs'].values())
        print('spaceport fsync+fdatasync calls during the run: %d, %.2f per share' % (
            n, n / max(1, http['requests'])))
    o = res['outage_http']
    print('shares with the bus down (no relay writes): %.0f shares/s, p99 %.2f ms' % (
        o['rps'], o['p99']))
    if res.get('outage_fsyncs'):
        n = sum(res['outage_fsyncs'].values())
        print('  fsync+fdatasync calls then: %d, %.2f per share' % (
            n, n / max(1, o['requests'])))
    print('relay: %d events (CloudEvent %d bytes) in %.3f s: %.0f events/s, '
          'spaceport CPU %.0f us/event (including the wait for reconnection)' % (
              res['backlog'], res['ce_bytes'], res['drain_s'], res['relay_eps'],
              res['relay_cpu_us']))
    print('raw async JetStream publishes, same count and size: %.0f msgs/s '
          '(with at most 2,048 in flight, as the relay: %.0f msgs/s)' % (
              res['raw_js'], res['raw_js_window']))
    q = res['relay_eps'] / res['raw_js']
    print('ratio relay/raw: %.2f (goal >= 0.5) %s' % (q, 'ok' if q >= 0.5 else 'MISSED'))
    for e in res['lag']:
        ok = e['achieved'] >= 0.95 * 5000 and e['p99'] < 50
        print('lag commit -> subscriber at %d shares/s requested, %.0f achieved: p50 %.1f ms, '
              'p99 %.1f ms (%d events); relay histogram p99 <= %s ms%s' % (
                  e['target'], e['achieved'], e['p50'], e['p99'], e['events'],
                  '%g' % (e['hist_p99_le'] * 1000) if e['hist_p99_le'] is not None else '?',
                  ' (goal: 5,000/s with p99 < 50 ms) %s' % ('ok' if ok else 'MISSED')
                  if e['target'] >= 5000 else ''))


def compare(lite, pg):
    """PostgreSQL's figures over SQLite's, measured in the same run."""
    def q(a, b):
        return a / b if b else float('nan')
    print()
    print('PostgreSQL / SQLite, same run:')
    print('  shares over HTTP: %.0f vs %.0f shares/s: %.2f; p50 %.2f vs %.2f ms, '
          'p99 %.2f vs %.2f ms: %.2f; CPU per share %.0f vs %.0f us' % (
              pg['http']['rps'], lite['http']['rps'], q(pg['http']['rps'], lite['http']['rps']),
              pg['http']['p50'], lite['http']['p50'], pg['http']['p99'], lite['http']['p99'],
              q(pg['http']['p99'], lite['http']['p99']), pg['http']['cpu_us'],
              lite['http']['cpu_us']))
    print('  raw engine, 2 inserts/tx: %.0f vs %.0f tx/s: %.2f; 16 pairs/tx: %.0f vs %.0f '
          'pairs/s: %.2f' % (pg['raw_tx'], lite['raw_tx'], q(pg['raw_tx'], lite['raw_tx']),
                             pg['raw_group16'], lite['raw_group16'],
                             q(pg['raw_group16'], lite['raw_group16'])))
    print('  shares with the bus down: %.0f vs %.0f shares/s: %.2f' % (
        pg['outage_http']['rps'], lite['outage_http']['rps'],
        q(pg['outage_http']['rps'], lite['outage_http']['rps'])))
    print('  relay drain: %.0f vs %.0f events/s: %.2f' % (
        pg['relay_eps'], lite['relay_eps'], q(pg['relay_eps'], lite['relay_eps'])))
    a, b = pg['lag'][-1], lite['lag'][-1]
    print('  lag commit -> subscriber (last paced run): %.0f vs %.0f shares/s achieved; '
          'p50 %.1f vs %.1f ms, p99 %.1f vs %.1f ms: %.2f' % (
              a['achieved'], b['achieved'], a['p50'], b['p50'], a['p99'], b['p99'],
              q(a['p99'], b['p99'])))


if __name__ == '__main__':
    main()
