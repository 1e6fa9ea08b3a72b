"""Key-Value watches that resume from a revision, and KV and object store callback watchers."""

from __future__ import annotations

import threading
import time
from typing import Iterator, List, Optional

import pytest

import natsync
from natsync.errors import BadArgumentError
from natsync.errors import TimeoutError as NatsTimeoutError
from natsync.kv import Entry, KeyValue, KeyWatcher

from .js_fixtures import js, js_server, nc  # noqa: F401  (module-scoped JetStream server)
from .test_kv import drain_initial


@pytest.fixture
def kv(js: natsync.js.JetStreamContext) -> Iterator[KeyValue]:  # noqa: F811
    bucket: KeyValue = js.create_key_value(bucket="watch", history=10)
    yield bucket


# --- resume_from_revision ---------------------------------------------------------------------


def test_watch_resumes_from_a_revision_then_goes_live(kv: KeyValue) -> None:
    """Revision N and every later one (of every matching key), then None, then live ones."""
    revs = [kv.put(k, v) for k, v in [("a", b"1"), ("b", b"1"), ("a", b"2"), ("c", b"1")]]
    kv.delete("b")
    with kv.watch(resume_from_revision=revs[2]) as w:
        got = drain_initial(w)
        assert [(e.key, e.operation.value, e.value) for e in got] == [
            ("a", "PUT", b"2"), ("c", "PUT", b"1"), ("b", "DEL", b"")]
        assert got[0].revision == revs[2]
        live = kv.put("a", b"3")
        e = w.updates(timeout=5)
        assert e is not None and (e.key, e.revision) == ("a", live)


def test_a_restarting_watcher_does_not_replay_the_bucket(kv: KeyValue) -> None:
    """Keep the last revision handled; the next watcher starts just after it."""
    for i in range(5):
        kv.put(f"k{i}", b"old")
    with kv.watchall() as w:
        last = drain_initial(w)[-1].revision
    kv.put("k1", b"new")
    kv.put("k9", b"new")
    with kv.watchall(resume_from_revision=last + 1) as w:
        assert [(e.key, e.value) for e in drain_initial(w)] == [("k1", b"new"), ("k9", b"new")]
    with kv.watch("k9", resume_from_revision=last + 100) as w:  # beyond the end: nothing yet
        assert drain_initial(w) == []
        kv.put("k9", b"later")  # a revision before the start: not delivered
        with pytest.raises(NatsTimeoutError):
            w.updates(timeout=0.3)


def test_resume_with_updates_only_sends_no_marker(kv: KeyValue) -> None:
    first = kv.put("a", b"1")
    kv.put("a", b"2")
    with kv.watch("a", resume_from_revision=first, updates_only=True) as w:
        assert [e.value for e in (w.updates(timeout=5), w.updates(timeout=5))
                if e is not None] == [b"1", b"2"]


def test_history_and_keys_from_a_revision(kv: KeyValue) -> None:
    kv.put("a", b"1")
    second = kv.put("a", b"2")
    kv.put("b", b"1")
    kv.put("a", b"3")
    kv.delete("b")
    kv.put("c", b"1")
    assert [e.value for e in kv.history("a", resume_from_revision=second)] == [b"2", b"3"]
    assert kv.history("a", resume_from_revision=10_000) == []
    # Keys written since `second` that still have a value: b was deleted since.
    assert kv.keys(resume_from_revision=second) == ["a", "c"]
    assert kv.keys("c", resume_from_revision=second) == ["c"]
    assert kv.keys(resume_from_revision=1) == ["a", "c"]


def test_history_from_a_revision_without_direct_gets(js: natsync.js.JetStreamContext,  # noqa: F811
                                                     ) -> None:
    kv = js.create_key_value(bucket="nodirect", history=5, direct=False)
    kv.put("k", b"1")
    rev = kv.put("k", b"2")
    assert [e.value for e in kv.history("k", resume_from_revision=rev)] == [b"2"]


@pytest.mark.parametrize("bad", [0, -1, 1.5, "3", True])
def test_bad_revisions_are_refused_before_a_request(kv: KeyValue, bad: object) -> None:
    with pytest.raises(BadArgumentError, match="resume_from_revision"):
        kv.watch(resume_from_revision=bad)  # type: ignore[arg-type]
    with pytest.raises(BadArgumentError, match="resume_from_revision"):
        kv.history("a", resume_from_revision=bad)  # type: ignore[arg-type]
    with pytest.raises(BadArgumentError, match="resume_from_revision"):
        kv.keys(resume_from_revision=bad)  # type: ignore[arg-type]


# --- callback watchers ------------------------------------------------------------------------


class Recorder:
    """A watch callback that records what it gets and which thread ran it."""

    def __init__(self, fail_on: Optional[bytes] = None) -> None:
        self.items: List[Optional[Entry]] = []
        self.threads: set[str] = set()
        self.fail_on = fail_on
        self.cond = threading.Condition()

    def __call__(self, entry: Optional[Entry]) -> None:
        with self.cond:
            self.items.append(entry)
            self.threads.add(threading.current_thread().name)
            self.cond.notify_all()
        if entry is not None and entry.value == self.fail_on:
            raise RuntimeError("callback failed on purpose")

    def wait_for(self, n: int, timeout: float = 5.0) -> List[Optional[Entry]]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.items) >= n, timeout), self.items
            return list(self.items)


