"""examples/pinned_failover.py runs against a real server."""

from __future__ import annotations

from natsync.testing import NatsServer

from .conftest import run_example


def test_pinned_failover(nats_server: NatsServer) -> None:
    out = run_example("pinned_failover.py", nats_server.url).stdout
    for phrase in ("primary got 3: o1 o2 o3", "standby got 0: -", "The primary stops pulling",
                   "standby got 3: o4 o5 o6", "Every order handled once: True"):
        assert phrase in out, f"{phrase!r} not in:\n{out}"
    assert out.index("standby got 0") < out.index("standby got 3")
