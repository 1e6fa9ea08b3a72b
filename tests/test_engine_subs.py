"""The subscription table, a subscription's queue and the reply mux on their own: no server,
no socket (the writer's frames are read back from it)."""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator, Optional

import pytest

from natsync.engine.fork import ForkGuard
from natsync.engine.mux import ReplyMux
from natsync.engine.sender import Sender
from natsync.engine.subqueue import MaxMessagesReached, SubQueue, Unsubscribed
from natsync.engine.subtable import SubTable
from natsync.engine.waiter import Waiter
from natsync.engine.writer import Writer
from natsync.errors import (
    BadSubscriptionError,
    ConnectionClosedError,
    ConnectionDrainingError,
    NoRespondersError,
    TimeoutError,
)
from natsync.headers import Headers
from natsync.msg import Msg


def frames(w: Writer) -> bytes:
    """What the writer would send next (read under its lock)."""
    with w.lock:
        return b"".join(w._frames)


def make_table(flush: Any = None) -> tuple[SubTable, Writer, list[Exception]]:
    w = Writer(1 << 20, None, False)
    errors: list[Exception] = []
    table = SubTable(w, ForkGuard(), errors.append, flush or (lambda t: None), 5.0)
    return table, w, errors


def msg(data: bytes = b"x", subject: str = "s") -> Msg:
    return Msg(None, subject, "", data, None)


# --- the table ------------------------------------------------------------------------------


def test_subscribe_queues_sub_and_unsub_frames_and_resubscribes() -> None:
    table, w, _ = make_table()
    a = table.subscribe("a", "", None, 0, 0, 0)
    b = table.subscribe("b.>", "workers", None, 5, 0, 0)
    assert frames(w) == b"SUB a 1\r\nSUB b.> workers 2\r\nUNSUB 2 5\r\n"
    table.by_sid[b.sid].deliver([msg(), msg()])
    with w.lock:
        assert table.resubscribe() == [b"SUB a 1\r\n", b"SUB b.> workers 2\r\n", b"UNSUB 2 3\r\n"]
    assert (a.sid, b.sid, len(table)) == (1, 2, 2)


def test_unsubscribe_now_and_after_a_limit() -> None:
    table, w, _ = make_table()
    sub = table.subscribe("a", "", None, 0, 0, 0)
    queue = table.by_sid[sub.sid]
    queue.deliver([msg(b"1")])
    sub.unsubscribe(limit=3)
    assert sub.max_msgs == 3 and frames(w).endswith(b"UNSUB 1 3\r\n")
    sub.unsubscribe()
    assert frames(w).endswith(b"UNSUB 1\r\n") and len(table) == 0
    with pytest.raises(Unsubscribed):  # queued messages are discarded
        sub.next_msg(0)
    with pytest.raises(BadSubscriptionError):
        sub.unsubscribe()


def test_drain_flushes_then_ends_the_subscription() -> None:
    flushed: list[float] = []
    table, w, _ = make_table(flush=flushed.append)
    sub = table.subscribe("a", "", None, 0, 0, 0)
    table.by_sid[sub.sid].deliver([msg(b"kept")])
    sub.drain(timeout=2)
    assert flushed and frames(w).endswith(b"UNSUB 1\r\n")
    assert sub.next_msg(0).data == b"kept"  # still readable after a drain
    assert not sub.is_valid and len(table) == 0


def test_drain_of_the_client_refuses_new_subscriptions_and_close_ends_all() -> None:
    table, w, _ = make_table()
    sub = table.subscribe("a", "", None, 0, 0, 0)
    with w.lock:
        queues = table.start_drain()
    with pytest.raises(ConnectionDrainingError):
        table.subscribe("b", "", None, 0, 0, 0)
    assert table.end_drained(queues, time.monotonic() + 1)
    table.close()
    assert table.closed
    with pytest.raises(ConnectionClosedError):
        table.subscribe("c", "", None, 0, 0, 0)
    with pytest.raises(ConnectionClosedError):
        sub.unsubscribe()


