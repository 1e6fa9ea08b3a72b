"""WebSocket transport: the RFC 6455 codec on bytes, the socket wrapper over socket pairs, the
upgrade against scripted HTTP servers, and ws:// / wss:// against real nats-server processes."""

from __future__ import annotations

import base64
import socket
import ssl
import struct
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest
import trustme

import natsync
import natsync.websocket as ws
from natsync.errors import (
    AuthorizationError,
    Error,
    ProtocolError,
    SecureConnFailedError,
    WebSocketError,
)
from natsync.errors import TimeoutError as NatsTimeoutError
from natsync.servers import parse_url
from natsync.testing import NatsServer, free_port

from .conftest import natsync_threads, wait_for

KEY = b"\x37\xfa\x21\x3d"


def naive_mask(key: bytes, data: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def server_frame(opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0) -> bytes:
    """An unmasked frame as a server sends it, built by hand (bad ones too)."""
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    if n < 126:
        head = bytes((b0, n))
    elif n < 0x10000:
        head = struct.pack("!BBH", b0, 126, n)
    else:
        head = struct.pack("!BBQ", b0, 127, n)
    return head + payload


def data_of(events: list[tuple[int, bytes]]) -> bytes:
    return b"".join(p for op, p in events if op == ws.OP_BINARY)


def read_exact(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise EOFError(f"EOF after {len(out)} of {n} bytes")
        out += chunk
    return out


def read_client_frame(sock: socket.socket) -> tuple[bool, int, bytes]:
    """Read one client frame (which must be masked); return (fin, opcode, unmasked payload)."""
    b0, b1 = read_exact(sock, 2)
    assert b1 & 0x80, "client frames are masked"
    assert not b0 & 0x70, "no reserved bits"
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", read_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exact(sock, 8))[0]
    key = read_exact(sock, 4)
    return bool(b0 & 0x80), b0 & 0x0F, ws.mask(key, read_exact(sock, n))


# --------------------------------------------------------------------------- masking


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 125, 126, 1000, 16383, 16384, 16385, 100_003])
def test_mask_matches_bytewise_xor_and_is_its_own_inverse(n: int) -> None:
    data = bytes((i * 7 + 3) % 256 for i in range(n))
    masked = ws.mask(KEY, data)
    assert masked == naive_mask(KEY, data)
    assert ws.mask(KEY, masked) == data
    assert ws.mask(KEY, memoryview(bytearray(data))) == masked


def test_mask_key_must_have_four_bytes() -> None:
    with pytest.raises(ValueError):
        ws.mask(b"abc", b"data")
    with pytest.raises(ValueError):
        ws.encode_frame(ws.OP_BINARY, b"data", key=b"abcde")


# --------------------------------------------------------------------------- encoder


@pytest.mark.parametrize("n, header_len, marker", [
    (0, 2, 0), (125, 2, 125), (126, 4, 126), (65535, 4, 126), (65536, 10, 127),
    (1_000_000, 10, 127),
])
def test_encode_lengths_7_16_64_bit(n: int, header_len: int, marker: int) -> None:
    payload = bytes(i % 251 for i in range(n))
    frame = bytes(ws.encode_frame(ws.OP_BINARY, payload, key=KEY))
    assert frame[0] == 0x82  # FIN + binary
    assert frame[1] == 0x80 | marker  # masked
    if marker == 126:
        assert struct.unpack("!H", frame[2:4])[0] == n
    elif marker == 127:
        assert struct.unpack("!Q", frame[2:10])[0] == n
    assert frame[header_len:header_len + 4] == KEY
    assert len(frame) == header_len + 4 + n
    assert ws.mask(KEY, frame[header_len + 4:]) == payload


def test_encode_uses_a_fresh_random_key_per_frame() -> None:
    keys = {bytes(ws.encode_frame(ws.OP_BINARY, b"x" * 10)[2:6]) for _ in range(20)}
    assert len(keys) > 15


def test_encode_control_frames_and_their_limits() -> None:
    frame = bytes(ws.encode_frame(ws.OP_PING, b"hi", key=KEY))
    assert frame[:2] == b"\x89\x82" and ws.mask(KEY, frame[6:]) == b"hi"
    frame = bytes(ws.encode_frame(ws.OP_CLOSE, ws.close_payload(1000, "bye"), key=KEY))
    assert frame[0] == 0x88 and ws.mask(KEY, frame[6:]) == b"\x03\xe8bye"
    with pytest.raises(ValueError):
        ws.encode_frame(ws.OP_PING, b"x" * 126)
    with pytest.raises(ValueError):
        ws.encode_frame(ws.OP_PONG, b"", fin=False)
    assert bytes(ws.encode_frame(ws.OP_BINARY, b"ab", fin=False, masked=False)) == b"\x02\x02ab"


