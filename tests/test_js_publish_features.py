"""Counters, atomic and fast batches, schedules and API levels against a real nats-server."""

from __future__ import annotations

import time

import pytest

import natsync
from natsync.errors import BadArgumentError, BadSubjectError, Error
from natsync.js import api
from natsync.js.batch import MAX_ATOMIC_BATCH
from natsync.js.errors import (
    AtomicPublishDisabledError,
    BatchPublishDisabledError,
    BatchTooLargeError,
    FastBatchGapError,
    MessageCountersDisabledError,
    MessageSchedulesDisabledError,
    RequiredApiLevelError,
    WrongLastSequenceError,
)

from . import js_fixtures
from .conftest import wait_for

js_server, nc, js = js_fixtures.js_server, js_fixtures.nc, js_fixtures.js  # this module's fixtures


# --------------------------------------------------------------------------- counters


def test_counter_incr_and_get(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="HITS", subjects=["hits.>"], allow_msg_counter=True)
    assert js.counter_get("HITS", "hits.home") == 0
    assert js.counter_incr("hits.home") == 1
    assert js.counter_incr("hits.home", 41) == 42
    assert js.counter_incr("hits.home", -50) == -8
    assert js.counter_incr("hits.home", 0) == -8
    huge = 2 ** 100
    assert js.counter_incr("hits.big", huge) == huge
    assert js.counter_incr("hits.big", huge) == 2 * huge
    assert js.counter_get("HITS", "hits.home") == -8
    value = js.counter_value("HITS", "hits.big")
    assert (value.value, value.last_incr, value.sources) == (2 * huge, huge, {})
    assert js.counter_get_many("HITS", ["hits.*", "hits.none"]) == {
        "hits.home": -8, "hits.big": 2 * huge, "hits.none": 0}


def test_counter_sources_breakdown(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="EU", subjects=["eu.hits"], allow_msg_counter=True)
    js.add_stream(name="US", subjects=["us.hits"], allow_msg_counter=True)
    js.add_stream(name="ALL", subjects=["all.hits"], allow_msg_counter=True, sources=[
        api.StreamSource(name="EU", subject_transforms=[
            api.SubjectTransform(src="eu.hits", dest="all.hits")]),
        api.StreamSource(name="US", subject_transforms=[
            api.SubjectTransform(src="us.hits", dest="all.hits")]),
    ])
    js.counter_incr("eu.hits", 5)
    js.counter_incr("us.hits", 7)
    js.counter_incr("eu.hits", 1)
    wait_for(lambda: js.counter_get("ALL", "all.hits") == 13, timeout=10, what="sourced total")
    value = js.counter_value("ALL", "all.hits")
    assert value.sources == {"EU": {"eu.hits": 6}, "US": {"us.hits": 7}}


def test_counter_errors(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="PLAIN", subjects=["plain.>"])
    with pytest.raises(MessageCountersDisabledError, match="err_code 10168"):
        js.counter_incr("plain.x")
    with pytest.raises(BadArgumentError, match="increment must be an int"):
        js.counter_incr("plain.x", 1.5)  # type: ignore[arg-type]
    js.publish("plain.y", b"not a counter")
    with pytest.raises(natsync.js.errors.APIError, match="not a counter message"):
        js.counter_get("PLAIN", "plain.y")


# --------------------------------------------------------------------------- atomic batches


def test_atomic_batch_commits_all(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="ORDERS", subjects=["orders.>"], allow_atomic=True, allow_msg_ttl=True)
    with js.atomic_batch() as batch:
        for i in range(10):
            assert batch.add(f"orders.{i % 3}", b"%d" % i, headers={"N": str(i)},
                             msg_id=f"o-{i}", msg_ttl=3600 if i == 0 else None) == i + 1
    assert batch.ack is not None
    assert (batch.ack.seq, batch.ack.batch_size, batch.ack.batch_id) == (10, 10, batch.batch_id)
    assert js.stream_info("ORDERS").state.messages == 10
    first = js.get_msg("ORDERS", seq=1)
    assert first.headers is not None and first.headers["N"] == "0"
    assert first.headers["Nats-TTL"] == "3600s"
    single = js.atomic_batch()
    single.add("orders.x", b"only")
    assert single.commit().batch_size == 1


