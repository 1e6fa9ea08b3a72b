"""Shared by the tests that run the client through a FaultProxy: options, event records,
self-checking payloads, timed calls and the figures they report."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from typing import Any, Callable, Iterator, Optional

import natsync

#: Reconnect at once (the pool has one server, tried forever).
FAST: dict[str, Any] = {"reconnect_time_wait": 0.02, "reconnect_jitter": 0.0,
                        "max_reconnect_attempts": -1, "connect_timeout": 1.0}


def figure(name: str, value: str) -> None:
    """Print a measured figure (run pytest with -s to see it); with NATSYNC_FIGURES set,
    also append it to that file, so a soak run leaves its numbers behind."""
    line = f"FIGURE {name}: {value}"
    print(f"\n{line}")
    path = os.environ.get("NATSYNC_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


class Events:
    """Connection callbacks, with the monotonic time each came at."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[tuple[str, float, Any]] = []
        self.changed = threading.Condition(self.lock)

    def options(self) -> dict[str, Any]:
        return {f"{name}_cb": self._recorder(name)
                for name in ("disconnected", "reconnected", "error", "closed")}

    def _recorder(self, name: str) -> Callable[..., None]:
        def record(*args: Any) -> None:
            with self.changed:
                self.seen.append((name, time.monotonic(), args[0] if args else None))
                self.changed.notify_all()
        return record

    def times(self, name: str) -> list[float]:
        with self.lock:
            return [t for n, t, _ in self.seen if n == name]

    def errors(self) -> list[Any]:
        with self.lock:
            return [e for n, _, e in self.seen if n == "error"]

    def wait(self, name: str, count: int, timeout: float) -> Optional[float]:
        """The time of the `count`-th `name` event, waiting up to `timeout`; None if not."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                hits = [t for n, t, _ in self.seen if n == name]
                if len(hits) >= count:
                    return hits[count - 1]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.changed.wait(remaining)


def payload(i: int) -> bytes:
    """Message `i`: its number, then 16 to ~2 KiB of bytes derived from it."""
    body = hashlib.sha256(b"%d" % i).digest() * (1 + i % 64)
    return b"%08d:" % i + body


def number_of(msg: natsync.Msg) -> int:
    """The number of a message made by `payload`, asserting that it arrived whole."""
    data = msg.data
    i = int(data[:8])
    assert data == payload(i), f"message {i} arrived torn or altered: {data[:40]!r}..."
    if msg.headers is not None and "seq" in msg.headers:
        assert msg.headers["seq"] == str(i), f"headers of message {i}: {msg.headers!r}"
    return i


def runs(missing: list[int]) -> int:
    """How many contiguous runs the sorted numbers form."""
    return sum(1 for k, n in enumerate(missing) if k == 0 or missing[k - 1] != n - 1)


class Timed:
    """One blocking call made on its own thread: how long it took and how it ended."""

    def __init__(self, fn: Callable[[], Any], timeout: float) -> None:
        self.timeout = timeout
        self.elapsed = -1.0
        self.result: Any = None
        self.error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, args=(fn,))
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        start = time.monotonic()
        try:
            self.result = fn()
        except BaseException as exc:  # recorded for the test to assert on
            self.error = exc
        self.elapsed = time.monotonic() - start

    def join(self, limit: float) -> None:
        self._thread.join(limit)
        assert not self._thread.is_alive(), f"a call with timeout {self.timeout} is stuck"

    @property
    def lateness(self) -> float:
        return self.elapsed - self.timeout


@contextlib.contextmanager
def background(work: Callable[[threading.Event], None]) -> Iterator[threading.Event]:
    """Run `work(stop)` on a thread for the block; at its end set `stop` and join it."""
    stop = threading.Event()
    thread = threading.Thread(target=work, args=(stop,))
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive(), "a background worker did not stop"
