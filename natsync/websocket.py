"""WebSocket transport (RFC 6455) for ws:// and wss:// servers, on the standard library only.

`upgrade()` turns a connected TCP (or TLS) socket into a `WebSocket`: an object with the
socket methods the client uses (`recv`, `send`, `sendall`, `settimeout`, `shutdown`,
`close`) that carries NATS protocol bytes as the payload of binary frames. The client's
threads, parser, reconnect logic and everything above them do not know the difference.

What it does: the HTTP/1.1 upgrade with Sec-WebSocket-Key/Accept verification; one masked
binary frame per `send()` (at most `MAX_FRAME` payload bytes, like a socket's partial
send); server frames of any size, split or fragmented anywhere (their payloads form one
byte stream, which the NATS parser accepts in any chunking); pings answered with pongs;
the close handshake in both directions. No extension is offered (no permessage-deflate),
so a frame with a reserved bit set is a protocol error.
"""

from __future__ import annotations

import base64
import hashlib
import os
import select
import socket
import struct
import threading
import time
from typing import Mapping, Optional, Union
from urllib.parse import quote

from .errors import TimeoutError, WebSocketError
from .httphead import MAX_HEAD, Outcome, parse_head, read_head, status_of
from .servers import Server
from .version import __version__

BytesLike = Union[bytes, bytearray, memoryview]

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_NO_STATUS = 1005  # never sent: stands for "the close frame had no status code"
CLOSE_INVALID_PAYLOAD = 1007
CLOSE_TOO_BIG = 1009

MAX_CONTROL_PAYLOAD = 125
MAX_FRAME = 1 << 20  # payload bytes of one client frame; send() of more returns a partial count
USER_AGENT = f"natsync/{__version__}"  # nats-server splits frames to 4 KiB for "Mozilla/..."

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_RAW_RECV = 64 * 1024
_MASK_CHUNK = 8 * 1024  # bytes masked per big-integer XOR (a multiple of 4)


class FrameError(WebSocketError):
    """The server broke RFC 6455 framing; `code` is the close status the client answers with."""

    def __init__(self, message: str, code: int = CLOSE_PROTOCOL_ERROR) -> None:
        self.code = code
        super().__init__(f"nats: websocket protocol error: {message}")


# --------------------------------------------------------------------------- frame codec


def _mask_into(out: bytearray, offset: int, key: bytes, data: BytesLike) -> None:
    """Write `data` XOR the repeated 4-byte `key` into `out` from `offset` on."""
    # XOR of two big integers is one C loop, but converting a long buffer to and from an
    # int is slow once it leaves the CPU cache: long payloads go in 8 KiB slices against
    # one precomputed mask integer (about 600 MB/s; a byte-by-byte Python loop does ~15).
    n = len(data)
    if not n:
        return
    view = memoryview(data)
    chunk = min(n, _MASK_CHUNK)
    keys = int.from_bytes(key * ((chunk >> 2) + 1), "little") & ((1 << (8 * chunk)) - 1)
    from_bytes = int.from_bytes
    end = n - n % chunk
    for i in range(0, end, chunk):
        out[offset + i:offset + i + chunk] = (
            from_bytes(view[i:i + chunk], "little") ^ keys).to_bytes(chunk, "little")
    tail = n - end
    if tail:  # shorter than a chunk; a multiple of 4 bytes from the start, so key-aligned
        part = from_bytes(view[end:], "little") ^ (keys & ((1 << (8 * tail)) - 1))
        out[offset + end:offset + n] = part.to_bytes(tail, "little")


def mask(key: bytes, data: BytesLike) -> bytes:
    """`data` XOR the repeated 4-byte `key` (masking and unmasking are the same operation)."""
    if len(key) != 4:
        raise ValueError("a websocket masking key has 4 bytes")
    out = bytearray(len(data))
    _mask_into(out, 0, key, data)
    return bytes(out)


