"""Simplified JetStream consumers (ADR-37): `stream.consumer(name)` then fetch / next / messages / consume.

`messages()` keeps pull requests topped up in the background of each call: it asks for
more when what is still due (in messages, or in bytes with `max_bytes`) falls to a
threshold, half the buffer by default, uses idle heartbeats to notice a server that
stopped answering, and re-issues its pulls by itself after a reconnect or a server
restart. `consume(cb)` runs the same loop on its own thread. What a consumer does besides
delivering (409s, missed heartbeats, re-creations, a pin) is reported as events
(js/events.py) to `status()` iterators and `status_cb` callbacks.

Both send their pulls to the consumer's target (js/targets.py): a fixed server-side
consumer, or for an ordered consumer (ADR-17) one re-created on any gap.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

from ..errors import BadArgumentError, BadSubscriptionError, ConnectionClosedError
from ..errors import TimeoutError as NatsTimeoutError
from ..headers import Headers
from ..msg import Msg
from ..subscription import Subscription
from . import api
from .errors import BadPullRequestError, ConsumerDeletedError, HeartbeatMissedError
from .events import (
    DEFAULT_MAX_PENDING,
    EventHub,
    EventStream,
    ExceededLimits,
    HeartbeatsMissed,
    Listener,
    status_event,
)
from .priority import PIN_MISMATCH, PinState, PriorityRequest, pin_of, priority_request
from .pull import (
    BYTES_ONLY_BATCH,
    PullSubscription,
    check_count,
    fetch_batch,
    next_subject,
    pull_request,
    wire_size,
)
from .targets import FixedTarget, OrderedTarget, PullTarget

if TYPE_CHECKING:
    from ..client import Client
    from .manager import JetStreamManager

log = logging.getLogger("natsync.js")

DEFAULT_MAX_MESSAGES = 500
DEFAULT_EXPIRES = 30.0
#: Pause before re-pulling when JetStream did not answer (e.g. still recovering after a restart).
RETRY_WAIT = 0.25


def _threshold(name: str, value: Optional[int], limit: Optional[int]) -> int:
    """A refill point (ADR-37): half its limit unless given, and never above it."""
    if limit is None:
        return 0
    if value is None:
        return limit // 2
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise BadArgumentError(f"{name} must be an int from 0 to {limit}, got {value!r}")
    return value


def consume_limits(max_messages: Optional[int], max_bytes: Optional[int],
                   threshold_messages: Optional[int], threshold_bytes: Optional[int]
                   ) -> tuple[int, Optional[int]]:
    """The buffer of `messages()`/`consume()` (ADR-37): (messages, bytes).

    Messages or bytes bound it, not both: 500 messages unless told otherwise; with
    `max_bytes`, a count so large that only the bytes count. A threshold needs its limit.
    """
    check_count("max_messages", max_messages)
    check_count("max_bytes", max_bytes)
    if max_messages is not None and max_bytes is not None:
        raise BadArgumentError("give max_messages or max_bytes, not both: one of them bounds "
                               "the buffer (ADR-37)")
    if threshold_bytes is not None and max_bytes is None:
        raise BadArgumentError("threshold_bytes needs max_bytes")
    if threshold_messages is not None and max_bytes is not None:
        raise BadArgumentError("threshold_messages needs max_messages, not max_bytes")
    if max_bytes is not None:
        return BYTES_ONLY_BATCH, max_bytes
    return max_messages or DEFAULT_MAX_MESSAGES, None


def _header_int(h: Headers, name: str, default: int) -> int:
    """An integer status header (Nats-Pending-Messages, -Bytes), or `default`."""
    value = h.get(name)
    return int(value) if value is not None and value.isdigit() else default


class MessageStream:
    """An endless iterator of a consumer's messages, with pulls kept topped up.

    Use it as `for msg in consumer.messages():` and call `stop()` (or leave a `with`
    block) to end it; iteration then stops after what was already delivered.
    """

    def __init__(self, nc: Client, target: PullTarget, max_messages: int, expires: float,
                 heartbeat: Optional[float], max_bytes: Optional[int] = None,
                 priority: Optional[PriorityRequest] = None,
                 threshold_messages: Optional[int] = None, threshold_bytes: Optional[int] = None,
                 events: Optional[EventHub] = None, stream: str = "",
                 status_cb: Optional[Listener] = None) -> None:
        if max_messages < 1:
            raise BadArgumentError(f"max_messages must be at least 1, got {max_messages!r}")
        if expires < 1:
            raise BadArgumentError(f"expires must be at least 1 second, got {expires!r}")
        self._target = target
        self._nc = nc
        self._stream = stream
        self._events = events if events is not None else EventHub()
        self._max = max_messages
        self._max_bytes = max_bytes
        self._low = _threshold("threshold_messages", threshold_messages, max_messages)
        self._low_bytes = _threshold("threshold_bytes", threshold_bytes, max_bytes)
        self._expires = expires
        self._heartbeat = heartbeat if heartbeat is not None else min(expires / 2, 30.0)
        self._inbox = self._nc.new_inbox()
        self._sub: Subscription = self._nc.subscribe(self._inbox + ".*")
        self._pull_consumer = target.name  # the consumer the latest pulls were sent to
        self._first_pull = 1  # first pull id for it: status replies to earlier ones are stale
        self._next_pull = 1  # id of the next pull: the last token of its reply subject
        self._due = 0  # messages requested and not yet delivered or expired
        self._due_bytes = 0  # likewise in bytes, when max_bytes bounds the pulls
        self._reconnects = self._nc.stats["reconnects"]
        self._last_activity = time.monotonic()
        self._stopped = False
        self._lock = threading.Lock()
        self._priority = priority
        self._pin = PinState(self._events, stream)  # of a pinned_client consumer
        self._status_cb = status_cb
        if status_cb is not None:  # hears the consumer's events until stop()
            self._events.add(status_cb)

    def __iter__(self) -> Iterator[Msg]:
        return self

    def __next__(self) -> Msg:
        msg = self.next(timeout=None)
        if msg is None:
            raise StopIteration
        return msg

    def next(self, timeout: Optional[float] = None) -> Optional[Msg]:
        """The next message; None once stopped; TimeoutError if `timeout` passes first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                if self._stopped and not self._sub.pending_msgs:
                    return None
                ready = True
                if not self._stopped:
                    ready = self._top_up()
                # While an ordered consumer waits to be re-created, retry soon.
                wait = self._heartbeat * 2 if ready else RETRY_WAIT
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise NatsTimeoutError("nats: no message from the consumer in time")
                    wait = min(wait, remaining)
                try:
                    msg = self._sub.next_msg(wait)
                except NatsTimeoutError:
                    if ready and time.monotonic() - self._last_activity >= self._heartbeat * 2:
                        self._heartbeat_missed()
                    continue
                except (ConnectionClosedError, BadSubscriptionError):
                    if self._stopped:  # stop() from another thread ends the iteration
                        return None
                    raise
                self._last_activity = time.monotonic()
                if msg.status is None:
                    self._due = max(0, self._due - 1)
                    if self._max_bytes is not None:
                        self._due_bytes = max(0, self._due_bytes - wire_size(msg))
                    pin = pin_of(msg)
                    if pin is not None and pin != self._pin.id:
                        self._pin.gained(pin, self._target.name, self._priority)
                    checked = self._target.check_order(msg)
                    if checked is None:  # an ordered consumer was reset: skip the stray
                        continue
                    return checked
                if not self._stale(msg):
                    self._on_status(msg)

    def _top_up(self) -> bool:
        """Re-pull after reconnects; ask for more when fewer than half are still due.

        False while the consumer could not be (re-)created yet: nothing was pulled.
        """
        reconnects = self._nc.stats["reconnects"]
        if reconnects != self._reconnects:
            self._reconnects = reconnects
            self._due = self._due_bytes = 0
            self._target.after_reconnect("reconnect")
        if not self._target.ready():
            self._due = self._due_bytes = 0
            return False
        if self._target.name != self._pull_consumer:  # re-created: pull afresh
            self._pull_consumer = self._target.name
            self._first_pull = self._next_pull
            self._due = self._due_bytes = 0
        # ADR-37: pull again once what is still due falls to the threshold of the limit in
        # use (messages, or bytes with a count too large to matter), for what fills it.
        if self._max_bytes is None:
            room = None
            batch = self._max - self._due
            if self._due > self._low or batch < 1:
                return True
        else:
            room = self._max_bytes - self._due_bytes
            batch = self._max
            if self._due_bytes > self._low_bytes or room < 1:
                return True
        req = pull_request(batch, self._expires, heartbeat=self._heartbeat,
                           max_bytes=room, priority=self._priority, pin_id=self._pin.id)
        reply = f"{self._inbox}.{self._next_pull}"
        self._next_pull += 1
        self._nc.publish(self._target.next_subject, json.dumps(req).encode(), reply=reply)
        self._due += batch
        self._due_bytes += room or 0
        return True

    def _stale(self, msg: Msg) -> bool:
        """A status for a pull sent to a consumer since replaced (its 409 must not reset again)."""
        tail = msg.subject.rpartition(".")[2]
        return tail.isdigit() and int(tail) < self._first_pull

    def _on_status(self, msg: Msg) -> None:
        """Act on a status of a current pull (ADR-37) and report what it means as an event."""
        status = msg.status
        h = msg.headers
        if status == 100:
            self._target.check_heartbeat(msg)
            return
        event = status_event(msg, self._stream, self._target.name)
        if event is not None:
            self._events.emit(event)
        if status == PIN_MISMATCH:  # the pin moved on: the next pull goes without one
            self._pin.lost(self._target.name, self._priority)
        # These end one pull; the Nats-Pending-* headers say how much of it went undelivered.
        if status in (408, 409, PIN_MISMATCH) and h is not None:
            desc = h.description.lower()
            if "consumer deleted" in desc:
                if self._target.recreate_on_loss("deleted"):
                    self._due = self._due_bytes = 0
                    return
                raise ConsumerDeletedError(description=h.description)
            self._due = max(0, self._due - _header_int(h, "Nats-Pending-Messages", self._due))
            left = _header_int(h, "Nats-Pending-Bytes", self._due_bytes)
            self._due_bytes = max(0, self._due_bytes - left)
            if "exceeds maxbytes" in desc and left == self._max_bytes:  # a full pull got nothing
                event = ExceededLimits(self._stream, self._target.name, description=(
                    f"the next message is larger than max_bytes ({self._max_bytes})"))
                self._events.emit(event)
            if isinstance(event, ExceededLimits):
                time.sleep(RETRY_WAIT)  # the same pull would be refused again at once
            return
        if status == 404:
            self._due = self._due_bytes = 0
            return
        if status == 400:  # a bad pull stays bad: end the iteration with the reason
            raise BadPullRequestError(description=h.description if h is not None else "")
        if status == 503:  # no responders: JetStream is not (yet) there, or the consumer is gone
            self._due = self._due_bytes = 0
            gone = h is not None and h.get("Nats-Subject") == self._target.next_subject
            if not (gone and self._target.recreate_on_loss("deleted")):  # e.g. inactive_threshold
                time.sleep(RETRY_WAIT)
            return
        log.warning("natsync: unexpected status %s from consumer %r", status,
                    self._target.name)

    def _heartbeat_missed(self) -> None:
        """No message and no heartbeat for two heartbeat intervals: pull again."""
        count = int((time.monotonic() - self._last_activity) / self._heartbeat)
        self._due = self._due_bytes = 0
        self._events.emit(HeartbeatsMissed(self._stream, self._target.name, count=count))
        self._nc.report_error(HeartbeatMissedError(
            f"nats: no heartbeat from consumer {self._target.name!r}; re-pulling"))
        self._target.after_reconnect("heartbeat")

    def stop(self) -> None:
        """End the iteration (messages already delivered are still returned)."""
        self._stopped = True
        if self._status_cb is not None:
            self._events.remove(self._status_cb)
        if self._sub.is_valid and not self._nc.is_closed:
            try:
                self._sub.unsubscribe()
            except Exception:  # already ended with the connection
                pass

    def __enter__(self) -> MessageStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ConsumeContext:
    """`consumer.consume(cb)`: the callback runs for each message on a dedicated thread."""

    def __init__(self, nc: Client, stream: MessageStream, cb: Callable[[Msg], Any],
                 error_cb: Optional[Callable[[BaseException], Any]]) -> None:
        self._nc = nc
        self._stream = stream
        self._cb = cb
        self._error_cb = error_cb
        self._thread = threading.Thread(target=self._run, name="natsync-js-consume", daemon=True)
        self._thread.start()
        nc.add_close_hook(self.stop)  # close() joins this thread too

    def _run(self) -> None:
        while True:
            try:
                msg = self._stream.next(timeout=None)
            except Exception as exc:
                self._report(exc)
                if isinstance(exc, (ConnectionClosedError, ConsumerDeletedError,
                                    BadPullRequestError)):
                    return
                continue
            if msg is None:
                return
            try:
                self._cb(msg)
            except Exception as exc:
                self._report(exc)

    def _report(self, exc: BaseException) -> None:
        if self._error_cb is not None:
            self._error_cb(exc)
        else:
            self._nc.report_error(exc if isinstance(exc, Exception) else Exception(exc))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop pulling and wait for the callback thread to finish its current message."""
        self._stream.stop()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._nc.remove_close_hook(self.stop)

    @property
    def stopped(self) -> bool:
        return not self._thread.is_alive()

    def __enter__(self) -> ConsumeContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Consumer:
    """A pull consumer of a stream, by name (see `Stream.consumer`)."""

    def __init__(self, jsm: JetStreamManager, stream: str, name: str,
                 config: Optional[api.ConsumerConfig] = None,
                 events: Optional[EventHub] = None) -> None:
        self._jsm = jsm
        self.stream = stream
        self._known_config = config  # as last seen: lets priority arguments be checked up front
        self._events = events if events is not None else EventHub()
        self._target: PullTarget = FixedTarget(name, next_subject(jsm.prefix, stream, name))
        self._pull: Optional[PullSubscription] = None
        self._pull_sub: Optional[Subscription] = None  # the inbox subscription of _pull
        self._pull_lock = threading.Lock()

    @property
    def name(self) -> str:
        """The server-side consumer's name (an ordered consumer's changes as it is re-created)."""
        return self._target.name

    def info(self) -> api.ConsumerInfo:
        """The consumer's configuration and state from the server."""
        return self._jsm.consumer_info(self.stream, self.name)

    def _puller(self) -> PullSubscription:
        """The pull subscription fetches go through (anew once its inbox subscription ended),
        pointed at the current server-side consumer."""
        with self._pull_lock:
            if self._pull is None or self._pull_sub is None or not self._pull_sub.is_valid:
                nc = self._jsm.nc
                inbox = nc.new_inbox()
                self._pull_sub = nc.subscribe(inbox + ".*")
                self._pull = PullSubscription(self._jsm, self.stream, self.name, self._pull_sub,
                                              inbox, ephemeral=False, config=self._known_config,
                                              events=self._events)
            self._pull.consumer = self.name
            return self._pull

    def status(self, max_pending: int = DEFAULT_MAX_PENDING) -> EventStream:
        """A blocking iterator of this handle's events from now on (`natsync.js.events`):
        409s, missed heartbeats, re-creations of an ordered consumer, a pin gained or lost,
        from its fetches, `messages()` and `consume()` alike. Close it when done."""
        return self._events.stream(max_pending)

    def fetch(self, max_messages: Optional[int] = None, max_wait: float = 5.0,
              heartbeat: Optional[float] = None, group: Optional[str] = None,
              min_pending: Optional[int] = None, min_ack_pending: Optional[int] = None,
              priority: Optional[int] = None, max_bytes: Optional[int] = None,
              no_wait: bool = False) -> list[Msg]:
        """Up to `max_messages` (default 1), waiting at most `max_wait` seconds; [] when none came.

        `max_bytes` bounds the batch by size too (alone, it is the only bound); `no_wait`
        returns what the consumer has now instead of waiting for the batch to fill.
        `group` and the policy's thresholds pull for a priority group (ADR-42).
        """
        count = fetch_batch(max_messages, max_bytes, "max_messages")
        priority_request(group, min_pending, min_ack_pending, priority, self._known_config)
        deadline = time.monotonic() + max_wait
        while not self._target.ready():  # an ordered consumer being re-created after an outage
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            time.sleep(min(RETRY_WAIT, remaining))
        msgs = self._puller().fetch(count, max(0.0, deadline - time.monotonic()), heartbeat,
                                    group, min_pending, min_ack_pending, priority, max_bytes,
                                    no_wait)
        return [m for m in (self._target.check_order(m) for m in msgs) if m is not None]

    def next(self, timeout: float = 5.0, group: Optional[str] = None,
             min_pending: Optional[int] = None, min_ack_pending: Optional[int] = None,
             priority: Optional[int] = None) -> Msg:
        """The next message; TimeoutError when none arrives within `timeout`."""
        msgs = self.fetch(1, timeout, None, group, min_pending, min_ack_pending, priority)
        if not msgs:
            raise NatsTimeoutError(f"nats: no message from consumer {self.name!r} within {timeout}s")
        return msgs[0]

    def messages(self, max_messages: Optional[int] = None, expires: float = DEFAULT_EXPIRES,
                 heartbeat: Optional[float] = None, max_bytes: Optional[int] = None,
                 group: Optional[str] = None, min_pending: Optional[int] = None,
                 min_ack_pending: Optional[int] = None, priority: Optional[int] = None,
                 threshold_messages: Optional[int] = None,
                 threshold_bytes: Optional[int] = None,
                 status_cb: Optional[Listener] = None) -> MessageStream:
        """A blocking iterator over the consumer's messages that keeps pulls topped up.

        Its buffer holds `max_messages` (default 500) or `max_bytes`, not both, and is
        refilled when what is still due falls to `threshold_messages` / `threshold_bytes`
        (half by default, ADR-37). `status_cb(event)` hears this handle's events on the
        iterating thread until `stop()`.
        """
        limit, limit_bytes = consume_limits(max_messages, max_bytes, threshold_messages,
                                            threshold_bytes)
        prio = priority_request(group, min_pending, min_ack_pending, priority, self._known_config)
        return MessageStream(self._jsm.nc, self._target, limit, expires, heartbeat, limit_bytes,
                             prio, threshold_messages, threshold_bytes, self._events,
                             self.stream, status_cb)

    def consume(self, cb: Callable[[Msg], Any], max_messages: Optional[int] = None,
                expires: float = DEFAULT_EXPIRES, heartbeat: Optional[float] = None,
                error_cb: Optional[Callable[[BaseException], Any]] = None,
                group: Optional[str] = None, min_pending: Optional[int] = None,
                min_ack_pending: Optional[int] = None, priority: Optional[int] = None,
                max_bytes: Optional[int] = None, threshold_messages: Optional[int] = None,
                threshold_bytes: Optional[int] = None, status_cb: Optional[Listener] = None
                ) -> ConsumeContext:
        """Run `cb(msg)` for every message on a dedicated thread until `.stop()`; the
        buffer, thresholds and `status_cb` are those of `messages()`."""
        return ConsumeContext(self._jsm.nc,
                              self.messages(max_messages, expires, heartbeat, max_bytes, group,
                                            min_pending, min_ack_pending, priority,
                                            threshold_messages, threshold_bytes, status_cb),
                              cb, error_cb)

    def __repr__(self) -> str:
        return f"<Consumer stream={self.stream!r} name={self.name!r}>"


