#!/usr/bin/env node
// tests/clients/run.mjs - Spaceport driven by the real client libraries of
// ownCloud Web (@ownclouders/web-client 12.5.0) and OpenCloud Web
// (@opencloud-eu/web-client 4.3.0), pinned in package-lock.json, called the
// way the web apps call them, against a real nats-server, the demo identity
// provider (examples/idp) and `spaceport serve`.
//
// For each library: marie (space admin) signs in as web-runtime does, loads
// her spaces as web-pkg's spaces store does and builds them with the
// library's builder; creates a project space, renames it, sets its quota,
// adds members (ada Manager, richard first Viewer then Editor, katherine
// Viewer), lists and changes them; each member signs in and the space's
// can* answers (what the web shows them) are checked against their role;
// a member is removed; the space is disabled, restored, disabled again and
// deleted. Every step is the library call of one web call site, named as
// "<library>: <package> <function> (<file>)" (files as at the tags
// web-client-v12.5.0 of owncloud/web and web-client-v4.3.0 of
// opencloud-eu/web).
//
// Prints TAP. A step whose prerequisite failed (no space to rename) is not
// run and not counted; the table of operations x libraries at the end (TAP
// comments) shows it as "not run". Exit code 1 when any step failed.
//
// Environment: SPACEPORT_BIN, SPACEPORT_SOURCE_ROOT (tests/lib/stack.mjs).

import fs from 'node:fs';
import process from 'node:process';

import { Stack, assert, diag, notOk, ok, tail, tapCounts } from '../lib/stack.mjs';
import { memberRemoved, runSharing, sseStep } from './sharing.mjs';
import { closeTabs, openTab } from './sse.mjs';
import { clients, describe, need, printTable, step } from './web.mjs';

const GIB = 1024 ** 3;
// The tabs' streams answer at once; after this they will not.
const STREAM_OPEN_MS = 5000;

// oCIS's unified role ids (services/graph/pkg/unifiedrole/roles.go).
const ROLE = {
  manager: '312c0871-5ef7-4b3a-85b6-0e4074c64049',
  spaceEditor: '58c63c02-1d89-4572-916a-870abc5a1b7d',
  spaceViewer: 'a8d5fe5e-96e3-418d-825b-534dbdf22b99',
};
// oCIS's settings role bundles (services/settings/pkg/store/defaults).
const SETTINGS_ROLE = {
  admin: '71881883-1768-46bd-a24d-a356a2afdf7f',
  spaceAdmin: '2aadd357-682c-406b-8874-293091995fdd',
  user: 'd7beeea8-8ff4-406b-8fb6-ab2dd81e6b11',
};

// The identity provider's users: the demo users' roles claim, and three
// plain users to be members (their settings grant nothing on drives, so
// what the web shows them comes from their space role alone). Their groups
// claim, oCIS demo style: sailing-lovers (richard, ada) is given a file,
// physics-lovers (katherine, marie, einstein) a project space.
const USERS = [
  ['einstein', 'Albert Einstein', ['spaceport-admin'], ['physics-lovers', 'sailing-lovers']],
  ['marie', 'Marie Curie', ['spaceport-spaceadmin'], ['physics-lovers']],
  ['richard', 'Richard Feynman', [], ['sailing-lovers']],
  ['ada', 'Ada Lovelace', [], ['sailing-lovers']],
  ['katherine', 'Katherine Johnson', [], ['physics-lovers']],
].map(([username, name, roles, groups]) => ({
  username, password: username, name, email: `${username}@example.org`, email_verified: true, roles, groups,
}));

// web-runtime's getAbilities (packages/web-runtime/src/services/auth/
// abilities.ts, the same in both apps): the settings permissions the CASL
// rules on drives come from. The web passes this ability to the can*
// functions; an admin's rules answer before the space role is read.
const DRIVE_ABILITIES = {
  'Drives.Create.all': [{ action: 'create-all', subject: 'Drive' }],
  'Drives.ReadWriteEnabled.all': [
    { action: 'delete-all', subject: 'Drive' },
    { action: 'update-all', subject: 'Drive' },
  ],
  'Drives.List.all': [{ action: 'read-all', subject: 'Drive' }],
  'Drives.ReadWriteProjectQuota.all': [{ action: 'set-quota-all', subject: 'Drive' }],
};

