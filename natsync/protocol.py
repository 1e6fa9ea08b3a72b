"""The NATS client protocol, sans I/O: a parser from received bytes to events, and encoders.

Nothing here touches sockets or threads. The parser accepts the byte stream in chunks of
any size and returns the complete events they finish; its memory is bounded by
`max_control_line` plus the largest allowed payload, whatever the peer sends.

Events are tuples whose first item is an op code (tuples are the cheapest thing CPython
can build, and the reader makes one per message):

    (MSG, sid, subject, reply, payload, headers)   headers is None for MSG, Headers for HMSG
    (INFO, info_dict)
    (PING,) (PONG,) (OK,)
    (ERR, message)
"""

from __future__ import annotations

import json
import os
from types import ModuleType
from typing import Any, Callable, Iterator, Optional, Protocol, Tuple

from .errors import ProtocolError
from .headers import Headers, parse_headers

MSG = 0
INFO = 1
PING = 2
PONG = 3
OK = 4
ERR = 5

Event = Tuple[Any, ...]

PING_EVENT: Event = (PING,)
PONG_EVENT: Event = (PONG,)
OK_EVENT: Event = (OK,)

PING_FRAME = b"PING\r\n"
PONG_FRAME = b"PONG\r\n"

#: nats-server's hard upper bound on max_payload; no valid message is larger.
MAX_PAYLOAD_LIMIT = 64 * 1024 * 1024
#: Control lines longer than this are refused (INFO of a large cluster fits easily).
DEFAULT_MAX_CONTROL_LINE = 64 * 1024

_CRLF = b"\r\n"
#: Parsed MSG lines a parser keeps (see Parser._lines).
_LINES_KEPT = 1024

Scan = Callable[[bytes, int, "list[Event]", "dict[bytes, tuple[int, str, str, int]]", int, int,
                 Callable[[bytes], Headers]], int]


def _load_speedups() -> Optional[ModuleType]:
    """The C module (natsync/_speedups.c), unless it was not built or NATSYNC_NO_SPEEDUPS
    is set; this module's Python code is the reference for what it does."""
    if os.environ.get("NATSYNC_NO_SPEEDUPS", "") not in ("", "0"):
        return None
    try:
        from . import _speedups
    except ImportError:
        return None
    return _speedups


_SPEEDUPS = _load_speedups()
#: The C scan over MSG/HMSG frames (see Parser.feed).
_SCAN: Optional[Scan] = _SPEEDUPS.scan if _SPEEDUPS is not None else None
#: Whether parsers use the compiled scan by default.
SPEEDUPS = _SCAN is not None


