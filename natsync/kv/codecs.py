"""Key and value codecs (ADR-54): keys that hold what subjects cannot, values transformed.

A key codec turns the keys an application uses into valid bucket keys and back; a value
codec transforms values on their way in and out (compression, encryption, ...). They are
applied by a `KeyValue` handle from `kv.with_codecs(key_codec=..., value_codec=...)`;
nothing is stored about them, so every reader of the bucket must use the same ones.
The built-in codecs write what the orbit `kvcodec` package of nats.go writes.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Protocol, cast

__all__ = [
    "WILDCARDS",
    "Base64Codec",
    "ChainCodec",
    "KeyCodec",
    "PathCodec",
    "ValueCodec",
]

#: The filter tokens a codec leaves as they are.
WILDCARDS = ("*", ">")
#: How PathCodec stores the leading "/" of an absolute path (a key cannot start with ".").
ROOT = "_root_"


class KeyCodec(Protocol):
    """Turns an application's key into a bucket key (`encode_key`) and back.

    It may also have `encode_filter(filter) -> str`, which must keep the wildcard tokens
    `*` and `>`; without it, filters with wildcards are refused (InvalidKeyError).
    """

    def encode_key(self, key: str) -> str:
        """The bucket key that stands for `key`."""

    def decode_key(self, key: str) -> str:
        """The application's key a bucket key stands for (ValueError if it cannot be one)."""


class ValueCodec(Protocol):
    """Transforms a value before it is stored (`encode_value`) and after it is read."""

    def encode_value(self, value: bytes) -> bytes:
        """The bytes stored for `value`."""

    def decode_value(self, value: bytes) -> bytes:
        """The value stored bytes stand for (ValueError if they cannot be decoded)."""


def _b64(token: str) -> str:
    return base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


def _strict_b64decode(data: bytes) -> bytes:
    """URL-safe base64 without padding, refusing any other character (as Go's decoder)."""
    return base64.b64decode(data + b"=" * (-len(data) % 4), altchars=b"-_", validate=True)


def _unb64(token: str) -> str:
    try:
        return _strict_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeError) as exc:
        raise ValueError(f"not a base64 key token: {token!r}") from exc


class Base64Codec:
    """URL-safe base64 without padding: of each key token (so the `.` hierarchy and
    wildcards still work) and of values. Any text can be a key: spaces, `#`, emoji..."""

    def encode_key(self, key: str) -> str:
        """Each `.`-separated token, base64-encoded."""
        return ".".join(_b64(t) for t in key.split("."))

    def decode_key(self, key: str) -> str:
        """Each token base64-decoded."""
        return ".".join(_unb64(t) for t in key.split("."))

    def encode_filter(self, filter: str) -> str:
        """Like `encode_key`, leaving `*` and `>` tokens as they are."""
        return ".".join(t if t in WILDCARDS else _b64(t) for t in filter.split("."))

    def encode_value(self, value: bytes) -> bytes:
        """The value, base64-encoded."""
        return base64.urlsafe_b64encode(value).rstrip(b"=")

    def decode_value(self, value: bytes) -> bytes:
        """The value, base64-decoded."""
        try:
            return _strict_b64decode(value)
        except binascii.Error as exc:
            raise ValueError("not a base64 value") from exc

    def __repr__(self) -> str:
        return "Base64Codec()"


class PathCodec:
    """Path-style keys (`/users/42/name`) as bucket keys (`_root_.users.42.name`).

    `/` separates tokens instead of `.`; a leading `/` is kept as a first token `_root_`
    and a trailing one is dropped, as nats.go's kvcodec does.
    """

    def encode_key(self, key: str) -> str:
        """`a/b` as `a.b`, `/a` as `_root_.a`, `/` as `_root_`."""
        if key.startswith("/"):
            key = ROOT if key == "/" else f"{ROOT}.{key[1:]}"
        return key.rstrip("/").replace("/", ".")

    def decode_key(self, key: str) -> str:
        """The path a bucket key stands for."""
        if key == ROOT:
            return "/"
        if key.startswith(ROOT + "."):
            return "/" + key[len(ROOT) + 1:].replace(".", "/")
        return key.replace(".", "/")

    def encode_filter(self, filter: str) -> str:
        """A path filter (`users/*`, `/logs/>`) as a key filter."""
        return self.encode_key(filter)

    def __repr__(self) -> str:
        return "PathCodec()"


class ChainCodec:
    """Codecs applied in turn, and undone in reverse order: `ChainCodec(PathCodec(),
    Base64Codec())` for paths holding any text, `ChainCodec(compress, encrypt)` for values.

    A codec without a method passes that data through (PathCodec leaves values as they
    are); filters work if every key codec of the chain has `encode_filter`.
    """

    def __init__(self, *codecs: object) -> None:
        self._codecs = codecs

    def _run(self, method: str, data: Any, backwards: bool = False) -> Any:
        for codec in reversed(self._codecs) if backwards else self._codecs:
            step = getattr(codec, method, None)
            if step is not None:
                data = step(data)
        return data

    def encode_key(self, key: str) -> str:
        """`key` through every key codec, first to last."""
        return cast(str, self._run("encode_key", key))

    def decode_key(self, key: str) -> str:
        """`key` back through every key codec, last to first."""
        return cast(str, self._run("decode_key", key, backwards=True))

    def encode_filter(self, filter: str) -> str:
        """`filter` through every key codec's `encode_filter` (ValueError if one has none)."""
        for codec in self._codecs:
            if hasattr(codec, "encode_key") and not hasattr(codec, "encode_filter"):
                raise ValueError(f"{codec!r} cannot encode filters with wildcards")
        return cast(str, self._run("encode_filter", filter))

    def encode_value(self, value: bytes) -> bytes:
        """`value` through every value codec, first to last."""
        return cast(bytes, self._run("encode_value", value))

    def decode_value(self, value: bytes) -> bytes:
        """`value` back through every value codec, last to first."""
        return cast(bytes, self._run("decode_value", value, backwards=True))

    def __repr__(self) -> str:
        return f"ChainCodec{self._codecs!r}"
