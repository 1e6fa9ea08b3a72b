"""JetStream Key-Value store (ADR-8, ADR-48), interoperable with nats.go, nats-py and the CLI."""

from . import codecs, errors
from .bucket import KeyValue
from .config import BucketStatus, KeyValueConfig
from .entry import KV_DEL, KV_OP, KV_PURGE, KV_PUT, Entry, Operation
from .errors import (
    BadBucketError,
    BucketNotFoundError,
    BucketUpdateError,
    InvalidBucketNameError,
    InvalidKeyError,
    KeyDeletedError,
    KeyHistoryTooLargeError,
    KeyNotFoundError,
    KeyValueCodecError,
    KeyValueError,
    KeyValueLimitMarkerTTLNotSupportedError,
    KeyWrongLastSequenceError,
    MirrorPurgeError,
    NoKeysError,
)
from .manager import KeyValueManager
from .watcher import KeyWatcher

__all__ = [
    "KV_DEL",
    "KV_OP",
    "KV_PURGE",
    "KV_PUT",
    "BadBucketError",
    "BucketNotFoundError",
    "BucketUpdateError",
    "BucketStatus",
    "Entry",
    "InvalidBucketNameError",
    "InvalidKeyError",
    "KeyDeletedError",
    "KeyHistoryTooLargeError",
    "KeyNotFoundError",
    "KeyValue",
    "KeyValueConfig",
    "KeyValueCodecError",
    "KeyValueError",
    "KeyValueLimitMarkerTTLNotSupportedError",
    "KeyValueManager",
    "KeyWatcher",
    "KeyWrongLastSequenceError",
    "MirrorPurgeError",
    "NoKeysError",
    "Operation",
    "codecs",
    "errors",
]
