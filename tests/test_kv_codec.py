"""Key and value codecs (ADR-54): keys holding what subjects cannot, on a real server."""

from __future__ import annotations

import logging
import zlib
from typing import Iterator

import pytest

import natsync
from natsync.kv import (
    InvalidKeyError,
    KeyDeletedError,
    KeyValue,
    KeyValueCodecError,
    KeyWrongLastSequenceError,
)
from natsync.kv.codecs import Base64Codec, ChainCodec, PathCodec

from .js_fixtures import js, js_server, nc  # noqa: F401  (module-scoped JetStream server)
from .test_kv import drain_initial

JS = natsync.js.JetStreamContext


@pytest.fixture
def raw(js: JS) -> Iterator[KeyValue]:  # noqa: F811
    bucket: KeyValue = js.create_key_value(bucket="coded", history=5)
    yield bucket


def test_builtin_codecs_write_what_nats_go_kvcodec_writes() -> None:
    b64 = Base64Codec()
    assert b64.encode_key("Acme Inc.contact") == "QWNtZSBJbmM.Y29udGFjdA"
    assert b64.decode_key("QWNtZSBJbmM.Y29udGFjdA") == "Acme Inc.contact"
    assert b64.encode_filter("Acme Inc.*") == "QWNtZSBJbmM.*"
    assert b64.encode_value(b"\xff\x00hi") == b"_wBoaQ"
    assert b64.decode_value(b"_wBoaQ") == b"\xff\x00hi"
    path = PathCodec()
    assert [path.encode_key(k) for k in ("/", "/users/42/", "a/b")] == [
        "_root_", "_root_.users.42", "a.b"]
    assert [path.decode_key(k) for k in ("_root_", "_root_.users.42", "a.b")] == [
        "/", "/users/42", "a/b"]
    chain = ChainCodec(PathCodec(), Base64Codec())
    assert chain.decode_key(chain.encode_key("/a b/c")) == "/a b/c"
    assert chain.encode_filter("/logs/*") == "X3Jvb3Rf.bG9ncw.*"
    with pytest.raises(ValueError):
        b64.decode_key("!!")


def test_keys_with_any_text_through_base64(raw: KeyValue,
                                           js: JS) -> None:  # noqa: F811
    kv = raw.with_codecs(key_codec=Base64Codec())
    rev = kv.put("Acme Inc.contact", b"info@acme.com")
    kv.put("Acme Inc.ceo", b"Wile E.")
    kv.put("Zoë #1.contact", b"zoe@example.com")
    # Stored under the encoded key; read back under the application's one.
    stored = js.get_msg("KV_coded", seq=rev)
    assert stored.subject == "$KV.coded.QWNtZSBJbmM.Y29udGFjdA"
    assert raw.get("QWNtZSBJbmM.Y29udGFjdA").value == b"info@acme.com"
    entry = kv.get("Acme Inc.contact")
    assert (entry.key, entry.value) == ("Acme Inc.contact", b"info@acme.com")
    assert sorted(kv.keys()) == ["Acme Inc.ceo", "Acme Inc.contact", "Zoë #1.contact"]
    assert sorted(kv.keys("Acme Inc.*")) == ["Acme Inc.ceo", "Acme Inc.contact"]
    assert kv.keys("*.contact") == ["Acme Inc.contact", "Zoë #1.contact"]
    with kv.watch("Zoë #1.>") as w:
        assert [e.key for e in drain_initial(w)] == ["Zoë #1.contact"]
        kv.delete("Zoë #1.contact")
        e = w.updates(timeout=5)
        assert e is not None and (e.key, e.operation.value) == ("Zoë #1.contact", "DEL")
    with pytest.raises(KeyDeletedError):
        kv.get("Zoë #1.contact")
    kv.create("Zoë #1.contact", b"back")
    with pytest.raises(KeyWrongLastSequenceError):
        kv.update("Acme Inc.ceo", b"x", last=1)
    assert [e.value for e in kv.history("Zoë #1.contact")] == [
        b"zoe@example.com", b"", b"back"]


def test_values_through_a_chain_of_codecs(raw: KeyValue) -> None:
    class Zlib:
        def encode_value(self, value: bytes) -> bytes:
            return zlib.compress(value)

        def decode_value(self, value: bytes) -> bytes:
            try:
                return zlib.decompress(value)
            except zlib.error as exc:
                raise ValueError(str(exc)) from exc

    kv = raw.with_codecs(value_codec=ChainCodec(Zlib(), Base64Codec()))
    big = b"abc" * 1000
    kv.put("doc", big)
    assert len(raw.get("doc").value) < 100  # compressed, then base64
    assert kv.get("doc").value == big
    with kv.watch("doc") as w:
        e = w.updates(timeout=5)
        assert e is not None and e.value == big
    raw.put("plain", b"not compressed")
    with pytest.raises(KeyValueCodecError, match="cannot decode the value of 'plain'"):
        kv.get("plain")


def test_paths_and_what_a_codec_cannot_do(raw: KeyValue) -> None:
    kv = raw.with_codecs(key_codec=PathCodec())
    kv.put("/etc/hosts", b"127.0.0.1")
    assert raw.keys() == ["_root_.etc.hosts"]
    assert kv.keys("/etc/*") == ["/etc/hosts"]
    with pytest.raises(InvalidKeyError, match="PathCodec\\(\\) made it 'a b', which is not"):
        kv.put("a b", b"x")

    class Upper:  # a key codec without encode_filter
        def encode_key(self, key: str) -> str:
            return key.upper()

        def decode_key(self, key: str) -> str:
            return key.lower()

    up = raw.with_codecs(key_codec=Upper())
    up.put("name", b"v")
    assert raw.get("NAME").value == b"v" and up.get("name").value == b"v"
    assert sorted(up.keys()) == ["_root_.etc.hosts", "name"]  # ">": every key
    with pytest.raises(InvalidKeyError, match="cannot encode the wildcards"):
        up.watch("a.*")


def test_keys_the_codec_cannot_decode_are_skipped(js: JS,  # noqa: F811
                                                  caplog: pytest.LogCaptureFixture) -> None:
    raw = js.create_key_value(bucket="mixed")
    kv = raw.with_codecs(key_codec=Base64Codec())
    kv.put("ok", b"1")
    raw.put("a-b", b"2")  # written without the codec: not base64 of UTF-8 text
    with caplog.at_level(logging.WARNING, logger="natsync.kv"):
        assert kv.keys() == ["ok"]
        with kv.watchall() as w:
            assert [e.key for e in drain_initial(w)] == ["ok"]
    assert "cannot decode key 'a-b' of bucket 'mixed'" in caplog.text
