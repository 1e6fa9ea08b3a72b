"""HTML tables for notebooks' rich display (`_repr_html_`); every user value is escaped."""

from __future__ import annotations

import dataclasses
import html
from enum import Enum
from typing import Any, Iterable, Sequence, Tuple

_MAX_TEXT = 200
_MAX_DEPTH = 3
_CLIP = 64


def clip(data: bytes) -> bytes:
    """The first 64 bytes of a payload, "..." marking that there was more (for __repr__)."""
    return data if len(data) <= _CLIP else data[:_CLIP] + b"..."


def short(value: Any) -> str:
    """`value` as display text: bytes decoded when they are UTF-8, cut after 200 characters."""
    if isinstance(value, (bytes, bytearray)):
        try:
            text = bytes(value).decode()
        except UnicodeDecodeError:
            text = repr(bytes(value))
    elif isinstance(value, Enum):
        text = str(value.value)
    else:
        text = str(value)
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "…"


def _cell(value: Any, depth: int) -> str:
    """One table cell: a nested table for dataclasses and dicts, escaped text otherwise."""
    if depth < _MAX_DEPTH:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclass_table(value, depth + 1)
        if isinstance(value, dict) and value:
            return table(value.items(), depth=depth + 1)
        if (isinstance(value, list) and value
                and all(dataclasses.is_dataclass(v) for v in value)):
            return "".join(dataclass_table(v, depth + 1) for v in value)
    return html.escape(short(value))


def table(rows: Iterable[Tuple[Any, Any]], title: str = "", depth: int = 0) -> str:
    """An HTML table of (name, value) rows under an optional title; all text escaped."""
    body = "".join(f"<tr><th style=\"text-align:left\">{html.escape(str(name))}</th>"
                   f"<td style=\"text-align:left\">{_cell(value, depth)}</td></tr>"
                   for name, value in rows)
    caption = f"<caption><b>{html.escape(title)}</b></caption>" if title else ""
    return f"<table>{caption}{body}</table>"


def dataclass_table(obj: Any, depth: int = 0, title: str = "") -> str:
    """A dataclass instance as a table of its fields that are set (not None, not empty)."""
    rows = [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)
            if getattr(obj, f.name) not in (None, {}, [], "")]
    return table(rows, title, depth)


def grid(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str = "") -> str:
    """An HTML table with a header row, one row per item; all text escaped."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(short(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    caption = f"<caption><b>{html.escape(title)}</b></caption>" if title else ""
    return f"<table>{caption}<tr>{head}</tr>{body}</table>"
