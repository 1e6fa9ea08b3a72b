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

An implementation raises ``ScenarioSkipped`` when the feature it measures is not available
in the installed client (reported as "skipped", not as a failure). ``derived(...)`` adds a
table row computed from two figures (e.g. js-pub-async / js-pub). JetStream scenarios name
their streams with a prefix listed in ``streams=``; the parent deletes any stream left with
such a prefix after each run, so repeats are independent even when a worker was killed.
"""

from __future__ import annotations

import contextlib
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


class ScenarioSkipped(Exception):
    """The client under test lacks the feature this scenario measures (not a failure)."""


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
    #: Prefixes of the stream names it creates: leftovers are deleted after every run.
    streams: Tuple[str, ...] = ()
    #: Name of the implementation in external workers (bench/js/worker.mjs); default: name.
    family: str = ""
    #: Each client's requester gets its own responder process, written with that client.
    own_responder: bool = False
    impls: Dict[str, Union[SyncImpl, AsyncImpl]] = field(default_factory=dict)

    def params(self, quick: bool) -> Params:
        return dict(self.quick if quick else self.full)

    def title_for(self, params: Params) -> str:
        return self.title.format(**{k: _short(v) for k, v in params.items()})

    @property
    def impl_name(self) -> str:
        """What an external worker calls this scenario's implementation."""
        return self.family or self.name


SCENARIOS: Dict[str, Scenario] = {}


@dataclass(frozen=True)
class Derived:
    """A table row: figure ``num`` divided by figure ``den``, per client column.

    Each is ``(scenario, metric key)``; the row is shown when both scenarios ran.
    """

    label: str
    num: Tuple[str, str]
    den: Tuple[str, str]
    note: str = ""


DERIVED: List[Derived] = []


@dataclass(frozen=True)
class Headline:
    """A summary line: one client's figure divided by another's, across scenarios.

    Each side is ``(scenario, worker kind, metric key)``, e.g. natsync's req-fanout req/s
    over nats-py+uvloop's req-par-32 req/s; shown when both figures exist.
    """

    label: str
    num: Tuple[str, str, str]
    den: Tuple[str, str, str]


HEADLINES: List[Headline] = []


def scenario(name: str, title: str, metrics: List[Metric], full: Params, quick: Params,
             needs: Tuple[str, ...] = (),
             expect: Optional[Callable[[Params], Tuple[int, int]]] = None,
             streams: Tuple[str, ...] = (), family: str = "",
             own_responder: bool = False) -> Scenario:
    """Register a scenario; ``title`` may use ``{param}`` placeholders."""
    if name in SCENARIOS:
        raise ValueError(f"scenario {name!r} registered twice")
    sc = Scenario(name, title, metrics, full, quick, needs, expect, streams, family,
                  own_responder)
    SCENARIOS[name] = sc
    return sc


def derived(label: str, num: Tuple[str, str], den: Tuple[str, str], note: str = "") -> None:
    """Register a ratio row (see ``Derived``)."""
    DERIVED.append(Derived(label, num, den, note))


def headline(label: str, num: Tuple[str, str, str], den: Tuple[str, str, str]) -> None:
    """Register a summary line (see ``Headline``)."""
    HEADLINES.append(Headline(label, num, den))


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

    @property
    def token(self) -> str:
        """A short hex string unique to this run (for stream, bucket and consumer names)."""
        return self.subject.rsplit(".", 1)[-1]

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


class RawConn:
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
    conn = RawConn(ctx.url, ctx.remaining())
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
    full={"count": 20_000, "size": 16, "warmup": 500, "timeout_s": 2.0,
          "subject": RESPONDER_SUBJECT},
    quick={"count": 2_000, "size": 16, "warmup": 100, "timeout_s": 2.0,
           "subject": RESPONDER_SUBJECT},
    needs=("responder",),
    expect=_req_expect,
)


@impl("req", "natsync")
def req_natsync(ctx: Ctx) -> Metrics:
    import natsync

    count, warmup = int(ctx.params["count"]), int(ctx.params["warmup"])
    payload, timeout = payload_of(ctx.params), float(ctx.params["timeout_s"])
    subject = str(ctx.params["subject"])
    nc = natsync.connect(ctx.url, error_cb=ctx.on_error, **NATSYNC_OPTS)
    try:
        request = nc.request
        for _ in range(warmup):
            reply = request(subject, payload, timeout=timeout)
        if warmup and reply.data != payload:
            raise ScenarioError(f"responder echoed {reply.data!r}")
        samples = [0] * count
        clock = time.perf_counter_ns
        for i in range(count):
            t0 = clock()
            request(subject, payload, timeout=timeout)
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
    subject = str(ctx.params["subject"])
    nc = await nats.connect(ctx.url, error_cb=ctx.on_error_async, **NATSPY_OPTS)
    try:
        request = nc.request
        for _ in range(warmup):
            reply = await request(subject, payload, timeout=timeout)
        if warmup and reply.data != payload:
            raise ScenarioError(f"responder echoed {reply.data!r}")
        samples = [0] * count
        clock = time.perf_counter_ns
        for i in range(count):
            t0 = clock()
            await request(subject, payload, timeout=timeout)
            samples[i] = clock() - t0
            if not i & 1023:
                ctx.check_time("requests")
    finally:
        await nc.close()
    return latency_metrics(samples)


