"""The client: connection state, the reader and flusher threads, and the blocking API.

Threads (all daemon, named `natsync-...`, all joined by `close()`):
- reader: owns the socket's read side; parses bytes into events, hands messages to
  subscriptions in batches, answers PINGs, and runs the reconnect loop when a connection
  is lost. It never runs user code.
- flusher: writes the outbound buffer with as few syscalls as possible and sends the
  client's own PINGs every `ping_interval`.
- callbacks: runs the connection callbacks (error_cb, disconnected_cb, ...) in order.
- one dispatcher per callback subscription (see subscription.py).

One lock (`_out_lock`) guards the outbound buffer, the subscription table and the
connection state, so a reconnect can rebuild the buffer (SUBs first, then what was
published while disconnected) atomically with respect to publishers.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import os
import queue
import socket
import threading
import time
import weakref
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence, Union

from .connection import Connection, max_payload_of, open_connection
from .debuglog import trace_received, trace_sent
from .errors import (
    AuthorizationError,
    BadArgumentError,
    BadSubscriptionError,
    BadTimeoutError,
    ConnectionClosedError,
    ConnectionDrainingError,
    DrainTimeoutError,
    Error,
    FlushTimeoutError,
    ForkError,
    InvalidCallbackError,
    MaxPayloadError,
    NoRespondersError,
    NoServersError,
    OutboundBufferLimitError,
    PermissionsError,
    ProtocolError,
    SlowConsumerError,
    StaleConnectionError,
    TimeoutError,
    UnexpectedEOF,
    server_error,
)
from .headers import HeadersLike, encode_headers
from .msg import Msg
from .mux import ManyWaiter, ReplyHandler, ReplyMux, Waiter, no_responders
from .nuid import next_nuid
from .options import Options, make_options
from .protocol import (
    ERR,
    INFO,
    MSG,
    PING,
    PING_FRAME,
    PONG,
    PONG_FRAME,
    Event,
    encode_sub,
    encode_unsub,
    frame_start,
    publications,
)
from .servers import Server, ServerPool, servers_from, wait_before
from .subjects import check_queue, check_subject, publish_subject
from .subscription import MsgHandler, Subscription, SubscriptionDrained, Unsubscribed

if TYPE_CHECKING:
    from .js.context import JetStreamContext
    from .js.manager import JetStreamManager

log = logging.getLogger("natsync")

DEFAULT_SUB_PENDING_MSGS_LIMIT = 512 * 1024
DEFAULT_SUB_PENDING_BYTES_LIMIT = 128 * 1024 * 1024

# Connection states.
CONNECTING = "CONNECTING"
CONNECTED = "CONNECTED"
RECONNECTING = "RECONNECTING"
DRAINING_SUBS = "DRAINING_SUBS"
DRAINING_PUBS = "DRAINING_PUBS"
CLOSED = "CLOSED"

_RECV_SIZE = 256 * 1024
_JOIN_TIMEOUT = 5.0
#: How long close() waits for the server to confirm it read the last frames.
_CLOSE_CONFIRM_TIMEOUT = 1.0

_live_clients: weakref.WeakSet[Client] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for client in list(_live_clients):
        client._forked = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _payload_bytes(payload: Any) -> bytes:
    """bytes from bytes-like payloads; a clear TypeError for str and everything else."""
    if isinstance(payload, (bytearray, memoryview)):
        return bytes(payload)
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        raise TypeError("payload must be bytes, not str: encode it first, e.g. "
                        "payload.encode() or json.dumps(obj).encode()")
    raise TypeError(f"payload must be bytes, bytearray or memoryview, not {type(payload).__name__}")


def _check_timeout(timeout: Optional[float], name: str = "timeout") -> None:
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout < 0):
        raise BadTimeoutError(f"{name} must be a non-negative number of seconds or None, got {timeout!r}")


class Client:
    """A connection to a NATS system. Create it with `natsync.connect()`; thread-safe."""

    def __init__(self, servers: Union[str, Sequence[str], None], options: Options) -> None:
        self.options = options
        self._pool = ServerPool(servers_from(servers), randomize=not options.dont_randomize)
        self._forked = False
        self._state = CONNECTING
        self._conn: Optional[Connection] = None
        self._sock: Optional[socket.socket] = None
        self._server: Optional[Server] = None
        self._server_info: dict[str, Any] = {}
        self._max_payload = 1024 * 1024
        self._last_error: Optional[Exception] = None
        self._lost_error: Optional[Exception] = None

        self._out = bytearray()
        self._pending_size = options.pending_size
        self._out_lock = threading.Lock()
        self._data_cond = threading.Condition(self._out_lock)   # the flusher waits here
        self._room_cond = threading.Condition(self._out_lock)   # publishers and reconnects
        self._flusher_idle = False
        self._room_waiters = 0
        self._sending = False
        self._stopping = False
        self._pongs: deque[Optional[Waiter]] = deque()
        self._pings_out = 0

        self._subs: dict[int, Subscription] = {}
        self._sid = itertools.count(1)
        self._resp_sid = 0
        self._resp_prefix = ""
        self._resp_prefix_b = b""
        self._mux = ReplyMux(self)

        self._in_msgs = self._in_bytes = self._out_msgs = self._out_bytes = 0
        self._reconnects = self._errors_received = 0
        self._close_hooks: list[Callable[[], None]] = []
        self._auth_index = 0
        self._closed_event = threading.Event()
        self._closed_done = threading.Event()
        self._callbacks: queue.SimpleQueue[Optional[Callable[[], Any]]] = queue.SimpleQueue()
        self._cb_thread = threading.Thread(target=self._run_callbacks,
                                           name="natsync-callbacks", daemon=True)
        self._reader = threading.Thread(target=self._read_forever, name="natsync-reader",
                                        daemon=True)
        self._flusher = threading.Thread(target=self._flush_forever, name="natsync-flusher",
                                         daemon=True)
        _live_clients.add(self)

    # --- connecting ---------------------------------------------------------------------

    def _connect(self) -> None:
        """The first connection: try each server once; raise if none works."""
        errors: list[Exception] = []
        for _ in range(len(self._pool)):
            srv = self._pool.next()
            if srv is None:
                break
            srv.last_attempt = time.monotonic()
            try:
                conn = self._open(srv, first=True)
            except Exception as exc:
                log.debug("connect to %s failed: %s", srv.url, exc)
                srv.reconnects += 1
                errors.append(exc)
                continue
            srv.did_connect = True
            srv.reconnects = 0
            self._install(conn)
            self._start_threads()
            return
        if self.options.retry_on_failed_connect and self.options.allow_reconnect:
            with self._out_lock:
                self._state = RECONNECTING
            self._start_threads()
            return
        _live_clients.discard(self)
        if not errors:
            raise NoServersError()
        # A credential or TLS problem is more useful than "no servers".
        for failure in errors:
            if not isinstance(failure, (OSError, TimeoutError, UnexpectedEOF)):
                raise failure
        raise NoServersError(f"nats: no servers available for connection "
                             f"({errors[-1]})") from errors[-1]

    def _open(self, srv: Server, first: bool) -> Connection:
        """Handshake with `srv`. With a list of authenticators, the first connect tries each
        in turn; reconnects start from the one that last worked and move on after a refusal."""
        auths = self.options.authenticators()
        if len(auths) <= 1:
            return open_connection(srv, self.options)
        tries = len(auths) if first else 1
        for k in range(tries):
            index = (self._auth_index + k) % len(auths)
            try:
                conn = open_connection(srv, replace(self.options, authenticator=auths[index]))
            except AuthorizationError:
                if k + 1 == tries:
                    self._auth_index = (index + 1) % len(auths)
                    raise
                continue
            self._auth_index = index
            return conn
        raise AssertionError("unreachable")  # pragma: no cover

    def _start_threads(self) -> None:
        self._cb_thread.start()
        self._flusher.start()
        self._reader.start()

    def _install(self, conn: Connection) -> None:
        """Make `conn` the current connection: SUBs first, then the buffered publications."""
        with self._out_lock:
            while self._sending:  # the flusher is failing over the old socket's last write
                self._room_cond.wait(0.05)
            frames: list[bytes] = []
            for sub in self._subs.values():
                frames.append(encode_sub(sub.subject, sub.sid, sub.queue))
                if sub._max:
                    frames.append(encode_unsub(sub.sid, max(1, sub._max - sub._received)))
            if self._resp_sid:
                frames.append(encode_sub(self._resp_prefix + "*", self._resp_sid))
            frames.append(publications(bytes(self._out)))
            waiters = [w for w in self._pongs if w is not None and not w.abandoned]
            self._pongs = deque(waiters)
            frames.append(PING_FRAME * len(waiters))
            self._out = bytearray(b"".join(frames))
            self._conn = conn
            self._sock = conn.sock
            self._server = conn.server
            self._server_info = conn.info
            self._max_payload = max_payload_of(conn.info)
            conn.parser.max_payload = max(conn.parser.max_payload, self._max_payload)
            self._pings_out = 0
            self._lost_error = None
            if self._state in (CONNECTING, RECONNECTING):
                self._state = CONNECTED
            self._data_cond.notify_all()
            self._room_cond.notify_all()
        self._on_info(conn.info, initial=True)

    # --- the reader thread --------------------------------------------------------------

    def _read_forever(self) -> None:
        conn = self._conn
        while not self._stopping:
            if conn is not None:
                err = self._read(conn)
                if self._stopping:
                    break
                self._lose_connection(conn, err)
                if not self.options.allow_reconnect:
                    self._close(err)
                    return
            conn = self._reconnect()
            if conn is None:
                return

    def _read(self, conn: Connection) -> Exception:
        """Read and process until the connection fails; return why it did."""
        sock = conn.sock
        feed = conn.parser.feed
        debug = self.options.debug
        mux = self._mux
        try:
            if conn.leftover:
                self._process(conn.leftover)
                conn.leftover = []
            while True:
                data = sock.recv(_RECV_SIZE)
                if not data:
                    return self._lost_error or UnexpectedEOF()
                events = feed(data)
                if debug:
                    trace_received(events)
                self._process(events)
                if mux.ready:
                    mux.wake_one()
                if self._lost_error is not None:
                    return self._lost_error
        except ProtocolError as exc:
            self._report_error(exc)
            return exc
        except _ConnectionEnded as ended:
            return ended.error
        except OSError as exc:
            return self._lost_error or exc

    def _process(self, events: list[Event]) -> None:
        """Hand a batch of events to their subscriptions and waiters, in stream order.

        Messages are grouped per subscription, and each group is delivered before any
        control event that follows it, so a PONG never completes a flush() ahead of the
        messages the server sent before it.
        """
        subs = self._subs
        batch: Optional[dict[Subscription, list[Msg]]] = None
        last: Optional[Subscription] = None  # consecutive messages usually share a sub
        group: list[Msg] = []
        nmsgs = nbytes = 0
        for ev in events:
            if ev[0] == MSG:
                sid = ev[1]
                payload = ev[4]
                nmsgs += 1
                nbytes += len(payload)
                sub = subs.get(sid)
                if sub is None:
                    if sid == self._resp_sid:
                        self._deliver_reply(ev)
                    continue
                msg = Msg(self, ev[2], ev[3], payload, ev[5])
                if sub is last:
                    group.append(msg)
                    continue
                if batch is None:
                    batch = {}
                found = batch.get(sub)
                if found is None:
                    found = batch[sub] = []
                found.append(msg)
                last, group = sub, found
            else:
                if batch is not None:
                    self._deliver_batch(batch)
                    batch = last = None
                self._control(ev)
        if nmsgs:
            self._in_msgs += nmsgs
            self._in_bytes += nbytes
        if batch is not None:
            self._deliver_batch(batch)

    def _deliver_batch(self, batch: dict[Subscription, list[Msg]]) -> None:
        for sub, msgs in batch.items():
            dropped, new_episode = sub._deliver(msgs)
            if new_episode:
                self._report_error(SlowConsumerError(sub.subject, sub.sid, dropped))
            if sub._ended is not None:
                with self._out_lock:
                    if self._subs.get(sub.sid) is sub:
                        del self._subs[sub.sid]

    def _deliver_reply(self, ev: Event) -> None:
        subject: str = ev[2]
        self._mux.deliver(subject[len(self._resp_prefix):], Msg(self, subject, ev[3], ev[4], ev[5]))

    def _control(self, ev: Event) -> None:
        op = ev[0]
        if op == PING:
            self._write(PONG_FRAME)
        elif op == PONG:
            self._pings_out = 0
            if self._pongs:
                waiter = self._pongs.popleft()
                if waiter is not None:
                    waiter.deliver(True)
        elif op == INFO:
            self._server_info = ev[1]
            self._max_payload = max_payload_of(ev[1])
            self._on_info(ev[1], initial=False)
        elif op == ERR:
            self._on_err(ev[1])

    def _on_err(self, text: str) -> None:
        self._errors_received += 1
        err = server_error(text)
        self._last_error = err
        if isinstance(err, PermissionsError):
            self._report_error(err)
            if err.operation == "subscription":
                self._end_subs_on(err)
            return
        self._report_error(err)
        if "stale connection" in text.lower():
            raise _ConnectionEnded(StaleConnectionError())
        raise _ConnectionEnded(err)

    def _end_subs_on(self, err: PermissionsError) -> None:
        with self._out_lock:
            hit = [s for s in self._subs.values() if s.subject == err.subject]
            for sub in hit:
                del self._subs[sub.sid]
        for sub in hit:
            sub._end(err, clean=False)

    def _on_info(self, info: dict[str, Any], initial: bool) -> None:
        """Learn cluster members and lame-duck notices from INFO."""
        urls = info.get("connect_urls")
        if isinstance(urls, list) and not self.options.ignore_discovered_servers:
            scheme = self._server.scheme if self._server is not None else "nats"
            with self._out_lock:
                added = self._pool.add_discovered(urls, scheme, not self.options.dont_randomize)
                deleted = self._pool.drop_discovered(urls, self._server) if urls else []
            cb = self.options.discovered_server_cb
            if (added or deleted) and not initial and cb is not None:
                change = ServersChanged(added=added, deleted=deleted)
                if _takes_argument(cb):
                    self._schedule(cb, change)
                else:
                    self._schedule(cb)
        if info.get("ldm"):
            if self.options.lame_duck_mode_cb is not None:
                self._schedule(self.options.lame_duck_mode_cb)
            if len(self._pool) > 1:
                # Move before the server evicts us; the reconnect skips to another server.
                self._lose_socket(self._sock, None)

    # --- losing and regaining the connection ------------------------------------------

    def _lose_socket(self, sock: Optional[socket.socket], err: Optional[Exception]) -> None:
        """End the current connection (from any thread); the reader then reconnects."""
        if sock is None or sock is not self._sock:
            return
        if self._lost_error is None:
            self._lost_error = err or _ForcedReconnect()
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _lose_connection(self, conn: Connection, err: Exception) -> None:
        with self._out_lock:
            if self._state == CLOSED:
                return
            self._sock = None
            if self._state in (CONNECTED, CONNECTING):
                self._state = RECONNECTING
            self._room_cond.notify_all()
        try:
            conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        with self._out_lock:
            while self._sending:
                self._room_cond.wait(0.05)
        conn.sock.close()
        if not isinstance(err, _ForcedReconnect):
            self._last_error = err
        log.info("disconnected from %s: %s", conn.server.url, err)
        if self.options.disconnected_cb is not None:
            self._schedule(self.options.disconnected_cb)

    def _reconnect(self) -> Optional[Connection]:
        """Cycle through the pool until a server accepts us; None when closing or out of servers."""
        opts = self.options
        attempt = 0
        while not self._stopping:
            with self._out_lock:
                srv = self._pool.next()
            if srv is None:
                self._close(NoServersError())
                return None
            if 0 <= opts.max_reconnect_attempts <= srv.reconnects:
                with self._out_lock:
                    self._pool.remove(srv)
                continue
            if opts.reconnect_delay_handler is not None and srv.last_attempt:
                delay = float(opts.reconnect_delay_handler(attempt))
            else:
                jitter = opts.reconnect_jitter_tls if (opts.tls or srv.wants_tls) else opts.reconnect_jitter
                delay = wait_before(srv, opts.reconnect_time_wait, jitter)
            if delay > 0 and self._closed_event.wait(delay):
                return None
            attempt += 1
            srv.last_attempt = time.monotonic()
            try:
                conn = self._open(srv, first=False)
            except AuthorizationError as exc:
                self._last_error = exc
                self._report_error(exc)
                srv.reconnects += 1
                srv.auth_errors += 1
                if srv.auth_errors >= 2 and not opts.ignore_auth_error_abort:
                    with self._out_lock:
                        self._pool.remove(srv)
                continue
            except Exception as exc:
                log.debug("reconnect to %s failed: %s", srv.url, exc)
                self._last_error = exc
                srv.reconnects += 1
                continue
            if self._stopping:
                conn.sock.close()
                return None
            srv.reconnects = 0
            srv.auth_errors = 0
            srv.did_connect = True
            self._install(conn)
            self._reconnects += 1
            log.info("reconnected to %s", srv.url)
            if opts.reconnected_cb is not None:
                self._schedule(opts.reconnected_cb)
            return conn
        return None

    def force_reconnect(self) -> None:
        """Drop the current connection and reconnect (to the next server of the pool)."""
        self._check_usable()
        self._lose_socket(self._sock, None)

    # --- the flusher thread ---------------------------------------------------------------

    def _flush_forever(self) -> None:
        interval = self.options.ping_interval
        next_ping = time.monotonic() + interval
        while True:
            with self._out_lock:
                while not self._out or self._sock is None or self._sending:
                    if self._stopping and not self._sending:
                        self._room_cond.notify_all()
                        return
                    self._flusher_idle = True
                    self._data_cond.wait(max(0.0, next_ping - time.monotonic()))
                    self._flusher_idle = False
                    if time.monotonic() >= next_ping:
                        next_ping = time.monotonic() + interval
                        self._ping_due()
                data = self._out
                self._out = bytearray()
                sock = self._sock
                self._sending = True
                if self._room_waiters:
                    self._room_cond.notify_all()
            self._send(sock, data)
            if time.monotonic() >= next_ping:
                next_ping = time.monotonic() + interval
                with self._out_lock:
                    self._ping_due()

    def _send(self, sock: socket.socket, data: bytearray) -> None:
        """Write `data` (the caller holds the `_sending` token); on failure put back what
        the kernel did not take, from the start of the frame it cut, and drop the socket."""
        sent = 0
        if self.options.debug:
            trace_sent(bytes(data))
        try:
            view = memoryview(data)
            while sent < len(data):
                sent += sock.send(view[sent:])
        except OSError as exc:
            with self._out_lock:
                self._out[0:0] = data[frame_start(bytes(data), sent):]
            self._lose_socket(sock, exc)
        finally:
            with self._out_lock:
                self._sending = False
                self._room_cond.notify_all()
                if (self._out or self._stopping) and self._flusher_idle:
                    self._data_cond.notify()

    def _enqueue_now(self, frame: bytes, n: int, alone: bool = True) -> None:
        """Like `_enqueue`, but write at once on this thread when nobody is writing.

        Used by request() and respond(), where a hop to the flusher thread would add
        latency; the `_sending` token keeps every write in buffer order. With `alone`
        False (other requests are in flight) the frame is left to the flusher: many
        threads' requests then share one send, and none pays a syscall and the GIL
        hand-offs around it.
        """
        with self._out_lock:
            if self._state is CLOSED:  # checked under the lock: see _enqueue
                raise ConnectionClosedError()
            if len(self._out) >= self._pending_size:
                self._wait_for_room()
            self._out += frame
            self._out_msgs += 1
            self._out_bytes += n
            sock = self._sock
            if self._sending or sock is None or not alone:
                if self._flusher_idle:
                    self._data_cond.notify()
                return
            data = self._out
            self._out = bytearray()
            self._sending = True
        self._send(sock, data)

    def _ping_due(self) -> None:
        """Send the periodic PING, or declare the connection stale. Holds `_out_lock`."""
        if self._state != CONNECTED or self._sock is None:
            return
        if self._pings_out >= self.options.max_outstanding_pings:
            self._lose_socket(self._sock, StaleConnectionError())
            return
        self._pings_out += 1
        self._pongs.append(None)
        self._out += PING_FRAME

    def _write(self, frame: bytes) -> None:
        """Queue a control frame (no backpressure: these are small and must not wait)."""
        with self._out_lock:
            self._out += frame
            if self._flusher_idle:
                self._data_cond.notify()

    # --- publishing -----------------------------------------------------------------------

    def publish(self, subject: str, payload: bytes = b"", reply: str = "",
                headers: Optional[HeadersLike] = None) -> None:
        """Queue a message for sending; returns at once unless the outbound buffer is full.

        While disconnected, up to `pending_size` bytes are kept for the reconnect, then
        OutboundBufferLimitError is raised.
        """
        if self._state is CLOSED or self._forked:
            self._check_usable()
        subj = publish_subject(subject)
        if type(payload) is not bytes:
            payload = _payload_bytes(payload)
        n = len(payload)
        if headers is None and not reply and n <= self._max_payload:
            self._enqueue(b"PUB %b %d\r\n%b\r\n" % (subj, n, payload), n)
        else:
            self._enqueue(self._frame(subj, publish_subject(reply) if reply else b"",
                                      payload, headers), n)

    def _frame(self, subj: bytes, reply: bytes, payload: bytes,
               headers: Optional[HeadersLike]) -> bytes:
        """A PUB or HPUB frame, checked against the server's max_payload."""
        n = len(payload)
        if headers is None:
            if n > self._max_payload:
                raise MaxPayloadError(f"nats: payload of {n} bytes exceeds the server's "
                                      f"max_payload of {self._max_payload}")
            if reply:
                return b"PUB %b %b %d\r\n%b\r\n" % (subj, reply, n, payload)
            return b"PUB %b %d\r\n%b\r\n" % (subj, n, payload)
        hdr = encode_headers(headers)
        hl = len(hdr)
        if hl + n > self._max_payload:
            raise MaxPayloadError(f"nats: message of {hl + n} bytes (headers included) "
                                  f"exceeds the server's max_payload of {self._max_payload}")
        if reply:
            return b"HPUB %b %b %d %d\r\n%b%b\r\n" % (subj, reply, hl, hl + n, hdr, payload)
        return b"HPUB %b %d %d\r\n%b%b\r\n" % (subj, hl, hl + n, hdr, payload)

    def _enqueue(self, frame: bytes, n: int) -> None:
        """Append a message frame to the outbound buffer, waiting for room if it is full.

        The CLOSED check is repeated here, under the lock close() takes to stop the
        flusher: a frame appended after that would return normally and never be sent.
        """
        with self._out_lock:
            if self._state is CLOSED:
                raise ConnectionClosedError()
            if len(self._out) >= self._pending_size:
                self._wait_for_room()
            self._out += frame
            self._out_msgs += 1
            self._out_bytes += n
            if self._flusher_idle:
                self._data_cond.notify()

    def _respond(self, reply: str, payload: bytes, headers: Optional[HeadersLike]) -> None:
        """Publish a reply, written at once when the connection is idle (see _enqueue_now)."""
        if self._state is CLOSED or self._forked:
            self._check_usable()
        if type(payload) is not bytes:
            payload = _payload_bytes(payload)
        self._enqueue_now(self._frame(publish_subject(reply), b"", payload, headers), len(payload))

    def _wait_for_room(self) -> None:
        """Block until the flusher has taken the buffer (holds `_out_lock`)."""
        limit = self._pending_size
        timeout = self.options.flush_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        self._room_waiters += 1
        try:
            while len(self._out) >= limit:
                if self._state == CLOSED:
                    raise ConnectionClosedError()
                if self._sock is None:
                    raise OutboundBufferLimitError(
                        f"nats: outbound buffer limit of {limit} bytes (pending_size) exceeded "
                        "while disconnected")
                if deadline is None:
                    self._room_cond.wait(1.0)
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError("nats: timed out waiting for room in the outbound "
                                           "buffer (flush_timeout)")
                    self._room_cond.wait(remaining)
        finally:
            self._room_waiters -= 1

    def flush(self, timeout: float = 10) -> None:
        """Block until the server has processed everything published so far (PING/PONG).

        While reconnecting it waits for the reconnect, within the same timeout.
        """
        _check_timeout(timeout)
        self._check_usable()
        waiter = Waiter()
        with self._out_lock:
            self._pongs.append(waiter)
            if self._sock is not None:
                self._out += PING_FRAME
                if self._flusher_idle:
                    self._data_cond.notify()
        if not waiter.wait(timeout):
            waiter.abandoned = True
            raise FlushTimeoutError()
        if waiter.error is not None:
            raise waiter.error

    def rtt(self, timeout: float = 10) -> float:
        """Round-trip time to the server, in seconds."""
        start = time.perf_counter()
        self.flush(timeout)
        return time.perf_counter() - start

    # --- subscribing ----------------------------------------------------------------------

    def subscribe(self, subject: str, queue: str = "", cb: Optional[MsgHandler] = None,
                  max_msgs: int = 0, pending_msgs_limit: int = DEFAULT_SUB_PENDING_MSGS_LIMIT,
                  pending_bytes_limit: int = DEFAULT_SUB_PENDING_BYTES_LIMIT) -> Subscription:
        """Subscribe to `subject` (wildcards allowed), optionally in a queue group.

        With `cb`, each message is passed to it on the subscription's own thread, in order;
        without, read messages with `next_msg()` or by iterating the subscription.
        """
        check_subject(subject, wildcards=True)
        check_queue(queue)
        if cb is not None and not callable(cb):
            raise InvalidCallbackError(f"cb must be callable, not {type(cb).__name__}")
        if not isinstance(max_msgs, int) or max_msgs < 0:
            raise BadArgumentError(f"max_msgs must be a non-negative int, got {max_msgs!r}")
        self._check_usable()
        with self._out_lock:
            if self._state in (DRAINING_SUBS, DRAINING_PUBS):
                raise ConnectionDrainingError()
            if self._state == CLOSED:
                raise ConnectionClosedError()
            sid = next(self._sid)
            sub = Subscription(self, sid, subject, queue, cb, max_msgs,
                               pending_msgs_limit, pending_bytes_limit)
            self._subs[sid] = sub
            self._out += encode_sub(subject, sid, queue)
            if max_msgs:
                self._out += encode_unsub(sid, max_msgs)
            if self._flusher_idle:
                self._data_cond.notify()
        sub._start()
        return sub

    def _unsubscribe(self, sub: Subscription, limit: int) -> None:
        self._check_usable()
        with self._out_lock:
            if self._subs.get(sub.sid) is not sub:
                raise BadSubscriptionError()
            if 0 < limit and sub._received < limit:
                sub._max = limit
                self._out += encode_unsub(sub.sid, limit)
                if self._flusher_idle:
                    self._data_cond.notify()
                return
            del self._subs[sub.sid]
            self._out += encode_unsub(sub.sid)
            if self._flusher_idle:
                self._data_cond.notify()
        sub._end(Unsubscribed(), discard=True)

    def _drain_sub(self, sub: Subscription, timeout: Optional[float]) -> None:
        self._check_usable()
        _check_timeout(timeout)
        deadline = time.monotonic() + (self.options.drain_timeout if timeout is None else timeout)
        with self._out_lock:
            if self._subs.get(sub.sid) is not sub:
                raise BadSubscriptionError()
            self._out += encode_unsub(sub.sid)
            if self._flusher_idle:
                self._data_cond.notify()
        try:
            self.flush(max(0.0, deadline - time.monotonic()))
        except FlushTimeoutError:
            raise DrainTimeoutError() from None
        finally:
            with self._out_lock:
                if self._subs.get(sub.sid) is sub:
                    del self._subs[sub.sid]
            sub._end(SubscriptionDrained())
        if not sub._wait_idle(deadline):
            raise DrainTimeoutError()

    # --- request/reply --------------------------------------------------------------------

    def new_inbox(self) -> str:
        """A new unique subject under `inbox_prefix`, for replies."""
        return f"{self.options.inbox_prefix}.{next_nuid()}"

    def _ensure_mux(self) -> None:
        """Subscribe the shared reply inbox (`<prefix>.<nuid>.*`) on first use."""
        if self._resp_sid:
            return
        with self._out_lock:
            if self._resp_sid:
                return
            if self._state in (DRAINING_SUBS, DRAINING_PUBS):
                raise ConnectionDrainingError()
            prefix = self.new_inbox() + "."
            sid = next(self._sid)
            self._out += encode_sub(prefix + "*", sid)
            self._resp_prefix = prefix
            self._resp_prefix_b = prefix.encode()
            self._resp_sid = sid

    def request(self, subject: str, payload: bytes = b"", timeout: float = 0.5,
                headers: Optional[HeadersLike] = None, no_mux: bool = False,
                reply: Optional[str] = None) -> Msg:
        """Publish a request and wait up to `timeout` seconds for the first reply.

        Raises NoRespondersError at once when nobody is subscribed, TimeoutError when
        no reply comes in time. Replies normally arrive on one shared inbox subscription;
        `no_mux=True` subscribes a dedicated inbox (or `reply`, which needs no_mux) for
        this request alone, for accounts that may only receive on certain subjects.
        """
        if self._state is not CONNECTED or self._forked:
            self._check_requestable()
        _check_timeout(timeout)
        if reply is not None and not no_mux:
            raise BadArgumentError("request(): reply= can only be used with no_mux=True")
        subj = publish_subject(subject)
        if type(payload) is not bytes:
            payload = _payload_bytes(payload)
        if no_mux:
            msg = self._request_no_mux(subj, subject, payload, timeout, headers, reply)
        else:
            msg = self._request_mux(subj, subject, payload, timeout, headers)
        if no_responders(msg):
            raise NoRespondersError(subject)
        return msg

    def _request_mux(self, subj: bytes, subject: str, payload: bytes, timeout: float,
                     headers: Optional[HeadersLike]) -> Msg:
        if not self._resp_sid:
            self._ensure_mux()
        mux = self._mux
        waiter = mux.waiter()
        token = mux.register(waiter)
        try:
            self._enqueue_now(self._frame(subj, self._resp_prefix_b + token.encode(), payload,
                                          headers), len(payload), len(mux.table) == 1)
            woken = waiter.wait(timeout)
            if not woken:
                waiter.abandoned = True
            mux.wake_one()  # the next answered request's thread, whatever happened here
            if not woken and waiter.value is None and waiter.error is None:
                raise TimeoutError(f"nats: timeout waiting for a reply to {subject!r}")
        finally:
            mux.forget(token)
        if waiter.error is not None:
            raise waiter.error
        result: Msg = waiter.value
        return result

    def request_async(self, subject: str, payload: bytes = b"", timeout: Optional[float] = 0.5,
                      headers: Optional[HeadersLike] = None) -> Future[Msg]:
        """Publish a request and return at once a Future of its first reply.

        The reader completes it (no thread per request): `result()` raises
        NoRespondersError or TimeoutError as `request()` does; `cancel()` frees its slot;
        close() fails it with ConnectionClosedError. Use `concurrent.futures.wait()` or
        `as_completed()` to fan out from one thread. Done-callbacks run on the client's
        `natsync-replies` thread: keep them short.
        """
        _check_timeout(timeout)
        future = self._mux.new_future(subject, timeout)
        try:
            self._send_request(subject, payload, future.token, headers)
        except BaseException:
            self._mux.forget(future.token)
            raise
        return future

    def send_request(self, subject: str, payload: bytes, handler: ReplyHandler,
                     headers: Optional[HeadersLike] = None) -> str:
        """Publish a request whose replies the reader hands to `handler`; return its token.

        The seam for subsystems that complete many requests their own way (JetStream's
        publish_async): `handler.deliver(msg)` runs on the reader thread and returns True
        when done; `handler.fail(error)` runs at close. Timing out is the caller's job;
        `forget_request(token)` drops a request whose replies are no longer wanted.
        """
        token = self._mux.register(handler)
        try:
            self._send_request(subject, payload, token, headers)
        except BaseException:
            self._mux.forget(token)
            raise
        return token

    def forget_request(self, token: str) -> None:
        """Stop handing replies to the request `send_request` returned `token` for."""
        self._mux.forget(token)

    def _send_request(self, subject: str, payload: bytes, token: str,
                      headers: Optional[HeadersLike]) -> None:
        if self._state is not CONNECTED or self._forked:
            self._check_requestable()
        subj = publish_subject(subject)
        if type(payload) is not bytes:
            payload = _payload_bytes(payload)
        if not self._resp_sid:
            self._ensure_mux()
        self._enqueue(self._frame(subj, self._resp_prefix_b + token.encode(), payload, headers),
                      len(payload))

    def _request_no_mux(self, subj: bytes, subject: str, payload: bytes, timeout: float,
                        headers: Optional[HeadersLike], reply: Optional[str]) -> Msg:
        inbox = reply if reply is not None else self.new_inbox()
        check_subject(inbox, what="reply subject")
        sub = self.subscribe(inbox, max_msgs=1)
        try:
            self._enqueue_now(self._frame(subj, inbox.encode(), payload, headers), len(payload))
            try:
                return sub.next_msg(timeout)
            except TimeoutError:
                raise TimeoutError(f"nats: timeout waiting for a reply to {subject!r}") from None
        finally:
            if sub.is_valid and not self.is_closed:
                sub.unsubscribe()

    def request_many(self, subject: str, payload: bytes = b"", timeout: float = 1.0,
                     max_msgs: Optional[int] = None, stall: Optional[float] = None,
                     headers: Optional[HeadersLike] = None) -> Iterator[Msg]:
        """Publish a request and iterate over its replies (scatter-gather).

        The iteration ends after `max_msgs` replies, after `timeout` seconds in total,
        when no reply came for `stall` seconds (after the first), or at a reply with an
        empty payload and no headers (the sentinel convention).
        """
        self._check_requestable()
        _check_timeout(timeout)
        _check_timeout(stall, "stall")
        subj = publish_subject(subject)
        payload = _payload_bytes(payload)
        self._ensure_mux()
        waiter = ManyWaiter()
        token = self._mux.register(waiter)
        try:
            self._enqueue(self._frame(subj, self._resp_prefix_b + token.encode(), payload,
                                      headers), len(payload))
        except BaseException:
            self._mux.forget(token)
            raise
        return self._replies(subject, token, waiter, timeout, max_msgs, stall)

    def _replies(self, subject: str, token: str, waiter: ManyWaiter, timeout: float,
                 max_msgs: Optional[int], stall: Optional[float]) -> Iterator[Msg]:
        deadline = time.monotonic() + timeout
        count = 0
        try:
            while max_msgs is None or count < max_msgs:
                wait = deadline - time.monotonic()
                if count and stall is not None:
                    wait = min(wait, stall)
                if wait <= 0:
                    return
                try:
                    item = waiter.queue.get(timeout=wait)
                except queue.Empty:
                    return
                if isinstance(item, Exception):
                    raise item
                if no_responders(item):
                    if count == 0:
                        raise NoRespondersError(subject)
                    return
                if not item.data and item.headers is None:
                    return
                count += 1
                yield item
        finally:
            self._mux.forget(token)

    # --- JetStream --------------------------------------------------------------------------

    def jetstream(self, prefix: str = "$JS.API", domain: Optional[str] = None,
                  timeout: float = 5.0, publish_async_max_pending: int = 4000,
                  required_api_level: Optional[int] = None) -> JetStreamContext:
        """A JetStream context: acknowledged publish, consumers, streams, KV, object store.

        `required_api_level` makes every JetStream API request fail (RequiredApiLevelError)
        on a server below that API level (ADR-44) instead of being misread.
        """
        from .js.context import JetStreamContext

        return JetStreamContext(self, prefix, domain, timeout, publish_async_max_pending,
                                required_api_level)

    def jsm(self, prefix: str = "$JS.API", domain: Optional[str] = None,
            timeout: float = 5.0, required_api_level: Optional[int] = None) -> JetStreamManager:
        """A JetStream manager: streams, consumers, messages and account info."""
        from .js.manager import JetStreamManager

        return JetStreamManager(self, prefix, domain, timeout, required_api_level)

    # --- drain and close ------------------------------------------------------------------

    def drain(self, timeout: Optional[float] = None) -> None:
        """Unsubscribe everything, let callbacks finish what arrived, flush, then close.

        Messages already queued for `next_msg()` subscriptions stay readable after the
        close. Raises DrainTimeoutError (after closing) if it takes longer than
        `drain_timeout` (or `timeout`).
        """
        self._check_usable()
        _check_timeout(timeout)
        deadline = time.monotonic() + (self.options.drain_timeout if timeout is None else timeout)
        with self._out_lock:
            if self._state in (DRAINING_SUBS, DRAINING_PUBS):
                raise ConnectionDrainingError()
            if self._state != CONNECTED:
                connected = False
            else:
                connected = True
                self._state = DRAINING_SUBS
                subs = list(self._subs.values())
                for sub in subs:
                    self._out += encode_unsub(sub.sid)
                if self._flusher_idle:
                    self._data_cond.notify()
        if not connected:
            self.close()
            return
        try:
            self.flush(max(0.0, deadline - time.monotonic()))
            with self._out_lock:
                for sub in subs:
                    if self._subs.get(sub.sid) is sub:
                        del self._subs[sub.sid]
            for sub in subs:
                sub._end(SubscriptionDrained())
            for sub in subs:
                if not sub._wait_idle(deadline):
                    raise DrainTimeoutError()
            with self._out_lock:
                if self._state == DRAINING_SUBS:
                    self._state = DRAINING_PUBS
            self.flush(max(0.0, deadline - time.monotonic()))
        except FlushTimeoutError:
            self._close(DrainTimeoutError())
            raise DrainTimeoutError() from None
        except DrainTimeoutError as exc:
            self._close(exc)
            raise
        self.close()

    def close(self) -> None:
        """Send what is buffered (best effort), stop every thread, and close. Idempotent."""
        if self._forked:
            raise ForkError(_FORK_MESSAGE)
        self._close(None)

    def _close(self, reason: Optional[Exception]) -> None:
        """Stop accepting, send what was accepted, confirm the server read it, then stop.

        The PING queued behind the last frames makes the server's PONG proof that it has
        read everything: only then is the socket dropped, so the RST a close with unread
        input may cause cannot destroy messages still in the server's receive buffer.
        """
        confirm: Optional[Waiter] = None
        with self._out_lock:
            if self._state == CLOSED:
                already = True
            else:
                already = False
                self._state = CLOSED
                self._stopping = True
                if reason is not None:
                    self._last_error = reason
                if self._sock is not None and threading.current_thread() is not self._reader:
                    confirm = Waiter()
                    self._pongs.append(confirm)
                    self._out += PING_FRAME
                self._data_cond.notify_all()
                self._room_cond.notify_all()
        if already:
            if threading.current_thread() not in self._own_threads():
                self._closed_done.wait(_JOIN_TIMEOUT)
            return
        self._closed_event.set()
        _join(self._flusher)
        if confirm is not None and self._reader.is_alive():
            confirm.wait(_CLOSE_CONFIRM_TIMEOUT)
        sock = self._sock
        self._sock = None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        _join(self._reader)
        if sock is not None:
            sock.close()
        closed = ConnectionClosedError()
        while self._pongs:
            w = self._pongs.popleft()
            if w is not None:
                w.fail(closed)
        self._mux.fail_all(ConnectionClosedError())
        self._mux.stop()
        with self._out_lock:
            subs = list(self._subs.values())
            self._subs.clear()
        for sub in subs:
            sub._end(ConnectionClosedError())
        for sub in subs:
            sub._join(_JOIN_TIMEOUT)
        for hook in list(self._close_hooks):
            try:
                hook()
            except Exception:
                log.exception("natsync: a close hook raised")
        if self.options.closed_cb is not None:
            self._schedule(self.options.closed_cb)
        self._callbacks.put(None)
        _join(self._cb_thread)
        _live_clients.discard(self)
        self._closed_done.set()

    def wait_closed(self, timeout: Optional[float] = None) -> Optional[Exception]:
        """Block until the client is closed (by close(), drain() or running out of servers).

        Returns `last_error` (None after a clean close); raises TimeoutError if it is
        still open after `timeout` seconds. nats.js's `closed()`, made blocking.
        """
        _check_timeout(timeout)
        if not self._closed_done.wait(timeout):
            raise TimeoutError("nats: the connection is still open")
        return self._last_error

    def _own_threads(self) -> list[threading.Thread]:
        return [self._reader, self._flusher, self._cb_thread]

    # --- callbacks and errors -------------------------------------------------------------

    def _schedule(self, fn: Callable[..., Any], *args: Any) -> None:
        self._callbacks.put(lambda: fn(*args))

    def _report_error(self, err: Exception) -> None:
        """Hand an asynchronous error to error_cb (or the log when there is none)."""
        if self.options.error_cb is not None:
            self._schedule(self.options.error_cb, err)
        else:
            log.error("natsync: %s", err)

    # --- the seam for subsystems (js/, kv/, obs/, micro/, contrib/) ----------------------

    def report_error(self, err: Exception) -> None:
        """Report an asynchronous error to `error_cb` (on the callbacks thread), as the
        client does its own; for subsystems whose threads have nobody to raise to."""
        self._report_error(err)

    def add_close_hook(self, hook: Callable[[], None]) -> None:
        """Call `hook()` during close(), after the connection's threads have stopped and
        before `closed_cb`; for subsystems that own a thread and must join it at close."""
        self._close_hooks.append(hook)

    def remove_close_hook(self, hook: Callable[[], None]) -> None:
        """Forget a hook given to add_close_hook (no error if it is not there)."""
        try:
            self._close_hooks.remove(hook)
        except ValueError:
            pass

    def _run_callbacks(self) -> None:
        while True:
            fn = self._callbacks.get()
            if fn is None:
                return
            try:
                fn()
            except Exception:
                log.exception("natsync: a connection callback raised")

    # --- checks ---------------------------------------------------------------------------

    def _check_fork(self) -> None:
        if self._forked:
            raise ForkError(_FORK_MESSAGE)

    def _check_usable(self) -> None:
        if self._forked:
            raise ForkError(_FORK_MESSAGE)
        if self._state == CLOSED:
            raise ConnectionClosedError()

    def _check_requestable(self) -> None:
        self._check_usable()
        if self._state in (DRAINING_SUBS, DRAINING_PUBS):
            raise ConnectionDrainingError()

    # --- properties -----------------------------------------------------------------------

    @property
    def stats(self) -> dict[str, int]:
        """Counters: in_msgs, out_msgs, in_bytes, out_bytes, reconnects, errors_received."""
        return {"in_msgs": self._in_msgs, "out_msgs": self._out_msgs,
                "in_bytes": self._in_bytes, "out_bytes": self._out_bytes,
                "reconnects": self._reconnects, "errors_received": self._errors_received}

    @property
    def connected_url(self) -> Optional[str]:
        """The URL of the server currently connected to (no credentials), or None."""
        return self._server.url if self._server is not None and self._sock is not None else None

    @property
    def connected_server_version(self) -> str:
        """The version string the server sent in INFO."""
        return str(self._server_info.get("version", ""))

    @property
    def server_info(self) -> dict[str, Any]:
        """The latest INFO from the server."""
        return dict(self._server_info)

    @property
    def max_payload(self) -> int:
        """The largest message the server accepts, in bytes."""
        return self._max_payload

    @property
    def client_id(self) -> Optional[int]:
        """The id the server gave this connection."""
        value = self._server_info.get("client_id")
        return value if isinstance(value, int) else None

    @property
    def servers(self) -> list[str]:
        """Every server URL in the pool (no credentials)."""
        return [s.url for s in self._pool]

    @property
    def discovered_servers(self) -> list[str]:
        """Server URLs learnt from the cluster's INFO."""
        return self._pool.discovered

    @property
    def is_connected(self) -> bool:
        return self._state == CONNECTED and self._sock is not None

    @property
    def is_closed(self) -> bool:
        return self._state == CLOSED

    @property
    def is_draining(self) -> bool:
        return self._state in (DRAINING_SUBS, DRAINING_PUBS)

    @property
    def is_draining_pubs(self) -> bool:
        return self._state == DRAINING_PUBS

    @property
    def is_reconnecting(self) -> bool:
        return self._state == RECONNECTING

    @property
    def is_connecting(self) -> bool:
        return self._state == CONNECTING

    @property
    def state(self) -> str:
        """CONNECTING, CONNECTED, RECONNECTING, DRAINING_SUBS, DRAINING_PUBS or CLOSED."""
        return self._state

    @property
    def last_error(self) -> Optional[Exception]:
        """The most recent connection error, if any."""
        return self._last_error

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._forked or self._state == CLOSED:
            return
        if exc_type is None and self._state == CONNECTED:
            self.drain()
        else:
            self.close()

    def __repr__(self) -> str:
        url = self.connected_url or "-"
        return f"<natsync.Client {self._state} {url} subs={len(self._subs)}>"


