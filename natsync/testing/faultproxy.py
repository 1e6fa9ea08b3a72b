"""`FaultProxy`: a TCP proxy on loopback that breaks the network between a client and a
server on demand — latency, bandwidth, black holes, resets, FINs, sliced writes.

    with NatsServer() as server, FaultProxy(server) as proxy:
        nc = natsync.connect(proxy.url)
        with proxy.blackhole("down"):        # the server's bytes vanish: a half-open link
            ...
        proxy.reset_after(100, "up")         # RST once 100 more bytes went to the server

Every fault acts on current and future connections from the moment its method returns.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from typing import Callable, Dict, List, Literal, Optional, Protocol, Tuple, TypeVar, Union
from urllib.parse import urlsplit

from .faults import Bandwidth, Blackhole, Cut, Direction, Fault, Latency, Slicing, directions_of
from .proxyloop import ProxyLoop
from .scoped import Scoped
from .server import _format_host

__all__ = ["FaultProxy"]

F = TypeVar("F", bound=Fault)


class _Endpoint(Protocol):
    """Anything with a host and a port, such as a NatsServer (read at each connection)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...


Upstream = Union[str, Tuple[str, int], _Endpoint]


def _parse_upstream(upstream: Upstream) -> Tuple[str, int]:
    """("host", port) from a ``nats://host:port`` URL, a ``host:port`` string or a pair."""
    if isinstance(upstream, tuple):
        return upstream[0], int(upstream[1])
    if isinstance(upstream, str):
        parts = urlsplit(upstream if "://" in upstream else f"tcp://{upstream}")
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"upstream {upstream!r} needs a host and a port")
        return parts.hostname, parts.port
    return upstream.host, upstream.port