// What the web shows a member of an enabled project space (oCIS: the
// role's CS3 permissions, reva pkg/conversions/role.go, turned into
// libre-graph actions; the can* functions of buildSpace read them).
const CAN = ['canUpload', 'canRename', 'canEditDescription', 'canDisable', 'canShare',
  'canEditImage', 'canEditReadme', 'canRestoreFromTrashbin', 'canDeleteFromTrashBin',
  'canListVersions', 'canRestore', 'canBeDeleted'];
const EXPECTED_CAN = {
  Manager: ['canUpload', 'canRename', 'canEditDescription', 'canDisable', 'canShare', 'canEditImage',
    'canEditReadme', 'canRestoreFromTrashbin', 'canDeleteFromTrashBin', 'canListVersions'],
  'Space Editor': ['canUpload', 'canRestoreFromTrashbin', 'canListVersions'],
  'Space Viewer': [],
};

const SITE = {
  capabilities: 'web-runtime UserManager.fetchCapabilities (packages/web-runtime/src/services/auth/userManager.ts)',
  me: 'web-runtime UserManager.fetchUserInfo (packages/web-runtime/src/services/auth/userManager.ts)',
  roles: 'web-runtime UserManager.fetchRoles (packages/web-runtime/src/services/auth/userManager.ts)',
  assignment: 'web-runtime UserManager.fetchRole (packages/web-runtime/src/services/auth/userManager.ts)',
  permissions: 'web-runtime UserManager.fetchPermissions (packages/web-runtime/src/services/auth/userManager.ts)',
  roleDefinitions: 'web-runtime userContextReady watcher (packages/web-runtime/src/index.ts)',
  loadSpaces: 'web-pkg spaces store loadSpaces/getSpacesByType (packages/web-pkg/src/composables/piniaStores/spaces.ts)',
  create: 'web-pkg useCreateSpace.createSpace (packages/web-pkg/src/composables/spaces/useCreateSpace.ts)',
  rename: 'web-pkg useSpaceActionsRename.renameSpace (packages/web-pkg/src/composables/actions/spaces/useSpaceActionsRename.ts)',
  quota: 'web-pkg QuotaModal onConfirm (packages/web-pkg/src/components/Spaces/QuotaModal.vue)',
  invite: 'web-app-files InviteCollaboratorForm share -> shares store addShare (packages/web-app-files/src/components/SideBar/Shares/Collaborators/InviteCollaborator/InviteCollaboratorForm.vue)',
  members: 'web-pkg FileSideBar loadSharesTask (packages/web-pkg/src/components/SideBar/FileSideBar.vue)',
  change: 'web-app-files Collaborators ListItem saveShareChanges -> shares store updateShare (packages/web-app-files/src/components/SideBar/Shares/Collaborators/ListItem.vue)',
  graphPermissions: 'web-pkg spaces store loadGraphPermissions (packages/web-pkg/src/composables/piniaStores/spaces.ts)',
  can: 'web-client buildSpace can* (packages/web-client/src/helpers/space/functions.ts)',
  remove: 'web-app-files SpaceMembers deleteMemberConfirm -> shares store deleteShare (packages/web-app-files/src/components/SideBar/Shares/SpaceMembers.vue)',
  disable: 'web-pkg useSpaceActionsDisable.disableSpaces (packages/web-pkg/src/composables/actions/spaces/useSpaceActionsDisable.ts)',
  reload: 'web-pkg spaces store reloadProjectSpaces (packages/web-pkg/src/composables/piniaStores/spaces.ts)',
  restore: 'web-pkg useSpaceActionsRestore.restoreSpaces (packages/web-pkg/src/composables/actions/spaces/useSpaceActionsRestore.ts)',
  delete: 'web-pkg useSpaceActionsDelete.deleteSpaces (packages/web-pkg/src/composables/actions/spaces/useSpaceActionsDelete.ts)',
  sseOpen: 'web-runtime userContextReady watcher -> registerSSEEventListeners (packages/web-runtime/src/index.ts)',
};

