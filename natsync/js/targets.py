"""What a pull consumer pulls from: a fixed server-side consumer, or an ordered one.

`Consumer.fetch` and `MessageStream` send their pulls to a target's `next_subject` and
pass its deliveries through the target's checks. A plain consumer's target never
changes. An ordered consumer (ADR-17) is an ephemeral, unacknowledged consumer that is
re-created from the next expected stream sequence whenever a delivery is missing, so the
caller sees every message once and in order.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable, List, Optional, Protocol

from ..errors import ConnectionClosedError
from ..headers import Headers
from ..msg import Msg
from ..nuid import next_nuid
from . import api
from .errors import NotFoundError
from .events import EventHub, OrderedConsumerRecreated
from .metadata import Metadata
from .pull import next_subject

if TYPE_CHECKING:
    from .manager import JetStreamManager

log = logging.getLogger("natsync.js")

#: Turns the config of an ordered consumer about to be (re-)created, and the stream
#: sequence last handed out, into the config to create it with.
Resume = Callable[[api.ConsumerConfig, int], api.ConsumerConfig]


class Delivered:
    """How far an ordered consumer (pull or push) got: what it last handed out."""

    def __init__(self) -> None:
        self.consumer_seq = 0  # on the current server-side consumer; 0 again once re-created
        self.stream_seq = 0

    def in_order(self, meta: Metadata) -> bool:
        """Take the message of `meta` if it is the next delivery (True); False if one went
        missing."""
        seq = meta.sequence
        if seq.consumer != self.consumer_seq + 1:
            return False
        self.consumer_seq = seq.consumer
        self.stream_seq = seq.stream
        return True

    def missed(self, heartbeat: Optional[Headers]) -> bool:
        """Whether an idle heartbeat's headers say a delivery never arrived."""
        last = heartbeat.get("Nats-Last-Consumer") if heartbeat is not None else None
        return last is not None and last.isdigit() and int(last) > self.consumer_seq


class PullTarget(Protocol):
    """The server-side consumer pulls go to, and the checks its deliveries pass."""

    name: str
    next_subject: str

    def check_order(self, msg: Msg) -> Optional[Msg]:
        """The message to hand out, or None to drop it (the consumer was re-created)."""

    def check_heartbeat(self, msg: Msg) -> None:
        """Look at an idle heartbeat (it says what the server last delivered)."""

    def after_reconnect(self, reason: str = "reconnect") -> None:
        """The connection was lost and is back (or, `reason` "heartbeat", heartbeats stopped)."""

    def recreate_on_loss(self, reason: str = "deleted") -> bool:
        """The server-side consumer is gone: True if it was re-created."""

    def ready(self) -> bool:
        """False while the server-side consumer could not be (re-)created yet."""


class FixedTarget:
    """A plain consumer's target: one server-side consumer, never re-created."""

    def __init__(self, name: str, subject: str) -> None:
        self.name = name
        self.next_subject = subject

    def check_order(self, msg: Msg) -> Optional[Msg]:
        """Every message is handed out."""
        return msg

    def check_heartbeat(self, msg: Msg) -> None:
        """Nothing to check."""

    def after_reconnect(self, reason: str = "reconnect") -> None:
        """Nothing to redo: the consumer is still there."""

    def recreate_on_loss(self, reason: str = "deleted") -> bool:
        """A lost consumer stays lost."""
        return False

    def ready(self) -> bool:
        """Always ready."""
        return True


