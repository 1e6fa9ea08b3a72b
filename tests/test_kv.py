"""Key-Value store against a real server: every method and error, CAS races, history, keys."""

from __future__ import annotations

import pickle
import threading
import time
from typing import Any, Callable

import pytest

import natsync
from natsync.errors import Error as NatsError
from natsync.errors import TimeoutError as NatsTimeoutError
from natsync.js import api
from natsync.js.errors import (
    APIError,
    NotFoundError,
    StreamNameInUseError,
    WrongLastSequenceError,
)
from natsync.kv import (
    BadBucketError,
    BucketNotFoundError,
    BucketStatus,
    Entry,
    InvalidBucketNameError,
    InvalidKeyError,
    KeyDeletedError,
    KeyHistoryTooLargeError,
    KeyNotFoundError,
    KeyValue,
    KeyValueConfig,
    KeyWatcher,
    KeyWrongLastSequenceError,
    NoKeysError,
    Operation,
)


@pytest.fixture
def js(nc: natsync.Client) -> Any:
    return nc.jetstream()


@pytest.fixture
def kv(js: Any) -> KeyValue:
    bucket: KeyValue = js.create_key_value(bucket="test", history=10)
    return bucket


def drain_initial(w: KeyWatcher, limit: int = 10_000) -> list[Entry]:
    """The entries a watcher sends before its None marker."""
    out: list[Entry] = []
    for _ in range(limit):
        e = w.updates(timeout=5)
        if e is None:
            return out
        out.append(e)
    raise AssertionError("no end-of-initial-values marker")


def wait_until(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# --- buckets ----------------------------------------------------------------------------------


def test_bucket_stream_matches_other_clients(js: Any) -> None:
    """The stream is what nats.go/nats-py/the CLI create and expect (ADR-8)."""
    js.create_key_value(KeyValueConfig(bucket="cfg", history=5, ttl=60, description="d",
                                       max_value_size=1024, max_bytes=1 << 20,
                                       metadata={"team": "a"}))
    c = js.stream_info("KV_cfg").config
    assert c.subjects == ["$KV.cfg.>"]
    assert c.max_msgs_per_subject == 5
    assert c.allow_rollup_hdrs is True and c.deny_delete is True and c.allow_direct is True
    assert c.discard == api.DiscardPolicy.NEW
    assert c.max_age == 60 and c.duplicate_window == 60  # window shortened to the ttl
    assert c.max_msg_size == 1024 and c.max_bytes == 1 << 20
    assert c.max_msgs == -1 and c.max_consumers == -1
    assert c.description == "d" and (c.metadata or {}).get("team") == "a"
    assert not c.allow_msg_ttl


def test_create_open_list_delete(js: Any) -> None:
    a = js.create_key_value(bucket="alpha")
    assert isinstance(a, KeyValue) and a.bucket == a.name == "alpha" and a.stream == "KV_alpha"
    assert js.create_key_value("alpha").bucket == "alpha"  # same settings: opened
    js.create_key_value({"bucket": "beta"}, history=3)
    js.add_stream(name="OTHER", subjects=["other.>"])
    assert js.key_value_store_names() == ["alpha", "beta"]
    statuses = js.key_value_stores()
    assert [s.bucket for s in statuses] == ["alpha", "beta"] and statuses[1].history == 3
    assert js.key_value("beta").bucket == "beta"
    with pytest.raises(StreamNameInUseError):
        js.create_key_value(bucket="alpha", history=7)
    assert js.delete_key_value("alpha") is True
    with pytest.raises(BucketNotFoundError) as ei:
        js.key_value("alpha")
    assert isinstance(ei.value, NotFoundError) and "alpha" in str(ei.value)
    with pytest.raises(BucketNotFoundError):
        js.delete_key_value("alpha")
    assert js.key_value_store_names() == ["beta"]


def test_bad_bucket_and_names(js: Any) -> None:
    for bad in ("", "a.b", "a b", "a*", "a>", "ä", None):
        with pytest.raises(InvalidBucketNameError) as ei:
            js.create_key_value(bucket=bad)
        assert isinstance(ei.value, ValueError) and isinstance(ei.value, NatsError)
    with pytest.raises(InvalidBucketNameError):
        js.key_value("no.dots")
    with pytest.raises(KeyHistoryTooLargeError):
        js.create_key_value(bucket="h", history=65)
    with pytest.raises(ValueError):
        js.create_key_value(bucket="h", history=-1)
    assert js.create_key_value(bucket="h", history=64).status().history == 64
    js.add_stream(name="KV_fake", subjects=["fake.>"], max_msgs_per_subject=-1)
    with pytest.raises(BadBucketError):
        js.key_value("fake")


def test_status(js: Any) -> None:
    kv = js.create_key_value(bucket="st", history=4, ttl=30, compression=True)
    kv.put("a", b"12345")
    kv.put("a", b"6")
    s = kv.status()
    assert isinstance(s, BucketStatus)
    assert (s.bucket, s.values, s.history, s.ttl, s.backing_store) == ("st", 2, 4, 30, "JetStream")
    assert s.bytes > 0 and s.is_compressed and s.direct and s.limit_marker_ttl is None
    assert s.stream_info.config.name == "KV_st" and s.metadata is None


# --- get / put / create / update --------------------------------------------------------------


def test_put_get_revisions(kv: KeyValue) -> None:
    r1 = kv.put("color", b"red")
    r2 = kv.put("color", b"blue")
    assert r2 > r1
    e = kv.get("color")
    assert (e.bucket, e.key, e.value, e.revision, e.operation) == ("test", "color", b"blue", r2, "PUT")
    assert e.operation is Operation.PUT and e.delta == 0 and not e.deleted
    assert e.created is not None and e.created.tzinfo is not None
    assert abs((e.created - natsync_now()).total_seconds()) < 60
    assert kv.get("color", revision=r1).value == b"red"
    with pytest.raises(KeyNotFoundError):
        kv.get("missing")
    kv.put("other", b"x")
    with pytest.raises(KeyNotFoundError):
        kv.get("color", revision=r1 + 100)
    with pytest.raises(KeyNotFoundError):  # a revision of another key
        kv.get("other", revision=r1)


def natsync_now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc)


