"""A soak: random network faults through a FaultProxy while one client publishes,
subscribes, makes requests, publishes to JetStream and acknowledges a pull consumer.

It runs NATSYNC_SOAK_SECONDS (3 in the suite; `make soak` runs it for 60) and then
counts: nothing acknowledged is lost or doubled, nothing arrives torn, no call outlives
its timeout, and the client's threads and memory are back where they were.

The offered load (about 250 KB/s) stays below the slowest link the soak makes: on a
saturated link request() outlives its timeout, a bug reproduced on its own in
tests/pending_engine_bugs/bug_request_timeout_full_buffer.py.
"""

from __future__ import annotations

import gc
import os
import random
import threading
import time
import tracemalloc
from collections import Counter
from typing import Any, Callable, Iterator

import pytest

import natsync
from natsync import subjects
from natsync.errors import Error
from natsync.js.api import ConsumerConfig
from natsync.testing import FaultProxy, NatsServer

from .conftest import natsync_threads, wait_for
from .fault_helpers import FAST, Events, figure, number_of, payload, runs

SECONDS = float(os.environ.get("NATSYNC_SOAK_SECONDS", "3"))
SEED = int(os.environ.get("NATSYNC_SOAK_SEED", "2024"))
TIMEOUT = 0.5      # of every request, JetStream publish, fetch and ack_sync
MARGIN = 0.5       # how late any of them may return, on a loaded 2-core machine


@pytest.fixture
def server() -> Iterator[NatsServer]:
    with NatsServer(jetstream=True) as srv:
        yield srv


