"""A received message."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Callable, NamedTuple, Optional

from .errors import MsgAlreadyAckdError, NoReplySubjectError, NotJSMessageError
from .headers import Headers, HeadersLike
from .reprs import clip, table

if TYPE_CHECKING:
    from .client import Client
    from .js.metadata import Metadata

_ACK = b"+ACK"
_NAK = b"-NAK"
_WPI = b"+WPI"
_TERM = b"+TERM"

#: ADR-43: the header of a delete marker JetStream placed, naming why.
MARKER_REASON_HEADER = "Nats-Marker-Reason"


class MsgContext(NamedTuple):
    """What a received message acts through: its client (acks are plain publishes and
    requests) and the fast path for replies (written inline when nobody else writes)."""

    client: Client
    respond: Callable[[str, bytes, Optional[HeadersLike]], None]


class Msg:
    """A message: `subject`, `reply`, `data` (bytes) and `headers` (Headers or None)."""

    __slots__ = ("subject", "reply", "data", "headers", "_ctx", "_ackd")

    def __init__(self, ctx: Optional[MsgContext], subject: str, reply: str, data: bytes,
                 headers: Optional[Headers]) -> None:
        self._ctx = ctx
        self.subject = subject
        self.reply = reply
        self.data = data
        self.headers = headers
        self._ackd = False

    @property
    def header(self) -> Optional[Headers]:
        """nats-py's name for `headers`."""
        return self.headers

    @property
    def status(self) -> Optional[int]:
        """The status code of a status message (503 no responders, 408, 100 heartbeat...)."""
        return self.headers.status if self.headers is not None else None

    @property
    def marker_reason(self) -> Optional[str]:
        """Why JetStream placed this delete marker (ADR-43: MaxAge, Remove, Purge), else None."""
        return self.headers.get(MARKER_REASON_HEADER) if self.headers is not None else None

    @property
    def size(self) -> int:
        """Payload size in bytes."""
        return len(self.data)

    def respond(self, data: bytes = b"", headers: Optional[HeadersLike] = None) -> None:
        """Publish `data` to this message's reply subject."""
        if not self.reply:
            raise NoReplySubjectError()
        if self._ctx is None:
            raise NoReplySubjectError("nats: message is not bound to a client")
        self._ctx.respond(self.reply, data, headers)

    # --- JetStream acknowledgements (ADR-15) ---------------------------------------------

    @property
    def metadata(self) -> Metadata:
        """Stream/consumer sequences, delivery count, pending and timestamp (JetStream only)."""
        from .js.metadata import parse_metadata

        return parse_metadata(self.reply)

    def _ack_reply(self, final: bool) -> tuple[Client, str]:
        if not self.reply.startswith("$JS.ACK.") or self._ctx is None:
            raise NotJSMessageError()
        if self._ackd:
            raise MsgAlreadyAckdError()
        if final:
            self._ackd = True
        return self._ctx.client, self.reply

    def ack(self) -> None:
        """Acknowledge the message (fire and forget)."""
        client, reply = self._ack_reply(True)
        client.publish(reply, _ACK)

    def ack_sync(self, timeout: float = 1.0) -> None:
        """Acknowledge and wait for the server to confirm it (double-acks raise MsgAlreadyAckdError)."""
        client, reply = self._ack_reply(True)
        try:
            client.request(reply, _ACK, timeout=timeout)
        except BaseException:
            self._ackd = False
            raise

    def nak(self, delay: Optional[float] = None) -> None:
        """Ask for redelivery, after `delay` seconds if given."""
        client, reply = self._ack_reply(True)
        if delay is None:
            client.publish(reply, _NAK)
        else:
            client.publish(reply, _NAK + b" " + json.dumps({"delay": int(delay * 1e9)}).encode())

    def in_progress(self) -> None:
        """Tell the server the message is still being worked on (resets its ack wait)."""
        client, reply = self._ack_reply(False)
        client.publish(reply, _WPI)

    def term(self, reason: Optional[str] = None) -> None:
        """Stop redelivery of this message, optionally saying why."""
        client, reply = self._ack_reply(True)
        client.publish(reply, _TERM + (b" " + reason.encode() if reason else b""))

    @property
    def is_acked(self) -> bool:
        """True once ack/nak/term was sent for this message."""
        return self._ackd

    def __repr__(self) -> str:
        parts = [f"subject={self.subject!r}"]
        if self.reply:
            parts.append(f"reply={self.reply!r}")
        parts.append(f"data={clip(self.data)!r}")
        if self.headers is not None:
            parts.append(f"headers={self.headers!r}")
        return f"<Msg {' '.join(parts)}>"

    def _repr_html_(self) -> str:
        """The message as a table in notebooks (every user value HTML-escaped)."""
        rows: list[tuple[str, object]] = [("subject", self.subject)]
        if self.reply:
            rows.append(("reply", self.reply))
        if self.headers is not None:
            if self.headers.status is not None:
                rows.append(("status", f"{self.headers.status} {self.headers.description}"))
            rows.append(("headers", {k: ", ".join(self.headers.get_all(k)) for k in self.headers}))
        rows += [("size", len(self.data)), ("data", self.data)]
        return table(rows, "Msg")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Msg):
            return NotImplemented
        return (self.subject, self.reply, self.data, self.headers) == (
            other.subject, other.reply, other.data, other.headers)

    __hash__ = None  # type: ignore[assignment]


def no_responders(msg: Msg) -> bool:
    """Whether a reply is the server's 503 status: nobody is subscribed to the subject."""
    return msg.headers is not None and msg.headers.status == 503 and not msg.data


def empty_reply(msg: Msg) -> bool:
    """request_many's default sentinel: a reply with an empty payload and no headers."""
    return not msg.data and msg.headers is None
