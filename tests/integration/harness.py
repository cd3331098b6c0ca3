"""Integration test harness: real nats-server, real spaceport, TAP output.

Every integration test is a script that starts what it needs through this
module and reports with TAP, one line per check:

    from harness import TAP, Nats, Spaceport
    t = TAP()
    with Nats() as nats, Spaceport(nats_url=nats.url) as sp:
        status, headers, body = sp.request('GET', '/healthz')
        t.ok(status == 200, 'healthz answers 200')
    t.done()

Everything listens on random loopback ports and keeps its files in a
temporary directory that is removed at the end. Set SPACEPORT_WRAPPER (for
example "valgrind --error-exitcode=99 --leak-check=full") to run the
program under a wrapper.

The database engine: SQLite (the file DATA_DIR/spaceport.db) unless
SPACEPORT_TEST_BACKEND=postgres, which runs every Spaceport on a database
of the PostgreSQL server whose admin URL is SPACEPORT_TEST_PG_URL (tests/run
starts one with tests/lib/pg). A test reads and writes the program's
database through Spaceport.db_rows and db_exec, which speak to either.
"""
import atexit
import hashlib
import http.client
import json
import os
import random
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback

BIN = os.environ.get('SPACEPORT_BIN', os.path.join(
    os.path.dirname(__file__), '..', '..', 'build', 'spaceport'))
SOURCE_ROOT = os.environ.get('SPACEPORT_SOURCE_ROOT', os.path.join(
    os.path.dirname(__file__), '..', '..'))

BACKEND = os.environ.get('SPACEPORT_TEST_BACKEND') or 'sqlite'
if BACKEND not in ('sqlite', 'postgres'):
    raise SystemExit('SPACEPORT_TEST_BACKEND is sqlite or postgres, not %r' % BACKEND)


_ports_given = set()


