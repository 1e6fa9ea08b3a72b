"""A slow link (50 ms each way, a few hundred KB/s) through a FaultProxy: publish waits
for room instead of growing memory, and request, KV and Object Store calls end in time."""

from __future__ import annotations

import hashlib
import os
import time
import tracemalloc
from typing import Iterator

import pytest

import natsync
from natsync.errors import Error, TimeoutError
from natsync.js.errors import NoStreamResponseError
from natsync.testing import FaultProxy, NatsServer

from .conftest import wait_for
from .fault_helpers import Timed, figure

DELAY, RATE = 0.05, 500_000
MARGIN = 0.3


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    with NatsServer(jetstream=True) as srv:
        yield srv


@pytest.fixture
def slow(server: NatsServer) -> Iterator[FaultProxy]:
    """A proxy with the slow link on both ways (switch it off with heal())."""
    with FaultProxy(server, buffer_size=64 * 1024) as proxy:
        proxy.latency(DELAY)
        proxy.bandwidth(RATE)
        yield proxy


def test_publish_backpressure_keeps_memory_bounded(server: NatsServer,
                                                   slow: FaultProxy) -> None:
    """Publish until publish() has blocked (the kernel's buffers and the proxy's are
    full), then 1 MiB more: the process's Python memory peaks within the client's
    pending_size and the proxy's buffers, whatever was published."""
    pending = 128 * 1024
    counted = [0]
    watcher = natsync.connect(server.url)
    watcher.subscribe("bulk", cb=lambda m: counted.__setitem__(0, counted[0] + 1))
    watcher.flush()
    nc = natsync.connect(slow.url, pending_size=pending)
    chunk = b"b" * 1024
    blocked_at = None
    sent = 0
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        start = time.monotonic()
        for sent in range(1, 40_000):           # 40 MiB at most: bounded if nothing blocks
            t = time.monotonic()
            nc.publish("bulk", chunk)
            if blocked_at is None and time.monotonic() - t > 0.1:
                blocked_at = sent
            if blocked_at is not None and sent >= blocked_at + 1024:
                break
        elapsed = time.monotonic() - start
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert blocked_at is not None, "publish never waited: back-pressure did not engage"
    slow.heal()                                 # let the backlog drain quickly
    nc.flush(timeout=30)
    watcher.flush(timeout=10)
    # The watcher's callback counts on its own thread, which may still be catching up.
    wait_for(lambda: counted[0] == sent, 10, f"the watcher to count {sent} messages")
    nc.close()
    watcher.close()
    bound = 2 * pending + 2 * 64 * 1024 + 1024 * 1024   # two buffers each, plus slack
    assert peak < bound, (peak, bound)
    figure("memory under the slow link",
           f"{sent} KiB published in {elapsed:.1f} s (publish first blocked after "
           f"{blocked_at} KiB, the kernel's buffers full); Python heap peak "
           f"{peak / 1024:.0f} KiB with pending_size {pending // 1024} KiB "
           f"(bound asserted {bound // 1024} KiB)")


def test_requests_on_a_slow_link_end_by_their_timeout(server: NatsServer,
                                                      slow: FaultProxy) -> None:
    """A round trip costs 100 ms: shorter timeouts fail on time, longer ones succeed."""
    svc = natsync.connect(server.url)
    svc.subscribe("svc", cb=lambda m: m.respond(m.data))
    svc.flush()
    nc = natsync.connect(slow.url)
    nc.flush()
    try:
        calls = [Timed(lambda k=k, t=t: nc.request("svc", b"%d" % k, timeout=t), t)
                 for k, t in enumerate((0.03, 0.06, 0.09, 0.5, 0.8, 1.5) * 3)]
        for call in calls:
            call.join(5)
        late = max(call.lateness for call in calls)
        for call in calls:
            if call.timeout < 2 * DELAY:
                assert isinstance(call.error, TimeoutError), call.error
            else:
                assert call.error is None, (call.timeout, call.error)
                assert call.result.data == b"%d" % calls.index(call)
                assert call.elapsed >= 2 * DELAY - 0.01
        assert late <= MARGIN
    finally:
        nc.close()
        svc.close()
    figure("lateness past timeout, slow link (idle)", f"{late * 1000:.1f} ms")


def test_key_value_on_a_slow_link(slow: FaultProxy) -> None:
    """Puts and gets of up to 256 KB finish within their timeout; a put too large to
    cross the link in its timeout fails in time."""
    nc = natsync.connect(slow.url)
    try:
        kv = nc.jetstream(timeout=5.0).create_key_value(bucket="slowkv")
        for size in (100, 64_000, 256_000):
            value = os.urandom(size)
            start = time.monotonic()
            kv.put("k", value)
            assert kv.get("k").value == value
            assert time.monotonic() - start < 5.0
        short = nc.jetstream(timeout=0.5).key_value("slowkv")
        put = Timed(lambda: short.put("big", os.urandom(600_000)), 0.5)   # 1.2 s of link
        put.join(10)
        assert isinstance(put.error, (TimeoutError, NoStreamResponseError)), put.error
        assert put.lateness <= MARGIN
    finally:
        slow.heal()
        nc.close()
    figure("KV on the slow link", f"600 KB put with timeout 0.5 s failed after "
                                  f"{put.elapsed:.3f} s")


def test_object_store_put_of_two_mib_over_a_slow_link(server: NatsServer,
                                                      slow: FaultProxy) -> None:
    data = os.urandom(2 * 1024 * 1024)
    nc = natsync.connect(slow.url)
    direct = natsync.connect(server.url)
    try:
        store = nc.jetstream(timeout=10.0).create_object_store(bucket="slowobs")
        start = time.monotonic()
        info = store.put("blob", data)
        elapsed = time.monotonic() - start
        got = direct.jetstream().object_store("slowobs").get("blob")
        assert hashlib.sha256(got.data or b"").digest() == hashlib.sha256(data).digest()
        assert info.size == len(data)
        assert elapsed < len(data) / RATE + 3.0, elapsed
    except Error:
        slow.heal()
        raise
    finally:
        nc.close()
        direct.close()
    figure("Object Store on the slow link", f"2 MiB put in {elapsed:.2f} s "
                                            f"(link alone: {len(data) / RATE:.2f} s)")
