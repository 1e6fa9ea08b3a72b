"""A work queue drained by a cron job: each run takes what is waiting, acks it, and exits.

Producers publish jobs into a work-queue stream; the cron job (run twice here) pulls in
batches until the queue is empty. A job that fails is nak'd and redelivered at once, so
the same run retries it; the second run finds nothing to do and exits quietly.
"""

from __future__ import annotations

import sys

import natsync
from natsync.js import api
from natsync.testing import server_url


def cron_run(url: str, run: int) -> tuple[int, int]:
    """One run of the cron job: process every waiting job; (jobs done, retries)."""
    done = retried = 0
    with natsync.connect(url, name=f"cron-run-{run}") as nc:
        js = nc.jetstream()
        jobs = js.pull_subscribe("jobs.>", durable="cron", stream="JOBS")
        while True:
            batch = jobs.fetch(batch=10, timeout=0.5)
            if not batch:  # an empty list, not an exception: the queue is drained
                break
            for msg in batch:
                if msg.data == b"flaky" and msg.metadata.num_delivered == 1:
                    msg.nak()  # pretend it failed this time
                    continue
                retried += msg.metadata.num_delivered > 1
                msg.ack_sync()
                done += 1
    return done, retried


def main(url: str) -> None:
    with natsync.connect(url) as nc:
        js = nc.jetstream()
        js.add_stream(name="JOBS", subjects=["jobs.>"], retention=api.RetentionPolicy.WORK_QUEUE)
        for i in range(24):
            js.publish("jobs.resize", b"image-%d" % i)
        js.publish("jobs.resize", b"flaky")
        print("Queued 25 jobs (one of them fails on its first try).")
        for run in (1, 2):
            done, retried = cron_run(url, run)
            print(f"Cron run {run} processed {done} jobs ({retried} after a retry).")
        left = js.stream_info("JOBS").state.messages
        print(f"Jobs left in the queue: {left}.")
        js.delete_stream("JOBS")


if __name__ == "__main__":
    with server_url(jetstream=True, say=print) as url:
        main(url)
    sys.exit(0)