/**
 * The two libraries and where their signatures differ: ownCloud's drive
 * calls take the role definitions (its builder resolves members' roles from
 * them), OpenCloud's do not; OpenCloud's createSpace sends no driveType and
 * its share loaders expand thumbnails.
 */
const LIBRARIES = [
  {
    name: 'ownCloud Web',
    pkg: '@ownclouders/web-client',
    listMyDrives: (g, roles, options, req) => g.drives.listMyDrives(roles, options, req),
    createDrive: (g, roles, data, req) => g.drives.createDrive(data, roles, req),
    updateDrive: (g, roles, id, data, req) => g.drives.updateDrive(id, data, roles, req),
    getDrive: (g, roles, id) => g.drives.getDrive(id, roles),
    listSharedWithMe: (g) => g.driveItems.listSharedWithMe({}),
    listSharedByMe: (g) => g.driveItems.listSharedByMe({}),
    createData: (name) => ({ name, driveType: 'project' }),
    // ownCloud awaits the role definitions before it loads spaces.
    rolesBeforeSpaces: true,
  },
  {
    name: 'OpenCloud Web',
    pkg: '@opencloud-eu/web-client',
    listMyDrives: (g, roles, options, req) => g.drives.listMyDrives(options, req),
    createDrive: (g, roles, data, req) => g.drives.createDrive(data, req),
    updateDrive: (g, roles, id, data, req) => g.drives.updateDrive(id, data, req),
    getDrive: (g, roles, id) => g.drives.getDrive(id),
    // OpenCloud's loaders ask for thumbnails too.
    listSharedWithMe: (g) => g.driveItems.listSharedWithMe({ expand: new Set(['thumbnails']) }, {}),
    listSharedByMe: (g) => g.driveItems.listSharedByMe({ expand: new Set(['thumbnails']) }, {}),
    createData: (name) => ({ name }),
    rolesBeforeSpaces: false,
  },
];

/**
 * web-runtime's sign-in for one user (UserManager.fetchUserInfo and what it
 * calls, then the bootstrap's role definitions): fills `u` with the
 * capabilities, graph user, settings role, permissions, CASL ability and
 * role definitions, each one step. `checks` adds what this user's role must
 * give.
 */
