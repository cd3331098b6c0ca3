// tests/lib/stack.mjs - what the Node tests (tests/browser, tests/clients)
// share: TAP output, child processes, and the stack they test against: a
// real nats-server, the demo identity provider (examples/idp) and
// `spaceport serve`, all on random loopback ports.
//
// Environment: SPACEPORT_BIN (default build/spaceport), SPACEPORT_SOURCE_ROOT.

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(process.env.SPACEPORT_SOURCE_ROOT || path.join(HERE, '..', '..'));
const BIN = path.resolve(process.env.SPACEPORT_BIN || path.join(ROOT, 'build', 'spaceport'));
const IDP_DIR = path.join(ROOT, 'examples', 'idp');

export const AUDIENCE = 'spaceport';
const START_TIMEOUT_MS = 30000;
// The provider answers within about a second; after this it is stuck.
const IDP_STALL_MS = 15000;
// The provider's client for the web page (examples/idp), and what it asks.
const CLIENT_ID = 'spaceport-web';
const SCOPE = 'openid profile email offline_access';
// Redirects and pages between the authorization request and the code: the
// login page, then one round each for login and consent.
const SIGN_IN_MAX_HOPS = 12;

// --- TAP --------------------------------------------------------------------

let count = 0;
let failed = 0;

/** How many checks were printed, and how many of them failed. */
export function tapCounts() {
  return { count, failed };
}

export function ok(name) {
  count++;
  console.log(`ok ${count} - ${name}`);
}

export function notOk(name, diag) {
  count++;
  failed++;
  console.log(`not ok ${count} - ${name}`);
  for (const line of String(diag ?? '').split('\n').slice(0, 100)) console.log(`#   ${line}`);
}

export function diag(text) {
  for (const line of String(text).split('\n')) console.log(`# ${line}`);
}

export class Check extends Error {}

/** Runs a test's main(), then prints the TAP plan and sets the exit code:
 * 1 when a check failed or none ran. */
export async function runMain(main) {
  await main().catch((err) => notOk('the test runner', err.stack || err));
  console.log(`1..${count}`);
  process.exitCode = failed || count === 0 ? 1 : 0;
}

/**
 * Runs steps ({name, fn} each) in order as TAP checks, with the time each
 * took; the first failing one ends the run (later steps depend on it),
 * after onFailure() has added its diagnostics.
 */
export async function runSteps(steps, onFailure) {
  for (const { name, fn } of steps) {
    const t0 = Date.now();
    try {
      await fn();
      ok(`${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (err) {
      notOk(name, err instanceof Check ? err.message : err.stack || err);
      await onFailure();
      return false;
    }
  }
  return true;
}

export function assert(cond, message) {
  if (!cond) throw new Check(message);
}

// --- processes --------------------------------------------------------------

const children = new Set();

// Ports are drawn below the kernel's ephemeral range: a port from
// listen(0) is one that an outgoing connection may take as its source port
// before the server we start binds it.
const portsGiven = new Set();
function ephemeralLow() {
  try {
    return Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

export async function freePort() {
  const low = Math.max(ephemeralLow(), 12000);
  for (let i = 0; i < 200; i++) {
    const port = 10000 + Math.floor(Math.random() * (low - 10000));
    if (portsGiven.has(port)) continue;
    const free = await new Promise((resolve) => {
      const srv = net.createServer();
      srv.on('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) {
      portsGiven.add(port);
      return port;
    }
  }
  throw new Error('no free port');
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function start(name, cmd, args, { env, cwd, log }) {
  const out = fs.openSync(log, 'a');
  const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  child.name = name;
  child.log = log;
  child.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? (signal ? `signal ${signal}` : null));
    });
  });
  child.on('error', () => {});
  children.add(child);
  return child;
}

export async function stop(child, timeoutMs = 15000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode;
  child.kill('SIGTERM');
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const code = await Promise.race([child.exited, late]);
  clearTimeout(timer);
  if (code === 'timeout') {
    child.kill('SIGKILL');
    return child.exited;
  }
  return code;
}

function killAll() {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone already
    }
  }
}

process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAll();
    process.exit(1);
  });
}

export function tail(file, n = 25) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

export async function waitFor(what, fn, timeoutMs, child) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`${child.name} exited (${child.exitCode ?? child.signalCode}):\n${tail(child.log)}`);
    }
    try {
      if (await fn()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} did not answer within ${timeoutMs} ms${child ? `:\n${tail(child.log)}` : ''}`);
    }
    await sleep(50);
  }
}

export function baseEnv() {
  const env = { PATH: process.env.PATH || '/usr/bin:/bin', HOME: process.env.HOME || os.tmpdir() };
  for (const key of ['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS']) {
    if (process.env[key]) env[key] = process.env[key];
  }
  return env;
}

