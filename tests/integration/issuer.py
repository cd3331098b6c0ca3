"""An adversarial OpenID provider for the token tests.

It serves discovery, a JWKS and a userinfo endpoint on a random loopback
port from a background thread, counts what it is asked, rotates and adds
keys while running, and mints tokens with any header, claims or signature
tampering a test wants -- including the ones no real provider would make
(alg none, HS256 keyed with the RSA public key, DER-encoded ES signatures,
duplicate members, five-part JWE shapes).

    iss = TestIssuer()          # keys: rsa1 (RSA 2048), ec1 (P-256)
    iss.add_key('rsa2', 'RSA')  # generated now, published
    iss.start()
    tok = iss.mint(claims={'sub': 'alice'})
    iss.jwks_fetches            # how often /jwks was read

Run with Debian's /usr/bin/python3 (python3-jwt, python3-cryptography).
"""
import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from harness import free_port


def b64url(data):
    """base64url without padding (RFC 7515 section 2)."""
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


def _int_b64(n, length=None):
    length = length or (n.bit_length() + 7) // 8
    return b64url(n.to_bytes(length, 'big'))


_HASHES = {'256': hashes.SHA256, '384': hashes.SHA384, '512': hashes.SHA512}
_CURVES = {'P-256': (ec.SECP256R1, 32), 'P-384': (ec.SECP384R1, 48), 'P-521': (ec.SECP521R1, 66)}


class Key:
    """One signing key: private part for minting, public JWK for the JWKS.
    kty is 'RSA', 'EC' or 'oct'; jwk_extra adds members (use, alg, ...)."""

    def __init__(self, kid, kty='RSA', bits=2048, crv='P-256', secret=None, jwk_extra=None):
        self.kid = kid
        self.kty = kty
        self.crv = crv
        if kty == 'RSA':
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
            pub = self.private.public_key().public_numbers()
            self.jwk = {'kty': 'RSA', 'n': _int_b64(pub.n), 'e': _int_b64(pub.e)}
        elif kty == 'EC':
            curve, size = _CURVES[crv]
            self.private = ec.generate_private_key(curve())
            pub = self.private.public_key().public_numbers()
            self.jwk = {'kty': 'EC', 'crv': crv, 'x': _int_b64(pub.x, size),
                        'y': _int_b64(pub.y, size)}
        elif kty == 'oct':
            self.private = secret or b'an-hmac-secret-that-is-32-bytes!'
            self.jwk = {'kty': 'oct', 'k': b64url(self.private)}
        else:
            raise ValueError(kty)
        if kid is not None:
            self.jwk['kid'] = kid
        self.jwk.update(jwk_extra or {})

    def default_alg(self):
        return {'RSA': 'RS256', 'oct': 'HS256'}.get(self.kty) or {
            'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512'}[self.crv]

    def public_pem(self):
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, alg, data, es_der=False):
        """Signature bytes of data for a JWS alg; raises for a mismatch."""
        if alg.startswith('RS'):
            return self.private.sign(data, padding.PKCS1v15(), _HASHES[alg[2:]]())
        if alg.startswith('PS'):
            h = _HASHES[alg[2:]]()
            return self.private.sign(data, padding.PSS(mgf=padding.MGF1(h),
                                                       salt_length=h.digest_size), h)
        if alg.startswith('ES'):
            der = self.private.sign(data, ec.ECDSA(_HASHES[alg[2:]]()))
            if es_der:
                return der
            r, s = utils.decode_dss_signature(der)
            size = _CURVES[self.crv][1]
            return r.to_bytes(size, 'big') + s.to_bytes(size, 'big')
        if alg.startswith('HS'):
            return hmac.new(self.private, data, getattr(hashlib, 'sha' + alg[2:])).digest()
        raise ValueError(alg)