# =========================================================================== JetStream
#
# Every JetStream scenario creates its own stream or bucket, named after the run's token,
# deletes it at the end (errors ignored: the parent deletes any leftover with a prefix in
# ``streams=`` after the run), and does its setup (stream creation, prefill, warm-up)
# before the clock starts. Streams use file storage, like a real deployment.

#: Stream names of the plain JetStream scenarios start with this.
JS_STREAM_PREFIX = "BENCH_"
#: Bucket names (streams KV_<bucket> / OBJ_<bucket>).
KV_BUCKET_PREFIX = "bench_kv_"
OBJ_BUCKET_PREFIX = "bench_obj_"
#: How long the end-of-run checks (acks processed, stream contents) may wait.
SETTLE_S = 5.0


def _js_stream(ctx: Ctx, tag: str) -> str:
    return f"{JS_STREAM_PREFIX}{tag}_{ctx.token}"


def _quietly(fn: Callable[[], Any]) -> None:
    """Run a clean-up step, ignoring its failure (the parent cleans up leftovers)."""
    try:
        fn()
    except Exception:
        pass


async def _quietly_async(coro: Awaitable[Any]) -> None:
    try:
        await coro
    except Exception:
        pass


def _check_stored(what: str, got: int, want: int) -> None:
    if got != want:
        raise ScenarioError(f"{what}: the stream holds {got} messages, expected {want}")


# --------------------------------------------------------------------------- js-pub

scenario(
    "js-pub",
    "JetStream publish {count} x {size} B, sequential",
    [THROUGHPUT],
    full={"count": 5_000, "size": 16, "warmup": 100, "timeout_s": 5.0},
    quick={"count": 500, "size": 16, "warmup": 50, "timeout_s": 5.0},
    expect=lambda p: (p["count"], p["count"]),
    streams=(JS_STREAM_PREFIX,),
)


@impl("js-pub", "natsync")
def js_pub_natsync(ctx: Ctx) -> Metrics:
    """`js.publish()` one at a time, each waiting for its PubAck."""
    import natsync
    from natsync.js.api import StorageType

    count, warmup = int(ctx.params["count"]), int(ctx.params["warmup"])
    payload, subject = payload_of(ctx.params), ctx.subject
    stream = _js_stream(ctx, "PUB")
    nc = natsync.connect(ctx.url, error_cb=ctx.on_error, **NATSYNC_OPTS)
    try:
        js = nc.jetstream(timeout=float(ctx.params["timeout_s"]))
        js.add_stream(name=stream, subjects=[subject], storage=StorageType.FILE)
        try:
            publish = js.publish
            for _ in range(warmup):
                publish(subject, payload)
            samples = [0] * count
            clock = time.perf_counter_ns
            ack = None
            start = time.perf_counter()
            for i in range(count):
                t0 = clock()
                ack = publish(subject, payload)
                samples[i] = clock() - t0
                if not i & 255:
                    ctx.check_time("JetStream publishing")
            elapsed = time.perf_counter() - start
            if ack is None or ack.seq != warmup + count or ack.stream != stream:
                raise ScenarioError(f"last PubAck was {ack!r}, expected seq {warmup + count}")
        finally:
            _quietly(lambda: js.delete_stream(stream))
    finally:
        nc.close()
    metrics = latency_metrics(samples)
    metrics["msgs_per_s"] = count / elapsed
    return metrics


@impl("js-pub", "natspy")
async def js_pub_natspy(ctx: Ctx) -> Metrics:
    import nats
    from nats.js.api import StorageType

    count, warmup = int(ctx.params["count"]), int(ctx.params["warmup"])
    payload, subject = payload_of(ctx.params), ctx.subject
    stream = _js_stream(ctx, "PUB")
    nc = await nats.connect(ctx.url, error_cb=ctx.on_error_async, **NATSPY_OPTS)
    try:
        js = nc.jetstream(timeout=float(ctx.params["timeout_s"]))
        await js.add_stream(name=stream, subjects=[subject], storage=StorageType.FILE)
        try:
            publish = js.publish
            for _ in range(warmup):
                await publish(subject, payload)
            samples = [0] * count
            clock = time.perf_counter_ns
            ack = None
            start = time.perf_counter()
            for i in range(count):
                t0 = clock()
                ack = await publish(subject, payload)
                samples[i] = clock() - t0
                if not i & 255:
                    ctx.check_time("JetStream publishing")
            elapsed = time.perf_counter() - start
            if ack is None or ack.seq != warmup + count or ack.stream != stream:
                raise ScenarioError(f"last PubAck was {ack!r}, expected seq {warmup + count}")
        finally:
            await _quietly_async(js.delete_stream(stream))
    finally:
        await nc.close()
    metrics = latency_metrics(samples)
    metrics["msgs_per_s"] = count / elapsed
    return metrics


