"""OpenTelemetry instrumentation against a real server: spans, their parents across
services and other clients, attributes, errors, metrics, and a clean uninstrument()."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import natsync
from natsync import micro
from natsync.contrib.otel import NatsyncInstrumentor
from natsync.errors import BadArgumentError, BadSubjectError, NoRespondersError, TimeoutError
from natsync.kv import KeyNotFoundError
from natsync.micro import HandlerError

from .conftest import wait_for
from .docblocks import first_python_block


class Telemetry:
    """An instrumented process: the spans it finished and its metrics."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meters = MeterProvider(metric_readers=[self.reader])
        self.tracer = self.provider.get_tracer("test")

    def spans(self, name: str = "", count: int = 1, timeout: float = 5.0) -> List[ReadableSpan]:
        """The finished spans called `name` (all when ""), once there are `count` of them."""
        def found() -> List[ReadableSpan]:
            return [s for s in self.exporter.get_finished_spans() if not name or s.name == name]
        wait_for(lambda: len(found()) >= count, timeout, f"{count} span(s) {name!r}")
        return found()

    def span(self, name: str) -> ReadableSpan:
        spans = self.spans(name)
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def points(self, metric: str) -> List[Any]:
        data = self.reader.get_metrics_data()
        if data is None:  # nothing was measured at all
            return []
        return [p for rm in data.resource_metrics for sm in rm.scope_metrics
                for m in sm.metrics if m.name == metric for p in m.data.data_points]


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    telemetry = Telemetry()
    NatsyncInstrumentor().instrument(tracer_provider=telemetry.provider,
                                     meter_provider=telemetry.meters)
    try:
        yield telemetry
    finally:
        NatsyncInstrumentor().uninstrument()


def parent_of(span: ReadableSpan) -> int:
    assert span.parent is not None, f"{span.name} has no parent"
    return span.parent.span_id


def test_request_to_a_micro_service_continues_the_trace(otel: Telemetry, nc: natsync.Client) -> None:
    def echo(req: micro.Request) -> None:
        nc.publish("audit", req.data)  # inside the handler: a child of the server span
        req.respond(req.data.upper())

    svc = micro.add_service(nc, name="greeter", version="1.2.3")
    svc.add_endpoint("echo", echo, subject="greet.echo")
    try:
        with otel.tracer.start_as_current_span("view") as view:
            reply = nc.request("greet.echo", b"hi", timeout=2)
        assert reply.data == b"HI"
        client = otel.span("request greet.echo")
        server = otel.span("greeter echo")
        audit = otel.span("publish audit")
    finally:
        svc.stop()
    trace_id = view.get_span_context().trace_id
    assert {client.context.trace_id, server.context.trace_id, audit.context.trace_id} == {trace_id}
    assert parent_of(client) == view.get_span_context().span_id
    assert parent_of(server) == client.context.span_id
    assert parent_of(audit) == server.context.span_id
    assert client.kind is SpanKind.CLIENT and server.kind is SpanKind.SERVER
    assert dict(client.attributes or {}) == {
        "messaging.system": "nats", "messaging.destination.name": "greet.echo",
        "messaging.operation.type": "send", "messaging.operation.name": "request",
        "messaging.message.body.size": 2, "messaging.nats.reply.body.size": 2}
    attrs = dict(server.attributes or {})
    assert attrs["messaging.consumer.group.name"] == "q"
    assert attrs["messaging.operation.type"] == "process"
    assert attrs["messaging.nats.micro.service.name"] == "greeter"
    assert attrs["messaging.nats.micro.service.version"] == "1.2.3"
    assert attrs["messaging.nats.micro.endpoint.name"] == "echo"
    assert server.status.status_code is StatusCode.UNSET
    (latency,) = otel.points("messaging.client.operation.duration")
    assert latency.count == 1 and 0 < latency.sum < 2
    assert latency.attributes["messaging.destination.name"] == "greet.echo"


