// tests/clients/sharing.mjs - sharing as the web apps do it, for one
// library: the storage provider describes a folder and a file of marie's
// personal drive (a spaceport.storage.changed CloudEvent on NATS, as
// examples/storage-change sends it); the invite form searches users and
// groups, shares the folder with richard and the file with the group
// sailing-lovers (richard and ada), and the project space with the group
// physics-lovers (katherine, removed from it as a user before); the
// sharing sidebar reads the permissions; the shared-with-me and
// shared-by-me pages list them through the library's builders, with the
// items' names and drives; richard unmounts, mounts and hides his share,
// ada hides hers; grants are changed and removed. Every acting request is
// followed by the event the recipients' tabs must receive on the oCIS
// change stream within a second (tests/clients/sse.mjs).

import { assert, diag, waitFor } from '../lib/stack.mjs';
import { natsPublish } from '../lib/nats.mjs';
import { expectEvent, received, waitEvent } from './sse.mjs';
import { need, step } from './web.mjs';

// oCIS's unified roles for files and folders (unifiedrole/roles.go).
const ROLE = {
  viewer: 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5',
  editor: 'fb6c3e19-e378-47e5-b277-9732f9de6e21',
  spaceViewer: 'a8d5fe5e-96e3-418d-825b-534dbdf22b99',
};

// The invite form's search term: it matches the user Ada Lovelace and the
// groups physics-lovers and sailing-lovers (displayName contains "lov").
const SEARCH = 'lov';

// How long storage's description may take to reach the listings: the
// event goes through NATS and the relay before the store has it.
const DESCRIBED_WITHIN_MS = 5000;

const SITE = {
  describe: 'storage provider spaceport.storage.changed with items (examples/storage-change), then web-runtime onSSEProcessingFinishedEvent (packages/web-runtime/src/container/sse/files.ts)',
  search: 'web-app-files InviteCollaboratorForm fetchRecipientsTask (packages/web-app-files/src/components/SideBar/Shares/Collaborators/InviteCollaborator/InviteCollaboratorForm.vue)',
  invite: 'web-app-files InviteCollaboratorForm share -> shares store addShare (packages/web-app-files/src/components/SideBar/Shares/Collaborators/InviteCollaborator/InviteCollaboratorForm.vue)',
  sidebar: 'web-pkg FileSideBar loadSharesTask (packages/web-pkg/src/components/SideBar/FileSideBar.vue)',
  change: 'web-app-files Collaborators ListItem saveShareChanges -> shares store updateShare (packages/web-app-files/src/components/SideBar/Shares/Collaborators/ListItem.vue)',
  remove: 'web-app-files CollaboratorListItem removeShare -> shares store deleteShare (packages/web-pkg/src/composables/piniaStores/shares/shares.ts)',
  withMe: 'web-pkg FolderLoaderSharedWithMe getTask (packages/web-pkg/src/services/folder/loaders/loaderSharedWithMe.ts)',
  byMe: 'web-pkg FolderLoaderSharedWithOthers getTask (packages/web-pkg/src/services/folder/loaders/loaderSharedWithOthers.ts)',
  disableSync: 'web-pkg useFileActionsDisableSync handler (packages/web-pkg/src/composables/actions/files/useFileActionsDisableSync.ts)',
  enableSync: 'web-pkg useFileActionsEnableSync handler (packages/web-pkg/src/composables/actions/files/useFileActionsEnableSync.ts)',
  hide: 'web-pkg useFileActionsToggleHideShare handler (packages/web-pkg/src/composables/actions/files/useFileActionsToggleHideShare.ts)',
  sse: 'web-runtime registerSSEEventListeners -> sseEventWrapper (packages/web-runtime/src/container/bootstrap.ts)',
};

/** Publishes what storage says about `items` of drive `driveId` (the
 * change is about `itemId`, when given). */
async function describeItems(stack, driveId, items, itemId) {
  const id = crypto.randomUUID();
  const event = {
    specversion: '1.0',
    id,
    source: 'tests/clients',
    type: 'spaceport.storage.changed',
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data: {
      driveId,
      eTag: `"${crypto.randomUUID()}"`,
      lastModifiedDateTime: new Date().toISOString(),
      change: 'updated',
      ...(itemId ? { itemId } : {}),
      items,
    },
  };
  await natsPublish(stack.natsUrl, 'spaceport.storage.changed', JSON.stringify(event),
    { 'Content-Type': 'application/cloudevents+json', 'Nats-Msg-Id': id });
}

