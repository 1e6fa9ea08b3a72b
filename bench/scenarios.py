"""Benchmark scenarios, keyed by name in a registry.

Each scenario has parameters (full and quick), the metrics it reports, and one
implementation per client family:

- ``natsync``: a plain function ``fn(ctx) -> metrics``;
- ``natspy``: a coroutine function ``async fn(ctx) -> metrics``, run both on the default
  asyncio loop (worker ``natspy``) and on uvloop (worker ``natspy-uvloop``);
- ``raw`` (optional): a function driving a bare socket, shown as the ceiling.

Adding a scenario (JetStream publish, KV get/put, object store, services...) means calling
``scenario(...)`` once and decorating one function per client with ``@impl(name, client)``.
Client libraries are imported inside the functions, so a worker process only loads the
client it measures and its peak RSS is that client's.

Every loop is bounded in count, and checks ``ctx.check_time()`` at least every few
thousand iterations, so a scenario ends by its deadline even when a client misbehaves.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, Iterator, List, Optional, Tuple, Union
from urllib.parse import urlparse

Params = Dict[str, Any]
Metrics = Dict[str, float]
SyncImpl = Callable[["Ctx"], Metrics]
AsyncImpl = Callable[["Ctx"], Awaitable[Metrics]]

#: Client families an implementation can be registered for.
IMPL_KINDS = ("natsync", "natspy", "raw")

#: The subject the request/reply responder (bench/responder.py) listens on.
RESPONDER_SUBJECT = "bench.echo"

#: Publish loops check the clock once per this many messages.
CHUNK = 10_000


class ScenarioError(Exception):
    """The scenario could not produce a valid figure (lost messages, errors, timeout)."""


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Metric:
    """One reported figure of a scenario."""

    key: str
    label: str
    unit: str
    higher_is_better: bool


@dataclass
class Scenario:
    """A named benchmark with one implementation per client family."""

    name: str
    title: str
    metrics: List[Metric]
    full: Params
    quick: Params
    #: Helpers the parent process runs for the scenario's duration, e.g. ("responder",).
    needs: Tuple[str, ...] = ()
    #: Minimum (in_msgs, out_msgs) the server must count during one run, as a sanity check.
    expect: Optional[Callable[[Params], Tuple[int, int]]] = None
    impls: Dict[str, Union[SyncImpl, AsyncImpl]] = field(default_factory=dict)

    def params(self, quick: bool) -> Params:
        return dict(self.quick if quick else self.full)

    def title_for(self, params: Params) -> str:
        return self.title.format(**{k: _short(v) for k, v in params.items()})


SCENARIOS: Dict[str, Scenario] = {}


def scenario(name: str, title: str, metrics: List[Metric], full: Params, quick: Params,
             needs: Tuple[str, ...] = (),
             expect: Optional[Callable[[Params], Tuple[int, int]]] = None) -> Scenario:
    """Register a scenario; ``title`` may use ``{param}`` placeholders."""
    if name in SCENARIOS:
        raise ValueError(f"scenario {name!r} registered twice")
    sc = Scenario(name, title, metrics, full, quick, needs, expect)
    SCENARIOS[name] = sc
    return sc


def impl(name: str, kind: str) -> Callable[[Any], Any]:
    """Decorator: register ``fn`` as scenario ``name``'s implementation for ``kind``."""
    if kind not in IMPL_KINDS:
        raise ValueError(f"unknown implementation kind {kind!r}")

    def register(fn: Any) -> Any:
        SCENARIOS[name].impls[kind] = fn
        return fn

    return register


# --------------------------------------------------------------------------- context


@dataclass
class Ctx:
    """What an implementation gets: the server URL, its parameters and a deadline."""

    url: str
    params: Params
    deadline: float  # time.monotonic() value
    subject: str  # unique to this run
    errors: List[str] = field(default_factory=list)

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def check_time(self, what: str = "scenario") -> None:
        if time.monotonic() >= self.deadline:
            raise ScenarioError(f"{what} did not finish before the deadline")

    def on_error(self, err: BaseException) -> None:
        """error_cb for natsync: remember asynchronous errors (slow consumer...)."""
        if len(self.errors) < 20:
            self.errors.append(f"{type(err).__name__}: {err}")

    async def on_error_async(self, err: BaseException) -> None:
        """error_cb for nats-py."""
        self.on_error(err)


