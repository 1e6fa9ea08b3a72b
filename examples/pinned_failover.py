"""A warm standby with a pinned priority group (ADR-42): one worker at a time, failover by itself.

Two worker processes would normally share the consumer; here they are two connections.
The server pins the group to whichever worker pulls first, so only that one receives. When
it stops pulling (it crashed, or is being upgraded), the pin expires after priority_timeout
and the standby, whose pulls got nothing until then, takes over.
"""

from __future__ import annotations

import sys

import natsync
from natsync.js import Consumer, api
from natsync.testing import server_url

PIN_TIMEOUT = 1.0


def worker(nc: natsync.Client) -> Consumer:
    """A worker's handle on the consumer: it keeps the pin the server hands it."""
    return nc.jetstream().stream("ORDERS").consumer("processor")


def work(consumer: Consumer, name: str, wait: float) -> list[bytes]:
    """One pull for the `main` group; what this worker got within `wait` seconds."""
    msgs = consumer.fetch(3, max_wait=wait, group="main")
    for msg in msgs:
        msg.ack_sync()
    print(f"{name} got {len(msgs)}: {' '.join(m.data.decode() for m in msgs) or '-'}")
    return [m.data for m in msgs]


def main(url: str) -> None:
    with natsync.connect(url) as admin, natsync.connect(url) as primary, \
            natsync.connect(url) as standby:
        js = admin.jetstream()
        js.add_stream(name="ORDERS", subjects=["orders"])
        js.stream("ORDERS").create_consumer(
            durable_name="processor", priority_groups=["main"],
            priority_policy=api.PriorityPolicy.PINNED_CLIENT, priority_timeout=PIN_TIMEOUT)
        for i in range(1, 7):
            js.publish("orders", b"o%d" % i)
        first, second = worker(primary), worker(standby)
        got = work(first, "primary", 2)              # pulls first: the group is pinned to it
        got += work(second, "standby", 0.5)          # pinned elsewhere: nothing for the standby
        print("The primary stops pulling...")
        got += work(second, "standby", PIN_TIMEOUT * 4)    # the pin expired: it takes over
        print(f"Every order handled once: {sorted(got) == sorted(b'o%d' % i for i in range(1, 7))}")
        js.delete_stream("ORDERS")


if __name__ == "__main__":
    with server_url(jetstream=True, say=print) as url:
        main(url)
    sys.exit(0)
