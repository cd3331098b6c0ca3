// Demo OpenID Connect provider for Spaceport.
//
// Issues JWT access tokens for the registry's audience (resource indicators)
// to a public browser client, `spaceport-web` (authorization code + PKCE).
// Users log in on a small HTML page; consent is given automatically.
//
// Configuration (environment):
//   IDP_PORT            listen port (default 9201)
//   IDP_HOST            listen address (default 127.0.0.1)
//   IDP_ISSUER          issuer URL (default http://127.0.0.1:<port>)
//   IDP_DATA_DIR        where the signing keys live, idp-jwks.json (default ./data)
//   IDP_AUDIENCE        the registry's audience, the `aud` of access tokens (default spaceport)
//   IDP_RESOURCE        resource indicator for that audience (default: the audience when it
//                       is an absolute URI, else urn:<audience>)
//   IDP_REDIRECT_URIS   comma list of the web page's URLs (default http://127.0.0.1:9200/)
//   IDP_USERS           optional JSON file replacing the demo users
//   IDP_ACCESS_TOKEN_TTL  access token lifetime in seconds (default 900)
//
// Not for production: everything but the keys is kept in memory.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import process from 'node:process';

import Provider from 'oidc-provider';

const CLIENT_ID = 'spaceport-web';
const GRANTED_SCOPES = 'openid profile email offline_access';

function fail(message) {
  process.stderr.write(`idp: ${message}\n`);
  process.exit(2);
}

function log(message) {
  process.stdout.write(`${new Date().toISOString()} idp: ${message}\n`);
}

// --- configuration ----------------------------------------------------------

const env = process.env;
const port = Number.parseInt(env.IDP_PORT || '9201', 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail('IDP_PORT must be a port number');
const host = env.IDP_HOST || '127.0.0.1';
const issuer = env.IDP_ISSUER || `http://127.0.0.1:${port}`;
if (!URL.parse(issuer)) fail(`IDP_ISSUER is not a URL: ${issuer}`);
const dataDir = env.IDP_DATA_DIR || './data';
const audience = env.IDP_AUDIENCE || 'spaceport';
const resource = env.IDP_RESOURCE || (isAbsoluteUri(audience) ? audience : `urn:${audience}`);
if (!isAbsoluteUri(resource) || resource.includes('#')) fail(`IDP_RESOURCE is not an absolute URI: ${resource}`);
const redirectUris = (env.IDP_REDIRECT_URIS || 'http://127.0.0.1:9200/')
  .split(',').map((s) => s.trim()).filter(Boolean);
for (const uri of redirectUris) {
  if (!URL.parse(uri)) fail(`IDP_REDIRECT_URIS: not a URL: ${uri}`);
}
const accessTokenTtl = Number.parseInt(env.IDP_ACCESS_TOKEN_TTL || '900', 10);
if (!Number.isInteger(accessTokenTtl) || accessTokenTtl < 1) fail('IDP_ACCESS_TOKEN_TTL must be a positive number of seconds');
const allowedOrigins = new Set(redirectUris.map((uri) => new URL(uri).origin));

function isAbsoluteUri(value) {
  const url = URL.parse(value);
  return !!url && /^[a-z][a-z0-9+.-]*:$/i.test(url.protocol);
}

// --- users ------------------------------------------------------------------

const demoUsers = [
  {
    username: 'einstein', password: 'einstein', name: 'Albert Einstein',
    email: 'einstein@example.org', email_verified: true, roles: ['spaceport-admin'],
    groups: ['physics-lovers', 'sailing-lovers'],
  },
  {
    username: 'marie', password: 'marie', name: 'Marie Curie',
    email: 'marie@example.org', email_verified: true, roles: ['spaceport-spaceadmin'],
    groups: ['radium-lovers', 'physics-lovers'],
  },
  {
    username: 'richard', password: 'richard', name: 'Richard Feynman',
    email: 'richard@example.org', email_verified: true, roles: [],
    groups: ['sailing-lovers'],
  },
  {
    username: 'katherine', password: 'katherine', name: 'Katherine Johnson',
    email: 'katherine@example.org', email_verified: true, roles: [],
    groups: ['physics-lovers'],
  },
];

function loadUsers() {
  let list = demoUsers;
  if (env.IDP_USERS) {
    let parsed;
    try {
      parsed = JSON.parse(fs.readFileSync(env.IDP_USERS, 'utf8'));
    } catch (e) {
      fail(`IDP_USERS: cannot read ${env.IDP_USERS}: ${e.message}`);
    }
    // Either a list of users or an object keyed by user name.
    list = Array.isArray(parsed)
      ? parsed
      : Object.entries(parsed || {}).map(([username, u]) => ({ username, ...u }));
  }
  const users = new Map();
  for (const u of list) {
    if (!u || typeof u.username !== 'string' || !u.username || typeof u.password !== 'string') {
      fail('IDP_USERS: every user needs a "username" and a "password" string');
    }
    users.set(u.username, {
      sub: typeof u.sub === 'string' && u.sub ? u.sub : u.username,
      username: u.username,
      password: u.password,
      name: u.name || u.username,
      email: u.email,
      email_verified: u.email ? u.email_verified !== false : undefined,
      roles: Array.isArray(u.roles) ? u.roles.map(String) : [],
      groups: Array.isArray(u.groups) ? u.groups.map(String) : [],
    });
  }
  if (!users.size) fail('IDP_USERS: no users');
  return users;
}

const users = loadUsers();
const usersBySub = new Map([...users.values()].map((u) => [u.sub, u]));

function checkPassword(username, password) {
  const user = users.get(username);
  // Compare digests so the time does not depend on where the strings differ.
  const a = crypto.createHash('sha256').update(String(password)).digest();
  const b = crypto.createHash('sha256').update(user ? user.password : crypto.randomUUID()).digest();
  return crypto.timingSafeEqual(a, b) && user ? user : null;
}

function userClaims(user) {
  const claims = {
    preferred_username: user.username,
    name: user.name,
    roles: user.roles,
    // oCIS demo style: group names, read by SPACEPORT_GROUPS_CLAIM.
    groups: user.groups,
  };
  if (user.email) {
    claims.email = user.email;
    claims.email_verified = user.email_verified;
  }
  return claims;
}

// --- keys -------------------------------------------------------------------

function loadOrCreateKeys() {
  const file = path.join(dataDir, 'idp-jwks.json');
  try {
    const jwks = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (!Array.isArray(jwks.keys) || !jwks.keys.length) fail(`${file}: no keys`);
    return jwks;
  } catch (e) {
    if (e.code !== 'ENOENT') fail(`cannot read ${file}: ${e.message}`);
  }
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  // RFC 7638 thumbprint as the key id.
  const thumb = crypto.createHash('sha256')
    .update(JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n })).digest('base64url');
  const jwks = { keys: [{ ...jwk, kid: thumb, alg: 'RS256', use: 'sig' }] };
  fs.mkdirSync(dataDir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
  log(`generated signing key ${thumb} in ${file}`);
  return jwks;
}

