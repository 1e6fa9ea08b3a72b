"""Every example in examples/ runs against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from natsync.testing import NatsServer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_tour_runs_against_a_given_server(nats_server: NatsServer) -> None:
    env = dict(os.environ, NATS_URL=nats_server.url)
    out = subprocess.run([sys.executable, str(EXAMPLES / "tour.py")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for phrase in ("Publish/subscribe: received 'Hello, Joe!'", "Queue group: 100 jobs",
                   "Request/reply", "Headers: content-type=application/json",
                   "No responders", "Drained: the callback handled all 50 messages"):
        assert phrase in out.stdout


def test_tour_starts_its_own_server_without_nats_url() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    out = subprocess.run([sys.executable, str(EXAMPLES / "tour.py")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Started an embedded nats-server" in out.stdout
    assert "Stopped the embedded server" in out.stdout
