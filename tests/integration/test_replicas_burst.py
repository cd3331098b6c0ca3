#!/usr/bin/python3
"""Three replicas of one instance behind haproxy take a burst of shares,
and the replica that relays the outbox is killed with kill -9 midway.

The replicas share one PostgreSQL database (whatever SPACEPORT_TEST_BACKEND
says: replicas need it) and a NATS JetStream cluster of three servers with
the stream kept three times (SPACEPORT_NATS_REPLICAS=3); each has its own
data directory holding the same instance key. 16 clients make N_SHARES
shares through the balancer; once half of them are acknowledged, the
replica whose /metrics says it holds the relay lease is killed.

Afterwards:
  - every replica answered part of the burst (haproxy's counts);
  - another replica holds the relay lease, within LEASE_MOVES_WITHIN_S;
  - haproxy took the dead replica out within TAKEN_OUT_WITHIN_S, and
    every request sent from then on was answered 200 by a live one
    (requests on the dead replica at the kill may fail: they are counted,
    not retried, since a POST must not be sent twice);
  - every share acknowledged with 200 exists, and has exactly one
    spaceport.share.created in the stream; no share has two, no event id
    is in the stream twice, and the stream holds exactly the log's
    share.created events (those committed but never answered, because
    their replica died, were relayed as well).
Prints the throughput and the failure count.
"""
import json
import os
import queue
import shutil
import signal
import threading
import time
import http.client

import harness
from cluster import Balancer, NatsCluster
from harness import TAP, Issuer, Spaceport, wait_until
from natsclient import NatsClient

VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
REPLICAS = 3
N_SHARES = 2000
CLIENTS = 16
# Several sharers and grantees, so that the burst is not one user's rows.
SHARERS = 4
GRANTEES = 4
# The lease thread tries every ~500 ms and PostgreSQL frees a dead
# session's advisory locks when its connection drops: a second or so; the
# bound leaves room for a loaded machine.
LEASE_MOVES_WITHIN_S = 5.0
# haproxy's checks (250 ms apart, two failures) take a dead replica out in
# about half a second.
TAKEN_OUT_WITHIN_S = 3.0
# How long the relay may take to put the whole log into the stream after
# the burst.
RELAYED_WITHIN_S = 60.0


def lease_held(sp, lease):
    """Whether sp's /metrics says it holds lease (False when it does not
    answer)."""
    want = 'spaceport_lease_held{lease="%s"} 1' % lease
    r = sp.request('GET', '/metrics', timeout=2)
    return r.status == 200 and any(line.strip() == want
                                   for line in r.body.decode().splitlines())


def holders(replicas, lease='relay'):
    return [i for i, sp in enumerate(replicas) if sp.proc and lease_held(sp, lease)]


def start_replicas(t, replicas):
    # The first start migrates the database and makes the instance key;
    # the cluster elects its leaders meanwhile.
    replicas[0].start(timeout=60)
    key = os.path.join(replicas[0].data_dir, 'instance-key.pem')
    for sp in replicas[1:]:
        shutil.copy(key, os.path.join(sp.data_dir, 'instance-key.pem'))
        sp.start(timeout=60)
    keys = {open(os.path.join(sp.data_dir, 'instance-key.pem'), 'rb').read() for sp in replicas}
    t.eq(len(keys), 1, 'the %d replicas run with one instance key' % REPLICAS)


class Burst:
    """N_SHARES shares made by CLIENTS threads through the balancer, each on
    a kept-alive connection it opens again after an error."""

    def __init__(self, lb, sharers, grantees):
        self.lb = lb
        self.sharers = sharers  # [(token, drive id)]
        self.grantees = grantees  # [user id]
        self.todo = queue.Queue()
        for i in range(N_SHARES):
            self.todo.put(i)
        self.lock = threading.Lock()
        self.acked = {}  # share index -> share id
        self.failed = []  # (index, started, what)
        self.started = {}  # index -> time the request was sent
        self.t0 = self.t1 = None

    def body(self, i):
        token, drive = self.sharers[i % SHARERS]
        item = '%s!burst-%05d' % (drive, i)
        return token, ('/graph/v1beta1/drives/%s/items/%s/invite' % (drive, item),
                       json.dumps({'recipients': [{'objectId': self.grantees[i % GRANTEES]}],
                                   'roles': [VIEWER]}))

    def client(self):
        conn = None
        while True:
            try:
                i = self.todo.get_nowait()
            except queue.Empty:
                break
            token, (path, body) = self.body(i)
            if conn is None:
                conn = http.client.HTTPConnection('127.0.0.1', self.lb.port, timeout=30)
            started = time.monotonic()
            with self.lock:
                self.started[i] = started
            try:
                conn.request('POST', path, body=body, headers={
                    'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json'})
                resp = conn.getresponse()
                data = resp.read()
                if resp.status == 200:
                    with self.lock:
                        self.acked[i] = json.loads(data)['value'][0]['id']
                else:
                    with self.lock:
                        self.failed.append((i, started, 'HTTP %d' % resp.status))
                    if resp.getheader('Connection', '').lower() == 'close':
                        conn.close()
                        conn = None
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.failed.append((i, started, type(e).__name__))
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def run(self, midway):
        """Runs the burst; midway() is called once half is acknowledged."""
        threads = [threading.Thread(target=self.client) for _ in range(CLIENTS)]
        self.t0 = time.monotonic()
        for th in threads:
            th.start()
        wait_until(lambda: len(self.acked) >= N_SHARES // 2 or
                   not any(th.is_alive() for th in threads), 300, interval=0.01)
        midway()
        for th in threads:
            th.join()
        self.t1 = time.monotonic()


