#!/usr/bin/python3
"""The libre-graph surface ownCloud Web and OpenCloud Web manage spaces
with: drive writes through /graph/v1beta1 (each version answering in its
own permission form), Restore and Purge as oCIS reads them, /me/drive, one
permission by id, and the actions a caller may take on a space root or an
item, each compared with what oCIS's unified roles grant."""
import urllib.parse

import yaml  # python3-yaml

from harness import TAP, Client, Issuer, Nats, Spaceport
from test_contract import SPEC_PATH, Contract

MANAGER = '312c0871-5ef7-4b3a-85b6-0e4074c64049'
SPACE_EDITOR = '58c63c02-1d89-4572-916a-870abc5a1b7d'
SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'
VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
EDITOR = 'fb6c3e19-e378-47e5-b277-9732f9de6e21'
FILE_EDITOR = '2d00ce52-1fc2-4dbc-8b95-a73b73395f5a'
EDITOR_LITE = '1c996275-f1c9-4e71-abdf-a42f6495e960'
ROLES = '@libre.graph.permissions.roles.allowedValues'
ACTIONS = '@libre.graph.permissions.actions.allowedValues'

# oCIS's unified roles, written down from their sources (reva's
# conversions.New*Role permission sets, unifiedrole's conditions and its
# CS3ResourcePermissionsToLibregraphActions mapping and order), not from
# Spaceport's table: the answers are compared with these.
CS3_TO_ACTION = [
    ('AddGrant', 'libre.graph/driveItem/permissions/create'),
    ('CreateContainer', 'libre.graph/driveItem/children/create'),
    ('Delete', 'libre.graph/driveItem/standard/delete'),
    ('GetPath', 'libre.graph/driveItem/path/read'),
    ('GetQuota', 'libre.graph/driveItem/quota/read'),
    ('InitiateFileDownload', 'libre.graph/driveItem/content/read'),
    ('InitiateFileUpload', 'libre.graph/driveItem/upload/create'),
    ('ListGrants', 'libre.graph/driveItem/permissions/read'),
    ('ListContainer', 'libre.graph/driveItem/children/read'),
    ('ListFileVersions', 'libre.graph/driveItem/versions/read'),
    ('ListRecycle', 'libre.graph/driveItem/deleted/read'),
    ('Move', 'libre.graph/driveItem/path/update'),
    ('RemoveGrant', 'libre.graph/driveItem/permissions/delete'),
    ('PurgeRecycle', 'libre.graph/driveItem/deleted/delete'),
    ('RestoreFileVersion', 'libre.graph/driveItem/versions/update'),
    ('RestoreRecycleItem', 'libre.graph/driveItem/deleted/update'),
    ('Stat', 'libre.graph/driveItem/basic/read'),
    ('UpdateGrant', 'libre.graph/driveItem/permissions/update'),
    ('DenyGrant', 'libre.graph/driveItem/permissions/deny'),
]
_VIEW = {'GetPath', 'GetQuota', 'InitiateFileDownload', 'ListContainer', 'ListRecycle', 'Stat'}
_EDIT = _VIEW | {'CreateContainer', 'Delete', 'InitiateFileUpload', 'Move', 'RestoreRecycleItem'}
OCIS_CS3 = {
    VIEWER: _VIEW,
    SPACE_VIEWER: _VIEW | {'ListGrants'},
    EDITOR: _EDIT,
    SPACE_EDITOR: _EDIT | {'ListFileVersions', 'ListGrants', 'RestoreFileVersion'},
    FILE_EDITOR: _VIEW | {'InitiateFileUpload', 'RestoreRecycleItem'},
    EDITOR_LITE: {'Stat', 'GetPath', 'CreateContainer', 'InitiateFileUpload',
                  'InitiateFileDownload', 'ListContainer', 'Move'},
    MANAGER: _EDIT | {'ListFileVersions', 'ListGrants', 'RestoreFileVersion', 'PurgeRecycle',
                      'AddGrant', 'RemoveGrant', 'UpdateGrant', 'DenyGrant'},
}
FILE, FOLDER, ROOT = 'exists @Resource.File', 'exists @Resource.Folder', 'exists @Resource.Root'
FED = ' && @Subject.UserType=="Federated"'
OCIS_CONDITIONS = {
    VIEWER: [FILE, FOLDER, FILE + FED, FOLDER + FED],
    SPACE_VIEWER: [ROOT],
    EDITOR: [FOLDER, FOLDER + FED],
    SPACE_EDITOR: [ROOT],
    FILE_EDITOR: [FILE, FILE + FED],
    EDITOR_LITE: [FOLDER],
    MANAGER: [ROOT],
}