def test_close_payload_and_parse_close() -> None:
    assert ws.close_payload(None) == b""
    assert ws.parse_close(b"") == (ws.CLOSE_NO_STATUS, "")
    assert ws.parse_close(ws.close_payload(1001, "going")) == (1001, "going")
    assert ws.parse_close(ws.close_payload(4000, "é" * 100)) == (4000, "é" * 61)  # cut to fit
    assert len(ws.close_payload(1000, "x" * 500)) == 125
    for code in (999, 1004, 1005, 1006, 1016, 2999, 5000):
        with pytest.raises(ws.FrameError) as info:
            ws.parse_close(struct.pack("!H", code))
        assert info.value.code == ws.CLOSE_PROTOCOL_ERROR
    with pytest.raises(ws.FrameError):
        ws.parse_close(b"\x03")
    with pytest.raises(ws.FrameError) as info:
        ws.parse_close(b"\x03\xe8\xff\xfe")
    assert info.value.code == ws.CLOSE_INVALID_PAYLOAD


def test_accept_key_rfc_example() -> None:
    assert ws.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


# --------------------------------------------------------------------------- decoder


@pytest.mark.parametrize("n", [0, 5, 125, 126, 65535, 65536, 300_000])
def test_decode_lengths_whole_and_byte_by_byte(n: int) -> None:
    payload = bytes(i % 253 for i in range(n))
    stream = server_frame(ws.OP_BINARY, payload) + server_frame(ws.OP_BINARY, b"tail")
    assert data_of(ws.FrameDecoder().feed(stream)) == payload + b"tail"
    if n <= 65536:
        dec = ws.FrameDecoder()
        got = [ev for i in range(len(stream)) for ev in dec.feed(stream[i:i + 1])]
        assert data_of(got) == payload + b"tail"


def test_decode_streams_a_big_frame_before_it_is_complete() -> None:
    payload = b"z" * 100_000
    frame = server_frame(ws.OP_BINARY, payload)
    dec = ws.FrameDecoder()
    first = dec.feed(frame[:50_000])
    assert data_of(first) == payload[:50_000 - 10]  # all but the 10-byte header, at once
    assert data_of(dec.feed(frame[50_000:])) == payload[50_000 - 10:]


def test_decode_text_frames_are_data_too() -> None:
    assert ws.FrameDecoder().feed(server_frame(ws.OP_TEXT, b"PING\r\n")) == [
        (ws.OP_BINARY, b"PING\r\n")]


def test_fragmented_message_with_interleaved_control_frames() -> None:
    stream = (server_frame(ws.OP_BINARY, b"MSG a 1 5\r", fin=False)
              + server_frame(ws.OP_PING, b"p1")
              + server_frame(ws.OP_CONTINUATION, b"\nhel", fin=False)
              + server_frame(ws.OP_PONG, b"")
              + server_frame(ws.OP_CONTINUATION, b"", fin=False)
              + server_frame(ws.OP_CONTINUATION, b"lo\r\n", fin=True)
              + server_frame(ws.OP_BINARY, b"PING\r\n"))
    for step in (len(stream), 1, 3, 7):
        dec = ws.FrameDecoder()
        events = [ev for i in range(0, len(stream), step) for ev in dec.feed(stream[i:i + step])]
        assert data_of(events) == b"MSG a 1 5\r\nhello\r\nPING\r\n"
        controls = [ev for ev in events if ev[0] != ws.OP_BINARY]
        assert controls == [(ws.OP_PING, b"p1"), (ws.OP_PONG, b"")]
        # the ping comes out between the first fragment and the second
        ping_at = events.index((ws.OP_PING, b"p1"))
        assert data_of(events[:ping_at]) == b"MSG a 1 5\r"


def test_close_frame_ends_decoding() -> None:
    dec = ws.FrameDecoder()
    stream = (server_frame(ws.OP_BINARY, b"last")
              + server_frame(ws.OP_CLOSE, ws.close_payload(1001, "bye"))
              + server_frame(ws.OP_BINARY, b"ignored"))
    assert dec.feed(stream) == [(ws.OP_BINARY, b"last"),
                                (ws.OP_CLOSE, ws.close_payload(1001, "bye"))]
    assert dec.closed
    assert dec.feed(server_frame(ws.OP_BINARY, b"more")) == []