class Soak:
    """The workload: worker threads on the faulty client `nc`, a healthy `peer`."""

    def __init__(self, nc: natsync.Client, peer: natsync.Client) -> None:
        self.nc, self.peer = nc, peer
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.late: list[float] = []          # lateness of every timed call
        self.outcomes: Counter[str] = Counter()
        self.core_sent: list[int] = []
        self.core_got: list[int] = []
        self.fan_sent: list[int] = []
        self.fan_got: list[int] = []
        self.acked: dict[str, int] = {}      # msg id -> stream seq of its PubAck
        self.delivered: set[int] = set()     # stream seqs the worker was given
        self.confirmed: set[int] = set()     # stream seqs whose ack_sync returned
        self.js = nc.jetstream(timeout=TIMEOUT)
        self.pull = self.js.pull_subscribe("soak.js.>", durable="worker", stream="SOAK",
                                           config=ConsumerConfig(ack_wait=2.0))
        self.fan = nc.subscribe("soak.fan")
        peer.subscribe("soak.svc", cb=lambda m: m.respond(m.data))
        peer.subscribe("soak.core", cb=lambda m: self.core_got.append(number_of(m)))
        peer.flush()
        nc.flush()
        workers: list[Callable[[], None]] = [self.core_publisher, self.requester,
                                             self.js_publisher, self.js_worker,
                                             self.fan_publisher, self.fan_reader]
        self.threads = [threading.Thread(target=w, name=f"soak-{w.__name__}") for w in workers]
        for t in self.threads:
            t.start()

    def timed(self, kind: str, fn: Callable[[], Any]) -> Any:
        """Call `fn` (which has TIMEOUT), record how late it returned and how it ended."""
        start = time.monotonic()
        try:
            result = fn()
            outcome = "ok"
        except Error as exc:
            result, outcome = None, type(exc).__name__
        with self.lock:
            self.late.append(time.monotonic() - start - TIMEOUT)
            self.outcomes[f"{kind} {outcome}"] += 1
        return result

    def paced(self, interval: float) -> Iterator[int]:
        """0, 1, 2... every `interval` seconds until stopped (at most 10 minutes' worth)."""
        for i in range(int(600 / interval)):
            if self.stop.wait(interval):
                return
            yield i

    def core_publisher(self) -> None:
        for i in self.paced(0.01):
            try:
                self.nc.publish("soak.core", payload(i), headers={"Seq": str(i)} if i % 3 else None)
            except Error as exc:       # reported lost (buffer full while disconnected)
                self.outcomes[f"publish {type(exc).__name__}"] += 1
                continue
            self.core_sent.append(i)

    def requester(self) -> None:
        for i in self.paced(0.01):
            reply = self.timed("request", lambda i=i: self.nc.request("soak.svc", b"%d" % i,
                                                                      timeout=TIMEOUT))
            assert reply is None or reply.data == b"%d" % i

    def js_publisher(self) -> None:
        for i in self.paced(0.01):
            msg_id = f"s-{i}"
            for _ in range(200):      # the same msg id until it is acknowledged
                ack = self.timed("js.publish", lambda i=i, msg_id=msg_id: self.js.publish(
                f"soak.js.{i % 7}", payload(i), msg_id=msg_id))
                if ack is not None:
                    self.acked[msg_id] = ack.seq
                    break
                if self.stop.is_set():
                    return

    def js_worker(self) -> None:
        for _ in self.paced(0.001):
            msgs = self.timed("fetch", lambda: self.pull.fetch(batch=20, timeout=TIMEOUT)) or []
            for msg in msgs:
                self.ack(msg)

    def ack(self, msg: natsync.Msg) -> None:
        seq = msg.metadata.sequence.stream
        self.delivered.add(seq)
        self.timed("ack_sync", lambda: msg.ack_sync(timeout=TIMEOUT))
        if msg.is_acked:                  # ack_sync returned: the server confirmed it
            self.confirmed.add(seq)

    def fan_publisher(self) -> None:
        for i in self.paced(0.01):
            self.peer.publish("soak.fan", payload(i))
            self.fan_sent.append(i)

    def fan_reader(self) -> None:
        while not self.stop.is_set():
            try:
                self.fan_got.append(number_of(self.fan.next_msg(timeout=0.1)))
            except natsync.errors.TimeoutError:
                pass

    def finish(self) -> None:
        """Stop the workers, then let every acknowledgement and message land."""
        self.stop.set()
        for t in self.threads:
            t.join(30)
            assert not t.is_alive(), t.name
        self.nc.flush(timeout=10)
        self.peer.flush(timeout=10)
        while self.fan.pending_msgs:
            self.fan_got.append(number_of(self.fan.next_msg(timeout=1)))
        jsm = self.peer.jetstream()
        for _ in range(60):     # what the worker had no time for, and lost acks' redeliveries
            info = jsm.consumer_info("SOAK", "worker")
            if not info.num_pending and not info.num_ack_pending:
                return
            for msg in self.pull.fetch(batch=100, timeout=1):
                self.ack(msg)
        raise AssertionError(f"the consumer still has work: {info}")


class Faults:
    """Random faults, one at a time, each followed by the client connected again."""

    def __init__(self, proxy: FaultProxy, nc: natsync.Client, rng: random.Random) -> None:
        self.proxy, self.nc, self.rng = proxy, nc, rng
        self.done: Counter[str] = Counter()

    def one(self) -> None:
        rng, proxy = self.rng, self.proxy
        kind = rng.choice(["reset", "close", "blackhole", "slow", "slice", "drop", "calm"])
        direction = rng.choice(["up", "down", "both"])
        if kind in ("reset", "close"):
            arm = proxy.reset_after if kind == "reset" else proxy.close_after
            cut = arm(rng.randint(1, 60_000), direction, times=1)   # type: ignore[arg-type]
            if not cut.wait(5):
                cut.remove()
        elif kind == "blackhole":
            with proxy.blackhole(direction):   # type: ignore[arg-type]
                time.sleep(rng.uniform(0.1, 1.2))   # shorter or longer than detection
        elif kind == "slow":
            with proxy.latency(rng.uniform(0.01, 0.1), jitter=0.01), \
                    proxy.bandwidth(rng.uniform(400_000, 2_000_000)):
                time.sleep(rng.uniform(0.3, 1.0))
        elif kind == "slice":
            with proxy.slice(rng.randint(1, 7), direction, interval=0.0):  # type: ignore[arg-type]
                time.sleep(rng.uniform(0.1, 0.3))
        elif kind == "drop":
            proxy.reset_connections()
        else:
            time.sleep(rng.uniform(0.1, 0.4))
        self.done[kind] += 1
        wait_for(lambda: self.nc.is_connected, 10, f"the client back after {kind}")


