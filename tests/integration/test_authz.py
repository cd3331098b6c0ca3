#!/usr/bin/python3
"""Authorization inside the write: a sharing or member request checked by its
handler waits in the store writer's queue; when the world changes meanwhile
(the caller removed or demoted, the drive disabled, the share removed), the
write checks again and refuses as the handler would now, writing nothing.

The program runs with the test hook SPACEPORT_TEST_HOLD_WRITER (src/main.c):
while the named file exists, queued writes wait, so the test can queue a
change, let requests pass their handler's check behind it, then release."""
import os
import shutil
import tempfile
import threading
import urllib.parse

from harness import TAP, Client, Issuer, Nats, Spaceport, wait_until

MANAGER = '312c0871-5ef7-4b3a-85b6-0e4074c64049'
SPACE_EDITOR = '58c63c02-1d89-4572-916a-870abc5a1b7d'
SPACE_VIEWER = 'a8d5fe5e-96e3-418d-825b-534dbdf22b99'
VIEWER = 'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5'
EDITOR = 'fb6c3e19-e378-47e5-b277-9732f9de6e21'


class Held:
    """Queued writes wait while this is open: `with Held(sp, path) as h`
    and h.call(...) queues requests in threads; leaving releases them."""

    def __init__(self, sp, path):
        self.sp = sp
        self.path = path
        self.threads = []

    def __enter__(self):
        open(self.path, 'w').close()
        return self

    def queued(self):
        return int(self.sp.metric('spaceport_store_jobs_queued') or 0)

    def call(self, client, method, path, body=None):
        """Sends a request in a thread; returns a dict that gets 'r' (the
        Response) once it is answered. Waits until it is queued."""
        before = self.queued()
        box = {}

        def run():
            box['r'] = client.call(method, path, body)

        th = threading.Thread(target=run)
        th.start()
        self.threads.append(th)
        box['queued'] = wait_until(lambda: self.queued() > before or 'r' in box, 10)
        return box

    def __exit__(self, *exc):
        os.unlink(self.path)
        for th in self.threads:
            th.join(30)


def db_all(sp, sql, args=()):
    """The first column of every row sql returns, read from the database
    as an operator would."""
    return [r[0] for r in sp.db_rows(sql, args)]


def db_count(sp, sql, args=()):
    return db_all(sp, sql, args)[0]


def item_path(drive, item):
    """The path of item (the opaque part of an oCIS resource id) of drive."""
    return '/graph/v1beta1/drives/%s/items/%s' % (
        drive, urllib.parse.quote(drive + '!' + item, safe=''))


def invite_path(drive, item):
    return item_path(drive, item) + '/invite'


def share_body(user_id, role=VIEWER):
    return {'recipients': [{'objectId': user_id}], 'roles': [role]}


def root_path(drive, perm=None):
    p = '/graph/v1beta1/drives/%s/root/' % drive
    return p + ('permissions/' + perm if perm else 'invite')


def member_perm(client, drive, user_id):
    for p in client.get('/graph/v1beta1/drives/%s/root/permissions' % drive).json()['value']:
        if p['grantedToV2']['user']['id'] == user_id:
            return p['id']
    return None


def error_code(r):
    try:
        return r.json()['error']['code']
    except Exception:  # noqa: BLE001 - any unreadable body has no code
        return None


