"""What several replicas of one instance stand on, for the tests that run
them: a JetStream cluster of nats-servers (NatsCluster) and haproxy in
front of the replicas (Balancer). Both on random loopback ports, their
files in temporary directories removed at the end.

    with NatsCluster(3) as bus:
        replicas = [Spaceport(nats_url=bus.nats_url, ...) for _ in range(3)]
        ...
        with Balancer([sp.port for sp in replicas]) as lb:
            lb.request('GET', '/readyz')
"""
import os
import shutil
import socket
import subprocess
import tempfile

from harness import Nats, free_port, http_request, stop_process, wait_port


class NatsCluster:
    """A JetStream cluster of `size` real nats-servers on loopback, routed to
    one another: what an instance with SPACEPORT_NATS_REPLICAS=3 needs.
    `nats_url` is the comma list Spaceport takes; each server keeps its own
    store, removed on __exit__. A cluster serves JetStream only once it has
    elected a meta leader, some time after the servers listen: callers wait
    for the stream (see test_reconcile.py's ExternalBus.serving)."""

    def __init__(self, size=3, name='spaceport'):
        route_ports = [free_port() for _ in range(size)]
        routes = ','.join('nats://127.0.0.1:%d' % p for p in route_ports)
        self.servers = [Nats(extra_args=['--server_name', 'n%d' % i, '--cluster_name', name,
                                         '--cluster', 'nats://127.0.0.1:%d' % route_ports[i],
                                         '--routes', routes]) for i in range(size)]
        self.nats_url = ','.join(x.url for x in self.servers)

    def start(self):
        for x in self.servers:
            x.start()
        return self

    def stop(self):
        for x in self.servers:
            x.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        for x in self.servers:
            shutil.rmtree(x.store, ignore_errors=True)


class Balancer:
    """haproxy (Debian's 2.6) on a random loopback port, round robin over
    Spaceport replicas on 127.0.0.1 `ports`, each checked with GET /readyz;
    run in the foreground (-db) from a config in a temporary directory.

    The timeouts are short so that a killed replica is taken out within
    about half a second (two failed checks 250 ms apart); a request whose
    connection to a replica could not be made goes to another one
    (`retries` with `option redispatch`), but one that reached a replica
    that then died is answered 502, since a POST must not be sent twice.
    A change stream lives through `timeout server` and `timeout client`,
    which are idle times, as long as its keep-alive comments come more
    often (SPACEPORT_SSE_KEEPALIVE, 15 s by default)."""

    CONFIG = '''global
    maxconn 4096
    stats socket %(dir)s/admin.sock mode 600 level admin

defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 10s
    retries 2
    option redispatch 1

frontend spaceport
    bind 127.0.0.1:%(port)d
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 250ms fall 2 rise 2
%(servers)s
'''

    def __init__(self, ports):
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.dir = tempfile.mkdtemp(prefix='sp-haproxy-')
        self.names = ['r%d' % i for i in range(len(ports))]
        self.config = os.path.join(self.dir, 'haproxy.cfg')
        with open(self.config, 'w') as f:
            f.write(self.CONFIG % {
                'dir': self.dir, 'port': self.port,
                'servers': '\n'.join('    server %s 127.0.0.1:%d check' % (n, p)
                                     for n, p in zip(self.names, ports))})
        self.proc = None

    def start(self):
        self._out = open(os.path.join(self.dir, 'haproxy.log'), 'ab')
        self.proc = subprocess.Popen(['haproxy', '-db', '-f', self.config],
                                     stdout=self._out, stderr=self._out)
        if not wait_port(self.port):
            self.stop()
            raise RuntimeError('haproxy did not listen on %d:\n%s' % (self.port, self.log_text()))
        return self

    def stats(self):
        """{replica name: its row of haproxy's `show stat`} (status,
        hrsp_2xx, ...), from the stats socket."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(5)
            s.connect(os.path.join(self.dir, 'admin.sock'))
            s.sendall(b'show stat\n')
            data = b''
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        lines = data.decode().splitlines()
        head = lines[0].lstrip('# ').split(',')
        rows = [dict(zip(head, line.split(','))) for line in lines[1:] if line]
        return {r['svname']: r for r in rows
                if r.get('pxname') == 'replicas' and r.get('svname') in self.names}

    def servers_up(self):
        """Names of the replicas haproxy currently sends requests to."""
        return [n for n, r in self.stats().items() if r.get('status', '').startswith('UP')]

    def request(self, method, path, body=None, headers=None, timeout=10.0):
        return http_request(self.port, method, path, body, headers, timeout)

    def log_text(self):
        try:
            with open(os.path.join(self.dir, 'haproxy.log'), 'rb') as f:
                return f.read().decode(errors='replace')[-3000:]
        except OSError:
            return ''

    def stop(self):
        stop_process(self.proc)
        self.proc = None
        if getattr(self, '_out', None):
            self._out.close()
            self._out = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
