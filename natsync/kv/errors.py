"""Key-Value errors, named after nats-py's (`nats.js.errors`) and nats.go's (ADR-8).

All derive from `natsync.js.errors.Error`. The ones a server answer stands behind
are APIErrors: the "not found" ones derive from `NotFoundError` (KeyDeletedError
from KeyNotFoundError, so `except KeyNotFoundError` catches both, as nats-py's
`get` does), KeyWrongLastSequenceError from `WrongLastSequenceError` (err_code
10071). The ones about a bad argument are also `ValueError`s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from ..js import errors as _js
from ..js.errors import BucketUpdateError, Error, NotFoundError, WrongLastSequenceError

if TYPE_CHECKING:
    from .entry import Entry

__all__ = [
    "BadBucketError",
    "BucketNotFoundError",
    "BucketUpdateError",
    "InvalidBucketNameError",
    "InvalidKeyError",
    "KeyDeletedError",
    "KeyHistoryTooLargeError",
    "KeyNotFoundError",
    "KeyValueCodecError",
    "KeyValueError",
    "KeyValueLimitMarkerTTLNotSupportedError",
    "KeyWrongLastSequenceError",
    "MirrorPurgeError",
    "NoKeysError",
]


class KeyValueError(Error):
    """Base class of the client-side Key-Value errors."""

    default_message = "nats: key-value error"

    def __init__(self, message: Optional[str] = None) -> None:
        super().__init__(message or self.default_message)


class BucketNotFoundError(_js.BucketNotFoundError):
    """No bucket of that name: its stream `KV_<bucket>` does not exist."""

    default_description = "bucket not found"


class BadBucketError(KeyValueError):
    """The stream `KV_<bucket>` exists but is not a Key-Value bucket (max_msgs_per_subject < 1)."""

    default_message = "nats: stream is not a valid key-value bucket"


class KeyNotFoundError(NotFoundError):
    """The key has no value: never written, or its revision is gone or is another key's.

    `entry` and `op` are set on the KeyDeletedError subclass (nats-py's attributes).
    """

    default_description = "key not found"

    def __init__(self, entry: Optional[Entry] = None, op: Optional[str] = None,
                 message: Optional[str] = None, **kwargs: Any) -> None:
        self.entry = entry
        self.op = op
        if message is not None:
            kwargs.setdefault("description", message)
        super().__init__(**kwargs)

    def __reduce__(self) -> Any:
        return (type(self), (self.entry, self.op, self.description),
                {"code": self.code, "err_code": self.err_code, "what": self.what})


class KeyDeletedError(KeyNotFoundError):
    """The key's latest revision is a delete or purge marker (`entry` is that marker)."""

    default_description = "key was deleted"

    def __init__(self, entry: Optional[Entry] = None, op: Optional[str] = None,
                 message: Optional[str] = None, **kwargs: Any) -> None:
        if message is None and "description" not in kwargs and entry is not None:
            message = (f"key {entry.key!r} was {'purged' if op == 'PURGE' else 'deleted'} "
                       f"at revision {entry.revision}")
        super().__init__(entry, op, message, **kwargs)


class KeyWrongLastSequenceError(WrongLastSequenceError):
    """`update`/`create`/`delete(last=)` lost a race: the key's latest revision is another one."""

    default_description = "wrong last sequence"


class InvalidKeyError(KeyValueError, ValueError):
    """A key is 1+ tokens of A-Z a-z 0-9 - / _ = joined by '.' (watch filters may use * and >)."""

    default_message = "nats: invalid key"


class InvalidBucketNameError(KeyValueError, _js.InvalidBucketNameError):
    """A bucket name is 1 or more of A-Z, a-z, 0-9, '-' and '_' (ADR-8)."""

    default_message = "nats: invalid bucket name"


class KeyHistoryTooLargeError(KeyValueError, ValueError):
    """A bucket keeps at most 64 revisions per key."""

    default_message = "nats: history limited to a max of 64"


class KeyValueCodecError(KeyValueError, ValueError):
    """A key or value read from the bucket cannot be decoded by the handle's codec (ADR-54)."""

    default_message = "nats: key-value codec cannot decode"


class KeyValueLimitMarkerTTLNotSupportedError(KeyValueError):
    """`limit_marker_ttl` (and per-key TTLs) need nats-server 2.11 or later (ADR-48)."""

    default_message = "nats: limit marker TTLs not supported by server"


class MirrorPurgeError(KeyValueError):
    """`purge_deletes` of a mirror: it would purge the mirror's copy only (run it on the origin)."""

    default_message = "nats: purge_deletes must run on the origin bucket, not on a mirror"


class NoKeysError(KeyValueError):
    """nats-py raises it for an empty bucket; natsync's `keys()` returns [] (never raised)."""

    default_message = "nats: no keys found"
