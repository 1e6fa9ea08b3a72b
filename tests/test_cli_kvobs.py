"""The `natsync kv` and `obj` verbs of issue 21: watch from a revision, edit a bucket,
mirrors and sources; run in subprocesses against a real server."""

from __future__ import annotations

import re

import pytest

import natsync

from .test_cli import Cli, base_env


@pytest.fixture
def cli(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """Runs `python -m natsync` with NATS_URL set and no nats contexts around."""
    return Cli(base_env(tmp_path_factory.mktemp("xdg"), nats_url))


def test_kv_watch_from_a_revision(cli: Cli, nc: natsync.Client) -> None:
    kv = nc.jetstream().create_key_value(bucket="cfg", history=5)
    kv.put("a", b"1")
    second = kv.put("b", b"1")
    kv.put("a", b"2")
    docs = cli("--json", "kv", "watch", "cfg", "--revision", str(second), "--count", "2"
               ).json_lines()
    assert [(d["key"], d["revision"], d["data"]) for d in docs] == [
        ("b", second, "1"), ("a", second + 1, "2")]
    cli("kv", "watch", "cfg", "--revision", "0", code=2)


def test_kv_and_obj_edit(cli: Cli, nc: natsync.Client) -> None:
    cli("kv", "add", "cfg", "--history", "2", "--description", "settings")
    res = cli("kv", "edit", "cfg", "--history", "7", "--ttl", "1h")
    assert res.out.startswith("Updated Key-Value bucket cfg")
    c = nc.jetstream().stream_info("KV_cfg").config
    assert (c.max_msgs_per_subject, c.max_age, c.description) == (7, 3600, "settings")
    res = cli("kv", "edit", "cfg", code=2)
    assert "nothing to change" in res.err
    cli("kv", "edit", "cfg", "--storage", "memory", code=2)  # not a flag of edit
    res = cli("kv", "edit", "nope", "--history", "3", code=1)
    assert "bucket 'nope' not found" in res.err

    cli("obj", "add", "files", "--ttl", "1d")
    doc = cli("--json", "obj", "edit", "files", "--description", "uploads").json()
    assert (doc["description"], doc["ttl"]) == ("uploads", 86400)


def test_kv_add_mirrors_and_sources(cli: Cli, nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.create_key_value(bucket="A").put("x", b"1")
    js.create_key_value(bucket="B")
    res = cli("kv", "add", "COPY", "--mirror", "A")
    assert re.search(r"Mirror of:\s+KV_A$", res.out, re.M)
    cfg = js.stream_info("KV_COPY").config
    assert cfg.mirror is not None and cfg.mirror.name == "KV_A" and cfg.mirror_direct
    doc = cli("--json", "kv", "add", "BOTH", "--source", "A", "--source", "B").json()
    assert [s["name"] for s in doc["sources"]] == ["KV_A", "KV_B"]
    cli("kv", "edit", "BOTH", "--source", "A")
    assert [s.name for s in js.stream_info("KV_BOTH").config.sources or []] == ["KV_A"]
    res = cli("kv", "add", "X", "--mirror-domain", "HUB", code=2)
    assert "--mirror-domain goes with --mirror" in res.err
