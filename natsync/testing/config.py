"""nats-server configuration files, rendered from Python mappings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

# --------------------------------------------------------------------------- config

_BARE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def _quote(text: str) -> str:
    """Quote *text* as a double-quoted nats-server config string."""
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def _render_key(key: Any) -> str:
    """Render a mapping key, quoting it unless it is a plain identifier."""
    if not isinstance(key, str):
        raise TypeError(f"config keys must be strings, not {type(key).__name__}")
    return key if _BARE_KEY.match(key) else _quote(key)


def _render_value(value: Any, indent: int) -> str:
    """Render one config value; nested mappings become ``{ ... }`` blocks."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, Path):
        return _quote(str(value))
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        inner = _render_block(value, indent + 1)
        return "{\n" + inner + "  " * indent + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_render_value(v, indent) for v in value) + "]"
    raise TypeError(f"cannot render {type(value).__name__} value {value!r} as nats-server config")


def _render_block(config: Mapping[str, Any], indent: int) -> str:
    """Render the ``key: value`` lines of one mapping at *indent* levels."""
    pad = "  " * indent
    lines = []
    for key, value in config.items():
        if value is None:
            continue
        lines.append(f"{pad}{_render_key(key)}: {_render_value(value, indent)}\n")
    return "".join(lines)


def render_config(config: Mapping[str, Any]) -> str:
    """Render a dict as nats-server config-file text.

    Nested dicts become blocks, lists become ``[...]``, strings are always quoted and
    keys whose value is ``None`` are left out.
    """
    return _render_block(config, 0)
