"""examples/micro_service.py runs against a real server and says what it should."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from natsync.testing import NatsServer

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "micro_service.py"


def test_micro_service_example(nats_server: NatsServer) -> None:
    env = dict(os.environ, NATS_URL=nats_server.url)
    out = subprocess.run([sys.executable, str(EXAMPLE)], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for phrase in (f"Using your server at {nats_server.url}",
                   "Started two instances of 'calculator'",
                   "calc.add [1, 2, 3.5] = 6.5",
                   "calc.add [1, \"x\"] failed: 400 expected a JSON list of numbers",
                   "calc.divide [1, 0] failed: 500 division by zero",
                   "[0, 1, 4, 9, 16, 25, 36, 49]",
                   "PING found 2 instances: ['one', 'two']",
                   "endpoints [('add', 'calc.add', 'q'), ('divide', 'calc.divide', 'q'), "
                   "('square', 'calc.square', 'q')]",
                   "STATS over both instances (requests, errors): "
                   "{'add': (2, 1), 'divide': (1, 1), 'square': (8, 0)}",
                   "'500:division by zero'",
                   "After stop(): nobody serves calc.add any more.",
                   "PING after stop: 0 instances."):
        assert phrase in out.stdout, f"{phrase!r} not in:\n{out.stdout}"
    assert "ZeroDivisionError" in out.stderr  # the service logged the failing handler
