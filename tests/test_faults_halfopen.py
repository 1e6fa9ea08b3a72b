"""Half-open connections, through a FaultProxy black hole: the client finds out by its
PINGs in time, reconnects, and no blocked call outlives its timeout."""

from __future__ import annotations

import threading
import time
from typing import Iterator

import pytest

import natsync
from natsync.errors import FlushTimeoutError, StaleConnectionError, TimeoutError
from natsync.testing import FaultProxy, NatsServer

from .conftest import natsync_threads, wait_for
from .fault_helpers import FAST, Events, Timed, background, figure

PING, MAX_OUT = 0.25, 2
STALE_BOUND = PING * (MAX_OUT + 1) + 1.0   # what docs/connecting.md promises, plus 1 s
MARGIN = 0.3                               # how late a timed-out call may return
TIMEOUTS = (0.2, 0.5, 0.9, 1.5)            # the longest outlives the reconnect


@pytest.fixture
def responder(shared_server: NatsServer) -> Iterator[natsync.Client]:
    """A service on a direct connection: it answers every request on 'svc'."""
    nc = natsync.connect(shared_server.url)
    nc.subscribe("svc", cb=lambda m: m.respond(b"ok:" + m.data))
    nc.flush()
    yield nc
    nc.close()


def in_flight(nc: natsync.Client) -> list[Timed]:
    """One request per timeout in TIMEOUTS, each on its own thread."""
    return [Timed(lambda t=t: nc.request("svc", b"%g" % t, timeout=t), t) for t in TIMEOUTS]


def assert_timed_out_in_time(calls: list[Timed], error: type[BaseException]) -> float:
    """Every call failed with `error`, not early and not later than MARGIN; the worst."""
    for call in calls:
        call.join(max(TIMEOUTS) + 5)
        assert isinstance(call.error, error), (call.timeout, call.error, call.result)
        assert -0.02 <= call.lateness <= MARGIN, (call.timeout, call.elapsed)
    return max(call.lateness for call in calls)


def test_server_to_client_black_hole_moves_to_the_next_server(
        shared_server: NatsServer, responder: natsync.Client) -> None:
    ev = Events()
    before = set(natsync_threads())
    with FaultProxy(shared_server) as first, FaultProxy(shared_server) as second:
        nc = natsync.connect([first.url, second.url], dont_randomize=True, ping_interval=PING,
                             max_outstanding_pings=MAX_OUT, **FAST, **ev.options())
        try:
            assert nc.request("svc", b"1", timeout=2).data == b"ok:1"
            first.blackhole("down")      # for every connection to it, new ones too
            cut_off = time.monotonic()
            calls = in_flight(nc)
            lost_at = ev.wait("disconnected", 1, STALE_BOUND + 2)
            assert lost_at is not None and lost_at - cut_off <= STALE_BOUND
            assert isinstance(nc.last_error, StaleConnectionError)
            assert ev.wait("reconnected", 1, 5) is not None
            assert nc.connected_url == second.url
            worst = assert_timed_out_in_time(calls, TimeoutError)
            assert nc.request("svc", b"2", timeout=2).data == b"ok:2"
            assert first.stats["down_dropped"] > 0
        finally:
            nc.close()
    figure("stale detection, server->client black hole",
           f"{lost_at - cut_off:.3f} s (bound {STALE_BOUND:.2f} s)")
    figure("lateness past timeout, half-open down", f"{worst * 1000:.1f} ms")
    wait_for(lambda: set(natsync_threads()) <= before, 5, "the client's threads to end")


def test_client_to_server_black_hole_heals_on_the_same_server(
        shared_server: NatsServer, responder: natsync.Client) -> None:
    ev = Events()
    before = set(natsync_threads())
    with FaultProxy(shared_server) as proxy:
        nc = natsync.connect(proxy.url, ping_interval=PING, max_outstanding_pings=MAX_OUT,
                             **FAST, **ev.options())
        try:
            assert nc.request("svc", b"1", timeout=2).data == b"ok:1"
            hole = proxy.blackhole("up")
            cut_off = time.monotonic()
            calls = in_flight(nc)
            short_flush = Timed(lambda: nc.flush(timeout=0.4), 0.4)
            long_flush = Timed(lambda: nc.flush(timeout=STALE_BOUND + 3), STALE_BOUND + 3)
            lost_at = ev.wait("disconnected", 1, STALE_BOUND + 2)
            assert lost_at is not None and lost_at - cut_off <= STALE_BOUND
            assert isinstance(nc.last_error, StaleConnectionError)
            short_flush.join(5)
            assert isinstance(short_flush.error, FlushTimeoutError)
            assert short_flush.lateness <= MARGIN
            # Reconnects to the same proxy fail while the hole lasts: CONNECT never lands.
            wait_for(lambda: proxy.stats["connections"] >= 2, 5, "a reconnect attempt")
            assert not nc.is_connected
            healed = time.monotonic()
            hole.remove()
            assert ev.wait("reconnected", 1, 5) is not None
            worst = assert_timed_out_in_time(calls, TimeoutError)
            long_flush.join(STALE_BOUND + 5)   # its PING was sent again after the reconnect
            assert long_flush.error is None, long_flush.error
            assert nc.request("svc", b"2", timeout=2).data == b"ok:2"
            back = ev.times("reconnected")[0] - healed
        finally:
            nc.close()
    figure("stale detection, client->server black hole",
           f"{lost_at - cut_off:.3f} s (bound {STALE_BOUND:.2f} s); back {back:.3f} s "
           f"after the heal")
    figure("lateness past timeout, half-open up (requests, flush)",
           f"{max(worst, short_flush.lateness) * 1000:.1f} ms")
    wait_for(lambda: set(natsync_threads()) <= before, 5, "the client's threads to end")


def test_black_hole_while_idle_and_busy_detects_each_time(
        shared_server: NatsServer, responder: natsync.Client) -> None:
    """Three black holes in a row, the client publishing through them: each is found
    within the bound, and the client still delivers after the last one."""
    ev = Events()
    watcher = natsync.connect(shared_server.url)
    marker = watcher.subscribe("marker")
    watcher.flush()
    times: list[float] = []
    with FaultProxy(shared_server) as proxy:
        nc = natsync.connect(proxy.url, ping_interval=PING, max_outstanding_pings=MAX_OUT,
                             **FAST, **ev.options())

        def publish(stop: threading.Event) -> None:
            while not stop.wait(0.005):
                nc.publish("busy", b"x" * 100)

        try:
            with background(publish):
                for k in range(1, 4):
                    direction = ("down", "up", "both")[k - 1]
                    with proxy.blackhole(direction):
                        cut_off = time.monotonic()
                        lost_at = ev.wait("disconnected", k, STALE_BOUND + 2)
                        assert lost_at is not None, direction
                        times.append(lost_at - cut_off)
                    assert ev.wait("reconnected", k, 5) is not None
            nc.publish("marker", b"after the last heal")
            assert marker.next_msg(timeout=5).data == b"after the last heal"
        finally:
            nc.close()
            watcher.close()
    assert max(times) <= STALE_BOUND, times
    figure("stale detection under publishing (down, up, both)",
           ", ".join(f"{t:.3f} s" for t in times))
