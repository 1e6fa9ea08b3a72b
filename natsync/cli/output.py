"""Everything the CLI writes: human-readable text by default, JSON with --json."""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import enum
import json
import sys
from typing import IO, Any, Iterable, Mapping, Optional, Sequence, TextIO

from ..headers import Headers


class Output:
    """Writes results to stdout and notes to stderr, flushing each write (pipes see it at once)."""

    def __init__(self, json_mode: bool = False, stdout: Optional[TextIO] = None,
                 stderr: Optional[TextIO] = None) -> None:
        self.json_mode = json_mode
        self._out = stdout if stdout is not None else sys.stdout
        self._err = stderr if stderr is not None else sys.stderr

    # --- text -------------------------------------------------------------------------------

    def line(self, text: str = "") -> None:
        """One line of text on stdout."""
        self._out.write(text + "\n")
        self._out.flush()

    def note(self, text: str) -> None:
        """One line on stderr: progress and status that is not the command's result."""
        self._err.write(text + "\n")
        self._err.flush()

    def raw(self, data: bytes, newline: bool = False) -> None:
        """Bytes on stdout exactly as they are (plus a newline if asked and missing)."""
        if newline and not data.endswith(b"\n"):
            data += b"\n"
        self._out.flush()
        buffer: Optional[IO[bytes]] = getattr(self._out, "buffer", None)
        if buffer is None:
            self._out.write(data.decode("utf-8", "replace"))
            self._out.flush()
            return
        buffer.write(data)
        buffer.flush()

    def names(self, names: Sequence[str]) -> None:
        """A list of names: one JSON array, or one name per line."""
        if self.json_mode:
            self.json(list(names))
        else:
            for name in names:
                self.line(name)

    def fields(self, pairs: Iterable[tuple[str, Any]], indent: int = 0) -> None:
        """Aligned `Name: value` lines; None values are left out."""
        shown = [(k, v) for k, v in pairs if v is not None]
        if not shown:
            return
        width = max(len(k) for k, _ in shown) + 1
        pad = " " * indent
        for key, value in shown:
            self.line(f"{pad}{key + ':':<{width}} {human(value)}")

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Rows under headers, in columns as wide as their widest cell."""
        cells = [[human(c) for c in row] for row in rows]
        widths = [len(h) for h in headers]
        for row in cells:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))
        self.line("  ".join(f"{h:<{w}}" for h, w in zip(headers, widths)).rstrip())
        self.line("  ".join("-" * w for w in widths))
        for row in cells:
            self.line("  ".join(f"{c:<{w}}" for c, w in zip(row, widths)).rstrip())

    # --- JSON -------------------------------------------------------------------------------

    def json(self, doc: Any) -> None:
        """One JSON document, indented, on stdout."""
        self.line(json.dumps(jsonable(doc), indent=2, ensure_ascii=False))

    def json_line(self, doc: Any) -> None:
        """One compact JSON document on one line (JSON Lines, for streams of results)."""
        self.line(json.dumps(jsonable(doc), separators=(",", ":"), ensure_ascii=False))


def jsonable(value: Any) -> Any:
    """`value` with datetimes, bytes, enums, headers and API objects made JSON-ready."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Headers):
        return headers_json(value)
    as_dict = getattr(value, "as_dict", None)
    if callable(as_dict):
        return jsonable(as_dict())
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return jsonable(to_dict())
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.repr}
    return str(value)


def headers_json(headers: Optional[Headers]) -> dict[str, list[str]]:
    """Headers as `{name: [values]}`, names in the case they were sent."""
    out: dict[str, list[str]] = {}
    if headers is not None:
        for name, value in headers.items_all():
            out.setdefault(name, []).append(value)
    return out


def payload_json(data: bytes) -> dict[str, str]:
    """`{"data": text}` for UTF-8 payloads, else `{"data_b64": base64}`."""
    try:
        return {"data": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"data_b64": base64.b64encode(data).decode("ascii")}


def message_json(subject: str, data: bytes, headers: Optional[Headers] = None,
                 reply: str = "", **extra: Any) -> dict[str, Any]:
    """The JSON shape of every message the CLI prints: subject, reply, headers, data, extras."""
    doc: dict[str, Any] = {"subject": subject}
    if reply:
        doc["reply"] = reply
    doc.update({k: v for k, v in extra.items() if v is not None})
    if headers is not None and len(headers):
        doc["headers"] = headers_json(headers)
    doc["size"] = len(data)
    doc.update(payload_json(data))
    return doc


# --- human formatting -----------------------------------------------------------------------


def human(value: Any) -> str:
    """A value as a table cell or field: lists joined, times local, booleans yes/no."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, _dt.datetime):
        return when(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(human(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={human(v)}" for k, v in value.items())
    return str(value)


def size(n: Optional[float]) -> str:
    """Bytes as `1.5 KiB`; a negative limit means unlimited."""
    if n is None:
        return ""
    if n < 0:
        return "unlimited"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def count(n: Optional[int]) -> str:
    """A count with thousands separators; a negative limit means unlimited."""
    if n is None:
        return ""
    return "unlimited" if n < 0 else f"{n:,}"


def duration(seconds: Optional[float]) -> str:
    """Seconds as `1d2h3m4s` (or `250ms`); zero or None means unlimited."""
    if not seconds:
        return "unlimited"
    if seconds < 1:
        return f"{seconds * 1000:.3g}ms"
    total = int(round(seconds))
    parts = []
    for unit, span in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= span:
            parts.append(f"{total // span}{unit}")
            total %= span
    return "".join(parts)


def when(t: Optional[_dt.datetime]) -> str:
    """A time in local time, to the second."""
    if t is None:
        return ""
    return t.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def show_message(out: Output, title: str, data: bytes, headers: Optional[Headers] = None,
                 show_headers: bool = False, raw: bool = False) -> None:
    """A message for people (title, headers if asked, body, blank line); `raw`: the body only."""
    if raw:
        out.raw(data, newline=True)
        return
    out.line(title)
    if show_headers and headers is not None:
        if headers.status is not None:
            out.line(f"NATS/1.0 {headers.status} {headers.description}".rstrip())
        for name, value in headers.items_all():
            out.line(f"{name}: {value}")
        if len(headers) or headers.status is not None:
            out.line()
    out.raw(data, newline=True)
    out.line()
