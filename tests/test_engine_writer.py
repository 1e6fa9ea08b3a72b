"""The writer on its own, on socketpairs and fake sockets: no server."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any, Iterator, Sequence

import pytest

from natsync.engine import writer as writer_module
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


@pytest.mark.parametrize("kind", BELLS)
def test_a_doze_is_not_asleep_and_a_ring_still_ends_it(kind: Any) -> None:
    """The flusher's linger: publishers that only ring a sleeper leave a doze alone."""
    bell, lock = kind(), threading.Lock()
    done = threading.Event()

    def dozer() -> None:
        with lock:
            bell.sleep(lock, 10, doze=True)
        done.set()

    t = threading.Thread(target=dozer)
    t.start()
    assert not done.wait(0.2) and not bell.asleep
    with lock:
        bell.ring()
    assert done.wait(2)
    t.join(2)


# --- the linger (free-threaded builds): plain publishes share writes ----------------------

class GateSocket:
    """A fake socket whose sends wait until `gate` is set; records each write and when."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.writes: list[tuple[float, bytes]] = []

    def send(self, data: memoryview) -> int:
        self.entered.set()
        assert self.gate.wait(10)
        self.writes.append((time.monotonic(), bytes(data)))
        return len(data)


PLAIN = [b"PUB b 1\r\nb\r\n", b"PUB c 1\r\nc\r\n"]


def stream_during_a_write(monkeypatch: pytest.MonkeyPatch, linger: float,
                          first: bytes = b"PUB a 1\r\na\r\n",
                          pending_size: int = 1 << 20) -> tuple[Writer, GateSocket, float]:
    """A writer whose flusher is writing `first` while two plain publishes come in; the
    write is then let through. Returns the writer, its socket and when the gate opened."""
    monkeypatch.setattr(writer_module, "LINGER", linger)
    w = Writer(pending_size, 5, False)
    sock = GateSocket()
    attach(w, sock)  # type: ignore[arg-type]
    w.start()
    w.post(first, 1)
    assert sock.entered.wait(5)
    for f in PLAIN:
        w.post(f, 1)
    opened = time.monotonic()
    sock.gate.set()
    return w, sock, opened


def test_after_a_small_write_plain_publishes_wait_for_the_linger_and_share_a_write(
        monkeypatch: pytest.MonkeyPatch) -> None:
    w, sock, opened = stream_during_a_write(monkeypatch, 0.3)
    try:
        wait_for(lambda: w._lingering, 2, "the flusher to linger")
        w.post(b"PUB d 1\r\nd\r\n", 1)  # during the linger: rides along
        wait_for(lambda: len(sock.writes) == 2, 5, "the second write")
        when, data = sock.writes[1]
        assert data == b"".join(PLAIN) + b"PUB d 1\r\nd\r\n"
        assert when - opened >= 0.25
    finally:
        w.stop()


def _control(w: Writer) -> None:
    w.control(b"PING\r\n")


def _request(w: Writer) -> None:
    w.publish(b"PUB r 1\r\nr\r\n", 1)  # not a post: a request or a reply


def _full(w: Writer) -> None:
    w.post(b"x" * 200, 200)  # over pending_size (100) now: the next publisher waits
    threading.Thread(target=w.post, args=(b"y", 1), daemon=True).start()


@pytest.mark.parametrize("end", [_control, _request, _full, Writer.stop],
                         ids=["control frame", "request", "publisher waiting for room", "stop"])
def test_the_linger_ends_at_once_for_what_must_not_wait(
        monkeypatch: pytest.MonkeyPatch, end: Any) -> None:
    w, sock, _ = stream_during_a_write(monkeypatch, 30, pending_size=100)
    try:
        wait_for(lambda: w._lingering, 2, "the flusher to linger")
        start = time.monotonic()
        end(w)
        wait_for(lambda: len(sock.writes) >= 2, 5, "the write the linger held back")
        assert sock.writes[1][1].startswith(b"".join(PLAIN))
        assert time.monotonic() - start < 5
    finally:
        w.stop()


def test_no_linger_after_a_large_write_nor_behind_an_urgent_frame(
        monkeypatch: pytest.MonkeyPatch) -> None:
    big = b"PUB a 65536\r\n" + b"a" * writer_module.LINGER_BYTES + b"\r\n"
    w, sock, _ = stream_during_a_write(monkeypatch, 30, first=big)
    try:
        wait_for(lambda: len(sock.writes) == 2, 5, "the frames that came during the write")
        assert not w._lingering
    finally:
        w.stop()
    w, sock, _ = stream_during_a_write(monkeypatch, 30)
    try:
        w.control(b"PING\r\n")  # queued before the write ends: no linger at all
        wait_for(lambda: len(sock.writes) == 2, 5, "the frames that came during the write")
    finally:
        w.stop()
