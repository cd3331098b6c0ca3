#!/usr/bin/python3
"""The libre-graph API as the judge of Spaceport's /graph answers.

oCIS clients (ownCloud Web, OpenCloud Web, their web-client libraries) are
generated from and written against owncloud/libre-graph-api's OpenAPI
document, stored unchanged in tests/data/libre-graph (see SOURCE there).
Every answer of every /graph route Spaceport serves is validated here
against that document's response schema for its path, method and status
(the document's server is https://host/graph, its paths /v1.0/...), errors
against its odata.error. Our own contract (schema/openapi.yaml) is judged
by test_contract.py with the same judge (openapi.py).

Nothing is skipped silently: a route the document lacks is a listed
extension, a schema of the document that contradicts what oCIS answers and
the clients read is a listed erratum (and a check fails once the document
no longer needs it), and every served route must have been judged.
"""
import os
import urllib.parse

import yaml  # python3-yaml

from harness import SOURCE_ROOT, TAP, Client, Issuer, Nats, Spaceport
from openapi import Judge
from test_contract import code_routes, raw

SPEC_PATH = os.path.join(SOURCE_ROOT, 'tests', 'data', 'libre-graph', 'v1.0.yaml')
COMMIT = '2c0073c75f60f523d4ffcb01647cfaa034ed123b'
BASE = '/graph'

MANAGER = '312c0871-5ef7-4b3a-85b6-0e4074c64049'
SPACE_EDITOR = '58c63c02-1d89-4572-916a-870abc5a1b7d'
SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'
VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
EDITOR = 'fb6c3e19-e378-47e5-b277-9732f9de6e21'
SHARES = 'a0ca6a90-a365-4782-871e-d44447bbc668$a0ca6a90-a365-4782-871e-d44447bbc668'

# /graph routes Spaceport serves that the document does not describe, and
# why they exist. Their answers are judged by test_contract.py only.
EXTENSIONS = {
    ('GET', '/graph/v1.0/drives/{id}/root/permissions'):
        'space members in the v1.0 form (grantedToIdentities), for v1.0 clients',
    ('POST', '/graph/v1.0/me/drives'):
        'registering a space of a trusted instance (federation, a mountpoint drive)',
    ('GET', '/graph/v1.0/subscriptions'): 'webhooks: Microsoft Graph subscriptions',
    ('POST', '/graph/v1.0/subscriptions'): 'webhooks: Microsoft Graph subscriptions',
    ('GET', '/graph/v1.0/subscriptions/{id}'): 'webhooks: Microsoft Graph subscriptions',
    ('PATCH', '/graph/v1.0/subscriptions/{id}'): 'webhooks: Microsoft Graph subscriptions',
    ('DELETE', '/graph/v1.0/subscriptions/{id}'): 'webhooks: Microsoft Graph subscriptions',
    ('GET', '/graph/v1.0/me/drives/delta'):
        'Microsoft Graph\'s delta query over the drive list, for sync clients (test_delta.py)',
}

# Operations ownCloud Web and OpenCloud Web call for sign-in and spaces
# (issue 16) beyond those served before it: each must be served, and the
# live checks below judge their answers like any other.
REQUIRED = {
    ('POST', '/v1beta1/drives'), ('PATCH', '/v1beta1/drives/{drive-id}'),
    ('DELETE', '/v1beta1/drives/{drive-id}'), ('GET', '/v1.0/me/drive'),
    ('GET', '/v1beta1/drives/{drive-id}/root/permissions/{perm-id}'),
    ('GET', '/v1beta1/drives/{drive-id}/items/{item-id}/permissions/{perm-id}'),
}

# Members Spaceport's answers carry that the document's schema for that
# object does not name: (schema, member): why. The document admits any
# member, so without this list a misspelt name would pass; with it, an
# unlisted member fails its answer's check.
EXTRA_MEMBERS = {
    ('remoteItem', 'driveId'):
        'the shared drive of a mountpoint or received share; Spaceport\'s web app reads '
        'root.remoteItem.driveId (web/app.js) and schema/openapi.yaml documents it',
    ('remoteItem', 'shared'):
        'sharedBy and sharedDateTime of a received share (the Microsoft Graph remoteItem '
        'facet), documented in schema/openapi.yaml',
}

