#!/usr/bin/python3
"""examples/quickstart stopped while it starts (Ctrl-C or SIGTERM while it
waits for a program to be ready): it stops what it started, says
"stopped" and ends, instead of going on waiting and then blaming the
program it had just stopped itself ("spaceport exited; see ...")."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

from harness import SOURCE_ROOT, TAP, free_port, wait_until

# Stands in for spaceport: never ready, records that it ran and that it
# was stopped.
NEVER_READY = """#!/bin/sh
trap 'echo stopped >> "$0.log"; exit 0' TERM INT
echo started >> "$0.log"
while :; do sleep 0.1; done
"""


def main(t):
    root = tempfile.mkdtemp(prefix='sp-quickstart-stop-')
    os.chmod(root, 0o755)  # as root, www-data must reach DATA_DIR/storage
    try:
        fake = os.path.join(root, 'fake-spaceport')
        with open(fake, 'w') as f:
            f.write(NEVER_READY)
        os.chmod(fake, 0o755)
        for sig, name in ((signal.SIGTERM, 'SIGTERM'), (signal.SIGINT, 'SIGINT')):
            run(t, root, fake, sig, name)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(t, root, fake, sig, name):
    data = os.path.join(root, 'data-' + name)
    log = fake + '.log'
    if os.path.exists(log):
        os.unlink(log)
    env = dict(os.environ, SPACEPORT_BIN=fake, SPACEPORT_DATA_DIR=data,
               WEB_ADDR='127.0.0.1:%d' % free_port(), IDP_PORT=str(free_port()),
               SPACEPORT_HTTP_ADDR='127.0.0.1:%d' % free_port())
    env.pop('SPACEPORT_NATS_URL', None)
    qs = subprocess.Popen([os.path.join(SOURCE_ROOT, 'examples', 'quickstart')], env=env,
                          cwd=SOURCE_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, start_new_session=True)
    try:
        started = wait_until(lambda: os.path.exists(log), 60)
        t.ok(started, '%s: the quickstart waits for spaceport to be ready' % name,
             '' if started else qs.communicate()[1].decode(errors='replace'))
        time.sleep(0.3)
        qs.send_signal(sig)  # to the script only, as kill does
        try:
            _, err = qs.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(qs.pid, signal.SIGKILL)
            _, err = qs.communicate()
        err = err.decode(errors='replace')
        t.ok('quickstart: stopped' in err and 'exited' not in err and
             'is not ready' not in err, '%s while starting: it says it stopped, and blames '
             'no program' % name, err[-600:])
        t.ok(qs.returncode != 0, '%s: it ends with a failure status' % name, qs.returncode)
        with open(log) as f:
            t.ok('stopped' in f.read(), '%s: the program it started was stopped' % name)
    finally:
        if qs.poll() is None:
            os.killpg(qs.pid, signal.SIGKILL)
            qs.wait()


if __name__ == '__main__':
    TAP().run(main)
