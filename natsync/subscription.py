"""Subscriptions: the handle `Client.subscribe` returns.

Read one with `next_msg()`, by iterating it, or through its callback. The messages wait
in the subscription's queue (engine/subqueue.py), which the reader thread fills; the
subscription table (engine/subtable.py) unsubscribes and drains it.
"""

from __future__ import annotations

from typing import Iterator, Optional, Protocol

from .engine.fork import ForkGuard
from .engine.subqueue import (
    MaxMessagesReached,
    MsgHandler,
    SubQueue,
    SubscriptionDrained,
    Unsubscribed,
)
from .errors import BadSubscriptionError, ConnectionClosedError, Error
from .msg import Msg

__all__ = ["MaxMessagesReached", "MsgHandler", "SubOwner", "Subscription",
           "SubscriptionDrained", "Unsubscribed"]


class SubOwner(Protocol):
    """What a subscription asks of the table that holds it."""

    def unsubscribe(self, queue: SubQueue, limit: int) -> None: ...

    def drain(self, queue: SubQueue, timeout: Optional[float]) -> None: ...

    @property
    def closed(self) -> bool: ...


class Subscription:
    """A subscription; read it with `next_msg()`, by iterating, or through its callback."""

    def __init__(self, queue: SubQueue, owner: SubOwner, guard: ForkGuard) -> None:
        self._queue = queue
        self._owner = owner
        self._guard = guard
        self._pop = queue.msgs.popleft
        self._has_cb = queue.has_callback
        self.sid = queue.sid
        self.subject = queue.subject
        self.queue = queue.group

    def next_msg(self, timeout: Optional[float] = 1.0) -> Msg:
        """The next message, waiting up to `timeout` seconds (None: no limit).

        Raises TimeoutError when none arrives in time, and the reason the subscription
        ended (unsubscribed, drained, max_msgs reached, connection closed) once its queue is empty.
        """
        if self._guard.forked:
            self._guard.check()
        if self._has_cb:
            raise Error("nats: next_msg() cannot be used on a subscription with a callback")
        try:
            return self._pop()
        except IndexError:
            return self._queue.wait_next(timeout)

    def __iter__(self) -> Iterator[Msg]:
        return self

    def __next__(self) -> Msg:
        """The next message, blocking; iteration stops when the subscription or connection ends."""
        try:
            return self.next_msg(timeout=None)
        except (BadSubscriptionError, ConnectionClosedError):
            if self._queue.clean:
                raise StopIteration from None
            raise

    @property
    def pending_msgs(self) -> int:
        """Messages received and not yet handed to the user."""
        return len(self._queue.msgs)

    @property
    def pending_bytes(self) -> int:
        """Payload bytes received and not yet handed to the user."""
        return self._queue.pending_bytes

    @property
    def delivered(self) -> int:
        """Messages handed to the user (returned by next_msg or passed to the callback)."""
        return self._queue.delivered

    @property
    def received(self) -> int:
        """Messages the server sent to this subscription (queued, delivered or dropped)."""
        return self._queue.received

    @property
    def dropped(self) -> int:
        """Messages dropped because the pending limits were reached (slow consumer)."""
        return self._queue.dropped

    @property
    def max_msgs(self) -> int:
        """The auto-unsubscribe limit (0: none)."""
        return self._queue.max_msgs

    @property
    def is_valid(self) -> bool:
        """True until the subscription ends for any reason."""
        return self._queue.ended is None

    def unsubscribe(self, limit: int = 0) -> None:
        """Stop the subscription now, or after `limit` messages in total when limit > 0."""
        self._owner.unsubscribe(self._queue, limit)

    def drain(self, timeout: Optional[float] = None) -> None:
        """Unsubscribe, then let every message already sent by the server be processed.

        Blocks until the callback has handled them (callback subscriptions) or the server
        has confirmed the unsubscribe (queued messages stay readable with next_msg).
        """
        self._owner.drain(self._queue, timeout)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._queue.ended is None and not self._owner.closed:
            self.unsubscribe()

    def __repr__(self) -> str:
        queue = f" queue={self.queue!r}" if self.queue else ""
        return (f"<Subscription sid={self.sid} subject={self.subject!r}{queue} "
                f"pending={len(self._queue.msgs)}>")