def _ephemeral_low():
    """The lowest port the kernel hands to outgoing connections."""
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago, and not handed
    out before by this process. It is drawn below the kernel's ephemeral
    range: a port from bind(0) is one that any outgoing connection (to
    nats-server, to the identity provider) may take as its source port
    before the server we start binds it, or when it restarts."""
    low = max(_ephemeral_low(), 12000)
    for _ in range(200):
        port = random.randrange(10000, low)
        if port in _ports_given:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(('127.0.0.1', port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    raise RuntimeError('no fresh port')


def wait_port(port, timeout=10.0):
    """Waits until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def wait_until(predicate, timeout=10.0, interval=0.05):
    """Polls predicate until it returns a true value or timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def stop_process(proc, sig=signal.SIGTERM, timeout=10.0):
    """Sends sig to proc (a Popen, or None) if it still runs and reaps it,
    killing it when it has not exited within timeout."""
    if proc and proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pg_admin_url():
    """The admin URL of the test run's PostgreSQL server
    (SPACEPORT_TEST_PG_URL), or None when the run has none."""
    return os.environ.get('SPACEPORT_TEST_PG_URL') or None


def _pg_connect(url):
    # Imported here: a SQLite run needs no psycopg2.
    import psycopg2
    con = psycopg2.connect(url, connect_timeout=10)
    con.autocommit = True
    return con


def _pg_url(name):
    """The admin URL with its database replaced by name."""
    base = pg_admin_url()
    head, sep, tail = base.rpartition('/')
    if not sep or '://' not in head:
        raise RuntimeError('SPACEPORT_TEST_PG_URL is no postgres://host/db URL: %r' % base)
    query = tail.partition('?')[2]
    return head + '/' + name + ('?' + query if query else '')


# The databases this process made: dropped when it ends, so that a run's
# server does not fill with the databases of every test.
_pg_made = []


def _pg_create(name, fresh):
    if pg_admin_url() is None:
        raise RuntimeError('a PostgreSQL database is needed but SPACEPORT_TEST_PG_URL is unset '
                           '(tests/lib/pg start DIR prints one)')
    con = _pg_connect(pg_admin_url())
    try:
        cur = con.cursor()
        if fresh:
            cur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
        cur.execute('SELECT 1 FROM pg_database WHERE datname = %s', (name,))
        if not cur.fetchone():
            # C collation and ctype whatever the server's default: text
            # orders bytewise, as in SQLite.
            cur.execute("CREATE DATABASE \"%s\" TEMPLATE template0 ENCODING 'UTF8' "
                        "LC_COLLATE 'C' LC_CTYPE 'C'" % name)
            if name not in _pg_made:
                _pg_made.append(name)
    finally:
        con.close()
    return _pg_url(name)


def new_pg_database(name=None):
    """The URL of a new, empty database on the run's PostgreSQL server
    (named name, replacing one of that name, or a random name); dropped
    when this process ends."""
    name = name or 'sp_test_%s' % os.urandom(8).hex()
    return _pg_create(name, fresh=True)


def pg_database_for(data_dir):
    """The URL of the database of a data directory on PostgreSQL: named
    from the directory, made when missing, so that a program restarted on
    the same data directory finds its data again."""
    name = 'sp_' + hashlib.sha1(data_dir.encode()).hexdigest()[:16]
    return _pg_create(name, fresh=False)


@atexit.register
def _pg_drop_made():
    if not _pg_made or pg_admin_url() is None:
        return
    try:
        con = _pg_connect(pg_admin_url())
        for name in _pg_made:
            con.cursor().execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
        con.close()
    except Exception as e:  # a test's result does not hang on its cleanup
        print('# could not drop the test databases: %s' % e, flush=True)


def sql_json(column, key):
    """SQL for the text of a top-level member of the JSON in a text column:
    json_extract in SQLite, ->> in PostgreSQL (both NULL when it is
    missing)."""
    if BACKEND == 'postgres':
        return "(%s::json ->> '%s')" % (column, key)
    return "json_extract(%s, '$.%s')" % (column, key)


def _pg_params(sql, args):
    """sql with SQLite's parameters (?, ?NNN) as psycopg2's %s and the
    arguments in the order they appear; % doubled, as psycopg2 reads it.
    Quoted text ('...', "...") is left as it is."""
    out, params, i, bare, quote = [], [], 0, 0, None
    while i < len(sql):
        ch = sql[i]
        if quote:
            if ch == quote:
                quote = None
            out.append('%%' if ch == '%' else ch)
            i += 1
        elif ch in '\'"':
            quote = ch
            out.append(ch)
            i += 1
        elif ch == '?':
            j = i + 1
            while j < len(sql) and sql[j].isdigit():
                j += 1
            n = int(sql[i + 1:j]) if j > i + 1 else bare + 1
            bare = max(bare, n)
            params.append(args[n - 1])
            out.append('%s')
            i = j
        else:
            out.append('%%' if ch == '%' else ch)
            i += 1
    return ''.join(out), tuple(params)


class TAP:
    """Minimal TAP producer; failures print diagnostics as comments."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        if cond:
            print('ok %d - %s' % (self.n, name), flush=True)
        else:
            self.failed += 1
            print('not ok %d - %s' % (self.n, name), flush=True)
            if diag is not None:
                for line in str(diag).splitlines()[:40]:
                    print('#   ' + line, flush=True)
        return bool(cond)

    def eq(self, got, want, name):
        return self.ok(got == want, name, 'got:  %r\nwant: %r' % (got, want))

    def diag(self, text):
        for line in str(text).splitlines():
            print('# ' + line, flush=True)

    def done(self):
        print('1..%d' % self.n, flush=True)
        sys.exit(1 if self.failed else 0)

    def run(self, fn):
        """Runs fn(self); an exception becomes one failed check."""
        try:
            fn(self)
        except Exception:  # noqa: BLE001 - reported as a failed check
            self.ok(False, 'test body raised', traceback.format_exc())
        self.done()


