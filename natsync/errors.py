"""Exceptions raised by natsync, named after nats-py's so ported code keeps working."""

from __future__ import annotations

import builtins


class Error(Exception):
    """Base class of every natsync error."""


class TimeoutError(Error, builtins.TimeoutError):  # noqa: A001 - nats-py's name
    """An operation did not finish within its timeout."""

    def __init__(self, message: str = "nats: timeout") -> None:
        super().__init__(message)


class FlushTimeoutError(TimeoutError):
    """`flush()` did not get the server's PONG in time."""

    def __init__(self, message: str = "nats: flush timeout") -> None:
        super().__init__(message)


class DrainTimeoutError(TimeoutError):
    """`drain()` did not finish within `drain_timeout`."""

    def __init__(self, message: str = "nats: draining connection timed out") -> None:
        super().__init__(message)


class NoRespondersError(Error):
    """A request reached no subscriber (the server answered with status 503)."""

    def __init__(self, subject: str = "") -> None:
        self.subject = subject
        super().__init__(f"nats: no responders available for request on {subject!r}"
                         if subject else "nats: no responders available for request")


class ConnectionClosedError(Error):
    """The client is closed; it cannot be used any more."""

    def __init__(self, message: str = "nats: connection closed") -> None:
        super().__init__(message)


class ConnectionDrainingError(Error):
    """The client is draining and accepts no new subscriptions or requests."""

    def __init__(self, message: str = "nats: connection draining") -> None:
        super().__init__(message)


class ConnectionReconnectingError(Error):
    """The operation is not possible while the client is reconnecting."""


class NoServersError(Error):
    """No server in the pool could be reached."""

    def __init__(self, message: str = "nats: no servers available for connection") -> None:
        super().__init__(message)


class StaleConnectionError(Error):
    """The server stopped answering PINGs."""

    def __init__(self, message: str = "nats: stale connection") -> None:
        super().__init__(message)


class OutboundBufferLimitError(Error):
    """The reconnect buffer (`pending_size`) is full."""

    def __init__(self, message: str = "nats: outbound buffer limit exceeded") -> None:
        super().__init__(message)


class ProtocolError(Error):
    """The peer sent bytes that are not valid NATS protocol."""


class UnexpectedEOF(Error):
    """The server closed the connection."""

    def __init__(self, message: str = "nats: unexpected EOF") -> None:
        super().__init__(message)


class ServerError(Error):
    """The server sent `-ERR`; `message` holds its text."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(f"nats: server error: {message}")


class AuthorizationError(ServerError):
    """The server refused the credentials (or their absence)."""

    def __init__(self, message: str = "Authorization Violation") -> None:
        super().__init__(message)


class PermissionsError(ServerError):
    """The server refused a publish or subscribe on `subject`."""

    def __init__(self, message: str, operation: str = "", subject: str = "") -> None:
        self.operation = operation
        self.subject = subject
        super().__init__(message)


class MaxConnectionsError(ServerError):
    """The server has reached its connection limit."""


class SlowConsumerError(Error):
    """A subscription's pending limits were exceeded; new messages were dropped."""

    def __init__(self, subject: str = "", sid: int = 0, dropped: int = 0) -> None:
        self.subject = subject
        self.sid = sid
        self.dropped = dropped
        super().__init__(f"nats: slow consumer, messages dropped on subject {subject!r} (sid {sid})")


class BadSubjectError(Error, ValueError):
    """A subject (or queue group) is not valid."""


class BadHeaderError(Error, ValueError):
    """A header name or value is not valid."""


class MaxPayloadError(Error, ValueError):
    """The message is larger than the server's `max_payload`."""


class BadArgumentError(Error, ValueError):
    """An argument is not valid for the call (or not in combination with another)."""


class BadTimeoutError(Error, ValueError):
    """A timeout argument is not a positive number."""


class InvalidCallbackError(Error, TypeError):
    """A callback is not callable."""


class BadSubscriptionError(Error):
    """The subscription is no longer valid (unsubscribed or closed)."""

    def __init__(self, message: str = "nats: invalid subscription") -> None:
        super().__init__(message)


class SecureConnRequiredError(Error):
    """The server requires TLS but the client was not configured for it."""


class SecureConnWantedError(Error):
    """The client asked for TLS but the server does not offer it."""


class SecureConnFailedError(Error):
    """The TLS handshake failed."""


class ForkError(Error):
    """The client was created in another process; connections do not survive fork()."""


class NoReplySubjectError(Error):
    """`respond()` was called on a message that has no reply subject."""

    def __init__(self, message: str = "nats: no reply subject to respond to") -> None:
        super().__init__(message)


class NotJSMessageError(Error):
    """A JetStream operation was used on a message that JetStream did not deliver."""

    def __init__(self, message: str = "nats: not a JetStream message") -> None:
        super().__init__(message)


class MsgAlreadyAckdError(Error):
    """The JetStream message was already acknowledged."""

    def __init__(self, message: str = "nats: message was already acknowledged") -> None:
        super().__init__(message)


class AuthenticationError(Error):
    """Credentials could not be loaded or used to sign the server's nonce."""


def server_error(message: str) -> ServerError:
    """Map the text of a server `-ERR` to the most specific error class."""
    low = message.lower()
    if "authorization violation" in low or "authentication" in low or "user authentication" in low:
        return AuthorizationError(message)
    if "permissions violation" in low:
        operation, subject = _permission_parts(message)
        return PermissionsError(message, operation, subject)
    if "maximum connections exceeded" in low:
        return MaxConnectionsError(message)
    return ServerError(message)


def _permission_parts(message: str) -> tuple[str, str]:
    """Split "Permissions Violation for Subscription to "x"" into (operation, subject)."""
    words = message.split()
    operation = ""
    subject = ""
    if "for" in words:
        idx = words.index("for")
        if idx + 1 < len(words):
            operation = words[idx + 1].lower()
    if "to" in words:
        idx = words.index("to")
        if idx + 1 < len(words):
            subject = words[idx + 1].strip('"\'')
    return operation, subject


class WebSocketError(ProtocolError):
    """A ws:// or wss:// server refused the websocket upgrade or broke RFC 6455 framing."""


class ProxyError(Error):
    """The HTTP proxy (`proxy=` option) could not be reached or refused the tunnel."""