/** The web's shared-with-me page for user u: the library's builder on
 * every item, as loaderSharedWithMe does. */
async function sharedWithMe(env, lib, mod, u) {
  const items = await lib.listSharedWithMe(u.c.graph);
  return items.map((driveItem) => ({
    driveItem,
    resource: mod.root.buildIncomingShareResource({ driveItem, graphRoles: u.graphRoles || {}, serverUrl: `${env.stack.url}/` }),
  }));
}

async function sharedByMe(env, lib, mod, u) {
  const items = await lib.listSharedByMe(u.c.graph);
  return items.filter((s) => s.permissions.some(({ link }) => !link)).map((driveItem) => ({
    driveItem,
    resource: mod.root.buildOutgoingShareResource({ driveItem, user: u.me, serverUrl: `${env.stack.url}/` }),
  }));
}

/** Runs `act` (the acting request) and returns when it started. */
async function acting(act) {
  const t0 = Date.now();
  await act();
  return t0;
}

/**
 * Checks the event `topic` on `tab` after the request started at `t0`,
 * with the payload fields `want`, then runs `then` on its payload (what the
 * web's handler does with it). One step, in the row "<topic>".
 */
export function sseStep(lib, tab, topic, t0, want, then = async () => {}) {
  return step(lib, SITE.sse, `${tab?.username}'s tab receives ${topic} within 1 s, its payload passes eventSchema`, async () => {
    need(tab?.open || null, 'the stream did not open');
    const { event, latency } = await expectEvent(tab, topic, need(t0, 'the acting request failed'), want);
    diag(`${lib.name}: ${topic} reached ${tab.username}'s tab ${latency} ms after the request: ${event.raw}`);
    await then(event.data);
  }, `${topic} within 1 s`);
}

/**
 * The sharing steps for one library. ctx: mod (the library's modules),
 * marie, members (ada, richard, katherine; each signed in, with me and
 * graphRoles), tabs (username -> SSE tab), space (the project space, with
 * katherine removed from it), spacesByType and siteLoadSpaces (run.mjs's
 * project spaces listing and its call site).
 */