# --------------------------------------------------------------------------- helpers


def _short(value: Any) -> str:
    """500000 -> '500k', 16 -> '16'."""
    if isinstance(value, int) and value >= 1000 and value % 1000 == 0:
        if value >= 1_000_000 and value % 1_000_000 == 0:
            return f"{value // 1_000_000}M"
        return f"{value // 1000}k"
    return str(value)


def chunks(total: int, size: int = CHUNK) -> Iterator[int]:
    """Split ``total`` iterations into chunks of at most ``size``."""
    done = 0
    while done < total:
        step = min(size, total - done)
        yield step
        done += step


def latency_metrics(samples_ns: List[int]) -> Metrics:
    """mean / p50 / p99 / max in microseconds from per-operation nanoseconds."""
    if not samples_ns:
        raise ScenarioError("no latency samples")
    ordered = sorted(samples_ns)
    n = len(ordered)

    def pct(q: float) -> float:
        return ordered[min(n - 1, int(q * n))] / 1000.0

    return {
        "mean_us": sum(ordered) / n / 1000.0,
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
        "max_us": ordered[-1] / 1000.0,
        "ops_per_s": n / (sum(ordered) / 1e9),
    }


def payload_of(params: Params) -> bytes:
    return b"x" * int(params["size"])


THROUGHPUT = Metric("msgs_per_s", "rate", "msgs/s", True)
LATENCY = [
    Metric("mean_us", "mean", "us", False),
    Metric("p50_us", "p50", "us", False),
    Metric("p99_us", "p99", "us", False),
]

# Connection options shared by both clients: a benchmark must not silently reconnect.
NATSYNC_OPTS: Dict[str, Any] = {"allow_reconnect": False, "name": "bench"}
NATSPY_OPTS: Dict[str, Any] = {"allow_reconnect": False, "name": "bench"}


def _sub_limits(count: int) -> Dict[str, int]:
    """Pending limits so large that a subscriber never drops messages."""
    return {"pending_msgs_limit": max(512 * 1024, 2 * count),
            "pending_bytes_limit": 512 * 1024 * 1024}


# =========================================================================== connect

scenario(
    "connect",
    "connect + first flush x{count}",
    [Metric("connect_ms", "median", "ms", False)],
    full={"count": 20},
    quick={"count": 5},
)


