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
from .priority import PIN_MISMATCH, PriorityRequest, pin_of, priority_request

if TYPE_CHECKING:
    from .manager import JetStreamManager

#: How much earlier than the client's own deadline the server is asked to expire a pull.
EXPIRY_MARGIN = 0.1


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
    """A bound pull consumer; `fetch()` from any thread (fetches are serialised)."""

    def __init__(self, jsm: JetStreamManager, stream: str, consumer: str, sub: Subscription,
                 inbox: str, ephemeral: bool, config: Optional[api.ConsumerConfig] = None) -> None:
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
        self._pin: Optional[str] = None  # the Nats-Pin-Id of a pinned_client consumer

    def fetch(self, batch: int = 1, timeout: Optional[float] = 5.0,
              heartbeat: Optional[float] = None, group: Optional[str] = None,
              min_pending: Optional[int] = None, min_ack_pending: Optional[int] = None,
              priority: Optional[int] = None) -> list[Msg]:
        """Up to `batch` messages, waiting at most `timeout` seconds.

        Returns what arrived in time — an empty list when nothing did. With `heartbeat`
        the server sends idle heartbeats and HeartbeatMissedError is raised if they stop.
        `group` (and the policy's `min_pending`, `min_ack_pending`, `priority`) pulls
        for a priority group (ADR-42); a pinned_client pin is kept and sent back.
        """
        if batch < 1:
            raise BadArgumentError(f"batch must be at least 1, got {batch!r}")
        prio = priority_request(group, min_pending, min_ack_pending, priority, self._config)
        timeout = 5.0 if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._lock:
            msgs = self._leftovers(batch)
            if len(msgs) >= batch:
                return msgs
            if heartbeat is not None and heartbeat * 2 >= timeout:
                heartbeat = None  # the expiry would come first anyway
            reply = self._pull(batch - len(msgs), timeout, bool(msgs), heartbeat, prio)
            while len(msgs) < batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = remaining if heartbeat is None else min(remaining, heartbeat * 2)
                try:
                    msg = self._sub.next_msg(wait)
                except NatsTimeoutError:
                    if heartbeat is not None and wait < remaining:
                        raise HeartbeatMissedError(
                            f"nats: no heartbeat from consumer {self.consumer!r} "
                            f"for {heartbeat * 2:.3f}s") from None
                    break
                if msg.status is None:
                    self._pin = pin_of(msg) or self._pin
                    msgs.append(msg)
                elif msg.status == PIN_MISMATCH and msg.subject == reply:
                    self._pin = None  # another puller holds the pin now: ask without one
                    reply = self._pull(batch - len(msgs), remaining, bool(msgs), heartbeat, prio)
                elif is_terminal_status(msg, reply):
                    break
            return msgs

    def _pull(self, batch: int, timeout: float, no_wait: bool, heartbeat: Optional[float],
              prio: Optional[PriorityRequest]) -> str:
        """Send one pull request expiring before `timeout`; its reply subject."""
        reply = f"{self._inbox}.{next(self._ids)}"
        req = pull_request(batch, server_expiry(timeout), no_wait=no_wait, heartbeat=heartbeat,
                           priority=prio, pin_id=self._pin if prio is not None else None)
        # Made per pull: an ordered consumer's puller follows it as it is re-created.
        subject = next_subject(self._prefix, self.stream, self.consumer)
        self._nc.publish(subject, json.dumps(req).encode(), reply=reply)
        return reply

    def _leftovers(self, batch: int) -> list[Msg]:
        """Messages that arrived for earlier fetches after they returned."""
        msgs: list[Msg] = []
        while len(msgs) < batch and self._sub.pending_msgs:
            msg = self._sub.next_msg(0)
            if msg.status is None:
                self._pin = pin_of(msg) or self._pin
                msgs.append(msg)
        return msgs

    def consumer_info(self) -> api.ConsumerInfo:
        """The bound consumer's current state."""
        return self._jsm.consumer_info(self.stream, self.consumer)

    @property
    def pending_msgs(self) -> int:
        """Messages delivered by the server and not yet returned by fetch."""
        return self._sub.pending_msgs

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
