"""Subject and queue-group validation, with a cache so publishing a known subject is cheap."""

from __future__ import annotations

from .errors import BadSubjectError

_WHITESPACE = frozenset(" \t\r\n\f\v")
_CACHE_LIMIT = 8192
_publish_cache: dict[str, bytes] = {}


def check_subject(subject: str, wildcards: bool = False, what: str = "subject") -> None:
    """Raise BadSubjectError unless `subject` is a valid subject (a subscription may use wildcards)."""
    if not isinstance(subject, str):
        raise BadSubjectError(f"{what} must be str, not {type(subject).__name__}")
    if not subject:
        raise BadSubjectError(f"{what} must not be empty")
    if not _WHITESPACE.isdisjoint(subject):
        raise BadSubjectError(f"{what} {subject!r} must not contain whitespace")
    tokens = subject.split(".")
    last = len(tokens) - 1
    for i, token in enumerate(tokens):
        if not token:
            raise BadSubjectError(f"{what} {subject!r} has an empty token")
        if token == ">" or token == "*":
            if not wildcards:
                raise BadSubjectError(f"{what} {subject!r} must not contain wildcards "
                                      "('*' and '>' are for subscriptions)")
            if token == ">" and i != last:
                raise BadSubjectError(f"{what} {subject!r}: '>' must be the last token")


def check_queue(queue: str) -> None:
    """Raise BadSubjectError unless `queue` is a valid queue group name (or empty)."""
    if not isinstance(queue, str):
        raise BadSubjectError(f"queue group must be str, not {type(queue).__name__}")
    if queue and not _WHITESPACE.isdisjoint(queue):
        raise BadSubjectError(f"queue group {queue!r} must not contain whitespace")


def publish_subject(subject: str) -> bytes:
    """The wire bytes of a publish subject, validated once and then served from a cache."""
    try:
        cached = _publish_cache.get(subject)
    except TypeError:  # unhashable: not a str, which check_subject reports
        cached = None
    if cached is not None:
        return cached
    check_subject(subject)
    encoded = subject.encode()
    if len(_publish_cache) >= _CACHE_LIMIT:
        _publish_cache.clear()
    _publish_cache[subject] = encoded
    return encoded