# --------------------------------------------------------------------------- js-pub-async

scenario(
    "js-pub-async",
    "JetStream publish_async {count} x {size} B + wait for all acks",
    [THROUGHPUT],
    full={"count": 100_000, "size": 16, "timeout_s": 5.0},
    quick={"count": 5_000, "size": 16, "timeout_s": 5.0},
    expect=lambda p: (p["count"], p["count"]),
    streams=(JS_STREAM_PREFIX,),
)

derived("js-pub-async / js-pub speed-up", ("js-pub-async", "msgs_per_s"),
        ("js-pub", "msgs_per_s"), "issue target for natsync: at least 10x")


@impl("js-pub-async", "natsync")
def js_pub_async_natsync(ctx: Ctx) -> Metrics:
    """`js.publish_async()` for every message (it blocks while 4000 are in flight), then
    `js.publish_async_completed()`."""
    import natsync
    from natsync.js.api import StorageType

    count, payload, subject = int(ctx.params["count"]), payload_of(ctx.params), ctx.subject
    stream = _js_stream(ctx, "PUBA")
    nc = natsync.connect(ctx.url, error_cb=ctx.on_error, **NATSYNC_OPTS)
    try:
        js = nc.jetstream(timeout=float(ctx.params["timeout_s"]))
        js.add_stream(name=stream, subjects=[subject], storage=StorageType.FILE)
        try:
            publish_async = js.publish_async
            last = None
            start = time.perf_counter()
            for step in chunks(count, 1000):
                for _ in range(step):
                    last = publish_async(subject, payload)
                ctx.check_time("async publishing")
            if not js.publish_async_completed(timeout=ctx.remaining()):
                raise ScenarioError(f"{js.publish_async_pending()} acks still pending at "
                                    "the deadline")
            elapsed = time.perf_counter() - start
            # Untimed checks. Every message stored means every publish succeeded. The
            # last future is waited for: publish_async_completed() can return just before
            # the resolver thread has completed the last futures (counted, see README).
            last_not_done = int(last is not None and not last.done())
            if last is not None:
                last.result(timeout=SETTLE_S)
            _check_stored("js-pub-async", js.stream_info(stream).state.messages, count)
        finally:
            _quietly(lambda: js.delete_stream(stream))
    finally:
        nc.close()
    return {"msgs_per_s": count / elapsed, "last_not_done_after_completed": last_not_done}


@impl("js-pub-async", "natspy")
async def js_pub_async_natspy(ctx: Ctx) -> Metrics:
    """nats-py's fastest path: `await js.publish_async()` (same 4000 in-flight window),
    then `await js.publish_async_completed()`."""
    import asyncio

    import nats
    from nats.js.api import StorageType

    count, payload, subject = int(ctx.params["count"]), payload_of(ctx.params), ctx.subject
    stream = _js_stream(ctx, "PUBA")
    nc = await nats.connect(ctx.url, error_cb=ctx.on_error_async, **NATSPY_OPTS)
    try:
        js = nc.jetstream(timeout=float(ctx.params["timeout_s"]))
        await js.add_stream(name=stream, subjects=[subject], storage=StorageType.FILE)
        try:
            publish_async = js.publish_async
            last = None
            start = time.perf_counter()
            # wait_stall is left at None (a timeout would wrap every call in wait_for); a
            # publish that never gets its ack slot is ended by the worker's watchdog.
            for step in chunks(count, 1000):
                for _ in range(step):
                    last = await publish_async(subject, payload)
                ctx.check_time("async publishing")
            try:
                await asyncio.wait_for(js.publish_async_completed(),
                                       timeout=max(0.01, ctx.remaining()))
            except asyncio.TimeoutError:
                raise ScenarioError(f"{js.publish_async_pending()} acks still pending at "
                                    "the deadline") from None
            elapsed = time.perf_counter() - start
            if last is not None:
                last.result()  # raises if the last publish failed
            _check_stored("js-pub-async", (await js.stream_info(stream)).state.messages, count)
        finally:
            await _quietly_async(js.delete_stream(stream))
    finally:
        await nc.close()
    return {"msgs_per_s": count / elapsed}


