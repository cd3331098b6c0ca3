#!/usr/bin/python3
"""The spaceport_webhook_queue gauge tells the subscriptions with
notifications not yet delivered while every sender worker is busy: with
slow receivers holding all of them, a scrape must see the backlog, not
the value of the last time a worker was idle."""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from harness import TAP, Client, Issuer, Nats, Spaceport, free_port, wait_until
from natsclient import NatsClient
from test_changes import change_event, publish
from test_webhooks import metric, subscribe

# More subscriptions than sender workers (4), each receiver answering
# after SLOW_S: the workers stay busy that long.
SUBS = 6
SLOW_S = 4


class Slow:
    """Answers the validation handshake at once, notifications after
    SLOW_S."""

    def __init__(self):
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.got = 0
        self.lock = threading.Lock()
        rx = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get('Content-Length') or 0))
                token = parse_qs(urlsplit(self.path).query).get('validationToken')
                if not token:
                    time.sleep(SLOW_S)
                    with rx.lock:
                        rx.got += 1
                body = token[0].encode() if token else b''
                self.send_response(200 if token else 202)
                self.send_header('Content-Type', 'text/plain')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(('127.0.0.1', self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def main(t):
    rx = Slow()
    try:
        with Nats() as nats, Issuer() as idp:
            sp = Spaceport(nats_url=nats.url, issuers=idp.url,
                           env={'SPACEPORT_WEBHOOK_HOSTS': '127.0.0.1:%d' % rx.port})
            with sp, NatsClient(nats.url) as nc:
                ann = Client(sp, idp.token('ann-q', 'ann', 'Ann'))
                drive = ann.get('/graph/v1.0/me/drive').json()['id']
                made = [subscribe(ann, 'drives/' + drive, rx.url + '/s%d' % i).status
                        for i in range(SUBS)]
                t.eq(made, [201] * SUBS, '%d subscriptions to slow receivers' % SUBS)
                time.sleep(1.5)  # the workers idle, the gauge at 0
                t.eq(metric(sp, 'spaceport_webhook_queue'), 0.0, 'nothing queued at first')
                publish(nc, change_event(drive, 'slow-1'))
                time.sleep(1.5)  # every worker is in a POST now
                queued = metric(sp, 'spaceport_webhook_queue')
                t.ok(queued is not None and queued >= SUBS - 1,
                     'while the workers are busy, the gauge shows the backlog (%r)' % queued)
                t.ok(wait_until(lambda: rx.got >= SUBS, 30), 'every subscription is served')
                t.ok(wait_until(lambda: metric(sp, 'spaceport_webhook_queue') == 0, 10),
                     'and the gauge is 0 again')
    finally:
        rx.close()


if __name__ == '__main__':
    TAP().run(main)