def _header(opcode: int, length: int, fin: bool, masked: bool) -> bytes:
    """The frame header up to (not including) the masking key."""
    b0 = (0x80 if fin else 0) | opcode
    bit = 0x80 if masked else 0
    if length < 126:
        return bytes((b0, bit | length))
    if length < 0x10000:
        return struct.pack("!BBH", b0, bit | 126, length)
    return struct.pack("!BBQ", b0, bit | 127, length)


def encode_frame(opcode: int, payload: BytesLike = b"", *, fin: bool = True,
                 key: Optional[bytes] = None, masked: bool = True) -> bytearray:
    """One frame; a client frame is masked with `key` (default: 4 fresh random bytes)."""
    n = len(payload)
    if opcode >= OP_CLOSE and (n > MAX_CONTROL_PAYLOAD or not fin):
        raise ValueError("a control frame is final and carries at most 125 bytes")
    header = _header(opcode, n, fin, masked)
    if not masked:
        return bytearray(header) + payload
    if key is None:
        key = os.urandom(4)
    elif len(key) != 4:
        raise ValueError("a websocket masking key has 4 bytes")
    start = len(header) + 4
    out = bytearray(start + n)
    out[:start] = header + key
    _mask_into(out, start, key, payload)
    return out


def close_payload(code: Optional[int] = CLOSE_NORMAL, reason: str = "") -> bytes:
    """The payload of a close frame: a 2-byte status and a UTF-8 reason (cut to fit)."""
    if code is None:
        return b""
    text = reason.encode("utf-8")[:MAX_CONTROL_PAYLOAD - 2].decode("utf-8", "ignore")
    return struct.pack("!H", code) + text.encode("utf-8")


def _valid_close_code(code: int) -> bool:
    """Whether a peer may send `code` in a close frame (RFC 6455 section 7.4)."""
    if 3000 <= code <= 4999:
        return True
    return 1000 <= code <= 1014 and code not in (1004, 1005, 1006)


