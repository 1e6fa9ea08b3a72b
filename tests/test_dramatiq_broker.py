"""The Dramatiq broker and its Key-Value backends against a real JetStream server: the
Broker API in this process, then real `dramatiq` worker processes (exactly once, SIGKILL,
server restart, delays, retries ending in the dead-letter queue)."""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator, List, Optional

import dramatiq
import pytest
from dramatiq.common import dq_name, xq_name
from dramatiq.errors import QueueJoinTimeout, QueueNotFound
from dramatiq.rate_limits import ConcurrentRateLimiter, WindowRateLimiter
from dramatiq.results import ResultMissing, ResultTimeout

from natsync.contrib.dramatiq import KeyValueRateLimiter, KeyValueResults, NatsBroker
from natsync.errors import BadArgumentError
from natsync.testing import NatsServer

from .conftest import wait_for
from .taskq import check_at_least_once, dramatiq_worker, runs

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with NatsServer(jetstream=True, store_dir=tmp_path_factory.mktemp("dramatiq-js")) as srv:
        yield srv


@pytest.fixture
def broker(server: NatsServer, request: pytest.FixtureRequest) -> Iterator[NatsBroker]:
    b = NatsBroker(server.url, namespace=f"t{abs(hash(request.node.name)) % 10**8}",
                   visibility_timeout=1.5)
    yield b
    b.close()


def _message(broker: NatsBroker, queue: str, *args: object) -> dramatiq.Message[object]:
    return dramatiq.Message(queue_name=queue, actor_name="fn", args=args, kwargs={},
                            options={})


def test_enqueue_consume_ack_nack_requeue(broker: NatsBroker) -> None:
    broker.declare_queue("q")
    assert broker.get_declared_queues() == {"q"}
    assert broker.get_declared_delay_queues() == {dq_name("q")}
    with pytest.raises(QueueNotFound):
        broker.consume("undeclared")
    for i in range(5):
        broker.enqueue(_message(broker, "q", i))
    consumer = broker.consume("q", prefetch=2, timeout=300)
    first = [next(consumer), next(consumer)]
    assert [m.args for m in first] == [(0,), (1,)]
    t0 = time.monotonic()
    assert next(consumer) is None  # prefetch 2 and none acked: nothing more, after a wait
    assert time.monotonic() - t0 < 1.0
    consumer.ack(first[0])
    consumer.nack(first[1])  # into the dead-letter queue
    third = next(consumer)
    assert third is not None and third.args == (2,)
    consumer.requeue([third])  # back for anyone
    got = []
    for _ in range(10):
        m = next(consumer)
        if m is not None:
            got.append(m.args[0])
            consumer.ack(m)
        if len(got) == 3:
            break
    assert sorted(got) == [2, 3, 4]
    consumer.close()
    assert next(broker.consume("q", timeout=200)) is None  # all acked: none left
    dead = broker.js.stream_info(broker.stream, subjects_filter=">").state.subjects or {}
    assert dead.get(broker.subject(xq_name("q"))) == 1


def test_delay_goes_to_the_delay_queue_with_an_eta(broker: NatsBroker) -> None:
    broker.declare_queue("q")
    before = int(time.time() * 1000)
    sent = broker.enqueue(_message(broker, "q", "later"), delay=5000)
    assert sent.queue_name == dq_name("q") and sent.options["eta"] >= before + 5000
    delayed = next(broker.consume(dq_name("q"), timeout=1000))
    assert delayed is not None and delayed.args == ("later",)
    assert next(broker.consume("q", timeout=200)) is None


def test_flush_join_and_an_abandoned_message(broker: NatsBroker) -> None:
    broker.declare_queue("q")
    broker.declare_queue("r")
    for i in range(3):
        broker.enqueue(_message(broker, "q", i))
        broker.enqueue(_message(broker, "r", i), delay=60_000)
    with pytest.raises(QueueJoinTimeout):
        broker.join("q", timeout=200)
    broker.flush("q")
    broker.join("q", timeout=2000)
    broker.flush_all()
    broker.join("r", timeout=2000)

    broker.enqueue(_message(broker, "q", "abandoned"))
    held = next(broker.consume("q", timeout=1000))  # taken, never acked: the holder "dies"
    assert held is not None
    broker.keeper.release(id(held.nats_msg))  # nobody keeps it alive any more
    again = next(broker.consume("q", prefetch=5, timeout=4000))
    assert again is not None and again.args == ("abandoned",)
    assert again.nats_msg.metadata.num_delivered == 2


def test_results_backend(broker: NatsBroker, server: NatsServer,
                         request: pytest.FixtureRequest) -> None:
    backend = KeyValueResults(server.url, bucket=f"{broker.stream}_res")
    request.addfinalizer(backend.close)
    message = _message(broker, "q", 1)
    with pytest.raises(ResultMissing):
        backend.get_result(message)
    with pytest.raises(ResultTimeout):
        backend.get_result(message, block=True, timeout=300)
    threading.Timer(0.3, lambda: backend.store_result(message, {"ok": 1}, 60_000)).start()
    t0 = time.monotonic()
    assert backend.get_result(message, block=True, timeout=5000) == {"ok": 1}
    assert time.monotonic() - t0 < 2.0  # watched, not polled with back-off
    backend.store_result(message, "second", 60_000)  # a redelivered duplicate: first stays
    assert backend.get_result(message) == {"ok": 1}
    broker.js.create_key_value(bucket=f"{broker.stream}_plain")  # no per-key TTLs
    plain = KeyValueResults(server.url, bucket=f"{broker.stream}_plain")
    request.addfinalizer(plain.close)
    with pytest.raises(BadArgumentError, match="limit_marker_ttl"):
        plain.store_result(message, 1, 1000)