// --- the provider -----------------------------------------------------------

const configuration = {
  clients: [{
    client_id: CLIENT_ID,
    client_name: 'Spaceport',
    application_type: 'web',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: redirectUris,
    post_logout_redirect_uris: redirectUris,
  }],
  jwks: loadOrCreateKeys(),
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'roles', 'groups'],
    email: ['email', 'email_verified'],
  },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  pkce: { required: () => true },
  clientBasedCORS(ctx, origin, client) {
    return client.clientId === CLIENT_ID && allowedOrigins.has(origin);
  },
  async findAccount(ctx, sub) {
    const user = usersBySub.get(sub);
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, ...userClaims(user) };
      },
    };
  },
  // A refresh token for every code exchange of a client allowed to refresh,
  // not only with offline_access (which OpenID Connect honours only together
  // with prompt=consent): the web page refreshes silently with it. Without
  // offline_access it ends with the login session.
  async issueRefreshToken(ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  async extraTokenClaims(ctx, token) {
    const user = usersBySub.get(token.accountId);
    return user ? userClaims(user) : undefined;
  },
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => resource,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, indicator) => {
        if (indicator !== resource) throw new Provider.errors.InvalidTarget();
        return {
          scope: '',
          audience,
          accessTokenTTL: accessTokenTtl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        ctx.body = page('Sign out', `<h1>Sign out</h1>
${form}<p>Sign out of the demo identity provider?</p>
<button form="op.logoutForm" type="submit" name="logout" value="yes">Sign out</button>
<button form="op.logoutForm" type="submit">Stay signed in</button>`);
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = page('Signed out', '<h1>Signed out</h1><p>You are signed out.</p>');
      },
    },
  },
  ttl: {
    AccessToken: accessTokenTtl,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 3600,
    Grant: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
    RefreshToken: 14 * 24 * 3600,
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    const rows = Object.entries(out)
      .map(([k, v]) => `<p><b>${escapeHtml(k)}</b>: ${escapeHtml(v)}</p>`).join('');
    ctx.body = page('Error', `<h1>Something went wrong</h1>${rows}`);
  },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (ctx, err) => log(`server error: ${err.stack || err}`));

