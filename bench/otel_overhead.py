"""Publish rate with OpenTelemetry instrumentation never installed, installed, and
installed-then-uninstrumented (which must match "never" within noise: uninstrument()
puts back the very same functions).

    .venv/bin/python bench/otel_overhead.py [--count 100000] [--rounds 5] [--repeats 3]

Each phase runs in a fresh worker process (so none inherits another's heap), the
phases alternate `repeats` times on one embedded nats-server, and each phase's best
round is reported (the least disturbed by other load on the machine). Bounded by the
counts and by a 120 s limit per worker.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import natsync
from natsync.contrib.otel import NatsyncInstrumentor
from natsync.testing import NatsServer

PHASES = ("never", "instrumented", "uninstrumented")


def rate(nc: natsync.Client, count: int) -> float:
    """Messages per CPU second (all of this process's threads) for `count` 16-byte
    publishes, flushed at the end: CPU time, since other work shares the machine's cores."""
    payload = b"x" * 16
    publish = nc.publish
    start = time.process_time()
    for _ in range(count):
        publish("bench.otel", payload)
    nc.flush(30)
    return count / (time.process_time() - start)


def worker(phase: str, url: str, count: int, rounds: int) -> None:
    """One phase in this process: print the best of `rounds` rates."""
    if phase != "never":
        NatsyncInstrumentor().instrument()  # the global (no-op) providers
    if phase == "uninstrumented":
        NatsyncInstrumentor().uninstrument()
    with natsync.connect(url) as nc:
        rate(nc, count // 10)  # warm-up
        print(max(rate(nc, count) for _ in range(rounds)))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--worker", choices=PHASES)
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.url, args.count, args.rounds)
        return
    results: dict[str, list[float]] = {p: [] for p in PHASES}
    with NatsServer() as server:
        for _ in range(args.repeats):
            for phase in PHASES:
                out = subprocess.run(
                    [sys.executable, __file__, "--worker", phase, "--url", server.url,
                     "--count", str(args.count), "--rounds", str(args.rounds)],
                    capture_output=True, text=True, timeout=120, check=True)
                results[phase].append(float(out.stdout))
    never = max(results["never"])
    for phase in PHASES:
        top = max(results[phase])
        runs = ", ".join(f"{r:,.0f}" for r in results[phase])
        print(f"{phase:>15}: best {top:>10,.0f} msgs/CPU-s ({(top / never - 1) * 100:+5.1f}%)"
              f"  runs: {runs}")


if __name__ == "__main__":
    main()
