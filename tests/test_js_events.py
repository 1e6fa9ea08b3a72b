"""Consumer events (natsync.js.events) against real nats-servers: 409s, missed heartbeats,
ordered re-creations, priority-group pins, and a leadership change in a 3-node cluster."""

from __future__ import annotations

import threading
import time
from typing import List, Optional

import pytest

import natsync
from natsync.errors import BadArgumentError
from natsync.errors import TimeoutError as NatsTimeoutError
from natsync.js import api
from natsync.js.errors import ConsumerDeletedError
from natsync.js.events import (
    ConsumerDeleted,
    ConsumerEvent,
    ConsumerPinned,
    ConsumerUnpinned,
    ExceededLimits,
    HeartbeatsMissed,
    LeadershipChanged,
    OrderedConsumerRecreated,
)
from natsync.msg import Msg
from natsync.testing import FaultProxy, NatsCluster

from . import js_fixtures
from .conftest import wait_for

js_server, nc, js = js_fixtures.js_server, js_fixtures.nc, js_fixtures.js  # this module's fixtures


def _drain(events: natsync.js.events.EventStream) -> List[ConsumerEvent]:
    out = []
    while events.pending:
        got = events.next(timeout=0)
        assert got is not None
        out.append(got)
    return out


def test_exceeded_limits_reach_status_iterators(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="E", subjects=["e.>"])
    consumer = js.stream("E").create_consumer(durable_name="c", max_batch=2)
    psub = js.pull_subscribe_bind("c", "E")
    with consumer.status() as mine, psub.status() as legacy:
        assert consumer.fetch(5, max_wait=1) == [] and psub.fetch(5, timeout=1) == []
        for events in (mine, legacy):
            event = events.next(timeout=1)
            assert isinstance(event, ExceededLimits) and event.code == 409
            assert event.description == "Exceeded MaxRequestBatch of 2"
            assert (event.stream, event.consumer) == ("E", "c")
    assert mine.next(timeout=0) is None  # closed: the iteration is over


def test_consumer_deleted_is_an_event_then_the_error(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="D", subjects=["d.>"])
    consumer = js.stream("D").create_consumer(durable_name="c")
    seen: List[ConsumerEvent] = []
    it = consumer.messages(status_cb=seen.append)
    with pytest.raises(NatsTimeoutError):
        it.next(timeout=0.3)  # a pull is waiting now
    js.delete_consumer("D", "c")
    with pytest.raises(ConsumerDeletedError):
        it.next(timeout=3)
    assert [type(e) for e in seen] == [ConsumerDeleted]
    it.stop()


def test_ordered_consumer_recreation_says_from_which_sequence(
        js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="O", subjects=["o.>"])
    for i in range(3):
        js.publish("o.x", b"%d" % i)
    ordered = js.stream("O").ordered_consumer()
    first = ordered.name
    with ordered.status() as events, ordered.messages() as it:
        assert [it.next(timeout=2).data for _ in range(3)] == [b"0", b"1", b"2"]
        with pytest.raises(NatsTimeoutError):
            it.next(timeout=0.3)
        js.delete_consumer("O", first)  # the waiting pull gets 409 Consumer Deleted
        js.publish("o.x", b"3")
        assert it.next(timeout=5).data == b"3"
        got = _drain(events)
    recreated = [e for e in got if isinstance(e, OrderedConsumerRecreated)]
    assert len(recreated) == 1 and isinstance(got[0], ConsumerDeleted)
    assert recreated[0].previous == first and recreated[0].consumer == ordered.name != first
    assert recreated[0].start_seq == 4 and recreated[0].reason == "deleted"


def test_pinned_and_unpinned_say_who_holds_the_pin(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="P", subjects=["p.>"])
    stream = js.stream("P")
    stream.create_consumer(durable_name="c", priority_groups=["jobs"],
                           priority_policy=api.PriorityPolicy.PINNED_CLIENT,
                           priority_timeout=30)
    for i in range(4):
        js.publish("p.x", b"%d" % i)
    first, second = stream.consumer("c"), stream.consumer("c")
    with first.status() as events:
        for m in first.fetch(2, max_wait=2, group="jobs"):
            m.ack_sync()
        pinned = events.next(timeout=1)
        assert isinstance(pinned, ConsumerPinned) and pinned.group == "jobs"
        assert js.consumer_info("P", "c").priority_groups[0].pinned_client_id == pinned.pin_id  # type: ignore[index]
        js.unpin_consumer("P", "c", "jobs")
        assert len(second.fetch(2, max_wait=3, group="jobs")) == 2  # the pin moved on
        assert first.fetch(1, max_wait=0.5, group="jobs") == []  # its old pin: a 423
        unpinned = events.next(timeout=1)
        assert isinstance(unpinned, ConsumerUnpinned)
        assert unpinned.pin_id == pinned.pin_id and unpinned.group == "jobs"
        assert unpinned.ts >= pinned.ts


