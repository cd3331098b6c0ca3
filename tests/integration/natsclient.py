"""A small NATS client for tests: connect, subscribe (with headers),
request/reply, and the few JetStream API calls the tests need.

Speaks the text protocol over a plain socket; one reader thread. Enough to
watch what Spaceport publishes and to inspect the stream, without a client
library that Debian does not package.
"""
import json
import queue
import socket
import threading
import time


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


class NatsClient:
    def __init__(self, url):
        host, port = url.replace('nats://', '').split(':')
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.file = self.sock.makefile('rb')
        info = self.file.readline()
        if not info.startswith(b'INFO'):
            raise RuntimeError('not a NATS server: %r' % info)
        self._send(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}'
                   b'\r\nPING\r\n')
        self.subs = {}
        self.next_sid = 1
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()
        self.flush()

    def _send(self, data):
        self.sock.sendall(data)

    def _reader(self):
        try:
            while not self.closed:
                line = self.file.readline()
                if not line:
                    break
                if line.startswith(b'PING'):
                    self._send(b'PONG\r\n')
                elif line.startswith(b'PONG'):
                    q = self.subs.get('pong')
                    if q:
                        q.put(True)
                elif line.startswith(b'MSG') or line.startswith(b'HMSG'):
                    parts = line.split()
                    hmsg = parts[0] == b'HMSG'
                    subject, sid = parts[1].decode(), int(parts[2])
                    if hmsg:
                        reply = parts[3].decode() if len(parts) == 6 else None
                        hlen, total = int(parts[-2]), int(parts[-1])
                    else:
                        reply = parts[3].decode() if len(parts) == 5 else None
                        hlen, total = 0, int(parts[-1])
                    payload = self.file.read(total + 2)[:total]
                    headers = _parse_headers(payload[:hlen]) if hlen else {}
                    q = self.subs.get(sid)
                    if q:
                        q.put(Msg(subject, reply, headers, payload[hlen:]))
        except OSError:
            pass
        self.closed = True

    def flush(self, timeout=5):
        q = queue.Queue()
        self.subs['pong'] = q
        self._send(b'PING\r\n')
        try:
            q.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError('no PONG from the server (connection %s)' %
                               ('closed' if self.closed else 'open')) from None

    def subscribe(self, subject):
        """Returns a queue.Queue receiving Msg objects."""
        with self.lock:
            sid = self.next_sid
            self.next_sid += 1
        q = queue.Queue()
        self.subs[sid] = q
        self._send(('SUB %s %d\r\n' % (subject, sid)).encode())
        self.flush()
        return q

    def publish(self, subject, data, headers=None, reply=None):
        if isinstance(data, (dict, list)):
            data = json.dumps(data)
        if isinstance(data, str):
            data = data.encode()
        r = (' ' + reply) if reply else ''
        if headers:
            h = 'NATS/1.0\r\n' + ''.join('%s: %s\r\n' % kv for kv in headers.items()) + '\r\n'
            h = h.encode()
            self._send(('HPUB %s%s %d %d\r\n' % (subject, r, len(h), len(h) + len(data))).encode()
                       + h + data + b'\r\n')
        else:
            self._send(('PUB %s%s %d\r\n' % (subject, r, len(data))).encode() + data + b'\r\n')

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

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