def check_removed_manager(t, sp, hold, c, ids, project):
    """A Manager removed while their invitations, a member invitation and a
    share change wait: none is acknowledged, none is written."""
    alice, bob = c['alice'], c['bob']
    r = bob.call('POST', invite_path(project, 'kept'), share_body(ids['dave']))
    t.eq(r.status, 200, 'bob, a Manager, shares an item before it all')
    kept = r.json()['value'][0]['id']
    bob_perm = member_perm(alice, project, ids['bob'])
    before_events = db_count(sp, 'SELECT max(seq) FROM events')
    with Held(sp, hold) as h:
        removal = h.call(alice, 'DELETE', root_path(project, bob_perm))
        t.ok(removal['queued'] and 'r' not in removal, "alice's removal of bob waits in the queue")
        invites = [h.call(bob, 'POST', invite_path(project, 'queued-%d' % i),
                          share_body(ids['carol'])) for i in range(4)]
        enrol = h.call(bob, 'POST', root_path(project), {
            'recipients': [{'objectId': ids['frank']}], 'roles': [SPACE_VIEWER]})
        change = h.call(bob, 'PATCH', item_path(project, 'kept') + '/permissions/' + kept,
                        {'roles': [EDITOR]})
        waiting = invites + [enrol, change]
        t.ok(all(b['queued'] and 'r' not in b for b in waiting),
             "bob's 4 invitations, 1 member invitation and 1 share change passed their "
             "handler's check and wait behind the removal")
        t.eq(h.queued(), 1 + len(waiting), 'the writer holds them all')
    t.eq(removal['r'].status, 204, 'the removal is answered 204')
    got = [(b['r'].status, error_code(b['r'])) for b in waiting]
    t.eq(got, [(404, 'itemNotFound')] * len(waiting),
         'every request of the removed Manager is answered 404, as its handler would now')
    t.eq(db_count(sp, "SELECT count(*) FROM shares WHERE item_id LIKE '%!queued-%'"), 0,
         'no share exists for the refused invitations')
    t.eq(db_count(sp, "SELECT count(*) FROM shares WHERE id = ? AND role = ?", (kept, VIEWER)), 1,
         'the share bob made before keeps its role')
    t.eq(db_count(sp, "SELECT count(*) FROM members m JOIN users u ON u.seq = m.user_seq"
                      " JOIN drives d ON d.seq = m.drive_seq WHERE u.id = ? AND d.id = ?",
                  (ids['frank'], project)), 0, 'frank was not made a member')
    t.eq(db_all(sp, 'SELECT type FROM events WHERE seq > ?', (before_events,)), ['spaceport.space.member.removed'],
         'the only event written is the removal: no share or member event for the refused')
    t.eq(bob.call('POST', invite_path(project, 'after'), share_body(ids['carol'])).status, 404,
         'afterwards the handler itself refuses bob (404)')


def check_demoted(t, sp, hold, c, ids, project):
    """A Manager demoted to SpaceViewer while an invitation waits: 403."""
    alice, dave = c['alice'], c['dave']
    r = alice.call('POST', root_path(project), {'recipients': [{'objectId': ids['dave']}],
                                                'roles': [MANAGER]})
    t.eq(r.status, 200, 'dave becomes a Manager')
    perm = r.json()['value'][0]['id']
    with Held(sp, hold) as h:
        demotion = h.call(alice, 'PATCH', root_path(project, perm), {'roles': [SPACE_VIEWER]})
        inv = h.call(dave, 'POST', invite_path(project, 'demoted'), share_body(ids['carol']))
        t.ok(inv['queued'] and 'r' not in inv, "dave's invitation waits behind his demotion")
    t.eq(demotion['r'].status, 200, 'the demotion is answered 200')
    t.eq((inv['r'].status, error_code(inv['r'])), (403, 'accessDenied'),
         'the invitation of the demoted Manager is answered 403, as its handler would now')
    t.eq(db_count(sp, "SELECT count(*) FROM shares WHERE item_id LIKE '%!demoted'"), 0,
         'and no share was written')
    t.eq(db_count(sp, "SELECT count(*) FROM events WHERE type = 'spaceport.share.created'"
                      " AND data LIKE '%demoted%'"), 0, 'nor its event')


