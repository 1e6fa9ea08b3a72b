"""natsync: a synchronous, thread-based NATS client with a plain blocking API."""

from . import errors
from .client import Client, ServersChanged, connect
from .headers import Headers
from .msg import Msg
from .subscription import Subscription
from .version import __version__

__all__ = ["Client", "Headers", "Msg", "ServersChanged", "Subscription", "__version__", "connect",
           "errors"]
