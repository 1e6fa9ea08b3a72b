"""Key-Value mirrors and sources (ADR-57): a read replica in a leaf node of a hub (two real
servers, two JetStream domains), and buckets that source others, on real servers."""

from __future__ import annotations

import time
from typing import Callable, Iterator, Tuple

import pytest

import natsync
from natsync.errors import BadArgumentError
from natsync.js import api
from natsync.js.errors import BucketUpdateError, NoStreamResponseError
from natsync.kv import KeyNotFoundError, KeyValue, MirrorPurgeError, Operation
from natsync.testing import NatsServer, free_port

from .test_kv import drain_initial


def wait_until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def value_is(kv: KeyValue, key: str, value: bytes) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return kv.get(key).value == value
        except KeyNotFoundError:
            return False
    return check


@pytest.fixture
def hub_and_leaf() -> Iterator[Tuple[NatsServer, NatsServer]]:
    """A hub (JetStream domain HUB) and a leaf node of it (domain LEAF)."""
    port = free_port()
    hub = NatsServer(jetstream=True, config={
        "server_name": "hub", "jetstream": {"domain": "HUB"},
        "leafnodes": {"listen": f"127.0.0.1:{port}"}})
    leaf = NatsServer(jetstream=True, config={
        "server_name": "leaf", "jetstream": {"domain": "LEAF"},
        "leafnodes": {"remotes": [{"url": f"nats-leaf://127.0.0.1:{port}"}]}})
    with hub, leaf:
        hub.start()
        leaf.start()
        yield hub, leaf


def _hub_reachable(nc: natsync.Client) -> bool:
    try:
        nc.jetstream(domain="HUB").account_info()
        return True
    except natsync.errors.Error:
        return False


def test_a_leaf_mirror_reads_locally_and_writes_to_the_hub(
        hub_and_leaf: Tuple[NatsServer, NatsServer]) -> None:
    hub, leaf = hub_and_leaf
    with natsync.connect(hub.url) as hnc, natsync.connect(leaf.url) as lnc:
        origin = hnc.jetstream().create_key_value(bucket="TEST", history=5)
        origin.put("name", b"derek")
        origin.put("age", b"22")
        origin.put("v", b"v")
        origin.delete("v")
        wait_until(lambda: _hub_reachable(lnc), "the leaf connection")

        ljs = lnc.jetstream()
        mirror = ljs.create_key_value(bucket="MIRROR", history=5,
                                      mirror=api.StreamSource(name="TEST", domain="HUB"))
        cfg = ljs.stream_info("KV_MIRROR").config
        assert cfg.mirror is not None and cfg.mirror.name == "KV_TEST"
        assert cfg.mirror.external is not None and cfg.mirror.external.api == "$JS.HUB.API"
        assert cfg.mirror_direct and cfg.allow_direct and not cfg.subjects
        wait_until(lambda: ljs.stream_info("KV_MIRROR").state.messages == 4, "the mirror")

        # Reads go to the mirror's own stream, whose subjects are the origin's.
        assert mirror.get("name").value == b"derek"
        assert sorted(mirror.keys()) == ["age", "name"]
        assert [e.operation for e in mirror.history("v")] == [Operation.PUT, Operation.DEL]
        status = ljs.key_value("MIRROR").status()
        assert status.mirror is not None and status.mirror.name == "KV_TEST"
        assert status.config.mirror == status.mirror

        with mirror.watchall() as w:
            assert sorted(e.key for e in drain_initial(w)) == ["age", "name", "v"]
            # Writes to the mirror are forwarded to the origin in the hub ...
            rev = mirror.put("name", b"rip")
            assert origin.get("name").value == b"rip" and origin.get("name").revision == rev
            # ... and come back to the mirror, as every change of the origin does.
            e = w.updates(timeout=10)
            assert e is not None and (e.key, e.value, e.revision) == ("name", b"rip", rev)
            origin.put("age", b"23")
            e = w.updates(timeout=10)
            assert e is not None and (e.key, e.value) == ("age", b"23")
        wait_until(value_is(mirror, "age", b"23"), "the mirror to catch up")
        last = mirror.get("age").revision
        mirror.update("age", b"24", last=last)  # compare-and-set, through the mirror
        assert origin.get("age").value == b"24"
        mirror.delete("name")
        with pytest.raises(KeyNotFoundError):
            origin.get("name")

        # From the leaf, the origin bucket itself, through the hub's domain.
        remote = lnc.jetstream(domain="HUB").key_value("TEST")
        remote.put("from-leaf", b"1")
        assert origin.get("from-leaf").value == b"1"
        assert remote.get("from-leaf").value == b"1"
        wait_until(value_is(mirror, "from-leaf", b"1"), "the mirror to get it")

        # A bucket in the leaf can source the hub's bucket, under its own name.
        agg = ljs.create_key_value(bucket="AGG", sources=[
            api.StreamSource(name="TEST", domain="HUB")])
        wait_until(value_is(agg, "from-leaf", b"1"), "the sourced keys")
        assert sorted(agg.keys()) == ["age", "from-leaf"]

        # Without the hub, the mirror still answers reads; writes fail, saying why.
        hub.close()
        assert mirror.get("from-leaf").value == b"1"
        with pytest.raises(NoStreamResponseError, match="read-only mirror of 'TEST'"):
            mirror.put("age", b"25")


