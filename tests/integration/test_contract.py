#!/usr/bin/python3
"""The contract: schema/openapi.yaml parses, is OpenAPI 3.0.x, documents
exactly the routes the program registers in src/api/*.c (with the same
methods), every $ref in it resolves, and real answers of the running
program validate against the documented response schemas."""
import glob
import http.client
import json
import os
import re
import socket
import urllib.parse

import yaml  # python3-yaml

from harness import SOURCE_ROOT, TAP, Client, Issuer, Nats, Response, Spaceport
from openapi import Judge, all_refs, deref, operations, pointer

SPEC_PATH = os.path.join(SOURCE_ROOT, 'schema', 'openapi.yaml')
# The judge of answers against SPEC_PATH (other tests import it by this name).
Contract = Judge
API_SOURCES = os.path.join(SOURCE_ROOT, 'src', 'api', '*.c')
# Routes that carry no bearer token (instance trust, public documents).
PUBLIC = re.compile(r'^/(healthz|readyz|metrics|\.well-known/.*|ocm.*|api/v1/federation/.*|ocs/v1\.php/cloud/capabilities|web/.*|config\.json)?$')

MANAGER = '312c0871-5ef7-4b3a-85b6-0e4074c64049'
SPACE_EDITOR = '58c63c02-1d89-4572-916a-870abc5a1b7d'
SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'
VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
EDITOR = 'fb6c3e19-e378-47e5-b277-9732f9de6e21'
DAV = 'https://dav.example.test'


# ---- the sources ----------------------------------------------------------

C_TOKENS = re.compile(r'"(?:\\.|[^"\\\n])*"|/\*.*?\*/|//[^\n]*', re.S)
ROUTE = re.compile(r'"(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)"\s*,\s*"(/[^"]*)"')
REGISTER = re.compile(r'\bint\s+sp_api__register_(\w+)\s*\(')


def strip_comments(src):
    """C source without comments (string literals kept)."""
    return C_TOKENS.sub(lambda m: m.group(0) if m.group(0).startswith('"') else ' ', src)


def code_routes():
    """{(METHOD, pattern): file} from the route tables and sp_router_add
    calls of src/api/*.c, and the register functions that yielded none."""
    routes, empty = {}, []
    for path in sorted(glob.glob(API_SOURCES)):
        with open(path, encoding='utf-8') as f:
            src = strip_comments(f.read())
        found = ROUTE.findall(src)
        for method, pattern in found:
            routes[(method, pattern)] = os.path.basename(path)
        for fn in REGISTER.findall(src):
            if not found:
                empty.append('%s: sp_api__register_%s' % (os.path.basename(path), fn))
    return routes, empty


def error_codes_in_code():
    """{(status, code)} of every sp_http_reply_error in src/."""
    pairs = set()
    pat = re.compile(r'sp_http_reply_error\(\s*\w+\s*,\s*(\d{3})\s*,\s*"(\w+)"')
    for path in glob.glob(os.path.join(SOURCE_ROOT, 'src', '**', '*.c'), recursive=True):
        with open(path, encoding='utf-8') as f:
            pairs.update((int(s), c) for s, c in pat.findall(strip_comments(f.read())))
    return pairs


def sse_names_in_code(path='changes'):
    """The SSE event names a path sends: its names in the event catalog,
    and those changes.c writes itself (resync, token-expired)."""
    with open(os.path.join(SOURCE_ROOT, 'src', 'api', 'changes.c'), encoding='utf-8') as f:
        src = strip_comments(f.read())
    with open(os.path.join(SOURCE_ROOT, 'schema', 'events', 'catalog.json'),
              encoding='utf-8') as f:
        catalog = json.load(f)
    names = set(re.findall(r'event: ([a-z-]+)\\n', src))
    for e in catalog['events']:
        name = e[path]
        names.update(name.values() if isinstance(name, dict) else [name] if name else [])
    return names