async function signIn(env, lib, u, checks) {
  const who = u.username;
  const s = (site, what, fn) => step(lib, site, `${who}: ${what}`, fn, `${checks.row}: ${what}`);
  await s(SITE.capabilities, 'ocs.getCapabilities announces spaces and project spaces', async () => {
    const caps = await u.c.ocs.getCapabilities();
    assert(caps?.capabilities, `no capabilities: ${JSON.stringify(caps)}`);
    const { spaces, core } = caps.capabilities;
    assert(spaces?.enabled === true && spaces?.projects === true, `spaces: ${JSON.stringify(spaces)}`);
    assert(core && typeof core === 'object', 'no core capabilities');
    u.capabilities = caps;
  });
  await s(SITE.me, 'graph users.getMe ($expand=memberOf)', async () => {
    const me = await u.c.graph.users.getMe();
    assert(me.id && me.displayName === u.displayName, `me: ${JSON.stringify(me)}`);
    assert(me.memberOf === undefined || Array.isArray(me.memberOf), `memberOf: ${JSON.stringify(me.memberOf)}`);
    u.me = me;
  });
  await s(SITE.roles, 'POST /api/v0/settings/roles-list', async () => {
    const { data } = await u.c.http.post('/api/v0/settings/roles-list', {});
    const ids = (data?.bundles || []).map((b) => b.id);
    for (const id of Object.values(SETTINGS_ROLE)) assert(ids.includes(id), `no role bundle ${id}: ${JSON.stringify(data)}`);
    u.roleBundles = data.bundles;
  });
  await s(SITE.assignment, `POST /api/v0/settings/assignments-list names the ${checks.role} role`, async () => {
    const me = need(u.me, 'getMe failed');
    const { data } = await u.c.http.post('/api/v0/settings/assignments-list', { account_uuid: me.id });
    // The web reads data.assignments.find(...): a missing list throws there.
    const assignment = data.assignments.find((a) => 'roleId' in a);
    assert(assignment?.roleId === SETTINGS_ROLE[checks.role], `assignments: ${JSON.stringify(data)}`);
    assert(!u.roleBundles || u.roleBundles.some((b) => b.id === assignment.roleId), 'the role is not in roles-list');
  });
  await s(SITE.permissions, `POST /api/v0/settings/permissions-list ${checks.drives ? 'lets' : 'does not let'} the user create, manage and set quotas of all spaces`, async () => {
    const me = need(u.me, 'getMe failed');
    const { data } = await u.c.http.post('/api/v0/settings/permissions-list', { account_uuid: me.id });
    assert(Array.isArray(data?.permissions), `permissions: ${JSON.stringify(data)}`);
    const ability = env.createMongoAbility(data.permissions.flatMap((p) => DRIVE_ABILITIES[p] || []));
    // oCIS's space admin: Drives.Create, Drives.ReadWriteEnabled (enable,
    // disable, delete any space), Drives.ReadWriteProjectQuota, Drives.List.
    for (const action of ['create-all', 'update-all', 'delete-all', 'set-quota-all', 'read-all']) {
      assert(ability.can(action, 'Drive') === checks.drives, `${action} Drive: ${JSON.stringify(data.permissions)}`);
    }
    u.permissions = data.permissions;
    u.ability = ability;
  });
  await s(SITE.roleDefinitions, 'graph permissions.listRoleDefinitions has the space roles', async () => {
    const definitions = await u.c.graph.permissions.listRoleDefinitions();
    assert(Array.isArray(definitions), `role definitions: ${JSON.stringify(definitions)}`);
    for (const id of Object.values(ROLE)) {
      assert(definitions.some((d) => d.id === id), `no role ${id}`);
    }
    // The shares store's setGraphRoles: the definitions by id.
    u.graphRoles = Object.fromEntries(definitions.map((d) => [d.id, d]));
  });
}

/** web-pkg's getSpacesByType: listMyDrives with the web's filter and order. */
function spacesByType(lib, u, driveType) {
  return lib.listMyDrives(u.c.graph, u.graphRoles || {}, { orderBy: 'name asc', filter: `driveType eq ${driveType}` }, {});
}

async function loadSpaces(env, lib, u) {
  await step(lib, SITE.loadSpaces, `${u.username}: listMyDrives driveType eq personal, eq project (name asc), every space built`, async () => {
    // ownCloud awaits the role definitions first; OpenCloud loads spaces
    // at the same time, without them.
    const roles = lib.rolesBeforeSpaces ? need(u.graphRoles, 'no role definitions') : {};
    const [personal, project] = await Promise.all(['personal', 'project'].map((t) =>
      spacesByType(lib, { ...u, graphRoles: roles }, t)));
    for (const s of [...personal, ...project]) {
      assert(s.id && s.name && s.type === 'space' && typeof s.getWebDavUrl === 'function', `space: ${JSON.stringify(s)}`);
      // The builders take the server from the origin of the drive's webUrl.
      const dav = s.getWebDavUrl({ path: '/' });
      assert(dav.startsWith(`${env.stack.url}/`) && dav.includes(s.id), `WebDAV URL ${dav} (webUrl ${s.privateLink})`);
      if (lib.rolesBeforeSpaces) assert(s.members && typeof s.members === 'object', `members: ${JSON.stringify(s.members)}`);
    }
    assert(personal.every((s) => s.driveType === 'personal'), 'the personal filter returned other drives');
    assert(project.every((s) => s.driveType === 'project'), 'the project filter returned other drives');
    const mine = personal.find((s) => s.isOwner(u.me));
    assert(mine, `no personal space of ${u.username}: ${JSON.stringify(personal.map((s) => [s.name, s.owner]))}`);
    assert(mine.canUpload({ user: u.me }), 'cannot upload to the personal space');
    assert(mine.spaceQuota && typeof mine.spaceQuota === 'object', `quota: ${JSON.stringify(mine.spaceQuota)}`);
    u.spaces = [...personal, ...project];
  });
}

