// tests/lib/page.mjs - driving the web page with playwright-core: the
// steps every browser test shares (signing in through the demo identity
// provider's login page, finding a space's card, screenshots, watching for
// uncaught errors and Content-Security-Policy violations).

import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';

import { notOk } from './stack.mjs';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic',
];

/** A function that starts Debian's chromium (CHROMIUM) headless through
 * playwright-core, which load() imports (from the caller's folder, where
 * its node_modules are); null, after a failing TAP check that says what to
 * install, when either is missing. */
export async function findChromium(load) {
  let chromium;
  try {
    ({ chromium } = await load());
  } catch (err) {
    notOk('playwright-core is installed', `${err.message}\nrun: (cd tests/browser && npm ci)`);
    return null;
  }
  if (!fs.existsSync(CHROMIUM)) {
    notOk(`${CHROMIUM} exists`, 'install the Debian package chromium (tests/run does)');
    return null;
  }
  return () => chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** Records the page's uncaught errors and CSP violations in problems. */
export function watch(page, who, problems) {
  page.on('pageerror', (err) => problems.push(`${who}: uncaught ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text())) {
      problems.push(`${who}: ${msg.text()}`);
    }
  });
}

/** A page in a browser context of its own (its own cookies: another
 * user), with timeout as every wait's default; its uncaught errors and
 * CSP violations go to problems. */
export async function openPage(browser, who, problems, { viewport, timeout }) {
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(timeout);
  const page = await context.newPage();
  watch(page, who, problems);
  return page;
}

/** A full-page screenshot as DIR/NAME.png. */
export async function shot(page, dir, name) {
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}

/**
 * Signs USER (password = user name) in on the page at url through the
 * provider at issuer, and waits for the list of spaces and a live feed.
 * snap(label), when given, is called on the welcome and the login page.
 */
export async function signIn(page, { url, issuer }, user, snap = null) {
  await page.goto(`${url}/`);
  await page.locator('#sign-in').waitFor({ state: 'visible' });
  if (snap) await snap('welcome');
  await page.locator('#sign-in').click();
  await page.waitForURL(`${issuer}/**`);
  await page.locator('#username').fill(user);
  await page.locator('#password').fill(user);
  if (snap) await snap('idp-login');
  await page.locator('#submit').click();
  await page.waitForURL(`${url}/`);
  await page.locator('#view-app').waitFor({ state: 'visible' });
  await page.locator('#drives .drive').first().waitFor({ state: 'visible' });
  await page.locator('#feed-status[data-state="live"]').waitFor();
}

/** The card of the space of that type whose name contains name. */
export function card(page, type, name) {
  return page.locator(`#drives .drive[data-type="${type}"]`).filter({
    has: page.locator('.drive-name', { hasText: name }),
  });
}

/** Screenshots of each page still open (pages: who -> page), as
 * DIR/failure-WHO.png, and where each page was. */
export async function failureShots(dir, pages) {
  for (const [who, page] of Object.entries(pages)) {
    if (page && !page.isClosed()) {
      await page.screenshot({ path: path.join(dir, `failure-${who}.png`), fullPage: true }).catch(() => {});
      console.log(`# ${who}'s page at the failure: ${page.url()} (screenshot failure-${who}.png)`);
    }
  }
}
