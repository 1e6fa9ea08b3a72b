"""Every byte stream cut into pieces of 1 and 7 bytes by a FaultProxy, written apart so
that the client reads them one by one: INFO, MSG, HMSG, PING and -ERR still parse."""

from __future__ import annotations

import threading
from typing import Iterator

import pytest

import natsync
from natsync.errors import PermissionsError
from natsync.headers import Headers
from natsync.testing import FaultProxy, NatsServer

from .conftest import wait_for
from .fault_helpers import Events

USERS = {"authorization": {"users": [{
    "user": "app", "password": "pw",
    "permissions": {"publish": {"deny": ["denied.>"]}, "subscribe": {"deny": ["secret.>"]}},
}]}}

#: Payloads and header blocks with every length around the piece sizes, CRLFs inside.
PAYLOADS = [b"", b"x", b"\r\n", b"abcdefg", b"abcdefgh", b"MSG a 1 2\r\n", bytes(range(40))]
HEADERS = [None, {"K": "v"}, {"Seven": "1234567", "Multi": ["a", "b"]}]


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    with NatsServer(config=USERS) as srv:
        yield srv


@pytest.fixture(params=[1, 7], ids=["1-byte", "7-byte"])
def sliced(request: pytest.FixtureRequest, server: NatsServer) -> Iterator[FaultProxy]:
    """A proxy that writes both ways in pieces of 1 or 7 bytes, from the first byte."""
    with FaultProxy(server) as proxy:
        proxy.slice(request.param, interval=0.0005)
        yield proxy


def url_of(target: FaultProxy | NatsServer) -> str:
    return f"nats://app:pw@127.0.0.1:{target.port}"


def test_messages_and_headers_split_anywhere(server: NatsServer, sliced: FaultProxy) -> None:
    """INFO at connect, then MSG and HMSG frames of every shape, both ways."""
    ev = Events()
    direct = natsync.connect(url_of(server))
    nc = natsync.connect(url_of(sliced), **ev.options())   # the INFO came in pieces
    try:
        sub = nc.subscribe("in.*")
        direct.subscribe("out", cb=lambda m: m.respond(m.data, headers=m.headers))
        nc.flush(timeout=10)
        direct.flush()
        sent = [(p, h) for p in PAYLOADS for h in HEADERS]
        for k, (data, headers) in enumerate(sent):
            direct.publish(f"in.{k}", data, headers=headers)
        for k, (data, headers) in enumerate(sent):
            msg = sub.next_msg(timeout=10)
            assert (msg.subject, msg.data) == (f"in.{k}", data)
            if headers is None:
                assert msg.headers is None
            else:
                assert msg.headers is not None
                assert msg.headers.items_all() == Headers(headers).items_all()
        for data, headers in sent[::4]:        # requests go up in pieces, replies down
            reply = nc.request("out", data, headers=headers, timeout=10)
            assert reply.data == data
        assert nc.stats["reconnects"] == 0 and not ev.errors()
    finally:
        nc.close()
        direct.close()


@pytest.mark.parametrize("size", [1, 7])
def test_server_pings_split_anywhere_are_answered(size: int) -> None:
    """The server PINGs an idle client every 150 ms and drops it after 2 unanswered: the
    client stays connected through six PINGs in pieces, each answered with a PONG.
    (Sliced from after the handshake: a 1-byte CONNECT outlasts two such PINGs.)"""
    config = {"ping_interval": "150ms", "ping_max": 2}
    with NatsServer(config=config) as srv, FaultProxy(srv) as proxy:
        nc = natsync.connect(proxy.url)
        try:
            nc.flush(timeout=10)
            proxy.slice(size, interval=0.0005)
            up, down = proxy.stats["up_bytes"], proxy.stats["down_bytes"]
            wait_for(lambda: proxy.stats["down_bytes"] - down >= 6 * 6, 5, "six PINGs")
            wait_for(lambda: proxy.stats["up_bytes"] - up >= 6 * 6, 5, "six PONGs back")
            assert nc.is_connected and nc.stats["reconnects"] == 0
        finally:
            nc.close()


def test_err_split_anywhere_reaches_error_cb(sliced: FaultProxy) -> None:
    """-ERR 'Permissions Violation ...' for a publish and for a subscription."""
    ev = Events()
    nc = natsync.connect(url_of(sliced), **ev.options())
    try:
        nc.publish("denied.x", b"no")
        sub = nc.subscribe("secret.x")
        wait_for(lambda: len(ev.errors()) >= 2, 10, "two permission errors")
        errors = ev.errors()
        assert all(isinstance(e, PermissionsError) for e in errors), errors
        text = " ".join(str(e) for e in errors)
        assert "denied.x" in text and "secret.x" in text
        assert not sub.is_valid                # the refused subscription ended
        nc.flush(timeout=10)
        assert nc.is_connected and nc.stats["reconnects"] == 0
    finally:
        nc.close()


def test_async_info_split_anywhere() -> None:
    """The lame-duck INFO the server sends to connected clients arrives in 1-byte pieces."""
    noticed = threading.Event()
    quick = {"lame_duck_grace_period": "100ms"}    # it then exits at once, not in 10 s
    with NatsServer(config=quick) as srv, FaultProxy(srv) as proxy:
        nc = natsync.connect(proxy.url, lame_duck_mode_cb=noticed.set)
        try:
            nc.flush()
            proxy.slice(1, interval=0.0005)
            srv.lame_duck()
            assert noticed.wait(10)
        finally:
            nc.close()
