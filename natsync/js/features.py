"""Which server introduced which JetStream feature (ADR-44 API levels), checked before sending.

A client that sends a counter increment to a 2.11 server gets its message stored as a plain
message; checking the server version from INFO first turns that into a clear
FeatureNotSupportedError naming the feature and the release it needs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

from .errors import FeatureNotSupportedError

if TYPE_CHECKING:
    from ..client import Client

#: The header that makes a JetStream API request fail on a server below that API level.
REQUIRED_API_LEVEL_HEADER = "Nats-Required-Api-Level"


class Feature(NamedTuple):
    """A JetStream feature: its name in errors, its API level and first server release."""

    name: str
    api_level: int
    version: tuple[int, int, int]

    @property
    def version_text(self) -> str:
        """The first release as "2.12.0"."""
        return ".".join(str(p) for p in self.version)


MSG_TTL = Feature("per-message TTL", 1, (2, 11, 0))
COUNTERS = Feature("distributed counters", 2, (2, 12, 0))
ATOMIC_BATCH = Feature("atomic batch publish", 2, (2, 12, 0))
SCHEDULES = Feature("message schedules", 2, (2, 12, 0))
FAST_BATCH = Feature("fast batch publish", 4, (2, 14, 0))
SCHEDULE_TIME_ZONE = Feature("message schedule time zones", 4, (2, 14, 0))
#: Nats-Expected-Last-Subject-Sequence-Subject: in nats-server since 2.11.0.
LAST_SUBJECT_SEQ_SUBJECT = Feature("expected_last_subject_seq_subject", 1, (2, 11, 0))
ACK_FLOW_CONTROL = Feature("ack policy flow_control", 4, (2, 14, 0))

_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


def parse_version(text: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) of a server version such as "2.12.1" or "v2.14.0-RC.1"."""
    m = _VERSION.match(text.strip())
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def check_version(feature: Feature, server_version: str) -> None:
    """Raise FeatureNotSupportedError if `server_version` predates `feature`.

    An unparsable or empty version is let through: the server then answers for itself.
    """
    have = parse_version(server_version)
    if have is not None and have < feature.version:
        raise FeatureNotSupportedError(feature.name, feature.version_text, server_version)


def require(nc: Client, feature: Feature) -> None:
    """Check the connected server (from its INFO) supports `feature`."""
    check_version(feature, nc.connected_server_version)
