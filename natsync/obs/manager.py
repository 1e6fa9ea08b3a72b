"""`ObjectStoreManager`: the object store methods `natsync.js.JetStreamContext` delegates to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional

from ..js.buckets import update_bucket
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

__all__ = ["ObjectStoreManager"]


class ObjectStoreManager:
    """Create, open, list and delete object store buckets (ADR-20) as streams of `js`.

    The context holds one and offers its methods as its own (`js.object_store(...)`);
    `timeout` is the context's, which its stores wait with.
    """

    def __init__(self, js: JetStreamContext, timeout: float) -> None:
        self._js = js
        self._timeout = timeout

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
        info = self._js.add_stream(stream_config(cfg))
        return ObjectStore(self._js, name, info, timeout=self._timeout)

    def update_object_store(self, bucket: Optional[str] = None,
                            config: Optional[ObjectStoreConfig] = None,
                            **params: Any) -> ObjectStore:
        """Change an existing bucket's settings (BucketNotFoundError if there is none).

        An ObjectStoreConfig is the bucket's whole new configuration, as in nats.go;
        without one, the keywords change just those settings. What cannot change (the
        storage, a sealed bucket) raises BucketUpdateError before anything is sent.
        """
        whole = None
        if config is not None:
            whole = config.evolve(**params, **({} if bucket is None else {"bucket": bucket}))
        name = check_bucket(whole.bucket if whole is not None else bucket)
        try:
            info = self._js.stream_info(stream_name(name))
        except NotFoundError:
            raise BucketNotFoundError(description=f"bucket {name!r} not found") from None
        cfg = whole or ObjectStoreStatus.from_stream_info(name, info).config.evolve(**params)
        info = update_bucket(self._js, f"object store {name!r}", info, stream_config(cfg))
        return ObjectStore(self._js, name, info, timeout=self._timeout)

    def create_or_update_object_store(self, bucket: Optional[str] = None,
                                      config: Optional[ObjectStoreConfig] = None,
                                      **params: Any) -> ObjectStore:
        """Update the bucket if it exists (as `update_object_store`), else create it."""
        try:
            return self.update_object_store(bucket, config, **params)
        except BucketNotFoundError:
            return self.create_object_store(bucket, config, **params)

    def object_store(self, bucket: str) -> ObjectStore:
        """A handle on an existing bucket (BucketNotFoundError if there is none)."""
        return _bind(self._js, bucket, self._timeout)

    def delete_object_store(self, bucket: str) -> bool:
        """Delete a bucket and every object in it (BucketNotFoundError if there is none)."""
        check_bucket(bucket)
        try:
            return self._js.delete_stream(stream_name(bucket))
        except NotFoundError:
            raise BucketNotFoundError(description=f"bucket {bucket!r} not found") from None

    def object_store_names(self) -> List[str]:
        """The names of every object store bucket in the account."""
        return sorted(name[len(STREAM_PREFIX):] for name in self._js.stream_names("$O.>")
                      if name.startswith(STREAM_PREFIX))

    def object_stores(self) -> List[ObjectStoreStatus]:
        """The status of every object store bucket in the account."""
        out = []
        for info in self._js.streams_info("$O.>"):
            name = info.config.name or ""
            if name.startswith(STREAM_PREFIX):
                out.append(ObjectStoreStatus.from_stream_info(name[len(STREAM_PREFIX):], info))
        return sorted(out, key=lambda s: s.bucket)
