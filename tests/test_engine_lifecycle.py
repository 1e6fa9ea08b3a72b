"""The lifecycle with a fake transport that refuses, drops and accepts: no server.

The opener hands out sessions on socketpairs; a `Peer` thread plays the server on the
other end (it records what the client sends and answers PINGs unless told not to).
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from typing import Any, Iterator, Union, cast

import pytest

from natsync.engine.callbacks import Callbacks
from natsync.engine.fork import ForkGuard
from natsync.engine.lifecycle import Lifecycle
from natsync.engine.mux import ReplyMux
from natsync.engine.sender import Sender
from natsync.engine.session import Session
from natsync.engine.states import CLOSED, CONNECTED, RECONNECTING
from natsync.engine.subtable import SubTable
from natsync.engine.writer import Writer
from natsync.errors import ConnectionClosedError, NoServersError, StaleConnectionError
from natsync.msg import MsgContext
from natsync.options import Options, make_options
from natsync.protocol import Parser
from natsync.servers import Server, ServerPool, parse_url

from .conftest import natsync_threads, wait_for


class Peer:
    """The server's end of one session."""

    def __init__(self, sock: socket.socket, pong: bool = True) -> None:
        self.sock = sock
        self.pong = pong
        self.got = b""
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buf = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            self.got += data
            buf += data
            while b"PING\r\n" in buf:
                buf = buf.split(b"PING\r\n", 1)[1]
                if self.pong:
                    self.sock.sendall(b"PONG\r\n")

    def drop(self) -> None:
        """Drop the connection (FIN), as a server going away does."""
        self.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        self.sock.close()


Outcome = Union[Exception, bool]  # an error to raise, or whether the peer answers PINGs


class FakeTransport:
    """An opener: each call takes the next outcome (refuse with an error, or accept)."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        for o in outcomes:
            self.outcomes.put(o)
        self.peers: list[Peer] = []
        self.calls = 0

    def __call__(self, srv: Server, options: Options) -> Session:
        self.calls += 1
        try:
            outcome = self.outcomes.get_nowait()
        except queue.Empty:
            raise ConnectionRefusedError("no more outcomes") from None
        if isinstance(outcome, Exception):
            raise outcome
        ours, theirs = socket.socketpair()
        self.peers.append(Peer(theirs, pong=outcome))
        return Session(ours, Parser(), {"max_payload": 4096}, srv, [])

    def add(self, *outcomes: Outcome) -> None:
        for o in outcomes:
            self.outcomes.put(o)


class Engine:
    """A lifecycle and its parts, as a Client composes them (without the Client)."""

    def __init__(self, transport: FakeTransport, **opts: Any) -> None:
        options = make_options({"reconnect_time_wait": 0.01, "reconnect_jitter": 0.0, **opts})
        self.errors: list[Exception] = []
        guard = ForkGuard()
        self.writer = Writer(options.pending_size, options.flush_timeout, False)
        self.sender = Sender(self.writer, guard)
        callbacks = Callbacks(self.errors.append)

        def flush(timeout: float) -> None:
            life.flush(timeout)

        self.table = SubTable(self.writer, guard, callbacks.report_error, flush, 5.0)
        mux = ReplyMux(self.writer, self.sender, self.table.next_sid, "_INBOX")
        pool = ServerPool([parse_url("a:1"), parse_url("b:2")], randomize=False)
        life = self.life = Lifecycle(options, pool, self.writer, self.sender, self.table, mux,
                                     callbacks, guard, MsgContext(cast(Any, None),
                                                                  self.sender.respond),
                                     opener=transport)


@pytest.fixture(autouse=True)
def no_threads_left() -> Iterator[None]:
    yield
    wait_for(lambda: not natsync_threads(), 5, "the engine's threads to end")


def test_every_server_refusing_the_first_connect_raises() -> None:
    engine = Engine(FakeTransport(ConnectionRefusedError("a"), ConnectionRefusedError("b")))
    with pytest.raises(NoServersError, match="b"):
        engine.life.connect()
    assert not natsync_threads()  # no thread was started


def test_retry_on_failed_connect_keeps_trying_in_the_background() -> None:
    transport = FakeTransport(ConnectionRefusedError("a"), ConnectionRefusedError("b"),
                              ConnectionRefusedError("a again"), True)
    engine = Engine(transport, retry_on_failed_connect=True)
    engine.life.connect()
    assert engine.life.state == RECONNECTING
    engine.writer.publish(b"PUB early 0\r\n\r\n", 0)  # kept for the first session
    engine.life.flush(5)
    assert engine.life.state == CONNECTED
    assert b"PUB early 0\r\n\r\n" in transport.peers[0].got
    engine.life.close(None)
    assert engine.life.state == CLOSED


def test_a_dropped_session_is_replaced_with_subs_first_then_publications() -> None:
    transport = FakeTransport(True)
    engine = Engine(transport)
    engine.life.connect()
    engine.table.subscribe("orders.>", "", None, 0, 0, 0)
    engine.life.flush(5)
    first = transport.peers[0]
    assert first.got.startswith(b"SUB orders.> 1\r\n")
    first.drop()  # and every attempt is refused until an outcome is added
    wait_for(lambda: engine.life.state == RECONNECTING and transport.calls >= 3, 5,
             "refused reconnects")
    engine.writer.publish(b"PUB while.down 0\r\n\r\n", 0)
    transport.add(True)
    engine.life.flush(5)  # waits for the next session, then its PONG
    second = transport.peers[1]
    assert second.got.startswith(b"SUB orders.> 1\r\nPUB while.down 0\r\n\r\nPING\r\n")
    assert engine.life.reconnects == 1 and isinstance(engine.life.last_error, Exception)
    engine.life.close(None)


def test_unanswered_pings_end_the_session_as_stale() -> None:
    transport = FakeTransport(False, True)  # the first peer never answers a PING
    engine = Engine(transport, ping_interval=0.05, max_outstanding_pings=2)
    engine.life.connect()
    wait_for(lambda: engine.life.reconnects == 1, 5, "a reconnect after the stale session")
    assert isinstance(engine.life.last_error, StaleConnectionError)
    engine.life.close(None)


def test_close_confirms_with_the_server_then_fails_what_waits() -> None:
    transport = FakeTransport(True)
    engine = Engine(transport)
    engine.life.connect()
    engine.writer.publish(b"PUB last 0\r\n\r\n", 0)
    engine.life.close(None)
    assert transport.peers[0].got.endswith(b"PUB last 0\r\n\r\nPING\r\n")
    with pytest.raises(ConnectionClosedError):
        engine.life.flush(1)
    engine.life.close(None)  # idempotent


def test_closing_while_reconnecting_stops_the_attempts() -> None:
    transport = FakeTransport(True)  # then every attempt is refused (no more outcomes)
    engine = Engine(transport, reconnect_time_wait=0.05)
    engine.life.connect()
    transport.peers[0].drop()
    wait_for(lambda: transport.calls >= 3, 10, "a few refused attempts")
    start = time.monotonic()
    engine.life.close(None)
    assert time.monotonic() - start < 2
    assert engine.life.state == CLOSED
