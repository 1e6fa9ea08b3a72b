"""Run the Dramatiq project on NATS: one worker process, 100 messages with results, a
delayed message, a rate-limited actor and a message that ends in the dead-letter queue.

    python examples/dramatiq_project/run.py        # NATS_URL, or an embedded server
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from natsync.testing import server_url

HERE = Path(__file__).resolve().parent


def run(url: str) -> None:
    os.environ["NATS_URL"] = url
    sys.path.insert(0, str(HERE))
    import actors
    from dramatiq.common import xq_name

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    worker = subprocess.Popen([sys.executable, "-m", "dramatiq", "actors", "-p", "1", "-t", "4"],
                              cwd=HERE, env=env, stderr=subprocess.DEVNULL)
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
        deadline = time.monotonic() + 30
        dead = 0
        while time.monotonic() < deadline and not dead:
            time.sleep(0.2)
            subjects = actors.broker.js.stream_info(actors.broker.stream,
                                                    subjects_filter=">").state.subjects or {}
            dead = subjects.get(actors.broker.subject(xq_name("default")), 0)
        tries = len(attempts.read_text().splitlines()) if attempts.exists() else 0
        print(f"flaky failed {tries} times and is now in the dead-letter queue ({dead} there)")
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(30)
        actors.broker.close()
    print(f"worker exited ({code})")


if __name__ == "__main__":
    with server_url(jetstream=True, say=print) as url:
        run(url)
    sys.exit(0)
