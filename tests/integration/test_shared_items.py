#!/usr/bin/python3
"""Shared items as the clients read them, from what storage reported.

A share made before storage said anything shows the documented fallback;
a storage change that describes the item (a real JetStream, structured
CloudEvent) fills in sharedWithMe and sharedByMe (name, parent, path,
facets, size, eTag) and the event data (parentItemId, itemETag). One bad
item description makes the whole event malformed: nothing of it applies.
SPACEPORT_ITEMS_MAX=3 keeps the three newest unshared items and every
shared one; a second report of an item makes it the newest. A removal forgets the item. On the Shares drive a grantee
unmounts, hides and mounts again what they received: each writes its
event for them alone (valid against schema/events/share-state.json), the
mountpoint drive leaves and comes back, and nobody else can act on their
share (404). Every answer is checked against schema/openapi.yaml."""
import json
import os
import time
import urllib.parse
import uuid

import jsonschema
import yaml  # python3-yaml

from harness import SOURCE_ROOT, TAP, Issuer, Nats, Spaceport, wait_until
from natsclient import NatsClient
from sse import Stream
from test_contract import SPEC_PATH, Contract
from test_v1beta1 import CheckedClient

VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
SHARES = 'a0ca6a90-a365-4782-871e-d44447bbc668$a0ca6a90-a365-4782-871e-d44447bbc668'
T0 = '2026-11-24T08:00:00Z'


def schema(name):
    return json.load(open(os.path.join(SOURCE_ROOT, 'schema', 'events', name + '.json')))


def problems_of(s, value):
    return [e.message for e in jsonschema.Draft7Validator(s).iter_errors(value)]


def storage_change(drive, items, item=None, etag=None):
    data = {'driveId': drive, 'eTag': etag or uuid.uuid4().hex, 'lastModifiedDateTime': T0,
            'change': 'updated', 'items': items}
    if item:
        data['itemId'] = item
    return {'specversion': '1.0', 'id': str(uuid.uuid4()), 'source': 'urn:test:storage',
            'type': 'spaceport.storage.changed', 'datacontenttype': 'application/json',
            'data': data}


def publish(nc, event):
    nc.publish('spaceport.storage.changed', event,
               headers={'Nats-Msg-Id': event['id'],
                        'Content-Type': 'application/cloudevents+json'})
    nc.flush()


def described(item_id, parent, name, path, folder=False, etag='e', size=None, mime=None):
    d = {'id': item_id, 'name': name, 'path': path, 'type': 'folder' if folder else 'file',
         'eTag': etag, 'lastModifiedDateTime': T0}
    if parent:
        d['parentId'] = parent
    if size is not None:
        d['size'] = size
    if mime:
        d['mimeType'] = mime
    return d


def db_rows(sp, sql, args=()):
    return sp.db_rows(sql, args)


def item_of(listing, item_id):
    """The driveItem of listing (sharedWithMe: by remoteItem.id; sharedByMe:
    by id) for item_id, or None."""
    for it in listing.json().get('value', []):
        if it.get('remoteItem', it).get('id') == item_id:
            return it
    return None


def sse_data(e):
    return {k: v for k, v in e['json'].items() if k not in ('type', 'time')}


def mountpoint_names(c, who, item):
    r = c[who].get('/graph/v1.0/me/drives?$filter=' + urllib.parse.quote('driveType eq mountpoint'))
    return [(d['name'], d['root']['remoteItem']['name']) for d in r.json()['value']
            if d['root']['remoteItem']['id'] == item]


def check_fallback(t, c, project, f1):
    mine = item_of(c['ben'].get('/graph/v1beta1/me/drive/sharedWithMe'), f1)
    if not t.ok(mine is not None, 'ben sees the share of f1 in sharedWithMe'):
        return None
    remote = mine['remoteItem']
    t.eq(mine['name'], 'f1', 'not described yet: the name is the opaque part of the item id')
    t.ok('file' not in mine and 'folder' not in mine and 'size' not in remote and
         'id' not in remote['parentReference'],
         'and no facet, size or parent is made up', mine)
    t.eq(mine['parentReference'], {'driveId': SHARES, 'driveType': 'virtual', 'id': SHARES},
         'the driveItem lives in the Shares drive')
    t.eq(remote['parentReference'], {'driveId': project, 'driveType': 'project'},
         'remoteItem.parentReference names the shared drive and its type')
    t.ok(mine['@client.synchronize'] is True and mine['@UI.Hidden'] is False,
         'mounted from the start, not hidden')
    t.eq([p['grantedToV2']['user']['displayName'] for p in remote['permissions']], ['Ben'],
         'one permission, granted to ben')
    by = item_of(c['ann'].get('/graph/v1beta1/me/drive/sharedByMe'), f1)
    t.ok(by and by['name'] == 'f1' and len(by['permissions']) == 2 and
         by['parentReference'] == {'driveId': project, 'driveType': 'project'},
         'sharedByMe: one item, both permissions, the fallback name, no path', by)
    t.eq(mountpoint_names(c, 'ben', f1), [('f1', 'f1')],
         'ben\'s mountpoint drive (name and root.remoteItem.name) shows the same fallback, '
         'not the item id (a desktop client names its folder so)')
    return mine['id']


def check_described(t, c, nc, streams, project, f1, folder):
    item_schema = schema('item')
    publish(nc, storage_change(project, [
        described(folder, project, 'Reports', '/Reports', folder=True, etag='dir-e'),
        described(f1, folder, 'q3.pdf', '/Reports/q3.pdf', etag='"f1-e"', size=1234,
                  mime='application/pdf')], item=f1))
    got = streams['ben'].next(5)
    t.ok(got and got.get('event') == 'item-changed' and got['json'].get('itemId') == f1,
         'the grantee is told item-changed', got)
    if got:
        t.ok(got['json'].get('parentItemId') == folder and
             got['json'].get('itemETag') == '"f1-e"',
             'item-changed carries the parent and the eTag storage reported', got['json'])
        t.eq(problems_of(item_schema, sse_data(got)), [],
             'item-changed data matches schema/events/item.json')
    mine = item_of(c['ben'].get('/graph/v1beta1/me/drive/sharedWithMe'), f1)
    remote = mine['remoteItem']
    t.ok(mine['name'] == 'q3.pdf' and remote['name'] == 'q3.pdf',
         'sharedWithMe now shows the real name', mine['name'])
    t.eq(remote['parentReference'], {'driveId': project, 'driveType': 'project',
                                     'id': folder, 'path': '/Reports'},
         'remoteItem.parentReference: the drive, the parent and its path')
    t.ok(mine['file'] == {'mimeType': 'application/pdf'} and mine['size'] == 1234 and
         mine['eTag'] == '"f1-e"' and mine['lastModifiedDateTime'] == '2026-11-24T08:00:00.000Z'
         and
         remote['file'] == mine['file'] and remote['size'] == 1234,
         'the file facet, size, eTag and time, outside and in remoteItem', mine)
    by = item_of(c['ann'].get('/graph/v1beta1/me/drive/sharedByMe'), f1)
    t.ok(by and by['name'] == 'q3.pdf' and by['parentReference'] == {
        'driveId': project, 'driveType': 'project', 'id': folder, 'path': '/Reports'} and
         by['file']['mimeType'] == 'application/pdf',
         'sharedByMe shows the name and the parent path the clients join', by)
    t.eq(mountpoint_names(c, 'ben', f1), [('q3.pdf', 'q3.pdf')],
         'and so does ben\'s mountpoint drive')
    # A share made now names the item as storage does.
    r = c['ann'].call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (
        project, urllib.parse.quote(folder, safe='')),
        {'recipients': [{'objectId': c['ben'].id}], 'roles': [VIEWER]})
    t.eq(r.status, 200, 'ann shares the folder with ben')
    got = streams['ben'].next(5)
    t.ok(got and got.get('event') == 'share-created' and
         got['json'].get('resourceName') == 'Reports' and
         got['json'].get('parentItemId') == project and got['json'].get('itemETag') == 'dir-e',
         'share-created names the item as storage described it', got and got['json'])
    if got:
        t.eq(problems_of(schema('share'), sse_data(got)), [],
             'its data matches schema/events/share.json')
    listing = c['ben'].get('/graph/v1beta1/me/drive/sharedWithMe').json()['value']
    t.ok(len(listing) == 2 and item_of_list(listing, folder).get('folder') == {},
         'two items received, two driveItems; the folder has the folder facet', listing)


def item_of_list(listing, item_id):
    for it in listing:
        if it['remoteItem']['id'] == item_id:
            return it
    return {}


def check_bad_items(t, sp, nc, project):
    bad = sp.metric('spaceport_storage_changes_total{outcome="malformed"}')
    good = '%s!good' % project
    etag = db_rows(sp, 'SELECT etag FROM drives WHERE id = ?', (project,))[0][0]
    for what, item in (('of another drive', described('other!x', 'other', 'x', '/x')),
                       ('climbing out', described('%s!..' % project, project, 'x', '/x')),
                       ('without a parent', described('%s!p' % project, None, 'x', '/x')),
                       ('with a slash in its name', described('%s!s' % project, project,
                                                              'a/b', '/a/b')),
                       ('of an unknown type', dict(described('%s!t' % project, project, 't',
                                                             '/t'), type='link'))):
        publish(nc, storage_change(project, [described(good, project, 'good', '/good'), item]))
        bad += 1
        t.ok(wait_until(lambda: sp.metric(
            'spaceport_storage_changes_total{outcome="malformed"}') == bad, 5),
            'an event with one item %s is malformed' % what)
    t.eq(db_rows(sp, 'SELECT count(*) FROM items WHERE id = ?', (good,))[0][0], 0,
         'and nothing of it applies: not the good item beside it')
    t.eq(db_rows(sp, 'SELECT etag FROM drives WHERE id = ?', (project,))[0][0], etag,
         'nor the drive eTag')


