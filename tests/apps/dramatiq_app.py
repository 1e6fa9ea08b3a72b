"""The Dramatiq actors the task-queue tests run real `dramatiq` worker processes of.

Settings come from the environment: NATSYNC_TEST_URL (the server), NATSYNC_TEST_RUNS (a
file each run appends one line to: `kind key pid redelivered time`).
"""

from __future__ import annotations

import os
import time

import dramatiq
from dramatiq.middleware import CurrentMessage
from dramatiq.results import Results

from natsync.contrib.dramatiq import KeyValueResults, NatsBroker

URL = os.environ.get("NATSYNC_TEST_URL", "nats://127.0.0.1:4222")
RUNS = os.environ.get("NATSYNC_TEST_RUNS", os.devnull)

FAST_RECONNECT = {"reconnect_time_wait": 0.25}
broker = NatsBroker(URL, visibility_timeout=float(os.environ.get("NATSYNC_TEST_VT", "4")),
                    connect_options=FAST_RECONNECT)
broker.add_middleware(Results(backend=KeyValueResults(URL, connect_options=FAST_RECONNECT)))
broker.add_middleware(CurrentMessage())
dramatiq.set_broker(broker)
for _queue in ("main", "kill"):  # the tests' queues, so that `dramatiq -Q` finds them
    broker.declare_queue(_queue)


def _record(kind: str, key: object) -> None:
    """One short O_APPEND write per run: atomic between the worker processes."""
    message = CurrentMessage.get_current_message()
    redelivered = int(message.nats_msg.metadata.num_delivered > 1) if message else 0
    with open(RUNS, "a") as out:
        out.write(f"{kind} {key} {os.getpid()} {redelivered} {time.time():.3f}\n")


@dramatiq.actor(max_retries=0)
def record(key: int, seconds: float = 0.0) -> None:
    _record("record", key)
    time.sleep(seconds)


@dramatiq.actor(store_results=True, max_retries=0)
def add(x: int, y: int) -> int:
    return x + y


@dramatiq.actor(max_retries=2, min_backoff=100, max_backoff=200)
def always_fails(key: str) -> None:
    _record("fails", key)
    raise RuntimeError(f"{key} fails on purpose")


@dramatiq.actor(max_retries=0)
def not_before(key: str, eta: float) -> None:
    _record("eta", key)
