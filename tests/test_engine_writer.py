"""The writer on its own, on socketpairs and fake sockets: no server."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any, Iterator, Sequence

import pytest

from natsync.engine.doorbell import LockDoorbell, ParkingDoorbell
from natsync.engine.writer import Control, Writer
from natsync.errors import ConnectionClosedError, OutboundBufferLimitError, TimeoutError

from .conftest import wait_for


def read_exactly(sock: socket.socket, n: int, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"peer closed after {len(data)} of {n} bytes"
        data += chunk
    return data


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def writer() -> Iterator[Writer]:
    w = Writer(pending_size=1 << 20, flush_timeout=None, debug=False)
    w.start()
    yield w
    w.stop()


def attach(w: Writer, sock: socket.socket, before: Sequence[bytes] = (),
           after: Sequence[bytes] = ()) -> list[Exception]:
    failures: list[Exception] = []
    with w.lock:
        w.attach(sock, list(before), list(after), failures.append)
    return failures


def test_flusher_sends_frames_in_order(writer: Writer,
                                       pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    attach(writer, ours)
    frames = [b"PUB a %d\r\n%s\r\n" % (len(str(i)), str(i).encode()) for i in range(200)]
    for f in frames:
        writer.publish(f, 1)
    writer.control(b"PING\r\n")
    expected = b"".join(frames) + b"PING\r\n"
    assert read_exactly(peer, len(expected)) == expected
    assert writer.out_msgs == 200 and writer.out_bytes == 200
    wait_for(lambda: writer.buffered == 0, 2)


def test_publish_now_writes_on_the_calling_thread(
        pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    w = Writer(1 << 20, None, False)  # the flusher is never started: only inline writes
    attach(w, ours)
    w.publish(b"PUB r 1\r\nx\r\n", 1, now=True)
    assert read_exactly(peer, 12) == b"PUB r 1\r\nx\r\n"
    w.publish(b"PUB r 1\r\ny\r\n", 1, now=True, alone=False)  # left for the (absent) flusher
    peer.settimeout(0.2)
    with pytest.raises(socket.timeout):
        peer.recv(100)
    assert w.buffered == 12


def test_attach_keeps_user_frames_and_drops_old_control_frames(
        writer: Writer, pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    writer.control(b"SUB old 1\r\n")  # queued while no session: belongs to none
    writer.publish(b"PUB a 1\r\n1\r\n", 1)
    writer.control(b"PING\r\n")
    writer.publish(b"PUB a 1\r\n2\r\n", 1)
    attach(writer, ours, before=[b"SUB new 1\r\n"], after=[b"PING\r\n"])
    expected = b"SUB new 1\r\nPUB a 1\r\n1\r\nPUB a 1\r\n2\r\nPING\r\n"
    assert read_exactly(peer, len(expected)) == expected


class CutSocket:
    """Takes `budget` bytes, then fails like a connection reset."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.got = b""

    def send(self, data: memoryview) -> int:
        if self.budget <= 0:
            raise ConnectionResetError("reset")
        n = min(self.budget, len(data))
        self.got += bytes(data[:n])
        self.budget -= n
        return n


@pytest.mark.parametrize("budget", [0, 5, 12, 13, 20, 21, 25, 32])
def test_a_cut_write_puts_back_every_frame_not_sent_whole(budget: int) -> None:
    frames = [b"PUB a 1\r\n1\r\n", b"SUB b 2\r\n", b"PUB c 1\r\n3\r\n"]  # 12 + 9 + 12 bytes
    cut = CutSocket(budget)
    writer = Writer(1 << 20, None, False)
    failures = attach(writer, cut)  # type: ignore[arg-type]
    for f in frames:
        writer.publish(f, 1) if f.startswith(b"PUB") else writer.control(f)
    writer.start()  # one write of the three frames, cut after `budget` bytes
    wait_for(lambda: failures, 2, "the write to fail")
    assert isinstance(failures[0], ConnectionResetError)
    writer.detach()
    ends = [12, 21, 33]
    first_unsent = next((i for i, end in enumerate(ends) if end > budget), len(frames))
    left = frames[first_unsent:]
    assert writer.buffered == sum(map(len, left))
    ours, peer = socket.socketpair()
    try:
        attach(writer, ours, after=[b"PING\r\n"])
        # What the kernel did not take is sent whole; the old session's SUB is not.
        expected = b"".join(f for f in left if f.startswith(b"PUB")) + b"PING\r\n"
        assert read_exactly(peer, len(expected)) == expected
    finally:
        writer.stop()
        ours.close()
        peer.close()


