"""Pull consumer priority groups (ADR-42) and consumer reset against a real nats-server."""

from __future__ import annotations

import threading
import time
from typing import List

import pytest

import natsync
from natsync.errors import BadArgumentError
from natsync.js import api
from natsync.js.consumer import Consumer
from natsync.js.errors import (
    BadPullRequestError,
    BadRequestError,
    ConsumerNotFoundError,
    StreamNotFoundError,
)
from natsync.js.priority import PIN_HEADER
from natsync.msg import Msg

from . import js_fixtures
from .conftest import wait_for

js_server, nc, js = js_fixtures.js_server, js_fixtures.nc, js_fixtures.js  # this module's fixtures


def _pinned(js: natsync.js.JetStreamContext, timeout: float = 30.0) -> natsync.js.Stream:
    js.add_stream(name="W", subjects=["w.>"])
    stream = js.stream("W")
    stream.create_consumer(durable_name="C", priority_groups=["jobs"],
                           priority_policy=api.PriorityPolicy.PINNED_CLIENT,
                           priority_timeout=timeout)
    return stream


def _pins(msgs: List[Msg]) -> set[str]:
    return {m.headers.get(PIN_HEADER, "") if m.headers is not None else "" for m in msgs}


def _ack_all(msgs: List[Msg]) -> List[int]:
    for m in msgs:
        m.ack_sync()
    return [m.metadata.sequence.stream for m in msgs]


def test_priority_fields_round_trip_through_the_server(js: natsync.js.JetStreamContext) -> None:
    stream = _pinned(js, timeout=12.5)
    info = stream.consumer("C").info()
    assert info.config.priority_groups == ["jobs"]
    assert info.config.priority_policy == api.PriorityPolicy.PINNED_CLIENT
    assert info.config.priority_timeout == 12.5
    again = js.add_consumer("W", info.config)  # identical config: accepted as is
    assert again.config.priority_timeout == 12.5


def test_pinned_client_only_one_worker_receives_until_unpinned(
        js: natsync.js.JetStreamContext) -> None:
    stream = _pinned(js)
    for i in range(8):
        js.publish("w.job", b"%d" % i)
    first, second = stream.consumer("C"), stream.consumer("C")  # two independent pullers

    got = first.fetch(3, max_wait=2, group="jobs")
    assert len(got) == 3 and len(_pins(got)) == 1
    pin = _pins(got).pop()
    assert js.consumer_info("W", "C").priority_groups[0].pinned_client_id == pin  # type: ignore[index]
    assert second.fetch(2, max_wait=0.8, group="jobs") == []  # not pinned: nothing for it
    more = first.fetch(2, max_wait=2, group="jobs")
    assert len(more) == 2 and _pins(more) == {pin}  # the pin is sent back and honoured
    seen = _ack_all(got + more)

    assert js.unpin_consumer("W", "C", "jobs")
    taken = second.fetch(2, max_wait=3, group="jobs")
    assert len(taken) == 2 and _pins(taken) != {pin}
    # The first worker's old pin gets a 423; it drops the pin, asks again, and gets
    # nothing while the second one holds the pin.
    assert first.fetch(1, max_wait=0.8, group="jobs") == []
    seen += _ack_all(taken)
    assert sorted(seen) == list(range(1, 8))


def test_pin_passes_to_the_other_worker_after_priority_timeout(
        js: natsync.js.JetStreamContext) -> None:
    stream = _pinned(js, timeout=1.0)
    for i in range(4):
        js.publish("w.job", b"%d" % i)
    first, second = stream.consumer("C"), stream.consumer("C")
    got = first.fetch(2, max_wait=2, group="jobs")
    assert len(got) == 2
    _ack_all(got)
    # The first worker stops pulling: after priority_timeout the pin is released and the
    # second worker's waiting pull is served.
    started = time.monotonic()
    taken = second.fetch(2, max_wait=5, group="jobs")
    assert len(taken) == 2 and _pins(taken).isdisjoint(_pins(got))
    assert time.monotonic() - started > 0.5
    assert sorted(_ack_all(taken)) == [3, 4]


