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
import tempfile
import time

from cluster import NatsCluster
from harness import TAP, Client, Issuer, Nats, Spaceport, wait_until
from natsclient import NatsClient

VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
N_SHARES = 60
M_SHARES = 60
# How long the stream may take to be whole again after the bus is back.
WHOLE_WITHIN_S = 10.0


def log_ids(sp):
    """Event ids of the log, in log order."""
    return [r[0] for r in sp.db_rows('SELECT id FROM events ORDER BY seq')]


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
        if self.project is None:
            self.setup()
        ok = 0
        for _ in range(count):
            self.n += 1
            r = self.bob.call('POST', '/graph/v1beta1/drives/%s/items/%s!item-%04d/invite' % (
                self.project, self.project, self.n), {'recipients': [{'objectId': self.carol_id}],
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


class ExternalBus:
    """nats-servers the test runs: one, or a cluster."""

    def __init__(self, servers):
        self.servers = servers
        self.stores = [x.store for x in servers]
        self.nats_url = ','.join(x.url for x in servers)

    def url(self):
        return self.servers[-1].url

    def start(self):
        for x in self.servers:
            x.start()

    def stop(self):
        for x in self.servers:
            x.stop()

    def serving(self):
        """The stream can be read: it answers, and a consumer on it can be
        made (a cluster has elected its leaders and placed consumers), which
        is what the relay needs to check what the stream holds."""
        try:
            with NatsClient(self.servers[0].url) as nc:
                if 'error' in nc.stream_info():
                    return False
                nc.stream_messages(timeout=2)
                return True
        except (OSError, RuntimeError, ValueError, queue.Empty):
            return False


class EmbeddedBus:
    """The nats-server Spaceport starts itself: it stops and starts with it."""

    def __init__(self, sp):
        self.sp = sp
        self.stores = [os.path.join(sp.data_dir, 'nats')]

    def url(self):
        ports = re.findall(r'embedded nats-server pid \d+ on 127\.0\.0\.1:(\d+)',
                           self.sp.stderr_text())
        return 'nats://127.0.0.1:%s' % ports[-1] if ports else None

    def start(self):
        self.sp.start()

    def stop(self):
        self.sp.stop(signal.SIGTERM)

    def serving(self):
        return True


def lose_m_events(t, tag, sp, w, bus, others=False):
    """N events reach the stream, its store is copied, M more reach it, and
    the bus stops. Returns N and the copies to put back."""
    t.eq(w.share(N_SHARES // 2), N_SHARES // 2, '%s: shares before the copy' % tag)
    if others:
        with NatsClient(bus.url()) as nc:
            for i in range(5):  # another publisher's messages in between
                nc.request(OTHER, b'{"from":"elsewhere","n":%d}' % i)
    w.share(N_SHARES - N_SHARES // 2)
    t.ok(wait_until(lambda: published(sp), 10), '%s: the first N events are published' % tag)
    n = len(log_ids(sp))
    t.eq(len(stream_ids(bus.url()) or []), n, '%s: the stream holds the N=%d events' % (tag, n))
    bus.stop()
    olds = [tempfile.mkdtemp(prefix='sp-nats-old-') for _ in bus.stores]
    for store, old in zip(bus.stores, olds):
        copy_store(store, old)
    bus.start()
    t.ok(wait_until(bus.serving, 60), '%s: the bus is back' % tag)
    t.eq(w.share(M_SHARES), M_SHARES, '%s: %d shares after the copy' % (tag, M_SHARES))
    t.ok(wait_until(lambda: published(sp) and len(stream_ids(bus.url()) or []) ==
                    len(log_ids(sp)), 20), '%s: the stream holds N+M events' % tag)
    bus.stop()
    return n, olds


def put_back(bus, olds):
    for store, old in zip(bus.stores, olds):
        restore_store(old, store)
        shutil.rmtree(old, ignore_errors=True)


def check_repaired(t, tag, sp, bus, n, back, republished_before=0):
    check_whole(t, tag, sp, bus.url(), n, back)
    t.eq(sp.metric('spaceport_events_republished_total') - republished_before,
         len(log_ids(sp)) - n, '%s: exactly the M lost events were published again' % tag)


def variant_reconnect(t, idp):
    with Nats() as nats:
        bus = ExternalBus([nats])
        with Spaceport(nats_url=bus.nats_url, issuers=idp.url) as sp:
            w = World(sp, idp)
            n, olds = lose_m_events(t, 'A', sp, w, bus, others=True)
            republished = sp.metric('spaceport_events_republished_total')
            put_back(bus, olds)
            back = time.time()
            bus.start()
            check_repaired(t, 'A (reconnect)', sp, bus, n, back, republished)
            t.ok('lacks events acknowledged before' in sp.stderr_text(), 'A: the loss is logged')


def variant_restart(t, idp):
    with Nats() as nats:
        bus = ExternalBus([nats])
        with Spaceport(nats_url=bus.nats_url, issuers=idp.url) as sp:
            w = World(sp, idp)
            n, olds = lose_m_events(t, 'B', sp, w, bus)
            t.eq(sp.stop(signal.SIGTERM), 0, 'B: Spaceport stops while the bus is down')
            put_back(bus, olds)
            sp.start(wait_ready=False)
            time.sleep(0.5)
            back = time.time()
            bus.start()
            t.ok(wait_until(lambda: sp.request('GET', '/readyz').status == 200, 10),
                 'B: Spaceport is ready once the bus is back')
            check_repaired(t, 'B (restart while the bus is down)', sp, bus, n, back)


def variant_embedded(t, idp):
    data = tempfile.mkdtemp(prefix='sp-data-')
    try:
        sp = Spaceport(issuers=idp.url, data_dir=data, env={'SPACEPORT_LOG_LEVEL': 'info'})
        bus = EmbeddedBus(sp)
        bus.start()
        n, olds = lose_m_events(t, 'C', sp, World(sp, idp), bus)
        put_back(bus, olds)
        back = time.time()
        bus.start()
        check_repaired(t, 'C (embedded nats-server)', sp, bus, n, back)
        sp.stop(signal.SIGTERM)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def variant_cluster(t, idp):
    with NatsCluster(3) as cluster:
        bus = ExternalBus(cluster.servers)
        sp = Spaceport(nats_url=bus.nats_url, issuers=idp.url,
                       env={'SPACEPORT_NATS_REPLICAS': '3'})
        with sp:
            t.ok(wait_until(bus.serving, 30), 'D: the cluster serves the stream')
            with NatsClient(bus.url()) as nc:
                replicas = nc.stream_info()['config'].get('num_replicas')
            t.eq(replicas, 3, 'D: the stream has three replicas')
            n, olds = lose_m_events(t, 'D', sp, World(sp, idp), bus)
            put_back(bus, olds)
            republished = sp.metric('spaceport_events_republished_total')
            started = time.time()
            bus.start()
            t.ok(wait_until(bus.serving, 60),
                 'D: the cluster serves the stream again (%.1f s after its start)' % (
                     time.time() - started))
            back = time.time()  # a cluster's reconnect is once it serves the stream
            check_repaired(t, 'D (cluster of three)', sp, bus, n, back, republished)


def main(t):
    with Issuer() as idp:
        variant_reconnect(t, idp)
        variant_restart(t, idp)
        variant_embedded(t, idp)
        variant_cluster(t, idp)


if __name__ == '__main__':
    TAP().run(main)