def test_failed_requests_have_error_status(otel: Telemetry, nc: natsync.Client) -> None:
    with pytest.raises(NoRespondersError):
        nc.request("nobody.home", b"", timeout=2)
    silent = nc.subscribe("silent")
    with pytest.raises(TimeoutError):
        nc.request("silent", b"x", timeout=0.2)
    silent.unsubscribe()
    for subject, error in (("nobody.home", "NoRespondersError"), ("silent", "TimeoutError")):
        span = otel.span(f"request {subject}")
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes is not None and span.attributes["error.type"] == error
        assert [e.name for e in span.events] == ["exception"]
    errors = {p.attributes["messaging.destination.name"]: p.attributes["error.type"]
              for p in otel.points("messaging.client.operation.duration")}
    assert errors == {"nobody.home": "NoRespondersError", "silent": "TimeoutError"}
    with pytest.raises(BadSubjectError):
        nc.publish("bad subject", b"")
    failed = otel.span("publish bad subject")
    assert failed.status.status_code is StatusCode.ERROR
    assert (failed.status.description or "").startswith("BadSubjectError: ")


def test_failing_service_handlers_mark_the_server_span(otel: Telemetry, nc: natsync.Client) -> None:
    def crash(req: micro.Request) -> None:
        raise ZeroDivisionError("division by zero")

    def refuse(req: micro.Request) -> None:
        raise HandlerError("400", "bad <input>")

    svc = micro.add_service(nc, name="calc", version="0.0.1")
    svc.add_endpoint("crash", crash)
    svc.add_endpoint("refuse", refuse)
    try:
        assert nc.request("crash", b"", timeout=2).headers["Nats-Service-Error-Code"] == "500"
        assert nc.request("refuse", b"", timeout=2).headers["Nats-Service-Error-Code"] == "400"
        crashed, refused = otel.span("calc crash"), otel.span("calc refuse")
    finally:
        svc.stop()
    assert crashed.status.status_code is StatusCode.ERROR
    assert crashed.status.description == "500:division by zero"
    assert refused.status.description == "400:bad <input>"
    assert refused.attributes is not None
    assert refused.attributes["messaging.nats.micro.error.code"] == "400"
    # the requests themselves got a reply: no error on the client side
    assert otel.span("request refuse").status.status_code is StatusCode.UNSET


def test_publish_subscribe_propagation(otel: Telemetry, connect: Callable[..., natsync.Client]) -> None:
    pub, sub_nc = connect(), connect()
    got: List[bytes] = []
    sub_nc.subscribe("orders.*", queue="workers", cb=lambda m: got.append(m.data))
    polled = sub_nc.subscribe("orders.new")
    sub_nc.flush()
    with otel.tracer.start_as_current_span("checkout"):
        pub.publish("orders.new", b"12345", headers={"X-Id": "1"})
    msg = polled.next_msg(timeout=2)
    assert msg.headers is not None and msg.headers["X-Id"] == "1" and "traceparent" in msg.headers
    wait_for(lambda: got == [b"12345"], what="the callback")
    sent = otel.span("publish orders.new")
    process = otel.span("process orders.new")
    receive = otel.span("receive orders.new")
    assert sent.kind is SpanKind.PRODUCER
    assert process.kind is SpanKind.CONSUMER and receive.kind is SpanKind.CONSUMER
    assert parent_of(process) == sent.context.span_id == parent_of(receive)
    assert process.context.trace_id == sent.context.trace_id == receive.context.trace_id
    attrs = dict(process.attributes or {})
    assert attrs == {"messaging.system": "nats", "messaging.destination.name": "orders.new",
                     "messaging.destination.template": "orders.*",
                     "messaging.operation.type": "process", "messaging.operation.name": "process",
                     "messaging.message.body.size": 5, "messaging.consumer.group.name": "workers"}
    assert dict(receive.attributes or {})["messaging.operation.type"] == "receive"
    assert dict(sent.attributes or {})["messaging.operation.type"] == "send"


def test_scatter_gather_responders_are_children(otel: Telemetry, nc: natsync.Client) -> None:
    for name in (b"a", b"b"):
        nc.subscribe("census", cb=lambda m, name=name: m.respond(name))
    nc.flush()
    replies = sorted(m.data for m in nc.request_many("census", b"", timeout=2, max_msgs=2))
    assert replies == [b"a", b"b"]
    asked = otel.span("request_many census")
    answers = otel.spans("process census", count=2)
    assert [parent_of(s) for s in answers] == [asked.context.span_id] * 2


