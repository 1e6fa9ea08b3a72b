"""JetStream: streams, acknowledged publishing, and pull, push and ordered consumers.

The classes are imported on first use, so `natsync.js.errors` and `natsync.js.api` can be
imported by the Key-Value and Object Store packages that the context itself builds on.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import api, errors
from .metadata import Metadata, SequencePair

if TYPE_CHECKING:
    from .consumer import ConsumeContext, Consumer, MessageStream, OrderedConsumer, Stream
    from .context import JetStreamContext
    from .manager import JetStreamManager
    from .pull import PullSubscription
    from .push import PushSubscription

_LAZY = {
    "ConsumeContext": "consumer", "Consumer": "consumer", "MessageStream": "consumer",
    "OrderedConsumer": "consumer", "Stream": "consumer", "JetStreamContext": "context",
    "JetStreamManager": "manager", "PullSubscription": "pull", "PushSubscription": "push",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'natsync.js' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


__all__ = [
    "ConsumeContext", "Consumer", "JetStreamContext", "JetStreamManager", "MessageStream",
    "Metadata", "OrderedConsumer", "PullSubscription", "PushSubscription", "SequencePair",
    "Stream", "api", "errors",
]
