"""Encodings of the issue-14 consumer features, checked on bytes (no server)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from natsync.errors import BadArgumentError
from natsync.headers import parse_headers
from natsync.js import api
from natsync.js.direct import batch_request, multi_last_request
from natsync.js.priority import PriorityRequest, pin_of, priority_request
from natsync.js.pull import pull_request
from natsync.msg import Msg

PINNED = api.ConsumerConfig(priority_groups=["jobs"],
                            priority_policy=api.PriorityPolicy.PINNED_CLIENT)


def _wire(req: dict[str, object]) -> bytes:
    return json.dumps(req, separators=(",", ":")).encode()


def test_pull_request_json_with_a_priority_group() -> None:
    prio = PriorityRequest("jobs", min_pending=5, min_ack_pending=2, priority=3)
    req = pull_request(10, 1.5, priority=prio, pin_id="PIN1")
    assert _wire(req) == (b'{"batch":10,"expires":1500000000,"group":"jobs","min_pending":5,'
                          b'"min_ack_pending":2,"priority":3,"id":"PIN1"}')
    assert _wire(pull_request(1, None, priority=PriorityRequest("g"))) == b'{"batch":1,"group":"g"}'
    assert "group" not in pull_request(1, 1.0, pin_id="ignored-without-group")


def test_priority_request_validation() -> None:
    assert priority_request(None) is None
    assert priority_request("jobs", config=PINNED) == PriorityRequest("jobs")
    assert priority_request("a/b_c=d-9", priority=0) == PriorityRequest("a/b_c=d-9")
    overflow = PINNED.evolve(priority_policy=api.PriorityPolicy.OVERFLOW)
    assert priority_request("jobs", min_pending=4, config=overflow).min_pending == 4
    prioritized = PINNED.evolve(priority_policy=api.PriorityPolicy.PRIORITIZED)
    assert priority_request("jobs", priority=9, config=prioritized).priority == 9
    for bad in (10, -1, True, 1.5):
        with pytest.raises(BadArgumentError, match="0 to 9"):
            priority_request("jobs", priority=bad)  # type: ignore[arg-type]
    with pytest.raises(BadArgumentError, match="min_pending must be"):
        priority_request("jobs", min_pending=-1)
    with pytest.raises(BadArgumentError, match="need a group"):
        priority_request(None, min_ack_pending=1)
    for bad_name in ("", "x" * 17, "a.b", "a b"):
        with pytest.raises(BadArgumentError, match="invalid priority group"):
            priority_request(bad_name)
    with pytest.raises(BadArgumentError, match="no priority groups"):
        priority_request("jobs", config=api.ConsumerConfig())
    with pytest.raises(BadArgumentError, match=r"groups \['jobs'\]"):
        priority_request("other", config=PINNED)
    with pytest.raises(BadArgumentError, match="'pinned_client'"):
        priority_request("jobs", min_pending=1, config=PINNED)
    with pytest.raises(BadArgumentError, match="prioritized"):
        priority_request("jobs", priority=1, config=overflow)


def test_priority_config_fields_round_trip() -> None:
    cfg = PINNED.evolve(priority_timeout=2.5)
    wire = cfg.as_dict()
    assert wire == {"priority_groups": ["jobs"], "priority_policy": "pinned_client",
                    "priority_timeout": 2_500_000_000}
    assert api.ConsumerConfig.from_response(json.loads(json.dumps(wire))) == cfg


def test_pin_and_marker_reason_come_from_headers() -> None:
    hdrs = parse_headers(b"NATS/1.0\r\nNats-Pin-Id: ABC\r\nNats-Marker-Reason: Purge\r\n\r\n")
    msg = Msg(None, "s", "", b"", hdrs)
    assert pin_of(msg) == "ABC" and msg.marker_reason == "Purge"
    bare = Msg(None, "s", "", b"", None)
    assert pin_of(bare) is None and bare.marker_reason is None
    raw = api.RawStreamMsg.from_direct(parse_headers(
        b"NATS/1.0\r\nNats-Stream: T\r\nNats-Subject: t.a\r\nNats-Sequence: 3\r\n"
        b"Nats-Marker-Reason: Remove\r\n\r\n"), b"")
    assert raw.marker_reason == "Remove" and raw.seq == 3
    assert api.RawStreamMsg(subject="x", seq=1).marker_reason is None


def test_batch_request_json() -> None:
    assert _wire(batch_request(10)) == b'{"batch":10,"seq":1}'
    assert _wire(batch_request(5, "orders.>", max_bytes=1024, start_seq=7)) == (
        b'{"batch":5,"seq":7,"next_by_subj":"orders.>","max_bytes":1024}')
    start = dt.datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=dt.timezone.utc)
    assert _wire(batch_request(2, start_time=start)) == (
        b'{"batch":2,"start_time":"2026-01-02T03:04:05.6Z"}')
    with pytest.raises(BadArgumentError, match="batch must be a positive int"):
        batch_request(0)
    with pytest.raises(BadArgumentError, match="max_bytes"):
        batch_request(1, max_bytes=-5)
    with pytest.raises(BadArgumentError, match="subject"):
        batch_request(1, "")


def test_multi_last_request_json() -> None:
    assert _wire(multi_last_request(["a.*", "b"])) == b'{"multi_last":["a.*","b"]}'
    upto = dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
    assert _wire(multi_last_request(["a"], up_to_time=upto, batch=3)) == (
        b'{"multi_last":["a"],"up_to_time":"2026-01-02T00:00:00Z","batch":3}')
    assert multi_last_request(["a"], up_to_seq=9)["up_to_seq"] == 9
    with pytest.raises(BadArgumentError, match="not both"):
        multi_last_request(["a"], up_to_seq=1, up_to_time=upto)
    for bad in ([], "a", [""], [1]):
        with pytest.raises(BadArgumentError, match="subjects"):
            multi_last_request(bad)  # type: ignore[arg-type]


def test_consumer_reset_answer_decodes() -> None:
    resp = {"type": "io.nats.jetstream.api.v1.consumer_reset_response", "stream_name": "R",
            "name": "C", "config": {"ack_policy": "explicit"}, "num_pending": 4, "reset_seq": 2}
    info = api.ConsumerResetInfo.from_response(resp)
    assert isinstance(info, api.ConsumerInfo)
    assert info.reset_seq == 2 and info.num_pending == 4 and info.name == "C"
    assert info.config.ack_policy == api.AckPolicy.EXPLICIT and info.extra == {}