def test_atomic_batch_exception_stores_nothing(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="ORDERS", subjects=["orders.>"], allow_atomic=True)
    with pytest.raises(RuntimeError):
        with js.atomic_batch() as batch:
            for i in range(5):
                batch.add("orders.x", b"%d" % i)
            raise RuntimeError("bail out")
    # Four messages reached the server uncommitted; they are never stored.
    time.sleep(0.3)
    assert js.stream_info("ORDERS").state.messages == 0
    with pytest.raises(Error, match="already committed or discarded"):
        batch.add("orders.x", b"late")
    with js.atomic_batch() as again:
        again.add("orders.x", b"ok")
    assert js.stream_info("ORDERS").state.messages == 1


def test_atomic_batch_limit_and_errors(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="ORDERS", subjects=["orders.>"], allow_atomic=True)
    js.add_stream(name="PLAIN", subjects=["plain.>"])
    batch = js.atomic_batch(timeout=10)
    for i in range(MAX_ATOMIC_BATCH):
        batch.add("orders.x", b"%d" % i)
    with pytest.raises(BatchTooLargeError, match="at most 1000"):
        batch.add("orders.x", b"one too many")
    assert batch.commit().batch_size == MAX_ATOMIC_BATCH
    with pytest.raises(AtomicPublishDisabledError, match="err_code 10174"):
        with js.atomic_batch() as refused:
            refused.add("plain.x", b"1")
            refused.add("plain.x", b"2")
    with pytest.raises(BadArgumentError, match="at least one message"):
        js.atomic_batch().commit()


# --------------------------------------------------------------------------- fast batches


def test_fast_batch_loads_a_stream(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="METRICS", subjects=["metrics.>"], allow_batched=True,
                  allow_msg_ttl=True)
    with js.fast_batch(flow=50) as fb:
        for i in range(5000):
            fb.add("metrics.cpu", b"%d" % i, msg_ttl=600 if i == 0 else None)
    assert fb.ack is not None and fb.ack.batch_size == 5000 and fb.ack.seq == 5000
    assert fb.acked >= 5000 - 2 * 50 and not fb.gaps and not fb.errors
    assert js.stream_info("METRICS").state.messages == 5000
    last = js.get_msg("METRICS", seq=5000)
    assert last.data == b"4999"
    first = js.get_msg("METRICS", seq=1)
    assert first.headers is not None and first.headers["Nats-TTL"] == "600s"
    fb2 = js.fast_batch()
    fb2.add("metrics.a", b"1")
    ack = fb2.commit("metrics.a", b"last")  # the commit carries a stored message
    assert ack.batch_size == 2 and js.get_msg("METRICS", seq=ack.seq).data == b"last"


def test_fast_batch_gap_fail_ends_the_batch(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="METRICS", subjects=["metrics.>"], allow_batched=True)
    fb = js.fast_batch()
    fb.add("metrics.x", b"1")
    fb.add("metrics.x", b"2")
    fb.seq += 3  # as if messages 3 to 5 were lost on the way
    fb.add("metrics.x", b"6")  # the server sees 6 after 2, reports the gap, ends the batch
    with pytest.raises(FastBatchGapError, match="lost messages 3 to 5"):
        fb.commit()  # raises what the server reported (an add after the report would, too)
    assert fb.gaps == [(3, 6)]
    assert js.stream_info("METRICS").state.messages == 2


def test_fast_batch_gap_ok_goes_on(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="METRICS", subjects=["metrics.>"], allow_batched=True)
    fb = js.fast_batch(gap="ok", flow=1)
    fb.add("metrics.x", b"1")
    fb.seq += 2
    for _ in range(3):
        fb.add("metrics.x", b"later")
    ack = fb.commit()
    assert fb.gaps == [(2, 4)]
    assert js.stream_info("METRICS").state.messages == 4 and ack.batch_size == 6


def test_fast_batch_errors(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="PLAIN", subjects=["plain.>"])
    js.add_stream(name="METRICS", subjects=["metrics.>"], allow_batched=True)
    with pytest.raises(BatchPublishDisabledError, match="err_code 10205"):
        js.fast_batch().add("plain.x", b"1")
    fb = js.fast_batch()
    fb.add("metrics.x", b"1")
    fb.add("metrics.x", b"2", headers={"Nats-Expected-Last-Sequence": "999"})
    with pytest.raises(WrongLastSequenceError, match="fast batch message 2"):
        fb.commit()
    assert fb.errors and fb.errors[0][0] == 2
    assert js.stream_info("METRICS").state.messages == 1
    clean = js.fast_batch()
    clean.add("metrics.y", b"1")
    with pytest.raises(BadSubjectError):
        clean.add("metrics.bad subject", b"refused before sending")
    clean.add("metrics.y", b"2")
    assert clean.commit().batch_size == 2 and not clean.gaps  # the refusal left no gap
    with pytest.raises(BadArgumentError, match="gap must be"):
        js.fast_batch(gap="maybe")
    with pytest.raises(BadArgumentError, match="at least one message"):
        js.fast_batch().commit()


