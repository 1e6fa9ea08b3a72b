"""The reply mux: every request's reply comes back on one wildcard inbox subscription.

Each request gets a token (the last token of its reply subject) and a handler in the
table; the reader thread looks the token up and hands the reply to the handler. Three
kinds of handler live here: `Waiter` (one blocking `request()`), `ManyWaiter`
(`request_many()`) and `ReplyFuture` (`request_async()`); subsystems such as JetStream's
`publish_async` bring their own through `Client.send_request` (the `ReplyHandler` shape).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol, Union

from ..errors import ConnectionClosedError, NoRespondersError, TimeoutError
from ..futures import LazyFuture
from ..msg import Msg

if TYPE_CHECKING:
    from .lifecycle import Lifecycle

log = logging.getLogger("natsync")

#: Deadline heap size from which answered futures are swept out of it (see new_future).
_COMPACT_AT = 1024


class ReplyHandler(Protocol):
    """What the reader calls with the replies to one request.

    `deliver` runs on the reader thread, so it must be quick and never run user code;
    it returns True when the request is complete (its token leaves the table). `fail`
    is called once, with ConnectionClosedError when the client closes.
    """

    def deliver(self, msg: Msg) -> bool: ...

    def fail(self, error: Exception) -> None: ...


def no_responders(msg: Msg) -> bool:
    """Whether a reply is the server's 503 status: nobody is subscribed to the subject."""
    return msg.headers is not None and msg.headers.status == 503 and not msg.data


class Waiter:
    """A one-shot result slot; a pre-acquired lock is the cheapest thread wake-up."""

    __slots__ = ("_lock", "value", "error", "abandoned")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self.value: Any = None
        self.error: Optional[Exception] = None
        self.abandoned = False

    def deliver(self, value: Any) -> bool:
        self.value = value
        self._release()
        return True

    def fail(self, error: Exception) -> None:
        self.error = error
        self._release()

    def _release(self) -> None:
        try:
            self._lock.release()
        except RuntimeError:  # already released: a reply raced with close()
            pass

    def wait(self, timeout: Optional[float]) -> bool:
        if timeout is None:
            return self._lock.acquire()
        return self._lock.acquire(timeout=max(0.0, timeout))


class RequestWaiter(Waiter):
    """The waiter of one blocking request(): the reader fills it and queues it on the
    mux's ready list; it is woken by the baton (see ReplyMux.wake_one), not at once."""

    __slots__ = ("_ready",)

    def __init__(self, ready: deque[RequestWaiter]) -> None:
        super().__init__()
        self._ready = ready

    def deliver(self, value: Any) -> bool:
        self.value = value
        self._ready.append(self)
        return True


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


class ReplyFuture(LazyFuture[Msg]):
    """The future `request_async` returns: completed by the reader when the reply comes,
    by the mux's timer thread when `timeout` passes first, or by close()."""

    def __init__(self, mux: ReplyMux, subject: str, deadline: Optional[float]) -> None:
        super().__init__()
        self._mux = mux
        self.subject = subject
        self.deadline = deadline
        self.token = ""

    def deliver(self, msg: Msg) -> bool:
        if no_responders(msg):
            self.settle(exception=NoRespondersError(self.subject))
        else:
            self.settle(msg)
        return True

    def fail(self, error: Exception) -> None:
        self.settle(exception=error)

    def cancel(self) -> bool:
        """Cancel a request still waiting for its reply; its slot in the table is freed."""
        if not super().cancel():
            return False
        self._mux.forget(self.token)
        return True

    def _invoke_callbacks(self) -> None:
        # Done-callbacks are user code: never on the reader thread, which completes most
        # futures. They run on the mux's timer thread instead, in completion order.
        if self._mux.on_reader():
            self._mux.call_soon(super()._invoke_callbacks)  # type: ignore[misc]
        else:
            super()._invoke_callbacks()  # type: ignore[misc]


