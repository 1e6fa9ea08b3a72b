"""Subscriptions: a bounded per-subscription queue filled by the reader thread in batches.

The reader hands each subscription the messages of one socket read at once, under the
subscription's lock, and only wakes consumers that are actually waiting. Consumers are
`next_msg()`/iteration on any thread, or the subscription's own dispatcher thread when it
has a callback. The reader never waits: when the pending limits are reached, new messages
are dropped and counted.

`next_msg()` takes a queued message without the lock (a deque pop is atomic). The counts
stay exact anyway because only the reader writes them: each queued message carries the
running byte total at which it was queued, so the bytes pending are that total minus the
oldest queued message's mark, and the messages delivered are those queued minus those left.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Callable, Iterator, Optional

from .errors import (
    BadSubscriptionError,
    ConnectionClosedError,
    Error,
    TimeoutError,
)
from .msg import Msg

if TYPE_CHECKING:
    from .client import Client

MsgHandler = Callable[[Msg], object]


class MaxMessagesReached(BadSubscriptionError):
    """The subscription ended after its `max_msgs` messages."""

    def __init__(self) -> None:
        super().__init__("nats: maximum messages delivered")


class SubscriptionDrained(BadSubscriptionError):
    """The subscription was drained."""

    def __init__(self) -> None:
        super().__init__("nats: subscription drained")


class Subscription:
    """A subscription; read it with `next_msg()`, by iterating, or through its callback."""

    def __init__(self, client: Client, sid: int, subject: str, queue: str,
                 cb: Optional[MsgHandler], max_msgs: int, pending_msgs_limit: int,
                 pending_bytes_limit: int) -> None:
        self._client = client
        self.sid = sid
        self.subject = subject
        self.queue = queue
        self._cb = cb
        self._max = max_msgs
        self._msgs_limit = pending_msgs_limit if pending_msgs_limit > 0 else 1 << 62
        self._bytes_limit = pending_bytes_limit if pending_bytes_limit > 0 else 1 << 62
        self._msgs: deque[Msg] = deque()
        self._pop = self._msgs.popleft
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiters = 0
        self._queued = 0  # messages ever queued (less any discarded), reader-written
        self._queued_bytes = 0  # their payload bytes: the next message's mark
        self._received = 0
        self._delivered = 0  # callback subscriptions only: messages passed to the callback
        self._dropped = 0
        self._slow = False
        # Why input ended: None while open. `_clean` says whether iteration just stops.
        self._ended: Optional[Error] = None
        self._clean = True
        self._dispatcher: Optional[threading.Thread] = None
        self._busy = False
        if cb is not None:
            self._dispatcher = threading.Thread(
                target=self._dispatch, name=f"natsync-dispatch-{sid}", daemon=True)

    # --- reader side ------------------------------------------------------------------

    def _deliver(self, msgs: list[Msg]) -> tuple[int, bool]:
        """Queue a batch from the reader: (messages dropped, whether the limit was just hit).

        Called by the reader thread only. When `max_msgs` is reached the subscription's
        input ends; the client removes it from its table when `_ended` is set.
        """
        with self._lock:
            if self._ended is not None:
                return 0, False
            if self._max:
                room = self._max - self._received
                if len(msgs) >= room:
                    msgs = msgs[:room]
                    self._ended = MaxMessagesReached()
            q = self._msgs
            pending = self._pending_bytes()
            start = mark = self._queued_bytes
            for m in msgs:
                m._mark = mark
                mark += len(m.data)
            dropped = 0
            if (len(q) + len(msgs) <= self._msgs_limit
                    and pending + mark - start <= self._bytes_limit):
                q.extend(msgs)
                self._queued += len(msgs)
            else:
                mark = start
                for m in msgs:
                    size = len(m.data)
                    if len(q) >= self._msgs_limit or pending + size > self._bytes_limit:
                        dropped += 1
                    else:
                        m._mark = mark
                        mark += size
                        pending += size
                        q.append(m)
                        self._queued += 1
            self._queued_bytes = mark
            self._received += len(msgs)
            new_episode = False
            if dropped:
                self._dropped += dropped
                new_episode = not self._slow
                self._slow = True
            else:
                self._slow = False
            if self._waiters or self._ended is not None:
                self._cond.notify_all()
            return dropped, new_episode

    def _end(self, reason: Error, clean: bool = True, discard: bool = False) -> None:
        """Stop input; queued messages stay readable unless `discard`. Wakes every waiter."""
        with self._lock:
            if self._ended is None or isinstance(self._ended, MaxMessagesReached):
                self._ended = reason
                self._clean = clean
            if discard:
                self._discard()
            self._cond.notify_all()

    def _discard(self) -> None:
        """Empty the queue (holding the lock), uncounting what no consumer took meanwhile."""
        pop = self._pop
        while True:
            try:
                pop()
            except IndexError:
                return
            self._queued -= 1

    def _pending_bytes(self) -> int:
        """Payload bytes queued and not yet taken: the total less the oldest one's mark."""
        try:
            return self._queued_bytes - self._msgs[0]._mark
        except IndexError:
            return 0

    # --- consumer side ----------------------------------------------------------------

    def next_msg(self, timeout: Optional[float] = 1.0) -> Msg:
        """The next message, waiting up to `timeout` seconds (None: no limit).

        Raises TimeoutError when none arrives in time, and the reason the subscription
        ended (unsubscribed, drained, max_msgs reached, connection closed) once its queue is empty.
        """
        if self._client._forked:
            self._client._check_fork()
        if self._cb is not None:
            raise Error("nats: next_msg() cannot be used on a subscription with a callback")
        try:
            return self._pop()
        except IndexError:
            return self._next_waiting(timeout)

    def _next_waiting(self, timeout: Optional[float]) -> Msg:
        """Wait until a message is queued (and take it), the input ends, or time is up.

        Another thread's lock-free `next_msg` may take the message this one was woken
        for; then it simply waits again.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        pop = self._pop
        with self._lock:
            self._waiters += 1
            try:
                while True:
                    try:
                        return pop()
                    except IndexError:
                        pass
                    if self._ended is not None:
                        raise self._ended
                    if deadline is None:
                        self._cond.wait()
                    else:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            raise TimeoutError(
                                f"nats: timeout waiting for a message on {self.subject!r}")
                        self._cond.wait(remaining)
            finally:
                self._waiters -= 1

    def __iter__(self) -> Iterator[Msg]:
        return self

    def __next__(self) -> Msg:
        """The next message, blocking; iteration stops when the subscription or connection ends."""
        try:
            return self.next_msg(timeout=None)
        except (BadSubscriptionError, ConnectionClosedError):
            if self._clean:
                raise StopIteration from None
            raise

    # --- callback dispatch --------------------------------------------------------------

    def _start(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.start()

    def _dispatch(self) -> None:
        """The dispatcher thread: run the callback for each message, in order."""
        cb = self._cb
        assert cb is not None
        while True:
            with self._lock:
                while not self._msgs and self._ended is None:
                    self._waiters += 1
                    self._cond.wait()
                    self._waiters -= 1
                if not self._msgs:
                    return
                batch = list(self._msgs)  # the dispatcher is the only consumer here
                self._msgs.clear()
                self._busy = True
            try:
                for msg in batch:
                    # Unlocked reads and writes: this thread is the only writer of _delivered.
                    if self._ended is not None and not self._clean_drain():
                        break
                    self._delivered += 1
                    try:
                        cb(msg)
                    except Exception as exc:  # a failing callback must not kill delivery
                        self._client._report_error(exc)
            finally:
                with self._lock:
                    self._busy = False
                    self._cond.notify_all()

    def _clean_drain(self) -> bool:
        """True when the input ended in a way that still delivers what was queued."""
        return not isinstance(self._ended, _DISCARDING)

    def _wait_idle(self, deadline: float) -> bool:
        """Wait until the callback has processed everything queued; False on timeout."""
        if self._dispatcher is None or self._dispatcher is threading.current_thread():
            return True
        with self._lock:
            while self._msgs or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def _join(self, timeout: float) -> None:
        d = self._dispatcher
        if d is not None and d.is_alive() and d is not threading.current_thread():
            d.join(timeout)

    # --- public API ---------------------------------------------------------------------

    @property
    def pending_msgs(self) -> int:
        """Messages received and not yet handed to the user."""
        return len(self._msgs)

    @property
    def pending_bytes(self) -> int:
        """Payload bytes received and not yet handed to the user."""
        with self._lock:
            return self._pending_bytes()

    @property
    def delivered(self) -> int:
        """Messages handed to the user (returned by next_msg or passed to the callback)."""
        if self._cb is not None:
            return self._delivered
        with self._lock:
            return self._queued - len(self._msgs)

    @property
    def received(self) -> int:
        """Messages the server sent to this subscription (queued, delivered or dropped)."""
        return self._received

    @property
    def dropped(self) -> int:
        """Messages dropped because the pending limits were reached (slow consumer)."""
        return self._dropped

    @property
    def max_msgs(self) -> int:
        """The auto-unsubscribe limit (0: none)."""
        return self._max

    @property
    def is_valid(self) -> bool:
        """True until the subscription ends for any reason."""
        return self._ended is None

    def unsubscribe(self, limit: int = 0) -> None:
        """Stop the subscription now, or after `limit` messages in total when limit > 0."""
        self._client._unsubscribe(self, limit)

    def drain(self, timeout: Optional[float] = None) -> None:
        """Unsubscribe, then let every message already sent by the server be processed.

        Blocks until the callback has handled them (callback subscriptions) or the server
        has confirmed the unsubscribe (queued messages stay readable with next_msg).
        """
        self._client._drain_sub(self, timeout)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ended is None and not self._client.is_closed:
            self.unsubscribe()

    def __repr__(self) -> str:
        queue = f" queue={self.queue!r}" if self.queue else ""
        return f"<Subscription sid={self.sid} subject={self.subject!r}{queue} pending={len(self._msgs)}>"


class Unsubscribed(BadSubscriptionError):
    """The subscription was unsubscribed; its queued messages were discarded."""

    def __init__(self) -> None:
        super().__init__("nats: subscription was unsubscribed")


_DISCARDING = (Unsubscribed,)
