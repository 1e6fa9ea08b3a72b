"""A kombu transport on JetStream, selected by class path (no kombu patch, no URL scheme of
its own, so it never collides with a `nats` transport kombu may ship one day)::

    broker_url = "nats://127.0.0.1:4222"
    broker_transport = "natsync.contrib.celery:Transport"

One stream (interest retention) holds every message; a queue is a durable pull consumer
whose filter subjects are its bindings (see routing.py). The transport keeps one natsync
client per kombu connection, which reconnects by itself.
"""

from __future__ import annotations

import itertools
import json
import logging
import queue as _queue
import socket
import threading
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Iterator, Optional, Tuple

from kombu.transport.virtual import Transport as VirtualTransport

import natsync

from ...client import Client
from ...errors import BadArgumentError, ConnectionClosedError, NoServersError
from ...errors import TimeoutError as NatsTimeoutError
from ...js import api
from ...js.context import JetStreamContext
from ...js.errors import NoStreamResponseError, NotFoundError
from ...version import __version__
from ..taskqueue import Keeper, short_name, token
from .channel import (
    META_AUTO_DELETE,
    META_BINDINGS,
    META_QUEUE,
    META_TTL,
    UNSUPPORTED_ARGUMENTS,
    Channel,
    bindings_of,
)
from .routing import Binding, default_binding, filters_for

log = logging.getLogger("natsync.contrib.celery")


@dataclass
class Settings:
    """The transport's options (`broker_transport_options`), checked once."""

    stream: str = "KOMBU"
    subject_prefix: str = "kombu"
    visibility_timeout: float = 30.0  # the consumers' ack_wait; kept alive while held
    max_ack_pending: int = 20_000
    publish_timeout: float = 30.0  # how long a publish retries through an outage
    pull_wait: float = 2.0  # one fetch's wait: also how soon a cancelled consumer stops
    get_wait: float = 0.2  # basic_get's wait
    fetch_batch: int = 100
    auto_delete_expires: float = 60.0  # inactive_threshold of auto-delete queues
    replicas: int = 1
    max_age: float = 0.0  # the stream's max_age (0: no limit)
    storage: str = "file"
    connect_options: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_options(cls, options: Dict[str, Any], vhost: Optional[str]) -> Settings:
        """Settings from kombu's transport options; a virtual host other than `/` gets its
        own stream and subjects. Options of other layers (kombu's own) are left to them."""
        known = {f.name for f in fields(cls)}
        ours = {k: v for k, v in options.items() if k in known}
        settings = cls(**ours)
        if vhost and vhost != "/":
            settings.stream = f"{settings.stream}_{short_name(vhost)}"
            settings.subject_prefix = f"{settings.subject_prefix}.{token(vhost)}"
        for name in ("visibility_timeout", "publish_timeout", "pull_wait", "get_wait",
                     "auto_delete_expires", "fetch_batch", "max_ack_pending"):
            value = getattr(settings, name)
            try:
                ok = float(value) > 0 and (name not in ("fetch_batch", "max_ack_pending")
                                           or float(value) >= 1)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise BadArgumentError(f"transport option {name} must be a positive number, "
                                       f"got {value!r}")
        return settings


@dataclass
class QueueState:
    """What the transport remembers of a queue it declared or looked up."""

    message_ttl: Optional[float]
    auto_delete: bool
    config: Optional[api.ConsumerConfig] = None  # as last seen, to make it again if lost


