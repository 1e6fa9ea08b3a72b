"""Connections reset in the middle of frames, many times, under core and JetStream
publishing: nothing acknowledged is lost or doubled, nothing torn is taken for a message."""

from __future__ import annotations

import random
import threading
import time
from typing import Literal, Tuple

import natsync
from natsync.errors import Error, ProtocolError
from natsync.testing import FaultProxy, NatsServer

from . import js_fixtures
from .conftest import natsync_threads, wait_for
from .fault_helpers import FAST, Events, background, figure, number_of, payload, runs

js_server = js_fixtures.js_server   # one JetStream server for the module

ROUNDS = 20          # resets per test
MAX_CUT = 30_000     # each cut falls after 1..MAX_CUT bytes: anywhere in a frame


Target = Tuple[FaultProxy, natsync.Client, Literal["up", "down"]]


def cut_repeatedly(targets: list[Target], seed: int) -> int:
    """ROUNDS times: arm a reset after a random number of bytes in one of the targets'
    directions, wait for it to fire and for that client to be connected again."""
    rng = random.Random(seed)
    for _ in range(ROUNDS):
        proxy, nc, direction = rng.choice(targets)
        cut = proxy.reset_after(rng.randint(1, MAX_CUT), direction, times=1)
        assert cut.wait(10), f"no traffic {direction} to cut"
        wait_for(lambda nc=nc: nc.is_connected, 10, "the reconnect")
    return ROUNDS


def test_core_publishing_through_resets_mid_frame(js_server: NatsServer) -> None:
    """The publisher's link is reset mid-PUB, the subscriber's mid-MSG: what arrives is
    whole and in order, and each reset loses at most one run of messages."""
    before = set(natsync_threads())
    pub_ev, sub_ev = Events(), Events()
    sent: list[int] = []
    refused: list[BaseException] = []
    with FaultProxy(js_server) as pub_link, FaultProxy(js_server) as sub_link:
        sub_nc = natsync.connect(sub_link.url, **FAST, **sub_ev.options())
        pub_nc = natsync.connect(pub_link.url, **FAST, **pub_ev.options())
        sub = sub_nc.subscribe("seq")
        sub_nc.flush()

        def publish(stop: threading.Event) -> None:
            for i in range(200_000):
                if stop.is_set():
                    return
                headers = {"Seq": str(i)} if i % 3 == 0 else None
                try:
                    pub_nc.publish("seq", payload(i), headers=headers)
                except Error as exc:     # the client reports this one lost
                    refused.append(exc)
                    continue
                sent.append(i)
                if i % 10 == 0:
                    time.sleep(0.002)

        with background(publish):
            resets = cut_repeatedly([(pub_link, pub_nc, "up"), (sub_link, sub_nc, "down")], 22)
        sub_nc.flush(timeout=10)       # its SUB is in place again: the last ones must arrive
        for i in range(sent[-1] + 1, sent[-1] + 11):
            pub_nc.publish("seq", payload(i))
            sent.append(i)
        pub_nc.flush(timeout=10)
        sub_nc.flush(timeout=10)
        got: list[int] = []
        while sub.pending_msgs:
            got.append(number_of(sub.next_msg(timeout=1)))
        pub_nc.close()
        sub_nc.close()
    assert not refused, refused
    assert got == sorted(set(got)), "a message came twice or out of order"
    missing = sorted(set(sent) - set(got))
    assert set(got) <= set(sent)
    assert runs(missing) <= resets, (runs(missing), resets)
    assert got[-10:] == sent[-10:]     # nothing after the last reset went missing
    for ev in (pub_ev, sub_ev):
        assert not [e for e in ev.errors() if isinstance(e, ProtocolError)], ev.errors()
    figure("core publishing through resets",
           f"{resets} resets mid-frame: {len(sent)} published, {len(got)} arrived whole, "
           f"{len(missing)} lost in {runs(missing)} runs, 0 torn, 0 duplicated")
    wait_for(lambda: set(natsync_threads()) <= before, 5, "the clients' threads to end")


def test_js_publish_through_resets_is_stored_exactly_once(js_server: NatsServer) -> None:
    """Every js.publish that returned a PubAck is in the stream exactly once, retries
    deduplicated by msg id; a reset can fall in the PUB or in the ack."""
    before = set(natsync_threads())
    admin = natsync.connect(js_server.url)
    jsm = admin.jetstream()
    jsm.add_stream(name="RESETS", subjects=["resets.>"])
    acked: dict[str, int] = {}
    retries = [0]
    with FaultProxy(js_server) as link:
        nc = natsync.connect(link.url, **FAST)
        js = nc.jetstream(timeout=0.15)   # a reset request or ack costs one timeout

        def publish(stop: threading.Event) -> None:
            for i in range(100_000):
                if stop.is_set():
                    return
                msg_id = f"m-{i}"
                for _ in range(50):     # the same msg id until it is acknowledged
                    try:
                        ack = js.publish("resets.x", payload(i), msg_id=msg_id)
                    except Error:
                        retries[0] += 1
                        continue
                    acked[msg_id] = ack.seq
                    break
                else:
                    raise AssertionError(f"{msg_id} never acknowledged")

        with background(publish):
            resets = cut_repeatedly([(link, nc, "up"), (link, nc, "down")], 33)
        nc.close()
    stored: dict[str, list[int]] = {}
    info = jsm.stream_info("RESETS")
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = jsm.get_msg("RESETS", seq)
        assert msg.data is not None and msg.headers is not None
        stored.setdefault(msg.headers["Nats-Msg-Id"], []).append(seq)
        i = int(msg.data[:8])
        assert msg.data == payload(i) and msg.headers["Nats-Msg-Id"] == f"m-{i}"
    jsm.delete_stream("RESETS")
    admin.close()
    doubled = {k: v for k, v in stored.items() if len(v) > 1}
    assert not doubled, doubled
    assert all(stored.get(msg_id) == [seq] for msg_id, seq in acked.items())
    assert set(stored) == set(acked)   # the publisher retried each id until acknowledged
    figure("JetStream publishing through resets",
           f"{resets} resets: {len(acked)} acknowledged, {info.state.messages} stored, "
           f"{retries[0]} retries, 0 duplicates, 0 acknowledged-but-missing")
    wait_for(lambda: set(natsync_threads()) <= before, 5, "the clients' threads to end")