@pytest.mark.parametrize("stream, words", [
    (server_frame(ws.OP_CONTINUATION, b"x"), "without a message"),
    (server_frame(ws.OP_BINARY, b"x", fin=False) + server_frame(ws.OP_BINARY, b"y"),
     "before the previous"),
    (server_frame(ws.OP_BINARY, b"x", rsv=0x40), "reserved bits"),  # compressed, not negotiated
    (server_frame(ws.OP_BINARY, b"x", rsv=0x10), "reserved bits"),
    (bytes(ws.encode_frame(ws.OP_BINARY, b"x", key=KEY)), "masked"),
    (server_frame(ws.OP_PING, b"x" * 126), "at most 125"),
    (server_frame(ws.OP_PING, b"x", fin=False), "fragmented control"),
    (b"\x83\x00", "unknown data opcode"),
    (b"\x8b\x00", "unknown control opcode"),
    (b"\x82\x7f" + struct.pack("!Q", 1 << 63), "most significant bit"),
    (server_frame(ws.OP_CLOSE, b"\x03"), "1-byte"),
])
def test_decoder_protocol_errors(stream: bytes, words: str) -> None:
    with pytest.raises(ws.FrameError) as info:
        ws.FrameDecoder().feed(stream)
    assert words in str(info.value)
    assert isinstance(info.value, WebSocketError) and isinstance(info.value, ProtocolError)
    assert info.value.code == ws.CLOSE_PROTOCOL_ERROR


# --------------------------------------------------------------------------- WebSocket object


@pytest.fixture
def pair() -> Iterator[tuple[ws.WebSocket, socket.socket]]:
    """A WebSocket on one end of a socket pair; the test plays the server on the other."""
    a, b = socket.socketpair()
    a.settimeout(5)
    b.settimeout(5)
    sock = ws.WebSocket(a)
    yield sock, b
    a.close()
    b.close()


def test_recv_returns_payload_and_answers_pings(pair: tuple[ws.WebSocket, socket.socket]) -> None:
    sock, peer = pair
    peer.sendall(server_frame(ws.OP_PING, b"are you there"))
    peer.sendall(server_frame(ws.OP_BINARY, b"INFO {}\r\n"))
    assert sock.recv(65536) == b"INFO {}\r\n"
    assert read_client_frame(peer) == (True, ws.OP_PONG, b"are you there")


def test_recv_waits_through_control_frames(pair: tuple[ws.WebSocket, socket.socket]) -> None:
    sock, peer = pair
    peer.sendall(server_frame(ws.OP_PING) + server_frame(ws.OP_PONG, b"x"))

    def later() -> None:
        time.sleep(0.2)
        peer.sendall(server_frame(ws.OP_BINARY, b"PONG\r\n"))

    t = threading.Thread(target=later)
    t.start()
    assert sock.recv(1024) == b"PONG\r\n"  # never b"" just because only control frames came
    t.join(5)
    assert read_client_frame(peer) == (True, ws.OP_PONG, b"")


def test_recv_respects_bufsize(pair: tuple[ws.WebSocket, socket.socket]) -> None:
    sock, peer = pair
    peer.sendall(server_frame(ws.OP_BINARY, b"0123456789") + server_frame(ws.OP_BINARY, b"ab"))
    got = b""
    for _ in range(10):
        if len(got) == 12:
            break
        chunk = sock.recv(5)
        assert 0 < len(chunk) <= 5
        got += chunk
    assert got == b"0123456789ab"


def test_server_close_is_answered_and_ends_the_stream(
        pair: tuple[ws.WebSocket, socket.socket]) -> None:
    sock, peer = pair
    peer.sendall(server_frame(ws.OP_BINARY, b"-ERR 'bye'\r\n")
                 + server_frame(ws.OP_CLOSE, ws.close_payload(1001, "Server Shutdown")))
    assert sock.recv(1024) == b"-ERR 'bye'\r\n"
    assert sock.recv(1024) == b""
    assert sock.recv(1024) == b""
    assert (sock.close_code, sock.close_reason) == (1001, "Server Shutdown")
    assert read_client_frame(peer) == (True, ws.OP_CLOSE, struct.pack("!H", 1001))
    with pytest.raises(OSError):
        sock.send(b"PUB a 0\r\n\r\n")  # nothing after the close frame


