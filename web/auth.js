// auth.js - signing in with OpenID Connect: authorization code + PKCE
// against the issuer named by /config.json, tokens in memory only, silent
// refresh with the refresh token before the access token expires.
//
// Only the PKCE verifier, state and nonce cross the redirect, in
// sessionStorage, and are removed as soon as the code is exchanged. The
// provider rotates refresh tokens and revokes the whole grant when an old
// one is used again, so refreshing is single-flight: every caller waits for
// the same request.

const SCOPE = 'openid profile email offline_access';
const PENDING_KEY = 'spaceport.signin';
// Set while signed in, so that a reload signs in again through the
// provider's own session instead of showing the welcome page.
const SIGNED_IN_KEY = 'spaceport.signedIn';
// Refresh when this share of the token's lifetime is left...
const REFRESH_AT_FRACTION = 0.2;
// ...but at least this many seconds before it expires.
const REFRESH_MARGIN_S = 30;
// A token closer to expiry than this is refreshed before it is used.
const USE_MARGIN_S = 10;
// Retries of a refresh that failed for lack of network, before giving up.
const REFRESH_RETRIES = 3;
const REFRESH_RETRY_MS = 2000;
// A sign-in started longer ago than this is not completed.
const PENDING_MAX_AGE_MS = 10 * 60 * 1000;

export class AuthError extends Error {
  constructor(message, { expired = false } = {}) {
    super(message);
    this.name = 'AuthError';
    this.expired = expired;
  }
}

function b64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(bytes = 32) {
  return b64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function challengeOf(verifier) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return b64url(new Uint8Array(digest));
}

/** The claims of a JWT, not verified (the registry verifies); {} if not a JWT. */
export function jwtClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(part + '='.repeat((4 - (part.length % 4)) % 4));
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The signed-in session. Events: 'token' (a new access token, after sign-in
 * or refresh) and 'expired' (the session is over; sign in again).
 */
export class Auth extends EventTarget {
  constructor(config) {
    super();
    this.config = config; // {issuer, clientId, audience, rolesClaim}
    this.discovery = null;
    this.tokens = null; // {access, refresh, idToken, expiresAt (ms)}
    this.refreshing = null;
    this.timer = null;
    this.redirectUri = `${window.location.origin}/`;
    document.addEventListener('visibilitychange', () => {
      // Timers sleep in background tabs: catch up when the page is seen.
      if (document.visibilityState === 'visible' && this.tokens && this.due()) {
        this.refresh().catch(() => {});
      }
    });
  }

  /** Reads the provider's discovery document. Throws AuthError. */
  async discover() {
    const issuer = this.config.issuer;
    if (!issuer) throw new AuthError('Spaceport has no identity provider configured.');
    const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    let response;
    try {
      response = await fetch(url, { headers: { Accept: 'application/json' } });
    } catch {
      throw new AuthError(`The identity provider at ${issuer} cannot be reached. `
        + 'Check that it is running, then reload this page.');
    }
    if (!response.ok) {
      throw new AuthError(`The identity provider at ${issuer} answered with an error `
        + `(HTTP ${response.status}) instead of its configuration.`);
    }
    const doc = await response.json();
    if (doc.issuer !== issuer) {
      throw new AuthError(`The identity provider calls itself ${doc.issuer}, not ${issuer}; `
        + 'Spaceport is configured with a different address.');
    }
    this.discovery = doc;
    return doc;
  }

  get signedIn() {
    return !!this.tokens;
  }

  /** Whether a previous page of this tab was signed in (reload). */
  get wasSignedIn() {
    return sessionStorage.getItem(SIGNED_IN_KEY) === '1';
  }

  /** Leaves for the provider's login page. */
  async signIn() {
    const verifier = randomString(48);
    const pending = {
      state: randomString(16),
      nonce: randomString(16),
      verifier,
      at: Date.now(),
    };
    sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
    const params = new URLSearchParams({
      client_id: this.config.clientId,
      response_type: 'code',
      redirect_uri: this.redirectUri,
      scope: SCOPE,
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await challengeOf(verifier),
      code_challenge_method: 'S256',
    });
    window.location.assign(`${this.discovery.authorization_endpoint}?${params}`);
  }

