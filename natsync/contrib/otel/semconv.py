"""Attribute names (OpenTelemetry messaging conventions, NATS-specific ones under
`messaging.nats.`) and the attribute sets of the spans natsync makes."""

from __future__ import annotations

from typing import Any, Dict, Optional

from ...msg import Msg

AttrValue = Any  # str, bool, int or float
Attrs = Dict[str, AttrValue]

SYSTEM = "messaging.system"
DESTINATION = "messaging.destination.name"
DESTINATION_TEMPLATE = "messaging.destination.template"
OPERATION_TYPE = "messaging.operation.type"
OPERATION_NAME = "messaging.operation.name"
BODY_SIZE = "messaging.message.body.size"
CONSUMER_GROUP = "messaging.consumer.group.name"
CLIENT_ID = "messaging.client.id"
ERROR_TYPE = "error.type"

JS_STREAM = "messaging.nats.jetstream.stream"
JS_CONSUMER = "messaging.nats.jetstream.consumer"
JS_STREAM_SEQ = "messaging.nats.jetstream.sequence.stream"
JS_CONSUMER_SEQ = "messaging.nats.jetstream.sequence.consumer"
JS_DELIVERED = "messaging.nats.jetstream.delivered"
JS_DUPLICATE = "messaging.nats.jetstream.duplicate"
KV_BUCKET = "messaging.nats.kv.bucket"
KV_KEY = "messaging.nats.kv.key"
KV_REVISION = "messaging.nats.kv.revision"
MICRO_SERVICE = "messaging.nats.micro.service.name"
MICRO_VERSION = "messaging.nats.micro.service.version"
MICRO_INSTANCE = "messaging.nats.micro.service.instance.id"
MICRO_ENDPOINT = "messaging.nats.micro.endpoint.name"
MICRO_ERROR_CODE = "messaging.nats.micro.error.code"

NATS = "nats"


def operation(op_type: str, op_name: str, subject: str, payload: object = None) -> Attrs:
    """The attributes every natsync span has: system, destination, operation, body size."""
    attrs: Attrs = {SYSTEM: NATS, DESTINATION: subject, OPERATION_TYPE: op_type,
                    OPERATION_NAME: op_name}
    if isinstance(payload, (bytes, bytearray, memoryview)):
        attrs[BODY_SIZE] = len(payload)
    return attrs


def received(op_type: str, op_name: str, msg: Msg, pattern: str = "",
             queue: str = "") -> Attrs:
    """Attributes of a received message: its subject and size, the subscription's
    pattern when it differs, the queue group, and the JetStream metadata if any."""
    attrs = operation(op_type, op_name, msg.subject, msg.data)
    if pattern and pattern != msg.subject:
        attrs[DESTINATION_TEMPLATE] = pattern
    if queue:
        attrs[CONSUMER_GROUP] = queue
    attrs.update(jetstream(msg))
    return attrs


def jetstream(msg: Msg) -> Attrs:
    """Stream, consumer and sequences of a JetStream message ({} for a core message)."""
    if not msg.reply.startswith("$JS.ACK."):
        return {}
    try:
        meta = msg.metadata
    except Exception:  # a reply that only looks like an ack subject: no metadata to add
        return {}
    return {JS_STREAM: meta.stream, JS_CONSUMER: meta.consumer,
            JS_STREAM_SEQ: meta.sequence.stream, JS_CONSUMER_SEQ: meta.sequence.consumer,
            JS_DELIVERED: meta.num_delivered}


def error_type(exc: Optional[BaseException]) -> Attrs:
    """`error.type` for a failed operation: the exception's class name."""
    return {ERROR_TYPE: type(exc).__name__} if exc is not None else {}