def ocis_actions(role):
    """The actions oCIS lists for role, in its order."""
    return [action for cs3, action in CS3_TO_ACTION if cs3 in OCIS_CS3[role]]


def q(s):
    return urllib.parse.quote(s, safe='')


def perms_path(drive, item=None, perm=None):
    if item is None:
        p = '/graph/v1beta1/drives/%s/root/permissions' % q(drive)
    else:
        p = '/graph/v1beta1/drives/%s/items/%s/permissions' % (q(drive), q(item))
    return p + ('/' + q(perm) if perm else '')


def beta_form(t, drive, user_id, role, what):
    perms = drive.get('root', {}).get('permissions', [])
    mine = [p for p in perms if p.get('grantedToV2', {}).get('user', {}).get('id') == user_id]
    t.ok(len(mine) == 1 and mine[0]['roles'] == [role] and
         all('grantedToIdentities' not in p for p in perms),
         what + ': root.permissions in the v1beta1 form (grantedToV2, role id)', perms)


def v1_form(t, drive, user_id, legacy, what):
    perms = drive.get('root', {}).get('permissions', [])
    mine = [p for p in perms
            if p.get('grantedToIdentities', [{}])[0].get('user', {}).get('id') == user_id]
    t.ok(len(mine) == 1 and mine[0]['roles'] == [legacy] and
         all('grantedToV2' not in p for p in perms),
         what + ': root.permissions in the v1.0 form (grantedToIdentities, role name)', perms)


def check_writes(t, sp, c, ids):
    """ownCloud Web's drive writes: createDriveBeta, updateDriveBeta,
    deleteDriveBeta, each answering a drive it builds a space from."""
    bob, carol, dave = c['bob'], c['carol'], c['dave']
    r = bob.call('POST', '/graph/v1beta1/drives', {'name': 'Beta', 'quota': {'total': 5000}})
    t.eq(r.status, 201, 'POST /graph/v1beta1/drives creates a project drive: 201')
    d = r.json()
    project = d['id']
    t.eq(r.headers.get('location'), sp.url + '/graph/v1beta1/drives/' + q(project),
         'Location names the new drive under /graph/v1beta1')
    beta_form(t, d, ids['bob'], MANAGER, 'the v1beta1 create answer')
    t.eq(d['quota']['total'], 5000, 'the quota sent with the create is set')
    r = bob.call('POST', '/graph/v1.0/drives', {'name': 'Version one'})
    t.eq(r.status, 201, 'POST /graph/v1.0/drives still creates: 201')
    v1_form(t, r.json(), ids['bob'], 'manager', 'the v1.0 create answer')
    t.ok(r.headers.get('location', '').startswith(sp.url + '/graph/v1.0/drives/'),
         'the v1.0 Location stays under /graph/v1.0', r.headers.get('location'))
    t.eq(carol.call('POST', '/graph/v1beta1/drives', {'name': 'Nope'}).status, 403,
         'a user without the space admin role cannot create through v1beta1 either')
    t.eq(bob.call('POST', '/graph/v1beta1/drives',
                  {'name': 'x', 'driveType': 'personal'}).status, 400,
         'v1beta1 refuses driveType personal as v1.0 does')

    invite = bob.call('POST', '/graph/v1beta1/drives/%s/root/invite' % q(project),
                      {'recipients': [{'objectId': ids['carol']}], 'roles': [SPACE_EDITOR]})
    t.eq(invite.status, 200, 'carol becomes a SpaceEditor')

    path = '/graph/v1beta1/drives/' + q(project)
    r = bob.call('PATCH', path, {'name': 'Beta renamed'})
    t.ok(r.status == 200 and r.json()['name'] == 'Beta renamed',
         'PATCH v1beta1 renames: 200 with the drive', r.body[:200])
    beta_form(t, r.json(), ids['bob'], MANAGER, 'the v1beta1 rename answer')
    r = bob.call('PATCH', '/graph/v1.0/drives/' + q(project), {'description': 'v1'})
    t.eq(r.status, 200, 'PATCH v1.0 describes: 200')
    v1_form(t, r.json(), ids['bob'], 'manager', 'the v1.0 PATCH answer')
    r = bob.call('PATCH', path, {'quota': {'total': 9000}})
    t.ok(r.status == 200 and r.json()['quota']['total'] == 9000,
         'PATCH v1beta1 sets the quota of a drive the space admin manages', r.body[:200])
    t.eq(carol.call('PATCH', path, {'name': 'Mine now'}).status, 403,
         'a SpaceEditor cannot rename through v1beta1')
    t.eq(dave.call('PATCH', path, {'name': 'Mine now'}).status, 404,
         'a non-member does not find the drive through v1beta1')

    t.eq(carol.call('DELETE', path).status, 403, 'a SpaceEditor cannot disable through v1beta1')
    r = bob.call('PATCH', path, {'name': 'Beta renamed'}, {'Restore': 'true'})
    t.eq(r.status, 409, 'Restore of a drive that is not disabled: 409')
    r = bob.call('DELETE', path, headers={'Purge': 'T'})
    t.eq(r.status, 400, 'Purge of an enabled drive: 400, nothing deleted')
    r = bob.call('DELETE', path)
    t.eq(r.status, 204, 'DELETE v1beta1 disables: 204')
    r = bob.get(path)
    t.ok(r.status == 200 and r.json()['root'].get('deleted', {}).get('state') == 'trashed',
         'the disabled drive reads root.deleted.state trashed', r.body[:300])
    t.eq(carol.get(path).status, 404, 'a SpaceEditor no longer reaches the disabled drive')
    # ownCloud Web restores with "Restore: true" and the name in the body.
    r = bob.call('PATCH', path, {'name': 'Beta renamed'}, {'Restore': 'true'})
    t.ok(r.status == 200 and 'deleted' not in r.json()['root'],
         'PATCH v1beta1 with Restore: true re-enables: 200, no root.deleted', r.body[:300])
    beta_form(t, r.json(), ids['bob'], MANAGER, 'the v1beta1 restore answer')
    t.eq(carol.get(path).status, 200, 'the SpaceEditor reaches the restored drive again')
    t.eq(bob.call('DELETE', path, headers={'Purge': 'maybe'}).status, 204,
         'a Purge header oCIS does not read as true only disables')
    r = bob.get(path)
    t.ok(r.status == 200 and 'deleted' in r.json()['root'],
         'that DELETE disabled the drive and did not purge it', r.status)
    r = bob.call('DELETE', path, headers={'Purge': 'T'})
    t.eq(r.status, 204, 'DELETE v1beta1 with Purge: T deletes the disabled drive: 204')
    t.eq(bob.get(path).status, 404, 'the purged drive is gone')
    r = bob.call('PATCH', path, {'name': 'x'}, {'Restore': 'T'})
    t.eq(r.status, 404, 'restoring a purged drive: 404')


