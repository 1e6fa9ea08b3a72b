"""Watching a bucket's meta messages: a blocking iterator of ObjectInfo, like a KV watcher."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Optional

from ..js import api
from ..js.targets import OrderedTarget
from ..js.watch import OrderedWatch, first_new_seq
from ..msg import Msg
from .config import stream_name
from .errors import BadObjectMetaError
from .info import ObjectInfo

if TYPE_CHECKING:
    from ..js.manager import JetStreamManager

log = logging.getLogger("natsync.obs")

__all__ = ["ObjectWatcher"]


class ObjectWatcher(OrderedWatch[ObjectInfo]):
    """Yields the ObjectInfo of each object (newest meta), then None, then every change.

    `None` marks the end of the initial values (not sent with `updates_only=True`).
    Iteration blocks for the next change and ends after `stop()` (or leaving a `with`
    block). Built on an ordered consumer of `$O.<bucket>.M.>`, so it resumes by itself
    after a reconnect or a server restart. With `cb`, the watcher's own thread calls
    `cb(info)` (and `cb(None)`) instead.
    """

    _what = "object store update"
    _thread_name = "natsync-obj-watch"

    def __init__(self, js: JetStreamManager, bucket: str, ignore_deletes: bool = False,
                 include_history: bool = False, updates_only: bool = False,
                 cb: Optional[Callable[[Optional[ObjectInfo]], Any]] = None) -> None:
        self.bucket = bucket
        self._ignore_deletes = ignore_deletes
        stream = stream_name(bucket)
        start: Optional[int] = None
        policy: Optional[api.DeliverPolicy] = None
        if updates_only:
            start = first_new_seq(js, stream)
        elif include_history:
            policy = api.DeliverPolicy.ALL
        else:
            policy = api.DeliverPolicy.LAST_PER_SUBJECT
        target = OrderedTarget(js, stream, filter_subjects=[f"$O.{bucket}.M.>"],
                               deliver_policy=policy, opt_start_seq=start)
        super().__init__(js, stream, target, updates_only, batch=256, cb=cb)

    def _item(self, msg: Msg) -> Optional[ObjectInfo]:
        try:
            info = ObjectInfo.from_json(msg.data)
        except BadObjectMetaError as exc:
            log.warning("natsync: skipping bad object meta on %s: %s", msg.subject, exc)
            return None
        info.mtime = msg.metadata.timestamp
        if self._ignore_deletes and info.deleted:
            return None
        return info

    def __repr__(self) -> str:
        return f"<ObjectWatcher bucket={self.bucket!r}>"
