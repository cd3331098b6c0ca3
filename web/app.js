// app.js - the Spaceport page: sign-in, the list of spaces, uploading a
// file over WebDAV, creating project spaces, sharing, registering remote
// spaces and the live feed.
// Plain DOM; no framework and no build step.

import { Api, ApiError, describe } from './api.js';
import { Auth, AuthError } from './auth.js';
import { Feed } from './feed.js';

const ADMIN_ROLE = 'spaceport-admin';
const SPACE_ADMIN_ROLE = 'spaceport-spaceadmin';
// Feed entries kept on the page.
const FEED_MAX = 50;
// Events arriving together cause one reload of the list.
const RELOAD_DEBOUNCE_MS = 150;
// Wait after a keystroke before searching users.
const SEARCH_DEBOUNCE_MS = 250;
const SEARCH_MIN_CHARS = 3;
// How long a space the feed mentions stays highlighted.
const HIGHLIGHT_MS = 4000;
// Relative times ("3 minutes ago") are refreshed this often.
const CLOCK_MS = 30000;
const GIB = 1024 ** 3;
// Roles of a space's members (v1.0 names) that may write its files: the
// WebDAV server's check (Spaceport's /api/v1/dav-access) decides the same.
const WRITE_ROLES = new Set(['manager', 'editor']);

const $ = (id) => document.getElementById(id);

/** Creates an element: h('p', {class: 'x', onclick: f}, 'text', child...). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function show(el, visible) {
  el.hidden = !visible;
}

function showError(el, message) {
  el.textContent = message || '';
  show(el, !!message);
}

// --- formatting -------------------------------------------------------------

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
function formatBytes(n) {
  let v = Number(n) || 0;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = i === 0 || v >= 100 ? 0 : 1;
  return `${v.toFixed(digits)} ${units[i]}`;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
function formatAgo(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.round((t - Date.now()) / 1000);
  const abs = Math.abs(s);
  if (abs < 45) return 'just now';
  if (abs < 3600) return relative.format(Math.round(s / 60), 'minute');
  if (abs < 86400) return relative.format(Math.round(s / 3600), 'hour');
  if (abs < 30 * 86400) return relative.format(Math.round(s / 86400), 'day');
  return new Date(t).toLocaleDateString();
}

function timeElement(iso) {
  if (!iso) return null;
  return h('time', { datetime: iso, title: new Date(iso).toLocaleString(), class: 'ago' },
    formatAgo(iso));
}

function refreshClock() {
  for (const el of document.querySelectorAll('time.ago')) {
    el.textContent = formatAgo(el.getAttribute('datetime'));
  }
}

const TYPE_LABELS = {
  personal: 'Personal',
  project: 'Project',
  mountpoint: 'Shared with you',
  virtual: 'Shares',
};

const QUOTA_STATES = {
  normal: '',
  nearing: 'Nearly full',
  critical: 'Almost full',
  exceeded: 'Full',
};

// --- state --------------------------------------------------------------

const state = {
  config: null,
  auth: null,
  api: null,
  feed: null,
  me: null,
  drives: [],
  roles: [], // role definitions
  reloadTimer: null,
  loading: null,
  highlight: new Map(), // drive id -> until (ms)
  people: new Map(), // user id -> display name, from what the API showed
  uploads: new Map(), // drive id -> {text, ok}: the last upload's outcome
};

function remember(user) {
  if (user?.id && user.displayName) state.people.set(user.id, user.displayName);
}

function roleName(id) {
  const r = state.roles.find((x) => x.id === id);
  if (!r) return id === 'manager' ? 'Can manage' : id;
  return r.displayName;
}

// --- banner and views -------------------------------------------------------

function banner(message, action) {
  const el = $('banner');
  $('banner-text').textContent = message || '';
  const button = $('banner-action');
  if (action) {
    button.textContent = action.label;
    button.onclick = action.run;
  }
  show(button, !!action);
  show(el, !!message);
}

function view(name) {
  for (const v of ['loading', 'signed-out', 'app']) show($(`view-${v}`), v === name);
}

function sessionExpired(message) {
  state.feed?.stop();
  show($('account'), false);
  banner(message || 'Your session has expired. Please sign in again.', {
    label: 'Sign in again',
    run: () => state.auth.signIn(),
  });
}

// --- the list of spaces -----------------------------------------------------

/** The drive (of the list) that an event about driveId concerns: the drive
 * itself or the mountpoint of a share of it. */
