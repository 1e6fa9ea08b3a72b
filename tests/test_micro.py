"""The Services API (natsync.micro) against a real nats-server, and interop with nats-py."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from concurrent.futures import Future
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Iterator, List, TypeVar

import pytest

import natsync
from natsync import micro
from natsync.errors import DrainTimeoutError, Error, NoRespondersError
from natsync.micro import Request

from .conftest import wait_for

T = TypeVar("T")

# The keys nats.go writes, in its order (natsync writes the same bytes).
PING_KEYS = ["name", "id", "version", "metadata", "type"]
INFO_KEYS = ["name", "id", "version", "metadata", "type", "description", "endpoints"]
STATS_KEYS = ["name", "id", "version", "metadata", "type", "started", "endpoints"]
ENDPOINT_INFO_KEYS = ["name", "subject", "queue_group", "metadata"]
ENDPOINT_STATS_KEYS = ["name", "subject", "queue_group", "num_requests", "num_errors",
                       "last_error", "processing_time", "average_processing_time"]


def echo(req: Request) -> None:
    req.respond(req.data)


@pytest.fixture
def other(nats_url: str) -> Iterator[natsync.Client]:
    """A second client, as the callers of a service usually are."""
    client = natsync.connect(nats_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def services() -> Iterator[List[micro.Service]]:
    """Services added to this list are stopped after the test, even when it fails."""
    made: List[micro.Service] = []
    yield made
    for svc in made:
        if not svc.nc.is_closed:
            svc.stop(timeout=5)


def add(made: List[micro.Service], nc: natsync.Client, **kw: Any) -> micro.Service:
    """add_service() with name/version defaults, remembered for clean-up."""
    kw.setdefault("name", "svc")
    kw.setdefault("version", "1.0.0")
    svc = micro.add_service(nc, **kw)
    made.append(svc)
    return svc


def doc(client: natsync.Client, subject: str) -> dict[str, Any]:
    """The JSON document answered to a request on `subject`."""
    result: dict[str, Any] = json.loads(client.request(subject, b"", timeout=2).data)
    return result


# --- endpoints -----------------------------------------------------------------------------


def test_endpoint_answers_plain_core_requests(nc: natsync.Client, other: natsync.Client,
                                              services: List[micro.Service]) -> None:
    svc = add(services, nc, name="echo")
    ep = svc.add_endpoint("echo", echo, metadata={"kind": "demo"})
    assert (ep.name, ep.subject, ep.queue_group, ep.metadata) == ("echo", "echo", "q",
                                                                    {"kind": "demo"})
    reply = other.request("echo", b"hello", timeout=2, headers={"Trace": "1"})
    assert reply.data == b"hello" and reply.headers is None
    seen: List[Request] = []

    def keep(req: Request) -> None:
        seen.append(req)
        req.respond(b"ok", headers={"X-Answer": "42"})

    svc.add_endpoint("keep", keep)
    reply = other.request("keep", b"data", timeout=2, headers={"Trace": "7"})
    assert reply.data == b"ok" and reply.headers is not None and reply.headers["X-Answer"] == "42"
    req = seen[0]
    assert (req.subject, req.data, req.responded) == ("keep", b"data", True)
    assert req.headers is not None and req.headers["trace"] == "7"
    assert req.reply.startswith("_INBOX.")


def test_groups_nested_groups_and_custom_subjects(nc: natsync.Client, other: natsync.Client,
                                                  services: List[micro.Service]) -> None:
    svc = add(services, nc, name="calc")
    math = svc.add_group("math")
    math.add_endpoint("add", lambda r: r.respond(b"add"))
    v2 = math.add_group("v2")
    v2.add_endpoint("mul", lambda r: r.respond(b"mul"))
    v2.add_endpoint("div", lambda r: r.respond(b"div"), subject="divide")
    svc.add_endpoint("orders", lambda r: r.respond(r.subject.encode()), subject="orders.*.new")
    deep = svc.add_group("a.b").add_group("c")
    deep.add_endpoint("leaf", lambda r: r.respond(b"leaf"))

    assert other.request("math.add", timeout=2).data == b"add"
    assert other.request("math.v2.mul", timeout=2).data == b"mul"
    assert other.request("math.v2.divide", timeout=2).data == b"div"
    assert other.request("orders.eu.new", timeout=2).data == b"orders.eu.new"
    assert other.request("a.b.c.leaf", timeout=2).data == b"leaf"
    assert [(e.name, e.subject) for e in svc.info().endpoints] == [
        ("add", "math.add"), ("mul", "math.v2.mul"), ("div", "math.v2.divide"),
        ("orders", "orders.*.new"), ("leaf", "a.b.c.leaf")]
    assert (v2.prefix, v2.queue_group) == ("math.v2", "q")


def test_queue_group_inheritance(nc: natsync.Client, services: List[micro.Service]) -> None:
    svc = add(services, nc, queue_group="svcq")
    noop: Callable[[Request], None] = lambda r: None  # noqa: E731
    ep = {
        "plain": svc.add_endpoint("plain", noop),
        "own": svc.add_endpoint("own", noop, queue_group="mine"),
        "none": svc.add_endpoint("none", noop, queue_group_disabled=True),
    }
    g = svc.add_group("g", queue_group="gq")
    ep["in_g"] = g.add_endpoint("in_g", noop)
    ep["in_g_own"] = g.add_endpoint("in_g_own", noop, queue_group="x")
    ep["in_nested"] = g.add_group("n").add_endpoint("in_nested", noop)
    off = svc.add_group("off", queue_group_disabled=True)
    ep["in_off"] = off.add_endpoint("in_off", noop)
    ep["in_off_named"] = off.add_endpoint("in_off_named", noop, queue_group="back")
    ep["in_off_nested"] = off.add_group("n").add_endpoint("in_off_nested", noop)
    ep["in_off_nested_on"] = off.add_group("m", queue_group="on").add_endpoint("deep", noop)
    expected = {"plain": "svcq", "own": "mine", "none": "", "in_g": "gq", "in_g_own": "x",
                "in_nested": "gq", "in_off": "", "in_off_named": "back", "in_off_nested": "",
                "in_off_nested_on": "on"}
    for key, queue in expected.items():
        assert ep[key].queue_group == queue, key
        assert ep[key].queue_group_disabled == (queue == ""), key
        sub = ep[key].subscription
        assert sub is not None and sub.queue == queue, key
    info = {e.subject: e.queue_group for e in svc.info().endpoints}
    assert info["g.n.in_nested"] == "gq" and info["off.in_off"] == ""

    default = add(services, nc, name="other")
    assert default.add_endpoint("d", noop).queue_group == "q"


def test_two_instances_share_the_load_through_queue_group_q(
        nc: natsync.Client, nats_url: str, other: natsync.Client,
        services: List[micro.Service]) -> None:
    counts = {"a": 0, "b": 0}
    lock = threading.Lock()

    def counter(who: str) -> Callable[[Request], None]:
        def handle(req: Request) -> None:
            with lock:
                counts[who] += 1
            req.respond(who.encode())
        return handle

    with natsync.connect(nats_url) as nc2:
        a = add(services, nc, name="worker")
        b = add(services, nc2, name="worker")
        a.add_endpoint("work", counter("a"))
        b.add_endpoint("work", counter("b"))
        answers = [other.request("work", b"", timeout=2).data for _ in range(60)]
        assert sorted(set(answers)) == [b"a", b"b"]
        assert counts["a"] + counts["b"] == 60 and counts["a"] > 0 and counts["b"] > 0
        total = sum(s.num_requests for svc in (a, b) for s in svc.stats().endpoints)
        assert total == 60

        # Without a queue group every instance gets every request.
        a.add_endpoint("all", lambda r: r.respond(b"a"), queue_group_disabled=True)
        b.add_endpoint("all", lambda r: r.respond(b"b"), queue_group_disabled=True)
        replies = sorted(m.data for m in other.request_many("all", b"", timeout=2, max_msgs=2))
        assert replies == [b"a", b"b"]
        b.stop()


# --- errors ----------------------------------------------------------------------------------


def test_respond_error_sets_the_service_error_headers(nc: natsync.Client, other: natsync.Client,
                                                      services: List[micro.Service]) -> None:
    svc = add(services, nc)

    def validate(req: Request) -> None:
        if not req.data:
            req.respond_error(400, "empty request", b'{"hint":"send data"}',
                              headers={"X-Trace": "t1"})
            return
        req.respond(b"fine")

    svc.add_endpoint("validate", validate)
    reply = other.request("validate", b"", timeout=2)
    assert reply.headers is not None
    assert reply.headers["Nats-Service-Error"] == "empty request"
    assert reply.headers["Nats-Service-Error-Code"] == "400"
    assert reply.headers["X-Trace"] == "t1"
    assert reply.data == b'{"hint":"send data"}'
    assert other.request("validate", b"x", timeout=2).data == b"fine"
    stats = svc.stats().endpoints[0]
    assert (stats.num_requests, stats.num_errors, stats.last_error) == (2, 1, "400:empty request")

    with pytest.raises(micro.ConfigError):
        Request(reply).respond_error("", "no code")
    with pytest.raises(micro.ConfigError):
        Request(reply).respond_error("500", "")


def test_handler_exception_becomes_a_500_reply_and_the_endpoint_lives_on(
        nc: natsync.Client, other: natsync.Client, services: List[micro.Service],
        caplog: pytest.LogCaptureFixture) -> None:
    svc = add(services, nc)

    def fragile(req: Request) -> None:
        if req.data == b"boom":
            raise ValueError("cannot parse 'boom'\nsecond line")
        if req.data == b"404":
            raise micro.HandlerError(404, "no such thing", b"detail", headers={"X-A": "b"})
        if req.data == b"empty":
            raise KeyError()
        req.respond(b"ok:" + req.data)

    svc.add_endpoint("fragile", fragile)
    with caplog.at_level("ERROR", logger="natsync.micro"):
        reply = other.request("fragile", b"boom", timeout=2)
    assert reply.headers is not None
    assert reply.headers["Nats-Service-Error-Code"] == "500"
    assert reply.headers["Nats-Service-Error"] == "cannot parse 'boom' second line"
    assert "cannot parse 'boom'" in caplog.text
    assert other.request("fragile", b"1", timeout=2).data == b"ok:1"

    reply = other.request("fragile", b"404", timeout=2)
    assert reply.headers is not None and reply.data == b"detail"
    assert (reply.headers["Nats-Service-Error-Code"], reply.headers["Nats-Service-Error"],
            reply.headers["X-A"]) == ("404", "no such thing", "b")
    reply = other.request("fragile", b"empty", timeout=2)
    assert reply.headers is not None and reply.headers["Nats-Service-Error"] == "KeyError"

    for i in range(5):
        assert other.request("fragile", str(i).encode(), timeout=2).data == b"ok:%d" % i
    stats = svc.stats().endpoints[0]
    assert (stats.num_requests, stats.num_errors, stats.last_error) == (9, 3, "500:KeyError")
    wire = doc(other, f"$SRV.STATS.svc.{svc.id}")["endpoints"][0]
    assert (wire["num_errors"], wire["last_error"]) == (3, "500:KeyError")


def test_config_validation_raises_typed_errors(nc: natsync.Client,
                                               services: List[micro.Service]) -> None:
    assert issubclass(micro.ConfigError, micro.ServiceError)
    assert issubclass(micro.ServiceError, Error) and issubclass(micro.ConfigError, ValueError)
    bad_services: List[dict[str, Any]] = [
        {"name": "has space", "version": "1.0.0"}, {"name": "dot.ted", "version": "1.0.0"},
        {"name": "", "version": "1.0.0"}, {"name": "ok", "version": "1.0"},
        {"name": "ok", "version": "v1.0.0"}, {"name": "ok", "version": "01.0.0"},
        {"name": "ok", "version": "1.0.0", "queue_group": ""},
        {"name": "ok", "version": "1.0.0", "queue_group": "a b"},
        {"name": "ok", "version": "1.0.0", "metadata": {"k": 1}},
        {"name": "ok", "version": "1.0.0", "stats_handler": 3},
        {"name": "ok"}, {"name": "ok", "version": "1.0.0", "colour": "red"},
    ]
    for kw in bad_services:
        with pytest.raises(micro.ConfigError):
            micro.add_service(nc, **kw)
    for good in ("0.0.1", "1.2.3-alpha.1+build.5", "10.20.30-rc-1"):
        add(services, nc, name="Good_name-1", version=good)

    svc = add(services, nc)
    noop: Callable[[Request], None] = lambda r: None  # noqa: E731
    bad_endpoints: List[dict[str, Any]] = [
        {"name": "a.b"}, {"name": "x", "subject": "a..b"}, {"name": "x", "subject": ""},
        {"name": "x", "subject": "a >"}, {"name": "x", "queue_group": ""},
        {"name": "x", "metadata": {"a": None}}, {"name": "x", "max_concurrency": 0},
        {"name": "x", "handler": "not callable"}]
    for kw in bad_endpoints:
        kw.setdefault("handler", noop)
        with pytest.raises(micro.ConfigError):
            svc.add_endpoint(**kw)
    for name in ("", "a.>", ">", "a b"):
        with pytest.raises(micro.ConfigError):
            svc.add_group(name)
    config = micro.ServiceConfig(name="cfg", version="2.0.0", description="from a config")
    from_config = micro.add_service(nc, config, metadata={"k": "v"})
    services.append(from_config)
    assert (from_config.name, from_config.version, from_config.metadata) == (
        "cfg", "2.0.0", {"k": "v"})
    svc.stop()
    with pytest.raises(micro.ServiceStoppedError):
        svc.add_endpoint("late", noop)


# --- monitoring ------------------------------------------------------------------------------


def test_ping_info_stats_answer_on_all_nine_subjects(nc: natsync.Client, other: natsync.Client,
                                                     services: List[micro.Service]) -> None:
    svc = add(services, nc, name="mon", version="1.2.3", description="watch <me> & co",
              metadata={"region": "eu"})
    svc.add_endpoint("plain", echo)
    svc.add_endpoint("tagged", echo, metadata={"a": "b"})
    expected = {"PING": (PING_KEYS, micro.PING_RESPONSE_TYPE),
                "INFO": (INFO_KEYS, micro.INFO_RESPONSE_TYPE),
                "STATS": (STATS_KEYS, micro.STATS_RESPONSE_TYPE)}
    for verb, (keys, kind) in expected.items():
        for subject in (f"$SRV.{verb}", f"$SRV.{verb}.mon", f"$SRV.{verb}.mon.{svc.id}"):
            raw = other.request(subject, b"", timeout=2).data
            answer = json.loads(raw)
            assert list(answer) == keys, subject
            assert answer["type"] == kind
            assert (answer["name"], answer["id"], answer["version"], answer["metadata"]) == (
                "mon", svc.id, "1.2.3", {"region": "eu"})
            assert b": " not in raw  # compact, like Go
    info = doc(other, "$SRV.INFO.mon")
    assert info["description"] == "watch <me> & co"
    assert b"\\u003cme\\u003e \\u0026 co" in other.request("$SRV.INFO.mon", timeout=2).data
    assert [list(e) for e in info["endpoints"]] == [ENDPOINT_INFO_KEYS] * 2
    assert info["endpoints"] == [
        {"name": "plain", "subject": "plain", "queue_group": "q", "metadata": None},
        {"name": "tagged", "subject": "tagged", "queue_group": "q", "metadata": {"a": "b"}}]
    stats = doc(other, "$SRV.STATS.mon")
    assert [list(e) for e in stats["endpoints"]] == [ENDPOINT_STATS_KEYS] * 2  # no data key
    started = micro.api.parse_time(stats["started"])
    assert abs(started - datetime.now(timezone.utc)) < timedelta(seconds=30)
    assert stats["started"].endswith("Z") and stats["started"] == micro.api.format_time(
        svc.started)
    # Another service name or id is not answered by this one.
    with pytest.raises(NoRespondersError):
        other.request("$SRV.PING.nobody", timeout=1)
    with pytest.raises(NoRespondersError):
        other.request("$SRV.PING.mon.notmyid", timeout=1)
    # The local accessors are the documents that were sent.
    assert svc.ping().to_json() == other.request(f"$SRV.PING.mon.{svc.id}", timeout=2).data
    assert svc.info().to_json() == other.request(f"$SRV.INFO.mon.{svc.id}", timeout=2).data
    assert micro.parse_response(other.request("$SRV.PING.mon", timeout=2).data) == svc.ping()


@pytest.mark.parametrize("max_concurrency", [1, 4])
def test_stats_stay_exact_under_eight_concurrent_callers(
        nc: natsync.Client, other: natsync.Client, services: List[micro.Service],
        max_concurrency: int) -> None:
    svc = add(services, nc, name="busy")
    svc.add_endpoint("work", echo, max_concurrency=max_concurrency)
    per_thread, errors = 50, []

    def caller(i: int) -> None:
        try:
            for j in range(per_thread):
                payload = b"%d-%d" % (i, j)
                assert other.request("work", payload, timeout=5).data == payload
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and not any(t.is_alive() for t in threads)
    stats = svc.stats().endpoints[0]
    assert stats.num_requests == 8 * per_thread and stats.num_errors == 0
    assert stats.processing_time > 0
    assert stats.average_processing_time == stats.processing_time // stats.num_requests
    wire = micro.ServiceStats.from_dict(doc(other, "$SRV.STATS.busy")).endpoints[0]
    assert wire.num_requests == 8 * per_thread
    assert wire.average_processing_time == wire.processing_time // wire.num_requests


def test_stats_handler_data_and_reset(nc: natsync.Client, other: natsync.Client,
                                      services: List[micro.Service]) -> None:
    seen: List[micro.Endpoint] = []

    def extra(endpoint: micro.Endpoint) -> dict[str, Any]:
        seen.append(endpoint)
        return {"endpoint": endpoint.name, "requests": endpoint.stats().num_requests}

    svc = add(services, nc, name="custom", stats_handler=extra)
    svc.add_endpoint("one", echo)
    svc.add_endpoint("two", lambda r: r.respond_error("418", "teapot"))
    other.request("one", b"x", timeout=2)
    other.request("two", b"x", timeout=2)
    stats = doc(other, "$SRV.STATS.custom")
    assert [e["data"] for e in stats["endpoints"]] == [
        {"endpoint": "one", "requests": 1}, {"endpoint": "two", "requests": 1}]
    assert list(stats["endpoints"][0]) == ENDPOINT_STATS_KEYS + ["data"]
    assert {e.name for e in seen} == {"one", "two"}
    assert svc.stats().endpoints[1].data == {"endpoint": "two", "requests": 1}

    before = svc.started
    time.sleep(0.01)
    svc.reset()
    assert svc.started > before
    for e in svc.stats().endpoints:
        assert (e.num_requests, e.num_errors, e.last_error, e.processing_time,
                e.average_processing_time, e.queue_group) == (0, 0, "", 0, 0, "q")
    other.request("one", b"y", timeout=2)
    assert svc.stats().endpoints[0].num_requests == 1


def test_a_failing_stats_handler_leaves_data_out(nc: natsync.Client, other: natsync.Client,
                                                 services: List[micro.Service]) -> None:
    def broken(endpoint: micro.Endpoint) -> Any:
        if endpoint.name == "a":
            raise RuntimeError("no stats today")
        return {1, 2}  # not JSON

    svc = add(services, nc, name="flaky", stats_handler=broken)
    svc.add_endpoint("a", echo)
    svc.add_endpoint("b", echo)
    stats = doc(other, "$SRV.STATS.flaky")
    assert [list(e) for e in stats["endpoints"]] == [ENDPOINT_STATS_KEYS] * 2


def test_stop_drains_in_flight_requests_then_ends_every_subscription(
        nc: natsync.Client, other: natsync.Client, services: List[micro.Service]) -> None:
    started = threading.Event()

    def slow(req: Request) -> None:
        started.set()
        time.sleep(0.3)
        req.respond(b"finished")

    svc = add(services, nc, name="stopper")
    svc.add_endpoint("slow", slow)
    result: Future[bytes] = Future()
    threading.Thread(target=lambda: result.set_result(
        other.request("slow", b"", timeout=5).data)).start()
    assert started.wait(2)
    svc.stop()
    assert svc.stopped
    assert result.result(timeout=5) == b"finished"  # the in-flight request was answered
    for subject in ("slow", "$SRV.PING", "$SRV.INFO.stopper", f"$SRV.STATS.stopper.{svc.id}"):
        with pytest.raises(NoRespondersError):
            other.request(subject, timeout=1)
    svc.stop()  # idempotent
    assert all(not e.subscription.is_valid for e in svc.endpoints if e.subscription)
    assert svc.stats().endpoints[0].num_requests == 1  # the last numbers stay readable


def test_context_manager_and_closed_connection(nats_url: str, other: natsync.Client) -> None:
    with natsync.connect(nats_url) as conn:
        with micro.add_service(conn, name="ctx", version="1.0.0") as svc:
            svc.add_endpoint("hi", lambda r: r.respond(b"hi"))
            assert other.request("hi", timeout=2).data == b"hi"
            assert not svc.stopped
        assert svc.stopped
        with pytest.raises(NoRespondersError):
            other.request("hi", timeout=1)
        late = micro.add_service(conn, name="late", version="1.0.0")
        late.add_endpoint("pool", echo, max_concurrency=2)
    assert late.stopped  # the connection closed under it
    late.stop()  # and stopping then is harmless


def pool_gone(prefix: str) -> Callable[[], bool]:
    """A check that no thread named `prefix...` is alive."""
    return lambda: not any(t.name.startswith(prefix) for t in threading.enumerate())


def test_stop_from_inside_handlers_does_not_deadlock(nc: natsync.Client, other: natsync.Client,
                                                     services: List[micro.Service]) -> None:
    for concurrency in (1, 3):
        svc = add(services, nc, name=f"selfstop{concurrency}")

        def quit_handler(req: Request, svc: micro.Service = svc) -> None:
            svc.stop(timeout=5)
            req.respond(b"bye")

        svc.add_endpoint("quit", quit_handler, subject=f"quit{concurrency}",
                         max_concurrency=concurrency)
        start = time.monotonic()
        assert other.request(f"quit{concurrency}", timeout=5).data == b"bye"
        assert time.monotonic() - start < 2
        assert svc.stopped
        wait_for(pool_gone(f"natsync-micro-selfstop{concurrency}"), 5, "pool threads to end")


def test_stop_times_out_when_a_handler_hangs(nc: natsync.Client, other: natsync.Client) -> None:
    release = threading.Event()
    entered = threading.Event()

    def hang(req: Request) -> None:
        entered.set()
        release.wait(5)

    svc = micro.add_service(nc, name="hang", version="1.0.0")
    svc.add_endpoint("hang", hang, max_concurrency=2)
    other.publish("hang", b"")
    assert entered.wait(2)
    start = time.monotonic()
    with pytest.raises(DrainTimeoutError):
        svc.stop(timeout=0.3)
    assert time.monotonic() - start < 2 and svc.stopped
    release.set()


# --- concurrency -----------------------------------------------------------------------------


def _parallel_requests(client: natsync.Client, subject: str, n: int) -> float:
    """Send `n` requests from `n` threads at once; the seconds until all were answered."""
    results: List[bytes] = []
    barrier = threading.Barrier(n)

    def call(i: int) -> None:
        barrier.wait(5)
        results.append(client.request(subject, b"%d" % i, timeout=5).data)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(results) == sorted(b"%d" % i for i in range(n))
    return time.monotonic() - start


def test_max_concurrency_runs_requests_in_parallel(nc: natsync.Client, other: natsync.Client,
                                                   services: List[micro.Service]) -> None:
    active, peak = [0], [0]
    lock = threading.Lock()

    def sleepy(req: Request) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.2)
        with lock:
            active[0] -= 1
        req.respond(req.data)

    svc = add(services, nc, name="pool")
    svc.add_endpoint("sleepy", sleepy, max_concurrency=4)
    elapsed = _parallel_requests(other, "sleepy", 4)
    assert elapsed < 0.6, elapsed
    assert peak[0] == 4
    # Eight at once: never more than four run, so it takes two rounds.
    peak[0] = 0
    elapsed = _parallel_requests(other, "sleepy", 8)
    assert peak[0] == 4 and 0.4 <= elapsed < 1.2, elapsed
    assert svc.stats().endpoints[0].num_requests == 12


def test_max_concurrency_one_serializes_requests_in_order(
        nc: natsync.Client, other: natsync.Client, services: List[micro.Service]) -> None:
    order: List[int] = []
    threads: set[str] = set()
    active, peak = [0], [0]

    def one_at_a_time(req: Request) -> None:
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        threads.add(threading.current_thread().name)
        order.append(int(req.data))
        time.sleep(0.05)
        active[0] -= 1
        req.respond(req.data)

    svc = add(services, nc, name="serial")
    svc.add_endpoint("serial", one_at_a_time)
    inbox = other.new_inbox()
    replies = other.subscribe(inbox)
    start = time.monotonic()
    for i in range(6):
        other.publish("serial", b"%d" % i, reply=inbox)
    got = [int(replies.next_msg(timeout=5).data) for _ in range(6)]
    assert time.monotonic() - start >= 0.3
    assert order == got == list(range(6))
    assert peak[0] == 1 and len(threads) == 1


# --- discovery -------------------------------------------------------------------------------


def test_discovery_client_finds_every_instance(nc: natsync.Client, nats_url: str,
                                               other: natsync.Client,
                                               services: List[micro.Service]) -> None:
    with natsync.connect(nats_url) as nc2:
        a = add(services, nc, name="finder", version="1.0.0", metadata={"i": "a"})
        b = add(services, nc2, name="finder", version="1.1.0", metadata={"i": "b"})
        add(services, nc, name="bystander")
        for svc in (a, b):
            svc.add_endpoint("find", echo)
        other.request("find", b"", timeout=2)
        client = micro.Client(other)

        pings = client.ping("finder", stall=0.3)
        assert sorted((p.id, p.version, p.metadata["i"]) for p in pings) == sorted(
            [(a.id, "1.0.0", "a"), (b.id, "1.1.0", "b")])
        assert all(isinstance(p, micro.PingInfo) for p in pings)
        assert len(client.ping(stall=0.3)) == 3
        infos = client.info("finder", stall=0.3)
        assert {i.id for i in infos} == {a.id, b.id}
        assert all(i.endpoints == [micro.EndpointInfo("find", "find", "q", None)] for i in infos)
        stats = client.stats("finder", stall=0.3)
        assert sum(s.endpoints[0].num_requests for s in stats) == 1
        assert all(isinstance(s.started, datetime) for s in stats)

        start = time.monotonic()
        only = client.info("finder", id=b.id, timeout=2)
        assert [i.id for i in only] == [b.id] and time.monotonic() - start < 1
        assert [s.id for s in client.stats("finder", id=a.id)] == [a.id]
        assert client.ping("nobody-here", timeout=0.5) == []
        with pytest.raises(micro.ConfigError):
            client.ping(id=a.id)
        b.stop()
        assert [p.id for p in client.ping("finder", stall=0.3)] == [a.id]


def test_api_documents_round_trip() -> None:
    started = micro.api.parse_time("2024-02-29T23:59:58.123456789+01:00")
    assert started == datetime(2024, 2, 29, 22, 59, 58, 123456, tzinfo=timezone.utc)
    assert micro.api.format_time(started) == "2024-02-29T22:59:58.123456Z"
    assert micro.api.parse_time("2024-01-01T00:00:00Z").microsecond == 0
    with pytest.raises(micro.InvalidResponseError):
        micro.api.parse_time("yesterday")
    stats = micro.ServiceStats(
        name="s", id="i", version="1.0.0", started=started, metadata={"k": "v"},
        endpoints=[micro.EndpointStats("e", "e.>", "q", 3, 1, "500:x", 30, 10, {"n": 1})])
    assert micro.ServiceStats.from_dict(json.loads(stats.to_json())) == stats
    info = micro.ServiceInfo(name="s", id="i", version="1.0.0", description="é <b>",
                             endpoints=[micro.EndpointInfo("e", "e", "", {"a": "b"})])
    raw = info.to_json()
    assert "é".encode() in raw and b"\\u003cb\\u003e" in raw
    assert micro.parse_response(raw) == info
    for bad in (b"not json", b"[]", b'{"type":"other"}', b'{"type":"io.nats.micro.v1.'
                b'ping_response","name":1,"id":"x","version":"1.0.0"}'):
        with pytest.raises(micro.InvalidResponseError):
            micro.parse_response(bad)


# --- interop with nats-py ----------------------------------------------------------------------


class AsyncLoop:
    """An asyncio loop on a background thread, for running nats-py next to natsync."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="nats-py-loop",
                                       daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[T], timeout: float = 10) -> T:
        """Run `coro` on the loop and wait for its result."""
        async def wrap() -> T:
            return await coro
        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def aio() -> Iterator[AsyncLoop]:
    loop = AsyncLoop()
    try:
        yield loop
    finally:
        loop.close()


