#!/usr/bin/env node
// tests/browser/demo.mjs - the real demo in a real browser: runs
// examples/quickstart itself (the identity provider, Spaceport, nginx with
// WebDAV on the same origin, the storage watcher) with a temporary data
// directory and free ports, and drives it with Debian's chromium.
//
// First the README's "Files over WebDAV" steps run as written (curl, with
// the demo's URL), so that the README cannot drift from the demo. Then
// einstein signs in through the provider's login page and uploads a file
// into his personal space with the page's Upload control: a WebDAV PUT
// with his token, 201; the storage watcher's event reaches the page's live
// feed and moves the used bytes within 1 s. marie, without access, gets
// 403 from the WebDAV server; as a Viewer of a project space her PUT gets
// 403, as its Editor it succeeds. einstein shares his file with marie and
// her sharedWithMe shows its real name.
//
// Prints TAP; the first failing step ends the run. Screenshots go to
// tests/out/browser-demo/ (or $SPACEPORT_BROWSER_OUT); on a failure the
// quickstart's output and its programs' logs are shown.
//
// Environment: SPACEPORT_BIN (default build/spaceport), SPACEPORT_SOURCE_ROOT,
// CHROMIUM (default /usr/bin/chromium), SPACEPORT_BROWSER_OUT.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';

import {
  Check, ROOT, assert, baseEnv, diag, freePort, runMain, runSteps, sleep, tail,
} from '../lib/stack.mjs';
import {
  card, failureShots, findChromium, openPage, shot as screenshot, signIn,
} from '../lib/page.mjs';

const OUT = path.resolve(process.env.SPACEPORT_BROWSER_OUT || path.join(ROOT, 'tests', 'out', 'browser-demo'));
const BIN = path.resolve(process.env.SPACEPORT_BIN || path.join(ROOT, 'build', 'spaceport'));

// The promise: an upload shows in the feed and the used bytes
// within this time.
const LIVE_MS = 1000;
// The quickstart installs nothing here (tests/run did) and builds nothing
// (SPACEPORT_BIN), but may run `npm ci` for the identity provider.
const START_TIMEOUT_MS = 120000;
const STOP_TIMEOUT_MS = 20000;
const STEP_TIMEOUT_MS = 15000;
const DESKTOP = { width: 1280, height: 900 };
const SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99';
const SPACE_EDITOR = '58c63c02-1d89-4572-916a-870abc5a1b7d';
const VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5';
const PROJECT = 'Radioactivity';
const FILE = { name: 'mass–energy notes.txt', mimeType: 'text/plain', buffer: Buffer.from('E = mc²\n'.repeat(400)) };
// The README's steps: the shell block after this marker.
const README_MARK = '<!-- webdav-steps: tests/browser/demo.mjs runs this block -->';
const README_URL = 'http://127.0.0.1:9200';

const problems = []; // uncaught page errors and CSP violations
const shot = (page, name) => screenshot(page, OUT, name);

// --- the quickstart ---------------------------------------------------------

/** examples/quickstart in a process group of its own, its output in LOG. */
function startQuickstart(env, log) {
  const out = fs.openSync(log, 'a');
  const child = spawn(path.join(ROOT, 'examples', 'quickstart'), [], {
    env, cwd: ROOT, stdio: ['ignore', out, out], detached: true,
  });
  fs.closeSync(out);
  child.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? `signal ${signal}`));
  });
  child.on('error', () => {});
  // Whatever happens to this test, nothing of the demo outlives it.
  process.on('exit', () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  });
  return child;
}

