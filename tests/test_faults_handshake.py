"""Connections that die during the handshake (in or after INFO, after CONNECT, before the
PONG): the client retries through its pool, ends CONNECTED, and leaves no thread behind."""

from __future__ import annotations

from typing import Optional

import pytest

import natsync
from natsync.testing import Cut, Direction, FaultProxy, NatsServer

from .conftest import natsync_threads, wait_for
from .fault_helpers import FAST, Events

#: (direction, match, bytes after the match, how): where each handshake attempt dies.
STAGES: dict[str, tuple[Direction, bytes, int, str]] = {
    "mid-INFO": ("down", b"INFO ", 20, "reset"),
    "after INFO, FIN": ("down", b"\r\n", 0, "close"),
    "after INFO, RST": ("down", b"\r\n", 0, "reset"),
    "after CONNECT": ("up", b"\r\n", 0, "reset"),
    "after CONNECT and PING": ("up", b"PING\r\n", 0, "close"),
}
FAILS = 2   # attempts each proxy of the pool kills


def arm(proxy: FaultProxy, stage: str) -> Cut:
    direction, match, after, how = STAGES[stage]
    arm_cut = proxy.reset_after if how == "reset" else proxy.close_after
    return arm_cut(after, direction, match=match, times=FAILS)


def names(threads: list[object]) -> list[str]:
    return sorted(getattr(t, "name", "") for t in threads)


@pytest.mark.parametrize("stage", list(STAGES))
def test_reconnect_through_handshake_faults(shared_server: NatsServer, stage: str) -> None:
    before = set(natsync_threads())
    ev = Events()
    with FaultProxy(shared_server) as first, FaultProxy(shared_server) as second:
        nc = natsync.connect([first.url, second.url], **FAST, **ev.options())
        try:
            nc.flush()
            running = names(list(set(natsync_threads()) - before))
            cuts = [arm(first, stage), arm(second, stage)]
            live = first if nc.connected_url == first.url else second
            assert live.reset_connections() == 1
            assert ev.wait("reconnected", 1, 10) is not None
            assert nc.is_connected and nc.stats["reconnects"] == 1
            assert [cut.fired for cut in cuts] == [FAILS, FAILS]
            assert first.stats["connections"] + second.stats["connections"] == 2 + 2 * FAILS
            # (the first connection, four killed in the handshake, the one that worked)
            nc.flush(timeout=5)
            assert names(list(set(natsync_threads()) - before)) == running
        finally:
            nc.close()
    wait_for(lambda: set(natsync_threads()) <= before, 5, "the client's threads to end")


@pytest.mark.parametrize("stage", ["after INFO, FIN", "after CONNECT and PING"])
def test_first_connect_retries_through_handshake_faults(shared_server: NatsServer,
                                                        stage: str) -> None:
    """With retry_on_failed_connect the very first connection may fail the same way."""
    before = set(natsync_threads())
    with FaultProxy(shared_server) as proxy:
        cut = arm(proxy, stage)
        nc: Optional[natsync.Client] = None
        try:
            nc = natsync.connect(proxy.url, retry_on_failed_connect=True, **FAST)
            wait_for(lambda: nc is not None and nc.is_connected, 10, "the first connection")
            assert cut.fired == FAILS and not cut.active
            nc.flush(timeout=5)
        finally:
            if nc is not None:
                nc.close()
    wait_for(lambda: set(natsync_threads()) <= before, 5, "the client's threads to end")


def test_first_connect_without_retry_fails_cleanly(shared_server: NatsServer) -> None:
    before = set(natsync_threads())
    with FaultProxy(shared_server) as proxy:
        proxy.close_after(0, "down", match=b"\r\n")
        with pytest.raises(natsync.errors.NoServersError):
            natsync.connect(proxy.url, connect_timeout=1.0)
    assert set(natsync_threads()) <= before

