"""Checking a servers/options configuration before any connection is made.

Used by the Django system check, the Flask extension and `ProcessClient` so that a typo in
settings is reported at startup, naming the setting, instead of at the first request.
"""

from __future__ import annotations

import collections.abc
import typing
from dataclasses import dataclass
from typing import Any, Mapping, Sequence, Union

from ..errors import Error
from ..options import OPTION_NAMES, Options, make_options
from ..servers import BadURLError, parse_url

Servers = Union[str, Sequence[str], None]

#: Problem kinds, each with the Django check id that reports it.
SERVERS, UNKNOWN_OPTION, OPTION_TYPE, OPTION_VALUE = "servers", "unknown", "type", "value"


class ConfigError(Error, ValueError):
    """A natsync configuration (servers or connect options) cannot work."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a configuration: its kind (see the constants) and a message."""

    kind: str
    message: str


def _split_servers(servers: Servers) -> list[str]:
    if isinstance(servers, str):
        return [s for s in (part.strip() for part in servers.split(",")) if s]
    return list(servers or [])


def server_problems(servers: Any, where: str = "servers") -> list[ConfigProblem]:
    """What is wrong with a servers value (a URL, comma-separated URLs, a list, or None)."""
    if servers is None:
        return []
    if not isinstance(servers, (str, list, tuple)):
        return [ConfigProblem(SERVERS, f"{where} must be a URL string or a list of URLs, "
                                       f"not {type(servers).__name__}")]
    problems = []
    for url in _split_servers(servers):
        try:
            parse_url(url)
        except BadURLError as exc:
            problems.append(ConfigProblem(SERVERS, f"{where}: {exc}"))
    if not _split_servers(servers):
        problems.append(ConfigProblem(SERVERS, f"{where} names no server"))
    return problems


_HINTS = typing.get_type_hints(Options)


def _matches(value: Any, hint: Any) -> bool:
    """A shallow isinstance check of `value` against an Options type hint."""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin is Union:
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if origin is collections.abc.Callable or hint is collections.abc.Callable:
        return callable(value)
    if origin in (tuple, collections.abc.Sequence):
        return isinstance(value, (list, tuple)) and not isinstance(value, str)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _type_name(hint: Any) -> str:
    text = str(hint).replace("typing.", "")
    return hint.__name__ if isinstance(hint, type) else text


def option_problems(options: Mapping[str, Any]) -> list[ConfigProblem]:
    """Unknown option names, values of the wrong type, and values `connect()` refuses."""
    problems = [ConfigProblem(UNKNOWN_OPTION, f"unknown connect option {name!r}")
                for name in sorted(set(options) - OPTION_NAMES)]
    known = {k: v for k, v in options.items() if k in OPTION_NAMES}
    for name, value in known.items():
        hint = _HINTS[name]
        if not _matches(value, hint):
            problems.append(ConfigProblem(OPTION_TYPE, f"connect option {name!r} must be "
                                          f"{_type_name(hint)}, not {type(value).__name__}"))
    if not problems:
        try:
            make_options(known)
        except (Error, TypeError, ValueError) as exc:
            problems.append(ConfigProblem(OPTION_VALUE, str(exc)))
    return problems


def check_config(servers: Servers, options: Mapping[str, Any]) -> None:
    """Raise ConfigError naming every problem of this configuration."""
    problems = server_problems(servers) + option_problems(options)
    if problems:
        raise ConfigError("; ".join(p.message for p in problems))


__all__ = ["ConfigError", "ConfigProblem", "check_config", "option_problems", "server_problems"]
