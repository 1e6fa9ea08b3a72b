"""A session: one physical connection, from its handshake to its end.

It holds the socket and its parser, the server's INFO and max_payload, the PINGs in
flight and the waiters of their PONGs, and why it ended. A reconnect makes a new
session (handing it the flush() waiters still unanswered); nothing is reset field by
field. The waiter queue and the PING count are guarded by the engine lock (`Writer.lock`)
where a PING frame is queued with them; the reader pops PONGs without it (a deque pop is
atomic, and only the reader pops).
"""

from __future__ import annotations

import socket
from collections import deque
from typing import Any, Iterable, Optional

from ..errors import Error, StaleConnectionError
from ..protocol import PING_FRAME, Event, Parser
from ..servers import Server
from .waiter import Waiter

DEFAULT_MAX_PAYLOAD = 1024 * 1024


class Session:
    """One connected socket past its handshake, and everything that dies with it."""

    def __init__(self, sock: socket.socket, parser: Parser, info: dict[str, Any],
                 server: Server, leftover: list[Event]) -> None:
        self.sock = sock
        self.parser = parser
        self.server = server
        #: Events that arrived with the end of the handshake, for the reader to process first.
        self.leftover = leftover
        self.info = info
        self.max_payload = max_payload_of(info)
        parser.max_payload = max(parser.max_payload, self.max_payload)
        self._pongs: deque[Optional[Waiter]] = deque()  # one per PING in flight, in order
        self._pings_out = 0
        #: Why the session ended (None while it is live); set by `end` alone.
        self.ended: Optional[Exception] = None

    # --- PINGs and PONGs -----------------------------------------------------------------

    def adopt(self, waiters: Iterable[Waiter]) -> list[bytes]:
        """Take over flush() waiters from before this session; returns their PINGs."""
        live = [w for w in waiters if not w.abandoned]
        self._pongs.extend(live)
        return [PING_FRAME] * len(live)

    def add_waiter(self, waiter: Waiter) -> bytes:
        """Expect a PONG for `waiter`; returns the PING frame to queue (holds the lock)."""
        self._pongs.append(waiter)
        return PING_FRAME

    def ping(self, max_outstanding: int) -> Optional[bytes]:
        """The periodic PING to queue, or None after ending the session as stale because
        `max_outstanding` PINGs went unanswered (holds the lock)."""
        if self._pings_out >= max_outstanding:
            self.end(StaleConnectionError())
            return None
        self._pings_out += 1
        self._pongs.append(None)
        return PING_FRAME

    def pong(self) -> None:
        """A PONG arrived (reader thread): the server is alive; wake its waiter, if any."""
        self._pings_out = 0
        if self._pongs:
            waiter = self._pongs.popleft()
            if waiter is not None:
                waiter.deliver(True)

    def take_waiters(self) -> list[Waiter]:
        """Remove and return the flush() waiters still unanswered (the session ended)."""
        waiters = [w for w in self._pongs if w is not None and not w.abandoned]
        self._pongs.clear()
        return waiters

    # --- INFO ----------------------------------------------------------------------------

    def update_info(self, info: dict[str, Any]) -> None:
        """A new INFO from the server (reader thread)."""
        self.info = info
        self.max_payload = max_payload_of(info)

    # --- the end ----------------------------------------------------------------------------

    def end(self, reason: Exception) -> None:
        """End the session from any thread: keep the first reason, and shut the socket
        down so the reader's recv returns and the writer's send fails."""
        if self.ended is None:
            self.ended = reason
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    @property
    def live(self) -> bool:
        return self.ended is None

    def close(self) -> None:
        """Release the socket (after the reader has stopped reading it)."""
        self.sock.close()

    def __repr__(self) -> str:
        state = "live" if self.ended is None else f"ended: {self.ended}"
        return f"<Session {self.server.url} {state}>"


class ForcedReconnect(Error):
    """The session was ended on purpose (force_reconnect, lame duck)."""

    def __init__(self) -> None:
        super().__init__("nats: reconnect requested")


def max_payload_of(info: dict[str, Any], default: int = DEFAULT_MAX_PAYLOAD) -> int:
    """The server's max_payload (a missing or bad value falls back to the 1 MiB default)."""
    value: Optional[Any] = info.get("max_payload")
    return value if isinstance(value, int) and value > 0 else default
