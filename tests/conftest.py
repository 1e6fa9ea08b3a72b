"""Shared fixtures. The per-test `nats_server`, `nats_url` and `nc` come from natsync's plugin."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Optional

import pytest

import natsync
from natsync.testing import NatsServer

if TYPE_CHECKING:
    from .jwt_helpers import Decentralized

# A suite started in the background by a shell without job control (`make test &`, nohup)
# inherits SIGINT ignored, and so would every process it starts: Python then installs no
# KeyboardInterrupt, and the tests that press Ctrl-C on a CLI process (SIGINT) wait in
# vain. In a terminal it is at its default; make it so here, which the children inherit.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[NatsServer]:
    """One plain server for a whole test module (tests that do not disturb the server)."""
    with NatsServer() as srv:
        yield srv


@pytest.fixture
def client(shared_server: NatsServer) -> Iterator[natsync.Client]:
    """A client of the module's shared server, closed after the test."""
    nc = natsync.connect(shared_server.url)
    try:
        yield nc
    finally:
        nc.close()


@pytest.fixture
def connect(shared_server: NatsServer) -> Iterator[Callable[..., natsync.Client]]:
    """A factory of clients of the shared server; all are closed after the test."""
    made: list[natsync.Client] = []

    def make(**options: object) -> natsync.Client:
        nc = natsync.connect(shared_server.url, **options)
        made.append(nc)
        return nc

    yield make
    for nc in made:
        nc.close()


@pytest.fixture(scope="module")
def op() -> Decentralized:
    """The operator, accounts and user of a module's operator-mode server (nkeys is
    imported here, not with this file: not every interpreter the suite runs on has it)."""
    from .jwt_helpers import decentralized

    return decentralized()


@pytest.fixture(scope="module")
def jwt_server(op: Decentralized) -> Iterator[NatsServer]:
    """A nats-server in operator mode (memory resolver) for `op`'s JWTs."""
    with NatsServer(config=op.server_config()) as srv:
        yield srv


def wait_for(check: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll `check` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def natsync_threads() -> list[threading.Thread]:
    """The natsync threads still alive in this process."""
    return [t for t in threading.enumerate() if t.name.startswith("natsync-")]


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, url: Optional[str],
                announced: bool = True) -> subprocess.CompletedProcess[str]:
    """Run examples/<name> as a script, with NATS_URL=url or (url None) without NATS_URL.

    Asserts exit status 0 and, when `announced`, that it said it used the given server.
    """
    env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    if url is not None:
        env["NATS_URL"] = url
    out = subprocess.run([sys.executable, str(EXAMPLES / name)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    if url is not None and announced:
        assert f"Using your server at {url}" in out.stdout
    return out
