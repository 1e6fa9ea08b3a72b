"""Object Store (obs/store.py, outside the engine): a put that cannot finish on a slow
link raises after about three times its timeout, and with the wrong error.

A chunk's ack misses its 1 s deadline; put() then purges the chunks (a request, 1 s)
and checks the bucket still exists (another, 1 s), both queued behind the chunks on the
saturated link, and raises the check's NoStreamResponseError about STREAM.INFO instead
of the missing ack. (The purge itself lands: nothing is orphaned.)
"""

from __future__ import annotations

import os

import natsync
from natsync.js.errors import NoStreamResponseError
from natsync.testing import FaultProxy, NatsServer

from ..fault_helpers import Timed


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
            assert "STREAM.INFO" not in str(put.error), put.error   # observed: it is there
            assert put.lateness <= 0.5, put.elapsed                 # observed: 3.0 s
        finally:
            proxy.heal()
            nc.close()
            direct.close()
