"""The floor under threaded request/reply on this machine: thread hand-offs with no I/O.

    .venv/bin/python bench/thread_floor.py [--count 40000] [--levels 1,8,32,128]

C "requester" threads each append a pre-acquired lock to a shared queue, notify one
"reader" thread and block on their lock; the reader takes the queue a batch at a time,
gives up the GIL once (as a recv() would) and releases the locks: all of them at once
(`all`), or the first only, each woken thread waking the next (`baton`, natsync's
order). No sockets, no parsing, no NATS: what remains is the cost of waking one thread
per request and handing the GIL around, the part of `req-par` that no client code can
remove. Compare its ops/s with `req-par-C` req/s of the asyncio clients, which pay none
of it. Every loop is bounded in count and by --time-limit.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections import deque
from typing import Deque


def run(concurrency: int, count: int, mode: str, time_limit: float) -> tuple[int, float, float]:
    """(operations done, wall seconds, CPU seconds) for one level and mode."""
    queued: Deque[threading.Lock] = deque()
    ready: Deque[threading.Lock] = deque()
    cond = threading.Condition(threading.Lock())
    deadline = time.monotonic() + time_limit
    state = {"stop": False}

    def wake_next() -> None:
        try:
            ready.popleft().release()
        except IndexError:
            pass

    def reader() -> None:
        while True:
            with cond:
                while not queued and not state["stop"]:
                    cond.wait(timeout=0.1)
                if state["stop"] and not queued:
                    return
                batch = list(queued)
                queued.clear()
            time.sleep(0)  # one GIL release per read, as the real reader's recv()
            if mode == "all":
                for lock in batch:
                    lock.release()
            else:
                ready.extend(batch)
                wake_next()

    done = [0] * concurrency

    def requester(i: int, n: int) -> None:
        for _ in range(n):
            if time.monotonic() > deadline:
                return
            lock = threading.Lock()
            lock.acquire()
            with cond:
                queued.append(lock)
                cond.notify()
            if not lock.acquire(timeout=5):
                return
            if mode == "baton":
                wake_next()
            done[i] += 1

    reader_thread = threading.Thread(target=reader, daemon=True)
    reader_thread.start()
    threads = [threading.Thread(target=requester, args=(i, count // concurrency), daemon=True)
               for i in range(concurrency)]
    t0, c0 = time.perf_counter(), os.times()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=time_limit + 10)
    wall, c1 = time.perf_counter() - t0, os.times()
    with cond:
        state["stop"] = True
        cond.notify()
    reader_thread.join(timeout=5)
    cpu = (c1.user + c1.system) - (c0.user + c0.system)
    return sum(done), wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40_000, help="hand-offs per level")
    parser.add_argument("--levels", default="1,8,32,128", help="comma-separated C values")
    parser.add_argument("--time-limit", type=float, default=30.0,
                        help="seconds one level may take")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; {args.count} hand-offs per level")
    print(f"{'mode':<6} {'C':>4} {'ops/s':>9} {'CPU/op us':>10}")
    for mode in ("all", "baton"):
        for c in (int(x) for x in args.levels.split(",")):
            n, wall, cpu = run(c, args.count, mode, args.time_limit)
            if n < c:
                print(f"{mode:<6} {c:>4} {'FAILED':>9} (timed out)", flush=True)
                continue
            print(f"{mode:<6} {c:>4} {n / wall / 1000:>8.1f}k {cpu / n * 1e6:>10.1f}", flush=True)


if __name__ == "__main__":
    main()