class _RawAcks:
    """Counts the replies (MSG frames) arriving on a raw connection, parsing incrementally."""

    def __init__(self, conn: RawConn) -> None:
        self.conn = conn
        self.buf = b""
        self.pos = 0
        self.msgs: List[bytes] = []  # payloads, when keep=True

    def read(self, keep: bool = False) -> int:
        """Receive once; the number of complete MSG frames parsed."""
        data = self.conn.sock.recv(1 << 20)
        if not data:
            raise ScenarioError("raw: connection closed by the server")
        buf = self.buf[self.pos:] + data if self.pos < len(self.buf) else data
        pos, n, end = 0, 0, len(buf)
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            if buf.startswith(b"MSG ", pos):
                size = int(buf[buf.rfind(b" ", pos, eol) + 1:eol])
                if eol + 2 + size + 2 > end:
                    break
                if keep:
                    self.msgs.append(buf[eol + 2:eol + 2 + size])
                pos = eol + 2 + size + 2
                n += 1
            elif buf.startswith(b"-ERR", pos):
                raise ScenarioError(f"raw: server error {buf[pos:eol]!r}")
            else:  # PING, +OK, INFO
                if buf.startswith(b"PING", pos):
                    self.conn.sock.sendall(b"PONG\r\n")
                pos = eol + 2
        self.buf, self.pos = buf, pos
        return n

    def request(self, subject: str, body: bytes) -> bytes:
        """One request on the reply subject `_RAW.req` (subscribed by `raw_js_conn`)."""
        self.conn.sock.sendall(b"PUB %s _RAW.req %d\r\n%s\r\n" % (subject.encode(), len(body),
                                                                    body))
        start = len(self.msgs)
        while len(self.msgs) == start:
            self.read(keep=True)
        return self.msgs.pop()


def _raw_js_conn(ctx: Ctx) -> Tuple[RawConn, _RawAcks]:
    conn = RawConn(ctx.url, ctx.remaining())
    conn.sock.sendall(b"SUB _RAW.req 1\r\nSUB _RAW.ack.* 2\r\nPING\r\n")
    conn.wait_pong()
    return conn, _RawAcks(conn)


@impl("js-pub-async", "raw")
def js_pub_async_raw(ctx: Ctx) -> Metrics:
    """The floor: pre-built PUB frames with a reply subject each, sent from a bare socket
    with the same 4000-message window, counting the ack frames (not decoding them)."""
    import json

    count, payload, subject = int(ctx.params["count"]), payload_of(ctx.params), ctx.subject
    window = 4000
    stream = _js_stream(ctx, "PUBA")
    conn, acks = _raw_js_conn(ctx)
    try:
        conn.sock.settimeout(max(1.0, ctx.remaining()))
        cfg = {"name": stream, "subjects": [subject], "storage": "file"}
        reply = json.loads(acks.request(f"$JS.API.STREAM.CREATE.{stream}",
                                        json.dumps(cfg).encode()))
        if "error" in reply:
            raise ScenarioError(f"raw: stream create failed: {reply['error']}")
        try:
            head = b"PUB " + subject.encode() + b" _RAW.ack.%d " + b"%d\r\n" % len(payload)
            frames = [head % i + payload + b"\r\n" for i in range(count)]
            sent = acked = 0
            start = time.perf_counter()
            while acked < count:
                if sent < count and sent - acked < window:
                    top = min(count, acked + window)
                    conn.sock.sendall(b"".join(frames[sent:top]))
                    sent = top
                acked += acks.read()
                ctx.check_time("raw async publishing")
            elapsed = time.perf_counter() - start
            info = json.loads(acks.request(f"$JS.API.STREAM.INFO.{stream}", b""))
            _check_stored("raw js-pub-async", info.get("state", {}).get("messages", -1), count)
        finally:
            with contextlib.suppress(Exception):
                acks.request(f"$JS.API.STREAM.DELETE.{stream}", b"")
    finally:
        conn.close()
    return {"msgs_per_s": count / elapsed}


# --------------------------------------------------------------------------- js-fast-batch

scenario(
    "js-fast-batch",
    "JetStream fast batch {count} x {size} B + the commit's PubAck",
    [THROUGHPUT],
    full={"count": 100_000, "size": 16, "timeout_s": 5.0},
    quick={"count": 5_000, "size": 16, "timeout_s": 5.0},
    expect=lambda p: (p["count"], 1),  # flow acks: one per hundreds of messages
    streams=(JS_STREAM_PREFIX,),
)

derived("js-fast-batch / js-pub-async speed-up", ("js-fast-batch", "msgs_per_s"),
        ("js-pub-async", "msgs_per_s"), "fast ingest (ADR-50, nats-server 2.14)")