def check_me_drive(t, c, ids):
    """GET /graph/v1.0/me/drive: the caller's own personal drive."""
    for name in ('bob', 'carol'):
        r = c[name].get('/graph/v1.0/me/drive')
        listed = [d for d in c[name].get('/graph/v1.0/me/drives?$filter=' +
                                         q("driveType eq 'personal'")).json()['value']]
        d = r.json() if r.status == 200 else {}
        t.ok(r.status == 200 and d.get('driveType') == 'personal' and
             d.get('owner', {}).get('user', {}).get('id') == ids[name] and
             [x['id'] for x in listed] == [d.get('id')],
             '%s: /me/drive is their own personal drive, the one me/drives lists' % name,
             r.body[:300])
        v1_form(t, d, ids[name], 'manager', '%s: /me/drive' % name)
    t.eq(c['bob'].sp.request('GET', '/graph/v1.0/me/drive').status, 401,
         '/me/drive without a token: 401')


def setup_space(t, c, ids):
    """A project drive with a Manager (bob), a SpaceEditor (carol), a
    SpaceViewer (dave) and one item share; erin is no member."""
    bob = c['bob']
    r = bob.call('POST', '/graph/v1beta1/drives', {'name': 'Roles'})
    project = r.json()['id']
    for who, role in (('carol', SPACE_EDITOR), ('dave', SPACE_VIEWER)):
        r = bob.call('POST', '/graph/v1beta1/drives/%s/root/invite' % q(project),
                     {'recipients': [{'objectId': ids[who]}], 'roles': [role]})
        t.eq(r.status, 200, '%s joins the space' % who)
    item = project + '!folder-1'
    r = bob.call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (q(project), q(item)),
                 {'recipients': [{'objectId': ids['erin']}], 'roles': [EDITOR]})
    t.eq(r.status, 200, 'bob shares a folder of the space with erin')
    share_id = r.json()['value'][0]['id']
    other = project + '!folder-2'
    r = bob.call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (q(project), q(other)),
                 {'recipients': [{'objectId': ids['erin']}], 'roles': [VIEWER]})
    t.eq(r.status, 200, 'and another folder')
    return project, item, share_id, r.json()['value'][0]['id']


