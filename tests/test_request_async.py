"""request_async: futures completed by the reader, for fan-out from one thread."""

from __future__ import annotations

import concurrent.futures as cf
import gc
import threading
import time
import weakref
from typing import Callable

import pytest

import natsync
from natsync.errors import (
    BadTimeoutError,
    ConnectionClosedError,
    ConnectionDrainingError,
    NoRespondersError,
    TimeoutError,
)

from .conftest import natsync_threads, wait_for
from .docblocks import python_block_with

Connect = Callable[..., natsync.Client]


def _echo(nc: natsync.Client, subject: str = "svc.echo", delay: float = 0.0) -> None:
    def on_req(msg: natsync.Msg) -> None:
        if delay:
            time.sleep(delay)
        msg.respond(msg.data)

    nc.subscribe(subject, cb=on_req)
    nc.flush()


def _slots_freed(nc: natsync.Client) -> None:
    """The reader drops an answered future's entry just after completing it: without the
    GIL the caller's thread can see the result a few microseconds before that."""
    wait_for(lambda: not nc._mux.table, 1.0, "answered requests to leave the reply table")


def test_result_is_the_reply(connect: Connect) -> None:
    _echo(connect())
    nc = connect()
    fut = nc.request_async("svc.echo", b"hi")
    assert isinstance(fut, cf.Future)
    assert fut.result(timeout=2).data == b"hi"
    _slots_freed(nc)


def test_fan_out_matches_every_reply_to_its_request(connect: Connect) -> None:
    _echo(connect())
    nc = connect()
    futures = {nc.request_async("svc.echo", str(i).encode(), timeout=5): i for i in range(500)}
    done, not_done = cf.wait(futures, timeout=10)
    assert not not_done
    for fut in cf.as_completed(futures, timeout=1):
        assert fut.result().data == str(futures[fut]).encode()
    _slots_freed(nc)


def test_answered_futures_are_not_kept_until_their_deadline(connect: Connect) -> None:
    # Each future waits in the timer's heap for its deadline; an answered one the caller
    # dropped must not stay alive (with its reply) for the whole timeout.
    _echo(connect())
    nc = connect()
    early: list[weakref.ref[cf.Future[natsync.Msg]]] = []
    for i in range(2500):
        fut = nc.request_async("svc.echo", b"x" * 1000, timeout=60)
        assert fut.result(timeout=5).data == b"x" * 1000
        if i < 100:
            early.append(weakref.ref(fut))
        del fut
    gc.collect()
    assert sum(ref() is not None for ref in early) == 0


def test_the_threading_page_fan_out_runs_as_written(connect: Connect) -> None:
    responder = connect()
    for subject in ("prices.get", "stock.get"):
        responder.subscribe(subject, cb=lambda m: m.respond(m.subject.encode() + b":" + m.data))
    responder.subscribe("reviews.top", cb=lambda m: None)  # never answers: times out
    responder.flush()
    scope: dict[str, object] = {}
    exec(python_block_with("threading.md", "def product_page"), scope)
    started = time.monotonic()
    page = scope["product_page"](connect(), b"42")  # type: ignore[operator]
    assert page == {"price": b"prices.get:42", "stock": b"stock.get:42", "reviews": None}
    assert time.monotonic() - started < 1.5  # one timeout for all three, not three


def test_no_responders_and_timeout_raise_from_result(connect: Connect) -> None:
    nc = connect()
    with pytest.raises(NoRespondersError):
        nc.request_async("nobody.home").result(timeout=2)
    nc.subscribe("silent")  # subscribed, never answers
    nc.flush()
    start = time.monotonic()
    fut = nc.request_async("silent", timeout=0.2)
    done, _ = cf.wait([fut], timeout=2)  # the timer completes it: nobody calls result()
    assert fut in done
    assert time.monotonic() - start < 1.0
    with pytest.raises(TimeoutError, match="silent"):
        fut.result()
    assert nc._mux.table == {}


def test_cancel_frees_the_slot_and_counts_as_done(connect: Connect) -> None:
    _echo(connect(), delay=0.3)
    nc = connect()
    fut = nc.request_async("svc.echo", b"x", timeout=5)
    assert fut.cancel()
    assert nc._mux.table == {}
    done, _ = cf.wait([fut], timeout=0.1)
    assert fut in done and fut.cancelled()
    assert nc.request("svc.echo", b"y", timeout=2).data == b"y"  # the late reply is ignored


