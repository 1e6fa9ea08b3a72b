"""Dramatiq's results and rate-limiter backends on JetStream Key-Value buckets.

Results: one key per message, written once with a per-key TTL (`result_ttl`), so the
bucket needs nats-server 2.11+ (`limit_marker_ttl`). `get_result(block=True)` watches the
key instead of polling.

Rate limits: each key holds `<value> <expires-at-ms>`; every change is a compare-and-set
on the key's revision (atomic across processes), a value past its expiry counts as
absent, and the bucket's own TTL removes what nobody touches any more.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

from dramatiq.rate_limits import RateLimiterBackend
from dramatiq.results import ResultBackend, ResultMissing, ResultTimeout
from dramatiq.results.backend import Missing, MResult

from ...client import Client
from ...errors import BadArgumentError
from ...js.errors import NotFoundError
from ...kv.bucket import KeyValue
from ...kv.errors import KeyNotFoundError, KeyWrongLastSequenceError
from ..process import ProcessClient
from ..taskqueue import cas_update, token, watch_values

#: Results waited for without a timeout are waited for this long (ms), as Dramatiq does.
DEFAULT_TIMEOUT = 10_000


class _Bucket:
    """A lazily opened (or created) bucket, per process."""

    def __init__(self, url: Any, bucket: str, connect_options: Optional[Dict[str, Any]],
                 **config: Any) -> None:
        options = {"max_reconnect_attempts": -1, **(connect_options or {})}
        self.holder = ProcessClient(url, sigterm="off", **options)
        self.name = bucket
        self.config = config
        self._kv: Optional[Tuple[int, KeyValue]] = None

    @property
    def client(self) -> Client:
        return self.holder.client

    def close(self) -> None:
        """Drain this process's client (a later use connects again)."""
        self.holder.close()
        self._kv = None

    @property
    def kv(self) -> KeyValue:
        client = self.holder.client
        if self._kv is None or self._kv[0] != id(client):
            js = client.jetstream()
            try:
                kv = js.key_value(self.name)
            except NotFoundError:
                kv = js.create_key_value(bucket=self.name, **self.config)
            if self.config.get("limit_marker_ttl") and not kv.status().limit_marker_ttl:
                raise BadArgumentError(f"bucket {self.name!r} exists without limit_marker_ttl: "
                                       "results need per-key TTLs (use another bucket)")
            self._kv = (id(client), kv)
        return self._kv[1]


class KeyValueResults(ResultBackend):  # type: ignore[misc]
    """Stores actor results in a Key-Value bucket (`dramatiq.results.Results(backend=...)`)."""

    def __init__(self, url: Any = None, *, bucket: str = "dramatiq_results",
                 namespace: str = "dramatiq-results", encoder: Any = None,
                 connect_options: Optional[Dict[str, Any]] = None, replicas: int = 1) -> None:
        super().__init__(namespace=namespace, encoder=encoder)
        self.bucket = _Bucket(url, bucket, connect_options, limit_marker_ttl=1.0,
                              replicas=replicas, description="Dramatiq results")

    def close(self) -> None:
        """Drain this process's client (a later use connects again)."""
        self.bucket.close()

    def _get(self, message_key: str) -> MResult:
        try:
            data = self.bucket.kv.get(token(message_key)).value
        except KeyNotFoundError:
            return Missing
        return self.encoder.decode(data)

    def _store(self, message_key: str, result: Any, ttl: int) -> None:
        """Written once: a redelivered message's second result leaves the first in place."""
        try:
            self.bucket.kv.create(token(message_key), self.encoder.encode(result),
                                  msg_ttl=max(ttl / 1000.0, 1.0))
        except KeyWrongLastSequenceError:
            pass

    def get_result(self, message: Any, *, block: bool = False,
                   timeout: Optional[int] = None) -> Any:
        """The result; with `block`, watches the key until it is written (ResultTimeout
        after `timeout` ms, 10 s by default)."""
        key = self.build_message_key(message)
        if not block:
            result = self._get(key)
            if result is Missing:
                raise ResultMissing(message)
            return self.unwrap_result(result)
        deadline = time.monotonic() + (DEFAULT_TIMEOUT if timeout is None else timeout) / 1000
        try:
            for _, value in watch_values(self.bucket.kv, [token(key)], deadline):
                return self.unwrap_result(self.encoder.decode(value))
        except TimeoutError:
            raise ResultTimeout(message) from None
        raise ResultTimeout(message)  # pragma: no cover