class OrderedTarget:
    """An ordered consumer's target (ADR-17): re-created from the next expected stream
    sequence on any gap, missed heartbeat, reconnect or loss of the server-side consumer.

    `resume`, if given, adjusts the config of each consumer it creates (the Key-Value
    watcher resumes its initial values as last-per-subject). Each re-creation is reported
    to `events` as an `OrderedConsumerRecreated`.
    """

    def __init__(self, jsm: JetStreamManager, stream: str,
                 filter_subjects: Optional[List[str]] = None,
                 deliver_policy: Optional[api.DeliverPolicy] = None,
                 opt_start_seq: Optional[int] = None, headers_only: Optional[bool] = None,
                 inactive_threshold: float = 300.0, resume: Optional[Resume] = None,
                 events: Optional[EventHub] = None) -> None:
        self._jsm = jsm
        self._stream = stream
        self._prefix = next_nuid()
        self._serial = 0
        self._filters = filter_subjects
        self._deliver_policy = deliver_policy
        self._opt_start_seq = opt_start_seq
        self._headers_only = headers_only
        self._inactive = inactive_threshold
        self._resume = resume
        self._recreate_pending = ""  # why the last re-create, which failed, was needed
        self._previous = ""  # the consumer it replaces
        self._events = events if events is not None else EventHub()
        self._delivered = Delivered()
        self.name = self._create().name or ""
        self.next_subject = next_subject(jsm.prefix, stream, self.name)

    def _config(self) -> api.ConsumerConfig:
        """The config of the next consumer: from the sequence after the last handed out."""
        cfg = api.ConsumerConfig(
            name=f"{self._prefix}_{self._serial}", ack_policy=api.AckPolicy.NONE,
            max_deliver=1, mem_storage=True, num_replicas=1,
            inactive_threshold=self._inactive, headers_only=self._headers_only)
        if self._filters:
            if len(self._filters) == 1:
                cfg = cfg.evolve(filter_subject=self._filters[0])
            else:
                cfg = cfg.evolve(filter_subjects=list(self._filters))
        if self._delivered.stream_seq:
            cfg = cfg.evolve(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                             opt_start_seq=self._delivered.stream_seq + 1)
        elif self._opt_start_seq:
            cfg = cfg.evolve(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                             opt_start_seq=self._opt_start_seq)
        elif self._deliver_policy is not None:
            cfg = cfg.evolve(deliver_policy=self._deliver_policy)
        if self._resume is not None:
            cfg = self._resume(cfg, self._delivered.stream_seq)
        return cfg

    def _create(self) -> api.ConsumerInfo:
        self._serial += 1
        self._delivered.consumer_seq = 0
        return self._jsm.add_consumer(self._stream, self._config())

    def _reset(self, reason: str) -> None:
        """Delete the current consumer and create the next one from where we are."""
        if not self._recreate_pending:
            self._previous = self.name
        try:
            self._jsm.delete_consumer(self._stream, self.name)
        except Exception:  # gone already (server restart, inactivity)
            pass
        try:
            info = self._create()
        except (NotFoundError, ConnectionClosedError):
            raise
        except Exception as exc:  # JetStream still recovering: the reader retries, in time
            log.debug("ordered consumer re-create failed (%s); will retry", exc)
            self._recreate_pending = self._recreate_pending or reason
            return
        reason, self._recreate_pending = self._recreate_pending or reason, ""
        self.name = info.name or ""
        self.next_subject = next_subject(self._jsm.prefix, self._stream, self.name)
        self._events.emit(OrderedConsumerRecreated(
            self._stream, self.name, previous=self._previous, reason=reason,
            start_seq=info.config.opt_start_seq or 0))

    def check_order(self, msg: Msg) -> Optional[Msg]:
        """The message if it is the next one; else None, and re-created if one is missing."""
        meta = msg.metadata
        if meta.consumer != self.name:  # still queued from a consumer already replaced: drop
            return None
        if not self._delivered.in_order(meta):
            self._reset("gap")
            return None
        return msg

    def check_heartbeat(self, msg: Msg) -> None:
        """Re-create if the heartbeat says a delivery never arrived."""
        if self._delivered.missed(msg.headers):
            self._reset("gap")

    def after_reconnect(self, reason: str = "reconnect") -> None:
        """Re-create: the server may have lost the consumer, or deliveries, meanwhile."""
        self._reset(reason)

    def recreate_on_loss(self, reason: str = "deleted") -> bool:
        """Re-create the lost consumer (True)."""
        self._reset(reason)
        return True

    def ready(self) -> bool:
        """True once the consumer exists; a failed re-create is retried here, once a call."""
        if self._recreate_pending:
            self._reset(self._recreate_pending)
        return not self._recreate_pending

    def delete(self) -> None:
        """Delete the current server-side consumer (it would expire on its own)."""
        try:
            self._jsm.delete_consumer(self._stream, self.name)
        except Exception:
            pass
