"""FaultProxy on its own: each fault measured against a plain TCP server on loopback."""

from __future__ import annotations

import socket
import threading
import time
from typing import Iterator

import pytest

import natsync
from natsync.testing import FaultProxy, NatsServer, free_port

from .conftest import wait_for
from .docblocks import python_block_with


class TcpServer:
    """A loopback server that records what each connection read, and echoes it unless
    `echo` is false; it notes how each connection ended (eof or reset)."""

    def __init__(self, echo: bool = True) -> None:
        self.echo = echo
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()
        self.reads: list[list[bytes]] = []
        self.endings: list[str] = []
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.conns: list[socket.socket] = []
        self._accepter = threading.Thread(target=self._accept)
        self._accepter.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                reads: list[bytes] = []
                self.reads.append(reads)
                self.conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn, reads))
            self.threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket, reads: list[bytes]) -> None:
        conn.settimeout(10)
        ending = "timeout"
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    ending = "eof"
                    break
                with self.lock:
                    reads.append(data)
                if self.echo:
                    conn.sendall(data)
        except ConnectionResetError:
            ending = "reset"
        except OSError:
            ending = "error"
        conn.close()
        with self.lock:
            self.endings.append(ending)

    def received(self, index: int = 0) -> bytes:
        with self.lock:
            return b"".join(self.reads[index]) if index < len(self.reads) else b""

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)   # wakes the accept() (Linux)
        self.listener.close()
        self._accepter.join(5)
        with self.lock:
            for conn in self.conns:
                conn.close()
        for t in self.threads:
            t.join(5)


@pytest.fixture
def server() -> Iterator[TcpServer]:
    srv = TcpServer()
    yield srv
    srv.close()


@pytest.fixture
def sink() -> Iterator[TcpServer]:
    srv = TcpServer(echo=False)
    yield srv
    srv.close()


@pytest.fixture
def proxy(server: TcpServer) -> Iterator[FaultProxy]:
    with FaultProxy(server.address, seed=7) as p:
        yield p


