"""Bucket settings and status, names and keys, and the stream a bucket lives in (ADR-8, ADR-48)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Union

from ..errors import BadArgumentError
from ..js import api
from .errors import InvalidBucketNameError, InvalidKeyError, KeyHistoryTooLargeError

__all__ = [
    "MAX_HISTORY",
    "STREAM_PREFIX",
    "BucketStatus",
    "KeyValueConfig",
    "check_bucket",
    "check_filter",
    "check_revision",
    "check_key",
    "filters_of",
    "key_prefix",
    "kv_source",
    "stream_config",
    "stream_name",
]

STREAM_PREFIX = "KV_"
MAX_HISTORY = 64
#: nats.go's duplicate window of a bucket (shortened to the bucket's ttl when that is less).
DUPLICATE_WINDOW = 120.0

_BUCKET_RE = re.compile(r"[A-Za-z0-9_-]+\Z", re.ASCII)
_TOKEN_RE = re.compile(r"[-/_=A-Za-z0-9]+\Z", re.ASCII)


def check_bucket(bucket: object) -> str:
    """The bucket name, or InvalidBucketNameError unless it is 1+ of A-Z a-z 0-9 - _."""
    if not isinstance(bucket, str) or not _BUCKET_RE.match(bucket):
        raise InvalidBucketNameError(
            f"nats: invalid bucket name {bucket!r}: use letters, digits, '-' and '_' only")
    return bucket


def check_key(key: object) -> str:
    """The key, or InvalidKeyError unless it is tokens of A-Z a-z 0-9 - / _ = joined by '.'."""
    if not isinstance(key, str) or not key or not all(_TOKEN_RE.match(t) for t in key.split(".")):
        raise InvalidKeyError(
            f"nats: invalid key {key!r}: use letters, digits, '-', '/', '_' and '=' in "
            "tokens joined by '.' (no empty token, no leading or trailing '.')")
    return key


def check_filter(key: object) -> str:
    """A key or a watch filter: like a key, but a token may be '*', and the last one '>'."""
    if isinstance(key, str) and key:
        tokens = key.split(".")
        last = len(tokens) - 1
        if all(t == "*" or (t == ">" and i == last) or _TOKEN_RE.match(t)
               for i, t in enumerate(tokens)):
            return key
    raise InvalidKeyError(
        f"nats: invalid key filter {key!r}: keys whose tokens may be '*', and the last one '>'")


def check_revision(revision: object, what: str = "resume_from_revision") -> int:
    """A revision to start from: an int of at least 1 (revisions are stream sequences)."""
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 1:
        raise BadArgumentError(f"{what} must be a revision (an int of at least 1), "
                               f"got {revision!r}")
    return revision


def stream_name(bucket: str) -> str:
    """`KV_<bucket>`, the stream holding the bucket."""
    return STREAM_PREFIX + bucket


def key_prefix(bucket: str) -> str:
    """`$KV.<bucket>.`, the subject prefix of the bucket's keys."""
    return f"$KV.{bucket}."


def filters_of(keys: Union[str, Sequence[str], None]) -> List[str]:
    """Validated key filters from one filter, a list of them, or None (every key)."""
    if keys is None:
        return [">"]
    if isinstance(keys, str):
        return [check_filter(keys)]
    out = [check_filter(k) for k in keys]
    return out or [">"]


@dataclass
class KeyValueConfig:
    """Settings of a new bucket, nats-py's names. Durations in seconds.

    `history` is how many revisions each key keeps (1..64); `ttl` how long a
    revision lives (None: forever); `limit_marker_ttl` (nats-server 2.11+) makes the
    server leave a marker when it removes a key for age, kept that long, and allows
    per-key TTLs (`create(..., msg_ttl=)`, `purge(..., msg_ttl=)`). `direct` lets
    `get` use Direct Get; `compression=True` stores the stream S2-compressed.
    `mirror` makes the bucket a read replica of another (ADR-57); `sources` copy the keys
    of other buckets into it. Each is a bucket name or an `api.StreamSource` (for a
    domain, a start, or custom subject transforms).
    """

    bucket: Optional[str] = None
    description: Optional[str] = None
    max_value_size: Optional[int] = None
    history: int = 1
    ttl: Optional[float] = None
    max_bytes: Optional[int] = None
    storage: Optional[api.StorageType] = None
    replicas: int = 1
    placement: Optional[api.Placement] = None
    republish: Optional[api.RePublish] = None
    direct: bool = True
    limit_marker_ttl: Optional[float] = None
    metadata: Optional[Dict[str, str]] = None
    compression: bool = False
    mirror: Union[api.StreamSource, str, None] = None
    sources: Optional[List[Union[api.StreamSource, str]]] = None

    def evolve(self, **changes: Any) -> KeyValueConfig:
        """A copy with `changes` applied."""
        return dataclasses.replace(self, **changes)


