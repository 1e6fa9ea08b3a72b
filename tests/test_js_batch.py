"""Batch and multi-last Direct Get (ADR-31) and delete-marker reasons (ADR-43), on a real server."""

from __future__ import annotations

import datetime as dt
import time

import pytest

import natsync
from natsync.errors import BadArgumentError
from natsync.errors import TimeoutError as NatsTimeoutError
from natsync.js import api
from natsync.js.errors import DirectGetNotAllowedError

from . import js_fixtures

js_server, nc, js = js_fixtures.js_server, js_fixtures.nc, js_fixtures.js  # this module's fixtures


def _fill(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="B", subjects=["b.>"], allow_direct=True)
    for i in range(12):
        js.publish(f"b.{i % 3}", b"%d" % i, headers={"n": str(i)})


def test_get_batch_streams_stored_messages(js: natsync.js.JetStreamContext) -> None:
    _fill(js)
    it = js.get_batch("B", batch=5, start_seq=3)
    assert iter(it) is it  # an iterator, read as the messages come in
    got = list(it)
    assert [m.seq for m in got] == [3, 4, 5, 6, 7]
    assert [m.data for m in got] == [b"2", b"3", b"4", b"5", b"6"]
    first = got[0]
    assert isinstance(first, api.RawStreamMsg) and first.subject == "b.2" and first.stream == "B"
    assert first.headers is not None and first.headers.get("n") == "2"
    assert "Nats-Num-Pending" not in first.headers  # batch bookkeeping is not the message's
    assert first.time is not None and first.time.tzinfo is not None
    assert [m.seq for m in js.get_batch("B", subject="b.1", batch=100)] == [2, 5, 8, 11]
    assert [m.seq for m in js.get_batch("B", subject="b.1", batch=2, start_seq=6)] == [8, 11]
    assert [m.seq for m in js.get_batch("B", batch=100)] == list(range(1, 13))


def test_get_batch_limits_and_start_time(js: natsync.js.JetStreamContext) -> None:
    _fill(js)
    time.sleep(0.05)
    cut = dt.datetime.now(dt.timezone.utc)
    time.sleep(0.05)
    js.publish("b.9", b"late")
    assert [m.data for m in js.get_batch("B", batch=10, start_time=cut)] == [b"late"]
    # max_bytes stops the batch once that much was sent (at least one message comes).
    assert len(list(js.get_batch("B", batch=10, max_bytes=1))) == 1


def test_get_batch_with_nothing_matching_is_empty(js: natsync.js.JetStreamContext) -> None:
    _fill(js)
    assert list(js.get_batch("B", subject="b.none", batch=5)) == []
    assert list(js.get_batch("B", batch=5, start_seq=100)) == []
    assert list(js.get_last_for_subjects("B", ["b.none"])) == []


def test_get_last_for_subjects(js: natsync.js.JetStreamContext) -> None:
    _fill(js)
    last = {m.subject: m.seq for m in js.get_last_for_subjects("B", ["b.>"])}
    assert last == {"b.0": 10, "b.1": 11, "b.2": 12}
    some = js.get_last_for_subjects("B", ["b.0", "b.2"], up_to_seq=6)
    assert [(m.subject, m.seq) for m in some] == [("b.0", 4), ("b.2", 6)]
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    assert len(list(js.get_last_for_subjects("B", ["b.*"], up_to_time=later))) == 3


def test_batch_get_errors_are_typed(js: natsync.js.JetStreamContext, nc: natsync.Client) -> None:
    js.add_stream(name="ND", subjects=["nd"])
    js.publish("nd", b"x")
    with pytest.raises(DirectGetNotAllowedError, match="allow_direct"):
        list(js.get_batch("ND", batch=2))
    with pytest.raises(DirectGetNotAllowedError):
        list(js.get_last_for_subjects("ND", ["nd"]))
    with pytest.raises(BadArgumentError, match="batch"):
        js.get_batch("ND", batch=0)
    with pytest.raises(BadArgumentError, match="not both"):
        js.get_batch("ND", batch=1, start_seq=1, start_time=dt.datetime.now(dt.timezone.utc))
    with pytest.raises(BadArgumentError, match="timezone-aware"):
        js.get_batch("ND", batch=1, start_time=dt.datetime.now())
    with pytest.raises(BadArgumentError, match="subjects"):
        js.get_last_for_subjects("ND", "nd")  # type: ignore[arg-type]
    with pytest.raises(BadArgumentError, match="stream name"):
        js.get_batch("a.b", batch=1)


def test_batch_get_times_out_between_messages(js: natsync.js.JetStreamContext,
                                             nc: natsync.Client) -> None:
    # Something listens on the stream's direct-get subject but never answers.
    hole = nc.subscribe("$JS.API.DIRECT.GET.HOLE")
    nc.flush()
    started = time.monotonic()
    with pytest.raises(NatsTimeoutError, match="HOLE"):
        list(js.get_batch("HOLE", batch=3, timeout=0.3))
    assert 0.25 < time.monotonic() - started < 2
    hole.unsubscribe()


def test_delete_marker_reason_on_messages_and_stored_messages(
        js: natsync.js.JetStreamContext) -> None:
    # The server places a marker (reason MaxAge) when the last message of a subject ages out.
    js.add_stream(name="T", subjects=["t.>"], allow_msg_ttl=True, subject_delete_marker_ttl=60,
                  max_age=1, allow_direct=True)
    js.publish("t.a", b"expiring")
    consumer = js.stream("T").create_consumer(durable_name="C")
    plain = consumer.next(timeout=2)
    assert plain.marker_reason is None
    plain.ack()
    marker = consumer.next(timeout=6)
    assert marker.marker_reason == "MaxAge"
    seq = marker.metadata.sequence.stream
    assert js.get_msg("T", seq).marker_reason == "MaxAge"
    assert js.get_msg("T", seq, direct=True).marker_reason == "MaxAge"
    assert [m.marker_reason for m in js.get_batch("T", batch=5)] == ["MaxAge"]
    js.publish("t.b", b"kept")
    assert js.get_last_msg("T", "t.b").marker_reason is None
