"""Service configuration and the validation rules of ADR-32 (names, versions, subjects)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Tuple

from ..errors import BadSubjectError
from ..subjects import check_queue, check_subject
from .errors import ConfigError

if TYPE_CHECKING:
    from .endpoint import Endpoint

DEFAULT_QUEUE_GROUP = "q"
"""The queue group endpoints join unless told otherwise, shared by every implementation."""

API_PREFIX = "$SRV"
"""The root of the monitoring subjects."""

StatsHandler = Callable[["Endpoint"], Any]
"""Returns extra, JSON-serialisable statistics for an endpoint (its `data` in STATS)."""

NAME_RE = re.compile(r"^[A-Za-z0-9\-_]+$")
SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")


def check_name(name: object, what: str) -> str:
    """A service or endpoint name: only A-Z, a-z, 0-9, '-' and '_' (it becomes a subject token)."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ConfigError(f"invalid {what} name {name!r}: use only A-Z, a-z, 0-9, '-' and '_'")
    return name


def check_version(version: object) -> str:
    """A semantic version (https://semver.org), as ADR-32 requires."""
    if not isinstance(version, str) or not SEMVER_RE.match(version):
        raise ConfigError(f"invalid version {version!r}: it must be a semantic version "
                          "such as 1.0.0 or 2.1.3-alpha.1")
    return version


def check_endpoint_subject(subject: object) -> str:
    """An endpoint subject: a valid subject, wildcards allowed."""
    try:
        check_subject(subject, wildcards=True, what="endpoint subject")  # type: ignore[arg-type]
    except BadSubjectError as exc:
        raise ConfigError(str(exc)) from None
    assert isinstance(subject, str)
    return subject


def check_group_prefix(prefix: object) -> str:
    """A group name: subject tokens ('*' allowed) that endpoint subjects are appended to."""
    subject = check_endpoint_subject(prefix)
    if subject == ">" or subject.endswith(".>"):
        raise ConfigError(f"group name {prefix!r} must not contain '>': endpoints follow it")
    return subject


def check_queue_group(queue_group: Optional[str]) -> Optional[str]:
    """None (inherit) or a non-empty queue group name without whitespace."""
    if queue_group is None:
        return None
    if queue_group == "":
        raise ConfigError("queue_group must not be empty: pass None to inherit it, or "
                          "queue_group_disabled=True to serve without a queue group")
    try:
        check_queue(queue_group)
    except BadSubjectError as exc:
        raise ConfigError(str(exc)) from None
    return queue_group


def check_metadata(metadata: Optional[Mapping[str, str]], what: str) -> Optional[Dict[str, str]]:
    """A copy of `metadata`, which must map strings to strings (it is sent as JSON)."""
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ConfigError(f"{what} metadata must map str to str, got {metadata!r}")
    return dict(metadata)


def resolve_queue_group(own: Optional[str], own_disabled: bool, parent: str,
                        parent_disabled: bool) -> Tuple[str, bool]:
    """(queue group, disabled): an explicit setting wins, else the parent's, else "q".

    Disabling on this level wins over everything; a name given on this level wins over a
    parent that disabled queue groups (nats.go's rules).
    """
    if own_disabled:
        return "", True
    if own is not None:
        return own, False
    if parent_disabled:
        return "", True
    return (parent or DEFAULT_QUEUE_GROUP), False


@dataclass
class ServiceConfig:
    """What a service is: its name and version (required), description and metadata,
    the default queue group of its endpoints and an optional stats handler."""

    name: str
    version: str
    description: str = ""
    metadata: Dict[str, str] = field(default_factory=dict)
    queue_group: Optional[str] = DEFAULT_QUEUE_GROUP
    queue_group_disabled: bool = False
    stats_handler: Optional[StatsHandler] = None

    def validate(self) -> None:
        """Raise ConfigError unless every setting is valid."""
        check_name(self.name, "service")
        check_version(self.version)
        if not isinstance(self.description, str):
            raise ConfigError(f"description must be str, got {self.description!r}")
        check_metadata(self.metadata, "service")
        check_queue_group(self.queue_group)
        if self.stats_handler is not None and not callable(self.stats_handler):
            raise ConfigError(f"stats_handler must be callable, got {self.stats_handler!r}")


def control_subject(verb: str, name: Optional[str] = None, id: Optional[str] = None,
                    prefix: str = API_PREFIX) -> str:
    """`$SRV.<VERB>`, `$SRV.<VERB>.<name>` or `$SRV.<VERB>.<name>.<id>`."""
    if id is not None and name is None:
        raise ConfigError("a service id needs the service name too")
    parts = [prefix, verb.upper()]
    if name is not None:
        parts.append(check_name(name, "service"))
    if id is not None:
        if not isinstance(id, str) or not id or not NAME_RE.match(id):
            raise ConfigError(f"invalid service id {id!r}")
        parts.append(id)
    return ".".join(parts)