def seed(t, lb, idp):
    """Sharers with a project space each, and grantees known to the
    instance, all made through the balancer (so on all the replicas)."""
    sharers = []
    for n in range(SHARERS):
        token = idp.token('burst-sharer-%d' % n, 'sharer%d' % n, 'Sharer %d' % n,
                          roles=['spaceport-spaceadmin'])
        r = lb.request('POST', '/graph/v1.0/drives', {'name': 'Burst %d' % n},
                       {'Authorization': 'Bearer ' + token})
        if not t.eq(r.status, 201, 'sharer %d makes a project space through the balancer' % n):
            t.diag(r.body[:300])
            return None, None
        sharers.append((token, r.json()['id']))
    grantees = []
    for n in range(GRANTEES):
        token = idp.token('burst-grantee-%d' % n, 'grantee%d' % n, 'Grantee %d' % n)
        r = lb.request('GET', '/graph/v1.0/me', headers={'Authorization': 'Bearer ' + token})
        grantees.append(r.json()['id'] if r.status == 200 else None)
    t.ok(all(grantees), 'the %d grantees are known to the instance' % GRANTEES)
    return sharers, grantees


def share_events(url):
    """(event ids, {share id: share.created events}) of the stream."""
    with NatsClient(url) as nc:
        msgs = nc.stream_messages(timeout=60)
    ids = [h.get('Nats-Msg-Id') for _, _, h, _ in msgs]
    per_share = {}
    for _, subj, _, data in msgs:
        if subj == 'spaceport.share.created':
            sid = json.loads(data)['data']['shareId']
            per_share[sid] = per_share.get(sid, 0) + 1
    return ids, per_share