@impl("js-fast-batch", "natsync")
def js_fast_batch_natsync(ctx: Ctx) -> Metrics:
    """`js.fast_batch()`: `add()` every message (flow-controlled by the server's acks),
    then `commit()` and its PubAck. nats-py has no fast batch publisher."""
    import natsync
    from natsync.js.api import StorageType

    count, payload, subject = int(ctx.params["count"]), payload_of(ctx.params), ctx.subject
    stream = _js_stream(ctx, "FAST")
    nc = natsync.connect(ctx.url, error_cb=ctx.on_error, **NATSYNC_OPTS)
    try:
        js = nc.jetstream(timeout=float(ctx.params["timeout_s"]))
        js.add_stream(name=stream, subjects=[subject], storage=StorageType.FILE,
                      allow_batched=True)
        try:
            start = time.perf_counter()
            batch = js.fast_batch()
            add = batch.add
            for step in chunks(count, 1000):
                for _ in range(step):
                    add(subject, payload)
                ctx.check_time("fast batch publishing")
            ack = batch.commit()
            elapsed = time.perf_counter() - start
            if ack.batch_size != count or ack.stream != stream:
                raise ScenarioError(f"commit PubAck was {ack!r}, expected {count} messages")
            _check_stored("js-fast-batch", js.stream_info(stream).state.messages, count)
        finally:
            _quietly(lambda: js.delete_stream(stream))
    finally:
        nc.close()
    return {"msgs_per_s": count / elapsed}


# --------------------------------------------------------------------------- js-fetch

scenario(
    "js-fetch",
    "JetStream pull fetch(batch={batch}) + ack, {count} x {size} B",
    [THROUGHPUT],
    full={"count": 50_000, "size": 16, "batch": 100, "timeout_s": 5.0},
    quick={"count": 5_000, "size": 16, "batch": 100, "timeout_s": 5.0},
    expect=lambda p: (2 * p["count"], 2 * p["count"]),
    streams=(JS_STREAM_PREFIX,),
)


@impl("js-fetch", "natsync")
def js_fetch_natsync(ctx: Ctx) -> Metrics:
    """Prefill with publish_async (untimed), then `fetch(batch)` and `msg.ack()` each message
    until all are consumed, then flush (so every ack has left)."""
    import natsync
    from natsync.js.api import StorageType

    count, payload, subject = int(ctx.params["count"]), payload_of(ctx.params), ctx.subject
    batch, timeout = int(ctx.params["batch"]), float(ctx.params["timeout_s"])
    stream = _js_stream(ctx, "FETCH")
    nc = natsync.connect(ctx.url, error_cb=ctx.on_error, **NATSYNC_OPTS)
    try:
        js = nc.jetstream(timeout=timeout)
        js.add_stream(name=stream, subjects=[subject], storage=StorageType.FILE)
        try:
            for step in chunks(count, 1000):
                for _ in range(step):
                    js.publish_async(subject, payload)
                ctx.check_time("prefill")
            if not js.publish_async_completed(timeout=ctx.remaining()):
                raise ScenarioError("prefill: acks still pending at the deadline")
            _check_stored("prefill", js.stream_info(stream).state.messages, count)
            psub = js.pull_subscribe(subject, durable="bench", stream=stream)
            fetch = psub.fetch
            got = 0
            start = time.perf_counter()
            while got < count:
                msgs = fetch(batch, timeout=timeout)
                if not msgs:
                    raise ScenarioError(f"fetch returned nothing in {timeout}s after "
                                        f"{got}/{count} messages")
                for msg in msgs:
                    msg.ack()
                got += len(msgs)
                ctx.check_time("fetching")
            nc.flush(timeout=ctx.remaining())
            elapsed = time.perf_counter() - start
            if got != count:
                raise ScenarioError(f"fetched {got} messages, expected {count}")
            info = psub.consumer_info()
            settle = time.monotonic() + SETTLE_S
            while (info.num_ack_pending or info.num_pending) and time.monotonic() < settle:
                time.sleep(0.05)
                info = psub.consumer_info()
            if info.num_ack_pending or info.num_pending:
                raise ScenarioError(f"consumer still has {info.num_ack_pending} unacked and "
                                    f"{info.num_pending} pending messages")
        finally:
            _quietly(lambda: js.delete_stream(stream))
    finally:
        nc.close()
    return {"msgs_per_s": count / elapsed}


@impl("js-fetch", "natspy")
async def js_fetch_natspy(ctx: Ctx) -> Metrics:
    import asyncio

    import nats
    from nats.js.api import StorageType

    count, payload, subject = int(ctx.params["count"]), payload_of(ctx.params), ctx.subject
    batch, timeout = int(ctx.params["batch"]), float(ctx.params["timeout_s"])
    stream = _js_stream(ctx, "FETCH")
    nc = await nats.connect(ctx.url, error_cb=ctx.on_error_async, **NATSPY_OPTS)
    try:
        js = nc.jetstream(timeout=timeout)
        await js.add_stream(name=stream, subjects=[subject], storage=StorageType.FILE)
        try:
            for step in chunks(count, 1000):
                for _ in range(step):
                    await js.publish_async(subject, payload)
                ctx.check_time("prefill")
            await asyncio.wait_for(js.publish_async_completed(),
                                   timeout=max(0.01, ctx.remaining()))
            _check_stored("prefill", (await js.stream_info(stream)).state.messages, count)
            psub = await js.pull_subscribe(subject, durable="bench", stream=stream)
            fetch = psub.fetch
            got = 0
            start = time.perf_counter()
            while got < count:
                try:
                    msgs = await fetch(batch, timeout=timeout)
                except nats.errors.TimeoutError:
                    msgs = []
                if not msgs:
                    raise ScenarioError(f"fetch returned nothing in {timeout}s after "
                                        f"{got}/{count} messages")
                for msg in msgs:
                    await msg.ack()
                got += len(msgs)
                ctx.check_time("fetching")
            await nc.flush(timeout=max(0.01, ctx.remaining()))
            elapsed = time.perf_counter() - start
            if got != count:
                raise ScenarioError(f"fetched {got} messages, expected {count}")
            info = await psub.consumer_info()
            settle = time.monotonic() + SETTLE_S
            while (info.num_ack_pending or info.num_pending) and time.monotonic() < settle:
                await asyncio.sleep(0.05)
                info = await psub.consumer_info()
            if info.num_ack_pending or info.num_pending:
                raise ScenarioError(f"consumer still has {info.num_ack_pending} unacked and "
                                    f"{info.num_pending} pending messages")
        finally:
            await _quietly_async(js.delete_stream(stream))
    finally:
        await nc.close()
    return {"msgs_per_s": count / elapsed}


