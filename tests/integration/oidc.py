"""The demo identity provider (examples/idp, oidc-provider on Node) for
integration tests, and a client that gets real tokens from it the way a
browser does: authorization request, login page, form post, redirects,
code, token request with the PKCE verifier.

    with Idp() as idp:
        token = idp.token('einstein', 'einstein')      # JWT access token
        tokens = idp.login('marie', 'marie')           # the whole token response
        idp.issuer                                     # http://127.0.0.1:<port>

A wrong password raises LoginFailed, whose .page is the login page the
provider answered with (it names the error). Run with Debian's
/usr/bin/python3 (python3-requests).
"""
import base64
import hashlib
import html
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse

import requests

from harness import SOURCE_ROOT, free_port

IDP_DIR = os.path.join(SOURCE_ROOT, 'examples', 'idp')
CLIENT_ID = 'spaceport-web'
SCOPE = 'openid profile email offline_access'


class LoginFailed(Exception):
    """The provider did not hand out a code; .page is its last HTML page."""

    def __init__(self, message, page='', status=0):
        super().__init__(message)
        self.page = page
        self.status = status


def ensure_node_modules():
    """`npm ci` in examples/idp when node_modules is missing or older than
    the lock file (tests/run does the same before the suites)."""
    lock = os.path.join(IDP_DIR, 'package-lock.json')
    marker = os.path.join(IDP_DIR, 'node_modules', '.package-lock.json')
    if os.path.exists(marker) and os.path.getmtime(marker) >= os.path.getmtime(lock):
        return
    subprocess.run(['npm', 'ci', '--no-audit', '--no-fund'], cwd=IDP_DIR, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


def jwt_parts(token):
    """(header, claims) of a JWS compact token, not verified."""
    def dec(part):
        return json.loads(base64.urlsafe_b64decode(part + '=' * (-len(part) % 4)))
    header, payload, _ = token.split('.')
    return dec(header), dec(payload)


class Idp:
    """examples/idp/server.mjs on a random loopback port with its keys in a
    temporary directory."""

    def __init__(self, audience='spaceport', redirect_uri=None, users=None, port=None,
                 data_dir=None, env=None, access_token_ttl=None):
        self.port = port or free_port()
        self.issuer = 'http://127.0.0.1:%d' % self.port
        self.audience = audience
        # Nothing listens there: the client stops at the redirect and reads
        # the code from the Location header, as a browser's page would.
        self.redirect_uri = redirect_uri or 'http://127.0.0.1:%d/' % free_port()
        self._own_data = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix='sp-idp-')
        self.env = {
            'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
            'HOME': os.environ.get('HOME', self.data_dir),
            'IDP_PORT': str(self.port),
            'IDP_ISSUER': self.issuer,
            'IDP_DATA_DIR': self.data_dir,
            'IDP_AUDIENCE': audience,
            'IDP_REDIRECT_URIS': self.redirect_uri,
        }
        if access_token_ttl:
            self.env['IDP_ACCESS_TOKEN_TTL'] = str(access_token_ttl)
        if users is not None:
            path = os.path.join(self.data_dir, 'users.json')
            with open(path, 'w') as f:
                json.dump(users, f)
            self.env['IDP_USERS'] = path
        self.env.update(env or {})
        self.proc = None
        self.log_path = os.path.join(self.data_dir, 'idp.log')
        self.startup_seconds = None

    def start(self, timeout=15.0, attempts=2):
        """Starts the provider. Under load node has been seen to stall
        before it listens; such a start is reported and tried once more."""
        for attempt in range(attempts):
            try:
                return self._start_once(timeout)
            except TimeoutError as e:
                if attempt + 1 == attempts:
                    raise RuntimeError(str(e)) from None
                print('# the identity provider did not answer in %.0f s; starting it again'
                      % timeout, flush=True)
        return self

    def _start_once(self, timeout):
        ensure_node_modules()
        self._log = open(self.log_path, 'ab')
        started = time.monotonic()
        self.proc = subprocess.Popen(['node', os.path.join(IDP_DIR, 'server.mjs')],
                                     cwd=IDP_DIR, env=self.env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = started + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError('the identity provider exited (%s):\n%s'
                                   % (self.proc.returncode, self.log_text()[-4000:]))
            try:
                r = requests.get(self.issuer + '/.well-known/openid-configuration', timeout=2)
                if r.status_code == 200:
                    self.discovery = r.json()
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop(signal.SIGKILL)
                raise TimeoutError('the identity provider did not answer:\n'
                                   + self.log_text()[-4000:])
            time.sleep(0.05)
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stops the provider; returns its exit code."""
        code = None
        if self.proc:
            code = self.proc.poll()
            if code is None:
                self.proc.send_signal(sig)
                try:
                    code = self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    code = self.proc.wait()
            self.proc = None
        if getattr(self, '_log', None):
            self._log.close()
            self._log = None
        return code

    def log_text(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode(errors='replace')
        except OSError:
            return ''

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        if self._own_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # --- the browser's part ------------------------------------------------

    def authorize(self, username, password, session=None, scope=SCOPE, extra=None):
        """Runs the authorization request through the login page; returns
        (code, code_verifier, session). Raises LoginFailed without a code."""
        s = session or requests.Session()
        verifier = b64url(secrets.token_bytes(48))
        challenge = b64url(hashlib.sha256(verifier.encode()).digest())
        state = b64url(secrets.token_bytes(16))
        params = {
            'client_id': CLIENT_ID, 'response_type': 'code', 'redirect_uri': self.redirect_uri,
            'scope': scope, 'state': state, 'nonce': b64url(secrets.token_bytes(16)),
            'code_challenge': challenge, 'code_challenge_method': 'S256',
        }
        params.update(extra or {})
        url = self.discovery['authorization_endpoint'] + '?' + urllib.parse.urlencode(params)
        r = s.get(url, allow_redirects=False, timeout=10)
        posted = False
        for _ in range(20):
            if r.status_code in (301, 302, 303, 307, 308):
                location = urllib.parse.urljoin(r.url, r.headers['Location'])
                if location.startswith(self.redirect_uri):
                    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
                    if 'error' in query:
                        raise LoginFailed('authorization error: %s' % query)
                    if query.get('state') != [state]:
                        raise LoginFailed('state mismatch in %s' % location)
                    if query.get('iss', [self.issuer]) != [self.issuer]:
                        raise LoginFailed('iss mismatch in %s' % location)
                    return query['code'][0], verifier, s
                r = s.get(location, allow_redirects=False, timeout=10)
                continue
            page = r.text
            form = re.search(r'<form[^>]*\baction="([^"]+)"', page)
            if r.status_code == 200 and form and 'name="password"' in page and not posted:
                action = urllib.parse.urljoin(r.url, html.unescape(form.group(1)))
                r = s.post(action, data={'username': username, 'password': password},
                           allow_redirects=False, timeout=10)
                posted = True
                continue
            raise LoginFailed('no code (HTTP %d)' % r.status_code, page, r.status_code)
        raise LoginFailed('too many redirects')

    def exchange(self, code, verifier, origin=None):
        """The token request of a public client; returns (response, json)."""
        headers = {'Origin': origin} if origin else {}
        r = requests.post(self.discovery['token_endpoint'], data={
            'grant_type': 'authorization_code', 'code': code, 'redirect_uri': self.redirect_uri,
            'client_id': CLIENT_ID, 'code_verifier': verifier,
        }, headers=headers, timeout=10)
        return r, r.json()

    def refresh(self, refresh_token):
        r = requests.post(self.discovery['token_endpoint'], data={
            'grant_type': 'refresh_token', 'refresh_token': refresh_token,
            'client_id': CLIENT_ID,
        }, timeout=10)
        return r, r.json()

    def login(self, username, password):
        """The whole token response (access_token, id_token, refresh_token...)."""
        code, verifier, _ = self.authorize(username, password)
        r, body = self.exchange(code, verifier)
        if r.status_code != 200 or 'access_token' not in body:
            raise LoginFailed('token request failed: %d %s' % (r.status_code, r.text))
        return body

    def token(self, username, password=None):
        """A JWT access token for the registry's audience."""
        return self.login(username, username if password is None else password)['access_token']
