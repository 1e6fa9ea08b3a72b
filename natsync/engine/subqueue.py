"""A subscription's engine side: its bounded queue, filled by the reader in batches, and
the dispatcher thread that runs its callback.

The reader hands each queue the messages of one socket read at once, under the queue's
lock, and only wakes consumers that are actually waiting. The reader never waits: past
the pending limits new messages are dropped and counted.

Consumers take messages without the lock (a deque pop is atomic). The counts stay exact
anyway because only the reader writes them: the messages taken are those queued less
those left, and the bytes pending are found from `_marks`, the running byte total at
which each message still queued was queued (the oldest one still queued is the one at
index `queued - len(queue)`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from itertools import accumulate
from typing import Callable, Optional

from ..errors import BadSubscriptionError, Error, TimeoutError
from ..msg import Msg
from . import threads
from .doorbell import Doorbell

MsgHandler = Callable[[Msg], object]

#: Marks of consumed messages are trimmed in blocks of at least this many.
_TRIM = 256


class MaxMessagesReached(BadSubscriptionError):
    """The subscription ended after its `max_msgs` messages."""

    def __init__(self) -> None:
        super().__init__("nats: maximum messages delivered")


class SubscriptionDrained(BadSubscriptionError):
    """The subscription was drained."""

    def __init__(self) -> None:
        super().__init__("nats: subscription drained")


class Unsubscribed(BadSubscriptionError):
    """The subscription was unsubscribed; its queued messages were discarded."""

    def __init__(self) -> None:
        super().__init__("nats: subscription was unsubscribed")


class SubQueue:
    """What the engine keeps of one subscription: sid, subject and group, its limits, its
    pending messages, and why its input ended."""

    def __init__(self, sid: int, subject: str, group: str, cb: Optional[MsgHandler],
                 max_msgs: int, pending_msgs_limit: int, pending_bytes_limit: int,
                 report_error: Callable[[Exception], None]) -> None:
        self.sid = sid
        self.subject = subject
        self.group = group
        #: The auto-unsubscribe limit (0: none); set before the UNSUB frame is queued.
        self.max_msgs = max_msgs
        self._cb = cb
        self._report_error = report_error
        self._msgs_limit = pending_msgs_limit if pending_msgs_limit > 0 else 1 << 62
        self._bytes_limit = pending_bytes_limit if pending_bytes_limit > 0 else 1 << 62
        #: The pending messages; consumers pop from the left without the lock.
        self.msgs: deque[Msg] = deque()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # next_msg() and wait_idle() wait here
        self._waiters = 0  # threads waiting on _cond: notified only when there are
        self._bell = Doorbell()  # the dispatcher sleeps here while the queue is empty
        self._queued = 0  # messages ever queued (less any discarded), reader-written
        self._queued_bytes = 0  # their payload bytes
        self._marks: list[int] = []  # byte total before each message from index _base on
        self._base = 0
        #: Messages the server sent (queued, delivered or dropped); reader-written.
        self.received = 0
        self.dropped = 0
        self._delivered = 0  # callback subscriptions only: messages passed to the callback
        self._slow = False
        #: Why input ended: None while open. `clean`: whether iteration just stops.
        self.ended: Optional[Error] = None
        self.clean = True
        self._dispatcher: Optional[threading.Thread] = None
        self._busy = False
        if cb is not None:
            self._dispatcher = threading.Thread(
                target=self._dispatch, name=f"natsync-dispatch-{sid}", daemon=True)

    # --- the reader's side ---------------------------------------------------------------

    def deliver(self, msgs: list[Msg]) -> tuple[int, bool]:
        """Queue a batch (reader thread): (messages dropped, whether the pending limits
        were just hit). Reaching `max_msgs` ends the input (`ended` is then set)."""
        with self._lock:
            if self.ended is not None:
                return 0, False
            if self.max_msgs:
                room = self.max_msgs - self.received
                if len(msgs) >= room:
                    msgs = msgs[:room]
                    self.ended = MaxMessagesReached()
            q = self.msgs
            marks = self._marks
            pending = self._pending_bytes()
            start = self._queued_bytes
            dropped = 0
            sizes = [len(m.data) for m in msgs]
            total = sum(sizes)
            if not msgs:
                pass
            elif len(q) + len(msgs) <= self._msgs_limit and pending + total <= self._bytes_limit:
                marks += accumulate(sizes[:-1], initial=start)
                q.extend(msgs)
                self._queued += len(msgs)
                self._queued_bytes = start + total
            else:
                mark = start
                for m, size in zip(msgs, sizes):
                    if len(q) >= self._msgs_limit or pending + size > self._bytes_limit:
                        dropped += 1
                    else:
                        marks.append(mark)
                        mark += size
                        pending += size
                        q.append(m)
                        self._queued += 1
                self._queued_bytes = mark
            self.received += len(msgs)
            new_episode = False
            if dropped:
                self.dropped += dropped
                new_episode = not self._slow
                self._slow = True
            else:
                self._slow = False
            if self._waiters:
                self._cond.notify_all()
            if self._bell.asleep:
                self._bell.ring()
            return dropped, new_episode

    def _pending_bytes(self) -> int:
        """Payload bytes queued and not yet taken (holds the lock); trims old marks."""
        left = len(self.msgs)  # consumers may take more meanwhile: an upper bound then
        oldest = self._queued - left
        marks = self._marks
        if not left:
            if marks:
                marks.clear()
            self._base = oldest
            return 0
        taken = oldest - self._base
        if taken >= _TRIM:
            del marks[:taken]
            self._base = oldest
            taken = 0
        return self._queued_bytes - marks[taken]

    def end(self, reason: Error, clean: bool = True, discard: bool = False) -> None:
        """Stop input; queued messages stay readable unless `discard`. Wakes every waiter."""
        with self._lock:
            if self.ended is None or isinstance(self.ended, MaxMessagesReached):
                self.ended = reason
                self.clean = clean
            if discard:
                self._discard()
            self._cond.notify_all()
            if self._bell.asleep:
                self._bell.ring()

    def _discard(self) -> None:
        """Empty the queue (holding the lock), uncounting what no consumer took meanwhile."""
        pop = self.msgs.popleft
        while True:
            try:
                pop()
            except IndexError:
                break
            self._queued -= 1
        self._marks.clear()
        self._base = self._queued

    # --- consumers ---------------------------------------------------------------------------

    def wait_next(self, timeout: Optional[float]) -> Msg:
        """Wait until a message is queued (and take it), the input ends, or time is up.

        Another thread's lock-free pop may take the message this one was woken for;
        then it simply waits again.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        pop = self.msgs.popleft
        with self._lock:
            self._waiters += 1
            try:
                while True:
                    try:
                        return pop()
                    except IndexError:
                        pass
                    if self.ended is not None:
                        raise self.ended
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

    @property
    def has_callback(self) -> bool:
        return self._cb is not None

    @property
    def pending_bytes(self) -> int:
        with self._lock:
            return self._pending_bytes()

    @property
    def delivered(self) -> int:
        """Messages handed to the user (taken by a consumer or passed to the callback)."""
        if self._cb is not None:
            return self._delivered
        with self._lock:
            return self._queued - len(self.msgs)

    # --- the callback's thread ------------------------------------------------------------------

    def start(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.start()

    def _dispatch(self) -> None:
        """The dispatcher thread: run the callback for each message, in order."""
        cb = self._cb
        assert cb is not None
        lock = self._lock
        while True:
            with lock:
                while not self.msgs and self.ended is None:
                    self._bell.sleep(lock)
                if not self.msgs:
                    return
                batch = list(self.msgs)  # the dispatcher is the only consumer here
                self.msgs.clear()
                self._busy = True
            try:
                for msg in batch:
                    # Unlocked reads and writes: this thread is the only writer of _delivered.
                    if self.ended is not None and isinstance(self.ended, Unsubscribed):
                        break  # unsubscribe() discards what is queued, this batch included
                    self._delivered += 1
                    try:
                        cb(msg)
                    except Exception as exc:  # a failing callback must not kill delivery
                        self._report_error(exc)
            finally:
                with lock:
                    self._busy = False
                    if self._waiters:
                        self._cond.notify_all()

    def wait_idle(self, deadline: float) -> bool:
        """Wait until the callback has processed everything queued; False on timeout."""
        if self._dispatcher is None or self._dispatcher is threading.current_thread():
            return True
        with self._lock:
            self._waiters += 1
            try:
                while self.msgs or self._busy:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
            finally:
                self._waiters -= 1
        return True

    def join(self) -> None:
        """Join the dispatcher thread (unless called from it)."""
        threads.join(self._dispatcher)
