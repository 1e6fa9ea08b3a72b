"""Core messaging against a real nats-server: pub/sub, queues, request/reply, headers, drain."""

from __future__ import annotations

import os
import threading
import time
from typing import Callable

import pytest

import natsync
from natsync import Headers
from natsync.errors import (
    BadSubjectError,
    BadSubscriptionError,
    ConnectionClosedError,
    ConnectionDrainingError,
    MaxPayloadError,
    NoRespondersError,
    NoServersError,
    SlowConsumerError,
    TimeoutError,
)
from natsync.testing import NatsServer

from .conftest import natsync_threads, wait_for

Connect = Callable[..., natsync.Client]


def test_connect_reports_server_and_state(client: natsync.Client, shared_server: NatsServer) -> None:
    assert client.is_connected and not client.is_closed and not client.is_reconnecting
    assert client.connected_url == shared_server.url
    assert client.server_info["port"] == shared_server.port
    assert client.max_payload == 1024 * 1024
    assert isinstance(client.client_id, int)
    assert client.state == "CONNECTED"


def test_connect_uses_nats_url_env(shared_server: NatsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", shared_server.url)
    with natsync.connect() as nc:
        assert nc.connected_url == shared_server.url


def test_connect_refused_raises_no_servers() -> None:
    from natsync.testing import free_port

    with pytest.raises(NoServersError):
        natsync.connect(f"nats://127.0.0.1:{free_port()}", connect_timeout=0.5)
    assert not natsync_threads()


def test_unknown_option_is_named() -> None:
    with pytest.raises(TypeError, match="reconect_time_wait"):
        natsync.connect("nats://127.0.0.1:1", reconect_time_wait=1)


def test_pub_sub_next_msg(client: natsync.Client) -> None:
    sub = client.subscribe("greet.*")
    client.publish("greet.joe", b"hello")
    client.publish("greet.ann", bytearray(b"hi"))
    client.publish("greet.bob", memoryview(b"hey"))
    got = [sub.next_msg(2) for _ in range(3)]
    assert [(m.subject, m.data) for m in got] == [
        ("greet.joe", b"hello"), ("greet.ann", b"hi"), ("greet.bob", b"hey")]
    assert sub.delivered == 3 and sub.pending_msgs == 0
    with pytest.raises(TimeoutError):
        sub.next_msg(0.05)


def test_natsync_timeout_is_builtin_timeout(client: natsync.Client) -> None:
    sub = client.subscribe("nothing.here")
    import builtins

    with pytest.raises(builtins.TimeoutError):
        sub.next_msg(0.01)


def test_order_is_kept_for_many_messages(client: natsync.Client) -> None:
    sub = client.subscribe("seq")
    for i in range(5000):
        client.publish("seq", str(i).encode())
    client.flush()
    assert [int(sub.next_msg(2).data) for _ in range(5000)] == list(range(5000))


def test_callback_subscription_runs_on_its_own_thread(client: natsync.Client) -> None:
    seen: list[tuple[bytes, str]] = []
    done = threading.Event()

    def cb(msg: natsync.Msg) -> None:
        seen.append((msg.data, threading.current_thread().name))
        if len(seen) == 3:
            done.set()

    client.subscribe("cb.test", cb=cb)
    for i in range(3):
        client.publish("cb.test", b"%d" % i)
    assert done.wait(5)
    assert [d for d, _ in seen] == [b"0", b"1", b"2"]
    assert all(name.startswith("natsync-dispatch-") for _, name in seen)


def test_callback_exception_goes_to_error_cb_and_delivery_continues(connect: Connect) -> None:
    errors: list[BaseException] = []
    nc = connect(error_cb=errors.append)
    got: list[bytes] = []

    def cb(msg: natsync.Msg) -> None:
        if msg.data == b"boom":
            raise ValueError("handler failed")
        got.append(msg.data)

    nc.subscribe("cb.err", cb=cb)
    for data in (b"a", b"boom", b"b"):
        nc.publish("cb.err", data)
    wait_for(lambda: got == [b"a", b"b"] and len(errors) == 1)
    assert isinstance(errors[0], ValueError)


def test_queue_group_spreads_messages(connect: Connect) -> None:
    nc = connect()
    a = nc.subscribe("work", queue="workers")
    b = nc.subscribe("work", queue="workers")
    other = connect()
    for i in range(200):
        other.publish("work", b"%d" % i)
    other.flush()
    nc.flush()
    wait_for(lambda: a.pending_msgs + b.pending_msgs == 200)
    assert a.pending_msgs > 0 and b.pending_msgs > 0


def test_headers_round_trip(client: natsync.Client) -> None:
    sub = client.subscribe("hdr")
    h = Headers()
    h.add("Trace-Id", "abc")
    h.add("X-Multi", "1")
    h.add("X-Multi", "2")
    client.publish("hdr", b"body", headers=h)
    client.publish("hdr", b"", headers={"plain": "dict"})
    m1, m2 = sub.next_msg(2), sub.next_msg(2)
    assert m1.data == b"body"
    assert m1.headers is not None and m1.headers["trace-id"] == "abc"
    assert m1.headers.get_all("x-multi") == ["1", "2"]
    assert m2.headers == {"plain": "dict"} and m2.data == b""


def test_request_reply(connect: Connect) -> None:
    responder = connect()
    responder.subscribe("svc.echo", cb=lambda m: m.respond(b"echo:" + m.data, headers={"k": "v"}))
    responder.flush()
    nc = connect()
    reply = nc.request("svc.echo", b"ping", timeout=2)
    assert reply.data == b"echo:ping"
    assert reply.headers is not None and reply.headers["k"] == "v"


def test_request_no_responders_is_immediate(client: natsync.Client) -> None:
    start = time.monotonic()
    with pytest.raises(NoRespondersError, match="nobody.home"):
        client.request("nobody.home", b"?", timeout=5)
    assert time.monotonic() - start < 2


def test_request_timeout(client: natsync.Client) -> None:
    client.subscribe("slow.svc")  # subscribed, never answers
    client.flush()
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        client.request("slow.svc", b"?", timeout=0.2)
    assert 0.15 < time.monotonic() - start < 2


def test_request_many_stops_on_max_stall_and_sentinel(connect: Connect) -> None:
    for i in range(3):
        connect().subscribe("scatter", cb=lambda m, i=i: m.respond(b"r%d" % i))
    nc = connect()
    nc.flush()
    time.sleep(0.05)
    replies = list(nc.request_many("scatter", b"", timeout=2, stall=0.3))
    assert sorted(m.data for m in replies) == [b"r0", b"r1", b"r2"]
    assert len(list(nc.request_many("scatter", b"", timeout=2, max_msgs=2))) == 2

    def streamer(m: natsync.Msg) -> None:
        for chunk in (b"a", b"b", b""):
            m.respond(chunk)

    connect().subscribe("stream", cb=streamer)
    nc.flush()
    time.sleep(0.05)
    assert [m.data for m in nc.request_many("stream", timeout=2)] == [b"a", b"b"]
    with pytest.raises(NoRespondersError):
        list(nc.request_many("nobody.at.all", timeout=1))


def test_thirty_two_threads_of_requests_match_their_replies(connect: Connect) -> None:
    responder = connect()
    responder.subscribe("calc.double", cb=lambda m: m.respond(str(int(m.data) * 2).encode()))
    responder.flush()
    nc = connect()
    failures: list[str] = []

    def worker(n: int) -> None:
        for i in range(500):
            value = n * 1000 + i
            reply = nc.request("calc.double", str(value).encode(), timeout=10)
            if int(reply.data) != value * 2:
                failures.append(f"{value}: {reply.data!r}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    assert nc.stats["in_msgs"] == 32 * 500


def test_subjects_and_payloads_are_validated(client: natsync.Client) -> None:
    for bad in ("", "a..b", "a b", ".a", "a.", "a.*", "a.>"):
        with pytest.raises(BadSubjectError):
            client.publish(bad, b"")
    for bad in ("", "a..b", "a >", "a.>.b"):
        with pytest.raises(BadSubjectError):
            client.subscribe(bad)
    with pytest.raises(BadSubjectError):
        client.subscribe("ok", queue="bad queue")
    with pytest.raises(TypeError, match="encode"):
        client.publish("ok", "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.publish("ok", 12)  # type: ignore[arg-type]


def test_max_payload_is_checked_before_sending(client: natsync.Client) -> None:
    sub = client.subscribe("big")
    with pytest.raises(MaxPayloadError):
        client.publish("big", b"x" * (client.max_payload + 1))
    with pytest.raises(MaxPayloadError):
        client.publish("big", b"x" * (client.max_payload - 2), headers={"a": "b"})
    client.publish("big", b"x" * client.max_payload)
    assert len(sub.next_msg(5).data) == client.max_payload
    assert client.is_connected


def test_auto_unsubscribe_after_max_msgs(client: natsync.Client) -> None:
    sub = client.subscribe("limited", max_msgs=3)
    for i in range(10):
        client.publish("limited", b"%d" % i)
    client.flush()
    assert [m.data for m in sub] == [b"0", b"1", b"2"]
    assert not sub.is_valid


def test_unsubscribe_with_limit(client: natsync.Client) -> None:
    sub = client.subscribe("later")
    client.publish("later", b"1")
    client.flush()
    sub.unsubscribe(limit=3)
    for _ in range(5):
        client.publish("later", b"x")
    client.flush()
    assert len(list(sub)) == 3


def test_unsubscribe_ends_iteration_and_discards(client: natsync.Client) -> None:
    sub = client.subscribe("gone")
    client.publish("gone", b"1")
    client.flush()
    results: list[object] = []
    t = threading.Thread(target=lambda: results.extend(m.data for m in sub))
    sub.unsubscribe()
    t.start()
    t.join(5)
    assert not t.is_alive() and results == []
    with pytest.raises(BadSubscriptionError):
        sub.unsubscribe()
    with pytest.raises(BadSubscriptionError):
        sub.next_msg(0.1)


def test_blocked_next_msg_wakes_on_close(connect: Connect) -> None:
    nc = connect()
    sub = nc.subscribe("wake")
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            sub.next_msg(timeout=None)
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.1)
    nc.close()
    t.join(2)
    assert not t.is_alive()
    assert isinstance(outcome[0], ConnectionClosedError)


def test_blocked_request_wakes_on_close(connect: Connect) -> None:
    nc = connect()
    nc.subscribe("never.answers")
    nc.flush()
    outcome: list[BaseException] = []
    t = threading.Thread(target=lambda: _capture(outcome, lambda: nc.request("never.answers", timeout=30)))
    t.start()
    time.sleep(0.1)
    start = time.monotonic()
    nc.close()
    t.join(5)
    assert time.monotonic() - start < 5
    assert isinstance(outcome[0], ConnectionClosedError)


def _capture(out: list[BaseException], fn: Callable[[], object]) -> None:
    try:
        fn()
    except BaseException as exc:
        out.append(exc)


def test_slow_consumer_drops_and_reports_once_per_episode(connect: Connect) -> None:
    errors: list[BaseException] = []
    nc = connect(error_cb=errors.append)
    slow = nc.subscribe("flood", pending_msgs_limit=10)
    fine = nc.subscribe("flood")
    pub = connect()
    for i in range(100):
        pub.publish("flood", b"%d" % i)
    pub.flush()
    nc.flush()
    wait_for(lambda: fine.pending_msgs == 100)
    wait_for(lambda: slow.dropped == 90)
    assert slow.pending_msgs == 10
    assert [m.data for m in (slow.next_msg(1) for _ in range(10))] == [b"%d" % i for i in range(10)]
    wait_for(lambda: len(errors) >= 1)
    slow_errors = [e for e in errors if isinstance(e, SlowConsumerError)]
    assert len(slow_errors) == 1 and slow_errors[0].subject == "flood"
    assert nc.is_connected


def test_pending_bytes_limit(connect: Connect) -> None:
    nc = connect(error_cb=lambda e: None)
    sub = nc.subscribe("bytes", pending_bytes_limit=1000)
    for _ in range(20):
        nc.publish("bytes", b"x" * 100)
    nc.flush()
    wait_for(lambda: sub.pending_msgs + sub.dropped == 20)
    assert sub.pending_msgs == 10 and sub.pending_bytes == 1000 and sub.dropped == 10


def test_pending_counts_stay_exact_as_messages_are_taken(connect: Connect) -> None:
    nc = connect(error_cb=lambda e: None)
    sub = nc.subscribe("sizes", pending_bytes_limit=3000)
    sizes = [(i * 37) % 250 for i in range(40)]  # 4,860 bytes in all; empty payloads too
    for i, size in enumerate(sizes):
        nc.publish("sizes", bytes([i]) * size)
    nc.flush()
    wait_for(lambda: sub.pending_msgs + sub.dropped == 40)
    kept: list[int] = []  # a message is dropped when it would not fit, later ones may
    for size in sizes:
        if sum(kept) + size <= 3000:
            kept.append(size)
    assert sub.pending_msgs == len(kept) and sub.dropped == 40 - len(kept)
    assert sub.pending_bytes == sum(kept) and sub.delivered == 0
    for taken in range(1, len(kept) + 1):
        assert len(sub.next_msg(1).data) == kept[taken - 1]
        assert sub.pending_bytes == sum(kept[taken:]) and sub.delivered == taken
    # Room again: the limit is measured from what is still queued, not from all-time totals.
    nc.publish("sizes", b"y" * 3000)
    nc.flush()
    assert sub.next_msg(1).data == b"y" * 3000 and sub.pending_bytes == 0


def test_many_threads_take_from_one_subscription_exactly_once(connect: Connect) -> None:
    nc = connect()
    sub = nc.subscribe("shared")
    total, got, lock = 20_000, [], threading.Lock()

    def take() -> None:
        mine = []
        try:
            while True:
                mine.append(int(sub.next_msg(timeout=2).data))
        except natsync.errors.TimeoutError:
            with lock:
                got.extend(mine)

    takers = [threading.Thread(target=take) for _ in range(4)]
    for t in takers:
        t.start()
    for i in range(total):
        nc.publish("shared", b"%d" % i)
    nc.flush()
    for t in takers:
        t.join(30)
    assert sorted(got) == list(range(total))
    assert sub.delivered == total and sub.pending_msgs == 0 and sub.pending_bytes == 0


def test_unsubscribe_discards_queued_messages_without_counting_them(connect: Connect) -> None:
    nc = connect()
    sub = nc.subscribe("gone")
    for _ in range(10):
        nc.publish("gone", b"abc")
    nc.flush()
    wait_for(lambda: sub.pending_msgs == 10)
    sub.next_msg(1)
    sub.unsubscribe()
    assert sub.delivered == 1 and sub.pending_msgs == 0 and sub.pending_bytes == 0


def test_flush_and_rtt(client: natsync.Client) -> None:
    client.publish("x", b"1")
    client.flush(timeout=2)
    assert 0 < client.rtt() < 1


def test_stats_count_messages(client: natsync.Client) -> None:
    sub = client.subscribe("count")
    for _ in range(5):
        client.publish("count", b"abcd")
    client.flush()
    wait_for(lambda: sub.pending_msgs == 5)
    stats = client.stats
    assert stats["out_msgs"] == 5 and stats["out_bytes"] == 20
    assert stats["in_msgs"] == 5 and stats["in_bytes"] == 20


def test_subscription_drain_delivers_everything_to_callback(connect: Connect) -> None:
    nc = connect()
    got: list[bytes] = []

    def slow_cb(msg: natsync.Msg) -> None:
        time.sleep(0.001)
        got.append(msg.data)

    sub = nc.subscribe("drain.sub", cb=slow_cb)
    pub = connect()
    for i in range(300):
        pub.publish("drain.sub", b"%d" % i)
    pub.flush()
    nc.flush()
    sub.drain()
    assert got == [b"%d" % i for i in range(300)]
    pub.publish("drain.sub", b"late")
    pub.flush()
    time.sleep(0.05)
    assert len(got) == 300


def test_connection_drain_then_closed(connect: Connect) -> None:
    closed = threading.Event()
    nc = connect(closed_cb=closed.set)
    got: list[bytes] = []
    nc.subscribe("drain.conn", cb=lambda m: (time.sleep(0.002), got.append(m.data)))
    sync_sub = nc.subscribe("drain.sync")
    pub = connect()
    for i in range(100):
        pub.publish("drain.conn", b"%d" % i)
        pub.publish("drain.sync", b"%d" % i)
    pub.flush()
    nc.flush()
    nc.drain()
    assert nc.is_closed and closed.wait(2)
    assert len(got) == 100
    # What the sync subscription had received stays readable after the close.
    assert [m.data for m in sync_sub] == [b"%d" % i for i in range(100)]
    with pytest.raises(ConnectionClosedError):
        nc.publish("x", b"")
    with pytest.raises(ConnectionClosedError):
        nc.subscribe("x")


def test_draining_refuses_new_work(connect: Connect) -> None:
    nc = connect()
    started = threading.Event()
    release = threading.Event()

    def blocking_cb(msg: natsync.Msg) -> None:
        started.set()
        release.wait(5)

    nc.subscribe("block", cb=blocking_cb)
    nc.publish("block", b"")
    assert started.wait(5)
    t = threading.Thread(target=nc.drain)
    t.start()
    wait_for(lambda: nc.is_draining)
    with pytest.raises(ConnectionDrainingError):
        nc.subscribe("new")
    with pytest.raises(ConnectionDrainingError):
        nc.request("x", b"")
    release.set()
    t.join(10)
    assert nc.is_closed


def test_context_manager_drains_and_every_thread_ends(shared_server: NatsServer) -> None:
    with natsync.connect(shared_server.url) as nc:
        nc.subscribe("ctx", cb=lambda m: None)
        with nc.subscribe("ctx2") as sub:
            nc.publish("ctx2", b"1")
            assert sub.next_msg(2).data == b"1"
        assert not sub.is_valid
    assert nc.is_closed
    wait_for(lambda: not natsync_threads(), 2, "natsync threads to end")


def test_close_is_idempotent_and_closed_cb_runs_once(shared_server: NatsServer) -> None:
    calls: list[int] = []
    nc = natsync.connect(shared_server.url, closed_cb=lambda: calls.append(1))
    nc.close()
    nc.close()
    assert calls == [1]
    assert not natsync_threads()


def test_close_from_inside_a_callback(connect: Connect) -> None:
    nc = connect()
    done = threading.Event()

    def cb(msg: natsync.Msg) -> None:
        nc.close()
        done.set()

    nc.subscribe("suicide", cb=cb)
    nc.publish("suicide", b"")
    assert done.wait(5)
    assert nc.is_closed
    wait_for(lambda: not natsync_threads(), 5, "threads to end")


def test_server_pings_are_answered_while_flush_waits(connect: Connect) -> None:
    # The server PINGs every 100 ms; a client that does not answer is disconnected.
    with NatsServer(config={"ping_interval": "100ms", "ping_max": 1}) as srv:
        nc = natsync.connect(srv.url)
        try:
            for _ in range(10):
                nc.flush(1)
                time.sleep(0.05)
            assert nc.is_connected and nc.stats["reconnects"] == 0
        finally:
            nc.close()


def test_publish_backpressure_keeps_memory_bounded(connect: Connect) -> None:
    nc = connect(pending_size=64 * 1024)
    payload = b"x" * 1000
    for _ in range(5000):
        nc.publish("bp", payload)
        assert nc._writer.buffered <= 64 * 1024 + 1100
    nc.flush()


def test_fork_gives_clear_error(client: natsync.Client) -> None:
    if not hasattr(os, "fork"):
        pytest.fail("this platform has no fork")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must refuse, not corrupt the parent's stream
        code = 1
        try:
            client.publish("fork", b"x")
        except natsync.errors.ForkError:
            code = 0
        except BaseException:
            code = 2
        os.write(w, bytes([code]))
        os._exit(0)
    os.close(w)
    result = os.read(r, 1)
    os.waitpid(pid, 0)
    os.close(r)
    assert result == b"\x00"
    sub = client.subscribe("after.fork")
    client.publish("after.fork", b"ok")
    assert sub.next_msg(2).data == b"ok"


def test_msg_repr_is_readable(client: natsync.Client) -> None:
    sub = client.subscribe("repr")
    client.publish("repr", b"x" * 200, headers={"a": "b"})
    text = repr(sub.next_msg(2))
    assert text.startswith("<Msg subject='repr'") and "..." in text and "headers" in text
    assert "CONNECTED" in repr(client)


def test_respond_without_reply_subject_raises(client: natsync.Client) -> None:
    sub = client.subscribe("noreply")
    client.publish("noreply", b"")
    msg = sub.next_msg(2)
    with pytest.raises(natsync.errors.NoReplySubjectError):
        msg.respond(b"x")


class _SlowSendSocket:
    """A socket stand-in whose send() takes a while, to hold a write in progress."""

    def __init__(self, sock: object, delay: float) -> None:
        self._sock = sock
        self._delay = delay

    def send(self, data: bytes) -> int:
        time.sleep(self._delay)
        return self._sock.send(data)  # type: ignore[attr-defined, no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


def test_close_is_prompt_while_a_request_is_writing(shared_server: NatsServer) -> None:
    nc = natsync.connect(shared_server.url)
    nc.subscribe("busy.svc", cb=lambda m: m.respond(b"ok"))
    nc.flush()
    nc._writer._sock = _SlowSendSocket(nc._writer._sock, 0.5)  # type: ignore[assignment]
    outcome: list[BaseException] = []
    t = threading.Thread(target=lambda: _capture(outcome, lambda: nc.request("busy.svc", timeout=3)))
    t.start()
    wait_for(lambda: nc._writer._sending, 2, "the request's own write to start")
    start = time.monotonic()
    nc.close()  # the flusher must not sleep on after the request's write ends
    elapsed = time.monotonic() - start
    t.join(5)
    assert elapsed < 2, f"close() took {elapsed:.2f}s"
    assert not natsync_threads()


def test_a_client_composes_its_parts_rather_than_holding_their_state(client: natsync.Client) -> None:
    """The Client holds its parts (writer, table, mux, lifecycle...), not their fields."""
    client.subscribe("parts")
    client.request_async("parts.none", b"", timeout=0.1)
    assert len(vars(client)) <= 15, sorted(vars(client))
