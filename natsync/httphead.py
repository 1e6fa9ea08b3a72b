"""Reading an HTTP/1.1 response head from a socket within a deadline, for the two HTTP
exchanges a connection may start with: a proxy's CONNECT and the websocket upgrade."""

from __future__ import annotations

import socket
import time
from enum import Enum

MAX_HEAD = 16 * 1024
_RECV = 64 * 1024


class Outcome(Enum):
    """How reading a head ended."""

    OK = "ok"  # a whole head: it and what followed it are returned
    NOT_HTTP = "not-http"  # the peer sent something else (its first bytes are returned)
    EOF = "eof"  # the peer closed the connection first
    TIMEOUT = "timeout"
    TOO_LONG = "too-long"  # no blank line within MAX_HEAD bytes


def read_head(sock: socket.socket, deadline: float) -> tuple[Outcome, bytes, bytes]:
    """Read up to the blank line ending a response head: (outcome, head, what followed)."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) >= 5 and not data.startswith(b"HTTP/"):
            return Outcome.NOT_HTTP, data, b""  # not HTTP: fail now, not at a blank line
        if len(data) > MAX_HEAD:
            return Outcome.TOO_LONG, data, b""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return Outcome.TIMEOUT, data, b""
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(_RECV)
        except socket.timeout:
            return Outcome.TIMEOUT, data, b""
        if not chunk:
            if data and not data.startswith(b"HTTP/"):
                return Outcome.NOT_HTTP, data, b""
            return Outcome.EOF, data, b""
        data += chunk
    if not data.startswith(b"HTTP/"):
        return Outcome.NOT_HTTP, data, b""
    head, _, rest = data.partition(b"\r\n\r\n")
    return Outcome.OK, head, rest


def parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    """(status line, headers by lower-cased name, repeated ones joined with ', ')."""
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            lname = name.strip().lower()
            prior = headers.get(lname)
            headers[lname] = f"{prior}, {value.strip()}" if prior else value.strip()
    return lines[0], headers


def status_of(status_line: str) -> int:
    """The status code of a status line, 0 if it has none."""
    parts = status_line.split(" ", 2)
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
