"""The kombu channel of the JetStream transport: declares queues as consumers, binds them
with filter subjects, publishes with a JetStream ack, and maps kombu's ack, reject and
restore onto the message's ack, term and nak.

Each consumed queue has a `Puller` thread that fetches from the queue's consumer no more
than the channel's QoS (prefetch) leaves room for, and hands what it got to the transport's
inbox, which `drain_events` empties on the caller's thread.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from kombu.exceptions import ChannelError
from kombu.transport.base import to_rabbitmq_queue_arguments
from kombu.transport.virtual import Channel as VirtualChannel

from ...errors import BadArgumentError, ConnectionClosedError, Error, MsgAlreadyAckdError
from ...js.errors import NotFoundError
from ...msg import Msg
from ..taskqueue import fetch_some, publish_durably, short_name
from .routing import (
    Binding,
    decode_message,
    default_binding,
    encode_message,
    publish_subject,
)

if TYPE_CHECKING:
    from .transport import Transport

log = logging.getLogger("natsync.contrib.celery")

#: Queue arguments (kombu's x-... names) that JetStream cannot honour: refused, not ignored.
UNSUPPORTED_ARGUMENTS = ("x-max-length", "x-max-length-bytes", "x-max-priority", "x-overflow",
                         "x-dead-letter-exchange", "x-dead-letter-routing-key",
                         "x-single-active-consumer", "x-queue-mode", "x-queue-type")
META_QUEUE = "kombu_queue"
META_BINDINGS = "kombu_bindings"
META_TTL = "kombu_message_ttl"
META_AUTO_DELETE = "kombu_auto_delete"


class Budget:
    """How many more messages a channel may take: its QoS prefetch minus what it holds
    unacknowledged and what is fetched or waiting in the inbox. Pullers wait here.

    While the QoS has room, a puller with nothing of its own reserved may ask for one
    message even if other pullers reserved that room for their (maybe idle) queues, so one
    queue's waiting pull cannot starve the channel's other queues: a channel consuming k
    queues holds at most k - 1 messages beyond its prefetch.
    """

    def __init__(self, free: Callable[[], Optional[int]], cap: int) -> None:
        self._free = free  # the QoS room left, None when unlimited
        self._cap = cap  # at most this many fetched-but-undelivered when unlimited
        self._pending = 0
        self._cond = threading.Condition()

    def take(self, puller: Puller, want: int, wait: float) -> int:
        """Reserve up to `want` slots for `puller`, waiting at most `wait` seconds; 0 if none."""
        with self._cond:
            n = self._room(puller, want)
            if n <= 0:
                self._cond.wait(wait)
                n = self._room(puller, want)
            n = max(n, 0)
            self._pending += n
            puller.pending += n
            return n

    def _room(self, puller: Puller, want: int) -> int:
        free = self._free()
        limit = self._cap if free is None else free
        room = min(want, limit - self._pending)
        return room if room > 0 or puller.pending or limit <= 0 else 1

    def give_back(self, puller: Puller, n: int = 1) -> None:
        """Return reserved slots (not fetched, or delivered to kombu's QoS)."""
        with self._cond:
            self._pending -= n
            puller.pending -= n
            self._cond.notify_all()

    def changed(self) -> None:
        """Something was acked or the prefetch changed: wake the pullers."""
        with self._cond:
            self._cond.notify_all()


class Puller:
    """One thread fetching one queue's consumer for one channel while the channel consumes."""

    def __init__(self, channel: Channel, queue: str, no_ack: bool) -> None:
        self.channel = channel
        self.queue = queue
        self.no_ack = no_ack
        self.pending = 0  # slots reserved by this puller (guarded by the Budget's lock)
        self.stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"natsync-kombu-{short_name(queue)[:40]}")
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end after its current fetch (it naks what it gets after)."""
        self.stopped.set()
        self.channel.budget.changed()

    def _run(self) -> None:
        transport = self.channel.transport
        cfg = transport.settings
        consumer = None
        pause = 0.1
        while not self.stopped.is_set():
            n = self.channel.budget.take(self, cfg.fetch_batch, wait=1.0)
            if n <= 0:
                continue
            msgs: List[Msg] = []
            try:
                if consumer is None:
                    consumer = transport.js.stream(cfg.stream).consumer(short_name(self.queue))
                msgs = fetch_some(consumer, n, cfg.pull_wait)
                pause = 0.1
            except ConnectionClosedError:
                self.channel.budget.give_back(self, n)
                return
            except NotFoundError:  # gone (x-expires while we could not pull, or a purge)
                consumer = None
                if not self.stopped.wait(pause):
                    transport.restore_queue(self.queue)
                pause = min(pause * 2, 2.0)
            except Error as exc:  # reconnecting, a server restart
                log.debug("fetch from %r failed: %r", self.queue, exc)
                self.stopped.wait(pause)
                pause = min(pause * 2, 2.0)
            self.channel.budget.give_back(self, n - len(msgs))
            for msg in msgs:
                if self.stopped.is_set():
                    _quietly(msg.nak)
                    self.channel.budget.give_back(self)
                else:
                    self.channel.receive(self, msg)


def _quietly(action: Callable[[], None]) -> None:
    """An ack/nak/term that may come after the client closed or the message was settled."""
    try:
        action()
    except (MsgAlreadyAckdError, ConnectionClosedError) as exc:
        log.debug("settling a message: %r", exc)
    except Error as exc:
        log.warning("settling a message failed (the server redelivers it after its ack "
                    "wait): %r", exc)


class Channel(VirtualChannel):
    """A kombu virtual channel whose queues, bindings and messages live in JetStream."""

    body_encoding = None  # type: ignore[assignment]  # bodies travel as raw bytes, not base64
    supports_fanout = True
    connection: Transport

    def __init__(self, connection: Transport, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self.transport = connection
        self._held: Dict[Any, Msg] = {}
        self._held_lock = threading.Lock()
        self._pullers: Dict[str, Puller] = {}
        self.budget = Budget(self._qos_room, cap=2 * connection.settings.fetch_batch)

    # --- declaring --------------------------------------------------------------------

    def _qos_room(self) -> Optional[int]:
        room: Optional[int] = self.qos.can_consume_max_estimate()
        return room

    def prepare_queue_arguments(self, arguments: Any, **kwargs: Any) -> Any:
        """kombu's queue settings (expires, message_ttl, ...) as the x-... arguments that
        `_new_queue` honours or refuses (kombu leaves them out for virtual transports)."""
        return to_rabbitmq_queue_arguments(arguments or {}, **kwargs)

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        self.transport.declare_queue(queue, **kwargs)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        return self.transport.queue_info(queue) is not None

    def _size(self, queue: str) -> int:
        info = self.transport.queue_info(queue)
        return info.num_pending if info is not None else 0

    def _purge(self, queue: str) -> int:
        return self.transport.purge_queue(queue)

    def queue_delete(self, queue: str, if_unused: bool = False, if_empty: bool = False,
                     **kwargs: Any) -> None:
        """Delete the queue's consumer: what only it was holding is dropped by the stream."""
        if if_empty and self._size(queue):
            return
        self.transport.delete_queue(queue)
        self.state.queue_bindings_delete(queue)

    def queue_bind(self, queue: str, exchange: Optional[str] = None, routing_key: str = "",
                   arguments: Any = None, **kwargs: Any) -> None:
        """Add the binding's filter subjects to the queue's consumer (kept by the server,
        so it survives restarts of workers and server)."""
        exchange = exchange or "amq.direct"
        kind = self.typeof(exchange).type
        self.transport.change_bindings(queue, add=(exchange, kind, routing_key or ""))
        self.state.binding_declare(queue, exchange, routing_key, arguments)

    def queue_unbind(self, queue: str, exchange: Optional[str] = None, routing_key: str = "",
                     arguments: Any = None, **kwargs: Any) -> None:
        exchange = exchange or "amq.direct"
        kind = self.typeof(exchange).type
        self.transport.change_bindings(queue, remove=(exchange, kind, routing_key or ""))
        self.state.binding_delete(queue, exchange, routing_key)

    def exchange_delete(self, exchange: str, if_unused: bool = False,
                        nowait: bool = False) -> None:
        """Remove every binding to `exchange` from every queue."""
        self.transport.unbind_exchange(exchange)
        self.state.exchanges.pop(exchange, None)

    # --- publishing -------------------------------------------------------------------

    def basic_publish(self, message: Dict[str, Any], exchange: str, routing_key: str,
                      **kwargs: Any) -> None:
        """Publish to the exchange's subject and return once JetStream has stored it."""
        self._inplace_augment_message(message, exchange, routing_key)
        self._put_routed(exchange or "", routing_key or "", message)

    def _put(self, queue: str, message: Dict[str, Any], **kwargs: Any) -> None:
        """Straight into `queue` (the default exchange with the queue's name)."""
        self._put_routed("", queue, message)

    def _put_routed(self, exchange: str, routing_key: str, message: Dict[str, Any]) -> None:
        cfg = self.transport.settings
        payload, headers = encode_message(message)
        ttl = _expiration(message)
        publish_durably(self.transport.js, publish_subject(cfg.subject_prefix, exchange,
                                                           routing_key),
                        payload, uuid.uuid4().hex, headers,
                        time.monotonic() + cfg.publish_timeout, msg_ttl=ttl)

    # --- consuming --------------------------------------------------------------------

    def basic_consume(self, queue: str, no_ack: bool, callback: Any, consumer_tag: str,
                      **kwargs: Any) -> None:
        if self.transport.queue_info(queue) is None:
            raise ChannelError(f"NOT_FOUND - no queue {queue!r}", (50, 10),
                               "Channel.basic_consume", "404")
        super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)
        self._pullers[consumer_tag] = Puller(self, queue, no_ack)

    def basic_cancel(self, consumer_tag: str) -> None:
        puller = self._pullers.pop(consumer_tag, None)
        if puller is not None:
            puller.stop()
        super().basic_cancel(consumer_tag)
        if puller is not None and self.transport.is_auto_delete(puller.queue):
            self.transport.delete_queue(puller.queue)

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> Any:
        """One message if one is ready within a short wait, else None."""
        msgs = self.transport.js.stream(self.transport.settings.stream).consumer(
            short_name(queue)).fetch(1, max_wait=self.transport.settings.get_wait)
        if not msgs:
            return None
        tag = self.transport.next_tag()
        payload = decode_message(msgs[0], tag, msgs[0].metadata.num_delivered > 1)
        message = self.Message(payload, channel=self)
        if no_ack:
            _quietly(msgs[0].ack)
        else:
            self._hold(tag, msgs[0])
            self.qos.append(message, tag)
        return message

    def receive(self, puller: Puller, msg: Msg) -> None:
        """A fetched message: checked, held (its ack deadline kept alive), put in the inbox."""
        tag = self.transport.next_tag()
        try:
            payload = decode_message(msg, tag, msg.metadata.num_delivered > 1)
        except (BadArgumentError, ValueError) as exc:
            log.error("dropping a message on %r that kombu cannot read: %s", msg.subject, exc)
            _quietly(lambda: msg.term("not a kombu message"))
            self.budget.give_back(puller)
            return
        ttl = self.transport.message_ttl(puller.queue)
        age = time.time() - msg.metadata.timestamp.timestamp()
        if ttl is not None and age > ttl:  # x-message-ttl: expired before it was delivered
            _quietly(msg.ack)
            self.budget.give_back(puller)
            return
        if puller.no_ack:
            _quietly(msg.ack)
        else:
            self._hold(tag, msg)
        self.transport.inbox.put((self, puller, payload))

    def delivered(self, puller: Puller, payload: Dict[str, Any]) -> None:
        """Hand one inbox item to kombu's callback for its queue (on drain_events' thread)."""
        try:
            if puller.stopped.is_set() or self.closed:
                self._restore_tag(payload["properties"]["delivery_tag"])
                return
            self.transport.deliver(payload, puller.queue)
        finally:
            self.budget.give_back(puller)

    def _hold(self, tag: Any, msg: Msg) -> None:
        with self._held_lock:
            self._held[tag] = msg
        self.transport.keeper.hold(tag, msg)

    def _take(self, tag: Any) -> Optional[Msg]:
        with self._held_lock:
            msg = self._held.pop(tag, None)
        self.transport.keeper.release(tag)
        return msg

    # --- settling ---------------------------------------------------------------------

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        msg = self._take(delivery_tag)
        if msg is not None:
            _quietly(msg.ack)
        super().basic_ack(delivery_tag, multiple)
        self.budget.changed()

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        """requeue=True: delivered again (nak); requeue=False: never again (term)."""
        if not requeue:
            msg = self._take(delivery_tag)
            if msg is not None:
                _quietly(lambda: msg.term("rejected"))
        super().basic_reject(delivery_tag, requeue=requeue)
        self.budget.changed()

    def basic_qos(self, prefetch_size: int = 0, prefetch_count: int = 0,
                  apply_global: bool = False) -> None:
        super().basic_qos(prefetch_size, prefetch_count, apply_global)
        self.budget.changed()

    def _restore(self, message: Any) -> None:
        """Give an unacked message back: JetStream redelivers it (no copy is published)."""
        self._restore_tag(message.delivery_tag)

    def _restore_tag(self, tag: Any) -> None:
        msg = self._take(tag)
        if msg is not None:
            _quietly(msg.nak)

    def close(self) -> None:
        """Stop the pullers, give back (nak) every message held, and close."""
        for puller in list(self._pullers.values()):
            puller.stop()
        super().close()
        with self._held_lock:
            left = list(self._held)
        for tag in left:
            self._restore_tag(tag)


def _expiration(message: Dict[str, Any]) -> Optional[float]:
    """The message's own TTL (kombu's `expiration` property, in ms) in seconds, if any."""
    raw = (message.get("properties") or {}).get("expiration")
    if raw in (None, ""):
        return None
    try:
        ms = float(raw)
    except (TypeError, ValueError):
        raise BadArgumentError(f"message expiration must be milliseconds, got {raw!r}") from None
    return max(ms / 1000.0, 1.0)


def bindings_of(metadata: Optional[Dict[str, str]], queue: str) -> List[Binding]:
    """A queue's bindings as kept in its consumer's metadata (its default one if none)."""
    raw = (metadata or {}).get(META_BINDINGS)
    if not raw:
        return [default_binding(queue)]
    return [(str(e), str(k), str(r)) for e, k, r in json.loads(raw)]