def test_missed_heartbeats_are_reported(js_server: natsync.testing.NatsServer,
                                        js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="H", subjects=["h.>"])
    js.add_consumer("H", durable_name="c")
    with FaultProxy(js_server) as proxy:
        client = natsync.connect(proxy.url)
        try:
            consumer = client.jetstream().stream("H").consumer("c")
            with consumer.messages(expires=2, heartbeat=0.3) as it, consumer.status() as events:
                with pytest.raises(NatsTimeoutError):
                    it.next(timeout=0.5)  # heartbeats flow: nothing to report
                assert events.pending == 0
                with proxy.blackhole("down"):  # the server's heartbeats vanish
                    with pytest.raises(NatsTimeoutError):
                        it.next(timeout=1.2)
                missed = events.next(timeout=0)
                assert isinstance(missed, HeartbeatsMissed) and missed.count >= 2
                js.publish("h.x", b"after")
                assert it.next(timeout=5).data == b"after"  # pulled again, and served
        finally:
            client.close()


def test_status_iterators_are_bounded_and_listeners_isolated(
        js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="Q", subjects=["q.>"])
    consumer = js.stream("Q").create_consumer(durable_name="c", max_batch=1)
    with pytest.raises(BadArgumentError, match="max_pending must be a positive int"):
        consumer.status(max_pending=0)
    with pytest.raises(BadArgumentError, match="status_cb must be callable"):
        consumer.messages(status_cb="print")  # type: ignore[arg-type]

    def broken(event: ConsumerEvent) -> None:
        raise RuntimeError("a listener that fails")

    with consumer.status(max_pending=2) as events:
        it = consumer.messages(max_messages=5, status_cb=broken)  # refused at once: 409s
        with pytest.raises(NatsTimeoutError):
            it.next(timeout=0.9)  # one refused pull per pause; the failing listener is kept
        it.stop()
        assert events.pending == 2 and events.dropped >= 1
        assert all(isinstance(e, ExceededLimits) for e in _drain(events))


def test_leadership_change_in_a_cluster() -> None:
    with NatsCluster(size=3, jetstream=True, name="lead") as cluster:
        client = natsync.connect(cluster.urls)
        try:
            js = client.jetstream()
            js.add_stream(name="L", subjects=["l.>"], num_replicas=3)
            consumer = js.stream("L").create_consumer(durable_name="c", num_replicas=3)

            def settled() -> bool:  # on a loaded machine a new R3 stream takes a while
                stream = js.stream_info("L").cluster
                group = js.consumer_info("L", "c").cluster
                return bool(stream and stream.leader and stream.replicas
                            and all(r.current for r in stream.replicas)
                            and group and group.leader)

            wait_for(settled, timeout=20, what="the stream's and the consumer's leaders")
            seen: List[ConsumerEvent] = []
            got: List[Optional[Msg]] = []
            with consumer.messages(max_messages=10, status_cb=seen.append) as it:
                js.publish("l.x", b"before")
                assert it.next(timeout=5).data == b"before"
                reader = threading.Thread(target=lambda: got.append(it.next(timeout=15)))
                reader.start()
                time.sleep(0.3)  # its pull waits on the leader
                client.request("$JS.API.CONSUMER.LEADER.STEPDOWN.L.c", b"", timeout=5)
                wait_for(lambda: bool(seen), timeout=5, what="a leadership change event")
                js.publish("l.x", b"after")
                reader.join(15)
            assert isinstance(seen[0], LeadershipChanged) and seen[0].consumer == "c"
            assert got and got[0] is not None and got[0].data == b"after"  # served by the new leader
        finally:
            client.close()


def test_ordered_push_subscription_reports_its_recreation(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="R", subjects=["r.>"])
    js.publish("r.x", b"0")
    sub = js.subscribe("r.>", ordered_consumer=True, idle_heartbeat=0.3)
    with sub.status() as events:
        assert sub.next_msg(timeout=2).data == b"0"
        first = sub.consumer
        js.delete_consumer("R", first)  # its heartbeats stop
        js.publish("r.x", b"1")
        assert sub.next_msg(timeout=5).data == b"1"  # re-created after three silent beats
        missed, recreated = events.next(timeout=1), events.next(timeout=1)
    assert isinstance(missed, HeartbeatsMissed) and missed.consumer == first
    assert isinstance(recreated, OrderedConsumerRecreated) and recreated.previous == first
    assert recreated.reason == "heartbeat" and recreated.start_seq == 2
    sub.unsubscribe()