function listening(addr) {
  const [host, port] = addr.split(':');
  return new Promise((resolve) => {
    const s = net.connect(Number(port), host, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** The user's access token as the page sends it to the API. */
function tokenOf(page) {
  return new Promise((resolve) => {
    const seen = (req) => {
      const auth = req.headers().authorization || '';
      if (req.url().includes('/graph/') && auth.startsWith('Bearer ')) {
        page.off('request', seen);
        resolve(auth.slice(7));
      }
    };
    page.on('request', seen);
  });
}

async function api(demo, token, method, apiPath, body) {
  const r = await fetch(`${demo.url}${apiPath}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, Accept: 'application/json',
      ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: r.status, json };
}

/** A WebDAV request made by the page itself, with its user's token. */
function davFromPage(page, method, url, token, body) {
  return page.evaluate(async ([m, u, t, b]) => {
    const r = await fetch(u, { method: m, headers: t ? { Authorization: `Bearer ${t}` } : {}, body: b });
    return r.status;
  }, [method, url, token, body]);
}

/** Bytes as the page shows them (web/app.js formatBytes). */
function formatBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 || v >= 100 ? 0 : 1)} ${units[i]}`;
}

/** The README's WebDAV steps, as a shell script. */
function readmeSteps() {
  const text = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const at = text.indexOf(README_MARK);
  assert(at >= 0, `README.md has no "${README_MARK}"`);
  const block = text.slice(at).match(/```sh\n([\s\S]*?)```/);
  assert(block, 'no ```sh block after the marker');
  return block[1];
}

// --- the steps --------------------------------------------------------------

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const launch = await findChromium(() => import('playwright-core'));
  if (!launch) return;

  // The data directory as the quickstart's user sees it; www-data (nginx's
  // workers and the watcher, when run as root) passes through its parent.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-demo-'));
  fs.chmodSync(dir, 0o711);
  const demo = {
    dir,
    data: path.join(dir, 'data'),
    log: path.join(dir, 'quickstart.log'),
    web: `127.0.0.1:${await freePort()}`,
    sp: `127.0.0.1:${await freePort()}`,
    idpPort: await freePort(),
  };
  demo.url = `http://${demo.web}`;
  demo.issuer = `http://127.0.0.1:${demo.idpPort}`;
  let browser;
  let qs;
  const ctx = {};
  const steps = [];
  const step = (name, fn) => steps.push({ name, fn });

  step('examples/quickstart starts the identity provider, Spaceport, nginx and the storage watcher', async () => {
    const t0 = Date.now();
    qs = startQuickstart({
      ...baseEnv(),
      WEB_ADDR: demo.web,
      SPACEPORT_HTTP_ADDR: demo.sp,
      IDP_PORT: String(demo.idpPort),
      SPACEPORT_DATA_DIR: demo.data,
      SPACEPORT_BIN: BIN,
    }, demo.log);
    for (;;) {
      if (tail(demo.log, 200).includes('Press Ctrl-C to stop')) break;
      if (qs.exitCode !== null || qs.signalCode !== null) throw new Check(`the quickstart exited:\n${tail(demo.log, 30)}`);
      if (Date.now() - t0 > START_TIMEOUT_MS) throw new Check(`not ready after ${START_TIMEOUT_MS} ms:\n${tail(demo.log, 30)}`);
      await sleep(100);
    }
    diag(`ready in ${Date.now() - t0} ms: ${demo.url} (Spaceport behind it on ${demo.sp})`);
    const printed = fs.readFileSync(demo.log, 'utf8');
    for (const want of [`Spaceport is running at ${demo.url}`, `${demo.url}/dav/spaces/<driveId>/`,
      'curl -T', 'examples/token einstein']) {
      assert(printed.includes(want), `the quickstart does not print "${want}":\n${printed}`);
    }
  });

  step('one origin: nginx serves the page, the configuration and the API, and names itself in them', async () => {
    const page = await fetch(`${demo.url}/`);
    assert(page.status === 200 && (await page.text()).includes('web/app.js'), `GET /: ${page.status}`);
    const config = await (await fetch(`${demo.url}/config.json`)).json();
    assert(config.issuer === demo.issuer, `config.json: ${JSON.stringify(config)}`);
    const ready = await fetch(`${demo.url}/readyz`);
    assert(ready.status === 200, `GET /readyz through nginx: ${ready.status}`);
    const anonymous = await fetch(`${demo.url}/dav/spaces/nothing/`, { method: 'PROPFIND' });
    assert(anonymous.status === 401, `PROPFIND without a token: ${anonymous.status}`);
  });

  step('the README\'s WebDAV steps, run as written with curl, give the outputs the README shows', async () => {
    const work = fs.mkdtempSync(path.join(dir, 'readme-'));
    fs.symlinkSync(path.join(ROOT, 'examples'), path.join(work, 'examples'));
    const script = readmeSteps();
    assert(script.includes(`URL=${README_URL}\n`), `the steps do not start from URL=${README_URL}`);
    const r = spawnSync('bash', ['-euo', 'pipefail', '-c', script.replace(`URL=${README_URL}\n`, `URL=${demo.url}\n`)], {
      cwd: work, encoding: 'utf8', timeout: 60000, stdio: ['ignore', 'pipe', 'pipe'], env: { ...baseEnv(), PATH: `/usr/bin:/bin:${process.env.PATH}` },
    });
    const out = r.stdout.trim().split('\n');
    diag(`README steps:\n${r.stdout}${r.stderr}`);
    assert(r.status === 0, `exit ${r.status}: ${r.stderr}`);
    // The steps print: the drive id and its used bytes (0), the PUT's
    // status, the PROPFIND's hrefs, the used bytes after the upload, and
    // marie's PUT's status.
    const [driveId, used0] = out[0].split(' ');
    const size = Buffer.byteLength('E = mc^2\n');
    assert(used0 === '0', `used bytes before: ${out[0]}`);
    assert(out[1] === '201', `einstein's PUT: ${out[1]}`);
    const hrefs = out.filter((l) => l.includes('<D:href>'));
    assert(hrefs.some((l) => l.endsWith('/relativity.txt</D:href>')), `PROPFIND: ${hrefs}`);
    assert(hrefs.every((l) => l.includes(`/dav/spaces/${encodeURIComponent(driveId)}`) || l.includes(`/dav/spaces/${driveId}`)),
      `hrefs outside the drive: ${hrefs}`);
    assert(out.at(-2) === String(size), `used bytes after the upload: ${out.at(-2)} (want ${size})`);
    assert(out.at(-1) === '403', `marie's PUT: ${out.at(-1)}`);
    ctx.readmeBytes = size;
  });

  step('chromium starts headless; einstein signs in through the identity provider\'s login page', async () => {
    browser = await launch();
    diag(`chromium ${browser.version()}`);
    ctx.e = await openPage(browser, 'einstein', problems, { viewport: DESKTOP, timeout: STEP_TIMEOUT_MS });
    const token = tokenOf(ctx.e);
    await signIn(ctx.e, demo, 'einstein', (label) => shot(ctx.e, `01-einstein-${label}`));
    ctx.eToken = await token;
  });

  step('his personal space shows its WebDAV URL on the page\'s origin and an Upload control', async () => {
    const personal = card(ctx.e, 'personal', 'Albert Einstein');
    await personal.waitFor();
    ctx.personalId = await personal.getAttribute('data-drive-id');
    ctx.davUrl = await personal.locator('.dav-url').inputValue();
    assert(ctx.davUrl === `${demo.url}/dav/spaces/${encodeURIComponent(ctx.personalId)}`
      || ctx.davUrl === `${demo.url}/dav/spaces/${ctx.personalId}`, `WebDAV URL ${ctx.davUrl}`);
    assert(await personal.locator('.upload label', { hasText: 'Upload file' }).isVisible(), 'no Upload control');
    ctx.quotaBefore = await personal.locator('.quota-text').textContent();
    assert(ctx.quotaBefore.startsWith(`${formatBytes(ctx.readmeBytes)} used`), `quota: ${ctx.quotaBefore}`);
    const propfind = await davFromPage(ctx.e, 'PROPFIND', `${ctx.davUrl}/`, ctx.eToken);
    assert(propfind === 207, `PROPFIND of his space: ${propfind}`);
    await shot(ctx.e, '02-einstein-spaces');
  });

  step(`einstein uploads a file with the page's Upload control: PUT with his token, 201; the feed and the used bytes follow within ${LIVE_MS} ms`, async () => {
    const e = ctx.e;
    const personal = card(e, 'personal', 'Albert Einstein');
    const before = await e.locator('#feed [data-type="item-changed"]').count();
    const put = e.waitForResponse((r) => r.request().method() === 'PUT');
    await personal.locator('input[type="file"]').setInputFiles(FILE);
    const response = await put;
    const t0 = Date.now();
    const req = response.request();
    assert(response.status() === 201, `PUT answered ${response.status()}`);
    assert(req.url() === `${ctx.davUrl}/${encodeURIComponent(FILE.name)}`, `PUT to ${req.url()}`);
    assert((await req.allHeaders()).authorization === `Bearer ${ctx.eToken}`, 'the PUT carried no bearer token of his');
    const used = ctx.readmeBytes + FILE.buffer.length;
    const feedItem = e.locator(`#feed [data-type="item-changed"][data-drive-id="${ctx.personalId}"]`);
    await Promise.all([
      e.waitForFunction((n) => document.querySelectorAll('#feed [data-type="item-changed"]').length > n,
        before, { timeout: LIVE_MS }).then(() => diag(`the feed shows the change: ${Date.now() - t0} ms after the PUT`)),
      personal.locator('.quota-text', { hasText: `${formatBytes(used)} used` }).waitFor({ timeout: LIVE_MS })
        .then(() => diag(`the used bytes moved to ${formatBytes(used)}: ${Date.now() - t0} ms after the PUT`)),
    ]);
    const elapsed = Date.now() - t0;
    assert(elapsed <= LIVE_MS, `took ${elapsed} ms`);
    const text = await feedItem.first().textContent();
    assert(/Something was added in “Albert Einstein”|Files changed in “Albert Einstein”/.test(text), `feed: ${text}`);
    ctx.itemId = await feedItem.first().getAttribute('data-item-id');
    assert(ctx.itemId && ctx.itemId !== ctx.personalId, `the event names no item: "${ctx.itemId}"`);
    const status = await personal.locator('.upload-status').textContent();
    assert(status.startsWith(`Uploaded ${FILE.name}`), `upload status: ${status}`);
    const me = await api(demo, ctx.eToken, 'GET', '/graph/v1.0/me/drive');
    assert(me.json?.quota?.used === used, `API quota.used ${me.json?.quota?.used}, want ${used}`);
    const back = await fetch(`${ctx.davUrl}/${encodeURIComponent(FILE.name)}`, { headers: { Authorization: `Bearer ${ctx.eToken}` } });
    assert(back.status === 200 && Buffer.from(await back.arrayBuffer()).equals(FILE.buffer), `GET back: ${back.status}`);
    await shot(e, '03-einstein-uploaded');
  });

  step('marie, with no access to his space, gets 403 from the WebDAV server (read and write)', async () => {
    ctx.m = await openPage(browser, 'marie', problems, { viewport: DESKTOP, timeout: STEP_TIMEOUT_MS });
    const token = tokenOf(ctx.m);
    await signIn(ctx.m, demo, 'marie');
    ctx.mToken = await token;
    const file = `${ctx.davUrl}/${encodeURIComponent(FILE.name)}`;
    for (const [method, body] of [['GET'], ['PROPFIND'], ['PUT', 'overwritten'], ['DELETE']]) {
      const status = await davFromPage(ctx.m, method, file, ctx.mToken, body);
      assert(status === 403, `marie's ${method}: ${status}`);
    }
    const again = await fetch(file, { headers: { Authorization: `Bearer ${ctx.eToken}` } });
    assert(Buffer.from(await again.arrayBuffer()).equals(FILE.buffer), 'the file changed');
    ctx.marieId = (await api(demo, ctx.mToken, 'GET', '/graph/v1.0/me')).json?.id;
    assert(ctx.marieId, 'marie has no id');
  });

  step(`as a Viewer of the project "${PROJECT}" marie's PUT gets 403; as its Editor her upload through the page succeeds`, async () => {
    const created = await api(demo, ctx.eToken, 'POST', '/graph/v1.0/drives', { name: PROJECT });
    assert(created.status === 201, `create: ${created.status} ${JSON.stringify(created.json)}`);
    const id = created.json.id;
    const root = `/graph/v1beta1/drives/${encodeURIComponent(id)}/root`;
    const invited = await api(demo, ctx.eToken, 'POST', `${root}/invite`,
      { recipients: [{ objectId: ctx.marieId }], roles: [SPACE_VIEWER] });
    assert(invited.status === 200, `invite: ${invited.status} ${JSON.stringify(invited.json)}`);
    const permId = invited.json.value[0].id;
    const m = ctx.m;
    const project = card(m, 'project', PROJECT);
    await m.locator('#reload').click();
    await project.waitFor();
    assert(await project.locator('.upload').count() === 0, 'a Viewer is offered the Upload control');
    const url = `${await project.locator('.dav-url').inputValue()}/viewer.txt`;
    const asViewer = await davFromPage(m, 'PUT', url, ctx.mToken, 'a viewer writes');
    assert(asViewer === 403, `the Viewer's PUT: ${asViewer}`);
    const read = await davFromPage(m, 'PROPFIND', url.replace(/viewer\.txt$/, ''), ctx.mToken);
    assert(read === 207, `the Viewer's PROPFIND: ${read}`);
    await shot(m, '04-marie-viewer');

    const patched = await api(demo, ctx.eToken, 'PATCH', `${root}/permissions/${encodeURIComponent(permId)}`,
      { roles: [SPACE_EDITOR] });
    assert(patched.status === 200, `PATCH: ${patched.status} ${JSON.stringify(patched.json)}`);
    await m.locator('#reload').click();
    await project.locator('.upload').waitFor();
    const put = m.waitForResponse((r) => r.request().method() === 'PUT');
    await project.locator('input[type="file"]').setInputFiles({ name: 'polonium.txt', mimeType: 'text/plain', buffer: Buffer.from('Po\n') });
    const response = await put;
    assert(response.status() === 201, `the Editor's PUT: ${response.status()}`);
    await project.locator('.upload-status', { hasText: 'Uploaded polonium.txt' }).waitFor();
    await project.locator('.quota-text', { hasText: '3 B used' }).waitFor();
    await shot(m, '05-marie-editor-uploaded');
  });

  step('einstein shares his file with marie: her sharedWithMe and her live feed name it as stored', async () => {
    const invited = await api(demo, ctx.eToken, 'POST',
      `/graph/v1beta1/drives/${encodeURIComponent(ctx.personalId)}/items/${encodeURIComponent(ctx.itemId)}/invite`,
      { recipients: [{ objectId: ctx.marieId }], roles: [VIEWER] });
    assert(invited.status === 200, `invite: ${invited.status} ${JSON.stringify(invited.json)}`);
    const shared = await api(demo, ctx.mToken, 'GET', '/graph/v1beta1/me/drive/sharedWithMe');
    const item = (shared.json?.value || []).find((i) => i.remoteItem?.id === ctx.itemId || i.id === ctx.itemId);
    assert(item, `sharedWithMe: ${JSON.stringify(shared.json)}`);
    assert(item.name === FILE.name, `its name: "${item.name}", want "${FILE.name}"`);
    const feed = await ctx.m.locator('#feed [data-type="share-created"]').first().textContent();
    assert(feed.includes(`“${FILE.name}” was shared with you`), `marie's feed: ${feed}`);
    await shot(ctx.m, '06-marie-shared-with-me');
  });

  step('no uncaught errors and no Content-Security-Policy violations in the pages', async () => {
    assert(problems.length === 0, problems.join('\n'));
  });

  step('SIGTERM to the quickstart stops all four programs', async () => {
    await browser.close();
    browser = null;
    process.kill(qs.pid, 'SIGTERM');
    let timer;
    const code = await Promise.race([qs.exited,
      new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS); })]);
    clearTimeout(timer);
    assert(code !== 'timeout', `still running after ${STOP_TIMEOUT_MS} ms`);
    for (const addr of [demo.web, demo.sp, `127.0.0.1:${demo.idpPort}`]) {
      assert(!(await listening(addr)), `${addr} still listens`);
    }
    const left = spawnSync('pgrep', ['-f', demo.data], { encoding: 'utf8' }).stdout.trim();
    assert(!left, `processes left: ${left}`);
  });

  try {
    await runSteps(steps, async () => {
      await failureShots(OUT, { einstein: ctx.e, marie: ctx.m });
      diag(`quickstart output:\n${tail(demo.log, 40)}`);
      for (const log of ['spaceport.log', 'nginx.log', 'nginx/error.log', 'storage-watcher.log', 'idp.log']) {
        diag(`${log}:\n${tail(path.join(demo.data, log), 15)}`);
      }
    });
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (qs && qs.exitCode === null) {
      try {
        process.kill(-qs.pid, 'SIGTERM');
      } catch {
        // gone already
      }
      await Promise.race([qs.exited, sleep(STOP_TIMEOUT_MS)]);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await runMain(main);
