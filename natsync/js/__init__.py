"""JetStream: streams, acknowledged publishing, and pull, push and ordered consumers."""

from . import api, errors
from .consumer import ConsumeContext, Consumer, MessageStream, OrderedConsumer, Stream
from .context import JetStreamContext
from .manager import JetStreamManager
from .metadata import Metadata, SequencePair
from .pull import PullSubscription
from .push import PushSubscription

__all__ = [
    "ConsumeContext", "Consumer", "JetStreamContext", "JetStreamManager", "MessageStream",
    "Metadata", "OrderedConsumer", "PullSubscription", "PushSubscription", "SequencePair",
    "Stream", "api", "errors",
]