def test_nats_py_core_client_discovers_and_calls_a_natsync_service(
        nc: natsync.Client, nats_url: str, aio: AsyncLoop, services: List[micro.Service]) -> None:
    nats = pytest.importorskip("nats")
    # A stats handler, so STATS carries "data": nats-py's parser requires the key, which
    # nats.go (and natsync) leave out when there is no stats handler.
    svc = add(services, nc, name="py-visible", description="seen from asyncio",
              stats_handler=lambda ep: {"ep": ep.name})
    svc.add_endpoint("upper", lambda r: r.respond(r.data.upper()), subject="py.upper")
    svc.add_endpoint("fail", lambda r: r.respond_error(503, "down for lunch"), subject="py.fail")

    async def client_side() -> tuple[Any, ...]:
        anc = await nats.connect(nats_url)
        try:
            info = await anc.request("$SRV.INFO.py-visible", b"", timeout=2)
            ping = await anc.request(f"$SRV.PING.py-visible.{svc.id}", b"", timeout=2)
            upper = await anc.request("py.upper", b"shout", timeout=2)
            fail = await anc.request("py.fail", b"", timeout=2)
            return info.data, ping.data, upper.data, dict(fail.headers or {})
        finally:
            await anc.close()

    info, ping, upper, fail = aio.run(client_side())
    assert json.loads(info)["description"] == "seen from asyncio"
    assert json.loads(ping)["id"] == svc.id
    assert upper == b"SHOUT"
    assert fail == {"Nats-Service-Error": "down for lunch", "Nats-Service-Error-Code": "503"}

    # nats-py's own schema classes read natsync's documents.
    from nats.micro.service import ServiceInfo as PyInfo
    from nats.micro.service import ServiceStats as PyStats
    py_info = PyInfo.from_dict(json.loads(info))
    assert [e.subject for e in py_info.endpoints] == ["py.upper", "py.fail"]
    py_stats = PyStats.from_dict(json.loads(nc.request("$SRV.STATS.py-visible", timeout=2).data))
    assert py_stats.endpoints[1].num_errors == 1


