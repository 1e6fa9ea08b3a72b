"""JetStream against a real server: management, publishing, pull/push/ordered consumers."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

import natsync
from natsync.errors import ConnectionClosedError, MsgAlreadyAckdError, NotJSMessageError
from natsync.errors import TimeoutError as NatsTimeoutError
from natsync.js import api
from natsync.js.errors import (
    APIError,
    ConsumerDeletedError,
    NotFoundError,
    ServiceUnavailableError,
)
from natsync.js.metadata import parse_metadata
from natsync.testing import NatsServer

from . import js_fixtures
from .conftest import natsync_threads, wait_for

js_server, nc, js = js_fixtures.js_server, js_fixtures.nc, js_fixtures.js  # this module's fixtures


def test_account_info(js: natsync.js.JetStreamContext) -> None:
    info = js.account_info()
    assert isinstance(info, api.AccountInfo)
    assert info.limits is not None


def test_stream_lifecycle(js: natsync.js.JetStreamContext) -> None:
    info = js.add_stream(name="ORDERS", subjects=["orders.>"], max_age=3600.0,
                         duplicate_window=2.5)
    assert info.config.name == "ORDERS" and info.config.max_age == 3600.0
    assert info.config.duplicate_window == 2.5
    assert info.config.retention == api.RetentionPolicy.LIMITS
    cfg = info.config.evolve(description="all orders", subjects=["orders.>", "refunds.>"])
    updated = js.update_stream(cfg)
    assert updated.config.description == "all orders"
    js.publish("orders.1", b"a")
    js.publish("refunds.1", b"b")
    js.publish("orders.2", b"c")
    st = js.stream_info("ORDERS", subjects_filter=">")
    assert st.state.messages == 3 and st.state.subjects == {"orders.1": 1, "refunds.1": 1,
                                                            "orders.2": 1}
    assert js.find_stream_name_by_subject("refunds.9") == "ORDERS"
    assert js.purge_stream("ORDERS", subject="refunds.>")
    assert js.stream_info("ORDERS").state.messages == 2
    assert js.purge_stream("ORDERS", keep=1)
    assert js.stream_info("ORDERS").state.messages == 1
    assert js.delete_stream("ORDERS")
    with pytest.raises(NotFoundError, match="ORDERS"):
        js.stream_info("ORDERS")


def test_missing_stream_and_consumer_errors_name_them(js: natsync.js.JetStreamContext) -> None:
    with pytest.raises(NotFoundError, match="NOPE") as exc:
        js.stream_info("NOPE")
    assert exc.value.code == 404 and exc.value.err_code == 10059
    js.add_stream(name="S", subjects=["s.>"])
    with pytest.raises(NotFoundError, match="ghost"):
        js.consumer_info("S", "ghost")
    with pytest.raises(NotFoundError):
        js.find_stream_name_by_subject("unknown.subject")


def test_paging_returns_every_stream(js: natsync.js.JetStreamContext) -> None:
    for i in range(300):
        js.add_stream(name=f"P{i:03d}", subjects=[f"p.{i}"], storage=api.StorageType.MEMORY)
    names = js.stream_names()
    assert len(names) == 300 and len(set(names)) == 300
    infos = js.streams_info()
    assert sorted(i.config.name for i in infos) == sorted(names)


def test_publish_dedupe_and_expectations(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="D", subjects=["d.>"], duplicate_window=5.0)
    first = js.publish("d.x", b"1", msg_id="abc")
    again = js.publish("d.x", b"1", msg_id="abc")
    assert not first.duplicate and again.duplicate and again.seq == first.seq
    assert first.stream == "D"
    ack = js.publish("d.x", b"2", expected_last_seq=first.seq)
    assert ack.seq == first.seq + 1
    with pytest.raises(APIError) as exc:
        js.publish("d.x", b"3", expected_last_seq=1)
    assert exc.value.err_code == 10071
    with pytest.raises(APIError):
        js.publish("d.y", b"3", expected_stream="OTHER")
    js.publish("d.y", b"4", expected_last_subject_seq=0)
    with pytest.raises(APIError):
        js.publish("d.y", b"5", expected_last_subject_seq=0)
    with pytest.raises(APIError):
        js.publish("d.x", b"6", expected_last_msg_id="wrong")
    js.publish("d.x", b"7", msg_id="last-one")
    assert js.publish("d.x", b"8", expected_last_msg_id="last-one", headers={"k": "v"}).seq > 0


def test_publish_without_stream_is_clear(js: natsync.js.JetStreamContext) -> None:
    with pytest.raises(natsync.js.errors.NoStreamResponseError):
        js.publish("no.stream.here", b"x", timeout=1)


def test_publish_async(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="A", subjects=["a"])
    futures = [js.publish_async("a", b"%d" % i) for i in range(2000)]
    assert js.publish_async_completed(timeout=20)
    assert js.publish_async_pending() == 0
    assert all(f.done() for f in futures)  # completed() means every future is settled
    seqs = [f.result(timeout=0).seq for f in futures]
    assert seqs == list(range(1, 2001))
    bad = js.publish_async("a", b"x", expected_last_seq=1)
    with pytest.raises(APIError):
        bad.result(timeout=5)


def test_publish_async_futures_work_with_the_stdlib_and_survive_cancel(
        js: natsync.js.JetStreamContext) -> None:
    import concurrent.futures as cf

    js.add_stream(name="AF", subjects=["af"])
    futures = [js.publish_async("af", b"%d" % i) for i in range(500)]
    cancelled = sum(f.cancel() for f in futures[::2])  # those still waiting for their ack
    assert js.publish_async_completed(timeout=20)
    done, not_done = cf.wait(futures, timeout=5)
    assert not not_done and sum(f.cancelled() for f in futures) == cancelled
    acks = [f.result() for f in futures if not f.cancelled()]
    assert len(acks) == 500 - cancelled and all(a.stream == "AF" for a in acks)
    # The resolver thread is still at work after settling cancelled futures.
    seen: list[int] = []
    more = [js.publish_async("af", b"x") for _ in range(50)]
    more[-1].add_done_callback(lambda f: seen.append(f.result().seq))
    assert sorted(f.result().seq for f in cf.as_completed(more, timeout=10)) == \
        list(range(501, 551))
    assert seen == [550]
    assert "state=finished returned PubAck" in repr(more[0])


def test_publish_async_failures_window_and_close(js_server: NatsServer) -> None:
    from natsync.js.errors import NoStreamResponseError

    nc = natsync.connect(js_server.url)
    try:
        js = nc.jetstream(publish_async_max_pending=3)
        mute = nc.subscribe("mute")  # takes the publishes and never acks them
        nobody = js.publish_async("nobody.listens")  # 503 no responders
        late = [js.publish_async("mute", b"x", timeout=0.4) for _ in range(3)]
        t0 = time.monotonic()
        blocked = js.publish_async("mute", b"y", timeout=0.4)  # waits for a slot
        assert 0.2 < time.monotonic() - t0 < 5
        assert isinstance(nobody.exception(timeout=5), NoStreamResponseError)
        for f in late:
            assert isinstance(f.exception(timeout=5), NoStreamResponseError)
        wait_for(lambda: mute.pending_msgs == 4, 5, "all four publishes sent")
        in_flight = [js.publish_async("mute", b"z", timeout=30) for _ in range(2)]
    finally:
        nc.close()
    assert isinstance(blocked.exception(timeout=5), (NoStreamResponseError, ConnectionClosedError))
    for f in in_flight:
        assert isinstance(f.exception(timeout=5), ConnectionClosedError)
    assert js.publish_async_pending() == 0
    assert natsync_threads() == []


def test_get_msg_direct_and_not(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="G", subjects=["g.>"], allow_direct=True)
    js.publish("g.a", b"first", headers={"h": "1"})
    js.publish("g.b", b"second")
    js.publish("g.a", b"third")
    for direct in (False, True):
        m = js.get_msg("G", seq=1, direct=direct)
        assert m.data == b"first" and m.subject == "g.a" and m.seq == 1
        assert m.headers is not None and m.headers["h"] == "1"
        last = js.get_last_msg("G", "g.a", direct=direct)
        assert last.data == b"third" and last.seq == 3
        nxt = js.get_msg("G", seq=2, subject="g.a", next=True, direct=direct)
        assert nxt.seq == 3
        with pytest.raises(NotFoundError):
            js.get_msg("G", seq=99, direct=direct)
    assert js.delete_msg("G", 2)
    with pytest.raises(NotFoundError):
        js.get_msg("G", seq=2)


def test_consumer_management_and_pause(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="C", subjects=["c.>"])
    info = js.add_consumer("C", durable_name="worker", ack_policy=api.AckPolicy.EXPLICIT,
                           ack_wait=10.0, filter_subject="c.>", backoff=[1.0, 2.0],
                           max_deliver=5)
    # With a backoff, the server takes ack_wait from its first step.
    assert info.name == "worker" and info.config.ack_wait == 1.0
    assert info.config.backoff == [1.0, 2.0] and info.config.max_deliver == 5
    assert [c.name for c in js.consumers_info("C")] == ["worker"]
    until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    paused = js.pause_consumer("C", "worker", until)
    assert paused.paused
    assert js.consumer_info("C", "worker").paused
    resumed = js.resume_consumer("C", "worker")
    assert not resumed.paused
    assert js.delete_consumer("C", "worker")
    with pytest.raises(NotFoundError):
        js.consumer_info("C", "worker")


def test_pull_fetch_edge_cases(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="W", subjects=["w.>"])
    psub = js.pull_subscribe("w.>", durable="dur")
    start = time.monotonic()
    assert psub.fetch(batch=5, timeout=0.5) == []  # empty: no exception
    assert time.monotonic() - start < 1.5
    for i in range(3):
        js.publish("w.job", b"%d" % i)
    msgs = psub.fetch(batch=10, timeout=1)  # partial batch
    assert [m.data for m in msgs] == [b"0", b"1", b"2"]
    for m in msgs:
        m.ack()
    # After a fetch that timed out, the next one is not confused by the old request.
    assert psub.fetch(batch=1, timeout=0.3) == []
    js.publish("w.job", b"3")
    got = psub.fetch(batch=1, timeout=2)
    assert [m.data for m in got] == [b"3"]
    got[0].ack_sync()
    with pytest.raises(MsgAlreadyAckdError):
        got[0].ack()
    # Heartbeats keep a long fetch alive and never show up as messages.
    assert psub.fetch(batch=1, timeout=1.5, heartbeat=0.2) == []
    info = psub.consumer_info()
    assert info.num_ack_pending == 0 and info.delivered.stream_seq == 4


def test_fetch_when_consumer_deleted(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="X", subjects=["x"])
    psub = js.pull_subscribe("x", durable="gone")
    timer = threading.Timer(0.3, lambda: js.delete_consumer("X", "gone"))
    timer.start()
    try:
        with pytest.raises(ConsumerDeletedError):
            psub.fetch(batch=1, timeout=5)
    finally:
        timer.cancel()
        timer.join(5)  # the puller hears of the deletion before the deleter's reply comes


def test_ack_nak_term_in_progress_effects(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="K", subjects=["k"])
    for i in range(4):
        js.publish("k", b"%d" % i)
    psub = js.pull_subscribe("k", durable="k1", config=api.ConsumerConfig(ack_wait=30.0))
    m0, m1, m2, m3 = psub.fetch(batch=4, timeout=2)
    assert m0.metadata.num_delivered == 1 and m0.metadata.sequence.stream == 1
    assert m3.metadata.num_pending == 0 and m0.metadata.stream == "K"
    assert m0.metadata.consumer == "k1"
    m0.ack()
    m1.nak()
    m2.term("bad input")
    m3.in_progress()
    m3.in_progress()  # may be repeated
    redelivered = psub.fetch(batch=1, timeout=2)
    assert redelivered[0].data == b"1" and redelivered[0].metadata.num_delivered == 2
    redelivered[0].ack_sync()
    m3.ack_sync()
    info = psub.consumer_info()
    assert info.num_ack_pending == 0 and info.num_redelivered == 0
    assert info.ack_floor.stream_seq == 4
    with pytest.raises(NotJSMessageError):
        natsync.Msg(None, "x", "", b"", None).ack()


def test_nak_with_delay(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="N", subjects=["n"])
    js.publish("n", b"later")
    psub = js.pull_subscribe("n", durable="n1")
    psub.fetch(1, 2)[0].nak(delay=0.5)
    assert psub.fetch(1, 0.2) == []
    again = psub.fetch(1, 2)
    assert again and again[0].metadata.num_delivered == 2


def test_simplified_consumer_api(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="SIMPLE", subjects=["simple.>"])
    for i in range(20):
        js.publish("simple.x", b"%d" % i)
    stream = js.stream("SIMPLE")
    consumer = stream.create_consumer(durable_name="c1")
    assert stream.consumer("c1").name == "c1"
    batch = consumer.fetch(max_messages=5, max_wait=1)
    assert [m.data for m in batch] == [b"%d" % i for i in range(5)]
    for m in batch:
        m.ack()
    assert consumer.next(timeout=1).data == b"5"
    got: list[bytes] = []
    with consumer.messages(max_messages=4) as it:
        for msg in it:
            got.append(msg.data)
            msg.ack()
            if len(got) == 14:
                break
    assert got == [b"%d" % i for i in range(6, 20)]
    with pytest.raises(NotFoundError):
        stream.consumer("missing")
    with pytest.raises(NotFoundError):
        js.stream("MISSING")


def test_consume_callback(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="CB", subjects=["cb"])
    consumer = js.stream("CB").create_consumer(durable_name="cbc")
    got: list[bytes] = []
    done = threading.Event()

    def handle(msg: natsync.Msg) -> None:
        got.append(msg.data)
        msg.ack()
        if len(got) == 50:
            done.set()

    ctx = consumer.consume(handle, max_messages=10)
    for i in range(50):
        js.publish("cb", b"%d" % i)
    assert done.wait(10)
    ctx.stop()
    assert ctx.stopped
    assert got == [b"%d" % i for i in range(50)]
    # The server applies acks apart from answering CONSUMER.INFO: the last one may lag.
    wait_for(lambda: consumer.info().num_ack_pending == 0, 5, "every ack applied")


def test_push_subscribe_sync_and_callback(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="PUSH", subjects=["push.>"])
    for i in range(5):
        js.publish("push.a", b"%d" % i)
    sub = js.subscribe("push.a", durable="pd", idle_heartbeat=0.2, flow_control=True)
    got = [sub.next_msg(timeout=2) for _ in range(5)]
    assert [m.data for m in got] == [b"%d" % i for i in range(5)]
    for m in got:
        m.ack()
    time.sleep(0.5)  # heartbeats arrive meanwhile; they are not messages
    with pytest.raises(NatsTimeoutError):
        sub.next_msg(timeout=0.3)
    sub.unsubscribe()

    seen: list[bytes] = []
    done = threading.Event()

    def cb(msg: natsync.Msg) -> None:
        seen.append(msg.data)
        if len(seen) == 5:
            done.set()

    csub = js.subscribe("push.a", cb=cb, deliver_policy=api.DeliverPolicy.ALL)
    assert done.wait(5)
    wait_for(lambda: csub.consumer_info().num_ack_pending == 0, 5, "auto acks")
    csub.unsubscribe()


def test_push_queue_group_spreads_work(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="Q", subjects=["q"])
    counts = {"a": 0, "b": 0}
    lock = threading.Lock()

    def worker(name: str):  # type: ignore[no-untyped-def]
        def handle(msg: natsync.Msg) -> None:
            with lock:
                counts[name] += 1
        return handle

    sa = js.subscribe("q", queue="workers", cb=worker("a"))
    sb = js.subscribe("q", queue="workers", cb=worker("b"))
    assert sa.consumer == sb.consumer == "workers"
    for i in range(200):
        js.publish_async("q", b"%d" % i)
    js.publish_async_completed(10)
    wait_for(lambda: counts["a"] + counts["b"] == 200, 10, "all work done")
    assert counts["a"] > 0 and counts["b"] > 0


def test_ordered_push_consumer(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="ORD", subjects=["ord.>"])
    for i in range(100):
        js.publish_async("ord.x", b"%d" % i)
    js.publish_async_completed(10)
    sub = js.subscribe("ord.>", ordered_consumer=True)
    got = [int(sub.next_msg(timeout=2).data) for _ in range(100)]
    assert got == list(range(100))
    # Delete its consumer behind its back: the heartbeat tells it, and it resumes in order.
    js.delete_consumer("ORD", sub.consumer)
    for i in range(100, 110):
        js.publish("ord.x", b"%d" % i)
    more = [int(sub.next_msg(timeout=20).data) for _ in range(10)]
    assert more == list(range(100, 110))
    sub.unsubscribe()


@pytest.mark.parametrize("raw, expected", [
    (b'{"stream":"A","seq":7}', api.PubAck(stream="A", seq=7, duplicate=False)),
    (b'{"stream":"A","seq":7,"duplicate":true}', api.PubAck(stream="A", seq=7, duplicate=True)),
    (b'{"stream":"A","seq":7,"domain":"hub"}',
     api.PubAck(stream="A", seq=7, domain="hub", duplicate=False)),
    (b'{"seq":7,"stream":"A"}', api.PubAck(stream="A", seq=7)),  # other order: slow path
])
def test_pub_ack_parsing_fast_and_slow_paths(raw: bytes, expected: api.PubAck) -> None:
    from natsync.js.publish import pub_ack

    got = pub_ack(natsync.Msg(None, "_INBOX.x", "", raw, None))
    assert (got.stream, got.seq, got.domain, bool(got.duplicate)) == (
        expected.stream, expected.seq, expected.domain, bool(expected.duplicate))
    with pytest.raises(APIError, match="wrong last"):
        pub_ack(natsync.Msg(None, "_INBOX.x", "",
                            b'{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 1"}}',
                            None))


def test_metadata_parses_v1_and_v2() -> None:
    v1 = parse_metadata("$JS.ACK.ORDERS.worker.3.100.42.1700000000123456789.7")
    assert (v1.stream, v1.consumer, v1.num_delivered) == ("ORDERS", "worker", 3)
    assert (v1.sequence.stream, v1.sequence.consumer, v1.num_pending) == (100, 42, 7)
    assert v1.timestamp.tzinfo is not None and v1.timestamp.year == 2023 and v1.domain is None
    v2 = parse_metadata("$JS.ACK.hub.ACCHASH.ORDERS.worker.3.100.42.1700000000123456789.7.rnd")
    assert v2.domain == "hub" and v2.sequence.stream == 100
    v2none = parse_metadata("$JS.ACK._.ACCHASH.ORDERS.worker.3.100.42.1700000000123456789.7.rnd")
    assert v2none.domain is None
    with pytest.raises(NotJSMessageError):
        parse_metadata("_INBOX.abc")


def test_jetstream_disabled_server_gives_clear_error() -> None:
    with NatsServer() as srv:
        with natsync.connect(srv.url) as nc:
            with pytest.raises(ServiceUnavailableError, match="JetStream"):
                nc.jetstream().account_info()


def test_close_ends_every_jetstream_thread(js_server: NatsServer) -> None:
    from .conftest import natsync_threads

    nc = natsync.connect(js_server.url)
    js = nc.jetstream()
    js.add_stream(name="THREADS", subjects=["threads"])
    js.publish_async("threads", b"x").result(5)
    ctx = js.stream("THREADS").create_consumer(durable_name="t").consume(lambda m: m.ack())
    js.subscribe("threads", ordered_consumer=True, cb=lambda m: None, idle_heartbeat=0.5)
    wait_for(lambda: any(t.name == "natsync-js-ordered" for t in threading.enumerate()), 5)
    js.delete_stream("THREADS")
    nc.close()
    assert ctx.stopped
    assert natsync_threads() == []


def test_ordered_recreate_failure_never_blocks_past_the_timeout(
        js: natsync.js.JetStreamContext, monkeypatch: pytest.MonkeyPatch) -> None:
    from natsync.js.errors import NoStreamResponseError

    js.add_stream(name="OR", subjects=["or"])
    for i in range(3):
        js.publish("or", b"%d" % i)
    ordered = js.stream("OR").ordered_consumer()
    it = ordered.messages(max_messages=10, expires=2, heartbeat=0.2)
    assert [int(it.next(timeout=5).data) for _ in range(3)] == [0, 1, 2]  # type: ignore[union-attr]
    real_add = js.add_consumer
    failing = [True]

    def flaky_add(*args: object, **kwargs: object) -> api.ConsumerInfo:
        if failing[0]:
            raise NoStreamResponseError("injected: JetStream still recovering")
        return real_add(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(js, "add_consumer", flaky_add)
    js.delete_consumer("OR", ordered.name)  # its pull ends with 409 Consumer Deleted
    js.publish("or", b"3")
    start = time.monotonic()
    with pytest.raises(NatsTimeoutError):
        it.next(timeout=1.0)
    assert time.monotonic() - start < 2.5
    failing[0] = False
    msg = it.next(timeout=10)
    assert msg is not None and msg.data == b"3"  # resumed in order, nothing repeated
    it.stop()