def _connect_metrics(samples: List[float]) -> Metrics:
    ordered = sorted(samples)
    return {"connect_ms": ordered[len(ordered) // 2] * 1000.0,
            "mean_ms": sum(ordered) / len(ordered) * 1000.0,
            "max_ms": ordered[-1] * 1000.0}


@impl("connect", "natsync")
def connect_natsync(ctx: Ctx) -> Metrics:
    import natsync

    samples: List[float] = []
    count = int(ctx.params["count"])
    for i in range(count + 1):  # the first connect (cold code paths) is not counted
        ctx.check_time()
        start = time.perf_counter()
        nc = natsync.connect(ctx.url, error_cb=ctx.on_error, **NATSYNC_OPTS)
        try:
            nc.flush(timeout=ctx.remaining())
            if i:
                samples.append(time.perf_counter() - start)
        finally:
            nc.close()
    return _connect_metrics(samples)


@impl("connect", "natspy")
async def connect_natspy(ctx: Ctx) -> Metrics:
    import nats

    samples: List[float] = []
    count = int(ctx.params["count"])
    for i in range(count + 1):  # the first connect (cold code paths) is not counted
        ctx.check_time()
        start = time.perf_counter()
        nc = await nats.connect(ctx.url, error_cb=ctx.on_error_async, **NATSPY_OPTS)
        try:
            await nc.flush(timeout=ctx.remaining())
            if i:
                samples.append(time.perf_counter() - start)
        finally:
            await nc.close()
    return _connect_metrics(samples)


# =========================================================================== pub


scenario(
    "pub",
    "publish {count} x {size} B + flush",
    [THROUGHPUT],
    full={"count": 500_000, "size": 16},
    quick={"count": 50_000, "size": 16},
    expect=lambda p: (p["count"], 0),
)


@impl("pub", "natsync")
def pub_natsync(ctx: Ctx) -> Metrics:
    import natsync

    count, payload, subject = int(ctx.params["count"]), payload_of(ctx.params), ctx.subject
    nc = natsync.connect(ctx.url, error_cb=ctx.on_error, **NATSYNC_OPTS)
    try:
        nc.flush(timeout=ctx.remaining())
        publish = nc.publish
        start = time.perf_counter()
        for step in chunks(count):
            for _ in range(step):
                publish(subject, payload)
            ctx.check_time("publishing")
        nc.flush(timeout=ctx.remaining())
        elapsed = time.perf_counter() - start
    finally:
        nc.close()
    return {"msgs_per_s": count / elapsed}


@impl("pub", "natspy")
async def pub_natspy(ctx: Ctx) -> Metrics:
    import nats

    count, payload, subject = int(ctx.params["count"]), payload_of(ctx.params), ctx.subject
    nc = await nats.connect(ctx.url, error_cb=ctx.on_error_async, **NATSPY_OPTS)
    try:
        await nc.flush(timeout=ctx.remaining())
        publish = nc.publish
        start = time.perf_counter()
        for step in chunks(count):
            for _ in range(step):
                await publish(subject, payload)
            ctx.check_time("publishing")
        await nc.flush(timeout=ctx.remaining())
        elapsed = time.perf_counter() - start
    finally:
        await nc.close()
    return {"msgs_per_s": count / elapsed}


class _RawConn:
    """A bare NATS connection: just enough protocol for the raw publish floor."""

    def __init__(self, url: str, timeout: float) -> None:
        parsed = urlparse(url)
        self.sock = socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or 4222), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        info = self.read_until(b"\r\n")
        if not info.startswith(b"INFO "):
            raise ScenarioError(f"raw: expected INFO, got {info[:80]!r}")
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false,"protocol":1,'
                          b'"lang":"raw","version":"0","name":"bench-raw"}\r\nPING\r\n')
        self.wait_pong()

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            if b"-ERR" in self.buf:
                raise ScenarioError(f"raw: server error {self.buf[-200:]!r}")
            data = self.sock.recv(65536)
            if not data:
                raise ScenarioError("raw: connection closed by the server")
            self.buf += data
        head, _, self.buf = self.buf.partition(marker)
        return head

    def wait_pong(self) -> None:
        self.read_until(b"PONG\r\n")

    def close(self) -> None:
        self.sock.close()


@impl("pub", "raw")
def pub_raw(ctx: Ctx) -> Metrics:
    count, payload, subject = int(ctx.params["count"]), payload_of(ctx.params), ctx.subject
    frame = b"PUB %s %d\r\n%s\r\n" % (subject.encode(), len(payload), payload)
    full_buf = frame * CHUNK  # pre-built: the floor measures only the socket and the server
    conn = _RawConn(ctx.url, ctx.remaining())
    try:
        conn.sock.settimeout(max(0.1, ctx.remaining()))
        bufs = [full_buf if step == CHUNK else frame * step for step in chunks(count)]
        start = time.perf_counter()
        for buf in bufs:
            conn.sock.sendall(buf)
            ctx.check_time("raw publishing")
        conn.sock.sendall(b"PING\r\n")
        conn.wait_pong()
        elapsed = time.perf_counter() - start
    finally:
        conn.close()
    return {"msgs_per_s": count / elapsed}


# =========================================================================== pub -> sub


def _pubsub_expect(p: Params) -> Tuple[int, int]:
    return p["count"], p["count"]


