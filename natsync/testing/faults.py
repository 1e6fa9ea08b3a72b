"""The faults a `FaultProxy` injects: what each one does to a direction of the link.

A fault is a handle: it is in effect from the moment the proxy method that made it
returns until `remove()` (or the end of its ``with`` block). ``up`` is client → server,
``down`` server → client, ``both`` the two.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Optional, Tuple, TypeVar

if TYPE_CHECKING:
    from .faultproxy import FaultProxy

#: A direction of the proxied link: ``up`` is client → server, ``down`` server → client.
Direction = Literal["up", "down", "both"]

_F = TypeVar("_F", bound="Fault")

UP: Literal["up"] = "up"
DOWN: Literal["down"] = "down"


def directions_of(direction: str) -> Tuple[str, ...]:
    """The one-way directions `direction` names; ValueError for anything else."""
    if direction == "both":
        return (UP, DOWN)
    if direction in (UP, DOWN):
        return (direction,)
    raise ValueError(f"direction must be 'up', 'down' or 'both', got {direction!r}")


class Fault:
    """A fault switched on in a proxy; the subclasses say what it does.

    Use it as a context manager to switch it off at the end of a block.
    """

    kind = "fault"

    def __init__(self, direction: Direction) -> None:
        self.direction = direction
        self.directions = directions_of(direction)
        self._proxy: Optional[FaultProxy] = None
        self.active = False

    def applies(self, direction: str) -> bool:
        """Whether this fault acts on the one-way `direction` (``up`` or ``down``)."""
        return direction in self.directions

    def bind(self, proxy: FaultProxy) -> None:
        """Remember the proxy that applies this fault, for `remove()`."""
        self._proxy = proxy

    def remove(self) -> None:
        """Switch the fault off (idempotent); it no longer acts when this returns."""
        if self._proxy is not None:
            self._proxy.remove(self)

    def __enter__(self: _F) -> _F:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.remove()

    def _describe(self) -> str:
        """The parameters, for repr."""
        return ""

    def __repr__(self) -> str:
        state = "active" if self.active else "removed"
        extra = self._describe()
        return f"<{type(self).__name__} {self.direction}{' ' + extra if extra else ''} {state}>"


class Latency(Fault):
    """Every chunk is held `delay` seconds, plus or minus up to `jitter`, order kept."""

    kind = "latency"

    def __init__(self, delay: float, jitter: float, direction: Direction) -> None:
        if delay < 0 or jitter < 0:
            raise ValueError("latency delay and jitter must be >= 0")
        super().__init__(direction)
        self.delay = float(delay)
        self.jitter = float(jitter)

    def _describe(self) -> str:
        return f"{self.delay:g}s±{self.jitter:g}s"


class Bandwidth(Fault):
    """At most `rate` bytes per second get through."""

    kind = "bandwidth"

    def __init__(self, rate: float, direction: Direction) -> None:
        if rate <= 0:
            raise ValueError("bandwidth rate must be > 0 bytes per second")
        super().__init__(direction)
        self.rate = float(rate)

    def _describe(self) -> str:
        return f"{self.rate:g}B/s"


class Slicing(Fault):
    """Bytes are written `size` at a time, `interval` seconds apart."""

    kind = "slice"

    def __init__(self, size: int, interval: float, direction: Direction) -> None:
        if size < 1 or interval < 0:
            raise ValueError("slice size must be >= 1 and interval >= 0")
        super().__init__(direction)
        self.size = int(size)
        self.interval = float(interval)

    def _describe(self) -> str:
        return f"{self.size}B every {self.interval:g}s"


class Blackhole(Fault):
    """Bytes (and FIN or RST) are accepted and never forwarded: a half-open connection.

    A connection the hole swallowed anything from is reset when the hole is removed,
    as a NAT or load balancer that lost the flow answers the next packet with RST.
    """

    kind = "blackhole"


class Cut(Fault):
    """Ends each connection, by RST (``reset``) or FIN (``close``), once `after` more
    bytes went through in its direction (after the first `match`, if given).

    Bytes count from the moment the cut is armed for connections open then, and from
    their start for later ones. After `times` connections (None: no limit) it removes
    itself. `fired` counts the connections it ended; `wait()` waits for them.
    """

    kind = "cut"

    def __init__(self, how: Literal["reset", "close"], after: int, match: Optional[bytes],
                 times: Optional[int], direction: Direction) -> None:
        if after < 0:
            raise ValueError("after must be >= 0 bytes")
        if match is not None and not match:
            raise ValueError("match must be a non-empty byte string or None")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        super().__init__(direction)
        self.how = how
        self.after = int(after)
        self.match = match
        self.times = times
        self.fired = 0
        self._cond = threading.Condition()

    def _fire(self) -> bool:
        """Count one connection ended; True when it has used up its `times`."""
        with self._cond:
            self.fired += 1
            self._cond.notify_all()
            return self.times is not None and self.fired >= self.times

    def wait(self, timeout: float, count: int = 1) -> bool:
        """Wait until the cut has ended `count` connections in all; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.fired < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def _describe(self) -> str:
        where = f" past {self.match!r}" if self.match is not None else ""
        return f"{self.how} after {self.after}B{where} fired {self.fired}"


@dataclass
class Shape:
    """What the active faults do to one direction, newest fault of each kind winning."""

    delay: float = 0.0
    jitter: float = 0.0
    rate: Optional[float] = None
    slice_size: Optional[int] = None
    slice_interval: float = 0.0
    blackhole: bool = False


def shape_of(faults: list[Fault], direction: str) -> Shape:
    """The Shape of `direction` under `faults` (oldest first)."""
    shape = Shape()
    for fault in faults:
        if not fault.applies(direction):
            continue
        if isinstance(fault, Latency):
            shape.delay, shape.jitter = fault.delay, fault.jitter
        elif isinstance(fault, Bandwidth):
            shape.rate = fault.rate
        elif isinstance(fault, Slicing):
            shape.slice_size, shape.slice_interval = fault.size, fault.interval
        elif isinstance(fault, Blackhole):
            shape.blackhole = True
    return shape
