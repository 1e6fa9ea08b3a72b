"""OpenTelemetry tracing and metrics for every natsync client in the process.

Needs the `natsync[otel]` extra (opentelemetry-api only)::

    from natsync.contrib.otel import NatsyncInstrumentor
    NatsyncInstrumentor().instrument()
"""

from .instrumentor import NatsyncInstrumentor
from .propagation import extract, inject

__all__ = ["NatsyncInstrumentor", "extract", "inject"]
