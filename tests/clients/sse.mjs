// tests/clients/sse.mjs - one browser tab's change stream, as the web apps
// open it: the library's own SSE client (`sse` of <library>/sse, an adapter
// over @microsoft/fetch-event-source bundled into the library) built as
// web-pkg's ClientService.sseAuthenticated builds it, with the listeners
// web-runtime's registerSSEEventListeners (container/bootstrap.ts) adds,
// each parsing the payload with ownCloud Web's eventSchema as its
// sseEventWrapper (container/sse/helpers.ts) does.

import { assert } from '../lib/stack.mjs';
import { makeEventSchema } from '../data/owncloud-web/sse-event-schema.mjs';

// "Within 1 s of the acting request": the latency asked of the change
// stream; an event is waited for longer, so that a late one is reported
// with its latency rather than as missing.
export const EVENT_WITHIN_MS = 1000;
const EVENT_WAIT_MS = 5000;

// The adapter is browser code: it fetches through `window.fetch`, retries
// with `window.setTimeout`, and on close removes a `document`
// visibilitychange listener (it opens with openWhenHidden, so it never
// adds one). Node has fetch, Event, MessageEvent and CustomEvent; only
// these two names are shimmed, with just what the adapter touches, once a
// tab is opened. Bundles that look for a browser when they load (axios:
// `typeof window`, `typeof document`) must be loaded before: run.mjs
// imports both libraries first. Our window.fetch also tells each tab how
// its stream was answered (by the X-Request-ID the tab sends), which the
// adapter itself does not check.
const answered = new Map();

function shimBrowser() {
  globalThis.window ??= {
    fetch: async (input, init) => {
      const r = await fetch(input, init);
      answered.get(init?.headers?.['X-Request-ID'])?.(r);
      return r;
    },
    setTimeout: (...args) => setTimeout(...args),
    clearTimeout: (...args) => clearTimeout(...args),
  };
  globalThis.document ??= { hidden: false, addEventListener() {}, removeEventListener() {} };
}

// ClientService's createFetchOptions (web-pkg services/client/client.ts):
// the same four headers in both apps. The adapter's fetch options replace
// the headers fetch-event-source sets, so neither Accept nor
// Last-Event-ID is sent.
function createFetchOptions(token, language) {
  return {
    headers: {
      Authorization: `Bearer ${token}`,
      'Accept-Language': language,
      'X-Request-ID': crypto.randomUUID(),
      'X-Requested-With': 'XMLHttpRequest',
    },
  };
}

let tabs = 0;
// Every tab opened: an open one keeps the process alive (its adapter
// reconnects, 30 s after the server went away, for ever).
const open = new Set();

/** Closes every tab still open. */
export function closeTabs() {
  for (const tab of open) tab.close();
}

/**
 * A tab of `username` signed in with `token`, on `serverUrl` (with its
 * trailing slash, ClientService's configStore.serverUrl). Each tab gets its
 * own instance of the library's sse module: `sse` keeps one adapter per
 * module, as a browser keeps one per tab. `events` collects every event
 * received: { topic, data (what eventSchema.parse returned), error (why it
 * threw), at (Date.now() on arrival) }.
 */
export async function openTab(lib, z, username, serverUrl, token) {
  shimBrowser();
  const url = import.meta.resolve(`${lib.pkg}/sse`);
  const mod = await import(`${url}?tab=${++tabs}`);
  const eventSchema = makeEventSchema(z);
  const tab = { username, events: [], errors: [], waiters: new Set() };
  const options = createFetchOptions(token, 'en');
  // Open: answered 200 with an event stream, as the first answer.
  tab.opened = new Promise((resolve, reject) => {
    answered.set(options.headers['X-Request-ID'], (r) => {
      answered.delete(options.headers['X-Request-ID']);
      if (r.status === 200 && (r.headers.get('content-type') || '').startsWith('text/event-stream')) {
        tab.open = true;
        resolve();
        return;
      }
      r.clone().text().then((body) => reject(new Error(`${username}'s stream: ${r.status}`
        + ` ${r.headers.get('content-type')} ${body.slice(0, 300)}`)), reject);
    });
  });
  tab.opened.catch(() => {});
  const source = mod.sse(serverUrl, options);
  tab.source = source;
  source.onerror = (e) => tab.errors.push(e.detail);
  // registerSSEEventListeners: one listener per message type.
  for (const topic of Object.values(mod.MESSAGE_TYPE)) {
    source.addEventListener(topic, (msg) => {
      const ev = { topic, raw: msg.data, at: Date.now() };
      try {
        ev.data = eventSchema.parse(JSON.parse(msg.data));
      } catch (e) {
        ev.error = e.message;
      }
      tab.events.push(ev);
      for (const w of tab.waiters) w();
    });
  }
  tab.close = () => {
    open.delete(tab);
    source.close();
  };
  open.add(tab);
  return tab;
}

/**
 * The first event of `topic` that arrived at `tab` at or after `since`
 * (a Date.now() value) and satisfies `match(data)`, waiting up to
 * `timeoutMs`. Resolves with the event and its latency (ms after `since`),
 * or null when none came in time.
 */
export function waitEvent(tab, topic, since, match, timeoutMs) {
  const find = () => tab.events.find((e) => e.topic === topic && e.at >= since && (e.error || match(e.data)));
  return new Promise((resolve) => {
    const found = find();
    if (found) {
      resolve({ event: found, latency: found.at - since });
      return;
    }
    let timer;
    const waiter = () => {
      const e = find();
      if (!e) return;
      clearTimeout(timer);
      tab.waiters.delete(waiter);
      resolve({ event: e, latency: e.at - since });
    };
    timer = setTimeout(() => {
      tab.waiters.delete(waiter);
      resolve(null);
    }, timeoutMs);
    tab.waiters.add(waiter);
  });
}

/** What a tab received since `since`, for a failure message. */
export function received(tab, since) {
  return JSON.stringify(tab.events.filter((e) => e.at >= since).map((e) => ({ topic: e.topic, raw: e.raw })));
}

/**
 * The event `topic` at `tab` about `want.itemid`, from the request started
 * at `t0`: asserts that it came within EVENT_WITHIN_MS, that ownCloud
 * Web's eventSchema accepts it, and that each field of `want` is in it
 * (affecteduserids: each id listed). Returns { event, latency }.
 */
export async function expectEvent(tab, topic, t0, want) {
  const got = await waitEvent(tab, topic, t0, (d) => d.itemid === want.itemid, EVENT_WAIT_MS);
  assert(got, `no ${topic} about ${want.itemid} within ${EVENT_WAIT_MS} ms; the tab received ${received(tab, t0)}`
    + `${tab.errors.length ? `; stream errors: ${tab.errors.map(String).join('; ')}` : ''}`);
  const { event, latency } = got;
  assert(!event.error, `eventSchema rejects ${event.raw}: ${event.error}`);
  for (const [key, value] of Object.entries(want)) {
    if (key === 'affecteduserids') {
      assert(value.every((id) => event.data.affecteduserids?.includes(id)), `affecteduserids lacks ${value}: ${event.raw}`);
    } else {
      assert(event.data[key] === value, `${key} is ${JSON.stringify(event.data[key])}, want ${JSON.stringify(value)}: ${event.raw}`);
    }
  }
  assert(latency <= EVENT_WITHIN_MS, `it came after ${latency} ms: ${event.raw}`);
  return got;
}
