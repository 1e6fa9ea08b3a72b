"""natsync under gevent: a monkey-patched script doing what a greenlet worker does.

    python examples/gevent_worker.py [nats://host:4222]

`gevent.monkey.patch_all()` comes first, as `gunicorn -k gevent` and `celery -P gevent`
do: natsync's threads then run as greenlets and its sockets are cooperative, so the plain
blocking API works unchanged from many greenlets at once. Without a URL it starts a
nats-server of its own (JetStream on) and also shows a reconnect after a restart.
"""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402  (after patch_all, as gevent requires)
import time  # noqa: E402

import gevent  # noqa: E402

import natsync  # noqa: E402
from natsync.testing import NatsServer  # noqa: E402

GREENLETS = 200


def work(nc: natsync.Client) -> None:
    """Pub/sub with and without a callback, requests from many greenlets, JetStream, KV."""
    seen: list[bytes] = []
    nc.subscribe("demo.cb", cb=lambda m: seen.append(m.data))
    sub = nc.subscribe("demo.sync")
    nc.subscribe("demo.svc", cb=lambda m: m.respond(b"re:" + m.data))
    nc.flush()
    for i in range(100):
        nc.publish("demo.cb", b"%d" % i)
        nc.publish("demo.sync", b"%d" % i)
    assert [sub.next_msg(2).data for _ in range(100)] == [b"%d" % i for i in range(100)]
    deadline = time.monotonic() + 5
    while len(seen) < 100 and time.monotonic() < deadline:
        gevent.sleep(0.01)
    assert len(seen) == 100, len(seen)

    jobs = [gevent.spawn(nc.request, "demo.svc", b"%d" % i, 2) for i in range(GREENLETS)]
    gevent.joinall(jobs, timeout=20)
    answers = [job.value.data for job in jobs if job.successful()]
    assert answers == [b"re:%d" % i for i in range(GREENLETS)], len(answers)

    js = nc.jetstream()
    js.add_stream(name="DEMO", subjects=["demo.js.>"])
    acks = [js.publish("demo.js.order", b"%d" % i) for i in range(20)]
    assert acks[-1].seq == 20
    batch = js.pull_subscribe("demo.js.order", "worker").fetch(20, timeout=2)
    for msg in batch:
        msg.ack()
    assert len(batch) == 20
    kv = js.create_key_value(bucket="demo")
    kv.put("greeting", b"hello")
    assert kv.get("greeting").value == b"hello"
    print(f"pub/sub, {GREENLETS} concurrent requests, JetStream and KV: ok")


def main() -> None:
    if len(sys.argv) > 1:
        with natsync.connect(sys.argv[1]) as nc:
            work(nc)
        return
    with NatsServer(jetstream=True) as server:
        nc = natsync.connect(server.url, reconnect_time_wait=0.1, max_reconnect_attempts=-1)
        work(nc)
        server.restart()  # the reader greenlet notices, reconnects, and requests go on
        nc.flush(10)
        assert nc.is_connected and nc.stats["reconnects"] == 1
        assert nc.request("demo.svc", b"again", timeout=2).data == b"re:again"
        print("reconnected after a server restart: ok")
        nc.close()
    print("closed: ok")


if __name__ == "__main__":
    main()
