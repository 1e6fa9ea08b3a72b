"""Run the Dramatiq project on NATS: a worker (here inside this process, as
`dramatiq.Worker`; `dramatiq actors` runs the same in its own processes), 100 messages
with results, a delayed message, a rate-limited actor and a message that ends in the
dead-letter queue.

    python examples/dramatiq_project/run.py        # NATS_URL, or an embedded server
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from natsync.testing import server_url

sys.path.insert(0, str(Path(__file__).resolve().parent))


def dead_letters(broker: Any, queue: str, timeout: float) -> int:
    """How many messages `queue`'s dead-letter queue holds, once it holds any (or 0)."""
    from dramatiq.common import xq_name

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        subjects = broker.js.stream_info(broker.stream, subjects_filter=">").state.subjects
        count = (subjects or {}).get(broker.subject(xq_name(queue)), 0)
        if count:
            return int(count)
        time.sleep(0.2)
    return 0


def run(url: str) -> None:
    os.environ["NATS_URL"] = url
    import actors
    import dramatiq

    logging.getLogger("dramatiq").setLevel(logging.CRITICAL)  # flaky's failures are on purpose
    worker = dramatiq.Worker(actors.broker, worker_threads=4)
    worker.start()
    attempts = Path(tempfile.mkdtemp()) / "attempts.txt"
    try:
        started = time.monotonic()
        messages = [actors.word_count.send(f"message number {i}") for i in range(100)]
        counts = [m.get_result(block=True, timeout=60_000) for m in messages]
        print(f"100 word counts ({sum(counts)} words) in {time.monotonic() - started:.1f}s")
        sent_at = time.time()
        later = actors.word_count.send_with_options(args=("one two",), delay=1000)
        later.get_result(block=True, timeout=30_000)
        print(f"a delayed message ran after its delay: {time.time() - sent_at >= 1.0}")
        reports = [actors.report.send(t) for t in ("q1", "q2")]
        print("; ".join(r.get_result(block=True, timeout=30_000) for r in reports))
        actors.flaky.send(str(attempts))
        dead = dead_letters(actors.broker, "default", timeout=30)
        tries = len(attempts.read_text().splitlines()) if attempts.exists() else 0
        print(f"flaky failed {tries} times and is now in the dead-letter queue ({dead} there)")
    finally:
        worker.stop()
        actors.broker.close()
    print("worker stopped")


if __name__ == "__main__":
    with server_url(jetstream=True, say=print) as url:
        run(url)
    sys.exit(0)
