"""The task-queue integrations' pieces on their own, no server: name encoding, kombu
routing (exchange/binding -> subjects and filters), the message envelope, settings, the
prefetch budget and the rate-limit value format."""

from __future__ import annotations

import re
import time
from typing import Optional

import pytest

from natsync.contrib.celery.channel import Budget, bindings_of
from natsync.contrib.celery.routing import (
    ENVELOPE_HEADER,
    binding_filters,
    decode_message,
    encode_message,
    filters_for,
    publish_subject,
)
from natsync.contrib.celery.transport import Settings, _mask
from natsync.contrib.dramatiq.backends import _parse, _stamp
from natsync.contrib.taskqueue import MAX_NAME, short_name, token
from natsync.errors import BadArgumentError
from natsync.headers import Headers
from natsync.msg import Msg
from natsync.subjects import check_subject

TOKEN = re.compile(r"^[A-Za-z0-9_=-]+$")


@pytest.mark.parametrize("name", ["celery", "a.b", "", "=", "w@host.celery.pidbox", "é x",
                                  "*", ">", "a/b", "-_"])
def test_token_is_one_safe_token(name: str) -> None:
    tok = token(name)
    assert TOKEN.match(tok), tok
    check_subject(f"kombu.{tok}")


def test_token_keeps_plain_names_and_is_injective() -> None:
    assert token("celery") == "celery" and token("my-queue_2") == "my-queue_2"
    names = ["a.b", "a=2Eb", "a_b", "", "=", "==", "a b", "a=20b", ".", "=2E"]
    assert len({token(n) for n in names}) == len(names)


def test_short_name_cuts_long_names_with_a_hash() -> None:
    assert short_name("celery") == "celery"
    long_a, long_b = "q" * 300 + "a", "q" * 300 + "b"
    assert len(short_name(long_a)) <= MAX_NAME and "==" in short_name(long_a)
    assert short_name(long_a) != short_name(long_b)


def test_publish_subject_splits_routing_key_words() -> None:
    assert publish_subject("kombu", "celery", "celery") == "kombu.celery.celery"
    assert publish_subject("kombu", "", "my.queue") == "kombu.=.my.queue"
    assert publish_subject("kombu", "ev", "") == "kombu.ev.="
    assert publish_subject("kombu", "reply.celery.pidbox", "abc") == \
        "kombu.reply=2Ecelery=2Epidbox.abc"


def test_direct_binding_is_the_exact_publish_subject() -> None:
    assert binding_filters("k", "tasks", "direct", "a.b") == [publish_subject("k", "tasks", "a.b")]
    # wildcards mean nothing on a direct exchange: they are escaped
    assert binding_filters("k", "tasks", "direct", "*") == ["k.tasks.=2A"]


def test_topic_binding_maps_amqp_wildcards() -> None:
    assert binding_filters("k", "ev", "topic", "worker.*") == ["k.ev.worker.*"]
    assert binding_filters("k", "ev", "topic", "worker.#") == ["k.ev.worker.>", "k.ev.worker"]
    assert binding_filters("k", "ev", "topic", "#") == ["k.ev.>"]
    with pytest.raises(BadArgumentError, match="only as the last word"):
        binding_filters("k", "ev", "topic", "a.#.b")


def _matches(pattern: str, subject: str) -> bool:
    """NATS subject matching, for checking the filters."""
    p, s = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(s) > i
        if i >= len(s) or (tok != "*" and tok != s[i]):
            return False
    return len(p) == len(s)


@pytest.mark.parametrize("key,routing_key,expected", [
    ("worker.#", "worker", True), ("worker.#", "worker.online", True),
    ("worker.#", "worker.a.b", True), ("worker.#", "task.x", False),
    ("*.online", "worker.online", True), ("*.online", "online", False),
    ("#", "", True), ("#", "anything.at.all", True), ("a.*", "a", False),
])
def test_topic_filters_route_as_amqp_does(key: str, routing_key: str, expected: bool) -> None:
    subject = publish_subject("k", "ev", routing_key)
    got = any(_matches(f, subject) for f in binding_filters("k", "ev", "topic", key))
    assert got is expected


def test_fanout_binding_takes_every_routing_key() -> None:
    (f,) = binding_filters("k", "bcast", "fanout", "ignored")
    assert all(_matches(f, publish_subject("k", "bcast", rk)) for rk in ("", "x", "a.b.c"))
    assert not _matches(f, publish_subject("k", "other", "x"))


def test_headers_exchange_is_refused() -> None:
    with pytest.raises(BadArgumentError, match="headers"):
        binding_filters("k", "h", "headers", "")


