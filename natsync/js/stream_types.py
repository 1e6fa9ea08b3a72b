"""Typed stream objects of the JetStream API: StreamConfig, StreamInfo and what they hold."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional

from .model import Base, _extra


class RetentionPolicy(str, Enum):
    """When the stream removes messages."""

    LIMITS = "limits"
    INTEREST = "interest"
    WORK_QUEUE = "workqueue"


class StorageType(str, Enum):
    """Where the stream keeps messages."""

    FILE = "file"
    MEMORY = "memory"


class DiscardPolicy(str, Enum):
    """What happens when a stream reaches a limit."""

    OLD = "old"
    NEW = "new"


class StoreCompression(str, Enum):
    """Compression of stored messages."""

    NONE = "none"
    S2 = "s2"


class PersistMode(str, Enum):
    """How the stream persists writes (nats-server 2.12+)."""

    DEFAULT = "default"
    ASYNC = "async"


# --------------------------------------------------------------------------- stream config


@dataclass(repr=False)
class Placement(Base):
    """Where a stream's replicas are placed."""

    cluster: Optional[str] = None
    tags: Optional[List[str]] = None
    preferred: Optional[str] = None
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class ExternalStream(Base):
    """The API prefix (and deliver prefix) of a stream in another account or domain."""

    api: Optional[str] = None
    deliver: Optional[str] = None
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class SubjectTransform(Base):
    """A subject mapping from `src` to `dest`."""

    src: Optional[str] = None
    dest: Optional[str] = None
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class StreamConsumerSource(Base):
    """A durable push consumer a source reads from (nats-server 2.12+)."""

    name: Optional[str] = None
    deliver_subject: Optional[str] = None
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class StreamSource(Base):
    """A stream a mirror or a sourcing stream reads from.

    `domain` is client-side only: when set and `external` is not,
    `as_dict()` sends `external={"api": "$JS.<domain>.API"}`.
    """

    name: Optional[str] = None
    opt_start_seq: Optional[int] = None
    opt_start_time: Optional[_dt.datetime] = None
    filter_subject: Optional[str] = None
    external: Optional[ExternalStream] = None
    subject_transforms: Optional[List[SubjectTransform]] = None
    consumer: Optional[StreamConsumerSource] = None
    domain: Optional[str] = None
    extra: Dict[str, Any] = _extra()

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict()
        domain = out.pop("domain", None)
        if domain and "external" not in out:
            out["external"] = {"api": f"$JS.{domain}.API"}
        return out


@dataclass(repr=False)
class RePublish(Base):
    """Republish stored messages from `src` to `dest`."""

    src: Optional[str] = None
    dest: Optional[str] = None
    headers_only: Optional[bool] = None
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class StreamConsumerLimits(Base):
    """Defaults and limits for the stream's consumers."""

    _durations = frozenset({"inactive_threshold"})

    inactive_threshold: Optional[float] = None
    max_ack_pending: Optional[int] = None
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class StreamConfig(Base):
    """A stream's configuration. Durations in seconds; None fields are not sent."""

    _durations = frozenset({"max_age", "duplicate_window", "subject_delete_marker_ttl"})

    name: Optional[str] = None
    description: Optional[str] = None
    subjects: Optional[List[str]] = None
    retention: Optional[RetentionPolicy] = None
    max_consumers: Optional[int] = None
    max_msgs: Optional[int] = None
    max_bytes: Optional[int] = None
    discard: Optional[DiscardPolicy] = None
    discard_new_per_subject: Optional[bool] = None
    max_age: Optional[float] = None
    max_msgs_per_subject: Optional[int] = None
    max_msg_size: Optional[int] = None
    storage: Optional[StorageType] = None
    num_replicas: Optional[int] = None
    no_ack: Optional[bool] = None
    template_owner: Optional[str] = None
    duplicate_window: Optional[float] = None
    placement: Optional[Placement] = None
    mirror: Optional[StreamSource] = None
    sources: Optional[List[StreamSource]] = None
    sealed: Optional[bool] = None
    deny_delete: Optional[bool] = None
    deny_purge: Optional[bool] = None
    allow_rollup_hdrs: Optional[bool] = None
    republish: Optional[RePublish] = None
    subject_transform: Optional[SubjectTransform] = None
    allow_direct: Optional[bool] = None
    mirror_direct: Optional[bool] = None
    compression: Optional[StoreCompression] = None
    first_seq: Optional[int] = None
    metadata: Optional[Dict[str, str]] = None
    consumer_limits: Optional[StreamConsumerLimits] = None
    allow_msg_ttl: Optional[bool] = None
    subject_delete_marker_ttl: Optional[float] = None
    allow_msg_counter: Optional[bool] = None
    allow_atomic: Optional[bool] = None
    allow_batched: Optional[bool] = None
    allow_msg_schedules: Optional[bool] = None
    persist_mode: Optional[PersistMode] = None
    extra: Dict[str, Any] = _extra()


