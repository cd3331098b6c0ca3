"""A Server-Sent Events client for tests: one thread per stream, events in
a queue as dicts {id, event, data, comment}."""
import http.client
import json
import queue
import threading
import time


class Stream:
    def __init__(self, port, token=None, last_id=None, query_token=False, path='/api/v1/changes',
                 accept=True):
        self.events = queue.Queue()
        self.conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
        # oCIS's web clients send no Accept (accept=False).
        headers = {'Accept': 'text/event-stream'} if accept else {}
        if token and not query_token:
            headers['Authorization'] = 'Bearer ' + token
        if token and query_token:
            path += ('&' if '?' in path else '?') + 'access_token=' + token
        if last_id is not None:
            headers['Last-Event-ID'] = str(last_id)
        self.conn.request('GET', path, headers=headers)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}
        self.closed = threading.Event()
        if self.status == 200:
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()
        else:
            self.body = self.resp.read()
            self.closed.set()

    def _read(self):
        cur = {}
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                line = line.decode().rstrip('\r\n')
                if line == '':
                    if cur:
                        if 'data' in cur:
                            try:
                                cur['json'] = json.loads(cur['data'])
                            except ValueError:
                                pass
                        cur['at'] = time.monotonic()
                        self.events.put(cur)
                    cur = {}
                elif line.startswith(':'):
                    self.events.put({'comment': line[1:].strip(), 'at': time.monotonic()})
                else:
                    field, _, value = line.partition(':')
                    value = value[1:] if value.startswith(' ') else value
                    cur[field] = cur.get(field, '') + ('\n' if field in cur else '') + value
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            # AttributeError: http.client, when close() races the read
            pass
        self.closed.set()

    def next(self, timeout=5.0, skip_comments=True, skip=('retry',)):
        """The next event (dict) or None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                e = self.events.get(timeout=left)
            except queue.Empty:
                return None
            if skip_comments and 'comment' in e:
                continue
            if set(e) <= {'retry', 'at'} and 'retry' in skip:
                continue
            return e

    def collect(self, seconds):
        """Every event arriving within seconds."""
        out = []
        deadline = time.monotonic() + seconds
        while True:
            e = self.next(max(0.0, deadline - time.monotonic()))
            if e is None:
                return out
            out.append(e)

    def close(self):
        try:
            self.conn.sock.shutdown(2)
        except (OSError, AttributeError):
            pass
        self.conn.close()