def test_server_close_without_status_is_answered_empty(
        pair: tuple[ws.WebSocket, socket.socket]) -> None:
    sock, peer = pair
    peer.sendall(server_frame(ws.OP_CLOSE))
    assert sock.recv(1024) == b""
    assert sock.close_code == ws.CLOSE_NO_STATUS
    assert read_client_frame(peer) == (True, ws.OP_CLOSE, b"")


def test_shutdown_sends_close_frame_once(pair: tuple[ws.WebSocket, socket.socket]) -> None:
    sock, peer = pair
    sock.shutdown(socket.SHUT_RDWR)
    assert read_client_frame(peer) == (True, ws.OP_CLOSE, struct.pack("!H", 1000))
    assert peer.recv(100) == b""  # then the socket is shut: no second close frame
    assert sock.recv(100) == b""
    with pytest.raises(OSError):
        sock.send(b"PING\r\n")
    sock.close()


def test_close_sends_close_frame(pair: tuple[ws.WebSocket, socket.socket]) -> None:
    sock, peer = pair
    sock.close()
    assert read_client_frame(peer) == (True, ws.OP_CLOSE, struct.pack("!H", 1000))
    assert peer.recv(100) == b""


def test_protocol_error_closes_with_1002_and_raises(
        pair: tuple[ws.WebSocket, socket.socket]) -> None:
    sock, peer = pair
    peer.sendall(server_frame(ws.OP_BINARY, b"deflated?", rsv=0x40))
    with pytest.raises(WebSocketError, match="reserved bits"):
        sock.recv(1024)
    fin, op, payload = read_client_frame(peer)
    assert op == ws.OP_CLOSE and ws.parse_close(payload)[0] == ws.CLOSE_PROTOCOL_ERROR
    assert sock.recv(1024) == b""


def test_send_frames_and_partial_counts(pair: tuple[ws.WebSocket, socket.socket]) -> None:
    sock, peer = pair
    assert sock.send(b"") == 0
    assert sock.send(memoryview(b"PING\r\n")) == 6
    assert read_client_frame(peer) == (True, ws.OP_BINARY, b"PING\r\n")
    big = bytes(i % 249 for i in range(ws.MAX_FRAME + 1000))
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.extend(
        read_client_frame(peer)[2] for _ in range(2)))
    reader.start()
    assert sock.send(big) == ws.MAX_FRAME  # one frame at most, like a socket's partial send
    assert sock.send(memoryview(big)[ws.MAX_FRAME:]) == 1000
    reader.join(10)
    assert b"".join(received) == big


def test_concurrent_sends_and_pongs_never_interleave(
        pair: tuple[ws.WebSocket, socket.socket]) -> None:
    sock, peer = pair
    payloads = [bytes([65 + t]) * (1000 + 50_000 * t) for t in range(3)]
    per_thread = 20
    frames: list[tuple[bool, int, bytes]] = []

    def drain() -> None:
        for _ in range(per_thread * len(payloads) + per_thread):
            frames.append(read_client_frame(peer))

    reader = threading.Thread(target=drain)
    reader.start()
    writers = [threading.Thread(target=lambda p=p: [sock.sendall(p) for _ in range(per_thread)])
               for p in payloads]
    for w in writers:
        w.start()
    for _ in range(per_thread):  # pings answered on this thread while the others send
        peer.sendall(server_frame(ws.OP_PING, b"p"))
    peer.sendall(server_frame(ws.OP_BINARY, b"done"))
    assert sock.recv(100) == b"done"
    for w in writers:
        w.join(10)
    reader.join(10)
    assert sorted(f[2] for f in frames if f[1] == ws.OP_BINARY) == sorted(payloads * per_thread)
    assert [f[2] for f in frames if f[1] == ws.OP_PONG] == [b"p"] * per_thread


# --------------------------------------------------------------------------- upgrade (scripted)


@dataclass
class Scripted:
    port: int
    requests: list[bytes]


