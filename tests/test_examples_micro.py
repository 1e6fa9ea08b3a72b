"""examples/micro_service.py runs against a real server and says what it should."""

from __future__ import annotations

from natsync.testing import NatsServer

from .conftest import run_example


def test_micro_service_example(nats_server: NatsServer) -> None:
    out = run_example("micro_service.py", nats_server.url)
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
