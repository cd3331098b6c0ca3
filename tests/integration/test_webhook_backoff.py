#!/usr/bin/python3
"""A receiver that is down is tried on the back-off schedule (0.5 s
doubling): a worker that claims a subscription another worker has just
served (and pushed back after a failure) must not try it again at once.
Extra tries also raise the failure count, and with it the wait, so that a
receiver back after a short outage was left waiting for minutes."""
import time

from harness import TAP, Client, Issuer, Nats, Spaceport, wait_until
from natsclient import NatsClient
from test_changes import change_event, publish
from test_webhooks import Receiver, etags, subscribe

WINDOW_S = 16
# Failures the schedule allows in WINDOW_S after the first: at 0, 0.5,
# 1.5, 3.5, 7.5 and 15.5 s (the next is at 31.5 s).
TRIES_MAX = 6


# Subscriptions failing together: the workers take turns on them, and a
# worker's list of due ones goes stale while it claims.
SUBS = 50


def attempts(sp):
    """The failure counts of the subscriptions, lowest first."""
    return sorted(n for (n,) in sp.db_rows('SELECT attempts FROM subscriptions'))


def main(t):
    with Receiver() as rx, Nats() as nats, Issuer() as idp:
        sp = Spaceport(nats_url=nats.url, issuers=idp.url,
                       env={'SPACEPORT_WEBHOOK_HOSTS': '127.0.0.1:%d' % rx.port})
        with sp, NatsClient(nats.url) as nc:
            ann = Client(sp, idp.token('ann-b', 'ann', 'Ann'))
            drive = ann.get('/graph/v1.0/me/drive').json()['id']
            made = [subscribe(ann, 'drives/' + drive, rx.url + '/ann').status
                    for _ in range(SUBS)]
            t.eq(made, [201] * SUBS, 'Ann subscribes to her drive %d times' % SUBS)
            # Refused connections fail at once: the workers woken together
            # when the retry is due find it served before they claim it.
            rx.stop()
            publish(nc, change_event(drive, 'while-down'))
            t.ok(wait_until(lambda: attempts(sp)[0] >= 1, 10), 'the first tries fail')
            time.sleep(WINDOW_S)
            tries = attempts(sp)
            t.ok(tries[-1] <= TRIES_MAX, 'each was tried on the back-off schedule: at most %d '
                 'failures in %d s (%r)' % (TRIES_MAX, WINDOW_S, tries))
            rx.start()
            t.ok(wait_until(lambda: etags(rx.items('/ann')) == ['while-down'] * SUBS, 60),
                 'once it is back, the change arrives, once for each')


if __name__ == '__main__':
    TAP().run(main)
