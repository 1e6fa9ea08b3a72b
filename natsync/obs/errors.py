"""Object Store errors, named after nats-py's and nats.go's (ADR-20).

All derive from `natsync.js.errors.Error`; the "not found" ones from
`natsync.js.errors.NotFoundError` (so `except NotFoundError` catches them), and the
ones about a bad argument also from `ValueError`.
"""

from __future__ import annotations

from typing import Optional

from ..js import errors as _js
from ..js.errors import BucketUpdateError, Error, NotFoundError

__all__ = [
    "BadObjectMetaError",
    "BucketNotFoundError",
    "BucketUpdateError",
    "DigestMismatchError",
    "InvalidBucketNameError",
    "InvalidObjectNameError",
    "LinkIsABucketError",
    "LinkNotAllowedError",
    "NoLinkToDeletedError",
    "NoLinkToLinkError",
    "ObjectAlreadyExists",
    "ObjectAlreadyExistsError",
    "ObjectDeletedError",
    "ObjectNotFoundError",
    "ObjectStoreError",
]


class ObjectStoreError(Error):
    """Base class of the client-side Object Store errors."""

    default_message = "nats: object store error"

    def __init__(self, message: Optional[str] = None) -> None:
        super().__init__(message or self.default_message)


class BucketNotFoundError(_js.BucketNotFoundError):
    """No object store bucket of that name (its stream `OBJ_<bucket>` does not exist)."""

    default_description = "bucket not found"


class ObjectNotFoundError(NotFoundError):
    """No object of that name in the bucket (or only a deleted one)."""

    default_description = "object not found"


class ObjectDeletedError(NotFoundError):
    """The object was deleted: its meta can no longer be updated."""

    default_description = "cannot update meta for a deleted object"


class InvalidBucketNameError(ObjectStoreError, _js.InvalidBucketNameError):
    """A bucket name must be 1 or more of A-Z, a-z, 0-9, '-' and '_' (ADR-20)."""

    default_message = "nats: invalid bucket name"


class InvalidObjectNameError(ObjectStoreError, ValueError):
    """An object name must be a non-empty str that UTF-8 can encode."""

    default_message = "nats: invalid object name"


class BadObjectMetaError(ObjectStoreError):
    """The stored meta information of an object is not valid ADR-20 JSON."""

    default_message = "nats: object-store meta information invalid"


class DigestMismatchError(ObjectStoreError):
    """The data received does not match the object's SHA-256 digest (or size)."""

    default_message = "nats: received a corrupt object, digests do not match"


class LinkIsABucketError(ObjectStoreError):
    """`get` of a link to a whole bucket: there is no single object to return."""

    default_message = "nats: invalid get, object is a link to a bucket"


class LinkNotAllowedError(ObjectStoreError, ValueError):
    """`put` with a link in the meta options: use `add_link`/`add_bucket_link`."""

    default_message = "nats: link cannot be set when putting the object in bucket"


class NoLinkToLinkError(ObjectStoreError, ValueError):
    """A link must point at a regular object, not at another link."""

    default_message = "nats: not allowed to link to another link"


class NoLinkToDeletedError(ObjectStoreError, ValueError):
    """A link must not point at a deleted object."""

    default_message = "nats: not allowed to link to a deleted object"


class ObjectAlreadyExistsError(ObjectStoreError):
    """A regular object of that name exists (rename target, or name of a new link)."""

    default_message = "nats: an object already exists with that name"


#: nats-py's name for ObjectAlreadyExistsError.
ObjectAlreadyExists = ObjectAlreadyExistsError
