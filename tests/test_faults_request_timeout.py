"""request() ends by its timeout while the outbound buffer is full.

A publisher keeps the buffer at pending_size on a slow uplink; a request made then must
not wait for room past its own deadline (it once waited with no deadline but
flush_timeout, and each time the flusher freed room the publisher filled it first:
timeouts of 0.2 s and 0.5 s raised TimeoutError after about 8 s).
"""

from __future__ import annotations

import threading
import time

import natsync
from natsync.errors import TimeoutError
from natsync.testing import FaultProxy, NatsServer

from .fault_helpers import Timed, background


def test_request_ends_by_its_timeout_while_publish_waits_for_room() -> None:
    with NatsServer() as srv, FaultProxy(srv) as proxy:
        svc = natsync.connect(srv.url)
        svc.subscribe("svc", cb=lambda m: m.respond(b"ok"))
        svc.flush()
        nc = natsync.connect(proxy.url, pending_size=64 * 1024)
        proxy.bandwidth(200_000, "up")     # a slow uplink: kernel buffers, then the client's
        blocked = threading.Event()

        def bulk(stop: threading.Event) -> None:
            for _ in range(100_000):
                if stop.is_set():
                    return
                start = time.monotonic()
                nc.publish("bulk", b"z" * 1024)
                if time.monotonic() - start > 0.1:
                    blocked.set()          # publish waited for room: the buffer is full

        try:
            with background(bulk):
                assert blocked.wait(30), "back-pressure never engaged"
                calls = []
                for t in (0.1, 0.2, 0.5):      # one at a time, as a web handler would
                    calls.append(Timed(lambda t=t: nc.request("svc", timeout=t), t))
                    calls[-1].join(60)
                proxy.heal()                   # lets the publisher stop at once
        finally:
            nc.close()
            svc.close()
    report = [(c.timeout, type(c.error).__name__, round(c.elapsed, 2)) for c in calls]
    for call in calls:
        assert isinstance(call.error, TimeoutError), report
        assert call.lateness <= 0.3, report    # was: 0.2 s and 0.5 s returned after ~8 s
