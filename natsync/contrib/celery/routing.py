"""How kombu's exchanges, routing keys and bindings map onto subjects and consumer filters,
and how a kombu message travels as a NATS message. Pure functions, no server.

A message published to exchange E with routing key `a.b` goes to the subject
`<prefix>.<E>.a.b` (every part through `token()`). A queue is a durable consumer whose
filter subjects are its bindings:

| exchange type | binding key | filter |
|---|---|---|
| direct (and the default exchange `""`, key = queue name) | `a.b` | `<prefix>.<E>.a.b` |
| topic | `a.*.c`, `a.#`, `#` | `<prefix>.<E>.a.*.c`; `<prefix>.<E>.a.>` and `<prefix>.<E>.a`; `<prefix>.<E>.>` |
| fanout | ignored | `<prefix>.<E>.>` |

so the server routes: a message reaches every queue bound to it, once, and is kept
(interest retention) until each of those queues has acknowledged it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Tuple

from ...errors import BadArgumentError
from ..taskqueue import token

if TYPE_CHECKING:
    from ...msg import Msg

#: The NATS header that carries everything of a kombu message except its body.
ENVELOPE_HEADER = "Kombu-Envelope"
#: Exchange types this transport routes (kombu's names).
EXCHANGE_TYPES = ("direct", "topic", "fanout")
#: Properties that belong to one delivery, not to the message: never stored.
_PER_DELIVERY = ("delivery_tag", "delivery_info")

Binding = Tuple[str, str, str]  # (exchange, exchange type, binding key)


def publish_subject(prefix: str, exchange: str, routing_key: str) -> str:
    """The subject a message for `exchange` with `routing_key` is published to."""
    words = routing_key.split(".")
    return ".".join([prefix, token(exchange), *(token(w) for w in words)])


def binding_filters(prefix: str, exchange: str, kind: str, key: str) -> List[str]:
    """The consumer filter subjects that make a queue receive what `exchange` (of type
    `kind`) routes with binding key `key`, as AMQP defines it."""
    base = f"{prefix}.{token(exchange)}"
    if kind == "fanout":
        return [f"{base}.>"]
    if kind == "direct":
        return [publish_subject(prefix, exchange, key)]
    if kind != "topic":
        raise BadArgumentError(f"exchange {exchange!r} has type {kind!r}: the JetStream "
                               f"transport routes {', '.join(EXCHANGE_TYPES)} exchanges")
    words = key.split(".")
    if "#" in words[:-1]:
        raise BadArgumentError(f"binding key {key!r} on topic exchange {exchange!r}: '#' is "
                               "supported only as the last word (NATS has no wildcard for "
                               "'zero or more words' in the middle of a subject)")
    toks = ["*" if w == "*" else token(w) for w in words]
    if words[-1] != "#":
        return [".".join([base, *toks])]
    head = ".".join([base, *toks[:-1]])
    # '#' matches zero words too: the key without its '#' (unless that is the bare exchange).
    return [f"{head}.>"] + ([head] if len(words) > 1 else [])


def filters_for(prefix: str, bindings: Iterable[Binding]) -> List[str]:
    """Every binding's filter subjects, each once, in order."""
    seen: Dict[str, None] = {}
    for exchange, kind, key in bindings:
        for subject in binding_filters(prefix, exchange, kind, key):
            seen.setdefault(subject, None)
    return list(seen)


def default_binding(queue: str) -> Binding:
    """The binding every queue has: the default exchange `""` with the queue's name."""
    return ("", "direct", queue)


def encode_message(message: Dict[str, Any]) -> Tuple[bytes, Dict[str, str]]:
    """A kombu message dict as (payload, headers): the body as the payload, as is; the
    rest (content type and encoding, headers, properties) as JSON in one header."""
    from kombu.utils.json import dumps

    body = message.get("body")
    if isinstance(body, str):
        payload = body.encode("utf-8")
        text = True
    else:
        payload, text = (body or b""), False
    props = {k: v for k, v in (message.get("properties") or {}).items()
             if k not in _PER_DELIVERY}
    info = (message.get("properties") or {}).get("delivery_info") or {}
    envelope = {"ct": message.get("content-type"), "ce": message.get("content-encoding"),
                "h": message.get("headers") or {}, "p": props, "t": text,
                "x": info.get("exchange", ""), "rk": info.get("routing_key", "")}
    return payload, {ENVELOPE_HEADER: dumps(envelope)}


def decode_message(msg: Msg, delivery_tag: Any, redelivered: bool) -> Dict[str, Any]:
    """The kombu message dict of a delivered NATS message, with this delivery's tag."""
    from kombu.utils.json import loads

    raw: Optional[str] = msg.headers.get(ENVELOPE_HEADER) if msg.headers else None
    if raw is None:
        raise BadArgumentError(f"message on {msg.subject!r} has no {ENVELOPE_HEADER} header: "
                               "it was not published through the kombu transport")
    env = loads(raw)
    props = dict(env.get("p") or {})
    props["delivery_tag"] = delivery_tag
    props["delivery_info"] = {"exchange": env.get("x", ""), "routing_key": env.get("rk", ""),
                              "redelivered": redelivered}
    body: Any = msg.data.decode("utf-8") if env.get("t") else msg.data
    return {"body": body, "content-type": env.get("ct"), "content-encoding": env.get("ce"),
            "headers": env.get("h") or {}, "properties": props, "redelivered": redelivered}
