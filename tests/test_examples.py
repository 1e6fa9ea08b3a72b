"""Every example in examples/ runs against a real server."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
import threading
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

import natsync
from natsync.testing import NatsServer

from .conftest import EXAMPLES, run_example


def test_tour_runs_against_a_given_server(nats_server: NatsServer) -> None:
    out = run_example("tour.py", nats_server.url)
    for phrase in ("Publish/subscribe: received 'Hello, Joe!'", "Queue group: 100 jobs",
                   "Request/reply", "Headers: content-type=application/json",
                   "No responders", "Drained: the callback handled all 50 messages",
                   "recognised as a duplicate (True)", "the last got sequence 100",
                   "the kitchen fetched 40 orders", "60 wait for the next fetch",
                   "replayed all 100 stored orders in order",
                   "a compare-and-set with a stale revision was refused",
                   "theme is 'dark' at revision 2; history keeps 2 revisions",
                   "then the live update 'solarized'",
                   "stored a 1024 KiB object in 8 chunks and read it back (digest checked, "
                   "identical: True)",
                   "the endpoint answered 'hello, tour'; discovery found 1 instance(s); "
                   "stats count 1 request(s)"):
        assert phrase in out.stdout


def test_tour_starts_its_own_server_without_nats_url() -> None:
    out = run_example("tour.py", None)
    assert "Started an embedded nats-server" in out.stdout
    assert "Stopped the embedded server" in out.stdout



def test_pubsub_basics(nats_server: NatsServer) -> None:
    out = run_example("pubsub_basics.py", nats_server.url).stdout
    for phrase in ("Wildcards: 'basics.orders.*' received ['basics.orders.new']; "
                   "'basics.orders.>' received ['basics.orders.new', 'basics.orders.eu.paid']",
                   "content-type=text/plain", "tags=['red', 'blue']",
                   "max_msgs=3 yielded ['0', '1', '2'], then the loop ended",
                   "(total 30)",
                   "Slow consumer: kept 5, dropped 15; error_cb got 1 SlowConsumerError",
                   "After the close (state CLOSED) the queued messages were still readable: "
                   "['late 0', 'late 1', 'late 2']"):
        assert phrase in out, f"{phrase!r} not in:\n{out}"


def test_request_reply(nats_server: NatsServer) -> None:
    out = run_example("request_reply.py", nats_server.url).stdout
    for phrase in ("'hello' came back as 'HELLO' with Trace-Id 42",
                   "No responders: nobody serves 'rr.nobody'",
                   "also a builtin TimeoutError: True",
                   "8 threads made 200 requests through one client; 200 replies matched",
                   "Nested: 'gateway says PING'",
                   "max_msgs=3: replies from ['ap', 'eu', 'us']",
                   "request_many with stall=0.2: 3 replies",
                   "['chunk 0', 'chunk 1', 'chunk 2', 'chunk 3']",
                   "By hand: 'BY HAND' arrived on the inbox _INBOX.",
                   "Both clients drained and closed."):
        assert phrase in out, f"{phrase!r} not in:\n{out}"


def test_flask_app_pattern(nats_server: NatsServer) -> None:
    out = run_example("flask_app_pattern.py", nats_server.url).stdout
    for phrase in ("Serving the WSGI app at http://127.0.0.1:",
                   "GET /time x20 from 8 concurrent callers: status [200]",
                   "sharing 1 natsync connection",
                   "POST /orders x10: status [202]; the backend received 10 order events",
                   "GET /time answered 503: no time service is running",
                   "(1 connection made in all)"):
        assert phrase in out, f"{phrase!r} not in:\n{out}"


def _web_app_module() -> Any:
    """examples/flask_app_pattern.py imported as a module (once per test session)."""
    name = "natsync_example_flask_app_pattern"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / "flask_app_pattern.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _call_wsgi(app: Any, method: str, path: str, body: bytes = b"") -> tuple[str, dict[str, Any]]:
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path,
                               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    setup_testing_defaults(environ)
    status: list[str] = []
    chunks = app(environ, lambda s, headers: status.append(s))
    return status[0], json.loads(b"".join(chunks))


def test_web_app_shares_one_client_across_threads(
        nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    web = _web_app_module()
    monkeypatch.setenv("NATS_URL", nats_server.url)
    try:
        status, body = _call_wsgi(web.application, "GET", "/time")
        assert status.startswith("503") and "no time service" in body["error"]

        with natsync.connect(nats_server.url) as backend:
            backend.subscribe("demo.time", cb=lambda m: m.respond(b"12:00:00"))
            orders = backend.subscribe("demo.orders.>")
            backend.flush()

            results: list[tuple[str, dict[str, Any]]] = []
            threads = [threading.Thread(
                target=lambda: results.append(_call_wsgi(web.application, "GET", "/time")))
                for _ in range(10)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(10)
            assert [s for s, _ in results] == ["200 OK"] * 10
            assert {b["time"] for _, b in results} == {"12:00:00"}

            status, _ = _call_wsgi(web.application, "POST", "/orders", b'{"order": 1}')
            assert status.startswith("202")
            msg = orders.next_msg(timeout=2)
            assert msg.subject == "demo.orders.created" and msg.data == b'{"order": 1}'
            assert msg.headers is not None and msg.headers["content-type"] == "application/json"

            status, _ = _call_wsgi(web.application, "GET", "/nowhere")
            assert status.startswith("404")
            assert web.get_nats() is web.get_nats()

            if hasattr(os, "fork"):
                # A forked child must not use the parent's client: get_nats() makes its own.
                parent = web.get_nats()
                forked = backend.subscribe("demo.forked")
                backend.flush()
                pid = os.fork()
                if pid == 0:
                    code = 1
                    try:
                        child = web.get_nats()
                        if child is not parent:
                            child.publish("demo.forked", str(os.getpid()).encode())
                            child.flush(5)
                            child.close()
                            code = 0
                    finally:
                        os._exit(code)
                _, status_code = os.waitpid(pid, 0)
                assert os.waitstatus_to_exitcode(status_code) == 0
                assert forked.next_msg(timeout=5).data == str(pid).encode()
                assert web.get_nats() is parent and parent.is_connected
    finally:
        web.close_nats()
    assert web._client is None


def test_resilient_worker_rides_through_an_outage() -> None:
    out = run_example("resilient_worker.py", None)
    assert out.stdout.count("Worker answers: resized") == 2
    assert "Audit got: published while the server was away" in out.stdout
    assert "Worker saw: disconnected, reconnected (reconnects: 1)" in out.stdout



def test_js_work_queue_cron(nats_server: NatsServer) -> None:
    out = run_example("js_work_queue.py", nats_server.url).stdout
    assert "Cron run 1 processed 25 jobs (1 after a retry)." in out
    assert "Cron run 2 processed 0 jobs (0 after a retry)." in out
    assert "Jobs left in the queue: 0." in out


def test_ordered_replay_notebook(nats_server: NatsServer) -> None:
    out = run_example("ordered_replay.py", nats_server.url, announced=False).stdout
    assert "Replayed 60 readings in order: sequences 1..60, strictly increasing: True" in out
    assert "room1 from sequence 30: 10 readings" in out


def test_js_schedule_cron(nats_server: NatsServer) -> None:
    out = run_example("js_schedule_cron.py", nats_server.url).stdout
    assert "Scheduled the cleanup job every second" in out
    for run in (1, 2, 3):
        assert f'Cleanup run {run}: {{"older_than": "7d"}} (fired by schedules.cleanup)' in out
    assert "Cancelled the schedule after 3 runs." in out
