"""Consumer events: what a consumer is doing, as typed events, to a callback or an iterator.

A pull consumer's statuses (409s, 423s, missed heartbeats), an ordered consumer's
re-creations and a priority group's pin are handled inside natsync; these events let you
watch them. Each consumer handle (`Consumer`, `PullSubscription`, `PushSubscription`) has
an `EventHub`: `status()` attaches a bounded blocking iterator (an `EventStream`), and
`messages(status_cb=)` / `consume(status_cb=)` a callback. Nothing is spent on events
until a status arrives: the message path does no extra work.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..errors import BadArgumentError
from ..msg import Msg
from .mailbox import Mailbox, Reader

log = logging.getLogger("natsync.js")

#: How many events a `status()` iterator keeps by default before it drops the oldest.
DEFAULT_MAX_PENDING = 256


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


@dataclass(frozen=True)
class ConsumerEvent:
    """Something a consumer did: on `stream`, server-side consumer `consumer`, at `ts`."""

    stream: str
    consumer: str
    ts: _dt.datetime = field(default_factory=_now, compare=False)


@dataclass(frozen=True)
class HeartbeatsMissed(ConsumerEvent):
    """No message and no idle heartbeat for `count` heartbeat intervals (natsync pulls again,
    or re-creates an ordered consumer)."""

    count: int = 2


@dataclass(frozen=True)
class OrderedConsumerRecreated(ConsumerEvent):
    """An ordered consumer was re-created as `consumer` (it was `previous`), delivering from
    stream sequence `start_seq` (0: by its deliver policy, as nothing was delivered yet);
    `reason` is "gap", "heartbeat", "reconnect" or "deleted"."""

    previous: str = ""
    start_seq: int = 0
    reason: str = ""


@dataclass(frozen=True)
class LeadershipChanged(ConsumerEvent):
    """409 Leadership Change: the consumer's leader moved (clusters); waiting pulls ended
    and natsync pulled again from the new leader."""

    description: str = ""


@dataclass(frozen=True)
class ConsumerDeleted(ConsumerEvent):
    """409 Consumer Deleted: the server-side consumer is gone (an ordered one is re-created;
    for others `ConsumerDeletedError` ends the call)."""

    description: str = ""


@dataclass(frozen=True)
class ExceededLimits(ConsumerEvent):
    """A pull refused or cut short by a limit: 409 Exceeded MaxWaiting, MaxRequestBatch,
    MaxRequestExpires, MaxRequestMaxBytes, or a message larger than the pull's max_bytes."""

    code: int = 409
    description: str = ""


@dataclass(frozen=True)
class ConsumerPinned(ConsumerEvent):
    """This puller became the pinned client of priority `group` (ADR-42), as `pin_id`."""

    group: str = ""
    pin_id: str = ""


@dataclass(frozen=True)
class ConsumerUnpinned(ConsumerEvent):
    """This puller lost the pin `pin_id` of priority `group` (status 423: unpinned by an
    admin, or the pin timed out and moved to another puller)."""

    group: str = ""
    pin_id: str = ""


@dataclass(frozen=True)
class NoResponders(ConsumerEvent):
    """503: nothing answered the pull (JetStream recovering, or the consumer is gone)."""


@dataclass(frozen=True)
class ServerStatus(ConsumerEvent):
    """Any other status that ended a pull, e.g. 409 Server Shutdown."""

    code: int = 0
    description: str = ""


#: What listens to a hub: a callable taking one event.
Listener = Callable[[ConsumerEvent], Any]

#: Statuses that end a pull as a matter of course (ADR-37: "not telegraphed").
_ROUTINE = ("message size exceeds maxbytes", "batch completed")


def status_event(msg: Msg, stream: str, consumer: str) -> Optional[ConsumerEvent]:
    """The event a pull's status message stands for; None for routine ones (100, 404, 408,
    409 Batch Completed / Message Size Exceeds MaxBytes) and for 423, which the pin logic
    reports itself."""
    status = msg.status or 0
    if status in (100, 404, 408, 423):
        return None
    desc = msg.headers.description if msg.headers is not None else ""
    if status == 503:
        return NoResponders(stream, consumer)
    if status == 409:
        low = desc.lower()
        if "leadership change" in low:
            return LeadershipChanged(stream, consumer, description=desc)
        if "consumer deleted" in low:
            return ConsumerDeleted(stream, consumer, description=desc)
        if low.startswith("exceeded"):
            return ExceededLimits(stream, consumer, code=status, description=desc)
        if any(r in low for r in _ROUTINE):
            return None
    return ServerStatus(stream, consumer, code=status, description=desc)


class EventHub:
    """Hands a consumer's events to its listeners, in order, on the thread that noticed them.

    A listener that raises is logged and kept; it never breaks the consumer.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: tuple[Listener, ...] = ()

    def add(self, listener: Listener) -> None:
        """Start handing events to `listener`."""
        if not callable(listener):
            raise BadArgumentError(f"status_cb must be callable, not {type(listener).__name__}")
        with self._lock:
            self._listeners += (listener,)

    def remove(self, listener: Listener) -> None:
        """Stop handing events to `listener` (no error if it is not listening)."""
        with self._lock:
            self._listeners = tuple(x for x in self._listeners if x is not listener)

    def emit(self, event: ConsumerEvent) -> None:
        """Give `event` to every listener."""
        log.debug("natsync: consumer event %r", event)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("natsync: a consumer status listener raised")

    def stream(self, max_pending: int = DEFAULT_MAX_PENDING) -> EventStream:
        """A blocking iterator of the events from now on (see `EventStream`)."""
        events = EventStream(self, max_pending)
        self.add(events.put)
        return events


class EventStream(Reader[ConsumerEvent]):
    """A blocking iterator of one consumer's events, from `status()`.

    It keeps at most `max_pending` unread events, dropping the oldest (counted in
    `dropped`), so a reader that falls behind never holds memory without bound.
    `next(timeout)` raises TimeoutError when none comes in time; iteration ends, and
    `next()` returns None, once `close()` was called (or the `with` block left).
    """

    def __init__(self, hub: EventHub, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self._hub = hub
        self._box: Mailbox[ConsumerEvent] = Mailbox(max_pending, "consumer event")

    def put(self, event: ConsumerEvent) -> None:
        """Queue an event (the hub calls this)."""
        self._box.put(event)

    def next(self, timeout: Optional[float] = None) -> Optional[ConsumerEvent]:
        """The next event; None once closed; TimeoutError if `timeout` seconds pass first."""
        return self._box.get(timeout)

    def close(self) -> None:
        """Stop receiving events; readers get what is queued, then the end."""
        self._hub.remove(self.put)
        self._box.close()
