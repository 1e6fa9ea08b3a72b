"""Server URLs and the pool the client cycles through when it (re)connects."""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Optional, Sequence, Union
from urllib.parse import unquote, urlsplit

from .errors import Error

DEFAULT_URL = "nats://127.0.0.1:4222"
DEFAULT_PORTS = {"nats": 4222, "tls": 4222, "ws": 80, "wss": 443}


class BadURLError(Error, ValueError):
    """A server URL cannot be parsed."""


@dataclass
class Server:
    """One server of the pool and what the client has learnt about it."""

    scheme: str
    host: str
    port: int
    user: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    token: Optional[str] = field(default=None, repr=False)
    path: str = ""
    discovered: bool = False
    reconnects: int = 0
    auth_errors: int = 0
    did_connect: bool = False
    last_attempt: float = 0.0

    @property
    def url(self) -> str:
        """The URL without credentials (safe to log)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"

    @property
    def hostport(self) -> str:
        """`host:port` as INFO's connect_urls write it (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def wants_tls(self) -> bool:
        """The URL itself asks for TLS."""
        return self.scheme in ("tls", "wss")

    @property
    def is_websocket(self) -> bool:
        """The URL is a websocket one."""
        return self.scheme in ("ws", "wss")


def parse_url(url: str, discovered: bool = False) -> Server:
    """Parse `nats://[user:pass@|token@]host[:port]` (also tls://, ws://, wss://, or bare host)."""
    if not isinstance(url, str) or not url.strip():
        shown = redact_url(url) if isinstance(url, str) else url
        raise BadURLError(f"server URL must be a non-empty string, got {shown!r}")
    text = url.strip()
    if "://" not in text:
        text = "nats://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise BadURLError(f"invalid server URL {redact_url(text)!r}: "
                          f"{str(exc).replace(text, redact_url(text))}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise BadURLError(f"invalid server URL {redact_url(text)!r}: scheme must be one of "
                          f"{', '.join(DEFAULT_PORTS)}")
    if not parts.hostname:
        raise BadURLError(f"invalid server URL {redact_url(text)!r}: no host")
    if port == 0:
        raise BadURLError(f"invalid server URL {redact_url(text)!r}: port 0")
    user = password = token = None
    if parts.username is not None:
        if parts.password is not None:
            user, password = unquote(parts.username), unquote(parts.password)
        else:
            token = unquote(parts.username)
    return Server(scheme=scheme, host=parts.hostname, port=port or DEFAULT_PORTS[scheme],
                  user=user, password=password, token=token, path=parts.path,
                  discovered=discovered)


def redact_url(url: str) -> str:
    """`url` with any user, password or token before the host replaced by `***`, so an
    error about a URL never shows its credentials."""
    scheme, sep, rest = url.rpartition("://")
    head, at, tail = rest.rpartition("@")
    if not at:
        return url
    return f"{scheme}{sep}***@{tail}"


def servers_from(servers: Union[str, Sequence[str], None]) -> list[Server]:
    """The configured servers: the argument, else `NATS_URL`, else the default URL."""
    if not servers:
        servers = os.environ.get("NATS_URL") or DEFAULT_URL
    if isinstance(servers, str):
        servers = [s for s in servers.split(",") if s.strip()]
    return [parse_url(s) for s in servers]


class ServerPool:
    """The servers to try, in order; the current one moves to the back after each attempt.

    Thread-safe: the reader thread edits it (reconnects, cluster INFO) while users read it.
    """

    def __init__(self, servers: Iterable[Server], randomize: bool) -> None:
        self._servers = list(servers)
        if not self._servers:
            raise BadURLError("no server URLs given")
        if randomize:
            random.shuffle(self._servers)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._servers)

    def __iter__(self) -> Iterator[Server]:
        with self._lock:
            return iter(list(self._servers))

    def next(self) -> Optional[Server]:
        """The server to try next (moved to the back of the pool), or None if empty."""
        with self._lock:
            if not self._servers:
                return None
            srv = self._servers.pop(0)
            self._servers.append(srv)
            return srv

    def replace(self, servers: list[Server], randomize: bool) -> None:
        """Make `servers` the pool (BadURLError if empty). A server already known keeps
        what was learnt of it (attempts, credentials found to work) and its place in the
        rotation is reset; discovered servers not listed are dropped until the cluster
        announces them again."""
        if not servers:
            raise BadURLError("no server URLs given")
        with self._lock:
            known = {(s.scheme, s.hostport): s for s in self._servers}
            fresh = [known.get((s.scheme, s.hostport), s) for s in servers]
            for old, new in zip(fresh, servers):
                if old is not new:  # the same server: take the new URL's credentials
                    old.user, old.password, old.token = new.user, new.password, new.token
                    old.path, old.discovered = new.path, False
            if randomize:
                random.shuffle(fresh)
            self._servers = fresh

    def find(self, url: str) -> Optional[Server]:
        """The pool's server whose URL (as `Server.url` shows it) is `url`, if any."""
        with self._lock:
            return next((s for s in self._servers if s.url == url), None)

    def remove(self, srv: Server) -> None:
        """Drop a server that has used up its attempts or failed authorisation twice."""
        with self._lock:
            if srv in self._servers:
                self._servers.remove(srv)

    def add_discovered(self, urls: Iterable[str], scheme: str, randomize: bool) -> list[str]:
        """Add servers announced by the cluster; return the `host:port`s that were new."""
        with self._lock:
            return self._add_discovered(urls, scheme, randomize)

    def _add_discovered(self, urls: Iterable[str], scheme: str, randomize: bool) -> list[str]:
        known = {s.hostport for s in self._servers}
        # Servers announced by the cluster get the credentials of the URL the user gave.
        creds = next((s for s in self._servers if not s.discovered
                      and (s.user is not None or s.token is not None)), None)
        added: list[Server] = []
        for hp in urls:
            try:
                srv = parse_url(f"{scheme}://{hp}", discovered=True)
            except BadURLError:
                continue
            if creds is not None and srv.user is None and srv.token is None:
                srv.user, srv.password, srv.token = creds.user, creds.password, creds.token
            if srv.hostport not in known:
                known.add(srv.hostport)
                added.append(srv)
        if randomize:
            random.shuffle(added)
        self._servers.extend(added)
        return [s.hostport for s in added]

    def drop_discovered(self, urls: Iterable[str], current: Optional[Server]) -> list[str]:
        """Remove discovered servers no longer announced (never the current one)."""
        keep = set(urls)
        with self._lock:
            gone = [s for s in self._servers
                    if s.discovered and s.hostport not in keep and s is not current]
            for s in gone:
                self._servers.remove(s)
        return [s.hostport for s in gone]

    @property
    def discovered(self) -> list[str]:
        """URLs of the servers learnt from the cluster."""
        with self._lock:
            return [s.url for s in self._servers if s.discovered]


def wait_before(srv: Server, wait: float, jitter: float) -> float:
    """Seconds to sleep before trying `srv` again (a server is not retried too soon)."""
    if not srv.last_attempt:
        return 0.0
    delay = wait + (random.random() * jitter if jitter > 0 else 0.0)
    return max(0.0, srv.last_attempt + delay - time.monotonic())