def test_rate_limiter_backend(broker: NatsBroker, server: NatsServer,
                              request: pytest.FixtureRequest) -> None:
    backend = KeyValueRateLimiter(server.url, bucket=f"{broker.stream}_rl")
    request.addfinalizer(backend.close)
    mutex = ConcurrentRateLimiter(backend, "mutex", limit=1)
    with mutex.acquire(raise_on_failure=False) as first:
        with mutex.acquire(raise_on_failure=False) as second:
            assert first and not second
    with mutex.acquire(raise_on_failure=False) as third:
        assert third
    window = WindowRateLimiter(backend, "window", limit=3, window=5)
    allowed = [window.acquire(raise_on_failure=False).__enter__() for _ in range(5)]
    assert allowed.count(True) == 3
    counts: List[bool] = []

    def hammer() -> None:
        for _ in range(10):
            counts.append(backend.incr("shared", 1, 25, 60_000))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert counts.count(True) == 25  # compare-and-set: never above the maximum
    assert not backend.wait("barrier", 200)
    backend.wait_notify("barrier", 60_000)
    assert backend.wait("barrier", 1000)


# --- real worker processes ---------------------------------------------------------------


@pytest.fixture(scope="module")
def app_module(server: NatsServer) -> Iterator[ModuleType]:
    """tests/apps/dramatiq_app.py as a producer in this process, pointed at the server."""
    os.environ["NATSYNC_TEST_URL"] = server.url
    sys.modules.pop("tests.apps.dramatiq_app", None)  # imported once, with this URL
    module = importlib.import_module("tests.apps.dramatiq_app")
    yield module
    module.broker.close()
    module.broker.get_results_backend().close()
    os.environ.pop("NATSYNC_TEST_URL", None)


def _enqueue(app: ModuleType, actor: Any, queue: str, *args: Any,
             delay: Optional[int] = None) -> Any:
    """Send `actor(*args)` to `queue` (actors have a queue of their own otherwise)."""
    message = actor.message(*args).copy(queue_name=queue)
    return app.broker.enqueue(message, delay=delay)


def _send(app: ModuleType, queue: str, keys: List[int], seconds: float = 0.0) -> None:
    for k in keys:
        _enqueue(app, app.record, queue, k, seconds)


def test_workers_run_every_message_once_with_delays_results_and_dead_letters(
        server: NatsServer, app_module: ModuleType, tmp_path: Path) -> None:
    runs_file = tmp_path / "runs.txt"
    worker = dramatiq_worker(tmp_path, "dq", "main", 2, 2, runs_file, server.url)
    try:
        keys = list(range(300))
        _send(app_module, "main", keys)
        # a delay that outlasts the visibility timeout (3 s): the worker holding the delayed
        # message keeps it alive, so it runs once
        eta = time.time() + 4.0
        _enqueue(app_module, app_module.not_before, "main", "e", eta, delay=4000)
        _enqueue(app_module, app_module.record, "main", 5000, 4.0)  # and a long one
        fails = _enqueue(app_module, app_module.always_fails, "main", "x")
        added = _enqueue(app_module, app_module.add, "main", 2, 3)
        assert added.get_result(block=True, timeout=30_000) == 5
        wait_for(lambda: len(runs(runs_file, "record")) >= 301, 60, "301 runs")
        wait_for(lambda: len(runs(runs_file, "eta")) == 1 and len(runs(runs_file, "fails")) == 3,
                   30, "the delayed message and the retries")
        app_module.broker.join("main", timeout=30_000)
        found = runs(runs_file, "record")
        assert sorted(int(r.key) for r in found) == keys + [5000]
        assert runs(runs_file, "eta")[0].at >= eta
        assert not any(r.redelivered for r in found + runs(runs_file, "eta"))
        dead = app_module.broker.js.stream_info(app_module.broker.stream,
                                                subjects_filter=">").state.subjects or {}
        assert dead.get(app_module.broker.subject(xq_name("main"))) == 1
        assert fails.message_id
    finally:
        assert worker.stop() == 0, worker.output()[-3000:]


def test_a_sigkilled_worker_and_a_server_restart_lose_nothing(
        server: NatsServer, app_module: ModuleType, tmp_path: Path) -> None:
    runs_file = tmp_path / "runs.txt"
    victim = dramatiq_worker(tmp_path, "victim", "kill", 1, 2, runs_file, server.url)
    survivor = dramatiq_worker(tmp_path, "survivor", "kill", 1, 2, runs_file, server.url)
    try:
        keys = list(range(150))
        _send(app_module, "kill", keys[:100], seconds=0.05)
        wait_for(lambda: len(runs(runs_file)) >= 20, 60, "20 runs before the kill")
        victim.kill()
        server.restart()  # and the server too, mid-run
        _send(app_module, "kill", keys[100:], seconds=0.01)
        wait_for(lambda: len({r.key for r in runs(runs_file)}) >= 150, 90, "every message run")
        time.sleep(1.0)
        check_at_least_once(runs(runs_file), [str(k) for k in keys])
    finally:
        survivor.kill()
