"""A small NATS client for tests: connect, subscribe (with headers),
request/reply, and the few JetStream API calls the tests need.

Built on examples/storagebus.py, the text-protocol connection the storage
examples use (one reader thread): enough to watch what Spaceport publishes
and to inspect the stream, without a client library that Debian does not
package.
"""
import json
import os
import queue
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                                'examples'))
import storagebus  # noqa: E402 - examples/storagebus.py


class Msg:
    def __init__(self, subject, reply, headers, data):
        self.subject = subject
        self.reply = reply
        self.headers = headers
        self.data = data

    def json(self):
        return json.loads(self.data)


def _parse_headers(block):
    lines = block.decode().split('\r\n')
    headers = {}
    for line in lines[1:]:
        if ':' in line:
            k, v = line.split(':', 1)
            headers[k.strip()] = v.strip()
    return headers


class NatsClient(storagebus.Bus):
    def __init__(self, url):
        super().__init__(url, 'spaceport-tests', timeout=10)

    def subscribe(self, subject, sink=None):
        """Puts a Msg into sink (a queue.Queue unless given: anything with
        put) for every message on subject; returns sink."""
        q = sink if sink is not None else queue.Queue()

        def deliver(subj, reply, headers, data):
            q.put(Msg(subj, reply, _parse_headers(headers) if headers else {}, data))
        super().subscribe(subject, deliver)
        self.flush()
        return q

    def publish(self, subject, data, headers=None, reply=None):
        if isinstance(data, (dict, list)):
            data = json.dumps(data)
        if isinstance(data, str):
            data = data.encode()
        super().publish(subject, data, list((headers or {}).items()), reply)

    def request(self, subject, data=b'', timeout=5, headers=None):
        inbox = '_INBOX.%d%d' % (time.time_ns(), id(self))
        q = self.subscribe(inbox)
        self.publish(subject, data, headers=headers, reply=inbox)
        return q.get(timeout=timeout)

    # --- JetStream helpers ---

    def stream_info(self, stream='SPACEPORT'):
        return self.request('$JS.API.STREAM.INFO.' + stream).json()

    def stream_messages(self, stream='SPACEPORT', timeout=30):
        """Every message in the stream, as (seq, subject, headers, data),
        delivered by an ephemeral push consumer (one round trip, not one
        request per message)."""
        total = self.stream_info(stream).get('state', {}).get('messages', 0)
        inbox = '_INBOX.dump.%d' % time.time_ns()
        q = self.subscribe(inbox)
        r = self.request('$JS.API.CONSUMER.CREATE.' + stream, {
            'stream_name': stream,
            'config': {'deliver_subject': inbox, 'deliver_policy': 'all', 'ack_policy': 'none',
                       'replay_policy': 'instant', 'inactive_threshold': 10_000_000_000}}).json()
        if 'error' in r:
            raise RuntimeError('consumer: %r' % r['error'])
        out = []
        deadline = time.time() + timeout
        while len(out) < total and time.time() < deadline:
            try:
                m = q.get(timeout=max(0.1, deadline - time.time()))
            except queue.Empty:
                break
            if not m.reply:
                continue  # flow control or heartbeats carry no reply subject
            # $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>
            parts = m.reply.split('.')
            seq = int(parts[5]) if len(parts) >= 9 else len(out) + 1
            out.append((seq, m.subject, m.headers, m.data))
        return out
