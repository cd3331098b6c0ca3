#!/usr/bin/python3
"""The event catalog (schema/events/catalog.json) is the one list of event
types: every type the program writes is in it with a schema file, every
schema file of an event's data is named by it, schema/events/README.md's
table is it, and the web page's event names come from it (served as
/web/catalog.js, which feed.js imports instead of a list of its own)."""
import glob
import json
import os
import re
import subprocess
import tempfile

import catalog
from harness import SOURCE_ROOT, TAP, Issuer, Spaceport

# Schemas of schema/events that are not an event type's data.
NOT_DATA = {'cloudevent.json', 'storage-changed.json', 'catalog.json'}
# Types the program reads but does not write.
CONSUMED = {'spaceport.storage.changed'}


def ocis_cell(ocis):
    if ocis is None:
        return '-'
    if isinstance(ocis, str):
        return '`%s`' % ocis
    by_name = {}
    for change in ('created', 'updated', 'deleted', 'moved'):
        by_name.setdefault(ocis[change], []).append(change)
    return ', '.join('`%s` (%s)' % (n, ', '.join(c)) for n, c in by_name.items())


# Drives web/feed.js with a stand-in EventSource and prints what it did.
FEED_DRIVER = r"""
globalThis.EventSource = class extends EventTarget {
  static CLOSED = 2;
  constructor(url) { super(); this.url = url; this.readyState = 1; globalThis.last = this; }
  close() { this.readyState = 2; this.closed = true; }
};
const { Feed } = await import('./feed.js');
const auth = new EventTarget();
let refreshed = false;
auth.accessToken = async () => 'token';
auth.refresh = async () => { refreshed = true; };
const feed = new Feed(auth);
const changes = [];
feed.addEventListener('change', (e) => changes.push(e.detail.type));
feed.start();
await new Promise((r) => setTimeout(r, 50));
const source = globalThis.last;
const fire = (type, data) => {
  const e = new Event(type);
  e.data = data;
  e.lastEventId = '';
  source.dispatchEvent(e);
};
fire('share-created', '{"type":"spaceport.share.created","driveId":"d"}');
fire('token-expired', '{}');
await new Promise((r) => setTimeout(r, 50));
console.log(JSON.stringify({ changes, closed: !!source.closed, refreshed }));
"""


def readme_row(e):
    """The row schema/events/README.md has for catalog entry e."""
    return '| `%s` | `%s` | `%s` | %s | %s |' % (
        e['type'], e['schema'], e['changes'], ocis_cell(e['ocis']), e['clientlog'] or '-')


def source_text():
    out = []
    for path in glob.glob(os.path.join(SOURCE_ROOT, 'src', '**', '*.[ch]'), recursive=True):
        with open(path, encoding='utf-8') as f:
            out.append((os.path.relpath(path, SOURCE_ROOT), f.read()))
    return out


def main(t):
    cat = catalog.load()
    types = [e['type'] for e in cat['events']]
    macros = {'SP_EVENT_' + e['macro'] for e in cat['events']}
    t.eq(len(types), len(set(types)), 'each type is in the catalog once (%d types)' % len(types))

    # --- schema files
    missing = [e['schema'] for e in cat['events']
               if not os.path.isfile(os.path.join(catalog.EVENTS_DIR, e['schema']))]
    t.eq(missing, [], 'every schema file the catalog names exists')
    named = {e['schema'] for e in cat['events']}
    stray = sorted(os.path.basename(p) for p in glob.glob(os.path.join(catalog.EVENTS_DIR,
                                                                       '*.json'))
                   if os.path.basename(p) not in named | NOT_DATA)
    t.eq(stray, [], 'every data schema of schema/events belongs to a catalog type')

    # --- the sources: no type outside the catalog, no list of names beside it
    used, literals = set(), set()
    for path, text in source_text():
        used.update(re.findall(r'\bSP_EVENT_[A-Z_]+\b', text))
        literals.update(re.findall(r'"(spaceport\.[a-z]+\.[a-z.]+)"', text))
    t.ok(used and used <= macros, 'every SP_EVENT_ name the sources use is a catalog type (%d)'
         % len(used), sorted(used - macros))
    t.eq(sorted(literals - CONSUMED), [],
         'no source spells a type out: they write the catalog\'s SP_EVENT_ names')
    t.eq(sorted(m for m in macros if m not in used and m not in
                {'SP_EVENT_SHARE_MOUNTED', 'SP_EVENT_SHARE_UNMOUNTED', 'SP_EVENT_SHARE_HIDDEN',
                 'SP_EVENT_SHARE_UNHIDDEN'}), [],
         'every catalog type is written somewhere (the share-state types: once shares are '
         'mounted and hidden)')

    # --- schema/events/README.md
    with open(os.path.join(catalog.EVENTS_DIR, 'README.md'), encoding='utf-8') as f:
        rows = [line.rstrip() for line in f if line.startswith('| `spaceport.')]
    t.eq(rows, [readme_row(e) for e in cat['events']],
         'schema/events/README.md lists the catalog, row for row')

    # --- the web page
    with open(os.path.join(SOURCE_ROOT, 'web', 'feed.js'), encoding='utf-8') as f:
        feed = f.read()
    t.ok("from './catalog.js'" in feed and not re.search(r"'share-created'", feed),
         'feed.js takes its event names from catalog.js, with no list of its own')
    names = []
    for e in cat['events']:
        if e['changes'] not in names:
            names.append(e['changes'])
    names += [s['name'] for s in cat['stream']]
    with open(os.path.join(SOURCE_ROOT, 'web', 'app.js'), encoding='utf-8') as f:
        cases = set(re.findall(r"case '([a-z-]+)':", f.read()))
    t.ok(cases and cases <= set(names), 'every event name app.js describes is in the catalog',
         sorted(cases - set(names)))
    with Issuer() as idp, Spaceport(issuers=idp.url) as sp:
        r = sp.request('GET', '/web/catalog.js')
        body = r.body.decode()
        m = re.search(r'export const CHANGES_EVENT_NAMES = (\[.*?\]);', body)
        t.ok(r.status == 200 and 'javascript' in r.headers.get('content-type', '') and m and
             json.loads(m.group(1)) == names,
             'GET /web/catalog.js serves the catalog\'s names for /api/v1/changes (%d)' %
             len(names), body[:300])
        feed_js = sp.request('GET', '/web/feed.js').body.decode()
    # The served feed.js, run under node with a stand-in EventSource: the
    # stream's own token-expired ends the stream (a refresh and reopen);
    # it is no change of anyone's spaces, so no feed item and no reload.
    with tempfile.TemporaryDirectory() as d:
        for name, text in (('catalog.js', body), ('feed.js', feed_js)):
            with open(os.path.join(d, name), 'w', encoding='utf-8') as f:
                f.write(text)
        with open(os.path.join(d, 'drive.mjs'), 'w', encoding='utf-8') as f:
            f.write(FEED_DRIVER)
        r = subprocess.run(['node', os.path.join(d, 'drive.mjs')], capture_output=True,
                           text=True, timeout=30)
    try:
        got = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        got = {'error': r.stdout[-300:] + r.stderr[-300:]}
    t.eq(got, {'changes': ['share-created'], 'closed': True, 'refreshed': True},
         'the web feed tells share-created as a change, and token-expired only closes the '
         'stream and refreshes the token (no feed item "changed", no reload)')


if __name__ == '__main__':
    TAP().run(main)
