"""Typed consumer objects of the JetStream API: ConsumerConfig, ConsumerInfo and their enums."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional

from .model import Base, _extra
from .stream_types import ClusterInfo


class DeliverPolicy(str, Enum):
    """Where a consumer starts."""

    ALL = "all"
    LAST = "last"
    NEW = "new"
    BY_START_SEQUENCE = "by_start_sequence"
    BY_START_TIME = "by_start_time"
    LAST_PER_SUBJECT = "last_per_subject"


class AckPolicy(str, Enum):
    """How a consumer's messages are acknowledged. FLOW_CONTROL (ADR-60, nats-server 2.14+):
    a push consumer acked by its flow-control answers, which name the last message handed
    out (the durable sourcing consumers of work-queue and interest streams use it)."""

    NONE = "none"
    ALL = "all"
    EXPLICIT = "explicit"
    FLOW_CONTROL = "flow_control"


class ReplayPolicy(str, Enum):
    """How fast a consumer replays stored messages."""

    INSTANT = "instant"
    ORIGINAL = "original"


class PriorityPolicy(str, Enum):
    """How a pull consumer's priority groups share messages (nats-server 2.11+)."""

    NONE = "none"
    OVERFLOW = "overflow"
    PINNED_CLIENT = "pinned_client"
    PRIORITIZED = "prioritized"


# --------------------------------------------------------------------------- consumers


@dataclass(repr=False)
class ConsumerConfig(Base):
    """A consumer's configuration. Durations in seconds (`backoff` is a list of them).

    `max_batch`, `max_expires` and `max_bytes` are the pull request limits
    (nats.go's MaxRequestBatch, MaxRequestExpires, MaxRequestMaxBytes).
    """

    _durations = frozenset({"ack_wait", "backoff", "idle_heartbeat", "max_expires",
                            "inactive_threshold", "priority_timeout"})

    name: Optional[str] = None
    durable_name: Optional[str] = None
    description: Optional[str] = None
    deliver_policy: Optional[DeliverPolicy] = None
    opt_start_seq: Optional[int] = None
    opt_start_time: Optional[_dt.datetime] = None
    ack_policy: Optional[AckPolicy] = None
    ack_wait: Optional[float] = None
    max_deliver: Optional[int] = None
    backoff: Optional[List[float]] = None
    filter_subject: Optional[str] = None
    filter_subjects: Optional[List[str]] = None
    replay_policy: Optional[ReplayPolicy] = None
    rate_limit_bps: Optional[int] = None
    sample_freq: Optional[str] = None
    max_waiting: Optional[int] = None
    max_ack_pending: Optional[int] = None
    flow_control: Optional[bool] = None
    idle_heartbeat: Optional[float] = None
    headers_only: Optional[bool] = None
    max_batch: Optional[int] = None
    max_expires: Optional[float] = None
    max_bytes: Optional[int] = None
    inactive_threshold: Optional[float] = None
    num_replicas: Optional[int] = None
    mem_storage: Optional[bool] = None
    metadata: Optional[Dict[str, str]] = None
    pause_until: Optional[_dt.datetime] = None
    priority_groups: Optional[List[str]] = None
    priority_policy: Optional[PriorityPolicy] = None
    priority_timeout: Optional[float] = None
    deliver_subject: Optional[str] = None
    deliver_group: Optional[str] = None
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class SequencePair(Base):
    """A consumer sequence and the matching stream sequence."""

    consumer_seq: int = 0
    stream_seq: int = 0
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class SequenceInfo(Base):
    """`delivered` / `ack_floor` of a consumer."""

    consumer_seq: int = 0
    stream_seq: int = 0
    last_active: Optional[_dt.datetime] = None
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class PriorityGroupState(Base):
    """State of a priority group; `pinned_ts` is None when no client is pinned."""

    group: Optional[str] = None
    pinned_client_id: Optional[str] = None
    pinned_ts: Optional[_dt.datetime] = None
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class ConsumerInfo(Base):
    """Answer of CONSUMER.INFO / CREATE."""

    _durations = frozenset({"pause_remaining"})
    _ignored = frozenset({"type"})

    stream_name: str = ""
    name: str = ""
    created: Optional[_dt.datetime] = None
    config: ConsumerConfig = field(default_factory=ConsumerConfig)
    delivered: SequenceInfo = field(default_factory=SequenceInfo)
    ack_floor: SequenceInfo = field(default_factory=SequenceInfo)
    num_ack_pending: int = 0
    num_redelivered: int = 0
    num_waiting: int = 0
    num_pending: int = 0
    cluster: Optional[ClusterInfo] = None
    push_bound: Optional[bool] = None
    paused: Optional[bool] = None
    pause_remaining: Optional[float] = None
    ts: Optional[_dt.datetime] = None
    priority_groups: Optional[List[PriorityGroupState]] = None
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class ConsumerPause(Base):
    """Answer of CONSUMER.PAUSE; `pause_until` is None when resumed."""

    _durations = frozenset({"pause_remaining"})
    _ignored = frozenset({"type"})

    paused: bool = False
    pause_until: Optional[_dt.datetime] = None
    pause_remaining: Optional[float] = None
    extra: Dict[str, Any] = _extra()


ConsumerPauseInfo = ConsumerPause


@dataclass(repr=False)
class ConsumerResetInfo(ConsumerInfo):
    """Answer of CONSUMER.RESET (nats-server 2.14): the consumer's info and `reset_seq`,
    the stream sequence it delivers from next."""

    reset_seq: int = 0