@contextmanager
def http_server(respond: Callable[[bytes], Optional[bytes]], linger: float = 0.0
                ) -> Iterator[Scripted]:
    """Accept one connection, read the request head, send respond(head) (None: say nothing)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    requests: list[bytes] = []

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            requests.append(head)
            answer = respond(head)
            if answer is not None:
                conn.sendall(answer)
            time.sleep(linger)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield Scripted(listener.getsockname()[1], requests)
    finally:
        listener.close()
        t.join(10)


def key_of(head: bytes) -> str:
    for line in head.decode().split("\r\n"):
        if line.lower().startswith("sec-websocket-key:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("no key")


def switching(head: bytes, extra: str = "", accept: Optional[str] = None) -> bytes:
    accept = accept if accept is not None else ws.accept_key(key_of(head))
    return (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{extra}\r\n").encode()


def upgrade_to(port: int, path: str = "", timeout: float = 3.0) -> ws.WebSocket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ws.upgrade(sock, parse_url(f"ws://127.0.0.1:{port}{path}"),
                          time.monotonic() + timeout)
    except BaseException:
        sock.close()
        raise


def test_upgrade_request_and_frames_in_the_same_packet() -> None:
    with http_server(lambda h: switching(h) + server_frame(ws.OP_BINARY, b"INFO {}\r\n"),
                     linger=0.2) as srv:
        sock = upgrade_to(srv.port, "/nats/ws")
        try:
            assert sock.recv(1024) == b"INFO {}\r\n"
        finally:
            sock.close()
    lines = srv.requests[0].decode().split("\r\n")
    assert lines[0] == "GET /nats/ws HTTP/1.1"
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    assert headers["host"] == f"127.0.0.1:{srv.port}"
    assert headers["upgrade"] == "websocket" and headers["connection"] == "Upgrade"
    assert headers["sec-websocket-version"] == "13"
    assert len(base64.b64decode(headers["sec-websocket-key"])) == 16
    assert "sec-websocket-extensions" not in headers  # no compression offered
    assert "sec-websocket-protocol" not in headers


def test_upgrade_default_path_is_slash() -> None:
    with http_server(switching) as srv:
        upgrade_to(srv.port).close()
    assert srv.requests[0].startswith(b"GET / HTTP/1.1\r\n")


@pytest.mark.parametrize("answer, words", [
    (lambda h: b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nForbidden\n",
     "'HTTP/1.1 403 Forbidden': Forbidden"),
    (lambda h: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "'HTTP/1.1 200 OK'"),
    (lambda h: switching(h, accept="d3Jvbmc="), "Sec-WebSocket-Accept"),
    (lambda h: switching(h, extra="Sec-WebSocket-Extensions: permessage-deflate\r\n"),
     "extensions the client did not offer"),
    (lambda h: switching(h, extra="Sec-WebSocket-Protocol: mqtt\r\n"), "subprotocol"),
    (lambda h: switching(h).replace(b"Upgrade: websocket\r\n", b""), "Upgrade: websocket"),
    (lambda h: b"SSH-2.0-OpenSSH_9.0\r\n", "did not answer the websocket upgrade with HTTP"),
    (lambda h: b"", "closed the connection during the websocket upgrade"),
    (lambda h: b"HTTP/1.1 101 Switching", "closed the connection during the websocket upgrade"),
])
def test_upgrade_failures_are_clear(answer: Callable[[bytes], bytes], words: str) -> None:
    with http_server(answer) as srv:
        with pytest.raises(WebSocketError) as info:
            upgrade_to(srv.port)
    assert words in str(info.value)


def test_upgrade_without_answer_times_out() -> None:
    with http_server(lambda h: None, linger=1.0) as srv:
        start = time.monotonic()
        with pytest.raises(NatsTimeoutError, match="websocket upgrade"):
            upgrade_to(srv.port, timeout=0.3)
        assert time.monotonic() - start < 1.0


def test_connect_reports_refused_upgrade() -> None:
    with http_server(lambda h: b"HTTP/1.1 404 Not Found\r\n\r\nno websocket here") as srv:
        with pytest.raises(Error) as info:
            natsync.connect(f"ws://127.0.0.1:{srv.port}", connect_timeout=2,
                            allow_reconnect=False)
    assert type(info.value) is WebSocketError
    assert "404 Not Found" in str(info.value) and "no websocket here" in str(info.value)
    assert not natsync_threads()


def test_client_reports_a_frame_error_and_closes_with_1002() -> None:
    """A scripted NATS-over-websocket server sends a compressed frame after the handshake."""
    seen: list[tuple[bool, int, bytes]] = []

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            head = b""
            for _ in range(100):
                if b"\r\n\r\n" in head:
                    break
                head += conn.recv(4096)
            conn.sendall(switching(head)
                         + server_frame(ws.OP_BINARY, b'INFO {"max_payload":1024}\r\n'))
            data = b""
            for _ in range(100):
                if b"PING\r\n" in data:
                    break
                data += read_client_frame(conn)[2]
            conn.sendall(server_frame(ws.OP_BINARY, b"PONG\r\n"))
            time.sleep(0.1)
            conn.sendall(server_frame(ws.OP_BINARY, b"\x00deflated", rsv=0x40))
            for _ in range(10):
                frame = read_client_frame(conn)
                seen.append(frame)
                if frame[1] == ws.OP_CLOSE:
                    break

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    errors: list[Exception] = []
    closed = threading.Event()
    nc = natsync.connect(f"ws://127.0.0.1:{listener.getsockname()[1]}", allow_reconnect=False,
                         error_cb=errors.append, closed_cb=closed.set)
    try:
        assert closed.wait(5)
        t.join(5)
    finally:
        nc.close()
        listener.close()
    assert errors and isinstance(errors[0], WebSocketError)
    assert "reserved bits" in str(errors[0])
    assert seen[-1][1] == ws.OP_CLOSE
    assert ws.parse_close(seen[-1][2])[0] == ws.CLOSE_PROTOCOL_ERROR


# --------------------------------------------------------------------------- real servers

FAST = {"reconnect_time_wait": 0.05, "reconnect_jitter": 0.0, "max_reconnect_attempts": -1}


@dataclass
class WSServer:
    nats: NatsServer
    ws_port: int

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"


@pytest.fixture(scope="module")
def ws_server() -> Iterator[WSServer]:
    port = free_port()
    with NatsServer(config={"websocket": {"port": port, "no_tls": True}},
                    jetstream=True) as srv:
        yield WSServer(srv, port)


@pytest.fixture
def wnc(ws_server: WSServer) -> Iterator[natsync.Client]:
    nc = natsync.connect(ws_server.url)
    yield nc
    nc.close()


def test_connect_pub_sub(ws_server: WSServer, wnc: natsync.Client) -> None:
    assert wnc.is_connected and wnc.connected_url == ws_server.url
    assert isinstance(wnc._life.session.sock, ws.WebSocket)  # really the websocket transport
    sub = wnc.subscribe("ws.hello")
    wnc.publish("ws.hello", b"over websocket")
    assert sub.next_msg(timeout=2).data == b"over websocket"


def test_plain_and_ws_clients_talk(ws_server: WSServer, wnc: natsync.Client) -> None:
    with natsync.connect(ws_server.nats.url) as plain:
        sub = plain.subscribe("ws.mixed")
        plain.flush()
        wnc.publish("ws.mixed", b"from ws")
        assert sub.next_msg(timeout=2).data == b"from ws"
        wsub = wnc.subscribe("ws.back")
        wnc.flush()
        plain.publish("ws.back", b"from tcp")
        assert wsub.next_msg(timeout=2).data == b"from tcp"


def test_request_reply_and_headers(wnc: natsync.Client, ws_server: WSServer) -> None:
    with natsync.connect(ws_server.url) as responder:
        def answer(msg: natsync.Msg) -> None:
            msg.respond(msg.data.upper(), headers={"Seen": msg.headers["X-Id"]})

        responder.subscribe("ws.svc", cb=answer)
        responder.flush()
        reply = wnc.request("ws.svc", b"shout", timeout=2, headers={"X-Id": "42"})
        assert reply.data == b"SHOUT" and reply.headers["Seen"] == "42"


@pytest.mark.parametrize("browser", [False, True])
def test_large_payloads(wnc: natsync.Client, ws_server: WSServer, browser: bool,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    """1 MB both ways; for a "Mozilla/" user agent nats-server cuts its frames to 4 KiB."""
    if browser:
        monkeypatch.setattr(ws, "USER_AGENT", "Mozilla/5.0 (natsync test)")
    frame_sizes: list[int] = []
    decode = ws.FrameDecoder._frame

    def spy(self: ws.FrameDecoder, buf: bytearray, events: list[tuple[int, bytes]]) -> bool:
        done = decode(self, buf, events)
        if done and self._remaining:
            frame_sizes.append(self._remaining)
        return done

    monkeypatch.setattr(ws.FrameDecoder, "_frame", spy)
    with natsync.connect(ws_server.url) as nc:
        sub = nc.subscribe("ws.big")
        nc.flush()
        exact = bytes(range(256)) * 4096  # exactly max_payload (1 MiB)
        wnc.publish("ws.big", exact)
        blobs = [b"\x00" * (1024 * 1024 - 200), b"x" * 70_000, b"y" * 65536]
        for blob in blobs:
            wnc.publish("ws.big", blob, headers={"Len": str(len(blob))})
        assert sub.next_msg(timeout=5).data == exact
        for blob in blobs:
            msg = sub.next_msg(timeout=5)
            assert msg.data == blob and msg.headers["Len"] == str(len(blob))
        nc.publish("ws.big", exact)  # and from the (maybe "browser") client to the other
        assert sub.next_msg(timeout=5).data == exact
    if browser:  # NATS messages were cut across many 4 KiB frames, at arbitrary points
        assert max(frame_sizes) == 4096 and len(frame_sizes) > 500
    else:
        assert max(frame_sizes) > 1024 * 1024


def test_many_messages_arrive_in_order(wnc: natsync.Client) -> None:
    sub = wnc.subscribe("ws.seq")
    n = 20_000
    for i in range(n):
        wnc.publish("ws.seq", str(i).encode())
    wnc.flush(timeout=10)
    got = [int(sub.next_msg(timeout=5).data) for _ in range(n)]
    assert got == list(range(n))


def test_jetstream_publish_and_pull_fetch(wnc: natsync.Client) -> None:
    js = wnc.jetstream()
    js.add_stream(name="WSSTREAM", subjects=["wsjs.>"])
    try:
        for i in range(10):
            ack = js.publish("wsjs.orders", f"order {i}".encode())
            assert ack.seq == i + 1
        psub = js.pull_subscribe("wsjs.>", durable="wsdur")
        got: list[bytes] = []
        for _ in range(5):
            if len(got) == 10:
                break
            for m in psub.fetch(batch=10, timeout=2):
                m.ack()
                got.append(m.data)
        assert got == [f"order {i}".encode() for i in range(10)]
    finally:
        js.delete_stream("WSSTREAM")


def read_until(sock: ws.WebSocket, marker: bytes) -> bytes:
    """Read from a raw WebSocket until `marker` (or EOF); bounded."""
    stream = b""
    for _ in range(100):
        if marker and marker in stream:
            break
        chunk = sock.recv(65536)
        if not chunk:
            break
        stream += chunk
    return stream


def test_raw_upgrade_and_server_initiated_close(ws_server: WSServer) -> None:
    """NATS protocol straight over natsync.websocket; the server closes with status 1009."""
    sock = upgrade_to(ws_server.ws_port)
    try:
        assert read_until(sock, b"\r\n").startswith(b"INFO {")
        sock.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
        assert read_until(sock, b"PONG\r\n") == b"PONG\r\n"
        sock.sendall(b"PUB too.big 2000000\r\n")
        assert read_until(sock, b"") == b"-ERR 'Maximum Payload Violation'\r\n"
        assert sock.close_code == ws.CLOSE_TOO_BIG  # from the server's close frame
        assert "Payload" in sock.close_reason
        assert sock.recv(100) == b""
    finally:
        sock.close()


def test_client_close_handshake_with_server(ws_server: WSServer) -> None:
    """The client's close frame makes nats-server answer with its own and hang up."""
    sock = upgrade_to(ws_server.ws_port)
    try:
        assert sock.recv(65536).startswith(b"INFO {")
        sock._send_close(ws.CLOSE_NORMAL, "done", wait=True)
        assert read_until(sock, b"") == b""
        assert sock.close_code == ws.CLOSE_NORMAL
    finally:
        sock.close()


