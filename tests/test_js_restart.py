"""JetStream consumers across a server restart (file store), and interop with nats-py."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

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


def _publish_retrying(url: str, subject: str, start: int, stop: int) -> None:
    """Publish `start..stop-1` with msg ids, retrying each (the server may still be recovering)."""
    with natsync.connect(url, **FAST) as pub:
        js = pub.jetstream()
        for i in range(start, stop):
            for attempt in range(50):
                try:
                    js.publish(subject, b"%d" % i, msg_id=f"m{i}", timeout=1)
                    break
                except natsync.errors.Error:
                    if attempt == 49:
                        raise
                    time.sleep(0.1)


@pytest.mark.parametrize("outage", ["restart", "kill"])
def test_ack_sync_loop_on_default_consumer_across_restart(outage: str) -> None:
    """A consumer made with no ack policy, read with messages() and ack_sync(), across a
    server restart (SIGTERM) or crash (SIGKILL). Every sequence is delivered; a message is
    delivered again only with num_delivered > 1 and only while not yet ack_sync'd.

    After a SIGKILL the server may lose the acks it confirmed just before (the consumer's
    state is written in the background, even with sync_interval always), so there the
    rule is enforced for the messages published after the restart only.
    """
    boundary = TOTAL // 2  # stream sequences up to here were published before the outage
    conf = {"jetstream": {"sync_interval": "always"}}
    with NatsServer(jetstream=True, config=conf) as srv:
        nc = natsync.connect(srv.url, **FAST)
        try:
            js = nc.jetstream()
            js.add_stream(name="WORK", subjects=["work"], storage=api.StorageType.FILE)
            js.add_consumer("WORK", durable_name="worker", ack_wait=2.0)
            _publish_retrying(srv.url, "work", 0, boundary)
            acked: set[int] = set()  # stream sequences whose ack_sync succeeded
            unsure: set[int] = set()  # ack_sync failed: the server may or may not have it
            seq_of: dict[int, int] = {}  # payload -> stream sequence
            lost_acks: set[int] = set()  # acked before a SIGKILL, delivered again after it
            late = threading.Thread(target=_publish_retrying, args=(srv.url, "work", boundary, TOTAL))
            deadline = time.monotonic() + 90
            with js.stream("WORK").consumer("worker").messages(
                    max_messages=50, expires=5, heartbeat=0.5) as it:
                for _ in range(TOTAL * 3):
                    # Once all were seen, keep reading past the ack wait: only messages
                    # whose ack_sync failed may still be redelivered.
                    done = len(acked | unsure) == TOTAL
                    remaining = deadline - time.monotonic()
                    assert remaining > 0, f"only {len(acked)} of {TOTAL} acked in time"
                    try:
                        msg = it.next(timeout=3.0 if done else remaining)
                    except natsync.errors.TimeoutError:
                        if done:
                            break
                        raise
                    assert msg is not None
                    seq, n = msg.metadata.sequence.stream, int(msg.data)
                    strict = outage == "restart" or seq > boundary
                    if strict:
                        assert seq not in acked, f"seq {seq} delivered again after ack_sync"
                        assert msg.metadata.num_delivered > 1 or seq not in seq_of.values(), \
                            f"seq {seq} repeated as a first delivery"
                    elif seq in acked:
                        lost_acks.add(seq)
                    assert seq_of.setdefault(n, seq) == seq, f"payload {n} stored twice"
                    try:
                        msg.ack_sync(timeout=1)
                    except natsync.errors.Error as exc:
                        unsure.add(seq)  # e.g. the server was down: redelivery is allowed
                        # At most the messages in flight during the outage may fail.
                        assert len(unsure) <= 100, f"ack_sync keeps failing: {exc!r}"
                    else:
                        acked.add(seq)
                        unsure.discard(seq)
                    if len(acked) == TOTAL // 4 and late.ident is None:
                        if outage == "kill":
                            srv.kill()
                            srv.start()
                        else:
                            srv.restart()
                        late.start()  # everything from here on is published after the outage
            late.join(30)
            assert sorted(seq_of) == list(range(TOTAL))
            assert sorted(seq_of.values()) == list(range(1, TOTAL + 1))
            assert nc.stats["reconnects"] >= 1
            info = js.consumer_info("WORK", "worker")
            assert info.num_ack_pending == 0 and info.num_pending == 0
            assert info.ack_floor.stream_seq == TOTAL
            print(f"\n{outage}: ack_sync failed for {len(unsure)}, acks lost by the server "
                  f"for {len(lost_acks)}")
        finally:
            nc.close()