class OrderedConsumer(Consumer):
    """Every message of the stream (or filter) once, in order, re-created on any gap (ADR-17)."""

    def __init__(self, jsm: JetStreamManager, stream: str,
                 filter_subjects: Optional[list[str]] = None,
                 deliver_policy: Optional[api.DeliverPolicy] = None,
                 opt_start_seq: Optional[int] = None, headers_only: Optional[bool] = None,
                 inactive_threshold: float = 300.0) -> None:
        events = EventHub()
        ordered = OrderedTarget(jsm, stream, filter_subjects, deliver_policy, opt_start_seq,
                                headers_only, inactive_threshold, events=events)
        super().__init__(jsm, stream, ordered.name, events=events)
        self._target = self._ordered = ordered

    def delete(self) -> None:
        """Delete the current server-side consumer (it would expire on its own)."""
        self._ordered.delete()


class Stream:
    """A stream handle (ADR-37): info, and its consumers by name or newly created."""

    def __init__(self, jsm: JetStreamManager, name: str) -> None:
        self._jsm = jsm
        self.name = name

    def info(self, subjects_filter: Optional[str] = None) -> api.StreamInfo:
        return self._jsm.stream_info(self.name, subjects_filter)

    def consumer(self, name: str) -> Consumer:
        """A handle on an existing consumer (NotFoundError if there is none)."""
        info = self._jsm.consumer_info(self.name, name)
        return Consumer(self._jsm, self.name, name, info.config)

    def create_consumer(self, config: Optional[api.ConsumerConfig] = None, **params: Any) -> Consumer:
        """Create (or get, if identical) a pull consumer and return its handle (ack policy
        explicit unless `ack_policy` says otherwise)."""
        info = self._jsm.add_consumer(self.name, config, **params)
        return Consumer(self._jsm, self.name, info.name or "", info.config)

    def ordered_consumer(self, filter_subjects: Optional[list[str]] = None,
                         deliver_policy: Optional[api.DeliverPolicy] = None,
                         opt_start_seq: Optional[int] = None,
                         headers_only: Optional[bool] = None) -> OrderedConsumer:
        """An ordered consumer (ADR-17) of this stream."""
        return OrderedConsumer(self._jsm, self.name, filter_subjects, deliver_policy,
                               opt_start_seq, headers_only)

    def delete_consumer(self, name: str) -> bool:
        return self._jsm.delete_consumer(self.name, name)

    def purge(self, subject: Optional[str] = None, seq: Optional[int] = None,
              keep: Optional[int] = None) -> bool:
        return self._jsm.purge_stream(self.name, seq=seq, subject=subject, keep=keep)

    def get_msg(self, seq: int) -> api.RawStreamMsg:
        return self._jsm.get_msg(self.name, seq)

    def __repr__(self) -> str:
        return f"<Stream {self.name!r}>"
