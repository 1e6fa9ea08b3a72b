"""A worker that rides through a server outage with no action of its own.

It starts its own nats-server (an outage needs one it controls), serves requests in a
queue group, stops the server for a while, and shows that subscriptions, the request
inbox and messages published while disconnected all came back: on reconnect a client
re-sends its subscriptions before what it buffered, so its own audit subscription gets
the message it published during the outage.
"""

from __future__ import annotations

import sys
import threading
import time

import natsync
from natsync.testing import NatsServer


def main() -> int:
    events: list[str] = []
    back = threading.Event()

    def on_reconnect() -> None:
        events.append("reconnected")
        back.set()

    with NatsServer() as server:
        options = {"reconnect_time_wait": 0.1, "max_reconnect_attempts": -1}
        worker = natsync.connect(server.url, name="worker", reconnected_cb=on_reconnect,
                                 disconnected_cb=lambda: events.append("disconnected"),
                                 **options)
        client = natsync.connect(server.url, name="client", **options)
        worker.subscribe("jobs.resize", queue="resizers",
                         cb=lambda m: m.respond(b"resized " + m.data))
        audit = client.subscribe("audit")
        worker.flush()
        print("Worker answers:", client.request("jobs.resize", b"cat.png", timeout=2).data.decode())

        server.stop()
        deadline = time.monotonic() + 10
        while not client.is_reconnecting and time.monotonic() < deadline:
            time.sleep(0.01)
        client.publish("audit", b"published while the server was away")
        print("Server stopped; the client buffered a message while disconnected.")
        server.start()
        back.wait(10)
        client.flush(timeout=10)  # waits for the client's own reconnect, then the PONG
        print("Worker answers:", client.request("jobs.resize", b"dog.png", timeout=2).data.decode())
        print("Audit got:", audit.next_msg(timeout=5).data.decode())
        print("Worker saw:", ", ".join(events), f"(reconnects: {worker.stats['reconnects']})")
        client.close()
        worker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
