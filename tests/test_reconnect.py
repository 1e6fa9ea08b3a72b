"""Reconnect, buffering while disconnected, clusters, lame duck and stale connections — real servers."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import natsync
from natsync.errors import (
    ConnectionClosedError,
    NoServersError,
    OutboundBufferLimitError,
    PermissionsError,
    StaleConnectionError,
    TimeoutError,
)
from natsync.testing import NatsCluster, NatsServer, free_port

from .conftest import natsync_threads, wait_for

FAST = {"reconnect_time_wait": 0.05, "reconnect_jitter": 0.0, "max_reconnect_attempts": -1}


class Events:
    """Records connection callbacks with timestamps, thread-safely."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[tuple[str, Any]] = []

    def cb(self, name: str) -> Any:
        def record(*args: Any) -> None:
            with self.lock:
                self.seen.append((name, args[0] if args else None))
        return record

    def names(self) -> list[str]:
        with self.lock:
            return [n for n, _ in self.seen]

    def options(self) -> dict[str, Any]:
        return {f"{n}_cb": self.cb(n) for n in
                ("error", "disconnected", "reconnected", "closed", "discovered_server",
                 "lame_duck_mode")}


def test_restart_mid_stream_loses_only_the_kill_window() -> None:
    """20k numbered messages while the server is killed and restarted on the same port."""
    total = 20_000
    with NatsServer() as srv:
        sub_back = threading.Event()
        sub_nc = natsync.connect(srv.url, **FAST, reconnected_cb=sub_back.set)
        # The publisher only retries once the subscriber is back (and re-subscribed), so
        # what it buffered has somewhere to go; the delay handler is its reconnect pacing.
        pub_nc = natsync.connect(srv.url, max_reconnect_attempts=-1,
                                 reconnect_delay_handler=lambda attempt: sub_back.wait(15) and 0.0)
        try:
            sub = sub_nc.subscribe("numbers")
            sub_nc.flush()
            first_buffered: list[int] = []
            published = threading.Event()

            def publisher() -> None:
                for i in range(total):
                    if pub_nc.is_reconnecting and not first_buffered:
                        first_buffered.append(i)
                    pub_nc.publish("numbers", b"%d" % i)
                    if i % 200 == 0:
                        time.sleep(0.01)  # about 2 s of traffic in all
                published.set()

            t = threading.Thread(target=publisher)
            t.start()
            wait_for(lambda: sub.pending_msgs > 3000, 10, "traffic before the kill")
            srv.kill()
            time.sleep(0.3)
            srv.start()
            assert published.wait(30)
            t.join(5)
            pub_nc.flush(timeout=10)
            received: list[int] = []
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    received.append(int(sub.next_msg(timeout=0.5).data))
                except TimeoutError:
                    if received and received[-1] == total - 1:
                        break
            assert first_buffered, "the publisher never saw the disconnect"
            assert received == sorted(set(received)), "duplicates or reordering"
            lost = sorted(set(range(total)) - set(received))
            # Everything buffered while disconnected, and everything after, arrived.
            assert all(n < first_buffered[0] for n in lost)
            # What was lost is one contiguous window: the messages inside the dying server.
            if lost:
                assert lost == list(range(lost[0], lost[-1] + 1))
            print(f"\nkill window lost {len(lost)} of {total} messages; "
                  f"first buffered #{first_buffered[0]}")
            assert sub_nc.stats["reconnects"] == 1 and pub_nc.stats["reconnects"] == 1
            # Subscriptions and the request inbox work with no user action.
            sub_nc.subscribe("svc", cb=lambda m: m.respond(b"pong"))
            sub_nc.flush()
            assert pub_nc.request("svc", b"ping", timeout=2).data == b"pong"
        finally:
            sub_nc.close()
            pub_nc.close()


def test_callbacks_order_and_request_inbox_after_restart() -> None:
    ev = Events()
    with NatsServer() as srv:
        nc = natsync.connect(srv.url, **FAST, **ev.options())
        try:
            nc.subscribe("echo", cb=lambda m: m.respond(m.data))
            assert nc.request("echo", b"1", timeout=2).data == b"1"
            srv.restart()
            wait_for(lambda: "reconnected" in ev.names(), 10, "reconnected_cb")
            assert ev.names()[:2] == ["disconnected", "reconnected"]
            assert nc.request("echo", b"2", timeout=2).data == b"2"
            assert nc.stats["reconnects"] == 1
        finally:
            nc.close()
        wait_for(lambda: ev.names().count("closed") == 1, 2, "closed_cb")


