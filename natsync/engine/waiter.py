"""A one-shot result slot a thread blocks on: the cheapest wake-up CPython has.

With the GIL that is a pre-acquired lock, released to wake; without it (3.13t) a lock
spins before it sleeps, so there the thread sleeps on its parker (engine/parker.py).
Either way the thread that makes a waiter is the one that waits on it.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Optional

from . import parker


class _Slot:
    """Holds one value or error; `wait` returns once either is set. `abandoned` is set by
    a waiter that gave up (timed out), so nobody wakes it later."""

    __slots__ = ("value", "error", "abandoned")

    value: Any
    error: Optional[Exception]
    abandoned: bool

    def deliver(self, value: Any) -> bool:
        """Set the value and wake the waiting thread; True: nothing more is expected."""
        self.value = value
        self.release()
        return True

    def fail(self, error: Exception) -> None:
        self.error = error
        self.release()

    def release(self) -> None:
        raise NotImplementedError


class LockWaiter(_Slot):
    """A pre-acquired lock is the wake-up: releasing it costs less than a Condition."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:  # sets the slot's fields itself: one call less per request
        self._lock = threading.Lock()
        self._lock.acquire()
        self.value = None
        self.error = None
        self.abandoned = False

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


class ParkingWaiter(_Slot):
    """The waiting thread asleep on its parker (no spinning lock)."""

    __slots__ = ("_parker", "_woken")

    def __init__(self) -> None:
        self._parker = parker.current()
        self._woken = False
        self.value = None
        self.error = None
        self.abandoned = False

    def release(self) -> None:
        """Wake the waiting thread (a second wake-up is harmless: see Parker)."""
        if not self._woken:
            self._woken = True
            self._parker.unpark()

    def wait(self, timeout: Optional[float]) -> bool:
        """Block until woken (True) or `timeout` seconds pass (False)."""
        park = self._parker.park
        if timeout is None:
            while not self._woken:
                park(None)
            return True
        deadline = time.monotonic() + timeout
        while not self._woken:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            park(left)
        return True


# The waiter of this build (mypy checks the code against LockWaiter's interface).
if TYPE_CHECKING or not parker.ENABLED:
    Waiter = LockWaiter
else:
    Waiter = ParkingWaiter
