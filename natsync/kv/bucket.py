"""`KeyValue`: one bucket's keys, read and written through its stream `KV_<bucket>` (ADR-8)."""

from __future__ import annotations

import datetime as _dt
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Sequence,
    Union,
)

from ..headers import Headers
from ..js.api import RawStreamMsg
from ..js.errors import MsgNotFoundError, NoStreamResponseError, WrongLastSequenceError
from .codecs import KeyCodec, ValueCodec
from .config import BucketStatus, check_revision, stream_name
from .entry import KV_OP, ROLLUP, Entry, Operation
from .errors import (
    KeyDeletedError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    MirrorPurgeError,
)
from .keys import KeySpace
from .watcher import LIST_BATCH, KeyWatcher

if TYPE_CHECKING:
    from ..js.context import JetStreamContext

__all__ = ["KeyValue"]

TTL = Union[int, float, str, None]

#: nats-py's default age of the delete markers `purge_deletes()` removes entirely.
PURGE_DELETES_OLDER_THAN = 30 * 60
#: Revisions asked for per batch Direct Get of `history()` (a bucket keeps at most 64).
HISTORY_PAGE = 128
#: The byte limit of such a batch, so a page the server cut short is told from the last one.
HISTORY_PAGE_BYTES = 16 * 1024 * 1024