function drivesConcerned(driveId) {
  return state.drives.filter((d) => d.id === driveId || d.root?.remoteItem?.driveId === driveId);
}

function driveName(driveId, fallback) {
  const d = drivesConcerned(driveId)[0];
  return d?.name || fallback || 'a space';
}

function quotaView(drive) {
  const q = drive.quota;
  if (!q) return null;
  const total = Number(q.total) || 0;
  const used = Number(q.used) || 0;
  const stateLabel = QUOTA_STATES[q.state] ?? q.state;
  let text;
  let percent = 0;
  if (total > 0) {
    percent = Math.min(100, (used / total) * 100);
    text = `${formatBytes(used)} of ${formatBytes(total)} used (${Math.round(percent)} %)`;
  } else {
    text = `${formatBytes(used)} used · no limit`;
  }
  const fill = h('span', { class: 'quota-fill' });
  fill.style.width = `${percent}%`; // CSSOM: allowed by the style-src policy
  const bar = h('div', {
    class: 'quota-bar',
    role: 'progressbar',
    'aria-label': `Storage used in ${drive.name}`,
    'aria-valuemin': '0',
    'aria-valuemax': '100',
    'aria-valuenow': String(Math.round(percent)),
    'aria-valuetext': text,
  }, fill);
  return h('div', { class: 'quota', dataset: { state: q.state || 'normal' } },
    bar,
    h('p', { class: 'quota-text' }, text,
      stateLabel ? h('span', { class: 'quota-state' }, ` · ${stateLabel}`) : null));
}

async function copyText(text, input, button) {
  let done = false;
  try {
    await navigator.clipboard.writeText(text);
    done = true;
  } catch {
    // Not a secure context or no permission: select and copy the old way.
    input.select();
    try {
      done = document.execCommand('copy');
    } catch {
      done = false;
    }
  }
  const label = button.textContent;
  button.textContent = done ? 'Copied' : 'Press Ctrl+C';
  if (!done) input.select();
  setTimeout(() => {
    button.textContent = label;
  }, 1500);
}

/** Whether the caller's role on the drive lets them add files, as the
 * page knows it: a member's role (theirs or a group's) on a space of this
 * instance, the same rule as the WebDAV server's check. Shares received
 * (mountpoints) are not served over WebDAV, and a remote space's URL is
 * another origin's. */
function mayUpload(drive) {
  const url = drive.root?.webDavUrl;
  if (!url || drive.root.deleted || new URL(url, window.location.href).origin !== window.location.origin
      || (drive.driveType !== 'personal' && drive.driveType !== 'project')) {
    return false;
  }
  const groups = new Set((state.me?.memberOf || []).map((g) => g.id));
  return (drive.root.permissions || []).some((p) => (p.roles || []).some((r) => WRITE_ROLES.has(r))
    && (p.grantedToIdentities || []).some((i) => (i.user && i.user.id === state.me?.id)
      || (i.group && groups.has(i.group.id))));
}

/** What a failed upload means, in words. */
function describeUpload(err) {
  if (err instanceof ApiError && err.status === 403) {
    return 'The storage refused: your role on this space does not let you add files, '
      + 'or the space is disabled.';
  }
  if (err instanceof ApiError && err.status === 413) return 'The file is larger than the storage accepts.';
  if (err instanceof ApiError && err.status === 507) return 'The storage is full.';
  return describe(err);
}