  /**
   * Completes a sign-in when the page is the provider's redirect (code or
   * error in the query). Returns true when signed in, false when the page
   * is not a redirect. Throws AuthError with words for the user.
   */
  async completeSignIn() {
    const query = new URLSearchParams(window.location.search);
    if (!query.has('code') && !query.has('error')) return false;
    // The code must not stay in the address bar or the history.
    window.history.replaceState(null, '', '/');
    const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || 'null');
    sessionStorage.removeItem(PENDING_KEY);
    if (query.has('error')) {
      sessionStorage.removeItem(SIGNED_IN_KEY);
      if (query.get('error') === 'access_denied') throw new AuthError('Sign-in was cancelled.');
      throw new AuthError(`The identity provider did not sign you in: ${
        query.get('error_description') || query.get('error')}.`);
    }
    if (!pending || pending.state !== query.get('state')
        || Date.now() - pending.at > PENDING_MAX_AGE_MS) {
      throw new AuthError('This sign-in could not be completed (it was started in another tab '
        + 'or took too long). Please sign in again.');
    }
    if (query.has('iss') && query.get('iss') !== this.config.issuer) {
      throw new AuthError('The sign-in answer came from an unexpected identity provider.');
    }
    const body = await this.tokenRequest({
      grant_type: 'authorization_code',
      code: query.get('code'),
      redirect_uri: this.redirectUri,
      client_id: this.config.clientId,
      code_verifier: pending.verifier,
    });
    if (body.id_token && jwtClaims(body.id_token).nonce !== pending.nonce) {
      throw new AuthError('The sign-in answer does not belong to this sign-in. Please sign in again.');
    }
    this.accept(body);
    return true;
  }

  /** POSTs a token request; returns its JSON or throws AuthError. */
  async tokenRequest(form) {
    let response;
    try {
      response = await fetch(this.discovery.token_endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        body: new URLSearchParams(form),
      });
    } catch {
      const err = new AuthError('The identity provider cannot be reached.');
      err.network = true;
      throw err;
    }
    let body = {};
    try {
      body = await response.json();
    } catch {
      // not JSON: handled below
    }
    if (!response.ok || !body.access_token) {
      const expired = body.error === 'invalid_grant';
      throw new AuthError(expired ? 'Your session has expired. Please sign in again.'
        : `The identity provider refused: ${body.error_description || body.error || `HTTP ${response.status}`}.`,
      { expired });
    }
    return body;
  }

  accept(body) {
    const now = Date.now();
    const claims = jwtClaims(body.access_token);
    let lifetime = Number(body.expires_in);
    if (!(lifetime > 0)) lifetime = claims.exp && claims.iat ? claims.exp - claims.iat : 300;
    this.tokens = {
      access: body.access_token,
      refresh: body.refresh_token || this.tokens?.refresh || null,
      idToken: body.id_token || this.tokens?.idToken || null,
      lifetime,
      expiresAt: now + lifetime * 1000,
    };
    sessionStorage.setItem(SIGNED_IN_KEY, '1');
    this.schedule();
    this.dispatchEvent(new Event('token'));
  }

  /** When the next silent refresh is due (ms since the epoch). */
  refreshAt() {
    const t = this.tokens;
    const margin = Math.max(REFRESH_MARGIN_S, t.lifetime * REFRESH_AT_FRACTION) * 1000;
    return t.expiresAt - Math.min(margin, (t.lifetime * 1000) / 2);
  }

  due() {
    return Date.now() >= this.refreshAt();
  }

  schedule() {
    clearTimeout(this.timer);
    if (!this.tokens) return;
    const delay = Math.max(0, this.refreshAt() - Date.now());
    this.timer = setTimeout(() => this.refresh().catch(() => {}), delay);
  }

  /** Refreshes the tokens, single-flight. Resolves when done; rejects with
   * AuthError (and ends the session) when it cannot. */
  refresh() {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  async doRefresh() {
    if (!this.tokens) throw new AuthError('You are not signed in.', { expired: true });
    if (!this.tokens.refresh) return this.expire('Your session has expired. Please sign in again.');
    for (let attempt = 0; ; attempt++) {
      try {
        const body = await this.tokenRequest({
          grant_type: 'refresh_token',
          refresh_token: this.tokens.refresh,
          client_id: this.config.clientId,
        });
        this.accept(body);
        return;
      } catch (err) {
        const stillValid = this.tokens && Date.now() < this.tokens.expiresAt;
        if (err.network && attempt < REFRESH_RETRIES && stillValid) {
          await sleep(REFRESH_RETRY_MS);
          continue;
        }
        if (err.network && stillValid) {
          this.schedule();
          throw err;
        }
        return this.expire(err.expired ? err.message
          : `Your session could not be renewed. ${err.message} Please sign in again.`);
      }
    }
  }

  expire(message) {
    clearTimeout(this.timer);
    this.tokens = null;
    sessionStorage.removeItem(SIGNED_IN_KEY);
    this.dispatchEvent(new CustomEvent('expired', { detail: message }));
    throw new AuthError(message, { expired: true });
  }

  /** A valid access token, refreshed first when it is about to expire. */
  async accessToken() {
    if (!this.tokens) throw new AuthError('Your session has expired. Please sign in again.', { expired: true });
    if (Date.now() > this.tokens.expiresAt - USE_MARGIN_S * 1000) await this.refresh();
    return this.tokens.access;
  }

  /** The access token's claims (user name, roles...). */
  claims() {
    return this.tokens ? jwtClaims(this.tokens.access) : {};
  }

  /** The user's roles from the roles claim (a list, or a space/comma list). */
  roles() {
    const value = this.claims()[this.config.rolesClaim || 'roles'];
    if (Array.isArray(value)) return value.map(String);
    if (typeof value === 'string') return value.split(/[\s,]+/).filter(Boolean);
    return [];
  }

  /** Forgets the tokens and signs out at the provider too. */
  signOut() {
    const idToken = this.tokens?.idToken;
    clearTimeout(this.timer);
    this.tokens = null;
    sessionStorage.removeItem(SIGNED_IN_KEY);
    const end = this.discovery?.end_session_endpoint;
    if (!end) {
      window.location.assign('/');
      return;
    }
    const params = new URLSearchParams({
      client_id: this.config.clientId,
      post_logout_redirect_uri: this.redirectUri,
    });
    if (idToken) params.set('id_token_hint', idToken);
    window.location.assign(`${end}?${params}`);
  }
}
