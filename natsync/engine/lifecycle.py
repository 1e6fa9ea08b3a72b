"""The lifecycle: the connection's state, its sessions one after another, and its end.

It connects through the dialer, installs each new session (the writer is attached to it
with the subscriptions' SUBs first), runs the reader thread (read a session until it
ends, then reconnect) and the PING timer, acts on INFO (cluster members, lame duck) and
-ERR, and owns flush(), drain() and close(). Every thread the client starts is joined by
close().
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..args import check_timeout
from ..errors import (
    ConnectionClosedError,
    ConnectionDrainingError,
    DrainTimeoutError,
    FlushTimeoutError,
    NoServersError,
)
from ..msg import MsgContext
from ..options import Options
from ..servers import ServerPool
from . import threads
from .callbacks import Callbacks
from .dialer import Dialer, Opener
from .fork import ForkGuard
from .handshake import open_session
from .mux import ReplyMux
from .reader import Reader
from .sender import Sender
from .session import ForcedReconnect, Session
from .states import CLOSED, CONNECTED, CONNECTING, DRAINING_PUBS, DRAINING_SUBS, RECONNECTING
from .subtable import SubTable
from .waiter import Waiter
from .writer import Writer

log = logging.getLogger("natsync")

#: How long close() waits for the server to confirm it read the last frames.
_CLOSE_CONFIRM_TIMEOUT = 1.0


class Lifecycle:
    """Keeps one client connected: state, sessions, the reader and PING threads, close."""

    def __init__(self, options: Options, pool: ServerPool, writer: Writer, sender: Sender,
                 table: SubTable, mux: ReplyMux, callbacks: Callbacks, guard: ForkGuard,
                 ctx: MsgContext, opener: Opener = open_session) -> None:
        self._options = options
        self._dialer = Dialer(pool, options, self._failed_attempt, callbacks.report_error,
                              opener)
        self._writer = writer
        self._lock = writer.lock  # the engine lock: state, session and _held change under it
        self._sender = sender
        self._table = table
        self._mux = mux
        self._callbacks = callbacks
        self._guard = guard
        self.reader = Reader(table, mux, writer, ctx, callbacks.report_error, self._on_info,
                             self._server_error, options.debug)
        self._state = CONNECTING
        self._session: Optional[Session] = None  # the latest session, live or ended
        self._held: list[Waiter] = []  # flush() waiters while no session is live
        self._last_error: Optional[Exception] = None
        #: Successful reconnects so far.
        self.reconnects = 0
        self._close_hooks: list[Callable[[], None]] = []
        self._closing = threading.Event()
        self._closed = threading.Event()
        self._reader_thread = threading.Thread(target=self._run, name="natsync-reader",
                                               daemon=True)

    # --- connecting ---------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the first session and start the threads; raise if no server can be reached
        (unless retry_on_failed_connect: then the reader thread keeps trying)."""
        try:
            threads.check_patching()
            session = self._dialer.connect()
        except BaseException:
            self._guard.release()
            raise
        if session is None:
            with self._lock:
                self._state = RECONNECTING
        else:
            self._install(session)
        self._callbacks.start()
        self._writer.start(self._ping_due, self._options.ping_interval)
        self._reader_thread.start()

    def _install(self, session: Session) -> bool:
        """Make `session` the current one: the writer sends its SUBs first, then what was
        published meanwhile, then PINGs for the flush() calls waiting. False if closed."""
        with self._lock:
            if self._state == CLOSED:
                session.close()
                return False
            subs = self._table.resubscribe() + self._mux.resubscribe()
            pings = session.adopt(self._held)
            self._held = []
            self._writer.attach(session.sock, subs, pings, session.end)
            self._session = session
            self._sender.max_payload = session.max_payload
            if self._state in (CONNECTING, RECONNECTING):
                self._state = CONNECTED
        self._on_info(session, session.info, initial=True)
        return True

    def _run(self) -> None:
        """The reader thread: read the session until it ends, then reconnect, until closed."""
        threads.mark_reader(True)
        try:
            self._serve()
        finally:
            threads.mark_reader(False)

    def _serve(self) -> None:
        """Read, lose, reconnect: the reader thread's loop."""
        session = self._session
        while True:
            if session is not None:
                err = self.reader.read(session)
                if self._closing.is_set():
                    return
                self._lose(session, err)
                if not self._options.allow_reconnect:
                    self.close(err)
                    return
            try:
                last = self._session
                session = self._dialer.reconnect(self._closing,
                                                 last.info if last is not None else {})
            except NoServersError as exc:
                self.close(exc)
                return
            except InterruptedError:
                return
            if not self._install(session):
                return
            self.reconnects += 1
            log.info("reconnected to %s", session.server.url)
            if self._options.reconnected_cb is not None:
                self._callbacks.schedule(self._options.reconnected_cb)

    def _lose(self, session: Session, err: Exception) -> None:
        """The session ended: keep its flush() waiters for the next one, stop writing to
        it (once a write in progress is over), release the socket, tell the user."""
        session.end(err)
        with self._lock:
            if self._state == CLOSED:
                return
            if self._state in (CONNECTED, CONNECTING):
                self._state = RECONNECTING
            self._held = session.take_waiters() + self._held
        self._writer.detach()
        session.close()
        reason = session.ended or err
        if not isinstance(reason, ForcedReconnect):
            self._last_error = reason
        log.info("disconnected from %s: %s", session.server.url, reason)
        if self._options.disconnected_cb is not None:
            self._callbacks.schedule(self._options.disconnected_cb)

    def force_reconnect(self) -> None:
        """End the current session; the reader thread reconnects (to the next server)."""
        session = self._session
        if session is not None and session.live:
            session.end(ForcedReconnect())

    # --- what the reader reports ----------------------------------------------------------------

    def _on_info(self, session: Session, info: dict[str, Any], initial: bool = False) -> None:
        """Learn cluster members and lame-duck notices from INFO."""
        if session is self._session:
            self._sender.max_payload = session.max_payload
        opts = self._options
        pool = self._dialer.pool
        urls = info.get("connect_urls")
        if isinstance(urls, list) and not opts.ignore_discovered_servers:
            added = pool.add_discovered(urls, session.server.scheme, not opts.dont_randomize)
            deleted = pool.drop_discovered(urls, session.server) if urls else []
            cb = opts.discovered_server_cb
            if (added or deleted) and not initial and cb is not None:
                change = ServersChanged(added=added, deleted=deleted)
                if _takes_argument(cb):
                    self._callbacks.schedule(cb, change)
                else:
                    self._callbacks.schedule(cb)
        if info.get("ldm"):
            if opts.lame_duck_mode_cb is not None:
                self._callbacks.schedule(opts.lame_duck_mode_cb)
            if len(pool) > 1:
                # Move before the server evicts us; the reconnect skips to another server.
                session.end(ForcedReconnect())

    def _server_error(self, err: Exception) -> None:
        self._last_error = err
        self._callbacks.report_error(err)

    def _failed_attempt(self, err: Exception) -> None:
        """A reconnect attempt failed: the error is the client's last_error."""
        self._last_error = err

    # --- PINGs and flush --------------------------------------------------------------------------

    def _ping_due(self) -> None:
        """Every ping_interval (on the flusher thread): PING the server, or end the session
        as stale when max_outstanding_pings went unanswered."""
        with self._lock:
            session = self._session
            if self._state != CONNECTED or session is None or not session.live:
                return
            frame = session.ping(self._options.max_outstanding_pings)
            if frame is not None:
                self._writer.queue_control(frame)

    def flush(self, timeout: float = 10) -> None:
        """Block until the server has processed everything published so far (PING/PONG);
        while reconnecting, wait for the next session within the same timeout."""
        check_timeout(timeout)
        self.check_usable()
        waiter = Waiter()
        with self._lock:
            session = self._session
            if session is not None and session.live:
                self._writer.queue_control(session.add_waiter(waiter))
            else:
                self._held.append(waiter)
        if not waiter.wait(timeout):
            waiter.abandoned = True
            raise FlushTimeoutError()
        if waiter.error is not None:
            raise waiter.error

    # --- drain and close --------------------------------------------------------------------------

    def drain(self, timeout: Optional[float]) -> None:
        """Unsubscribe everything, let callbacks finish what arrived, flush, then close;
        DrainTimeoutError (after closing) past `timeout` (drain_timeout)."""
        self.check_usable()
        check_timeout(timeout)
        deadline = time.monotonic() + (self._options.drain_timeout if timeout is None else timeout)
        with self._lock:
            if self._state in (DRAINING_SUBS, DRAINING_PUBS):
                raise ConnectionDrainingError()
            connected = self._state == CONNECTED
            if connected:
                self._state = DRAINING_SUBS
                queues = self._table.start_drain()
        if not connected:
            self.close(None)
            return
        try:
            self.flush(_remaining(deadline))
            if not self._table.end_drained(queues, deadline):
                raise DrainTimeoutError()
            with self._lock:
                if self._state == DRAINING_SUBS:
                    self._state = DRAINING_PUBS
            self.flush(_remaining(deadline))
        except FlushTimeoutError:
            self.close(DrainTimeoutError())
            raise DrainTimeoutError() from None
        except DrainTimeoutError as exc:
            self.close(exc)
            raise
        self.close(None)

    def close(self, reason: Optional[Exception]) -> None:
        """Stop accepting, send what was accepted, confirm the server read it, then stop.

        The PING queued behind the last frames makes the server's PONG proof that it has
        read everything: only then is the socket dropped, so the RST a close with unread
        input may cause cannot destroy messages still in the server's receive buffer.
        """
        confirm: Optional[Waiter] = None
        on_reader = threading.current_thread() is self._reader_thread
        with self._lock:
            already = self._state == CLOSED
            if not already:
                self._state = CLOSED
                self._writer.close()
                if reason is not None:
                    self._last_error = reason
                session = self._session
                if session is not None and session.live and not on_reader:
                    confirm = Waiter()
                    self._writer.queue_control(session.add_waiter(confirm))
        if already:
            if not self._own_thread():
                self._closed.wait(threads.JOIN_TIMEOUT)
            return
        self._closing.set()
        self._writer.stop()
        if confirm is not None and self._reader_thread.is_alive():
            confirm.wait(_CLOSE_CONFIRM_TIMEOUT)
        session = self._session
        if session is not None:
            session.end(ConnectionClosedError())
        threads.join(self._reader_thread)
        closed = ConnectionClosedError()
        with self._lock:
            waiters = self._held + (session.take_waiters() if session is not None else [])
            self._held = []
        if session is not None:
            session.close()
        for waiter in waiters:
            waiter.fail(closed)
        self._mux.close(closed)
        self._table.close()
        for hook in list(self._close_hooks):
            try:
                hook()
            except Exception:
                log.exception("natsync: a close hook raised")
        if self._options.closed_cb is not None:
            self._callbacks.schedule(self._options.closed_cb)
        self._callbacks.stop()
        self._guard.release()
        self._closed.set()

    def _own_thread(self) -> bool:
        """Whether the caller is one of the threads close() joins."""
        return (threading.current_thread() is self._reader_thread
                or self._writer.is_current() or self._callbacks.is_current())

    def wait_closed(self, timeout: Optional[float]) -> bool:
        """Block until closed; False if still open after `timeout` seconds."""
        return self._closed.wait(timeout)

    def add_close_hook(self, hook: Callable[[], None]) -> None:
        self._close_hooks.append(hook)

    def remove_close_hook(self, hook: Callable[[], None]) -> None:
        try:
            self._close_hooks.remove(hook)
        except ValueError:
            pass

    # --- state ------------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    @property
    def session(self) -> Optional[Session]:
        """The latest session (check `live`), None before the first one."""
        return self._session

    @property
    def last_error(self) -> Optional[Exception]:
        return self._last_error

    def check_usable(self) -> None:
        """ForkError in a forked child, ConnectionClosedError once closed."""
        self._guard.check()
        if self._state == CLOSED:
            raise ConnectionClosedError()

    def check_requestable(self) -> None:
        """check_usable, and ConnectionDrainingError while draining."""
        self.check_usable()
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


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