def test_filters_for_dedupes_in_order() -> None:
    got = filters_for("k", [("", "direct", "q"), ("ev", "topic", "a.#"), ("", "direct", "q")])
    assert got == ["k.=.q", "k.ev.a.>", "k.ev.a"]


def test_bindings_of_reads_metadata_or_defaults() -> None:
    assert bindings_of(None, "q") == [("", "direct", "q")]
    meta = {"kombu_bindings": '[["", "direct", "q"], ["ev", "topic", "#"]]'}
    assert bindings_of(meta, "q") == [("", "direct", "q"), ("ev", "topic", "#")]


def _msg(payload: bytes, headers: Optional[dict[str, str]]) -> Msg:
    return Msg(None, "kombu.x.y", "", payload, Headers(headers) if headers else None)


@pytest.mark.parametrize("body", ['{"a": "é"}', b"\x00\xffbinary"])
def test_envelope_round_trip(body: object) -> None:
    message = {"body": body, "content-type": "application/json", "content-encoding": "utf-8",
               "headers": {"id": "t1", "retries": 2, "stamps": {"x": [1, 2]}},
               "properties": {"priority": 0, "reply_to": "r", "delivery_tag": "old",
                              "delivery_info": {"exchange": "celery", "routing_key": "celery"}}}
    payload, headers = encode_message(message)
    assert set(headers) == {ENVELOPE_HEADER} and "\n" not in headers[ENVELOPE_HEADER]
    back = decode_message(_msg(payload, headers), delivery_tag=7, redelivered=True)
    assert back["body"] == body
    assert back["headers"] == message["headers"]
    assert back["content-type"] == "application/json"
    assert back["properties"]["delivery_tag"] == 7
    assert back["properties"]["reply_to"] == "r"
    assert back["properties"]["delivery_info"] == {"exchange": "celery", "routing_key": "celery",
                                                   "redelivered": True}


def test_decode_refuses_a_foreign_message() -> None:
    with pytest.raises(BadArgumentError, match=ENVELOPE_HEADER):
        decode_message(_msg(b"hi", None), 1, False)


def test_settings_validate_and_namespace_the_vhost() -> None:
    s = Settings.from_options({"visibility_timeout": 10, "unrelated_option": 1}, "/")
    assert (s.stream, s.subject_prefix, s.visibility_timeout) == ("KOMBU", "kombu", 10)
    s = Settings.from_options({}, "staging.eu")
    assert (s.stream, s.subject_prefix) == ("KOMBU_staging=2Eeu", "kombu.staging=2Eeu")
    with pytest.raises(BadArgumentError, match="visibility_timeout"):
        Settings.from_options({"visibility_timeout": 0}, None)
    with pytest.raises(BadArgumentError, match="fetch_batch"):
        Settings.from_options({"fetch_batch": 0}, None)
    with pytest.raises(BadArgumentError, match="pull_wait must be a positive number, got 'soon'"):
        Settings.from_options({"pull_wait": "soon"}, None)


def test_as_uri_masks_passwords_and_tokens() -> None:
    assert _mask("nats://u:secret@h:4222", "**") == "nats://u:**@h:4222"
    assert _mask("nats://s3cr3t-token@h:4222", "**") == "nats://**@h:4222"
    assert _mask("nats://h:4222", "**") == "nats://h:4222"


class _P:
    def __init__(self) -> None:
        self.pending = 0


def test_budget_follows_the_prefetch_and_lets_each_queue_probe() -> None:
    room: list[Optional[int]] = [4]
    budget = Budget(lambda: room[0], cap=10)
    a, b = _P(), _P()
    assert budget.take(a, 100, wait=0) == 4  # all the room
    assert budget.take(a, 100, wait=0) == 0  # nothing more for a
    assert budget.take(b, 100, wait=0) == 1  # b may still probe its own queue
    assert budget.take(b, 100, wait=0) == 0
    budget.give_back(a, 4)
    budget.give_back(b, 1)
    room[0] = 0  # the QoS is full (all delivered, none acked): nobody probes
    assert budget.take(b, 100, wait=0) == 0
    room[0] = None  # unlimited: bounded by the cap
    assert budget.take(a, 100, wait=0) == 10
    t0 = time.monotonic()
    assert budget.take(a, 1, wait=0.05) == 0
    assert time.monotonic() - t0 >= 0.04


def test_rate_limit_values_expire() -> None:
    assert _parse(_stamp(5, 60_000)) == 5
    assert _parse(_stamp(5, -1)) is None
    assert _parse(None) is None and _parse(b"") is None
