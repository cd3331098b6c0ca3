#!/usr/bin/env python3
"""Embeds the files of the web page into a C source file.

Usage: embed.py OUTPUT.c FILE...
Each input becomes one entry of sp_web_files[] (see src/api/web.h): its
file name, a strong ETag (the first 20 hex digits of its SHA-256) and its
bytes as a C string literal, in the order given.
"""
import hashlib
import os
import re
import sys

# Bytes written as themselves inside a C string literal; everything else
# (quotes, backslash, '?' against trigraphs, control and non-ASCII bytes)
# becomes a three-digit octal escape, which never swallows a following digit.
PLAIN = set(range(0x20, 0x7f)) - {ord('"'), ord('\\'), ord('?')}
# Bytes of one literal line in the output, to keep the file readable.
LINE_BYTES = 100


def c_literal(data):
    lines, cur, width = [], [], 0
    for b in data:
        piece = chr(b) if b in PLAIN else '\\%03o' % b
        cur.append(piece)
        width += len(piece)
        if b == 0x0a or width >= LINE_BYTES:
            lines.append('"%s"' % ''.join(cur))
            cur, width = [], 0
    if cur or not lines:
        lines.append('"%s"' % ''.join(cur))
    return '\n        '.join(lines)


def main():
    output, inputs = sys.argv[1], sys.argv[2:]
    entries, seen = [], set()
    for path in inputs:
        name = os.path.basename(path)
        if not re.match(r'^[A-Za-z0-9_-][A-Za-z0-9_.-]*$', name):
            sys.exit('embed.py: %s is not a plain file name' % name)
        if name in seen:
            sys.exit('embed.py: %s given twice' % name)
        seen.add(name)
        with open(path, 'rb') as f:
            data = f.read()
        etag = '"%s"' % hashlib.sha256(data).hexdigest()[:20]
        entries.append((name, etag, data))
    with open(output, 'w', encoding='ascii') as f:
        f.write('/* Generated from the files in web/ by web/embed.py; do not edit. */\n')
        f.write('#include "api/web.h"\n\n')
        f.write('const sp_web_file sp_web_files[] = {\n')
        for name, etag, data in entries:
            f.write('    {"%s", "\\"%s\\"",\n        (const unsigned char *)%s,\n        %d},\n'
                    % (name, etag.strip('"'), c_literal(data), len(data)))
        f.write('};\n')
        f.write('const size_t sp_web_file_count = %d;\n' % len(entries))


if __name__ == '__main__':
    main()