# --------------------------------------------------------------------------- kv

KV_METRICS = [
    Metric("put_p50_us", "put p50", "us", False),
    Metric("put_mean_us", "put mean", "us", False),
    Metric("put_ops_per_s", "put", "ops/s", True),
    Metric("get_p50_us", "get p50", "us", False),
    Metric("get_mean_us", "get mean", "us", False),
    Metric("get_ops_per_s", "get", "ops/s", True),
]

scenario(
    "kv",
    "KV put then get, {count} keys x {size} B",
    KV_METRICS,
    full={"count": 5_000, "size": 16, "warmup": 100, "timeout_s": 5.0},
    quick={"count": 500, "size": 16, "warmup": 50, "timeout_s": 5.0},
    expect=lambda p: (2 * p["count"], 2 * p["count"]),
    streams=("KV_" + KV_BUCKET_PREFIX,),
)


def _kv_metrics(puts: List[int], gets: List[int]) -> Metrics:
    out: Metrics = {}
    for prefix, samples in (("put_", puts), ("get_", gets)):
        for key, value in latency_metrics(samples).items():
            out[prefix + key] = value
    return out


@impl("kv", "natsync")
def kv_natsync(ctx: Ctx) -> Metrics:
    """`js.create_key_value(bucket=...)`, then `kv.put(key, value)` for `count` distinct keys,
    then `kv.get(key)` of each; per-operation latency."""
    import natsync

    count, warmup = int(ctx.params["count"]), int(ctx.params["warmup"])
    value = payload_of(ctx.params)
    bucket = f"{KV_BUCKET_PREFIX}{ctx.token}"
    nc = natsync.connect(ctx.url, error_cb=ctx.on_error, **NATSYNC_OPTS)
    try:
        js = nc.jetstream(timeout=float(ctx.params["timeout_s"]))
        create = getattr(js, "create_key_value", None)
        if create is None:
            raise ScenarioSkipped("natsync KV not available: nc.jetstream() has no "
                                  "create_key_value (natsync.kv is not wired into "
                                  "JetStreamContext yet)")
        kv = create(bucket=bucket)
        try:
            for i in range(warmup):
                kv.put(f"w{i}", value)
                kv.get(f"w{i}")
            keys = [f"k{i}" for i in range(count)]
            put, get, clock = kv.put, kv.get, time.perf_counter_ns
            puts, gets = [0] * count, [0] * count
            rev = 0
            for i, key in enumerate(keys):
                t0 = clock()
                rev = put(key, value)
                puts[i] = clock() - t0
                if not i & 255:
                    ctx.check_time("kv.put")
            entry = None
            for i, key in enumerate(keys):
                t0 = clock()
                entry = get(key)
                gets[i] = clock() - t0
                if not i & 255:
                    ctx.check_time("kv.get")
            if rev != warmup + count:
                raise ScenarioError(f"last put returned revision {rev}, expected "
                                    f"{warmup + count}")
            if entry is None or entry.value != value or entry.revision != rev:
                raise ScenarioError(f"last get returned {entry!r}")
        finally:
            delete = getattr(js, "delete_key_value", None)
            if delete is not None:
                _quietly(lambda: delete(bucket))
            else:
                _quietly(lambda: js.delete_stream("KV_" + bucket))
    finally:
        nc.close()
    return _kv_metrics(puts, gets)


