#!/usr/bin/env python3
"""Embeds numbered SQL migrations into a C source file.

Usage: embed.py OUTPUT.c NNN_name.sql...
Each input becomes one entry of sp_migrations[], ordered by its number.
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
        f.write('#include "store/migrations.h"\n\n')
        f.write('const sp_migration sp_migrations[] = {\n')
        for version, name, sql in entries:
            f.write('    {%d, "%s",\n        %s},\n' % (version, name, c_string(sql)))
        f.write('};\n')
        f.write('const int sp_migration_count = %d;\n' % len(entries))


if __name__ == '__main__':
    main()
