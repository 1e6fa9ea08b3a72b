"""The subscription table: subscriptions by sid, their SUB/UNSUB frames, and their end.

Edits happen under the engine lock (`Writer.lock`) together with the frame they queue,
so a reconnect, which re-subscribes everything in the table under the same lock, never
sends a subscription twice or loses one. The reader looks sids up in `by_sid` without the
lock (a dict read is atomic).
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Callable, Optional

from ..args import check_timeout
from ..errors import (
    BadSubscriptionError,
    ConnectionClosedError,
    ConnectionDrainingError,
    DrainTimeoutError,
    Error,
    FlushTimeoutError,
    PermissionsError,
)
from ..protocol import encode_sub, encode_unsub
from ..subscription import Subscription
from .fork import ForkGuard
from .subqueue import MsgHandler, SubQueue, SubscriptionDrained, Unsubscribed
from .writer import Writer


class SubTable:
    """Every live subscription of one client (the SubOwner its Subscriptions talk to)."""

    def __init__(self, writer: Writer, guard: ForkGuard,
                 report_error: Callable[[Exception], None],
                 flush: Callable[[float], None], drain_timeout: float) -> None:
        self._writer = writer
        self._lock: threading.Lock = writer.lock
        self._guard = guard
        self._report_error = report_error
        self._flush = flush
        self._drain_timeout = drain_timeout
        #: sid -> queue; read by the reader thread without the lock.
        self.by_sid: dict[int, SubQueue] = {}
        self._sids = itertools.count(1)
        self._refusal: Optional[Callable[[], Error]] = None  # why new subscriptions fail

    def next_sid(self) -> int:
        """A fresh sid (the lock held): for the reply mux's inbox too, so none collide."""
        if self._refusal is not None:
            raise self._refusal()
        return next(self._sids)

    def subscribe(self, subject: str, group: str, cb: Optional[MsgHandler], max_msgs: int,
                  pending_msgs_limit: int, pending_bytes_limit: int) -> Subscription:
        """Add a subscription and queue its SUB (and UNSUB for max_msgs)."""
        with self._lock:
            sid = self.next_sid()
            queue = SubQueue(sid, subject, group, cb, max_msgs, pending_msgs_limit,
                             pending_bytes_limit, self._report_error)
            self.by_sid[sid] = queue
            self._writer.queue_control(encode_sub(subject, sid, group))
            if max_msgs:
                self._writer.queue_control(encode_unsub(sid, max_msgs))
        queue.start()
        return Subscription(queue, self, self._guard)

    # --- what a Subscription asks (SubOwner) -------------------------------------------------

    def unsubscribe(self, queue: SubQueue, limit: int) -> None:
        """Unsubscribe now (queued messages are discarded), or after `limit` messages."""
        self._check_open()
        with self._lock:
            if self.by_sid.get(queue.sid) is not queue:
                raise BadSubscriptionError()
            if 0 < limit and queue.received < limit:
                queue.max_msgs = limit
                self._writer.queue_control(encode_unsub(queue.sid, limit))
                return
            del self.by_sid[queue.sid]
            self._writer.queue_control(encode_unsub(queue.sid))
        queue.end(Unsubscribed(), discard=True)

    def drain(self, queue: SubQueue, timeout: Optional[float]) -> None:
        """Unsubscribe, wait for the server to confirm it (a flush), then for the callback
        to finish what arrived; DrainTimeoutError past `timeout` (drain_timeout)."""
        self._check_open()
        check_timeout(timeout)
        deadline = time.monotonic() + (self._drain_timeout if timeout is None else timeout)
        with self._lock:
            if self.by_sid.get(queue.sid) is not queue:
                raise BadSubscriptionError()
            self._writer.queue_control(encode_unsub(queue.sid))
        try:
            self._flush(max(0.0, deadline - time.monotonic()))
        except FlushTimeoutError:
            raise DrainTimeoutError() from None
        finally:
            self.remove(queue)
            queue.end(SubscriptionDrained())
        if not queue.wait_idle(deadline):
            raise DrainTimeoutError()

    @property
    def closed(self) -> bool:
        return self._refusal is ConnectionClosedError

    def _check_open(self) -> None:
        self._guard.check()
        if self._refusal is ConnectionClosedError:
            raise ConnectionClosedError()

    # --- the engine's side -----------------------------------------------------------------

    def remove(self, queue: SubQueue) -> None:
        """Take an ended subscription out of the table (no UNSUB: the server knows)."""
        with self._lock:
            if self.by_sid.get(queue.sid) is queue:
                del self.by_sid[queue.sid]

    def resubscribe(self) -> list[bytes]:
        """Every subscription's SUB, and UNSUB for what is left of its max_msgs, for a new
        session (the lock held)."""
        frames = []
        for queue in self.by_sid.values():
            frames.append(encode_sub(queue.subject, queue.sid, queue.group))
            if queue.max_msgs:
                frames.append(encode_unsub(queue.sid, max(1, queue.max_msgs - queue.received)))
        return frames

    def start_drain(self) -> list[SubQueue]:
        """Refuse new subscriptions and queue an UNSUB for each one there is (the lock
        held); returns them, to be ended once the server confirmed (`end_drained`)."""
        self._refusal = ConnectionDrainingError
        queues = list(self.by_sid.values())
        for queue in queues:
            self._writer.queue_control(encode_unsub(queue.sid))
        return queues

    def end_drained(self, queues: list[SubQueue], deadline: float) -> bool:
        """End drained subscriptions and wait for their callbacks; False past `deadline`."""
        for queue in queues:
            self.remove(queue)
            queue.end(SubscriptionDrained())
        return all(queue.wait_idle(deadline) for queue in queues)

    def end_denied(self, err: PermissionsError) -> None:
        """The server refused a subscription (-ERR permissions): end the ones it names."""
        with self._lock:
            hit = [q for q in self.by_sid.values() if q.subject == err.subject]
            for queue in hit:
                del self.by_sid[queue.sid]
        for queue in hit:
            queue.end(err, clean=False)

    def close(self) -> None:
        """The client closed: end every subscription and join their callback threads."""
        with self._lock:
            self._refusal = ConnectionClosedError
            queues = list(self.by_sid.values())
            self.by_sid.clear()
        for queue in queues:
            queue.end(ConnectionClosedError())
        for queue in queues:
            queue.join()

    def __len__(self) -> int:
        return len(self.by_sid)
