"""Pull consumers: batches fetched on request, with the server's status messages handled inside.

Each fetch sends one pull request whose reply subject carries its own token, so a status
message (404 no messages, 408 expired, 409 ...) of an earlier, timed-out request can never
end a later fetch. Messages that arrive after a fetch gave up are kept and returned first
by the next fetch, so nothing delivered is left unacknowledged in a forgotten queue.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import TYPE_CHECKING, Any, Optional

from ..errors import BadArgumentError
from ..errors import TimeoutError as NatsTimeoutError
from ..msg import Msg
from ..subscription import Subscription
from . import api
from .errors import BadPullRequestError, ConsumerDeletedError, HeartbeatMissedError, StatusError
from .events import DEFAULT_MAX_PENDING, EventHub, EventStream, HeartbeatsMissed, status_event
from .priority import PIN_MISMATCH, PinState, PriorityRequest, pin_of, priority_request

if TYPE_CHECKING:
    from .manager import JetStreamManager

#: How much earlier than the client's own deadline the server is asked to expire a pull.
EXPIRY_MARGIN = 0.1
#: The batch of a pull bounded by bytes alone (ADR-37: a large count, so the bytes decide).
BYTES_ONLY_BATCH = 1_000_000


def pull_request(batch: int, expires: Optional[float], no_wait: bool = False,
                 heartbeat: Optional[float] = None, max_bytes: Optional[int] = None,
                 priority: Optional[PriorityRequest] = None, pin_id: Optional[str] = None
                 ) -> dict[str, Any]:
    """The JSON of a CONSUMER.MSG.NEXT request (ADR-13, ADR-42); durations in seconds."""
    req: dict[str, Any] = {"batch": batch}
    if expires is not None:
        req["expires"] = int(expires * 1e9)
    if no_wait:
        req["no_wait"] = True
    if heartbeat:
        req["idle_heartbeat"] = int(heartbeat * 1e9)
    if max_bytes:
        req["max_bytes"] = max_bytes
    if priority is not None:
        req.update(priority.fields(pin_id))
    return req


def wire_size(msg: Msg) -> int:
    """A delivery's size as the server counts it against a pull's max_bytes (ADR-37):
    subject, reply, headers and payload."""
    h = msg.headers
    size = len(msg.subject) + len(msg.reply) + len(msg.data)
    return size if h is None else size + len(h.encode())


def check_count(name: str, value: Optional[int]) -> None:
    """Refuse a count that is not a positive int (None passes: not given)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise BadArgumentError(f"{name} must be a positive int, got {value!r}")


def fetch_batch(batch: Optional[int], max_bytes: Optional[int], name: str = "batch") -> int:
    """The message count of a fetch (the argument `name`): as given, else 1, or no real
    limit when `max_bytes` bounds it (ADR-37)."""
    check_count(name, batch)
    check_count("max_bytes", max_bytes)
    if batch is not None:
        return batch
    return 1 if max_bytes is None else BYTES_ONLY_BATCH


def next_subject(prefix: str, stream: str, consumer: str) -> str:
    """The subject pull requests for `consumer` of `stream` are sent to."""
    return f"{prefix}.CONSUMER.MSG.NEXT.{stream}.{consumer}"


def server_expiry(timeout: float) -> float:
    """The `expires` to ask for so the server's 408 arrives before the client's deadline."""
    return max(0.001, timeout - min(EXPIRY_MARGIN, timeout * 0.2))


def is_terminal_status(msg: Msg, request_subject: str) -> bool:
    """Whether a status message ends the pull request it answers; raises for fatal ones.

    Heartbeats (100) and statuses of other (older) requests are not terminal.
    """
    status = msg.status
    if status == 100 or msg.subject != request_subject:
        return False
    if status in (404, 408):
        return True
    if status == 409:
        desc = msg.headers.description if msg.headers is not None else ""
        if "consumer deleted" in desc.lower():
            raise ConsumerDeletedError(description=desc)
        return True  # leader change, max bytes, max waiting...: the request is over
    if status == 400:
        raise BadPullRequestError(
            description=msg.headers.description if msg.headers is not None else "")
    raise StatusError(code=status or 0,
                      description=msg.headers.description if msg.headers is not None else "")


