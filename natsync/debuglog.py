"""Protocol tracing for `connect(debug=True)`: every line sent and received, on `natsync.protocol`.

Payloads are shortened and credentials in CONNECT (pass, auth_token, sig, jwt, and any
seed) are replaced by "***", so a trace can be shared.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Iterable

from .protocol import ERR, INFO, MSG, OK, PING, PONG, Event, outbound_frames

log = logging.getLogger("natsync.protocol")

PAYLOAD_PREVIEW = 32
SECRET_FIELDS = frozenset({"pass", "auth_token", "sig", "jwt", "nkey_seed", "seed"})


def short(payload: bytes) -> str:
    """A payload as a readable preview: at most PAYLOAD_PREVIEW bytes, then its size."""
    if len(payload) <= PAYLOAD_PREVIEW:
        return repr(payload)
    return f"{payload[:PAYLOAD_PREVIEW]!r}... ({len(payload)} bytes)"


def redact_connect(fields: dict[str, Any]) -> dict[str, Any]:
    """CONNECT fields with every credential masked."""
    return {k: ("***" if k in SECRET_FIELDS and v else v) for k, v in fields.items()}


def describe_outbound(data: bytes) -> list[str]:
    """One line per client frame in `data`, payloads shortened, CONNECT redacted."""
    lines = []
    for op, start, end in outbound_frames(data):
        frame = data[start:min(end, len(data))]
        head, _, body = frame.partition(b"\r\n")
        if op == b"CONNECT":
            try:
                fields = json.loads(head[len(b"CONNECT "):])
                lines.append("CONNECT " + json.dumps(redact_connect(fields), separators=(",", ":")))
            except ValueError:
                lines.append("CONNECT <unparsable>")
        elif op in (b"PUB", b"HPUB"):
            lines.append(f"{head.decode(errors='replace')} {short(body[:-2])}")
        else:
            lines.append(head.decode(errors="replace"))
    return lines


def describe_event(ev: Event) -> str:
    """One line for a received event."""
    op = ev[0]
    if op == MSG:
        _, sid, subject, reply, payload, headers = ev
        kind = "HMSG" if headers is not None else "MSG"
        status = f" status={headers.status}" if headers is not None and headers.status else ""
        return f"{kind} {subject} {sid} {reply or '-'}{status} {short(payload)}"
    if op == INFO:
        return "INFO " + json.dumps(ev[1], separators=(",", ":"))
    if op == ERR:
        return f"-ERR '{ev[1]}'"
    return {PING: "PING", PONG: "PONG", OK: "+OK"}.get(op, repr(ev))


def trace_sent(data: bytes) -> None:
    """Log what one write sends."""
    if log.isEnabledFor(logging.DEBUG):
        for line in describe_outbound(data):
            log.debug(">>> %s", line)


def trace_received(events: Iterable[Event]) -> None:
    """Log what one read received."""
    if log.isEnabledFor(logging.DEBUG):
        for ev in events:
            log.debug("<<< %s", describe_event(ev))