def test_a_callback_runs_on_its_own_thread_and_close_joins_it() -> None:
    table, _, errors = make_table()
    seen: list[tuple[bytes, str]] = []

    def cb(m: Msg) -> None:
        seen.append((m.data, threading.current_thread().name))
        if m.data == b"boom":
            raise ValueError("boom")

    sub = table.subscribe("a", "", cb, 0, 0, 0)
    queue = table.by_sid[sub.sid]
    queue.deliver([msg(b"1"), msg(b"boom"), msg(b"2")])
    assert queue.wait_idle(time.monotonic() + 2)
    assert [d for d, _ in seen] == [b"1", b"boom", b"2"]
    assert {name for _, name in seen} == {f"natsync-dispatch-{sub.sid}"}
    assert [str(e) for e in errors] == ["boom"] and sub.delivered == 3
    with pytest.raises(Exception, match="callback"):
        sub.next_msg(0)
    table.close()
    assert not any(t.name == f"natsync-dispatch-{sub.sid}" for t in threading.enumerate())


# --- a queue ----------------------------------------------------------------------------------


def make_queue(max_msgs: int = 0, msgs_limit: int = 0, bytes_limit: int = 0) -> SubQueue:
    return SubQueue(1, "s", "", None, max_msgs, msgs_limit, bytes_limit, lambda e: None)


def test_pending_counts_stay_exact_while_consumers_take_without_the_lock() -> None:
    q = make_queue()
    q.deliver([msg(b"a" * n) for n in (1, 2, 3, 4)])
    assert (q.pending_bytes, len(q.msgs), q.delivered) == (10, 4, 0)
    q.msgs.popleft()
    q.msgs.popleft()
    assert (q.pending_bytes, q.delivered) == (7, 2)
    q.deliver([msg(b"b" * 5)])
    assert q.pending_bytes == 12
    for _ in range(3):
        q.msgs.popleft()
    assert (q.pending_bytes, q.delivered, q.received) == (0, 5, 5)


def test_pending_bytes_over_many_batches_trims_old_marks() -> None:
    q = make_queue()
    taken = 0
    for i in range(2000):
        q.deliver([msg(b"x" * (i % 7)), msg(b"y")])
        q.msgs.popleft()
        taken += 1
        if i % 3 == 0:
            q.msgs.popleft()
            taken += 1
    expected = sum(len(m.data) for m in q.msgs)
    assert q.pending_bytes == expected
    assert len(q._marks) <= len(q.msgs) + 2 * 256  # consumed marks do not pile up


def test_limits_drop_and_count() -> None:
    q = make_queue(msgs_limit=3, bytes_limit=10)
    dropped, first = q.deliver([msg(b"12345"), msg(b"12345"), msg(b"1")])
    assert (dropped, first) == (1, True)  # the last one would pass 10 bytes
    q.msgs.popleft()
    dropped, first = q.deliver([msg(b"1"), msg(b"1"), msg(b"1")])
    assert (dropped, first) == (1, False)  # the third would be a fourth message: same episode
    assert q.dropped == 2 and q.received == 6 and len(q.msgs) == 3 and q.pending_bytes == 7
    q.msgs.clear()
    assert q.deliver([msg()]) == (0, False)


def test_max_msgs_ends_input_after_the_last_one() -> None:
    q = make_queue(max_msgs=2)
    q.deliver([msg(b"1"), msg(b"2"), msg(b"3")])
    assert isinstance(q.ended, MaxMessagesReached) and len(q.msgs) == 2
    assert q.deliver([msg()]) == (0, False)


def test_wait_next_times_out_and_wakes_on_delivery_and_end() -> None:
    q = make_queue()
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        q.wait_next(0.1)
    assert time.monotonic() - start >= 0.09
    got: list[Optional[Msg]] = []
    t = threading.Thread(target=lambda: got.append(q.wait_next(5)))
    t.start()
    time.sleep(0.05)
    q.deliver([msg(b"late")])
    t.join(5)
    assert got[0] is not None and got[0].data == b"late"
    q.end(ConnectionClosedError())
    with pytest.raises(ConnectionClosedError):
        q.wait_next(5)


# --- the reply mux ----------------------------------------------------------------------------


MUXES: list[ReplyMux] = []


def make_mux() -> tuple[ReplyMux, Writer]:
    table, w, _ = make_table()
    mux = ReplyMux(w, Sender(w, ForkGuard()), table.next_sid, "_INBOX")
    MUXES.append(mux)
    return mux, w


