"""The Client: natsync's public blocking API, composed of the engine's parts.

Each part owns its state (see docs/architecture.md for the picture):
- engine/writer.py: the outbound frames, the flusher thread, inline writes, backpressure.
- engine/sender.py: message frames, checked against the server's max_payload.
- engine/subtable.py: the subscriptions by sid; engine/subqueue.py: one's queue.
- engine/mux.py: the shared reply inbox and the requests waiting on it.
- engine/lifecycle.py: state, sessions (engine/session.py), the reader thread
  (engine/reader.py), reconnects (engine/dialer.py), PINGs, flush, drain, close.
- engine/callbacks.py: the thread connection callbacks run on; engine/fork.py: fork().
The Client only checks arguments and calls them.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence, Union

from .args import check_timeout as _check_timeout
from .args import payload_bytes as _payload_bytes
from .contexts import connect_settings, load_context
from .engine.callbacks import Callbacks
from .engine.fork import ForkGuard
from .engine.lifecycle import Lifecycle, ServersChanged
from .engine.mux import ReplyHandler, ReplyMux
from .engine.sender import Sender
from .engine.states import (
    CLOSED,
    CONNECTED,
    CONNECTING,
    DRAINING_PUBS,
    DRAINING_SUBS,
    RECONNECTING,
)
from .engine.subtable import SubTable
from .engine.writer import Writer
from .errors import (
    BadArgumentError,
    InvalidCallbackError,
    NoRespondersError,
    TimeoutError,
)
from .headers import HeadersLike
from .msg import Msg, MsgContext, empty_reply, no_responders
from .nuid import next_nuid
from .options import Options, make_options
from .protocol import build_pub as _build_pub
from .servers import BadURLError, ServerPool, servers_from
from .subjects import PUBLISH_SUBJECTS as _SUBJECTS
from .subjects import check_queue, check_subject, publish_subject
from .subscription import MsgHandler, Subscription

if TYPE_CHECKING:
    from .js.context import JetStreamContext
    from .js.manager import JetStreamManager

__all__ = ["CLOSED", "CONNECTED", "CONNECTING", "DRAINING_PUBS", "DRAINING_SUBS",
           "RECONNECTING", "Client", "ServersChanged", "connect"]

DEFAULT_SUB_PENDING_MSGS_LIMIT = 512 * 1024
DEFAULT_SUB_PENDING_BYTES_LIMIT = 128 * 1024 * 1024


class Client:
    """A connection to a NATS system. Create it with `natsync.connect()`; thread-safe."""

    def __init__(self, servers: Union[str, Sequence[str], None], options: Options) -> None:
        """Compose the engine and connect (see `connect()` for the arguments)."""
        self._options = options
        self._guard = ForkGuard()
        self._pool = ServerPool(servers_from(servers), randomize=not options.dont_randomize)
        self._callbacks = Callbacks(options.error_cb)
        self._writer = Writer(options.pending_size, options.flush_timeout, options.debug)
        self._sender = Sender(self._writer, self._guard)

        def flush(timeout: float) -> None:
            # The table drains a subscription with the lifecycle's flush, and the
            # lifecycle needs the table: this reaches the lifecycle made below.
            life.flush(timeout)

        self._subs = SubTable(self._writer, self._guard, self._callbacks.report_error, flush,
                              options.drain_timeout)
        self._mux = ReplyMux(self._writer, self._sender, self._subs.next_sid,
                             options.inbox_prefix)
        life = self._life = Lifecycle(options, self._pool, self._writer, self._sender,
                                      self._subs, self._mux, self._callbacks, self._guard,
                                      MsgContext(self, self._sender.respond))
        life.connect()

    # --- publishing ---------------------------------------------------------------------

    def publish(self, subject: str, payload: bytes = b"", reply: str = "",
                headers: Optional[HeadersLike] = None) -> None:
        """Queue a message for sending; returns at once unless the outbound buffer is full.

        While disconnected, up to `pending_size` bytes are kept for the reconnect, then
        OutboundBufferLimitError is raised.
        """
        if self._guard.forked:
            self._guard.check()
        try:
            subj = _SUBJECTS[subject]  # one dict lookup for a subject published before
        except TypeError:
            subj = publish_subject(subject)  # raises BadSubjectError
        if type(payload) is not bytes:
            payload = _payload_bytes(payload)
        n = len(payload)
        if headers is None and not reply and n <= self._sender.max_payload:
            self._writer.post(_build_pub(subj, payload), n)
        else:
            self._sender.post(subj, payload, publish_subject(reply) if reply else b"", headers)

    def flush(self, timeout: float = 10) -> None:
        """Block until the server has processed everything published so far (PING/PONG).

        While reconnecting it waits for the reconnect, within the same timeout.
        """
        self._life.flush(timeout)

    def rtt(self, timeout: float = 10) -> float:
        """Round-trip time to the server, in seconds."""
        start = time.perf_counter()
        self.flush(timeout)
        return time.perf_counter() - start

    def set_server_pool(self, servers: Union[str, Sequence[str]]) -> None:
        """Replace the servers the client reconnects to (URLs as `connect()` takes them).

        The current connection stays; the next reconnect uses the new pool (call
        `force_reconnect()` to move now). Servers the cluster announces are added again
        unless `ignore_discovered_servers`. BadURLError if a URL is bad or none is given.
        """
        self._life.check_usable()
        if not servers:
            raise BadURLError("set_server_pool(): no server URLs given")
        self._pool.replace(servers_from(servers), not self._options.dont_randomize)

    def force_reconnect(self) -> None:
        """Drop the current connection and reconnect (to the next server of the pool)."""
        self._life.check_usable()
        self._life.force_reconnect()

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
        self._life.check_usable()
        return self._subs.subscribe(subject, queue, cb, max_msgs, pending_msgs_limit,
                                    pending_bytes_limit)

    # --- request/reply --------------------------------------------------------------

    def new_inbox(self) -> str:
        """A new unique subject under `inbox_prefix`, for replies."""
        return f"{self._options.inbox_prefix}.{next_nuid()}"

    def request(self, subject: str, payload: bytes = b"", timeout: float = 0.5,
                headers: Optional[HeadersLike] = None, no_mux: bool = False,
                reply: Optional[str] = None) -> Msg:
        """Publish a request and wait up to `timeout` seconds for the first reply.

        Raises NoRespondersError at once when nobody is subscribed, TimeoutError when
        no reply comes in time. Replies normally arrive on one shared inbox subscription;
        `no_mux=True` subscribes a dedicated inbox (or `reply`, which needs no_mux) for
        this request alone, for accounts that may only receive on certain subjects.
        """
        subj, payload = self._request_args(subject, payload)
        _check_timeout(timeout)
        if reply is not None and not no_mux:
            raise BadArgumentError("request(): reply= can only be used with no_mux=True")
        if not no_mux:
            return self._mux.request(subj, subject, payload, timeout, headers)
        inbox = reply if reply is not None else self.new_inbox()
        check_subject(inbox, what="reply subject")
        deadline = time.monotonic() + timeout
        sub = self.subscribe(inbox, max_msgs=1)
        try:
            try:
                self._sender.publish(subj, payload, inbox.encode(), headers, True, deadline)
                msg = sub.next_msg(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise TimeoutError(f"nats: timeout waiting for a reply to {subject!r}") from None
        finally:
            if sub.is_valid and not self.is_closed:
                sub.unsubscribe()
        if no_responders(msg):
            raise NoRespondersError(subject)
        return msg

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
        subj, payload = self._request_args(subject, payload)
        return self._mux.request_async(subj, subject, payload, timeout, headers)

    def send_request(self, subject: str, payload: bytes, handler: ReplyHandler,
                     headers: Optional[HeadersLike] = None) -> str:
        """Publish a request whose replies the reader hands to `handler`; return its token.

        The seam for subsystems that complete many requests their own way (JetStream's
        publish_async): `handler.deliver(msg)` runs on the reader thread and returns True
        when done; `handler.fail(error)` runs at close. Timing out is the caller's job;
        `forget_request(token)` drops a request whose replies are no longer wanted.
        """
        subj, payload = self._request_args(subject, payload)
        return self._mux.send(subj, payload, handler, headers)

    def forget_request(self, token: str) -> None:
        """Stop handing replies to the request `send_request` returned `token` for."""
        self._mux.forget(token)

    def request_many(self, subject: str, payload: bytes = b"", timeout: float = 1.0,
                     max_msgs: Optional[int] = None, stall: Optional[float] = None,
                     headers: Optional[HeadersLike] = None,
                     sentinel: Optional[Callable[[Msg], bool]] = None) -> Iterator[Msg]:
        """Publish a request and iterate over its replies (scatter-gather).

        The iteration ends after `max_msgs` replies, after `timeout` seconds in total,
        when no reply came for `stall` seconds (after the first), or at the sentinel: a
        reply for which `sentinel(msg)` is true, not itself yielded (by default one with
        an empty payload and no headers).
        """
        self._life.check_requestable()
        _check_timeout(timeout)
        _check_timeout(stall, "stall")
        if sentinel is not None and not callable(sentinel):
            raise BadArgumentError(f"sentinel must be callable, not {type(sentinel).__name__}")
        subj, payload = self._request_args(subject, payload)
        return self._mux.request_many(subj, subject, payload, timeout, max_msgs, stall,
                                      headers, sentinel or empty_reply)

    def _request_args(self, subject: str, payload: bytes) -> tuple[bytes, bytes]:
        """Check that requests may be sent, and encode the subject and payload."""
        if self._life.state is not CONNECTED or self._guard.forked:
            self._life.check_requestable()
        subj = publish_subject(subject)
        if type(payload) is not bytes:
            payload = _payload_bytes(payload)
        return subj, payload

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
        self._life.drain(timeout)

    def close(self) -> None:
        """Send what is buffered (best effort), stop every thread, and close. Idempotent."""
        self._guard.check()
        self._life.close(None)

    def wait_closed(self, timeout: Optional[float] = None) -> Optional[Exception]:
        """Block until the client is closed (by close(), drain() or running out of servers).

        Returns `last_error` (None after a clean close); raises TimeoutError if it is
        still open after `timeout` seconds. nats.js's `closed()`, made blocking.
        """
        _check_timeout(timeout)
        if not self._life.wait_closed(timeout):
            raise TimeoutError("nats: the connection is still open")
        return self._life.last_error

    # --- the seam for subsystems (js/, kv/, obs/, micro/, contrib/) -----------------

    def report_error(self, err: Exception) -> None:
        """Report an asynchronous error to `error_cb` (on the callbacks thread), as the
        client does its own; for subsystems whose threads have nobody to raise to."""
        self._callbacks.report_error(err)

    def add_close_hook(self, hook: Callable[[], None]) -> None:
        """Call `hook()` during close(), after the connection's threads have stopped and
        before `closed_cb`; for subsystems that own a thread and must join it at close."""
        self._life.add_close_hook(hook)

    def remove_close_hook(self, hook: Callable[[], None]) -> None:
        """Forget a hook given to add_close_hook (no error if it is not there)."""
        self._life.remove_close_hook(hook)

    # --- properties -----------------------------------------------------------------

    @property
    def options(self) -> Options:
        """The options the client was connected with."""
        return self._options

    @property
    def stats(self) -> dict[str, int]:
        """Counters: in_msgs, out_msgs, in_bytes, out_bytes, reconnects, errors_received."""
        reader = self._life.reader
        return {"in_msgs": reader.in_msgs, "out_msgs": self._writer.out_msgs,
                "in_bytes": reader.in_bytes, "out_bytes": self._writer.out_bytes,
                "reconnects": self._life.reconnects,
                "errors_received": reader.errors_received}

    @property
    def connected_url(self) -> Optional[str]:
        """The URL of the server currently connected to (no credentials), or None."""
        session = self._life.session
        return session.server.url if session is not None and session.live else None

    @property
    def connected_server_version(self) -> str:
        """The version string the server sent in INFO."""
        return str(self.server_info.get("version", ""))

    @property
    def server_info(self) -> dict[str, Any]:
        """The latest INFO from the server."""
        session = self._life.session
        return dict(session.info) if session is not None else {}

    @property
    def max_payload(self) -> int:
        """The largest message the server accepts, in bytes."""
        return self._sender.max_payload

    @property
    def client_id(self) -> Optional[int]:
        """The id the server gave this connection."""
        value = self.server_info.get("client_id")
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
        session = self._life.session
        return self._life.state == CONNECTED and session is not None and session.live

    @property
    def is_closed(self) -> bool:
        return self._life.state == CLOSED

    @property
    def is_draining(self) -> bool:
        return self._life.state in (DRAINING_SUBS, DRAINING_PUBS)

    @property
    def is_draining_pubs(self) -> bool:
        return self._life.state == DRAINING_PUBS

    @property
    def is_reconnecting(self) -> bool:
        return self._life.state == RECONNECTING

    @property
    def is_connecting(self) -> bool:
        return self._life.state == CONNECTING

    @property
    def state(self) -> str:
        """CONNECTING, CONNECTED, RECONNECTING, DRAINING_SUBS, DRAINING_PUBS or CLOSED."""
        return self._life.state

    @property
    def last_error(self) -> Optional[Exception]:
        """The most recent connection error, if any."""
        return self._life.last_error

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        state = self._life.state
        if self._guard.forked or state == CLOSED:
            return
        if exc_type is None and state == CONNECTED:
            self.drain()
        else:
            self.close()

    def __repr__(self) -> str:
        url = self.connected_url or "-"
        return f"<natsync.Client {self._life.state} {url} subs={len(self._subs)}>"


def connect(servers: Union[str, Sequence[str], None] = None, *, context: Optional[str] = None,
            **options: Any) -> Client:
    """Connect to NATS and return a ready Client.

    `servers` is a URL, a comma-separated string or a list; when omitted the `NATS_URL`
    environment variable is used, then `nats://127.0.0.1:4222`. Options take nats-py's
    names and defaults (times in seconds).

    `context` names a NATS CLI context (`~/.config/nats/context/NAME.json`, or a path):
    its URL, credentials, TLS files and inbox prefix apply unless `servers` or an option
    says otherwise. With neither `servers` nor `context`, `NATS_CONTEXT` names one.
    """
    if context is None and not servers:
        context = os.environ.get("NATS_CONTEXT") or None
    if context:
        url, settings = connect_settings(load_context(context))
        options = {**settings, **options}
        servers = servers or url
    return Client(servers, make_options(options))
