"""OpenTelemetry tracing and metrics for every natsync client in the process.

Needs the `natsync[otel]` extra (opentelemetry-api only)::

    from natsync.contrib.otel import NatsyncInstrumentor
    NatsyncInstrumentor().instrument()
"""

try:
    import opentelemetry.trace  # noqa: F401
except ImportError as exc:
    raise ImportError("natsync.contrib.otel needs opentelemetry-api: "
                      "pip install 'natsync[otel]'") from exc

from .instrumentor import NatsyncInstrumentor  # noqa: E402
from .propagation import extract, inject  # noqa: E402

__all__ = ["NatsyncInstrumentor", "extract", "inject"]