# ---- static checks --------------------------------------------------------

def static_checks(t):
    try:
        with open(SPEC_PATH, encoding='utf-8') as f:
            spec = yaml.safe_load(f)
        t.ok(isinstance(spec, dict), 'schema/openapi.yaml parses as a YAML mapping')
    except (OSError, yaml.YAMLError) as e:
        t.ok(False, 'schema/openapi.yaml parses as a YAML mapping', e)
        return None
    t.ok(re.fullmatch(r'3\.0\.\d+', str(spec.get('openapi', ''))) is not None,
         'it is OpenAPI 3.0.x', spec.get('openapi'))
    t.ok(isinstance(spec.get('info'), dict) and spec['info'].get('title') and
         spec['info'].get('version') and isinstance(spec.get('paths'), dict) and
         isinstance(spec.get('components', {}).get('schemas'), dict),
         'it has info.title, info.version, paths and components.schemas')

    routes, empty = code_routes()
    t.ok(len(routes) >= 30 and not empty,
         'the route tables of src/api/*.c parse (%d routes)' % len(routes), empty)
    documented = {(m.upper(), p) for p, m, _, _ in operations(spec)}
    for method, pattern in sorted(routes, key=lambda r: (r[1], r[0])):
        t.ok((method, pattern) in documented,
             'served %s %s (%s) is documented' % (method, pattern, routes[(method, pattern)]),
             'documented methods of the path: %s' % sorted(
                 m for m, p in documented if p == pattern))
    for method, pattern in sorted(documented, key=lambda r: (r[1], r[0])):
        t.ok((method, pattern) in routes, 'documented %s %s is served by the code' %
             (method, pattern))

    refs = all_refs(spec, [])
    bad = []
    for ref in sorted(set(refs)):
        try:
            pointer(spec, ref)
        except (KeyError, IndexError, ValueError):
            bad.append(ref)
    refs_ok = t.ok(refs and not bad, 'every $ref resolves (%d references)' % len(refs), bad)

    problems = []
    for path, method, item, op in operations(spec):
        params = [deref(spec, p) for p in item.get('parameters', []) + op.get('parameters', [])]
        declared = {p['name'] for p in params if p.get('in') == 'path'}
        wanted = set(re.findall(r'\{(\w+)\}', path))
        if declared != wanted:
            problems.append('%s %s: path parameters %s, template %s' % (
                method, path, sorted(declared), sorted(wanted)))
        if any(p.get('in') == 'path' and p.get('required') is not True for p in params):
            problems.append('%s %s: a path parameter is not required' % (method, path))
    t.ok(not problems, 'every path template parameter is declared, and only those', problems)

    ids = [op.get('operationId') for _, _, _, op in operations(spec)]
    t.ok(all(ids) and len(ids) == len(set(ids)), 'every operation has a unique operationId',
         [i for i in ids if not i or ids.count(i) > 1])

    global_sec = spec.get('security', [])
    schemes = spec['components'].get('securitySchemes', {})
    t.ok(schemes.get('bearerAuth', {}).get('type') == 'http' and
         schemes['bearerAuth'].get('scheme') == 'bearer' and
         global_sec == [{'bearerAuth': []}], 'the bearer scheme is declared and required by default')
    wrong = []
    for path, method, _, op in operations(spec):
        sec = op.get('security', global_sec)
        public = PUBLIC.match(path) is not None
        if public and sec != []:
            wrong.append('%s %s should need no token' % (method, path))
        if not public and not any('bearerAuth' in s for s in sec):
            wrong.append('%s %s should need the bearer token' % (method, path))
        if not public and {} in sec:
            wrong.append('%s %s makes the token optional' % (method, path))
    t.ok(not wrong, 'bearer security on /graph and /api, none on the public routes', wrong)

    missing = []
    for path, method, _, op in operations(spec):
        if not PUBLIC.match(path):
            r401 = deref(spec, op['responses'].get('401', {}))
            if 'WWW-Authenticate' not in r401.get('headers', {}):
                missing.append('%s %s' % (method, path))
    t.ok(not missing, 'every authenticated operation documents 401 with WWW-Authenticate',
         missing)

    enum = set(spec['components']['schemas']['Error']['properties']['error']['properties']
               ['code'].get('enum', []))
    pairs = error_codes_in_code()
    t.ok(pairs and {c for _, c in pairs} <= enum,
         'every error code the code sends is in Error.code (%d codes)' % len(enum),
         sorted({c for _, c in pairs} - enum))
    statuses = {str(s) for s, _ in pairs}
    documented_statuses = {s for _, _, _, op in operations(spec) for s in op['responses']}
    documented_statuses |= {'405'} if 'MethodNotAllowed' in spec['components']['responses'] else set()
    t.ok(statuses <= documented_statuses, 'every error status the code sends is documented',
         sorted(statuses - documented_statuses))

    for path, names in (('/api/v1/changes', 'changes'),
                        ('/ocs/v2.php/apps/notifications/api/v1/notifications/sse', 'ocis')):
        op = spec['paths'].get(path, {}).get('get', {})
        sse = sse_names_in_code(names)
        documented_sse = set(op.get('x-sse-events', []))
        t.ok(sse and sse <= documented_sse and
             all('`%s`' % n in op.get('description', '') for n in sse) and
             'text/event-stream' in op.get('responses', {}).get('200', {}).get('content', {}),
             '%s is text/event-stream and names every SSE event (%d)' % (path, len(sse)),
             sorted(sse - documented_sse))
    if not refs_ok:
        t.diag('live checks skipped: the document has references that do not resolve')
        return None
    return spec


