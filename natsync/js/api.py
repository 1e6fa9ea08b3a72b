"""Typed JetStream API objects: the JSON the server sends and accepts, as dataclasses.

Every class derives from `Base`:

* `Cls.from_response(mapping)` builds an object from the server's JSON (already
  decoded with `json.loads`). Durations (nanoseconds on the wire) become float
  seconds, RFC 3339 timestamps become timezone-aware `datetime` objects, nested
  objects become their dataclasses and enum values become enums. Nothing from a
  newer server is fatal: an enum value this module does not know stays a plain
  `str`, and a key that is not a field is kept in `extra`.
* `obj.as_dict()` is the inverse, ready for `json.dumps` in a request: seconds
  become integer nanoseconds, datetimes RFC 3339 strings, enums their values,
  `None` fields are left out and `extra` is merged back in, so fields this
  module does not know survive a `stream_info()` -> `update_stream()` round trip.
* `obj.evolve(**changes)` is `dataclasses.replace`.

Durations are declared per class in `_durations` (field names); timestamps,
nested objects and enums follow from the type annotations. `_renames` maps a
Python field name to a different wire name (e.g. `PubAck.batch_id` <-> "batch").
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as _dt
import re
import typing
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Tuple, TypeVar

from ..errors import ProtocolError
from ..headers import Headers, parse_headers
from ..msg import MARKER_REASON_HEADER
from ..reprs import dataclass_table

__all__ = [
    "AccountInfo",
    "AccountLimits",
    "AckPolicy",
    "APIStats",
    "Base",
    "ClusterInfo",
    "ConsumerConfig",
    "ConsumerInfo",
    "ConsumerPause",
    "ConsumerPauseInfo",
    "ConsumerResetInfo",
    "DeliverPolicy",
    "DiscardPolicy",
    "ExternalStream",
    "LostStreamData",
    "PeerInfo",
    "PersistMode",
    "Placement",
    "PriorityGroupState",
    "PriorityPolicy",
    "PubAck",
    "RawStreamMsg",
    "ReplayPolicy",
    "RePublish",
    "RetentionPolicy",
    "SequenceInfo",
    "SequencePair",
    "StorageType",
    "StoreCompression",
    "StreamAlternate",
    "StreamConfig",
    "StreamConsumerLimits",
    "StreamConsumerSource",
    "StreamInfo",
    "StreamPurgeRequest",
    "StreamSource",
    "StreamSourceInfo",
    "StreamState",
    "SubjectTransform",
    "Tier",
    "format_time",
    "parse_time",
    "to_nanos",
]

NANOSECOND = 1_000_000_000

_B = TypeVar("_B", bound="Base")

# --------------------------------------------------------------------------- time and durations

_UTC = _dt.timezone.utc

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})\Z",
    re.ASCII,
)


def parse_time(value: str) -> Optional[_dt.datetime]:
    """Parse an RFC 3339 time as Go writes it (up to nanoseconds, 'Z' or an offset).

    Returns an aware datetime (sub-microsecond digits are truncated), or None for
    Go's zero time "0001-01-01T00:00:00Z", which the server sends for "unset".
    Raises ValueError for anything else.
    """
    m = _RFC3339.match(value)
    if m is None:
        raise ValueError(f"not an RFC 3339 time: {value!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac, zone = m.group(7), m.group(8)
    micro = int((frac or "0")[:6].ljust(6, "0"))
    if zone in ("Z", "z"):
        tz = _UTC
    else:
        sign = -1 if zone[0] == "-" else 1
        offset = _dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        tz = _UTC if not offset else _dt.timezone(sign * offset)
    if (year, month, day, hour, minute, second, micro) == (1, 1, 1, 0, 0, 0, 0) and tz is _UTC:
        return None
    return _dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)


def format_time(value: _dt.datetime) -> str:
    """Format a datetime as RFC 3339 for the server; a naive datetime is taken as UTC."""
    offset = value.utcoffset()
    if offset is None:
        offset = _dt.timedelta(0)
    text = (f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
            f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def to_nanos(seconds: float | _dt.timedelta) -> int:
    """Seconds (int, float or timedelta) to integer nanoseconds for the wire."""
    if isinstance(seconds, _dt.timedelta):
        return (seconds.days * 86_400 + seconds.seconds) * NANOSECOND + seconds.microseconds * 1000
    if isinstance(seconds, int):
        return seconds * NANOSECOND
    return round(seconds * NANOSECOND)


def _from_nanos(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value / NANOSECOND
    return value  # not a number: keep what the server sent


def _enc_nanos(value: Any) -> Any:
    if isinstance(value, (int, float, _dt.timedelta)) and not isinstance(value, bool):
        return to_nanos(value)
    return value


def _dec_time(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError:
            return value
    return value


def _enc_time(value: Any) -> Any:
    return format_time(value) if isinstance(value, _dt.datetime) else value


def _copy_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy_json(v) for v in value]
    return value


# --------------------------------------------------------------------------- the base class

# How one field converts: "plain", "duration", "durations" (list), "time", "enum",
# "model", "models" (list) or "model_map" (dict of str -> model); target is the
# enum or model class.
_Plan = Dict[str, Tuple[str, Any]]
_PLANS: dict[type, _Plan] = {}


def _unwrap_optional(hint: Any) -> Any:
    if typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Base)


def _plan(cls: type[Base]) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is not None:
        return plan
    hints = typing.get_type_hints(cls)
    plan = {}
    for f in dataclasses.fields(cls):
        if f.name == "extra":
            continue
        tp = _unwrap_optional(hints[f.name])
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if f.name in cls._durations:
            plan[f.name] = ("durations" if origin is list else "duration", None)
        elif tp is _dt.datetime:
            plan[f.name] = ("time", None)
        elif isinstance(tp, type) and issubclass(tp, Enum):
            plan[f.name] = ("enum", tp)
        elif _is_model(tp):
            plan[f.name] = ("model", tp)
        elif origin is list and args and _is_model(args[0]):
            plan[f.name] = ("models", args[0])
        elif origin is dict and len(args) == 2 and _is_model(args[1]):
            plan[f.name] = ("model_map", args[1])
        else:
            plan[f.name] = ("plain", None)
    _PLANS[cls] = plan
    return plan


def _decode(kind: str, target: Any, value: Any) -> Any:
    if value is None:
        return None
    if kind == "plain":
        return _copy_json(value)
    if kind == "duration":
        return _from_nanos(value)
    if kind == "durations":
        return [_from_nanos(v) for v in value] if isinstance(value, list) else value
    if kind == "time":
        return _dec_time(value)
    if kind == "enum":
        try:
            return target(value)
        except ValueError:
            return value  # a value from a newer server: keep the string
    if kind == "model":
        return target.from_response(value) if isinstance(value, Mapping) else value
    if kind == "models":
        if not isinstance(value, list):
            return value
        return [target.from_response(v) if isinstance(v, Mapping) else v for v in value]
    if kind == "model_map":
        if not isinstance(value, Mapping):
            return value
        return {k: target.from_response(v) if isinstance(v, Mapping) else v
                for k, v in value.items()}
    raise AssertionError(kind)


def _encode_any(value: Any) -> Any:
    if isinstance(value, Base):
        return value.as_dict()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, _dt.datetime):
        return format_time(value)
    if isinstance(value, Mapping):
        return {k: _encode_any(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_any(v) for v in value]
    return value


def _encode(kind: str, value: Any) -> Any:
    if kind == "duration":
        return _enc_nanos(value)
    if kind == "durations":
        return [_enc_nanos(v) for v in value] if isinstance(value, (list, tuple)) else value
    if kind == "time":
        return _enc_time(value)
    return _encode_any(value)


class Base:
    """Mixin for the JetStream API dataclasses (see the module docstring).

    Subclasses are dataclasses whose fields all have defaults and whose last
    field is `extra: dict[str, Any]` (unknown keys from the server).
    """

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    #: Field names holding durations: float seconds here, integer nanoseconds on the wire.
    _durations: ClassVar[frozenset[str]] = frozenset()
    #: Python field name -> wire name, where the two differ.
    _renames: ClassVar[Mapping[str, str]] = {}
    #: Wire keys dropped by from_response (not kept in `extra`).
    _ignored: ClassVar[frozenset[str]] = frozenset()

    extra: dict[str, Any]

    @classmethod
    def from_response(cls: type[_B], resp: Mapping[str, Any]) -> _B:
        """Build an object from the server's JSON; unknown keys go to `extra`."""
        plan = _plan(cls)
        wire_to_py = {wire: py for py, wire in cls._renames.items()}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in resp.items():
            # A renamed field's Python name is not a wire key.
            name = wire_to_py.get(key, "" if key in cls._renames else key)
            conv = plan.get(name)
            if conv is None:
                if key not in cls._ignored:
                    extra[key] = _copy_json(value)
                continue
            if value is not None:  # JSON null: the field keeps its default
                kwargs[name] = _decode(conv[0], conv[1], value)
        kwargs["extra"] = extra
        return cls(**kwargs)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict for a request: None fields omitted, `extra` merged back in."""
        plan = _plan(type(self))
        out: dict[str, Any] = _copy_json(self.extra) if self.extra else {}
        for name, (kind, _target) in plan.items():
            value = getattr(self, name)
            if value is None:
                continue
            out[self._renames.get(name, name)] = _encode(kind, value)
        return out

    def evolve(self: _B, **changes: Any) -> _B:
        """A copy with `changes` applied (dataclasses.replace)."""
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        parts = [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)
                 if f.repr and getattr(self, f.name) is not None
                 and not (f.name == "extra" and not self.extra)]
        return f"{type(self).__name__}({', '.join(parts)})"

    def _repr_html_(self) -> str:
        """The fields that are set, as nested tables in notebooks (values HTML-escaped)."""
        return dataclass_table(self, title=type(self).__name__)


def _extra() -> Any:
    return field(default_factory=dict)


# --------------------------------------------------------------------------- enums


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


class DeliverPolicy(str, Enum):
    """Where a consumer starts."""

    ALL = "all"
    LAST = "last"
    NEW = "new"
    BY_START_SEQUENCE = "by_start_sequence"
    BY_START_TIME = "by_start_time"
    LAST_PER_SUBJECT = "last_per_subject"


class AckPolicy(str, Enum):
    """How a consumer's messages are acknowledged."""

    NONE = "none"
    ALL = "all"
    EXPLICIT = "explicit"


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


