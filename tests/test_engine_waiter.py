"""The waiters a blocking call sleeps on: the lock one (GIL builds) and the parking one
(free-threaded builds; on Linux both run here, whatever the build)."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Callable

import pytest

from natsync.engine import parker, threads
from natsync.engine.waiter import LockWaiter, ParkingWaiter, Waiter

KINDS: list[Callable[[], Any]] = [LockWaiter]
if hasattr(os, "eventfd"):
    KINDS.append(ParkingWaiter)

# Parkers are eventfds: Linux's (where the project's CI runs, so these tests always do).
needs_eventfd = pytest.mark.skipif(not hasattr(os, "eventfd") or not hasattr(os, "fork"),
                                   reason="eventfd and fork are Linux's")


def test_the_build_picks_the_parking_waiter_only_without_the_gil() -> None:
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    assert threads.GIL is gil
    assert parker.ENABLED is (not gil and hasattr(os, "eventfd"))
    assert Waiter is (ParkingWaiter if parker.ENABLED else LockWaiter)


@pytest.mark.parametrize("kind", KINDS)
def test_a_value_delivered_before_the_wait_returns_at_once(kind: Callable[[], Any]) -> None:
    w = kind()
    assert w.deliver("v") is True
    assert w.wait(0) is True and w.value == "v"


@pytest.mark.parametrize("kind", KINDS)
def test_another_thread_wakes_the_waiter(kind: Callable[[], Any]) -> None:
    w = kind()
    threading.Timer(0.05, w.fail, args=(ValueError("x"),)).start()
    t0 = time.monotonic()
    assert w.wait(5) is True
    assert isinstance(w.error, ValueError) and time.monotonic() - t0 < 4


@pytest.mark.parametrize("kind", KINDS)
def test_a_wait_times_out_and_a_late_wake_up_does_not_wake_the_next(
        kind: Callable[[], Any]) -> None:
    first = kind()
    t0 = time.monotonic()
    assert first.wait(0.05) is False
    assert 0.04 <= time.monotonic() - t0 < 4
    first.deliver("late")  # after its waiter gave up: counted on this thread's parker
    first.release()  # twice: harmless
    second = kind()
    assert second.wait(0.05) is False  # the stale wake-up did not count for it
    threading.Timer(0.02, second.deliver, args=("mine",)).start()
    assert second.wait(5) is True and second.value == "mine"


@pytest.mark.parametrize("kind", KINDS)
def test_many_threads_each_woken_once(kind: Callable[[], Any]) -> None:
    deadline = time.monotonic() + 20
    for _ in range(50):
        got: list[Any] = []
        waiters: list[Any] = []
        ready = threading.Barrier(9)
        threads = [threading.Thread(target=_wait_in_thread, args=(kind, waiters, ready, got))
                   for _ in range(8)]
        for t in threads:
            t.start()
        ready.wait(5)
        for i, w in enumerate(waiters):
            w.deliver(i)
        for t in threads:
            t.join(6)
        assert sorted(got) == list(range(8))
        assert time.monotonic() < deadline


def _wait_in_thread(kind: Callable[[], Any], waiters: list[Any], ready: threading.Barrier,
                    got: list[Any]) -> None:
    w = kind()  # made by the thread that waits on it, as the engine does
    waiters.append(w)
    ready.wait(5)
    got.append(w.wait(5) and w.value)


@needs_eventfd
def test_a_forked_child_gets_its_own_parker() -> None:
    mine = parker.current()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether its parker is a new one, then leave at once
        os.close(r)
        os.write(w, b"new" if parker.current() is not mine else b"same")
        os._exit(0)
    os.close(w)
    try:
        assert os.read(r, 8) == b"new"
    finally:
        os.close(r)
        os.waitpid(pid, 0)


@needs_eventfd
def test_a_parker_freed_after_the_module_globals_closes_its_eventfd(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """At interpreter exit a parker kept by a client can be freed after the module's
    globals are gone: it must still close its eventfd, and say nothing."""
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    p = parker.Parker()
    fd = p._fd
    monkeypatch.setattr(parker, "os", None)
    del p
    monkeypatch.undo()
    assert unraisable == []
    with pytest.raises(OSError):
        os.fstat(fd)
