// feed.js - the live feed: Server-Sent Events from /api/v1/changes.
//
// EventSource cannot send headers, so the token goes as the access_token
// query parameter. While the stream stays open the browser reconnects by
// itself and resumes with Last-Event-ID. When the stream must be opened
// anew - the token was refreshed, the server said token-expired, or the
// browser gave up - the last id seen goes as the lastEventId query
// parameter, which the server takes as Last-Event-ID: nothing is missed.

import { CHANGES_EVENT_NAMES } from './catalog.js';

// Every name the stream sends that tells a change: the event catalog's
// (schema/events/catalog.json), but token-expired, which only ends the
// stream (its own listener below refreshes and reopens).
export const EVENT_TYPES = CHANGES_EVENT_NAMES.filter((name) => name !== 'token-expired');

// Waits between attempts to reopen a stream the browser gave up on.
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30000;

/**
 * Events: 'change' (detail {id, type, data}) and 'status' (detail one of
 * 'connecting', 'live', 'reconnecting', 'offline', 'stopped').
 */
export class Feed extends EventTarget {
  constructor(auth, path = '/api/v1/changes') {
    super();
    this.auth = auth;
    this.path = path;
    this.source = null;
    this.lastId = null;
    this.retryMs = RETRY_MIN_MS;
    this.retryTimer = null;
    this.running = false;
    this.generation = 0;
    auth.addEventListener('token', () => {
      // The URL holds the old token: reopen with the new one, so that the
      // browser's own reconnects keep working.
      if (this.running) this.open();
    });
  }

  setStatus(state) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('status', { detail: state }));
  }

  start() {
    this.running = true;
    this.open();
  }

  stop() {
    this.running = false;
    clearTimeout(this.retryTimer);
    if (this.source) this.source.close();
    this.source = null;
    this.setStatus('stopped');
  }

  async open() {
    clearTimeout(this.retryTimer);
    const generation = ++this.generation;
    if (this.source) this.source.close();
    this.source = null;
    let token;
    try {
      token = await this.auth.accessToken();
    } catch {
      this.stop(); // the session is over; the page says so
      return;
    }
    if (!this.running || generation !== this.generation) return;
    const params = new URLSearchParams({ access_token: token });
    if (this.lastId) params.set('lastEventId', this.lastId);
    const source = new EventSource(`${this.path}?${params}`);
    this.source = source;
    this.setStatus(this.lastId ? 'reconnecting' : 'connecting');
    source.onopen = () => {
      this.retryMs = RETRY_MIN_MS;
      this.setStatus('live');
    };
    source.onerror = () => {
      if (source !== this.source) return;
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (an error status, such as 401): try again
        // later with a fresh token.
        this.source = null;
        this.setStatus('offline');
        this.retryTimer = setTimeout(() => this.running && this.open(), this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
      } else {
        this.setStatus('reconnecting');
      }
    };
    const onEvent = (e) => {
      if (source !== this.source) return;
      if (e.lastEventId) this.lastId = e.lastEventId;
      let data = {};
      try {
        data = JSON.parse(e.data || '{}');
      } catch {
        data = {};
      }
      this.dispatchEvent(new CustomEvent('change', {
        detail: { id: e.lastEventId, type: e.type === 'message' ? data.type || 'changed' : e.type, data },
      }));
    };
    for (const type of EVENT_TYPES) source.addEventListener(type, onEvent);
    source.addEventListener('message', onEvent);
    source.addEventListener('token-expired', () => {
      if (source !== this.source) return;
      // Close before the browser reconnects with the expired token.
      source.close();
      this.source = null;
      this.setStatus('reconnecting');
      this.auth.refresh().then(() => {
        // A successful refresh reopens through the 'token' event.
      }, () => this.stop());
    });
  }
}
