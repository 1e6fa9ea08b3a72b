"""Celery on NATS JetStream: a kombu transport and a Key-Value result backend.

Needs the `natsync[celery]` extra (kombu and celery)::

    broker_url = "nats://127.0.0.1:4222"
    broker_transport = "natsync.contrib.celery:Transport"
    result_backend = "natsync.contrib.celery:KeyValueBackend+nats://127.0.0.1:4222"

See docs/celery.md.
"""

try:
    import celery  # noqa: F401
    import kombu  # noqa: F401
except ImportError as exc:
    raise ImportError("natsync.contrib.celery needs kombu and celery: "
                      "pip install 'natsync[celery]'") from exc

from .backend import KeyValueBackend  # noqa: E402
from .transport import Transport  # noqa: E402

__all__ = ["KeyValueBackend", "Transport"]