export async function runSharing(env, lib, ctx) {
  const { mod, marie, members, tabs, space } = ctx;
  const { ShareTypes } = mod.root;
  const { richard, ada, katherine } = members;
  const tag = lib.name;
  const groups = {};
  const found = {};

  await step(lib, SITE.search, `users.listUsers and groups.listGroups ($search="${SEARCH}", $orderby=displayName) find Ada Lovelace and the groups`, async () => {
    need(marie.me, 'marie is not signed in');
    const [users, grps] = await Promise.all([
      marie.c.graph.users.listUsers({ orderBy: ['displayName'], search: `"${SEARCH}"`, filter: undefined }, {}),
      marie.c.graph.groups.listGroups({ orderBy: ['displayName'], search: `"${SEARCH}"` }, {}),
    ]);
    assert(Array.isArray(users) && users.some((u) => u.id === need(ada.me, 'ada is not signed in').id),
      `users: ${JSON.stringify(users)}`);
    assert(Array.isArray(grps), `groups: ${JSON.stringify(grps)}`);
    for (const name of ['physics-lovers', 'sailing-lovers']) {
      const g = grps.find((x) => x.displayName === name);
      assert(g && g.id, `no group ${name}: ${JSON.stringify(grps)}`);
      groups[name] = g;
    }
    // The form lists them in one list: users, then groups.
    const names = grps.map((g) => g.displayName);
    assert(JSON.stringify(names) === JSON.stringify([...names].sort()), `not ordered by displayName: ${names}`);
  }, 'users.listUsers + groups.listGroups');

  // The project space for the group physics-lovers: katherine, no longer a
  // member herself, reaches it again through the group.
  let spaceGroupShare;
  let t0;
  await step(lib, SITE.invite, 'permissions.createInvite on the space root adds the group physics-lovers (Space Viewer)', async () => {
    need(space, 'no space');
    const g = need(groups['physics-lovers'], 'the group was not found');
    let share;
    t0 = await acting(async () => {
      share = await marie.c.graph.permissions.createInvite(space.id, space.id, {
        roles: [ROLE.spaceViewer],
        expirationDateTime: undefined,
        recipients: [{ objectId: g.id, '@libre.graph.recipient.type': 'group' }],
      }, marie.graphRoles || {});
    });
    assert(share.sharedWith?.id === g.id && share.shareType === ShareTypes.group.value && share.role?.id === ROLE.spaceViewer,
      `share: ${JSON.stringify({ id: share.id, sharedWith: share.sharedWith, shareType: share.shareType, role: share.role?.id })}`);
    spaceGroupShare = share;
  }, 'permissions.createInvite for a group (space root)');
  await sseStep(lib, tabs.katherine, 'space-member-added', t0,
    { itemid: space?.id, spaceid: space?.id, initiatorid: marie.c.initiatorId }, async () => {
      // onSSESpaceMemberAddedEvent: getDrive(itemid).
      const drive = await lib.getDrive(katherine.c.graph, katherine.graphRoles || {}, space.id);
      assert(drive.id === space.id, `getDrive: ${drive.id}`);
    });
  await step(lib, SITE.sidebar, 'permissions.listPermissions on the space root shows the group (grantedToV2.group)', async () => {
    need(spaceGroupShare, 'the group was not added');
    const { shares } = await marie.c.graph.permissions.listPermissions(space.id, space.id, marie.graphRoles || {}, {});
    const g = shares.find((s) => s.sharedWith?.id === groups['physics-lovers'].id);
    assert(g && g.shareType === ShareTypes.group.value && g.role?.id === ROLE.spaceViewer,
      `shares: ${JSON.stringify(shares.map((s) => ({ sharedWith: s.sharedWith, shareType: s.shareType, role: s.role?.id })))}`);
  }, 'permissions.listPermissions (space root, group)');
  await step(lib, ctx.siteLoadSpaces, 'katherine finds the space again through the group physics-lovers', async () => {
    need(spaceGroupShare, 'the group was not added');
    const project = await ctx.spacesByType(lib, katherine, 'project');
    assert(project.some((s) => s.id === space.id), `projects: ${JSON.stringify(project.map((s) => s.name))}`);
  }, 'a group member lists the space');

  // Storage describes a folder and a file of marie's personal drive.
  const personal = (marie.spaces || []).find((s) => s.driveType === 'personal' && s.isOwner(marie.me));
  const item = {};
  await step(lib, SITE.describe, 'NATS publish of a folder and a file of marie\'s personal drive; her tab hears of it', async () => {
    const drive = need(personal, 'marie has no personal space');
    const now = new Date().toISOString();
    item.folder = {
      id: `${drive.id}!${crypto.randomUUID()}`, parentId: drive.id, name: `Notes (${tag})`,
      path: `/Notes (${tag})`, type: 'folder', size: 4096, eTag: `"${crypto.randomUUID()}"`, lastModifiedDateTime: now,
    };
    item.file = {
      id: `${drive.id}!${crypto.randomUUID()}`, parentId: item.folder.id, name: `orbit (${tag}).txt`,
      path: `/Notes (${tag})/orbit (${tag}).txt`, type: 'file', size: 1234, eTag: `"${crypto.randomUUID()}"`,
      lastModifiedDateTime: now, mimeType: 'text/plain',
    };
    const t = Date.now();
    await describeItems(env.stack, drive.id, [item.folder, item.file], item.folder.id);
    // Spaceport keeps a description with the change it came with, and the
    // change reaches the drive owner's tab (as postprocessing-finished):
    // from then on it knows the items, before anyone shares them.
    const got = await waitEvent(need(tabs.marie, 'marie has no tab'), 'postprocessing-finished', t,
      (d) => d.itemid === item.folder.id, DESCRIBED_WITHIN_MS);
    assert(got, `marie's tab got no postprocessing-finished about the folder: ${received(tabs.marie, t)}`);
    assert(!got.event.error && got.event.data.parentitemid === drive.id && got.event.data.etag === item.folder.eTag,
      `payload: ${got.event.raw}`);
  }, 'describe items');

  const shares = {};
  t0 = undefined;
  await step(lib, SITE.invite, 'permissions.createInvite on the folder shares it with richard (Viewer)', async () => {
    const f = need(item.folder, 'not described');
    t0 = await acting(async () => {
      shares.folder = await marie.c.graph.permissions.createInvite(personal.id, f.id, {
        roles: [ROLE.viewer],
        expirationDateTime: undefined,
        recipients: [{ objectId: need(richard.me, 'richard is not signed in').id, '@libre.graph.recipient.type': 'user' }],
      }, marie.graphRoles || {});
    });
    const s = shares.folder;
    assert(s.sharedWith?.id === richard.me.id && s.shareType === ShareTypes.user.value && s.role?.id === ROLE.viewer,
      `share: ${JSON.stringify({ id: s.id, sharedWith: s.sharedWith, shareType: s.shareType, role: s.role?.id })}`);
  }, 'permissions.createInvite for a user (item)');
  await sseStep(lib, tabs.richard, 'share-created', t0, {
    itemid: item.folder?.id, parentitemid: personal?.id, spaceid: personal?.id, etag: item.folder?.eTag,
    initiatorid: marie.c.initiatorId, affecteduserids: [richard.me?.id],
  }, async () => {
    // onSSEShareCreatedEvent on the shared-with-me page.
    const items = await lib.listSharedWithMe(richard.c.graph);
    assert(items.some(({ remoteItem }) => remoteItem?.id === item.folder.id), 'the share is not in his sharedWithMe');
  });

  t0 = undefined;
  await step(lib, SITE.invite, 'permissions.createInvite on the file shares it with the group sailing-lovers (Viewer)', async () => {
    const f = need(item.file, 'not described');
    const g = need(groups['sailing-lovers'], 'the group was not found');
    t0 = await acting(async () => {
      shares.file = await marie.c.graph.permissions.createInvite(personal.id, f.id, {
        roles: [ROLE.viewer],
        expirationDateTime: undefined,
        recipients: [{ objectId: g.id, '@libre.graph.recipient.type': 'group' }],
      }, marie.graphRoles || {});
    });
    const s = shares.file;
    assert(s.sharedWith?.id === g.id && s.shareType === ShareTypes.group.value && s.role?.id === ROLE.viewer,
      `share: ${JSON.stringify({ id: s.id, sharedWith: s.sharedWith, shareType: s.shareType, role: s.role?.id })}`);
  }, 'permissions.createInvite for a group (item)');
  for (const m of [ada, richard]) {
    await sseStep(lib, tabs[m.username], 'share-created', t0, {
      itemid: item.file?.id, parentitemid: item.folder?.id, spaceid: personal?.id, initiatorid: marie.c.initiatorId,
    });
  }

  await step(lib, SITE.sidebar, 'permissions.listPermissions on the folder and the file: richard (user) and sailing-lovers (group)', async () => {
    const fs = need(shares.folder, 'not shared');
    const gs = need(shares.file, 'not shared');
    const folder = await marie.c.graph.permissions.listPermissions(personal.id, item.folder.id, marie.graphRoles || {}, {}, {});
    const file = await marie.c.graph.permissions.listPermissions(personal.id, item.file.id, marie.graphRoles || {}, {}, {});
    const brief = (l) => JSON.stringify(l.shares.map((s) => ({ id: s.id, sharedWith: s.sharedWith, shareType: s.shareType, role: s.role?.id })));
    assert(folder.shares.some((s) => s.id === fs.id && s.sharedWith?.id === richard.me.id && s.shareType === ShareTypes.user.value
      && s.role?.id === ROLE.viewer), `folder: ${brief(folder)}`);
    // buildCollaboratorShare reads grantedToV2.group into a group share.
    assert(file.shares.some((s) => s.id === gs.id && s.sharedWith?.id === groups['sailing-lovers'].id
      && s.sharedWith?.displayName === 'sailing-lovers' && s.shareType === ShareTypes.group.value), `file: ${brief(file)}`);
    assert((folder.allowedRoles || []).some((r) => r.id === ROLE.editor), `allowed roles: ${JSON.stringify(folder.allowedRoles)}`);
  }, 'permissions.listPermissions (item, user and group)');

  t0 = undefined;
  await step(lib, SITE.change, 'permissions.updatePermission makes richard Editor of the folder', async () => {
    const s = need(shares.folder, 'not shared');
    let updated;
    t0 = await acting(async () => {
      updated = await marie.c.graph.permissions.updatePermission(personal.id, item.folder.id, s.id,
        { roles: [ROLE.editor], expirationDateTime: undefined }, marie.graphRoles || {});
    });
    assert(updated.id === s.id && updated.role?.id === ROLE.editor, `share: ${JSON.stringify({ id: updated.id, role: updated.role?.id })}`);
  }, 'permissions.updatePermission (item)');
  await sseStep(lib, tabs.richard, 'share-updated', t0, {
    itemid: item.folder?.id, parentitemid: personal?.id, spaceid: personal?.id, initiatorid: marie.c.initiatorId,
    affecteduserids: [richard.me?.id],
  });

  // The shared-with-me page: the real names and the drive they are in.
  const incoming = async (u, id) => (await sharedWithMe(env, lib, mod, u)).find((x) => x.resource.fileId === id);
  // u's listing of the described item `it`, once it shows its name (the
  // description may still be on its way); what it lists at the end.
  const described = async (u, it) => {
    let x;
    await waitFor('the described name', async () => {
      x = await incoming(u, it.id);
      return x?.resource.name === it.name;
    }, DESCRIBED_WITHIN_MS).catch(() => {});
    return x;
  };
  await step(lib, SITE.withMe, 'richard: driveItems.listSharedWithMe + buildIncomingShareResource show the folder by name, in marie\'s drive, mounted', async () => {
    need(shares.folder, 'not shared');
    const x = await described(richard, item.folder);
    checkIncoming(x, item.folder, personal, ShareTypes.user.value);
    assert(x.resource.sharedBy.some((b) => b.id === marie.me.id), `shared by: ${JSON.stringify(x.resource.sharedBy)}`);
    // Editor of a folder: the role's actions, through the role definitions.
    assert(x.resource.canUpload() && x.resource.canCreate(), `an Editor may not upload: ${show(x)}`);
    found.folder = x.resource;
  }, 'driveItems.listSharedWithMe + buildIncomingShareResource');
  for (const m of [richard, ada]) {
    await step(lib, SITE.withMe, `${m.username}: the group's file is listed by name, in marie's drive, mounted`, async () => {
      need(shares.file, 'not shared');
      const x = await described(m, item.file);
      checkIncoming(x, item.file, personal, ShareTypes.group.value);
      assert(!x.resource.canUpload(), `a Viewer may upload: ${show(x)}`);
      found[`file-${m.username}`] = x.resource;
    }, 'driveItems.listSharedWithMe + buildIncomingShareResource (group)');
  }

  // The web names nothing it shares: an item storage has not described
  // yet is listed under the fallback (README: the part of its id after
  // "!"), and by its name once storage describes it.
  await step(lib, SITE.withMe, 'richard: an item storage had not described is listed under the fallback, then by its name', async () => {
    const drive = need(personal, 'marie has no personal space');
    const opaque = crypto.randomUUID();
    const draft = {
      id: `${drive.id}!${opaque}`, parentId: drive.id, name: `Draft (${tag}).md`, path: `/Draft (${tag}).md`,
      type: 'file', size: 10, eTag: `"${crypto.randomUUID()}"`, lastModifiedDateTime: new Date().toISOString(),
      mimeType: 'text/markdown',
    };
    await marie.c.graph.permissions.createInvite(drive.id, draft.id, {
      roles: [ROLE.viewer], expirationDateTime: undefined,
      recipients: [{ objectId: need(richard.me, 'richard is not signed in').id, '@libre.graph.recipient.type': 'user' }],
    }, marie.graphRoles || {});
    const before = await incoming(richard, draft.id);
    assert(before && before.resource.name === opaque, `before storage described it: ${show(before)}`);
    await describeItems(env.stack, drive.id, [draft]);
    checkIncoming(await described(richard, draft), draft, drive, ShareTypes.user.value);
  }, 'driveItems.listSharedWithMe + buildIncomingShareResource (fallback, then described)');

  const outgoing = async (id) => (await sharedByMe(env, lib, mod, marie)).find((x) => x.resource.fileId === id);
  await step(lib, SITE.byMe, 'marie: driveItems.listSharedByMe + buildOutgoingShareResource show the folder by name, with drive, parent and path', async () => {
    need(shares.folder, 'not shared');
    const x = await outgoing(item.folder.id);
    checkOutgoing(x, item.folder, personal);
    assert(x.resource.sharedWith.some((w) => w.id === richard.me.id && w.shareType === ShareTypes.user.value),
      `shared with: ${JSON.stringify(x.resource.sharedWith)}`);
  }, 'driveItems.listSharedByMe + buildOutgoingShareResource');
  await step(lib, SITE.byMe, 'marie: the file shared with the group, by name, with drive, parent and path', async () => {
    need(shares.file, 'not shared');
    const x = await outgoing(item.file.id);
    checkOutgoing(x, item.file, personal);
    assert(x.resource.sharedWith.some((w) => w.id === groups['sailing-lovers'].id && w.shareType === ShareTypes.group.value),
      `shared with: ${JSON.stringify(x.resource.sharedWith)}`);
  }, 'driveItems.listSharedByMe + buildOutgoingShareResource (group)');

  // Mounting and hiding, as the files app's actions do them.
  const state = async (u, id, want, what) => {
    const x = await incoming(u, id);
    assert(x && x.resource.syncEnabled === want.syncEnabled && x.resource.hidden === want.hidden,
      `${what}: ${JSON.stringify(x && { syncEnabled: x.resource.syncEnabled, hidden: x.resource.hidden, driveItem: x.driveItem })}`);
    return x.resource;
  };
  const stateEvent = (u, act) => sseStep(lib, tabs[u.username], 'share-updated', act, {
    itemid: item.folder?.id, spaceid: personal?.id, initiatorid: u.c.initiatorId,
  });
  t0 = undefined;
  await step(lib, SITE.disableSync, 'richard: driveItems.deleteDriveItem on the Shares drive unmounts the folder', async () => {
    const r = need(found.folder, 'not listed');
    t0 = await acting(() => richard.c.graph.driveItems.deleteDriveItem(r.driveId, r.id));
    await state(richard, item.folder.id, { syncEnabled: false, hidden: false }, 'after unmounting');
  }, 'driveItems.deleteDriveItem (unmount)');
  await stateEvent(richard, t0);
  t0 = undefined;
  await step(lib, SITE.enableSync, 'richard: driveItems.createDriveItem on the Shares drive root mounts it again', async () => {
    const r = need(found.folder, 'not listed');
    t0 = await acting(() => richard.c.graph.driveItems.createDriveItem(r.driveId, { name: r.name, remoteItem: { id: r.fileId } }));
    found.folder = await state(richard, item.folder.id, { syncEnabled: true, hidden: false }, 'after mounting');
  }, 'driveItems.createDriveItem (mount)');
  await stateEvent(richard, t0);
  t0 = undefined;
  await step(lib, SITE.hide, 'richard: driveItems.updateDriveItem { @UI.Hidden: true } hides it, false shows it', async () => {
    const r = need(found.folder, 'not listed');
    t0 = await acting(() => richard.c.graph.driveItems.updateDriveItem(r.driveId, r.id, { '@UI.Hidden': true }));
    await state(richard, item.folder.id, { syncEnabled: true, hidden: true }, 'after hiding');
    await richard.c.graph.driveItems.updateDriveItem(r.driveId, r.id, { '@UI.Hidden': false });
    await state(richard, item.folder.id, { syncEnabled: true, hidden: false }, 'after showing');
  }, 'driveItems.updateDriveItem (hide)');
  await stateEvent(richard, t0);
  await step(lib, SITE.hide, 'ada hides the group\'s file for herself; richard still sees it', async () => {
    const mine = need(found['file-ada'], 'not listed');
    await ada.c.graph.driveItems.updateDriveItem(mine.driveId, mine.id, { '@UI.Hidden': true });
    await state(ada, item.file.id, { syncEnabled: true, hidden: true }, 'ada, after hiding');
    await state(richard, item.file.id, { syncEnabled: true, hidden: false }, 'richard, after ada hid it');
  }, 'driveItems.updateDriveItem (hide, one group member)');

  t0 = undefined;
  await step(lib, SITE.remove, 'permissions.deletePermission ends richard\'s share of the folder', async () => {
    const s = need(shares.folder, 'not shared');
    t0 = await acting(() => marie.c.graph.permissions.deletePermission(personal.id, item.folder.id, s.id));
    assert(!(await incoming(richard, item.folder.id)), 'richard still lists the folder');
  }, 'permissions.deletePermission (item)');
  await sseStep(lib, tabs.richard, 'share-removed', t0, {
    itemid: item.folder?.id, parentitemid: personal?.id, spaceid: personal?.id, initiatorid: marie.c.initiatorId,
    affecteduserids: [richard.me?.id],
  });

  t0 = undefined;
  await step(lib, SITE.remove, 'permissions.deletePermission removes the group physics-lovers from the space', async () => {
    const s = need(spaceGroupShare, 'the group was not added');
    t0 = await acting(() => marie.c.graph.permissions.deletePermission(space.id, space.id, s.id));
    const project = await ctx.spacesByType(lib, katherine, 'project');
    assert(!project.some((x) => x.id === space.id), 'katherine still lists the space');
  }, 'permissions.deletePermission (space root, group)');
  await sseStep(lib, tabs.katherine, 'space-member-removed', t0, {
    itemid: space?.id, spaceid: space?.id, initiatorid: marie.c.initiatorId,
  }, (data) => memberRemoved(lib, katherine, space, data));
}