def parse_close(payload: bytes) -> tuple[int, str]:
    """The status code (CLOSE_NO_STATUS if absent) and reason of a close frame; FrameError if bad."""
    if not payload:
        return CLOSE_NO_STATUS, ""
    if len(payload) == 1:
        raise FrameError("close frame with a 1-byte payload")
    code = struct.unpack("!H", payload[:2])[0]
    if not _valid_close_code(code):
        raise FrameError(f"close frame with invalid status code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError("close frame reason is not UTF-8", CLOSE_INVALID_PAYLOAD) from None
    return code, reason


class FrameDecoder:
    """Decodes server frames, fed in any chunks, into (opcode, payload) events."""

    # Data frames (binary, text and their continuations) come out as (OP_BINARY, bytes) as
    # soon as payload bytes arrive, without waiting for the frame or message to end: the
    # payloads of all data frames form one byte stream. Control frames come out whole as
    # (OP_PING | OP_PONG | OP_CLOSE, payload); after a close frame, input is ignored.

    def __init__(self) -> None:
        self._buf = bytearray()
        self._remaining = 0     # payload bytes still to come in the current data frame
        self._continued = False  # a data message is open: its last frame had FIN clear
        self.closed = False

    def feed(self, data: BytesLike) -> list[tuple[int, bytes]]:
        """Consume `data`; return the events it completes, in order; FrameError on bad frames."""
        events: list[tuple[int, bytes]] = []
        if self.closed:
            return events
        buf = self._buf
        if self._remaining and not buf:
            # Fast path: the middle of a big data frame needs no copy through the buffer.
            n = min(self._remaining, len(data))
            events.append((OP_BINARY, bytes(data[:n]) if n < len(data) else bytes(data)))
            self._remaining -= n
            buf += data[n:]
        else:
            buf += data
        while buf:
            if self._remaining:
                n = min(self._remaining, len(buf))
                events.append((OP_BINARY, bytes(buf[:n])))
                del buf[:n]
                self._remaining -= n
                continue
            if not self._frame(buf, events):
                break
        return events

    def _frame(self, buf: bytearray, events: list[tuple[int, bytes]]) -> bool:
        """Decode one frame header (and a whole control frame); False if more bytes are needed."""
        if len(buf) < 2:
            return False
        b0, b1 = buf[0], buf[1]
        fin = bool(b0 & 0x80)
        opcode = b0 & 0x0F
        if b0 & 0x70:
            raise FrameError("reserved bits set in a frame header (compression or an "
                             "extension that was not negotiated)")
        if b1 & 0x80:
            raise FrameError("the server masked a frame")
        length = b1 & 0x7F
        pos = 2
        if length == 126:
            if len(buf) < 4:
                return False
            length = struct.unpack_from("!H", buf, 2)[0]
            pos = 4
        elif length == 127:
            if len(buf) < 10:
                return False
            length = struct.unpack_from("!Q", buf, 2)[0]
            if length >> 63:
                raise FrameError("frame length has the most significant bit set")
            pos = 10
        if opcode >= OP_CLOSE:
            if opcode not in (OP_CLOSE, OP_PING, OP_PONG):
                raise FrameError(f"unknown control opcode {opcode:#x}")
            if not fin:
                raise FrameError("fragmented control frame")
            if length > MAX_CONTROL_PAYLOAD:
                raise FrameError(f"control frame of {length} bytes (at most 125)")
            if len(buf) < pos + length:
                return False
            payload = bytes(buf[pos:pos + length])
            del buf[:pos + length]
            if opcode == OP_CLOSE:
                parse_close(payload)
                self.closed = True
                buf.clear()
            events.append((opcode, payload))
            return not self.closed
        if opcode in (OP_TEXT, OP_BINARY):
            if self._continued:
                raise FrameError("new data message before the previous one was finished")
        elif opcode == OP_CONTINUATION:
            if not self._continued:
                raise FrameError("continuation frame without a message to continue")
        else:
            raise FrameError(f"unknown data opcode {opcode:#x}")
        self._continued = not fin
        self._remaining = length
        del buf[:pos]
        return True


# --------------------------------------------------------------------------- the socket


def _writable(sock: socket.socket) -> bool:
    """Whether a small write to `sock` would not block right now."""
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLOUT)
            return any(ev & select.POLLOUT for _, ev in poller.poll(0))
        return bool(select.select([], [sock], [], 0)[1])
    except (OSError, ValueError):
        return False