def test_buffer_while_disconnected_then_limit() -> None:
    with NatsServer() as srv:
        nc = natsync.connect(srv.url, pending_size=10_000, reconnect_time_wait=0.2,
                             reconnect_jitter=0.0, max_reconnect_attempts=-1)
        watcher = natsync.connect(srv.url, **FAST)
        try:
            sub = watcher.subscribe("buffered")
            watcher.flush()
            srv.kill()
            wait_for(lambda: nc.is_reconnecting, 5, "disconnect")
            accepted = 0
            with pytest.raises(OutboundBufferLimitError):
                for i in range(10_000):
                    nc.publish("buffered", b"%04d" % i)
                    accepted += 1
            assert 100 < accepted < 1000
            flushed = threading.Event()
            t = threading.Thread(target=lambda: (nc.flush(timeout=10), flushed.set()))
            t.start()  # flush() waits for the reconnect
            time.sleep(0.2)
            assert not flushed.is_set()
            srv.start()
            wait_for(lambda: watcher.is_connected, 10, "watcher reconnect")
            assert flushed.wait(10)
            t.join(1)
            got = []
            for _ in range(accepted):
                got.append(int(sub.next_msg(timeout=5).data))
            assert got == list(range(accepted))
        finally:
            nc.close()
            watcher.close()


def test_request_while_disconnected_fails_at_its_timeout() -> None:
    with NatsServer() as srv:
        nc = natsync.connect(srv.url, reconnect_time_wait=5, max_reconnect_attempts=-1)
        try:
            srv.stop()
            wait_for(lambda: nc.is_reconnecting, 5, "disconnect")
            start = time.monotonic()
            with pytest.raises(TimeoutError):
                nc.request("anything", b"", timeout=0.3)
            assert time.monotonic() - start < 1.5
        finally:
            nc.close()


def test_retry_on_failed_connect_connects_in_background() -> None:
    port = free_port()
    ev = Events()
    nc = natsync.connect(f"nats://127.0.0.1:{port}", retry_on_failed_connect=True,
                         **FAST, **ev.options())
    try:
        assert not nc.is_connected
        sub = nc.subscribe("early")
        nc.publish("early", b"queued before the server existed")
        with NatsServer(port=port):
            wait_for(lambda: nc.is_connected, 10, "background connect")
            assert sub.next_msg(timeout=5).data == b"queued before the server existed"
    finally:
        nc.close()


def test_max_reconnect_attempts_closes_with_no_servers() -> None:
    ev = Events()
    srv = NatsServer()
    srv.start()
    nc = natsync.connect(srv.url, reconnect_time_wait=0.05, reconnect_jitter=0.0,
                         max_reconnect_attempts=3, **ev.options())
    sub = nc.subscribe("x")
    srv.close()
    wait_for(lambda: nc.is_closed, 10, "close after the attempts")
    assert isinstance(nc.last_error, NoServersError)
    wait_for(lambda: ev.names().count("closed") == 1, 2, "closed_cb")
    with pytest.raises(ConnectionClosedError):
        sub.next_msg(0.1)
    wait_for(lambda: not natsync_threads(), 5, "threads to end")
    assert ev.names().count("closed") == 1


def test_allow_reconnect_false_closes_on_disconnect() -> None:
    with NatsServer() as srv:
        nc = natsync.connect(srv.url, allow_reconnect=False)
        srv.stop()
        wait_for(lambda: nc.is_closed, 5, "close")
        assert not natsync_threads() or wait_for(lambda: not natsync_threads(), 5) is None


def test_force_reconnect_keeps_subscriptions() -> None:
    with NatsServer() as srv:
        nc = natsync.connect(srv.url, **FAST)
        try:
            sub = nc.subscribe("still.here")
            nc.force_reconnect()
            wait_for(lambda: nc.stats["reconnects"] == 1 and nc.is_connected, 10, "reconnect")
            nc.publish("still.here", b"yes")
            assert sub.next_msg(timeout=2).data == b"yes"
        finally:
            nc.close()


def test_auto_unsubscribe_remaining_count_survives_reconnect() -> None:
    with NatsServer() as srv:
        nc = natsync.connect(srv.url, **FAST)
        pub = natsync.connect(srv.url, **FAST)
        try:
            sub = nc.subscribe("limited", max_msgs=5)
            nc.flush()
            for _ in range(2):
                pub.publish("limited", b"before")
            pub.flush()
            wait_for(lambda: sub.pending_msgs == 2, 5)
            srv.restart()
            wait_for(lambda: nc.is_connected and pub.is_connected
                     and nc.stats["reconnects"] == 1 and pub.stats["reconnects"] == 1, 10)
            nc.flush()
            for _ in range(10):
                pub.publish("limited", b"after")
            pub.flush()
            assert [m.data for m in sub] == [b"before"] * 2 + [b"after"] * 3
        finally:
            nc.close()
            pub.close()


