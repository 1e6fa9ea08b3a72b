"""The Celery app of bench/taskqueues.py: BENCH_BROKER is "nats" or "redis", BENCH_URL
its URL, BENCH_DONE a file each task appends one byte to."""

from __future__ import annotations

import os

from celery import Celery

URL = os.environ["BENCH_URL"]
DONE = os.environ["BENCH_DONE"]

app = Celery("bench")
if os.environ["BENCH_BROKER"] == "nats":
    app.conf.update(broker_url=URL, broker_transport="natsync.contrib.celery:Transport")
else:
    app.conf.update(broker_url=URL)
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=8, task_ignore_result=True,
                worker_hijack_root_logger=False, broker_connection_retry_on_startup=True)


@app.task
def noop(i: int) -> None:
    """The smallest task there is: one O_APPEND byte, so the bench can count runs."""
    with open(DONE, "ab") as out:
        out.write(b".")
