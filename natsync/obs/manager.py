"""`ObjectStoreManager`: the object store methods of `natsync.js.JetStreamContext` (a mixin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional, cast

from ..js.errors import NotFoundError
from .config import (
    STREAM_PREFIX,
    ObjectStoreConfig,
    ObjectStoreStatus,
    check_bucket,
    stream_config,
    stream_name,
)
from .errors import BucketNotFoundError
from .store import ObjectStore, _bind

if TYPE_CHECKING:
    from ..js.context import JetStreamContext
    from ..js.manager import JetStreamManager

    _Base = JetStreamManager
else:
    _Base = object

__all__ = ["ObjectStoreManager"]


class ObjectStoreManager(_Base):
    """Create, open, list and delete object store buckets (ADR-20).

    A mixin for `JetStreamContext`: list it before `JetStreamManager` among the bases,
    e.g. `class JetStreamContext(ObjectStoreManager, JetStreamManager)`.
    """

    def _obs_js(self) -> JetStreamContext:
        return cast("JetStreamContext", self)

    def create_object_store(self, bucket: Optional[str] = None,
                            config: Optional[ObjectStoreConfig] = None,
                            **params: Any) -> ObjectStore:
        """Create a bucket (or open it if it exists with the same settings).

        Settings come from `config` and/or keywords of ObjectStoreConfig (keywords win).
        """
        cfg = config or ObjectStoreConfig()
        if bucket is not None:
            cfg = cfg.evolve(bucket=bucket)
        if params:
            cfg = cfg.evolve(**params)
        name = check_bucket(cfg.bucket)
        info = self.add_stream(stream_config(cfg))
        return ObjectStore(self._obs_js(), name, info)

    def object_store(self, bucket: str) -> ObjectStore:
        """A handle on an existing bucket (BucketNotFoundError if there is none)."""
        return _bind(self._obs_js(), bucket)

    def delete_object_store(self, bucket: str) -> bool:
        """Delete a bucket and every object in it (BucketNotFoundError if there is none)."""
        check_bucket(bucket)
        try:
            return self.delete_stream(stream_name(bucket))
        except NotFoundError:
            raise BucketNotFoundError(description=f"bucket {bucket!r} not found") from None

    def object_store_names(self) -> List[str]:
        """The names of every object store bucket in the account."""
        return sorted(name[len(STREAM_PREFIX):] for name in self.stream_names("$O.>")
                      if name.startswith(STREAM_PREFIX))

    def object_stores(self) -> List[ObjectStoreStatus]:
        """The status of every object store bucket in the account."""
        out = []
        for info in self.streams_info("$O.>"):
            name = info.config.name or ""
            if name.startswith(STREAM_PREFIX):
                out.append(ObjectStoreStatus.from_stream_info(name[len(STREAM_PREFIX):], info))
        return sorted(out, key=lambda s: s.bucket)
