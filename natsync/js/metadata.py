"""Delivery metadata of a JetStream message, parsed from its `$JS.ACK` reply subject (ADR-15)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Optional

from ..errors import NotJSMessageError


@dataclass(frozen=True)
class SequencePair:
    """Stream and consumer sequence of one delivery."""

    stream: int
    consumer: int


@dataclass(frozen=True)
class Metadata:
    """Where a JetStream message came from and how often it was delivered."""

    sequence: SequencePair
    num_pending: int
    num_delivered: int
    timestamp: _dt.datetime
    stream: str
    consumer: str
    domain: Optional[str] = None


def parse_metadata(reply: str) -> Metadata:
    """Parse a v1 (`$JS.ACK.<stream>.<consumer>...`, 9 tokens) or v2 (12+ tokens) ack subject."""
    tokens = reply.split(".")
    if len(tokens) < 9 or tokens[0] != "$JS" or tokens[1] != "ACK":
        raise NotJSMessageError(f"nats: not a JetStream message (reply {reply!r})")
    domain: Optional[str] = None
    if len(tokens) == 9:
        rest = tokens[2:]
    elif len(tokens) >= 11:
        domain = None if tokens[2] == "_" else tokens[2]
        rest = tokens[4:11]
    else:
        raise NotJSMessageError(f"nats: unrecognised JetStream ack subject {reply!r}")
    stream, consumer, delivered, sseq, cseq, ts, pending = rest
    try:
        nanos = int(ts)
        meta = Metadata(
            sequence=SequencePair(stream=int(sseq), consumer=int(cseq)),
            num_pending=int(pending),
            num_delivered=int(delivered),
            timestamp=_dt.datetime.fromtimestamp(nanos / 1e9, tz=_dt.timezone.utc),
            stream=stream, consumer=consumer, domain=domain)
    except ValueError:
        raise NotJSMessageError(f"nats: malformed JetStream ack subject {reply!r}") from None
    return meta