/** `npm ci` in examples/idp when node_modules is missing or older than the lock. */
function ensureIdpPackages() {
  const lock = path.join(IDP_DIR, 'package-lock.json');
  const marker = path.join(IDP_DIR, 'node_modules', '.package-lock.json');
  if (fs.existsSync(marker) && fs.statSync(marker).mtimeMs >= fs.statSync(lock).mtimeMs) return;
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: IDP_DIR, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm ci in examples/idp failed:\n${r.stderr}`);
}

/**
 * The programs under test. Options: name (the temporary directory's
 * prefix), tokenTtl (the access tokens' lifetime in seconds), users (the
 * provider's users, replacing its demo users: a list as IDP_USERS reads it),
 * env (more of spaceport's environment, e.g. SPACEPORT_TRUSTED_INSTANCES).
 */
export class Stack {
  constructor({ name = 'stack', tokenTtl = 900, users = null, env = {} } = {}) {
    this.name = name;
    this.tokenTtl = tokenTtl;
    this.users = users;
    this.env = env;
  }

  async start() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `sp-${this.name}-`));
    if (this.users) {
      this.usersFile = path.join(this.dir, 'idp-users.json');
      fs.writeFileSync(this.usersFile, JSON.stringify(this.users));
    }
    const [natsPort, idpPort, spPort] = [await freePort(), await freePort(), await freePort()];
    this.natsUrl = `nats://127.0.0.1:${natsPort}`;
    this.issuer = `http://127.0.0.1:${idpPort}`;
    this.url = `http://127.0.0.1:${spPort}`;

    fs.mkdirSync(path.join(this.dir, 'nats'));
    this.nats = start('nats-server', 'nats-server',
      ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', path.join(this.dir, 'nats')],
      { env: baseEnv(), log: path.join(this.dir, 'nats.log') });

    ensureIdpPackages();
    this.idpPort = idpPort;
    this.startIdp();
    await waitFor('nats-server', () => new Promise((resolve) => {
      const s = net.connect(natsPort, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    }), START_TIMEOUT_MS, this.nats);
    await this.idpReady();

    this.sp = start('spaceport', BIN, ['serve'], {
      log: path.join(this.dir, 'spaceport.log'),
      env: {
        ...baseEnv(),
        SPACEPORT_HTTP_ADDR: `127.0.0.1:${spPort}`,
        SPACEPORT_DATA_DIR: path.join(this.dir, 'data'),
        SPACEPORT_NATS_URL: this.natsUrl,
        SPACEPORT_OIDC_ISSUERS: this.issuer,
        SPACEPORT_OIDC_AUDIENCE: AUDIENCE,
        SPACEPORT_LOG_LEVEL: 'info',
        ...this.env,
      },
    });
    await waitFor('spaceport /readyz', async () => (await fetch(`${this.url}/readyz`)).ok,
      START_TIMEOUT_MS, this.sp);
    return this;
  }

  /** The identity provider; it keeps its key in the data directory but
   * sessions, grants and refresh tokens only in memory. */
  startIdp() {
    // SIGUSR2 makes node write a diagnostic report (its JavaScript and
    // native stacks): what a provider that does not answer is doing.
    this.reports = path.join(this.dir, 'idp-reports');
    fs.mkdirSync(this.reports, { recursive: true });
    const args = ['--report-on-signal', '--report-signal=SIGUSR2', `--report-directory=${this.reports}`,
      path.join(IDP_DIR, 'server.mjs')];
    this.idp = start('identity provider', process.execPath, args, {
      cwd: IDP_DIR,
      log: path.join(this.dir, 'idp.log'),
      env: {
        ...baseEnv(),
        IDP_PORT: String(this.idpPort),
        IDP_ISSUER: this.issuer,
        IDP_DATA_DIR: path.join(this.dir, 'idp'),
        IDP_AUDIENCE: AUDIENCE,
        IDP_REDIRECT_URIS: `${this.url}/`,
        IDP_ACCESS_TOKEN_TTL: String(this.tokenTtl),
        ...(this.usersFile ? { IDP_USERS: this.usersFile } : {}),
      },
    });
  }

  /**
   * Waits for the provider's discovery document. A provider that has not
   * answered after IDP_STALL_MS is reported (its stacks and thread states,
   * as diagnostics) and started once more: it normally answers within a
   * second, and a rare start-up stall of Node must not pass for a failure
   * of the page.
   */
  async idpReady() {
    const ready = async () => (await fetch(`${this.issuer}/.well-known/openid-configuration`)).ok;
    try {
      await waitFor('the identity provider', ready, IDP_STALL_MS, this.idp);
      return;
    } catch (err) {
      if (this.idp.exitCode !== null || this.idp.signalCode !== null) throw err;
      diag(`the identity provider did not answer within ${IDP_STALL_MS} ms; what it was doing:`);
      diag(await this.idpDiagnostics());
    }
    await stop(this.idp);
    this.startIdp();
    await waitFor('the identity provider (second start)', ready, START_TIMEOUT_MS, this.idp);
  }

  /** Thread states of the provider and the top of its stacks, as text. */
  async idpDiagnostics() {
    const pid = this.idp.pid;
    const lines = [];
    try {
      for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
        const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const wchan = fs.readFileSync(`/proc/${pid}/task/${tid}/wchan`, 'utf8');
        const [, comm, state] = stat.match(/\((.*)\) (\S)/) || [];
        lines.push(`thread ${tid} ${comm} state ${state} wchan ${wchan || '-'}`);
      }
    } catch (e) {
      lines.push(`no /proc view: ${e.message}`);
    }
    this.idp.kill('SIGUSR2');
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline) {
      const files = fs.existsSync(this.reports) ? fs.readdirSync(this.reports) : [];
      if (files.length) {
        try {
          const report = JSON.parse(fs.readFileSync(path.join(this.reports, files[0]), 'utf8'));
          lines.push('javascript stack:', ...(report.javascriptStack?.stack || []).slice(0, 15));
          lines.push('native stack:', ...(report.nativeStack || []).slice(0, 15).map((f) => f.symbol));
          break;
        } catch {
          // still being written
        }
      }
      await sleep(100);
    }
    lines.push(`log:\n${tail(this.idp.log, 10)}`);
    return lines.join('\n');
  }

  /** Restarts the provider: every session and refresh token is gone. */
  async restartIdp() {
    await stop(this.idp);
    this.startIdp();
    await this.idpReady();
  }

  async stop() {
    const code = await stop(this.sp, 30000);
    await stop(this.idp);
    await stop(this.nats);
    return code;
  }

  /**
   * Signs a user in through the provider's login page as a browser does
   * (authorization code with PKCE, the page's client and redirect URI, its
   * cookies kept between the requests), without a browser. Returns the
   * access token. Throws when the provider does not end at the redirect
   * URI with a code (a wrong password stays on the login page).
   */
  async signIn(username, password = username) {
    const jar = new Map();
    const send = async (url, init = {}) => {
      const headers = { ...(init.headers || {}) };
      if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      const r = await fetch(url, { ...init, headers, redirect: 'manual' });
      for (const cookie of r.headers.getSetCookie()) {
        const [pair, ...attrs] = cookie.split(';');
        const eq = pair.indexOf('=');
        const name = pair.slice(0, eq).trim();
        const value = pair.slice(eq + 1).trim();
        const expires = attrs.find((a) => /^\s*expires=/i.test(a));
        if (!value || (expires && Date.parse(expires.split('=')[1]) < Date.now())) jar.delete(name);
        else jar.set(name, value);
      }
      return r;
    };
    const verifier = crypto.randomBytes(32).toString('base64url');
    const redirectUri = `${this.url}/`;
    let url = `${this.issuer}/auth?${new URLSearchParams({
      client_id: CLIENT_ID,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: SCOPE,
      state: crypto.randomBytes(8).toString('base64url'),
      code_challenge: crypto.createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    })}`;
    let r = await send(url);
    for (let hop = 0; hop < SIGN_IN_MAX_HOPS; hop++) {
      if (r.status >= 300 && r.status < 400) {
        url = new URL(r.headers.get('location'), url).href;
        if (url.startsWith(redirectUri)) return this.#redeem(new URL(url), redirectUri, verifier);
        r = await send(url);
      } else if (r.status === 200 && /^\/interaction\/[A-Za-z0-9_-]+$/.test(new URL(url).pathname)) {
        await r.text();
        url = `${url}/login`;
        r = await send(url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ username, password }),
        });
      } else {
        break;
      }
    }
    throw new Error(`${username} was not signed in: ${r.status} at ${url}: ${(await r.text()).slice(0, 300)}`);
  }

  async #redeem(redirect, redirectUri, verifier) {
    const code = redirect.searchParams.get('code');
    if (!code) throw new Error(`the provider answered ${redirect.search}`);
    const r = await fetch(`${this.issuer}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: CLIENT_ID,
        code_verifier: verifier,
      }),
    });
    const body = await r.json();
    if (!r.ok || !body.access_token) throw new Error(`token request: ${r.status} ${JSON.stringify(body)}`);
    return body.access_token;
  }

  /** What spaceport wrote last, without its JSON log lines: a sanitizer's
   * report when it did not exit cleanly. */
  report(lines = 80) {
    return fs.readFileSync(path.join(this.dir, 'spaceport.log'), 'utf8').split('\n')
      .filter((line) => !line.startsWith('{"time"')).slice(-lines).join('\n');
  }

  cleanup() {
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

