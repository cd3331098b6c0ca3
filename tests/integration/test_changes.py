#!/usr/bin/python3
"""Change notifications end to end: storage change events from a real
JetStream (CloudEvents in binary and structured mode) applied once, Server-Sent Events to the right users only,
Last-Event-ID replay, coalescing, token expiry, member removal, limits."""
import json
import os
import time
import uuid

import jsonschema

from harness import SOURCE_ROOT, TAP, Client, Issuer, Nats, Spaceport, wait_until
from natsclient import NatsClient
from sse import Stream

SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'
VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'


def change_event(drive, etag, item='item-1', event_id=None, used=None, change='updated'):
    data = {'driveId': drive, 'itemId': item, 'eTag': etag,
            'lastModifiedDateTime': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
            'change': change}
    if used is not None:
        data['quotaUsed'] = used
    return {'specversion': '1.0', 'id': event_id or str(uuid.uuid4()), 'source': 'urn:test:storage',
            'type': 'spaceport.storage.changed', 'datacontenttype': 'application/json',
            'data': data}


def publish(nc, event, msg_id=None):
    nc.publish('spaceport.storage.changed', event,
               headers={'Nats-Msg-Id': msg_id or event['id'],
                        'Content-Type': 'application/cloudevents+json'})
    nc.flush()


def publish_binary(nc, event_id, data, extra=None, drop=()):
    """Publishes a storage change in binary content mode (CloudEvents NATS
    binding): attributes in ce- headers, Content-Type is the
    datacontenttype, the payload is the data."""
    headers = {'Nats-Msg-Id': event_id, 'ce-specversion': '1.0', 'Ce-Id': event_id,
               'ce-source': 'urn:test:storage%20binary', 'ce-type': 'spaceport.storage.changed',
               'ce-time': data['lastModifiedDateTime'], 'ce-subject': data['driveId'],
               'Content-Type': 'application/json'}
    headers.update(extra or {})
    for name in drop:
        del headers[name]
    nc.publish('spaceport.storage.changed', data, headers=headers)
    nc.flush()


