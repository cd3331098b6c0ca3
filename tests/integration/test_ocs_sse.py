#!/usr/bin/python3
"""Change notifications at oCIS's path, as ownCloud Web and OpenCloud Web
read them: oCIS's event names and clientlog payloads for invitations, role
changes, shares and storage changes, reaching the right users within 1 s;
the Initiator-ID of the acting request kept with each event and given back
(and nothing kept for a bad one); the stream's ids, Last-Event-ID replay,
resync, keep-alives, token expiry and the per-user limit as on
/api/v1/changes, which keeps its own names;
the CloudEvent on the bus carrying initiatorid; every event written valid
against the schema the event catalog names."""
import json
import time
import urllib.parse
import uuid

import jsonschema

import catalog
from harness import TAP, Client, Issuer, Nats, Spaceport, wait_until
from natsclient import NatsClient
from sse import Stream

OCIS_SSE = '/ocs/v2.php/apps/notifications/api/v1/notifications/sse'
SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'
SPACE_EDITOR = '58c63c02-1d89-4572-916a-870abc5a1b7d'
VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
EDITOR = 'fb6c3e19-e378-47e5-b277-9732f9de6e21'
# clientlog's FileEvent (oCIS services/clientlog/pkg/service/events.go).
FILE_EVENT_KEYS = {'itemid', 'parentitemid', 'spaceid', 'initiatorid', 'etag', 'affecteduserids'}
# The clients must see an event this soon after the request that made it.
LIVE_S = 1.0


def web_schema_problem(d):
    """ownCloud Web's eventSchema (web-runtime container/sse/types.ts, zod):
    every member optional, strings, affecteduserids an array of strings or
    null; we also promise every member present and itemid/parentitemid
    strings (COMPAT.md). None when d passes, else why."""
    if not isinstance(d, dict):
        return 'not an object'
    if set(d) != FILE_EVENT_KEYS:
        return 'keys %s' % sorted(d)
    for k in FILE_EVENT_KEYS - {'affecteduserids'}:
        if not isinstance(d[k], str):
            return '%s is not a string' % k
    a = d['affecteduserids']
    if a is not None and not (isinstance(a, list) and all(isinstance(u, str) for u in a)):
        return 'affecteduserids is neither null nor a list of strings'
    return None


