"""Object Store (ADR-20) against a real server, and interop with nats-py."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any, Optional

import pytest

import natsync
from natsync.errors import TimeoutError as NatsTimeoutError
from natsync.js import JetStreamContext, api
from natsync.js.errors import APIError, Error, NotFoundError, StreamNameInUseError
from natsync.obs import (
    BadObjectMetaError,
    BucketNotFoundError,
    DigestMismatchError,
    InvalidBucketNameError,
    InvalidObjectNameError,
    LinkIsABucketError,
    LinkNotAllowedError,
    NoLinkToDeletedError,
    NoLinkToLinkError,
    ObjectAlreadyExistsError,
    ObjectDeletedError,
    ObjectInfo,
    ObjectLink,
    ObjectMeta,
    ObjectMetaOptions,
    ObjectNotFoundError,
    ObjectStore,
    ObjectStoreConfig,
)
from natsync.obs.info import decode_digest, encode_name
from natsync.testing import NatsServer

from . import js_fixtures

MiB = 1024 * 1024


js_server, nc, js = js_fixtures.js_server, js_fixtures.nc, js_fixtures.js  # this module's fixtures


@pytest.fixture
def obs(js: JetStreamContext) -> ObjectStore:
    return js.create_object_store("FILES")


def _sha(data: bytes) -> str:
    return "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()


def _chunk_msgs(js: JetStreamContext, obs: ObjectStore, nuid: str) -> int:
    info = js.stream_info(obs.stream, subjects_filter=f"$O.{obs.bucket}.C.{nuid}")
    return sum((info.state.subjects or {}).values())


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- buckets ------------------------------------------------------------------------------


def test_bucket_lifecycle(js: JetStreamContext) -> None:
    obs = js.create_object_store("ASSETS", description="static files", ttl=3600.0,
                                 max_bytes=64 * MiB, metadata={"owner": "web"})
    assert isinstance(obs, ObjectStore) and obs.bucket == "ASSETS" and obs.stream == "OBJ_ASSETS"
    cfg = js.stream_info("OBJ_ASSETS").config
    assert cfg.subjects == ["$O.ASSETS.C.>", "$O.ASSETS.M.>"]
    assert cfg.allow_rollup_hdrs and cfg.allow_direct
    assert cfg.discard == api.DiscardPolicy.NEW
    assert cfg.max_age == 3600.0 and cfg.max_bytes == 64 * MiB
    assert cfg.storage == api.StorageType.FILE and cfg.num_replicas == 1
    assert cfg.description == "static files"

    status = obs.status()
    assert (status.bucket, status.description, status.ttl) == ("ASSETS", "static files", 3600.0)
    assert status.storage == status.storage_type == api.StorageType.FILE
    assert status.replicas == 1 and not status.sealed and not status.is_compressed
    assert status.backing_store == "JetStream" and status.metadata == {"owner": "web"}
    assert status.size == 0

    # The same settings again open it; a config object and keywords combine.
    again = js.create_object_store(config=ObjectStoreConfig(bucket="ASSETS", description="static files",
                                                            ttl=3600.0, metadata={"owner": "web"}),
                                   max_bytes=64 * MiB)
    assert again.bucket == "ASSETS"
    with pytest.raises(StreamNameInUseError):
        js.create_object_store("ASSETS", description="something else")
    small = js.create_object_store("SMALL", storage=api.StorageType.MEMORY, compression=False)
    small.put("x", b"x")
    zipped = js.create_object_store(config=ObjectStoreConfig(bucket="ZIP", compression=True))
    assert zipped.status().is_compressed
    assert js.stream_info("OBJ_SMALL").config.max_bytes == -1

    js.add_stream(name="NOT_OBJ", subjects=["other.>"])
    assert js.object_store_names() == ["ASSETS", "SMALL", "ZIP"]
    assert [s.bucket for s in js.object_stores()] == ["ASSETS", "SMALL", "ZIP"]
    assert js.object_store("SMALL").bucket == "SMALL"

    assert js.delete_object_store("SMALL") is True
    with pytest.raises(BucketNotFoundError) as err:
        js.object_store("SMALL")
    assert isinstance(err.value, NotFoundError) and isinstance(err.value, Error)
    with pytest.raises(BucketNotFoundError):
        js.delete_object_store("SMALL")
    for call in (lambda: small.get_info("x"), lambda: small.get("x"), lambda: small.put("y", b"y"),
                 small.list, small.watch, small.status, small.seal, lambda: small.delete("x")):
        with pytest.raises(BucketNotFoundError):
            call()
    for bad in ("", "a.b", "a b", "a*", "dir/x", 3):
        with pytest.raises(InvalidBucketNameError):
            js.create_object_store(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        js.object_store("x.y")


# --- put and get ----------------------------------------------------------------------------


def test_put_get_roundtrip_and_wire_format(js: JetStreamContext, obs: ObjectStore) -> None:
    data = b"hello object store"
    meta = ObjectMeta(description="greeting", headers={"Content-Type": "text/plain",
                                                       "X-Tag": ["a", "b"]},
                      metadata={"lang": "en"})
    info = obs.put("dir/hello.txt", data, meta=meta)
    assert (info.name, info.bucket, info.size, info.chunks) == ("dir/hello.txt", "FILES",
                                                                len(data), 1)
    assert info.digest == _sha(data) and not info.deleted and info.mtime is not None
    assert info.options == ObjectMetaOptions(max_chunk_size=128 * 1024)

    got = obs.get("dir/hello.txt")
    assert got.data == data
    assert got.info.description == "greeting" and got.info.metadata == {"lang": "en"}
    assert got.info.headers is not None and got.info.headers.get_all("X-Tag") == ["a", "b"]
    assert got.info.headers["content-type"] == "text/plain"
    assert got.info.nuid == info.nuid and got.info.mtime is not None

    # The meta message: padded URL-safe base64 of the name, rolled up, nats.go's JSON.
    subject = "$O.FILES.M." + base64.urlsafe_b64encode(b"dir/hello.txt").decode()
    assert subject.endswith("=")
    raw = js.get_msg("OBJ_FILES", subject=subject)
    assert raw.headers is not None and raw.headers["Nats-Rollup"] == "sub"
    doc = json.loads(raw.data)
    assert list(doc) == ["name", "description", "headers", "metadata", "options", "bucket",
                         "nuid", "size", "mtime", "chunks", "digest"]
    assert doc["headers"] == {"Content-Type": ["text/plain"], "X-Tag": ["a", "b"]}
    assert doc["mtime"] == "0001-01-01T00:00:00Z" and doc["digest"] == _sha(data)
    chunk = js.get_msg("OBJ_FILES", seq=1, subject=f"$O.FILES.C.{info.nuid}", next=True)
    assert chunk.data == data

    # Names are not restricted (ADR-20); multi-chunk, empty and bytes-like inputs.
    big = os.urandom(300_001)
    info = obs.put("ünï cödé 🎉 *.>", bytearray(big), chunk_size=64 * 1024)
    assert info.chunks == 5 and info.options is not None and info.options.max_chunk_size == 65536
    assert obs.get("ünï cödé 🎉 *.>").data == big
    assert obs.put("empty", b"").chunks == 0
    assert obs.get("empty").data == b""
    assert obs.get_info("empty").digest == _sha(b"")
    assert obs.put("view", memoryview(big)[:1000]).size == 1000
    assert obs.get("view").data == big[:1000]
    # meta.options.max_chunk_size is used when chunk_size is not given; the name argument wins.
    info = obs.put("sized", big, meta=ObjectMeta(name="other",
                                                 options=ObjectMetaOptions(max_chunk_size=100_000)))
    assert info.name == "sized" and info.chunks == 4


def test_put_sources_and_progress(obs: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    path = tmp_path / "in.bin"
    path.write_bytes(data)

    calls: list[tuple[int, Optional[int]]] = []
    info = obs.put("from-path", path, chunk_size=50_000, progress=lambda d, t: calls.append((d, t)))
    assert info.size == len(data) and info.chunks == 4
    assert calls[0] == (0, len(data)) and calls[-1] == (len(data), len(data))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)

    with open(path, "rb") as f:
        f.seek(1000)  # read from the current position
        calls.clear()
        obs.put("from-file", f, progress=lambda d, t: calls.append((d, t)))
    assert obs.get("from-file").data == data[1000:]
    assert calls[-1] == (len(data) - 1000, len(data) - 1000)

    class Pipe(io.RawIOBase):  # non-seekable, short reads
        def __init__(self, payload: bytes) -> None:
            self.buf = io.BytesIO(payload)

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            chunk = self.buf.read(min(len(b), 777))
            b[:len(chunk)] = chunk
            return len(chunk)

    calls.clear()
    info = obs.put("from-pipe", Pipe(data), chunk_size=64 * 1024,
                   progress=lambda d, t: calls.append((d, t)))
    assert info.chunks == 4  # short reads were topped up to full chunks
    assert obs.get("from-pipe").data == data
    assert {t for _, t in calls} == {None}
    assert obs.put("bytesio", io.BytesIO(b"abc")).size == 3

    with open(path, encoding="latin-1") as text:  # a text file: its binary buffer is read
        assert obs.put("text-file", text).size == len(data)  # type: ignore[arg-type]

    with pytest.raises(TypeError, match="encode"):
        obs.put("s", "some text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        obs.put("n", 42)  # type: ignore[arg-type]
    with pytest.raises(InvalidObjectNameError):
        obs.put("", b"x")
    with pytest.raises(ValueError):
        obs.put("x", b"x", chunk_size=0)
    with pytest.raises(ValueError, match="max_payload"):
        obs.put("x", b"x", chunk_size=64 * MiB)
    with pytest.raises(LinkNotAllowedError):
        obs.put("x", b"x", meta=ObjectMeta(options=ObjectMetaOptions(link=ObjectLink("FILES", "a"))))
    with pytest.raises(FileNotFoundError):
        obs.put("x", tmp_path / "missing")


def test_get_into_file_object_and_path(obs: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(400_000)
    obs.put("blob", data, chunk_size=100_000)
    buf = io.BytesIO()
    res = obs.get("blob", writeinto=buf)
    assert buf.getvalue() == data and res.data == b"" and res.info.size == len(data)

    out = tmp_path / "out.bin"
    calls: list[tuple[int, Optional[int]]] = []
    obs.get("blob", writeinto=out, progress=lambda d, t: calls.append((d, t)))
    assert out.read_bytes() == data
    assert calls[0] == (0, len(data)) and calls[-1] == (len(data), len(data)) and len(calls) == 5
    obs.get("blob", writeinto=str(tmp_path / "out2.bin"))
    assert (tmp_path / "out2.bin").read_bytes() == data
    with open(tmp_path / "out3.bin", "w") as text:  # a text file: its binary buffer
        obs.get("blob", writeinto=text)  # type: ignore[arg-type]
    assert (tmp_path / "out3.bin").read_bytes() == data
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".natsync-")] == []
    with pytest.raises(TypeError):
        obs.get("blob", writeinto=42)  # type: ignore[arg-type]


def test_concurrent_puts_and_gets(obs: ObjectStore) -> None:
    blobs = {f"t{i}": os.urandom(1 * MiB + i) for i in range(6)}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            obs.put(name, blobs[name], chunk_size=64 * 1024)
            assert obs.get(name).data == blobs[name]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in blobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(i.name for i in obs.list()) == sorted(blobs)


def test_get_info_and_not_found(obs: ObjectStore) -> None:
    with pytest.raises(ObjectNotFoundError) as err:
        obs.get_info("nothing")
    assert isinstance(err.value, NotFoundError)
    with pytest.raises(ObjectNotFoundError):
        obs.get("nothing")
    with pytest.raises(InvalidObjectNameError):
        obs.get_info("")
    with pytest.raises(ValueError):
        obs.get_info("\ud800")  # a lone surrogate cannot be UTF-8
    obs.put("a", b"1")
    assert obs.get_info("a").size == 1


# --- delete, replace, failures ----------------------------------------------------------------


def test_delete(js: JetStreamContext, obs: ObjectStore) -> None:
    info = obs.put("doomed", os.urandom(300_000))
    assert _chunk_msgs(js, obs, info.nuid) == 3
    obs.delete("doomed")
    assert _chunk_msgs(js, obs, info.nuid) == 0
    with pytest.raises(ObjectNotFoundError):
        obs.get_info("doomed")
    with pytest.raises(ObjectNotFoundError):
        obs.get("doomed")
    gone = obs.get_info("doomed", show_deleted=True)
    assert gone.deleted and gone.size == 0 and gone.chunks == 0 and gone.digest is None
    assert gone.nuid == info.nuid
    assert obs.get("doomed", show_deleted=True).data == b""
    raw = json.loads(js.get_msg("OBJ_FILES", subject="$O.FILES.M." + encode_name("doomed")).data)
    assert raw["deleted"] is True and "digest" not in raw
    obs.delete("doomed")  # again: a no-op
    with pytest.raises(ObjectNotFoundError):
        obs.delete("never-was")
    # Stream holds just the one meta marker now.
    assert js.stream_info("OBJ_FILES").state.messages == 1


def test_replace_purges_old_chunks(js: JetStreamContext, obs: ObjectStore) -> None:
    first = obs.put("report", os.urandom(1 * MiB))
    before = js.stream_info("OBJ_FILES").state
    assert before.messages == 9  # 8 chunks + meta
    second = obs.put("report", b"short now")
    after = js.stream_info("OBJ_FILES").state
    assert after.messages == 2 and after.bytes < before.bytes // 100
    assert _chunk_msgs(js, obs, first.nuid) == 0 and second.nuid != first.nuid
    assert obs.get("report").data == b"short now"


def test_failed_put_leaves_no_object(js: JetStreamContext, obs: ObjectStore) -> None:
    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.n = 0

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            self.n += 1
            if self.n > 5:
                raise OSError("disk on fire")
            b[:] = b"x" * len(b)
            return len(b)

    with pytest.raises(OSError, match="disk on fire"):
        obs.put("partial", Broken(), chunk_size=10_000)
    with pytest.raises(ObjectNotFoundError):
        obs.get_info("partial", show_deleted=True)
    assert js.stream_info("OBJ_FILES").state.messages == 0  # the sent chunks were purged

    # Replacing: the old object stays intact when the new put fails.
    obs.put("keep", b"original")
    with pytest.raises(OSError):
        obs.put("keep", Broken(), chunk_size=10_000)
    assert obs.get("keep").data == b"original"
    assert js.stream_info("OBJ_FILES").state.messages == 2

    # The server refuses a chunk (bucket full, discard new): same clean-up.
    small = js.create_object_store("TINY", max_bytes=300_000)
    with pytest.raises(APIError):
        small.put("too-big", os.urandom(600_000), chunk_size=50_000)
    with pytest.raises(ObjectNotFoundError):
        small.get_info("too-big")
    assert js.stream_info("OBJ_TINY").state.messages == 0


def test_digest_mismatch(js: JetStreamContext, obs: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(250_000)
    info = obs.put("victim", data, chunk_size=100_000)
    # A tampered meta message: right size, wrong digest.
    forged = info.evolve(digest=_sha(b"something else"))
    js.publish("$O.FILES.M." + encode_name("victim"), forged.to_json(),
               headers={"Nats-Rollup": "sub"})
    with pytest.raises(DigestMismatchError):
        obs.get("victim")
    out = tmp_path / "victim.bin"
    out.write_bytes(b"previous content")
    with pytest.raises(DigestMismatchError):
        obs.get("victim", writeinto=out)
    assert out.read_bytes() == b"previous content"  # not clobbered by a corrupt download

    # An extra chunk written straight onto the object's chunk subject.
    info = obs.put("victim2", data, chunk_size=100_000)
    js.publish(f"$O.FILES.C.{info.nuid}", b"evil")
    with pytest.raises(DigestMismatchError, match="corrupt"):
        obs.get("victim2")

    # A chunk replaced by a tampered one (single-chunk object, read by direct get).
    info = obs.put("victim3", b"tiny")
    chunk = js.get_msg("OBJ_FILES", seq=1, subject=f"$O.FILES.C.{info.nuid}", next=True)
    js.delete_msg("OBJ_FILES", chunk.seq)
    js.publish(f"$O.FILES.C.{info.nuid}", b"tinY")
    with pytest.raises(DigestMismatchError):
        obs.get("victim3")
    js.purge_stream("OBJ_FILES", subject=f"$O.FILES.C.{info.nuid}")
    with pytest.raises(DigestMismatchError, match="missing"):
        obs.get("victim3")

    # Bad meta JSON and bad digests are reported as such.
    js.publish("$O.FILES.M." + encode_name("junk"), b"{not json", headers={"Nats-Rollup": "sub"})
    with pytest.raises(BadObjectMetaError):
        obs.get_info("junk")
    js.publish("$O.FILES.M." + encode_name("junk"), info.evolve(name="junk", digest="MD5=xx").to_json())
    with pytest.raises(BadObjectMetaError):
        obs.get("junk")
    assert decode_digest(_sha(b"").rstrip("=")) == hashlib.sha256(b"").digest()
    obs.put("junk", b"fixed")  # a put replaces unreadable meta
    assert obs.get("junk").data == b"fixed"


# --- meta updates and links -------------------------------------------------------------------


def test_update_meta(js: JetStreamContext, obs: ObjectStore) -> None:
    obs.put("a.txt", b"A", meta=ObjectMeta(description="old", metadata={"k": "v"}))
    updated = obs.update_meta("a.txt", ObjectMeta(description="new", headers={"H": "1"}))
    assert updated.name == "a.txt" and updated.description == "new"
    info = obs.get_info("a.txt")
    assert info.description == "new" and info.metadata is None
    assert info.headers is not None and info.headers["H"] == "1"
    assert info.options is not None and info.options.max_chunk_size == 128 * 1024

    obs.update_meta("a.txt", ObjectMeta(name="b.txt", description="renamed"))
    with pytest.raises(ObjectNotFoundError):
        obs.get_info("a.txt", show_deleted=True)  # the old name's meta is purged
    assert obs.get("b.txt").data == b"A"
    assert obs.get_info("b.txt").description == "renamed"

    obs.put("c.txt", b"C")
    with pytest.raises(ObjectAlreadyExistsError):
        obs.update_meta("b.txt", ObjectMeta(name="c.txt"))
    obs.delete("c.txt")
    obs.update_meta("b.txt", ObjectMeta(name="c.txt"))  # a deleted name may be taken
    assert obs.get("c.txt").data == b"A"
    obs.put("d.txt", b"D")
    obs.delete("d.txt")
    with pytest.raises(ObjectDeletedError):
        obs.update_meta("d.txt", ObjectMeta(description="x"))
    with pytest.raises(ObjectNotFoundError):
        obs.update_meta("never", ObjectMeta(description="x"))
    assert [i.name for i in obs.list()] == ["c.txt"]


def test_links(js: JetStreamContext, obs: ObjectStore) -> None:
    target = obs.put("photo.jpg", os.urandom(200_000))
    link = obs.add_link("latest.jpg", target)
    assert link.is_link() and link.link == ObjectLink(bucket="FILES", name="photo.jpg")
    assert link.size == 0 and link.nuid and link.nuid != target.nuid
    got = obs.get("latest.jpg")
    assert got.data == obs.get("photo.jpg").data and got.info.name == "photo.jpg"
    assert obs.get_info("latest.jpg").is_link()
    raw = json.loads(js.get_msg("OBJ_FILES", subject="$O.FILES.M." + encode_name("latest.jpg")).data)
    assert raw["options"] == {"link": {"bucket": "FILES", "name": "photo.jpg"}}

    with pytest.raises(NoLinkToLinkError):
        obs.add_link("link2", obs.get_info("latest.jpg"))
    with pytest.raises(ObjectAlreadyExistsError):
        obs.add_link("photo.jpg", target)  # a regular object holds the name
    obs.put("other.jpg", b"other")
    relinked = obs.add_link("latest.jpg", "other.jpg")  # a link may be replaced (by name here)
    assert relinked.link == ObjectLink("FILES", "other.jpg")
    assert obs.get("latest.jpg").data == b"other"
    obs.delete("other.jpg")
    with pytest.raises(NoLinkToDeletedError):
        obs.add_link("x", obs.get_info("other.jpg", show_deleted=True))
    with pytest.raises(ObjectNotFoundError):
        obs.get("latest.jpg")  # the target is gone

    # Other buckets: an object link and a bucket link.
    archive = js.create_object_store("ARCHIVE")
    old = archive.put("2020.tar", b"old stuff")
    cross = obs.add_link("archived", old)
    assert cross.link == ObjectLink("ARCHIVE", "2020.tar")
    assert obs.get("archived").data == b"old stuff"
    blink = obs.add_bucket_link("archive-dir", archive)
    assert blink.link == ObjectLink("ARCHIVE") and blink.link.is_bucket_link
    assert obs.add_bucket_link("archive-dir2", "ARCHIVE").link == ObjectLink("ARCHIVE")
    with pytest.raises(LinkIsABucketError):
        obs.get("archive-dir")
    with pytest.raises(ObjectAlreadyExistsError):
        obs.add_bucket_link("photo.jpg", archive)
    # A link onto a link (as a careless client might write) is not followed.
    js.publish("$O.FILES.M." + encode_name("chain"),
               ObjectInfo(name="chain", bucket="FILES", nuid="N1",
                          options=ObjectMetaOptions(link=ObjectLink("FILES", "archived"))).to_json(),
               headers={"Nats-Rollup": "sub"})
    with pytest.raises(NoLinkToLinkError):
        obs.get("chain")
    # A link to a bucket that is gone.
    obs.add_bucket_link("nowhere", "GONE")
    js.publish("$O.FILES.M." + encode_name("dangling"),
               ObjectInfo(name="dangling", bucket="FILES", nuid="N2",
                          options=ObjectMetaOptions(link=ObjectLink("GONE", "x"))).to_json())
    with pytest.raises(BucketNotFoundError):
        obs.get("dangling")
    obs.delete("archived")  # deleting a link deletes the link only
    assert archive.get("2020.tar").data == b"old stuff"


# --- watch, list, seal ---------------------------------------------------------------------------


def test_list(obs: ObjectStore) -> None:
    assert obs.list() == []
    obs.put("one", b"1")
    obs.put("two", b"22")
    obs.put("one", b"111")
    obs.put("gone", b"x")
    obs.delete("gone")
    listed = obs.list()
    assert [(i.name, i.size) for i in listed] == [("two", 2), ("one", 3)]
    assert all(i.mtime is not None for i in listed)
    assert [i.name for i in obs.list(ignore_deletes=False)] == ["two", "one", "gone"]


def test_watch(obs: ObjectStore) -> None:
    with obs.watch() as w:
        assert w.updates(timeout=2) is None  # empty bucket: the marker at once
        with pytest.raises(NatsTimeoutError):
            w.updates(timeout=0.2)
        obs.put("a", b"1")
        info = w.updates(timeout=2)
        assert info is not None and info.name == "a" and info.size == 1 and info.mtime
        obs.delete("a")
        info = w.updates(timeout=2)
        assert info is not None and info.deleted

    obs.put("b", b"2")
    obs.put("b", b"22")
    obs.put("c", b"3")
    obs.delete("c")
    with obs.watch() as w:
        seen = []
        for item in w:
            if item is None:
                break
            seen.append((item.name, item.size, item.deleted))
        assert seen == [("a", 0, True), ("b", 2, False), ("c", 0, True)]
    with obs.watch(ignore_deletes=True, include_history=True) as w:
        names = []
        while (item := w.updates(timeout=2)) is not None:
            names.append((item.name, item.size))
        assert names == [("b", 2)]  # meta messages are rolled up: no older versions stay
    with obs.watch(updates_only=True) as w:
        with pytest.raises(NatsTimeoutError):
            w.updates(timeout=0.3)  # no marker, no existing objects
        obs.put("d", b"4")
        item = w.updates(timeout=2)
        assert item is not None and item.name == "d"

    # stop() from another thread ends a blocked iteration.
    w = obs.watch(updates_only=True)
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.extend(w))
    t.start()
    time.sleep(0.2)
    w.stop()
    t.join(5)
    assert not t.is_alive() and out == []
    with pytest.raises(StopIteration):
        w.updates(timeout=1)


def test_seal(js: JetStreamContext, obs: ObjectStore) -> None:
    obs.put("final", b"done")
    status = obs.seal()
    assert status.sealed and obs.status().sealed
    with pytest.raises(APIError):
        obs.put("more", b"x")
    with pytest.raises(APIError):
        obs.delete("final")
    assert obs.get("final").data == b"done"
    assert js.object_store("FILES").status().size == status.size


def test_watch_and_get_survive_restart() -> None:
    fast = {"reconnect_time_wait": 0.1, "reconnect_jitter": 0.0, "max_reconnect_attempts": -1}
    with NatsServer(jetstream=True) as srv:
        nc = natsync.connect(srv.url, **fast)
        try:
            obs = JetStreamContext(nc).create_object_store("DURABLE")
            data = os.urandom(1 * MiB)
            obs.put("before", data)
            with obs.watch() as w:
                first = w.updates(timeout=2)
                assert first is not None and first.name == "before"
                assert w.updates(timeout=2) is None
                srv.restart()
                deadline = time.monotonic() + 10
                while True:
                    try:
                        obs.put("after", b"new")
                        break
                    except natsync.errors.Error:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.1)
                item = w.updates(timeout=10)
                assert item is not None and item.name == "after"
            assert obs.get("before").data == data
        finally:
            nc.close()


# --- interop with nats-py ------------------------------------------------------------------------


def test_interop_natsync_to_nats_py(js_server: NatsServer, js: JetStreamContext, obs: ObjectStore) -> None:
    import nats

    data = os.urandom(700_000)
    obs.put("big.bin", data, meta=ObjectMeta(description="for python",
                                             headers={"Content-Type": "application/octet-stream"}))
    obs.put("small", b"tiny")
    obs.put("empty", b"")
    obs.add_link("alias", obs.get_info("big.bin"))
    other = js.create_object_store("OTHER")
    other.put("far", b"far away")
    obs.add_link("far-link", other.get_info("far"))

    async def read() -> dict[str, Any]:
        anc = await nats.connect(js_server.url)
        try:
            ajs = anc.jetstream()
            aobs = await ajs.object_store("FILES")
            big = await aobs.get("big.bin")
            info = await aobs.get_info("big.bin")
            out = {
                "big": big.data, "small": (await aobs.get("small")).data,
                "empty": (await aobs.get("empty")).data,
                "alias": (await aobs.get("alias")).data,
                "far": (await aobs.get("far-link")).data,
                "desc": info.description, "headers": info.headers, "digest": info.digest,
                "names": sorted(i.name for i in await aobs.list()),
            }
            return out
        finally:
            await anc.close()

    got = _run(read())
    assert got["big"] == data and got["small"] == b"tiny" and got["empty"] == b""
    assert got["alias"] == data and got["far"] == b"far away"
    assert got["desc"] == "for python"
    assert got["headers"] == {"Content-Type": ["application/octet-stream"]}
    assert got["digest"] == _sha(data)
    assert got["names"] == ["alias", "big.bin", "empty", "far-link", "small"]


def test_interop_nats_py_to_natsync(js_server: NatsServer, js: JetStreamContext, tmp_path: Path) -> None:
    import nats
    from nats.js import api as napi

    data = os.urandom(500_000)

    async def write() -> None:
        anc = await nats.connect(js_server.url)
        try:
            ajs = anc.jetstream()
            aobs = await ajs.create_object_store("PYB", description="made by nats-py")
            await aobs.put("from-py", data, meta=napi.ObjectMeta(
                name="from-py", description="py", headers={"K": ["v"]},
                options=napi.ObjectMetaOptions(max_chunk_size=64 * 1024)))
            await aobs.put("text", "some text")
            await aobs.put("gone", b"x")
            await aobs.delete("gone")
        finally:
            await anc.close()

    _run(write())
    obs = js.object_store("PYB")
    assert obs.status().description == "made by nats-py"
    res = obs.get("from-py")
    assert res.data == data and res.info.chunks == 8 and res.info.description == "py"
    assert res.info.headers is not None and res.info.headers["K"] == "v"
    assert res.info.mtime is not None and res.info.mtime.year > 2000
    assert obs.get("text").data == b"some text"
    obs.get("from-py", writeinto=tmp_path / "py.bin")
    assert (tmp_path / "py.bin").read_bytes() == data
    assert [i.name for i in obs.list()] == ["from-py", "text"]
    with pytest.raises(ObjectNotFoundError):
        obs.get("gone")
    # And back: nats-py reads what natsync replaced and renamed in its bucket.
    obs.put("from-py", b"replaced")
    obs.update_meta("text", ObjectMeta(name="renamed"))

    async def reread() -> tuple[Optional[bytes], Optional[bytes]]:
        anc = await nats.connect(js_server.url)
        try:
            aobs = await anc.jetstream().object_store("PYB")
            return (await aobs.get("from-py")).data, (await aobs.get("renamed")).data
        finally:
            await anc.close()

    assert _run(reread()) == (b"replaced", b"some text")


# --- a big object in bounded memory ---------------------------------------------------------------


def test_large_object_bounded_memory(js: JetStreamContext, obs: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    sha = hashlib.sha256()
    with open(src, "wb") as f:
        block = os.urandom(MiB)
        for i in range(50):
            piece = bytes([i]) + block[1:]
            sha.update(piece)
            f.write(piece)

    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        info = obs.put("big", src)
        put_s = time.perf_counter() - t0
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        t0 = time.perf_counter()
        obs.get("big", writeinto=tmp_path / "dst.bin")
        get_s = time.perf_counter() - t0
        _, get_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"\n50 MiB: put {50 / put_s:.0f} MiB/s (peak {put_peak / MiB:.1f} MiB), "
          f"get {50 / get_s:.0f} MiB/s (peak {get_peak / MiB:.1f} MiB) under tracemalloc")
    assert info.size == 50 * MiB and info.chunks == 400
    assert info.digest == "SHA-256=" + base64.urlsafe_b64encode(sha.digest()).decode()
    assert put_peak < 16 * MiB and get_peak < 16 * MiB
    with open(tmp_path / "dst.bin", "rb") as f:
        check = hashlib.sha256()
        while block := f.read(MiB):
            check.update(block)
    assert check.digest() == sha.digest()


# --- the meta JSON, without a server --------------------------------------------------------------


def test_object_info_json() -> None:
    doc = {"name": "a", "bucket": "B", "nuid": "N", "size": 3, "chunks": 1,
           "mtime": "2024-05-01T10:00:00.123456+00:00", "digest": _sha(b"abc"),
           "headers": {"K": ["1", "2"]}, "future_field": {"x": 1},
           "options": {"max_chunk_size": 1024, "link": None}}
    info = ObjectInfo.from_json(json.dumps(doc).encode())
    assert info.mtime is not None and info.mtime.microsecond == 123456
    assert info.extra == {"future_field": {"x": 1}} and info.chunk_size == 1024
    assert not info.is_link() and info.meta.headers is info.headers
    out = json.loads(info.to_json())
    assert out["future_field"] == {"x": 1} and out["mtime"] == "0001-01-01T00:00:00Z"
    assert "deleted" not in out and "description" not in out
    assert ObjectInfo.from_dict(out).evolve(mtime=info.mtime) == info
    for bad in (b"[]", b"{}", b'{"name": "a", "size": "big"}', b'{"name": "a", "headers": 1}'):
        with pytest.raises(BadObjectMetaError):
            ObjectInfo.from_json(bad)
    assert decode_digest("SHA-256=short") is None and decode_digest("MD5=abc") is None
    assert encode_name("ü/x") == base64.urlsafe_b64encode("ü/x".encode()).decode()
