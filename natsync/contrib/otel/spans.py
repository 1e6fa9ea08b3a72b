"""The wrappers that make spans: each takes the original function and returns its
traced twin, to be set on the class by the instrumentor (and the original put back).

Spans nest the way a reader expects: a JetStream publish, an ack or a Key-Value call
is one span, and the core publish/request/next_msg it makes underneath is not traced
again (it is "suppressed" for the duration of the outer call).
"""

from __future__ import annotations

import contextvars
import inspect
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, set_span_in_context

import natsync.contrib.otel.semconv as semconv

from ...client import Client
from ...headers import HeadersLike
from ...js.api import PubAck
from ...kv.entry import Entry
from ...micro.endpoint import Endpoint
from ...micro.request import Request
from ...msg import Msg
from ...subscription import MsgHandler, Subscription
from .metrics import ClientMetrics
from .propagation import extract, inject

Fn = Callable[..., Any]

_SUPPRESS: contextvars.ContextVar[bool] = contextvars.ContextVar("natsync_otel_suppress",
                                                                 default=False)
_SERVER_SPAN: contextvars.ContextVar[Optional[Span]] = contextvars.ContextVar(
    "natsync_otel_server_span", default=None)

#: Callbacks from these natsync modules are traced (they run the application's code);
#: other natsync-internal callbacks (micro, KV/object watchers...) trace themselves or not at all.
_TRACED_NATSYNC_CALLBACKS = frozenset({"natsync.js.push"})


@contextmanager
def _suppressed() -> Iterator[None]:
    """Core operations inside this block make no spans of their own."""
    token = _SUPPRESS.set(True)
    try:
        yield
    finally:
        _SUPPRESS.reset(token)


def _fail(span: Span, exc: Exception) -> None:
    """What start_as_current_span does for an exception, for spans made without it."""
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


def _is_status(msg: Msg) -> bool:
    """A server status message (heartbeat, flow control, 408...): not application data."""
    return msg.headers is not None and msg.headers.status is not None


def _traced_callback(cb: MsgHandler) -> bool:
    module = getattr(cb, "__module__", None) or ""
    return not module.startswith("natsync.") or module in _TRACED_NATSYNC_CALLBACKS


