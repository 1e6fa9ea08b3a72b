"""Dramatiq on NATS JetStream: a broker, and results and rate-limiter backends on
Key-Value.

Needs the `natsync[dramatiq]` extra::

    import dramatiq
    from natsync.contrib.dramatiq import NatsBroker

    dramatiq.set_broker(NatsBroker("nats://127.0.0.1:4222"))

See docs/dramatiq.md.
"""

try:
    import dramatiq  # noqa: F401
except ImportError as exc:
    raise ImportError("natsync.contrib.dramatiq needs dramatiq: "
                      "pip install 'natsync[dramatiq]'") from exc

from .backends import KeyValueRateLimiter, KeyValueResults  # noqa: E402
from .broker import NatsBroker, NatsConsumer, NatsMessageProxy  # noqa: E402

__all__ = ["KeyValueRateLimiter", "KeyValueResults", "NatsBroker", "NatsConsumer",
           "NatsMessageProxy"]