/** ownCloud's builder keeps members by user id (from root.permissions). */
function memberRole(space, userId) {
  return space.members?.[userId]?.roleId;
}

/** The library's modules the web uses (before any tab shims a browser). */
async function loadLibrary(lib) {
  return {
    root: await import(lib.pkg),
    graph: await import(`${lib.pkg}/graph`),
    ocs: await import(`${lib.pkg}/ocs`),
    generated: await import(`${lib.pkg}/graph/generated`),
  };
}

async function runLibrary(env, lib, mod) {
  const { generated } = mod;
  const serverUrl = `${env.stack.url}/`;
  const user = async (username) => {
    const def = USERS.find((x) => x.username === username);
    const token = await env.stack.signIn(username);
    return { username, displayName: def.name, c: clients(mod, env.axios, serverUrl, token) };
  };

  const marie = await user('marie');
  await signIn(env, lib, marie, { role: 'spaceAdmin', drives: true, row: 'marie (space admin)' });
  await loadSpaces(env, lib, marie);

  const members = {};
  for (const [username, role] of [['ada', 'Manager'], ['richard', 'Space Editor'], ['katherine', 'Space Viewer']]) {
    members[username] = { ...(await user(username)), spaceRole: role };
  }

  // Each user's tab opens its change stream once signed in, when the
  // capabilities announce it.
  const tabs = {};
  await step(lib, SITE.sseOpen, 'ocs capabilities core["support-sse"] is true', async () => {
    const caps = need(marie.capabilities, 'no capabilities');
    assert(caps.capabilities.core['support-sse'] === true, `core: ${JSON.stringify(caps.capabilities.core)}`);
  }, 'sse: capabilities announce support-sse');
  // Opened even when that failed, to tell what else fails.
  await step(lib, SITE.sseOpen, 'sseAuthenticated opens the streams of marie, ada, richard and katherine', async () => {
    for (const u of [marie, ...Object.values(members)]) {
      tabs[u.username] = await openTab(lib, env.z, u.username, serverUrl, u.c.token);
    }
    const opened = Promise.all(Object.values(tabs).map((t) => t.opened));
    let timer;
    const late = new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`not open after ${STREAM_OPEN_MS} ms`)), STREAM_OPEN_MS);
    });
    await Promise.race([opened, late]).finally(() => clearTimeout(timer));
  }, 'sse: the tabs open their streams');
  const sseCheck = (tab, topic, t0, want, then) => sseStep(lib, tab, topic, t0, want, then);

  let space;
  const name = `Relativity (${lib.name})`;
  await step(lib, SITE.create, 'drives.createDrive makes a project space whose creator is Manager', async () => {
    need(marie.me, 'marie is not signed in');
    space = await lib.createDrive(marie.c.graph, marie.graphRoles || {}, lib.createData(name), { params: { template: 'default' } });
    assert(space.id && space.name === name && space.driveType === 'project' && !space.disabled,
      `space: ${JSON.stringify({ id: space.id, name: space.name, driveType: space.driveType, disabled: space.disabled })}`);
    if (lib.rolesBeforeSpaces) {
      assert(memberRole(space, marie.me.id) === ROLE.manager, `members: ${JSON.stringify(space.members)}`);
    }
  });

  const renamed = `${name} renamed`;
  await step(lib, SITE.rename, 'drives.updateDrive({ name }) renames it', async () => {
    need(space, 'no space');
    const updated = await lib.updateDrive(marie.c.graph, marie.graphRoles || {}, space.id, { name: renamed });
    assert(updated.id === space.id && updated.name === renamed, `name ${updated.name}`);
    space.name = renamed;
  });

  await step(lib, SITE.quota, 'drives.updateDrive({ name, quota: { total } }) sets a 2 GiB quota', async () => {
    need(space, 'no space');
    const updated = await lib.updateDrive(marie.c.graph, marie.graphRoles || {}, space.id,
      { name: space.name, quota: { total: 2 * GIB } });
    assert(updated.spaceQuota?.total === 2 * GIB, `quota ${JSON.stringify(updated.spaceQuota)}`);
  });

  // Members: richard joins as Viewer and is made Editor below.
  const shares = {};
  const invited = {};
  for (const [username, roleId, label] of [['ada', ROLE.manager, 'Manager'], ['richard', ROLE.spaceViewer, 'Space Viewer'],
    ['katherine', ROLE.spaceViewer, 'Space Viewer']]) {
    await step(lib, SITE.invite, `permissions.createInvite on the space root adds ${username} as ${label}, then drives.getDrive`, async () => {
      need(space, 'no space');
      const m = members[username];
      // The member's id as the web's people search finds it: from the
      // user's own sign-in, the id Spaceport gave them.
      const me = await m.c.graph.users.getMe();
      m.me = me;
      invited[username] = Date.now();
      const share = await marie.c.graph.permissions.createInvite(space.id, space.id, {
        roles: [roleId],
        expirationDateTime: undefined,
        recipients: [{ objectId: me.id, '@libre.graph.recipient.type': 'user' }],
      }, marie.graphRoles || {});
      assert(share.id && share.sharedWith?.id === me.id && share.role?.id === roleId,
        `share: ${JSON.stringify({ id: share.id, sharedWith: share.sharedWith, role: share.role?.id })}`);
      shares[username] = share;
      // The form re-reads a project space after inviting.
      const updated = await lib.getDrive(marie.c.graph, marie.graphRoles || {}, space.id);
      if (lib.rolesBeforeSpaces) {
        assert(memberRole(updated, me.id) === roleId, `members: ${JSON.stringify(updated.members)}`);
      }
    });
    await sseCheck(tabs[username], 'space-member-added', shares[username] && invited[username], {
      itemid: space?.id, spaceid: space?.id, initiatorid: marie.c.initiatorId, affecteduserids: [members[username].me?.id],
    }, async () => {
      // onSSESpaceMemberAddedEvent: getDrive(itemid) as the new member.
      const drive = await lib.getDrive(members[username].c.graph, {}, space.id);
      assert(drive.id === space.id, `getDrive: ${drive.id}`);
    });
  }

  await step(lib, SITE.members, 'permissions.listPermissions on the space root lists the four members and the roles one may give', async () => {
    need(space, 'no space');
    const { shares: listed, allowedRoles } = await marie.c.graph.permissions.listPermissions(space.id, space.id, marie.graphRoles || {}, {});
    const byUser = Object.fromEntries(listed.map((s) => [s.sharedWith?.id, s.role?.id]));
    assert(byUser[need(marie.me, 'no me').id] === ROLE.manager, `members: ${JSON.stringify(byUser)}`);
    for (const [username, share] of Object.entries(shares)) {
      assert(byUser[members[username].me.id] === share.role.id, `${username}: ${JSON.stringify(byUser)}`);
    }
    const allowed = (allowedRoles || []).map((r) => r.id);
    for (const id of Object.values(ROLE)) assert(allowed.includes(id), `allowed roles: ${JSON.stringify(allowed)}`);
  });

  let t0;
  await step(lib, SITE.change, 'permissions.updatePermission makes richard Space Editor', async () => {
    const share = need(shares.richard, 'richard was not added');
    const start = Date.now();
    const updated = await marie.c.graph.permissions.updatePermission(space.id, space.id, share.id,
      { roles: [ROLE.spaceEditor], expirationDateTime: undefined }, marie.graphRoles || {});
    t0 = start;
    assert(updated.id === share.id && updated.role?.id === ROLE.spaceEditor, `share: ${JSON.stringify({ id: updated.id, role: updated.role?.id })}`);
  });
  await sseCheck(tabs.richard, 'space-share-updated', t0, {
    itemid: space?.id, spaceid: space?.id, initiatorid: marie.c.initiatorId, affecteduserids: [members.richard.me?.id],
  });

  // What each member's web shows for the space.
  for (const m of Object.values(members)) {
    await signIn(env, lib, m, { role: 'user', drives: false, row: 'each member (user)' });
    await step(lib, SITE.loadSpaces, `${m.username} (${m.spaceRole}) finds the project space`, async () => {
      need(space, 'no space');
      need(shares[m.username], `${m.username} was not added`);
      const project = await spacesByType(lib, { ...m, graphRoles: lib.rolesBeforeSpaces ? m.graphRoles || {} : {} }, 'project');
      m.space = project.find((s) => s.id === space.id);
      assert(m.space && m.space.name === space.name, `projects: ${JSON.stringify(project.map((s) => s.name))}`);
    });
    if (!lib.rolesBeforeSpaces) {
      await step(lib, SITE.graphPermissions, `${m.username}: listPermissions $select=@libre.graph.permissions.actions.allowedValues`, async () => {
        const s = need(m.space, 'the space was not found');
        const { allowedActions } = await m.c.graph.permissions.listPermissions(s.id, s.id, m.graphRoles || {}, {
          select: [generated.ListPermissionsSpaceRootSelectEnum.LibreGraphPermissionsActionsAllowedValues],
        });
        assert(Array.isArray(allowedActions), `allowed actions: ${JSON.stringify(allowedActions)}`);
        s.graphPermissions = allowedActions;
      });
    }
    await step(lib, SITE.can, `${m.username} as ${m.spaceRole} may do what the role allows`, async () => {
      const s = need(m.space, 'the space was not found');
      if (!lib.rolesBeforeSpaces) need(s.graphPermissions, 'no allowed actions');
      const args = { user: need(m.me, 'not signed in'), ability: need(m.ability, 'no ability') };
      const yes = CAN.filter((f) => s[f](args));
      const want = EXPECTED_CAN[m.spaceRole];
      assert(JSON.stringify(yes) === JSON.stringify(want), `can* true: ${JSON.stringify(yes)}, want ${JSON.stringify(want)}`);
    });
  }

  t0 = undefined;
  await step(lib, SITE.remove, 'permissions.deletePermission removes katherine, then drives.getDrive', async () => {
    const share = need(shares.katherine, 'katherine was not added');
    const start = Date.now();
    await marie.c.graph.permissions.deletePermission(space.id, space.id, share.id);
    t0 = start;
    const updated = await lib.getDrive(marie.c.graph, marie.graphRoles || {}, space.id);
    assert(updated.id === space.id, 'the space is gone');
    const { shares: listed } = await marie.c.graph.permissions.listPermissions(space.id, space.id, marie.graphRoles || {}, {});
    assert(!listed.some((s) => s.sharedWith?.id === members.katherine.me.id), 'katherine is still a member');
    const project = await spacesByType(lib, members.katherine, 'project');
    assert(!project.some((s) => s.id === space.id), 'katherine still lists the space');
  });
  await sseCheck(tabs.katherine, 'space-member-removed', t0, {
    itemid: space?.id, spaceid: space?.id, initiatorid: marie.c.initiatorId,
  }, (data) => memberRemoved(lib, members.katherine, space, data));

  await runSharing(env, lib, {
    mod, marie, members, tabs, space, spacesByType, siteLoadSpaces: SITE.loadSpaces,
  });

  const reloaded = async () => (await spacesByType(lib, marie, 'project')).find((s) => s.id === space.id);

  await step(lib, SITE.disable, 'drives.disableDrive disables it; its Manager still lists it, disabled, and may restore or delete it', async () => {
    need(space, 'no space');
    await marie.c.graph.drives.disableDrive(space.id);
    const s = await reloaded();
    assert(s && s.disabled === true, `after disabling: ${JSON.stringify(s && { disabled: s.disabled, root: s.root })}`);
    // OpenCloud's loadGraphPermissions loads nothing for a disabled space
    // (graphPermissions []): the space admin's ability decides.
    if (!lib.rolesBeforeSpaces) s.graphPermissions = [];
    const args = { user: marie.me, ability: need(marie.ability, 'no ability') };
    assert(s.canRestore(args) && s.canBeDeleted(args), 'the Manager may not restore or delete it');
  });

  await step(lib, SITE.restore, 'drives.updateDrive({ name }) with Restore: true enables it again', async () => {
    need(space, 'no space');
    const updated = await lib.updateDrive(marie.c.graph, marie.graphRoles || {}, space.id, { name: space.name },
      { headers: { Restore: 'true' } });
    assert(updated.id === space.id && !updated.disabled, `restored: ${JSON.stringify({ disabled: updated.disabled, root: updated.root })}`);
    const s = await reloaded();
    assert(s && !s.disabled, 'still disabled in the listing');
  });

  await step(lib, SITE.delete, 'drives.disableDrive, then drives.deleteDrive (Purge: T) deletes it', async () => {
    need(space, 'no space');
    await marie.c.graph.drives.disableDrive(space.id);
    await marie.c.graph.drives.deleteDrive(space.id);
    assert(!(await reloaded()), 'still listed');
  });
  closeTabs();
}

