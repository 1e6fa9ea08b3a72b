"""The outbound buffer and its writers: many publishers append, one thread at a time sends.

Publishers append whole frames under one lock (`_out_lock`, which also guards the
subscription table and the connection state, so a reconnect can rebuild the buffer
atomically). Whoever holds the `_sending` token writes: the flusher thread, or a lone
request()/respond() inline, saving a thread hop. A write cut mid-frame is put back from
the frame's start. Backpressure: past `pending_size` bytes a publisher waits (up to
`flush_timeout`) for the writer, or fails at once while disconnected.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from typing import Optional

from ..debuglog import trace_sent
from ..errors import ConnectionClosedError, MaxPayloadError, OutboundBufferLimitError, TimeoutError
from ..headers import HeadersLike, encode_headers
from ..options import Options
from ..protocol import frame_start
from .mux import Waiter
from .states import CLOSED, CONNECTING


class Outbound:
    """The outbound half of the engine; the lifecycle below the Client drives it."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self._state = CONNECTING
        self._sock: Optional[socket.socket] = None   # the socket writes go to, None when down
        self._max_payload = 1024 * 1024
        self._out = bytearray()
        self._pending_size = options.pending_size
        self._out_lock = threading.Lock()
        self._data_cond = threading.Condition(self._out_lock)   # the flusher waits here
        self._room_cond = threading.Condition(self._out_lock)   # publishers and reconnects
        self._flusher_idle = False
        self._room_waiters = 0
        self._sending = False
        self._stopping = False
        self._pongs: deque[Optional[Waiter]] = deque()  # one per PING in flight, in order
        self._pings_out = 0
        self._out_msgs = self._out_bytes = 0

    # --- provided by the lifecycle ---------------------------------------------------

    def _ping_due(self) -> None:
        """Send the periodic PING or declare the connection stale (holds `_out_lock`)."""
        raise NotImplementedError

    def _lose_socket(self, sock: Optional[socket.socket], err: Optional[Exception]) -> None:
        """End the connection `sock` belongs to, because writing to it failed."""
        raise NotImplementedError

    # --- the flusher thread and the writers -------------------------------------------

    def _flush_forever(self) -> None:
        interval = self.options.ping_interval
        next_ping = time.monotonic() + interval
        while True:
            with self._out_lock:
                while not self._out or self._sock is None or self._sending:
                    if self._stopping and not self._sending:
                        self._room_cond.notify_all()
                        return
                    self._flusher_idle = True
                    self._data_cond.wait(max(0.0, next_ping - time.monotonic()))
                    self._flusher_idle = False
                    if time.monotonic() >= next_ping:
                        next_ping = time.monotonic() + interval
                        self._ping_due()
                data = self._out
                self._out = bytearray()
                sock = self._sock
                self._sending = True
                if self._room_waiters:
                    self._room_cond.notify_all()
            self._send(sock, data)
            if time.monotonic() >= next_ping:
                next_ping = time.monotonic() + interval
                with self._out_lock:
                    self._ping_due()

    def _send(self, sock: socket.socket, data: bytearray) -> None:
        """Write `data` (the caller holds the `_sending` token); on failure put back what
        the kernel did not take, from the start of the frame it cut, and drop the socket."""
        sent = 0
        if self.options.debug:
            trace_sent(bytes(data))
        try:
            view = memoryview(data)
            while sent < len(data):
                sent += sock.send(view[sent:])
        except OSError as exc:
            with self._out_lock:
                self._out[0:0] = data[frame_start(bytes(data), sent):]
            self._lose_socket(sock, exc)
        finally:
            with self._out_lock:
                self._sending = False
                self._room_cond.notify_all()
                if (self._out or self._stopping) and self._flusher_idle:
                    self._data_cond.notify()

    def _enqueue_now(self, frame: bytes, n: int, alone: bool = True) -> None:
        """Like `_enqueue`, but write at once on this thread when nobody is writing.

        Used by request() and respond(), where a hop to the flusher thread would add
        latency; the `_sending` token keeps every write in buffer order. With `alone`
        False (other requests are in flight) the frame is left to the flusher: many
        threads' requests then share one send, and none pays a syscall and the GIL
        hand-offs around it.
        """
        with self._out_lock:
            if self._state is CLOSED:  # checked under the lock: see _enqueue
                raise ConnectionClosedError()
            if len(self._out) >= self._pending_size:
                self._wait_for_room()
            self._out += frame
            self._out_msgs += 1
            self._out_bytes += n
            sock = self._sock
            if self._sending or sock is None or not alone:
                if self._flusher_idle:
                    self._data_cond.notify()
                return
            data = self._out
            self._out = bytearray()
            self._sending = True
        self._send(sock, data)

    def _write(self, frame: bytes) -> None:
        """Queue a control frame (no backpressure: these are small and must not wait)."""
        with self._out_lock:
            self._out += frame
            if self._flusher_idle:
                self._data_cond.notify()

    def _frame(self, subj: bytes, reply: bytes, payload: bytes,
               headers: Optional[HeadersLike]) -> bytes:
        """A PUB or HPUB frame, checked against the server's max_payload."""
        n = len(payload)
        if headers is None:
            if n > self._max_payload:
                raise MaxPayloadError(f"nats: payload of {n} bytes exceeds the server's "
                                      f"max_payload of {self._max_payload}")
            if reply:
                return b"PUB %b %b %d\r\n%b\r\n" % (subj, reply, n, payload)
            return b"PUB %b %d\r\n%b\r\n" % (subj, n, payload)
        hdr = encode_headers(headers)
        hl = len(hdr)
        if hl + n > self._max_payload:
            raise MaxPayloadError(f"nats: message of {hl + n} bytes (headers included) "
                                  f"exceeds the server's max_payload of {self._max_payload}")
        if reply:
            return b"HPUB %b %b %d %d\r\n%b%b\r\n" % (subj, reply, hl, hl + n, hdr, payload)
        return b"HPUB %b %d %d\r\n%b%b\r\n" % (subj, hl, hl + n, hdr, payload)

    def _enqueue(self, frame: bytes, n: int) -> None:
        """Append a message frame to the outbound buffer, waiting for room if it is full.

        The CLOSED check is repeated here, under the lock close() takes to stop the
        flusher: a frame appended after that would return normally and never be sent.
        """
        with self._out_lock:
            if self._state is CLOSED:
                raise ConnectionClosedError()
            if len(self._out) >= self._pending_size:
                self._wait_for_room()
            self._out += frame
            self._out_msgs += 1
            self._out_bytes += n
            if self._flusher_idle:
                self._data_cond.notify()

    def _wait_for_room(self) -> None:
        """Block until the flusher has taken the buffer (holds `_out_lock`)."""
        limit = self._pending_size
        timeout = self.options.flush_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        self._room_waiters += 1
        try:
            while len(self._out) >= limit:
                if self._state == CLOSED:
                    raise ConnectionClosedError()
                if self._sock is None:
                    raise OutboundBufferLimitError(
                        f"nats: outbound buffer limit of {limit} bytes (pending_size) exceeded "
                        "while disconnected")
                if deadline is None:
                    self._room_cond.wait(1.0)
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError("nats: timed out waiting for room in the outbound "
                                           "buffer (flush_timeout)")
                    self._room_cond.wait(remaining)
        finally:
            self._room_waiters -= 1

