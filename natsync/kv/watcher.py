"""Watching keys: a blocking iterator of Entry built on an ordered pull consumer (ADR-8, ADR-17).

The consumer's deliver policy picks the start: the latest revision of each key
(last_per_subject), every stored revision (all, `include_history`), every revision
from a given one on (`resume_from_revision`, by start sequence) or only what comes
next (`updates_only`, from the stream's next sequence). After a reconnect, a
server restart, a missed heartbeat or the consumer's loss, the ordered consumer is
re-created from the revision after the last one handed out, so no update is lost
or repeated. While the initial values are still coming it is re-created as
last_per_subject again (and revisions already handed out are skipped), so a resume
there never brings back values that were already superseded when the watch began.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Union

from ..js import api
from ..js.targets import OrderedTarget
from ..js.watch import OrderedWatch, first_new_seq
from ..msg import Msg
from .config import check_revision
from .entry import Entry
from .errors import KeyValueCodecError
from .keys import KeySpace

if TYPE_CHECKING:
    from ..js.manager import JetStreamManager

__all__ = ["KeyWatcher"]

log = logging.getLogger("natsync.kv")

#: Messages asked for per pull, and the idle heartbeat that notices a silent server.
WATCH_BATCH = 256
LIST_BATCH = 4096
WATCH_HEARTBEAT = 5.0
#: nats-py's default: the server deletes a watch's consumer after 5 minutes without pulls.
INACTIVE_THRESHOLD = 300.0


class KeyWatcher(OrderedWatch[Entry]):
    """Yields an Entry per revision, one None once the initial values are in, then every update.

    `None` marks the end of the initial values, also when there were none; it is not
    sent with `updates_only=True`. Iteration blocks for the next update and ends after
    `stop()` (or leaving a `with` block); `updates(timeout)` returns one item at a time.
    With `cb`, the watcher's own thread calls `cb(entry)` (and `cb(None)`) instead.
    """

    _what = "key-value update"
    _thread_name = "natsync-kv-watch"

    def __init__(self, js: JetStreamManager, bucket: str, stream: str,
                 keys: Union[str, Sequence[str]], include_history: bool = False,
                 ignore_deletes: bool = False, meta_only: bool = False,
                 updates_only: bool = False, inactive_threshold: Optional[float] = None,
                 batch: int = WATCH_BATCH, heartbeat: float = WATCH_HEARTBEAT,
                 resume_from_revision: Optional[int] = None,
                 cb: Optional[Callable[[Optional[Entry]], Any]] = None,
                 space: Optional[KeySpace] = None) -> None:
        self.bucket = bucket
        self._space = space if space is not None else KeySpace(bucket)
        self._ignore_deletes = ignore_deletes
        self._meta_only = meta_only
        self._init_done = updates_only  # read by _resume while the consumer is created
        self._last_seq = 0  # stream sequence of the last revision handed out (or skipped)
        subjects = self._space.filters(keys)
        start: Optional[int] = None
        policy: Optional[api.DeliverPolicy]
        if resume_from_revision is not None:
            policy = None
            start = check_revision(resume_from_revision)
        elif updates_only:
            policy = None
            start = first_new_seq(js, stream)
        elif include_history:
            policy = api.DeliverPolicy.ALL
        else:
            policy = api.DeliverPolicy.LAST_PER_SUBJECT
        resume = self._resume if policy == api.DeliverPolicy.LAST_PER_SUBJECT else None
        target = OrderedTarget(js, stream, subjects, policy, start, meta_only or None,
                               inactive_threshold or INACTIVE_THRESHOLD, resume)
        super().__init__(js, stream, target, updates_only, batch, heartbeat, cb)

    def _resume(self, cfg: api.ConsumerConfig, stream_seq: int) -> api.ConsumerConfig:
        """The config a latest-values watch re-creates its consumer with, to stay exact
        (a watch of all revisions or of updates only resumes exactly as it is)."""
        if not self._init_done:
            # Still in the initial values: the latest of each key again (handed-out ones skipped).
            return cfg.evolve(deliver_policy=api.DeliverPolicy.LAST_PER_SUBJECT, opt_start_seq=None)
        if not stream_seq:
            # No key matched when the watch began: everything stored since is an update.
            return cfg.evolve(deliver_policy=api.DeliverPolicy.ALL, opt_start_seq=None)
        return cfg

    def _item(self, msg: Msg) -> Optional[Entry]:
        meta = msg.metadata
        seq = meta.sequence.stream
        if seq <= self._last_seq:
            return None  # handed out before the consumer was re-created
        self._last_seq = seq
        try:
            entry = self._space.entry(self._space.key_of(msg.subject), msg.data, seq,
                                      meta.num_pending, meta.timestamp, msg.headers,
                                      self._meta_only)
        except KeyValueCodecError as exc:  # written without the codec: not ours to show
            log.warning("natsync: skipping a revision of bucket %r: %s", self.bucket, exc)
            return None
        if self._ignore_deletes and entry.deleted:
            return None
        return entry

    def __repr__(self) -> str:
        return f"<KeyWatcher bucket={self.bucket!r} consumer={self._target.name!r}>"
