"""The FaultProxy's engine: one selector-loop thread moving bytes between socket pairs.

Each accepted client gets a `_Link`: the client socket, a socket to the upstream server,
and two `_Pipe`s (``up``: client → server, ``down``: server → client). A pipe reads from
its source only while it holds fewer than `buffer_size` bytes, so memory stays bounded
whatever the traffic; it writes what is due, shaped by the active faults. All state
belongs to the loop thread: other threads hand it work through `call()`.
"""

from __future__ import annotations

import errno
import random
import selectors
import socket
import struct
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple, TypeVar

from .faults import DOWN, UP, Blackhole, Cut, Fault, Shape, shape_of

T = TypeVar("T")

_READ_SIZE = 65536
_QUANTUM = 0.01          # a rate-limited write carries at most this many seconds of bytes
_CALL_TIMEOUT = 10.0     # how long a caller waits for the loop to run its call
_CONNECTING = (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN, errno.EALREADY)
_RST = struct.pack("ii", 1, 0)   # SO_LINGER on, 0 s: close() sends RST

Endpoint = Callable[[], Tuple[str, int]]


class _Pipe:
    """One direction of a link: chunks read from `src`, each due at a time, for `dst`."""

    __slots__ = ("direction", "src", "dst", "chunks", "offset", "queued", "last_due",
                 "next_write", "want_write", "eof", "shut", "swallowed", "dst_dead")

    def __init__(self, direction: str, src: socket.socket, dst: socket.socket) -> None:
        self.direction = direction
        self.src = src
        self.dst = dst
        self.chunks: Deque[Tuple[float, bytes]] = deque()
        self.offset = 0           # bytes of the head chunk already written
        self.queued = 0           # bytes held, not yet written
        self.last_due = 0.0       # chunks keep their order whatever the jitter
        self.next_write = 0.0     # bandwidth and slicing pace writes
        self.want_write = False   # dst's buffer is full: wait until it is writable
        self.eof = False          # src gave EOF or an error: nothing more to read
        self.shut = False         # the EOF was passed on (dst got a FIN)
        self.swallowed = False    # a black hole took bytes or an EOF from this pipe
        self.dst_dead = False     # dst failed: what is read is dropped

    def drop(self) -> int:
        """Forget every byte held; how many there were."""
        n = self.queued
        self.chunks.clear()
        self.offset = self.queued = 0
        self.want_write = False
        return n


class _CutState:
    """How far one link is from one Cut: bytes left (None until `match` is seen)."""

    __slots__ = ("remaining", "tails")

    def __init__(self, cut: Cut) -> None:
        self.remaining: Optional[int] = None if cut.match is not None else cut.after
        self.tails = {UP: b"", DOWN: b""}   # the end of what went by, to find a split match


class _Link:
    """A proxied connection: the client socket, the server socket and the two pipes."""

    __slots__ = ("client", "server", "up", "down", "connecting", "closing", "dead", "cuts")

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client = client
        self.server = server
        self.up = _Pipe(UP, client, server)
        self.down = _Pipe(DOWN, server, client)
        self.connecting = True    # the upstream connect is in progress
        self.closing = False      # a FIN was sent both ways: read and drop until EOFs
        self.dead = False
        self.cuts: Dict[Cut, _CutState] = {}

    def pipes(self) -> Tuple[_Pipe, _Pipe]:
        """Both pipes, up first."""
        return (self.up, self.down)

    def other(self, pipe: _Pipe) -> _Pipe:
        """The pipe going the other way (its source is `pipe`'s destination)."""
        return self.down if pipe is self.up else self.up


class _Call:
    """A function handed to the loop thread, and its outcome."""

    __slots__ = ("fn", "done", "result", "error")

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.result: Any = None
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        """Call the function on this (the loop) thread and wake the caller."""
        try:
            self.result = self.fn()
        except BaseException as exc:  # handed back to the caller
            self.error = exc
        self.done.set()


def _close_quietly(sock: socket.socket, reset: bool = False) -> None:
    """Close `sock`, with RST rather than FIN when `reset`."""
    try:
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST)
    except OSError:
        pass
    sock.close()


