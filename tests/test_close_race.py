"""A publish() racing close() or drain() is either sent or raises: never returns and vanishes.

The deterministic tests hold a publisher between publish()'s early state check and the
append to the outbound buffer (at the subject lookup, which runs in between),
close or drain the client meanwhile, then let the publisher go on.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterator

import pytest

import natsync
import natsync.client
import natsync.subjects
from natsync.errors import ConnectionClosedError, ConnectionDrainingError
from natsync.testing import NatsServer

Connect = Callable[..., natsync.Client]
REFUSED = (ConnectionClosedError, ConnectionDrainingError)


class Counter:
    """An independent subscriber counting what the server delivered."""

    def __init__(self, url: str, subject: str) -> None:
        self.nc = natsync.connect(url)
        self.sub = self.nc.subscribe(subject, pending_msgs_limit=-1, pending_bytes_limit=-1)
        self.nc.flush()

    def settle(self, expected: int, timeout: float = 5.0) -> int:
        """Count until `expected` arrived (or `timeout`), then a little longer for extras."""
        deadline = time.monotonic() + timeout
        while self.sub.pending_msgs < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        self.nc.flush()
        return self.sub.pending_msgs

    def close(self) -> None:
        self.nc.close()


@pytest.fixture
def counter(shared_server: NatsServer) -> Iterator[Callable[[str], Counter]]:
    made: list[Counter] = []

    def make(subject: str) -> Counter:
        c = Counter(shared_server.url, subject)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


class Gate:
    """Holds the thread named `held` inside publish() until `release()`: the client's
    subject cache is swapped for an empty one whose miss (the first thing publish()
    does with a subject) waits for `go` in that thread."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, held: str) -> None:
        self.entered = threading.Event()
        self.go = threading.Event()
        gate = self

        class GatedCache(natsync.subjects.SubjectCache):
            def __missing__(self, subject: str) -> bytes:
                if threading.current_thread().name == held:
                    gate.entered.set()
                    assert gate.go.wait(10)
                return super().__missing__(subject)

        monkeypatch.setattr(natsync.client, "_SUBJECTS", GatedCache())


def _held_publish(nc: natsync.Client, outcome: list[object]) -> threading.Thread:
    def run() -> None:
        try:
            nc.publish("race.one", b"x")
            outcome.append("returned")
        except Exception as exc:
            outcome.append(exc)

    t = threading.Thread(target=run, name="held-publisher")
    t.start()
    return t


@pytest.mark.parametrize("end", ["close", "drain"])
def test_publish_held_across_close_or_drain_raises(
        end: str, connect: Connect, counter: Callable[[str], Counter],
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen = counter("race.one")
    nc = connect()
    gate = Gate(monkeypatch, "held-publisher")
    outcome: list[object] = []
    t = _held_publish(nc, outcome)
    assert gate.entered.wait(5)  # past the early CLOSED check
    getattr(nc, end)()
    gate.go.set()
    t.join(5)
    assert len(outcome) == 1 and isinstance(outcome[0], REFUSED), outcome
    assert seen.settle(0, timeout=0.2) == 0


def test_publish_between_drains_last_flush_and_close_is_sent(
        connect: Connect, counter: Callable[[str], Counter],
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen = counter("race.one")
    nc = connect()
    gate = Gate(monkeypatch, "held-publisher")
    outcome: list[object] = []
    t = _held_publish(nc, outcome)
    assert gate.entered.wait(5)
    real_flush = nc._life.flush  # drain() flushes through the lifecycle

    def flush(timeout: float = 10) -> None:
        real_flush(timeout)
        if nc.is_draining_pubs:  # drain's last flush is done; close() comes next
            gate.go.set()
            t.join(5)

    monkeypatch.setattr(nc._life, "flush", flush)
    nc.drain()
    assert outcome == ["returned"]
    assert seen.settle(1) == 1


def _race_round(url: str, subject: str, end: str) -> tuple[int, list[object]]:
    """4 threads publish until the client is ended by `end`; how many returned, and oddities."""
    nc = natsync.connect(url)
    returned = [0] * 4
    odd: list[object] = []
    start = threading.Barrier(5)

    def worker(k: int) -> None:
        start.wait(5)
        for _ in range(200_000):  # bounded; the client ends long before
            try:
                nc.publish(subject, b"m")
            except REFUSED:
                return
            except Exception as exc:  # anything else is a bug
                odd.append(exc)
                return
            returned[k] += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    start.wait(5)
    time.sleep(0.002 * (hash(subject) % 5))
    try:
        getattr(nc, end)()
    finally:
        nc.close()
    for t in threads:
        t.join(10)
    return sum(returned), odd


@pytest.mark.parametrize("end", ["close", "drain"])
def test_threads_publishing_while_another_ends_the_client(
        end: str, shared_server: NatsServer, counter: Callable[[str], Counter]) -> None:
    """Every publish that returned arrives; every other one raised. 15 rounds, 4 threads."""
    for rnd in range(15):
        subject = f"race.many.{end}.{rnd}"
        seen = counter(subject)
        total, odd = _race_round(shared_server.url, subject, end)
        assert odd == []
        assert seen.settle(total, timeout=10) == total, f"round {rnd}"
        seen.close()
