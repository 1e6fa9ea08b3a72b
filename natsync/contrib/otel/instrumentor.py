"""`NatsyncInstrumentor`: OpenTelemetry's instrumentor interface on opentelemetry-api alone.

instrument() replaces methods of natsync's classes (so every client in the process is
traced, whenever it was made) and uninstrument() puts the very same function objects
back, so an uninstrumented process runs exactly the code it ran before.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
from typing import Any, Callable, Collection, List, Optional, Tuple

from opentelemetry import metrics, trace

from ...client import Client
from ...errors import BadArgumentError
from ...js.context import JetStreamContext
from ...kv.bucket import KeyValue
from ...micro.endpoint import Endpoint
from ...micro.request import Request
from ...msg import Msg
from ...subscription import Subscription
from ...version import __version__
from .metrics import ClientMetrics
from .spans import Fn, Tracing

log = logging.getLogger("natsync.contrib.otel")

_NAME = "natsync.contrib.otel"


_ABSENT = object()


class _Patches:
    """Class attributes replaced by wrappers, and what each class held before."""

    def __init__(self) -> None:
        self._saved: List[Tuple[type, str, Any]] = []

    def wrap(self, owner: type, name: str, factory: Callable[[Fn], Fn]) -> None:
        """Set a wrapper on `owner` itself, even when `name` is inherited from a base."""
        held = owner.__dict__.get(name, _ABSENT)
        original = inspect.getattr_static(owner, name)
        setattr(owner, name, functools.wraps(original)(factory(original)))
        self._saved.append((owner, name, held))

    def restore(self) -> None:
        for owner, name, original in reversed(self._saved):
            if original is _ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        self._saved.clear()


def _install(tracing: Tracing) -> _Patches:
    """Wrap every traced method; the list of what is traced lives here alone."""
    patches = _Patches()
    patches.wrap(Client, "__init__", tracing.client_init)
    patches.wrap(Client, "publish", tracing.publish)
    patches.wrap(Client, "request", tracing.request)
    patches.wrap(Client, "request_many", tracing.request_many)
    patches.wrap(Client, "subscribe", tracing.subscribe)
    patches.wrap(Subscription, "next_msg", tracing.next_msg)
    for op in ("ack", "ack_sync", "nak", "term", "in_progress"):
        patches.wrap(Msg, op, tracing.settle(op))
    patches.wrap(JetStreamContext, "publish", tracing.js_publish)
    patches.wrap(JetStreamContext, "publish_async", tracing.js_publish)
    patches.wrap(KeyValue, "get", tracing.kv("get"))
    patches.wrap(KeyValue, "put", tracing.kv("put"))
    patches.wrap(Endpoint, "_handle", tracing.micro_handle)
    patches.wrap(Request, "respond_error", tracing.respond_error)
    return patches


class NatsyncInstrumentor:
    """Traces (and measures) every natsync client in the process.

    The same interface as OpenTelemetry's BaseInstrumentor: one shared instance,
    `instrument(tracer_provider=, meter_provider=)` (the global providers when None),
    `uninstrument()`, `is_instrumented_by_opentelemetry`.
    """

    _instance: Optional[NatsyncInstrumentor] = None
    _lock = threading.Lock()

    def __new__(cls) -> NatsyncInstrumentor:
        with cls._lock:
            if cls._instance is None:
                instance = super().__new__(cls)
                instance._installed = None
                cls._instance = instance
            return cls._instance

    _installed: Optional[Tuple[Tracing, _Patches]]

    def instrumentation_dependencies(self) -> Collection[str]:
        """The instrumented library, as a requirement."""
        return (f"natsync >= {__version__}",)

    @property
    def is_instrumented_by_opentelemetry(self) -> bool:
        """True between instrument() and uninstrument()."""
        return self._installed is not None

    def instrument(self, tracer_provider: Optional[trace.TracerProvider] = None,
                   meter_provider: Optional[metrics.MeterProvider] = None) -> None:
        """Start tracing and measuring; a second call warns and changes nothing."""
        _check_provider("tracer_provider", tracer_provider, trace.TracerProvider)
        _check_provider("meter_provider", meter_provider, metrics.MeterProvider)
        with self._lock:
            if self._installed is not None:
                log.warning("natsync is already instrumented; uninstrument() first")
                return
            tracer = trace.get_tracer(_NAME, __version__, tracer_provider=tracer_provider)
            meter = metrics.get_meter(_NAME, __version__, meter_provider=meter_provider)
            tracing = Tracing(tracer, ClientMetrics(meter))
            self._installed = (tracing, _install(tracing))

    def uninstrument(self) -> None:
        """Put every original method back; callbacks wrapped earlier stop tracing."""
        with self._lock:
            if self._installed is None:
                return
            tracing, patches = self._installed
            self._installed = None
            patches.restore()
            tracing.active = False
            tracing.metrics.stop()


def _check_provider(name: str, provider: object, kind: type) -> None:
    if provider is not None and not isinstance(provider, kind):
        raise BadArgumentError(f"{name} must be an OpenTelemetry {kind.__name__} or None, "
                               f"not {type(provider).__name__}")
