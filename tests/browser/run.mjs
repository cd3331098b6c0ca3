#!/usr/bin/env node
// tests/browser/run.mjs - the web page in a real browser against the real
// programs: Debian's /usr/bin/chromium (headless) driven by playwright-core,
// a real nats-server, the demo identity provider (examples/idp) and
// `spaceport serve`, all on random loopback ports.
//
// einstein signs in through the provider's login page, sees his personal
// space, creates a project space and shares it with marie as Editor; marie
// signs in in a second browser context and sees it as a mountpoint; a
// storage change event published on the bus (examples/storage-change)
// reaches both pages' live feeds and the list within 2 s, without a reload.
//
// Prints TAP (`ok N - ...`, `not ok N - ...`, `1..N`); the first failing
// step ends the run (later steps depend on it) and the exit code is 1.
// Screenshots of every step go to tests/out/browser/ (or
// $SPACEPORT_BROWSER_OUT).
//
// Environment: SPACEPORT_BIN (default build/spaceport), SPACEPORT_SOURCE_ROOT,
// CHROMIUM (default /usr/bin/chromium), SPACEPORT_BROWSER_OUT.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';

import {
  AUDIENCE, Check, ROOT, Stack, assert, diag, runMain, runSteps, sleep, tail,
} from '../lib/stack.mjs';
import {
  card, failureShots, findChromium, openPage, shot as screenshot, signIn as signInPage,
} from '../lib/page.mjs';

const OUT = path.resolve(process.env.SPACEPORT_BROWSER_OUT || path.join(ROOT, 'tests', 'out', 'browser'));

const EDITOR = 'fb6c3e19-e378-47e5-b277-9732f9de6e21';
const PROJECT = 'Relativity';
// The live feed must show a storage change within this time.
const LIVE_MS = 2000;
// The access tokens live this long, so that the page refreshes silently
// during the run (at half the lifetime at the latest).
const TOKEN_TTL_S = 20;
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };
const STEP_TIMEOUT_MS = 15000;
const GIB = 1024 ** 3;

// --- the browser ------------------------------------------------------------

const problems = []; // uncaught page errors and CSP violations

const shot = (page, name) => screenshot(page, OUT, name);
const signIn = (page, stack, user, shotPrefix) => signInPage(page, stack, user,
  shotPrefix ? (label) => shot(page, `${shotPrefix}-${label}`) : null);

