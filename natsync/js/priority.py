"""Pull consumer priority groups (ADR-42): the group fields of a pull request, checked.

A consumer with `priority_groups` serves only pull requests that name one of its groups.
Its `priority_policy` says how: `overflow` serves a request with `min_pending` /
`min_ack_pending` only once the consumer is that far behind, `prioritized` serves the
lowest `priority` (0-9) first, and `pinned_client` delivers to one puller at a time,
recognised by the `Nats-Pin-Id` it was handed and must send back as `id`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

from ..errors import BadArgumentError
from ..msg import Msg
from . import api
from .events import ConsumerPinned, ConsumerUnpinned, EventHub

#: The header a pinned_client consumer puts on each message it delivers to the pinned puller.
PIN_HEADER = "Nats-Pin-Id"
#: The status of a pull request whose pin id is no longer the consumer's pin.
PIN_MISMATCH = 423

_GROUP_NAME = re.compile(r"[A-Za-z0-9/_=-]{1,16}")


@dataclass(frozen=True)
class PriorityRequest:
    """The priority group a pull request is for, with the policy's own thresholds."""

    group: str
    min_pending: int = 0
    min_ack_pending: int = 0
    priority: int = 0

    def fields(self, pin_id: Optional[str]) -> dict[str, Any]:
        """The request's JSON fields for this group (and the pin id held, if any)."""
        out: dict[str, Any] = {"group": self.group}
        if self.min_pending:
            out["min_pending"] = self.min_pending
        if self.min_ack_pending:
            out["min_ack_pending"] = self.min_ack_pending
        if self.priority:
            out["priority"] = self.priority
        if pin_id:
            out["id"] = pin_id
        return out


def _count(name: str, value: Optional[int]) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadArgumentError(f"{name} must be a non-negative int, got {value!r}")
    return value


def priority_request(group: Optional[str], min_pending: Optional[int] = None,
                     min_ack_pending: Optional[int] = None, priority: Optional[int] = None,
                     config: Optional[api.ConsumerConfig] = None) -> Optional[PriorityRequest]:
    """Check the priority arguments of a pull; None when the pull names no group.

    With the consumer's `config` known, a group it does not have, or a threshold its
    policy does not use, is refused here instead of by the server.
    """
    pending = _count("min_pending", min_pending)
    ack_pending = _count("min_ack_pending", min_ack_pending)
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)
                                 or not 0 <= priority <= 9):
        raise BadArgumentError(f"priority must be an int from 0 to 9, got {priority!r}")
    if group is None:
        if pending or ack_pending or priority is not None:
            raise BadArgumentError("min_pending, min_ack_pending and priority need a group=")
        return None
    if not isinstance(group, str) or not _GROUP_NAME.fullmatch(group):
        raise BadArgumentError(f"invalid priority group {group!r}: 1 to 16 of A-Z a-z 0-9 / _ = -")
    if config is not None:
        _check_against(config, group, bool(pending or ack_pending), priority is not None)
    return PriorityRequest(group, pending, ack_pending, priority or 0)


def _check_against(config: api.ConsumerConfig, group: str, thresholds: bool,
                   prioritized: bool) -> None:
    groups = config.priority_groups or []
    if group not in groups:
        have = f"groups {groups!r}" if groups else "no priority groups"
        raise BadArgumentError(f"priority group {group!r} is not one of the consumer's: it has {have}")
    policy = config.priority_policy
    if thresholds and policy != api.PriorityPolicy.OVERFLOW:
        raise BadArgumentError("min_pending/min_ack_pending need priority_policy 'overflow', "
                               f"the consumer's is {_policy_name(policy)!r}")
    if prioritized and policy != api.PriorityPolicy.PRIORITIZED:
        raise BadArgumentError("priority needs priority_policy 'prioritized', "
                               f"the consumer's is {_policy_name(policy)!r}")


def _policy_name(policy: Optional[api.PriorityPolicy]) -> str:
    return policy.value if policy is not None else "none"


def pin_of(msg: Msg) -> Optional[str]:
    """The pin id a pinned_client consumer handed out with `msg`, if any."""
    h = msg.headers
    return h.get(PIN_HEADER) if h is not None else None


class PinState:
    """The pin one puller holds in a pinned_client group, announced as events when it is
    gained (a delivery with a new Nats-Pin-Id) or lost (a 423 to a pull that sent it)."""

    def __init__(self, events: EventHub, stream: str) -> None:
        self.id: Optional[str] = None
        self._events = events
        self._stream = stream

    def gained(self, pin: str, consumer: str, prio: Optional[PriorityRequest]) -> None:
        """A delivery carried `pin`, not the one held: this puller is pinned now."""
        self.id = pin
        self._events.emit(ConsumerPinned(self._stream, consumer, group=_group(prio), pin_id=pin))

    def lost(self, consumer: str, prio: Optional[PriorityRequest]) -> None:
        """A 423: the pin moved on (unpinned, or timed out); the next pull goes without one."""
        pin, self.id = self.id, None
        self._events.emit(ConsumerUnpinned(self._stream, consumer, group=_group(prio),
                                           pin_id=pin or ""))


def _group(prio: Optional[PriorityRequest]) -> str:
    return prio.group if prio is not None else ""
