#!/usr/bin/python3
"""The stream is reconciled with the log: a bus that loses acknowledged
messages (its store goes back to an older state, as a power cut leaves
nats-server 2.9, which syncs about every two minutes) gets them again,
each once, in log order, whenever the relay (re)connects.

Each variant: N events reach the stream; the bus stops and its store is
copied; M more events reach the stream; the bus stops, the old copy is put
back and the bus starts. Within 10 s the stream must hold exactly the N+M
events of the log, each once, in log order.
  A. external nats-server, Spaceport running throughout (it reconnects);
  B. external nats-server, Spaceport restarted while the bus is down;
  C. the embedded nats-server (Spaceport restarted with its data directory);
  D. an external cluster of three nats-servers, the stream with three
     replicas (SPACEPORT_NATS_REPLICAS=3), every server's store put back.
"""
import os
import queue
import re
import shutil
import signal
import sqlite3
import tempfile
import time

from harness import TAP, Client, Issuer, Nats, Spaceport, free_port, wait_until
from natsclient import NatsClient

VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
N_SHARES = 60
M_SHARES = 60
# How long the stream may take to be whole again after the bus is back.
WHOLE_WITHIN_S = 10.0


def log_ids(sp):
    """Event ids of the log, in log order."""
    con = sqlite3.connect(os.path.join(sp.data_dir, 'spaceport.db'))
    rows = con.execute('SELECT id FROM events ORDER BY seq').fetchall()
    con.close()
    return [r[0] for r in rows]


OTHER = 'spaceport.test.other'


def stream_ids(url):
    """Nats-Msg-Id of every Spaceport message in the stream, in stream order
    (not those another publisher put there)."""
    try:
        with NatsClient(url) as nc:
            return [h.get('Nats-Msg-Id') for _, subj, h, _ in nc.stream_messages(timeout=10)
                    if subj != OTHER]
    except (OSError, RuntimeError, queue.Empty):
        return None


def copy_store(src, dst):
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns('server.log'))


