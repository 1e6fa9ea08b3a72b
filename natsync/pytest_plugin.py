"""pytest fixtures that run real nats-server processes (registered as the ``natsync`` plugin).

The plugin is loaded in every pytest run once natsync is installed, so it imports
nothing heavy at module level: servers and the client are imported inside fixtures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:
    from .testing import NatsCluster, NatsServer


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    """A fresh JetStream-enabled nats-server on a free port, closed after the test."""
    from .testing import NatsServer

    server = NatsServer(jetstream=True)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    """The ``nats://127.0.0.1:PORT`` URL of the ``nats_server`` fixture."""
    return nats_server.url


@pytest.fixture
def nc(nats_url: str) -> Iterator[Any]:
    """A natsync client connected to ``nats_url``, closed after the test."""
    import natsync

    client = natsync.connect(nats_url)  # type: ignore[attr-defined]
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def nats_cluster() -> Iterator[NatsCluster]:
    """A three-node nats-server cluster with all routes up, closed after the test."""
    from .testing import NatsCluster

    cluster = NatsCluster(size=3)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()
