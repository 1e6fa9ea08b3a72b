"""The reader thread: parse what the socket gives, hand it over, never run user code.

Messages reach their subscriptions in batches (one lock per subscription per socket
read), replies go to the reply mux, PINGs are answered, INFO and -ERR are acted on. When
the connection ends, the same thread runs the reconnect loop (lifecycle.py).
"""

from __future__ import annotations

from typing import Optional

from ..debuglog import trace_received
from ..errors import (
    PermissionsError,
    ProtocolError,
    SlowConsumerError,
    StaleConnectionError,
    UnexpectedEOF,
    server_error,
)
from ..msg import Msg
from ..protocol import ERR, INFO, MSG, PING, PONG, PONG_FRAME, Event
from ..subscription import Subscription
from .handshake import Connection, max_payload_of
from .lifecycle import Lifecycle

_RECV_SIZE = 256 * 1024


class Reader(Lifecycle):
    """The inbound half of the engine. Its `self` is always a Client (the Msgs it makes
    hold their client, for respond() and acks)."""

    def _read_forever(self) -> None:
        conn = self._conn
        while not self._stopping:
            if conn is not None:
                err = self._read(conn)
                if self._stopping:
                    break
                self._lose_connection(conn, err)
                if not self.options.allow_reconnect:
                    self._close(err)
                    return
            conn = self._reconnect()
            if conn is None:
                return

    def _read(self, conn: Connection) -> Exception:
        """Read and process until the connection fails; return why it did."""
        sock = conn.sock
        feed = conn.parser.feed
        debug = self.options.debug
        mux = self._mux
        try:
            if conn.leftover:
                self._process(conn.leftover)
                conn.leftover = []
            while True:
                data = sock.recv(_RECV_SIZE)
                if not data:
                    return self._lost_error or UnexpectedEOF()
                events = feed(data)
                if debug:
                    trace_received(events)
                self._process(events)
                if mux.ready:
                    mux.wake_one()
                if self._lost_error is not None:
                    return self._lost_error
        except ProtocolError as exc:
            self._report_error(exc)
            return exc
        except _ConnectionEnded as ended:
            return ended.error
        except OSError as exc:
            return self._lost_error or exc

    def _process(self, events: list[Event]) -> None:
        """Hand a batch of events to their subscriptions and waiters, in stream order.

        Messages are grouped per subscription, and each group is delivered before any
        control event that follows it, so a PONG never completes a flush() ahead of the
        messages the server sent before it.
        """
        subs = self._subs
        batch: Optional[dict[Subscription, list[Msg]]] = None
        last: Optional[Subscription] = None  # consecutive messages usually share a sub
        group: list[Msg] = []
        nmsgs = nbytes = 0
        for ev in events:
            if ev[0] == MSG:
                sid = ev[1]
                payload = ev[4]
                nmsgs += 1
                nbytes += len(payload)
                sub = subs.get(sid)
                if sub is None:
                    if sid == self._resp_sid:
                        self._deliver_reply(ev)
                    continue
                msg = Msg(self, ev[2], ev[3], payload, ev[5])  # type: ignore[arg-type]
                if sub is last:
                    group.append(msg)
                    continue
                if batch is None:
                    batch = {}
                found = batch.get(sub)
                if found is None:
                    found = batch[sub] = []
                found.append(msg)
                last, group = sub, found
            else:
                if batch is not None:
                    self._deliver_batch(batch)
                    batch = last = None
                self._control(ev)
        if nmsgs:
            self._in_msgs += nmsgs
            self._in_bytes += nbytes
        if batch is not None:
            self._deliver_batch(batch)

    def _deliver_batch(self, batch: dict[Subscription, list[Msg]]) -> None:
        for sub, msgs in batch.items():
            dropped, new_episode = sub._deliver(msgs)
            if new_episode:
                self._report_error(SlowConsumerError(sub.subject, sub.sid, dropped))
            if sub._ended is not None:
                with self._out_lock:
                    if self._subs.get(sub.sid) is sub:
                        del self._subs[sub.sid]

    def _deliver_reply(self, ev: Event) -> None:
        subject: str = ev[2]
        msg = Msg(self, subject, ev[3], ev[4], ev[5])  # type: ignore[arg-type]  # self is the Client
        self._mux.deliver(subject[len(self._resp_prefix):], msg)

    def _control(self, ev: Event) -> None:
        op = ev[0]
        if op == PING:
            self._write(PONG_FRAME)
        elif op == PONG:
            self._pings_out = 0
            if self._pongs:
                waiter = self._pongs.popleft()
                if waiter is not None:
                    waiter.deliver(True)
        elif op == INFO:
            self._server_info = ev[1]
            self._max_payload = max_payload_of(ev[1])
            self._on_info(ev[1], initial=False)
        elif op == ERR:
            self._on_err(ev[1])

    def _on_err(self, text: str) -> None:
        self._errors_received += 1
        err = server_error(text)
        self._last_error = err
        if isinstance(err, PermissionsError):
            self._report_error(err)
            if err.operation == "subscription":
                self._end_subs_on(err)
            return
        self._report_error(err)
        if "stale connection" in text.lower():
            raise _ConnectionEnded(StaleConnectionError())
        raise _ConnectionEnded(err)

    def _end_subs_on(self, err: PermissionsError) -> None:
        with self._out_lock:
            hit = [s for s in self._subs.values() if s.subject == err.subject]
            for sub in hit:
                del self._subs[sub.sid]
        for sub in hit:
            sub._end(err, clean=False)


class _ConnectionEnded(Exception):
    """Raised inside the reader when a server -ERR ends the connection."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


