"""A Dramatiq broker on JetStream.

One work-queue stream (`DRAMATIQ` by default) holds every queue: queue `q` is the subject
`dramatiq.<q>` with one durable pull consumer, its delay queue `q.DQ` and its dead-letter
queue `q.XQ` are subjects of their own (the dead letters have no consumer: they stay until
`dead_message_ttl`). An acknowledged message leaves the stream; one a worker holds is kept
alive with `in_progress()`, and redelivered after `visibility_timeout` if its worker dies.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from typing import Any, Dict, Iterable, List, Optional, Tuple

from dramatiq.broker import Broker, Consumer, MessageProxy
from dramatiq.common import compute_backoff, current_millis, dq_name, q_name, xq_name
from dramatiq.errors import ConnectionClosed, QueueJoinTimeout, QueueNotFound
from dramatiq.message import Message

from ...client import Client
from ...errors import BadArgumentError, ConnectionClosedError, Error, MsgAlreadyAckdError
from ...js import api
from ...js.consumer import Consumer as JsConsumer
from ...js.context import JetStreamContext
from ...js.errors import NotFoundError
from ...msg import Msg
from ..process import ProcessClient
from ..taskqueue import TRANSIENT, Keeper, fetch_some, publish_durably, short_name, token

log = logging.getLogger("natsync.contrib.dramatiq")

#: Dead-lettered messages are kept this long (milliseconds), as Dramatiq's Redis broker does.
DEFAULT_DEAD_MESSAGE_TTL = 7 * 86_400_000


class NatsMessageProxy(MessageProxy):  # type: ignore[misc]
    """A delivered message and the JetStream message it came in (to ack, nak or term)."""

    def __init__(self, message: Message[Any], nats_msg: Msg) -> None:
        super().__init__(message)
        self.nats_msg = nats_msg


class NatsBroker(Broker):  # type: ignore[misc]
    """Dramatiq's broker interface on a JetStream work-queue stream.

    `url` (or a list of URLs) and `connect_options` go to `natsync.connect()`; each process
    connects on first use (a forked worker process gets its own client).
    """

    def __init__(self, url: Any = None, *, middleware: Optional[List[Any]] = None,
                 namespace: str = "dramatiq", visibility_timeout: float = 30.0,
                 dead_message_ttl: int = DEFAULT_DEAD_MESSAGE_TTL,
                 publish_timeout: float = 30.0, replicas: int = 1,
                 connect_options: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(middleware=middleware)
        if not visibility_timeout > 0 or not publish_timeout > 0 or dead_message_ttl <= 0:
            raise BadArgumentError("visibility_timeout, publish_timeout and dead_message_ttl "
                                   "must be positive")
        self.namespace = namespace
        self.stream = short_name(namespace).upper()
        self.visibility_timeout = float(visibility_timeout)
        self.dead_message_ttl = dead_message_ttl
        self.publish_timeout = float(publish_timeout)
        self.replicas = replicas
        self.queues: set[str] = set()
        options = {"max_reconnect_attempts": -1, "name": "natsync-dramatiq",
                   **(connect_options or {})}
        self._holder = ProcessClient(url, sigterm="off", **options)
        self._js: Optional[Tuple[int, JetStreamContext]] = None  # per client (a fork makes one)
        self.keeper = Keeper(self.visibility_timeout / 3, "natsync-dramatiq-keeper")

    # --- the connection -------------------------------------------------------------------

    @property
    def client(self) -> Client:
        """This process's natsync client."""
        return self._holder.client

    @property
    def js(self) -> JetStreamContext:
        """Its JetStream context, with the broker's stream made if missing."""
        client = self.client
        if self._js is not None and self._js[0] == id(client):
            return self._js[1]
        js = client.jetstream()
        try:
            js.stream_info(self.stream)
        except NotFoundError:
            js.add_stream(name=self.stream, subjects=[f"{token(self.namespace)}.>"],
                          retention=api.RetentionPolicy.WORK_QUEUE, allow_msg_ttl=True,
                          num_replicas=self.replicas,
                          description="Dramatiq queues (natsync.contrib.dramatiq)")
        self._js = (id(client), js)
        return js

    def subject(self, queue_name: str) -> str:
        """The subject holding `queue_name`'s messages."""
        return f"{token(self.namespace)}.{token(queue_name)}"

    def close(self) -> None:
        """Stop keeping messages alive and drain this process's client."""
        self.keeper.close()
        self._holder.close()

    # --- queues ---------------------------------------------------------------------------

    def declare_queue(self, queue_name: str) -> None:
        """Declare a queue and its delay queue (each a consumer); idempotent."""
        if queue_name in self.queues:
            return
        self.emit_before("declare_queue", queue_name)
        for name in (queue_name, dq_name(queue_name)):
            self._ensure_consumer(name)
        self.queues.add(queue_name)
        self.emit_after("declare_queue", queue_name)
        delayed = dq_name(queue_name)
        self.delay_queues.add(delayed)
        self.emit_after("declare_delay_queue", delayed)

    def _ensure_consumer(self, name: str) -> JsConsumer:
        js = self.js
        try:
            return js.stream(self.stream).consumer(short_name(name))
        except NotFoundError:
            return js.stream(self.stream).create_consumer(
                durable_name=short_name(name), filter_subject=self.subject(name),
                ack_policy=api.AckPolicy.EXPLICIT, ack_wait=self.visibility_timeout,
                max_ack_pending=-1, description=f"dramatiq queue {name}"[:200])

    def get_declared_queues(self) -> set[str]:
        return set(self.queues)

    # --- publishing -----------------------------------------------------------------------

    def enqueue(self, message: Message[Any], *, delay: Optional[int] = None) -> Message[Any]:
        """Store the message (in the delay queue, with its ETA, when delayed) and return
        once JetStream has acknowledged it."""
        queue_name = message.queue_name
        if delay is not None:
            queue_name = dq_name(queue_name)
            message = message.copy(queue_name=queue_name,
                                   options={"eta": current_millis() + delay})
        self.emit_before("enqueue", message, delay)
        self._publish(queue_name, message.encode())
        self.emit_after("enqueue", message, delay)
        return message

    def _publish(self, queue_name: str, data: bytes, ttl_ms: Optional[int] = None) -> None:
        try:
            publish_durably(self.js, self.subject(queue_name), data, uuid.uuid4().hex, None,
                            time.monotonic() + self.publish_timeout,
                            msg_ttl=None if ttl_ms is None else ttl_ms / 1000.0)
        except ConnectionClosedError as exc:
            raise ConnectionClosed(exc) from None

    def dead_letter(self, queue_name: str, data: bytes) -> None:
        """Store a message in `queue_name`'s dead-letter queue for `dead_message_ttl`."""
        self._publish(xq_name(q_name(queue_name)), data, self.dead_message_ttl)

    # --- consuming ------------------------------------------------------------------------

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Consumer:
        """An iterator of the queue's messages (None after `timeout` ms without one)."""
        if q_name(queue_name) not in self.queues:
            raise QueueNotFound(queue_name)
        return NatsConsumer(self, queue_name, prefetch, timeout)

    def queue_counts(self, queue_name: str) -> int:
        """Messages of `queue_name` not yet acknowledged (waiting or being worked on)."""
        try:
            info = self.js.consumer_info(self.stream, short_name(queue_name))
        except NotFoundError:
            return 0
        return info.num_pending + info.num_ack_pending

    def flush(self, queue_name: str) -> None:
        """Drop every message of the queue and of its delay queue."""
        for name in (queue_name, dq_name(queue_name)):
            self.js.purge_stream(self.stream, subject=self.subject(name))

    def flush_all(self) -> None:
        """Drop every message of every declared queue (dead letters stay)."""
        for queue_name in self.queues:
            self.flush(queue_name)

    def join(self, queue_name: str, *, interval: int = 100, timeout: Optional[int] = None) -> None:
        """Wait until the queue and its delay queue have no unacknowledged message.

        QueueJoinTimeout after `timeout` ms."""
        deadline = None if timeout is None else time.monotonic() + timeout / 1000
        while True:
            if sum(self.queue_counts(n) for n in (queue_name, dq_name(queue_name))) == 0:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise QueueJoinTimeout(queue_name)
            time.sleep(interval / 1000)


