"""The ADR-32 monitoring schemas as dataclasses, with Go-compatible JSON encoding.

`to_dict()` yields the keys in the order nats.go writes them and `to_json()` encodes
like Go's encoding/json (compact, UTF-8, `<>&` escaped), so natsync's responses are
byte-for-byte what a Go service with the same state would send. `from_dict()` accepts
any ADR-32 implementation's document (nats.go, nats-py, ...), tolerating null or
missing optional fields.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Mapping, Optional, Union

from ..reprs import grid
from .errors import InvalidResponseError

PING_RESPONSE_TYPE = "io.nats.micro.v1.ping_response"
INFO_RESPONSE_TYPE = "io.nats.micro.v1.info_response"
STATS_RESPONSE_TYPE = "io.nats.micro.v1.stats_response"

_GO_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
               ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))
_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
                      r"([Zz]|[+-]\d{2}:\d{2})$")


def encode_json(doc: Any) -> bytes:
    """Encode `doc` the way Go's json.Marshal does, so responses match nats.go's bytes."""
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in _GO_ESCAPES:
        if raw in text:
            text = text.replace(raw, escaped)
    return text.encode()


def format_time(dt: datetime) -> str:
    """RFC 3339 in UTC with microseconds (`2024-05-01T10:11:12.123456Z`), which Go and nats-py parse."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Parse any RFC 3339 time (nanoseconds and offsets included) as an aware UTC datetime."""
    m = _RFC3339.match(text) if isinstance(text, str) else None
    if m is None:
        raise InvalidResponseError(f"'started' is not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micros = int((m.group(7) or "0")[:6].ljust(6, "0"))
    zone = m.group(8)
    tz = timezone.utc
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        dt = datetime(year, month, day, hour, minute, second, micros, tzinfo=tz)
    except ValueError as exc:
        raise InvalidResponseError(f"'started' is not a valid time: {text!r} ({exc})") from None
    return dt.astimezone(timezone.utc)


def _str(doc: Mapping[str, Any], key: str, default: Optional[str] = None) -> str:
    """A string field; `default` (when given) stands in for a missing or null one."""
    value = doc.get(key)
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise InvalidResponseError(f"field {key!r} must be a string, got {value!r}")
    return value


def _int(doc: Mapping[str, Any], key: str) -> int:
    """An integer field; missing or null counts as 0 (floats are truncated, as Go would refuse)."""
    value = doc.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidResponseError(f"field {key!r} must be a number, got {value!r}")
    return int(value)


def _meta(doc: Mapping[str, Any], key: str = "metadata") -> Optional[Dict[str, str]]:
    """A metadata object (string to string), or None when it is null or missing."""
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidResponseError(f"field {key!r} must map strings to strings, got {value!r}")
    return dict(value)


def _list(doc: Mapping[str, Any], key: str) -> List[Mapping[str, Any]]:
    """A list of objects; null or missing is an empty list."""
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidResponseError(f"field {key!r} must be a list of objects, got {value!r}")
    return value


def _check_type(doc: Mapping[str, Any], expected: str) -> str:
    """The document's `type`, which must be `expected` when present."""
    if not isinstance(doc, Mapping):
        raise InvalidResponseError(f"a response must be a JSON object, got {doc!r}")
    kind = doc.get("type", expected)
    if kind != expected:
        raise InvalidResponseError(f"expected a {expected} document, got type {kind!r}")
    return expected


@dataclass
class PingInfo:
    """A `$SRV.PING` answer: who a service instance is."""

    name: str
    id: str
    version: str
    metadata: Dict[str, str] = field(default_factory=dict)
    type: str = PING_RESPONSE_TYPE

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> PingInfo:
        """Read an io.nats.micro.v1.ping_response document."""
        kind = _check_type(doc, PING_RESPONSE_TYPE)
        return cls(name=_str(doc, "name"), id=_str(doc, "id"), version=_str(doc, "version"),
                   metadata=_meta(doc) or {}, type=kind)

    def to_dict(self) -> Dict[str, Any]:
        """The document with nats.go's key order."""
        return {"name": self.name, "id": self.id, "version": self.version,
                "metadata": self.metadata, "type": self.type}

    def to_json(self) -> bytes:
        """The document as nats.go encodes it."""
        return encode_json(self.to_dict())


@dataclass
class EndpointInfo:
    """One endpoint in a `$SRV.INFO` answer (metadata None is sent as null, like nats.go)."""

    name: str
    subject: str
    queue_group: str = ""
    metadata: Optional[Dict[str, str]] = None

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> EndpointInfo:
        """Read one element of an info_response's `endpoints`."""
        return cls(name=_str(doc, "name"), subject=_str(doc, "subject"),
                   queue_group=_str(doc, "queue_group", ""), metadata=_meta(doc))

    def to_dict(self) -> Dict[str, Any]:
        """The element with nats.go's key order."""
        return {"name": self.name, "subject": self.subject, "queue_group": self.queue_group,
                "metadata": self.metadata}


@dataclass
class ServiceInfo:
    """A `$SRV.INFO` answer: identity, description and endpoints of a service instance."""

    name: str
    id: str
    version: str
    metadata: Dict[str, str] = field(default_factory=dict)
    description: str = ""
    endpoints: List[EndpointInfo] = field(default_factory=list)
    type: str = INFO_RESPONSE_TYPE

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ServiceInfo:
        """Read an io.nats.micro.v1.info_response document."""
        kind = _check_type(doc, INFO_RESPONSE_TYPE)
        return cls(name=_str(doc, "name"), id=_str(doc, "id"), version=_str(doc, "version"),
                   metadata=_meta(doc) or {}, description=_str(doc, "description", ""),
                   endpoints=[EndpointInfo.from_dict(e) for e in _list(doc, "endpoints")],
                   type=kind)

    def to_dict(self) -> Dict[str, Any]:
        """The document with nats.go's key order."""
        return {"name": self.name, "id": self.id, "version": self.version,
                "metadata": self.metadata, "type": self.type, "description": self.description,
                "endpoints": [e.to_dict() for e in self.endpoints]}

    def to_json(self) -> bytes:
        """The document as nats.go encodes it."""
        return encode_json(self.to_dict())


@dataclass
class EndpointStats:
    """One endpoint in a `$SRV.STATS` answer; times are integer nanoseconds.

    `data` is what the service's stats handler returned; None leaves the key out, as
    nats.go does for a service without a stats handler.
    """

    name: str
    subject: str
    queue_group: str = ""
    num_requests: int = 0
    num_errors: int = 0
    last_error: str = ""
    processing_time: int = 0
    average_processing_time: int = 0
    data: Any = None

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> EndpointStats:
        """Read one element of a stats_response's `endpoints`."""
        return cls(name=_str(doc, "name"), subject=_str(doc, "subject"),
                   queue_group=_str(doc, "queue_group", ""),
                   num_requests=_int(doc, "num_requests"), num_errors=_int(doc, "num_errors"),
                   last_error=_str(doc, "last_error", ""),
                   processing_time=_int(doc, "processing_time"),
                   average_processing_time=_int(doc, "average_processing_time"),
                   data=doc.get("data"))

    def to_dict(self) -> Dict[str, Any]:
        """The element with nats.go's key order (`data` only when there is some)."""
        doc: Dict[str, Any] = {
            "name": self.name, "subject": self.subject, "queue_group": self.queue_group,
            "num_requests": self.num_requests, "num_errors": self.num_errors,
            "last_error": self.last_error, "processing_time": self.processing_time,
            "average_processing_time": self.average_processing_time}
        if self.data is not None:
            doc["data"] = self.data
        return doc


@dataclass
class ServiceStats:
    """A `$SRV.STATS` answer: when the instance started and what each endpoint did since."""

    name: str
    id: str
    version: str
    started: datetime
    metadata: Dict[str, str] = field(default_factory=dict)
    endpoints: List[EndpointStats] = field(default_factory=list)
    type: str = STATS_RESPONSE_TYPE

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ServiceStats:
        """Read an io.nats.micro.v1.stats_response document."""
        kind = _check_type(doc, STATS_RESPONSE_TYPE)
        return cls(name=_str(doc, "name"), id=_str(doc, "id"), version=_str(doc, "version"),
                   started=parse_time(_str(doc, "started")), metadata=_meta(doc) or {},
                   endpoints=[EndpointStats.from_dict(e) for e in _list(doc, "endpoints")],
                   type=kind)

    def to_dict(self) -> Dict[str, Any]:
        """The document with nats.go's key order."""
        return {"name": self.name, "id": self.id, "version": self.version,
                "metadata": self.metadata, "type": self.type,
                "started": format_time(self.started),
                "endpoints": [e.to_dict() for e in self.endpoints]}

    def to_json(self) -> bytes:
        """The document as nats.go encodes it."""
        return encode_json(self.to_dict())

    def _repr_html_(self) -> str:
        """One row per endpoint in notebooks (names and errors HTML-escaped)."""
        return grid(("endpoint", "subject", "queue group", "requests", "errors", "last error",
                     "average ms"),
                    [(e.name, e.subject, e.queue_group, e.num_requests, e.num_errors,
                      e.last_error, f"{e.average_processing_time / 1e6:.3f}")
                     for e in self.endpoints],
                    f"{self.name} {self.version} ({self.id}), started {format_time(self.started)}")


Response = Union[PingInfo, ServiceInfo, ServiceStats]


def parse_response(payload: Union[bytes, str]) -> Response:
    """Decode any monitoring response by its `type` field."""
    try:
        doc = json.loads(payload)
    except ValueError as exc:
        raise InvalidResponseError(f"a monitoring response is not JSON: {exc}") from None
    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind == PING_RESPONSE_TYPE:
        return PingInfo.from_dict(doc)
    if kind == INFO_RESPONSE_TYPE:
        return ServiceInfo.from_dict(doc)
    if kind == STATS_RESPONSE_TYPE:
        return ServiceStats.from_dict(doc)
    raise InvalidResponseError(f"not a micro monitoring response (type {kind!r})")
