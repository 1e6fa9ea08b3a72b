"""Pieces the Celery (kombu) and Dramatiq integrations share, framework-free.

- `token()`: any queue, exchange or routing-key word as one subject token, consumer name
  or Key-Value key part, reversibly, so names with dots, spaces or `@` are safe.
- `publish_durably()`: a JetStream publish that rides out a server restart with a stable
  `Nats-Msg-Id`, so a retry never stores the message twice.
- `Keeper`: keeps the ack deadline of held messages alive with `in_progress()`, so a task
  that runs long (or waits for its ETA) is not redelivered while its worker lives.
- `fetch_some()`: a pull that returns as soon as one message is there, with whatever else
  is ready at once, instead of waiting for a full batch.
- `cas_update()`: read-modify-write of one Key-Value key by compare-and-set.
- `watch_values()`: the values of some Key-Value keys as they are written (a watch, no
  polling), for result backends that block until a result is there.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Callable, Dict, Hashable, Iterator, Optional, Sequence, Tuple

from ..errors import BadArgumentError, ConnectionClosedError, Error
from ..errors import TimeoutError as NatsTimeoutError
from ..headers import HeadersLike
from ..js.api import PubAck
from ..js.consumer import Consumer
from ..js.context import JetStreamContext
from ..js.errors import NoStreamResponseError, ServiceUnavailableError
from ..kv.bucket import KeyValue
from ..kv.entry import Operation
from ..kv.errors import KeyNotFoundError, KeyWrongLastSequenceError
from ..msg import Msg

log = logging.getLogger("natsync.contrib.taskqueue")

_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
#: Longest consumer/stream name made from a user's name before it is shortened with a hash.
MAX_NAME = 96
#: Errors a publish may hit while the server restarts or JetStream is electing a leader.
TRANSIENT = (NatsTimeoutError, NoStreamResponseError, ServiceUnavailableError)


def token(name: str) -> str:
    """`name` as one token of `[A-Za-z0-9_=-]`: other characters (dots too) become `=XX`
    per UTF-8 byte and the empty string `=`, so two names never share a token."""
    if not name:
        return "="
    if all(c in _SAFE for c in name):
        return name
    return "".join(c if c in _SAFE else "".join(f"={b:02X}" for b in c.encode())
                   for c in name)


def short_name(name: str) -> str:
    """`token(name)`, cut to a length the server accepts as a consumer or stream name; a cut
    name ends in `==` and a hash of the whole (`==` never occurs in a token)."""
    tok = token(name)
    if len(tok) <= MAX_NAME:
        return tok
    digest = hashlib.sha256(name.encode()).hexdigest()[:32]
    return f"{tok[:MAX_NAME - 34]}=={digest}"


def publish_durably(js: JetStreamContext, subject: str, payload: bytes, msg_id: str,
                    headers: Optional[HeadersLike], deadline: float,
                    msg_ttl: Optional[float] = None) -> PubAck:
    """Publish and wait for the stream's ack, retrying through a reconnect or a server
    restart until the monotonic `deadline`; the same `msg_id` each time, so the stream
    keeps one copy (within its duplicate window). Raises the last error at the deadline."""
    pause = 0.1
    while True:
        remaining = deadline - time.monotonic()
        try:
            return js.publish(subject, payload, timeout=max(0.5, min(5.0, remaining)),
                              headers=headers, msg_id=msg_id, msg_ttl=msg_ttl)
        except TRANSIENT:
            if time.monotonic() + pause >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)


def fetch_some(consumer: Consumer, n: int, wait: float) -> list[Msg]:
    """Up to `n` messages: waits at most `wait` seconds for the first, then takes only what
    is ready at once (`no_wait`: a fetch of a full batch would wait for it to fill)."""
    msgs = consumer.fetch(1, max_wait=wait)
    if msgs and n > 1:
        msgs += consumer.fetch(n - 1, no_wait=True)
    return msgs


def cas_update(kv: KeyValue, key: str, change: Callable[[Optional[bytes]], bytes],
               attempts: int = 200) -> bytes:
    """Store `change(current value or None)` under `key` only if nobody wrote in between
    (compare-and-set on the revision), retrying up to `attempts` times; returns what was
    stored. Atomic across threads, processes and hosts."""
    for _ in range(attempts):
        try:
            entry = kv.get(key)
            current: Optional[bytes] = entry.value
            revision = entry.revision
        except KeyNotFoundError:  # never written, deleted or purged
            current, revision = None, 0
        new = change(current)
        try:
            if revision:
                kv.update(key, new, last=revision)
            else:
                kv.create(key, new)
            return new
        except KeyWrongLastSequenceError:
            continue  # someone else wrote first
    raise BadArgumentError(f"key {key!r}: still contended after {attempts} compare-and-set tries")


def watch_values(kv: KeyValue, keys: Sequence[str], deadline: Optional[float],
                 tick: float = 0.5, on_tick: Optional[Callable[[], None]] = None
                 ) -> Iterator[Tuple[str, bytes]]:
    """(key, value) for each of `keys` that has a value now and for every value written to
    them later, until the caller stops iterating; `on_tick()` every `tick` seconds without
    news. TimeoutError at the monotonic `deadline` (None: no deadline)."""
    with kv.watch(list(keys)) as watcher:
        while True:
            wait = tick if deadline is None else min(tick, deadline - time.monotonic())
            if wait <= 0:
                raise TimeoutError(f"no value for {len(keys)} key(s) before the deadline")
            try:
                entry = watcher.updates(timeout=wait)
            except NatsTimeoutError:
                if on_tick is not None:
                    on_tick()
                continue
            if entry is not None and entry.operation == Operation.PUT:
                yield entry.key, entry.value


class Keeper:
    """Sends `in_progress()` for every held message each `interval` seconds, from one
    thread started on first use, so the server's ack wait never runs out while a worker
    holds a message (running it, or keeping it for its ETA)."""

    def __init__(self, interval: float, name: str = "natsync-keeper") -> None:
        if interval <= 0:
            raise BadArgumentError(f"keep-alive interval must be positive, got {interval!r}")
        self.interval = interval
        self._name = name
        self._held: Dict[Hashable, Msg] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def hold(self, key: Hashable, msg: Msg) -> None:
        """Keep `msg` alive until `release(key)`."""
        with self._lock:
            self._held[key] = msg
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def release(self, key: Hashable) -> Optional[Msg]:
        """Stop keeping the message held under `key`; returns it (None if not held)."""
        with self._lock:
            return self._held.pop(key, None)

    def held(self) -> int:
        """How many messages are held."""
        with self._lock:
            return len(self._held)

    def close(self) -> None:
        """Stop the thread (held messages are left to their ack wait)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                msgs = list(self._held.values())
            for msg in msgs:
                try:
                    msg.in_progress()
                except ConnectionClosedError:
                    return
                except Error as exc:  # reconnecting: the next round tries again
                    log.debug("in_progress failed: %r", exc)