scenario(
    "pubsub",
    "pub->sub {count} x {size} B",
    [THROUGHPUT],
    full={"count": 200_000, "size": 16, "stall_s": 5.0},
    quick={"count": 20_000, "size": 16, "stall_s": 5.0},
    expect=_pubsub_expect,
)

scenario(
    "pubsub-cb",
    "pub->sub {count} x {size} B, callback",
    [THROUGHPUT],
    full={"count": 200_000, "size": 16},
    quick={"count": 20_000, "size": 16},
    expect=_pubsub_expect,
)


def _natsync_publish_all(ctx: Ctx, nc: Any, count: int, payload: bytes) -> None:
    publish, subject = nc.publish, ctx.subject
    for step in chunks(count):
        for _ in range(step):
            publish(subject, payload)
        ctx.check_time("publishing")
    nc.flush(timeout=ctx.remaining())


@impl("pubsub", "natsync")
def pubsub_natsync(ctx: Ctx) -> Metrics:
    """Subscriber connection read with next_msg() in its own thread; publisher in this one."""
    import natsync

    count, payload = int(ctx.params["count"]), payload_of(ctx.params)
    stall = float(ctx.params.get("stall_s", 5.0))
    sub_nc = natsync.connect(ctx.url, error_cb=ctx.on_error, **NATSYNC_OPTS)
    pub_nc = natsync.connect(ctx.url, error_cb=ctx.on_error, **NATSYNC_OPTS)
    state: Dict[str, Any] = {"got": 0, "end": 0.0, "failure": None}
    try:
        sub = sub_nc.subscribe(ctx.subject, **_sub_limits(count))
        sub_nc.flush(timeout=ctx.remaining())

        def consume() -> None:
            next_msg = sub.next_msg
            got = 0
            try:
                while got < count:  # a stall (no message for `stall` s) ends it too
                    next_msg(timeout=stall)
                    got += 1
                state["end"] = time.perf_counter()
            except Exception as exc:
                state["failure"] = f"{type(exc).__name__}: {exc}"
            finally:
                state["got"] = got

        reader = threading.Thread(target=consume, name="bench-consumer", daemon=True)
        reader.start()
        start = time.perf_counter()
        _natsync_publish_all(ctx, pub_nc, count, payload)
        reader.join(timeout=ctx.remaining() + stall)
        if reader.is_alive():
            raise ScenarioError("subscriber thread still running at the deadline")
        if state["failure"] is not None or state["got"] != count:
            raise ScenarioError(f"subscriber got {state['got']}/{count} messages "
                                f"(dropped={sub.dropped}): {state['failure']}")
        elapsed = state["end"] - start
    finally:
        pub_nc.close()
        sub_nc.close()
    return {"msgs_per_s": count / elapsed}


@impl("pubsub-cb", "natsync")
def pubsub_cb_natsync(ctx: Ctx) -> Metrics:
    """Subscriber with a callback (run on natsync's dispatcher thread)."""
    import natsync

    count, payload = int(ctx.params["count"]), payload_of(ctx.params)
    sub_nc = natsync.connect(ctx.url, error_cb=ctx.on_error, **NATSYNC_OPTS)
    pub_nc = natsync.connect(ctx.url, error_cb=ctx.on_error, **NATSYNC_OPTS)
    done = threading.Event()
    state = {"got": 0, "end": 0.0}

    def on_msg(msg: Any) -> None:
        state["got"] += 1
        if state["got"] == count:
            state["end"] = time.perf_counter()
            done.set()

    try:
        sub = sub_nc.subscribe(ctx.subject, cb=on_msg, **_sub_limits(count))
        sub_nc.flush(timeout=ctx.remaining())
        start = time.perf_counter()
        _natsync_publish_all(ctx, pub_nc, count, payload)
        if not done.wait(ctx.remaining()):
            raise ScenarioError(f"subscriber got {state['got']}/{count} messages "
                                f"(dropped={sub.dropped}) by the deadline")
        elapsed = state["end"] - start
    finally:
        pub_nc.close()
        sub_nc.close()
    return {"msgs_per_s": count / elapsed}