def test_get_without_direct(js: Any) -> None:
    kv = js.create_key_value(bucket="nodirect", direct=False)
    assert js.stream_info("KV_nodirect").config.allow_direct is False
    kv.put("k", b"v")
    r = kv.put("k", b"w")
    kv2 = js.key_value("nodirect")
    assert kv2.get("k").value == b"w" and kv2.get("k").revision == r
    kv2.delete("k")
    with pytest.raises(KeyDeletedError):
        kv2.get("k")
    with pytest.raises(KeyNotFoundError):
        kv2.get("nope")


def test_create_update_cas(kv: KeyValue) -> None:
    r1 = kv.create("job", b"1")
    with pytest.raises(KeyWrongLastSequenceError) as ei:
        kv.create("job", b"again")
    err = ei.value
    assert isinstance(err, WrongLastSequenceError) and isinstance(err, APIError)
    assert err.err_code == 10071 and "job" in str(err)
    r2 = kv.update("job", b"2", r1)
    with pytest.raises(KeyWrongLastSequenceError):
        kv.update("job", b"stale", r1)
    with pytest.raises(KeyWrongLastSequenceError):
        kv.update("fresh", b"x", 5)
    assert kv.update("fresh", b"x", 0) > r2  # last=0: never written
    assert kv.get("job").value == b"2"


def test_create_after_delete_and_purge(kv: KeyValue) -> None:
    kv.create("k", b"1")
    kv.delete("k")
    r = kv.create("k", b"2")  # the delete marker is the latest revision: create succeeds
    assert kv.get("k").revision == r
    kv.purge("k")
    assert kv.create("k", b"3") > r
    assert kv.get("k").value == b"3"


def test_delete_purge_and_errors(kv: KeyValue) -> None:
    r1 = kv.put("a", b"1")
    kv.put("a", b"2")
    with pytest.raises(KeyWrongLastSequenceError):
        kv.delete("a", last=r1)
    d = kv.delete("a")
    assert d > r1
    with pytest.raises(KeyDeletedError) as ei:
        kv.get("a")
    assert isinstance(ei.value, KeyNotFoundError) and isinstance(ei.value, NotFoundError)
    assert ei.value.op == "DEL" and ei.value.entry is not None
    assert ei.value.entry.revision == d and ei.value.entry.operation is Operation.DEL
    assert [e.operation for e in kv.history("a")] == ["PUT", "PUT", "DEL"]
    kv.put("a", b"3")
    p = kv.purge("a")
    with pytest.raises(KeyDeletedError) as ei:
        kv.get("a")
    assert ei.value.op == "PURGE"
    hist = kv.history("a")
    assert [(e.revision, e.operation) for e in hist] == [(p, Operation.PURGE)]  # rolled up
    r = kv.put("b", b"1")
    assert kv.delete("b", last=r)