class ReplyMux:
    """The table of requests waiting for replies, their tokens, and the timer thread that
    expires `request_async` futures (and runs their done-callbacks)."""

    def __init__(self, client: Lifecycle) -> None:
        self._client = client
        self.table: dict[str, ReplyHandler] = {}
        #: Blocking requests whose reply has come, waiting for their thread to be woken.
        self.ready: deque[RequestWaiter] = deque()
        self._tokens = itertools.count(1)
        self._cond = threading.Condition(threading.Lock())
        self._deadlines: list[tuple[float, int, ReplyFuture]] = []
        self._order = itertools.count()
        self._calls: list[Callable[[], None]] = []
        self._thread: Optional[threading.Thread] = None
        self._stopping = False

    def register(self, handler: ReplyHandler) -> str:
        """Put `handler` in the table under a new token, and return the token."""
        token = str(next(self._tokens))
        self.table[token] = handler
        return token

    def forget(self, token: str) -> None:
        """Drop a request from the table (its replies, if any come, are ignored)."""
        self.table.pop(token, None)

    def deliver(self, token: str, msg: Msg) -> None:
        """On the reader thread: hand a reply to its request's handler."""
        handler = self.table.get(token)
        if handler is not None and handler.deliver(msg):
            self.table.pop(token, None)

    def waiter(self) -> RequestWaiter:
        """A waiter for one blocking request; put it in the table with register()."""
        return RequestWaiter(self.ready)

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
                waiter._release()
                return

    def fail_all(self, error: Exception) -> None:
        """Fail every request still waiting (the client is closing)."""
        while self.ready:
            self.wake_one()
        while self.table:
            try:
                _, handler = self.table.popitem()
            except KeyError:
                break
            handler.fail(error)

    # --- request_async futures -----------------------------------------------------

    def new_future(self, subject: str, timeout: Optional[float]) -> ReplyFuture:
        """A future for one request, expired by the timer thread after `timeout` seconds
        (never, for None)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        future = ReplyFuture(self, subject, deadline)
        future.token = self.register(future)
        with self._cond:
            if self._stopping:
                self.forget(future.token)
                raise ConnectionClosedError()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="natsync-replies",
                                                daemon=True)
                self._thread.start()
            if deadline is not None:
                deadlines = self._deadlines
                # With one timeout for every request, deadlines only grow: no wake-up.
                if not deadlines or deadline < deadlines[0][0]:
                    self._cond.notify()
                heapq.heappush(deadlines, (deadline, next(self._order), future))
                if len(deadlines) >= _COMPACT_AT and len(deadlines) > 2 * len(self.table):
                    # Answered futures wait in the heap for their deadline; drop them so a
                    # fast fan-out with long timeouts does not keep every reply alive.
                    deadlines[:] = [entry for entry in deadlines if not entry[2].done()]
                    heapq.heapify(deadlines)
        return future

    def on_reader(self) -> bool:
        return threading.current_thread() is self._client._reader

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the timer thread (done-callbacks of futures the reader completed)."""
        with self._cond:
            self._calls.append(fn)
            self._cond.notify()

    def _run(self) -> None:
        """The timer thread: expire futures whose deadline passed, run queued callbacks."""
        deadlines = self._deadlines
        while True:
            with self._cond:
                while not self._calls and not self._stopping:
                    wait = deadlines[0][0] - time.monotonic() if deadlines else None
                    if wait is not None and wait <= 0:
                        break
                    self._cond.wait(wait)
                calls, self._calls = self._calls, []
                now = time.monotonic()
                expired: list[ReplyFuture] = []
                while deadlines and deadlines[0][0] <= now:
                    expired.append(heapq.heappop(deadlines)[2])
                stopping = self._stopping
            for future in expired:
                if not future.done():
                    self.forget(future.token)
                    future.fail(TimeoutError(
                        f"nats: timeout waiting for a reply to {future.subject!r}"))
            for fn in calls:
                _run_user(fn)
            if stopping:
                return

    def stop(self) -> None:
        """End the timer thread (at close, after fail_all): queued callbacks still run."""
        with self._cond:
            self._stopping = True
            self._deadlines.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)


def _run_user(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:  # the stdlib logs a failing done-callback itself; this is a backstop
        log.exception("natsync: a future's done-callback raised")
