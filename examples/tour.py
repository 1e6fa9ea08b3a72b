"""A tour of natsync, in plain words. `make demo` runs it.

With NATS_URL set it uses that server; otherwise it starts an embedded nats-server
(with JetStream) on a free 127.0.0.1 port and stops it at the end.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Callable

import natsync
from natsync import micro
from natsync.errors import NoRespondersError
from natsync.kv import KeyWrongLastSequenceError
from natsync.testing import server_url

Say = Callable[[str], None]


def core_tour(url: str, say: Say) -> None:
    """Publish/subscribe, queue groups, request/reply, headers, no responders, drain."""
    with natsync.connect(url, name="natsync-tour") as nc:
        say(f"Connected to {nc.connected_url} (nats-server {nc.connected_server_version}).")

        sub = nc.subscribe("tour.greetings.*")
        nc.publish("tour.greetings.joe", b"Hello, Joe!")
        msg = sub.next_msg(timeout=2)
        say(f"Publish/subscribe: received {msg.data.decode()!r} on {msg.subject}.")
        sub.unsubscribe()

        counts = {"a": 0, "b": 0}
        lock = threading.Lock()

        def worker(name: str) -> Callable[[natsync.Msg], None]:
            def handle(m: natsync.Msg) -> None:
                with lock:
                    counts[name] += 1
            return handle

        qa = nc.subscribe("tour.jobs", queue="workers", cb=worker("a"))
        qb = nc.subscribe("tour.jobs", queue="workers", cb=worker("b"))
        for i in range(100):
            nc.publish("tour.jobs", b"job %d" % i)
        nc.flush()
        deadline = time.monotonic() + 5
        while counts["a"] + counts["b"] < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        say(f"Queue group: 100 jobs shared by two workers as {counts['a']} and {counts['b']}.")
        qa.drain()
        qb.drain()

        nc.subscribe("tour.time", cb=lambda m: m.respond(time.strftime("%H:%M:%S").encode()))
        reply = nc.request("tour.time", b"", timeout=2)
        say(f"Request/reply: the time service answered {reply.data.decode()}.")

        hsub = nc.subscribe("tour.headers")
        nc.publish("tour.headers", b"{}", headers={"Content-Type": "application/json",
                                                  "Trace-Id": "tour-1"})
        hmsg = hsub.next_msg(timeout=2)
        assert hmsg.headers is not None
        say(f"Headers: content-type={hmsg.headers['content-type']}, "
            f"trace-id={hmsg.headers['Trace-Id']}.")

        try:
            nc.request("tour.nobody.listens", b"?", timeout=2)
        except NoRespondersError:
            say("No responders: a request to a subject nobody serves failed at once "
                "instead of waiting for its timeout.")

        got: list[bytes] = []
        nc.subscribe("tour.drain", cb=lambda m: (time.sleep(0.001), got.append(m.data)))
        for i in range(50):
            nc.publish("tour.drain", b"%d" % i)
        nc.flush()
        say("Drain: leaving the `with` block unsubscribes, lets callbacks finish, flushes, closes.")
    say(f"Drained: the callback handled all {len(got)} messages before the close "
        f"(state {nc.state}).")


def jetstream_tour(url: str, say: Say) -> None:
    """Streams, acknowledged publishing, a pull consumer and an ordered replay."""
    with natsync.connect(url, name="natsync-tour-js") as nc:
        js = nc.jetstream()
        if "TOUR" in js.stream_names():
            js.delete_stream("TOUR")
        js.add_stream(name="TOUR", subjects=["tour.orders.>"])
        ack = js.publish("tour.orders.1", b"coffee", msg_id="order-1")
        dup = js.publish("tour.orders.1", b"coffee", msg_id="order-1")
        say(f"JetStream: stored an order as sequence {ack.seq} of stream {ack.stream}; "
            f"publishing it again with the same msg_id was recognised as a duplicate "
            f"({dup.duplicate}).")
        futures = [js.publish_async(f"tour.orders.{i}", b"tea") for i in range(2, 101)]
        js.publish_async_completed(timeout=10)
        say(f"JetStream: 99 more orders published asynchronously; the last got sequence "
            f"{futures[-1].result().seq}.")
        psub = js.pull_subscribe("tour.orders.>", durable="kitchen")
        batch = psub.fetch(batch=40, timeout=2)
        for msg in batch:
            msg.ack()
        say(f"JetStream: the kitchen fetched {len(batch)} orders and acknowledged them; "
            f"{psub.consumer_info().num_pending} wait for the next fetch.")
        count = 0
        with js.stream("TOUR").ordered_consumer().messages() as replay:
            for msg in replay:
                count += 1
                if msg.metadata.num_pending == 0:
                    break
        say(f"JetStream: an ordered consumer replayed all {count} stored orders in order.")
        js.delete_stream("TOUR")


def kv_tour(url: str, say: Say) -> None:
    """Key-Value: put/get, compare-and-set, and a watcher."""
    with natsync.connect(url, name="natsync-tour-kv") as nc:
        js = nc.jetstream()
        kv = js.create_key_value(bucket="tour-settings", history=5)
        rev = kv.put("theme", b"light")
        kv.update("theme", b"dark", last=rev)
        try:
            kv.update("theme", b"blue", last=rev)
        except KeyWrongLastSequenceError:
            say("Key-Value: a compare-and-set with a stale revision was refused, as it must be.")
        entry = kv.get("theme")
        say(f"Key-Value: theme is {entry.value.decode()!r} at revision {entry.revision}; "
            f"history keeps {len(kv.history('theme'))} revisions.")
        with kv.watch("theme") as watcher:
            initial = watcher.updates(timeout=2)
            watcher.updates(timeout=2)  # None: the end of the initial values
            kv.put("theme", b"solarized")
            update = watcher.updates(timeout=2)
        assert initial is not None and update is not None
        say(f"Key-Value: a watcher saw {initial.value.decode()!r}, then the live update "
            f"{update.value.decode()!r}.")
        js.delete_key_value("tour-settings")


def object_store_tour(url: str, say: Say) -> None:
    """Object Store: a chunked put and a verified get."""
    with natsync.connect(url, name="natsync-tour-obs") as nc:
        js = nc.jetstream()
        obs = js.create_object_store("tour-files")
        data = bytes(range(256)) * 4096  # 1 MiB
        info = obs.put("report.bin", data, chunk_size=128 * 1024)
        result = obs.get("report.bin")
        say(f"Object Store: stored a {info.size // 1024} KiB object in {info.chunks} chunks and "
            f"read it back (digest checked, identical: {result.data == data}).")
        js.delete_object_store("tour-files")


def services_tour(url: str, say: Say) -> None:
    """Services: an endpoint, a call, and discovery."""
    with natsync.connect(url, name="natsync-tour-svc") as nc:
        with micro.add_service(nc, name="tour-greeter", version="1.0.0") as svc:
            svc.add_endpoint("hello", lambda req: req.respond(b"hello, " + req.data))
            reply = nc.request("hello", b"tour", timeout=2)
            found = micro.Client(nc).ping(name="tour-greeter", timeout=0.5)
            stats = svc.stats().endpoints[0]
            say(f"Services: the endpoint answered {reply.data.decode()!r}; discovery found "
                f"{len(found)} instance(s); stats count {stats.num_requests} request(s).")


def run(url: str, say: Say = print) -> None:
    """Run every part of the tour against the server at `url`."""
    core_tour(url, say)
    jetstream_tour(url, say)
    kv_tour(url, say)
    object_store_tour(url, say)
    services_tour(url, say)


def main() -> int:
    with server_url(jetstream=True, say=print) as url:
        run(url)
    print("That's the tour.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