def dial(proxy: FaultProxy, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(proxy.address, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"EOF after {len(data)} of {n} bytes"
        data += chunk
    return data


def read_until_end(sock: socket.socket) -> tuple[bytes, str]:
    """Everything until the connection ends, and how: 'eof', 'reset' or 'timeout'."""
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, "eof"
            data += chunk
    except ConnectionResetError:
        return data, "reset"
    except socket.timeout:
        return data, "timeout"


def test_forwards_both_ways_and_counts(proxy: FaultProxy, server: TcpServer) -> None:
    with dial(proxy) as sock:
        sock.sendall(b"hello")
        assert read_exactly(sock, 5) == b"hello"
    assert proxy.url == f"nats://127.0.0.1:{proxy.port}"
    assert proxy.upstream == server.address
    wait_for(lambda: proxy.stats["open"] == 0, 5, "the link to end")
    stats = proxy.stats
    assert (stats["connections"], stats["up_bytes"], stats["down_bytes"]) == (1, 5, 5)
    assert server.endings == ["eof"]   # the client's FIN was passed on


def test_close_joins_its_thread_and_ends_connections(server: TcpServer) -> None:
    proxy = FaultProxy(f"nats://127.0.0.1:{server.address[1]}").start()
    sock = dial(proxy)
    sock.sendall(b"x")
    assert read_exactly(sock, 1) == b"x"
    assert any(t.name == f"faultproxy-{proxy.port}" for t in threading.enumerate())
    proxy.close()
    assert not any(t.name.startswith("faultproxy-") for t in threading.enumerate())
    assert read_until_end(sock)[1] in ("eof", "reset")
    sock.close()
    with pytest.raises(OSError):
        socket.create_connection(proxy.address, timeout=1).close()
    proxy.close()  # idempotent
    with pytest.raises(RuntimeError):
        proxy.start()


def test_latency_delays_each_way_and_jitter_keeps_order(proxy: FaultProxy) -> None:
    with dial(proxy) as sock:
        with proxy.latency(0.1, direction="up"):
            start = time.monotonic()
            sock.sendall(b"a")
            read_exactly(sock, 1)
            one_way = time.monotonic() - start
        with proxy.latency(0.05, jitter=0.04):
            start = time.monotonic()
            for i in range(30):
                sock.sendall(b"%02d" % i)
                time.sleep(0.002)
            echoed = read_exactly(sock, 60)
            both_ways = time.monotonic() - start
    assert 0.1 <= one_way < 0.3
    assert both_ways >= 0.1 - 0.08
    assert echoed == b"".join(b"%02d" % i for i in range(30))


def test_bandwidth_limits_the_rate(proxy: FaultProxy) -> None:
    payload = bytes(range(256)) * 800   # 200 KiB
    with dial(proxy) as sock, proxy.bandwidth(400_000, "down"):
        start = time.monotonic()
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        sender.start()
        assert read_exactly(sock, len(payload)) == payload
        elapsed = time.monotonic() - start
        sender.join(5)
    assert 0.45 < elapsed < 1.5, elapsed


def test_slicing_splits_writes_into_separate_reads(proxy: FaultProxy, server: TcpServer) -> None:
    with dial(proxy) as sock, proxy.slice(1, "up", interval=0.002):
        sock.sendall(b"PUB a 5\r\nhello\r\n")
        assert read_exactly(sock, 16) == b"PUB a 5\r\nhello\r\n"
    with server.lock:
        reads = list(server.reads[0])
    assert b"".join(reads) == b"PUB a 5\r\nhello\r\n"
    assert all(len(r) == 1 for r in reads[:2]) and len(reads) >= 8, reads


def test_blackhole_down_is_half_open_then_heal_resets(proxy: FaultProxy,
                                                      server: TcpServer) -> None:
    busy, idle = dial(proxy, timeout=0.3), dial(proxy, timeout=0.3)
    with busy, idle:
        hole = proxy.blackhole("down")
        busy.sendall(b"ping")
        wait_for(lambda: server.received(0) == b"ping", 5, "the server to get it")
        data, how = read_until_end(busy)          # no bytes, no FIN, no RST
        assert (data, how) == (b"", "timeout")
        wait_for(lambda: proxy.stats["down_dropped"] == 4, 5, "the echo to be swallowed")
        hole.remove()
        assert hole not in proxy.faults and not hole.active
        assert read_until_end(busy)[1] == "reset"  # the flow it swallowed from is gone
        idle.sendall(b"still")                     # an idle one carries on
        assert read_exactly(idle, 5) == b"still"


def test_blackhole_up_swallows_bytes_and_the_fin(proxy: FaultProxy, server: TcpServer) -> None:
    with proxy.blackhole("up"):
        with dial(proxy) as sock:
            wait_for(lambda: proxy.stats["open"] == 1 and len(server.reads) == 1, 5, "a link")
            sock.sendall(b"lost")
            wait_for(lambda: proxy.stats["up_dropped"] == 4, 5, "the bytes to be swallowed")
        time.sleep(0.2)   # the FIN has had time to reach the server, were it forwarded
        assert server.endings == [] and server.received(0) == b""


def test_blackhole_drops_held_bytes_and_memory_stays_flat(server: TcpServer) -> None:
    with FaultProxy(server.address, buffer_size=64 * 1024) as proxy, dial(proxy) as sock:
        proxy.blackhole("both")
        sent = 0
        while sent < 4_000_000:
            sent += sock.send(b"x" * 65536)
        wait_for(lambda: proxy.stats["up_dropped"] == sent, 5, "everything to be swallowed")
        assert proxy.stats["peak_buffered"] == 0


def test_buffers_are_bounded_and_backpressure_reaches_the_sender(sink: TcpServer) -> None:
    bound = 64 * 1024
    with FaultProxy(sink.address, buffer_size=bound) as proxy, dial(proxy) as sock:
        proxy.bandwidth(100_000, "up")
        sock.settimeout(0.5)
        sent = 0
        with pytest.raises(socket.timeout):
            for _ in range(1000):      # 64 MiB at most: the kernel buffers fill long before
                sent += sock.send(b"y" * 65536)
        assert 0 < proxy.stats["peak_buffered"] <= bound
        assert sent < 64 * 1024 * 1024


def test_reset_after_n_bytes_mid_stream(proxy: FaultProxy, server: TcpServer) -> None:
    with dial(proxy) as sock:
        cut = proxy.reset_after(10, "down")
        sock.sendall(b"0123456789abcdef")
        assert read_until_end(sock) == (b"0123456789", "reset")
        assert cut.wait(2) and cut.fired == 1 and cut.active   # it stays for new links
    wait_for(lambda: server.endings == ["reset"], 5, "the server to see the RST too")
    assert proxy.stats["resets"] == 1


def test_close_after_n_bytes_sends_fin_both_ways(proxy: FaultProxy, server: TcpServer) -> None:
    with dial(proxy) as sock:
        proxy.close_after(6, "up", times=1)
        sock.sendall(b"abcdefgh")
        data, how = read_until_end(sock)
    assert how == "eof" and b"abcdef".startswith(data)
    wait_for(lambda: server.endings == ["eof"], 5, "the server to see the FIN")
    assert server.received(0) == b"abcdef"
    assert proxy.faults == [] and proxy.stats["closes"] == 1


def test_cut_after_a_match_split_across_writes(proxy: FaultProxy, server: TcpServer) -> None:
    cut = proxy.reset_after(2, "up", match=b"CONNECT", times=1)
    with dial(proxy) as sock:
        for piece in (b"INFO {}\r\nCON", b"NECT {}\r\nPING\r\n"):
            sock.sendall(piece)
            time.sleep(0.05)
        assert read_until_end(sock)[1] == "reset"
    assert cut.wait(2)
    wait_for(lambda: server.endings == ["reset"], 5, "the server to see the RST")
    assert server.received(0) == b"INFO {}\r\nCONNECT {"


def test_times_limits_a_cut_to_that_many_connections(proxy: FaultProxy,
                                                     server: TcpServer) -> None:
    cut = proxy.reset_after(1, "up", times=1)
    with dial(proxy) as first:
        first.sendall(b"ab")
        assert read_until_end(first)[1] == "reset"
    wait_for(lambda: server.endings == ["reset"], 5, "the server to see the RST")
    assert server.received(0) == b"a"
    assert cut.wait(2) and not cut.active and proxy.faults == []
    with dial(proxy) as second:
        second.sendall(b"ok")
        assert read_exactly(second, 2) == b"ok"
    assert not cut.wait(0.05, count=2)


def test_reset_and_close_connections_now(proxy: FaultProxy, server: TcpServer) -> None:
    socks = [dial(proxy) for _ in range(3)]
    try:
        for sock in socks:
            sock.sendall(b"up")
            read_exactly(sock, 2)
        assert proxy.reset_connections() == 3
        assert [read_until_end(s)[1] for s in socks] == ["reset"] * 3
        again = dial(proxy)
        socks.append(again)
        again.sendall(b"1")
        read_exactly(again, 1)
        assert proxy.close_connections() == 1
        assert read_until_end(again) == (b"", "eof")
    finally:
        for sock in socks:
            sock.close()
    assert proxy.wait_connections(4, 1) and not proxy.wait_connections(5, 0.05)


def test_faults_switch_on_and_off(proxy: FaultProxy) -> None:
    slow = proxy.latency(0.01, direction="up")
    with proxy.slice(3, "down") as sliced:
        proxy.bandwidth(1e6)
        assert proxy.faults[:2] == [slow, sliced]
        proxy.heal("down")             # the slicing and the two-way bandwidth go
        assert proxy.faults == [slow]
    assert not sliced.active
    proxy.heal()
    assert proxy.faults == [] and "removed" in repr(slow)
    for bad in (lambda: proxy.latency(-1), lambda: proxy.bandwidth(0),
                lambda: proxy.slice(0), lambda: proxy.blackhole("sideways"),  # type: ignore[arg-type]
                lambda: proxy.reset_after(-1), lambda: proxy.close_after(match=b"")):
        with pytest.raises(ValueError):
            bad()


def test_unreachable_upstream_resets_the_client() -> None:
    with FaultProxy(("127.0.0.1", free_port())) as proxy:
        try:
            sock = dial(proxy)
        except ConnectionResetError:
            pass  # the reset came first: connect() with a timeout polls, then reads SO_ERROR
        else:
            with sock:
                assert read_until_end(sock)[1] in ("reset", "eof")
        wait_for(lambda: proxy.stats["refused"] == 1, 5, "the refusal to be counted")


def test_the_documented_examples_run(nats_server: NatsServer) -> None:
    """docs/testing.md's FaultProxy blocks, as written."""
    names: dict[str, object] = {"natsync": natsync, "pytest": pytest, "threading": threading}
    exec(python_block_with("testing.md", "with proxy.blackhole(\"down\"):"), names)
    exec(python_block_with("testing.md", "def test_survives_a_half_open_link"), names)
    test = names["test_survives_a_half_open_link"]
    assert callable(test)
    test(nats_server)