def test_invalid_keys(kv: KeyValue) -> None:
    for bad in ("", ".a", "a.", "a..b", "a b", "a*", "a>", "*", ">", "ä", "a:b", None, 5):
        with pytest.raises(InvalidKeyError) as ei:
            kv.put(bad, b"x")  # type: ignore[arg-type]
        assert isinstance(ei.value, ValueError) and isinstance(ei.value, NatsError)
    for call in (lambda: kv.get("a b"), lambda: kv.create("a*", b""), lambda: kv.delete(">"),
                 lambda: kv.update("", b"", 1), lambda: kv.purge("."), lambda: kv.history("*")):
        with pytest.raises(InvalidKeyError):
            call()
    with pytest.raises(InvalidKeyError):
        kv.watch("a.>.b")
    with pytest.raises(InvalidKeyError):
        kv.keys(["ok", "not ok"])
    for good in ("a", "A-z_0=9", "path/to/file", "a.b.c", "_kv", "-", "="):
        kv.put(good, b"ok")
        assert kv.get(good).value == b"ok"


def test_errors_pickle_and_hierarchy() -> None:
    e = KeyDeletedError(Entry("b", "k", b"", 3, operation=Operation.DEL), "DEL")
    e2 = pickle.loads(pickle.dumps(e))
    assert type(e2) is KeyDeletedError and e2.op == "DEL" and str(e2) == str(e)
    w = pickle.loads(pickle.dumps(KeyWrongLastSequenceError(code=400, err_code=10071)))
    assert w.err_code == 10071
    assert str(NoKeysError()) == "nats: no keys found"
    assert issubclass(InvalidKeyError, ValueError) and issubclass(InvalidBucketNameError, ValueError)


# --- history ----------------------------------------------------------------------------------


def test_history_limit(js: Any) -> None:
    kv = js.create_key_value(bucket="hist", history=3)
    revs = [kv.put("k", b"%d" % i) for i in range(6)]
    kv.put("other", b"x")
    hist = kv.history("k")
    assert [e.value for e in hist] == [b"3", b"4", b"5"]
    assert [e.revision for e in hist] == revs[3:]
    assert all(e.key == "k" and e.bucket == "hist" for e in hist)
    with pytest.raises(KeyNotFoundError):
        kv.get("k", revision=revs[0])  # beyond the history: gone
    assert kv.history("never") == []
    assert kv.status().values == 4


# --- keys -------------------------------------------------------------------------------------


def test_keys(kv: KeyValue) -> None:
    assert kv.keys() == []  # nats-py raises NoKeysError here
    assert list(kv.list_keys()) == []
    for k in ("a", "b.one", "b.two", "c.x.y", "gone", "purged"):
        kv.put(k, b"v")
    kv.put("a", b"again")
    kv.delete("gone")
    kv.purge("purged")
    assert sorted(kv.keys()) == ["a", "b.one", "b.two", "c.x.y"]
    assert sorted(kv.keys("b.*")) == ["b.one", "b.two"]
    assert sorted(kv.keys(["a", "c.>"])) == ["a", "c.x.y"]
    assert kv.keys(["gone"]) == [] and kv.keys("zzz") == []
    it = kv.list_keys()
    assert next(it) in {"a", "b.one", "b.two", "c.x.y"}
    it.close()  # closing early deletes the consumer
    wait_until(lambda: kv._js.stream_info("KV_test").state.consumer_count == 0, 5,
               "list_keys consumer deleted")


