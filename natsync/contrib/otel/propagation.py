"""W3C trace context (or whatever the global propagator speaks) carried in NATS headers."""

from __future__ import annotations

from typing import List, Optional

from opentelemetry import propagate
from opentelemetry.context import Context, get_current
from opentelemetry.propagators.textmap import Getter, Setter

from ...headers import Headers, HeadersLike


class _HeadersGetter(Getter[Optional[Headers]]):
    """Reads propagation fields from received headers (case-insensitive names)."""

    def get(self, carrier: Optional[Headers], key: str) -> Optional[List[str]]:
        if carrier is None:
            return None
        return carrier.get_all(key) or None

    def keys(self, carrier: Optional[Headers]) -> List[str]:
        return list(carrier) if carrier is not None else []


class _HeadersSetter(Setter[Headers]):
    """Writes propagation fields into outgoing headers, replacing earlier values."""

    def set(self, carrier: Headers, key: str, value: str) -> None:
        carrier[key] = value


GETTER = _HeadersGetter()
SETTER = _HeadersSetter()


def inject(headers: Optional[HeadersLike], context: Optional[Context] = None) -> Optional[HeadersLike]:
    """A copy of `headers` with the current (or given) trace context; None stays None
    when there is no context to carry (no span, or a no-op propagator)."""
    carrier = Headers(headers)
    propagate.inject(carrier, context=context, setter=SETTER)
    return carrier if headers is not None or len(carrier) else None


def extract(headers: Optional[Headers], context: Optional[Context] = None) -> Context:
    """The trace context a received message's headers carry, on top of `context` (by
    default the current one, which is what stays when the headers carry none)."""
    return propagate.extract(headers, context=context if context is not None else get_current(),
                             getter=GETTER)
