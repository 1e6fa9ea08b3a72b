"""How an engine thread (the flusher, a callback dispatcher) sleeps until there is work.

A Condition costs microseconds per notify; the doorbell is a pre-acquired lock the
sleeper blocks on, released once by whoever finds the sleeper asleep, so a burst of work
wakes it once for the price of one C call. Without the GIL (3.13t) a lock spins before
it sleeps, so there the sleeper parks on its thread's parker instead (engine/parker.py).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Optional

from . import parker as parking


class LockDoorbell:
    """One thread's sleep and its wake-up. `asleep` is read and written under the
    owner's lock (the one `sleep` is given), which is what makes one ring per sleep."""

    __slots__ = ("_bell", "asleep")

    def __init__(self) -> None:
        self._bell = threading.Lock()
        self._bell.acquire()
        #: The sleeper waits on the bell: the next `ring()` wakes it.
        self.asleep = False

    def sleep(self, held: threading.Lock, timeout: float = -1, doze: bool = False) -> None:
        """Release `held` (which the caller holds), sleep until rung or `timeout` seconds
        pass (-1: no limit), then take `held` back. The caller re-checks its condition:
        a ring that came too late for one sleep ends the next one at once. A `doze` leaves
        `asleep` False: only those the owner tells to ring then (see Writer's linger) do."""
        self.asleep = not doze
        held.release()
        try:
            self._bell.acquire(timeout=timeout)
        finally:
            held.acquire()
        self.asleep = False

    def ring(self) -> None:
        """Wake the sleeper (the caller holds the owner's lock and saw `asleep`)."""
        self.asleep = False
        try:
            self._bell.release()
        except RuntimeError:  # rung already, and the sleeper has not taken it yet
            pass


class ParkingDoorbell:
    """The same doorbell, the sleeper parked on its own thread's parker (taken at its
    first sleep, under the owner's lock, before anyone can see it asleep)."""

    __slots__ = ("_parker", "asleep")

    def __init__(self) -> None:
        self._parker: Optional[parking.Parker] = None
        self.asleep = False

    def sleep(self, held: threading.Lock, timeout: float = -1, doze: bool = False) -> None:
        """As LockDoorbell.sleep."""
        p = self._parker
        if p is None:
            p = self._parker = parking.current()
        self.asleep = not doze
        held.release()
        try:
            p.park(None if timeout < 0 else timeout)
        finally:
            held.acquire()
        self.asleep = False

    def ring(self) -> None:
        """Wake the sleeper (the caller holds the owner's lock and saw `asleep`)."""
        self.asleep = False
        if self._parker is not None:
            self._parker.unpark()


# The doorbell of this build (mypy checks the code against LockDoorbell's interface).
if TYPE_CHECKING or not parking.ENABLED:
    Doorbell = LockDoorbell
else:
    Doorbell = ParkingDoorbell
