"""Opening one connection: TCP (and TLS), INFO, CONNECT, PING/PONG — on the calling thread.

The result is a socket that has completed the handshake, the parser holding whatever
arrived after the PONG, and the server's INFO. The client's threads take it from there.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any, Optional

from .auth import connect_auth
from .errors import (
    ProtocolError,
    SecureConnFailedError,
    SecureConnRequiredError,
    SecureConnWantedError,
    TimeoutError,
    UnexpectedEOF,
    server_error,
)
from .options import Options
from .protocol import ERR, INFO, PING, PONG, PONG_FRAME, Event, Parser, encode_connect
from .servers import Server
from .version import __version__

_RECV = 65536


@dataclass
class Connection:
    """A socket past its handshake, with its parser and the server's INFO."""

    sock: socket.socket
    parser: Parser
    info: dict[str, Any]
    server: Server
    leftover: list[Event]


def default_tls_context() -> ssl.SSLContext:
    """A verifying client context that trusts the certifi CA bundle."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _tls_context(opts: Options) -> ssl.SSLContext:
    return opts.tls if isinstance(opts.tls, ssl.SSLContext) else default_tls_context()


def _wrap(sock: socket.socket, opts: Options, srv: Server, deadline: float) -> ssl.SSLSocket:
    ctx = _tls_context(opts)
    hostname = opts.tls_hostname or srv.host
    try:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        return ctx.wrap_socket(sock, server_hostname=hostname)
    except ssl.SSLError as exc:
        raise SecureConnFailedError(
            f"nats: TLS handshake with {srv.url} failed: {exc.reason or exc}") from None
    except socket.timeout:
        raise SecureConnFailedError(f"nats: TLS handshake with {srv.url} timed out") from None


class _Reader:
    """Reads whole events from a socket during the handshake, within a deadline."""

    def __init__(self, sock: socket.socket, parser: Parser, deadline: float, url: str) -> None:
        self.sock = sock
        self.parser = parser
        self.deadline = deadline
        self.url = url
        self.events: list[Event] = []

    def next(self) -> Event:
        while not self.events:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"nats: handshake with {self.url} timed out")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(_RECV)
            except socket.timeout:
                raise TimeoutError(f"nats: handshake with {self.url} timed out") from None
            if not data:
                raise UnexpectedEOF(f"nats: {self.url} closed the connection during the handshake")
            self.events.extend(self.parser.feed(data))
        return self.events.pop(0)


def connect_options(opts: Options, srv: Server, info: dict[str, Any], tls: bool) -> dict[str, Any]:
    """The CONNECT JSON for this server and INFO."""
    fields: dict[str, Any] = {
        "verbose": opts.verbose,
        "pedantic": opts.pedantic,
        "tls_required": tls,
        "lang": "python-natsync",
        "version": __version__,
        "protocol": 1,
        "headers": True,
        "no_responders": True,
        "echo": not opts.no_echo,
    }
    if opts.name:
        fields["name"] = opts.name
    fields.update(connect_auth(opts, srv, info.get("nonce")))
    return fields


def open_connection(srv: Server, opts: Options) -> Connection:
    """Connect to `srv` and complete the handshake, or raise the reason it failed."""
    deadline = time.monotonic() + opts.connect_timeout
    try:
        sock = socket.create_connection((srv.host, srv.port), timeout=opts.connect_timeout)
    except socket.timeout:
        raise TimeoutError(f"nats: connecting to {srv.url} timed out") from None
    try:
        return _handshake(sock, srv, opts, deadline)
    except BaseException:
        sock.close()
        raise


def _handshake(raw: socket.socket, srv: Server, opts: Options, deadline: float) -> Connection:
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock: socket.socket = raw
    want_tls = opts.tls not in (None, False) or srv.wants_tls
    if opts.tls_handshake_first:
        sock = _wrap(sock, opts, srv, deadline)
    parser = Parser(opts.max_control_line)
    reader = _Reader(sock, parser, deadline, srv.url)
    first = reader.next()
    if first[0] != INFO:
        raise ProtocolError(f"nats: expected INFO from {srv.url}, got op {first[0]}")
    info: dict[str, Any] = first[1]
    tls = opts.tls_handshake_first
    if not opts.tls_handshake_first:
        if info.get("tls_required"):
            if opts.tls is False:
                raise SecureConnRequiredError(
                    f"nats: {srv.url} requires TLS but the client was configured with tls=False")
            want_tls = True
        elif want_tls and not info.get("tls_available"):
            raise SecureConnWantedError(
                f"nats: TLS was requested but {srv.url} does not offer TLS")
        if want_tls:
            if parser.buffered:
                raise ProtocolError("nats: server sent data before the TLS upgrade")
            sock = _wrap(sock, opts, srv, deadline)
            reader.sock = sock
            tls = True
    sock.sendall(encode_connect(connect_options(opts, srv, info, tls)) + b"PING\r\n")
    while True:
        ev = reader.next()
        op = ev[0]
        if op == PONG:
            break
        if op == ERR:
            raise server_error(ev[1])
        if op == INFO:
            info = ev[1]
        elif op == PING:
            sock.sendall(PONG_FRAME)
    sock.settimeout(None)
    return Connection(sock=sock, parser=parser, info=info, server=srv, leftover=reader.events)


def max_payload_of(info: dict[str, Any], default: int = 1024 * 1024) -> int:
    """The server's max_payload (a missing or bad value falls back to the 1 MiB default)."""
    value: Optional[Any] = info.get("max_payload")
    return value if isinstance(value, int) and value > 0 else default