class WebSocket:
    """An upgraded connection with the socket methods natsync's client uses."""

    def __init__(self, sock: socket.socket, buffered: bytes = b"") -> None:
        self.sock = sock
        self.close_code: Optional[int] = None  # the status of the server's close frame
        self.close_reason = ""
        self._decoder = FrameDecoder()
        self._pending = bytearray()  # decoded bytes that did not fit the last recv()
        self._eof = False
        self._close_sent = False
        self._shut = False  # shutdown() was called: nothing more goes out (not even a close)
        self._write_lock = threading.Lock()  # one frame at a time: data, pongs and close
        self._raw = bytes(buffered)  # frames that arrived with the HTTP response

    # --- receiving ------------------------------------------------------------------------

    def recv(self, bufsize: int) -> bytes:
        """Up to `bufsize` bytes of payload; b"" only at EOF or after the close handshake."""
        while not self._pending:
            if self._eof:
                return b""
            raw, self._raw = self._raw, b""
            if not raw:
                raw = self.sock.recv(max(bufsize, _RAW_RECV))
                if not raw:
                    self._eof = True
                    return b""
            chunks = self._receive(raw)
            if len(chunks) == 1 and len(chunks[0]) <= bufsize:
                return chunks[0]
            for chunk in chunks:
                self._pending += chunk
        out = bytes(self._pending[:bufsize])
        del self._pending[:bufsize]
        return out

    def _receive(self, raw: bytes) -> list[bytes]:
        """Decode raw bytes, answer control frames, and return the data payloads."""
        try:
            events = self._decoder.feed(raw)
        except FrameError as exc:
            self._eof = True
            self._send_close(exc.code, str(exc)[:100], wait=False)
            raise
        chunks: list[bytes] = []
        for opcode, payload in events:
            if opcode == OP_BINARY:
                if payload:
                    chunks.append(payload)
            elif opcode == OP_PING:
                self._send_control(OP_PONG, payload)
            elif opcode == OP_CLOSE:
                self.close_code, self.close_reason = parse_close(payload)
                self._eof = True
                echo = None if self.close_code == CLOSE_NO_STATUS else self.close_code
                self._send_close(echo, "", wait=True)
        return chunks

    # --- sending --------------------------------------------------------------------------

    def send(self, data: BytesLike) -> int:
        """Send one masked binary frame of up to MAX_FRAME bytes of `data`; return its size."""
        view = memoryview(data).cast("B")
        n = min(len(view), MAX_FRAME)
        if n == 0:
            return 0
        frame = encode_frame(OP_BINARY, view[:n])
        with self._write_lock:
            if self._close_sent or self._shut:
                raise BrokenPipeError("nats: websocket is closing")
            self.sock.sendall(frame)
        return n

    def sendall(self, data: BytesLike) -> None:
        """Send all of `data` (in frames of at most MAX_FRAME bytes)."""
        view = memoryview(data).cast("B")
        sent = 0
        while sent < len(view):
            sent += self.send(view[sent:])

    def _send_control(self, opcode: int, payload: bytes) -> None:
        """Send a pong (or other control frame) unless the close handshake has begun."""
        frame = encode_frame(opcode, payload)
        with self._write_lock:
            if not (self._close_sent or self._shut):
                self.sock.sendall(frame)

    def _send_close(self, code: Optional[int], reason: str, wait: bool) -> None:
        """Send the close frame once; best effort (never raises, and never blocks unless `wait`)."""
        frame = encode_frame(OP_CLOSE, close_payload(code, reason))
        if not self._write_lock.acquire(blocking=wait):
            return  # another thread is mid-frame: the connection is being torn down anyway
        try:
            if self._close_sent or self._shut:
                return
            self._close_sent = True
            if wait or _writable(self.sock):
                self.sock.sendall(frame)
        except (OSError, ValueError):
            pass
        finally:
            self._write_lock.release()

    # --- socket plumbing ------------------------------------------------------------------

    def shutdown(self, how: int) -> None:
        """Send the close frame (if the write side closes) and shut the socket down."""
        if how in (socket.SHUT_WR, socket.SHUT_RDWR):
            self._send_close(CLOSE_NORMAL, "", wait=False)
        # After this an SSLSocket would write in clear text: no frame may follow.
        self._shut = True
        self.sock.shutdown(how)

    def close(self) -> None:
        """Send the close frame if not yet sent, then close the socket."""
        if self.sock.fileno() >= 0 and not self._shut:
            self._send_close(CLOSE_NORMAL, "", wait=False)
        self.sock.close()

    def settimeout(self, timeout: Optional[float]) -> None:
        """Set the timeout of the underlying socket."""
        self.sock.settimeout(timeout)

    def gettimeout(self) -> Optional[float]:
        """The timeout of the underlying socket."""
        return self.sock.gettimeout()

    def setsockopt(self, level: int, option: int, value: int) -> None:
        """Set an option of the underlying socket."""
        self.sock.setsockopt(level, option, value)

    def fileno(self) -> int:
        """The file descriptor of the underlying socket."""
        return self.sock.fileno()

    def getpeername(self) -> object:
        """The server's address."""
        return self.sock.getpeername()

    def __repr__(self) -> str:
        return f"<WebSocket {self.sock!r}>"


# --------------------------------------------------------------------------- upgrade


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept value a server must answer `key` with."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode("ascii")