def check_bound(t, sp, nc, project, shared):
    names = ['%s!n%d' % (project, i) for i in range(5)]
    for i, item in enumerate(names):
        publish(nc, storage_change(project, [described(item, project, 'n%d' % i, '/n%d' % i)]))
    t.ok(wait_until(lambda: db_rows(sp, 'SELECT count(*) FROM items WHERE id = ?',
                                    (names[-1],))[0][0] == 1, 5),
         'the last of five reports is applied')
    kept = {r[0] for r in db_rows(sp, 'SELECT id FROM items')}
    t.eq(kept - set(shared), set(names[2:]),
         'SPACEPORT_ITEMS_MAX=3: the three newest unshared items are kept, the older ones went')
    t.eq(kept & set(shared), set(shared), 'every shared item is kept')
    # A report of an item already kept makes it the newest (SQLite's
    # INSERT OR REPLACE gives the row a new seq, PostgreSQL's upsert takes
    # the next one): past the bound, the oldest of the others goes.
    publish(nc, storage_change(project, [described(names[2], project, 'n2 again', '/n2')]))
    t.ok(wait_until(lambda: db_rows(sp, 'SELECT name FROM items WHERE id = ?',
                                    (names[2],)) == [('n2 again',)], 5),
         'a second report of a kept item replaces its description')
    newest = '%s!n5' % project
    publish(nc, storage_change(project, [described(newest, project, 'n5', '/n5')]))
    t.ok(wait_until(lambda: db_rows(sp, 'SELECT count(*) FROM items WHERE id = ?',
                                    (newest,))[0][0] == 1, 5),
         'one more report is applied')
    kept = {r[0] for r in db_rows(sp, 'SELECT id FROM items')}
    t.eq(kept - set(shared), {names[2], names[4], newest},
         'the item reported again counts as new: the oldest other one (n3) went, not it')


def check_jail(t, c, streams, project, f1, jail_id):
    state_schema = schema('share-state')
    base = '/graph/v1beta1/drives/%s' % urllib.parse.quote(SHARES, safe='')
    item_url = base + '/items/' + urllib.parse.quote(jail_id, safe='')

    def mountpoints(who):
        r = c[who].get('/graph/v1.0/me/drives?$filter=' +
                       urllib.parse.quote('driveType eq mountpoint'))
        return [d['root']['remoteItem']['id'] for d in r.json()['value']]

    def state_event(name, who='ben'):
        got = streams[who].next(5)
        while got and got.get('event') == 'item-changed':  # storage's, earlier
            got = streams[who].next(5)
        ok = t.ok(got and got.get('event') == name, 'ben is told %s' % name, got)
        if ok:
            data = sse_data(got)
            t.eq(problems_of(state_schema, data), [],
                 '%s data matches schema/events/share-state.json' % name)
            t.ok(data['userId'] == c['ben'].id and data['itemId'] == f1 and
                 data.get('resourceName') == 'q3.pdf', 'it names ben, the item and its name',
                 data)
        return got and got['json']

    t.ok(f1 in mountpoints('ben'), 'the share is one of ben\'s mountpoint drives')
    t.eq(c['cat'].call('DELETE', item_url).status, 404,
         'cat (who received f1 too) cannot unmount ben\'s share: 404')
    t.eq(c['ann'].call('PATCH', item_url, {'@UI.Hidden': True}).status, 404,
         'nor can its sharer hide it for him')
    r = c['ben'].call('DELETE', item_url)
    t.eq(r.status, 204, 'ben unmounts it: 204')
    state_event('share-unmounted')
    t.ok(f1 not in mountpoints('ben'), 'its mountpoint drive leaves his drive list')
    t.ok(f1 in mountpoints('cat'), 'cat\'s stays')
    mine = item_of(c['ben'].get('/graph/v1beta1/me/drive/sharedWithMe'), f1)
    t.ok(mine and mine['@client.synchronize'] is False,
         'sharedWithMe keeps it, not synchronized', mine)
    t.eq(c['ben'].call('DELETE', item_url).status, 409, 'unmounting again: 409')

    r = c['ben'].call('PATCH', item_url, {'@UI.Hidden': True})
    t.ok(r.status == 200 and r.json()['@UI.Hidden'] is True and r.json()['id'] == jail_id,
         'ben hides it: 200 with the driveItem, hidden', r.json())
    state_event('share-hidden')
    t.eq(c['ben'].call('PATCH', item_url, {'@UI.Hidden': 'yes'}).status, 400,
         'a @UI.Hidden that is not a boolean: 400')
    t.eq(c['ben'].call('PATCH', item_url, {'@UI.Hidden': True, 'name': 'x'}).status, 400,
         'other members in the body: 400')
    t.eq(c['ben'].call('PATCH', '/graph/v1beta1/drives/%s/items/%s' % (
        project, urllib.parse.quote(jail_id, safe='')), {'@UI.Hidden': True}).status, 400,
        'on a drive that is not the share jail: 400')
    t.eq(c['ben'].call('DELETE', base + '/items/no-such-share').status, 404,
         'an id ben did not receive: 404')

    r = c['ben'].call('POST', base + '/root/children', {'name': 'x', 'remoteItem': {'id': f1}})
    t.ok(r.status == 201 and r.json()['@client.synchronize'] is True and
         r.json()['@UI.Hidden'] is True and r.json()['remoteItem']['id'] == f1,
         'ben mounts it again through remoteItem.id: 201, synchronized, still hidden',
         (r.status, r.body[:300]))
    data = state_event('share-mounted')
    t.ok(data and data['mounted'] is True and data['hidden'] is True,
         'share-mounted says mounted and hidden', data)
    t.ok(f1 in mountpoints('ben'), 'the mountpoint drive is back')
    t.eq(c['ben'].call('POST', base + '/root/children', {'remoteItem': {'id': f1}}).status, 409,
         'mounting again: 409')
    t.eq(c['ben'].call('POST', base + '/root/children', {'name': 'x'}).status, 400,
         'no remoteItem.id: 400')
    t.eq(c['ann'].call('POST', base + '/root/children', {'remoteItem': {'id': f1}}).status,
         404, 'its sharer received nothing to mount: 404')
    r = c['ben'].get(base + '/items/' + urllib.parse.quote(SHARES + '!' + jail_id, safe=''))
    t.ok(r.status == 200 and r.json()['id'] == jail_id,
         'the item is found by oCIS\'s form of the id too', r.status)
    r = c['ben'].call('PATCH', item_url, {'@UI.Hidden': False})
    t.ok(r.status == 200 and r.json()['@UI.Hidden'] is False, 'and shown again')
    state_event('share-unhidden')
    for who in ('ann', 'cat'):
        evs = [e.get('event') for e in streams[who].collect(1.0) if 'event' in e]
        t.ok(not any(e.startswith('share-') and e not in ('share-created',) for e in evs),
             '%s heard nothing of ben\'s view' % who, evs)