def test_soak_random_faults_under_mixed_traffic(server: NatsServer) -> None:
    before = set(natsync_threads())
    ev = Events()
    peer = natsync.connect(server.url)
    peer.jetstream().add_stream(name="SOAK", subjects=["soak.js.>"])
    tracemalloc.start()
    with FaultProxy(server, seed=SEED) as proxy:
        nc = natsync.connect(proxy.url, ping_interval=0.3, max_outstanding_pings=2, **FAST,
                             **ev.options())
        soak = Soak(nc, peer)
        faults = Faults(proxy, nc, random.Random(SEED))
        try:
            time.sleep(0.3)                      # warm up: every worker has run
            mem_start = natsync_memory()
            deadline = time.monotonic() + SECONDS
            while time.monotonic() < deadline:
                faults.one()
            proxy.heal()
        finally:
            soak.finish()
        mem_end = natsync_memory()
        disconnects = len(ev.times("disconnected"))
        stored = stream_contents(peer)
        nc.close()
    tracemalloc.stop()
    peer.close()

    assert max(soak.late) <= MARGIN, max(soak.late)
    assert not [e for e in ev.errors() if isinstance(e, natsync.errors.ProtocolError)]
    for sent, got in ((soak.core_sent, soak.core_got), (soak.fan_sent, soak.fan_got)):
        assert got == sorted(set(got)) and set(got) <= set(sent)
        assert runs(sorted(set(sent) - set(got))) <= disconnects + 1
    assert all(stored.get(msg_id) == [seq] for msg_id, seq in soak.acked.items())
    assert all(len(seqs) == 1 for seqs in stored.values())
    assert soak.delivered == {seqs[0] for seqs in stored.values()}   # and none is pending
    assert mem_end - mem_start < 256 * 1024, (mem_start, mem_end)
    wait_for(lambda: set(natsync_threads()) <= before, 5, "the clients' threads to end")
    assert not [t for t in threading.enumerate() if t.name.startswith("faultproxy-")]

    core_lost = len(set(soak.core_sent) - set(soak.core_got))
    figure(f"soak {SECONDS:g} s (seed {SEED})",
           f"faults {dict(faults.done)}; {disconnects} disconnects; "
           f"calls {dict(soak.outcomes)}; largest lateness {max(soak.late) * 1000:.0f} ms; "
           f"JetStream {len(soak.acked)} acknowledged, {len(stored)} stored, "
           f"{len(soak.confirmed)} confirmed acks by the worker, 0 lost, 0 doubled; core "
           f"{len(soak.core_sent)} sent, {core_lost} lost; fan-out {len(soak.fan_sent)} "
           f"sent, {len(soak.fan_got)} received; natsync heap {mem_start // 1024} KiB -> "
           f"{mem_end // 1024} KiB")


def natsync_memory() -> int:
    """Bytes the natsync package (client and proxy) holds now, as traced.

    The cache of validated publish subjects is emptied first: it keeps up to 8192 of
    them (every reply subject an ack or a respond() used) and would hide a leak."""
    subjects.PUBLISH_SUBJECTS.clear()
    gc.collect()
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(True, f"{os.path.dirname(natsync.__file__)}/*")])
    return sum(stat.size for stat in snapshot.statistics("filename"))


def stream_contents(nc: natsync.Client) -> dict[str, list[int]]:
    """The SOAK stream as msg id -> the stream seqs holding it (each checked whole)."""
    jsm = nc.jetstream()
    state = jsm.stream_info("SOAK").state
    stored: dict[str, list[int]] = {}
    for seq in range(state.first_seq, state.last_seq + 1):
        msg = jsm.get_msg("SOAK", seq)
        assert msg.headers is not None and msg.data is not None
        i = int(msg.data[:8])
        assert msg.data == payload(i) and msg.headers["Nats-Msg-Id"] == f"s-{i}"
        stored.setdefault(f"s-{i}", []).append(seq)
    return stored
