"""What an update may not change in a Key-Value or Object Store bucket's stream.

nats.go sends a bucket update as a stream update and lets the server refuse it. natsync
checks the rules first (the server's, and ADR-48's for limit markers), so the refusal
names the bucket setting, not a stream field: a bucket's storage type never changes, a
sealed bucket stays as it is, limit markers once on stay on, and a mirror can be removed
(which promotes the bucket) but neither added nor changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from . import api
from .errors import BucketUpdateError

if TYPE_CHECKING:
    from .manager import JetStreamManager

__all__ = ["check_update", "update_bucket"]


def _storage(cfg: api.StreamConfig) -> str:
    storage = cfg.storage or api.StorageType.FILE
    return storage.value if isinstance(storage, api.StorageType) else str(storage)


def _mirror_origin(cfg: api.StreamConfig) -> Optional[str]:
    return cfg.mirror.name if cfg.mirror is not None else None


def _plain(value: Any) -> Any:
    """`value` without empty parts ("", 0, None, {}, []), as Go's zero values compare."""
    if isinstance(value, dict):
        out = {k: _plain(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in ("", 0, None, {}, [])}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _same_source(a: Optional[api.StreamSource], b: Optional[api.StreamSource]) -> bool:
    if a is None or b is None:
        return a is b
    return bool(_plain(a.as_dict()) == _plain(b.as_dict()))


def check_update(what: str, old: api.StreamConfig, new: api.StreamConfig) -> None:
    """Raise BucketUpdateError if turning `old` into `new` changes what cannot change.

    `what` names the bucket in messages ("Key-Value bucket 'flags'").
    """
    if _storage(old) != _storage(new):
        raise BucketUpdateError(
            f"nats: the storage of {what} cannot change ({_storage(old)} to {_storage(new)}); "
            "create a new bucket and copy the data", "storage")
    if old.sealed and not new.sealed:
        raise BucketUpdateError(f"nats: {what} is sealed: its settings cannot change", "sealed")
    if old.allow_msg_ttl and not new.allow_msg_ttl:
        raise BucketUpdateError(
            f"nats: limit_marker_ttl of {what} cannot be turned off once on (ADR-48); "
            "it can be changed to another duration", "limit_marker_ttl")
    if new.mirror is not None and not _same_source(old.mirror, new.mirror):
        origin = _mirror_origin(old)
        now = f"mirrors {origin!r}" if origin else "is not a mirror"
        raise BucketUpdateError(
            f"nats: {what} {now}: a mirror cannot be added or changed by an update, only "
            "removed (which makes the bucket a bucket of its own)", "mirror")


def update_bucket(jsm: JetStreamManager, what: str, current: api.StreamInfo,
                  config: api.StreamConfig) -> api.StreamInfo:
    """Update a bucket's stream from `current` to `config`, once `check_update` allows it."""
    check_update(what, current.config, config)
    return jsm.update_stream(config)