# Where the document's schema contradicts what oCIS answers and what the
# clients read, the answer is judged against the corrected schema instead,
# and a check proves the document as written still rejects it (so a fixed
# document retires the erratum). (METHOD, template, status): (schema, why).
ERRATA = {
    ('GET', '/v1beta1/roleManagement/permissions/roleDefinitions', '200'): (
        {'type': 'array', 'items': {'$ref': '#/components/schemas/unifiedRoleDefinition'}},
        'the document gives one unifiedRoleDefinition; oCIS answers a JSON array of them '
        '(services/graph/pkg/service/v0/rolemanagement.go GetRoleDefinitions renders '
        'unifiedrole.GetRoles) and web-client listRoleDefinitions returns that array'),
    ('POST', '/v1beta1/drives/{drive-id}/root/children', '201'): (
        {'$ref': '#/components/schemas/driveItem'},
        'the document gives 200 for mounting a share; oCIS answers 201 Created with the '
        'driveItem (services/graph/pkg/service/v0/api_drives_drive_item.go CreateDriveItem '
        'renders http.StatusCreated), and web-client createDriveItem reads the data whatever '
        'the 2xx status'),
}


class LibreGraph(Judge):
    """The judge over the libre-graph document, with ERRATA applied and
    every judged (METHOD, template) recorded in self.judged."""

    def __init__(self, spec):
        super().__init__(spec, base=BASE)
        self.judged = set()
        self.errata_used = {}
        self.extra_used = set()

    def check(self, method, path, r):
        tmpl, resp = self.response(method, path, r.status)
        if tmpl is None:
            return [resp]
        self.judged.add((method, tmpl))
        key = (method, tmpl, str(r.status))
        if key in ERRATA:
            self.errata_used[key] = self.check_body(resp, r)
            problems = self.problems(ERRATA[key][0], r.json())
            schema = ERRATA[key][0]
        else:
            problems = self.check_body(resp, r)
            schema = resp.get('content', {}).get('application/json', {}).get('schema')
        if schema is None or problems:
            return problems
        for where, name, member in self.undocumented(schema, r.json()):
            if (name, member) in EXTRA_MEMBERS:
                self.extra_used.add((name, member))
            else:
                problems.append('%s: %s has no member %r in the document' % (where, name, member))
        return problems


def static_checks(t):
    with open(SPEC_PATH, encoding='utf-8') as f:
        text = f.read()
    spec = yaml.safe_load(text)
    t.ok(spec.get('openapi', '').startswith('3.0.') and
         spec.get('info', {}).get('title') == 'Libre Graph API' and
         any(urllib.parse.urlsplit(s['url']).path == BASE for s in spec.get('servers', [])),
         'the stored document is the libre-graph API, OpenAPI 3.0, served under %s' % BASE,
         [spec.get('openapi'), spec.get('info'), spec.get('servers')])
    with open(os.path.join(os.path.dirname(SPEC_PATH), 'SOURCE'), encoding='utf-8') as f:
        source = f.read()
    t.ok(COMMIT in source and 'api/openapi-spec/v1.0.yaml' in source and
         'Apache' in source, 'SOURCE names the repository path, commit and licence')
    judge = LibreGraph(spec)
    t.ok(not judge.unchecked, 'every schema keyword and format of the document is checked '
         '(%d paths)' % len(spec['paths']), sorted(judge.unchecked))
    return judge


