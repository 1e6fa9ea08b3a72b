"""The Client: natsync's public blocking API, a thin face over the engine below it.

The engine, bottom up (each module one job):
- protocol.py: bytes in, events out; frame encoders (sans-I/O).
- outbound.py: the outbound buffer, the flusher thread and inline writes.
- lifecycle.py: connect, reconnect and the server pool, PINGs, callbacks, close.
- reader.py: the reader thread: parse, hand messages to subscriptions, replies to the mux.
- mux.py: the reply mux: one inbox subscription for every request, and its waiters.
See docs/architecture.md for how a message flows through them.
"""

from __future__ import annotations

import queue
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence, Union

from .args import check_timeout as _check_timeout
from .args import payload_bytes as _payload_bytes
from .engine.lifecycle import _FORK_MESSAGE, ServersChanged
from .engine.mux import ManyWaiter, ReplyHandler, Waiter, no_responders
from .engine.reader import Reader
from .engine.states import (
    CLOSED,
    CONNECTED,
    CONNECTING,
    DRAINING_PUBS,
    DRAINING_SUBS,
    RECONNECTING,
)
from .errors import (
    BadArgumentError,
    BadSubscriptionError,
    ConnectionClosedError,
    ConnectionDrainingError,
    DrainTimeoutError,
    FlushTimeoutError,
    ForkError,
    InvalidCallbackError,
    NoRespondersError,
    TimeoutError,
)
from .headers import HeadersLike
from .msg import Msg
from .nuid import next_nuid
from .options import make_options
from .protocol import PING_FRAME, encode_sub, encode_unsub
from .subjects import check_queue, check_subject, publish_subject
from .subscription import MsgHandler, Subscription, SubscriptionDrained, Unsubscribed

if TYPE_CHECKING:
    from .js.context import JetStreamContext
    from .js.manager import JetStreamManager

__all__ = ["CLOSED", "CONNECTED", "CONNECTING", "DRAINING_PUBS", "DRAINING_SUBS",
           "RECONNECTING", "Client", "ServersChanged", "connect"]

DEFAULT_SUB_PENDING_MSGS_LIMIT = 512 * 1024
DEFAULT_SUB_PENDING_BYTES_LIMIT = 128 * 1024 * 1024


class Client(Reader):
    """A connection to a NATS system. Create it with `natsync.connect()`; thread-safe."""

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

    def _respond(self, reply: str, payload: bytes, headers: Optional[HeadersLike]) -> None:
        """Publish a reply, written at once when the connection is idle (see _enqueue_now)."""
        if self._state is CLOSED or self._forked:
            self._check_usable()
        if type(payload) is not bytes:
            payload = _payload_bytes(payload)
        self._enqueue_now(self._frame(publish_subject(reply), b"", payload, headers), len(payload))

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

    def force_reconnect(self) -> None:
        """Drop the current connection and reconnect (to the next server of the pool)."""
        self._check_usable()
        self._lose_socket(self._sock, None)

    # --- subscribing ----------------------------------------------------------------

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

    # --- request/reply --------------------------------------------------------------

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

    # --- JetStream ------------------------------------------------------------------

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

    # --- drain and close ------------------------------------------------------------

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

    def wait_closed(self, timeout: Optional[float] = None) -> Optional[Exception]:
        """Block until the client is closed (by close(), drain() or running out of servers).

        Returns `last_error` (None after a clean close); raises TimeoutError if it is
        still open after `timeout` seconds. nats.js's `closed()`, made blocking.
        """
        _check_timeout(timeout)
        if not self._closed_done.wait(timeout):
            raise TimeoutError("nats: the connection is still open")
        return self._last_error

    # --- the seam for subsystems (js/, kv/, obs/, micro/, contrib/) -----------------

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

    # --- properties -----------------------------------------------------------------

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


def connect(servers: Union[str, Sequence[str], None] = None, **options: Any) -> Client:
    """Connect to NATS and return a ready Client.

    `servers` is a URL, a comma-separated string or a list; when omitted the `NATS_URL`
    environment variable is used, then `nats://127.0.0.1:4222`. Options take nats-py's
    names and defaults (times in seconds).
    """
    client = Client(servers, make_options(options))
    client._connect()
    return client


