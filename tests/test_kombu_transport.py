"""The kombu transport against a real JetStream server, through kombu's own API: routing of
direct, topic and fanout exchanges, bindings that outlive the connection that made them,
queue size, purge and delete, ack/reject/requeue, prefetch, a held message kept alive past
its visibility timeout, message TTLs, and the refusals."""

from __future__ import annotations

import socket
import time
from typing import Any, Iterator, List, Tuple

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue

from natsync.errors import BadArgumentError
from natsync.testing import NatsServer

from .js_fixtures import js_server  # noqa: F401

TRANSPORT = "natsync.contrib.celery:Transport"
VT = 1.0  # visibility timeout of these tests' queues


@pytest.fixture
def conn(js_server: NatsServer) -> Iterator[Connection]:  # noqa: F811
    with Connection(js_server.url, transport=TRANSPORT,
                    transport_options={"visibility_timeout": VT, "pull_wait": 0.5}) as c:
        yield c


def _drain(conn: Connection, queues: List[Queue], want: int, timeout: float = 5.0,
           ack: bool = True, **consumer: Any) -> List[Tuple[str, Any, Any]]:
    """(routing key, body, message) of up to `want` deliveries within `timeout` seconds."""
    got: List[Tuple[str, Any, Any]] = []

    def on_message(body: Any, message: Any) -> None:
        got.append((message.delivery_info["routing_key"], body, message))
        if ack:
            message.ack()

    with Consumer(conn.channel(), queues, callbacks=[on_message], **consumer):
        deadline = time.monotonic() + timeout
        while len(got) < want and time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=0.2)
            except socket.timeout:
                pass
    return got


def test_exchanges_route_as_amqp_and_bindings_outlive_the_connection(
        js_server: NatsServer, conn: Connection) -> None:  # noqa: F811
    direct, fanout, topic = (Exchange("t1.tasks", "direct"), Exchange("t1.bcast", "fanout"),
                             Exchange("t1.ev", "topic"))
    queues = [Queue("t1.work", direct, routing_key="work"), Queue("t1.f1", fanout),
              Queue("t1.f2", fanout), Queue("t1.workers", topic, routing_key="worker.#")]
    ch = conn.channel()
    for q in queues:
        q(ch).declare()
    # A new connection that declares nothing: the bindings live on the server.
    with Connection(js_server.url, transport=TRANSPORT) as other:
        p = Producer(other.channel())
        for i in range(3):
            p.publish({"i": i}, exchange=direct, routing_key="work", declare=[])
        p.publish("b", exchange=fanout, routing_key="ignored", declare=[])
        for rk in ("worker", "worker.online", "task.done"):
            p.publish(rk, exchange=topic, routing_key=rk, declare=[])
        p.publish("nobody", exchange=direct, routing_key="unbound", declare=[])
    sizes = [q(ch).queue_declare(passive=True).message_count for q in queues]
    assert sizes == [3, 1, 1, 2]
    got = _drain(conn, queues, want=7)
    bodies = sorted(str(b) for _, b, _ in got)
    assert bodies == sorted(["{'i': 0}", "{'i': 1}", "{'i': 2}", "b", "b", "worker",
                             "worker.online"])
    assert _drain(conn, queues, want=1, timeout=0.8) == []  # nothing left, nothing twice


def _filled(conn: Connection, name: str, bodies: List[Any], **queue: Any) -> Tuple[Queue, Any]:
    """A declared queue `name` bound to direct exchange `name` (key "k") holding `bodies`."""
    q = Queue(name, Exchange(name, "direct"), routing_key="k", **queue)
    ch = conn.channel()
    q(ch).declare()
    p = Producer(ch)
    for body in bodies:
        p.publish(body, exchange=name, routing_key="k")
    return q, ch


def test_unbind_and_delete(conn: Connection) -> None:
    topic = Exchange("t2.ev", "topic")
    q = Queue("t2.q", topic, routing_key="a.*")
    ch = conn.channel()
    q(ch).declare()
    bound = q(ch)
    bound.unbind_from(topic, routing_key="a.*")
    Producer(ch).publish("x", exchange=topic, routing_key="a.b", declare=[])
    assert bound.queue_declare(passive=True).message_count == 0
    bound.delete()
    with pytest.raises(Exception, match="NOT_FOUND"):
        bound.queue_declare(passive=True)


def test_purge_drops_only_what_was_there(conn: Connection) -> None:
    q, ch = _filled(conn, "t3", list(range(5)))
    assert q(ch).purge() == 5
    assert q(ch).queue_declare(passive=True).message_count == 0
    Producer(ch).publish("after", exchange="t3", routing_key="k")
    assert [b for _, b, _ in _drain(conn, [q], want=1)] == ["after"]


def test_reject_requeue_comes_back_and_reject_does_not(conn: Connection) -> None:
    q, ch = _filled(conn, "t4", ["again"])
    m = q(ch).get(no_ack=False)
    assert m is not None and m.payload == "again" and not m.delivery_info["redelivered"]
    m.reject(requeue=True)
    m = q(ch).get(no_ack=False)
    assert m is not None and m.delivery_info["redelivered"]
    m.reject(requeue=False)
    time.sleep(VT + 0.5)  # past the ack wait: a terminated message stays gone
    assert q(ch).get(no_ack=False) is None


def test_prefetch_limits_what_one_channel_holds(conn: Connection) -> None:
    q, _ = _filled(conn, "t5", list(range(10)))
    held = _drain(conn, [q], want=10, timeout=1.5, ack=False, prefetch_count=3)
    assert len(held) == 3  # none acked: the channel may not take a fourth


def test_a_held_message_is_kept_alive_and_an_abandoned_one_comes_back(
        js_server: NatsServer, conn: Connection) -> None:  # noqa: F811
    q, ch = _filled(conn, "t6", ["long"])
    m = q(ch).get(no_ack=False)
    assert m is not None
    with Connection(js_server.url, transport=TRANSPORT) as other:
        time.sleep(VT * 2.5)  # well past the ack wait: in_progress kept it ours
        assert q(other.channel()).get(no_ack=False) is None
        conn.release()  # the holder goes away without acking: the message comes back
        m2 = q(other.channel()).get(no_ack=False)
        deadline = time.monotonic() + VT + 3
        while m2 is None and time.monotonic() < deadline:
            m2 = q(other.channel()).get(no_ack=False)
        assert m2 is not None and m2.payload == "long" and m2.delivery_info["redelivered"]
        m2.ack()


def test_message_ttls(conn: Connection) -> None:
    q, ch = _filled(conn, "t7", ["stale"], message_ttl=1.0)
    time.sleep(1.3)
    Producer(ch).publish("fresh", exchange="t7", routing_key="k")
    assert [b for _, b, _ in _drain(conn, [q], want=2, timeout=0.8)] == ["fresh"]


def test_refusals_are_typed_and_name_the_problem(conn: Connection) -> None:
    ch = conn.channel()
    with pytest.raises(BadArgumentError, match="x-max-priority"):
        Queue("t8.q", Exchange("t8", "direct"), max_priority=5)(ch).declare()
    topic = Exchange("t8.ev", "topic")
    with pytest.raises(BadArgumentError, match="last word"):
        Queue("t8.t", topic, routing_key="a.#.b")(ch).declare()
    assert "secret" not in Connection("nats://u:secret@127.0.0.1:1", transport=TRANSPORT).as_uri()
