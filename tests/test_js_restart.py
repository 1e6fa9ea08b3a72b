"""JetStream consumers across a server restart (file store), and interop with nats-py."""

from __future__ import annotations

import asyncio
import threading
import time

import natsync
from natsync.js import api
from natsync.testing import NatsServer

FAST = {"reconnect_time_wait": 0.1, "reconnect_jitter": 0.0, "max_reconnect_attempts": -1}
TOTAL = 600


def _publish_all(srv_url: str, subject: str, start: int, stop: int) -> None:
    with natsync.connect(srv_url, **FAST) as pub:
        js = pub.jetstream()
        for i in range(start, stop):
            js.publish(subject, b"%d" % i, msg_id=f"m{i}")


def test_pull_messages_loop_survives_restart() -> None:
    with NatsServer(jetstream=True) as srv:
        nc = natsync.connect(srv.url, **FAST)
        try:
            js = nc.jetstream()
            js.add_stream(name="JOBS", subjects=["jobs"])
            consumer = js.stream("JOBS").create_consumer(durable_name="worker", ack_wait=2.0)
            _publish_all(srv.url, "jobs", 0, TOTAL // 2)
            seen: dict[int, int] = {}
            restarted = threading.Event()
            with consumer.messages(max_messages=50, expires=5, heartbeat=0.5) as it:
                for msg in it:
                    n = int(msg.data)
                    seen[n] = max(seen.get(n, 0), msg.metadata.num_delivered)
                    if seen.get(n, 0) > 1 and msg.metadata.num_delivered == 1:
                        raise AssertionError(f"message {n} delivered twice as new")
                    msg.ack()
                    if len(seen) == TOTAL // 4 and not restarted.is_set():
                        srv.restart()
                        restarted.set()
                        threading.Thread(target=_publish_all,
                                         args=(srv.url, "jobs", TOTAL // 2, TOTAL)).start()
                    if len(seen) == TOTAL:
                        break
            assert sorted(seen) == list(range(TOTAL))
            assert nc.stats["reconnects"] >= 1
            redelivered = sorted(n for n, d in seen.items() if d > 1)
            print(f"\nredelivered after restart: {len(redelivered)} (acks lost in flight)")
        finally:
            nc.close()


def test_ordered_consumer_exactly_once_across_restart() -> None:
    with NatsServer(jetstream=True) as srv:
        nc = natsync.connect(srv.url, **FAST)
        try:
            js = nc.jetstream()
            js.add_stream(name="LOG", subjects=["log.>"])
            _publish_all(srv.url, "log.x", 0, TOTAL)
            ordered = js.stream("LOG").ordered_consumer()
            got: list[int] = []
            with ordered.messages(max_messages=25, expires=5, heartbeat=0.5) as it:
                for msg in it:
                    got.append(int(msg.data))
                    if len(got) == TOTAL // 3:
                        srv.restart()
                    if len(got) == TOTAL:
                        break
            assert got == list(range(TOTAL))
            # The push flavour, too.
            sub = js.subscribe("log.>", ordered_consumer=True, idle_heartbeat=0.5)
            pushed: list[int] = []
            deadline = time.monotonic() + 60
            while len(pushed) < TOTAL and time.monotonic() < deadline:
                pushed.append(int(sub.next_msg(timeout=30).data))
                if len(pushed) == TOTAL // 2:
                    srv.restart()
            assert pushed == list(range(TOTAL))
        finally:
            nc.close()


def test_interop_with_nats_py(nats_url: str) -> None:
    import nats  # nats-py, the asyncio client

    with natsync.connect(nats_url) as nc:
        js = nc.jetstream()
        js.add_stream(name="INTEROP", subjects=["interop.>"])
        for i in range(5):
            js.publish("interop.from-natsync", b"natsync %d" % i, headers={"Origin": "natsync"})

        async def other_side() -> list[tuple[bytes, str]]:
            anc = await nats.connect(nats_url)
            ajs = anc.jetstream()
            for i in range(5):
                await ajs.publish("interop.from-natspy", b"nats-py %d" % i)
            psub = await ajs.pull_subscribe("interop.from-natsync", durable="pyreader")
            msgs = await psub.fetch(5, timeout=5)
            out = []
            for m in msgs:
                out.append((m.data, (m.headers or {}).get("Origin", "")))
                await m.ack()
            await anc.close()
            return out

        received = asyncio.run(other_side())
        assert received == [(b"natsync %d" % i, "natsync") for i in range(5)]
        psub = js.pull_subscribe("interop.from-natspy", durable="syncreader")
        msgs = psub.fetch(5, timeout=5)
        assert [m.data for m in msgs] == [b"nats-py %d" % i for i in range(5)]
        info = js.consumer_info("INTEROP", "pyreader")
        assert info.num_ack_pending == 0
        assert info.config.ack_policy == api.AckPolicy.EXPLICIT
