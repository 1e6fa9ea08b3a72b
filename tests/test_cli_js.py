"""The `natsync` JetStream verbs (stream, consumer, kv, obj) and micro, run in subprocesses."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

import natsync
import natsync.micro
from natsync.js import api

from .test_cli import Cli, base_env


@pytest.fixture
def cli(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """Runs `python -m natsync` with NATS_URL set and no nats contexts around."""
    return Cli(base_env(tmp_path_factory.mktemp("xdg"), nats_url))


def test_stream_verbs(cli: Cli, nc: natsync.Client) -> None:
    assert cli("stream", "ls").out.strip() == "No streams defined"
    assert cli("stream", "ls", "--json").json() == []
    res = cli("stream", "add", "ORDERS", "--subjects", "orders.*,audit", "--max-age", "7d",
              "--max-msgs", "1000", "--max-bytes", "1M", "--storage", "memory",
              "--dupe-window", "1m", "--description", "all orders", "--allow-direct")
    assert res.out.startswith("Created stream ORDERS")
    assert "Subjects:" in res.out and "orders.*, audit" in res.out and "7d" in res.out
    cfg = nc.jetstream().stream_info("ORDERS").config
    assert cfg.subjects == ["orders.*", "audit"] and cfg.max_age == 7 * 86400
    assert cfg.max_bytes == 1024 ** 2 and cfg.storage == api.StorageType.MEMORY
    assert cfg.duplicate_window == 60 and cfg.allow_direct and cfg.description == "all orders"
    doc = cli("--json", "stream", "add", "WORK", "--retention", "workqueue").json()
    assert doc["config"]["retention"] == "workqueue" and doc["config"]["subjects"] == ["WORK"]
    conf = Path(cli.env["XDG_CONFIG_HOME"]) / "stream.json"
    conf.write_text(json.dumps({"config": {"subjects": ["logs.>"], "max_msgs_per_subject": 3,
                                           "max_age": 3_600_000_000_000}}))
    cli("stream", "add", "LOGS", "--config", str(conf), "--max-msgs-per-subject", "5")
    cfg = nc.jetstream().stream_info("LOGS").config
    assert cfg.subjects == ["logs.>"] and cfg.max_msgs_per_subject == 5 and cfg.max_age == 3600
    # The cron heartbeat of docs/cli.md: quiet, with the time filled in.
    assert cli("pub", "logs.hb", '{"at": "{{time}}"}', "--js", "-q").out == ""
    beat = json.loads(cli("stream", "view", "LOGS", "--raw").out)
    assert datetime.fromisoformat(beat["at"]).tzinfo is not None

    res = cli("pub", "orders.new", "order {{count}}", "--count", "3", "--js", "-H", "K:V",
              "--msg-id", "id-{{count}}")
    assert "stored in stream 'ORDERS' at sequence 3" in res.out
    res = cli("--json", "pub", "orders.new", "order 3", "--js", "--msg-id", "id-3")
    assert res.json()["acks"] == [{"stream": "ORDERS", "seq": 3, "duplicate": True}]
    cli("pub", "audit", "seen", "--js")

    assert cli("stream", "ls", "--names").out.split() == ["LOGS", "ORDERS", "WORK"]
    assert cli("stream", "ls", "--names", "--subject", "audit").out.split() == ["ORDERS"]
    table = cli("stream", "ls").out
    assert re.search(r"^ORDERS\s+orders\.\*, audit\s+4\s", table, re.M), table
    infos = cli("--json", "stream", "ls").json()
    assert [i["config"]["name"] for i in infos] == ["LOGS", "ORDERS", "WORK"]
    info = cli("stream", "info", "ORDERS", "--json").json()
    assert info["state"]["messages"] == 4 and info["config"]["max_age"] == 7 * 86400 * 10 ** 9
    res = cli("stream", "info", "ORDERS")
    assert re.search(r"Messages:\s+4", res.out) and re.search(r"Last sequence:\s+4 @", res.out)

    view = cli("stream", "view", "ORDERS", "--headers").out
    assert "[1] orders.new @ " in view and "K: V" in view and "order 1" in view
    assert "[4] audit" in view
    msgs = cli("--json", "stream", "view", "ORDERS", "--subject", "orders.*",
               "--start-seq", "2").json_lines()
    assert [(m["seq"], m["data"]) for m in msgs] == [(2, "order 2"), (3, "order 3")]
    assert msgs[0]["headers"]["K"] == ["V"] and msgs[0]["stream"] == "ORDERS" and msgs[0]["time"]
    assert cli("stream", "view", "ORDERS", "--last", "2", "--raw").out == "order 3\nseen\n"
    assert cli("stream", "view", "ORDERS", "--count", "1", "--raw").out == "order 1\n"
    res = cli("stream", "view", "WORK")
    assert res.out == "" and "No messages in stream WORK" in res.err
    cli("stream", "view", "ORDERS", "--last", "2", "--subject", "audit", code=2)

    res = cli("stream", "purge", "ORDERS", code=2)  # stdin is not a terminal: needs --force
    assert "pass --force" in res.err
    res = cli("stream", "purge", "ORDERS", "--subject", "audit", "-f")
    assert res.out.strip() == "Purged 1 messages from stream ORDERS (3 left)"
    doc = cli("--json", "stream", "purge", "ORDERS", "--keep", "1", "-f").json()
    assert doc == {"stream": "ORDERS", "purged": 2, "messages": 1}

    cli("stream", "rm", "WORK", code=2)
    assert cli("stream", "rm", "WORK", "-f").out.strip() == "Deleted stream WORK"
    res = cli("stream", "info", "WORK", code=1)
    assert res.err.startswith("natsync stream info: nats: stream not found"), res
    assert len(res.err.splitlines()) == 1
    res = cli("stream", "rm", "WORK", "-f", code=1)
    assert "stream not found" in res.err


def test_consumer_verbs(cli: Cli, nc: natsync.Client, tmp_path: Path) -> None:
    js = nc.jetstream()
    js.add_stream(name="JOBS", subjects=["jobs.>"])
    for i in range(1, 7):
        js.publish(f"jobs.{i}", b"job %d" % i)
    assert cli("consumer", "ls", "JOBS").out.strip() == "No consumers on stream JOBS"
    res = cli("consumer", "add", "JOBS", "workers", "--filter", "jobs.>", "--ack-wait", "30s",
              "--max-deliver", "5", "--description", "the workers")
    assert res.out.startswith("Created consumer JOBS > workers")
    cfg = js.consumer_info("JOBS", "workers").config
    assert cfg.filter_subject == "jobs.>" and cfg.ack_wait == 30 and cfg.max_deliver == 5
    assert cfg.ack_policy == api.AckPolicy.EXPLICIT
    doc = cli("--json", "consumer", "add", "JOBS", "tail", "--deliver", "last-per-subject",
              "--filter", "jobs.1", "--filter", "jobs.2", "--ack", "none").json()
    assert doc["config"]["deliver_policy"] == "last_per_subject"
    assert doc["config"]["filter_subjects"] == ["jobs.1", "jobs.2"]
    cli("consumer", "add", "JOBS", "push", "--deliver-subject", "out.push", "--start-seq", "3")

    assert cli("consumer", "ls", "JOBS", "--names").out.split() == ["push", "tail", "workers"]
    assert re.search(r"^workers\s+jobs\.>\s+6\s", cli("consumer", "ls", "JOBS").out, re.M)
    assert len(cli("--json", "consumer", "ls", "JOBS").json()) == 3
    res = cli("consumer", "info", "JOBS", "workers")
    assert "Consumer JOBS > workers (pull): the workers" in res.out
    assert re.search(r"Pending:\s+6", res.out)
    assert cli("consumer", "info", "JOBS", "push", "--json").json()["config"]["opt_start_seq"] == 3

    # next: printed, then acknowledged.
    res = cli("consumer", "next", "JOBS", "workers")
    assert res.out.startswith("[#1] Received on 'jobs.1' (stream seq 1, delivered 1 time, "
                              "5 pending)\njob 1\n")
    docs = cli("--json", "consumer", "next", "JOBS", "workers", "--count", "2").json_lines()
    assert [(d["subject"], d["seq"], d["delivered"], d["data"]) for d in docs] == [
        ("jobs.2", 2, 1, "job 2"), ("jobs.3", 3, 1, "job 3")]
    info = js.consumer_info("JOBS", "workers")
    assert info.num_ack_pending == 0 and info.num_pending == 3
    # --no-ack leaves it pending.
    assert cli("consumer", "next", "JOBS", "workers", "--no-ack", "--raw").out == "job 4\n"
    assert js.consumer_info("JOBS", "workers").num_ack_pending == 1

    # --exec: acked on success; a failure naks and exits 1.
    out = tmp_path / "handled"
    script = f'cat >> {out}; echo " $NATS_SUBJECT $NATS_STREAM_SEQ $NATS_DELIVERED" >> {out}'
    cli("consumer", "next", "JOBS", "workers", "--exec", script)
    assert out.read_text() == "job 5 jobs.5 5 1\n"
    res = cli("consumer", "next", "JOBS", "workers", "--exec", "exit 3", code=1)
    assert "exited with status 3 on stream seq 6; message nak'd for redelivery" in res.err
    info = js.consumer_info("JOBS", "workers")
    assert info.num_ack_pending == 2  # job 4 (never acked) and job 6 (nak'd, to redeliver)
    res = cli("consumer", "next", "JOBS", "workers", "--count", "5", "--wait", "0.3",
              "--exec", f"cat >> {out}; echo >> {out}")
    assert out.read_text().splitlines()[1:] == ["job 6"]  # redelivered; job 4 is not due yet
    res = cli("consumer", "next", "JOBS", "workers", "--wait", "0.2")
    assert res.out == "" and "No messages available from JOBS > workers" in res.err

    res = cli("consumer", "next", "JOBS", "push", code=1)
    assert "is a push consumer" in res.err
    res = cli("consumer", "next", "JOBS", "nosuch", code=1)
    assert "consumer not found" in res.err

    cli("consumer", "rm", "JOBS", "tail", code=2)
    assert cli("consumer", "rm", "JOBS", "tail", "-f").out.strip() == "Deleted consumer JOBS > tail"
    assert cli("consumer", "ls", "JOBS", "--names", "--json").json() == ["push", "workers"]


def test_kv_verbs(cli: Cli) -> None:
    assert cli("kv", "ls").out.strip() == "No Key-Value buckets defined"
    res = cli("kv", "add", "config", "--history", "5", "--description", "settings")
    assert res.out.startswith("Created Key-Value bucket config")
    assert re.search(r"History:\s+5", res.out)
    doc = cli("--json", "kv", "add", "cache", "--ttl", "1h", "--storage", "memory").json()
    assert doc["ttl"] == 3600 and doc["storage"] == "memory" and doc["stream"] == "KV_cache"

    assert cli("kv", "put", "config", "color", "red").out.strip() == \
        "Put config > color at revision 1"
    assert cli("--json", "kv", "put", "config", "color", input=b"blue").json() == {
        "bucket": "config", "key": "color", "revision": 2}
    cli("kv", "put", "config", "size", "XL")
    res = cli("kv", "get", "config", "color")
    assert res.out.startswith("config > color revision 2 created @ ") and res.out.endswith(
        "\n\nblue\n")
    assert cli("kv", "get", "config", "color", "--raw").out == "blue"
    assert cli("kv", "get", "config", "color", "--revision", "1", "--raw").out == "red"
    doc = cli("kv", "get", "config", "color", "--json").json()
    assert doc["revision"] == 2 and doc["data"] == "blue" and doc["operation"] == "PUT"

    assert cli("kv", "keys", "config").out.split() == ["color", "size"]
    assert cli("kv", "keys", "config", "size", "--json").json() == ["size"]
    res = cli("kv", "history", "config", "color")
    assert re.search(r"^1\s+PUT\s+.*\s3\s+red$", res.out, re.M), res
    assert [e["data"] for e in cli("kv", "history", "config", "color", "--json").json()] == [
        "red", "blue"]

    with cli.bg("kv", "watch", "config") as w, cli.bg("--json", "kv", "watch", "config",
                                                     "color", "--updates-only") as jw:
        w.ready("Watching every key of bucket config")
        jw.ready("Watching key color of bucket config")
        first = sorted(w.lines(2))
        assert first[0].endswith("PUT config > color: blue")
        assert first[1].endswith("PUT config > size: XL")
        cli("kv", "put", "config", "color", "green")
        assert w.line().endswith("PUT config > color: green")
        doc = json.loads(jw.line())
        assert doc["key"] == "color" and doc["data"] == "green" and doc["revision"] == 4
        res = cli("kv", "del", "config", "color")
        assert res.out.strip() == "Deleted config > color (marker revision 5)"
        assert w.line().endswith("DEL config > color")
        assert json.loads(jw.line())["operation"] == "DEL"
        w.proc.send_signal(signal.SIGINT)
        assert w.wait() == 130 and not [e for e in w.err_seen if "Traceback" in e]

    res = cli("kv", "get", "config", "color", code=1)
    assert res.err.startswith("natsync kv get: ") and "deleted" in res.err
    assert cli("kv", "keys", "config").out.split() == ["size"]
    cli("kv", "del", "config", "size", "--purge")
    assert cli("kv", "history", "config", "size", "--json").json()[-1]["operation"] == "PURGE"
    res = cli("kv", "keys", "config")
    assert res.out == "" and "No keys in bucket config" in res.err
    cli("kv", "del", "config", "nokey", code=1)

    assert cli("kv", "ls", "--names").out.split() == ["cache", "config"]
    statuses = cli("kv", "ls", "--json").json()
    assert [s["bucket"] for s in statuses] == ["cache", "config"]
    assert re.search(r"^config\s+settings\s+", cli("kv", "ls").out, re.M)
    assert re.search(r"Backing stream:\s+KV_config", cli("kv", "info", "config").out)
    cli("kv", "rm", "cache", code=2)
    assert cli("kv", "rm", "cache", "-f").out.strip() == "Deleted Key-Value bucket cache"
    res = cli("kv", "get", "cache", "x", code=1)
    assert "bucket 'cache' not found" in res.err


def test_obj_verbs(cli: Cli, tmp_path: Path) -> None:
    assert cli("obj", "ls").out.strip() == "No Object Store buckets defined"
    assert cli("obj", "add", "files", "--description", "uploads").out.strip() == \
        "Created Object Store bucket files"
    assert cli("--json", "obj", "add", "other", "--ttl", "1d").json()["ttl"] == 86400
    data = os.urandom(300_000)
    src = tmp_path / "blob.bin"
    src.write_bytes(data)
    res = cli("obj", "put", "files", str(src), "--progress", "-H", "Content-Type:app/x",
              "--chunk-size", "64K")
    assert res.out.strip() == "Stored files > blob.bin: 293.0 KiB (300,000 bytes) in 5 chunks"
    assert "100.0%" in res.err and "blob.bin [" in res.err  # the progress bar, on stderr
    doc = cli("--json", "obj", "put", "files", "-", "--name", "dir/note.txt",
              input=b"hello").json()
    assert doc["name"] == "dir/note.txt" and doc["size"] == 5 and doc["digest"].startswith(
        "SHA-256=")
    res = cli("obj", "put", "files", str(tmp_path / "missing"), code=1)
    assert "not a file" in res.err
    cli("obj", "put", "files", "-", code=2)  # stdin needs --name

    assert cli("obj", "ls", "--names").out.split() == ["files", "other"]
    assert re.search(r"^files\s+uploads\s+", cli("obj", "ls").out, re.M)
    assert cli("obj", "ls", "files", "--names").out.split() == ["blob.bin", "dir/note.txt"]
    assert re.search(r"^blob\.bin\s+293\.0 KiB", cli("obj", "ls", "files").out, re.M)
    assert [i["size"] for i in cli("--json", "obj", "ls", "files").json()] == [300_000, 5]
    res = cli("obj", "info", "files", "blob.bin")
    assert re.search(r"Chunks:\s+5", res.out) and "Content-Type" in res.out
    assert cli("obj", "info", "files", "--json").json()["stream"] == "OBJ_files"

    dest = tmp_path / "out"
    dest.mkdir()
    res = cli("obj", "get", "files", "blob.bin", "-O", str(dest / "copy.bin"), "--progress")
    assert (dest / "copy.bin").read_bytes() == data and "100.0%" in res.err
    res = cli("obj", "get", "files", "blob.bin", "-O", str(dest / "copy.bin"), code=1)
    assert "exists; pass --force" in res.err
    cli("obj", "get", "files", "blob.bin", "-O", str(dest / "copy.bin"), "-f")
    doc = cli("--json", "obj", "get", "files", "dir/note.txt", "-O", str(dest)).json()
    assert doc["file"] == str(dest / "note.txt") and (dest / "note.txt").read_bytes() == b"hello"
    res = cli("obj", "get", "files", "blob.bin", "-O", "-")
    assert res.raw == data and res.err == ""  # no bar when stderr is not a terminal
    res = run_in(cli, tmp_path, "obj", "get", "files", "dir/note.txt")
    assert (tmp_path / "note.txt").read_bytes() == b"hello", res
    res = cli("obj", "get", "files", "nosuch", "-O", str(dest / "x"), code=1)
    assert "not found" in res.err and not (dest / "x").exists()

    cli("obj", "rm", "files", "dir/note.txt", code=2)
    assert cli("obj", "rm", "files", "dir/note.txt", "-f").out.strip() == \
        "Deleted files > dir/note.txt"
    assert cli("obj", "ls", "files", "--names").out.split() == ["blob.bin"]
    assert cli("--json", "obj", "rm", "other", "-f").json() == {"bucket": "other",
                                                                "deleted": True}
    assert cli("obj", "ls", "--names").out.split() == ["files"]


def run_in(cli: Cli, cwd: Path, *args: str) -> str:
    """Run a command in `cwd` (obj get writes into the current directory by default)."""
    proc = subprocess.run([sys.executable, "-m", "natsync", *args], cwd=cwd, env=cli.env,
                          capture_output=True, timeout=30)
    assert proc.returncode == 0, proc
    return proc.stdout.decode()


def test_micro_verbs(cli: Cli, nc: natsync.Client) -> None:
    res = cli("micro", "ls", "--wait", "0.2")
    assert res.out.strip() == "No services found"
    assert cli("micro", "ping", "--wait", "0.2", "--json").json() == []
    svc = natsync.micro.add_service(nc, name="echo", version="1.2.3", description="echoes",
                                    metadata={"team": "core"})
    svc.add_endpoint("say", lambda req: req.respond(req.data))
    other = natsync.micro.add_service(nc, name="clock", version="0.1.0")
    other.add_endpoint("now", lambda req: req.respond(b"12:00"))
    nc.flush()
    assert cli("req", "say", "hi").out == "hi\n"

    table = cli("micro", "ls").out
    assert re.search(rf"^echo\s+1\.2\.3\s+{svc.id}\s+1\s+echoes$", table, re.M), table
    assert re.search(r"^clock\s+0\.1\.0\s+", table, re.M)
    docs = cli("--json", "micro", "ls").json()
    assert sorted(d["name"] for d in docs) == ["clock", "echo"]
    res = cli("micro", "info", "echo")
    assert f"Service echo 1.2.3 (instance {svc.id}): echoes" in res.out
    assert re.search(r"^say\s+say\s+q\b", res.out, re.M)
    assert cli("micro", "info", "echo", svc.id, "--json").json()[0]["endpoints"][0][
        "subject"] == "say"
    res = cli("micro", "stats", "echo")
    assert re.search(r"^say\s+say\s+1\s+0\s+", res.out, re.M), res
    stats = cli("micro", "stats", "echo", "--json").json()
    assert stats[0]["endpoints"][0]["num_requests"] == 1
    res = cli("micro", "ping")
    assert "echo" in res.out and "clock" in res.out and "team=core" in res.out
    assert [p["name"] for p in cli("micro", "ping", "clock", "--json").json()] == ["clock"]
    res = cli("micro", "info", "nosuch", "--wait", "0.2", code=1)
    assert res.err.strip() == "natsync micro info: no instance of service 'nosuch' answered " \
                              "within 0.2s"


def test_consumer_priority_unpin_and_reset_verbs(cli: Cli, nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.add_stream(name="PJ", subjects=["pj"])
    for i in range(1, 5):
        js.publish("pj", b"job %d" % i)
    cli("consumer", "add", "PJ", "pinned", "--priority-group", "jobs",
        "--priority-policy", "pinned-client", "--priority-timeout", "1m")
    cfg = js.consumer_info("PJ", "pinned").config
    assert cfg.priority_groups == ["jobs"] and cfg.priority_timeout == 60
    assert cfg.priority_policy == api.PriorityPolicy.PINNED_CLIENT
    assert cli("consumer", "next", "PJ", "pinned", "--group", "jobs", "--raw").out == "job 1\n"
    info = cli("consumer", "info", "PJ", "pinned").out
    assert "Priority groups:" in info and "pinned_client" in info and "Pinned in jobs:" in info
    # Another process has no pin: while the first one's pin holds, it gets nothing.
    res = cli("consumer", "next", "PJ", "pinned", "--group", "jobs", "--wait", "0.5")
    assert res.out == "" and "No messages available" in res.err
    assert cli("consumer", "unpin", "PJ", "pinned", "jobs").out.strip() == (
        "Unpinned group jobs of consumer PJ > pinned")
    assert cli("consumer", "next", "PJ", "pinned", "--group", "jobs", "--raw").out == "job 2\n"
    res = cli("consumer", "next", "PJ", "pinned", "--group", "nope", code=1)
    assert "priority group 'nope' is not one of the consumer's" in res.err
    res = cli("consumer", "unpin", "PJ", "pinned", "nope", code=1)
    assert "priority group" in res.err.lower()

    cli("consumer", "add", "PJ", "plain")
    assert cli("consumer", "next", "PJ", "plain", "--count", "4", "--raw").out.count("job") == 4
    res = cli("consumer", "reset", "PJ", "plain", "--seq", "3")
    assert res.out.startswith("Reset consumer PJ > plain to stream sequence 3")
    assert cli("consumer", "next", "PJ", "plain", "--raw").out == "job 3\n"
    doc = cli("--json", "consumer", "reset", "PJ", "plain").json()  # after the ack floor (3)
    assert doc["reset_seq"] == 4 and doc["name"] == "plain"
    res = cli("consumer", "reset", "PJ", "ghost", code=1)
    assert "consumer not found" in res.err


def test_stream_get_batch_verb(cli: Cli, nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.add_stream(name="GB", subjects=["gb.*"], allow_direct=True)
    for i in range(1, 7):
        js.publish("gb.a" if i % 2 == 0 else "gb.b", b"m%d" % i)  # gb.a: 2, 4, 6
    assert cli("stream", "get-batch", "GB", "--raw").out.split() == [f"m{i}" for i in range(1, 7)]
    out = cli("stream", "get-batch", "GB", "--subject", "gb.a", "--start-seq", "3", "-c", "1").out
    assert out.startswith("[4] gb.a @ ") and "m4" in out and "m6" not in out
    docs = cli("--json", "stream", "get-batch", "GB", "--last-for", "gb.*").json_lines()
    assert sorted((d["subject"], d["seq"], d["data"]) for d in docs) == [("gb.a", 6, "m6"),
                                                                         ("gb.b", 5, "m5")]
    docs = cli("--json", "stream", "get-batch", "GB", "--last-for", "gb.a", "--last-for", "gb.b",
               "--up-to-seq", "3").json_lines()
    assert sorted((d["subject"], d["seq"]) for d in docs) == [("gb.a", 2), ("gb.b", 3)]
    res = cli("stream", "get-batch", "GB", "--subject", "gb.none")
    assert res.out == "" and "No matching messages in stream GB" in res.err
    cli("stream", "get-batch", "GB", "--last-for", "gb.a", "--subject", "gb.a", code=2)
    js.add_stream(name="NODIRECT", subjects=["nd"])
    res = cli("stream", "get-batch", "NODIRECT", code=1)
    assert "allow_direct" in res.err


def test_stream_rmm_and_flow_control_ack_verbs(cli: Cli, nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.add_stream(name="RM", subjects=["rm"])
    for i in range(1, 4):
        js.publish("rm", b"m%d" % i)
    assert cli("stream", "rmm", "RM", "2", "-f").out.strip() == "Message 2 erased from stream RM"
    doc = cli("--json", "stream", "rmm", "RM", "3", "--no-erase", "-f").json()
    assert doc == {"stream": "RM", "seq": 3, "deleted": True, "erased": False}
    assert js.stream_info("RM", deleted_details=True).state.deleted == [2, 3]
    res = cli("stream", "rmm", "RM", "1", code=2)  # no terminal to ask, no --force
    assert js.get_msg("RM", 1).data == b"m1" and "--force" in res.err
    assert "message 9 in stream 'RM'" in cli("stream", "rmm", "RM", "9", "-f", code=1).err
    cli("stream", "rmm", "RM", "0", "-f", code=2)

    cli("consumer", "add", "RM", "src", "--ack", "flow-control", "--deliver-subject", "rm.out")
    cfg = js.consumer_info("RM", "src").config
    assert cfg.ack_policy == api.AckPolicy.FLOW_CONTROL and cfg.flow_control
    assert cfg.idle_heartbeat == 1  # the server's own settings for this policy
