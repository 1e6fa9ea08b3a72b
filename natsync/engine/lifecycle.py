"""The connection lifecycle: connect, reconnect through the server pool, lame duck, the
PING timer, the connection callbacks, and close.

The reader thread (reader.py) runs the reconnect loop when a connection is lost; a
reconnect installs the new socket with the subscriptions first, then what was published
while disconnected. Every thread the client starts is joined by close().
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
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional, Sequence, Union

from ..errors import (
    AuthorizationError,
    ConnectionClosedError,
    ConnectionDrainingError,
    Error,
    ForkError,
    NoServersError,
    StaleConnectionError,
    TimeoutError,
    UnexpectedEOF,
)
from ..options import Options
from ..protocol import PING_FRAME, encode_sub, encode_unsub, publications
from ..servers import Server, ServerPool, servers_from, wait_before
from ..subscription import Subscription
from .handshake import Connection, max_payload_of, open_connection
from .mux import ReplyMux, Waiter
from .states import CLOSED, CONNECTED, CONNECTING, DRAINING_PUBS, DRAINING_SUBS, RECONNECTING
from .writer import Outbound

log = logging.getLogger("natsync")

_JOIN_TIMEOUT = 5.0
#: How long close() waits for the server to confirm it read the last frames.
_CLOSE_CONFIRM_TIMEOUT = 1.0

_live_clients: weakref.WeakSet[Lifecycle] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for client in list(_live_clients):
        client._forked = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Lifecycle(Outbound):
    """Connection state and the threads that keep a connection: the engine's core."""

    def __init__(self, servers: Union[str, Sequence[str], None], options: Options) -> None:
        super().__init__(options)
        self._pool = ServerPool(servers_from(servers), randomize=not options.dont_randomize)
        self._forked = False
        self._conn: Optional[Connection] = None
        self._server: Optional[Server] = None
        self._server_info: dict[str, Any] = {}
        self._last_error: Optional[Exception] = None
        self._lost_error: Optional[Exception] = None

        self._subs: dict[int, Subscription] = {}
        self._sid = itertools.count(1)
        self._resp_sid = 0
        self._resp_prefix = ""
        self._resp_prefix_b = b""
        self._mux = ReplyMux(self)

        self._in_msgs = self._in_bytes = 0
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

    def _read_forever(self) -> None:
        """The reader thread's body (reader.py)."""
        raise NotImplementedError

    # --- connecting ------------------------------------------------------------------

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

    # --- losing and regaining the connection -----------------------------------------

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

    # --- closing -----------------------------------------------------------------------

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

    def _own_threads(self) -> list[threading.Thread]:
        return [self._reader, self._flusher, self._cb_thread]

    # --- callbacks, errors and checks ---------------------------------------------------

    def _schedule(self, fn: Callable[..., Any], *args: Any) -> None:
        self._callbacks.put(lambda: fn(*args))

    def _report_error(self, err: Exception) -> None:
        """Hand an asynchronous error to error_cb (or the log when there is none)."""
        if self.options.error_cb is not None:
            self._schedule(self.options.error_cb, err)
        else:
            log.error("natsync: %s", err)

    def _run_callbacks(self) -> None:
        while True:
            fn = self._callbacks.get()
            if fn is None:
                return
            try:
                fn()
            except Exception:
                log.exception("natsync: a connection callback raised")

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


