"""Options from the nats.js seed docs: no_mux requests, cluster change notices, debug traces."""

from __future__ import annotations

import logging
import threading
from typing import Callable

import pytest

import natsync
from natsync.errors import BadArgumentError, NoRespondersError, TimeoutError
from natsync.testing import NatsCluster, NatsServer

from .conftest import wait_for

Connect = Callable[..., natsync.Client]


def test_request_no_mux_uses_its_own_inbox(connect: Connect) -> None:
    responder = connect()
    seen: list[str] = []

    def answer(m: natsync.Msg) -> None:
        seen.append(m.reply)
        m.respond(b"ok")

    responder.subscribe("nomux", cb=answer)
    responder.flush()
    nc = connect()
    assert nc.request("nomux", b"", timeout=2, no_mux=True).data == b"ok"
    assert nc.request("nomux", b"", timeout=2, no_mux=True, reply="my.own.reply").data == b"ok"
    assert seen[1] == "my.own.reply"
    assert seen[0].startswith("_INBOX.") and seen[0].count(".") == 1  # not the muxed inbox
    assert nc._mux.sid == 0  # the shared inbox was never created
    assert len(nc._subs) == 0  # the dedicated subscriptions are gone
    with pytest.raises(NoRespondersError):
        nc.request("nobody.nomux", b"", timeout=2, no_mux=True)
    nc.subscribe("silent.nomux")
    nc.flush()
    with pytest.raises(TimeoutError):
        nc.request("silent.nomux", b"", timeout=0.2, no_mux=True)


def test_request_reply_requires_no_mux(client: natsync.Client) -> None:
    with pytest.raises(BadArgumentError, match="no_mux"):
        client.request("x", b"", reply="somewhere")
    with pytest.raises(natsync.errors.BadSubjectError):
        client.request("x", b"", no_mux=True, reply="bad subject")


def test_cluster_changes_reach_discovered_server_cb() -> None:
    changes: list[natsync.ServersChanged] = []
    plain_calls: list[int] = []
    got_change = threading.Event()

    def on_change(change: natsync.ServersChanged) -> None:
        changes.append(change)
        got_change.set()

    with NatsCluster(size=3) as cluster:
        first, _, third = cluster.servers
        nc = natsync.connect(first.url, discovered_server_cb=on_change)
        # nats-py style callbacks without a parameter keep working.
        legacy = natsync.connect(first.url, discovered_server_cb=lambda: plain_calls.append(1))
        try:
            wait_for(lambda: len(nc.discovered_servers) == 2, 5, "discovery")
            third.stop()
            assert got_change.wait(10), "no cluster update after a node left"
            gone = f"127.0.0.1:{third.port}"
            assert any(gone in c.deleted for c in changes)
            wait_for(lambda: len(nc.discovered_servers) == 1, 5, "pool shrinks")
            assert all(gone not in url for url in nc.servers)
            third.start()
            wait_for(lambda: any(gone in c.added for c in changes), 15, "node back")
            wait_for(lambda: len(plain_calls) >= 1, 5, "legacy callback")
        finally:
            nc.close()
            legacy.close()


def test_debug_traces_protocol_with_credentials_redacted(
        caplog: pytest.LogCaptureFixture) -> None:
    config = {"authorization": {"user": "alice", "password": "s3cr3t-pw"}}
    with NatsServer(config=config) as srv:
        caplog.set_level(logging.DEBUG, logger="natsync.protocol")
        with natsync.connect(f"nats://alice:s3cr3t-pw@127.0.0.1:{srv.port}", debug=True) as nc:
            sub = nc.subscribe("trace.me")
            nc.publish("trace.me", b"x" * 500)
            sub.next_msg(2)
    lines = [r.getMessage() for r in caplog.records if r.name == "natsync.protocol"]
    text = "\n".join(lines)
    assert "s3cr3t-pw" not in text
    assert any(line.startswith(">>> SUB trace.me") for line in lines)
    assert any(line.startswith(">>> PUB trace.me 500") and "(500 bytes)" in line for line in lines)
    assert any(line.startswith("<<< MSG trace.me") for line in lines)
    assert any(line.startswith(">>> CONNECT") and '"pass":"***"' in line for line in lines)
    assert any(line.startswith("<<< INFO") for line in lines)


def test_no_debug_no_trace(client: natsync.Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="natsync.protocol")
    client.publish("quiet", b"x")
    client.flush()
    assert not [r for r in caplog.records if r.name == "natsync.protocol"]


def test_custom_authenticator_and_a_list_tried_in_turn() -> None:
    config = {"authorization": {"user": "app", "password": "right"}}
    with NatsServer(config=config) as srv:
        nonces: list[object] = []

        def good(nonce: object) -> dict[str, str]:
            nonces.append(nonce)
            return {"user": "app", "pass": "right"}

        def wrong(nonce: object) -> dict[str, str]:
            return {"user": "app", "pass": "wrong"}

        with natsync.connect(srv.url, authenticator=good) as nc:
            nc.flush()
        assert nonces  # called at the handshake
        with natsync.connect(srv.url, authenticator=[wrong, good]) as nc:
            assert nc.is_connected
            nc.force_reconnect()  # the reconnect starts from the one that worked
            wait_for(lambda: nc.stats["reconnects"] == 1 and nc.is_connected, 10)
        with pytest.raises(natsync.errors.AuthorizationError):
            natsync.connect(srv.url, authenticator=[wrong, wrong])
        with pytest.raises(natsync.errors.AuthenticationError, match="password"):
            natsync.connect(srv.url, authenticator=lambda n: {"user": "app", "password": "x"})
        with pytest.raises(natsync.errors.Error, match="callable"):
            natsync.connect(srv.url, authenticator=["not callable"])


def test_authenticator_signs_the_nonce_with_an_nkey() -> None:
    import base64
    import os

    import nkeys

    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    public = nkeys.from_seed(bytearray(seed)).public_key.decode()
    config = {"authorization": {"users": [{"nkey": public}]}}

    def sign(nonce: object) -> dict[str, str]:
        assert isinstance(nonce, str)
        kp = nkeys.from_seed(bytearray(seed))
        sig = base64.urlsafe_b64encode(kp.sign(nonce.encode())).rstrip(b"=").decode()
        return {"nkey": public, "sig": sig}

    with NatsServer(config=config) as srv:
        with natsync.connect(srv.url, authenticator=sign) as nc:
            sub = nc.subscribe("signed")
            nc.publish("signed", b"in")
            assert sub.next_msg(2).data == b"in"


def test_wait_closed_and_received(shared_server: NatsServer) -> None:
    nc = natsync.connect(shared_server.url)
    sub = nc.subscribe("count.me", max_msgs=2)
    for _ in range(3):
        nc.publish("count.me", b"x")
    nc.flush()
    wait_for(lambda: sub.received == 2, 2)
    with pytest.raises(TimeoutError):
        nc.wait_closed(timeout=0.05)
    threading.Timer(0.1, nc.close).start()
    assert nc.wait_closed(timeout=5) is None
    assert nc.is_closed


def test_wait_closed_reports_why() -> None:
    srv = NatsServer()
    srv.start()
    nc = natsync.connect(srv.url, reconnect_time_wait=0.05, max_reconnect_attempts=1)
    srv.close()
    assert isinstance(nc.wait_closed(timeout=10), natsync.errors.NoServersError)