def main(t):
    schema = json.load(open(os.path.join(SOURCE_ROOT, 'schema/events/storage-changed.json')))
    item_schema = json.load(open(os.path.join(SOURCE_ROOT, 'schema/events/item.json')))
    with Nats() as nats, Issuer() as idp:
        sp = Spaceport(nats_url=nats.url, issuers=idp.url,
                       env={'SPACEPORT_SSE_KEEPALIVE': '1s', 'SPACEPORT_SSE_COALESCE': '1s',
                            'SPACEPORT_LOG_LEVEL': 'info'})
        with sp, NatsClient(nats.url) as nc:
            tok = {n: idp.token(n + '-sub', n, n.title(), roles=['spaceport-spaceadmin'])
                   for n in ('ann', 'ben', 'cat', 'dan')}
            c = {n: Client(sp, tk) for n, tk in tok.items()}
            ids = {n: c[n].me()['id'] for n in c}
            project = c['ann'].call('POST', '/graph/v1.0/drives', {'name': 'Lab'}).json()['id']
            c['ann'].call('POST', '/graph/v1beta1/drives/%s/root/invite' % project,
                          {'recipients': [{'objectId': ids['ben']}], 'roles': [SPACE_VIEWER]})

            # --- the stream itself
            s_ann = Stream(sp.port, tok['ann'])
            t.eq(s_ann.status, 200, 'GET /api/v1/changes opens a stream')
            t.ok(s_ann.headers.get('content-type', '').startswith('text/event-stream') and
                 s_ann.headers.get('cache-control') == 'no-cache' and
                 s_ann.headers.get('x-accel-buffering') == 'no',
                 'text/event-stream, Cache-Control no-cache, X-Accel-Buffering no', s_ann.headers)
            first = s_ann.events.get(timeout=5)
            t.ok(first.get('retry') == '3000', 'the stream starts with a retry hint', first)
            ka = s_ann.next(3, skip_comments=False)
            t.ok(ka is not None and 'comment' in ka, 'a keep-alive comment arrives (1 s setting)',
                 ka)
            s_ben = Stream(sp.port, tok['ben'], query_token=True)
            t.eq(s_ben.status, 200, 'the token may come as access_token (EventSource)')
            s_cat = Stream(sp.port, tok['cat'])
            t.eq(Stream(sp.port, None).status, 401, 'no token: 401')
            t.eq(Stream(sp.port, 'garbage.token.here').status, 401, 'a bad token: 401')
            t.eq(Stream(sp.port, tok['ann'], last_id='abc').status, 400,
                 'a malformed Last-Event-ID is 400')

            # --- a storage change reaches members only
            ev = change_event(project, 'etag-1', used=4096)
            t.ok(not list(jsonschema.Draft7Validator(schema).iter_errors(ev)),
                 'the test event follows the input contract')
            t0 = time.monotonic()
            publish(nc, ev)
            got = s_ann.next(5)
            t.ok(got and got.get('event') == 'item-changed' and got['json']['driveId'] == project
                 and got['json']['eTag'] == 'etag-1' and got['json']['itemId'] == 'item-1',
                 'the Manager receives item-changed with driveId, itemId and eTag', got)
            if got:
                t.diag('storage change to SSE client: %.1f ms' % ((got['at'] - t0) * 1000))
            data = {k: v for k, v in (got or {}).get('json', {}).items()
                    if k not in ('type', 'time')}
            t.ok(not list(jsonschema.Draft7Validator(item_schema).iter_errors(data)),
                 'item-changed data matches schema/events/item.json', data)
            got_b = s_ben.next(5)
            t.ok(got_b and got_b.get('event') == 'item-changed', 'a SpaceViewer member receives it')
            t.eq(s_cat.next(1.5), None, 'a non-member receives nothing')
            d = c['ann'].get('/graph/v1.0/drives/' + project).json()
            t.ok(d['quota']['used'] == 4096 and d['root']['eTag'] == '"etag-1"',
                 'the drive now has the reported eTag and quota used', d['quota'])

            # --- the same CloudEvent twice (new Nats-Msg-Id): applied once
            before = sp.metric('spaceport_storage_changes_total{outcome="duplicate"}')
            publish(nc, ev, msg_id=str(uuid.uuid4()))
            wait_until(lambda: sp.metric('spaceport_storage_changes_total{outcome="duplicate"}')
                       == before + 1, 5)
            t.eq(sp.metric('spaceport_storage_changes_total{outcome="duplicate"}'), before + 1,
                 'a redelivered CloudEvent id is recognised')
            t.eq(s_ann.next(1.5), None, 'and changes nothing twice: no second notification')

            # --- bad input is counted, never a crash
            publish(nc, {'specversion': '1.0', 'id': 'bad-1', 'type': 'spaceport.storage.changed',
                         'data': {'driveId': project}})
            nc.publish('spaceport.storage.changed', b'{not json', headers={'Nats-Msg-Id': 'bad-2'})
            publish(nc, change_event('no-such-drive', 'e'))
            wait_until(lambda: sp.metric('spaceport_storage_changes_total{outcome="unknown_drive"}')
                       == 1, 5)
            t.eq(sp.metric('spaceport_storage_changes_total{outcome="malformed"}'), 2,
                 'malformed events are counted')
            t.eq(sp.metric('spaceport_storage_changes_total{outcome="unknown_drive"}'), 1,
                 'changes to unknown drives are counted')
            t.eq(sp.request('GET', '/healthz').status, 200, 'and the service is fine')

            # --- both content modes: binary (ce- headers) and structured
            time.sleep(1.2)  # past the coalescing window of the last notification
            applied = sp.metric('spaceport_storage_changes_total{outcome="applied"}')
            bin_id = str(uuid.uuid4())
            publish_binary(nc, bin_id, change_event(project, 'etag-bin', used=8192)['data'])
            got = s_ann.next(5)
            t.ok(got and got.get('event') == 'item-changed' and got['json']['eTag'] == 'etag-bin',
                 'a binary-mode change (ce- headers, JSON payload) reaches the Manager', got)
            t.ok(s_ben.next(5) is not None, 'and the member')
            d = c['ann'].get('/graph/v1.0/drives/' + project).json()
            t.ok(d['quota']['used'] == 8192 and d['root']['eTag'] == '"etag-bin"',
                 'the binary-mode change is applied to the drive', [d['quota'], d['root']])
            time.sleep(1.2)
            publish(nc, change_event(project, 'etag-structured', used=16384))
            got = s_ann.next(5)
            t.ok(got and got.get('event') == 'item-changed' and
                 got['json']['eTag'] == 'etag-structured',
                 'a structured-mode change (application/cloudevents+json) reaches the Manager',
                 got)
            t.ok(s_ben.next(5) is not None, 'and the member')
            d = c['ann'].get('/graph/v1.0/drives/' + project).json()
            t.ok(d['quota']['used'] == 16384 and d['root']['eTag'] == '"etag-structured"',
                 'the structured-mode change is applied to the drive', [d['quota'], d['root']])
            t.eq(sp.metric('spaceport_storage_changes_total{outcome="applied"}'), applied + 2,
                 'both are counted as applied')
            dup = sp.metric('spaceport_storage_changes_total{outcome="duplicate"}')
            again = change_event(project, 'etag-bin', used=8192, event_id=bin_id)
            publish(nc, again, msg_id=str(uuid.uuid4()))
            t.ok(wait_until(lambda: sp.metric('spaceport_storage_changes_total{outcome="duplicate"}')
                            == dup + 1, 5),
                 'the binary event\'s id sent again in structured mode is a duplicate')
            bad = sp.metric('spaceport_storage_changes_total{outcome="malformed"}')
            publish_binary(nc, str(uuid.uuid4()), change_event(project, 'no-source')['data'],
                           drop=('ce-source',))
            publish_binary(nc, str(uuid.uuid4()), change_event(project, 'bad-utf8')['data'],
                           extra={'ce-source': 'urn:%C0%A0'})
            publish_binary(nc, str(uuid.uuid4()), change_event(project, 'as-text')['data'],
                           extra={'Content-Type': 'text/plain'})
            t.ok(wait_until(lambda: sp.metric('spaceport_storage_changes_total{outcome="malformed"}')
                            == bad + 3, 5),
                 'binary-mode events without ce-source, with an overlong UTF-8 value or with '
                 'data that is not JSON are malformed')
            t.eq(s_ann.next(1.5), None, 'and notify nobody')
            d = c['ann'].get('/graph/v1.0/drives/' + project).json()
            t.eq(d['root']['eTag'], '"etag-structured"', 'nor change the drive')

            # --- a share reaches the grantee's stream
            r = c['ann'].call('POST', '/graph/v1beta1/drives/%s/items/%s/invite' % (project, project),
                              {'recipients': [{'objectId': ids['cat']}], 'roles': [VIEWER]})
            share_id = r.json()['value'][0]['id']
            got = s_cat.next(5)
            t.ok(got and got.get('event') == 'share-created' and got['json']['shareId'] == share_id,
                 'the grantee receives share-created with the shareId', got)
            got = s_ann.next(5)
            t.ok(got and got.get('event') == 'share-created', 'the sharer receives it too')
            ev2 = change_event(project, 'etag-2')
            publish(nc, ev2)
            got = s_cat.next(5)
            t.ok(got and got.get('event') == 'item-changed' and got['json']['eTag'] == 'etag-2',
                 'a grantee of a share on the drive receives its item changes')
            s_ann.collect(1.2)
            s_ben.collect(0.2)

            # --- resume with Last-Event-ID: exactly what was missed, in order
            last = int(got['id'])
            s_cat.close()
            time.sleep(0.2)
            missed = []
            for i in range(3):
                e = change_event(project, 'missed-%d' % i, item='f%d' % i)
                publish(nc, e)
                time.sleep(1.2)  # apart, so that coalescing does not merge them
                missed.append('missed-%d' % i)
            s2 = Stream(sp.port, tok['cat'], last_id=last)
            got = [s2.next(5) for _ in range(3)]
            t.eq([g and g['json'].get('eTag') for g in got], missed,
                 'reconnecting with Last-Event-ID replays exactly the three missed, in order')
            ids_seen = [int(g['id']) for g in got if g]
            t.ok(ids_seen == sorted(ids_seen) and ids_seen[0] > last, 'ids increase')
            t.eq(s2.next(1.0), None, 'nothing else is replayed')
            publish(nc, change_event(project, 'live-1'))
            got = s2.next(5)
            t.ok(got and got['json'].get('eTag') == 'live-1', 'then the stream goes on live')
            s_ann.collect(1.5)

            # --- coalescing: a burst for one drive is one notification
            time.sleep(1.2)
            for i in range(10):
                publish(nc, change_event(project, 'burst-%d' % i, item='b%d' % i))
            evs = [e for e in s_ann.collect(3) if e.get('event') == 'item-changed']
            t.ok(1 <= len(evs) <= 3 and evs[-1]['json']['eTag'] == 'burst-9',
                 'a burst of 10 changes reaches a client as %d event(s) ending with the '
                 'latest eTag' % len(evs), [e['json']['eTag'] for e in evs])

            # --- membership removal stops events at once
            perms = c['ann'].get('/graph/v1beta1/drives/%s/root/permissions' % project).json()
            ben_perm = [p['id'] for p in perms['value']
                        if p['grantedToV2']['user']['id'] == ids['ben']][0]
            s_ben.collect(1.5)
            c['ann'].call('DELETE', '/graph/v1beta1/drives/%s/root/permissions/%s' % (
                project, ben_perm))
            got = s_ben.next(5)
            t.ok(got and got.get('event') == 'space-member-removed',
                 'the removed member is told space-member-removed', got)
            publish(nc, change_event(project, 'after-removal'))
            t.eq([e for e in s_ben.collect(2) if e.get('event') == 'item-changed'], [],
                 'and receives no item changes afterwards')

            # --- token expiry ends the stream
            short = idp.token('dan-sub', 'dan', 'Dan', lifetime=3)
            s_short = Stream(sp.port, short)
            t.eq(s_short.status, 200, 'a stream with a token about to expire opens')
            evs = s_short.collect(6)
            t.ok(any(e.get('event') == 'token-expired' for e in evs),
                 'when the token expires the stream says token-expired',
                 [e.get('event') or e.get('comment') for e in evs])
            t.ok(s_short.closed.wait(3), 'and ends')

            # --- resync past retention
            sp.db_exec('DELETE FROM events WHERE seq <= 3')
            s3 = Stream(sp.port, tok['ann'], last_id=1)
            got = s3.next(5)
            t.ok(got and got.get('event') == 'resync',
                 'a Last-Event-ID older than the log is told to resync', got)
            s3.close()

            # --- per-user stream limit
            streams = [Stream(sp.port, tok['dan']) for _ in range(64)]
            t.ok(all(s.status == 200 for s in streams), '64 streams for one user are accepted')
            extra = Stream(sp.port, tok['dan'])
            t.ok(extra.status == 429 and json.loads(extra.body)['error']['code'] ==
                 'tooManyRequests', 'the 65th is 429')
            for s in streams:
                s.close()
            t.ok(wait_until(lambda: Stream(sp.port, tok['dan']).status == 200, 5),
                 'closed streams free their places')
            n = sp.metric('spaceport_change_streams')
            t.ok(n is not None, 'metrics count open streams (%s)' % n)
            for s in (s_ann, s_ben, s2):
                s.close()
            code = sp.stop()
            t.eq(code, 0, 'SIGTERM with streams open exits 0')


if __name__ == '__main__':
    TAP().run(main)
