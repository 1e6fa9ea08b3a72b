"""Dramatiq actors whose broker, results and rate limits live in NATS JetStream
(natsync[dramatiq]). Setting the broker is the only NATS-specific part:

    dramatiq actors -p 1 -t 4       # NATS_URL says where the server is; or run.py
"""

from __future__ import annotations

import os
import time

import dramatiq
from dramatiq.rate_limits import ConcurrentRateLimiter
from dramatiq.results import Results

from natsync.contrib.dramatiq import KeyValueRateLimiter, KeyValueResults, NatsBroker

NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")

broker = NatsBroker(NATS_URL, visibility_timeout=30)
broker.add_middleware(Results(backend=KeyValueResults(NATS_URL)))
dramatiq.set_broker(broker)

#: At most one report at a time across every worker process and host.
REPORT_MUTEX = ConcurrentRateLimiter(KeyValueRateLimiter(NATS_URL), "report", limit=1)


@dramatiq.actor(store_results=True)
def word_count(text: str) -> int:
    time.sleep(0.01)
    return len(text.split())


# A report that finds the mutex taken raises RateLimitExceeded and is retried: after
# 0.1-1 s here, not dramatiq's default backoff of 15 s and more.
@dramatiq.actor(store_results=True, min_backoff=100, max_backoff=1000)
def report(title: str) -> str:
    with REPORT_MUTEX.acquire():
        return f"report {title!r} written"


@dramatiq.actor(max_retries=1, min_backoff=100, max_backoff=100)
def flaky(attempts_file: str) -> None:
    """Always fails: after its one retry it lands in the dead-letter queue."""
    with open(attempts_file, "a") as out:
        out.write("attempt\n")
    raise RuntimeError("flaky fails on purpose")
