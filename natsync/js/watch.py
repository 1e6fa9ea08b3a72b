"""What the Key-Value and Object Store watchers share: an ordered consumer read as a stream
of items, with one `None` after the initial values, `updates(timeout)`, iteration and `stop()`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Generic, Iterator, Optional, TypeVar

from ..errors import BadSubscriptionError
from ..errors import TimeoutError as NatsTimeoutError
from ..msg import Msg
from .consumer import DEFAULT_EXPIRES, MessageStream
from .targets import OrderedTarget

if TYPE_CHECKING:
    from .manager import JetStreamManager

T = TypeVar("T")


def first_new_seq(jsm: JetStreamManager, stream: str) -> int:
    """The stream sequence an updates-only watch starts at.

    An explicit start (rather than deliver policy "new") means a consumer re-created
    before its first delivery still resumes exactly where the watch began.
    """
    return jsm.stream_info(stream).state.last_seq + 1


class OrderedWatch(Generic[T]):
    """Turns an ordered consumer's messages into items; subclasses say how (`_item`).

    `None` marks the end of the initial values, also when there were none; it is not
    sent for updates-only watches. Iteration blocks for the next item and ends after
    `stop()` (or leaving a `with` block); `updates(timeout)` returns one item at a time.
    """

    _what = "update"

    def __init__(self, jsm: JetStreamManager, stream: str, target: OrderedTarget,
                 updates_only: bool, batch: int, heartbeat: Optional[float] = None) -> None:
        self._target = target
        self._init_done = updates_only
        self._marker_due = False
        self._stopped = False
        self._closed = False
        try:
            if not updates_only and jsm.consumer_info(stream, target.name).num_pending == 0:
                self._init_done = self._marker_due = True
            expires = DEFAULT_EXPIRES if heartbeat is None else max(DEFAULT_EXPIRES, heartbeat * 2)
            self._msgs = MessageStream(jsm.nc, target, batch, expires, heartbeat)
        except BaseException:
            target.delete()
            raise

    def _item(self, msg: Msg) -> Optional[T]:
        """The item a delivered message stands for, or None to skip it."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[Optional[T]]:
        return self

    def __next__(self) -> Optional[T]:
        return self.updates(timeout=None)

    def updates(self, timeout: Optional[float] = 5.0) -> Optional[T]:
        """The next item, or None for the end-of-initial-values marker.

        Raises natsync.errors.TimeoutError if nothing comes within `timeout` seconds
        (None: wait as long as it takes), and StopIteration once the watcher is stopped.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._marker_due:
                self._marker_due = False
                return None
            if self._stopped:
                raise StopIteration
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise NatsTimeoutError(f"nats: no {self._what} in time")
            try:
                msg = self._msgs.next(timeout=remaining)
            except BadSubscriptionError:
                if not self._stopped:  # not stop() from another thread: a real error
                    raise
                msg = None
            if msg is None:
                self._stopped = True
                raise StopIteration
            if not self._init_done and msg.metadata.num_pending == 0:
                self._init_done = self._marker_due = True
            item = self._item(msg)
            if item is not None:
                return item

    def stop(self) -> None:
        """End the watch: iteration stops and the server-side consumer is deleted."""
        self._stopped = True
        if self._closed:
            return
        self._closed = True
        self._msgs.stop()
        self._target.delete()

    @property
    def stopped(self) -> bool:
        """True once `stop()` was called (or the iteration ended)."""
        return self._stopped

    def __enter__(self) -> OrderedWatch[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
