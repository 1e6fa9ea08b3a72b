"""Batch and multi-last Direct Get (ADR-31): many stored messages for one request.

The request goes out with a fresh inbox as its reply; the stream answers with one
message per stored message and ends with a `204 EOB` status (carrying Nats-Num-Pending
and, for multi-last, Nats-UpTo-Sequence). A `404` means nothing matched. Messages are
yielded as they arrive, so a large batch is never held in memory at once.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence

from ..errors import BadArgumentError
from ..errors import TimeoutError as NatsTimeoutError
from . import api
from .errors import APIError, DirectGetNotAllowedError

if TYPE_CHECKING:
    from ..client import Client

#: The status ending a batch (End Of Batch).
EOB = 204


def _positive(name: str, value: Optional[int]) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise BadArgumentError(f"{name} must be a positive int, got {value!r}")


def _aware(name: str, value: Optional[_dt.datetime]) -> None:
    if value is not None and (not isinstance(value, _dt.datetime) or value.tzinfo is None):
        raise BadArgumentError(f"{name} must be a timezone-aware datetime, got {value!r}")


def batch_request(batch: int, subject: Optional[str] = None, max_bytes: Optional[int] = None,
                  start_seq: Optional[int] = None,
                  start_time: Optional[_dt.datetime] = None) -> dict[str, Any]:
    """The JSON of a batch direct get: `batch` messages from `start_seq` (default 1) or
    `start_time`, only those of `subject` (wildcards allowed) when given."""
    _positive("batch", batch)
    _positive("max_bytes", max_bytes)
    _positive("start_seq", start_seq)
    _aware("start_time", start_time)
    if start_seq is not None and start_time is not None:
        raise BadArgumentError("give start_seq or start_time, not both")
    req: dict[str, Any] = {"batch": batch}
    if start_time is not None:
        req["start_time"] = api.format_time(start_time)
    else:
        req["seq"] = start_seq or 1
    if subject is not None:
        if not isinstance(subject, str) or not subject:
            raise BadArgumentError(f"subject must be a non-empty str, got {subject!r}")
        req["next_by_subj"] = subject
    if max_bytes is not None:
        req["max_bytes"] = max_bytes
    return req


def multi_last_request(subjects: Sequence[str], up_to_seq: Optional[int] = None,
                       up_to_time: Optional[_dt.datetime] = None,
                       batch: Optional[int] = None) -> dict[str, Any]:
    """The JSON of a multi-last direct get: the newest message of each subject matching
    one of `subjects`, as of `up_to_seq` or `up_to_time` (default: now)."""
    if isinstance(subjects, str) or not subjects or not all(
            isinstance(s, str) and s for s in subjects):
        raise BadArgumentError(f"subjects must be a non-empty list of subjects, got {subjects!r}")
    _positive("up_to_seq", up_to_seq)
    _positive("batch", batch)
    _aware("up_to_time", up_to_time)
    if up_to_seq is not None and up_to_time is not None:
        raise BadArgumentError("give up_to_seq or up_to_time, not both")
    req: dict[str, Any] = {"multi_last": list(subjects)}
    if up_to_seq is not None:
        req["up_to_seq"] = up_to_seq
    if up_to_time is not None:
        req["up_to_time"] = api.format_time(up_to_time)
    if batch is not None:
        req["batch"] = batch
    return req


def direct_batch(nc: Client, prefix: str, stream: str, req: dict[str, Any],
                 timeout: float) -> Iterator[api.RawStreamMsg]:
    """Send `req` to the stream's DIRECT.GET and yield each stored message until EOB.

    `timeout` bounds the wait for each message (TimeoutError); the inbox is dropped
    when the iteration ends or is abandoned.
    """
    subject = f"{prefix}.DIRECT.GET.{stream}"
    inbox = nc.new_inbox()
    sub = nc.subscribe(inbox)
    try:
        nc.publish(subject, json.dumps(req, separators=(",", ":")).encode(), reply=inbox)
        while True:
            try:
                msg = sub.next_msg(timeout)
            except NatsTimeoutError:
                raise NatsTimeoutError(f"nats: batch direct get on stream {stream!r}: no "
                                       f"message within {timeout}s") from None
            status = msg.status
            if status is None:
                yield api.RawStreamMsg.from_direct(msg.headers, msg.data)
                continue
            if status in (EOB, 404):
                return
            desc = msg.headers.description if msg.headers is not None else ""
            if status == 503:
                raise DirectGetNotAllowedError(
                    description=f"direct get not available for stream {stream!r} "
                                "(no such stream, or allow_direct off)")
            raise APIError(code=status, description=desc or "batch direct get failed",
                           what=f"stream {stream!r}")
    finally:
        if sub.is_valid:
            sub.unsubscribe()
