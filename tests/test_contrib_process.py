"""natsync.contrib.process.ProcessClient: one client per process, fork, atexit, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading

import pytest

import natsync
from natsync.contrib.config import ConfigError
from natsync.contrib.process import ProcessClient
from natsync.testing import NatsServer

from .procs import Proc, env_with

APPS = os.path.join(os.path.dirname(__file__), "apps")


def test_many_threads_create_exactly_one_client(nats_server: NatsServer) -> None:
    holder = ProcessClient(nats_server.url)
    barrier = threading.Barrier(16)
    got: list[natsync.Client] = []

    def use() -> None:
        barrier.wait(5)
        got.append(holder.client)

    threads = [threading.Thread(target=use) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    try:
        assert len(got) == 16 and len({id(c) for c in got}) == 1
        assert holder.connections_made == 1 and holder.owner_pid == os.getpid()
        assert got[0].is_connected
    finally:
        holder.close()


def test_close_drains_and_the_next_use_reconnects(nats_server: NatsServer) -> None:
    holder = ProcessClient(nats_server.url)
    first = holder.client
    holder.close()
    assert first.is_closed
    second = holder.client
    assert second is not first and second.is_connected and holder.connections_made == 2
    holder.close()


def test_a_forked_child_makes_its_own_client(nats_server: NatsServer) -> None:
    holder = ProcessClient(nats_server.url)
    parent = holder.client
    parent.subscribe("fork.echo", cb=lambda m: m.respond(b"echo " + m.data))
    parent.flush()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running the parent's atexit
        try:
            child = holder.client
            reply = child.request("fork.echo", b"child", timeout=5).data.decode()
            report = {"new": child is not parent, "owner": holder.owner_pid, "pid": os.getpid(),
                      "client_id": child.client_id, "reply": reply, "inbox": child.new_inbox(),
                      "made": holder.connections_made}
            holder.close()
            os.write(write_end, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        with os.fdopen(read_end) as pipe:
            report = json.loads(pipe.read() or "{}")
        os.waitpid(pid, 0)
        assert report["new"] and report["owner"] == report["pid"] == pid
        assert report["client_id"] != parent.client_id and report["made"] == 1
        assert report["reply"] == "echo child"
        # The child's inboxes do not repeat the parent's (its NUID was reseeded).
        assert report["inbox"].split(".")[1][:12] != parent.new_inbox().split(".")[1][:12]
        assert holder.client is parent and parent.request("fork.echo", b"p", timeout=5).data \
            == b"echo p"
    finally:
        holder.close()


@pytest.mark.parametrize(("servers", "options", "named"), [
    ("http://127.0.0.1:4222", {}, "scheme must be one of"),
    (42, {}, "servers must be a URL string or a list of URLs, not int"),
    (None, {"nmae": "x"}, "unknown connect option 'nmae'"),
    (None, {"ping_interval": "5"}, "connect option 'ping_interval' must be float, not str"),
    (None, {"allow_reconnect": 1}, "'allow_reconnect' must be bool"),
    (None, {"drain_timeout": 0}, "drain_timeout must be a positive number"),
])
def test_bad_configuration_is_refused_at_once(servers: object, options: dict[str, object],
                                              named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("(", r"\(")):
        ProcessClient(servers, **options)  # type: ignore[arg-type]


def test_bad_sigterm_mode() -> None:
    with pytest.raises(ConfigError, match="sigterm must be 'auto', 'chain' or 'off'"):
        ProcessClient(sigterm="sometimes")


@pytest.mark.parametrize(("mode", "app", "printed", "code"), [
    ("auto", "none", ["closed"], -signal.SIGTERM),         # drained, then the default action
    ("auto", "own", ["app handler", "closed"], 0),         # left alone; atexit drains
    ("chain", "own", ["closed", "app handler"], 0),        # drained, then the app's handler
    ("off", "none", [], -signal.SIGTERM),                  # nothing installed
])
def test_sigterm(nats_server: NatsServer, mode: str, app: str, printed: list[str],
                 code: int) -> None:
    proc = Proc([sys.executable, os.path.join(APPS, "sigterm_app.py"), nats_server.url, mode,
                 app], env_with())
    try:
        proc.wait_for("ready")
        assert proc.stop(signal.SIGTERM) == code, proc.output
        assert proc.lines[1:] == printed, proc.output
    finally:
        proc.kill()
