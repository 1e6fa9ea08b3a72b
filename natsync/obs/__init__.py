"""JetStream Object Store (ADR-20): large objects in chunks, interoperable with nats.go and nats-py."""

from . import errors
from .config import ObjectStoreConfig, ObjectStoreStatus
from .errors import (
    BadObjectMetaError,
    BucketNotFoundError,
    BucketUpdateError,
    DigestMismatchError,
    InvalidBucketNameError,
    InvalidObjectNameError,
    LinkIsABucketError,
    LinkNotAllowedError,
    NoLinkToDeletedError,
    NoLinkToLinkError,
    ObjectAlreadyExists,
    ObjectAlreadyExistsError,
    ObjectDeletedError,
    ObjectNotFoundError,
)
from .info import ObjectInfo, ObjectLink, ObjectMeta, ObjectMetaOptions, ObjectResult
from .manager import ObjectStoreManager
from .store import DEFAULT_CHUNK_SIZE, ObjectStore, Progress
from .watcher import ObjectWatcher

__all__ = [
    "DEFAULT_CHUNK_SIZE",
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
    "ObjectInfo",
    "ObjectLink",
    "ObjectMeta",
    "ObjectMetaOptions",
    "ObjectNotFoundError",
    "ObjectResult",
    "ObjectStore",
    "ObjectStoreConfig",
    "ObjectStoreManager",
    "ObjectStoreStatus",
    "ObjectWatcher",
    "Progress",
    "errors",
]
