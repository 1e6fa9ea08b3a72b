"""A Celery result backend on a JetStream Key-Value bucket::

    result_backend = "natsync.contrib.celery:KeyValueBackend+nats://127.0.0.1:4222"
    result_backend_transport_options = {"bucket": "celery_results"}      # optional

Results, group results and chord counters are keys of one bucket whose TTL is
`result_expires`, so old results age out on the server. The chord counter is incremented
by compare-and-set on its revision (atomic across workers). `AsyncResult.get()` and
`GroupResult.get()` watch the keys they wait for instead of polling.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from celery import states
from celery.backends.base import KeyValueStoreBackend
from celery.exceptions import ImproperlyConfigured
from celery.exceptions import TimeoutError as CeleryTimeoutError
from kombu.utils.encoding import bytes_to_str

from ...js.errors import NotFoundError
from ...kv.bucket import KeyValue
from ...kv.errors import KeyNotFoundError
from ..process import ProcessClient
from ..taskqueue import cas_update, token, watch_values

#: How many keys one watch follows at a time (one filter subject each).
WATCH_CHUNK = 256
_OPTIONS = ("bucket", "replicas", "connect_options")


class KeyValueBackend(KeyValueStoreBackend):
    """Celery's key/value result backend, stored in natsync Key-Value."""

    key_t = staticmethod(bytes_to_str)
    implements_incr = True
    supports_autoexpire = True
    supports_native_join = True

    def __init__(self, app: Any, url: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(app, url=url, **kwargs)
        opts = dict(app.conf.get("result_backend_transport_options") or {})
        unknown = sorted(set(opts) - set(_OPTIONS) - {"global_keyprefix"})
        if unknown:
            raise ImproperlyConfigured(f"unknown result_backend_transport_options for the "
                                       f"natsync backend: {', '.join(unknown)}")
        self.bucket = str(opts.get("bucket", "celery_results"))
        self.replicas = int(opts.get("replicas", 1))
        self.url = url or app.conf.broker_url or "nats://127.0.0.1:4222"
        self._holder = ProcessClient(self.url, sigterm="off", name="natsync-celery-results",
                                     max_reconnect_attempts=-1,
                                     **dict(opts.get("connect_options") or {}))
        self._kv: Optional[Tuple[int, KeyValue]] = None

    @property
    def kv(self) -> KeyValue:
        """This process's handle on the bucket, created with TTL `result_expires` if new."""
        client = self._holder.client
        if self._kv is not None and self._kv[0] == id(client):
            return self._kv[1]
        js = client.jetstream()
        try:
            kv = js.key_value(self.bucket)
        except NotFoundError:
            ttl = float(self.expires) if self.expires else None
            kv = js.create_key_value(bucket=self.bucket, ttl=ttl, replicas=self.replicas,
                                     description="Celery results (natsync.contrib.celery)")
        self._kv = (id(client), kv)
        return kv

    def close(self) -> None:
        """Drain this process's client (a later use connects again)."""
        self._holder.close()
        self._kv = None

    def as_uri(self, include_password: bool = False) -> str:
        from .transport import _mask

        return self.url if include_password else _mask(self.url, "**")

    # --- the key/value primitives Celery calls ------------------------------------------

    def get(self, key: Any) -> Optional[bytes]:
        try:
            value: bytes = self.kv.get(_key(key)).value
            return value
        except KeyNotFoundError:
            return None

    def mget(self, keys: Iterable[Any]) -> List[Optional[bytes]]:
        return [self.get(k) for k in keys]

    def set(self, key: Any, value: Any) -> None:
        self.kv.put(_key(key), value.encode() if isinstance(value, str) else value)

    def delete(self, key: Any) -> None:
        self.kv.purge(_key(key))

    def incr(self, key: Any) -> int:
        """Add one to a counter key, atomically across processes (compare-and-set)."""
        stored = cas_update(self.kv, _key(key), lambda cur: b"%d" % (int(cur or b"0") + 1))
        return int(stored)

    def expire(self, key: Any, value: Any) -> None:
        """Nothing to do: every key lives as long as the bucket's TTL (`result_expires`)."""

    def cleanup(self) -> None:
        """Nothing to do: the server drops results older than the bucket's TTL itself."""

    # --- waiting without polling -------------------------------------------------------

    def wait_for(self, task_id: str, timeout: Optional[float] = None, interval: float = 0.5,
                 no_ack: bool = True, on_interval: Optional[Callable[[], None]] = None
                 ) -> Dict[str, Any]:
        """The task's result meta once it is ready: watches its key (no polling)."""
        self._ensure_not_eager()
        try:
            for _, meta in self._ready([task_id], timeout, interval, on_interval):
                return meta
        except TimeoutError:
            raise CeleryTimeoutError("The operation timed out.") from None
        raise CeleryTimeoutError("The operation timed out.")  # pragma: no cover

    def get_many(self, task_ids: Iterable[Any], timeout: Optional[float] = None,
                 interval: float = 0.5, no_ack: bool = True,
                 on_message: Optional[Callable[[Dict[str, Any]], None]] = None,
                 on_interval: Optional[Callable[[], None]] = None,
                 max_iterations: Optional[int] = None,
                 READY_STATES: frozenset[str] = states.READY_STATES,
                 ) -> Iterator[Tuple[str, Dict[str, Any]]]:
        """(task_id, meta) for each task as it becomes ready, cached ones first."""
        ids = [bytes_to_str(i) for i in task_ids]
        pending: List[str] = []
        for task_id in dict.fromkeys(ids):
            cached = self._cache.get(task_id)
            if cached is not None and cached["status"] in READY_STATES:
                yield task_id, cached
            else:
                pending.append(task_id)
        for task_id, meta in self._ready(pending, timeout, interval, on_interval):
            if on_message is not None:
                on_message(meta)
            yield task_id, meta

    def _ready(self, task_ids: List[str], timeout: Optional[float], interval: float,
               on_interval: Optional[Callable[[], None]]) -> Iterator[Tuple[str, Dict[str, Any]]]:
        """Watch the result keys of `task_ids` (a chunk at a time) and yield each ready
        one; TimeoutError once `timeout` seconds passed with some still pending."""
        deadline = None if timeout is None else time.monotonic() + timeout
        tick = max(0.05, interval or 0.5)
        for start in range(0, len(task_ids), WATCH_CHUNK):
            keys = {_key(self.get_key_for_task(t)): t for t in task_ids[start:start + WATCH_CHUNK]}
            pending = set(keys.values())
            for key, value in watch_values(self.kv, list(keys), deadline, tick, on_interval):
                task_id = keys[key]
                meta = self.decode_result(value)
                if task_id in pending and meta["status"] in states.READY_STATES:
                    pending.discard(task_id)
                    self._cache[task_id] = meta
                    yield task_id, meta
                    if not pending:
                        break


def _key(key: Any) -> str:
    """A Celery key (str or bytes) as a valid Key-Value key."""
    return token(bytes_to_str(key))
