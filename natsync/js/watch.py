"""What the Key-Value and Object Store watchers share: an ordered consumer read as a stream
of items, with one `None` after the initial values, `updates(timeout)`, iteration and `stop()`,
or the same items handed to a callback on a thread of the watcher's own.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterator, Optional, TypeVar

from ..errors import BadSubscriptionError, Error
from ..errors import TimeoutError as NatsTimeoutError
from ..msg import Msg
from .consumer import DEFAULT_EXPIRES, MessageStream
from .targets import OrderedTarget

if TYPE_CHECKING:
    from .manager import JetStreamManager

T = TypeVar("T")

#: How long stop() (and the client's close) waits for a callback still running.
JOIN_TIMEOUT = 5.0


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
    With `cb`, a thread of the watcher's own calls `cb(item)` for the same items instead.
    """

    _what = "update"
    _thread_name = "natsync-watch"

    def __init__(self, jsm: JetStreamManager, stream: str, target: OrderedTarget,
                 updates_only: bool, batch: int, heartbeat: Optional[float] = None,
                 cb: Optional[Callable[[Optional[T]], Any]] = None) -> None:
        self._target = target
        self._nc = jsm.nc
        self._init_done = updates_only
        self._marker_due = False
        self._stopped = False
        self._closed = False
        self._thread: Optional[threading.Thread] = None
        try:
            if not updates_only and jsm.consumer_info(stream, target.name).num_pending == 0:
                self._init_done = self._marker_due = True
            expires = DEFAULT_EXPIRES if heartbeat is None else max(DEFAULT_EXPIRES, heartbeat * 2)
            self._msgs = MessageStream(jsm.nc, target, batch, expires, heartbeat)
        except BaseException:
            target.delete()
            raise
        if cb is not None:
            self._thread = threading.Thread(target=self._dispatch, args=(cb,),
                                            name=self._thread_name, daemon=True)
            self._nc.add_close_hook(self.stop)  # the client's close() joins the thread too
            self._thread.start()

    def _dispatch(self, cb: Callable[[Optional[T]], Any]) -> None:
        """The callback thread: `cb(item)` for every item in order, until stopped.

        A callback that raises is reported to the client's error_cb and the next item
        follows; an error that ends the watch itself is reported once and stops it.
        """
        while True:
            try:
                item = self._next_item(None)
            except StopIteration:
                return
            except Exception as exc:
                if not (self._stopped or self._nc.is_closed):
                    self._nc.report_error(exc)
                self.stop()
                return
            try:
                cb(item)
            except Exception as exc:
                self._nc.report_error(exc)

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
        if self._thread is not None:
            raise Error("nats: a watcher with a callback cannot be read with updates() "
                        "or iteration")
        return self._next_item(timeout)

    def _next_item(self, timeout: Optional[float]) -> Optional[T]:
        """The next item (see `updates`), for the reader or the callback thread."""
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
        """End the watch: iteration stops and the server-side consumer is deleted.

        A callback watcher's thread is joined (unless stop() is called from the callback;
        up to 5 s for a callback that will not return): after that no callback runs.
        """
        self._stopped = True
        if not self._closed:
            self._closed = True
            self._msgs.stop()
            self._target.delete()
        thread = self._thread
        if thread is not None:
            if thread is not threading.current_thread():
                thread.join(JOIN_TIMEOUT)
            self._nc.remove_close_hook(self.stop)

    @property
    def stopped(self) -> bool:
        """True once `stop()` was called (or the iteration ended)."""
        return self._stopped

    def __enter__(self) -> OrderedWatch[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
