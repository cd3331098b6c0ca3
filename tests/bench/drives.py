#!/usr/bin/python3
"""tests/bench/drives.py - GET /graph/v1.0/me/drives at scale, against a
bare libmicrohttpd responder measured in the same run.

1. A registry of 100,000 users and 1,000,000 drives (gen_drives.py; the
   file is cached between runs), the measured user ("bench-user") a member
   of 20 drives. spaceport serves it; wrk -t2 -c64 --latency asks for the
   user's drive list with one token (verified once, then cached).
   Figures: req/s, latency percentiles, RSS of spaceport during the run
   (highest VmRSS sampled from /proc every 0.2 s, and VmHWM), and CPU time
   per request (utime + stime from /proc, less sensitive to other load).
2. bare_mhd_body: the same thread pool and keep-alive handling, answering
   every request with the very body spaceport returned, same wrk settings.
   Ratio spaceport/bare (goal >= 0.33); p99 (goal < 5 ms).
3. The same request against a 1,000-drive registry (100 users, member of
   20): latency ratio 1M/1k (goal <= 1.5).

With --backend postgres, 1 and 3 run on PostgreSQL databases generated
alike in each run (tests/bench/benchpg.py); --backend both runs SQLite
first and prints PostgreSQL's figures over SQLite's.

Everything listens on 127.0.0.1. The test issuer runs on a fixed port
(18555) because its URL is part of the users' identity stored in the
generated database.

Environment: BUILD (build dir, default build), BENCH_DIR (where the
generated databases are kept, default /tmp/benchdb), DURATION (wrk
seconds, default 15), WARMUP (seconds, default 3).
"""
import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD = os.path.abspath(os.environ.get('BUILD', os.path.join(ROOT, 'build')))
os.environ.setdefault('SPACEPORT_BIN', os.path.join(BUILD, 'spaceport'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))

import harness  # noqa: E402
from harness import Issuer, Nats, Spaceport, free_port, wait_port  # noqa: E402
from benchpg import PgServer, backends  # noqa: E402

ISSUER_PORT = 18555
BENCH_DIR = os.environ.get('BENCH_DIR', '/tmp/benchdb')
DURATION = int(os.environ.get('DURATION', '15'))
WARMUP = int(os.environ.get('WARMUP', '3'))
BARE = os.path.join(BUILD, 'tests', 'bench', 'bare_mhd_body')
GEN = os.path.join(ROOT, 'tests', 'bench', 'gen_drives.py')
PATH = '/graph/v1.0/me/drives'


def fixed_port_issuer(port):
    """harness.Issuer binds a random port in its constructor; the bench
    needs the one the generated database names."""
    saved = harness.free_port
    harness.free_port = lambda: port
    try:
        return Issuer()
    finally:
        harness.free_port = saved


def generate(db, users, drives, member_of):
    """db: a SQLite file path or a postgres:// URL (gen_drives.py)."""
    if '://' not in db:
        os.makedirs(os.path.dirname(db), exist_ok=True)
    subprocess.run([sys.executable, GEN, db, 'http://127.0.0.1:%d' % ISSUER_PORT, str(users),
                    str(drives), str(member_of)], check=True, cwd=ROOT)


UNITS = {'us': 1e-3, 'ms': 1.0, 's': 1e3}


def to_ms(text):
    m = re.match(r'([\d.]+)(us|ms|s)$', text)
    return float(m.group(1)) * UNITS[m.group(2)]


def wrk(url, duration, headers=()):
    cmd = ['wrk', '-t2', '-c64', '-d%ds' % duration, '--latency']
    for h in headers:
        cmd += ['-H', h]
    out = subprocess.run(cmd + [url], capture_output=True, text=True,
                         timeout=duration + 60).stdout
    r = {'raw': out}
    r['rps'] = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
    r['requests'] = int(re.search(r'(\d+) requests in', out).group(1))
    r['avg'] = to_ms(re.search(r'Latency\s+(\S+)', out).group(1))
    for p in ('50', '75', '90', '99'):
        r['p' + p] = to_ms(re.search(r'^\s+%s%%\s+(\S+)' % p, out, re.M).group(1))
    m = re.search(r'Non-2xx or 3xx responses:\s+(\d+)', out)
    r['non2xx'] = int(m.group(1)) if m else 0
    m = re.search(r'Socket errors:.*', out)
    r['errors'] = m.group(0) if m else ''
    return r


