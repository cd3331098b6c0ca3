#!/usr/bin/python3
"""TLS on both sides, with certificates made by the test (openssl): HTTPS
serving, NATS over TLS with a client certificate and user/password, and a
wrong CA that must fail clearly."""
import http.client
import os
import shutil
import ssl
import subprocess
import tempfile
import time

from harness import TAP, Issuer, Nats, Spaceport, run_spaceport, wait_until


def openssl(*args, cwd):
    subprocess.run(['openssl'] + list(args), cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=' + name,
            '-keyout', name + '.key', '-out', name + '.pem', cwd=d)


def make_cert(d, ca, name, san='IP:127.0.0.1,DNS:localhost'):
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=' + name, '-keyout',
            name + '.key', '-out', name + '.csr', cwd=d)
    with open(os.path.join(d, name + '.ext'), 'w') as f:
        f.write('subjectAltName=%s\n' % san)
    openssl('x509', '-req', '-in', name + '.csr', '-CA', ca + '.pem', '-CAkey', ca + '.key',
            '-CAcreateserial', '-days', '2', '-extfile', name + '.ext', '-out', name + '.pem',
            cwd=d)


def https_get(port, path, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    conn = http.client.HTTPSConnection('127.0.0.1', port, context=ctx, timeout=10)
    try:
        conn.request('GET', path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def main(t):
    d = tempfile.mkdtemp(prefix='sp-tls-')
    try:
        make_ca(d, 'ca')
        make_ca(d, 'otherca')
        make_cert(d, 'ca', 'server')
        make_cert(d, 'ca', 'client', san='DNS:spaceport-client')
        p = lambda n: os.path.join(d, n)  # noqa: E731

        with Issuer() as idp:
            # --- HTTPS serving
            with Nats() as nats:
                sp = Spaceport(nats_url=nats.url, issuers=idp.url,
                               env={'SPACEPORT_HTTP_TLS_CERT': p('server.pem'),
                                    'SPACEPORT_HTTP_TLS_KEY': p('server.key')})
                sp.start(wait_ready=False)
                ok = wait_until(lambda: https_get(sp.port, '/readyz', p('ca.pem'))[0] == 200, 15)
                t.ok(ok, 'HTTPS: /readyz answers 200 over TLS with our CA')
                status, body = https_get(sp.port, '/healthz', p('ca.pem'))
                t.ok(status == 200 and b'ok' in body, 'HTTPS: healthz over TLS')
                try:
                    https_get(sp.port, '/healthz', p('otherca.pem'))
                    t.ok(False, 'HTTPS: a client trusting another CA refuses the server')
                except ssl.SSLError:
                    t.ok(True, 'HTTPS: a client trusting another CA refuses the server')
                r = sp.request('GET', '/healthz')
                t.ok(r.status != 200, 'HTTPS: plain HTTP is not served on the TLS port')
                t.eq(sp.stop(), 0, 'HTTPS: SIGTERM exits 0')
                sp.__exit__(None, None, None)

            # --- NATS over TLS with a client certificate and user/password
            conf = p('nats.conf')
            with open(conf, 'w') as f:
                f.write('authorization { user: spaceport, password: "s3cret-pass" }\n'
                        'tls { cert_file: "%s", key_file: "%s", ca_file: "%s", verify: true }\n'
                        % (p('server.pem'), p('server.key'), p('ca.pem')))
            nats = Nats(extra_args=['-c', conf])
            nats.start()
            try:
                env = {'SPACEPORT_NATS_TLS_CA': p('ca.pem'),
                       'SPACEPORT_NATS_TLS_CERT': p('client.pem'),
                       'SPACEPORT_NATS_TLS_KEY': p('client.key'),
                       'SPACEPORT_NATS_USER': 'spaceport',
                       'SPACEPORT_NATS_PASSWORD': 's3cret-pass'}
                sp = Spaceport(nats_url=nats.url, issuers=idp.url, env=env)
                sp.start(wait_ready=False)
                ready = wait_until(lambda: sp.request('GET', '/readyz').status == 200, 15)
                t.ok(ready, 'NATS over TLS with a client certificate and user/password: ready',
                     sp.stderr_text()[-1500:])
                t.eq(sp.stop(), 0, 'NATS TLS: SIGTERM exits 0')
                sp.__exit__(None, None, None)

                bad = dict(env, SPACEPORT_NATS_PASSWORD='wrong')
                sp = Spaceport(nats_url=nats.url, issuers=idp.url, env=bad)
                sp.start(wait_ready=False)
                time.sleep(2)
                r = sp.request('GET', '/readyz')
                t.ok(r.status == 503 and b'bus' in r.body,
                     'NATS TLS: a wrong password leaves the service not ready, naming the bus',
                     r.body)
                sp.stop()
                sp.__exit__(None, None, None)

                wrong = dict(env, SPACEPORT_NATS_TLS_CA=p('otherca.pem'))
                sp = Spaceport(nats_url=nats.url, issuers=idp.url, env=wrong)
                sp.start(wait_ready=False)
                time.sleep(2)
                r = sp.request('GET', '/readyz')
                log = sp.stderr_text()
                t.ok(r.status == 503 and b'bus' in r.body,
                     'NATS TLS: a wrong CA leaves the service not ready (503 naming the bus)',
                     r.body)
                t.ok('certificate' in log.lower() or 'ssl' in log.lower() or 'tls' in log.lower(),
                     'NATS TLS: the log says the TLS handshake failed',
                     '\n'.join(l for l in log.splitlines() if '"bus"' in l)[-1500:])
                sp.stop()
                sp.__exit__(None, None, None)
            finally:
                nats.stop()

            # --- configuration of TLS files is checked at start-up
            code, _, err = run_spaceport(['serve'], env={
                'SPACEPORT_OIDC_ISSUERS': idp.url, 'SPACEPORT_HTTP_TLS_CERT': p('server.pem')})
            t.ok(code == 2 and 'SPACEPORT_HTTP_TLS' in err,
                 'a certificate without its key stops start-up naming the variable', err)
            code, _, err = run_spaceport(['serve'], env={
                'SPACEPORT_OIDC_ISSUERS': idp.url, 'SPACEPORT_NATS_TLS_CA': p('ca.pem')})
            t.ok(code == 2 and 'SPACEPORT_NATS_URL' in err,
                 'bus TLS without an external bus is a configuration error', err)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == '__main__':
    TAP().run(main)
