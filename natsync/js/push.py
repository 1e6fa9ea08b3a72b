"""Push consumers: the server delivers to an inbox; status messages are handled inside.

Idle heartbeats and flow-control requests (status 100) never reach the user: flow control
is answered at once. A consumer with ack policy `flow_control` (ADR-60) is acknowledged by
those answers: each carries the sequences of the last message handed out (as
Nats-Last-Consumer / Nats-Last-Stream), which acks it and everything before. In callback
mode each message is acknowledged after the callback returns unless `manual_ack` is set.
An ordered push subscription (ADR-17) re-creates its ephemeral consumer from the next
expected stream sequence on a gap, on missed heartbeats and after a reconnect; `status()`
reports each re-creation.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Optional

from ..errors import BadSubscriptionError, ConnectionClosedError, Error
from ..errors import TimeoutError as NatsTimeoutError
from ..msg import Msg
from ..subscription import Subscription
from . import api
from .events import (
    DEFAULT_MAX_PENDING,
    EventHub,
    EventStream,
    HeartbeatsMissed,
    OrderedConsumerRecreated,
)
from .metadata import SequencePair
from .targets import Delivered

if TYPE_CHECKING:
    from .manager import JetStreamManager

Callback = Callable[[Msg], Any]


def answer_control(nc: Any, msg: Msg, acked: Optional[dict[str, str]] = None) -> None:
    """Reply to a flow-control request or a stalled-consumer heartbeat (status 100); `acked`
    (the Nats-Last-* headers) acknowledges a flow_control consumer's messages up to there."""
    h = msg.headers
    if h is None:
        return
    if msg.reply and "flowcontrol" in h.description.lower().replace(" ", ""):
        nc.publish(msg.reply, b"", headers=acked)
    stalled = h.get("Nats-Consumer-Stalled")
    if stalled:
        nc.publish(stalled, b"", headers=acked)