def test_keys_filtered_on_the_server(kv: KeyValue, monkeypatch: pytest.MonkeyPatch) -> None:
    """keys(filters) creates one consumer with the filter subjects, headers only, last per subject."""
    for i in range(20):
        kv.put(f"x.{i}", b"v")
        kv.put(f"y.{i}", b"v")
    seen: list[api.ConsumerConfig] = []
    real = kv._js.add_consumer

    def spy(stream: str, config: Any = None, **kw: Any) -> api.ConsumerInfo:
        seen.append(config)
        info: api.ConsumerInfo = real(stream, config, **kw)
        return info

    monkeypatch.setattr(kv._js, "add_consumer", spy)
    assert sorted(kv.keys(["x.1", "y.*"])) == ["x.1"] + sorted(f"y.{i}" for i in range(20))
    cfg = seen[0]
    assert cfg.filter_subjects == ["$KV.test.x.1", "$KV.test.y.*"]
    assert cfg.deliver_policy == api.DeliverPolicy.LAST_PER_SUBJECT and cfg.headers_only


def test_keys_of_50000(js: Any) -> None:
    kv = js.create_key_value(bucket="big")
    n = 50_000
    t0 = time.monotonic()
    futures = [js.publish_async(f"$KV.big.key.{i}", b"v") for i in range(n)]
    assert js.publish_async_completed(timeout=60)
    assert all(f.result().seq > 0 for f in futures[-10:])
    kv.delete("key.7")
    t1 = time.monotonic()
    keys = kv.keys()
    t2 = time.monotonic()
    assert len(keys) == n - 1 and len(set(keys)) == n - 1 and "key.7" not in keys
    assert list(kv.list_keys("key.49")) == ["key.49"]
    print(f"\n50,000 keys: published in {t1 - t0:.2f}s, listed in {t2 - t1:.2f}s")
    assert t2 - t0 < 30


# --- CAS race ---------------------------------------------------------------------------------


def test_cas_race_8_threads_200_updates(js: Any) -> None:
    kv = js.create_key_value(bucket="counter")
    kv.put("n", b"0")
    threads, per = 8, 200
    conflicts = [0] * threads
    errors: list[BaseException] = []
    deadline = time.monotonic() + 60

    def worker(t: int) -> None:
        try:
            for _ in range(per):
                for _attempt in range(10_000):
                    if time.monotonic() > deadline:
                        raise AssertionError("CAS worker ran out of time")
                    e = kv.get("n")
                    try:
                        kv.update("n", b"%d" % (int(e.value) + 1), e.revision)
                        break
                    except KeyWrongLastSequenceError:
                        conflicts[t] += 1
                else:
                    raise AssertionError("too many CAS conflicts")
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(90)
    assert not errors, errors
    assert kv.get("n").value == b"%d" % (threads * per)
    print(f"\nCAS: {threads * per} increments, {sum(conflicts)} conflicts retried")


# --- TTL --------------------------------------------------------------------------------------


def test_bucket_ttl_expires_values(js: Any) -> None:
    kv = js.create_key_value(bucket="short", ttl=1.0)
    assert js.stream_info("KV_short").config.duplicate_window == 1.0
    kv.put("k", b"v")
    assert kv.get("k").value == b"v"

    def gone() -> bool:
        try:
            kv.get("k")
        except KeyNotFoundError:
            return True
        return False

    wait_until(gone, 10, "the value to expire")
    assert kv.keys() == []


def test_per_key_ttl_with_limit_markers(js: Any) -> None:
    kv = js.create_key_value(bucket="ttl", limit_marker_ttl=2.0, history=5)
    c = js.stream_info("KV_ttl").config
    assert c.allow_msg_ttl is True and c.subject_delete_marker_ttl == 2.0
    assert kv.status().limit_marker_ttl == kv.status().marker_ttl == 2.0
    w = kv.watch("lock")
    assert drain_initial(w) == []
    rev = kv.create("lock", b"me", msg_ttl=2)
    with pytest.raises(KeyWrongLastSequenceError):
        kv.create("lock", b"you", msg_ttl=2)
    assert kv.get("lock").value == b"me"
    first = w.updates(timeout=5)
    assert first is not None and first.revision == rev and first.value == b"me"
    # The value expires; the server leaves a MaxAge marker (ADR-48): a PURGE to a bucket.
    marker = w.updates(timeout=10)
    assert marker is not None and marker.operation is Operation.PURGE
    assert marker.marker_reason == "MaxAge" and marker.key == "lock" and marker.value == b""
    with pytest.raises(KeyDeletedError) as ei:
        kv.get("lock")
    assert ei.value.op == "PURGE"
    assert kv.keys() == []
    rev2 = kv.create("lock", b"you", msg_ttl=5)  # the marker counts as deleted: create works
    assert kv.get("lock").revision == rev2
    w.stop()