class FaultProxy(Scoped):
    """A TCP proxy between clients and one upstream server, with switchable faults.

    `upstream` is a NatsServer (its current port is used for each new connection, so a
    restarted server is found again), a ``nats://host:port`` URL, ``host:port`` or a
    (host, port) pair. Each direction of each connection holds at most `buffer_size`
    bytes; past that the proxy stops reading and TCP back-pressure does the rest.
    `seed` makes the latency jitter repeatable. One thread, joined by `close()`.
    """

    def __init__(self, upstream: Upstream, *, host: str = "127.0.0.1", port: int = 0,
                 buffer_size: int = 256 * 1024, seed: Optional[int] = None) -> None:
        if buffer_size < 1:
            raise ValueError("buffer_size must be at least 1 byte")
        self._endpoint: Callable[[], Tuple[str, int]]
        if isinstance(upstream, (str, tuple)):
            fixed = _parse_upstream(upstream)
            self._endpoint = lambda: fixed
        else:
            endpoint = upstream
            self._endpoint = lambda: _parse_upstream(endpoint)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._listener.bind((host, port))
        except OSError:
            self._listener.close()
            raise
        self._host = host
        self._port: int = self._listener.getsockname()[1]
        self._loop = ProxyLoop(self._listener, self._endpoint, buffer_size,
                               random.Random(seed), f"faultproxy-{self._port}")
        self._state_lock = threading.Lock()
        self._started = self._closed = False

    # --- where it listens ---------------------------------------------------------------

    @property
    def host(self) -> str:
        """The address clients connect to."""
        return self._host

    @property
    def port(self) -> int:
        """The port clients connect to (picked when the proxy is created)."""
        return self._port

    @property
    def address(self) -> Tuple[str, int]:
        """(host, port) clients connect to."""
        return self._host, self._port

    @property
    def url(self) -> str:
        """``nats://host:port`` of the proxy, for `natsync.connect()`."""
        return f"nats://{_format_host(self._host)}:{self._port}"

    @property
    def upstream(self) -> Tuple[str, int]:
        """(host, port) the next connection will be forwarded to."""
        return self._endpoint()

    @property
    def running(self) -> bool:
        """True between `start()` and `close()`."""
        return self._started and not self._closed

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Listen and start the loop thread; a no-op if it runs."""
        with self._state_lock:
            if self._closed:
                raise RuntimeError("this FaultProxy was closed; create a new one")
            if not self._started:
                self._listener.listen(64)
                self._loop.start()
                self._started = True
        return self

    def close(self) -> None:
        """Stop listening, close every connection (clients see them close) and join the
        loop thread; idempotent."""
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
        self._loop.stop()

    # --- faults ---------------------------------------------------------------------------

    def _add(self, fault: F) -> F:
        fault.bind(self)
        self._loop.call(lambda: self._loop.add(fault))
        return fault

    def latency(self, delay: float, jitter: float = 0.0,
                direction: Direction = "both") -> Latency:
        """Hold every chunk `delay` seconds, ± up to `jitter` (order kept), before it goes on."""
        return self._add(Latency(delay, jitter, direction))

    def bandwidth(self, rate: float, direction: Direction = "both") -> Bandwidth:
        """Let at most `rate` bytes per second through."""
        return self._add(Bandwidth(rate, direction))

    def slice(self, size: int, direction: Direction = "both",
              interval: float = 0.001) -> Slicing:
        """Write `size` bytes at a time, `interval` seconds apart, so that the receiver
        reads frames in pieces (0 leaves the pieces to coalesce in its socket buffer)."""
        return self._add(Slicing(size, interval, direction))

    def blackhole(self, direction: Direction = "both") -> Blackhole:
        """Accept bytes and never forward them, nor any FIN or RST: a half-open link.

        What the proxy held for that direction is lost too. When the hole is removed, a
        connection it swallowed anything from is reset; an idle one carries on.
        """
        return self._add(Blackhole(direction))

    def reset_after(self, nbytes: int = 0, direction: Direction = "both", *,
                    match: Optional[bytes] = None, times: Optional[int] = None) -> Cut:
        """RST both sides of each connection once `nbytes` more bytes went through in
        `direction` (counted after the first `match` when given; the cut can fall in the
        middle of a frame). `times`: how many connections it cuts before removing itself.
        ``reset_after(0)`` resets every open connection now and each new one at once."""
        return self._cut("reset", nbytes, direction, match, times)

    def close_after(self, nbytes: int = 0, direction: Direction = "both", *,
                    match: Optional[bytes] = None, times: Optional[int] = None) -> Cut:
        """Like `reset_after`, but ends the connections with a FIN to both sides."""
        return self._cut("close", nbytes, direction, match, times)

    def _cut(self, how: Literal["reset", "close"], nbytes: int, direction: Direction,
             match: Optional[bytes], times: Optional[int]) -> Cut:
        return self._add(Cut(how, nbytes, match, times, direction))

    def reset_connections(self) -> int:
        """RST every open connection now (new ones are not affected); how many."""
        return self._loop.call(lambda: self._loop.cut_all(reset=True))

    def close_connections(self) -> int:
        """Close every open connection now with a FIN to both sides; how many."""
        return self._loop.call(lambda: self._loop.cut_all(reset=False))

    def remove(self, fault: Fault) -> None:
        """Switch `fault` off (the same as `fault.remove()`)."""
        self._loop.call(lambda: self._loop.remove(fault))

    def heal(self, direction: Direction = "both") -> None:
        """Remove every fault acting on `direction` (all of them by default)."""
        wanted = set(directions_of(direction))

        def heal() -> None:
            for fault in list(self._loop.faults):
                if wanted & set(fault.directions):
                    self._loop.remove(fault)

        self._loop.call(heal)

    @property
    def faults(self) -> List[Fault]:
        """The faults in effect, oldest first."""
        return self._loop.call(lambda: list(self._loop.faults))

    # --- what went through ----------------------------------------------------------------

    @property
    def stats(self) -> Dict[str, int]:
        """Counters: ``connections`` accepted, ``open`` now, ``up_bytes``/``down_bytes``
        forwarded, ``up_dropped``/``down_dropped`` swallowed by black holes, ``resets``,
        ``closes``, ``refused`` (upstream unreachable) and ``peak_buffered`` (the most one
        direction of one connection held)."""
        return dict(self._loop.stats)

    def wait_connections(self, count: int, timeout: float) -> bool:
        """Wait until `count` connections were accepted in all; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._loop.accepted:
            while self._loop.stats["connections"] < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._loop.accepted.wait(remaining)
            return True

    def __repr__(self) -> str:
        state = "running" if self.running else ("closed" if self._closed else "stopped")
        host, port = self.upstream
        return f"<FaultProxy {self.url} -> {_format_host(host)}:{port} {state}>"
