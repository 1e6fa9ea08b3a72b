"""Object meta information and its ADR-20 JSON, as nats.go, nats-py and the `nats` CLI write it.

The meta message of an object is the JSON of `ObjectInfo`, in nats.go's key order
(compact, UTF-8): name, description, headers, metadata, options, bucket, nuid, size,
mtime, chunks, digest, deleted. Empty optional fields are left out as Go's
`omitempty` does, and `mtime` is written as Go's zero time: ADR-20 never stores the
modification time, readers take it from the meta message's stream timestamp.
Keys this module does not know are kept in `extra` and written back.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as _dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Union

from ..headers import Headers, HeadersLike
from ..js.api import parse_time
from .errors import BadObjectMetaError, InvalidObjectNameError

__all__ = [
    "DIGEST_PREFIX",
    "ObjectInfo",
    "ObjectLink",
    "ObjectMeta",
    "ObjectMetaOptions",
    "ObjectResult",
    "check_object_name",
    "decode_digest",
    "encode_digest",
    "encode_name",
    "meta_subject",
]

DIGEST_PREFIX = "SHA-256="
#: What Go writes for an unset time.Time; ADR-20 says mtime is never stored.
ZERO_TIME = "0001-01-01T00:00:00Z"

_META_KEYS = ("name", "description", "headers", "metadata", "options", "bucket", "nuid",
              "size", "mtime", "chunks", "digest", "deleted")


def check_object_name(name: object) -> str:
    """The name, or InvalidObjectNameError: ADR-20 allows any non-empty (UTF-8) string."""
    if not isinstance(name, str) or not name:
        raise InvalidObjectNameError(
            f"nats: invalid object name {name!r}: must be a non-empty str")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidObjectNameError(
            f"nats: invalid object name {name!r}: not encodable as UTF-8") from None
    return name


def encode_name(name: str) -> str:
    """The subject token of an object name: URL-safe base64 of its UTF-8, padded like Go's."""
    return base64.urlsafe_b64encode(name.encode("utf-8")).decode("ascii")


def meta_subject(bucket: str, name: str) -> str:
    """`$O.<bucket>.M.<encoded name>`, the subject of an object's meta message."""
    return f"$O.{bucket}.M.{encode_name(name)}"


def encode_digest(sha256: bytes) -> str:
    """`SHA-256=<URL-safe base64, padded>` as ADR-20 and nats.go write it."""
    return DIGEST_PREFIX + base64.urlsafe_b64encode(sha256).decode("ascii")


def decode_digest(digest: str) -> Optional[bytes]:
    """The raw SHA-256 of an ADR-20 digest string, or None if it is not one (padding optional)."""
    algo, sep, value = digest.partition("=")
    if not sep or algo.upper() != "SHA-256":
        return None
    value = value.strip()
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == hashlib.sha256().digest_size else None


def _headers(value: Any) -> Optional[Headers]:
    """Headers from a Headers, a mapping of str or lists of str, or None."""
    if value is None or isinstance(value, Headers):
        return value
    if isinstance(value, Mapping):
        return Headers(value)
    raise TypeError(f"headers must be a Headers or a mapping, not {type(value).__name__}")


def _headers_json(h: Headers) -> Dict[str, list[str]]:
    """Go's `nats.Header` JSON: each name (sorted) to the list of its values."""
    out: Dict[str, list[str]] = {}
    for name, value in h.items_all():
        out.setdefault(name, []).append(value)
    return dict(sorted(out.items()))


def _str_map(value: Any, what: str) -> Optional[Dict[str, str]]:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise BadObjectMetaError(f"nats: object meta {what} is not an object")
    return {str(k): str(v) for k, v in value.items()}


@dataclass
class ObjectLink:
    """A link to object `name` in `bucket`, or (name None) to the whole bucket."""

    bucket: str
    name: Optional[str] = None

    def as_dict(self) -> Dict[str, Any]:
        """The link's JSON object."""
        out: Dict[str, Any] = {"bucket": self.bucket}
        if self.name:
            out["name"] = self.name
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ObjectLink:
        """A link from its JSON object."""
        name = d.get("name")
        return cls(bucket=str(d.get("bucket") or ""), name=str(name) if name else None)

    @property
    def is_bucket_link(self) -> bool:
        """True for a link to a whole bucket."""
        return not self.name


@dataclass
class ObjectMetaOptions:
    """Per-object options: the link (links only) and the chunk size used by `put`."""

    link: Optional[ObjectLink] = None
    max_chunk_size: Optional[int] = None

    def as_dict(self) -> Dict[str, Any]:
        """The options' JSON object."""
        out: Dict[str, Any] = {}
        if self.link is not None:
            out["link"] = self.link.as_dict()
        if self.max_chunk_size:
            out["max_chunk_size"] = self.max_chunk_size
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ObjectMetaOptions:
        """Options from their JSON object."""
        link = d.get("link")
        size = d.get("max_chunk_size")
        return cls(link=ObjectLink.from_dict(link) if isinstance(link, Mapping) else None,
                   max_chunk_size=int(size) if isinstance(size, int) and size else None)


@dataclass(init=False)
class ObjectMeta:
    """What the caller says about an object: name, description, headers, metadata, options.

    `headers` may be given as a plain mapping (values str or lists of str); it is
    stored as `natsync.Headers`. An empty `name` in `update_meta` keeps the name.
    """

    name: str
    description: Optional[str]
    headers: Optional[Headers]
    metadata: Optional[Dict[str, str]]
    options: Optional[ObjectMetaOptions]

    def __init__(self, name: str = "", description: Optional[str] = None,
                 headers: Optional[HeadersLike] = None,
                 metadata: Optional[Dict[str, str]] = None,
                 options: Optional[ObjectMetaOptions] = None) -> None:
        self.name = name
        self.description = description
        self.headers = _headers(headers)
        self.metadata = metadata
        self.options = options


@dataclass(init=False)
class ObjectInfo:
    """An object's meta plus its instance data: bucket, nuid, size, chunks, digest, ...

    `mtime` is the time the server stored the meta message (None when unknown);
    `extra` keeps JSON keys this version does not know, to write them back.
    """

    name: str
    bucket: str
    nuid: str
    size: int
    mtime: Optional[_dt.datetime]
    chunks: int
    digest: Optional[str]
    deleted: bool
    description: Optional[str]
    headers: Optional[Headers]
    metadata: Optional[Dict[str, str]]
    options: Optional[ObjectMetaOptions]
    extra: Dict[str, Any] = field(repr=False)

    def __init__(self, name: str, bucket: str, nuid: str, size: int = 0,
                 mtime: Optional[_dt.datetime] = None, chunks: int = 0,
                 digest: Optional[str] = None, deleted: bool = False,
                 description: Optional[str] = None, headers: Optional[HeadersLike] = None,
                 metadata: Optional[Dict[str, str]] = None,
                 options: Optional[ObjectMetaOptions] = None,
                 extra: Optional[Dict[str, Any]] = None) -> None:
        self.name = name
        self.bucket = bucket
        self.nuid = nuid
        self.size = size
        self.mtime = mtime
        self.chunks = chunks
        self.digest = digest
        self.deleted = deleted
        self.description = description
        self.headers = _headers(headers)
        self.metadata = metadata
        self.options = options
        self.extra = extra if extra is not None else {}

    @property
    def meta(self) -> ObjectMeta:
        """The ObjectMeta part (name, description, headers, metadata, options)."""
        return ObjectMeta(name=self.name, description=self.description, headers=self.headers,
                          metadata=self.metadata, options=self.options)

    @property
    def link(self) -> Optional[ObjectLink]:
        """The link this object is, or None for a regular object."""
        return self.options.link if self.options is not None else None

    def is_link(self) -> bool:
        """True when this is a link (to an object or a bucket), as in nats-py."""
        return self.link is not None

    @property
    def chunk_size(self) -> Optional[int]:
        """`options.max_chunk_size`, if recorded."""
        return self.options.max_chunk_size if self.options is not None else None

    def as_dict(self) -> Dict[str, Any]:
        """The ADR-20 JSON object, keys in nats.go's order, mtime as Go's zero time."""
        out: Dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        if self.headers is not None and len(self.headers):
            out["headers"] = _headers_json(self.headers)
        if self.metadata:
            out["metadata"] = dict(sorted(self.metadata.items()))
        if self.options is not None:
            opts = self.options.as_dict()
            if opts:
                out["options"] = opts
        out["bucket"] = self.bucket
        out["nuid"] = self.nuid
        out["size"] = self.size
        out["mtime"] = ZERO_TIME
        out["chunks"] = self.chunks
        if self.digest:
            out["digest"] = self.digest
        if self.deleted:
            out["deleted"] = True
        for k, v in self.extra.items():
            out.setdefault(k, v)
        return out

    def to_json(self) -> bytes:
        """The meta message payload."""
        return json.dumps(self.as_dict(), separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ObjectInfo:
        """An ObjectInfo from its JSON object; BadObjectMetaError if it is not one."""
        try:
            name = d.get("name")
            if not isinstance(name, str):
                raise BadObjectMetaError("nats: object meta has no name")
            opts = d.get("options")
            mtime = d.get("mtime")
            return cls(
                name=name,
                bucket=str(d.get("bucket") or ""),
                nuid=str(d.get("nuid") or ""),
                size=int(d.get("size") or 0),
                mtime=_parse_mtime(mtime),
                chunks=int(d.get("chunks") or 0),
                digest=str(d["digest"]) if d.get("digest") else None,
                deleted=bool(d.get("deleted")),
                description=str(d["description"]) if d.get("description") else None,
                headers=_parse_headers(d.get("headers")),
                metadata=_str_map(d.get("metadata"), "metadata"),
                options=ObjectMetaOptions.from_dict(opts) if isinstance(opts, Mapping) else None,
                extra={k: v for k, v in d.items() if k not in _META_KEYS},
            )
        except BadObjectMetaError:
            raise
        except (TypeError, ValueError) as exc:
            raise BadObjectMetaError(f"nats: object meta information invalid: {exc}") from None

    @classmethod
    def from_json(cls, data: Union[bytes, str]) -> ObjectInfo:
        """An ObjectInfo from a meta message payload; BadObjectMetaError if it is not one."""
        try:
            d = json.loads(data)
        except ValueError:
            raise BadObjectMetaError(
                f"nats: object meta is not JSON: {bytes(data[:60]) if isinstance(data, bytes) else data[:60]!r}"
            ) from None
        if not isinstance(d, Mapping):
            raise BadObjectMetaError("nats: object meta is not a JSON object")
        return cls.from_dict(d)

    def evolve(self, **changes: Any) -> ObjectInfo:
        """A copy with `changes` applied."""
        return dataclasses.replace(self, **changes)


def _parse_mtime(value: Any) -> Optional[_dt.datetime]:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        try:  # nats-py writes datetime.isoformat(), which parse_time accepts; be lenient
            t = _dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        return t if t.tzinfo is not None else t.replace(tzinfo=_dt.timezone.utc)


def _parse_headers(value: Any) -> Optional[Headers]:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise BadObjectMetaError("nats: object meta headers are not an object")
    h = Headers()
    for name, values in value.items():
        for v in values if isinstance(values, list) else [values]:
            h.add(str(name), str(v))
    return h


@dataclass
class ObjectResult:
    """What `get` returns: the object's `info` and its `data` (b"" when written elsewhere)."""

    info: ObjectInfo
    data: bytes = b""

