"""A bounded, closeable queue that one reader waits on with a timeout.

What `status()` iterators and the dead-letter helper hold between the thread that
produces items (a consumer, a subscription's callback thread) and the reader: at most
`size` items, the oldest dropped beyond that and counted, so a reader that falls behind
never holds memory without bound.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Deque, Generic, Optional, TypeVar

from ..errors import BadArgumentError
from ..errors import TimeoutError as NatsTimeoutError

T = TypeVar("T")


class Mailbox(Generic[T]):
    """Items in arrival order; `get(timeout)` blocks for the next, None once closed."""

    def __init__(self, size: int, what: str) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise BadArgumentError(f"max_pending must be a positive int, got {size!r}")
        self._size = size
        self._what = what  # named in the timeout error: "consumer event", "dead letter"
        self._cond = threading.Condition(threading.Lock())
        self._items: Deque[T] = deque()
        self._closed = False
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Queue `item` (unless closed); True if that dropped the oldest one."""
        with self._cond:
            if self._closed:
                return False
            full = len(self._items) >= self._size
            if full:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify()
            return full

    def get(self, timeout: Optional[float] = None) -> Optional[T]:
        """The next item; None once closed and empty; TimeoutError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items:
                if self._closed:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise NatsTimeoutError(f"nats: no {self._what} in time")
                self._cond.wait(remaining)
            return self._items.popleft()

    @property
    def pending(self) -> int:
        """Items queued and not read yet."""
        return len(self._items)

    def close(self) -> None:
        """Take no more items; the reader gets what is queued, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


R = TypeVar("R", bound="Reader[Any]")


class Reader(Generic[T]):
    """The blocking-iterator protocol of a reader built on `next(timeout)` and `close()`
    over a Mailbox (`_box`, set by the subclass): `for item in reader` blocks for each
    item and ends once it is closed; a `with` block closes it."""

    _box: Mailbox[Any]

    @property
    def pending(self) -> int:
        """Items received and not read yet."""
        return self._box.pending

    @property
    def dropped(self) -> int:
        """Items dropped, oldest first, because `max_pending` were unread."""
        return self._box.dropped

    def next(self, timeout: Optional[float] = None) -> Optional[T]:
        """The next item; None once closed."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop; the iteration ends."""
        raise NotImplementedError

    def __iter__(self: R) -> R:
        return self

    def __next__(self) -> T:
        item = self.next(timeout=None)
        if item is None:
            raise StopIteration
        return item

    def __enter__(self: R) -> R:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