def test_messages_stream_repins_after_unpin_without_loss_or_duplicates(
        js: natsync.js.JetStreamContext) -> None:
    stream = _pinned(js)
    consumer = stream.consumer("C")
    for i in range(5):
        js.publish("w.job", b"%d" % i)
    seqs: List[int] = []
    pins: set[str] = set()
    with consumer.messages(max_messages=4, expires=2, group="jobs") as it:
        deadline = time.monotonic() + 15
        while len(seqs) < 10 and time.monotonic() < deadline:
            msg = it.next(timeout=max(0.1, deadline - time.monotonic()))
            assert msg is not None
            msg.ack_sync()
            seqs.append(msg.metadata.sequence.stream)
            pins |= _pins([msg])
            if len(seqs) == 5:
                js.unpin_consumer("W", "C", "jobs")
                for i in range(5, 10):
                    js.publish("w.job", b"%d" % i)
    assert seqs == list(range(1, 11))
    assert len(pins) == 2  # re-pinned once after the unpin


def test_consume_with_a_pinned_group(js: natsync.js.JetStreamContext) -> None:
    stream = _pinned(js)
    for i in range(6):
        js.publish("w.job", b"%d" % i)
    got: List[int] = []
    ctx = stream.consumer("C").consume(lambda m: (m.ack(), got.append(int(m.data))),
                                       expires=2, group="jobs")
    try:
        wait_for(lambda: len(got) == 6, timeout=10, what="six messages")
        # A second worker of the group gets nothing while consume() holds the pin.
        assert stream.consumer("C").fetch(1, max_wait=0.8, group="jobs") == []
    finally:
        ctx.stop()
    assert got == list(range(6))


def test_legacy_pull_subscribe_fetch_takes_the_group(js: natsync.js.JetStreamContext) -> None:
    _pinned(js)
    js.publish("w.job", b"x")
    psub = js.pull_subscribe_bind("C", "W")
    msgs = psub.fetch(1, timeout=2, group="jobs")
    assert len(msgs) == 1 and _pins(msgs) != {""}
    with pytest.raises(BadArgumentError, match="nope"):
        psub.fetch(1, timeout=1, group="nope")


def test_overflow_serves_only_once_min_pending_is_reached(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="O", subjects=["o"])
    stream = js.stream("O")
    consumer = stream.create_consumer(durable_name="C", priority_groups=["g"],
                                      priority_policy=api.PriorityPolicy.OVERFLOW)
    for i in range(5):
        js.publish("o", b"%d" % i)
    assert consumer.fetch(1, max_wait=0.8, group="g", min_pending=10) == []  # only 5 pending
    got = consumer.fetch(2, max_wait=2, group="g", min_pending=3)
    assert [int(m.data) for m in got] == [0, 1]
    # Two messages now wait for their ack: an overflow worker asking for min_ack_pending 2 is served.
    more = consumer.fetch(1, max_wait=2, group="g", min_ack_pending=2)
    assert [int(m.data) for m in more] == [2]
    assert consumer.fetch(1, max_wait=2, group="g")[0].data == b"3"  # no threshold: always served


def test_prioritized_serves_the_lowest_priority_first(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="P", subjects=["p"])
    stream = js.stream("P")
    stream.create_consumer(durable_name="C", priority_groups=["g"],
                           priority_policy=api.PriorityPolicy.PRIORITIZED)
    results: dict[str, List[bytes]] = {}

    def pull(name: str, priority: int) -> None:
        msgs = stream.consumer("C").fetch(1, max_wait=6, group="g", priority=priority)
        results[name] = [m.data for m in msgs]

    low = threading.Thread(target=pull, args=("low", 7))
    low.start()
    wait_for(lambda: js.consumer_info("P", "C").num_waiting == 1, what="the first pull")
    high = threading.Thread(target=pull, args=("high", 0))
    high.start()
    wait_for(lambda: js.consumer_info("P", "C").num_waiting == 2, what="the second pull")
    js.publish("p", b"first")
    high.join(5)
    assert results.get("high") == [b"first"] and "low" not in results
    js.publish("p", b"second")
    low.join(5)
    assert results.get("low") == [b"second"]


