"""The newer JetStream fields against a real nats-server 2.15: ack policy flow_control
(ADR-60), expected_last_subject_seq_subject, deleted_details, delete_msg(no_erase), and
the version gates that refuse them before an older server would misread them."""

from __future__ import annotations

import time

import pytest

import natsync
from natsync.errors import BadArgumentError, BadSubjectError
from natsync.js import api
from natsync.js.errors import FeatureNotSupportedError, MsgNotFoundError, WrongLastSequenceError

from . import js_fixtures

js_server, nc, js = js_fixtures.js_server, js_fixtures.nc, js_fixtures.js  # this module's fixtures


def test_flow_control_ack_policy_acks_through_flow_control(
        js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="F", subjects=["f.>"], retention=api.RetentionPolicy.WORK_QUEUE)
    for i in range(10):
        js.publish("f.x", b"%d" % i)
    sub = js.subscribe("f.>", config=api.ConsumerConfig(
        durable_name="src", ack_policy=api.AckPolicy.FLOW_CONTROL, flow_control=True,
        idle_heartbeat=1, max_ack_pending=100))
    assert sub.consumer_info().config.ack_policy == api.AckPolicy.FLOW_CONTROL
    assert [sub.next_msg(timeout=2).data for _ in range(10)] == [b"%d" % i for i in range(10)]
    assert js.stream_info("F").state.messages == 10  # nothing acked one by one
    deadline = time.monotonic() + 5  # the server asks for flow control with its 1 s heartbeat
    while js.stream_info("F").state.messages and time.monotonic() < deadline:
        with pytest.raises(natsync.errors.TimeoutError):
            sub.next_msg(timeout=0.3)  # waiting is when the answer (the ack) goes out
    info = sub.consumer_info()
    assert info.ack_floor.stream_seq == 10 and info.num_ack_pending == 0
    assert js.stream_info("F").state.messages == 0  # the work queue let them go
    sub.unsubscribe()


def test_expected_last_subject_seq_subject(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="E", subjects=["e.>"])
    js.publish("e.a", b"1")
    last = js.publish("e.b", b"2").seq
    # e.c has never been written; the check is against the last of e.* instead.
    ack = js.publish("e.c", b"3", expected_last_subject_seq=last,
                     expected_last_subject_seq_subject="e.*")
    assert ack.seq == last + 1
    with pytest.raises(WrongLastSequenceError):
        js.publish("e.d", b"4", expected_last_subject_seq=last,
                   expected_last_subject_seq_subject="e.*")
    future = js.publish_async("e.d", b"4", expected_last_subject_seq=ack.seq,
                              expected_last_subject_seq_subject="e.>")
    assert future.result(timeout=5).seq == ack.seq + 1
    with pytest.raises(BadArgumentError, match="needs expected_last_subject_seq"):
        js.publish("e.x", b"", expected_last_subject_seq_subject="e.*")
    with pytest.raises(BadArgumentError, match="needs expected_last_subject_seq"):
        js.publish_async("e.x", b"", expected_last_subject_seq_subject="e.*")
    with pytest.raises(BadSubjectError):
        js.publish("e.x", b"", expected_last_subject_seq=1,
                   expected_last_subject_seq_subject="e. x")


def test_deleted_details_and_delete_without_erasing(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="D", subjects=["d.>"])
    for i in range(5):
        js.publish("d.x", b"%d" % i)
    assert js.delete_msg("D", 2, no_erase=True)
    assert js.delete_msg("D", 4)  # erased: overwritten, as before
    for seq in (2, 4):
        with pytest.raises(MsgNotFoundError):
            js.get_msg("D", seq)
    assert js.get_msg("D", 3).data == b"2"
    info = js.stream_info("D", deleted_details=True)
    assert info.state.deleted == [2, 4] and info.state.num_deleted == 2
    assert js.stream_info("D").state.deleted is None  # only when asked
    assert js.stream_info("D", subjects_filter=">", deleted_details=True).state.deleted == [2, 4]
    with pytest.raises(BadArgumentError, match="seq must be a positive int, got 0"):
        js.delete_msg("D", 0)


def test_version_gates(monkeypatch: pytest.MonkeyPatch, nc: natsync.Client,
                       js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="G", subjects=["g.>"])
    monkeypatch.setattr(type(nc), "connected_server_version", property(lambda self: "2.13.4"))
    with pytest.raises(FeatureNotSupportedError,
                       match="ack policy flow_control needs nats-server 2.14.0"):
        js.add_consumer("G", durable_name="fc", ack_policy=api.AckPolicy.FLOW_CONTROL,
                        deliver_subject="fc.out")
    with pytest.raises(FeatureNotSupportedError):
        js.update_consumer("G", durable_name="fc", ack_policy="flow_control")
    monkeypatch.setattr(type(nc), "connected_server_version", property(lambda self: "2.10.29"))
    for publish in (js.publish, js.publish_async):
        with pytest.raises(FeatureNotSupportedError,
                           match="expected_last_subject_seq_subject needs nats-server 2.11.0"):
            publish("g.x", b"", expected_last_subject_seq=0,
                    expected_last_subject_seq_subject="g.*")
    assert js.stream_info("G").state.messages == 0  # nothing went out