# --------------------------------------------------------------------------- schedules


def test_schedule_publishes_and_cancels(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="JOBS", subjects=["sched.>", "jobs.>"], allow_msg_schedules=True,
                  allow_msg_ttl=True)
    sub = js.subscribe("jobs.cleanup", ordered_consumer=True)
    ack = js.publish_schedule("sched.cleanup", b"run", target="jobs.cleanup",
                              schedule="@every 1s", ttl=60)
    assert ack.stream == "JOBS"
    first = sub.next_msg(timeout=5)
    assert first.data == b"run" and first.headers is not None
    assert first.headers["Nats-Scheduler"] == "sched.cleanup"
    assert first.headers["Nats-TTL"] == "60s"
    assert js.cancel_schedule("sched.cleanup")
    time.sleep(1.2)  # one already due may still fire; after that nothing
    count = js.stream_info("JOBS", subjects_filter="jobs.>").state.subjects or {}
    seen = count.get("jobs.cleanup", 0)
    time.sleep(2.2)
    count = js.stream_info("JOBS", subjects_filter="jobs.>").state.subjects or {}
    assert count.get("jobs.cleanup", 0) == seen
    sub.unsubscribe()


def test_schedule_at_fires_once(js: natsync.js.JetStreamContext) -> None:
    import datetime as dt
    js.add_stream(name="JOBS", subjects=["sched.>", "jobs.>"], allow_msg_schedules=True)
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    js.publish_schedule("sched.once", b"later", target="jobs.once", schedule=when)
    wait_for(lambda: (js.stream_info("JOBS", subjects_filter="jobs.once").state.subjects or {})
             .get("jobs.once") == 1, timeout=8, what="the delayed message")
    assert js.get_last_msg("JOBS", "jobs.once").data == b"later"


def test_schedule_errors(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="PLAIN", subjects=["plain.>"])
    with pytest.raises(MessageSchedulesDisabledError, match="err_code 10188"):
        js.publish_schedule("plain.s", b"", target="plain.t", schedule="@hourly")
    with pytest.raises(BadArgumentError, match="6 fields"):
        js.publish_schedule("plain.s", b"", target="plain.t", schedule="* * * * *")


# --------------------------------------------------------------------------- API levels


def test_api_level_and_metadata(js: natsync.js.JetStreamContext) -> None:
    assert js.api_level() >= 4  # the test server is 2.14 or newer
    info = js.add_stream(name="C", subjects=["c.>"], allow_msg_counter=True,
                         metadata={"owner": "me"})
    meta = info.config.metadata or {}
    assert meta["owner"] == "me" and meta["_nats.req.level"] == "2"
    assert meta["_nats.level"] == str(js.api_level())
    assert (js.stream_info("C").config.metadata or {})["_nats.req.level"] == "2"


def test_required_api_level(nc: natsync.Client, js: natsync.js.JetStreamContext) -> None:
    level = js.api_level()
    ok = nc.jetstream(required_api_level=level)
    ok.add_stream(name="LEVEL", subjects=["level.>"])
    assert ok.stream_info("LEVEL").config.name == "LEVEL"
    too_high = nc.jetstream(required_api_level=level + 1)
    with pytest.raises(RequiredApiLevelError, match="err_code 10185") as err:
        too_high.stream_info("LEVEL")
    assert err.value.code == 412
    with pytest.raises(RequiredApiLevelError):
        too_high.add_stream(name="NEVER", subjects=["never.>"])
    assert "NEVER" not in js.stream_names()
    with pytest.raises(BadArgumentError, match="required_api_level"):
        nc.jetstream(required_api_level=-1)


def test_cron_schedule_with_time_zone(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="JOBS", subjects=["sched.>", "jobs.>"], allow_msg_schedules=True)
    js.publish_schedule("sched.cron", b"tick", target="jobs.cron", schedule="* * * * * *",
                        time_zone="UTC")
    wait_for(lambda: (js.stream_info("JOBS", subjects_filter="jobs.cron").state.subjects or {})
             .get("jobs.cron", 0) >= 1, timeout=5, what="the cron schedule to fire")
    js.cancel_schedule("sched.cron", stream="JOBS")
    with pytest.raises(natsync.js.errors.BadRequestError) as err:
        js.publish_schedule("sched.mars", b"", target="jobs.mars", schedule="@hourly",
                            time_zone="Mars/Olympus_Mons")
    assert err.value.err_code == 10223