async function publishChange(stack, driveId, used) {
  const script = path.join(ROOT, 'examples', 'storage-change');
  const r = spawnSync('/usr/bin/python3', [script, driveId, '--nats', stack.natsUrl, '--used', String(used)],
    { encoding: 'utf8', timeout: 10000 });
  if (r.status !== 0) throw new Error(`examples/storage-change failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

// --- the steps --------------------------------------------------------------

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const launch = await findChromium(() => import('playwright-core'));
  if (!launch) return;

  const stack = new Stack({ name: 'browser', tokenTtl: TOKEN_TTL_S });
  let browser;
  const ctx = {};
  const steps = [];
  const step = (name, fn) => steps.push({ name, fn });

  step('the stack starts: nats-server, the identity provider and spaceport on loopback', async () => {
    const t0 = Date.now();
    await stack.start();
    diag(`started in ${Date.now() - t0} ms; spaceport ${stack.url}, issuer ${stack.issuer}`);
  });

  step('GET / serves the page: text/html, no-cache, ETag (304 on match), CSP', async () => {
    const r = await fetch(`${stack.url}/`);
    assert(r.status === 200, `status ${r.status}`);
    assert(r.headers.get('content-type') === 'text/html; charset=utf-8', `content-type ${r.headers.get('content-type')}`);
    assert(r.headers.get('cache-control') === 'no-cache', `cache-control ${r.headers.get('cache-control')}`);
    const etag = r.headers.get('etag');
    assert(/^"[0-9a-f]{20}"$/.test(etag || ''), `etag ${etag}`);
    const csp = r.headers.get('content-security-policy') || '';
    for (const part of ["default-src 'self'", `connect-src 'self' ${stack.issuer}`, "img-src 'self' data:",
      "style-src 'self'", "script-src 'self'", "frame-ancestors 'none'"]) {
      assert(csp.includes(part), `CSP lacks ${part}: ${csp}`);
    }
    assert((await r.text()).includes('<script type="module" src="web/app.js">'), 'the page loads web/app.js');
    const again = await fetch(`${stack.url}/`, { headers: { 'If-None-Match': etag } });
    assert(again.status === 304, `If-None-Match: status ${again.status}`);
    const types = { 'app.js': 'text/javascript; charset=utf-8', 'style.css': 'text/css; charset=utf-8', 'icon.svg': 'image/svg+xml' };
    for (const [file, type] of Object.entries(types)) {
      const f = await fetch(`${stack.url}/web/${file}`);
      assert(f.status === 200 && f.headers.get('content-type') === type, `${file}: ${f.status} ${f.headers.get('content-type')}`);
    }
    const missing = await fetch(`${stack.url}/web/missing.js`);
    assert(missing.status === 404 && (await missing.json()).error?.code, `missing file: ${missing.status}`);
  });

  step('GET /config.json names the issuer, the client and the audience', async () => {
    const r = await fetch(`${stack.url}/config.json`);
    const body = await r.json();
    assert(r.status === 200 && r.headers.get('cache-control') === 'no-cache' && r.headers.get('etag'),
      `status ${r.status}, headers ${JSON.stringify([...r.headers])}`);
    assert(body.issuer === stack.issuer && body.clientId === 'spaceport-web' && body.audience === AUDIENCE,
      JSON.stringify(body));
  });

  step('chromium starts headless', async () => {
    browser = await launch();
    diag(`chromium ${browser.version()}`);
    ctx.e = await openPage(browser, 'einstein', problems, { viewport: DESKTOP, timeout: STEP_TIMEOUT_MS });
    // Every token request of the page, to see the silent refresh.
    ctx.refreshes = 0;
    ctx.e.on('request', (req) => {
      if (req.url().startsWith(`${stack.issuer}/token`) && /grant_type=refresh_token/.test(req.postData() || '')) {
        ctx.refreshes++;
      }
    });
  });

  step('einstein signs in through the identity provider\'s login page', async () => {
    await signIn(ctx.e, stack, 'einstein', '01-einstein');
    assert(await ctx.e.locator('#account-name').textContent() === 'Albert Einstein', 'the header names him');
    assert(await ctx.e.locator('#account-role').isVisible(), 'his role is shown');
  });

  step('einstein sees his personal space with its quota and WebDAV URL', async () => {
    const personal = card(ctx.e, 'personal', 'Albert Einstein');
    await personal.waitFor();
    const dav = await personal.locator('.dav-url').inputValue();
    assert(dav.startsWith(`${stack.url}/dav/spaces/`), `WebDAV URL ${dav}`);
    assert(await personal.locator('.quota-text').isVisible(), 'the quota is shown');
    await shot(ctx.e, '02-einstein-spaces');
  });

  step(`einstein creates the project space "${PROJECT}" with a 1 GiB quota`, async () => {
    await ctx.e.locator('#create-panel').waitFor({ state: 'visible' });
    await ctx.e.getByLabel('Name', { exact: true }).fill(PROJECT);
    await ctx.e.getByLabel(/Quota in GiB/).fill('1');
    await ctx.e.getByRole('button', { name: 'Create space' }).click();
    const project = card(ctx.e, 'project', PROJECT);
    await project.waitFor();
    ctx.projectId = await project.getAttribute('data-drive-id');
    const quota = await project.locator('.quota-text').textContent();
    assert(/of 1\.0 GiB used/.test(quota), `quota text: ${quota}`);
    await shot(ctx.e, '03-project-created');
  });

  step('marie signs in in a second browser context and sees her personal space', async () => {
    ctx.m = await openPage(browser, 'marie', problems, { viewport: DESKTOP, timeout: STEP_TIMEOUT_MS });
    await signIn(ctx.m, stack, 'marie');
    await card(ctx.m, 'personal', 'Marie Curie').waitFor();
    assert(await ctx.m.locator('#account-role').textContent() === 'Space administrator', 'marie\'s role');
    assert(await card(ctx.m, 'mountpoint', PROJECT).count() === 0, 'nothing is shared with her yet');
    await ctx.m.evaluate(() => {
      window.noReloadMarker = 'still here';
    });
  });

  step('einstein shares the project with marie (found by searching "mar") as Editor', async () => {
    const e = ctx.e;
    await card(e, 'project', PROJECT).getByRole('button', { name: `Share ${PROJECT}` }).click();
    const dialog = e.locator('#share-dialog');
    await dialog.waitFor({ state: 'visible' });
    await e.getByLabel('Person').fill('mar');
    const marie = dialog.locator('.result', { hasText: 'Marie Curie' });
    await marie.waitFor();
    await marie.click();
    await e.getByLabel('Role').selectOption(EDITOR);
    await dialog.getByRole('button', { name: 'Share', exact: true }).click();
    const perm = dialog.locator('.permission', { hasText: 'Marie Curie' });
    await perm.waitFor();
    const text = await perm.textContent();
    assert(/Can edit/.test(text), `permission: ${text}`);
    await shot(e, '04-share-dialog');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'hidden' });
  });

  step('marie\'s page shows the share as a mountpoint, live, without a reload', async () => {
    const mount = card(ctx.m, 'mountpoint', PROJECT);
    await mount.waitFor();
    const meta = await mount.locator('.drive-meta').textContent();
    assert(/Shared by Albert Einstein/.test(meta) && /Can edit/.test(meta), `meta: ${meta}`);
    const feed = await ctx.m.locator('#feed [data-type="share-created"]').first().textContent();
    assert(feed.includes(`“${PROJECT}” was shared with you`), `feed: ${feed}`);
    assert(await ctx.m.evaluate(() => window.noReloadMarker) === 'still here', 'the page was not reloaded');
    await shot(ctx.m, '05-marie-mountpoint');
  });

  step('an invitation by email to someone not known yet is listed as pending', async () => {
    const e = ctx.e;
    await card(e, 'project', PROJECT).getByRole('button', { name: `Share ${PROJECT}` }).click();
    const dialog = e.locator('#share-dialog');
    await e.getByLabel('Person').fill('newton@example.org');
    await dialog.getByRole('button', { name: 'Invite newton@example.org by email' }).click();
    await dialog.getByRole('button', { name: 'Share', exact: true }).click();
    const perm = dialog.locator('.permission', { hasText: 'newton@example.org' });
    await perm.waitFor();
    const text = await perm.textContent();
    assert(/invited, not signed in yet/.test(text) && /Can view/.test(text), `permission: ${text}`);
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'hidden' });
  });

  step(`a storage change reaches both live feeds and the list within ${LIVE_MS} ms, without a reload`, async () => {
    const used = Math.round(0.8 * GIB);
    for (const p of [ctx.e, ctx.m]) {
      await p.locator('#feed-status[data-state="live"]').waitFor();
      await p.evaluate(() => {
        window.noReloadMarker = 'still here';
      });
    }
    const before = await ctx.e.locator('#feed [data-type="item-changed"]').count();
    const t0 = Date.now();
    await publishChange(stack, ctx.projectId, used);
    const project = card(ctx.e, 'project', PROJECT);
    await Promise.all([
      ctx.e.waitForFunction((n) => document.querySelectorAll('#feed [data-type="item-changed"]').length > n,
        before, { timeout: LIVE_MS }),
      ctx.m.locator('#feed [data-type="item-changed"]', { hasText: PROJECT }).first().waitFor({ timeout: LIVE_MS }),
      project.locator('.quota[data-state="nearing"]').waitFor({ timeout: LIVE_MS }),
    ]);
    const elapsed = Date.now() - t0;
    diag(`publish to both feeds and the list updated: ${elapsed} ms`);
    assert(elapsed <= LIVE_MS, `took ${elapsed} ms`);
    const quota = await project.locator('.quota-text').textContent();
    assert(/819 MiB of 1\.0 GiB used \(80 %\)/.test(quota) && /Nearly full/.test(quota), `quota: ${quota}`);
    const feedText = await ctx.e.locator('#feed [data-type="item-changed"]').first().textContent();
    assert(feedText.includes(`Files changed in “${PROJECT}”`), `feed: ${feedText}`);
    for (const p of [ctx.e, ctx.m]) {
      assert(await p.evaluate(() => window.noReloadMarker) === 'still here', 'the page was not reloaded');
    }
    await shot(ctx.e, '06-live-update');
    await shot(ctx.m, '07-marie-live-update');
  });

  step('registering a remote space shows the API\'s answer in words', async () => {
    const e = ctx.e;
    await e.getByRole('textbox', { name: 'WebDAV URL' }).fill('https://cloud.zurich.test/dav/spaces/4f1d/some/folder');
    await e.getByRole('button', { name: 'Register' }).click();
    const error = e.locator('#remote-error');
    const registered = card(e, 'mountpoint', 'folder');
    await Promise.race([error.waitFor({ state: 'visible' }), registered.waitFor()]);
    if (await error.isVisible()) {
      const text = await error.textContent();
      assert(text.length > 20 && !/undefined|\[object/.test(text), `error text: ${text}`);
      diag(`the API answered: ${text}`);
    } else {
      diag('the remote space was registered');
    }
    await shot(e, '08-remote-space');
  });

  step('at phone width the page fits the screen', async () => {
    await ctx.e.setViewportSize(PHONE);
    await sleep(200);
    const width = await ctx.e.evaluate(() => document.documentElement.scrollWidth);
    assert(width <= PHONE.width, `the page is ${width} px wide`);
    const button = await card(ctx.e, 'project', PROJECT).getByRole('button', { name: /Copy/ }).boundingBox();
    assert(button && button.x + button.width <= PHONE.width, `copy button at ${JSON.stringify(button)}`);
    await shot(ctx.e, '09-phone');
    await ctx.e.setViewportSize(DESKTOP);
  });

  step('the page refreshes its token silently before it expires and keeps working', async () => {
    // TOKEN_TTL_S gives a refresh at half the lifetime at the latest.
    const deadline = Date.now() + TOKEN_TTL_S * 1000;
    while (ctx.refreshes === 0 && Date.now() < deadline) await sleep(250);
    assert(ctx.refreshes > 0, 'no refresh request was seen');
    await ctx.e.locator('#feed-status[data-state="live"]').waitFor();
    await ctx.e.locator('#reload').click();
    await card(ctx.e, 'project', PROJECT).waitFor();
    assert(!(await ctx.e.locator('#banner').isVisible()), 'no session-expired banner');
    diag(`refresh requests so far: ${ctx.refreshes}`);
  });

  step('einstein removes marie\'s access; her page drops the mountpoint live', async () => {
    const e = ctx.e;
    await card(e, 'project', PROJECT).getByRole('button', { name: `Share ${PROJECT}` }).click();
    const dialog = e.locator('#share-dialog');
    const perm = dialog.locator('.permission', { hasText: 'Marie Curie' });
    await perm.waitFor();
    await perm.getByRole('button', { name: 'Remove access for Marie Curie' }).click();
    await perm.waitFor({ state: 'detached' });
    await dialog.getByRole('button', { name: 'Close' }).click();
    await ctx.m.locator('#feed [data-type="share-removed"]').first().waitFor();
    await card(ctx.m, 'mountpoint', PROJECT).waitFor({ state: 'detached' });
    await shot(ctx.m, '10-marie-share-removed');
  });

  step('when the provider has forgotten the session, the page says so and signs in again', async () => {
    const e = ctx.e;
    await stack.restartIdp();
    // The next silent refresh (at half the token's lifetime at the latest)
    // finds its refresh token unknown.
    const banner = e.locator('#banner');
    await banner.waitFor({ state: 'visible', timeout: TOKEN_TTL_S * 1000 });
    const text = await banner.textContent();
    assert(/session has expired/i.test(text), `banner: ${text}`);
    assert(await e.locator('#feed-status').getAttribute('data-state') === 'stopped', 'the feed stopped');
    await shot(e, '11-session-expired');
    await e.getByRole('button', { name: 'Sign in again' }).click();
    await e.waitForURL(`${stack.issuer}/**`);
    await e.locator('#username').fill('einstein');
    await e.locator('#password').fill('einstein');
    await e.locator('#submit').click();
    await e.waitForURL(`${stack.url}/`);
    await card(e, 'project', PROJECT).waitFor();
    await e.locator('#feed-status[data-state="live"]').waitFor();
    assert(!(await banner.isVisible()), 'the banner is gone');
  });

  step('a reload signs in again through the provider\'s session, without the form', async () => {
    const e = ctx.e;
    await e.reload();
    await e.waitForURL(`${stack.url}/`);
    await card(e, 'project', PROJECT).waitFor();
    await e.locator('#feed-status[data-state="live"]').waitFor();
  });

  step('no uncaught errors and no Content-Security-Policy violations in the pages', async () => {
    assert(problems.length === 0, problems.join('\n'));
  });

  step('spaceport stops cleanly (exit code 0)', async () => {
    await browser.close();
    browser = null;
    const code = await stack.stop();
    if (code !== 0) {
      throw new Check(`exit code ${code}:\n${stack.report()}`);
    }
  });

  try {
    await runSteps(steps, async () => {
      await failureShots(OUT, { einstein: ctx.e, marie: ctx.m });
      for (const child of [stack.sp, stack.idp]) {
        if (child) diag(`${child.name} log:\n${tail(child.log, 15)}`);
      }
    });
  } finally {
    if (browser) await browser.close().catch(() => {});
    await stack.stop().catch(() => {});
    stack.cleanup();
  }
}

await runMain(main);