# ---- live checks ----------------------------------------------------------

def raw(port, data):
    """A raw request (for what http.client will not send); the answer parsed."""
    out = b''
    with socket.create_connection(('127.0.0.1', port), timeout=10) as s:
        try:
            s.sendall(data)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
                head, sep, body = out.partition(b'\r\n\r\n')
                m = re.search(rb'(?im)^content-length:\s*(\d+)', head)
                if sep and m and len(body) >= int(m.group(1)):
                    break
        except OSError:
            pass
    head, _, body = out.partition(b'\r\n\r\n')
    lines = head.decode(errors='replace').split('\r\n')
    status = int(lines[0].split()[1]) if len(lines[0].split()) > 1 else 0
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(':')
        headers[k.strip().lower()] = v.strip()
    if 'content-length' in headers:
        body = body[:int(headers['content-length'])]
    return Response(status, headers, body)


def live_checks(t, c):
    def check(name, method, path, r, status):
        problems = c.verdict(method, path, r, status)
        t.ok(not problems, name, '\n'.join(problems))
        return r

    with Issuer() as idp, Nats() as nats, Spaceport(
            nats_url=nats.url, issuers=idp.url,
            env={'SPACEPORT_DAV_URL': DAV,
                 'SPACEPORT_DOMAIN_ISSUERS': 'paris.test=' + idp.url,
                 'SPACEPORT_TRUSTED_INSTANCES': 'https://cloud.zurich.test'}) as sp:
        alice = Client(sp, idp.token('alice', roles=['spaceport-admin']))
        bob = Client(sp, idp.token('bob', email='bob@example.test',
                                   roles=['spaceport-spaceadmin']))
        carol = Client(sp, idp.token('carol', email='carol@example.test'))
        dave = Client(sp, idp.token('dave'))

        def call(name, who, method, path, status, body=None, headers=None):
            return check(name, method, path, who.call(method, path, body=body, headers=headers),
                         status)

        # operations
        for path in ('/healthz', '/readyz', '/metrics'):
            check('GET %s matches the document' % path, 'GET', path, sp.request('GET', path), 200)

        # users
        me = call('GET /graph/v1.0/me matches User', bob, 'GET', '/graph/v1.0/me', 200).json()
        ids = {'bob': me['id']}
        for name, who in (('alice', alice), ('carol', carol), ('dave', dave)):
            ids[name] = who.me()['id']
        call('GET /graph/v1.0/users?$search= matches UserCollection', bob, 'GET',
             '/graph/v1.0/users?$search=%22car%22', 200)
        call('a too short $search is 400 in the Error form', bob, 'GET',
             '/graph/v1.0/users?$search=ca', 400)

        # sign-in of ownCloud and OpenCloud Web: OCS and the settings service
        for v in ('v1', 'v2'):
            caps = '/ocs/%s.php/cloud/capabilities' % v
            user = '/ocs/%s.php/cloud/user' % v
            call('GET %s?format=json matches OcsCapabilitiesResponse' % caps, bob, 'GET',
                 caps + '?format=json', 200)
            call('GET %s (XML) is the documented text/xml' % caps, bob, 'GET', caps, 200)
            call('GET %s?format=json matches OcsUserResponse' % user, bob, 'GET',
                 user + '?format=json', 200)
            check('GET %s without a token is 401 in the OCS envelope' % user, 'GET',
                  user + '?format=json', sp.request('GET', user + '?format=json'), 401)
        check('GET /ocs/v1.php/cloud/capabilities needs no token', 'GET',
              '/ocs/v1.php/cloud/capabilities?format=json',
              sp.request('GET', '/ocs/v1.php/cloud/capabilities?format=json'), 200)
        check('GET /ocs/v2.php/cloud/capabilities without a token is 401 OcsUnauthorized', 'GET',
              '/ocs/v2.php/cloud/capabilities?format=json',
              sp.request('GET', '/ocs/v2.php/cloud/capabilities?format=json'), 401)
        call('POST /api/v0/settings/roles-list is 201 with SettingsBundles', alice, 'POST',
             '/api/v0/settings/roles-list', 201, body={})
        for name, who in (('alice', alice), ('bob', bob), ('carol', carol)):
            call('POST /api/v0/settings/assignments-list (%s) is 201' % name, who, 'POST',
                 '/api/v0/settings/assignments-list', 201, body={'account_uuid': ids[name]})
            call('POST /api/v0/settings/permissions-list (%s) is 201' % name, who, 'POST',
                 '/api/v0/settings/permissions-list', 201, body={'account_uuid': ids[name]})
        call('permissions-list of another account is 404 Error', carol, 'POST',
             '/api/v0/settings/permissions-list', 404, body={'account_uuid': ids['alice']})
        call('a settings body with an unknown field is 400 Error', carol, 'POST',
             '/api/v0/settings/roles-list', 400, body={'nope': 1})
        check('a settings call without a token is 401 Error', 'POST',
              '/api/v0/settings/roles-list',
              sp.request('POST', '/api/v0/settings/roles-list', body={}), 401)
        wf = '/.well-known/webfinger?resource=' + urllib.parse.quote(sp.url, safe='')
        check('webfinger for this instance with a token matches WebFinger (server-instance)',
              'GET', wf, bob.get(wf), 200)

        # drives
        r = call('GET /graph/v1.0/me/drives matches DriveCollection (personal drive)', bob,
                 'GET', '/graph/v1.0/me/drives', 200)
        t.ok('etag' in r.headers, 'a drive list carries the documented ETag')
        r = call('If-None-Match with the ETag is the documented 304', bob, 'GET',
                 '/graph/v1.0/me/drives', 304, headers={'If-None-Match': r.headers.get('etag', '')})
        r = call('POST /graph/v1.0/drives by a space admin is 201 Drive', bob, 'POST',
                 '/graph/v1.0/drives',
                 201, body={'name': 'Contract Project', 'description': 'for the contract',
                            'quota': {'total': 1000000}})
        project = r.json().get('id', 'none')
        t.ok(r.json().get('driveType') == 'project' and
             r.headers.get('location', '').endswith('/graph/v1.0/drives/' + project),
             'the new drive is a project, with Location', r.headers)
        call('POST /graph/v1.0/drives without the role is 403 Error', carol, 'POST',
             '/graph/v1.0/drives', 403, body={'name': 'Nope'})
        call('POST /graph/v1.0/drives with a read-only field is 400 Error', bob, 'POST',
             '/graph/v1.0/drives', 400, body={'name': 'X', 'id': 'mine'})
        call('GET /graph/v1beta1/me/drives?$top=1 matches, with @odata.nextLink', bob, 'GET',
             '/graph/v1beta1/me/drives?$top=1&$orderby=name%20desc', 200)
        r = bob.get('/graph/v1beta1/me/drives?$top=1&$orderby=name%20desc')
        link = r.json().get('@odata.nextLink', '')
        t.ok(link, 'a partial page has @odata.nextLink', r.body[:300])
        if link:
            nxt = urllib.parse.urlsplit(link)
            p = nxt.path + '?' + nxt.query
            call('the next page matches DriveCollection', bob, 'GET', p, 200)
        call('a bad $filter is 400 Error', bob, 'GET',
             '/graph/v1.0/me/drives?$filter=' + urllib.parse.quote("driveType eq 'x"), 400)
        call('a $filter operator oCIS does not apply is 501 Error', bob, 'GET',
             '/graph/v1.0/me/drives?$filter=' + urllib.parse.quote("driveType ne 'x'"), 501)
        call('/me?$expand=memberOf matches User', bob, 'GET', '/graph/v1.0/me?$expand=memberOf',
             200)
        call("$filter=driveType eq 'project' matches", bob, 'GET',
             '/graph/v1.0/me/drives?$filter=' + urllib.parse.quote("driveType eq 'project'"), 200)
        call('GET /graph/v1.0/drives (admin) matches DriveCollection', alice, 'GET',
             '/graph/v1.0/drives', 200)
        call('GET /graph/v1beta1/drives (admin) matches DriveCollection', alice, 'GET',
             '/graph/v1beta1/drives', 200)
        call('GET /graph/v1.0/drives by neither admin nor space admin is 403 Error', carol, 'GET',
             '/graph/v1.0/drives', 403)
        call('GET /graph/v1.0/drives/{id} matches Drive', bob, 'GET',
             '/graph/v1.0/drives/' + project, 200)
        call('GET /graph/v1beta1/drives/{id} matches Drive', bob, 'GET',
             '/graph/v1beta1/drives/' + project, 200)
        call('GET /graph/v1.0/drives/{id} not visible is 404 Error', carol, 'GET',
             '/graph/v1.0/drives/' + project, 404)
        call('PATCH /graph/v1.0/drives/{id} matches Drive', bob, 'PATCH',
             '/graph/v1.0/drives/' + project, 200, body={'description': 'changed'})
        call('PATCH without a change is 400 Error', bob, 'PATCH',
             '/graph/v1.0/drives/' + project, 400, body={})

        # roles
        r = call('GET roleDefinitions matches RoleDefinition[]', bob, 'GET',
                 '/graph/v1beta1/roleManagement/permissions/roleDefinitions', 200)
        t.eq(len(r.json()), 7, 'there are seven unified roles')
        call('GET roleDefinitions/{roleId} matches RoleDefinition', bob, 'GET',
             '/graph/v1beta1/roleManagement/permissions/roleDefinitions/' + MANAGER, 200)
        call('an unknown roleId is 404 Error', bob, 'GET',
             '/graph/v1beta1/roleManagement/permissions/roleDefinitions/nope', 404)

        # members
        root = '/graph/v1beta1/drives/%s/root' % project
        r = call('POST .../root/invite matches PermissionCollection', bob, 'POST',
                 root + '/invite', 200,
                 body={'recipients': [{'objectId': ids['carol']}], 'roles': [SPACE_VIEWER]})
        member = (r.json().get('value') or [{}])[0].get('id', 'none')
        call('inviting a member twice is 409 Error', bob, 'POST', root + '/invite', 409,
             body={'recipients': [{'objectId': ids['carol']}], 'roles': [SPACE_VIEWER]})
        call('GET v1beta1 .../root/permissions matches PermissionList', bob, 'GET',
             root + '/permissions', 200)
        call('GET v1.0 .../root/permissions matches PermissionList', bob, 'GET',
             '/graph/v1.0/drives/%s/root/permissions' % project, 200)
        call('PATCH .../root/permissions/{permId} matches Permission', bob, 'PATCH',
             root + '/permissions/' + member, 200,
             body={'roles': [SPACE_EDITOR], 'expirationDateTime': '2099-01-01T00:00:00Z'})
        call('a member who is not Manager changing members is 403 Error', carol, 'PATCH',
             root + '/permissions/' + member, 403, body={'roles': [MANAGER]})
        call('GET v1.0 /me/drives with members (v1.0 permission form) matches', carol, 'GET',
             '/graph/v1.0/me/drives', 200)

        # sharing
        items = '/graph/v1beta1/drives/%s/items/%s' % (project, project)
        r = call('POST .../items/{itemId}/invite matches PermissionCollection', bob, 'POST',
                 items + '/invite', 200,
                 body={'recipients': [{'objectId': ids['dave']}, {'email': 'eve@example.test'}],
                       'roles': [VIEWER]})
        share = (r.json().get('value') or [{}])[0].get('id', 'none')
        call('sharing with a space role is 400 Error', bob, 'POST', items + '/invite', 400,
             body={'recipients': [{'objectId': ids['alice']}], 'roles': [MANAGER]})
        call('GET .../items/{itemId}/permissions matches PermissionList', bob, 'GET',
             items + '/permissions', 200)
        call('PATCH .../permissions/{permId} matches Permission', bob, 'PATCH',
             items + '/permissions/' + share, 200,
             body={'roles': [EDITOR], 'expirationDateTime': '2099-01-01T00:00:00Z'})
        call('GET sharedWithMe matches SharedWithMeCollection', dave, 'GET',
             '/graph/v1beta1/me/drive/sharedWithMe', 200)
        call('GET sharedByMe matches SharedByMeCollection', bob, 'GET',
             '/graph/v1beta1/me/drive/sharedByMe', 200)
        r = call('a grantee\'s /me/drives (mountpoint and virtual drives) matches', dave, 'GET',
                 '/graph/v1beta1/me/drives', 200)
        kinds = {d.get('driveType') for d in r.json().get('value', [])}
        t.ok({'personal', 'mountpoint', 'virtual'} <= kinds,
             'the grantee lists personal, mountpoint and virtual drives', kinds)
        mount = [d['id'] for d in r.json().get('value', []) if d.get('driveType') == 'mountpoint']
        if mount:
            call('GET /graph/v1.0/drives/{mountpoint} matches Drive', dave, 'GET',
                 '/graph/v1.0/drives/' + mount[0], 200)

        # events
        rows = sp.db_rows("SELECT id FROM events WHERE type = 'spaceport.share.created' "
                          "ORDER BY seq DESC LIMIT 1")
        row = rows[0] if rows else None
        call('GET /api/v1/events/{id} matches CloudEvent', alice, 'GET',
             '/api/v1/events/' + (row[0] if row else 'none'), 200)
        call('an unknown event is 404 Error', alice, 'GET', '/api/v1/events/nope', 404)
        call('a Last-Event-ID that is no event id is 400 Error', bob, 'GET', '/api/v1/changes',
             400, headers={'Accept': 'text/event-stream', 'Last-Event-ID': 'abc'})
        conn = http.client.HTTPConnection('127.0.0.1', sp.port, timeout=10)
        try:
            conn.request('GET', '/api/v1/changes?access_token=' + bob.token,
                         headers={'Accept': 'text/event-stream'})
            resp = conn.getresponse()
            first = resp.readline()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            problems = c.check('GET', '/api/v1/changes', Response(resp.status, hdrs, b''))
            t.ok(resp.status == 200 and not problems and first.startswith(b'retry:') and
                 hdrs.get('x-accel-buffering') == 'no',
                 'GET /api/v1/changes (access_token) is a documented text/event-stream',
                 [resp.status, hdrs, first] + problems)
        finally:
            conn.close()

        # drive life cycle
        path = '/graph/v1.0/drives/' + project
        call('DELETE .../permissions/{permId} (share) is 204', bob, 'DELETE',
             items + '/permissions/' + share, 204)
        call('DELETE .../root/permissions/{permId} (member) is 204', bob, 'DELETE',
             root + '/permissions/' + member, 204)
        call('Purge on an enabled drive is 400 Error', bob, 'DELETE', path, 400,
             headers={'Purge': 'T'})
        call('DELETE /graph/v1.0/drives/{id} disables: 204', bob, 'DELETE', path, 204)
        call('PATCH of a disabled drive is 409 Error', bob, 'PATCH', path, 409,
             body={'name': 'Renamed'})
        r = call('PATCH with Restore: T matches Drive', bob, 'PATCH', path, 200,
                 headers={'Restore': 'T'})
        call('DELETE again disables: 204', bob, 'DELETE', path, 204)
        r = bob.get(path)
        t.ok(r.json().get('root', {}).get('deleted') == {'state': 'trashed'} and
             not c.check('GET', path, r), 'a disabled drive has root.deleted and matches Drive',
             r.body[:300])
        call('DELETE with Purge: T is 204', bob, 'DELETE', path, 204, headers={'Purge': 'T'})

        # remote spaces and federation
        call('registering an untrusted webDavUrl is 400 Error', bob, 'POST',
             '/graph/v1.0/me/drives', 400,
             body={'driveType': 'mountpoint', 'name': 'Elsewhere',
                   'root': {'remoteItem': {'webDavUrl': 'https://evil.test/dav/spaces/x'}}})
        wf = '/.well-known/webfinger?resource=' + urllib.parse.quote('acct:marie@paris.test')
        check('GET /.well-known/webfinger matches WebFinger', 'GET', wf,
              sp.request('GET', wf), 200)
        check('webfinger with a token matches WebFinger', 'GET', wf, bob.get(wf), 200)
        check('webfinger without resource is 400 Error', 'GET', '/.well-known/webfinger',
              sp.request('GET', '/.well-known/webfinger'), 400)
        p = '/.well-known/webfinger?resource=acct:marie@nowhere.test'
        check('webfinger for an unknown domain is 404 Error', 'GET', p, sp.request('GET', p), 404)
        check('OPTIONS /.well-known/webfinger is 204', 'OPTIONS', '/.well-known/webfinger',
              sp.request('OPTIONS', '/.well-known/webfinger'), 204)
        for p in ('/.well-known/ocm', '/ocm-provider'):
            check('GET %s matches OcmDiscovery' % p, 'GET', p, sp.request('GET', p), 200)
        check('POST /ocm/shares with a bad body is 400 Error', 'POST', '/ocm/shares',
              sp.request('POST', '/ocm/shares', body={'shareWith': 'bob@x'}), 400)
        share_body = {'shareWith': 'bob@127.0.0.1', 'name': 'Theirs', 'providerId': 'p-1',
                      'owner': 'u@evil.test', 'sender': 'u@evil.test', 'shareType': 'user',
                      'resourceType': 'folder',
                      'protocol': {'name': 'webdav', 'webdav': {
                          'sharedSecret': 's' * 32, 'uri': 'https://evil.test/dav/spaces/x'}}}
        check('POST /ocm/shares from an untrusted sender is 403 Error', 'POST', '/ocm/shares',
              sp.request('POST', '/ocm/shares', body=share_body), 403)
        note = {'notificationType': 'SHARE_UNSHARED', 'providerId': 'p-unknown',
                'notification': {'sharedSecret': 's' * 32}}
        check('POST /ocm/notifications for no share is 403 Error', 'POST', '/ocm/notifications',
              sp.request('POST', '/ocm/notifications', body=note), 403)
        note['notificationType'] = 'REQUEST_RESHARE'
        check('an unsupported notificationType is 501 Error', 'POST', '/ocm/notifications',
              sp.request('POST', '/ocm/notifications', body=note), 501)

        # web page
        r = check('GET / matches the document', 'GET', '/', sp.request('GET', '/'), 200)
        check('GET / with its ETag is 304', 'GET', '/',
              sp.request('GET', '/', headers={'If-None-Match': r.headers.get('etag', '')}), 304)
        check('GET /web/{file} of no file is 404 Error', 'GET', '/web/nope.js',
              sp.request('GET', '/web/nope.js'), 404)
        check('GET /config.json matches WebConfig', 'GET', '/config.json',
              sp.request('GET', '/config.json'), 200)

        # errors that apply everywhere
        r = check('no token is 401 Error', 'GET', '/graph/v1.0/me',
                  sp.request('GET', '/graph/v1.0/me'), 401)
        t.eq(r.headers.get('www-authenticate'), 'Bearer realm="spaceport"',
             '401 without a token carries WWW-Authenticate')
        r = check('a bad token is 401 Error', 'GET', '/graph/v1.0/me/drives',
                  sp.get('/graph/v1.0/me/drives', token='not-a-token'), 401)
        t.eq(r.headers.get('www-authenticate'), 'Bearer error="invalid_token"',
             '401 with a bad token says invalid_token')
        r = sp.request('GET', '/no/such/route')
        t.ok(r.status == 404 and c.template('/no/such/route') is None and
             not c.problems(c.spec['components']['schemas']['Error'], r.json()),
             'an unknown route is an undocumented path, 404 in the Error form', r.body)
        r = sp.request('PUT', '/graph/v1.0/me')
        t.ok(r.status == 405 and 'put' not in c.spec['paths']['/graph/v1.0/me'] and
             r.headers.get('allow') == 'GET' and
             not c.check_body(c.spec['components']['responses']['MethodNotAllowed'], r),
             'a wrong method is 405 MethodNotAllowed with Allow', [r.status, r.headers, r.body])
        r = raw(sp.port, b'POST /graph/v1.0/drives HTTP/1.1\r\nHost: x\r\n'
                b'Content-Type: application/json\r\nContent-Length: 1048577\r\n\r\n')
        check('a body over 1 MiB is 413 Error', 'POST', '/graph/v1.0/drives', r, 413)
        p = '/graph/v1.0/me/drives?$filter=' + 'a' * 9000
        check('a request target over 8 KiB is 414 Error', 'GET', p, bob.get(p), 414)
        check('headers over 16 KiB are 431 Error', 'GET', '/graph/v1.0/me',
              bob.get('/graph/v1.0/me', headers={'X-Big': 'a' * 17000}), 431)
        check('malformed JSON is 400 Error', 'POST', '/graph/v1.0/drives',
              bob.call('POST', '/graph/v1.0/drives', body='{"name":',
                       headers={'Content-Type': 'application/json'}), 400)


def main(t):
    spec = static_checks(t)
    if spec is None:
        return
    judge = Contract(spec)
    if t.ok(not judge.unchecked, 'every schema keyword and format of the document is checked',
            sorted(judge.unchecked)):
        live_checks(t, judge)


if __name__ == '__main__':
    TAP().run(main)
