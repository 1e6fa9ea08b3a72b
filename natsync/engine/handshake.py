"""Opening one connection: TCP (and TLS), INFO, CONNECT, PING/PONG — on the calling thread.

The result is a Session: a socket that has completed the handshake, the parser holding
whatever arrived after the PONG, and the server's INFO. The client's threads take it
from there.
"""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any, cast

from ..auth import connect_auth
from ..debuglog import trace_received, trace_sent
from ..errors import (
    Error,
    ProtocolError,
    SecureConnFailedError,
    SecureConnRequiredError,
    SecureConnWantedError,
    TimeoutError,
    UnexpectedEOF,
    server_error,
)
from ..options import Options, check_headers
from ..protocol import ERR, INFO, PING, PONG, PONG_FRAME, Event, Parser, encode_connect
from ..proxy import open_tunnel, parse_proxy
from ..servers import Server
from ..version import __version__
from ..websocket import upgrade as websocket_upgrade
from .session import Session

_RECV = 65536


def default_tls_context() -> ssl.SSLContext:
    """A verifying client context that trusts the certifi CA bundle."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _tls_context(opts: Options) -> ssl.SSLContext:
    return opts.tls if isinstance(opts.tls, ssl.SSLContext) else default_tls_context()


# Alerts a server sends when it rejects (or never got) the client's certificate.
_CLIENT_CERT_ALERTS = ("CERTIFICATE_REQUIRED", "BAD_CERTIFICATE", "UNKNOWN_CA",
                       "CERTIFICATE_UNKNOWN", "CERTIFICATE_EXPIRED", "CERTIFICATE_REVOKED",
                       "UNSUPPORTED_CERTIFICATE", "ACCESS_DENIED")


def tls_failure(exc: ssl.SSLError, opts: Options, srv: Server, hostname: str) -> str:
    """A message saying why TLS with `srv` failed and what to change, for SecureConnFailedError."""
    reason = str(exc.reason or exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = getattr(exc, "verify_message", "") or reason
        if "mismatch" in detail.lower() or "hostname" in detail.lower():
            hint = (f"the server's certificate is not valid for {hostname!r}; connect with a "
                    f"name the certificate holds or set tls_hostname to one")
        elif isinstance(opts.tls, ssl.SSLContext):
            hint = ("the server's certificate is not signed by a CA that the client's tls "
                    "context trusts; load the server's CA into it, e.g. "
                    "ctx.load_verify_locations(cafile=...)")
        else:
            hint = ("the client used the default TLS context, which trusts only the certifi "
                    "CA bundle; pass tls=ssl.create_default_context(cafile=...) trusting the "
                    "CA that signed the server's certificate")
        return f"nats: TLS with {srv.url} failed: certificate verify failed: {detail} ({hint})"
    upper = reason.upper()
    if "WRONG_VERSION_NUMBER" in upper or "RECORD_LAYER_FAILURE" in upper or \
            "PACKET_LENGTH_TOO_LONG" in upper:
        if opts.tls_handshake_first:
            return (f"nats: TLS with {srv.url} failed: {reason} (tls_handshake_first is set but "
                    f"the server answered in plain text; it needs tls {{ handshake_first: true }}"
                    f" or the client must not set tls_handshake_first)")
        return f"nats: TLS with {srv.url} failed: {reason} (the server did not speak TLS)"
    if any(alert in upper for alert in _CLIENT_CERT_ALERTS):
        if "REQUIRED" in upper:
            hint = ("the server requires a client certificate (mutual TLS); load one into the "
                    "tls context with ctx.load_cert_chain(certfile, keyfile)")
        else:
            hint = "the server rejected the client's certificate"
        return f"nats: TLS with {srv.url} failed: {reason} ({hint})"
    return f"nats: TLS with {srv.url} failed: {reason}"


def _wrap(sock: socket.socket, opts: Options, srv: Server, deadline: float) -> ssl.SSLSocket:
    ctx = _tls_context(opts)
    hostname = opts.tls_hostname or srv.host
    try:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        return ctx.wrap_socket(sock, server_hostname=hostname)
    except ssl.SSLError as exc:
        raise SecureConnFailedError(tls_failure(exc, opts, srv, hostname)) from None
    except socket.timeout:
        raise SecureConnFailedError(f"nats: TLS handshake with {srv.url} timed out") from None


_NO_INFO_HINT = ("; a server configured with tls { handshake_first: true } sends nothing "
                 "until the client starts TLS: connect with tls_handshake_first=True")


class _Reader:
    """Reads whole events from a socket during the handshake, within a deadline."""

    def __init__(self, sock: socket.socket, parser: Parser, deadline: float, srv: Server,
                 opts: Options) -> None:
        self.sock = sock
        self.parser = parser
        self.deadline = deadline
        self.srv = srv
        self.opts = opts
        self.got_info = False
        self.events: list[Event] = []

    def _hint(self) -> str:
        plain = not isinstance(self.sock, ssl.SSLSocket) and not self.srv.is_websocket
        return _NO_INFO_HINT if plain and not self.got_info else ""

    def next(self) -> Event:
        url = self.srv.url
        while not self.events:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"nats: handshake with {url} timed out{self._hint()}")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(_RECV)
            except socket.timeout:
                raise TimeoutError(f"nats: handshake with {url} timed out{self._hint()}") from None
            except ssl.SSLError as exc:
                # TLS 1.3: a refused client certificate shows up after the handshake, here.
                hostname = self.opts.tls_hostname or self.srv.host
                raise SecureConnFailedError(
                    tls_failure(exc, self.opts, self.srv, hostname)) from None
            if not data:
                raise UnexpectedEOF(
                    f"nats: {url} closed the connection during the handshake{self._hint()}")
            events = self.parser.feed(data)
            if self.opts.debug:
                trace_received(events)
            self.events.extend(events)
        self.got_info = True
        return self.events.pop(0)

    def send(self, data: bytes) -> None:
        """Send during the handshake; TLS alerts become SecureConnFailedError."""
        if self.opts.debug:
            trace_sent(data)
        try:
            self.sock.sendall(data)
        except ssl.SSLError as exc:
            hostname = self.opts.tls_hostname or self.srv.host
            raise SecureConnFailedError(
                tls_failure(exc, self.opts, self.srv, hostname)) from None


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


def open_session(srv: Server, opts: Options) -> Session:
    """Connect to `srv` and complete the handshake, or raise the reason it failed."""
    deadline = time.monotonic() + opts.connect_timeout
    early = b""  # what the server sent through a proxy's tunnel with its answer
    if opts.proxy is not None:
        sock, early = open_tunnel(parse_proxy(opts.proxy), srv.host, srv.port, deadline)
    else:
        try:
            sock = socket.create_connection((srv.host, srv.port), timeout=opts.connect_timeout)
        except socket.timeout:
            raise TimeoutError(f"nats: connecting to {srv.url} timed out") from None
    current = [sock]
    try:
        return _handshake(current, srv, opts, deadline, early)
    except BaseException:
        current[-1].close()  # the TLS socket once wrapped (wrapping detaches the plain one)
        sock.close()
        raise


def _handshake(current: list[socket.socket], srv: Server, opts: Options,
               deadline: float, early: bytes) -> Session:
    raw = current[0]
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock: socket.socket = raw
    if opts.tls_handshake_first and opts.tls is False:
        raise Error("nats: tls_handshake_first=True cannot be combined with tls=False")
    want_tls = opts.tls not in (None, False) or srv.wants_tls
    if early and (srv.is_websocket or opts.tls_handshake_first):
        raise ProtocolError(f"nats: {srv.url} sent data before the client's first word "
                            f"(through the proxy); it does not look like the server expected")
    if srv.is_websocket:
        # TLS (wss://, or asked for by an option) comes first, then the HTTP upgrade; the
        # NATS handshake below then runs inside websocket frames, and INFO's TLS fields
        # do not apply (the websocket listener does its own TLS).
        want_tls = want_tls or opts.tls_handshake_first
        sock = _websocket(current, srv, opts, deadline, want_tls)
    elif opts.tls_handshake_first:
        sock = _wrap(sock, opts, srv, deadline)
        current.append(sock)
    parser = Parser(opts.max_control_line)
    reader = _Reader(sock, parser, deadline, srv, opts)
    if early:
        reader.events.extend(parser.feed(early))
    first = reader.next()
    if first[0] != INFO:
        raise ProtocolError(f"nats: expected INFO from {srv.url}, got op {first[0]}")
    info: dict[str, Any] = first[1]
    tls = want_tls if srv.is_websocket else opts.tls_handshake_first
    if not opts.tls_handshake_first and not srv.is_websocket:
        if info.get("tls_required"):
            if opts.tls is False:
                raise SecureConnRequiredError(
                    f"nats: {srv.url} requires TLS but the client was configured with tls=False")
            want_tls = True
        elif want_tls and not info.get("tls_available"):
            raise SecureConnWantedError(
                f"nats: TLS was requested (by a tls:// URL or the tls option) but {srv.url} "
                f"does not offer TLS")
        if want_tls:
            if parser.buffered:
                raise ProtocolError("nats: server sent data before the TLS upgrade")
            sock = _wrap(sock, opts, srv, deadline)
            current.append(sock)
            reader.sock = sock
            tls = True
    reader.send(encode_connect(connect_options(opts, srv, info, tls)) + b"PING\r\n")
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
            reader.send(PONG_FRAME)
    sock.settimeout(None)
    return Session(sock, parser, info, srv, reader.events)


def _websocket(current: list[socket.socket], srv: Server, opts: Options, deadline: float,
               tls: bool) -> socket.socket:
    """Wrap in TLS if wanted, then upgrade to a websocket (see natsync.websocket)."""
    sock = current[-1]
    if tls:
        sock = _wrap(sock, opts, srv, deadline)
        current.append(sock)
    try:
        ws = websocket_upgrade(sock, srv, deadline, ws_headers(opts))
    except ssl.SSLError as exc:  # TLS 1.3: a refused client certificate shows up here
        raise SecureConnFailedError(
            tls_failure(exc, opts, srv, opts.tls_hostname or srv.host)) from None
    # The client only needs the socket methods that WebSocket provides.
    current.append(cast(socket.socket, ws))
    return cast(socket.socket, ws)


def ws_headers(opts: Options) -> dict[str, str]:
    """The extra headers of the websocket upgrade: the option's mapping, or what its
    callable returns now (a fresh token at each connect), checked."""
    value = opts.ws_headers
    headers = value() if callable(value) else value
    return check_headers(headers or {})
