"""Dead letters from the MAX_DELIVERIES and MSG_TERMINATED advisories, against a real
nats-server: as an iterator, as a callback, bounded, and closed."""

from __future__ import annotations

import threading
from typing import List

import pytest

import natsync
from natsync.errors import BadArgumentError, SlowConsumerError
from natsync.js.deadletter import MAX_DELIVERIES, TERMINATED, DeadLetter
from natsync.js.errors import ConsumerNotFoundError

from . import js_fixtures
from .conftest import natsync_threads, wait_for

js_server, nc, js = js_fixtures.js_server, js_fixtures.nc, js_fixtures.js  # this module's fixtures


def _kill_two(js: natsync.js.JetStreamContext, stream: str) -> None:
    """Publish two messages; run the first out of deliveries (2) and terminate the second."""
    js.publish(f"{stream.lower()}.a", b"one")
    js.publish(f"{stream.lower()}.a", b"two")
    psub = js.pull_subscribe_bind("d", stream)
    for msg in psub.fetch(2, timeout=2):
        msg.nak() if msg.data == b"one" else msg.term("bad payload")
    again = psub.fetch(1, timeout=2)  # "one", delivered a second (and last) time
    assert [m.data for m in again] == [b"one"]
    again[0].nak()
    # The server finds "one" out of deliveries when it next looks for one to deliver.
    assert psub.fetch(1, timeout=0.3) == []


def test_dead_letters_come_with_their_messages(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="W", subjects=["w.>"])
    js.add_consumer("W", durable_name="d", max_deliver=2)
    with js.dead_letters("W", "d") as dead:
        _kill_two(js, "W")
        letters = {letter.kind: letter for letter in (dead.next(timeout=3), dead.next(timeout=3))
                   if letter is not None}
    term, maxed = letters[TERMINATED], letters[MAX_DELIVERIES]
    assert (term.stream_seq, term.deliveries, term.reason) == (2, 1, "bad payload")
    assert term.msg is not None and term.msg.data == b"two" and term.msg.subject == "w.a"
    assert (maxed.stream_seq, maxed.deliveries, maxed.reason) == (1, 2, "")
    assert maxed.msg is not None and maxed.msg.data == b"one"
    assert maxed.consumer == "d" and maxed.ts is not None and maxed.advisory["stream_seq"] == 1
    assert dead.next(timeout=0) is None  # closed: the iteration is over
    assert list(dead) == []


def test_dead_letters_to_a_callback(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="Q", subjects=["q.>"], retention="workqueue")
    js.add_consumer("Q", durable_name="d", max_deliver=2)
    got: List[DeadLetter] = []
    dead = js.dead_letters("Q", "d", cb=got.append)
    _kill_two(js, "Q")
    wait_for(lambda: len(got) == 2, timeout=5, what="two dead letters")
    dead.close()
    assert not [t for t in natsync_threads() if t.name == "natsync-js-deadletters"]
    term = next(letter for letter in got if letter.kind == TERMINATED)
    assert term.msg is None  # a work queue drops a terminated message at once
    maxed = next(letter for letter in got if letter.kind == MAX_DELIVERIES)
    assert maxed.msg is not None and maxed.msg.data == b"one"  # kept: never acknowledged


def test_dead_letters_are_bounded(js_server: natsync.testing.NatsServer,
                                  js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="B", subjects=["b.>"])
    js.add_consumer("B", durable_name="d", max_deliver=2)
    errors: List[BaseException] = []
    seen = threading.Event()
    client = natsync.connect(js_server.url, error_cb=lambda e: (errors.append(e), seen.set()))
    try:
        dead = client.jetstream().dead_letters("B", "d", max_pending=1)
        _kill_two(js, "B")
        assert seen.wait(5) and isinstance(errors[0], SlowConsumerError)
        letter = dead.next(timeout=1)  # only the newest was kept
        assert letter is not None and letter.kind == MAX_DELIVERIES and dead.dropped == 1
        with pytest.raises(natsync.errors.TimeoutError):
            dead.next(timeout=0.2)
    finally:
        client.close()  # closes the helper too
    assert dead.next(timeout=0) is None


def test_dead_letters_refuse_bad_arguments(js: natsync.js.JetStreamContext) -> None:
    js.add_stream(name="X", subjects=["x.>"])
    with pytest.raises(ConsumerNotFoundError):
        js.dead_letters("X", "nobody")
    js.add_consumer("X", durable_name="d")
    with pytest.raises(BadArgumentError, match="max_pending must be a positive int"):
        js.dead_letters("X", "d", max_pending=0)
    with pytest.raises(BadArgumentError, match="cb must be callable"):
        js.dead_letters("X", "d", cb="print")  # type: ignore[arg-type]
