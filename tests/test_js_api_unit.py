"""Unit tests of natsync.js.api and natsync.js.errors on JSON shapes, no server.

The responses below were captured from nats-server (STREAM.INFO, CONSUMER.INFO,
STREAM.MSG.GET, $JS.API.INFO, publish acks and API errors).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import natsync.errors as core_errors
from natsync.headers import Headers
from natsync.js import api
from natsync.js import errors as jserr

UTC = dt.timezone.utc

STREAM_INFO: dict[str, Any] = {
    "type": "io.nats.jetstream.api.v1.stream_info_response",
    "total": 2,
    "offset": 0,
    "limit": 100000,
    "config": {
        "name": "S1",
        "subjects": ["s1.>"],
        "retention": "limits",
        "max_consumers": -1,
        "max_msgs": -1,
        "max_bytes": -1,
        "max_age": 3600000000000,
        "max_msgs_per_subject": -1,
        "max_msg_size": -1,
        "discard": "old",
        "storage": "file",
        "num_replicas": 1,
        "duplicate_window": 120000000000,
        "compression": "none",
        "allow_direct": False,
        "mirror_direct": False,
        "sealed": False,
        "deny_delete": False,
        "deny_purge": False,
        "allow_rollup_hdrs": True,
        "consumer_limits": {"inactive_threshold": 10000000000},
        "allow_msg_ttl": True,
        "subject_delete_marker_ttl": 5000000000,
        "allow_atomic": True,
        "metadata": {"_nats.level": "5", "_nats.req.level": "2", "_nats.ver": "2.15.1",
                     "a": "b"},
    },
    "created": "2026-11-22T05:01:12.857189904Z",
    "state": {
        "messages": 5,
        "bytes": 250,
        "first_seq": 1,
        "first_ts": "2026-11-22T05:01:12.873541886Z",
        "last_seq": 5,
        "last_ts": "2026-11-22T05:01:12.882244663Z",
        "num_subjects": 2,
        "subjects": {"s1.a": 3, "s1.b": 2},
        "consumer_count": 0,
    },
    "cluster": {"leader": "NBQ3SOS3MLEPLR6VXKRAM73XWPWN2CKJDRAWBPJMSKB2OSRPVM3GCYOS"},
    "ts": "2026-11-22T05:01:12.920831773Z",
}

SOURCED_STREAM_INFO: dict[str, Any] = {
    "type": "io.nats.jetstream.api.v1.stream_create_response",
    "config": {
        "name": "S2",
        "retention": "limits",
        "max_consumers": -1,
        "max_msgs": -1,
        "max_bytes": -1,
        "max_age": 0,
        "max_msgs_per_subject": -1,
        "max_msg_size": -1,
        "discard": "old",
        "storage": "file",
        "num_replicas": 3,
        "placement": {"tags": ["t"]},
        "sources": [
            {"name": "S1", "opt_start_seq": 2,
             "subject_transforms": [{"src": "s1.a", "dest": "x.a"}]},
            {"name": "S1", "opt_start_time": "2024-01-02T03:04:05Z", "filter_subject": "s1.b",
             "external": {"api": "$JS.hub.API", "deliver": ""}},
        ],
        "compression": "s2",
        "republish": {"src": ">", "dest": "rp.>"},
        "allow_direct": False,
        "mirror_direct": False,
        "sealed": False,
        "deny_delete": False,
        "deny_purge": False,
        "allow_rollup_hdrs": False,
        "consumer_limits": {},
        "allow_msg_ttl": False,
        "metadata": {"_nats.level": "5", "_nats.req.level": "0", "_nats.ver": "2.15.1"},
    },
    "created": "2026-11-22T05:01:27.116807215Z",
    "state": {
        "messages": 0,
        "bytes": 0,
        "first_seq": 0,
        "first_ts": "0001-01-01T00:00:00Z",
        "last_seq": 0,
        "last_ts": "0001-01-01T00:00:00Z",
        "consumer_count": 0,
    },
    "cluster": {
        "name": "C1",
        "raft_group": "S-R3F-abcd",
        "leader": "n1",
        "leader_since": "2026-11-22T05:01:27.1+01:00",
        "replicas": [
            {"name": "n2", "current": True, "active": 1500000000, "lag": 0, "peer": "p2"},
            {"name": "n3", "current": False, "offline": True, "active": 0, "lag": 7},
        ],
    },
    "sources": [
        {"name": "S1", "lag": 0, "active": -1,
         "subject_transforms": [{"src": "s1.a", "dest": "x.a"}]},
        {"name": "S1", "lag": 3, "seq": 5, "active": 363253029, "filter_subject": "s1.b",
         "error": {"code": 500, "err_code": 10029, "description": "mirror consumer setup failed"}},
    ],
    "alternates": [{"name": "S2", "cluster": "C1"}, {"name": "S2M", "domain": "leaf"}],
    "ts": "2026-11-22T05:01:27.117734241Z",
    "did_create": True,
}

CONSUMER_INFO: dict[str, Any] = {
    "type": "io.nats.jetstream.api.v1.consumer_info_response",
    "stream_name": "S1",
    "name": "C1",
    "created": "2026-11-22T05:01:12.954960866Z",
    "config": {
        "durable_name": "C1",
        "name": "C1",
        "deliver_policy": "all",
        "ack_policy": "explicit",
        "ack_wait": 1000000000,
        "max_deliver": 5,
        "backoff": [1000000000, 2500000000],
        "replay_policy": "instant",
        "max_waiting": 512,
        "max_ack_pending": 1000,
        "max_batch": 10,
        "max_expires": 30000000000,
        "max_bytes": 1000,
        "inactive_threshold": 10000000000,
        "num_replicas": 0,
        "metadata": {"_nats.level": "5", "_nats.req.level": "1", "_nats.ver": "2.15.1",
                     "k": "v"},
        "priority_groups": ["g"],
        "priority_policy": "pinned_client",
        "priority_timeout": 60000000000,
    },
    "delivered": {"consumer_seq": 3, "stream_seq": 4,
                  "last_active": "2026-11-22T05:01:13.5Z"},
    "ack_floor": {"consumer_seq": 2, "stream_seq": 3},
    "num_ack_pending": 1,
    "num_redelivered": 0,
    "num_waiting": 0,
    "num_pending": 5,
    "paused": True,
    "pause_remaining": 2500000000,
    "ts": "2026-11-22T05:01:12.987710174Z",
    "priority_groups": [
        {"group": "g", "pinned_ts": "0001-01-01T00:00:00Z"},
        {"group": "h", "pinned_client_id": "abc", "pinned_ts": "2026-11-22T05:01:13Z"},
    ],
}

PUSH_CONSUMER_CONFIG: dict[str, Any] = {
    "durable_name": "P1",
    "name": "P1",
    "deliver_policy": "by_start_time",
    "opt_start_time": "2024-01-02T03:04:05.123456789+02:00",
    "ack_policy": "explicit",
    "ack_wait": 30000000000,
    "max_deliver": -1,
    "replay_policy": "instant",
    "max_ack_pending": 1000,
    "flow_control": True,
    "deliver_subject": "dlv",
    "idle_heartbeat": 5000000000,
    "inactive_threshold": 10000000000,
    "num_replicas": 0,
}

ACCOUNT_INFO: dict[str, Any] = {
    "type": "io.nats.jetstream.api.v1.account_info_response",
    "memory": 0,
    "storage": 1024,
    "reserved_memory": 0,
    "reserved_storage": 0,
    "streams": 1,
    "consumers": 2,
    "limits": {
        "max_memory": -1,
        "max_storage": -1,
        "max_streams": -1,
        "max_consumers": -1,
        "max_ack_pending": -1,
        "memory_max_stream_bytes": -1,
        "storage_max_stream_bytes": -1,
        "max_bytes_required": False,
    },
    "domain": "hub",
    "api": {"level": 5, "total": 12, "errors": 1},
    "tiers": {
        "R1": {"memory": 0, "storage": 1024, "reserved_memory": 0, "reserved_storage": 0,
               "streams": 1, "consumers": 2,
               "limits": {"max_memory": 1048576, "max_storage": 1073741824,
                          "max_streams": 10, "max_consumers": 100, "max_ack_pending": -1,
                          "memory_max_stream_bytes": -1, "storage_max_stream_bytes": -1,
                          "max_bytes_required": True}},
    },
}

MSG_GET: dict[str, Any] = {
    "type": "io.nats.jetstream.api.v1.stream_msg_get_response",
    "message": {
        "subject": "s1.a",
        "seq": 2,
        "hdrs": "TkFUUy8xLjANClgtRm9vOiBiYXINCg0K",
        "data": "aGVsbG8x",
        "time": "2026-11-22T05:01:12.874977805Z",
    },
}


def headers(items: list[tuple[str, str]]) -> Headers:
    h = Headers()
    for name, value in items:
        h.add(name, value)
    return h


def ts(*args: int, tz: dt.tzinfo = UTC) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz)


# --------------------------------------------------------------------------- time and durations


@pytest.mark.parametrize("text, expected", [
    ("2026-11-22T05:01:12.857189904Z", ts(2026, 11, 22, 5, 1, 12, 857189)),
    ("2026-11-22T05:01:12Z", ts(2026, 11, 22, 5, 1, 12)),
    ("2026-11-22t05:01:12.5z", ts(2026, 11, 22, 5, 1, 12, 500000)),
    ("2026-11-22T05:01:12.1+01:00", ts(2026, 11, 22, 5, 1, 12, 100000,
                                       tz=dt.timezone(dt.timedelta(hours=1)))),
    ("2024-01-02T03:04:05.123456789-05:30", ts(2024, 1, 2, 3, 4, 5, 123456,
                                               tz=dt.timezone(-dt.timedelta(hours=5, minutes=30)))),
    ("2024-01-02T03:04:05+00:00", ts(2024, 1, 2, 3, 4, 5)),
    ("0001-01-01T00:00:00Z", None),
])
def test_parse_time(text: str, expected: dt.datetime | None) -> None:
    got = api.parse_time(text)
    assert got == expected
    if got is not None:
        assert got.tzinfo is not None
        assert got.utcoffset() == expected.utcoffset()  # type: ignore[union-attr]


@pytest.mark.parametrize("text", ["", "2024-01-02", "2024-01-02T03:04:05", "yesterday",
                                  "2024-01-02T03:04:05.Z", "2024-13-02T03:04:05Z"])
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        api.parse_time(text)


def test_format_time() -> None:
    assert api.format_time(ts(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05Z"
    assert api.format_time(ts(2024, 1, 2, 3, 4, 5, 120000)) == "2024-01-02T03:04:05.12Z"
    assert api.format_time(dt.datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05Z"
    plus2 = dt.timezone(dt.timedelta(hours=2))
    assert api.format_time(ts(2024, 1, 2, 3, 4, 5, 1, tz=plus2)) == "2024-01-02T03:04:05.000001+02:00"
    minus = dt.timezone(-dt.timedelta(hours=5, minutes=30))
    assert api.format_time(ts(2024, 1, 2, 3, 4, 5, tz=minus)) == "2024-01-02T03:04:05-05:30"
    assert api.format_time(ts(1, 1, 1)) == "0001-01-01T00:00:00Z"


@given(st.datetimes(min_value=dt.datetime(2, 1, 1), max_value=dt.datetime(9998, 12, 31),
                    timezones=st.sampled_from([UTC, dt.timezone(dt.timedelta(hours=9)),
                                               dt.timezone(-dt.timedelta(hours=3,
                                                                         minutes=45))])))
def test_time_round_trip(value: dt.datetime) -> None:
    back = api.parse_time(api.format_time(value))
    assert back == value
    assert back is not None and back.utcoffset() == value.utcoffset()


def test_to_nanos() -> None:
    assert api.to_nanos(30) == 30_000_000_000
    assert api.to_nanos(2.5) == 2_500_000_000
    assert api.to_nanos(0.1) == 100_000_000
    assert api.to_nanos(dt.timedelta(minutes=2, microseconds=3)) == 120_000_003_000
    assert api.to_nanos(0) == 0


@given(st.integers(min_value=0, max_value=2**50))
def test_duration_round_trip(ns: int) -> None:
    cfg = api.StreamConfig.from_response({"max_age": ns})
    assert cfg.max_age == pytest.approx(ns / 1e9)
    assert cfg.as_dict() == {"max_age": ns}


# --------------------------------------------------------------------------- streams


def test_stream_info_from_response() -> None:
    raw = copy.deepcopy(STREAM_INFO)
    info = api.StreamInfo.from_response(raw)
    assert raw == STREAM_INFO  # the input is not modified

    cfg = info.config
    assert isinstance(cfg, api.StreamConfig)
    assert cfg.name == "S1"
    assert cfg.subjects == ["s1.>"]
    assert cfg.retention is api.RetentionPolicy.LIMITS
    assert cfg.storage is api.StorageType.FILE
    assert cfg.discard is api.DiscardPolicy.OLD
    assert cfg.compression is api.StoreCompression.NONE
    assert cfg.max_age == 3600.0
    assert cfg.duplicate_window == 120.0
    assert cfg.subject_delete_marker_ttl == 5.0
    assert cfg.consumer_limits == api.StreamConsumerLimits(inactive_threshold=10.0)
    assert cfg.allow_atomic is True
    assert cfg.allow_rollup_hdrs is True
    assert cfg.metadata == {"_nats.level": "5", "_nats.req.level": "2", "_nats.ver": "2.15.1",
                            "a": "b"}
    assert cfg.extra == {}

    st_ = info.state
    assert (st_.messages, st_.bytes, st_.first_seq, st_.last_seq) == (5, 250, 1, 5)
    assert st_.first_ts == ts(2026, 11, 22, 5, 1, 12, 873541)
    assert st_.last_ts == ts(2026, 11, 22, 5, 1, 12, 882244)
    assert st_.subjects == {"s1.a": 3, "s1.b": 2}
    assert st_.num_subjects == 2
    assert st_.deleted is None and st_.lost is None

    assert info.created == ts(2026, 11, 22, 5, 1, 12, 857189)
    assert info.ts is not None and info.ts.tzinfo is not None
    assert info.cluster == api.ClusterInfo(
        leader="NBQ3SOS3MLEPLR6VXKRAM73XWPWN2CKJDRAWBPJMSKB2OSRPVM3GCYOS")
    assert info.mirror is None and info.sources is None
    # paging keys stay, the response "type" is dropped
    assert info.extra == {"total": 2, "offset": 0, "limit": 100000}


def test_stream_config_round_trip_is_exact() -> None:
    for raw in (STREAM_INFO["config"], SOURCED_STREAM_INFO["config"]):
        cfg = api.StreamConfig.from_response(raw)
        out = cfg.as_dict()
        assert out == raw
        json.dumps(out)  # JSON-ready


def test_sourced_stream_info() -> None:
    info = api.StreamInfo.from_response(SOURCED_STREAM_INFO)
    cfg = info.config
    assert cfg.compression is api.StoreCompression.S2
    assert cfg.placement == api.Placement(tags=["t"])
    assert cfg.republish == api.RePublish(src=">", dest="rp.>")
    assert cfg.max_age == 0.0
    assert cfg.sources is not None and len(cfg.sources) == 2
    first, second = cfg.sources
    assert first.opt_start_seq == 2
    assert first.subject_transforms == [api.SubjectTransform(src="s1.a", dest="x.a")]
    assert second.opt_start_time == ts(2024, 1, 2, 3, 4, 5)
    assert second.external == api.ExternalStream(api="$JS.hub.API", deliver="")
    assert cfg.consumer_limits == api.StreamConsumerLimits()

    # zero times mean "unset"
    assert info.state.first_ts is None and info.state.last_ts is None
    assert info.did_create is True
    assert info.extra == {}

    cl = info.cluster
    assert cl is not None
    assert (cl.name, cl.raft_group, cl.leader) == ("C1", "S-R3F-abcd", "n1")
    assert cl.leader_since == ts(2026, 11, 22, 4, 1, 27, 100000)
    assert cl.replicas == [
        api.PeerInfo(name="n2", current=True, active=1.5, lag=0, peer="p2"),
        api.PeerInfo(name="n3", current=False, offline=True, active=0.0, lag=7),
    ]

    assert info.sources is not None
    s0, s1 = info.sources
    assert isinstance(s0, api.StreamSourceInfo)
    assert s0.active == pytest.approx(-1e-9)  # never active
    assert s0.subject_transforms == [api.SubjectTransform(src="s1.a", dest="x.a")]
    assert s1.active == pytest.approx(0.363253029)
    assert s1.lag == 3
    assert s1.filter_subject == "s1.b"
    assert s1.error == {"code": 500, "err_code": 10029,
                        "description": "mirror consumer setup failed"}
    assert s1.extra == {"seq": 5}
    assert info.alternates == [api.StreamAlternate(name="S2", cluster="C1"),
                               api.StreamAlternate(name="S2M", domain="leaf")]


def test_minimal_stream_config() -> None:
    cfg = api.StreamConfig(name="x", subjects=["x.>"])
    assert cfg.as_dict() == {"name": "x", "subjects": ["x.>"]}
    assert "extra" not in cfg.as_dict()
    assert repr(cfg) == "StreamConfig(name='x', subjects=['x.>'])"


def test_stream_config_as_dict_conversions() -> None:
    cfg = api.StreamConfig(
        name="x",
        retention=api.RetentionPolicy.WORK_QUEUE,
        storage="memory",  # type: ignore[arg-type]  # plain strings are accepted too
        max_age=1.5,
        duplicate_window=dt.timedelta(seconds=30),  # type: ignore[arg-type]
        discard_new_per_subject=False,
        num_replicas=0,
        placement=api.Placement(cluster="east", tags=["ssd"]),
        mirror=api.StreamSource(name="ORIGIN", opt_start_time=ts(2024, 5, 6, 7, 8, 9, 250000)),
        subject_transform=api.SubjectTransform(src="a.>", dest="b.>"),
        persist_mode=api.PersistMode.ASYNC,
        allow_msg_schedules=True,
    )
    assert cfg.as_dict() == {
        "name": "x",
        "retention": "workqueue",
        "storage": "memory",
        "max_age": 1_500_000_000,
        "duplicate_window": 30_000_000_000,
        "discard_new_per_subject": False,  # False and 0 are sent; only None is left out
        "num_replicas": 0,
        "placement": {"cluster": "east", "tags": ["ssd"]},
        "mirror": {"name": "ORIGIN", "opt_start_time": "2024-05-06T07:08:09.25Z"},
        "subject_transform": {"src": "a.>", "dest": "b.>"},
        "persist_mode": "async",
        "allow_msg_schedules": True,
    }


def test_nested_dicts_are_accepted_in_as_dict() -> None:
    cfg = api.StreamConfig(name="x", placement={"cluster": "c"})  # type: ignore[arg-type]
    assert cfg.as_dict() == {"name": "x", "placement": {"cluster": "c"}}


def test_stream_source_domain_helper() -> None:
    src = api.StreamSource(name="ORIGIN", domain="hub")
    assert src.as_dict() == {"name": "ORIGIN", "external": {"api": "$JS.hub.API"}}
    explicit = api.StreamSource(name="O", domain="hub", external=api.ExternalStream(api="$JS.x.API"))
    assert explicit.as_dict() == {"name": "O", "external": {"api": "$JS.x.API"}}


def test_stream_source_consumer() -> None:
    raw = {"name": "S1", "consumer": {"name": "x", "deliver_subject": "y"}}
    src = api.StreamSource.from_response(raw)
    assert src.consumer == api.StreamConsumerSource(name="x", deliver_subject="y")
    assert src.as_dict() == raw


def test_unknown_fields_are_kept_and_re_emitted() -> None:
    raw = copy.deepcopy(STREAM_INFO["config"])
    raw["future_option"] = {"level": 3, "list": [1, 2]}
    raw["placement"] = {"cluster": "c", "affinity": "zone-a"}
    cfg = api.StreamConfig.from_response(raw)
    assert cfg.extra == {"future_option": {"level": 3, "list": [1, 2]}}
    assert cfg.placement is not None and cfg.placement.extra == {"affinity": "zone-a"}
    # what goes back to update_stream still carries them
    updated = cfg.evolve(max_msgs=10)
    out = updated.as_dict()
    assert out["future_option"] == {"level": 3, "list": [1, 2]}
    assert out["placement"] == {"cluster": "c", "affinity": "zone-a"}
    assert out["max_msgs"] == 10
    # extra is a copy, not shared with the input
    raw["future_option"]["list"].append(3)
    assert cfg.extra["future_option"]["list"] == [1, 2]


def test_unknown_enum_values_are_kept_as_strings() -> None:
    raw = {"name": "x", "retention": "somethingnew", "storage": "quantum",
           "compression": "zstd", "persist_mode": "later"}
    cfg = api.StreamConfig.from_response(raw)
    assert cfg.retention == "somethingnew"
    assert not isinstance(cfg.retention, api.RetentionPolicy)
    assert cfg.storage == "quantum"
    assert cfg.as_dict() == raw
    cc = api.ConsumerConfig.from_response({"ack_policy": "maybe", "deliver_policy": "later",
                                           "priority_policy": "fancy"})
    assert (cc.ack_policy, cc.deliver_policy, cc.priority_policy) == ("maybe", "later", "fancy")


def test_unexpected_value_types_are_not_fatal() -> None:
    cfg = api.StreamConfig.from_response({"max_age": "1h", "placement": "east",
                                          "sources": "none", "mirror": None})
    assert cfg.max_age == "1h"
    assert cfg.placement == "east"
    assert cfg.sources == "none"
    assert cfg.mirror is None
    src = api.StreamSource.from_response({"opt_start_time": "not a time"})
    assert src.opt_start_time == "not a time"


def test_json_null_keeps_the_default() -> None:
    info = api.StreamInfo.from_response({"config": None, "state": None, "created": None})
    assert info.config == api.StreamConfig()
    assert info.state == api.StreamState()
    assert info.created is None


def test_evolve() -> None:
    cfg = api.StreamConfig(name="x", subjects=["x.>"])
    other = cfg.evolve(max_msgs=5)
    assert other.max_msgs == 5 and other.name == "x"
    assert cfg.max_msgs is None
    with pytest.raises(TypeError):
        cfg.evolve(no_such_field=1)


def test_stream_state_deleted_and_lost() -> None:
    state = api.StreamState.from_response({
        "messages": 3, "bytes": 10, "first_seq": 1, "last_seq": 6, "consumer_count": 1,
        "first_ts": "2024-01-02T03:04:05Z", "last_ts": "2024-01-02T03:04:06Z",
        "num_deleted": 3, "deleted": [2, 3, 5], "lost": {"msgs": [4], "bytes": 33},
    })
    assert state.deleted == [2, 3, 5]
    assert state.num_deleted == 3
    assert state.lost == api.LostStreamData(msgs=[4], bytes=33)


def test_stream_purge_request() -> None:
    assert api.StreamPurgeRequest(filter="a.>", keep=2).as_dict() == {"filter": "a.>", "keep": 2}


# --------------------------------------------------------------------------- consumers


def test_consumer_info_from_response() -> None:
    info = api.ConsumerInfo.from_response(CONSUMER_INFO)
    assert (info.stream_name, info.name) == ("S1", "C1")
    assert info.created == ts(2026, 11, 22, 5, 1, 12, 954960)
    cfg = info.config
    assert cfg.deliver_policy is api.DeliverPolicy.ALL
    assert cfg.ack_policy is api.AckPolicy.EXPLICIT
    assert cfg.replay_policy is api.ReplayPolicy.INSTANT
    assert cfg.priority_policy is api.PriorityPolicy.PINNED_CLIENT
    assert cfg.ack_wait == 1.0
    assert cfg.backoff == [1.0, 2.5]
    assert cfg.max_batch == 10
    assert cfg.max_expires == 30.0
    assert cfg.max_bytes == 1000
    assert cfg.inactive_threshold == 10.0
    assert cfg.priority_groups == ["g"]
    assert cfg.priority_timeout == 60.0
    assert info.delivered == api.SequenceInfo(consumer_seq=3, stream_seq=4,
                                              last_active=ts(2026, 11, 22, 5, 1, 13, 500000))
    assert info.ack_floor == api.SequenceInfo(consumer_seq=2, stream_seq=3)
    assert (info.num_ack_pending, info.num_redelivered, info.num_waiting, info.num_pending) == (
        1, 0, 0, 5)
    assert info.paused is True
    assert info.pause_remaining == 2.5
    assert info.priority_groups == [
        api.PriorityGroupState(group="g"),
        api.PriorityGroupState(group="h", pinned_client_id="abc",
                               pinned_ts=ts(2026, 11, 22, 5, 1, 13)),
    ]
    assert info.extra == {}


def test_consumer_config_round_trip_is_exact() -> None:
    raw = CONSUMER_INFO["config"]
    cfg = api.ConsumerConfig.from_response(raw)
    assert cfg.as_dict() == raw


def test_consumer_config_backoff_and_durations_to_nanos() -> None:
    cfg = api.ConsumerConfig(durable_name="d", ack_policy=api.AckPolicy.EXPLICIT,
                             ack_wait=30, backoff=[0.5, 1, 2.25], idle_heartbeat=5.0,
                             max_expires=dt.timedelta(seconds=10),  # type: ignore[arg-type]
                             inactive_threshold=0.001, priority_timeout=120)
    assert cfg.as_dict() == {
        "durable_name": "d",
        "ack_policy": "explicit",
        "ack_wait": 30_000_000_000,
        "backoff": [500_000_000, 1_000_000_000, 2_250_000_000],
        "idle_heartbeat": 5_000_000_000,
        "max_expires": 10_000_000_000,
        "inactive_threshold": 1_000_000,
        "priority_timeout": 120_000_000_000,
    }


def test_push_consumer_config_times() -> None:
    cfg = api.ConsumerConfig.from_response(PUSH_CONSUMER_CONFIG)
    assert cfg.deliver_policy is api.DeliverPolicy.BY_START_TIME
    start = cfg.opt_start_time
    assert start == ts(2024, 1, 2, 1, 4, 5, 123456)
    assert start is not None and start.utcoffset() == dt.timedelta(hours=2)
    assert cfg.deliver_subject == "dlv" and cfg.flow_control is True
    assert cfg.idle_heartbeat == 5.0
    out = cfg.as_dict()
    # sub-microsecond digits are lost; the offset is kept
    assert out["opt_start_time"] == "2024-01-02T03:04:05.123456+02:00"
    assert {k: v for k, v in out.items() if k != "opt_start_time"} == {
        k: v for k, v in PUSH_CONSUMER_CONFIG.items() if k != "opt_start_time"}


def test_consumer_pause() -> None:
    paused = api.ConsumerPause.from_response({
        "type": "io.nats.jetstream.api.v1.consumer_pause_response", "paused": True,
        "pause_until": "2099-01-01T00:00:00.123456789Z", "pause_remaining": 2275585127111324320})
    assert paused.paused is True
    assert paused.pause_until == ts(2099, 1, 1, 0, 0, 0, 123456)
    assert paused.pause_remaining == pytest.approx(2275585127.111324)
    assert paused.extra == {}
    resumed = api.ConsumerPauseInfo.from_response({"paused": False,
                                                   "pause_until": "0001-01-01T00:00:00Z"})
    assert resumed == api.ConsumerPause(paused=False)


def test_sequence_pair() -> None:
    assert api.SequencePair.from_response({"consumer_seq": 1, "stream_seq": 9}) == \
        api.SequencePair(consumer_seq=1, stream_seq=9)


# --------------------------------------------------------------------------- publish acks


def test_pub_ack() -> None:
    ack = api.PubAck.from_response({"stream": "S1", "seq": 4})
    assert (ack.stream, ack.seq, ack.duplicate, ack.domain) == ("S1", 4, None, None)
    dup = api.PubAck.from_response({"stream": "S1", "seq": 5, "duplicate": True, "domain": "hub"})
    assert dup.duplicate is True and dup.domain == "hub"
    counter = api.PubAck.from_response({"stream": "C", "seq": 1, "val": "5"})
    assert counter.val == "5"


def test_pub_ack_batch_fields_are_renamed() -> None:
    raw = {"stream": "B", "seq": 2, "batch": "uuid", "count": 2}
    ack = api.PubAck.from_response(raw)
    assert (ack.batch_id, ack.batch_size) == ("uuid", 2)
    assert ack.extra == {}
    assert ack.as_dict() == raw
    # the Python names are not wire names: sent by a server they are unknown fields
    odd = api.PubAck.from_response({"stream": "B", "seq": 1, "batch_id": "x"})
    assert odd.batch_id is None and odd.extra == {"batch_id": "x"}


# --------------------------------------------------------------------------- stored messages


def test_raw_stream_msg_from_msg_get() -> None:
    for resp in (MSG_GET, MSG_GET["message"]):
        msg = api.RawStreamMsg.from_response(resp)
        assert msg.subject == "s1.a"
        assert msg.seq == 2
        assert msg.data == b"hello1"
        assert msg.hdrs == b"NATS/1.0\r\nX-Foo: bar\r\n\r\n"
        assert isinstance(msg.headers, Headers)
        assert msg.headers["X-Foo"] == "bar"
        assert msg.header is msg.headers
        assert msg.time == ts(2026, 11, 22, 5, 1, 12, 874977)
        assert msg.extra == {}
    assert api.RawStreamMsg.from_response(MSG_GET["message"]).as_dict() == {
        **MSG_GET["message"], "time": "2026-11-22T05:01:12.874977Z"}


def test_raw_stream_msg_without_headers_or_data() -> None:
    msg = api.RawStreamMsg.from_response({"subject": "a", "seq": 7, "stream": "S",
                                          "time": "2024-01-02T03:04:05Z"})
    assert msg.data == b""
    assert msg.hdrs is None and msg.headers is None
    assert msg.stream == "S"
    assert msg.as_dict() == {"subject": "a", "seq": 7, "stream": "S",
                             "time": "2024-01-02T03:04:05Z"}


def test_raw_stream_msg_multi_value_and_status_headers() -> None:
    block = b"NATS/1.0\r\nA: 1\r\nA: 2\r\nB:  x y \r\n\r\n"
    msg = api.RawStreamMsg.from_response({"subject": "s", "seq": 1,
                                          "hdrs": base64.b64encode(block).decode(),
                                          "data": base64.b64encode(b"\x00\xff").decode()})
    assert msg.data == b"\x00\xff"
    assert msg.headers is not None
    assert msg.headers.get_all("A") == ["1", "2"]
    assert msg.headers["B"] == "x y"


def test_raw_stream_msg_bad_header_block_is_kept_raw() -> None:
    block = b"HTTP/1.1 200 OK\r\n\r\n"
    msg = api.RawStreamMsg.from_response({"subject": "s", "seq": 1,
                                          "hdrs": base64.b64encode(block).decode()})
    assert msg.hdrs == block
    assert msg.headers is None


def test_raw_stream_msg_bad_base64() -> None:
    with pytest.raises(core_errors.ProtocolError):
        api.RawStreamMsg.from_response({"subject": "s", "seq": 1, "data": "not*base64!"})


def test_raw_stream_msg_from_direct() -> None:
    h = headers([("Nats-Incr", "+5"), ("Nats-Stream", "C"), ("Nats-Subject", "c.x"),
                 ("Nats-Sequence", "1"), ("Nats-Time-Stamp", "2026-11-22T05:01:27.624916019Z"),
                 ("Nats-Num-Pending", "0")])
    msg = api.RawStreamMsg.from_direct(h, b'{"val":"5"}')
    assert (msg.stream, msg.subject, msg.seq) == ("C", "c.x", 1)
    assert msg.data == b'{"val":"5"}'
    assert msg.time == ts(2026, 11, 22, 5, 1, 27, 624916)
    assert msg.headers == headers([("Nats-Incr", "+5")])
    assert msg.hdrs == b"NATS/1.0\r\nNats-Incr: +5\r\n\r\n"
    bare = api.RawStreamMsg.from_direct(headers([("Nats-Sequence", "3")]), b"")
    assert bare.seq == 3 and bare.headers is None and bare.hdrs is None


# --------------------------------------------------------------------------- account


def test_account_info() -> None:
    info = api.AccountInfo.from_response(ACCOUNT_INFO)
    assert (info.memory, info.storage, info.streams, info.consumers) == (0, 1024, 1, 2)
    assert info.domain == "hub"
    assert info.limits.max_streams == -1
    assert info.limits.max_bytes_required is False
    assert info.api == api.APIStats(total=12, errors=1, level=5)
    assert info.tiers is not None
    r1 = info.tiers["R1"]
    assert isinstance(r1, api.Tier)
    assert r1.limits == api.AccountLimits(
        max_memory=1048576, max_storage=1073741824, max_streams=10, max_consumers=100,
        max_ack_pending=-1, memory_max_stream_bytes=-1, storage_max_stream_bytes=-1,
        max_bytes_required=True)
    assert info.extra == {}


def test_account_info_minimal() -> None:
    info = api.AccountInfo.from_response({"memory": 0, "storage": 0, "streams": 0,
                                          "consumers": 0, "limits": {}, "api": {"total": 0,
                                                                                "errors": 0}})
    assert info.tiers is None and info.domain is None
    assert info.api.level is None


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("err, cls", [
    ({"code": 404, "err_code": 10059, "description": "stream not found"},
     jserr.StreamNotFoundError),
    ({"code": 404, "err_code": 10014, "description": "consumer not found"},
     jserr.ConsumerNotFoundError),
    ({"code": 404, "err_code": 10037, "description": "no message found"},
     jserr.MsgNotFoundError),
    ({"code": 400, "err_code": 10058,
      "description": "stream name already in use with a different configuration"},
     jserr.StreamNameInUseError),
    ({"code": 400, "err_code": 10071, "description": "wrong last sequence: 5"},
     jserr.WrongLastSequenceError),
    ({"code": 400, "err_code": 10070, "description": "wrong last msg ID: 1"},
     jserr.WrongLastMsgIDError),
    ({"code": 400, "err_code": 10060, "description": "expected stream does not match"},
     jserr.StreamNotMatchError),
    ({"code": 503, "err_code": 10039, "description": "JetStream not enabled for account"},
     jserr.JetStreamNotEnabledForAccountError),
    ({"code": 503, "err_code": 10076, "description": "JetStream not enabled"},
     jserr.JetStreamNotEnabledError),
    ({"code": 400, "err_code": 10148, "description": "consumer already exists"},
     jserr.ConsumerAlreadyExistsError),
    ({"code": 400, "err_code": 10149, "description": "consumer does not exist"},
     jserr.ConsumerDoesNotExistError),
    ({"code": 400, "err_code": 10013, "description": "consumer name already in use"},
     jserr.ConsumerNameExistsError),
    ({"code": 400, "err_code": 10026, "description": "maximum consumers limit reached"},
     jserr.MaxConsumersLimitError),
    ({"code": 400, "err_code": 10027, "description": "maximum number of streams reached"},
     jserr.MaxStreamsLimitError),
    ({"code": 400, "err_code": 10065, "description": "subjects overlap with an existing stream"},
     jserr.StreamSubjectOverlapError),
    ({"code": 400, "err_code": 10025, "description": "invalid JSON"}, jserr.BadRequestError),
    ({"code": 404, "err_code": 99999, "description": "gone"}, jserr.NotFoundError),
    ({"code": 500, "err_code": 10052, "description": "preferred server not permitted"},
     jserr.ServerError),
    ({"code": 503, "err_code": 10008, "description": "JetStream system temporarily unavailable"},
     jserr.ServiceUnavailableError),
    ({"code": 418, "err_code": 12345, "description": "teapot"}, jserr.APIError),
    ({"description": "no codes at all"}, jserr.APIError),
])
def test_from_error_picks_the_class(err: dict[str, Any], cls: type[jserr.APIError]) -> None:
    exc = jserr.APIError.from_error(err)
    assert type(exc) is cls
    assert exc.code == err.get("code")
    assert exc.err_code == err.get("err_code")
    assert exc.description == err["description"]
    assert isinstance(exc, jserr.APIError)
    assert isinstance(exc, jserr.Error)
    assert isinstance(exc, core_errors.Error)


def test_error_hierarchy() -> None:
    assert issubclass(jserr.StreamNotFoundError, jserr.NotFoundError)
    assert issubclass(jserr.ConsumerNotFoundError, jserr.NotFoundError)
    assert issubclass(jserr.MsgNotFoundError, jserr.NotFoundError)
    assert issubclass(jserr.StreamNameInUseError, jserr.BadRequestError)
    assert issubclass(jserr.WrongLastSequenceError, jserr.BadRequestError)
    assert issubclass(jserr.JetStreamNotEnabledError, jserr.ServiceUnavailableError)
    assert issubclass(jserr.NoStreamResponseError, jserr.Error)
    assert not issubclass(jserr.NoStreamResponseError, jserr.APIError)
    assert issubclass(jserr.ConsumerDeletedError, jserr.StatusError)
    assert jserr.ServerError is not core_errors.ServerError
    assert jserr.NotJSMessageError is core_errors.NotJSMessageError
    assert jserr.MsgAlreadyAckdError is core_errors.MsgAlreadyAckdError


def test_api_error_text() -> None:
    exc = jserr.APIError.from_error({"code": 404, "err_code": 10059,
                                     "description": "stream not found"})
    assert str(exc) == "nats: stream not found (code 404, err_code 10059)"
    with_what = jserr.APIError.from_error({"code": 404, "err_code": 10059,
                                           "description": "stream not found"}, "stream 'ORDERS'")
    assert str(with_what) == "nats: stream not found: stream 'ORDERS' (code 404, err_code 10059)"
    assert with_what.what == "stream 'ORDERS'"
    assert str(jserr.APIError(description="invalid JSON from JetStream")) == \
        "nats: invalid JSON from JetStream"
    assert str(jserr.APIError(code=503)) == "nats: JetStream API error (code 503)"
    assert "StreamNotFoundError" in repr(exc)


def test_api_error_subclass_defaults() -> None:
    exc = jserr.StreamNotFoundError()
    assert (exc.code, exc.err_code, exc.description) == (404, 10059, "stream not found")
    assert str(exc) == "nats: stream not found (code 404, err_code 10059)"
    msg = jserr.MsgNotFoundError(description="no message found: seq 5")
    assert (msg.code, msg.err_code) == (404, 10037)
    unavailable = jserr.ServiceUnavailableError(description="no responders")
    assert (unavailable.code, unavailable.err_code) == (503, None)
    assert str(unavailable) == "nats: no responders (code 503)"


def test_api_error_pickles() -> None:
    exc = jserr.APIError.from_error({"code": 400, "err_code": 10071,
                                     "description": "wrong last sequence: 5"}, "stream 'S'")
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is jserr.WrongLastSequenceError
    assert (back.code, back.err_code, back.description, back.what) == (
        400, 10071, "wrong last sequence: 5", "stream 'S'")
    assert str(back) == str(exc)


def test_raise_for_error() -> None:
    jserr.raise_for_error({"stream": "S1", "seq": 4})
    with pytest.raises(jserr.WrongLastMsgIDError) as info:
        jserr.raise_for_error({"error": {"code": 400, "err_code": 10070,
                                         "description": "wrong last msg ID: 1"},
                               "stream": "S1", "seq": 0})
    assert info.value.description == "wrong last msg ID: 1"
    with pytest.raises(jserr.APIError, match="weird"):
        jserr.raise_for_error({"error": "weird"})


def test_status_errors() -> None:
    deleted = jserr.ConsumerDeletedError()
    assert (deleted.code, deleted.description) == (409, "Consumer Deleted")
    assert str(deleted) == "nats: consumer deleted (409 Consumer Deleted)"
    assert jserr.ConsumerDeletedError(description="consumer deleted").description == \
        "consumer deleted"
    status = jserr.StatusError(code=400, description="Bad Request")
    assert str(status) == "nats: unexpected status 400: Bad Request"
    assert type(pickle.loads(pickle.dumps(deleted))) is jserr.ConsumerDeletedError
    assert str(jserr.NoStreamResponseError()) == "nats: no response from stream"
    assert str(jserr.HeartbeatMissedError("nats: x")) == "nats: x"


def test_parse_time_ascii_digits_only() -> None:
    with pytest.raises(ValueError):
        api.parse_time("٢٠٢٤-01-02T03:04:05Z")
