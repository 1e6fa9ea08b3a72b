"""An object store bucket (ADR-20): large objects as chunk messages plus one meta message.

`put` streams its input in chunks, a bounded window of them in flight, hashing as it
goes, and writes the meta message last: a put that fails leaves no visible object
and purges the chunks it had sent. `get` reads the chunks in order through an
ordered consumer (a single-chunk object with one direct get), into memory, a file
object or a path, and checks size and SHA-256 digest.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import logging
import os
import tempfile
import time
from collections import deque
from concurrent.futures import Future
from typing import (
    IO,
    TYPE_CHECKING,
    Any,
    Callable,
    Deque,
    List,
    Optional,
    Protocol,
    Tuple,
    Union,
)

from ..errors import BadArgumentError, Error
from ..errors import TimeoutError as NatsTimeoutError
from ..headers import Headers
from ..js import api
from ..js.consumer import OrderedConsumer
from ..js.errors import (
    APIError,
    MsgNotFoundError,
    NoStreamResponseError,
    NotFoundError,
    ServiceUnavailableError,
    StreamNotFoundError,
)
from ..js.manager import JetStreamManager
from ..nuid import next_nuid
from .config import ObjectStoreStatus, check_bucket, chunk_subject, stream_name
from .errors import (
    BadObjectMetaError,
    BucketNotFoundError,
    DigestMismatchError,
    LinkIsABucketError,
    LinkNotAllowedError,
    NoLinkToDeletedError,
    NoLinkToLinkError,
    ObjectAlreadyExistsError,
    ObjectDeletedError,
    ObjectNotFoundError,
)
from .info import (
    ObjectInfo,
    ObjectLink,
    ObjectMeta,
    ObjectMetaOptions,
    ObjectResult,
    check_object_name,
    decode_digest,
    encode_digest,
    meta_subject,
)
from .watcher import ObjectWatcher

if TYPE_CHECKING:
    from ..js.context import JetStreamContext
    from ..msg import Msg

__all__ = ["DEFAULT_CHUNK_SIZE", "ObjectStore", "Progress"]

log = logging.getLogger("natsync.obs")

DEFAULT_CHUNK_SIZE = 128 * 1024
#: Bytes of chunks a put keeps published but not yet acknowledged.
PUT_WINDOW_BYTES = 4 * 1024 * 1024
#: How long a failed put waits for the last acks and the bucket check: on a slow link
#: they are queued behind its chunks, and the put must fail near its own timeout.
CLEANUP_WAIT = 0.2
#: How long the purge of a failed put's chunks may take to be confirmed, in the background.
PURGE_WAIT = 60.0
#: Bytes of chunks a get asks the server for at a time.
GET_WINDOW_BYTES = 4 * 1024 * 1024

_ROLLUP = {"Nats-Rollup": "sub"}

#: `progress(bytes_done, bytes_total)`; bytes_total is None when the size is unknown.
Progress = Callable[[int, Optional[int]], Any]


class Readable(Protocol):
    """A binary file object to put from."""

    def read(self, size: int = ..., /) -> bytes: ...


class Writable(Protocol):
    """A binary file object to get into."""

    def write(self, data: bytes, /) -> object: ...


#: What `put` stores: bytes-like data, a path (os.PathLike), or a binary file object.
PutData = Union[bytes, bytearray, memoryview, "os.PathLike[str]", Readable, IO[bytes]]
#: Where `get` writes: a path (str or os.PathLike) or a binary file object.
WriteInto = Union[str, "os.PathLike[str]", Writable, IO[bytes]]


class ObjectStore:
    """A bucket of objects; get one with `js.object_store(bucket)` or `js.create_object_store`.

    Every method blocks until the server has answered; the handle is thread-safe.
    """

    def __init__(self, js: JetStreamContext, bucket: str,
                 stream_info: Optional[api.StreamInfo] = None, *, timeout: float) -> None:
        self._js = js
        self.bucket = check_bucket(bucket)
        self.stream = stream_name(bucket)
        cfg = stream_info.config if stream_info is not None else None
        self._direct = bool(cfg.allow_direct) if cfg is not None else False
        self._timeout = timeout  # the context's: its async publishes fail after as long

    def __repr__(self) -> str:
        return f"<ObjectStore {self.bucket!r}>"

    # --- reading meta -----------------------------------------------------------------------

    def get_info(self, name: str, show_deleted: bool = False) -> ObjectInfo:
        """The object's current meta (ObjectNotFoundError if absent or, unless
        `show_deleted`, deleted); `mtime` is when the server stored it."""
        check_object_name(name)
        raw = self._last_meta(meta_subject(self.bucket, name), name)
        info = ObjectInfo.from_json(raw.data)
        if info.deleted and not show_deleted:
            raise ObjectNotFoundError(description=f"object {name!r} not found (deleted)",
                                      what=f"bucket {self.bucket!r}")
        if raw.time is not None:
            info.mtime = raw.time
        return info

    def _last_meta(self, subject: str, name: str) -> api.RawStreamMsg:
        """The newest message on a meta subject, by direct get when the stream allows it."""
        js = self._js
        try:
            try:
                return js.get_msg(self.stream, subject=subject, direct=self._direct)
            except ServiceUnavailableError:
                if not self._direct:
                    raise
                return js.get_msg(self.stream, subject=subject)  # says why (no stream?)
        except MsgNotFoundError:
            raise ObjectNotFoundError(description=f"object {name!r} not found",
                                      what=f"bucket {self.bucket!r}") from None
        except StreamNotFoundError:
            raise BucketNotFoundError(description=f"bucket {self.bucket!r} not found") from None

    def list(self, ignore_deletes: bool = True) -> List[ObjectInfo]:
        """Every object's current meta, links included ([] for an empty bucket).

        Deleted objects are left out, as ADR-20 asks, unless `ignore_deletes=False`.
        """
        out: List[ObjectInfo] = []
        with self.watch(ignore_deletes=ignore_deletes) as watcher:
            for info in watcher:
                if info is None:
                    break
                out.append(info)
        return out

    def watch(self, ignore_deletes: bool = False, include_history: bool = False,
              updates_only: bool = False,
              cb: Optional[Callable[[Optional[ObjectInfo]], Any]] = None) -> ObjectWatcher:
        """A blocking iterator of ObjectInfo: each object, then None, then every change.

        `include_history` replays every meta message kept, not just the newest per
        object; `updates_only` skips the existing objects (and the None marker). With
        `cb`, `cb(info)` runs for each of them on the watcher's own thread instead.
        """
        try:
            return ObjectWatcher(self._js, self.bucket, ignore_deletes=ignore_deletes,
                                 include_history=include_history, updates_only=updates_only,
                                 cb=cb)
        except StreamNotFoundError:
            raise BucketNotFoundError(description=f"bucket {self.bucket!r} not found") from None

    def status(self) -> ObjectStoreStatus:
        """The bucket's settings and size, from its stream."""
        return ObjectStoreStatus.from_stream_info(self.bucket, self._stream_info())

    def _stream_info(self) -> api.StreamInfo:
        try:
            return self._js.stream_info(self.stream)
        except NotFoundError:
            raise BucketNotFoundError(description=f"bucket {self.bucket!r} not found") from None

    # --- writing ----------------------------------------------------------------------------

    def put(self, name: str, data: PutData, meta: Optional[ObjectMeta] = None,
            chunk_size: Optional[int] = None, progress: Optional[Progress] = None
            ) -> ObjectInfo:
        """Store `data` as object `name`, replacing any object of that name.

        `data` is bytes-like, a path (`os.PathLike`, e.g. `pathlib.Path`; a plain str
        is refused as ambiguous) or a binary file object read from its current position
        until EOF. It is sent in chunks of `chunk_size` bytes (default: the meta's
        `max_chunk_size`, else 128 KiB) with a bounded number in flight, so memory stays
        small whatever the size. `progress(bytes_done, bytes_total)` is called as chunks
        are acknowledged (bytes_total None if the size is unknown).
        """
        meta = ObjectMeta(name=name) if meta is None else _copy_meta(meta)
        if name:
            meta.name = name
        check_object_name(meta.name)
        opts = meta.options or ObjectMetaOptions()
        if opts.link is not None:
            raise LinkNotAllowedError()
        if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
            raise BadArgumentError(f"chunk_size must be a positive int, got {chunk_size!r}")
        size_ = chunk_size or opts.max_chunk_size or DEFAULT_CHUNK_SIZE
        max_payload = self._js.nc.max_payload
        if max_payload and size_ > max_payload:
            raise BadArgumentError(f"chunk_size {size_} exceeds the server's max_payload {max_payload}")
        meta.options = ObjectMetaOptions(link=None, max_chunk_size=size_)

        reader, total, close = _open_source(data)
        info = ObjectInfo(name=meta.name, bucket=self.bucket, nuid=next_nuid(),
                          description=meta.description, headers=meta.headers,
                          metadata=meta.metadata, options=meta.options)
        try:
            self._send_chunks(info, reader, size_, total, progress)  # purges if it fails
        except NoStreamResponseError as missing:
            try:  # BucketNotFoundError if the bucket is gone, which explains the silence
                self._cleanup().stream_info(self.stream)
            except NotFoundError:
                raise BucketNotFoundError(
                    description=f"bucket {self.bucket!r} not found") from None
            except NoStreamResponseError:
                pass  # the link is as slow as before: the missing ack is the news
            raise missing
        finally:
            if close is not None:
                close()
        chunks = chunk_subject(self.bucket, info.nuid)
        try:
            old = self._replaced(meta.name)
            self._publish_meta(info)
        except BaseException:
            self._purge(chunks)
            raise
        if old is not None and old.nuid != info.nuid:
            self._purge(chunk_subject(self.bucket, old.nuid))
        info.mtime = _now()
        return info

    def _replaced(self, name: str) -> Optional[ObjectInfo]:
        """The object a put of `name` replaces, if it has chunks to purge afterwards."""
        try:
            old = self.get_info(name, show_deleted=True)
        except (ObjectNotFoundError, BadObjectMetaError):
            return None
        return None if old.deleted or not old.nuid or old.is_link() else old

    def _send_chunks(self, info: ObjectInfo, reader: Readable, chunk_size: int,
                     total: Optional[int], progress: Optional[Progress]) -> None:
        """Publish the chunks with a bounded window in flight; sets size, chunks, digest."""
        subject = chunk_subject(self.bucket, info.nuid)
        window = max(2, PUT_WINDOW_BYTES // chunk_size)
        inflight: Deque[Tuple[Future[api.PubAck], int]] = deque()
        sha = hashlib.sha256()
        sent = acked = chunks = 0
        maybe_stored = False  # whether a chunk may be in the stream (purge on failure)

        def reap(wait: float = self._timeout + 5.0) -> None:
            """Wait for the oldest chunk's ack (the publisher fails it after its timeout)."""
            nonlocal acked, maybe_stored
            fut, n = inflight.popleft()
            try:
                fut.result(wait)
            except APIError:  # refused by the server: not stored
                raise
            except BaseException:  # no ack (timeout, connection): it may have been stored
                maybe_stored = True
                raise
            maybe_stored = True
            acked += n
            if progress is not None:
                progress(acked, total)

        try:
            if progress is not None:
                progress(0, total)
            while True:
                chunk = _read_chunk(reader, chunk_size)
                if not chunk:
                    break
                sha.update(chunk)
                inflight.append((self._js.publish_async(subject, chunk), len(chunk)))
                sent += len(chunk)
                chunks += 1
                while len(inflight) >= window:
                    reap()
            while inflight:
                reap()
        except BaseException:
            progress = None
            give_up = time.monotonic() + CLEANUP_WAIT
            while inflight:  # let them land, so the purge removes them all
                try:
                    reap(max(0.0, give_up - time.monotonic()))
                except BaseException:
                    pass
            if maybe_stored:
                self._purge_late(subject)
            raise
        info.size = sent
        info.chunks = chunks
        info.digest = encode_digest(sha.digest())

    def _publish_meta(self, info: ObjectInfo) -> None:
        """Publish the meta message, rolling up (replacing) the subject's older ones."""
        self._js.publish(meta_subject(self.bucket, info.name), info.to_json(), headers=_ROLLUP)

    def _cleanup(self) -> JetStreamManager:
        """A manager whose calls wait only CLEANUP_WAIT, for a failed put's bucket check."""
        return JetStreamManager(self._js.nc, prefix=self._js.prefix, timeout=CLEANUP_WAIT)

    def _purge(self, subject: str) -> None:
        """Purge a subject from the stream, logging (not raising) a failure."""
        try:
            self._js.purge_stream(self.stream, subject=subject)
        except StreamNotFoundError:
            pass  # the bucket is gone, and its chunks with it
        except Exception as exc:
            log.warning("natsync: could not purge %s from %s: %s", subject, self.stream, exc)

    def _purge_late(self, subject: str) -> None:
        """Purge a failed put's chunks without waiting: now, and again once the server has
        answered, for chunks its stream was still storing (a stream stores what it was
        sent in its own time, so chunks sent before a purge may land after it)."""
        nc = self._js.nc
        api = f"{self._js.prefix}.STREAM.PURGE.{self.stream}"
        body = json.dumps({"filter": subject}).encode()

        def report(done: Future[Msg]) -> None:
            if done.cancelled() or done.exception() is not None:
                log.warning("natsync: could not confirm the purge of %s from %s: %s", subject,
                            self.stream, done.exception() or "cancelled")

        def again(first: Future[Msg]) -> None:
            report(first)
            if not first.cancelled() and first.exception() is None and not nc.is_closed:
                try:
                    nc.request_async(api, body, timeout=PURGE_WAIT).add_done_callback(report)
                except Error as exc:
                    log.warning("natsync: could not purge %s from %s: %s", subject, self.stream,
                                exc)

        try:
            nc.request_async(api, body, timeout=PURGE_WAIT).add_done_callback(again)
        except Error as exc:
            log.warning("natsync: could not purge %s from %s: %s", subject, self.stream, exc)

    def delete(self, name: str) -> None:
        """Delete an object: a deleted marker replaces its meta and its chunks are purged.

        ObjectNotFoundError if there never was such an object; deleting again is a no-op.
        """
        info = self.get_info(name, show_deleted=True)
        if not info.nuid:
            raise BadObjectMetaError(f"nats: object {name!r} has no nuid in its meta")
        marker = info.evolve(deleted=True, size=0, chunks=0, digest=None)
        self._publish_meta(marker)
        self._js.purge_stream(self.stream, subject=chunk_subject(self.bucket, info.nuid))

    def update_meta(self, name: str, meta: ObjectMeta) -> ObjectInfo:
        """Change name, description, headers and metadata (not the data or options).

        A new `meta.name` renames the object: ObjectAlreadyExistsError if a (not
        deleted) object has that name; the old name's meta is purged.
        """
        info = self.get_info(name, show_deleted=True)
        if info.deleted:
            raise ObjectDeletedError(description=f"cannot update meta for deleted object {name!r}",
                                     what=f"bucket {self.bucket!r}")
        new_name = check_object_name(meta.name) if meta.name else name
        if new_name != name:
            try:
                existing: Optional[ObjectInfo] = self.get_info(new_name, show_deleted=True)
            except ObjectNotFoundError:
                existing = None
            if existing is not None and not existing.deleted:
                raise ObjectAlreadyExistsError(
                    f"nats: an object named {new_name!r} already exists in {self.bucket!r}")
        updated = info.evolve(name=new_name, description=meta.description,
                              headers=meta.headers, metadata=meta.metadata)
        self._publish_meta(updated)
        if new_name != name:
            self._js.purge_stream(self.stream, subject=meta_subject(self.bucket, name))
        updated.mtime = _now()
        return updated

    # --- links ------------------------------------------------------------------------------

    def add_link(self, name: str, target: Union[ObjectInfo, str]) -> ObjectInfo:
        """A link `name` to another object (its ObjectInfo, or its name in this bucket).

        Refused for a deleted target (NoLinkToDeletedError), a link target
        (NoLinkToLinkError) and a `name` held by a regular object (ObjectAlreadyExistsError);
        an existing link or deleted object of that name is replaced.
        """
        check_object_name(name)
        if isinstance(target, str):
            target = self.get_info(target)
        if not isinstance(target, ObjectInfo) or not target.name or not target.bucket:
            raise TypeError("add_link needs the target's ObjectInfo (or its name)")
        if target.deleted:
            raise NoLinkToDeletedError()
        if target.is_link():
            raise NoLinkToLinkError()
        return self._put_link(name, ObjectLink(bucket=target.bucket, name=target.name))

    def add_bucket_link(self, name: str, bucket: Union[ObjectStore, str]) -> ObjectInfo:
        """A link `name` to a whole bucket (like a directory); `get` of it is refused."""
        check_object_name(name)
        other = bucket.bucket if isinstance(bucket, ObjectStore) else check_bucket(bucket)
        return self._put_link(name, ObjectLink(bucket=other))

    def _put_link(self, name: str, link: ObjectLink) -> ObjectInfo:
        try:
            existing: Optional[ObjectInfo] = self.get_info(name, show_deleted=True)
        except ObjectNotFoundError:
            existing = None
        if existing is not None and not existing.deleted and not existing.is_link():
            raise ObjectAlreadyExistsError(
                f"nats: a regular object named {name!r} exists in {self.bucket!r}")
        info = ObjectInfo(name=name, bucket=self.bucket, nuid=next_nuid(),
                          options=ObjectMetaOptions(link=link))
        self._publish_meta(info)
        info.mtime = _now()
        return info

    # --- reading data -----------------------------------------------------------------------

    def get(self, name: str, writeinto: Optional[WriteInto] = None, show_deleted: bool = False,
            progress: Optional[Progress] = None) -> ObjectResult:
        """The object's info and data; a link returns its target's.

        With `writeinto` (a binary file object, or a path written via a temporary file
        that replaces it only once complete) the data goes there chunk by chunk and
        `result.data` is b"". Size and SHA-256 digest are checked: DigestMismatchError
        if they differ (a file object has been written to by then; a path has not).
        """
        return self._get(name, writeinto, show_deleted, progress, hops=0)

    def _get(self, name: str, writeinto: Optional[WriteInto], show_deleted: bool,
             progress: Optional[Progress], hops: int) -> ObjectResult:
        info = self.get_info(name, show_deleted=show_deleted)
        if not info.nuid:
            raise BadObjectMetaError(f"nats: object {name!r} has no nuid in its meta")
        link = info.link
        if link is not None:
            if link.is_bucket_link:
                raise LinkIsABucketError(
                    f"nats: {name!r} is a link to bucket {link.bucket!r}, not to an object")
            if hops:
                raise NoLinkToLinkError(f"nats: {name!r} links to another link")
            target = (self if link.bucket == self.bucket
                      else _bind(self._js, link.bucket, self._timeout))
            return target._get(link.name or "", writeinto, False, progress, hops + 1)

        if writeinto is None:
            parts: List[bytes] = []
            self._read_chunks(info, parts.append, progress)
            return ObjectResult(info=info, data=b"".join(parts))
        if isinstance(writeinto, (str, os.PathLike)):
            self._get_to_path(info, os.fspath(writeinto), progress)
        else:
            self._read_chunks(info, _binary_writer(writeinto), progress)
        return ObjectResult(info=info, data=b"")

    def _get_to_path(self, info: ObjectInfo, path: Union[str, bytes], progress: Optional[Progress]
                     ) -> None:
        """Write into a temporary file beside `path`, then move it into place."""
        target = os.fsdecode(path)
        fd, tmp = tempfile.mkstemp(prefix=".natsync-", suffix=".part",
                                   dir=os.path.dirname(os.path.abspath(target)))
        try:
            with os.fdopen(fd, "wb") as f:
                self._read_chunks(info, f.write, progress)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def _read_chunks(self, info: ObjectInfo, write: Callable[[bytes], object],
                     progress: Optional[Progress]) -> None:
        """Feed the object's chunks to `write` in order, then check size and digest."""
        expected = decode_digest(info.digest) if info.digest is not None else None
        if info.digest is not None and expected is None:
            raise BadObjectMetaError(
                f"nats: object {info.name!r} has an invalid digest {info.digest!r}")
        sha = hashlib.sha256()
        got = 0
        if progress is not None:
            progress(0, info.size)
        if info.size > 0 or info.chunks > 0:
            subject = chunk_subject(self.bucket, info.nuid)
            if info.chunks == 1:
                chunk = self._first_chunk(info, subject)
                write(chunk)
                sha.update(chunk)
                got = len(chunk)
                if progress is not None:
                    progress(got, info.size)
            else:
                got = self._stream_chunks(info, subject, write, sha, progress)
        if got != info.size:
            raise DigestMismatchError(
                f"nats: object {info.name!r} is corrupt: received {got} bytes, "
                f"its meta says {info.size}")
        if expected is not None and sha.digest() != expected:
            raise DigestMismatchError(
                f"nats: object {info.name!r} is corrupt: SHA-256 digest mismatch")

    def _first_chunk(self, info: ObjectInfo, subject: str) -> bytes:
        try:
            try:
                raw = self._js.get_msg(self.stream, seq=1, subject=subject, next=True,
                                       direct=self._direct)
            except ServiceUnavailableError:
                if not self._direct:
                    raise
                raw = self._js.get_msg(self.stream, seq=1, subject=subject, next=True)
        except MsgNotFoundError:
            raise DigestMismatchError(
                f"nats: the chunk of object {info.name!r} is missing from {self.stream!r}"
            ) from None
        return raw.data

    def _stream_chunks(self, info: ObjectInfo, subject: str, write: Callable[[bytes], object],
                       sha: Any, progress: Optional[Progress]) -> int:
        """All chunks through an ordered consumer, a bounded window of them requested."""
        chunk = info.chunk_size or DEFAULT_CHUNK_SIZE
        batch = max(2, min(256, GET_WINDOW_BYTES // max(chunk, 1)))
        consumer = OrderedConsumer(self._js, self.stream, filter_subjects=[subject])
        got = 0
        try:
            pending = self._js.consumer_info(self.stream, consumer.name).num_pending
            if pending == 0:
                raise DigestMismatchError(
                    f"nats: the chunks of object {info.name!r} are missing from {self.stream!r}")
            with consumer.messages(max_messages=batch) as msgs:
                while True:
                    try:
                        msg = msgs.next(timeout=self._timeout)
                    except NatsTimeoutError:
                        raise NatsTimeoutError(
                            f"nats: no chunk of object {info.name!r} within {self._timeout}s "
                            f"({got} of {info.size} bytes received)") from None
                    if msg is None:  # pragma: no cover - only if stopped elsewhere
                        break
                    data = msg.data
                    write(data)
                    sha.update(data)
                    got += len(data)
                    if progress is not None:
                        progress(got, info.size)
                    if msg.metadata.num_pending == 0:
                        break
        finally:
            consumer.delete()
        return got

    # --- bucket -----------------------------------------------------------------------------

    def seal(self) -> ObjectStoreStatus:
        """Seal the bucket: nothing can be added, changed or removed any more."""
        info = self._stream_info()
        info = self._js.update_stream(info.config.evolve(sealed=True))
        return ObjectStoreStatus.from_stream_info(self.bucket, info)


def _bind(js: JetStreamContext, bucket: str, timeout: float) -> ObjectStore:
    """An ObjectStore handle on an existing bucket (BucketNotFoundError if there is none)."""
    check_bucket(bucket)
    try:
        info = js.stream_info(stream_name(bucket))
    except NotFoundError:
        raise BucketNotFoundError(description=f"bucket {bucket!r} not found") from None
    return ObjectStore(js, bucket, info, timeout=timeout)


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _copy_meta(meta: ObjectMeta) -> ObjectMeta:
    if not isinstance(meta, ObjectMeta):
        raise TypeError(f"meta must be an ObjectMeta, not {type(meta).__name__}")
    opts = meta.options
    return ObjectMeta(name=meta.name, description=meta.description,
                      headers=Headers(meta.headers) if meta.headers is not None else None,
                      metadata=dict(meta.metadata) if meta.metadata is not None else None,
                      options=ObjectMetaOptions(opts.link, opts.max_chunk_size) if opts else None)


class _BytesReader:
    """Chunks of in-memory data, without copying it first."""

    def __init__(self, data: memoryview) -> None:
        self._view = data
        self._pos = 0

    def read(self, size: int = -1, /) -> bytes:
        start = self._pos
        end = len(self._view) if size < 0 else min(len(self._view), start + size)
        self._pos = end
        return bytes(self._view[start:end])


def _open_source(data: Any) -> Tuple[Readable, Optional[int], Optional[Callable[[], None]]]:
    """A reader for `data`, its size if known, and how to close it if we opened it."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data).cast("B") if isinstance(data, memoryview) else memoryview(data)
        return _BytesReader(view), len(view), None
    if isinstance(data, str):
        raise TypeError("put() data must be bytes, a binary file or an os.PathLike path, not "
                        "str: use text.encode() for text, or pathlib.Path(name) for a file")
    if isinstance(data, os.PathLike):
        f = open(data, "rb")  # noqa: SIM115 - closed by put()
        try:
            size: Optional[int] = os.fstat(f.fileno()).st_size
        except OSError:
            size = None
        return f, size, f.close
    if isinstance(data, io.TextIOBase):
        buffer = getattr(data, "buffer", None)
        if buffer is None:
            raise TypeError("put() needs a binary file object; open the file with 'rb'")
        data = buffer
    if callable(getattr(data, "read", None)):
        return data, _remaining(data), None
    raise TypeError(f"put() data must be bytes, a binary file or an os.PathLike path, "
                    f"not {type(data).__name__}")


def _remaining(f: Any) -> Optional[int]:
    """Bytes from a file object's position to its end, or None if it cannot tell."""
    try:
        if not f.seekable():
            return None
        pos = f.tell()
        try:
            end = os.fstat(f.fileno()).st_size
        except (AttributeError, OSError, io.UnsupportedOperation):
            end = f.seek(0, io.SEEK_END)
            f.seek(pos)
        return max(0, int(end) - int(pos))
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def _read_chunk(reader: Readable, size: int) -> bytes:
    """Up to `size` bytes, fewer only at EOF (short reads of raw files are topped up)."""
    first = reader.read(size)
    if first is None:
        raise BlockingIOError("put() needs a blocking file object (read returned None)")
    if not isinstance(first, (bytes, bytearray, memoryview)):
        raise TypeError("put() needs a binary file object (read returned "
                        f"{type(first).__name__}); open the file with 'rb'")
    if len(first) >= size or not first:
        return bytes(first)
    parts = [bytes(first)]
    got = len(first)
    while got < size:
        more = reader.read(size - got)
        if not more:
            break
        parts.append(bytes(more))
        got += len(more)
    return b"".join(parts)


def _binary_writer(dest: Any) -> Callable[[bytes], object]:
    """The write method of a binary file object (a text file's buffer)."""
    if isinstance(dest, io.TextIOBase):
        buffer = getattr(dest, "buffer", None)
        if buffer is None:
            raise TypeError("get() needs a binary file object; open the file with 'wb'")
        dest = buffer
    write = getattr(dest, "write", None)
    if not callable(write):
        raise TypeError(f"writeinto must be a path or a binary file object, "
                        f"not {type(dest).__name__}")
    out: Callable[[bytes], object] = write
    return out
