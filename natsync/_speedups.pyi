"""Types of the optional C module natsync/_speedups.c (see protocol.Parser)."""

from typing import Callable, Optional

from .headers import Headers

LINES_KEPT: int

def scan(data: bytes, pos: int, events: list[tuple[object, ...]],
         lines: dict[bytes, tuple[int, str, str, int]], max_line: int, max_payload: int,
         parse_headers: Callable[[bytes], Headers], /) -> int:
    """Append the events of the well-formed MSG/HMSG frames from `pos` on; return where the
    Python parser goes on."""

def encode_pub(subject: bytes, payload: bytes = b"", reply: bytes = b"",
               headers: Optional[bytes] = None, /) -> bytes:
    """protocol.encode_pub for bytes arguments, in one allocation."""
