#!/usr/bin/env python3
"""Embeds numbered SQL migrations into a C source file.

Usage: embed.py OUTPUT.c [--pg] NNN_name.sql...
Each input becomes one entry of sp_migrations[] (SQLite's; with --pg,
sp_pg_migrations[], PostgreSQL's), ordered by its number.
"""
import os
import re
import sys


def c_string(text):
    out = []
    for line in text.splitlines(keepends=True):
        esc = line.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')
        out.append('"%s"' % esc)
    return '\n        '.join(out) or '""'


def main():
    output, inputs = sys.argv[1], sys.argv[2:]
    array, count = 'sp_migrations', 'sp_migration_count'
    if inputs[:1] == ['--pg']:
        inputs = inputs[1:]
        array, count = 'sp_pg_migrations', 'sp_pg_migration_count'
    entries = []
    for path in inputs:
        name = os.path.basename(path)
        m = re.match(r'^(\d+)_[a-z0-9_]+\.sql$', name)
        if not m:
            sys.exit('embed.py: %s is not named NNN_name.sql' % name)
        with open(path, encoding='utf-8') as f:
            entries.append((int(m.group(1)), name, f.read()))
    entries.sort()
    for i, (version, name, _) in enumerate(entries):
        if version != i + 1:
            sys.exit('embed.py: migrations must be numbered 1..N without gaps (%s)' % name)
    with open(output, 'w', encoding='utf-8') as f:
        f.write('/* Generated from the migrations in schema/ by schema/embed.py; do not edit. */\n')
        f.write('#include "store/migrations.h"\n\n#include <stddef.h>\n\n')
        f.write('const sp_migration %s[] = {\n' % array)
        for version, name, sql in entries:
            f.write('    {%d, "%s",\n        %s},\n' % (version, name, c_string(sql)))
        if not entries:
            f.write('    {0, NULL, NULL},\n')
        f.write('};\n')
        f.write('const int %s = %d;\n' % (count, len(entries)))


if __name__ == '__main__':
    main()
