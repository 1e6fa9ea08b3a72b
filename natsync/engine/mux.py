"""The reply mux: every request's reply comes back on one wildcard inbox subscription.

The mux owns that inbox (`<inbox_prefix>.<nuid>.*`, subscribed on first use) and a table
of requests by token (the last token of the reply subject). The reader hands each reply
to its request's handler: a `RequestWaiter` (one blocking `request()`), a `ManyWaiter`
(`request_many()`), a `ReplyFuture` (`request_async()`), or a subsystem's own
`ReplyHandler` given to `Client.send_request` (JetStream's `publish_async`).
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections import deque
from typing import Callable, Iterator, Optional, Protocol, Union

from ..errors import NoRespondersError, TimeoutError
from ..headers import HeadersLike
from ..msg import Msg, no_responders
from ..nuid import next_nuid
from ..protocol import encode_sub
from . import threads
from .sender import Sender
from .timer import FutureTimer, ReplyFuture
from .waiter import Waiter
from .writer import Writer


class ReplyHandler(Protocol):
    """What the reader calls with the replies to one request.

    `deliver` runs on the reader thread, so it must be quick and never run user code;
    it returns True when the request is complete (its token leaves the table). `fail`
    is called once, with ConnectionClosedError when the client closes.
    """

    def deliver(self, msg: Msg) -> bool: ...

    def fail(self, error: Exception) -> None: ...


class RequestWaiter(Waiter):
    """The waiter of one blocking request(): the reader fills it and queues it on the
    mux's ready list; it is woken by the baton (see ReplyMux.wake_one), not at once."""

    __slots__ = ("_ready",)

    def __init__(self, ready: deque[RequestWaiter]) -> None:
        super().__init__()
        self._ready = ready

    def deliver(self, value: Msg) -> bool:
        if self.value is None:  # the first reply; another responder's are dropped
            self.value = value
            self._ready.append(self)
        return False  # left in the table: the requester's thread forgets it (one dict
        # write per reply less, and without the GIL every write locks the table)

    def fail(self, error: Exception) -> None:
        if self.value is None:  # a reply that came before close() is still returned
            super().fail(error)


class ManyWaiter:
    """Collects every reply to one request (request_many)."""

    __slots__ = ("queue",)

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[Union[Msg, Exception]] = queue.SimpleQueue()

    def deliver(self, value: Msg) -> bool:
        self.queue.put(value)
        return False

    def fail(self, error: Exception) -> None:
        self.queue.put(error)