class PushSubscription:
    """A push consumer's subscription: `next_msg`, iteration, or a callback."""

    def __init__(self, jsm: JetStreamManager, stream: str, consumer: str, deliver_subject: str,
                 queue: str, cb: Optional[Callback], manual_ack: bool, ephemeral: bool,
                 ack_policy: Optional[api.AckPolicy],
                 ordered_config: Optional[api.ConsumerConfig] = None,
                 heartbeat: Optional[float] = None) -> None:
        self._jsm = jsm
        self._nc = jsm.nc
        self.stream = stream
        self.consumer = consumer
        self.queue = queue
        self._cb = cb
        # Ack none, and flow_control (acked by the flow-control answers), take no acks.
        self._manual_ack = manual_ack or ack_policy in (api.AckPolicy.NONE,
                                                        api.AckPolicy.FLOW_CONTROL)
        self._flow_acks = ack_policy == api.AckPolicy.FLOW_CONTROL
        self._handed: Optional[SequencePair] = None  # flow_control: the last message handed out
        self._ephemeral = ephemeral
        self._ordered = ordered_config
        self._heartbeat = heartbeat
        self._lock = threading.RLock()
        self._delivered = Delivered()  # how far an ordered one got
        self._last_activity = time.monotonic()
        self._reconnects = self._nc.stats["reconnects"]
        self._closed = False
        self._events = EventHub()
        self._sub = self._subscribe(deliver_subject)
        self._monitor: Optional[threading.Thread] = None
        self._stop_event = threading.Event()
        if ordered_config is not None and cb is not None and heartbeat:
            self._monitor = threading.Thread(target=self._watch, name="natsync-js-ordered",
                                             daemon=True)
            self._monitor.start()
            self._nc.add_close_hook(self._stop_monitor)  # close() joins it too

    def _subscribe(self, deliver_subject: str) -> Subscription:
        cb = self._on_msg if self._cb is not None else None
        return self._nc.subscribe(deliver_subject, queue=self.queue, cb=cb)

    # --- delivery -------------------------------------------------------------------------

    def _accept(self, msg: Msg) -> Optional[Msg]:
        """The message to hand to the user, or None for status messages and skipped strays."""
        self._last_activity = time.monotonic()
        if msg.status is not None:
            answer_control(self._nc, msg, self._acked())
            if self._ordered is not None and self._delivered.missed(msg.headers):
                self._reset("gap")
            return None
        if self._ordered is not None and not self._delivered.in_order(msg.metadata):
            self._reset("gap")
            return None
        if self._flow_acks:
            self._handed = msg.metadata.sequence
        return msg

    def _acked(self) -> Optional[dict[str, str]]:
        """flow_control: the headers that ack every message up to the last handed out."""
        seq = self._handed
        if seq is None:
            return None
        return {"Nats-Last-Consumer": str(seq.consumer), "Nats-Last-Stream": str(seq.stream)}

    def _on_msg(self, msg: Msg) -> None:
        """Callback mode: filter, run the user's callback, then ack unless manual."""
        with self._lock:
            if self._closed:
                return
            self._check_reconnect()
            accepted = self._accept(msg)
        if accepted is None:
            return
        assert self._cb is not None
        self._cb(accepted)
        if not self._manual_ack and not accepted.is_acked:
            accepted.ack()

    def next_msg(self, timeout: Optional[float] = 1.0) -> Msg:
        """The next message (status messages are consumed silently); TimeoutError if none."""
        if self._cb is not None:
            raise Error("nats: next_msg() cannot be used on a subscription with a callback")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                self._check_reconnect()
                sub = self._sub
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                raise NatsTimeoutError(f"nats: timeout waiting for a message on {self.consumer!r}")
            if self._ordered is not None and self._heartbeat:
                slice_ = self._heartbeat * 3
                wait = slice_ if wait is None else min(wait, slice_)
            try:
                msg = sub.next_msg(wait)
            except NatsTimeoutError:
                with self._lock:
                    self._check_heartbeats()
                continue
            except BadSubscriptionError:
                with self._lock:
                    if sub is not self._sub:  # replaced by a reset while we waited
                        continue
                raise
            with self._lock:
                if sub is not self._sub:
                    continue
                accepted = self._accept(msg)
            if accepted is not None:
                return accepted

    def __iter__(self) -> PushSubscription:
        return self

    def __next__(self) -> Msg:
        try:
            return self.next_msg(timeout=None)
        except (BadSubscriptionError, ConnectionClosedError):
            raise StopIteration from None

    # --- ordered resets -------------------------------------------------------------------

    def _check_reconnect(self) -> None:
        reconnects = self._nc.stats["reconnects"]
        if reconnects != self._reconnects:
            self._reconnects = reconnects
            if self._ordered is not None:
                self._reset("reconnect")

    def _check_heartbeats(self) -> None:
        """An ordered consumer silent for three heartbeats is re-created (holds the lock)."""
        if self._ordered is None or not self._heartbeat:
            return
        silent = time.monotonic() - self._last_activity
        if silent > self._heartbeat * 3:
            self._events.emit(HeartbeatsMissed(self.stream, self.consumer,
                                               count=int(silent / self._heartbeat)))
            self._reset("heartbeat")

    def _watch(self) -> None:
        """Callback mode: a monitor that resets the ordered consumer when heartbeats stop."""
        assert self._heartbeat
        while not self._stop_event.wait(self._heartbeat):
            if self._closed or self._nc.is_closed:
                return
            with self._lock:
                if self._closed:
                    return
                self._check_reconnect()
                self._check_heartbeats()

    def _reset(self, reason: str) -> None:
        """Re-create the ordered consumer from the next stream sequence (holds the lock)."""
        assert self._ordered is not None
        old_sub, old_consumer = self._sub, self.consumer
        deliver = self._nc.new_inbox()
        cfg = self._ordered.evolve(deliver_subject=deliver)
        if self._delivered.stream_seq:
            cfg = cfg.evolve(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                             opt_start_seq=self._delivered.stream_seq + 1)
        self._delivered.consumer_seq = 0
        self._last_activity = time.monotonic()
        self._sub = self._subscribe(deliver)
        try:
            old_sub.unsubscribe()
        except Error:
            pass
        try:
            self._jsm.delete_consumer(self.stream, old_consumer)
        except Exception:  # gone with a restarted server, or expired
            pass
        try:
            info = self._jsm.add_consumer(self.stream, cfg)
        except Exception as exc:  # JetStream not back yet: the next check retries
            self._nc.report_error(exc)
            return
        self.consumer = info.name or ""
        self._events.emit(OrderedConsumerRecreated(self.stream, self.consumer,
                                                   previous=old_consumer, reason=reason,
                                                   start_seq=cfg.opt_start_seq or 0))

    # --- management -----------------------------------------------------------------------

    @property
    def pending_msgs(self) -> int:
        return self._sub.pending_msgs

    @property
    def delivered(self) -> int:
        return self._sub.delivered

    def consumer_info(self) -> api.ConsumerInfo:
        return self._jsm.consumer_info(self.stream, self.consumer)

    def status(self, max_pending: int = DEFAULT_MAX_PENDING) -> EventStream:
        """A blocking iterator of this subscription's events from now on
        (`natsync.js.events`): an ordered consumer's re-creations and missed heartbeats."""
        return self._events.stream(max_pending)

    def _stop_monitor(self) -> None:
        """End the ordered-consumer monitor thread, if any, and wait for it."""
        self._stop_event.set()
        monitor = self._monitor
        if monitor is not None and monitor is not threading.current_thread():
            monitor.join(5)
        self._nc.remove_close_hook(self._stop_monitor)

    def unsubscribe(self) -> None:
        """Stop the subscription; an ephemeral consumer is deleted too."""
        self._stop_monitor()
        with self._lock:
            self._closed = True
            sub = self._sub
        if sub.is_valid:
            sub.unsubscribe()
        if self._ephemeral and not self._nc.is_closed:
            try:
                self._jsm.delete_consumer(self.stream, self.consumer)
            except Exception:
                pass

    def drain(self, timeout: Optional[float] = None) -> None:
        """Let queued messages be processed, then stop."""
        with self._lock:
            self._closed = self._cb is None  # callbacks still run for queued messages
            sub = self._sub
        sub.drain(timeout)
        self._closed = True

    def __enter__(self) -> PushSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unsubscribe()

    def __repr__(self) -> str:
        return f"<PushSubscription stream={self.stream!r} consumer={self.consumer!r}>"