def test_a_failing_callback_records_the_exception(otel: Telemetry, nc: natsync.Client) -> None:
    def boom(msg: natsync.Msg) -> None:
        raise ValueError("bad message")

    nc.subscribe("boom", cb=boom)
    nc.publish("boom", b"")
    span = otel.span("process boom")
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


def test_trace_context_interoperates_with_nats_py(otel: Telemetry, nats_url: str,
                                                   nc: natsync.Client) -> None:
    import nats

    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    got: List[natsync.Msg] = []
    nc.subscribe("from.py", cb=got.append)
    nc.flush()

    async def nats_py_side() -> Any:
        anc = await nats.connect(nats_url)
        try:
            inbox = await anc.subscribe("from.natsync")
            await anc.flush()
            await anc.publish("from.py", b"hello",
                              headers={"traceparent": f"00-{trace_id}-{span_id}-01"})
            await anc.flush()
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: nc.publish("from.natsync", b"back"))
            return await inbox.next_msg(timeout=5)
        finally:
            await anc.close()

    received_by_py = asyncio.run(nats_py_side())
    process = otel.span("process from.py")
    assert f"{process.context.trace_id:032x}" == trace_id
    assert f"{parent_of(process):016x}" == span_id
    sent = otel.span("publish from.natsync")
    ctx = sent.context
    version, tid, sid, _flags = received_by_py.headers["traceparent"].split("-")
    assert (version, tid, sid) == ("00", f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}")


