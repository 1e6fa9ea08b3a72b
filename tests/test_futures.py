"""LazyFuture: every stdlib Future behaviour, with the Condition made only when needed."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time

import pytest

from natsync.futures import LazyFuture


def test_settled_untouched_future_never_makes_a_condition() -> None:
    f: LazyFuture[int] = LazyFuture()
    assert not f.done()
    assert f.settle(7)
    assert f._cond is None  # completed in place
    assert f.done() and not f.cancelled() and not f.running()
    assert f.result(timeout=0) == 7 and f.exception(timeout=0) is None
    assert not f.settle(8) and f.result() == 7  # first outcome wins


def test_exception_outcome() -> None:
    f: LazyFuture[int] = LazyFuture()
    assert f.settle(exception=ValueError("boom"))
    with pytest.raises(ValueError, match="boom"):
        f.result(timeout=0)
    assert isinstance(f.exception(timeout=0), ValueError)


def test_result_timeout_then_a_waiter_is_woken() -> None:
    f: LazyFuture[str] = LazyFuture()
    with pytest.raises(cf.TimeoutError):
        f.result(timeout=0.05)
    threading.Timer(0.05, f.settle, args=("late",)).start()
    assert f.result(timeout=5) == "late"


def test_done_callbacks_before_and_after_completion() -> None:
    seen: list[object] = []
    f: LazyFuture[int] = LazyFuture()
    f.add_done_callback(lambda fut: seen.append(fut.result()))
    assert f.settle(1)
    f.add_done_callback(lambda fut: seen.append(("late", fut.result())))
    assert seen == [1, ("late", 1)]


def test_cancel_wins_over_a_later_settle() -> None:
    f: LazyFuture[int] = LazyFuture()
    assert f.cancel() and f.cancelled() and f.done()
    assert cf.wait([f], timeout=0).done == {f}  # counted done at once, unlike a bare Future
    assert not f.settle(1)
    with pytest.raises(cf.CancelledError):
        f.result(timeout=0)
    g: LazyFuture[int] = LazyFuture()
    assert g.settle(1) and not g.cancel()


def test_wait_and_as_completed_see_lazy_futures() -> None:
    futures: list[LazyFuture[int]] = [LazyFuture() for _ in range(20)]
    for i, f in enumerate(futures[:10]):
        f.settle(i)
    done, not_done = cf.wait(futures, timeout=0)
    assert len(done) == 10 and len(not_done) == 10
    threading.Timer(0.05, lambda: [f.settle(i) for i, f in enumerate(futures[10:], 10)]).start()
    got = sorted(f.result() for f in cf.as_completed(futures, timeout=5))
    assert got == list(range(20))
    done, not_done = cf.wait(futures, timeout=5, return_when=cf.ALL_COMPLETED)
    assert not not_done


def _wait_into(f: LazyFuture[int], results: list[int]) -> None:
    results.append(f.result(timeout=5))


def test_racing_waiters_and_settlers_never_miss_a_wake_up() -> None:
    """Waiters parking in result() while another thread settles: no one hangs."""
    deadline = time.monotonic() + 20
    for _ in range(300):
        f: LazyFuture[int] = LazyFuture()
        results: list[int] = []
        waiters = [threading.Thread(target=_wait_into, args=(f, results)) for _ in range(3)]
        for t in waiters:
            t.start()
        f.settle(42)
        for t in waiters:
            t.join(6)
        assert results == [42, 42, 42]
        assert time.monotonic() < deadline


def _park(f: LazyFuture[int], into: list[object], timeout: float = 5) -> threading.Thread:
    """A thread blocked in f.result(), recording what it returned or raised."""
    def run() -> None:
        try:
            into.append(f.result(timeout=timeout))
        except BaseException as exc:  # the outcome under test
            into.append(type(exc))
    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 5
    while not f._sleepers and time.monotonic() < deadline:
        time.sleep(0.001)
    assert f._sleepers, "result() did not park on a lock"
    return t


def test_result_parks_without_a_condition_and_settle_wakes_it() -> None:
    f: LazyFuture[int] = LazyFuture()
    got: list[object] = []
    t = _park(f, got)
    assert f.settle(5)
    t.join(5)
    assert got == [5] and f._cond is None and f._sleepers is None


def test_a_parked_result_is_woken_through_the_stdlib_path_too() -> None:
    """Something makes the Condition after result() parked (a done-callback), so the
    completion takes the stdlib path: the parked thread still wakes."""
    f: LazyFuture[int] = LazyFuture()
    got: list[object] = []
    t = _park(f, got)
    f.add_done_callback(lambda fut: None)
    assert f._cond is not None
    assert f.settle(exception=ValueError("no"))
    t.join(5)
    assert got == [ValueError]


def test_cancel_wakes_a_parked_result_with_cancelled_error() -> None:
    f: LazyFuture[int] = LazyFuture()
    got: list[object] = []
    t = _park(f, got)
    assert f.cancel()
    t.join(5)
    assert got == [cf.CancelledError]


def test_a_parked_result_times_out() -> None:
    f: LazyFuture[int] = LazyFuture()
    got: list[object] = []
    t = _park(f, got, timeout=0.05)
    t.join(5)
    assert got == [cf.TimeoutError]
    assert f.settle(1) and f.result(timeout=0) == 1  # its stale lock is released harmlessly

