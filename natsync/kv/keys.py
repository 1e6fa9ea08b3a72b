"""Where a bucket's keys live on the wire: the subjects reads and writes use (ADR-8, ADR-57),
the codecs keys and values pass through (ADR-54), and the Entry a stored message makes.

A bucket's keys are the subjects `$KV.<bucket>.<key>` of its stream. A mirror (ADR-57)
holds its origin's subjects, `$KV.<origin>.<key>`, so reads of the mirror's stream use
those; its writes go to the origin, through the origin's JetStream domain when the
mirror names one (`<api prefix>.$KV.<origin>.<key>`, which the origin's server maps to
`$KV.<origin>.<key>`). A context bound to another domain writes through that domain's
prefix the same way, as nats.go and nats.js do.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from typing import List, Optional, Sequence, Union

from ..headers import Headers
from ..js import api
from ..js.manager import DEFAULT_PREFIX
from .codecs import WILDCARDS, KeyCodec, ValueCodec
from .config import STREAM_PREFIX, check_filter, check_key, filters_of, key_prefix
from .entry import Entry, Operation, operation_of
from .errors import InvalidKeyError, KeyValueCodecError

__all__ = ["KeySpace"]


class KeySpace:
    """The subjects of one bucket's keys: `read` for its own stream, `write` for puts.

    `origin` is the bucket a mirror mirrors (None for any other bucket); `key_codec` and
    `value_codec` (ADR-54) are applied to every key and value on its way in and out.
    """

    def __init__(self, bucket: str, read: Optional[str] = None, write: Optional[str] = None,
                 origin: Optional[str] = None, key_codec: Optional[KeyCodec] = None,
                 value_codec: Optional[ValueCodec] = None) -> None:
        self.bucket = bucket
        self.read = read if read is not None else key_prefix(bucket)
        self.write = write if write is not None else self.read
        self.origin = origin
        self.key_codec = key_codec
        self.value_codec = value_codec

    def with_codecs(self, key_codec: Optional[KeyCodec],
                    value_codec: Optional[ValueCodec]) -> KeySpace:
        """The same subjects, with these codecs."""
        return KeySpace(self.bucket, self.read, self.write, self.origin, key_codec, value_codec)

    @classmethod
    def of(cls, bucket: str, config: Optional[api.StreamConfig],
           api_prefix: str = DEFAULT_PREFIX) -> KeySpace:
        """The key space of `bucket`, whose stream has `config`, for a context whose
        JetStream API prefix is `api_prefix`."""
        through = "" if api_prefix == DEFAULT_PREFIX else api_prefix + "."
        mirror = config.mirror if config is not None else None
        if mirror is None or not mirror.name:
            return cls(bucket, write=through + key_prefix(bucket))
        origin = mirror.name[len(STREAM_PREFIX):] if mirror.name.startswith(STREAM_PREFIX) \
            else mirror.name
        external = mirror.external.api if mirror.external is not None else None
        write = f"{external}.{key_prefix(origin)}" if external else through + key_prefix(origin)
        return cls(bucket, read=key_prefix(origin), write=write, origin=origin)

    def subject(self, key: str) -> str:
        """The subject `key` is stored under in the bucket's stream."""
        return self.read + self._encoded(key)

    def write_subject(self, key: str) -> str:
        """The subject a write of `key` is published to."""
        return self.write + self._encoded(key)

    def _encoded(self, key: str) -> str:
        """The bucket key for `key`, through the key codec; InvalidKeyError if not valid."""
        if self.key_codec is None or not isinstance(key, str):
            return check_key(key)
        encoded = self.key_codec.encode_key(key)
        try:
            return check_key(encoded)
        except InvalidKeyError:
            raise InvalidKeyError(
                f"nats: invalid key {key!r}: {self.key_codec!r} made it {encoded!r}, which is "
                "not a valid bucket key") from None

    def filters(self, keys: Union[str, Sequence[str], None]) -> List[str]:
        """The stream subjects of key filters (one, a list, or None for every key)."""
        if self.key_codec is None:
            return [self.read + f for f in filters_of(keys)]
        wanted = [keys] if isinstance(keys, str) else list(keys) if keys else [">"]
        return [self.read + self._encoded_filter(f) for f in wanted]

    def _encoded_filter(self, key: str) -> str:
        """A filter through the key codec: `>` alone is every key, whatever the codec."""
        if key == ">":
            return key
        encode = getattr(self.key_codec, "encode_filter", None)
        if encode is not None:
            return check_filter(encode(key))
        if any(t in WILDCARDS for t in key.split(".")):
            raise InvalidKeyError(f"nats: {self.key_codec!r} cannot encode the wildcards of "
                                  f"filter {key!r} (it has no encode_filter)")
        return self._encoded(key)

    def key_of(self, subject: str) -> str:
        """The key a stored subject stands for (KeyValueCodecError if it cannot be decoded)."""
        key = subject[len(self.read):]
        if self.key_codec is None:
            return key
        try:
            return self.key_codec.decode_key(key)
        except ValueError as exc:
            raise KeyValueCodecError(f"nats: cannot decode key {key!r} of bucket "
                                     f"{self.bucket!r} with {self.key_codec!r}: {exc}") from None

    def encode_value(self, value: bytes) -> bytes:
        """The bytes to store for `value`."""
        return value if self.value_codec is None else self.value_codec.encode_value(value)

    def entry(self, key: str, value: bytes, revision: int, delta: int,
              created: Optional[_dt.datetime], headers: Optional[Headers],
              meta_only: bool = False) -> Entry:
        """The Entry of a stored revision of `key`, its value decoded (KeyValueCodecError if
        the value codec cannot)."""
        op, reason = operation_of(headers)
        entry = Entry(bucket=self.bucket, key=key, value=value, revision=revision, delta=delta,
                      created=created, operation=op, marker_reason=reason)
        if self.value_codec is None or op != Operation.PUT or meta_only:
            return entry
        try:
            return dataclasses.replace(entry, value=self.value_codec.decode_value(value))
        except ValueError as exc:
            raise KeyValueCodecError(f"nats: cannot decode the value of {key!r} at revision "
                                     f"{revision} with {self.value_codec!r}: {exc}") from None
