"""Typed JetStream API objects: the JSON the server sends and accepts, as dataclasses.

One namespace for all of them (`api.StreamConfig`, `api.PubAck`, ...): the base class
and its conversions are in model.py, stream types in stream_types.py, consumer types in
consumer_types.py; publish acks, stored messages and account info are defined here.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, TypeVar

from ..errors import ProtocolError
from ..headers import Headers, parse_headers
from ..msg import MARKER_REASON_HEADER
from .consumer_types import (
    AckPolicy,
    ConsumerConfig,
    ConsumerInfo,
    ConsumerPause,
    ConsumerPauseInfo,
    ConsumerResetInfo,
    DeliverPolicy,
    PriorityGroupState,
    PriorityPolicy,
    ReplayPolicy,
    SequenceInfo,
    SequencePair,
)
from .model import (
    Base,
    _copy_json,
    _dec_time,
    _extra,
    format_time,
    parse_time,
    to_nanos,
)
from .stream_types import (
    ClusterInfo,
    DiscardPolicy,
    ExternalStream,
    LostStreamData,
    PeerInfo,
    PersistMode,
    Placement,
    RePublish,
    RetentionPolicy,
    StorageType,
    StoreCompression,
    StreamAlternate,
    StreamConfig,
    StreamConsumerLimits,
    StreamConsumerSource,
    StreamInfo,
    StreamPurgeRequest,
    StreamSource,
    StreamSourceInfo,
    StreamState,
    SubjectTransform,
)

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
