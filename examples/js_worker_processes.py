"""Worker processes in the style of Celery or RQ, on a JetStream work queue.

Three processes consume one durable pull consumer with `messages()` (through
natsync.contrib.runner.work). One of them gets SIGTERM mid-stream: it finishes the job
in hand, acks it, hands back what it had prefetched (nak) and exits 0; the others finish
the queue. Every job is done at least once; a job done twice was redelivered.

    python examples/js_worker_processes.py        # NATS_URL, or an embedded server

The parent's `ProcessClient` is inherited by the forked workers, and each makes its own
connection on first use: this is the per-process rule of docs/workers.md.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from natsync import Msg
from natsync.contrib.process import ProcessClient
from natsync.contrib.runner import StopSignals, work
from natsync.js import api
from natsync.testing import server_url

JOB_TIME = 0.03  # seconds of "work" per job


@dataclass
class Outcome:
    """What the run saw: (job, num_delivered, pid) per completed handler call, exit codes."""

    done: list[tuple[str, int, int]] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)
    stopped_early: int = 0  # jobs the SIGTERM'd worker completed
    left_in_queue: int = -1


def worker(nats: ProcessClient, results: Path) -> None:
    """One worker process: handle jobs until SIGTERM, then drain."""

    def handle(msg: Msg) -> None:
        time.sleep(JOB_TIME)
        line = f"{msg.data.decode()} {msg.metadata.num_delivered} {os.getpid()}\n"
        with open(results, "a") as out:  # one short O_APPEND write per job
            out.write(line)

    with StopSignals() as stop:
        work(nats.client, "JOBS", "workers", handle, stop, max_messages=5)
    nats.close()


def _read(results: Path) -> list[tuple[str, int, int]]:
    if not results.exists():
        return []
    rows = [line.split() for line in results.read_text().splitlines()]
    return [(job, int(n), int(pid)) for job, n, pid in rows]


def _wait(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)
    return check()


def run(url: str, jobs: int = 60, workers: int = 3, say: Callable[[str], object] = print
        ) -> Outcome:
    nats = ProcessClient(url, name="job-queue")
    js = nats.client.jetstream()
    js.add_stream(name="JOBS", subjects=["jobs.>"], retention=api.RetentionPolicy.WORK_QUEUE)
    js.stream("JOBS").create_consumer(durable_name="workers", ack_policy="explicit", ack_wait=5)
    for i in range(jobs):
        js.publish("jobs.resize", f"job-{i}".encode())
    say(f"Queued {jobs} jobs for {workers} worker processes.")
    outcome = Outcome()
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "done.txt"
        fork = multiprocessing.get_context("fork")
        procs = [fork.Process(target=worker, args=(nats, results)) for _ in range(workers)]
        try:
            for proc in procs:
                proc.start()
            _wait(lambda: len(_read(results)) >= jobs // 4, 30)
            first = procs[0]
            os.kill(first.pid or 0, signal.SIGTERM)
            first.join(20)
            outcome.stopped_early = sum(1 for _, _, pid in _read(results) if pid == first.pid)
            say(f"Worker 1 got SIGTERM mid-stream and exited ({first.exitcode}) after "
                f"{outcome.stopped_early} jobs, its last one acked.")
            _wait(lambda: len({job for job, _, _ in _read(results)}) >= jobs, 60)
            for proc in procs[1:]:
                os.kill(proc.pid or 0, signal.SIGTERM)
            for proc in procs:
                proc.join(20)
        finally:
            for proc in procs:
                if proc.is_alive():
                    proc.kill()
                    proc.join(5)
        outcome.done = _read(results)
    outcome.exit_codes = [proc.exitcode if proc.exitcode is not None else -1 for proc in procs]
    outcome.left_in_queue = js.stream_info("JOBS").state.messages
    names = {job for job, _, _ in outcome.done}
    twice = len(outcome.done) - len(names)
    redelivered = len({job for job, n, _ in outcome.done if n > 1})
    say(f"{len(names)} of {jobs} jobs done, {jobs - len(names)} lost; {redelivered} "
        f"redelivered, {twice} done twice; {outcome.left_in_queue} left in the queue; "
        f"worker exit codes {outcome.exit_codes}.")
    js.delete_stream("JOBS")
    nats.close()
    return outcome


if __name__ == "__main__":
    with server_url(jetstream=True, say=print) as url:
        run(url)
    sys.exit(0)