def test_done_callbacks_never_run_on_the_reader(connect: Connect) -> None:
    _echo(connect())
    nc = connect()
    ran_on: list[str] = []
    got = threading.Event()
    futures = [nc.request_async("svc.echo", b"z", timeout=2) for _ in range(50)]
    for fut in futures:
        fut.add_done_callback(lambda f: (ran_on.append(threading.current_thread().name),
                                         len(ran_on) == 50 and got.set()))
    assert got.wait(5)
    assert "natsync-reader" not in ran_on


def test_close_fails_pending_futures_and_leaves_no_thread(shared_server: object) -> None:
    url = shared_server.url  # type: ignore[attr-defined]
    nc = natsync.connect(url)
    nc.subscribe("silent")
    nc.flush()
    futures = [nc.request_async("silent", timeout=30) for _ in range(20)]
    nc.close()
    for fut in futures:
        with pytest.raises(ConnectionClosedError):
            fut.result(timeout=1)
    wait_for(lambda: not natsync_threads(), what="natsync threads to end")
    with pytest.raises(ConnectionClosedError):
        nc.request_async("svc.echo")


def test_arguments_and_state_are_checked(connect: Connect) -> None:
    nc = connect()
    with pytest.raises(BadTimeoutError):
        nc.request_async("svc.echo", timeout=-1)
    with pytest.raises(TypeError):
        nc.request_async("svc.echo", "text")  # type: ignore[arg-type]
    assert nc._mux.table == {}
    nc.subscribe("x")
    nc.drain()
    with pytest.raises((ConnectionClosedError, ConnectionDrainingError)):
        nc.request_async("svc.echo")


def test_threads_and_fan_outs_share_one_client(connect: Connect) -> None:
    """8 threads of request() and 4 of request_async fan-outs: every reply is their own."""
    _echo(connect())
    nc = connect()
    errors: list[str] = []

    def sync_worker(k: int) -> None:
        for i in range(200):
            body = f"s{k}-{i}".encode()
            if nc.request("svc.echo", body, timeout=5).data != body:
                errors.append(f"sync {k} {i}")

    def fan_worker(k: int) -> None:
        for rnd in range(10):
            futs = {nc.request_async("svc.echo", f"a{k}-{rnd}-{i}".encode(), timeout=5):
                    f"a{k}-{rnd}-{i}".encode() for i in range(32)}
            for fut, body in futs.items():
                if fut.result(timeout=5).data != body:
                    errors.append(f"async {k} {rnd}")

    threads = [threading.Thread(target=sync_worker, args=(k,)) for k in range(8)]
    threads += [threading.Thread(target=fan_worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    _slots_freed(nc)


def test_threads_requesting_across_a_server_restart() -> None:
    """16 threads loop request() (and 2 request_async) while the server is killed and
    restarted: no call outlives its timeout by much, requests recover on their own,
    every reply is their own, and close() leaves no thread."""
    from natsync.testing import NatsServer

    fast = {"reconnect_time_wait": 0.05, "reconnect_jitter": 0.0, "max_reconnect_attempts": -1}
    with NatsServer() as srv:
        responder = natsync.connect(srv.url, **fast)
        nc = natsync.connect(srv.url, **fast)
        try:
            _echo(responder)
            stop = threading.Event()
            late: list[float] = []
            wrong: list[str] = []
            ok_after = [0]
            restarted = threading.Event()

            def one(k: int, i: int, use_async: bool) -> None:
                body = f"{k}-{i}".encode()
                start = time.monotonic()
                try:
                    if use_async:
                        got = nc.request_async("svc.echo", body, timeout=0.3).result(timeout=2)
                    else:
                        got = nc.request("svc.echo", body, timeout=0.3)
                except (TimeoutError, NoRespondersError, cf.TimeoutError):
                    pass
                else:
                    if got.data != body:
                        wrong.append(f"{k}-{i}")
                    if restarted.is_set():
                        ok_after[0] += 1
                took = time.monotonic() - start
                if took > 0.3 + 0.5:
                    late.append(took)

            def worker(k: int) -> None:
                for i in range(20_000):  # bounded; stopped long before
                    if stop.is_set():
                        return
                    one(k, i, use_async=k >= 16)

            threads = [threading.Thread(target=worker, args=(k,)) for k in range(18)]
            for t in threads:
                t.start()
            time.sleep(0.3)
            srv.kill()
            time.sleep(0.3)
            srv.start()
            restarted.set()
            wait_for(lambda: ok_after[0] >= 200, 15, "requests to recover after the restart")
            stop.set()
            for t in threads:
                t.join(10)
            assert not any(t.is_alive() for t in threads)
            assert wrong == []
            assert late == [], f"calls that outlived their timeout: {late[:5]}"
        finally:
            nc.close()
            responder.close()
    wait_for(lambda: not natsync_threads(), what="natsync threads to end")