@impl("kv", "natspy")
async def kv_natspy(ctx: Ctx) -> Metrics:
    """nats-py with `direct=True` (natsync's and nats.go's default: gets use direct get)."""
    import nats

    count, warmup = int(ctx.params["count"]), int(ctx.params["warmup"])
    value = payload_of(ctx.params)
    bucket = f"{KV_BUCKET_PREFIX}{ctx.token}"
    nc = await nats.connect(ctx.url, error_cb=ctx.on_error_async, **NATSPY_OPTS)
    try:
        js = nc.jetstream(timeout=float(ctx.params["timeout_s"]))
        kv = await js.create_key_value(bucket=bucket, direct=True)
        try:
            for i in range(warmup):
                await kv.put(f"w{i}", value)
                await kv.get(f"w{i}")
            keys = [f"k{i}" for i in range(count)]
            put, get, clock = kv.put, kv.get, time.perf_counter_ns
            puts, gets = [0] * count, [0] * count
            rev = 0
            for i, key in enumerate(keys):
                t0 = clock()
                rev = await put(key, value)
                puts[i] = clock() - t0
                if not i & 255:
                    ctx.check_time("kv.put")
            entry = None
            for i, key in enumerate(keys):
                t0 = clock()
                entry = await get(key)
                gets[i] = clock() - t0
                if not i & 255:
                    ctx.check_time("kv.get")
            if rev != warmup + count:
                raise ScenarioError(f"last put returned revision {rev}, expected "
                                    f"{warmup + count}")
            if entry is None or entry.value != value or entry.revision != rev:
                raise ScenarioError(f"last get returned {entry!r}")
        finally:
            await _quietly_async(js.delete_key_value(bucket))
    finally:
        await nc.close()
    return _kv_metrics(puts, gets)


# --------------------------------------------------------------------------- obj

OBJ_METRICS = [
    Metric("put_mib_s", "put", "MiB/s", True),
    Metric("get_mib_s", "get", "MiB/s", True),
]

scenario(
    "obj",
    "object store put/get of one {mib} MiB object",
    OBJ_METRICS,
    full={"mib": 32, "timeout_s": 10.0},
    quick={"mib": 4, "timeout_s": 10.0},
    streams=("OBJ_" + OBJ_BUCKET_PREFIX,),
)

#: Size of the untimed warm-up object (two default-size chunks).
OBJ_WARMUP_BYTES = 256 * 1024


def _obj_check(name: str, got: bytes, want: bytes) -> None:
    if got != want:
        raise ScenarioError(f"object {name!r}: got {len(got)} bytes back, "
                            f"{'different content' if len(got) == len(want) else 'wrong size'} "
                            f"(put {len(want)})")


@impl("obj", "natsync")
def obj_natsync(ctx: Ctx) -> Metrics:
    """`js.create_object_store()`, `obs.put(name, bytes)` then `obs.get(name).data`
    (default 128 KiB chunks), after an untimed put/get of a 256 KiB object."""
    import os

    import natsync

    size = int(ctx.params["mib"]) * 1024 * 1024
    data, warm = os.urandom(size), os.urandom(OBJ_WARMUP_BYTES)
    bucket = f"{OBJ_BUCKET_PREFIX}{ctx.token}"
    nc = natsync.connect(ctx.url, error_cb=ctx.on_error, **NATSYNC_OPTS)
    try:
        js = nc.jetstream(timeout=float(ctx.params["timeout_s"]))
        obs = js.create_object_store(bucket=bucket)
        try:
            obs.put("warm", warm)
            _obj_check("warm", obs.get("warm").data, warm)
            ctx.check_time("object warm-up")
            start = time.perf_counter()
            info = obs.put("blob", data)
            put_s = time.perf_counter() - start
            ctx.check_time("object put")
            start = time.perf_counter()
            result = obs.get("blob")
            get_s = time.perf_counter() - start
            if info.size != size:
                raise ScenarioError(f"put returned size {info.size}, expected {size}")
            _obj_check("blob", result.data, data)
        finally:
            _quietly(lambda: js.delete_object_store(bucket))
    finally:
        nc.close()
    mib = size / (1024 * 1024)
    return {"put_mib_s": mib / put_s, "get_mib_s": mib / get_s, "put_s": put_s, "get_s": get_s}


@impl("obj", "natspy")
async def obj_natspy(ctx: Ctx) -> Metrics:
    """nats-py's `obs.put(name, bytes)` / `obs.get(name).data` (same 128 KiB chunks)."""
    import os

    import nats

    size = int(ctx.params["mib"]) * 1024 * 1024
    data, warm = os.urandom(size), os.urandom(OBJ_WARMUP_BYTES)
    bucket = f"{OBJ_BUCKET_PREFIX}{ctx.token}"
    nc = await nats.connect(ctx.url, error_cb=ctx.on_error_async, **NATSPY_OPTS)
    try:
        js = nc.jetstream(timeout=float(ctx.params["timeout_s"]))
        obs = await js.create_object_store(bucket=bucket)
        try:
            await obs.put("warm", warm)
            _obj_check("warm", (await obs.get("warm")).data or b"", warm)
            ctx.check_time("object warm-up")
            start = time.perf_counter()
            info = await obs.put("blob", data)
            put_s = time.perf_counter() - start
            ctx.check_time("object put")
            start = time.perf_counter()
            result = await obs.get("blob")
            get_s = time.perf_counter() - start
            if info.size != size:
                raise ScenarioError(f"put returned size {info.size}, expected {size}")
            _obj_check("blob", result.data or b"", data)
        finally:
            await _quietly_async(js.delete_object_store(bucket))
    finally:
        await nc.close()
    mib = size / (1024 * 1024)
    return {"put_mib_s": mib / put_s, "get_mib_s": mib / get_s, "put_s": put_s, "get_s": get_s}


