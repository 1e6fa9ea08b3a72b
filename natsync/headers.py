"""Message headers: an order-keeping, multi-value mapping with case-insensitive lookup."""

from __future__ import annotations

from typing import Iterable, Iterator, Mapping, MutableMapping, Optional, Tuple, Union

from .errors import BadHeaderError, ProtocolError

HeadersLike = Union["Headers", Mapping[str, Union[str, Iterable[str]]]]

_STATUS_PREFIX = b"NATS/1.0"
_BAD_NAME_CHARS = frozenset(":\r\n \t")


def _check_name(name: str) -> None:
    if not isinstance(name, str):
        raise BadHeaderError(f"header name must be str, not {type(name).__name__}")
    if not name or not _BAD_NAME_CHARS.isdisjoint(name):
        raise BadHeaderError(f"invalid header name {name!r}: must be non-empty, "
                             "without ':', spaces, CR or LF")


def _check_value(name: str, value: str) -> None:
    if not isinstance(value, str):
        raise BadHeaderError(f"header {name!r} value must be str, not {type(value).__name__}")
    if "\r" in value or "\n" in value:
        raise BadHeaderError(f"header {name!r} value must not contain CR or LF: {value!r}")


class Headers(MutableMapping[str, str]):
    """Header fields in the order they were added; `h[k]` is the first value of `k`.

    Names keep the case they were given (it goes on the wire as is) but are looked up
    case-insensitively. `status` and `description` hold a status line such as
    `NATS/1.0 503`, which the server uses for no-responders, heartbeats and the like.
    """

    __slots__ = ("_items", "status", "description")

    def __init__(self, init: Optional[HeadersLike] = None) -> None:
        self._items: list[Tuple[str, str]] = []
        self.status: Optional[int] = None
        self.description: str = ""
        if init is not None:
            if isinstance(init, Headers):
                self._items = list(init._items)
                self.status = init.status
                self.description = init.description
            else:
                for name, value in init.items():
                    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Iterable):
                        self.add(name, value)  # a non-str value is refused by add()
                    else:
                        for v in value:
                            self.add(name, v)

    @classmethod
    def parse(cls, block: bytes) -> Headers:
        """Parse a received header block (`NATS/1.0[ status [description]]\\r\\n...\\r\\n\\r\\n`),
        the inverse of `encode()`; ProtocolError if it is malformed."""
        if not block.startswith(_STATUS_PREFIX):
            raise ProtocolError(f"header block does not start with NATS/1.0: {block[:32]!r}")
        try:
            text = block.decode()
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"header block is not valid UTF-8: {exc}") from None
        lines = text.split("\r\n")
        h = cls()
        status_line = lines[0][len("NATS/1.0"):].strip()
        if status_line:
            code, _, desc = status_line.partition(" ")
            if not (code.isascii() and code.isdigit()):  # int() refuses '²'; '١' is no status
                raise ProtocolError(f"bad status line in headers: {lines[0]!r}")
            h.status = int(code)
            h.description = desc.strip()
        items = h._items
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep or not name:
                raise ProtocolError(f"bad header line: {line!r}")
            items.append((name.strip(" \t"), value.strip(" \t")))  # only SP/HTAB are OWS
        return h

    def add(self, name: str, value: str) -> None:
        """Append a value to `name`, keeping the ones it already has."""
        _check_name(name)
        _check_value(name, value)
        self._items.append((name, value))

    def get_all(self, name: str) -> list[str]:
        """Every value of `name`, in order (an empty list if it has none)."""
        low = name.lower()
        return [v for k, v in self._items if k.lower() == low]

    def items_all(self) -> list[Tuple[str, str]]:
        """Every (name, value) pair in order, repeated names included."""
        return list(self._items)

    def __getitem__(self, name: str) -> str:
        low = name.lower()
        for k, v in self._items:
            if k.lower() == low:
                return v
        raise KeyError(name)

    def __setitem__(self, name: str, value: str) -> None:
        _check_name(name)
        _check_value(name, value)
        low = name.lower()
        self._items = [(k, v) for k, v in self._items if k.lower() != low]
        self._items.append((name, value))

    def __delitem__(self, name: str) -> None:
        low = name.lower()
        kept = [(k, v) for k, v in self._items if k.lower() != low]
        if len(kept) == len(self._items):
            raise KeyError(name)
        self._items = kept

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for k, _ in self._items:
            low = k.lower()
            if low not in seen:
                seen.add(low)
                yield k

    def __len__(self) -> int:
        return len({k.lower() for k, _ in self._items})

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return (self._items == other._items and self.status == other.status
                    and self.description == other.description)
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        status = f" status={self.status}" if self.status is not None else ""
        return f"Headers({self._items!r}{status})"

    def encode(self) -> bytes:
        """The header block as it goes on the wire, status line and final CRLF included."""
        parts = [_STATUS_PREFIX]
        if self.status is not None:
            parts.append(b" %d" % self.status)
            if self.description:
                parts.append(b" " + self.description.encode())
        parts.append(b"\r\n")
        for k, v in self._items:
            parts.append(f"{k}: {v}\r\n".encode())
        parts.append(b"\r\n")
        return b"".join(parts)


def encode_headers(headers: HeadersLike) -> bytes:
    """Encode a Headers or plain mapping, validating every name and value."""
    if not isinstance(headers, Headers):
        headers = Headers(headers)
    return headers.encode()


#: The parser's hot path calls it once per message with headers: an alias, not a wrapper.
parse_headers = Headers.parse
