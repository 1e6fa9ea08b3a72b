"""A NATS micro service (the Services API, ADR-32): endpoints, a group, errors,
concurrency, and discovery of running instances with PING, INFO and STATS.

    python examples/micro_service.py

With NATS_URL set it uses that server; otherwise it starts an embedded nats-server on a
free 127.0.0.1 port and stops it at the end. While it runs, `nats micro ls` and
`nats micro stats calculator` (the nats CLI) would see the service too. The traceback
on stderr is the service logging the handler that raised (logger "natsync.micro").
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, Callable

import natsync
from natsync import micro
from natsync.errors import NoRespondersError
from natsync.testing import server_url

Say = Callable[[str], None]


def add(req: micro.Request) -> None:
    """Sum a JSON list of numbers; a bad payload is the caller's fault (400)."""
    try:
        numbers = json.loads(req.data)
        total = sum(float(n) for n in numbers)
    except (ValueError, TypeError) as exc:
        req.respond_error(400, f"expected a JSON list of numbers: {exc}")
        return
    req.respond(json.dumps(total).encode())


def divide(req: micro.Request) -> None:
    """Divide two numbers; dividing by zero raises, which the service turns into a 500."""
    a, b = json.loads(req.data)
    req.respond(json.dumps(a / b).encode())


def slow_square(req: micro.Request) -> None:
    """A slow endpoint: 0.2 s of "work" per request."""
    time.sleep(0.2)
    n = int(req.data)
    req.respond(str(n * n).encode())


def start_calculator(nc: natsync.Client, instance: str) -> micro.Service:
    """One instance of the calculator service; several may run at once."""
    svc = micro.add_service(
        nc, name="calculator", version="1.2.0", description="Adds and divides numbers",
        metadata={"instance": instance},
        stats_handler=lambda ep: {"instance": instance})
    math = svc.add_group("calc")
    math.add_endpoint("add", add, metadata={"input": "JSON list of numbers"})
    math.add_endpoint("divide", divide)
    math.add_endpoint("square", slow_square, max_concurrency=4)
    return svc


def run(url: str, say: Say = print) -> None:
    with natsync.connect(url, name="micro-service") as nc, \
            natsync.connect(url, name="micro-caller") as caller:
        first = start_calculator(nc, "one")
        second = start_calculator(nc, "two")
        say(f"Started two instances of 'calculator': {first.id} and {second.id}.")

        reply = caller.request("calc.add", b"[1, 2, 3.5]", timeout=2)
        say(f"calc.add [1, 2, 3.5] = {reply.data.decode()}")

        for payload in (b"[1, \"x\"]", b"[1, 0]"):
            subject = "calc.add" if b"x" in payload else "calc.divide"
            reply = caller.request(subject, payload, timeout=2)
            headers = reply.headers if reply.headers is not None else natsync.Headers()
            say(f"{subject} {payload.decode()} failed: "
                f"{headers.get(micro.ERROR_CODE_HEADER)} {headers.get(micro.ERROR_HEADER)}")

        results: list[bytes] = []
        start = time.monotonic()
        threads = [threading.Thread(target=lambda n=n: results.append(
            caller.request("calc.square", str(n).encode(), timeout=5).data)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        squares = sorted(int(r) for r in results)
        say(f"8 parallel calc.square requests (0.2 s each, max_concurrency=4 per instance, "
            f"2 instances): {squares} in {time.monotonic() - start:.1f} s.")

        discovery = micro.Client(caller)
        pings = discovery.ping("calculator", stall=0.3)
        say(f"PING found {len(pings)} instances: "
            f"{sorted(p.metadata['instance'] for p in pings)}.")
        [info] = discovery.info("calculator", id=first.id)
        say(f"INFO of {info.id}: {info.description!r}, endpoints "
            f"{[(e.name, e.subject, e.queue_group) for e in info.endpoints]}.")
        stats = discovery.stats("calculator", stall=0.3)
        per_endpoint: dict[str, Any] = {}
        for s in stats:
            for e in s.endpoints:
                requests, errors = per_endpoint.get(e.name, (0, 0))
                per_endpoint[e.name] = (requests + e.num_requests, errors + e.num_errors)
        say(f"STATS over both instances (requests, errors): {per_endpoint}.")
        errors = [e.last_error for s in stats for e in s.endpoints if e.last_error]
        say(f"Last errors recorded: {sorted(errors)}.")

        first.stop()
        second.stop()
        try:
            caller.request("calc.add", b"[1]", timeout=1)
        except NoRespondersError:
            say("After stop(): nobody serves calc.add any more.")
        say(f"PING after stop: {len(discovery.ping('calculator', timeout=0.5))} instances.")


def main() -> int:
    with server_url(jetstream=False, say=print) as url:
        run(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
