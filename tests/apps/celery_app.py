"""The Celery app the task-queue tests run real `celery worker` processes of.

Settings come from the environment: NATSYNC_TEST_URL (the server), NATSYNC_TEST_RUNS (a
file each task run appends one line to: `kind key pid redelivered`).
"""

from __future__ import annotations

import os
import time
from typing import Any, List

from celery import Celery

URL = os.environ.get("NATSYNC_TEST_URL", "nats://127.0.0.1:4222")
RUNS = os.environ.get("NATSYNC_TEST_RUNS", os.devnull)

app = Celery("natsync_tests")
app.conf.update(
    broker_url=URL,
    broker_transport="natsync.contrib.celery:Transport",
    broker_transport_options={"visibility_timeout": float(os.environ.get("NATSYNC_TEST_VT", "4")),
                              "connect_options": {"reconnect_time_wait": 0.25}},
    result_backend_transport_options={"connect_options": {"reconnect_time_wait": 0.25}},
    broker_connection_retry_on_startup=True,
    result_backend=f"natsync.contrib.celery:KeyValueBackend+{URL}",
    result_expires=600,
    task_acks_late=True,
    worker_prefetch_multiplier=2,
    worker_hijack_root_logger=False,
    task_serializer="json",
)


def _record(kind: str, key: Any, request: Any) -> None:
    """One short O_APPEND write per run: atomic between the worker processes."""
    redelivered = bool((request.delivery_info or {}).get("redelivered"))
    line = f"{kind} {key} {os.getpid()} {int(redelivered)} {time.time():.3f}\n"
    with open(RUNS, "a") as out:
        out.write(line)


@app.task(bind=True)
def record(self: Any, key: int, seconds: float = 0.0) -> int:
    """Record the run, sleep a little, return the key."""
    _record("record", key, self.request)
    time.sleep(seconds)
    return key


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task
def total(values: List[int]) -> int:
    """A chord's body: the sum of its header's results."""
    return sum(values)


@app.task(bind=True, max_retries=3)
def flaky(self: Any, key: str, failures: int) -> str:
    """Fails its first `failures` runs, retrying after 0.2 s each time."""
    _record("flaky", key, self.request)
    if self.request.retries < failures:
        raise self.retry(countdown=0.2)
    return f"{key} after {self.request.retries} retries"


@app.task(bind=True)
def not_before(self: Any, key: str, eta: float) -> float:
    """Record when it ran, for an ETA/countdown check (returns how late it was)."""
    _record("eta", key, self.request)
    return time.time() - eta
