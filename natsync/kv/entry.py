"""One revision of a key (`Entry`), and how a stored message says what happened to the key."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from enum import Enum
from typing import Optional

from ..headers import Headers
from ..reprs import clip, dataclass_table

__all__ = [
    "KV_DEL",
    "KV_OP",
    "KV_PURGE",
    "KV_PUT",
    "MARKER_REASON",
    "Entry",
    "Operation",
    "operation_of",
]

KV_OP = "KV-Operation"
MARKER_REASON = "Nats-Marker-Reason"
ROLLUP = "Nats-Rollup"


class Operation(str, Enum):
    """What a revision did to its key; compares equal to nats.go's strings ("PUT", ...)."""

    PUT = "PUT"
    DEL = "DEL"
    PURGE = "PURGE"

    def __str__(self) -> str:
        return self.value


KV_PUT = Operation.PUT
KV_DEL = Operation.DEL
KV_PURGE = Operation.PURGE

#: ADR-48: what the server-placed marker of each Nats-Marker-Reason means to a bucket.
_MARKERS = {"MaxAge": Operation.PURGE, "Purge": Operation.PURGE, "Remove": Operation.DEL}


def operation_of(headers: Optional[Headers]) -> tuple[Operation, Optional[str]]:
    """The operation a stored message stands for, and its Nats-Marker-Reason if any.

    KV-Operation (written by clients) wins; otherwise a server limit marker (ADR-48)
    is a PURGE for "MaxAge"/"Purge", a DEL for "Remove" and for reasons not known yet
    (a marker never carries a value).
    """
    if headers is None:
        return Operation.PUT, None
    op = headers.get(KV_OP)
    reason = headers.get(MARKER_REASON)
    if op == "DEL":
        return Operation.DEL, reason
    if op == "PURGE":
        return Operation.PURGE, reason
    if reason is not None:
        return _MARKERS.get(reason, Operation.DEL), reason
    return Operation.PUT, None


@dataclass
class Entry:
    """A revision of a key: nats-py's fields, plus the server's marker reason (ADR-48).

    `revision` is the stream sequence; `delta` how many more revisions the watch
    had pending when this one came (0 from `get`); `created` an aware UTC datetime;
    `value` is empty for deletes, purges and `meta_only` watches.
    """

    bucket: str
    key: str
    value: bytes
    revision: int
    delta: int = 0
    created: Optional[_dt.datetime] = None
    operation: Operation = Operation.PUT
    marker_reason: Optional[str] = None

    @property
    def deleted(self) -> bool:
        """True for a DEL or PURGE revision (the key has no value)."""
        return self.operation != Operation.PUT

    def __repr__(self) -> str:
        value = "" if self.deleted else f" value={clip(self.value)!r}"
        return (f"<Entry {self.bucket}/{self.key!r} revision={self.revision} "
                f"{self.operation.value}{value}>")

    def _repr_html_(self) -> str:
        """The revision as a table in notebooks (key and value HTML-escaped)."""
        return dataclass_table(self, title=f"{self.bucket} {self.key}")