class ProxyLoop:
    """The loop thread's state and body; FaultProxy is its public face."""

    def __init__(self, listener: socket.socket, upstream: Endpoint, buffer_size: int,
                 rng: random.Random, name: str) -> None:
        self._listener = listener
        self._upstream = upstream
        self._buffer_size = buffer_size
        self._rng = rng
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._masks: Dict[socket.socket, int] = {}
        self._links: List[_Link] = []
        self.faults: List[Fault] = []
        self._shapes = {UP: Shape(), DOWN: Shape()}
        self._lock = threading.Lock()
        self._calls: Deque[_Call] = deque()
        self._running = False
        self._stopping = False
        self.accepted = threading.Condition()
        self.stats: Dict[str, int] = dict.fromkeys(
            ("connections", "open", "up_bytes", "down_bytes", "up_dropped", "down_dropped",
             "resets", "closes", "refused", "peak_buffered"), 0)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    # --- other threads ----------------------------------------------------------------

    def start(self) -> None:
        """Start the loop thread; calls go through it from now on."""
        with self._lock:
            self._running = True
        self._thread.start()

    def stop(self) -> None:
        """End the loop, close every socket, and join the thread."""
        with self._lock:
            self._stopping = True
        self._wake()
        if self._thread.is_alive():
            self._thread.join()
        self._close_all()

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the loop thread (inline when the loop does not run) and return
        its result once it has: a fault is in effect when the method adding it returns."""
        item = _Call(fn)
        with self._lock:
            if not self._running:
                return fn()
            self._calls.append(item)
        self._wake()
        if not item.done.wait(_CALL_TIMEOUT):
            raise RuntimeError("the FaultProxy loop did not answer")
        if item.error is not None:
            raise item.error
        result: T = item.result
        return result

    def _wake(self) -> None:
        """Interrupt the loop's select()."""
        try:
            self._wake_w.send(b"\0")
        except OSError:  # full (a wake-up is pending anyway) or closed
            pass

    # --- faults (on the loop thread) --------------------------------------------------

    def add(self, fault: Fault) -> None:
        """Switch `fault` on for every link (on the loop thread)."""
        self.faults.append(fault)
        fault.active = True
        self._reshape()
        for link in list(self._links):
            if isinstance(fault, Cut):
                link.cuts[fault] = _CutState(fault)
            if isinstance(fault, Blackhole):
                for pipe in link.pipes():
                    if fault.applies(pipe.direction) and pipe.queued:
                        self._count_dropped(pipe, pipe.drop())
                        pipe.swallowed = True
            self._settle(link)

    def remove(self, fault: Fault) -> None:
        """Switch `fault` off; links a removed black hole swallowed from are reset."""
        if fault not in self.faults:
            return
        self.faults.remove(fault)
        fault.active = False
        self._reshape()
        for link in list(self._links):
            link.cuts.pop(fault, None)  # type: ignore[call-overload]
            self._settle(link)

    def _reshape(self) -> None:
        """Recompute what the faults do to each direction."""
        self._shapes = {d: shape_of(self.faults, d) for d in (UP, DOWN)}

    def cut_all(self, reset: bool) -> int:
        """Reset (or close with FIN) every open connection now; how many there were."""
        links = [link for link in self._links if not link.closing]
        for link in links:
            if reset:
                self._reset(link)
            else:
                self._close(link)
        return len(links)

    # --- the loop ---------------------------------------------------------------------

    def _run(self) -> None:
        """The loop: run the calls handed in, write what is due, wait for sockets."""
        self._listener.setblocking(False)
        self._sel.register(self._listener, selectors.EVENT_READ, "listen")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while True:
                with self._lock:
                    calls = list(self._calls)
                    self._calls.clear()
                    if self._stopping:
                        self._running = False
                for item in calls:
                    item.run()
                if not self._running:
                    break
                now = time.monotonic()
                for link in list(self._links):
                    self._pump(link, link.up, now)
                    self._pump(link, link.down, now)
                    self._settle(link)
                timeout = self._register(now)
                for key, mask in self._sel.select(timeout):
                    self._on_event(key.data, mask)
        finally:
            with self._lock:
                self._running = False
                calls = list(self._calls)
                self._calls.clear()
            for item in calls:
                item.run()

    def _close_all(self) -> None:
        """Close every link, the listener and the wake-up pair (after the loop ended)."""
        for link in list(self._links):
            self._forget(link, reset=False)
        self._sel.close()
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()

    def _register(self, now: float) -> Optional[float]:
        """Tell the selector what each socket waits for; the time until a write is due."""
        wanted: Dict[socket.socket, Tuple[int, Any]] = {}
        due: Optional[float] = None
        for link in self._links:
            client = server = 0
            if link.connecting:
                server = selectors.EVENT_WRITE
            else:
                if self._readable(link, link.up):
                    client |= selectors.EVENT_READ
                if self._readable(link, link.down):
                    server |= selectors.EVENT_READ
                for pipe in link.pipes():
                    if pipe.want_write:
                        if pipe is link.up:
                            server |= selectors.EVENT_WRITE
                        else:
                            client |= selectors.EVENT_WRITE
                    elif pipe.chunks and not pipe.dst_dead:
                        at = max(pipe.chunks[0][0], pipe.next_write)
                        due = at if due is None else min(due, at)
            wanted[link.client] = (client, (link, link.up))
            wanted[link.server] = (server, (link, link.down))
        for sock in [s for s in self._masks if s not in wanted]:
            self._sel.unregister(sock)
            del self._masks[sock]
        for sock, (mask, data) in wanted.items():
            old = self._masks.get(sock, 0)
            if mask == old:
                continue
            if not mask:
                self._sel.unregister(sock)
                del self._masks[sock]
            elif not old:
                self._sel.register(sock, mask, data)
                self._masks[sock] = mask
            else:
                self._sel.modify(sock, mask, data)
                self._masks[sock] = mask
        return None if due is None else max(0.0, due - now)

    def _readable(self, link: _Link, pipe: _Pipe) -> bool:
        """Whether to read from the pipe's source: not at EOF, and room (or a sink)."""
        if pipe.eof:
            return False
        return self._sinks(link, pipe) or pipe.queued < self._buffer_size

    def _sinks(self, link: _Link, pipe: _Pipe) -> bool:
        """Whether what the pipe reads is dropped rather than kept."""
        return link.closing or pipe.dst_dead or self._shapes[pipe.direction].blackhole

    def _on_event(self, data: Any, mask: int) -> None:
        """Dispatch one ready socket: the listener, the wake-up pair or a link's end."""
        if data == "listen":
            self._accept()
            return
        if data == "wake":
            try:
                while self._wake_r.recv(4096):
                    pass
            except OSError:
                pass
            return
        link, pipe = data   # `pipe` is the one this socket is the source of
        if link.dead:
            return
        if link.connecting:
            self._connected(link)
            return
        if mask & selectors.EVENT_WRITE:
            link.other(pipe).want_write = False
        if mask & selectors.EVENT_READ:
            self._read(link, pipe)

    # --- connections ------------------------------------------------------------------

    def _accept(self) -> None:
        """Accept every waiting client and start its upstream connect."""
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # nothing more to accept (or out of descriptors)
                return
            client.setblocking(False)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            host, port = self._upstream()
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            server = socket.socket(family, socket.SOCK_STREAM)
            server.setblocking(False)
            server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(client, server)
            self._links.append(link)
            self.stats["open"] = len(self._links)
            with self.accepted:
                self.stats["connections"] += 1
                self.accepted.notify_all()
            code = server.connect_ex((host, port))
            if code == 0:
                self._connected(link)
            elif code not in _CONNECTING:
                self.stats["refused"] += 1
                self._reset(link)

    def _connected(self, link: _Link) -> None:
        """The upstream connect finished: start forwarding, or reset the client."""
        if link.server.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self.stats["refused"] += 1
            self._reset(link)
            return
        link.connecting = False
        for cut in self.faults:
            if isinstance(cut, Cut):
                link.cuts[cut] = _CutState(cut)
        self._settle(link)

    def _forget(self, link: _Link, reset: bool) -> None:
        """Close both sockets of a link and drop it."""
        link.dead = True
        for sock in (link.client, link.server):
            if self._masks.pop(sock, 0):
                self._sel.unregister(sock)
            _close_quietly(sock, reset)
        if link in self._links:
            self._links.remove(link)
        self.stats["open"] = len(self._links)

    def _reset(self, link: _Link) -> None:
        """RST both sides at once; what the proxy held is lost."""
        self.stats["resets"] += 1
        self._forget(link, reset=True)

    def _close(self, link: _Link) -> None:
        """FIN both sides at once; then read and drop until both have closed too."""
        if link.connecting:
            self._forget(link, reset=False)
            return
        self.stats["closes"] += 1
        link.closing = True
        link.cuts.clear()
        for pipe in link.pipes():
            pipe.drop()
            if not pipe.shut and not pipe.dst_dead:
                self._shut(pipe)
        self._settle(link)

    @staticmethod
    def _shut(pipe: _Pipe) -> None:
        """Pass the EOF on: a FIN to the pipe's destination."""
        try:
            pipe.dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        pipe.shut = True

    def _settle(self, link: _Link) -> None:
        """Act on what the last reads, writes and fault changes left: fire cuts, reset a
        connection a removed black hole swallowed from, pass EOFs on, end finished links."""
        if link.dead or link.connecting:
            return
        for cut, state in list(link.cuts.items()):
            if state.remaining == 0:
                self._fire(link, cut)
                return
        done = 0
        for pipe in link.pipes():
            holed = self._shapes[pipe.direction].blackhole and not link.closing
            if pipe.swallowed and not holed:
                self._reset(link)
                return
            if pipe.eof and not pipe.chunks and not pipe.shut and not pipe.dst_dead and not holed:
                self._shut(pipe)
            if pipe.eof and (pipe.shut or pipe.dst_dead or pipe.swallowed or link.closing):
                done += 1
        if done == 2:
            self._forget(link, reset=False)

    # --- moving bytes -----------------------------------------------------------------

    def _read(self, link: _Link, pipe: _Pipe) -> None:
        """Read what the pipe's source has: keep it, due after the latency, or drop it."""
        sink = self._sinks(link, pipe)
        size = _READ_SIZE if sink else min(_READ_SIZE, self._buffer_size - pipe.queued)
        try:
            data = pipe.src.recv(size)
        except BlockingIOError:
            return
        except OSError:
            self._src_failed(link, pipe)
            return
        holed = self._shapes[pipe.direction].blackhole and not link.closing
        if not data:
            pipe.eof = True
            pipe.swallowed = pipe.swallowed or holed
            return
        if sink:
            if holed:
                pipe.swallowed = True
                self._count_dropped(pipe, len(data))
            return
        shape = self._shapes[pipe.direction]
        due = time.monotonic() + shape.delay
        if shape.jitter:
            due += self._rng.uniform(-shape.jitter, shape.jitter)
        due = max(due, pipe.last_due)
        pipe.last_due = due
        pipe.chunks.append((due, data))
        pipe.queued += len(data)
        if pipe.queued > self.stats["peak_buffered"]:
            self.stats["peak_buffered"] = pipe.queued

    def _count_dropped(self, pipe: _Pipe, n: int) -> None:
        """Count `n` bytes a black hole swallowed."""
        self.stats[f"{pipe.direction}_dropped"] += n

    def _src_failed(self, link: _Link, pipe: _Pipe) -> None:
        """The pipe's source reset: pass the RST on, unless a black hole swallows it."""
        pipe.eof = True
        if link.closing:
            return
        if self._shapes[pipe.direction].blackhole:
            pipe.swallowed = True
            other = link.other(pipe)
            other.dst_dead = True
            other.drop()
            return
        self._reset(link)

    def _pump(self, link: _Link, pipe: _Pipe, now: float) -> None:
        """Write what is due on `pipe`, within its bandwidth, slicing and cuts."""
        if link.dead or link.connecting or pipe.want_write or pipe.dst_dead:
            return
        shape = self._shapes[pipe.direction]
        while pipe.chunks:
            due, data = pipe.chunks[0]
            if due > now or pipe.next_write > now:
                return
            view = memoryview(data)[pipe.offset:]
            size = len(view)
            if shape.slice_size is not None:
                size = min(size, shape.slice_size)
            if shape.rate is not None:
                size = min(size, max(1, int(shape.rate * _QUANTUM)))
            size = self._cut_limit(link, pipe, view[:size])
            try:
                n = pipe.dst.send(view[:size])
            except BlockingIOError:
                pipe.want_write = True
                return
            except OSError:
                self._src_failed(link, link.other(pipe))   # dst reset us: it is a source too
                return
            pipe.offset += n
            pipe.queued -= n
            self.stats[f"{pipe.direction}_bytes"] += n
            if pipe.offset == len(data):
                pipe.chunks.popleft()
                pipe.offset = 0
            if self._count_cuts(link, pipe, view[:n]):
                return
            if n < size:
                pipe.want_write = True
                return
            if shape.rate is not None:
                pipe.next_write = now + n / shape.rate
            if shape.slice_size is not None:
                pipe.next_write = max(pipe.next_write, now + shape.slice_interval)

    def _cut_limit(self, link: _Link, pipe: _Pipe, piece: memoryview) -> int:
        """How much of `piece` may go before a cut falls (at least 1 byte)."""
        limit = len(piece)
        for cut, state in link.cuts.items():
            if not cut.applies(pipe.direction):
                continue
            if state.remaining is None:
                assert cut.match is not None
                tail = state.tails[pipe.direction]
                at = (tail + piece.tobytes()).find(cut.match)
                if at < 0:
                    continue
                state.remaining = at + len(cut.match) - len(tail) + cut.after
            limit = min(limit, state.remaining)
        return limit

    def _count_cuts(self, link: _Link, pipe: _Pipe, written: memoryview) -> bool:
        """Count `written` towards the link's cuts; True if one fired."""
        for cut, state in list(link.cuts.items()):
            if not cut.applies(pipe.direction):
                continue
            if state.remaining is None:
                assert cut.match is not None
                keep = len(cut.match) - 1
                tail = state.tails[pipe.direction] + written.tobytes()
                state.tails[pipe.direction] = tail[len(tail) - keep:] if keep else b""
                continue
            state.remaining -= len(written)
            if state.remaining <= 0:
                self._fire(link, cut)
                return True
        return False

    def _fire(self, link: _Link, cut: Cut) -> None:
        """End `link` as `cut` says, then count it (removing a cut that is used up)."""
        if cut.how == "reset":
            self._reset(link)
        else:
            self._close(link)
        if cut._fire():
            self.remove(cut)
