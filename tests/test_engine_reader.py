"""A session and the reader fed bytes over a socketpair, with a real subscription table and
reply mux: no server."""

from __future__ import annotations

import socket
import threading
from typing import Any, Iterator, Optional, cast

import pytest

from natsync.engine.fork import ForkGuard
from natsync.engine.mux import ReplyMux
from natsync.engine.reader import Reader
from natsync.engine.sender import Sender
from natsync.engine.session import Session
from natsync.engine.subtable import SubTable
from natsync.engine.waiter import Waiter
from natsync.engine.writer import Writer
from natsync.errors import (
    PermissionsError,
    ProtocolError,
    SlowConsumerError,
    StaleConnectionError,
    UnexpectedEOF,
)
from natsync.msg import MsgContext
from natsync.protocol import Parser
from natsync.servers import parse_url


class Rig:
    """A reader with its parts, reading one session whose peer end the test writes to."""

    def __init__(self) -> None:
        self.ours, self.peer = socket.socketpair()
        self.writer = Writer(1 << 20, None, False)
        self.errors: list[Exception] = []
        self.server_errors: list[Exception] = []
        self.infos: list[dict[str, Any]] = []
        guard = ForkGuard()
        self.table = SubTable(self.writer, guard, self.errors.append, lambda t: None, 5.0)
        sender = Sender(self.writer, guard)
        self.mux = ReplyMux(self.writer, sender, self.table.next_sid, "_INBOX")
        ctx = MsgContext(cast(Any, None), sender.respond)
        self.reader = Reader(self.table, self.mux, self.writer, ctx, self.errors.append,
                             lambda s, info: self.infos.append(info), self.server_errors.append,
                             debug=False)
        self.session = Session(self.ours, Parser(), {"max_payload": 1024}, parse_url("x:1"), [])
        self.ended: Optional[Exception] = None
        self.thread = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        self.ended = self.reader.read(self.session)

    def start(self) -> Rig:
        self.thread.start()
        return self

    def send(self, data: bytes, pieces: int = 1) -> None:
        """Write `data` to the reader, split into `pieces` writes."""
        step = max(1, len(data) // pieces)
        for i in range(0, len(data), step):
            self.peer.sendall(data[i:i + step])

    def finish(self) -> Exception:
        self.thread.join(5)
        assert not self.thread.is_alive()
        assert self.ended is not None
        return self.ended

    def close(self) -> None:
        self.peer.close()
        self.thread.join(5)
        self.ours.close()


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    yield r
    r.close()


@pytest.mark.parametrize("pieces", [1, 7, 1000])
def test_messages_reach_their_subscriptions_in_order(rig: Rig, pieces: int) -> None:
    a = rig.table.subscribe("a.*", "", None, 0, 0, 0)
    b = rig.table.subscribe("b", "", None, 0, 0, 0)
    rig.start()
    stream = b"".join(b"MSG a.%d %d %d\r\n%d\r\n" % (i, a.sid, len(str(i)), i) for i in range(50))
    stream += b"HMSG b %d r.1 18 20\r\nNATS/1.0\r\nK: v\r\n\r\nhi\r\n" % b.sid
    rig.send(stream, pieces)
    got = [a.next_msg(2) for _ in range(50)]
    assert [m.data for m in got] == [str(i).encode() for i in range(50)]
    assert got[7].subject == "a.7"
    h = b.next_msg(2)
    assert (h.data, h.reply, h.headers["K"]) == (b"hi", "r.1", "v")
    assert rig.reader.in_msgs == 51 and rig.reader.in_bytes == sum(len(str(i)) for i in range(50)) + 2


def test_ping_is_answered_and_pong_wakes_its_waiter(rig: Rig) -> None:
    waiter = Waiter()
    with rig.writer.lock:
        rig.session.add_waiter(waiter)
    rig.start()
    rig.send(b"PING\r\nPONG\r\n")
    assert waiter.wait(2) and waiter.value is True
    assert rig.writer.buffered == len(b"PONG\r\n")  # queued for the (unattached) writer


def test_replies_go_to_the_mux(rig: Rig) -> None:
    rig.mux._subscribe_inbox()  # what the first request does
    waiter = Waiter()
    token = rig.mux.register(waiter)
    rig.start()
    prefix = rig.mux.resubscribe()[0].split(b" ")[1][:-1]  # "SUB <prefix>* <sid>"
    rig.send(b"MSG %b%b %d 2\r\nok\r\n" % (prefix, token.encode(), rig.mux.sid))
    assert waiter.wait(2) and waiter.value.data == b"ok"
    # The reader drops the token just after waking the waiter (a free-threaded build runs
    # this thread meanwhile): wait for it, bounded.
    for _ in range(200):
        if token not in rig.mux.table:
            break
        threading.Event().wait(0.01)
    assert token not in rig.mux.table


def test_info_updates_the_session_and_is_reported(rig: Rig) -> None:
    rig.start()
    rig.send(b'INFO {"max_payload": 2048, "connect_urls": ["h:1"]}\r\nPING\r\n')
    threading.Event().wait(0.2)
    assert rig.session.max_payload == 2048
    assert rig.infos == [{"max_payload": 2048, "connect_urls": ["h:1"]}]


def test_a_refused_subscription_ends_only_that_one(rig: Rig) -> None:
    denied = rig.table.subscribe("secret", "", None, 0, 0, 0)
    other = rig.table.subscribe("open", "", None, 0, 0, 0)
    rig.start()
    rig.send(b"-ERR 'Permissions Violation for Subscription to \"secret\"'\r\n"
             b"MSG open %d 1\r\nx\r\n" % other.sid)
    assert other.next_msg(2).data == b"x"
    with pytest.raises(PermissionsError):
        denied.next_msg(1)
    assert not denied.is_valid and other.is_valid
    assert isinstance(rig.server_errors[0], PermissionsError)


def test_a_server_error_ends_the_session(rig: Rig) -> None:
    rig.start()
    rig.send(b"-ERR 'Stale Connection'\r\n")
    assert isinstance(rig.finish(), StaleConnectionError)
    assert rig.reader.errors_received == 1


def test_garbage_is_a_protocol_error(rig: Rig) -> None:
    rig.start()
    rig.send(b"NONSENSE\r\n")
    assert isinstance(rig.finish(), ProtocolError)
    assert isinstance(rig.errors[0], ProtocolError)


def test_eof_ends_the_session_and_end_gives_its_reason(rig: Rig) -> None:
    rig.start()
    rig.peer.shutdown(socket.SHUT_WR)
    assert isinstance(rig.finish(), UnexpectedEOF)
    other = Rig().start()
    other.session.end(StaleConnectionError())  # from another thread: the reader wakes
    assert isinstance(other.finish(), StaleConnectionError)
    other.close()


def test_slow_consumer_is_reported_once_per_episode(rig: Rig) -> None:
    sub = rig.table.subscribe("s", "", None, 0, 2, 0)
    rig.start()
    rig.send(b"".join(b"MSG s %d 1\r\nx\r\n" % sub.sid for _ in range(5)))
    rig.send(b"PING\r\n")
    threading.Event().wait(0.2)
    assert sub.dropped == 3 and sub.pending_msgs == 2
    assert [type(e) for e in rig.errors] == [SlowConsumerError]


def test_max_msgs_removes_the_subscription_from_the_table(rig: Rig) -> None:
    sub = rig.table.subscribe("m", "", None, 2, 0, 0)
    rig.start()
    rig.send(b"".join(b"MSG m %d 1\r\nx\r\n" % sub.sid for _ in range(3)))
    assert [sub.next_msg(2).data for _ in range(2)] == [b"x", b"x"]
    assert len(rig.table) == 0 and not sub.is_valid


def test_session_pings_until_stale() -> None:
    a, b = socket.socketpair()
    try:
        s = Session(a, Parser(), {}, parse_url("x:1"), [])
        assert s.ping(2) == b"PING\r\n" and s.ping(2) == b"PING\r\n"
        assert s.ping(2) is None and isinstance(s.ended, StaleConnectionError)
        assert b.recv(10) == b""  # the socket was shut down
    finally:
        a.close()
        b.close()


def test_session_hands_unanswered_waiters_to_the_next() -> None:
    a, b = socket.socketpair()
    try:
        old = Session(a, Parser(), {}, parse_url("x:1"), [])
        kept, gave_up = Waiter(), Waiter()
        old.add_waiter(kept)
        old.ping(5)  # the timer's PING has no waiter: not carried over
        old.add_waiter(gave_up)
        gave_up.abandoned = True
        new = Session(b, Parser(), {}, parse_url("x:1"), [])
        assert new.adopt(old.take_waiters()) == [b"PING\r\n"]
        new.pong()
        assert kept.wait(0) and kept.value is True
    finally:
        a.close()
        b.close()