def check_removal(t, c, nc, project, f1):
    publish(nc, storage_change(project, [{'id': f1, 'removed': True}]))
    t.ok(wait_until(lambda: item_of(c['ben'].get('/graph/v1beta1/me/drive/sharedWithMe'),
                                    f1)['name'] == 'f1', 5),
         'a removal forgets the item: the share shows the fallback again')


def main(t):
    with open(SPEC_PATH, encoding='utf-8') as f:
        contract = Contract(yaml.safe_load(f))
    problems = []
    with Nats() as nats, Issuer() as idp:
        sp = Spaceport(nats_url=nats.url, issuers=idp.url,
                       env={'SPACEPORT_ITEMS_MAX': '3', 'SPACEPORT_SSE_COALESCE': '0s'})
        with sp, NatsClient(nats.url) as nc:
            tok = {n: idp.token(n + '-sub', n, n.title(), roles=['spaceport-spaceadmin'])
                   for n in ('ann', 'ben', 'cat')}
            c = {n: CheckedClient(sp, tk, contract, problems) for n, tk in tok.items()}
            for n in c:
                c[n].id = c[n].me()['id']
            project = c['ann'].call('POST', '/graph/v1.0/drives', {'name': 'Lab'}).json()['id']
            f1, folder = project + '!f1', project + '!reports'
            for who in ('ben', 'cat'):
                r = c['ann'].call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (
                    project, urllib.parse.quote(f1, safe='')),
                    {'recipients': [{'objectId': c[who].id}], 'roles': [VIEWER]})
                t.eq(r.status, 200, 'ann shares f1 with %s before storage described it' % who)
            streams = {n: Stream(sp.port, tok[n]) for n in c}
            for s in streams.values():
                s.collect(0.3)
            jail_id = check_fallback(t, c, project, f1)
            check_described(t, c, nc, streams, project, f1, folder)
            check_bad_items(t, sp, nc, project)
            check_bound(t, sp, nc, project, [f1, folder])
            if jail_id:
                check_jail(t, c, streams, project, f1, jail_id)
            check_removal(t, c, nc, project, f1)
            t.ok(not problems, 'every answer above matches schema/openapi.yaml',
                 '\n'.join(problems[:20]))


if __name__ == '__main__':
    TAP().run(main)