class KeyValue:
    """A bucket: get/put/create/update/delete/purge keys, list them, watch them.

    Every method blocks until the server answers (or the context's timeout passes).
    `bucket` (also `name`) is the bucket's name. Thread-safe: share it freely.
    """

    def __init__(self, js: JetStreamContext, bucket: str, direct: bool = True,
                 space: Optional[KeySpace] = None) -> None:
        self._js = js
        self.bucket = bucket
        self._stream = stream_name(bucket)
        self._space = space if space is not None else KeySpace(bucket)
        self._direct = direct

    def with_codecs(self, key_codec: Optional[KeyCodec] = None,
                    value_codec: Optional[ValueCodec] = None) -> KeyValue:
        """A handle on the same bucket whose keys and values pass through codecs (ADR-54).

        `key_codec` (e.g. `codecs.Base64Codec()`) lets keys hold what subjects cannot;
        `value_codec` transforms values. Every reader must use the same codecs.
        """
        return KeyValue(self._js, self.bucket, self._direct,
                        self._space.with_codecs(key_codec, value_codec))

    @property
    def name(self) -> str:
        """The bucket's name (nats.go's Bucket())."""
        return self.bucket

    @property
    def stream(self) -> str:
        """The name of the stream holding the bucket (`KV_<bucket>`)."""
        return self._stream

    # --- reading --------------------------------------------------------------------------

    def get(self, key: str, revision: Optional[int] = None) -> Entry:
        """The key's latest value, or the value it had at `revision`.

        Raises KeyNotFoundError if the key (or that revision of it) does not exist and
        KeyDeletedError (a KeyNotFoundError) if that revision is a delete or purge.
        """
        entry = self._entry(key, revision)
        if entry.operation != Operation.PUT:
            raise KeyDeletedError(entry, entry.operation.value)
        return entry

    def _entry(self, key: str, revision: Optional[int] = None) -> Entry:
        """The stored revision (deletes and purges included); KeyNotFoundError if none."""
        subject = self._space.subject(key)
        try:
            if revision is None:
                raw = self._js.get_msg(self._stream, subject=subject, direct=self._direct)
            else:
                if revision < 1:
                    raise KeyNotFoundError(message=f"no revision {revision} of key {key!r}")
                raw = self._js.get_msg(self._stream, seq=revision, direct=self._direct)
        except MsgNotFoundError:
            what = f"key {key!r}" + (f" at revision {revision}" if revision else "")
            raise KeyNotFoundError(message=f"{what} not found in bucket {self.bucket!r}") from None
        if raw.subject != subject:
            raise KeyNotFoundError(message=f"revision {revision} of bucket {self.bucket!r} is "
                                           f"not key {key!r}")
        return self._from_raw(key, raw, 0)

    def _from_raw(self, key: str, raw: RawStreamMsg, delta: int) -> Entry:
        return self._space.entry(key, raw.data, raw.seq, delta, raw.time, raw.headers)

    def history(self, key: str, resume_from_revision: Optional[int] = None) -> List[Entry]:
        """Every stored revision of `key` (deletes included), oldest first; [] if none.

        With `resume_from_revision`, only the revisions from that one on. A bucket with
        direct gets reads them with batch Direct Get, usually in one round trip; that is
        several times faster than the watch used otherwise.
        """
        subject = self._space.subject(key)
        start = 1 if resume_from_revision is None else check_revision(resume_from_revision)
        if not self._direct:
            return self._watched_history(key, resume_from_revision)
        raws: List[RawStreamMsg] = []
        while True:
            page = list(self._js.get_batch(self._stream, subject, batch=HISTORY_PAGE,
                                           max_bytes=HISTORY_PAGE_BYTES, start_seq=start))
            raws += page
            size = sum(len(m.subject) + len(m.hdrs or b"") + len(m.data) for m in page)
            # A short page is the end unless the server stopped it at max_bytes.
            if not page or (len(page) < HISTORY_PAGE and size < HISTORY_PAGE_BYTES // 2):
                break
            start = page[-1].seq + 1
        return [self._from_raw(key, raw, len(raws) - i - 1) for i, raw in enumerate(raws)]

    def _watched_history(self, key: str, resume_from_revision: Optional[int]) -> List[Entry]:
        out: List[Entry] = []
        with self.watch(key, include_history=True,
                        resume_from_revision=resume_from_revision) as w:
            for entry in w:
                if entry is None:
                    break
                out.append(entry)
        return out

    def keys(self, filters: Union[str, Sequence[str], None] = None,
             resume_from_revision: Optional[int] = None) -> List[str]:
        """The keys that have a value (deleted/purged ones left out); [] for an empty bucket.

        `filters` (a key filter or a list of them, with '*' and '>') are applied by
        the server, which sends only the latest revision's headers of each match. With
        `resume_from_revision`, only the keys written at or after that revision.
        """
        return list(self.list_keys(filters, resume_from_revision))

    def list_keys(self, filters: Union[str, Sequence[str], None] = None,
                  resume_from_revision: Optional[int] = None) -> Iterator[str]:
        """Like `keys()`, lazily: a generator for buckets too large to hold as one list.

        Close it (or let it finish) to delete its server-side consumer at once.
        """
        if resume_from_revision is not None:
            yield from self._keys_since(filters, resume_from_revision)
            return
        w = KeyWatcher(self._js, self.bucket, self._stream, filters if filters else ">",
                       ignore_deletes=True, meta_only=True, batch=LIST_BATCH, space=self._space)
        try:
            for entry in w:
                if entry is None:
                    return
                yield entry.key
        finally:
            w.stop()

    def _keys_since(self, filters: Union[str, Sequence[str], None],
                    revision: int) -> List[str]:
        """The keys written at or after `revision` whose latest revision since is a value."""
        alive: Dict[str, bool] = {}
        with KeyWatcher(self._js, self.bucket, self._stream, filters if filters else ">",
                        meta_only=True, batch=LIST_BATCH, resume_from_revision=revision,
                        space=self._space) as w:
            for entry in w:
                if entry is None:
                    break
                alive[entry.key] = entry.operation == Operation.PUT
        return [key for key, has_value in alive.items() if has_value]

    def status(self) -> BucketStatus:
        """The bucket's settings and usage."""
        return BucketStatus.from_stream_info(self.bucket, self._js.stream_info(self._stream))

    # --- writing --------------------------------------------------------------------------

    def put(self, key: str, value: bytes) -> int:
        """Store a new value for `key`; returns its revision."""
        return self._publish(key, self._space.encode_value(value))

    def create(self, key: str, value: bytes, msg_ttl: TTL = None) -> int:
        """Store `value` only if `key` has none (never written, or deleted/purged); its revision.

        KeyWrongLastSequenceError if the key has a value. `msg_ttl` (seconds, or a
        Nats-TTL string) lets this revision expire (needs a bucket with limit_marker_ttl).
        """
        value = self._space.encode_value(value)
        try:
            return self._publish(key, value, last=0, msg_ttl=msg_ttl)
        except KeyWrongLastSequenceError as exc:
            try:
                latest = self._entry(key)
            except KeyNotFoundError:
                raise exc from None
            if latest.operation == Operation.PUT:
                raise
            # A delete/purge marker is the latest revision: replace exactly that one.
            return self._publish(key, value, last=latest.revision, msg_ttl=msg_ttl)

    def update(self, key: str, value: bytes, last: int) -> int:
        """Compare-and-set: store `value` only if `last` is the key's latest revision.

        Returns the new revision; KeyWrongLastSequenceError if another write came first
        (`last=0` means "the key was never written").
        """
        return self._publish(key, self._space.encode_value(value), last=last)

    def delete(self, key: str, last: Optional[int] = None) -> int:
        """Mark `key` deleted (its history stays); with `last`, only if that is its latest revision.

        Returns the revision of the delete marker (truthy, as nats-py's True).
        """
        return self._publish(key, b"", Headers({KV_OP: Operation.DEL.value}), last)

    def purge(self, key: str, msg_ttl: TTL = None) -> int:
        """Delete `key` and every earlier revision of it; returns the purge marker's revision.

        With `msg_ttl` the marker itself expires then (needs limit_marker_ttl), leaving no trace.
        """
        hdrs = Headers({KV_OP: Operation.PURGE.value, ROLLUP: "sub"})
        return self._publish(key, b"", hdrs, msg_ttl=msg_ttl)

    def _publish(self, key: str, value: bytes, headers: Optional[Headers] = None,
                 last: Optional[int] = None, msg_ttl: TTL = None) -> int:
        """Write one revision of `key` (to the origin, for a mirror); its revision."""
        subject = self._space.write_subject(key)
        try:
            return self._js.publish(subject, value, headers=headers,
                                    expected_last_subject_seq=last, msg_ttl=msg_ttl).seq
        except WrongLastSequenceError as exc:
            raise _wrong_last(exc, key) from None
        except NoStreamResponseError as exc:
            if self._space.origin is None:
                raise
            raise NoStreamResponseError(
                f"nats: bucket {self.bucket!r} is a read-only mirror of {self._space.origin!r}: "
                f"writes go to the origin, which did not answer on {subject!r} ({exc})"
                ) from None

    def purge_deletes(self, olderthan: float = PURGE_DELETES_OLDER_THAN) -> bool:
        """Remove the history of deleted/purged keys, keeping markers younger than `olderthan` s.

        A marker older than that (or any, when `olderthan` <= 0) goes too, so the key
        leaves no trace; a younger one stays so watchers can still see the delete.
        MirrorPurgeError for a mirror, which would diverge from its origin.
        """
        if self._space.origin is not None:
            raise MirrorPurgeError(
                f"nats: bucket {self.bucket!r} mirrors {self._space.origin!r}: run purge_deletes "
                "on the origin bucket (the mirror follows it)")
        deleted: List[Entry] = []
        with self.watch(">", meta_only=True) as w:
            for entry in w:
                if entry is None:
                    break
                if entry.operation != Operation.PUT:
                    deleted.append(entry)
        now = _dt.datetime.now(_dt.timezone.utc)
        for entry in deleted:
            keep = 0
            if olderthan > 0 and entry.created is not None:
                if (now - entry.created).total_seconds() < olderthan:
                    keep = 1
            self._js.purge_stream(self._stream, subject=self._space.subject(entry.key), keep=keep)
        return True

    # --- watching -------------------------------------------------------------------------

    def watch(self, keys: Union[str, Sequence[str]] = ">", include_history: bool = False,
              ignore_deletes: bool = False, meta_only: bool = False,
              updates_only: bool = False, inactive_threshold: Optional[float] = None,
              resume_from_revision: Optional[int] = None,
              cb: Optional[Callable[[Optional[Entry]], Any]] = None) -> KeyWatcher:
        """Watch the keys matching `keys` (a filter with '*'/'>', or a list of them).

        First the latest revision of each (every stored one with `include_history`,
        every one from `resume_from_revision` on, none with `updates_only`), then None,
        then every change as it happens. `meta_only` leaves values out;
        `ignore_deletes` leaves deletes and purges out. With `cb`, `cb(entry)` runs for
        each of them (None included) on the watcher's own thread, in order.
        """
        return KeyWatcher(self._js, self.bucket, self._stream, keys, include_history,
                          ignore_deletes, meta_only, updates_only, inactive_threshold,
                          resume_from_revision=resume_from_revision, cb=cb, space=self._space)

    def watchall(self, include_history: bool = False, ignore_deletes: bool = False,
                 meta_only: bool = False, updates_only: bool = False,
                 inactive_threshold: Optional[float] = None,
                 resume_from_revision: Optional[int] = None,
                 cb: Optional[Callable[[Optional[Entry]], Any]] = None) -> KeyWatcher:
        """Watch every key of the bucket (`watch(">")`)."""
        return self.watch(">", include_history, ignore_deletes, meta_only, updates_only,
                          inactive_threshold, resume_from_revision, cb)

    def __repr__(self) -> str:
        return f"<KeyValue bucket={self.bucket!r}>"


def _wrong_last(exc: WrongLastSequenceError, key: str) -> KeyWrongLastSequenceError:
    """The KeyWrongLastSequenceError for the server's err_code 10071 on `key`."""
    return KeyWrongLastSequenceError(code=exc.code, err_code=exc.err_code,
                                     description=exc.description, what=f"key {key!r}")