def check_single_permission(t, c, ids, project, item, share_id, other_share):
    bob, carol, dave, erin, alice = c['bob'], c['carol'], c['dave'], c['erin'], c['alice']
    listing = bob.get(perms_path(project)).json()['value']
    carol_perm = [p for p in listing if p['grantedToV2']['user']['id'] == ids['carol']][0]
    r = bob.get(perms_path(project, perm=carol_perm['id']))
    t.ok(r.status == 200 and r.json() == carol_perm,
         'GET root/permissions/{id}: the member exactly as the listing shows it', r.body[:300])
    r = dave.get(perms_path(project, perm=carol_perm['id']))
    t.ok(r.status == 200 and r.json() == carol_perm,
         'a SpaceViewer, who may list the members, reads one too')
    r = alice.get(perms_path(project, perm=carol_perm['id']))
    t.ok(r.status == 200 and r.json() == carol_perm,
         'an admin, who may list the members, reads one too')
    r = bob.get(perms_path(project, perm='no-such-permission'))
    t.ok(r.status == 404 and r.json()['error']['code'] == 'itemNotFound',
         'an unknown permission id on the root: 404 itemNotFound', r.body[:200])
    r = bob.get(perms_path(project, perm=share_id))
    t.eq(r.status, 404, 'an item share id is no member of the root: 404')
    r = erin.get(perms_path(project, perm=carol_perm['id']))
    t.eq(r.status, 404, 'a non-member (who may not list the members) gets 404, not the member')
    t.ok(b'grantedToV2' not in r.body and ids['carol'].encode() not in r.body,
         'and nothing of the member', r.body[:200])

    listing = bob.get(perms_path(project, item)).json()['value']
    r = bob.get(perms_path(project, item, share_id))
    t.ok(r.status == 200 and [r.json()] == listing,
         'GET items/{item}/permissions/{id}: the share exactly as the listing shows it',
         r.body[:300])
    r = carol.get(perms_path(project, item, share_id))
    t.ok(r.status == 200 and r.json()['id'] == share_id,
         'a SpaceEditor, who may list the item permissions, reads it')
    r = bob.get(perms_path(project, item, other_share))
    t.ok(r.status == 404 and r.json()['error']['code'] == 'itemNotFound',
         "another item's share through this item: 404 itemNotFound", r.body[:200])
    r = bob.get(perms_path(project, item, 'no-such-share'))
    t.eq(r.status, 404, 'an unknown share id: 404')
    r = erin.get(perms_path(project, item, share_id))
    t.eq(r.status, 404, 'the grantee, no member of the drive (may not list): 404')
    t.ok(b'invitedBy' not in r.body, 'and nothing of the share', r.body[:200])
    r = bob.get(perms_path(project, project + '!..', share_id))
    t.eq(r.status, 400, 'an item id that breaks the form rule: 400, as on the listing')


def check_actions(t, c, project, item):
    """@libre.graph.permissions.actions.allowedValues: what the caller's own
    role grants, as oCIS lists it; OpenCloud Web's can* read it."""
    for who, role, name in (('bob', MANAGER, 'Manager'), ('carol', SPACE_EDITOR, 'SpaceEditor'),
                            ('dave', SPACE_VIEWER, 'SpaceViewer')):
        for version in ('v1beta1', 'v1.0'):
            r = c[who].get(perms_path(project).replace('/v1beta1/', '/%s/' % version))
            got = r.json().get(ACTIONS) if r.status == 200 else None
            t.eq(got, ocis_actions(role),
                 '%s root listing: a %s gets exactly the actions of oCIS\'s %s role' %
                 (version, name, name))
        r = c[who].get(perms_path(project, item))
        t.eq(r.json().get(ACTIONS), ocis_actions(role),
             'item listing: a %s gets the actions of their space role there' % name)
    bob = c['bob'].get(perms_path(project)).json()[ACTIONS]
    carol = c['carol'].get(perms_path(project)).json()[ACTIONS]
    dave = c['dave'].get(perms_path(project)).json()[ACTIONS]
    delete, create = ('libre.graph/driveItem/permissions/delete',
                      'libre.graph/driveItem/permissions/create')
    upload = 'libre.graph/driveItem/upload/create'
    t.ok(delete in bob and create in bob and upload in bob,
         'OpenCloud Web lets the Manager rename, disable, share and upload')
    t.ok(upload in carol and delete not in carol and create not in carol,
         'the SpaceEditor uploads but neither manages nor shares the space')
    t.ok(not {delete, create, upload} & set(dave), 'the SpaceViewer does none of these')
    r = c['alice'].get(perms_path(project))
    t.ok(r.status == 200 and r.json().get(ACTIONS) == [],
         'an admin who is no member lists the members but is granted no actions', r.body[:200])