# --------------------------------------------------------------------------- publish and messages


@dataclass(repr=False)
class PubAck(Base):
    """The stream's answer to a JetStream publish.

    `val` is a counter's new value (counter streams); `batch_id`/`batch_size`
    (wire "batch"/"count") acknowledge an atomic batch commit.
    """

    _renames = {"batch_id": "batch", "batch_size": "count"}
    _ignored = frozenset({"type"})

    stream: str = ""
    seq: int = 0
    duplicate: Optional[bool] = None
    domain: Optional[str] = None
    val: Optional[str] = None
    batch_id: Optional[str] = None
    batch_size: Optional[int] = None
    extra: Dict[str, Any] = _extra()


_DIRECT_HEADERS = frozenset({"nats-stream", "nats-subject", "nats-sequence", "nats-time-stamp",
                            "nats-last-sequence", "nats-num-pending"})


@dataclass(repr=False)
class RawStreamMsg(Base):
    """A stored message from STREAM.MSG.GET (or a direct get).

    `data` and `hdrs` are the base64-decoded payload and raw header block;
    `headers` is that block parsed (None when there are none).
    """

    _ignored = frozenset({"type"})

    subject: str = ""
    seq: int = 0
    data: bytes = b""
    hdrs: Optional[bytes] = None
    headers: Optional[Headers] = None
    time: Optional[_dt.datetime] = None
    stream: Optional[str] = None
    extra: Dict[str, Any] = _extra()

    @property
    def header(self) -> Optional[Headers]:
        """nats-py's name for `headers`."""
        return self.headers

    @property
    def marker_reason(self) -> Optional[str]:
        """Why the server placed this delete marker (ADR-43: MaxAge, Remove, Purge), else None."""
        return self.headers.get(MARKER_REASON_HEADER) if self.headers is not None else None

    @classmethod
    def from_response(cls: type[_R], resp: Mapping[str, Any]) -> _R:
        """Build from a STREAM.MSG.GET answer or its "message" object."""
        inner = resp.get("message")
        if isinstance(inner, Mapping) and "seq" not in resp:
            resp = inner
        body = dict(resp)
        data = body.pop("data", None)
        hdrs = body.pop("hdrs", None)
        body.pop("headers", None)
        msg = super().from_response(body)
        msg.data = _b64decode(data) if data else b""
        if hdrs:
            msg.hdrs = _b64decode(hdrs)
            try:
                msg.headers = parse_headers(msg.hdrs)
            except ProtocolError:
                msg.headers = None  # keep the raw block in `hdrs`
        return msg

    @classmethod
    def from_direct(cls: type[_R], headers: Optional[Headers], data: bytes) -> _R:
        """Build from a Direct Get reply.

        The Nats-Stream, Nats-Subject, Nats-Sequence, Nats-Time-Stamp (and
        Nats-Last-Sequence, Nats-Num-Pending) headers describe the message and are
        taken out; the remaining ones are the message's own `headers`/`hdrs`.
        """
        h = headers if headers is not None else Headers()
        seq = h.get("Nats-Sequence", "")
        stamp = h.get("Nats-Time-Stamp")
        own = Headers()
        for name, value in h.items_all():
            if name.lower() not in _DIRECT_HEADERS:
                own.add(name, value)
        return cls(subject=h.get("Nats-Subject", ""),
                   seq=int(seq) if seq.isascii() and seq.isdigit() else 0,
                   data=data,
                   hdrs=own.encode() if len(own) else None,
                   headers=own if len(own) else None,
                   time=_dec_time(stamp) if stamp else None,
                   stream=h.get("Nats-Stream"))

    def as_dict(self) -> dict[str, Any]:
        out = _copy_json(self.extra) if self.extra else {}
        out["subject"] = self.subject
        out["seq"] = self.seq
        if self.data:
            out["data"] = base64.b64encode(self.data).decode("ascii")
        hdrs = self.hdrs
        if hdrs is None and self.headers is not None:
            hdrs = self.headers.encode()
        if hdrs:
            out["hdrs"] = base64.b64encode(hdrs).decode("ascii")
        if self.time is not None:
            out["time"] = format_time(self.time)
        if self.stream is not None:
            out["stream"] = self.stream
        return out


