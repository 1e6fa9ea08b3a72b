"""JetStream errors, named after nats-py's (`nats.js.errors`).

`APIError.from_error(resp["error"])` turns the server's JSON error object
(`{"code": 404, "err_code": 10059, "description": "stream not found"}`) into the
most specific class: first by `err_code` (StreamNotFoundError, ...), then by the
HTTP-like `code` (BadRequestError, NotFoundError, ServerError,
ServiceUnavailableError), else APIError itself.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from .. import errors as _core
from ..errors import MsgAlreadyAckdError, NotJSMessageError

__all__ = [
    "APIError",
    "BadPullRequestError",
    "BadRequestError",
    "ConsumerAlreadyExistsError",
    "ConsumerDeletedError",
    "ConsumerDoesNotExistError",
    "ConsumerNameExistsError",
    "ConsumerNotFoundError",
    "DirectGetNotAllowedError",
    "Error",
    "HeartbeatMissedError",
    "JetStreamNotEnabledError",
    "JetStreamNotEnabledForAccountError",
    "MaxConsumersLimitError",
    "MaxStreamsLimitError",
    "MsgAlreadyAckdError",
    "MsgNotFoundError",
    "NoStreamResponseError",
    "NotFoundError",
    "NotJSMessageError",
    "ServerError",
    "ServiceUnavailableError",
    "StatusError",
    "StreamNameInUseError",
    "StreamNotFoundError",
    "StreamNotMatchError",
    "StreamSubjectOverlapError",
    "WrongLastMsgIDError",
    "WrongLastSequenceError",
    "raise_for_error",
]


class Error(_core.Error):
    """Base class of the JetStream errors."""


class APIError(Error):
    """The JetStream API answered with an error.

    `code` is HTTP-like (400, 404, 500, 503), `err_code` the server's own number
    (10059 stream not found, ...), `description` its text. `what` optionally
    names the object of the request ("stream 'ORDERS'"). `stream`/`seq` come
    with publish errors, as in nats-py.
    """

    #: Defaults of a subclass made for one err_code (used when not given).
    default_code: Optional[int] = None
    default_err_code: Optional[int] = None
    default_description: str = ""

    def __init__(self, code: Optional[int] = None, description: Optional[str] = None,
                 err_code: Optional[int] = None, stream: Optional[str] = None,
                 seq: Optional[int] = None, what: str = "") -> None:
        self.code = code if code is not None else self.default_code
        self.err_code = err_code if err_code is not None else self.default_err_code
        self.description = description if description is not None else self.default_description
        self.stream = stream
        self.seq = seq
        self.what = what
        super().__init__(self._text())

    def _text(self) -> str:
        text = f"nats: {self.description or 'JetStream API error'}"
        if self.what:
            text += f": {self.what}"
        details = []
        if self.code is not None:
            details.append(f"code {self.code}")
        if self.err_code is not None:
            details.append(f"err_code {self.err_code}")
        if details:
            text += f" ({', '.join(details)})"
        return text

    def __str__(self) -> str:
        return self._text()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(code={self.code!r}, err_code={self.err_code!r}, "
                f"description={self.description!r})")

    def __reduce__(self) -> Any:
        return (type(self), (self.code, self.description, self.err_code, self.stream,
                             self.seq, self.what))

    @classmethod
    def from_error(cls, err: Mapping[str, Any], what: str = "") -> APIError:
        """The most specific APIError for the server's JSON error object."""
        code = _int_or_none(err.get("code"))
        err_code = _int_or_none(err.get("err_code"))
        description = err.get("description")
        klass: type[APIError] = APIError
        if err_code is not None and err_code in _BY_ERR_CODE:
            klass = _BY_ERR_CODE[err_code]
        elif code is not None and code in _BY_CODE:
            klass = _BY_CODE[code]
        return klass(code=code, err_code=err_code,
                     description=str(description) if description is not None else None,
                     what=what)