class Tracing:
    """The wrapper factories of one instrumentation (its tracer, its metrics)."""

    def __init__(self, tracer: Tracer, metrics: ClientMetrics) -> None:
        self.tracer = tracer
        self.metrics = metrics
        self.active = True  # callbacks wrapped earlier check this after uninstrument()

    # --- core client ----------------------------------------------------------------------

    def client_init(self, orig: Fn) -> Fn:
        def __init__(nc: Client, *args: Any, **kwargs: Any) -> None:
            orig(nc, *args, **kwargs)
            self.metrics.track(nc)
        return __init__

    def publish(self, orig: Fn) -> Fn:
        tracer = self.tracer

        def publish(nc: Client, subject: str, payload: bytes = b"", reply: str = "",
                    headers: Optional[HeadersLike] = None) -> None:
            if _SUPPRESS.get():
                return orig(nc, subject, payload, reply, headers)  # type: ignore[no-any-return]
            # Not made current: publish runs no code of the caller's (and this is cheaper).
            span = tracer.start_span(f"publish {subject}", kind=SpanKind.PRODUCER,
                                     attributes=semconv.operation("send", "publish", subject,
                                                                  payload))
            try:
                orig(nc, subject, payload, reply, inject(headers, set_span_in_context(span)))
            except Exception as exc:
                _fail(span, exc)
                raise
            finally:
                span.end()
        return publish

    def request(self, orig: Fn) -> Fn:
        tracer, latency = self.tracer, self.metrics.latency

        def request(nc: Client, subject: str, payload: bytes = b"", timeout: float = 0.5,
                    headers: Optional[HeadersLike] = None, no_mux: bool = False,
                    reply: Optional[str] = None) -> Msg:
            if _SUPPRESS.get():
                return orig(nc, subject, payload, timeout, headers, no_mux, reply)  # type: ignore[no-any-return]
            self.metrics.track(nc)
            attrs = semconv.operation("send", "request", subject, payload)
            measured = {k: attrs[k] for k in (semconv.SYSTEM, semconv.DESTINATION,
                                              semconv.OPERATION_NAME)}
            start = time.perf_counter()
            with tracer.start_as_current_span(f"request {subject}", kind=SpanKind.CLIENT,
                                              attributes=attrs) as span:
                try:
                    with _suppressed():
                        msg: Msg = orig(nc, subject, payload, timeout, inject(headers), no_mux,
                                        reply)
                except Exception as exc:
                    span.set_attributes(semconv.error_type(exc))
                    measured.update(semconv.error_type(exc))
                    raise
                finally:
                    latency.record(time.perf_counter() - start, measured)
                span.set_attribute("messaging.nats.reply.body.size", len(msg.data))
                return msg
        return request

    def request_many(self, orig: Fn) -> Fn:
        """A client span for sending a scatter-gather request (the replies come later,
        as the caller iterates, so they are not part of it)."""
        tracer = self.tracer

        def request_many(nc: Client, subject: str, payload: bytes = b"", timeout: float = 1.0,
                         max_msgs: Optional[int] = None, stall: Optional[float] = None,
                         headers: Optional[HeadersLike] = None) -> Iterator[Msg]:
            if _SUPPRESS.get():
                return orig(nc, subject, payload, timeout, max_msgs, stall, headers)  # type: ignore[no-any-return]
            with tracer.start_as_current_span(
                    f"request_many {subject}", kind=SpanKind.CLIENT,
                    attributes=semconv.operation("send", "request_many", subject, payload)):
                return orig(nc, subject, payload, timeout, max_msgs, stall,  # type: ignore[no-any-return]
                            inject(headers))
        return request_many

    def subscribe(self, orig: Fn) -> Fn:
        def subscribe(nc: Client, subject: str, queue: str = "",
                      cb: Optional[MsgHandler] = None, *args: Any, **kwargs: Any) -> Subscription:
            if cb is not None and _traced_callback(cb):
                cb = self._process(cb, subject, queue)
            sub: Subscription = orig(nc, subject, queue, cb, *args, **kwargs)
            self.metrics.track(nc, sub)
            return sub
        return subscribe

    def _process(self, cb: MsgHandler, pattern: str, queue: str) -> MsgHandler:
        """`cb` run inside a consumer span whose parent is the message's trace context."""
        tracer = self.tracer

        def traced(msg: Msg) -> object:
            if not self.active or _is_status(msg):
                return cb(msg)
            with tracer.start_as_current_span(
                    f"process {msg.subject}", context=extract(msg.headers),
                    kind=SpanKind.CONSUMER,
                    attributes=semconv.received("process", "process", msg, pattern, queue)):
                return cb(msg)
        traced.__wrapped__ = cb  # type: ignore[attr-defined]
        return traced

    def next_msg(self, orig: Fn) -> Fn:
        tracer = self.tracer

        def next_msg(sub: Subscription, timeout: Optional[float] = 1.0) -> Msg:
            if _SUPPRESS.get():
                return orig(sub, timeout)  # type: ignore[no-any-return]
            start = time.time_ns()
            msg: Msg = orig(sub, timeout)
            if not _is_status(msg):
                tracer.start_span(
                    f"receive {msg.subject}", context=extract(msg.headers),
                    kind=SpanKind.CONSUMER, start_time=start,
                    attributes=semconv.received("receive", "receive", msg, sub.subject,
                                                sub.queue)).end()
            return msg
        return next_msg

    # --- JetStream ------------------------------------------------------------------------

    def settle(self, op_name: str) -> Callable[[Fn], Fn]:
        """A factory for Msg.ack/nak/term/in_progress/ack_sync: one "settle" span each."""
        def factory(orig: Fn) -> Fn:
            tracer = self.tracer

            def settle(msg: Msg, *args: Any, **kwargs: Any) -> Any:
                if _SUPPRESS.get():
                    return orig(msg, *args, **kwargs)
                attrs = semconv.operation("settle", op_name, msg.subject)
                attrs.update(semconv.jetstream(msg))
                with tracer.start_as_current_span(f"{op_name} {msg.subject}",
                                                  kind=SpanKind.CLIENT, attributes=attrs):
                    with _suppressed():
                        return orig(msg, *args, **kwargs)
            return settle
        return factory

    def js_publish(self, orig: Fn) -> Fn:
        """JetStreamContext.publish and publish_async: a producer span carrying the ack."""
        tracer, signature = self.tracer, inspect.signature(orig)

        def publish(js: Any, *args: Any, **kwargs: Any) -> Any:
            if _SUPPRESS.get():
                return orig(js, *args, **kwargs)
            bound = signature.bind(js, *args, **kwargs)
            subject = bound.arguments["subject"]
            with tracer.start_as_current_span(
                    f"publish {subject}", kind=SpanKind.PRODUCER,
                    attributes=semconv.operation("send", "publish", subject,
                                                 bound.arguments.get("payload", b""))) as span:
                bound.arguments["headers"] = inject(bound.arguments.get("headers"))
                with _suppressed():
                    result = orig(*bound.args, **bound.kwargs)
                if isinstance(result, PubAck):
                    span.set_attributes({semconv.JS_STREAM: result.stream,
                                         semconv.JS_STREAM_SEQ: result.seq,
                                         semconv.JS_DUPLICATE: bool(result.duplicate)})
                return result
        return publish

    # --- Key-Value ------------------------------------------------------------------------

    def kv(self, op_name: str) -> Callable[[Fn], Fn]:
        """A factory for KeyValue.get/put: one client span with bucket, key and revision."""
        def factory(orig: Fn) -> Fn:
            tracer = self.tracer

            def operation(kv: Any, key: str, *args: Any, **kwargs: Any) -> Any:
                if _SUPPRESS.get():
                    return orig(kv, key, *args, **kwargs)
                attrs: semconv.Attrs = {semconv.SYSTEM: semconv.NATS,
                                        semconv.OPERATION_NAME: f"kv.{op_name}",
                                        semconv.KV_BUCKET: kv.bucket, semconv.KV_KEY: key}
                with tracer.start_as_current_span(f"kv.{op_name} {kv.bucket}",
                                                  kind=SpanKind.CLIENT, attributes=attrs) as span:
                    try:
                        with _suppressed():
                            result = orig(kv, key, *args, **kwargs)
                    except Exception as exc:
                        span.set_attributes(semconv.error_type(exc))
                        raise
                    revision = result.revision if isinstance(result, Entry) else result
                    span.set_attribute(semconv.KV_REVISION, revision)
                    return result
            return operation
        return factory

    # --- services ---------------------------------------------------------------------------

    def micro_handle(self, orig: Fn) -> Fn:
        """Endpoint._handle: a server span, child of the requester's span."""
        tracer = self.tracer

        def handle(endpoint: Endpoint, msg: Msg) -> None:
            if not self.active:
                return orig(endpoint, msg)  # type: ignore[no-any-return]
            service = endpoint.service
            attrs = semconv.received("process", "process", msg, endpoint.subject,
                                     endpoint.queue_group)
            attrs.update({semconv.MICRO_SERVICE: service.name,
                          semconv.MICRO_VERSION: service.version,
                          semconv.MICRO_INSTANCE: service.id,
                          semconv.MICRO_ENDPOINT: endpoint.name})
            with tracer.start_as_current_span(f"{service.name} {endpoint.name}",
                                              context=extract(msg.headers),
                                              kind=SpanKind.SERVER, attributes=attrs) as span:
                token = _SERVER_SPAN.set(span)
                try:
                    return orig(endpoint, msg)  # type: ignore[no-any-return]
                finally:
                    _SERVER_SPAN.reset(token)
        return handle

    def respond_error(self, orig: Fn) -> Fn:
        """Request.respond_error: marks the endpoint's server span as failed."""
        def respond_error(req: Request, code: Any, description: str, *args: Any,
                          **kwargs: Any) -> None:
            span = _SERVER_SPAN.get()
            if span is not None and self.active:
                span.set_status(Status(StatusCode.ERROR, f"{code}:{description}"))
                span.set_attributes({semconv.MICRO_ERROR_CODE: str(code),
                                     semconv.ERROR_TYPE: str(code)})
            return orig(req, code, description, *args, **kwargs)  # type: ignore[no-any-return]
        return respond_error