# =========================================================================== services

#: Subjects of the two echo services the parent runs (bench/responder.py --mode micro).
SVC_NATSYNC_SUBJECT = "bench.svc.natsync"
SVC_NATSPY_SUBJECT = "bench.svc.natspy"

SVC_METRICS = [
    Metric("ns_mean_us", "-> natsync svc, mean", "us", False),
    Metric("ns_p50_us", "-> natsync svc, p50", "us", False),
    Metric("ns_p99_us", "-> natsync svc, p99", "us", False),
    Metric("py_mean_us", "-> nats-py svc, mean", "us", False),
    Metric("py_p50_us", "-> nats-py svc, p50", "us", False),
    Metric("py_p99_us", "-> nats-py svc, p99", "us", False),
]


def _svc_expect(p: Params) -> Tuple[int, int]:
    total = 2 * (p["count"] + p["warmup"])  # requests to each of the two services
    return 2 * total, 2 * total


scenario(
    "svc",
    "service request/reply {count} x {size} B",
    SVC_METRICS,
    full={"count": 10_000, "size": 16, "warmup": 300, "timeout_s": 2.0},
    quick={"count": 500, "size": 16, "warmup": 50, "timeout_s": 2.0},
    needs=("svc-natsync", "svc-natspy"),
    expect=_svc_expect,
)

derived("svc: natsync service / nats-py service, p50", ("svc", "ns_p50_us"),
        ("svc", "py_p50_us"), "same requesting client (column); below 1: the natsync "
        "service answers faster")


def _svc_metrics(ns: List[int], py: List[int]) -> Metrics:
    out: Metrics = {}
    for prefix, samples in (("ns_", ns), ("py_", py)):
        for key, value in latency_metrics(samples).items():
            out[prefix + key] = value
    return out


@impl("svc", "natsync")
def svc_natsync(ctx: Ctx) -> Metrics:
    """`nc.request()` to the natsync micro service and to the nats-py one, alternately."""
    import natsync

    count, warmup = int(ctx.params["count"]), int(ctx.params["warmup"])
    payload, timeout = payload_of(ctx.params), float(ctx.params["timeout_s"])
    nc = natsync.connect(ctx.url, error_cb=ctx.on_error, **NATSYNC_OPTS)
    try:
        request = nc.request
        for subject in (SVC_NATSYNC_SUBJECT, SVC_NATSPY_SUBJECT):
            for _ in range(warmup):
                reply = request(subject, payload, timeout=timeout)
            if warmup and reply.data != payload:
                raise ScenarioError(f"service on {subject} echoed {reply.data!r}")
        ns, py = [0] * count, [0] * count
        clock = time.perf_counter_ns
        for i in range(count):
            # Alternate which service goes first, so neither always follows the other.
            order = ((SVC_NATSYNC_SUBJECT, ns), (SVC_NATSPY_SUBJECT, py))
            for subject, samples in (order if i & 1 else order[::-1]):
                t0 = clock()
                request(subject, payload, timeout=timeout)
                samples[i] = clock() - t0
            if not i & 511:
                ctx.check_time("service requests")
    finally:
        nc.close()
    return _svc_metrics(ns, py)


@impl("svc", "natspy")
async def svc_natspy(ctx: Ctx) -> Metrics:
    import nats

    count, warmup = int(ctx.params["count"]), int(ctx.params["warmup"])
    payload, timeout = payload_of(ctx.params), float(ctx.params["timeout_s"])
    nc = await nats.connect(ctx.url, error_cb=ctx.on_error_async, **NATSPY_OPTS)
    try:
        request = nc.request
        for subject in (SVC_NATSYNC_SUBJECT, SVC_NATSPY_SUBJECT):
            for _ in range(warmup):
                reply = await request(subject, payload, timeout=timeout)
            if warmup and reply.data != payload:
                raise ScenarioError(f"service on {subject} echoed {reply.data!r}")
        ns, py = [0] * count, [0] * count
        clock = time.perf_counter_ns
        for i in range(count):
            order = ((SVC_NATSYNC_SUBJECT, ns), (SVC_NATSPY_SUBJECT, py))
            for subject, samples in (order if i & 1 else order[::-1]):
                t0 = clock()
                await request(subject, payload, timeout=timeout)
                samples[i] = clock() - t0
            if not i & 511:
                ctx.check_time("service requests")
    finally:
        await nc.close()
    return _svc_metrics(ns, py)