def judge_self_checks(t, judge):
    """The translation of OpenAPI 3.0 rejects what the document forbids:
    each case is an answer a lax judge would let through."""
    user = {'$ref': '#/components/schemas/user'}
    ok_user = {'id': 'u1', 'displayName': 'Bob', 'onPremisesSamAccountName': 'bob'}
    t.ok(not judge.problems(user, ok_user), 'the judge accepts a well-formed user')
    t.ok(judge.problems(user, {'id': 'u1', 'displayName': 'Bob'}),
         'the judge follows $ref and allOf: a user without onPremisesSamAccountName fails')
    t.ok(judge.problems(user, dict(ok_user, passwordProfile={'password': 'secret'})),
         'writeOnly: an answer that carries a password fails')
    perm = {'$ref': '#/components/schemas/permission'}
    t.ok(not judge.problems(perm, {'id': 'p', 'expirationDateTime': None}) and
         judge.problems(perm, {'id': 'p', 'roles': 'manager'}),
         'nullable: a null expirationDateTime passes, a string for the roles array fails')
    t.ok(judge.problems(perm, {'id': 'p', 'expirationDateTime': '2099-01-01 00:00'}),
         'format date-time: a time that is not RFC 3339 fails')
    quota = {'$ref': '#/components/schemas/quota'}
    t.ok(judge.problems(quota, {'total': 1 << 64}) and not judge.problems(quota, {'total': 5}),
         'format int64: a quota beyond 64 bits fails')
    disc = {'type': 'object', 'discriminator': {'propertyName': 'kind'},
            'anyOf': [{'$ref': '#/components/schemas/user'},
                      {'$ref': '#/components/schemas/group'}]}
    no_sam = {'id': 'u1', 'displayName': 'Bob', 'kind': 'user'}
    t.ok(judge.problems(disc, ok_user) and judge.problems(disc, dict(ok_user, kind='other')) and
         not judge.problems(disc, dict(ok_user, kind='user')) and
         not judge.problems(disc, dict(no_sam, kind='group')) and judge.problems(disc, no_sam),
         'discriminator: the property is required, and its value picks the schema')
    t.eq([(n, m) for _, n, m in judge.undocumented(user, dict(ok_user, displayname='Bob'))],
         [('user', 'displayname')], 'a member the document does not name is found (a misspelt '
         'displayName), through $ref and allOf')
    t.eq(judge.undocumented({'$ref': '#/components/schemas/drive'},
                            {'name': 'x', 'root': {'remoteItem': {'id': 'r', 'drivId': 'd'}}}),
         [('/root/remoteItem/drivId', 'remoteItem', 'drivId')],
         'an unnamed member deep in an answer is found with its path and schema')
    err = {'$ref': '#/components/schemas/odata.error'}
    t.ok(judge.problems(err, {'code': 'x', 'message': 'y'}),
         'odata.error: an error not wrapped in "error" fails')
    t.eq(judge.template('/graph/v1.0/drives/abc$def'), '/v1.0/drives/{drive-id}',
         'our /graph/v1.0/... paths map to the document\'s /v1.0/... templates')
    t.eq(judge.template('/v1.0/drives'), None, 'a path outside /graph is not a libre-graph path')


def route_checks(t, judge):
    """Every /graph route the code serves is in the document or a listed
    extension; the extensions are served and not in the document."""
    routes, _ = code_routes()
    graph = sorted((m, p) for m, p in routes if p.startswith(BASE + '/'))
    t.ok(len(graph) >= 20, 'the /graph routes of src/api/*.c parse (%d)' % len(graph))
    served = {}
    for method, pattern in graph:
        tmpl = judge.template(pattern)
        documented = tmpl is not None and method.lower() in judge.spec['paths'][tmpl]
        if (method, pattern) in EXTENSIONS:
            t.ok(not documented, 'extension %s %s is not in the document' % (method, pattern),
                 tmpl)
        else:
            t.ok(documented, '%s %s is a libre-graph operation' % (method, pattern),
                 'not in the document and not listed in EXTENSIONS')
            served[(method, tmpl)] = pattern
    missing = sorted(set(EXTENSIONS) - set(graph))
    t.ok(not missing, 'every listed extension is served', missing)
    for method, tmpl in sorted(REQUIRED, key=lambda r: (r[1], r[0])):
        t.ok((method, tmpl) in served, 'the clients\' %s %s%s is served' % (method, BASE, tmpl))
    return served