def test_json_keys_match_a_nats_py_micro_service_both_ways(
        nc: natsync.Client, nats_url: str, aio: AsyncLoop, services: List[micro.Service]) -> None:
    nats = pytest.importorskip("nats")
    from nats.micro import add_service as py_add_service

    state: dict[str, Any] = {}

    async def start_py() -> str:
        anc = await nats.connect(nats_url)
        py_svc = await py_add_service(anc, name="pysvc", version="0.1.0",
                                      description="python asyncio", metadata={"lang": "py"})

        async def hello(req: Any) -> None:
            await req.respond(b"hello " + req.data)

        async def broken(req: Any) -> None:
            raise ValueError("bad")

        await py_svc.add_endpoint(name="hello", handler=hello, metadata={"m": "1"})
        group = py_svc.add_group(name="grp", queue_group="gq")
        await group.add_endpoint(name="broken", handler=broken)
        state.update(nc=anc, svc=py_svc)
        return str(py_svc.id)

    async def stop_py() -> None:
        await state["svc"].stop()
        await state["nc"].close()

    py_id = aio.run(start_py())
    try:
        ours = add(services, nc, name="natsvc", version="0.1.0", description="threads",
                   metadata={"lang": "py"})
        ours.add_endpoint("hello", echo, subject="nat.hello", metadata={"m": "1"})
        ours.add_group("nat", queue_group="gq").add_endpoint(
            "broken", lambda r: r.respond_error(500, "bad"))
        assert nc.request("hello", b"x", timeout=2).data == b"hello x"
        assert nc.request("nat.hello", b"x", timeout=2).data == b"x"
        for subject in ("grp.broken", "nat.broken"):
            reply = nc.request(subject, b"", timeout=2)
            assert reply.headers is not None
            assert reply.headers["Nats-Service-Error-Code"] == "500"

        for verb in ("PING", "INFO", "STATS"):
            py_doc = doc(nc, f"$SRV.{verb}.pysvc")
            our_doc = doc(nc, f"$SRV.{verb}.natsvc")
            assert set(py_doc) == set(our_doc), verb
            assert py_doc["type"] == our_doc["type"]
            for py_ep, our_ep in zip(py_doc.get("endpoints", []), our_doc.get("endpoints", [])):
                # nats-py always sends "data": null; nats.go and natsync leave it out
                # when there is no stats handler.
                assert set(py_ep) - {"data"} == set(our_ep), verb
        py_info = doc(nc, "$SRV.INFO.pysvc")
        assert [e["queue_group"] for e in py_info["endpoints"]] == ["q", "gq"]

        # natsync's discovery client reads the nats-py service into typed objects.
        client = micro.Client(nc)
        [ping] = client.ping("pysvc", stall=0.3)
        assert (ping.id, ping.version, ping.metadata) == (py_id, "0.1.0", {"lang": "py"})
        [info] = client.info("pysvc", id=py_id)
        assert info.description == "python asyncio"
        assert info.endpoints == [micro.EndpointInfo("hello", "hello", "q", {"m": "1"}),
                                  micro.EndpointInfo("broken", "grp.broken", "gq", None)]
        [stats] = client.stats("pysvc", id=py_id)
        assert isinstance(stats.started, datetime) and stats.started.tzinfo is not None
        assert [(e.name, e.num_requests, e.num_errors) for e in stats.endpoints] == [
            ("hello", 1, 0), ("broken", 1, 1)]
        # nats-py records repr(exception) where nats.go and natsync record "code:description".
        assert stats.endpoints[1].last_error == "ValueError('bad')"
        [our_stats] = client.stats("natsvc", id=ours.id)
        assert our_stats.endpoints[1].last_error == "500:bad"
        assert all(e.data is None for e in stats.endpoints)
        found = {p.name for p in client.ping(stall=0.3)}
        assert found == {"pysvc", "natsvc"}
    finally:
        aio.run(stop_py())