def check_share_removed(t, sp, hold, c, ids, project):
    """A share removed by a Manager while its creator's change of it waits:
    the change is 404 and writes nothing."""
    alice, erin = c['alice'], c['erin']
    r = erin.call('POST', invite_path(project, 'doomed'), share_body(ids['carol']))
    t.eq(r.status, 200, 'erin, a SpaceEditor, shares an item')
    perm = r.json()['value'][0]['id']
    path = item_path(project, 'doomed') + '/permissions/' + perm
    before = db_count(sp, 'SELECT max(seq) FROM events')
    with Held(sp, hold) as h:
        removal = h.call(alice, 'DELETE', path)
        change = h.call(erin, 'PATCH', path, {'roles': [VIEWER], 'expirationDateTime': None})
        again = h.call(erin, 'DELETE', path)
        t.ok(change['queued'] and again['queued'] and 'r' not in change and 'r' not in again,
             "erin's change and removal of her share wait behind the Manager's removal")
    t.eq(removal['r'].status, 204, "the Manager's removal is answered 204")
    t.eq([(b['r'].status, error_code(b['r'])) for b in (change, again)],
         [(404, 'itemNotFound')] * 2, "erin's change and removal are answered 404")
    t.eq(db_all(sp, 'SELECT type FROM events WHERE seq > ?', (before,)),
         ['spaceport.share.deleted'], 'one share.deleted event, nothing for the refused')


def check_disabled(t, sp, hold, c, ids, project):
    """The drive disabled (a write that does not queue) while invitations
    wait: they are 404 and nothing is written."""
    alice, erin = c['alice'], c['erin']
    with Held(sp, hold) as h:
        invites = [h.call(erin, 'POST', invite_path(project, 'disabled-%d' % i),
                          share_body(ids['carol'])) for i in range(3)]
        t.ok(all(b['queued'] and 'r' not in b for b in invites),
             "erin's 3 invitations wait in the queue")
        r = alice.call('DELETE', '/graph/v1.0/drives/' + project)
        t.eq(r.status, 204, 'meanwhile alice disables the drive')
    t.eq([(b['r'].status, error_code(b['r'])) for b in invites], [(404, 'itemNotFound')] * 3,
         'the invitations on the disabled drive are answered 404')
    t.eq(db_count(sp, "SELECT count(*) FROM shares WHERE item_id LIKE '%!disabled-%'"), 0,
         'and none was written')
    t.eq(db_count(sp, "SELECT count(*) FROM events WHERE data LIKE '%disabled-%'"), 0,
         'nor any event for them')


def main(t):
    hold_dir = tempfile.mkdtemp(prefix='sp-hold-')
    hold = os.path.join(hold_dir, 'hold')
    try:
        with Nats() as nats, Issuer() as idp:
            sp = Spaceport(nats_url=nats.url, issuers=idp.url,
                           env={'SPACEPORT_TEST_HOLD_WRITER': hold,
                                'SPACEPORT_LOG_LEVEL': 'info'})
            with sp:
                t.ok('SPACEPORT_TEST_HOLD_WRITER' in sp.stderr_text(),
                     'start-up warns that the test hook is set')
                # alice may create project spaces; nobody here is an admin.
                c = {name: Client(sp, idp.token(name + '-sub', name, name.title(), roles=(
                    ['spaceport-spaceadmin'] if name == 'alice' else [])))
                     for name in ('alice', 'bob', 'carol', 'dave', 'erin', 'frank')}
                ids = {name: cl.me()['id'] for name, cl in c.items()}
                project = c['alice'].call('POST', '/graph/v1.0/drives',
                                          {'name': 'Race'}).json()['id']
                for who, role in (('bob', MANAGER), ('erin', SPACE_EDITOR)):
                    r = c['alice'].call('POST', root_path(project), {
                        'recipients': [{'objectId': ids[who]}], 'roles': [role]})
                    t.eq(r.status, 200, '%s joins the project' % who)
                check_removed_manager(t, sp, hold, c, ids, project)
                check_demoted(t, sp, hold, c, ids, project)
                check_share_removed(t, sp, hold, c, ids, project)
                check_disabled(t, sp, hold, c, ids, project)
                t.eq(sp.stop(), 0, 'the program exits 0 on SIGTERM (under ASan: no leak)')
    finally:
        shutil.rmtree(hold_dir, ignore_errors=True)


if __name__ == '__main__':
    TAP().run(main)
