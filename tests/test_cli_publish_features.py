"""`natsync counter` and `natsync schedule` against a real server, run in subprocesses."""

from __future__ import annotations

import pytest

import natsync

from .conftest import wait_for
from .test_cli import Cli, base_env


@pytest.fixture
def cli(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """Runs `python -m natsync` with NATS_URL set and no nats contexts around."""
    return Cli(base_env(tmp_path_factory.mktemp("xdg"), nats_url))


def test_counter_verbs(cli: Cli, nc: natsync.Client) -> None:
    js = nc.jetstream()
    cli("stream", "add", "HITS", "--subjects", "hits.>", "--allow-msg-counter")
    assert js.stream_info("HITS").config.allow_msg_counter is True
    assert cli("counter", "incr", "hits.home").out.strip() == "1"
    assert cli("counter", "incr", "hits.home", "41").out.strip() == "42"
    assert cli("counter", "incr", "hits.home", "-2").out.strip() == "40"
    assert cli("--json", "counter", "incr", "hits.away", "7").json() == {
        "subject": "hits.away", "value": "7"}
    assert cli("counter", "get", "HITS", "hits.home").out.strip() == "40"
    assert cli("--json", "counter", "get", "HITS", "hits.*").json() == {
        "hits.home": "40", "hits.away": "7"}
    table = cli("counter", "get", "HITS", "hits.home", "hits.never").out
    assert "hits.never" in table and "40" in table
    js.add_stream(name="PLAIN", subjects=["plain.>"])
    res = cli("counter", "incr", "plain.x", code=1)
    assert "message counters is disabled" in res.err
    assert "invalid int value" in cli("counter", "incr", "hits.home", "1.5", code=2).err


def test_schedule_verbs(cli: Cli, nc: natsync.Client) -> None:
    js = nc.jetstream()
    cli("stream", "add", "JOBS", "--subjects", "sched.>,jobs.>", "--allow-msg-schedules",
        "--allow-msg-ttl", "--allow-atomic", "--allow-batched")
    cfg = js.stream_info("JOBS").config
    assert (cfg.allow_msg_schedules, cfg.allow_msg_ttl, cfg.allow_atomic, cfg.allow_batched) == (
        True, True, True, True)
    res = cli("schedule", "add", "sched.tick", "jobs.tick", "@every 1s", "tick")
    assert res.out.startswith("Scheduled sched.tick -> jobs.tick (@every 1s) in stream JOBS")

    def fired() -> bool:
        subjects = js.stream_info("JOBS", subjects_filter="jobs.tick").state.subjects or {}
        return subjects.get("jobs.tick", 0) >= 1

    wait_for(fired, timeout=6, what="the schedule to fire")
    assert js.get_last_msg("JOBS", "jobs.tick").data == b"tick"
    assert cli("schedule", "cancel", "sched.tick").out.strip() == "Cancelled schedule sched.tick"
    subjects = js.stream_info("JOBS", subjects_filter="sched.>").state.subjects or {}
    assert "sched.tick" not in subjects
    res = cli("schedule", "add", "sched.bad", "jobs.bad", "every minute", code=1)
    assert "6 fields" in res.err