def check_select(t, c, project, item):
    bob = c['bob']
    full = bob.get(perms_path(project)).json()
    # OpenCloud Web's loadGraphPermissions asks for the actions only.
    r = bob.get(perms_path(project) + '?$select=' + q(ACTIONS))
    t.eq(r.json(), {ACTIONS: full[ACTIONS]}, '$select of the actions answers only the actions')
    r = bob.get(perms_path(project, item) + '?$select=' + q(ROLES))
    body = r.json()
    t.ok(list(body) == [ROLES] and body[ROLES],
         '$select of the roles answers only the roles (oCIS drops actions and value)', body)
    r = bob.get(perms_path(project) + '?$select=' + q('value,' + ROLES))
    t.eq(sorted(r.json()), sorted(['value', ROLES]), '$select of two members answers two')
    r = bob.get(perms_path(project) + '?$select=id')
    t.eq(r.json(), full, 'a $select naming none of them answers everything, as oCIS')


def check_role_definitions(t, c, project, item):
    """roleDefinitions: each role with oCIS's conditions and actions, the
    table the listings' actions come from."""
    r = c['dave'].get('/graph/v1beta1/roleManagement/permissions/roleDefinitions')
    defs = {d['id']: d for d in r.json()}
    t.eq(set(defs), set(OCIS_CS3), 'roleDefinitions lists the seven roles')
    for role, conditions in OCIS_CONDITIONS.items():
        got = defs.get(role, {}).get('rolePermissions', [])
        want = [{'allowedResourceActions': ocis_actions(role), 'condition': cond}
                for cond in conditions]
        t.eq(got, want, 'role %s: rolePermissions as oCIS defines them' %
             defs.get(role, {}).get('displayName', role))
    offered = c['bob'].get(perms_path(project, item)).json()[ROLES]
    for role in offered:
        t.ok(role['rolePermissions'] == defs[role['id']]['rolePermissions'],
             'the item listing offers %s with the same definition' % role['id'])


class CheckedClient(Client):
    """A client whose every answer is checked against schema/openapi.yaml;
    what does not match is kept in problems."""

    def __init__(self, sp, token, contract, problems):
        super().__init__(sp, token)
        self.contract, self.problems = contract, problems

    def call(self, method, path, body=None, headers=None):
        r = super().call(method, path, body, headers)
        self.problems += ['%s %s: %s' % (method, path, p)
                          for p in self.contract.check(method, path, r)]
        return r


def main(t):
    with open(SPEC_PATH, encoding='utf-8') as f:
        contract = Contract(yaml.safe_load(f))
    problems = []
    with Nats() as nats, Issuer() as idp:
        sp = Spaceport(nats_url=nats.url, issuers=idp.url)
        with sp:
            def client(name, roles=()):
                return CheckedClient(sp, idp.token(name + '-sub', name, name.title(),
                                                   roles=roles), contract, problems)
            c = {'alice': client('alice', ['spaceport-admin']),
                 'bob': client('bob', ['spaceport-spaceadmin'])}
            for name in ('carol', 'dave', 'erin'):
                c[name] = client(name)
            ids = {}
            for name, client in c.items():
                r = client.get('/graph/v1.0/me')
                if not t.eq(r.status, 200, '%s is provisioned' % name):
                    t.diag(sp.stderr_text()[-3000:])
                    return
                ids[name] = r.json()['id']
            check_writes(t, sp, c, ids)
            check_me_drive(t, c, ids)
            project, item, share_id, other_share = setup_space(t, c, ids)
            check_single_permission(t, c, ids, project, item, share_id, other_share)
            check_actions(t, c, project, item)
            check_select(t, c, project, item)
            check_role_definitions(t, c, project, item)
            t.ok(not problems, 'every answer above matches schema/openapi.yaml',
                 '\n'.join(problems[:20]))


if __name__ == '__main__':
    TAP().run(main)
