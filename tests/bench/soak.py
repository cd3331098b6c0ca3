#!/usr/bin/python3
"""tests/bench/soak.py [SECONDS] - a mixed workload against the real program.

For SECONDS (default 600): wrk lists drives and creates shares (64
connections), a thread removes shares, change streams connect and leave,
and storage change events arrive at 50/s. Afterwards: requests, 5xx count,
RSS at start (after warm-up) and end, events written vs events in the
stream (and duplicates). Loopback only; everything started is stopped.
"""
import os
import re
import subprocess
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'integration'))
os.environ.setdefault('SPACEPORT_BIN', os.path.join(HERE, '..', '..', 'build', 'spaceport'))

from harness import Client, Issuer, Nats, Spaceport, wait_until  # noqa: E402
from natsclient import NatsClient  # noqa: E402
from sse import Stream  # noqa: E402

VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'


def rss_kib(pid):
    for line in open('/proc/%d/status' % pid):
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
    return 0


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    stop = threading.Event()
    with Nats() as nats, Issuer() as idp:
        sp = Spaceport(nats_url=nats.url, issuers=idp.url, env={'SPACEPORT_LOG_LEVEL': 'warn'})
        with sp:
            tokens = [idp.token('soak-%d' % i, 'soak%d' % i, 'Soak %d' % i, lifetime=seconds + 600)
                      for i in range(20)]
            users = [Client(sp, tk) for tk in tokens]
            ids = [u.me()['id'] for u in users]
            drive = [d for d in users[0].get('/graph/v1.0/me/drives').json()['value']
                     if d['driveType'] == 'personal'][0]['id']
            drives = [[d for d in u.get('/graph/v1.0/me/drives').json()['value']
                       if d['driveType'] == 'personal'][0]['id'] for u in users]

            stats = {'streams': 0, 'stream_events': 0, 'published': 0, 'removed': 0}

            def streams():
                while not stop.is_set():
                    batch = [Stream(sp.port, tokens[i % len(tokens)]) for i in range(50)]
                    stats['streams'] += len(batch)
                    time.sleep(3)
                    for s in batch:
                        stats['stream_events'] += s.events.qsize()
                        s.close()

            def changes():
                with NatsClient(nats.url) as nc:
                    while not stop.is_set():
                        t0 = time.monotonic()
                        for k in range(50):
                            d = drives[(stats['published'] + k) % len(drives)]
                            ev = {'specversion': '1.0', 'id': str(uuid.uuid4()),
                                  'source': 'urn:soak', 'type': 'spaceport.storage.changed',
                                  'data': {'driveId': d, 'eTag': uuid.uuid4().hex,
                                           'lastModifiedDateTime':
                                               time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                                           'change': 'updated'}}
                            nc.publish('spaceport.storage.changed', ev,
                                       headers={'Nats-Msg-Id': ev['id']})
                        stats['published'] += 50
                        time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))

            def remover():
                while not stop.is_set():
                    r = users[0].get('/graph/v1beta1/me/drive/sharedByMe')
                    if r.status == 200:
                        for item in r.json()['value'][:20]:
                            for p in item['permissions']:
                                users[0].call('DELETE', '/graph/v1beta1/drives/%s/items/%s/'
                                              'permissions/%s' % (drive, item['id'], p['id']))
                                stats['removed'] += 1
                    time.sleep(2)

            workers = [threading.Thread(target=f, daemon=True) for f in (streams, changes, remover)]
            for w in workers:
                w.start()
            time.sleep(min(30, seconds // 10))  # warm-up
            rss_start = rss_kib(sp.proc.pid)
            samples = [rss_start]
            wrk = subprocess.Popen(
                ['wrk', '-t2', '-c64', '-d%ds' % seconds, '--timeout', '10s', '--latency',
                 '-s', os.path.join(HERE, 'soak.lua'), sp.url, '--', tokens[0], drive, ids[1]],
                stdout=subprocess.PIPE, text=True)
            while wrk.poll() is None:
                time.sleep(10)
                samples.append(rss_kib(sp.proc.pid))
            out = wrk.stdout.read()
            stop.set()
            for w in workers:
                w.join(10)
            rss_end = rss_kib(sp.proc.pid)
            drained = wait_until(lambda: sp.metric('spaceport_events_backlog') == 0, 120)
            print('outbox drained: %s' % bool(drained))
            written = int(subprocess.run(
                ['sqlite3', os.path.join(sp.data_dir, 'spaceport.db'),
                 'SELECT count(*) FROM events'], capture_output=True, text=True).stdout.strip())
            # Per-subject counts from the stream itself; the stream drops a
            # repeated Nats-Msg-Id, so equal counts mean none lost, none twice.
            with NatsClient(nats.url) as nc:
                info = nc.request('$JS.API.STREAM.INFO.SPACEPORT',
                                  {'subjects_filter': 'spaceport.>'}, timeout=30).json()
            per_subject = info.get('state', {}).get('subjects', {})
            in_stream = sum(n for subj, n in per_subject.items()
                            if not subj.startswith('spaceport.storage.'))
            requests = re.search(r'(\d+) requests in', out)
            fivexx = re.search(r'SOAK 5xx (\d+)', out)
            rps = re.search(r'Requests/sec:\s+([\d.]+)', out)
            print(out)
            print('soak: %d s' % seconds)
            print('requests: %s (%s req/s), 5xx: %s' % (requests and requests.group(1),
                                                        rps and rps.group(1),
                                                        fivexx and fivexx.group(1)))
            print('change streams opened and closed: %d, events received on them: %d'
                  % (stats['streams'], stats['stream_events']))
            print('storage changes published: %d, shares removed: %d'
                  % (stats['published'], stats['removed']))
            print('RSS after warm-up: %d KiB, at end: %d KiB, max: %d KiB (samples every 10 s: %s)'
                  % (rss_start, rss_end, max(samples), ' '.join(str(s) for s in samples[-12:])))
            print('events written: %d, in the stream: %d (the stream de-duplicates by id: equal '
                  'counts mean each exactly once)' % (written, in_stream))


if __name__ == '__main__':
    main()