@dataclass(frozen=True)
class ServersChanged:
    """What a cluster update changed in the pool (`host:port` of each server)."""

    added: list[str]
    deleted: list[str]


def _takes_argument(fn: Callable[..., Any]) -> bool:
    """Whether a callback accepts one positional argument (nats-py's take none)."""
    try:
        inspect.signature(fn).bind(None)
    except TypeError:
        return False
    except ValueError:  # no signature available (some builtins): be conservative
        return False
    return True


class _ConnectionEnded(Exception):
    """Raised inside the reader when a server -ERR ends the connection."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class _ForcedReconnect(Error):
    """The connection was dropped on purpose (force_reconnect, lame duck)."""

    def __init__(self) -> None:
        super().__init__("nats: reconnect requested")


_FORK_MESSAGE = ("nats: this client was created in another process; connections do not "
                 "survive fork(). Create the client in the child (e.g. in gunicorn's "
                 "post_fork hook or Celery's worker_process_init signal)")


def _join(thread: threading.Thread) -> None:
    if thread.is_alive() and thread is not threading.current_thread():
        thread.join(_JOIN_TIMEOUT)


def connect(servers: Union[str, Sequence[str], None] = None, **options: Any) -> Client:
    """Connect to NATS and return a ready Client.

    `servers` is a URL, a comma-separated string or a list; when omitted the `NATS_URL`
    environment variable is used, then `nats://127.0.0.1:4222`. Options take nats-py's
    names and defaults (times in seconds).
    """
    client = Client(servers, make_options(options))
    client._connect()
    return client