_R = TypeVar("_R", bound=RawStreamMsg)


def _b64decode(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    try:
        return base64.b64decode(value)
    except (binascii.Error, ValueError, TypeError):
        raise ProtocolError(f"JetStream sent invalid base64: {str(value)[:32]!r}") from None


# --------------------------------------------------------------------------- account


@dataclass(repr=False)
class AccountLimits(Base):
    """JetStream limits of an account (-1: unlimited)."""

    max_memory: Optional[int] = None
    max_storage: Optional[int] = None
    max_streams: Optional[int] = None
    max_consumers: Optional[int] = None
    max_ack_pending: Optional[int] = None
    memory_max_stream_bytes: Optional[int] = None
    storage_max_stream_bytes: Optional[int] = None
    max_bytes_required: Optional[bool] = None
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class APIStats(Base):
    """JetStream API usage; `level` is the server's API level (2.11+)."""

    total: int = 0
    errors: int = 0
    level: Optional[int] = None
    inflight: Optional[int] = None
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class Tier(Base):
    """Usage and limits of one tier (e.g. "R1", "R3")."""

    memory: int = 0
    storage: int = 0
    reserved_memory: Optional[int] = None
    reserved_storage: Optional[int] = None
    streams: int = 0
    consumers: int = 0
    limits: AccountLimits = field(default_factory=AccountLimits)
    extra: Dict[str, Any] = _extra()


@dataclass(repr=False)
class AccountInfo(Base):
    """Answer of $JS.API.INFO."""

    _ignored = frozenset({"type"})

    memory: int = 0
    storage: int = 0
    reserved_memory: Optional[int] = None
    reserved_storage: Optional[int] = None
    streams: int = 0
    consumers: int = 0
    limits: AccountLimits = field(default_factory=AccountLimits)
    domain: Optional[str] = None
    api: APIStats = field(default_factory=APIStats)
    tiers: Optional[Dict[str, Tier]] = None
    extra: Dict[str, Any] = _extra()
