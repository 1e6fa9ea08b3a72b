"""Changing Key-Value and Object Store buckets: what may change, and typed refusals of what
may not (update_key_value, create_or_update_key_value, update_object_store, ...)."""

from __future__ import annotations

import pickle

import pytest

import natsync
from natsync.js import api
from natsync.js.errors import BucketUpdateError
from natsync.kv import BucketNotFoundError, KeyValueConfig
from natsync.obs import ObjectStoreConfig
from natsync.obs.errors import BucketNotFoundError as ObjBucketNotFoundError

from .js_fixtures import js, js_server, nc  # noqa: F401  (module-scoped JetStream server)

JS = natsync.js.JetStreamContext


def test_keywords_change_only_those_settings(js: JS) -> None:  # noqa: F811
    kv = js.create_key_value(bucket="cfg", description="d", ttl=3600, max_bytes=1 << 20,
                             metadata={"team": "a"})
    kv.put("k", b"v")
    kv2 = js.update_key_value("cfg", history=5, max_value_size=1024)
    c = js.stream_info("KV_cfg").config
    assert (c.max_msgs_per_subject, c.max_msg_size) == (5, 1024)
    assert (c.description, c.max_age, c.max_bytes) == ("d", 3600, 1 << 20)  # kept
    assert c.metadata is not None and c.metadata["team"] == "a"
    assert kv2.get("k").value == b"v"  # the data stays
    for i in range(6):
        kv2.put("k", b"%d" % i)
    assert len(kv2.history("k")) == 5
    js.update_key_value(bucket="cfg", ttl=None, compression=True, description="e")
    status = kv.status()
    assert (status.ttl, status.is_compressed, status.description) == (None, True, "e")


def test_a_whole_config_replaces_the_settings(js: JS) -> None:  # noqa: F811
    js.create_key_value(bucket="whole", description="d", history=3, ttl=60)
    js.update_key_value(KeyValueConfig(bucket="whole", history=2))
    c = js.stream_info("KV_whole").config
    assert (c.max_msgs_per_subject, c.max_age, c.description) == (2, 0, None)
    # status().config round-trips: updating with it changes nothing.
    before = js.stream_info("KV_whole").config.as_dict()
    js.update_key_value(js.key_value("whole").status().config)
    assert js.stream_info("KV_whole").config.as_dict() == before
    js.update_key_value({"bucket": "whole", "history": 4})
    assert js.stream_info("KV_whole").config.max_msgs_per_subject == 4


def test_what_may_not_change_is_refused_before_sending(js: JS) -> None:  # noqa: F811
    js.create_key_value(bucket="fixed", limit_marker_ttl=5)
    before = js.stream_info("KV_fixed").config.as_dict()
    with pytest.raises(BucketUpdateError, match="storage of Key-Value bucket 'fixed' cannot "
                                                "change \\(file to memory\\)") as exc:
        js.update_key_value("fixed", storage=api.StorageType.MEMORY)
    assert exc.value.setting == "storage" and isinstance(exc.value, ValueError)
    with pytest.raises(BucketUpdateError, match="limit_marker_ttl .* cannot be turned off"):
        js.update_key_value("fixed", limit_marker_ttl=None)
    assert js.stream_info("KV_fixed").config.as_dict() == before
    js.update_key_value("fixed", limit_marker_ttl=10)  # another duration is fine
    assert js.stream_info("KV_fixed").config.subject_delete_marker_ttl == 10
    again = pickle.loads(pickle.dumps(exc.value))
    assert (str(again), again.setting) == (str(exc.value), "storage")


def test_limit_markers_can_be_turned_on(js: JS) -> None:  # noqa: F811
    kv = js.create_key_value(bucket="later")
    js.update_key_value("later", limit_marker_ttl=2)
    assert kv.status().limit_marker_ttl == 2
    kv.create("lease", b"x", msg_ttl=60)  # per-key TTLs now work


def test_update_of_a_missing_bucket_and_create_or_update(js: JS) -> None:  # noqa: F811
    with pytest.raises(BucketNotFoundError, match="'nope'"):
        js.update_key_value("nope", history=2)
    with pytest.raises(BucketNotFoundError):
        js.update_key_value(KeyValueConfig(bucket="nope"))
    kv = js.create_or_update_key_value("fresh", history=3)
    assert kv.status().history == 3
    js.create_or_update_key_value(KeyValueConfig(bucket="fresh", history=6))
    assert kv.status().history == 6


def test_object_store_updates(js: JS) -> None:  # noqa: F811
    obs = js.create_object_store("files", description="d", ttl=3600)
    obs.put("a", b"data")
    js.update_object_store("files", max_bytes=1 << 20, metadata={"k": "v"})
    st = obs.status()
    assert (st.description, st.ttl, st.metadata) == ("d", 3600, {"k": "v"})
    assert st.stream_info.config.max_bytes == 1 << 20
    js.update_object_store(config=ObjectStoreConfig(bucket="files", description="e"))
    st = obs.status()
    assert (st.description, st.ttl) == ("e", None)
    assert obs.get("a").data == b"data"
    with pytest.raises(BucketUpdateError, match="storage of object store 'files'") as exc:
        js.update_object_store("files", storage=api.StorageType.MEMORY)
    assert exc.value.setting == "storage"
    obs.seal()
    with pytest.raises(BucketUpdateError, match="'files' is sealed") as exc:
        js.update_object_store("files", description="f")
    assert exc.value.setting == "sealed"
    with pytest.raises(ObjBucketNotFoundError):
        js.update_object_store("nope", description="x")
    made = js.create_or_update_object_store("made", ttl=60)
    assert made.status().ttl == 60
    js.create_or_update_object_store("made", ttl=120)
    assert made.status().ttl == 120