async def _pubsub_natspy(ctx: Ctx) -> Metrics:
    """nats-py's idiomatic fast path: a callback subscription on its own connection."""
    import asyncio

    import nats

    count, payload, subject = int(ctx.params["count"]), payload_of(ctx.params), ctx.subject
    sub_nc = await nats.connect(ctx.url, error_cb=ctx.on_error_async, **NATSPY_OPTS)
    pub_nc = await nats.connect(ctx.url, error_cb=ctx.on_error_async, **NATSPY_OPTS)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    state = {"got": 0, "end": 0.0}

    async def on_msg(msg: Any) -> None:
        state["got"] += 1
        if state["got"] == count:
            state["end"] = time.perf_counter()
            done.set_result(None)

    try:
        await sub_nc.subscribe(subject, cb=on_msg, **_sub_limits(count))
        await sub_nc.flush(timeout=ctx.remaining())
        publish = pub_nc.publish
        start = time.perf_counter()
        for step in chunks(count):
            for _ in range(step):
                await publish(subject, payload)
            ctx.check_time("publishing")
        await pub_nc.flush(timeout=ctx.remaining())
        try:
            await asyncio.wait_for(done, timeout=max(0.01, ctx.remaining()))
        except asyncio.TimeoutError:
            raise ScenarioError(f"subscriber got {state['got']}/{count} messages "
                                "by the deadline") from None
        elapsed = state["end"] - start
    finally:
        await pub_nc.close()
        await sub_nc.close()
    return {"msgs_per_s": count / elapsed}


impl("pubsub", "natspy")(_pubsub_natspy)
impl("pubsub-cb", "natspy")(_pubsub_natspy)


# =========================================================================== request/reply


def _req_expect(p: Params) -> Tuple[int, int]:
    total = p["count"] + p["warmup"]
    return 2 * total, 2 * total


scenario(
    "req",
    "request/reply {count} x {size} B",
    LATENCY,
    full={"count": 20_000, "size": 16, "warmup": 500, "timeout_s": 2.0},
    quick={"count": 2_000, "size": 16, "warmup": 100, "timeout_s": 2.0},
    needs=("responder",),
    expect=_req_expect,
)


@impl("req", "natsync")
def req_natsync(ctx: Ctx) -> Metrics:
    import natsync

    count, warmup = int(ctx.params["count"]), int(ctx.params["warmup"])
    payload, timeout = payload_of(ctx.params), float(ctx.params["timeout_s"])
    nc = natsync.connect(ctx.url, error_cb=ctx.on_error, **NATSYNC_OPTS)
    try:
        request = nc.request
        for _ in range(warmup):
            reply = request(RESPONDER_SUBJECT, payload, timeout=timeout)
        if warmup and reply.data != payload:
            raise ScenarioError(f"responder echoed {reply.data!r}")
        samples = [0] * count
        clock = time.perf_counter_ns
        for i in range(count):
            t0 = clock()
            request(RESPONDER_SUBJECT, payload, timeout=timeout)
            samples[i] = clock() - t0
            if not i & 1023:
                ctx.check_time("requests")
    finally:
        nc.close()
    return latency_metrics(samples)


@impl("req", "natspy")
async def req_natspy(ctx: Ctx) -> Metrics:
    import nats

    count, warmup = int(ctx.params["count"]), int(ctx.params["warmup"])
    payload, timeout = payload_of(ctx.params), float(ctx.params["timeout_s"])
    nc = await nats.connect(ctx.url, error_cb=ctx.on_error_async, **NATSPY_OPTS)
    try:
        request = nc.request
        for _ in range(warmup):
            reply = await request(RESPONDER_SUBJECT, payload, timeout=timeout)
        if warmup and reply.data != payload:
            raise ScenarioError(f"responder echoed {reply.data!r}")
        samples = [0] * count
        clock = time.perf_counter_ns
        for i in range(count):
            t0 = clock()
            await request(RESPONDER_SUBJECT, payload, timeout=timeout)
            samples[i] = clock() - t0
            if not i & 1023:
                ctx.check_time("requests")
    finally:
        await nc.close()
    return latency_metrics(samples)
