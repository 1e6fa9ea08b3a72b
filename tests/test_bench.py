"""The benchmark harness: the raw echo responder's frame parser on bytes, and a quick run.

The quick run goes through bench/run.py exactly as a user would (its own nats-server, worker
processes, helper responders) with small counts, and checks that every figure came out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from natsync.testing import find_server_binary

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

from responder import ResponderError, echo_replies  # noqa: E402  (bench/ is not a package)


def test_echo_replies_answers_every_complete_request_in_one_buffer() -> None:
    buf = (b"INFO {}\r\nMSG bench.echo.raw 1 _INBOX.a.1 3\r\nabc\r\n"
           b"MSG bench.echo.raw 1 2\r\nno\r\n"  # no reply subject: not answered
           b"PING\r\n"
           b"HMSG bench.echo.raw 1 _INBOX.a.2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
           b"MSG bench.echo.raw 1 _INBOX.a.3 5\r\nhel")  # incomplete: kept for the next read
    out, served, rest = echo_replies(buf)
    assert out == (b"PUB _INBOX.a.1 3\r\nabc\r\nPONG\r\nPUB _INBOX.a.2 2\r\nhi\r\n")
    assert served == 2
    assert rest == b"MSG bench.echo.raw 1 _INBOX.a.3 5\r\nhel"
    out, served, rest = echo_replies(rest + b"lo\r\n")
    assert (out, served, rest) == (b"PUB _INBOX.a.3 5\r\nhello\r\n", 1, b"")


def test_echo_replies_keeps_a_frame_whose_crlf_has_not_arrived() -> None:
    frame = b"MSG s 1 r 2\r\nok"
    assert echo_replies(frame) == (b"", 0, frame)
    assert echo_replies(b"MSG s 1 r") == (b"", 0, b"MSG s 1 r")


def test_echo_replies_raises_on_server_error() -> None:
    with pytest.raises(ResponderError, match="Permissions Violation"):
        echo_replies(b"-ERR 'Permissions Violation for Subscription'\r\n")


def test_quick_bench_runs_the_request_scenarios(tmp_path: Path) -> None:
    """req-par-8, req-own and req-fanout for natsync and nats-py; nats.js without node is n/a."""
    out_json = tmp_path / "run.json"
    env = dict(os.environ, NATS_SERVER_BIN=find_server_binary(),
               PATH=str(tmp_path))  # no node on PATH: the nats.js column must say n/a
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--quick", "--only", "req-par-8,req-own,req-fanout",
         "--clients", "natsync,natspy,natsjs", "--time-limit", "30", "--json", str(out_json)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "skipping natsjs: node is not installed" in proc.stderr
    summary = json.loads(out_json.read_text())["summary"]
    for kind in ("natsync", "natspy"):
        par = summary["req-par-8"][kind]["median"]
        assert par["req_per_s"] > 0 and 0 < par["p50_us"] <= par["p99_us"]
        assert par["cpu_us_per_req"] > 0
        assert summary["req-own"][kind]["median"]["p50_us"] > 0
    fanout = summary["req-fanout"]["natsync"]
    assert fanout["skipped"] == [] and fanout["median"]["req_per_s"] > 0
    rows = [line for line in proc.stdout.splitlines() if "8 concurrent" in line and "rate" in line]
    assert len(rows) == 1 and "n/a" in rows[0], proc.stdout
    assert "req-par-32" not in summary  # only what --only asked for