class PullSubscription:
    """A bound pull consumer; `fetch()` from any thread (fetches are serialised).

    Its events (status 409s, missed heartbeats, a priority group's pin) go to `events`,
    the hub of the `Consumer` handle it serves, or its own: read them with `status()`.
    """

    def __init__(self, jsm: JetStreamManager, stream: str, consumer: str, sub: Subscription,
                 inbox: str, ephemeral: bool, config: Optional[api.ConsumerConfig] = None,
                 events: Optional[EventHub] = None) -> None:
        self._jsm = jsm
        self._nc = jsm.nc
        self.stream = stream
        self.consumer = consumer
        self._sub = sub
        self._inbox = inbox
        self._ephemeral = ephemeral
        self._prefix = jsm.prefix
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._config = config  # when known, priority arguments are checked against it
        self._events = events if events is not None else EventHub()
        self._pin = PinState(self._events, stream)  # of a pinned_client consumer
        self._stash: Optional[Msg] = None  # a leftover that did not fit an earlier max_bytes

    def fetch(self, batch: Optional[int] = None, timeout: Optional[float] = 5.0,
              heartbeat: Optional[float] = None, group: Optional[str] = None,
              min_pending: Optional[int] = None, min_ack_pending: Optional[int] = None,
              priority: Optional[int] = None, max_bytes: Optional[int] = None,
              no_wait: bool = False) -> list[Msg]:
        """Up to `batch` messages (default 1), waiting at most `timeout` seconds.

        Returns what arrived in time — an empty list when nothing did. `max_bytes` also
        bounds the batch by size (subject, reply, headers and payload, as the server
        counts); given alone, it is the only bound. `no_wait=True` returns what the
        consumer has now instead of waiting for the batch to fill. With `heartbeat` the
        server sends idle heartbeats and HeartbeatMissedError is raised if they stop.
        `group` (and the policy's `min_pending`, `min_ack_pending`, `priority`) pulls
        for a priority group (ADR-42); a pinned_client pin is kept and sent back.
        """
        count = fetch_batch(batch, max_bytes)
        prio = priority_request(group, min_pending, min_ack_pending, priority, self._config)
        timeout = 5.0 if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._lock:
            msgs, budget = self._leftovers(count, max_bytes)
            if len(msgs) >= count or budget == 0:
                return msgs
            if no_wait or (heartbeat is not None and heartbeat * 2 >= timeout):
                heartbeat = None  # no expiry to watch over, or it comes first anyway
            expiry = None if no_wait else timeout  # a no_wait pull is answered at once
            reply = self._pull(count - len(msgs), expiry, no_wait or bool(msgs), heartbeat,
                               prio, budget)
            while len(msgs) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = remaining if heartbeat is None else min(remaining, heartbeat * 2)
                try:
                    msg = self._sub.next_msg(wait)
                except NatsTimeoutError:
                    if heartbeat is not None and wait < remaining:
                        self._events.emit(HeartbeatsMissed(self.stream, self.consumer))
                        raise HeartbeatMissedError(
                            f"nats: no heartbeat from consumer {self.consumer!r} "
                            f"for {heartbeat * 2:.3f}s") from None
                    break
                if msg.status is None:
                    pin = pin_of(msg)
                    if pin is not None and pin != self._pin.id:
                        self._pin.gained(pin, self.consumer, prio)
                    msgs.append(msg)
                elif msg.subject != reply or msg.status == 100:
                    continue  # a heartbeat, or a late status of an earlier fetch
                elif msg.status == PIN_MISMATCH:
                    self._pin.lost(self.consumer, prio)  # another puller has it: ask without
                    if max_bytes is not None:
                        budget = max_bytes - sum(wire_size(m) for m in msgs)
                        if budget <= 0:
                            break
                    reply = self._pull(count - len(msgs), None if no_wait else remaining,
                                       no_wait or bool(msgs), heartbeat, prio, budget)
                else:
                    event = status_event(msg, self.stream, self.consumer)
                    if event is not None:
                        self._events.emit(event)
                    if is_terminal_status(msg, reply):
                        break
            return msgs

    def _pull(self, batch: int, timeout: Optional[float], no_wait: bool,
              heartbeat: Optional[float], prio: Optional[PriorityRequest],
              max_bytes: Optional[int]) -> str:
        """Send one pull request expiring before `timeout`; its reply subject.

        `no_wait` asks the server to answer once it has sent what it has (at once without
        an expiry; with one, as soon as any message is there).
        """
        reply = f"{self._inbox}.{next(self._ids)}"
        expires = None if timeout is None else server_expiry(timeout)
        req = pull_request(batch, expires, no_wait=no_wait, heartbeat=heartbeat,
                           max_bytes=max_bytes, priority=prio,
                           pin_id=self._pin.id if prio is not None else None)
        # Made per pull: an ordered consumer's puller follows it as it is re-created.
        subject = next_subject(self._prefix, self.stream, self.consumer)
        self._nc.publish(subject, json.dumps(req).encode(), reply=reply)
        return reply

    def _leftovers(self, batch: int, max_bytes: Optional[int]) -> tuple[list[Msg], Optional[int]]:
        """Messages that arrived for earlier fetches after they returned, within `batch` and
        `max_bytes`, and the bytes left for this fetch (None: no byte bound; 0: no room, a
        message that did not fit is kept for the next fetch)."""
        msgs: list[Msg] = []
        budget = max_bytes
        while len(msgs) < batch:
            msg, self._stash = self._stash, None
            if msg is None:
                if not self._sub.pending_msgs:
                    break
                msg = self._sub.next_msg(0)
                if msg.status is not None:
                    continue
                self._pin.id = pin_of(msg) or self._pin.id
            if budget is not None:
                size = wire_size(msg)
                if size > budget:
                    self._stash = msg
                    return msgs, 0
                budget -= size
            msgs.append(msg)
        return msgs, budget

    def consumer_info(self) -> api.ConsumerInfo:
        """The bound consumer's current state."""
        return self._jsm.consumer_info(self.stream, self.consumer)

    def status(self, max_pending: int = DEFAULT_MAX_PENDING) -> EventStream:
        """A blocking iterator of this puller's events from now on (`natsync.js.events`):
        409s, missed heartbeats, a priority group's pin gained or lost."""
        return self._events.stream(max_pending)

    @property
    def pending_msgs(self) -> int:
        """Messages delivered by the server and not yet returned by fetch."""
        return self._sub.pending_msgs + (self._stash is not None)

    def unsubscribe(self) -> None:
        """Stop fetching; an ephemeral consumer is deleted too."""
        if self._sub.is_valid:
            self._sub.unsubscribe()
        if self._ephemeral and not self._nc.is_closed:
            try:
                self._jsm.delete_consumer(self.stream, self.consumer)
            except Exception:  # already gone (inactive threshold) is fine
                pass

    def __enter__(self) -> PullSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unsubscribe()

    def __repr__(self) -> str:
        return f"<PullSubscription stream={self.stream!r} consumer={self.consumer!r}>"