def cpu_seconds(pid):
    """User + system CPU time of pid so far (all threads)."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def wrk_cpu(pid, url, duration, headers=()):
    """wrk, plus the CPU time pid spent per request meanwhile (us)."""
    before = cpu_seconds(pid)
    r = wrk(url, duration, headers)
    r['cpu_us'] = (cpu_seconds(pid) - before) * 1e6 / max(1, r['requests'])
    return r


class RssSampler:
    """Highest VmRSS of pid while running, and VmHWM at the end (KiB)."""

    def __init__(self, pid):
        self.pid = pid
        self.max_rss = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def status(self, key):
        with open('/proc/%d/status' % self.pid) as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1])
        return 0

    def _run(self):
        while not self.stop.is_set():
            self.max_rss = max(self.max_rss, self.status('VmRSS'))
            self.stop.wait(0.2)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.hwm = self.status('VmHWM')


def measure_spaceport(nats, idp, db, label):
    """Starts spaceport on db (the directory of a SQLite file, or a
    postgres:// URL), warms up, runs wrk; returns (result, body of the
    listing, rss sampler)."""
    if '://' in db:
        with tempfile.TemporaryDirectory(prefix='sp-bench-data-') as data_dir:
            return measure_spaceport_in(nats, idp, data_dir, label,
                                        {'SPACEPORT_DATABASE_URL': db})
    return measure_spaceport_in(nats, idp, db, label, {})


def measure_spaceport_in(nats, idp, data_dir, label, env):
    sp = Spaceport(nats_url=nats.url, issuers=idp.url, data_dir=data_dir,
                   env=dict(env, SPACEPORT_LOG_LEVEL='warn'))
    t0 = time.monotonic()
    sp.start(timeout=120)
    print('%s: spaceport ready in %.1f s' % (label, time.monotonic() - t0), flush=True)
    try:
        token = idp.token('bench-user', 'user1', 'User 1')
        auth = 'Authorization: Bearer ' + token
        resp = sp.get(PATH, token=token)
        if resp.status != 200:
            raise RuntimeError('%s: %s %d %r' % (label, PATH, resp.status, resp.body[:300]))
        listing = resp.json()['value']
        kinds = {}
        for d in listing:
            kinds[d['driveType']] = kinds.get(d['driveType'], 0) + 1
        print('%s: %s lists %d drives %s, %d bytes' % (label, PATH, len(listing), kinds,
                                                       len(resp.body)), flush=True)
        wrk(sp.url + PATH, WARMUP, [auth])
        with RssSampler(sp.proc.pid) as rss:
            r = wrk_cpu(sp.proc.pid, sp.url + PATH, DURATION, [auth])
        if r['non2xx'] or r['errors']:
            print('%s: wrk reported non-2xx %d, %s' % (label, r['non2xx'], r['errors']))
        return r, resp.body, rss
    finally:
        sp.stop()


def measure_bare(body):
    # One thread per core: a bare responder's best (spaceport runs more
    # threads, for writers that wait for their group commit).
    threads = os.cpu_count() or 1
    with tempfile.NamedTemporaryFile(prefix='sp-bench-body-', suffix='.json') as f:
        f.write(body)
        f.flush()
        port = free_port()
        proc = subprocess.Popen([BARE, str(port), str(threads), f.name])
        try:
            if not wait_port(port):
                raise RuntimeError('bare_mhd_body did not start')
            wrk('http://127.0.0.1:%d%s' % (port, PATH), WARMUP)
            return wrk_cpu(proc.pid, 'http://127.0.0.1:%d%s' % (port, PATH), DURATION), threads
        finally:
            proc.terminate()
            proc.wait()


def line(label, r):
    print('  %-40s %7.0f req/s  avg %6.2f ms  p50 %6.2f  p90 %6.2f  p99 %6.2f ms  '
          'CPU %4.0f us/req' % (label, r['rps'], r['avg'], r['p50'], r['p90'], r['p99'],
                                r['cpu_us']))


def main():
    ap = argparse.ArgumentParser(description='GET /graph/v1.0/me/drives at scale')
    ap.add_argument('--backend', choices=('sqlite', 'postgres', 'both'), default='sqlite')
    chosen = backends(ap.parse_args().backend)
    for f in (os.environ['SPACEPORT_BIN'], BARE):
        if not os.access(f, os.X_OK):
            sys.exit('drives.py: %s missing; run ninja -C %s' % (f, BUILD))
    busy = subprocess.run(['pgrep', '-f', 'meson test'], capture_output=True).stdout.strip()
    res = {}
    with PgServer() if 'postgres' in chosen else contextlib.nullcontext() as pg:
        for backend in chosen:
            if backend == 'postgres':
                big = pg.database('sp_bench_drives_1m')
                small = pg.database('sp_bench_drives_1k')
                generate(big, 100000, 1000000, 20)
                generate(small, 100, 1000, 20)
            else:
                big = os.path.join(BENCH_DIR, 'spaceport.db')
                small = os.path.join(BENCH_DIR + '-1k', 'spaceport.db')
                generate(big, 100000, 1000000, 20)
                generate(small, 100, 1000, 20)
                big, small = os.path.dirname(big), os.path.dirname(small)
            with Nats() as nats, fixed_port_issuer(ISSUER_PORT) as idp:
                r = res[backend] = {}
                r['big'], r['body'], r['rss'] = measure_spaceport(
                    nats, idp, big, '%s, 1M drives' % backend)
                if 'bare' not in res:
                    res['bare'] = measure_bare(r['body'])
                r['small'], _, _ = measure_spaceport(nats, idp, small, '%s, 1k drives' % backend)

    load = open('/proc/loadavg').read().split()[:3]
    bare_r, threads = res['bare']
    print()
    print('GET %s, wrk -t2 -c64 -d%ds, token cached; %d cores, load %s%s' % (
        PATH, DURATION, os.cpu_count(), ' '.join(load),
        ', other tests were running' if busy else ''))
    for backend in chosen:
        r = res[backend]
        line('spaceport on %s, 1,000,000 drives' % backend, r['big'])
        line('spaceport on %s, 1,000 drives' % backend, r['small'])
    line('bare libmicrohttpd (%d threads)' % threads, bare_r)
    for backend in chosen:
        report(backend, res[backend], bare_r)
    if len(chosen) == 2:
        compare(res['sqlite'], res['postgres'])


def report(backend, res, bare_r):
    big_r, small_r, body, rss = res['big'], res['small'], res['body'], res['rss']
    print('%s:' % backend)
    print('  body: %d bytes (same body from the bare responder)' % len(body))
    ratio = big_r['rps'] / bare_r['rps']
    print('  req/s ratio spaceport/bare: %.2f (goal >= 0.33) %s' % (
        ratio, 'ok' if ratio >= 0.33 else 'MISSED'))
    print('  p99 latency, 1M drives: %.2f ms (goal < 5 ms) %s' % (
        big_r['p99'], 'ok' if big_r['p99'] < 5 else 'MISSED'))
    for key in ('avg', 'p50', 'p99'):
        q = big_r[key] / small_r[key]
        print('  latency ratio 1M/1k, %s: %.2f (goal <= 1.5) %s' % (
            key, q, 'ok' if q <= 1.5 else 'MISSED'))
    print('  req/s ratio 1M/1k: %.2f; CPU per request ratio 1M/1k: %.2f' % (
        big_r['rps'] / small_r['rps'], big_r['cpu_us'] / small_r['cpu_us']))
    print('  CPU per request ratio spaceport/bare: %.1f' % (big_r['cpu_us'] / bare_r['cpu_us']))
    print('  spaceport RSS during the 1M run: VmRSS max %.1f MiB, VmHWM %.1f MiB' % (
        rss.max_rss / 1024, rss.hwm / 1024))


def compare(lite, pg):
    """PostgreSQL's figures over SQLite's, measured in the same run."""
    print('PostgreSQL / SQLite, same run:')
    for size in ('big', 'small'):
        a, b = pg[size], lite[size]
        print('  %s drives: %.0f vs %.0f req/s: %.2f; p50 %.2f vs %.2f ms, p99 %.2f vs %.2f ms: '
              '%.2f; CPU %.0f vs %.0f us/req: %.2f' % (
                  '1,000,000' if size == 'big' else '1,000', a['rps'], b['rps'],
                  a['rps'] / b['rps'], a['p50'], b['p50'], a['p99'], b['p99'],
                  a['p99'] / b['p99'], a['cpu_us'], b['cpu_us'], a['cpu_us'] / b['cpu_us']))
    print('  RSS during the 1M run (VmRSS max): %.1f vs %.1f MiB' % (
        pg['rss'].max_rss / 1024, lite['rss'].max_rss / 1024))


if __name__ == '__main__':
    main()
