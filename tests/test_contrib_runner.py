"""natsync.contrib.runner: the work and listen loops, in-process against a real server."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

import natsync
from natsync.contrib.runner import HandlerImportError, StopSignals, import_handler, listen, work
from natsync.js import api
from natsync.testing import NatsServer

from .conftest import wait_for


def test_work_naks_a_failing_job_and_retries_it() -> None:
    with NatsServer(jetstream=True) as server, natsync.connect(server.url) as nc:
        js = nc.jetstream()
        js.add_stream(name="JOBS", subjects=["jobs"], retention=api.RetentionPolicy.WORK_QUEUE)
        for name in ("a", "bad", "b"):
            js.publish("jobs", name.encode())
        seen: list[tuple[str, int]] = []
        stop = StopSignals()

        def handler(msg: natsync.Msg) -> None:
            seen.append((msg.data.decode(), msg.metadata.num_delivered))
            if msg.data == b"bad" and msg.metadata.num_delivered == 1:
                raise RuntimeError("flaky")

        done: list[int] = []
        runner = threading.Thread(target=lambda: done.append(
            work(nc, "JOBS", "w", handler, stop, say=lambda _: None)))
        runner.start()
        try:
            wait_for(lambda: ("bad", 2) in seen and len(seen) == 4, 15, "the retried job")
            wait_for(lambda: js.stream_info("JOBS").state.messages == 0, 10, "all acked")
        finally:
            stop.stop()
            runner.join(10)
        assert done == [3] and sorted(seen) == [("a", 1), ("b", 1), ("bad", 1), ("bad", 2)]
        assert js.consumer_info("JOBS", "w").config.ack_policy == api.AckPolicy.EXPLICIT


def test_listen_replies_with_bytes_or_str_only(nats_server: NatsServer) -> None:
    answers = {b"s": "text", b"b": b"raw", b"n": None, b"x": 42}
    stop = StopSignals()
    with natsync.connect(nats_server.url) as nc:
        said: list[str] = []
        loop = threading.Thread(target=lambda: listen(
            nc, "svc", lambda m: answers[m.data], stop, say=said.append))
        loop.start()
        try:
            wait_for(lambda: bool(said), 5, "the listener")
            assert nc.request("svc", b"s", timeout=2).data == b"text"
            assert nc.request("svc", b"b", timeout=2).data == b"raw"
            for silent in (b"n", b"x"):
                with pytest.raises(natsync.errors.TimeoutError):
                    nc.request("svc", silent, timeout=0.3)
        finally:
            stop.stop()
            loop.join(10)
        assert said[-1] == "Stopped on request after handling 4 message(s)."


@pytest.mark.parametrize(("path", "named"), [
    ("nodots", "must be a dotted path"),
    ("os.path.nope", "cannot import handler 'os.path.nope'"),
    ("os.sep", "is a str, not callable"),
])
def test_import_handler_names_the_problem(path: str, named: str) -> None:
    with pytest.raises(HandlerImportError, match=named):
        import_handler(path)


def test_natsync_and_contrib_import_without_the_frameworks() -> None:
    code = ("import sys, natsync, natsync.contrib.process, natsync.contrib.runner, "
            "natsync.contrib.config\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('django', 'flask', 'gunicorn')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr
