"""Where a bucket's keys live on the wire: the subjects reads and writes use (ADR-8, ADR-57).

A bucket's keys are the subjects `$KV.<bucket>.<key>` of its stream. A mirror (ADR-57)
holds its origin's subjects, `$KV.<origin>.<key>`, so reads of the mirror's stream use
those; its writes go to the origin, through the origin's JetStream domain when the
mirror names one (`<api prefix>.$KV.<origin>.<key>`, which the origin's server maps to
`$KV.<origin>.<key>`). A context bound to another domain writes through that domain's
prefix the same way, as nats.go and nats.js do.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Union

from ..js import api
from ..js.manager import DEFAULT_PREFIX
from .config import STREAM_PREFIX, check_key, filters_of, key_prefix

__all__ = ["KeySpace"]


class KeySpace:
    """The subjects of one bucket's keys: `read` for its own stream, `write` for puts.

    `origin` is the bucket a mirror mirrors (None for any other bucket).
    """

    def __init__(self, bucket: str, read: Optional[str] = None, write: Optional[str] = None,
                 origin: Optional[str] = None) -> None:
        self.bucket = bucket
        self.read = read if read is not None else key_prefix(bucket)
        self.write = write if write is not None else self.read
        self.origin = origin

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
        return self.read + check_key(key)

    def write_subject(self, key: str) -> str:
        """The subject a write of `key` is published to."""
        return self.write + check_key(key)

    def filters(self, keys: Union[str, Sequence[str], None]) -> List[str]:
        """The stream subjects of key filters (one, a list, or None for every key)."""
        return [self.read + f for f in filters_of(keys)]

    def key_of(self, subject: str) -> str:
        """The key a stored subject stands for."""
        return subject[len(self.read):]
