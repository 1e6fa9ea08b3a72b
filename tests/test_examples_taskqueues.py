"""examples/celery_project (with a `celery worker` process) and examples/dramatiq_project
(with a `dramatiq.Worker`) run against a real server."""

from __future__ import annotations

from natsync.testing import NatsServer

from .conftest import run_example


def test_celery_project(nats_server: NatsServer) -> None:
    out = run_example("celery_project/run.py", nats_server.url).stdout
    for phrase in ("100 thumbnails made (thumb-0.png ... thumb-99.png)",
                   "chord: the total of 10 sizes is 10045",
                   "a countdown task ran after its time: True",
                   "inspect ping: example answered {'ok': 'pong'}",
                   "worker exited (0) after a warm shutdown"):
        assert phrase in out, f"{phrase!r} not in:\n{out}"


def test_dramatiq_project(nats_server: NatsServer) -> None:
    out = run_example("dramatiq_project/run.py", nats_server.url).stdout
    for phrase in ("100 word counts (300 words)", "a delayed message ran after its delay: True",
                   "report 'q1' written; report 'q2' written",
                   "flaky failed 2 times and is now in the dead-letter queue (1 there)",
                   "worker stopped"):
        assert phrase in out, f"{phrase!r} not in:\n{out}"
