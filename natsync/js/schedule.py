"""Message schedules (ADR-51): a stored message that the stream re-publishes on a schedule.

The schedule message lives on its own subject (one schedule per subject) and names a
`Nats-Schedule-Target` subject of the same stream. Schedules are `@at <RFC 3339 time>`
(once), `@every <duration>` (at least 1s), `@hourly`-style names, or 6-field cron
(seconds first). Purging the schedule subject stops it.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Optional, Union

from ..errors import BadArgumentError
from ..headers import Headers, HeadersLike
from ..subjects import check_subject
from .api import format_time
from .publish import format_ttl

SCHEDULE_HEADER = "Nats-Schedule"
TARGET_HEADER = "Nats-Schedule-Target"
SOURCE_HEADER = "Nats-Schedule-Source"
TTL_HEADER = "Nats-Schedule-TTL"
TIME_ZONE_HEADER = "Nats-Schedule-Time-Zone"
ROLLUP_HEADER = "Nats-Schedule-Rollup"

PREDEFINED = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily",
                        "@midnight", "@hourly"})

# A Go time.ParseDuration string: "5s", "1m30s", "1.5h", "250ms".
_GO_DURATION = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h)"
                          r"(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))*\Z")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                 "h": 3600.0}
_CRON_FIELD = re.compile(r"[0-9A-Za-z*?/,-]+\Z")

Schedule = Union[str, _dt.datetime, _dt.timedelta]


def _duration_seconds(text: str) -> float:
    return sum(float(num) * _UNIT_SECONDS[unit]
               for num, unit in re.findall(r"([\d.]+)(ns|us|µs|ms|s|m|h)", text))


def format_schedule(schedule: Schedule) -> str:
    """The Nats-Schedule value: a datetime becomes "@at", a timedelta "@every"; a string
    is checked (BadArgumentError naming what is wrong) and passed as written."""
    if isinstance(schedule, _dt.datetime):
        if schedule.tzinfo is None:
            raise BadArgumentError("a schedule datetime must be timezone-aware")
        return "@at " + format_time(schedule.replace(microsecond=0))
    if isinstance(schedule, _dt.timedelta):
        seconds = schedule.total_seconds()
        if seconds < 1 or not seconds.is_integer():
            raise BadArgumentError(f"an @every interval must be whole seconds >= 1, got {schedule}")
        return f"@every {int(seconds)}s"
    if not isinstance(schedule, str) or not schedule.strip():
        raise BadArgumentError(f"schedule must be a non-empty string, got {schedule!r}")
    if schedule.startswith("@at "):
        try:
            _dt.datetime.fromisoformat(schedule[4:].replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise BadArgumentError(f"{schedule!r}: @at needs an RFC 3339 time such as "
                                   "'@at 2030-01-01T09:00:00Z'") from None
        if not re.search(r"(?:[Zz]|[+-]\d{2}:\d{2})\Z", schedule):
            raise BadArgumentError(f"{schedule!r}: the @at time needs a zone ('Z' or +hh:mm)")
        return schedule
    if schedule.startswith("@every "):
        dur = schedule[7:]
        if not _GO_DURATION.match(dur):
            raise BadArgumentError(f"{schedule!r}: @every needs a duration such as '5s', "
                                   "'1m30s' or '2h'")
        if _duration_seconds(dur) < 1:
            raise BadArgumentError(f"{schedule!r}: the shortest @every interval is 1s")
        return schedule
    if schedule.startswith("@"):
        if schedule not in PREDEFINED:
            raise BadArgumentError(f"{schedule!r} is not a schedule: use '@at <time>', "
                                   f"'@every <duration>', one of {sorted(PREDEFINED)} or cron")
        return schedule
    fields = schedule.split()
    if len(fields) != 6 or not all(_CRON_FIELD.match(f) for f in fields):
        raise BadArgumentError(f"{schedule!r}: a cron schedule has 6 fields, seconds first "
                               "(e.g. '0 30 9 * * mon-fri')")
    return schedule


def is_cron(value: str) -> bool:
    """Whether a formatted schedule is cron (named or 6 fields), the kind a time zone fits."""
    return not value.startswith(("@at ", "@every "))


def schedule_headers(subject: str, target: str, schedule: Schedule,
                     ttl: Union[int, float, str, None] = None, time_zone: Optional[str] = None,
                     rollup: Optional[str] = None, source: Optional[str] = None,
                     headers: Optional[HeadersLike] = None) -> Headers:
    """The headers of a schedule message (validated before anything is sent)."""
    check_subject(subject)
    check_subject(target)
    if target == subject:
        raise BadArgumentError(f"the schedule target must differ from the schedule subject "
                               f"{subject!r}")
    value = format_schedule(schedule)
    h = Headers(headers) if headers is not None else Headers()
    h[SCHEDULE_HEADER] = value
    h[TARGET_HEADER] = target
    if source is not None:
        check_subject(source)
        h[SOURCE_HEADER] = source
    if ttl is not None:
        h[TTL_HEADER] = format_ttl(ttl)
    if time_zone is not None:
        if not time_zone or not is_cron(value):
            raise BadArgumentError("time_zone must be a non-empty zone name and only goes with "
                                   f"a cron schedule, not {value!r}")
        h[TIME_ZONE_HEADER] = time_zone
    if rollup is not None:
        if rollup != "sub":
            raise BadArgumentError(f"rollup must be 'sub' (the only one schedules allow), "
                                   f"got {rollup!r}")
        h[ROLLUP_HEADER] = rollup
    return h