def burst_and_kill(t, cluster, replicas, lb, idp):
    t.ok(wait_until(lambda: len(lb.servers_up()) == REPLICAS, 10),
         'haproxy sends requests to all %d replicas' % REPLICAS, lb.log_text())
    t.ok(wait_until(lambda: len(holders(replicas)) == 1, 10),
         'exactly one replica holds the relay lease', holders(replicas))
    sharers, grantees = seed(t, lb, idp)
    if not sharers:
        return
    killed = {}

    def kill_relay_holder():
        held = holders(replicas)
        victim = held[0] if held else 0
        replicas[victim].proc.kill()  # SIGKILL
        killed['at'] = time.monotonic()
        killed['victim'] = victim
        killed['acked'] = len(burst.acked)
        # haproxy notices, and the lease moves, while the burst goes on.
        wait_until(lambda: lb.names[victim] not in lb.servers_up(), TAKEN_OUT_WITHIN_S + 5,
                   interval=0.05)
        killed['out'] = time.monotonic()
        wait_until(lambda: holders(replicas), LEASE_MOVES_WITHIN_S + 5, interval=0.05)
        killed['moved'] = time.monotonic() - killed['at']

    burst = Burst(lb, sharers, grantees)
    burst.run(kill_relay_holder)
    replicas[killed['victim']].stop(signal.SIGKILL)
    took = burst.t1 - burst.t0
    sent_after = [i for i, started in burst.started.items() if started >= killed['out']]
    failed_after = [f for f in burst.failed if f[1] >= killed['out']]
    kinds = {}
    for _, _, what in burst.failed:
        kinds[what] = kinds.get(what, 0) + 1
    t.diag('burst: %d shares through haproxy in %.1f s (%.0f acknowledged/s), %d acknowledged, '
           '%d failed %s; replica %d (relay lease) killed after %d acknowledged' % (
               N_SHARES, took, len(burst.acked) / took, len(burst.acked), len(burst.failed),
               kinds, killed['victim'], killed['acked']))
    served = {name: int(r.get('hrsp_2xx') or 0) for name, r in lb.stats().items()}
    t.ok(all(served.get(name, 0) > 0 for name in lb.names),
         'every replica answered requests of the burst (2xx by replica: %s)' % served)
    survivors = [sp for i, sp in enumerate(replicas) if i != killed['victim']]
    t.ok(killed['moved'] <= LEASE_MOVES_WITHIN_S and len(holders(survivors)) == 1,
         'another replica holds the relay lease %.1f s after the kill (within %.0f s)' % (
             killed['moved'], LEASE_MOVES_WITHIN_S), holders(replicas))
    out = killed['out'] - killed['at']
    t.ok(out <= TAKEN_OUT_WITHIN_S and len(lb.servers_up()) == REPLICAS - 1,
         'haproxy took the killed replica out %.2f s after the kill' % out, lb.servers_up())
    t.ok(sent_after and not failed_after,
         'the %d requests sent after that were all answered 200 by the live replicas' %
         len(sent_after), failed_after[:10])
    t.eq(len(burst.acked) + len(burst.failed), N_SHARES,
         'the %d requests took %.1f s (%.0f answered 200 a second): %d answered 200, %d failed' % (
             N_SHARES, took, len(burst.acked) / took, len(burst.acked), len(burst.failed)))
    t.ok(len(burst.failed) <= CLIENTS,
         'at most one request per client failed (those on the killed replica): %d' %
         len(burst.failed), burst.failed[:20])

    acked = set(burst.acked.values())
    db = replicas[0].db  # the database of them all
    present = {r[0] for r in db.rows("SELECT id FROM shares WHERE item_id LIKE ?",
                                     ('%!burst-%',))}
    t.eq(sorted(acked - present), [], 'every acknowledged share exists')
    logged = db.rows("SELECT count(*) FROM events WHERE type = 'spaceport.share.created'"
                     " AND data LIKE ?", ('%burst-%',))[0][0]
    t.eq(logged, len(present), 'the log holds one share.created per share made (%d shares, '
         '%d of them committed but not answered)' % (len(present), len(present - acked)))
    total = db.rows('SELECT count(*) FROM events')[0][0]

    def stream_count():
        with NatsClient(cluster.servers[0].url) as nc:
            return nc.stream_info().get('state', {}).get('messages', 0)
    t.ok(wait_until(lambda: stream_count() >= total, RELAYED_WITHIN_S, interval=0.5),
         'the relay puts the %d events of the log into the stream' % total, stream_count())
    ids, per_share = share_events(cluster.servers[0].url)
    t.eq(len(ids), len(set(ids)), 'no event id is in the stream twice (%d events)' % len(ids))
    wrong = {sid: per_share.get(sid, 0) for sid in acked if per_share.get(sid) != 1}
    t.ok(not wrong, 'each of the %d acknowledged shares has exactly one share.created in the '
         'stream' % len(acked), list(wrong.items())[:10])
    twice = [sid for sid, n in per_share.items() if n > 1]
    t.eq(twice, [], 'no share has two share.created events')
    streamed = set(per_share)
    t.eq((sorted(present - streamed)[:10], sorted(streamed - present)[:10]), ([], []),
         'the stream holds a share.created for exactly the shares in the database (those '
         'committed but not answered, their replica dead, too)')


def main(t):
    url = harness.new_pg_database()
    with Issuer() as idp, NatsCluster(3) as cluster:
        env = {'SPACEPORT_DATABASE_URL': url, 'SPACEPORT_NATS_REPLICAS': '3',
               'SPACEPORT_LOG_LEVEL': 'info'}
        replicas = [Spaceport(nats_url=cluster.nats_url, issuers=idp.url, env=env)
                    for _ in range(REPLICAS)]
        try:
            start_replicas(t, replicas)
            with Balancer([sp.port for sp in replicas]) as lb:
                burst_and_kill(t, cluster, replicas, lb, idp)
        finally:
            for sp in replicas:
                sp.__exit__(None, None, None)


if __name__ == '__main__':
    if os.environ.get('SPACEPORT_TEST_PG_URL'):
        TAP().run(main)
    else:
        print('1..0 # SKIP SPACEPORT_TEST_PG_URL is unset: replicas need PostgreSQL', flush=True)