def _int_or_none(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def raise_for_error(resp: Mapping[str, Any], what: str = "") -> None:
    """Raise the APIError that an API response carries in "error", if any."""
    err = resp.get("error")
    if err:
        if isinstance(err, Mapping):
            raise APIError.from_error(err, what)
        raise APIError(description=str(err), what=what)


# --- by HTTP-like code ----------------------------------------------------------------------


class BadRequestError(APIError):
    """Code 400: the request was refused."""

    default_code = 400


class NotFoundError(APIError):
    """Code 404: the stream, consumer or message does not exist."""

    default_code = 404


class BucketNotFoundError(NotFoundError):
    """No Key-Value or Object Store bucket of that name (the stores' own classes derive
    from this one, so one `except` catches both)."""

    default_description = "bucket not found"


class BucketUpdateError(Error, _core.BadArgumentError):
    """An update asks a bucket to change what cannot change (its storage, a mirror, ...).

    Raised before anything is sent; `setting` names the setting (e.g. "storage"). The
    Key-Value and Object Store packages export it under the same name.
    """

    def __init__(self, message: str, setting: Optional[str] = None) -> None:
        self.setting = setting
        super().__init__(message)

    def __reduce__(self) -> Any:
        return (type(self), (str(self), self.setting))


class InvalidBucketNameError(Error, ValueError):
    """A Key-Value or Object Store bucket name is not 1 or more of A-Z a-z 0-9 - _."""


class ServerError(APIError):
    """Code 500: the server failed to carry out the request.

    Not natsync.errors.ServerError (a protocol -ERR); this is a JetStream API error.
    """

    default_code = 500


class ServiceUnavailableError(APIError):
    """Code 503: JetStream is not available (not enabled, no leader, no resources)."""

    default_code = 503


# --- by err_code ----------------------------------------------------------------------------


class StreamNotFoundError(NotFoundError):
    """err_code 10059."""

    default_err_code = 10059
    default_description = "stream not found"


class ConsumerNotFoundError(NotFoundError):
    """err_code 10014."""

    default_err_code = 10014
    default_description = "consumer not found"


class MsgNotFoundError(NotFoundError):
    """err_code 10037: no message with that sequence or subject."""

    default_err_code = 10037
    default_description = "no message found"


class StreamNameInUseError(BadRequestError):
    """err_code 10058: a stream of that name exists with a different configuration."""

    default_err_code = 10058
    default_description = "stream name already in use with a different configuration"


class StreamNotMatchError(BadRequestError):
    """err_code 10060: the Nats-Expected-Stream header named another stream."""

    default_err_code = 10060
    default_description = "expected stream does not match"


class StreamSubjectOverlapError(BadRequestError):
    """err_code 10065: the subjects overlap with those of another stream."""

    default_err_code = 10065
    default_description = "subjects overlap with an existing stream"


class WrongLastMsgIDError(BadRequestError):
    """err_code 10070: Nats-Expected-Last-Msg-Id did not match."""

    default_err_code = 10070
    default_description = "wrong last msg ID"


class WrongLastSequenceError(BadRequestError):
    """err_code 10071: Nats-Expected-Last-Sequence (or -Subject-Sequence) did not match."""

    default_err_code = 10071
    default_description = "wrong last sequence"


class ConsumerNameExistsError(BadRequestError):
    """err_code 10013: a consumer of that name exists."""

    default_err_code = 10013
    default_description = "consumer name already in use"


class ConsumerAlreadyExistsError(BadRequestError):
    """err_code 10148: action "create" for a consumer that exists with another config."""

    default_err_code = 10148
    default_description = "consumer already exists"


class ConsumerDoesNotExistError(BadRequestError):
    """err_code 10149: action "update" for a consumer that does not exist."""

    default_err_code = 10149
    default_description = "consumer does not exist"


class MaxConsumersLimitError(BadRequestError):
    """err_code 10026: the stream or account allows no more consumers."""

    default_err_code = 10026
    default_description = "maximum consumers limit reached"


class MaxStreamsLimitError(BadRequestError):
    """err_code 10027: the account allows no more streams."""

    default_err_code = 10027
    default_description = "maximum number of streams reached"


class JetStreamNotEnabledForAccountError(ServiceUnavailableError):
    """err_code 10039."""

    default_err_code = 10039
    default_description = "JetStream not enabled for account"


class JetStreamNotEnabledError(ServiceUnavailableError):
    """err_code 10076."""

    default_err_code = 10076
    default_description = "JetStream not enabled"


_BY_CODE: dict[int, type[APIError]] = {
    400: BadRequestError,
    404: NotFoundError,
    500: ServerError,
    503: ServiceUnavailableError,
}

_BY_ERR_CODE: dict[int, type[APIError]] = {
    klass.default_err_code: klass
    for klass in (
        StreamNotFoundError, ConsumerNotFoundError, MsgNotFoundError, StreamNameInUseError,
        StreamNotMatchError, StreamSubjectOverlapError, WrongLastMsgIDError,
        WrongLastSequenceError, ConsumerNameExistsError, ConsumerAlreadyExistsError,
        ConsumerDoesNotExistError, MaxConsumersLimitError, MaxStreamsLimitError,
        JetStreamNotEnabledForAccountError, JetStreamNotEnabledError,
    )
    if klass.default_err_code is not None
}


# --- client-side ----------------------------------------------------------------------------


class NoStreamResponseError(Error):
    """No answer from JetStream: the publish or API request timed out or had no responders."""

    def __init__(self, message: str = "nats: no response from stream") -> None:
        super().__init__(message)


class StatusError(Error):
    """A consumer delivered a status message the client did not expect."""

    default_code = 0
    default_description = ""

    def __init__(self, code: Optional[int] = None, description: Optional[str] = None) -> None:
        self.code = code if code is not None else self.default_code
        self.description = description if description is not None else self.default_description
        super().__init__(self._text())

    def _text(self) -> str:
        text = f"nats: unexpected status {self.code}"
        return f"{text}: {self.description}" if self.description else text

    def __str__(self) -> str:
        return self._text()

    def __reduce__(self) -> Any:
        return (type(self), (self.code, self.description))


class ConsumerDeletedError(StatusError):
    """The consumer was deleted while a pull request or subscription was waiting (409)."""

    default_code = 409
    default_description = "Consumer Deleted"

    def _text(self) -> str:
        return f"nats: consumer deleted ({self.code} {self.description})"


class HeartbeatMissedError(Error):
    """A consumer with idle_heartbeat sent neither messages nor heartbeats in time."""

    def __init__(self, message: str = "nats: missed consumer heartbeats") -> None:
        super().__init__(message)


# --- issue 14: pull priority groups, batch direct get ----------------------------------------


class BadPullRequestError(StatusError):
    """The consumer refused a pull request (400), e.g. an unknown priority group."""

    default_code = 400
    default_description = "Bad Request"


class DirectGetNotAllowedError(ServiceUnavailableError):
    """A (batch) direct get on a stream without allow_direct: nothing answers it."""

    default_description = "direct get not available (stream without allow_direct?)"


# --- issue 14, publish half: counters, batches, schedules, API levels -------------------------


class FeatureNotSupportedError(Error):
    """The connected server is too old for a JetStream feature (checked before sending)."""

    def __init__(self, feature: str, needed: str, server: str) -> None:
        self.feature = feature
        self.needed = needed
        self.server = server
        super().__init__(f"nats: {feature} needs nats-server {needed} or newer; "
                         f"the connected server is {server or 'of unknown version'}")

    def __reduce__(self) -> Any:
        return (type(self), (self.feature, self.needed, self.server))


class RequiredApiLevelError(APIError):
    """err_code 10185 (code 412): the server's API level is below Nats-Required-Api-Level."""

    default_code = 412
    default_err_code = 10185
    default_description = "JetStream minimum api level required"


class MessageCountersDisabledError(BadRequestError):
    """err_code 10168: Nats-Incr on a stream without allow_msg_counter."""

    default_err_code = 10168
    default_description = "message counters is disabled"


class AtomicPublishDisabledError(BadRequestError):
    """err_code 10174: an atomic batch on a stream without allow_atomic."""

    default_err_code = 10174
    default_description = "atomic publish is disabled"


class AtomicBatchIncompleteError(BadRequestError):
    """err_code 10176: the atomic batch had a gap or was abandoned."""

    default_err_code = 10176
    default_description = "atomic publish batch is incomplete"


class BatchPublishDisabledError(BadRequestError):
    """err_code 10205: a fast batch on a stream without allow_batched."""

    default_err_code = 10205
    default_description = "batch publish is disabled"


class MessageSchedulesDisabledError(BadRequestError):
    """err_code 10188: a schedule on a stream without allow_msg_schedules."""

    default_err_code = 10188
    default_description = "message schedules is disabled"


class BatchTooLargeError(Error, _core.BadArgumentError):
    """An atomic batch may hold at most 1,000 messages (raised by `add` before sending)."""


class FastBatchGapError(Error):
    """A fast batch in gap="fail" mode lost messages; the server ended the batch there."""

    def __init__(self, last_seq: int, seq: int) -> None:
        self.last_seq = last_seq
        self.seq = seq
        super().__init__(f"nats: fast batch lost messages {last_seq} to {seq - 1}; "
                         "the server ended the batch")

    def __reduce__(self) -> Any:
        return (type(self), (self.last_seq, self.seq))


_BY_ERR_CODE.update({
    klass.default_err_code: klass
    for klass in (
        RequiredApiLevelError, MessageCountersDisabledError, AtomicPublishDisabledError,
        AtomicBatchIncompleteError, BatchPublishDisabledError, MessageSchedulesDisabledError,
    )
    if klass.default_err_code is not None
})
__all__ += [
    "AtomicBatchIncompleteError", "AtomicPublishDisabledError", "BatchPublishDisabledError",
    "BatchTooLargeError", "BucketUpdateError", "FastBatchGapError", "FeatureNotSupportedError",
    "MessageCountersDisabledError", "MessageSchedulesDisabledError", "RequiredApiLevelError",
]
