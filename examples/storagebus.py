"""examples/storagebus.py - the bus as a storage provider sees it: the NATS
text protocol over a plain socket, for examples/storage-change and
examples/storage-watcher.

Standard library only, so that the examples run on Debian's python3
without a NATS client package. One connection, one reader thread:

    bus = Bus(url, 'storage-watcher')
    bus.subscribe('spaceport.space.created', on_message)   # core NATS
    bus.publish(subject, body, headers)                    # fire and forget
    bus.flush()                                            # the server has read it
    bus.js_publish(subject, body, headers, msg_id)         # waits for the PubAck

A JetStream publish is a request: the stream that captures the subject
answers on the reply inbox once the message is stored. Until then it is
sent again with the same Nats-Msg-Id, so a publish whose acknowledgement
was lost is stored once, not twice (the stream's duplicate window).
"""
import json
import os
import queue
import re
import socket
import threading
import time
import uuid

# How long one JetStream publish waits for its acknowledgement before it
# sends the message again: a stream on loopback answers in milliseconds,
# and Spaceport's own relay waits as long.
JS_ACK_WAIT = 1.0
# The pause between attempts grows to this, so that a bus that is down is
# not hammered (a storage change waits for it: dropping one is worse).
JS_RETRY_MAX = 5.0


class BusError(RuntimeError):
    """The bus refused something or could not be reached."""


def embedded_url(data_dir):
    """The address of the quickstart's embedded nats-server (its port is in
    DATA_DIR/nats/server.log), or None."""
    log = os.path.join(data_dir, 'nats', 'server.log')
    try:
        with open(log) as f:
            ports = re.findall(r'Listening for client connections on 127\.0\.0\.1:(\d+)',
                               f.read())
    except OSError:
        ports = []
    return 'nats://127.0.0.1:%s' % ports[-1] if ports else None


def bus_url(nats, data_dir):
    """The bus address the examples use: --nats, else $SPACEPORT_NATS_URL,
    else the embedded nats-server of data_dir; None when none is known."""
    return nats or os.environ.get('SPACEPORT_NATS_URL') or embedded_url(data_dir)


def _header_block(headers):
    return ('NATS/1.0\r\n' + ''.join('%s: %s\r\n' % kv for kv in headers) + '\r\n').encode()


def _status_of(block):
    """The status code of a header block's first line ("NATS/1.0 503"), or 0."""
    first = block.split(b'\r\n', 1)[0].split()
    return int(first[1]) if len(first) > 1 and first[1].isdigit() else 0


