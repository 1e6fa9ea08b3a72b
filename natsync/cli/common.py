"""Helpers shared by the verbs: argument types, message bodies, templates, confirmations."""

from __future__ import annotations

import argparse
import datetime as _dt
import re
import sys
from typing import Any, Callable, Mapping, Optional, Sequence

from ..headers import Headers
from ..nuid import next_nuid


class UsageError(Exception):
    """A command line that cannot work; exits with status 2 like argparse's own errors."""


class CliError(Exception):
    """A failure that is not a NATS error (a bad file, a refused overwrite); exits with 1."""


# --- argument types --------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|s|m|h|d|w|y)?", re.ASCII)
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
          "d": 86400.0, "w": 7 * 86400.0, "y": 365 * 86400.0, None: 1.0}


def add_body_shape(parser: argparse.ArgumentParser) -> None:
    """The --raw / --headers choice of how message bodies are printed."""
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("-r", "--raw", action="store_true", help="print only the bodies")
    shape.add_argument("--headers", action="store_true", help="print the headers too")


def duration(text: str) -> float:
    """Seconds from `30`, `1.5`, `500ms`, `30s`, `5m`, `1h30m`, `7d`, `1w` or `1y`."""
    s = text.strip().lower()
    pos = 0
    total = 0.0
    while pos < len(s):
        m = _DURATION.match(s, pos)
        if m is None:
            raise argparse.ArgumentTypeError(
                f"invalid duration {text!r}: use seconds or e.g. 500ms, 30s, 5m, 1h30m, 7d")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not s:
        raise argparse.ArgumentTypeError("empty duration")
    return total


def positive_duration(text: str) -> float:
    """A duration above zero."""
    value = duration(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"duration {text!r} must be more than zero")
    return value


_SIZE = re.compile(r"(\d+(?:\.\d*)?)\s*([kmgtp]?)(i?b?)", re.ASCII)


def size(text: str) -> int:
    """Bytes from `1024`, `512K`, `10MB`, `1GiB` (K, M, G, T, P are powers of 1024); -1 unlimited."""
    s = text.strip().lower()
    if s in ("-1", "unlimited"):
        return -1
    m = _SIZE.fullmatch(s)
    if m is None:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: use e.g. 1024, 512K, 10MB, 1GiB")
    power = " kmgtp".index(m.group(2) or " ")
    return int(float(m.group(1)) * 1024 ** power)


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    """An integer of at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def header(text: str) -> tuple[str, str]:
    """A `Name:Value` header argument."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"invalid header {text!r}: use Name:Value")
    return name.strip(), value.strip()


def choice(values: Sequence[str]) -> Callable[[str], str]:
    """An argument type accepting one of `values`, case-insensitively."""
    def parse(text: str) -> str:
        key = text.lower()
        if key not in values:
            raise argparse.ArgumentTypeError(
                f"invalid choice {text!r} (choose from {', '.join(values)})")
        return key
    parse.__name__ = "choice"
    return parse


def headers_of(pairs: Optional[Sequence[tuple[str, str]]]) -> Optional[Headers]:
    """Headers from repeated --header arguments, or None when there are none."""
    if not pairs:
        return None
    h = Headers()
    for name, value in pairs:
        h.add(name, value)
    return h


# --- message bodies --------------------------------------------------------------------------


def body(data: Optional[str]) -> bytes:
    """The message body: DATA as UTF-8, or stdin when DATA is `-` or omitted and stdin is not a terminal."""
    if data is not None and data != "-":
        return data.encode()
    if data is None and (sys.stdin is None or sys.stdin.isatty()):
        return b""
    stream = sys.stdin.buffer if sys.stdin is not None else None
    return stream.read() if stream is not None else b""


_TEMPLATE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def has_template(text: Optional[str]) -> bool:
    """True when `text` holds a `{{name}}` placeholder."""
    return text is not None and _TEMPLATE.search(text) is not None


def render(text: str, values: Mapping[str, str]) -> bytes:
    """`text` with `{{count}}`, `{{time}}`, `{{id}}` and the given placeholders filled in."""
    def sub(m: re.Match[str]) -> str:
        name = m.group(1).lower()
        if name in values:
            return values[name]
        if name == "time":
            return _dt.datetime.now(_dt.timezone.utc).isoformat()
        if name == "unix":
            return str(int(_dt.datetime.now().timestamp()))
        if name == "id":
            return next_nuid()
        return m.group(0)
    return _TEMPLATE.sub(sub, text).encode()


# --- confirmation ----------------------------------------------------------------------------


def confirm(question: str, force: bool) -> bool:
    """True with --force; else ask on a terminal; without one, refuse (a usage error)."""
    if force:
        return True
    if sys.stdin is None or not sys.stdin.isatty():
        raise UsageError(f"{question.rstrip('?')}: not confirmed; pass --force (-f) "
                         "when stdin is not a terminal")
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def given(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    """The options among `names` that were given on the command line (not None), by name."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