def live_checks(t, judge):
    with Issuer() as idp, Nats() as nats, Spaceport(
            nats_url=nats.url, issuers=idp.url,
            env={'SPACEPORT_DAV_URL': 'https://dav.example.test'}) as sp:
        alice = Client(sp, idp.token('alice', roles=['spaceport-admin']))
        bob = Client(sp, idp.token('bob', email='bob@example.test',
                                   roles=['spaceport-spaceadmin']))
        carol = Client(sp, idp.token('carol', email='carol@example.test'))
        dave = Client(sp, idp.token('dave', groups=['physics-lovers']))

        def judged(name, method, path, r, status):
            problems = judge.verdict(method, path, r, status)
            t.ok(not problems, name, '\n'.join(problems))
            return r

        def graph(name, who, method, path, status, body=None, headers=None):
            r = who.call(method, path, body=body, headers=headers)
            return judged('%s %s: %s' % (method, path_name(path), name), method, path, r, status)

        names = {}  # ids in check names: {project}, not a UUID

        def path_name(path):
            for real, alias in names.items():
                path = path.replace(real, alias)
            return path

        # users
        me = graph('user', bob, 'GET', '/graph/v1.0/me', 200).json()
        graph('user, as web-client getMe asks for it', bob, 'GET',
              '/graph/v1.0/me?$expand=memberOf', 200)
        ids = {'bob': me.get('id')}
        for who_name, who in (('carol', carol), ('dave', dave)):
            ids[who_name] = who.me()['id']
        graph('collection of user', bob, 'GET', '/graph/v1.0/users?$search=%22car%22', 200)
        graph('too short a search is odata.error', bob, 'GET',
              '/graph/v1.0/users?$search=ca', 400)
        found = graph('collection of group, as the web\'s recipient search asks', bob, 'GET',
                      '/graph/v1.0/groups?$search=%22phys%22&$orderby=displayName', 200).json()
        group = (found.get('value') or [{}])[0].get('id', 'none')
        names[group] = '{group}'
        graph('group with its members', bob, 'GET', '/graph/v1.0/groups/%s?$expand=members' %
              group, 200)
        graph('unknown group is odata.error', bob, 'GET', '/graph/v1.0/groups/nope', 404)

        # drives: listings
        graph('collection of drives', bob, 'GET', '/graph/v1.0/me/drives', 200)
        graph('collection of drives', bob, 'GET', '/graph/v1beta1/me/drives', 200)
        graph('filtered by driveType', bob, 'GET',
              '/graph/v1beta1/me/drives?$filter=' + urllib.parse.quote("driveType eq 'project'"),
              200)
        graph('admin: collection of drives', alice, 'GET', '/graph/v1.0/drives', 200)
        graph('admin: collection of drives', alice, 'GET', '/graph/v1beta1/drives', 200)
        graph('neither admin nor space admin: odata.error', carol, 'GET', '/graph/v1.0/drives',
              403)
        graph('a $filter that does not parse is odata.error', bob, 'GET',
              '/graph/v1.0/me/drives?$filter=' + urllib.parse.quote("driveType eq"), 400)
        graph('personal drive', bob, 'GET', '/graph/v1.0/me/drive', 200)

        # drives: creation, one drive
        r = graph('drive', bob, 'POST', '/graph/v1.0/drives', 201,
                  body={'name': 'Judged', 'description': 'v1.0', 'quota': {'total': 1000000}})
        project = r.json().get('id', 'none')
        names[project] = '{project}'
        r = graph('drive', bob, 'POST', '/graph/v1beta1/drives', 201,
                  body={'name': 'Judged beta', 'description': 'v1beta1',
                        'quota': {'total': 1000000}})
        beta = r.json().get('id') if r.status == 201 else None
        if beta is None:  # the v1beta1 life cycle below still needs a drive
            beta = bob.call('POST', '/graph/v1.0/drives', body={'name': 'Judged beta'}).json()['id']
        names[beta] = '{beta}'
        graph('no role to create: odata.error', carol, 'POST', '/graph/v1.0/drives', 403,
              body={'name': 'Nope'})
        graph('no role to create: odata.error', carol, 'POST', '/graph/v1beta1/drives', 403,
              body={'name': 'Nope'})
        graph('a read-only field: odata.error', bob, 'POST', '/graph/v1.0/drives', 400,
              body={'name': 'X', 'id': 'mine'})
        graph('drive', bob, 'GET', '/graph/v1.0/drives/' + project, 200)
        graph('drive', bob, 'GET', '/graph/v1beta1/drives/' + project, 200)
        graph('not visible: odata.error', carol, 'GET', '/graph/v1.0/drives/' + project, 404)

        # roles
        graph('role definitions', bob, 'GET',
              '/graph/v1beta1/roleManagement/permissions/roleDefinitions', 200)
        graph('unifiedRoleDefinition', bob, 'GET',
              '/graph/v1beta1/roleManagement/permissions/roleDefinitions/' + MANAGER, 200)
        graph('an unknown role: odata.error', bob, 'GET',
              '/graph/v1beta1/roleManagement/permissions/roleDefinitions/nope', 404)

        def permissions(base, what, invitee, role, wrong, wrong_status, new_role):
            """Invite, a refused invite, the listing, one, a change: the id."""
            r = graph('collection of permissions', bob, 'POST', base + '/invite', 200,
                      body={'recipients': [{'objectId': ids[invitee]}], 'roles': [role]})
            perm = (r.json().get('value') or [{}])[0].get('id', 'none')
            names[perm] = '{%s}' % what
            graph('refused: odata.error', bob, 'POST', base + '/invite', wrong_status, body=wrong)
            r = graph('permissions with allowed values', bob, 'GET', base + '/permissions', 200)
            allowed(t, 'a Manager\'s listing of %s permissions' % what, r)
            graph('one permission', bob, 'GET', base + '/permissions/' + perm, 200)
            graph('permission', bob, 'PATCH', base + '/permissions/' + perm, 200,
                  body={'roles': [new_role], 'expirationDateTime': '2099-01-01T00:00:00Z'})
            return perm

        # space members: inviting twice is refused
        root = '/graph/v1beta1/drives/%s/root' % project
        member = permissions(root, 'member', 'carol', SPACE_VIEWER,
                             {'recipients': [{'objectId': ids['carol']}], 'roles': [SPACE_VIEWER]},
                             409, SPACE_EDITOR)
        graph('not a Manager: odata.error', carol, 'PATCH', root + '/permissions/' + member,
              403, body={'roles': [MANAGER]})
        graph('drives with members', carol, 'GET', '/graph/v1beta1/me/drives', 200)
        graph('drives with members (v1.0 form)', carol, 'GET', '/graph/v1.0/me/drives', 200)

        # item shares: a space role is refused
        items = '/graph/v1beta1/drives/%s/items/%s' % (project, project)
        share = permissions(items, 'share', 'dave', VIEWER,
                            {'recipients': [{'objectId': ids['carol']}], 'roles': [MANAGER]},
                            400, EDITOR)
        graph('collection of driveItems', dave, 'GET', '/graph/v1beta1/me/drive/sharedWithMe',
              200)
        graph('collection of driveItems', bob, 'GET', '/graph/v1beta1/me/drive/sharedByMe', 200)
        # the share jail: read, hide, unmount and mount what one received
        received = dave.get('/graph/v1beta1/me/drive/sharedWithMe').json().get('value') or [{}]
        jail = '/graph/v1beta1/drives/' + urllib.parse.quote(SHARES, safe='')
        jail_item = jail + '/items/' + urllib.parse.quote(received[0].get('id', 'none'), safe='')
        names[received[0].get('id', 'none')] = '{jail item}'
        graph('driveItem', dave, 'GET', jail_item, 200)
        graph('driveItem', dave, 'PATCH', jail_item, 200, body={'@UI.Hidden': True})
        graph('no body', dave, 'DELETE', jail_item, 204)
        graph('driveItem', dave, 'POST', jail + '/root/children', 201,
              body={'remoteItem': {'id': project}})
        graph('mounted already: odata.error', dave, 'POST', jail + '/root/children', 409,
              body={'remoteItem': {'id': project}})
        graph('not received: odata.error', carol, 'GET', jail_item, 404)
        graph('not the share jail: odata.error', dave, 'DELETE',
              '/graph/v1beta1/drives/%s/items/%s' % (project, project), 400)
        graph('mountpoint and virtual drives', dave, 'GET', '/graph/v1beta1/me/drives', 200)
        graph('no body', bob, 'DELETE', items + '/permissions/' + share, 204)
        graph('no body', bob, 'DELETE', root + '/permissions/' + member, 204)

        # drive life cycle, in both versions
        for version, drive in (('v1.0', project), ('v1beta1', beta)):
            path = '/graph/%s/drives/%s' % (version, drive)
            graph('drive', bob, 'PATCH', path, 200,
                  body={'name': 'Renamed', 'quota': {'total': 2000000}})
            graph('nothing to change: odata.error', bob, 'PATCH', path, 400, body={})
            graph('purge of an enabled drive: odata.error', bob, 'DELETE', path, 400,
                  headers={'Purge': 'T'})
            graph('disabled, no body', bob, 'DELETE', path, 204)
            graph('disabled drive', bob, 'GET', path, 200)
            graph('a disabled drive: odata.error', bob, 'PATCH', path, 409,
                  body={'name': 'Again'})
            graph('restored drive', bob, 'PATCH', path, 200, headers={'Restore': 'T'})
            graph('disabled again, no body', bob, 'DELETE', path, 204)
            graph('purged, no body', bob, 'DELETE', path, 204, headers={'Purge': 'T'})
            graph('purged: odata.error', bob, 'GET', path, 404)

        # errors that apply everywhere
        judged('GET /graph/v1.0/me: no token is odata.error', 'GET', '/graph/v1.0/me',
               sp.request('GET', '/graph/v1.0/me'), 401)
        judged('GET /graph/v1.0/me/drives: a bad token is odata.error', 'GET',
               '/graph/v1.0/me/drives', sp.get('/graph/v1.0/me/drives', token='nope'), 401)
        r = raw(sp.port, b'POST /graph/v1.0/drives HTTP/1.1\r\nHost: x\r\n'
                b'Content-Type: application/json\r\nContent-Length: 1048577\r\n\r\n')
        judged('POST /graph/v1.0/drives: a body over 1 MiB is odata.error', 'POST',
               '/graph/v1.0/drives', r, 413)
        p = '/graph/v1.0/me/drives?$filter=' + 'a' * 9000
        judged('GET /graph/v1.0/me/drives: a request target over 8 KiB is odata.error',
               'GET', p, bob.get(p), 414)
        judged('GET /graph/v1.0/me: headers over 16 KiB are odata.error', 'GET',
               '/graph/v1.0/me', bob.get('/graph/v1.0/me', headers={'X-Big': 'a' * 17000}), 431)
        judged('POST /graph/v1.0/drives: malformed JSON is odata.error', 'POST',
               '/graph/v1.0/drives', bob.call('POST', '/graph/v1.0/drives', body='{"name":',
                                              headers={'Content-Type': 'application/json'}), 400)


