"""`KeyValueManager`: the Key-Value methods `natsync.js.JetStreamContext` delegates to."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, List, Mapping, Optional, Tuple, Union

from ..js.buckets import update_bucket
from ..js.errors import NotFoundError
from .bucket import KeyValue
from .config import (
    STREAM_PREFIX,
    BucketStatus,
    KeyValueConfig,
    check_bucket,
    stream_config,
    stream_name,
)
from .errors import BadBucketError, BucketNotFoundError, KeyValueLimitMarkerTTLNotSupportedError
from .keys import KeySpace

if TYPE_CHECKING:
    from ..js import api
    from ..js.context import JetStreamContext

__all__ = ["KeyValueManager"]

#: Per-message TTLs and subject delete markers (ADR-43, ADR-48) came with nats-server 2.11.
TTL_SERVER_VERSION = (2, 11, 0)
#: The subject filter that finds every bucket's stream.
_BUCKETS_FILTER = "$KV.*.>"


class KeyValueManager:
    """Create, open, list and delete Key-Value buckets (ADR-8) as streams of `js`.

    The context holds one and offers its methods as its own (`js.key_value(...)`).
    """

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    def create_key_value(self, config: Union[KeyValueConfig, Mapping[str, Any], str, None] = None,
                         **params: Any) -> KeyValue:
        """Create a bucket (or open it if it exists with the same settings).

        Settings come from `config` (a KeyValueConfig, a dict of its fields, or just the
        bucket name) and/or keywords of KeyValueConfig (keywords win). A bucket that
        exists with other settings raises StreamNameInUseError.
        """
        cfg = _kv_config(config, params)
        scfg = stream_config(cfg)
        if cfg.limit_marker_ttl:
            self._check_ttl_support()
        return self._opened(cfg, self._js.add_stream(scfg))

    def update_key_value(self, config: Union[KeyValueConfig, Mapping[str, Any], str, None] = None,
                         **params: Any) -> KeyValue:
        """Change an existing bucket's settings (BucketNotFoundError if there is none).

        A KeyValueConfig (or a dict of its fields) is the bucket's whole new configuration,
        as in nats.go; a bucket name (or `bucket=`) with keywords changes just those
        settings. What cannot change (storage, a mirror, limit markers once on) raises
        BucketUpdateError before anything is sent.
        """
        whole = None if config is None or isinstance(config, str) else _kv_config(config, params)
        bucket = check_bucket(whole.bucket if whole is not None else params.get("bucket", config))
        try:
            info = self._js.stream_info(stream_name(bucket))
        except NotFoundError:
            raise BucketNotFoundError(description=f"bucket {bucket!r} not found") from None
        cfg = whole or BucketStatus.from_stream_info(bucket, info).config.evolve(**params)
        if cfg.limit_marker_ttl and not info.config.allow_msg_ttl:
            self._check_ttl_support()
        what = f"Key-Value bucket {bucket!r}"
        return self._opened(cfg, update_bucket(self._js, what, info, stream_config(cfg)))

    def create_or_update_key_value(
            self, config: Union[KeyValueConfig, Mapping[str, Any], str, None] = None,
            **params: Any) -> KeyValue:
        """Update the bucket if it exists (as `update_key_value`), else create it."""
        try:
            return self.update_key_value(config, **params)
        except BucketNotFoundError:
            return self.create_key_value(config, **params)

    def _opened(self, cfg: KeyValueConfig, info: api.StreamInfo) -> KeyValue:
        """The handle on a bucket the server created or updated as `info` says; refuses
        one whose limit_marker_ttl the server ignored (a server before 2.11)."""
        bucket = check_bucket(cfg.bucket)
        if cfg.limit_marker_ttl and not (info.config.allow_msg_ttl
                                         and info.config.subject_delete_marker_ttl):
            raise KeyValueLimitMarkerTTLNotSupportedError(
                f"nats: the server ignored limit_marker_ttl for bucket {bucket!r} "
                "(needs nats-server 2.11+)")
        return self._handle(bucket, info)

    def _handle(self, bucket: str, info: api.StreamInfo) -> KeyValue:
        """The handle on `bucket`, whose stream `info` describes (a mirror reads its
        origin's subjects and writes to its origin)."""
        return KeyValue(self._js, bucket, direct=bool(info.config.allow_direct),
                        space=KeySpace.of(bucket, info.config, self._js.prefix))

    def _check_ttl_support(self) -> None:
        """KeyValueLimitMarkerTTLNotSupportedError unless the server is 2.11 or later."""
        version = self._js.nc.connected_server_version
        if _version(version) < TTL_SERVER_VERSION:
            raise KeyValueLimitMarkerTTLNotSupportedError(
                f"nats: limit marker TTLs need nats-server 2.11+, connected to {version!r}")

    def key_value(self, bucket: str) -> KeyValue:
        """A handle on an existing bucket (BucketNotFoundError if there is none)."""
        check_bucket(bucket)
        try:
            info = self._js.stream_info(stream_name(bucket))
        except NotFoundError:
            raise BucketNotFoundError(description=f"bucket {bucket!r} not found") from None
        if (info.config.max_msgs_per_subject or 0) < 1:
            raise BadBucketError(f"nats: stream {stream_name(bucket)!r} is not a key-value "
                                 "bucket (max_msgs_per_subject < 1)")
        return self._handle(bucket, info)

    def delete_key_value(self, bucket: str) -> bool:
        """Delete a bucket and every key in it (BucketNotFoundError if there is none)."""
        check_bucket(bucket)
        try:
            return self._js.delete_stream(stream_name(bucket))
        except NotFoundError:
            raise BucketNotFoundError(description=f"bucket {bucket!r} not found") from None

    def key_value_store_names(self) -> List[str]:
        """The names of every Key-Value bucket in the account, sorted."""
        return sorted(name[len(STREAM_PREFIX):] for name in self._js.stream_names(_BUCKETS_FILTER)
                      if name.startswith(STREAM_PREFIX))

    def key_value_stores(self) -> List[BucketStatus]:
        """The status of every Key-Value bucket in the account, sorted by name."""
        out = []
        for info in self._js.streams_info(_BUCKETS_FILTER):
            name = info.config.name or ""
            if name.startswith(STREAM_PREFIX):
                out.append(BucketStatus.from_stream_info(name[len(STREAM_PREFIX):], info))
        return sorted(out, key=lambda s: s.bucket)


def _kv_config(config: Union[KeyValueConfig, Mapping[str, Any], str, None],
               params: dict[str, Any]) -> KeyValueConfig:
    """A KeyValueConfig from an instance, a dict of fields, a bucket name, and keywords."""
    if config is None:
        return KeyValueConfig(**params)
    if isinstance(config, str):
        return KeyValueConfig(bucket=config, **params)
    if isinstance(config, KeyValueConfig):
        return config.evolve(**params) if params else config
    return KeyValueConfig(**{**config, **params})


def _version(text: Optional[str]) -> Tuple[int, ...]:
    """(major, minor, patch) of a server version such as "2.11.0-RC.1"; (0,) if unknown."""
    m = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    if m is None:
        return (0,)
    return tuple(int(g or 0) for g in m.groups())
