"""The reader: parse what a session's socket gives and hand it over; never run user code.

Messages reach their subscriptions in batches (one lock per subscription per socket
read), replies go to the reply mux, PINGs are answered and PONGs given to the session;
INFO and -ERR go to the lifecycle through two callbacks. `read` returns when the session
ends, with the reason; the lifecycle's thread then reconnects and calls it again.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ..debuglog import trace_received
from ..errors import (
    PermissionsError,
    ProtocolError,
    SlowConsumerError,
    StaleConnectionError,
    UnexpectedEOF,
    server_error,
)
from ..msg import Msg, MsgContext
from ..protocol import ERR, INFO, MSG, PING, PONG, PONG_FRAME, Event
from .mux import ReplyMux
from .session import Session
from .subqueue import SubQueue
from .subtable import SubTable
from .writer import Writer

_RECV_SIZE = 256 * 1024


class Reader:
    """Turns one session's bytes into deliveries; the counters of what came in."""

    def __init__(self, table: SubTable, mux: ReplyMux, writer: Writer, ctx: MsgContext,
                 report_error: Callable[[Exception], None],
                 on_info: Callable[[Session, dict[str, Any]], None],
                 on_server_error: Callable[[Exception], None], debug: bool) -> None:
        self._table = table
        self._subs = table.by_sid
        self._mux = mux
        self._writer = writer
        self._ctx = ctx
        self._report_error = report_error  # to error_cb
        self._on_info = on_info  # INFO after the handshake: cluster changes, lame duck
        self._on_server_error = on_server_error  # -ERR: recorded as last_error, reported
        self._debug = debug
        #: What came in: messages, payload bytes, and -ERRs (nats-py's counters).
        self.in_msgs = 0
        self.in_bytes = 0
        self.errors_received = 0

    def read(self, session: Session) -> Exception:
        """Read and process until the session ends; return why it did."""
        sock = session.sock
        feed = session.parser.feed
        debug = self._debug
        mux = self._mux
        try:
            if session.leftover:
                self._process(session, session.leftover)
                session.leftover = []
            while True:
                data = sock.recv(_RECV_SIZE)
                if not data:
                    return session.ended or UnexpectedEOF()
                events = feed(data)
                if debug:
                    trace_received(events)
                self._process(session, events)
                if mux.ready:
                    mux.wake_one()
                if session.ended is not None:
                    return session.ended
        except ProtocolError as exc:
            self._report_error(exc)
            return exc
        except _SessionEnded as ended:
            return ended.error
        except OSError as exc:
            return session.ended or exc

    def _process(self, session: Session, events: list[Event]) -> None:
        """Hand a batch of events to their subscriptions and waiters, in stream order.

        Messages are grouped per subscription, and each group is delivered before any
        control event that follows it, so a PONG never completes a flush() ahead of the
        messages the server sent before it.
        """
        subs = self._subs
        ctx = self._ctx
        batch: Optional[dict[SubQueue, list[Msg]]] = None
        last: Optional[SubQueue] = None  # consecutive messages usually share a sub
        group: list[Msg] = []
        nmsgs = nbytes = 0
        for ev in events:
            if ev[0] == MSG:
                _, sid, subject, reply, payload, headers = ev
                nmsgs += 1
                nbytes += len(payload)
                sub = subs.get(sid)
                if sub is last and sub is not None:
                    group.append(Msg(ctx, subject, reply, payload, headers))
                    continue
                if sub is None:
                    if sid == self._mux.sid:
                        self._mux.deliver(subject, Msg(ctx, subject, reply, payload, headers))
                    continue
                msg = Msg(ctx, subject, reply, payload, headers)
                if batch is None:
                    batch = {}
                found = batch.get(sub)
                if found is None:
                    found = batch[sub] = []
                found.append(msg)
                last, group = sub, found
            else:  # counted, then delivered, before the control event can wake anyone
                if nmsgs:
                    self.in_msgs += nmsgs
                    self.in_bytes += nbytes
                    nmsgs = nbytes = 0
                if batch is not None:
                    self._deliver(batch)
                    batch = last = None
                self._control(session, ev)
        if nmsgs:
            self.in_msgs += nmsgs
            self.in_bytes += nbytes
        if batch is not None:
            self._deliver(batch)

    def _deliver(self, batch: dict[SubQueue, list[Msg]]) -> None:
        for sub, msgs in batch.items():
            dropped, new_episode = sub.deliver(msgs)
            if new_episode:
                self._report_error(SlowConsumerError(sub.subject, sub.sid, dropped))
            if sub.ended is not None:
                self._table.remove(sub)

    def _control(self, session: Session, ev: Event) -> None:
        op = ev[0]
        if op == PING:
            self._writer.control(PONG_FRAME)
        elif op == PONG:
            session.pong()
        elif op == INFO:
            session.update_info(ev[1])
            self._on_info(session, ev[1])
        elif op == ERR:
            self._server_error(ev[1])

    def _server_error(self, text: str) -> None:
        """-ERR: a refused subscription ends only that subscription; anything else ends
        the session."""
        self.errors_received += 1
        err = server_error(text)
        self._on_server_error(err)
        if isinstance(err, PermissionsError):
            if err.operation == "subscription":
                self._table.end_denied(err)
            return
        if "stale connection" in text.lower():
            raise _SessionEnded(StaleConnectionError())
        raise _SessionEnded(err)


class _SessionEnded(Exception):
    """Raised inside the reader when a server -ERR ends the session."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error