class Bus:
    """One connection to a NATS server (the first address of url)."""

    def __init__(self, url, name, timeout=5.0):
        host, port = url.split('://', 1)[-1].split(',')[0].rsplit(':', 1)
        self.url = url
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.file = self.sock.makefile('rb')
        if not self.file.readline().startswith(b'INFO'):
            self.sock.close()
            raise BusError('%s is not a NATS server' % url)
        self.sock.settimeout(None)  # the reader blocks; requests time out on queues
        self.lock = threading.Lock()
        self.subs = {}
        self.next_sid = 1
        self.pongs = queue.Queue()
        self.error = None
        self.closed = False
        connect = {'verbose': False, 'pedantic': False, 'headers': True,
                   'no_responders': True, 'name': name, 'lang': 'python3'}
        self._send(b'CONNECT ' + json.dumps(connect).encode() + b'\r\n')
        # One inbox for every acknowledgement of this connection; a token
        # per publish tells them apart.
        self.inbox = '_INBOX.%s' % uuid.uuid4().hex
        self.acks = {}
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        Bus.subscribe(self, self.inbox + '.*', self._on_ack)  # not a subclass's
        self.flush(timeout)

    def _send(self, data):
        with self.lock:
            self.sock.sendall(data)

    def _read(self):
        try:
            while True:
                line = self.file.readline()
                if not line:
                    break
                if line.startswith(b'PING'):
                    self._send(b'PONG\r\n')
                elif line.startswith(b'PONG'):
                    self.pongs.put(True)
                elif line.startswith(b'-ERR'):
                    self.error = line.decode(errors='replace').strip()
                    self.pongs.put(False)
                elif line.startswith((b'MSG', b'HMSG')):
                    self._deliver(line.split())
        except (OSError, ValueError):
            pass
        self.closed = True
        self.pongs.put(False)

    def _deliver(self, parts):
        hmsg = parts[0] == b'HMSG'
        subject, sid = parts[1].decode(), int(parts[2])
        reply = parts[3].decode() if len(parts) == (6 if hmsg else 5) else None
        hlen = int(parts[-2]) if hmsg else 0
        total = int(parts[-1])
        payload = self.file.read(total + 2)[:total]
        fn = self.subs.get(sid)
        if fn:
            fn(subject, reply, payload[:hlen], payload[hlen:])

    def _on_ack(self, subject, _reply, headers, body):
        q = self.acks.get(subject)
        if q:
            q.put((_status_of(headers) if headers else 0, body))

    def subscribe(self, subject, fn):
        """Calls fn(subject, reply, header block, body) on the reader thread
        for every message on subject (core NATS: only while connected)."""
        with self.lock:
            sid = self.next_sid
            self.next_sid += 1
        self.subs[sid] = fn
        self._send(('SUB %s %d\r\n' % (subject, sid)).encode())

    def publish(self, subject, body, headers=(), reply=None):
        """Sends one message; headers is a sequence of (name, value)."""
        r = (' ' + reply) if reply else ''
        if headers:
            h = _header_block(headers)
            self._send(('HPUB %s%s %d %d\r\n' % (subject, r, len(h), len(h) + len(body))).encode()
                       + h + body + b'\r\n')
        else:
            self._send(('PUB %s%s %d\r\n' % (subject, r, len(body))).encode() + body + b'\r\n')

    def flush(self, timeout=5.0):
        """Waits until the server has read everything sent so far; raises
        BusError when it said -ERR or the connection is gone."""
        self._send(b'PING\r\n')
        try:
            ok = self.pongs.get(timeout=timeout)
        except queue.Empty:
            raise BusError('no answer from %s' % self.url) from None
        if not ok:
            raise BusError('server said %s' % self.error if self.error
                           else 'connection to %s closed' % self.url)

    def js_publish(self, subject, body, headers, msg_id, attempts=None):
        """Publishes into the stream that captures subject and returns its
        PubAck (a dict: stream, seq, duplicate). Sends again with the same
        Nats-Msg-Id until a stream acknowledges it: attempts times, or for
        as long as it takes when attempts is None. Raises BusError when
        the attempts ran out or the connection is gone."""
        token = uuid.uuid4().hex
        reply = '%s.%s' % (self.inbox, token)
        q = self.acks[reply] = queue.Queue()
        headers = list(headers) + [('Nats-Msg-Id', msg_id)]
        pause, n, why = 0.1, 0, 'no attempt'
        try:
            while attempts is None or n < attempts:
                n += 1
                if self.closed:
                    raise BusError('connection to %s closed' % self.url)
                Bus.publish(self, subject, body, headers, reply)
                try:
                    status, answer = q.get(timeout=JS_ACK_WAIT)
                except queue.Empty:
                    status, answer = 408, b''
                if status == 0:
                    ack = json.loads(answer or b'{}')
                    if 'error' not in ack:
                        return ack
                    why = 'stream said %s' % ack['error'].get('description', ack['error'])
                else:
                    # 503: no stream captures the subject (yet); 408: no answer.
                    why = 'no stream acknowledged it (%d)' % status
                time.sleep(pause)
                pause = min(pause * 2, JS_RETRY_MAX)
            raise BusError(why)
        finally:
            del self.acks[reply]

    def close(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
