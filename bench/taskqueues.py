"""Tasks per second through Celery and Dramatiq on natsync (JetStream), each against the
same framework on Redis, measured in the same run on one machine:

    .venv/bin/python bench/taskqueues.py [--count 3000] [--only celery,dramatiq]

The parent starts one nats-server (JetStream, file storage) and one redis-server (on
loopback, a free port, no persistence settings changed), both from this process. Each row
runs in a fresh child (`--row NAME`) that starts one worker process (Celery: prefork, 2
processes, prefetch 8, acks late; Dramatiq: 1 process, 4 threads), waits until it is
ready, then enqueues `count` no-op tasks and times from the first enqueue until the
worker has run them all (each run appends a byte to a file). Every wait is bounded by
--time-limit. Exit status 1 if a row failed. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from natsync.testing import free_port

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
ROWS = {"celery-nats": ("celery", "nats"), "celery-redis": ("celery", "redis"),
        "dramatiq-nats": ("dramatiq", "nats"), "dramatiq-redis": ("dramatiq", "redis")}
READY = {"celery": "ready.", "dramatiq": "is ready for action"}


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check` every 10 ms; TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.01)


def _worker_cmd(framework: str) -> List[str]:
    """The worker command of a row (run in the row's work directory)."""
    if framework == "celery":
        return [str(BIN / "celery"), "-A", "celery_bench", "worker", "-P", "prefork", "-c", "2",
                "--without-mingle", "--without-gossip", "--without-heartbeat", "-l", "info"]
    return [str(BIN / "dramatiq"), "dramatiq_bench", "-p", "1", "-t", "4"]


def run_row(name: str, url: str, count: int, limit: float) -> Dict[str, float]:
    """One row in this process: start the worker, enqueue, wait for every run."""
    framework, broker = ROWS[name]
    work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    done = work / "done"
    env = dict(os.environ, BENCH_BROKER=broker, BENCH_URL=url, BENCH_DONE=str(done),
               PYTHONPATH=os.pathsep.join([str(HERE / "taskq"), str(HERE.parent)]))
    os.environ.update(BENCH_BROKER=broker, BENCH_URL=url, BENCH_DONE=str(done))
    sys.path.insert(0, str(HERE / "taskq"))
    log = work / "worker.log"
    with open(log, "w") as out:
        worker = subprocess.Popen(_worker_cmd(framework), env=env, cwd=work, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait(lambda: READY[framework] in log.read_text(errors="replace")
              or worker.poll() is not None, limit, "the worker to be ready")
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited: {log.read_text()[-2000:]}")
        if framework == "celery":
            import celery_bench as app

            def send(i: int) -> None:
                app.noop.delay(i)
        else:
            import dramatiq_bench as app

            def send(i: int) -> None:
                app.noop.send(i)
        send(-1)  # one untimed task: connections made, queues declared, worker warmed up
        _wait(lambda: done.exists() and done.stat().st_size >= 1, limit, "the warm-up task")
        started = time.monotonic()
        for i in range(count):
            send(i)
        enqueued = time.monotonic() - started
        _wait(lambda: done.stat().st_size >= count + 1, limit, f"{count} tasks to run")
        elapsed = time.monotonic() - started
        return {"tasks_per_s": count / elapsed, "enqueue_per_s": count / enqueued,
                "seconds": elapsed, "count": count}
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def _start_redis(work: Path) -> Tuple[subprocess.Popen[bytes], str]:
    """redis-server on a free loopback port, with its files in `work`."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server not found (make bench installs Debian's "
                                "redis-server package)")
    port = free_port()
    proc = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--dir",
                             str(work), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0
    _wait(listening, 10, "redis-server to listen")
    return proc, f"redis://127.0.0.1:{port}/0"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--only", default="celery,dramatiq",
                        help="frameworks, comma-separated (celery, dramatiq)")
    parser.add_argument("--time-limit", type=float, default=180.0)
    parser.add_argument("--row", choices=sorted(ROWS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.row:
        print(json.dumps(run_row(args.row, args.url, args.count, args.time_limit)))
        return 0

    from natsync.testing import NatsServer

    frameworks = [f for f in args.only.split(",") if f]
    work = Path(tempfile.mkdtemp(prefix="bench-taskq-"))
    failed = False
    results: Dict[str, Dict[str, float]] = {}
    redis, redis_url = _start_redis(work)
    try:
        with NatsServer(jetstream=True, store_dir=work / "js") as nats:
            urls = {"nats": nats.url, "redis": redis_url}
            print(f"{args.count} no-op tasks per row; load average {os.getloadavg()[0]:.2f}")
            for name, (framework, broker) in ROWS.items():
                if framework not in frameworks:
                    continue
                out = subprocess.run([sys.executable, __file__, "--row", name, "--url",
                                      urls[broker], "--count", str(args.count),
                                      "--time-limit", str(args.time_limit)],
                                     capture_output=True, text=True,
                                     timeout=args.time_limit * 3 + 60)
                if out.returncode != 0:
                    failed = True
                    print(f"{name:16} FAILED: {(out.stderr or out.stdout)[-1500:]}")
                    continue
                results[name] = json.loads(out.stdout.strip().splitlines()[-1])
                r = results[name]
                print(f"{name:16} {r['tasks_per_s']:8.0f} tasks/s end to end "
                      f"({r['enqueue_per_s']:.0f}/s enqueued, {r['seconds']:.1f}s)")
    finally:
        redis.terminate()
        redis.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    for framework in frameworks:
        nats_r, redis_r = results.get(f"{framework}-nats"), results.get(f"{framework}-redis")
        if nats_r and redis_r:
            print(f"{framework}: natsync / redis = "
                  f"{nats_r['tasks_per_s'] / redis_r['tasks_per_s']:.2f}x")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
