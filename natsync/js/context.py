"""The JetStream context: acknowledged publishing and every kind of consumer, plus management."""

from __future__ import annotations

from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Callable, Iterable, List, Mapping, Optional, Union

from ..args import payload_bytes as _payload_bytes
from ..errors import BadArgumentError
from ..headers import HeadersLike
from ..kv.bucket import KeyValue
from ..kv.config import BucketStatus, KeyValueConfig
from ..kv.manager import KeyValueManager
from ..obs.config import ObjectStoreConfig, ObjectStoreStatus
from ..obs.manager import ObjectStoreManager
from ..obs.store import ObjectStore
from ..subjects import check_queue, check_subject

# issue 14, publish half
from . import api, counters, features
from .batch import AtomicBatch
from .consumer import Stream
from .deadletter import DEFAULT_MAX_PENDING, DeadLetter, DeadLetters
from .errors import NotFoundError
from .fast_batch import FastBatch
from .features import require
from .manager import DEFAULT_PREFIX, JetStreamManager
from .publish import AsyncPublisher, publish_headers, publish_sync
from .pull import PullSubscription
from .push import Callback, PushSubscription
from .schedule import Schedule, schedule_headers

if TYPE_CHECKING:
    from ..client import Client

DEFAULT_ORDERED_HEARTBEAT = 5.0