class NatsConsumer(Consumer):  # type: ignore[misc]
    """Fetches up to `prefetch` unacknowledged messages of one queue at a time."""

    def __init__(self, broker: NatsBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        self.broker = broker
        self.queue_name = queue_name
        self.prefetch = max(1, prefetch)
        self.timeout = timeout / 1000.0
        self.cache: List[Msg] = []
        self.outstanding = 0  # handed out, not yet acked, nacked or requeued
        self.misses = 0  # calls in a row that found no room
        self._consumer: Optional[JsConsumer] = None

    def __next__(self) -> Optional[MessageProxy]:
        while True:
            if self.cache:
                msg = self.cache.pop(0)
                try:
                    message = Message.decode(msg.data)
                except Exception as exc:  # not a Dramatiq message: never redeliver it
                    log.error("dropping an undecodable message on %r: %r", msg.subject, exc)
                    self._settle(msg, functools.partial(msg.term, "not a dramatiq message"))
                    continue
                self.outstanding += 1
                return NatsMessageProxy(message, msg)
            room = self.prefetch - self.outstanding
            if room <= 0:  # the worker is busy: let it settle some (growing naps, as Redis's)
                self.misses, nap_ms = compute_backoff(self.misses,
                                                      max_backoff=int(self.timeout * 1000))
                time.sleep(nap_ms / 1000)
                return None
            self.misses = 0
            self.cache = self._fetch(room)
            if not self.cache:
                return None

    def _fetch(self, n: int) -> List[Msg]:
        try:
            if self._consumer is None:
                self._consumer = self.broker.js.stream(self.broker.stream).consumer(
                    short_name(self.queue_name))
            msgs = fetch_some(self._consumer, n, self.timeout)
        except ConnectionClosedError as exc:
            raise ConnectionClosed(exc) from None
        except TRANSIENT as exc:  # reconnecting or restarting: the worker asks again
            log.debug("fetch from %r failed: %r", self.queue_name, exc)
            return []
        except NotFoundError:  # deleted under us: made again on the next declare
            self._consumer = None
            return []
        for msg in msgs:
            self.broker.keeper.hold(id(msg), msg)
        return msgs

    def _settle(self, msg: Msg, action: Any) -> None:
        self.broker.keeper.release(id(msg))
        try:
            action()
        except MsgAlreadyAckdError:
            pass
        except ConnectionClosedError as exc:
            raise ConnectionClosed(exc) from None
        except Error as exc:
            log.warning("settling a message failed (it is redelivered after the "
                        "visibility timeout): %r", exc)

    def ack(self, message: MessageProxy) -> None:
        msg = _nats_msg(message)
        self.outstanding -= 1
        self._settle(msg, msg.ack)

    def nack(self, message: MessageProxy) -> None:
        """Into the dead-letter queue (stored first), then off this queue."""
        msg = _nats_msg(message)
        self.outstanding -= 1
        self.broker.dead_letter(self.queue_name, msg.data)
        self._settle(msg, msg.ack)

    def requeue(self, messages: Iterable[MessageProxy]) -> None:
        """Back to the queue for any worker (nak: redelivered at once)."""
        for message in messages:
            msg = _nats_msg(message)
            self.outstanding -= 1
            self._settle(msg, msg.nak)

    def close(self) -> None:
        """Give back what was fetched but not handed out."""
        cache, self.cache = self.cache, []
        for msg in cache:
            self._settle(msg, msg.nak)


def _nats_msg(message: MessageProxy) -> Msg:
    """The JetStream message behind a proxy this broker handed out."""
    if not isinstance(message, NatsMessageProxy):
        raise BadArgumentError(f"{message!r} was not delivered by the NATS broker")
    return message.nats_msg