def next_named(stream, name, timeout=5.0):
    """The next event called name, skipping others; None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        e = stream.next(max(0.0, deadline - time.monotonic()))
        if e is None or e.get('event') == name:
            return e


def storage_change(nc, drive, item, change, etag):
    ev = {'specversion': '1.0', 'id': str(uuid.uuid4()), 'source': 'urn:test:storage',
          'type': 'spaceport.storage.changed', 'datacontenttype': 'application/json',
          'data': {'driveId': drive, 'itemId': item, 'eTag': etag, 'change': change,
                   'lastModifiedDateTime': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}}
    if item is None:  # a change of the drive that names no item
        del ev['data']['itemId']
    nc.publish('spaceport.storage.changed', ev,
               headers={'Nats-Msg-Id': ev['id'], 'Content-Type': 'application/cloudevents+json'})
    nc.flush()


def initiators(sp):
    return sp.db_rows('SELECT seq, type, initiator, data FROM events ORDER BY seq')


def main(t):
    with Nats() as nats, Issuer() as idp:
        sp = Spaceport(nats_url=nats.url, issuers=idp.url,
                       env={'SPACEPORT_SSE_KEEPALIVE': '1s', 'SPACEPORT_SSE_COALESCE': '1s'})
        with sp, NatsClient(nats.url) as nc:
            tok = {n: idp.token(n + '-sub', n, n.title(), roles=['spaceport-spaceadmin'])
                   for n in ('ann', 'ben', 'cat', 'dan')}
            c = {n: Client(sp, tk) for n, tk in tok.items()}
            # dan's first request is a write from a tab: his provisioning
            # (the personal drive) is nobody's request, the write is the tab's.
            r = c['dan'].call('POST', '/graph/v1.0/drives', {'name': 'Dan\'s'},
                              headers={'Initiator-ID': 'tab-dan'})
            t.eq(r.status, 201, 'dan\'s first request creates a project')
            dans = r.json()['id']
            ids = {n: c[n].me()['id'] for n in ('ann', 'ben', 'cat')}
            bus = nc.subscribe('spaceport.>')

            caps = c['ben'].get('/ocs/v2.php/cloud/capabilities?format=json').json()
            t.ok(caps['ocs']['data']['capabilities']['core']['support-sse'] is True,
                 'the capabilities say support-sse: the clients open oCIS\'s path')

            # --- the stream, opened as the clients open it (no Accept)
            s = {n: Stream(sp.port, tok[n], path=OCIS_SSE, accept=False) for n in ids}
            t.ok(all(x.status == 200 for x in s.values()) and
                 s['ben'].headers.get('content-type', '').startswith('text/event-stream') and
                 s['ben'].headers.get('cache-control') == 'no-cache',
                 'GET %s opens a text/event-stream with a bearer token' % OCIS_SSE,
                 s['ben'].headers)
            t.eq(Stream(sp.port, None, path=OCIS_SSE).status, 401, 'no token: 401')
            t.eq(Stream(sp.port, tok['ben'], path=OCIS_SSE, query_token=True).status, 401,
                 'the token does not come as a query parameter there (only EventSource needs it)')
            ka = s['cat'].next(3, skip_comments=False)
            t.ok(ka is not None and 'comment' in ka, 'a keep-alive comment arrives (1 s)', ka)
            changes_ann = Stream(sp.port, tok['ann'])
            changes_ann.next(2)  # the retry hint

            project = c['ann'].call('POST', '/graph/v1.0/drives', {'name': 'Lab'}).json()['id']
            seen = {n: [] for n in ids}  # every oCIS frame per user, in order

            def expect(user, name, what, timeout=5.0):
                got = next_named(s[user], name, timeout)
                if got:
                    seen[user].append(got)
                t.ok(got is not None and got.get('id'), '%s: %s gets %s with an id' % (
                    what, user, name), got)
                return got or {}

            def live(user, name, what, act, **want):
                """Runs act() (a request that must succeed), then expects
                name at user's stream within LIVE_S with payload want."""
                t0 = time.monotonic()
                r = act()
                t.ok(r.status in (200, 204), what, (r.status, r.body[:200]))
                got = expect(user, name, what)
                t.ok(got and got['at'] - t0 < LIVE_S, '%s: within %.0f s (%.0f ms)' % (
                    name, LIVE_S, ((got.get('at') or t0) - t0) * 1000))
                check_payload(got, name, **want)
                return r

            def check_payload(got, what, **want):
                d = got.get('json')
                problem = web_schema_problem(d)
                t.ok(problem is None, '%s: the payload passes ownCloud Web\'s event schema, '
                     'with exactly clientlog\'s keys' % what, problem or d)
                wrong = {k: (d or {}).get(k) for k, v in want.items() if (d or {}).get(k) != v}
                t.ok(not wrong, '%s: %s' % (what, ', '.join(
                    '%s %r' % (k, v) for k, v in want.items())), wrong)

            # --- a member joins: space-member-added, with the tab's Initiator-ID
            live('ben', 'space-member-added', 'ann invites ben to the project',
                 lambda: c['ann'].call('POST', '/graph/v1beta1/drives/%s/root/invite' % project,
                                       {'recipients': [{'objectId': ids['ben']}],
                                        'roles': [SPACE_VIEWER]},
                                       headers={'Initiator-ID': 'tab-ann-1'}),
                 itemid=project, spaceid=project, parentitemid='', initiatorid='tab-ann-1',
                 affecteduserids=[ids['ben']])
            expect('ann', 'space-member-added', 'invitation (the Manager)')
            got = next_named(changes_ann, 'space-member-added')
            t.ok(got and
                 got['json'].get('grantee') == ids['ben'] and 'initiatorid' not in got['json'],
                 '/api/v1/changes keeps its own names and data for the same event', got)

            # --- the member's role changes: space-share-updated (oCIS's name)
            perms = c['ann'].get('/graph/v1beta1/drives/%s/root/permissions' % project).json()
            ben_perm = [p['id'] for p in perms['value']
                        if p.get('grantedToV2', {}).get('user', {}).get('id') == ids['ben']][0]
            member_path = '/graph/v1beta1/drives/%s/root/permissions/%s' % (project, ben_perm)
            live('ben', 'space-share-updated', 'ann makes ben a Space Editor',
                 lambda: c['ann'].call('PATCH', member_path, {'roles': [SPACE_EDITOR]},
                                       headers={'Initiator-ID': 'tab-ann-2'}),
                 itemid=project, spaceid=project, initiatorid='tab-ann-2',
                 affecteduserids=[ids['ben']])
            got = next_named(changes_ann, 'space-updated')
            t.ok(got and got['json'].get('type') == 'spaceport.space.member.updated',
                 '/api/v1/changes still calls a role change space-updated', got)

            # --- a share of an item: share-created, -updated, -removed
            item = project + '!report'
            item_path = '/graph/v1beta1/drives/%s/items/%s' % (
                project, urllib.parse.quote(item, safe=''))
            r = live('cat', 'share-created', 'ann shares an item with cat',
                     lambda: c['ann'].call('POST', item_path + '/invite',
                                           {'recipients': [{'objectId': ids['cat']}],
                                            'roles': [VIEWER]},
                                           headers={'Initiator-ID': 'tab-ann-3'}),
                     itemid=item, spaceid=project, initiatorid='tab-ann-3',
                     affecteduserids=[ids['cat']])
            perm = r.json()['value'][0]['id']

            r = c['ann'].call('PATCH', item_path + '/permissions/' + perm, {'roles': [EDITOR]})
            t.eq(r.status, 200, 'ann changes the share\'s role, without an Initiator-ID')
            got = expect('cat', 'share-updated', 'share role change')
            check_payload(got, 'share-updated (no Initiator-ID)', itemid=item, initiatorid='',
                          affecteduserids=[ids['cat']])

            # Each PATCH changes the role (the share is EDITOR now), so each
            # writes an event.
            bad = ['x' * 65, 'tab one', 'tab\u00e9', '']
            for i, value in enumerate(bad):
                r = c['ann'].call('PATCH', item_path + '/permissions/' + perm,
                                  {'roles': [VIEWER if i % 2 == 0 else EDITOR]},
                                  headers={'Initiator-ID': value})
                t.eq(r.status, 200, 'a write with Initiator-ID %r is served' % value[:12])
                got = expect('cat', 'share-updated', 'share role change')
                check_payload(got, 'Initiator-ID %r is not kept (65 bytes, a space, non-ASCII, '
                              'empty)' % value[:12], initiatorid='')
            at64 = 'i' * 64
            r = c['ann'].call('PATCH', item_path + '/permissions/' + perm, {'roles': [VIEWER]},
                              headers={'Initiator-ID': at64})
            got = expect('cat', 'share-updated', 'share role change')
            check_payload(got, 'an Initiator-ID of 64 visible ASCII bytes is kept',
                          initiatorid=at64)

            live('cat', 'share-removed', 'ann removes the share',
                 lambda: c['ann'].call('DELETE', item_path + '/permissions/' + perm,
                                       headers={'Initiator-ID': 'tab-ann-4'}),
                 itemid=item, spaceid=project, initiatorid='tab-ann-4',
                 affecteduserids=[ids['cat']])

            # --- a space change is not sent there (oCIS's clientlog sends none);
            # the cursor passes it
            r = c['ann'].call('PATCH', '/graph/v1.0/drives/' + project, {'name': 'Lab 2'})
            t.eq(r.status, 200, 'ann renames the project')
            got = next_named(changes_ann, 'space-updated')
            renamed_seq = int((got or {}).get('id') or 0)

            # --- storage changes: oCIS's names by change, one event per item.
            # A deletion or move that names no item (or names the root) is
            # not sent: as item-trashed of the root, the web at the space's
            # root would say "The folder you were accessing has been removed".
            storage_change(nc, project, None, 'deleted', 'e-0')
            storage_change(nc, project, project, 'moved', 'e-00')
            storage_change(nc, project, project + '!a', 'deleted', 'e-1')
            storage_change(nc, project, project + '!b', 'moved', 'e-2')
            storage_change(nc, project, project + '!c', 'updated', 'e-3')
            storage_change(nc, project, project + '!d', 'created', 'e-4')
            names = []
            for _ in range(4):
                got = s['ben'].next(5)
                if got:
                    seen['ben'].append(got)
                    names.append((got.get('event'), got['json'].get('itemid')))
            t.eq(names, [('item-trashed', project + '!a'), ('item-moved', project + '!b'),
                         ('postprocessing-finished', project + '!c'),
                         ('postprocessing-finished', project + '!d')],
                 'storage changes: deleted item-trashed, moved item-moved, updated and created '
                 'postprocessing-finished, each item its own event (no coalescing); a deletion '
                 'or move of no item or of the root is not sent')
            last = seen['ben'][-1]
            check_payload(last, 'an item change', itemid=project + '!d', spaceid=project,
                          initiatorid='', etag='e-4', affecteduserids=None)
            t.ok(not [e for e in seen['ben'] if e.get('event') in ('space-updated', 'changed')],
                 'the rename did not reach oCIS\'s path')
            t.ok(renamed_seq and int(seen['ben'][-4]['id']) > renamed_seq,
                 'and its id was passed: the next event\'s id is greater (%s)' % renamed_seq)

            # --- replay with Last-Event-ID
            first = seen['ben'][0]
            again = Stream(sp.port, tok['ben'], path=OCIS_SSE, last_id=first['id'], accept=False)
            replay = [e for e in again.collect(2) if e.get('event')]
            want = [(e['id'], e['event'], e['data']) for e in seen['ben'][1:]]
            t.eq([(e['id'], e['event'], e['data']) for e in replay], want,
                 'Last-Event-ID replays what followed, with the same ids, names and payloads '
                 '(%d events)' % len(want))
            again.close()

            # --- the bus: the CloudEvent carries initiatorid, and validates
            ces = []
            while True:
                try:
                    m = bus.get(timeout=0.5)
                except Exception:  # queue.Empty
                    break
                if m.subject != 'spaceport.storage.changed':  # what the test published
                    ces.append(m.json())
            created = [ce for ce in ces if ce['type'] == 'spaceport.share.created']
            t.ok(created and created[0].get('initiatorid') == 'tab-ann-3',
                 'the CloudEvent of the share carries initiatorid tab-ann-3',
                 created[:1])
            problems = [catalog.problem(ce) for ce in ces]
            t.ok(ces and not any(problems),
                 'every CloudEvent on the bus (%d) validates against cloudevent.json and its '
                 'type\'s schema' % len(ces), [p for p in problems if p][:3])
            t.ok(any(ce['type'] == 'spaceport.share.updated' and 'initiatorid' not in ce
                     for ce in ces), 'one made without an Initiator-ID has no initiatorid')

            # --- the log: what was kept
            rows = initiators(sp)
            kept = {r[2] for r in rows}
            t.ok(kept <= {None, 'tab-dan', 'tab-ann-1', 'tab-ann-2', 'tab-ann-3', 'tab-ann-4',
                          at64}, 'only valid Initiator-IDs are stored with events', kept)
            created = {json.loads(r[3])['driveId']: r[2] for r in rows
                       if r[1] == 'spaceport.space.created'}
            t.ok(created.get(dans) == 'tab-dan' and
                 list(created.values()).count(None) == len(created) - 1,
                 'dan\'s project keeps his tab\'s id; every personal drive made at first sight '
                 'has none', created)
            t.ok(all(r[2] is None for r in rows if r[1] == 'spaceport.item.changed'),
                 'storage changes have none')
            schemas = catalog.data_schemas()
            all_rows = sp.db_rows('SELECT type, data FROM events')
            problems = []
            for typ, data in all_rows:
                if typ not in schemas:
                    problems.append('no catalog entry for ' + typ)
                    continue
                errs = list(jsonschema.Draft7Validator(schemas[typ]).iter_errors(
                    json.loads(data)))
                problems += ['%s: %s' % (typ, e.message) for e in errs]
            t.ok(all_rows and not problems, 'every event in the log (%d) has a catalog entry and '
                 'data valid against the schema it names' % len(all_rows), problems[:3])

            # --- the member leaves: space-member-removed
            live('ben', 'space-member-removed', 'ann removes ben from the project',
                 lambda: c['ann'].call('DELETE', member_path,
                                       headers={'Initiator-ID': 'tab-ann-5'}),
                 itemid=project, spaceid=project, initiatorid='tab-ann-5',
                 affecteduserids=[ids['ben']])
            t.eq([e for e in s['cat'].collect(1) if e.get('event') == 'space-member-removed'], [],
                 'cat, neither member nor Manager, is not told')

            # --- a group's grant names the stream's user among the affected:
            # the web drops a space only when it finds its user there
            eve_tok = idp.token('eve-sub', 'eve', 'Eve', groups=['optics'])
            eve = Client(sp, eve_tok)
            optics = eve.get('/graph/v1.0/me?$expand=memberOf').json()['memberOf'][0]['id']
            eve_id = eve.me()['id']
            s_eve = Stream(sp.port, eve_tok, path=OCIS_SSE, accept=False)
            s['eve'] = s_eve
            seen['eve'] = []
            live('eve', 'space-member-added', 'ann invites the group optics to the project',
                 lambda: c['ann'].call('POST', '/graph/v1beta1/drives/%s/root/invite' % project,
                                       {'recipients': [{'objectId': optics,
                                                        '@libre.graph.recipient.type': 'group'}],
                                        'roles': [SPACE_VIEWER]},
                                       headers={'Initiator-ID': 'tab-ann-6'}),
                 itemid=project, spaceid=project, initiatorid='tab-ann-6',
                 affecteduserids=[eve_id])
            perms = c['ann'].get('/graph/v1beta1/drives/%s/root/permissions' % project).json()
            group_perm = [p['id'] for p in perms['value']
                          if p.get('grantedToV2', {}).get('group', {}).get('id') == optics][0]
            live('eve', 'space-member-removed', 'ann removes the group optics',
                 lambda: c['ann'].call('DELETE', '/graph/v1beta1/drives/%s/root/permissions/%s'
                                       % (project, group_perm)),
                 itemid=project, spaceid=project, affecteduserids=[eve_id])
            # ann (the Manager, not in optics) gets the same events: they
            # must not name her, or her web drops the project from her list
            # (space-member-removed with her id) though she still manages it.
            for name in ('space-member-added', 'space-member-removed'):
                got = expect('ann', name, 'the group optics, at the Manager\'s stream')
                check_payload(got, name + ' of a group ann is not in: not her access',
                              itemid=project, affecteduserids=[])
            # a share with the group: the sharer is not affected either
            live('eve', 'share-created', 'ann shares an item with the group optics',
                 lambda: c['ann'].call('POST', item_path + '/invite',
                                       {'recipients': [{'objectId': optics,
                                                        '@libre.graph.recipient.type': 'group'}],
                                        'roles': [VIEWER]}),
                 itemid=item, spaceid=project, affecteduserids=[eve_id])
            got = expect('ann', 'share-created', 'the group share, at the sharer\'s stream')
            check_payload(got, 'share-created with optics, at ann\'s (the sharer) stream',
                          itemid=item, affecteduserids=[])
            s_eve.close()

            # --- resync: a Last-Event-ID older than the log
            sp.db_exec('DELETE FROM events WHERE seq <= 3')
            old = Stream(sp.port, tok['ben'], path=OCIS_SSE, last_id=1, accept=False)
            got = old.next(5)
            t.ok(got and got.get('event') == 'resync',
                 'a Last-Event-ID past retention is told to resync', got)
            old.close()
            t.eq(Stream(sp.port, tok['ben'], path=OCIS_SSE, last_id='x').status, 400,
                 'a malformed Last-Event-ID is 400')

            # --- token expiry and the per-user limit, as on /api/v1/changes
            short = idp.token('cat-sub', 'cat', 'Cat', lifetime=3)
            s_short = Stream(sp.port, short, path=OCIS_SSE, accept=False)
            evs = s_short.collect(6)
            t.ok(any(e.get('event') == 'token-expired' for e in evs) and s_short.closed.wait(3),
                 'when the token expires the stream says token-expired and ends',
                 [e.get('event') or e.get('comment') for e in evs])
            held = [Stream(sp.port, tok['cat']) for _ in range(63)]  # and s['cat']: 64
            extra = Stream(sp.port, tok['cat'], path=OCIS_SSE, accept=False)
            t.ok(all(x.status == 200 for x in held) and extra.status == 429,
                 'both paths count against one limit: with 64 streams open, a 65th at oCIS\'s '
                 'path is 429', extra.status)
            for x in held:
                x.close()

            for x in list(s.values()) + [changes_ann]:
                x.close()
            t.ok(wait_until(lambda: sp.metric('spaceport_change_streams') == 0, 5),
                 'closed streams are gone')
            t.eq(sp.stop(), 0, 'SIGTERM exits 0')


if __name__ == '__main__':
    TAP().run(main)
