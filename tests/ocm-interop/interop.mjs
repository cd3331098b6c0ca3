#!/usr/bin/env node
// tests/ocm-interop/interop.mjs - Spaceport's Open Cloud Mesh signatures
// against an independent RFC 9421 implementation: http-message-signatures
// 1.0.6 (npm, pinned in package-lock.json; tests/run runs `npm ci` here).
//
// This program is a peer that Spaceport trusts (SPACEPORT_TRUSTED_INSTANCES):
// an HTTP server on loopback serving an OCM discovery document with its own
// ed25519 key and the 2048-bit RSA test key (rsa-pss-sha512) of
// tests/data/httpsig, answering WebFinger for node.test, and receiving
// shares and notifications at an endPoint of its own.
//
// Spaceport -> here: every request Spaceport sends it (a share, the
// permission change, a storage change, SHARE_UNSHARED, SHARE_ACCEPTED and
// SHARE_DECLINED for the peer's shares, an accepted invitation) is
// verified with the library, once with the key of Spaceport's
// /.well-known/ocm publicKeys and once with the key of its
// /.well-known/jwks.json. The exactly one signature tagged "ocm" is taken;
// it must cover @method, @target-uri, content-digest and content-length,
// carry created and keyid, and the Content-Digest must be the body's.
//
// Here -> Spaceport: shares and notifications signed by the library (ed25519
// and rsa-pss-sha512) are accepted; tampered ones are refused with 401 and
// create nothing: the body changed after signing (with and without a new
// Content-Digest), another method or path signed than sent, signature bytes
// flipped, created an hour old, signed by another key under our keyid, the
// tag stripped after signing, two signatures tagged ocm, none at all, and a
// replayed request.
//
// Prints TAP; exit code 1 when a check failed. Environment: SPACEPORT_BIN,
// SPACEPORT_SOURCE_ROOT (tests/lib/stack.mjs).

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import process from 'node:process';

import hms from 'http-message-signatures';
import { parseDictionary, serializeDictionary } from 'structured-headers';

import { natsPublish } from '../lib/nats.mjs';
import { ROOT, Stack, diag, freePort, notOk, ok, sleep, tapCounts } from '../lib/stack.mjs';

const { httpbis: { signMessage, verifyMessage }, createSigner, createVerifier } = hms;

const VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5';
const EDITOR = 'fb6c3e19-e378-47e5-b277-9732f9de6e21';
const ENDPOINT = '/apps/ocm';
const DOMAIN = 'node.test';
// What a signature of Spaceport's must cover (the contract's profile and
// draft-ietf-ocm-open-cloud-mesh-05).
const REQUIRED_FIELDS = ['@method', '@target-uri', 'content-digest', 'content-length'];
const REQUIRED_PARAMS = ['created', 'keyid', 'tag'];
// Clock slack between Spaceport and this program, and the oldest signature
// accepted: both run on this machine, and a request is sent at once.
const TOLERANCE_S = 30;
const MAX_AGE_S = 300;
const WAIT_MS = 10000;

function check(cond, name, why) {
  if (cond) ok(name);
  else notOk(name, why);
  return cond;
}

const digestOf = (body) => `sha-256=:${crypto.createHash('sha256').update(body).digest('base64')}:`;

