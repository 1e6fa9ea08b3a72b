"""Encoding of the 2.11-2.14 publish features on bytes: counter, batch and schedule headers,
fast-batch reply subjects, counter bodies, version checks. No server is needed."""

from __future__ import annotations

import datetime as dt

import pytest

from natsync.errors import BadArgumentError, BadSubjectError
from natsync.headers import Headers
from natsync.js import api, counters
from natsync.js.batch import batch_headers
from natsync.js.errors import (
    APIError,
    AtomicPublishDisabledError,
    BatchPublishDisabledError,
    FeatureNotSupportedError,
    MessageCountersDisabledError,
    MessageSchedulesDisabledError,
    RequiredApiLevelError,
)
from natsync.js.fast_batch import OP_APPEND, OP_COMMIT_EOB, OP_PING, OP_START, fast_reply
from natsync.js.features import COUNTERS, FAST_BATCH, check_version, parse_version
from natsync.js.manager import api_level_headers
from natsync.js.schedule import format_schedule, schedule_headers


def test_incr_headers_on_the_wire() -> None:
    assert counters.incr_headers(1).encode() == b"NATS/1.0\r\nNats-Incr: +1\r\n\r\n"
    assert counters.incr_headers(-5).encode() == b"NATS/1.0\r\nNats-Incr: -5\r\n\r\n"
    assert counters.incr_headers(0).encode() == b"NATS/1.0\r\nNats-Incr: +0\r\n\r\n"
    big = 10 ** 40
    assert counters.incr_headers(big)["Nats-Incr"] == "+" + str(big)


@pytest.mark.parametrize("bad", [1.5, "1", True, None])
def test_incr_refuses_non_int(bad: object) -> None:
    with pytest.raises(BadArgumentError, match="increment must be an int"):
        counters.incr_headers(bad)  # type: ignore[arg-type]


def test_counter_value_from_message_and_sources() -> None:
    h = Headers({"Nats-Incr": "+3", "Nats-Counter-Sources": '{"EU":{"hits.eu":"12"},"US":{"hits.us":"-2"}}'})
    msg = api.RawStreamMsg(subject="hits", seq=9, data=b'{"val":"123456789012345678901234567890"}',
                           headers=h)
    value = counters.from_msg(msg)
    assert value.value == 123456789012345678901234567890
    assert value.sources == {"EU": {"hits.eu": 12}, "US": {"hits.us": -2}}
    assert (value.seq, value.last_incr, value.subject) == (9, 3, "hits")


def test_counter_value_from_ack_is_a_string() -> None:
    assert counters.value_from_ack(api.PubAck.from_response(
        {"stream": "C", "seq": 2, "val": "-18446744073709551617"})) == -18446744073709551617
    with pytest.raises(APIError, match="did not return a counter value"):
        counters.value_from_ack(api.PubAck(stream="C", seq=1))


@pytest.mark.parametrize("body", [b"plain", b'{"x":1}', b'{"val":"1e3"}', b"[]"])
def test_not_a_counter_message(body: bytes) -> None:
    with pytest.raises(APIError, match="counter"):
        counters.from_msg(api.RawStreamMsg(subject="s", seq=1, data=body))


def test_batch_headers_on_the_wire() -> None:
    h = batch_headers({"X": "y"}, "id-1", 60, "B1", 3, commit=False)
    assert h.encode() == (b"NATS/1.0\r\nX: y\r\nNats-Msg-Id: id-1\r\nNats-TTL: 60s\r\n"
                          b"Nats-Batch-Id: B1\r\nNats-Batch-Sequence: 3\r\n\r\n")
    last = batch_headers(None, None, None, "B1", 4, commit=True)
    assert last.encode() == (b"NATS/1.0\r\nNats-Batch-Id: B1\r\nNats-Batch-Sequence: 4\r\n"
                             b"Nats-Batch-Commit: 1\r\n\r\n")


def test_fast_batch_reply_subjects() -> None:
    assert fast_reply("_INBOX.abc", 500, False, 1, OP_START) == "_INBOX.abc.500.fail.1.0.$FI"
    assert fast_reply("_INBOX.abc", 10, True, 7, OP_APPEND) == "_INBOX.abc.10.ok.7.1.$FI"
    assert fast_reply("_INBOX.abc", 10, True, 8, OP_COMMIT_EOB) == "_INBOX.abc.10.ok.8.3.$FI"
    assert fast_reply("_INBOX.abc", 10, True, 8, OP_PING) == "_INBOX.abc.10.ok.8.4.$FI"