def restore_store(copy, store):
    """Puts the old copy back as the store (the log file is kept)."""
    for name in os.listdir(store):
        if name != 'server.log':
            path = os.path.join(store, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    for name in os.listdir(copy):
        shutil.copytree(os.path.join(copy, name), os.path.join(store, name))


class World:
    """One user sharing items of a project with another."""

    def __init__(self, sp, idp):
        self.sp = sp
        self.bob = Client(sp, idp.token('bob-sub', 'bob', 'Bob', roles=['spaceport-spaceadmin']))
        self.carol = Client(sp, idp.token('carol-sub', 'carol', 'Carol'))
        self.n = 0
        self.project = None

    def setup(self):
        self.carol_id = self.carol.get('/graph/v1.0/me').json()['id']
        r = self.bob.call('POST', '/graph/v1.0/drives', {'name': 'Reconciled'})
        self.project = r.json()['id']

    def share(self, count):
        ok = 0
        for _ in range(count):
            self.n += 1
            r = self.bob.call('POST', '/graph/v1beta1/drives/%s/items/item-%04d/invite' % (
                self.project, self.n), {'recipients': [{'objectId': self.carol_id}],
                                        'roles': [VIEWER]})
            ok += r.status == 200
        return ok


def published(sp):
    return sp.metric('spaceport_events_backlog') == 0


def check_whole(t, label, sp, url, n_before, since):
    """The stream holds exactly the log, each event once, in log order,
    within WHOLE_WITHIN_S of since (when the bus was started again)."""
    want = log_ids(sp)
    got = []

    def whole():
        got[:] = stream_ids(url) or []
        return got == want

    ok = wait_until(whole, max(0.1, since + WHOLE_WITHIN_S - time.time()), interval=0.2)
    took = time.time() - since
    t.ok(ok, '%s: within %.0f s the stream holds exactly the %d events of the log, each once, '
         'in log order (N=%d, M=%d, %.1f s)' % (label, WHOLE_WITHIN_S, len(want), n_before,
                                                 len(want) - n_before, took),
         {'stream': len(got), 'distinct': len(set(got)), 'log': len(want),
          'missing': len(set(want) - set(got))})
    return ok


def variant_reconnect(t, idp):
    with Nats() as nats:
        sp = Spaceport(nats_url=nats.url, issuers=idp.url)
        with sp:
            w = World(sp, idp)
            w.setup()
            t.eq(w.share(N_SHARES // 2), N_SHARES // 2, 'A: %d shares before the copy' % N_SHARES)
            with NatsClient(nats.url) as nc:
                for i in range(5):  # another publisher's messages in between
                    nc.request(OTHER, b'{"from":"elsewhere","n":%d}' % i)
            w.share(N_SHARES - N_SHARES // 2)
            t.ok(wait_until(lambda: published(sp), 10), 'A: the first N events are published')
            n = len(log_ids(sp))
            t.eq(len(stream_ids(nats.url) or []), n, 'A: the stream holds the N=%d events' % n)
            nats.stop()
            old = tempfile.mkdtemp(prefix='sp-nats-old-')
            copy_store(nats.store, old)
            nats.start()
            t.eq(w.share(M_SHARES), M_SHARES, 'A: %d shares after the copy' % M_SHARES)
            t.ok(wait_until(lambda: published(sp) and len(stream_ids(nats.url) or []) ==
                            len(log_ids(sp)), 10), 'A: the stream holds N+M events')
            republished = sp.metric('spaceport_events_republished_total')
            nats.stop()
            restore_store(old, nats.store)
            shutil.rmtree(old, ignore_errors=True)
            back = time.time()
            nats.start()
            check_whole(t, 'A (reconnect)', sp, nats.url, n, back)
            t.eq(sp.metric('spaceport_events_republished_total') - republished,
                 len(log_ids(sp)) - n, 'A: exactly the M lost events were published again')
            t.ok('lacks events acknowledged before' in sp.stderr_text(),
                 'A: the loss is logged')


def variant_restart(t, idp):
    with Nats() as nats:
        sp = Spaceport(nats_url=nats.url, issuers=idp.url)
        with sp:
            w = World(sp, idp)
            w.setup()
            t.eq(w.share(N_SHARES), N_SHARES, 'B: %d shares before the copy' % N_SHARES)
            t.ok(wait_until(lambda: published(sp), 10), 'B: the first N events are published')
            n = len(log_ids(sp))
            nats.stop()
            old = tempfile.mkdtemp(prefix='sp-nats-old-')
            copy_store(nats.store, old)
            nats.start()
            t.eq(w.share(M_SHARES), M_SHARES, 'B: %d shares after the copy' % M_SHARES)
            t.ok(wait_until(lambda: published(sp) and len(stream_ids(nats.url) or []) ==
                            len(log_ids(sp)), 10), 'B: the stream holds N+M events')
            nats.stop()
            t.eq(sp.stop(signal.SIGTERM), 0, 'B: Spaceport stops while the bus is down')
            restore_store(old, nats.store)
            shutil.rmtree(old, ignore_errors=True)
            sp.start(wait_ready=False)
            time.sleep(0.5)
            back = time.time()
            nats.start()
            t.ok(wait_until(lambda: sp.request('GET', '/readyz').status == 200, 10),
                 'B: Spaceport is ready once the bus is back')
            check_whole(t, 'B (restart while the bus is down)', sp, nats.url, n, back)
            t.eq(sp.metric('spaceport_events_republished_total'), len(log_ids(sp)) - n,
                 'B: exactly the M lost events were published again')


def embedded_url(sp):
    ports = re.findall(r'embedded nats-server pid \d+ on 127\.0\.0\.1:(\d+)', sp.stderr_text())
    return 'nats://127.0.0.1:%s' % ports[-1] if ports else None


def variant_embedded(t, idp):
    data = tempfile.mkdtemp(prefix='sp-data-')
    store = os.path.join(data, 'nats')
    old = tempfile.mkdtemp(prefix='sp-nats-old-')
    try:
        sp = Spaceport(issuers=idp.url, data_dir=data, env={'SPACEPORT_LOG_LEVEL': 'info'})
        sp.start()
        w = World(sp, idp)
        w.setup()
        t.eq(w.share(N_SHARES), N_SHARES, 'C: %d shares before the copy' % N_SHARES)
        t.ok(wait_until(lambda: published(sp), 10), 'C: the first N events are published')
        n = len(log_ids(sp))
        t.eq(sp.stop(signal.SIGTERM), 0, 'C: Spaceport and its nats-server stop')
        copy_store(store, old)
        sp.start()
        t.eq(w.share(M_SHARES), M_SHARES, 'C: %d shares after the copy' % M_SHARES)
        t.ok(wait_until(lambda: published(sp), 10), 'C: the N+M events are published')
        t.eq(len(stream_ids(embedded_url(sp)) or []), len(log_ids(sp)),
             'C: the stream holds N+M events')
        t.eq(sp.stop(signal.SIGTERM), 0, 'C: stopped again')
        restore_store(old, store)
        back = time.time()
        sp.start()
        check_whole(t, 'C (embedded nats-server)', sp, embedded_url(sp), n, back)
        t.eq(sp.metric('spaceport_events_republished_total'), len(log_ids(sp)) - n,
             'C: exactly the M lost events were published again')
        sp.stop(signal.SIGTERM)
    finally:
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)


def start_cluster(servers):
    for s in servers:
        s.start()


def stop_cluster(servers):
    for s in servers:
        s.stop()


def cluster_ready(url):
    """The stream answers (the cluster has elected its leaders)."""
    try:
        with NatsClient(url) as nc:
            return 'error' not in nc.stream_info()
    except (OSError, RuntimeError, ValueError, queue.Empty):
        return False


def variant_cluster(t, idp):
    route_ports = [free_port() for _ in range(3)]
    routes = ','.join('nats://127.0.0.1:%d' % p for p in route_ports)
    servers = [Nats(extra_args=['--server_name', 'n%d' % i, '--cluster_name', 'spaceport',
                                '--cluster', 'nats://127.0.0.1:%d' % route_ports[i],
                                '--routes', routes]) for i in range(3)]
    olds = [tempfile.mkdtemp(prefix='sp-nats-old-') for _ in servers]
    url = ','.join(s.url for s in servers)
    try:
        start_cluster(servers)
        sp = Spaceport(nats_url=url, issuers=idp.url, env={'SPACEPORT_NATS_REPLICAS': '3'})
        with sp:
            t.ok(wait_until(lambda: cluster_ready(servers[0].url), 30),
                 'D: the cluster serves the stream')
            with NatsClient(servers[1].url) as nc:
                replicas = nc.stream_info()['config'].get('num_replicas')
            t.eq(replicas, 3, 'D: the stream has three replicas')
            w = World(sp, idp)
            w.setup()
            t.eq(w.share(N_SHARES), N_SHARES, 'D: %d shares before the copy' % N_SHARES)
            t.ok(wait_until(lambda: published(sp), 10), 'D: the first N events are published')
            n = len(log_ids(sp))
            stop_cluster(servers)
            for s, old in zip(servers, olds):
                copy_store(s.store, old)
            start_cluster(servers)
            t.ok(wait_until(lambda: published(sp) and cluster_ready(servers[0].url), 30),
                 'D: the cluster is back')
            t.eq(w.share(M_SHARES), M_SHARES, 'D: %d shares after the copy' % M_SHARES)
            t.ok(wait_until(lambda: published(sp) and len(stream_ids(servers[0].url) or []) ==
                            len(log_ids(sp)), 20), 'D: the stream holds N+M events')
            stop_cluster(servers)
            for s, old in zip(servers, olds):
                restore_store(old, s.store)
            republished = sp.metric('spaceport_events_republished_total')
            started = time.time()
            start_cluster(servers)
            t.ok(wait_until(lambda: cluster_ready(servers[0].url), 60),
                 'D: the cluster serves the stream again (%.1f s after its start)' % (
                     time.time() - started))
            back = time.time()  # a cluster's reconnect is once it serves the stream
            check_whole(t, 'D (cluster of three)', sp, servers[2].url, n, back)
            t.eq(sp.metric('spaceport_events_republished_total') - republished,
                 len(log_ids(sp)) - n, 'D: exactly the M lost events were published again')
    finally:
        stop_cluster(servers)
        for s in servers:
            shutil.rmtree(s.store, ignore_errors=True)
        for old in olds:
            shutil.rmtree(old, ignore_errors=True)


def main(t):
    with Issuer() as idp:
        variant_reconnect(t, idp)
        variant_restart(t, idp)
        variant_embedded(t, idp)
        variant_cluster(t, idp)


if __name__ == '__main__':
    TAP().run(main)
