#!/usr/bin/env python3
"""Turns the event catalog (catalog.json) into what the program and its web
page read.

Usage: catalog.py catalog.json OUT.c OUT.h OUT.js
OUT.c holds sp_event_catalog[] (src/store/catalog.h), OUT.h the SP_EVENT_*
names of the types, OUT.js the names the web page listens for. Refuses a
catalog whose entries repeat a type or macro, name a schema file that is
not next to it, or use a name that is not lower-case words joined by '-'.
"""
import json
import os
import re
import sys

NAME = re.compile(r'^[a-z]+(-[a-z]+)*$')
TYPE = re.compile(r'^spaceport(\.[a-z]+)+$')
MACRO = re.compile(r'^[A-Z]+(_[A-Z]+)*$')
KINDS = {None: 'SP_CLIENTLOG_NONE', 'share': 'SP_CLIENTLOG_SHARE',
         'member': 'SP_CLIENTLOG_MEMBER', 'item': 'SP_CLIENTLOG_ITEM'}
CHANGES = ('created', 'updated', 'deleted', 'moved')


def fail(why):
    sys.exit('catalog.py: %s' % why)


def c_str(s):
    return 'NULL' if s is None else '"%s"' % s


def load(path):
    with open(path, encoding='utf-8') as f:
        cat = json.load(f)
    here = os.path.dirname(os.path.abspath(path))
    types, macros = set(), set()
    for e in cat['events']:
        t = e['type']
        if not TYPE.match(t) or t in types:
            fail('%s: not a new spaceport.* type' % t)
        if not MACRO.match(e['macro']) or e['macro'] in macros:
            fail('%s: macro %s' % (t, e['macro']))
        types.add(t)
        macros.add(e['macro'])
        if not os.path.isfile(os.path.join(here, e['schema'])):
            fail('%s: no schema file %s' % (t, e['schema']))
        if not NAME.match(e['changes']):
            fail('%s: changes name %s' % (t, e['changes']))
        ocis = e['ocis']
        names = ocis.values() if isinstance(ocis, dict) else [ocis] if ocis else []
        if isinstance(ocis, dict) and sorted(ocis) != sorted(CHANGES):
            fail('%s: the oCIS names by change must name %s' % (t, ', '.join(CHANGES)))
        if any(not NAME.match(n) for n in names):
            fail('%s: oCIS name %s' % (t, ocis))
        if e['clientlog'] not in KINDS or (e['clientlog'] is None) != (ocis is None):
            fail('%s: a type sent on the oCIS path has a clientlog kind, and only such' % t)
    for s in cat['stream']:
        if not NAME.match(s['name']):
            fail('stream event %s' % s['name'])
    return cat


def write_c(cat, path):
    out = ['/* Generated from schema/events/catalog.json by schema/events/catalog.py;'
           ' do not edit. */',
           '#include "store/catalog.h"', '', '#include <stddef.h>', '']
    for e in cat['events']:
        if isinstance(e['ocis'], dict):
            out.append('static const sp_event_name_by_change by_change_%s[] = {' %
                       e['macro'].lower())
            for change in CHANGES:
                out.append('    {"%s", "%s"},' % (change, e['ocis'][change]))
            out += ['    {NULL, NULL},', '};', '']
    out.append('const sp_event_kind sp_event_catalog[] = {')
    for e in cat['events']:
        by = isinstance(e['ocis'], dict)
        out.append('    {SP_EVENT_%s, "%s", "%s", %s, %s, %s},' % (
            e['macro'], e['schema'], e['changes'], 'NULL' if by else c_str(e['ocis']),
            'by_change_' + e['macro'].lower() if by else 'NULL', KINDS[e['clientlog']]))
    out += ['};', '',
            'const size_t sp_event_catalog_count = sizeof sp_event_catalog / sizeof sp_event_catalog[0];',
            '']
    with open(path, 'w', encoding='ascii') as f:
        f.write('\n'.join(out))


def write_h(cat, path):
    out = ['/* Generated from schema/events/catalog.json by schema/events/catalog.py;'
           ' do not edit. */',
           '#ifndef SP_EVENT_TYPES_H', '#define SP_EVENT_TYPES_H', '',
           '/* Event types, the subjects they are published on. */']
    for e in cat['events']:
        out.append('#define SP_EVENT_%s "%s"' % (e['macro'], e['type']))
    out += ['', '#endif', '']
    with open(path, 'w', encoding='ascii') as f:
        f.write('\n'.join(out))


def write_js(cat, path):
    changes = []
    for e in cat['events']:
        if e['changes'] not in changes:
            changes.append(e['changes'])
    changes += [s['name'] for s in cat['stream']]
    out = ['// catalog.js - generated from schema/events/catalog.json by schema/events/catalog.py;',
           '// do not edit.', '',
           '// Every event name /api/v1/changes sends: the types\' names, then the',
           '// stream\'s own (resync, token-expired).',
           'export const CHANGES_EVENT_NAMES = %s;' % json.dumps(changes), '']
    with open(path, 'w', encoding='ascii') as f:
        f.write('\n'.join(out))


def main():
    src, out_c, out_h, out_js = sys.argv[1:5]
    cat = load(src)
    write_c(cat, out_c)
    write_h(cat, out_h)
    write_js(cat, out_js)


if __name__ == '__main__':
    main()
