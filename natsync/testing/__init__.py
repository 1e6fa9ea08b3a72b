"""Start and stop real ``nats-server`` processes for tests, notebooks and demos.

Everything here is stdlib-only so it can be used without extra dependencies::

    from natsync.testing import NatsServer

    with NatsServer(jetstream=True) as srv:
        nc = natsync.connect(srv.url)

Every started process is tracked in a module-level registry and killed at interpreter
exit, so a forgotten ``close()`` never leaves a server running.
"""

import contextlib
import os
from typing import Callable, Iterator

from .binary import ServerBinaryNotFoundError, ServerStartError, find_server_binary, free_port
from .cluster import NatsCluster
from .config import render_config
from .faultproxy import FaultProxy
from .faults import Cut, Direction, Fault
from .server import NatsServer

__all__ = [
    "Cut",
    "Direction",
    "Fault",
    "FaultProxy",
    "NatsCluster",
    "NatsServer",
    "ServerBinaryNotFoundError",
    "ServerStartError",
    "find_server_binary",
    "free_port",
    "render_config",
    "server_url",
]


@contextlib.contextmanager
def server_url(jetstream: bool = True,
               say: Callable[[str], object] | None = None) -> Iterator[str]:
    """The URL a demo or script should use: `NATS_URL` when set, else an embedded server.

    The embedded server (JetStream on unless `jetstream=False`) runs for the `with`
    block; `say` (e.g. `print`) is told which of the two it is.
    """
    url = os.environ.get("NATS_URL")
    if url:
        if say is not None:
            say(f"Using your server at {url} (from NATS_URL).")
        yield url
        return
    with NatsServer(jetstream=jetstream) as server:
        if say is not None:
            kind = " with JetStream" if jetstream else ""
            say(f"Started an embedded nats-server{kind} at {server.url}.")
        yield server.url
    if say is not None:
        say("Stopped the embedded server.")
