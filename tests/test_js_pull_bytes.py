"""Byte-bounded and no-wait pulls, and the refill points of messages() (ADR-37), against a
real nats-server: on the simplified Consumer and on the legacy PullSubscription."""

from __future__ import annotations

import json
import time
from typing import Any, List

import pytest

import natsync
from natsync.errors import BadArgumentError
from natsync.js.events import ConsumerEvent, ExceededLimits
from natsync.js.pull import BYTES_ONLY_BATCH, wire_size

from . import js_fixtures

js_server, nc, js = js_fixtures.js_server, js_fixtures.nc, js_fixtures.js  # this module's fixtures


def _stream(js: natsync.js.JetStreamContext, count: int, size: int = 100) -> natsync.js.Consumer:
    js.add_stream(name="B", subjects=["b.>"])
    for i in range(count):
        js.publish("b.x", b"%03d" % i + b"." * (size - 3))
    return js.stream("B").create_consumer(durable_name="c")


def _pulls(spy: natsync.Subscription) -> List[dict[str, Any]]:
    """The pull requests the spy saw go to the consumer, in order."""
    out = []
    while spy.pending_msgs:
        out.append(json.loads(spy.next_msg(0).data))
    return out


def test_no_wait_returns_what_is_there_now(js: natsync.js.JetStreamContext) -> None:
    consumer = _stream(js, 3)
    psub = js.pull_subscribe_bind("c", "B")
    start = time.monotonic()
    got = psub.fetch(10, timeout=5, no_wait=True)
    assert len(got) == 3 and time.monotonic() - start < 1.5  # not the 5 s timeout
    for m in got:
        m.ack_sync()
    start = time.monotonic()
    assert consumer.fetch(10, max_wait=5, no_wait=True) == []  # nothing there: at once
    assert time.monotonic() - start < 1.5
    js.publish("b.x", b"late")
    start = time.monotonic()
    assert len(psub.fetch(10, timeout=0.6)) == 1  # without no_wait: waits for the batch
    assert time.monotonic() - start >= 0.4


def test_max_bytes_bounds_a_fetch(js: natsync.js.JetStreamContext) -> None:
    consumer = _stream(js, 6)
    first = consumer.fetch(max_wait=2)  # one message, to learn its size on the wire
    size = wire_size(first[0])
    first[0].ack_sync()
    got = consumer.fetch(max_bytes=size * 2 + size // 2, max_wait=2)  # bytes alone bound it
    assert [m.data[:3] for m in got] == [b"001", b"002"]
    for m in got:
        m.ack_sync()
    psub = js.pull_subscribe_bind("c", "B")
    assert psub.fetch(10, timeout=2, max_bytes=10) == []  # smaller than any message: at once
    got = psub.fetch(10, timeout=2, max_bytes=size * 3 + 1, no_wait=True)
    assert [m.data[:3] for m in got] == [b"003", b"004", b"005"]


def test_messages_refill_at_threshold_messages(nc: natsync.Client,
                                               js: natsync.js.JetStreamContext) -> None:
    consumer = _stream(js, 30, size=10)
    spy = nc.subscribe("$JS.API.CONSUMER.MSG.NEXT.B.c")
    with consumer.messages(max_messages=10, threshold_messages=2) as it:
        for _ in range(8):
            it.next(timeout=2)
        nc.flush()
        assert [p["batch"] for p in _pulls(spy)] == [10]  # 10 asked, 2 still due: not yet
        it.next(timeout=2)  # now only 2 are due: the buffer is topped up by 8
        nc.flush()
        assert [p["batch"] for p in _pulls(spy)] == [8]


def test_messages_bounded_by_bytes(nc: natsync.Client, js: natsync.js.JetStreamContext) -> None:
    consumer = _stream(js, 20)
    spy = nc.subscribe("$JS.API.CONSUMER.MSG.NEXT.B.c")
    with consumer.messages(max_bytes=1000, threshold_bytes=400) as it:
        got = [it.next(timeout=3).data[:3] for _ in range(20)]
    assert got == [b"%03d" % i for i in range(20)]  # 2.8 kB through a 1 kB buffer, in order
    nc.flush()
    pulls = _pulls(spy)
    assert pulls[0]["batch"] == BYTES_ONLY_BATCH and pulls[0]["max_bytes"] == 1000
    assert len(pulls) >= 3 and all(0 < p["max_bytes"] <= 1000 for p in pulls)
    assert all(p["max_bytes"] >= 600 for p in pulls)  # refilled only below 400 bytes due


def test_a_message_larger_than_max_bytes_is_reported_without_a_busy_loop(
        nc: natsync.Client, js: natsync.js.JetStreamContext) -> None:
    consumer = _stream(js, 1, size=500)
    spy = nc.subscribe("$JS.API.CONSUMER.MSG.NEXT.B.c")
    events: List[ConsumerEvent] = []
    with consumer.messages(max_bytes=200, status_cb=events.append) as it:
        with pytest.raises(natsync.errors.TimeoutError):
            it.next(timeout=1)
    nc.flush()
    assert any(isinstance(e, ExceededLimits) and "larger than max_bytes" in e.description
               for e in events)
    assert 2 <= len(_pulls(spy)) <= 8  # one pull per pause, not thousands


@pytest.mark.parametrize("kwargs,match", [
    ({"max_messages": 10, "max_bytes": 1000}, "not both"),
    ({"max_messages": 10, "threshold_messages": 11}, "threshold_messages must be an int from 0 to 10"),
    ({"threshold_bytes": 10}, "threshold_bytes needs max_bytes"),
    ({"max_bytes": 1000, "threshold_messages": 5}, "threshold_messages needs max_messages"),
    ({"max_bytes": 0}, "max_bytes must be a positive int"),
    ({"max_messages": True}, "max_messages must be a positive int"),
])
def test_bad_consume_limits_are_refused(js: natsync.js.JetStreamContext, kwargs: dict[str, Any],
                                        match: str) -> None:
    consumer = _stream(js, 0)
    with pytest.raises(BadArgumentError, match=match):
        consumer.messages(**kwargs)
    with pytest.raises(BadArgumentError, match=match):
        consumer.consume(lambda m: None, **kwargs)


def test_bad_fetch_limits_are_refused(js: natsync.js.JetStreamContext) -> None:
    consumer = _stream(js, 0)
    psub = js.pull_subscribe_bind("c", "B")
    with pytest.raises(BadArgumentError, match="batch must be a positive int, got 0"):
        psub.fetch(0)
    with pytest.raises(BadArgumentError, match="max_bytes must be a positive int, got -1"):
        psub.fetch(max_bytes=-1)
    with pytest.raises(BadArgumentError, match="max_messages must be a positive int, got '5'"):
        consumer.fetch("5")  # type: ignore[arg-type]