def test_reconnect_after_server_restart() -> None:
    port = free_port()
    with NatsServer(config={"websocket": {"port": port, "no_tls": True}}) as srv:
        back = threading.Event()
        with natsync.connect(f"ws://127.0.0.1:{port}", reconnected_cb=back.set,
                             **FAST) as nc:
            sub = nc.subscribe("ws.restart")
            nc.flush()
            srv.restart()
            assert back.wait(10), "no reconnect over websocket"
            assert isinstance(nc._life.session.sock, ws.WebSocket)
            nc.publish("ws.restart", b"again")
            assert sub.next_msg(timeout=3).data == b"again"  # subscription replayed


def test_force_reconnect_over_ws(ws_server: WSServer) -> None:
    """The client's shutdown() wakes its reader blocked in the websocket's recv()."""
    with natsync.connect(ws_server.url, **FAST) as nc:
        sub = nc.subscribe("ws.force")
        nc.flush()
        old = nc._life.session.sock
        nc.force_reconnect()
        wait_for(lambda: nc.is_connected and nc._life.session.sock is not old, 5, "reconnect")
        nc.publish("ws.force", b"still here")
        assert sub.next_msg(timeout=3).data == b"still here"


def test_token_auth_over_ws() -> None:
    port = free_port()
    config = {"authorization": {"token": "s3cret"}, "websocket": {"port": port, "no_tls": True}}
    with NatsServer(config=config):
        with natsync.connect(f"ws://s3cret@127.0.0.1:{port}/some/path") as nc:
            assert nc.server_info.get("auth_required") is True
            nc.flush()
        with pytest.raises(Error) as info:
            natsync.connect(f"ws://wrong@127.0.0.1:{port}", connect_timeout=2,
                            allow_reconnect=False)
        assert type(info.value) is AuthorizationError


