"""A one-shot result slot a thread blocks on: the cheapest wake-up CPython has."""

from __future__ import annotations

import threading
from typing import Any, Optional


class Waiter:
    """Holds one value or error; `wait` returns once either is set.

    A pre-acquired lock is the wake-up: releasing it costs less than a Condition.
    `abandoned` is set by a waiter that gave up (timed out), so nobody wakes it later.
    """

    __slots__ = ("_lock", "value", "error", "abandoned")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self.value: Any = None
        self.error: Optional[Exception] = None
        self.abandoned = False

    def deliver(self, value: Any) -> bool:
        """Set the value and wake the waiting thread; True: nothing more is expected."""
        self.value = value
        self.release()
        return True

    def fail(self, error: Exception) -> None:
        self.error = error
        self.release()

    def release(self) -> None:
        """Wake the waiting thread (at most once)."""
        try:
            self._lock.release()
        except RuntimeError:  # already released: a reply raced with close()
            pass

    def wait(self, timeout: Optional[float]) -> bool:
        """Block until woken (True) or `timeout` seconds pass (False)."""
        if timeout is None:
            return self._lock.acquire()
        return self._lock.acquire(timeout=max(0.0, timeout))
