"""KeyValue.history() through batch Direct Get: pages, byte-cut pages, and the watch fallback."""

from __future__ import annotations

from typing import Iterator

import pytest

import natsync
from natsync.kv import Operation, bucket
from natsync.testing import NatsServer


@pytest.fixture(scope="module")
def js_server() -> Iterator[NatsServer]:
    with NatsServer(jetstream=True) as srv:
        yield srv


@pytest.fixture
def js(js_server: NatsServer) -> Iterator[natsync.js.JetStreamContext]:
    nc = natsync.connect(js_server.url)
    ctx = nc.jetstream()
    yield ctx
    for name in ctx.stream_names():
        ctx.delete_stream(name)
    nc.close()


def _history(kv: bucket.KeyValue, key: str) -> list[tuple[int, Operation, bytes, int]]:
    return [(e.revision, e.operation, e.value, e.delta) for e in kv.history(key)]


def test_history_spans_pages_and_byte_cut_pages(js: natsync.js.JetStreamContext,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    kv = js.create_key_value(bucket="h", history=20)
    revs = []
    for i in range(9):
        revs.append(kv.put("k", b"%03d" % i * 100))
        kv.put("other", b"x")
    revs.append(kv.delete("k"))
    whole = _history(kv, "k")
    assert [r for r, *_ in whole] == revs and whole[-1][1] == Operation.DEL
    assert [d for *_, d in whole] == list(range(9, -1, -1))  # what was still to come
    monkeypatch.setattr(bucket, "HISTORY_PAGE", 4)  # full pages: ask again from the next revision
    assert _history(kv, "k") == whole
    monkeypatch.setattr(bucket, "HISTORY_PAGE_BYTES", 700)  # the server cuts pages at max_bytes
    assert _history(kv, "k") == whole
    assert kv.history("never") == []


def test_history_without_direct_gets_uses_a_watch(js: natsync.js.JetStreamContext) -> None:
    kv = js.create_key_value(bucket="nd", history=5, direct=False)
    assert not js.stream_info(kv.stream).config.allow_direct
    for i in range(3):
        kv.put("k", b"%d" % i)
    assert [e.value for e in kv.history("k")] == [b"0", b"1", b"2"]
    assert [e.delta for e in kv.history("k")] == [2, 1, 0]
