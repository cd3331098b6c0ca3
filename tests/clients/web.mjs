// tests/clients/web.mjs - what the steps of tests/clients share: the
// clients of web-pkg's ClientService for one signed-in user, the TAP step
// that names a web call site, and the operations x libraries table.

import { Check, diag, notOk, ok } from '../lib/stack.mjs';

// --- the web's clients --------------------------------------------------

/** A step that cannot run because an earlier one failed. */
export class NotRun extends Error {}

export function need(value, what) {
  if (value === undefined || value === null) throw new NotRun(what);
  return value;
}

/**
 * The clients of web-pkg's ClientService (packages/web-pkg/src/services/
 * client/client.ts) for one signed-in user: the graph and ocs clients on
 * axios instances with the static headers and an interceptor adding the
 * dynamic ones, and httpAuthenticated (baseURL the server) for the settings
 * calls, which the web makes with axios directly. Also its initiatorId
 * and the access token (sseAuthenticated's fetch options take it).
 */
export function clients(mod, axios, serverUrl, token) {
  // One Initiator-ID per browser tab (ClientService's initiatorId, a uuid):
  // the SSE handlers skip the events whose initiatorid is their own.
  const initiatorId = crypto.randomUUID();
  const staticHeaders = { 'Initiator-ID': initiatorId, 'X-Requested-With': 'XMLHttpRequest' };
  const withAuth = (instance) => {
    instance.interceptors.request.use((config) => {
      Object.assign(config.headers, {
        'Accept-Language': 'en',
        'X-Request-ID': crypto.randomUUID(),
        Authorization: `Bearer ${token}`,
      });
      return config;
    });
    return instance;
  };
  return {
    initiatorId,
    token,
    graph: mod.graph.graph(serverUrl, withAuth(axios.create({ headers: staticHeaders }))),
    ocs: mod.ocs.ocs(serverUrl, withAuth(axios.create({ headers: staticHeaders }))),
    http: withAuth(axios.create({ baseURL: serverUrl, headers: staticHeaders })),
  };
}

/** What an axios error says: the request and the server's answer. */
export function describe(err) {
  if (err?.isAxiosError) {
    const c = err.config || {};
    const body = typeof err.response?.data === 'string' ? err.response.data : JSON.stringify(err.response?.data);
    return `${String(c.method).toUpperCase()} ${c.url}${c.params ? ` params ${JSON.stringify(c.params)}` : ''}`
      + ` -> ${err.response ? `${err.response.status} ${(body || '').slice(0, 600)}` : err.message}`;
  }
  return err?.stack || String(err);
}

// --- the steps ----------------------------------------------------------

// operation -> { library name -> 'pass' | 'FAIL' | 'not run' }; the steps
// of one row (the same call for each member) fail it when any fails.
const table = new Map();
const RANK = { 'not run': 0, pass: 1, FAIL: 2 };

function record(row, lib, result) {
  if (!table.has(row)) table.set(row, {});
  const cells = table.get(row);
  if (!cells[lib.name] || RANK[result] > RANK[cells[lib.name]]) cells[lib.name] = result;
}

/** One TAP line "<library>: <site>: <what>"; `row` names its table row
 * (default: the site's function and `what`). */
export async function step(lib, site, what, fn, row = what) {
  const op = `${site.split(' (')[0]}: ${row}`;
  const name = `${lib.name}: ${site}: ${what}`;
  try {
    await fn();
    ok(name);
    record(op, lib, 'pass');
  } catch (err) {
    if (err instanceof NotRun) {
      record(op, lib, 'not run');
      diag(`not run: ${name} (${err.message})`);
      return;
    }
    notOk(name, err instanceof Check ? err.message : describe(err));
    record(op, lib, 'FAIL');
  }
}

/** The operations x libraries table, as TAP comments. */
export function printTable(names) {
  const width = Math.max(...[...table.keys()].map((k) => k.length), 9);
  diag('');
  diag(`${'operation'.padEnd(width)} | ${names.join(' | ')}`);
  diag(`${'-'.repeat(width)}-|-${names.map((n) => '-'.repeat(n.length)).join('-|-')}`);
  for (const [op, cells] of table) {
    diag(`${op.padEnd(width)} | ${names.map((n) => (cells[n] || '-').padEnd(n.length)).join(' | ')}`);
  }
}