async function upload(drive, file) {
  const url = `${drive.root.webDavUrl}/${encodeURIComponent(file.name)}`;
  state.uploads.set(drive.id, { text: `Uploading ${file.name}…`, ok: true });
  renderDrives();
  try {
    const status = await state.api.upload(url, file);
    state.uploads.set(drive.id, {
      text: `${status === 201 ? 'Uploaded' : 'Replaced'} ${file.name} (${formatBytes(file.size)})`,
      ok: true,
      status,
    });
  } catch (err) {
    state.uploads.set(drive.id, { text: `${file.name}: ${describeUpload(err)}`, ok: false, status: err.status });
  }
  renderDrives();
}

/** The upload control of a drive the caller may write: a file chooser
 * behind a button, and the outcome of the last upload. */
function uploadView(drive, inputId) {
  const done = state.uploads.get(drive.id);
  const chooser = h('input', {
    id: `${inputId}-file`,
    type: 'file',
    class: 'upload-file',
    'aria-label': `Upload a file to ${drive.name}`,
    onchange: (e) => {
      const file = e.target.files?.[0];
      if (file) upload(drive, file);
    },
  });
  return h('div', { class: 'upload' },
    h('label', { for: chooser.id, class: 'button small' }, 'Upload file'),
    chooser,
    done ? h('p', {
      class: `upload-status small ${done.ok ? 'muted' : 'error'}`,
      role: 'status',
      dataset: { status: String(done.status || '') },
    }, done.text) : null);
}

