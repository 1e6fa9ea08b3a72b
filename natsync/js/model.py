"""The base of the typed JetStream API objects: JSON <-> dataclasses, durations, times.

Every class of js/api.py (and of stream_types.py and consumer_types.py, which it
re-exports) derives from `Base`:

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

import dataclasses
import datetime as _dt
import re
import typing
from dataclasses import field
from enum import Enum
from typing import Any, ClassVar, Dict, Mapping, Optional, Tuple, TypeVar

from ..reprs import dataclass_table

__all__ = ["NANOSECOND", "Base", "format_time", "parse_time", "to_nanos"]


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