def _parse(raw: Optional[bytes]) -> Optional[int]:
    """The live value of a rate-limit key, None when absent or expired."""
    if not raw:
        return None
    value, _, expires = raw.decode().partition(" ")
    return int(value) if expires and int(expires) > time.time() * 1000 else None


def _stamp(value: int, ttl: int) -> bytes:
    return f"{value} {int(time.time() * 1000) + ttl}".encode()


class _Refused(Exception):
    """A compare-and-set change that must not happen (the limit is reached)."""


class KeyValueRateLimiter(RateLimiterBackend):  # type: ignore[misc]
    """The backend of Dramatiq's rate limiters (concurrent, bucket, window) and barriers."""

    def __init__(self, url: Any = None, *, bucket: str = "dramatiq_rate_limits",
                 ttl: float = 3600.0, connect_options: Optional[Dict[str, Any]] = None,
                 replicas: int = 1) -> None:
        self.bucket = _Bucket(url, bucket, connect_options, ttl=ttl, replicas=replicas,
                              description="Dramatiq rate limits")

    def close(self) -> None:
        """Drain this process's client (a later use connects again)."""
        self.bucket.close()

    def _change(self, key: str, new: Callable[[Optional[int]], Optional[int]], ttl: int) -> bool:
        def change(raw: Optional[bytes]) -> bytes:
            value = new(_parse(raw))
            if value is None:
                raise _Refused
            return _stamp(value, ttl)

        try:
            cas_update(self.bucket.kv, token(key), change)
        except _Refused:
            return False
        return True

    def add(self, key: str, value: int, ttl: int) -> bool:
        return self._change(key, lambda cur: value if cur is None else None, ttl)

    def incr(self, key: str, amount: int, maximum: int, ttl: int) -> bool:
        def up(cur: Optional[int]) -> Optional[int]:
            value = (cur or 0) + amount
            return value if value <= maximum else None
        return self._change(key, up, ttl)

    def decr(self, key: str, amount: int, minimum: int, ttl: int) -> bool:
        def down(cur: Optional[int]) -> Optional[int]:
            value = (cur or 0) - amount
            return value if value >= minimum else None
        return self._change(key, down, ttl)

    def incr_and_sum(self, key: str, keys: Callable[[], Sequence[str]], amount: int,
                     maximum: int, ttl: int) -> bool:
        kv = self.bucket.kv

        def up(cur: Optional[int]) -> Optional[int]:
            value = (cur or 0) + amount
            others = [k for k in keys() if k != key]
            total = value + sum(self._read(kv, k) for k in others)
            return value if value <= maximum and total <= maximum else None
        return self._change(key, up, ttl)

    @staticmethod
    def _read(kv: KeyValue, key: str) -> int:
        try:
            return _parse(kv.get(token(key)).value) or 0
        except KeyNotFoundError:
            return 0

    def wait(self, key: str, timeout: int) -> bool:
        """Whether `wait_notify(key)` happened (and has not expired) within `timeout` ms."""
        deadline = time.monotonic() + timeout / 1000
        try:
            for _, value in watch_values(self.bucket.kv, [token(key)], deadline):
                if _parse(value) is not None:
                    return True
        except TimeoutError:
            return False
        return False  # pragma: no cover

    def wait_notify(self, key: str, ttl: int) -> None:
        self.bucket.kv.put(token(key), _stamp(1, ttl))