class Parser:
    """Turns the server's byte stream into events; `feed()` may be called with any chunking."""

    __slots__ = ("_buf", "_chunks", "_have", "_lines", "_need", "_scan", "max_control_line",
                 "max_payload")

    def __init__(self, max_control_line: int = DEFAULT_MAX_CONTROL_LINE,
                 max_payload: int = MAX_PAYLOAD_LIMIT, speedups: bool = SPEEDUPS) -> None:
        self.max_control_line = max_control_line
        self.max_payload = max_payload
        self._buf = b""
        # While a large payload is arriving, chunks are kept in a list and joined once,
        # so a message split over many reads costs O(size), not O(size^2).
        self._chunks: list[bytes] = []
        self._have = 0
        self._need = 0
        # A MSG line without a reply repeats itself for every message of a subscription
        # of one size: its parsed form is kept by the line's bytes, which halves the cost
        # of parsing such a message. Lines with replies (inboxes, acks) are unique and are
        # not kept; the table is emptied when it reaches _LINES_KEPT entries.
        self._lines: dict[bytes, tuple[int, str, str, int]] = {}
        # The compiled scan takes the well-formed MSG/HMSG frames and stops at anything
        # else, which the loop below then handles: the same events either way.
        self._scan = _SCAN if speedups else None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as events."""
        return len(self._buf) + self._have

    def feed(self, data: bytes) -> list[Event]:
        """Add received bytes; return every event they complete, in order."""
        if self._need:
            self._chunks.append(data)
            self._have += len(data)
            if self._have < self._need:
                return []
            data = self._buf + b"".join(self._chunks)
            self._chunks.clear()
            self._have = self._need = 0
        elif self._buf:
            data = self._buf + data
        self._buf = b""
        events: list[Event] = []
        append = events.append
        pos = 0
        size = len(data)
        find = data.find
        startswith = data.startswith
        max_line = self.max_control_line
        lines = self._lines
        scan = self._scan
        while pos < size:
            if scan is not None:
                pos = scan(data, pos, events, lines, max_line, self.max_payload, parse_headers)
                if pos >= size:
                    break
            end = find(_CRLF, pos)
            if end < 0:
                if size - pos > max_line:
                    raise ProtocolError(f"control line longer than {max_line} bytes")
                break
            if end - pos > max_line:
                raise ProtocolError(f"control line longer than {max_line} bytes")
            htoken = None
            if startswith(b"MSG ", pos):
                line = data[pos + 4:end]
                known = lines.get(line)
                if known is None:
                    # Split on any run of whitespace (tabs and repeated spaces are legal
                    # separators); faster than split(b" ") plus a check for empty tokens.
                    known = _msg_line(line.split(), data, pos, end, self.max_payload)
                    if not known[2]:
                        if len(lines) >= _LINES_KEPT:
                            lines.clear()
                        lines[line] = known
                sid, subject, reply, n = known
            else:
                parts = data[pos:end].split(None, 1)
                op = parts[0].upper() if parts else b""
                rest = parts[1] if len(parts) > 1 else b""
                if op == b"HMSG":
                    args = rest.split()
                    if len(args) > 2:
                        htoken = args.pop(-2)  # leaves the shape of a MSG line
                elif op == b"MSG":
                    args = rest.split()
                else:
                    pos = end + 2
                    append(_control_event(op, rest))
                    continue
                sid, subject, reply, n = _msg_line(args, data, pos, end, self.max_payload)
            start = end + 2
            stop = start + n
            if stop + 2 > size:
                self._buf = data[pos:]
                self._need = stop + 2 - pos - len(self._buf)
                return events
            if data[stop] != 13 or data[stop + 1] != 10:
                raise ProtocolError("message payload not followed by CRLF")
            if htoken is None:
                append((MSG, sid, subject, reply, data[start:stop], None))
            else:
                hlen = _length(htoken, n)
                append((MSG, sid, subject, reply,
                        data[start + hlen:stop], parse_headers(data[start:start + hlen])))
            pos = stop + 2
        self._buf = data[pos:]
        return events


def _msg_line(args: list[bytes], data: bytes, pos: int, end: int,
              max_payload: int) -> tuple[int, str, str, int]:
    """(sid, subject, reply, size) of a MSG line's arguments (an HMSG's, its header size
    taken out); the line is `data[pos:end]`, quoted in the error when it is bad."""
    try:
        if len(args) == 3:
            subject_b, sid_b, size_b = args
            reply = ""
        elif len(args) == 4:
            subject_b, sid_b, reply_b, size_b = args
            reply = reply_b.decode()
        else:
            raise ValueError
        n = int(size_b)
        sid = int(sid_b)
        subject = subject_b.decode()  # UnicodeDecodeError is a ValueError
    except ValueError:
        raise ProtocolError(f"bad message line: {data[pos:end][:128]!r}") from None
    if n < 0 or n > max_payload:
        raise ProtocolError(f"message size {n} outside 0..{max_payload}")
    return sid, subject, reply, n


def _control_event(op: bytes, arg: bytes) -> Event:
    """The event of a control line other than MSG/HMSG."""
    if op == b"PING":
        return PING_EVENT
    if op == b"PONG":
        return PONG_EVENT
    if op == b"+OK":
        return OK_EVENT
    if op == b"-ERR":
        return (ERR, _err_text(arg))
    if op == b"INFO":
        return (INFO, _json_object(arg, "INFO"))
    raise ProtocolError(f"unknown protocol operation: {op[:32]!r}")


def _length(token: bytes, limit: int) -> int:
    if not token.isdigit():
        raise ProtocolError(f"bad size in message line: {token[:32]!r}")
    n = int(token)
    if n > limit:
        raise ProtocolError(f"message size {n} exceeds the limit of {limit} bytes")
    return n


def _err_text(raw: bytes) -> str:
    text = raw.decode(errors="replace").strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        text = text[1:-1]
    return text


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: deeply nested arrays
        raise ProtocolError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} is not a JSON object")
    return value


# --- encoders -------------------------------------------------------------------------


def encode_connect(options: dict[str, Any]) -> bytes:
    """CONNECT frame for the given options (already filtered to what should be sent)."""
    return b"CONNECT " + json.dumps(options, separators=(",", ":")).encode() + _CRLF


def encode_pub(subject: bytes, payload: bytes = b"", reply: bytes = b"",
               headers: Optional[bytes] = None) -> bytes:
    """PUB frame, or HPUB when an encoded header block is given. Subjects come as bytes
    (the client keeps the encoded form of the subjects it publishes to)."""
    if headers is None:
        if reply:
            return b"PUB %b %b %d\r\n%b\r\n" % (subject, reply, len(payload), payload)
        return b"PUB %b %d\r\n%b\r\n" % (subject, len(payload), payload)
    hl = len(headers)
    if reply:
        return b"HPUB %b %b %d %d\r\n%b%b\r\n" % (subject, reply, hl, hl + len(payload),
                                                  headers, payload)
    return b"HPUB %b %d %d\r\n%b%b\r\n" % (subject, hl, hl + len(payload), headers, payload)


class _PubEncoder(Protocol):
    def __call__(self, subject: bytes, payload: bytes = ..., reply: bytes = ...,
                 headers: Optional[bytes] = ..., /) -> bytes: ...


#: encode_pub for arguments that are all bytes, as the engine passes them: the C encoder
#: (one allocation, a third of the formatting's time) when it is loaded, else encode_pub.
build_pub: _PubEncoder = _SPEEDUPS.encode_pub if _SPEEDUPS is not None else encode_pub


def encode_sub(subject: str, sid: int, queue: str = "") -> bytes:
    """SUB frame."""
    if queue:
        return f"SUB {subject} {queue} {sid}\r\n".encode()
    return f"SUB {subject} {sid}\r\n".encode()


def encode_unsub(sid: int, max_msgs: int = 0) -> bytes:
    """UNSUB frame; with `max_msgs` the server unsubscribes after that many more messages."""
    if max_msgs > 0:
        return b"UNSUB %d %d\r\n" % (sid, max_msgs)
    return b"UNSUB %d\r\n" % sid


# --- outbound frames ------------------------------------------------------------------


def outbound_frames(data: bytes) -> Iterator[Tuple[bytes, int, int]]:
    """Yield (op, start, end) for each client frame in `data`, which this module encoded.

    Used by the protocol trace (`debug=True`) to show what was sent frame by frame; a
    frame cut short at the end of `data` is yielded with `end > len(data)`.
    """
    pos = 0
    size = len(data)
    while pos < size:
        end = data.find(_CRLF, pos)
        if end < 0:
            yield data[pos:pos + 8].split(b" ", 1)[0].rstrip(b"\r"), pos, size + 1
            return
        line = data[pos:end]
        op = line.split(b" ", 1)[0]
        stop = end + 2
        if op == b"PUB":
            stop += int(line.rsplit(b" ", 1)[1]) + 2
        elif op == b"HPUB":
            stop += int(line.rsplit(b" ", 1)[1]) + 2
        yield op, pos, stop
        pos = stop


__all__ = [
    "DEFAULT_MAX_CONTROL_LINE", "ERR", "INFO", "MAX_PAYLOAD_LIMIT", "MSG", "OK", "PING",
    "PING_FRAME", "PONG", "PONG_FRAME", "SPEEDUPS", "Event", "Headers", "Parser", "encode_connect",
    "build_pub", "encode_pub", "encode_sub", "encode_unsub", "outbound_frames",
]