def test_ws_url_to_plain_nats_port_fails_fast(ws_server: WSServer) -> None:
    start = time.monotonic()
    with pytest.raises(Error) as info:
        natsync.connect(f"ws://127.0.0.1:{ws_server.nats.port}", connect_timeout=5,
                        allow_reconnect=False)
    assert time.monotonic() - start < 2
    assert type(info.value) is WebSocketError
    assert "NATS client port, not a websocket one" in str(info.value)
    assert not natsync_threads()


# --------------------------------------------------------------------------- wss


@dataclass
class PKI:
    ca: trustme.CA
    cert: str
    key: str

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    d: Path = tmp_path_factory.mktemp("wspki")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    (d / "server.pem").write_bytes(b"".join(p.bytes() for p in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(d / "server-key.pem"))
    return PKI(ca, str(d / "server.pem"), str(d / "server-key.pem"))


@pytest.fixture(scope="module")
def wss_server(pki: PKI) -> Iterator[WSServer]:
    port = free_port()
    config: dict[str, Any] = {"websocket": {"port": port,
                                            "tls": {"cert_file": pki.cert, "key_file": pki.key}}}
    with NatsServer(config=config) as srv:
        yield WSServer(srv, port)


def test_wss_with_trusted_ca(wss_server: WSServer, pki: PKI) -> None:
    url = f"wss://127.0.0.1:{wss_server.ws_port}"
    with natsync.connect(url, tls=pki.context()) as nc:
        assert isinstance(nc._life.session.sock, ws.WebSocket) and isinstance(nc._life.session.sock.sock, ssl.SSLSocket)
        sub = nc.subscribe("wss.x")
        blob = b"secret" * 50_000
        nc.publish("wss.x", blob)
        assert sub.next_msg(timeout=3).data == blob
        assert nc.connected_url == url


def test_wss_with_tls_hostname(wss_server: WSServer, pki: PKI) -> None:
    url = f"wss://127.0.0.1:{wss_server.ws_port}"
    with natsync.connect(url, tls=pki.context(), tls_hostname="localhost") as nc:
        nc.flush()


def test_ws_url_with_tls_option_uses_tls(wss_server: WSServer, pki: PKI) -> None:
    with natsync.connect(f"ws://127.0.0.1:{wss_server.ws_port}", tls=pki.context()) as nc:
        assert isinstance(nc._life.session.sock, ws.WebSocket) and isinstance(nc._life.session.sock.sock, ssl.SSLSocket)
        nc.flush()


def test_wss_with_wrong_ca_fails(wss_server: WSServer) -> None:
    other = ssl.create_default_context()
    trustme.CA().configure_trust(other)
    with pytest.raises(Error) as info:
        natsync.connect(f"wss://127.0.0.1:{wss_server.ws_port}", tls=other, connect_timeout=2,
                        allow_reconnect=False)
    assert type(info.value) is SecureConnFailedError
    assert "certificate verify failed" in str(info.value)
    assert not natsync_threads()


def test_ws_url_to_wss_port_is_refused_clearly(wss_server: WSServer) -> None:
    with pytest.raises(Error) as info:
        natsync.connect(f"ws://127.0.0.1:{wss_server.ws_port}", connect_timeout=2,
                        allow_reconnect=False)
    assert type(info.value) is WebSocketError
    assert "400 Bad Request" in str(info.value) and "use a wss:// URL" in str(info.value)


def test_wss_url_to_plain_ws_port_fails(ws_server: WSServer, pki: PKI) -> None:
    with pytest.raises(Error) as info:
        natsync.connect(f"wss://127.0.0.1:{ws_server.ws_port}", tls=pki.context(),
                        connect_timeout=2, allow_reconnect=False)
    assert type(info.value) is SecureConnFailedError


def test_threads_gone_after_close(ws_server: WSServer) -> None:
    nc = natsync.connect(ws_server.url)
    nc.publish("ws.bye", b"x")
    nc.close()
    wait_for(lambda: not natsync_threads(), 5, "natsync threads to exit")
