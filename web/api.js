// api.js - calls to the Spaceport API with the access token, and errors
// turned into words a person understands.

import { AuthError } from './auth.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status; // 0: no answer at all
    this.code = code || '';
  }
}

/** The server's message with a final stop (its first word may be a field
 * name, so its case stays). */
function sentence(text) {
  const t = String(text || '').trim();
  if (!t) return '';
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

/** "Lead: message." or "Lead." when the server said nothing. */
function said(lead, message) {
  return message ? `${lead}: ${message}` : `${lead}.`;
}

/** What went wrong, in words for the person using the page. */
export function describe(err) {
  if (err instanceof AuthError) return err.message;
  if (!(err instanceof ApiError)) return err?.message || String(err);
  const message = sentence(err.message);
  switch (err.status) {
    case 0:
      return 'Spaceport cannot be reached. Check that it is running and that you are online, then try again.';
    case 400:
      return said('Spaceport did not accept this', message);
    case 401:
      return 'Your session has expired. Please sign in again.';
    case 403:
      return said('You are not allowed to do this', message);
    case 404:
      return 'That was not found: it may have been removed, or you no longer have access to it.';
    case 405:
    case 501:
      return said('This Spaceport does not support this yet', message);
    case 409:
      return said('This conflicts with the current state', message);
    case 413:
      return 'That is more than Spaceport accepts in one request.';
    case 429:
      return 'Too many requests at once. Wait a moment and try again.';
    case 503:
      return `${said('Spaceport is not available right now', message)} Try again in a moment.`;
    case 507:
      return 'Spaceport has run out of storage for its records. Please tell an administrator.';
    default:
      if (err.status >= 500) {
        return 'Something went wrong inside Spaceport. Try again; if it keeps happening, '
          + 'an administrator can find the reason in its log.';
      }
      return said(`Spaceport answered with an error (HTTP ${err.status})`, message);
  }
}

export class Api {
  constructor(auth) {
    this.auth = auth;
  }

  /** One request with the access token (any body fetch takes); resolves
   * to the Response, whatever its status, or rejects with ApiError (no
   * answer) or AuthError. A 401 is retried once after a refresh; a second
   * one ends the session. */
  async send(method, url, body, headers = {}) {
    for (let attempt = 0; ; attempt++) {
      const token = await this.auth.accessToken();
      let response;
      try {
        response = await fetch(url, {
          method,
          headers: { ...headers, Authorization: `Bearer ${token}` },
          body,
          cache: 'no-store',
        });
      } catch {
        throw new ApiError(0, 'network', 'no answer');
      }
      if (response.status !== 401) return response;
      if (attempt === 0) {
        await this.auth.refresh();
        continue;
      }
      return this.auth.expire('Your session has expired. Please sign in again.');
    }
  }

  /** One API request; resolves to the JSON body (null when empty), rejects
   * with ApiError or AuthError. */
  async request(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await this.send(method, path,
      body === undefined ? undefined : JSON.stringify(body), headers);
    const text = await response.text();
    let json = null;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
    }
    if (!response.ok) {
      const e = json && json.error;
      throw new ApiError(response.status, e?.code, e?.message || response.statusText);
    }
    return json;
  }

  get(path) {
    return this.request('GET', path);
  }

  post(path, body) {
    return this.request('POST', path, body ?? {});
  }

  delete(path) {
    return this.request('DELETE', path);
  }

  me() {
    // memberOf: the groups the token names, so that a group's grants can
    // be told as the user's own.
    return this.get('/graph/v1.0/me?$expand=memberOf');
  }

  drives() {
    return this.get('/graph/v1.0/me/drives');
  }

  createProject(name, quotaTotal) {
    const body = { name };
    if (quotaTotal) body.quota = { total: quotaTotal };
    return this.post('/graph/v1.0/drives', body);
  }

  registerRemote(name, webDavUrl) {
    return this.post('/graph/v1.0/me/drives', {
      driveType: 'mountpoint',
      name,
      root: { remoteItem: { webDavUrl } },
    });
  }

  searchUsers(text) {
    const q = encodeURIComponent(`"${text.replace(/"/g, '')}"`);
    return this.get(`/graph/v1.0/users?$search=${q}`);
  }

  roleDefinitions() {
    return this.get('/graph/v1beta1/roleManagement/permissions/roleDefinitions');
  }

  rootPath(driveId) {
    const d = encodeURIComponent(driveId);
    return `/graph/v1beta1/drives/${d}/items/${d}`;
  }

  permissions(driveId) {
    return this.get(`${this.rootPath(driveId)}/permissions`);
  }

  invite(driveId, recipient, roleId) {
    return this.post(`${this.rootPath(driveId)}/invite`, { recipients: [recipient], roles: [roleId] });
  }

  /** PUTs a file to a WebDAV URL of the storage (the page's origin);
   * resolves to the status (201 created, 204 replaced), rejects with
   * ApiError (403: the role may not write) or AuthError. */
  async upload(url, file) {
    const response = await this.send('PUT', url, file,
      { 'Content-Type': file.type || 'application/octet-stream' });
    if (!response.ok) throw new ApiError(response.status, 'webdav', response.statusText);
    return response.status;
  }

  removePermission(driveId, permissionId) {
    return this.delete(`${this.rootPath(driveId)}/permissions/${encodeURIComponent(permissionId)}`);
  }
}
