"""Watching a bucket's meta messages: a blocking iterator of ObjectInfo, like a KV watcher."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Iterator, Optional

from ..errors import BadSubscriptionError
from ..errors import TimeoutError as NatsTimeoutError
from ..js import api
from ..js.consumer import MessageStream, OrderedConsumer
from .config import stream_name
from .errors import BadObjectMetaError
from .info import ObjectInfo

if TYPE_CHECKING:
    from ..js.manager import JetStreamManager

log = logging.getLogger("natsync.obs")

__all__ = ["ObjectWatcher"]


class ObjectWatcher:
    """Yields the ObjectInfo of each object (newest meta), then None, then every change.

    `None` marks the end of the initial values (not sent with `updates_only=True`).
    Iteration blocks for the next change and ends after `stop()` (or leaving a `with`
    block). Built on an ordered consumer of `$O.<bucket>.M.>`, so it resumes by itself
    after a reconnect or a server restart.
    """

    def __init__(self, js: JetStreamManager, bucket: str, ignore_deletes: bool = False,
                 include_history: bool = False, updates_only: bool = False) -> None:
        self.bucket = bucket
        self._ignore_deletes = ignore_deletes
        if updates_only:
            policy = api.DeliverPolicy.NEW
        elif include_history:
            policy = api.DeliverPolicy.ALL
        else:
            policy = api.DeliverPolicy.LAST_PER_SUBJECT
        stream = stream_name(bucket)
        self._consumer = OrderedConsumer(js, stream, filter_subjects=[f"$O.{bucket}.M.>"],
                                         deliver_policy=policy)
        self._init_done = updates_only
        self._marker_due = False
        self._stopped = False
        self._closed = False
        if not updates_only:
            try:
                pending = js.consumer_info(stream, self._consumer.name).num_pending
            except BaseException:
                self._consumer.delete()
                raise
            if pending == 0:
                self._init_done = self._marker_due = True
        self._msgs: MessageStream = self._consumer.messages(max_messages=256)

    def __iter__(self) -> Iterator[Optional[ObjectInfo]]:
        return self

    def __next__(self) -> Optional[ObjectInfo]:
        return self.updates(timeout=None)

    def updates(self, timeout: Optional[float] = 5.0) -> Optional[ObjectInfo]:
        """The next ObjectInfo (or the None marker); TimeoutError if none comes in `timeout`.

        Raises StopIteration once the watcher is stopped.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._marker_due:
                self._marker_due = False
                return None
            if self._stopped:
                raise StopIteration
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if remaining is not None and remaining <= 0:
                raise NatsTimeoutError("nats: no object store update in time")
            try:
                msg = self._msgs.next(timeout=remaining)
            except BadSubscriptionError:  # stop() from another thread while we waited
                if not self._stopped:
                    raise
                msg = None
            if msg is None:
                self._stopped = True
                raise StopIteration
            meta = msg.metadata
            if not self._init_done and meta.num_pending == 0:
                self._init_done = self._marker_due = True
            try:
                info = ObjectInfo.from_json(msg.data)
            except BadObjectMetaError as exc:
                log.warning("natsync: skipping bad object meta on %s: %s", msg.subject, exc)
                continue
            info.mtime = meta.timestamp
            if self._ignore_deletes and info.deleted:
                continue
            return info

    def stop(self) -> None:
        """End the watch: iteration stops and the server-side consumer is deleted."""
        self._stopped = True
        if self._closed:
            return
        self._closed = True
        self._msgs.stop()
        self._consumer.delete()

    def __enter__(self) -> ObjectWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ObjectWatcher bucket={self.bucket!r}>"