/**
 * What web-runtime's onSSESpaceMemberRemovedEvent (container/sse/shares.ts)
 * does at the tab of u, who lost space: it drops the space only when
 * affecteduserids names u; otherwise it reads the space again by itemid
 * (getDrive), which fails for someone who lost it, and the space stays.
 */
export async function memberRemoved(lib, u, space, data) {
  if (data.affecteduserids?.includes(u.me.id)) return;
  let answer = 'it answers';
  try {
    await lib.getDrive(u.c.graph, u.graphRoles || {}, data.itemid);
  } catch (err) {
    answer = `that fails (${err.response?.status ?? err.message})`;
  }
  assert(false, `affecteduserids ${JSON.stringify(data.affecteduserids)} does not name ${u.username}: the web reads `
    + `the space again with getDrive(itemid), ${answer}, and keeps showing it`);
}

/** A listed share and its drive item, for a failure message. */
function show(x) {
  const keys = ['id', 'fileId', 'remoteItemId', 'name', 'driveId', 'storageId', 'spaceId', 'parentFolderId', 'path',
    'isFolder', 'size', 'syncEnabled', 'hidden', 'shareTypes'];
  return JSON.stringify(x && { resource: Object.fromEntries(keys.map((k) => [k, x.resource[k]])), driveItem: x.driveItem });
}