def test_callback_watcher_runs_in_order_on_its_own_thread(kv: KeyValue) -> None:
    kv.put("a", b"0")
    rec = Recorder()
    w = kv.watch(cb=rec)
    try:
        # The marker comes once the watcher has caught up with the stream: a put before
        # the initial value arrived would come before it (as in nats.go), so wait for it.
        rec.wait_for(2)
        for i in range(1, 51):  # a key each: a revision the watcher has not yet read is
            kv.put(f"k{i}", b"%d" % i)  # not dropped by a later one (the history limit)
        got = rec.wait_for(52)
    finally:
        w.stop()
    assert got[1] is None  # the end of the initial values, as iteration gives it
    values = [e.value for e in got if e is not None]
    assert values == [b"%d" % i for i in range(51)]
    assert rec.threads == {"natsync-kv-watch"}
    with pytest.raises(natsync.errors.Error, match="callback"):
        w.updates(timeout=0.1)


def test_a_failing_callback_is_reported_and_delivery_goes_on(
        js_server: natsync.testing.NatsServer) -> None:  # noqa: F811
    errors: List[Exception] = []
    seen = threading.Event()

    def error_cb(exc: Exception) -> None:
        errors.append(exc)
        seen.set()

    with natsync.connect(js_server.url, error_cb=error_cb) as client:
        kv = client.jetstream().create_key_value(bucket="failing")
        rec = Recorder(fail_on=b"bad")
        with kv.watch(updates_only=True, cb=rec):
            # a key each: with history 1 a later put of the same key would delete a
            # revision the watcher has not read yet (the server then skips it)
            for n, value in enumerate((b"ok1", b"bad", b"ok2")):
                kv.put(f"k{n}", value)
            got = rec.wait_for(3)
            assert seen.wait(5)
        assert [e.value for e in got if e is not None] == [b"ok1", b"bad", b"ok2"]
        assert [str(e) for e in errors] == ["callback failed on purpose"]
        client.jetstream().delete_key_value("failing")


def test_stop_joins_the_callback_thread(kv: KeyValue) -> None:
    started = threading.Event()
    release = threading.Event()
    finished: List[float] = []

    def slow(entry: Optional[Entry]) -> None:
        if entry is None:
            return
        started.set()
        release.wait(5)
        finished.append(time.monotonic())

    w = kv.watch(updates_only=True, cb=slow)
    kv.put("k", b"v")
    assert started.wait(5)
    threading.Timer(0.2, release.set).start()
    w.stop()  # returns only once the callback has finished
    assert finished
    assert not [t for t in threading.enumerate() if t.name == "natsync-kv-watch"]
    w.stop()  # idempotent


def test_stop_from_inside_the_callback(kv: KeyValue) -> None:
    seen: List[Optional[Entry]] = []
    holder: List[KeyWatcher] = []
    done = threading.Event()
    started = threading.Event()  # the callback may run before watch() has returned

    def cb(entry: Optional[Entry]) -> None:
        seen.append(entry)
        if entry is not None:
            assert started.wait(5)
            holder[0].stop()
            done.set()

    kv.put("k", b"1")
    kv.put("k", b"2")
    holder.append(kv.watch(include_history=True, cb=cb))
    started.set()
    assert done.wait(5)
    for _ in range(100):  # the thread ends by itself after the stop
        if not [t for t in threading.enumerate() if t.name == "natsync-kv-watch"]:
            break
        time.sleep(0.02)
    assert [e.value for e in seen if e is not None] == [b"1"]


def test_client_close_joins_the_callback_thread(js_server: natsync.testing.NatsServer,  # noqa: F811
                                                ) -> None:
    errors: List[Exception] = []
    started = threading.Event()
    finished: List[bool] = []

    def slow(entry: Optional[Entry]) -> None:
        if entry is not None:
            started.set()
            time.sleep(0.3)
            finished.append(True)

    client = natsync.connect(js_server.url, error_cb=errors.append)
    kv = client.jetstream().create_key_value(bucket="closing")
    kv.watch(updates_only=True, cb=slow)
    kv.put("k", b"v")
    assert started.wait(5)
    client.close()  # waits for the callback in progress, through the close hook
    assert finished == [True]
    assert not [t for t in threading.enumerate() if t.name == "natsync-kv-watch"]
    assert errors == []
    with natsync.connect(js_server.url) as other:
        other.jetstream().delete_key_value("closing")


def test_object_store_callback_watcher(js: natsync.js.JetStreamContext) -> None:  # noqa: F811
    obs = js.create_object_store("watched")
    obs.put("first", b"1")
    seen: List[Optional[str]] = []
    cond = threading.Condition()

    def cb(info: Optional[natsync.obs.ObjectInfo]) -> None:
        with cond:
            seen.append(None if info is None else info.name)
            cond.notify_all()

    with obs.watch(cb=cb):
        with cond:  # the initial value and the marker first (see the KV test above)
            assert cond.wait_for(lambda: len(seen) >= 2, 5), seen
        obs.put("second", b"2")
        with cond:
            assert cond.wait_for(lambda: len(seen) >= 3, 5), seen
    assert seen == ["first", None, "second"]
    assert not [t for t in threading.enumerate() if t.name == "natsync-obj-watch"]
