"""examples/feature_flags_app.py and examples/cron_lock.py run against a real server."""

from __future__ import annotations

import re

from natsync.testing import NatsServer

from .conftest import run_example


def test_feature_flags_app(nats_server: NatsServer) -> None:
    out = run_example("feature_flags_app.py", nats_server.url).stdout
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
    out = run_example("cron_lock.py", nats_server.url).stdout
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
    for name in ("feature_flags_app.py", "cron_lock.py"):
        out = run_example(name, None)
        assert "Started an embedded nats-server with JetStream" in out.stdout
        assert "Stopped the embedded server." in out.stdout
