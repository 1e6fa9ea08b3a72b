"""A hostile or broken server: the client reports ProtocolError, reconnects, stays bounded."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from typing import Callable, Optional

import pytest

import natsync
from natsync.errors import ProtocolError

from .conftest import natsync_threads, wait_for

Behaviour = Callable[[socket.socket, int], None]

INFO = b'INFO {"server_id":"FAKE","version":"2.15.0","proto":1,"headers":true,"max_payload":1048576}\r\n'


class FakeServer:
    """A plain socket server on 127.0.0.1: INFO, answers CONNECT/PING, then `behaviour`."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            n = self.connections
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn, n), daemon=True).start()

    def _handle(self, conn: socket.socket, n: int) -> None:
        conn.settimeout(5)
        try:
            conn.sendall(INFO)
            buf = b""
            while b"PING\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            conn.sendall(b"PONG\r\n")
            self.behaviour(conn, n)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        self._thread.join(2)


def serve_pongs(conn: socket.socket, seconds: float = 5.0) -> None:
    """Behave: answer every PING with PONG for a while (a well-behaved server)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = conn.recv(65536)
        except socket.timeout:
            continue
        if not data:
            return
        for _ in range(data.count(b"PING\r\n")):
            conn.sendall(b"PONG\r\n")


def hostile_then_good(payload: bytes) -> Behaviour:
    """The first connection gets `payload`, later ones behave."""
    def behave(conn: socket.socket, n: int) -> None:
        if n == 0:
            time.sleep(0.05)
            conn.sendall(payload)
            time.sleep(0.5)
        else:
            serve_pongs(conn)
    return behave


def run_client(server: FakeServer) -> tuple[natsync.Client, list[BaseException]]:
    errors: list[BaseException] = []
    nc = natsync.connect(server.url, reconnect_time_wait=0.05, reconnect_jitter=0.0,
                         max_reconnect_attempts=-1, error_cb=errors.append)
    return nc, errors


@pytest.mark.parametrize("payload", [
    b"THIS IS NOT NATS\r\n",
    b"MSG foo 1 99999999999\r\n",
    b"MSG foo 1 -5\r\n",
    b"MSG foo x 3\r\nabc\r\n",
    b"MSG foo 1 3\r\nabcdef\r\n",
    b"HMSG foo 1 50 10\r\n0123456789\r\n",
    b"HMSG foo 1 12 14\r\nNOTNATS/1.0\r\nhi\r\n",
    b"INFO {not json}\r\n",
    b"INFO [1,2]\r\n",
    b"MSG " + b"x" * 200_000,
    b"\x00\xff" * 1000 + b"\r\n",
], ids=["garbage", "huge-length", "negative-length", "bad-sid", "no-crlf-after-payload",
        "header-longer-than-total", "bad-header-block", "bad-info-json", "info-not-object",
        "endless-line", "binary"])
def test_protocol_error_reconnects_and_keeps_working(payload: bytes) -> None:
    server = FakeServer(hostile_then_good(payload))
    nc, errors = run_client(server)
    try:
        wait_for(lambda: any(isinstance(e, ProtocolError) for e in errors), 5, "ProtocolError")
        wait_for(lambda: nc.is_connected and nc.stats["reconnects"] == 1, 5, "reconnect")
        nc.flush(timeout=2)  # the good connection answers
        assert nc._life._reader_thread.is_alive()
    finally:
        nc.close()
        server.close()
    assert not natsync_threads()


def test_truncated_frame_then_eof_reconnects() -> None:
    def behave(conn: socket.socket, n: int) -> None:
        if n == 0:
            conn.sendall(b"MSG foo 1 100\r\nonly part of it")
        else:
            serve_pongs(conn)

    server = FakeServer(behave)
    nc, _ = run_client(server)
    try:
        wait_for(lambda: nc.stats["reconnects"] == 1 and nc.is_connected, 5, "reconnect")
        nc.flush(timeout=2)
    finally:
        nc.close()
        server.close()


def test_mutated_streams_never_break_the_client() -> None:
    """Valid MSG traffic with random byte flips, insertions and deletions, 40 connections."""
    rng = random.Random(20261122)
    frames = b"".join(b"MSG fuzz.%d 1 %d\r\n%s\r\n" % (i, len(p), p)
                      for i, p in enumerate([b"x" * rng.randrange(0, 300) for _ in range(50)]))
    hdr = b"NATS/1.0\r\nA: b\r\n\r\n"
    frames += b"HMSG fuzz.h 1 %d %d\r\n%sbody\r\n" % (len(hdr), len(hdr) + 4, hdr)
    rounds = 40

    def mutate(data: bytes) -> bytes:
        buf = bytearray(data)
        for _ in range(rng.randrange(1, 6)):
            kind = rng.randrange(3)
            pos = rng.randrange(len(buf))
            if kind == 0:
                buf[pos] = rng.randrange(256)
            elif kind == 1:
                buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
            else:
                del buf[pos:pos + rng.randrange(1, 8)]
        return bytes(buf)

    streams = [mutate(frames) for _ in range(rounds)]

    def behave(conn: socket.socket, n: int) -> None:
        if n < rounds:
            conn.sendall(streams[n])
            time.sleep(0.02)
        else:
            serve_pongs(conn)

    server = FakeServer(behave)
    errors: list[BaseException] = []
    nc = natsync.connect(server.url, reconnect_time_wait=0.01, reconnect_jitter=0.0,
                         max_reconnect_attempts=-1, error_cb=errors.append)
    try:
        sub = nc.subscribe("fuzz.>")
        wait_for(lambda: server.connections > rounds and nc.is_connected, 30, "all rounds")
        nc.flush(timeout=2)
        assert nc._life._reader_thread.is_alive() and nc._writer._thread.is_alive()
        unexpected = [e for e in errors
                      if not isinstance(e, (ProtocolError, natsync.errors.ServerError,
                                            natsync.errors.SlowConsumerError))]
        assert unexpected == []
        assert sub.pending_msgs >= 0  # whatever got through was delivered as messages
    finally:
        nc.close()
        server.close()


def test_parser_memory_is_bounded_by_max_control_line() -> None:
    sent = threading.Event()

    def behave(conn: socket.socket, n: int) -> None:
        if n == 0:
            try:
                for _ in range(200):  # 20 MB of a line that never ends
                    conn.sendall(b"y" * 100_000)
            except OSError:
                pass
            sent.set()
        else:
            serve_pongs(conn)

    server = FakeServer(behave)
    nc, errors = run_client(server)
    try:
        wait_for(lambda: any(isinstance(e, ProtocolError) for e in errors), 10, "ProtocolError")
        wait_for(lambda: nc.stats["reconnects"] >= 1, 5)
        conn = nc._life.session
        assert conn is not None and conn.parser.buffered <= nc.options.max_control_line
    finally:
        nc.close()
        server.close()


def test_server_err_ends_connection_and_reconnects() -> None:
    def behave(conn: socket.socket, n: int) -> None:
        if n == 0:
            conn.sendall(b"-ERR 'Unknown Protocol Operation'\r\n")
            time.sleep(0.3)
        else:
            serve_pongs(conn)

    server = FakeServer(behave)
    nc, errors = run_client(server)
    try:
        wait_for(lambda: nc.stats["reconnects"] == 1 and nc.is_connected, 5)
        assert any(isinstance(e, natsync.errors.ServerError) for e in errors)
        assert nc.stats["errors_received"] == 1
    finally:
        nc.close()
        server.close()


def test_info_with_connect_urls_from_fake_server_is_learnt() -> None:
    info = json.loads(INFO[5:])
    info["connect_urls"] = ["127.0.0.1:1", "127.0.0.1:2"]
    update = b"INFO " + json.dumps(info).encode() + b"\r\n"
    seen: list[Optional[object]] = []

    def behave(conn: socket.socket, n: int) -> None:
        conn.sendall(update)
        serve_pongs(conn, 2)

    server = FakeServer(behave)
    nc = natsync.connect(server.url, discovered_server_cb=lambda: seen.append(1))
    try:
        wait_for(lambda: len(nc.discovered_servers) == 2, 5)
        wait_for(lambda: seen == [1], 2)
    finally:
        nc.close()
        server.close()