class ReplyMux:
    """The shared reply inbox, the requests waiting on it, and how they are sent."""

    def __init__(self, writer: Writer, sender: Sender, next_sid: Callable[[], int],
                 inbox_prefix: str) -> None:
        self._writer = writer
        self._sender = sender
        self._next_sid = next_sid  # a sid from the subscription table (the lock held)
        self._inbox_prefix = inbox_prefix
        #: The inbox subscription's sid, 0 until the first request (read by the reader).
        self.sid = 0
        self._prefix = ""  # "<inbox_prefix>.<nuid>.": a reply's subject less its token
        self._prefix_b = b""
        self.table: dict[str, ReplyHandler] = {}
        #: Blocking requests whose reply has come, waiting for their thread to be woken.
        self.ready: deque[RequestWaiter] = deque()
        self._next_token = _counter()
        self._timer = FutureTimer()

    # --- the inbox -------------------------------------------------------------------------

    def _subscribe_inbox(self) -> None:
        """Subscribe the shared inbox on first use (the SUB goes out with the next write)."""
        with self._writer.lock:
            if self.sid:
                return
            sid = self._next_sid()
            prefix = f"{self._inbox_prefix}.{next_nuid()}."
            self._writer.queue_control(encode_sub(prefix + "*", sid))
            self._prefix, self._prefix_b = prefix, prefix.encode()
            self.sid = sid

    def resubscribe(self) -> list[bytes]:
        """The inbox's SUB for a new session (the lock held), if it was subscribed."""
        return [encode_sub(self._prefix + "*", self.sid)] if self.sid else []

    def deliver(self, subject: str, msg: Msg) -> None:
        """On the reader thread: hand a reply to its request's handler."""
        token = subject[len(self._prefix):]
        try:
            handler = self.table[token]  # without the GIL, get() would lock the table
        except KeyError:
            return  # a late reply: its request gave up
        if handler.deliver(msg):
            self.table.pop(token, None)

    # --- the table ---------------------------------------------------------------------------

    def register(self, handler: ReplyHandler) -> str:
        """Put `handler` in the table under a new token, and return the token."""
        token = str(self._next_token())
        self.table[token] = handler
        return token

    def forget(self, token: str) -> None:
        """Drop a request from the table (its replies, if any come, are ignored)."""
        self.table.pop(token, None)

    def wake_one(self) -> None:
        """Wake the thread of the oldest answered request (passing the baton).

        Threads whose replies arrived together are woken one after another, each by the
        one before it as it leaves its wait (and the first by the reader before it goes
        back to the socket), instead of all at once: a thread woken into a GIL another
        holds must sleep again on the GIL, a second context switch per request.
        """
        ready = self.ready
        while ready:
            try:
                waiter = ready.popleft()
            except IndexError:
                return
            if not waiter.abandoned:
                waiter.release()
                return

    # --- sending requests ----------------------------------------------------------------------

    def request(self, subj: bytes, subject: str, payload: bytes, timeout: float,
                headers: Optional[HeadersLike]) -> Msg:
        """Send a request and block for its first reply (written inline when it is the
        only request in flight); NoRespondersError and TimeoutError as request() says."""
        if not self.sid:
            self._subscribe_inbox()
        deadline = time.monotonic() + timeout
        waiter = RequestWaiter(self.ready)
        token = self.register(waiter)
        try:
            frame = self._sender.frame(subj, self._prefix_b + token.encode(), payload, headers)
            try:
                self._writer.publish(frame, len(payload), True, len(self.table) == 1, deadline)
            except TimeoutError:
                raise TimeoutError(f"nats: timeout waiting for a reply to {subject!r} (the "
                                   f"request could not be queued: the outbound buffer stayed "
                                   f"full)") from None
            woken = waiter.wait(deadline - time.monotonic())
            if not woken:
                waiter.abandoned = True
            self.wake_one()  # the next answered request's thread, whatever happened here
            if not woken and waiter.value is None and waiter.error is None:
                raise TimeoutError(f"nats: timeout waiting for a reply to {subject!r}")
        finally:
            self.forget(token)
        if waiter.error is not None:
            raise waiter.error
        msg: Msg = waiter.value
        if no_responders(msg):
            raise NoRespondersError(subject)
        return msg

    def send(self, subj: bytes, payload: bytes, handler: ReplyHandler,
             headers: Optional[HeadersLike], deadline: Optional[float] = None) -> str:
        """Send a request whose replies go to `handler` (through the flusher); its token.
        Waits for room in the outbound buffer until `deadline` at the most."""
        if not self.sid:
            self._subscribe_inbox()
        token = self.register(handler)
        try:
            self._sender.publish(subj, payload, self._prefix_b + token.encode(), headers,
                                 deadline=deadline)
        except BaseException:
            self.forget(token)
            raise
        return token

    def request_async(self, subj: bytes, subject: str, payload: bytes,
                      timeout: Optional[float], headers: Optional[HeadersLike]) -> ReplyFuture:
        """Send a request and return the future of its first reply."""
        deadline = None if timeout is None else time.monotonic() + timeout
        future = ReplyFuture(subject, deadline, self._timer, self.forget)
        future.token = self.send(subj, payload, future, headers, deadline)
        try:
            self._timer.add(future, len(self.table))
        except BaseException:
            self.forget(future.token)
            raise
        return future

    def request_many(self, subj: bytes, subject: str, payload: bytes, timeout: float,
                     max_msgs: Optional[int], stall: Optional[float],
                     headers: Optional[HeadersLike],
                     sentinel: Callable[[Msg], bool]) -> Iterator[Msg]:
        """Send a request and return the iterator of its replies (see Client.request_many)."""
        waiter = ManyWaiter()
        token = self.send(subj, payload, waiter, headers, time.monotonic() + timeout)
        return self._replies(subject, token, waiter, timeout, max_msgs, stall, sentinel)

    def _replies(self, subject: str, token: str, waiter: ManyWaiter, timeout: float,
                 max_msgs: Optional[int], stall: Optional[float],
                 sentinel: Callable[[Msg], bool]) -> Iterator[Msg]:
        deadline = time.monotonic() + timeout
        count = 0
        try:
            while max_msgs is None or count < max_msgs:
                wait = deadline - time.monotonic()
                if count and stall is not None:
                    wait = min(wait, stall)
                if wait <= 0:
                    return
                try:
                    item = waiter.queue.get(timeout=wait)
                except queue.Empty:
                    return
                if isinstance(item, Exception):
                    raise item
                if no_responders(item):
                    if count == 0:
                        raise NoRespondersError(subject)
                    return
                if sentinel(item):
                    return
                count += 1
                yield item
        finally:
            self.forget(token)

    # --- closing -----------------------------------------------------------------------------

    def close(self, error: Exception) -> None:
        """Fail every request still waiting, then stop the timer thread (queued
        done-callbacks still run)."""
        while self.ready:
            self.wake_one()
        while self.table:
            try:
                _, handler = self.table.popitem()
            except KeyError:
                break
            handler.fail(error)
        self._timer.stop()


def _counter() -> Callable[[], int]:
    """1, 2, 3...: request tokens, drawn by many threads at once. `next()` on an
    itertools.count is atomic under the GIL; without it (free-threaded CPython 3.13) it
    is not, and a token given twice would hand one request's reply to another, so there
    a lock guards it."""
    numbers = itertools.count(1)
    if threads.GIL:
        return numbers.__next__
    lock = threading.Lock()

    def locked() -> int:
        with lock:
            return next(numbers)

    return locked
