"""Bucket configuration and status, and the stream an object store lives in (ADR-20)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Dict, Optional

from ..js import api
from .errors import InvalidBucketNameError

__all__ = [
    "ObjectStoreConfig",
    "ObjectStoreStatus",
    "chunk_subject",
    "check_bucket",
    "stream_config",
    "stream_name",
]

_BUCKET_RE = re.compile(r"[A-Za-z0-9_-]+\Z", re.ASCII)

STREAM_PREFIX = "OBJ_"


def check_bucket(bucket: object) -> str:
    """The bucket name, or InvalidBucketNameError unless it is 1+ of A-Z a-z 0-9 - _."""
    if not isinstance(bucket, str) or not _BUCKET_RE.match(bucket):
        raise InvalidBucketNameError(
            f"nats: invalid bucket name {bucket!r}: use letters, digits, '-' and '_' only")
    return bucket


def stream_name(bucket: str) -> str:
    """`OBJ_<bucket>`, the stream holding the bucket."""
    return STREAM_PREFIX + bucket


def chunk_subject(bucket: str, nuid: str) -> str:
    """`$O.<bucket>.C.<nuid>`, the subject of one object's chunks."""
    return f"$O.{bucket}.C.{nuid}"


@dataclass
class ObjectStoreConfig:
    """Settings of a new bucket; `ttl` in seconds (None: objects never expire).

    `compression=True` stores the stream S2-compressed (nats-server 2.10+);
    `metadata` is the stream's metadata (nats-server 2.10+).
    """

    bucket: Optional[str] = None
    description: Optional[str] = None
    ttl: Optional[float] = None
    max_bytes: Optional[int] = None
    storage: Optional[api.StorageType] = None
    replicas: int = 1
    placement: Optional[api.Placement] = None
    compression: bool = False
    metadata: Optional[Dict[str, str]] = None

    def evolve(self, **changes: Any) -> ObjectStoreConfig:
        """A copy with `changes` applied."""
        return dataclasses.replace(self, **changes)


def stream_config(cfg: ObjectStoreConfig) -> api.StreamConfig:
    """The stream configuration ADR-20 (and nats.go) derive from a bucket's settings."""
    bucket = check_bucket(cfg.bucket)
    max_bytes = cfg.max_bytes if cfg.max_bytes else -1
    return api.StreamConfig(
        name=stream_name(bucket),
        description=cfg.description or None,
        subjects=[f"$O.{bucket}.C.>", f"$O.{bucket}.M.>"],
        max_age=cfg.ttl or 0,
        max_bytes=max_bytes,
        storage=cfg.storage or api.StorageType.FILE,
        num_replicas=cfg.replicas or 1,
        placement=cfg.placement,
        discard=api.DiscardPolicy.NEW,
        allow_rollup_hdrs=True,
        allow_direct=True,
        compression=api.StoreCompression.S2 if cfg.compression else None,
        metadata=cfg.metadata or None,
    )


@dataclass(frozen=True)
class ObjectStoreStatus:
    """What `obs.status()` reports about a bucket and its backing stream.

    `metadata` leaves out the server's own `_nats.*` keys; `stream_info` has them all.
    """

    bucket: str
    description: Optional[str]
    ttl: Optional[float]
    storage: Optional[api.StorageType]
    replicas: int
    sealed: bool
    size: int
    backing_store: str
    metadata: Optional[Dict[str, str]]
    is_compressed: bool
    stream_info: api.StreamInfo = dataclasses.field(repr=False, compare=False)

    @property
    def storage_type(self) -> Optional[api.StorageType]:
        """nats-py's name for `storage`."""
        return self.storage

    @property
    def config(self) -> ObjectStoreConfig:
        """The bucket's settings as an ObjectStoreConfig, ready to evolve into the config
        of `update_object_store`."""
        c = self.stream_info.config
        return ObjectStoreConfig(
            bucket=self.bucket, description=self.description, ttl=self.ttl,
            max_bytes=c.max_bytes if c.max_bytes and c.max_bytes > 0 else None,
            storage=self.storage, replicas=self.replicas, placement=c.placement,
            compression=self.is_compressed, metadata=self.metadata)

    @classmethod
    def from_stream_info(cls, bucket: str, info: api.StreamInfo) -> ObjectStoreStatus:
        """The status of `bucket` from its stream's info."""
        c = info.config
        storage = c.storage if isinstance(c.storage, api.StorageType) else None
        return cls(
            bucket=bucket,
            description=c.description,
            ttl=c.max_age or None,
            storage=storage,
            replicas=c.num_replicas or 1,
            sealed=bool(c.sealed),
            size=info.state.bytes,
            backing_store="JetStream",
            metadata={k: v for k, v in c.metadata.items() if not k.startswith("_nats.")}
            if c.metadata else None,
            is_compressed=c.compression == api.StoreCompression.S2,
            stream_info=info,
        )
