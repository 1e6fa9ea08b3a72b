"""A received message."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from .errors import NoReplySubjectError
from .headers import Headers, HeadersLike

if TYPE_CHECKING:
    from .client import Client

_REPR_DATA = 64


class Msg:
    """A message: `subject`, `reply`, `data` (bytes) and `headers` (Headers or None)."""

    __slots__ = ("subject", "reply", "data", "headers", "_client", "_ackd")

    def __init__(self, client: Optional[Client], subject: str, reply: str, data: bytes,
                 headers: Optional[Headers]) -> None:
        self._client = client
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
    def size(self) -> int:
        """Payload size in bytes."""
        return len(self.data)

    def respond(self, data: bytes = b"", headers: Optional[HeadersLike] = None) -> None:
        """Publish `data` to this message's reply subject."""
        if not self.reply:
            raise NoReplySubjectError()
        if self._client is None:
            raise NoReplySubjectError("nats: message is not bound to a client")
        self._client.publish(self.reply, data, headers=headers)

    def __repr__(self) -> str:
        data = self.data if len(self.data) <= _REPR_DATA else self.data[:_REPR_DATA] + b"..."
        parts = [f"subject={self.subject!r}"]
        if self.reply:
            parts.append(f"reply={self.reply!r}")
        parts.append(f"data={data!r}")
        if self.headers is not None:
            parts.append(f"headers={self.headers!r}")
        return f"<Msg {' '.join(parts)}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Msg):
            return NotImplemented
        return (self.subject, self.reply, self.data, self.headers) == (
            other.subject, other.reply, other.data, other.headers)

    __hash__ = None  # type: ignore[assignment]
