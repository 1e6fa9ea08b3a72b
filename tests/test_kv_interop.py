"""Buckets shared with nats-py (asyncio): made and written by one client, read and watched by the other."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import natsync
from natsync.js.errors import StreamNameInUseError
from natsync.kv import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError, Operation

from .test_kv import drain_initial

nats = pytest.importorskip("nats")


def test_natsync_bucket_read_and_watched_by_nats_py(nats_url: str) -> None:
    import nats.js.errors as pyerr

    with natsync.connect(nats_url) as nc:
        kv = nc.jetstream().create_key_value(bucket="shared", history=5, description="from natsync")
        kv.put("a", b"1")
        ra = kv.put("a", b"2")
        kv.put("b.c", b"3")
        kv.put("gone", b"x")
        kv.delete("gone")
        kv.put("purged", b"x")
        kv.purge("purged")
        initial_done = threading.Event()

        def write_while_watched() -> None:
            if initial_done.wait(20):
                kv.put("b.c", b"4")
                kv.delete("a")
                kv.create("new", b"5")

        writer = threading.Thread(target=write_while_watched)
        writer.start()

        async def nats_py_side() -> dict[str, Any]:
            anc = await nats.connect(nats_url)
            try:
                akv = await anc.jetstream().key_value("shared")
                out: dict[str, Any] = {}
                e = await akv.get("a")
                out["get"] = (e.value, e.revision)
                out["keys"] = sorted(await akv.keys())
                out["history"] = [h.value for h in await akv.history("a")]
                for key in ("gone", "purged"):
                    try:
                        await akv.get(key)
                        out[key] = "found"
                    except pyerr.KeyNotFoundError:
                        out[key] = "not found"
                status = await akv.status()
                out["status"] = (status.history, status.bucket)
                w = await akv.watchall()
                initial = []
                for _ in range(100):
                    u = await w.updates(timeout=5)
                    if u is None:
                        break
                    initial.append((u.key, u.operation))
                out["initial"] = initial
                initial_done.set()
                out["updates"] = []
                for _ in range(3):
                    u = await w.updates(timeout=10)
                    out["updates"].append((u.key, u.value, u.operation))
                await w.stop()
                rev = await akv.update("b.c", b"from nats-py", (await akv.get("b.c")).revision)
                out["update_rev"] = rev
                return out
            finally:
                await anc.close()

        try:
            got = asyncio.run(nats_py_side())
        finally:
            initial_done.set()
            writer.join(20)
        assert got["get"] == (b"2", ra)
        assert got["keys"] == ["a", "b.c"]
        assert got["history"] == [b"1", b"2"]
        assert got["gone"] == got["purged"] == "not found"
        assert got["status"] == (5, "shared")
        # nats-py reports None for PUT, "DEL"/"PURGE" otherwise.
        assert got["initial"] == [("a", None), ("b.c", None), ("gone", "DEL"), ("purged", "PURGE")]
        assert got["updates"] == [("b.c", b"4", None), ("a", b"", "DEL"), ("new", b"5", None)]
        e = kv.get("b.c")
        assert e.value == b"from nats-py" and e.revision == got["update_rev"]


def test_nats_py_bucket_read_and_watched_by_natsync(nats_url: str) -> None:
    async def make() -> int:
        anc = await nats.connect(nats_url)
        try:
            akv = await anc.jetstream().create_key_value(bucket="pyb", history=3)
            await akv.put("x", b"1")
            await akv.put("x", b"2")
            await akv.put("y.z", b"3")
            await akv.put("del", b"d")
            await akv.delete("del")
            await akv.put("pur", b"p")
            await akv.purge("pur")
            return int(await akv.put("x", b"3"))
        finally:
            await anc.close()

    rx = asyncio.run(make())
    with natsync.connect(nats_url) as nc:
        js = nc.jetstream()
        with pytest.raises(StreamNameInUseError):  # nats-py's defaults differ: open it instead
            js.create_key_value(bucket="pyb", history=3)
        kv = js.key_value("pyb")
        e = kv.get("x")
        assert (e.value, e.revision, e.operation) == (b"3", rx, "PUT")
        assert [h.value for h in kv.history("x")] == [b"1", b"2", b"3"]
        assert sorted(kv.keys()) == ["x", "y.z"]
        with pytest.raises(KeyDeletedError) as ei:
            kv.get("del")
        assert ei.value.op == "DEL"
        with pytest.raises(KeyDeletedError) as ei:
            kv.get("pur")
        assert ei.value.op == "PURGE"
        with pytest.raises(KeyWrongLastSequenceError):
            kv.create("x", b"no")
        assert kv.create("del", b"back") > rx
        assert kv.status().history == 3
        w = kv.watchall()
        initial = drain_initial(w)
        assert [(i.key, i.operation) for i in initial] == [
            ("y.z", "PUT"), ("pur", "PURGE"), ("x", "PUT"), ("del", "PUT")]

        async def more() -> None:
            anc = await nats.connect(nats_url)
            try:
                akv = await anc.jetstream().key_value("pyb")
                await akv.put("y.z", b"4")
                await akv.delete("x")
                await akv.purge("pur")  # another key: a rollup of y.z could beat its delivery
            finally:
                await anc.close()

        asyncio.run(more())
        got = [w.updates(timeout=5) for _ in range(3)]
        w.stop()
        assert [(u.key, u.value, u.operation) for u in got if u] == [
            ("y.z", b"4", Operation.PUT), ("x", b"", Operation.DEL), ("pur", b"", Operation.PURGE)]


def test_ttl_markers_across_clients(nats_url: str) -> None:
    """A nats-py lease with a per-key TTL expires into a MaxAge marker that both clients read."""

    async def make() -> None:
        anc = await nats.connect(nats_url)
        try:
            akv = await anc.jetstream().create_key_value(bucket="leases", history=5,
                                                         limit_marker_ttl=3.0)
            await akv.create("lease", b"nats-py", msg_ttl=3)
        finally:
            await anc.close()

    asyncio.run(make())
    with natsync.connect(nats_url) as nc:
        kv = nc.jetstream().key_value("leases")
        assert kv.status().limit_marker_ttl == 3.0
        with kv.watch("lease") as w:
            assert [e.value for e in drain_initial(w)] == [b"nats-py"]
            marker = w.updates(timeout=10)
        assert marker is not None and marker.operation is Operation.PURGE
        assert marker.marker_reason == "MaxAge"
        with pytest.raises(KeyDeletedError):
            kv.get("lease")
        rev = kv.create("lease", b"natsync", msg_ttl=30)  # over the marker

        async def read() -> tuple[bytes, list[Any]]:
            anc = await nats.connect(nats_url)
            try:
                akv = await anc.jetstream().key_value("leases")
                e = await akv.get("lease")
                w = await akv.watch("lease", include_history=True)
                seen = []
                for _ in range(100):
                    u = await w.updates(timeout=5)
                    if u is None:
                        break
                    seen.append((u.operation, u.value, u.revision))
                await w.stop()
                return e.value, seen
            finally:
                await anc.close()

        value, seen = asyncio.run(read())
        assert value == b"natsync"
        assert [(op, v) for op, v, _ in seen] == [("PURGE", b""), (None, b"natsync")]
        assert seen[-1][2] == rev
        with pytest.raises(KeyNotFoundError):
            kv.get("never")