def test_bad_priority_arguments_are_refused(js: natsync.js.JetStreamContext) -> None:
    stream = _pinned(js)
    js.add_consumer("W", durable_name="plain", ack_policy=api.AckPolicy.EXPLICIT)
    pinned = stream.consumer("C")
    with pytest.raises(BadArgumentError, match="priority must be an int from 0 to 9"):
        pinned.fetch(1, group="jobs", priority=10)
    with pytest.raises(BadArgumentError, match="0 to 9"):
        pinned.messages(group="jobs", priority=-1)
    with pytest.raises(BadArgumentError, match="need a group"):
        pinned.next(min_pending=3)
    with pytest.raises(BadArgumentError, match="overflow"):
        pinned.fetch(1, group="jobs", min_pending=3)
    with pytest.raises(BadArgumentError, match="invalid priority group"):
        pinned.fetch(1, group="much-too-long-group-name")
    with pytest.raises(BadArgumentError, match="no priority groups"):
        stream.consumer("plain").fetch(1, group="jobs")
    with pytest.raises(BadArgumentError, match="not one of"):
        pinned.consume(lambda m: None, group="other")


def test_the_servers_refusal_is_a_typed_error(js: natsync.js.JetStreamContext) -> None:
    _pinned(js)
    unchecked = Consumer(js, "W", "C")  # a handle that never saw the consumer's config
    with pytest.raises(BadPullRequestError, match="Invalid Priority Group") as exc:
        unchecked.fetch(1, max_wait=2, group="other")
    assert exc.value.code == 400
    with pytest.raises(BadPullRequestError, match="Priority Group missing"):
        unchecked.fetch(1, max_wait=2)
    with unchecked.messages(expires=2, group="other") as it:
        with pytest.raises(BadPullRequestError):
            it.next(timeout=3)


def test_unpin_errors(js: natsync.js.JetStreamContext) -> None:
    _pinned(js)
    with pytest.raises(BadRequestError, match="priority group"):
        js.unpin_consumer("W", "C", "other")
    with pytest.raises(ConsumerNotFoundError):
        js.unpin_consumer("W", "ghost", "jobs")
    with pytest.raises(BadArgumentError, match="invalid priority group"):
        js.unpin_consumer("W", "C", "")


def test_reset_consumer_redelivers_from_a_sequence(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="R", subjects=["r"])
    consumer = js.stream("R").create_consumer(durable_name="C")
    for i in range(5):
        js.publish("r", b"%d" % i)
    _ack_all(consumer.fetch(5, max_wait=2))
    assert consumer.info().num_pending == 0
    info = js.reset_consumer("R", "C", seq=2)
    assert isinstance(info, api.ConsumerInfo) and info.reset_seq == 2
    assert info.name == "C" and info.num_pending == 4
    again = consumer.fetch(4, max_wait=2)
    assert [m.metadata.sequence.stream for m in again] == [2, 3, 4, 5]
    again[0].ack_sync()  # ack floor: stream seq 2
    floor = js.reset_consumer("R", "C")  # back to just after the ack floor
    assert floor.reset_seq == 3
    assert [m.metadata.sequence.stream for m in consumer.fetch(3, max_wait=2)] == [3, 4, 5]


def test_reset_consumer_errors(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="R", subjects=["r"])
    js.add_consumer("R", durable_name="late", deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                    opt_start_seq=10, ack_policy=api.AckPolicy.EXPLICIT)
    started = time.monotonic()
    with pytest.raises(ConsumerNotFoundError, match="ghost"):
        js.reset_consumer("R", "ghost")
    assert time.monotonic() - started < 2  # refused at once, not after the API timeout
    with pytest.raises(StreamNotFoundError):
        js.reset_consumer("NOPE", "C")
    with pytest.raises(BadArgumentError, match="seq"):
        js.reset_consumer("R", "late", seq=0)
    with pytest.raises(BadRequestError, match="below start seq"):
        js.reset_consumer("R", "late", seq=3)