def test_jetstream_publish_fetch_and_ack(otel: Telemetry, nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.add_stream(name="ORDERS", subjects=["js.orders"])
    ack = js.publish("js.orders", b"one")
    psub = js.pull_subscribe("js.orders", durable="worker")
    (msg,) = psub.fetch(1, timeout=5)
    msg.ack_sync()
    sent = otel.span("publish js.orders")
    assert sent.kind is SpanKind.PRODUCER
    attrs = dict(sent.attributes or {})
    assert attrs["messaging.nats.jetstream.stream"] == "ORDERS"
    assert attrs["messaging.nats.jetstream.sequence.stream"] == ack.seq == 1
    assert attrs["messaging.nats.jetstream.duplicate"] is False
    received = otel.span("receive js.orders")
    assert parent_of(received) == sent.context.span_id  # the stored message kept traceparent
    rattrs = dict(received.attributes or {})
    assert rattrs["messaging.nats.jetstream.consumer"] == "worker"
    assert rattrs["messaging.nats.jetstream.sequence.consumer"] == 1
    settled = otel.span("ack_sync js.orders")
    assert dict(settled.attributes or {})["messaging.operation.type"] == "settle"
    # the publish's request and the ack's request underneath make no spans of their own
    children = [s.name for s in otel.spans() if s.parent is not None
                and s.parent.span_id in (sent.context.span_id, settled.context.span_id)]
    assert children == ["receive js.orders"]
    assert not [s.name for s in otel.spans() if "$JS.ACK" in s.name]


def test_key_value_get_and_put(otel: Telemetry, nc: natsync.Client) -> None:
    kv = nc.jetstream().create_key_value(bucket="cfg")
    revision = kv.put("color", b"blue")
    assert kv.get("color").value == b"blue"
    with pytest.raises(KeyNotFoundError):
        kv.get("missing")
    put = otel.span("kv.put cfg")
    assert dict(put.attributes or {})["messaging.nats.kv.revision"] == revision
    gets = otel.spans("kv.get cfg", count=2)
    assert [dict(s.attributes or {})["messaging.nats.kv.key"] for s in gets] == ["color", "missing"]
    assert [s.status.status_code for s in gets] == [StatusCode.UNSET, StatusCode.ERROR]
    assert dict(gets[1].attributes or {})["error.type"] == "KeyNotFoundError"


def test_connection_metrics(otel: Telemetry, connect: Callable[..., natsync.Client]) -> None:
    nc = connect(name="metered")
    sub = nc.subscribe("m", pending_msgs_limit=2)
    for _ in range(10):
        nc.publish("m", b"12345")
    nc.flush()
    wait_for(lambda: sub.received == 10, what="ten messages")

    def value(metric: str) -> int:
        points = [p for p in otel.points(metric)
                  if p.attributes.get("messaging.nats.client.name") == "metered"]
        assert len(points) == 1, (metric, points)
        return int(points[0].value)

    assert value("messaging.client.sent.messages") == 10
    assert value("messaging.client.consumed.messages") == 10
    assert value("messaging.nats.client.sent.bytes") == 50
    assert value("messaging.nats.client.received.bytes") == 50
    assert value("messaging.nats.client.reconnects") == 0
    assert value("messaging.nats.client.dropped.messages") == 8
    assert value("messaging.nats.client.pending.messages") == 2
    assert value("messaging.nats.client.pending.bytes") == 10


def test_uninstrument_removes_everything(nc: natsync.Client) -> None:
    originals = {name: natsync.Client.__dict__[name]
                 for name in ("__init__", "publish", "request", "subscribe")}
    telemetry = Telemetry()
    instrumentor = NatsyncInstrumentor()
    assert instrumentor is NatsyncInstrumentor()
    instrumentor.instrument(tracer_provider=telemetry.provider, meter_provider=telemetry.meters)
    try:
        assert instrumentor.is_instrumented_by_opentelemetry
        assert natsync.Client.__dict__["publish"] is not originals["publish"]
        assert natsync.Client.__dict__["__init__"] is not originals["__init__"]
        instrumentor.instrument(tracer_provider=telemetry.provider)  # warns, changes nothing
        got: List[natsync.Msg] = []
        nc.subscribe("later", cb=got.append)  # its callback is wrapped while instrumented
        nc.flush()
    finally:
        instrumentor.uninstrument()
    instrumentor.uninstrument()  # a second call is harmless
    assert not instrumentor.is_instrumented_by_opentelemetry
    assert {n: natsync.Client.__dict__[n] for n in originals} == originals
    nc.publish("later", b"x")
    wait_for(lambda: len(got) == 1, what="the message")
    assert got[0].headers is None  # no traceparent injected any more
    with pytest.raises(NoRespondersError):
        nc.request("nobody", b"", timeout=1)
    time.sleep(0.1)
    assert telemetry.exporter.get_finished_spans() == ()
    assert telemetry.points("messaging.client.sent.messages") == []
    assert telemetry.points("messaging.client.operation.duration") == []
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_bad_providers_are_refused() -> None:
    with pytest.raises(BadArgumentError, match="tracer_provider must be an OpenTelemetry "
                                               "TracerProvider or None, not str"):
        NatsyncInstrumentor().instrument(tracer_provider="jaeger")  # type: ignore[arg-type]
    with pytest.raises(BadArgumentError, match="meter_provider .* not TracerProvider"):
        NatsyncInstrumentor().instrument(meter_provider=TracerProvider())  # type: ignore[arg-type]
    assert not NatsyncInstrumentor().is_instrumented_by_opentelemetry


def test_without_the_extra_the_import_says_what_to_install() -> None:
    code = ("import sys; sys.modules['opentelemetry'] = None\n"
            "try:\n    import natsync.contrib.otel\n"
            "except ImportError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout == "natsync.contrib.otel needs opentelemetry-api: " \
                         "pip install 'natsync[otel]'\n", out.stderr


def test_docs_minimal_setup(nats_url: str, tmp_path: Path) -> None:
    script = tmp_path / "otel_setup.py"
    script.write_text(first_python_block("opentelemetry.md"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["NATS_URL"] = nats_url
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # the service thread's span may be written between the print's text and its newline
    assert out.stdout.count("b'hello world'") == 1
    rest = out.stdout.replace("b'hello world'", "")
    spans = {}
    decoder, pos = json.JSONDecoder(), 0
    for _ in range(10):  # the console exporter prints one JSON document per span
        pos = len(rest) - len(rest[pos:].lstrip())
        if pos >= len(rest):
            break
        doc, pos = decoder.raw_decode(rest, pos)
        spans[doc["name"]] = doc
    assert set(spans) == {"view", "request hello", "greeter hello"}
    view, client, server = spans["view"], spans["request hello"], spans["greeter hello"]
    assert len({s["context"]["trace_id"] for s in spans.values()}) == 1
    assert client["parent_id"] == view["context"]["span_id"]
    assert server["parent_id"] == client["context"]["span_id"]
    assert (client["kind"], server["kind"]) == ("SpanKind.CLIENT", "SpanKind.SERVER")
