"""examples/feature_flags_app.py and examples/cron_lock.py run against a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from natsync.testing import NatsServer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, url: str) -> str:
    """Run examples/<name> with NATS_URL=url; its stdout (exit status 0 asserted)."""
    env = dict(os.environ, NATS_URL=url)
    out = subprocess.run([sys.executable, str(EXAMPLES / name)], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"Using your server at {url}" in out.stdout
    return out.stdout


def test_feature_flags_app(nats_server: NatsServer) -> None:
    out = run_example("feature_flags_app.py", nats_server.url)
    for phrase in ("Created bucket 'demo-flags'",
                   "Serving the WSGI app at http://127.0.0.1:",
                   "GET / -> Welcome! You get the classic checkout. Banner: Spring sale: 20% off",
                   "Admin set new_checkout=true; the app saw it: True",
                   "GET / -> Welcome! You get the one-page checkout. Banner: Spring sale",
                   "Admin toggled dark_mode with compare-and-set: now true.",
                   "GET / -> Welcome! You get the one-page checkout. (dark mode)",
                   'GET /flags -> {"dark_mode": "true", "new_checkout": "true"}',
                   "Deleted the demo's bucket 'demo-flags'.",
                   "Closed the connections."):
        assert phrase in out, f"{phrase!r} not in:\n{out}"


def test_cron_lock(nats_server: NatsServer) -> None:
    out = run_example("cron_lock.py", nats_server.url)
    for phrase in ("Created bucket 'demo-cron-locks' with per-key TTLs",
                   "started together; 1 did the work, 1 skipped.",
                   "run-C: crashed without releasing the lock.",
                   "run-D: lock held by run-C; skipped.",
                   "after run-C crashed (its lease expired on the server)",
                   "at most 1 at any moment.",
                   "Exactly one run worked at any time.",
                   "Deleted the demo's bucket 'demo-cron-locks'."):
        assert phrase in out, f"{phrase!r} not in:\n{out}"
    took = re.findall(r"(run-[AB]): took the lock", out)
    skipped = re.findall(r"(run-[AB]): lock held by (run-[AB]); skipped", out)
    assert len(took) == 1 and len(skipped) == 1 and skipped[0][1] == took[0]


def test_examples_start_their_own_server() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    for name in ("feature_flags_app.py", "cron_lock.py"):
        out = subprocess.run([sys.executable, str(EXAMPLES / name)], env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "Started an embedded nats-server with JetStream" in out.stdout
        assert "Stopped the embedded server." in out.stdout