@pytest.fixture(autouse=True)
def close_muxes() -> Iterator[None]:
    """Stop every mux's timer thread (started by request_async) after each test."""
    yield
    while MUXES:
        MUXES.pop().close(ConnectionClosedError())


def reply_for(mux: ReplyMux, w: Writer, data: bytes, headers: Optional[Headers] = None) -> None:
    """Answer the last request queued in the writer, as the reader would."""
    line = frames(w).rsplit(b"PUB ", 1)[1].split(b"\r\n", 1)[0]
    reply = line.split(b" ")[1].decode()
    mux.deliver(reply, Msg(None, reply, "", data, headers))


def test_the_inbox_is_subscribed_once_on_first_use() -> None:
    mux, w = make_mux()
    assert mux.sid == 0 and mux.resubscribe() == []
    mux.send(b"svc", b"1", Waiter(), None)
    mux.send(b"svc", b"2", Waiter(), None)
    data = frames(w)
    assert data.count(b"SUB _INBOX.") == 1 and data.startswith(b"SUB _INBOX.")
    assert mux.resubscribe() == [data.split(b"\r\n", 1)[0] + b"\r\n"]


def test_request_returns_the_reply_or_times_out() -> None:
    mux, w = make_mux()
    t = threading.Timer(0.05, lambda: (reply_for(mux, w, b"pong"), mux.wake_one()))
    t.start()
    assert mux.request(b"svc", "svc", b"ping", 2, None).data == b"pong"
    t.join()
    with pytest.raises(TimeoutError):
        mux.request(b"svc", "svc", b"ping", 0.05, None)
    assert mux.table == {}


def test_no_responders_fails_request_and_futures() -> None:
    mux, w = make_mux()
    status = Headers()
    status.status = 503
    future = mux.request_async(b"svc", "svc", b"", 2, None)
    reply_for(mux, w, b"", status)
    with pytest.raises(NoRespondersError):
        future.result(1)


def test_a_future_expires_and_close_fails_the_rest() -> None:
    mux, _ = make_mux()
    quick = mux.request_async(b"svc", "svc", b"", 0.05, None)
    slow = mux.request_async(b"svc", "svc", b"", None, None)
    with pytest.raises(TimeoutError):
        quick.result(2)
    many = mux.request_many(b"svc", "svc", b"", 5, None, None, None, lambda m: False)
    mux.close(ConnectionClosedError())
    with pytest.raises(ConnectionClosedError):
        slow.result(1)
    with pytest.raises(ConnectionClosedError):
        next(many)
    assert mux.table == {}


def test_answered_threads_are_woken_one_after_another() -> None:
    mux, w = make_mux()
    results: list[bytes] = []

    def ask() -> None:
        results.append(mux.request(b"svc", "svc", b"", 5, None).data)

    threads = [threading.Thread(target=ask) for _ in range(5)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while len(mux.table) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    for token, handler in list(mux.table.items()):
        handler.deliver(Msg(None, "r", "", token.encode(), None))
    assert len(mux.ready) == 5
    mux.wake_one()  # the reader passes the baton once; each woken thread passes it on
    for t in threads:
        t.join(5)
    assert sorted(results) == sorted(str(i).encode() for i in range(1, 6))


def test_a_request_keeps_its_first_reply_through_later_ones_and_close() -> None:
    """The reader leaves an answered request in the table (its thread forgets it): a
    second responder's reply, and a close() before the thread wakes, change nothing."""
    mux, w = make_mux()
    got: list[object] = []

    def ask() -> None:
        try:
            got.append(mux.request(b"svc", "svc", b"", 5, None).data)
        except Exception as exc:  # what the test is about: no error may win over the reply
            got.append(exc)

    t = threading.Thread(target=ask)
    t.start()
    deadline = time.monotonic() + 5
    while not mux.table and time.monotonic() < deadline:
        time.sleep(0.01)
    reply_for(mux, w, b"first")
    reply_for(mux, w, b"second")
    assert len(mux.ready) == 1 and len(mux.table) == 1
    mux.close(ConnectionClosedError())
    mux.wake_one()
    t.join(5)
    assert got == [b"first"] and mux.table == {}