/** A received share `x` of the described item `it` in drive `drive`: by
 * name, in that drive, under the Shares drive, mounted and shown. */
function checkIncoming(x, it, drive, shareType) {
  const r = x?.resource;
  assert(r && r.name === it.name && r.isFolder === (it.type === 'folder'), `not listed by name: ${show(x)}`);
  assert(r.storageId === drive.id && x.driveItem.remoteItem?.parentReference?.driveId === drive.id,
    `not in the sharer's drive: ${show(x)}`);
  assert(r.driveId && x.driveItem.parentReference?.driveType === 'virtual', `not under the Shares drive: ${show(x)}`);
  assert(r.syncEnabled === true && r.hidden === false, `not mounted and shown: ${show(x)}`);
  assert(x.driveItem.remoteItem?.eTag === it.eTag && r.size === it.size, `eTag or size: ${show(x)}`);
  assert(r.shareTypes.includes(shareType), `share types: ${JSON.stringify(r.shareTypes)}`);
}

/** A sent share `x` of `it` in `drive`: by name, with its drive, parent
 * and path (what the shared-by-me page shows and links to). */
function checkOutgoing(x, it, drive) {
  const r = x?.resource;
  assert(r && r.name === it.name, `not listed by name: ${show(x)}`);
  assert(r.driveId === drive.id && r.parentFolderId === it.parentId && r.path === it.path, `drive, parent or path: ${show(x)}`);
}
