"""Where a thread sleeps on the free-threaded build: its own eventfd, which parks at once.

On CPython 3.13t a thread blocking on a held `threading.Lock` first spins, calling
sched_yield() up to 40 times, before it sleeps (PyMutex); each yield hands the core to
another thread and back, so a blocking request cost 5-6x its CPU on the GIL build. A
`Parker` waits in poll() on an eventfd instead. Each thread has one, made on first use;
wake-ups are counted, so one that comes before the sleep is not lost, and a late one
(for a waiter that timed out) only makes the next sleep look once more at its condition.
"""

from __future__ import annotations

import os
import select
import threading
from typing import Callable, Optional

from . import threads

#: Whether waits use parkers: the GIL is off (where eventfd exists, Linux). With the GIL,
#: a pre-acquired lock costs less (measured: 37-44 against 45-55 us CPU per request).
ENABLED = (not threads.GIL
           and hasattr(os, "eventfd") and hasattr(select, "poll"))

_local = threading.local()


class Parker:
    """One thread's eventfd: `park` sleeps until `unpark` (from any thread) or a timeout."""

    __slots__ = ("_fd", "_poll")

    def __init__(self) -> None:
        self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLIN)

    def park(self, timeout: Optional[float]) -> None:
        """Sleep until unparked (a wake-up already counted returns at once) or `timeout`
        seconds pass; the caller looks at its condition again either way."""
        ms = -1 if timeout is None else max(0, int(timeout * 1000 + 0.999))
        if self._poll.poll(ms):
            try:
                os.eventfd_read(self._fd)  # takes every wake-up counted so far
            except BlockingIOError:
                pass

    def unpark(self) -> None:
        os.eventfd_write(self._fd, 1)

    def __del__(self, _close: Callable[[int], None] = os.close) -> None:
        # os.close is bound here: a parker freed at interpreter exit can outlive the
        # module's globals (`os` is None by then).
        _close(self._fd)


def current() -> Parker:
    """The calling thread's parker."""
    parker: Optional[Parker] = getattr(_local, "parker", None)
    if parker is None:
        parker = _local.parker = Parker()
    return parker


def _forget_all() -> None:
    """A forked child shares the parent's eventfds: its threads get their own."""
    global _local
    _local = threading.local()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_all)