def test_backpressure_waits_for_room_then_fails_fast_when_detached() -> None:
    w = Writer(pending_size=100, flush_timeout=0.3, debug=False)  # no flusher: never drains
    a, b = socket.socketpair()
    try:
        attach(w, a)
        w.publish(b"x" * 150, 150)  # over the limit now
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            w.publish(b"y", 1)
        assert 0.25 < time.monotonic() - start < 2
        w.detach()
        start = time.monotonic()
        with pytest.raises(OutboundBufferLimitError):
            w.publish(b"y", 1)
        assert time.monotonic() - start < 0.5
    finally:
        a.close()
        b.close()


def test_a_waiting_publisher_goes_on_when_the_flusher_takes_the_frames(
        pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    w = Writer(pending_size=100, flush_timeout=5, debug=False)
    attach(w, ours)
    w.publish(b"x" * 150, 150)
    done = threading.Event()
    t = threading.Thread(target=lambda: (w.publish(b"y", 1), done.set()))
    t.start()
    assert not done.wait(0.2)  # blocked: the buffer is over pending_size
    w.start()
    assert done.wait(5)
    assert read_exactly(peer, 151) == b"x" * 150 + b"y"
    t.join(5)
    w.stop()


def test_close_refuses_user_frames_but_stop_sends_what_was_accepted(
        pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    w = Writer(1 << 20, None, False)
    attach(w, ours)
    w.publish(b"PUB a 1\r\n1\r\n", 1)
    with w.lock:
        w.close()
    with pytest.raises(ConnectionClosedError):
        w.publish(b"PUB a 1\r\n2\r\n", 1)
    w.control(b"PING\r\n")  # control frames still go out: close() confirms with a PING
    w.start()
    w.stop()
    assert read_exactly(peer, 18) == b"PUB a 1\r\n1\r\nPING\r\n"
    assert not w._thread.is_alive()


def test_control_frames_are_tagged() -> None:
    w = Writer(1 << 20, None, False)
    w.control(b"PING\r\n")
    w.publish(b"PUB a 0\r\n\r\n", 0)
    assert [type(f) for f in w._frames] == [Control, bytes]


# --- the doorbell the flusher sleeps on ------------------------------------------------------

# The lock doorbell of GIL builds, and the parking one of free-threaded builds (eventfd:
# Linux, so both run here whatever the build).
BELLS = [LockDoorbell, *([ParkingDoorbell] if hasattr(os, "eventfd") else [])]


@pytest.mark.parametrize("kind", BELLS)
def test_a_ring_wakes_the_sleeper_and_gives_the_lock_back(kind: Any) -> None:
    bell, lock = kind(), threading.Lock()
    woke = threading.Event()

    def sleeper() -> None:
        with lock:
            bell.sleep(lock)
            assert lock.locked() and not bell.asleep
        woke.set()

    t = threading.Thread(target=sleeper)
    t.start()
    wait_for(lambda: bell.asleep, 2, "the sleeper to sleep")
    assert not woke.is_set()
    with lock:  # free while it sleeps
        bell.ring()
    assert woke.wait(2)
    t.join(2)


@pytest.mark.parametrize("kind", BELLS)
def test_a_sleep_ends_by_its_timeout_and_a_late_ring_ends_the_next_at_once(
        kind: Any) -> None:
    bell, lock = kind(), threading.Lock()
    with lock:
        start = time.monotonic()
        bell.sleep(lock, 0.05)
        assert 0.04 <= time.monotonic() - start < 2
        bell.ring()  # a ring nobody waited for (rung twice: still one wake)
        bell.ring()
        start = time.monotonic()
        bell.sleep(lock, 2)
        assert time.monotonic() - start < 1
