#!/usr/bin/python3
"""tests/bench/idle.py [RUNS] - idle footprint and start-up time of
`spaceport serve`.

A nats-server and a test issuer run first (their start-up is not counted).
Then spaceport starts RUNS times (default 5) on a fresh data directory:
the time from exec to the first /readyz 200, and the resident set size
after it idled for 3 s (VmRSS), are printed as medians.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'integration'))
from harness import Issuer, Nats, free_port  # noqa: E402

BIN = os.environ.get('SPACEPORT_BIN', os.path.join(HERE, '..', '..', 'build', 'spaceport'))


def ready(port):
    try:
        with urllib.request.urlopen('http://127.0.0.1:%d/readyz' % port, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    starts, rss = [], []
    with Nats() as nats, Issuer() as idp:
        for _ in range(runs):
            port = free_port()
            with tempfile.TemporaryDirectory() as data:
                env = {'PATH': os.environ['PATH'], 'SPACEPORT_OIDC_ISSUERS': idp.url,
                       'SPACEPORT_NATS_URL': nats.url, 'SPACEPORT_DATA_DIR': data,
                       'SPACEPORT_HTTP_ADDR': '127.0.0.1:%d' % port, 'SPACEPORT_LOG_LEVEL': 'warn'}
                t0 = time.monotonic()
                p = subprocess.Popen([BIN, 'serve'], env=env, stderr=subprocess.DEVNULL)
                while not ready(port):
                    time.sleep(0.002)
                starts.append((time.monotonic() - t0) * 1000)
                time.sleep(3)
                with open('/proc/%d/status' % p.pid) as f:
                    rss.append(int([l for l in f if l.startswith('VmRSS')][0].split()[1]))
                p.terminate()
                p.wait(10)
    print('runs: %d' % runs)
    print('start-up to /readyz 200: median %.0f ms (all: %s)'
          % (statistics.median(starts), ' '.join('%.0f' % s for s in starts)))
    print('idle RSS after 3 s: median %d KiB (all: %s)'
          % (statistics.median(rss), ' '.join(str(r) for r in rss)))


if __name__ == '__main__':
    main()