class Nats:
    """A real nats-server with JetStream on a random loopback port."""

    def __init__(self, port=None, store=None, extra_args=()):
        self.port = port or free_port()
        self.monitor_port = free_port()
        self._own_store = store is None
        self.store = store or tempfile.mkdtemp(prefix='sp-nats-')
        self.extra_args = list(extra_args)
        self.proc = None
        self.url = 'nats://127.0.0.1:%d' % self.port

    def start(self):
        self.log = open(os.path.join(self.store, 'server.log'), 'ab')
        self.proc = subprocess.Popen(
            ['nats-server', '-a', '127.0.0.1', '-p', str(self.port), '-js', '-sd', self.store,
             '-m', str(self.monitor_port)] + self.extra_args,
            stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_port(self.port):
            raise RuntimeError('nats-server did not start on port %d' % self.port)
        return self

    def stop(self, sig=signal.SIGTERM):
        stop_process(self.proc, sig)
        self.proc = None
        if getattr(self, 'log', None):
            self.log.close()
            self.log = None

    def jsz(self):
        """The monitor's /jsz?streams=1 as JSON."""
        conn = http.client.HTTPConnection('127.0.0.1', self.monitor_port, timeout=5)
        conn.request('GET', '/jsz?streams=1')
        return json.loads(conn.getresponse().read())

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        if self._own_store:
            shutil.rmtree(self.store, ignore_errors=True)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __iter__(self):  # status, headers, body = response
        return iter((self.status, self.headers, self.body))


def http_request(port, method, path, body=None, headers=None, timeout=10.0):
    """One request to 127.0.0.1:port on a new connection; body may be bytes,
    a str or JSON (a dict or list). Returns a Response (status 0 when the
    connection failed)."""
    hdrs = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        hdrs.setdefault('Content-Type', 'application/json')
    if isinstance(body, str):
        body = body.encode()
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    except OSError as e:
        return Response(0, {}, str(e).encode())
    finally:
        conn.close()


class Database:
    """The database of a data directory, opened as an operator would:
    DATA_DIR/spaceport.db on SQLite, or the PostgreSQL database at url.
    Each call opens its own connection."""

    def __init__(self, data_dir, url=None):
        self.data_dir = data_dir
        self.url = url

    @classmethod
    def of(cls, data_dir):
        """The database the program would use for data_dir, on the run's
        backend (see pg_database_for)."""
        return cls(data_dir, pg_database_for(data_dir) if BACKEND == 'postgres' else None)

    def connect(self):
        """A new DB-API connection (SQLite waits up to 10 s for the
        writer; PostgreSQL is in autocommit). Its SQL is the engine's own:
        prefer rows and exec, which take SQLite's ? parameters on both."""
        if self.url:
            return _pg_connect(self.url)
        return sqlite3.connect(os.path.join(self.data_dir, 'spaceport.db'), timeout=10)

    def _run(self, sql, args, fetch):
        con = self.connect()
        try:
            if self.url:
                cur = con.cursor()
                cur.execute(*_pg_params(sql, tuple(args)))
                if not fetch:
                    return cur.rowcount
                return cur.fetchall() if cur.description else []
            cur = con.execute(sql, args)
            rows = cur.fetchall() if fetch else cur.rowcount
            con.commit()  # an INSERT ... RETURNING read with rows too
            return rows
        finally:
            con.close()

    def rows(self, sql, args=()):
        """The rows sql returns, a list of tuples; sql takes SQLite's ?
        parameters on both engines. A statement that writes (INSERT ...
        RETURNING) is committed. (A comparison is 0/1 in SQLite,
        False/True in PostgreSQL: equal in Python.)"""
        return self._run(sql, args, fetch=True)

    def exec(self, sql, args=()):
        """Runs one statement that changes the database and commits it;
        returns the number of rows it changed. sql takes SQLite's ?
        parameters on both engines."""
        return self._run(sql, args, fetch=False)

    def tables(self):
        """The names of the tables in the database."""
        if self.url:
            sql = ("SELECT table_name FROM information_schema.tables"
                   " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'")
        else:
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        return {r[0] for r in self.rows(sql)}


class Spaceport:
    """The real program, `spaceport serve`, on a random loopback port."""

    def __init__(self, nats_url=None, env=None, data_dir=None, issuers='http://127.0.0.1:1',
                 args=(), wrapper=None):
        self.port = free_port()
        self._own_data = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix='sp-data-')
        self.env = {
            'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
            'SPACEPORT_HTTP_ADDR': '127.0.0.1:%d' % self.port,
            'SPACEPORT_DATA_DIR': self.data_dir,
            'SPACEPORT_OIDC_ISSUERS': issuers,
            'SPACEPORT_LOG_LEVEL': 'debug',
        }
        for key in ('ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS'):
            if key in os.environ:
                self.env[key] = os.environ[key]
        if nats_url:
            self.env['SPACEPORT_NATS_URL'] = nats_url
        if BACKEND == 'postgres' and 'SPACEPORT_DATABASE_URL' not in (env or {}):
            self.env['SPACEPORT_DATABASE_URL'] = pg_database_for(self.data_dir)
        self.env.update(env or {})
        self.args = list(args)
        if wrapper is None:
            wrapper = shlex.split(os.environ.get('SPACEPORT_WRAPPER', ''))
        self.wrapper = wrapper
        self.proc = None
        self.url = 'http://127.0.0.1:%d' % self.port
        self.stderr_path = os.path.join(self.data_dir, 'stderr.log')

    def start(self, wait_ready=True, timeout=30.0):
        self._err = open(self.stderr_path, 'ab')
        self.proc = subprocess.Popen(self.wrapper + [BIN, 'serve'] + self.args, env=self.env,
                                     stdout=self._err, stderr=self._err)
        if not wait_port(self.port, timeout):
            self.stop(signal.SIGKILL)
            raise RuntimeError('spaceport did not listen on %d:\n%s' %
                               (self.port, self.stderr_text()[-4000:]))
        if wait_ready and not wait_until(lambda: self.request('GET', '/readyz').status == 200,
                                         timeout):
            text = self.stderr_text()[-4000:]
            self.stop(signal.SIGKILL)  # a failed start leaves nothing running
            raise RuntimeError('spaceport not ready:\n' + text)
        return self

    def metric(self, name):
        """The value of an unlabelled sample in /metrics, or None."""
        for line in self.request('GET', '/metrics').body.decode().splitlines():
            if line.startswith(name + ' '):
                return float(line.split()[1])
        return None

    def request(self, method, path, body=None, headers=None, timeout=10.0):
        """One request on a new connection; returns a Response (status 0 when
        the connection failed)."""
        return http_request(self.port, method, path, body, headers, timeout)

    def get(self, path, token=None, headers=None):
        hdrs = dict(headers or {})
        if token:
            hdrs['Authorization'] = 'Bearer ' + token
        return self.request('GET', path, headers=hdrs)

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=30.0):
        """Waits for exit; returns the exit code (None on timeout)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Stops the program; returns its exit code."""
        if not self.proc:
            return None
        code = self.proc.poll()
        if code is None:
            self.proc.send_signal(sig)
            code = self.wait(timeout)
            if code is None:
                self.proc.kill()
                code = self.proc.wait()
        self.proc = None
        self._err.close()
        if code not in (0, None) and sig != signal.SIGKILL:
            # Show why, before the data directory (and its log) goes.
            for line in self.stderr_text()[-6000:].splitlines():
                if '"level":"debug"' not in line:
                    print('# spaceport: ' + line, flush=True)
        return code

    @property
    def database_url(self):
        """The program's PostgreSQL database, or None when it runs on
        SQLite."""
        return self.env.get('SPACEPORT_DATABASE_URL')

    @property
    def db(self):
        """The program's database (a Database)."""
        return Database(self.data_dir, self.database_url)

    def db_rows(self, sql, args=()):
        """Database.rows on the program's database."""
        return self.db.rows(sql, args)

    def db_exec(self, sql, args=()):
        """Database.exec on the program's database."""
        return self.db.exec(sql, args)

    def stderr_text(self):
        try:
            with open(self.stderr_path, 'rb') as f:
                return f.read().decode(errors='replace')
        except OSError:
            return ''

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        if self._own_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class Webdav:
    """nginx in front of a Spaceport, through examples/webdav/serve: the
    spaces' files over WebDAV at /dav/spaces/<driveId>/ (and
    /remote.php/dav/spaces/), every other path passed to Spaceport, on a
    random loopback port. Its URL is Spaceport's public URL:

        dav = Webdav()
        with Spaceport(env=dav.env()) as sp, dav.in_front_of(sp):
            dav.request('PUT', '/dav/spaces/<id>/f', b'...', {...})
    """

    SERVE = os.path.join(SOURCE_ROOT, 'examples', 'webdav', 'serve')

    def __init__(self, storage=None, include=None):
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.run_dir = tempfile.mkdtemp(prefix='sp-webdav-')
        self.storage = storage or os.path.join(self.run_dir, 'storage')
        self.include = include
        self.spaceport = None
        self.proc = None

    def env(self):
        """What Spaceport needs to print URLs of this origin."""
        return {'SPACEPORT_PUBLIC_URL': self.url}

    def in_front_of(self, sp):
        self.spaceport = '127.0.0.1:%d' % sp.port
        return self

    def start(self):
        args = [self.SERVE, '--listen', '127.0.0.1:%d' % self.port, '--spaceport', self.spaceport,
                '--storage', self.storage, '--run-dir', self.run_dir]
        if self.include:
            args += ['--include', self.include]
        self._out = open(os.path.join(self.run_dir, 'serve.log'), 'ab')
        self.proc = subprocess.Popen(args, stdout=self._out, stderr=self._out)
        if not wait_port(self.port):
            self.stop()
            raise RuntimeError('nginx did not listen on %d:\n%s' % (self.port, self.log_text()))
        return self

    def request(self, method, path, body=None, headers=None, timeout=30.0):
        return http_request(self.port, method, path, body, headers, timeout)

    def path(self, drive, *parts):
        """The file of drive that nginx serves at /dav/spaces/<drive>/parts."""
        return os.path.join(self.storage, drive, *parts)

    def log_text(self):
        text = ''
        for name in ('serve.log', 'error.log'):
            try:
                with open(os.path.join(self.run_dir, name), 'rb') as f:
                    text += f.read().decode(errors='replace')[-3000:]
            except OSError:
                pass
        return text

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
        shutil.rmtree(self.run_dir, ignore_errors=True)