// --- interactions: login page and automatic consent -------------------------

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

function page(title, body) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Spaceport demo identity provider</title>
<style>
body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;display:flex;justify-content:center}
main{background:#fff;margin:8vh 1rem;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002;width:100%;max-width:22rem}
h1{font-size:1.3rem;margin-top:0}label{display:block;margin:.8rem 0 .3rem}
input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem}
button{margin-top:1.2rem;padding:.6rem 1rem;font-size:1rem;cursor:pointer}
.error{background:#fde8e8;color:#9b1c1c;padding:.6rem;border-radius:4px}
.hint{color:#666;font-size:.85rem;margin-top:1.5rem}
</style></head><body><main>${body}</main></body></html>`;
}

function loginPage(uid, { username = '', error = '' } = {}) {
  const names = [...users.keys()].map(escapeHtml).join(', ');
  return page('Sign in', `<h1>Sign in to Spaceport</h1>
${error ? `<p class="error" id="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
<label for="username">User name</label>
<input id="username" name="username" required autofocus value="${escapeHtml(username)}">
<label for="password">Password</label>
<input id="password" name="password" type="password" required>
<button id="submit" type="submit">Sign in</button>
</form>
<p><a href="/interaction/${escapeHtml(uid)}/abort">Cancel</a></p>
<p class="hint">Demo users: ${names} (the password is the user name).</p>`);
}

function send(res, status, html) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Frame-Options': 'DENY',
    // No form-action: browsers apply it to the redirects after the login
    // form too, and those end at the web page's origin.
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  });
  res.end(html);
}

function readForm(req, limit = 16 * 1024) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error('form too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

async function autoConsent(req, res, details) {
  const { grantId, session, params, prompt } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  grant.addOIDCScope(GRANTED_SCOPES);
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  grant.addResourceScope(resource, '');
  for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const result = { consent: { grantId: await grant.save() } };
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

async function interaction(req, res, url) {
  const m = url.pathname.match(/^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|abort))?\/?$/);
  if (!m) return send(res, 404, page('Not found', '<h1>Not found</h1>'));
  const [, uid, action] = m;
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch {
    return send(res, 400, page('Sign-in expired', `<h1>Sign-in expired</h1>
<p>This sign-in request is no longer valid. Go back to the application and sign in again.</p>`));
  }
  if (details.uid !== uid) return send(res, 400, page('Error', '<h1>Wrong sign-in request</h1>'));

  if (action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
  }

  if (details.prompt.name === 'consent') {
    if (req.method !== 'GET') return send(res, 405, page('Error', '<h1>Method not allowed</h1>'));
    return autoConsent(req, res, details);
  }
  if (details.prompt.name !== 'login') {
    return send(res, 501, page('Error', '<h1>Unsupported prompt</h1>'));
  }
  if (action !== 'login' || req.method !== 'POST') {
    if (req.method !== 'GET') return send(res, 405, page('Error', '<h1>Method not allowed</h1>'));
    return send(res, 200, loginPage(uid, { username: details.params.login_hint || '' }));
  }

  const form = await readForm(req);
  const username = (form.get('username') || '').trim();
  const user = checkPassword(username, form.get('password') || '');
  if (!user) {
    log(`login failed user=${JSON.stringify(username)} client=${details.params.client_id}`);
    return send(res, 200, loginPage(uid, { username, error: 'Wrong user name or password.' }));
  }
  log(`login user=${user.username} sub=${user.sub} client=${details.params.client_id}`);
  return provider.interactionFinished(req, res, {
    login: { accountId: user.sub },
  }, { mergeWithLastSubmission: false });
}

// --- HTTP server ------------------------------------------------------------

const callback = provider.callback();

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname.startsWith('/interaction/')) {
    interaction(req, res, url).catch((err) => {
      log(`interaction error: ${err.stack || err}`);
      if (!res.headersSent) send(res, 500, page('Error', '<h1>Something went wrong</h1>'));
      else res.end();
    });
    return;
  }
  if (url.pathname === '/healthz') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok\n');
    return;
  }
  callback(req, res);
});

server.on('error', (err) => fail(`cannot listen on ${host}:${port}: ${err.message}`));
server.listen(port, host, () => {
  const { port: actual } = server.address();
  log(`listening on http://${host}:${actual} issuer=${issuer} audience=${audience} `
    + `resource=${resource} client=${CLIENT_ID} redirect_uris=${redirectUris.join(',')} `
    + `users=${[...users.keys()].join(',')}`);
});

function shutdown(signal) {
  log(`${signal}: stopping`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
