"""The writer: the outbound frames, the flusher thread that sends them, and backpressure.

Publishers append whole frames under the engine lock (`Writer.lock`, which also guards
the subscription table, the lifecycle's state and the current session, so a reconnect
rebuilds the outbound frames atomically). Whoever holds the send token writes: the
flusher thread, or a lone request()/respond() inline, saving a thread hop. Frames stay
separate objects until they are sent, tagged user (PUB/HPUB, plain bytes) or control
(`Control`: SUB, UNSUB, PING, PONG), so a failed write puts back the frames the kernel
did not take, and a new session keeps the user frames and drops the old control ones,
without parsing anything. Past `pending_size` bytes a publisher waits (up to
`flush_timeout`) for the flusher, or fails at once while no socket is attached.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from typing import Callable, Optional

from ..debuglog import trace_sent
from ..errors import ConnectionClosedError, OutboundBufferLimitError, TimeoutError
from . import threads
from .doorbell import Doorbell

#: How long the flusher lets a stream of plain publishes fill a batch after a small write
#: (see Writer._linger). Only without the GIL: with it, a publishing thread holds the
#: interpreter for 5 ms at a time and the flusher finds thousands of frames per write
#: anyway; without it the flusher runs beside the publisher and wrote every 20-30 frames
#: (3.13t: 3.8-4.9 us CPU per message, 1.4-1.6 with the linger). A millisecond, the
#: parker's granularity (poll() counts milliseconds).
LINGER = 0.0 if threads.GIL else 0.001
#: A write of this many bytes or more is not small: the flusher does not linger after it.
LINGER_BYTES = 64 * 1024

#: What the writer calls when a write fails: the session it was attached for ends.
FailureHandler = Callable[[Exception], None]


class Control(bytes):
    """A control frame (SUB, UNSUB, PING, PONG): it belongs to one session, and a new
    session is given its own in the preamble of `attach`."""

    __slots__ = ()


class Writer:
    """The outbound frames of one client, across every session it has."""

    def __init__(self, pending_size: int, flush_timeout: Optional[float], debug: bool) -> None:
        #: The engine lock; see the module docstring for everything it guards.
        self.lock = threading.Lock()
        self._frames: list[bytes] = []
        self._size = 0  # bytes in _frames
        self._limit = pending_size
        self._flush_timeout = flush_timeout
        self._debug = debug
        self._bell = Doorbell()  # the flusher sleeps here while there is nothing to send
        self._room = threading.Condition(self.lock)  # publishers and detach() wait here
        self._sock: Optional[socket.socket] = None
        self._on_failure: Optional[FailureHandler] = None
        self._sending = False  # the send token
        self._room_waiters = 0  # threads waiting on _room: notified only when there are
        self._urgent = False  # a frame waiting must not wait for a linger (see _run)
        self._lingering = False  # the flusher waits for more plain publishes (see _run)
        self._closed = False  # user frames are refused
        self._stopping = False  # the flusher ends once nothing is left to send
        #: Messages and payload bytes accepted (nats-py's out_msgs/out_bytes).
        self.out_msgs = 0
        self.out_bytes = 0
        self._thread = threading.Thread(target=self._run, name="natsync-flusher", daemon=True)
        self._tick: Optional[Callable[[], None]] = None
        self._tick_every = 0.0

    # --- publishers ----------------------------------------------------------------------

    def publish(self, frame: bytes, n: int, now: bool = False, alone: bool = True,
                deadline: Optional[float] = None) -> None:
        """Append a message frame (with `n` payload bytes), waiting for room if the buffer
        is full, until `flush_timeout` or `deadline` (a time.monotonic() value) passes.
        Raises ConnectionClosedError once the client is closing: checked under the lock
        close() takes, so a frame is either sent or refused, never dropped.

        With `now`, write at once on this thread when the frame is the only one waiting
        and the socket takes it without blocking: request() and respond() save a hop to
        the flusher that way, and the send token keeps every write in frame order. With
        `alone` False (other requests are in flight) the frame is left to the flusher even
        then, so many threads' frames share one send and none pays a syscall and the GIL
        hand-offs around it.
        """
        with self.lock:
            if self._closed or self._size >= self._limit:
                self._admit(deadline)
            frames = self._frames
            frames.append(frame)
            self._size += len(frame)
            self.out_msgs += 1
            self.out_bytes += n
            self._urgent = True
            if not (now and alone and len(frames) == 1 and not self._sending
                    and self._sock is not None):
                if self._bell.asleep or self._lingering:
                    self._bell.ring()
                return
            sock, on_failure = self._sock, self._on_failure
            batch = self._take()
        if _writable(sock):
            if self._send(sock, batch, on_failure):
                self._release()
        else:  # the kernel's buffer is full: the caller must not block in send()
            with self.lock:
                self._frames[0:0] = batch
                self._size += len(frame)
                self._urgent = True
            self._release()

    def post(self, frame: bytes, n: int, deadline: Optional[float] = None) -> None:
        """Append a fire-and-forget message frame (`publish` without `now`), which may wait
        for the flusher's linger to share a write with the next ones (see _run)."""
        with self.lock:
            if self._closed or self._size >= self._limit:
                self._admit(deadline)
            self._frames.append(frame)
            self._size += len(frame)
            self.out_msgs += 1
            self.out_bytes += n
            if self._bell.asleep:
                self._bell.ring()

    def control(self, frame: bytes) -> None:
        """Queue a control frame (no backpressure: they are small and must not wait)."""
        with self.lock:
            self.queue_control(frame)

    def queue_control(self, frame: bytes) -> None:
        """`control` for a caller that holds the lock (to change other state with it)."""
        self._frames.append(Control(frame))
        self._size += len(frame)
        self._urgent = True
        if self._bell.asleep or self._lingering:
            self._bell.ring()

    def _admit(self, deadline: Optional[float]) -> None:
        """Refuse a frame once closed, or block until the flusher has taken the frames,
        `flush_timeout` or `deadline` at the most (holds the lock)."""
        limit = self._limit
        timeout = self._flush_timeout
        if timeout is not None:
            own = time.monotonic() + timeout
            deadline = own if deadline is None else min(deadline, own)
        self._room_waiters += 1
        if self._lingering:  # the flusher must not keep a full buffer waiting
            self._bell.ring()
        try:
            while self._closed or self._size >= limit:
                if self._closed:
                    raise ConnectionClosedError()
                if self._sock is None:
                    raise OutboundBufferLimitError(
                        f"nats: outbound buffer limit of {limit} bytes (pending_size) exceeded "
                        "while disconnected")
                if deadline is None:
                    self._room.wait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError("nats: timed out waiting for room in the outbound "
                                           "buffer (pending_size)")
                    self._room.wait(remaining)
        finally:
            self._room_waiters -= 1

    # --- sessions ------------------------------------------------------------------------

    def attach(self, sock: socket.socket, before: list[bytes], after: list[bytes],
               on_failure: FailureHandler) -> None:
        """Send to `sock` from now on: the control frames `before` (the new session's SUBs),
        the user frames kept from before, then `after` (PINGs of flush() calls waiting);
        the last session's control frames are dropped. The caller holds the lock, having
        built the frames under it. `on_failure` is told of a failed write."""
        frames: list[bytes] = [Control(f) for f in before]
        frames += [f for f in self._frames if type(f) is not Control]
        frames += [Control(f) for f in after]
        self._frames = frames
        self._size = sum(map(len, frames))
        self._sock = sock
        self._on_failure = on_failure
        self._urgent = True
        if self._bell.asleep or self._lingering:
            self._bell.ring()
        self._room.notify_all()

    def detach(self) -> None:
        """Stop sending (the session ended); returns once a write in progress has failed
        or finished, its unsent frames put back. Frames published meanwhile are kept for
        the next session, up to `pending_size`."""
        with self.lock:
            self._sock = None
            self._on_failure = None
            self._room_waiters += 1
            try:
                while self._sending:
                    self._room.wait()
            finally:
                self._room_waiters -= 1
            self._room.notify_all()  # publishers waiting for room now fail fast

    @property
    def attached(self) -> bool:
        return self._sock is not None

    @property
    def buffered(self) -> int:
        """Bytes waiting to be sent."""
        return self._size

    # --- the flusher thread --------------------------------------------------------------

    def start(self, tick: Optional[Callable[[], None]] = None, every: float = 0.0) -> None:
        """Start the flusher; it also calls `tick()` every `every` seconds (the lifecycle's
        PING timer), outside the lock, between writes: one thread fewer per client."""
        self._tick = tick
        self._tick_every = every
        self._thread.start()

    def close(self) -> None:
        """Refuse user frames from now on (the caller holds the lock)."""
        self._closed = True
        self._room.notify_all()

    def stop(self) -> None:
        """Send what is left (while a socket is attached), then end the flusher thread."""
        with self.lock:
            self._closed = self._stopping = True
            if self._bell.asleep or self._lingering:
                self._bell.ring()
            self._room.notify_all()
        threads.join(self._thread)

    def is_current(self) -> bool:
        """Whether the caller is the flusher thread."""
        return threads.is_current(self._thread)

    def _run(self) -> None:
        tick, every = self._tick, self._tick_every
        next_tick = time.monotonic() + every if tick is not None else None
        lock = self.lock
        sent = False  # holding the send token for a batch just written
        taken = 0  # the bytes of that batch
        while True:
            batch: Optional[list[bytes]] = None
            with lock:
                if sent:  # give the token back and take the next batch in one locked step
                    sent = False
                    self._sending = False
                    if self._room_waiters:
                        self._room.notify_all()
                    elif (LINGER and taken < LINGER_BYTES and self._frames
                          and not self._urgent and not self._stopping):
                        self._linger(lock)
                while True:
                    if self._frames and self._sock is not None and not self._sending:
                        sock, on_failure = self._sock, self._on_failure
                        taken = self._size
                        batch = self._take()
                        break
                    if self._stopping and not self._sending:
                        self._room.notify_all()
                        return
                    wait = None if next_tick is None else next_tick - time.monotonic()
                    if wait is not None and wait <= 0:
                        break
                    self._bell.sleep(lock, -1 if wait is None else wait)
            if batch is not None:
                sent = self._send(sock, batch, on_failure)
            if next_tick is not None and time.monotonic() >= next_tick:
                next_tick = time.monotonic() + every
                assert tick is not None
                tick()

    def _linger(self, lock: threading.Lock) -> None:
        """Plain publishes came in while a small batch was written: a stream faster than
        one write per message. Let it fill the next batch for LINGER seconds, unless an
        urgent frame, a publisher waiting for room, or stop() ends the wait (holds `lock`)."""
        self._lingering = True
        try:
            self._bell.sleep(lock, LINGER, doze=True)
        finally:
            self._lingering = False

    def _take(self) -> list[bytes]:
        """Take every frame and the send token (holds the lock)."""
        batch = self._frames
        self._frames = []
        self._size = 0
        self._urgent = False
        self._sending = True
        if self._room_waiters:
            self._room.notify_all()
        return batch

    def _send(self, sock: socket.socket, batch: list[bytes],
              on_failure: Optional[FailureHandler]) -> bool:
        """Write `batch` (holding the send token). True when it was written: the caller
        still holds the token. On failure put back the frames the kernel did not take
        whole, give the token back, end the session, and return False."""
        data = batch[0] if len(batch) == 1 else b"".join(batch)
        sent = 0
        if self._debug:
            trace_sent(data)
        try:
            view = memoryview(data)
            while sent < len(data):
                sent += sock.send(view[sent:])
        except OSError as exc:
            unsent = _unsent(batch, sent)
            with self.lock:
                self._frames[0:0] = unsent
                self._size += sum(map(len, unsent))
            try:
                if on_failure is not None:
                    on_failure(exc)
            finally:
                self._release()
            return False
        except BaseException:
            self._release()
            raise
        return True

    def _release(self) -> None:
        """Give the send token back and wake whoever waits for it or for room."""
        with self.lock:
            self._sending = False
            if self._room_waiters:
                self._room.notify_all()
            if (self._frames or self._stopping) and self._bell.asleep:
                self._bell.ring()


def _writable(sock: socket.socket) -> bool:
    """Whether `sock` takes a small write now, without blocking (a poll, no waiting)."""
    poller = select.poll()
    poller.register(sock, select.POLLOUT)
    return bool(poller.poll(0))


def _unsent(batch: list[bytes], sent: int) -> list[bytes]:
    """The frames of `batch` from the one a write of `sent` bytes cut (or did not reach)."""
    for i, frame in enumerate(batch):
        if sent < len(frame):
            return batch[i:]
        sent -= len(frame)
    return []