class Canary:
    """A loopback listener that counts connections and never answers."""

    def __init__(self):
        self.connections = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            c.close()

    def close(self):
        self.sock.close()


class FakeServer:
    """A tiny HTTP server on a random loopback port, for the other side of a
    test (another instance that misbehaves or is slow). answer(path) decides
    every GET: it returns (status, body bytes, {header: value}), or None to
    close the connection unanswered; it may sleep first. post(path, body
    bytes), when given, answers every POST the same way; with
    post_headers=True it is called as post(path, body, headers) with the
    request's headers (lower-case names), for a peer that checks or records
    signatures."""

    def __init__(self, answer, post=None, post_headers=False):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.respond(answer(self.path))

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
                if post and post_headers:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    self.respond(post(self.path, body, headers))
                elif post:
                    self.respond(post(self.path, body))
                else:
                    self.send_error(501)  # as before post existed

            def respond(self, reply):
                if reply is None:
                    return
                status, body, headers = reply
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header('Content-Length', str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (a timeout or a size cap)

        self.server = ThreadingHTTPServer(('127.0.0.1', self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def run_spaceport(args, env=None, timeout=30.0):
    """Runs the program to completion (e.g. a bad configuration, migrate);
    returns (exit code, stdout, stderr). On PostgreSQL a SPACEPORT_DATA_DIR
    in env brings its database, as for a Spaceport on that directory."""
    full_env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin')}
    env = env or {}
    if (BACKEND == 'postgres' and env.get('SPACEPORT_DATA_DIR') and
            'SPACEPORT_DATABASE_URL' not in env):
        full_env['SPACEPORT_DATABASE_URL'] = pg_database_for(env['SPACEPORT_DATA_DIR'])
    full_env.update(env)
    p = subprocess.run([BIN] + list(args), env=full_env, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors='replace'), p.stderr.decode(errors='replace')


class Issuer:
    """A minimal OpenID provider for integration tests: discovery and a JWKS
    with one RSA key on a random loopback port, and tokens minted on demand.
    (The token corpus has its own, more adversarial issuer.)"""

    def __init__(self, audience=None):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        import jwt  # python3-jwt
        from cryptography.hazmat.primitives.asymmetric import rsa

        self._jwt = jwt
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = 'test-key-1'
        self.audience = audience
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        public.update({'kid': self.kid, 'use': 'sig', 'alg': 'RS256'})
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path == '/.well-known/openid-configuration':
                    doc = {'issuer': issuer.url, 'jwks_uri': issuer.url + '/jwks',
                           'userinfo_endpoint': issuer.url + '/userinfo',
                           'authorization_endpoint': issuer.url + '/auth',
                           'token_endpoint': issuer.url + '/token'}
                elif self.path == '/jwks':
                    doc = {'keys': [public]}
                elif self.path == '/userinfo':
                    # No opaque tokens are issued here: every one is refused.
                    self.send_response(401)
                    self.send_header('WWW-Authenticate', 'Bearer error="invalid_token"')
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                    return
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                body = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(('127.0.0.1', self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def token(self, sub, username=None, name=None, email=None, roles=(), lifetime=3600,
              **claims):
        """A signed RS256 access token for sub; claims add or replace members
        (groups=['physics'] gives the groups claim)."""
        now = int(time.time())
        body = {'iss': self.url, 'sub': sub, 'iat': now, 'exp': now + lifetime,
                'preferred_username': username or sub, 'name': name or (username or sub).title(),
                'roles': list(roles)}
        if email:
            body['email'] = email
            body['email_verified'] = True
        if self.audience:
            body['aud'] = self.audience
        body.update(claims)
        return self._jwt.encode(body, self.key, algorithm='RS256', headers={'kid': self.kid})

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Client:
    """A user's view of a running Spaceport: requests with its token."""

    def __init__(self, sp, token):
        self.sp = sp
        self.token = token

    def call(self, method, path, body=None, headers=None):
        hdrs = {'Authorization': 'Bearer ' + self.token}
        hdrs.update(headers or {})
        return self.sp.request(method, path, body=body, headers=hdrs)

    def get(self, path, headers=None):
        return self.call('GET', path, headers=headers)

    def me(self):
        return self.get('/graph/v1.0/me').json()