def test_purge_with_ttl_leaves_no_trace(js: Any) -> None:
    kv = js.create_key_value(bucket="pttl", limit_marker_ttl=1.0)
    kv.put("k", b"v")
    kv.purge("k", msg_ttl=1)
    with pytest.raises(KeyDeletedError):
        kv.get("k")

    def no_trace() -> bool:
        try:
            kv.get("k")
        except KeyDeletedError:
            return False
        except KeyNotFoundError:
            return True
        return False

    wait_until(no_trace, 10, "the purge marker to expire")
    assert js.stream_info("KV_pttl").state.messages == 0


def test_msg_ttl_needs_limit_markers(kv: KeyValue) -> None:
    with pytest.raises(APIError):  # the server refuses Nats-TTL without allow_msg_ttl
        kv.create("k", b"v", msg_ttl=5)


def test_limit_marker_ttl_not_supported(js: Any, nc: natsync.Client,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from natsync.kv import KeyValueLimitMarkerTTLNotSupportedError

    monkeypatch.setattr(type(nc), "connected_server_version", property(lambda self: "2.10.24"))
    with pytest.raises(KeyValueLimitMarkerTTLNotSupportedError):
        js.create_key_value(bucket="old", limit_marker_ttl=5)
    monkeypatch.undo()
    real = js.add_stream

    def old_server(config: api.StreamConfig) -> api.StreamInfo:  # ignores the fields it lacks
        info: api.StreamInfo = real(config.evolve(allow_msg_ttl=None, subject_delete_marker_ttl=None))
        return info

    monkeypatch.setattr(js, "add_stream", old_server)
    with pytest.raises(KeyValueLimitMarkerTTLNotSupportedError):
        js.create_key_value(bucket="old2", limit_marker_ttl=5)


def test_purge_deletes(kv: KeyValue) -> None:
    for k in ("a", "b", "c"):
        kv.put(k, b"1")
        kv.put(k, b"2")
    kv.delete("a")
    kv.purge("b")
    assert kv.purge_deletes(olderthan=3600) is True  # young markers stay, history goes
    assert [e.operation for e in kv.history("a")] == ["DEL"]
    assert [e.operation for e in kv.history("b")] == ["PURGE"]
    assert len(kv.history("c")) == 2
    assert kv.purge_deletes(olderthan=0)  # every marker goes
    assert kv.history("a") == [] and kv.history("b") == []
    with pytest.raises(KeyNotFoundError) as ei:
        kv.get("a")
    assert not isinstance(ei.value, KeyDeletedError)
    assert kv.keys() == ["c"]


# --- watch ------------------------------------------------------------------------------------


def test_watch_initial_values_then_updates(kv: KeyValue) -> None:
    kv.put("a", b"1")
    kv.put("a", b"2")
    kv.put("b", b"1")
    kv.put("c", b"1")
    kv.delete("c")
    with kv.watchall() as w:
        initial = drain_initial(w)
        assert [(e.key, e.value, e.operation) for e in initial] == [
            ("a", b"2", "PUT"), ("b", b"1", "PUT"), ("c", b"", "DEL")]
        assert [e.delta for e in initial] == [2, 1, 0]
        assert all(e.created is not None and e.created.tzinfo for e in initial)
        with pytest.raises(NatsTimeoutError):
            w.updates(timeout=0.3)
        r = kv.put("b", b"2")
        e = w.updates(timeout=5)
        assert e is not None and (e.key, e.value, e.revision, e.delta) == ("b", b"2", r, 0)
        kv.purge("a")
        e = w.updates(timeout=5)
        assert e is not None and e.operation is Operation.PURGE and e.key == "a"
    assert w.stopped
    wait_until(lambda: kv.status().stream_info.state.consumer_count == 0, 5, "consumer deleted")


def test_watch_empty_bucket_sends_marker(kv: KeyValue) -> None:
    w = kv.watch()
    assert w.updates(timeout=5) is None
    kv.put("x", b"1")
    e = w.updates(timeout=5)
    assert e is not None and e.key == "x"
    w.stop()


def test_watch_options(kv: KeyValue) -> None:
    kv.put("a.1", b"x")
    kv.put("a.1", b"y")
    kv.put("a.2", b"z")
    kv.put("b.1", b"w")
    kv.delete("a.2")
    with kv.watch("a.*", include_history=True) as w:
        assert [(e.key, e.value) for e in drain_initial(w)] == [
            ("a.1", b"x"), ("a.1", b"y"), ("a.2", b"z"), ("a.2", b"")]
    with kv.watch(["a.2", "b.>"], ignore_deletes=True) as w:
        assert [e.key for e in drain_initial(w)] == ["b.1"]
    with kv.watch("a.>", meta_only=True) as w:
        got = drain_initial(w)
        assert [(e.key, e.value) for e in got] == [("a.1", b""), ("a.2", b"")]
    with kv.watch(updates_only=True) as w:
        with pytest.raises(NatsTimeoutError):
            w.updates(timeout=0.3)  # no initial values and no marker
        r = kv.put("a.3", b"new")
        e = w.updates(timeout=5)
        assert e is not None and e.revision == r and e.value == b"new"


def test_watch_iterator_and_stop_from_another_thread(kv: KeyValue) -> None:
    kv.put("k", b"0")
    w = kv.watch("k")
    got: list[Any] = []

    def consume() -> None:
        for e in w:  # ends when stop() is called
            got.append(e)
            if len(got) > 100:
                break

    t = threading.Thread(target=consume)
    t.start()
    wait_until(lambda: len(got) == 2, 5, "the initial value and the marker")
    for i in range(1, 4):
        kv.put("k", b"%d" % i)
    wait_until(lambda: len(got) == 5, 5, "five items")
    w.stop()
    t.join(5)
    assert not t.is_alive()
    assert got[1] is None and [e.value for e in got if e is not None] == [b"0", b"1", b"2", b"3"]
    with pytest.raises(StopIteration):
        w.updates(timeout=1)


def test_watch_resumes_after_forced_reconnect(nats_url: str) -> None:
    nc = natsync.connect(nats_url, reconnect_time_wait=0.1)
    try:
        kv = nc.jetstream().create_key_value(bucket="rc", history=10)
        w = kv.watch()
        assert w.updates(timeout=5) is None
        revs = [kv.put("k", b"%d" % i) for i in range(5)]
        got = [w.updates(timeout=5) for _ in range(2)]
        nc.force_reconnect()
        revs += [kv.put("k", b"%d" % i) for i in range(5, 10)]
        for _ in range(8):
            got.append(w.updates(timeout=10))
        assert [e.revision for e in got if e] == revs
        assert nc.stats["reconnects"] >= 1
        w.stop()
    finally:
        nc.close()


def test_watch_recovers_consumer_lost_to_inactivity(kv: KeyValue) -> None:
    w = kv.watch(inactive_threshold=1.0)
    assert w.updates(timeout=5) is None
    consumer = w._target.name
    time.sleep(3)  # no pulls: the server deletes the consumer
    assert consumer not in kv._js.consumer_names("KV_test")
    r = kv.put("late", b"1")
    e = w.updates(timeout=10)
    assert e is not None and e.revision == r
    w.stop()


def test_watch_survives_missed_heartbeats(nats_server: Any, nats_url: str) -> None:
    nc = natsync.connect(nats_url, reconnect_time_wait=0.1)
    try:
        js = nc.jetstream()
        kv = js.create_key_value(bucket="hb")
        w = KeyWatcher(js, "hb", "KV_hb", ">", heartbeat=0.5)
        assert w.updates(timeout=5) is None
        r1 = kv.put("k", b"1")
        assert (w.updates(timeout=5) or Entry("", "", b"", 0)).revision == r1
        before = w._target.name
        nats_server.pause()
        resume = threading.Timer(2.0, nats_server.resume)
        resume.start()
        try:
            with pytest.raises(NatsTimeoutError):
                w.updates(timeout=1.5)  # heartbeats missed while the server is frozen
        finally:
            resume.join(10)
        assert w._target.name != before  # re-created from the next revision
        r2 = kv.put("k", b"2")
        e = w.updates(timeout=40)
        assert e is not None and e.revision == r2
        w.stop()
    finally:
        nc.close()
