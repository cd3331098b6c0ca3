#!/usr/bin/python3
"""tests/deps-audit against the package list (tests/packages) and against
copies of it with one package taken out: a Python module's package
(python3-requests), a program's (wrk) and a meson dependency's
(libjansson-dev) must each be named, with what needs it; a virtual package
stands for its provider. A module that is not installed at all fails too,
and the repository's own modules do not.

Expects what tests/run installs to be installed."""
import os
import subprocess
import tempfile

from harness import SOURCE_ROOT, TAP

AUDIT = os.path.join(SOURCE_ROOT, 'tests', 'deps-audit')
PACKAGES = os.path.join(SOURCE_ROOT, 'tests', 'packages')


def audit(*args):
    """(exit code, output lines) of tests/deps-audit args."""
    p = subprocess.run([AUDIT] + list(args), capture_output=True, text=True, timeout=60)
    return p.returncode, (p.stdout + p.stderr).splitlines()


def without(package, work, instead=None):
    """A copy of tests/packages without package, or with instead in its
    place (comments kept); its path."""
    lines = []
    removed = False
    with open(PACKAGES, encoding='utf-8') as f:
        for line in f:
            code, sep, comment = line.partition('#')
            names = code.split()
            if package in names:
                removed = True
                names[names.index(package):names.index(package) + 1] = [instead] if instead else []
                line = ' '.join(names) + (' ' + sep + comment if sep else '\n')
            lines.append(line)
    if not removed:
        raise AssertionError('%s is not in tests/packages' % package)
    path = os.path.join(work, 'packages-without-' + package)
    with open(path, 'w', encoding='utf-8') as f:
        f.writelines(lines)
    return path


def missing_case(t, work, package, needs):
    """The audit with package taken out of the list fails, and its only
    complaint names package and what needs it."""
    rc, out = audit(without(package, work))
    t.eq(rc, 1, 'without %s: the audit fails' % package)
    t.ok(len(out) == 1 and out[0].startswith('deps-audit: %s (' % package) and needs in out[0] and
         'is not in ' in out[0], 'without %s: it names %s and %r' % (package, package, needs),
         '\n'.join(out))


def body(t):
    rc, out = audit(PACKAGES)
    t.eq(rc, 0, 'with tests/packages the audit passes')
    t.ok(len(out) == 1 and out[0].startswith('deps-audit: ok: '),
         'and prints a one-line summary', '\n'.join(out))

    with tempfile.TemporaryDirectory(prefix='sp-deps-') as work:
        missing_case(t, work, 'python3-requests',
                     'module requests, imported by tests/integration/oidc.py')
        missing_case(t, work, 'wrk', 'program wrk, started by ')
        missing_case(t, work, 'libjansson-dev', 'meson dependency jansson, in meson.build')

        # A virtual package in the list stands for its installed provider.
        rc, out = audit(without('libcurl4-openssl-dev', work, instead='libcurl-dev'))
        t.ok(rc == 0, 'the virtual libcurl-dev in place of libcurl4-openssl-dev passes',
             '\n'.join(out))

        # A tree of its own: one module that exists nowhere, one of the
        # tree itself (skipped), one of the standard library.
        tree = os.path.join(work, 'tree')
        os.makedirs(os.path.join(tree, 'tests'))
        with open(os.path.join(tree, 'tests', 'helper_of_tree.py'), 'w') as f:
            f.write('VALUE = 1\n')
        with open(os.path.join(tree, 'tests', 'test_x.py'), 'w') as f:
            f.write('import json\nimport helper_of_tree\n\n\ndef f():\n'
                    '    import spaceport_no_such_module  # noqa: F401\n')
        rc, out = audit('--root', tree, PACKAGES)
        t.eq(rc, 1, 'a module that is not installed fails the audit')
        t.ok(any('module spaceport_no_such_module (imported by tests/test_x.py) is not installed'
                 in line for line in out), 'and is named', '\n'.join(out))
        t.ok(not any('helper_of_tree' in line or 'json' in line for line in out),
             "the tree's own module and the standard library pass", '\n'.join(out))

    rc, out = audit(os.path.join(SOURCE_ROOT, 'tests', 'no-such-list'))
    t.eq(rc, 2, 'a list that cannot be read is a usage error')


TAP().run(body)
