"""A concurrent.futures.Future that makes its Condition only when something waits on it.

A stdlib Future builds a threading.Condition (and its RLock) when it is created and takes
it again to complete. For `publish_async`, where tens of thousands of futures are made
per second and most are never waited on one by one, that is about a fifth of the CPU
spent per message. `LazyFuture` keeps the stdlib class (so `result()`, `wait()`,
`as_completed()`, callbacks and cancel all work unchanged) but creates the Condition on
first use, and completes a future nobody has touched yet without one. `result()` does not
make one either: it reads a completed future directly and parks on a plain lock until the
completion releases it (a request fan-out calls it once per request).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, InvalidStateError
from concurrent.futures._base import CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED, PENDING
from typing import Any, Optional, TypeVar

T = TypeVar("T")

#: Serialises making a future's Condition against completing it without one.
_MAKING = threading.Lock()
_DONE = frozenset({CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED})


class LazyFuture(Future[T]):
    """A Future whose Condition exists only once a caller needs one."""

    def __init__(self) -> None:
        # Future.__init__ is not called: it would build the Condition this class defers.
        # These are the attributes it sets (the same from Python 3.9 to 3.13).
        self._cond: Optional[threading.Condition] = None
        self._state = PENDING
        self._result: Any = None
        self._exception: Optional[BaseException] = None
        self._waiters: list[Any] = []
        self._done_callbacks: list[Any] = []
        # Locks of threads parked in result() while there was no Condition; completing
        # releases them (see _wake).
        self._sleepers: Optional[list[threading.Lock]] = None

    @property
    def _condition(self) -> threading.Condition:  # type: ignore[override]
        """Every stdlib method (and `wait`/`as_completed`) reaches the Condition here."""
        cond = self._cond
        if cond is None:
            with _MAKING:
                cond = self._cond
                if cond is None:
                    cond = self._cond = threading.Condition()
        return cond

    def result(self, timeout: Optional[float] = None) -> T:
        """As Future.result; a future completed or waited for before anything made its
        Condition is read, or parked on, without making one."""
        if self._state == FINISHED:
            return self._outcome()
        if self._cond is None:
            lock = threading.Lock()
            lock.acquire()
            with _MAKING:
                parked = self._cond is None and self._state == PENDING
                if parked:
                    if self._sleepers is None:
                        self._sleepers = []
                    self._sleepers.append(lock)
            if parked:
                if timeout is None:
                    lock.acquire()
                else:
                    lock.acquire(timeout=max(0.0, timeout))
                if self._state == FINISHED:
                    return self._outcome()
                timeout = 0  # timed out, or cancelled: the stdlib says which
        return super().result(timeout)

    def _outcome(self) -> T:
        exc = self._exception
        if exc is not None:
            try:
                raise exc
            finally:
                del exc  # no reference cycle through the traceback (as the stdlib does)
        return self._result  # type: ignore[no-any-return]

    def _wake(self) -> None:
        """Release the threads parked in result() (once: only one completion succeeds)."""
        sleepers, self._sleepers = self._sleepers, None
        if sleepers:
            for lock in sleepers:
                lock.release()

    def set_result(self, result: T) -> None:
        super().set_result(result)
        self._wake()

    def set_exception(self, exception: Optional[BaseException]) -> None:
        super().set_exception(exception)
        self._wake()

    def done(self) -> bool:
        """True once completed or cancelled (one attribute read: no Condition needed)."""
        return self._state in _DONE

    def cancel(self) -> bool:
        """Cancel a future still waiting for its outcome; `wait()` and `as_completed()`
        count it done at once (a stdlib Future waits for an executor to notice)."""
        if not super().cancel():
            return False
        self._wake()
        self.set_running_or_notify_cancel()
        return True

    def settle(self, result: Any = None, exception: Optional[BaseException] = None) -> bool:
        """Complete the future with `result` or `exception`; False if it was already done.

        Untouched futures (no waiter, no callback, no cancel: all of those make the
        Condition) are completed in place; the rest take the stdlib path.
        """
        with _MAKING:
            if self._cond is None:
                if self._state != PENDING:
                    return False
                self._result = result
                self._exception = exception
                self._state = FINISHED
                self._wake()
                return True
        try:
            if exception is None:
                self.set_result(result)
            else:
                self.set_exception(exception)
        except InvalidStateError:  # cancelled (or completed) in the meantime
            return False
        return True