# --------------------------------------------------------------------------- stream info


@dataclass(repr=False)
class LostStreamData(Base):
    """Messages the server lost (e.g. after disk corruption)."""

    msgs: Optional[List[int]] = None
    bytes: Optional[int] = None
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class StreamState(Base):
    """Counters of a stream. `first_ts`/`last_ts` are None for an empty stream."""

    messages: int = 0
    bytes: int = 0
    first_seq: int = 0
    first_ts: Optional[_dt.datetime] = None
    last_seq: int = 0
    last_ts: Optional[_dt.datetime] = None
    consumer_count: int = 0
    deleted: Optional[List[int]] = None
    num_deleted: Optional[int] = None
    num_subjects: Optional[int] = None
    subjects: Optional[Dict[str, int]] = None
    lost: Optional[LostStreamData] = None
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class PeerInfo(Base):
    """A replica of a clustered stream or consumer; `active` is seconds since last seen."""

    _durations = frozenset({"active"})

    name: Optional[str] = None
    current: Optional[bool] = None
    offline: Optional[bool] = None
    active: Optional[float] = None
    lag: Optional[int] = None
    peer: Optional[str] = None
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class ClusterInfo(Base):
    """The RAFT group of a stream or consumer."""

    name: Optional[str] = None
    raft_group: Optional[str] = None
    leader: Optional[str] = None
    leader_since: Optional[_dt.datetime] = None
    system_account: Optional[bool] = None
    traffic_acc: Optional[str] = None
    replicas: Optional[List[PeerInfo]] = None
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class StreamSourceInfo(Base):
    """State of a mirror or source. `active` is seconds since last contact
    (negative, -1e-09, when never active); `error` is the server's error object."""

    _durations = frozenset({"active"})

    name: Optional[str] = None
    external: Optional[ExternalStream] = None
    lag: Optional[int] = None
    active: Optional[float] = None
    error: Optional[Dict[str, Any]] = None
    filter_subject: Optional[str] = None
    subject_transforms: Optional[List[SubjectTransform]] = None
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class StreamAlternate(Base):
    """A mirror that can serve direct gets for the stream."""

    name: Optional[str] = None
    domain: Optional[str] = None
    cluster: Optional[str] = None
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class StreamInfo(Base):
    """Answer of STREAM.INFO / CREATE / UPDATE. Paging keys (total, offset, limit) stay in `extra`."""

    _ignored = frozenset({"type"})

    config: StreamConfig = field(default_factory=StreamConfig)
    state: StreamState = field(default_factory=StreamState)
    created: Optional[_dt.datetime] = None
    cluster: Optional[ClusterInfo] = None
    mirror: Optional[StreamSourceInfo] = None
    sources: Optional[List[StreamSourceInfo]] = None
    alternates: Optional[List[StreamAlternate]] = None
    ts: Optional[_dt.datetime] = None
    did_create: Optional[bool] = None
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class StreamPurgeRequest(Base):
    """Body of STREAM.PURGE: purge by subject `filter`, up to `seq`, or `keep` the newest."""

    filter: Optional[str] = None
    seq: Optional[int] = None
    keep: Optional[int] = None
    extra: Dict[str, Any] = _extra()
