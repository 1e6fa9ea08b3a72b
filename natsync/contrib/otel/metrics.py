"""Connection statistics as observable instruments, and the request latency histogram.

Clients are tracked weakly from the moment they are created (or first subscribe or
request) while instrumented; subscriptions from the moment they are made.
"""

from __future__ import annotations

import threading
import weakref
from typing import Callable, Iterable, Iterator, List, Optional

from opentelemetry.metrics import CallbackOptions, Histogram, Meter, Observation

import natsync.contrib.otel.semconv as semconv

from ...client import Client
from ...subscription import Subscription
from .semconv import Attrs

Reading = Callable[[Client, List[Subscription]], int]

#: (instrument name, kind, unit, description, how to read it from a client)
_COUNTERS: List[tuple[str, str, str, str, Reading]] = [
    ("messaging.client.sent.messages", "counter", "{message}", "Messages published",
     lambda nc, subs: nc.stats["out_msgs"]),
    ("messaging.client.consumed.messages", "counter", "{message}", "Messages received",
     lambda nc, subs: nc.stats["in_msgs"]),
    ("messaging.nats.client.sent.bytes", "counter", "By", "Payload bytes published",
     lambda nc, subs: nc.stats["out_bytes"]),
    ("messaging.nats.client.received.bytes", "counter", "By", "Payload bytes received",
     lambda nc, subs: nc.stats["in_bytes"]),
    ("messaging.nats.client.reconnects", "counter", "{reconnect}", "Reconnections",
     lambda nc, subs: nc.stats["reconnects"]),
    ("messaging.nats.client.dropped.messages", "counter", "{message}",
     "Messages dropped by slow consumers (pending limits reached)",
     lambda nc, subs: sum(s.dropped for s in subs)),
    ("messaging.nats.client.pending.messages", "updown", "{message}",
     "Messages received and not yet handed to the application",
     lambda nc, subs: sum(s.pending_msgs for s in subs if s.is_valid)),
    ("messaging.nats.client.pending.bytes", "updown", "By",
     "Payload bytes received and not yet handed to the application",
     lambda nc, subs: sum(s.pending_bytes for s in subs if s.is_valid)),
]

LATENCY = "messaging.client.operation.duration"


class ClientMetrics:
    """The instruments of one instrumentation, fed from the tracked clients."""

    def __init__(self, meter: Meter) -> None:
        self._lock = threading.Lock()
        self._clients: weakref.WeakKeyDictionary[Client, weakref.WeakSet[Subscription]] = (
            weakref.WeakKeyDictionary())
        self.active = True
        for name, kind, unit, description, read in _COUNTERS:
            create = (meter.create_observable_counter if kind == "counter"
                      else meter.create_observable_up_down_counter)
            create(name, callbacks=[self._callback(read)], unit=unit, description=description)
        self.latency: Histogram = meter.create_histogram(
            LATENCY, unit="s", description="Duration of request/reply operations")

    def track(self, nc: Client, sub: Optional[Subscription] = None) -> None:
        """Report `nc` (and `sub`, one of its subscriptions) from now on."""
        with self._lock:
            subs = self._clients.get(nc)
            if subs is None:
                subs = self._clients[nc] = weakref.WeakSet()
            if sub is not None:
                subs.add(sub)

    def stop(self) -> None:
        """Report nothing more (a meter cannot take instruments back)."""
        self.active = False
        with self._lock:
            self._clients.clear()

    def _snapshot(self) -> Iterator[tuple[Client, List[Subscription]]]:
        with self._lock:
            items = [(nc, list(subs)) for nc, subs in self._clients.items()]
        for nc, subs in items:
            if not nc.is_closed:
                yield nc, subs

    def _callback(self, read: Reading) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            if not self.active:
                return []
            return [Observation(read(nc, subs), _client_attrs(nc))
                    for nc, subs in self._snapshot()]
        return observe


def _client_attrs(nc: Client) -> Attrs:
    """Which client an observation is about: its server-assigned id and its name."""
    attrs: Attrs = {semconv.SYSTEM: semconv.NATS, semconv.CLIENT_ID: str(nc.client_id)}
    if nc.options.name:
        attrs["messaging.nats.client.name"] = nc.options.name
    return attrs
