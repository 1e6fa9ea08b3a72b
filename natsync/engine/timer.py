"""request_async futures and the thread that expires them and runs their done-callbacks.

A future is completed by the reader when its reply comes, by the timer thread when its
timeout passes first, or by close(). Done-callbacks are user code, so those of futures the
reader completed are run here instead, in completion order.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Callable, Optional

from ..errors import ConnectionClosedError, NoRespondersError, TimeoutError
from ..futures import LazyFuture
from ..msg import Msg, no_responders
from . import threads

log = logging.getLogger("natsync")

#: Deadline heap size from which answered futures are swept out of it (see add).
_COMPACT_AT = 1024


class ReplyFuture(LazyFuture[Msg]):
    """The future `request_async` returns (a ReplyHandler of the mux)."""

    def __init__(self, subject: str, deadline: Optional[float], timer: FutureTimer,
                 forget: Callable[[str], None]) -> None:
        super().__init__()
        self.subject = subject
        self.deadline = deadline
        self.token = ""
        self._timer = timer
        self._forget = forget

    def deliver(self, msg: Msg) -> bool:
        if no_responders(msg):
            self.settle(exception=NoRespondersError(self.subject))
        else:
            self.settle(msg)
        return True

    def fail(self, error: Exception) -> None:
        self.settle(exception=error)

    def expire(self) -> None:
        """The timeout passed first (timer thread): free the slot and fail."""
        if not self.done():
            self._forget(self.token)
            self.fail(TimeoutError(f"nats: timeout waiting for a reply to {self.subject!r}"))

    def cancel(self) -> bool:
        """Cancel a request still waiting for its reply; its slot in the table is freed."""
        if not super().cancel():
            return False
        self._forget(self.token)
        return True

    def _invoke_callbacks(self) -> None:
        # Never user code on the reader thread, which completes most futures.
        if threads.on_reader():
            self._timer.call_soon(super()._invoke_callbacks)  # type: ignore[misc]
        else:
            super()._invoke_callbacks()  # type: ignore[misc]


class FutureTimer:
    """The deadlines of pending futures, and the thread (started on first use) that
    expires them and runs the done-callbacks the reader deferred."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._deadlines: list[tuple[float, int, ReplyFuture]] = []
        self._order = itertools.count()
        self._calls: list[Callable[[], None]] = []
        self._thread: Optional[threading.Thread] = None
        self._stopping = False

    def add(self, future: ReplyFuture, pending: int) -> None:
        """Expire `future` at its deadline; `pending` is how many requests are still
        waiting, to know when answered futures should be swept out of the heap."""
        with self._lock:  # the Condition's lock: `with self._cond` is two Python calls more
            if self._stopping:
                raise ConnectionClosedError()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="natsync-replies",
                                                daemon=True)
                self._thread.start()
            deadline = future.deadline
            if deadline is None:
                return
            deadlines = self._deadlines
            # With one timeout for every request, deadlines only grow: no wake-up.
            if not deadlines or deadline < deadlines[0][0]:
                self._cond.notify()
            heapq.heappush(deadlines, (deadline, next(self._order), future))
            if len(deadlines) >= _COMPACT_AT and len(deadlines) > 2 * pending:
                # Answered futures wait in the heap for their deadline; drop them so a
                # fast fan-out with long timeouts does not keep every reply alive.
                deadlines[:] = [entry for entry in deadlines if not entry[2].done()]
                heapq.heapify(deadlines)

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the timer thread (done-callbacks of futures the reader completed)."""
        with self._cond:
            self._calls.append(fn)
            self._cond.notify()

    def stop(self) -> None:
        """End the thread (at close, after every future failed): queued callbacks still run."""
        with self._cond:
            self._stopping = True
            self._deadlines.clear()
            self._cond.notify()
            thread = self._thread
        threads.join(thread)

    def _run(self) -> None:
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
                future.expire()
            for fn in calls:
                _run_user(fn)
            if stopping:
                return


def _run_user(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:  # the stdlib logs a failing done-callback itself; this is a backstop
        log.exception("natsync: a future's done-callback raised")
