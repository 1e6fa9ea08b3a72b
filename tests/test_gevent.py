"""natsync under gevent: monkey-patched processes (a script, and a half-patched one that
must be refused). gunicorn -k gevent is in test_contrib_gunicorn.py. Each runs in a
child process: patching must come before anything else is imported."""

from __future__ import annotations

import subprocess
import sys

from natsync.testing import NatsServer

from .procs import ROOT, env_with


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], env=env_with(), cwd=ROOT, text=True,
                          capture_output=True, timeout=timeout)


def test_the_gevent_example_script() -> None:
    """Pub/sub, 200 concurrent requests from greenlets, JetStream, KV, a server restart,
    close: all under patch_all()."""
    done = _run(["examples/gevent_worker.py"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "200 concurrent requests, JetStream and KV: ok" in done.stdout
    assert "reconnected after a server restart: ok" in done.stdout
    assert "closed: ok" in done.stdout


HALF_PATCHED = """
from gevent import monkey
monkey.patch_socket()
import natsync, natsync.errors, sys
try:
    natsync.connect(sys.argv[1], connect_timeout=2)
except natsync.errors.Error as exc:
    print("refused:", exc)
else:
    print("connected")
"""


def test_a_half_patched_process_is_refused_at_connect() -> None:
    with NatsServer() as srv:
        done = _run(["-c", HALF_PATCHED, srv.url], timeout=60)
    assert done.returncode == 0, done.stderr
    assert "refused: nats: gevent has patched socket but not" in done.stdout, done.stdout
    assert "threading" in done.stdout and "patch_all()" in done.stdout