/** One request on a new connection: {status, headers, body}. */
function send(url, { method = 'POST', headers = {}, body = '' } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The peer: discovery, WebFinger, and a record of what it receives. */
class Peer {
  constructor(port) {
    this.url = `http://127.0.0.1:${port}`;
    this.authority = `127.0.0.1:${port}`;
    this.port = port;
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
    this.ed = { id: `${this.url}/ocm#ed1`, alg: 'ed25519', privateKey, pem: publicKey.export({ type: 'spki', format: 'pem' }) };
    const rsaPem = fs.readFileSync(path.join(ROOT, 'tests', 'data', 'httpsig', 'test-key-rsa2048.pem'), 'utf8');
    const rsa = crypto.createPrivateKey(rsaPem);
    this.rsa = { id: `${this.url}/ocm#rsa1`, alg: 'rsa-pss-sha512', privateKey: rsa,
      pem: crypto.createPublicKey(rsa).export({ type: 'spki', format: 'pem' }) };
    this.received = [];
    this.waiters = new Set();
  }

  discovery() {
    return {
      enabled: true, apiVersion: '1.2.2', endPoint: this.url + ENDPOINT, provider: 'http-message-signatures peer',
      resourceTypes: ['file', 'folder'].map((name) => ({ name, shareTypes: ['user'], protocols: { webdav: '/dav/ocm/' } })),
      capabilities: ['notifications', 'invites', 'http-sig', 'webdav-uri', 'protocol-object'],
      criteria: [],
      publicKeys: [this.ed, this.rsa].map((k) => ({ keyId: k.id, publicKeyPem: k.pem, algorithm: k.alg })),
      notificationTypes: ['SHARE_ACCEPTED', 'SHARE_DECLINED', 'SHARE_UNSHARED', 'SHARE_CHANGE_PERMISSION', 'RESOURCE_CHANGED'],
    };
  }

  listen() {
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => this.answer(req, Buffer.concat(chunks), res));
    });
    return new Promise((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
  }

  answer(req, body, res) {
    const reply = (status, doc) => {
      const text = JSON.stringify(doc);
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    };
    const url = new URL(req.url, this.url);
    if (req.method === 'GET' && (url.pathname === '/.well-known/ocm' || url.pathname === '/ocm-provider')) return reply(200, this.discovery());
    if (req.method === 'GET' && url.pathname === '/.well-known/webfinger') {
      const who = url.searchParams.get('resource') || '';
      return who.startsWith('acct:') && who.endsWith(`@${DOMAIN}`) ? reply(200, { subject: who, links: [] }) : reply(404, {});
    }
    if (req.method === 'POST' && url.pathname.startsWith(ENDPOINT + '/')) {
      const rec = { method: req.method, path: req.url, host: req.headers.host, headers: req.headers, body: body.toString() };
      try {
        rec.doc = JSON.parse(rec.body);
      } catch {
        rec.doc = null;
      }
      this.received.push(rec);
      for (const w of this.waiters) w();
      const route = url.pathname.slice(ENDPOINT.length);
      if (route === '/shares') return reply(201, { recipientDisplayName: 'Bob' });
      if (route === '/notifications') return reply(201, {});
      if (route === '/invite-accepted') return reply(200, { userID: 'bob', email: `bob@${DOMAIN}`, name: 'Bob' });
    }
    return reply(404, { message: 'NOT_FOUND' });
  }

  /** The first request received at <endPoint>route whose body match()es. */
  async wait(route, match) {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const hit = this.received.find((r) => r.path === ENDPOINT + route && r.doc && match(r.doc));
      if (hit) return hit;
      if (Date.now() > deadline) return null;
      await new Promise((resolve) => {
        const done = () => {
          this.waiters.delete(done);
          resolve();
        };
        this.waiters.add(done);
        setTimeout(done, 200);
      });
    }
  }

  close() {
    return new Promise((resolve) => this.server.close(resolve));
  }
}

// --- Spaceport -> here ---------------------------------------------------

/**
 * Verifies a request Spaceport sent with the library and one public key.
 * Returns '' when it verifies, else why not.
 */
async function verifyReceived(rec, kid, publicKey) {
  let inputs;
  try {
    inputs = parseDictionary(rec.headers['signature-input'] || '');
  } catch (e) {
    return `Signature-Input does not parse: ${e.message}`;
  }
  const tagged = [...inputs].filter(([, [, params]]) => params.get('tag') === 'ocm');
  if (tagged.length !== 1) return `${tagged.length} signatures tagged "ocm": ${rec.headers['signature-input']}`;
  const [label, member] = tagged[0];
  if (rec.headers['content-digest'] !== digestOf(rec.body)) {
    return `Content-Digest ${rec.headers['content-digest']} is not the body's ${digestOf(rec.body)}`;
  }
  // Only the ocm signature: the library passes when any one verifies.
  const signatures = parseDictionary(rec.headers.signature || '');
  if (!signatures.has(label)) return `no Signature for ${label}`;
  const headers = { ...rec.headers,
    'signature-input': serializeDictionary(new Map([[label, member]])),
    signature: serializeDictionary(new Map([[label, signatures.get(label)]])) };
  const message = { method: rec.method, url: `http://${rec.host}${rec.path}`, headers };
  try {
    const verified = await verifyMessage({
      keyLookup: async (params) => (params.keyid === kid
        ? { id: kid, algs: ['ed25519'], verify: createVerifier(publicKey, 'ed25519') } : null),
      requiredFields: REQUIRED_FIELDS,
      requiredParams: REQUIRED_PARAMS,
      maxAge: MAX_AGE_S,
      tolerance: TOLERANCE_S,
    }, message);
    return verified === true ? '' : `verifyMessage answered ${verified} (keyid ${member[1].get('keyid')})`;
  } catch (e) {
    return `${e.constructor.name}: ${e.message}`;
  }
}

