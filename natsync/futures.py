"""A concurrent.futures.Future that makes its Condition only when something waits on it.

A stdlib Future builds a threading.Condition (and its RLock) when it is created and takes
it again to complete. For `publish_async`, where tens of thousands of futures are made
per second and most are never waited on one by one, that is about a fifth of the CPU
spent per message. `LazyFuture` keeps the stdlib class (so `result()`, `wait()`,
`as_completed()`, callbacks and cancel all work unchanged) but creates the Condition on
first use, and completes a future nobody has touched yet without one.
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

    def done(self) -> bool:
        """True once completed or cancelled (one attribute read: no Condition needed)."""
        return self._state in _DONE

    def cancel(self) -> bool:
        """Cancel a future still waiting for its outcome; `wait()` and `as_completed()`
        count it done at once (a stdlib Future waits for an executor to notice)."""
        if not super().cancel():
            return False
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
                return True
        try:
            if exception is None:
                self.set_result(result)
            else:
                self.set_exception(exception)
        except InvalidStateError:  # cancelled (or completed) in the meantime
            return False
        return True
