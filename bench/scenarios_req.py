"""Request/reply scenarios beyond the sequential ``req``: own responders, concurrency, fan-out.

- ``req-own``: ``req`` against a responder written with the requester's own client (the
  parent starts one per run: natsync -> natsync, nats-py -> nats-py, ...), i.e. what a user
  of one client library gets end to end.
- ``req-par-C`` (C = 1, 8, 32, 128): C requesting threads (natsync) or asyncio tasks
  (nats-py) sharing ONE connection, each making its share of ``count`` sequential requests
  to the raw-socket echo responder (``bench/responder.py --client raw``, shared by all).
- ``req-fanout``: one natsync thread keeping 32 ``request_async`` futures in flight against
  the same responder, compared with nats-py+uvloop's 32-task ``req-par-32``.

Concurrent scenarios report req/s over the whole run, per-request latency (p50/p99) and the
client process's CPU time per request (``time.process_time()``: all its threads).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, List

from scenarios import (
    LATENCY,
    NATSPY_OPTS,
    NATSYNC_OPTS,
    Ctx,
    Metric,
    Metrics,
    ScenarioError,
    ScenarioSkipped,
    _req_expect,
    headline,
    impl,
    latency_metrics,
    payload_of,
    req_natspy,
    req_natsync,
    scenario,
)

#: Subject of the raw echo responder (the parent's "raw-responder" service).
RAW_RESPONDER_SUBJECT = "bench.echo.raw"
#: Subject of the per-run responder of ``req-own`` (only one runs at a time).
OWN_RESPONDER_SUBJECT = "bench.echo.own"
#: Concurrency levels of the req-par scenarios; the summary uses SUMMARY_C.
PAR_LEVELS = (1, 8, 32, 128)
SUMMARY_C = 32
#: Futures req-fanout keeps in flight (compared with req-par at the same concurrency).
FANOUT_INFLIGHT = SUMMARY_C
#: Requests per thread/task between two deadline checks.
CHECK_EVERY = 256

PAR_METRICS = [
    Metric("req_per_s", "rate", "req/s", True),
    Metric("p50_us", "p50", "us", False),
    Metric("p99_us", "p99", "us", False),
    Metric("cpu_us_per_req", "client CPU/req", "us", False),
]

# =========================================================================== req-own

scenario(
    "req-own",
    "request/reply {count} x {size} B -> own responder",
    LATENCY,
    full={"count": 20_000, "size": 16, "warmup": 500, "timeout_s": 2.0,
          "subject": OWN_RESPONDER_SUBJECT},
    quick={"count": 2_000, "size": 16, "warmup": 100, "timeout_s": 2.0,
           "subject": OWN_RESPONDER_SUBJECT},
    expect=_req_expect,
    family="req",
    own_responder=True,
)
impl("req-own", "natsync")(req_natsync)
impl("req-own", "natspy")(req_natspy)


# =========================================================================== helpers


def shares(count: int, workers: int) -> List[int]:
    """``count`` split over ``workers`` as evenly as possible (the first get the extra)."""
    base, extra = divmod(count, workers)
    return [base + (1 if i < extra else 0) for i in range(workers)]


def par_metrics(samples: List[int], elapsed: float, cpu: float) -> Metrics:
    """req/s and client CPU per request over the run, plus per-request latencies."""
    out = latency_metrics(samples)
    del out["ops_per_s"]  # 1 / mean latency: meaningless with requests in parallel
    n = len(samples)
    out.update(req_per_s=n / elapsed, cpu_us_per_req=cpu / n * 1e6, elapsed_s=elapsed,
               cpu_s=cpu)
    return out


def _check_echo(data: bytes, payload: bytes) -> None:
    if data != payload:
        raise ScenarioError(f"responder echoed {data[:40]!r}")


def _natsync_warmup(ctx: Ctx, nc: Any) -> None:
    payload, subject = payload_of(ctx.params), str(ctx.params["subject"])
    reply = None
    for _ in range(int(ctx.params["warmup"])):
        reply = nc.request(subject, payload, timeout=float(ctx.params["timeout_s"]))
    if reply is not None:
        _check_echo(reply.data, payload)


# =========================================================================== req-par

for _c in PAR_LEVELS:
    scenario(
        f"req-par-{_c}",
        f"request/reply {{count}} x {{size}} B, {_c} concurrent on one connection",
        PAR_METRICS,
        full={"count": 20_000, "size": 16, "warmup": 300, "timeout_s": 5.0,
              "concurrency": _c, "subject": RAW_RESPONDER_SUBJECT},
        quick={"count": 2_000, "size": 16, "warmup": 50, "timeout_s": 5.0,
               "concurrency": _c, "subject": RAW_RESPONDER_SUBJECT},
        needs=("raw-responder",),
        expect=_req_expect,
        family="req-par",
    )


def req_par_natsync(ctx: Ctx) -> Metrics:
    """C threads, one shared client, each a loop of blocking ``request()`` calls."""
    import natsync

    conc, count = int(ctx.params["concurrency"]), int(ctx.params["count"])
    payload, subject = payload_of(ctx.params), str(ctx.params["subject"])
    timeout = float(ctx.params["timeout_s"])
    nc = natsync.connect(ctx.url, error_cb=ctx.on_error, **NATSYNC_OPTS)
    samples: List[List[int]] = [[] for _ in range(conc)]
    failures: List[str] = []
    start_line = threading.Barrier(conc + 1)

    def requester(n: int, out: List[int]) -> None:
        request, clock = nc.request, time.perf_counter_ns
        try:
            start_line.wait(timeout=ctx.remaining())
            for k in range(n):
                t0 = clock()
                request(subject, payload, timeout=timeout)
                out.append(clock() - t0)
                if not k % CHECK_EVERY:
                    ctx.check_time("requests")
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
            start_line.abort()

    try:
        _natsync_warmup(ctx, nc)
        threads = [threading.Thread(target=requester, args=(n, out), daemon=True,
                                    name=f"bench-requester-{i}")
                   for i, (n, out) in enumerate(zip(shares(count, conc), samples))]
        for t in threads:
            t.start()
        try:
            start_line.wait(timeout=ctx.remaining())
        except threading.BrokenBarrierError:
            pass  # a requester failed before the start: reported below
        cpu0, t0 = time.process_time(), time.perf_counter()
        for t in threads:
            t.join(timeout=ctx.remaining() + timeout)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        if any(t.is_alive() for t in threads):
            raise ScenarioError("requester threads still running at the deadline")
    finally:
        nc.close()
    if failures:
        raise ScenarioError(f"{len(failures)} requester(s) failed, first: {failures[0]}")
    return par_metrics([s for out in samples for s in out], elapsed, cpu)


async def req_par_natspy(ctx: Ctx) -> Metrics:
    """C asyncio tasks, one shared connection, each a loop of ``await nc.request()``."""
    import asyncio

    import nats

    conc, count = int(ctx.params["concurrency"]), int(ctx.params["count"])
    payload, subject = payload_of(ctx.params), str(ctx.params["subject"])
    timeout = float(ctx.params["timeout_s"])
    nc = await nats.connect(ctx.url, error_cb=ctx.on_error_async, **NATSPY_OPTS)
    samples: List[List[int]] = [[] for _ in range(conc)]

    async def requester(n: int, out: List[int]) -> None:
        request, clock = nc.request, time.perf_counter_ns
        for k in range(n):
            t0 = clock()
            await request(subject, payload, timeout=timeout)
            out.append(clock() - t0)
            if not k % CHECK_EVERY:
                ctx.check_time("requests")

    try:
        reply = None
        for _ in range(int(ctx.params["warmup"])):
            reply = await nc.request(subject, payload, timeout=timeout)
        if reply is not None:
            _check_echo(reply.data, payload)
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(*(requester(n, out)
                             for n, out in zip(shares(count, conc), samples))),
            timeout=max(0.01, ctx.remaining()))
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        await nc.close()
    return par_metrics([s for out in samples for s in out], elapsed, cpu)


for _c in PAR_LEVELS:
    impl(f"req-par-{_c}", "natsync")(req_par_natsync)
    impl(f"req-par-{_c}", "natspy")(req_par_natspy)

_SUMMARY = f"req-par-{SUMMARY_C}"
for _kind, _title in (("natspy", "nats-py"), ("natspy-uvloop", "nats-py+uvloop"),
                      ("natsjs", "nats.js")):
    headline(f"{_SUMMARY} req/s, natsync / {_title}", (_SUMMARY, "natsync", "req_per_s"),
             (_SUMMARY, _kind, "req_per_s"))
    headline(f"{_SUMMARY} client CPU/req, natsync / {_title}",
             (_SUMMARY, "natsync", "cpu_us_per_req"), (_SUMMARY, _kind, "cpu_us_per_req"))


# =========================================================================== req-fanout

scenario(
    "req-fanout",
    f"request_async {{count}} x {{size}} B, {FANOUT_INFLIGHT} in flight from one thread",
    PAR_METRICS,
    full={"count": 20_000, "size": 16, "warmup": 300, "timeout_s": 5.0,
          "inflight": FANOUT_INFLIGHT, "subject": RAW_RESPONDER_SUBJECT},
    quick={"count": 2_000, "size": 16, "warmup": 50, "timeout_s": 5.0,
           "inflight": FANOUT_INFLIGHT, "subject": RAW_RESPONDER_SUBJECT},
    needs=("raw-responder",),
    expect=_req_expect,
)
headline(f"req-fanout req/s, natsync / nats-py+uvloop {_SUMMARY}",
         ("req-fanout", "natsync", "req_per_s"), (_SUMMARY, "natspy-uvloop", "req_per_s"))
headline(f"req-fanout client CPU/req, natsync / nats-py+uvloop {_SUMMARY}",
         ("req-fanout", "natsync", "cpu_us_per_req"),
         (_SUMMARY, "natspy-uvloop", "cpu_us_per_req"))


@impl("req-fanout", "natsync")
def req_fanout_natsync(ctx: Ctx) -> Metrics:
    """Keep ``inflight`` request_async futures in flight; take the oldest one's result,
    then submit the next (the `for f in futures: f.result()` pattern).

    A request's latency is from its submission to the ``result()`` that returned it.
    Waiting with ``concurrent.futures.wait(FIRST_COMPLETED)`` instead costs about 8 us of
    CPU per request more in the stdlib itself (it installs a waiter on every pending
    future at each call), which is not the client's cost.
    """
    from collections import deque
    from concurrent.futures import Future

    import natsync

    count, window = int(ctx.params["count"]), int(ctx.params["inflight"])
    payload, subject = payload_of(ctx.params), str(ctx.params["subject"])
    timeout = float(ctx.params["timeout_s"])
    nc = natsync.connect(ctx.url, error_cb=ctx.on_error, **NATSYNC_OPTS)
    try:
        if not hasattr(nc, "request_async"):
            raise ScenarioSkipped("this natsync has no Client.request_async")
        request_async: Callable[..., Future[Any]] = nc.request_async
        _natsync_warmup(ctx, nc)
        _check_echo(request_async(subject, payload, timeout=timeout).result(timeout).data,
                    payload)
        pending: deque[tuple[Future[Any], int]] = deque()
        samples: List[int] = []
        clock = time.perf_counter_ns
        cpu0, t0 = time.process_time(), time.perf_counter()
        submitted = 0
        while submitted < min(window, count):
            pending.append((request_async(subject, payload, timeout=timeout), clock()))
            submitted += 1
        while pending:
            if len(samples) % CHECK_EVERY == 0:
                ctx.check_time("request_async fan-out")
            fut, sent = pending.popleft()
            fut.result(timeout + 1.0)  # raises the request's error (timeout, no responders)
            samples.append(clock() - sent)
            if submitted < count:
                pending.append((request_async(subject, payload, timeout=timeout), clock()))
                submitted += 1
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        nc.close()
    return par_metrics(samples, elapsed, cpu)