/** Spaceport's keys: [source, kid, KeyObject] from its discovery and JWKS. */
async function spaceportKeys(stack) {
  const keys = [];
  const doc = await (await fetch(`${stack.url}/.well-known/ocm`)).json();
  for (const k of doc.publicKeys || []) {
    if (k.algorithm === 'ed25519') keys.push(['publicKeys', k.keyId, crypto.createPublicKey(k.publicKeyPem)]);
  }
  const r = await fetch(`${stack.url}/.well-known/jwks.json`);
  const jwks = r.ok ? await r.json() : { keys: [] };
  for (const k of jwks.keys || []) {
    if (k.kty === 'OKP' && k.crv === 'Ed25519') keys.push(['jwks.json', k.kid, crypto.createPublicKey({ key: k, format: 'jwk' })]);
  }
  return keys;
}

async function verifyWithEvery(keys, rec, what) {
  for (const source of ['publicKeys', 'jwks.json']) {
    const candidates = keys.filter(([s]) => s === source);
    const kid = parseKeyid(rec);
    const key = candidates.find(([, id]) => id === kid);
    const why = !rec ? 'nothing received' : !key
      ? `keyid ${kid} is not in Spaceport's ${source} (${candidates.map(([, id]) => id).join(', ')})`
      : await verifyReceived(rec, kid, key[2]);
    check(!why, `http-message-signatures verifies Spaceport's ${what} with the key of its ${source}`, why);
  }
}

function parseKeyid(rec) {
  try {
    const tagged = [...parseDictionary(rec?.headers['signature-input'] || '')]
      .filter(([, [, params]]) => params.get('tag') === 'ocm');
    return tagged.length ? tagged[0][1][1].get('keyid') : null;
  } catch {
    return null;
  }
}

