"""The request a handler receives, with ways to answer it or to answer with an error."""

from __future__ import annotations

from typing import Optional, Union

from ..headers import Headers, HeadersLike
from ..msg import Msg
from .errors import ConfigError
from .stats import RequestRecord

ERROR_HEADER = "Nats-Service-Error"
ERROR_CODE_HEADER = "Nats-Service-Error-Code"


class Request:
    """A request to an endpoint: read `data`/`headers`, answer with `respond()` or `respond_error()`."""

    __slots__ = ("msg", "_responded", "_record")

    def __init__(self, msg: Msg, record: Optional[RequestRecord] = None) -> None:
        self.msg = msg
        self._responded = False
        # Its account with the endpoint's statistics, counted just before the reply is
        # written so a caller holding the reply always finds its request counted.
        self._record = record

    def _count(self) -> None:
        if self._record is not None:
            self._record.count()

    def _fail(self, error: str) -> None:
        """Note this request's error ("code:description") for the endpoint's statistics."""
        if self._record is not None:
            self._record.error = error

    @property
    def data(self) -> bytes:
        """The request payload."""
        return self.msg.data

    @property
    def headers(self) -> Optional[Headers]:
        """The request headers, or None when it had none."""
        return self.msg.headers

    @property
    def subject(self) -> str:
        """The subject the request was sent to (useful with wildcard endpoints)."""
        return self.msg.subject

    @property
    def reply(self) -> str:
        """Where the answer goes (empty for a plain publish, which cannot be answered)."""
        return self.msg.reply

    @property
    def responded(self) -> bool:
        """True once `respond()` or `respond_error()` has sent an answer."""
        return self._responded

    def respond(self, data: bytes = b"", headers: Optional[HeadersLike] = None) -> None:
        """Send `data` (and `headers`) to the requester.

        A failure to send (no reply subject, closed connection...) is raised and also
        counted as this request's error, as nats.go does.
        """
        self._send(data, headers)

    def _send(self, data: bytes, headers: Optional[HeadersLike]) -> None:
        """Count the request, mark it answered, then write the reply (in that order, so
        whoever holds the reply finds both already true)."""
        self._count()
        self._responded = True
        try:
            self.msg.respond(data, headers=headers)
        except Exception as exc:
            self._responded = False
            self._fail(f"failed to respond to request: {exc}")
            self._count()
            raise

    def respond_error(self, code: Union[int, str], description: str, data: bytes = b"",
                      headers: Optional[HeadersLike] = None) -> None:
        """Answer with a service error: `Nats-Service-Error-Code: code` and
        `Nats-Service-Error: description` headers (plus `headers`), payload `data`.

        The request counts as an error of the endpoint, `last_error` becoming
        "code:description".
        """
        code = str(code)
        if not code:
            raise ConfigError("respond_error() needs a non-empty code")
        if not description:
            raise ConfigError("respond_error() needs a non-empty description")
        h = Headers(headers)
        h[ERROR_HEADER] = description
        h[ERROR_CODE_HEADER] = code
        self._fail(f"{code}:{description}")
        self._send(data, h)

    def __repr__(self) -> str:
        return f"<Request subject={self.subject!r} reply={self.reply!r} size={len(self.data)}>"