class Transport(VirtualTransport):
    """kombu's Transport for JetStream through natsync (see the module docstring)."""

    Channel = Channel
    driver_type = "nats"
    driver_name = "natsync"
    default_port = 4222  # type: ignore[assignment]
    can_parse_url = True
    polling_interval = None  # type: ignore[assignment]
    implements = VirtualTransport.implements.extend(
        asynchronous=False, exchange_type=frozenset({"direct", "topic", "fanout"}),
        heartbeats=False)
    connection_errors = VirtualTransport.connection_errors + (  # type: ignore[assignment]
        ConnectionClosedError, NoServersError, NatsTimeoutError, NoStreamResponseError)
    channel_errors = VirtualTransport.channel_errors + (  # type: ignore[assignment]
        BadArgumentError,)

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self.settings = Settings.from_options(dict(client.transport_options or {}),
                                              client.virtual_host)
        #: (channel, puller, message) fetched for drain_events; None once closed.
        self.inbox: _queue.Queue[Optional[Tuple[Channel, Any, Dict[str, Any]]]] = _queue.Queue()
        self.keeper = Keeper(self.settings.visibility_timeout / 3, "natsync-kombu-keeper")
        self._tags = itertools.count(1)
        self._nc: Optional[Client] = None
        self._js: Optional[JetStreamContext] = None
        self._queues: Dict[str, QueueState] = {}
        self._lock = threading.Lock()

    # --- the connection ---------------------------------------------------------------

    def establish_connection(self) -> Transport:
        """Connect (once) and make sure the stream exists."""
        with self._lock:
            if self._nc is None or self._nc.is_closed:
                opts = {"max_reconnect_attempts": -1, "name": "natsync-kombu",
                        **self.settings.connect_options}
                nc = natsync.connect(_servers(self.client and self.client.hostname), **opts)
                try:
                    self._js = nc.jetstream()
                    self._ensure_stream(self._js)
                except BaseException:
                    nc.close()
                    raise
                self._nc = nc
        established: Transport = super().establish_connection()
        return established

    @property
    def js(self) -> JetStreamContext:
        """Its JetStream context."""
        if self._js is None:
            self.establish_connection()
        assert self._js is not None
        return self._js

    def _ensure_stream(self, js: JetStreamContext) -> None:
        cfg = self.settings
        try:
            info = js.stream_info(cfg.stream)
        except NotFoundError:
            js.add_stream(name=cfg.stream, subjects=[f"{cfg.subject_prefix}.>"],
                          retention=api.RetentionPolicy.INTEREST, storage=cfg.storage,
                          num_replicas=cfg.replicas, max_age=cfg.max_age, allow_msg_ttl=True,
                          description="kombu queues (natsync.contrib.celery)")
            return
        if info.config.retention != api.RetentionPolicy.INTEREST:
            raise BadArgumentError(f"stream {cfg.stream!r} exists with retention "
                                   f"{info.config.retention!r}; the kombu transport needs an "
                                   "interest stream of its own (transport option 'stream')")

    def close_connection(self, connection: Any) -> None:
        """Close the channels (their held messages go back), then the client."""
        super().close_connection(connection)
        self.inbox.put(None)
        self.keeper.close()
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            nc.close()

    def verify_connection(self, connection: Any) -> bool:
        return self._nc is not None and self._nc.is_connected

    def driver_version(self) -> str:
        return __version__

    def as_uri(self, uri: str, include_password: bool = False, mask: str = "**") -> str:
        """The broker URL with any password or token masked."""
        if include_password:
            return uri
        return ",".join(_mask(u, mask) for u in uri.split(","))

    # --- consuming --------------------------------------------------------------------

    def next_tag(self) -> int:
        """A delivery tag unique in this connection."""
        return next(self._tags)

    def drain_events(self, connection: Any, timeout: Optional[float] = None,
                     **kwargs: Any) -> None:
        """Deliver one message the pullers fetched, waiting up to `timeout` for it
        (socket.timeout when none came). One per call, as kombu's callers count on:
        `inspect(limit=n)` drains n times."""
        try:
            item = (self.inbox.get(timeout=timeout) if timeout is None or timeout > 0
                    else self.inbox.get_nowait())
        except _queue.Empty:
            raise socket.timeout() from None
        if item is None:  # closed: wake the caller at once instead of after its timeout
            self.inbox.put(None)
            raise socket.timeout()
        channel, puller, payload = item
        channel.delivered(puller, payload)

    def deliver(self, payload: Dict[str, Any], queue: str) -> None:
        """Run the callback kombu registered for `queue`."""
        self._deliver(payload, queue)

    # --- queues -----------------------------------------------------------------------

    def declare_queue(self, queue: str, durable: bool = True, exclusive: bool = False,
                      auto_delete: bool = False, arguments: Optional[Dict[str, Any]] = None,
                      **kwargs: Any) -> None:
        """Create the queue's consumer unless it exists (then it is left as it is)."""
        if self.queue_info(queue) is not None:
            return
        args = {k: v for k, v in (arguments or {}).items() if v is not None}
        refused = sorted(set(args) & set(UNSUPPORTED_ARGUMENTS))
        if refused:
            raise BadArgumentError(f"queue {queue!r}: {', '.join(refused)} cannot be honoured "
                                   "by the JetStream transport")
        expires = args.get("x-expires")
        threshold = float(expires) / 1000.0 if expires else (
            self.settings.auto_delete_expires if auto_delete or exclusive else None)
        ttl = args.get("x-message-ttl")
        meta = {META_QUEUE: queue, META_BINDINGS: json.dumps([default_binding(queue)])}
        if ttl:
            meta[META_TTL] = str(float(ttl) / 1000.0)
        if auto_delete or exclusive:
            meta[META_AUTO_DELETE] = "1"
        cfg = self.settings
        info = self.js.add_consumer(
            cfg.stream, durable_name=short_name(queue),
            filter_subjects=filters_for(cfg.subject_prefix, [default_binding(queue)]),
            deliver_policy=api.DeliverPolicy.NEW, ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=cfg.visibility_timeout, max_ack_pending=cfg.max_ack_pending,
            inactive_threshold=threshold, metadata=meta,
            description=f"kombu queue {queue}"[:200])
        self._remember(queue, info.config)

    def _remember(self, queue: str, config: api.ConsumerConfig) -> QueueState:
        meta = config.metadata or {}
        ttl = meta.get(META_TTL)
        state = QueueState(float(ttl) if ttl else None, meta.get(META_AUTO_DELETE) == "1",
                           config)
        self._queues[queue] = state
        return state

    def restore_queue(self, queue: str) -> None:
        """Make a queue that is being consumed again if its consumer went away under us
        (as last seen: bindings included); nothing if it exists or was never seen."""
        state = self._queues.get(queue)
        if state is None or state.config is None or self.queue_info(queue) is not None:
            return
        log.warning("queue %r vanished while consumed: declaring it again", queue)
        self.js.add_consumer(self.settings.stream,
                             state.config.evolve(deliver_policy=api.DeliverPolicy.NEW,
                                                 opt_start_seq=None))

    def queue_info(self, queue: str) -> Optional[api.ConsumerInfo]:
        """The queue's consumer info, None when there is no such queue."""
        try:
            info = self.js.consumer_info(self.settings.stream, short_name(queue))
        except NotFoundError:
            return None
        self._remember(queue, info.config)
        return info

    def _state(self, queue: str) -> QueueState:
        state = self._queues.get(queue)
        if state is None:
            info = self.queue_info(queue)
            state = self._queues.get(queue) if info is not None else None
        return state or QueueState(None, False)

    def message_ttl(self, queue: str) -> Optional[float]:
        """The queue's x-message-ttl in seconds, if it has one."""
        return self._state(queue).message_ttl

    def is_auto_delete(self, queue: str) -> bool:
        """Whether the queue goes when its consumer is cancelled."""
        return self._state(queue).auto_delete

    def delete_queue(self, queue: str) -> None:
        """Delete the queue's consumer (nothing if it is gone already)."""
        self._queues.pop(queue, None)
        try:
            self.js.delete_consumer(self.settings.stream, short_name(queue))
        except NotFoundError:
            pass

    def change_bindings(self, queue: str, add: Optional[Binding] = None,
                        remove: Optional[Binding] = None, attempts: int = 5) -> None:
        """Add or remove one binding of `queue`, then read back that it took (another
        process may have updated the consumer at the same moment)."""
        cfg = self.settings
        for _ in range(attempts):
            info = self.queue_info(queue)
            if info is None:
                raise BadArgumentError(f"cannot bind queue {queue!r}: it does not exist "
                                       "(declare it first)")
            bindings = bindings_of(info.config.metadata, queue)
            wanted = [b for b in bindings if b != remove]
            if add is not None and add not in wanted:
                wanted.append(add)
            if wanted == bindings:
                return
            meta = dict(info.config.metadata or {})
            meta[META_BINDINGS] = json.dumps(wanted)
            self.js.update_consumer(cfg.stream, info.config.evolve(
                filter_subjects=filters_for(cfg.subject_prefix, wanted), filter_subject=None,
                metadata=meta))
            after = self.queue_info(queue)
            if after is not None and bindings_of(after.config.metadata, queue) == wanted:
                return
        raise BadArgumentError(f"queue {queue!r}: binding {add or remove!r} kept being "
                               f"overwritten by concurrent updates ({attempts} tries)")

    def _queues_bound_to(self, exchange: str) -> Iterator[Tuple[str, Binding]]:
        for info in self.js.consumers_info(self.settings.stream):
            meta = info.config.metadata or {}
            queue = meta.get(META_QUEUE)
            if queue is None:
                continue
            for binding in bindings_of(meta, queue):
                if binding[0] == exchange:
                    yield queue, binding

    def unbind_exchange(self, exchange: str) -> None:
        """Remove every queue's bindings to `exchange`."""
        for queue, binding in list(self._queues_bound_to(exchange)):
            self.change_bindings(queue, remove=binding)

    def purge_queue(self, queue: str) -> int:
        """Drop the queue's messages (also those delivered but not acked); returns how many
        were waiting. The consumer is re-created from the stream's next sequence, with a
        stand-in consumer holding interest meanwhile so nothing newer is dropped."""
        cfg = self.settings
        info = self.queue_info(queue)
        if info is None:
            return 0
        waiting = info.num_pending + info.num_ack_pending
        last = self.js.stream_info(cfg.stream).state.last_seq
        config = info.config.evolve(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                                    opt_start_seq=last + 1)
        standin = short_name(f"{queue}.purging")[:80] + "=P"
        self.js.add_consumer(cfg.stream, config.evolve(durable_name=standin, name=None,
                                                       inactive_threshold=60.0,
                                                       description="kombu purge stand-in"))
        try:
            self.js.delete_consumer(cfg.stream, short_name(queue))
            self.js.add_consumer(cfg.stream, config)
        finally:
            self.js.delete_consumer(cfg.stream, standin)
        return waiting


def _servers(hostname: Optional[str]) -> str:
    """The server URLs kombu passes (the broker URL as given, since can_parse_url)."""
    if not hostname:
        return "nats://127.0.0.1:4222"
    return hostname if "://" in hostname else f"nats://{hostname}"


def _mask(url: str, mask: str) -> str:
    """`url` with the password (or a lone token) replaced by `mask`."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user, colon, _secret = creds.partition(":")
    return f"{scheme}://{user + ':' + mask if colon else mask}@{host}"

