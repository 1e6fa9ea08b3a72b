"""Distributed counters (ADR-49): `Nats-Incr` publishes and reads of the `{"val":"N"}` bodies.

A stream with `allow_msg_counter` keeps, per subject, a message whose body is the running
total; publishing an empty message with `Nats-Incr: +N` adds N and the PubAck carries the
new total. Values are arbitrary-size integers sent as decimal strings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Mapping, Optional

from ..errors import BadArgumentError
from ..headers import Headers
from ..subjects import check_subject
from . import api
from .errors import APIError, MsgNotFoundError

if TYPE_CHECKING:
    from .context import JetStreamContext

INCR_HEADER = "Nats-Incr"
SOURCES_HEADER = "Nats-Counter-Sources"


@dataclass
class CounterValue:
    """A counter read from its stream.

    `value` is the total; `sources` breaks a sourced counter down as
    {source stream: {source subject: that source's total}} (empty for a counter
    nobody sources into); `seq` is the stream sequence of the message read (0 when
    the subject was never incremented), `last_incr` the increment it carried.
    """

    subject: str
    value: int = 0
    sources: dict[str, dict[str, int]] = field(default_factory=dict)
    seq: int = 0
    last_incr: Optional[int] = None


def incr_headers(by: int) -> Headers:
    """The headers of an increment: `Nats-Incr: +N` or `-N` (0 allowed: a read-back)."""
    if isinstance(by, bool) or not isinstance(by, int):
        raise BadArgumentError(f"counter increment must be an int, got {by!r}")
    return Headers({INCR_HEADER: f"{by:+d}"})


def _parse_int(text: object, what: str) -> int:
    if isinstance(text, str):
        body = text[1:] if text[:1] in "+-" else text
        if body.isascii() and body.isdigit():
            return int(text)
    raise APIError(description=f"invalid counter {what}: {str(text)[:40]!r}")


def value_from_ack(ack: api.PubAck) -> int:
    """The new total in a counter publish's PubAck (its `val` string)."""
    if ack.val is None:
        raise APIError(description=f"stream {ack.stream!r} did not return a counter value; "
                                   "is allow_msg_counter set?")
    return _parse_int(ack.val, "value in the PubAck")


def from_msg(msg: api.RawStreamMsg) -> CounterValue:
    """The CounterValue stored in a counter message."""
    try:
        body = json.loads(msg.data) if msg.data else {}
    except ValueError:
        raise APIError(description=f"not a counter message: {msg.data[:40]!r}") from None
    if not isinstance(body, dict) or "val" not in body:
        raise APIError(description=f"not a counter message: {msg.data[:40]!r}")
    out = CounterValue(msg.subject, _parse_int(body["val"], "value"), seq=msg.seq)
    headers = msg.headers
    if headers is not None:
        incr = headers.get(INCR_HEADER)
        if incr is not None:
            out.last_incr = _parse_int(incr, "increment")
        raw = headers.get(SOURCES_HEADER)
        if raw:
            out.sources = parse_sources(raw)
    return out


def parse_sources(raw: str) -> dict[str, dict[str, int]]:
    """The Nats-Counter-Sources header: {"stream": {"subject": "123"}} with ints."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise APIError(description=f"invalid {SOURCES_HEADER} header: {raw[:60]!r}") from None
    if not isinstance(data, Mapping):
        raise APIError(description=f"invalid {SOURCES_HEADER} header: {raw[:60]!r}")
    return {str(stream): {str(subj): _parse_int(v, "source value") for subj, v in subjects.items()}
            for stream, subjects in data.items() if isinstance(subjects, Mapping)}


def read(js: JetStreamContext, stream: str, subject: str) -> CounterValue:
    """The counter of `subject` in `stream`; value 0 for a subject never incremented."""
    check_subject(subject)
    try:
        msg = js.get_last_msg(stream, subject)
    except MsgNotFoundError:
        return CounterValue(subject)
    return from_msg(msg)


def read_many(js: JetStreamContext, stream: str, subjects: Iterable[str]) -> dict[str, int]:
    """Totals of several counters; a wildcard subject stands for every stored match."""
    out: dict[str, int] = {}
    for pattern in subjects:
        check_subject(pattern, wildcards=True)
        if {"*", ">"} & set(pattern.split(".")):
            state = js.stream_info(stream, subjects_filter=pattern).state
            names = sorted((state.subjects or {}) if state is not None else {})
        else:
            names = [pattern]
        for name in names:
            out[name] = read(js, stream, name).value
    return out