def _request(srv: Server, key: str, extra: Mapping[str, str]) -> bytes:
    """The HTTP/1.1 upgrade request for `srv`, with the `extra` headers."""
    path = quote(srv.path or "/", safe="/%:@!$&'()*+,;=-._~")
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {srv.hostport}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        f"User-Agent: {USER_AGENT}",
    ]
    lines += [f"{name}: {value}" for name, value in extra.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _read_head(sock: socket.socket, srv: Server, deadline: float) -> tuple[bytes, bytes]:
    """Read the HTTP response head; return it and the bytes after it."""
    outcome, data, rest = read_head(sock, deadline)
    if outcome is Outcome.TIMEOUT:
        raise TimeoutError(f"nats: websocket upgrade with {srv.url} timed out")
    if outcome is Outcome.TOO_LONG:
        raise WebSocketError(f"nats: websocket upgrade with {srv.url} failed: response "
                             f"head longer than {MAX_HEAD} bytes")
    if outcome is Outcome.EOF:
        raise WebSocketError(f"nats: {srv.url} closed the connection during the "
                             f"websocket upgrade")
    if outcome is Outcome.NOT_HTTP:
        if data.startswith(b"INFO "):
            raise WebSocketError(
                f"nats: {srv.url} is a NATS client port, not a websocket one (it sent INFO): "
                f"use a nats:// or tls:// URL for it, or the port of the server's "
                f"websocket {{ }} block")
        raise WebSocketError(f"nats: {srv.url} did not answer the websocket upgrade with HTTP "
                             f"(got {data[:40]!r}); is it a wss:// (TLS) port?")
    return data, rest


def _check_response(head: bytes, rest: bytes, srv: Server, key: str) -> None:
    """Raise WebSocketError unless `head` accepts the upgrade requested with `key`."""
    status_line, headers = parse_head(head)
    where = f"nats: websocket upgrade with {srv.url} failed"
    if status_of(status_line) != 101:
        body = rest.decode("utf-8", "replace").strip().splitlines()
        detail = f": {body[0][:200]}" if body else ""
        if "HTTPS" in detail and srv.scheme == "ws":
            detail += " (the listener wants TLS: use a wss:// URL)"
        raise WebSocketError(f"{where}: the server answered {status_line!r}{detail}")

    def tokens(name: str) -> set[str]:
        """The comma-separated, lower-cased tokens of header `name`."""
        return {t.strip().lower() for t in headers.get(name, "").split(",")}

    if "websocket" not in tokens("upgrade"):
        raise WebSocketError(f"{where}: response without 'Upgrade: websocket'")
    if "upgrade" not in tokens("connection"):
        raise WebSocketError(f"{where}: response without 'Connection: Upgrade'")
    if headers.get("sec-websocket-accept") != accept_key(key):
        raise WebSocketError(f"{where}: wrong or missing Sec-WebSocket-Accept")
    if headers.get("sec-websocket-extensions"):
        raise WebSocketError(f"{where}: the server chose extensions the client did not offer "
                             f"({headers['sec-websocket-extensions']})")
    if headers.get("sec-websocket-protocol"):
        raise WebSocketError(f"{where}: the server chose a subprotocol the client did not offer "
                             f"({headers['sec-websocket-protocol']})")


def upgrade(sock: socket.socket, srv: Server, deadline: float,
            headers: Optional[Mapping[str, str]] = None) -> WebSocket:
    """Do the HTTP upgrade on a connected (TLS-wrapped for wss) socket, within `deadline`;
    `headers` are added to the request (auth at an ingress, for instance)."""
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError(f"nats: websocket upgrade with {srv.url} timed out")
    sock.settimeout(remaining)
    try:
        sock.sendall(_request(srv, key, headers or {}))
    except socket.timeout:
        raise TimeoutError(f"nats: websocket upgrade with {srv.url} timed out") from None
    head, rest = _read_head(sock, srv, deadline)
    _check_response(head, rest, srv, key)
    return WebSocket(sock, rest)