def test_schedule_headers_on_the_wire() -> None:
    h = schedule_headers("sched.report", "reports.daily", "0 30 9 * * mon-fri", ttl=300,
                         time_zone="Europe/Amsterdam", rollup="sub")
    assert h.encode() == (b"NATS/1.0\r\nNats-Schedule: 0 30 9 * * mon-fri\r\n"
                          b"Nats-Schedule-Target: reports.daily\r\nNats-Schedule-TTL: 300s\r\n"
                          b"Nats-Schedule-Time-Zone: Europe/Amsterdam\r\n"
                          b"Nats-Schedule-Rollup: sub\r\n\r\n")
    src = schedule_headers("sched.s", "out.s", "@every 5m", source="sensors.t")
    assert src["Nats-Schedule-Source"] == "sensors.t"


def test_schedule_forms() -> None:
    when = dt.datetime(2030, 1, 2, 3, 4, 5, 678, tzinfo=dt.timezone.utc)
    assert format_schedule(when) == "@at 2030-01-02T03:04:05Z"
    assert format_schedule(dt.timedelta(minutes=2)) == "@every 120s"
    for ok in ("@every 1s", "@every 1m30s", "@every 1.5h", "@hourly", "@daily",
               "@at 2030-01-01T00:00:00+02:00", "*/5 * * * * *", "0 0 12 1,15 jan-mar ?"):
        assert format_schedule(ok) == ok


@pytest.mark.parametrize("bad, match", [
    ("@every 500ms", "shortest"), ("@every 5", "duration"), ("@every", "not a schedule"),
    ("@at tomorrow", "RFC 3339"), ("@at 2030-01-01T00:00:00", "zone"),
    ("@fortnightly", "not a schedule"), ("* * * * *", "6 fields"), ("", "non-empty"),
    (dt.timedelta(milliseconds=10), "whole seconds"),
    (dt.datetime(2030, 1, 1), "timezone-aware"),
])
def test_bad_schedules(bad: object, match: str) -> None:
    with pytest.raises(BadArgumentError, match=match):
        format_schedule(bad)  # type: ignore[arg-type]


def test_bad_schedule_combinations() -> None:
    with pytest.raises(BadArgumentError, match="only goes with a cron"):
        schedule_headers("s.a", "s.b", "@every 1s", time_zone="UTC")
    with pytest.raises(BadArgumentError, match="rollup must be 'sub'"):
        schedule_headers("s.a", "s.b", "@hourly", rollup="all")
    with pytest.raises(BadArgumentError, match="must differ"):
        schedule_headers("s.a", "s.a", "@hourly")
    with pytest.raises(BadSubjectError, match="wildcards"):
        schedule_headers("s.a", "s.*", "@hourly")


def test_versions_and_features() -> None:
    assert parse_version("2.12.1") == (2, 12, 1)
    assert parse_version("v2.14.0-RC.1") == (2, 14, 0)
    assert parse_version("") is None
    check_version(COUNTERS, "2.12.0")
    check_version(COUNTERS, "")  # unknown: let the server answer
    with pytest.raises(FeatureNotSupportedError) as err:
        check_version(COUNTERS, "2.11.4")
    assert "distributed counters needs nats-server 2.12.0" in str(err.value)
    assert "2.11.4" in str(err.value)
    with pytest.raises(FeatureNotSupportedError, match="fast batch publish needs nats-server 2.14.0"):
        check_version(FAST_BATCH, "2.12.3")


def test_required_api_level_header() -> None:
    assert api_level_headers(None) is None
    assert api_level_headers(2) == {"Nats-Required-Api-Level": "2"}
    for bad in (-1, "2", True):
        with pytest.raises(BadArgumentError, match="required_api_level"):
            api_level_headers(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("err_code, klass", [
    (10185, RequiredApiLevelError), (10168, MessageCountersDisabledError),
    (10174, AtomicPublishDisabledError), (10205, BatchPublishDisabledError),
    (10188, MessageSchedulesDisabledError),
])
def test_new_err_codes_map_to_classes(err_code: int, klass: type[APIError]) -> None:
    err = APIError.from_error({"code": 400, "err_code": err_code, "description": "x"})
    assert type(err) is klass


def test_new_errors_pickle() -> None:
    import pickle

    from natsync.js.errors import BatchTooLargeError, FastBatchGapError

    for err in (FeatureNotSupportedError("message schedules", "2.12.0", "2.11.1"),
                FastBatchGapError(3, 6), RequiredApiLevelError(),
                BatchTooLargeError("too many")):
        copy = pickle.loads(pickle.dumps(err))
        assert type(copy) is type(err) and str(copy) == str(err)
    assert isinstance(BatchTooLargeError("x"), BadArgumentError)