async function main() {
  let axios;
  let createMongoAbility;
  let z;
  try {
    // The libraries' own axios and CASL (their dependencies in the lock).
    ({ default: axios } = await import('axios'));
    ({ createMongoAbility } = await import('@casl/ability'));
    ({ z } = await import('zod'));
  } catch (err) {
    notOk('the client libraries are installed', `${err.message}\nrun: (cd tests/clients && npm ci)`);
    return;
  }
  const stack = new Stack({ name: 'clients', users: USERS });
  const env = { stack, axios, createMongoAbility, z };
  try {
    const t0 = Date.now();
    try {
      await stack.start();
    } catch (err) {
      notOk('the stack starts: nats-server, the identity provider and spaceport', err.stack || err);
      return;
    }
    diag(`started in ${Date.now() - t0} ms; spaceport ${stack.url}, issuer ${stack.issuer}`);
    const mods = [];
    for (const lib of LIBRARIES) mods.push(await loadLibrary(lib));
    for (const [i, lib] of LIBRARIES.entries()) {
      // Their exports hide package.json: read the installed file.
      const { version } = JSON.parse(fs.readFileSync(
        new URL(`./node_modules/${lib.pkg}/package.json`, import.meta.url), 'utf8'));
      diag(`${lib.name}: ${lib.pkg} ${version}`);
      try {
        await runLibrary(env, lib, mods[i]);
      } catch (err) {
        notOk(`${lib.name}: the run goes through`, describe(err));
      }
    }
    const code = await stack.stop();
    if (code === 0) ok('spaceport stops cleanly (exit code 0)');
    else notOk('spaceport stops cleanly (exit code 0)', `exit code ${code}:\n${stack.report()}`);
  } finally {
    closeTabs();
    if (tapCounts().failed && stack.sp) diag(`spaceport log:\n${tail(stack.sp.log, 15)}`);
    await stack.stop().catch(() => {});
    stack.cleanup();
    printTable(LIBRARIES.map((l) => l.name));
  }
}

await main().catch((err) => notOk('the test runner', err.stack || err));
const { count, failed } = tapCounts();
console.log(`1..${count}`);
process.exitCode = failed || count === 0 ? 1 : 0;
