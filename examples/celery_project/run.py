"""Run the Celery project on NATS: one worker process, 100 tasks, a chord, a countdown
task and `inspect ping`, then a warm shutdown.

    python examples/celery_project/run.py        # NATS_URL, or an embedded server
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from natsync.testing import server_url

HERE = Path(__file__).resolve().parent


def run(url: str) -> None:
    os.environ["NATS_URL"] = url
    sys.path.insert(0, str(HERE))
    import tasks
    from celery import chord

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    worker = subprocess.Popen([sys.executable, "-m", "celery", "--quiet", "-A", "tasks", "worker", "-P",
                               "threads", "-c", "4", "-n", "example@%h", "--without-mingle",
                               "-l", "warning"], cwd=HERE, env=env)
    try:
        started = time.monotonic()
        results = [tasks.thumbnail.delay(i) for i in range(100)]
        names = [r.get(timeout=60) for r in results]
        print(f"100 thumbnails made ({names[0]} ... {names[-1]}) "
              f"in {time.monotonic() - started:.1f}s")
        header = (tasks.size_of.s(i) for i in range(10))
        print(f"chord: the total of 10 sizes is {chord(header)(tasks.total.s()).get(timeout=30)}")
        eta = time.time() + 1.0
        tasks.thumbnail.apply_async((999,), countdown=1.0).get(timeout=30)
        print(f"a countdown task ran after its time: {time.time() >= eta}")
        pongs = tasks.app.control.inspect(timeout=3, limit=1).ping() or {}
        print(f"inspect ping: {sorted(pongs)[0].split('@')[0]} answered {list(pongs.values())[0]}")
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(30)
        tasks.app.close()
    print(f"worker exited ({code}) after a warm shutdown")


if __name__ == "__main__":
    with server_url(jetstream=True, say=print) as url:
        run(url)
    sys.exit(0)