class TestIssuer:
    """Discovery + JWKS + userinfo on http://127.0.0.1:<port>.

    Not started by the constructor: a test can configure the program with
    .url first and bring the issuer up later (issuer down at start)."""

    def __init__(self, keys=None, audience=None):
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.audience = audience
        self.keys = {}          # kid -> Key (published or not)
        self.published = []     # kids in the JWKS, in order
        self.extra_jwks = []    # raw JWK members appended to the JWKS as they are
        self.opaque = {}        # opaque token -> userinfo claims
        self.discovery_issuer = None  # override of discovery's "issuer"
        self.jwks_path = '/jwks'      # what discovery names as jwks_uri (a path here)
        self.redirects = {}           # path -> Location answered with 302
        self.jwks_padding = 0         # bytes of junk added to the JWKS document
        self.jwks_fetches = 0
        self.discovery_fetches = 0
        self.userinfo_fetches = 0
        self.other_requests = []  # paths nobody should ask for (jku, x5u, ...)
        self.lock = threading.Lock()
        self.server = None
        self.thread = None
        for spec in keys if keys is not None else [('rsa1', 'RSA'), ('ec1', 'EC')]:
            self.add_key(*spec)

    # --- keys ---
    def add_key(self, kid, kty='RSA', publish=True, **kw):
        """Generates a key (see Key) and publishes it unless told not to."""
        key = Key(kid, kty, **kw)
        with self.lock:
            self.keys[kid] = key
            if publish:
                self.published.append(kid)
        return key

    def publish(self, kid):
        with self.lock:
            if kid not in self.published:
                self.published.append(kid)

    def withdraw(self, kid):
        with self.lock:
            self.published = [k for k in self.published if k != kid]

    def jwks(self):
        with self.lock:
            return {'keys': [self.keys[k].jwk for k in self.published] + list(self.extra_jwks)}

    # --- HTTP ---
    def start(self):
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def reply(self, status, doc):
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                if status == 401:
                    self.send_header('WWW-Authenticate', 'Bearer error="invalid_token"')
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                path = self.path.split('?')[0]
                if path in issuer.redirects:
                    with issuer.lock:
                        issuer.other_requests.append(path)
                    self.send_response(302)
                    self.send_header('Location', issuer.redirects[path])
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                elif path == '/.well-known/openid-configuration':
                    with issuer.lock:
                        issuer.discovery_fetches += 1
                    self.reply(200, {
                        'issuer': issuer.discovery_issuer or issuer.url,
                        'jwks_uri': issuer.url + issuer.jwks_path,
                        'userinfo_endpoint': issuer.url + '/userinfo',
                        'authorization_endpoint': issuer.url + '/auth',
                        'token_endpoint': issuer.url + '/token',
                        'id_token_signing_alg_values_supported': ['RS256', 'PS256', 'ES256'],
                    })
                elif path == '/jwks':
                    with issuer.lock:
                        issuer.jwks_fetches += 1
                    doc = issuer.jwks()
                    if issuer.jwks_padding:
                        doc['padding'] = 'x' * issuer.jwks_padding
                    self.reply(200, doc)
                elif path == '/userinfo':
                    with issuer.lock:
                        issuer.userinfo_fetches += 1
                    auth = self.headers.get('Authorization', '')
                    token = auth[7:] if auth.startswith('Bearer ') else None
                    claims = issuer.opaque.get(token)
                    if claims is None:
                        self.reply(401, {'error': 'invalid_token'})
                    else:
                        self.reply(200, claims)
                else:
                    with issuer.lock:
                        issuer.other_requests.append(path)
                    self.reply(404, {'error': 'not_found'})

        self.server = ThreadingHTTPServer(('127.0.0.1', self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- tokens ---
    def default_claims(self, sub='alice', lifetime=600):
        now = int(time.time())
        claims = {'iss': self.url, 'sub': sub, 'iat': now, 'exp': now + lifetime,
                  'preferred_username': sub, 'name': sub.title()}
        if self.audience:
            claims['aud'] = self.audience
        return claims

    def mint(self, key='rsa1', alg=None, header=None, claims=None, header_raw=None,
             payload_raw=None, sign_alg=None, sign_key=None, hmac_secret=None, es_der=False,
             tamper=()):
        """A compact JWS.

        key        kid of the signing key; its kid goes into the header
        alg        header alg (default: the key's)
        header     members merged into the header; a value of None deletes
        claims     members merged into default_claims(); None deletes
        header_raw / payload_raw   exact JSON text instead (duplicates etc.)
        sign_alg   algorithm really used to sign (default alg); 'none' = empty
        sign_key   kid of the key that really signs (default key)
        hmac_secret  bytes: sign with HMAC under this secret (alg HS*)
        es_der     ES signature in DER instead of r||s
        tamper     operations on the finished parts, see _tamper
        """
        k = self.keys[key]
        alg = alg or k.default_alg()
        hdr = {'alg': alg, 'typ': 'JWT', 'kid': k.kid}
        for name, value in (header or {}).items():
            if value is None:
                hdr.pop(name, None)
            else:
                hdr[name] = value
        body = self.default_claims()
        for name, value in (claims or {}).items():
            if value is None:
                body.pop(name, None)
            else:
                body[name] = value
        h64 = b64url(header_raw if header_raw is not None else json.dumps(hdr))
        p64 = b64url(payload_raw if payload_raw is not None else json.dumps(body))
        signing_input = ('%s.%s' % (h64, p64)).encode()
        sign_alg = sign_alg or alg
        if sign_alg.lower() == 'none':
            sig = b''
        elif hmac_secret is not None:
            sig = hmac.new(hmac_secret, signing_input,
                           getattr(hashlib, 'sha' + sign_alg[2:])).digest()
        else:
            sig = self.keys[sign_key or key].sign(sign_alg, signing_input, es_der=es_der)
        parts = [h64, p64, b64url(sig)]
        return self._tamper(parts, sig, tamper)

    @staticmethod
    def _tamper(parts, sig, ops):
        """Operations, applied in order (each a dict with "op"):
        flip_sig                  flip one bit in the middle of the signature
        sig_bytes  {bytes: n}     cut (n<0) or extend (n>0, zero bytes) the signature
        append     {part, text}   add text at the end of a part
        insert     {part, index, text}
        set_char   {part, index, text}  replace one character
        parts      {count}        keep the first count parts, or add "e30" parts
        """
        for op in ops:
            kind = op['op']
            if kind == 'flip_sig':
                b = bytearray(sig)
                b[len(b) // 2] ^= 0x01
                sig = bytes(b)
                parts[2] = b64url(sig)
            elif kind == 'sig_bytes':
                n = op['bytes']
                sig = sig[:n] if n < 0 else sig + b'\0' * n
                parts[2] = b64url(sig)
            elif kind == 'append':
                parts[op['part']] += op['text']
            elif kind == 'insert':
                p = parts[op['part']]
                parts[op['part']] = p[:op['index']] + op['text'] + p[op['index']:]
            elif kind == 'set_char':
                p = parts[op['part']]
                i = op['index'] % len(p)
                parts[op['part']] = p[:i] + op['text'] + p[i + 1:]
            elif kind == 'parts':
                n = op['count']
                parts = parts[:n] if n <= len(parts) else parts + ['e30'] * (n - len(parts))
            else:
                raise ValueError('unknown tamper op %r' % kind)
        return '.'.join(parts)

    def jwe_shaped(self):
        """Five parts like a compact JWE (RFC 7516): protected header with
        alg/enc, encrypted key, IV, ciphertext, tag -- random bytes."""
        import os
        hdr = b64url(json.dumps({'alg': 'RSA-OAEP', 'enc': 'A256GCM', 'kid': 'rsa1'}))
        return '.'.join([hdr, b64url(os.urandom(256)), b64url(os.urandom(12)),
                         b64url(os.urandom(64)), b64url(os.urandom(16))])

    def add_opaque(self, token, sub='opaque-user', **claims):
        """Registers an opaque token that /userinfo answers for."""
        doc = {'sub': sub, 'preferred_username': sub, 'name': sub.title()}
        doc.update(claims)
        self.opaque[token] = doc