def allowed(t, what, r):
    """The listing carries both allowed-values annotations, as oCIS answers
    them (the document makes them optional; the clients need them)."""
    body = r.json() if r.status == 200 else {}
    roles = body.get('@libre.graph.permissions.roles.allowedValues')
    actions = body.get('@libre.graph.permissions.actions.allowedValues')
    t.ok(isinstance(roles, list) and roles and isinstance(actions, list) and actions and
         all(isinstance(a, str) and a.startswith('libre.graph/') for a in actions),
         '%s carries @libre.graph.permissions.roles.allowedValues and '
         '.actions.allowedValues' % what, r.body[:300])


def coverage_checks(t, judge, served):
    """Every served libre-graph operation was judged, and each erratum is
    still needed: the document as written rejects the real answer."""
    unjudged = sorted('%s %s' % (m, served[(m, tm)]) for m, tm in served
                      if (m, tm) not in judge.judged)
    t.ok(not unjudged, 'every served libre-graph operation had its answers judged (%d)' %
         len(served), unjudged)
    for key, (_, why) in sorted(ERRATA.items()):
        as_written = judge.errata_used.get(key)
        t.ok(as_written, 'erratum %s %s %s is still needed: the document as written '
             'rejects the answer' % key, 'unused or not needed; ' + why)
    stale = sorted(set(EXTRA_MEMBERS) - judge.extra_used)
    t.ok(not stale, 'every listed extra member was seen in an answer', stale)
    t.diag('%d routes and %d members outside the document, %d errata applied' % (
        len(EXTENSIONS), len(EXTRA_MEMBERS), len(judge.errata_used)))


def main(t):
    judge = static_checks(t)
    judge_self_checks(t, judge)
    served = route_checks(t, judge)
    live_checks(t, judge)
    coverage_checks(t, judge, served)


if __name__ == '__main__':
    TAP().run(main)