function driveItem(drive) {
  const type = drive.driveType;
  const meta = [];
  const owner = drive.owner?.user?.displayName;
  if (type === 'mountpoint' && owner) meta.push(`Shared by ${owner}`);
  const ownRole = drive.root?.remoteItem?.permissions?.[0]?.roles?.[0];
  if (type === 'mountpoint' && ownRole) meta.push(roleName(ownRole));
  if (type === 'project' && drive.description) meta.push(drive.description);
  const changed = timeElement(drive.lastModifiedDateTime);

  const url = drive.root?.webDavUrl || '';
  const inputId = `dav-${drive.id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const input = h('input', { id: inputId, class: 'dav-url', readonly: true, value: url, spellcheck: 'false' });
  const copy = h('button', {
    type: 'button',
    class: 'button small',
    'aria-label': `Copy the WebDAV URL of ${drive.name}`,
    onclick: () => copyText(url, input, copy),
  }, 'Copy');

  const actions = [];
  if (type === 'personal' || type === 'project') {
    actions.push(h('button', {
      type: 'button',
      class: 'button small share-button',
      'aria-label': `Share ${drive.name}`,
      onclick: () => openShare(drive),
    }, 'Share…'));
  }

  const item = h('li', {
    class: 'drive',
    dataset: { driveId: drive.id, type },
  },
  h('div', { class: 'drive-head' },
    h('span', { class: `type type-${type}` }, TYPE_LABELS[type] || type),
    h('h2', { class: 'drive-name' }, drive.name || '(no name)'),
    actions),
  h('p', { class: 'drive-meta muted' },
    meta.join(' · '),
    meta.length && changed ? ' · ' : '',
    changed ? h('span', {}, 'Changed ', changed) : null),
  quotaView(drive),
  url ? h('div', { class: 'dav' },
    h('label', { for: inputId, class: 'small' }, 'WebDAV'),
    input, copy) : null,
  mayUpload(drive) ? uploadView(drive, inputId) : null);
  const until = state.highlight.get(drive.id) || 0;
  if (until > Date.now()) item.classList.add('changed');
  return item;
}

const TYPE_ORDER = { personal: 0, project: 1, mountpoint: 2, virtual: 3 };

function renderDrives() {
  const list = $('drives');
  const drives = [...state.drives].sort((a, b) => (TYPE_ORDER[a.driveType] ?? 9)
    - (TYPE_ORDER[b.driveType] ?? 9) || String(a.name).localeCompare(String(b.name)));
  list.replaceChildren(...drives.map(driveItem));
  $('drives-status').textContent = drives.length ? ''
    : 'No spaces yet.';
}

/** Fetches the list again; calls made while one runs share its result. */
async function loadDrives() {
  if (state.loading) return state.loading;
  state.loading = (async () => {
    try {
      const body = await state.api.drives();
      state.drives = body?.value || [];
      for (const d of state.drives) remember(d.owner?.user);
      renderDrives();
    } catch (err) {
      if (err instanceof AuthError && err.expired) return;
      $('drives-status').textContent = describe(err);
    } finally {
      state.loading = null;
    }
  })();
  return state.loading;
}

function scheduleReload() {
  clearTimeout(state.reloadTimer);
  state.reloadTimer = setTimeout(loadDrives, RELOAD_DEBOUNCE_MS);
}

// --- live feed --------------------------------------------------------------

const FEED_STATUS = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline, retrying…',
  stopped: 'Paused',
};

function quoted(name) {
  return `“${name}”`;
}

function describeEvent(type, data) {
  const me = state.me?.id;
  // A share of an item is told by the item's name, a share of a space's
  // root by the space's.
  const ofItem = data.itemId && data.itemId !== data.driveId && data.resourceName;
  const name = quoted(ofItem || data.driveName || data.resourceName || driveName(data.driveId));
  const byMe = data.executant && data.executant === me;
  // A group's grant reaches its members: tell it as theirs, by the group.
  const group = (state.me?.memberOf || []).find((g) => g.id === data.granteeGroupId);
  const grantee = state.people.get(data.granteeUserId) || data.granteeEmail ||
    (group && `the group ${group.displayName}`);
  const withWhom = grantee ? ` with ${grantee}` : '';
  switch (type) {
    case 'share-created':
      if (data.granteeUserId === me) return `${name} was shared with you`;
      return byMe ? `You shared ${name}${withWhom}` : `${name} was shared${withWhom}`;
    case 'share-updated':
      if (data.granteeUserId === me) return `Your access to ${name} changed`;
      return byMe ? `You changed a share of ${name}` : `A share of ${name} changed`;
    case 'share-removed':
      if (data.granteeUserId === me) return `${name} is no longer shared with you`;
      return byMe ? `You stopped sharing ${name}${withWhom}` : `A share of ${name} was removed`;
    case 'space-member-added':
      if (group) return `Your group ${group.displayName} was added to ${name}`;
      return data.grantee === me ? `You were added to ${name}` : `Someone was added to ${name}`;
    case 'space-member-removed':
      if (group) return `Your group ${group.displayName} was removed from ${name}`;
      return data.grantee === me ? `You were removed from ${name}` : `Someone was removed from ${name}`;
    case 'space-created':
      return byMe ? `You created ${name}` : `${name} was created`;
    case 'space-updated':
      return data.oldName && data.oldName !== data.driveName
        ? `${quoted(data.oldName)} was renamed to ${name}` : `${name} was updated`;
    case 'space-disabled':
      return `${name} was disabled`;
    case 'space-deleted':
      return `${name} was deleted`;
    case 'item-changed': {
      const what = {
        created: 'Something was added in', deleted: 'Something was deleted in', moved: 'Something was moved in',
      }[data.change] || 'Files changed in';
      return `${what} ${name}`;
    }
    case 'remote-registered':
      return `Remote space ${name} was registered`;
    case 'remote-removed':
      return `Remote space ${name} was removed`;
    case 'resync':
      return 'Back after a long break: the list was loaded again';
    case 'subscription-created':
      return `Webhook subscription to ${data.resource} created`;
    case 'subscription-updated':
      return `Webhook subscription to ${data.resource} renewed`;
    case 'subscription-deleted':
      return `Webhook subscription to ${data.resource} ended${
        { expired: ' (expired)', accessLost: ' (access lost)' }[data.reason] || ''}`;
    default:
      return `${name} changed`;
  }
}

function onChange(e) {
  const { id, type, data } = e.detail;
  const feed = $('feed');
  const when = data.time || new Date().toISOString();
  feed.prepend(h('li', {
    class: `feed-item feed-${type}`,
    dataset: { eventId: id || '', type, driveId: data.driveId || '', itemId: data.itemId || '' },
  },
    h('time', { datetime: when, title: new Date(when).toLocaleString() },
      new Date(when).toLocaleTimeString()),
    h('span', {}, describeEvent(type, data))));
  while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
  show($('feed-empty'), false);
  if (type.startsWith('subscription-')) return; // no drive changed
  if (data.driveId) state.highlight.set(data.driveId, Date.now() + HIGHLIGHT_MS);
  for (const d of drivesConcerned(data.driveId)) state.highlight.set(d.id, Date.now() + HIGHLIGHT_MS);
  scheduleReload();
}

function onFeedStatus(e) {
  const el = $('feed-status');
  el.dataset.state = e.detail;
  el.textContent = FEED_STATUS[e.detail] || e.detail;
}

// --- creating a project space -------------------------------------------------

async function onCreate(e) {
  e.preventDefault();
  const name = $('create-name').value.trim();
  const quotaText = $('create-quota').value.trim();
  const error = $('create-error');
  if (!name) {
    showError(error, 'Give the space a name.');
    $('create-name').focus();
    return;
  }
  let total = 0;
  if (quotaText) {
    const gib = Number(quotaText);
    if (!(gib >= 0)) {
      showError(error, 'The quota is a number of GiB, such as 10 or 0.5.');
      return;
    }
    total = Math.round(gib * GIB);
  }
  showError(error, '');
  const button = $('create-submit');
  button.disabled = true;
  try {
    const drive = await state.api.createProject(name, total);
    e.target.reset();
    state.highlight.set(drive.id, Date.now() + HIGHLIGHT_MS);
    await loadDrives();
  } catch (err) {
    showError(error, describe(err));
  } finally {
    button.disabled = false;
  }
}

// --- registering a remote space ---------------------------------------------

async function onRegisterRemote(e) {
  e.preventDefault();
  const url = $('remote-url').value.trim();
  const error = $('remote-error');
  let parsed = null;
  try {
    parsed = new URL(url);
  } catch {
    parsed = null;
  }
  if (!parsed || !/^https?:$/.test(parsed.protocol)) {
    showError(error, 'Enter the WebDAV URL of the space, starting with https://.');
    $('remote-url').focus();
    return;
  }
  const name = $('remote-name').value.trim() || decodeURIComponent(parsed.pathname.split('/').filter(Boolean).pop() || parsed.host);
  showError(error, '');
  const button = $('remote-submit');
  button.disabled = true;
  try {
    const drive = await state.api.registerRemote(name, url);
    e.target.reset();
    if (drive?.id) state.highlight.set(drive.id, Date.now() + HIGHLIGHT_MS);
    await loadDrives();
  } catch (err) {
    showError(error, describe(err));
  } finally {
    button.disabled = false;
  }
}

// --- the share dialog -------------------------------------------------------

const share = {
  drive: null,
  recipient: null, // {objectId, label} or {email, label}
  searchTimer: null,
  searchSeq: 0,
};

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function setRecipient(recipient) {
  share.recipient = recipient;
  const el = $('share-recipient');
  el.replaceChildren();
  if (recipient) {
    el.append('Share with ', h('strong', {}, recipient.label),
      recipient.email ? ' (by email)' : '');
  }
  show(el, !!recipient);
  $('share-submit').disabled = !recipient;
}

function renderResults(users, text) {
  const list = $('share-results');
  const items = users.map((u) => h('li', {},
    h('button', {
      type: 'button',
      class: 'result',
      dataset: { userId: u.id },
      onclick: () => {
        setRecipient({ objectId: u.id, label: u.displayName || u.onPremisesSamAccountName });
        list.replaceChildren();
        $('share-role').focus();
      },
    }, h('span', { class: 'result-name' }, u.displayName || u.onPremisesSamAccountName),
    u.mail ? h('span', { class: 'muted small' }, ` ${u.mail}`) : null)));
  if (EMAIL_RE.test(text) && !users.some((u) => u.mail === text)) {
    items.push(h('li', {}, h('button', {
      type: 'button',
      class: 'result',
      onclick: () => {
        setRecipient({ email: text, label: text });
        list.replaceChildren();
        $('share-role').focus();
      },
    }, `Invite ${text} by email`)));
  }
  if (!items.length && text.length >= SEARCH_MIN_CHARS) {
    items.push(h('li', { class: 'muted small' }, 'Nobody found: people appear here once they have signed in. Type a whole email address to invite someone new.'));
  }
  list.replaceChildren(...items);
}

function onSearchInput() {
  const text = $('share-who').value.trim();
  clearTimeout(share.searchTimer);
  setRecipient(null);
  if (text.length < SEARCH_MIN_CHARS) {
    renderResults([], text);
    return;
  }
  const seq = ++share.searchSeq;
  share.searchTimer = setTimeout(async () => {
    let users = [];
    try {
      users = (await state.api.searchUsers(text))?.value || [];
    } catch (err) {
      if (seq === share.searchSeq) showError($('share-error'), describe(err));
    }
    users.forEach(remember);
    if (seq === share.searchSeq) renderResults(users.filter((u) => u.id !== state.me?.id), text);
  }, SEARCH_DEBOUNCE_MS);
}

/** Roles that can be given on a drive root by sharing (not membership
 * roles), limited to what the caller may grant when the server says. */
function shareRoles(allowed) {
  let roles = state.roles.filter((r) => !(r.rolePermissions || [])
    .some((p) => String(p.condition || '').includes('@Resource.Root')));
  if (Array.isArray(allowed) && allowed.length) {
    const ids = new Set(allowed.map((r) => r.id));
    roles = roles.filter((r) => ids.has(r.id));
  }
  return roles.sort((a, b) => (a['@libre.graph.weight'] || 0) - (b['@libre.graph.weight'] || 0));
}

function renderRoles(allowed) {
  const select = $('share-role');
  const previous = select.value;
  const roles = shareRoles(allowed);
  select.replaceChildren(...roles.map((r) => h('option', { value: r.id },
    `${r.displayName} — ${r.description}`)));
  if (roles.some((r) => r.id === previous)) select.value = previous;
}

async function loadPermissions() {
  const drive = share.drive;
  const list = $('share-permissions');
  const status = $('share-perm-status');
  status.textContent = 'Loading…';
  try {
    const body = await state.api.permissions(drive.id);
    if (share.drive !== drive) return;
    renderRoles(body?.['@libre.graph.permissions.roles.allowedValues']);
    const perms = body?.value || [];
    status.textContent = perms.length ? '' : 'Nobody else has access through a share yet.';
    list.replaceChildren(...perms.map((p) => {
      const user = p.grantedToV2?.user;
      remember(user);
      const who = user?.displayName || p.invitation?.email || p.grantedToV2?.group?.displayName || 'Someone';
      const pending = !user && p.invitation?.email;
      const roles = (p.roles || []).map(roleName).join(', ');
      return h('li', { class: 'permission', dataset: { permissionId: p.id } },
        h('span', { class: 'permission-who' }, h('strong', {}, who),
          pending ? h('span', { class: 'muted small' }, ' (invited, not signed in yet)') : null,
          h('br'), h('span', { class: 'muted small' }, roles)),
        h('button', {
          type: 'button',
          class: 'button small danger',
          'aria-label': `Remove access for ${who}`,
          onclick: (ev) => removePermission(p, ev.currentTarget),
        }, 'Remove'));
    }));
  } catch (err) {
    if (share.drive === drive) status.textContent = describe(err);
  }
}

async function removePermission(p, button) {
  button.disabled = true;
  showError($('share-error'), '');
  try {
    await state.api.removePermission(share.drive.id, p.id);
    await loadPermissions();
  } catch (err) {
    showError($('share-error'), describe(err));
    button.disabled = false;
  }
}

async function openShare(drive) {
  share.drive = drive;
  $('share-title').textContent = `Share ${quoted(drive.name)}`;
  $('share-who').value = '';
  $('share-results').replaceChildren();
  $('share-permissions').replaceChildren();
  showError($('share-error'), '');
  setRecipient(null);
  renderRoles();
  $('share-role').selectedIndex = 0; // the least a role gives, each time
  $('share-dialog').showModal();
  $('share-who').focus();
  if (!state.roles.length) {
    try {
      state.roles = await state.api.roleDefinitions() || [];
    } catch (err) {
      showError($('share-error'), describe(err));
    }
  }
  renderRoles();
  await loadPermissions();
}

async function onShare(e) {
  e.preventDefault();
  const error = $('share-error');
  if (!share.recipient) {
    showError(error, 'Choose a person from the list, or type a whole email address.');
    return;
  }
  const role = $('share-role').value;
  if (!role) {
    showError(error, 'Choose a role.');
    return;
  }
  showError(error, '');
  const button = $('share-submit');
  button.disabled = true;
  const { objectId, email } = share.recipient;
  try {
    await state.api.invite(share.drive.id, objectId ? { objectId } : { email }, role);
    $('share-who').value = '';
    $('share-results').replaceChildren();
    setRecipient(null);
    await loadPermissions();
  } catch (err) {
    showError(error, describe(err));
    button.disabled = false;
  }
}

// --- start -----------------------------------------------------------------

async function loadConfig() {
  let response;
  try {
    response = await fetch('/config.json', { headers: { Accept: 'application/json' } });
  } catch {
    throw new Error('Spaceport cannot be reached. Check that it is running, then reload this page.');
  }
  if (!response.ok) throw new Error(`Spaceport did not give its configuration (HTTP ${response.status}).`);
  return response.json();
}

async function enterApp() {
  const me = await state.api.me();
  state.me = me;
  remember(me);
  $('account-name').textContent = me.displayName || me.onPremisesSamAccountName || '';
  const roles = state.auth.roles();
  const admin = roles.includes(ADMIN_ROLE);
  const spaceAdmin = roles.includes(SPACE_ADMIN_ROLE);
  const role = $('account-role');
  role.textContent = admin ? 'Administrator' : 'Space administrator';
  show(role, admin || spaceAdmin);
  show($('account'), true);
  show($('create-panel'), admin || spaceAdmin);
  banner('');
  view('app');
  state.roles = await state.api.roleDefinitions().catch(() => []) || [];
  await loadDrives();
  state.feed.start();
}

function wire() {
  $('sign-in').addEventListener('click', () => state.auth.signIn());
  $('sign-out').addEventListener('click', () => {
    state.feed?.stop();
    state.auth.signOut();
  });
  $('reload').addEventListener('click', () => loadDrives());
  $('create-form').addEventListener('submit', onCreate);
  $('remote-form').addEventListener('submit', onRegisterRemote);
  $('share-form').addEventListener('submit', onShare);
  $('share-who').addEventListener('input', onSearchInput);
  $('share-close').addEventListener('click', () => $('share-dialog').close());
  $('share-dialog').addEventListener('close', () => {
    share.drive = null;
  });
  setInterval(refreshClock, CLOCK_MS);
}

async function main() {
  wire();
  try {
    state.config = await loadConfig();
    state.auth = new Auth(state.config);
    state.api = new Api(state.auth);
    state.feed = new Feed(state.auth);
    state.feed.addEventListener('change', onChange);
    state.feed.addEventListener('status', onFeedStatus);
    state.auth.addEventListener('expired', (e) => sessionExpired(e.detail));
    $('issuer-note').textContent = `You sign in at ${state.config.issuer}.`;
    $('loading-text').textContent = 'Contacting the identity provider…';
    await state.auth.discover();
    if (await state.auth.completeSignIn()) {
      $('loading-text').textContent = 'Loading your spaces…';
      await enterApp();
      return;
    }
    if (state.auth.wasSignedIn) {
      // A reload: the provider's session signs us in again without a form.
      await state.auth.signIn();
      return;
    }
    view('signed-out');
  } catch (err) {
    view(state.auth?.signedIn ? 'app' : 'signed-out');
    if (err instanceof AuthError && err.expired) {
      sessionExpired(err.message);
      return;
    }
    banner(describe(err), state.auth?.discovery ? { label: 'Sign in', run: () => state.auth.signIn() } : {
      label: 'Reload', run: () => window.location.reload(),
    });
  }
}

main();
