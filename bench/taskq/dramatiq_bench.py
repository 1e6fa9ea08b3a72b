"""The Dramatiq actors of bench/taskqueues.py: BENCH_BROKER is "nats" or "redis",
BENCH_URL its URL, BENCH_DONE a file each message appends one byte to."""

from __future__ import annotations

import os

import dramatiq

URL = os.environ["BENCH_URL"]
DONE = os.environ["BENCH_DONE"]

if os.environ["BENCH_BROKER"] == "nats":
    from natsync.contrib.dramatiq import NatsBroker

    broker = NatsBroker(URL)
else:
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=URL)
dramatiq.set_broker(broker)


@dramatiq.actor(max_retries=0)
def noop(i: int) -> None:
    """The smallest task there is: one O_APPEND byte, so the bench can count runs."""
    with open(DONE, "ab") as out:
        out.write(b".")