class JetStreamContext(JetStreamManager):
    """`nc.jetstream()`: publish with acks, subscribe (push, pull, ordered), manage streams,
    and open Key-Value and Object Store buckets.

    It is a JetStreamManager with publishing and consuming on top; the bucket methods
    are those of the KeyValueManager and ObjectStoreManager it holds.
    """

    def __init__(self, nc: Client, prefix: str = DEFAULT_PREFIX, domain: Optional[str] = None,
                 timeout: float = 5.0, publish_async_max_pending: int = 4000,
                 required_api_level: Optional[int] = None) -> None:
        super().__init__(nc, prefix, domain, timeout, required_api_level)
        self._async = AsyncPublisher(nc, publish_async_max_pending, timeout)
        self._kv = KeyValueManager(self)
        self._obs = ObjectStoreManager(self, timeout)

    # --- publishing -----------------------------------------------------------------------

    def publish(self, subject: str, payload: bytes = b"", timeout: Optional[float] = None,
                stream: Optional[str] = None, headers: Optional[HeadersLike] = None,
                msg_id: Optional[str] = None, expected_stream: Optional[str] = None,
                expected_last_seq: Optional[int] = None,
                expected_last_subject_seq: Optional[int] = None,
                expected_last_msg_id: Optional[str] = None,
                msg_ttl: Union[int, float, str, None] = None,
                expected_last_subject_seq_subject: Optional[str] = None) -> api.PubAck:
        """Publish and wait for the stream's acknowledgement.

        The keyword shortcuts set the Nats-* headers (`stream` is the expected stream);
        a failed expectation raises the server's APIError.
        `expected_last_subject_seq_subject` checks `expected_last_subject_seq` against
        the last message of that subject (wildcards allowed; nats-server 2.11+).
        """
        if expected_last_subject_seq_subject is not None:
            require(self._nc, features.LAST_SUBJECT_SEQ_SUBJECT)
        hdrs = publish_headers(headers, msg_id, expected_stream or stream, expected_last_seq,
                               expected_last_subject_seq, expected_last_msg_id, msg_ttl,
                               expected_last_subject_seq_subject)
        return publish_sync(self._nc, subject, _bytes(payload),
                            self._timeout if timeout is None else timeout, hdrs)

    def publish_async(self, subject: str, payload: bytes = b"", timeout: Optional[float] = None,
                      stream: Optional[str] = None, headers: Optional[HeadersLike] = None,
                      msg_id: Optional[str] = None, expected_stream: Optional[str] = None,
                      expected_last_seq: Optional[int] = None,
                      expected_last_subject_seq: Optional[int] = None,
                      expected_last_msg_id: Optional[str] = None,
                      msg_ttl: Union[int, float, str, None] = None,
                      expected_last_subject_seq_subject: Optional[str] = None
                      ) -> Future[api.PubAck]:
        """Publish without waiting: a Future of the PubAck (blocks while the window is full)."""
        if (headers is None and msg_id is None and stream is None and expected_stream is None
                and expected_last_seq is None and expected_last_subject_seq is None
                and expected_last_msg_id is None and msg_ttl is None
                and expected_last_subject_seq_subject is None):
            hdrs = None  # the common case, on the hot path of bulk publishing
        else:
            if expected_last_subject_seq_subject is not None:
                require(self._nc, features.LAST_SUBJECT_SEQ_SUBJECT)
            hdrs = publish_headers(headers, msg_id, expected_stream or stream, expected_last_seq,
                                   expected_last_subject_seq, expected_last_msg_id, msg_ttl,
                                   expected_last_subject_seq_subject)
        return self._async.publish(subject, _bytes(payload), hdrs, timeout)

    def publish_async_pending(self) -> int:
        """Async publishes still waiting for their acknowledgement."""
        return self._async.pending()

    def publish_async_completed(self, timeout: Optional[float] = None) -> bool:
        """Wait until every async publish so far is acknowledged (or failed); False on timeout."""
        return self._async.completed(timeout)

    # --- issue 14, publish half: counters, batches, schedules (ADR-49, 50, 51) -------------

    def counter_incr(self, subject: str, by: int = 1, timeout: Optional[float] = None) -> int:
        """Add `by` (any size, negative or 0) to the counter of `subject`; the new total."""
        require(self._nc, features.COUNTERS)
        return counters.value_from_ack(self.publish(subject, b"", timeout=timeout,
                                                    headers=counters.incr_headers(by)))

    def counter_get(self, stream: str, subject: str) -> int:
        """The total of a counter (0 for a subject never incremented)."""
        return counters.read(self, stream, subject).value

    def counter_value(self, stream: str, subject: str) -> counters.CounterValue:
        """A counter with its per-source breakdown (`.value`, `.sources`, `.seq`)."""
        return counters.read(self, stream, subject)

    def counter_get_many(self, stream: str, subjects: Iterable[str]) -> dict[str, int]:
        """Totals of several counters; wildcards stand for every stored matching subject."""
        return counters.read_many(self, stream, subjects)

    def atomic_batch(self, timeout: Optional[float] = None) -> AtomicBatch:
        """An all-or-nothing batch of up to 1,000 messages (stream `allow_atomic`)."""
        return AtomicBatch(self._nc, self._timeout if timeout is None else timeout)

    def fast_batch(self, timeout: Optional[float] = None, flow: int = 500, gap: str = "fail",
                   max_outstanding_acks: int = 2) -> FastBatch:
        """A flow-controlled fast-ingest publisher (stream `allow_batched`, server 2.14+)."""
        return FastBatch(self._nc, self._timeout if timeout is None else timeout, flow, gap,
                         max_outstanding_acks)

    def publish_schedule(self, subject: str, payload: bytes = b"", *, target: str,
                         schedule: Schedule, ttl: Union[int, float, str, None] = None,
                         time_zone: Optional[str] = None, rollup: Optional[str] = None,
                         source: Optional[str] = None, headers: Optional[HeadersLike] = None,
                         timeout: Optional[float] = None) -> api.PubAck:
        """Store a schedule on `subject` that publishes `payload` to `target` (same stream)
        at `schedule`: "@at <time>", "@every 5m", "@hourly" or 6-field cron."""
        require(self._nc, features.SCHEDULES)
        if time_zone is not None:
            require(self._nc, features.SCHEDULE_TIME_ZONE)
        hdrs = schedule_headers(subject, target, schedule, ttl, time_zone, rollup, source,
                                headers)
        return self.publish(subject, payload, timeout=timeout, headers=hdrs)

    def cancel_schedule(self, subject: str, stream: Optional[str] = None) -> bool:
        """Stop the schedule stored on `subject` (purges that subject)."""
        check_subject(subject)
        return self.purge_stream(self._stream_for(subject, stream), subject=subject)

    # --- simplified API (ADR-37) ------------------------------------------------------------

    def stream(self, name: str) -> Stream:
        """A handle on an existing stream (NotFoundError naming it if absent)."""
        self.stream_info(name)
        return Stream(self, name)

    def dead_letters(self, stream: str, consumer: str,
                     cb: Optional[Callable[[DeadLetter], Any]] = None,
                     max_pending: int = DEFAULT_MAX_PENDING) -> DeadLetters:
        """The messages `consumer` gives up on from now on (max deliveries reached, or
        `term()`), read back from the stream: an iterator, or `cb(dead_letter)` on a thread.
        Close it when done."""
        return DeadLetters(self, stream, consumer, cb, max_pending)

    # --- pull -------------------------------------------------------------------------------

    def _stream_for(self, subject: str, stream: Optional[str]) -> str:
        if stream:
            return stream
        return self.find_stream_name_by_subject(subject)

    def pull_subscribe(self, subject: str, durable: Optional[str] = None,
                       stream: Optional[str] = None, config: Optional[api.ConsumerConfig] = None,
                       pending_msgs_limit: int = 512 * 1024,
                       pending_bytes_limit: int = 256 * 1024 * 1024) -> PullSubscription:
        """A pull consumer for `subject`: the durable one (created if missing) or an ephemeral one."""
        check_subject(subject, wildcards=True)
        stream = self._stream_for(subject, stream)
        cfg = config or api.ConsumerConfig()
        if cfg.filter_subject is None and not cfg.filter_subjects:
            cfg = cfg.evolve(filter_subject=subject)
        name = durable or cfg.durable_name or cfg.name
        if durable:
            cfg = cfg.evolve(durable_name=durable)
        info = None
        if name:
            try:
                info = self.consumer_info(stream, name)
            except NotFoundError:
                info = None
        if info is None:
            info = self.add_consumer(stream, cfg)
        return self._bind_pull(stream, info.name or "", ephemeral=not name,
                               pending_msgs_limit=pending_msgs_limit,
                               pending_bytes_limit=pending_bytes_limit, config=info.config)

    def pull_subscribe_bind(self, durable: str, stream: str) -> PullSubscription:
        """Bind to an existing pull consumer."""
        info = self.consumer_info(stream, durable)
        return self._bind_pull(stream, durable, ephemeral=False, config=info.config)

    def _bind_pull(self, stream: str, consumer: str, ephemeral: bool,
                   pending_msgs_limit: int = 512 * 1024,
                   pending_bytes_limit: int = 256 * 1024 * 1024,
                   config: Optional[api.ConsumerConfig] = None) -> PullSubscription:
        inbox = self._nc.new_inbox()
        sub = self._nc.subscribe(inbox + ".*", pending_msgs_limit=pending_msgs_limit,
                                 pending_bytes_limit=pending_bytes_limit)
        return PullSubscription(self, stream, consumer, sub, inbox, ephemeral, config)

    # --- push -------------------------------------------------------------------------------

    def subscribe(self, subject: str, queue: Optional[str] = None, cb: Optional[Callback] = None,
                  durable: Optional[str] = None, stream: Optional[str] = None,
                  config: Optional[api.ConsumerConfig] = None, manual_ack: bool = False,
                  ordered_consumer: bool = False, idle_heartbeat: Optional[float] = None,
                  flow_control: bool = False, deliver_policy: Optional[api.DeliverPolicy] = None,
                  headers_only: Optional[bool] = None,
                  inactive_threshold: Optional[float] = None) -> PushSubscription:
        """A push subscription: messages on `next_msg()`/iteration, or to `cb` (acked after it).

        With `queue` the consumer is shared by the group (durable named after the queue
        unless `durable` is given). `ordered_consumer=True` gives every message once, in
        order, surviving gaps and reconnects.
        """
        check_subject(subject, wildcards=True)
        if queue:
            check_queue(queue)
            if ordered_consumer:
                raise BadArgumentError("an ordered consumer cannot be shared by a queue group")
            durable = durable or queue
        stream = self._stream_for(subject, stream)
        cfg = config or api.ConsumerConfig()
        changes: dict[str, Any] = {}
        if cfg.filter_subject is None and not cfg.filter_subjects:
            changes["filter_subject"] = subject
        if deliver_policy is not None:
            changes["deliver_policy"] = deliver_policy
        if headers_only is not None:
            changes["headers_only"] = headers_only
        if inactive_threshold is not None:
            changes["inactive_threshold"] = inactive_threshold
        if idle_heartbeat is not None:
            changes["idle_heartbeat"] = idle_heartbeat
        if flow_control:
            changes["flow_control"] = True
        if ordered_consumer:
            changes.update(ack_policy=api.AckPolicy.NONE, max_deliver=1, flow_control=True,
                           mem_storage=True, num_replicas=1,
                           idle_heartbeat=idle_heartbeat or cfg.idle_heartbeat
                           or DEFAULT_ORDERED_HEARTBEAT)
            if inactive_threshold is None and cfg.inactive_threshold is None:
                changes["inactive_threshold"] = 300.0
        if durable:
            changes["durable_name"] = durable
        if queue:
            changes["deliver_group"] = queue
        cfg = cfg.evolve(**changes)
        name = durable or cfg.durable_name or cfg.name
        if name:
            try:
                existing = self.consumer_info(stream, name)
            except NotFoundError:
                existing = None
            if existing is not None:
                return self._bind_push(stream, existing, queue or "", cb, manual_ack)
        deliver = self._nc.new_inbox()
        info = self.add_consumer(stream, cfg.evolve(deliver_subject=deliver))
        return PushSubscription(
            self, stream, info.name or "", deliver, queue or "", cb, manual_ack,
            ephemeral=not name, ack_policy=info.config.ack_policy,
            ordered_config=cfg if ordered_consumer else None,
            heartbeat=cfg.idle_heartbeat if ordered_consumer else None)

    def subscribe_bind(self, stream: str, consumer: str, cb: Optional[Callback] = None,
                       manual_ack: bool = False, queue: Optional[str] = None) -> PushSubscription:
        """Bind to an existing push consumer."""
        return self._bind_push(stream, self.consumer_info(stream, consumer), queue or "", cb,
                               manual_ack)

    def _bind_push(self, stream: str, info: api.ConsumerInfo, queue: str,
                   cb: Optional[Callback], manual_ack: bool) -> PushSubscription:
        config = info.config or api.ConsumerConfig()
        deliver = config.deliver_subject
        if not deliver:
            raise BadArgumentError(f"consumer {info.name!r} on stream {stream!r} is a pull consumer; "
                             "use pull_subscribe_bind")
        group = config.deliver_group or ""
        if group != queue:
            raise BadArgumentError(f"consumer {info.name!r} delivers to queue group {group!r}, "
                             f"not {queue!r}")
        return PushSubscription(self, stream, info.name or "", deliver, queue, cb, manual_ack,
                                ephemeral=False, ack_policy=config.ack_policy)

    # --- Key-Value buckets (natsync.kv.KeyValueManager) -------------------------------------

    def create_key_value(self, config: Union[KeyValueConfig, Mapping[str, Any], str, None] = None,
                         **params: Any) -> KeyValue:
        """Create a bucket (or open it if it exists with the same settings).

        Settings come from `config` (a KeyValueConfig, a dict of its fields, or just the
        bucket name) and/or keywords of KeyValueConfig (keywords win). A bucket that
        exists with other settings raises StreamNameInUseError.
        """
        return self._kv.create_key_value(config, **params)

    def update_key_value(self, config: Union[KeyValueConfig, Mapping[str, Any], str, None] = None,
                         **params: Any) -> KeyValue:
        """Change an existing bucket's settings: a whole KeyValueConfig, or a bucket name
        and the settings to change as keywords (see KeyValueManager.update_key_value)."""
        return self._kv.update_key_value(config, **params)

    def create_or_update_key_value(
            self, config: Union[KeyValueConfig, Mapping[str, Any], str, None] = None,
            **params: Any) -> KeyValue:
        """Update the bucket if it exists, else create it."""
        return self._kv.create_or_update_key_value(config, **params)

    def key_value(self, bucket: str) -> KeyValue:
        """A handle on an existing bucket (BucketNotFoundError if there is none)."""
        return self._kv.key_value(bucket)

    def delete_key_value(self, bucket: str) -> bool:
        """Delete a bucket and every key in it (BucketNotFoundError if there is none)."""
        return self._kv.delete_key_value(bucket)

    def key_value_store_names(self) -> List[str]:
        """The names of every Key-Value bucket in the account, sorted."""
        return self._kv.key_value_store_names()

    def key_value_stores(self) -> List[BucketStatus]:
        """The status of every Key-Value bucket in the account, sorted by name."""
        return self._kv.key_value_stores()

    # --- Object Store buckets (natsync.obs.ObjectStoreManager) ------------------------------

    def create_object_store(self, bucket: Optional[str] = None,
                            config: Optional[ObjectStoreConfig] = None,
                            **params: Any) -> ObjectStore:
        """Create a bucket (or open it if it exists with the same settings).

        Settings come from `config` and/or keywords of ObjectStoreConfig (keywords win).
        """
        return self._obs.create_object_store(bucket, config, **params)

    def update_object_store(self, bucket: Optional[str] = None,
                            config: Optional[ObjectStoreConfig] = None,
                            **params: Any) -> ObjectStore:
        """Change an existing bucket's settings: a whole ObjectStoreConfig, or the settings
        to change as keywords (see ObjectStoreManager.update_object_store)."""
        return self._obs.update_object_store(bucket, config, **params)

    def create_or_update_object_store(self, bucket: Optional[str] = None,
                                      config: Optional[ObjectStoreConfig] = None,
                                      **params: Any) -> ObjectStore:
        """Update the bucket if it exists, else create it."""
        return self._obs.create_or_update_object_store(bucket, config, **params)

    def object_store(self, bucket: str) -> ObjectStore:
        """A handle on an existing bucket (BucketNotFoundError if there is none)."""
        return self._obs.object_store(bucket)

    def delete_object_store(self, bucket: str) -> bool:
        """Delete a bucket and every object in it (BucketNotFoundError if there is none)."""
        return self._obs.delete_object_store(bucket)

    def object_store_names(self) -> List[str]:
        """The names of every object store bucket in the account."""
        return self._obs.object_store_names()

    def object_stores(self) -> List[ObjectStoreStatus]:
        """The status of every object store bucket in the account."""
        return self._obs.object_stores()


def _bytes(payload: Any) -> bytes:
    return payload if type(payload) is bytes else _payload_bytes(payload)