def test_stale_connection_detected_and_recovered() -> None:
    ev = Events()
    with NatsServer() as srv:
        nc = natsync.connect(srv.url, ping_interval=0.2, max_outstanding_pings=2,
                             connect_timeout=0.5, **FAST, **ev.options())
        try:
            srv.pause()
            start = time.monotonic()
            wait_for(lambda: "disconnected" in ev.names(), 5, "stale detection")
            detected = time.monotonic() - start
            assert detected < 0.2 * (2 + 1) + 0.5
            assert isinstance(nc.last_error, StaleConnectionError) or nc.is_reconnecting
            srv.resume()
            wait_for(lambda: nc.is_connected and nc.stats["reconnects"] >= 1, 10, "recovery")
        finally:
            srv.resume()
            nc.close()


def test_cluster_failover_to_discovered_server() -> None:
    ev = Events()
    with NatsCluster(size=3) as cluster:
        first = cluster.servers[0]
        nc = natsync.connect(first.url, **FAST, **ev.options())
        other = natsync.connect(cluster.servers[1].url, **FAST)
        try:
            wait_for(lambda: len(nc.discovered_servers) == 2, 5, "discovery")
            got: list[bytes] = []
            lock = threading.Lock()

            def work(m: natsync.Msg) -> None:
                with lock:
                    got.append(m.data)
                m.respond(b"done")

            nc.subscribe("jobs", queue="workers", cb=work)
            other.subscribe("jobs", queue="workers", cb=work)
            nc.flush()
            other.flush()
            time.sleep(0.1)  # let the subscriptions reach every node
            assert other.request("jobs", b"1", timeout=2).data == b"done"
            first.stop()
            wait_for(lambda: nc.is_connected and nc.stats["reconnects"] == 1, 10, "failover")
            assert nc.connected_url != first.url
            nc.flush()
            time.sleep(0.2)
            for i in range(20):
                assert other.request("jobs", b"%d" % i, timeout=2).data == b"done"
                assert nc.request("jobs", b"%d" % i, timeout=2).data == b"done"
        finally:
            nc.close()
            other.close()


def test_lame_duck_mode_moves_to_another_server() -> None:
    ev = Events()
    cfg = {"lame_duck_duration": "30s", "lame_duck_grace_period": "1s"}
    with NatsCluster(size=3, config=cfg) as cluster:
        first = cluster.servers[0]
        nc = natsync.connect(first.url, **FAST, **ev.options())
        try:
            wait_for(lambda: len(nc.discovered_servers) == 2, 5, "discovery")
            sub = nc.subscribe("after.ldm")
            first.lame_duck()
            wait_for(lambda: "lame_duck_mode" in ev.names(), 5, "lame_duck_mode_cb")
            wait_for(lambda: nc.is_connected and nc.connected_url != first.url, 10, "move")
            nc.publish("after.ldm", b"ok")
            assert sub.next_msg(timeout=2).data == b"ok"
        finally:
            nc.close()


def test_permission_violation_ends_only_that_subscription() -> None:
    config = {"authorization": {"users": [{
        "user": "limited", "password": "pw",
        "permissions": {"subscribe": {"deny": ["secret.>"]}}}]}}
    errors: list[BaseException] = []
    with NatsServer(config=config) as srv:
        nc = natsync.connect(f"nats://limited:pw@127.0.0.1:{srv.port}", error_cb=errors.append)
        try:
            bad = nc.subscribe("secret.plans")
            good = nc.subscribe("public.news")
            with pytest.raises(PermissionsError) as info:
                bad.next_msg(timeout=2)
            assert info.value.subject == "secret.plans"
            wait_for(lambda: any(isinstance(e, PermissionsError) for e in errors), 2)
            assert nc.is_connected
            nc.publish("public.news", b"fine")
            assert good.next_msg(timeout=2).data == b"fine"
            with pytest.raises(PermissionsError):
                list(bad)
        finally:
            nc.close()


def test_auth_error_on_reconnect_removes_server_after_two() -> None:
    ev = Events()
    port = free_port()
    with NatsServer(port=port, config={"authorization": {"token": "s3cret"}}) as srv:
        nc = natsync.connect(f"nats://s3cret@127.0.0.1:{port}", reconnect_time_wait=0.05,
                             reconnect_jitter=0.0, max_reconnect_attempts=-1, **ev.options())
        srv.stop()
    with NatsServer(port=port, config={"authorization": {"token": "changed"}}):
        wait_for(lambda: nc.is_closed, 10, "give up after two auth errors")
        auth_errors = [a for n, a in ev.seen if n == "error"
                       and isinstance(a, natsync.errors.AuthorizationError)]
        assert len(auth_errors) == 2
        assert isinstance(nc.last_error, NoServersError)
