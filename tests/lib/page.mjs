// tests/lib/page.mjs - driving the web page with playwright-core: the
// steps every browser test shares (signing in through the demo identity
// provider's login page, finding a space's card, screenshots, watching for
// uncaught errors and Content-Security-Policy violations).

import path from 'node:path';

/** Records the page's uncaught errors and CSP violations in problems. */
export function watch(page, who, problems) {
  page.on('pageerror', (err) => problems.push(`${who}: uncaught ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy/i.test(msg.text())) {
      problems.push(`${who}: ${msg.text()}`);
    }
  });
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