def stream_config(cfg: KeyValueConfig) -> api.StreamConfig:
    """The stream configuration ADR-8 (and nats.go) derive from a bucket's settings."""
    bucket = check_bucket(cfg.bucket)
    history = cfg.history if cfg.history else 1
    if history > MAX_HISTORY:
        raise KeyHistoryTooLargeError(
            f"nats: history limited to a max of {MAX_HISTORY}, got {history}")
    if history < 1:
        raise BadArgumentError(f"history must be at least 1, got {history!r}")
    if cfg.ttl is not None and cfg.ttl < 0:
        raise BadArgumentError(f"ttl must not be negative, got {cfg.ttl!r}")
    duplicate_window = DUPLICATE_WINDOW
    if cfg.ttl and cfg.ttl < duplicate_window:
        duplicate_window = cfg.ttl
    scfg = api.StreamConfig(
        name=stream_name(bucket),
        description=cfg.description or None,
        subjects=[f"$KV.{bucket}.>"],
        max_msgs_per_subject=history,
        max_bytes=cfg.max_bytes if cfg.max_bytes else -1,
        max_age=cfg.ttl or 0,
        max_msg_size=cfg.max_value_size if cfg.max_value_size else -1,
        storage=cfg.storage or api.StorageType.FILE,
        num_replicas=cfg.replicas or 1,
        placement=cfg.placement,
        allow_rollup_hdrs=True,
        deny_delete=True,
        duplicate_window=duplicate_window,
        max_msgs=-1,
        max_consumers=-1,
        allow_direct=bool(cfg.direct),
        republish=cfg.republish,
        compression=api.StoreCompression.S2 if cfg.compression else None,
        discard=api.DiscardPolicy.NEW,
        metadata=cfg.metadata or None,
    )
    if cfg.limit_marker_ttl:
        if cfg.limit_marker_ttl < 0:
            raise BadArgumentError(
                f"limit_marker_ttl must not be negative, got {cfg.limit_marker_ttl!r}")
        scfg = scfg.evolve(allow_msg_ttl=True, subject_delete_marker_ttl=cfg.limit_marker_ttl)
    if cfg.mirror is not None:
        if cfg.sources:
            raise BadArgumentError(f"bucket {bucket!r}: a bucket mirrors one bucket or sources "
                                   "others, not both")
        if cfg.limit_marker_ttl:
            raise BadArgumentError(
                f"bucket {bucket!r}: limit_marker_ttl cannot be set on a mirror (the server "
                "forbids markers of its own on mirrors; the origin's come with its data)")
        # ADR-57: a mirror has no subjects of its own, and answers direct gets for its origin.
        scfg = scfg.evolve(subjects=None, mirror=kv_source(cfg.mirror), mirror_direct=True)
    elif cfg.sources:
        scfg = scfg.evolve(sources=[kv_source(s, bucket) for s in cfg.sources])
    return scfg


def kv_source(source: Union[api.StreamSource, str], into: Optional[str] = None
              ) -> api.StreamSource:
    """A bucket's mirror (or, with `into`, a source of bucket `into`) as ADR-57 has it.

    The stream is `KV_<name>`; a source gets the transform `$KV.<name>.>` to
    `$KV.<into>.>` (none from a bucket of the same name in another domain). A source that
    brings its own subject transforms is kept exactly as given (any stream can feed a
    bucket that way).
    """
    src = api.StreamSource(name=source) if isinstance(source, str) else source
    if into is not None and src.subject_transforms:
        return src
    name = src.name or ""
    origin = check_bucket(name[len(STREAM_PREFIX):] if name.startswith(STREAM_PREFIX) else name)
    src = src.evolve(name=stream_name(origin))
    external = src.external is not None or src.domain is not None
    if into is not None and (not external or origin != into):
        src = src.evolve(subject_transforms=[
            api.SubjectTransform(src=f"$KV.{origin}.>", dest=f"$KV.{into}.>")])
    return src


@dataclass(frozen=True)
class BucketStatus:
    """What `kv.status()` reports: the bucket's settings and usage, from its stream's info.

    `values` counts stored messages (every kept revision and marker); `ttl` and
    `limit_marker_ttl` are seconds (None when unset); `metadata` leaves out the
    server's own `_nats.*` keys, which `stream_info` keeps.
    """

    bucket: str
    values: int
    history: int
    ttl: Optional[float]
    bytes: int
    backing_store: str
    is_compressed: bool
    limit_marker_ttl: Optional[float]
    description: Optional[str]
    storage: Optional[api.StorageType]
    replicas: int
    direct: bool
    metadata: Optional[Dict[str, str]]
    mirror: Optional[api.StreamSource]
    sources: Optional[List[api.StreamSource]]
    stream_info: api.StreamInfo = dataclasses.field(repr=False, compare=False)

    @property
    def marker_ttl(self) -> Optional[float]:
        """nats-py's name for `limit_marker_ttl`."""
        return self.limit_marker_ttl

    @property
    def config(self) -> KeyValueConfig:
        """The bucket's settings as a KeyValueConfig (nats.go's Config()), ready to evolve
        into the config of `update_key_value`."""
        c = self.stream_info.config
        return KeyValueConfig(
            bucket=self.bucket, description=self.description,
            max_value_size=c.max_msg_size if c.max_msg_size and c.max_msg_size > 0 else None,
            history=self.history, ttl=self.ttl,
            max_bytes=c.max_bytes if c.max_bytes and c.max_bytes > 0 else None,
            storage=self.storage, replicas=self.replicas, placement=c.placement,
            republish=c.republish, direct=self.direct, limit_marker_ttl=self.limit_marker_ttl,
            metadata=self.metadata, compression=self.is_compressed,
            mirror=self.mirror, sources=list(self.sources) if self.sources else None)

    @classmethod
    def from_stream_info(cls, bucket: str, info: api.StreamInfo) -> BucketStatus:
        """The status of `bucket` from its stream's info."""
        c = info.config
        return cls(
            bucket=bucket,
            values=info.state.messages,
            history=c.max_msgs_per_subject or 0,
            ttl=c.max_age or None,
            bytes=info.state.bytes,
            backing_store="JetStream",
            is_compressed=c.compression == api.StoreCompression.S2,
            limit_marker_ttl=c.subject_delete_marker_ttl or None,
            description=c.description,
            storage=c.storage if isinstance(c.storage, api.StorageType) else None,
            replicas=c.num_replicas or 1,
            direct=bool(c.allow_direct),
            metadata={k: v for k, v in (c.metadata or {}).items()
                      if not k.startswith("_nats.")} or None,
            mirror=c.mirror,
            sources=c.sources,
            stream_info=info,
        )
