#!/usr/bin/python3
"""The spaceport_webhook_queue gauge tells the subscriptions with
notifications not yet delivered while every sender worker is busy: with
slow receivers holding all of them, a scrape must see the backlog, not
the value of the last time a worker was idle."""
import time

from harness import TAP, Client, Issuer, Nats, Spaceport, wait_until
from natsclient import NatsClient
from test_changes import change_event, publish
from test_webhooks import Receiver, metric, subscribe

# More subscriptions than sender workers (4), each receiver answering
# after SLOW_S: the workers stay busy that long.
SUBS = 6
SLOW_S = 4


def main(t):
    with Receiver() as rx, Nats() as nats, Issuer() as idp:
        rx.delay = SLOW_S
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
            t.ok(wait_until(lambda: len(rx.accepted) >= SUBS, 30),
                 'every subscription is served')
            t.ok(wait_until(lambda: metric(sp, 'spaceport_webhook_queue') == 0, 10),
                 'and the gauge is 0 again')


if __name__ == '__main__':
    TAP().run(main)