def test_sources_mirrors_and_their_rules_in_one_server(nc: natsync.Client) -> None:
    js = nc.jetstream()
    a = js.create_key_value(bucket="A")
    b = js.create_key_value(bucket="B")
    a.put("x", b"from-a")
    b.put("y", b"from-b")
    both = js.create_key_value(bucket="BOTH", sources=["A", api.StreamSource(name="KV_B")])
    srcs = js.stream_info("KV_BOTH").config.sources or []
    assert [(s.name, [(t.src, t.dest) for t in s.subject_transforms or []]) for s in srcs] == [
        ("KV_A", [("$KV.A.>", "$KV.BOTH.>")]), ("KV_B", [("$KV.B.>", "$KV.BOTH.>")])]
    wait_until(lambda: sorted(both.keys()) == ["x", "y"], "the sourced keys")
    both.put("z", b"own")  # a sourcing bucket takes writes of its own too
    assert both.get("z").value == b"own"

    # Any stream can feed a bucket through transforms of its own, kept as given.
    js.add_stream(name="EVENTS", subjects=["events.>"])
    cache = js.create_key_value(bucket="CACHE", sources=[api.StreamSource(
        name="EVENTS", subject_transforms=[api.SubjectTransform(src="events.>",
                                                                dest="$KV.CACHE.>")])])
    js.publish("events.order.1", b"paid")
    wait_until(value_is(cache, "order.1", b"paid"), "the event in the cache")

    # A mirror in the same domain reads its origin's subjects and writes to the origin.
    copy = js.create_key_value(bucket="COPY", mirror="A")
    wait_until(value_is(copy, "x", b"from-a"), "the mirror")
    copy.put("x", b"via-copy")
    assert a.get("x").value == b"via-copy"
    wait_until(value_is(js.key_value("COPY"), "x", b"via-copy"), "the write back in the mirror")

    with pytest.raises(BucketUpdateError, match="'B' is not a mirror") as exc:
        js.update_key_value("B", mirror="A")
    assert exc.value.setting == "mirror"
    with pytest.raises(BucketUpdateError, match="mirrors 'KV_A'"):
        js.update_key_value("COPY", mirror="B")
    with pytest.raises(MirrorPurgeError, match="run purge_deletes on the origin"):
        copy.purge_deletes()
    js.update_key_value("COPY", history=3)  # other settings of a mirror may change
    assert js.stream_info("KV_COPY").config.max_msgs_per_subject == 3
    with pytest.raises(BadArgumentError, match="not both"):
        js.create_key_value(bucket="BAD", mirror="A", sources=["B"])
    with pytest.raises(BadArgumentError, match="limit_marker_ttl cannot be set on a mirror"):
        js.create_key_value(bucket="BAD", mirror="A", limit_marker_ttl=5)
