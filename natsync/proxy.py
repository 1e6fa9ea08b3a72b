"""HTTP CONNECT proxies: reaching the server through an HTTP proxy (`proxy=` option), for
plain, TLS and websocket connections alike. TLS and the websocket upgrade then run inside
the tunnel, end to end with the server."""

from __future__ import annotations

import base64
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from .errors import Error, ProxyError, TimeoutError
from .httphead import Outcome, parse_head, read_head, status_of
from .servers import redact_url


@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy: where it listens and the credentials it wants, if any."""

    host: str
    port: int
    user: str = ""
    password: str = field(default="", repr=False)

    @property
    def url(self) -> str:
        """The proxy's URL without credentials (safe to show)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def parse_proxy(url: str) -> Proxy:
    """`http://[user:password@]host[:port]` (port 3128 by default); Error naming what is
    wrong, with any credentials left out."""
    if not isinstance(url, str) or not url.strip():
        raise Error("option proxy must be an http:// URL, e.g. 'http://proxy.internal:3128'")
    shown = redact_url(url.strip())
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise Error(f"option proxy {shown!r} is not a valid URL") from None
    if parts.scheme.lower() != "http":
        raise Error(f"option proxy {shown!r}: only http:// proxies (HTTP CONNECT) are "
                    f"supported; the tunnel itself carries TLS when the server wants it")
    if not parts.hostname:
        raise Error(f"option proxy {shown!r} has no host")
    return Proxy(parts.hostname, port or 3128, unquote(parts.username or ""),
                 unquote(parts.password or ""))


def open_tunnel(proxy: Proxy, host: str, port: int,
                deadline: float) -> tuple[socket.socket, bytes]:
    """A socket to `host:port` through `proxy`, and any bytes the server already sent
    through it (NATS servers send INFO at once). ProxyError if the proxy refuses."""
    remaining = max(0.01, deadline - time.monotonic())
    try:
        sock = socket.create_connection((proxy.host, proxy.port), timeout=remaining)
    except socket.timeout:
        raise TimeoutError(f"nats: connecting to the proxy {proxy.url} timed out") from None
    except OSError as exc:
        raise ProxyError(f"nats: cannot reach the proxy {proxy.url}: {exc.strerror or exc}") \
            from None
    try:
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
        if proxy.user or proxy.password:
            token = base64.b64encode(f"{proxy.user}:{proxy.password}".encode()).decode()
            lines.append(f"Proxy-Authorization: Basic {token}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        outcome, head, rest = read_head(sock, deadline)
        if outcome is Outcome.TIMEOUT:
            raise TimeoutError(f"nats: the proxy {proxy.url} did not answer CONNECT in time")
        if outcome is not Outcome.OK:
            raise ProxyError(f"nats: the proxy {proxy.url} did not answer CONNECT with HTTP "
                             f"({outcome.value})")
        status_line, _ = parse_head(head)
        status = status_of(status_line)
        if status == 407:
            raise ProxyError(f"nats: the proxy {proxy.url} wants credentials (407): give them "
                             f"in the proxy URL, http://user:password@host:port"
                             if not proxy.user else
                             f"nats: the proxy {proxy.url} refused the credentials (407)")
        if not 200 <= status < 300:
            raise ProxyError(f"nats: the proxy {proxy.url} refused CONNECT to {target}: "
                             f"{status_line!r}")
        return sock, rest
    except BaseException:
        sock.close()
        raise