async function spaceportSends(stack, peer, marie) {
  const keys = await spaceportKeys(stack);
  check(keys.some(([s]) => s === 'publicKeys') && keys.some(([s]) => s === 'jwks.json'),
    'Spaceport publishes its ed25519 key in /.well-known/ocm publicKeys and /.well-known/jwks.json',
    JSON.stringify(keys.map(([s, id]) => [s, id])));

  const call = (method, p, body) => send(`${stack.url}${p}`, { method,
    headers: { Authorization: `Bearer ${marie}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : '' });
  const drive = JSON.parse((await call('POST', '/graph/v1.0/drives', { name: 'Interop' })).body).id;
  const r = await call('POST', `/graph/v1beta1/drives/${drive}/items/${drive}/invite`,
    { recipients: [{ email: `bob@${DOMAIN}` }], roles: [VIEWER] });
  check(r.status === 200, `marie shares a folder with bob@${DOMAIN}: 200`, `${r.status} ${r.body}`);
  const perm = r.status === 200 ? JSON.parse(r.body).value[0].id : '';
  const share = await peer.wait('/shares', (d) => d.shareWith === `bob@${DOMAIN}`);
  check(share, 'the share arrives at the endPoint of the peer\'s discovery', JSON.stringify(peer.received.map((x) => x.path)));
  await verifyWithEvery(keys, share, 'share (POST /shares)');
  if (share) {
    // The control: the same request with one byte of the body changed no
    // longer verifies, so the verifier above is not trivially true.
    const forged = { ...share, body: share.body.replace('"Interop"', '"Interpp"') };
    forged.headers = { ...share.headers, 'content-digest': digestOf(forged.body) };
    const kid = parseKeyid(share);
    const key = keys.find(([, id]) => id === kid);
    const why = key ? await verifyReceived(forged, kid, key[2]) : 'no key';
    check(why && why !== 'no key', 'control: that share with its body changed (and a matching Content-Digest) does not verify', why);
  }

  const pid = share?.doc.providerId;
  const r2 = await call('PATCH', `/graph/v1beta1/drives/${drive}/items/${drive}/permissions/${perm}`, { roles: [EDITOR] });
  check(r2.status === 200, 'marie makes bob an editor: 200', `${r2.status} ${r2.body}`);
  await verifyWithEvery(keys, await peer.wait('/notifications',
    (d) => d.notificationType === 'SHARE_CHANGE_PERMISSION' && d.providerId === pid), 'SHARE_CHANGE_PERMISSION');

  const id = crypto.randomUUID();
  await natsPublish(stack.natsUrl, 'spaceport.storage.changed', JSON.stringify({
    specversion: '1.0', id, source: 'urn:test:storage', type: 'spaceport.storage.changed',
    datacontenttype: 'application/json',
    data: { driveId: drive, itemId: 'item-1', eTag: 'interop-1', lastModifiedDateTime: new Date().toISOString(), change: 'updated' },
  }), { 'Nats-Msg-Id': id, 'Content-Type': 'application/cloudevents+json' });
  await verifyWithEvery(keys, await peer.wait('/notifications',
    (d) => d.notificationType === 'RESOURCE_CHANGED' && d.providerId === pid), 'RESOURCE_CHANGED');

  const r3 = await call('DELETE', `/graph/v1beta1/drives/${drive}/items/${drive}/permissions/${perm}`);
  check(r3.status === 204, 'marie revokes the share: 204', `${r3.status} ${r3.body}`);
  await verifyWithEvery(keys, await peer.wait('/notifications',
    (d) => d.notificationType === 'SHARE_UNSHARED' && d.providerId === pid), 'SHARE_UNSHARED');

  const r4 = await call('POST', '/sciencemesh/accept-invite', { token: 'node-invite-1', providerDomain: peer.authority });
  check(r4.status === 200 || r4.status === 201, 'marie accepts an invitation of the peer: 2xx', `${r4.status} ${r4.body}`);
  await verifyWithEvery(keys, await peer.wait('/invite-accepted', (d) => d.token === 'node-invite-1'),
    'accepted invitation (POST /invite-accepted)');
}

// --- here -> Spaceport ---------------------------------------------------

function shareBody(peer, stack, name) {
  return {
    shareWith: `marie@${new URL(stack.url).host}`, name, providerId: crypto.randomUUID(),
    owner: `einstein@${peer.authority}`, sender: `einstein@${peer.authority}`,
    ownerDisplayName: 'Albert Einstein', senderDisplayName: 'Albert Einstein',
    shareType: 'user', resourceType: 'folder',
    protocol: { name: 'multi', webdav: { uri: crypto.randomUUID(), sharedSecret: crypto.randomBytes(32).toString('hex'), permissions: ['read'] } },
  };
}

/**
 * The library's signer for key, except for rsa-pss-sha512: the library's
 * own signs with Node's default PSS salt length (the largest the key
 * allows, 190 bytes for 2048 bits) where RFC 9421 section 3.3.1 says 64;
 * a verifier holding to exactly 64 refuses that (Spaceport takes any salt
 * length, and signs with 64). This one makes
 * the RSA signature itself with the RFC's parameters; the library still
 * builds the signature base and the headers. librarySigner: the library's
 * own regardless.
 */
function signer(key, keyid, librarySigner) {
  if (key.alg !== 'rsa-pss-sha512' || librarySigner) return createSigner(key.privateKey, key.alg, keyid);
  return {
    id: keyid, alg: key.alg,
    sign: async (data) => crypto.sign('sha512', data, { key: key.privateKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }),
  };
}

/**
 * A request signed by the library. opts: key (peer.ed or peer.rsa), keyid
 * (another than the key's), signedMethod / signedPath (what the signature
 * covers instead of what is sent), created (a Date), label, tag.
 */
async function signed(url, body, key, opts = {}) {
  const signedUrl = opts.signedPath ? new URL(opts.signedPath, url).href : url;
  const headers = { 'content-type': 'application/json', 'content-digest': digestOf(body), 'content-length': String(Buffer.byteLength(body)), ...(opts.headers || {}) };
  const params = ['created', 'keyid', 'alg', 'nonce', ...(opts.tag === null ? [] : ['tag'])];
  const result = await signMessage({
    key: signer(key, opts.keyid || key.id, opts.librarySigner),
    name: opts.label || 'sig1',
    fields: ['@method', '@target-uri', 'content-digest', 'content-length', 'content-type'],
    params,
    paramValues: { tag: opts.tag ?? 'ocm', nonce: crypto.randomBytes(12).toString('hex'), ...(opts.created ? { created: opts.created } : {}) },
  }, { method: opts.signedMethod || 'POST', url: signedUrl, headers });
  return result.headers;
}

async function peerSends(stack, peer, marieToken) {
  const shares = `${stack.url}/ocm/shares`;
  const notes = `${stack.url}/ocm/notifications`;
  const mountList = async () => JSON.parse((await send(`${stack.url}/graph/v1.0/me/drives`, { method: 'GET',
    headers: { Authorization: `Bearer ${marieToken}` } })).body).value.filter((d) => d.driveType === 'mountpoint');
  const mounts = async () => (await mountList()).length;

  const accepted = {};
  for (const key of [peer.ed, peer.rsa]) {
    const doc = shareBody(peer, stack, `Signed ${key.alg}`);
    const body = JSON.stringify(doc);
    const r = await send(shares, { headers: await signed(shares, body, key), body });
    check(r.status === 201 && JSON.parse(r.body).recipientDisplayName, `a share signed by the library with ${key.alg}: 201 with the recipient's name`, `${r.status} ${r.body}`);
    accepted[key.alg] = doc;
  }
  {
    // The library's own rsa-pss-sha512 signer (see signer()): its salt is
    // the largest the key allows, which Spaceport verifies as any other.
    const body = JSON.stringify(shareBody(peer, stack, 'Library salt length'));
    const r = await send(shares, { headers: await signed(shares, body, peer.rsa, { librarySigner: true }), body });
    check(r.status === 201, "a share signed by the library's own rsa-pss-sha512 signer (Node's default PSS salt length, 190 bytes, not RFC 9421's 64): 201", `${r.status} ${r.body}`);
    // Nor this: a valid signature without any tag (as instances signed
    // before OCM's profile); the contract takes the first one then.
    const untagged = JSON.stringify(shareBody(peer, stack, 'Untagged'));
    const u = await send(shares, { headers: await signed(shares, untagged, peer.ed, { tag: null }), body: untagged });
    diag(`a share validly signed without a tag: ${u.status} ${u.body}`);
  }
  // Spaceport, the recipient, tells the sender it took the share: signed too.
  const keys = await spaceportKeys(stack);
  await verifyWithEvery(keys, await peer.wait('/notifications',
    (d) => d.notificationType === 'SHARE_ACCEPTED' && d.providerId === accepted.ed25519.providerId), 'SHARE_ACCEPTED');
  {
    // ... and that its user removed it.
    const doc = shareBody(peer, stack, 'To decline');
    const body = JSON.stringify(doc);
    const r = await send(shares, { headers: await signed(shares, body, peer.ed), body });
    const space = (await mountList()).find((d) => d.name === 'To decline');
    const gone = space ? await send(`${stack.url}/graph/v1.0/drives/${space.id}`, { method: 'DELETE',
      headers: { Authorization: `Bearer ${marieToken}` } }) : { status: 0 };
    check(r.status === 201 && gone.status === 204, 'marie removes a share of the peer\'s: 204', `${r.status} ${gone.status}`);
    await verifyWithEvery(keys, await peer.wait('/notifications',
      (d) => d.notificationType === 'SHARE_DECLINED' && d.providerId === doc.providerId), 'SHARE_DECLINED');
  }

  const before = await mounts();
  const attacks = [];
  const attack = async (what, make) => {
    const doc = shareBody(peer, stack, `Forged ${what}`);
    const body = JSON.stringify(doc);
    const { url = shares, headers, sent = body } = await make(body, doc);
    const r = await send(url, { headers, body: sent });
    attacks.push(doc.name);
    check(r.status === 401, `refused with 401: ${what}`, `${r.status} ${r.body}`);
  };
  await attack('the body changed after signing', async (body) => ({
    headers: await signed(shares, body, peer.ed), sent: body.replace('Forged', 'Forgex') }));
  await attack('the body changed after signing, with a new Content-Digest', async (body) => {
    const sent = body.replace('Forged', 'Forgex');
    return { headers: { ...(await signed(shares, body, peer.ed)), 'content-digest': digestOf(sent) }, sent };
  });
  await attack('PUT signed, POST sent', async (body) => ({ headers: await signed(shares, body, peer.ed, { signedMethod: 'PUT' }) }));
  await attack('/ocm/notifications signed, /ocm/shares sent', async (body) => ({ headers: await signed(shares, body, peer.ed, { signedPath: '/ocm/notifications' }) }));
  await attack('signature bytes flipped', async (body) => {
    const h = await signed(shares, body, peer.ed);
    const sig = Buffer.from(h.Signature.match(/:(.*):/)[1], 'base64');
    sig[5] ^= 0x01;
    return { headers: { ...h, Signature: `sig1=:${sig.toString('base64')}:` } };
  });
  await attack('created an hour ago', async (body) => ({ headers: await signed(shares, body, peer.ed, { created: new Date(Date.now() - 3600 * 1000) }) }));
  await attack('created an hour ahead', async (body) => ({ headers: await signed(shares, body, peer.ed, { created: new Date(Date.now() + 3600 * 1000) }) }));
  await attack('signed by another ed25519 key under our keyid', async (body) => {
    const other = { ...peer.ed, privateKey: crypto.generateKeyPairSync('ed25519').privateKey };
    return { headers: await signed(shares, body, other) };
  });
  await attack('signed with the RSA key under the ed25519 keyid', async (body) => ({ headers: await signed(shares, body, peer.rsa, { keyid: peer.ed.id }) }));
  await attack('tag="ocm" stripped from Signature-Input after signing', async (body) => {
    const h = await signed(shares, body, peer.ed);
    return { headers: { ...h, 'Signature-Input': h['Signature-Input'].replace(';tag="ocm"', '') } };
  });
  await attack('two valid signatures tagged "ocm"', async (body) => {
    const first = await signed(shares, body, peer.ed);
    return { headers: await signed(shares, body, peer.rsa, { label: 'sig2', headers: { 'Signature-Input': first['Signature-Input'], Signature: first.Signature } }) };
  });
  await attack('no signature at all from a peer that signs', async () => ({ headers: { 'content-type': 'application/json' } }));
  {
    const doc = shareBody(peer, stack, 'Replayed');
    const body = JSON.stringify(doc);
    const headers = await signed(shares, body, peer.ed);
    const r1 = await send(shares, { headers, body });
    const r2 = await send(shares, { headers, body });
    check(r1.status === 201 && r2.status === 401, 'the same signed request a second time (a replay): 201, then 401', `${r1.status} ${r2.status} ${r2.body}`);
  }
  const after = await mounts();
  check(after === before + 1, `the refused requests created no remote space (marie has ${after - before} new: the replayed share only)`, `${before} -> ${after}`);

  // Notifications signed by the library, each key: accepted; a forged one is not.
  for (const key of [peer.rsa, peer.ed]) {
    const doc = accepted[key.alg];
    const body = JSON.stringify({ notificationType: 'SHARE_UNSHARED', resourceType: 'folder', providerId: doc.providerId,
      notification: { sharedSecret: doc.protocol.webdav.sharedSecret } });
    const forged = await send(notes, { headers: await signed(notes, body, key, { signedPath: '/ocm/shares' }), body });
    check(forged.status === 401, `SHARE_UNSHARED signed with ${key.alg} for another path: 401`, `${forged.status} ${forged.body}`);
    const r = await send(notes, { headers: await signed(notes, body, key), body });
    check(r.status === 201, `SHARE_UNSHARED signed by the library with ${key.alg}: 201`, `${r.status} ${r.body}`);
  }
  check(await mounts() === after - 2, 'both unshared remote spaces are gone', `${after} -> ${await mounts()}`);
}

async function main() {
  const peer = new Peer(await freePort());
  await peer.listen();
  const stack = new Stack({ name: 'ocm-interop', env: { SPACEPORT_TRUSTED_INSTANCES: peer.url } });
  let code = 1;
  try {
    await stack.start();
    const marie = await stack.signIn('marie');
    const me = await send(`${stack.url}/graph/v1.0/me`, { method: 'GET', headers: { Authorization: `Bearer ${marie}` } });
    check(me.status === 200, 'marie is known at Spaceport', me.body);
    await spaceportSends(stack, peer, marie);
    await peerSends(stack, peer, marie);
    await sleep(200);
    code = await stack.stop();
    check(code === 0, 'spaceport exits 0', code === 0 ? '' : stack.report());
  } catch (e) {
    notOk('the test ran to its end', e.stack);
    await stack.stop();
  } finally {
    await peer.close();
    stack.cleanup();
  }
  const { count, failed } = tapCounts();
  console.log(`1..${count}`);
  if (failed) diag(`${failed} of ${count} checks failed`);
  process.exit(failed ? 1 : 0);
}

main();
