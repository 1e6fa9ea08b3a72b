"""Object Store: a put that cannot finish on a slow link fails by its timeout, naming the
chunk ack that did not come, and leaves no chunk behind.

A chunk's ack misses its 1 s deadline; the put then purges its chunks and checks the
bucket still exists, both queued behind the chunks on the saturated link. It once waited
a full timeout for each (3 s in all) and raised the check's error about STREAM.INFO
instead of the missing ack; now the cleanup waits briefly (the purge applies anyway).
"""

from __future__ import annotations

import os
import time

import natsync
from natsync.js.errors import NoStreamResponseError
from natsync.testing import FaultProxy, NatsServer

from .fault_helpers import Timed


def test_put_fails_by_its_timeout_naming_the_missing_ack() -> None:
    with NatsServer(jetstream=True) as srv, FaultProxy(srv) as proxy:
        direct = natsync.connect(srv.url)
        direct.jetstream().create_object_store(bucket="blobs")
        nc = natsync.connect(proxy.url)
        store = nc.jetstream(timeout=1.0).object_store("blobs")
        proxy.latency(0.05)
        proxy.bandwidth(500_000)           # 2 MiB need 4.2 s; each chunk's ack has 1 s
        try:
            put = Timed(lambda: store.put("big", os.urandom(2 * 1024 * 1024)), 1.0)
            put.join(30)
            assert isinstance(put.error, NoStreamResponseError), put.error
            assert "STREAM.INFO" not in str(put.error), put.error   # was: it was there
            assert put.lateness <= 0.5, put.elapsed                 # was: 3.0 s
            proxy.heal()
            state = direct.jetstream().stream_info("OBJ_blobs").state
            deadline = time.monotonic() + 10
            while state.messages and time.monotonic() < deadline:  # the purge lands late
                time.sleep(0.05)
                state = direct.jetstream().stream_info("OBJ_blobs").state
            assert state.messages == 0  # no chunk of the failed put is left
        finally:
            proxy.heal()
            nc.close()
            direct.close()
