"""JetStream fixtures for the test modules that share one JetStream server per module.

A module imports them by name (`from .js_fixtures import js, js_server, nc`): its `nc` then
talks to that server instead of the plugin's per-test one.
"""

from __future__ import annotations

from typing import Iterator

import pytest

import natsync
from natsync.testing import NatsServer


@pytest.fixture(scope="module")
def js_server() -> Iterator[NatsServer]:
    """One JetStream-enabled server for the whole module."""
    with NatsServer(jetstream=True) as srv:
        yield srv


@pytest.fixture
def nc(js_server: NatsServer) -> Iterator[natsync.Client]:
    """A client of the module's JetStream server, closed after the test."""
    client = natsync.connect(js_server.url)
    yield client
    client.close()


@pytest.fixture
def js(nc: natsync.Client) -> Iterator[natsync.js.JetStreamContext]:
    """A JetStream context; every stream it made is deleted after the test."""
    ctx = nc.jetstream()
    yield ctx
    for name in ctx.stream_names():
        ctx.delete_stream(name)
